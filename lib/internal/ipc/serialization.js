'use strict';
// The two wire formats of Node's IPC channel. Each mode encodes one message to a
// chunk, joins a tick's chunks into what the native writer takes (json: one
// string, which the addon encodes as UTF-8 straight into its write; advanced: one
// Buffer), and decodes a native `data` event's frames (complete ones only: the
// reactor keeps partial ones; json: one JSON array text, advanced: a Buffer) into
// an array of values. A frame that cannot be decoded becomes
// an InvalidMessage in its place, so the channel reports it and carries on with
// the frames around it.
const v8 = require('node:v8');
const { hasOwn: ObjectHasOwn } = Object;
const {
  isArrayBufferView, isArgumentsObject, isModuleNamespaceObject, isProxy,
} = require('node:util/types');
const binding = require('../../binding');
const { ERR_IPC_INVALID_MESSAGE } = require('../errors');

class InvalidMessage {
  // `excerpt`: a printable start of what arrived, to help find the sender at fault.
  constructor(problem, excerpt) {
    this.error = new ERR_IPC_INVALID_MESSAGE(
      `Received an IPC message that cannot be parsed (${problem}): ${excerpt}`);
  }
}

// json: one JSON text per line. JSON.stringify never emits a raw newline, so
// every '\n' in the data ends a message. The addon writes the last line's
// newline itself (channelWrite), so a lone message goes out as JSON.stringify's
// own flat string.
const json = {
  encode(message) {
    // A toJSON() that returns undefined: Node writes the line `undefined`, and so do we.
    const text = JSON.stringify(message);
    return text === undefined ? 'undefined' : text;
  },

  keep(chunk) {
    return chunk;
  },

  // `chunks` are the encoded strings of one tick.
  join(chunks) {
    return chunks.length === 1 ? chunks[0] : chunks.join('\n');
  },

  // `text`: a data event's `count` lines: a lone line as it is (`line\n`), more
  // as one JSON array, `[line\n,line\n]` (src/napi_events.rs), parsed in one
  // call. The count check catches a broken line merging with its neighbour; only
  // two broken lines that make up for each other could pass (no Node sender
  // writes broken lines: this guards against foreign writers on the socket).
  decode(text, count) {
    if (count === 0) return []; // descriptors alone
    if (count === 1) {
      try {
        return [JSON.parse(text)]; // the trailing '\n' is JSON whitespace
      } catch (err) {
        return [invalidLine(text.slice(0, -1), err)];
      }
    }
    try {
      const values = JSON.parse(text);
      if (values.length === count) return values;
    } catch {
      // some line is malformed: find it below
    }
    return parseLines(text);
  },
};

function parseLines(text) {
  const lines = text.slice(1, -1).split('\n,');
  const values = [];
  for (let i = 0; i < lines.length; i++) {
    const line = i === lines.length - 1 ? lines[i].slice(0, -1) : lines[i];
    try {
      values.push(JSON.parse(line));
    } catch (err) {
      values.push(invalidLine(line, err));
    }
  }
  return values;
}

function invalidLine(line, err) {
  const excerpt = JSON.stringify(line.length > 64 ? `${line.slice(0, 64)}...` : line);
  return new InvalidMessage(err.message, excerpt);
}

// advanced: [u32 BE payload length][V8 serializer header + value]. Host objects
// (objects made by native code) carry a u32 tag: 0 for an ArrayBufferView,
// written by the default host-object path; 1 for anything else, sent as a
// plain-object copy the way JSON would.
const kArrayBufferView = 0;
const kPlainCopy = 1;

class Serializer extends v8.DefaultSerializer {
  _writeHostObject(object) {
    if (isArrayBufferView(object)) {
      this.writeUint32(kArrayBufferView);
      super._writeHostObject(object);
    } else {
      this.writeUint32(kPlainCopy);
      this.writeValue({ ...object });
    }
  }
}

class Deserializer extends v8.DefaultDeserializer {
  _readHostObject() {
    const tag = this.readUint32();
    if (tag === kArrayBufferView) return super._readHostObject();
    if (tag === kPlainCopy) return this.readValue();
    throw new Error(`unknown host object tag ${tag}`);
  }
}

