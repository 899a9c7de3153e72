'use strict';
// The ChildProcess class and the option normalisation shared by the async and
// sync APIs. Processes are started by the native addon; their exit and IPC
// traffic arrive through the reactor (./reactor, ./ipc/channel).
const EventEmitter = require('node:events');
const net = require('node:net');
const { inspect } = require('node:util');
const { errno: errnoNumbers } = require('node:os').constants;
const diagnosticsChannel = require('node:diagnostics_channel');
const binding = require('../binding');
const reactor = require('./reactor');
const {
  errnoException,
  ERR_INVALID_ARG_TYPE,
  ERR_INVALID_ARG_VALUE,
  ERR_INVALID_SYNC_FORK_INPUT,
  ERR_IPC_ONE_PIPE,
  ERR_IPC_SYNC_FORK,
} = require('./errors');
const {
  convertToValidSignal,
  getValidatedPath,
  signalName,
  validateArgumentNullCheck,
  validateArgumentsNullCheck,
  validateArray,
  validateBoolean,
  validateFunction,
  validateId,
  validateObject,
  validateOneOf,
  validateString,
  validateUint32,
} = require('./validators');
const { NODE_MAJOR } = require('./node_major');

const { DEFAULT_MAX_MESSAGE_SIZE } = binding;
const childProcessChannel = diagnosticsChannel.channel('child_process');

// Spawn failures Node reports through an 'error' event; any other errno throws.
const EMITTED_SPAWN_ERRORS = new Set(['EACCES', 'EAGAIN', 'EMFILE', 'ENFILE', 'ENOENT']
  .map((name) => -errnoNumbers[name]));
// With no descriptors left Node gives up before creating the stdio streams.
const OUT_OF_FDS = new Set([-errnoNumbers.EMFILE, -errnoNumbers.ENFILE]);

function stdioStringToArray(stdio, channel) {
  const entries = [];
  switch (stdio) {
    case 'ignore':
    case 'overlapped':
    case 'pipe': entries.push(stdio, stdio, stdio); break;
    case 'inherit': entries.push(0, 1, 2); break;
    default: throw new ERR_INVALID_ARG_VALUE('stdio', stdio);
  }
  if (channel) entries.push(channel);
  return entries;
}

// The descriptor behind a stream or handle passed in `stdio`, or undefined.
function wrappedFd(value) {
  for (const handle of [value.handle, value._handle]) {
    if (handle && typeof handle.fd === 'number') return handle.fd;
  }
  return undefined;
}

// Normalises `stdio` (Node's getValidStdio) into entries of
//   { type: 'pipe', writable } | { type: 'ignore' } | { type: 'ipc' }
//   | { type: 'fd', fd } | { type: 'wrap', fd, stream }
// `writable`: the child writes to this pipe (all but fd 0), so spawnSync collects it.
function getValidStdio(stdio, sync) {
  if (typeof stdio === 'string') {
    stdio = stdioStringToArray(stdio);
  } else if (!Array.isArray(stdio)) {
    throw new ERR_INVALID_ARG_VALUE('stdio', stdio);
  }

  const entries = [];
  let ipcIndex = -1;
  const count = Math.max(stdio.length, 3);
  for (let i = 0; i < count; i++) {
    let value = stdio[i];
    if (value == null) value = i < 3 ? 'pipe' : 'ignore';

    if (value === 'ignore') {
      entries.push({ type: 'ignore' });
    } else if (value === 'pipe' || value === 'overlapped' ||
               (typeof value === 'number' && value < 0)) {
      entries.push({ type: 'pipe', writable: i !== 0 });
    } else if (value === 'ipc') {
      if (sync) throw new ERR_IPC_SYNC_FORK();
      if (ipcIndex !== -1) throw new ERR_IPC_ONE_PIPE();
      ipcIndex = i;
      entries.push({ type: 'ipc' });
    } else if (value === 'inherit') {
      entries.push({ type: 'fd', fd: i });
    } else if (typeof value === 'number' || typeof value.fd === 'number') {
      entries.push({ type: 'fd', fd: typeof value === 'number' ? value : value.fd });
    } else if (wrappedFd(value) !== undefined) {
      entries.push({ type: 'wrap', fd: wrappedFd(value), stream: value });
    } else if (ArrayBuffer.isView(value) || typeof value === 'string') {
      // Node skips these in sync mode (input goes through options.input).
      if (!sync) throw new ERR_INVALID_SYNC_FORK_INPUT(inspect(value));
    } else {
      throw new ERR_INVALID_ARG_VALUE('stdio', value);
    }
  }
  return { stdio: entries, ipcIndex };
}

