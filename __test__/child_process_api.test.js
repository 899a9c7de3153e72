'use strict';
// The public child_process API compared with Node's built-in module: the same
// calls on both, and the observable results (errors, events, return values)
// must match. Real processes throughout.
const { test, describe } = require('node:test');
const assert = require('node:assert/strict');
const builtin = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const util = require('node:util');
const { once } = require('node:events');
const { pathToFileURL } = require('node:url');
const diagnosticsChannel = require('node:diagnostics_channel');
const ours = require('../lib/child_process');

const node = process.execPath;
const both = [['builtin', builtin], ['ours', ours]];

// The parts of an error a caller can observe (stack frames aside).
function errorShape(err) {
  if (!(err instanceof Error)) return { notAnError: err };
  const shape = {
    name: err.name,
    message: err.message,
    constructor: err.constructor.name,
    toString: String(err),
    stackHead: err.stack.split('\n')[0],
    keys: Object.keys(err),
  };
  for (const key of Object.keys(err)) {
    if (key !== 'error') shape[key] = err[key];
  }
  return shape;
}

function thrown(fn) {
  try {
    fn();
  } catch (err) {
    return errorShape(err);
  }
  return 'did not throw';
}

// The lifecycle events of `child` as they happen, errors reduced to their shape.
function recordEvents(child) {
  const events = [];
  for (const name of ['spawn', 'exit', 'error', 'disconnect']) {
    child.on(name, (...args) =>
      events.push([name, ...args.map((v) => (v instanceof Error ? errorShape(v) : v))]));
  }
  return events;
}

// Runs a child to 'close' and records what a typical caller would see.
function observe(mod, file, args, options, setup) {
  return new Promise((resolve) => {
    const child = mod.spawn(file, args, options);
    const events = recordEvents(child);
    let out = '';
    if (child.stdout) child.stdout.on('data', (d) => { out += d; });
    if (setup) setup(child);
    child.on('close', (...a) => {
      events.push(['close', ...a]);
      resolve({
        events,
        out,
        exitCode: child.exitCode,
        signalCode: child.signalCode,
        killed: child.killed,
        connected: child.connected,
        spawnfile: child.spawnfile,
        spawnargs: child.spawnargs,
        pidType: typeof child.pid,
      });
    });
  });
}

describe('module surface', () => {
  test('exports what the built-in exports (but _forkChild)', () => {
    const expected = Object.keys(builtin).filter((k) => k !== '_forkChild').sort();
    assert.deepEqual(Object.keys(ours).sort(), expected);
    for (const key of expected) {
      assert.equal(typeof ours[key], typeof builtin[key], key);
      assert.equal(ours[key].length, builtin[key].length, `${key}.length`);
    }
  });

  test('ChildProcess is an EventEmitter with the same methods', () => {
    const child = new ours.ChildProcess();
    assert.ok(child instanceof require('node:events'));
    for (const key of ['spawn', 'kill', 'ref', 'unref']) {
      assert.equal(typeof ours.ChildProcess.prototype[key], 'function', key);
    }
    assert.equal(typeof ours.ChildProcess.prototype[Symbol.dispose], 'function');
    const builtinChild = new builtin.ChildProcess();
    const keys = ['connected', 'signalCode', 'exitCode', 'killed', 'spawnfile', 'pid', 'stdin'];
    for (const key of keys) {
      assert.equal(child[key], builtinChild[key], key);
    }
    // Never spawned: nothing to signal (the built-in would signal pid 0 here).
    assert.equal(child.kill(), false);
  });

  test('the child_process diagnostics channel sees new processes', () => {
    const seen = [];
    const onMessage = (msg) => seen.push(msg.process);
    diagnosticsChannel.subscribe('child_process', onMessage);
    try {
      const child = new ours.ChildProcess();
      assert.deepEqual(seen, [child]);
    } finally {
      diagnosticsChannel.unsubscribe('child_process', onMessage);
    }
  });
});

