'use strict';
// require('rust-cluster/pool'): a process pool whose tasks survive worker deaths.
// `new Pool(options)` validates the options (Node-style coded errors) and runs the
// tasks on this machine's workers (ProcessPool), or, with `queue`, through Redis
// across machines (RedisQueue).
const os = require('node:os');
const path = require('node:path');
const { restartOptions } = require('../supervisor/backoff');
const {
  ERR_INVALID_ARG_TYPE,
  ERR_INVALID_ARG_VALUE,
  ERR_OUT_OF_RANGE,
} = require('../internal/errors');
const {
  getValidatedPath,
  validateAbortSignal,
  validateArray,
  validateObject,
  validateOneOf,
  validateString,
} = require('../internal/validators');
const { ProcessPool } = require('./process_pool');

// The Redis mode is loaded only when asked for (it needs ioredis).
const engineFor = (o) => (o.queue === null ? new ProcessPool(o) :
  new (require('./redis_queue').RedisQueue)(o));

const MAX_TIMER = 2 ** 31 - 1; // setTimeout's limit
// The supervisor's backoff, reset by a successful start rather than after a time.
const RESTART_DEFAULTS = { delay: 100, maxDelay: 15000, factor: 2 };

function integer(value, name, min, max = Number.MAX_SAFE_INTEGER) {
  if (typeof value !== 'number') throw new ERR_INVALID_ARG_TYPE(name, 'number', value);
  if (!Number.isInteger(value)) throw new ERR_OUT_OF_RANGE(name, 'an integer', value);
  if (value < min || value > max) throw new ERR_OUT_OF_RANGE(name, `>= ${min} && <= ${max}`, value);
  return value;
}

function poolOptions(options) {
  validateObject(options, 'options');
  if (options.filename === undefined) {
    throw new ERR_INVALID_ARG_TYPE('options.filename', ['string', 'URL'], undefined);
  }
  let filename = getValidatedPath(options.filename, 'options.filename');
  if (typeof filename !== 'string') filename = Buffer.from(filename).toString();
  const opt = (key, fallback, check) => (options[key] === undefined ? fallback :
    check(options[key], `options.${key}`));

  const size = opt('size', os.availableParallelism(), (v, n) => integer(v, n, 1));
  const o = {
    filename: path.resolve(filename),
    size,
    minSize: opt('minSize', size, (v, n) => integer(v, n, 0, size)),
    maxRetries: opt('maxRetries', 0, (v, n) => integer(v, n, 0)),
    taskTimeout: opt('taskTimeout', 0, (v, n) => integer(v, n, 0, MAX_TIMER)),
    maxQueue: opt('maxQueue', Infinity, (v, n) => (v === Infinity ? v : integer(v, n, 0))),
    concurrentTasksPerWorker: opt('concurrentTasksPerWorker', 1, (v, n) => integer(v, n, 1)),
    serialization: opt('serialization', 'advanced', (v, n) => {
      validateOneOf(v, n, ['json', 'advanced']);
      return v;
    }),
    idleTimeout: opt('idleTimeout', 0, (v, n) => integer(v, n, 0, MAX_TIMER)),
    execArgv: opt('execArgv', undefined, (v, n) => {
      validateArray(v, n);
      v.forEach((arg, i) => validateString(arg, `${n}[${i}]`));
      return [...v];
    }),
    env: opt('env', undefined, (v, n) => {
      validateObject(v, n);
      return v;
    }),
    cwd: opt('cwd', undefined, (v, n) => getValidatedPath(v, n)),
    restart: restartOptions(options.restart, 'options.restart', RESTART_DEFAULTS),
    queue: null,
    role: 'both',
  };
  if (options.queue !== undefined) {
    o.queue = queueOptions(options.queue, o);
    o.role = opt('role', 'both', (v, n) => {
      validateOneOf(v, n, ['producer', 'consumer', 'both']);
      return v;
    });
  } else if (options.role !== undefined) {
    throw new ERR_INVALID_ARG_VALUE('options.role', options.role, 'needs options.queue');
  }
  return o;
}

// options.queue: the Redis mode.
function queueOptions(queue, o) {
  validateObject(queue, 'options.queue');
  const { redis } = queue;
  if (typeof redis !== 'string' && (redis === null || typeof redis !== 'object' || Array.isArray(redis))) {
    throw new ERR_INVALID_ARG_TYPE('options.queue.redis', ['string', 'Object'], redis);
  }
  const opt = (key, fallback, check) => (queue[key] === undefined ? fallback :
    check(queue[key], `options.queue.${key}`));
  return {
    redis,
    name: opt('name', 'jobs', (v, n) => {
      validateString(v, n);
      if (v === '') throw new ERR_INVALID_ARG_VALUE(n, v, 'must not be empty');
      return v;
    }),
    visibilityTimeout: opt('visibilityTimeout', 30000, (v, n) => integer(v, n, 1, MAX_TIMER)),
    prefetch: opt('prefetch', 'auto', (v, n) => (v === 'auto' ? v : integer(v, n, 0))),
  };
}

class Pool {
  #engine;

  constructor(options) {
    this.#engine = engineFor(poolOptions(options));
  }

  // Resolves with the task's return value, rejects with what it threw (or why it
  // could not run). Bad options reject, as Node's promise APIs do.
  run(arg, options) {
    let name;
    let signal;
    let timeout;
    try {
      if (options !== undefined) {
        validateObject(options, 'options');
        ({ name, signal, timeout } = options);
        if (name !== undefined) validateString(name, 'options.name');
        validateAbortSignal(signal, 'options.signal');
        if (timeout !== undefined) integer(timeout, 'options.timeout', 0, MAX_TIMER);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#engine.run(arg, name, signal, timeout);
  }

  stats() {
    return this.#engine.stats();
  }

  close() {
    return this.#engine.close();
  }

  destroy() {
    return this.#engine.destroy();
  }
}

module.exports = { Pool };
