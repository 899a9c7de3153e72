'use strict';
// apt plumbing for the conformance runner: read the machine's apt sources, derive matching
// deb-src entries (written to a file of our own), find the `nodejs` source versions apt can
// offer and download/unpack one with `apt-get source`. Debian/Ubuntu only; needs root.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const SOURCES_LIST = '/etc/apt/sources.list';
const SOURCES_DIR = '/etc/apt/sources.list.d';
const OWN_FILE = path.join(SOURCES_DIR, 'rust-cluster-conformance-src.sources');
// Debian releases in order, so that a machine on release N can also look at N's backports and
// at the next releases' sources (deb-src entries never change which binaries get installed).
const DEBIAN_RELEASES = ['stretch', 'buster', 'bullseye', 'bookworm', 'trixie', 'forky', 'duke'];

// ---------------------------------------------------------------- parsing apt sources

function parseOptions(text) {
  const opts = {};
  for (const part of text.trim().split(/\s+/).filter(Boolean)) {
    const m = /^([A-Za-z-]+)[+-]?=(.*)$/.exec(part);
    if (m) opts[m[1].toLowerCase()] = m[2];
  }
  return opts;
}

// One-line style (`deb [opts] uri suite comp...`).
function parseOneLine(text, file) {
  const entries = [];
  for (let line of text.split('\n')) {
    line = line.replace(/#.*$/, '').trim();
    const m = /^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)(?:\s+(.*))?$/.exec(line);
    if (!m) continue;
    const opts = parseOptions(m[2] || '');
    entries.push({
      file,
      types: [m[1]],
      uris: [m[3]],
      suites: [m[4]],
      components: (m[5] || '').split(/\s+/).filter(Boolean),
      signedBy: opts['signed-by'],
      trusted: opts.trusted,
    });
  }
  return entries;
}

// deb822 style (`.sources`): stanzas of `Field: value` with indented continuation lines.
function parseDeb822(text, file) {
  const entries = [];
  for (const stanza of text.split(/\n[ \t]*\n/)) {
    const fields = {};
    let last = null;
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      if (/^[ \t]/.test(line) && last) {
        fields[last] += '\n' + line;
        continue;
      }
      const m = /^([A-Za-z0-9-]+):[ \t]*(.*)$/.exec(line);
      if (m) {
        last = m[1].toLowerCase();
        fields[last] = m[2];
      }
    }
    if (!fields.types || !fields.uris) continue;
    if (/^(no|false|0)$/i.test((fields.enabled || '').trim())) continue;
    const words = (v) => (v || '').split(/\s+/).filter(Boolean);
    entries.push({
      file,
      types: words(fields.types),
      uris: words(fields.uris),
      suites: words(fields.suites),
      components: words(fields.components),
      signedBy: fields['signed-by'],
      trusted: fields.trusted,
    });
  }
  return entries;
}

// Every entry apt itself reads (sources.list, sources.list.d/*.list and *.sources), except ours.
function readAptSources() {
  const entries = [];
  if (fs.existsSync(SOURCES_LIST)) {
    entries.push(...parseOneLine(fs.readFileSync(SOURCES_LIST, 'utf8'), SOURCES_LIST));
  }
  let names = [];
  try { names = fs.readdirSync(SOURCES_DIR).sort(); } catch { /* no directory */ }
  for (const name of names) {
    const file = path.join(SOURCES_DIR, name);
    if (file === OWN_FILE) continue;
    if (name.endsWith('.list')) entries.push(...parseOneLine(fs.readFileSync(file, 'utf8'), file));
    else if (name.endsWith('.sources')) entries.push(...parseDeb822(fs.readFileSync(file, 'utf8'), file));
  }
  return entries;
}

// Only the distribution's own archives (and their mirrors) publish a `nodejs` source package;
// third-party repositories (e.g. NodeSource) have no Sources index and would break `apt-get update`.
function isDistroArchive(entry) {
  if (entry.signedBy && /(debian|ubuntu)-archive-keyring/.test(entry.signedBy)) return true;
  return entry.uris.some((uri) => {
    let url;
    try { url = new URL(uri); } catch { return false; }
    return /(^|\.)(debian\.org|ubuntu\.com)$/.test(url.hostname) ||
      /\/(debian|debian-security|debian-ports|ubuntu|ubuntu-ports)\/?$/.test(url.pathname);
  });
}

