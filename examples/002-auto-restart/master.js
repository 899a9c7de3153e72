// From seed 002 ("Nodejs play process"), section II.2 "Automatic restart" and
// "Suicide signal": the master hands one listening server to a worker per CPU and
// starts a new worker whenever one exits; a worker hit by an uncaught exception sends
// {act: 'suicide'} first, so its replacement starts before it stops serving.
// Gaps filled: lost brackets and expressions (the pids), `process.env.PORT || 1337`
// for the port and `process.env.WORKERS` to choose fewer workers than CPUs; the seed
// forks `worker${i}.js`, one file per CPU index, here one worker.js takes the index
// as its argument; the master answers the connections that land on its own copy of
// the server (it keeps it to hand it to replacement workers); SIGTERM/SIGINT end the
// master through process.exit() so its 'exit' handler kills the workers.
'use strict';
let fork = require('rust-cluster/child_process').fork;
let cpus = require('os').cpus();

let server = require('net').createServer();

// The master still holds the listening socket, so the kernel may hand it connections too.
let masterHttp = require('http').createServer((req, res) => {
    res.end('handled by master, pid is' + process.pid + '\n');
});
server.on('connection', socket => masterHttp.emit('connection', socket));

let workers = {};

let createWorker = function (i) {
    let worker = fork(__dirname + '/worker.js', [String(i)]);
    // Suicide signal: start the replacement as soon as the worker gives up
    worker.on('message', (message) => {
        if (message && message.act === 'suicide') {
            worker.replaced = true;
            createWorker(i);
        }
    });
    // Restart the new process on exit
    worker.on('exit', () => {
        console.log('Worker' + worker.pid + 'exited');
        delete workers[worker.pid];
        if (!worker.replaced) createWorker(i);
    });

    // Handle forwarding
    worker.send('server' + i, server);

    workers[worker.pid] = worker;
    console.log('Create = ' + worker.pid);
};

server.listen(process.env.PORT || 1337, () => {
    let count = Number(process.env.WORKERS) || cpus.length;
    for(let i = 0; i< count; i++) {
        createWorker(i);
    }
});

// Let all working processes exit when the process exits
process.on('exit', ()=>{
    for(let pid in workers){
        workers[pid].kill();
    }
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
