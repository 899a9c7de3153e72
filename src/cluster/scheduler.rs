//! Round-robin listeners (docs/internals.md, "Cluster"): the reactor thread accepts on each
//! listening socket and hands every connection to a worker as a `newconn` handle, then
//! consumes the worker's replies, so no connection waits for the primary's JavaScript.
//!
//! Under SCHED_ADAPTIVE a listener is *direct*: a worker's own SO_REUSEPORT socket that the
//! worker accepts from itself, the kernel balancing the group. The scheduler holds a copy of
//! it and accepts on it only while it has no owner (its worker left: what queues there goes
//! to the others until a new worker takes the socket over) or while the owner is stalled
//! (its accept queue grew and did not shrink for `Stall::after`; see `watch`).
//!
//! `Core` is the bookkeeping alone (which worker gets what, what is unacknowledged, what
//! waits), generic over the connection so that it is tested without descriptors;
//! `Scheduler` adds the listening sockets, accept4 and the channel writes.
use super::wire::Newconn;
use crate::id_map::IdMap;
use crate::ipc::Serialization;
use crate::sys;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use nix::errno::Errno;
use nix::libc;
use std::collections::{BTreeMap, VecDeque};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Unacknowledged connections one worker may hold. Node's primary keeps one in flight per
/// worker, so every connection waits a full round trip through the worker's event loop;
/// a window hides that latency. It is small so that a stalled worker (busy JavaScript)
/// strands few connections before the others get the rest, and the primary's descriptors
/// stay bounded (workers x WINDOW); beyond it the kernel backlog holds new connections.
pub const WINDOW: usize = 32;
/// A handle whose message arrives without it is sent again this many times (as in Node).
pub const MAX_RESENDS: u8 = 3;
/// Connections accepted per listener before the reactor serves its other events (the
/// workers' replies among them), then it comes back for more.
const ACCEPT_BATCH: usize = 64;
/// At most this many connections are accepted when a listener stops. The kernel's accept
/// queue holds at most net.core.somaxconn (4096 by default), so this bound is reached
/// only by clients connecting as fast as they are accepted.
const STOP_ACCEPT_MAX: usize = 1 << 16;

/// Sends connection `conn` of listener `pool` to the worker on channel `chan` as `seq`;
/// false if that channel cannot take it.
pub type Send<'a, C> = dyn FnMut(u32, u32, u64, &C) -> bool + 'a;
/// Called once a stopped listener's connections have all been answered (see `Core::stop`).
pub type Done = Box<dyn FnOnce() + std::marker::Send>;

pub struct Core<C> {
    pools: BTreeMap<u32, Pool<C>>,
    workers: BTreeMap<u32, Worker<C>>,
    /// Listeners with connections waiting in the kernel and a worker with room.
    ready: VecDeque<u32>,
    next_seq: u64,
    /// Direct pools whose accepting state may have changed since the scheduler last looked.
    changed: Vec<u32>,
    /// A worker whose oldest unanswered connection is older than this gets no more.
    stall_after: Duration,
    /// Stopped listeners waiting for their connections to be answered.
    stops: Vec<(u32, Done)>,
}

struct Pool<C> {
    /// Channels of the workers taking connections, in the order they were added.
    members: Vec<u32>,
    /// Where the search for the least loaded member starts: ties rotate.
    cursor: usize,
    /// Accepted (or handed back) connections that no worker could take yet.
    queue: VecDeque<Queued<C>>,
    /// The listener may have connections waiting: it was readable since its last EAGAIN.
    backlog: bool,
    /// In `Core::ready`.
    listed: bool,
    /// SCHED_ADAPTIVE: the worker that accepts on this socket itself.
    direct: Option<Direct>,
}

struct Direct {
    /// None: its worker left; the scheduler accepts for the others.
    owner: Option<u32>,
    /// The owner stalled: the scheduler accepts until the owner answers something.
    stolen: bool,
}

impl<C> Pool<C> {
    /// Whether the scheduler accepts on this listener (always, unless a worker owns it).
    fn accepting(&self) -> bool {
        self.direct
            .as_ref()
            .is_none_or(|d| d.owner.is_none() || d.stolen)
    }
}

struct Queued<C> {
    conn: C,
    /// The worker that refused it last: others are tried first.
    refused_by: Option<u32>,
}

struct Worker<C> {
    /// Connections sent and not yet answered, oldest first.
    flights: Vec<Flight<C>>,
    /// A write to its channel failed: no more connections until it is added again.
    broken: bool,
    /// Stalled: its oldest connection went unanswered for too long, or (SCHED_ADAPTIVE) its
    /// own listener's queue stopped shrinking. It gets one connection at a time, from any
    /// listener, until it answers something.
    stalled: bool,
}

impl<C> Default for Worker<C> {
    fn default() -> Self {
        Worker {
            flights: Vec::new(),
            broken: false,
            stalled: false,
        }
    }
}

struct Flight<C> {
    seq: u64,
    pool: u32,
    /// None once the listener is closed: the reply is still consumed, nothing else.
    conn: Option<C>,
    resends: u8,
    sent: Instant,
}

impl<C> Default for Core<C> {
    fn default() -> Self {
        Core {
            pools: BTreeMap::new(),
            workers: BTreeMap::new(),
            ready: VecDeque::new(),
            next_seq: 0,
            changed: Vec::new(),
            stall_after: STALL.after,
            stops: Vec::new(),
        }
    }
}

impl<C> Core<C> {
    /// A new listener; its socket may already hold connections.
    pub fn create(&mut self, pool: u32) {
        self.pools.insert(
            pool,
            Pool {
                members: Vec::new(),
                cursor: 0,
                queue: VecDeque::new(),
                backlog: true,
                listed: false,
                direct: None,
            },
        );
    }

    /// A new direct listener (SCHED_ADAPTIVE), without an owner yet: until one is set, the
    /// scheduler accepts on it for the members.
    pub fn create_direct(&mut self, pool: u32) {
        self.create(pool);
        if let Some(p) = self.pools.get_mut(&pool) {
            p.direct = Some(Direct {
                owner: None,
                stolen: false,
            });
        }
        self.changed.push(pool);
    }

    /// Whether the scheduler accepts on `pool` (false for an owned direct listener).
    pub fn accepting(&self, pool: u32) -> bool {
        self.pools.get(&pool).is_some_and(Pool::accepting)
    }

