//! spawnSync: spawn through the same path as `spawn`, but keep the pidfd here (the reactor
//! never sees the child) and run a poll(2) loop over the stdio pipes and the pidfd.
//!
//! Semantics follow Node's spawn_sync as observed from Node 20:
//! - fd 0 `pipe` carries `input` to the child and is then closed; `output[0]` is null. Other
//!   `pipe` entries are collected.
//! - `maxBuffer` caps the bytes read from all pipes together; once exceeded the child is
//!   killed and the output is returned as read so far (not truncated). 0 or none: no limit.
//! - On timeout or maxBuffer the child gets `killSignal` (SIGKILL if that signal cannot be
//!   sent) unless it has already exited, and every pipe is closed at once, so a grandchild
//!   holding a pipe cannot keep us waiting; we then wait only for the exit.
//! - The first error wins; pipe errors (e.g. EPIPE writing `input`) count only if nothing
//!   else went wrong.

use crate::spawn::{spawn_process, Request, Spawned, Stdio};
use crate::sys::{self, process::Exit};
use nix::errno::Errno;
use nix::libc;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Bytes asked of the kernel per read, as libuv reads.
const READ_CHUNK: usize = 64 * 1024;

/// Reads per pipe per poll wakeup.
const READS_PER_WAKEUP: usize = 32;

pub struct SyncRequest<'a> {
    /// Must not contain `Stdio::Ipc`.
    pub spawn: Request,
    /// Written to the child's fd 0 when that is a `pipe`.
    pub input: &'a [u8],
    pub timeout: Option<Duration>,
    pub kill_signal: i32,
    /// Total bytes the output pipes may deliver; `None` for no limit.
    pub max_buffer: Option<usize>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct SyncResult {
    /// 0 or a negative errno.
    pub errno: i32,
    /// 0 when the spawn failed.
    pub pid: i32,
    pub status: Option<i32>,
    pub signal: Option<i32>,
    /// One entry per stdio entry: the collected bytes of output pipes, `None` otherwise.
    /// `None` as a whole when the spawn failed.
    pub output: Option<Vec<Option<Vec<u8>>>>,
}

pub fn spawn_sync(req: &SyncRequest<'_>) -> SyncResult {
    if req.spawn.stdio.contains(&Stdio::Ipc) {
        return failed(Errno::EINVAL);
    }
    match spawn_process(&req.spawn) {
        Ok(child) => Runner::new(child, req).run(),
        Err(e) => failed(e),
    }
}

fn failed(e: Errno) -> SyncResult {
    SyncResult {
        errno: -(e as i32),
        ..SyncResult::default()
    }
}

struct OutputPipe {
    index: usize,
    fd: Option<OwnedFd>,
    buf: Vec<u8>,
}

struct Runner<'a> {
    pid: i32,
    pidfd: OwnedFd,
    stdio_count: usize,
    stdin: Option<OwnedFd>,
    input: &'a [u8],
    outputs: Vec<OutputPipe>,
    /// Set once the child has been waited for; `exit` stays `None` if that wait failed.
    reaped: bool,
    exit: Option<Exit>,
    error: i32,
    pipe_error: i32,
    killed: bool,
    kill_signal: i32,
    max_buffer: Option<usize>,
    total_read: usize,
    deadline: Option<Instant>,
}

/// What a pollfd entry stands for.
#[derive(Clone, Copy)]
enum Slot {
    Pidfd,
    Stdin,
    Output(usize),
}

impl<'a> Runner<'a> {
    fn new(child: Spawned, req: &SyncRequest<'a>) -> Self {
        let Spawned {
            pid, pidfd, pipes, ..
        } = child;
        let stdio_count = req.spawn.stdio.len();
        let mut stdin = None;
        let mut outputs = Vec::new();
        for (index, pipe) in pipes.into_iter().enumerate() {
            match (index, pipe) {
                (0, Some(fd)) if !req.input.is_empty() => stdin = Some(fd),
                // No input: closing our end now gives the child EOF.
                (0, _) => {}
                (_, Some(fd)) => outputs.push(OutputPipe {
                    index,
                    fd: Some(fd),
                    buf: Vec::new(),
                }),
                (_, None) => {}
            }
        }
        Runner {
            pid,
            pidfd,
            stdio_count,
            stdin,
            input: req.input,
            outputs,
            reaped: false,
            exit: None,
            error: 0,
            pipe_error: 0,
            killed: false,
            kill_signal: req.kill_signal,
            max_buffer: req.max_buffer,
            total_read: 0,
            // A timeout too far away to represent is no timeout.
            deadline: req.timeout.and_then(|t| Instant::now().checked_add(t)),
        }
    }

