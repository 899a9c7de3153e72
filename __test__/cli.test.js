'use strict';
// The `rust-cluster` CLI (package bin) running unmodified apps in the foreground: exit
// codes, signals (SIGHUP reload, SIGUSR2 stats, SIGTERM shutdown), --prefix-logs,
// --metrics-port, --help.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const cp = require('node:child_process');
const http = require('node:http');
const path = require('node:path');
const readline = require('node:readline');
const { once } = require('node:events');
const { closeRequest, get, holdFifo, load } = require('./helpers/http_load');

const BIN = path.join(__dirname, '..', 'bin', 'rust-cluster.js');
const APPS = path.join(__dirname, 'fixtures', 'supervisor');
const TIMEOUT = 60_000;

// The CLI as a child process; waitFor(stream, pattern) resolves with the first line
// (past or future) of its stdout or stderr matching pattern.
function run(t, args) {
  const child = cp.spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  const lines = { stdout: [], stderr: [] };
  const waiters = [];
  for (const name of ['stdout', 'stderr']) {
    readline.createInterface({ input: child[name] }).on('line', (line) => {
      lines[name].push(line);
      for (const w of waiters.filter((w) => w.stream === name && w.pattern.test(line))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    });
  }
  const exited = once(child, 'exit');
  const closed = once(child, 'close');
  return {
    child,
    lines,
    exit: async () => {
      const [code, signal] = await exited;
      await closed; // every line read
      return { code, signal };
    },
    waitFor(stream, pattern) {
      const seen = lines[stream].find((line) => pattern.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ stream, pattern, resolve }));
    },
    count: (stream, pattern) => lines[stream].filter((line) => pattern.test(line)).length,
  };
}

function fetchText(port, urlPath) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

test('--help lists every option; a bad command line exits 2', { timeout: TIMEOUT }, async (t) => {
  const help = run(t, ['--help']);
  assert.deepEqual(await help.exit(), { code: 0, signal: null });
  const text = help.lines.stdout.join('\n');
  const { HELP } = require('../lib/supervisor/cli');
  assert.equal(text, HELP.trimEnd());
  for (const option of ['--instances', '--ready', '--ready-timeout', '--kill-timeout', '--max-memory',
    '--check-interval', '--restart-delay', '--restart-max-delay', '--restart-reset', '--max-restarts',
    '--prefix-logs', '--metrics-port', '--metrics-host', '--help', 'SIGHUP', 'SIGUSR2']) {
    assert.ok(text.includes(option), `--help lacks ${option}`);
  }
  for (const args of [['--bogus', 'app.js'], ['app.js', '-i', '0'], ['app.js', '--kill-timeout', '5s'],
    ['app.js', '--max-restarts', '10'], []]) {
    const bad = run(t, args);
    assert.deepEqual(await bad.exit(), { code: 2, signal: null }, args.join(' '));
    assert.match(bad.lines.stderr[0], /^rust-cluster: /);
  }
});

test('a crash loop exits 1 naming the last stderr lines, after backed-off restarts', { timeout: TIMEOUT }, async (t) => {
  const cli = run(t, [path.join(APPS, 'crash_app.js'), '-i', '1', '--restart-delay', '20',
    '--max-restarts', '4/60000']);
  const { code } = await cli.exit();
  assert.equal(code, 1);
  const delays = cli.lines.stderr.map((line) => /restarting in (\d+) ms/.exec(line)?.[1])
    .filter(Boolean).map(Number);
  assert.deepEqual(delays, [20, 40, 80, 160]);
  assert.equal(cli.count('stderr', /^crash_app: cannot open config\.json$/), 5);
  const message = cli.lines.stderr.findIndex((line) => /exited 5 times in 60000 ms/.test(line));
  assert.ok(message >= 0, cli.lines.stderr.join('\n'));
  assert.match(cli.lines.stderr[message + 1], /^\[\d+\] crash_app: cannot open config\.json$/);
});

