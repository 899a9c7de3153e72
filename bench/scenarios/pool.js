'use strict';
// 6. Process pools: rust-cluster's pool against the peers users pick for child
// processes (workerpool's 'process' workers, tinypool's 'child_process' runtime,
// jest-worker's child processes), same size, same task file, each in a fresh parent
// process (bench/fixtures/pool_bench.js). In this scenario's rows the "built-in"
// column is the peer named in the row. piscina is left out: it has worker threads only.
const { runFixture } = require('../util');

const PEERS = ['workerpool', 'tinypool', 'jest-worker'];
const WITH_RETRIES = ['jest-worker']; // the peers that re-run a task whose worker died

module.exports = {
  name: 'pool',
  title: '6. Process pool (peer in the built-in column)',
  cluster: false,
  plan(ctx) {
    const { workers, mode } = ctx.settings;
    const smoke = mode === 'smoke';
    const counts = { throughput: smoke ? 500 : 100000, latency: smoke ? 100 : 2000, kill: smoke ? 500 : 10000 };
    const cases = [];
    const caseFor = (impl, what) => {
      const key = `${impl}-${what}`;
      if (!cases.some((c) => c.key === key)) {
        cases.push({
          key,
          impl: impl === 'rust-cluster' ? 'rust-cluster' : 'builtin',
          label: `${impl} ${what}`,
          run: () => runFixture('pool_bench.js', [impl, what, workers, counts[what]], { timeoutMs: 300000 }),
        });
      }
      return key;
    };
    const rows = [];
    for (const peer of PEERS) {
      const p = caseFor(peer, 'throughput');
      const o = caseFor('rust-cluster', 'throughput');
      rows.push({ label: `${counts.throughput} tiny tasks, ${workers} workers: tasks/s vs ${peer}`, unit: 'tasks/s', better: 'higher', builtin: [p, 'tasksPerSec'], ours: [o, 'tasksPerSec'] });
    }
    for (const peer of PEERS) {
      const p = caseFor(peer, 'latency');
      const o = caseFor('rust-cluster', 'latency');
      rows.push({ label: `one task at a time: latency p50 vs ${peer}`, unit: 'µs', better: 'lower', builtin: [p, 'p50Us'], ours: [o, 'p50Us'] });
      rows.push({ label: `one task at a time: latency p99 vs ${peer}`, unit: 'µs', better: 'lower', builtin: [p, 'p99Us'], ours: [o, 'p99Us'] });
    }
    const killNote = (b, o) => (b && o ? `kills: ${b.kills} (peer), ${o.kills} (ours); ` +
      `never settled (counted as lost): ${b.unsettled} (peer), ${o.unsettled} (ours)` : null);
    for (const peer of WITH_RETRIES) {
      const p = caseFor(peer, 'kill');
      const o = caseFor('rust-cluster', 'kill');
      rows.push({ label: `${counts.kill} tasks, a worker SIGKILLed every 200 ms: tasks/s vs ${peer}`, unit: 'tasks/s', better: 'higher', builtin: [p, 'tasksPerSec'], ours: [o, 'tasksPerSec'], note: killNote });
      rows.push({ label: `same: tasks lost vs ${peer}`, unit: 'tasks', better: 'lower', builtin: [p, 'lost'], ours: [o, 'lost'] });
      rows.push({ label: `same: tasks duplicated vs ${peer}`, unit: 'tasks', better: 'lower', builtin: [p, 'duplicated'], ours: [o, 'duplicated'] });
    }
    return { cases, rows };
  },
};
