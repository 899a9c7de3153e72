'use strict';
// Keeps the pool's bench scenarios (bench/scenarios/pool.js, pool_redis.js) from
// rotting: runs them tiny (`--smoke`) and checks that every row measured both sides.
// pool_redis needs a redis-server (bench/util's redisUnavailable): without one (outside
// CI) the scenario reports a note instead of rows. No timing is asserted.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const cp = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { redisUnavailable } = require('../bench/util');

const ROOT = path.resolve(__dirname, '..');

test('the pool scenarios run (--smoke)', { timeout: 115_000 }, () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-bench-pool-smoke-'));
  try {
    const r = cp.spawnSync(process.execPath, ['bench/run.js', '--smoke', '--only', 'pool,pool_redis', '--out', out], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 110_000,
      env: { ...process.env, NODE_TEST_CONTEXT: undefined },
    });
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const results = JSON.parse(fs.readFileSync(path.join(out, 'latest.json'), 'utf8'));
    assert.deepEqual(results.scenarios.map((s) => s.name), ['pool', 'pool_redis']);
    const unavailable = redisUnavailable();
    assert.ok(unavailable === null || process.env.CI !== 'true', `CI=true requires redis-server: ${unavailable}`);
    for (const sc of results.scenarios) {
      if (sc.name === 'pool_redis' && unavailable !== null) {
        assert.match(sc.notes.join(' '), /no redis-server/);
        continue;
      }
      assert.ok(sc.rows.length > 0, sc.name);
      for (const row of sc.rows) {
        const where = `${sc.name}: ${row.label}: ${JSON.stringify(sc.errors)}`;
        for (const side of [row.builtin, row.ours]) {
          assert.equal(side.error, null, where);
          assert.equal(typeof side.median, 'number', where);
        }
      }
    }
    // What the pool must not do, even in a smoke run: lose or duplicate a task.
    for (const sc of results.scenarios) {
      for (const row of sc.rows.filter((x) => /lost|duplicated/.test(x.label))) {
        assert.equal(row.ours.median, 0, `${sc.name}: ${row.label}`);
      }
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
