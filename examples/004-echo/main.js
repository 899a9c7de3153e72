// From seed 004 (the cluster documentation), worker.send(): "This example will echo
// back all messages from the master".
// Gaps filled: the seed keeps only the sentence; the code is the documentation's
// example, plus the master printing the echo and disconnecting the worker, so the
// program ends on its own.
'use strict';
const cluster = require('rust-cluster');

if (cluster.isMaster) {
  const worker = cluster.fork();
  worker.send('hi there');
  worker.on('message', (msg) => {
    console.log(`master got back: ${JSON.stringify(msg)}`);
    worker.disconnect();
  });
  worker.on('exit', (code, signal) => {
    console.log(`worker exited: code=${code} signal=${signal}`);
  });

} else if (cluster.isWorker) {
  process.on('message', (msg) => {
    process.send(msg);
  });
}