    /// Direct pools whose accepting state may have changed.
    pub fn take_changed(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.changed)
    }

    /// A direct listener's owner: the worker on `chan` accepts on it itself from now on
    /// (None: nobody does; the scheduler accepts on it for the members).
    pub fn set_owner(&mut self, pool: u32, owner: Option<u32>) {
        let Some(p) = self.pools.get_mut(&pool) else {
            return;
        };
        let Some(d) = p.direct.as_mut() else {
            return;
        };
        d.owner = owner;
        d.stolen = false;
        p.backlog = true;
        self.changed.push(pool);
        self.poke(pool);
    }

    /// The owner of a direct listener, if it accepts there itself now (not stolen).
    pub fn accepting_owner(&self, pool: u32) -> Option<u32> {
        let d = self.pools.get(&pool)?.direct.as_ref()?;
        d.owner.filter(|_| !d.stolen)
    }

    /// The owner of a direct listener stalled: the scheduler accepts there until the owner
    /// answers something.
    pub fn steal(&mut self, pool: u32) {
        let Some(p) = self.pools.get_mut(&pool) else {
            return;
        };
        let Some(d) = p.direct.as_mut().filter(|d| d.owner.is_some() && !d.stolen) else {
            return;
        };
        d.stolen = true;
        p.backlog = true;
        if let Some(w) = d.owner.and_then(|chan| self.workers.get_mut(&chan)) {
            w.stalled = true;
        }
        self.changed.push(pool);
        self.poke(pool);
    }

    /// The stall threshold for unanswered connections (the tightest `stallThreshold`).
    pub fn set_stall_after(&mut self, after: Duration) {
        self.stall_after = after;
    }

    /// The worker on `chan` answered: its event loop turns, so it accepts on its own
    /// listeners again.
    fn alive(&mut self, chan: u32) {
        match self.workers.get_mut(&chan) {
            Some(w) if w.stalled => w.stalled = false,
            _ => return,
        }
        for (&id, p) in self.pools.iter_mut() {
            if let Some(d) = p
                .direct
                .as_mut()
                .filter(|d| d.stolen && d.owner == Some(chan))
            {
                d.stolen = false;
                self.changed.push(id);
            }
        }
    }

    /// The worker on `chan` takes connections of `pool` from now on. False if no such pool.
    pub fn add(&mut self, pool: u32, chan: u32, send: &mut Send<C>) -> bool {
        let Some(p) = self.pools.get_mut(&pool) else {
            return false;
        };
        if !p.members.contains(&chan) {
            p.members.push(chan);
        }
        self.workers.entry(chan).or_default().broken = false;
        self.refill(pool, send);
        true
    }

    /// The worker leaves `pool`; what it holds is still answered (or handed back when its
    /// channel closes). True when no worker is left: the pool is then closed (not a direct
    /// one: its socket is the primary's, closed with `close`).
    pub fn remove(&mut self, pool: u32, chan: u32) -> bool {
        let Some(p) = self.pools.get_mut(&pool) else {
            return true;
        };
        p.members.retain(|&c| c != chan);
        if !p.members.is_empty() || p.direct.is_some() {
            return false;
        }
        self.close(pool);
        true
    }

    /// Drops the pool's queued connections and its unanswered ones (workers that got them
    /// hold their own copies).
    pub fn close(&mut self, pool: u32) {
        self.pools.remove(&pool);
        self.ready.retain(|&p| p != pool);
        for w in self.workers.values_mut() {
            for f in w.flights.iter_mut().filter(|f| f.pool == pool) {
                f.conn = None;
            }
        }
        self.settle_stops();
    }

    /// The listening socket became readable.
    pub fn readable(&mut self, pool: u32) {
        if let Some(p) = self.pools.get_mut(&pool) {
            p.backlog = true;
        }
        self.poke(pool);
    }

    /// accept4 said EAGAIN: nothing more until the socket is readable again.
    pub fn drained(&mut self, pool: u32) {
        if let Some(p) = self.pools.get_mut(&pool) {
            p.backlog = false;
        }
    }

    /// Whether accepting one more connection would hand it to a worker right away.
    pub fn can_accept(&self, pool: u32) -> bool {
        self.pools.get(&pool).is_some_and(|p| {
            p.accepting() && p.queue.is_empty() && room(p, &self.workers, self.stall_after)
        })
    }

    /// A freshly accepted connection.
    pub fn offer(&mut self, pool: u32, conn: C, send: &mut Send<C>) {
        let Some(p) = self.pools.get_mut(&pool) else {
            return;
        };
        p.queue.push_back(Queued {
            conn,
            refused_by: None,
        });
        let after = self.stall_after;
        dispatch(pool, p, &mut self.workers, &mut self.next_seq, after, send);
    }

    /// Lists the pool in `ready` if it has connections to accept and room for them.
    pub fn poke(&mut self, pool: u32) {
        if let Some(p) = self.pools.get_mut(&pool) {
            poke(pool, p, &self.workers, &mut self.ready, self.stall_after);
        }
    }

    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The oldest listed pool, unlisted.
    pub fn next_ready(&mut self) -> Option<u32> {
        let pool = self.ready.pop_front()?;
        if let Some(p) = self.pools.get_mut(&pool) {
            p.listed = false;
        }
        Some(pool)
    }

    /// The worker's `{ack: seq, accepted}`. False if `seq` is not outstanding on `chan`
    /// (the message is then not the scheduler's).
    pub fn reply(&mut self, chan: u32, seq: u64, accepted: bool, send: &mut Send<C>) -> bool {
        let Some(f) = self.take_flight(chan, seq) else {
            return false;
        };
        self.alive(chan);
        // Accepted: dropping the connection closes the primary's copy.
        if !accepted {
            if let Some(conn) = f.conn {
                self.requeue(f.pool, conn, Some(chan));
            }
        }
        self.freed(chan, f.pool, send);
        true
    }

    /// The worker's NACK for `seq`: the message came without the descriptor. Sent again, at
    /// most MAX_RESENDS times; then it goes to another worker.
    pub fn nack(&mut self, chan: u32, seq: u64, send: &mut Send<C>) {
        self.alive(chan);
        let Some(w) = self.workers.get_mut(&chan) else {
            return;
        };
        let Some(f) = w.flights.iter_mut().find(|f| f.seq == seq) else {
            return;
        };
        if let Some(conn) = &f.conn {
            if f.resends < MAX_RESENDS {
                f.resends += 1;
                if send(f.pool, chan, seq, conn) {
                    return;
                }
                w.broken = true;
            }
        }
        let Some(f) = self.take_flight(chan, seq) else {
            return;
        };
        if let Some(conn) = f.conn {
            self.requeue(f.pool, conn, Some(chan));
        }
        self.freed(chan, f.pool, send);
    }

    /// The worker's channel is gone: it leaves every pool and its unanswered connections go
    /// to the other workers (or wait for one).
    pub fn channel_gone(&mut self, chan: u32, send: &mut Send<C>) {
        for (&id, p) in self.pools.iter_mut() {
            p.members.retain(|&c| c != chan);
            if let Some(d) = p.direct.as_mut().filter(|d| d.owner == Some(chan)) {
                // Its socket stays: what queues there goes to the others.
                d.owner = None;
                d.stolen = false;
                p.backlog = true;
                self.changed.push(id);
            }
        }
        let Some(w) = self.workers.remove(&chan) else {
            return;
        };
        // Pushed to the front newest first, so they go out again oldest first.
        for f in w.flights.into_iter().rev() {
            if let Some(conn) = f.conn {
                self.requeue(f.pool, conn, None);
            }
        }
        self.serve(send, |_, _| true);
    }

    fn take_flight(&mut self, chan: u32, seq: u64) -> Option<Flight<C>> {
        let w = self.workers.get_mut(&chan)?;
        let i = w.flights.iter().position(|f| f.seq == seq)?;
        Some(w.flights.remove(i))
    }

    fn requeue(&mut self, pool: u32, conn: C, refused_by: Option<u32>) {
        if let Some(p) = self.pools.get_mut(&pool) {
            p.queue.push_front(Queued { conn, refused_by });
        }
    }

    fn refill(&mut self, pool: u32, send: &mut Send<C>) {
        self.serve(send, |id, _| id == pool);
    }

    /// `chan` has room again: every pool it serves may send more (and `pool`, which may
    /// have the connection it handed back).
    fn freed(&mut self, chan: u32, pool: u32, send: &mut Send<C>) {
        self.serve(send, |id, p| id == pool || p.members.contains(&chan));
    }

    /// Sends what the chosen pools hold while workers have room, and lists those that can
    /// accept more.
    fn serve(&mut self, send: &mut Send<C>, chosen: impl Fn(u32, &Pool<C>) -> bool) {
        let Core {
            pools,
            workers,
            ready,
            next_seq,
            stall_after,
            ..
        } = self;
        for (&id, p) in pools.iter_mut().filter(|(&id, p)| chosen(id, p)) {
            dispatch(id, p, workers, next_seq, *stall_after, send);
            poke(id, p, workers, ready, *stall_after);
        }
        self.settle_stops();
    }

    /// The listener stopped listening (`Scheduler::stop`): it accepts nothing more; what it
    /// holds is still dealt to its workers. `done` is called once none of its connections is
    /// queued or unanswered, or when it closes (what it still held is then dropped).
    pub fn stop(&mut self, pool: u32, done: Done) {
        if let Some(p) = self.pools.get_mut(&pool) {
            p.backlog = false;
            p.listed = false;
            self.ready.retain(|&id| id != pool);
        }
        self.stops.push((pool, done));
        self.settle_stops();
    }

    /// Whether `pool` holds no connection: none queued, none unanswered (a closed pool's
    /// unanswered ones are no longer its own).
    fn answered(&self, pool: u32) -> bool {
        self.pools.get(&pool).is_none_or(|p| p.queue.is_empty())
            && self
                .workers
                .values()
                .all(|w| w.flights.iter().all(|f| f.pool != pool || f.conn.is_none()))
    }

    /// Calls `done` of the stopped listeners whose connections have all been answered.
    fn settle_stops(&mut self) {
        if self.stops.is_empty() {
            return;
        }
        let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.stops)
            .into_iter()
            .partition(|(pool, _)| self.answered(*pool));
        self.stops = waiting;
        for (_, done) in done {
            done();
        }
    }
}

