'use strict';
// `node -r rust-cluster/register app`: unmodified CommonJS and ES module apps that use
// `child_process` / `node:child_process` (and `cluster` / `node:cluster`) get
// rust-cluster's modules, and so do the Node processes they start (NODE_OPTIONS).
// An app learns which module it got from require.cache (the built-ins are never in it),
// import.meta.resolve, and the `_rustCluster` marker once the modules carry it.

const { test, describe, after } = require('node:test');
const assert = require('node:assert/strict');
const cp = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const ROOT = path.resolve(__dirname, '..');
const REGISTER = path.join(ROOT, 'lib', 'register.js');
const OURS_CP = path.join(ROOT, 'lib', 'child_process.js');
const OURS_CLUSTER = path.join(ROOT, 'index.js');
const clusterLanded = fs.existsSync(OURS_CLUSTER);
const { addRequire, parseNodeOptions } = require(REGISTER);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-register-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

// Fixtures: a CommonJS app, an ES module app, and the child each starts with a bare
// `node child.js` (no -r on its command line: only NODE_OPTIONS can carry the hook).
const REPORT_CJS = `
function whichModule(mod) {
  for (const m of Object.values(require.cache)) if (m.exports === mod) return m.filename;
  return 'built-in';
}
function report(label, mod) {
  return { label, from: whichModule(mod), marker: mod._rustCluster === true, hasSpawn: typeof mod.spawn };
}
`;

const APP_CJS = `${REPORT_CJS}
const path = require('path');
const childProcess = require('child_process');
const nodeChildProcess = require('node:child_process');
const out = {
  pid: process.pid,
  nodeOptions: process.env.NODE_OPTIONS,
  childProcess: report('child_process', childProcess),
  nodeChildProcess: report('node:child_process', nodeChildProcess),
  same: childProcess === nodeChildProcess,
  builtinsUntouched: typeof require('node:net').createServer === 'function' &&
    require('module').isBuiltin('child_process'),
};
if (process.env.WANT_CLUSTER) {
  const cluster = require('cluster');
  out.cluster = { from: whichModule(cluster), same: cluster === require('node:cluster'), isPrimary: cluster.isPrimary };
}
// The child: plain \`node child.cjs\`, started with the module the app got.
const child = childProcess.spawn(process.execPath, [path.join(__dirname, 'child.cjs'), String(Number(process.env.DEPTH || 0) + 1)],
  { stdio: ['ignore', 'pipe', 'inherit'] });
let text = '';
child.stdout.on('data', (d) => { text += d; });
child.on('close', (code) => {
  out.child = JSON.parse(text);
  out.childCode = code;
  console.log(JSON.stringify(out));
});
`;

const CHILD_CJS = `${REPORT_CJS}
const depth = Number(process.argv[2]);
const out = {
  depth,
  nodeOptions: process.env.NODE_OPTIONS,
  execArgv: process.execArgv,
  childProcess: report('child_process', require('child_process')),
  nodeChildProcess: report('node:child_process', require('node:child_process')),
};
if (depth < 2) {
  // A grandchild, started by fork() with no execArgv: NODE_OPTIONS again, unchanged.
  const c = require('node:child_process').fork(__filename, [String(depth + 1)], { execArgv: [], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  let text = '';
  c.stdout.on('data', (d) => { text += d; });
  c.on('close', () => { out.child = JSON.parse(text); console.log(JSON.stringify(out)); });
} else {
  console.log(JSON.stringify(out));
}
`;

