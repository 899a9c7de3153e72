//! Frame boundaries for the two IPC serializations (pure; no I/O).
//!
//! json: one message per line, `\n`-terminated. advanced: a big-endian u32 payload length,
//! then the payload. A frame is "too large" when its payload (json: the line without its
//! `\n`) is longer than the channel's `max_message_size`, which is said once that many of its
//! bytes have arrived.
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
            let end = memchr::memrchr(b'\n', &buf[from..]).map_or(0, |p| from + p + 1);
            self.clean = buf.len() - end;
            return Scan {
                end,
                too_large: None,
            };
        }
        let mut start = 0;
        let mut pos = from;
        while let Some(p) = memchr::memchr(b'\n', &buf[pos..]) {
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
            Serialization::Json => memchr::memchr(b'\n', rest).map_or(rest.len(), |p| p + 1),
            Serialization::Advanced => rest
                .get(..4)
                .map_or(rest.len(), |h| (4 + frame_len(h)).min(rest.len())),
        };
        let (frame, tail) = rest.split_at(len);
        rest = tail;
        Some(frame)
    })
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
}
