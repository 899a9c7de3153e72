'use strict';
// `rust-cluster app.js [options] [-- app args]`: runs an unmodified app as a cluster in
// the foreground (for containers, as pm2-runtime does). Exit code 0 after a clean shutdown,
// 1 after a crash loop, 2 for a bad command line.
const path = require('node:path');
const { parseArgs } = require('node:util');
const { supervise } = require('./index');
const { defaults } = require('./options');
const { ERR_INVALID_ARG_VALUE } = require('../internal/errors');

const { restart, maxRestarts } = defaults;
const HELP = `Usage: rust-cluster <app.js> [options] [-- <app args>]

Runs app.js in a cluster of worker processes, restarts the ones that die, reloads them
one by one without dropping connections, and shuts down gracefully.

Options (default in brackets):
  -i, --instances <n|max>        worker processes; max: one per CPU [max]
      --ready <listening|message>
                                 a worker is ready when its server listens, or when it
                                 calls process.send('ready') [listening]
      --ready-timeout <ms>       not ready by then: killed, a failed start; 0: none [${defaults.readyTimeout}]
      --kill-timeout <ms>        after disconnect, SIGKILL if still alive [${defaults.killTimeout}]
      --max-memory <size>        RSS above it (e.g. 512M, 2G): worker replaced [off]
      --check-interval <ms>      how often memory, CPU and connections are read [${defaults.checkInterval}]
      --restart-delay <ms>       first restart delay, doubled per failure in a row [${restart.delay}]
      --restart-max-delay <ms>   longest restart delay [${restart.maxDelay}]
      --restart-reset <ms>       a worker up this long resets the delay [${restart.resetAfter}]
      --max-restarts <n/window>  more than n exits in window ms is a crash loop: exit 1
                                 [${maxRestarts.count}/${maxRestarts.window}]
      --prefix-logs              prefix each line of worker output with [worker id]
      --metrics-port <port>      serve Prometheus metrics at http://host:port/metrics [off]
      --metrics-host <host>      address for --metrics-port [0.0.0.0]
  -h, --help                     this text

Signals: SIGHUP reloads; SIGTERM and SIGINT shut down (a second one SIGKILLs the
workers); SIGUSR2 prints each worker's stats.
`;

