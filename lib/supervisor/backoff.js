'use strict';
// When to start a worker again after it died, and when to stop trying. Used by the
// supervisor and by the pool (after a failed start).
const { validateInteger, validateObject } = require('../internal/validators');
const { ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE } = require('../internal/errors');

const MAX_MS = 2 ** 31 - 1; // the longest setTimeout

// The `restart` options group ({ delay, maxDelay, factor } and whichever other ms
// fields `fallback` has, e.g. resetAfter), checked with Node's error codes under `name`
// and completed from `fallback`.
function restartOptions(value, name, fallback) {
  if (value !== undefined) validateObject(value, name);
  const merged = { ...fallback };
  for (const key of Object.keys(fallback)) if (value?.[key] !== undefined) merged[key] = value[key];
  for (const key of Object.keys(fallback)) {
    if (key !== 'factor') validateInteger(merged[key], `${name}.${key}`, 0, MAX_MS);
  }
  if (typeof merged.factor !== 'number') {
    throw new ERR_INVALID_ARG_TYPE(`${name}.factor`, 'number', merged.factor);
  }
  if (!(merged.factor >= 1 && merged.factor <= 100)) {
    throw new ERR_OUT_OF_RANGE(`${name}.factor`, '>= 1 && <= 100', merged.factor);
  }
  if (merged.maxDelay < merged.delay) {
    throw new ERR_OUT_OF_RANGE(`${name}.maxDelay`, `>= ${merged.delay}`, merged.maxDelay);
  }
  return merged;
}

// The delay before restarting an instance whose worker failed `failures` times in a row
// (0 for the first failure): delay, delay*factor, delay*factor^2, ... up to maxDelay.
function restartDelay({ delay, maxDelay, factor }, failures) {
  return Math.min(maxDelay, Math.round(delay * factor ** failures));
}

// The crash-loop guard: more than `count` unplanned exits within `window` ms.
class ExitWindow {
  constructor({ count, window }) {
    this.count = count;
    this.window = window;
    this.times = [];
  }

  // Records an exit at `now`; true if that makes a crash loop.
  record(now) {
    this.times.push(now);
    while (this.times[0] <= now - this.window) this.times.shift();
    return this.times.length > this.count;
  }
}

module.exports = { restartDelay, restartOptions, ExitWindow };
