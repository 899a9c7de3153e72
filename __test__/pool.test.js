'use strict';
// require('rust-cluster/pool') on one machine: real worker processes, real deaths.
// Task files are written to a temp directory; they are plain Node (no rust-cluster).
const { test, describe, before, after } = require('node:test');
const assert = require('node:assert/strict');
const cp = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { once } = require('node:events');
const { Pool } = require('rust-cluster/pool');

const TIMEOUT = { timeout: 60000 };
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-pool-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function file(name, text) {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
}

const TASKS = file('tasks.js', `
const fs = require('node:fs');
module.exports = (x) => x;
module.exports.pid = () => process.pid;
module.exports.echoPid = (x) => [x, process.pid];
module.exports.add = ([a, b]) => a + b;
module.exports.later = (x) => new Promise((resolve) => setImmediate(resolve, x));
module.exports.hang = () => new Promise(() => {});
module.exports.spin = () => { for (;;); };
class ValidationError extends Error {
  constructor(message, options) { super(message, options); this.name = 'ValidationError'; }
}
module.exports.throwCustom = () => {
  const err = new ValidationError('bad input', { cause: new TypeError('inner') });
  err.code = 'E_BAD';
  err.field = 'email';
  err.details = { min: 3, tags: ['a', 'b'] };
  Object.defineProperty(err, 'hiddenNote', { value: 'x', enumerable: false });
  throw err;
};
module.exports.rejectRange = async () => { throw new RangeError('out of range'); };
module.exports.throwString = () => { throw 'plain string'; };
module.exports.throwObject = () => { throw { reason: 42 }; };
module.exports.exit = (code) => process.exit(code);
module.exports.sigkill = () => process.kill(process.pid, 'SIGKILL');
module.exports.oom = () => { const keep = []; for (;;) keep.push(new Array(1e5).fill(keep.length)); };
// Dies on the first attempt only: a marker file remembers the attempt.
module.exports.dieOnce = (marker) => {
  if (!fs.existsSync(marker)) { fs.writeFileSync(marker, ''); process.exit(7); }
  return 'second time lucky';
};
// Resolves only once 'n' of them run at the same time in this worker.
let gateWaiting = [];
module.exports.gate = (n) => new Promise((resolve) => {
  gateWaiting.push(resolve);
  if (gateWaiting.length === n) { gateWaiting.forEach((r) => r(n)); gateWaiting = []; }
});
let inFlight = 0;
module.exports.track = async () => {
  const now = ++inFlight;
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  inFlight--;
  return now;
};
module.exports.types = (v) => v;
module.exports.wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms, ms));
`);

async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

