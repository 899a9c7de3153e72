'use strict';
// apt on a private configuration: its own sources list, index lists and archive directory
// under the user's cache, so that nothing of the machine's apt setup is read or changed and it
// works as any user, root or not. Two users: the conformance runner, which takes Node's own
// tests from the upstream tarball of Debian's `nodejs` source package (only `<name>.orig.tar.xz`,
// checked against the size and SHA-256 that the signed Sources index lists; the .dsc and Debian
// diff are not needed), and the tests that need a redis-server the machine lacks
// (scripts/redis-server.js).

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

// Suite aliases rather than codenames, so the list keeps working across Debian releases:
// together they carry several Node majors (e.g. in 2026: 20 in stable, 22 and 24 in
// testing/unstable).
const MIRROR = process.env.RUST_CLUSTER_DEBIAN_MIRROR || 'http://deb.debian.org/debian';
const SECURITY_MIRROR = process.env.RUST_CLUSTER_DEBIAN_SECURITY_MIRROR || 'http://deb.debian.org/debian-security';
const SUITES = [
  [MIRROR, 'oldstable'], [MIRROR, 'oldstable-updates'], [SECURITY_MIRROR, 'oldstable-security'],
  [MIRROR, 'stable'], [MIRROR, 'stable-updates'], [SECURITY_MIRROR, 'stable-security'],
  [MIRROR, 'testing'], [MIRROR, 'unstable'],
];
const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';
const APT_HELPER = '/usr/lib/apt/apt-helper';
// Written to /etc by versions of this script before the private configuration; removed if seen.
const LEGACY_FILE = '/etc/apt/sources.list.d/rust-cluster-conformance-src.sources';

// The tests cannot be had on this machine (no apt, no network, ...): not a test failure.
class Unavailable extends Error {}

// ---------------------------------------------------------------- Debian versions

function order(c) {
  if (c === '~') return -1;
  if (c === undefined) return 0;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

function verrevcmp(a, b) {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !/\d/.test(a[i])) || (j < b.length && !/\d/.test(b[j]))) {
      const ac = i < a.length && !/\d/.test(a[i]) ? order(a[i]) : 0;
      const bc = j < b.length && !/\d/.test(b[j]) ? order(b[j]) : 0;
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    while (/\d/.test(a[i] || '') && /\d/.test(b[j] || '')) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (/\d/.test(a[i] || '')) return 1;
    if (/\d/.test(b[j] || '')) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

function splitVersion(v) {
  const m = /^(?:(\d+):)?(.*?)(?:-([^-]*))?$/.exec(v);
  return { epoch: Number(m[1] || 0), upstream: m[2], revision: m[3] || '' };
}

// dpkg's version ordering (epoch, upstream, revision).
function compareDebVersions(a, b) {
  const x = splitVersion(a);
  const y = splitVersion(b);
  if (x.epoch !== y.epoch) return x.epoch - y.epoch;
  return verrevcmp(x.upstream, y.upstream) || verrevcmp(x.revision, y.revision);
}

function versionMajor(v) {
  return Number(/^\d+/.exec(splitVersion(v).upstream)?.[0] ?? NaN);
}

// Versions to try, best first: same major as the running Node (the pinned version if the
// index still has it, then newest first); otherwise those of the closest major (newer major
// first on a tie), flagged as a mismatch. All of them, because an index can list a version
// whose files are already gone from the mirror.
function pickVersion(versions, major, pinned) {
  if (!versions.length) return null;
  const newestFirst = (list) => list.slice().sort(compareDebVersions).reverse();
  const same = newestFirst(versions.filter((v) => versionMajor(v) === major));
  if (same.length) {
    if (pinned && same.includes(pinned)) same.unshift(...same.splice(same.indexOf(pinned), 1));
    return { candidates: same, mismatch: false };
  }
  const distance = (v) => Math.abs(versionMajor(v) - major);
  const candidates = newestFirst(versions.filter((v) => Number.isFinite(versionMajor(v))))
    .sort((a, b) => distance(a) - distance(b));
  return { candidates, mismatch: true };
}

// ---------------------------------------------------------------- parsing apt's output

function parseShowsrcVersions(text) {
  const versions = new Set();
  for (const stanza of (text || '').split(/\n\s*\n/)) {
    const pkg = /^Package:\s*(\S+)/m.exec(stanza);
    const ver = /^Version:\s*(\S+)/m.exec(stanza);
    if (pkg && ver && pkg[1] === 'nodejs') versions.add(ver[1]);
  }
  return [...versions];
}

// `apt-get source --print-uris` lines: 'URI' name size SHA256:hex. Returns the upstream
// tarball (`*.orig.tar.*`, not the `orig-<component>` ones).
function parseOrigTarball(text) {
  for (const line of (text || '').split('\n')) {
    const m = /^'([^']+)'\s+(\S+\.orig\.tar\.(?:xz|gz|bz2))\s+(\d+)\s+SHA256:([0-9a-f]{64})\s*$/i.exec(line);
    if (m) return { uri: m[1], name: m[2], size: Number(m[3]), sha256: m[4].toLowerCase() };
  }
  return null;
}

