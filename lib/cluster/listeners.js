'use strict';
// The listening sockets the primary holds for its workers' servers: one listener per
// listener key, made by the scheduling policy. (Passing handles over a channel is
// lib/internal/ipc/handle_passing.js.) Each has
//   add(worker, reply): answers the worker's queryServer through
//     reply(errno, fields, handle, onSent) (extra reply fields, the handle sent with it,
//     and a callback for once the reply is written);
//   drain(worker): the worker gets no new connections once another worker is dealt to
//     (a reload adds the new worker, then drains the old one); what it holds it finishes.
//     Only round-robin can do this: under the shared policies the kernel picks the
//     accepting process, and a worker stops accepting only when it closes its server;
//   remove(worker) -> true when no worker is left and the socket is closed;
//   has(worker): the worker holds this listener;
//   stop(onStopped): stops listening before the workers are told to leave (a graceful
//     shutdown); onStopped() runs once every connection accepted on the socket has been
//     answered by a worker. Only round-robin holds any: under the shared policies the
//     workers' own servers accept;
//   closed: no socket is open; the primary drops the key after a failed add, and the
//     next query for a key whose handle is closed makes a new one.
// The sockets are made by the addon (listenSocket). One sent to workers is wrapped in a
// libuv handle, as Node's primary holds it: the channel sends such a handle as
// `net.Native` / `dgram.Native`, and closing it closes the descriptor.
const fs = require('node:fs');
const net = require('node:net');
const binding = require('../binding');
const reactor = require('../internal/reactor');
const { channelIdOf } = require('../internal/ipc/channel');

const SCHED_NONE = 1;
const SCHED_RR = 2;
const SCHED_REUSEPORT = 3;
const SCHED_ADAPTIVE = 4;

// SCHED_ADAPTIVE's settings (cluster.setupPrimary({ adaptive })), in milliseconds.
const ADAPTIVE_DEFAULTS = Object.freeze({
  // How often the reactor looks at each worker's accept queue.
  checkInterval: 5,
  // A worker whose accept queue has not shrunk for this long is stalled: the primary
  // accepts for it and deals the connections to the others until it answers again.
  stallThreshold: 20,
  // A socket whose worker left waits this long for a new worker to take it over (its
  // connections go to the others meanwhile); then the primary closes it, once that worker
  // has disconnected or exited.
  orphanTimeout: 1000,
  // How often the primary looks for sockets of other processes in the port's SO_REUSEPORT
  // group (any process of the same user can bind into it); each is reported once, as a
  // process warning with code RUST_CLUSTER_FOREIGN_LISTENER.
  strangerCheck: 1000,
});

// Bits of a query's `flags`: IPV6ONLY is UV_TCP_IPV6ONLY and UV_UDP_IPV6ONLY alike.
const IPV6ONLY = 1;
const UDP_REUSEADDR = 4;
// Node's listen backlog when none is given.
const { DEFAULT_BACKLOG } = binding;

function isUdp(addressType) {
  return addressType === 'udp4' || addressType === 'udp6';
}

// listenSocket's options for a worker's queryServer message. What the worker left null
// (the unspecified address; everything but the fd of `listen({fd})`) is left out.
function socketOptions(address, message, port, reusePort) {
  return {
    // Any stream kind adopts an inherited socket.
    addressType: message.addressType ?? 4,
    address: address ?? undefined,
    port: port ?? undefined,
    fd: typeof message.fd === 'number' ? message.fd : -1,
    backlog: message.backlog || DEFAULT_BACKLOG,
    ipv6Only: (message.flags & IPV6ONLY) !== 0,
    reuseAddr: isUdp(message.addressType) && (message.flags & UDP_REUSEADDR) !== 0,
    reusePort,
    readableAll: message.readableAll === true,
    writableAll: message.writableAll === true,
  };
}

// The Unix socket path a listener binds, or null.
function socketPath(address, message) {
  return message.addressType === -1 && typeof address === 'string' ? address : null;
}

// Closing a listener bound to a Unix path removes the path, as libuv does for Node's
// primary (the addon's sockets are closed here or in the scheduler, without it).
// Abstract names have no file; a failure is ignored, as libuv ignores it.
function unlinkSocketPath(path) {
  if (path === null || path[0] === '\0') return;
  try {
    fs.unlinkSync(path);
  } catch {
    // Gone already, or not ours to remove.
  }
}

let UDP;
// The libuv handle taking `fd` over, or a negative errno.
function wrapFd(fd, udp) {
  if (!udp) return net._createServerHandle(null, null, null, fd);
  UDP ??= process.binding('udp_wrap').UDP;
  const handle = new UDP();
  const err = handle.open(fd);
  if (err) handle.close();
  return err || handle;
}

