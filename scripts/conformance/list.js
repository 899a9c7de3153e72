'use strict';
// conformance/expected-pass-<major>.txt: the tests that must pass with rust-cluster, one per line; plus
//   # not yet: <test>  -- <reason>        passes with the built-in modules, not yet with rust-cluster
//   # builtin fails: <test>  -- <reason>  fails even with the built-in modules here
//   # source-version: <debian version>    the nodejs source package the list was made against
// The list only grows (ratchet): `--ratchet` adds what passes and never removes an entry.

const fs = require('node:fs');

const HEADER = `# Node's own cluster/child_process tests that must pass with rust-cluster
# (npm run conformance -- --ci fails when one of them does not). One test per line.
#
# The list only ratchets up: add tests as they start passing (npm run conformance -- --ratchet
# adds every test that passed with rust-cluster in that run); never remove one to make CI green.
# Every test that passes with the built-in modules but is not listed carries a reason:
#   # not yet: <test>  -- <reason>
# and tests that fail even with the built-in modules on the reference machine:
#   # builtin fails: <test>  -- <reason>
# See conformance/README.md.
`;

function parseReasonLine(rest) {
  const m = /^(\S+)\s*(?:--\s*(.*))?$/.exec(rest.trim());
  return m ? { test: m[1], reason: (m[2] || '').trim() } : null;
}

function load(file) {
  const list = {
    file, exists: false, sourceVersion: null,
    pass: [], notYet: new Map(), builtinFails: new Map(), errors: [],
  };
  let text;
  try { text = fs.readFileSync(file, 'utf8'); } catch { return list; }
  list.exists = true;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const where = `${file}:${i + 1}`;
    let m;
    if ((m = /^#\s*source-version:\s*(\S+)/i.exec(line))) {
      list.sourceVersion = m[1];
    } else if ((m = /^#\s*(not yet|builtin fails):\s*(.*)$/i.exec(line))) {
      const entry = parseReasonLine(m[2]);
      if (!entry) return list.errors.push(`${where}: malformed line`);
      if (!entry.reason) list.errors.push(`${where}: ${entry.test} has no reason (\`-- reason\`)`);
      (m[1].toLowerCase() === 'not yet' ? list.notYet : list.builtinFails).set(entry.test, entry.reason);
    } else if (line.startsWith('#')) {
      // comment
    } else {
      list.pass.push({ test: line.replace(/\s+#.*$/, '').trim(), where });
    }
  });
  return list;
}

// Resolves names (`parallel/test-x.js` or bare `test-x.js`) against the test tree and checks
// the file is consistent. Mutates list: names become canonical.
function validate(list, tests) {
  const byName = new Map(tests.map((t) => [t.name, t]));
  const byBase = new Map();
  for (const t of tests) byBase.set(t.name.split('/').pop(), t);
  const canon = (name) => (byName.get(name) || byBase.get(name))?.name;
  const errors = [...list.errors];
  const warnings = [];
  const seen = new Map();
  for (const e of list.pass) {
    const name = canon(e.test);
    if (!name) errors.push(`${e.where}: ${e.test} is not one of the tests (typo, or not in this source version)`);
    else if (seen.has(name)) warnings.push(`${e.where}: ${name} listed twice`);
    else seen.set(name, e.where);
    e.test = name || e.test;
  }
  for (const key of ['notYet', 'builtinFails']) {
    const map = new Map();
    for (const [test, reason] of list[key]) {
      const name = canon(test);
      if (!name) warnings.push(`${list.file}: "${test}" (${key === 'notYet' ? 'not yet' : 'builtin fails'}) is not one of the tests`);
      map.set(name || test, reason);
      if (name && seen.has(name)) errors.push(`${name} is both listed and marked "${key === 'notYet' ? 'not yet' : 'builtin fails'}"`);
    }
    list[key] = map;
  }
  list.listed = new Set(seen.keys());
  return { errors, warnings };
}

function clip(text, max = 160) {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

// Adds what passed with rust-cluster to the list and gives every other test a reason line.
// Never removes a listed test. Returns a summary of the changes.
function ratchet(list, results, sourceVersion) {
  const added = [];
  const reasoned = [];
  for (const r of results) {
    const b = r.builtin;
    const rc = r.rust;
    if (rc && rc.status === 'pass' && !list.listed.has(r.test)) {
      list.listed.add(r.test);
      list.notYet.delete(r.test);
      list.builtinFails.delete(r.test);
      added.push(r.test);
      continue;
    }
    if (list.listed.has(r.test) || !b) continue;
    if (b.status === 'pass') {
      list.builtinFails.delete(r.test);
      if (!list.notYet.has(r.test)) {
        const why = !rc ? 'not run with rust-cluster yet'
          : rc.status === 'n/a' ? 'rust-cluster could not be loaded yet (baseline before it worked)'
            : `rust-cluster ${rc.status}: ${rc.reason || ''}`;
        list.notYet.set(r.test, clip(why));
        reasoned.push(r.test);
      }
    } else if (b.status !== 'skip' && !list.notYet.has(r.test) && !list.builtinFails.has(r.test)) {
      list.builtinFails.set(r.test, clip(`built-in ${b.status}: ${b.reason || ''}`));
      reasoned.push(r.test);
    }
  }
  if (sourceVersion) list.sourceVersion = sourceVersion;
  return { added, reasoned };
}

function render(list) {
  const oneLine = (s) => s.replace(/\s+/g, ' ').trim();
  const sorted = (it) => [...it].sort();
  let out = HEADER;
  if (list.sourceVersion) out += `# source-version: ${list.sourceVersion}\n`;
  out += '\n';
  out += list.listed.size ? sorted(list.listed).map((t) => `${t}\n`).join('') : '# (none yet)\n';
  if (list.notYet.size) {
    out += '\n# Passing with the built-in modules, not yet with rust-cluster:\n';
    out += sorted(list.notYet.keys()).map((t) => `# not yet: ${t}  -- ${oneLine(list.notYet.get(t))}\n`).join('');
  }
  if (list.builtinFails.size) {
    out += '\n# Failing with the built-in modules too (on the reference machine):\n';
    out += sorted(list.builtinFails.keys()).map((t) => `# builtin fails: ${t}  -- ${oneLine(list.builtinFails.get(t))}\n`).join('');
  }
  return out;
}

function save(list) {
  fs.writeFileSync(list.file, render(list));
}

module.exports = { load, validate, ratchet, render, save };