// A reader for the common part of V8's serialization format (kVersion, Node
// 20's): primitives, strings, plain objects, arrays, Date, Map, Set and our host
// objects. A native Deserializer per message costs microseconds; this costs a
// fraction. Anything else (back-references, BigInt, RegExp, Error, ArrayBuffer,
// other versions, malformed input) throws `kUnsupported` and the frame is read
// by the native Deserializer instead, which also reports real errors.
const kUnsupported = new Error('not handled by the fast reader');
const { V8_FORMAT_VERSION: kVersion } = binding;
const viewTypes = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array,
  Int32Array, Uint32Array, Float32Array, Float64Array, DataView, Buffer, BigInt64Array,
  BigUint64Array];
let src; // the data Buffer
let pos;
let end; // of the current frame

function varint() {
  let byte = src[pos++];
  if (byte < 0x80) return byte;
  let result = byte & 0x7f;
  let scale = 0x80;
  do {
    byte = src[pos++];
    result += (byte & 0x7f) * scale;
    scale *= 0x80;
  } while (byte >= 0x80);
  return result;
}

// Position after `length` more bytes, which must lie within the frame.
function take(length) {
  const start = pos;
  pos += length;
  if (pos > end) throw kUnsupported;
  return start;
}

function nextTag() {
  let tag = src[pos];
  while (tag === 0) tag = src[++pos]; // padding before aligned data
  return tag;
}

function readValue() {
  const tag = nextTag();
  pos++;
  switch (tag) {
    case 0x5f: return undefined; // _
    case 0x30: return null; // 0
    case 0x54: return true; // T
    case 0x46: return false; // F
    case 0x49: { // I: zigzag int32
      const zigzag = varint();
      return zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2;
    }
    case 0x55: return varint(); // U
    case 0x4e: return src.readDoubleLE(take(8)); // N
    case 0x22: { // ": Latin-1
      const length = varint();
      const start = take(length);
      return src.latin1Slice(start, pos);
    }
    case 0x63: { // c: UTF-16LE
      const length = varint();
      if (length % 2 !== 0) throw kUnsupported;
      const start = take(length);
      return src.ucs2Slice(start, pos);
    }
    case 0x53: { // S: UTF-8
      const length = varint();
      const start = take(length);
      return src.utf8Slice(start, pos);
    }
    case 0x6f: { // o ... {
      const object = {};
      readProperties(object, 0x7b);
      varint();
      return object;
    }
    case 0x41: { // A: dense array ... $
      const length = varint();
      if (length > end - pos) throw kUnsupported;
      const array = []; // appended to, so it stays packed unless it has holes
      for (let i = 0; i < length; i++) {
        if (nextTag() === 0x2d) { // -: a hole
          pos++;
          array.length = i + 1;
        } else {
          array[i] = readValue();
        }
      }
      readProperties(array, 0x24);
      varint();
      varint();
      return array;
    }
    case 0x61: { // a: sparse array ... @
      const array = new Array(varint());
      readProperties(array, 0x40);
      varint();
      varint();
      return array;
    }
    case 0x44: return new Date(src.readDoubleLE(take(8))); // D
    case 0x3b: { // ; Map ... :
      const map = new Map();
      while (nextTag() !== 0x3a) map.set(readValue(), readValue());
      pos++;
      varint();
      return map;
    }
    case 0x27: { // ' Set ... ,
      const set = new Set();
      while (nextTag() !== 0x2c) set.add(readValue());
      pos++;
      varint();
      return set;
    }
    case 0x5c: return readHostObject(); // backslash
    default: throw kUnsupported;
  }
}

function readProperties(object, endTag) {
  while (nextTag() !== endTag) {
    const key = readValue();
    if (typeof key !== 'string' && typeof key !== 'number') throw kUnsupported;
    const value = readValue();
    if (key === '__proto__') {
      Object.defineProperty(object, key,
        { value, writable: true, enumerable: true, configurable: true });
    } else {
      object[key] = value;
    }
  }
  pos++;
}

