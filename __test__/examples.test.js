'use strict';
// Runs every sample in examples/ twice — as written (rust-cluster, through the package's
// self-reference) and from a temp copy whose require lines name the built-in
// `child_process` / `cluster` — and checks both runs against the same expectations.
// The cluster samples' rust-cluster runs are skipped until index.js is the real cluster
// implementation (it then exports `_rustCluster === true`); their built-in runs always run.
//
// EXAMPLES_IMPL=builtin or EXAMPLES_IMPL=rust-cluster restricts the runs to one side.

const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const cp = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const EXAMPLES = path.join(ROOT, 'examples');

const rustCluster = (() => {
  try {
    return require('../index.js')._rustCluster === true;
  } catch {
    return false;
  }
})();

const IMPLS = ['rust-cluster', 'builtin'].filter(
  (impl) => !process.env.EXAMPLES_IMPL || process.env.EXAMPLES_IMPL === impl);

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-examples-'));
process.on('exit', () => fs.rmSync(tmpRoot, { recursive: true, force: true }));

// The example's directory for `impl`: the example itself, or a copy using the built-ins.
function exampleDir(name, impl) {
  const src = path.join(EXAMPLES, name);
  if (impl === 'rust-cluster') return src;
  const dst = fs.mkdtempSync(path.join(tmpRoot, `${name}-`));
  for (const file of fs.readdirSync(src)) {
    let text = fs.readFileSync(path.join(src, file), 'utf8');
    if (file.endsWith('.js')) {
      text = text
        .replaceAll("require('rust-cluster/child_process')", "require('child_process')")
        .replaceAll("require('rust-cluster')", "require('cluster')");
      assert.doesNotMatch(text, /rust-cluster['/]/, `${name}/${file} still names rust-cluster`);
    }
    fs.writeFileSync(path.join(dst, file), text);
  }
  return dst;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Starts `node <main>` of an example. Output is collected by lines; `waitFor` resolves
// with the first line (past or future) matching a regexp; `closed` resolves once the
// process has exited and every process holding its stdout/stderr (the workers inherit
// them) has let go of them.
const started = []; // the examples the running test started, for its failure message

function start(name, main, impl, env = {}) {
  const dir = exampleDir(name, impl);
  const childEnv = { ...process.env, ...env };
  delete childEnv.NODE_TEST_CONTEXT;
  delete childEnv.NODE_OPTIONS;
  // 003-stdio-and-ipc spawns 'node' by name: make it this node.
  childEnv.PATH = `${path.dirname(process.execPath)}${path.delimiter}${childEnv.PATH || ''}`;
  const proc = cp.spawn(process.execPath, [path.join(dir, main)], {
    cwd: os.tmpdir(),
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  started.push({ name, impl, out });
  const lines = [];
  const waiters = [];
  let closed = false;
  const check = () => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i];
      const found = lines.slice(w.from).find((l) => w.re.test(l));
      if (found !== undefined) {
        waiters.splice(i, 1);
        w.resolve(found.match(w.re));
      } else if (closed) {
        waiters.splice(i, 1);
        w.reject(new Error(`${name} (${impl}) ended without printing ${w.re}\n` +
          `stdout:\n${out.stdout}\nstderr:\n${out.stderr}`));
      }
    }
  };
  for (const stream of ['stdout', 'stderr']) {
    let partial = '';
    proc[stream].setEncoding('utf8');
    proc[stream].on('data', (chunk) => {
      out[stream] += chunk;
      const parts = (partial + chunk).split('\n');
      partial = parts.pop();
      lines.push(...parts);
      check();
    });
  }
  const done = new Promise((resolve) => {
    proc.on('close', (code, signal) => {
      closed = true;
      check();
      resolve({ code, signal, stdout: out.stdout, stderr: out.stderr });
    });
  });
  return {
    proc,
    lines,
    out,
    closed: done,
    // from: only lines at or after this index count
    waitFor(re, from = 0) {
      return new Promise((resolve, reject) => {
        waiters.push({ re, from, resolve, reject });
        check();
      });
    },
    stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return done;
    },
    // pids of the example's children, killed by cleanup() if the example did not stop them
    pids: new Set(),
    // After a failed check: ask the example to stop, then force it and its children.
    async cleanup() {
      if (closed) return;
      this.stop('SIGTERM');
      let timer;
      await Promise.race([done, new Promise((r) => { timer = setTimeout(r, 5000); })]);
      clearTimeout(timer);
      if (closed) return;
      for (const pid of [proc.pid, ...this.pids]) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
    },
  };
}

function get(port, urlPath = '/') {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

// Gone: no /proc entry, or (unless `reaped` is asked for) a zombie.
function isGone(pid, reaped = false) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !reaped && stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z';
  } catch {
    return true;
  }
}

