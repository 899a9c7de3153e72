'use strict';
// IPC channel tests against real, unmodified Node children. The children run this
// same file with a role name (see `roles`); the parent side is rust-cluster.
const fs = require('node:fs');
const net = require('node:net');
const dgram = require('node:dgram');
const { once } = require('node:events');

// --- child roles (run when this file is forked with a role argument) -------------

// Received handles would keep a child alive; the tests end by disconnecting.
function exitOnDisconnect() {
  process.on('disconnect', () => process.exit(0));
}

const roles = {
  // Sends back what it gets, handle included.
  echo() {
    exitOnDisconnect();
    process.on('message', (message, handle) => process.send(message, handle));
  },

  // Counts messages until {done}; replies with the count and whether the
  // sequence numbers arrived in order.
  count() {
    let count = 0;
    let inOrder = true;
    process.on('message', (message) => {
      if (message.done) {
        process.send({ count, inOrder });
        return;
      }
      if (message.seq !== count) inOrder = false;
      count++;
    });
  },

  internal() {
    process.on('message', () => {}); // stay connected until the parent disconnects
    process.send({ cmd: 'NODE_TEST_PING', n: 1 });
    process.send({ cmd: 'NODE_' }); // not internal: nothing after the prefix
    process.send('plain');
  },

  // Raw bytes on the channel socket, around a proper message.
  malformed() {
    fs.writeSync(3, '{"before":1}\nnot json\n{"broken":\n');
    process.send('after');
    process.on('message', () => process.disconnect());
  },

  // One line without end. Exits 0 once the parent closed the channel, 1 if it
  // could write 256 MiB without that happening.
  endless() {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    for (let written = 0; written < 256 * 1024 * 1024;) {
      try {
        written += fs.writeSync(3, chunk);
      } catch (err) {
        if (err.code === 'EAGAIN') continue;
        process.exit(0);
      }
    }
    process.exit(1);
  },

  // An advanced-mode frame header announcing 1 GiB.
  // A frame announced as 1 GiB, and more than the parent's 64 KiB limit of it sent.
  oversizeFrame() {
    fs.writeSync(3, Buffer.concat([Buffer.from([0x40, 0, 0, 0]), Buffer.alloc(70000, 1)]));
  },

  // Announces a 2 GiB frame, then leaves: nothing arrived that breaks a limit.
  announceAndLeave() {
    fs.writeSync(3, Buffer.from([0x7f, 0xff, 0xff, 0xff]));
  },

  hiAndLeave() {
    process.send('hi', () => process.disconnect());
  },

  burst() {
    for (const message of ['a', 'b', 'c']) process.send(message);
  },

  // Accepts connections on a received server, answers them with its pid.
  serveReceived() {
    exitOnDisconnect();
    process.on('message', (message, server) => {
      server.on('connection', (socket) => socket.end(`child ${process.pid}`));
      process.send('serving');
    });
  },

  // Writes to a received socket and closes it.
  writeReceived() {
    exitOnDisconnect();
    process.on('message', (message, socket) => {
      socket.end(`hello from child, ${message}`);
    });
  },

  // Sends a listening server, then the server side of a connection to it.
  sendHandles() {
    exitOnDisconnect();
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      process.send('server', server, () => {
        // The parent holds its own copy now; new connections are its.
        server.close();
      });
    });
    const other = net.createServer((socket) => {
      process.send('socket', socket);
      other.close();
    });
    other.listen(0, '127.0.0.1', () => {
      const client = net.connect(other.address().port, '127.0.0.1');
      client.setEncoding('utf8');
      let text = '';
      client.on('data', (data) => { text += data; });
      client.on('end', () => {
        process.send({ clientGot: text });
        client.end();
      });
    });
  },

  // Answers datagrams on a received dgram socket.
  pongReceived() {
    exitOnDisconnect();
    process.on('message', (message, socket) => {
      socket.on('message', (data, rinfo) => socket.send(`pong:${data}`, rinfo.port, rinfo.address));
      process.send('bound');
    });
  },

  // Keeps received sockets open until asked to close them all.
  holdReceived() {
    exitOnDisconnect();
    const sockets = [];
    process.on('message', (message, socket) => {
      if (socket) {
        sockets.push(socket);
        process.send('holding');
      } else if (message === 'close') {
        let open = sockets.length;
        for (const held of sockets) {
          held.on('close', () => {
            if (--open === 0) process.send('closed');
          });
          held.destroy();
        }
      }
    });
  },

  disconnectOnRequest() {
    process.on('message', (message) => {
      if (message === 'bye') process.disconnect();
    });
  },

  // A parent of its own: a 'message' listener throws on the first of three
  // messages; reports what it saw to the test through its own channel.
  throwingParent() {
    const { fork } = require('../lib/child_process');
    const seen = [];
    process.on('uncaughtException', (err) => seen.push(`uncaught:${err.message}`));
    const child = fork(__filename, ['burst']);
    child.on('message', (message) => {
      seen.push(message);
      if (message === 'a') throw new Error('boom');
      if (message === 'c') {
        child.disconnect();
        process.send(seen);
      }
    });
  },

  // Creates the file a message names, so that the parent sees it arrive while its
  // own JavaScript is busy.
  touch() {
    exitOnDisconnect();
    process.on('message', (message) => fs.writeFileSync(message.path, 'seen'));
    process.send('ready');
  },

  // A parent that lets go of its child: it must be able to exit.
  unrefParent() {
    const { fork } = require('../lib/child_process');
    const child = fork(__filename, ['echo']);
    child.on('spawn', () => {
      child.unref();
      child.channel.unref();
    });
  },
};

