'use strict';
// Argument checks with Node's error classes and messages, so a bad call fails
// exactly as it would with the built-in module.
const { signals } = require('node:os').constants;
const { fileURLToPath } = require('node:url');
const {
  ERR_INVALID_ARG_TYPE,
  ERR_INVALID_ARG_VALUE,
  ERR_OUT_OF_RANGE,
  ERR_UNKNOWN_SIGNAL,
} = require('./errors');
const { NODE_MAJOR } = require('./node_major');

// Node 26 checks `timeout`, `maxBuffer`, `uid` and `gid` with its general number validators
// (a type error for a non-number, the range spelled out); earlier majors with ad-hoc tests.
const GENERAL_NUMBER_CHECKS = NODE_MAJOR >= 26;

const isInt32 = (value) => value === (value | 0);

function validateString(value, name) {
  if (typeof value !== 'string') throw new ERR_INVALID_ARG_TYPE(name, 'string', value);
}

function validateFunction(value, name) {
  if (typeof value !== 'function') throw new ERR_INVALID_ARG_TYPE(name, 'Function', value);
}

function validateBoolean(value, name) {
  if (typeof value !== 'boolean') throw new ERR_INVALID_ARG_TYPE(name, 'boolean', value);
}

// A plain object: not null, not an array, not a function.
function validateObject(value, name) {
  if (value === null || Array.isArray(value) || typeof value !== 'object') {
    throw new ERR_INVALID_ARG_TYPE(name, 'Object', value);
  }
}

function validateArray(value, name, minLength = 0) {
  if (!Array.isArray(value)) throw new ERR_INVALID_ARG_TYPE(name, 'Array', value);
  if (value.length < minLength) {
    throw new ERR_INVALID_ARG_VALUE(name, value, `must be longer than ${minLength}`);
  }
}

function validateInteger(value, name, min = Number.MIN_SAFE_INTEGER,
  max = Number.MAX_SAFE_INTEGER) {
  if (typeof value !== 'number') throw new ERR_INVALID_ARG_TYPE(name, 'number', value);
  if (!Number.isInteger(value)) throw new ERR_OUT_OF_RANGE(name, 'an integer', value);
  if (value < min || value > max) {
    throw new ERR_OUT_OF_RANGE(name, `>= ${min} && <= ${max}`, value);
  }
}

function validateUint32(value, name, positive = false) {
  validateInteger(value, name, positive ? 1 : 0, 4294967295);
}

function validateInt32(value, name) {
  validateInteger(value, name, -2147483648, 2147483647);
}

// A number within the bounds given (either may be left out); NaN fails any bound.
function validateNumber(value, name, min, max) {
  if (typeof value !== 'number') throw new ERR_INVALID_ARG_TYPE(name, 'number', value);
  const bounded = min != null || max != null;
  if ((min != null && value < min) || (max != null && value > max) ||
      (bounded && Number.isNaN(value))) {
    const range = [min != null && `>= ${min}`, max != null && `<= ${max}`].filter(Boolean);
    throw new ERR_OUT_OF_RANGE(name, range.join(' && '), value);
  }
}

function validateOneOf(value, name, allowed) {
  if (!allowed.includes(value)) {
    const list = allowed.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(', ');
    throw new ERR_INVALID_ARG_VALUE(name, value, `must be one of: ${list}`);
  }
}

// Duck-typed like Node: anything with an `aborted` property passes.
function validateAbortSignal(signal, name) {
  if (signal !== undefined &&
      (signal === null || typeof signal !== 'object' || !('aborted' in signal))) {
    throw new ERR_INVALID_ARG_TYPE(name, 'AbortSignal', signal);
  }
}

function validateTimeout(timeout) {
  if (timeout == null) return;
  if (GENERAL_NUMBER_CHECKS) {
    validateInteger(timeout, 'timeout', 0);
  } else if (!(Number.isInteger(timeout) && timeout >= 0)) {
    throw new ERR_OUT_OF_RANGE('timeout', 'an unsigned integer', timeout);
  }
}

function validateMaxBuffer(maxBuffer) {
  if (maxBuffer == null) return;
  if (GENERAL_NUMBER_CHECKS) {
    validateNumber(maxBuffer, 'options.maxBuffer', 0);
  } else if (!(typeof maxBuffer === 'number' && maxBuffer >= 0)) {
    throw new ERR_OUT_OF_RANGE('options.maxBuffer', 'a positive number', maxBuffer);
  }
}

// options.uid / options.gid.
function validateId(value, name) {
  if (value == null) return;
  if (GENERAL_NUMBER_CHECKS) validateInt32(value, name);
  else if (!isInt32(value)) throw new ERR_INVALID_ARG_TYPE(name, 'int32', value);
}

// NUL cannot cross execve(): reject it up front with Node's message.
function validateArgumentNullCheck(arg, name) {
  if (typeof arg === 'string' && arg.includes('\u0000')) {
    throw new ERR_INVALID_ARG_VALUE(name, arg, 'must be a string without null bytes');
  }
}

function validateArgumentsNullCheck(args, name) {
  for (let i = 0; i < args.length; i++) validateArgumentNullCheck(args[i], `${name}[${i}]`);
}

// Same test as Node's internal isURL: a WHATWG URL, not a legacy url.parse() result.
const isURL = (value) => Boolean(value?.href && value.protocol &&
  value.auth === undefined && value.path === undefined);

// A path given as a string, Buffer/Uint8Array or file: URL (Node's getValidatedPath).
function getValidatedPath(value, name) {
  const path = isURL(value) ? fileURLToPath(value) : value;
  const isBytes = path instanceof Uint8Array;
  if (typeof path !== 'string' && !isBytes) {
    throw new ERR_INVALID_ARG_TYPE(name, ['string', 'Buffer', 'URL'], path);
  }
  if (isBytes ? path.includes(0) : path.includes('\u0000')) {
    throw new ERR_INVALID_ARG_VALUE(name, path,
      'must be a string, Uint8Array, or URL without null bytes');
  }
  return path;
}

// Signal number -> name. Where names share a number (SIGABRT/SIGIOT, SIGIO/SIGPOLL)
// the first listed wins, which is the name Node reports for a child's exit.
const signalNames = new Map();
for (const [name, number] of Object.entries(signals)) {
  if (!signalNames.has(number)) signalNames.set(number, name);
}

const signalName = (number) => signalNames.get(number) ?? null;

// A signal name (any case) or number -> its number; ERR_UNKNOWN_SIGNAL otherwise.
function convertToValidSignal(signal) {
  if (typeof signal === 'number' && signalNames.has(signal)) return signal;
  if (typeof signal === 'string') {
    const number = signals[signal.toUpperCase()];
    if (number) return number;
  }
  throw new ERR_UNKNOWN_SIGNAL(signal);
}

// The `killSignal` option: undefined stays undefined (the default applies later).
function sanitizeKillSignal(killSignal) {
  if (typeof killSignal === 'string' || typeof killSignal === 'number') {
    return convertToValidSignal(killSignal);
  }
  if (killSignal != null) {
    throw new ERR_INVALID_ARG_TYPE('options.killSignal', ['string', 'number'], killSignal);
  }
  return undefined;
}

module.exports = {
  convertToValidSignal,
  getValidatedPath,
  sanitizeKillSignal,
  signalName,
  validateAbortSignal,
  validateArgumentNullCheck,
  validateArgumentsNullCheck,
  validateArray,
  validateBoolean,
  validateFunction,
  validateId,
  validateInteger,
  validateMaxBuffer,
  validateObject,
  validateOneOf,
  validateString,
  validateTimeout,
  validateUint32,
};
