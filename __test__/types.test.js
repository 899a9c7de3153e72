'use strict';
// Type-checks small TypeScript programs against index.d.ts, child_process.d.ts and supervisor.d.ts with
// `tsc --noEmit` (typescript and @types/node from the repo's devDependencies):
//  - a program written against Node's `cluster` / `child_process` compiles unchanged
//    (but for the module names) against `rust-cluster` / `rust-cluster/child_process`,
//    as CommonJS and as an ES module (module node16), and both compile;
//  - rust-cluster's `maxMessageSize` option is accepted where it belongs, and type errors
//    are still errors.
// And the native surface: lib/binding.d.ts is what the build generates from the Rust exports,
// declares what the loaded addon exports and everything lib/ uses of it, and compiles; only
// lib/binding.js loads the addon.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const cp = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const haveTs = fs.existsSync(TSC) && fs.existsSync(path.join(ROOT, 'node_modules', '@types', 'node'));
const skip = haveTs ? false : 'typescript / @types/node not installed (npm install)';

// A program using the built-ins the way typed code does; {CLUSTER} and {CHILD_PROCESS}
// are the module names.
const PROGRAM = `
import cluster from '{CLUSTER}';
import { Worker, ClusterSettings, Address } from '{CLUSTER}';
import { spawn, fork, exec, execFile, execSync, execFileSync, spawnSync, ChildProcess,
  SpawnOptions, ForkOptions, ExecException, StdioOptions, SpawnSyncReturns } from '{CHILD_PROCESS}';
import * as childProcess from '{CHILD_PROCESS}';
import { Readable, Writable } from 'node:stream';
import * as net from 'node:net';

const options: SpawnOptions = { cwd: '/', env: { A: 'b' }, stdio: ['pipe', 'inherit', 'ignore'] };
const a = spawn('ls', ['-l'], options);
const b = spawn('ls', ['-l']);
b.stdout.setEncoding('utf8');
b.stdin.end('input');
const c = spawn('ls', ['-l'], { stdio: ['ignore', 'pipe', 'inherit'] });
const cOut: Readable = c.stdout;
const cIn: null = c.stdin;
const d = spawn('cat', { stdio: ['pipe', 'pipe', 'pipe'] });
const dIn: Writable = d.stdin;
const stdio: StdioOptions = ['pipe', 'pipe', 'pipe', 'ipc', 5];
const e: ChildProcess = spawn('node', ['x.js'], { stdio, serialization: 'advanced', detached: true });
e.on('exit', (code: number | null, signal: NodeJS.Signals | null) => {});
e.on('message', (message, handle) => {});
e.send({ a: 1 }, undefined, { keepOpen: true }, (err: Error | null) => {});
const killed: boolean = e.kill('SIGTERM');
const pid: number | undefined = e.pid;

const forkOptions: ForkOptions = { execArgv: [], silent: true, serialization: 'json' };
const f = fork('worker.js', ['arg'], forkOptions);
const g = fork(new URL('file:///worker.js'));
f.on('message', (m) => { f.disconnect(); });

exec('ls', (err: ExecException | null, stdout: string, stderr: string) => {});
exec('ls', { encoding: 'buffer' }, (err, stdout: Buffer, stderr: Buffer) => {});
execFile('ls', ['-l'], (err, stdout, stderr) => {});
const out: string = execSync('ls', { encoding: 'utf8' });
const out2: Buffer = execFileSync('ls', ['-l']);
const r: SpawnSyncReturns<string> = spawnSync('echo', ['hi'], { encoding: 'utf8' });
const status: number | null = r.status;
const viaNamespace = childProcess.spawnSync('true').status;

if (cluster.isPrimary) {
  const settings: ClusterSettings = { exec: 'worker.js', args: ['--x'], silent: false };
  cluster.setupPrimary(settings);
  const w: Worker = cluster.fork({ ENV: '1' });
  w.on('message', (msg: any) => { w.send({ ok: true }); });
  w.on('listening', (address: Address) => {});
  cluster.on('exit', (worker: Worker, code: number, signal: string) => {
    const id: number = worker.id;
    const after: boolean = worker.exitedAfterDisconnect;
  });
  for (const id in cluster.workers) cluster.workers[id]?.kill();
  cluster.disconnect(() => {});
  const isWorker = (x: unknown): boolean => x instanceof Worker;
} else if (cluster.isWorker) {
  cluster.worker?.on('disconnect', () => {});
  net.createServer().listen(0);
}
`;