// A socket made and wrapped to be sent to workers: { errno, handle, fd, sockname } (`fd` is
// the handle's).
function openSocket(options) {
  const sock = binding.listenSocket(options);
  if (sock.errno !== 0) return { errno: sock.errno, handle: null, fd: -1, sockname: null };
  const handle = wrapFd(sock.fd, isUdp(options.addressType));
  if (typeof handle === 'number') {
    fs.closeSync(sock.fd);
    return { errno: handle, handle: null, fd: -1, sockname: null };
  }
  return { errno: 0, handle, fd: sock.fd, sockname: sock.sockname };
}

// SCHED_RR: the addon accepts and deals each connection to a worker (src/scheduler.rs).
class RoundRobin {
  constructor(key, address, message) {
    this.workers = new Map(); // worker id -> channel id, from its query on
    this.dealt = new Set(); // channel ids the scheduler deals connections to
    this.drained = new Set(); // ids of workers drained (dealt to no more once others are)
    this.leaving = []; // channel ids no longer dealt to whose rrRemove waits (release())
    this.onStopped = null; // stop()'s callbacks until the addon says all is answered
    this.path = socketPath(address, message);
    const sock = binding.listenSocket(socketOptions(address, message, message.port, false));
    this.errno = sock.errno;
    this.sockname = sock.sockname ?? null;
    this.id = null;
    if (sock.errno !== 0) return;
    const id = binding.rrCreate(key, sock.fd);
    if (id >= 0) {
      this.id = id;
      return;
    }
    // The reactor could not take it (out of descriptors): the worker's listen fails so.
    this.errno = id;
    fs.closeSync(sock.fd);
    unlinkSocketPath(this.path);
  }

  get closed() {
    return this.id === null;
  }

  add(worker, reply) {
    const channel = channelIdOf(worker.process);
    this.workers.set(worker.id, channel);
    if (this.id === null) {
      reply(this.errno, null, null);
      return;
    }
    reply(0, { sockname: this.sockname }, null, (err) => {
      // Connections go to the worker only once it has the key they come with.
      if (err || this.id === null || this.workers.get(worker.id) !== channel) return;
      if (this.drained.has(worker.id)) {
        // Drained before it was dealt to: it takes connections only while no other does.
        if (this.dealt.size > 0) return;
        binding.rrAdd(this.id, channel);
        this.leaving.push(channel);
        return;
      }
      binding.rrAdd(this.id, channel);
      this.dealt.add(channel);
      this.release();
    });
  }

  has(worker) {
    return this.workers.has(worker.id);
  }

  drain(worker) {
    const channel = this.workers.get(worker.id);
    if (channel === undefined || this.id === null || this.drained.has(worker.id)) return;
    this.drained.add(worker.id);
    // Not dealt to yet (its reply is being written): see add().
    if (!this.dealt.delete(channel)) return;
    this.leaving.push(channel);
    // With no other worker dealt to, it goes on taking connections until one is added.
    if (this.dealt.size > 0) this.release();
  }

  remove(worker) {
    const channel = this.workers.get(worker.id);
    if (!this.workers.delete(worker.id)) return false;
    this.drained.delete(worker.id);
    if (this.id === null) return this.workers.size === 0;
    if (this.dealt.delete(channel)) this.leaving.push(channel);
    // The scheduler closes the listener when its last worker leaves. While replies are
    // being written to workers not dealt to yet, the ones leaving stay until one of those
    // is added, so the listener is still there for them.
    if (this.workers.size > this.dealt.size + this.drained.size) return false;
    if (this.release()) return true;
    if (this.workers.size > 0) return false;
    // The last worker left before it was ever dealt to.
    binding.rrClose(this.id);
    this.onClosed();
    return true;
  }

  // The addon accepts what waits in the socket and closes it (new connections are
  // refused); what it accepted is still dealt to the workers added, and onStopped() runs
  // once all of it has been answered (or the listener closed without a worker).
  stop(onStopped) {
    if (this.id === null) {
      process.nextTick(onStopped);
    } else if (this.onStopped !== null) {
      this.onStopped.push(onStopped);
    } else {
      this.onStopped = [onStopped];
      reactor.watchStopped(this.id, () => {
        const waiting = this.onStopped;
        this.onStopped = null;
        for (const callback of waiting) callback();
      });
      binding.rrStop(this.id);
    }
  }

  // rrRemove for the workers that left; true if that closed the listener (a closed
  // handle is replaced at the next query for its key).
  release() {
    let closed = false;
    for (const channel of this.leaving) closed = binding.rrRemove(this.id, channel) || closed;
    this.leaving = [];
    if (closed) this.onClosed();
    return closed;
  }

  onClosed() {
    this.id = null;
    unlinkSocketPath(this.path);
  }
}

