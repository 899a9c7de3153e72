//! JS exports for the cluster primary (docs/internals.md, "Cluster"): listenSocket, rrCreate,
//! rrAdd, rrRemove, rrClose, rrStop, rrOwner, rrStrangers.
// napi-derive registers exports only outside cfg(test), so unit-test builds see them unused.
#![cfg_attr(test, allow(dead_code))]
use crate::cluster::listen::{self, Kind, Options};
use crate::cluster::scheduler::Stall;
use crate::napi_ipc::owner;
use crate::owner::{lock, Event};
use napi::bindgen_prelude::Either;
use napi::{Env, Error, Result, Status};
use napi_derive::napi;
use std::os::fd::IntoRawFd;
use std::time::Duration;

#[napi(object)]
pub struct ListenOptions {
    /// 4, 6, -1 (Unix path in `address`), 'udp4' or 'udp6'.
    pub address_type: Either<i32, String>,
    pub address: Option<String>,
    pub port: Option<i32>,
    pub fd: Option<i32>,
    pub backlog: Option<i32>,
    pub ipv6_only: Option<bool>,
    /// dgram's `reuseAddr`.
    pub reuse_addr: Option<bool>,
    pub reuse_port: Option<bool>,
    pub readable_all: Option<bool>,
    pub writable_all: Option<bool>,
}

#[napi(object)]
pub struct Sockname {
    pub address: String,
    pub family: String,
    pub port: u32,
}

#[napi(object)]
pub struct Listening {
    /// 0 or a negative errno.
    pub errno: i32,
    /// The socket (owned by JS from here on), -1 on error.
    pub fd: i32,
    /// TCP and UDP only.
    pub sockname: Option<Sockname>,
}

/// `listenSocket(options) -> { errno, fd, sockname }`.
#[napi]
pub fn listen_socket(options: ListenOptions) -> Result<Listening> {
    let kind = match &options.address_type {
        Either::A(4) => Kind::Tcp4,
        Either::A(6) => Kind::Tcp6,
        Either::A(-1) => Kind::Unix,
        Either::B(t) if t == "udp4" => Kind::Udp4,
        Either::B(t) if t == "udp6" => Kind::Udp6,
        _ => {
            return Err(Error::new(
                Status::InvalidArg,
                "listenSocket: addressType must be 4, 6, -1, 'udp4' or 'udp6'".to_owned(),
            ))
        }
    };
    let port = options.port.unwrap_or(0);
    let o = Options {
        kind,
        address: options.address.as_deref(),
        // A Unix path's port is -1.
        port: u16::try_from(port.max(0))
            .map_err(|_| Error::new(Status::InvalidArg, format!("listenSocket: port {port}")))?,
        fd: options.fd.filter(|&fd| fd >= 0),
        backlog: options.backlog.unwrap_or(0),
        ipv6_only: options.ipv6_only.unwrap_or(false),
        reuse_addr: options.reuse_addr.unwrap_or(false),
        reuse_port: options.reuse_port.unwrap_or(false),
        readable_all: options.readable_all.unwrap_or(false),
        writable_all: options.writable_all.unwrap_or(false),
    };
    Ok(match listen::listen_socket(&o) {
        Ok((fd, name)) => Listening {
            errno: 0,
            fd: fd.into_raw_fd(),
            sockname: name.map(|n| Sockname {
                address: n.address,
                family: n.family.to_owned(),
                port: n.port.into(),
            }),
        },
        Err(e) => Listening {
            errno: -(e as i32),
            fd: -1,
            sockname: None,
        },
    })
}

/// SCHED_ADAPTIVE's stall detection, in milliseconds.
#[napi(object)]
pub struct Adaptive {
    /// How often an owned listener's accept queue is looked at.
    pub check_interval: f64,
    /// An accept queue that has not shrunk for this long means its owner is stalled.
    pub stall_threshold: f64,
}

fn millis(what: &str, ms: f64) -> Result<Duration> {
    if ms.is_finite() && ms > 0.0 && ms <= 60_000.0 {
        Ok(Duration::from_secs_f64(ms / 1000.0))
    } else {
        Err(Error::new(
            Status::InvalidArg,
            format!("rrCreate: {what} must be > 0 and <= 60000 ms, got {ms}"),
        ))
    }
}

