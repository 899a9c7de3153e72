'use strict';
// `node -r rust-cluster/register app.js` (or `--require <path of this file>`):
// `cluster`, `node:cluster`, `child_process` and `node:child_process` resolve to
// rust-cluster for the whole process, for `require` (CommonJS, Module._load) and for
// `import` (ESM resolve hook, Node >= 20.6), and every Node child the process starts
// loads this file too (NODE_OPTIONS).
//
// Node's own internals keep the built-ins: they load built-ins through their internal
// loader, which never goes through Module._load or the ESM hooks. rust-cluster's own
// files keep them as well (requests from inside this package are left alone).

const Module = require('node:module');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const ROOT = path.resolve(__dirname, '..');
const CHILD_PROCESS = path.join(ROOT, 'lib', 'child_process.js');
const CLUSTER = path.join(ROOT, 'index.js');

const targets = {
  __proto__: null,
  child_process: CHILD_PROCESS,
  'node:child_process': CHILD_PROCESS,
  cluster: CLUSTER,
  'node:cluster': CLUSTER,
};

// Requests made by rust-cluster's own modules (lib/**, index.js) are not redirected.
function fromRustCluster(parent) {
  const file = parent && parent.filename;
  if (typeof file !== 'string') return false;
  return file === CLUSTER || file.startsWith(path.join(ROOT, 'lib') + path.sep);
}

const state = globalThis[Symbol.for('rust-cluster.register')];
if (!state) {
  globalThis[Symbol.for('rust-cluster.register')] = { root: ROOT };

  // CommonJS: require('child_process') and require('node:child_process') (the latter
  // never reaches Module._resolveFilename, so the hook is on Module._load).
  const load = Module._load;
  Module._load = function _load(request, parent, isMain) {
    if (typeof request === 'string' && targets[request] !== undefined && !fromRustCluster(parent)) {
      return load.call(this, targets[request], parent, isMain);
    }
    return load.apply(this, arguments);
  };

  // ESM: a resolve hook, run by Node on its hooks thread. Not registered from inside
  // that thread (it loads --require modules too; unlike a user's worker thread it has
  // no parentPort).
  const { isMainThread, parentPort } = require('node:worker_threads');
  const onHooksThread = !isMainThread && parentPort === null;
  if (typeof Module.register === 'function' && !onHooksThread) {
    Module.register(pathToFileURL(path.join(__dirname, 'esm', 'hooks.mjs')), {
      data: {
        root: pathToFileURL(ROOT + path.sep).href,
        childProcess: pathToFileURL(path.join(__dirname, 'esm', 'child_process.mjs')).href,
        cluster: pathToFileURL(path.join(__dirname, 'esm', 'cluster.mjs')).href,
      },
    });
  }

  // Every Node child: NODE_OPTIONS is read by each node process at startup.
  process.env.NODE_OPTIONS = addRequire(process.env.NODE_OPTIONS, __filename);
}

// Returns `options` with `--require <file>` appended, unless it is there already.
// NODE_OPTIONS is split on spaces; a value with spaces, quotes or backslashes is
// double-quoted, with `"` and `\` escaped by a backslash (Node's own rules).
function addRequire(options, file) {
  const quoted = /[\s"\\]/.test(file) ? `"${file.replace(/["\\]/g, '\\$&')}"` : file;
  const existing = options || '';
  for (const opt of parseNodeOptions(existing)) {
    if ((opt.flag === '--require' || opt.flag === '-r') && opt.value === file) return existing;
  }
  return existing ? `${existing} --require ${quoted}` : `--require ${quoted}`;
}

// Enough of Node's NODE_OPTIONS tokenizer to find `--require x` / `-r x` / `--require=x`.
function parseNodeOptions(text) {
  const tokens = [];
  let cur = null;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '\\' && i + 1 < text.length) {
      cur += text[++i];
    } else if (c === '"') {
      quoted = !quoted;
      cur ??= '';
    } else if (!quoted && /\s/.test(c)) {
      if (cur !== null) tokens.push(cur);
      cur = null;
    } else {
      cur = (cur ?? '') + c;
    }
  }
  if (cur !== null) tokens.push(cur);
  const opts = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    const eq = t.startsWith('--') ? t.indexOf('=') : -1;
    if (eq > 0) opts.push({ flag: t.slice(0, eq), value: t.slice(eq + 1) });
    else if (t === '--require' || t === '-r') opts.push({ flag: t, value: tokens[++i] });
    else opts.push({ flag: t });
  }
  return opts;
}

module.exports = { addRequire, parseNodeOptions };