const APP_MJS = `
import cp from 'node:child_process';
import cp2 from 'child_process';
import { spawn, fork, execFile } from 'node:child_process';
import * as ns from 'child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
const require = createRequire(import.meta.url);
function whichModule(mod) {
  for (const m of Object.values(require.cache)) if (m.exports === mod) return m.filename;
  return 'built-in';
}
const out = {
  defaultFrom: whichModule(cp),
  same: cp === cp2 && ns.default === cp && spawn === cp.spawn && fork === cp.fork && execFile === cp.execFile,
  namedKeys: Object.keys(ns).sort(),
  resolved: import.meta.resolve('node:child_process'),
  resolvedBare: import.meta.resolve('child_process'),
  requireFrom: whichModule(require('child_process')),
  marker: cp._rustCluster === true,
};
if (process.env.WANT_CLUSTER) {
  const cluster = (await import('node:cluster')).default;
  out.cluster = { from: whichModule(cluster), resolved: import.meta.resolve('cluster'), isPrimary: cluster.isPrimary };
}
// A child ES module, plain \`node child.mjs\`.
const child = spawn(process.execPath, [path.join(path.dirname(fileURLToPath(import.meta.url)), 'child.mjs')],
  { stdio: ['ignore', 'pipe', 'inherit'] });
let text = '';
child.stdout.on('data', (d) => { text += d; });
child.on('close', () => { out.child = JSON.parse(text); console.log(JSON.stringify(out)); });
`;

const CHILD_MJS = `
import { spawn } from 'node:child_process';
console.log(JSON.stringify({ resolved: import.meta.resolve('node:child_process'), spawnName: spawn.name, nodeOptions: process.env.NODE_OPTIONS }));
`;

function writeApp(dir) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'app.cjs'), APP_CJS);
  fs.writeFileSync(path.join(dir, 'child.cjs'), CHILD_CJS);
  fs.writeFileSync(path.join(dir, 'app.mjs'), APP_MJS);
  fs.writeFileSync(path.join(dir, 'child.mjs'), CHILD_MJS);
  return dir;
}

