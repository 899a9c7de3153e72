'use strict';
// The two wire formats of Node's IPC channel. Each mode encodes one message to a
// chunk, joins a tick's chunks into the one Buffer handed to the native writer,
// and decodes a native `data` Buffer (complete frames only: the reactor keeps
// partial ones) into an array of values. A frame that cannot be decoded becomes
// an InvalidMessage in its place, so the channel reports it and carries on with
// the frames around it.
const v8 = require('node:v8');
const { isArrayBufferView } = require('node:util/types');
const { ERR_IPC_INVALID_MESSAGE } = require('../errors');

class InvalidMessage {
  // `excerpt`: a printable start of what arrived, to help find the sender at fault.
  constructor(problem, excerpt) {
    this.error = new ERR_IPC_INVALID_MESSAGE(
      `Received an IPC message that cannot be parsed (${problem}): ${excerpt}`);
  }
}

// json: one JSON text per line. JSON.stringify never emits a raw newline, so
// every '\n' in a data Buffer ends a message, and a Buffer of whole lines never
// splits a UTF-8 sequence, so one toString() decodes it correctly.
const json = {
  encode(message) {
    return `${JSON.stringify(message)}\n`;
  },

  // `chunks` are the encoded strings of one tick; one UTF-8 conversion for all.
  join(chunks) {
    return Buffer.from(chunks.length === 1 ? chunks[0] : chunks.join(''), 'utf8');
  },

  // String length as the byte estimate for backpressure: exact for ASCII, and
  // the estimate only decides when send() starts returning false.
  size(chunk) {
    return chunk.length;
  },

  decode(buf) {
    const text = buf.toString('utf8');
    let lines = 0;
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
    if (lines === 1) {
      try {
        return [JSON.parse(text)]; // the trailing '\n' is JSON whitespace
      } catch {
        return parseLines(text);
      }
    }
    // One parse for the whole batch: the lines joined into a JSON array. The
    // count check rejects a batch where a broken line merged with its neighbour.
    try {
      const values = JSON.parse(`[${text.slice(0, -1).replaceAll('\n', ',')}]`);
      if (values.length === lines) return values;
    } catch {
      // some line is malformed: find it below
    }
    return parseLines(text);
  },
};

function parseLines(text) {
  const values = [];
  let start = 0;
  for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
    const line = text.slice(start, end);
    start = end + 1;
    try {
      values.push(JSON.parse(line));
    } catch (err) {
      const excerpt = JSON.stringify(line.length > 64 ? `${line.slice(0, 64)}...` : line);
      values.push(new InvalidMessage(err.message, excerpt));
    }
  }
  return values;
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

const kLengthPlaceholder = Buffer.alloc(4);

const advanced = {
  encode(message) {
    const ser = new Serializer();
    ser.writeRawBytes(kLengthPlaceholder);
    ser.writeHeader();
    ser.writeValue(message);
    const frame = ser.releaseBuffer();
    frame.writeUInt32BE(frame.length - 4, 0);
    return frame;
  },

  join(chunks) {
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  },

  size(chunk) {
    return chunk.length;
  },

  // Received TypedArrays and Buffers are views on `buf` where alignment
  // allows (as in Node, where they view the read buffer).
  decode(buf) {
    const values = [];
    let offset = 0;
    while (offset + 4 <= buf.length) {
      const end = offset + 4 + buf.readUInt32BE(offset);
      const payload = buf.subarray(offset + 4, end);
      offset = end;
      try {
        const des = new Deserializer(payload);
        des.readHeader();
        values.push(des.readValue());
      } catch (err) {
        const hex = payload.subarray(0, 32).toString('hex');
        values.push(new InvalidMessage(err.message,
          `${payload.length} bytes, hex ${hex}${payload.length > 32 ? '...' : ''}`));
      }
    }
    return values;
  },
};

module.exports = { json, advanced, InvalidMessage };
