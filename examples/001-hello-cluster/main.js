// From seed 001 ("How Node.js Multiprocess Load Balancing Works"): fork one worker per
// CPU; every worker runs an http server on the same port.
// The seed is Node 0.6 code and stays so: its 'death' event and `worker.pid` are
// aliases rust-cluster keeps (the built-in module dropped them in Node 0.8, so under
// it this script never reports a death). Gaps filled: `process.env.PORT || 8000` for
// the fixed port, `process.env.WORKERS` to choose fewer workers than CPUs, and a
// 'listening' line so whoever runs it knows when the workers are up. Stop it with
// SIGTERM: the workers exit when their master is gone.
'use strict';
var cluster = require('rust-cluster');
var http = require('http');
var numCPUs = Number(process.env.WORKERS) || require('os').cpus().length;

if (cluster.isMaster) {
// Fork workers.
for (var i = 0; i < numCPUs; i++) {
cluster.fork();
}

cluster.on('death', function(worker) {
console.log('worker ' + worker.pid + ' died');
});
cluster.on('listening', function(worker, address) {
console.log('worker ' + worker.process.pid + ' listening on port ' + address.port);
});
} else {
// Worker processes have a http server.
http.Server(function(req, res) {
res.writeHead(200);
res.end("hello world\n");
}).listen(process.env.PORT || 8000);
}
