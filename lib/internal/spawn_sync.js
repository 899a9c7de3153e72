'use strict';
// spawnSync, execSync and execFileSync over the native spawnSync, which runs the
// child to completion (with input, timeout and maxBuffer) in one call.
const { signals } = require('node:os').constants;
const binding = require('../binding');
const { errnoException, ERR_INVALID_ARG_TYPE } = require('./errors');
const {
  sanitizeKillSignal,
  signalName,
  validateMaxBuffer,
  validateTimeout,
} = require('./validators');
const {
  getValidStdio,
  normalizeExecArgs,
  normalizeExecFileArgs,
  nativeSpawnOptions,
  normalizeSpawnArguments,
} = require('./child_process');
const { NODE_MAJOR } = require('./node_major');

const OUTPUT_OR_UNDEFINED = NODE_MAJOR >= 22;

const MAX_BUFFER = 1024 * 1024;

// `input` for the child's stdin as a Buffer (views share the caller's memory).
function inputBuffer(input, encoding) {
  if (ArrayBuffer.isView(input)) {
    return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  }
  if (typeof input === 'string') return Buffer.from(input, encoding);
  throw new ERR_INVALID_ARG_TYPE('options.stdio[0]',
    ['Buffer', 'TypedArray', 'DataView', 'string'], input);
}

function spawnSync(file, args, options) {
  options = {
    __proto__: null,
    maxBuffer: MAX_BUFFER,
    ...normalizeSpawnArguments(file, args, options),
  };
  validateTimeout(options.timeout);
  validateMaxBuffer(options.maxBuffer);
  const killSignal = sanitizeKillSignal(options.killSignal) ?? signals.SIGTERM;
  const { stdio } = getValidStdio(options.stdio || 'pipe', true);
  const input = options.input ? inputBuffer(options.input, options.encoding) : undefined;

  const native = binding.spawnSync({
    ...nativeSpawnOptions(options, options.args, options.envPairs, stdio),
    // Only a pipe can carry input; Node ignores it for any other stdin.
    input: stdio[0]?.type === 'pipe' ? input : undefined,
    timeout: options.timeout > 0 ? options.timeout : undefined,
    killSignal,
    maxBuffer: Number.isFinite(options.maxBuffer) ? options.maxBuffer : undefined,
  });

  const result = {};
  if (native.errno) {
    result.error = errnoException(native.errno, `spawnSync ${options.file}`);
    result.error.path = options.file;
    result.error.spawnargs = options.args.slice(1);
  }
  result.status = native.status ?? null;
  result.signal = native.signal ? signalName(native.signal) : null;
  // No process, no output. Otherwise only streams the child writes to are collected.
  let output = null;
  if (native.pid) {
    const encoding = options.encoding && options.encoding !== 'buffer' ? options.encoding : null;
    output = stdio.map((entry, i) => {
      const buf = native.output?.[i];
      if (entry.type !== 'pipe' || !entry.writable || !buf) return null;
      return encoding ? buf.toString(encoding) : buf;
    });
  }
  result.output = output;
  result.pid = native.pid;
  // Node 22 made them undefined (`output?.[1]`) where there is no output (a failed spawn).
  result.stdout = OUTPUT_OR_UNDEFINED ? output?.[1] : output && output[1];
  result.stderr = OUTPUT_OR_UNDEFINED ? output?.[2] : output && output[2];
  return result;
}

// The error execSync/execFileSync throw: the spawn error, or "Command failed"
// for a non-zero status (including death by signal), carrying the whole result.
function checkExecSyncError(ret, command) {
  if (ret.error) return Object.assign(ret.error, ret);
  if (ret.status === 0) return undefined;
  let message = `Command failed: ${command}`;
  if (ret.stderr && ret.stderr.length > 0) message += `\n${ret.stderr.toString()}`;
  return Object.assign(new Error(message), ret);
}

function execFileSync(file, args, options) {
  ({ file, args, options } = normalizeExecFileArgs(file, args, options));
  // Without an explicit stdio the child's stderr still reaches ours, as in Node.
  const inheritStderr = !options.stdio;
  const ret = spawnSync(file, args, options);
  if (inheritStderr && ret.stderr) process.stderr.write(ret.stderr);
  const err = checkExecSyncError(ret, [options.argv0 || file, ...args].join(' '));
  if (err) throw err;
  return ret.stdout;
}

function execSync(command, options) {
  const opts = normalizeExecArgs(command, options, null);
  const inheritStderr = !opts.options.stdio;
  const ret = spawnSync(opts.file, opts.options);
  if (inheritStderr && ret.stderr) process.stderr.write(ret.stderr);
  const err = checkExecSyncError(ret, command);
  if (err) throw err;
  return ret.stdout;
}

module.exports = { execFileSync, execSync, spawnSync };
