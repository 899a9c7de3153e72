'use strict';
// 2. The primary's JavaScript blocked for one second under load: how many requests
// still complete. The load is new connections (Connection: close: each has to be
// accepted and handed to a worker; keep-alive connections already in a worker would not
// notice). The primary reports when its block started and ended (t0, t1, CLOCK_MONOTONIC);
// the timed client reports when each response completed; responses in [t0, t1] count.
const { runFixture, sleep } = require('../util');
const { startCluster } = require('./http');

const CASES = [
  ['builtin-rr', 'builtin', 'rr'],
  ['ours-rr', 'rust-cluster', 'rr'],
  ['builtin-none', 'builtin', 'none'],
  ['ours-none', 'rust-cluster', 'none'],
];

async function measure(ctx, impl, policy) {
  const { settings } = ctx;
  const blockMs = settings.blockMs;
  // The client runs: warm-up, a normal window as long as the block, the block, a tail.
  const preMs = blockMs + settings.blockLeadMs;
  const totalMs = preMs + blockMs + 400;
  const { primary, port, ready } = await startCluster(impl, settings.workers, policy);
  try {
    const client = runFixture('http_timed_client.js', [port, settings.blockConnections, totalMs]);
    client.catch(() => {}); // awaited below
    await sleep(preMs);
    const { t0, t1 } = await primary.request({ cmd: 'block', ms: blockMs }, 'blocked', blockMs + 30000);
    const { times, errors, started } = await client;
    const len = t1 - t0;
    const inWindow = (a, b) => times.filter((t) => t >= a && t < b).length;
    const before = t0 - len >= started ? inWindow(t0 - len, t0) : null;
    const during = inWindow(t0, t1);
    return {
      policy: ready.policy,
      blockedMs: len,
      during,
      before,
      after: inWindow(t1, t1 + Math.min(len, 300)),
      keptPct: before ? (100 * during) / before : null,
      errors,
    };
  } finally {
    await primary.stop();
  }
}

module.exports = {
  name: 'blocked',
  title: '2. Primary JS blocked under load',
  cluster: true,
  plan(ctx) {
    const s = (ctx.settings.blockMs / 1000).toString();
    const cases = CASES.map(([key, impl, policy]) => ({
      key,
      impl,
      label: `${impl} ${policy}`,
      run: () => measure(ctx, impl, policy),
    }));
    const note = (b, o) => {
      const f = (r) => (r && r.before != null ? `${r.during}/${r.before}` : '-');
      return `responses during/just before the block: built-in ${f(b)}, ours ${f(o)}`;
    };
    const rows = [
      { label: `rr: responses completed during a ${s} s block (Connection: close)`, unit: 'responses', better: 'higher', builtin: ['builtin-rr', 'during'], ours: ['ours-rr', 'during'], note },
      { label: `none: responses completed during a ${s} s block (Connection: close)`, unit: 'responses', better: 'higher', builtin: ['builtin-none', 'during'], ours: ['ours-none', 'during'], note },
    ];
    return { cases, rows };
  },
};
