//! An environment's own event loop as the driver of its local poller (docs/internals.md,
//! "Environments"): a libuv poll handle, on the loop N-API gives, watches the local epoll
//! set. When it fires, the channels and children in that set are served on this thread and
//! JS's `notify` is called at once through napi_make_callback, so that ticks and microtasks
//! run after it as after any libuv callback in Node. No other thread is woken.
//!
//! libuv's functions are Node's exports, looked up at run time: without them (not Node) the
//! environment simply has no local poller and the reactor thread serves everything.
use crate::napi_events;
use crate::owner::Owner;
use crate::reactor::Reactor;
use crate::sys;
use napi::sys as n;
use napi::{Env, JsFunction, NapiRaw};
use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::ptr::{self, NonNull};
use std::sync::{Arc, OnceLock};

type PollCb = unsafe extern "C" fn(*mut c_void, c_int, c_int);
type CloseCb = unsafe extern "C" fn(*mut c_void);

/// `uv_handle_type` UV_POLL and the `uv_poll_event` UV_READABLE.
const UV_POLL: c_int = 8;
const UV_READABLE: c_int = 1;

type HandleSize = unsafe extern "C" fn(c_int) -> usize;
type PollInit = unsafe extern "C" fn(*mut c_void, *mut c_void, c_int) -> c_int;
type PollStart = unsafe extern "C" fn(*mut c_void, c_int, PollCb) -> c_int;
type HandleOp = unsafe extern "C" fn(*mut c_void) -> c_int;
type Close = unsafe extern "C" fn(*mut c_void, CloseCb);
type Ref = unsafe extern "C" fn(*mut c_void);

struct Uv {
    handle_size: HandleSize,
    poll_init: PollInit,
    poll_start: PollStart,
    poll_stop: HandleOp,
    close: Close,
    ref_: Ref,
    unref: Ref,
}

fn uv() -> Option<&'static Uv> {
    static UV: OnceLock<Option<Uv>> = OnceLock::new();
    UV.get_or_init(|| {
        let f = |name: &std::ffi::CStr| sys::symbol(name).map(NonNull::as_ptr);
        // SAFETY: each symbol is libuv's function of that name, with the signature above
        // (libuv 1.x, stable ABI).
        unsafe {
            Some(Uv {
                handle_size: std::mem::transmute::<*mut c_void, HandleSize>(f(c"uv_handle_size")?),
                poll_init: std::mem::transmute::<*mut c_void, PollInit>(f(c"uv_poll_init")?),
                poll_start: std::mem::transmute::<*mut c_void, PollStart>(f(c"uv_poll_start")?),
                poll_stop: std::mem::transmute::<*mut c_void, HandleOp>(f(c"uv_poll_stop")?),
                close: std::mem::transmute::<*mut c_void, Close>(f(c"uv_close")?),
                ref_: std::mem::transmute::<*mut c_void, Ref>(f(c"uv_ref")?),
                unref: std::mem::transmute::<*mut c_void, Ref>(f(c"uv_unref")?),
            })
        }
    })
    .as_ref()
}

/// What the poll callback needs; the handle's `data` (its first field) points here. Lives
/// until the handle's close callback.
struct Watch {
    uv: &'static Uv,
    env: n::napi_env,
    reactor: &'static Reactor,
    owner: Arc<Owner>,
    /// JS's `notify`, once `init` gave it.
    notify: Cell<n::napi_ref>,
    async_context: n::napi_async_context,
    /// The uv_poll_t, as u64 words (libuv handles are 8-byte aligned).
    handle: *mut [u64],
}

/// The started poll handle of one environment; JS thread only.
pub struct EnvLoop(*mut Watch);

impl EnvLoop {
    /// Whether this process can have local pollers (it is Node, with libuv's exports).
    pub fn available() -> bool {
        uv().is_some()
    }

