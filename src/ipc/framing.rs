//! Frame boundaries for the two IPC serializations (pure; no I/O).
//!
//! json: one message per line, `\n`-terminated. advanced: a big-endian u32 payload length,
//! then the payload. A frame is "too large" when its payload (json: the line without its
//! `\n`) is longer than the channel's `max_message_size`, which is said once that many of its
//! bytes have arrived.
//!
//! Also the few messages the reactor writes and reads by itself for the round-robin
//! scheduler: the `newconn` envelope it sends with each connection, and the worker's replies
//! to it, which are recognised by a prefix check so that other messages cost next to nothing.
use super::v8;
use super::Serialization;

/// A frame longer than the limit. `exact` is false when only a lower bound is known (a json
/// line whose `\n` has not arrived yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLarge {
    pub size: usize,
    pub exact: bool,
    pub limit: usize,
}

impl TooLarge {
    pub fn message(&self) -> String {
        let bound = if self.exact { "" } else { "at least " };
        format!(
            "IPC message of {bound}{} bytes exceeds maxMessageSize ({} bytes)",
            self.size, self.limit
        )
    }
}

/// Result of scanning a buffer: `buf[..end]` holds only complete frames; `too_large` is set
/// when the frame starting at `end` breaks the limit (the channel must then be closed).
#[derive(Debug, PartialEq, Eq)]
pub struct Scan {
    pub end: usize,
    pub too_large: Option<TooLarge>,
}

pub struct Framer {
    mode: Serialization,
    max: usize,
    /// json: length of the buffer's prefix already known to hold no `\n`, so bytes that
    /// stayed behind as a partial line are not searched again.
    clean: usize,
}

impl Framer {
    pub fn new(mode: Serialization, max: usize) -> Self {
        Framer {
            mode,
            max,
            clean: 0,
        }
    }

    /// Scans the unconsumed bytes: the partial frame left by the previous scan followed by
    /// newly read bytes. The caller must remove `buf[..end]` before the next call.
    pub fn scan(&mut self, buf: &[u8]) -> Scan {
        match self.mode {
            Serialization::Json => self.scan_json(buf),
            Serialization::Advanced => self.scan_advanced(buf),
        }
    }

    /// Total bytes the partial frame at the front of `buf` needs, when its header says so.
    /// Lets the read buffer grow to a large frame's size at once.
    pub fn wanted(&self, buf: &[u8]) -> Option<usize> {
        match (self.mode, buf.get(..4)) {
            (Serialization::Advanced, Some(h)) => Some(4 + frame_len(h).min(self.max)),
            _ => None,
        }
    }

    fn scan_json(&mut self, buf: &[u8]) -> Scan {
        let from = self.clean.min(buf.len());
        if buf.len() <= self.max {
            // No line in here can exceed the limit: only the last newline matters, and it is
            // near the end when many small messages arrive.
            let end = buf[from..]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| from + p + 1);
            self.clean = buf.len() - end;
            return Scan {
                end,
                too_large: None,
            };
        }
        let mut start = 0;
        let mut pos = from;
        while let Some(p) = buf[pos..].iter().position(|&b| b == b'\n') {
            let nl = pos + p;
            if nl - start > self.max {
                return self.oversize(start, nl - start, true);
            }
            start = nl + 1;
            pos = start;
        }
        if buf.len() - start > self.max {
            return self.oversize(start, buf.len() - start, false);
        }
        self.clean = buf.len() - start;
        Scan {
            end: start,
            too_large: None,
        }
    }

    fn scan_advanced(&mut self, buf: &[u8]) -> Scan {
        let mut pos = 0;
        while let Some(h) = buf.get(pos..pos + 4) {
            let len = frame_len(h);
            let have = buf.len() - pos - 4;
            // Only bytes that arrived count against the limit: a peer that announces a huge
            // frame and then hangs up has broken nothing (Node drops the partial frame).
            if len > self.max && have >= self.max {
                return self.oversize(pos, len, true);
            }
            if have < len {
                break;
            }
            pos += 4 + len;
        }
        Scan {
            end: pos,
            too_large: None,
        }
    }

    fn oversize(&self, end: usize, size: usize, exact: bool) -> Scan {
        Scan {
            end,
            too_large: Some(TooLarge {
                size,
                exact,
                limit: self.max,
            }),
        }
    }
}

fn frame_len(h: &[u8]) -> usize {
    u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize
}