// Waits (bounded) for a process to be gone: the condition is polled, since nothing else
// tells this test when another process's child died. Even after the example's stdout has
// closed, a worker can still be exiting: the kernel closes its descriptors before it
// becomes a zombie. `reaped`: wait until its parent has collected it.
async function waitGone(pid, { ms = 10_000, reaped = false } = {}) {
  const deadline = Date.now() + ms;
  while (!isGone(pid, reaped)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} still there after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function assertClean(result, name) {
  assert.doesNotMatch(result.stderr, /Error|error/, `${name} wrote an error:\n${result.stderr}`);
}

// For the pool examples: a redis-server of the test's own, where one can be had (under
// CI=true it must be).
const { redisUnavailable, startRedisServer } = require('../bench/util');
const noRedis = (process.env.CI !== 'true' && redisUnavailable()) || false;

// name -> { main, cluster?, pool? (rust-cluster/pool: no built-in twin), skip?, timeout?, run(impl) }
const cases = {
  '000-fault-tolerant-workers': {
    main: 'main.js',
    async run(impl) {
      const r = await start(this.name, this.main, impl).closed;
      assert.equal(r.code, 0, r.stderr);
      assertClean(r, this.name);
      const lines = r.stdout.trim().split('\n');
      const results = lines.filter((l) => l.startsWith('result: '))
        .map((l) => l.match(/^result: (\d+) squared is (\d+) \(worker \d+\)$/).slice(1).map(Number));
      assert.deepEqual(results.sort((a, b) => a[0] - b[0]),
        [1, 2, 3, 4, 5, 6, 7, 8].map((n) => [n, n * n]));
      assert.equal(lines.filter((l) => /^worker \d+ exited with code 1, restarting it$/.test(l)).length, 1);
      assert.equal(lines.at(-1), 'done: 8 results, 1 restart(s)');
    },
  },

  '000-003-process-pool': {
    main: 'main.js',
    pool: true,
    async run(impl) {
      const r = await start(this.name, this.main, impl).closed;
      assert.equal(r.code, 0, r.stderr);
      assertClean(r, this.name);
      const lines = r.stdout.trim().split('\n');
      assert.deepEqual(lines.slice(0, 8), [100, 200, 300, 400, 500, 600, 700, 800].map((n) => {
        let sum = 0;
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) sum += i * j;
        return `heavyCalculation(${n}) = ${sum}`;
      }));
      assert.match(lines[8], /^crashOnce: ran again after worker \d+ died$/);
      assert.equal(lines[9], 'done: 9 results, 1 retried, 1 worker(s) replaced');
    },
  },

  '003-pool-across-machines': {
    main: 'producer.js',
    pool: true,
    skip: noRedis,
    async run(impl) {
      const redis = await startRedisServer();
      const env = { REDIS_URL: redis.url, WORKERS: '1' };
      const consumers = [start(this.name, 'consumer.js', impl, env), start(this.name, 'consumer.js', impl, env)];
      try {
        await Promise.all(consumers.map((c) => c.waitFor(/^consumer \d+ ready$/)));
        const r = await start(this.name, this.main, impl, { ...env, TASKS: '10' }).closed;
        assert.equal(r.code, 0, r.stderr);
        assertClean(r, this.name);
        const results = r.stdout.trim().split('\n')
          .map((l) => l.match(/^heavyCalculation\((\d+)\) = (\d+) \(.+, worker \d+\)$/).slice(1).map(Number));
        assert.deepEqual(results.map(([n]) => n), Array.from({ length: 10 }, (_, i) => 100 + 50 * i));
        for (const [n, sum] of results) assert.equal(sum, (n * (n - 1) / 2) ** 2);
        for (const c of consumers) c.proc.kill('SIGTERM');
        for (const c of consumers) {
          const done = await c.closed;
          assert.equal(done.code, 0, done.stderr);
          assert.match(done.stdout, /^consumer \d+ stopped$/m);
        }
      } finally {
        for (const c of consumers) c.proc.kill('SIGKILL');
        await redis.stop();
      }
    },
  },

  '002-master-worker-messaging': {
    main: 'master.js',
    async run(impl) {
      const r = await start(this.name, this.main, impl, { DELAY_MS: '100' }).closed;
      assert.equal(r.code, 0, r.stderr);
      assertClean(r, this.name);
      assert.deepEqual(r.stdout.trim().split('\n').sort(), [
        'I got it. Hello, subprocess ',
        "Received message from child process:  { name: 'Stone Mountain' }",
      ]);
    },
  },

  '002-handle-transfer': {
    main: 'parent.js',
    async run(impl) {
      const port = await freePort();
      const ex = start(this.name, this.main, impl, { PORT: String(port) });
      try {
        const [, parentPid, shownPort, child1Pid, child2Pid] = await ex.waitFor(
          /^parent (\d+): port (\d+) handed to child1 \((\d+)\) and child2 \((\d+)\)$/);
        assert.equal(Number(shownPort), port);
        assert.equal(Number(parentPid), ex.proc.pid);
        ex.pids.add(Number(child1Pid)).add(Number(child2Pid));
        assert.notEqual(child1Pid, child2Pid);
        // The kernel gives each connection to whichever child accepts first: ask until
        // each child has answered its own url (the other one answers 404).
        const served = { '/': null, '/index': null };
        for (let i = 0; i < 400 && (!served['/'] || !served['/index']); i++) {
          const urlPath = i % 2 ? '/index' : '/';
          const res = await get(port, urlPath);
          assert.doesNotMatch(res.body, /handled by parent/);
          if (res.status === 200) served[urlPath] = res.body;
          else assert.equal(res.status, 404);
        }
        assert.equal(served['/'], `handled by child1, pid is${child1Pid}\n`);
        assert.equal(served['/index'], `handled by child2, pid is${child2Pid}\n`);
        const r = await ex.stop('SIGTERM');
        assert.equal(r.code, 0, r.stderr);
        assertClean(r, this.name);
      } finally {
        await ex.cleanup();
      }
    },
  },

  '002-auto-restart': {
    main: 'master.js',
    async run(impl) {
      const port = await freePort();
      const ex = start(this.name, this.main, impl, { PORT: String(port), WORKERS: '2' });
      const created = async (count) => {
        const pids = [];
        for (let from = 0; pids.length < count;) {
          await ex.waitFor(/^Create = \d+$/, from);
          const idx = ex.lines.findIndex((l, i) => i >= from && /^Create = \d+$/.test(l));
          pids.push(Number(ex.lines[idx].slice('Create = '.length)));
          ex.pids.add(pids.at(-1));
          from = idx + 1;
        }
        return pids;
      };
      try {
        const [w1, w2] = await created(2);
        // Uncaught exception in a worker: it sends {act:'suicide'}, the master starts a
        // replacement, the worker exits once its connections are closed.
        let crashed = null;
        for (let i = 0; i < 400 && !crashed; i++) {
          const res = await get(port, '/crash');
          assert.equal(res.status, 200);
          const m = res.body.match(/^crashing, pid is(\d+)\n$/);
          if (m) crashed = Number(m[1]);
          else assert.match(res.body, /^handled by master, pid is\d+\n$/);
        }
        assert.ok(crashed === w1 || crashed === w2, `crashed worker ${crashed} is not ${w1} or ${w2}`);
        const [, , w3] = await created(3);
        await ex.waitFor(new RegExp(`^Worker${crashed}exited$`));
        assert.ok(![w1, w2].includes(w3));
        // A worker killed from outside is restarted on 'exit'.
        const survivor = crashed === w1 ? w2 : w1;
        process.kill(survivor, 'SIGKILL');
        await ex.waitFor(new RegExp(`^Worker${survivor}exited$`));
        const [, , , w4] = await created(4);
        // The replacements serve, once one has booted and taken the server from its message
        // (the master's own copy answers meanwhile): bounded by time, not by a count.
        const servers = new Set();
        for (const deadline = Date.now() + 20_000; servers.size < 1 && Date.now() < deadline;) {
          const res = await get(port, '/');
          const m = res.body.match(/^handled by worker, pid is(\d+)\n$/);
          if (m) servers.add(Number(m[1]));
        }
        for (const pid of servers) assert.ok([w3, w4].includes(pid), `served by ${pid}`);
        assert.equal(servers.size, 1);
        assert.match(ex.out.stderr, new RegExp(`worker ${crashed}: crash requested`));
        const r = await ex.stop('SIGTERM');
        assert.equal(r.code, 0, r.stderr);
        for (const pid of [w1, w2, w3, w4]) await waitGone(pid);
        assert.equal(ex.lines.filter((l) => l.startsWith('Create = ')).length, 4);
      } finally {
        await ex.cleanup();
      }
    },
  },

  '003-message-passing': {
    main: 'parent.js',
    async run(impl) {
      const r = await start(this.name, this.main, impl).closed;
      assert.equal(r.code, 0, r.stderr);
      assertClean(r, this.name);
      const config = "{\n  port: 3000,\n  env: 'production',\n  features: [ 'logging', 'monitoring' ]\n}";
      const blocks = [
        "Message from parent process: { hello: 'world' }\n",
        "Message from parent process: {\n  type: 'config',\n  data: {\n    port: 3000,\n" +
          "    env: 'production',\n    features: [ 'logging', 'monitoring' ]\n  }\n}\n",
        `Received configuration: ${config}\n`,
        "Message from child process: { foo: 'bar' }\n",
      ];
      for (const b of blocks) assert.ok(r.stdout.includes(b), `missing ${JSON.stringify(b)} in\n${r.stdout}`);
      assert.equal(r.stdout.split("Message from child process: { foo: 'bar' }").length - 1, 2);
      assert.equal(r.stdout.length, blocks.join('').length + blocks[3].length);
    },
  },

  '003-stdio-and-ipc': {
    main: 'parent.js',
    async run(impl) {
      const r = await start(this.name, this.main, impl).closed;
      assert.equal(r.code, 0, r.stderr);
      assertClean(r, this.name);
      const lines = r.stdout.trim().split('\n').sort();
      assert.equal(lines.length, 2, r.stdout);
      assert.equal(lines[0], 'Child process output: child read "Parent process sends data via stdin" from stdin');
      assert.match(lines[1], /^Message from child process: \{ stdin: 'Parent process sends data via stdin', pid: \d+ \}$/);
    },
  },

  '003-timeout-kill': {
    main: 'parent.js',
    async run(impl) {
      const r = await start(this.name, this.main, impl, { TIMEOUT_MS: '1500' }).closed;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, 'Child process exited abnormally, code: null, signal: SIGTERM\n');
      assert.match(r.stdout, /^(child \d+ working\n)?$/);
    },
  },

  '003-batching': {
    main: 'parent.js',
    async run(impl) {
      const r = await start(this.name, this.main, impl).closed;
      assert.equal(r.code, 0, r.stderr);
      assertClean(r, this.name);
      assert.equal(r.stdout, 'child received 1001 messages carrying 2000 items\n');
    },
  },

  '003-round-trip-timing': {
    main: 'parent.js',
    async run(impl) {
      const r = await start(this.name, this.main, impl).closed;
      assert.equal(r.code, 0, r.stderr);
      assertClean(r, this.name);
      assert.match(r.stdout, /^IPC round-trip time: \d+(\.\d+)?(e-\d+)?ms\nreply: pong\n$/);
    },
  },

  '001-hello-cluster': {
    main: 'main.js',
    cluster: true,
    async run(impl) {
      const port = await freePort();
      const ex = start(this.name, this.main, impl, { PORT: String(port), WORKERS: '2' });
      try {
        const listening = /^worker (\d+) listening on port (\d+)$/;
        await ex.waitFor(listening);
        const first = ex.lines.findIndex((l) => listening.test(l));
        const [, pidB, portB] = await ex.waitFor(listening, first + 1);
        const [, pidA, portA] = ex.lines[first].match(listening);
        ex.pids.add(Number(pidA)).add(Number(pidB));
        assert.notEqual(pidA, pidB);
        assert.equal(Number(portA), port);
        assert.equal(Number(portB), port);
        assert.deepEqual(await get(port, '/'), { status: 200, body: 'hello world\n' });
        process.kill(Number(pidA), 'SIGKILL');
        // Node 0.6's 'death' event and worker.pid: rust-cluster keeps them; the built-in
        // module has not emitted 'death' since Node 0.8, so there we only see the exit.
        // The built-in master hands a new connection to a worker whose death it has not yet
        // seen, and that connection is lost: wait until the master has reaped the worker.
        if (impl === 'rust-cluster') await ex.waitFor(new RegExp(`^worker ${pidA} died$`));
        else await waitGone(Number(pidA), { reaped: true });
        assert.deepEqual(await get(port, '/'), { status: 200, body: 'hello world\n' });
        const r = await ex.stop('SIGTERM');
        assert.equal(r.signal, 'SIGTERM');
        await waitGone(Number(pidB));
      } finally {
        await ex.cleanup();
      }
    },
  },

  '002-cluster-restart': {
    main: 'main.js',
    cluster: true,
    async run(impl) {
      const port = await freePort();
      const ex = start(this.name, this.main, impl, { PORT: String(port), WORKERS: '2' });
      const listening = /^worker(\d+)listening on port (\d+)$/;
      const pids = async (count) => {
        const found = [];
        for (let from = 0; found.length < count;) {
          await ex.waitFor(listening, from);
          const idx = ex.lines.findIndex((l, i) => i >= from && listening.test(l));
          const [, pid, p] = ex.lines[idx].match(listening);
          assert.equal(Number(p), port);
          found.push(Number(pid));
          ex.pids.add(Number(pid));
          from = idx + 1;
        }
        return found;
      };
      try {
        const [a, b] = await pids(2);
        const res = await get(port, '/');
        assert.equal(res.status, 200);
        const [, servedBy] = res.body.match(/^hellow world(\d+)\n$/);
        assert.ok([a, b].includes(Number(servedBy)));
        process.kill(a, 'SIGKILL');
        await ex.waitFor(new RegExp(`^worker${a}died$`));
        const [, , c] = await pids(3);
        assert.ok(![a, b].includes(c));
        const served = new Set();
        for (let i = 0; i < 20; i++) served.add(Number((await get(port, '/')).body.match(/(\d+)\n$/)[1]));
        assert.deepEqual([...served].sort(), [b, c].sort()); // round-robin reaches both
        const r = await ex.stop('SIGTERM');
        assert.equal(r.signal, 'SIGTERM');
        await waitGone(b);
        await waitGone(c);
      } finally {
        await ex.cleanup();
      }
    },
  },

  '004-request-counting': {
    main: 'main.js',
    cluster: true,
    async run(impl) {
      const port = await freePort();
      const ex = start(this.name, this.main, impl, { PORT: String(port), WORKERS: '2' });
      try {
        const listening = /^worker (\d+) listening on port (\d+)$/;
        await ex.waitFor(listening);
        const first = ex.lines.findIndex((l) => listening.test(l));
        const [, pidB] = await ex.waitFor(listening, first + 1);
        ex.pids.add(Number(ex.lines[first].match(listening)[1])).add(Number(pidB));
        for (let i = 0; i < 10; i++) {
          assert.deepEqual(await get(port, '/'), { status: 200, body: 'hello world\n' });
        }
        await ex.waitFor(/^numReqs = 10$/);
        for (const l of ex.lines.filter((x) => x.startsWith('numReqs'))) {
          assert.match(l, /^numReqs = (\d|10)$/);
        }
        const r = await ex.stop('SIGTERM');
        assert.equal(r.signal, 'SIGTERM');
      } finally {
        await ex.cleanup();
      }
    },
  },

  '004-echo': {
    main: 'main.js',
    cluster: true,
    async run(impl) {
      const r = await start(this.name, this.main, impl).closed;
      assert.equal(r.code, 0, r.stderr);
      assertClean(r, this.name);
      assert.equal(r.stdout, 'master got back: "hi there"\nworker exited: code=0 signal=null\n');
    },
  },

  '004-disconnect-vs-kill': {
    main: 'main.js',
    cluster: true,
    async run(impl) {
      const port = await freePort();
      const r = await start(this.name, this.main, impl, { PORT: String(port) }).closed;
      assert.equal(r.code, 0, r.stderr);
      assertClean(r, this.name);
      // 'disconnect' and 'exit' of one worker may come in either order.
      assert.deepEqual(r.stdout.trim().split('\n').sort(), [
        'Oh, it was just voluntary – no need to worry',
        'worker 1 (disconnect) disconnected',
        'worker 1 (disconnect) exited: code=0 signal=null exitedAfterDisconnect=true',
        'worker 1 (disconnect) listening',
        'worker 2 (kill) disconnected',
        'worker 2 (kill) exited: code=null signal=SIGTERM exitedAfterDisconnect=false',
        'worker 2 (kill) listening',
        'worker 3 (accident) disconnected',
        'worker 3 (accident) exited: code=null signal=SIGKILL exitedAfterDisconnect=false',
        'worker 3 (accident) listening',
      ]);
      // Within a worker, 'listening' comes first and "voluntary" follows worker 1's exit.
      const lines = r.stdout.trim().split('\n');
      for (const id of [1, 2, 3]) {
        const mine = lines.filter((l) => l.startsWith(`worker ${id} `));
        assert.match(mine[0], /listening$/);
      }
      assert.equal(lines.indexOf('Oh, it was just voluntary – no need to worry'),
        lines.findIndex((l) => l.startsWith('worker 1 (disconnect) exited')) + 1);
    },
  },
};

