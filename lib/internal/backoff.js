'use strict';
// Exponential restart backoff: the delay before restarting something that keeps
// failing to start. The first restart waits `delay` ms, each further one `factor`
// times longer, up to `maxDelay`; reset() (after a successful start) starts over.
const { validateObject } = require('./validators');
const { ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE } = require('./errors');

const DEFAULTS = Object.freeze({ delay: 100, maxDelay: 15000, factor: 2 });

function validateNumber(value, name, min) {
  if (typeof value !== 'number') throw new ERR_INVALID_ARG_TYPE(name, 'number', value);
  if (!(value >= min) || !Number.isFinite(value)) {
    throw new ERR_OUT_OF_RANGE(name, `a finite number >= ${min}`, value);
  }
}

// `options` as given by the user (undefined for the defaults), validated under `name`.
function backoffOptions(options, name) {
  if (options === undefined) return { ...DEFAULTS };
  validateObject(options, name);
  const out = { ...DEFAULTS };
  for (const [key, min] of [['delay', 0], ['maxDelay', 0], ['factor', 1]]) {
    if (options[key] !== undefined) {
      validateNumber(options[key], `${name}.${key}`, min);
      out[key] = options[key];
    }
  }
  if (out.maxDelay < out.delay) {
    throw new ERR_OUT_OF_RANGE(`${name}.maxDelay`, `>= ${name}.delay (${out.delay})`,
      out.maxDelay);
  }
  return out;
}

// The delay before restarting something that failed `failures` times in a row (0 for the
// first failure): delay, delay*factor, delay*factor^2, ... up to maxDelay, in whole ms.
function backoffDelay({ delay, maxDelay, factor }, failures) {
  return Math.min(maxDelay, Math.round(delay * factor ** failures));
}

class Backoff {
  #options;
  #failures = 0;

  constructor(options) {
    this.#options = options;
  }

  // The delay before the next attempt, counting one more failure.
  next() {
    return backoffDelay(this.#options, this.#failures++);
  }

  get failures() {
    return this.#failures;
  }

  reset() {
    this.#failures = 0;
  }
}

module.exports = { Backoff, backoffDelay, backoffOptions, BACKOFF_DEFAULTS: DEFAULTS };
