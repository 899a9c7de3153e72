'use strict';
// Loads the cluster primary's own files (index.js) without Node's per-require path work.
// Node 20 and 22 normalize a path several times for every relative require() (the lookup,
// realpath, and two walks up to package.json: self-reference and the file's "type"). The
// primary's ~18 files took about 200 of them: enough to make node:path's normalizeString
// hot, and V8 then compiles it with TurboFan, which pages ~4 MB of the node binary's code
// into the primary (bench scenario 5, "cluster primary RSS"). Here a relative request is
// joined with string operations (Linux paths). Each file is compiled under its real
// filename, so stack traces are unchanged, and is put in require.cache under that name:
// `rust-cluster/child_process`, the supervisor and the rest get these same instances,
// whichever is required first. Any other request (a package, a builtin, JSON, the addon,
// a file that is not there) goes to the module's own require().
const fs = require('node:fs');
// Loaded by Node's own loader only (see index.js): `module` is an instance of its Module.
const Module = module.constructor;
const vm = require('node:vm');

const PARAMS = ['exports', 'require', 'module', '__filename', '__dirname'];
const COMPILE = { filename: '', importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER };
const lookupPaths = new Map(); // directory -> its node_modules lookup paths

// './x', '../y/z' from the directory `dir` -> the absolute filename of that .js file;
// null for anything else.
function relativeFile(dir, request) {
  if (!request.startsWith('./') && !request.startsWith('../')) return null;
  let base = dir;
  let rest = request;
  for (;;) {
    if (rest.startsWith('./')) {
      rest = rest.slice(2);
    } else if (rest.startsWith('../')) {
      base = base.slice(0, base.lastIndexOf('/'));
      rest = rest.slice(3);
    } else {
      break;
    }
  }
  if (rest.includes('./')) return null;
  if (rest.endsWith('.js')) return `${base}/${rest}`;
  return /\.\w+$/.test(rest) ? null : `${base}/${rest}.js`;
}

function compile(filename, source, parent) {
  const dir = filename.slice(0, filename.lastIndexOf('/'));
  const m = new Module(filename, parent);
  m.filename = filename;
  let paths = lookupPaths.get(dir);
  if (paths === undefined) lookupPaths.set(dir, paths = Module._nodeModulePaths(dir));
  m.paths = paths;
  const require = (request) => {
    const target = relativeFile(dir, request);
    return target === null ? m.require(request) : load(target, m, request);
  };
  Module._cache[filename] = m;
  try {
    const wrapper = vm.compileFunction(source, PARAMS, { ...COMPILE, filename });
    wrapper.call(m.exports, m.exports, require, m, filename, dir);
  } catch (err) {
    delete Module._cache[filename];
    throw err;
  }
  m.loaded = true;
  return m.exports;
}

// The exports of the file `filename`, required by `parent` as `request`.
function load(filename, parent, request = filename) {
  const cached = Module._cache[filename];
  // Not loaded: being loaded (a circular require), or an entry the ESM loader made for a
  // CommonJS file it will evaluate later. Node's require tells them apart.
  if (cached) return cached.loaded ? cached.exports : parent.require(filename);
  let source;
  try {
    source = fs.readFileSync(filename, 'utf8');
  } catch {
    return parent.require(request);
  }
  return compile(filename, source, parent);
}

module.exports = { load };
