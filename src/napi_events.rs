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
            [num(DATA)?, num(channel)?, raw(frames), fds, num(count)?]
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

/// Frames as JS gets them, and how many there are. json: a lone line as it is; more, as one
/// JSON array text, the lines joined by `\n,` inside `[` and `]`, which JS parses in one call
/// (a newline is JSON whitespace) and, if a line is malformed, splits again at `\n,` (which
/// no line holds). The lines are whole, so their UTF-8 is never cut. advanced: a Buffer of the frames as read;
/// small ones copied, which is cheaper than an external buffer's finalizer.
fn frames_value(env: &Env, mode: Serialization, buf: Vec<u8>) -> Result<(JsUnknown, u32)> {
    const COPY_BELOW: usize = 64 * 1024;
    Ok(match mode {
        Serialization::Json => ARRAY.with_borrow_mut(|text| -> Result<_> {
            let count = json_array(&buf, text);
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
            if text.capacity() > COPY_BELOW {
                *text = Vec::new();
            }
            // SAFETY: a value just created in this environment.
            Ok((
                unsafe { JsUnknown::from_raw_unchecked(env.raw(), value) },
                count,
            ))
        })?,
        Serialization::Advanced => {
            let count = framing::frames(mode, &buf).count() as u32;
            let frames = if buf.len() < COPY_BELOW {
                env.create_buffer_copy(buf)?.into_raw().into_unknown()
            } else {
                env.create_buffer_with_data(buf)?.into_raw().into_unknown()
            };
            (frames, count)
        }
    })
}

/// Writes the json lines of `lines` (each ending in `\n`) into `text` as JS takes them (see
/// `frames_value`); returns how many lines there were.
fn json_array(lines: &[u8], text: &mut Vec<u8>) -> u32 {
    text.clear();
    let mut frames = framing::frames(Serialization::Json, lines);
    let first = frames.next().unwrap_or_default();
    if first.len() == lines.len() {
        // Parsing an array costs more than the value alone.
        text.extend_from_slice(lines);
        return u32::from(!lines.is_empty());
    }
    text.reserve(lines.len() + lines.len() / 8 + 2);
    text.push(b'[');
    text.extend_from_slice(first);
    let mut count = 1;
    for line in frames {
        text.push(b',');
        text.extend_from_slice(line);
        count += 1;
    }
    text.push(b']');
    count
}

#[cfg(test)]
mod tests {
    use super::json_array;

    #[test]
    fn json_lines_become_one_array_and_a_lone_line_stays_as_it_is() {
        let mut text = Vec::new();
        assert_eq!(json_array(b"{\"a\":1}\n", &mut text), 1);
        assert_eq!(text, b"{\"a\":1}\n");
        assert_eq!(json_array(b"1\n\"x,y\"\n[2]\n", &mut text), 3);
        assert_eq!(text, b"[1\n,\"x,y\"\n,[2]\n]");
    }
}
