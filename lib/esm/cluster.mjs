// ESM entry point of rust-cluster: the default export and the named exports of Node's
// `node:cluster`, from index.js. Node's cluster module is a different object in the
// primary and in a worker, and so are the names `node:cluster` exports; an ES module's
// names are fixed, so this one exports the union: in the primary, `worker`,
// `_getServer` and `_setupWorker` are undefined; in a worker, `fork`, `setupPrimary`,
// `workers`... are, as they are on the default export. `SCHED_REUSEPORT` is rust-cluster's
// addition.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const cluster = require('../../index.js');

export default cluster;
export const {
  SCHED_NONE,
  SCHED_RR,
  SCHED_REUSEPORT, // rust-cluster's own scheduling policy (primary only)
  Worker,
  _events,
  _eventsCount,
  _getServer,
  _maxListeners,
  _setupWorker,
  disconnect,
  fork,
  isMaster,
  isPrimary,
  isWorker,
  schedulingPolicy,
  settings,
  setupMaster,
  setupPrimary,
  worker,
  workers,
} = cluster;
