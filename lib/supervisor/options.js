'use strict';
// supervise()'s options: checked with Node's error codes, defaults filled in. The README's
// "Run an app as a cluster" lists the same names and defaults.
const os = require('node:os');
const {
  validateArray,
  validateBoolean,
  validateInteger,
  validateObject,
  validateOneOf,
  validateString,
} = require('../internal/validators');
const { ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE } = require('../internal/errors');
const { restartOptions } = require('./backoff');

const MAX_MS = 2 ** 31 - 1; // the longest setTimeout

const defaults = {
  instances: 'max',
  ready: 'listening',
  readyTimeout: 10000,
  killTimeout: 5000,
  restart: { delay: 100, maxDelay: 15000, factor: 2, resetAfter: 30000 },
  maxRestarts: { count: 10, window: 60000 },
  maxMemory: null,
  checkInterval: 1000,
  signals: false,
  prefixLogs: false,
  silent: false,
};

const units = { __proto__: null, '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 };

// Bytes from a number or a string such as '512M', '1.5G', '300k', '1024' (binary units).
function parseMemory(value, name) {
  if (typeof value === 'number') {
    validateInteger(value, name, 1, Number.MAX_SAFE_INTEGER);
    return value;
  }
  if (typeof value !== 'string') throw new ERR_INVALID_ARG_TYPE(name, ['number', 'string'], value);
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)b?\s*$/i.exec(value);
  const bytes = match && Math.round(Number(match[1]) * units[match[2].toLowerCase()]);
  if (!bytes) throw new ERR_INVALID_ARG_VALUE(name, value, 'must be a size such as 512M');
  return bytes;
}

function ms(value, name, min = 0) {
  validateInteger(value, name, min, MAX_MS);
  return value;
}

function normalizeInstances(value, name = 'options.instances') {
  if (value === 'max') return os.availableParallelism();
  if (typeof value === 'string') {
    throw new ERR_INVALID_ARG_VALUE(name, value, "must be a positive integer or 'max'");
  }
  validateInteger(value, name, 1, 1024);
  return value;
}

function group(value, name, fallback) {
  if (value === undefined) return { ...fallback };
  validateObject(value, name);
  return { ...fallback, ...value };
}

function normalize(options = {}) {
  validateObject(options, 'options');
  const o = { ...defaults, ...options };
  const out = {
    exec: o.exec ?? process.argv[1],
    args: o.args ?? [],
    execArgv: o.execArgv ?? process.execArgv,
    cwd: o.cwd,
    env: o.env ?? {},
  };
  validateString(out.exec, 'options.exec');
  validateArray(out.args, 'options.args');
  validateArray(out.execArgv, 'options.execArgv');
  if (out.cwd !== undefined) validateString(out.cwd, 'options.cwd');
  validateObject(out.env, 'options.env');

  out.instances = normalizeInstances(o.instances);
  validateOneOf(o.ready, 'options.ready', ['listening', 'message']);
  out.ready = o.ready;
  out.readyTimeout = ms(o.readyTimeout, 'options.readyTimeout');
  out.killTimeout = ms(o.killTimeout, 'options.killTimeout');

  out.restart = restartOptions(o.restart, 'options.restart', defaults.restart);

  const maxRestarts = group(o.maxRestarts, 'options.maxRestarts', defaults.maxRestarts);
  out.maxRestarts = {
    count: ms(maxRestarts.count, 'options.maxRestarts.count'),
    window: ms(maxRestarts.window, 'options.maxRestarts.window', 1),
  };

  out.maxMemory = o.maxMemory === null ? null : parseMemory(o.maxMemory, 'options.maxMemory');
  out.checkInterval = ms(o.checkInterval, 'options.checkInterval', 10);
  for (const key of ['signals', 'prefixLogs', 'silent']) {
    validateBoolean(o[key], `options.${key}`);
    out[key] = o[key];
  }
  return out;
}

module.exports = { normalize, normalizeInstances, parseMemory, defaults };
