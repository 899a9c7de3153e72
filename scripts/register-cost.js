#!/usr/bin/env node
'use strict';
// What `-r rust-cluster/register` costs a process that does not need it:
//   node scripts/register-cost.js [count] [register file]
// - child start: fork() of a CommonJS child to its first message, the child with and
//   without `--require register` in NODE_OPTIONS (the parent is the same plain Node);
// - worker thread start: `new Worker(file)` to its first message, in a process started
//   with and without `-r register` (worker threads inherit it).
// Runs alternate (with, without, with, ...); prints medians and the difference.
const cp = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const count = Number(process.argv[2] || 21);
const register = path.resolve(process.argv[3] || path.join(__dirname, '..', 'lib', 'register.js'));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-register-cost-'));
const childFile = path.join(dir, 'child.js');
const workerFile = path.join(dir, 'worker.js');
const timerFile = path.join(dir, 'threads.js');
fs.writeFileSync(childFile, "process.send('up', () => process.disconnect());\n");
fs.writeFileSync(workerFile, "require('node:worker_threads').parentPort.postMessage('up');\n");
fs.writeFileSync(timerFile, `
const { Worker } = require('node:worker_threads');
const n = Number(process.argv[2]);
const times = [];
(function next() {
  if (times.length === n) { console.log(JSON.stringify(times)); return; }
  const t0 = performance.now();
  const w = new Worker(${JSON.stringify(workerFile)});
  w.once('message', () => { times.push(performance.now() - t0); w.terminate().then(next); });
})();
`);

const median = (xs) => [...xs].sort((a, b) => a - b)[(xs.length - 1) >> 1];
const min = (xs) => Math.min(...xs);
const env = (withRegister) => {
  const e = { ...process.env };
  delete e.NODE_OPTIONS;
  if (withRegister) e.NODE_OPTIONS = `--require ${register}`;
  return e;
};

function forkOnce(withRegister) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = cp.fork(childFile, [], { env: env(withRegister), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    c.once('error', reject);
    c.once('message', () => {
      const ms = performance.now() - t0;
      c.once('exit', () => resolve(ms));
    });
  });
}

function workerRun(withRegister, n) {
  const r = cp.spawnSync(process.execPath, [timerFile, String(n)], { env: env(withRegister), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

(async () => {
  const fork = { with: [], without: [] };
  for (let i = 0; i < count; i++) {
    fork.with.push(await forkOnce(true));
    fork.without.push(await forkOnce(false));
  }
  const worker = { with: [], without: [] };
  for (let i = 0; i < 3; i++) {
    worker.with.push(...workerRun(true, Math.ceil(count / 3)));
    worker.without.push(...workerRun(false, Math.ceil(count / 3)));
  }
  fs.rmSync(dir, { recursive: true, force: true });
  // The minimum is the least disturbed by other load on the machine.
  const row = (name, m) => [median, min].map((f) => {
    const a = f(m.without);
    const b = f(m.with);
    return `${a.toFixed(1).padStart(7)} ${b.toFixed(1).padStart(7)} ${(b - a >= 0 ? '+' : '') + (b - a).toFixed(1)}`;
  }).reduce((line, part) => `${line}   ${part}`, name.padEnd(26));
  console.log(`node ${process.version}, ${count} runs each; register: ${register}`);
  console.log(`${''.padEnd(26)}   median: without    with   diff   min: without    with   diff (ms)`);
  console.log(row('fork() to first message', fork));
  console.log(row('Worker to first message', worker));
})();
