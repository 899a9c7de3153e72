'use strict';
// The pool's own error codes, shaped like Node's coded errors.
const { makeNodeError } = require('../internal/errors');

const ERR_POOL_QUEUE_FULL = makeNodeError('ERR_POOL_QUEUE_FULL', Error,
  (maxQueue) => `The pool's queue is full (maxQueue: ${maxQueue})`);
const ERR_POOL_TASK_TIMEOUT = makeNodeError('ERR_POOL_TASK_TIMEOUT', Error,
  (ms) => `The task timed out after ${ms} ms`);
const ERR_POOL_CLOSED = makeNodeError('ERR_POOL_CLOSED', Error,
  'The pool is closed: it accepts no new tasks');
const ERR_POOL_DESTROYED = makeNodeError('ERR_POOL_DESTROYED', Error,
  'The pool was destroyed before the task finished');
const ERR_POOL_UNKNOWN_TASK = makeNodeError('ERR_POOL_UNKNOWN_TASK', TypeError,
  (file, name) => (name === undefined ?
    `${file} exports no function: module.exports must be a function, or run() needs a name` :
    `${file} has no exported function named '${name}'`));
const ERR_POOL_NO_TASK_FUNCTION = makeNodeError('ERR_POOL_NO_TASK_FUNCTION', TypeError,
  (file) => `${file} exports no function (module.exports = fn, or named exports)`);

const ERR_POOL_NOT_PRODUCER = makeNodeError('ERR_POOL_NOT_PRODUCER', Error,
  (role) => `run() needs role 'producer' or 'both'; this pool's role is '${role}'`);

const DiedBase = makeNodeError('ERR_POOL_WORKER_DIED', Error,
  (code, signal, attempts) => `The worker running the task ${signal ?
    `was killed by ${signal}` : `exited with code ${code}`} (attempts: ${attempts})`);

// Carries how the last worker to run the task ended, and how often it was run.
class ERR_POOL_WORKER_DIED extends DiedBase {
  constructor(exitCode, signal, attempts) {
    super(exitCode, signal, attempts);
    this.exitCode = exitCode;
    this.signal = signal;
    this.attempts = attempts;
  }
}

module.exports = {
  ERR_POOL_CLOSED,
  ERR_POOL_DESTROYED,
  ERR_POOL_NO_TASK_FUNCTION,
  ERR_POOL_NOT_PRODUCER,
  ERR_POOL_QUEUE_FULL,
  ERR_POOL_TASK_TIMEOUT,
  ERR_POOL_UNKNOWN_TASK,
  ERR_POOL_WORKER_DIED,
};
