'use strict';
// The native round-robin scheduler (src/scheduler.rs) driven through the addon's API
// directly, as the cluster primary does: listenSocket + rrCreate, a queryServer reply
// written by hand on each worker's channel, then rrAdd. The workers are plain Node
// processes running Node's own cluster worker side (NODE_UNIQUE_ID is set), so the
// newconn handles and the replies are Node's wire protocol.
//
// This file is also the workers' script (argv[2] === 'worker') and the client's
// (argv[2] === 'client').

const http = require('node:http');

// --- worker -----------------------------------------------------------------------

// An HTTP server answering its worker's id. Commands from the primary:
// {stall: true}: later newconns are held unanswered (reported as {held: n});
// {close: true}: the server closes, so later newconns are refused.
function worker() {
  const cluster = require('node:cluster'); // a worker: NODE_UNIQUE_ID was set
  let stall = false;
  const held = [];
  // Node's cluster listener answers a newconn; while stalled it never sees one.
  const listeners = process.listeners('internalMessage');
  process.removeAllListeners('internalMessage');
  process.on('internalMessage', (message, handle) => {
    if (stall && message.cmd === 'NODE_CLUSTER' && message.act === 'newconn') {
      held.push(handle);
      process.send({ held: held.length });
      return;
    }
    for (const listener of listeners) listener.call(process, message, handle);
  });
  const server = http.createServer((req, res) => {
    res.setHeader('connection', 'close');
    res.end(String(cluster.worker.id));
  });
  server.listen(0, '127.0.0.1');
  process.on('message', (message) => {
    if (message.stall) {
      stall = true;
      process.send({ stalled: true });
    } else if (message.close) {
      server.close();
      process.send({ closed: true });
    }
  });
}

// --- client -----------------------------------------------------------------------

// On "go" from stdin: requests one after another (at most 200, for at most 30 s), each
// completion appended as one byte to the progress file, which the primary can read while its
// JavaScript is blocked.
function client() {
  const fs = require('node:fs');
  const port = Number(process.argv[3]);
  const progress = process.argv[4];
  process.stdin.resume();
  process.stdin.once('data', async () => {
    const until = Date.now() + 30_000;
    for (let i = 0; i < 200 && Date.now() < until; i++) {
      await get(port);
      fs.appendFileSync(progress, '.');
    }
    process.exit(0);
  });
}

// One request on a connection of its own: the body (the worker's id).
function get(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, agent: false, headers: { connection: 'close' } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => { body += chunk; });
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(body))));
      });
    req.on('error', reject);
  });
}

if (process.argv[2] === 'worker') {
  worker();
} else if (process.argv[2] === 'client') {
  client();
} else {
  tests();
}

// --- primary ----------------------------------------------------------------------

