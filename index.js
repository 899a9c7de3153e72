'use strict';
// require('rust-cluster'), a drop-in for require('cluster'). In a cluster worker the
// built-in module is returned: Node has set the worker side up already (it loads
// `cluster` when started with NODE_UNIQUE_ID, then deletes that variable before any
// user code runs, so the built-in's isWorker is what tells), and workers stay plain
// Node. The primary is ours. Under Node's own module loader its files are read by
// lib/internal/loader.js (see there); under another module system (Jest's registry,
// whose `module` is no node:module instance) by that system's require.
const builtin = require('node:cluster');

// Node's loader: `module` is an instance of its Module class, which has _load (the test
// lib/register.js makes too; requiring node:module to ask would load that module for it).
function primary() {
  return typeof module.constructor._load === 'function'
    ? require('./lib/internal/loader').load(`${__dirname}/lib/cluster/primary.js`, module)
    : require('./lib/cluster/primary');
}

module.exports = builtin.isWorker ? builtin : primary();
