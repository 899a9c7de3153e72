'use strict';
// 9. What SCHED_ADAPTIVE is for, side by side with Node's round-robin and our other
// policies, 2 workers, under the timed client's Connection: close load (every request a new
// connection, every failure counted):
// - chaos: one worker SIGKILLed every 300 ms and re-forked, for chaosMs: failed requests
//   per kill, beside the connections each killed worker had accepted and not answered
//   (counted by the worker as it kills itself): only those may fail, nothing queued;
// - stall: one worker's JavaScript spins for 1 s: responses completed during it, and the
//   p99 latency of the requests under way at some point of it (those still open at the end
//   count as lasting to the end).
// HTTP throughput and fairness under SCHED_ADAPTIVE are rows of scenario 1.
const { runFixture, sleep } = require('../util');
const { startCluster } = require('./http');
const { percentile } = require('../fixtures/common');

const CASES = [
  ['builtin-rr', 'builtin', 'rr'],
  ['ours-rr', 'rust-cluster', 'rr'],
  ['ours-reuseport', 'rust-cluster', 'reuseport'],
  ['ours-adaptive', 'rust-cluster', 'adaptive'],
];
const WORKERS = 2;

async function chaos(ctx, impl, policy) {
  const { settings } = ctx;
  const { primary, port } = await startCluster(impl, WORKERS, policy);
  try {
    const client = runFixture('http_timed_client.js', [port, settings.blockConnections, settings.chaosMs + 500]);
    client.catch(() => {}); // awaited below
    await sleep(200);
    const { kills, held } = await primary.request({ cmd: 'chaos', every: settings.chaosEvery, ms: settings.chaosMs }, 'chaos-done', settings.chaosMs + 30000);
    const { times, errors, kinds, started, ended } = await client;
    return {
      kills,
      kinds,
      failed: errors,
      failedPerKill: kills > 0 ? errors / kills : null,
      heldPerKill: kills > 0 ? held / kills : null,
      rps: (times.length * 1000) / (ended - started),
    };
  } finally {
    await primary.stop();
  }
}

async function stall(ctx, impl, policy) {
  const { settings } = ctx;
  const totalMs = settings.blockLeadMs + settings.blockMs + 1500;
  const { primary, port } = await startCluster(impl, WORKERS, policy);
  try {
    const client = runFixture('http_timed_client.js', [port, settings.blockConnections, totalMs]);
    client.catch(() => {}); // awaited below
    await sleep(settings.blockLeadMs);
    const { t0, t1 } = await primary.request({ cmd: 'stall', ms: settings.blockMs }, 'stalled', settings.blockMs + 30000);
    const { times, sent, errors, ended, open } = await client;
    const latencies = [];
    // Every request that was under way at some point of the stall.
    for (let i = 0; i < sent.length; i++) {
      if (sent[i] < t1 && times[i] >= t0) latencies.push(times[i] - sent[i]);
    }
    for (const t of open) if (t < t1) latencies.push(ended - t);
    return {
      stalledMs: t1 - t0,
      during: times.filter((t) => t >= t0 && t < t1).length,
      p99Ms: percentile(latencies.sort((a, b) => a - b), 99),
      errors,
    };
  } finally {
    await primary.stop();
  }
}

module.exports = {
  name: 'adaptive',
  title: '9. SCHED_ADAPTIVE: killed and stalled workers',
  cluster: false, // --quick keeps to scenarios 1-2: this one takes over a minute
  plan(ctx) {
    const { settings } = ctx;
    const cases = [];
    for (const [key, impl, policy] of CASES) {
      cases.push(
        { key: `${key}-chaos`, impl, label: `${impl} ${policy} chaos`, run: () => chaos(ctx, impl, policy) },
        { key: `${key}-stall`, impl, label: `${impl} ${policy} stall`, run: () => stall(ctx, impl, policy) },
      );
    }
    const s = `${settings.blockMs / 1000} s`;
    const chaosNote = (b, o) => {
      const f = (r) => (r ? `${r.failed} failed (${Object.entries(r.kinds).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}) / ${r.kills} kills, ${r.heldPerKill == null ? '-' : r.heldPerKill.toFixed(2)} unanswered in the killed worker per kill` : '-');
      return `built-in ${f(b)}, ours ${f(o)}`;
    };
    const stallNote = (b, o) => {
      const f = (r) => (r ? `${r.during} done, p99 ${r.p99Ms == null ? '-' : r.p99Ms.toFixed(1)} ms` : '-');
      return `built-in ${f(b)}, ours ${f(o)}`;
    };
    const rows = [];
    for (const [name, b, o] of [
      ['rr', 'builtin-rr', 'ours-rr'],
      ['reuseport (ours) vs rr (built-in)', 'builtin-rr', 'ours-reuseport'],
      ['adaptive (ours) vs rr (built-in)', 'builtin-rr', 'ours-adaptive'],
    ]) {
      rows.push(
        { label: `${name}: failed requests per kill, a worker SIGKILLed every ${settings.chaosEvery} ms`, unit: 'failed/kill', better: 'lower', builtin: [`${b}-chaos`, 'failedPerKill'], ours: [`${o}-chaos`, 'failedPerKill'], note: chaosNote },
        { label: `${name}: p99 latency of requests under way during a ${s} worker stall`, unit: 'ms', better: 'lower', builtin: [`${b}-stall`, 'p99Ms'], ours: [`${o}-stall`, 'p99Ms'], note: stallNote },
        { label: `${name}: responses completed during a ${s} worker stall`, unit: 'responses', better: 'higher', builtin: [`${b}-stall`, 'during'], ours: [`${o}-stall`, 'during'], note: stallNote },
      );
    }
    return { cases, rows };
  },
};
