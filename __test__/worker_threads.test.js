'use strict';
// child_process from several JS environments at once: the main thread and worker threads
// each own their children, channels and events, and a thread that ends lets go of its own
// without touching the others'. Children are this file run with a role; worker threads are
// this file too (see the bottom).
const path = require('node:path');
const fs = require('node:fs');
const net = require('node:net');
const { once } = require('node:events');
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');

const roles = {
  // Replies 'echo:<message>' to every message.
  echo() {
    process.on('message', (m) => process.send(`echo:${m}`));
    process.on('disconnect', () => process.exit(0));
  },
  // Tells a TCP port (argv[3]) its pid once its channel is gone, then exits.
  reportDisconnect() {
    process.on('message', () => {});
    process.on('disconnect', () => {
      const s = net.connect(Number(process.argv[3]), '127.0.0.1', () => s.end(`${process.pid}`));
      s.on('close', () => process.exit(0));
    });
    process.send('ready');
  },
};

const cp = () => require('../lib/child_process');

// `rounds` round trips with an echo child, then its exit; returns what came back.
async function echoRounds(tag, rounds) {
  const child = cp().fork(__filename, ['echo']);
  const got = [];
  for (let i = 0; i < rounds; i++) {
    child.send(`${tag}-${i}`);
    const [m] = await once(child, 'message');
    got.push(m);
  }
  child.disconnect();
  const [code] = await once(child, 'exit');
  return { got, code };
}

// A plain spawn whose exit code names its thread.
async function exitCode(code) {
  const child = cp().spawn(process.execPath, ['-e', `process.exit(${code})`]);
  const [status] = await once(child, 'close');
  return status;
}

async function workerMain({ tag, code, rounds }) {
  const [echoed, status] = await Promise.all([echoRounds(tag, rounds), exitCode(code)]);
  parentPort.postMessage({ echoed, status });
}

// Forks a child that reports its disconnect, tells the main thread its pid, then ends
// with the child still connected and running.
async function workerAbandon({ port }) {
  const child = cp().fork(__filename, ['reportDisconnect', String(port)]);
  await once(child, 'message');
  parentPort.postMessage({ pid: child.pid });
  process.exit(0);
}

if (!isMainThread) {
  const run = { main: workerMain, abandon: workerAbandon }[workerData.kind];
  run(workerData);
} else if (require.main === module && roles[process.argv[2]]) {
  roles[process.argv[2]]();
} else {
  const test = require('node:test');
  const assert = require('node:assert');

  function startWorker(data) {
    const w = new Worker(__filename, { workerData: data });
    const result = once(w, 'message').then(([m]) => m);
    const exited = once(w, 'exit').then(([c]) => c);
    return { result, exited };
  }

  // What this process has open, by descriptor.
  const openFds = () => fs.readdirSync('/proc/self/fd').map((fd) => {
    try {
      return `${fd}:${fs.readlinkSync(`/proc/self/fd/${fd}`)}`;
    } catch {
      return `${fd}:gone`; // the directory listing's own descriptor
    }
  }).filter((entry) => !entry.endsWith(':gone')).sort();

  test('main thread and three worker threads use child_process at once', async () => {
    const main = cp().fork(__filename, ['echo']);
    main.send('before');
    assert.strictEqual((await once(main, 'message'))[0], 'echo:before');

    const workers = [1, 2, 3].map((n) =>
      startWorker({ kind: 'main', tag: `w${n}`, code: 10 + n, rounds: 20 }));
    // Meanwhile the main thread keeps its own traffic going.
    const [mine, mainStatus] = await Promise.all([echoRounds('m', 20), exitCode(7)]);
    assert.deepStrictEqual(mine.got, Array.from({ length: 20 }, (_, i) => `echo:m-${i}`));
    assert.strictEqual(mainStatus, 7);

    for (let n = 1; n <= 3; n++) {
      const { result, exited } = workers[n - 1];
      const { echoed, status } = await result;
      assert.deepStrictEqual(echoed.got,
        Array.from({ length: 20 }, (_, i) => `echo:w${n}-${i}`));
      assert.strictEqual(echoed.code, 0);
      assert.strictEqual(status, 10 + n);
      assert.strictEqual(await exited, 0);
    }

    // The threads are gone; the main thread's older channel still works.
    main.send('after');
    assert.strictEqual((await once(main, 'message'))[0], 'echo:after');
    main.disconnect();
    assert.deepStrictEqual(await once(main, 'exit'), [0, null]);
  });

  // Until `pid` is gone (reaped): kill(pid, 0) fails with ESRCH. Bounded by the test's
  // timeout; each check waits a turn of the event loop.
  async function reaped(pid) {
    for (;;) {
      try {
        process.kill(pid, 0);
      } catch (err) {
        if (err.code === 'ESRCH') return;
        throw err;
      }
      await new Promise(setImmediate);
    }
  }

  test('a worker thread that ends releases its channel; its child keeps running', async () => {
    const before = openFds();
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const reported = once(server, 'connection').then(async ([socket]) => {
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (d) => { text += d; });
      await once(socket, 'end');
      socket.destroy();
      await once(socket, 'close');
      return Number(text);
    });

    const { result, exited } = startWorker({ kind: 'abandon', port: server.address().port });
    const { pid } = await result;
    assert.strictEqual(await exited, 0);
    // The thread's end closed its end of the channel: the child, still alive, saw that.
    assert.strictEqual(await reported, pid);
    server.close();
    await once(server, 'close');
    // The child exits after its report; the reactor reaps it though its thread is gone.
    await reaped(pid);
    // Nothing the thread held is left open here (its channel and pidfd included).
    assert.deepStrictEqual(openFds(), before);
  });
}
