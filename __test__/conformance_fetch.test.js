'use strict';
// The conformance runner's fetch of Node's tests: which Debian version it picks, how it reads
// apt's answers, that a truncated or altered tarball is refused, and what it unpacks into the
// cache. (The download itself needs the network; `npm test` exercises it.)
const { test } = require('node:test');
const assert = require('node:assert');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const apt = require('../scripts/private-apt');

function tmpdir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-fetch-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('pickVersion: same major newest first, the pinned one before it; else the closest major', () => {
  const versions = ['18.20.4+dfsg-1~deb12u2', '20.19.2+dfsg-1+deb13u2', '20.19.2+dfsg-1+deb13u3',
    '24.21.0+dfsg+~cs24.13.4-1', '22.22.2+dfsg+~cs22.19.15-3', '24.22.2+dfsg+~cs24.19.2-1'];
  assert.deepStrictEqual(apt.pickVersion(versions, 20, null),
    { candidates: ['20.19.2+dfsg-1+deb13u3', '20.19.2+dfsg-1+deb13u2'], mismatch: false });
  assert.deepStrictEqual(apt.pickVersion(versions, 20, '20.19.2+dfsg-1+deb13u2').candidates,
    ['20.19.2+dfsg-1+deb13u2', '20.19.2+dfsg-1+deb13u3']);
  // A pinned version the index no longer lists is simply not tried.
  assert.deepStrictEqual(apt.pickVersion(versions, 20, '20.19.2+dfsg-1+deb13u1').candidates,
    ['20.19.2+dfsg-1+deb13u3', '20.19.2+dfsg-1+deb13u2']);
  const for26 = apt.pickVersion(versions, 26, null);
  assert.strictEqual(for26.mismatch, true);
  assert.deepStrictEqual(for26.candidates.slice(0, 2), ['24.22.2+dfsg+~cs24.19.2-1', '24.21.0+dfsg+~cs24.13.4-1']);
  assert.strictEqual(for26.candidates.length, versions.length, 'every version stays a fallback');
  assert.strictEqual(apt.pickVersion([], 20, null), null);
});

test('parseShowsrcVersions and parseOrigTarball read apt\'s output', () => {
  const showsrc = 'Package: nodejs\nVersion: 20.19.2+dfsg-1+deb13u3\nDirectory: pool/main/n/nodejs\n\n' +
    'Package: nodejs\nVersion: 24.21.0+dfsg+~cs24.13.4-1\n\nPackage: libnode\nVersion: 1.0-1\n';
  assert.deepStrictEqual(apt.parseShowsrcVersions(showsrc), ['20.19.2+dfsg-1+deb13u3', '24.21.0+dfsg+~cs24.13.4-1']);
  const hash = 'ab'.repeat(32);
  const uris = [
    'Reading package lists...',
    `'http://deb.debian.org/debian/pool/main/n/nodejs/nodejs_20.19.2%2bdfsg-1%2bdeb13u3.dsc' nodejs_20.19.2+dfsg-1+deb13u3.dsc 4385 SHA256:${'cd'.repeat(32)}`,
    `'http://deb.debian.org/debian/pool/main/n/nodejs/nodejs_20.19.2%2bdfsg.orig-ada.tar.xz' nodejs_20.19.2+dfsg.orig-ada.tar.xz 274900 SHA256:${'ef'.repeat(32)}`,
    `'http://deb.debian.org/debian/pool/main/n/nodejs/nodejs_20.19.2%2bdfsg.orig.tar.xz' nodejs_20.19.2+dfsg.orig.tar.xz 19886184 SHA256:${hash}`,
  ].join('\n');
  assert.deepStrictEqual(apt.parseOrigTarball(uris), {
    uri: 'http://deb.debian.org/debian/pool/main/n/nodejs/nodejs_20.19.2%2bdfsg.orig.tar.xz',
    name: 'nodejs_20.19.2+dfsg.orig.tar.xz', size: 19886184, sha256: hash,
  });
  assert.strictEqual(apt.parseOrigTarball(uris.split('\n').slice(0, 3).join('\n')), null);
});

test('verifyFile refuses a truncated or altered download', (t) => {
  const dir = tmpdir(t);
  const file = path.join(dir, 'x.orig.tar.xz');
  const data = crypto.randomBytes(4096);
  fs.writeFileSync(file, data);
  const good = { size: data.length, sha256: crypto.createHash('sha256').update(data).digest('hex') };
  apt.verifyFile(file, good);
  fs.writeFileSync(file, data.subarray(0, 1000));
  assert.throws(() => apt.verifyFile(file, good), /1000 bytes, the index lists 4096/);
  const altered = Buffer.from(data);
  altered[10] ^= 1;
  fs.writeFileSync(file, altered);
  assert.throws(() => apt.verifyFile(file, good), /SHA-256 [0-9a-f]{64}, the index lists/);
});

test('populateCache unpacks only what the runner needs, and nothing from a tarball without tests', (t) => {
  const dir = tmpdir(t);
  const src = path.join(dir, 'node-v20.0.0');
  const files = ['test/common/index.js', 'test/fixtures/a.txt', 'test/parallel/test-cluster-a.js',
    'test/parallel/test-child-process-b.mjs', 'test/sequential/test-cluster-c.js', 'test/parallel/test-fs-x.js',
    'lib/fs.js'];
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
    fs.writeFileSync(path.join(src, f), f);
  }
  const tarball = path.join(dir, 'nodejs_20.0.0.orig.tar.xz');
  execFileSync('tar', ['-cJf', tarball, '-C', dir, 'node-v20.0.0']);
  const empty = path.join(dir, 'empty.orig.tar.xz');
  fs.rmSync(path.join(src, 'test'), { recursive: true });
  execFileSync('tar', ['-cJf', empty, '-C', dir, 'node-v20.0.0']);

  // The cache location follows XDG_CACHE_HOME; load the module with it set.
  const saved = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = path.join(dir, 'cache');
  t.after(() => { if (saved === undefined) delete process.env.XDG_CACHE_HOME; else process.env.XDG_CACHE_HOME = saved; });
  const { populateCache, listTests } = require('../scripts/conformance/tests');

  const root = populateCache(tarball, { version: '20.0.0-1', forMajor: 20, mismatch: false });
  assert.strictEqual(root, path.join(dir, 'cache', 'rust-cluster', 'node-tests', '20.0.0-1'));
  assert.deepStrictEqual(listTests(root).map((x) => x.name),
    ['parallel/test-child-process-b.mjs', 'parallel/test-cluster-a.js', 'sequential/test-cluster-c.js']);
  assert.ok(fs.existsSync(path.join(root, 'test', 'common', 'index.js')));
  assert.ok(fs.existsSync(path.join(root, 'test', 'fixtures', 'a.txt')));
  assert.ok(!fs.existsSync(path.join(root, 'test', 'parallel', 'test-fs-x.js')));
  assert.ok(!fs.existsSync(path.join(root, 'lib')));
  assert.strictEqual(JSON.parse(fs.readFileSync(path.join(root, '.complete.json'), 'utf8')).files, 3);

  assert.throws(() => populateCache(empty, { version: '20.0.1-1', forMajor: 20, mismatch: false }));
  assert.deepStrictEqual(fs.readdirSync(path.join(dir, 'cache', 'rust-cluster', 'node-tests')), ['20.0.0-1']);
});
