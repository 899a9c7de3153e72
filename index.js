'use strict';
// require('rust-cluster'), a drop-in for require('cluster'). In a cluster worker the
// built-in module is returned: Node has set the worker side up already (it loads
// `cluster` when started with NODE_UNIQUE_ID, then deletes that variable before any
// user code runs, so the built-in's isWorker is what tells), and workers stay plain
// Node. The primary is ours.
const builtin = require('node:cluster');

module.exports = builtin.isWorker
  ? builtin
  : require('./lib/internal/loader').load(`${__dirname}/lib/cluster/primary.js`, module);
