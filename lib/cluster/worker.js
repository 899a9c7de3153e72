'use strict';
// `cluster.Worker` in the primary: a worker process seen from the primary. This is the
// part that does not depend on the primary's bookkeeping; primary.js adds disconnect()
// and destroy(), as Node's primary does.
const EventEmitter = require('node:events');

class Worker extends EventEmitter {
  constructor(options) {
    super();
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

  // Node 0.6 programs read `worker.pid`; later Node moved it to `worker.process.pid`.
  get pid() {
    return this.process === undefined ? undefined : this.process.pid;
  }

  kill(...args) {
    this.destroy(...args);
  }

  send(...args) {
    return this.process.send(...args);
  }

  isDead() {
    return this.process.exitCode != null || this.process.signalCode != null;
  }

  isConnected() {
    return this.process.connected;
  }
}

module.exports = Worker;
