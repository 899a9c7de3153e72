// From seed 002 ("Nodejs play process"), section III "Cluster module": cluster.isMaster
// decides between forking workers and running the http server; a worker that dies is
// replaced.
// Gaps filled: lost brackets and expressions (the pids), the `cluster.fork()` that
// restarts a dead worker, `process.env.PORT || 8000` for the port (the seed's is lost),
// `process.env.WORKERS` to choose fewer workers than CPUs, and a 'listening' line so
// whoever runs it knows when the workers are up. Stop it with SIGTERM: the workers
// exit when their master is gone.
'use strict';
let cluster = require('rust-cluster');
let http = require('http');
const { off } = require('process');
let numCPUs = Number(process.env.WORKERS) || require('os').cpus().length;

if (cluster.isMaster) {
    for(let i = 0; i<numCPUs; i++){
        cluster.fork();
    }

    cluster.on('exit', (worker, code, signal)=>{
        console.log('worker' + worker.process.pid + 'died');
        cluster.fork();
    });
    cluster.on('listening', (worker, address) => {
        console.log('worker' + worker.process.pid + 'listening on port ' + address.port);
    });
} else {
    http.createServer((req, res)=>{
        res.end('hellow world'+ process.pid + '\n');
    }).listen(process.env.PORT || 8000);
}
// cluster.setupMaster({
//     exec: 'worker.js'
// })
