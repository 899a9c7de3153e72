'use strict';
// The event pump between the addon and JS. The addon keeps one event queue per
// JS environment (this thread's: main or a worker thread). Channels and children
// read on this thread's own loop call `notify(kind, id, a, b, c)` once per event;
// events from the reactor thread (cluster workers' channels) call `notify()` and
// we drain. Each event goes to whoever registered for its pid (exit) or channel
// id (the rest). The addon hands events flat, five slots each (kind, id, a, b, c);
// they become small objects here, where V8 builds them cheaply.
//
// Node drains nextTicks and microtasks after every libuv callback (a read, an
// EOF, an exit), so code resumed by `await once(child, 'message')` runs before
// the 'exit' that follows. One notify can bring several events; we deliver one,
// let ticks and microtasks run, and go on with the next on a later turn.
//
// Handlers run user code (listeners of 'message', 'exit', ...). When one throws,
// the error surfaces as an uncaught exception, as it would in Node, and the
// events after it are not lost: the event whose handler threw is dispatched again
// on the next turn. Handlers keep their own progress, so that continues it (a
// channel resumes after the message that threw) or is a no-op (exit and close
// registrations are removed before their handler runs).
const fs = require('node:fs');
const binding = require('../binding');

const exitWatchers = new Map(); // pid -> onExit(status, signal)
const channels = new Map(); // channel id -> { data, drain, error, close }
const stopWatchers = new Map(); // round-robin listener id -> onStopped()
let initialized = false;
let refs = 0;

// Counts deliveries: a channel writes the first message sent in a turn at once and
// batches the rest of it (lib/internal/ipc/channel.js).
let turns = 0;

let batch = null; // events being delivered, oldest first
let pos = 0;
let scheduled = false; // the rest of the batch waits for a later turn

function init() {
  if (initialized) return;
  initialized = true;
  binding.init(notify);
  // The event loop is held only while something is ref'd (see ref()).
  binding.setRef(refs > 0);
}

// Flat kinds (src/napi_events.rs).
const {
  EVENT_EXIT: EXIT, EVENT_DATA: DATA, EVENT_DRAIN: DRAIN, EVENT_ERROR: ERROR,
  EVENT_CLOSE: CLOSE, EVENT_FATAL: FATAL, EVENT_STOPPED: STOPPED,
} = binding;

function toEvent(kind, id, a, b, c) {
  switch (kind) {
    case EXIT: return { type: 'exit', pid: id, status: a, signal: b };
    case DATA: return { type: 'data', channel: id, buf: a, fds: b, count: c };
    case DRAIN: return { type: 'drain', channel: id };
    case ERROR: return { type: 'error', channel: id, code: a, message: b };
    case CLOSE: return { type: 'close', channel: id };
    case FATAL: return { type: 'fatal', message: a };
    case STOPPED: return { type: 'stopped', listener: id };
    default: throw new Error(`rust-cluster: unknown reactor event kind ${kind}`);
  }
}

// `notify(kind, id, a, b, c)`: one event, from this thread's own loop. `notify()`:
// the reactor thread queued events; they are drained here.
function notify(kind, id, a, b, c) {
  if (kind !== undefined) {
    const ev = toEvent(kind, id, a, b, c);
    if (batch === null && !scheduled) {
      // The common case: nothing waits, deliver it now.
      try {
        dispatch(ev);
      } catch (err) {
        batch = [ev];
        pos = 0;
        later();
        process.nextTick(rethrow, err);
      }
      return;
    }
    if (batch === null) {
      batch = [ev];
      pos = 0;
    } else {
      batch.push(ev);
    }
  } else {
    const flat = binding.drain();
    if (flat.length === 0) return;
    if (batch === null) {
      batch = [];
      pos = 0;
    }
    for (let i = 0; i < flat.length; i += 5) {
      batch.push(toEvent(flat[i], flat[i + 1], flat[i + 2], flat[i + 3], flat[i + 4]));
    }
  }
  if (!scheduled) deliver();
}

function deliver() {
  scheduled = false;
  try {
    dispatch(batch[pos]);
  } catch (err) {
    later();
    process.nextTick(rethrow, err);
    return;
  }
  if (++pos < batch.length) later();
  else batch = null;
}

function later() {
  scheduled = true;
  setImmediate(deliver);
}

function rethrow(err) {
  throw err;
}

function dispatch(ev) {
  turns++;
  if (ev.type === 'fatal') {
    // The native reactor thread stopped: nothing will be delivered from now on. Said
    // loudly, once, rather than leaving children and channels waiting forever.
    const err = new Error(ev.message);
    err.code = 'ERR_RUST_CLUSTER_REACTOR';
    process.nextTick(rethrow, err);
    return;
  }
  if (ev.type === 'stopped') {
    const onStopped = stopWatchers.get(ev.listener);
    if (onStopped === undefined) return;
    stopWatchers.delete(ev.listener);
    onStopped();
    return;
  }
  if (ev.type === 'exit') {
    const onExit = exitWatchers.get(ev.pid);
    if (onExit === undefined) return;
    exitWatchers.delete(ev.pid);
    onExit(ev.status, ev.signal);
    return;
  }
  const handlers = channels.get(ev.channel);
  if (handlers === undefined) {
    if (ev.type === 'data') closeFds(ev.fds);
    return;
  }
  switch (ev.type) {
    case 'data': handlers.data(ev); break;
    case 'drain': handlers.drain(ev); break;
    case 'error': handlers.error(ev); break;
    case 'close':
      channels.delete(ev.channel);
      handlers.close(ev);
      break;
    default: throw new Error(`rust-cluster: unknown reactor event ${ev.type}`);
  }
}

// Received descriptors nobody claimed would leak otherwise.
function closeFds(fds) {
  if (!fds) return;
  for (let i = 0; i < fds.length; i++) fs.closeSync(fds[i]);
}

// `onExit(status, signalNumber)` is called once, when the child has been reaped.
// Register in the same tick as the spawn: events are delivered on later ticks.
function watchExit(pid, onExit) {
  init();
  exitWatchers.set(pid, onExit);
}

// `handlers`: { data(ev), drain(ev), error(ev), close(ev) }, each receiving the
// native event. See the resumption rule at the top for `data` and `drain`.
function registerChannel(id, handlers) {
  init();
  channels.set(id, handlers);
}

// `onStopped()` is called once, when round-robin listener `id`, stopped with rrStop, has
// had all its connections answered.
function watchStopped(id, onStopped) {
  init();
  stopWatchers.set(id, onStopped);
}

// A counter of things that keep the event loop alive (ref'd children and
// channels, pending writes); the addon's notifier is ref'd while it is non-zero.
function ref() {
  init();
  if (++refs === 1) binding.setRef(true);
}

function unref() {
  if (refs > 0 && --refs === 0) binding.setRef(false);
}

function turn() {
  return turns;
}

function nextTurn() {
  turns++;
}

module.exports = {
  watchExit, registerChannel, watchStopped, ref, unref, closeFds, turn, nextTurn,
};