function run(args, { cwd, env = {} } = {}) {
  const childEnv = { ...process.env, ...env };
  delete childEnv.NODE_TEST_CONTEXT;
  if (!('NODE_OPTIONS' in env)) delete childEnv.NODE_OPTIONS;
  const r = cp.spawnSync(process.execPath, args, { cwd, env: childEnv, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `node ${args.join(' ')} failed (${r.status} ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const markerCarried = (() => {
  try { return require(OURS_CP)._rustCluster !== undefined; } catch { return false; }
})();

function assertOurs(report, file = OURS_CP) {
  assert.equal(report.from, file, `${report.label} is not rust-cluster's`);
  if (markerCarried) assert.equal(report.marker, true);
}

describe('node -r lib/register.js', { timeout: 120_000 }, () => {
  const app = writeApp(path.join(tmp, 'app'));

  test('the apps without it get the built-ins (control)', () => {
    const r = run([path.join(app, 'app.cjs')]);
    assert.equal(r.childProcess.from, 'built-in');
    assert.equal(r.child.childProcess.from, 'built-in');
    const m = run([path.join(app, 'app.mjs')]);
    assert.equal(m.defaultFrom, 'built-in');
    assert.equal(m.resolved, 'node:child_process');
  });

  test('CommonJS app: child_process and node:child_process are rust-cluster\'s, in the app and its children', () => {
    const r = run(['-r', REGISTER, path.join(app, 'app.cjs')]);
    assertOurs(r.childProcess);
    assertOurs(r.nodeChildProcess);
    assert.equal(r.same, true);
    assert.equal(r.builtinsUntouched, true);
    assert.equal(r.childCode, 0);
    // child and grandchild: plain `node file`, hooked through NODE_OPTIONS only
    for (const c of [r.child, r.child.child]) {
      assert.deepEqual(c.execArgv, []);
      assertOurs(c.childProcess);
      assertOurs(c.nodeChildProcess);
      assert.equal(c.nodeOptions, `--require ${REGISTER}`);
    }
    assert.equal(r.nodeOptions, `--require ${REGISTER}`);
  });

  test('ES module app: imports (default, named, namespace) and import.meta.resolve, and its child', () => {
    const r = run(['-r', REGISTER, path.join(app, 'app.mjs')]);
    assert.equal(r.defaultFrom, OURS_CP);
    assert.equal(r.requireFrom, OURS_CP);
    assert.equal(r.same, true);
    assert.deepEqual(r.namedKeys, ['ChildProcess', '_forkChild', 'default', 'exec', 'execFile',
      'execFileSync', 'execSync', 'fork', 'spawn', 'spawnSync']);
    const esmEntry = pathToFileURL(path.join(ROOT, 'lib', 'esm', 'child_process.mjs')).href;
    assert.equal(r.resolved, esmEntry);
    assert.equal(r.resolvedBare, esmEntry);
    if (markerCarried) assert.equal(r.marker, true);
    assert.equal(r.child.resolved, esmEntry);
    assert.equal(r.child.spawnName, 'spawn');
  });

  test('by package name: node -r rust-cluster/register', () => {
    const dir = writeApp(path.join(tmp, 'by-name'));
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'rust-cluster'), 'dir');
    const r = run(['-r', 'rust-cluster/register', 'app.cjs'], { cwd: dir });
    assertOurs(r.childProcess);
    assertOurs(r.child.childProcess);
  });

  test('cluster and node:cluster are rust-cluster\'s', { skip: clusterLanded ? false : 'index.js (cluster) not there yet' }, () => {
    const r = run(['-r', REGISTER, path.join(app, 'app.cjs')], { env: { WANT_CLUSTER: '1' } });
    assert.equal(r.cluster.from, OURS_CLUSTER);
    assert.equal(r.cluster.same, true);
    assert.equal(r.cluster.isPrimary, true);
    const m = run(['-r', REGISTER, path.join(app, 'app.mjs')], { env: { WANT_CLUSTER: '1' } });
    assert.equal(m.cluster.from, OURS_CLUSTER);
    assert.equal(m.cluster.resolved, pathToFileURL(path.join(ROOT, 'lib', 'esm', 'cluster.mjs')).href);
    assert.equal(m.cluster.isPrimary, true);
  });

  test('a cluster app: the primary and its workers', { skip: clusterLanded ? false : 'index.js (cluster) not there yet' }, () => {
    const file = path.join(app, 'cluster-app.cjs');
    fs.writeFileSync(file, `${REPORT_CJS}
      const cluster = require('cluster');
      if (cluster.isPrimary) {
        const worker = cluster.fork();
        worker.on('message', (msg) => {
          console.log(JSON.stringify({ primary: whichModule(cluster), worker: msg }));
          worker.disconnect();
        });
      } else {
        process.send({ from: whichModule(cluster), isWorker: cluster.isWorker, id: cluster.worker.id,
          childProcess: report('child_process', require('child_process')) });
      }
    `);
    const r = run(['-r', REGISTER, file]);
    assert.equal(r.primary, OURS_CLUSTER);
    assert.equal(r.worker.from, OURS_CLUSTER);
    assert.equal(r.worker.isWorker, true);
    assert.equal(r.worker.id, 1);
    assertOurs(r.worker.childProcess);
  });

  test('existing NODE_OPTIONS are kept and --require is added once', () => {
    const r = run(['-r', REGISTER, path.join(app, 'app.cjs')],
      { env: { NODE_OPTIONS: '--max-old-space-size=200 --no-warnings' } });
    const want = `--max-old-space-size=200 --no-warnings --require ${REGISTER}`;
    assert.equal(r.nodeOptions, want);
    assert.equal(r.child.nodeOptions, want);
    assert.equal(r.child.child.nodeOptions, want);
    // Already there (the app itself started through NODE_OPTIONS): unchanged.
    const again = run([path.join(app, 'app.cjs')], { env: { NODE_OPTIONS: `--require ${REGISTER}` } });
    assertOurs(again.childProcess);
    assert.equal(again.nodeOptions, `--require ${REGISTER}`);
    assert.equal(again.child.child.nodeOptions, `--require ${REGISTER}`);
  });

  test('a path with spaces and quotes is quoted in NODE_OPTIONS so children load it', () => {
    // A copy of the package under an awkward path (symlinks would resolve to ROOT).
    const pkg = path.join(tmp, 'dir with "spaces"', 'rust cluster');
    fs.mkdirSync(pkg, { recursive: true });
    for (const entry of ['lib', 'build', 'package.json', 'index.js']) {
      if (fs.existsSync(path.join(ROOT, entry))) {
        fs.cpSync(path.join(ROOT, entry), path.join(pkg, entry), { recursive: true });
      }
    }
    const register = path.join(pkg, 'lib', 'register.js');
    const r = run(['-r', register, path.join(app, 'app.cjs')]);
    assert.equal(r.childProcess.from, path.join(pkg, 'lib', 'child_process.js'));
    assert.equal(r.child.childProcess.from, path.join(pkg, 'lib', 'child_process.js'));
    assert.equal(r.child.child.childProcess.from, path.join(pkg, 'lib', 'child_process.js'));
    assert.equal(r.nodeOptions, `--require "${register.replace(/["\\]/g, '\\$&')}"`);
    assert.equal(r.child.child.nodeOptions, r.nodeOptions);
  });
});