describe('argument validation matches the built-in', () => {
  const signal = new AbortController().signal;
  const cases = {
    'spawn(number)': (cp) => cp.spawn(5),
    'spawn(empty)': (cp) => cp.spawn(''),
    'spawn(NUL in file)': (cp) => cp.spawn('a\u0000b'),
    'spawn(args number)': (cp) => cp.spawn('x', 5),
    'spawn(NUL in args)': (cp) => cp.spawn('x', ['ok', 'b\u0000']),
    'spawn(options string)': (cp) => cp.spawn('x', [], 'opts'),
    'spawn(options null)': (cp) => cp.spawn('x', [], null),
    'spawn(cwd number)': (cp) => cp.spawn('x', { cwd: 5 }),
    'spawn(cwd NUL)': (cp) => cp.spawn('x', { cwd: '/a\u0000' }),
    'spawn(cwd http URL)': (cp) => cp.spawn('x', { cwd: new URL('http://example.com/') }),
    'spawn(detached string)': (cp) => cp.spawn('x', { detached: 'yes' }),
    'spawn(uid float)': (cp) => cp.spawn('x', { uid: 1.5 }),
    'spawn(gid string)': (cp) => cp.spawn('x', { gid: '0' }),
    'spawn(shell number)': (cp) => cp.spawn('x', { shell: 1 }),
    'spawn(shell NUL)': (cp) => cp.spawn('x', { shell: 'sh\u0000' }),
    'spawn(argv0 number)': (cp) => cp.spawn('x', { argv0: 1 }),
    'spawn(windowsHide string)': (cp) => cp.spawn('x', { windowsHide: 'no' }),
    'spawn(windowsVerbatimArguments 1)': (cp) => cp.spawn('x', { windowsVerbatimArguments: 1 }),
    'spawn(env NUL value)': (cp) => cp.spawn('x', { env: { A: 'b\u0000' } }),
    'spawn(env NUL key)': (cp) => cp.spawn('x', { env: { 'A\u0000': 'b' } }),
    'spawn(timeout -1)': (cp) => cp.spawn('x', { timeout: -1 }),
    'spawn(timeout 1.5)': (cp) => cp.spawn('x', { timeout: 1.5 }),
    'spawn(signal object)': (cp) => cp.spawn('x', { signal: {} }),
    'spawn(signal null)': (cp) => cp.spawn('x', { signal: null }),
    'spawn(killSignal unknown)': (cp) => cp.spawn('x', { killSignal: 'SIGNOPE' }),
    'spawn(killSignal number)': (cp) => cp.spawn('x', { killSignal: 999 }),
    'spawn(killSignal object)': (cp) => cp.spawn('x', { killSignal: {} }),
    'spawn(stdio bad string)': (cp) => cp.spawn('x', { stdio: 'bogus' }),
    'spawn(stdio number)': (cp) => cp.spawn('x', { stdio: 5 }),
    'spawn(stdio bad element)': (cp) => cp.spawn('x', { stdio: ['pipe', {}, 'pipe'] }),
    'spawn(stdio string input)': (cp) => cp.spawn('x', { stdio: ['pipe', 'pipe', 'text'] }),
    'spawn(stdio buffer input)': (cp) => cp.spawn('x', { stdio: [Buffer.from('x')] }),
    'spawn(two ipc)': (cp) => cp.spawn('x', { stdio: ['pipe', 'pipe', 'pipe', 'ipc', 'ipc'] }),
    'spawn(serialization bad)': (cp) => cp.spawn('x', { serialization: 'xml' }),
    'exec(number)': (cp) => cp.exec(1),
    'exec(NUL)': (cp) => cp.exec('ls\u0000'),
    'exec(maxBuffer -1)': (cp) => cp.exec('ls', { maxBuffer: -1 }),
    'exec(maxBuffer string)': (cp) => cp.exec('ls', { maxBuffer: '1' }),
    'execFile(callback not fn)': (cp) => cp.execFile('ls', [], {}, 5),
    'execFile(options array)': (cp) => cp.execFile('ls', [], [[]]),
    'execFile(argv0 number)': (cp) => cp.execFile('ls', { argv0: 5 }),
    'execFile(timeout string)': (cp) => cp.execFile('ls', { timeout: '5' }),
    'execFile(killSignal bad)': (cp) => cp.execFile('ls', { killSignal: 'nope' }),
    'execFile(file number)': (cp) => cp.execFile(5),
    'fork(number)': (cp) => cp.fork(5),
    'fork(http URL)': (cp) => cp.fork(new URL('http://example.com/x.js')),
    'fork(NUL)': (cp) => cp.fork('x\u0000.js'),
    'fork(args number)': (cp) => cp.fork('x.js', 5),
    'fork(options string)': (cp) => cp.fork('x.js', [], 'o'),
    'fork(no ipc)': (cp) => cp.fork('x.js', { stdio: ['pipe', 'pipe', 'pipe'] }),
    'fork(execPath NUL)': (cp) => cp.fork('x.js', { execPath: 'n\u0000' }),
    'fork(execArgv NUL)': (cp) => cp.fork('x.js', { execArgv: ['--a\u0000'] }),
    'fork(bad stdio string)': (cp) => cp.fork('x.js', { stdio: 'bogus' }),
    'spawnSync(number)': (cp) => cp.spawnSync(5),
    'spawnSync(ipc)': (cp) => cp.spawnSync('x', { stdio: ['pipe', 'pipe', 'pipe', 'ipc'] }),
    'spawnSync(maxBuffer NaN)': (cp) => cp.spawnSync('x', { maxBuffer: NaN }),
    'spawnSync(timeout string)': (cp) => cp.spawnSync('x', { timeout: '1' }),
    'spawnSync(input number)': (cp) => cp.spawnSync('x', { input: 5 }),
    'spawnSync(input object)': (cp) => cp.spawnSync('x', { input: { a: 1 } }),
    'spawnSync(killSignal bad)': (cp) => cp.spawnSync('x', { killSignal: 'SIGFOO' }),
    'execSync(number)': (cp) => cp.execSync(1),
    'execSync(NUL)': (cp) => cp.execSync('a\u0000'),
    'execFileSync(argv0 bad)': (cp) => cp.execFileSync('x', { argv0: 1 }),
    'execFileSync(options number)': (cp) => cp.execFileSync('x', [], 5),
    'spawn(long stdio string)': (cp) => cp.spawn('x', { stdio: 'a'.repeat(200) }),
    'spawn(timeout -2**40)': (cp) => cp.spawn('x', { timeout: -(2 ** 40) }),
    'spawn(timeout bigint)': (cp) => cp.spawn('x', { timeout: 5n }),
    // Node 26 checks these with its general number validators; earlier majors differ.
    'spawn(uid 2**31)': (cp) => cp.spawn('x', { uid: 2 ** 31 }),
    'spawn(gid bigint)': (cp) => cp.spawn('x', { gid: 0n }),
    'execFile(timeout NaN)': (cp) => cp.execFile('ls', { timeout: NaN }),
    'exec(maxBuffer NaN)': (cp) => cp.exec('ls', { maxBuffer: NaN }),
    'spawnSync(maxBuffer -Infinity)': (cp) => cp.spawnSync('x', { maxBuffer: -Infinity }),
  };
  // How each kind of received value is described in ERR_INVALID_ARG_TYPE.
  const received = [5, -0, NaN, -Infinity, 5n, true, Symbol('s'), () => {}, function named() {},
    {}, Object.create(null), [], new Date(0), "it's", 'x'.repeat(40), class Foo {}];
  for (const value of received) {
    // Strings are valid files; they go where a boolean is expected instead.
    cases[`received ${util.inspect(value)}`] = typeof value === 'string' ?
      (cp) => cp.spawn('x', { detached: value }) : (cp) => cp.spawn(value);
  }
  for (const [name, call] of Object.entries(cases)) {
    test(name, () => {
      const expected = thrown(() => call(builtin));
      assert.notEqual(expected, 'did not throw', 'the case must throw with the built-in');
      assert.deepEqual(thrown(() => call(ours)), expected);
    });
  }

  test('maxMessageSize (ours) must be a positive integer', () => {
    const stdio = ['pipe', 'pipe', 'pipe', 'ipc'];
    const codes = [0, -1, 1.5, 2 ** 32, '1'].map((maxMessageSize) =>
      thrown(() => ours.spawn('x', { stdio, maxMessageSize })).code);
    assert.deepEqual(codes, ['ERR_OUT_OF_RANGE', 'ERR_OUT_OF_RANGE', 'ERR_OUT_OF_RANGE',
      'ERR_OUT_OF_RANGE', 'ERR_INVALID_ARG_TYPE']);
  });

  test('kill() signal validation', async () => {
    const seen = [];
    for (const [, cp] of both) {
      const child = cp.spawn('sleep', ['10'], { stdio: 'ignore' });
      const closed = once(child, 'close');
      const results = ['SIGNOPE', 'sigterm ', 12345, {}, -1]
        .map((sig) => thrown(() => child.kill(sig)));
      results.push(child.kill(0));
      child.kill('sigkill'); // names are case-insensitive
      await closed;
      seen.push(results);
    }
    assert.deepEqual(seen[1], seen[0]);
    assert.deepEqual(seen[1].map((r) => r.code ?? r), [
      'ERR_UNKNOWN_SIGNAL', 'ERR_UNKNOWN_SIGNAL', 'ERR_UNKNOWN_SIGNAL', 'ERR_UNKNOWN_SIGNAL',
      'ERR_UNKNOWN_SIGNAL', true]);
  });
});

