'use strict';
// What crosses between the pool and its workers (and, in Redis mode, machines):
// message kinds, and thrown values encoded so that an error arrives with its name,
// message, stack, code, cause and own properties, whichever serialization is used.
// Plain Node only: the worker side loads this file too.
const { inspect } = require('node:util');

// Worker -> pool: [READY], [RESULT | ERROR, id, ms the task took, payload] (a RESULT's
// payload left out when undefined), [LOAD_ERROR, 0, error]. Pool -> worker: [id, name,
// arg] (name null for the default export, arg left out when undefined).
const READY = 0;
const RESULT = 1;
const ERROR = 2;
const LOAD_ERROR = 3;

const MAX_DEPTH = 8; // cause chains, AggregateError members

const errorClasses = new Map([Error, TypeError, RangeError, SyntaxError, ReferenceError,
  EvalError, URIError, AggregateError].map((C) => [C.name, C]));

// A thrown value -> a plain object both serializations carry. `clonable(v)` tells
// whether an own property's value can go as it is; otherwise it goes inspected.
function encodeError(value, clonable, depth = 0) {
  if (!(value instanceof Error) && !isErrorLike(value)) return { value: clonable(value) ? value : inspect(value) };
  const out = {
    error: true,
    name: safeGet(value, 'name'),
    message: safeGet(value, 'message'),
    stack: safeGet(value, 'stack'),
    props: {},
  };
  // Class name when it is a built-in one, so the copy is e.g. a TypeError again.
  let proto = Object.getPrototypeOf(value);
  while (proto && !errorClasses.has(proto.constructor?.name)) proto = Object.getPrototypeOf(proto);
  out.base = proto ? proto.constructor.name : 'Error';
  for (const key of Object.keys(value)) {
    if (key === 'cause' || key === 'errors') continue;
    const v = safeGet(value, key);
    out.props[key] = clonable(v) ? v : inspect(v);
  }
  // Node's own errors keep `code` enumerable; others may define it hidden.
  if (!('code' in out.props) && value.code !== undefined) {
    const code = safeGet(value, 'code');
    out.props.code = clonable(code) ? code : inspect(code);
  }
  if (depth < MAX_DEPTH) {
    if ('cause' in value) out.cause = encodeError(safeGet(value, 'cause'), clonable, depth + 1);
    if (Array.isArray(value.errors)) {
      out.errors = value.errors.map((e) => encodeError(e, clonable, depth + 1));
    }
  }
  return out;
}

function isErrorLike(value) {
  return value !== null && typeof value === 'object' && typeof value.stack === 'string' &&
    typeof value.message === 'string';
}

function safeGet(object, key) {
  try {
    return object[key];
  } catch (err) {
    return `[getter threw: ${err && err.message}]`;
  }
}

// The inverse of encodeError: a fresh error of the same built-in class with the
// original's name, message, stack, code and own properties.
function decodeError(encoded) {
  if (!encoded || encoded.error !== true) return encoded ? encoded.value : encoded;
  const Base = errorClasses.get(encoded.base) || Error;
  const err = Base === AggregateError ? new AggregateError([]) : new Base();
  const hidden = (key, value) => Object.defineProperty(err, key, {
    value, writable: true, configurable: true, enumerable: false,
  });
  hidden('message', encoded.message);
  if (encoded.name !== Base.prototype.name) hidden('name', encoded.name);
  hidden('stack', encoded.stack);
  if (encoded.cause !== undefined) hidden('cause', decodeError(encoded.cause));
  if (encoded.errors) hidden('errors', encoded.errors.map(decodeError));
  Object.assign(err, encoded.props);
  return err;
}

// Whether `value` survives the serialization as it is. JSON: only what a JSON round
// trip keeps; advanced: what the structured clone accepts (v8.serialize).
function clonableFor(serialization) {
  if (serialization === 'json') {
    return (value) => {
      try {
        return value === undefined || JSON.stringify(value) !== undefined;
      } catch {
        return false;
      }
    };
  }
  const v8 = require('node:v8');
  return (value) => {
    if (value === undefined || value === null || typeof value !== 'object') {
      return typeof value !== 'function' && typeof value !== 'symbol';
    }
    try {
      v8.serialize(value);
      return true;
    } catch {
      return false;
    }
  };
}

module.exports = {
  READY, RESULT, ERROR, LOAD_ERROR, encodeError, decodeError, clonableFor,
};
