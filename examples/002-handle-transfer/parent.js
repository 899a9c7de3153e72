// From seed 002 ("Nodejs play process"), section I.3 "Handle transfer": the parent
// listens, sends the listening server to child1 and child2, then closes its own copy,
// so the two children accept the connections on the shared port between them.
// Gaps filled: lost brackets, `process.env.PORT || 1337` for the fixed port, the
// `server.close()` the seed's text describes ("starts listening and then closes the
// server"), a line saying the server has been handed over, and SIGTERM/SIGINT stopping
// the children (each keeps the shared listening socket open) so the program can end.
'use strict';
// parent.js start the main process
let cp = require('rust-cluster/child_process');
let cpus = require('os').cpus
process.chdir(__dirname); // the seed forks 'child1.js' relative to the working directory

let child2 = cp.fork('child2.js');
let child1 = cp.fork('child1.js');

let server = require('net').createServer();

server.on('connection', socket => {
    socket.end('handled by parent');
});

server.listen(process.env.PORT || 1337, () => {
    child1.send('server1', server);
    child2.send('server2', server);
    console.log(`parent ${process.pid}: port ${server.address().port} handed to child1 (${child1.pid}) and child2 (${child2.pid})`);
    server.close();
});

for (const signal of ['SIGTERM', 'SIGINT']) {
    process.on(signal, () => {
        child1.kill();
        child2.kill();
    });
}
