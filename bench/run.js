#!/usr/bin/env node
'use strict';
// npm run bench [-- options]       the whole bench (see USAGE)
// npm start                        = node bench/run.js --quick: the cluster scenarios, < 1 min
//
// Each scenario's measurements run with the built-in module and with rust-cluster
// alternately (built-in, rust-cluster, built-in, rust-cluster, ...) in every round, each
// in fresh processes; the report shows per-measurement medians over the rounds and the
// ratio of the medians, oriented so that > 1.0x means rust-cluster is better.
const path = require('node:path');
const { parseArgs } = require('node:util');
const report = require('./report');
const loadgen = require('./loadgen');
const { ROOT, median, machineInfo, gitRevision, clusterStatus } = require('./util');

const SCENARIOS = ['http', 'blocked', 'ipc', 'spawn', 'fork', 'supervise', 'pool', 'pool_redis', 'adaptive'].map((n) => require(`./scenarios/${n}`));

const USAGE = `usage: node bench/run.js [options]     (npm run bench -- [options])

  --quick            the cluster scenarios (http, blocked), 1 round, short: what npm start runs
  --only <names>     only these scenarios, comma-separated: ${SCENARIOS.map((s) => s.name).join(', ')}
  --rounds <n>       rounds (default 3; --quick 1)
  --duration <s>     seconds per HTTP measurement (default 4; --quick 2); IPC and spawn
                     measurements last 0.4x and 0.25x of it (at least 0.3 s)
  --loadgen <name>   wrk or autocannon (default: wrk if installed, else autocannon)
  --smoke            everything tiny (1 round, 0.3 s, small counts): checks that the bench
                     works, measures nothing worth reading; writes no files unless --out
  --out <dir>        where to write results (default bench/results)
  -h, --help`;

function options() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
      only: { type: 'string' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      loadgen: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  return values;
}

function settingsFor(o, cores) {
  const mode = o.smoke ? 'smoke' : o.quick ? 'quick' : 'full';
  const num = (v, name) => {
    const n = Number(v);
    if (!(n > 0)) throw new Error(`--${name} wants a positive number, got ${v}`);
    return n;
  };
  const rounds = o.rounds !== undefined ? Math.round(num(o.rounds, 'rounds')) : mode === 'full' ? 3 : 1;
  const duration = o.duration !== undefined ? num(o.duration, 'duration') : { full: 4, quick: 2, smoke: 0.3 }[mode];
  return {
    mode,
    rounds,
    duration,
    httpSeconds: duration,
    warmup: { full: 1, quick: 1, smoke: 0 }[mode],
    workers: cores,
    connections: mode === 'smoke' ? 16 : 64,
    blockMs: mode === 'smoke' ? 200 : 1000,
    blockConnections: mode === 'smoke' ? 8 : 32,
    settleMs: mode === 'smoke' ? 50 : 300,
    blockLeadMs: mode === 'smoke' ? 300 : 1000, // client warm-up before the pre-block window
    ipcMs: mode === 'smoke' ? 150 : Math.max(300, Math.round(duration * 400)),
    spawnMs: mode === 'smoke' ? 100 : Math.max(300, Math.round(duration * 250)),
    heapMB: mode === 'smoke' ? 64 : 1024,
    forkCount: mode === 'smoke' ? 3 : 15,
    rssSettleMs: mode === 'smoke' ? 100 : 500,
    chaosMs: { full: 10000, quick: 3000, smoke: 1000 }[mode],
    chaosEvery: 300,
  };
}

function pick(results, [key, metric]) {
  const runs = results[key] || [];
  const values = runs.filter((r) => r.result).map((r) => r.result[metric]);
  return { values, median: median(values) };
}

function ratioOf(better, b, o) {
  if (typeof b !== 'number' || typeof o !== 'number') return null;
  const [num, den] = better === 'lower' ? [b, o] : [o, b];
  if (den === 0) return num === 0 ? null : Infinity;
  return num / den;
}

