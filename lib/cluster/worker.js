'use strict';
// `cluster.Worker` in the primary: a worker process seen from the primary. Its life is
// the machine in ./worker_state; the primary follows that machine for its bookkeeping
// (a worker told to disconnect leaves its listeners and cluster.workers).
const EventEmitter = require('node:events');
const { advance } = require('./worker_state');
const { sendHelper } = require('./utils');

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

Worker.prototype.disconnect = function disconnect() {
  this.exitedAfterDisconnect = true;
  sendHelper(this.process, { act: 'disconnect' });
  advance(this, 'disconnecting');
  return this;
};

// Node 20 signals the process straight away (no disconnect first).
Worker.prototype.destroy = function destroy(signo) {
  this.process.kill(signo || 'SIGTERM');
};

Worker.prototype.isDead = function isDead() {
  return this.process.exitCode != null || this.process.signalCode != null;
};

Worker.prototype.isConnected = function isConnected() {
  return this.process.connected;
};

module.exports = Worker;