// rust-cluster's additions, and errors that must stay errors.
const EXTRAS = `
import cluster from 'rust-cluster';
import { supervise, WorkerStats } from 'rust-cluster/supervisor';
import { spawn, fork, ForkOptions, SpawnOptions } from 'rust-cluster/child_process';

fork('w.js', [], { maxMessageSize: 1 << 20, serialization: 'advanced' });
fork('w.js', { maxMessageSize: 1024 });
const o: ForkOptions = { maxMessageSize: 10 };
const s: SpawnOptions = { maxMessageSize: 10, stdio: ['pipe', 'pipe', 'pipe', 'ipc'] };
spawn('node', ['w.js'], { stdio: ['pipe', 'pipe', 'pipe', 'ipc'], maxMessageSize: 64 }).send('x');
spawn('node', { maxMessageSize: 64 }).stdout.on('data', () => {});
spawn('ls', [], { stdio: ['ignore', 'pipe', 'ignore'], maxMessageSize: 64 }).stdout.read();
cluster.setupPrimary({ exec: 'w.js', maxMessageSize: 4096 });
const size: number | undefined = cluster.settings.maxMessageSize;
cluster.schedulingPolicy = cluster.SCHED_REUSEPORT;
cluster.schedulingPolicy = cluster.SCHED_ADAPTIVE;
cluster.setupPrimary({ adaptive: { stallThreshold: 50, orphanTimeout: 2000 } });

const sup = supervise({ exec: 'app.js', instances: 'max', maxMemory: '512M', restart: { delay: 50 } });
sup.on('restart', (worker, code, signal, delay: number) => worker.process.pid);
sup.reload().then(({ duration }) => duration.toFixed());
const state: WorkerStats['state'] = sup.stats()[0].state;
// @ts-expect-error: ready is 'listening' or 'message'
supervise({ ready: 'online' });

// @ts-expect-error: not an option
fork('w.js', { notAnOption: true });
// @ts-expect-error: maxMessageSize is a number
fork('w.js', { maxMessageSize: 'big' });
// @ts-expect-error: stdin is null with stdio 'ignore'
spawn('ls', [], { stdio: ['ignore', 'pipe', 'pipe'] }).stdin.write('x');
// @ts-expect-error: spawn needs a command
spawn();
// @ts-expect-error: isPrimary is read-only
cluster.isPrimary = false;
`;

// CommonJS only: \`import x = require()\` gives module.exports itself, as at run time.
const EXTRAS_CJS = `
import cluster = require('rust-cluster');
import childProcess = require('rust-cluster/child_process');
const w: cluster.Worker | undefined = cluster.isPrimary ? cluster.fork() : cluster.worker;
const settings: cluster.ClusterSettings = { maxMessageSize: 1 };
childProcess.fork('w.js', { maxMessageSize: 1 }).send('x');
const c: childProcess.ChildProcess = childProcess.spawn('ls');
`;

function tsc(dir, files, compilerOptions) {
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      types: ['node'],
      typeRoots: [path.join(dir, 'node_modules', '@types')],
      noUnusedLocals: false,
      ...compilerOptions,
    },
    files,
  }, null, 2));
  return cp.spawnSync(process.execPath, [TSC, '-p', dir, '--pretty', 'false'], {
    encoding: 'utf8',
    timeout: 120_000,
  });
}

function project() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-types-'));
  fs.mkdirSync(path.join(dir, 'node_modules', '@types'), { recursive: true });
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'rust-cluster'), 'dir');
  fs.symlinkSync(path.join(ROOT, 'node_modules', '@types', 'node'),
    path.join(dir, 'node_modules', '@types', 'node'), 'dir');
  return dir;
}

