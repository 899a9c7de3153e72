// From seed 003 ("Inter-process communication"), "Stream-Based Communication": spawn
// a node child with stdio ['pipe', 'pipe', 'pipe', 'ipc'], talk to it over stdin and
// stdout, and over the IPC channel the 'ipc' entry creates.
// Gaps filled: the child (child.js), and the parent logging the child's IPC message.
'use strict';
// Use spawn to create a child process and communicate via streams
const { spawn } = require('rust-cluster/child_process');
process.chdir(__dirname); // the seed runs 'child.js' relative to the working directory
const child = spawn('node', ['child.js'], {
stdio: ['pipe', 'pipe', 'pipe', 'ipc'] // Explicitly enable IPC
});
child.stdout.on('data', (data) => {
console.log(`Child process output: ${data}`);
});
child.on('message', (msg) => {
console.log('Message from child process:', msg);
});
child.stdin.write('Parent process sends data via stdin\n');
