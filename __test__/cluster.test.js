'use strict';
// require('rust-cluster') as a drop-in `cluster`: a primary of ours with plain,
// unmodified Node workers. Each scenario runs a primary script in a process of its own
// (this process is the client), with our cluster and, where the behaviour is Node's
// too, with the built-in, and checks both against the same expectations.
//
// The primary script below takes commands on stdin and reports cluster events as JSON
// lines on stdout; its workers (the same script) report theirs on the same stdout.

const { test, describe, after } = require('node:test');
const assert = require('node:assert/strict');
const cp = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const ROOT = path.resolve(__dirname, '..');
const REGISTER = path.join(ROOT, 'lib', 'register.js');
const IMPLS = ['rust-cluster', 'builtin'];
const TIMEOUT = 30_000;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-cluster-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const PRIMARY = `
'use strict';
const cluster = require(process.env.CLUSTER_MODULE);
const out = (event) => process.stdout.write(JSON.stringify(event) + '\\n');

if (cluster.isPrimary) {
  const all = {}; // every worker forked, by id (cluster.workers forgets them)
  const info = (w) => ({ id: w.id, pid: w.process.pid, state: w.state });
  for (const name of ['fork', 'online', 'disconnect']) {
    cluster.on(name, (w) => out({ ev: name, ...info(w), listed: w.id in cluster.workers }));
  }
  cluster.on('listening', (w, address) => out({ ev: 'listening', ...info(w), address }));
  cluster.on('exit', (w, code, signal) => out({
    ev: 'exit', ...info(w), code, signal, exitedAfterDisconnect: w.exitedAfterDisconnect,
    listed: w.id in cluster.workers, dead: w.isDead(), connected: w.isConnected(),
  }));
  cluster.on('death', (w) => out({ ev: 'death', id: w.id, pid: w.pid }));
  cluster.on('message', (w, message, handle) => out({
    ev: 'message', id: w.id, message, handle: handle === undefined ? null : handle.constructor.name,
    isWorker: w instanceof cluster.Worker,
  }));
  cluster.on('setup', (settings) => out({ ev: 'setup', settings }));

  const ops = {
    fork({ env }) {
      let w;
      try {
        w = cluster.fork(env);
      } catch (err) {
        out({ ev: 'forkError', name: err.name, code: err.code, message: err.message });
        return;
      }
      all[w.id] = w;
      w.on('online', () => out({ ev: 'worker.online', id: w.id }));
      w.on('listening', (address) => out({ ev: 'worker.listening', id: w.id, address }));
      w.on('disconnect', () => out({ ev: 'worker.disconnect', id: w.id }));
      w.on('exit', (code, signal) => out({ ev: 'worker.exit', id: w.id, code, signal }));
      w.on('message', (message) => out({ ev: 'worker.message', id: w.id, message }));
      out({ ev: 'forked', id: w.id, pid: w.process.pid, pidAlias: w.pid, listed: w.id in cluster.workers,
        piped: w.process.stdout !== null });
    },
    kill({ id, signal }) {
      all[id].kill(signal);
      out({ ev: 'killed', id, listed: id in cluster.workers, exitedAfterDisconnect: all[id].exitedAfterDisconnect });
    },
    disconnect({ id }) {
      all[id].disconnect();
      out({ ev: 'disconnecting', id, listed: id in cluster.workers, exitedAfterDisconnect: all[id].exitedAfterDisconnect });
    },
    disconnectAll() {
      let calls = 0;
      cluster.disconnect(() => out({ ev: 'disconnected', calls: ++calls, workers: Object.keys(cluster.workers) }));
    },
    send({ id, message }) {
      all[id].send(message);
    },
    setup({ settings }) {
      cluster.setupPrimary(settings);
      out({ ev: 'settings', settings: cluster.settings });
    },
    block({ ms }) {
      out({ ev: 'blocking' });
      const end = Date.now() + ms;
      while (Date.now() < end);
      out({ ev: 'unblocked' });
    },
  };
  require('node:readline').createInterface({ input: process.stdin })
    .on('line', (line) => { const cmd = JSON.parse(line); ops[cmd.op](cmd); })
    .on('close', () => process.exit(0));
  out({ ev: 'ready', policy: cluster.schedulingPolicy });
} else {
  const modes = {
    // Serves its pid. On 'close' its server closes (then it tells the primary, after
    // the server's own 'close' message); on 'leave' it disconnects itself.
    http() {
      const server = require('node:http').createServer((req, res) => res.end(String(process.pid)))
        .listen(...JSON.parse(process.env.LISTEN));
      process.on('message', (m) => {
        if (m === 'close') server.close(() => process.send({ closed: process.pid }));
        if (m === 'leave') cluster.worker.disconnect();
      });
    },
    udp() {
      const socket = require('node:dgram').createSocket('udp4');
      socket.on('message', (msg) => out({ ev: 'datagram', pid: process.pid, msg: String(msg) }));
      socket.bind(0, '127.0.0.1', () => out({ ev: 'bound', pid: process.pid, port: socket.address().port }));
    },
    // Listens, then on 'block' stops serving for good (its event loop never turns again).
    stuck() {
      modes.http();
      process.on('message', (m) => {
        if (m !== 'block') return;
        out({ ev: 'stuck', pid: process.pid });
        for (;;);
      });
    },
    messages() {
      process.on('message', (m) => process.send({ echo: m }));
      const server = require('node:net').createServer();
      server.listen({ port: 0, host: '127.0.0.1', exclusive: true },
        () => process.send({ server: server.address().port }, server));
    },
    report() {
      out({ ev: 'report', pid: process.pid, foo: process.env.FOO, uniqueId: process.env.NODE_UNIQUE_ID,
        workerId: cluster.worker.id, isWorker: cluster.isWorker, argv: process.argv.slice(2),
        execArgv: process.execArgv });
      process.on('message', () => {});
    },
  };
  modes[process.env.MODE]();
}
`;
const primaryFile = path.join(tmp, 'primary.js');
fs.writeFileSync(primaryFile, PRIMARY);