function readHostObject() {
  const tag = varint();
  if (tag === kPlainCopy) return readValue();
  if (tag !== kArrayBufferView) throw kUnsupported;
  const Type = viewTypes[varint()];
  if (Type === undefined) throw kUnsupported;
  const byteLength = varint();
  const start = take(byteLength);
  const perElement = Type.BYTES_PER_ELEMENT || 1;
  let offset = src.byteOffset + start;
  let buffer = src.buffer;
  // Like Node: a view on the received bytes where aligned, else on a copy.
  if (offset % perElement !== 0) {
    const copy = Buffer.from(src.subarray(start, pos));
    offset = copy.byteOffset;
    buffer = copy.buffer;
  }
  if (Type === Buffer) return Buffer.from(buffer, offset, byteLength);
  return new Type(buffer, offset, byteLength / perElement);
}

// The value of the frame payload at [start, stop) of `buf`.
function readFrame(buf, start, stop) {
  src = buf;
  pos = start;
  end = stop;
  try {
    if (src[pos++] === 0xff && varint() === kVersion) {
      const value = readValue();
      if (pos === end) return value;
    }
  } catch {
    // not for the fast reader
  } finally {
    src = undefined; // do not keep the batch alive
  }
  const des = new Deserializer(buf.subarray(start, stop));
  des.readHeader();
  return des.readValue();
}

// A writer for the same common part: primitives, strings, and plain objects and
// dense arrays of them, in the bytes V8's serializer writes for them, into one
// reused buffer. A native Serializer costs a microsecond or two per message;
// this, a fraction. Anything else (another kind of object, a proxy, an object met
// twice, which V8 writes as a back-reference, a deep or large value) throws
// `kUnsupported` and the whole message goes through the native Serializer
// instead. An own getter met before such a value has then run twice, and the
// type of an object comes from its prototype: a built-in object (a Map, a Date)
// given Object.prototype as its prototype goes as a plain object.
const kMaxDepth = 32;
const kMaxObjects = 64; // identity is checked by a linear scan
const kMaxArray = 256; // each array's extra properties are looked for with Object.keys
const kMaxFastBytes = 1 << 20;
const kShortString = 64; // its length takes one varint byte
let out = Buffer.allocUnsafeSlow(16 * 1024);
let at;
const seen = [];
let busy = false; // a getter that sends a message while one is being written

function room(bytes) {
  if (at + bytes <= out.length) return;
  if (at + bytes > kMaxFastBytes) throw kUnsupported;
  const bigger = Buffer.allocUnsafeSlow(Math.min(kMaxFastBytes, Math.max(2 * out.length, at + bytes)));
  out.copy(bigger, 0, 0, at);
  out = bigger;
}

function putVarint(n) {
  while (n >= 0x80) {
    out[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[at++] = n;
}

function writeString(value) {
  const length = value.length;
  if (length <= kShortString) {
    // Copied here: cheaper than a native call for the short keys and values of most messages.
    room(2 + length);
    const start = at;
    out[at++] = 0x22;
    out[at++] = length;
    let i = 0;
    for (; i < length; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) break;
      out[at++] = c;
    }
    if (i === length) return;
    at = start;
  } else if (Buffer.byteLength(value) === length) { // ASCII: V8's one-byte form
    room(6 + length);
    out[at++] = 0x22;
    putVarint(length);
    at += out.latin1Write(value, at);
    return;
  }
  room(7 + 2 * length);
  // V8 aligns two-byte data; readers skip the padding tag either way.
  if ((at + 1 + varintBytes(2 * length)) % 2 !== 0) out[at++] = 0x00;
  out[at++] = 0x63;
  putVarint(2 * length);
  at += out.ucs2Write(value, at);
}

function varintBytes(n) {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    bytes++;
  }
  return bytes;
}

function writeNumber(value) {
  room(10);
  if ((value | 0) === value && !Object.is(value, -0)) {
    out[at++] = 0x49;
    putVarint(value >= 0 ? value * 2 : -value * 2 - 1);
  } else {
    out[at++] = 0x4e;
    at = out.writeDoubleLE(value, at);
  }
}

