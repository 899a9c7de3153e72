'use strict';
// The user's cache for what the test tools fetch (Node's tests, Node binaries, apt indexes, a
// redis-server): ~/.cache/rust-cluster/, or $XDG_CACHE_HOME/rust-cluster/. Work in progress
// lives in directories named with the owner's pid (`<name>.partial-<pid>`, `download-<pid>-*`)
// until one rename publishes it; those an interrupted run left behind are swept.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function cacheRoot() {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'rust-cluster');
}

const OWNED = /(?:\.partial-|^download-)(\d+)(?:-|$)/;

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

// Removes the in-progress directories in `dir` whose process is gone.
function sweepStale(dir) {
  let names = [];
  try { names = fs.readdirSync(dir); } catch { return; }
  for (const name of names) {
    const m = OWNED.exec(name);
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) {
      fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    }
  }
}

// A fresh download directory in `dir`, swept later if this process dies before removing it.
function downloadDir(dir) {
  fs.mkdirSync(dir, { recursive: true });
  sweepStale(dir);
  return fs.mkdtempSync(path.join(dir, `download-${process.pid}-`));
}

module.exports = { cacheRoot, sweepStale, downloadDir };
