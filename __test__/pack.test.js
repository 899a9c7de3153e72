'use strict';
// `npm pack` makes a tarball with what an install needs; `npm install <tarball>` into an
// empty project builds the addon there with cargo (its install script), and the package
// then works from that project: require, import, register, types.
// CARGO_TARGET_DIR is target/pack: a directory of its own, so cargo really compiles the
// unpacked sources (sharing target/ would let it reuse the repo's build), while the
// dependencies compiled there are reused by later runs.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const cp = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const TIMEOUT = 10 * 60_000;

// npm next to this node if there is one, else npm on the PATH.
const npmCli = path.join(path.dirname(fs.realpathSync(process.execPath)), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
function npm(args, cwd, env = {}) {
  const [cmd, argv] = fs.existsSync(npmCli) ? [process.execPath, [npmCli, ...args]] : ['npm', args];
  const childEnv = { ...process.env, ...env };
  delete childEnv.NODE_TEST_CONTEXT;
  delete childEnv.NODE_OPTIONS;
  // Lifecycle settings an outer `npm test` exports must not leak into the nested npm.
  for (const k of Object.keys(childEnv)) if (k.startsWith('npm_')) delete childEnv[k];
  const r = cp.spawnSync(cmd, argv, { cwd, env: childEnv, encoding: 'utf8', timeout: TIMEOUT - 30_000, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `npm ${args.join(' ')} failed (${r.status} ${r.signal} ${r.error || ''}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function node(args, cwd) {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_OPTIONS;
  const r = cp.spawnSync(process.execPath, args, { cwd, env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `node ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test('npm pack, then npm install <tarball> into an empty project builds and works', { timeout: TIMEOUT }, (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-pack-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  // 1. The tarball and what is in it.
  const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', tmp], ROOT));
  const tarball = path.join(tmp, packed.filename);
  assert.ok(fs.existsSync(tarball));
  const files = packed.files.map((f) => f.path);
  for (const needed of [
    'package.json', 'Cargo.toml', 'Cargo.lock', 'build.rs', 'scripts/build.js',
    'src/lib.rs', 'src/spawn.rs', 'src/reactor.rs',
    'index.js', 'index.d.ts', 'child_process.d.ts',
    'lib/binding.js', 'lib/child_process.js', 'lib/register.js',
    'lib/esm/child_process.mjs', 'lib/esm/cluster.mjs', 'lib/esm/hooks.mjs',
  ]) {
    if (needed === 'index.js' && !fs.existsSync(path.join(ROOT, 'index.js'))) continue; // cluster not landed yet
    assert.ok(files.includes(needed), `the tarball lacks ${needed}`);
  }
  // Every file package.json's exports name is in it.
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const targets = new Set();
  const walk = (v) => (typeof v === 'string' ? targets.add(v.replace(/^\.\//, '')) : Object.values(v).forEach(walk));
  walk(pkg.exports);
  for (const file of targets) {
    if (file === 'index.js' && !fs.existsSync(path.join(ROOT, 'index.js'))) continue;
    assert.ok(files.includes(file), `exports names ${file}, which the tarball lacks`);
  }
  for (const f of files) {
    assert.doesNotMatch(f, /^(target|node_modules|build|__test__|\.ci|\.git)\//, `the tarball carries ${f}`);
    assert.doesNotMatch(f, /\.node$/, `the tarball carries a prebuilt ${f}`);
  }

  // 2. Install it into an empty project: the install script builds the addon.
  const project = path.join(tmp, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }, null, 2));
  npm(['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], project,
    { CARGO_TARGET_DIR: path.join(ROOT, 'target', 'pack') });
  const installed = path.join(project, 'node_modules', 'rust-cluster');
  assert.ok(fs.existsSync(path.join(installed, 'build', 'rust_cluster.node')), 'the install did not build the addon');

  // 3. It works from the project.
  const out = node(['-e', `
    const { spawnSync } = require('rust-cluster/child_process');
    const r = spawnSync('/bin/echo', ['hi']);
    process.stdout.write(JSON.stringify({ status: r.status, stdout: r.stdout.toString(),
      from: require.resolve('rust-cluster/child_process') }));
  `], project);
  const r = JSON.parse(out);
  assert.deepEqual(r, { status: 0, stdout: 'hi\n', from: path.join(fs.realpathSync(installed), 'lib', 'child_process.js') });

  fs.writeFileSync(path.join(project, 'esm.mjs'), `
    import { spawnSync } from 'rust-cluster/child_process';
    import cp from 'rust-cluster/child_process';
    console.log(spawnSync('/bin/echo', ['esm']).stdout.toString().trim(), cp.spawnSync === spawnSync);
  `);
  assert.equal(node(['esm.mjs'], project), 'esm true\n');

  fs.writeFileSync(path.join(project, 'app.js'), `
    const cp = require('node:child_process');
    const ours = Object.values(require.cache).some((m) => m.exports === cp);
    console.log(ours, cp.execFileSync('/bin/echo', ['registered']).toString().trim());
  `);
  assert.equal(node(['-r', 'rust-cluster/register', 'app.js'], project), 'true registered\n');

  for (const types of ['index.d.ts', 'child_process.d.ts']) {
    assert.ok(fs.existsSync(path.join(installed, types)), `${types} not installed`);
  }
});
