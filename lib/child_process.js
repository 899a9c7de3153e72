'use strict';
// Drop-in replacement for require('child_process') (Node 20 semantics).
const { getSystemErrorName, promisify } = require('node:util');
const {
  AbortError,
  ERR_CHILD_PROCESS_IPC_REQUIRED,
  ERR_CHILD_PROCESS_STDIO_MAXBUFFER,
} = require('./internal/errors');
const {
  getValidatedPath,
  sanitizeKillSignal,
  validateAbortSignal,
  validateArgumentNullCheck,
  validateArgumentsNullCheck,
  validateArray,
  validateMaxBuffer,
  validateObject,
  validateTimeout,
} = require('./internal/validators');
const {
  ChildProcess,
  normalizeExecArgs,
  normalizeExecFileArgs,
  normalizeSpawnArguments,
  stdioStringToArray,
} = require('./internal/child_process');

// The synchronous API is loaded at its first use: a cluster primary never needs it.
let syncModule = null;
const sync = () => (syncModule ??= require('./internal/spawn_sync'));
function spawnSync(file, args, options) {
  return sync().spawnSync(file, args, options);
}
function execFileSync(file, args, options) {
  return sync().execFileSync(file, args, options);
}
function execSync(command, options) {
  return sync().execSync(command, options);
}

const MAX_BUFFER = 1024 * 1024;

function spawn(file, args, options) {
  options = normalizeSpawnArguments(file, args, options);
  validateTimeout(options.timeout);
  validateAbortSignal(options.signal, 'options.signal');
  const killSignal = sanitizeKillSignal(options.killSignal);
  const child = new ChildProcess();
  child.spawn(options);

  if (options.timeout > 0) {
    let timer = setTimeout(() => {
      timer = null;
      try {
        child.kill(killSignal);
      } catch (err) {
        child.emit('error', err);
      }
    }, options.timeout);
    child.once('exit', () => {
      if (timer) clearTimeout(timer);
      timer = null;
    });
  }

  const { signal } = options;
  if (signal) {
    const onAbort = () => {
      try {
        if (child.kill(killSignal)) {
          child.emit('error', new AbortError(undefined, { cause: signal.reason }));
        }
      } catch (err) {
        child.emit('error', err);
      }
    };
    if (signal.aborted) {
      process.nextTick(onAbort);
    } else {
      signal.addEventListener('abort', onAbort, { once: true });
      child.once('exit', () => signal.removeEventListener('abort', onAbort));
    }
  }
  return child;
}

function fork(modulePath, args = [], options) {
  modulePath = getValidatedPath(modulePath, 'modulePath');

  if (args == null) {
    args = [];
  } else if (typeof args === 'object' && !Array.isArray(args)) {
    options = args;
    args = [];
  } else {
    validateArray(args, 'args');
  }
  if (options != null) validateObject(options, 'options');
  options = { __proto__: null, ...options, shell: false };
  options.execPath = options.execPath || process.execPath;
  validateArgumentNullCheck(options.execPath, 'options.execPath');

  let execArgv = options.execArgv || process.execArgv;
  validateArgumentsNullCheck(execArgv, 'options.execArgv');
  // Under `node -e`, the inherited execArgv would run the script again in the child.
  if (execArgv === process.execArgv && process._eval != null) {
    const index = execArgv.lastIndexOf(process._eval);
    if (index > 0) {
      execArgv = execArgv.slice();
      execArgv.splice(index - 1, 2);
    }
  }
  args = [...execArgv, modulePath, ...args];

  if (typeof options.stdio === 'string') {
    options.stdio = stdioStringToArray(options.stdio, 'ipc');
  } else if (!Array.isArray(options.stdio)) {
    options.stdio = stdioStringToArray(options.silent ? 'pipe' : 'inherit', 'ipc');
  } else if (!options.stdio.includes('ipc')) {
    throw new ERR_CHILD_PROCESS_IPC_REQUIRED('options.stdio');
  }
  return spawn(options.execPath, args, options);
}

function exec(command, options, callback) {
  const opts = normalizeExecArgs(command, options, callback);
  return module.exports.execFile(opts.file, opts.options, opts.callback);
}

