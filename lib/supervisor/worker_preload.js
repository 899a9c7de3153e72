'use strict';
// Loaded into every supervised worker before the app (`node --require`). Plain Node, no
// addon. Two jobs:
//
// 1. Leave without failing a request. Node's worker closes its servers when the primary
//    tells it to disconnect, and an HTTP server's close() drops its idle connections at
//    once: a connection just handed to the worker whose request has not arrived yet, or a
//    keep-alive connection whose client is sending its next request, then fails. Here a
//    leaving worker instead answers every request it gets with `Connection: close` (those
//    in flight too, if their headers are not out yet), and closes the connections still
//    idle only after IDLE_GRACE ms.
// 2. Count the connections it accepted, for the supervisor's stats.
const dc = require('node:diagnostics_channel');

// Idle connections of a leaving worker are closed after this long (and again every
// IDLE_GRACE ms while any remain): long enough that a client busy on the connection has
// sent its next request (which gets `Connection: close`), short next to killTimeout.
const IDLE_GRACE = 1000;
const STATS = 'NODE_RUST_CLUSTER_STATS';

const sockets = new Set(); // accepted and open
const servers = new Set(); // HTTP servers that accepted a connection
let accepted = 0;
let leaving = false;

function forget() {
  sockets.delete(this);
}

dc.subscribe('net.server.socket', ({ socket }) => {
  accepted++;
  if (leaving) return;
  sockets.add(socket);
  socket.once('close', forget);
  const { server } = socket;
  if (typeof server?.closeIdleConnections === 'function') servers.add(server);
});

dc.subscribe('http.server.request.start', ({ response }) => {
  if (leaving) response.shouldKeepAlive = false;
});

function leave() {
  if (leaving) return;
  leaving = true;
  // The response being written on each connection, if it has not sent its headers.
  for (const socket of sockets) {
    const response = socket._httpMessage;
    if (response && !response.headersSent) response.shouldKeepAlive = false;
  }
  sockets.clear();
  // Node's worker is about to close each server, which closes its idle connections: not
  // yet (an own property shadows the prototype's method until the grace is over).
  for (const server of servers) server.closeIdleConnections = () => {};
  const timer = setInterval(closeIdle, IDLE_GRACE);
  timer.unref();
}

function closeIdle() {
  for (const server of servers) {
    delete server.closeIdleConnections;
    server.closeIdleConnections();
  }
}

// Before Node's own cluster listener (registered at startup) acts on the same message.
process.prependListener('internalMessage', (message) => {
  if (message === null || typeof message !== 'object') return;
  if (message.cmd === 'NODE_CLUSTER' && message.act === 'disconnect') {
    leave();
  } else if (message.cmd === STATS && process.connected) {
    process.send({ cmd: STATS, connections: accepted });
  }
});

// A terminal's Ctrl-C reaches the whole process group: the supervisor shuts the workers
// down gracefully, so a worker leaves when it is told to (or when its primary is gone).
process.on('SIGINT', () => {});
