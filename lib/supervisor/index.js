'use strict';
// require('rust-cluster/supervisor'): keeps `instances` workers of an app running on
// rust-cluster's primary. A worker that dies is restarted after an exponential backoff; too
// many deaths in a window is a crash loop, and then nothing is restarted. Reload, scale,
// memory replacement and shutdown replace workers gracefully: a new worker is ready before
// an old one is drained (its listeners deal to the new one) and told to disconnect, and
// one that has not exited killTimeout ms later is SIGKILLed. A shutdown first stops the
// listeners (what waits in their sockets is accepted and dealt out), and tells the workers
// to leave once they have answered all of it.
const EventEmitter = require('node:events');
const path = require('node:path');
const readline = require('node:readline');
const cluster = require('../cluster/primary');
const { advance, stateOf } = require('../cluster/worker_state');
const { kStopListening } = require('../cluster/utils');
const { normalize, normalizeInstances } = require('./options');
const { restartDelay, ExitWindow } = require('./backoff');
const { rssOf, cpuTimeOf } = require('./proc_stats');
const {
  ERR_CRASH_LOOP,
  ERR_SUPERVISOR_RUNNING,
  ERR_SUPERVISOR_STOPPED,
  ERR_WORKER_NOT_READY,
} = require('../internal/errors');

const PRELOAD = path.join(__dirname, 'worker_preload.js');
const STATS = 'NODE_RUST_CLUSTER_STATS'; // the preload's connection count
const STDERR_LINES = 10; // stderr lines kept for a crash loop's message

let active = null; // the process's supervisor: it owns the cluster primary's settings

function noop() {}

// A promise with its settle functions.
function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(noop); // a waiter nobody awaits must not be an unhandled rejection
  return { promise, resolve, reject };
}

// One of `instances`: the worker serving it now, the one replacing it, its backoff.
class Slot {
  constructor(index) {
    this.index = index;
    this.worker = null; // ready or starting; null while a restart waits
    this.next = null; // a replacement being started (reload, maxMemory)
    this.failures = 0; // in a row, for the backoff
    this.restarts = 0;
    this.timer = null; // the pending restart
    this.removed = false; // scaled away
    this.ready = deferred(); // settled when a worker of this slot is first ready
  }
}

// What the supervisor knows of one worker process.
class Record {
  constructor(worker, slot) {
    this.worker = worker;
    this.slot = slot;
    this.forkedAt = Date.now();
    this.readyAt = null;
    this.retiring = false; // told to leave by the supervisor: its exit is planned
    this.exited = new Promise((resolve) => worker.once('exit', resolve));
    this.killTimer = null;
    this.timedOut = false; // killed for not being ready in readyTimeout
    this.cpuTime = 0; // ms, at the last check
    this.cpu = 0; // percent of one core over the last check interval
    this.connections = 0;
  }
}

class Supervisor extends EventEmitter {
  constructor(options) {
    super();
    this.options = normalize(options);
    if (active !== null) throw new ERR_SUPERVISOR_RUNNING();
    active = this;
    const o = this.options;
    cluster.setupPrimary({
      exec: o.exec,
      args: o.args,
      execArgv: [...o.execArgv, '--require', PRELOAD],
      cwd: o.cwd,
      silent: o.silent,
      // stderr is always read (its last lines name a crash loop's cause) and passed on.
      stdio: o.silent ? undefined : ['inherit', o.prefixLogs ? 'pipe' : 'inherit', 'pipe', 'ipc'],
    });
    this.slots = [];
    this.records = new Map(); // worker id -> Record, until it exits
    this.exits = new ExitWindow(o.maxRestarts);
    this.stderrTail = [];
    this.stopping = null; // shutdown()'s promise
    this.reloading = null; // reload()'s promise
    this.crashed = null; // the crash-loop error

    for (let i = 0; i < o.instances; i++) this.addSlot();
    this.ready = Promise.all(this.slots.map((slot) => slot.ready.promise)).then(() => {
      this.emit('ready');
    });
    this.ready.catch(noop);

    this.monitor = setInterval(() => this.check(), o.checkInterval);
    this.monitor.unref();
    this.signalHandlers = o.signals ? this.handleSignals() : null;
  }

  // --- starting and restarting -------------------------------------------------------

  addSlot() {
    const slot = new Slot(this.slots.length);
    this.slots.push(slot);
    slot.worker = this.start(slot, (worker) => {
      slot.ready.resolve(worker);
    });
    return slot;
  }

