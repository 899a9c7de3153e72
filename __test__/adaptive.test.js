'use strict';
// SCHED_ADAPTIVE: a socket per worker as under SCHED_REUSEPORT, and the primary keeps each
// one. A worker killed with connections queued on its socket loses none of them, a stalled
// worker's queue is drained by the primary, a replacement worker takes the socket over, and
// the cluster events are round-robin's.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { fork, spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const PRIMARY = path.join(__dirname, 'fixtures', 'adaptive', 'primary.js');

// The primary of a cluster under `policy`, with its events in order.
function cluster(policy, { adaptive = {}, host = '127.0.0.1', listenPath = '' } = {}) {
  const child = fork(PRIMARY, {
    env: {
      ...process.env,
      CLUSTER_MODULE: ROOT,
      NODE_CLUSTER_SCHED_POLICY: policy,
      ADAPTIVE: JSON.stringify(adaptive),
      HOST: host,
      LISTEN_PATH: listenPath,
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const events = [];
  const waiters = [];
  child.on('message', (m) => {
    events.push(m);
    for (const w of [...waiters]) {
      if (w.match(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  return {
    events,
    pid: child.pid,
    send: (m) => child.send(m),
    // The first event from now on that `match` accepts.
    next(match) {
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    close() {
      child.kill('SIGKILL');
    },
  };
}

// Forks a worker and waits until it serves: { id, pid, port, ino }.
async function addWorker(c, id) {
  const ready = c.next((m) => m.ev === 'message' && m.id === id && m.listening);
  const listening = c.next((m) => m.ev === 'listening' && m.id === id);
  c.send({ cmd: 'fork' });
  const [m] = await Promise.all([ready, listening]);
  return { id, pid: m.pid, port: m.port, ino: m.ino };
}

async function block(c, id) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rc-adaptive-')), 'go');
  const blocked = c.next((m) => m.ev === 'message' && m.id === id && m.blocked);
  c.send({ cmd: 'block', id, file });
  await blocked;
  return file;
}

// One request per new connection; resolves with the answering pid and when it came.
function request(port, host = '127.0.0.1') {
  const where = typeof port === 'string' ? { socketPath: port } : { host, port };
  return new Promise((resolve, reject) => {
    const req = http.get({ ...where, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(Number(body)));
    });
    req.on('error', reject);
  });
}

// Waits until `n` of `promises` have settled.
function settled(promises, n) {
  let done = 0;
  return new Promise((resolve) => {
    if (n === 0) resolve();
    for (const p of promises) {
      p.finally(() => {
        done += 1;
        if (done === n) resolve();
      }).catch(() => {});
    }
  });
}

const CONNECTIONS = 24;

test('a worker killed with connections queued on its socket loses none; a new worker takes its socket over', { timeout: 60000 }, async () => {
  // Never stalled: the queued connections wait for the kill. The orphaned socket waits for
  // its replacement however slowly the machine forks it.
  const c = cluster('adaptive', { adaptive: { stallThreshold: 60000, orphanTimeout: 60000 } });
  try {
    const one = await addWorker(c, 1);
    const two = await addWorker(c, 2);
    assert.equal(two.port, one.port, 'listen(0): one port for the group');
    assert.notEqual(two.ino, one.ino, 'a socket of its own per worker');
    const go = await block(c, 1);
    const answers = [];
    const requests = Array.from({ length: CONNECTIONS }, () => request(one.port).then((pid) => {
      answers.push(pid);
      return pid;
    }));
    // Worker 2 answers its share; worker 1's waits in its queue.
    const exited = c.next((m) => m.ev === 'exit' && m.id === 1);
    await settled(requests.map((r) => r.catch(() => {})), 1);
    const before = answers.length;
    c.send({ cmd: 'kill', id: 1 });
    await exited;
    const pids = await Promise.all(requests);
    assert.ok(before < CONNECTIONS, 'some connections were queued on the killed worker');
    assert.deepEqual(new Set(pids), new Set([two.pid]));
    // The replacement gets the same socket.
    const three = await addWorker(c, 3);
    assert.equal(three.ino, one.ino);
    assert.equal(three.port, one.port);
    const after = await Promise.all(Array.from({ length: 16 }, () => request(one.port)));
    assert.ok(after.includes(three.pid), 'the new worker accepts on its socket');
    fs.writeFileSync(go, '');
  } finally {
    c.close();
  }
});

test('a stalled worker\'s queue is drained by the primary', { timeout: 60000 }, async () => {
  const c = cluster('adaptive');
  try {
    const one = await addWorker(c, 1);
    const two = await addWorker(c, 2);
    const go = await block(c, 1);
    const unblocked = c.next((m) => m.ev === 'message' && m.id === 1 && m.unblocked);
    let resumed = false;
    unblocked.then(() => { resumed = true; });
    const early = [];
    const requests = Array.from({ length: CONNECTIONS }, () => request(one.port).then((pid) => {
      if (!resumed) early.push(pid);
      return pid;
    }));
    // All but one (the primary lets a stalled worker have one connection, whose answer
    // says it is back) are answered while worker 1 is stuck: without the primary, about
    // half would wait for it, and this would never resolve.
    await settled(requests, CONNECTIONS - 1);
    fs.writeFileSync(go, '');
    await unblocked;
    const pids = await Promise.all(requests);
    assert.ok(early.length >= CONNECTIONS - 1, `${early.length} answered during the stall`);
    assert.ok(early.every((pid) => pid === two.pid));
    assert.ok(pids.filter((pid) => pid === one.pid).length <= 1);
    // Back: it accepts on its socket again.
    const after = await Promise.all(Array.from({ length: 16 }, () => request(one.port)));
    assert.ok(after.includes(one.pid), 'the worker accepts again once it answers');
  } finally {
    c.close();
  }
});

// The events a scenario produces, with what differs between runs (ports) left out.
async function lifecycle(policy) {
  const c = cluster(policy);
  try {
    const one = await addWorker(c, 1);
    await addWorker(c, 2);
    const gone = c.next((m) => m.ev === 'exit' && m.id === 1);
    c.send({ cmd: 'kill', id: 1 });
    await gone;
    await addWorker(c, 3);
    const left = c.next((m) => m.ev === 'exit' && m.id === 2);
    c.send({ cmd: 'disconnect', id: 2 });
    await left;
    assert.equal(await request(one.port) > 0, true);
    // Each worker's events in order. A killed worker's 'disconnect' (its channel's end)
    // and 'exit' race in Node as here: that pair is compared as a set.
    const byWorker = {};
    for (const m of c.events.filter((e) => e.ev !== 'message')) {
      const { address, ...rest } = m;
      const e = address ? { ...rest, address: { ...address, port: address.port === one.port } } : rest;
      (byWorker[m.id] ??= []).push(e);
    }
    byWorker[1].sort((a, b) => (a.ev === 'disconnect' || a.ev === 'exit') &&
      (b.ev === 'disconnect' || b.ev === 'exit') ? a.ev.localeCompare(b.ev) : 0);
    return byWorker;
  } finally {
    c.close();
  }
}

// How many descriptors of process `pid` are the socket with inode `ino`.
function copies(pid, ino) {
  const dir = `/proc/${pid}/fd`;
  let n = 0;
  for (const fd of fs.readdirSync(dir)) {
    try {
      if (fs.readlinkSync(path.join(dir, fd)) === `socket:[${ino}]`) n += 1;
    } catch {
      // Closed meanwhile.
    }
  }
  return n;
}

// Resolves once `check()` is true; checked every 20 ms for at most 10 s.
async function until(check, what) {
  const deadline = Date.now() + 10000;
  while (!check()) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('a socket nobody takes over is closed after orphanTimeout; the last worker leaving closes every one', { timeout: 60000 }, async () => {
  const c = cluster('adaptive', { adaptive: { orphanTimeout: 100 } });
  try {
    const one = await addWorker(c, 1);
    const two = await addWorker(c, 2);
    // The JS handle and the reactor's copy.
    assert.equal(copies(c.pid, one.ino), 2);
    assert.equal(copies(c.pid, two.ino), 2);
    const left = c.next((m) => m.ev === 'exit' && m.id === 2);
    c.send({ cmd: 'disconnect', id: 2 });
    await left;
    await until(() => copies(c.pid, two.ino) === 0, 'the orphaned socket is closed');
    assert.equal(copies(c.pid, one.ino), 2);
    const pids = await Promise.all(Array.from({ length: 8 }, () => request(one.port)));
    assert.deepEqual(new Set(pids), new Set([one.pid]));
    const gone = c.next((m) => m.ev === 'exit' && m.id === 1);
    c.send({ cmd: 'kill', id: 1 });
    await gone;
    await until(() => copies(c.pid, one.ino) === 0, 'the last socket is closed');
  } finally {
    c.close();
  }
});

test('a socket is not closed while the stuck worker told to leave still holds it', { timeout: 60000 }, async () => {
  const c = cluster('adaptive', { adaptive: { orphanTimeout: 50 } });
  try {
    const one = await addWorker(c, 1);
    const two = await addWorker(c, 2);
    // Worker 2 is told to leave while its event loop is stuck: it keeps its copy of its
    // socket, in the group, until it runs again.
    const go = await block(c, 2);
    c.send({ cmd: 'disconnect', id: 2 });
    // Ten times the orphan timeout: the primary must still hold its copy and accept there.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(copies(c.pid, two.ino), 2);
    const requests = Array.from({ length: CONNECTIONS }, () => request(one.port));
    const pids = await Promise.race([
      Promise.all(requests),
      new Promise((resolve) => setTimeout(resolve, 10000, 'some wait for the stuck worker')),
    ]);
    fs.writeFileSync(go, '');
    assert.deepEqual(new Set(pids), new Set([one.pid]));
    // Once it has left, the socket goes.
    await until(() => copies(c.pid, two.ino) === 0, 'the socket is closed');
  } finally {
    c.close();
  }
});

test('listening, disconnect and exit events as under round-robin', { timeout: 60000 }, async () => {
  const [rr, adaptive] = [await lifecycle('rr'), await lifecycle('adaptive')];
  assert.deepEqual(adaptive, rr);
  assert.ok(rr[3].some((m) => m.ev === 'listening'));
});

test('IPv6 under SCHED_ADAPTIVE', { timeout: 60000 }, async (t) => {
  const v6 = os.networkInterfaces().lo?.some((a) => a.family === 'IPv6');
  if (!v6) {
    t.skip('no IPv6 loopback');
    return;
  }
  const c = cluster('adaptive', { host: '::1' });
  try {
    const one = await addWorker(c, 1);
    const two = await addWorker(c, 2);
    assert.equal(two.port, one.port);
    assert.notEqual(two.ino, one.ino);
    const pids = await Promise.all(Array.from({ length: 16 }, () => request(one.port, '::1')));
    assert.ok(pids.every((pid) => pid === one.pid || pid === two.pid));
  } finally {
    c.close();
  }
});

test('a Unix path under SCHED_ADAPTIVE is served round-robin', { timeout: 60000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-adaptive-'));
  const listenPath = path.join(dir, 'sock');
  const c = cluster('adaptive', { listenPath });
  try {
    const one = await addWorker(c, 1);
    const two = await addWorker(c, 2);
    // Round-robin workers hold no socket of their own.
    assert.equal(one.ino, null);
    assert.equal(two.ino, null);
    const pids = await Promise.all(Array.from({ length: 16 }, () => request(listenPath)));
    assert.deepEqual(new Set(pids), new Set([one.pid, two.pid]));
  } finally {
    c.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a socket of another process in the port\'s SO_REUSEPORT group is reported', { timeout: 60000 }, async () => {
  const c = cluster('adaptive', { adaptive: { strangerCheck: 50 } });
  let stranger;
  try {
    const one = await addWorker(c, 1);
    const warned = c.next((m) => m.ev === 'warning' && m.code === 'RUST_CLUSTER_FOREIGN_LISTENER');
    // Same user, SO_REUSEPORT, same address and port: Linux lets it into the group.
    const code = `const s = require(${JSON.stringify(path.join(ROOT, 'lib', 'binding.js'))}).listenSocket({
      addressType: 4, address: '127.0.0.1', port: ${one.port}, reusePort: true, backlog: 16 });
      if (s.errno !== 0) { console.error('errno', s.errno); process.exit(1); }
      console.log(require('node:fs').fstatSync(s.fd).ino); setInterval(() => {}, 1000);`;
    stranger = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [ino] = await new Promise((resolve) => stranger.stdout.once('data', (d) => resolve(String(d).split('\n'))));
    const warning = await warned;
    assert.match(warning.message, new RegExp(`inode ${ino}, uid ${process.getuid()}`));
  } finally {
    stranger?.kill('SIGKILL');
    c.close();
  }
});

test('an adaptive setting given as undefined keeps its default', { timeout: 60000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-adaptive-'));
  const script = path.join(dir, 'undefined.js');
  fs.writeFileSync(script, `const cluster = require(${JSON.stringify(ROOT)});
    if (cluster.isPrimary) {
      cluster.schedulingPolicy = cluster.SCHED_ADAPTIVE;
      cluster.setupPrimary({ adaptive: { checkInterval: undefined, orphanTimeout: undefined } });
      const w = cluster.fork();
      cluster.on('listening', () => { console.log('listening'); w.kill(); });
    } else {
      require('node:net').createServer().listen(0, '127.0.0.1');
    }`);
  try {
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const code = await new Promise((resolve) => child.on('close', resolve));
    assert.equal(code, 0, out);
    assert.equal(out.trim(), 'listening');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('setupPrimary checks the adaptive settings', () => {
  const cluster = require(ROOT);
  assert.equal(cluster.SCHED_ADAPTIVE, 4);
  assert.throws(() => cluster.setupPrimary({ adaptive: 5 }), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => cluster.setupPrimary({ adaptive: { stallThreshold: '20' } }), { code: 'ERR_INVALID_ARG_TYPE' });
  for (const bad of [0, -1, 60001, NaN]) {
    assert.throws(() => cluster.setupPrimary({ adaptive: { checkInterval: bad } }), { code: 'ERR_OUT_OF_RANGE' });
  }
  cluster.setupPrimary({ adaptive: { orphanTimeout: 50 } });
  assert.deepEqual(cluster.settings.adaptive, { orphanTimeout: 50 });
});

// Listening TCP sockets on 127.0.0.1:port, from /proc/net/tcp.
function listeners(port) {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return fs.readFileSync('/proc/net/tcp', 'utf8').split('\n')
    .filter((line) => line.includes(`0100007F:${hex} 00000000:0000 0A`)).length;
}

test('a socket nobody takes over is closed after orphanTimeout without resetting its queue', { timeout: 60000 }, async () => {
  const c = cluster('adaptive', { adaptive: { stallThreshold: 60000, orphanTimeout: 200 } });
  try {
    const one = await addWorker(c, 1);
    const two = await addWorker(c, 2);
    const go1 = await block(c, 1);
    const go2 = await block(c, 2);
    // More than worker 2 is dealt at once (32): some still wait in worker 1's socket when
    // it is closed.
    const requests = Array.from({ length: 100 }, () => request(one.port));
    const exited = c.next((m) => m.ev === 'exit' && m.id === 1);
    await until(() => listeners(one.port) === 2, 'both sockets listen');
    c.send({ cmd: 'kill', id: 1 });
    await exited;
    await until(() => listeners(one.port) === 1, 'the orphan is closed');
    fs.writeFileSync(go2, '');
    const pids = await Promise.all(requests);
    assert.deepEqual(new Set(pids), new Set([two.pid]));
    fs.writeFileSync(go1, '');
  } finally {
    c.close();
  }
});