const spec = {
  instances: { type: 'string', short: 'i' },
  ready: { type: 'string' },
  'ready-timeout': { type: 'string' },
  'kill-timeout': { type: 'string' },
  'max-memory': { type: 'string' },
  'check-interval': { type: 'string' },
  'restart-delay': { type: 'string' },
  'restart-max-delay': { type: 'string' },
  'restart-reset': { type: 'string' },
  'max-restarts': { type: 'string' },
  'prefix-logs': { type: 'boolean' },
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

// A whole number of `--name`, or undefined when not given.
function integer(values, name) {
  const value = values[name];
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new ERR_INVALID_ARG_VALUE(`--${name}`, value, 'must be a whole number');
  return Number(value);
}

// supervise()'s options and the CLI's own from argv.
function parse(argv) {
  const { values, positionals } = parseArgs({ args: argv, options: spec, allowPositionals: true });
  if (values.help) return { help: true };
  if (positionals.length === 0) throw new ERR_INVALID_ARG_VALUE('app', undefined, 'is required');
  const options = {
    exec: path.resolve(positionals[0]),
    args: positionals.slice(1),
    execArgv: [],
    ready: values.ready,
    readyTimeout: integer(values, 'ready-timeout'),
    killTimeout: integer(values, 'kill-timeout'),
    checkInterval: integer(values, 'check-interval'),
    restart: {
      delay: integer(values, 'restart-delay') ?? restart.delay,
      maxDelay: integer(values, 'restart-max-delay') ?? restart.maxDelay,
      resetAfter: integer(values, 'restart-reset') ?? restart.resetAfter,
    },
    prefixLogs: values['prefix-logs'] ?? false,
    signals: true,
  };
  if (values.instances !== undefined) {
    options.instances = values.instances === 'max' ? 'max' : integer(values, 'instances');
  }
  if (values['max-memory'] !== undefined) options.maxMemory = values['max-memory'];
  if (values['max-restarts'] !== undefined) {
    const match = /^(\d+)\/(\d+)$/.exec(values['max-restarts']);
    if (!match) {
      throw new ERR_INVALID_ARG_VALUE('--max-restarts', values['max-restarts'], 'must be count/window-ms, e.g. 10/60000');
    }
    options.maxRestarts = { count: Number(match[1]), window: Number(match[2]) };
  }
  for (const key of Object.keys(options)) if (options[key] === undefined) delete options[key];
  return {
    options,
    metricsPort: integer(values, 'metrics-port'),
    metricsHost: values['metrics-host'] ?? '0.0.0.0',
  };
}

const columns = ['id', 'pid', 'slot', 'state', 'uptime', 'restarts', 'rss', 'cpu', 'connections'];
const shown = {
  uptime: (ms) => `${(ms / 1000).toFixed(1)}s`,
  rss: (bytes) => (bytes === null ? '-' : `${(bytes / 2 ** 20).toFixed(1)}M`),
  cpu: (percent) => `${percent}%`,
};

function statsTable(stats) {
  const rows = [columns, ...stats.map((s) => columns.map((c) => (shown[c] ?? String)(s[c])))];
  const widths = columns.map((_, i) => Math.max(...rows.map((row) => String(row[i]).length)));
  return rows.map((row) => row.map((cell, i) => String(cell).padEnd(widths[i])).join('  ').trimEnd())
    .join('\n') + '\n';
}

async function main(argv) {
  let parsed;
  try {
    parsed = parse(argv);
  } catch (err) {
    process.stderr.write(`rust-cluster: ${err.message}\n\n${HELP}`);
    process.exitCode = 2;
    return;
  }
  if (parsed.help) {
    process.stdout.write(HELP);
    return;
  }
  let sup;
  try {
    sup = supervise(parsed.options);
  } catch (err) {
    process.stderr.write(`rust-cluster: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  let metrics = null;
  if (parsed.metricsPort !== undefined) {
    try {
      // prom-client is loaded only for this.
      const { serveMetrics } = require('./metrics');
      metrics = await serveMetrics(sup, parsed.metricsPort, parsed.metricsHost);
    } catch (err) {
      process.stderr.write(`rust-cluster: metrics: ${err.message}\n`);
      process.exitCode = 2;
      sup.shutdown();
      return;
    }
  }
  const say = (line) => process.stderr.write(`rust-cluster: ${line}\n`);
  if (metrics !== null) {
    const { address, port } = metrics.address();
    say(`metrics at http://${address}:${port}/metrics`);
  }
  const printStats = () => process.stdout.write(statsTable(sup.stats()));
  process.on('SIGUSR2', printStats);
  sup.on('ready', () => say(`${sup.stats().length} workers ready`));
  sup.on('restart', (worker, code, signal, delay) => {
    say(`worker ${worker.id} exited (${signal ?? `code ${code}`}), restarting in ${delay} ms`);
  });
  sup.on('memory', (worker, rss) => say(`worker ${worker.id} uses ${Math.round(rss / 2 ** 20)}M: replacing it`));
  sup.on('reload', ({ instances, duration }) => say(`reloaded ${instances} workers in ${duration} ms`));
  sup.on('crashloop', (err) => say(err.message));
  // After the supervisor's own handlers: the listeners have stopped when this is said.
  let stopSignals = 0;
  const onStop = (signal) => {
    say(stopSignals++ === 0 ? `${signal}: stopped listening, shutting down` :
      `${signal}: killing the workers`);
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  sup.once('shutdown', (crashed) => {
    say('all workers exited');
    process.exitCode ??= crashed ? 1 : 0;
    process.removeListener('SIGUSR2', printStats);
    process.removeListener('SIGTERM', onStop);
    process.removeListener('SIGINT', onStop);
    metrics?.close();
    metrics?.closeAllConnections();
  });
}

module.exports = { main, parse, statsTable, HELP };
