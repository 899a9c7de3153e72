'use strict';
// Runs one Node test file the way Node's tools/test.py does: `node <// Flags:> file` from the
// source tree's root, stdout/stderr to files, TEST_* and NODE_TEST_DIR in the environment,
// NODE_OPTIONS removed. In 'rust' mode `-r lib/register.js` is added so that rust-cluster
// replaces cluster/child_process in the test and (through NODE_OPTIONS, the register module's
// job) in every Node process it starts. Each test runs in a process group of its own, which is
// killed on timeout and swept of stray processes afterwards.

const fs = require('node:fs');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');

// tools/test.py's rule for a skipped test (matched against stdout of a passing run).
const SKIP_RE = /(?:\d+\.\.\d+|ok|not ok).*# SKIP\S*\s+(.*)/i;
const FLAGS_RE = /\/\/\s+Flags:(.*)/;
const OUTPUT_KEEP = 4096;

const running = new Set(); // pgids of tests in flight (for Ctrl-C)

function readFlags(file) {
  const m = FLAGS_RE.exec(fs.readFileSync(file, 'utf8'));
  return m ? m[1].trim().split(/\s+/).filter(Boolean) : [];
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Live (non-zombie) members of a process group, from /proc; falls back to kill(-pgid, 0).
function groupAlive(pgid) {
  try {
    for (const name of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      let stat;
      try { stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8'); } catch { continue; }
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
    }
    return false;
  } catch {
    try { process.kill(-pgid, 0); return true; } catch (e) { return e.code === 'EPERM'; }
  }
}

function killGroup(pgid) {
  try { process.kill(-pgid, 'SIGKILL'); } catch { /* already gone */ }
}

function killAll() {
  for (const pgid of running) killGroup(pgid);
}

function readOutput(file) {
  try {
    const buf = fs.readFileSync(file);
    return buf.length > (8 << 20) ? buf.subarray(0, 8 << 20).toString() : buf.toString();
  } catch {
    return '';
  }
}

function keepTail(text) {
  return text.length > OUTPUT_KEEP ? '…' + text.slice(-OUTPUT_KEEP) : text;
}

// One line saying why a test did not pass.
function failureReason(r, stdout, stderr) {
  if (r.status === 'timeout') return `timed out after ${Math.round(r.timeoutMs / 1000)} s`;
  if (r.status === 'error') return r.error;
  const how = r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
  const lines = `${stderr}\n${stdout}`.split('\n').map((l) => l.trim());
  const line = lines.find((l) => /^(\w*Error\b|Error \[|\w+Error:|AssertionError|Assertion failed|Uncaught|Mismatched)/.test(l)) ||
    lines.find((l) => /error|assert|fail/i.test(l) && !/^at /.test(l)) ||
    lines.filter(Boolean).pop() || '';
  let text = line;
  if (/:$/.test(line)) text += ` ${lines.slice(lines.indexOf(line) + 1).find(Boolean) || ''}`;
  return text ? `${how}: ${text.slice(0, 200)}` : how;
}

// test: { name, dir, file }; opts: { mode, root, register, timeoutMs, tmpRoot, slot, serial }
async function runTest(test, opts) {
  const { mode, root, register, timeoutMs, tmpRoot, slot, serial } = opts;
  const work = fs.mkdtempSync(path.join(tmpRoot, `${mode}-`));
  const testDir = path.join(work, 'node-test-dir');
  fs.mkdirSync(testDir);
  const outFile = path.join(work, 'stdout');
  const errFile = path.join(work, 'stderr');
  const flags = readFlags(test.file);
  const args = [...flags, ...(mode === 'rust' ? ['-r', register] : []), test.file];
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.NODE_PATH;
  delete env.NODE_REPL_EXTERNAL_MODULE;
  Object.assign(env, {
    NODE_TEST_DIR: testDir,
    TEST_THREAD_ID: String(slot),
    TEST_SERIAL_ID: String(serial),
    TEST_PARALLEL: test.dir === 'sequential' ? '0' : '1',
    GITHUB_STEP_SUMMARY: '',
  });

  const result = {
    test: test.name, mode, flags, status: 'error', code: null, signal: null,
    ms: 0, timeoutMs, strays: false,
  };
  const out = fs.openSync(outFile, 'w');
  const err = fs.openSync(errFile, 'w');
  const start = process.hrtime.bigint();
  let child;
  try {
    child = spawn(process.execPath, args, {
      cwd: root, env, detached: true, stdio: ['ignore', out, err],
    });
  } finally {
    fs.closeSync(out);
    fs.closeSync(err);
  }
  if (child.pid) running.add(child.pid);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid);
  }, timeoutMs);

  const exit = await new Promise((resolve) => {
    child.once('error', (e) => resolve({ error: e }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  clearTimeout(timer);
  result.ms = Number(process.hrtime.bigint() - start) / 1e6;

  if (child.pid) {
    // Processes the test left behind (e.g. workers still exiting): give them 2 s, then kill.
    for (let i = 0; i < 20 && groupAlive(child.pid); i++) await sleep(100);
    if (groupAlive(child.pid)) {
      result.strays = true;
      killGroup(child.pid);
    }
    running.delete(child.pid);
  }

  const stdout = readOutput(outFile);
  const stderr = readOutput(errFile);
  if (exit.error) {
    result.error = `spawn failed: ${exit.error.message}`;
  } else {
    result.code = exit.code;
    result.signal = exit.signal;
    if (timedOut) result.status = 'timeout';
    else if (exit.code === 0) {
      const skip = SKIP_RE.exec(stdout);
      result.status = skip ? 'skip' : 'pass';
      if (skip) result.reason = skip[1].trim();
    } else result.status = 'fail';
  }
  if (result.status !== 'pass' && result.status !== 'skip') {
    result.reason = failureReason(result, stdout, stderr);
    result.stdout = keepTail(stdout);
    result.stderr = keepTail(stderr);
  }
  fs.rmSync(work, { recursive: true, force: true, maxRetries: 3 });
  return result;
}

// Can rust-cluster be swapped in at all? Returns null if yes, else the reason.
function preflight(register, root) {
  if (!fs.existsSync(register)) return `${path.relative(process.cwd(), register) || register} does not exist yet`;
  const res = spawnSync(process.execPath, ['-r', register, '-e',
    'require("child_process"); require("cluster"); require("node:child_process"); require("node:cluster")'], {
    cwd: root, encoding: 'utf8', timeout: 30e3,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  if (res.error) return `node -r ${register}: ${res.error.message}`;
  if (res.status !== 0) {
    const lines = `${res.stderr}\n${res.stdout}`.split('\n').map((l) => l.trim()).filter(Boolean);
    const line = lines.find((l) => /^(\w*Error\b|Error \[|\w+Error:)/.test(l)) ||
      lines.find((l) => /error/i.test(l)) || lines[0];
    const how = res.signal ? `killed by ${res.signal}` : `exit ${res.status}`;
    return `node -r ${path.relative(process.cwd(), register)} -e 'require("cluster")' fails ` +
      `(${how}${line ? `: ${line.slice(0, 300)}` : ', no output'})`;
  }
  return null;
}

// Runs fn(job, slot) over jobs with `n` workers; jobs whose `exclusive` is set (test/sequential)
// run afterwards, one at a time, like Node's runner does.
async function runPool(jobs, n, fn) {
  const shared = jobs.filter((j) => !j.exclusive);
  const exclusive = jobs.filter((j) => j.exclusive);
  let next = 0;
  await Promise.all(Array.from({ length: Math.max(1, n) }, async (_, slot) => {
    while (next < shared.length) await fn(shared[next++], slot);
  }));
  for (const job of exclusive) await fn(job, 0);
}

module.exports = { runTest, runPool, preflight, readFlags, killAll };