describe('spawn', () => {
  test('successful run: events, properties and output', async () => {
    const args = ['-c', 'echo out; echo err >&2; exit 3'];
    const [a, b] = await Promise.all(both.map(([, cp]) => observe(cp, 'sh', args)));
    assert.deepEqual(b, a);
    assert.deepEqual(b.events, [['spawn'], ['exit', 3, null], ['close', 3, null]]);
    assert.equal(b.out, 'out\n');
    assert.deepEqual(b.spawnargs, ['sh', ...args]);
  });

  test('ENOENT is emitted, not thrown, with Node\'s error shape', async () => {
    const results = await Promise.all(both.map(([, cp]) => observe(cp, 'no-such-cmd-xyz',
      ['a', 'b'], undefined, (child) => {
        assert.equal(child.pid, undefined);
        assert.ok(child.stdout instanceof net.Socket);
        assert.ok(child.stdin instanceof net.Socket);
        // Writing to the dead child's stdin must not blow up the parent.
        child.stdin.write('ignored', () => {});
      })));
    assert.deepEqual(results[1], results[0]);
    const [error] = results[1].events.find(([name]) => name === 'error').slice(1);
    assert.equal(error.message, 'spawn no-such-cmd-xyz ENOENT');
    assert.equal(error.errno, -os.constants.errno.ENOENT);
    assert.equal(error.syscall, 'spawn no-such-cmd-xyz');
    assert.equal(error.path, 'no-such-cmd-xyz');
    assert.deepEqual(error.spawnargs, ['a', 'b']);
    assert.equal(results[1].exitCode, -os.constants.errno.ENOENT);
  });

  test('EACCES for a file that is not executable', async () => {
    const file = path.join(os.tmpdir(), `rc-noexec-${process.pid}`);
    fs.writeFileSync(file, 'echo hi\n', { mode: 0o644 });
    try {
      const [a, b] = await Promise.all(both.map(([, cp]) => observe(cp, file, [])));
      assert.deepEqual(b, a);
      assert.equal(b.events[0][1].code, 'EACCES');
    } finally {
      fs.unlinkSync(file);
    }
  });

  test('a nonexistent cwd fails like the built-in', async () => {
    const cwd = path.join(os.tmpdir(), `rc-missing-${process.pid}`);
    const [a, b] = await Promise.all(both.map(([, cp]) => observe(cp, 'pwd', [], { cwd })));
    assert.deepEqual(b, a);
  });

  test('killed by a signal: exit(null, name), killed flag, kill after exit', async () => {
    for (const sig of ['SIGKILL', 'SIGTERM', 'SIGINT', 9]) {
      const killOnSpawn = (child) => child.once('spawn', () => assert.equal(child.kill(sig), true));
      const results = await Promise.all(both.map(([, cp]) => observe(cp, 'sleep', ['10'],
        { stdio: 'ignore' }, killOnSpawn)));
      assert.deepEqual(results[1], results[0]);
      assert.equal(results[1].killed, true);
    }
    const child = ours.spawn('true');
    await once(child, 'exit');
    assert.equal(child.kill(), false);
    assert.equal(child.killed, false);
  });

  test('signal names reported for deaths by signal', async () => {
    for (const sig of ['ABRT', 'IO', 'SEGV', 'USR1', 'HUP']) {
      const script = `kill -${sig} $$`;
      const [a, b] = await Promise.all(both.map(([, cp]) => observe(cp, 'sh', ['-c', script])));
      assert.deepEqual(b, a);
    }
  });

  test('stdio shapes match the built-in', async () => {
    const layouts = [
      undefined, 'pipe', 'ignore', 'inherit', 'overlapped',
      ['pipe', 'ignore', 'inherit'], ['ignore'], [null, null, null, 'pipe'],
      ['pipe', 'pipe', 'pipe', 'pipe', 'ignore', 'pipe'], [0, 1, 2], [-1, 'pipe'],
      [process.stdin, process.stdout, process.stderr],
    ];
    const shape = (s) => s && {
      ctor: s.constructor.name, readable: s.readable, writable: s.writable,
      allowHalfOpen: s.allowHalfOpen, destroyed: s.destroyed,
    };
    for (const stdio of layouts) {
      const seen = [];
      for (const [, cp] of both) {
        const child = cp.spawn('true', [], { stdio });
        seen.push({
          stdin: shape(child.stdin), stdout: shape(child.stdout), stderr: shape(child.stderr),
          stdio: child.stdio.map(shape),
        });
        await once(child, 'close');
      }
      assert.deepEqual(seen[1], seen[0], util.inspect(stdio));
    }
  });

  test('stdin is written, stdout/stderr read, extra pipes are duplex', async () => {
    const script = 'read line; echo "got $line"; echo to-err >&2; echo to-three >&3; ' +
      'read x <&3; echo "three said $x"';
    for (const [, cp] of both) {
      const child = cp.spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      let three = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { err += d; });
      child.stdio[3].on('data', (d) => {
        three += d;
        child.stdio[3].end('back\n');
      });
      child.stdin.end('hello\n');
      const [code] = await once(child, 'close');
      assert.equal(code, 0);
      assert.equal(out, 'got hello\nthree said back\n');
      assert.equal(err, 'to-err\n');
      assert.equal(three, 'to-three\n');
    }
  });

  // The built-in on Node 22 and later never emits 'close' here (a 'data' listener added
  // after 'exit' leaves its stdout stuck); rust-cluster delivers the output as Node 20 does.
  test("output can still be read from an 'exit' listener", async () => {
    const majorNow = Number(process.versions.node.split('.')[0]);
    for (const [, cp] of majorNow >= 22 ? both.filter(([name]) => name === 'ours') : both) {
      const child = cp.spawn(node, ['-e', 'process.stdout.write("x".repeat(200000))']);
      let size = 0;
      child.on('exit', () => child.stdout.on('data', (d) => { size += d.length; }));
      await once(child, 'close');
      assert.equal(size, 200000);
    }
  });

  test("unread output does not hold back 'close'", async () => {
    // More than a stream buffers by itself, less than fills the pipe.
    for (const [, cp] of both) {
      const child = cp.spawn(node, ['-e', 'process.stdout.write("x".repeat(50000))']);
      const [code] = await once(child, 'close');
      assert.equal(code, 0);
    }
  });

  test('options: cwd (string and file URL), env, argv0, shell', async () => {
    const tmp = fs.realpathSync(os.tmpdir());
    const runs = [
      ['pwd', [], { cwd: tmp }],
      ['pwd', [], { cwd: pathToFileURL(tmp) }],
      ['sh', ['-c', 'echo "$FOO-$BAR"'], { env: { FOO: 'foo', BAR: 1, UNSET: undefined } }],
      [node, ['-e', 'console.log(process.argv0)'], { argv0: 'custom-argv0' }],
      ['echo $((1 + 2)) "$0"', [], { shell: true }],
      ['echo', ['a', 'b'], { shell: '/bin/bash' }],
      ['echo', ['$HOME'], {}],
    ];
    for (const [file, args, options] of runs) {
      const [a, b] = await Promise.all(both.map(([, cp]) => observe(cp, file, args, options)));
      assert.deepEqual(b, a, `${file} ${util.inspect(options)}`);
    }
  });

  test('detached puts the child in a new session', async () => {
    const child = ours.spawn('cat', ['/proc/self/stat'], { detached: true });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    await once(child, 'close');
    const fields = out.slice(out.lastIndexOf(')') + 2).split(' ');
    assert.equal(Number(fields[2]), child.pid, 'process group');
    assert.equal(Number(fields[3]), child.pid, 'session');
  });

  test('uid and gid', { skip: process.getuid() !== 0 && 'needs root' }, async () => {
    const child = ours.spawn('id', ['-u', '-r'], { uid: 65534, gid: 65534 });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    await once(child, 'close');
    assert.equal(out.trim(), '65534');
  });

  test('timeout kills with killSignal', async () => {
    const opts = { stdio: 'ignore', timeout: 50, killSignal: 'SIGINT' };
    const [a, b] = await Promise.all(both.map(([, cp]) => observe(cp, 'sleep', ['10'], opts)));
    assert.deepEqual(b, a);
    assert.deepEqual(b.events.at(-1), ['close', null, 'SIGINT']);
  });

  test('AbortSignal: abort after spawn and already aborted', async () => {
    for (const early of [false, true]) {
      const results = await Promise.all(both.map(([, cp]) => {
        const controller = new AbortController();
        if (early) controller.abort('why');
        return observe(cp, 'sleep', ['10'], { stdio: 'ignore', signal: controller.signal },
          (child) => child.once('spawn', () => controller.abort('why')));
      }));
      assert.deepEqual(results[1], results[0]);
      const error = results[1].events.find(([name]) => name === 'error')[1];
      assert.equal(error.name, 'AbortError');
      assert.equal(error.code, 'ABORT_ERR');
    }
  });

  test('the abort error carries the reason as cause', async () => {
    const controller = new AbortController();
    const child = ours.spawn('sleep', ['10'], { signal: controller.signal, stdio: 'ignore' });
    const reason = new Error('stop');
    child.once('spawn', () => controller.abort(reason));
    const [err] = await once(child, 'error');
    assert.equal(err.cause, reason);
  });

  test('unref() lets the parent exit while the child runs; ref() keeps it', async () => {
    const lib = path.join(__dirname, '..', 'lib', 'child_process');
    const script = (refAgain) => `
      const cp = require(${JSON.stringify(lib)});
      const child = cp.spawn('sleep', ['${refAgain ? '0.3' : '30'}'], { stdio: 'ignore' });
      child.unref();
      ${refAgain ? 'child.ref(); child.on("exit", () => console.log("exit seen"));' :
    'console.log(child.pid);'}
    `;
    // A parent held by its child would be killed by the timeout and reject.
    const { stdout } = await util.promisify(builtin.execFile)(node, ['-e', script(false)],
      { timeout: 10000 });
    const pid = Number(stdout);
    try {
      process.kill(pid, 0); // still running after the parent left
      process.kill(pid, 'SIGKILL');
    } catch (err) {
      assert.fail(`the child should outlive its parent: ${err.code}`);
    }
    const again = await util.promisify(builtin.execFile)(node, ['-e', script(true)]);
    assert.equal(again.stdout, 'exit seen\n');
  });

  test('Symbol.dispose kills a running child', async () => {
    const child = ours.spawn('sleep', ['10'], { stdio: 'ignore' });
    child[Symbol.dispose]();
    const [code, signal] = await once(child, 'exit');
    assert.deepEqual([code, signal, child.killed], [null, 'SIGTERM', true]);
  });

  test('a stream passed as stdio stops being read by the parent', async () => {
    const [left, right] = await socketPair();
    try {
      const child = ours.spawn('sh', ['-c', 'read x; echo "child got $x"'],
        { stdio: [right, 'pipe', 'inherit'] });
      assert.equal(right.isPaused(), true);
      left.write('hi\n');
      let out = '';
      child.stdout.on('data', (d) => { out += d; });
      await once(child, 'close');
      assert.equal(out, 'child got hi\n');
    } finally {
      left.destroy();
      right.destroy();
    }
  });
});

