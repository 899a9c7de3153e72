'use strict';
// A fixed port in a cluster: the same worker listening twice on it gets a catchable
// EADDRINUSE, and a worker that listens again after closing joins the port another worker
// holds (Node 22's keying of fixed ports, nodejs/node#60141; rust-cluster does the same on
// Node 20). Under each scheduling policy, and the same as the built-in where Node has it.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const MAJOR = Number(process.versions.node.split('.')[0]);

const SCRIPT = `
'use strict';
const cluster = require(process.env.CLUSTER_MODULE);
const net = require('node:net');
const port = Number(process.env.PORT);
const listen = () => new Promise((resolve) => {
  const server = net.createServer((s) => s.end(process.env.NAME));
  server.once('error', (err) => resolve({ error: err.code }));
  server.listen(port, '127.0.0.1', () => resolve({ server }));
});
if (cluster.isPrimary) {
  const seen = [];
  const one = cluster.fork({ NAME: 'one' });
  let two;
  cluster.on('message', (w, m) => {
    seen.push(m);
    if (m === 'one:closed') two = cluster.fork({ NAME: 'two' });
    else if (m === 'two:listening') one.send('again');
    else if (m.startsWith('one:again')) {
      console.log(JSON.stringify(seen));
      one.kill();
      two.kill();
    }
  });
} else {
  const say = (m) => process.send(process.env.NAME + ':' + m);
  (async () => {
    const first = await listen();
    if (process.env.NAME === 'two') return say(first.server ? 'listening' : first.error);
    const second = await listen();
    say(second.error || 'listened twice');
    first.server.close(() => say('closed'));
    process.on('message', async () => {
      const again = await listen();
      say('again:' + (again.error || 'listening'));
    });
  })();
}
`;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    }).on('error', reject);
  });
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-port-reuse-'));
const file = path.join(dir, 'primary.js');
fs.writeFileSync(file, SCRIPT);
test.after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(module, policy) {
  const env = { ...process.env, CLUSTER_MODULE: module, PORT: String(await freePort()), NODE_CLUSTER_SCHED_POLICY: policy };
  delete env.NODE_OPTIONS;
  return JSON.parse(execFileSync(process.execPath, [file], { env, timeout: 20_000, encoding: 'utf8' }));
}

const EXPECTED = ['one:EADDRINUSE', 'one:closed', 'two:listening', 'one:again:listening'];

for (const policy of ['rr', 'none', 'reuseport']) {
  test(`fixed port, policy ${policy}: EADDRINUSE for the same worker, shared with another`, { timeout: 30_000 }, async () => {
    assert.deepStrictEqual(await run(ROOT, policy), EXPECTED);
    // Node 22+'s built-in has the same keying; under SCHED_NONE its worker then dies of an
    // internal assertion on the second listen (nodejs/node#64869), so only rr compares.
    if (MAJOR >= 22 && policy === 'rr') assert.deepStrictEqual(await run('node:cluster', policy), EXPECTED);
  });
}