/// The frames of a run of complete frames (as `Scan` delimits them), each with its delimiter
/// (json: the trailing `\n`; advanced: the length header).
pub fn frames(mode: Serialization, run: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = run;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let len = match mode {
            Serialization::Json => rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |p| p + 1),
            Serialization::Advanced => rest
                .get(..4)
                .map_or(rest.len(), |h| (4 + frame_len(h)).min(rest.len())),
        };
        let (frame, tail) = rest.split_at(len);
        rest = tail;
        Some(frame)
    })
}

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

    /// Feeds `chunks` as successive reads into a buffer the way the channel does and returns
    /// the complete-frame runs handed out plus the final scan's error.
    fn feed(mode: Serialization, max: usize, chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Option<TooLarge>) {
        let mut f = Framer::new(mode, max);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            let s = f.scan(&buf);
            if s.end > 0 {
                out.push(buf[..s.end].to_vec());
                buf.drain(..s.end);
            }
            if s.too_large.is_some() {
                return (out, s.too_large);
            }
        }
        (out, None)
    }

    fn adv(payload: &[u8]) -> Vec<u8> {
        let mut v = (payload.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn json_split_across_reads() {
        let (out, err) = feed(
            Serialization::Json,
            1 << 20,
            &[b"{\"a\":", b"1}", b"\n{\"b\""],
        );
        assert_eq!(out, vec![b"{\"a\":1}\n".to_vec()]);
        assert_eq!(err, None);
    }

    #[test]
    fn json_several_per_read_and_partial_tail() {
        let (out, _) = feed(Serialization::Json, 1 << 20, &[b"1\n2\n3\n4", b"5\n"]);
        assert_eq!(out, vec![b"1\n2\n3\n".to_vec(), b"45\n".to_vec()]);
    }

    #[test]
    fn json_empty_lines_are_frames() {
        let (out, _) = feed(Serialization::Json, 1 << 20, &[b"\n\n1\n", b"\n"]);
        assert_eq!(out, vec![b"\n\n1\n".to_vec(), b"\n".to_vec()]);
    }

    #[test]
    fn json_limit_is_inclusive_and_checked_per_line() {
        // Small limit takes the line-by-line path: a line of exactly `max` bytes passes.
        let (out, err) = feed(Serialization::Json, 3, &[b"abc\nde\nf", b"gh\n"]);
        assert_eq!(out, vec![b"abc\nde\n".to_vec(), b"fgh\n".to_vec()]);
        assert_eq!(err, None);
    }

    #[test]
    fn json_oversize_complete_line_after_good_ones() {
        let (out, err) = feed(Serialization::Json, 3, &[b"ab\nabcd\nx\n"]);
        assert_eq!(out, vec![b"ab\n".to_vec()]);
        let err = err.unwrap();
        assert_eq!((err.size, err.exact, err.limit), (4, true, 3));
        assert_eq!(
            err.message(),
            "IPC message of 4 bytes exceeds maxMessageSize (3 bytes)"
        );
    }

    #[test]
    fn json_oversize_unterminated_line() {
        let (out, err) = feed(Serialization::Json, 4, &[b"ok\nabc", b"de"]);
        assert_eq!(out, vec![b"ok\n".to_vec()]);
        let err = err.unwrap();
        assert_eq!((err.size, err.exact), (5, false));
        assert!(err.message().contains("of at least 5 bytes"));
    }

    #[test]
    fn json_partial_is_not_rescanned_wrongly() {
        // The partial line is skipped on later scans; a newline in new bytes still ends it.
        let mut f = Framer::new(Serialization::Json, 1 << 20);
        assert_eq!(f.scan(b"abc").end, 0);
        assert_eq!(f.scan(b"abcdef").end, 0);
        assert_eq!(f.scan(b"abcdef\nx").end, 7);
        assert_eq!(f.scan(b"x\n").end, 2);
    }

    #[test]
    fn advanced_header_split_across_reads() {
        let frame = adv(b"hello");
        let (out, err) = feed(
            Serialization::Advanced,
            1 << 20,
            &[&frame[..2], &frame[2..5], &frame[5..]],
        );
        assert_eq!(out, vec![frame]);
        assert_eq!(err, None);
    }

    #[test]
    fn advanced_several_and_zero_length() {
        let mut all = adv(b"");
        all.extend(adv(b"ab"));
        all.extend(adv(b"c"));
        let (out, _) = feed(Serialization::Advanced, 1 << 20, &[&all[..all.len() - 1]]);
        assert_eq!(out, vec![all[..10].to_vec()]);
    }

    #[test]
    fn advanced_oversize_header() {
        let mut all = adv(b"ok");
        all.extend_from_slice(&100u32.to_be_bytes());
        // The header alone is no error yet: the peer may hang up before sending more.
        let (out, err) = feed(Serialization::Advanced, 99, &[&all]);
        assert_eq!((out, err), (vec![adv(b"ok")], None));
        all.extend_from_slice(&[7; 98]);
        let (_, err) = feed(Serialization::Advanced, 99, &[&all]);
        assert_eq!(err, None, "98 of 100 bytes: not over 99 yet");
        all.push(7);
        let (out, err) = feed(Serialization::Advanced, 99, &[&all]);
        assert_eq!(out, vec![adv(b"ok")]);
        let err = err.unwrap();
        assert_eq!((err.size, err.exact, err.limit), (100, true, 99));
        // A frame of exactly `max` bytes is fine.
        let (out, err) = feed(Serialization::Advanced, 5, &[&adv(b"12345")]);
        assert_eq!((out.len(), err), (1, None));
    }

    #[test]
    fn advanced_wanted_from_header() {
        let f = Framer::new(Serialization::Advanced, 1 << 20);
        assert_eq!(f.wanted(&[0, 0]), None);
        assert_eq!(f.wanted(&[0, 1, 0, 0, 9]), Some(4 + 65536));
        // A header announcing more than the limit never grows the buffer past it.
        assert_eq!(f.wanted(&[0x7f, 0xff, 0xff, 0xff]), Some(4 + (1 << 20)));
        assert_eq!(Framer::new(Serialization::Json, 9).wanted(b"abcdef"), None);
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
    fn frames_split_a_run() {
        let run = b"{\"a\":1}\n\n{\"cmd\":\"NODE_HANDLE_ACK\"}\n";
        let got: Vec<&[u8]> = frames(Serialization::Json, run).collect();
        assert_eq!(
            got,
            [
                &b"{\"a\":1}\n"[..],
                b"\n",
                b"{\"cmd\":\"NODE_HANDLE_ACK\"}\n"
            ]
        );
        let mut run = adv(b"ab");
        run.extend(adv(b""));
        let got: Vec<&[u8]> = frames(Serialization::Advanced, &run).collect();
        assert_eq!(got, [&adv(b"ab")[..], &adv(b"")[..]]);
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