if (require.main === module && roles[process.argv[2]]) {
  roles[process.argv[2]]();
  return;
}

// --- tests -----------------------------------------------------------------------
const test = require('node:test');
const assert = require('node:assert');
const { fork } = require('../lib/child_process');

const TIMEOUT = { timeout: 30000 };

function start(role, options) {
  return fork(__filename, [role], options);
}

// The next message (or internal message) that satisfies `match`.
function nextMessage(child, match = () => true, event = 'message') {
  return new Promise((resolve, reject) => {
    const onMessage = (message, handle) => {
      if (!match(message)) return;
      child.removeListener(event, onMessage);
      child.removeListener('error', reject);
      resolve([message, handle]);
    };
    child.on(event, onMessage);
    child.once('error', reject);
  });
}

// Unlike events.once(), does not reject on 'error'.
function next(emitter, event) {
  return new Promise((resolve) => emitter.once(event, (...args) => resolve(args)));
}

async function finish(child) {
  const exited = next(child, 'exit');
  if (child.connected) child.disconnect();
  await exited;
}

// Blocks this thread until `pid` has been reaped (by the reactor thread), so the
// events of its end are all waiting when JS next looks.
function holdUntilReaped(pid) {
  for (const deadline = Date.now() + 10000; Date.now() < deadline;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
  }
}

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
}

function readAll(socket) {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (data) => { text += data; });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

const json = [
  'plain',
  'unicode: héllo wörld, 日本語, emoji 😀🎉, line sep \u2028 and \n newline',
  { nested: { deep: [1, 2, { three: [true, false, null] }] }, empty: {}, list: [] },
  42, -0.5, 0, true, false, null,
  'x'.repeat(300 * 1024),
  // 3-byte UTF-8 sequences across the socket's read boundaries.
  '€'.repeat(200 * 1024),
];

for (const serialization of ['json', 'advanced']) {
  test(`${serialization}: messages round trip unchanged and in order`, TIMEOUT, async () => {
    const child = start('echo', { serialization });
    const messages = [...json];
    if (serialization === 'advanced') {
      messages.push(
        Buffer.from('buffer bytes'),
        new Uint8Array([1, 2, 3]),
        new Float64Array([1.5, -2.25]),
        new Int32Array([-1, 7]),
        new Map([['k', { v: new Date(86400000) }]]),
        new Set(['a', 1]),
        new Date(0),
        { big: 123456789012345678901234567890n },
        { nested: { bytes: Buffer.from('ü'), when: new Date(1) } },
        [undefined, NaN, -Infinity],
      );
    }
    const received = [];
    const all = new Promise((resolve) => {
      child.on('message', (message) => {
        received.push(message);
        if (received.length === messages.length) resolve();
      });
    });
    for (const message of messages) child.send(message);
    await all;
    assert.deepStrictEqual(received, messages);
    if (serialization === 'advanced') {
      assert.ok(Buffer.isBuffer(received[json.length]));
      assert.ok(received[json.length + 2] instanceof Float64Array);
    }
    await finish(child);
  });
}