// Waits (bounded) until `cond()` holds, checking on each timer turn (after
// `refresh()`, if given).
async function waitFor(cond, what, ms = 10000, refresh = async () => {}) {
  const deadline = Date.now() + ms;
  for (await refresh(); !cond(); await refresh()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// Running, not a zombie waiting for its (new) parent to reap it.
function alive(pid) {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('pool', TIMEOUT, () => {
  for (const serialization of ['advanced', 'json']) {
    test(`runs default and named exports (${serialization})`, async () => {
      const pool = new Pool({ filename: TASKS, size: 2, serialization });
      try {
        assert.equal(await pool.run(41), 41);
        assert.equal(await pool.run([2, 3], { name: 'add' }), 5);
        assert.equal(await pool.run(undefined), undefined);
        assert.equal(await pool.run('x', { name: 'later' }), 'x');
        assert.deepEqual(await pool.run({ a: [1, { b: null }] }), { a: [1, { b: null }] });
        if (serialization === 'advanced') {
          const value = { m: new Map([[1, 2n]]), d: new Date(0), s: new Set(['x']), u: undefined };
          assert.deepEqual(await pool.run(value, { name: 'types' }), value);
        } else {
          assert.deepEqual(await pool.run({ d: new Date(0) }, { name: 'types' }),
            { d: '1970-01-01T00:00:00.000Z' });
        }
        const err = await rejection(pool.run(1, { name: 'nope' }));
        assert.equal(err.code, 'ERR_POOL_UNKNOWN_TASK');
        assert.equal(err.name, 'TypeError');
      } finally {
        await pool.close();
      }
    });

    test(`a thrown error keeps name, message, stack, code, cause, own properties (${serialization})`, async () => {
      const pool = new Pool({ filename: TASKS, size: 1, serialization });
      try {
        const pid = await pool.run(null, { name: 'pid' });
        const err = await rejection(pool.run(null, { name: 'throwCustom' }));
        assert.ok(err instanceof Error);
        assert.equal(err.name, 'ValidationError');
        assert.equal(err.message, 'bad input');
        assert.match(err.stack, /^ValidationError: bad input\n\s+at module\.exports\.throwCustom \(.*tasks\.js:\d+:\d+\)/);
        assert.equal(err.code, 'E_BAD');
        assert.equal(err.field, 'email');
        assert.deepEqual(err.details, { min: 3, tags: ['a', 'b'] });
        assert.deepEqual(Object.keys(err), ['code', 'field', 'details']);
        assert.ok(err.cause instanceof TypeError);
        assert.equal(err.cause.message, 'inner');

        const range = await rejection(pool.run(null, { name: 'rejectRange' }));
        assert.ok(range instanceof RangeError);
        assert.equal(range.name, 'RangeError');
        assert.match(range.stack, /^RangeError: out of range\n/);

        assert.equal(await rejection(pool.run(null, { name: 'throwString' })), 'plain string');
        assert.deepEqual(await rejection(pool.run(null, { name: 'throwObject' })), { reason: 42 });
        // An error does not cost the worker.
        assert.equal(await pool.run(null, { name: 'pid' }), pid);
        assert.equal(pool.stats().restarts, 0);
      } finally {
        await pool.close();
      }
    });
  }

  test('an argument or result the channel cannot carry rejects that task only', async () => {
    const pool = new Pool({ filename: TASKS, size: 1 });
    try {
      const sent = await rejection(pool.run({ f() {} }));
      assert.match(sent.message, /could not be cloned/);
      const json = new Pool({ filename: TASKS, size: 1, serialization: 'json' });
      try {
        const big = await rejection(json.run(1n));
        assert.ok(big instanceof TypeError);
      } finally {
        await json.close();
      }
      assert.equal(await pool.run(3), 3);
    } finally {
      await pool.close();
    }
  });

  test('a worker that dies mid-task is replaced and the task re-runs elsewhere', async () => {
    const pool = new Pool({ filename: TASKS, size: 2, maxRetries: 2 });
    try {
      const marker = path.join(dir, 'die-once');
      assert.equal(await pool.run(marker, { name: 'dieOnce' }), 'second time lucky');
      const s = pool.stats();
      assert.equal(s.retried, 1);
      assert.equal(s.restarts, 1);
      assert.equal(s.completed, 1);
      await waitFor(() => pool.stats().workers === 2, 'the replacement');
    } finally {
      await pool.close();
    }
  });

  test('after maxRetries, ERR_POOL_WORKER_DIED with the exit code or the signal', async () => {
    const pool = new Pool({ filename: TASKS, size: 2, maxRetries: 1 });
    try {
      const exited = await rejection(pool.run(5, { name: 'exit' }));
      assert.equal(exited.code, 'ERR_POOL_WORKER_DIED');
      assert.equal(exited.exitCode, 5);
      assert.equal(exited.signal, null);
      assert.equal(exited.attempts, 2);
      assert.match(exited.message, /exited with code 5 \(attempts: 2\)/);

      const killed = await rejection(pool.run(null, { name: 'sigkill' }));
      assert.equal(killed.code, 'ERR_POOL_WORKER_DIED');
      assert.equal(killed.exitCode, null);
      assert.equal(killed.signal, 'SIGKILL');
      const s = pool.stats();
      assert.equal(s.retried, 2);
      assert.equal(s.restarts, 4);
      assert.equal(s.failed, 2);
      assert.equal(await pool.run('still works'), 'still works');
    } finally {
      await pool.close();
    }
  });

  test('a worker out of memory is replaced; the task fails with how it died', async () => {
    const pool = new Pool({
      filename: TASKS, size: 1, execArgv: ['--max-old-space-size=24'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    try {
      const err = await rejection(pool.run(null, { name: 'oom' }));
      assert.equal(err.code, 'ERR_POOL_WORKER_DIED');
      assert.ok(err.signal !== null || err.exitCode !== 0, `${err.signal} ${err.exitCode}`);
      assert.equal(await pool.run(1), 1);
    } finally {
      await pool.close();
    }
  });

  test('a result sent before the worker died counts once, and is not re-run', async () => {
    const tasks = file('answer_then_die.js', `
      process.on('message', (m) => { if (Array.isArray(m) && m[2] === 'die') {
        process.send([1, m[0], 0, 'answered']); process.exit(9); } });
      module.exports = (x) => new Promise(() => {});`);
    const pool = new Pool({ filename: tasks, size: 1, maxRetries: 3 });
    try {
      assert.equal(await pool.run('die'), 'answered');
      await waitFor(() => pool.stats().restarts === 1, 'the replacement');
      assert.deepEqual(pool.stats(), {
        workers: 1, queued: 0, running: 0, completed: 1, failed: 0, retried: 0, restarts: 1,
      });
    } finally {
      await pool.destroy();
    }
  });

  test('workers killed from outside during 3,000 tasks: every task resolves once, correctly', async () => {
    const pool = new Pool({ filename: TASKS, size: 2, maxRetries: 1000 });
    try {
      const N = 3000;
      const killed = new Set();
      let settled = 0;
      const results = [];
      for (let i = 0; i < N; i++) {
        results.push(pool.run(i, { name: 'echoPid' }).then(([x, pid]) => {
          settled++;
          // Kill the worker that answered, every 200 results.
          if (settled % 200 === 0 && !killed.has(pid)) {
            process.kill(pid, 'SIGKILL');
            killed.add(pid);
          }
          return x;
        }));
      }
      const values = await Promise.all(results);
      assert.deepEqual(values, Array.from({ length: N }, (_, i) => i));
      const s = pool.stats();
      assert.equal(s.completed, N);
      assert.equal(s.failed, 0);
      assert.ok(killed.size >= 10, `kills: ${killed.size}`);
      await waitFor(() => pool.stats().restarts === killed.size, 'a restart per kill');
    } finally {
      await pool.close();
    }
  });

  test('only the task a worker was running is charged when it dies; prefetched ones are not', async () => {
    const pool = new Pool({ filename: TASKS, size: 1, maxRetries: 0 });
    try {
      // Tiny tasks first, so that the pool sends several at a time.
      await Promise.all(Array.from({ length: 2000 }, (_, i) => pool.run(i)));
      const poison = pool.run(3, { name: 'exit' });
      const innocent = Array.from({ length: 30 }, (_, i) => pool.run(i));
      const err = await rejection(poison);
      assert.equal(err.code, 'ERR_POOL_WORKER_DIED');
      assert.equal(err.attempts, 1);
      assert.deepEqual(await Promise.all(innocent), Array.from({ length: 30 }, (_, i) => i));
      assert.equal(pool.stats().retried, 0);
    } finally {
      await pool.close();
    }
  });

  test('timeout: a running task\'s worker is killed and replaced', async () => {
    const pool = new Pool({ filename: TASKS, size: 1 });
    try {
      const pid = await pool.run(null, { name: 'pid' });
      const err = await rejection(pool.run(null, { name: 'spin', timeout: 100 }));
      assert.equal(err.code, 'ERR_POOL_TASK_TIMEOUT');
      assert.equal(err.message, 'The task timed out after 100 ms');
      const next = await pool.run(null, { name: 'pid' });
      assert.notEqual(next, pid);
      await waitFor(() => !alive(pid), 'the killed worker to be gone');
      assert.equal(pool.stats().restarts, 1);
    } finally {
      await pool.close();
    }
  });

  test('taskTimeout applies to every task; a queued task times out in the queue', async () => {
    const pool = new Pool({ filename: TASKS, size: 1, taskTimeout: 1000 });
    try {
      const pid = await pool.run(null, { name: 'pid', timeout: 30000 });
      const blocker = rejection(pool.run(null, { name: 'hang', timeout: 30000 }));
      const queued = pool.run('never runs', { timeout: 50 });
      assert.equal(pool.stats().queued, 1);
      const err = await rejection(queued);
      assert.equal(err.code, 'ERR_POOL_TASK_TIMEOUT');
      assert.equal(pool.stats().queued, 0);
      assert.equal(pool.stats().running, 1);
      assert.equal(pool.stats().restarts, 0); // the running worker was left alone
      assert.ok(alive(pid));
      const byDefault = await rejection(pool.run(null, { name: 'hang' }));
      assert.equal(byDefault.message, 'The task timed out after 1000 ms');
      await pool.destroy();
      assert.equal((await blocker).code, 'ERR_POOL_DESTROYED');
    } finally {
      await pool.destroy();
    }
  });

  test('AbortSignal: a queued task leaves the queue, a running one\'s worker is killed', async () => {
    const pool = new Pool({ filename: TASKS, size: 1 });
    try {
      const pid = await pool.run(null, { name: 'pid' });
      const running = new AbortController();
      const queued = new AbortController();
      const a = pool.run(null, { name: 'hang', signal: running.signal });
      const b = pool.run('b', { signal: queued.signal });
      const c = pool.run('c');
      assert.deepEqual([pool.stats().running, pool.stats().queued], [1, 2]);

      queued.abort('changed my mind');
      const errB = await rejection(b);
      assert.equal(errB.name, 'AbortError');
      assert.equal(errB.code, 'ABORT_ERR');
      assert.equal(errB.cause, 'changed my mind');
      assert.equal(pool.stats().queued, 1);
      assert.ok(alive(pid));

      running.abort();
      const errA = await rejection(a);
      assert.equal(errA.name, 'AbortError');
      assert.equal(await c, 'c');
      await waitFor(() => !alive(pid), 'the aborted task\'s worker to be gone');
      assert.equal(pool.stats().restarts, 1);

      const already = await rejection(pool.run(1, { signal: AbortSignal.abort() }));
      assert.equal(already.name, 'AbortError');
    } finally {
      await pool.close();
    }
  });

  test('maxQueue: beyond it (and the slots of workers starting) run() rejects with ERR_POOL_QUEUE_FULL', async () => {
    const pool = new Pool({ filename: TASKS, size: 1, maxQueue: 1 });
    const none = new Pool({ filename: TASKS, size: 1, maxQueue: 0 });
    try {
      // Quick tasks first: the pool then lets a worker prefetch, and a prefetched task is
      // queued as far as maxQueue goes, as stats() counts it.
      for (let i = 0; i < 20; i++) await pool.run(i);
      const running = pool.run(null, { name: 'hang', timeout: 30000 });
      const waiting = pool.run('waits');
      const full = await rejection(pool.run('too many'));
      assert.equal(full.code, 'ERR_POOL_QUEUE_FULL');
      assert.equal(full.message, "The pool's queue is full (maxQueue: 1)");
      assert.equal(pool.stats().queued, 1);
      assert.equal(pool.stats().failed, 0);
      running.catch(() => {});
      waiting.catch(() => {});

      const busy = none.run(null, { name: 'hang', timeout: 30000 });
      assert.equal((await rejection(none.run(1))).code, 'ERR_POOL_QUEUE_FULL');
      busy.catch(() => {});
    } finally {
      await Promise.all([pool.destroy(), none.destroy()]);
    }
  });

  test('close() finishes queued tasks, then the workers exit; run() after it rejects', async () => {
    const pool = new Pool({ filename: TASKS, size: 2 });
    const pids = new Set(await Promise.all([1, 2, 3, 4].map(() => pool.run(null, { name: 'pid' }))));
    const tasks = Array.from({ length: 50 }, (_, i) => pool.run(i, { name: 'later' }));
    const closed = pool.close();
    assert.equal(pool.close(), closed);
    assert.equal((await rejection(pool.run(1))).code, 'ERR_POOL_CLOSED');
    assert.deepEqual(await Promise.all(tasks), Array.from({ length: 50 }, (_, i) => i));
    await closed;
    for (const pid of pids) assert.ok(!alive(pid), `worker ${pid} still alive`);
    assert.equal(pool.stats().workers, 0);
  });

  test('destroy() rejects what is pending and kills the workers now', async () => {
    const pool = new Pool({ filename: TASKS, size: 2 });
    const pids = await Promise.all([1, 2].map(() => pool.run(null, { name: 'pid' })));
    const pending = [pool.run(null, { name: 'hang' }), pool.run(null, { name: 'spin' }), pool.run(1)];
    const outcomes = Promise.allSettled(pending);
    const closing = pool.close(); // destroy() also ends a close() in progress
    await pool.destroy();
    await closing;
    for (const { status, reason } of await outcomes) {
      assert.equal(status, 'rejected');
      assert.equal(reason.code, 'ERR_POOL_DESTROYED');
    }
    for (const pid of pids) assert.ok(!alive(pid));
    assert.equal(pool.stats().failed, 3);
  });

  test('stats() counts workers, queued, running, completed, failed, retried, restarts', async () => {
    const pool = new Pool({ filename: TASKS, size: 2 });
    try {
      assert.deepEqual(Object.keys(pool.stats()),
        ['workers', 'queued', 'running', 'completed', 'failed', 'retried', 'restarts']);
      await Promise.all([pool.run(1), pool.run(2), rejection(pool.run(null, { name: 'rejectRange' }))]);
      assert.deepEqual(pool.stats(), {
        workers: 2, queued: 0, running: 0, completed: 2, failed: 1, retried: 0, restarts: 0,
      });
    } finally {
      await pool.close();
    }
  });

  test('concurrentTasksPerWorker: that many tasks run at once in one worker, no more', async () => {
    const pool = new Pool({ filename: TASKS, size: 1, concurrentTasksPerWorker: 3 });
    try {
      assert.deepEqual(await Promise.all([3, 3, 3].map((n) => pool.run(n, { name: 'gate' }))),
        [3, 3, 3]);
      const seen = await Promise.all(Array.from({ length: 30 }, () => pool.run(null, { name: 'track' })));
      assert.ok(Math.max(...seen) <= 3, `at most 3 at once, saw ${Math.max(...seen)}`);
      const hang = [1, 2, 3].map(() => pool.run(null, { name: 'hang', timeout: 30000 }));
      const waits = pool.run(1);
      const outcomes = Promise.allSettled([...hang, waits]);
      assert.deepEqual([pool.stats().running, pool.stats().queued], [3, 1]);
      await pool.destroy();
      assert.ok((await outcomes).every((o) => o.status === 'rejected'));
    } finally {
      await pool.destroy();
    }
  });

  test('idleTimeout: idle workers above minSize exit; minSize stay', async () => {
    const pool = new Pool({ filename: TASKS, size: 3, minSize: 1, idleTimeout: 100 });
    try {
      assert.equal(pool.stats().workers, 1);
      const tasks = [1, 2, 3].map((x) => pool.run(x, { name: 'later' }));
      assert.equal(pool.stats().workers, 3); // started on demand
      assert.deepEqual(await Promise.all(tasks), [1, 2, 3]);
      await waitFor(() => pool.stats().workers === 1, 'the idle workers to leave');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(pool.stats().workers, 1);
      assert.equal(pool.stats().restarts, 0);
      assert.equal(await pool.run(4), 4);
    } finally {
      await pool.close();
    }
  });

  test('a task file that fails to load rejects run() with its error, without a fork loop; nor does one that exits', async () => {
    const log = path.join(dir, 'forks.log');
    const broken = file('no_function.js', `require('node:fs').appendFileSync(${JSON.stringify(log)}, 'x');
      module.exports = { notAFunction: 1 };`);
    const pool = new Pool({ filename: broken, size: 2, restart: { delay: 200 } });
    try {
      const err = await rejection(pool.run(1));
      assert.equal(err.code, 'ERR_POOL_NO_TASK_FUNCTION');
      assert.ok(err instanceof TypeError);
      // No demand, no forks: only the two workers started with the pool ever ran.
      await new Promise((r) => setTimeout(r, 400));
      assert.ok(fs.readFileSync(log, 'utf8').length <= 2);
      // The next run() probes once, after the backoff delay.
      const t0 = Date.now();
      assert.equal((await rejection(pool.run(2))).code, 'ERR_POOL_NO_TASK_FUNCTION');
      assert.ok(Date.now() - t0 >= 190, `probed after ${Date.now() - t0} ms`);
      assert.ok(fs.readFileSync(log, 'utf8').length <= 3);
      assert.equal(pool.stats().restarts, 0);
    } finally {
      await pool.destroy();
    }

    const exits = new Pool({
      filename: file('exit_at_load.js', 'process.exit(4);'), size: 1, maxRetries: 1, restart: { delay: 50 },
    });
    try {
      const err = await rejection(exits.run(1));
      assert.equal(err.code, 'ERR_POOL_WORKER_DIED');
      assert.equal(err.exitCode, 4);
      assert.equal(err.attempts, 2); // a worker that never got ready counts as a failed start
    } finally {
      await exits.destroy();
    }

    const syntax = new Pool({ filename: file('syntax.js', 'module.exports = (x) => {'), size: 1 });
    try {
      const err = await rejection(syntax.run(1));
      assert.ok(err instanceof SyntaxError);
      assert.match(err.stack, /syntax\.js/);
    } finally {
      await syntax.destroy();
    }

    const missing = new Pool({ filename: path.join(dir, 'does-not-exist.js'), size: 1 });
    try {
      assert.equal((await rejection(missing.run(1))).code, 'MODULE_NOT_FOUND');
    } finally {
      await missing.destroy();
    }
  });

  test('ES module task files: default and named exports', async () => {
    const esm = file('tasks.mjs', 'export default (x) => x * 2;\nexport const triple = (x) => x * 3;\n');
    const pool = new Pool({ filename: new URL(`file://${esm}`), size: 1 });
    try {
      assert.equal(await pool.run(2), 4);
      assert.equal(await pool.run(2, { name: 'triple' }), 6);
    } finally {
      await pool.close();
    }
  });

  test('queued tasks wait in the parent, not in channel writes', async () => {
    const pool = new Pool({ filename: TASKS, size: 2 });
    try {
      await Promise.all([pool.run(0), pool.run(0)]);
      const N = 100000;
      const all = [];
      for (let i = 0; i < N; i++) all.push(pool.run(i));
      const s = pool.stats();
      assert.ok(s.running <= 2, `running ${s.running}`);
      assert.equal(s.queued + s.running, N);
      const values = await Promise.all(all);
      assert.equal(values[N - 1], N - 1);
      assert.equal(pool.stats().completed, N + 2);
    } finally {
      await pool.close();
    }
  });

  test('an idle pool does not keep the process alive', async () => {
    const script = `const { Pool } = require('rust-cluster/pool');
      const pool = new Pool({ filename: ${JSON.stringify(TASKS)}, size: 2 });
      pool.run(21, { name: 'add' }).catch(() => {});
      pool.run([20, 22], { name: 'add' }).then((v) => console.log('result', v));`;
    const out = cp.execFileSync(process.execPath, ['-e', script], {
      cwd: path.resolve(__dirname, '..'), timeout: 20000, encoding: 'utf8',
    });
    assert.equal(out.trim(), 'result 42');
  });

  test('import { Pool } from \'rust-cluster/pool\' (ES module) works too', () => {
    const script = `import { Pool } from 'rust-cluster/pool';
      const pool = new Pool({ filename: ${JSON.stringify(TASKS)}, size: 1 });
      console.log(await pool.run([1, 2], { name: 'add' }));
      await pool.close();`;
    const out = cp.execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: path.resolve(__dirname, '..'), timeout: 20000, encoding: 'utf8',
    });
    assert.equal(out.trim(), '3');
  });

  test('when the parent dies, its workers exit, quietly', async () => {
    const script = `const { Pool } = require('rust-cluster/pool');
      const pool = new Pool({ filename: ${JSON.stringify(TASKS)}, size: 2 });
      Promise.all([pool.run(null, { name: 'pid' }), pool.run(null, { name: 'pid' })]).then((pids) => {
        console.log(pids.join(' '));
        for (let i = 0; i < 4; i++) pool.run(i, { name: 'later' });
        pool.run(null, { name: 'hang' });
      });`;
    const parent = cp.spawn(process.execPath, ['-e', script], {
      cwd: path.resolve(__dirname, '..'), stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    parent.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const [line] = await once(parent.stdout.setEncoding('utf8'), 'data');
    const pids = line.trim().split(' ').map(Number);
    assert.equal(pids.length, 2);
    const closed = once(parent, 'close'); // the workers hold its stderr until they exit
    parent.kill('SIGKILL');
    await closed;
    for (const pid of pids) assert.ok(!alive(pid), `worker ${pid} outlived its parent`);
    assert.equal(stderr, '');
  });

  test('invalid options throw Node-style coded errors', () => {
    const bad = [
      [undefined, 'ERR_INVALID_ARG_TYPE'],
      [{}, 'ERR_INVALID_ARG_TYPE'],
      [{ filename: 5 }, 'ERR_INVALID_ARG_TYPE'],
      [{ filename: 'a\u0000b' }, 'ERR_INVALID_ARG_VALUE'],
      [{ filename: TASKS, size: 0 }, 'ERR_OUT_OF_RANGE'],
      [{ filename: TASKS, size: 1.5 }, 'ERR_OUT_OF_RANGE'],
      [{ filename: TASKS, size: '2' }, 'ERR_INVALID_ARG_TYPE'],
      [{ filename: TASKS, size: 2, minSize: 3 }, 'ERR_OUT_OF_RANGE'],
      [{ filename: TASKS, maxRetries: -1 }, 'ERR_OUT_OF_RANGE'],
      [{ filename: TASKS, taskTimeout: 2 ** 31 }, 'ERR_OUT_OF_RANGE'],
      [{ filename: TASKS, maxQueue: -1 }, 'ERR_OUT_OF_RANGE'],
      [{ filename: TASKS, maxQueue: NaN }, 'ERR_OUT_OF_RANGE'],
      [{ filename: TASKS, concurrentTasksPerWorker: 0 }, 'ERR_OUT_OF_RANGE'],
      [{ filename: TASKS, serialization: 'v8' }, 'ERR_INVALID_ARG_VALUE'],
      [{ filename: TASKS, idleTimeout: -5 }, 'ERR_OUT_OF_RANGE'],
      [{ filename: TASKS, execArgv: '--foo' }, 'ERR_INVALID_ARG_TYPE'],
      [{ filename: TASKS, execArgv: [1] }, 'ERR_INVALID_ARG_TYPE'],
      [{ filename: TASKS, env: 'x' }, 'ERR_INVALID_ARG_TYPE'],
      [{ filename: TASKS, restart: { factor: 0.5 } }, 'ERR_OUT_OF_RANGE'],
      [{ filename: TASKS, restart: { delay: 10, maxDelay: 5 } }, 'ERR_OUT_OF_RANGE'],
    ];
    for (const [options, code] of bad) {
      assert.throws(() => new Pool(options), (err) => {
        assert.equal(err.code, code, `${JSON.stringify(options)}: ${err.message}`);
        assert.match(err.stack, new RegExp(`^\\w+ \\[${code}\\]: `));
        return true;
      });
    }
    const e = (() => {
      try {
        return new Pool({ filename: TASKS, size: 0 });
      } catch (err) {
        return err;
      }
    })();
    assert.equal(e.message, 'The value of "options.size" is out of range. It must be >= 1 && <= 9007199254740991. Received 0');
  });

  test('invalid run() options reject with coded errors', async () => {
    const pool = new Pool({ filename: TASKS, size: 1 });
    try {
      assert.equal((await rejection(pool.run(1, 'fn'))).code, 'ERR_INVALID_ARG_TYPE');
      assert.equal((await rejection(pool.run(1, { name: 3 }))).code, 'ERR_INVALID_ARG_TYPE');
      assert.equal((await rejection(pool.run(1, { signal: {} }))).code, 'ERR_INVALID_ARG_TYPE');
      assert.equal((await rejection(pool.run(1, { timeout: -1 }))).code, 'ERR_OUT_OF_RANGE');
    } finally {
      await pool.close();
    }
  });
});

// --- across machines: the Redis mode ------------------------------------------------
// A redis-server of our own, on a free port, in a temp directory, nothing saved: the
// machine's, or Debian's package unpacked into the user's cache (scripts/redis-server.js).
// Where neither can be had the tests are skipped with the reason, except under CI=true,
// where they must run.

const ROOT = path.resolve(__dirname, '..');
const { redisUnavailable, startRedisServer } = require('../bench/util');
const redisSkip = (process.env.CI !== 'true' && redisUnavailable()) || false; // CI: fail instead

// A consumer in a process of its own: `size` workers, serving until SIGTERM.
function startConsumer(url, name, { size = 1, visibilityTimeout = 1000 } = {}) {
  const script = `const { Pool } = require(${JSON.stringify(path.join(ROOT, 'lib/pool'))});
    const pool = new Pool({ filename: ${JSON.stringify(TASKS)}, size: ${size}, role: 'consumer',
      queue: { redis: ${JSON.stringify(url)}, name: ${JSON.stringify(name)}, visibilityTimeout: ${visibilityTimeout} } });
    process.on('SIGTERM', () => pool.close().then(() => process.exit(0)));
    console.log('ready');`;
  const proc = cp.spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const ready = new Promise((resolve, reject) => {
    proc.on('exit', (code, signal) => reject(new Error(`consumer exited (${code} ${signal})`)));
    proc.stdout.once('data', resolve);
  });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  return { proc, ready, exited };
}

describe('pool across machines (Redis)', { timeout: 120000, skip: redisSkip }, () => {
  let redis;
  const consumers = [];
  let n = 0;
  const queueName = () => `test-${process.pid}-${++n}`;

  before(async () => {
    redis = await startRedisServer(dir); // under CI=true without one: fails here
  });
  after(async () => {
    for (const c of consumers) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await Promise.all(consumers.map((c) => c.exited));
    if (redis) await redis.stop();
  });

  for (const serialization of ['advanced', 'json']) {
    test(`role 'both': results, errors and named exports through Redis (${serialization})`, async () => {
      const pool = new Pool({ filename: TASKS, size: 2, serialization, queue: { redis: redis.url, name: queueName() } });
      try {
        assert.equal(await pool.run(41), 41);
        assert.equal(await pool.run([2, 3], { name: 'add' }), 5);
        assert.equal(await pool.run(undefined), undefined);
        const err = await rejection(pool.run(null, { name: 'throwCustom' }));
        assert.equal(err.name, 'ValidationError');
        assert.equal(err.code, 'E_BAD');
        assert.deepEqual(err.details, { min: 3, tags: ['a', 'b'] });
        assert.match(err.stack, /^ValidationError: bad input\n\s+at module\.exports\.throwCustom/);
        assert.equal(err.cause.message, 'inner');
        const values = await Promise.all(Array.from({ length: 500 }, (_, i) => pool.run(i)));
        assert.deepEqual(values, Array.from({ length: 500 }, (_, i) => i));
        assert.equal(pool.stats().completed, 500 + 3);
        assert.equal(pool.stats().pending, 0);
      } finally {
        await pool.close();
      }
    });
  }

  test('a producer and two consumer processes share the work', async () => {
    const name = queueName();
    const pair = [startConsumer(redis.url, name), startConsumer(redis.url, name)];
    consumers.push(...pair);
    await Promise.all(pair.map((c) => c.ready));
    const producer = new Pool({ filename: TASKS, role: 'producer', queue: { redis: redis.url, name } });
    try {
      assert.equal(producer.stats().workers, 0);
      const results = await Promise.all(Array.from({ length: 2000 }, (_, i) => producer.run(i, { name: 'echoPid' })));
      assert.deepEqual(results.map(([x]) => x), Array.from({ length: 2000 }, (_, i) => i));
      assert.equal(new Set(results.map(([, pid]) => pid)).size, 2, 'both consumers worked');
    } finally {
      await producer.close();
      for (const c of pair) c.proc.kill('SIGTERM');
      assert.deepEqual(await Promise.all(pair.map((c) => c.exited)), [0, 0]);
    }
  });

  test('kill -9 one of three consumers during 10,000 tasks: each resolves once at the producer', async (t) => {
    const name = queueName();
    const three = [0, 1, 2].map(() => startConsumer(redis.url, name, { visibilityTimeout: 1000 }));
    consumers.push(...three);
    await Promise.all(three.map((c) => c.ready));
    const producer = new Pool({ filename: TASKS, role: 'producer', queue: { redis: redis.url, name } });
    try {
      const N = 10000;
      let done = 0;
      let killedAt = 0;
      let last = 0;
      const counts = new Uint32Array(N);
      const t0 = Date.now();
      const all = Array.from({ length: N }, (_, i) => producer.run(i).then((x) => {
        counts[x]++;
        last = Date.now();
        if (++done === 2000) {
          three[0].proc.kill('SIGKILL');
          killedAt = Date.now();
        }
        return x;
      }));
      const values = await Promise.all(all);
      assert.deepEqual(values, Array.from({ length: N }, (_, i) => i));
      assert.ok(counts.every((c) => c === 1));
      assert.equal(await three[0].exited, null);
      assert.ok(killedAt > 0);
      t.diagnostic(`10,000 tasks in ${last - t0} ms; the last result came ${last - killedAt} ms after the kill (visibilityTimeout 1000 ms)`);
      assert.equal(producer.stats().pending, 0);
    } finally {
      await producer.close();
      for (const c of three.slice(1)) c.proc.kill('SIGTERM');
      await Promise.all(three.map((c) => c.exited));
    }
  });

  test('a task that ran twice (its consumer stalled past visibilityTimeout) settles once', async () => {
    const name = queueName();
    const Redis = require('ioredis');
    const admin = new Redis(redis.url);
    const a = startConsumer(redis.url, name, { visibilityTimeout: 300 });
    consumers.push(a);
    await a.ready;
    const producer = new Pool({ filename: TASKS, role: 'producer', queue: { redis: redis.url, name } });
    try {
      const result = producer.run(600, { name: 'wait' });
      // Consumer A has taken the task once it is pending in the group.
      let pending = [];
      const key = `rc-pool:{${name}}:tasks`;
      await waitFor(() => pending.length === 1, 'consumer A to take the task', 10000, async () => {
        pending = await admin.xpending(key, 'consumers', '-', '+', 10).catch(() => []);
      });
      a.proc.kill('SIGSTOP');
      const b = startConsumer(redis.url, name, { visibilityTimeout: 300 });
      consumers.push(b);
      await b.ready;
      assert.equal(await result, 600);
      a.proc.kill('SIGCONT');
      await waitFor(() => producer.stats().dropped === 1, 'the second result to be dropped');
      b.proc.kill('SIGTERM');
      await b.exited;
    } finally {
      a.proc.kill('SIGCONT');
      a.proc.kill('SIGTERM');
      await a.exited;
      await producer.close();
      admin.disconnect();
    }
  });

  test('producer side: timeout, AbortSignal, maxQueue; a consumer-only pool cannot run()', async () => {
    const name = queueName();
    const producer = new Pool({ filename: TASKS, role: 'producer', maxQueue: 2, queue: { redis: redis.url, name } });
    const consumer = new Pool({ filename: TASKS, size: 1, role: 'consumer', queue: { redis: redis.url, name: queueName() } });
    try {
      // Nobody consumes `name`: tasks stay queued in Redis.
      const timedOut = rejection(producer.run(1, { timeout: 100 }));
      const ac = new AbortController();
      const aborted = rejection(producer.run(2, { signal: ac.signal }));
      assert.equal((await rejection(producer.run(3))).code, 'ERR_POOL_QUEUE_FULL');
      ac.abort();
      assert.equal((await aborted).name, 'AbortError');
      assert.equal((await timedOut).code, 'ERR_POOL_TASK_TIMEOUT');
      assert.equal(producer.stats().pending, 0);
      assert.equal((await rejection(consumer.run(1))).code, 'ERR_POOL_NOT_PRODUCER');
    } finally {
      await Promise.all([producer.destroy(), consumer.close()]);
    }
  });

  test('an entry on the stream that is not a task is acknowledged and dropped', async () => {
    const name = queueName();
    const Redis = require('ioredis');
    const admin = new Redis(redis.url);
    const key = `rc-pool:{${name}}:tasks`;
    await admin.xadd(key, '*', 'not', 'a task');
    const pool = new Pool({ filename: TASKS, size: 1, queue: { redis: redis.url, name } });
    try {
      assert.equal(await pool.run(7), 7);
      await waitFor(() => pool.stats().taken === 0, 'the answer to be acknowledged');
      let left = -1;
      await waitFor(() => left === 0, 'the stream to be empty', 10000, async () => {
        left = await admin.xlen(key);
      });
    } finally {
      await pool.close();
      admin.disconnect();
    }
  });

  test('invalid queue options throw coded errors', () => {
    for (const [options, code] of [
      [{ queue: 'redis://x' }, 'ERR_INVALID_ARG_TYPE'],
      [{ queue: {} }, 'ERR_INVALID_ARG_TYPE'],
      [{ queue: { redis: redis.url, name: '' } }, 'ERR_INVALID_ARG_VALUE'],
      [{ queue: { redis: redis.url, visibilityTimeout: 0 } }, 'ERR_OUT_OF_RANGE'],
      [{ queue: { redis: redis.url, prefetch: -1 } }, 'ERR_OUT_OF_RANGE'],
      [{ queue: { redis: redis.url }, role: 'boss' }, 'ERR_INVALID_ARG_VALUE'],
      [{ role: 'producer' }, 'ERR_INVALID_ARG_VALUE'],
    ]) {
      assert.throws(() => new Pool({ filename: TASKS, size: 1, ...options }), { code });
    }
  });
});
