'use strict';
// The published shape, as a user gets it: `npm pack` of the main package and of the
// linux-x64-gnu platform package (holding the repository's release build of the addon,
// placed there by `npm run artifacts`), both installed into an empty project by an npm whose
// PATH has no cargo, rustc or C compiler. The project then uses require, fork + IPC and
// `-r rust-cluster/register`; without the platform package (or on another platform) the
// loader's error says what it looked for and how to build from source.
// No cargo build happens here: the test packs the build that `npm install` made.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const cp = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const PLATFORM = 'linux-x64-gnu';
const ADDON = `rust-cluster.${PLATFORM}.node`;
const TIMEOUT = 5 * 60_000;

// npm next to this node if there is one, else npm on the PATH.
const npmCli = path.join(path.dirname(fs.realpathSync(process.execPath)), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');

// The environment for nested npm / node runs: none of the outer test runner's or npm
// lifecycle's settings, and PATH replaced when `pathDirs` is given.
function childEnv(pathDirs) {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_OPTIONS;
  for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k];
  if (pathDirs) {
    env.PATH = pathDirs.join(path.delimiter);
    for (const k of ['CARGO_HOME', 'RUSTUP_HOME', 'CARGO', 'RUSTC', 'CC', 'CXX']) delete env[k];
  }
  return env;
}

