'use strict';
// Turns a bench run (see run.js: `results`) into a terminal table, JSON, an SVG chart of
// the ratios and a markdown table. No dependencies: the SVG is written by hand.
const fs = require('node:fs');
const path = require('node:path');

const RATIO_NOTE = 'ratio: rust-cluster vs built-in, oriented so that > 1.0x means rust-cluster is better ' +
  '(ours/built-in for throughputs and fairness, built-in/ours for times, CPU and memory)';

// ---- formatting -------------------------------------------------------------------

function fmtValue(v, unit) {
  if (v === null || v === undefined) return '-';
  if (!Number.isFinite(v)) return String(v);
  if (unit === 'index') return v.toFixed(3);
  if (Number.isInteger(v)) return `${v.toLocaleString('en-US')}${unit && unit !== 'responses' ? ` ${unit}` : ''}`;
  const abs = Math.abs(v);
  let s;
  if (abs >= 1000) s = Math.round(v).toLocaleString('en-US');
  else if (abs >= 100) s = v.toFixed(0);
  else if (abs >= 10) s = v.toFixed(1);
  else s = v.toFixed(2);
  return unit && unit !== 'responses' ? `${s} ${unit}` : s;
}

// A row's ratio as a number: JSON has no Infinity, so an infinite ratio (built-in 0,
// rust-cluster not) is stored as null with ratioText '∞'.
function ratioValue(row) {
  if (typeof row.ratio === 'number') return row.ratio;
  return row.ratioText === '∞' ? Infinity : null;
}

function fmtRatio(row) {
  const r = ratioValue(row);
  if (r === null) return row.ratioText || 'n/a';
  if (r === Infinity) return '∞';
  return `${r >= 100 ? r.toFixed(0) : r.toFixed(2)}x`;
}

function cell(side) {
  if (side.error) return 'error';
  if (side.skipped) return 'skipped';
  return fmtValue(side.median, side.unit);
}

// ---- terminal -----------------------------------------------------------------------

