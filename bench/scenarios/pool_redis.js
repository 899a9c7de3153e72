'use strict';
// 7. The pool across machines: three consumer processes (one worker each) and a
// producer on one redis-server of the bench's own, rust-cluster's Redis mode against
// BullMQ (the "built-in" column; in-process processors, concurrency 64, its
// stalledInterval and lockDuration set to our visibilityTimeout, 5 s). Skipped, with a
// note, where no redis-server can be had (bench/util's redisUnavailable).
const { runFixture, redisUnavailable, startRedisServer } = require('../util');

let server = null;

module.exports = {
  name: 'pool_redis',
  title: '7. Process pool across machines, Redis (BullMQ in the built-in column)',
  cluster: false,
  async setup() {
    if (redisUnavailable() === null) server = await startRedisServer();
  },
  async teardown() {
    if (server) await server.stop();
    server = null;
  },
  plan(ctx) {
    if (server === null) {
      return { cases: [], rows: [], notes: [`pool_redis skipped: ${redisUnavailable()}`] };
    }
    const smoke = ctx.settings.mode === 'smoke';
    const count = smoke ? 300 : 10000;
    const visibilityMs = smoke ? 500 : 5000;
    const cases = [];
    for (const mode of ['throughput', 'kill']) {
      for (const [key, impl] of [['bullmq', 'bullmq'], ['ours', 'rust-cluster']]) {
        cases.push({
          key: `${key}-${mode}`,
          impl: impl === 'rust-cluster' ? impl : 'builtin',
          label: `${impl} redis ${mode}`,
          run: () => runFixture('pool_redis_bench.js', [impl, mode, server.url, count, visibilityMs], { timeoutMs: 300000 }),
        });
      }
    }
    const row = (mode, label, unit, better, metric) => ({ label, unit, better, builtin: [`bullmq-${mode}`, metric], ours: [`ours-${mode}`, metric] });
    return {
      cases,
      rows: [
        row('throughput', `${count} tiny tasks, 3 consumers: tasks/s`, 'tasks/s', 'higher', 'tasksPerSec'),
        row('kill', 'same, one consumer SIGKILLed at 20%: tasks/s', 'tasks/s', 'higher', 'tasksPerSec'),
        row('kill', 'same: from the kill to the last result', 'ms', 'lower', 'stragglerMs'),
        row('kill', 'same: tasks lost', 'tasks', 'lower', 'lost'),
        row('kill', 'same: tasks duplicated', 'tasks', 'lower', 'duplicated'),
      ],
    };
  },
};
