#!/usr/bin/env node
'use strict';
// Runs popular process libraries' own test suites twice, with the built-in modules and
// under `NODE_OPTIONS=--require <this package>/lib/register.js`, and prints the counts
// side by side with every test whose result differs.
//
//   node scripts/compat-suites.js [--dir <work dir>] [--only a,b] [--keep-going]
//
// Needs git, network access to github.com and the npm registry. Everything goes under
// the work dir (default: <tmp>/rust-cluster-suites); nothing is written to this package.
// Each library is pinned to the commit these results were taken at. Tests that fail
// both ways (no network for downloads, timing on a loaded machine) are counted, not
// listed; run twice to tell a flaky test from a difference.
const cp = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const REGISTER = path.join(__dirname, '..', 'lib', 'register.js');

const JEST_WORKER_PKG = {
  name: 'jest-worker-suite',
  private: true,
  devDependencies: {
    jest: '30.5.2',
    'babel-jest': '30.5.2',
    '@babel/core': '^7.27.4',
    '@babel/preset-env': '^7.27.2',
    '@babel/preset-typescript': '^7.27.1',
    '@babel/plugin-transform-modules-commonjs': '^7.27.1',
    'jest-util': '30.5.1',
    'jest-leak-detector': '30.5.1',
    'worker-farm': '^1.7.0',
    'get-stream': '^6.0.0',
    'merge-stream': '^2.0.0',
    'supports-color': '^8.1.1',
    '@ungap/structured-clone': '^1.3.0',
    'graceful-fs': '^4.2.11',
  },
};

// repo, commit, how to prepare, how to test, how the output is read.
const SUITES = [
  { name: 'nano-spawn', repo: 'sindresorhus/nano-spawn', commit: 'c0e5bbc88399a1e88db54291d559fb32043f3634',
    test: ['npx', 'ava', '--tap'], format: 'tap' },
  { name: 'cross-spawn', repo: 'moxystudio/node-cross-spawn', commit: '77cd97f3ca7b62c904a63a698fc4a79bf41977d0',
    test: ['npx', 'jest', '--env', 'node', '--ci', '--json', '--outputFile=result.json'], format: 'jest' },
  { name: 'workerpool', repo: 'josdejong/workerpool', commit: '601124cf86602c1ac88c273a8f99e9c40bea0f16',
    prepare: [['npx', 'rollup', '-c', 'rollup.config.mjs']],
    test: ['npx', 'mocha', '--reporter', 'tap', 'test'], format: 'tap' },
  { name: 'throng', repo: 'hunterloftis/throng', commit: 'a030d7825299bd9f512f01f5c589bfbb4ffb4158',
    test: ['npx', 'mocha', '--reporter', 'tap'], format: 'tap' },
  // execa 9.6.1: the 10.x line needs devDependencies not in every registry mirror.
  { name: 'execa', repo: 'sindresorhus/execa', commit: '84e1f36b2c31a463e3efbd37c7505da9438a05c9',
    test: ['npx', 'ava', '--tap'], format: 'tap' },
  // jest-worker lives in the jest monorepo (yarn workspaces): its sources and tests run
  // in a project of their own with the published jest.
  { name: 'jest-worker', repo: 'jestjs/jest', commit: '52db46e50404c993d3f10dd1481e861cc04ae22e',
    scaffold: scaffoldJestWorker,
    test: ['npx', 'jest', '--ci', '--json', '--outputFile=result.json'], format: 'jest' },
];

function sh(cmd, args, opts = {}) {
  const r = cp.spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal})`);
}

function checkout(suite, dir) {
  const src = path.join(dir, 'src');
  if (!fs.existsSync(src)) {
    sh('git', ['init', '-q', src]);
    sh('git', ['-C', src, 'fetch', '-q', '--depth', '1', `https://github.com/${suite.repo}`, suite.commit]);
    sh('git', ['-C', src, 'checkout', '-q', 'FETCH_HEAD']);
  }
  return src;
}