// Where ES modules can appear, `import` is redirected; where they cannot, register
// starts no hooks thread (Node < 22.15 has only module.register(), whose thread costs
// tens of ms per process and makes a lost stdout reader crash the process).
describe('register: ES modules where they appear, nothing where they do not', { timeout: 120_000 }, () => {
  const dir = path.join(tmp, 'esm-paths');
  fs.mkdirSync(path.join(dir, 'typed'), { recursive: true });
  const ESM_ENTRY = pathToFileURL(path.join(ROOT, 'lib', 'esm', 'child_process.mjs')).href;
  const REPORT = `console.log(JSON.stringify({ resolved: import.meta.resolve('node:child_process'), own: typeof m.default._rustCluster !== 'undefined' || m.default === require_(${JSON.stringify(OURS_CP)}) }));`;
  const IMPORTER = `import * as m from 'node:child_process'; import { createRequire } from 'node:module';
const require_ = createRequire(import.meta.url);
${REPORT}`;
  fs.writeFileSync(path.join(dir, 'importer.mjs'), IMPORTER);
  // A CommonJS main whose only ES module comes through import().
  fs.writeFileSync(path.join(dir, 'dynamic.cjs'), "import('./importer.mjs');\n");
  // A .js main in a "type": "module" package.
  fs.writeFileSync(path.join(dir, 'typed', 'package.json'), '{"type":"module"}');
  fs.writeFileSync(path.join(dir, 'typed', 'main.js'), IMPORTER);
  // A worker thread running an ES module, started by a CommonJS main.
  fs.writeFileSync(path.join(dir, 'worker-main.cjs'), `
const { Worker } = require('node:worker_threads');
new Worker(${JSON.stringify(path.join(dir, 'importer.mjs'))});
`);
  // A CommonJS app that never meets an ES module: the threads it has.
  fs.writeFileSync(path.join(dir, 'plain.cjs'), `
require('node:child_process');
console.log(JSON.stringify({ threads: require('node:fs').readdirSync('/proc/self/task').length }));
`);

  const lastJson = (args, env) => run(['-r', REGISTER, ...args], { env });

  test('a CommonJS main that import()s', () => {
    assert.equal(lastJson([path.join(dir, 'dynamic.cjs')]).resolved, ESM_ENTRY);
  });

  test('a .js main in a "type": "module" package', () => {
    assert.equal(lastJson([path.join(dir, 'typed', 'main.js')]).resolved, ESM_ENTRY);
  });

  test('-e code that import()s, and --input-type=module', () => {
    const code = `import(${JSON.stringify(pathToFileURL(path.join(dir, 'importer.mjs')).href)})`;
    assert.equal(lastJson(['-e', code]).resolved, ESM_ENTRY);
    assert.equal(lastJson(['--input-type=module', '-e', IMPORTER.replace(/require_\(.*?\)/, 'null')]).resolved, ESM_ENTRY);
  });

  test('an ES module worker thread', () => {
    assert.equal(lastJson([path.join(dir, 'worker-main.cjs')]).resolved, ESM_ENTRY);
  });

  test('a CommonJS app that never imports has no more threads than without register', () => {
    const plain = run([path.join(dir, 'plain.cjs')]);
    const registered = lastJson([path.join(dir, 'plain.cjs')]);
    assert.equal(registered.threads, plain.threads);
  });

  // Also for an ES module main, which on Node < 22.15 gets the hooks thread.
  test('a child whose stdout reader goes away exits as with the built-in (console swallows EPIPE)', async () => {
    const esMain = path.join(dir, 'log.mjs');
    fs.writeFileSync(esMain, 'console.log("x");\n');
    const exitCode = (args) => new Promise((resolve) => {
      const env = { ...process.env };
      delete env.NODE_OPTIONS;
      const c = cp.spawn(process.execPath, args, { env });
      c.stdout.on('error', () => {});
      c.on('spawn', () => c.stdout.destroy());
      c.on('close', (code) => resolve(code));
    });
    for (const main of [['-e', 'console.log("x")'], [esMain]]) {
      assert.equal(await exitCode(['-r', REGISTER, ...main]), await exitCode(main), main.join(' '));
      assert.equal(await exitCode(main), 0);
    }
  });
});

