'use strict';
// One machine's pool: forks workers with rust-cluster's child_process, hands each
// waiting task to a ready worker with a free slot, and replaces workers that die,
// re-running their tasks elsewhere up to maxRetries.
//
// Prefetch: a round trip per task would leave a worker idle between short tasks,
// so a worker may hold up to `depth` times its concurrentTasksPerWorker, where
// depth is about 1 ms of its work (from the measured task time, 1 to MAX_DEPTH).
// It starts them in the order sent, so its oldest concurrentTasksPerWorker
// unfinished tasks are the ones it runs: only those are charged an attempt when it
// dies. A task with a timeout or a signal is only given to a worker that runs it at
// once, so that cancelling it is killing that worker. Everything else waits here,
// in the queue: the channel never holds more than size x concurrency x MAX_DEPTH.
const path = require('node:path');
const { fork } = require('../child_process');
const { restartDelay } = require('../supervisor/backoff');
const { deferred, abortError, arm, disarm } = require('./cancellation');
const { READY, RESULT, ERROR, LOAD_ERROR, decodeError } = require('./wire');
const { TaskQueue } = require('./task_queue');
const {
  ERR_POOL_CLOSED,
  ERR_POOL_DESTROYED,
  ERR_POOL_QUEUE_FULL,
  ERR_POOL_WORKER_DIED,
} = require('./errors');

const WORKER_MAIN = path.join(__dirname, 'worker.js');
const MAX_DEPTH = 16;
const DEPTH_BUDGET_MS = 1;

class Worker {
  constructor(child) {
    this.child = child;
    this.state = 'starting'; // -> 'ready' -> 'stopping' (retired, killed or closing)
    this.killedByPool = false; // its tasks were not at fault: re-run them uncharged
    this.retired = false; // idle too long: not replaced
    this.wasReady = false; // loaded the task file: its end is a restart, not a failed start
    this.tasks = new Map(); // id -> task sent to it, in the order sent
    this.idleTimer = null;
  }

  setRef(on) {
    if (on) {
      this.child.ref();
      this.child.channel?.ref();
    } else {
      this.child.unref();
      this.child.channel?.unref();
    }
  }
}

class ProcessPool {
  #o;
  #queue = new TaskQueue();
  #workers = new Set();
  #active = 0; // workers not stopping
  #nextId = 1;
  #pending = 0; // accepted tasks not yet settled
  #running = 0; // tasks sent to workers
  #taskMs = DEPTH_BUDGET_MS; // moving average of a task's time in a worker
  #depth = 1;
  #measured = false;
  #counts = { completed: 0, failed: 0, retried: 0, restarts: 0 };
  #state = 'open'; // -> 'closing' -> 'stopping' (workers told to leave), or 'destroyed'
  #failing = false; // the last start failed: start again only on demand, after a delay
  #startFailures = 0; // in a row: deaths before ready
  #probes = 0; // starts after a failure, in a row: the backoff's exponent
  #startTimer = null;
  #ended = null; // { promise, resolve } once close() or destroy() was called

  constructor(options) {
    this.#o = options;
    this.#ensureWorkers();
  }

