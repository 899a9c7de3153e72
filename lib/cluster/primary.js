'use strict';
// `require('rust-cluster')` in the primary: Node's cluster API over our child_process.
// Workers are plain Node processes (NODE_UNIQUE_ID in their environment) running Node's
// own worker side; this is the control plane they talk to. Connections are dealt by
// the addon's scheduler (./listeners), not here. Each worker's life is the machine in
// ./worker_state: this module feeds it events and follows its transitions.
const EventEmitter = require('node:events');
const os = require('node:os');
const path = require('node:path');
const { fork } = require('../child_process');
const Worker = require('./worker');
const {
  createListener, ADAPTIVE_DEFAULTS, SCHED_NONE, SCHED_RR, SCHED_REUSEPORT, SCHED_ADAPTIVE,
} = require('./listeners');
const { advance, stateOf, phases } = require('./worker_state');
const { getInspectPort, isUsingInspector } = require('./inspector');
const {
  ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE, ERR_SOCKET_BAD_PORT,
} = require('../internal/errors');
const { validateObject } = require('../internal/validators');
const { internal, sendHelper, kStopListening } = require('./utils');

const cluster = new EventEmitter();
// Emits 'disconnect' when cluster.workers becomes empty (cluster.disconnect(cb)).
const intercom = new EventEmitter();
const listeners = new Map(); // listener key -> its listener (./listeners)
const UV_EADDRINUSE = -os.constants.errno.EADDRINUSE;

// assert.ok, with node:assert loaded only when a check fails (it is ~150 KB of the
// primary's memory otherwise).
function check(ok, message) {
  if (!ok) require('node:assert').ok(ok, message);
}

cluster.isWorker = false;
cluster.isMaster = true;
cluster.isPrimary = true;
cluster.Worker = Worker;
cluster.workers = {};
cluster.settings = {};
cluster.SCHED_NONE = SCHED_NONE;
cluster.SCHED_RR = SCHED_RR;
cluster.SCHED_REUSEPORT = SCHED_REUSEPORT;
cluster.SCHED_ADAPTIVE = SCHED_ADAPTIVE;
// Tells rust-cluster's primary from Node's (tests, examples).
Object.defineProperty(cluster, '_rustCluster', { value: true });

const policies = {
  __proto__: null,
  rr: SCHED_RR,
  none: SCHED_NONE,
  reuseport: SCHED_REUSEPORT,
  adaptive: SCHED_ADAPTIVE,
};
cluster.schedulingPolicy = policies[process.env.NODE_CLUSTER_SCHED_POLICY] ?? SCHED_RR;
let schedulingPolicy; // cluster.schedulingPolicy, frozen by the first setup

let ids = 0;
let initialized = false;

cluster.setupPrimary = function setupPrimary(options) {
  const settings = {
    args: process.argv.slice(2),
    exec: process.argv[1],
    execArgv: process.execArgv,
    silent: false,
    ...cluster.settings,
    ...options,
  };
  if (options?.adaptive !== undefined) validateAdaptive(options.adaptive);
  // One V8 log per process: without a %p in the name, profiles would share a file.
  if (settings.execArgv.some((arg) => arg.startsWith('--prof')) &&
      !settings.execArgv.some((arg) => arg.startsWith('--logfile='))) {
    settings.execArgv = [...settings.execArgv, '--logfile=v8-%p.log'];
  }
  cluster.settings = settings;

  if (!initialized) {
    initialized = true;
    schedulingPolicy = cluster.schedulingPolicy;
    check(schedulingPolicy === SCHED_NONE || schedulingPolicy === SCHED_RR ||
          schedulingPolicy === SCHED_REUSEPORT || schedulingPolicy === SCHED_ADAPTIVE,
          `Bad cluster.schedulingPolicy: ${schedulingPolicy}`);
    process.on('internalMessage', onDebugEnabled);
  }
  process.nextTick(emitSetup, settings);
};
cluster.setupMaster = cluster.setupPrimary;