const names = {
  builtin: { CLUSTER: 'cluster', CHILD_PROCESS: 'child_process' },
  'builtin node:': { CLUSTER: 'node:cluster', CHILD_PROCESS: 'node:child_process' },
  'rust-cluster': { CLUSTER: 'rust-cluster', CHILD_PROCESS: 'rust-cluster/child_process' },
};
const program = (n) => PROGRAM.replace(/\{(\w+)\}/g, (_, k) => n[k]);

const configs = {
  'CommonJS, esModuleInterop': {
    ext: '.ts',
    cjs: true,
    options: { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true, target: 'es2022' },
  },
  'CommonJS, module node16': {
    ext: '.cts',
    cjs: true,
    options: { module: 'node16', moduleResolution: 'node16', target: 'es2022' },
  },
  'ES module, module node16': {
    ext: '.mts',
    options: { module: 'node16', moduleResolution: 'node16', target: 'es2022' },
  },
  'ES module, moduleResolution bundler': {
    ext: '.ts',
    options: { module: 'esnext', moduleResolution: 'bundler', target: 'es2022' },
  },
};

for (const [configName, config] of Object.entries(configs)) {
  test(`a typed program compiles unchanged against rust-cluster (${configName})`, { skip, timeout: 180_000 }, (t) => {
    const dir = project();
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const files = [];
    for (const [label, n] of Object.entries(names)) {
      const file = `program-${label.replace(/\W+/g, '-')}${config.ext}`;
      fs.writeFileSync(path.join(dir, file), program(n));
      files.push(file);
    }
    const extras = `extras${config.ext}`;
    fs.writeFileSync(path.join(dir, extras), EXTRAS);
    files.push(extras);
    if (config.cjs) {
      fs.writeFileSync(path.join(dir, `extras-cjs${config.ext}`), EXTRAS_CJS);
      files.push(`extras-cjs${config.ext}`);
    }
    const r = tsc(dir, files, config.options);
    assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
  });
}

test('type errors in code using rust-cluster are reported', { skip, timeout: 180_000 }, (t) => {
  const dir = project();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'bad.ts'), `
import { spawn } from 'rust-cluster/child_process';
import cluster from 'rust-cluster';
spawn('ls', { maxMessageSize: 'x' });
cluster.fork().nonexistent();
`);
  const r = tsc(dir, ['bad.ts'], configs['CommonJS, esModuleInterop'].options);
  assert.notEqual(r.status, 0);
  assert.match(r.stdout, /bad\.ts\(4,\d+\): error TS2/);
  assert.match(r.stdout, /bad\.ts\(5,\d+\): error TS2339/);
});

test('rust-cluster/pool is typed: options, run() and stats()', { skip, timeout: 180_000 }, (t) => {
  const dir = project();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'pool.ts'), `
import { Pool, PoolOptions, PoolStats } from 'rust-cluster/pool';
const options: PoolOptions = { filename: new URL('file:///task.js'), size: 2, serialization: 'json',
  restart: { delay: 50 } };
const pool = new Pool(options);
const remote = new Pool({ filename: 'task.js', role: 'producer',
  queue: { redis: 'redis://127.0.0.1:6379', name: 'jobs', visibilityTimeout: 1000, prefetch: 'auto' } });
const pendingThere: number | undefined = remote.stats().pending;
void pendingThere;
async function total(): Promise<number> {
  const n = await pool.run<number>(1, { name: 'add', timeout: 100, signal: AbortSignal.timeout(5) });
  const s: PoolStats = pool.stats();
  await pool.close();
  return n + s.completed;
}
void total;
// @ts-expect-error filename is required
new Pool({ size: 2 });
// @ts-expect-error serialization is 'json' or 'advanced'
new Pool({ filename: 'task.js', serialization: 'v8' });
// @ts-expect-error role is 'producer', 'consumer' or 'both'
new Pool({ filename: 'task.js', role: 'boss', queue: { redis: 'redis://x' } });
`);
  const r = tsc(dir, ['pool.ts'], configs['CommonJS, esModuleInterop'].options);
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});

// --- the native surface -------------------------------------------------------------------

const BINDING_DTS = path.join(ROOT, 'lib', 'binding.d.ts');
// What `npm run build` generated from the Rust exports along with the addon it built.
const BUILT_DTS = path.join(ROOT, 'build', 'binding.d.ts');