// A connected pair of unix sockets (a real fd-backed stream to hand to a child).
async function socketPair() {
  const file = path.join(os.tmpdir(), `rc-pair-${process.pid}-${Date.now()}.sock`);
  const server = net.createServer();
  await new Promise((resolve) => server.listen(file, resolve));
  const accepted = once(server, 'connection');
  const left = net.connect(file);
  await once(left, 'connect');
  const [right] = await accepted;
  server.close();
  fs.rmSync(file, { force: true });
  return [left, right];
}

describe('exec and execFile', () => {
  // Runs exec/execFile on a module and records the callback's arguments.
  function run(cp, method, ...args) {
    return new Promise((resolve) => {
      const child = cp[method](...args, (err, stdout, stderr) => {
        resolve({ err: err && errorShape(err), stdout, stderr, killed: child.killed });
      });
    });
  }
  const cases = [
    ['exec', 'echo out; echo err >&2'],
    ['exec', 'echo out; echo err >&2; exit 7'],
    ['exec', 'printf "\\377x"', { encoding: 'buffer' }],
    ['exec', 'printf "\\377x"', { encoding: 'latin1' }],
    ['exec', 'printf abc', { encoding: 'not-an-encoding' }],
    ['exec', 'kill -TERM $$'],
    ['exec', 'echo $0', { shell: '/bin/bash' }],
    // The shell outlives the overflow, so the kill that follows always lands.
    ['exec', 'yes | head -c 5000; exec sleep 10', { maxBuffer: 100 }],
    ['exec', 'yes | head -c 5000 >&2; exec sleep 10', { maxBuffer: 100, encoding: 'buffer' }],
    ['exec', 'echo fine', { maxBuffer: Infinity }],
    ['exec', 'exec sleep 10', { timeout: 50 }],
    ['exec', 'exec sleep 10', { timeout: 50, killSignal: 'SIGKILL' }],
    ['execFile', 'echo', ['a', 'b']],
    ['execFile', 'sh', ['-c', 'exit 2']],
    ['execFile', 'no-such-cmd-xyz', ['x']],
    ['execFile', node, ['-e', 'process.stdout.write("\u00e9")'], { encoding: 'hex' }],
    ['execFile', 'pwd', { cwd: '/' }],
  ];
  for (const [method, ...args] of cases) {
    test(`${method} ${util.inspect(args)}`, async () => {
      const [a, b] = await Promise.all(both.map(([, cp]) => run(cp, method, ...args)));
      assert.deepEqual(b, a);
    });
  }

  test('exec without a callback still runs', async () => {
    const child = ours.exec('exit 0');
    const [code] = await once(child, 'close');
    assert.equal(code, 0);
  });

  test('util.promisify resolves {stdout, stderr} and rejects with both attached', async () => {
    for (const [, cp] of both) {
      const exec = util.promisify(cp.exec);
      const execFile = util.promisify(cp.execFile);
      const ok = exec('echo hi; echo e >&2');
      assert.ok(ok.child instanceof cp.ChildProcess);
      assert.deepEqual(await ok, { stdout: 'hi\n', stderr: 'e\n' });
      assert.deepEqual(await execFile('echo', ['x']), { stdout: 'x\n', stderr: '' });
      await assert.rejects(execFile('sh', ['-c', 'echo o; echo e >&2; exit 4']), (err) => {
        assert.deepEqual([err.code, err.stdout, err.stderr, err.cmd],
          [4, 'o\n', 'e\n', 'sh -c echo o; echo e >&2; exit 4']);
        return true;
      });
    }
  });

  test('exec with an AbortSignal reports the AbortError', async () => {
    const [a, b] = await Promise.all(both.map(([, cp]) => {
      const controller = new AbortController();
      const p = run(cp, 'exec', 'exec sleep 10', { signal: controller.signal });
      setImmediate(() => controller.abort());
      return p;
    }));
    assert.deepEqual(b, a);
    assert.equal(b.err.name, 'AbortError');
  });
});

