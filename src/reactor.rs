//! The one background thread: a mio poller over child pidfds, IPC channel sockets and the
//! round-robin listeners, feeding each environment's event queue (docs/internals.md,
//! "Reactor and channels", "Environments" and "Cluster").
//!
//! Lock order: a channel's reader, the scheduler, a channel's writer, then an owner's event
//! queue; the channel and child maps are only held on their own (kill and reap hold the child
//! map across their syscall, so a signal never reaches a pid that was reaped and maybe reused).
use crate::cluster::scheduler::{Link, Scheduler, Wire, LISTENER};
use crate::cluster::wire::{self, Reply};
use crate::id_map::IdMap;
use crate::ipc::channel::{Origin, Pass, ReadEnd, Reader, Writer};
use crate::ipc::framing;
use crate::ipc::Serialization;
use crate::owner::{lock, Event, LocalPoller, Owner};
use crate::sys;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use nix::errno::Errno;
use nix::libc;
use std::borrow::Cow;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Tokens with this bit set watch a child's pidfd (the rest is the pid); with LISTENER, a
/// round-robin listener (the rest is its id); WAKER is the scheduler's wake-up from the JS
/// thread; others are channel ids.
const CHILD: usize = 1 << (usize::BITS - 1);
const WAKER: Token = Token(1 << (usize::BITS - 3));
/// A channel stops reading while this many of its bytes wait for `drain()`, so a child that
/// outpaces the JS thread is held back by the socket, as when Node reads the channel itself.
const HIGH_WATER: usize = 4 << 20;
const TOO_LARGE: &str = "ERR_IPC_MESSAGE_TOO_LARGE";
/// Bytes of frames a local poller takes from one channel per loop turn (Node's read size);
/// the loop is level-triggered, so it reports the rest on its next turn.
const LOCAL_READ_BUDGET: usize = 64 * 1024;

pub struct Chan {
    pub id: u32,
    pub mode: Serialization,
    /// The environment whose JS gets this channel's events.
    owner: Arc<Owner>,
    /// Read by the reactor thread; otherwise by the owner's local poller. Channels move here
    /// when they join a round-robin listener, whose replies must flow while JS is blocked.
    on_reactor: AtomicBool,
    /// Closed when the last reference goes, so no thread ever uses a recycled descriptor.
    fd: OwnedFd,
    reader: Mutex<Reader>,
    writer: Mutex<Writer>,
    /// `channelClose` was called: reads are discarded, the close waits for the write queue.
    closing: AtomicBool,
    /// The close event is queued; the channel is out of the map and the poller.
    pub closed: AtomicBool,
    /// Reading stopped at HIGH_WATER until the next `drain()`.
    paused: AtomicBool,
    /// Reads are checked for replies meant for the reactor (handle ACKs, newconn answers):
    /// set once a descriptor was sent or the channel joined a listener. Other channels'
    /// messages go to JS without a look.
    pub watch: AtomicBool,
}

/// A watched child: its pidfd (for kill and the exit edge) and who gets its `exit`; None
/// once that environment ended (the child is still reaped, silently).
struct Child {
    pidfd: OwnedFd,
    owner: Option<Arc<Owner>>,
    /// Registered with the owner's local poller (else with the reactor's).
    local: bool,
}

pub struct Reactor {
    registry: Registry,
    channels: Mutex<IdMap<u32, Arc<Chan>>>,
    children: Mutex<IdMap<i32, Child>>,
    /// Every environment that used the reactor, for the failure report.
    owners: Mutex<Vec<Weak<Owner>>>,
    /// Set when the thread stopped: the reason, reported to callers from then on.
    failed: OnceLock<String>,
    next_id: AtomicU32,
    scheduler: Mutex<Scheduler<Chan>>,
    waker: Waker,
}

/// Why the reactor is unusable: it could not be started (`errno` says why, when a system call
/// failed), or its thread stopped.
#[derive(Debug, Clone)]
pub struct Unavailable {
    pub message: String,
    pub errno: Option<i32>,
}

/// The reactor, started on first use. Its thread is detached and blocks in epoll_wait, so it
/// never holds up process exit. A failed start is not remembered: it may be transient (no
/// descriptor left, say), and the next call tries again.
pub fn reactor() -> Result<&'static Reactor, Unavailable> {
    static REACTOR: OnceLock<Reactor> = OnceLock::new();
    static STARTING: Mutex<()> = Mutex::new(());
    let r = match REACTOR.get() {
        Some(r) => r,
        None => {
            // The reactor thread's own first call waits here until its reactor is set.
            let _starting = lock(&STARTING);
            if REACTOR.get().is_none() {
                // Under STARTING nobody else sets it, so this set cannot fail.
                let _ = REACTOR.set(start()?);
            }
            REACTOR.get().ok_or_else(|| Unavailable {
                message: "rust-cluster: the reactor did not start".into(),
                errno: None,
            })?
        }
    };
    match r.failed.get() {
        Some(reason) => Err(Unavailable {
            message: reason.clone(),
            errno: None,
        }),
        None => Ok(r),
    }
}

fn start() -> Result<Reactor, Unavailable> {
    let fail = |what: &str, e: std::io::Error| Unavailable {
        message: format!("rust-cluster: cannot {what}: {e}"),
        errno: e.raw_os_error(),
    };
    let poll = Poll::new().map_err(|e| fail("create the reactor's epoll instance", e))?;
    let registry = poll
        .registry()
        .try_clone()
        .map_err(|e| fail("clone the reactor's registry", e))?;
    let waker = Waker::new(&registry, WAKER)
        .map_err(|e| fail("create the reactor's wake-up eventfd", e))?;
    std::thread::Builder::new()
        .name("rust-cluster-reactor".into())
        .spawn(move || {
            if let Ok(r) = reactor() {
                r.run(poll);
            }
        })
        .map_err(|e| fail("start the reactor thread", e))?;
    Ok(Reactor {
        registry,
        channels: Mutex::default(),
        children: Mutex::default(),
        owners: Mutex::default(),
        failed: OnceLock::new(),
        next_id: AtomicU32::new(1),
        scheduler: Mutex::default(),
        waker,
    })
}

impl Reactor {
    /// Records `owner` for the failure report (once per environment).
    pub fn adopt(&self, owner: &Arc<Owner>) {
        let mut owners = lock(&self.owners);
        owners.retain(|o| o.strong_count() > 0);
        owners.push(Arc::downgrade(owner));
    }

