// ESM entry point of rust-cluster/child_process: the default export and the named
// exports of Node's `node:child_process`, from lib/child_process.js.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const childProcess = require('../child_process.js');

export default childProcess;
export const {
  ChildProcess,
  _forkChild,
  exec,
  execFile,
  execFileSync,
  execSync,
  fork,
  spawn,
  spawnSync,
} = childProcess;
