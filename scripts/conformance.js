#!/usr/bin/env node
'use strict';
// npm run conformance [-- options]
//
// Runs Node's own cluster/child_process tests (test/parallel and test/sequential files named
// test-cluster-* and test-child-process-*, from the upstream tarball of Debian's nodejs source
// package, cached in ~/.cache/rust-cluster/node-tests/) twice: with the built-in modules and with rust-cluster
// swapped in (`node -r lib/register.js`). See conformance/README.md.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { resolveTests } = require('./conformance/tests');
const { Unavailable } = require('./private-apt');
const runner = require('./conformance/runner');
const expected = require('./conformance/list');

const REPO = path.resolve(__dirname, '..');
const REGISTER = path.join(REPO, 'lib', 'register.js');
const MAJOR = Number(process.versions.node.split('.')[0]);
const LIST_FILE = path.join(REPO, 'conformance', `expected-pass-${MAJOR}.txt`);
// Under CI a conformance run that cannot happen is a failure; elsewhere (offline, no apt) it is
// said in one line and the rest of `npm test` stands.
const STRICT = !!process.env.CI && !/^(0|false)$/i.test(process.env.CI);
const JSON_FILE = path.join(REPO, 'conformance', 'last-run.json');

const USAGE = `usage: node scripts/conformance.js [options]

  --ci               run only the tests listed in conformance/expected-pass-<major>.txt
                     (the running Node's major), with rust-cluster only; exit 1 if one of
                     them fails
  --filter <substr>  only tests whose name contains <substr> (repeatable)
  --only-builtin     run with the built-in modules only
  --jobs <n>         tests run in parallel (default 2; test/sequential ones run alone)
  --timeout <s>      per-test timeout in seconds (default 60; doubled for test/sequential)
  --ratchet          add tests that passed with rust-cluster to the list, and reason lines
                     for the others (never removes a listed test)
  --json <file>      where to write the results (default conformance/last-run.json)
  --tests-dir <dir>  use the tests of this Node source tree instead of the Debian package
  --refresh          ask Debian for the newest matching source package even if one is cached
  -v, --verbose      print the output of every test that did not pass
  -h, --help`;

function log(msg) {
  process.stderr.write(`${msg}\n`);
}

