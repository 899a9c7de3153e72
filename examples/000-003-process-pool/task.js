// The task file of main.js: plain Node, nothing to import.
'use strict';
const fs = require('node:fs');

// Seed 003's CPU-intensive computation.
exports.heavyCalculation = function performHeavyCalculation(n) {
  let result = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      result += i * j;
    }
  }
  return result;
};

// Seed 000's failing worker: the first run kills its worker (exit code 1); the pool
// replaces the worker and runs the task again, which then succeeds.
exports.crashOnce = (marker) => {
  if (!fs.existsSync(marker)) {
    fs.writeFileSync(marker, String(process.pid));
    process.exit(1);
  }
  return `ran again after worker ${fs.readFileSync(marker, 'utf8')} died`;
};