function npm(args, cwd, pathDirs) {
  const [cmd, argv] = fs.existsSync(npmCli) ? [process.execPath, [npmCli, ...args]] : ['npm', args];
  const r = cp.spawnSync(cmd, argv, { cwd, env: childEnv(pathDirs), encoding: 'utf8', timeout: TIMEOUT - 30_000, maxBuffer: 64 << 20 });
  assert.equal(r.status, 0, `npm ${args.join(' ')} failed (${r.status} ${r.signal} ${r.error || ''}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function node(args, cwd, pathDirs, { ok = true } = {}) {
  const r = cp.spawnSync(process.execPath, args, { cwd, env: childEnv(pathDirs), encoding: 'utf8', timeout: 60_000 });
  if (ok) assert.equal(r.status, 0, `node ${args.join(' ')} failed (${r.status} ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

function pack(dir, dest) {
  const [packed] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', dest], dir));
  return { ...packed, tarball: path.join(dest, packed.filename), paths: packed.files.map((f) => f.path) };
}

function du(dir) {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? du(p) : fs.lstatSync(p).size;
  }
  return total;
}

// A PATH of one directory holding only node (and npm when it is not next to node).
function toolchainFreePath(tmp) {
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  if (!fs.existsSync(npmCli)) {
    const npmBin = cp.execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim();
    fs.symlinkSync(npmBin, path.join(bin, 'npm'));
  }
  for (const tool of ['cargo', 'rustc', 'rustup', 'cc', 'gcc', 'clang', 'ld']) {
    assert.ok(!fs.existsSync(path.join(bin, tool)), `${tool} is on the test PATH`);
  }
  return [bin];
}

test('the packed main and platform packages install and work with no Rust toolchain', { timeout: TIMEOUT }, (t) => {
  const built = path.join(ROOT, 'build', ADDON);
  assert.ok(fs.existsSync(built), `${built} is missing: run \`npm install\` or \`npm run build\` first`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-pack-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  // 1. The release flow: the build into its platform package, then both tarballs.
  npm(['run', 'artifacts'], ROOT);
  const main = pack(ROOT, tmp);
  const platform = pack(path.join(ROOT, 'npm', PLATFORM), tmp);

  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  assert.equal(pkg.optionalDependencies[platform.name], pkg.version, 'the main package pins its platform package');
  assert.equal(platform.version, pkg.version, 'the platform package has the main package\'s version');
  assert.equal(pkg.scripts.install, undefined, 'an install script would run for every user');
  assert.equal(pkg.scripts.postinstall, undefined, 'a postinstall script would run for every user');

  for (const needed of [
    'package.json', 'README.md', 'index.js', 'index.d.ts', 'child_process.d.ts',
    'lib/binding.js', 'lib/child_process.js', 'lib/register.js',
    'lib/esm/child_process.mjs', 'lib/esm/cluster.mjs', 'lib/esm/hooks.mjs',
  ]) assert.ok(main.paths.includes(needed), `the main tarball lacks ${needed}`);
  const targets = new Set();
  const walk = (v) => (typeof v === 'string' ? targets.add(v.replace(/^\.\//, '')) : Object.values(v).forEach(walk));
  walk(pkg.exports);
  for (const file of targets) assert.ok(main.paths.includes(file), `exports names ${file}, which the tarball lacks`);
  for (const f of main.paths) {
    assert.doesNotMatch(f, /^(src|target|node_modules|build|npm|__test__|scripts|\.ci|\.git)\/|^Cargo|\.node$/, `the main tarball carries ${f}`);
  }
  assert.deepEqual(platform.paths.sort(), ['README.md', ADDON, 'package.json'].sort());
  const addon = fs.readFileSync(path.join(ROOT, 'npm', PLATFORM, ADDON));
  assert.ok(addon.equals(fs.readFileSync(built)), 'the platform package holds the current build');
  assert.ok(!addon.includes('.symtab'), 'the packed addon is not stripped (it has a .symtab section)');

  // 2. An empty project; npm's PATH has node and nothing else. --offline: everything the
  // install needs is in the two tarballs (the optional dependency is the platform tarball).
  const noRust = toolchainFreePath(tmp);
  const project = path.join(tmp, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  npm(['install', '--offline', '--no-audit', '--no-fund', main.tarball, platform.tarball], project, noRust);
  const installedMain = path.join(project, 'node_modules', 'rust-cluster');
  const installedPlatform = path.join(project, 'node_modules', platform.name);
  assert.ok(fs.existsSync(path.join(installedPlatform, ADDON)), 'the platform package was not installed');
  assert.ok(!fs.existsSync(path.join(installedMain, 'build')), 'something built the addon during the install');

  t.diagnostic(`packed: ${main.name} ${main.size} B (unpacked ${main.unpackedSize} B, ${main.entryCount} files), ` +
    `${platform.name} ${platform.size} B (unpacked ${platform.unpackedSize} B); ` +
    `installed: ${du(installedMain)} B + ${du(installedPlatform)} B`);

  // 3. require both entry points, fork a child, exchange a message; the addon is the
  // platform package's.
  fs.writeFileSync(path.join(project, 'child.js'), `
    process.on('message', (m) => process.send({ echo: m, pid: process.pid }, () => process.disconnect()));
  `);
  fs.writeFileSync(path.join(project, 'parent.js'), `
    const cluster = require('rust-cluster');
    const { fork } = require('rust-cluster/child_process');
    const child = fork(require('node:path').join(__dirname, 'child.js'));
    child.on('message', (m) => {
      const addons = Object.keys(require.cache).filter((f) => f.endsWith('.node'));
      console.log(JSON.stringify({ m, childPid: child.pid, isPrimary: cluster.isPrimary,
        rustCluster: cluster._rustCluster, addons }));
    });
    child.send({ hello: 'from the parent' });
  `);
  const r = JSON.parse(node(['parent.js'], project, noRust).stdout);
  assert.deepEqual(r.m, { echo: { hello: 'from the parent' }, pid: r.childPid });
  assert.equal(r.isPrimary, true);
  assert.equal(r.rustCluster, true);
  assert.deepEqual(r.addons, [path.join(fs.realpathSync(installedPlatform), ADDON)]);

  // 4. `node -r rust-cluster/register` runs a sample whose require line names the built-in
  // cluster; the probe says whose cluster the primary got (workers run Node's by design).
  const example = fs.readFileSync(path.join(ROOT, 'examples', '004-echo', 'main.js'), 'utf8')
    .replaceAll("require('rust-cluster')", "require('cluster')");
  assert.doesNotMatch(example, /rust-cluster['/]/);
  fs.writeFileSync(path.join(project, 'echo.js'), example);
  fs.writeFileSync(path.join(project, 'probe.js'), `
    const cluster = require('cluster');
    if (cluster.isPrimary) process.on('exit', () => process.stderr.write('rust-cluster=' + (cluster._rustCluster === true) + '\\n'));
  `);
  const reg = node(['-r', 'rust-cluster/register', '-r', './probe.js', 'echo.js'], project, noRust);
  assert.equal(reg.stdout, 'master got back: "hi there"\nworker exited: code=0 signal=null\n');
  // (Other stderr lines are Node's warnings, e.g. Node 26 deprecating module.register().)
  assert.ok(reg.stderr.split('\n').includes('rust-cluster=true'), reg.stderr);

  // 5. The error on platforms with no prebuilt package (simulated: the loader reads
  // process.platform / process.arch and the C library's ldd), then with the platform package
  // broken, then removed.
  const probeError = (setup) => {
    const res = node(['-e', `${setup}
      try { require('rust-cluster'); console.log('loaded'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, platform: e.platform, message: e.message, cause: e.cause && e.cause.message })); }
    `], project, noRust);
    return JSON.parse(res.stdout);
  };
  const assertClearError = (e, name) => {
    assert.equal(e.code, 'ERR_RUST_CLUSTER_NO_ADDON');
    assert.equal(e.platform, name);
    assert.match(e.message, new RegExp(`no native addon for this platform \\(${name}\\)`));
    assert.ok(e.message.includes(`local build ${path.join(fs.realpathSync(installedMain), 'build', `rust-cluster.${name}.node`)}: `), e.message);
    assert.ok(e.message.includes(`platform package rust-cluster-${name}: `), e.message);
    assert.ok(e.message.includes(`Prebuilt addons are published for: ${PLATFORM}.`), e.message);
    assert.match(e.message, /build from source \(needs Linux, a Rust toolchain .*`npm install`/);
  };
  const fake = (prop, value) => `Object.defineProperty(process, '${prop}', { value: '${value}' });`;
  const fakeMusl = `const fs = require('fs'); const read = fs.readFileSync;
    fs.readFileSync = (f, ...a) => (f === '/usr/bin/ldd' ? 'musl libc' : read(f, ...a));`;
  for (const [setup, name] of [
    [fake('arch', 'arm64'), 'linux-arm64-gnu'],
    [fakeMusl, 'linux-x64-musl'],
    [fake('platform', 'darwin'), 'darwin-x64'],
    [fake('platform', 'darwin') + fake('arch', 'arm64'), 'darwin-arm64'],
  ]) {
    const e = probeError(setup);
    assertClearError(e, name);
    assert.match(e.message, new RegExp(`rust-cluster-${name}: not found`));
  }

  fs.writeFileSync(path.join(installedPlatform, ADDON), 'not an ELF file');
  const broken = probeError('');
  assertClearError(broken, PLATFORM);
  assert.match(broken.cause, /invalid ELF header|file too short/);
  assert.ok(broken.message.includes(broken.cause), 'the load error is in the message');

  fs.rmSync(installedPlatform, { recursive: true });
  const removed = probeError('');
  assertClearError(removed, PLATFORM);
  assert.match(removed.message, new RegExp(`rust-cluster-${PLATFORM}: not found`));
  assert.equal(removed.cause, undefined);
  // Uncaught, it ends the process with that message.
  const uncaught = node(['-e', "require('rust-cluster/child_process')"], project, noRust, { ok: false });
  assert.equal(uncaught.status, 1);
  assert.ok(uncaught.stderr.includes(removed.message), uncaught.stderr);
});

test('npm version bumps the main and platform packages together', { timeout: 60_000 }, (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-version-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  for (const f of ['package.json', 'package-lock.json', 'npm', 'scripts/version.js']) {
    fs.cpSync(path.join(ROOT, f), path.join(tmp, f), { recursive: true });
  }
  npm(['version', '7.8.9', '--no-git-tag-version', '--ignore-scripts=false'], tmp);
  const read = (f) => JSON.parse(fs.readFileSync(path.join(tmp, f), 'utf8'));
  const pkg = read('package.json');
  const lock = read('package-lock.json');
  assert.equal(pkg.version, '7.8.9');
  assert.equal(lock.version, '7.8.9');
  const platforms = fs.readdirSync(path.join(tmp, 'npm'));
  assert.ok(platforms.includes(PLATFORM));
  for (const p of platforms) {
    const sub = read(path.join('npm', p, 'package.json'));
    assert.equal(sub.version, '7.8.9', `npm/${p}`);
    assert.equal(pkg.optionalDependencies[sub.name], '7.8.9');
    assert.equal(lock.packages[''].optionalDependencies[sub.name], '7.8.9');
    assert.equal(lock.packages[`node_modules/${sub.name}`].version, '7.8.9');
  }
});
