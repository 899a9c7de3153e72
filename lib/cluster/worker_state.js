'use strict';
// The life of a worker process as its parent sees it: one explicit machine, driven by the
// events that move it on. The cluster primary drives it from the worker's messages and its
// process's 'exit'/'disconnect'; the supervisor drains and replaces workers through it; a
// pool replacing a worker or a scheduling policy taking a worker's listener over reads the
// same phases.
//
//   starting ─online─▶ online ─listening─▶ listening ─drain─▶ draining
//       └──────────────────┴──────────────────┴──────────────────┴─disconnecting─▶ disconnecting
//   any of those ─disconnect─▶ disconnected ─exit─▶ dead
//   any of those ─exit──────▶ exited ─disconnect─▶ dead
//
// 'draining': receives no new connections (its listeners deal to the others) but is still
// connected and finishes what it holds. 'disconnecting': told to leave. 'dead': both the
// process and its channel are gone.
const EventEmitter = require('node:events');

const STARTING = 'starting';
const ONLINE = 'online';
const LISTENING = 'listening';
const DRAINING = 'draining';
const DISCONNECTING = 'disconnecting';
const DISCONNECTED = 'disconnected';
const EXITED = 'exited';
const DEAD = 'dead';

const leaving = { disconnecting: DISCONNECTING, disconnect: DISCONNECTED, exit: EXITED };
const transitions = {
  __proto__: null,
  [STARTING]: { online: ONLINE, listening: LISTENING, drain: DRAINING, ...leaving },
  [ONLINE]: { listening: LISTENING, drain: DRAINING, ...leaving },
  [LISTENING]: { drain: DRAINING, ...leaving },
  [DRAINING]: leaving,
  // Told to leave again: no change of phase, but the parent acts on it again (as Node's
  // primary does on every worker.disconnect()).
  [DISCONNECTING]: { disconnecting: DISCONNECTING, disconnect: DISCONNECTED, exit: EXITED },
  [DISCONNECTED]: { disconnecting: DISCONNECTED, exit: DEAD },
  [EXITED]: { disconnecting: EXITED, disconnect: DEAD },
  [DEAD]: { disconnecting: DEAD },
};

// Node's `worker.state` for the events that set it. Node sets it from whichever event
// came last (a worker whose channel closes after it exited reads 'disconnected'), and
// programs may read it, so it is kept apart from the phase.
const nodeStates = {
  __proto__: null,
  online: 'online',
  listening: 'listening',
  disconnect: 'disconnected',
  exit: 'dead',
};

// Emits 'transition' (to, from, event) for every event the phase takes.
class WorkerState extends EventEmitter {
  constructor() {
    super();
    this.phase = STARTING;
    this.since = Date.now(); // when the phase was entered
  }

  // Moves on by `event`; returns whether the phase took it. An event the phase does not
  // take (a second 'listening', 'drain' once leaving) leaves it as it is.
  advance(event) {
    const to = transitions[this.phase][event];
    if (to === undefined) return false;
    const from = this.phase;
    this.phase = to;
    this.since = Date.now();
    this.emit('transition', to, from, event);
    return true;
  }

  // Taking new work: started and not yet draining or leaving.
  get serving() {
    return this.phase === ONLINE || this.phase === LISTENING;
  }

  // Told to go, or gone.
  get leaving() {
    return this.phase === DISCONNECTING || this.phase === DISCONNECTED ||
           this.phase === EXITED || this.phase === DEAD;
  }
}

const kState = Symbol('rust-cluster.workerState');

// The machine of a worker, made on first use; `worker.state` follows Node's rule.
function stateOf(worker) {
  return worker[kState] ??= new WorkerState();
}

// Feeds `event` to the worker's machine and sets Node's `worker.state` for it.
function advance(worker, event) {
  const nodeState = nodeStates[event];
  if (nodeState !== undefined) worker.state = nodeState;
  return stateOf(worker).advance(event);
}

module.exports = {
  WorkerState,
  stateOf,
  advance,
  phases: { STARTING, ONLINE, LISTENING, DRAINING, DISCONNECTING, DISCONNECTED, EXITED, DEAD },
};