// Names of the runtime exports a declaration file declares (interfaces are types only).
function declaredExports(dts) {
  return [...dts.matchAll(/^export (?:declare )?(?:function|const|class|enum) (\w+)/gm)]
    .map((m) => m[1]).sort();
}

// lib/**/*.js and .mjs, with the files at the top (index.js, bin/).
function jsFiles() {
  const files = [path.join(ROOT, 'index.js')];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.m?js$/.test(entry.name)) files.push(full);
    }
  };
  walk(path.join(ROOT, 'lib'));
  walk(path.join(ROOT, 'bin'));
  return files;
}

test('lib/binding.d.ts is the declaration the build generates from the Rust exports', {
  skip: fs.existsSync(BUILT_DTS) ? false : 'no build/binding.d.ts: the addon was not built here (npm run build)',
}, () => {
  const built = fs.readFileSync(BUILT_DTS, 'utf8');
  const checkedIn = fs.readFileSync(BINDING_DTS, 'utf8');
  assert.ok(declaredExports(built).length > 0, 'the build generated an empty declaration');
  assert.equal(checkedIn, built,
    'lib/binding.d.ts is stale: the Rust exports changed. Run `npm run build` and ' +
    '`cp build/binding.d.ts lib/binding.d.ts`, then commit it');
});

test('lib/binding.d.ts declares exactly what the loaded addon exports', () => {
  const binding = require('../lib/binding');
  assert.deepEqual(Object.keys(binding).sort(), declaredExports(fs.readFileSync(BINDING_DTS, 'utf8')));
});

test('lib/ uses only what lib/binding.d.ts declares, and loads the addon only in lib/binding.js', () => {
  const declared = new Set(declaredExports(fs.readFileSync(BINDING_DTS, 'utf8')));
  const used = new Map(); // export name -> files using it
  const loaders = [];
  for (const file of jsFiles()) {
    const rel = path.relative(ROOT, file);
    if (rel === path.join('lib', 'binding.js')) continue;
    const src = fs.readFileSync(file, 'utf8');
    const names = [...src.matchAll(/(?<![\w.$])binding\.(\w+)\b(?!\.ts)/g)].map((m) => m[1]);
    for (const [, list] of src.matchAll(/\{([^}]*)\}\s*=\s*(?:binding|require\([^)]*\/binding['"]\))/g)) {
      for (const part of list.split(',')) if (part.trim()) names.push(part.split(':')[0].trim());
    }
    for (const name of names) used.set(name, [...(used.get(name) || []), rel]);
    if (/require\(\s*['"`][^'"`]*(\.node|rust-cluster-[a-z]|\/build\/)[^'"`]*['"`]|process\.dlopen/.test(src)) {
      loaders.push(rel);
    }
  }
  assert.ok(used.has('spawn') && used.has('DEFAULT_BACKLOG'), 'the scan found the known uses');
  const undeclared = [...used].filter(([name]) => !declared.has(name));
  assert.deepEqual(undeclared, [], 'binding exports used but not declared');
  assert.deepEqual(loaders, [], 'files loading the addon other than lib/binding.js');
});

test('lib/binding.d.ts compiles, and a misuse of it is an error', { skip, timeout: 180_000 }, (t) => {
  const dir = project();
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const binding = JSON.stringify(path.join(ROOT, 'lib', 'binding'));
  fs.writeFileSync(path.join(dir, 'use.ts'), `
import binding = require(${binding});
const r: binding.SpawnResult = binding.spawn({ file: 'true', args: ['true'], envPairs: [],
  detached: false, stdio: [{ type: 'ignore' }], maxMessageSize: binding.DEFAULT_MAX_MESSAGE_SIZE });
const errno: number = binding.kill(r.pid, 15);
const version: number = binding.V8_FORMAT_VERSION + binding.DEFAULT_BACKLOG + binding.MAX_HANDLE_RETRANSMISSIONS;
void errno; void version;
// @ts-expect-error: channelWrite takes a channel id
binding.channelWrite('1', 'x');
`);
  const r = tsc(dir, ['use.ts'], configs['CommonJS, esModuleInterop'].options);
  assert.equal(r.status, 0, `tsc failed:\n${r.stdout}${r.stderr}`);
});
