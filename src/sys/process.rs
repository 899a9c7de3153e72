//! Children and signals: pidfds, waiting, kill, and the raw signal-mask / disposition
//! syscalls the clone(CLONE_VM|CLONE_VFORK) child needs.

use nix::errno::Errno;
use nix::libc;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// pidfd_open(2); the kernel always makes pidfds close-on-exec.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with integer arguments.
    let fd = syscall!(syscall(libc::SYS_pidfd_open, pid, 0))?;
    // SAFETY: the syscall returned a fresh descriptor, which fits in a c_int.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// pidfd_send_signal(2): cannot hit a recycled pid, unlike kill(2).
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall; a null siginfo means "as kill(2) would send it".
    syscall!(syscall(
        libc::SYS_pidfd_send_signal,
        pidfd.as_raw_fd(),
        signal,
        std::ptr::null::<libc::siginfo_t>(),
        0,
    ))
    .map(drop)
}

/// kill(2), for a child of ours that has no pidfd (yet).
pub(crate) fn kill(pid: libc::pid_t, signal: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall with integer arguments.
    syscall!(kill(pid, signal)).map(drop)
}

/// How a reaped child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    Code(i32),
    Signal(i32),
}

/// waitid(P_PIDFD, WEXITED | `flags`) on the child behind `pidfd`, retrying EINTR: None if
/// it is still running (under WNOHANG), else how it ended.
pub(crate) fn wait_pidfd(pidfd: BorrowedFd<'_>, flags: libc::c_int) -> Result<Option<Exit>, Errno> {
    loop {
        // SAFETY: an all-zero siginfo_t is a valid value for waitid to fill in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let id = pidfd.as_raw_fd() as libc::id_t;
        // SAFETY: `info` is a valid out-pointer; the id is a pidfd we own.
        match syscall!(waitid(libc::P_PIDFD, id, &mut info, libc::WEXITED | flags)) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(_) => {
                // SAFETY: waitid succeeded for a child, so the SIGCHLD fields are the valid
                // ones (all zero when WNOHANG found it still running).
                let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
                return Ok(match info.si_code {
                    _ if pid == 0 => None,
                    libc::CLD_EXITED => Some(Exit::Code(status)),
                    _ => Some(Exit::Signal(status)),
                });
            }
        }
    }
}

/// Blocks until the child behind `pidfd` exits and reaps it, retrying EINTR.
pub(crate) fn reap_pidfd(pidfd: BorrowedFd<'_>) -> Result<Exit, Errno> {
    // Without WNOHANG waitid only returns once the child has exited.
    wait_pidfd(pidfd, 0)?.ok_or(Errno::ECHILD)
}

/// Reaps `pid` by pid (never -1), for children whose pidfd could not be obtained or which
/// failed before exec.
pub(crate) fn reap_pid(pid: libc::pid_t) {
    // SAFETY: a null status pointer is allowed.
    while syscall!(waitpid(pid, std::ptr::null_mut(), 0)) == Err(Errno::EINTR) {}
}

/// Every signal bit, as the kernel's 64-bit sigset.
pub(super) const ALL_SIGNALS: u64 = !0;

/// rt_sigprocmask(SIG_SETMASK) on the calling thread through the raw syscall: glibc's wrapper
/// refuses to block its internal signals, which must stay blocked while a CLONE_VM child
/// shares our memory. Returns the previous mask. Async-signal-safe.
pub(super) fn set_signal_mask(mask: u64) -> u64 {
    let mut old: u64 = 0;
    // SAFETY: both pointers refer to 8-byte sigsets, the size passed to the kernel. It cannot
    // fail with valid pointers and SIG_SETMASK.
    let _ = syscall!(syscall(
        libc::SYS_rt_sigprocmask,
        libc::SIG_SETMASK,
        &mask as *const u64,
        &mut old as *mut u64,
        std::mem::size_of::<u64>(),
    ));
    old
}

/// The kernel's `struct sigaction` (not glibc's). Only `handler` is non-zero and it comes first
/// on x86_64, aarch64 and riscv64, so the zeroed tail fits each of their layouts.
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// Sets the disposition of `signal` (SIG_DFL or SIG_IGN) through the raw syscall, which also
/// works for glibc's internal signals. Async-signal-safe; errors (SIGKILL, SIGSTOP) are ignored.
pub(super) fn set_disposition_raw(signal: libc::c_int, handler: libc::sighandler_t) {
    let action = KernelSigaction {
        handler,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: `action` has the kernel's layout; a null old-action pointer is allowed.
    let _ = syscall!(syscall(
        libc::SYS_rt_sigaction,
        signal,
        &action as *const KernelSigaction,
        std::ptr::null_mut::<KernelSigaction>(),
        std::mem::size_of::<u64>(),
    ));
}