describe('fork', () => {
  test('the child gets NODE_CHANNEL_FD and the serialization mode', async () => {
    for (const serialization of [undefined, 'advanced']) {
      const script = 'echo "$NODE_CHANNEL_FD $NODE_CHANNEL_SERIALIZATION_MODE"';
      const stdio = ['pipe', 'pipe', 'pipe', 'pipe', 'ipc'];
      const [a, b] = await Promise.all(both.map(([, cp]) => observe(cp, 'sh', ['-c', script],
        { stdio, serialization })));
      // 'exit' and 'disconnect' race here (the child exits without disconnecting).
      const sorted = (r) => ({ ...r, events: r.events.map(String).sort() });
      assert.deepEqual(sorted(b), sorted(a));
      assert.equal(b.out, `4 ${serialization || 'json'}\n`);
    }
  });

  test('messages round-trip with a forked Node child', async () => {
    const script = path.join(os.tmpdir(), `rc-fork-${process.pid}.js`);
    fs.writeFileSync(script, `process.on('message', (m) => {
      process.send({ echo: m, argv: process.argv.slice(2) });
      process.disconnect();
    });`);
    try {
      for (const serialization of ['json', 'advanced']) {
        const forked = ours.fork(script, ['x', 'y'], { serialization, silent: true });
        forked.send({ n: 1 });
        const [msg] = await once(forked, 'message');
        assert.deepEqual(msg, { echo: { n: 1 }, argv: ['x', 'y'] });
        const [code] = await once(forked, 'close');
        assert.equal(code, 0);
      }
    } finally {
      fs.unlinkSync(script);
    }
  });

  test('a missing execPath fails like the built-in', async () => {
    const [a, b] = await Promise.all(both.map(([, cp]) => new Promise((resolve) => {
      const child = cp.fork(__filename, [], { execPath: '/no/such/node' });
      const events = recordEvents(child);
      child.on('close', (...args) => resolve([...events, ['close', ...args], child.connected]));
    })));
    assert.deepEqual(b, a);
  });
});

