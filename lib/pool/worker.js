'use strict';
// Entry point of a pool worker: a plain Node process forked by the pool, with the
// task file's path, the channel's serialization and concurrentTasksPerWorker in argv. It loads the task file
// (CommonJS by require(), ES modules by import()), says READY, then runs each
// [id, name, arg] it receives and answers [RESULT, id, ms, value] or [ERROR, id, ms,
// encodedError], ms being the time the task took here. A file that fails to load is answered with [LOAD_ERROR, 0,
// encodedError], and the pool stops this worker.
const { pathToFileURL } = require('node:url');
const {
  READY, RESULT, ERROR, LOAD_ERROR, encodeError, clonableFor,
} = require('./wire');
const { ERR_POOL_NO_TASK_FUNCTION, ERR_POOL_UNKNOWN_TASK } = require('./errors');

const [filename, serialization, concurrencyArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
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

// With a callback, a send that fails because the pool is gone is not an 'error'
// event (which would crash this worker with a trace): 'disconnect' ends it anyway.
const ignore = () => {};
const send = (message) => process.send(message, ignore);

// A result the channel cannot carry is reported as the task's error instead.
function reply(id, ms, ok, value) {
  try {
    if (ok) send(value === undefined ? [RESULT, id, ms] : [RESULT, id, ms, value]);
    else send([ERROR, id, ms, encodeError(value, clonable)]);
  } catch (err) {
    send([ERROR, id, ms, encodeError(err, clonable)]);
  }
}

// Tasks received and not yet started: the pool may send more than this worker runs
// at once (concurrentTasksPerWorker); they start in the order they came.
const waiting = [];
let head = 0;
let running = 0;
let taskModule; // the task file's exports, once loaded

function startWaiting() {
  while (running < concurrency && head < waiting.length) {
    const [id, name, arg] = waiting[head];
    waiting[head++] = undefined;
    if (head === waiting.length) waiting.length = head = 0;
    running++;
    const started = performance.now();
    let out;
    try {
      out = lookup(taskModule, name)(arg);
    } catch (err) {
      finish(id, started, false, err);
      continue;
    }
    if (out !== null && typeof out === 'object' && typeof out.then === 'function') {
      out.then((value) => finish(id, started, true, value, true),
        (err) => finish(id, started, false, err, true));
    } else {
      finish(id, started, true, out);
    }
  }
}

// Each result goes at once (not batched): if a later task kills the process, the
// pool has seen every result before it, and knows which task was running.
function finish(id, started, ok, value, async) {
  running--;
  reply(id, performance.now() - started, ok, value);
  if (async) startWaiting();
}

load().then((loaded) => {
  taskModule = loaded;
  process.on('message', (msg) => {
    if (!Array.isArray(msg)) return;
    waiting.push(msg);
    startWaiting();
  });
  send([READY]);
}, (err) => {
  send([LOAD_ERROR, 0, encodeError(err, clonable)]);
});

// The pool disconnects a worker it retires; whatever the task file left open
// must not keep it alive.
process.on('disconnect', () => process.exit(0));
