// ESM resolve hook registered by lib/register.js (module.register, Node >= 20.6):
// `import ... from 'child_process' | 'node:child_process' | 'cluster' | 'node:cluster'`
// resolves to rust-cluster's ESM entry points, except for imports made by rust-cluster's
// own files.
let targets = null;
let root = null;

export function initialize(data) {
  root = data.root;
  targets = {
    __proto__: null,
    child_process: data.childProcess,
    'node:child_process': data.childProcess,
    cluster: data.cluster,
    'node:cluster': data.cluster,
  };
}

export async function resolve(specifier, context, nextResolve) {
  const url = targets && targets[specifier];
  if (url !== undefined && url !== null && !(context.parentURL && isOurs(context.parentURL))) {
    return { url, format: 'module', shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

function isOurs(parentURL) {
  return parentURL.startsWith(root + 'lib/') || parentURL === root + 'index.js';
}