fn has_room<C>(w: &Worker<C>) -> bool {
    !w.broken && w.flights.len() < WINDOW
}

/// Whether the worker can take one more connection. A stalled one (marked so, or sitting
/// on a connection for `after`) gets one at a time, and only once it has answered the last:
/// as Node's round-robin, which sends nothing to a worker that has not answered.
fn takes<C>(w: &Worker<C>, after: Duration) -> bool {
    has_room(w)
        && w.flights
            .first()
            .is_none_or(|f| !w.stalled && f.sent.elapsed() < after)
}

fn room<C>(p: &Pool<C>, workers: &BTreeMap<u32, Worker<C>>, after: Duration) -> bool {
    p.members
        .iter()
        .any(|c| workers.get(c).is_some_and(|w| takes(w, after)))
}

/// The member with the fewest unanswered connections, searching from the cursor so that
/// ties rotate; `avoid` only if no other member has room.
fn pick<C>(
    p: &mut Pool<C>,
    workers: &BTreeMap<u32, Worker<C>>,
    avoid: Option<u32>,
    after: Duration,
) -> Option<u32> {
    let n = p.members.len();
    let mut best: Option<(usize, usize)> = None;
    let mut fallback = None;
    for k in 0..n {
        let i = (p.cursor + k) % n;
        let chan = p.members[i];
        let Some(w) = workers.get(&chan).filter(|w| takes(w, after)) else {
            continue;
        };
        if Some(chan) == avoid {
            fallback = Some(i);
        } else if best.is_none_or(|(_, load)| w.flights.len() < load) {
            best = Some((i, w.flights.len()));
        }
    }
    let i = best.map(|(i, _)| i).or(fallback)?;
    p.cursor = (i + 1) % n;
    Some(p.members[i])
}

/// Sends queued connections while some worker has room.
fn dispatch<C>(
    id: u32,
    p: &mut Pool<C>,
    workers: &mut BTreeMap<u32, Worker<C>>,
    next_seq: &mut u64,
    after: Duration,
    send: &mut Send<C>,
) {
    while let Some(front) = p.queue.front() {
        let Some(chan) = pick(p, workers, front.refused_by, after) else {
            return;
        };
        let Some((q, w)) = p.queue.pop_front().zip(workers.get_mut(&chan)) else {
            return;
        };
        let seq = *next_seq;
        *next_seq += 1;
        if send(id, chan, seq, &q.conn) {
            w.flights.push(Flight {
                seq,
                pool: id,
                conn: Some(q.conn),
                resends: 0,
                sent: Instant::now(),
            });
        } else {
            w.broken = true;
            p.queue.push_front(q);
        }
    }
}

fn poke<C>(
    id: u32,
    p: &mut Pool<C>,
    workers: &BTreeMap<u32, Worker<C>>,
    ready: &mut VecDeque<u32>,
    after: Duration,
) {
    if p.backlog && !p.listed && p.accepting() && p.queue.is_empty() && room(p, workers, after) {
        p.listed = true;
        ready.push_back(id);
    }
}

/// Poller tokens with this bit set are round-robin listeners (the rest is the id).
pub const LISTENER: usize = 1 << (usize::BITS - 2);

/// A worker's IPC channel, as the scheduler uses it.
pub trait Link {
    fn id(&self) -> u32;
    fn mode(&self) -> Serialization;
    fn is_closed(&self) -> bool;
    /// From now on its reads are checked for the worker's replies.
    fn watch_replies(&self);
}

/// What the scheduler needs from whoever runs it (the reactor): the poller its listeners
/// join, and handle writes on the workers' channels. The scheduler knows nothing else of it.
pub trait Wire<C> {
    fn registry(&self) -> &Registry;
    /// Writes `frame` with `conn` passed alongside on `ch`, as the scheduler's handle `seq`;
    /// false if the channel cannot take it.
    fn send_handle(&self, ch: &C, frame: &[u8], conn: &Arc<OwnedFd>, seq: u64) -> bool;
}

struct Listener {
    /// Registered with the poller under `LISTENER | id` while the scheduler accepts on it;
    /// None once stopped (`Scheduler::stop`).
    fd: Option<OwnedFd>,
    newconn: Newconn,
    polled: bool,
    /// Direct listeners (SCHED_ADAPTIVE): the owner's accept queue, watched for stalls.
    watch: Option<Watch>,
}

/// When a worker counts as stalled: `rrCreate`'s `adaptive` option for direct listeners;
/// `STALL` for unanswered connections when no listener sets it.
#[derive(Clone, Copy, Debug)]
pub struct Stall {
    /// How often the accept queue is looked at.
    pub check: Duration,
    /// A queue that has not shrunk (and not emptied) for this long is stalled.
    pub after: Duration,
}

pub const STALL: Stall = Stall {
    check: Duration::from_millis(5),
    after: Duration::from_millis(20),
};

struct Watch {
    stall: Stall,
    /// Queue length at the last look.
    last: u32,
    /// Since when the queue has been non-empty without shrinking.
    since: Option<Instant>,
}

