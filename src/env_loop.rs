//! An environment's own event loop as its local poller (docs/internals.md, "Environments"):
//! one libuv poll handle per descriptor (a plain child's channel socket or pidfd), on the
//! loop N-API gives, as Node has one handle per channel. When one fires, that descriptor is
//! served on this thread and JS's `notify` is called at once through napi_make_callback, so
//! that ticks and microtasks run after it as after any libuv callback in Node. No other
//! thread is woken, and there is no epoll set of our own to wait on or re-arm.
//!
//! libuv's functions are Node's exports, looked up at run time: without them (not Node) the
//! environment simply has no local poller and the reactor thread serves everything.
use crate::id_map::IdMap;
use crate::napi_events;
use crate::owner::{Event, LocalPoller, Owner};
use crate::reactor::Reactor;
use crate::sys;
use napi::sys as n;
use napi::{Env, JsFunction, NapiRaw};
use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::os::fd::RawFd;
use std::ptr::{self, NonNull};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::ThreadId;

type PollCb = unsafe extern "C" fn(*mut c_void, c_int, c_int);
type CloseCb = unsafe extern "C" fn(*mut c_void);

/// `uv_handle_type` UV_POLL and the `uv_poll_event`s UV_READABLE, UV_WRITABLE.
const UV_POLL: c_int = 8;
const UV_READABLE: c_int = 1;
const UV_WRITABLE: c_int = 2;

/// The most events whose room `call_notify` keeps for the next call.
const SPARE_EVENTS: usize = 64;

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
        let f = |name: &std::ffi::CStr| sys::dl::symbol(name).map(NonNull::as_ptr);
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

/// What the poll callbacks need, shared by the environment's handles. Lives until both the
/// environment's state and its `Owner` let go of it; a handle is only open while the
/// reactor holds what it watches, which holds the `Owner`.
struct Watch {
    uv: &'static Uv,
    uv_loop: *mut c_void,
    /// The environment's thread: the only one that may touch its loop.
    thread: ThreadId,
    env: n::napi_env,
    reactor: &'static Reactor,
    owner: Weak<Owner>,
    /// JS's `notify`, once `init` gave it.
    notify: Cell<n::napi_ref>,
    async_context: n::napi_async_context,
    /// Whether the handles keep the loop alive (`setRef`).
    referenced: Cell<bool>,
    /// The open handle of each watched token.
    handles: RefCell<IdMap<usize, *mut Slot>>,
    /// The environment is being torn down: nothing new is watched.
    closed: Cell<bool>,
    /// The room `call_notify` takes events into, kept between calls.
    spare: Cell<Vec<Event>>,
}

// SAFETY: the Cells and raw pointers are only used on `thread` (every method checks it);
// other threads only move the Arc around and drop it, which touches none of them.
unsafe impl Send for Watch {}
// SAFETY: as above.
unsafe impl Sync for Watch {}

/// One uv_poll_t and what its callback needs; the handle's `data` (its first field) points
/// here. Freed in the handle's close callback.
struct Slot {
    watch: *const Watch,
    token: usize,
    /// The uv_poll_t, as u64 words (libuv handles are 8-byte aligned).
    handle: *mut [u64],
}

impl Watch {
    fn on_thread(&self) -> bool {
        std::thread::current().id() == self.thread
    }
}

/// The environment's loop as its `Owner`'s local poller.
struct Poller(Arc<Watch>);

impl LocalPoller for Poller {
    fn watch(
        &self,
        fd: RawFd,
        token: usize,
        readable: bool,
        writable: bool,
    ) -> std::io::Result<()> {
        let w = &self.0;
        if !w.on_thread() || w.closed.get() {
            return Err(std::io::Error::from_raw_os_error(nix::libc::EPERM));
        }
        let events =
            if readable { UV_READABLE } else { 0 } | if writable { UV_WRITABLE } else { 0 };
        let existing = w.handles.borrow().get(&token).copied();
        let uv = w.uv;
        // SAFETY (whole block): libuv calls on this loop's thread, on handles we opened and
        // have not closed; a new handle is zeroed memory of the size libuv asked for.
        let ret = unsafe {
            match existing {
                Some(slot) => {
                    let h = (*slot).handle.cast::<c_void>();
                    if events == 0 {
                        (uv.poll_stop)(h)
                    } else {
                        (uv.poll_start)(h, events, on_ready)
                    }
                }
                None => {
                    let words = (uv.handle_size)(UV_POLL).div_ceil(8);
                    let handle = Box::into_raw(vec![0u64; words].into_boxed_slice());
                    let h = handle.cast::<c_void>();
                    let init = (uv.poll_init)(w.uv_loop, h, fd);
                    if init != 0 {
                        drop(Box::from_raw(handle));
                        init
                    } else {
                        let slot = Box::into_raw(Box::new(Slot {
                            watch: Arc::as_ptr(w),
                            token,
                            handle,
                        }));
                        *h.cast::<*mut Slot>() = slot;
                        if !w.referenced.get() {
                            (uv.unref)(h);
                        }
                        let started = if events == 0 {
                            0
                        } else {
                            (uv.poll_start)(h, events, on_ready)
                        };
                        if started == 0 {
                            w.handles.borrow_mut().insert(token, slot);
                        } else {
                            (uv.close)(h, on_closed);
                        }
                        started
                    }
                }
            }
        };
        if ret == 0 {
            Ok(())
        } else {
            Err(std::io::Error::from_raw_os_error(-ret))
        }
    }

