'use strict';
// A redis-server binary for the tests that need one (the pool's Redis mode): the machine's own
// if it has one, otherwise Debian's package for this machine's release, unpacked into
// ~/.cache/rust-cluster/redis/ with the libraries it needs that a minimal system lacks. Nothing
// is installed; nothing outside the cache is written.
//   locateRedisServer() -> { command, env } or throws Unavailable (no apt, no network, not Debian).
//   `node scripts/redis-server.js` fetches it and prints where it is.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { cacheRoot, sweepStale } = require('./cache');
const { Unavailable, privateApt, MIRROR, SECURITY_MIRROR } = require('./private-apt');

// redis-server is a symlink to redis-check-rdb (in redis-tools). The libraries redis-tools
// depends on come too (a minimal system lacks jemalloc, lzf, even libssl), but never libc.
const PACKAGES = ['redis-server', 'redis-tools'];
const NOT_LIBRARIES = new Set(['libc6', 'adduser']);
const LIB_DIRS = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

function onPath() {
  const res = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  return res.status === 0 ? res.stdout.trim() : null;
}

function codename() {
  try {
    return /^VERSION_CODENAME=("?)([^"\n]*)\1$/m.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[2] || null;
  } catch {
    return null;
  }
}

function unpacked(root) {
  const bin = path.join(root, 'usr', 'bin', 'redis-server');
  return fs.existsSync(path.join(root, '.complete')) && fs.existsSync(bin)
    ? { command: bin, env: { LD_LIBRARY_PATH: path.join(root, 'usr', 'lib', LIB_DIRS[process.arch] || `${process.arch}-linux-gnu`) } }
    : null;
}

function fetch(root, release, log) {
  const dir = path.join(cacheRoot(), 'apt-binary');
  const apt = privateApt(dir, [
    ['deb', MIRROR, release], ['deb', MIRROR, `${release}-updates`], ['deb', SECURITY_MIRROR, `${release}-security`],
  ]);
  const updateError = apt.update(log);
  sweepStale(path.dirname(root));
  const staging = `${root}.partial-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  try {
    try {
      apt.downloadPackages([...PACKAGES, ...apt.depends('redis-tools').filter((d) => !NOT_LIBRARIES.has(d))], staging);
    } catch (e) {
      throw updateError ? new Unavailable(`apt-get update: ${updateError}`) : e;
    }
    for (const deb of fs.readdirSync(staging).filter((n) => n.endsWith('.deb'))) {
      const res = spawnSync('dpkg-deb', ['-x', path.join(staging, deb), staging], { encoding: 'utf8' });
      if (res.error || res.status !== 0) throw new Unavailable(`dpkg-deb -x ${deb}: ${res.error?.message || res.stderr.trim()}`);
      fs.rmSync(path.join(staging, deb));
    }
    fs.writeFileSync(path.join(staging, '.complete'), `${PACKAGES.join(' ')} for ${release}\n`);
    fs.rmSync(root, { recursive: true, force: true });
    fs.renameSync(staging, root);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

function locateRedisServer({ log = () => {}, useSystem = true } = {}) {
  const system = useSystem && onPath();
  if (system) return { command: system, env: {} };
  const release = codename();
  if (!release) throw new Unavailable('redis-server is not installed and this is not a Debian-like system to fetch it from');
  const root = path.join(cacheRoot(), 'redis', release);
  const found = unpacked(root);
  if (found) return found;
  log(`fetching Debian ${release}'s redis-server into ${root}`);
  fetch(root, release, log);
  const got = unpacked(root);
  if (!got) throw new Unavailable(`the ${release} packages hold no usr/bin/redis-server`);
  return got;
}

module.exports = { locateRedisServer };

if (require.main === module) {
  try {
    const { command, env } = locateRedisServer({ log: (m) => process.stderr.write(`${m}\n`), useSystem: !process.argv.includes('--cached') });
    const version = spawnSync(command, ['--version'], { env: { ...process.env, ...env }, encoding: 'utf8' });
    console.log(`${command}: ${(version.stdout || version.stderr).trim()}`);
  } catch (e) {
    console.error(`redis-server: ${e.message}`);
    process.exitCode = 1;
  }
}
