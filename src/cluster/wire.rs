//! The cluster messages the reactor writes and reads by itself: the `newconn` envelope it
//! sends with each connection, and the worker's replies to it (and to any handle), which are
//! recognised by a prefix check so that other messages cost next to nothing. Pure; no I/O.
use crate::ipc::v8;
use crate::ipc::Serialization;

/// A worker's answer to a handle or to a `newconn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `{cmd: 'NODE_HANDLE_ACK'}`: the descriptor arrived.
    Ack,
    /// `{cmd: 'NODE_HANDLE_NACK'}`: the message arrived without its descriptor.
    Nack,
    /// `{cmd: 'NODE_CLUSTER', ack: seq, accepted}`.
    Cluster { ack: u64, accepted: bool },
}

const JSON_ACK: &[u8] = b"{\"cmd\":\"NODE_HANDLE_ACK\"}\n";
const JSON_NACK: &[u8] = b"{\"cmd\":\"NODE_HANDLE_NACK\"}\n";
const JSON_CLUSTER_ACK: &[u8] = b"{\"cmd\":\"NODE_CLUSTER\",\"ack\":";
/// `{` then the key `cmd` then a one-byte string tag, as V8 writes `{cmd: '...', ...}`.
const V8_CMD: &[u8] = b"o\"\x03cmd\"";
const V8_ACK: &[u8] = b"\x0fNODE_HANDLE_ACK";
const V8_NACK: &[u8] = b"\x10NODE_HANDLE_NACK";
const V8_CLUSTER_ACK: &[u8] = b"\x0cNODE_CLUSTER\"\x03ack";

/// Recognises a worker's reply among complete frames. Senders put `cmd` first (Node's
/// `{cmd: 'NODE_CLUSTER', ...message, seq}` and its ACK objects do), so a prefix check rules
/// out every other message; only candidates are parsed.
pub fn reply(mode: Serialization, frame: &[u8]) -> Option<Reply> {
    match mode {
        Serialization::Json => {
            if frame == JSON_ACK {
                Some(Reply::Ack)
            } else if frame == JSON_NACK {
                Some(Reply::Nack)
            } else if frame.starts_with(JSON_CLUSTER_ACK) {
                let v: serde_json::Value = serde_json::from_slice(frame).ok()?;
                let ack = v.get("ack")?.as_u64()?;
                let accepted = v.get("accepted") == Some(&serde_json::Value::Bool(true));
                Some(Reply::Cluster { ack, accepted })
            } else {
                None
            }
        }
        Serialization::Advanced => {
            let payload = frame.get(4..)?;
            let body = payload
                .get(v8::header_len(payload)?..)?
                .strip_prefix(V8_CMD)?;
            if !(body.starts_with(V8_ACK)
                || body.starts_with(V8_NACK)
                || body.starts_with(V8_CLUSTER_ACK))
            {
                return None;
            }
            let v = v8::decode(payload)?;
            match v.get("cmd")? {
                v8::Value::String(c) if c == "NODE_HANDLE_ACK" => Some(Reply::Ack),
                v8::Value::String(c) if c == "NODE_HANDLE_NACK" => Some(Reply::Nack),
                v8::Value::String(c) if c == "NODE_CLUSTER" => {
                    let ack = match v.get("ack")? {
                        v8::Value::Number(n)
                            if n.fract() == 0.0 && (0.0..=MAX_SAFE_INTEGER).contains(n) =>
                        {
                            *n as u64
                        }
                        _ => return None,
                    };
                    let accepted = v.get("accepted") == Some(&v8::Value::Bool(true));
                    Some(Reply::Cluster { ack, accepted })
                }
                _ => None,
            }
        }
    }
}

const MAX_SAFE_INTEGER: f64 = 9007199254740991.0;

/// `{cmd: 'NODE_HANDLE', type: 'net.Native', msg: {cmd: 'NODE_CLUSTER', act: 'newconn', key,
/// seq}}` for one listener key, in both serializations, preformatted up to the seq so that a
/// connection costs only its digits.
pub struct Newconn {
    json: Vec<u8>,
    /// The V8 payload up to the seq value, without the length header.
    v8: Vec<u8>,
}