test('json: lines of 4-byte characters around 64 KiB survive, one per tick', TIMEOUT, async () => {
  // The addon encodes each tick's json straight into its write buffer; a copy cut short
  // by a 4-byte character at the buffer's end would lose the line's tail.
  const child = start('echo');
  for (let k = 0; k < 6; k++) {
    const message = 'a'.repeat(k) + '\u{1F600}'.repeat(16383);
    const reply = nextMessage(child);
    child.send(message);
    assert.ok((await reply)[0] === message, `line of ${k} + 16383 4-byte characters`);
  }
  await finish(child);
});

test('send() on an idle channel writes at once, as Node: the child gets it while the parent stays busy',
  TIMEOUT, async () => {
    const child = start('touch');
    await nextMessage(child, (m) => m === 'ready');
    const dir = fs.mkdtempSync(require('node:path').join(require('node:os').tmpdir(), 'rc-ipc-'));
    const path = require('node:path').join(dir, 'seen');
    child.send({ path });
    // Synchronous from here on: nothing this process batched for later could go out.
    const deadline = Date.now() + 20000;
    while (!fs.existsSync(path) && Date.now() < deadline);
    const seen = fs.existsSync(path);
    fs.rmSync(dir, { recursive: true, force: true });
    await finish(child);
    assert.ok(seen, 'the message left only after send()\'s caller gave the loop back');
  });

test('internal messages are emitted as internalMessage only', TIMEOUT, async () => {
  const child = start('internal');
  const internal = [];
  const plain = [];
  child.on('internalMessage', (message) => internal.push(message));
  child.on('message', (message) => plain.push(message));
  await nextMessage(child, (message) => message === 'plain');
  assert.deepStrictEqual(internal, [{ cmd: 'NODE_TEST_PING', n: 1 }]);
  assert.deepStrictEqual(plain, [{ cmd: 'NODE_' }, 'plain']);
  await finish(child);
});

test('messages wait for a message listener', TIMEOUT, async () => {
  const child = start('internal');
  await once(child, 'internalMessage');
  // No 'message' listener yet: those messages are held, then delivered.
  await new Promise((resolve) => setImmediate(resolve));
  const messages = [];
  await nextMessage(child, (message) => messages.push(message) && message === 'plain');
  assert.deepStrictEqual(messages, [{ cmd: 'NODE_' }, 'plain']);
  await finish(child);
});