// Starts the primary script with `impl`'s cluster. `env`: extra environment; `fds`:
// descriptors the primary inherits from fd 3 on.
function startPrimary(impl, env = {}, fds = []) {
  const child = cp.spawn(process.execPath, [primaryFile], {
    cwd: tmp,
    env: {
      ...process.env,
      CLUSTER_MODULE: impl === 'builtin' ? 'node:cluster' : ROOT,
      ...env,
    },
    stdio: ['pipe', 'pipe', 'pipe', ...fds],
  });
  const events = [];
  const waiters = [];
  const pids = new Set();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const event = JSON.parse(line);
    if (event.pid) pids.add(event.pid);
    events.push(event);
    for (const w of waiters.slice()) w();
  });
  const closed = new Promise((resolve) => child.on('close', (code, signal) => {
    for (const w of waiters.slice()) w();
    resolve({ code, signal });
  }));

  const primary = {
    events,
    get stderr() { return stderr; },
    // The first `count` events matching `match` (an event name or a predicate), once seen.
    waitFor(match, count = 1) {
      const pred = typeof match === 'string' ? (e) => e.ev === match : match;
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.filter(pred);
          if (found.length >= count) {
            waiters.splice(waiters.indexOf(check), 1);
            resolve(count === 1 ? found[0] : found.slice(0, count));
          } else if (child.exitCode !== null || child.signalCode !== null) {
            waiters.splice(waiters.indexOf(check), 1);
            reject(new Error(`primary ended before ${match}: ${JSON.stringify(events)}\n${stderr}`));
          }
        };
        waiters.push(check);
        check();
      });
    },
    command(cmd) {
      child.stdin.write(JSON.stringify(cmd) + '\n');
    },
    // Forks `count` workers in `mode`; resolves with their 'listening' (or `until`) events.
    async fork(count, env, until = 'listening') {
      const before = events.filter((e) => e.ev === until).length;
      for (let i = 0; i < count; i++) primary.command({ op: 'fork', env });
      const all = await primary.waitFor(until, before + count);
      return [].concat(all).slice(before);
    },
    closed,
    async stop() {
      child.stdin.end();
      return closed;
    },
    cleanup() {
      for (const pid of [child.pid, ...pids]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
    },
  };
  return primary;
}

