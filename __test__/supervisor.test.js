'use strict';
// require('rust-cluster/supervisor'), run in this process (one supervisor at a time), on
// unmodified apps (fixtures/supervisor/) listening on port 0, under real load.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { once } = require('node:events');
const path = require('node:path');
const cluster = require('..');
const { supervise } = require('../lib/supervisor');
const { restartDelay } = require('../lib/supervisor/backoff');
const { closeRequest, get, holdFifo, load } = require('./helpers/http_load');

const APPS = path.join(__dirname, 'fixtures', 'supervisor');
const app = (name) => path.join(APPS, name);
const TIMEOUT = 60_000;

// The port the workers' servers share, from the primary's first 'listening'.
function nextPort() {
  return once(cluster, 'listening').then(([, address]) => address.port);
}

// A supervisor shut down when the test ends, whatever happened.
function start(t, options) {
  const sup = supervise(options);
  t.after(() => sup.shutdown());
  return sup;
}

test('invalid options throw Node-style coded errors', () => {
  const cases = [
    [{ instances: 0 }, 'ERR_OUT_OF_RANGE', /options\.instances/],
    [{ instances: 'many' }, 'ERR_INVALID_ARG_VALUE', /options\.instances/],
    [{ instances: 1.5 }, 'ERR_OUT_OF_RANGE', /an integer/],
    [{ exec: 42 }, 'ERR_INVALID_ARG_TYPE', /options\.exec/],
    [{ ready: 'online' }, 'ERR_INVALID_ARG_VALUE', /'listening', 'message'/],
    [{ killTimeout: -1 }, 'ERR_OUT_OF_RANGE', /options\.killTimeout/],
    [{ readyTimeout: '10s' }, 'ERR_INVALID_ARG_TYPE', /options\.readyTimeout/],
    [{ restart: { factor: 0.5 } }, 'ERR_OUT_OF_RANGE', /options\.restart\.factor/],
    [{ restart: { delay: 500, maxDelay: 100 } }, 'ERR_OUT_OF_RANGE', /options\.restart\.maxDelay/],
    [{ restart: 5 }, 'ERR_INVALID_ARG_TYPE', /options\.restart/],
    [{ maxRestarts: { window: 0 } }, 'ERR_OUT_OF_RANGE', /options\.maxRestarts\.window/],
    [{ maxMemory: '12 parsecs' }, 'ERR_INVALID_ARG_VALUE', /options\.maxMemory/],
    [{ maxMemory: true }, 'ERR_INVALID_ARG_TYPE', /options\.maxMemory/],
    [{ signals: 'yes' }, 'ERR_INVALID_ARG_TYPE', /options\.signals/],
    ['app.js', 'ERR_INVALID_ARG_TYPE', /"options" argument/],
  ];
  for (const [options, code, message] of cases) {
    assert.throws(() => supervise(options), (err) => {
      assert.equal(err.code, code, `${JSON.stringify(options)}: ${err.message}`);
      assert.match(err.message, message);
      return true;
    });
  }
  assert.equal(Object.keys(cluster.workers).length, 0, 'nothing was forked');
});

test('backoff delays grow by factor up to maxDelay', () => {
  const options = { delay: 100, maxDelay: 1000, factor: 2 };
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => restartDelay(options, n)),
                   [100, 200, 400, 800, 1000, 1000]);
});

test('a crash loop follows the backoff, then fires crashloop and stops', { timeout: TIMEOUT }, async (t) => {
  const restart = { delay: 40, maxDelay: 320, factor: 2, resetAfter: 30000 };
  const sup = start(t, {
    exec: app('crash_app.js'), instances: 1, restart, maxRestarts: { count: 5, window: 60000 },
  });
  const delays = [];
  const gaps = []; // from each restart's scheduling to the next fork
  let scheduledAt = 0;
  sup.on('restart', (worker, code, signal, delay) => {
    assert.equal(code, 1);
    delays.push(delay);
    scheduledAt = Date.now();
  });
  cluster.on('fork', function onFork() {
    if (scheduledAt !== 0) gaps.push(Date.now() - scheduledAt);
    if (delays.length === 5) cluster.removeListener('fork', onFork);
  });
  const shutdown = once(sup, 'shutdown');
  const [err] = await once(sup, 'crashloop');
  assert.equal(err.code, 'ERR_CRASH_LOOP');
  assert.match(err.message, /cannot open config\.json/, 'names the last stderr lines');
  await assert.rejects(sup.ready, { code: 'ERR_CRASH_LOOP' });
  assert.equal((await shutdown)[0], err);
  assert.deepEqual(delays, [40, 80, 160, 320, 320]);
  assert.equal(gaps.length, 5);
  gaps.forEach((gap, i) => assert.ok(gap >= delays[i] - 2, `restart ${i} came after ${gap} ms, before its ${delays[i]} ms`));
  assert.equal(Object.keys(cluster.workers).length, 0);
});

