// From seed 000 ("distribute tasks over forked workers, restart the ones that fail") and
// seed 003 ("Worker Process Pool: create a process pool to handle high CPU-load tasks"),
// done with rust-cluster/pool instead of by hand: the pool forks the workers, hands out
// the tasks, replaces a worker that dies and runs its task again on another.
// Not the documents' code (they have no pool to call): their task, performHeavyCalculation,
// is theirs; the task that kills its worker once stands for seed 000's failing worker.
'use strict';
const { Pool } = require('rust-cluster/pool');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

async function main() {
  const pool = new Pool({
    filename: path.join(__dirname, 'task.js'),
    size: Number(process.env.WORKERS) || 3,
    maxRetries: 2, // a task whose worker died runs again, on another worker
  });
  const marker = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pool-example-')), 'crashed');
  const sizes = [100, 200, 300, 400, 500, 600, 700, 800];
  const results = await Promise.all([
    ...sizes.map((n) => pool.run(n, { name: 'heavyCalculation' })),
    pool.run(marker, { name: 'crashOnce' }),
  ]);
  sizes.forEach((n, i) => console.log(`heavyCalculation(${n}) = ${results[i]}`));
  console.log(`crashOnce: ${results[sizes.length]}`);
  const { completed, retried, restarts } = pool.stats();
  console.log(`done: ${completed} results, ${retried} retried, ${restarts} worker(s) replaced`);
  await pool.close();
  fs.rmSync(path.dirname(marker), { recursive: true, force: true });
}

main();