// setupPrimary's `adaptive` (ours): SCHED_ADAPTIVE's timings, each in ms.
function validateAdaptive(adaptive) {
  validateObject(adaptive, 'options.adaptive');
  for (const name of Object.keys(ADAPTIVE_DEFAULTS)) {
    const value = adaptive[name];
    if (value === undefined) continue;
    if (typeof value !== 'number') {
      throw new ERR_INVALID_ARG_TYPE(`options.adaptive.${name}`, 'number', value);
    }
    if (!(value > 0 && value <= 60000)) {
      throw new ERR_OUT_OF_RANGE(`options.adaptive.${name}`, '> 0 and <= 60000', value);
    }
  }
}

function emitSetup(settings) {
  cluster.emit('setup', settings);
}

// A parent process turned the debugger on in this primary: turn it on in the workers.
function onDebugEnabled(message) {
  if (message.cmd !== 'NODE_DEBUG_ENABLED') return;
  for (const worker of Object.values(cluster.workers)) {
    if (worker.state === 'online' || worker.state === 'listening') {
      process._debugProcess(worker.process.pid);
    } else {
      worker.once('online', () => process._debugProcess(worker.process.pid));
    }
  }
}

function createWorkerProcess(id, env) {
  const { settings } = cluster;
  const execArgv = [...settings.execArgv];
  if (settings.inspectPort === null) throw new ERR_SOCKET_BAD_PORT('Port', null, true);
  if (isUsingInspector(settings.execArgv)) {
    execArgv.push(`--inspect-port=${getInspectPort(settings.inspectPort)}`);
  }
  return fork(settings.exec, settings.args, {
    cwd: settings.cwd,
    env: { ...process.env, ...env, NODE_UNIQUE_ID: `${id}` },
    serialization: settings.serialization,
    maxMessageSize: settings.maxMessageSize,
    silent: settings.silent,
    windowsHide: settings.windowsHide,
    execArgv,
    stdio: settings.stdio,
    gid: settings.gid,
    uid: settings.uid,
  });
}

cluster.fork = function fork(env) {
  cluster.setupPrimary();
  const id = ++ids;
  const worker = new Worker({ id, process: createWorkerProcess(id, env) });

  worker.on('message', (message, handle) => cluster.emit('message', worker, message, handle));
  stateOf(worker).on('transition', (to, from, event) => onTransition(worker, to, event));

  // A worker stays in cluster.workers until it has both exited and disconnected, in
  // either order.
  worker.process.once('exit', (exitCode, signalCode) => {
    if (!worker.isConnected()) {
      removeListenersForWorker(worker);
      removeWorker(worker);
    }
    worker.exitedAfterDisconnect = !!worker.exitedAfterDisconnect;
    advance(worker, 'exit');
    worker.emit('exit', exitCode, signalCode);
    cluster.emit('exit', worker, exitCode, signalCode);
    // Node 0.6's name for 'exit'.
    cluster.emit('death', worker);
  });

  worker.process.once('disconnect', () => {
    removeListenersForWorker(worker);
    if (worker.isDead()) removeWorker(worker);
    worker.exitedAfterDisconnect = !!worker.exitedAfterDisconnect;
    advance(worker, 'disconnect');
    worker.emit('disconnect');
    cluster.emit('disconnect', worker);
  });

  worker.process.on('internalMessage', internal(worker, onMessage));
  process.nextTick(emitFork, worker);
  cluster.workers[worker.id] = worker;
  return worker;
};

function emitFork(worker) {
  cluster.emit('fork', worker);
}

// What the primary does when a worker is told to leave or to drain.
function onTransition(worker, to, event) {
  if (event === 'disconnecting') {
    // worker.disconnect(): it leaves its listeners and cluster.workers now, as in Node.
    removeListenersForWorker(worker);
    removeWorker(worker);
  } else if (to === phases.DRAINING) {
    // The others take its new connections; each listener lets it go once another worker
    // is dealt to, so a listener is never left without one.
    for (const listener of listeners.values()) listener.drain(worker);
  }
}

// `cb` runs when cluster.workers next becomes empty once a worker is gone.
cluster.disconnect = function disconnect(cb) {
  const workers = Object.values(cluster.workers);
  if (workers.length === 0) {
    process.nextTick(() => intercom.emit('disconnect'));
  } else {
    for (const worker of workers) {
      if (worker.isConnected()) worker.disconnect();
    }
  }
  if (typeof cb === 'function') intercom.once('disconnect', cb);
};

