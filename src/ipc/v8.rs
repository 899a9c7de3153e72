//! A tiny V8 ValueSerializer codec, enough for the messages the reactor sends and consumes on
//! `advanced` channels by itself: plain objects whose values are strings, numbers, booleans,
//! null, undefined or plain objects. For those values it writes what Node's `v8.Serializer`
//! writes (format version 15, Node 20) and reads what it writes. Pure; no I/O.

/// Serializer format version Node 20's V8 writes.
pub const VERSION: u8 = 15;
const TAG_VERSION: u8 = 0xFF;
/// V8 pads before two-byte string data so that it is 2-byte aligned; readers skip it.
const PADDING: u8 = 0x00;
const UNDEFINED: u8 = b'_';
const NULL: u8 = b'0';
const TRUE: u8 = b'T';
const FALSE: u8 = b'F';
const INT32: u8 = b'I';
const UINT32: u8 = b'U';
const DOUBLE: u8 = b'N';
const ONE_BYTE_STRING: u8 = b'"';
const TWO_BYTE_STRING: u8 = b'c';
const UTF8_STRING: u8 = b'S';
const BEGIN_OBJECT: u8 = b'o';
const END_OBJECT: u8 = b'{';
/// Nesting accepted by the reader; our messages use two levels.
const MAX_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    /// Properties in order.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The value of property `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(props) => props.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Appends serialized data to a buffer. `base` is the offset in the buffer where the
/// serializer's output starts: two-byte string padding depends on the position from there.
pub struct Writer<'a> {
    buf: &'a mut Vec<u8>,
    base: usize,
}

impl<'a> Writer<'a> {
    /// A writer whose output starts at the end of `buf`.
    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        let base = buf.len();
        Writer { buf, base }
    }

    /// A writer continuing output that started at `buf[base]`.
    pub fn resume(buf: &'a mut Vec<u8>, base: usize) -> Self {
        Writer { buf, base }
    }

    pub fn header(&mut self) {
        self.buf.extend_from_slice(&[TAG_VERSION, VERSION]);
    }

    /// A whole message: header, then the value. (The reactor writes its messages piecewise.)
    #[cfg(test)]
    pub fn message(&mut self, v: &Value) {
        self.header();
        self.value(v);
    }

    #[cfg(test)]
    /// Object keys are written as strings: V8 writes array-index keys ("0", "1", ...) as
    /// numbers, ahead of the others, so objects with such keys are not supported.
    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Undefined => self.buf.push(UNDEFINED),
            Value::Null => self.buf.push(NULL),
            Value::Bool(true) => self.buf.push(TRUE),
            Value::Bool(false) => self.buf.push(FALSE),
            Value::Number(n) => self.number(*n),
            Value::String(s) => self.string(s),
            Value::Object(props) => {
                self.begin_object();
                for (k, v) in props {
                    self.string(k);
                    self.value(v);
                }
                self.end_object(props.len() as u32);
            }
        }
    }

    pub fn begin_object(&mut self) {
        self.buf.push(BEGIN_OBJECT);
    }

    pub fn end_object(&mut self, properties: u32) {
        self.buf.push(END_OBJECT);
        varint(self.buf, properties as u64);
    }

    /// V8 writes a Smi as a zigzag varint and any other number as a double. Which numbers
    /// are Smis depends on how V8 holds them; an integer counter in int32 range is one on
    /// 64-bit Node (not -0, which only a double can hold).
    pub fn number(&mut self, n: f64) {
        let int = n as i32;
        if f64::from(int) == n && !(n == 0.0 && n.is_sign_negative()) {
            self.buf.push(INT32);
            varint(self.buf, u64::from(((int << 1) ^ (int >> 31)) as u32));
        } else {
            self.buf.push(DOUBLE);
            self.buf.extend_from_slice(&n.to_le_bytes());
        }
    }

    /// One byte per char when every char fits in Latin-1 (as V8 holds such strings),
    /// UTF-16LE otherwise.
    pub fn string(&mut self, s: &str) {
        if s.chars().all(|c| u32::from(c) <= 0xFF) {
            self.buf.push(ONE_BYTE_STRING);
            varint(self.buf, s.chars().count() as u64);
            self.buf.extend(s.chars().map(|c| c as u8));
            return;
        }
        let bytes = 2 * s.encode_utf16().count() as u64;
        if (self.buf.len() - self.base + 1 + varint_len(bytes)) % 2 == 1 {
            self.buf.push(PADDING);
        }
        self.buf.push(TWO_BYTE_STRING);
        varint(self.buf, bytes);
        for unit in s.encode_utf16() {
            self.buf.extend_from_slice(&unit.to_le_bytes());
        }
    }
}