    fn set_error(&mut self, errno: Errno) {
        if self.error == 0 {
            self.error = -(errno as i32);
        }
    }

    fn set_pipe_error(&mut self, errno: Errno) {
        if self.pipe_error == 0 {
            self.pipe_error = -(errno as i32);
        }
    }

    fn pipes_open(&self) -> bool {
        self.stdin.is_some() || self.outputs.iter().any(|o| o.fd.is_some())
    }

    fn run(mut self) -> SyncResult {
        let mut pollfds: Vec<libc::pollfd> = Vec::new();
        let mut slots: Vec<Slot> = Vec::new();
        while !self.reaped || self.pipes_open() {
            pollfds.clear();
            slots.clear();
            let mut watch = |fd: &OwnedFd, events: libc::c_short, slot: Slot| {
                pollfds.push(libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events,
                    revents: 0,
                });
                slots.push(slot);
            };
            if !self.reaped {
                watch(&self.pidfd, libc::POLLIN, Slot::Pidfd);
            }
            if let Some(fd) = &self.stdin {
                watch(fd, libc::POLLOUT, Slot::Stdin);
            }
            for (i, out) in self.outputs.iter().enumerate() {
                if let Some(fd) = &out.fd {
                    watch(fd, libc::POLLIN, Slot::Output(i));
                }
            }

            let timeout_ms = match self.deadline {
                Some(deadline) if !self.killed => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    // Round up so we never wake just before the deadline and spin.
                    let ms = left.as_nanos().div_ceil(1_000_000);
                    i32::try_from(ms).unwrap_or(i32::MAX)
                }
                _ => -1,
            };
            match sys::fd::poll(&mut pollfds, timeout_ms) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    self.set_error(e);
                    self.kill();
                    if !self.reaped {
                        self.reap();
                    }
                    break;
                }
            }

            for (pfd, &slot) in pollfds.iter().zip(&slots) {
                if pfd.revents == 0 {
                    continue;
                }
                match slot {
                    Slot::Pidfd => self.reap(),
                    Slot::Stdin => self.write_input(),
                    Slot::Output(i) => self.read_output(i),
                }
            }

            if !self.killed && self.deadline.is_some_and(|d| Instant::now() >= d) {
                self.set_error(Errno::ETIMEDOUT);
                self.kill();
            }
        }
        self.finish()
    }

    /// Node's Kill(): signal once (unless already exited), then close every pipe.
    fn kill(&mut self) {
        if self.killed {
            return;
        }
        self.killed = true;
        if !self.reaped {
            if let Err(e) = sys::process::pidfd_send_signal(self.pidfd.as_fd(), self.kill_signal) {
                if e != Errno::ESRCH {
                    // Most likely an invalid signal: report it, but still stop the child.
                    self.set_error(e);
                    let _ = sys::process::pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL);
                }
            }
        }
        self.stdin = None;
        for out in &mut self.outputs {
            out.fd = None;
        }
    }

    fn reap(&mut self) {
        self.reaped = true;
        match sys::process::reap_pidfd(self.pidfd.as_fd()) {
            Ok(exit) => self.exit = Some(exit),
            // Cannot happen for our own unreaped child; report it rather than spin on it.
            Err(e) => self.set_error(e),
        }
    }

    fn write_input(&mut self) {
        let Some(fd) = &self.stdin else { return };
        let mut failure = None;
        while !self.input.is_empty() {
            let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
            match sys::socket::send(fd.as_fd(), self.input, flags) {
                Ok(sent) => self.input = &self.input[sent..],
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        // All written (the child sees EOF) or the pipe failed.
        self.stdin = None;
        if let Some(e) = failure {
            self.set_pipe_error(e);
        }
    }

    fn read_output(&mut self, i: usize) {
        // Bounded, like libuv's read loop, so a fast writer cannot starve the timeout check.
        for _ in 0..READS_PER_WAKEUP {
            let out = &mut self.outputs[i];
            let Some(fd) = &out.fd else { return };
            out.buf.reserve(READ_CHUNK);
            let spare = out.buf.spare_capacity_mut();
            let room = spare.len().min(READ_CHUNK);
            match sys::socket::recv(fd.as_fd(), &mut spare[..room], libc::MSG_DONTWAIT) {
                Ok(0) => {
                    out.fd = None;
                    return;
                }
                Ok(n) => {
                    // SAFETY: recv initialised the first `n` spare bytes.
                    unsafe { out.buf.set_len(out.buf.len() + n) };
                    self.total_read += n;
                    if self.max_buffer.is_some_and(|max| self.total_read > max) {
                        self.set_error(Errno::ENOBUFS);
                        self.kill();
                        return;
                    }
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return,
                Err(e) => {
                    out.fd = None;
                    self.set_pipe_error(e);
                    return;
                }
            }
        }
    }

    fn finish(self) -> SyncResult {
        let (status, signal) = match self.exit {
            Some(Exit::Code(code)) => (Some(code), None),
            Some(Exit::Signal(sig)) => (None, Some(sig)),
            None => (None, None),
        };
        let mut output: Vec<Option<Vec<u8>>> = (0..self.stdio_count).map(|_| None).collect();
        for out in self.outputs {
            output[out.index] = Some(out.buf);
        }
        SyncResult {
            errno: if self.error != 0 {
                self.error
            } else {
                self.pipe_error
            },
            pid: self.pid,
            status,
            signal,
            output: Some(output),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Instant;

    fn sync_request(args: &[&str], stdio: &[Stdio]) -> SyncRequest<'static> {
        SyncRequest {
            spawn: Request {
                file: args[0].into(),
                args: args.iter().map(|s| s.to_string()).collect(),
                env_pairs: vec!["PATH=/usr/bin:/bin".into()],
                stdio: stdio.to_vec(),
                ..Request::default()
            },
            input: b"",
            timeout: None,
            kill_signal: libc::SIGTERM,
            max_buffer: None,
        }
    }

    const PIPES: [Stdio; 3] = [Stdio::Pipe, Stdio::Pipe, Stdio::Pipe];

    fn sh(script: &str) -> SyncRequest<'static> {
        sync_request(&["/bin/sh", "-c", script], &PIPES)
    }

    fn stdout(result: &SyncResult) -> &[u8] {
        result.output.as_ref().unwrap()[1].as_deref().unwrap()
    }

    #[test]
    fn exit_status_and_no_zombie() {
        let result = spawn_sync(&sync_request(&["/bin/true"], &PIPES));
        assert_eq!(
            (result.errno, result.status, result.signal),
            (0, Some(0), None)
        );
        assert!(result.pid > 0);
        assert_eq!(result.output, Some(vec![None, Some(vec![]), Some(vec![])]));
        // Reaped: no zombie is left behind.
        assert!(!Path::new(&format!("/proc/{}", result.pid)).exists());

        let result = spawn_sync(&sh("exit 3"));
        assert_eq!((result.status, result.signal), (Some(3), None));
    }

    #[test]
    fn signal_death() {
        let result = spawn_sync(&sh("kill -KILL $$"));
        assert_eq!(
            (result.errno, result.status, result.signal),
            (0, None, Some(libc::SIGKILL))
        );
    }

    #[test]
    fn spawn_failures() {
        let result = spawn_sync(&sync_request(&["no-such-program-rc"], &PIPES));
        assert_eq!(
            result,
            SyncResult {
                errno: -libc::ENOENT,
                ..SyncResult::default()
            }
        );
        let mut req = sync_request(&["/bin/true"], &PIPES);
        req.spawn.cwd = Some("/nonexistent-rc-dir".into());
        assert_eq!(spawn_sync(&req).errno, -libc::ENOENT);
        let req = sync_request(&["/bin/true"], &[Stdio::Pipe, Stdio::Pipe, Stdio::Ipc]);
        assert_eq!(spawn_sync(&req).errno, -libc::EINVAL);
    }

    #[test]
    fn input_round_trip_through_cat() {
        // Larger than a socket buffer, so the write and the reads interleave.
        let input: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut req = sync_request(&["cat"], &PIPES);
        req.input = &input;
        let result = spawn_sync(&req);
        assert_eq!((result.errno, result.status), (0, Some(0)));
        assert!(stdout(&result) == input.as_slice());
    }

    #[test]
    fn stdin_is_closed_without_input() {
        let result = spawn_sync(&sync_request(&["cat"], &PIPES));
        assert_eq!((result.errno, result.status), (0, Some(0)));
        assert_eq!(stdout(&result), b"");
    }

    #[test]
    fn stderr_and_extra_pipes_are_collected() {
        let stdio = [Stdio::Ignore, Stdio::Pipe, Stdio::Pipe, Stdio::Pipe];
        let req = sync_request(
            &["/bin/sh", "-c", "echo out; echo err >&2; echo three >&3"],
            &stdio,
        );
        let result = spawn_sync(&req);
        let output = result.output.unwrap();
        assert_eq!(
            output,
            [
                None,
                Some(b"out\n".to_vec()),
                Some(b"err\n".to_vec()),
                Some(b"three\n".to_vec())
            ]
        );
    }

    #[test]
    fn unread_input_is_epipe() {
        let input = vec![0u8; 10 << 20];
        let mut req = sync_request(&["/bin/true"], &PIPES);
        req.input = &input;
        let result = spawn_sync(&req);
        assert_eq!((result.errno, result.status), (-libc::EPIPE, Some(0)));
    }

    #[test]
    fn timeout_kills_with_kill_signal() {
        let mut req = sh("exec sleep 30");
        req.timeout = Some(Duration::from_millis(100));
        let start = Instant::now();
        let result = spawn_sync(&req);
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(
            (result.errno, result.status, result.signal),
            (-libc::ETIMEDOUT, None, Some(libc::SIGTERM))
        );
    }

    #[test]
    fn invalid_kill_signal_falls_back_to_sigkill() {
        let mut req = sh("exec sleep 30");
        req.timeout = Some(Duration::from_millis(50));
        req.kill_signal = 999;
        let result = spawn_sync(&req);
        // The timeout is the first error; the child still dies.
        assert_eq!(
            (result.errno, result.signal),
            (-libc::ETIMEDOUT, Some(libc::SIGKILL))
        );
    }

    #[test]
    fn timeout_does_not_wait_for_a_grandchild_holding_a_pipe() {
        // The grandchild `cat` keeps stdout open until we close `hold`, after spawn_sync.
        let (hold, held) = sys::socket::socketpair_cloexec().unwrap();
        let stdio = [
            Stdio::Ignore,
            Stdio::Pipe,
            Stdio::Ignore,
            Stdio::Fd(held.as_raw_fd()),
        ];
        let mut req = sync_request(&["/bin/sh", "-c", "cat <&3 & exec sleep 30"], &stdio);
        req.timeout = Some(Duration::from_millis(100));
        let start = Instant::now();
        let result = spawn_sync(&req);
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(
            (result.errno, result.signal),
            (-libc::ETIMEDOUT, Some(libc::SIGTERM))
        );
        drop((hold, held));
    }

    #[test]
    fn max_buffer_kills_without_truncating() {
        // Far more than a socket buffer holds, so the writer is still alive when killed.
        let mut req = sh("head -c 64000000 /dev/zero");
        req.max_buffer = Some(1000);
        let result = spawn_sync(&req);
        assert_eq!(result.errno, -libc::ENOBUFS);
        assert!(result.signal.is_some());
        // Like Node: whatever was read before the kill, possibly more than maxBuffer.
        assert!(stdout(&result).len() > 1000);
    }

    #[test]
    fn max_buffer_counts_all_pipes_together() {
        let mut req = sh("head -c 600 /dev/zero; head -c 600 /dev/zero >&2");
        req.max_buffer = Some(1000);
        assert_eq!(spawn_sync(&req).errno, -libc::ENOBUFS);
        let mut req = sh("head -c 1000 /dev/zero");
        req.max_buffer = Some(1000);
        let result = spawn_sync(&req);
        assert_eq!((result.errno, result.status), (0, Some(0)));
        assert_eq!(stdout(&result).len(), 1000);
    }
}