test('every example directory has a test and a README entry', () => {
  const dirs = fs.readdirSync(EXAMPLES, { withFileTypes: true })
    .filter((d) => d.isDirectory()).map((d) => d.name).sort();
  assert.deepEqual(dirs, Object.keys(cases).sort());
  const readme = fs.readFileSync(path.join(EXAMPLES, 'README.md'), 'utf8');
  for (const d of dirs) assert.ok(readme.includes(d), `examples/README.md does not list ${d}`);
  for (const d of dirs) {
    const main = fs.readFileSync(path.join(EXAMPLES, d, cases[d].main), 'utf8');
    assert.match(main, /^\/\/ From seed 00\d/, `${d}/${cases[d].main} does not name its seed`);
    const want = cases[d].cluster ? "require('rust-cluster')" :
      cases[d].pool ? "require('rust-cluster/pool')" : "require('rust-cluster/child_process')";
    assert.ok(main.includes(want), `${d}/${cases[d].main} does not use ${want}`);
    for (const f of fs.readdirSync(path.join(EXAMPLES, d))) {
      const text = fs.readFileSync(path.join(EXAMPLES, d, f), 'utf8');
      assert.doesNotMatch(text, /require\(['"](node:)?(child_process|cluster)['"]\)/,
        `${d}/${f} requires a built-in directly`);
    }
  }
});

for (const [name, c] of Object.entries(cases)) {
  c.name = name;
  describe(name, () => {
    // A pool example has no built-in twin: Node has no process pool.
    for (const impl of c.pool ? IMPLS.filter((i) => i === 'rust-cluster') : IMPLS) {
      const skip = c.skip || (impl === 'rust-cluster' && c.cluster && !rustCluster
        ? 'cluster lands with issue 3' : false);
      test(impl, { skip, timeout: c.timeout || 60_000 }, async () => {
        started.length = 0;
        try {
          await c.run(impl);
        } catch (err) {
          for (const { name: n, impl: i, out } of started) {
            err.message += `\n--- ${n} (${i}) stdout:\n${out.stdout}--- stderr:\n${out.stderr}`;
          }
          throw err;
        }
      });
    }
  });
}