// Size first (cheap, and names a truncated download as such), then the hash.
function verifyFile(file, { size, sha256 }) {
  const actual = fs.statSync(file).size;
  if (actual !== size) throw new Error(`${path.basename(file)}: ${actual} bytes, the index lists ${size}`);
  const hash = crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  if (hash !== sha256) throw new Error(`${path.basename(file)}: SHA-256 ${hash}, the index lists ${sha256}`);
}

// ---------------------------------------------------------------- running apt privately

function run(cmd, args, { env, ...opts } = {}) {
  const res = spawnSync(cmd, args, {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C', ...env },
    ...opts,
  });
  if (res.error) throw new Error(`${cmd} ${args.join(' ')}: ${res.error.message}`);
  return res;
}

// The machine's proxy settings, the one part of its apt configuration a private apt keeps.
function proxySettings() {
  const res = run('apt-config', ['dump']);
  return (res.stdout || '').split('\n').filter((l) => /^Acquire::[a-z]+::Proxy/i.test(l)).join('\n');
}

function firstError(res) {
  const text = `${res.stderr || ''}\n${res.stdout || ''}`;
  const lines = text.split('\n');
  return (lines.find((l) => /^E:/.test(l)) || lines.find((l) => /^(Err|W):/.test(l)) ||
    text.trim().split('\n').pop() || '').trim();
}

function hasCommand(name) {
  return run('sh', ['-c', `command -v ${name}`]).status === 0;
}

class PrivateApt {
  constructor(dir) {
    this.dir = dir;
    // APT_CONFIG is read before /etc/apt/apt.conf{,.d}, so it can turn them off: no machine
    // hooks (e.g. Post-Invoke-Success running appstreamcli as root), no extra index targets.
    this.config = path.join(dir, 'apt.conf');
    const sourceList = path.join(dir, 'sources.list');
    this.options = [
      `Dir::Etc::SourceList=${sourceList}`,
      'Dir::Etc::SourceParts=/dev/null',
      'Dir::Etc::Preferences=/dev/null',
      'Dir::Etc::PreferencesParts=/dev/null',
      `Dir::State::Lists=${path.join(dir, 'lists')}`,
      'Dir::State::status=/dev/null',
      `Dir::Cache=${path.join(dir, 'cache')}`,
      // apt drops to the `_apt` user to download when run as root; that user cannot write
      // into a directory under root's home, so download as the caller.
      ...(process.getuid?.() === 0 ? ['APT::Sandbox::User=root'] : []),
    ].flatMap((o) => ['-o', o]);
    this.sourceList = sourceList;
  }

  // `entries`: [type, uri, suite] triples (type `deb` or `deb-src`), all signed by Debian.
  configure(entries) {
    for (const sub of ['lists/partial', 'cache/archives/partial']) {
      fs.mkdirSync(path.join(this.dir, sub), { recursive: true });
    }
    // Signatures are checked, but not the Release files' expiry dates: an index past its
    // Valid-Until (a mirror that lags, a machine whose clock is off) still names authentic
    // files, and each file fetched is checked against the hash the signed index lists.
    fs.writeFileSync(this.config, 'Dir::Etc::Main "/dev/null";\nDir::Etc::Parts "/dev/null";\n' +
      'Acquire::Check-Valid-Until "false";\nAcquire::Check-Date "false";\n' +
      `${proxySettings()}\n`);
    const lines = entries.map(([type, uri, suite]) => `${type} [signed-by=${KEYRING}] ${uri} ${suite} main`);
    fs.writeFileSync(this.sourceList, `# rust-cluster: Debian indexes, private to this cache\n${lines.join('\n')}\n`);
  }

