'use strict';
// Handles over the IPC channel, as Node sends and receives them. A handle travels
// as one descriptor (SCM_RIGHTS) with a {cmd: 'NODE_HANDLE', type, msg, key?}
// envelope. We only ever see descriptors: the sending side takes the fd from the
// object's libuv wrap, and the receiving side builds the object Node would give
// around the received fd through the public `{fd}` constructors.
//
// Each channel passes itself as the context: { target, sockets: {got, send},
// sendInternal(message, swallowErrors) } (see channel.js).
const EventEmitter = require('node:events');
const fs = require('node:fs');
const net = require('node:net');
const dgram = require('node:dgram');
const {
  ERR_CHILD_CLOSED_BEFORE_REPLY,
  ERR_INVALID_HANDLE_TYPE,
  errnoException,
} = require('../errors');

// The raw libuv wrap classes, needed only to recognise and build *.Native
// handles; loaded on first use (process.binding warns under --pending-deprecation).
let wraps;
function rawWraps() {
  if (wraps === undefined) {
    wraps = {
      TCP: process.binding('tcp_wrap').TCP,
      Pipe: process.binding('pipe_wrap').Pipe,
      UDP: process.binding('udp_wrap').UDP,
    };
  }
  return wraps;
}

// The envelope `type` for a handle given to send(); Node's order of checks.
function handleType(handle) {
  if (handle instanceof net.Socket) return 'net.Socket';
  if (handle instanceof net.Server) return 'net.Server';
  if (handle instanceof dgram.Socket) return 'dgram.Socket';
  if (typeof handle === 'object') {
    const { TCP, Pipe, UDP } = rawWraps();
    if (handle instanceof TCP || handle instanceof Pipe) return 'net.Native';
    if (handle instanceof UDP) return 'dgram.Native';
  }
  throw new ERR_INVALID_HANDLE_TYPE();
}

// dgram keeps its wrap behind a symbol of its own module.
function dgramState(socket) {
  for (const sym of Object.getOwnPropertySymbols(socket)) {
    if (sym.description === 'state symbol') return socket[sym];
  }
  return undefined;
}

let httpCommon;
function nop() {}

// The libuv wrap to send for `handle` (whose fd goes on the wire), or null when
// there is none (a closed socket or server): the message then goes without it,
// as in Node. Adds `key`/`dgramType` to the envelope. A net.Socket sent without
// `keepOpen` is detached from its object now; its wrap is closed on the ACK.
function toWrap(ctx, envelope, handle, options) {
  switch (envelope.type) {
    case 'net.Server':
      return handle._handle;
    case 'dgram.Socket':
      envelope.dgramType = handle.type;
      return dgramState(handle).handle;
    case 'net.Socket':
      return detachSocket(ctx, envelope, handle, options);
    default:
      return handle;
  }
}

function detachSocket(ctx, envelope, socket, options) {
  const wrap = socket._handle;
  if (!wrap) return null;
  if (socket.server) {
    // The server learns about connections living in the child through the
    // NODE_SOCKET_* requests of this list (getConnections(), close()).
    const key = socket.server._connectionKey;
    envelope.key = key;
    if (ctx.sockets.send[key] === undefined) {
      ctx.sockets.send[key] = new SocketListSend(ctx, key);
      socket.server._setupWorker(ctx.sockets.send[key]);
    }
    if (!options.keepOpen) socket.server._connections--;
  }
  if (!options.keepOpen) {
    wrap.onread = nop;
    // Unlike Node, stop reading: bytes not yet read belong to the receiver.
    wrap.readStop();
    socket._handle = null;
    socket.setTimeout(0);
    httpCommon ??= require('node:_http_common');
    if (socket.parser && socket.parser instanceof httpCommon.HTTPParser) {
      httpCommon.freeParser(socket.parser, null, socket);
      if (socket._httpMessage) socket._httpMessage.detachSocket(socket);
    }
  }
  return wrap;
}

// Builds what Node's receiver gives for `envelope.type` around `fd` and calls
// `done(null, object)`, or `done(err)` after closing `fd` when it cannot. User
// code runs in `done`, outside the guard around adopting the fd.
function receive(ctx, envelope, fd, done) {
  let object;
  try {
    object = adopt(ctx, envelope, fd, done);
  } catch (err) {
    fs.closeSync(fd);
    done(err);
    return;
  }
  if (object !== undefined) done(null, object);
}