/// `rrCreate(key, fd, adaptive?) -> id`: the reactor takes the listening socket `fd` (on
/// success only) and hands its connections to the workers added with `rrAdd`, announcing
/// `key`. With `adaptive` (SCHED_ADAPTIVE) the listener is direct: the reactor keeps a copy
/// of `fd` (the caller keeps `fd`, for the worker that will accept on it: `rrOwner`) and
/// accepts on it only while it has no owner or its owner is stalled. The listener belongs
/// to this environment and closes when it ends. A negative errno (`fd` left to the caller)
/// if the reactor cannot take it: not a listening socket, or out of descriptors.
#[napi]
pub fn rr_create(env: Env, key: String, fd: i32, adaptive: Option<Adaptive>) -> Result<i64> {
    let (r, owner) = owner(&env)?;
    let stall = adaptive
        .map(|a| -> Result<Stall> {
            Ok(Stall {
                check: millis("checkInterval", a.check_interval)?,
                after: millis("stallThreshold", a.stall_threshold)?,
            })
        })
        .transpose()?;
    let created = r.with_scheduler(|s, r| match stall {
        Some(stall) => s.create_direct(r, &key, fd, stall),
        None => s.create(r, &key, fd),
    });
    Ok(match created {
        Ok(id) => {
            lock(&owner.listeners).push(id);
            id.into()
        }
        Err(e) => -i64::from(e as i32),
    })
}

/// `rrAdd(id, channelId)`: the worker on that channel takes connections from now on. A
/// closed channel or listener is ignored.
#[napi]
pub fn rr_add(env: Env, id: u32, channel_id: u32) -> Result<()> {
    let (r, owner) = owner(&env)?;
    if let Some(ch) = r.channel_of(&owner, channel_id) {
        // Its replies must be consumed while this thread's JS is blocked.
        r.to_reactor(&ch);
        r.with_scheduler(|s, r| s.add(r, id, ch));
    }
    Ok(())
}

/// `rrRemove(id, channelId) -> boolean`: true when no worker is left (the listener is then
/// closed and the id gone).
#[napi]
pub fn rr_remove(env: Env, id: u32, channel_id: u32) -> Result<bool> {
    let (r, owner) = owner(&env)?;
    if !lock(&owner.listeners).contains(&id) {
        return Ok(true);
    }
    let last = r.with_scheduler(|s, r| s.remove(r, id, channel_id));
    if last {
        lock(&owner.listeners).retain(|&l| l != id);
    }
    Ok(last)
}

/// `rrClose(id)`: closes the listener and every connection not yet accepted by a worker.
#[napi]
pub fn rr_close(env: Env, id: u32) -> Result<()> {
    let (r, owner) = owner(&env)?;
    let mut listeners = lock(&owner.listeners);
    if listeners.contains(&id) {
        listeners.retain(|&l| l != id);
        drop(listeners);
        r.with_scheduler(|s, r| s.close(r, id));
    }
    Ok(())
}

/// `rrStop(id) -> boolean`: the listener accepts what waits in its socket, closes the socket
/// (new connections are refused) and deals what it accepted to its workers; a `stopped`
/// event with `id` follows once all of it has been answered, or the listener closed. False
/// (and no event) for an unknown or closed id.
#[napi]
pub fn rr_stop(env: Env, id: u32) -> Result<bool> {
    let (r, owner) = owner(&env)?;
    if !lock(&owner.listeners).contains(&id) {
        return Ok(false);
    }
    let to = owner.clone();
    let done = Box::new(move || to.push([Event::Stopped { listener: id }]));
    Ok(r.with_scheduler(|s, r| s.stop(r, id, done)))
}

/// `rrOwner(id, channelId)`: the worker on that channel accepts on direct listener `id`
/// itself from now on; -1 (or a closed channel): nobody does, the reactor accepts there for
/// the listener's workers.
#[napi]
pub fn rr_owner(env: Env, id: u32, channel_id: i32) -> Result<()> {
    let (r, owner) = owner(&env)?;
    if !lock(&owner.listeners).contains(&id) {
        return Ok(());
    }
    let chan = u32::try_from(channel_id)
        .ok()
        .and_then(|c| r.channel_of(&owner, c))
        .map(|ch| ch.id);
    r.with_scheduler(|s, r| s.set_owner(r, id, chan));
    Ok(())
}

#[napi(object)]
pub struct Stranger {
    /// The socket's inode number (as in /proc/<pid>/fd: `socket:[inode]`).
    pub inode: u32,
    /// The uid that created it.
    pub uid: u32,
}

/// `rrStrangers(fds) -> [{ inode, uid }]`: listening sockets bound to the same address and
/// port as the sockets `fds` (one SO_REUSEPORT group, SCHED_ADAPTIVE's) that are not among
/// them: another process joined the group and takes a share of its connections.
#[napi]
pub fn rr_strangers(fds: Vec<i32>) -> Result<Vec<Stranger>> {
    listen::strangers(&fds)
        .map(|found| {
            found
                .into_iter()
                .map(|l| Stranger {
                    inode: l.inode,
                    uid: l.uid,
                })
                .collect()
        })
        .map_err(|e| {
            Error::new(
                Status::GenericFailure,
                format!("rrStrangers: sock_diag: {e}"),
            )
        })
}
