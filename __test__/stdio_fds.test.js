'use strict';
// Every stdio form spawn() accepts, the file descriptors a child ends up with, and the
// error paths, each observed with Node's child_process and with rust-cluster's and
// compared; plus no fd leaked by 1,000 spawns and no zombie left behind.

const { test, describe, after } = require('node:test');
const assert = require('node:assert/strict');
const builtin = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
// STDIO_SELFTEST=1 runs every comparison built-in against built-in (checks the test itself).
const OURS_PATH = process.env.STDIO_SELFTEST ? 'node:child_process' : path.join(ROOT, 'lib', 'child_process.js');
const ours = require(OURS_PATH);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-stdio-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let tmpCount = 0;
const tmpFile = (name = 'f') => path.join(tmp, `${name}-${++tmpCount}`);

const impls = { builtin, 'rust-cluster': ours };

// ---------------------------------------------------------------------------------------
// helpers

function errInfo(e) {
  if (!(e instanceof Error)) return { notAnError: String(e) };
  const info = {
    class: e instanceof RangeError ? 'RangeError' : e instanceof TypeError ? 'TypeError' : 'Error',
    name: e.name,
    code: e.code,
    message: e.message,
    keys: Object.keys(e).sort(),
  };
  for (const k of ['errno', 'syscall', 'path', 'spawnargs', 'cmd', 'killed', 'signal']) {
    if (k in e) info[k] = e[k];
  }
  return info;
}

// Every event a ChildProcess emits until 'close', arguments normalised.
function record(child) {
  return new Promise((resolve) => {
    const events = [];
    const norm = (a) => (a instanceof Error ? errInfo(a) : a);
    for (const name of ['spawn', 'error', 'exit', 'close', 'disconnect']) {
      child.on(name, (...args) => {
        events.push([name, ...args.map(norm)]);
        if (name === 'close') resolve(events);
      });
    }
  });
}

// What calling fn() does: throws (and what), or returns a child (and its events).
async function outcome(fn) {
  let result;
  try {
    result = fn();
  } catch (e) {
    return { threw: errInfo(e) };
  }
  if (result && typeof result.on === 'function') {
    const events = await record(result);
    return { pid: typeof result.pid, spawnfile: result.spawnfile, spawnargs: result.spawnargs, events };
  }
  if (result && typeof result === 'object' && 'status' in result) {
    return {
      status: result.status,
      signal: result.signal,
      error: result.error ? errInfo(result.error) : undefined,
      stdout: result.stdout && String(result.stdout),
    };
  }
  return { returned: result };
}

function collect(stream) {
  return new Promise((resolve, reject) => {
    if (!stream) return resolve(null);
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString()));
    stream.on('error', reject);
  });
}

function closed(child) {
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
}

const streamKind = (s) => (s === null || s === undefined ? s : s.constructor.name);

// Spawns with one implementation and reports what can be seen from the parent: the stdio
// array's shape, the data read from each readable pipe, the exit.
async function observe(cp, command, args, options, { input = {}, files = [] } = {}) {
  const child = cp.spawn(command, args, options);
  const shape = {
    stdioLength: child.stdio.length,
    stdio: child.stdio.map(streamKind),
    stdin: streamKind(child.stdin),
    stdout: streamKind(child.stdout),
    stderr: streamKind(child.stderr),
    sameAsStdio: child.stdin === child.stdio[0] && child.stdout === child.stdio[1] &&
      child.stderr === child.stdio[2],
  };
  const reads = child.stdio.map((s, i) => (s && i !== 0 && s.readable ? collect(s) : null));
  for (const [i, data] of Object.entries(input)) child.stdio[i].end(data);
  const exit = await closed(child);
  const data = await Promise.all(reads);
  return { shape, data, exit, files: files.map((f) => fs.readFileSync(f, 'utf8')) };
}

// Runs `make(cp)` with both implementations (in turn) and asserts equal observations;
// returns the built-in's.
async function same(make) {
  const expected = await make(builtin, 'builtin');
  const got = await make(ours, 'rust-cluster');
  assert.deepEqual(got, expected);
  return expected;
}