    /// Watch a freshly spawned child: the reactor registers its pidfd, reaps it by pid when it
    /// exits and queues an `exit` event for `owner`. Keeps the pidfd for `kill`.
    pub fn watch_exit(&self, owner: &Arc<Owner>, pid: i32, pidfd: OwnedFd) {
        let raw = pidfd.as_raw_fd();
        let token = Token(CHILD | pid as usize);
        // Its own loop first; the reactor's poller if that loop cannot watch it.
        let local = self
            .poller(owner, false)
            .local()
            .is_some_and(|l| l.watch(raw, token.0, true, false).is_ok());
        let owner = Some(owner.clone());
        lock(&self.children).insert(
            pid,
            Child {
                pidfd,
                owner,
                local,
            },
        );
        if !local
            && self
                .registry
                .register(&mut SourceFd(&raw), token, Interest::READABLE)
                .is_err()
        {
            // epoll is out of memory or watches: wait for this one exit on a thread of its
            // own, and let the usual path reap and report it.
            let dup = lock(&self.children)
                .get(&pid)
                .and_then(|c| c.pidfd.try_clone().ok());
            let Some(dup) = dup else {
                return;
            };
            std::thread::spawn(move || {
                let _ = sys::fd::wait_readable(dup.as_fd());
                if let Ok(r) = reactor() {
                    r.reap(pid);
                }
            });
        }
    }

    /// Send `signal` to a child of `owner`, watched and unreaped, through its pidfd.
    /// Err(ESRCH) once reaped (or if it is another environment's).
    pub fn kill(&self, owner: &Arc<Owner>, pid: i32, signal: i32) -> Result<(), Errno> {
        let children = lock(&self.children);
        let child = children
            .get(&pid)
            .filter(|c| c.owner.as_ref().is_some_and(|o| Arc::ptr_eq(o, owner)))
            .ok_or(Errno::ESRCH)?;
        sys::process::pidfd_send_signal(child.pidfd.as_fd(), signal)
    }

    /// Register the parent end of an IPC socketpair for `owner`; returns the channel id used
    /// in events.
    pub fn open_channel(
        &self,
        owner: &Arc<Owner>,
        fd: OwnedFd,
        mode: Serialization,
        max_message_size: usize,
    ) -> u32 {
        let id = self.next_id.fetch_add(1, SeqCst);
        let ch = Arc::new(Chan {
            id,
            mode,
            owner: owner.clone(),
            on_reactor: AtomicBool::new(owner.local.is_none()),
            fd,
            reader: Mutex::new(Reader::new(mode, max_message_size)),
            writer: Mutex::default(),
            closing: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            watch: AtomicBool::new(false),
        });
        lock(&self.channels).insert(id, ch.clone());
        let armed = sys::fd::set_nonblock(ch.fd.as_raw_fd()).and_then(|()| {
            self.arm(&ch, false, false).or_else(|e| {
                // Its own loop cannot watch it: the reactor thread serves it.
                if ch.on_reactor.swap(true, SeqCst) {
                    Err(e)
                } else {
                    self.arm(&ch, false, false)
                }
            })
        });
        if let Err(e) = armed {
            let code = errno_code(e);
            self.finish(&ch, Some((code.clone(), format!("open {code}"))));
        }
        id
    }

    /// `channelWrite`: bytes still queued on the channel, or a negative errno.
    pub fn channel_write(
        &self,
        owner: &Arc<Owner>,
        id: u32,
        data: &[u8],
        pass: Option<BorrowedFd>,
    ) -> i64 {
        let Some(ch) = self.channel_of(owner, id) else {
            return -i64::from(libc::EBADF);
        };
        match self.write(&ch, data, pass.map(Pass::Borrowed), Origin::Js) {
            Ok(queued) => queued as i64,
            Err(e) => -i64::from(e as i32),
        }
    }

    /// Runs `f` on the scheduler from the JS thread (`rr*` exports), then wakes the reactor
    /// if a listener can accept now.
    pub fn with_scheduler<R>(&self, f: impl FnOnce(&mut Scheduler<Chan>, &Reactor) -> R) -> R {
        let mut s = lock(&self.scheduler);
        let out = f(&mut s, self);
        let wake = s.has_ready() | s.take_rewatch();
        drop(s);
        if wake {
            // Only fails if the eventfd counter would overflow, i.e. a wake-up is pending.
            let _ = self.waker.wake();
        }
        out
    }

    /// `owner`'s open channel with this id.
    pub fn channel_of(&self, owner: &Arc<Owner>, id: u32) -> Option<Arc<Chan>> {
        self.channel(id).filter(|ch| Arc::ptr_eq(&ch.owner, owner))
    }

    /// `channelClose`: stop delivering reads, close once the write queue is flushed (or the
    /// peer is gone), then queue `close`. Data events not yet drained for the channel are
    /// dropped.
    pub fn channel_close(&self, owner: &Arc<Owner>, id: u32) {
        if let Some(ch) = self.channel_of(owner, id) {
            self.close(&ch);
        }
    }

    fn close(&self, ch: &Chan) {
        if ch.closing.swap(true, SeqCst) {
            return;
        }
        ch.owner.purge_data(ch.id);
        let idle = lock(&ch.writer).is_empty();
        if idle {
            self.finish(ch, None);
        }
    }

    /// Every event queued for `owner`, oldest first.
    pub fn take_events(&self, owner: &Owner) -> Vec<Event> {
        let mut events = Vec::new();
        self.take_events_into(owner, &mut events);
        events
    }

    /// Moves every event queued for `owner` into `events` (see `Owner::take`); resumes its
    /// channels paused at HIGH_WATER.
    pub fn take_events_into(&self, owner: &Owner, events: &mut Vec<Event>) {
        let paused = owner.take(events);
        for id in paused {
            if let Some(ch) = self.channel(id) {
                ch.paused.store(false, SeqCst);
                // Re-arming reads again (and makes epoll report data already waiting).
                let writer = lock(&ch.writer);
                let _ = self.arm(&ch, true, !writer.is_empty());
            }
        }
    }

    /// The environment of `owner` ended: its channels close at once (queued writes
    /// dropped), its listeners close, its children are left running and are reaped
    /// silently when they exit. Nothing is queued for it any more.
    pub fn release(&self, owner: &Arc<Owner>) {
        owner.release();
        let mine: Vec<Arc<Chan>> = lock(&self.channels)
            .values()
            .filter(|ch| Arc::ptr_eq(&ch.owner, owner))
            .cloned()
            .collect();
        for ch in mine {
            ch.closing.store(true, SeqCst);
            self.finish(&ch, None);
        }
        for (pid, child) in lock(&self.children).iter_mut() {
            if child.owner.as_ref().is_some_and(|o| Arc::ptr_eq(o, owner)) {
                child.owner = None;
                if child.local {
                    // The local poller goes with the environment: the reactor reaps it.
                    child.local = false;
                    let token = Token(CHILD | *pid as usize);
                    let raw = child.pidfd.as_raw_fd();
                    self.poller(owner, false).unwatch(raw, token);
                    let _ = self
                        .registry
                        .register(&mut SourceFd(&raw), token, Interest::READABLE);
                }
            }
        }
        let listeners = std::mem::take(&mut *lock(&owner.listeners));
        self.with_scheduler(|s, r| {
            for id in listeners {
                s.close(r, id);
            }
        });
    }

