//! The events JS receives, as N-API values: one flat array, five slots per event
//! (`kind, id, a, b, c`; docs/internals.md), built without an object per event, and the
//! frames of a data event as JS decodes them.
use crate::ipc::{framing, Serialization};
use crate::owner::Event;
use napi::{check_status, sys, Env, JsObject, JsUnknown, NapiRaw, NapiValue, Result};
use std::cell::RefCell;
use std::os::fd::IntoRawFd;

/// Event kinds in the flat form (JS has them from src/napi_constants.rs).
pub const EXIT: u32 = 0;
pub const DATA: u32 = 1;
pub const DRAIN: u32 = 2;
pub const ERROR: u32 = 3;
pub const CLOSE: u32 = 4;
pub const FATAL: u32 = 5;
pub const STOPPED: u32 = 6;

/// The flat JS array of `events` (`drain()`).
pub fn events_value(env: &Env, events: Vec<Event>) -> Result<JsObject> {
    let mut out = env.create_array_with_length(events.len() * SLOTS)?;
    let mut at = 0;
    for event in events {
        for v in event_values(env, event)? {
            // SAFETY: a value just created in this environment.
            out.set_element(at, unsafe { JsUnknown::from_raw_unchecked(env.raw(), v) })?;
            at += 1;
        }
    }
    Ok(out)
}

/// Slots per event.
const SLOTS: usize = 5;

/// One event's slots, `kind, id, a, b, c` (a local poller passes them as the arguments of
/// `notify`, with no array).
pub fn event_values(env: &Env, event: Event) -> Result<[sys::napi_value; SLOTS]> {
    let null = || env.get_null().map(raw);
    let num = |n: u32| env.create_uint32(n).map(raw);
    let int_or_null = |n: Option<i32>| match n {
        Some(n) => env.create_int32(n).map(raw),
        None => null(),
    };
    let text = |s: &str| env.create_string(s).map(raw);
    Ok(match event {
        Event::Exit {
            pid,
            status,
            signal,
        } => [
            num(EXIT)?,
            raw(env.create_int32(pid)?),
            int_or_null(status)?,
            int_or_null(signal)?,
            null()?,
        ],
        Event::Data {
            channel,
            mode,
            buf,
            fds,
        } => {
            let fds = if fds.is_empty() {
                null()?
            } else {
                let mut list = env.create_array_with_length(fds.len())?;
                for (i, fd) in fds.into_iter().enumerate() {
                    list.set_element(i as u32, env.create_int32(fd.into_raw_fd())?)?;
                }
                raw(list)
            };
            let (frames, count) = frames_value(env, mode, buf)?;
            let count = match count {
                Some(n) => num(n)?,
                None => null()?,
            };
            [num(DATA)?, num(channel)?, raw(frames), fds, count]
        }
        Event::Drain { channel } => [num(DRAIN)?, num(channel)?, null()?, null()?, null()?],
        Event::Close { channel } => [num(CLOSE)?, num(channel)?, null()?, null()?, null()?],
        Event::Error {
            channel,
            code,
            message,
        } => [
            num(ERROR)?,
            num(channel)?,
            text(&code)?,
            text(&message)?,
            null()?,
        ],
        Event::Stopped { listener } => [num(STOPPED)?, num(listener)?, null()?, null()?, null()?],
        Event::Fatal { message } => [num(FATAL)?, num(0)?, text(&message)?, null()?, null()?],
    })
}

/// The handle of a value just created in the current handle scope.
fn raw<T: NapiRaw>(v: T) -> sys::napi_value {
    // SAFETY: only reads the handle; the value stays alive with its scope.
    unsafe { v.raw() }
}

thread_local! {
    /// The JSON array text of a data event's json lines, reused.
    static ARRAY: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Frames as JS gets them, and (json) how many there are. json: a lone line as it is; more,
/// as one JSON array text, the lines joined by `\n,` inside `[` and `]`, which JS parses in
/// one call (a newline is JSON whitespace) and, if a line is malformed, splits again at
/// `\n,` (which no line holds). Whole lines never cut a UTF-8 sequence. advanced: a Buffer of
/// the frames as read; small ones copied, which is cheaper than an external buffer's
/// finalizer.
fn frames_value(env: &Env, mode: Serialization, buf: Vec<u8>) -> Result<(JsUnknown, Option<u32>)> {
    const COPY_BELOW: usize = 64 * 1024;
    Ok(match mode {
        Serialization::Json => ARRAY.with_borrow_mut(|scratch| -> Result<_> {
            let (text, count) = json_text(&buf, scratch);
            let mut value = std::ptr::null_mut();
            // ASCII is its own Latin-1: V8 copies it as is, where UTF-8 would be decoded.
            let create = if text.is_ascii() {
                sys::napi_create_string_latin1
            } else {
                sys::napi_create_string_utf8
            };
            // SAFETY: `text` outlives the call, which copies it into a new string.
            check_status!(unsafe {
                create(env.raw(), text.as_ptr().cast(), text.len(), &mut value)
            })?;
            // A burst's room is not held on to.
            if scratch.capacity() > COPY_BELOW {
                *scratch = Vec::new();
            }
            // SAFETY: a value just created in this environment.
            let value = unsafe { JsUnknown::from_raw_unchecked(env.raw(), value) };
            Ok((value, Some(count)))
        })?,
        Serialization::Advanced if buf.len() < COPY_BELOW => {
            (env.create_buffer_copy(buf)?.into_raw().into_unknown(), None)
        }
        Serialization::Advanced => (
            env.create_buffer_with_data(buf)?.into_raw().into_unknown(),
            None,
        ),
    })
}

/// The json lines of `lines` (each ending in `\n`) as JS takes them (see `frames_value`):
/// `lines` itself when it holds at most one, else their array text written into `scratch`.
/// Also returns how many lines there are.
fn json_text<'a>(lines: &'a [u8], scratch: &'a mut Vec<u8>) -> (&'a [u8], u32) {
    let mut frames = framing::frames(Serialization::Json, lines);
    let Some(first) = frames.next() else {
        return (lines, 0);
    };
    if first.len() == lines.len() {
        // Parsing an array costs more than the value alone.
        return (lines, 1);
    }
    scratch.clear();
    scratch.reserve(lines.len() + lines.len() / 8 + 2);
    scratch.push(b'[');
    scratch.extend_from_slice(first);
    let mut count = 1;
    for line in frames {
        scratch.push(b',');
        scratch.extend_from_slice(line);
        count += 1;
    }
    scratch.push(b']');
    (scratch, count)
}

#[cfg(test)]
mod tests {
    use super::json_text;

    #[test]
    fn json_lines_become_one_array_and_a_lone_line_stays_as_it_is() {
        let mut scratch = Vec::new();
        assert_eq!(json_text(b"", &mut scratch), (&b""[..], 0));
        let one = b"{\"a\":1}\n";
        let (text, count) = json_text(one, &mut scratch);
        assert_eq!(
            (text.as_ptr(), count),
            (one.as_ptr(), 1),
            "no copy of a lone line"
        );
        assert_eq!(
            json_text(b"1\n\"x,y\"\n[2]\n", &mut scratch),
            (&b"[1\n,\"x,y\"\n,[2]\n]"[..], 3)
        );
    }
}