  // Forks a worker for `slot`; `onReady(worker)` runs when it is ready, `onFailed(err)`
  // when it exits before. Returns it.
  start(slot, onReady, onFailed) {
    const o = this.options;
    const worker = cluster.fork(o.env);
    const record = new Record(worker, slot);
    this.records.set(worker.id, record);
    this.pipeOutput(worker);
    // A write to a worker whose channel just closed fails ('error' on it); its exit,
    // which follows, is what the supervisor acts on.
    worker.on('error', noop);
    worker.process.on('internalMessage', (message) => {
      if (message.cmd === STATS) record.connections = message.connections;
    });

    const ready = () => {
      if (record.readyAt !== null || record.retiring) return;
      clearTimeout(timer);
      record.readyAt = Date.now();
      onReady(worker);
    };
    if (o.ready === 'listening') {
      worker.once('listening', ready);
    } else {
      worker.on('message', (message) => {
        if (message === 'ready') ready();
      });
    }
    const timer = o.readyTimeout === 0 ? null : setTimeout(() => {
      record.timedOut = true;
      worker.process.kill('SIGKILL');
    }, o.readyTimeout);
    worker.once('exit', (code, signal) => {
      clearTimeout(timer);
      this.onExit(record, code, signal);
      if (record.readyAt === null && onFailed !== undefined) {
        const how = record.timedOut ? `was not ready in ${o.readyTimeout} ms` :
          `exited (${signal ?? `code ${code}`})`;
        onFailed(new ERR_WORKER_NOT_READY(worker.id, how));
      }
    });
    return worker;
  }

  pipeOutput(worker) {
    const { stdout, stderr } = worker.process;
    const prefix = this.options.prefixLogs ? `[${worker.id}] ` : '';
    if (this.options.prefixLogs && !this.options.silent && stdout) {
      readline.createInterface({ input: stdout, crlfDelay: Infinity }).on('line', (line) => {
        process.stdout.write(`${prefix}${line}\n`);
      });
    }
    if (!stderr) return;
    // Read even when silent: its last lines name a crash loop's cause.
    readline.createInterface({ input: stderr, crlfDelay: Infinity }).on('line', (line) => {
      if (!this.options.silent) process.stderr.write(`${prefix}${line}\n`);
      this.stderrTail.push(`[${worker.id}] ${line}`);
      if (this.stderrTail.length > STDERR_LINES) this.stderrTail.shift();
    });
  }

  onExit(record, code, signal) {
    const { worker, slot } = record;
    this.records.delete(worker.id);
    clearTimeout(record.killTimer);
    this.emit('exit', worker, code, signal);
    if (record.retiring || this.stopping) return;

    // Unplanned: a crash, or a start that failed.
    const now = Date.now();
    if (this.exits.record(now)) {
      this.crashLoop();
      return;
    }
    if (slot.worker !== worker) return; // a replacement that failed: the old one serves on
    slot.worker = null;
    if (slot.next !== null || slot.removed) return; // the replacement fills the slot
    if (record.readyAt !== null && now - record.readyAt >= this.options.restart.resetAfter) {
      slot.failures = 0;
    }
    const delay = restartDelay(this.options.restart, slot.failures++);
    slot.restarts++;
    this.emit('restart', worker, code, signal, delay);
    slot.timer = setTimeout(() => this.refill(slot), delay);
  }

  refill(slot) {
    slot.timer = null;
    if (this.stopping || slot.removed || slot.worker !== null) return;
    slot.worker = this.start(slot, (worker) => slot.ready.resolve(worker));
  }

  crashLoop() {
    const { count, window } = this.options.maxRestarts;
    const tail = this.stderrTail.length === 0 ? '' :
      `; last stderr lines:\n${this.stderrTail.join('\n')}`;
    this.crashed = new ERR_CRASH_LOOP(count + 1, window, tail);
    this.emit('crashloop', this.crashed);
    this.shutdown();
  }

  // --- replacing and leaving -----------------------------------------------------------

  // Starts a new worker for `slot` and, once it is ready, lets the old one go. Resolves
  // with { exited } (the old worker's exit); rejects if the new one fails to start (the
  // old one serves on). Called only when no replacement is under way (slot.next null).
  replace(slot) {
    const old = slot.worker;
    clearTimeout(slot.timer);
    slot.timer = null;
    return new Promise((resolve, reject) => {
      slot.next = this.start(slot, (worker) => {
        slot.next = null;
        slot.worker = worker;
        slot.ready.resolve(worker);
        resolve({ exited: old === null ? undefined : this.retire(old, true) });
      }, (err) => {
        slot.next = null;
        reject(err);
        // The old worker died meanwhile: the slot is restarted as after any death.
        if (slot.worker === null && !this.stopping && !slot.removed) {
          slot.timer = setTimeout(() => this.refill(slot),
                                  restartDelay(this.options.restart, slot.failures++));
        }
      });
    });
  }

  // Tells `worker` to leave: drained first if others serve its listeners, then told to
  // disconnect (once `after` resolves, if given); SIGKILLed if it is still alive
  // killTimeout ms from now. Resolves on its exit.
  retire(worker, drain, after) {
    const record = this.records.get(worker.id);
    if (record === undefined) return Promise.resolve();
    if (!record.retiring) {
      record.retiring = true;
      if (drain) advance(worker, 'drain');
      const leave = () => {
        if (worker.isConnected()) worker.disconnect();
      };
      if (after === undefined) leave();
      else after.then(leave);
      record.killTimer = setTimeout(() => worker.process.kill('SIGKILL'),
                                    this.options.killTimeout);
    }
    return record.exited;
  }

  // --- the API -------------------------------------------------------------------------