// Runs `body(primary)` with a primary started as startPrimary(impl, env, fds); kills what
// is left of it afterwards, or when test `t` times out.
async function withPrimary(t, impl, env, body, fds) {
  const primary = startPrimary(impl, env, fds);
  t.signal.addEventListener('abort', primary.cleanup);
  try {
    await primary.waitFor('ready');
    return await body(primary);
  } finally {
    primary.cleanup();
  }
}

// GET / on `target` ({ port } or { socketPath }), a new connection each time.
function get(target) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', ...target, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => { body += d; }).on('end', () => resolve(body));
    }).on('error', reject);
  });
}

// `n` concurrent requests; resolves with the number served by each worker pid.
async function countServed(target, n) {
  const bodies = await Promise.all(Array.from({ length: n }, () => get(target)));
  const counts = {};
  for (const pid of bodies) counts[pid] = (counts[pid] || 0) + 1;
  return counts;
}

function connectRefused(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('connect', () => { socket.destroy(); resolve(false); });
    socket.on('error', (err) => resolve(err.code === 'ECONNREFUSED'));
  });
}

const policies = (impl) => (impl === 'builtin' ? ['rr', 'none'] : ['rr', 'none', 'reuseport']);
const policyNumber = { rr: 2, none: 1, reuseport: 3 };
const pidsOf = (events) => events.map((e) => e.pid).sort();

