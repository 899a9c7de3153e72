'use strict';
// 3. IPC between a parent (built-in child_process or rust-cluster's) and plain-Node
// children: pipelined echo throughput, ping-pong round trip, and fan-in from two
// children sending as fast as they can. Every measurement is a fresh parent process
// (bench/fixtures/ipc_parent.js).
const { runFixture } = require('../util');

const SERIALIZATIONS = ['json', 'advanced'];
const SIZES = [[32, '32 B'], [100 * 1024, '100 KB']];
const IMPLS = [['builtin', 'builtin'], ['ours', 'rust-cluster']];

module.exports = {
  name: 'ipc',
  title: '3. IPC with plain-Node children',
  cluster: false,
  plan(ctx) {
    const { ipcMs } = ctx.settings;
    const cases = [];
    const rows = [];
    const add = (id, args, rowsFor) => {
      for (const [prefix, impl] of IMPLS) {
        cases.push({
          key: `${prefix}-${id}`,
          impl,
          label: `${impl} ${id}`,
          run: () => runFixture('ipc_parent.js', [impl, ...args]),
        });
      }
      for (const r of rowsFor) rows.push({ ...r, builtin: [`builtin-${id}`, r.metric], ours: [`ours-${id}`, r.metric] });
    };
    for (const ser of SERIALIZATIONS) {
      for (const [bytes, size] of SIZES) {
        add(`echo-${ser}-${bytes}`, ['echo', ser, bytes, ipcMs], [
          { label: `echo, pipelined, ${size}, ${ser}: round trips/s`, unit: 'msg/s', better: 'higher', metric: 'msgsPerSec' },
        ]);
      }
    }
    for (const ser of SERIALIZATIONS) {
      add(`pingpong-${ser}`, ['pingpong', ser, 32, ipcMs], [
        { label: `ping-pong, 32 B, ${ser}: round trip p50`, unit: 'µs', better: 'lower', metric: 'p50Us' },
        { label: `ping-pong, 32 B, ${ser}: round trip p99`, unit: 'µs', better: 'lower', metric: 'p99Us' },
      ]);
    }
    for (const ser of SERIALIZATIONS) {
      add(`fanin-${ser}`, ['fanin', ser, 32, ipcMs], [
        { label: `fan-in from 2 children, 32 B, ${ser}: messages/s`, unit: 'msg/s', better: 'higher', metric: 'msgsPerSec' },
        { label: `fan-in from 2 children, 32 B, ${ser}: parent CPU per message`, unit: 'µs', better: 'lower', metric: 'cpuUsPerMsg' },
      ]);
    }
    return { cases, rows };
  },
};