/// The scheduler the reactor owns, over its channel type `C`. Lock order: a channel's
/// reader, then this, then a channel's writer (see reactor.rs).
pub struct Scheduler<C> {
    core: Core<Arc<OwnedFd>>,
    listeners: IdMap<u32, Listener>,
    /// Channels of the workers that were added, until they close.
    chans: IdMap<u32, Arc<C>>,
    next_id: u32,
    /// The frame being sent, reused.
    frame: Vec<u8>,
    /// When the direct listeners' queues are looked at next.
    next_watch: Option<Instant>,
    /// A direct listener was created: the reactor thread must start watching.
    rewatch: bool,
    /// The tightest stall setting of the direct listeners, if any (kept as they come and
    /// go: the reactor thread reads it at every turn).
    stall: Option<Stall>,
}

impl<C> Default for Scheduler<C> {
    fn default() -> Self {
        Scheduler {
            core: Core::default(),
            listeners: IdMap::default(),
            chans: IdMap::default(),
            next_id: 0,
            frame: Vec::new(),
            next_watch: None,
            rewatch: false,
            stall: None,
        }
    }
}

/// Writes `newconn` frames through the wire's handle writes.
fn sender<'a, C: Link>(
    r: &'a impl Wire<C>,
    listeners: &'a IdMap<u32, Listener>,
    chans: &'a IdMap<u32, Arc<C>>,
    frame: &'a mut Vec<u8>,
) -> impl FnMut(u32, u32, u64, &Arc<OwnedFd>) -> bool + 'a {
    move |pool, chan, seq, conn| {
        let (Some(l), Some(ch)) = (listeners.get(&pool), chans.get(&chan)) else {
            return false;
        };
        l.newconn.frame(ch.mode(), seq, frame);
        r.send_handle(ch, frame, conn, seq)
    }
}

impl<C: Link> Scheduler<C> {
    /// `rrCreate`: takes `fd`, a listening stream socket, on success only.
    pub fn create(&mut self, r: &impl Wire<C>, key: &str, fd: RawFd) -> Result<u32, Errno> {
        check_listening(fd)?;
        let token = Token(LISTENER | (self.next_id + 1) as usize);
        r.registry()
            .register(&mut SourceFd(&fd), token, Interest::READABLE)
            .map_err(sys::io_errno)?;
        let id = self.new_listener(key, fd, None);
        if let Some(l) = self.listeners.get_mut(&id) {
            l.polled = true;
        }
        self.core.create(id);
        Ok(id)
    }

    /// `rrCreate` with `adaptive`: a direct listener on a copy of `fd` (the caller keeps
    /// `fd`, to send to the worker that will own it). No owner yet: the scheduler accepts on
    /// it for the members until `set_owner`.
    pub fn create_direct(
        &mut self,
        r: &impl Wire<C>,
        key: &str,
        fd: RawFd,
        stall: Stall,
    ) -> Result<u32, Errno> {
        check_listening(fd)?;
        let copy = sys::fd::dup_cloexec_min(fd, 0)?;
        let watch = Watch {
            stall,
            last: 0,
            since: None,
        };
        let id = self.new_listener(key, copy.into_raw_fd(), Some(watch));
        self.core.create_direct(id);
        self.restall();
        let after = self.stall.map_or(STALL.after, |s| s.after);
        self.core.set_stall_after(after);
        self.sync(r);
        // The reactor thread starts watching at its next turn.
        self.next_watch = Some(Instant::now());
        self.rewatch = true;
        Ok(id)
    }

    /// `rrOwner`: the worker on `chan` accepts on direct listener `id` itself from now on
    /// (None: nobody; the scheduler accepts there for the members).
    pub fn set_owner(&mut self, r: &impl Wire<C>, id: u32, chan: Option<u32>) {
        // A channel that closed already (the worker died while its reply was written) owns
        // nothing: its `channel_gone` has been and gone.
        let chan = chan.filter(|c| self.chans.contains_key(c));
        self.core.set_owner(id, chan);
        if let Some(w) = self.listeners.get_mut(&id).and_then(|l| l.watch.as_mut()) {
            w.since = None;
        }
        self.sync(r);
    }

    /// Looks at the owned direct listeners' accept queues if it is time; steals from a
    /// stalled owner. The time until the next look, if any listener is watched.
    pub fn watch(&mut self, r: &impl Wire<C>, now: Instant) -> Option<Duration> {
        let Some(stall) = self.stall else {
            self.next_watch = None;
            return None;
        };
        let due = *self.next_watch.get_or_insert(now + stall.check);
        if now < due {
            return Some(due - now);
        }
        for (&id, l) in self.listeners.iter_mut() {
            let Some(w) = l.watch.as_mut() else {
                continue;
            };
            if self.core.accepting_owner(id).is_none() {
                w.since = None;
                w.last = 0;
                continue;
            }
            // Stopped, or unreadable (not TCP): never counted as stalled.
            let len = l.fd.as_ref().map_or(0, |fd| {
                sys::socket::accept_queue_len(fd.as_raw_fd()).unwrap_or(0)
            });
            if len == 0 || len < w.last {
                w.since = None;
            } else if now.duration_since(*w.since.get_or_insert(now)) >= w.stall.after {
                w.since = None;
                self.core.steal(id);
            }
            w.last = len;
        }
        self.next_watch = Some(now + stall.check);
        self.sync(r);
        Some(stall.check)
    }

    /// Recomputes `stall` after a direct listener came or went.
    fn restall(&mut self) {
        let set = self.listeners.values().filter_map(|l| l.watch.as_ref());
        self.stall = set.map(|w| w.stall).reduce(|a, b| Stall {
            check: a.check.min(b.check),
            after: a.after.min(b.after),
        });
    }

    /// Whether the reactor thread must be woken to (re)start watching.
    pub fn take_rewatch(&mut self) -> bool {
        std::mem::take(&mut self.rewatch)
    }

    /// Polls the listeners the scheduler accepts on, and only those.
    fn sync(&mut self, r: &impl Wire<C>) {
        for id in self.core.take_changed() {
            let want = self.core.accepting(id);
            let Some(l) = self.listeners.get_mut(&id).filter(|l| l.polled != want) else {
                continue;
            };
            let Some(fd) = l.fd.as_ref() else {
                continue;
            };
            let mut source = SourceFd(&fd.as_raw_fd());
            let token = Token(LISTENER | id as usize);
            let done = if want {
                r.registry()
                    .register(&mut source, token, Interest::READABLE)
            } else {
                r.registry().deregister(&mut source)
            };
            // A failed registration leaves the connections to the kernel's queue (the
            // owner, or nobody until one is set); there is no one to report it to here.
            if done.is_ok() {
                l.polled = want;
            }
        }
    }

    fn new_listener(&mut self, key: &str, fd: RawFd, watch: Option<Watch>) -> u32 {
        self.next_id += 1;
        let id = self.next_id;
        // SAFETY: the descriptor is ours from here on (handed over, or our copy).
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let newconn = Newconn::new(key);
        self.listeners.insert(
            id,
            Listener {
                fd: Some(fd),
                newconn,
                polled: false,
                watch,
            },
        );
        id
    }

    /// `rrAdd`. A channel that closed already is not added: it left every listener.
    pub fn add(&mut self, r: &impl Wire<C>, id: u32, ch: Arc<C>) {
        if ch.is_closed() || !self.listeners.contains_key(&id) {
            return;
        }
        // From now on the channel's reads are checked for the replies.
        ch.watch_replies();
        let chan = ch.id();
        self.chans.insert(chan, ch);
        self.with_core(r, |core, send| core.add(id, chan, send));
    }

