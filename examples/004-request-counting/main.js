// From seed 004 (the cluster documentation), "a cluster that keeps count of the number
// of requests in the master process using the message system".
// Gaps filled: the seed keeps only the comments; the code is the documentation's
// example they annotate, with `process.env.PORT || 8000` for the port,
// `process.env.WORKERS` to choose fewer workers than CPUs, and a 'listening' line so
// whoever runs it knows when the workers are up. Stop it with SIGTERM.
'use strict';
const cluster = require('rust-cluster');
const http = require('http');

if (cluster.isMaster) {

  // Keep track of http requests
  let numReqs = 0;
  setInterval(() => {
    console.log(`numReqs = ${numReqs}`);
  }, 1000);

  // Count requests
  function messageHandler(msg) {
    if (msg.cmd && msg.cmd === 'notifyRequest') {
      numReqs += 1;
    }
  }

  // Start workers and listen for messages containing notifyRequest
  const numCPUs = Number(process.env.WORKERS) || require('os').cpus().length;
  for (let i = 0; i < numCPUs; i++) {
    cluster.fork();
  }

  for (const id in cluster.workers) {
    cluster.workers[id].on('message', messageHandler);
  }

  cluster.on('listening', (worker, address) => {
    console.log(`worker ${worker.process.pid} listening on port ${address.port}`);
  });

} else {

  // Worker processes have a http server.
  http.Server((req, res) => {
    res.writeHead(200);
    res.end('hello world\n');

    // notify master about the request
    process.send({ cmd: 'notifyRequest' });
  }).listen(process.env.PORT || 8000);
}