// The object owning `fd` now, or undefined when `done` is called later.
function adopt(ctx, envelope, fd, done) {
  switch (envelope.type) {
    case 'net.Server': {
      const server = new net.Server();
      const fail = (err) => {
        fs.closeSync(fd);
        done(err);
      };
      server.once('error', fail);
      server.listen({ fd }, () => {
        server.removeListener('error', fail);
        done(null, server);
      });
      return undefined;
    }
    case 'net.Socket': {
      const socket = new net.Socket({ fd, readable: true, writable: true });
      if (envelope.key) {
        ctx.sockets.got[envelope.key] ??= new SocketListReceive(ctx, envelope.key);
        ctx.sockets.got[envelope.key].add(socket);
      }
      return socket;
    }
    case 'dgram.Socket': {
      const socket = dgram.createSocket(envelope.dgramType);
      // Bound synchronously; exclusive: never ask a cluster primary for this fd.
      socket.bind({ fd, exclusive: true });
      return socket;
    }
    case 'net.Native': {
      const wrap = net._createServerHandle(null, null, null, fd);
      if (typeof wrap === 'number') throw errnoException(wrap, 'open');
      return wrap;
    }
    case 'dgram.Native': {
      const wrap = new (rawWraps().UDP)();
      const err = wrap.open(fd);
      if (err) throw errnoException(err, 'open');
      return wrap;
    }
    default:
      throw new ERR_INVALID_HANDLE_TYPE();
  }
}

// Sending side of a server's connections in one child: asks the child how many
// are open, or to report when they have all closed.
class SocketListSend extends EventEmitter {
  constructor(ctx, key) {
    super();
    this.key = key;
    this.ctx = ctx;
    ctx.target.once('exit', () => this.emit('exit', this));
  }

  request(message, replyCmd, swallowErrors, callback) {
    const { target } = this.ctx;
    const onClose = () => {
      target.removeListener('internalMessage', onReply);
      callback(new ERR_CHILD_CLOSED_BEFORE_REPLY());
    };
    const onReply = (reply) => {
      if (reply.cmd !== replyCmd || reply.key !== this.key) return;
      target.removeListener('disconnect', onClose);
      target.removeListener('internalMessage', onReply);
      callback(null, reply);
    };
    if (!target.connected) return onClose();
    this.ctx.sendInternal(message, swallowErrors);
    target.once('disconnect', onClose);
    target.on('internalMessage', onReply);
  }

  close(callback) {
    this.request({ cmd: 'NODE_SOCKET_NOTIFY_CLOSE', key: this.key },
                 'NODE_SOCKET_ALL_CLOSED', true, callback);
  }

  getConnections(callback) {
    this.request({ cmd: 'NODE_SOCKET_GET_COUNT', key: this.key }, 'NODE_SOCKET_COUNT', false,
                 (err, reply) => (err ? callback(err) : callback(null, reply.count)));
  }
}

// Receiving side: counts the sockets of the sender's server living here and
// answers its requests.
class SocketListReceive extends EventEmitter {
  constructor(ctx, key) {
    super();
    this.connections = 0;
    this.key = key;
    this.ctx = ctx;
    const onEmpty = () => {
      if (!ctx.target.connected) return;
      ctx.sendInternal({ cmd: 'NODE_SOCKET_ALL_CLOSED', key }, true);
    };
    ctx.target.on('internalMessage', (message) => {
      if (message.key !== key) return;
      if (message.cmd === 'NODE_SOCKET_NOTIFY_CLOSE') {
        if (this.connections === 0) onEmpty();
        else this.once('empty', onEmpty);
      } else if (message.cmd === 'NODE_SOCKET_GET_COUNT' && ctx.target.connected) {
        ctx.sendInternal({ cmd: 'NODE_SOCKET_COUNT', key, count: this.connections }, false);
      }
    });
  }

  add(socket) {
    this.connections++;
    socket.once('close', () => {
      if (--this.connections === 0) this.emit('empty', this);
    });
  }
}

module.exports = { handleType, toWrap, receive };
