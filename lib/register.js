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

const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

// The CommonJS loader's Module class. `require('node:module')` returns the same class
// but first loads the public module's extras (ESM loader parts: ~0.3 ms a process on
// Node 20), so it is required only where those extras are used. Under another module
// system (Jest: `module` is a plain object, its constructor Object) the patches below
// would land on Object and Object.prototype: that system's node:module is used then.
const Module = typeof module.constructor._load === 'function'
  ? module.constructor
  : require('node:module');

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

// Built on the first `import` that asks (URLs cost time a process may never need).
let esmUrls = null;
function esmUrlsOnce() {
  if (esmUrls !== null) return esmUrls;
  const file = (name) => pathToFileURL(path.join(__dirname, 'esm', name)).href;
  const childProcess = file('child_process.mjs');
  const cluster = file('cluster.mjs');
  esmUrls = {
    root: pathToFileURL(ROOT + path.sep).href,
    targets: {
      __proto__: null,
      child_process: childProcess,
      'node:child_process': childProcess,
      cluster,
      'node:cluster': cluster,
    },
  };
  return esmUrls;
}

// The URL that `import specifier` from `parentURL` resolves to, or undefined (no
// change). Used in-thread (resolveSync) and on the hooks thread (esm/hooks.mjs).
function esmTarget(specifier, parentURL) {
  if (targets[specifier] === undefined) return undefined;
  const { root, targets: urls } = esmUrlsOnce();
  if (typeof parentURL === 'string' &&
      (parentURL.startsWith(root + 'lib/') || parentURL === root + 'index.js')) {
    return undefined;
  }
  return urls[specifier];
}

// Requests made by rust-cluster's own modules (lib/**, index.js) are not redirected.
function fromRustCluster(parent) {
  const file = parent && parent.filename;
  if (typeof file !== 'string') return false;
  return file === CLUSTER || file.startsWith(path.join(ROOT, 'lib') + path.sep);
}

// ESM: `import` of the four names resolves to lib/esm/*.mjs. Where Node has
// synchronous in-thread hooks (module.registerHooks) that costs nothing. Elsewhere
// the only way is module.register(), which starts Node's hooks thread: tens of
// milliseconds per process and thread, and a pipe into process.stdout that turns
// an EPIPE console.log into a crash. So it is registered only where ES modules can
// run: an ES module main (or flags that load ES modules), and just before a CommonJS
// module whose source has a dynamic import() is compiled.
function redirectImports() {
  if (hasSyncHooks()) {
    require('node:module').registerHooks({ resolve: resolveSync });
    return;
  }
  if (esmByFlags() || evalNeedsEsm()) {
    registerHooksThread();
    return;
  }
  const runMain = Module.runMain;
  Module.runMain = function runMainWithImports(main) {
    if (mainNeedsEsm(main === undefined ? process.argv[1] : main)) registerHooksThread();
    return runMain.apply(this, arguments);
  };
  const compile = Module.prototype._compile;
  Module.prototype._compile = function _compile(content, filename) {
    if (!hooksThread && typeof content === 'string' && DYNAMIC_IMPORT.test(content)) {
      registerHooksThread();
    }
    return compile.apply(this, arguments);
  };
}

// module.registerHooks: Node 22.15+ and 23.5+ (known by version: looking for it on
// require('node:module') would load that module in every process).
function hasSyncHooks() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 5) || (major === 22 && minor >= 15);
}

const DYNAMIC_IMPORT = /\bimport\s*\(/;
const STATIC_ESM = /(^|[\n;])\s*(import\s*[\w{*'"]|export\s)/;
let hooksThread = false;

function registerHooksThread() {
  if (hooksThread) return;
  hooksThread = true;
  // Node's hooks thread loads --require modules too (it has no parentPort, unlike a
  // user's worker thread): no hooks from inside it.
  const { isMainThread, parentPort } = require('node:worker_threads');
  if (!isMainThread && parentPort === null) return;
  // The hooks thread's output is piped into process.stdout and stderr, and a pipe
  // listens for 'error' on its destination. console then no longer swallows EPIPE
  // (it adds its no-op listener only where there is none) and a process whose
  // reader went away crashes. That listener goes: an error on them is handled as
  // without register.
  const { register } = require('node:module');
  if (typeof register !== 'function') return; // Node < 20.6: CommonJS only
  const streams = [process.stdout, process.stderr];
  const before = streams.map((s) => s.listeners('error'));
  register(pathToFileURL(path.join(__dirname, 'esm', 'hooks.mjs')));
  streams.forEach((s, i) => {
    for (const listener of s.listeners('error')) {
      if (!before[i].includes(listener)) s.removeListener('error', listener);
    }
  });
}

function resolveSync(specifier, context, nextResolve) {
  const conditions = context.conditions;
  if (conditions && conditions.includes('import')) {
    const url = esmTarget(specifier, context.parentURL);
    if (url !== undefined) return { url, format: 'module', shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

const ESM_FLAG = /--(import|loader|experimental-loader|experimental-detect-module|input-type|experimental-default-type)\b/;

// Flags with which Node loads ES modules before or instead of a CommonJS main.
function esmByFlags() {
  const raw = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS || ''}`;
  if (!ESM_FLAG.test(raw)) return false; // the common case, without tokenizing
  const flags = [...process.execArgv, ...parseNodeOptions(process.env.NODE_OPTIONS || '')
    .map((o) => (o.value === undefined ? o.flag : `${o.flag}=${o.value}`))];
  return flags.some((f) => /^--(import|loader|experimental-loader|experimental-detect-module)\b/.test(f) ||
    /^--(input-type|experimental-default-type)=module$/.test(f));
}

// `node -e` / `-p` code that imports (process._eval is its source).
function evalNeedsEsm() {
  return typeof process._eval === 'string' && DYNAMIC_IMPORT.test(process._eval);
}

// Whether Node runs `main` as an ES module (Node's rule: .mjs, or a .js/extension-
// less file in a "type": "module" package), or it could be one (ES syntax in a file
// without a type, which newer Nodes detect), or it loads one with import().
function mainNeedsEsm(main) {
  if (typeof main !== 'string') return false;
  let file;
  try {
    file = require.resolve(path.resolve(main));
  } catch {
    return true; // Node will report it; a hook costs nothing then
  }
  const ext = path.extname(file);
  if (ext === '.mjs' || ext === '.mts') return true;
  if (ext === '.cjs' || ext === '.cts' || ext === '.json' || ext === '.node') return false;
  const type = packageType(path.dirname(file));
  if (type === 'module') return true;
  let source;
  try {
    source = fs.readFileSync(file, 'utf8');
  } catch {
    return true;
  }
  return DYNAMIC_IMPORT.test(source) || (type === undefined && STATIC_ESM.test(source));
}

// The "type" of the nearest package.json above `dir`, or undefined.
function packageType(dir) {
  for (;;) {
    let text = null;
    try {
      text = fs.readFileSync(path.join(dir, 'package.json'), 'utf8');
    } catch {
      // none here
    }
    if (text !== null) {
      try {
        const type = JSON.parse(text).type;
        return typeof type === 'string' ? type : undefined;
      } catch {
        return undefined;
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
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

  redirectImports();

  // Every Node child: NODE_OPTIONS is read by each node process at startup.
  process.env.NODE_OPTIONS = addRequire(process.env.NODE_OPTIONS, __filename);
}

module.exports = { addRequire, parseNodeOptions, esmTarget };