describe('spawnSync', () => {
  // The result with the pid replaced by its type (pids differ between runs).
  function result(cp, ...args) {
    const r = cp.spawnSync(...args);
    return { ...r, pid: typeof r.pid, keys: Object.keys(r), error: r.error && errorShape(r.error) };
  }
  const cases = [
    ['sh', ['-c', 'echo out; echo err >&2']],
    ['sh', ['-c', 'echo out; exit 5'], { encoding: 'utf8' }],
    ['sh', ['-c', 'kill -KILL $$']],
    ['no-such-cmd-xyz', ['a']],
    ['sleep', ['10'], { timeout: 50 }],
    ['sleep', ['10'], { timeout: 50, killSignal: 'SIGKILL', encoding: 'latin1' }],
    ['cat', [], { input: 'from a string' }],
    ['cat', [], { input: Buffer.from('from a buffer') }],
    ['cat', [], { input: new Uint8Array([104, 105]) }],
    ['cat', [], { input: new DataView(new Uint8Array([0, 104, 105, 0]).buffer, 1, 2) }],
    ['cat', [], { input: 'ignored', stdio: ['ignore', 'pipe', 'pipe'] }],
    ['cat', [], { input: 'x', stdio: ['pipe', 'pipe', 'inherit'] }],
    ['true', [], { stdio: 'ignore' }],
    ['sh', ['-c', 'echo three >&3'], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] }],
    ['pwd', { cwd: '/' }],
    ['echo "$X"', { shell: true, env: { X: 'from env' } }],
    ['sh', ['-c', 'echo a; exit 1'], { encoding: 'buffer' }],
  ];
  for (const args of cases) {
    test(util.inspect(args), () => {
      assert.deepEqual(result(ours, ...args), result(builtin, ...args));
    });
  }

  test('maxBuffer overflow reports ENOBUFS and kills the child', () => {
    const r = ours.spawnSync('yes', [], { maxBuffer: 1000 });
    const expected = builtin.spawnSync('yes', [], { maxBuffer: 1000 });
    assert.deepEqual(errorShape(r.error), errorShape(expected.error));
    assert.equal(r.signal, expected.signal);
    assert.equal(r.status, null);
  });
});

