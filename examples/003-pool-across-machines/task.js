// The task file every consumer runs: plain Node, nothing to import.
'use strict';
const os = require('node:os');

exports.heavyCalculation = function performHeavyCalculation(n) {
  let result = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      result += i * j;
    }
  }
  return { n, result, host: os.hostname(), pid: process.pid };
};
