'use strict';
// HTTP clients for the supervisor's tests: one request, and a steady load that reports
// every request that failed.
const http = require('node:http');

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

module.exports = { get, load };
