'use strict';
// 5. child_process.fork() to the child's first message (also for an unmodified app,
// which requires node:child_process, run under `-r rust-cluster/register`: the
// children load register too), and the cluster primary's resident memory with 8
// workers (each serving HTTP, round-robin, once all listen).
const path = require('node:path');
const { ROOT, runFixture, sleep } = require('../util');

const REGISTER = path.join(ROOT, 'lib', 'register.js');
const { startCluster } = require('./http');

async function primaryRss(impl, settings) {
  const { primary } = await startCluster(impl, 8, 'rr');
  try {
    await sleep(settings.rssSettleMs);
    const m = await primary.request({ cmd: 'rss' }, 'rss');
    return { rssMB: m.rss / 2 ** 20, heapUsedMB: m.heapUsed / 2 ** 20, externalMB: m.external / 2 ** 20 };
  } finally {
    await primary.stop();
  }
}

module.exports = {
  name: 'fork',
  title: '5. fork() latency and primary memory',
  cluster: false, // the RSS half is a cluster measurement, but --quick keeps to scenarios 1-2
  plan(ctx) {
    const { forkCount } = ctx.settings;
    const cases = [
      { key: 'builtin-fork', impl: 'builtin', label: 'builtin fork', run: () => runFixture('fork_latency.js', ['builtin', forkCount]) },
      { key: 'ours-fork', impl: 'rust-cluster', label: 'rust-cluster fork', run: () => runFixture('fork_latency.js', ['rust-cluster', forkCount]) },
      { key: 'register-fork', impl: 'rust-cluster', label: 'fork under register', run: () => runFixture('fork_latency.js', ['builtin', forkCount], { execArgv: ['-r', REGISTER] }) },
      { key: 'builtin-rss', impl: 'builtin', label: 'builtin cluster primary RSS', run: () => primaryRss('builtin', ctx.settings) },
      { key: 'ours-rss', impl: 'rust-cluster', label: 'rust-cluster cluster primary RSS', run: () => primaryRss('rust-cluster', ctx.settings) },
    ];
    const rows = [
      { label: `fork() to first message, median of ${forkCount}`, unit: 'ms', better: 'lower', builtin: ['builtin-fork', 'medianMs'], ours: ['ours-fork', 'medianMs'] },
      { label: `fork() to first message under register, median of ${forkCount}`, unit: 'ms', better: 'lower', builtin: ['ours-fork', 'medianMs'], ours: ['register-fork', 'medianMs'], note: () => 'left: rust-cluster without register; right: node -r rust-cluster/register' },
      { label: 'cluster primary RSS with 8 workers', unit: 'MB', better: 'lower', builtin: ['builtin-rss', 'rssMB'], ours: ['ours-rss', 'rssMB'] },
    ];
    return { cases, rows };
  },
};