function tests() {
  const { test } = require('node:test');
  const assert = require('node:assert/strict');
  const cp = require('node:child_process');
  const fs = require('node:fs');
  const os = require('node:os');
  const path = require('node:path');
  const { once } = require('node:events');
  const binding = require('../lib/binding');
  const { fork } = require('../lib/child_process');
  const { channelIdOf } = require('../lib/internal/ipc/channel');

  const TIMEOUT = 60_000;
  let nextWorkerId = 1;

  // A round-robin listener on 127.0.0.1, port 0, and its workers.
  class Primary {
    constructor() {
      this.key = '127.0.0.1:0:4:undefined:0';
      const sock = binding.listenSocket({ addressType: 4, address: '127.0.0.1', port: 0 });
      assert.equal(sock.errno, 0);
      assert.equal(sock.sockname.family, 'IPv4');
      this.sockname = sock.sockname;
      this.port = sock.sockname.port;
      this.id = binding.rrCreate(this.key, sock.fd);
      this.workers = [];
      this.seq = 0;
    }

    // Forks a worker and resolves once the scheduler deals it connections.
    async addWorker(serialization = 'json') {
      const id = nextWorkerId++;
      const child = fork(__filename, ['worker'], {
        env: { ...process.env, NODE_UNIQUE_ID: String(id) },
        serialization,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      child.workerId = String(id);
      this.workers.push(child);
      const added = new Promise((resolve, reject) => {
        child.once('exit', (code, signal) => reject(new Error(`worker exited: ${code} ${signal}`)));
        child.on('internalMessage', (message) => {
          if (message.cmd !== 'NODE_CLUSTER' || message.act !== 'queryServer') return;
          const reply = {
            cmd: 'NODE_CLUSTER', errno: 0, key: this.key, ack: message.seq, data: null,
            sockname: this.sockname, seq: this.seq++,
          };
          // The key must reach the worker before its first newconn.
          child.send(reply, (err) => {
            if (err) return reject(err);
            binding.rrAdd(this.id, channelIdOf(child));
            resolve();
          });
        });
      });
      await added;
      return child;
    }

    // Sends `command` to a worker and waits for the reply that has `field`.
    async command(child, command, field) {
      child.send(command);
      for (;;) {
        const [message] = await once(child, 'message');
        if (message[field] !== undefined) return message;
      }
    }

    async close() {
      binding.rrClose(this.id);
      await Promise.all(this.workers.map(async (child) => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = once(child, 'exit');
          child.kill('SIGKILL');
          await exited;
        }
      }));
    }
  }

  // `count` requests, `concurrency` at a time: the bodies.
  async function requests(port, count, concurrency) {
    const bodies = [];
    for (let i = 0; i < count; i += concurrency) {
      const n = Math.min(concurrency, count - i);
      bodies.push(...await Promise.all(Array.from({ length: n }, () => get(port))));
    }
    return bodies;
  }

  function tally(bodies) {
    const counts = {};
    for (const b of bodies) counts[b] = (counts[b] || 0) + 1;
    return counts;
  }

  test('200 connections go to both workers (json and advanced channels)',
    { timeout: TIMEOUT }, async () => {
      const p = new Primary();
      try {
        const a = await p.addWorker('json');
        const b = await p.addWorker('advanced');
        const counts = tally(await requests(p.port, 200, 20));
        assert.equal((counts[a.workerId] || 0) + (counts[b.workerId] || 0), 200);
        assert.ok(counts[a.workerId] > 0 && counts[b.workerId] > 0, JSON.stringify(counts));
      } finally {
        await p.close();
      }
    });

  test('a worker that refuses hands its connections to the other', { timeout: TIMEOUT }, async () => {
    const p = new Primary();
    try {
      const a = await p.addWorker();
      const b = await p.addWorker();
      // Its server is closed: Node's worker answers every newconn with accepted: false.
      // (The worker's {act: 'close'} is ignored here, so it stays a member.)
      await p.command(a, { close: true }, 'closed');
      const counts = tally(await requests(p.port, 60, 10));
      assert.deepEqual(counts, { [b.workerId]: 60 });
    } finally {
      await p.close();
    }
  });

  test('killing a worker holding connections loses none', { timeout: TIMEOUT }, async () => {
    const p = new Primary();
    try {
      const a = await p.addWorker();
      const b = await p.addWorker();
      await p.command(a, { stall: true }, 'stalled');
      const held = once(a, 'message');
      const pending = Promise.all(Array.from({ length: 40 }, () => get(p.port)));
      const [message] = await held;
      assert.ok(message.held >= 1);
      const exited = once(a, 'exit');
      a.kill('SIGKILL');
      await exited;
      const counts = tally(await pending);
      assert.deepEqual(counts, { [b.workerId]: 40 });
    } finally {
      await p.close();
    }
  });

  test('connections are served while the primary\'s JavaScript is blocked',
    { timeout: TIMEOUT }, async () => {
      const p = new Primary();
      try {
        await p.addWorker();
        await p.addWorker();
        const progress = path.join(os.tmpdir(), `rc-sched-progress-${process.pid}`);
        fs.writeFileSync(progress, '');
        const c = cp.spawn(process.execPath, [__filename, 'client', String(p.port), progress],
          { stdio: ['pipe', 'ignore', 'inherit'] });
        const exited = once(c, 'exit');
        let during;
        await new Promise((resolve) => c.stdin.end('go', () => {
          const done = () => fs.statSync(progress).size;
          const before = done();
          const start = Date.now();
          // Busy (no event loop) until the client has had 10 answers, or for 20 s at most:
          // a loaded machine slows the client, never the test's verdict.
          while (done() - before < 10 && Date.now() - start < 20_000);
          during = done() - before;
          resolve();
        }));
        const [code] = await exited;
        fs.rmSync(progress, { force: true });
        assert.equal(code, 0);
        assert.ok(during >= 10, `${during} requests done during the block`);
      } finally {
        await p.close();
      }
    });

  test('rrCreate of a socket that is not listening is -EINVAL, the fd left to the caller', () => {
    const sock = binding.listenSocket({ addressType: 'udp4', address: '127.0.0.1', port: 0 });
    assert.equal(sock.errno, 0);
    try {
      assert.equal(binding.rrCreate('k', sock.fd), -os.constants.errno.EINVAL);
      assert.equal(binding.rrCreate('k', sock.fd, { checkInterval: 5, stallThreshold: 20 }),
        -os.constants.errno.EINVAL);
      assert.ok(fs.fstatSync(sock.fd).isSocket(), 'still open');
    } finally {
      fs.closeSync(sock.fd);
    }
  });
}
