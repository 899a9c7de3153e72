'use strict';
// The `version` lifecycle script: `npm version <new>` has just set package.json's version;
// this gives the same version to every platform package (npm/*/package.json) and to the
// main package's optionalDependencies on them (package.json and package-lock.json), so the
// packages move together. npm then commits and tags what is staged.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = process.cwd();
const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const writeJson = (file, value) => fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);

const pkgFile = path.join(root, 'package.json');
const pkg = readJson(pkgFile);
const { version } = pkg;
const changed = [pkgFile];

for (const platform of fs.readdirSync(path.join(root, 'npm'))) {
  const file = path.join(root, 'npm', platform, 'package.json');
  const sub = readJson(file);
  if (!(sub.name in (pkg.optionalDependencies || {}))) {
    throw new Error(`${sub.name} (npm/${platform}) is not in package.json's optionalDependencies`);
  }
  sub.version = version;
  writeJson(file, sub);
  changed.push(file);
}
for (const dep of Object.keys(pkg.optionalDependencies || {})) pkg.optionalDependencies[dep] = version;
writeJson(pkgFile, pkg);

const lockFile = path.join(root, 'package-lock.json');
if (fs.existsSync(lockFile)) {
  const lock = readJson(lockFile);
  lock.packages[''].optionalDependencies = { ...pkg.optionalDependencies };
  // Each platform package's own entry (kept while unpublished too, so `npm ci` accepts the lock).
  for (const dep of Object.keys(pkg.optionalDependencies)) {
    const entry = lock.packages[`node_modules/${dep}`];
    if (entry) entry.version = version;
  }
  writeJson(lockFile, lock);
  changed.push(lockFile);
}

// Stage the files for npm's version commit (only inside a git work tree, as npm does).
let inGit = false;
try {
  inGit = execFileSync('git', ['rev-parse', '--is-inside-work-tree'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] })
    .toString().trim() === 'true';
} catch {}
if (inGit) execFileSync('git', ['add', '--', ...changed], { cwd: root, stdio: 'inherit' });
console.log(`version ${version}: ${changed.map((f) => path.relative(root, f)).join(', ')}`);
