'use strict';
// 4. Process creation: spawn('/bin/true') per second, sequential and 8 at a time,
// spawnSync and execSync, from a parent whose heap is empty, holds ~1 GB of Buffers
// (memory outside V8's heap, resident: a fork() must copy its page tables), or ~1 GB of
// JS arrays (inside V8's heap). A C posix_spawn loop, compiled on the fly when `cc` is
// present, is the physical reference (with nothing and with the same amount touched).
const cp = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { FIXTURES, runFixture } = require('../util');

const METHODS = [
  ['spawn-seq', "spawn('/bin/true'), sequential"],
  ['spawn-par8', "spawn('/bin/true'), 8 at a time"],
  ['spawnSync', "spawnSync('/bin/true')"],
  ['execSync', "execSync('/bin/true') (via /bin/sh)"],
];

let tmpDir = null;
let cBinary = null;
let cNote = null;

function runC(mode, durationMs, touchMB) {
  return new Promise((resolve, reject) => {
    cp.execFile(cBinary, [mode, String(durationMs), String(touchMB)], { timeout: durationMs + 60000 }, (err, stdout) => {
      if (err) return reject(err);
      const line = stdout.split('\n').find((l) => l.startsWith('@@BENCH '));
      if (!line) return reject(new Error(`posix_spawn_loop printed no result: ${stdout}`));
      resolve(JSON.parse(line.slice(8)));
    });
  });
}

module.exports = {
  name: 'spawn',
  title: '4. Process creation',
  cluster: false,
  setup() {
    const cc = cp.spawnSync('sh', ['-c', 'command -v cc'], { encoding: 'utf8' });
    if (cc.status !== 0) {
      cNote = 'no C compiler (cc) found: no physical reference in this run';
      return;
    }
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-bench-'));
    cBinary = path.join(tmpDir, 'posix_spawn_loop');
    const r = cp.spawnSync(cc.stdout.trim(), ['-O2', '-o', cBinary, path.join(FIXTURES, 'posix_spawn_loop.c')], { encoding: 'utf8' });
    if (r.status !== 0) {
      cNote = `cc failed: ${r.stderr.trim().split('\n').slice(-3).join(' ')}`;
      cBinary = null;
    }
  },
  teardown() {
    if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
    tmpDir = null;
  },
  plan(ctx) {
    const { spawnMs, heapMB } = ctx.settings;
    const size = heapMB >= 1024 ? `${heapMB / 1024} GB` : `${heapMB} MB`;
    const heaps = [
      ['empty', 'empty heap'],
      ['buffers', `${size} of Buffers`],
      ['jsarray', `${size} of JS arrays`],
    ];
    const cases = [];
    const rows = [];
    for (const [heap, heapLabel] of heaps) {
      const execArgv = heap === 'jsarray' ? [`--max-old-space-size=${heapMB * 2 + 512}`] : [];
      for (const [prefix, impl] of [['builtin', 'builtin'], ['ours', 'rust-cluster']]) {
        cases.push({
          key: `${prefix}-${heap}`,
          impl,
          label: `${impl} ${heapLabel}`,
          run: () => runFixture('spawn_bench.js', [impl, heap, heap === 'empty' ? 0 : heapMB, spawnMs, METHODS.map((m) => m[0]).join(',')],
            { execArgv, timeoutMs: 10 * 60000 }),
        });
      }
      for (const [method, label] of METHODS) {
        rows.push({ label: `${label}, ${heapLabel}`, unit: '/s', better: 'higher', builtin: [`builtin-${heap}`, method], ours: [`ours-${heap}`, method] });
      }
    }
    const references = [];
    if (cBinary) {
      for (const [touch, touchLabel] of [[0, 'nothing else'], [heapMB, `${size} touched`]]) {
        cases.push({
          key: `c-${touch}`,
          impl: 'reference',
          label: `C posix_spawn, ${touchLabel}`,
          run: async () => ({
            'spawn-seq': (await runC('seq', spawnMs, touch)).opsPerSec,
            'spawn-par8': (await runC('par8', spawnMs, touch)).opsPerSec,
          }),
        });
        references.push(
          { label: `C posix_spawn + waitpid, sequential, ${touchLabel}`, unit: '/s', case: [`c-${touch}`, 'spawn-seq'] },
          { label: `C posix_spawn + waitpid, 8 at a time, ${touchLabel}`, unit: '/s', case: [`c-${touch}`, 'spawn-par8'] },
        );
      }
    }
    return { cases, rows, references, notes: cNote ? [cNote] : [] };
  },
};