// SCHED_NONE, and UDP: one socket shared by every worker, the kernel picks who accepts.
class Shared {
  constructor(address, message) {
    this.workers = new Set();
    const { errno, handle } = openSocket(socketOptions(address, message, message.port, false));
    this.errno = errno;
    this.handle = handle;
    this.path = socketPath(address, message);
  }

  get closed() {
    return this.handle === null;
  }

  add(worker, reply) {
    this.workers.add(worker.id);
    reply(this.errno, null, this.handle);
  }

  has(worker) {
    return this.workers.has(worker.id);
  }

  drain() {}

  stop(onStopped) {
    process.nextTick(onStopped);
  }

  remove(worker) {
    if (!this.workers.delete(worker.id) || this.workers.size > 0) return false;
    if (this.handle !== null) {
      this.handle.close();
      this.handle = null;
      unlinkSocketPath(this.path);
    }
    return true;
  }
}

// SCHED_REUSEPORT (ours): a socket of its own per worker, all bound to one address and
// port with SO_REUSEPORT, so the kernel balances connections between them. Port 0 is
// resolved by the first socket; the others bind the port it got.
class ReusePort {
  constructor(address, message) {
    this.address = address;
    this.message = message;
    this.port = message.port;
    this.handles = new Map(); // worker id -> its socket's handle
  }

  get closed() {
    return this.handles.size === 0;
  }

  add(worker, reply) {
    const { errno, handle, sockname } =
      openSocket(socketOptions(this.address, this.message, this.port, true));
    if (errno !== 0) {
      reply(errno, null, null);
      return;
    }
    if (this.port === 0) this.port = sockname.port;
    this.handles.set(worker.id, handle);
    reply(0, null, handle);
  }

  has(worker) {
    return this.handles.has(worker.id);
  }

  drain() {}

  stop(onStopped) {
    process.nextTick(onStopped);
  }

  remove(worker) {
    const handle = this.handles.get(worker.id);
    if (handle === undefined) return false;
    this.handles.delete(worker.id);
    handle.close();
    return this.handles.size === 0;
  }
}

// SCHED_ADAPTIVE (ours): SCHED_REUSEPORT's socket per worker, accepted on by its worker
// (the kernel balances, no hop), and every socket also a *direct* listener of the
// primary's scheduler (src/cluster/scheduler.rs), which holds a copy of it and accepts on
// it only when its worker is gone or stalled, dealing those connections to the other
// workers as round-robin does. A socket whose worker left stays open, so nothing queued on
// it is lost; the next worker to listen takes it over.
class Adaptive {
  constructor(key, address, message, settings) {
    this.key = key;
    this.address = address;
    this.message = message;
    this.port = message.port;
    this.settings = settings;
    this.workers = new Map(); // worker id -> channel id, from its query on
    this.dealt = new Set(); // channel ids of the workers the scheduler deals to
    // { id: scheduler listener, handle, fd, owner: worker id | null, left: the last owner
    // (a Worker), timer }
    this.sockets = [];
    this.strangers = new Set(); // inodes of other processes' sockets found in the group
    this.checker = null;
    this.retiring = new Set(); // ids of closed sockets whose accepted connections go out
  }

  get closed() {
    return this.sockets.length === 0;
  }

  add(worker, reply) {
    const channel = channelIdOf(worker.process);
    // A socket left by a worker first: its queue is served by its new owner.
    let sock = this.sockets.find((s) => s.owner === null);
    if (sock === undefined) {
      sock = this.openSocket();
      if (typeof sock === 'number') {
        reply(sock, null, null);
        return;
      }
    }
    clearTimeout(sock.timer);
    sock.timer = null;
    sock.owner = worker.id;
    this.workers.set(worker.id, channel);
    reply(0, null, sock.handle, (err) => {
      if (err || this.workers.get(worker.id) !== channel) return;
      this.dealt.add(channel);
      for (const s of this.sockets) binding.rrAdd(s.id, channel);
      if (sock.owner === worker.id && this.sockets.includes(sock)) {
        binding.rrOwner(sock.id, channel);
      }
    });
  }

  // A new socket in the group (no owner yet: the scheduler deals its connections to the
  // workers), or a negative errno.
  openSocket() {
    const options = socketOptions(this.address, this.message, this.port, true);
    const { errno, handle, fd, sockname } = openSocket(options);
    if (errno !== 0) return errno;
    if (this.port === 0) this.port = sockname.port;
    const { checkInterval, stallThreshold } = this.settings;
    const id = binding.rrCreate(this.key, fd, { checkInterval, stallThreshold });
    if (id < 0) {
      // The reactor could not take a copy (out of descriptors): the worker's listen fails
      // with that errno, as a failed bind would; the socket goes.
      handle.close();
      return id;
    }
    for (const channel of this.dealt) binding.rrAdd(id, channel);
    const sock = { id, handle, fd, owner: null, left: null, timer: null };
    this.sockets.push(sock);
    this.checkStrangers();
    if (this.checker === null) {
      this.checker = setInterval(() => this.checkStrangers(), this.settings.strangerCheck);
      this.checker.unref();
    }
    return sock;
  }

