//! INTERFACE STUB: the reactor helper replaces the bodies; the signatures are the contract
//! used by spawn.rs / napi_process.rs.
use std::os::fd::OwnedFd;

/// How frames on a channel are delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serialization {
    Json,
    Advanced,
}

/// Watch a freshly spawned child: the reactor registers its pidfd, reaps it by pid when it
/// exits and queues an `exit` event. Keeps the pidfd for `kill`.
pub fn watch_exit(pid: i32, pidfd: OwnedFd) {
    let _ = (pid, pidfd);
    unimplemented!()
}

/// Send `signal` to a watched, unreaped child through its pidfd. Err(ESRCH) once reaped.
pub fn kill(pid: i32, signal: i32) -> Result<(), nix::errno::Errno> {
    let _ = (pid, signal);
    unimplemented!()
}

/// Register the parent end of an IPC socketpair; returns the channel id used in events.
pub fn open_channel(fd: OwnedFd, mode: Serialization, max_message_size: usize) -> u32 {
    let _ = (fd, mode, max_message_size);
    unimplemented!()
}
