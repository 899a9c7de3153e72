// From seed 003: the process that has the work. It needs no workers of its own:
// run() puts each task on the Redis stream, and the result comes back here from
// whichever consumer ran it.
//   REDIS_URL=redis://redis-host:6379 node producer.js
'use strict';
const { Pool } = require('rust-cluster/pool');
const path = require('node:path');

async function main() {
  const pool = new Pool({
    filename: path.join(__dirname, 'task.js'), // what the consumers run (they load their own copy)
    role: 'producer',
    queue: { redis: process.env.REDIS_URL || 'redis://127.0.0.1:6379', name: 'heavy' },
  });
  const sizes = Array.from({ length: Number(process.env.TASKS) || 20 }, (_, i) => 100 + 50 * i);
  const results = await Promise.all(sizes.map((n) => pool.run(n, { name: 'heavyCalculation' })));
  for (const { n, result, host, pid } of results) {
    console.log(`heavyCalculation(${n}) = ${result} (${host}, worker ${pid})`);
  }
  await pool.close();
}

main();
