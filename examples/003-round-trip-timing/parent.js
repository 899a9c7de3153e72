// From seed 003 ("Inter-process communication"), "Debugging and Monitoring": measure
// an IPC round trip with process.hrtime().
// Gaps filled: the child (child.js) answers 'ping' with 'pong'; the parent then
// disconnects it.
'use strict';
const { fork } = require('rust-cluster/child_process');
const child = fork(__dirname + '/child.js');

// Monitor IPC performance
const start = process.hrtime();
child.send('ping');
child.once('message', (reply) => {
const diff = process.hrtime(start);
console.log(`IPC round-trip time: ${diff[0] * 1e3 + diff[1] / 1e6}ms`);
console.log('reply:', reply);
child.disconnect();
});
