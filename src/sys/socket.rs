//! Sockets: socketpairs, socket options, and the reads and writes of spawnSync pipes.

use nix::errno::Errno;
use nix::libc;
use std::mem::{size_of, zeroed, MaybeUninit};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// A connected AF_UNIX stream socketpair, both ends close-on-exec (what libuv uses for pipes).
pub(crate) fn socketpair_cloexec() -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [0 as libc::c_int; 2];
    let ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    syscall!(socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()))?;
    // SAFETY: socketpair succeeded, so both descriptors are new and owned by us.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// How many connections wait in a listening TCP socket's accept queue (TCP_INFO's
/// `tcpi_unacked` is the accept backlog while the socket listens).
pub(crate) fn accept_queue_len(fd: RawFd) -> Result<u32, Errno> {
    // SAFETY: tcp_info is plain data; all zeroes is a valid value.
    let mut info: libc::tcp_info = unsafe { zeroed() };
    getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO, &mut info)?;
    Ok(info.tcpi_unacked)
}

/// getsockopt into `value`, a plain-data type the option fills (at most its size).
fn getsockopt<T: Copy>(
    fd: RawFd,
    level: libc::c_int,
    opt: libc::c_int,
    value: &mut T,
) -> Result<(), Errno> {
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `value`.
    syscall!(getsockopt(
        fd,
        level,
        opt,
        (value as *mut T).cast(),
        &mut len
    ))
    .map(drop)
}

/// send(2) of `buf`: the byte count taken.
pub(crate) fn send(fd: BorrowedFd<'_>, buf: &[u8], flags: libc::c_int) -> Result<usize, Errno> {
    // SAFETY: the pointer/length pair describes `buf`.
    let n = syscall!(send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), flags))?;
    Ok(n as usize)
}

/// recv(2) into `buf`: the byte count received (its first bytes are then initialised).
pub(crate) fn recv(
    fd: BorrowedFd<'_>,
    buf: &mut [MaybeUninit<u8>],
    flags: libc::c_int,
) -> Result<usize, Errno> {
    // SAFETY: recv writes at most buf.len() bytes into `buf`.
    let n = syscall!(recv(
        fd.as_raw_fd(),
        buf.as_mut_ptr().cast(),
        buf.len(),
        flags
    ))?;
    Ok(n as usize)
}
