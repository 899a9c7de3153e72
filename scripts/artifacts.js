'use strict';
// Puts the release build of the addon into its platform package, ready for `npm pack` or
// `npm publish` of npm/<platform>/: build/rust-cluster.<platform>.node -> npm/<platform>/.
// (`napi artifacts` does this for CI artifact folders, but also drops a copy of each binary
// in the repository root; this copies only into the package.)
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const { name } = require(path.join(root, 'package.json')).napi;
const built = new Set(fs.existsSync(path.join(root, 'build')) ? fs.readdirSync(path.join(root, 'build')) : []);
let copied = 0;
for (const platform of fs.readdirSync(path.join(root, 'npm'))) {
  const file = `${name}.${platform}.node`;
  if (!built.has(file)) continue;
  const dest = path.join(root, 'npm', platform, file);
  // Copy then rename, so a concurrent pack never reads a half-written file.
  fs.copyFileSync(path.join(root, 'build', file), `${dest}.tmp`);
  fs.renameSync(`${dest}.tmp`, dest);
  console.log(`build/${file} -> npm/${platform}/${file}`);
  copied++;
}
if (copied === 0) {
  console.error(`no build/${name}.<platform>.node for any of npm/*: run \`npm run build\` first`);
  process.exit(1);
}