function writeValue(value, depth) {
  switch (typeof value) {
    case 'string': return writeString(value);
    case 'number': return writeNumber(value);
    case 'boolean':
      room(1);
      out[at++] = value ? 0x54 : 0x46;
      return;
    case 'undefined':
      room(1);
      out[at++] = 0x5f;
      return;
    case 'object':
      if (value === null) {
        room(1);
        out[at++] = 0x30;
        return;
      }
      if (depth === kMaxDepth || seen.length === kMaxObjects || seen.includes(value) ||
          isProxy(value)) {
        throw kUnsupported;
      }
      seen.push(value);
      return writeObject(value, depth + 1);
    default: throw kUnsupported; // bigint, symbol, function
  }
}

function writeObject(value, depth) {
  const proto = Object.getPrototypeOf(value);
  const isArray = Array.isArray(value);
  if (proto === Array.prototype && isArray) {
    const length = value.length;
    if (length > kMaxArray || Object.keys(value).length !== length) throw kUnsupported;
    room(6);
    out[at++] = 0x41;
    putVarint(length);
    for (let i = 0; i < length; i++) {
      if (!ObjectHasOwn(value, i)) throw kUnsupported; // a hole: V8 writes the sparse form
      writeValue(value[i], depth);
    }
    room(12);
    out[at++] = 0x24;
    putVarint(0);
    putVarint(length);
    return;
  }
  if ((proto !== Object.prototype && proto !== null) || isArray || ArrayBuffer.isView(value) ||
      isArgumentsObject(value) || isModuleNamespaceObject(value)) {
    throw kUnsupported;
  }
  const keys = Object.keys(value);
  room(1);
  out[at++] = 0x6f;
  let written = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const property = value[key];
    // A getter may have deleted it: V8 leaves it out then.
    if (property === undefined && !ObjectHasOwn(value, key)) continue;
    // Index keys go as numbers, as V8 writes them.
    const code = key.charCodeAt(0);
    const index = code >= 0x30 && code <= 0x39 ? Number(key) : -1;
    if ((index >>> 0) === index && index !== 0xffffffff && `${index}` === key) writeNumber(index);
    else writeString(key);
    writeValue(property, depth);
    written++;
  }
  room(6);
  out[at++] = 0x7b;
  putVarint(written);
}

// The frame of `message` in the reused buffer (valid until the next call), or
// null when the native Serializer must write it.
function writeFrame(message) {
  if (busy) return null;
  busy = true;
  at = 4;
  try {
    room(16);
    out[at++] = 0xff;
    putVarint(kVersion);
    writeValue(message, 0);
  } catch (err) {
    if (err !== kUnsupported) throw err; // a getter threw: as from the native writer
    return null;
  } finally {
    seen.length = 0;
    busy = false;
  }
  out.writeUInt32BE(at - 4, 0);
  return out.subarray(0, at);
}

const kLengthPlaceholder = Buffer.alloc(4);

const advanced = {
  // May return a view of a buffer the next call reuses: `keep` it to hold on to it.
  encode(message) {
    const fast = writeFrame(message);
    if (fast !== null) return fast;
    const ser = new Serializer();
    ser.writeRawBytes(kLengthPlaceholder);
    ser.writeHeader();
    ser.writeValue(message);
    const frame = ser.releaseBuffer();
    frame.writeUInt32BE(frame.length - 4, 0);
    return frame;
  },

  keep(chunk) {
    return chunk.buffer === out.buffer ? Buffer.from(chunk) : chunk;
  },

  join(chunks) {
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  },

  // Received TypedArrays and Buffers are views on `buf` where alignment
  // allows (as in Node, where they view the read buffer).
  decode(buf) {
    const values = [];
    let offset = 0;
    while (offset + 4 <= buf.length) {
      const start = offset + 4;
      offset = start + buf.readUInt32BE(offset);
      try {
        values.push(readFrame(buf, start, offset));
      } catch (err) {
        const payload = buf.subarray(start, offset);
        const hex = payload.subarray(0, 32).toString('hex');
        values.push(new InvalidMessage(err.message,
          `${payload.length} bytes, hex ${hex}${payload.length > 32 ? '...' : ''}`));
      }
    }
    return values;
  },
};

module.exports = { json, advanced, InvalidMessage };
