//! The events JS receives, as N-API values: one flat array, four slots per event
//! (`kind, id, a, b`; docs/internals.md), built without an object per event, and the frames
//! of a data event as JS decodes them.
use crate::ipc::Serialization;
use crate::owner::Event;
use napi::{check_status, sys, Env, JsObject, JsUnknown, NapiValue, Result};
use std::os::fd::IntoRawFd;

/// Event kinds in the flat form.
const EXIT: u32 = 0;
const DATA: u32 = 1;
const DRAIN: u32 = 2;
const ERROR: u32 = 3;
const CLOSE: u32 = 4;
const FATAL: u32 = 5;
const STOPPED: u32 = 6;

/// The flat JS array of `events`.
pub fn events_value(env: &Env, events: Vec<Event>) -> Result<JsObject> {
    let mut out = env.create_array_with_length(events.len() * 4)?;
    let mut at = 0;
    let mut put = |v: JsUnknown| {
        at += 1;
        out.set_element(at - 1, v)
    };
    let null = || env.get_null().map(|v| v.into_unknown());
    let num = |n: u32| env.create_uint32(n).map(|v| v.into_unknown());
    let int_or_null = |n: Option<i32>| match n {
        Some(n) => env.create_int32(n).map(|v| v.into_unknown()),
        None => null(),
    };
    let text = |s: &str| env.create_string(s).map(|v| v.into_unknown());
    for event in events {
        match event {
            Event::Exit {
                pid,
                status,
                signal,
            } => {
                put(num(EXIT)?)?;
                put(env.create_int32(pid)?.into_unknown())?;
                put(int_or_null(status)?)?;
                put(int_or_null(signal)?)?;
            }
            Event::Data {
                channel,
                mode,
                buf,
                fds,
            } => {
                put(num(DATA)?)?;
                put(num(channel)?)?;
                put(frames_value(env, mode, buf)?)?;
                if fds.is_empty() {
                    put(null()?)?;
                } else {
                    let mut list = env.create_array_with_length(fds.len())?;
                    for (i, fd) in fds.into_iter().enumerate() {
                        list.set_element(i as u32, env.create_int32(fd.into_raw_fd())?)?;
                    }
                    put(list.into_unknown())?;
                }
            }
            Event::Drain { channel } | Event::Close { channel } => {
                let kind = if matches!(event, Event::Drain { .. }) {
                    DRAIN
                } else {
                    CLOSE
                };
                put(num(kind)?)?;
                put(num(channel)?)?;
                put(null()?)?;
                put(null()?)?;
            }
            Event::Error {
                channel,
                code,
                message,
            } => {
                put(num(ERROR)?)?;
                put(num(channel)?)?;
                put(text(&code)?)?;
                put(text(&message)?)?;
            }
            Event::Stopped { listener } => {
                put(num(STOPPED)?)?;
                put(num(listener)?)?;
                put(null()?)?;
                put(null()?)?;
            }
            Event::Fatal { message } => {
                put(num(FATAL)?)?;
                put(num(0)?)?;
                put(text(&message)?)?;
                put(null()?)?;
            }
        }
    }
    Ok(out)
}

/// Frames as JS gets them: json lines as one string (a Buffer of whole lines never splits a
/// UTF-8 sequence), advanced frames as a Buffer; small ones copied, which is cheaper than
/// an external buffer's finalizer.
fn frames_value(env: &Env, mode: Serialization, buf: Vec<u8>) -> Result<JsUnknown> {
    const COPY_BELOW: usize = 64 * 1024;
    Ok(match mode {
        Serialization::Json => {
            let mut value = std::ptr::null_mut();
            // SAFETY: `buf` outlives the call, which copies it into a new string.
            check_status!(unsafe {
                sys::napi_create_string_utf8(env.raw(), buf.as_ptr().cast(), buf.len(), &mut value)
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