// The fields native spawn and spawnSync share. Like Node's C++ layer this
// stringifies the file, arguments and environment entries, and treats an empty
// cwd as none.
function nativeSpawnOptions(options, args, envPairs, stdio) {
  let { cwd } = options;
  if (cwd instanceof Uint8Array) cwd = Buffer.from(cwd).toString();
  return {
    file: String(options.file),
    args: args.map(String),
    envPairs: envPairs.map(String),
    cwd: cwd ? String(cwd) : undefined,
    detached: !!options.detached,
    uid: typeof options.uid === 'number' ? options.uid : undefined,
    gid: typeof options.gid === 'number' ? options.gid : undefined,
    stdio: stdio.map((entry) => (entry.type === 'fd' || entry.type === 'wrap' ?
      { type: 'fd', fd: entry.fd } : { type: entry.type })),
  };
}

// Node 24 deprecated args joined into a shell command line unescaped (DEP0190): the
// warning, once per process, as there.
const WARNS_SHELL_ARGS = NODE_MAJOR >= 24;
let warnedShellArgs = false;
function warnShellArgs() {
  if (!WARNS_SHELL_ARGS || warnedShellArgs) return;
  warnedShellArgs = true;
  process.emitWarning('Passing args to a child process with shell option true can lead to ' +
    'security vulnerabilities, as the arguments are not escaped, only concatenated.',
  'DeprecationWarning', 'DEP0190');
}

// The file/args/env/options checks and rewrites common to spawn and spawnSync.
function normalizeSpawnArguments(file, args, options) {
  validateString(file, 'file');
  validateArgumentNullCheck(file, 'file');
  if (file.length === 0) throw new ERR_INVALID_ARG_VALUE('file', file, 'cannot be empty');

  if (Array.isArray(args)) {
    args = args.slice();
  } else if (args == null) {
    args = [];
  } else if (typeof args !== 'object') {
    throw new ERR_INVALID_ARG_TYPE('args', 'object', args);
  } else {
    options = args;
    args = [];
  }
  validateArgumentsNullCheck(args, 'args');

  if (options === undefined) options = {};
  else validateObject(options, 'options');
  options = { __proto__: null, ...options };

  let cwd = options.cwd;
  if (cwd != null) cwd = getValidatedPath(cwd, 'options.cwd');
  if (options.detached != null) validateBoolean(options.detached, 'options.detached');
  validateId(options.uid, 'options.uid');
  validateId(options.gid, 'options.gid');
  if (options.shell != null && typeof options.shell !== 'boolean' &&
      typeof options.shell !== 'string') {
    throw new ERR_INVALID_ARG_TYPE('options.shell', ['boolean', 'string'], options.shell);
  }
  if (options.argv0 != null) {
    validateString(options.argv0, 'options.argv0');
    validateArgumentNullCheck(options.argv0, 'options.argv0');
  }
  // Windows-only switches: checked like Node, no effect here.
  if (options.windowsHide != null) validateBoolean(options.windowsHide, 'options.windowsHide');
  if (options.windowsVerbatimArguments != null) {
    validateBoolean(options.windowsVerbatimArguments, 'options.windowsVerbatimArguments');
  }

  if (options.shell) {
    validateArgumentNullCheck(options.shell, 'options.shell');
    if (args.length > 0) warnShellArgs();
    const command = [file, ...args].join(' ');
    file = typeof options.shell === 'string' ? options.shell : '/bin/sh';
    args = ['-c', command];
  }
  args.unshift(typeof options.argv0 === 'string' ? options.argv0 : file);

  const env = options.env || process.env;
  const envPairs = [];
  // Prototype keys are included on purpose, as in Node.
  for (const key in env) {
    const value = env[key];
    if (value !== undefined) {
      validateArgumentNullCheck(key, `options.env['${key}']`);
      validateArgumentNullCheck(value, `options.env['${key}']`);
      envPairs.push(`${key}=${value}`);
    }
  }
  // Coverage collection follows children even into a custom environment.
  if (process.env.NODE_V8_COVERAGE && options.env &&
      !Object.prototype.hasOwnProperty.call(options.env, 'NODE_V8_COVERAGE')) {
    envPairs.push(`NODE_V8_COVERAGE=${process.env.NODE_V8_COVERAGE}`);
  }

  return {
    __proto__: null,
    ...options,
    args,
    cwd,
    detached: !!options.detached,
    envPairs,
    file,
    windowsHide: !!options.windowsHide,
    windowsVerbatimArguments: !!options.windowsVerbatimArguments,
  };
}