const SH_ECHO = 'read x; echo "out:$x"; echo "err:$x" >&2';

// ---------------------------------------------------------------------------------------
describe('stdio forms match the built-in', { timeout: 60_000 }, () => {
  for (const [label, stdio] of [
    ['default', undefined],
    ["'pipe'", 'pipe'],
    ["'overlapped'", 'overlapped'],
    ["['pipe', 'pipe', 'pipe']", ['pipe', 'pipe', 'pipe']],
    ["['overlapped', 'pipe', 'overlapped']", ['overlapped', 'pipe', 'overlapped']],
    ['[null, undefined, null]', [null, undefined, null]],
    ['[]', []],
  ]) {
    test(`pipes: ${label}`, async () => {
      const obs = await same((cp) => observe(cp, 'sh', ['-c', SH_ECHO],
        stdio === undefined ? {} : { stdio }, { input: { 0: 'hello\n' } }));
      assert.deepEqual(obs.data, [null, 'out:hello\n', 'err:hello\n']);
      assert.deepEqual(obs.exit, { code: 0, signal: null });
      assert.deepEqual(obs.shape.stdio, ['Socket', 'Socket', 'Socket']);
    });
  }

  test('pipes are socketpairs in the child (as libuv makes them)', async () => {
    const obs = await same(async (cp) => {
      const o = await observe(cp, 'sh', ['-c', 'readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2'], {});
      o.data[1] = o.data[1].replace(/\[\d+\]/g, '[inode]');
      return o;
    });
    assert.equal(obs.data[1], 'socket:[inode]\nsocket:[inode]\nsocket:[inode]\n');
  });

  test("'ignore': /dev/null for 0-2", async () => {
    const obs = await same((cp) => observe(cp, 'sh',
      ['-c', 'readlink /proc/$$/fd/0 /proc/$$/fd/2; cat; echo lost >&2'],
      { stdio: ['ignore', 'pipe', 'ignore'] }));
    assert.deepEqual(obs.data, [null, '/dev/null\n/dev/null\n', null]);
    assert.deepEqual(obs.shape.stdio, [null, 'Socket', null]);
  });

  test("'ignore' (string): the child's 0-2 are /dev/null", async () => {
    const out = tmpFile('ignore');
    const obs = await same(async (cp) => {
      const o = await observe(cp, 'sh',
        ['-c', `links=$(readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2); echo "$links" > ${out}`],
        { stdio: 'ignore' },
        { files: [out] });
      return o;
    });
    assert.equal(obs.files[0], '/dev/null\n/dev/null\n/dev/null\n');
    assert.deepEqual(obs.shape.stdio, [null, null, null]);
  });

  test("'ignore' beyond fd 2 leaves the fd closed", async () => {
    const obs = await same((cp) => observe(cp, 'sh',
      ['-c', 'ls /proc/self/fd; [ -e /proc/self/fd/3 ] && echo has3 || echo no3'],
      { stdio: ['ignore', 'pipe', 'ignore', 'ignore', 'pipe'] }));
    assert.match(obs.data[1], /no3\n$/);
    assert.deepEqual(obs.shape.stdio, [null, 'Socket', null, null, 'Socket']);
  });

  test('integer fds: a file for stdout and stderr, a file for stdin', async () => {
    const input = tmpFile('in');
    fs.writeFileSync(input, 'from a file\n');
    await same(async (cp, impl) => {
      const out = tmpFile(`out-${impl}`);
      const wfd = fs.openSync(out, 'w');
      const rfd = fs.openSync(input, 'r');
      try {
        const o = await observe(cp, 'sh', ['-c', 'cat; echo to-stderr >&2'], { stdio: [rfd, wfd, wfd] });
        o.files = [fs.readFileSync(out, 'utf8')];
        assert.equal(o.files[0], 'from a file\nto-stderr\n');
        assert.deepEqual(o.shape.stdio, [null, null, null]);
        return o;
      } finally {
        fs.closeSync(wfd);
        fs.closeSync(rfd);
      }
    });
  });

  test('integer fds 0, 1, 2 and inherit (through a helper process whose stdio we read)', async () => {
    // The helper loads one implementation, prints where its own fds 0-2 point, then spawns
    // a shell with the stdio under test that prints where its fds point.
    const helper = path.join(tmp, 'inherit-helper.js');
    fs.writeFileSync(helper, `
      const impl = process.argv[2] === 'builtin' ? require('node:child_process') : require(${JSON.stringify(OURS_PATH)});
      const fs = require('node:fs');
      const own = [0, 1, 2].map((fd) => fs.readlinkSync('/proc/self/fd/' + fd));
      const forms = {
        inherit: 'inherit',
        'inherit array': ['inherit', 'inherit', 'inherit'],
        'integers': [0, 1, 2],
        'process streams': [process.stdin, process.stdout, process.stderr],
        'mixed': ['inherit', 1, process.stderr],
      };
      fs.writeSync(1, 'own ' + own.join(' ') + '\\n');
      const c = impl.spawn('sh', ['-c', 'echo child; readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2; echo to-stderr >&2'],
        { stdio: forms[process.argv[3]] });
      c.on('close', (code) => { fs.writeSync(1, 'stdio ' + c.stdio.map((s) => s === null ? 'null' : typeof s).join(',') + ' code ' + code + '\\n'); process.exit(); });
    `);
    for (const form of ['inherit', 'inherit array', 'integers', 'process streams', 'mixed']) {
      await same(async (cp, impl) => {
        const h = builtin.spawn(process.execPath, [helper, impl, form], { stdio: ['pipe', 'pipe', 'pipe'] });
        const [out, err] = await Promise.all([collect(h.stdout), collect(h.stderr), closed(h)]);
        const lines = out.trim().split('\n');
        const own = lines[0].slice(4).split(' ');
        assert.deepEqual(lines.slice(1), ['child', ...own, 'stdio null,null,null code 0'], `${form} (${impl})`);
        assert.equal(err, 'to-stderr\n', `${form} (${impl})`);
        return lines.length;
      });
    }
  });

  test('streams with an fd: fs.createWriteStream / fs.createReadStream once open', async () => {
    const input = tmpFile('in');
    fs.writeFileSync(input, 'read stream\n');
    await same(async (cp, impl) => {
      const out = tmpFile(`ws-${impl}`);
      const ws = fs.createWriteStream(out);
      const rs = fs.createReadStream(input);
      await Promise.all([new Promise((r) => ws.once('open', r)), new Promise((r) => rs.once('open', r))]);
      rs.pause();
      const o = await observe(cp, 'sh', ['-c', 'cat; echo err >&2'], { stdio: [rs, ws, 'pipe'] });
      ws.end();
      rs.destroy();
      await new Promise((r) => ws.once('close', r));
      o.files = [fs.readFileSync(out, 'utf8')];
      assert.equal(o.files[0], 'read stream\n');
      assert.equal(o.data[2], 'err\n');
      return o;
    });
  });

  test('a stream without an fd yet is rejected', async () => {
    const file = tmpFile('noopen');
    await same(async (cp) => {
      const ws = fs.createWriteStream(file);
      const o = await outcome(() => cp.spawn('/bin/true', [], { stdio: ['ignore', ws, 'ignore'] }));
      await new Promise((r) => ws.once('open', r));
      ws.destroy();
      assert.equal(o.threw?.code, 'ERR_INVALID_ARG_VALUE');
      return o;
    });
  });

  test('a net.Socket (TCP) as stdout, and one child\'s stdout as the next child\'s stdin', async () => {
    await same(async (cp) => {
      const server = net.createServer();
      await new Promise((r) => server.listen(0, '127.0.0.1', r));
      const accepted = new Promise((r) => server.once('connection', r));
      const client = net.connect(server.address().port, '127.0.0.1');
      const sock = await accepted;
      const received = collect(client);
      const a = cp.spawn('sh', ['-c', 'echo via-tcp; echo first-stage'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const b = cp.spawn('sh', ['-c', 'cat; echo second-stage'], { stdio: [a.stdout, sock, 'pipe'] });
      // a.stdout stays open (unread) in this process: a's 'close' would wait for it.
      const aExit = new Promise((r) => a.on('exit', (code, signal) => r({ code, signal })));
      const [ea, eb, err] = await Promise.all([aExit, closed(b), collect(b.stderr)]);
      a.stdout.destroy();
      sock.destroy();
      server.close();
      const text = await received;
      assert.equal(text, 'via-tcp\nfirst-stage\nsecond-stage\n');
      return { ea, eb, err, text, bStdio: b.stdio.map(streamKind) };
    });
  });

  test('extra fds 3+ both directions: pipes, a file, ignore', async () => {
    await same(async (cp, impl) => {
      const out = tmpFile(`fd5-${impl}`);
      const fd = fs.openSync(out, 'w');
      try {
        const o = await observe(cp, 'sh',
          ['-c', 'echo to-parent >&3; read x <&4; echo "got:$x"; echo to-file >&5; [ -e /proc/self/fd/6 ] || echo no6'],
          { stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', fd, 'ignore'] },
          { input: { 4: 'from-parent\n' } });
        o.files = [fs.readFileSync(out, 'utf8')];
        assert.deepEqual(o.data.slice(1, 4), ['got:from-parent\nno6\n', '', 'to-parent\n']);
        assert.equal(o.files[0], 'to-file\n');
        assert.deepEqual(o.shape.stdio, ['Socket', 'Socket', 'Socket', 'Socket', 'Socket', null, null]);
        return o;
      } finally {
        fs.closeSync(fd);
      }
    });
  });

  for (const [label, stdio, channelFd] of [
    ["['pipe', 'pipe', 'pipe', 'ipc']", ['pipe', 'pipe', 'pipe', 'ipc'], '3'],
    ["['pipe', 'pipe', 'pipe', 'pipe', 'ipc']", ['pipe', 'pipe', 'pipe', 'pipe', 'ipc'], '4'],
    ["['ignore', 'pipe', 'inherit', 'ipc'] with serialization 'advanced'", ['ignore', 'pipe', 'inherit', 'ipc'], '3'],
  ]) {
    test(`'ipc': ${label}`, async () => {
      const serialization = label.includes('advanced') ? 'advanced' : undefined;
      const obs = await same(async (cp) => {
        const child = cp.spawn(process.execPath, ['-e', `
          // Node removes NODE_CHANNEL_* from process.env; /proc/self/environ keeps them.
          const env = Object.fromEntries(require('fs').readFileSync('/proc/self/environ', 'utf8')
            .split(String.fromCharCode(0)).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
          process.on('message', (m) => {
            process.send({ echo: m, fd: env.NODE_CHANNEL_FD,
              mode: env.NODE_CHANNEL_SERIALIZATION_MODE, connected: process.connected });
            process.disconnect();
          });
        `], { stdio, serialization });
        const shape = child.stdio.map(streamKind);
        const got = new Promise((r) => child.once('message', r));
        const out = collect(child.stdout);
        child.send({ hello: [1, 2, 3] });
        const message = await got;
        const exit = await closed(child);
        return { shape, message, exit, out: await out, connected: child.connected };
      });
      assert.deepEqual(obs.message, {
        echo: { hello: [1, 2, 3] }, fd: channelFd, mode: serialization || 'json', connected: true,
      });
      assert.equal(obs.shape[Number(channelFd)], null);
    });
  }
});

// ---------------------------------------------------------------------------------------
describe('descriptors and processes', { timeout: 120_000 }, () => {
  const fdCount = () => fs.readdirSync('/proc/self/fd').length;
  const fdList = () => fs.readdirSync('/proc/self/fd').map((fd) => {
    try { return `${fd} -> ${fs.readlinkSync(`/proc/self/fd/${fd}`)}`; } catch { return `${fd} (gone)`; }
  });

  test('no fd leaked by 1,000 spawns of /bin/true (pipes, ignore, errors)', async () => {
    const once = async (options) => {
      const child = ours.spawn('/bin/true', [], options);
      const reads = [child.stdout, child.stderr].map(collect);
      await closed(child);
      await Promise.all(reads);
    };
    for (let i = 0; i < 5; i++) await once({}); // the reactor's own fds exist from here on
    await new Promise((r) => setImmediate(r));
    const before = fdList();
    for (let i = 0; i < 1000; i++) await once(i % 10 === 9 ? { stdio: 'ignore' } : {});
    for (let i = 0; i < 50; i++) {
      await outcome(() => ours.spawn('/nonexistent/command'));
    }
    await new Promise((r) => setImmediate(r));
    const now = fdList();
    assert.deepEqual(now.filter((x) => !before.includes(x)), [], 'fds opened and not closed');
    assert.equal(fdCount(), before.length);
  });

  test('no fd leaked by 100 IPC children', async () => {
    const once = async () => {
      const child = ours.spawn(process.execPath, ['-e', 'process.send("hi", () => process.disconnect())'],
        { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      await new Promise((r) => child.once('message', r));
      await closed(child);
    };
    await once();
    await new Promise((r) => setImmediate(r));
    const before = fdList();
    for (let i = 0; i < 100; i++) await once();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(fdList().filter((x) => !before.includes(x)), []);
  });

  test('no zombie left after every child has exited', async () => {
    const children = [];
    for (let i = 0; i < 20; i++) {
      const c = ours.spawn('sh', ['-c', `exit ${i % 3}`], { stdio: 'ignore' });
      children.push(closed(c));
    }
    const killed = ours.spawn('sleep', ['30'], { stdio: 'ignore' });
    const killedClose = closed(killed);
    killed.kill('SIGKILL');
    const results = await Promise.all([...children, killedClose]);
    assert.deepEqual(results.at(-1), { code: null, signal: 'SIGKILL' });
    const zombies = [];
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat;
      try { stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8'); } catch { continue; }
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) === process.pid && rest[0] === 'Z') zombies.push(Number(entry));
    }
    assert.deepEqual(zombies, []);
    // /proc/<pid>/task/<tid>/children lists live and zombie children alike.
    const listed = [];
    for (const tid of fs.readdirSync('/proc/self/task')) {
      try {
        listed.push(...fs.readFileSync(`/proc/self/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean));
      } catch { /* kernel without CONFIG_PROC_CHILDREN */ }
    }
    for (const pid of listed) {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      assert.notEqual(stat.slice(stat.lastIndexOf(')') + 2)[0], 'Z', `zombie child ${pid}`);
    }
  });

  test('a grandchild inherits only its own stdio, however many fds the parent holds', async () => {
    // Extra fds in this process: open files, and live children of both implementations
    // with pipes and IPC channels (their parent ends are open here).
    const files = [];
    for (let i = 0; i < 5; i++) files.push(fs.openSync(tmpFile('extra'), 'w'));
    const live = [];
    for (const cp of [builtin, ours]) {
      live.push(cp.spawn(process.execPath, ['-e', 'process.on("message", () => process.exit())'],
        { stdio: ['pipe', 'pipe', 'pipe', 'ipc', 'pipe'] }));
      live.push(cp.spawn('sleep', ['30']));
    }
    // Descriptors this process inherited without close-on-exec (from whatever started the
    // test) pass on to every child, with the built-in too; all others must not.
    const O_CLOEXEC = 0o2000000;
    const inherited = fs.readdirSync('/proc/self/fd').map(Number).filter((fd) => {
      if (fd < 3) return false;
      try {
        const flags = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').match(/^flags:\s+(\d+)/m)[1];
        return (parseInt(flags, 8) & O_CLOEXEC) === 0;
      } catch { return false; }
    });
    try {
      for (const [stdio, asked] of [
        [['ignore', 'pipe', 'ignore'], [0, 1, 2]],
        ['pipe', [0, 1, 2]],
        [['pipe', 'pipe', 'pipe', 'pipe'], [0, 1, 2, 3]],
        [['ignore', 'pipe', 'ignore', files[0]], [0, 1, 2, 3]],
        [['ignore', 'pipe', 'ignore', 'ignore', 'ignore', files[1]], [0, 1, 2, 5]],
      ]) {
        const open = new Set([...asked, ...inherited.filter((fd) => fd >= stdio.length)]);
        let dirFd = 0; // `ls` opens the directory it lists on the lowest free fd
        while (open.has(dirFd)) dirFd++;
        const expected = [...open, dirFd].sort((a, b) => a - b);
        await same(async (cp) => {
          const o = await observe(cp, 'sh', ['-c', 'ls /proc/self/fd | tr "\\n" " "'], { stdio });
          const got = o.data[1].trim().split(' ').map(Number).sort((a, b) => a - b);
          assert.deepEqual(got, expected, JSON.stringify(stdio));
          return got;
        });
      }
    } finally {
      for (const c of live) {
        if (c.connected) c.send('bye'); else c.kill();
      }
      await Promise.all(live.map(closed));
      files.forEach((fd) => fs.closeSync(fd));
    }
  });
});

// ---------------------------------------------------------------------------------------
describe('error paths match the built-in', { timeout: 60_000 }, () => {
  const notExecutable = tmpFile('not-executable');
  fs.writeFileSync(notExecutable, '#!/bin/sh\necho hi\n', { mode: 0o644 });
  fs.chmodSync(notExecutable, 0o644);

  for (const [label, make] of [
    ['ENOENT: absolute file', (cp) => cp.spawn('/nonexistent/file', ['a', 'b'])],
    ['ENOENT: looked up in PATH', (cp) => cp.spawn('no-such-command-rust-cluster', ['x'])],
    ['ENOENT: with stdio ignore', (cp) => cp.spawn('/nonexistent/file', [], { stdio: 'ignore' })],
    ['ENOENT: cwd', (cp) => cp.spawn('/bin/true', ['x'], { cwd: '/nonexistent/dir' })],
    ['PATH lookup with an env without PATH (libuv falls back to a default path)', (cp) => cp.spawn('true', [], { env: {} })],
    ['EACCES: file not executable', (cp) => cp.spawn(notExecutable, [])],
    ['EACCES: a directory', (cp) => cp.spawn(os.tmpdir(), [])],
    ['ENOTDIR: cwd is a file', (cp) => cp.spawn('/bin/true', [], { cwd: notExecutable })],
    ['ENOENT: fork of a missing execPath', (cp) => cp.fork('x.js', [], { execPath: '/nonexistent/node' })],
    ['ENOENT: spawnSync', (cp) => cp.spawnSync('/nonexistent/file', ['a'])],
    ['ENOENT: spawnSync cwd', (cp) => cp.spawnSync('/bin/true', [], { cwd: '/nonexistent/dir' })],
    ['EACCES: spawnSync', (cp) => cp.spawnSync(notExecutable)],
    ['ENOENT: execFileSync', (cp) => cp.execFileSync('/nonexistent/file', ['a'], { stdio: 'pipe' })],
    ['ENOENT: execFile callback', (cp) => new Promise((resolve) => {
      cp.execFile('/nonexistent/file', ['a'], (err, stdout, stderr) => resolve({ err: errInfo(err), stdout, stderr }));
    })],
    ['stdio fd -1', (cp) => cp.spawn('/bin/true', [], { stdio: [-1] })],
    ['EBADF: stdio fd not open', (cp) => cp.spawn('/bin/true', [], { stdio: ['ignore', 'ignore', 'ignore', 987] })],
  ]) {
    test(label, async () => {
      const o = await same(async (cp) => {
        const r = await outcome(() => make(cp));
        return r.returned instanceof Promise ? { returned: await r.returned } : r;
      });
      if (/^E[A-Z]+:/.test(label)) {
        const err = o.threw || o.error || o.returned?.err || (o.events || []).find((e) => e[0] === 'error')?.[1];
        assert.ok(err && err.code === label.split(':')[0], `the built-in reported no ${label.split(':')[0]}: ${JSON.stringify(o)}`);
      }
    });
  }

  test('ENOENT error event: every field equals the built-in\'s', async () => {
    const o = await same((cp) => outcome(() => cp.spawn('/nonexistent/x', ['a'])));
    assert.deepEqual(o.events, [
      ['error', {
        class: 'Error', name: 'Error', code: 'ENOENT', message: 'spawn /nonexistent/x ENOENT',
        keys: ['code', 'errno', 'path', 'spawnargs', 'syscall'],
        errno: -2, syscall: 'spawn /nonexistent/x', path: '/nonexistent/x', spawnargs: ['a'],
      }],
      ['close', -2, null],
    ]);
    assert.equal(o.pid, 'undefined');
  });
});

describe('bad arguments throw what the built-in throws', { timeout: 60_000 }, () => {
  const cases = {
    'spawn()': (cp) => cp.spawn(),
    'spawn(123)': (cp) => cp.spawn(123),
    "spawn('')": (cp) => cp.spawn(''),
    'spawn: file with a null byte': (cp) => cp.spawn('ls\0x'),
    "spawn: args 'x'": (cp) => cp.spawn('/bin/true', 'x'),
    'spawn: args 5': (cp) => cp.spawn('/bin/true', 5),
    'spawn: args with a null byte': (cp) => cp.spawn('/bin/true', ['a\0b']),
    'spawn: args [1] (accepted)': (cp) => cp.spawn('/bin/true', [1]),
    "spawn: options 'x'": (cp) => cp.spawn('/bin/true', [], 'x'),
    'spawn: cwd 5': (cp) => cp.spawn('/bin/true', [], { cwd: 5 }),
    'spawn: cwd with a null byte': (cp) => cp.spawn('/bin/true', [], { cwd: 'a\0b' }),
    "spawn: env 'x' (accepted)": (cp) => cp.spawn('/bin/true', [], { env: 'x' }),
    'spawn: env value with a null byte': (cp) => cp.spawn('/bin/true', [], { env: { A: 'x\0y' } }),
    'spawn: env key with a null byte': (cp) => cp.spawn('/bin/true', [], { env: { 'A\0': 'x' } }),
    "spawn: uid 'x'": (cp) => cp.spawn('/bin/true', [], { uid: 'x' }),
    'spawn: uid 1.5': (cp) => cp.spawn('/bin/true', [], { uid: 1.5 }),
    'spawn: uid -1': (cp) => cp.spawn('/bin/true', [], { uid: -1 }),
    "spawn: gid 'x'": (cp) => cp.spawn('/bin/true', [], { gid: 'x' }),
    "spawn: detached 'x'": (cp) => cp.spawn('/bin/true', [], { detached: 'x' }),
    'spawn: shell 5': (cp) => cp.spawn('/bin/true', [], { shell: 5 }),
    'spawn: argv0 5': (cp) => cp.spawn('/bin/true', [], { argv0: 5 }),
    "spawn: windowsHide 'x'": (cp) => cp.spawn('/bin/true', [], { windowsHide: 'x' }),
    "spawn: windowsVerbatimArguments 'x'": (cp) => cp.spawn('/bin/true', [], { windowsVerbatimArguments: 'x' }),
    "spawn: stdio 'foo'": (cp) => cp.spawn('/bin/true', [], { stdio: 'foo' }),
    'spawn: stdio 5': (cp) => cp.spawn('/bin/true', [], { stdio: 5 }),
    "spawn: stdio ['foo']": (cp) => cp.spawn('/bin/true', [], { stdio: ['foo'] }),
    'spawn: stdio [Buffer]': (cp) => cp.spawn('/bin/true', [], { stdio: [Buffer.from('x')] }),
    'spawn: two ipc': (cp) => cp.spawn('/bin/true', [], { stdio: ['ipc', 'ipc'] }),
    'spawn: stdio [{}]': (cp) => cp.spawn('/bin/true', [], { stdio: [{}] }),
    'spawn: timeout -1': (cp) => cp.spawn('/bin/true', [], { timeout: -1 }),
    "spawn: timeout 'x'": (cp) => cp.spawn('/bin/true', [], { timeout: 'x' }),
    "spawn: killSignal 'SIGNOPE'": (cp) => cp.spawn('/bin/true', [], { killSignal: 'SIGNOPE' }),
    'spawn: killSignal 1.5': (cp) => cp.spawn('/bin/true', [], { killSignal: 1.5 }),
    "spawn: serialization 'foo'": (cp) => cp.spawn('/bin/true', [], { serialization: 'foo' }),
    "spawn: signal 'x'": (cp) => cp.spawn('/bin/true', [], { signal: 'x' }),
    'fork(5)': (cp) => cp.fork(5),
    'fork: stdio without ipc': (cp) => cp.fork('x.js', { stdio: ['pipe', 'pipe', 'pipe'] }),
    'fork: args 5': (cp) => cp.fork('x.js', 5),
    "fork: serialization 'foo'": (cp) => cp.fork('x.js', [], { serialization: 'foo' }),
    'exec(5)': (cp) => cp.exec(5),
    "exec: timeout 'x'": (cp) => cp.exec('true', { timeout: 'x' }, () => {}),
    'exec: maxBuffer -1': (cp) => cp.exec('true', { maxBuffer: -1 }, () => {}),
    'execFile(5)': (cp) => cp.execFile(5),
    'execFile: args 5': (cp) => cp.execFile('true', 5, () => {}),
    'execFile: callback 5': (cp) => cp.execFile('true', [], {}, 5),
    'spawnSync(5)': (cp) => cp.spawnSync(5),
    'spawnSync: ipc': (cp) => cp.spawnSync('true', { stdio: ['pipe', 'pipe', 'pipe', 'ipc'] }),
    'spawnSync: input 5': (cp) => cp.spawnSync('true', { input: 5 }),
    'spawnSync: maxBuffer -1': (cp) => cp.spawnSync('true', { maxBuffer: -1 }),
    'spawnSync: timeout -1': (cp) => cp.spawnSync('true', { timeout: -1 }),
    "spawnSync: killSignal 'X'": (cp) => cp.spawnSync('true', { killSignal: 'X' }),
    'execSync(5)': (cp) => cp.execSync(5),
    'execFileSync(5)': (cp) => cp.execFileSync(5),
  };
  for (const [label, make] of Object.entries(cases)) {
    test(label, async () => {
      const o = await same((cp) => outcome(() => make(cp)));
      if (!label.includes('(accepted)')) assert.ok(o.threw, `the built-in did not throw: ${JSON.stringify(o)}`);
    });
  }

  test('non-string args and env values are coerced to strings, undefined env values dropped', async () => {
    const obs = await same(async (cp) => {
      const child = cp.spawn('sh', ['-c', 'echo "$@" "$A" "$B" "${C-unset}"', 'sh', 1, true, null],
        { env: { A: 1, B: false, C: undefined, PATH: process.env.PATH } });
      const [out] = await Promise.all([collect(child.stdout), closed(child)]);
      return { out, spawnargs: child.spawnargs };
    });
    assert.equal(obs.out, '1 true null 1 false unset\n');
  });

  for (const [label, signal] of [['SIGFOO', 'SIGFOO'], ['{}', {}], ['1.5', 1.5]]) {
    test(`child.kill(${label})`, async () => {
      await same(async (cp) => {
        const child = cp.spawn('sleep', ['30'], { stdio: 'ignore' });
        let threw;
        try { child.kill(signal); } catch (e) { threw = errInfo(e); }
        const done = closed(child);
        child.kill('SIGKILL');
        return { threw, exit: await done };
      });
    });
  }
});
