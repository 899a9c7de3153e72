'use strict';
// The one place that loads the native addon. It takes the first of:
//   1. a local build, build/rust-cluster.<platform>.node (`npm install` or `npm run build`
//      in a checkout of the repository: the source build);
//   2. the platform package rust-cluster-<platform>, an optional dependency holding the
//      prebuilt addon (what `npm install rust-cluster` gives a user);
// and otherwise throws an error that names the platform, each place looked at and why it
// did not load, and how to build from source. Its exports are declared in binding.d.ts, which
// the build generates from the Rust exports (build/binding.d.ts; __test__/types.test.js fails
// while the checked-in copy differs).
const fs = require('node:fs');
const path = require('node:path');

const NAME = 'rust-cluster';
const ROOT = path.join(__dirname, '..');

// glibc or musl, as the C library's own ldd script says; the process report as a fallback
// (slower: it collects a whole report) where /usr/bin/ldd is missing.
function isMusl() {
  try {
    return fs.readFileSync('/usr/bin/ldd', 'latin1').includes('musl');
  } catch {
    const { header } = process.report.getReport();
    return !header.glibcVersionRuntime;
  }
}

// napi-rs's name for this platform: linux-x64-gnu, linux-arm64-musl, darwin-arm64, ...
function platformName() {
  const { platform, arch } = process;
  if (platform === 'linux') {
    const libc = isMusl() ? 'musl' : 'gnu';
    return `${platform}-${arch}-${arch === 'arm' ? `${libc}eabihf` : libc}`;
  }
  if (platform === 'win32') return `${platform}-${arch}-msvc`;
  return `${platform}-${arch}`;
}

function load() {
  const platform = platformName();
  const candidates = [
    { what: 'local build', request: path.join(ROOT, 'build', `${NAME}.${platform}.node`) },
    { what: 'platform package', request: `${NAME}-${platform}` },
  ];
  const failures = [];
  for (const { what, request } of candidates) {
    try {
      return require(request);
    } catch (err) {
      const missing = err.code === 'MODULE_NOT_FOUND' && err.message.includes(request);
      failures.push({ what, request, err, reason: missing ? 'not found' : err.message });
    }
  }
  const prebuilt = Object.keys(require('../package.json').optionalDependencies || {})
    .map((pkg) => pkg.slice(NAME.length + 1));
  const err = new Error([
    `${NAME}: no native addon for this platform (${platform}). Looked for:`,
    ...failures.map((f) => `  - ${f.what} ${f.request}: ${f.reason}`),
    `Prebuilt addons are published for: ${prebuilt.join(', ')}. If yours is among them, ` +
      'reinstall without --omit=optional / --no-optional so npm installs the platform package.',
    'Otherwise build from source (needs Linux, a Rust toolchain from rustup and a C linker): ' +
      'in a checkout of the rust-cluster repository run `npm install` (it runs `npm run build`), ' +
      'then `npm install <path of the checkout>` in your project.',
  ].join('\n'));
  err.code = 'ERR_RUST_CLUSTER_NO_ADDON';
  err.platform = platform;
  // A candidate that exists but fails to load (wrong libc, too old a glibc) is the cause.
  const broken = failures.find((f) => f.reason !== 'not found');
  if (broken) err.cause = broken.err;
  throw err;
}

module.exports = load();
