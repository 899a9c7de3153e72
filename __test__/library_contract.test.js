'use strict';
// What popular process libraries (execa, nano-spawn, cross-spawn, workerpool,
// jest-worker, throng) rely on, beyond the documented API: each behaviour is run
// with the built-in module and with rust-cluster, and what a caller can observe
// must be the same. Event-loop liveness (ref counting) needs a process of its own:
// those scenarios run as `node <script> builtin|ours` and their output is compared.
const { test, describe, after } = require('node:test');
const assert = require('node:assert/strict');
const builtin = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { once } = require('node:events');
const ours = require('../lib/child_process');

const OURS = path.join(__dirname, '..', 'lib', 'child_process.js');
const OURS_CLUSTER = path.join(__dirname, '..', 'index.js');
const TIMEOUT = { timeout: 60_000 };
const both = [['builtin', builtin], ['ours', ours]];
const node = process.execPath;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-contract-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function file(name, text) {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, text);
  return p;
}

// A child that stays until told otherwise, listening for messages.
const STAY = file('stay.js', "process.on('message', (m) => { if (m === 'bye') process.exit(0); });\n" +
  'setInterval(() => {}, 1000);\n');
// A child that ends when its channel does.
const UNTIL_DISCONNECT = file('until-disconnect.js', "process.on('disconnect', () => process.exit(4));\n" +
  "process.send('ready');\n");
const LOAD = `const cp = process.argv[2] === 'ours' ? require(${JSON.stringify(OURS)}) : require('node:child_process');\n`;

// Runs `body` (a script using `cp`) once per implementation; returns both outputs.
function runScript(name, body) {
  const script = file(name, LOAD + body);
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_TEST_CONTEXT;
  const out = {};
  for (const [impl] of both) {
    const r = builtin.spawnSync(node, [script, impl], { encoding: 'utf8', env, timeout: 30_000 });
    out[impl] = `${r.stdout}${r.stderr ? `stderr: ${r.stderr}` : ''}exit ${r.status} ${r.signal}`;
  }
  return out;
}

function sameOutput(name, body) {
  const out = runScript(name, body);
  assert.equal(out.ours, out.builtin);
  return out.builtin;
}

// Runs `scenario(cp)` with each implementation; the results must be equal.
async function sameResult(scenario) {
  const results = {};
  for (const [impl, cp] of both) results[impl] = await scenario(cp);
  assert.deepEqual(results.ours, results.builtin);
  return results.builtin;
}

const errorCode = (err) => (err ? err.code : null);

// The arguments of `emitter`'s next `event`. Unlike events.once(), an 'error' event
// meanwhile does not reject: the scenarios record errors themselves.
const next = (emitter, event) => new Promise((resolve) => emitter.once(event, (...args) => resolve(args)));

describe('channel reference counting (subprocess.channel)', () => {
  // The parent unrefs the child process itself, so only the channel can keep the
  // loop alive. An unref'd timer fires only if something else holds the loop.
  const liveness = (mode) => `
const c = cp.fork(${JSON.stringify(STAY)});
c.unref();
const ch = c.channel;
ch.on('unref', () => console.log('unref event'));
${mode}
setTimeout(() => { console.log('loop still alive'); c.kill(); }, 1000).unref();
process.on('exit', () => { console.log('parent exits'); c.kill(); });
`;

  const modes = {
    'nothing: the channel is ref\'d': '',
    'refCounted() then unrefCounted(): unref\'d': 'ch.refCounted(); ch.unrefCounted();',
    'refCounted() twice, unrefCounted() once: still ref\'d': 'ch.refCounted(); ch.refCounted(); ch.unrefCounted();',
    'explicit ref() wins over counting': 'ch.ref(); ch.refCounted(); ch.unrefCounted();',
    'explicit unref() wins over counting': 'ch.unref(); ch.refCounted();',
    'unref() then ref()': 'ch.unref(); ch.ref();',
    'a write that completes later counts, then unrefs': "c.send('x'.repeat(4 << 20), (e) => console.log('sent', e));",
    'a small write keeps the channel as it was': "c.send('x', (e) => console.log('sent', e));",
  };
  for (const [name, mode] of Object.entries(modes)) {
    test(name, TIMEOUT, () => {
      sameOutput(`liveness-${Object.keys(modes).indexOf(name)}.js`, liveness(mode));
    });
  }

  test('members of subprocess.channel', TIMEOUT, async () => {
    await sameResult(async (cp) => {
      const c = cp.fork(STAY);
      const ch = c.channel;
      const shape = {
        instanceofEmitter: ch instanceof require('node:events'),
        methods: ['ref', 'unref', 'refCounted', 'unrefCounted'].map((m) => typeof ch[m]),
        fdType: ['number', 'undefined'].includes(typeof ch.fd),
        same: c.channel === ch,
      };
      c.send('bye');
      await once(c, 'exit');
      shape.afterExit = c.channel;
      return shape;
    });
  });
});

