//! N-API exports `spawn`, `kill`, `spawnSync` (docs/internals.md, "Processes"). Only argument
//! conversion lives here; spawn.rs / spawn_sync.rs do the work. Failures are returned as
//! negative errno values, never thrown.

// napi-derive registers the exports only outside cfg(test), so a test build sees them unused.
#![cfg_attr(test, allow(dead_code))]

use crate::ipc::Serialization;
use crate::napi_ipc::owner;
use crate::spawn::{spawn_process, Request, Stdio, DEFAULT_MAX_MESSAGE_SIZE};
use crate::spawn_sync::{self, SyncRequest};
use napi::bindgen_prelude::Buffer;
use napi::Env;
use napi_derive::napi;
use nix::errno::Errno;
use std::os::fd::IntoRawFd;
use std::time::Duration;

/// One `stdio` entry: `{ type: 'pipe' | 'ignore' | 'fd' | 'ipc', fd? }`.
#[napi(object)]
pub struct StdioOptions {
    #[napi(js_name = "type")]
    pub kind: String,
    pub fd: Option<i32>,
}

#[napi(object)]
pub struct SpawnOptions {
    pub file: String,
    pub args: Vec<String>,
    pub env_pairs: Vec<String>,
    pub cwd: Option<String>,
    pub detached: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub stdio: Vec<StdioOptions>,
    /// 'json' (default) or 'advanced'.
    pub serialization: Option<String>,
    /// Bytes; default 64 MiB; Infinity for no limit.
    pub max_message_size: Option<f64>,
}

#[napi(object)]
pub struct SpawnResult {
    pub errno: i32,
    pub pid: i32,
    pub fds: Vec<i32>,
    pub channel_id: i64,
}

#[napi(object)]
pub struct SpawnSyncOptions {
    pub file: String,
    pub args: Vec<String>,
    pub env_pairs: Vec<String>,
    pub cwd: Option<String>,
    pub detached: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub stdio: Vec<StdioOptions>,
    pub input: Option<Buffer>,
    /// Milliseconds; absent or < 1 means none.
    pub timeout: Option<f64>,
    pub kill_signal: i32,
    /// Bytes over all output pipes; absent, 0 or non-finite means no limit.
    pub max_buffer: Option<f64>,
}

#[napi(object, use_nullable = true)]
pub struct SpawnSyncResult {
    pub errno: i32,
    pub pid: i32,
    pub status: Option<i32>,
    pub signal: Option<i32>,
    pub output: Option<Vec<Option<Buffer>>>,
}

fn neg(e: Errno) -> i32 {
    -(e as i32)
}

fn parse_stdio(entries: &[StdioOptions]) -> Result<Vec<Stdio>, Errno> {
    entries
        .iter()
        .map(|entry| match (entry.kind.as_str(), entry.fd) {
            ("pipe", _) => Ok(Stdio::Pipe),
            ("ignore", _) => Ok(Stdio::Ignore),
            ("ipc", _) => Ok(Stdio::Ipc),
            ("fd", Some(fd)) => Ok(Stdio::Fd(fd)),
            _ => Err(Errno::EINVAL),
        })
        .collect()
}

/// Builds a spawn Request from either options object (they share these fields).
macro_rules! spawn_request {
    ($opts:expr) => {
        parse_stdio(&$opts.stdio).map(|stdio| Request {
            file: $opts.file,
            args: $opts.args,
            env_pairs: $opts.env_pairs,
            cwd: $opts.cwd,
            detached: $opts.detached,
            uid: $opts.uid,
            gid: $opts.gid,
            stdio,
        })
    };
}

