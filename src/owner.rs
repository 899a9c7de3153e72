//! One N-API environment's share of the reactor (docs/internals.md, "Environments"): its
//! event queue and notifier, and (when it has one) its local poller: the environment's own
//! event loop, watching the descriptors of the plain children and channels that its thread
//! reads, so that their messages cost no hop through the reactor thread. Every child, channel and listener belongs to exactly one
//! `Owner`; its events go to that queue only, so a worker thread's JavaScript never sees (nor
//! steals) the main thread's events. An owner whose environment ended is `released`: it takes
//! no more events, and the reactor lets go of what it owned.
use crate::id_map::IdMap;
use crate::ipc::Serialization;
use std::mem;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard};

pub type Notify = Box<dyn Fn() + Send + Sync>;

/// What `drain()` hands to JS; see docs/internals.md for the JS shapes.
#[derive(Debug)]
pub enum Event {
    Exit {
        pid: i32,
        status: Option<i32>,
        signal: Option<i32>,
    },
    Data {
        channel: u32,
        /// How the frames in `buf` are delimited (json frames reach JS as one string).
        mode: Serialization,
        buf: Vec<u8>,
        fds: Vec<OwnedFd>,
    },
    Drain {
        channel: u32,
    },
    Error {
        channel: u32,
        code: String,
        message: String,
    },
    Close {
        channel: u32,
    },
    /// A stopped round-robin listener (`rrStop`) has had all its connections answered.
    Stopped {
        listener: u32,
    },
    /// The reactor thread stopped (its poller failed): nothing more will be delivered.
    Fatal {
        message: String,
    },
}

#[derive(Default)]
pub struct Queue {
    pub events: Vec<Event>,
    /// Index in `events` of each channel's data event, which later reads extend: JS gets one
    /// buffer per channel per drain.
    pub data_at: IdMap<u32, usize>,
    /// Channels paused since the last drain.
    pub paused: Vec<u32>,
}

/// The environment's event loop as a poller of single descriptors, level-triggered: while a
/// watched descriptor is ready, the loop hands `(token, readiness)` to the reactor on every
/// turn (`Reactor::local_ready`). Only the environment's own thread may call it; the reactor
/// reaches a local descriptor from no other.
pub trait LocalPoller: Send + Sync {
    /// Starts watching `fd` under `token`, or changes what it is watched for; both false
    /// pauses it. Err: the loop cannot watch it (the reactor thread then serves it).
    fn watch(&self, fd: RawFd, token: usize, readable: bool, writable: bool)
        -> std::io::Result<()>;
    /// Stops watching `token` for good; its descriptor may be closed right after.
    fn unwatch(&self, token: usize);
}

#[derive(Default)]
pub struct Owner {
    queue: Mutex<Queue>,
    notify: Mutex<Option<Notify>>,
    released: AtomicBool,
    /// Set while the environment's thread drives its local poller: events it queues are
    /// handed to JS when it is done, not through `notify`.
    driving: AtomicBool,
    /// Round-robin listeners this environment created (closed when it ends).
    pub listeners: Mutex<Vec<u32>>,
    pub local: Option<Box<dyn LocalPoller>>,
}

/// Poisoning only means another thread panicked mid-update of plain data; carry on.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Owner {
    /// An owner whose plain children and channels `local` watches.
    pub fn with_local(local: Box<dyn LocalPoller>) -> Owner {
        Owner {
            local: Some(local),
            ..Owner::default()
        }
    }

    /// Marks the start (true) or end of a local poller's callback. Returns, at the end,
    /// whether events wait for JS.
    pub fn set_driving(&self, on: bool) -> bool {
        self.driving.store(on, SeqCst);
        !on && !lock(&self.queue).events.is_empty()
    }

    pub fn is_released(&self) -> bool {
        self.released.load(SeqCst)
    }

    /// Marks the environment gone: later events are dropped, the notifier is let go.
    pub fn release(&self) {
        self.released.store(true, SeqCst);
        let notify = lock(&self.notify).take();
        drop(notify);
        let queue = mem::take(&mut *lock(&self.queue));
        // Received descriptors in undrained data events are closed here.
        drop(queue);
    }

    /// `notify()` is called (on any thread) whenever the queue goes from empty to non-empty.
    pub fn set_notify(&self, notify: Notify) {
        if self.is_released() {
            return;
        }
        *lock(&self.notify) = Some(notify);
        if !lock(&self.queue).events.is_empty() {
            self.notify();
        }
    }

    /// Runs `f` on the queue; notifies if it went from empty to non-empty. Nothing is queued
    /// once released.
    pub fn with_queue<R>(&self, f: impl FnOnce(&mut Queue) -> R) -> R {
        let (out, wake) = {
            let mut q = lock(&self.queue);
            let was_empty = q.events.is_empty();
            let out = f(&mut q);
            if self.is_released() {
                *q = Queue::default();
            }
            (out, was_empty && !q.events.is_empty())
        };
        if wake {
            self.notify();
        }
        out
    }

    pub fn push(&self, events: impl IntoIterator<Item = Event>) {
        self.with_queue(|q| q.events.extend(events));
    }

    /// Moves every queued event, oldest first, into `events` (empty: its room becomes the
    /// queue's, so that a caller that reuses it allocates nothing per take). Returns the
    /// channels paused since the last take.
    pub fn take(&self, events: &mut Vec<Event>) -> Vec<u32> {
        debug_assert!(events.is_empty(), "take into a vector with events in it");
        let mut q = lock(&self.queue);
        q.data_at.clear();
        mem::swap(&mut q.events, events);
        mem::take(&mut q.paused)
    }

    /// Drops the undrained data events of channel `id`.
    pub fn purge_data(&self, id: u32) {
        let mut q = lock(&self.queue);
        if q.data_at.remove(&id).is_none() {
            return;
        }
        let Queue {
            events, data_at, ..
        } = &mut *q;
        events.retain(|e| !matches!(e, Event::Data { channel, .. } if *channel == id));
        data_at.clear();
        for (i, e) in events.iter().enumerate() {
            if let Event::Data { channel, .. } = e {
                data_at.insert(*channel, i);
            }
        }
    }

    fn notify(&self) {
        // The driving thread hands the queue to JS itself once done (see set_driving).
        if self.driving.load(SeqCst) {
            return;
        }
        if let Some(notify) = lock(&self.notify).as_ref() {
            notify();
        }
    }
}
