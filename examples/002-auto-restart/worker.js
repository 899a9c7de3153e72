// Worker for master.js (seed 002, section II.2; the seed elides all but its suicide
// handler): serves http on the listening server the master hands over. GET /crash
// answers and then throws, to show the uncaught-exception path.
'use strict';
let http = require('http');
let index = process.argv[2];

let server = http.createServer((req, res) => {
    if (req.url === '/crash') {
        res.end('crashing, pid is' + process.pid + '\n');
        throw new Error('crash requested');
    }
    res.end('handled by worker, pid is' + process.pid + '\n');
});

let worker;
process.on('message', (m, tcp) => {
    if (m === 'server' + index) {
        worker = tcp;
        worker.on('connection', socket => {
            server.emit('connection', socket);
        });
    }
});

// Suicide signal
process.on('uncaughtException', (err) => {
    console.error(`worker ${process.pid}: ${err.message}`);
    process.send({act: 'suicide'});
    // Stop receiving new signals
    worker.close(() => {
        // Exit the process after all existing connections are disconnected
        process.exit(1);
    });
});