  // Rolling reload: each instance in turn gets a new worker, then its old one leaves.
  // Resolves once every old worker has exited.
  reload() {
    if (this.stopping) return Promise.reject(new ERR_SUPERVISOR_STOPPED());
    this.reloading ??= this.rollOver().finally(() => {
      this.reloading = null;
    });
    return this.reloading;
  }

  async rollOver() {
    const started = Date.now();
    const exits = [];
    for (const slot of this.slots.slice()) {
      if (this.stopping) throw new ERR_SUPERVISOR_STOPPED();
      if (slot.removed || slot.next !== null) continue;
      exits.push((await this.replace(slot)).exited);
    }
    await Promise.all(exits);
    const info = { duration: Date.now() - started, instances: exits.length };
    this.emit('reload', info);
    return info;
  }

  // Grows to `instances` (resolves when the new ones are ready) or shrinks (resolves
  // when the ones gone have exited).
  async scale(instances) {
    instances = normalizeInstances(instances, 'instances');
    if (this.stopping) throw new ERR_SUPERVISOR_STOPPED();
    const live = this.slots.filter((slot) => !slot.removed);
    if (instances >= live.length) {
      const added = [];
      for (let i = live.length; i < instances; i++) added.push(this.addSlot().ready.promise);
      await Promise.all(added);
      return;
    }
    const gone = live.slice(instances);
    this.slots = live.slice(0, instances);
    await Promise.all(gone.map((slot) => {
      slot.removed = true;
      clearTimeout(slot.timer);
      slot.ready.reject(new ERR_SUPERVISOR_STOPPED());
      return Promise.all([slot.worker, slot.next].filter(Boolean).map((w) => this.retire(w, true)));
    }));
  }

  // The listeners stop listening (new connections are refused) and deal out what they
  // accepted; once the workers have answered all of it, every worker is told to
  // disconnect (SIGKILL killTimeout ms after the call); resolves when all have exited.
  // Nothing is restarted from then on.
  shutdown() {
    this.stopping ??= this.stop();
    return this.stopping;
  }

  async stop() {
    clearInterval(this.monitor);
    const error = this.crashed ?? new ERR_SUPERVISOR_STOPPED();
    for (const slot of this.slots) {
      clearTimeout(slot.timer);
      slot.ready.reject(error);
    }
    const answered = new Promise((resolve) => cluster[kStopListening](resolve));
    await Promise.all([...this.records.values()].map(({ worker }) => {
      return this.retire(worker, false, answered);
    }));
    if (this.signalHandlers !== null) {
      for (const [signal, handler] of this.signalHandlers) process.removeListener(signal, handler);
    }
    if (active === this) active = null;
    this.emit('shutdown', this.crashed ?? undefined);
  }

  // SIGHUP: reload(); SIGTERM, SIGINT: shutdown(), and a second one SIGKILLs the workers.
  handleSignals() {
    const reload = () => {
      this.reload().catch((err) => process.emitWarning(`reload failed: ${err.message}`));
    };
    const stop = () => {
      if (this.stopping === null) {
        this.shutdown();
        return;
      }
      for (const { worker } of this.records.values()) worker.process.kill('SIGKILL');
    };
    const handlers = [['SIGHUP', reload], ['SIGTERM', stop], ['SIGINT', stop]];
    for (const [signal, handler] of handlers) process.on(signal, handler);
    return handlers;
  }

  // Per worker: id, pid, slot, state (its phase in the primary's worker state machine),
  // uptime (ms), restarts (of its slot), rss (bytes, read now), cpu (% of a core over the
  // last check interval), connections (accepted, as of the last check).
  stats() {
    const now = Date.now();
    return [...this.records.values()].map((r) => ({
      id: r.worker.id,
      pid: r.worker.process.pid,
      slot: r.slot.index,
      state: stateOf(r.worker).phase,
      uptime: now - r.forkedAt,
      restarts: r.slot.restarts,
      rss: rssOf(r.worker.process.pid),
      cpu: r.cpu,
      connections: r.connections,
    }));
  }

  // Every checkInterval: CPU, connections, and maxMemory.
  check() {
    const { checkInterval, maxMemory } = this.options;
    for (const record of this.records.values()) {
      const { worker, slot } = record;
      const pid = worker.process.pid;
      const cpuTime = cpuTimeOf(pid);
      if (cpuTime !== null) {
        record.cpu = Math.round(((cpuTime - record.cpuTime) / checkInterval) * 1000) / 10;
        record.cpuTime = cpuTime;
      }
      // A worker leaving may close its channel before this is written: no matter.
      if (worker.isConnected()) worker.process.send({ cmd: STATS }, noop);
      if (maxMemory === null || record.retiring || slot.worker !== worker || slot.next !== null ||
          this.reloading !== null || !stateOf(worker).serving) continue;
      const rss = rssOf(pid);
      if (rss !== null && rss > maxMemory) {
        this.emit('memory', worker, rss);
        this.replace(slot).catch(noop); // a replacement that fails counts as a failed start
      }
    }
    if (this.listenerCount('stats') > 0) this.emit('stats', this.stats());
  }
}

function supervise(options) {
  return new Supervisor(options);
}

module.exports = { supervise, Supervisor };