  run(arg, name, signal, timeout) {
    if (this.#state !== 'open') return Promise.reject(new ERR_POOL_CLOSED());
    if (signal?.aborted) {
      return Promise.reject(abortError(signal));
    }
    // Tasks beyond maxQueue wait for nobody: they fail now. A task that a worker
    // can run now, or that one starting (or about to start) will, does not wait.
    const { maxQueue } = this.#o;
    const queued = this.#queued();
    if (queued >= maxQueue && queued >= maxQueue + this.#startingSlots() &&
        (queued > 0 || this.#pickWorker(false) === null)) {
      return Promise.reject(new ERR_POOL_QUEUE_FULL(maxQueue));
    }
    const { promise, resolve, reject } = deferred();
    const ms = timeout ?? this.#o.taskTimeout;
    const task = {
      id: this.#nextId++, arg, name, resolve, reject, worker: null, attempts: 0,
      done: false, timer: null, signal: null, onAbort: null, prev: null, next: null,
      prefetch: !signal && !(ms > 0),
    };
    if (++this.#pending === 1) this.#refAll();
    this.#queue.push(task);
    this.#dispatch();
    if (task.done) return promise; // its argument could not be sent
    arm(task, ms, signal, (t, reason) => this.#cancel(t, reason));
    return promise;
  }

  // The moving average of a task's time in a worker, ms (null before any result).
  taskMs() {
    return this.#measured ? this.#taskMs : null;
  }

  stats() {
    return {
      workers: this.#active,
      queued: this.#queued(),
      running: this.#started(),
      ...this.#counts,
    };
  }

  // Tasks the workers have started.
  #started() {
    const c = this.#o.concurrentTasksPerWorker;
    let running = 0;
    for (const worker of this.#workers) running += Math.min(c, worker.tasks.size);
    return running;
  }

  // Tasks waiting: in the queue, and prefetched by a worker that cannot start them yet
  // (stats() and maxQueue count them alike).
  #queued() {
    return this.#queue.size + this.#running - this.#started();
  }

  // Finishes every accepted task (retries included), then lets the workers go.
  close() {
    if (this.#state === 'open') this.#state = 'closing';
    const { promise } = this.#end();
    this.#dispatch();
    return promise;
  }

  // Rejects every task not yet settled and kills the workers now.
  destroy() {
    const { promise } = this.#end();
    if (this.#state !== 'destroyed') {
      this.#state = 'destroyed';
      clearTimeout(this.#startTimer);
      for (const task of this.#queue.drain()) this.#settle(task, false, new ERR_POOL_DESTROYED());
      for (const worker of this.#workers) {
        for (const task of worker.tasks.values()) this.#settle(task, false, new ERR_POOL_DESTROYED());
        this.#running -= worker.tasks.size;
        worker.tasks.clear();
        this.#kill(worker);
      }
      this.#maybeEnded();
    }
    return promise;
  }

  #end() {
    if (this.#ended === null) {
      this.#ended = deferred();
      this.#refAll(); // until every worker has exited
    }
    return this.#ended;
  }

  // --- tasks ----------------------------------------------------------------

  #dispatch() {
    while (this.#queue.size > 0) {
      const worker = this.#pickWorker(this.#queue.first().prefetch);
      if (worker === null) break;
      this.#assign(worker, this.#queue.shift());
    }
    this.#ensureWorkers();
    if (this.#state === 'closing' && this.#pending === 0) {
      this.#state = 'stopping';
      for (const worker of this.#workers) this.#stop(worker);
      this.#maybeEnded();
    }
  }

  // The least busy ready worker that can take a task now (or, for a task that
  // may wait in a worker, within the prefetch depth).
  #pickWorker(prefetch) {
    const c = this.#o.concurrentTasksPerWorker;
    const limit = prefetch ? c * this.#depth : c;
    let best = null;
    for (const worker of this.#workers) {
      const n = worker.tasks.size;
      if (worker.state !== 'ready' || n >= limit) continue;
      if (best === null || n < best.tasks.size) {
        best = worker;
        if (n === 0) break;
      }
    }
    return best;
  }

  #assign(worker, task) {
    task.worker = worker;
    worker.tasks.set(task.id, task);
    this.#running++;
    clearTimeout(worker.idleTimer);
    const name = task.name ?? null;
    try {
      worker.child.send(task.arg === undefined ? [task.id, name] : [task.id, name, task.arg]);
    } catch (err) { // the argument cannot be serialized
      this.#release(worker, task);
      this.#settle(task, false, err);
    }
  }

  // `ms`: what the task took in its worker, as the worker timed it. (Timed here, from the
  // send to the result, it would include the round trip, which for tiny tasks on a busy
  // parent is most of it: the depth would stay at 1 and the round trips be the limit.)
  #measure(ms) {
    if (!(ms >= 0 && ms < Infinity)) return; // not from our worker (task code sending look-alikes)
    this.#taskMs = this.#measured ? this.#taskMs + (ms - this.#taskMs) / 8 : ms;
    this.#measured = true;
    this.#depth = Math.max(1, Math.min(MAX_DEPTH, Math.floor(DEPTH_BUDGET_MS / this.#taskMs)));
  }

  // `task` leaves `worker` (finished, timed out or aborted).
  #release(worker, task) {
    worker.tasks.delete(task.id);
    task.worker = null;
    this.#running--;
    if (worker.tasks.size === 0 && worker.state === 'ready') this.#idle(worker);
  }

  #settle(task, ok, value) {
    if (task.done) return;
    task.done = true;
    disarm(task);
    if (ok) this.#counts.completed++;
    else this.#counts.failed++;
    if (--this.#pending === 0) this.#refAll();
    if (ok) task.resolve(value);
    else task.reject(value);
  }

  // Timeout or abort: a waiting task leaves the queue; a running one's worker is
  // killed (the task may be stuck) and replaced.
  #cancel(task, reason) {
    if (task.done) return;
    const { worker } = task;
    if (worker === null) {
      this.#queue.remove(task);
    } else {
      this.#release(worker, task);
      this.#kill(worker);
    }
    this.#settle(task, false, reason);
    this.#dispatch();
  }

