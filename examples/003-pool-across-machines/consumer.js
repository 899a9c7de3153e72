// From seed 003 ("for distributed systems, message brokers like Redis ... can be used for
// cross-machine process communication"): one machine's share of the work. Run it on
// every machine that should work (each forks WORKERS workers, default: one per CPU):
//   REDIS_URL=redis://redis-host:6379 node consumer.js
// Stop it with SIGTERM or Ctrl-C: it finishes the tasks it took, then exits. If it dies
// instead, the tasks it held are run by another consumer after visibilityTimeout.
'use strict';
const { Pool } = require('rust-cluster/pool');
const path = require('node:path');

const pool = new Pool({
  filename: path.join(__dirname, 'task.js'),
  size: Number(process.env.WORKERS) || undefined,
  role: 'consumer',
  queue: {
    redis: process.env.REDIS_URL || 'redis://127.0.0.1:6379',
    name: 'heavy',
    visibilityTimeout: Number(process.env.VISIBILITY_MS) || 30000,
  },
});
console.log(`consumer ${process.pid} ready`);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, async () => {
    await pool.close();
    console.log(`consumer ${process.pid} stopped`);
  });
}
