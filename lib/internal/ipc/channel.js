'use strict';
// The IPC channel as Node's ChildProcess exposes it (send, disconnect, channel,
// connected, 'message' / 'internalMessage' / 'disconnect'), over a socket the
// native reactor owns. The reactor reads and frames; we decode, dispatch, and
// encode. What differs from Node, on purpose:
// - a send() on an idle channel is written at once, as Node's try-write does; the
//   messages sent after it while the same event is handled leave together in one
//   write (at the end of the tick, at 64 KiB, before a handle, and on process exit);
//   send() callbacks still run once their bytes are in the kernel, and return values
//   follow the queue size;
// - a malformed message becomes an 'error' event instead of a crash;
// - `channel.fd` is undefined: the descriptor belongs to the reactor.
const EventEmitter = require('node:events');
const util = require('node:util');
const binding = require('../../binding');
const reactor = require('../reactor');
const serializations = require('./serialization');
const {
  ERR_INVALID_ARG_TYPE,
  ERR_IPC_CHANNEL_CLOSED,
  ERR_IPC_DISCONNECTED,
  ERR_IPC_INVALID_MESSAGE,
  ERR_IPC_MESSAGE_TOO_LARGE,
  ERR_MISSING_ARGS,
  errnoException,
} = require('../errors');
const { validateObject } = require('../validators');
const { NODE_MAJOR } = require('../node_major');

// Loaded with the first handle sent or received: most channels never carry one.
let handlePassingModule = null;
const handlePassing = () => (handlePassingModule ??= require('./handle_passing'));

const { InvalidMessage } = serializations;

// Node: send() returns false once the write queue holds 2 * 64 KiB.
const kBackpressure = 128 * 1024;
// A tick's batch is written early when it grows this large, to bound memory.
const kFlushThreshold = 64 * 1024;
const { MAX_HANDLE_RETRANSMISSIONS: kMaxHandleRetransmissions } = binding;

const INTERNAL_PREFIX = 'NODE_';
// Messages whose `cmd` is 'NODE_' plus something belong to Node itself (and to
// cluster): they are emitted as 'internalMessage', never as 'message'.
function isInternal(message) {
  return message !== null && typeof message === 'object' &&
    typeof message.cmd === 'string' && message.cmd.length > INTERNAL_PREFIX.length &&
    message.cmd.startsWith(INTERNAL_PREFIX);
}

// Channels holding a batch; all are flushed in one tick.
let dirty = [];
let flushScheduled = false;
let exitHooked = false;

// Writes every pending batch now. Node writes in send() itself, so anything that
// can end a child (kill(), process.exit()) must flush first to keep Node's order:
// messages sent before a kill() reach the socket before the signal.
function flushAll() {
  flushScheduled = false;
  if (dirty.length === 0) return;
  reactor.nextTurn();
  // A new list rather than `length = 0`, which V8 runs as a slow runtime call.
  const list = dirty;
  dirty = [];
  for (let i = 0; i < list.length; i++) list[i].flush();
}

function emitError(target, err) {
  target.emit('error', err);
}

function emitDisconnect(target) {
  target.emit('disconnect');
}

const reactorErrors = { __proto__: null, ERR_IPC_MESSAGE_TOO_LARGE, ERR_IPC_INVALID_MESSAGE };

// Release what a handle that will never be delivered holds.
function dispose(handle) {
  if (typeof handle.destroy === 'function') handle.destroy();
  else handle.close();
}

class Channel {
  constructor(target, id, serialization, onClosed) {
    this.target = target;
    this.id = id;
    this.mode = serializations[serialization];
    this.onClosed = onClosed;
    this.open = true; // until the reactor's 'close'
    this.attached = true; // until disconnect: target.channel is set
    this.sockets = { got: {}, send: {} }; // server connection lists, by key

    // Outgoing: this tick's encoded messages, and per message its callback, or
    // whether a failure is reported as an 'error' event (true) or swallowed.
    this.batch = [];
    this.batchCbs = [];
    this.batchSize = 0;
    this.nativeQueued = 0; // bytes the reactor holds (an upper bound)
    this.awaitingDrain = false;
    this.sentTurn = -1; // reactor turn of the last at-once write; later sends in it batch
    this.inflight = []; // callback lists of writes waiting for 'drain'
    // While a sent handle waits for its ACK, later sends wait here (as in Node,
    // so the receiver handles them after the handle).
    this.handleQueue = null;
    this.pendingHandle = null;

    // Incoming: received descriptors not yet claimed by a NODE_HANDLE message,
    // the data event being delivered, and messages waiting for a 'message' listener.
    this.fds = [];
    this.current = null;
    this.values = null;
    this.index = 0;
    this.unheard = [];
    this.replayScheduled = false;

    this.refWanted = true; // the socket's own ref state (Node's Pipe handle: ref'd)
    this.refHeld = false;
    this.control = null; // target.channel, which counts references (see Control)
  }