function osCodename() {
  try {
    const m = /^VERSION_CODENAME=("?)([^"\n]*)\1$/m.exec(fs.readFileSync('/etc/os-release', 'utf8'));
    if (m && m[2]) return m[2];
  } catch { /* fall through */ }
  return null;
}

// Stages of deb-src entries to try, cumulatively: first the machine's own suites; then (Debian)
// its backports; then the next releases (their main, -updates and -security suites).
function planStages(entries, codename) {
  const archive = entries.filter((e) => e.types.includes('deb') && isDistroArchive(e));
  const existing = new Set();
  for (const e of entries) {
    if (!e.types.includes('deb-src')) continue;
    for (const u of e.uris) for (const s of e.suites) existing.add(`${u}|${s}`);
  }
  const like = (e, suites) => ({
    uris: e.uris, suites, components: e.components, signedBy: e.signedBy, trusted: e.trusted,
  });
  const stages = [{ label: 'the machine\'s own suites', stanzas: archive.map((e) => like(e, e.suites)) }];
  const idx = DEBIAN_RELEASES.indexOf(codename);
  if (idx >= 0) {
    const main = archive.filter((e) => e.suites.includes(codename));
    const security = archive.filter((e) => e.suites.includes(`${codename}-security`));
    stages.push({
      label: `${codename}-backports`,
      stanzas: main.map((e) => like(e, [`${codename}-backports`])),
    });
    for (const next of DEBIAN_RELEASES.slice(idx + 1, idx + 3)) {
      stages.push({
        label: next,
        stanzas: [
          ...main.map((e) => like(e, [next, `${next}-updates`])),
          ...security.map((e) => like(e, [`${next}-security`])),
        ],
      });
    }
  }
  // Drop uri/suite pairs that already have a deb-src entry somewhere, and duplicates.
  const seen = new Set(existing);
  for (const stage of stages) {
    const out = [];
    for (const st of stage.stanzas) {
      for (const uri of st.uris) {
        const suites = st.suites.filter((s) => !seen.has(`${uri}|${s}`));
        suites.forEach((s) => seen.add(`${uri}|${s}`));
        if (suites.length) out.push({ ...st, uris: [uri], suites });
      }
    }
    stage.stanzas = out;
  }
  return stages;
}

function renderStanzas(stanzas) {
  const head = '# Written by rust-cluster scripts/conformance.js: source indexes only (deb-src),\n' +
    '# so that `apt-get source nodejs` can fetch Node\'s test suite. Safe to delete.\n';
  return head + stanzas.map((st) => {
    const lines = ['Types: deb-src', `URIs: ${st.uris.join(' ')}`, `Suites: ${st.suites.join(' ')}`];
    if (st.components.length && !st.suites.some((s) => s.endsWith('/'))) {
      lines.push(`Components: ${st.components.join(' ')}`);
    }
    if (st.signedBy) lines.push(`Signed-By: ${st.signedBy}`);
    if (st.trusted) lines.push(`Trusted: ${st.trusted}`);
    return lines.join('\n') + '\n';
  }).join('\n');
}

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

// Versions to try, best first: same major as the running Node (the pinned version if apt
// still has it, then newest first); otherwise the closest major available, flagged as a
// mismatch. (More than one because an index can list a version whose files are already gone.)
function pickVersion(versions, major, pinned) {
  if (!versions.length) return null;
  const newestFirst = (list) => list.slice().sort(compareDebVersions).reverse();
  const same = newestFirst(versions.filter((v) => versionMajor(v) === major));
  if (same.length) {
    if (pinned && same.includes(pinned)) same.unshift(...same.splice(same.indexOf(pinned), 1));
    return { candidates: same, mismatch: false };
  }
  const best = Math.min(...versions.map((v) => Math.abs(versionMajor(v) - major)));
  return {
    candidates: newestFirst(versions.filter((v) => Math.abs(versionMajor(v) - major) === best)),
    mismatch: true,
  };
}

// ---------------------------------------------------------------- running apt

function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' },
    ...opts,
  });
  if (res.error) throw new Error(`${cmd} ${args.join(' ')}: ${res.error.message}`);
  return res;
}

function tail(text, lines = 15) {
  return (text || '').trimEnd().split('\n').slice(-lines).join('\n');
}