    /// `rrRemove`: true when no worker is left and the listener is closed.
    pub fn remove(&mut self, r: &impl Wire<C>, id: u32, chan: u32) -> bool {
        let last = self.core.remove(id, chan);
        if last {
            self.close_listener(r, id);
        }
        last
    }

    /// `rrClose`.
    pub fn close(&mut self, r: &impl Wire<C>, id: u32) {
        self.core.close(id);
        self.close_listener(r, id);
    }

    fn close_listener(&mut self, r: &impl Wire<C>, id: u32) {
        let Some(l) = self.listeners.remove(&id) else {
            return;
        };
        if let Some(fd) = l.fd {
            let _ = r.registry().deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
        if l.watch.is_some() {
            self.restall();
        }
    }

    /// `rrStop`: accepts every connection waiting in listener `id`'s socket (until EAGAIN)
    /// and closes the socket, so that the kernel refuses new ones; the accepted ones are
    /// still dealt to the workers added, and `done` is called once all have been answered
    /// (see `Core::stop`). False if there is no such listener.
    pub fn stop(&mut self, r: &impl Wire<C>, id: u32, done: Done) -> bool {
        let Some(l) = self.listeners.get_mut(&id) else {
            return false;
        };
        let listening = l.fd.take();
        l.polled = false;
        self.with_core(r, |core, send| {
            if let Some(fd) = listening {
                let _ = r.registry().deregister(&mut SourceFd(&fd.as_raw_fd()));
                for _ in 0..STOP_ACCEPT_MAX {
                    match sys::socket::accept(fd.as_fd()) {
                        Ok(conn) => core.offer(id, Arc::new(conn), send),
                        Err(
                            Errno::EAGAIN
                            | Errno::EMFILE
                            | Errno::ENFILE
                            | Errno::ENOBUFS
                            | Errno::ENOMEM,
                        ) => break,
                        // That one connection only (see accept_ready).
                        Err(_) => {}
                    }
                }
                // Closing the socket here resets what arrived since the last accept4.
            }
            core.stop(id, done);
        });
        true
    }

    pub fn readable(&mut self, id: u32) {
        self.core.readable(id);
    }

    pub fn has_ready(&self) -> bool {
        self.core.has_ready()
    }

    /// One round of accepting on the listeners that have connections waiting and workers
    /// with room, at most ACCEPT_BATCH each. True if some are left for another round.
    pub fn accept_ready(&mut self, r: &impl Wire<C>) -> bool {
        let Scheduler {
            core,
            listeners,
            chans,
            frame,
            ..
        } = self;
        let mut send = sender(r, listeners, chans, frame);
        // Listeners listed again during this round wait for the next one.
        for _ in 0..core.ready.len() {
            let Some(id) = core.next_ready() else {
                break;
            };
            // A stopped listener that was readable before it stopped.
            let Some(fd) = listeners.get(&id).and_then(|l| l.fd.as_ref()) else {
                core.drained(id);
                continue;
            };
            let mut tries = 0;
            while tries < ACCEPT_BATCH && core.can_accept(id) {
                tries += 1;
                match sys::socket::accept(fd.as_fd()) {
                    Ok(conn) => core.offer(id, Arc::new(conn), &mut send),
                    Err(Errno::EAGAIN) => {
                        core.drained(id);
                        break;
                    }
                    // Out of descriptors or memory: retrying now would spin. The next
                    // connection to arrive makes the listener readable again.
                    Err(Errno::EMFILE | Errno::ENFILE | Errno::ENOBUFS | Errno::ENOMEM) => {
                        core.drained(id);
                        break;
                    }
                    // The client gave up while queued (ECONNABORTED), EINTR, a firewall's
                    // EPERM...: that one connection only.
                    Err(_) => {}
                }
            }
            core.poke(id);
        }
        core.has_ready()
    }

    /// A worker's `{ack, accepted}`; false if it is not for the scheduler.
    pub fn reply(&mut self, r: &impl Wire<C>, chan: u32, seq: u64, accepted: bool) -> bool {
        self.with_core(r, |core, send| core.reply(chan, seq, accepted, send))
    }

    /// A worker's NACK for a handle the scheduler sent.
    pub fn nack(&mut self, r: &impl Wire<C>, chan: u32, seq: u64) {
        self.with_core(r, |core, send| core.nack(chan, seq, send));
    }

    /// The channel closed (any reason).
    pub fn channel_gone(&mut self, r: &impl Wire<C>, chan: u32) {
        if self.chans.remove(&chan).is_none() {
            return;
        }
        self.with_core(r, |core, send| core.channel_gone(chan, send));
    }

    /// Runs `f` on the core with a sender that writes `newconn` frames to the channels.
    fn with_core<R>(
        &mut self,
        r: &impl Wire<C>,
        f: impl FnOnce(&mut Core<Arc<OwnedFd>>, &mut Send<Arc<OwnedFd>>) -> R,
    ) -> R {
        let Scheduler {
            core,
            listeners,
            chans,
            frame,
            ..
        } = self;
        let out = f(core, &mut sender(r, listeners, chans, frame));
        // A reply (the end of a stall) or a closed channel (its socket left ownerless)
        // changes which direct listeners are polled: now, not at the next stall check.
        self.sync(r);
        out
    }
}

/// EINVAL unless `fd` is a listening socket; makes it non-blocking.
fn check_listening(fd: RawFd) -> Result<(), Errno> {
    if sys::socket::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)? == 0 {
        return Err(Errno::EINVAL);
    }
    sys::fd::set_nonblock(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// A connection that records when it is closed (dropped).
    struct Conn {
        n: u32,
        closed: Rc<RefCell<Vec<u32>>>,
    }

    impl Drop for Conn {
        fn drop(&mut self) {
            self.closed.borrow_mut().push(self.n);
        }
    }

    /// Drives a Core, recording every send as (pool, chan, seq, conn).
    struct Harness {
        core: Core<Conn>,
        sent: Vec<(u32, u32, u64, u32)>,
        /// Channels whose writes fail.
        dead: Vec<u32>,
        closed: Rc<RefCell<Vec<u32>>>,
        made: u32,
    }

    impl Default for Harness {
        fn default() -> Self {
            let mut core = Core::default();
            // No unanswered connection goes stale during a test, however slow the machine.
            core.set_stall_after(Duration::from_secs(3600));
            Harness {
                core,
                sent: Vec::new(),
                dead: Vec::new(),
                closed: Rc::default(),
                made: 0,
            }
        }
    }

    impl Harness {
        /// Pool 1 with these workers, added in order.
        fn pool(chans: &[u32]) -> Self {
            let mut h = Harness::default();
            h.core.create(1);
            for &chan in chans {
                h.add(1, chan);
            }
            h
        }

        fn send(&mut self) -> impl FnMut(u32, u32, u64, &Conn) -> bool + '_ {
            let (sent, dead) = (&mut self.sent, &self.dead);
            move |pool, chan, seq, conn| {
                if dead.contains(&chan) {
                    return false;
                }
                sent.push((pool, chan, seq, conn.n));
                true
            }
        }

        fn with<R>(&mut self, f: impl FnOnce(&mut Core<Conn>, &mut Send<Conn>) -> R) -> R {
            let mut core = std::mem::take(&mut self.core);
            let r = f(&mut core, &mut self.send());
            self.core = core;
            r
        }

        fn offer(&mut self, pool: u32) -> u32 {
            self.made += 1;
            let conn = Conn {
                n: self.made,
                closed: self.closed.clone(),
            };
            self.with(|c, s| c.offer(pool, conn, s));
            self.made
        }

        fn add(&mut self, pool: u32, chan: u32) {
            assert!(self.with(|c, s| c.add(pool, chan, s)));
        }

        fn reply(&mut self, chan: u32, seq: u64, accepted: bool) -> bool {
            self.with(|c, s| c.reply(chan, seq, accepted, s))
        }

        /// Sends since `from`, as (chan, conn).
        fn since(&self, from: usize) -> Vec<(u32, u32)> {
            self.sent[from..].iter().map(|s| (s.1, s.3)).collect()
        }

        fn seq_of(&self, conn: u32) -> (u32, u64) {
            let s = self.sent.iter().rev().find(|s| s.3 == conn).unwrap();
            (s.1, s.2)
        }

        fn closed(&self) -> Vec<u32> {
            let mut c = self.closed.borrow().clone();
            c.sort();
            c
        }
    }

