//! JS exports for the reactor: init, drain, setRef, channelWrite, channelClose. Each N-API
//! environment (the main thread, every worker thread) gets its own `Owner` as instance data,
//! created on first use and released when the environment is torn down. Its plain channels
//! and children are served on its own loop (src/env_loop.rs) when Node's libuv is reachable.
// napi-derive registers exports only outside cfg(test), so unit-test builds see them unused.
#![cfg_attr(test, allow(dead_code))]
use crate::env_loop::EnvLoop;
use crate::napi_events;
use crate::owner::Owner;
use crate::reactor::{self, Reactor};
use napi::bindgen_prelude::Either;
use napi::threadsafe_function::{ErrorStrategy, ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{
    check_status, sys, Env, Error, JsBuffer, JsFunction, JsObject, JsString, JsUnknown, NapiRaw,
    Result, Status,
};
use napi_derive::napi;
use std::cell::RefCell;
use std::os::fd::BorrowedFd;
use std::sync::Arc;

type NotifyFn = ThreadsafeFunction<(), ErrorStrategy::Fatal>;

/// This environment's instance data.
struct EnvState {
    owner: Arc<Owner>,
    /// The thread-safe `notify`, kept here for `setRef`. Calls after Node released it
    /// (environment teardown) return `Closing` and do nothing.
    notify: Option<NotifyFn>,
    /// Last `setRef` value, applied to a notifier installed later.
    referenced: bool,
    /// The loop serving the owner's plain children and channels, if it can.
    env_loop: Option<EnvLoop>,
}

/// The reactor and this environment's state (created on first use), or the error JS throws.
fn env_state(env: &Env) -> Result<(&'static Reactor, &'static mut EnvState)> {
    let r = reactor::reactor().map_err(|e| Error::new(Status::GenericFailure, e.message))?;
    if let Some(state) = env.get_instance_data::<EnvState>()? {
        return Ok((r, state));
    }
    let local = EnvLoop::available()
        .then(|| EnvLoop::start(env, r))
        .flatten();
    let (env_loop, owner) = match local {
        Some((l, owner)) => (Some(l), owner),
        None => (None, Arc::new(Owner::default())),
    };
    r.adopt(&owner);
    let state = EnvState {
        owner,
        notify: None,
        referenced: false,
        env_loop,
    };
    env.set_instance_data(state, (), |mut ctx| {
        // The reactor lets go of the loop's descriptors first (closing their handles).
        if let Ok(r) = reactor::reactor() {
            r.release(&ctx.value.owner);
        } else {
            ctx.value.owner.release();
        }
        if let Some(l) = ctx.value.env_loop.take() {
            l.close();
        }
    })?;
    let state = env
        .get_instance_data::<EnvState>()?
        .ok_or_else(|| Error::new(Status::GenericFailure, "rust-cluster: no instance data"))?;
    Ok((r, state))
}

/// This environment's owner, for the other export modules.
pub fn owner(env: &Env) -> Result<(&'static Reactor, Arc<Owner>)> {
    env_state(env).map(|(r, s)| (r, s.owner.clone()))
}

/// `init(notify)`: `notify()` is called when this environment's event queue goes from empty
/// to non-empty. Calling it again replaces the callback.
#[napi]
pub fn init(env: Env, notify: JsFunction) -> Result<()> {
    let (_, state) = env_state(&env)?;
    let mut tsfn: NotifyFn =
        notify.create_threadsafe_function(0, |_| Ok(Vec::<JsUnknown>::new()))?;
    if !state.referenced {
        tsfn.unref(&env)?;
    }
    let caller = tsfn.clone();
    state.notify = Some(tsfn);
    if let Some(l) = &state.env_loop {
        l.set_notify(&env, &notify)?;
    }
    state.owner.set_notify(Box::new(move || {
        caller.call((), ThreadsafeFunctionCallMode::NonBlocking);
    }));
    Ok(())
}

/// `drain()`: every event queued for this environment, oldest first, flat: five slots per
/// event, `kind, id, a, b, c` (see docs/internals.md), so that no object is built here.
#[napi]
pub fn drain(env: Env) -> Result<JsObject> {
    let (r, state) = env_state(&env)?;
    napi_events::events_value(&env, r.take_events(&state.owner))
}

/// `setRef(bool)`: whether pending reactor notifications keep this environment's event loop
/// alive.
#[napi]
pub fn set_ref(env: Env, referenced: bool) -> Result<()> {
    let (_, state) = env_state(&env)?;
    state.referenced = referenced;
    if let Some(l) = &state.env_loop {
        l.set_ref(referenced);
    }
    match &mut state.notify {
        Some(tsfn) if referenced => tsfn.refer(&env),
        Some(tsfn) => tsfn.unref(&env),
        None => Ok(()),
    }
}

thread_local! {
    /// The UTF-8 of a string being written, reused: the string's one copy on its way out.
    static UTF8: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// `channelWrite(id, data)`: `data` a Buffer (advanced frames), or a string of json lines
/// without the last newline, written as UTF-8 with that newline added (so that JS never
/// builds, nor V8 flattens, a string with it). Bytes still queued on the channel, or a
/// negative errno.
#[napi]
pub fn channel_write(env: Env, id: u32, data: Either<JsString, JsBuffer>) -> Result<i64> {
    with_bytes(&env, data, |bytes| {
        let (r, state) = env_state(&env)?;
        Ok(r.channel_write(&state.owner, id, bytes, None))
    })
}

/// `channelWriteHandle(id, data, fd)`: `channelWrite` with descriptor `fd` passed along with
/// the first byte (a write of its own, so the common write takes no third argument).
#[napi]
pub fn channel_write_handle(
    env: Env,
    id: u32,
    data: Either<JsString, JsBuffer>,
    fd: i32,
) -> Result<i64> {
    if fd < 0 {
        return Ok(-i64::from(nix::libc::EBADF));
    }
    with_bytes(&env, data, |bytes| {
        let (r, state) = env_state(&env)?;
        // SAFETY: the caller keeps `fd` open for this synchronous call; the reactor dups it
        // if it has to be queued.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        Ok(r.channel_write(&state.owner, id, bytes, Some(fd)))
    })
}

/// Runs `f` on the bytes `channelWrite` sends for `data` (see there).
fn with_bytes(
    env: &Env,
    data: Either<JsString, JsBuffer>,
    f: impl FnOnce(&[u8]) -> Result<i64>,
) -> Result<i64> {
    match data {
        Either::A(text) => UTF8.with_borrow_mut(|utf8| {
            // SAFETY: the string is this call's argument, alive until it returns.
            let (env_raw, value) = (env.raw(), unsafe { text.raw() });
            // Its length in UTF-16 units is known without a scan; each unit takes at most 3
            // bytes of UTF-8, so one copy into room for that (and N-API's NUL) never cuts it.
            let mut units = 0;
            // SAFETY: a length query only.
            check_status!(unsafe {
                sys::napi_get_value_string_utf16(
                    env_raw,
                    value,
                    std::ptr::null_mut(),
                    0,
                    &mut units,
                )
            })?;
            utf8.clear();
            utf8.reserve(3 * units + 1);
            let mut written = 0;
            // SAFETY: N-API writes at most `capacity` bytes, the NUL included.
            check_status!(unsafe {
                sys::napi_get_value_string_utf8(
                    env_raw,
                    value,
                    utf8.as_mut_ptr().cast(),
                    utf8.capacity(),
                    &mut written,
                )
            })?;
            // SAFETY: N-API initialised `written` bytes.
            unsafe { utf8.set_len(written) };
            // Within the capacity: `written` is at most 3 * units.
            utf8.push(b'\n');
            f(utf8)
        }),
        Either::B(buf) => f(&buf.into_value()?),
    }
}

/// `channelClose(id)`: stop reading; close once queued bytes are written; `close` follows.
#[napi]
pub fn channel_close(env: Env, id: u32) -> Result<()> {
    let (r, state) = env_state(&env)?;
    r.channel_close(&state.owner, id);
    Ok(())
}