  // --- sending -------------------------------------------------------------

  // Node's `target.send()`: argument shuffling and validation, then write().
  send(message, handle, options, callback) {
    if (typeof handle === 'function') {
      callback = handle;
      handle = undefined;
      options = undefined;
    } else if (typeof options === 'function') {
      callback = options;
      options = undefined;
    } else if (options !== undefined) {
      validateObject(options, 'options');
    }
    if (this.target.connected) return this.write(message, handle, options, callback);
    const ex = new ERR_IPC_CHANNEL_CLOSED();
    if (typeof callback === 'function') process.nextTick(callback, ex);
    else process.nextTick(emitError, this.target, ex);
    return false;
  }

  // Node's `target._send()`: sends on a live channel, also for internal replies
  // after disconnect() while handles are still being acknowledged.
  write(message, handle, options, callback) {
    if (message === undefined) throw new ERR_MISSING_ARGS('message');
    const kind = typeof message;
    if (kind !== 'string' && kind !== 'object' && kind !== 'number' && kind !== 'boolean') {
      throw new ERR_INVALID_ARG_TYPE('message', ['string', 'object', 'number', 'boolean'],
        message);
    }
    const swallowErrors = options !== undefined && options.swallowErrors === true;

    if (handle) {
      const envelope = { cmd: 'NODE_HANDLE', type: handlePassing().handleType(handle), msg: message };
      if (this.handleQueue !== null) {
        this.handleQueue.push({ message, handle, options, callback });
        return this.handleQueue.length === 1;
      }
      const wrap = handlePassing().toWrap(this, envelope, handle, options || {});
      // No native handle left (a closed socket or server): the message goes alone.
      if (wrap) return this.writeHandle(envelope, wrap, options, callback);
    } else if (this.handleQueue !== null && !(message !== null && kind === 'object' &&
               (message.cmd === 'NODE_HANDLE_ACK' || message.cmd === 'NODE_HANDLE_NACK'))) {
      this.handleQueue.push({ message, handle: null, options, callback });
      return this.handleQueue.length === 1;
    }

    const chunk = this.mode.encode(message);
    const cb = typeof callback === 'function' ? callback : !swallowErrors;
    const turn = reactor.turn();
    if (this.batch.length === 0 && !this.awaitingDrain && this.sentTurn !== turn) {
      // Idle: straight to the socket, as Node's try-write. What follows in the
      // same turn (event delivered, or tick of batches flushed) is joined into one
      // write at the end of the tick.
      this.sentTurn = turn;
      this.written(binding.channelWrite(this.id, chunk), chunk.length, [cb]);
      return this.nativeQueued < kBackpressure;
    }
    this.batch.push(this.mode.keep(chunk));
    this.batchCbs.push(cb);
    this.batchSize += chunk.length; // bytes (advanced) or UTF-16 units (json): an estimate
    if (this.batchSize >= kFlushThreshold) {
      this.flush();
    } else if (this.batch.length === 1) {
      dirty.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        process.nextTick(flushAll);
      }
    }
    return this.nativeQueued + this.batchSize < kBackpressure;
  }

  sendInternal(message, swallowErrors) {
    if (this.attached) this.write(message, null, { swallowErrors }, undefined);
  }

  flush() {
    if (this.batch.length === 0) return;
    const buf = this.mode.join(this.batch);
    const cbs = this.batchCbs;
    this.batch = [];
    this.batchCbs = [];
    this.batchSize = 0;
    this.written(binding.channelWrite(this.id, buf), buf.length, cbs);
  }

  // A handle goes in a write of its own, after everything sent before it.
  writeHandle(envelope, wrap, options, callback) {
    this.flush();
    const closeOnAck = envelope.type === 'net.Socket' && !(options && options.keepOpen);
    const swallowErrors = options !== undefined && options.swallowErrors === true;
    this.transmit({ envelope, wrap, closeOnAck, retransmissions: 0 },
      [typeof callback === 'function' ? callback : !swallowErrors]);
    return this.nativeQueued < kBackpressure;
  }

  // Writes `pending`'s envelope with its descriptor; until its ACK, later sends
  // wait in handleQueue. `cbs` as in written().
  transmit(pending, cbs) {
    const buf = this.mode.join([this.mode.encode(pending.envelope)]);
    const result = binding.channelWriteHandle(this.id, buf, pending.wrap.fd);
    if (result >= 0) {
      this.handleQueue = [];
      this.pendingHandle = pending;
    } else if (pending.closeOnAck) {
      pending.wrap.close(); // detached from its socket and not sent: nobody else closes it
    }
    this.written(result, buf.length, cbs);
  }

  // Bookkeeping after channelWrite returned `result` for `length` bytes (json:
  // UTF-16 units, an estimate of the bytes).
  written(result, length, cbs) {
    if (result < 0) {
      const ex = errnoException(result, 'write');
      for (let i = 0; i < cbs.length; i++) {
        if (typeof cbs[i] === 'function') process.nextTick(cbs[i], ex);
        else if (cbs[i]) process.nextTick(emitError, this.target, ex);
      }
      return;
    }
    // Behind queued bytes, all of this write is queued too.
    this.nativeQueued = this.awaitingDrain ? this.nativeQueued + length : result;
    if (result > 0 && !this.awaitingDrain) {
      this.awaitingDrain = true;
      this.updateRef();
    }
    if (this.awaitingDrain) {
      // Node counts each write that did not complete at once as a channel
      // reference until it does (so the channel ends up unref'd after it).
      this.inflight.push(cbs);
      this.control.refCounted();
    } else {
      complete(cbs);
    }
  }

  onDrain() {
    this.nativeQueued = 0;
    this.awaitingDrain = false;
    const inflight = this.inflight;
    this.inflight = [];
    for (let i = 0; i < inflight.length; i++) {
      this.control.unrefCounted();
      complete(inflight[i]);
    }
    this.updateRef();
  }

  onAck(acked) {
    const pending = this.pendingHandle;
    if (pending !== null) {
      if (acked) {
        this.pendingHandle = null;
        if (pending.closeOnAck) pending.wrap.close();
      } else if (pending.retransmissions++ === kMaxHandleRetransmissions) {
        this.pendingHandle = null;
        if (pending.closeOnAck) pending.wrap.close();
        process.emitWarning('Handle did not reach the receiving process correctly',
          'SentHandleNotReceivedWarning');
      }
    }
    const queue = this.handleQueue || [];
    this.handleQueue = null;
    if (this.pendingHandle !== null) {
      // A NACK: the same descriptor again, ahead of what waited for it.
      this.pendingHandle = null;
      this.transmit(pending, [false]);
    }
    for (let i = 0; i < queue.length; i++) {
      const { message, handle, options, callback } = queue[i];
      this.write(message, handle, options, callback);
    }
    // A disconnect() waiting for the handles to go out.
    if (!this.target.connected && this.attached && this.handleQueue === null) this.detach();
  }

  // --- disconnecting -----------------------------------------------------------

  disconnect() {
    const { target } = this;
    if (!target.connected) {
      target.emit('error', new ERR_IPC_DISCONNECTED());
      return;
    }
    target.connected = false;
    if (this.handleQueue === null) this.detach();
  }

  // The channel leaves the target: what was sent is written, then the reactor
  // closes the socket; 'disconnect' follows on the next tick, as in Node.
  detach() {
    const { target } = this;
    target.connected = false;
    target.channel = null;
    this.attached = false;
    this.closePendingHandle();
    this.flush();
    if (this.open) binding.channelClose(this.id);
    process.nextTick(emitDisconnect, target);
  }

  closePendingHandle() {
    if (this.pendingHandle !== null) {
      if (this.pendingHandle.closeOnAck) this.pendingHandle.wrap.close();
      this.pendingHandle = null;
    }
  }

  // Protocol errors (ERR_IPC_*) are reported. I/O failures (errno codes, e.g. a
  // queued write hitting EPIPE) are not: Node ends the channel silently then, and
  // the 'close' that follows gives 'disconnect' as in Node.
  onError(ev) {
    const ErrorClass = reactorErrors[ev.code];
    if (ErrorClass === undefined) return;
    process.nextTick(emitError, this.target, new ErrorClass(ev.message));
  }

  // The socket is gone (peer closed, error, or our channelClose).
  onClose() {
    this.open = false;
    const peerClosed = this.attached;
    if (peerClosed) this.detach();
    reactor.closeFds(this.fds);
    this.fds = [];
    // Like Node's cancelled writes: callbacks still run, without an error.
    this.onDrain();
    // After 'disconnect', which a peer's close schedules just above. Node counts
    // the channel towards a ChildProcess's 'close' only when the peer closed it:
    // after a local disconnect() it never emits 'close', and neither do we.
    if (peerClosed) process.nextTick(this.onClosed);
  }

  // --- receiving ---------------------------------------------------------------

  // Resumable: if a listener throws, the reactor calls this again with the same
  // event and delivery continues after the message that threw.
  onData(ev) {
    if (ev !== this.current) {
      if (!this.attached) {
        reactor.closeFds(ev.fds);
        return;
      }
      if (ev.fds) for (let i = 0; i < ev.fds.length; i++) this.fds.push(ev.fds[i]);
      this.values = this.mode.decode(ev.buf, ev.count);
      this.index = 0;
      this.current = ev;
    }
    const values = this.values;
    while (this.index < values.length) this.receive(values[this.index++]);
    this.current = null;
    this.values = null;
  }

  receive(message) {
    if (message instanceof InvalidMessage) {
      this.target.emit('error', message.error);
    } else if (isInternal(message)) {
      const { cmd } = message;
      if (cmd === 'NODE_HANDLE') this.receiveHandle(message);
      else if (cmd === 'NODE_HANDLE_ACK') this.onAck(true);
      else if (cmd === 'NODE_HANDLE_NACK') this.onAck(false);
      this.target.emit('internalMessage', message);
    } else {
      this.emitMessage('message', message, undefined);
    }
  }

  receiveHandle(envelope) {
    // One NODE_HANDLE per descriptor, in order; none left means it was lost.
    const fd = this.fds.length > 0 ? this.fds.shift() : -1;
    if (fd === -1) {
      this.sendInternal({ cmd: 'NODE_HANDLE_NACK' }, true);
      return;
    }
    if (!this.attached) {
      // Disconnected while this batch was being delivered: nobody gets it.
      reactor.closeFds([fd]);
      return;
    }
    this.sendInternal({ cmd: 'NODE_HANDLE_ACK' }, true);
    handlePassing().receive(this, envelope, fd, (err, handle) => {
      if (err) {
        this.target.emit('error', err);
      } else if (!this.attached) {
        dispose(handle);
      } else {
        const inner = envelope.msg;
        this.emitMessage(isInternal(inner) ? 'internalMessage' : 'message', inner, handle);
      }
    });
  }

  // Without a 'message' listener, messages wait for one (as in Node).
  emitMessage(event, message, handle) {
    // emit() says whether anyone listened (a wrapped emit may not: then ask).
    const { target } = this;
    if (!target.emit(event, message, handle) && event === 'message' &&
        target.listenerCount('message') === 0) {
      this.unheard.push([event, message, handle]);
    }
  }

  onNewListener() {
    if (this.unheard.length > 0 && !this.replayScheduled) {
      this.replayScheduled = true;
      process.nextTick(replayUnheard, this);
    }
  }

  // --- event loop --------------------------------------------------------------

  setRef(wanted) {
    this.refWanted = wanted;
    this.updateRef();
  }

  // Held while the socket is open and either ref'd or writing (a pending write
  // keeps Node's loop alive even on an unref'd channel).
  updateRef() {
    const want = this.open && (this.refWanted || this.awaitingDrain);
    if (want === this.refHeld) return;
    this.refHeld = want;
    if (want) reactor.ref();
    else reactor.unref();
  }
}

