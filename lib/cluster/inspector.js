'use strict';
// A worker of a primary that runs under the inspector gets an inspector port of its own
// (`--inspect-port=`), as Node gives it: settings.inspectPort, or the primary's debug
// port plus one per worker forked.
const { ERR_SOCKET_BAD_PORT } = require('../internal/errors');

const kMinPort = 1024;
const kMaxPort = 65535;
const kInspectArg = /--inspect(?:-brk|-port)?|--debug-port/;

let debugPortOffset = 1;

function isUsingInspector(execArgv) {
  return execArgv.some((arg) => kInspectArg.test(arg)) ||
    kInspectArg.test(process.env.NODE_OPTIONS ?? '');
}

// Node's validatePort(port): an integer in [0, 65535], as a number or a numeric string.
function validatePort(port) {
  if ((typeof port !== 'number' && typeof port !== 'string') ||
      (typeof port === 'string' && port.trim().length === 0) ||
      +port !== (+port >>> 0) || port > 0xFFFF) {
    throw new ERR_SOCKET_BAD_PORT('Port', port, true);
  }
}

// `inspectPort`: a port, a function returning one, or null/undefined for the next port
// after the primary's (wrapping around into the unprivileged range).
function getInspectPort(inspectPort) {
  if (typeof inspectPort === 'function') {
    inspectPort = inspectPort();
  } else if (inspectPort == null) {
    inspectPort = process.debugPort + debugPortOffset;
    if (inspectPort > kMaxPort) inspectPort = inspectPort - kMaxPort + kMinPort - 1;
    debugPortOffset++;
  }
  validatePort(inspectPort);
  return inspectPort;
}

module.exports = { getInspectPort, isUsingInspector };