test('rolling reload under load: zero failed requests, every worker replaced', { timeout: TIMEOUT }, async (t) => {
  const port = nextPort();
  const sup = start(t, { exec: app('http_app.js'), instances: 2 });
  await sup.ready;
  const before = new Set(sup.stats().map((s) => s.pid));
  for (const close of [false, true]) {
    const traffic = load(await port, { close });
    await traffic.started;
    const info = await sup.reload();
    const result = await traffic.stop();
    assert.deepEqual(result.failed, [], `${close ? 'Connection: close' : 'keep-alive'} load during the reload`);
    assert.ok(result.ok > 0);
    assert.equal(info.instances, 2);
  }
  const after = sup.stats();
  assert.equal(after.length, 2);
  for (const s of after) {
    assert.ok(!before.has(s.pid), 'a worker from before the reloads is left');
    assert.equal(s.state, 'listening');
  }
  const answers = new Set();
  for (let i = 0; i < 4; i++) answers.add((await get(await port)).body);
  for (const pid of answers) assert.ok(after.some((s) => String(s.pid) === pid));
  await sup.shutdown();
});

test('shutdown answers every accepted request; a worker ignoring disconnect is SIGKILLed at killTimeout', { timeout: TIMEOUT }, async (t) => {
  {
    const port = nextPort();
    const sup = start(t, {
      exec: app('http_app.js'), instances: 2, killTimeout: 5000, checkInterval: 50,
    });
    await sup.ready;
    // Requests the workers hold (answered 300 ms after they arrive), with more load around.
    const traffic = load(await port, { connections: 8 });
    await traffic.started;
    const slow = Array.from({ length: 20 }, async () => get(await port, '?delay=300'));
    // Every slow request has reached a worker once the workers have counted its connection.
    const exits = [];
    sup.on('exit', (worker, code, signal) => exits.push({ code, signal }));
    const started = Date.now();
    await waitFor(() => sup.stats().reduce((n, s) => n + s.connections, 0) >= 28, sup);
    await sup.shutdown();
    const took = Date.now() - started;
    const answered = await Promise.all(slow);
    for (const { status } of answered) assert.equal(status, 200);
    const result = await traffic.stop();
    assert.ok(result.ok > 0);
    assert.ok(took < 5000, `shutdown took ${took} ms, past killTimeout`);
    assert.deepEqual(exits, [{ code: 0, signal: null }, { code: 0, signal: null }]);
  }
  {
    const killTimeout = 400;
    const sup = start(t, { exec: app('stubborn_app.js'), instances: 1, killTimeout });
    await sup.ready;
    const exit = once(sup, 'exit');
    const started = Date.now();
    await sup.shutdown();
    const took = Date.now() - started;
    const [, code, signal] = await exit;
    assert.deepEqual({ code, signal }, { code: null, signal: 'SIGKILL' });
    assert.ok(took >= killTimeout - 5 && took < killTimeout + 2000, `killed after ${took} ms`);
  }
});

// `count` workers' event loops blocked (GET /?hold): they answer nothing, not even the
// primary's hand-offs, until release().
async function holdWorkers(t, port, count) {
  const { fifo, release } = holdFifo(t);
  const holding = new Set();
  let allHolding;
  const held = new Promise((resolve) => { allHolding = resolve; });
  const onMessage = (worker, message) => {
    if (message !== 'holding') return;
    holding.add(worker.id);
    if (holding.size === count) allHolding();
  };
  cluster.on('message', onMessage);
  // Ties rotate: idle workers each get one of these.
  const requests = Array.from({ length: count }, () => get(port, `?hold=${encodeURIComponent(fifo)}`));
  await held;
  cluster.removeListener('message', onMessage);
  return { requests, release: () => release(count) };
}

test('shutdown under Connection: close answers every connection the kernel accepted before it', { timeout: TIMEOUT }, async (t) => {
  {
    // The workers hold; then 96 connections: the primary deals 32 to each worker (its
    // window) and 32 wait in the listening socket's backlog when shutdown() is called.
    const listening = nextPort();
    const sup = start(t, { exec: app('http_app.js'), instances: 2 });
    await sup.ready;
    const port = await listening;
    const exits = [];
    sup.on('exit', (worker, code, signal) => exits.push({ code, signal }));
    const { requests, release } = await holdWorkers(t, port, 2);
    const waiting = Array.from({ length: 96 }, () => closeRequest(port));
    await Promise.all(waiting.map((r) => r.connected));
    const shutdown = sup.shutdown();
    release();
    const outcomes = await Promise.all(waiting.map((r) => r.done));
    const failed = outcomes.filter((o) => o.status !== 200);
    assert.deepEqual(failed, [], `${failed.length} of 96 held connections failed`);
    for (const { status } of await Promise.all(requests)) assert.equal(status, 200);
    await shutdown;
    assert.deepEqual(exits, [{ code: 0, signal: null }, { code: 0, signal: null }]);
  }
  {
    // 16 clients opening connections back to back; shutdown() once 400 requests are
    // answered. Connections made after it may be refused; none made before may fail.
    const port = nextPort();
    const sup = start(t, { exec: app('http_app.js'), instances: 2 });
    await sup.ready;
    const p = await port;
    let stoppedAt = null;
    let answered = 0;
    let enough;
    const warm = new Promise((resolve) => { enough = resolve; });
    const results = [];
    const clients = Array.from({ length: 16 }, async () => {
      // Each client's last request is the first it starts after the shutdown.
      for (let after = false; !after;) {
        after = stoppedAt !== null;
        const r = closeRequest(p);
        const outcome = await r.done;
        results.push({ ...outcome, connectedAt: r.connectedAt });
        if (outcome.status === 200 && ++answered === 400) enough();
      }
    });
    await warm;
    stoppedAt = performance.now();
    await sup.shutdown();
    await Promise.all(clients);
    const before = results.filter((r) => r.connectedAt !== null && r.connectedAt < stoppedAt);
    const failed = before.filter((r) => r.status !== 200);
    assert.deepEqual(failed, [], `${failed.length} of ${before.length} requests connected before the shutdown failed`);
    // After it: served if the stop's accept loop took them, else refused (or reset, if the
    // handshake ended between that loop and the socket's close).
    const after = results.filter((r) => !before.includes(r));
    assert.ok(after.length >= 16);
    for (const r of after) {
      assert.ok(r.status === 200 || ['ECONNREFUSED', 'ECONNRESET'].includes(r.error), JSON.stringify(r));
    }
  }
});