function complete(cbs) {
  for (let i = 0; i < cbs.length; i++) {
    if (typeof cbs[i] === 'function') process.nextTick(cbs[i], null);
  }
}

function replayUnheard(channel) {
  channel.replayScheduled = false;
  const { target } = channel;
  if (!channel.attached || target.listenerCount('message') === 0) return;
  const messages = channel.unheard;
  channel.unheard = [];
  let i = 0;
  try {
    while (i < messages.length) {
      const [event, message, handle] = messages[i++];
      target.emit(event, message, handle);
    }
  } finally {
    // A listener threw: the rest are delivered on a later tick.
    if (i < messages.length) {
      channel.unheard = messages.slice(i).concat(channel.unheard);
      channel.onNewListener();
    }
  }
}

// Node 20 and 22 tell the Control's listeners when counting unref'd the channel.
const emitsUnref = NODE_MAJOR < 24;

// `target.channel` as Node's Control. ref()/unref() set whether the open channel
// keeps the event loop alive, for good. Until one of them is called,
// refCounted()/unrefCounted() keep a count instead: the first reference refs the
// channel, dropping the last one unrefs it. Node counts its own pending writes
// (and, in a child, 'message'/'disconnect' listeners) this way; execa counts
// its waiting getOneMessage() calls.
class Control extends EventEmitter {
  #channel;
  #refs = 0;
  #explicit = false;

