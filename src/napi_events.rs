//! The events JS receives, as N-API values: one flat array, four slots per event
//! (`kind, id, a, b`; docs/internals.md), built without an object per event, and the frames
//! of a data event as JS decodes them.
use crate::ipc::Serialization;
use crate::owner::Event;
use napi::{check_status, sys, Env, JsObject, JsUnknown, NapiRaw, NapiValue, Result};
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
    let mut out = env.create_array_with_length(events.len() * 4)?;
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

/// One event's four slots, `kind, id, a, b` (a local poller passes them as the arguments
/// of `notify`, with no array).
pub fn event_values(env: &Env, event: Event) -> Result<[sys::napi_value; 4]> {
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
            [
                num(DATA)?,
                num(channel)?,
                raw(frames_value(env, mode, buf)?),
                fds,
            ]
        }
        Event::Drain { channel } => [num(DRAIN)?, num(channel)?, null()?, null()?],
        Event::Close { channel } => [num(CLOSE)?, num(channel)?, null()?, null()?],
        Event::Error {
            channel,
            code,
            message,
        } => [num(ERROR)?, num(channel)?, text(&code)?, text(&message)?],
        Event::Stopped { listener } => [num(STOPPED)?, num(listener)?, null()?, null()?],
        Event::Fatal { message } => [num(FATAL)?, num(0)?, text(&message)?, null()?],
    })
}

/// The handle of a value just created in the current handle scope.
fn raw<T: NapiRaw>(v: T) -> sys::napi_value {
    // SAFETY: only reads the handle; the value stays alive with its scope.
    unsafe { v.raw() }
}

/// Frames as JS gets them: json lines as one string (a Buffer of whole lines never splits a
/// UTF-8 sequence), advanced frames as a Buffer; small ones copied, which is cheaper than
/// an external buffer's finalizer.
fn frames_value(env: &Env, mode: Serialization, buf: Vec<u8>) -> Result<JsUnknown> {
    const COPY_BELOW: usize = 64 * 1024;
    Ok(match mode {
        Serialization::Json => {
            let mut value = std::ptr::null_mut();
            // ASCII is its own Latin-1: V8 copies it as is, where UTF-8 would be decoded.
            let create = if buf.is_ascii() {
                sys::napi_create_string_latin1
            } else {
                sys::napi_create_string_utf8
            };
            // SAFETY: `buf` outlives the call, which copies it into a new string.
            check_status!(unsafe {
                create(env.raw(), buf.as_ptr().cast(), buf.len(), &mut value)
            })?;
            // SAFETY: a value just created in this environment.
            unsafe { JsUnknown::from_raw_unchecked(env.raw(), value) }
        }
        Serialization::Advanced if buf.len() < COPY_BELOW => {
            env.create_buffer_copy(buf)?.into_raw().into_unknown()
        }
        Serialization::Advanced => env.create_buffer_with_data(buf)?.into_raw().into_unknown(),
    })
}