    #[test]
    fn least_loaded_with_ties_rotating() {
        let mut h = Harness::pool(&[10, 20, 30]);
        for _ in 0..6 {
            h.offer(1);
        }
        let got = h.since(0);
        assert_eq!(got, [(10, 1), (20, 2), (30, 3), (10, 4), (20, 5), (30, 6)]);
        // 20 answers both: it is the least loaded for the next two.
        for conn in [2, 5] {
            let (chan, seq) = h.seq_of(conn);
            assert!(h.reply(chan, seq, true));
        }
        h.offer(1);
        h.offer(1);
        h.offer(1);
        assert_eq!(h.since(6), [(20, 7), (20, 8), (30, 9)]);
        assert_eq!(h.closed(), [2, 5]);
        // A reply that is not outstanding there is not the scheduler's.
        let (_, seq) = h.seq_of(1);
        assert!(!h.reply(20, seq, true));
        assert!(!h.reply(10, 999, true));
    }

    #[test]
    fn window_bounds_each_worker_and_accepting() {
        let mut h = Harness::default();
        h.core.create(1);
        assert!(!h.core.can_accept(1), "no worker yet");
        assert!(!h.core.has_ready());
        h.add(1, 10);
        assert_eq!(h.core.next_ready(), Some(1), "listed once it has a worker");
        assert!(!h.core.has_ready());
        for _ in 0..WINDOW {
            assert!(h.core.can_accept(1));
            h.offer(1);
        }
        assert!(!h.core.can_accept(1));
        h.core.poke(1);
        assert!(
            !h.core.has_ready(),
            "full: the kernel backlog holds the rest"
        );
        // An answer makes room, and the listener (still readable) is listed again.
        let (chan, seq) = h.seq_of(1);
        assert!(h.reply(chan, seq, true));
        assert!(h.core.can_accept(1));
        assert_eq!(h.core.next_ready(), Some(1));
        // After EAGAIN it waits for readability.
        h.core.drained(1);
        let (chan, seq) = h.seq_of(2);
        h.reply(chan, seq, true);
        assert!(!h.core.has_ready());
        h.core.readable(1);
        assert_eq!(h.core.next_ready(), Some(1));
    }

    #[test]
    fn refused_goes_to_another_worker_first() {
        let mut h = Harness::pool(&[10, 20]);
        for _ in 0..4 {
            h.offer(1);
        }
        // 10 has 1 and 3, 20 has 2 and 4. 10 refuses 1: now the least loaded, but it just
        // refused that one.
        let (chan, seq) = h.seq_of(1);
        assert_eq!(chan, 10);
        let n = h.sent.len();
        assert!(h.reply(10, seq, false));
        assert_eq!(h.since(n), [(20, 1)]);
        assert_ne!(h.seq_of(1).1, seq, "a new seq for the new send");
        // Refused by the only worker with room: back to it.
        let (chan, seq) = h.seq_of(1);
        assert_eq!(chan, 20);
        h.core.remove(1, 10);
        let n = h.sent.len();
        assert!(h.reply(20, seq, false));
        assert_eq!(h.since(n), [(20, 1)]);
        assert!(h.closed().is_empty());
    }

    #[test]
    fn closed_channel_hands_its_connections_back() {
        let mut h = Harness::pool(&[10, 20]);
        for _ in 0..4 {
            h.offer(1);
        }
        // 10 has 1 and 3; 20 has 2 and 4. 20 answers 2, then 10 dies.
        let (chan, seq) = h.seq_of(2);
        h.reply(chan, seq, true);
        let n = h.sent.len();
        h.with(|c, s| c.channel_gone(10, s));
        assert_eq!(h.since(n), [(20, 1), (20, 3)], "oldest first");
        // 20 dies too: nobody left, they wait (and nothing is accepted).
        let n = h.sent.len();
        h.with(|c, s| c.channel_gone(20, s));
        assert_eq!(h.sent.len(), n);
        assert!(!h.core.can_accept(1));
        // A late reply from the dead channel is not the scheduler's any more.
        assert!(!h.reply(20, h.seq_of(4).1, true));
        h.add(1, 30);
        assert_eq!(h.since(n), [(30, 4), (30, 1), (30, 3)]);
        assert_eq!(h.closed(), [2]);
    }

    #[test]
    fn nack_resends_three_times_then_moves_on() {
        let mut h = Harness::pool(&[10, 20]);
        h.offer(1);
        let (chan, seq) = h.seq_of(1);
        assert_eq!(chan, 10);
        for _ in 0..MAX_RESENDS {
            let n = h.sent.len();
            h.with(|c, s| c.nack(10, seq, s));
            assert_eq!(h.sent[n..], [(1, 10, seq, 1)], "same seq, same worker");
        }
        let n = h.sent.len();
        h.with(|c, s| c.nack(10, seq, s));
        assert_eq!(h.since(n), [(20, 1)]);
        assert!(!h.reply(10, seq, true), "no longer outstanding on 10");
    }

    #[test]
    fn failed_write_marks_the_worker_until_added_again() {
        let mut h = Harness::pool(&[10, 20]);
        h.dead.push(10);
        h.offer(1);
        h.offer(1);
        assert_eq!(h.since(0), [(20, 1), (20, 2)]);
        h.dead.clear();
        h.add(1, 10);
        h.offer(1);
        assert_eq!(h.since(2), [(10, 3)]);
    }

    #[test]
    fn removal_and_close_release_everything_once() {
        let mut h = Harness::default();
        h.core.create(1);
        h.core.create(2);
        h.add(1, 10);
        h.add(1, 20);
        h.add(2, 10);
        h.offer(1); // 10
        h.offer(1); // 20
        h.offer(2); // 10
                    // 10 leaves pool 1 but still answers for what it holds.
        assert!(!h.core.remove(1, 10));
        let (_, seq) = h.seq_of(1);
        let n = h.sent.len();
        assert!(h.reply(10, seq, false));
        assert_eq!(h.since(n), [(20, 1)], "refused: to the remaining member");
        // The last member leaves: pool 1 closes; its unanswered connections are released
        // at once, and their late replies are still consumed.
        assert!(h.core.remove(1, 20));
        assert_eq!(h.closed(), [1, 2]);
        let (chan, seq) = h.seq_of(2);
        assert!(h.reply(chan, seq, false));
        assert!(h.core.remove(1, 20), "already gone");
        // Pool 2 closes with 10's window full of its connections and one more queued.
        for _ in 1..WINDOW {
            h.offer(2);
        }
        let n = h.sent.len();
        h.offer(2);
        assert_eq!(h.sent.len(), n, "queued: no room");
        h.core.close(2);
        let all: Vec<u32> = (1..=h.made).collect();
        assert_eq!(h.closed(), all, "every connection closed, once");
        h.with(|c, s| c.channel_gone(10, s));
        assert_eq!(h.sent.len(), n);
    }