  constructor(channel) {
    super();
    this.#channel = channel;
  }

  refCounted() {
    if (++this.#refs === 1 && !this.#explicit) this.#channel.setRef(true);
  }

  unrefCounted() {
    if (--this.#refs === 0 && !this.#explicit) {
      this.#channel.setRef(false);
      if (emitsUnref) this.emit('unref');
    }
  }

  ref() {
    this.#explicit = true;
    this.#channel.setRef(true);
  }

  unref() {
    this.#explicit = true;
    this.#channel.setRef(false);
  }

  // The socket is owned by the native reactor; its descriptor is not exposed.
  get fd() {
    return undefined;
  }
}

// target -> its reactor channel id, kept after disconnect (see channelIdOf).
const channelIds = new WeakMap();

// The reactor's id of `target`'s IPC channel, or undefined if it never had one: the
// cluster scheduler addresses a worker by it (rrAdd, rrRemove).
function channelIdOf(target) {
  return channelIds.get(target);
}

const deprecatedChannel = 'DEP0129';
const HAS_CHANNEL_ALIAS = NODE_MAJOR < 26;
const channelDeprecationMsg = '_channel is deprecated. Use ChildProcess.channel instead.';

// Gives `target` (a ChildProcess, or a cluster worker's process) its IPC API
// over reactor channel `id`. `serialization` is 'json' or 'advanced'.
// `onClosed()` runs once, when the peer closed the socket (Node's 'close' rule).
// Returns the Control installed as `target.channel`.
function setupChannel(target, id, serialization, onClosed) {
  const channel = new Channel(target, id, serialization, onClosed);
  channelIds.set(target, id);
  const control = new Control(channel);
  channel.control = control;
  target.channel = control;
  // Node 26 removed the deprecated alias (DEP0129 end of life).
  if (HAS_CHANNEL_ALIAS) Object.defineProperty(target, '_channel', {
    __proto__: null,
    get: util.deprecate(() => target.channel, channelDeprecationMsg, deprecatedChannel),
    set: util.deprecate((value) => { target.channel = value; }, channelDeprecationMsg,
      deprecatedChannel),
    configurable: true,
    enumerable: false,
  });
  target.connected = true;
  target.send = (message, handle, options, callback) =>
    channel.send(message, handle, options, callback);
  target.disconnect = () => channel.disconnect();
  target.on('newListener', () => channel.onNewListener());

  reactor.registerChannel(id, {
    data: (ev) => channel.onData(ev),
    drain: () => channel.onDrain(),
    error: (ev) => channel.onError(ev),
    close: () => channel.onClose(),
  });
  channel.updateRef();
  if (!exitHooked) {
    exitHooked = true;
    // Node writes synchronously, so `send(); process.exit()` delivers; so do we.
    process.on('exit', flushAll);
  }
  return control;
}

module.exports = { setupChannel, channelIdOf, flush: flushAll };
