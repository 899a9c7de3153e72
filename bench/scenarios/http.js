'use strict';
// 1. HTTP hello-world cluster, workers = cores: requests/s with Connection: close and with
// keep-alive for each scheduling policy, and how evenly connections spread over the
// workers (per-worker counts reported by the workers to the primary over IPC at the end
// of each measurement; Jain's fairness index over them).
const { Controlled, freePort, jain, sleep } = require('../util');

const POLICIES = [
  // [case key, impl, policy]; the order is the alternation within a round.
  ['builtin-rr', 'builtin', 'rr'],
  ['ours-rr', 'rust-cluster', 'rr'],
  ['builtin-none', 'builtin', 'none'],
  ['ours-none', 'rust-cluster', 'none'],
  ['ours-reuseport', 'rust-cluster', 'reuseport'],
  ['ours-adaptive', 'rust-cluster', 'adaptive'],
];

// Starts a cluster and returns it once every worker listens.
async function startCluster(impl, workers, policy) {
  const port = await freePort();
  const primary = new Controlled('cluster_http.js', [impl, workers, policy, port], {
    env: { NODE_CLUSTER_SCHED_POLICY: policy },
  });
  try {
    const ready = await primary.wait('ready', 30000);
    return { primary, port, ready };
  } catch (err) {
    await primary.stop(1000);
    throw err;
  }
}

async function measure(ctx, impl, policy) {
  const { settings, loadgen } = ctx;
  const { primary, port, ready } = await startCluster(impl, settings.workers, policy);
  const url = `http://127.0.0.1:${port}/`;
  const result = { policy: ready.policy, workers: ready.pids.length };
  try {
    // One warm-up per cluster (it warms the workers' and the primary's code for both modes).
    if (settings.warmup > 0) {
      await loadgen.run({ url, connections: settings.connections, close: true, seconds: loadgen.duration(settings.warmup) });
    }
    for (const [mode, close] of [['close', true], ['ka', false]]) {
      const load = { url, connections: settings.connections, close };
      // Connections of the previous run still queued in a primary would otherwise be
      // counted in this one.
      await sleep(settings.settleMs);
      await primary.request({ cmd: 'reset' }, 'reset-ok');
      const cpu0 = await primary.request({ cmd: 'cpu' }, 'cpu');
      const r = await loadgen.run({ ...load, seconds: loadgen.duration(settings.duration) });
      const cpu1 = await primary.request({ cmd: 'cpu' }, 'cpu');
      const { workers } = await primary.request({ cmd: 'report' }, 'counts');
      const conns = workers.map((w) => w.conns);
      const reqs = workers.map((w) => w.reqs);
      if (r.requests === 0) throw new Error(`no response at all (${mode})`);
      Object.assign(result, {
        [`${mode}Rps`]: r.rps,
        [`${mode}Jain`]: jain(conns),
        [`${mode}ReqJain`]: jain(reqs),
        [`${mode}PrimaryCpuPct`]: ((cpu1.user + cpu1.system - cpu0.user - cpu0.system) / 1e4) / r.seconds,
        [`${mode}Errors`]: r.errors,
        [`${mode}Conns`]: conns,
        [`${mode}Reqs`]: reqs,
      });
    }
  } finally {
    await primary.stop();
  }
  return result;
}

const primaryCpu = (mode) => (b, o) => {
  const fmt = (r) => (r && typeof r[`${mode}PrimaryCpuPct`] === 'number' ? `${r[`${mode}PrimaryCpuPct`].toFixed(0)}%` : '-');
  return `primary process CPU: built-in ${fmt(b)}, ours ${fmt(o)}`;
};

const spread = (key) => (b, o) => {
  const fmt = (r) => (r && r[key] ? r[key].join('/') : '-');
  return `conns per worker: built-in ${fmt(b)}, ours ${fmt(o)}`;
};

module.exports = {
  name: 'http',
  title: '1. HTTP hello-world cluster',
  cluster: true,
  plan(ctx) {
    const w = ctx.settings.workers;
    const cases = POLICIES.map(([key, impl, policy]) => ({
      key,
      impl,
      label: `${impl} ${policy}`,
      run: () => measure(ctx, impl, policy),
    }));
    const rows = [];
    const pairs = [
      ['rr', 'builtin-rr', 'ours-rr'],
      ['none', 'builtin-none', 'ours-none'],
      ['reuseport (ours) vs rr (built-in default)', 'builtin-rr', 'ours-reuseport'],
      ['adaptive (ours) vs rr (built-in default)', 'builtin-rr', 'ours-adaptive'],
      ['adaptive vs reuseport (both ours)', 'ours-reuseport', 'ours-adaptive'],
    ];
    for (const [name, b, o] of pairs) {
      rows.push(
        { label: `${name}: req/s, Connection: close`, unit: 'req/s', better: 'higher', builtin: [b, 'closeRps'], ours: [o, 'closeRps'], note: primaryCpu('close') },
        { label: `${name}: req/s, keep-alive`, unit: 'req/s', better: 'higher', builtin: [b, 'kaRps'], ours: [o, 'kaRps'], note: primaryCpu('ka') },
        { label: `${name}: Jain fairness over ${w} workers, close`, unit: 'index', better: 'higher', builtin: [b, 'closeJain'], ours: [o, 'closeJain'], note: spread('closeConns') },
        { label: `${name}: Jain fairness over ${w} workers, keep-alive`, unit: 'index', better: 'higher', builtin: [b, 'kaJain'], ours: [o, 'kaJain'], note: spread('kaConns') },
      );
    }
    return { cases, rows };
  },
  startCluster,
};
