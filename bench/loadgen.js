'use strict';
// HTTP load generators: wrk when it is installed, otherwise autocannon (a devDependency).
// Both run as separate processes, so the runner's own event loop stays out of the way.
const cp = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

function which(cmd) {
  const r = cp.spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function detectWrk() {
  const bin = which('wrk');
  if (!bin) return null;
  const r = cp.spawnSync(bin, ['-v'], { encoding: 'utf8' });
  const m = /wrk\s+(\S+)/.exec(`${r.stdout}${r.stderr}`);
  return { name: 'wrk', version: m ? m[1] : 'unknown', bin };
}

function detectAutocannon() {
  try {
    const pkg = require.resolve('autocannon/package.json');
    const { version } = require(pkg);
    return { name: 'autocannon', version, bin: path.join(path.dirname(pkg), 'autocannon.js') };
  } catch {
    return null;
  }
}

// prefer: 'wrk' | 'autocannon' | undefined (wrk if installed).
function detect(prefer) {
  const wrk = prefer === 'autocannon' ? null : detectWrk();
  const gen = wrk || (prefer === 'wrk' ? null : detectAutocannon());
  if (!gen) {
    throw new Error(prefer === 'wrk'
      ? 'wrk is not installed (apt-get install -y wrk)'
      : 'no HTTP load generator: install wrk (apt-get install -y wrk) or run npm install (autocannon)');
  }
  const threads = gen.name === 'wrk' ? Math.max(1, Math.floor(os.availableParallelism() / 2)) : 1;
  return {
    ...gen,
    threads,
    label: gen.name === 'wrk'
      ? `wrk ${gen.version} (${threads} thread${threads > 1 ? 's' : ''})`
      : `autocannon ${gen.version} (${prefer === 'autocannon' ? '--loadgen autocannon' : 'wrk not installed'})`,
    // wrk takes whole seconds only.
    duration: (s) => (gen.name === 'wrk' ? Math.max(1, Math.round(s)) : s),
    run: (opts) => (gen.name === 'wrk' ? runWrk(gen, threads, opts) : runAutocannon(gen, opts)),
  };
}

function exec(file, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    cp.execFile(file, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n${stdout}\n${stderr}`;
        return reject(err);
      }
      resolve(stdout);
    });
  });
}

// -> { rps, requests, errors, seconds }
async function runWrk(gen, threads, { url, connections, seconds, close }) {
  const d = Math.max(1, Math.round(seconds));
  const args = ['-t', String(threads), '-c', String(connections), '-d', `${d}s`, '--timeout', '5s'];
  if (close) args.push('-H', 'Connection: close');
  args.push(url);
  return parseWrk(await exec(gen.bin, args, (d + 30) * 1000));
}

function parseWrk(out) {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)/.exec(out);
  if (!rps || !total) throw new Error(`cannot parse wrk output:\n${out}`);
  const unit = { us: 1e-6, ms: 1e-3, s: 1, m: 60 }[total[3]];
  let errors = 0;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  // With Connection: close, wrk counts the server's orderly close as a read "error" only
  // when it happens mid-response; connect/write/timeout errors are real ones.
  if (sock) errors += Number(sock[1]) + Number(sock[3]) + Number(sock[4]);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (non2xx) errors += Number(non2xx[1]);
  return { rps: Number(rps[1]), requests: Number(total[1]), seconds: Number(total[2]) * unit, errors };
}

async function runAutocannon(gen, { url, connections, seconds, close }) {
  const args = [gen.bin, '-c', String(connections), '-d', String(seconds), '-j', '--timeout', '5'];
  if (close) args.push('-H', 'Connection: close');
  args.push(url);
  const out = await exec(process.execPath, args, (seconds + 30) * 1000);
  const r = JSON.parse(out.slice(out.indexOf('{')));
  const requests = r['2xx'];
  return {
    rps: requests / r.duration,
    requests,
    seconds: r.duration,
    errors: r.errors + r.timeouts + r.non2xx,
  };
}

module.exports = { detect, parseWrk };
