'use strict';
// Keeps the bench (bench/) from rotting: runs every scenario tiny (`--smoke`: 1 round,
// 0.3 s, small counts) into a temp dir and checks that it measured something on both
// sides and wrote its files. No timing is asserted: the numbers of a smoke run mean nothing.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const cp = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const { parseWrk } = require('../bench/loadgen');
const { svg, markdown } = require('../bench/report');

const rustCluster = (() => {
  try {
    return require('../index.js')._rustCluster === true;
  } catch {
    return false;
  }
})();

test('wrk output is parsed', () => {
  const out = `Running 1s test @ http://127.0.0.1:1/
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.43ms    5.49ms  30.31ms   86.72%
    Req/Sec     2.25k   547.86     3.11k    50.00%
  2292 requests in 1.03s, 214.88KB read
  Socket errors: connect 1, read 7, write 2, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:   2229.89
Transfer/sec:    209.05KB
`;
  assert.deepEqual(parseWrk(out), { rps: 2229.89, requests: 2292, seconds: 1.03, errors: 10 });
  assert.throws(() => parseWrk('Usage: wrk <options> <url>'), /cannot parse wrk output/);
});

test('every bench scenario but the pool\'s runs (--smoke)', { timeout: 180_000 }, () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-bench-smoke-'));
  try {
    // The pool scenarios have a file of their own (bench_pool_smoke.test.js): each file
    // must end within npm test's --test-timeout.
    const r = cp.spawnSync(process.execPath, ['bench/run.js', '--smoke', '--only', 'http,blocked,ipc,spawn,fork,supervise,adaptive', '--out', out], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 170_000,
      env: { ...process.env, NODE_TEST_CONTEXT: undefined },
    });
    const log = `${r.stdout}\n${r.stderr}`;
    assert.equal(r.status, 0, log);
    assert.match(r.stdout, /> 1\.0x means rust-cluster is better/);

    for (const f of ['latest.json', 'latest.svg', 'latest.md']) assert.ok(fs.existsSync(path.join(out, f)), f);
    const stamped = fs.readdirSync(out).filter((f) => /^\d{4}-.*\.json$/.test(f));
    assert.equal(stamped.length, 1, fs.readdirSync(out).join(' '));

    const results = JSON.parse(fs.readFileSync(path.join(out, 'latest.json'), 'utf8'));
    assert.equal(results.meta.node, process.version);
    assert.ok(results.meta.machine.cpuModel && results.meta.machine.cores > 0 && results.meta.machine.kernel);
    assert.match(results.meta.loadgen, /^(wrk|autocannon) /);
    assert.equal(results.meta.cluster.rustCluster, rustCluster);
    assert.deepEqual(results.scenarios.map((s) => s.name), ['http', 'blocked', 'ipc', 'spawn', 'fork', 'supervise', 'adaptive']);

    const clusterCases = new Set(['http', 'blocked', 'adaptive']);
    for (const sc of results.scenarios) {
      assert.ok(sc.rows.length > 0, sc.name);
      for (const row of sc.rows) {
        const where = `${sc.name}: ${row.label}: ${JSON.stringify(sc.errors)}`;
        assert.equal(row.builtin.error, null, where);
        assert.equal(typeof row.builtin.median, 'number', where);
        // rust-cluster's cluster side must work once index.js is rust-cluster's; the
        // primary-RSS row of 'fork' is a cluster measurement too.
        const oursRequired = !(clusterCases.has(sc.name) || row.ours.case === 'ours-rss') || rustCluster;
        if (oursRequired) {
          assert.equal(row.ours.error, null, where);
          assert.equal(typeof row.ours.median, 'number', where);
        }
      }
      for (const ref of sc.references) assert.equal(typeof ref.median, 'number', `${sc.name}: ${ref.label}`);
    }

    // The http scenario got per-worker counts from every worker.
    const http = results.scenarios.find((s) => s.name === 'http');
    const [first] = http.raw['builtin-rr'];
    assert.equal(first.result.closeConns.length, results.meta.settings.workers);
    assert.ok(first.result.closeConns.reduce((a, b) => a + b, 0) > 0);

    // The chart and the table are those of these results.
    assert.equal(fs.readFileSync(path.join(out, 'latest.svg'), 'utf8'), svg(results));
    assert.match(fs.readFileSync(path.join(out, 'latest.md'), 'utf8'), /^\| scenario \| measure \| built-in \| rust-cluster \| ratio \| notes \|$/m);
    assert.equal(markdown(results).split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| ---')).length > 10, true);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
