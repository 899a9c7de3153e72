'use strict';
// The primary's worker state machine (lib/cluster/worker_state.js) and the round-robin
// listener's drain: "add the new worker, then let the old one go".
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { once } = require('node:events');
const path = require('node:path');
const cluster = require('..');
const { WorkerState, advance, stateOf } = require('../lib/cluster/worker_state');
const { get } = require('./helpers/http_load');

const APP = path.join(__dirname, 'fixtures', 'supervisor', 'http_app.js');

test('phases move only along the machine; Node\'s worker.state follows the last event', () => {
  const walk = (events) => {
    const s = new WorkerState();
    const seen = [];
    s.on('transition', (to, from, event) => seen.push(`${from}-${event}->${to}`));
    const taken = events.map((e) => s.advance(e));
    return { phase: s.phase, taken, seen };
  };
  assert.deepEqual(walk(['online', 'listening', 'drain', 'disconnecting', 'disconnect', 'exit']).seen, [
    'starting-online->online', 'online-listening->listening', 'listening-drain->draining',
    'draining-disconnecting->disconnecting', 'disconnecting-disconnect->disconnected',
    'disconnected-exit->dead',
  ]);
  // Exit before the channel closes, and events a phase does not take.
  const r = walk(['online', 'exit', 'listening', 'drain', 'disconnect']);
  assert.equal(r.phase, 'dead');
  assert.deepEqual(r.taken, [true, true, false, false, true]);
  assert.equal(walk(['online', 'drain', 'listening']).phase, 'draining');
  // Every disconnect() is acted on, even once leaving (Node's primary does the same).
  assert.deepEqual(walk(['disconnecting', 'disconnecting']).taken, [true, true]);

  const worker = new cluster.Worker();
  assert.equal(worker.state, 'none');
  advance(worker, 'online');
  advance(worker, 'exit');
  advance(worker, 'disconnect');
  assert.equal(worker.state, 'disconnected', 'Node: whichever of exit/disconnect came last');
  assert.equal(stateOf(worker).phase, 'dead');
});

test('a drained round-robin worker is dealt to until another is added, then no more', { timeout: 60_000 }, async (t) => {
  cluster.setupPrimary({ exec: APP, silent: true });
  const first = cluster.fork();
  t.after(() => {
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGKILL');
  });
  const [address] = await once(first, 'listening');
  const pid = String(first.process.pid);

  advance(first, 'drain');
  assert.equal(stateOf(first).phase, 'draining');
  assert.equal(first.state, 'listening', 'Node\'s state is unchanged');
  // Alone on its listener: it goes on serving.
  for (let i = 0; i < 3; i++) assert.equal((await get(address.port)).body, pid);

  const second = cluster.fork();
  await once(second, 'listening');
  for (let i = 0; i < 6; i++) assert.equal((await get(address.port)).body, String(second.process.pid));
  // The drained worker still has its server and its channel: only new connections moved.
  assert.ok(first.isConnected());
  first.disconnect();
  await once(first, 'exit');
  assert.equal((await get(address.port)).body, String(second.process.pid));
});
