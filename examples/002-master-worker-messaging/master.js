// From seed 002 ("Nodejs play process"), section I.2 "Inter process communication":
// the master forks a worker, listens for its messages and sends it one.
// Gaps filled: the closing brackets the seed lost, and the master disconnects the
// worker once its message has arrived, so both processes end on their own.
'use strict';
// master.js main process
let cp = require('rust-cluster/child_process');
process.chdir(__dirname); // the seed forks './worker.js' relative to the working directory
let worker = cp.fork('./worker.js');

// Used to listen for information from child processes
worker.on('message', ( data ) =>{
    console.log('Received message from child process: ', data);
    worker.disconnect();
});

// Used to send information to child processes
worker.send('Hello, subprocess ');
