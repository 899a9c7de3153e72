// From seed 003 ("Inter-process communication"), "The Child Process Module in Node.js"
// and "Message Passing Pattern": fork a child, exchange JSON messages both ways,
// including a complex configuration object.
// Gaps filled: the child file's location, and the parent disconnects the child once
// both replies are in, so both processes end on their own.
'use strict';
// parent.js
const { fork } = require('rust-cluster/child_process');
process.chdir(__dirname); // the seed forks 'child.js' relative to the working directory
const child = fork('child.js');
let replies = 0;
child.on('message', (msg) => {
console.log('Message from child process:', msg);
if (++replies === 2) child.disconnect();
});
child.send({ hello: 'world' });

// Parent process sends a complex object
child.send({
type: 'config',
data: {
port: 3000,
env: 'production',
features: ['logging', 'monitoring']
}
});