// exec(command[, options][, callback]): a shell command line.
function normalizeExecArgs(command, options, callback) {
  validateString(command, 'command');
  validateArgumentNullCheck(command, 'command');
  if (typeof options === 'function') {
    callback = options;
    options = undefined;
  }
  options = { __proto__: null, ...options };
  options.shell = typeof options.shell === 'string' ? options.shell : true;
  return { file: command, options, callback };
}

// execFile(file[, args][, options][, callback]) and execFileSync's optional arguments.
function normalizeExecFileArgs(file, args, options, callback) {
  if (Array.isArray(args)) {
    args = args.slice();
  } else if (args != null && typeof args === 'object') {
    callback = options;
    options = args;
    args = null;
  } else if (typeof args === 'function') {
    callback = args;
    options = null;
    args = null;
  }
  if (args == null) args = [];

  if (typeof options === 'function') {
    callback = options;
  } else if (options != null) {
    validateObject(options, 'options');
  }
  if (options == null) options = {};
  if (callback != null) validateFunction(callback, 'callback');
  if (options.argv0 != null) {
    validateString(options.argv0, 'options.argv0');
    validateArgumentNullCheck(options.argv0, 'options.argv0');
  }
  return { file, args, options, callback };
}

// Creates the parent's end of a stdio pipe the way Node's createSocket does:
// every stream is writable, only the ones the child writes to (index > 0) are
// readable. A failed spawn has no fd: see standInSocket.
function createSocket(fd, readable) {
  return fd >= 0 ? new net.Socket({ fd, readable }) : standInSocket(readable);
}

// After a failed spawn Node's pipes still exist, unconnected: the readable ones
// reach EOF once read ('end', 'finish'), a write fails with EPIPE, and each
// closes in libuv's close phase. The stand-in follows the same order: one EOF
// per loop turn, then the closes, the last destroyed first.
function standInSocket(readable) {
  const socket = new net.Socket({ readable });
  socket._read = () => standIns.later(standIns.reads, socket);
  socket._write = (chunk, encoding, cb) => cb(errnoException(-errnoNumbers.EPIPE, 'write'));
  socket._writev = (chunks, cb) => cb(errnoException(-errnoNumbers.EPIPE, 'write'));
  socket._final = (cb) => process.nextTick(cb); // Node's shutdown completes later
  socket._destroy = (err, cb) => {
    socket.setTimeout(0);
    cb(err);
    standIns.later(standIns.closes, () => socket.emit('close', !!err));
  };
  return socket;
}