  run(cmd, args, opts) {
    return run(cmd, [...this.options, ...args], { ...opts, env: { APT_CONFIG: this.config } });
  }

  // The packages `name` depends on directly (first of each set of alternatives).
  depends(name) {
    const res = this.run('apt-cache', ['depends', '--no-recommends', '--no-suggests', '--no-conflicts',
      '--no-breaks', '--no-replaces', '--no-enhances', name], { timeout: 120e3 });
    if (res.status !== 0) throw new Unavailable(`apt-cache depends ${name}: ${firstError(res)}`);
    return [...res.stdout.matchAll(/^ {2}\|?(?:Pre)?Depends: <?([^\s>]+)>?$/gm)].map((m) => m[1]);
  }

  // `apt-get download` of these binary packages into `dir` (no dependencies, nothing installed).
  downloadPackages(names, dir) {
    const res = this.run('apt-get', ['download', ...names], { cwd: dir, timeout: 600e3 });
    if (res.status !== 0) throw new Unavailable(`apt-get download ${names.join(' ')}: ${firstError(res)}`);
  }

  // Returns apt's first error, or null. A suite the mirror lacks fails the update but the other
  // suites' indexes are still stored, and any index that lists nodejs is enough.
  update(log) {
    log('  apt-get update (private lists in the cache)');
    const res = this.run('apt-get', ['update'], { timeout: 600e3 });
    // Unreachable mirrors are only warnings (W:, Err:) for apt; report them as well.
    return res.status === 0 && !/^(W|Err):/m.test(`${res.stdout}\n${res.stderr}`) ? null : firstError(res);
  }

  versions() {
    const res = this.run('apt-cache', ['showsrc', '--only-source', 'nodejs'], { timeout: 120e3 });
    return parseShowsrcVersions(res.stdout);
  }

  origTarball(version) {
    const res = this.run('apt-get', ['source', '--print-uris', '--only-source', `nodejs=${version}`],
      { timeout: 120e3 });
    if (res.status !== 0) throw new Error(`apt-get source --print-uris: ${firstError(res)}`);
    const orig = parseOrigTarball(res.stdout);
    if (!orig) throw new Error('the index lists no .orig.tar file for it');
    return orig;
  }

  // apt's own downloader: apt's proxy settings apply, and it checks the hash as well.
  download(orig, file) {
    const res = this.run(APT_HELPER, ['download-file', orig.uri, file, `SHA256:${orig.sha256}`],
      { timeout: 1800e3 });
    if (res.status !== 0) {
      fs.rmSync(file, { force: true });
      throw new Error(`download of ${orig.uri} failed: ${firstError(res)}`);
    }
    verifyFile(file, orig);
  }
}

function dropLegacyFile(log) {
  if (!fs.existsSync(LEGACY_FILE)) return;
  try {
    fs.rmSync(LEGACY_FILE);
    log(`  removed ${LEGACY_FILE} (written by an earlier version of this script)`);
  } catch (e) {
    log(`  note: ${LEGACY_FILE} was written by an earlier version of this script; delete it (${e.code})`);
  }
}

// A private apt over `entries` (see configure), or Unavailable where apt cannot work here.
function privateApt(dir, entries) {
  if (!hasCommand('apt-get') || !fs.existsSync(APT_HELPER)) throw new Unavailable('apt is not installed');
  if (!fs.existsSync(KEYRING)) throw new Unavailable(`${KEYRING} is missing (package debian-archive-keyring)`);
  const apt = new PrivateApt(dir);
  apt.configure(entries);
  return apt;
}

// The private apt for Node's tests, updated, with the nodejs source versions it lists.
function openApt(dir, log) {
  dropLegacyFile(log);
  const apt = privateApt(dir, SUITES.map(([uri, suite]) => ['deb-src', uri, suite]));
  const updateError = apt.update(log);
  const versions = apt.versions();
  if (!versions.length) {
    throw new Unavailable(updateError ? `apt-get update failed: ${updateError}`
      : 'the Debian source indexes list no nodejs package');
  }
  if (updateError) log(`  (apt-get update: ${updateError}; going on with the indexes it got)`);
  return { apt, versions };
}

module.exports = {
  Unavailable,
  MIRROR,
  SECURITY_MIRROR,
  privateApt,
  compareDebVersions,
  versionMajor,
  pickVersion,
  parseShowsrcVersions,
  parseOrigTarball,
  verifyFile,
  openApt,
};
