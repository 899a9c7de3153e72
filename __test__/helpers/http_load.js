'use strict';
// HTTP clients for the supervisor's tests: one request, one on a connection of its own,
// and a steady load that reports every request that failed; and a FIFO that holds the
// fixture app's workers (GET /?hold=<path>).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

function get(port, query = '') {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: `/${query}`, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, body: body.trim() }));
    }).on('error', reject);
  });
}

// Load until stop() is called: `connections` clients each sending requests one after
// another, over keep-alive connections or with `Connection: close`. Node's client reports
// a connection closed under a request in flight ("socket hang up", ECONNRESET), which
// autocannon retries silently. stop() resolves with { ok, failed: [error messages] }.
function load(port, { connections = 16, close = false } = {}) {
  const agent = new http.Agent({ keepAlive: !close, maxSockets: connections });
  let running = true;
  let ok = 0;
  const failed = [];
  let first;
  const started = new Promise((resolve) => { first = resolve; });
  const request = () => new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, agent, headers: close ? { connection: 'close' } : {} }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) ok++;
        else failed.push(`status ${res.statusCode}`);
        first();
        resolve();
      });
    });
    req.on('error', (err) => {
      failed.push(`${err.code}: ${err.message}`);
      resolve();
    });
    // A connection accepted and then never answered.
    req.setTimeout(5000, () => req.destroy(Object.assign(new Error('no answer in 5 s'), { code: 'TIMEOUT' })));
  });
  const clients = Array.from({ length: connections }, async () => {
    while (running) await request();
  });
  return {
    started,
    async stop() {
      running = false;
      await Promise.all(clients);
      agent.destroy();
      return { ok, failed };
    },
  };
}

// A `Connection: close` request on a connection of its own. `connectedAt` is set
// (performance.now()) once the kernel has accepted the connection: the handshake is done,
// though neither the primary nor a worker may have accepted it yet. `connected` resolves
// then (or when the request fails before); `done` resolves with { status } or { error }.
function closeRequest(port, query = '') {
  const r = { connectedAt: null, connected: null, done: null };
  let connected;
  r.connected = new Promise((resolve) => { connected = resolve; });
  r.done = new Promise((resolve) => {
    const fail = (error) => resolve({ error: error.code ?? error.message });
    const req = http.get({
      host: '127.0.0.1', port, path: `/${query}`, agent: false, headers: { connection: 'close' },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode }));
      res.on('error', fail);
    });
    req.on('socket', (socket) => socket.once('connect', () => {
      r.connectedAt = performance.now();
      connected();
    }));
    req.on('error', fail);
    req.setTimeout(10_000, () => req.destroy(Object.assign(new Error('no answer'), { code: 'TIMEOUT' })));
  });
  r.done.then(connected);
  return r;
}

// A FIFO for GET /?hold=<fifo>: each held worker reads one byte of release(n). Removed
// when test `t` ends.
function holdFifo(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rust-cluster-hold-'));
  const fifo = path.join(dir, 'hold');
  execFileSync('mkfifo', [fifo]);
  // Read and write: neither this open nor the workers' opens wait for the other end.
  const fd = fs.openSync(fifo, 'r+');
  t.after(() => {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true });
  });
  return { fifo, release: (n) => fs.writeSync(fd, Buffer.alloc(n)) };
}

module.exports = { closeRequest, get, holdFifo, load };
