'use strict';
// What both pool engines do for a task's timeout and AbortSignal, and their
// promise plumbing.
const { AbortError } = require('../internal/errors');
const { ERR_POOL_TASK_TIMEOUT } = require('./errors');

function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const abortError = (signal) => new AbortError(undefined, { cause: signal.reason });

// Calls cancel(task, reason) after `ms` (if > 0) or when `signal` aborts.
function arm(task, ms, signal, cancel) {
  if (ms > 0) task.timer = setTimeout(() => cancel(task, new ERR_POOL_TASK_TIMEOUT(ms)), ms);
  if (signal) {
    task.signal = signal;
    task.onAbort = () => cancel(task, abortError(signal));
    signal.addEventListener('abort', task.onAbort, { once: true });
  }
}

function disarm(task) {
  clearTimeout(task.timer);
  if (task.onAbort) task.signal.removeEventListener('abort', task.onAbort);
}

module.exports = { deferred, abortError, arm, disarm };