describe('execSync and execFileSync', () => {
  function outcome(fn) {
    try {
      const value = fn();
      return { value };
    } catch (err) {
      const shape = errorShape(err);
      shape.pid = typeof shape.pid;
      delete shape.stack;
      return { threw: shape, errorIsSelf: err.error === err };
    }
  }
  const cases = [
    ['execSync', 'echo hello'],
    ['execSync', 'echo hello', { encoding: 'utf8' }],
    ['execSync', 'echo out; echo err >&2; exit 3', { stdio: 'pipe' }],
    ['execSync', 'kill -9 $$', { stdio: 'pipe' }],
    ['execSync', 'cat', { input: 'piped in', encoding: 'utf8' }],
    ['execSync', 'exec sleep 10', { timeout: 50, stdio: 'pipe' }],
    ['execFileSync', 'echo', ['a', 'b']],
    ['execFileSync', 'sh', ['-c', 'exit 9'], { stdio: 'pipe' }],
    ['execFileSync', 'no-such-cmd-xyz', ['q'], { stdio: 'pipe' }],
    ['execFileSync', 'sh', ['-c', 'echo $0'], { argv0: 'renamed', encoding: 'utf8' }],
  ];
  for (const [method, ...args] of cases) {
    test(`${method} ${util.inspect(args)}`, () => {
      const expected = outcome(() => builtin[method](...args));
      assert.deepEqual(outcome(() => ours[method](...args)), expected);
    });
  }

  test("the child's stderr reaches the parent's stderr unless stdio is given", () => {
    const lib = path.join(__dirname, '..', 'lib', 'child_process');
    const script = `
      const cp = require(${JSON.stringify(lib)});
      try {
        cp.execSync('echo visible >&2; exit 1');
      } catch (err) {
        console.log('status', err.status);
      }
      cp.execFileSync('sh', ['-c', 'echo also-visible >&2']);
      cp.execSync('echo hidden >&2', { stdio: 'pipe' });
    `;
    const r = builtin.spawnSync(node, ['-e', script], { encoding: 'utf8' });
    assert.equal(r.stdout, 'status 1\n');
    assert.equal(r.stderr, 'visible\nalso-visible\n');
  });
});