for (const impl of IMPLS) {
  describe(impl, () => {
    test('the module is the primary side, with Node\'s API', { timeout: TIMEOUT }, async (t) => {
      await withPrimary(t, impl, {}, async (primary) => {
        assert.equal(primary.events[0].policy, 2);
      });
      const probe = cp.execFileSync(process.execPath, ['-p', `
        const c = require(${JSON.stringify(impl === 'builtin' ? 'node:cluster' : ROOT)});
        JSON.stringify({ isPrimary: c.isPrimary, isMaster: c.isMaster, isWorker: c.isWorker,
          SCHED_RR: c.SCHED_RR, SCHED_NONE: c.SCHED_NONE, workers: c.workers, settings: c.settings,
          fns: ['fork', 'setupPrimary', 'setupMaster', 'disconnect', 'Worker'].map((f) => typeof c[f]),
          alias: c.setupMaster === c.setupPrimary, worker: c.worker })`], { encoding: 'utf8' });
      assert.deepEqual(JSON.parse(probe), {
        isPrimary: true, isMaster: true, isWorker: false, SCHED_RR: 2, SCHED_NONE: 1,
        workers: {}, settings: {}, fns: ['function', 'function', 'function', 'function', 'function'],
        alias: true,
      });
    });

    for (const policy of policies(impl)) {
      test(`${policy}: every worker serves HTTP on the port listen(0) gave them all`, { timeout: TIMEOUT }, async (t) => {
        await withPrimary(t, impl, { NODE_CLUSTER_SCHED_POLICY: policy }, async (primary) => {
          assert.equal(primary.events[0].policy, policyNumber[policy]);
          // No host: the unspecified address.
          const listening = await primary.fork(2, { MODE: 'http', LISTEN: '[0]' });
          const port = listening[0].address.port;
          assert.ok(port > 0);
          assert.deepEqual(listening.map((e) => e.address),
            [0, 1].map(() => ({ addressType: 4, address: null, port })));
          const counts = await countServed({ port }, 200);
          const workerPids = pidsOf(listening).map(String);
          for (const pid of Object.keys(counts)) assert.ok(workerPids.includes(pid), pid);
          assert.equal(Object.values(counts).reduce((a, b) => a + b), 200);
          // The OS may favour one accepting worker under 'none'; the others balance.
          if (policy !== 'none') assert.deepEqual(Object.keys(counts).sort(), workerPids, JSON.stringify(counts));
        });
      });

      test(`${policy}: UDP workers share one socket`, { timeout: TIMEOUT }, async (t) => {
        await withPrimary(t, impl, { NODE_CLUSTER_SCHED_POLICY: policy }, async (primary) => {
          const bound = await primary.fork(2, { MODE: 'udp' }, 'bound');
          assert.equal(bound[0].port, bound[1].port);
          const client = dgram.createSocket('udp4');
          client.send('ping', bound[0].port, '127.0.0.1');
          const got = await primary.waitFor('datagram');
          client.close();
          assert.equal(got.msg, 'ping');
          assert.ok(pidsOf(bound).includes(got.pid));
        });
      });

      test(`${policy}: a Unix socket path is served and removed at the end`, { timeout: TIMEOUT }, async (t) => {
        const socketPath = path.join(tmp, `${impl}-${policy}.sock`);
        await withPrimary(t, impl, { NODE_CLUSTER_SCHED_POLICY: policy }, async (primary) => {
          const listening = await primary.fork(2, { MODE: 'http', LISTEN: JSON.stringify([socketPath]) });
          for (const e of listening) assert.deepEqual(e.address, { addressType: -1, address: socketPath, port: -1 });
          const counts = await countServed({ socketPath }, 100);
          assert.equal(Object.values(counts).reduce((a, b) => a + b), 100);
          if (policy === 'rr') assert.equal(Object.keys(counts).length, 2, JSON.stringify(counts));
          primary.command({ op: 'disconnectAll' });
          await primary.waitFor('disconnected');
          await primary.waitFor('exit', 2);
        });
        assert.equal(fs.existsSync(socketPath), false);
      });
    }

    for (const policy of policies(impl)) {
      test(`${policy}: a worker's server.close() leaves the others serving, the last closes the port`, { timeout: TIMEOUT }, async (t) => {
        await withPrimary(t, impl, { NODE_CLUSTER_SCHED_POLICY: policy }, async (primary) => {
          const listening = await primary.fork(2, { MODE: 'http', LISTEN: '[0, "127.0.0.1"]' });
          const { port } = listening[0].address;
          const [a, b] = listening;
          // The primary has handled the close once it has the message that follows it.
          const closed = (w) => primary.waitFor((e) => e.ev === 'message' && e.message.closed === w.pid);
          primary.command({ op: 'send', id: a.id, message: 'close' });
          await closed(a);
          assert.deepEqual(await countServed({ port }, 20), { [b.pid]: 20 });
          primary.command({ op: 'send', id: b.id, message: 'close' });
          await closed(b);
          // Both workers are alive; nobody listens any more.
          assert.ok(await connectRefused(port), 'a listener is left');
          assert.equal(primary.events.some((e) => e.ev === 'exit'), false);
        });
      });

      test(`${policy}: listen({ fd }) serves on a socket the primary inherited`, { timeout: TIMEOUT }, async (t) => {
        const inherited = net.createServer();
        await new Promise((resolve) => inherited.listen(0, '127.0.0.1', resolve));
        const { port } = inherited.address();
        await withPrimary(t, impl, { NODE_CLUSTER_SCHED_POLICY: policy }, async (primary) => {
          // The primary has its own copy: this process stops accepting on it.
          inherited.close();
          const listening = await primary.fork(2, { MODE: 'http', LISTEN: '[{ "fd": 3 }]' });
          for (const e of listening) assert.deepEqual(e.address, { addressType: null, address: null, port, fd: 3 });
          const counts = await countServed({ port }, 50);
          assert.equal(Object.values(counts).reduce((a, b) => a + b), 50);
          if (policy === 'rr') assert.equal(Object.keys(counts).length, 2, JSON.stringify(counts));
        }, [inherited._handle.fd]);
      });
    }

    test('rr with serialization \'advanced\': connections reach every worker', { timeout: TIMEOUT }, async (t) => {
      await withPrimary(t, impl, { NODE_CLUSTER_SCHED_POLICY: 'rr' }, async (primary) => {
        primary.command({ op: 'setup', settings: { serialization: 'advanced' } });
        const listening = await primary.fork(2, { MODE: 'http', LISTEN: '[0, "127.0.0.1"]' });
        const counts = await countServed({ port: listening[0].address.port }, 100);
        assert.deepEqual(Object.keys(counts).sort(), pidsOf(listening).map(String));
      });
    });

    test('setupPrimary({ silent: true }): the worker\'s stdio is piped to the primary', { timeout: TIMEOUT }, async (t) => {
      await withPrimary(t, impl, {}, async (primary) => {
        primary.command({ op: 'setup', settings: { silent: true } });
        await primary.fork(1, { MODE: 'http', LISTEN: '[0, "127.0.0.1"]' });
        assert.equal(primary.events.find((e) => e.ev === 'forked').piped, true);
      });
    });

    test('the inspector port: --inspect-port for each worker, inspectPort validated', { timeout: TIMEOUT }, async (t) => {
      await withPrimary(t, impl, {}, async (primary) => {
        // --inspect-port alone asks for the port logic without starting an inspector.
        primary.command({ op: 'setup', settings: { execArgv: ['--inspect-port=0'] } });
        const reports = await primary.fork(2, { MODE: 'report' }, 'report');
        // The primary's debug port (9229) plus one per worker.
        assert.deepEqual(reports.map((r) => r.execArgv.join(' ')).sort(),
          ['--inspect-port=0 --inspect-port=9230', '--inspect-port=0 --inspect-port=9231']);
        const badPort = (received) => ({
          ev: 'forkError', name: 'RangeError', code: 'ERR_SOCKET_BAD_PORT',
          message: `Port should be >= 0 and < 65536. Received ${received}.`,
        });
        for (const [inspectPort, received] of [[null, 'null'], [70000, 'type number (70000)']]) {
          primary.command({ op: 'setup', settings: { inspectPort } });
          primary.command({ op: 'fork', env: { MODE: 'report' } });
          const errors = await primary.waitFor('forkError', received === 'null' ? 1 : 2);
          assert.deepEqual([].concat(errors).pop(), badPort(received));
        }
        primary.command({ op: 'setup', settings: { inspectPort: 4321 } });
        const [report] = await primary.fork(1, { MODE: 'report' }, 'report');
        assert.deepEqual(report.execArgv, ['--inspect-port=0', '--inspect-port=4321']);
      });
    });

    test('a listen error reaches the worker\'s server; the next listen retries', { timeout: TIMEOUT }, async (t) => {
      const taken = net.createServer();
      await new Promise((resolve) => taken.listen(0, '127.0.0.1', resolve));
      const { port } = taken.address();
      await withPrimary(t, impl, {}, async (primary) => {
        primary.command({ op: 'fork', env: { MODE: 'http', LISTEN: JSON.stringify([port, '127.0.0.1']) } });
        // Node's http server rethrows the listen error: the worker dies of it.
        const exit = await primary.waitFor('exit');
        assert.equal(exit.code, 1);
        await new Promise((resolve) => taken.close(resolve));
        const [listening] = await primary.fork(1, { MODE: 'http', LISTEN: JSON.stringify([port, '127.0.0.1']) });
        assert.equal(listening.address.port, port);
        assert.equal(await get({ port }), String(listening.pid));
        assert.match(primary.stderr, /EADDRINUSE/);
      });
    });

    test('worker.disconnect() and worker.kill(): events and bookkeeping as Node', { timeout: TIMEOUT }, async (t) => {
      await withPrimary(t, impl, {}, async (primary) => {
        const listening = await primary.fork(2, { MODE: 'http', LISTEN: '[0, "127.0.0.1"]' });
        const { port } = listening[0].address;
        const [a, b] = listening.map((e) => e.id).sort();

        primary.command({ op: 'disconnect', id: a });
        // Node forgets a worker as soon as the primary disconnects it.
        assert.deepEqual(await primary.waitFor('disconnecting'),
          { ev: 'disconnecting', id: a, listed: false, exitedAfterDisconnect: true });
        const exitA = await primary.waitFor((e) => e.ev === 'exit' && e.id === a);
        assert.deepEqual({ ...exitA, pid: 0 }, {
          ev: 'exit', id: a, pid: 0, state: 'dead', code: 0, signal: null,
          exitedAfterDisconnect: true, listed: false, dead: true, connected: false,
        });

        primary.command({ op: 'kill', id: b });
        // Node 20 signals at once: the worker stays listed until it has exited and disconnected.
        assert.deepEqual(await primary.waitFor('killed'),
          { ev: 'killed', id: b, listed: true }); // exitedAfterDisconnect: undefined
        const exitB = await primary.waitFor((e) => e.ev === 'exit' && e.id === b);
        assert.equal(exitB.signal, 'SIGTERM');
        assert.equal(exitB.code, null);
        assert.equal(exitB.exitedAfterDisconnect, false);
        await primary.waitFor((e) => e.ev === 'disconnect' && e.id === b);
        // Listed at its exit only if the channel outlived the process.
        const disconnectB = primary.events.find((e) => e.ev === 'disconnect' && e.id === b);
        const exitFirst = primary.events.indexOf(exitB) < primary.events.indexOf(disconnectB);
        assert.equal(exitB.listed, exitFirst);
        assert.equal(disconnectB.listed, !exitFirst);

        // Each worker: 'disconnect' and 'exit' on the worker just before the cluster's.
        for (const id of [a, b]) {
          const mine = primary.events.filter((e) => e.id === id && /^(worker\.)?(disconnect|exit)$/.test(e.ev));
          const names = mine.map((e) => e.ev);
          assert.equal(names.length, 4, JSON.stringify(mine));
          for (let i = 0; i < 4; i += 2) assert.equal(`worker.${names[i + 1]}`, names[i]);
        }
        assert.ok(await connectRefused(port), 'a listener is left');
      });
    });

    test('a worker disconnects itself: exitedAfterDisconnect, its listener goes', { timeout: TIMEOUT }, async (t) => {
      await withPrimary(t, impl, {}, async (primary) => {
        const [listening] = await primary.fork(1, { MODE: 'http', LISTEN: '[0, "127.0.0.1"]' });
        primary.command({ op: 'send', id: listening.id, message: 'leave' });
        const exit = await primary.waitFor('exit');
        assert.deepEqual([exit.code, exit.signal, exit.exitedAfterDisconnect, exit.listed], [0, null, true, false]);
        await primary.waitFor('disconnect');
        assert.ok(await connectRefused(listening.address.port), 'a listener is left');
      });
    });

    test('cluster.disconnect(cb): every worker leaves, cb runs once, no listener is left', { timeout: TIMEOUT }, async (t) => {
      await withPrimary(t, impl, {}, async (primary) => {
        const listening = await primary.fork(2, { MODE: 'http', LISTEN: '[0, "127.0.0.1"]' });
        const { port } = listening[0].address;
        primary.command({ op: 'disconnectAll' });
        const done = await primary.waitFor('disconnected');
        assert.deepEqual(done, { ev: 'disconnected', calls: 1, workers: [] });
        const exits = await primary.waitFor('exit', 2);
        for (const e of exits) {
          assert.equal(e.code, 0);
          assert.equal(e.exitedAfterDisconnect, true);
          assert.equal(e.listed, false);
        }
        assert.equal(primary.events.filter((e) => e.ev === 'disconnect').length, 2);
        assert.ok(await connectRefused(port), 'a listener is left');
        assert.deepEqual(await primary.stop(), { code: 0, signal: null });
        assert.equal(primary.events.filter((e) => e.ev === 'disconnected').length, 1);
      });
    });

    test('fork(env), setupPrimary(), settings and the \'setup\' event', { timeout: TIMEOUT }, async (t) => {
      await withPrimary(t, impl, {}, async (primary) => {
        primary.command({ op: 'setup', settings: { args: ['one', 'two'], execArgv: ['--no-warnings'] } });
        const { settings } = await primary.waitFor('settings');
        assert.deepEqual(settings, {
          args: ['one', 'two'], exec: primaryFile, execArgv: ['--no-warnings'], silent: false,
        });
        assert.deepEqual((await primary.waitFor('setup')).settings, settings);
        const [report] = await primary.fork(1, { MODE: 'report', FOO: 'bar' }, 'report');
        assert.deepEqual({ ...report, pid: 0 }, {
          ev: 'report', pid: 0, foo: 'bar', workerId: 1, isWorker: true,
          argv: ['one', 'two'], execArgv: ['--no-warnings'],
        });
        // fork() sets up again: one more 'setup', with the same settings.
        assert.equal(primary.events.filter((e) => e.ev === 'setup').length, 2);
        const forked = primary.events.find((e) => e.ev === 'forked');
        assert.equal(forked.listed, true);
        // 'fork' is emitted on a later tick than fork() returns.
        assert.ok(primary.events.indexOf(forked) < primary.events.findIndex((e) => e.ev === 'fork'));
        await primary.waitFor('online');
        assert.equal(primary.events.find((e) => e.ev === 'online').state, 'online');
        assert.ok(primary.events.some((e) => e.ev === 'worker.online'));
      });
    });

    test('messages: worker.send, the worker\'s and the cluster\'s \'message\', with a handle', { timeout: TIMEOUT }, async (t) => {
      await withPrimary(t, impl, {}, async (primary) => {
        await primary.fork(1, { MODE: 'messages' }, 'online');
        const withServer = await primary.waitFor((e) => e.ev === 'message' && e.message.server);
        assert.equal(withServer.handle, 'Server');
        assert.equal(withServer.isWorker, true);
        primary.command({ op: 'send', id: 1, message: { hello: [1, 2] } });
        const echo = await primary.waitFor((e) => e.ev === 'message' && e.message.echo);
        assert.deepEqual(echo, { ev: 'message', id: 1, message: { echo: { hello: [1, 2] } }, handle: null, isWorker: true });
        // The worker's own 'message' comes before the cluster's (its listener is first).
        const own = await primary.waitFor((e) => e.ev === 'worker.message' && e.message.echo);
        assert.ok(primary.events.indexOf(own) > primary.events.indexOf(echo));
      });
    });
  });
}