async function main() {
  const o = options();
  const machine = machineInfo();
  const settings = settingsFor(o, machine.cores);
  let selected = SCENARIOS;
  if (o.only) {
    const names = o.only.split(',').map((s) => s.trim()).filter(Boolean);
    for (const n of names) {
      if (!SCENARIOS.some((s) => s.name === n)) throw new Error(`--only: unknown scenario ${n} (${SCENARIOS.map((s) => s.name).join(', ')})`);
    }
    selected = SCENARIOS.filter((s) => names.includes(s.name));
  } else if (settings.mode === 'quick') {
    selected = SCENARIOS.filter((s) => s.cluster);
  }

  const needsHttp = selected.some((s) => s.name === 'http');
  const gen = needsHttp ? loadgen.detect(o.loadgen) : null;
  const cluster = clusterStatus();
  const meta = {
    date: new Date().toISOString(),
    mode: settings.mode,
    rounds: settings.rounds,
    only: o.only || null,
    node: process.version,
    version: require(path.join(ROOT, 'package.json')).version,
    git: gitRevision(),
    machine,
    cluster,
    loadgen: gen ? gen.label : null,
    blockedClient: selected.some((s) => s.name === 'blocked')
      ? `bench/fixtures/http_timed_client.js, ${settings.blockConnections} connections, Connection: close (timestamps every response)`
      : null,
    settings,
    ratioNote: report.RATIO_NOTE,
  };
  const ctx = { settings, loadgen: gen, cluster };

  console.log(`rust-cluster bench: ${settings.mode}, ${settings.rounds} round(s), scenarios ${selected.map((s) => s.name).join(', ')}`);
  console.log(`  ${machine.cpuModel}, ${machine.cores} cores, ${machine.kernel}; node ${process.version}; HTTP load: ${meta.loadgen || '-'}`);
  console.log(`  cluster: ${cluster.note}`);

  const plans = [];
  for (const sc of selected) {
    if (sc.setup) await sc.setup(ctx);
    plans.push({ sc, plan: sc.plan(ctx), raw: {}, errors: {} });
  }

  const started = Date.now();
  let failedBuiltin = false;
  try {
    for (let round = 1; round <= settings.rounds; round++) {
      for (const p of plans) {
        for (const c of p.plan.cases) {
          p.raw[c.key] = p.raw[c.key] || [];
          if (p.errors[c.key]) continue; // failed in an earlier round: not retried
          const t0 = Date.now();
          try {
            const result = await c.run(round);
            p.raw[c.key].push({ round, result });
            console.log(`  [${round}/${settings.rounds}] ${p.sc.name.padEnd(7)} ${c.label.padEnd(36)} ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s`);
          } catch (err) {
            const msg = String(err && err.message || err);
            p.errors[c.key] = msg;
            p.raw[c.key].push({ round, error: msg });
            if (c.impl !== 'rust-cluster') failedBuiltin = true;
            console.log(`  [${round}/${settings.rounds}] ${p.sc.name.padEnd(7)} ${c.label.padEnd(36)} FAILED: ${msg.split('\n')[0].slice(0, 160)}`);
          }
        }
      }
    }
  } finally {
    for (const { sc } of plans) if (sc.teardown) await sc.teardown(ctx);
  }
  meta.seconds = Math.round((Date.now() - started) / 1000);

  const results = { meta, scenarios: [] };
  for (const { sc, plan, raw, errors } of plans) {
    const rows = plan.rows.map((r) => {
      const b = pick(raw, r.builtin);
      const ours = pick(raw, r.ours);
      const ratio = ratioOf(r.better, b.median, ours.median);
      const last = (key) => {
        const ok = (raw[key] || []).filter((x) => x.result);
        return ok.length ? ok[ok.length - 1].result : null;
      };
      const perRound = [];
      for (let i = 0; i < Math.min(b.values.length, ours.values.length); i++) {
        perRound.push(ratioOf(r.better, b.values[i], ours.values[i]));
      }
      return {
        label: r.label,
        unit: r.unit,
        better: r.better,
        builtin: { case: r.builtin[0], metric: r.builtin[1], unit: r.unit, median: b.median, values: b.values, error: errors[r.builtin[0]] || null },
        ours: { case: r.ours[0], metric: r.ours[1], unit: r.unit, median: ours.median, values: ours.values, error: errors[r.ours[0]] || null },
        ratio: ratio === Infinity ? null : ratio,
        ratioText: ratio === Infinity ? '∞' : ratio !== null ? null
          : errors[r.builtin[0]] || errors[r.ours[0]] ? 'error' : 'n/a',
        perRoundRatios: perRound,
        note: typeof r.note === 'function' ? r.note(last(r.builtin[0]), last(r.ours[0])) : r.note ?? null,
      };
    });
    const references = (plan.references || []).map((ref) => {
      const v = pick(raw, ref.case);
      return { label: ref.label, unit: ref.unit, median: v.median, values: v.values, error: errors[ref.case[0]] || null };
    });
    results.scenarios.push({ name: sc.name, title: sc.title, rows, references, notes: plan.notes || [], errors, raw });
  }

  console.log(report.terminal(results, { color: process.stdout.isTTY }));
  const outDir = o.out ? path.resolve(o.out) : settings.mode === 'smoke' ? null : path.join(__dirname, 'results');
  if (outDir) {
    const files = report.write(results, outDir, settings.mode === 'quick' ? 'quick' : 'latest');
    console.log(`wrote ${Object.values(files).map((f) => path.relative(process.cwd(), f)).join(', ')}`);
  }
  console.log(`done in ${meta.seconds} s`);
  if (settings.mode === 'quick') {
    console.log('This was the quick look at the cluster scenarios. The whole bench (IPC, spawn, fork too, ' +
      'several rounds): npm run bench; options: npm run bench -- --help');
  }
  if (failedBuiltin) process.exitCode = 1;
}

main().catch((err) => {
  if (err && typeof err.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS')) {
    console.error(`${err.message}\n\n${USAGE}`);
  } else {
    console.error(err && err.stack || err);
  }
  process.exit(2);
});