// Collects a child's output for execFile, enforcing maxBuffer on each stream.
function collectOutput(stream, name, options, onOverflow) {
  const chunks = [];
  let length = 0;
  stream.on('data', (chunk) => {
    if (options.maxBuffer === Infinity) {
      chunks.push(chunk);
      return;
    }
    const encoding = stream.readableEncoding;
    const size = encoding ? Buffer.byteLength(chunk, encoding) : chunk.length;
    length += size;
    if (length > options.maxBuffer) {
      // Keep output up to the limit (counted in bytes, cut in units of the chunk).
      chunks.push(chunk.slice(0, options.maxBuffer - (length - size)));
      onOverflow(new ERR_CHILD_PROCESS_STDIO_MAXBUFFER(name));
    } else {
      chunks.push(chunk);
    }
  });
  return chunks;
}

function execFile(file, args, options, callback) {
  ({ file, args, options, callback } = normalizeExecFileArgs(file, args, options, callback));
  options = {
    __proto__: null,
    encoding: 'utf8',
    timeout: 0,
    maxBuffer: MAX_BUFFER,
    killSignal: 'SIGTERM',
    cwd: null,
    env: null,
    shell: false,
    ...options,
  };
  validateTimeout(options.timeout);
  validateMaxBuffer(options.maxBuffer);
  options.killSignal = sanitizeKillSignal(options.killSignal);

  const child = spawn(file, args, {
    cwd: options.cwd,
    env: options.env,
    gid: options.gid,
    shell: options.shell,
    signal: options.signal,
    uid: options.uid,
    windowsHide: !!options.windowsHide,
    windowsVerbatimArguments: !!options.windowsVerbatimArguments,
  });

  const encoding = options.encoding !== 'buffer' && Buffer.isEncoding(options.encoding) ?
    options.encoding : null;
  let killed = false;
  let exited = false;
  let timer = null;
  let ex = null;
  let stdoutChunks = [];
  let stderrChunks = [];

  const join = (stream, chunks) => (encoding || stream?.readableEncoding ?
    chunks.join('') : Buffer.concat(chunks));

  function exithandler(code, signal) {
    if (exited) return;
    exited = true;
    if (timer) {
      clearTimeout(timer);
      timer = null;
    }
    if (!callback) return;

    const stdout = join(child.stdout, stdoutChunks);
    const stderr = join(child.stderr, stderrChunks);
    if (!ex && code === 0 && signal === null) {
      callback(null, stdout, stderr);
      return;
    }
    let cmd = file;
    if (args?.length) cmd += ` ${args.join(' ')}`;
    if (!ex) {
      ex = Object.assign(new Error(`Command failed: ${cmd}\n${stderr}`), {
        // A negative code is a spawn errno (e.g. -2 after ENOENT): report its name.
        code: code < 0 ? getSystemErrorName(code) : code,
        killed: child.killed || killed,
        signal,
      });
    }
    ex.cmd = cmd;
    callback(ex, stdout, stderr);
  }

  function kill() {
    if (child.stdout) child.stdout.destroy();
    if (child.stderr) child.stderr.destroy();
    killed = true;
    try {
      child.kill(options.killSignal);
    } catch (err) {
      ex = err;
      exithandler();
    }
  }

  if (options.timeout > 0) {
    timer = setTimeout(() => {
      kill();
      timer = null;
    }, options.timeout);
  }

  const onOverflow = (err) => {
    ex = err;
    kill();
  };
  if (child.stdout) {
    if (encoding) child.stdout.setEncoding(encoding);
    stdoutChunks = collectOutput(child.stdout, 'stdout', options, onOverflow);
  }
  if (child.stderr) {
    if (encoding) child.stderr.setEncoding(encoding);
    stderrChunks = collectOutput(child.stderr, 'stderr', options, onOverflow);
  }

  child.addListener('close', exithandler);
  child.addListener('error', (err) => {
    ex = err;
    if (child.stdout) child.stdout.destroy();
    if (child.stderr) child.stderr.destroy();
    exithandler();
  });
  return child;
}

// util.promisify(exec/execFile) resolves { stdout, stderr } and rejects with the
// error carrying both; the promise exposes the ChildProcess as `.child`.
function promisifyExec(original) {
  return (...args) => {
    let resolve;
    let reject;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.child = original(...args, (err, stdout, stderr) => {
      if (err !== null) {
        err.stdout = stdout;
        err.stderr = stderr;
        reject(err);
      } else {
        resolve({ stdout, stderr });
      }
    });
    return promise;
  };
}

for (const fn of [exec, execFile]) {
  Object.defineProperty(fn, promisify.custom, {
    enumerable: false,
    value: promisifyExec(fn),
  });
}

module.exports = {
  ChildProcess,
  exec,
  execFile,
  execFileSync,
  execSync,
  fork,
  spawn,
  spawnSync,
};
