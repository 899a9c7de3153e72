'use strict';
// Errors shaped like Node's own: same classes, `code`, messages and stack header
// ("TypeError [ERR_X]: ..."), so code that inspects errors from the built-in
// child_process sees no difference.
const util = require('node:util');

// Builds a class like Node's internal NodeError: `base` is the visible class,
// `message` a function of the arguments or a printf-style template (util.format),
// `code` an own enumerable property.
function makeNodeError(code, base, message) {
  const format = typeof message === 'function' ? message :
    (...args) => util.format(message, ...args);
  class NodeError extends base {
    constructor(...args) {
      super(format(...args));
      // Node's message is non-enumerable like a native one; `code` is enumerable.
      Object.defineProperty(this, 'code', {
        value: code, enumerable: true, writable: true, configurable: true,
      });
      // V8 formats the stack header from `name` on first access: read it while
      // `name` has the "Name [CODE]" form Node prints, then drop the override.
      this.name = `${base.name} [${code}]`;
      void this.stack;
      delete this.name;
    }

    // Node reports the base class (e.g. TypeError) as the constructor.
    get ['constructor']() {
      return base;
    }

    toString() {
      return `${this.name} [${code}]: ${this.message}`;
    }
  }
  return NodeError;
}

const kTypes = ['string', 'function', 'number', 'object', 'Function', 'Object',
  'boolean', 'bigint', 'symbol'];
const classRegExp = /^[A-Z][a-zA-Z0-9]*$/;

// "A", "A or B", "A, B, or C" (Node's formatList).
function formatList(items, type = 'and') {
  if (items.length <= 2) return items.join(` ${type} `);
  return `${items.slice(0, -1).join(', ')}, ${type} ${items[items.length - 1]}`;
}

// How Node describes a received value in type errors.
function describeReceived(value) {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  switch (typeof value) {
    case 'bigint':
      return `type bigint (${value}n)`;
    case 'number':
      if (Object.is(value, -0)) return 'type number (-0)';
      return `type number (${value})`;
    case 'boolean':
      return `type boolean (${value})`;
    case 'symbol':
      return `type symbol (${String(value)})`;
    case 'function':
      return `function ${value.name}`;
    case 'object':
      if (value.constructor && 'name' in value.constructor) {
        return `an instance of ${value.constructor.name}`;
      }
      return util.inspect(value, { depth: -1 });
    case 'string': {
      const shown = value.length > 28 ? `${value.slice(0, 25)}...` : value;
      return shown.includes("'") ? `type string (${JSON.stringify(shown)})` :
        `type string ('${shown}')`;
    }
    default: {
      let shown = util.inspect(value, { colors: false });
      if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
      return `type ${typeof value} (${shown})`;
    }
  }
}

function invalidArgTypeMessage(name, expected, actual) {
  if (!Array.isArray(expected)) expected = [expected];
  let msg = 'The ';
  if (name.endsWith(' argument')) {
    msg += `${name} `;
  } else {
    msg += `"${name}" ${name.includes('.') ? 'property' : 'argument'} `;
  }
  msg += 'must be ';

  const types = [];
  const instances = [];
  const other = [];
  for (const value of expected) {
    if (kTypes.includes(value)) types.push(value.toLowerCase());
    else if (classRegExp.test(value)) instances.push(value);
    else other.push(value);
  }
  // With class names present, a plain "object" reads better as "Object".
  if (instances.length > 0 && types.includes('object')) {
    types.splice(types.indexOf('object'), 1);
    instances.push('Object');
  }
  if (types.length > 0) {
    msg += `${types.length > 1 ? 'one of type' : 'of type'} ${formatList(types, 'or')}`;
    if (instances.length > 0 || other.length > 0) msg += ' or ';
  }
  if (instances.length > 0) {
    msg += `an instance of ${formatList(instances, 'or')}`;
    if (other.length > 0) msg += ' or ';
  }
  if (other.length > 1) {
    msg += `one of ${formatList(other, 'or')}`;
  } else if (other.length === 1) {
    if (other[0].toLowerCase() !== other[0]) msg += 'an ';
    msg += other[0];
  }
  return `${msg}. Received ${describeReceived(actual)}`;
}