// Ours only: Node 0.6's API, and what the native scheduler does that Node's primary
// does not (Node loses a connection in flight to a worker that dies, and accepts
// nothing while its JavaScript is blocked).
describe('rust-cluster only', () => {
  test('the oldest seeds: cluster \'death\' and worker.pid', { timeout: TIMEOUT }, async (t) => {
    await withPrimary(t, 'rust-cluster', {}, async (primary) => {
      const [listening] = await primary.fork(1, { MODE: 'http', LISTEN: '[0, "127.0.0.1"]' });
      const forked = primary.events.find((e) => e.ev === 'forked');
      assert.equal(forked.pidAlias, forked.pid);
      primary.command({ op: 'kill', id: listening.id, signal: 'SIGKILL' });
      const death = await primary.waitFor('death');
      assert.deepEqual(death, { ev: 'death', id: listening.id, pid: listening.pid });
      // Right after 'exit'.
      const exit = primary.events.findIndex((e) => e.ev === 'exit');
      assert.equal(primary.events.indexOf(death), exit + 1);
    });
  });

  test('rr: a killed worker\'s connections in flight are served by another', { timeout: TIMEOUT }, async (t) => {
    await withPrimary(t, 'rust-cluster', { NODE_CLUSTER_SCHED_POLICY: 'rr' }, async (primary) => {
      const [stuck] = await primary.fork(1, { MODE: 'stuck', LISTEN: '[0, "127.0.0.1"]' });
      const { port } = stuck.address;
      primary.command({ op: 'send', id: stuck.id, message: 'block' });
      await primary.waitFor('stuck');
      // Every connection now goes to the stuck worker, which never answers it.
      const n = 20;
      const served = countServed({ port }, n);
      const [other] = await primary.fork(1, { MODE: 'http', LISTEN: '[0, "127.0.0.1"]' });
      process.kill(stuck.pid, 'SIGKILL');
      assert.deepEqual(await served, { [other.pid]: n });
    });
  });

  test('rr: connections are served while the primary\'s JavaScript is blocked', { timeout: TIMEOUT }, async (t) => {
    await withPrimary(t, 'rust-cluster', { NODE_CLUSTER_SCHED_POLICY: 'rr' }, async (primary) => {
      const listening = await primary.fork(2, { MODE: 'http', LISTEN: '[0, "127.0.0.1"]' });
      const { port } = listening[0].address;
      primary.command({ op: 'block', ms: 1000 });
      await primary.waitFor('blocking');
      const counts = await countServed({ port }, 20);
      assert.equal(primary.events.some((e) => e.ev === 'unblocked'), false, 'served only after the block');
      assert.equal(Object.values(counts).reduce((a, b) => a + b), 20);
    });
  });

  test('reuseport: each worker has a socket of its own on the one port', { timeout: TIMEOUT }, async (t) => {
    await withPrimary(t, 'rust-cluster', { NODE_CLUSTER_SCHED_POLICY: 'reuseport' }, async (primary) => {
      const listening = await primary.fork(3, { MODE: 'http', LISTEN: '[0, "127.0.0.1"]' });
      const { port } = listening[0].address;
      for (const e of listening) assert.equal(e.address.port, port);
      // One leaves: its socket is closed, the others keep serving on the port.
      primary.command({ op: 'kill', id: listening[0].id });
      await primary.waitFor('exit');
      const counts = await countServed({ port }, 100);
      assert.deepEqual(Object.keys(counts).sort(), pidsOf(listening.slice(1)).map(String));
      primary.command({ op: 'disconnectAll' });
      await primary.waitFor('exit', 3);
      assert.ok(await connectRefused(port));
    });
  });

  test('an unmodified app under node -r rust-cluster/register: our primary, plain workers that serve', { timeout: TIMEOUT }, async (t) => {
    const app = path.join(tmp, 'app.js');
    fs.writeFileSync(app, `
      const cluster = require('cluster');
      const http = require('http');
      if (cluster.isPrimary) {
        console.log(JSON.stringify({ ours: cluster._rustCluster === true }));
        cluster.fork(); cluster.fork();
        cluster.on('listening', (worker, address) => console.log(JSON.stringify({ pid: worker.process.pid, port: address.port })));
      } else {
        console.log(JSON.stringify({ worker: require('node:cluster') === cluster && cluster.isWorker }));
        http.createServer((req, res) => res.end(String(process.pid))).listen(0, '127.0.0.1');
      }
    `);
    const child = cp.spawn(process.execPath, ['-r', REGISTER, app], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = [];
    const pids = [];
    const cleanup = () => {
      for (const pid of [child.pid, ...pids]) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
    };
    t.signal.addEventListener('abort', cleanup);
    try {
      await new Promise((resolve, reject) => {
        child.on('exit', () => reject(new Error(`app ended: ${lines.join('\n')}`)));
        readline.createInterface({ input: child.stdout }).on('line', (line) => {
          const msg = JSON.parse(line);
          lines.push(msg);
          if (msg.pid) pids.push(msg.pid);
          if (pids.length === 2) resolve();
        });
      });
      assert.deepEqual(lines.filter((l) => 'ours' in l), [{ ours: true }]);
      assert.deepEqual(lines.filter((l) => 'worker' in l), [{ worker: true }, { worker: true }]);
      const counts = await countServed({ port: lines.find((l) => l.port).port }, 50);
      assert.deepEqual(Object.keys(counts).sort(), pids.map(String).sort());
    } finally {
      cleanup();
    }
  });
});
