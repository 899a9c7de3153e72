// From seed 004 (the cluster documentation): worker.disconnect() with a kill timeout,
// 'disconnect', worker.exitedAfterDisconnect, worker.kill().
// Gaps filled: the seed keeps only the comments; the code is the documentation's
// examples they annotate ("connections never end", "initiate graceful close of any
// connections to server", "Oh, it was just voluntary", "kill worker"), run one after
// the other on three workers — the first disconnected gracefully, the second killed
// with worker.kill(), the third killed from outside (an accident) — with
// `process.env.PORT || 8000` for the port and a line per event, so the program
// ends on its own.
'use strict';
const cluster = require('rust-cluster');

if (cluster.isMaster) {
  const steps = ['disconnect', 'kill', 'accident'];

  cluster.on('exit', (worker, code, signal) => {
    console.log(`worker ${worker.id} (${worker.step}) exited: code=${code} signal=${signal}` +
      ` exitedAfterDisconnect=${worker.exitedAfterDisconnect}`);
    if (worker.exitedAfterDisconnect === true) {
      console.log('Oh, it was just voluntary – no need to worry');
    }
    next();
  });

  function next() {
    const step = steps.shift();
    if (!step) return;
    const worker = cluster.fork();
    worker.step = step;
    let timeout;

    worker.on('listening', (address) => {
      console.log(`worker ${worker.id} (${step}) listening`);
      if (step === 'disconnect') {
        worker.send('shutdown');
        worker.disconnect();
        timeout = setTimeout(() => {
          worker.kill();
        }, 2000);
      } else if (step === 'kill') {
        // kill worker
        worker.kill();
      } else {
        process.kill(worker.process.pid, 'SIGKILL');
      }
    });

    worker.on('disconnect', () => {
      console.log(`worker ${worker.id} (${step}) disconnected`);
      clearTimeout(timeout);
    });
  }
  next();

} else if (cluster.isWorker) {
  const net = require('net');
  const server = net.createServer((socket) => {
    // connections never end
  });

  server.listen(process.env.PORT || 8000);

  process.on('message', (msg) => {
    if (msg === 'shutdown') {
      // initiate graceful close of any connections to server
    }
  });
}