    /// The thread cannot go on: every environment gets a `fatal` event, and later calls an
    /// error, instead of waiting forever.
    fn fail(&self, reason: String) {
        let _ = self.failed.set(reason.clone());
        let owners: Vec<Arc<Owner>> = lock(&self.owners)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for owner in owners {
            owner.push([Event::Fatal {
                message: reason.clone(),
            }]);
        }
    }

    fn run(&self, mut poll: Poll) {
        let mut events = Events::with_capacity(256);
        // Listeners still had connections to accept after the last round: poll without
        // blocking, so that other events are served in between.
        let mut more = false;
        // Until the next look at the direct listeners' accept queues (SCHED_ADAPTIVE).
        let mut watch = None;
        loop {
            let timeout = if more { Some(Duration::ZERO) } else { watch };
            if let Err(e) = poll.poll(&mut events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                self.fail(format!(
                    "rust-cluster: the reactor thread stopped: epoll_wait: {e}"
                ));
                return;
            }
            for ev in events.iter() {
                self.handle(ev);
            }
            let mut s = lock(&self.scheduler);
            more = s.accept_ready(self);
            watch = s.watch(self, Instant::now());
        }
    }

    /// One readiness event of the reactor's poller.
    fn handle(&self, ev: &mio::event::Event) {
        let hup = ev.is_read_closed() || ev.is_error();
        self.ready(
            ev.token().0,
            ev.is_readable() || hup,
            ev.is_writable() || ev.is_write_closed() || ev.is_error(),
            hup,
        );
    }

    /// A descriptor `owner`'s local poller watches under `token` is ready, as its loop says
    /// (`failed`: the loop reports an error on it). Runs on the owner's thread. Returns
    /// whether events now wait for JS.
    pub fn local_ready(
        &self,
        owner: &Owner,
        token: usize,
        readable: bool,
        writable: bool,
        failed: bool,
    ) -> bool {
        owner.set_driving(true);
        self.ready(token, readable || failed, writable || failed, failed);
        owner.set_driving(false)
    }

    /// Serves one ready descriptor; `hup`: the peer may be gone, read to the end.
    fn ready(&self, token: usize, readable: bool, writable: bool, hup: bool) {
        if token & CHILD != 0 {
            self.reap((token & !CHILD) as i32);
        } else if token & LISTENER != 0 {
            lock(&self.scheduler).readable((token & !LISTENER) as u32);
        } else if Token(token) == WAKER {
            // The JS thread made room for listeners: the run loop accepts next.
        } else if let Some(ch) = self.channel(token as u32) {
            if readable {
                self.read(&ch, hup);
            }
            if writable {
                self.flush(&ch);
            }
        }
    }

    /// Moves a channel to the reactor thread (it joins a round-robin listener).
    pub fn to_reactor(&self, ch: &Chan) {
        let writer = lock(&ch.writer);
        if ch.closed.load(SeqCst) || ch.on_reactor.swap(true, SeqCst) {
            return;
        }
        let token = Token(ch.id as usize);
        self.poller(&ch.owner, false)
            .unwatch(ch.fd.as_raw_fd(), token);
        if let Err(e) = self.arm(ch, false, !writer.is_empty()) {
            drop(writer);
            let code = errno_code(e);
            self.finish(ch, Some((code.clone(), format!("open {code}"))));
        }
    }

    /// The reactor's poller, or `owner`'s local one.
    fn poller<'a>(&'a self, owner: &'a Owner, on_reactor: bool) -> Poller<'a> {
        match &owner.local {
            Some(local) if !on_reactor => Poller::Local(local.as_ref()),
            _ => Poller::Reactor(&self.registry),
        }
    }

    /// Writes to a channel for JS or the scheduler: bytes still queued, or EBADF once the
    /// channel is closing.
    pub fn write(
        &self,
        ch: &Chan,
        data: &[u8],
        pass: Option<Pass>,
        origin: Origin,
    ) -> Result<usize, Errno> {
        if pass.is_some() {
            // Before the write: the ACK can come back as soon as it is out.
            ch.watch.store(true, SeqCst);
        }
        let mut writer = lock(&ch.writer);
        if ch.closing.load(SeqCst) || ch.closed.load(SeqCst) {
            return Err(Errno::EBADF);
        }
        let was_empty = writer.is_empty();
        let queued = writer.write(ch.fd.as_fd(), data, pass, origin)?;
        if was_empty && queued > 0 {
            // The reactor flushes on the next writable edge; arming makes epoll check now,
            // in case the peer drained the socket since our send.
            let _ = self.arm(ch, true, true);
        }
        Ok(queued)
    }

    fn channel(&self, id: u32) -> Option<Arc<Chan>> {
        lock(&self.channels).get(&id).cloned()
    }

    /// Registers (or re-arms) the channel socket for reading (a local poller: unless it is
    /// paused) and, while bytes are queued (`writing`), for writing: a writable edge comes
    /// each time the peer reads, which would wake the poller for nothing. Re-arming is done
    /// with the writer locked, so that the interest follows the queue.
    fn arm(&self, ch: &Chan, again: bool, writing: bool) -> Result<(), Errno> {
        let reading = !ch.paused.load(SeqCst);
        self.poller(&ch.owner, ch.on_reactor.load(SeqCst)).watch(
            ch.fd.as_raw_fd(),
            Token(ch.id as usize),
            reading,
            writing,
            again,
        )
    }

    fn reap(&self, pid: i32) {
        let mut children = lock(&self.children);
        let Some(child) = children.get(&pid) else {
            return;
        };
        let (status, signal) = match sys::process::wait_pidfd(child.pidfd.as_fd(), libc::WNOHANG) {
            Ok(Some(sys::process::Exit::Code(code))) => (Some(code), None),
            Ok(Some(sys::process::Exit::Signal(signal))) => (None, Some(signal)),
            // Not exited after all (spurious wake-up): wait for the next one.
            Ok(None) => return,
            // Reaped behind our back (a waitpid(-1) elsewhere in the process): status lost.
            Err(_) => (None, None),
        };
        let child = children.remove(&pid);
        drop(children);
        let Some(child) = child else {
            return;
        };
        let poller = match &child.owner {
            Some(owner) => self.poller(owner, !child.local),
            None => Poller::Reactor(&self.registry),
        };
        poller.unwatch(child.pidfd.as_raw_fd(), Token(CHILD | pid as usize));
        if let Some(owner) = child.owner {
            owner.push([Event::Exit {
                pid,
                status,
                signal,
            }]);
        }
    }

