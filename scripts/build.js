'use strict';
// Builds the native addon from source with cargo (release profile) and places it
// where index.js loads it. Run by `npm install` in this repo and in any project
// that installs the package tarball.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const profile = process.argv.includes('--debug') ? 'debug' : 'release';
const args = ['build', '--lib', '--message-format=short'];
if (profile === 'release') args.push('--release');
execFileSync('cargo', args, { cwd: root, stdio: 'inherit' });

const targetDir = process.env.CARGO_TARGET_DIR
  ? path.resolve(root, process.env.CARGO_TARGET_DIR)
  : path.join(root, 'target');
const lib = process.platform === 'darwin' ? 'librust_cluster.dylib' : 'librust_cluster.so';
const out = path.join(root, 'build', 'rust_cluster.node');
fs.mkdirSync(path.dirname(out), { recursive: true });
// Copy to a temp name then rename, so a running process never sees a half-written file.
fs.copyFileSync(path.join(targetDir, profile, lib), out + '.tmp');
fs.renameSync(out + '.tmp', out);
