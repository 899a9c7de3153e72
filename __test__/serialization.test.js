'use strict';
// The advanced mode's own writer (lib/internal/ipc/serialization.js) against V8's
// serializer: the same bytes for the messages it writes, and the native path, with
// its semantics, for everything else.
const test = require('node:test');
const assert = require('node:assert');
const v8 = require('node:v8');
const { json, advanced } = require('../lib/internal/ipc/serialization');

// What V8's own serializer writes for `value`, framed as on the wire.
function native(value) {
  const ser = new v8.Serializer();
  ser.writeHeader();
  ser.writeValue(value);
  const payload = ser.releaseBuffer();
  const frame = Buffer.alloc(4 + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  payload.copy(frame, 4);
  return frame;
}

const isFast = (frame) => advanced.keep(frame) !== frame;

const common = [
  { d: 'x'.repeat(32) },
  { cmd: 'NODE_CLUSTER', act: 'online', seq: 7, ok: true, none: null, gone: undefined },
  [1, -1, 0, 2147483647, -2147483648, 300],
  { n: 2147483648, half: 0.5, negativeZero: -0, nan: NaN, inf: -Infinity },
  { nested: { deep: [1, 2, { three: [true, false, null] }] }, empty: {}, list: [] },
  'x'.repeat(200),
  `${'a'.repeat(63)}€`,
  '€ and \u{1F600}'.repeat(50),
  { [`k${'y'.repeat(70)}`]: 'v', 10: 'ten', 2: 'two' },
  Object.assign(Object.create(null), { a: 1 }),
  { big: 'x'.repeat(100 * 1024) },
];

test('common messages: the fast writer writes the bytes V8 writes', () => {
  for (const message of common) {
    const frame = advanced.encode(message);
    assert.ok(isFast(frame), `fast path for ${JSON.stringify(message)?.slice(0, 60)}`);
    const expected = native(message);
    // Null-prototype objects read back as plain objects on both paths.
    assert.deepStrictEqual(advanced.decode(Buffer.from(frame)), advanced.decode(expected));
    if (Object.getPrototypeOf(message) !== null) {
      assert.ok(frame.equals(expected), `bytes for ${JSON.stringify(message)?.slice(0, 60)}`);
    }
  }
});

test('Latin-1 strings go as two-byte strings, and read back the same', () => {
  const message = { s: 'café', t: 'é'.repeat(100) };
  const frame = advanced.encode(message);
  assert.ok(isFast(frame));
  assert.deepStrictEqual(v8.deserialize(frame.subarray(4)), message);
});

test('everything else takes the native serializer, with its semantics', () => {
  const shared = { n: 1 };
  const cyclic = { name: 'c' };
  cyclic.self = cyclic;
  const holey = [1, , 3]; // eslint-disable-line no-sparse-arrays
  const extra = Object.assign([1, 2], { tag: 'x' });
  class Point { constructor() { this.x = 1; } }
  const others = [
    { when: new Date(5) },
    { map: new Map([[1, 2]]), set: new Set(['a']) },
    { bytes: Buffer.from('abc'), floats: new Float64Array([1.5]) },
    { n: 12345678901234567890n },
    { a: shared, b: shared },
    cyclic,
    holey,
    extra,
    new Point(),
    Array.from({ length: 300 }, (_, i) => i),
  ];
  let deep = { leaf: true };
  for (let i = 0; i < 40; i++) deep = { deep };
  others.push(deep);
  for (const message of others) {
    const frame = advanced.encode(message);
    assert.ok(!isFast(frame), 'native path');
  }
  const [pair] = advanced.decode(advanced.encode({ a: shared, b: shared }));
  assert.strictEqual(pair.a, pair.b, 'one object twice stays one object');
  const [again] = advanced.decode(advanced.encode(cyclic));
  assert.strictEqual(again.self, again);
  const [sparse] = advanced.decode(advanced.encode(holey));
  assert.ok(!(1 in sparse), 'the hole survives');
  assert.deepStrictEqual(advanced.decode(advanced.encode(new Point())), [{ x: 1 }]);
});

test('what V8 refuses is refused the same way', () => {
  const fromNative = (value) => {
    try {
      native(value);
    } catch (err) {
      return err;
    }
    assert.fail('V8 serialized it');
  };
  const args = (function () { return arguments; })(1, 2); // eslint-disable-line prefer-rest-params
  for (const value of [{ f() {} }, { s: Symbol('s') }, new Proxy({}, {}), { p: new Proxy([], {}) },
    { args }]) {
    const expected = fromNative(value);
    assert.throws(() => advanced.encode(value), (err) => err.name === expected.name &&
      err.message === expected.message);
  }
});

test('a proxy\'s traps are not run by the fast writer', () => {
  let trapped = 0;
  const proxy = new Proxy({}, { getPrototypeOf() { trapped++; return Object.prototype; } });
  assert.throws(() => advanced.encode({ proxy }));
  assert.strictEqual(trapped, 0);
});

test('a getter that throws reaches the sender, as from V8', () => {
  const message = { get boom() { throw new Error('from the getter'); } };
  assert.throws(() => advanced.encode(message), /from the getter/);
});

test('keep() holds a fast frame past the next encode', () => {
  const first = advanced.encode({ n: 1 });
  const kept = advanced.keep(first);
  advanced.encode({ n: 2 });
  assert.deepStrictEqual(advanced.decode(kept), [{ n: 1 }]);
  const big = advanced.encode({ d: new Date(0) });
  assert.strictEqual(advanced.keep(big), big, 'a native frame is its own');
});

// The addon hands json lines over as one array text (src/napi_events.rs): `[a\n,b\n]`,
// and a lone line as it is.
const arrayText = (lines) => (lines.length === 1 ? `${lines[0]}\n` :
  `[${lines.map((l) => `${l}\n`).join(',')}]`);

test('json: a data event\'s lines decode in one parse, malformed ones as errors in place', () => {
  assert.deepStrictEqual(json.decode(arrayText(['{"a":1}', '"x,y"', '[2]']), 3), [{ a: 1 }, 'x,y', [2]]);
  const mixed = json.decode(arrayText(['1', '{broken', ',2', '']), 4);
  assert.strictEqual(mixed[0], 1);
  assert.match(mixed[1].error.message, /cannot be parsed.*"\{broken"/);
  assert.match(mixed[2].error.message, /cannot be parsed.*",2"/);
  assert.match(mixed[3].error.message, /cannot be parsed/);
  // Two broken lines that would parse as one value together are still two errors.
  const merged = json.decode(arrayText(['[1', '2]']), 2);
  assert.strictEqual(merged.length, 2);
  assert.ok(merged.every((v) => v.error && v.error.code === 'ERR_IPC_INVALID_MESSAGE'));
  assert.deepStrictEqual(json.decode(arrayText(['{"lone":true}']), 1), [{ lone: true }]);
  assert.deepStrictEqual(json.decode('', 0), []);
  const [lone] = json.decode(arrayText(['{lone']), 1);
  assert.match(lone.error.message, /cannot be parsed.*"\{lone"/);
});

test('a getter that sends while its message is written: both messages arrive whole', () => {
  let inner;
  const outer = { name: 'outer', get lazy() { inner = advanced.encode({ name: 'inner' }); return 1; } };
  const frame = Buffer.from(advanced.encode(outer));
  assert.deepStrictEqual(advanced.decode(frame), [{ name: 'outer', lazy: 1 }]);
  assert.deepStrictEqual(advanced.decode(Buffer.from(inner)), [{ name: 'inner' }]);
});

test('a getter that deletes a later key: left out, as V8 does', () => {
  const message = { a: 1, get g() { delete this.b; return 2; }, b: 3 };
  assert.deepStrictEqual(advanced.decode(advanced.encode(message)), [{ a: 1, g: 2 }]);
});

test('json: a toJSON() that returns undefined goes as the line `undefined`, as in Node', () => {
  assert.strictEqual(json.encode({ toJSON() {} }), 'undefined');
});