test('child._channel is there exactly where Node has it (DEP0129, removed in Node 26)', { timeout: 30_000 }, async () => {
  const seen = [];
  for (const [, mod] of both) {
    const child = mod.spawn(node, ['-e', '0'], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    seen.push('_channel' in child);
    await once(child, 'exit');
  }
  assert.strictEqual(seen[1], seen[0]);
  assert.strictEqual(seen[0], Number(process.versions.node.split('.')[0]) < 26);
});

test('no descriptor left at the first spawn: an EMFILE error event, and the next spawn works', { timeout: 30_000 }, () => {
  const script = `
    const cp = require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'child_process'))});
    const fs = require('node:fs');
    const fds = [];
    try { for (;;) fds.push(fs.openSync(process.execPath, 'r')); } catch (e) { if (e.code !== 'EMFILE') throw e; }
    cp.spawn('true').on('error', (err) => {
      console.log(err.code);
      fds.forEach((fd) => fs.closeSync(fd));
      cp.spawn('true').on('exit', (code) => console.log('then exit', code));
    });
  `;
  const out = builtin.execFileSync('/bin/sh', ['-c', 'ulimit -n 256 && exec "$0" -e "$1"', node, script],
    { encoding: 'utf8', timeout: 20_000 });
  assert.strictEqual(out, 'EMFILE\nthen exit 0\n');
});
