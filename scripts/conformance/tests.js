'use strict';
// Where Node's tests come from: a cached copy of the cluster/child_process tests (plus
// test/common and test/fixtures) taken from Debian's nodejs source package, kept outside the
// repository in ~/.cache/rust-cluster/node-tests/<version>/ and reused on later runs.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const apt = require('./apt');

const TEST_DIRS = ['parallel', 'sequential'];
const TEST_RE = /^test-(cluster|child-process)-.*\.m?js$/;
const MARKER = '.complete.json';

function cacheBase() {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'rust-cluster', 'node-tests');
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

// Copies test/common, test/fixtures and the selected test files into the cache, atomically.
function populateCache(tree, meta) {
  const base = cacheBase();
  fs.mkdirSync(base, { recursive: true });
  const final = path.join(base, meta.version);
  const staging = `${final}.partial-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  const cp = (rel) => fs.cpSync(path.join(tree, rel), path.join(staging, rel),
    { recursive: true, verbatimSymlinks: true });
  cp('test/common');
  cp('test/fixtures');
  let count = 0;
  for (const dir of TEST_DIRS) {
    fs.mkdirSync(path.join(staging, 'test', dir), { recursive: true });
    for (const name of fs.readdirSync(path.join(tree, 'test', dir)).filter((n) => TEST_RE.test(n))) {
      cp(`test/${dir}/${name}`);
      count++;
    }
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
  if (!refresh && usable.length) {
    const chosen = usable.find((c) => c.version === pinned) ||
      usable.sort((a, b) => apt.compareDebVersions(a.version, b.version)).pop();
    return {
      root: chosen.root, version: chosen.version, source: `cache (${chosen.root})`,
      mismatch: chosen.mismatch, tests: listTests(chosen.root),
    };
  }

  log(`Fetching Node's tests from Debian's nodejs source package (target: Node ${major})`);
  const pick = apt.resolveSourceVersion({ major, pinned, log });
  if (pick.mismatch) {
    log(`  WARNING: no nodejs ${major}.x source package available; using ${pick.candidates[0]} ` +
      `(tests of another major, expect spurious differences)`);
  }
  const failures = [];
  for (const version of pick.candidates) {
    const existing = cachedTrees().find((c) => c.version === version && c.forMajor === major);
    if (existing && !refresh) {
      return { root: existing.root, version, source: `cache (${existing.root})`,
        mismatch: existing.mismatch, tests: listTests(existing.root) };
    }
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-conformance-src-'));
    try {
      const tree = apt.downloadSource(version, tmp, log);
      const root = populateCache(tree, {
        version, forMajor: major, mismatch: pick.mismatch, fetchedAt: new Date().toISOString(),
      });
      log(`  cached in ${root}`);
      return { root, version, source: `apt-get source (cached in ${root})`,
        mismatch: pick.mismatch, tests: listTests(root) };
    } catch (e) {
      failures.push(`${version}: ${e.message}`);
      const why = e.message.split('\n').filter((l) => /^E: /.test(l))[0] || e.message.split('\n')[0];
      log(`  ${version} could not be fetched (${why.trim()})` +
        `${version !== pick.candidates.at(-1) ? '; trying the next one' : ''}`);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  throw new Error(`no nodejs source package could be fetched:\n${failures.join('\n')}`);
}

module.exports = { resolveTests, listTests, cacheBase };
