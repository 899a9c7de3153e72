//! JS exports for the reactor: init, drain, setRef, channelWrite, channelClose.
// napi-derive registers exports only outside cfg(test), so unit-test builds see them unused.
#![cfg_attr(test, allow(dead_code))]
use crate::reactor::{self, Event};
use napi::threadsafe_function::{ErrorStrategy, ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, JsBuffer, JsFunction, JsObject, JsUnknown, Result};
use napi_derive::napi;
use std::os::fd::{BorrowedFd, IntoRawFd};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Mutex;

type NotifyFn = ThreadsafeFunction<(), ErrorStrategy::Fatal>;

/// The thread-safe `notify`. Calls after Node released it (environment teardown) return
/// `Closing` and do nothing, so a reactor still queueing events at exit is harmless.
static NOTIFY: Mutex<Option<NotifyFn>> = Mutex::new(None);
/// Last `setRef` value, carried over when `init` is called again.
static REFERENCED: AtomicBool = AtomicBool::new(false);

fn with_notify<R>(f: impl FnOnce(&mut Option<NotifyFn>) -> R) -> R {
    f(&mut NOTIFY.lock().unwrap_or_else(|e| e.into_inner()))
}

/// `init(notify)`: `notify()` is called when the event queue goes from empty to non-empty.
/// Calling it again replaces the callback.
#[napi]
pub fn init(env: Env, notify: JsFunction) -> Result<()> {
    let mut tsfn: NotifyFn =
        notify.create_threadsafe_function(0, |_| Ok(Vec::<JsUnknown>::new()))?;
    if !REFERENCED.load(SeqCst) {
        tsfn.unref(&env)?;
    }
    with_notify(|slot| *slot = Some(tsfn));
    reactor::set_notify(Box::new(|| {
        with_notify(|slot| {
            if let Some(tsfn) = slot {
                tsfn.call((), ThreadsafeFunctionCallMode::NonBlocking);
            }
        })
    }));
    Ok(())
}

/// `drain()`: every queued event as a plain object, oldest first.
#[napi]
pub fn drain(env: Env) -> Result<JsObject> {
    let events = reactor::take_events();
    let mut out = env.create_array_with_length(events.len())?;
    for (i, event) in events.into_iter().enumerate() {
        let mut o = env.create_object()?;
        match event {
            Event::Exit {
                pid,
                status,
                signal,
            } => {
                o.set_named_property("type", "exit")?;
                o.set_named_property("pid", pid)?;
                o.set_named_property("status", status)?;
                o.set_named_property("signal", signal)?;
            }
            Event::Data { channel, buf, fds } => {
                o.set_named_property("type", "data")?;
                o.set_named_property("channel", channel)?;
                o.set_named_property("buf", env.create_buffer_with_data(buf)?.into_raw())?;
                let fds: Vec<i32> = fds.into_iter().map(IntoRawFd::into_raw_fd).collect();
                o.set_named_property("fds", fds)?;
            }
            Event::Drain { channel } => {
                o.set_named_property("type", "drain")?;
                o.set_named_property("channel", channel)?;
            }
            Event::Error {
                channel,
                code,
                message,
            } => {
                o.set_named_property("type", "error")?;
                o.set_named_property("channel", channel)?;
                o.set_named_property("code", code)?;
                o.set_named_property("message", message)?;
            }
            Event::Close { channel } => {
                o.set_named_property("type", "close")?;
                o.set_named_property("channel", channel)?;
            }
        }
        out.set_element(i as u32, o)?;
    }
    Ok(out)
}

/// `setRef(bool)`: whether pending reactor notifications keep the event loop alive.
#[napi]
pub fn set_ref(env: Env, referenced: bool) -> Result<()> {
    REFERENCED.store(referenced, SeqCst);
    with_notify(|slot| match slot {
        Some(tsfn) if referenced => tsfn.refer(&env),
        Some(tsfn) => tsfn.unref(&env),
        None => Ok(()),
    })
}

/// `channelWrite(id, buf, fd?)`: bytes still queued on the channel, or a negative errno.
#[napi]
pub fn channel_write(id: u32, buf: JsBuffer, fd: Option<i32>) -> Result<i64> {
    let data = buf.into_value()?;
    Ok(match fd {
        Some(fd) if fd < 0 => -i64::from(nix::libc::EBADF),
        // SAFETY: the caller keeps `fd` open for this synchronous call; the reactor dups it
        // if it has to be queued.
        Some(fd) => reactor::channel_write(id, &data, Some(unsafe { BorrowedFd::borrow_raw(fd) })),
        None => reactor::channel_write(id, &data, None),
    })
}

/// `channelClose(id)`: stop reading; close once queued bytes are written; `close` follows.
#[napi]
pub fn channel_close(id: u32) {
    reactor::channel_close(id);
}
