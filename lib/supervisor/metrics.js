'use strict';
// `rust-cluster --metrics-port`: the supervisor's figures in Prometheus text exposition,
// served at /metrics (prom-client). Per-worker values are read at each scrape.
const http = require('node:http');
const { Registry, Counter, Gauge } = require('prom-client');

function createRegistry(sup) {
  const registry = new Registry();
  const perWorker = (name, help, field) => new Gauge({
    name,
    help,
    labelNames: ['worker', 'slot'],
    registers: [registry],
    collect() {
      this.reset(); // workers that are gone leave no series behind
      for (const s of sup.stats()) {
        if (s[field] !== null) this.set({ worker: s.id, slot: s.slot }, s[field]);
      }
    },
  });
  new Gauge({
    name: 'rust_cluster_workers',
    help: 'Worker processes alive (starting, serving or leaving).',
    registers: [registry],
    collect() {
      this.set(sup.stats().length);
    },
  });
  const restarts = new Counter({
    name: 'rust_cluster_restarts_total',
    help: 'Workers restarted after an unplanned exit.',
    registers: [registry],
  });
  const reloads = new Counter({
    name: 'rust_cluster_reloads_total',
    help: 'Rolling reloads completed.',
    registers: [registry],
  });
  perWorker('rust_cluster_worker_rss_bytes', 'Resident memory of each worker.', 'rss');
  perWorker('rust_cluster_worker_cpu_percent',
            'CPU use of each worker over the last check interval, in % of one core.', 'cpu');
  perWorker('rust_cluster_worker_connections',
            'Connections each worker has accepted (as of the last check interval).',
            'connections');
  sup.on('restart', () => restarts.inc());
  sup.on('reload', () => reloads.inc());
  return registry;
}

// Serves `sup`'s metrics on `port`/`host`; resolves with the listening server.
function serveMetrics(sup, port, host) {
  const registry = createRegistry(sup);
  const server = http.createServer(async (req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('not found: the metrics are at /metrics\n');
      return;
    }
    res.setHeader('Content-Type', registry.contentType);
    res.end(await registry.metrics());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

module.exports = { serveMetrics };