    fn unwatch(&self, token: usize) {
        let w = &self.0;
        if !w.on_thread() {
            return;
        }
        let slot = w.handles.borrow_mut().remove(&token);
        if let Some(slot) = slot {
            // SAFETY: an open handle of this loop; libuv calls on_closed exactly once after
            // uv_close, and stopping takes the descriptor out of the loop's epoll set now.
            unsafe { close_handle(w.uv, slot) };
        }
    }
}

unsafe fn close_handle(uv: &Uv, slot: *mut Slot) {
    // SAFETY: the caller's.
    unsafe {
        let h = (*slot).handle.cast::<c_void>();
        (uv.poll_stop)(h);
        (uv.close)(h, on_closed);
    }
}

/// The environment's local poller, as N-API sees it; JS thread only.
pub struct EnvLoop(Arc<Watch>);

impl EnvLoop {
    /// Whether this process can have local pollers (it is Node, with libuv's exports).
    pub fn available() -> bool {
        uv().is_some()
    }

    /// An owner whose plain children and channels `env`'s loop serves; None if it cannot
    /// (the reactor thread then serves that environment, as when libuv is not reachable).
    /// Handles start unref'd.
    pub fn start(env: &Env, reactor: &'static Reactor) -> Option<(EnvLoop, Arc<Owner>)> {
        let uv = uv()?;
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
        let mut watch = None;
        let owner = Arc::new_cyclic(|owner| {
            let w = Arc::new(Watch {
                uv,
                uv_loop,
                thread: std::thread::current().id(),
                env: raw_env,
                reactor,
                owner: owner.clone(),
                notify: Cell::new(ptr::null_mut()),
                async_context,
                referenced: Cell::new(false),
                handles: RefCell::default(),
                closed: Cell::new(false),
                spare: Cell::default(),
            });
            watch = Some(w.clone());
            Owner::with_local(Box::new(Poller(w)))
        });
        Some((EnvLoop(watch?), owner))
    }

    /// `notify` is called from now on when a poll brought events.
    pub fn set_notify(&self, env: &Env, notify: &JsFunction) -> napi::Result<()> {
        let w = &self.0;
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

    /// Whether the handles keep the loop alive.
    pub fn set_ref(&self, referenced: bool) {
        let w = &self.0;
        w.referenced.set(referenced);
        for &slot in w.handles.borrow().values() {
            // SAFETY: open handles of this loop, on its thread.
            unsafe {
                let h = (*slot).handle.cast::<c_void>();
                if referenced {
                    (w.uv.ref_)(h)
                } else {
                    (w.uv.unref)(h)
                }
            }
        }
    }

    /// The environment is torn down (after the reactor let go of its descriptors): closes
    /// any handle left; their memory goes in the close callbacks.
    pub fn close(self) {
        let w = &self.0;
        w.closed.set(true);
        let slots: Vec<*mut Slot> = w.handles.borrow_mut().drain().map(|(_, s)| s).collect();
        for slot in slots {
            // SAFETY: open handles of this loop, on its thread.
            unsafe { close_handle(w.uv, slot) };
        }
    }
}

unsafe extern "C" fn on_ready(handle: *mut c_void, status: c_int, events: c_int) {
    // SAFETY: `data` was set to the Slot when the handle was opened; the Slot lives until
    // on_closed, its Watch while the handle is open (see Watch).
    let (slot, w) = unsafe {
        let slot = &**handle.cast::<*mut Slot>();
        (slot, &*slot.watch)
    };
    let Some(owner) = w.owner.upgrade() else {
        // Cannot happen while the reactor holds what it watches (see Watch); a level-
        // triggered handle left on would only spin.
        // SAFETY: this open handle, in its own callback.
        unsafe { (w.uv.poll_stop)(handle) };
        return;
    };
    let readable = events & UV_READABLE != 0;
    let writable = events & UV_WRITABLE != 0;
    if w.reactor
        .local_ready(&owner, slot.token, readable, writable, status < 0)
        && !w.notify.get().is_null()
    {
        // SAFETY: on the environment's thread, inside its loop: as any libuv callback.
        unsafe { call_notify(w, &owner) };
    }
}

/// Calls JS's `notify(kind, id, a, b)` for each queued event, as Node calls JS from a libuv
/// callback for each read or exit: ticks and microtasks run after each one, before the next
/// (Node's observable order across channels and exits). An exception one lets escape
/// becomes an uncaught exception, and the next event is still delivered.
unsafe fn call_notify(w: &Watch, owner: &Owner) {
    let env = w.env;
    let mut events = w.spare.take();
    w.reactor.take_events_into(owner, &mut events);
    for event in events.drain(..) {
        // SAFETY (whole block): N-API calls on the environment's thread, handles scoped.
        unsafe {
            let mut scope = ptr::null_mut();
            if n::napi_open_handle_scope(env, &mut scope) != n::Status::napi_ok {
                break;
            }
            let (mut f, mut recv, mut result) = (ptr::null_mut(), ptr::null_mut(), ptr::null_mut());
            if let Ok(argv) = napi_events::event_values(&Env::from_raw(env), event) {
                if n::napi_get_reference_value(env, w.notify.get(), &mut f) == n::Status::napi_ok
                    && n::napi_get_global(env, &mut recv) == n::Status::napi_ok
                    && n::napi_make_callback(
                        env,
                        w.async_context,
                        recv,
                        f,
                        argv.len(),
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
    // A burst's room is not held on to.
    if events.capacity() <= SPARE_EVENTS {
        w.spare.set(events);
    }
}

unsafe extern "C" fn on_closed(handle: *mut c_void) {
    // SAFETY: the handle is closed: nothing refers to it or to its Slot any more.
    unsafe {
        let slot = Box::from_raw(*handle.cast::<*mut Slot>());
        drop(Box::from_raw(slot.handle));
    }
}