test('SIGUSR2 prints stats, SIGHUP reloads under load, metrics served, SIGTERM exits 0 after answering held requests', { timeout: TIMEOUT }, async (t) => {
  const cli = run(t, [path.join(APPS, 'http_app.js'), '-i', '2', '--prefix-logs',
    '--metrics-port', '0', '--metrics-host', '127.0.0.1', '--check-interval', '100']);
  const metricsPort = Number(/:(\d+)\/metrics/.exec(await cli.waitFor('stderr', /metrics at/))[1]);
  const port = Number(/listening on (\d+)/.exec(await cli.waitFor('stdout', /^\[1\] listening on/))[1]);
  await cli.waitFor('stdout', /^\[2\] listening on/);
  await cli.waitFor('stderr', /2 workers ready/);

  cli.child.kill('SIGUSR2');
  await cli.waitFor('stdout', /^id\s+pid\s+slot\s+state\s+uptime\s+restarts\s+rss\s+cpu\s+connections$/);
  await cli.waitFor('stdout', /^2\s+\d+\s+1\s+listening\s/);

  const traffic = load(port, { connections: 8 });
  await traffic.started;
  cli.child.kill('SIGHUP');
  await cli.waitFor('stderr', /reloaded 2 workers in \d+ ms/);
  const { ok, failed } = await traffic.stop();
  assert.deepEqual(failed, []);
  assert.ok(ok > 0);
  assert.ok(cli.lines.stdout.some((line) => /^\[4\] listening on/.test(line)));

  const metrics = await fetchText(metricsPort, '/metrics');
  assert.match(metrics, /^rust_cluster_workers 2$/m);
  assert.match(metrics, /^rust_cluster_reloads_total 1$/m);
  assert.match(metrics, /^rust_cluster_restarts_total 0$/m);
  assert.match(metrics, /^rust_cluster_worker_rss_bytes\{worker="3",slot="0"\} \d+$/m);
  assert.match(metrics, /^rust_cluster_worker_cpu_percent\{worker="4",slot="1"\} [\d.]+$/m);
  assert.match(metrics, /^rust_cluster_worker_connections\{worker="4",slot="1"\} \d+$/m);

  // Requests the workers hold for 500 ms, each logged on arrival, then SIGTERM.
  const held = Array.from({ length: 10 }, () => get(port, '?delay=500'));
  while (cli.count('stdout', /holding a request$/) < 10) await once(cli.child.stdout, 'data');
  const started = Date.now();
  cli.child.kill('SIGTERM');
  for (const { status } of await Promise.all(held)) assert.equal(status, 200);
  assert.deepEqual(await cli.exit(), { code: 0, signal: null });
  assert.ok(Date.now() - started < 5000, 'exited within killTimeout');
  assert.ok(cli.lines.stderr.some((line) => /all workers exited/.test(line)));
});

test('SIGTERM under Connection: close answers every connection the kernel accepted before it', { timeout: TIMEOUT }, async (t) => {
  const cli = run(t, [path.join(APPS, 'http_app.js'), '-i', '2', '--prefix-logs']);
  const port = Number(/listening on (\d+)/.exec(await cli.waitFor('stdout', /^\[1\] listening on/))[1]);
  await cli.waitFor('stderr', /2 workers ready/);
  // Both workers' event loops blocked: they answer nothing, not even the hand-offs, so of
  // the 96 connections 32 wait in the listening socket's backlog (the rest are dealt).
  const { fifo, release } = holdFifo(t);
  const held = [1, 2].map(() => get(port, `?hold=${encodeURIComponent(fifo)}`));
  await cli.waitFor('stdout', /^\[1\] holding the process$/);
  await cli.waitFor('stdout', /^\[2\] holding the process$/);
  const waiting = Array.from({ length: 96 }, () => closeRequest(port));
  await Promise.all(waiting.map((r) => r.connected));
  cli.child.kill('SIGTERM');
  // The primary has stopped its listener once new connections are refused.
  await cli.waitFor('stderr', /stopped listening/);
  release(2);
  const failed = (await Promise.all(waiting.map((r) => r.done))).filter((o) => o.status !== 200);
  assert.deepEqual(failed, [], `${failed.length} of 96 held connections failed`);
  for (const { status } of await Promise.all(held)) assert.equal(status, 200);
  assert.deepEqual(await cli.exit(), { code: 0, signal: null });
});