function hasCommand(name) {
  return run('sh', ['-c', `command -v ${name}`]).status === 0;
}

function aptUpdate(log) {
  log('  apt-get update');
  const res = run('apt-get', ['update'], { timeout: 600e3 });
  return { ok: res.status === 0, output: `${res.stdout}\n${res.stderr}` };
}

function nodejsSourceVersions() {
  const res = run('apt-cache', ['showsrc', '--only-source', 'nodejs'], { timeout: 120e3 });
  const versions = new Set();
  for (const stanza of (res.stdout || '').split(/\n\s*\n/)) {
    const pkg = /^Package:\s*(\S+)/m.exec(stanza);
    const ver = /^Version:\s*(\S+)/m.exec(stanza);
    if (pkg && ver && pkg[1] === 'nodejs') versions.add(ver[1]);
  }
  return [...versions];
}

// Configures deb-src entries stage by stage until a nodejs source of the running major shows
// up; returns the chosen version and every version seen.
function resolveSourceVersion({ major, pinned, log }) {
  if (!hasCommand('apt-get')) {
    throw new Error('apt-get not found: Node\'s tests are taken from Debian\'s nodejs source package ' +
      '(or pass --tests-dir <node source tree>)');
  }
  if (process.getuid && process.getuid() !== 0) {
    throw new Error('configuring apt deb-src entries needs root (run as root once to fill the cache, ' +
      'or pass --tests-dir <node source tree>)');
  }
  const entries = readAptSources();
  const stages = planStages(entries, osCodename());
  if (!stages[0].stanzas.length && !entries.some((e) => e.types.includes('deb-src'))) {
    throw new Error('no Debian/Ubuntu archive found in the apt sources to derive deb-src entries from');
  }
  const active = [];
  let versions = [];
  for (const stage of stages) {
    if (!stage.stanzas.length && active.length) continue;
    log(`  deb-src: ${stage.label}`);
    active.push(...stage.stanzas);
    fs.writeFileSync(OWN_FILE, renderStanzas(active));
    const upd = aptUpdate(log);
    if (!upd.ok) {
      log(`  apt-get update failed with these entries; dropping them:\n${tail(upd.output, 6)}`);
      active.splice(active.length - stage.stanzas.length, stage.stanzas.length);
      fs.writeFileSync(OWN_FILE, renderStanzas(active));
      aptUpdate(log);
      continue;
    }
    versions = nodejsSourceVersions();
    log(`  nodejs sources available: ${versions.join(', ') || 'none'}`);
    if (versions.some((v) => versionMajor(v) === major)) break;
  }
  if (!active.length) fs.rmSync(OWN_FILE, { force: true });
  const pick = pickVersion(versions, major, pinned);
  if (!pick) throw new Error('apt offers no nodejs source package (apt-cache showsrc nodejs is empty)');
  return { ...pick, versions };
}

// `apt-get source nodejs=<version>` into `dir` (which must exist); returns the unpacked tree.
function downloadSource(version, dir, log) {
  if (!hasCommand('dpkg-source')) {
    log('  installing dpkg-dev (apt-get source needs dpkg-source to unpack)');
    const res = run('apt-get', ['install', '-y', '--no-install-recommends', 'dpkg-dev'], { timeout: 900e3 });
    if (res.status !== 0) throw new Error(`apt-get install dpkg-dev failed:\n${tail(res.stdout + res.stderr)}`);
  }
  log(`  apt-get source nodejs=${version}`);
  const res = run('apt-get', ['source', '-o', 'APT::Sandbox::User=root', '--only-source', `nodejs=${version}`],
    { cwd: dir, timeout: 1800e3 });
  if (res.status !== 0) throw new Error(`apt-get source failed:\n${tail(res.stdout + res.stderr)}`);
  const trees = fs.readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(dir, d.name, 'test', 'common')));
  if (trees.length !== 1) throw new Error(`apt-get source: expected one unpacked tree in ${dir}`);
  return path.join(dir, trees[0].name);
}

module.exports = {
  OWN_FILE,
  parseOneLine,
  parseDeb822,
  planStages,
  renderStanzas,
  compareDebVersions,
  versionMajor,
  pickVersion,
  resolveSourceVersion,
  downloadSource,
};