test('send() validates like Node', TIMEOUT, async () => {
  const child = start('echo');
  assert.throws(() => child.send(), { code: 'ERR_MISSING_ARGS' });
  assert.throws(() => child.send(Symbol('s')), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => child.send(() => {}), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => child.send('x', undefined, 5), {
    code: 'ERR_INVALID_ARG_TYPE',
    message: 'The "options" argument must be of type object. Received type number (5)',
  });
  assert.throws(() => child.send('x', undefined, null), { code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => child.send('x', {}), { code: 'ERR_INVALID_HANDLE_TYPE' });
  assert.throws(() => child.send('x', 5), { code: 'ERR_INVALID_HANDLE_TYPE' });
  assert.strictEqual(child.channel.fd, undefined);
  await finish(child);
});

test('backpressure: false after a large burst, callbacks all called in order', TIMEOUT,
  async () => {
    const child = start('count');
    const total = 2000;
    const payload = 'p'.repeat(1024);
    const returns = [];
    const called = [];
    const allCalled = new Promise((resolve, reject) => {
      for (let seq = 0; seq < total; seq++) {
        returns.push(child.send({ seq, payload }, (err) => {
          if (err) reject(err);
          called.push(seq);
          if (called.length === total) resolve();
        }));
      }
    });
    assert.strictEqual(returns[0], true);
    assert.ok(returns.includes(false), 'send() never returned false');
    // Once false, it stays false for the rest of the tick's burst.
    assert.ok(returns.slice(returns.indexOf(false)).every((value) => value === false));
    await allCalled;
    assert.deepStrictEqual(called, Array.from({ length: total }, (_, i) => i));
    child.send({ done: true });
    const [reply] = await nextMessage(child);
    assert.deepStrictEqual(reply, { count: total, inOrder: true });
    await finish(child);
  });

test('a malformed line is an error event; the rest still arrives', TIMEOUT, async () => {
  const child = start('malformed');
  const errors = [];
  const messages = [];
  child.on('error', (err) => errors.push(err));
  await new Promise((resolve) => {
    child.on('message', (message) => {
      messages.push(message);
      if (message === 'after') resolve();
    });
  });
  assert.deepStrictEqual(messages, [{ before: 1 }, 'after']);
  assert.strictEqual(errors.length, 2);
  for (const err of errors) assert.strictEqual(err.code, 'ERR_IPC_INVALID_MESSAGE');
  assert.match(errors[0].message, /not json/);
  assert.match(errors[1].message, /\{\\"broken\\":/);
  // Still connected, both ways.
  assert.strictEqual(child.connected, true);
  child.send('bye');
  await next(child, 'disconnect');
  await next(child, 'exit');
});

test('an endless line fails with ERR_IPC_MESSAGE_TOO_LARGE, memory bounded', TIMEOUT,
  async () => {
    const rssBefore = process.memoryUsage().rss;
    const child = start('endless', { maxMessageSize: 1024 * 1024 });
    const [err] = await once(child, 'error');
    assert.strictEqual(err.code, 'ERR_IPC_MESSAGE_TOO_LARGE');
    const [code] = await next(child, 'exit');
    assert.strictEqual(code, 0, 'the child wrote 256 MiB without the channel closing');
    assert.strictEqual(child.connected, false);
    assert.ok(process.memoryUsage().rss - rssBefore < 64 * 1024 * 1024);
  });

test('an oversized advanced frame fails with ERR_IPC_MESSAGE_TOO_LARGE', TIMEOUT, async () => {
  const child = start('oversizeFrame', { serialization: 'advanced', maxMessageSize: 65536 });
  const events = [];
  child.on('disconnect', () => events.push('disconnect'));
  child.on('error', (err) => events.push(err.code));
  await next(child, 'exit');
  assert.deepStrictEqual(events, ['ERR_IPC_MESSAGE_TOO_LARGE', 'disconnect']);
});

test('a frame only announced as oversized, then EOF: dropped without an error, as in Node', TIMEOUT, async () => {
  const child = start('announceAndLeave', { serialization: 'advanced', maxMessageSize: 65536 });
  const events = [];
  child.on('disconnect', () => events.push('disconnect'));
  child.on('error', (err) => events.push(err.code));
  const [code] = await next(child, 'exit');
  assert.strictEqual(code, 0);
  assert.deepStrictEqual(events, ['disconnect']);
});

test('a throwing message listener surfaces, later messages still arrive', TIMEOUT,
  async () => {
    const parent = start('throwingParent');
    const [seen] = await nextMessage(parent);
    assert.deepStrictEqual(seen, ['a', 'uncaught:boom', 'b', 'c']);
    await finish(parent);
  });

test('parent disconnect(): connected false now, disconnect next tick, then exit', TIMEOUT,
  async () => {
    const child = start('echo');
    await once(child, 'spawn');
    const events = [];
    for (const name of ['disconnect', 'exit', 'close']) child.on(name, () => events.push(name));
    child.disconnect();
    assert.strictEqual(child.connected, false);
    assert.strictEqual(child.channel, null);
    assert.deepStrictEqual(events, []);
    await new Promise((resolve) => process.nextTick(resolve));
    assert.deepStrictEqual(events, ['disconnect']);

    const [err] = await new Promise((resolve) => child.send('late', (...args) => resolve(args)));
    assert.strictEqual(err.code, 'ERR_IPC_CHANNEL_CLOSED');
    const errorEvent = once(child, 'error');
    child.send('late again');
    assert.strictEqual((await errorEvent)[0].code, 'ERR_IPC_CHANNEL_CLOSED');
    const again = once(child, 'error');
    child.disconnect();
    assert.strictEqual((await again)[0].code, 'ERR_IPC_DISCONNECTED');
    await next(child, 'exit');
  });

test('child disconnect: disconnect, exit, close', TIMEOUT, async () => {
  const child = start('disconnectOnRequest');
  const events = [];
  for (const name of ['disconnect', 'exit', 'close']) child.on(name, () => events.push(name));
  child.send('bye');
  await next(child, 'close');
  assert.deepStrictEqual(events, ['disconnect', 'exit', 'close']);
  assert.strictEqual(child.connected, false);
});

test('code resumed by a message runs before the exit that follows, as in Node', TIMEOUT,
  async () => {
    const child = start('hiAndLeave');
    const message = nextMessage(child);
    // Its message, EOF and exit reach JS together; the await below must still
    // see 'close' (Node runs microtasks after each libuv callback).
    holdUntilReaped(child.pid);
    await message;
    const [code] = await next(child, 'close');
    assert.strictEqual(code, 0);
  });

test('a message sent before kill() is written before the signal', TIMEOUT, async () => {
  const child = start('echo');
  await next(child, 'spawn');
  const sent = new Promise((resolve) => child.send('last words', resolve));
  child.kill('SIGKILL');
  // Node wrote in send(); a message still waiting for the end of the tick
  // would now find the channel gone.
  holdUntilReaped(child.pid);
  assert.strictEqual(await sent, null);
  await next(child, 'exit');
});

test('unref()ed child and channel let the parent exit', TIMEOUT, async () => {
  const parent = start('unrefParent');
  const [code] = await next(parent, 'exit');
  assert.strictEqual(code, 0);
});

test('net.Server to a child, which accepts on it; ACK received', TIMEOUT, async () => {
  const child = start('serveReceived');
  const server = net.createServer(() => assert.fail('the parent should not accept'));
  await listen(server);
  const { port } = server.address();
  const ack = nextMessage(child, (message) => message.cmd === 'NODE_HANDLE_ACK',
    'internalMessage');
  child.send('server', server);
  await ack;
  await nextMessage(child, (message) => message === 'serving');
  server.close();
  const text = await readAll(net.connect(port, '127.0.0.1'));
  assert.strictEqual(text, `child ${child.pid}`);
  await finish(child);
});

test('net.Socket to a child, which writes to it; the parent copy is closed', TIMEOUT,
  async () => {
    const child = start('writeReceived');
    const server = net.createServer();
    await listen(server);
    const client = net.connect(server.address().port, '127.0.0.1');
    const [socket] = await once(server, 'connection');
    const ack = nextMessage(child, (message) => message.cmd === 'NODE_HANDLE_ACK',
      'internalMessage');
    child.send('socket', socket);
    assert.strictEqual(socket._handle, null); // detached at once, as in Node
    const text = await readAll(client);
    assert.strictEqual(text, 'hello from child, socket');
    await ack;
    server.close();
    await finish(child);
  });

test('a child sends a net.Server and a net.Socket to the parent', TIMEOUT, async () => {
  const child = start('sendHandles');
  const [, server] = await nextMessage(child, (message) => message === 'server');
  assert.ok(server instanceof net.Server);
  assert.ok(server.listening);
  server.on('connection', (socket) => socket.end('parent accepted'));
  const text = await readAll(net.connect(server.address().port, '127.0.0.1'));
  assert.strictEqual(text, 'parent accepted');
  server.close();

  const [, socket] = await nextMessage(child, (message) => message === 'socket');
  assert.ok(socket instanceof net.Socket);
  const clientGot = nextMessage(child, (message) => message.clientGot !== undefined);
  socket.end('written by the parent');
  assert.deepStrictEqual((await clientGot)[0], { clientGot: 'written by the parent' });
  await finish(child);
});

test('dgram.Socket to a child, which answers on it', TIMEOUT, async () => {
  const child = start('pongReceived');
  const socket = dgram.createSocket('udp4');
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  child.send('dgram', socket);
  await nextMessage(child, (message) => message === 'bound');
  socket.close();

  const client = dgram.createSocket('udp4');
  const reply = once(client, 'message');
  client.send('ping', port, '127.0.0.1');
  assert.strictEqual(String((await reply)[0]), 'pong:ping');
  client.close();
  await finish(child);
});

test('a handle round trip: the child sends back the server it got', TIMEOUT, async () => {
  const child = start('echo');
  const server = net.createServer((socket) => socket.end('original'));
  await listen(server);
  child.send('round trip', server);
  const [message, copy] = await nextMessage(child);
  assert.strictEqual(message, 'round trip');
  assert.ok(copy instanceof net.Server);
  assert.strictEqual(copy.address().port, server.address().port);
  copy.close();
  server.close();
  await finish(child);
});

test('server.getConnections() and close() count sockets sent to a child', TIMEOUT,
  async () => {
    const child = start('holdReceived');
    const server = net.createServer();
    await listen(server);
    const client = net.connect(server.address().port, '127.0.0.1');
    const [socket] = await once(server, 'connection');
    child.send('socket', socket);
    await nextMessage(child, (message) => message === 'holding');
    const count = () => new Promise((resolve, reject) => {
      server.getConnections((err, n) => (err ? reject(err) : resolve(n)));
    });
    assert.strictEqual(await count(), 1);
    child.send('close');
    await nextMessage(child, (message) => message === 'closed');
    assert.strictEqual(await count(), 0);
    // close() asks the child whether its sockets are gone before 'close'.
    await new Promise((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    client.destroy();
    await finish(child);
  });