  // --- workers --------------------------------------------------------------

  // Task slots of workers starting, and of those the pool may still start.
  #startingSlots() {
    if (this.#failing) return 0;
    let workers = this.#o.size - this.#active;
    for (const worker of this.#workers) if (worker.state === 'starting') workers++;
    return workers * this.#o.concurrentTasksPerWorker;
  }

  #ensureWorkers() {
    if (this.#state === 'destroyed' || this.#state === 'stopping') return;
    const { size, minSize, concurrentTasksPerWorker } = this.#o;
    const demand = Math.ceil((this.#queue.size + this.#running) / concurrentTasksPerWorker);
    const want = Math.min(size, Math.max(this.#state === 'open' ? minSize : 0, demand));
    if (!this.#failing) {
      while (this.#active < want) this.#spawn();
    } else if (this.#queue.size > 0 && this.#active === 0 && this.#startTimer === null) {
      // One probe at a time, after the backoff delay.
      this.#startTimer = setTimeout(() => {
        this.#startTimer = null;
        if (this.#queue.size > 0 && this.#active === 0) this.#spawn();
      }, restartDelay(this.#o.restart, this.#probes++));
    }
  }

  #spawn() {
    const { filename, serialization, execArgv, env, cwd } = this.#o;
    const child = fork(WORKER_MAIN,
      [filename, serialization, String(this.#o.concurrentTasksPerWorker)],
      { execArgv, env, cwd, serialization });
    const worker = new Worker(child);
    this.#workers.add(worker);
    this.#active++;
    if (!this.#needsRef()) worker.setRef(false);
    child.on('message', (msg) => this.#onMessage(worker, msg));
    // Spawn failures end here ('close' follows); later errors (a failed kill or
    // send) are followed by 'close' or need nothing.
    child.on('error', () => {});
    // Gone once it has exited and its channel has delivered its last message (so a
    // result sent before dying is not lost). 'close' alone would not do: like
    // Node's, it does not come after a disconnect() from this side.
    let exited = false;
    let disconnected = false;
    const gone = () => this.#onGone(worker, child.exitCode, child.signalCode);
    child.on('exit', () => {
      exited = true;
      if (disconnected) gone();
    });
    child.on('disconnect', () => {
      disconnected = true;
      if (exited) gone();
    });
    child.on('close', gone); // after a failed spawn, which has no 'exit'
    return worker;
  }

  #onMessage(worker, msg) {
    if (!Array.isArray(msg)) return;
    const [kind, id] = msg;
    if (kind === RESULT || kind === ERROR) {
      const task = worker.tasks.get(id);
      if (task === undefined) return; // timed out or aborted meanwhile
      const payload = msg[3];
      this.#measure(msg[2]);
      this.#release(worker, task);
      if (kind === RESULT) this.#settle(task, true, payload);
      else this.#settle(task, false, decodeError(payload));
      this.#dispatch();
    } else if (kind === READY && worker.state === 'starting') {
      worker.state = 'ready';
      worker.wasReady = true;
      this.#failing = false;
      this.#startFailures = 0;
      this.#probes = 0;
      this.#idle(worker);
      this.#dispatch();
    } else if (kind === LOAD_ERROR && worker.state === 'starting') {
      this.#kill(worker);
      this.#failing = true;
      // The file is broken: every waiting task fails with its error.
      for (const task of this.#queue.drain()) this.#settle(task, false, decodeError(msg[2]));
    }
  }

  #onGone(worker, code, signal) {
    if (!this.#workers.delete(worker)) return;
    if (worker.state !== 'stopping') this.#active--;
    clearTimeout(worker.idleTimer);
    const tasks = [...worker.tasks.values()];
    this.#running -= tasks.length;
    worker.tasks.clear();

    // Back to the front of the queue, in order; the ones it was running are charged.
    const c = this.#o.concurrentTasksPerWorker;
    for (let i = tasks.length - 1; i >= 0; i--) {
      const task = tasks[i];
      task.worker = null;
      const charged = !worker.killedByPool && i < c;
      if (charged && ++task.attempts > this.#o.maxRetries) {
        this.#settle(task, false, new ERR_POOL_WORKER_DIED(code, signal, task.attempts));
      } else {
        if (charged) this.#counts.retried++;
        this.#queue.unshift(task);
      }
    }
    if (this.#state !== 'destroyed' && this.#state !== 'stopping' && !worker.retired) {
      if (worker.wasReady) this.#counts.restarts++;
      else if (!worker.killedByPool) this.#startFailed(code, signal);
    }
    this.#dispatch();
    this.#maybeEnded();
  }

  // A worker died before it was ready (not by a load error, which kills it).
  // After more than maxRetries such deaths in a row the waiting tasks fail.
  #startFailed(code, signal) {
    this.#failing = true;
    if (++this.#startFailures > this.#o.maxRetries) {
      for (const task of this.#queue.drain()) {
        this.#settle(task, false, new ERR_POOL_WORKER_DIED(code, signal, this.#startFailures));
      }
    }
  }

  #idle(worker) {
    const { idleTimeout, minSize } = this.#o;
    if (idleTimeout > 0 && this.#state === 'open') {
      worker.idleTimer = setTimeout(() => {
        if (worker.tasks.size === 0 && worker.state === 'ready' && this.#active > minSize) {
          worker.retired = true;
          this.#stop(worker);
        }
      }, idleTimeout).unref();
    }
  }

  // Graceful: the worker exits when its channel closes.
  #stop(worker) {
    if (worker.state === 'stopping') return;
    if (worker.state === 'starting') {
      this.#kill(worker);
      return;
    }
    worker.state = 'stopping';
    this.#active--;
    worker.child.disconnect();
  }

  #kill(worker) {
    worker.killedByPool = true;
    if (worker.state !== 'stopping') {
      worker.state = 'stopping';
      this.#active--;
    }
    worker.child.kill('SIGKILL');
  }

  #needsRef() {
    return this.#pending > 0 || this.#ended !== null;
  }

  // Idle, the pool does not keep the process alive; with work (or while ending) it does.
  #refAll() {
    const on = this.#needsRef();
    for (const worker of this.#workers) worker.setRef(on);
  }

  #maybeEnded() {
    if (this.#ended !== null && this.#workers.size === 0 &&
        (this.#state === 'stopping' || this.#state === 'destroyed')) {
      clearTimeout(this.#startTimer);
      this.#ended.resolve();
    }
  }
}

module.exports = { ProcessPool };
