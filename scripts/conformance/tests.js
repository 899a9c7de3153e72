'use strict';
// Where Node's tests come from: a cached copy of the cluster/child_process tests (plus
// test/common and test/fixtures) taken from the upstream tarball of Debian's nodejs source
// package, kept outside the repository in ~/.cache/rust-cluster/node-tests/<version>/ and
// reused on later runs.

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const apt = require('../private-apt');
const { cacheRoot, sweepStale, downloadDir } = require('../cache');

const TEST_DIRS = ['parallel', 'sequential'];
const TEST_RE = /^test-(cluster|child-process)-.*\.m?js$/;
const MARKER = '.complete.json';

function cacheBase() {
  return path.join(cacheRoot(), 'node-tests');
}

function listTests(root) {
  const tests = [];
  for (const dir of TEST_DIRS) {
    let names = [];
    try { names = fs.readdirSync(path.join(root, 'test', dir)); } catch { continue; }
    for (const name of names.filter((n) => TEST_RE.test(n)).sort()) {
      tests.push({ name: `${dir}/${name}`, dir, file: path.join(root, 'test', dir, name) });
    }
  }
  return tests;
}

function cachedTrees() {
  const base = cacheBase();
  let names = [];
  try { names = fs.readdirSync(base); } catch { return []; }
  const out = [];
  for (const name of names) {
    try {
      const marker = JSON.parse(fs.readFileSync(path.join(base, name, MARKER), 'utf8'));
      out.push({ root: path.join(base, name), ...marker });
    } catch { /* incomplete or foreign directory */ }
  }
  return out;
}

// Unpacks test/common, test/fixtures and the selected test files of a verified upstream
// tarball into the cache, atomically (a marker file is written last, then one rename).
function populateCache(tarball, meta) {
  const base = cacheBase();
  fs.mkdirSync(base, { recursive: true });
  sweepStale(base);
  const final = path.join(base, meta.mismatch ? `${meta.version}-for-node${meta.forMajor}` : meta.version);
  const staging = `${final}.partial-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging);
  // Broad patterns (tar fails on a pattern that matches nothing), then the other tests go.
  const wanted = ['common', 'fixtures', ...TEST_DIRS.map((d) => `${d}/test-*`)];
  const res = spawnSync('tar', ['-xf', tarball, '-C', staging, '--strip-components=1', '--wildcards', '--no-wildcards-match-slash',
    ...wanted.map((w) => `*/test/${w}`)], { encoding: 'utf8', timeout: 600e3 });
  for (const dir of TEST_DIRS) {
    const full = path.join(staging, 'test', dir);
    if (!fs.existsSync(full)) continue;
    for (const name of fs.readdirSync(full)) {
      if (!TEST_RE.test(name)) fs.rmSync(path.join(full, name), { recursive: true, force: true });
    }
  }
  if (res.error || res.status !== 0) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw new Error(`tar: ${res.error?.message || res.stderr.trim().split('\n').pop()}`);
  }
  const count = listTests(staging).length;
  if (!count || !fs.existsSync(path.join(staging, 'test', 'common'))) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw new Error(`${path.basename(tarball)} holds no test/common or no cluster/child_process tests`);
  }
  fs.writeFileSync(path.join(staging, MARKER), JSON.stringify({ ...meta, files: count }, null, 2) + '\n');
  fs.rmSync(final, { recursive: true, force: true });
  fs.renameSync(staging, final);
  return final;
}

// Returns { root, version, source, mismatch, tests }.
//   testsDir: use this Node source tree (has test/common) instead of the cache/apt.
//   refresh:  ask apt again even if the cache has a usable copy.
//   pinned:   the source version the expected-pass list was made with (preferred if available).
function resolveTests({ testsDir, refresh, pinned, log }) {
  const major = Number(process.versions.node.split('.')[0]);
  if (testsDir) {
    const root = path.resolve(testsDir);
    if (!fs.existsSync(path.join(root, 'test', 'common'))) {
      throw new Error(`--tests-dir ${root}: no test/common in it (give the root of a Node source tree)`);
    }
    return { root, version: `local:${root}`, source: 'local tree', mismatch: false, tests: listTests(root) };
  }

  const usable = cachedTrees().filter((c) => c.forMajor === major);
  const cached = usable.find((c) => c.version === pinned) ||
    usable.sort((a, b) => apt.compareDebVersions(a.version, b.version)).at(-1);
  const fromCache = (c) => ({
    root: c.root, version: c.version, source: `cache (${c.root})`, mismatch: c.mismatch, tests: listTests(c.root),
  });
  // A tree of another major is only a stand-in: ask Debian again for the right one each run.
  if (!refresh && cached && !cached.mismatch) return fromCache(cached);
  try {
    return fetchTests(major, pinned, refresh, log);
  } catch (e) {
    if (!(e instanceof apt.Unavailable) || !cached) throw e;
    log(`  (${e.message.split('\n')[0]}; using the cached ${cached.version})`);
    return fromCache(cached);
  }
}

function fetchTests(major, pinned, refresh, log) {
  log(`Fetching Node's tests from Debian's nodejs source package (target: Node ${major})`);
  const { apt: privateApt, versions } = apt.openApt(path.join(cacheRoot(), 'apt'), log);
  log(`  nodejs sources listed: ${versions.join(', ')}`);
  const pick = apt.pickVersion(versions, major, pinned);
  if (pick.mismatch) {
    log(`  WARNING: Debian has no nodejs ${major}.x source; using the closest major, ${pick.candidates[0]} ` +
      '(tests of another major: expect differences that are not ours)');
  }
  const failures = [];
  for (const version of pick.candidates) {
    const existing = cachedTrees().find((c) => c.version === version && c.forMajor === major);
    if (existing && !refresh) {
      return { root: existing.root, version, source: `cache (${existing.root})`,
        mismatch: existing.mismatch, tests: listTests(existing.root) };
    }
    const tmp = downloadDir(cacheRoot());
    try {
      const orig = privateApt.origTarball(version);
      log(`  ${version}: ${orig.name} (${(orig.size / 1048576).toFixed(1)} MiB)`);
      const file = path.join(tmp, orig.name);
      privateApt.download(orig, file);
      const root = populateCache(file, {
        version, forMajor: major, mismatch: pick.mismatch, sha256: orig.sha256, fetchedAt: new Date().toISOString(),
      });
      log(`  cached in ${root}`);
      return { root, version, source: `Debian ${orig.name} (cached in ${root})`,
        mismatch: pick.mismatch, tests: listTests(root) };
    } catch (e) {
      failures.push(`${version}: ${e.message}`);
      log(`  ${version} could not be fetched (${e.message.split('\n')[0]})` +
        `${version !== pick.candidates.at(-1) ? '; trying the next one' : ''}`);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  throw new apt.Unavailable(`no nodejs source tarball could be fetched:\n${failures.join('\n')}`);
}

module.exports = { resolveTests, listTests, populateCache };
