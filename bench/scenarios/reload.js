'use strict';
// 6. Supervision: a rolling reload under load, and an app that crashes at start.
// Reload: 2 and 4 workers of a hello-world app, 32 clients sending requests back to back
// (keep-alive, or Connection: close) from before the reload until after it: failed
// requests per 10,000 and the reload's duration (until every old worker has exited), for
// a hand-written built-in `cluster` primary (fork, wait for 'listening', disconnect the
// old one), rust-cluster's supervisor and `pm2 reload` (PM2 cluster mode, a reference).
// Crash loop: restarts in the first seconds of an app that exits 1 at start-up.
const { runFixture } = require('../util');

const IMPLS = [['builtin', 'builtin'], ['ours', 'rust-cluster'], ['pm2', 'pm2']];

module.exports = {
  name: 'reload',
  title: '6. Supervision: reload under load, crash loop',
  cluster: false,
  plan(ctx) {
    const { settings } = ctx;
    const leadMs = settings.mode === 'smoke' ? 200 : 1000;
    const crashSeconds = settings.mode === 'smoke' ? 1 : 10;
    const loads = [['keepalive', 0, 'keep-alive'], ['close', 1, 'Connection: close']];
    const sizes = settings.mode === 'smoke' ? [2] : [2, 4];
    // PM2's daemon takes seconds to start and stop: not in a smoke run.
    const impls = settings.mode === 'smoke' ? IMPLS.slice(0, 2) : IMPLS;
    const withPm2 = impls.length === IMPLS.length;
    const cases = [];
    const rows = [];
    const references = [];
    for (const workers of sizes) {
      for (const [load, close, loadLabel] of loads) {
        const key = (impl) => `${impl}-${workers}-${load}`;
        for (const [impl, name] of impls) {
          cases.push({
            key: key(impl),
            impl: name,
            label: `${name} reload ${workers}w ${load}`,
            run: () => runFixture('reload_driver.js', [impl, workers, close, leadMs]),
          });
        }
        const what = `reload, ${workers} workers, ${loadLabel}`;
        const note = (b, o) => {
          const f = (r) => (r ? `${r.failed}/${r.requests}` : '-');
          return `failed/requests: built-in ${f(b)}, ours ${f(o)}`;
        };
        rows.push(
          { label: `${what}: failed requests per 10,000`, unit: '', better: 'lower', builtin: [key('builtin'), 'per10k'], ours: [key('ours'), 'per10k'], note },
          { label: `${what}: reload duration`, unit: 'ms', better: 'lower', builtin: [key('builtin'), 'reloadMs'], ours: [key('ours'), 'reloadMs'] },
        );
        if (withPm2) references.push(
          { label: `pm2 reload, ${workers} workers, ${loadLabel}: failed requests per 10,000`, unit: '', case: [key('pm2'), 'per10k'] },
          { label: `pm2 reload, ${workers} workers, ${loadLabel}: reload duration`, unit: 'ms', case: [key('pm2'), 'reloadMs'] },
        );
      }
    }
    for (const [impl, name] of impls) {
      cases.push({
        key: `crash-${impl}`,
        impl: name,
        label: `${name} crash loop ${crashSeconds} s`,
        run: () => runFixture('crashloop.js', [impl, crashSeconds]),
      });
    }
    rows.push({
      label: `app exiting 1 at start: restarts in ${crashSeconds} s (built-in: on('exit', fork))`,
      unit: '', better: 'lower', builtin: ['crash-builtin', 'restarts'], ours: ['crash-ours', 'restarts'],
    });
    if (withPm2) references.push({ label: `pm2 (defaults): restarts in ${crashSeconds} s`, unit: '', case: ['crash-pm2', 'restarts'] });
    return {
      cases,
      rows,
      references,
      notes: [
        'failed: errors (a connection closed under a request in flight, refused, reset), non-200 answers, and requests unanswered after 5 s',
        'pm2: PM2 cluster mode (Node\'s built-in cluster in its daemon), PM2_HOME in a temp dir, defaults (kill_timeout 1600 ms); its reload duration is the `pm2 reload` command\'s',
      ],
    };
  },
};