// Before the workers are told to leave (the supervisor's shutdown): each listener stops
// listening and deals out what it accepted; `callback` runs once the workers have answered
// all of it. Plain cluster.disconnect() does not: Node's closes the listeners as the
// workers leave, at once.
function stopListening(callback) {
  let pending = listeners.size + 1;
  const stopped = () => {
    if (--pending === 0) callback();
  };
  for (const listener of listeners.values()) listener.stop(stopped);
  stopped();
}
Object.defineProperty(cluster, kStopListening, { value: stopListening });

function removeWorker(worker) {
  delete cluster.workers[worker.id];
  if (Object.keys(cluster.workers).length === 0) {
    check(listeners.size === 0, 'Resource leak detected.');
    intercom.emit('disconnect');
  }
}

function removeListenersForWorker(worker) {
  for (const [key, listener] of listeners) {
    if (listener.remove(worker)) listeners.delete(key);
  }
}

function send(worker, message, handle, onSent) {
  return sendHelper(worker.process, message, handle, onSent);
}

// --- what workers ask (Node's internal/cluster/child) ---------------------------

const dispatch = {
  __proto__: null,
  online,
  queryServer,
  listening,
  close,
  exitedAfterDisconnect,
};

function onMessage(message) {
  const act = dispatch[message.act];
  if (act !== undefined) act(this, message);
}

function online(worker) {
  advance(worker, 'online');
  worker.emit('online');
  cluster.emit('online', worker);
}

// The worker disconnects itself (worker.disconnect() or kill() there) and waits for
// this ack before it does.
function exitedAfterDisconnect(worker, message) {
  worker.exitedAfterDisconnect = true;
  send(worker, { ack: message.seq });
}

// A worker's server wants to listen: it gets the key's socket (shared policies) or the
// key's address, connections then following one by one (round-robin).
function queryServer(worker, message) {
  if (worker.exitedAfterDisconnect) return;
  // A fixed port's key leaves out the server's index, so that a worker listening again
  // shares the port another worker holds (as Node 22 and later do, nodejs/node#60141; we
  // do so on Node 20 too). Port 0 keeps it: each such server gets a port of its own.
  const key = `${message.address}:${message.port}:${message.addressType}:${message.fd}` +
              (message.port === 0 ? `:${message.index}` : '');
  let listener = listeners.get(key);
  if (listener !== undefined && !listener.closed && listener.has(worker)) {
    // The same worker on the same address twice: taken, as outside a cluster.
    send(worker, { errno: UV_EADDRINUSE, key, ack: message.seq, data: listener.data });
    return;
  }
  if (listener === undefined || listener.closed) {
    listener = createListener(schedulingPolicy, key, listenAddress(message), message,
                              cluster.settings.adaptive);
    listeners.set(key, listener);
  }
  // Server data (e.g. TLS ticket keys) is the first worker's, for every worker.
  if (!listener.data) listener.data = message.data;
  listener.add(worker, (errno, fields, sent, onSent) => {
    // A failed socket: the next query for the key tries again.
    if (errno !== 0 && listener.closed) listeners.delete(key);
    send(worker, { errno, key, ack: message.seq, data: listener.data, ...fields }, sent, onSent);
  });
  // A draining worker's new server is drained too: it gets connections only while no
  // other worker serves the key.
  if (stateOf(worker).phase === phases.DRAINING) listener.drain(worker);
}

// The address to listen on. A Unix socket path (absolute from the worker) is made
// relative to our cwd when that is shorter: paths are limited to ~100 bytes.
function listenAddress({ address, port }) {
  if (!(port < 0) || typeof address !== 'string') return address;
  const relative = path.relative(process.cwd(), address);
  return address.length < relative.length ? address : relative;
}

function listening(worker, message) {
  const info = {
    addressType: message.addressType,
    address: message.address,
    port: message.port,
    fd: message.fd,
  };
  advance(worker, 'listening');
  worker.emit('listening', info);
  cluster.emit('listening', worker, info);
}

// A worker's server closed. Its listener may be gone already (the worker disconnected).
function close(worker, message) {
  const listener = listeners.get(message.key);
  if (listener !== undefined && listener.remove(worker)) listeners.delete(message.key);
}

module.exports = cluster;