const standIns = {
  reads: [], // sockets whose EOF is due, oldest first
  closes: [], // 'close' emitters, run newest first
  scheduled: false,
  later(queue, item) {
    queue.push(item);
    this.schedule();
  },
  schedule() {
    if (!this.scheduled && (this.reads.length > 0 || this.closes.length > 0)) {
      this.scheduled = true;
      setImmediate(() => this.turn());
    }
  },
  // One step per loop turn, so ticks run in between as they do between libuv callbacks.
  turn() {
    this.scheduled = false;
    const socket = this.reads.shift();
    if (socket !== undefined) {
      if (!socket.destroyed) socket.push(null);
    } else {
      this.closes.pop()();
    }
    this.schedule();
  },
};

// Streams handed to a child as its stdio. The parent must not read them any
// more, or both processes would consume the same input.
const usedAsStdio = new WeakSet();

function stopReading(stream) {
  usedAsStdio.add(stream);
  const handle = stream._handle || stream.handle;
  if (handle && typeof handle.readStop === 'function') {
    handle.reading = false;
    handle.readStop();
  }
  if (typeof stream.pause === 'function') {
    stream.pause();
    stream.readableFlowing = false;
    if (stream._readableState) stream._readableState.reading = false;
  }
}

// After exit, drain streams nobody reads so they reach EOF and 'close' can fire
// (except those another child now reads).
function flushStdio(child) {
  for (const stream of child.stdio || []) {
    if (stream && stream.readable && !usedAsStdio.has(stream)) stream.resume();
  }
}

class ChildProcess extends EventEmitter {
  #closesNeeded = 1; // the exit itself, plus each stdio pipe and the IPC channel
  #closesGot = 0;
  #alive = false; // spawned and not yet reaped: kill() may signal it
  #refed = false; // holds one reactor ref (keeps the event loop alive)
  #hasIpc = false;

  constructor() {
    super();
    this.connected = false;
    this.signalCode = null;
    this.exitCode = null;
    this.killed = false;
    this.spawnfile = null;
    if (childProcessChannel.hasSubscribers) childProcessChannel.publish({ process: this });
  }

