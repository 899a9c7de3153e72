'use strict';
// Entry point of a pool worker: a plain Node process forked by the pool, with the
// task file's path and the channel's serialization in argv. It loads the task file
// (CommonJS by require(), ES modules by import()), says READY, then runs each
// [id, name, arg] it receives and answers [RESULT, id, value] or [ERROR, id,
// encodedError]. A file that fails to load is answered with [LOAD_ERROR, 0,
// encodedError], and the pool stops this worker.
const { pathToFileURL } = require('node:url');
const {
  READY, RESULT, ERROR, LOAD_ERROR, encodeError, clonableFor,
} = require('./wire');
const { ERR_POOL_NO_TASK_FUNCTION, ERR_POOL_UNKNOWN_TASK } = require('./errors');

const [filename, serialization] = process.argv.slice(2);
const clonable = clonableFor(serialization);

// The functions a module offers: its export itself, or its (default export's) properties.
function functionsOf(exported, name) {
  const places = [exported, exported?.default];
  return name == null ? places : places.map((place) => place?.[name]);
}

async function load() {
  let exported;
  try {
    exported = require(filename);
  } catch (err) {
    if (err?.code !== 'ERR_REQUIRE_ESM' && err?.code !== 'ERR_REQUIRE_ASYNC_MODULE') throw err;
    exported = await import(pathToFileURL(filename).href);
  }
  const places = functionsOf(exported).filter((p) => p != null);
  if (!places.some((p) => typeof p === 'function' ||
      Object.keys(p).some((k) => typeof p[k] === 'function'))) {
    throw new ERR_POOL_NO_TASK_FUNCTION(filename);
  }
  return exported;
}

function lookup(exported, name) {
  const fn = functionsOf(exported, name).find((f) => typeof f === 'function');
  if (fn === undefined) throw new ERR_POOL_UNKNOWN_TASK(filename, name ?? undefined);
  return fn;
}

// A result the channel cannot carry is reported as the task's error instead.
function reply(id, ok, value) {
  try {
    if (ok) process.send(value === undefined ? [RESULT, id] : [RESULT, id, value]);
    else process.send([ERROR, id, encodeError(value, clonable)]);
  } catch (err) {
    process.send([ERROR, id, encodeError(err, clonable)]);
  }
}

load().then((exported) => {
  process.on('message', (msg) => {
    if (!Array.isArray(msg)) return;
    const [id, name, arg] = msg;
    let out;
    try {
      out = lookup(exported, name)(arg);
    } catch (err) {
      reply(id, false, err);
      return;
    }
    if (out !== null && typeof out === 'object' && typeof out.then === 'function') {
      out.then((value) => reply(id, true, value), (err) => reply(id, false, err));
    } else {
      reply(id, true, out);
    }
  });
  process.send([READY]);
}, (err) => {
  process.send([LOAD_ERROR, 0, encodeError(err, clonable)]);
});

// The pool disconnects a worker it retires; whatever the task file left open
// must not keep it alive.
process.on('disconnect', () => process.exit(0));
