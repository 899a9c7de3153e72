'use strict';
// lib/internal/loader.js, through which index.js loads the cluster primary's files: one
// instance of each file whichever entry point comes first, real filenames in stack traces,
// and no relative require left to Node's resolution. Each case runs in a fresh process, so
// the order of the requires is the case's own.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const TIMEOUT = { timeout: 30_000 };

// Runs `body` in a fresh node (ROOT is the package root there) and returns its JSON output.
function run(body) {
  const script = `const ROOT = ${JSON.stringify(ROOT)};\n${body}`;
  const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
  return JSON.parse(out);
}

test('the primary first, then rust-cluster/child_process and the supervisor: the same instances', TIMEOUT, () => {
  const r = run(`
    const cluster = require(ROOT);
    const cp = require(ROOT + '/lib/child_process.js');
    require(ROOT + '/lib/supervisor/index.js');
    const primary = require.cache[ROOT + '/lib/cluster/primary.js'];
    const facade = require.cache[ROOT + '/lib/child_process.js'];
    console.log(JSON.stringify({
      primary: primary.exports === cluster && primary.loaded,
      childProcess: facade.exports === cp && facade.loaded,
      paths: primary.paths[0],
    }));
  `);
  assert.deepEqual(r, {
    primary: true,
    childProcess: true,
    paths: path.join(ROOT, 'lib', 'cluster', 'node_modules'),
  });
});

test('rust-cluster/child_process first, then the primary: the primary uses that instance', TIMEOUT, () => {
  const r = run(`
    const cp = require(ROOT + '/lib/child_process.js');
    const errors = require(ROOT + '/lib/internal/errors.js');
    const cluster = require(ROOT);
    console.log(JSON.stringify({
      same: require.cache[ROOT + '/lib/child_process.js'].exports === cp &&
        require(ROOT + '/lib/internal/errors.js') === errors,
      primary: typeof cluster.fork === 'function' && cluster._rustCluster === true,
    }));
  `);
  assert.deepEqual(r, { same: true, primary: true });
});

test('an error thrown in a file it loaded names that file and line', TIMEOUT, () => {
  const r = run(`
    const cluster = require(ROOT);
    let stack = '';
    cluster.setupPrimary({ exec: 5 });
    try { cluster.fork(); } catch (err) { stack = err.stack; }
    console.log(JSON.stringify({ stack }));
  `);
  assert.match(r.stack, /\(.*\/lib\/cluster\/primary\.js:\d+:\d+\)/);
  assert.match(r.stack, /\(.*\/lib\/child_process\.js:\d+:\d+\)/);
});

test("the primary's relative requires do not go through Node's resolution", TIMEOUT, () => {
  const r = run(`
    const Module = require('node:module');
    const resolved = [];
    const resolve = Module._resolveFilename;
    Module._resolveFilename = function (request, parent, ...rest) {
      if (parent && parent.filename && parent.filename.startsWith(ROOT + '/lib/') &&
          (request.startsWith('./') || request.startsWith('../'))) {
        resolved.push(request);
      }
      return resolve.call(this, request, parent, ...rest);
    };
    require(ROOT);
    console.log(JSON.stringify({ resolved }));
  `);
  assert.deepEqual(r.resolved, []);
});

test("under another module system (a `module` that is no node:module instance) index.js uses that system's require", TIMEOUT, () => {
  const r = run(`
    const fs = require('node:fs');
    const vm = require('node:vm');
    const source = fs.readFileSync(ROOT + '/index.js', 'utf8');
    const requested = [];
    const foreignRequire = (request) => {
      requested.push(request);
      return require(request.startsWith('.') ? ROOT + '/' + request : request);
    };
    const module = { exports: {} };
    vm.compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'])
      .call(module.exports, module.exports, foreignRequire, module, ROOT + '/index.js', ROOT);
    console.log(JSON.stringify({ requested, primary: module.exports._rustCluster === true }));
  `);
  assert.deepEqual(r, { requested: ['node:cluster', './lib/cluster/primary'], primary: true });
});

test('an ES module importing index.js and lib/child_process.js by path: the primary forks with the evaluated module', TIMEOUT, () => {
  // The ESM loader puts an unevaluated entry for each CommonJS file it imports in
  // require.cache before evaluating any; the primary must not take that entry's empty
  // exports for its child_process (fork would not be a function).
  const url = (file) => JSON.stringify(require('node:url').pathToFileURL(path.join(ROOT, file)).href);
  const source = `import cluster from ${url('index.js')};\nimport cp from ${url('lib/child_process.js')};\n` +
    "cluster.setupPrimary({ exec: '-e', execArgv: [], args: ['process.exit(7)'] });\n" +
    "cluster.fork().on('exit', (code) => console.log(JSON.stringify({ code, cp: typeof cp.fork })));\n";
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', source], { encoding: 'utf8', timeout: 20_000 });
  assert.deepEqual(JSON.parse(out), { code: 7, cp: 'function' });
});
