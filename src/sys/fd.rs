//! Descriptor flags, duplication and readiness.

use nix::errno::Errno;
use nix::libc;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Duplicates `fd` onto the lowest free number `>= min`, close-on-exec.
pub(crate) fn dup_cloexec_min(fd: RawFd, min: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: F_DUPFD_CLOEXEC only reads `fd`; an invalid one yields EBADF.
    let new = syscall!(fcntl(fd, libc::F_DUPFD_CLOEXEC, min))?;
    // SAFETY: fcntl returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Fails with EBADF unless `fd` is open.
pub(crate) fn check_open(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: F_GETFD has no side effects.
    syscall!(fcntl(fd, libc::F_GETFD)).map(drop)
}

/// Makes `fd` close-on-exec (its only descriptor flag).
pub(crate) fn set_cloexec(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: F_SETFD only touches the descriptor flags.
    syscall!(fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC)).map(drop)
}

/// Sets O_NONBLOCK on the open file description behind `fd`.
pub(crate) fn set_nonblock(fd: RawFd) -> Result<(), Errno> {
    update_status_flags(fd, |flags| flags | libc::O_NONBLOCK)
}

/// Clears O_NONBLOCK on the open file description behind `fd`.
pub(crate) fn clear_nonblock(fd: RawFd) -> Result<(), Errno> {
    update_status_flags(fd, |flags| flags & !libc::O_NONBLOCK)
}

/// Applies `change` to the file status flags, writing them only when they change.
fn update_status_flags(
    fd: RawFd,
    change: impl Fn(libc::c_int) -> libc::c_int,
) -> Result<(), Errno> {
    // SAFETY: F_GETFL / F_SETFL only touch the file status flags.
    let flags = syscall!(fcntl(fd, libc::F_GETFL))?;
    let new = change(flags);
    if new != flags {
        // SAFETY: as above.
        syscall!(fcntl(fd, libc::F_SETFL, new))?;
    }
    Ok(())
}

/// poll(2) once: the number of entries with events, 0 on timeout (`timeout_ms` -1: none).
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> Result<usize, Errno> {
    // SAFETY: `fds` is a valid array of its length.
    let ready = syscall!(poll(
        fds.as_mut_ptr(),
        fds.len() as libc::nfds_t,
        timeout_ms
    ))?;
    Ok(ready as usize)
}

/// Blocks until `fd` is readable (a pidfd: its process exited), whatever its O_NONBLOCK.
pub(crate) fn wait_readable(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut pfd = [libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    loop {
        match poll(&mut pfd, -1) {
            Err(Errno::EINTR) => continue,
            other => return other.map(drop),
        }
    }
}