  checkStrangers() {
    let found;
    try {
      found = binding.rrStrangers(this.sockets.map((s) => s.fd));
    } catch {
      return; // No sock_diag here (e.g. a restricted container): nothing to say.
    }
    for (const { inode, uid } of found) {
      if (this.strangers.has(inode)) continue;
      this.strangers.add(inode);
      process.emitWarning(
        `SCHED_ADAPTIVE: a socket of another process (inode ${inode}, uid ${uid}) listens ` +
        `in the SO_REUSEPORT group of ${this.key} and takes a share of its connections`,
        { code: 'RUST_CLUSTER_FOREIGN_LISTENER' });
    }
  }

  has(worker) {
    return this.workers.has(worker.id);
  }

  // The kernel picks the accepting process: a leaving worker accepts on its socket until
  // it closes its server (then the socket is the next worker's, see remove()).
  drain() {}

  remove(worker) {
    const channel = this.workers.get(worker.id);
    if (!this.workers.delete(worker.id)) return false;
    if (this.workers.size === 0) {
      this.close();
      return true;
    }
    this.dealt.delete(channel);
    for (const sock of this.sockets) {
      binding.rrRemove(sock.id, channel);
      if (sock.owner !== worker.id) continue;
      sock.owner = null;
      sock.left = worker;
      binding.rrOwner(sock.id, -1);
      // Fewer workers than sockets for long: the spare one goes.
      this.orphan(sock);
    }
    return false;
  }

  orphan(sock) {
    sock.timer = setTimeout(() => this.retire(sock), this.settings.orphanTimeout);
    sock.timer.unref();
  }

  // Closes an ownerless socket without losing its queue: the scheduler accepts what waits
  // there and closes its copy (rrStop), then the handle, the last descriptor, goes; what was
  // accepted is dealt to the workers before the listener is dropped.
  retire(sock) {
    const i = this.sockets.indexOf(sock);
    if (i === -1 || sock.owner !== null) return;
    // A worker told to leave while its event loop is stuck still holds its copy: closing
    // ours would leave the socket in the group with nobody to accept what reaches it (reset
    // when that worker closes it). It goes once that worker has disconnected or exited.
    if (sock.left.isConnected() && !sock.left.isDead()) {
      this.orphan(sock);
      return;
    }
    this.sockets.splice(i, 1);
    this.retiring.add(sock.id);
    reactor.watchStopped(sock.id, () => {
      this.retiring.delete(sock.id);
      binding.rrClose(sock.id);
    });
    binding.rrStop(sock.id);
    sock.handle.close();
  }

  // Under SCHED_ADAPTIVE the workers' own servers accept, and a leaving worker's queue goes
  // to the others (remove()): nothing to wait for here.
  stop(onStopped) {
    process.nextTick(onStopped);
  }

  close() {
    clearInterval(this.checker);
    this.checker = null;
    for (const sock of this.sockets) {
      clearTimeout(sock.timer);
      binding.rrClose(sock.id);
      sock.handle.close();
    }
    for (const id of this.retiring) binding.rrClose(id);
    this.retiring.clear();
    this.sockets = [];
    this.dealt.clear();
  }
}

// The listener for a new key. UDP is connectionless: always shared. Unix paths and
// inherited descriptors cannot be bound twice: shared under SCHED_REUSEPORT,
// round-robin under SCHED_ADAPTIVE.
function createListener(policy, key, address, message, adaptive) {
  const { addressType } = message;
  if (policy === SCHED_NONE || isUdp(addressType)) return new Shared(address, message);
  if (policy === SCHED_RR) return new RoundRobin(key, address, message);
  if (addressType === -1 || typeof message.fd === 'number' && message.fd >= 0) {
    if (policy === SCHED_ADAPTIVE) return new RoundRobin(key, address, message);
    return new Shared(address, message);
  }
  if (policy === SCHED_ADAPTIVE) {
    // A setting given as undefined is left at its default.
    const settings = {};
    for (const name of Object.keys(ADAPTIVE_DEFAULTS)) {
      settings[name] = adaptive?.[name] ?? ADAPTIVE_DEFAULTS[name];
    }
    return new Adaptive(key, address, message, settings);
  }
  return new ReusePort(address, message);
}

module.exports = {
  createListener,
  ADAPTIVE_DEFAULTS,
  SCHED_NONE,
  SCHED_RR,
  SCHED_REUSEPORT,
  SCHED_ADAPTIVE,
};
