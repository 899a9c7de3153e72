// ESM resolve hook for Node's hooks thread (module.register), used by lib/register.js
// where Node has no in-thread hooks (module.registerHooks).
import { createRequire } from 'node:module';

const { esmTarget } = createRequire(import.meta.url)('../register.js');

export async function resolve(specifier, context, nextResolve) {
  const url = esmTarget(specifier, context.parentURL);
  if (url !== undefined) return { url, format: 'module', shortCircuit: true };
  return nextResolve(specifier, context);
}
