'use strict';
// Cluster control messages on a worker's IPC channel: Node's `{cmd: 'NODE_CLUSTER', seq}`
// envelope. Unlike Node's primary, ours never waits for a worker's `{ack}`: the only
// acknowledged messages a primary sends are connections (`newconn`), and the native
// scheduler sends those and consumes their acks itself.

let seq = 0;

// The primary's `cluster[kStopListening](callback)`: every listener stops listening, and
// `callback` runs once what they accepted has been answered by the workers (the
// supervisor's shutdown, before it tells the workers to leave). Not part of Node's API.
const kStopListening = Symbol('rust-cluster.stopListening');

// Sends `message` as a cluster message, with `handle` if given. `onSent(err)` runs once
// it has been written to the channel (or has failed). Returns false without sending
// when the worker is no longer connected, as Node does.
function sendHelper(proc, message, handle, onSent) {
  if (!proc.connected) return false;
  message = { cmd: 'NODE_CLUSTER', ...message, seq: seq++ };
  return proc.send(message, handle, onSent);
}

// An 'internalMessage' listener that passes only cluster messages to `onMessage`,
// called with `worker` as `this`.
function internal(worker, onMessage) {
  return function onInternalMessage(message, handle) {
    if (message.cmd === 'NODE_CLUSTER') onMessage.call(worker, message, handle);
  };
}

module.exports = { sendHelper, internal, kStopListening };