function terminal(results, { color = false } = {}) {
  const c = (code, s) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const out = [];
  out.push('');
  out.push(headerLines(results).join('\n'));
  out.push('');
  const head = ['measure', 'built-in', 'rust-cluster', 'ratio'];
  for (const sc of results.scenarios) {
    const body = sc.rows.map((r) => [r.label, cell(r.builtin), cell(r.ours), fmtRatio(r)]);
    const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => [...b[i]].length)));
    const pad = (s, i) => (i === 0 ? s.padEnd(widths[i]) : s.padStart(widths[i]));
    out.push(c('1', sc.title));
    out.push(`  ${head.map(pad).join('  ')}`);
    out.push(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`);
    sc.rows.forEach((r, k) => {
      let ratio = pad(body[k][3], 3);
      if (ratioValue(r) !== null) ratio = c(ratioValue(r) >= 1 ? '32' : '31', ratio);
      out.push(`  ${body[k].slice(0, 3).map(pad).join('  ')}  ${ratio}`);
      if (r.note) out.push(c('2', `      ${r.note}`));
    });
    for (const ref of sc.references) {
      out.push(c('2', `  reference: ${ref.label}: ${ref.error ? `error: ${ref.error}` : fmtValue(ref.median, ref.unit)}`));
    }
    for (const n of sc.notes) out.push(c('2', `  note: ${n}`));
    out.push('');
  }
  const errs = errorLines(results);
  if (errs.length) {
    out.push(c('33', 'errors:'));
    for (const e of errs) out.push(`  ${e}`);
    out.push('');
  }
  return out.join('\n');
}

function headerLines(r) {
  const m = r.meta;
  return [
    `rust-cluster bench${m.mode !== 'full' ? ` (${m.mode})` : ''}: ${m.date}, ${m.rounds} round${m.rounds > 1 ? 's' : ''} ` +
      '(built-in and rust-cluster alternate within each round), medians shown',
    `machine: ${m.machine.cpuModel}, ${m.machine.cores} cores, ${m.machine.memGB} GB, ${m.machine.kernel}; load average at start ${m.machine.loadavg.join(' ')}`,
    `node ${m.node}; rust-cluster ${m.version}${m.git ? ` (${m.git})` : ''}; cluster: ${m.cluster.note}`,
    `HTTP load: ${m.loadgen || 'not used'}${m.loadgen ? `, ${m.settings.connections} connections, ${m.settings.httpSeconds} s per measurement after ${m.settings.warmup} s warm-up, ${m.settings.workers} workers` : ''}` +
      (m.blockedClient ? `; scenario 2: ${m.blockedClient}` : ''),
    RATIO_NOTE,
  ];
}

function errorLines(results) {
  const out = [];
  for (const sc of results.scenarios) {
    for (const [key, e] of Object.entries(sc.errors)) out.push(`${sc.name}/${key}: ${e.split('\n')[0].slice(0, 300)}`);
  }
  return out;
}

// ---- markdown ---------------------------------------------------------------------------

function markdown(results) {
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  const out = [];
  const h = headerLines(results);
  out.push(`**${esc(h[0])}**`, '');
  for (const l of h.slice(1)) out.push(`- ${esc(l)}`);
  out.push('- notes: from the last round');
  out.push('');
  out.push('| scenario | measure | built-in | rust-cluster | ratio | notes |');
  out.push('| --- | --- | ---: | ---: | ---: | --- |');
  for (const sc of results.scenarios) {
    sc.rows.forEach((r, i) => {
      const ratio = ratioValue(r) !== null && ratioValue(r) >= 1 ? `**${fmtRatio(r)}**` : fmtRatio(r);
      out.push(`| ${i === 0 ? esc(sc.title) : ''} | ${esc(r.label)} | ${esc(cell(r.builtin))} | ${esc(cell(r.ours))} | ${ratio} | ${esc(r.note || '')} |`);
    });
  }
  const refs = results.scenarios.flatMap((sc) => sc.references.map((ref) => [sc, ref]));
  if (refs.length) {
    out.push('', '| physical reference (no Node) | value |', '| --- | ---: |');
    for (const [, ref] of refs) out.push(`| ${esc(ref.label)} | ${esc(ref.error ? 'error' : fmtValue(ref.median, ref.unit))} |`);
  }
  const notes = results.scenarios.flatMap((sc) => sc.notes);
  const errs = errorLines(results);
  if (notes.length || errs.length) {
    out.push('');
    for (const n of notes) out.push(`- note: ${esc(n)}`);
    for (const e of errs) out.push(`- error: ${esc(e)}`);
  }
  out.push('');
  return out.join('\n');
}

// ---- SVG --------------------------------------------------------------------------------

function xmlEsc(s) {
  return String(s).replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]);
}

// Horizontal bars on a log2 axis centred on 1.0x; green right of it (rust-cluster better),
// red left of it. Ratios past the axis are drawn to its end with their value printed.
function svg(results) {
  const LIMIT = 8; // axis from 1/8x to 8x
  const labelW = 470;
  const plotW = 440;
  const valueW = 70;
  const rowH = 18;
  const width = labelW + plotW + valueW + 20;
  const cx = labelW + plotW / 2;
  const xOf = (ratio) => cx + (Math.max(-1, Math.min(1, Math.log2(ratio) / Math.log2(LIMIT))) * plotW) / 2;
  const parts = [];
  let y = 20;
  const m = results.meta;
  const cut = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
  parts.push(`<text x="10" y="${y}" class="t">${xmlEsc(
    `rust-cluster vs built-in${m.mode !== 'full' ? ` (${m.mode} run)` : ''}: ratio of medians over ${m.rounds} round${m.rounds > 1 ? 's' : ''}; > 1.0x means rust-cluster is better`)}</text>`);
  for (const line of [
    `${m.machine.cpuModel}, ${m.machine.cores} cores, ${m.machine.kernel}; node ${m.node}; HTTP load: ${m.loadgen || 'not used'}`,
    `${m.date}; rust-cluster ${m.version}${m.git ? ` (${m.git})` : ''}; ${m.cluster.rustCluster ? 'cluster: rust-cluster' : `cluster: ${m.cluster.note}`}`,
  ]) {
    y += 15;
    parts.push(`<text x="10" y="${y}" class="s">${xmlEsc(cut(line, 170))}</text>`);
  }
  y += 28;
  const axisTop = y - 10;
  for (const t of [1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8]) {
    const x = xOf(t);
    parts.push(`<text x="${x.toFixed(1)}" y="${y - 14}" class="a" text-anchor="middle">${t >= 1 ? `${t}x` : `1/${1 / t}x`}</text>`);
  }
  const gridAt = [];
  for (const sc of results.scenarios) {
    y += 6;
    parts.push(`<text x="10" y="${y + 12}" class="h">${xmlEsc(sc.title)}</text>`);
    y += rowH;
    for (const r of sc.rows) {
      parts.push(`<text x="${labelW - 8}" y="${y + 13}" class="l" text-anchor="end">${xmlEsc(r.label.length > 78 ? `${r.label.slice(0, 77)}…` : r.label)}</text>`);
      const ratio = ratioValue(r);
      if (ratio !== null && ratio > 0) {
        const x = xOf(ratio);
        const x0 = Math.min(cx, x);
        const w = Math.max(1, Math.abs(x - cx));
        parts.push(`<rect x="${x0.toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" class="${ratio >= 1 ? 'g' : 'r'}"/>`);
      }
      parts.push(`<text x="${labelW + plotW + 8}" y="${y + 13}" class="v">${xmlEsc(fmtRatio(r))}</text>`);
      y += rowH;
    }
  }
  const axisBottom = y + 4;
  for (const t of [1 / 8, 1 / 4, 1 / 2, 2, 4, 8]) gridAt.push(`<line x1="${xOf(t).toFixed(1)}" y1="${axisTop}" x2="${xOf(t).toFixed(1)}" y2="${axisBottom}" class="gr"/>`);
  gridAt.push(`<line x1="${cx}" y1="${axisTop}" x2="${cx}" y2="${axisBottom}" class="one"/>`);
  y += 24;
  parts.push(`<text x="10" y="${y}" class="s">Bars: log scale, 1/8x to 8x (longer values are printed). Green: rust-cluster better; red: built-in better.</text>`);
  const height = y + 12;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    '<style>.t{font-size:14px;font-weight:bold}.s{font-size:11px;fill:#444}.a{font-size:11px;fill:#444}',
    '.h{font-size:13px;font-weight:bold}.l{font-size:11.5px}.v{font-size:11.5px;font-family:monospace}',
    '.g{fill:#2e9d4c}.r{fill:#d0453c}.gr{stroke:#ddd;stroke-width:1}.one{stroke:#333;stroke-width:1.2}</style>',
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...gridAt,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

// ---- files --------------------------------------------------------------------------------

// Writes <stamp>.json plus <base>.json/.svg/.md into dir (base: latest, or quick for --quick).
function write(results, dir, base) {
  fs.mkdirSync(dir, { recursive: true });
  const stamp = results.meta.date.replace(/[:.]/g, '-');
  const json = `${JSON.stringify(results, null, 2)}\n`;
  const files = {
    stamped: path.join(dir, `${stamp}${base === 'latest' ? '' : `-${base}`}.json`),
    json: path.join(dir, `${base}.json`),
    svg: path.join(dir, `${base}.svg`),
    md: path.join(dir, `${base}.md`),
  };
  const put = (file, text) => {
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
  };
  put(files.stamped, json);
  put(files.json, json);
  put(files.svg, svg(results));
  put(files.md, markdown(results));
  return files;
}

module.exports = { terminal, markdown, svg, write, fmtValue, RATIO_NOTE };