/// `spawn(opts) -> { errno, pid, fds, channelId }`. On success the child's pidfd goes to the
/// reactor (which emits its `exit`) and the `ipc` end, if any, becomes a reactor channel.
#[napi]
pub fn spawn(env: Env, opts: SpawnOptions) -> napi::Result<SpawnResult> {
    let count = opts.stdio.len();
    let failure = |e: Errno| SpawnResult {
        errno: neg(e),
        pid: 0,
        fds: vec![-1; count],
        channel_id: -1,
    };
    // Before the child exists: nobody would reap it without the reactor. A reactor that
    // cannot start for want of descriptors or memory fails this spawn as Node's would fail
    // to make its pipes (an 'error' event with the errno); the next spawn tries again.
    if let Err(e) = crate::reactor::reactor() {
        let errno = e.errno.map(Errno::from_raw);
        if let Some(errno) =
            errno.filter(|n| matches!(n, Errno::EMFILE | Errno::ENFILE | Errno::ENOMEM))
        {
            return Ok(failure(errno));
        }
    }
    let (r, owner) = owner(&env)?;
    let mode = match opts.serialization.as_deref() {
        None | Some("json") => Serialization::Json,
        Some("advanced") => Serialization::Advanced,
        Some(_) => return Ok(failure(Errno::EINVAL)),
    };
    let max_message_size = match opts.max_message_size {
        None => DEFAULT_MAX_MESSAGE_SIZE,
        // Saturating: Infinity becomes usize::MAX, i.e. no limit.
        Some(size) if size >= 0.0 => size as usize,
        Some(_) => return Ok(failure(Errno::EINVAL)),
    };
    let req = match spawn_request!(opts) {
        Ok(req) => req,
        Err(e) => return Ok(failure(e)),
    };
    let child = match spawn_process(&req) {
        Ok(child) => child,
        Err(e) => return Ok(failure(e)),
    };
    let channel_id = child.ipc.map_or(-1, |fd| {
        i64::from(r.open_channel(&owner, fd, mode, max_message_size))
    });
    r.watch_exit(&owner, child.pid, child.pidfd);
    Ok(SpawnResult {
        errno: 0,
        pid: child.pid,
        fds: child
            .pipes
            .into_iter()
            .take(count)
            .map(|end| end.map_or(-1, IntoRawFd::into_raw_fd))
            .collect(),
        channel_id,
    })
}

/// `kill(pid, signal) -> errno`: through the reactor's pidfd; `-ESRCH` once reaped.
#[napi]
pub fn kill(env: Env, pid: i32, signal: i32) -> napi::Result<i32> {
    let (r, owner) = owner(&env)?;
    Ok(match r.kill(&owner, pid, signal) {
        Ok(()) => 0,
        Err(e) => neg(e),
    })
}

/// `spawnSync(opts) -> { errno, pid, status, signal, output }`; blocks until the child is reaped.
#[napi]
pub fn spawn_sync(opts: SpawnSyncOptions) -> SpawnSyncResult {
    let spawn = match spawn_request!(opts) {
        Ok(req) => req,
        Err(e) => {
            return SpawnSyncResult {
                errno: neg(e),
                pid: 0,
                status: None,
                signal: None,
                output: None,
            }
        }
    };
    let req = SyncRequest {
        spawn,
        input: opts.input.as_deref().unwrap_or_default(),
        // Node truncates the timeout to whole milliseconds and ignores 0.
        timeout: opts
            .timeout
            .filter(|t| t.is_finite() && *t >= 1.0)
            .map(|t| Duration::from_millis(t as u64)),
        kill_signal: opts.kill_signal,
        // Node compares `total > maxBuffer` on doubles; for integer totals that is
        // `total > floor(maxBuffer)`.
        max_buffer: opts
            .max_buffer
            .filter(|m| m.is_finite() && *m > 0.0)
            .map(|m| m as usize),
    };
    let result = spawn_sync::spawn_sync(&req);
    SpawnSyncResult {
        errno: result.errno,
        pid: result.pid,
        status: result.status,
        signal: result.signal,
        output: result
            .output
            .map(|output| output.into_iter().map(|o| o.map(Buffer::from)).collect()),
    }
}
