'use strict';
// 6. Supervision under load: rolling reload, graceful shutdown, and an app that crashes
// at start. Load: 32 clients sending requests back to back (keep-alive, or Connection:
// close). Reload (2 and 4 workers): failed requests per 10,000 and the reload's duration
// (until every old worker has exited). Shutdown (2 workers; 16 requests held 500 ms by the
// app when SIGTERM arrives): failed requests and the time to exit. For a hand-written
// built-in `cluster` primary, rust-cluster's supervisor, and PM2 (cluster mode; a
// reference). Crash loop: restarts in the first seconds of an app that exits 1 at start.
const { runFixture } = require('../util');

const IMPLS = [['builtin', 'builtin'], ['ours', 'rust-cluster'], ['pm2', 'pm2']];
const LOADS = [['keepalive', 0, 'keep-alive'], ['close', 1, 'Connection: close']];

const failedNote = (b, o) => {
  const f = (r) => (r ? `${r.failed}/${r.requests}` : '-');
  return `failed/requests: built-in ${f(b)}, ours ${f(o)}`;
};

module.exports = {
  name: 'supervise',
  title: '6. Supervision: reload and shutdown under load, crash loop',
  cluster: false,
  plan(ctx) {
    const { settings } = ctx;
    const smoke = settings.mode === 'smoke';
    const leadMs = smoke ? 200 : 1000;
    const crashSeconds = smoke ? 1 : 10;
    // PM2's daemon takes seconds to start and stop: not in a smoke run.
    const impls = smoke ? IMPLS.slice(0, 2) : IMPLS;
    const withPm2 = !smoke;
    const cases = [];
    const rows = [];
    const references = [];
    const measure = (mode, workers, [load, close, loadLabel], metric, unit) => {
      const key = (impl) => `${mode}-${impl}-${workers}-${load}`;
      for (const [impl, name] of impls) {
        cases.push({
          key: key(impl),
          impl: name,
          label: `${name} ${mode} ${workers}w ${load}`,
          run: () => runFixture('supervise_driver.js', [mode, impl, workers, close, leadMs]),
        });
      }
      const what = `${mode}, ${workers} workers, ${loadLabel}`;
      rows.push(
        { label: `${what}: failed requests per 10,000`, unit: '', better: 'lower', builtin: [key('builtin'), 'per10k'], ours: [key('ours'), 'per10k'], note: failedNote },
        { label: `${what}: ${mode} duration`, unit, better: 'lower', builtin: [key('builtin'), metric], ours: [key('ours'), metric] },
      );
      if (withPm2) {
        references.push(
          { label: `pm2 ${mode}, ${workers} workers, ${loadLabel}: failed requests per 10,000`, unit: '', case: [key('pm2'), 'per10k'] },
          { label: `pm2 ${mode}, ${workers} workers, ${loadLabel}: ${mode} duration`, unit, case: [key('pm2'), metric] },
        );
      }
    };
    for (const workers of smoke ? [2] : [2, 4]) {
      for (const load of LOADS) measure('reload', workers, load, 'reloadMs', 'ms');
    }
    for (const load of LOADS) measure('shutdown', 2, load, 'shutdownMs', 'ms');

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
        'failed: errors (a connection closed under a request in flight, refused, reset), non-200 answers, and requests unanswered after 5 s; in the shutdown rows only requests started before the signal are sent',
        ...withPm2 ? ['pm2: PM2 cluster mode (Node\'s built-in cluster in its daemon), PM2_HOME in a temp dir, defaults (kill_timeout 1600 ms); its durations are those of the `pm2 reload` / `pm2 stop` commands'] : [],
      ],
    };
  },
};