fn varint(buf: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        buf.push(n as u8 | 0x80);
        n >>= 7;
    }
    buf.push(n as u8);
}

fn varint_len(n: u64) -> usize {
    (64 - (n | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads a whole message (header, then one value). None for anything outside the subset.
pub fn decode(payload: &[u8]) -> Option<Value> {
    let mut r = Reader { b: payload, pos: 0 };
    if r.byte()? != TAG_VERSION {
        return None;
    }
    r.varint()?;
    r.value(0)
}

/// Length of the header (`0xFF`, version varint) at the start of `payload`.
pub fn header_len(payload: &[u8]) -> Option<usize> {
    if *payload.first()? != TAG_VERSION {
        return None;
    }
    let end = payload[1..].iter().position(|b| b & 0x80 == 0)?;
    Some(end + 2)
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    fn tag(&mut self) -> Option<u8> {
        loop {
            let t = self.byte()?;
            if t != PADDING {
                return Some(t);
            }
        }
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        Some(match self.tag()? {
            UNDEFINED => Value::Undefined,
            NULL => Value::Null,
            TRUE => Value::Bool(true),
            FALSE => Value::Bool(false),
            INT32 => {
                let z = u32::try_from(self.varint()?).ok()?;
                Value::Number(f64::from((z >> 1) as i32 ^ -((z & 1) as i32)))
            }
            UINT32 => Value::Number(u32::try_from(self.varint()?).ok()? as f64),
            DOUBLE => Value::Number(f64::from_le_bytes(self.bytes(8)?.try_into().ok()?)),
            ONE_BYTE_STRING => {
                let n = usize::try_from(self.varint()?).ok()?;
                Value::String(self.bytes(n)?.iter().map(|&b| char::from(b)).collect())
            }
            TWO_BYTE_STRING => {
                let n = usize::try_from(self.varint()?).ok()?;
                if n % 2 == 1 {
                    return None;
                }
                let units: Vec<u16> = self
                    .bytes(n)?
                    .chunks_exact(2)
                    .map(|u| u16::from_le_bytes([u[0], u[1]]))
                    .collect();
                Value::String(String::from_utf16_lossy(&units))
            }
            UTF8_STRING => {
                let n = usize::try_from(self.varint()?).ok()?;
                Value::String(String::from_utf8_lossy(self.bytes(n)?).into_owned())
            }
            BEGIN_OBJECT if depth < MAX_DEPTH => self.object(depth + 1)?,
            _ => return None,
        })
    }

    fn object(&mut self, depth: usize) -> Option<Value> {
        let mut props = Vec::new();
        loop {
            if self.b.get(self.pos) == Some(&END_OBJECT) {
                self.pos += 1;
                let count = self.varint()?;
                return (count == props.len() as u64).then_some(Value::Object(props));
            }
            let key = match self.value(depth)? {
                Value::String(s) => s,
                // Array-index keys come as numbers.
                Value::Number(n) => format!("{n}"),
                _ => return None,
            };
            let value = self.value(depth)?;
            props.push((key, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(props: &[(&str, Value)]) -> Value {
        Value::Object(
            props
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn encode(v: &Value) -> Vec<u8> {
        let mut buf = Vec::new();
        Writer::new(&mut buf).message(v);
        buf
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // Expected bytes from Node 20: `v8.serialize(value).toString('hex')`.
    #[test]
    fn writes_what_node_writes() {
        let v = obj(&[
            ("a", Value::Null),
            ("b", Value::Undefined),
            ("c", Value::Number(1.5)),
            ("d", Value::Number(-1.0)),
            ("e", Value::String("é".into())),
            ("f", Value::String("日本".into())),
            ("g", Value::Bool(true)),
        ]);
        // `b: undefined` included: v8 keeps undefined-valued properties.
        assert_eq!(
            encode(&v),
            hex(
                "ff0f6f220161302201625f2201634e000000000000f83f22016449012201652201e9\
                 220166006304e5652c67220167547b07"
            )
        );
        let ack = obj(&[
            ("cmd", Value::String("NODE_CLUSTER".into())),
            ("ack", Value::Number(5.0)),
            ("accepted", Value::Bool(false)),
            ("seq", Value::Number(3.0)),
        ]);
        assert_eq!(
            encode(&ack),
            hex(
                "ff0f6f2203636d64220c4e4f44455f434c5553544552220361636b490a2208616363657\
                 074656446220373657149067b04"
            )
        );
        // A number outside int32 is a double (Node: `v8.serialize({seq: 2 ** 31})`).
        assert_eq!(
            encode(&obj(&[("seq", Value::Number(2147483648.0))])),
            hex("ff0f6f22037365714e000000000000e0417b01")
        );
    }

    #[test]
    fn round_trips() {
        let values = [
            obj(&[]),
            obj(&[
                ("n", Value::Number(-0.0)),
                ("big", Value::Number(1e300)),
                ("min", Value::Number(f64::from(i32::MIN))),
                ("max", Value::Number(f64::from(i32::MAX))),
                ("s", Value::String(String::new())),
                ("u", Value::String("a\u{1F600}b".into())),
                ("f", Value::Bool(false)),
                (
                    "inner",
                    obj(&[("x", Value::Null), ("日", Value::Undefined)]),
                ),
            ]),
            Value::String("x".repeat(300)),
        ];
        for v in values {
            let bytes = encode(&v);
            let back = decode(&bytes).unwrap();
            match (&v, &back) {
                // -0 survives as a double: compare bits.
                (Value::Object(a), Value::Object(b)) => {
                    assert_eq!(a.len(), b.len());
                    for ((ka, va), (kb, vb)) in a.iter().zip(b) {
                        assert_eq!(ka, kb);
                        match (va, vb) {
                            (Value::Number(x), Value::Number(y)) => {
                                assert_eq!(x.to_bits(), y.to_bits())
                            }
                            _ => assert_eq!(va, vb),
                        }
                    }
                }
                _ => assert_eq!(v, back),
            }
        }
    }

    #[test]
    fn reads_node_only_forms() {
        // `v8.serialize({1: 2, '-1': 3})`: an index key written as a number.
        let v = decode(&hex("ff0f6f4902490422022d3149067b02")).unwrap();
        assert_eq!(
            v,
            obj(&[("1", Value::Number(2.0)), ("-1", Value::Number(3.0))])
        );
        // uint32 and UTF-8 string tags, which V8 still reads.
        let v = decode(&[0xFF, 0x0F, b'o', b'S', 1, b'k', b'U', 0x80, 0x01, b'{', 1]).unwrap();
        assert_eq!(v.get("k"), Some(&Value::Number(128.0)));
    }

    #[test]
    fn rejects_what_it_does_not_know() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[0xFF, 0x0F]), None);
        assert_eq!(decode(&[0xFF, 0x0F, b'A', 0]), None); // arrays
        assert_eq!(decode(&[0xFF, 0x0F, b'o', b'{', 2]), None); // wrong count
        assert_eq!(decode(&[0xFF, 0x0F, b'"', 5, b'a']), None); // truncated
        assert_eq!(decode(&[0xFF, 0x0F, b'c', 3, 0, 0, 0]), None); // odd two-byte length
        let deep: Vec<u8> = [0xFF, 0x0F]
            .into_iter()
            .chain((0..20).flat_map(|_| [b'o', b'"', 1, b'k']))
            .collect();
        assert_eq!(decode(&deep), None);
        assert_eq!(header_len(&[0xFF, 0x0F, b'o']), Some(2));
        assert_eq!(header_len(&[0xFF, 0x8F, 0x01, b'o']), Some(3));
        assert_eq!(header_len(b"{\"cmd\""), None);
    }
}
