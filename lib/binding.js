'use strict';
// Loads the native addon built by scripts/build.js (npm install).
const path = require('node:path');

const file = path.join(__dirname, '..', 'build', 'rust_cluster.node');
let binding;
try {
  binding = require(file);
} catch (err) {
  err.message = `rust-cluster: cannot load the native addon at ${file} ` +
    `(run \`npm install\` or \`npm run build\` to build it with cargo): ${err.message}`;
  throw err;
}
module.exports = binding;