    fn read(&self, ch: &Chan, hup: bool) {
        if ch.closed.load(SeqCst) {
            return;
        }
        // Closing: the socket is drained anyway, so the peer is never stuck, and its EOF seen.
        if ch.paused.load(SeqCst) && !ch.closing.load(SeqCst) {
            return;
        }
        // On a local poller, one read's worth per channel and poll, as Node reads: a peer
        // that never stops writing must not hold up the other channels nor its own delivery.
        let mut budget = if ch.on_reactor.load(SeqCst) {
            usize::MAX
        } else {
            LOCAL_READ_BUDGET
        };
        let mut reader = lock(&ch.reader);
        let end = reader.read(ch.fd.as_fd(), hup, &mut |b, fds| {
            budget = budget.saturating_sub(b.len());
            self.receive(ch, b, fds, true) && budget > 0
        });
        drop(reader);
        let error = match end {
            ReadEnd::WouldBlock => return,
            ReadEnd::Stopped => {
                if ch.paused.load(SeqCst) && !ch.on_reactor.load(SeqCst) {
                    // A level-triggered loop would report the unread socket on every turn.
                    let writer = lock(&ch.writer);
                    let _ = self.arm(ch, true, !writer.is_empty());
                }
                return;
            }
            ReadEnd::Eof => None,
            ReadEnd::TooLarge(t) => Some((TOO_LARGE.to_string(), t.message())),
            ReadEnd::Failed(e) => {
                let code = errno_code(e);
                let message = format!("read {code}");
                Some((code, message))
            }
        };
        // A close that JS asked for ends quietly.
        self.finish(ch, error.filter(|_| !ch.closing.load(SeqCst)));
    }

    /// A run of complete frames read from `ch`: replies meant for the reactor are handled,
    /// the rest goes to JS (dropped if the channel is closing). False to stop reading.
    fn receive(&self, ch: &Chan, run: &[u8], fds: Vec<OwnedFd>, may_pause: bool) -> bool {
        let run = if ch.watch.load(SeqCst) {
            self.intercept(ch, run)
        } else {
            Cow::Borrowed(run)
        };
        if ch.closing.load(SeqCst) || (run.is_empty() && fds.is_empty()) {
            return true;
        }
        self.deliver(ch, &run, fds, may_pause)
    }

    /// Takes out of `run` the worker's replies to what the scheduler sent: ACK/NACKs whose
    /// handle the scheduler wrote (the writer's origin FIFO says whose each one is) and
    /// `{ack, accepted}` for a seq outstanding on this channel. Returns the rest.
    fn intercept<'a>(&self, ch: &Chan, run: &'a [u8]) -> Cow<'a, [u8]> {
        let mut scheduler: Option<MutexGuard<Scheduler<Chan>>> = None;
        let mut kept: Option<Vec<u8>> = None;
        let mut at = 0;
        for frame in framing::frames(ch.mode, run) {
            let start = at;
            at += frame.len();
            let consumed = match wire::reply(ch.mode, frame) {
                None => false,
                Some(reply @ (Reply::Ack | Reply::Nack)) => {
                    let origin = lock(&ch.writer).pop_origin();
                    match origin {
                        Some(Origin::Scheduler(seq)) => {
                            if reply == Reply::Nack {
                                let s = scheduler.get_or_insert_with(|| lock(&self.scheduler));
                                s.nack(self, ch.id, seq);
                            }
                            true
                        }
                        _ => false,
                    }
                }
                Some(Reply::Cluster { ack, accepted }) => scheduler
                    .get_or_insert_with(|| lock(&self.scheduler))
                    .reply(self, ch.id, ack, accepted),
            };
            match (&mut kept, consumed) {
                (Some(k), false) => k.extend_from_slice(frame),
                (None, true) => kept = Some(run[..start].to_vec()),
                _ => {}
            }
        }
        kept.map_or(Cow::Borrowed(run), Cow::Owned)
    }

    /// Appends complete frames to the channel's pending data event. Returns false to stop
    /// reading: the channel is closing, or (with `may_pause`) it reached HIGH_WATER.
    fn deliver(&self, ch: &Chan, bytes: &[u8], fds: Vec<OwnedFd>, may_pause: bool) -> bool {
        ch.owner.with_queue(|q| {
            // channelClose purges undrained data under this lock; whatever is read after is
            // dropped.
            if ch.closing.load(SeqCst) {
                return false;
            }
            let pending = if let Some(Event::Data { buf, fds: held, .. }) =
                q.data_at.get(&ch.id).map(|&i| &mut q.events[i])
            {
                buf.extend_from_slice(bytes);
                held.extend(fds);
                buf.len()
            } else {
                q.data_at.insert(ch.id, q.events.len());
                q.events.push(Event::Data {
                    channel: ch.id,
                    mode: ch.mode,
                    buf: bytes.to_vec(),
                    fds,
                });
                bytes.len()
            };
            let pause = may_pause && pending >= HIGH_WATER;
            if pause {
                ch.paused.store(true, SeqCst);
                q.paused.push(ch.id);
            }
            !pause
        })
    }

    fn flush(&self, ch: &Chan) {
        if ch.closed.load(SeqCst) {
            return;
        }
        let mut writer = lock(&ch.writer);
        if writer.is_empty() {
            return;
        }
        let res = writer.flush(ch.fd.as_fd());
        let drain = res == Ok(true) && writer.take_drain_wanted();
        if res == Ok(true) {
            let _ = self.arm(ch, true, false);
        }
        drop(writer);
        match res {
            Ok(false) => {}
            Ok(true) if ch.closing.load(SeqCst) => self.finish(ch, None),
            Ok(true) => {
                if drain {
                    ch.owner.push([Event::Drain { channel: ch.id }]);
                }
            }
            Err(_) if ch.closing.load(SeqCst) => self.finish(ch, None),
            Err(e) => {
                // The peer is gone: hand JS what it had sent before, then report and close.
                let mut reader = lock(&ch.reader);
                let end = reader.read(ch.fd.as_fd(), true, &mut |b, fds| {
                    self.receive(ch, b, fds, false)
                });
                drop(reader);
                let code = errno_code(e);
                let error = match end {
                    ReadEnd::TooLarge(t) => (TOO_LARGE.to_string(), t.message()),
                    _ => (code.clone(), format!("write {code}")),
                };
                self.finish(ch, Some(error));
            }
        }
    }

    /// Ends a channel once: out of the poller and the map, queued writes dropped, then
    /// `error` (if any) and `close` queued. The socket closes with the last reference.
    fn finish(&self, ch: &Chan, error: Option<(String, String)>) {
        if ch.closed.swap(true, SeqCst) {
            return;
        }
        let poller = self.poller(&ch.owner, ch.on_reactor.load(SeqCst));
        poller.unwatch(ch.fd.as_raw_fd(), Token(ch.id as usize));
        lock(&self.channels).remove(&ch.id);
        lock(&ch.writer).discard();
        // Its unanswered connections go to other workers.
        lock(&self.scheduler).channel_gone(self, ch.id);
        let error = error.map(|(code, message)| Event::Error {
            channel: ch.id,
            code,
            message,
        });
        ch.owner
            .push(error.into_iter().chain([Event::Close { channel: ch.id }]));
    }
}