    #[test]
    fn direct_listener_is_accepted_on_only_without_a_working_owner() {
        let mut h = Harness::default();
        h.core.create_direct(1);
        h.add(1, 10);
        h.add(1, 20);
        assert_eq!(h.core.take_changed(), [1]);
        // No owner yet: the scheduler accepts and deals to the members.
        assert!(h.core.accepting(1));
        assert!(h.core.can_accept(1));
        h.core.set_owner(1, Some(10));
        assert_eq!(h.core.take_changed(), [1]);
        assert!(!h.core.accepting(1));
        assert!(!h.core.can_accept(1));
        assert_eq!(h.core.accepting_owner(1), Some(10));
        h.core.readable(1);
        while h.core.next_ready().is_some() {}
        h.core.poke(1);
        assert!(!h.core.has_ready(), "the owner accepts, not the scheduler");
        // Stalled: the scheduler takes over; the owner gets one connection, as a probe.
        h.core.steal(1);
        assert_eq!(h.core.take_changed(), [1]);
        assert!(h.core.accepting(1));
        assert_eq!(h.core.accepting_owner(1), None);
        for _ in 0..5 {
            h.offer(1);
        }
        let to_owner = h.since(0).iter().filter(|s| s.0 == 10).count();
        assert_eq!(to_owner, 1, "{:?}", h.since(0));
        // Any answer from the owner gives it its socket back.
        let (chan, seq) = h
            .since(0)
            .iter()
            .find(|s| s.0 == 10)
            .map(|s| h.seq_of(s.1))
            .unwrap();
        assert!(h.reply(chan, seq, true));
        assert_eq!(h.core.take_changed(), [1]);
        assert!(!h.core.accepting(1));
        // An answer from another worker does not.
        h.core.steal(1);
        h.core.take_changed();
        let (chan, seq) = h.seq_of(h.since(0).iter().find(|s| s.0 == 20).unwrap().1);
        assert!(h.reply(chan, seq, true));
        assert!(h.core.take_changed().is_empty());
        assert!(h.core.accepting(1));
    }

    #[test]
    fn direct_listener_outlives_its_owner() {
        let mut h = Harness::default();
        h.core.create_direct(1);
        h.add(1, 10);
        h.add(1, 20);
        h.core.set_owner(1, Some(10));
        h.core.take_changed();
        // The owner dies: its socket stays, the scheduler serves what queues there.
        h.with(|c, s| c.channel_gone(10, s));
        assert_eq!(h.core.take_changed(), [1]);
        assert!(h.core.can_accept(1));
        assert_eq!(h.core.next_ready(), Some(1));
        h.offer(1);
        h.offer(1);
        assert_eq!(h.since(0), [(20, 1), (20, 2)]);
        // A replacement takes it over.
        h.add(1, 30);
        h.core.set_owner(1, Some(30));
        assert!(!h.core.accepting(1));
        // Stealing needs an owner.
        h.core.set_owner(1, None);
        h.core.take_changed();
        h.core.steal(1);
        assert!(h.core.take_changed().is_empty());
    }

    #[test]
    fn a_stalled_worker_gets_one_connection_from_any_listener() {
        let mut h = Harness::default();
        h.core.create_direct(1);
        h.core.create(2);
        for pool in [1, 2] {
            h.add(pool, 10);
            h.add(pool, 20);
        }
        h.core.set_owner(1, Some(10));
        h.core.steal(1);
        for _ in 0..6 {
            h.offer(2);
        }
        let to_stalled = h.since(0).iter().filter(|s| s.0 == 10).count();
        assert_eq!(to_stalled, 1, "{:?}", h.since(0));
        // Its answer, to either listener's connection, ends the stall.
        let (chan, seq) = h.seq_of(h.since(0).iter().find(|s| s.0 == 10).unwrap().1);
        assert!(h.reply(chan, seq, true));
        assert!(!h.core.accepting(1));
        let n = h.sent.len();
        for _ in 0..4 {
            h.offer(2);
        }
        assert!(h.since(n).iter().filter(|s| s.0 == 10).count() >= 2);
    }

    #[test]
    fn a_worker_sitting_on_a_connection_gets_no_more() {
        // Any unanswered connection counts as sat on: one in flight per worker, as Node.
        let mut h = Harness::pool(&[10, 20]);
        h.core.set_stall_after(Duration::ZERO);
        for _ in 0..4 {
            h.offer(1);
        }
        assert_eq!(h.since(0), [(10, 1), (20, 2)], "the rest wait");
        assert!(!h.core.can_accept(1));
        let (chan, seq) = h.seq_of(2);
        assert!(h.reply(chan, seq, true));
        assert_eq!(h.since(2), [(20, 3)]);
        // A generous threshold: the window is the limit again.
        h.core.set_stall_after(Duration::from_secs(60));
        h.offer(1);
        h.offer(1);
        assert_eq!(h.since(3), [(10, 4), (20, 5), (10, 6)]);
    }