describe('NODE_OPTIONS handling', () => {
  test('addRequire', () => {
    assert.equal(addRequire(undefined, '/a/b.js'), '--require /a/b.js');
    assert.equal(addRequire('', '/a/b.js'), '--require /a/b.js');
    assert.equal(addRequire('--inspect', '/a/b.js'), '--inspect --require /a/b.js');
    assert.equal(addRequire('--require /a/b.js', '/a/b.js'), '--require /a/b.js');
    assert.equal(addRequire('-r /a/b.js --inspect', '/a/b.js'), '-r /a/b.js --inspect');
    assert.equal(addRequire('--require=/a/b.js', '/a/b.js'), '--require=/a/b.js');
    assert.equal(addRequire('--require /a/other.js', '/a/b.js'), '--require /a/other.js --require /a/b.js');
    assert.equal(addRequire('', '/a b/c.js'), '--require "/a b/c.js"');
    assert.equal(addRequire('', '/a"b\\c.js'), '--require "/a\\"b\\\\c.js"');
    assert.equal(addRequire('--require "/a b/c.js"', '/a b/c.js'), '--require "/a b/c.js"');
  });

  test('parseNodeOptions reads Node\'s quoting', () => {
    assert.deepEqual(parseNodeOptions('--a  -r "x y" --b="q\\"r"'),
      [{ flag: '--a' }, { flag: '-r', value: 'x y' }, { flag: '--b', value: 'q"r' }]);
  });

  test('Node accepts what addRequire writes', () => {
    const file = path.join(tmp, 'odd "name" \\ here.js');
    fs.writeFileSync(file, 'globalThis.loaded = true;');
    const r = cp.spawnSync(process.execPath, ['-p', 'globalThis.loaded === true'], {
      env: { ...process.env, NODE_OPTIONS: addRequire('--no-warnings', file) },
      encoding: 'utf8',
    });
    assert.equal(r.stdout.trim(), 'true', r.stderr);
  });
});

test('loaded by another module system (a plain `module` object, as under Jest): nothing lands on Object', () => {
  const script = `
    const fs = require('node:fs');
    const vm = require('node:vm');
    const file = ${JSON.stringify(REGISTER)};
    const module = { exports: {}, filename: file, id: file, loaded: false, children: [] };
    vm.compileFunction(fs.readFileSync(file, 'utf8'), ['exports', 'require', 'module', '__filename', '__dirname'])
      .call(module.exports, module.exports, require, module, file, ${JSON.stringify(path.dirname(REGISTER))});
    const keys = [];
    for (const k in {}) keys.push(k);
    console.log(JSON.stringify({ keys, load: typeof Object._load, runMain: typeof Object.runMain }));`;
  // Without this process's NODE_OPTIONS, whose --require would have loaded it already.
  const env = { ...process.env, NODE_OPTIONS: '' };
  const r = cp.spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env, timeout: 20_000 });
  assert.deepEqual(JSON.parse(r.stdout), { keys: [], load: 'undefined', runMain: 'undefined' }, r.stderr);
});
