'use strict';
// Helpers shared by the bench runner and its scenarios. The runner's own process
// management always uses Node's built-in child_process: only the fixture processes
// load the implementation under test.
const cp = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const FIXTURES = path.join(__dirname, 'fixtures');
const RESULT_PREFIX = '@@BENCH ';

// The environment every fixture process gets: the caller's, minus whatever would make
// it something other than a plain Node process (a cluster worker, a child with an IPC
// channel, rust-cluster/register in NODE_OPTIONS, node --test's context).
function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const key of ['NODE_OPTIONS', 'NODE_UNIQUE_ID', 'NODE_CHANNEL_FD',
    'NODE_CHANNEL_SERIALIZATION_MODE', 'NODE_CLUSTER_SCHED_POLICY', 'NODE_TEST_CONTEXT']) {
    delete env[key];
  }
  return Object.assign(env, extra);
}

// Runs `node fixtures/<name> ...args`, waits for it to exit and returns the object it
// printed on its `@@BENCH {...}` line. Rejects with its stderr if it failed.
function runFixture(name, args = [], { env = {}, execArgv = [], timeoutMs = 120000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = cp.spawn(process.execPath, [...execArgv, path.join(FIXTURES, name), ...args.map(String)], {
      cwd: ROOT,
      env: cleanEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      err += `\n(bench: killed after ${timeoutMs} ms)`;
    }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').reverse().find((l) => l.startsWith(RESULT_PREFIX));
      if (line) {
        const result = JSON.parse(line.slice(RESULT_PREFIX.length));
        if (result.error) return reject(new Error(result.error));
        return resolve(result);
      }
      reject(new Error(`${name} ${args.join(' ')} exited (${signal || code}) without a result: ` +
        lastLines(err || out)));
    });
  });
}

// What a failed process's output says in one line: its first thrown error and where,
// or else its last lines.
function lastLines(text, n = 6) {
  const lines = text.trim().split('\n');
  const i = lines.findIndex((l) => /^(\w*Error|Error)\b.*?:/.test(l.trim()));
  if (i >= 0) return lines.slice(i, i + 2).map((l) => l.trim()).join(' ').slice(0, 800);
  return lines.slice(-n).join(' | ').slice(0, 800);
}

// A long-lived fixture process driven over an IPC channel (node:child_process.fork):
// `request(msg, type)` sends msg and resolves with the next message whose .type is type.
class Controlled {
  constructor(name, args = [], { env = {}, execArgv = [] } = {}) {
    this.name = name;
    this.stderr = '';
    this.waiters = [];
    this.child = cp.fork(path.join(FIXTURES, name), args.map(String), {
      cwd: ROOT,
      env: cleanEnv(env),
      execArgv,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.child.stderr.setEncoding('utf8').on('data', (d) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    this.child.on('message', (msg) => this._dispatch(msg));
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exitInfo = signal || code;
        for (const w of this.waiters.splice(0)) {
          w.reject(new Error(`${name} exited (${this.exitInfo}) while waiting for '${w.type}': ` +
            lastLines(this.stderr)));
        }
        resolve();
      });
    });
  }

  _dispatch(msg) {
    if (msg && msg.type === 'error') {
      for (const w of this.waiters.splice(0)) w.reject(new Error(msg.error));
      this.fatal = msg.error;
      return;
    }
    const i = this.waiters.findIndex((w) => w.type === msg.type);
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(msg);
  }

  wait(type, timeoutMs = 30000) {
    if (this.fatal) return Promise.reject(new Error(this.fatal));
    if (this.exitInfo !== undefined) {
      return Promise.reject(new Error(`${this.name} exited (${this.exitInfo}): ${lastLines(this.stderr)}`));
    }
    return new Promise((resolve, reject) => {
      const w = { type, resolve, reject };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`${this.name}: no '${type}' within ${timeoutMs} ms: ${lastLines(this.stderr)}`));
      }, timeoutMs);
      w.resolve = (m) => { clearTimeout(timer); resolve(m); };
      w.reject = (e) => { clearTimeout(timer); reject(e); };
      this.waiters.push(w);
    });
  }

  request(msg, type, timeoutMs) {
    const p = this.wait(type, timeoutMs);
    this.child.send(msg);
    return p;
  }

  // Asks the process to stop cleanly; kills its whole group if it has not within a while.
  async stop(timeoutMs = 5000) {
    if (this.exitInfo !== undefined) return;
    try { this.child.send({ cmd: 'stop' }); } catch { /* channel gone */ }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// Jain's fairness index: (Σx)² / (n·Σx²); 1 = perfectly even, 1/n = all on one.
function jain(xs) {
  const n = xs.length;
  const sum = xs.reduce((a, b) => a + b, 0);
  const sq = xs.reduce((a, b) => a + b * b, 0);
  return n && sq ? (sum * sum) / (n * sq) : null;
}

function machineInfo() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0] ? cpus[0].model.trim() : 'unknown',
    cores: os.availableParallelism ? os.availableParallelism() : cpus.length,
    kernel: `${os.type()} ${os.release()}`,
    kernelBuild: os.version(),
    arch: process.arch,
    memGB: +(os.totalmem() / 2 ** 30).toFixed(1),
    loadavg: os.loadavg().map((x) => +x.toFixed(2)),
    hostname: os.hostname(),
  };
}