  spawn(options) {
    validateObject(options, 'options');
    const { stdio, ipcIndex } = getValidStdio(options.stdio || 'pipe', false);

    validateOneOf(options.serialization, 'options.serialization',
      [undefined, 'json', 'advanced']);
    const serialization = options.serialization || 'json';
    if (options.maxMessageSize != null) {
      validateUint32(options.maxMessageSize, 'options.maxMessageSize', true);
    }
    const maxMessageSize = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;

    let envPairs = options.envPairs;
    if (ipcIndex !== -1) {
      // Tells a Node child where its channel is and how messages are framed.
      if (envPairs === undefined) envPairs = [];
      else validateArray(envPairs, 'options.envPairs');
      envPairs = [...envPairs, `NODE_CHANNEL_FD=${ipcIndex}`,
        `NODE_CHANNEL_SERIALIZATION_MODE=${serialization}`];
    } else if (envPairs === undefined) {
      envPairs = Object.entries(process.env).map(([key, value]) => `${key}=${value}`);
    }

    validateString(options.file, 'options.file');
    this.spawnfile = options.file;
    if (options.args === undefined) {
      this.spawnargs = [];
    } else {
      validateArray(options.args, 'options.args');
      this.spawnargs = options.args;
    }

    const result = binding.spawn({
      ...nativeSpawnOptions(options, this.spawnargs, envPairs, stdio),
      serialization,
      maxMessageSize,
    });
    const err = result.errno;

    if (EMITTED_SPAWN_ERRORS.has(err)) {
      process.nextTick(() => this.#onSpawnError(err));
      if (OUT_OF_FDS.has(err)) return err;
    } else if (err) {
      throw errnoException(err, 'spawn');
    } else {
      this.#alive = true;
      this.#refed = true;
      reactor.ref();
      reactor.watchExit(result.pid, (status, signal) => this.#onExit(status, signal));
      process.nextTick(() => this.emit('spawn'));
    }

    this.pid = err ? undefined : result.pid;

    const streams = stdio.map((entry, i) => {
      if (entry.type === 'ipc') {
        this.#closesNeeded++;
        this.#hasIpc = true;
      } else if (entry.type === 'wrap') {
        stopReading(entry.stream);
      } else if (entry.type === 'pipe') {
        const socket = createSocket(err ? -1 : result.fds[i], i > 0);
        if (i > 0) {
          this.#closesNeeded++;
          socket.on('close', () => this.#maybeClose());
        }
        return socket;
      }
      return null;
    });

    this.stdin = streams.length >= 1 ? streams[0] : null;
    this.stdout = streams.length >= 2 ? streams[1] : null;
    this.stderr = streams.length >= 3 ? streams[2] : null;
    this.stdio = streams;

    if (ipcIndex !== -1 && !err) {
      require('./ipc/channel').setupChannel(this, result.channelId, serialization,
        () => this.#maybeClose());
    }
    return err;
  }

  // status: exit code or null; signal: the number of the terminating signal or null.
  #onExit(status, signal) {
    this.#alive = false;
    this.#releaseRef();
    if (signal) this.signalCode = signalName(signal);
    else this.exitCode = status;

    if (this.stdin) this.stdin.destroy();
    this.emit('exit', this.exitCode, this.signalCode);
    // A tick's grace lets listeners start reading output after 'exit'.
    process.nextTick(flushStdio, this);
    this.#maybeClose();
  }

  // Node's path for a spawn that failed at run time: the errno becomes the exit
  // code and 'error' replaces 'exit'; then, as after an exit, the streams are
  // drained on the next tick (the stand-ins reach EOF and close). A requested
  // IPC channel gives 'disconnect' a tick later.
  #onSpawnError(err) {
    this.exitCode = err;
    if (this.stdin) this.stdin.destroy();
    const error = errnoException(err, `spawn ${this.spawnfile}`);
    error.path = this.spawnfile;
    error.spawnargs = this.spawnargs.slice(1);
    this.emit('error', error);
    if (this.#hasIpc) {
      process.nextTick(() => this.emit('disconnect'));
      this.#maybeClose();
    }
    process.nextTick(flushStdio, this);
    this.#maybeClose();
  }

  #maybeClose() {
    if (++this.#closesGot === this.#closesNeeded) {
      this.emit('close', this.exitCode, this.signalCode);
    }
  }

  #releaseRef() {
    if (this.#refed) {
      this.#refed = false;
      reactor.unref();
    }
  }

  kill(sig) {
    const signal = sig === 0 ? 0 : convertToValidSignal(sig === undefined ? 'SIGTERM' : sig);
    if (this.#alive) {
      // Node writes IPC messages inside send(); ours wait for the end of the
      // tick. Those sent before kill() must still reach the socket first.
      if (this.#hasIpc) require('./ipc/channel').flush();
      const err = binding.kill(this.pid, signal);
      // ESRCH before its 'exit' reached us: the reactor thread reaped it already.
      // In Node the child would still be an unreaped zombie, which kill()
      // signals successfully; answer as Node would.
      if (err === 0 || err === -errnoNumbers.ESRCH) {
        this.killed = true;
        return true;
      }
      if (err === -errnoNumbers.EINVAL || err === -errnoNumbers.ENOSYS) {
        throw errnoException(err, 'kill');
      }
      // Anything else (EPERM) is reported, not thrown.
      this.emit('error', errnoException(err, 'kill'));
    }
    return false;
  }

  ref() {
    if (this.#alive && !this.#refed) {
      this.#refed = true;
      reactor.ref();
    }
  }

  unref() {
    this.#releaseRef();
  }
}

if (Symbol.dispose) {
  ChildProcess.prototype[Symbol.dispose] = function dispose() {
    if (!this.killed) this.kill();
  };
}

module.exports = {
  ChildProcess,
  getValidStdio,
  normalizeExecArgs,
  normalizeExecFileArgs,
  normalizeSpawnArguments,
  nativeSpawnOptions,
  stdioStringToArray,
};