// Waits for `predicate` to hold, tested at each of the supervisor's checks (the figures it
// reads change no more often than that).
async function waitFor(predicate, sup) {
  while (!predicate()) await once(sup, 'stats');
}

test('a worker growing past maxMemory is replaced: new one ready first, no request lost', { timeout: TIMEOUT }, async (t) => {
  const port = nextPort();
  const sup = start(t, {
    exec: app('growing_app.js'), instances: 1, maxMemory: '160M', checkInterval: 100,
    env: { GROW_AFTER_MS: '300' },
  });
  await sup.ready;
  const [first] = sup.stats();
  const order = [];
  cluster.on('listening', (worker) => order.push(`listening ${worker.id}`));
  sup.on('exit', (worker) => order.push(`exit ${worker.id}`));
  const traffic = load(await port, { connections: 4 });
  await traffic.started;
  const [worker, rss] = await once(sup, 'memory');
  assert.equal(worker.id, first.id);
  assert.ok(rss > 160 * 2 ** 20);
  while (!order.includes(`exit ${first.id}`)) await once(sup, 'exit');
  const { failed } = await traffic.stop();
  assert.deepEqual(failed, []);
  const replacement = order.find((event) => event.startsWith('listening'));
  assert.ok(order.indexOf(replacement) < order.indexOf(`exit ${first.id}`), order.join(', '));
  await sup.shutdown();
});

test("ready: 'message' waits for process.send('ready'); readyTimeout kills a worker that never says it", { timeout: TIMEOUT }, async (t) => {
  {
    const sup = start(t, {
      exec: app('message_app.js'), instances: 1, ready: 'message', env: { READY_AFTER_MS: '200' },
    });
    // Order, not time: listening comes first, and ready only once 'ready' has arrived.
    const order = [];
    cluster.once('listening', () => order.push('listening'));
    const onMessage = (worker, message) => { if (message === 'ready') order.push('message'); };
    cluster.on('message', onMessage);
    await sup.ready;
    order.push('ready');
    cluster.removeListener('message', onMessage);
    assert.deepEqual(order, ['listening', 'message', 'ready']);
    await sup.shutdown();
  }
  {
    const sup = start(t, {
      exec: app('http_app.js'), instances: 1, ready: 'message', readyTimeout: 300,
      restart: { delay: 10 }, maxRestarts: { count: 1, window: 60000 },
    });
    const shutdown = once(sup, 'shutdown');
    const crashloop = once(sup, 'crashloop');
    const [, code, signal, delay] = await once(sup, 'restart');
    assert.deepEqual({ code, signal, delay }, { code: null, signal: 'SIGKILL', delay: 10 });
    const [err] = await crashloop;
    assert.equal(err.code, 'ERR_CRASH_LOOP');
    await shutdown;
  }
});

test('scale grows and shrinks gracefully; stats() describes each worker', { timeout: TIMEOUT }, async (t) => {
  const port = nextPort();
  const sup = start(t, { exec: app('http_app.js'), instances: 1, checkInterval: 50 });
  await sup.ready;
  await sup.scale(3);
  assert.equal(sup.stats().length, 3);
  const traffic = load(await port, { connections: 6 });
  await traffic.started;
  await sup.scale(1);
  const { failed } = await traffic.stop();
  assert.deepEqual(failed, []);
  await waitFor(() => sup.stats()[0].connections > 0, sup);
  const [s] = sup.stats();
  assert.deepEqual(Object.keys(s), ['id', 'pid', 'slot', 'state', 'uptime', 'restarts', 'rss', 'cpu', 'connections']);
  assert.equal(s.state, 'listening');
  assert.ok(s.rss > 10 * 2 ** 20 && s.uptime > 0 && s.cpu >= 0);
  await assert.rejects(sup.scale(0), { code: 'ERR_OUT_OF_RANGE' });
  await sup.shutdown();
  await assert.rejects(sup.reload(), { code: 'ERR_SUPERVISOR_STOPPED' });
});
