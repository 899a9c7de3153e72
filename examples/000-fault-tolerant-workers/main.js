// From seed 000 ("distributed fault-tolerant systems using child processes"):
// fork a pool of workers, distribute tasks, handle results, restart a worker that
// exits with a non-zero code.
// Gaps filled: the worker's code (worker.js), what "handle the result" does, a task
// that makes one worker fail, and shutting the pool down once every result is in
// and the failed worker has been replaced, so the program ends on its own.
'use strict';
const { fork } = require('rust-cluster/child_process');
process.chdir(__dirname); // the seed forks './worker.js' relative to the working directory

const numWorkers = 3;
const workers = [];
for (let i = 0; i < numWorkers; i++) {
const worker = fork('./worker.js');
workers.push(worker);
}
// Distribute tasks to the workers
function distributeTasks(tasks) {
for (let i = 0; i < tasks.length; i++) {
const worker = workers[i % numWorkers];
worker.send(tasks[i]);
}
}
// Handle results from the workers
const results = [];
let restarts = 0;
const expected = 8; // tasks 1..8 produce a result; the last task makes its worker fail
for (const worker of workers) {
worker.on('message', (result) => {
// Handle the result
console.log(`result: ${result.n} squared is ${result.square} (worker ${result.pid})`);
results.push(result);
maybeDone();
});
}
for (const worker of workers) {
worker.on('exit', (code, signal) => {
// Restart the worker on unexpected exit
if (code !== 0) {
console.log(`worker ${worker.pid} exited with code ${code}, restarting it`);
const newWorker = fork('./worker.js');
workers.push(newWorker);
restarts++;
maybeDone();
}
});
}

function maybeDone() {
  if (results.length < expected || restarts < 1) return;
  console.log(`done: ${results.length} results, ${restarts} restart(s)`);
  // Every worker still connected is told to go; each then exits with code 0.
  for (const worker of workers) if (worker.connected) worker.disconnect();
}

const tasks = [];
for (let n = 1; n <= expected; n++) tasks.push({ n });
tasks.push({ n: 0, fail: true });
distributeTasks(tasks);