impl Newconn {
    pub fn new(key: &str) -> Self {
        let mut json = br#"{"cmd":"NODE_HANDLE","type":"net.Native","msg":{"cmd":"NODE_CLUSTER","act":"newconn","key":"#.to_vec();
        // serde_json escapes as JSON.stringify does (`\u00XX` in lower case for controls).
        json.extend_from_slice(serde_json::Value::from(key).to_string().as_bytes());
        json.extend_from_slice(br#","seq":"#);
        let mut v8 = Vec::new();
        let mut w = v8::Writer::new(&mut v8);
        w.header();
        w.begin_object();
        for s in ["cmd", "NODE_HANDLE", "type", "net.Native", "msg"] {
            w.string(s);
        }
        w.begin_object();
        for s in ["cmd", "NODE_CLUSTER", "act", "newconn", "key", key, "seq"] {
            w.string(s);
        }
        Newconn { json, v8 }
    }

    /// Replaces `out` with the whole frame for `seq`.
    pub fn frame(&self, mode: Serialization, seq: u64, out: &mut Vec<u8>) {
        out.clear();
        match mode {
            Serialization::Json => {
                out.extend_from_slice(&self.json);
                push_decimal(out, seq);
                out.extend_from_slice(b"}}\n");
            }
            Serialization::Advanced => {
                out.extend_from_slice(&[0; 4]);
                out.extend_from_slice(&self.v8);
                let mut w = v8::Writer::resume(out, 4);
                // Exact: seqs stay far below 2^53.
                w.number(seq as f64);
                w.end_object(4);
                w.end_object(3);
                let len = (out.len() - 4) as u32;
                out[..4].copy_from_slice(&len.to_be_bytes());
            }
        }
    }
}

fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adv(payload: &[u8]) -> Vec<u8> {
        let mut v = (payload.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // Produced once with Node 20.20 for each (key, seq):
    //   m = {cmd: 'NODE_HANDLE', type: 'net.Native', msg: {cmd: 'NODE_CLUSTER', act: 'newconn', key, seq}}
    //   json:     JSON.stringify(m) + '\n'
    //   advanced: s = new v8.DefaultSerializer(); s.writeRawBytes(Buffer.alloc(4)); s.writeHeader();
    //             s.writeValue(m); b = s.releaseBuffer(); b.writeUInt32BE(b.length - 4, 0); b.toString('hex')
    // (what Node's ChildProcessSerializer writes for a plain object: no host objects involved).
    #[test]
    fn newconn_frames_match_node_byte_for_byte() {
        let cases: [(&str, u64, &[u8], &str); 3] = [
            (
                "127.0.0.1:0:4:-1:0",
                7,
                b"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{\"cmd\":\"NODE_CLUSTER\",\"act\":\"newconn\",\"key\":\"127.0.0.1:0:4:-1:0\",\"seq\":7}}\n",
                "00000072ff0f6f2203636d64220b4e4f44455f48414e444c45220474797065220a6e65742e4e61746976
                 6522036d73676f2203636d64220c4e4f44455f434c5553544552220361637422076e6577636f6e6e2203
                 6b657922123132372e302e302e313a303a343a2d313a302203736571490e7b047b03",
            ),
            (
                // A two-byte key: V8 pads before it so that its data is 2-byte aligned.
                "/tmp/日本.sock:-1:-1:-1:0",
                1073741824,
                "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{\"cmd\":\"NODE_CLUSTER\",\"act\":\"newconn\",\"key\":\"/tmp/日本.sock:-1:-1:-1:0\",\"seq\":1073741824}}\n".as_bytes(),
                "00000093ff0f6f2203636d64220b4e4f44455f48414e444c45220474797065220a6e65742e4e61746976
                 6522036d73676f2203636d64220c4e4f44455f434c5553544552220361637422076e6577636f6e6e2203
                 6b657900632e2f0074006d0070002f00e5652c672e0073006f0063006b003a002d0031003a002d003100
                 3a002d0031003a00300022037365714980808080087b047b03",
            ),
            (
                "a\"b\\c\u{1}é",
                0,
                "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{\"cmd\":\"NODE_CLUSTER\",\"act\":\"newconn\",\"key\":\"a\\\"b\\\\c\\u0001é\",\"seq\":0}}\n".as_bytes(),
                "00000067ff0f6f2203636d64220b4e4f44455f48414e444c45220474797065220a6e65742e4e61746976
                 6522036d73676f2203636d64220c4e4f44455f434c5553544552220361637422076e6577636f6e6e2203
                 6b657922076122625c6301e9220373657149007b047b03",
            ),
        ];
        let mut out = Vec::new();
        for (key, seq, json, advanced) in cases {
            let n = Newconn::new(key);
            n.frame(Serialization::Json, seq, &mut out);
            assert_eq!(out, json, "{key}");
            n.frame(Serialization::Advanced, seq, &mut out);
            assert_eq!(out, hex(advanced), "{key}");
        }
    }

    #[test]
    fn replies_in_json() {
        let r = |line: &str| reply(Serialization::Json, line.as_bytes());
        assert_eq!(r("{\"cmd\":\"NODE_HANDLE_ACK\"}\n"), Some(Reply::Ack));
        assert_eq!(r("{\"cmd\":\"NODE_HANDLE_NACK\"}\n"), Some(Reply::Nack));
        // What Node's cluster worker sends for a newconn.
        assert_eq!(
            r("{\"cmd\":\"NODE_CLUSTER\",\"ack\":12,\"accepted\":true,\"seq\":3}\n"),
            Some(Reply::Cluster {
                ack: 12,
                accepted: true
            })
        );
        assert_eq!(
            r("{\"cmd\":\"NODE_CLUSTER\",\"ack\":12,\"accepted\":false,\"seq\":4}\n"),
            Some(Reply::Cluster {
                ack: 12,
                accepted: false
            })
        );
        for other in [
            "{\"cmd\":\"NODE_CLUSTER\",\"act\":\"online\",\"seq\":0}\n",
            "{\"cmd\":\"NODE_CLUSTER\",\"ack\":-1,\"accepted\":true}\n",
            "{\"cmd\":\"NODE_CLUSTER\",\"ack\":1.5,\"accepted\":true}\n",
            "{\"cmd\":\"NODE_CLUSTER\",\"ack\":\n",
            "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\"}\n",
            "{\"cmd\":\"NODE_HANDLE_ACKX\"}\n",
            "\"NODE_HANDLE_ACK\"\n",
            "\n",
        ] {
            assert_eq!(r(other), None, "{other}");
        }
    }

    #[test]
    fn replies_in_advanced() {
        // Node 20: the `advanced` frames of {cmd:'NODE_HANDLE_ACK'}, {cmd:'NODE_HANDLE_NACK'}
        // and {cmd:'NODE_CLUSTER', ack: 12, accepted: true, seq: 3} (see the test above).
        let r = |h: &str| reply(Serialization::Advanced, &hex(h));
        assert_eq!(
            r("0000001bff0f6f2203636d64220f4e4f44455f48414e444c455f41434b7b01"),
            Some(Reply::Ack)
        );
        assert_eq!(
            r("0000001cff0f6f2203636d6422104e4f44455f48414e444c455f4e41434b7b01"),
            Some(Reply::Nack)
        );
        assert_eq!(
            r("00000031ff0f6f2203636d64220c4e4f44455f434c5553544552220361636b4918220861636365707465645422037365714906 7b04"),
            Some(Reply::Cluster { ack: 12, accepted: true })
        );
        // A seq beyond int32 comes as a double; a refusal; a message that only looks close.
        let mut payload = Vec::new();
        let msg = v8::Value::Object(vec![
            ("cmd".into(), v8::Value::String("NODE_CLUSTER".into())),
            ("ack".into(), v8::Value::Number(4294967296.0)),
            ("accepted".into(), v8::Value::Bool(false)),
        ]);
        v8::Writer::new(&mut payload).message(&msg);
        assert_eq!(
            reply(Serialization::Advanced, &adv(&payload)),
            Some(Reply::Cluster {
                ack: 1 << 32,
                accepted: false
            })
        );
        payload.clear();
        let msg = v8::Value::Object(vec![
            ("cmd".into(), v8::Value::String("NODE_CLUSTER".into())),
            ("act".into(), v8::Value::String("online".into())),
        ]);
        v8::Writer::new(&mut payload).message(&msg);
        assert_eq!(reply(Serialization::Advanced, &adv(&payload)), None);
        assert_eq!(reply(Serialization::Advanced, &adv(b"\xff\x0f_")), None);
        assert_eq!(reply(Serialization::Advanced, &adv(b"")), None);
    }
}