describe('process.channel in a child started by rust-cluster', () => {
  // The child is plain Node; what it sees and how its loop lives must not depend on
  // which module started it.
  const CHILD = file('child-channel.js', `
const ch = process.channel;
const report = {
  connected: process.connected,
  methods: ['ref', 'unref', 'refCounted', 'unrefCounted'].map((m) => typeof ch[m]),
  fd: typeof ch.fd,
  serialization: process.env.NODE_CHANNEL_SERIALIZATION_MODE,
};
const mode = process.argv[2];
if (mode === 'listener-removed') {
  // Node refs the channel per 'message' listener: none left, the child may exit.
  const f = () => {};
  process.on('message', f);
  process.removeListener('message', f);
} else if (mode === 'listener') {
  process.on('message', (m) => { if (m === 'bye') process.disconnect(); });
}
process.send(report);
`);

  for (const mode of ['listener', 'listener-removed']) {
    test(`a child with a 'message' listener ${mode === 'listener' ? 'stays' : 'removed exits on its own'}`, TIMEOUT, () => {
      sameOutput(`child-channel-${mode}.js`, `
const c = cp.fork(${JSON.stringify(CHILD)}, [${JSON.stringify(mode)}]);
let exited = false;
c.on('message', (m) => {
  console.log(JSON.stringify(m));
  // A child that outlives this timer is held by its channel.
  setTimeout(() => {
    console.log(exited ? 'child had exited' : 'child still alive');
    if (c.connected) c.send('bye');
  }, 1500);
});
c.on('exit', (code, signal) => { exited = true; console.log('exit', code, signal); });
`);
    });
  }

  test('cluster workers see the same process.channel and worker object', TIMEOUT, () => {
    const out = runScript('cluster-channel.js', `
const cluster = process.argv[2] === 'ours' ? require(${JSON.stringify(OURS_CLUSTER)}) : require('node:cluster');
if (cluster.isPrimary) {
  const w = cluster.fork();
  w.on('message', (m) => console.log(JSON.stringify(m)));
  w.on('exit', (code, signal) => console.log('worker exit', code, signal, w.exitedAfterDisconnect, w.isDead(), w.isConnected()));
  w.on('disconnect', () => console.log('worker disconnect', w.state));
} else {
  process.send({
    methods: ['ref', 'unref', 'refCounted', 'unrefCounted'].map((m) => typeof process.channel[m]),
    sameProcess: cluster.worker.process === process,
    id: cluster.worker.id,
    connected: cluster.worker.isConnected(),
  });
  cluster.worker.disconnect();
}
`);
    assert.equal(out.ours, out.builtin);
  });
});

