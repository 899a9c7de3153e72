'use strict';
// `cluster.Worker` in the primary: a worker process seen from the primary. This is the
// part that does not depend on the primary's bookkeeping; primary.js adds disconnect()
// and destroy(), as Node's primary does.
const EventEmitter = require('node:events');

// A function constructor, not a class: Node's `cluster.Worker` may be called without
// `new` (it then builds and returns a new Worker), and programs rely on that.
function Worker(options) {
  if (!(this instanceof Worker)) return new Worker(options);
  EventEmitter.call(this);
  if (options === null || typeof options !== 'object') options = {};
  this.exitedAfterDisconnect = undefined;
  this.state = options.state || 'none';
  this.id = options.id | 0;
  if (options.process) {
    this.process = options.process;
    this.process.on('error', (code, signal) => this.emit('error', code, signal));
    this.process.on('message', (message, handle) => this.emit('message', message, handle));
  }
}
Object.setPrototypeOf(Worker.prototype, EventEmitter.prototype);
Object.setPrototypeOf(Worker, EventEmitter);

// Node 0.6 programs read `worker.pid`; later Node moved it to `worker.process.pid`.
Object.defineProperty(Worker.prototype, 'pid', {
  configurable: true,
  get() {
    return this.process === undefined ? undefined : this.process.pid;
  },
});

Worker.prototype.kill = function kill(...args) {
  this.destroy(...args);
};

Worker.prototype.send = function send(...args) {
  return this.process.send(...args);
};

Worker.prototype.isDead = function isDead() {
  return this.process.exitCode != null || this.process.signalCode != null;
};

Worker.prototype.isConnected = function isConnected() {
  return this.process.connected;
};

module.exports = Worker;