    /// A `done` for `Core::stop` that counts its calls.
    fn counter() -> (Arc<std::sync::atomic::AtomicUsize>, Done) {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c = calls.clone();
        let done = Box::new(move || {
            c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        (calls, done)
    }

    fn calls(c: &std::sync::atomic::AtomicUsize) -> usize {
        c.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Answers every connection in flight, oldest send first: `accepted`, except the first
    /// send of each connection in `refuse`.
    fn answer_all(h: &mut Harness, refuse: &[u32]) {
        let mut answered = std::collections::HashSet::new();
        let mut refused = Vec::new();
        while let Some(&(_, chan, seq, conn)) =
            h.sent.iter().find(|s| !answered.contains(&(s.1, s.2)))
        {
            answered.insert((chan, seq));
            let refuse = refuse.contains(&conn) && !refused.contains(&conn);
            if refuse {
                refused.push(conn);
            }
            h.reply(chan, seq, !refuse);
        }
    }

    #[test]
    fn stopped_listener_deals_what_it_holds_then_says_done() {
        let mut h = Harness::pool(&[10, 20]);
        assert_eq!(h.core.next_ready(), Some(1));
        // Both windows full, and three more accepted (the stop's accept loop) that wait.
        for _ in 0..2 * WINDOW + 3 {
            h.offer(1);
        }
        assert_eq!(h.sent.len(), 2 * WINDOW);
        let (stopped, done) = counter();
        h.core.stop(1, done);
        assert_eq!(calls(&stopped), 0);
        // Answers free room: the three go out, and nothing new is accepted.
        let (chan, seq) = h.seq_of(1);
        assert!(h.reply(chan, seq, true));
        let (chan, seq) = h.seq_of(2);
        assert!(h.reply(chan, seq, true));
        assert_eq!(
            h.since(2 * WINDOW),
            [(10, 2 * WINDOW as u32 + 1), (20, 2 * WINDOW as u32 + 2)]
        );
        assert!(!h.core.has_ready(), "a stopped listener is not accepted on");
        // A refused one goes out again: done only once it is accepted too.
        let first_queued = 2 * WINDOW as u32 + 1;
        let n = h.sent.len();
        let (chan, seq) = h.seq_of(first_queued);
        h.reply(chan, seq, false);
        assert_eq!(h.since(n), [(10, first_queued)], "20 is full: back to 10");
        assert_eq!(calls(&stopped), 0);
        answer_all(&mut h, &[]);
        assert_eq!(calls(&stopped), 1);
        assert_eq!(
            h.closed().len(),
            h.made as usize,
            "all answered, all released"
        );
        // Later events do not call it again.
        h.with(|c, s| c.channel_gone(10, s));
        assert_eq!(calls(&stopped), 1);
    }

    #[test]
    fn stopped_listener_survives_a_dying_worker_and_ends_with_its_last() {
        let mut h = Harness::pool(&[10, 20]);
        for _ in 0..4 {
            h.offer(1);
        }
        let (stopped, done) = counter();
        h.core.stop(1, done);
        // 10 dies holding two: they go to 20, which answers everything.
        let n = h.sent.len();
        h.with(|c, s| c.channel_gone(10, s));
        assert_eq!(h.since(n), [(20, 1), (20, 3)]);
        assert_eq!(calls(&stopped), 0);
        answer_all(&mut h, &[]);
        assert_eq!(calls(&stopped), 1);

        // Nobody left to answer: the last worker's removal closes the pool, and that ends
        // the wait too.
        let mut h = Harness::pool(&[10]);
        for _ in 0..WINDOW + 1 {
            h.offer(1);
        }
        let (stopped, done) = counter();
        h.core.stop(1, done);
        assert!(h.core.remove(1, 10));
        assert_eq!(calls(&stopped), 1);
        assert_eq!(h.closed().len(), WINDOW + 1);
    }

    #[test]
    fn stop_with_nothing_held_is_done_at_once() {
        let mut h = Harness::pool(&[10]);
        let (stopped, done) = counter();
        h.core.stop(1, done);
        assert_eq!(calls(&stopped), 1);
        assert!(!h.core.has_ready());
        let (unknown, done) = counter();
        h.core.stop(7, done);
        assert_eq!(calls(&unknown), 1);
        // Two waiters on one pool, and a pool with no worker yet: connections wait for one.
        let mut h = Harness::default();
        h.core.create(1);
        h.offer(1);
        let (a, done_a) = counter();
        let (b, done_b) = counter();
        h.core.stop(1, done_a);
        h.core.stop(1, done_b);
        h.add(1, 10);
        assert_eq!(h.since(0), [(10, 1)]);
        assert_eq!((calls(&a), calls(&b)), (0, 0));
        answer_all(&mut h, &[]);
        assert_eq!((calls(&a), calls(&b)), (1, 1));
    }

    /// A worker's channel as the scheduler sees it; writes are recorded by `Loop`.
    struct Chan(u32);

    impl Link for Chan {
        fn id(&self) -> u32 {
            self.0
        }
        fn mode(&self) -> Serialization {
            Serialization::Json
        }
        fn is_closed(&self) -> bool {
            false
        }
        fn watch_replies(&self) {}
    }

    /// A poller standing in for the reactor; handle writes recorded as (chan, seq).
    struct Loop {
        poll: mio::Poll,
        sent: RefCell<Vec<(u32, u64)>>,
    }

    impl Wire<Chan> for Loop {
        fn registry(&self) -> &Registry {
            self.poll.registry()
        }
        fn send_handle(&self, ch: &Chan, _: &[u8], _: &Arc<OwnedFd>, seq: u64) -> bool {
            self.sent.borrow_mut().push((ch.0, seq));
            true
        }
    }

    /// A direct listener on a fresh loopback socket, with workers 10 and 20, owned by 10.
    fn owned_direct() -> (Scheduler<Chan>, Loop, std::net::TcpListener, u32) {
        let r = Loop {
            poll: mio::Poll::new().unwrap(),
            sent: RefCell::default(),
        };
        let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut s = Scheduler::default();
        let stall = Stall {
            check: Duration::from_secs(60),
            after: Duration::from_secs(60),
        };
        let id = s.create_direct(&r, "k", socket.as_raw_fd(), stall).unwrap();
        s.add(&r, id, Arc::new(Chan(10)));
        s.add(&r, id, Arc::new(Chan(20)));
        s.set_owner(&r, id, Some(10));
        assert!(!s.listeners[&id].polled, "its owner accepts");
        (s, r, socket, id)
    }

    #[test]
    fn a_dead_owners_socket_is_polled_at_once() {
        let (mut s, mut r, socket, id) = owned_direct();
        s.channel_gone(&r, 10);
        // Without waiting for the next stall check: a connection arriving now is seen.
        let _client = std::net::TcpStream::connect(socket.local_addr().unwrap()).unwrap();
        let mut events = mio::Events::with_capacity(8);
        let deadline = Instant::now() + Duration::from_secs(5);
        let token = Token(LISTENER | id as usize);
        while !events.iter().any(|e| e.token() == token) && Instant::now() < deadline {
            r.poll
                .poll(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
        }
        assert!(events.iter().any(|e| e.token() == token), "not polled");
        s.readable(id);
        s.accept_ready(&r);
        assert_eq!(
            r.sent.borrow().iter().map(|s| s.0).collect::<Vec<_>>(),
            [20]
        );
    }

    #[test]
    fn a_queue_that_does_not_shrink_is_stolen_until_the_owner_answers() {
        let (mut s, r, socket, id) = owned_direct();
        let stall = s.stall.unwrap();
        let clients: Vec<_> = (0..3)
            .map(|_| std::net::TcpStream::connect(socket.local_addr().unwrap()).unwrap())
            .collect();
        // The handshakes complete in the kernel; the connections wait in the accept queue.
        let deadline = Instant::now() + Duration::from_secs(5);
        while sys::socket::accept_queue_len(socket.as_raw_fd()).unwrap() < 3 {
            assert!(Instant::now() < deadline, "connections not queued");
            std::thread::yield_now();
        }
        let t0 = Instant::now() + stall.check;
        s.watch(&r, t0);
        assert!(!s.core.accepting(id), "not for long yet");
        s.watch(&r, t0 + stall.after);
        assert!(s.core.accepting(id) && s.listeners[&id].polled, "stolen");
        s.readable(id);
        s.accept_ready(&r);
        // The stalled owner gets one (a probe), the other worker the rest.
        let sent = r.sent.borrow().clone();
        let to_owner: Vec<_> = sent.iter().filter(|s| s.0 == 10).collect();
        assert_eq!((sent.len(), to_owner.len()), (3, 1), "{sent:?}");
        // Its answer gives it its socket back.
        assert!(s.reply(&r, 10, to_owner[0].1, true));
        assert!(!s.core.accepting(id) && !s.listeners[&id].polled);
        drop(clients);
    }

    #[test]
    fn a_channel_gone_before_rr_owner_owns_nothing() {
        // The worker died while its reply was being written: JS still sets it as owner.
        let (mut s, r, _socket, id) = owned_direct();
        s.set_owner(&r, id, None);
        s.channel_gone(&r, 10);
        s.set_owner(&r, id, Some(10));
        assert!(s.core.accepting(id), "nobody accepts on the socket");
        assert!(s.listeners[&id].polled);
    }
}