/// Where a descriptor is watched: the reactor thread's poller (edge-triggered, always for
/// reading) or its owner's own loop (level-triggered).
enum Poller<'a> {
    Reactor(&'a Registry),
    Local(&'a dyn LocalPoller),
}

impl Poller<'_> {
    fn local(&self) -> Option<&dyn LocalPoller> {
        match self {
            Poller::Local(l) => Some(*l),
            Poller::Reactor(_) => None,
        }
    }

    /// Watches `fd` (`again`: changes how it is watched).
    fn watch(
        &self,
        fd: RawFd,
        token: Token,
        reading: bool,
        writing: bool,
        again: bool,
    ) -> Result<(), Errno> {
        match self {
            Poller::Local(l) => l.watch(fd, token.0, reading, writing),
            Poller::Reactor(registry) => {
                let interest = if writing {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                let source = &mut SourceFd(&fd);
                if again {
                    registry.reregister(source, token, interest)
                } else {
                    registry.register(source, token, interest)
                }
            }
        }
        .map_err(sys::io_errno)
    }

    fn unwatch(&self, fd: RawFd, token: Token) {
        match self {
            Poller::Local(l) => l.unwatch(token.0),
            Poller::Reactor(registry) => {
                let _ = registry.deregister(&mut SourceFd(&fd));
            }
        }
    }
}

impl Link for Chan {
    fn id(&self) -> u32 {
        self.id
    }

    fn mode(&self) -> Serialization {
        self.mode
    }

    fn is_closed(&self) -> bool {
        self.closed.load(SeqCst)
    }

    fn watch_replies(&self) {
        self.watch.store(true, SeqCst);
    }
}

impl Wire<Chan> for Reactor {
    fn registry(&self) -> &Registry {
        &self.registry
    }

    fn send_handle(&self, ch: &Chan, frame: &[u8], conn: &Arc<OwnedFd>, seq: u64) -> bool {
        let pass = Some(Pass::Shared(conn));
        self.write(ch, frame, pass, Origin::Scheduler(seq)).is_ok()
    }
}

/// Node's error code for an errno: its symbolic name, e.g. "EPIPE".
fn errno_code(e: Errno) -> String {
    format!("{e:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    use std::io::{Read, Write};
    use std::mem;
    use std::os::unix::net::UnixStream;
    use std::sync::mpsc;
    use std::time::Duration;

    /// The environment the tests act as (one per test process: the tests run one at a time).
    fn me() -> &'static Arc<Owner> {
        static ME: OnceLock<Arc<Owner>> = OnceLock::new();
        ME.get_or_init(|| {
            let owner = Arc::new(Owner::default());
            r().adopt(&owner);
            owner
        })
    }

    fn r() -> &'static Reactor {
        reactor().unwrap()
    }

    fn channel_write(id: u32, data: &[u8], pass: Option<BorrowedFd>) -> i64 {
        r().channel_write(me(), id, data, pass)
    }

    fn channel_close(id: u32) {
        r().channel_close(me(), id)
    }

    fn channel_handle(id: u32) -> Option<Arc<Chan>> {
        r().channel_of(me(), id)
    }

    fn take_events() -> Vec<Event> {
        r().take_events(me())
    }

    /// What `o` has queued, straight from its queue.
    fn taken(o: &Owner) -> Vec<Event> {
        let mut events = Vec::new();
        o.take(&mut events);
        events
    }

    fn watch_exit(pid: i32, pidfd: OwnedFd) {
        r().watch_exit(me(), pid, pidfd)
    }

    fn kill(pid: i32, signal: i32) -> Result<(), Errno> {
        r().kill(me(), pid, signal)
    }

    fn with_scheduler<R>(f: impl FnOnce(&mut Scheduler<Chan>, &Reactor) -> R) -> R {
        r().with_scheduler(f)
    }

    /// Collects events across drains, waiting on `notify` (never on a timer) for more.
    struct Drainer {
        rx: mpsc::Receiver<()>,
        seen: Vec<Event>,
    }

    impl Drainer {
        fn new() -> Self {
            let (tx, rx) = mpsc::channel();
            let tx = Mutex::new(tx);
            me().set_notify(Box::new(move || {
                let _ = lock(&tx).send(());
            }));
            Drainer {
                rx,
                seen: Vec::new(),
            }
        }

        /// Drains until `done` holds for the events seen so far; returns them.
        fn until(&mut self, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
            loop {
                self.seen.extend(take_events());
                if done(&self.seen) {
                    return mem::take(&mut self.seen);
                }
                // A failure guard only: every wake-up comes from a notify.
                self.rx
                    .recv_timeout(Duration::from_secs(20))
                    .expect("no event");
            }
        }
    }

    fn closed(id: u32) -> impl Fn(&[Event]) -> bool {
        move |evs| {
            evs.iter()
                .any(|e| matches!(e, Event::Close { channel } if *channel == id))
        }
    }

    fn data_of(evs: &[Event], id: u32) -> (Vec<u8>, Vec<OwnedFd>) {
        let (mut bytes, mut fds) = (Vec::new(), Vec::new());
        for e in evs {
            if let Event::Data {
                channel,
                buf,
                fds: f,
                ..
            } = e
            {
                if *channel == id {
                    bytes.extend_from_slice(buf);
                    fds.extend(f.iter().map(|f| f.try_clone().unwrap()));
                }
            }
        }
        (bytes, fds)
    }

    /// Parent end registered as a channel of `owner`, child end as a blocking std stream.
    fn channel_for(owner: &Arc<Owner>, mode: Serialization, max: usize) -> (u32, UnixStream) {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap();
        let id = r().open_channel(owner, a, mode, max);
        (id, UnixStream::from(b))
    }

    fn channel(mode: Serialization, max: usize) -> (u32, UnixStream) {
        channel_for(me(), mode, max)
    }

    fn pidfd_open(pid: u32) -> OwnedFd {
        sys::process::pidfd_open(pid as libc::pid_t).expect("pidfd_open")
    }

    // One test: the reactor, its queue and notify callback are process-wide.
    // The children it spawns are reaped by the reactor, not by Child::wait.
    #[allow(clippy::zombie_processes)]
    #[test]
    fn reactor_end_to_end() {
        let mut d = Drainer::new();

        // Messages with a descriptor; then EOF closes the channel after the data.
        let (id, mut child) = channel(Serialization::Json, 1 << 20);
        let (rp, wp) = nix::unistd::pipe().unwrap();
        child.write_all(b"{\"a\":1}\n{\"b\"").unwrap();
        let msg = [std::io::IoSlice::new(b":2}\n{\"cmd\":\"NODE_HANDLE\"}\n")];
        sys::socket::send_with_fd(child.as_fd(), &msg, Some(wp.as_fd())).unwrap();
        drop(wp);
        let evs = d.until(|evs| data_of(evs, id).0.ends_with(b"HANDLE\"}\n"));
        let (bytes, fds) = data_of(&evs, id);
        assert_eq!(bytes, b"{\"a\":1}\n{\"b\":2}\n{\"cmd\":\"NODE_HANDLE\"}\n");
        assert_eq!(fds.len(), 1);
        nix::unistd::write(&fds[0], b"ok").unwrap();
        drop(fds);
        drop(evs);
        let mut two = [0u8; 2];
        nix::unistd::read(rp.as_raw_fd(), &mut two).unwrap();
        assert_eq!(&two, b"ok");

        // Parent to child: immediate write, then a queued one that ends with a drain event.
        assert_eq!(channel_write(id, b"hi\n", None), 0);
        let mut hi = [0u8; 3];
        child.read_exact(&mut hi).unwrap();
        assert_eq!(&hi, b"hi\n");
        let big = vec![b'x'; 8 << 20];
        let queued = channel_write(id, &big, None);
        assert!(queued > 0, "8 MiB went straight into the socket");
        assert_eq!(channel_write(id, b"\n", None), queued + 1);
        let mut reader = child.try_clone().unwrap();
        let sink = std::thread::spawn(move || {
            let mut all = vec![0u8; (8 << 20) + 1];
            reader.read_exact(&mut all).unwrap();
            all
        });
        d.until(|evs| {
            evs.iter()
                .any(|e| matches!(e, Event::Drain { channel } if *channel == id))
        });
        assert_eq!(sink.join().unwrap().len(), (8 << 20) + 1);

        drop(child);
        let evs = d.until(closed(id));
        assert!(matches!(evs.last(), Some(Event::Close { channel }) if *channel == id));
        assert_eq!(channel_write(id, b"late\n", None), -i64::from(libc::EBADF));

        // Oversized frame (announced as 17 bytes, 16 of them arrived): the good frame, then
        // error, then close.
        let (id, mut child) = channel(Serialization::Advanced, 16);
        child.write_all(&[0, 0, 0, 1, 7, 0, 0, 0, 17]).unwrap();
        child.write_all(&[9; 16]).unwrap();
        let evs = d.until(closed(id));
        assert_eq!(data_of(&evs, id).0, [0, 0, 0, 1, 7]);
        match &evs[evs.len() - 2] {
            Event::Error {
                channel,
                code,
                message,
            } => {
                assert_eq!((*channel, code.as_str()), (id, TOO_LARGE));
                assert!(message.contains("17 bytes") && message.contains("(16 bytes)"));
            }
            other => panic!("{other:?}"),
        }

        // A child that outpaces drain() is paused at HIGH_WATER and resumed by take_events.
        let (id, mut child) = channel(Serialization::Json, 1 << 20);
        let line = [vec![b'y'; 1023], b"\n".to_vec()].concat();
        let total = 3 * HIGH_WATER;
        let writer = std::thread::spawn(move || {
            for _ in 0..total / line.len() {
                child.write_all(&line).unwrap();
            }
        });
        let ch = r().channel(id).unwrap();
        // Bounded wait for the reactor to reach the mark (it reads as fast as the writer).
        while !ch.paused.load(SeqCst) {
            assert!(!writer.is_finished(), "never paused");
            std::thread::yield_now();
        }
        let first = take_events();
        let (bytes, _) = data_of(&first, id);
        assert!(bytes.len() >= HIGH_WATER && bytes.len() < 2 * HIGH_WATER);
        // Draining resumes it (possibly more than once); the writer's exit closes it.
        let evs = d.until(closed(id));
        writer.join().unwrap();
        assert_eq!(bytes.len() + data_of(&evs, id).0.len(), total);

        // channelClose: pending data is dropped and close is queued.
        let (id, mut child) = channel(Serialization::Json, 1 << 20);
        child.write_all(b"dropped\n").unwrap();
        d.until(|evs| !data_of(evs, id).0.is_empty());
        channel_close(id);
        let evs = d.until(closed(id));
        assert!(data_of(&evs, id).0.is_empty());
        let mut eof = Vec::new();
        child.read_to_end(&mut eof).unwrap();

        // Exits: by code, and by signal through kill(); kill after reaping is ESRCH.
        let c = std::process::Command::new("sh")
            .args(["-c", "exit 3"])
            .spawn()
            .unwrap();
        let pid = c.id() as i32;
        watch_exit(pid, pidfd_open(c.id()));
        let exited = move |evs: &[Event]| {
            evs.iter()
                .any(|e| matches!(e, Event::Exit { pid: p, .. } if *p == pid))
        };
        let evs = d.until(exited);
        assert!(evs.iter().any(
            |e| matches!(e, Event::Exit { pid: p, status: Some(3), signal: None } if *p == pid)
        ));

        let c = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = c.id() as i32;
        watch_exit(pid, pidfd_open(c.id()));
        kill(pid, libc::SIGTERM).unwrap();
        let exited = move |evs: &[Event]| {
            evs.iter()
                .any(|e| matches!(e, Event::Exit { pid: p, .. } if *p == pid))
        };
        let evs = d.until(exited);
        let sig = Some(libc::SIGTERM);
        assert!(evs.iter().any(|e| matches!(e, Event::Exit { pid: p, status: None, signal } if *p == pid && *signal == sig)));
        assert_eq!(kill(pid, libc::SIGTERM), Err(Errno::ESRCH));

        round_robin(&mut d);
        round_robin_stop(&mut d);
        release_lets_go();
        local_poller();
    }

    /// A local poller for the tests: a mio poller that the test thread drives, as an
    /// environment's loop would (edge-triggered here, which one read per event also serves).
    struct TestLoop {
        poll: Mutex<Poll>,
        registry: Registry,
        /// The descriptor of each watched token.
        fds: Mutex<std::collections::HashMap<usize, RawFd>>,
    }

    impl LocalPoller for Arc<TestLoop> {
        fn watch(
            &self,
            fd: RawFd,
            token: usize,
            readable: bool,
            writable: bool,
        ) -> std::io::Result<()> {
            let registry = &self.registry;
            let _ = registry.deregister(&mut SourceFd(&fd));
            lock(&self.fds).insert(token, fd);
            let interest = match (readable, writable) {
                (_, false) => Interest::READABLE,
                (false, true) => Interest::WRITABLE,
                (true, true) => Interest::READABLE | Interest::WRITABLE,
            };
            registry.register(&mut SourceFd(&fd), Token(token), interest)
        }

        fn unwatch(&self, token: usize) {
            if let Some(fd) = lock(&self.fds).remove(&token) {
                let _ = self.registry.deregister(&mut SourceFd(&fd));
            }
        }
    }

    /// Waits (bounded) until `owner`'s local poller has something, then serves it as the
    /// environment's loop would. Returns whether events wait for JS.
    fn drive_when_ready(owner: &Arc<Owner>, lp: &TestLoop) -> bool {
        let mut events = Events::with_capacity(8);
        let mut poll = lock(&lp.poll);
        // SAFETY: the poller's descriptor is open while `lp` lives.
        let fd = unsafe { BorrowedFd::borrow_raw(poll.as_raw_fd()) };
        let mut pfd = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
        // A failure guard only: the peer wrote already.
        assert_eq!(
            nix::poll::poll(&mut pfd, 20_000u16).unwrap(),
            1,
            "nothing ready"
        );
        poll.poll(&mut events, Some(Duration::ZERO)).unwrap();
        // Served without the lock: serving re-arms through `watch`.
        drop(poll);
        let mut any = false;
        for ev in events.iter() {
            any |= r().local_ready(
                owner,
                ev.token().0,
                ev.is_readable(),
                ev.is_writable(),
                ev.is_error(),
            );
        }
        any
    }

    /// An owner with a local poller: its channel and child are served by `local_ready` on
    /// the calling thread, not by the reactor; a channel moved to the reactor is served there.
    // The child is reaped by the reactor, not by Child::wait.
    #[allow(clippy::zombie_processes)]
    fn local_poller() {
        let poll = Poll::new().unwrap();
        let registry = poll.registry().try_clone().unwrap();
        let lp = Arc::new(TestLoop {
            poll: Mutex::new(poll),
            registry,
            fds: Mutex::default(),
        });
        let local = Arc::new(Owner::with_local(Box::new(lp.clone())));
        let notified = Arc::new(AtomicBool::new(false));
        let flag = notified.clone();
        local.set_notify(Box::new(move || flag.store(true, SeqCst)));
        let (id, mut peer) = channel_for(&local, Serialization::Json, 1 << 20);
        peer.write_all(b"{\"a\":1}\n").unwrap();
        assert!(drive_when_ready(&local, &lp), "no events after a drive");
        let events = taken(&local);
        assert_eq!(data_of(&events, id).0, b"{\"a\":1}\n");
        assert!(!notified.load(SeqCst), "the driving thread is not notified");

        let c = std::process::Command::new("sh")
            .args(["-c", "exit 4"])
            .spawn()
            .unwrap();
        let pid = c.id() as i32;
        r().watch_exit(&local, pid, pidfd_open(c.id()));
        assert!(drive_when_ready(&local, &lp));
        let events = taken(&local);
        assert!(matches!(events[..], [Event::Exit { pid: p, status: Some(4), .. }] if p == pid));

        // On the reactor from now on: its data comes through notify, not drive.
        r().to_reactor(&r().channel_of(&local, id).unwrap());
        peer.write_all(b"2\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !notified.load(SeqCst) {
            assert!(
                std::time::Instant::now() < deadline,
                "reactor never read it"
            );
            std::thread::yield_now();
        }
        assert_eq!(data_of(&taken(&local), id).0, b"2\n");
        r().release(&local);
    }

    /// Another environment ends: its channel closes (the peer sees EOF), its child is reaped
    /// without an event, and nothing reaches the other environment.
    // The child is reaped by the reactor, not by Child::wait.
    #[allow(clippy::zombie_processes)]
    fn release_lets_go() {
        let other = Arc::new(Owner::default());
        let (id, mut peer) = channel_for(&other, Serialization::Json, 1 << 20);
        peer.write_all(b"unread\n").unwrap();
        assert_eq!(channel_write(id, b"x\n", None), -i64::from(libc::EBADF));
        let c = std::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap();
        let pid = c.id() as i32;
        r().watch_exit(&other, pid, pidfd_open(c.id()));
        assert_eq!(
            kill(pid, 0),
            Err(Errno::ESRCH),
            "another environment's child"
        );

        r().release(&other);
        assert!(other.is_released());
        // Closed: EOF, or a reset when the unread bytes were still in our socket.
        let mut eof = Vec::new();
        match peer.read_to_end(&mut eof) {
            Ok(_) => assert!(eof.is_empty()),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
        }
        // Reaped: once the child is gone, its pid leaves the reactor's map.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while lock(&r().children).contains_key(&pid) {
            assert!(std::time::Instant::now() < deadline, "never reaped");
            std::thread::yield_now();
        }
        assert!(taken(&other).is_empty());
        assert!(
            take_events().is_empty(),
            "events went to the wrong environment"
        );
    }

    /// The worker side of a channel, as Node's: reads frames, taking one received descriptor
    /// for each NODE_HANDLE frame.
    struct FakeWorker {
        sock: UnixStream,
        buf: Vec<u8>,
        fds: std::collections::VecDeque<OwnedFd>,
    }

    impl FakeWorker {
        fn next(&mut self) -> (String, Option<OwnedFd>) {
            loop {
                if let Some(p) = self.buf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = self.buf.drain(..=p).collect();
                    let line = String::from_utf8(line).unwrap();
                    let fd = if line.contains("NODE_HANDLE") {
                        self.fds.pop_front()
                    } else {
                        None
                    };
                    return (line, fd);
                }
                let mut chunk = [std::mem::MaybeUninit::new(0u8); 4096];
                let mut got = Vec::new();
                match sys::socket::recv_with_fds(self.sock.as_fd(), &mut chunk, &mut got) {
                    Ok(n) => {
                        assert!(n > 0, "channel closed");
                        // SAFETY: recv initialised n bytes.
                        self.buf
                            .extend(chunk[..n].iter().map(|b| unsafe { b.assume_init() }));
                        self.fds.extend(got);
                    }
                    Err(Errno::EAGAIN) => {
                        let mut pfd = [nix::poll::PollFd::new(
                            self.sock.as_fd(),
                            nix::poll::PollFlags::POLLIN,
                        )];
                        // A failure guard only: data is on its way.
                        let n = nix::poll::poll(&mut pfd, 20_000u16).unwrap();
                        assert_eq!(n, 1, "worker: nothing to read");
                    }
                    Err(e) => panic!("worker recv: {e}"),
                }
            }
        }

        /// The next newconn: (seq, descriptor).
        fn newconn(&mut self) -> (u64, OwnedFd) {
            let (line, fd) = self.next();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["msg"]["act"], "newconn", "{line}");
            assert_eq!(v["msg"]["key"], "k");
            (
                v["msg"]["seq"].as_u64().unwrap(),
                fd.expect("newconn without its fd"),
            )
        }

        fn send(&mut self, line: &str) {
            self.sock.write_all(line.as_bytes()).unwrap();
        }

        fn answer(&mut self, seq: u64, accepted: bool) {
            self.send("{\"cmd\":\"NODE_HANDLE_ACK\"}\n");
            self.send(&format!(
                "{{\"cmd\":\"NODE_CLUSTER\",\"ack\":{seq},\"accepted\":{accepted},\"seq\":0}}\n"
            ));
        }
    }

    /// A client connection served through the descriptor a worker got.
    fn served(client: &mut std::net::TcpStream, conn: OwnedFd) {
        nix::unistd::write(&conn, b"hi").unwrap();
        let mut two = [0u8; 2];
        client.read_exact(&mut two).unwrap();
        assert_eq!(&two, b"hi");
    }

    /// Round-robin listener through the reactor: newconns reach the worker with their
    /// descriptors, the worker's replies to them never reach JS while JS-sent handles still
    /// get their ACK, NACK resends, refusals and a closed channel hand connections on.
    fn round_robin(d: &mut Drainer) {
        use std::os::fd::IntoRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let id = with_scheduler(|s, r| s.create(r, "k", listener.into_raw_fd())).unwrap();
        let new_worker = || {
            let (chan, sock) = channel(Serialization::Json, 1 << 20);
            let w = FakeWorker {
                sock,
                buf: Vec::new(),
                fds: Default::default(),
            };
            (chan, w)
        };
        let (chan, mut w) = new_worker();

        // JS sends a handle first; then the worker joins and a client connects.
        let (_rp, wp) = nix::unistd::pipe().unwrap();
        let js = b"{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":{}}\n";
        assert_eq!(channel_write(chan, js, Some(wp.as_fd())), 0);
        with_scheduler(|s, r| s.add(r, id, channel_handle(chan).unwrap()));
        let mut c1 = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (line, fd) = w.next();
        assert!(line.contains("\"msg\":{}") && fd.is_some(), "{line}");
        let (seq1, conn1) = w.newconn();

        // ACK for JS's handle (passed on), ACK + accepted for the newconn (consumed), then a
        // message of the worker's own: JS sees exactly the first and the last.
        w.send("{\"cmd\":\"NODE_HANDLE_ACK\"}\n");
        w.answer(seq1, true);
        w.send("{\"after\":1}\n");
        let want = b"{\"cmd\":\"NODE_HANDLE_ACK\"}\n{\"after\":1}\n";
        let evs = d.until(|evs| data_of(evs, chan).0.len() >= want.len());
        assert_eq!(data_of(&evs, chan).0, want);
        served(&mut c1, conn1);

        // NACK: the same seq comes again with a descriptor; then a refusal: with no other
        // worker it comes back under a new seq.
        let mut c2 = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (seq2, lost) = w.newconn();
        drop(lost);
        w.send("{\"cmd\":\"NODE_HANDLE_NACK\"}\n");
        let (again, _) = w.newconn();
        assert_eq!(again, seq2);
        w.answer(seq2, false);
        let (seq3, conn2) = w.newconn();
        assert_ne!(seq3, seq2);
        w.answer(seq3, true);
        served(&mut c2, conn2);

        // Two connections in flight when the worker's channel closes: a new worker gets them.
        let mut c3 = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut c4 = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        w.newconn();
        w.newconn();
        let (chan2, mut w2) = new_worker();
        channel_close(chan);
        d.until(closed(chan));
        drop(w);
        with_scheduler(|s, r| s.add(r, id, channel_handle(chan2).unwrap()));
        let (a, fa) = w2.newconn();
        let (b, fb) = w2.newconn();
        w2.answer(a, true);
        w2.answer(b, true);
        // Accepted order follows the clients' connects.
        served(&mut c3, fa);
        served(&mut c4, fb);
        w2.send("{\"last\":1}\n");
        let evs = d.until(|evs| !data_of(evs, chan2).0.is_empty());
        assert_eq!(
            data_of(&evs, chan2).0,
            b"{\"last\":1}\n",
            "acks leaked to JS"
        );

        assert!(with_scheduler(|s, r| s.remove(r, id, chan2)));
        // The listener is closed: connecting is refused.
        assert!(refused(port));
        channel_close(chan2);
        d.until(closed(chan2));
    }

    /// Whether connecting to `port` on 127.0.0.1 is refused. A listener closed here stays
    /// open for a moment in a child another test is spawning in parallel (the child's copy
    /// of the descriptor table holds it until exec closes the CLOEXEC ones), so a connect
    /// that gets in is tried again, for at most 5 s.
    fn refused(port: u16) -> bool {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                return true;
            }
            if std::time::Instant::now() > until {
                return false;
            }
            std::thread::yield_now();
        }
    }

    /// rrStop through the reactor: connections waiting in the socket (no worker yet, so none
    /// was accepted) are taken before it closes, new ones are refused, and the `stopped`
    /// event comes through the owner's queue once a worker has answered each of them.
    fn round_robin_stop(d: &mut Drainer) {
        use std::os::fd::IntoRawFd;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let id = with_scheduler(|s, r| s.create(r, "k", listener.into_raw_fd())).unwrap();
        let mut clients: Vec<_> = (0..3)
            .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        let owner = me().clone();
        let done = Box::new(move || owner.push([Event::Stopped { listener: id }]));
        assert!(with_scheduler(|s, r| s.stop(r, id, done)));
        assert!(refused(port), "refused once stopped");
        let (chan, sock) = channel(Serialization::Json, 1 << 20);
        let mut w = FakeWorker {
            sock,
            buf: Vec::new(),
            fds: Default::default(),
        };
        with_scheduler(|s, r| s.add(r, id, channel_handle(chan).unwrap()));
        // In the order the clients connected.
        for c in &mut clients {
            let (seq, conn) = w.newconn();
            w.answer(seq, true);
            served(c, conn);
        }
        let stopped = |evs: &[Event]| {
            evs.iter()
                .any(|e| matches!(e, Event::Stopped { listener } if *listener == id))
        };
        let evs = d.until(stopped);
        assert_eq!(
            evs.iter()
                .filter(|e| stopped(std::slice::from_ref(e)))
                .count(),
            1
        );
        assert!(with_scheduler(|s, r| s.remove(r, id, chan)));
        channel_close(chan);
        d.until(closed(chan));
    }
}