describe('send(): callbacks and return values', () => {
  test('under backpressure: true until a large queue, then false; every callback, in order', TIMEOUT, async () => {
    // The child blocks before it reads, so the socket fills.
    const BLOCKED = file('blocked.js', "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 800);\n" +
      "let n = 0; process.on('message', () => { if (++n === 64) process.disconnect(); });\n");
    await sameResult(async (cp) => {
      const c = cp.fork(BLOCKED);
      const chunk = 'x'.repeat(64 * 1024);
      const returns = [];
      const order = [];
      const done = [];
      for (let i = 0; i < 64; i++) {
        returns.push(c.send(chunk, (err) => order.push([i, errorCode(err)])));
        done.push(i);
      }
      await once(c, 'exit');
      return {
        firstTrue: returns[0],
        becameFalse: returns.includes(false),
        // Once false, false while the child has not read (both queue in user space).
        staysFalse: returns.slice(returns.indexOf(false)).every((r) => r === false),
        callbacks: order,
        expected: done.map((i) => [i, null]),
      };
    }).then((r) => assert.deepEqual(r.callbacks, r.expected));
  });

  test('after disconnect: false, the callback gets ERR_IPC_CHANNEL_CLOSED, or an error event', TIMEOUT, async () => {
    await sameResult(async (cp) => {
      const c = cp.fork(file('quiet-until-disconnect.js', "process.on('disconnect', () => process.exit(4));\n"));
      c.disconnect();
      const log = [];
      log.push(['return', c.send('a', (err) => log.push(['cb', errorCode(err)]))]);
      c.on('error', (err) => log.push(['error event', errorCode(err)]));
      log.push(['return', c.send('b')]);
      log.push(['sync end']);
      await next(c, 'exit');
      return log;
    });
  });

  test('the callback runs after send() returns, with null', TIMEOUT, async () => {
    await sameResult(async (cp) => {
      const c = cp.fork(STAY);
      const log = [];
      log.push(['return', c.send({ a: 1 }, (...args) => log.push(['cb', ...args])), 'sync']);
      await new Promise((resolve) => c.send('x', (err) => { log.push(['cb2', err]); resolve(); }));
      c.send('bye');
      await once(c, 'exit');
      return log;
    });
  });
});

describe("'spawn', kill(), exitCode and signalCode", () => {
  test("'spawn' comes after spawn() returns and before any exit; never for a failed spawn", TIMEOUT, async () => {
    await sameResult(async (cp) => {
      const log = [];
      const c = cp.spawn(node, ['-e', 'setTimeout(() => {}, 50)']);
      log.push(['pid is a number', typeof c.pid]);
      c.on('spawn', () => log.push(['spawn', c.exitCode, c.signalCode, c.killed]));
      c.on('exit', (code, signal) => log.push(['exit', code, signal]));
      process.nextTick(() => log.push(['next tick']));
      await once(c, 'close');
      const bad = cp.spawn('no-such-command-rc-contract');
      bad.on('spawn', () => log.push(['bad spawn']));
      const [err] = await once(bad, 'error');
      log.push(['bad error', err.code, bad.pid, bad.exitCode]);
      await once(bad, 'close');
      return log;
    });
  });

  // Not compared with the built-in: there kill() right after a spawn that failed (ENOENT) can
  // reach libuv's handle before it knows, and kill(0, SIGTERM), this process group (seen on
  // Node 20: kill() returns true and the caller gets SIGTERM; on Node 22 false). Ours: false.
  test('kill() on a spawn that failed returns false and kills nothing', TIMEOUT, async () => {
    const bad = ours.spawn('no-such-command-rc-contract');
    const failed = once(bad, 'error');
    assert.deepStrictEqual([bad.kill(), bad.killed], [false, false]);
    assert.strictEqual((await failed)[0].code, 'ENOENT');
  });

  test('kill(): return values, killed, exitCode/signalCode before and after exit', TIMEOUT, async () => {
    await sameResult(async (cp) => {
      const log = [];
      const c = cp.spawn(node, ['-e', 'setInterval(() => {}, 1000)']);
      log.push(['before', c.exitCode, c.signalCode, c.killed]);
      log.push(['kill(0)', c.kill(0), c.killed]);
      log.push(['kill()', c.kill(), c.killed, c.exitCode, c.signalCode]);
      c.on('exit', (code, signal) => log.push(['exit event', code, signal, c.exitCode, c.signalCode]));
      await once(c, 'exit');
      log.push(['after exit kill()', c.kill(), c.kill('SIGKILL')]);
      try {
        c.kill('SIGNOPE');
      } catch (err) {
        log.push(['bad signal throws', err.code]);
      }
      const exit3 = cp.spawn(node, ['-e', 'process.exit(3)']);
      await once(exit3, 'exit');
      log.push(['exit 3', exit3.exitCode, exit3.signalCode]);
      return log;
    });
  });
});