function gitRevision() {
  try {
    const rev = cp.execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString().trim();
    const dirty = cp.execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString().trim() !== '';
    return dirty ? `${rev}+dirty` : rev;
  } catch {
    return null;
  }
}

// Whether index.js is the real rust-cluster cluster (it exports `_rustCluster === true`).
// Checked in a separate process so the runner never loads the addon itself.
function clusterStatus() {
  const r = cp.spawnSync(process.execPath, ['-e',
    "let s; try { s = require('./index.js')._rustCluster === true ? 'rust-cluster' : 'thin'; }" +
    " catch (e) { s = 'missing: ' + (e.code || e.message); } process.stdout.write(s);"],
  { cwd: ROOT, env: cleanEnv(), encoding: 'utf8', timeout: 30000 });
  const s = (r.stdout || '').trim() || `error: ${lastLines(r.stderr || '')}`;
  return {
    rustCluster: s === 'rust-cluster',
    state: s,
    note: s === 'rust-cluster'
      ? 'index.js is rust-cluster (_rustCluster === true)'
      : s === 'thin'
        ? 'index.js is not rust-cluster yet (_rustCluster !== true): the cluster columns measure whatever index.js is now'
        : `index.js cannot be loaded (${s}): cluster scenarios have no rust-cluster numbers in this run`,
  };
}

// Why no redis-server can be had (scripts/redis-server.js: the machine's, or Debian's
// package unpacked into the user's cache), or null when one can.
let redisServer;
function redisUnavailable() {
  if (redisServer === undefined) {
    try {
      redisServer = require('../scripts/redis-server').locateRedisServer();
    } catch (err) {
      redisServer = { unavailable: `no redis-server: ${err.message}` };
    }
  }
  return redisServer.unavailable ?? null;
}

// Servers still running, killed if this process exits or is told to stop before it stops
// them itself (a bench or test file cut short by a timeout must not leave one behind).
const redisProcs = new Set();
let redisCleanupInstalled = false;
function trackRedis(proc) {
  redisProcs.add(proc);
  proc.once('exit', () => redisProcs.delete(proc));
  if (redisCleanupInstalled) return;
  redisCleanupInstalled = true;
  const killAll = () => { for (const p of redisProcs) p.kill('SIGKILL'); };
  process.on('exit', killAll);
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
    process.on(sig, function onSignal() {
      killAll();
      // Then the signal's own outcome, unless the program handles it too.
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    });
  }
}

// A redis-server of our own for the pool's Redis mode (tests and bench): a free port
// on 127.0.0.1, a fresh directory under `parentDir`, nothing saved to disk. Resolves
// once it accepts connections with { url, stop() }.
async function startRedisServer(parentDir = os.tmpdir()) {
  const unavailable = redisUnavailable();
  if (unavailable !== null) throw new Error(unavailable);
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(parentDir, 'redis-'));
  const proc = cp.spawn(redisServer.command, ['--port', String(port), '--bind', '127.0.0.1',
    '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...redisServer.env },
  });
  trackRedis(proc);
  let out = '';
  await new Promise((resolve, reject) => {
    proc.on('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
    proc.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      if (/Ready to accept connections/.test(out)) resolve();
    });
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.once('exit', resolve);
        proc.kill('SIGKILL');
      } else {
        resolve();
      }
    }).then(() => fs.rmSync(dir, { recursive: true, force: true })),
  };
}

module.exports = {
  redisUnavailable, startRedisServer,
  ROOT, FIXTURES, RESULT_PREFIX,
  cleanEnv, runFixture, Controlled, freePort, sleep,
  median, jain, machineInfo, gitRevision, clusterStatus, lastLines,
};