    /// Watches `owner`'s local poller on `env`'s loop; None if it cannot (the reactor thread
    /// then serves that owner, as when libuv is not reachable). Starts unref'd.
    pub fn start(env: &Env, reactor: &'static Reactor, owner: &Arc<Owner>) -> Option<EnvLoop> {
        let uv = uv()?;
        let fd = owner.local_fd()?;
        let uv_loop = env.get_uv_event_loop().ok()?.cast::<c_void>();
        let raw_env = env.raw();
        let mut async_context = ptr::null_mut();
        // SAFETY: plain N-API calls on this environment's thread.
        unsafe {
            let mut resource = ptr::null_mut();
            let mut name = ptr::null_mut();
            let label = c"RustClusterChannels";
            if n::napi_create_object(raw_env, &mut resource) != n::Status::napi_ok
                || n::napi_create_string_utf8(raw_env, label.as_ptr(), usize::MAX, &mut name)
                    != n::Status::napi_ok
                || n::napi_async_init(raw_env, resource, name, &mut async_context)
                    != n::Status::napi_ok
            {
                return None;
            }
        }
        // SAFETY: asks libuv for a size only.
        let words = unsafe { (uv.handle_size)(UV_POLL) }.div_ceil(8);
        let handle = Box::into_raw(vec![0u64; words].into_boxed_slice());
        let watch = Box::into_raw(Box::new(Watch {
            uv,
            env: raw_env,
            reactor,
            owner: owner.clone(),
            notify: Cell::new(ptr::null_mut()),
            async_context,
            handle,
        }));
        let h = handle.cast::<c_void>();
        // SAFETY: `h` is zeroed memory of the handle's size; init fills it, then `data` (the
        // first field of every handle) is set to the Watch that outlives the handle.
        unsafe {
            if (uv.poll_init)(uv_loop, h, fd) != 0 {
                drop(Box::from_raw(handle));
                drop(Box::from_raw(watch));
                return None;
            }
            *h.cast::<*mut Watch>() = watch;
            (uv.unref)(h);
            if (uv.poll_start)(h, UV_READABLE, on_ready) != 0 {
                (uv.close)(h, on_closed);
                return None;
            }
        }
        Some(EnvLoop(watch))
    }

    /// `notify` is called from now on when a poll brought events.
    pub fn set_notify(&self, env: &Env, notify: &JsFunction) -> napi::Result<()> {
        // SAFETY: the Watch lives until close(); JS thread only.
        let w = unsafe { &*self.0 };
        let mut r = ptr::null_mut();
        // SAFETY: a strong reference to a function of this environment.
        napi::check_status!(unsafe {
            n::napi_create_reference(env.raw(), notify.raw(), 1, &mut r)
        })?;
        let old = w.notify.replace(r);
        if !old.is_null() {
            // SAFETY: the reference we created before.
            unsafe { n::napi_delete_reference(env.raw(), old) };
        }
        Ok(())
    }

    /// Whether the poll handle keeps the loop alive.
    pub fn set_ref(&self, referenced: bool) {
        // SAFETY: the handle is open until close().
        unsafe {
            let w = &*self.0;
            let h = w.handle.cast::<c_void>();
            if referenced {
                (w.uv.ref_)(h)
            } else {
                (w.uv.unref)(h)
            }
        }
    }

    /// Stops watching and closes the handle; its memory goes in the close callback.
    pub fn close(self) {
        // SAFETY: the handle is open; after uv_close libuv calls on_closed exactly once.
        unsafe {
            let w = &*self.0;
            let h = w.handle.cast::<c_void>();
            (w.uv.poll_stop)(h);
            (w.uv.close)(h, on_closed);
        }
    }
}

unsafe extern "C" fn on_ready(handle: *mut c_void, _status: c_int, _events: c_int) {
    // SAFETY: `data` was set to the Watch in start(); it lives until on_closed.
    let w = unsafe { &**handle.cast::<*mut Watch>() };
    if w.reactor.drive(&w.owner) && !w.notify.get().is_null() {
        // SAFETY: on the environment's thread, inside its loop: as any libuv callback.
        unsafe { call_notify(w) };
    }
}

/// Calls JS's `notify([event])` for each queued event, as Node calls JS from a libuv
/// callback for each read or exit: ticks and microtasks run after each one, before the next
/// (Node's observable order across channels and exits). An exception one lets escape
/// becomes an uncaught exception, and the next event is still delivered.
unsafe fn call_notify(w: &Watch) {
    let env = w.env;
    for event in w.reactor.take_events(&w.owner) {
        // SAFETY (whole block): N-API calls on the environment's thread, handles scoped.
        unsafe {
            let mut scope = ptr::null_mut();
            if n::napi_open_handle_scope(env, &mut scope) != n::Status::napi_ok {
                return;
            }
            let (mut f, mut recv, mut result) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
            if let Ok(events) = napi_events::events_value(&Env::from_raw(env), vec![event]) {
                let argv = [events.raw()];
                if n::napi_get_reference_value(env, w.notify.get(), &mut f) == n::Status::napi_ok
                    && n::napi_get_global(env, &mut recv) == n::Status::napi_ok
                    && n::napi_make_callback(
                        env,
                        w.async_context,
                        recv,
                        f,
                        1,
                        argv.as_ptr(),
                        &mut result,
                    ) == n::Status::napi_pending_exception
                {
                    let mut err = ptr::null_mut();
                    if n::napi_get_and_clear_last_exception(env, &mut err) == n::Status::napi_ok {
                        n::napi_fatal_exception(env, err);
                    }
                }
            }
            n::napi_close_handle_scope(env, scope);
        }
    }
}

unsafe extern "C" fn on_closed(handle: *mut c_void) {
    // SAFETY: the handle is closed: nothing refers to it or to its Watch any more.
    unsafe {
        let watch = Box::from_raw(*handle.cast::<*mut Watch>());
        drop(Box::from_raw(watch.handle));
    }
}