describe('stdio streams', () => {
  test('types and directions of each stdio entry', TIMEOUT, async () => {
    await sameResult(async (cp) => {
      const c = cp.spawn(node, ['-e', '0'], { stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'ignore', 'inherit'] });
      const shape = c.stdio.map((s) => s && {
        ctor: s.constructor.name,
        socket: s instanceof net.Socket,
        readable: s.readable,
        writable: s.writable,
      });
      shape.push({ stdin: c.stdin === c.stdio[0], stdout: c.stdout === c.stdio[1], stderr: c.stderr === c.stdio[2] });
      await once(c, 'close');
      return shape;
    });
  });

  test('destroying stdout while the child writes: events and exit', TIMEOUT, async () => {
    await sameResult(async (cp) => {
      const log = [];
      const c = cp.spawn(node, ['-e', "process.stdout.on('error', () => process.exit(7)); setInterval(() => process.stdout.write('x'.repeat(65536)), 1)"]);
      c.stdout.once('data', () => c.stdout.destroy());
      for (const ev of ['end', 'error', 'close']) c.stdout.on(ev, () => log.push(['stdout', ev]));
      c.on('exit', (code, signal) => log.push(['exit', code, signal]));
      await once(c, 'close');
      log.push(['destroyed', c.stdout.destroyed]);
      return log;
    });
  });

  test("stdin.destroy() ends the child's input; stdin.end() too", TIMEOUT, async () => {
    await sameResult(async (cp) => {
      const log = [];
      for (const how of ['destroy', 'end']) {
        const c = cp.spawn(node, ['-e', "process.stdin.resume(); process.stdin.on('end', () => process.exit(5))"]);
        c.stdin.on('close', () => log.push([how, 'stdin close']));
        const exited = next(c, 'exit');
        const closed = next(c, 'close');
        c.stdin[how]();
        const [code] = await exited;
        log.push([how, 'exit', code]);
        await closed;
      }
      return log;
    });
  });

  // From the main script: in Node the order of stdin's 'close' among the others
  // depends on the loop phase the spawn ran in (see README).
  test('a failed spawn: every pipe ends and closes as with the built-in', TIMEOUT, () => {
    sameOutput('failed-spawn-stdio.js', `
const log = [];
const c = cp.spawn('no-such-command-rc-contract', [], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
log.push(['write returns', c.stdin.write('x', (err) => log.push(['write cb', err && err.code]))]);
c.on('error', (err) => log.push(['error', err.code]));
c.on('close', (code) => log.push(['close', code]));
c.stdio.forEach((s, i) => ['end', 'finish', 'close'].forEach((ev) => s.on(ev, () => log.push([i, ev]))));
process.on('exit', () => console.log(JSON.stringify(log), c.stdio.map((s) => s.readableEnded)));
`);
  });
});

describe('disconnect ordering', () => {
  test('parent disconnect(): connected and channel at once, then the events', TIMEOUT, async () => {
    await sameResult(async (cp) => {
      const log = [];
      const c = cp.fork(UNTIL_DISCONNECT);
      await once(c, 'message');
      for (const ev of ['disconnect', 'exit', 'close']) c.on(ev, (...a) => log.push([ev, ...a]));
      c.disconnect();
      log.push(['sync', c.connected, c.channel]);
      c.on('error', (err) => log.push(['error', err.code]));
      c.disconnect(); // a second time: an error event
      await next(c, 'exit');
      return log;
    });
  });

  test('child disconnect: disconnect, exit, close', TIMEOUT, async () => {
    await sameResult(async (cp) => {
      const log = [];
      const c = cp.fork(file('child-disconnects.js', "process.send('bye', () => process.disconnect());\n"));
      c.on('message', (m) => log.push(['message', m]));
      for (const ev of ['disconnect', 'exit', 'close']) c.on(ev, (...a) => log.push([ev, ...a, c.connected]));
      await once(c, 'close');
      return log;
    });
  });
});

describe('surface', () => {
  // Internal fields (underscore names, symbols) are documented as absent in README.
  function publicMembers(obj) {
    const names = new Set();
    for (let p = obj; p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      for (const k of Object.getOwnPropertyNames(p)) if (!k.startsWith('_')) names.add(k);
    }
    return [...names].sort();
  }

  test('ChildProcess and its channel have the public members of the built-in ones', TIMEOUT, async () => {
    await sameResult(async (cp) => {
      const c = cp.fork(STAY);
      const members = { child: publicMembers(c), channel: publicMembers(c.channel) };
      c.send('bye');
      await once(c, 'close');
      return members;
    });
  });
});