function fmtMs(ms) {
  if (ms < 60e3) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

function cell(r) {
  if (!r) return '-';
  const label = { pass: 'pass', skip: 'skip', fail: 'FAIL', timeout: 'TIMEOUT', error: 'ERROR', 'n/a': 'n/a' }[r.status];
  const t = r.status === 'n/a' ? '' : ` ${fmtMs(r.ms)}`;
  return `${label}${t}${r.strays ? ' +strays' : ''}`;
}

function count(results, mode) {
  const c = { pass: 0, fail: 0, skip: 0, timeout: 0, error: 0, 'n/a': 0, ms: 0 };
  for (const r of results) {
    const x = r[mode];
    if (!x) continue;
    c[x.status]++;
    c.ms += x.ms || 0;
  }
  c.failed = c.fail + c.timeout + c.error + c['n/a'];
  return c;
}

function parseOptions(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      ci: { type: 'boolean' },
      filter: { type: 'string', multiple: true },
      'only-builtin': { type: 'boolean' },
      jobs: { type: 'string' },
      timeout: { type: 'string' },
      ratchet: { type: 'boolean' },
      json: { type: 'string' },
      'tests-dir': { type: 'string' },
      refresh: { type: 'boolean' },
      verbose: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const jobs = Number(values.jobs ?? 2);
  const timeout = Number(values.timeout ?? 60);
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error('--jobs wants a positive integer');
  if (!(timeout > 0)) throw new Error('--timeout wants a positive number of seconds');
  if (values.ci && values['only-builtin']) throw new Error('--ci runs rust-cluster only; drop --only-builtin');
  return { ...values, jobs, timeout };
}

async function main() {
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    log(`${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (opts.help) {
    console.log(USAGE);
    return 0;
  }
  const started = Date.now();
  let exitCode = 0;

  // The list and the tests.
  const list = expected.load(LIST_FILE);
  if (!list.exists) {
    if (opts.ci) {
      log(`error: ${path.relative(REPO, LIST_FILE)} is missing`);
      return 1;
    }
    log(`note: ${path.relative(REPO, LIST_FILE)} does not exist yet (nothing is required to pass)`);
  }
  let source;
  try {
    source = resolveTests({ testsDir: opts['tests-dir'], refresh: opts.refresh, pinned: list.sourceVersion, log });
  } catch (e) {
    if (!(e instanceof Unavailable)) throw e;
    const why = e.message.replace(/:?\n/g, '; ');
    console.log(`conformance: not run, Node's tests cannot be had here: ${why.length > 400 ? `${why.slice(0, 399)}…` : why}` +
      `${STRICT ? ' (CI=true: a failure)' : ''}`);
    return STRICT ? 1 : 0;
  }
  if (!source.tests.length) throw new Error(`no test-cluster-*/test-child-process-* files under ${source.root}/test`);
  const { errors, warnings } = expected.validate(list, source.tests);
  warnings.forEach((w) => log(`warning: ${w}`));
  if (errors.length) {
    errors.forEach((e) => log(`error: ${e}`));
    if (opts.ci) return 1;
    if (opts.ratchet) {
      log('not running: fix these before --ratchet rewrites the list');
      return 1;
    }
    exitCode = 1;
  }
  log(`Node ${process.version}; tests: nodejs ${source.version} from ${source.source}`);
  if (source.mismatch) log(`WARNING: these tests are not Node ${MAJOR}'s own (no matching source package was available)`);
  if (list.sourceVersion && list.sourceVersion !== source.version) {
    log(`note: ${path.relative(REPO, LIST_FILE)} was made against nodejs ${list.sourceVersion}`);
  }

  // What to run.
  let tests = source.tests;
  if (opts.ci) tests = tests.filter((t) => list.listed.has(t.name));
  if (opts.filter) tests = tests.filter((t) => opts.filter.some((f) => t.name.includes(f)));
  const modes = opts.ci ? ['rust'] : opts['only-builtin'] ? ['builtin'] : ['builtin', 'rust'];

  let rustUnavailable = null;
  if (modes.includes('rust') && tests.length) {
    rustUnavailable = runner.preflight(REGISTER, source.root);
    if (rustUnavailable) log(`rust-cluster run not possible: ${rustUnavailable}`);
  }

  // Run.
  const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-conformance-'));
  const cleanup = () => fs.rmSync(tmpRoot, { recursive: true, force: true, maxRetries: 3 });
  const onSignal = (sig) => {
    log(`\n${sig}: stopping the tests`);
    runner.killAll();
    cleanup();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const results = tests.map((t) => ({ test: t.name, flags: runner.readFlags(t.file) }));
  const byName = new Map(results.map((r) => [r.test, r]));
  const jobs = [];
  for (const t of tests) {
    for (const mode of modes) {
      if (mode === 'rust' && rustUnavailable) {
        byName.get(t.name).rust = { status: 'n/a', reason: rustUnavailable, ms: 0 };
      } else {
        jobs.push({ test: t, mode, exclusive: t.dir === 'sequential' });
      }
    }
  }
  const tty = process.stderr.isTTY;
  let done = 0;
  let serial = 0;
  log(`Running ${jobs.length} test runs (${tests.length} tests × ${modes.join(' + ')}), ${opts.jobs} at a time, ` +
    `timeout ${opts.timeout}s (${opts.timeout * 2}s for test/sequential)`);
  try {
    await runner.runPool(jobs, opts.jobs, async (job, slot) => {
      const r = await runner.runTest(job.test, {
        mode: job.mode, root: source.root, register: REGISTER, tmpRoot, slot, serial: serial++,
        timeoutMs: opts.timeout * 1000 * (job.test.dir === 'sequential' ? 2 : 1),
      });
      byName.get(job.test.name)[job.mode] = r;
      done++;
      const label = job.mode === 'rust' ? 'rust-cluster' : 'built-in';
      const line = `[${String(done).padStart(String(jobs.length).length)}/${jobs.length}] ${label.padEnd(12)} ${cell(r).padEnd(14)} ${job.test.name}`;
      if (r.status !== 'pass' && r.status !== 'skip') {
        if (tty) process.stderr.write('\r\x1b[K');
        log(`${line}\n      ${r.reason}`);
        if (opts.verbose) log(`--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}\n---`);
      } else if (tty) {
        process.stderr.write(`\r\x1b[K${line.slice(0, process.stderr.columns - 1 || 100)}`);
      } else if (done % 25 === 0 || done === jobs.length) {
        log(line);
      }
    });
    // In CI a listed test that failed gets one more run, alone: two noisy cores can push
    // a timing-sensitive Node test over its limits. It is reported as flaky, never hidden.
    if (opts.ci) {
      const again = jobs.filter((j) => !['pass', 'skip'].includes(byName.get(j.test.name).rust?.status));
      for (const job of again) {
        const r = await runner.runTest(job.test, {
          mode: 'rust', root: source.root, register: REGISTER, tmpRoot, slot: 0, serial: serial++,
          timeoutMs: opts.timeout * 1000 * (job.test.dir === 'sequential' ? 2 : 1),
        });
        const first = byName.get(job.test.name).rust;
        log(`retry alone: ${cell(r)} ${job.test.name}` +
          (r.status === 'pass' ? ` (FLAKY: failed first with ${first.reason})` : ''));
        if (r.status === 'pass') r.flakyFirst = first.reason;
        byName.get(job.test.name).rust = r;
      }
    }
  } finally {
    if (tty) process.stderr.write('\r\x1b[K');
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    cleanup();
  }
  const wall = Date.now() - started;

  if (!results.length) {
    console.log(opts.ci ? `No test is listed in ${path.relative(REPO, LIST_FILE)} yet: nothing to run.`
      : 'No test matches.');
  }

  // Table.
  if (results.length) {
    const w = Math.max(4, ...results.map((r) => r.test.length));
    const out = [
      `${'test'.padEnd(w)}  ${'built-in'.padEnd(18)}  rust-cluster`,
      `${'-'.repeat(w)}  ${'-'.repeat(18)}  ${'-'.repeat(18)}`,
    ];
    for (const r of results) out.push(`${r.test.padEnd(w)}  ${cell(r.builtin).padEnd(18)}  ${cell(r.rust)}`);
    console.log(out.join('\n'));
  }

  // Failures, once each.
  const notPassing = (mode) => results.filter((r) => r[mode] && !['pass', 'skip', 'n/a'].includes(r[mode].status));
  for (const mode of modes) {
    const bad = notPassing(mode);
    if (!bad.length) continue;
    console.log(`\nNot passing with ${mode === 'rust' ? 'rust-cluster' : 'the built-in modules'}:`);
    for (const r of bad) console.log(`  ${r.test}: ${r[mode].reason}`);
  }

  // Summary.
  const b = count(results, 'builtin');
  const rc = count(results, 'rust');
  const sum = (c) => `${c.pass} passed, ${c.fail} failed, ${c.timeout} timed out, ${c.skip} skipped` +
    (c.error ? `, ${c.error} errors` : '') + ` (${fmtMs(c.ms)} of test time)`;
  console.log('');
  if (modes.includes('builtin')) console.log(`built-in:     ${sum(b)}`);
  if (modes.includes('rust')) {
    console.log(rustUnavailable ? `rust-cluster: not run (${rustUnavailable})` : `rust-cluster: ${sum(rc)}`);
  }
  console.log(`tests of nodejs ${source.version} on Node ${process.version}` +
    `${source.mismatch ? ' (NOT this major\'s own tests: Debian has none)' : ''}`);
  console.log(`wall time ${fmtMs(wall)} with --jobs ${opts.jobs}`);

  // The list: regressions, hygiene, ratchet.
  const regressions = results.filter((r) => list.listed.has(r.test) && r.rust &&
    !['pass', 'skip'].includes(r.rust.status));
  if (regressions.length) {
    console.log(`\n${regressions.length} test(s) in ${path.relative(REPO, LIST_FILE)} did not pass with rust-cluster:`);
    for (const r of regressions) console.log(`  ${r.test}: ${r.rust.reason}`);
    exitCode = 1;
  }
  const newPasses = results.filter((r) => r.rust?.status === 'pass' && !list.listed.has(r.test));
  const unexplained = results.filter((r) => r.builtin?.status === 'pass' && !list.listed.has(r.test) &&
    !list.notYet.has(r.test) && r.rust?.status !== 'pass');
  if (opts.ratchet) {
    const { added, reasoned } = expected.ratchet(list, results, opts['tests-dir'] ? null : source.version);
    expected.save(list);
    console.log(`\n${path.relative(REPO, LIST_FILE)}: ${added.length} test(s) added` +
      `${added.length ? ` (${added.join(', ')})` : ''}, ${reasoned.length} reason line(s) added`);
  } else {
    if (newPasses.length) {
      console.log(`\n${newPasses.length} test(s) now pass with rust-cluster but are not listed yet ` +
        '(add them: npm run conformance -- --ratchet):');
      for (const r of newPasses) console.log(`  ${r.test}`);
    }
    if (unexplained.length && !opts.filter) {
      console.log(`\nwarning: ${unexplained.length} test(s) pass with the built-in modules but have neither a list ` +
        'entry nor a `# not yet:` reason (npm run conformance -- --ratchet adds them):');
      for (const r of unexplained) console.log(`  ${r.test}`);
    }
  }

  // JSON.
  const jsonFile = path.resolve(opts.json || JSON_FILE);
  fs.mkdirSync(path.dirname(jsonFile), { recursive: true });
  fs.writeFileSync(jsonFile, JSON.stringify({
    generatedAt: new Date(started).toISOString(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    source: { version: source.version, root: source.root, mismatch: source.mismatch },
    options: { ci: !!opts.ci, filter: opts.filter || null, modes, jobs: opts.jobs, timeout: opts.timeout },
    wallMs: wall,
    rustUnavailable,
    summary: { builtin: modes.includes('builtin') ? b : null, rust: modes.includes('rust') ? rc : null },
    results,
  }, null, 2) + '\n');
  log(`results written to ${path.relative(process.cwd(), jsonFile) || jsonFile}`);

  // Closing line: the rust-cluster run (or the built-in one with --only-builtin).
  const closing = modes.includes('rust') ? rc : b;
  console.log(`${closing.pass} passed, ${closing.failed} failed`);
  return exitCode;
}

main().then((code) => {
  process.exitCode = code;
}, (err) => {
  log(`conformance: ${err.stack || err.message}`);
  process.exitCode = 1;
});
