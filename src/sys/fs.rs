//! Paths and files: stat, access, chmod, /dev/null.

use nix::errno::Errno;
use nix::libc;
use std::ffi::CStr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// /dev/null opened for reading and writing, close-on-exec.
pub(crate) fn open_dev_null() -> Result<OwnedFd, Errno> {
    // SAFETY: the path is a NUL-terminated literal.
    let fd = syscall!(open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC))?;
    // SAFETY: open returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `st_mode` of `path`, following symlinks.
pub(crate) fn stat_mode(path: &CStr) -> Result<libc::mode_t, Errno> {
    // SAFETY: stat is plain data; an all-zero one is a valid out-value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated; stat writes into `st` only.
    syscall!(stat(path.as_ptr(), &mut st))?;
    Ok(st.st_mode)
}

/// The inode number of the file behind `fd` (a socket's is what sock_diag reports).
pub(crate) fn inode_of(fd: RawFd) -> Result<u64, Errno> {
    // SAFETY: stat is plain data; an all-zero one is a valid out-value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into `st` only.
    syscall!(fstat(fd, &mut st))?;
    Ok(st.st_ino)
}

/// chmod(2).
pub(crate) fn chmod(path: &CStr, mode: libc::mode_t) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated.
    syscall!(chmod(path.as_ptr(), mode)).map(drop)
}

/// Whether the effective ids may execute `path` (what execve checks), as faccessat(X_OK,
/// AT_EACCESS) says.
pub(crate) fn access_exec(path: &CStr) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated.
    syscall!(faccessat(
        libc::AT_FDCWD,
        path.as_ptr(),
        libc::X_OK,
        libc::AT_EACCESS
    ))
    .map(drop)
}