function invalidArgValueMessage(name, value, reason = 'is invalid') {
  let shown = util.inspect(value);
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`;
  const kind = name.includes('.') ? 'property' : 'argument';
  return `The ${kind} '${name}' ${reason}. Received ${shown}`;
}

// Integers beyond 2**32 are printed with "_" thousands separators.
function withSeparators(digits) {
  let out = '';
  let i = digits.length;
  const start = digits[0] === '-' ? 1 : 0;
  for (; i >= start + 4; i -= 3) out = `_${digits.slice(i - 3, i)}${out}`;
  return `${digits.slice(0, i)}${out}`;
}

function outOfRangeMessage(name, range, input, replaceDefaultBoolean = false) {
  let received;
  if (Number.isInteger(input) && Math.abs(input) > 2 ** 32) {
    received = withSeparators(String(input));
  } else if (typeof input === 'bigint') {
    received = String(input);
    if (input > 2n ** 32n || input < -(2n ** 32n)) received = withSeparators(received);
    received += 'n';
  } else {
    received = util.inspect(input);
  }
  const head = replaceDefaultBoolean ? name : `The value of "${name}" is out of range.`;
  return `${head} It must be ${range}. Received ${received}`;
}

function missingArgsMessage(...names) {
  const quoted = names.map((a) => (Array.isArray(a) ?
    a.map((n) => `"${n}"`).join(' or ') : `"${a}"`));
  return `The ${formatList(quoted)} argument${names.length > 1 ? 's' : ''} must be specified`;
}

const ERR_INVALID_ARG_TYPE = makeNodeError('ERR_INVALID_ARG_TYPE', TypeError,
  invalidArgTypeMessage);
const ERR_INVALID_ARG_VALUE = makeNodeError('ERR_INVALID_ARG_VALUE', TypeError,
  invalidArgValueMessage);
const ERR_OUT_OF_RANGE = makeNodeError('ERR_OUT_OF_RANGE', RangeError, outOfRangeMessage);
const ERR_MISSING_ARGS = makeNodeError('ERR_MISSING_ARGS', TypeError, missingArgsMessage);
const ERR_UNKNOWN_SIGNAL = makeNodeError('ERR_UNKNOWN_SIGNAL', TypeError, 'Unknown signal: %s');
// The supervisor's (rust-cluster/supervisor): no Node counterpart.
const ERR_CRASH_LOOP = makeNodeError('ERR_CRASH_LOOP', Error,
  'Workers exited %d times in %d ms: not restarted any more%s');
const ERR_WORKER_NOT_READY = makeNodeError('ERR_WORKER_NOT_READY', Error,
  'Worker %d %s before it was ready');
const ERR_SUPERVISOR_RUNNING = makeNodeError('ERR_SUPERVISOR_RUNNING', Error,
  'A supervisor is already running in this process');
const ERR_SUPERVISOR_STOPPED = makeNodeError('ERR_SUPERVISOR_STOPPED', Error,
  'The supervisor is shutting down');
const ERR_SOCKET_BAD_PORT = makeNodeError('ERR_SOCKET_BAD_PORT', RangeError,
  (name, port, allowZero = true) => `${name} should be ${allowZero ? '>=' : '>'} 0 and ` +
    `< 65536. Received ${describeReceived(port)}.`);
const ERR_CHILD_CLOSED_BEFORE_REPLY = makeNodeError('ERR_CHILD_CLOSED_BEFORE_REPLY', Error,
  'Child closed before reply received');
const ERR_CHILD_PROCESS_STDIO_MAXBUFFER = makeNodeError('ERR_CHILD_PROCESS_STDIO_MAXBUFFER',
  RangeError, '%s maxBuffer length exceeded');
const ERR_CHILD_PROCESS_IPC_REQUIRED = makeNodeError('ERR_CHILD_PROCESS_IPC_REQUIRED', Error,
  "Forked processes must have an IPC channel, missing value 'ipc' in %s");
const ERR_INVALID_SYNC_FORK_INPUT = makeNodeError('ERR_INVALID_SYNC_FORK_INPUT', TypeError,
  'Asynchronous forks do not support Buffer, TypedArray, DataView or string input: %s');
const ERR_IPC_ONE_PIPE = makeNodeError('ERR_IPC_ONE_PIPE', Error,
  'Child process can have only one IPC pipe');
const ERR_IPC_SYNC_FORK = makeNodeError('ERR_IPC_SYNC_FORK', Error,
  'IPC cannot be used with synchronous forks');
const ERR_INVALID_HANDLE_TYPE = makeNodeError('ERR_INVALID_HANDLE_TYPE', TypeError,
  'This handle type cannot be sent');
const ERR_IPC_CHANNEL_CLOSED = makeNodeError('ERR_IPC_CHANNEL_CLOSED', Error, 'Channel closed');
const ERR_IPC_DISCONNECTED = makeNodeError('ERR_IPC_DISCONNECTED', Error,
  'IPC channel is already disconnected');

// Codes of our own (Node has no message size limit). The native side supplies
// the detailed message; the default covers errors raised in JS.
const ERR_IPC_MESSAGE_TOO_LARGE = makeNodeError('ERR_IPC_MESSAGE_TOO_LARGE', RangeError,
  (message = 'The IPC message is larger than the channel\'s maxMessageSize') => message);
const ERR_IPC_INVALID_MESSAGE = makeNodeError('ERR_IPC_INVALID_MESSAGE', Error,
  (message = 'Received an IPC message that cannot be parsed') => message);

// Node's AbortError: a plain Error subclass with name 'AbortError', code 'ABORT_ERR'.
class AbortError extends Error {
  constructor(message = 'The operation was aborted', options = undefined) {
    if (options !== undefined && typeof options !== 'object') {
      throw new ERR_INVALID_ARG_TYPE('options', 'Object', options);
    }
    super(message, options);
    this.code = 'ABORT_ERR';
    this.name = 'AbortError';
  }
}

// A failed system call, e.g. `spawn nosuchcmd ENOENT`: `errno` is the negative
// (libuv-style) number, `code` its name. Reported as a plain Error, like Node's.
class ErrnoException extends Error {
  constructor(errno, syscall) {
    const code = util.getSystemErrorName(errno);
    super(`${syscall} ${code}`);
    this.errno = errno;
    this.code = code;
    this.syscall = syscall;
  }

  get ['constructor']() {
    return Error;
  }
}

function errnoException(errno, syscall) {
  return new ErrnoException(errno, syscall);
}

module.exports = {
  AbortError,
  errnoException,
  makeNodeError,
  ERR_CHILD_CLOSED_BEFORE_REPLY,
  ERR_CHILD_PROCESS_IPC_REQUIRED,
  ERR_CHILD_PROCESS_STDIO_MAXBUFFER,
  ERR_CRASH_LOOP,
  ERR_INVALID_ARG_TYPE,
  ERR_INVALID_ARG_VALUE,
  ERR_INVALID_HANDLE_TYPE,
  ERR_INVALID_SYNC_FORK_INPUT,
  ERR_IPC_CHANNEL_CLOSED,
  ERR_IPC_DISCONNECTED,
  ERR_IPC_INVALID_MESSAGE,
  ERR_IPC_MESSAGE_TOO_LARGE,
  ERR_IPC_ONE_PIPE,
  ERR_IPC_SYNC_FORK,
  ERR_MISSING_ARGS,
  ERR_OUT_OF_RANGE,
  ERR_SOCKET_BAD_PORT,
  ERR_SUPERVISOR_RUNNING,
  ERR_SUPERVISOR_STOPPED,
  ERR_UNKNOWN_SIGNAL,
  ERR_WORKER_NOT_READY,
};