function scaffoldJestWorker(src, dir) {
  const proj = path.join(dir, 'project');
  if (!fs.existsSync(proj)) {
    fs.mkdirSync(proj);
    fs.cpSync(path.join(src, 'packages', 'jest-worker', 'src'), path.join(proj, 'src'), { recursive: true });
    fs.writeFileSync(path.join(proj, 'package.json'), JSON.stringify(JEST_WORKER_PKG, null, 2));
    fs.writeFileSync(path.join(proj, 'babel.config.js'), `module.exports = {
  overrides: [{ test: /\\.tsx?$/, presets: [['@babel/preset-typescript', { allowDeclareFields: true }]] }],
  plugins: [['@babel/plugin-transform-modules-commonjs', { allowTopLevelThis: true }]],
  presets: [['@babel/preset-env', { targets: { node: '18' } }]],
};
`);
    fs.writeFileSync(path.join(proj, 'jest.config.js'),
      "module.exports = { testEnvironment: 'node', testPathIgnorePatterns: ['/node_modules/', '/__fixtures__/', '/__temp__/'] };\n");
  }
  return proj;
}

// name -> 'pass' | 'fail' | 'skip'
function parseTap(text) {
  const results = new Map();
  for (const line of text.split('\n')) {
    const m = /^(ok|not ok) \d+ -? ?(.*?)(\s+# (SKIP|TODO).*)?$/i.exec(line);
    if (m) results.set(m[2].trim(), m[3] ? 'skip' : m[1] === 'ok' ? 'pass' : 'fail');
  }
  return results;
}

function parseJest(file) {
  const results = new Map();
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  for (const suite of json.testResults) {
    for (const t of suite.assertionResults) {
      results.set(`${path.basename(suite.name)} › ${t.fullName}`,
        t.status === 'passed' ? 'pass' : t.status === 'failed' ? 'fail' : 'skip');
    }
  }
  return results;
}

function runSuite(suite, cwd, withRegister, timeoutMs) {
  const env = { ...process.env, CI: '1' };
  delete env.NODE_OPTIONS;
  if (withRegister) env.NODE_OPTIONS = `--require ${REGISTER}`;
  const out = path.join(cwd, 'result.json');
  fs.rmSync(out, { force: true });
  const r = cp.spawnSync(suite.test[0], suite.test.slice(1), {
    cwd, env, encoding: 'utf8', maxBuffer: 1 << 30, timeout: timeoutMs,
  });
  return suite.format === 'tap' ? parseTap(`${r.stdout}`) : parseJest(out);
}

function count(results) {
  const c = { pass: 0, fail: 0, skip: 0 };
  for (const v of results.values()) c[v]++;
  return c;
}

function main() {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string', default: path.join(os.tmpdir(), 'rust-cluster-suites') },
      only: { type: 'string' },
      timeout: { type: 'string', default: '5400' },
    },
  });
  const only = values.only ? values.only.split(',') : null;
  const rows = [];
  for (const suite of SUITES) {
    if (only && !only.includes(suite.name)) continue;
    const dir = path.join(values.dir, suite.name);
    fs.mkdirSync(dir, { recursive: true });
    const src = checkout(suite, dir);
    const cwd = suite.scaffold ? suite.scaffold(src, dir) : src;
    if (!fs.existsSync(path.join(cwd, 'node_modules'))) {
      sh('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--legacy-peer-deps'], { cwd });
    }
    for (const step of suite.prepare || []) sh(step[0], step.slice(1), { cwd });
    console.error(`${suite.name}: running its tests with the built-in modules, then under register`);
    const timeoutMs = Number(values.timeout) * 1000;
    const plain = runSuite(suite, cwd, false, timeoutMs);
    const registered = runSuite(suite, cwd, true, timeoutMs);
    const diffs = [];
    for (const name of new Set([...plain.keys(), ...registered.keys()])) {
      const a = plain.get(name) || 'missing';
      const b = registered.get(name) || 'missing';
      if (a !== b) diffs.push(`  ${suite.name}: ${name}: built-in ${a}, register ${b}`);
    }
    rows.push({ name: suite.name, plain: count(plain), registered: count(registered), diffs });
  }
  const fmt = (c) => `${c.pass} pass / ${c.fail} fail / ${c.skip} skip`;
  console.log(`node ${process.version}`);
  console.log(`${'suite'.padEnd(12)} ${'built-in'.padEnd(30)} register`);
  for (const r of rows) console.log(`${r.name.padEnd(12)} ${fmt(r.plain).padEnd(30)} ${fmt(r.registered)}`);
  const diffs = rows.flatMap((r) => r.diffs);
  console.log(diffs.length ? `differences:\n${diffs.join('\n')}` : 'no test differs');
}

main();
