//! Starting a child from an [`ExecPlan`] prepared in the parent: posix_spawn (glibc:
//! clone(CLONE_VM|CLONE_VFORK)), or, when uid/gid must change, which posix_spawn cannot
//! express, our own clone(CLONE_VM|CLONE_VFORK) child doing the same steps in the same order
//! plus the id change. Either way the parent never copies its page tables.

use super::process::{set_disposition_raw, set_signal_mask, ALL_SIGNALS};
use nix::errno::Errno;
use nix::libc;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

/// Stack for our clone child: it only makes raw syscalls from a few small frames.
const CHILD_STACK_SIZE: usize = 64 * 1024;

/// A NULL-terminated `char*` array (argv, envp) and the strings it points to.
pub(crate) struct CStrArray {
    strings: Vec<CString>,
    ptrs: Vec<*const c_char>,
}

impl CStrArray {
    pub(crate) fn new(strings: Vec<CString>) -> Self {
        let mut ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        CStrArray { strings, ptrs }
    }

    pub(crate) fn strings(&self) -> &[CString] {
        &self.strings
    }
}

/// Everything the child needs, prepared before it exists.
#[derive(Clone, Copy)]
pub(crate) struct ExecPlan<'a> {
    pub path: &'a CStr,
    pub argv: &'a CStrArray,
    pub envp: &'a CStrArray,
    /// None when the cwd is inherited.
    pub cwd: Option<&'a CStr>,
    /// (source, target) pairs for dup2, in order. No source may equal a later target.
    pub dups: &'a [(RawFd, RawFd)],
    /// Run the child in a new session.
    pub detached: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// Owns an initialised posix_spawn_file_actions_t.
struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    fn new() -> Result<Self, Errno> {
        // SAFETY: init makes the zeroed value a valid object before any other use.
        let mut actions = FileActions(unsafe { std::mem::zeroed() });
        // SAFETY: a valid pointer to the object to initialise.
        errno_call!(posix_spawn_file_actions_init(&mut actions.0))?;
        Ok(actions)
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in new() and destroyed once.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

/// Owns an initialised posix_spawnattr_t.
struct SpawnAttr(libc::posix_spawnattr_t);

impl SpawnAttr {
    fn new() -> Result<Self, Errno> {
        // SAFETY: init makes the zeroed value a valid object before any other use.
        let mut attr = SpawnAttr(unsafe { std::mem::zeroed() });
        // SAFETY: a valid pointer to the object to initialise.
        errno_call!(posix_spawnattr_init(&mut attr.0))?;
        Ok(attr)
    }
}

impl Drop for SpawnAttr {
    fn drop(&mut self) {
        // SAFETY: initialised in new() and destroyed once.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

/// Starts `plan` with posix_spawn, which cannot change ids (`uid` and `gid` must be None).
pub(crate) fn posix_spawn(plan: &ExecPlan<'_>) -> Result<libc::pid_t, Errno> {
    debug_assert!(plan.uid.is_none() && plan.gid.is_none());
    // SAFETY (every call below): the posix_spawn objects are initialised (FileActions::new,
    // SpawnAttr::new); all other pointers refer to `plan` or locals, which outlive the calls.
    let mut actions = FileActions::new()?;
    for &(source, target) in plan.dups {
        errno_call!(posix_spawn_file_actions_adddup2(
            &mut actions.0,
            source,
            target
        ))?;
    }
    if let Some(cwd) = plan.cwd {
        errno_call!(posix_spawn_file_actions_addchdir_np(
            &mut actions.0,
            cwd.as_ptr()
        ))?;
    }

    let mut attr = SpawnAttr::new()?;
    // Like libuv: the child starts with default dispositions and an empty signal mask.
    // (libc declares these flags with mixed integer types; setflags takes a short.)
    let mut flags = (libc::POSIX_SPAWN_SETSIGDEF | libc::POSIX_SPAWN_SETSIGMASK) as libc::c_short;
    if plan.detached {
        flags |= libc::POSIX_SPAWN_SETSID as libc::c_short;
    }
    errno_call!(posix_spawnattr_setflags(&mut attr.0, flags))?;
    errno_call!(posix_spawnattr_setsigdefault(&mut attr.0, &every_signal()))?;
    // SAFETY: all-zero is a valid sigset_t, emptied below.
    let mut empty: libc::sigset_t = unsafe { std::mem::zeroed() };
    syscall!(sigemptyset(&mut empty))?;
    errno_call!(posix_spawnattr_setsigmask(&mut attr.0, &empty))?;

    let mut pid: libc::pid_t = 0;
    loop {
        let spawned = errno_call!(posix_spawn(
            &mut pid,
            plan.path.as_ptr(),
            &actions.0,
            &attr.0,
            plan.argv.ptrs.as_ptr() as *const *mut c_char,
            plan.envp.ptrs.as_ptr() as *const *mut c_char,
        ));
        match spawned {
            Err(Errno::EINTR) => continue,
            other => return other.map(|()| pid),
        }
    }
}

/// Signals 1-64, glibc's two internal ones included. sigfillset() leaves those out, and
/// glibc's posix_spawn then sets them to SIG_IGN, which survives exec; libuv's children start
/// with nothing ignored. (Their default action is harmless here: glibc only sends them to the
/// parent's threads, never to the vfork child.)
fn every_signal() -> libc::sigset_t {
    // SAFETY: all-zero is an empty sigset_t.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: glibc's sigset_t is an array of unsigned longs, signal n at bit n-1 of the first
    // word on 64-bit targets; the first u64 of the array is in bounds.
    unsafe { *(&mut set as *mut libc::sigset_t as *mut u64) = ALL_SIGNALS };
    set
}

/// What the clone child reads (shared memory under CLONE_VM) and where it reports its errno.
struct CloneChild<'a> {
    plan: &'a ExecPlan<'a>,
    /// SIGRTMAX, read in the parent: the child calls nothing from glibc but syscall wrappers.
    last_signal: c_int,
    err: AtomicI32,
}

/// Starts `plan` with our own clone(CLONE_VM|CLONE_VFORK) child, which can change ids.
pub(crate) fn clone_vfork(plan: &ExecPlan<'_>) -> Result<libc::pid_t, Errno> {
    let child = CloneChild {
        plan,
        last_signal: libc::SIGRTMAX(),
        err: AtomicI32::new(0),
    };
    let mut stack = Vec::<u8>::with_capacity(CHILD_STACK_SIZE);
    // The stack grows down from the (16-byte aligned) end of the buffer.
    let top = (stack.as_mut_ptr() as usize + CHILD_STACK_SIZE) & !15;

    let old_mask = set_signal_mask(ALL_SIGNALS);
    // SAFETY: CLONE_VFORK suspends us until the child execs or exits, so `child`, `plan` and
    // `stack` outlive its use of them; the child function only makes raw syscalls.
    let pid = syscall!(clone(
        clone_child,
        top as *mut c_void,
        libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
        &child as *const CloneChild<'_> as *mut c_void,
    ));
    set_signal_mask(old_mask);
    let pid = pid?;
    match child.err.load(Ordering::SeqCst) {
        0 => Ok(pid),
        err => {
            super::process::reap_pid(pid);
            Err(Errno::from_raw(err))
        }
    }
}

/// Runs in the child on its own stack, sharing the parent's memory, until execve. Only raw
/// syscalls: glibc's setuid/setgid would signal the parent's threads, and nothing here may
/// allocate, lock or unwind.
extern "C" fn clone_child(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the CloneChild that clone_vfork keeps alive until we exec or exit.
    let child = unsafe { &*(arg as *const CloneChild<'_>) };
    let plan = child.plan;
    let fail = || -> c_int {
        child.err.store(Errno::last() as i32, Ordering::SeqCst);
        // SAFETY: _exit is async-signal-safe and ends only this process.
        unsafe { libc::_exit(127) }
    };

    // Signals are all blocked; reset every disposition (as every_signal() makes posix_spawn
    // do) before unblocking, so no parent handler can run here on the shared memory.
    for signal in 1..=child.last_signal {
        set_disposition_raw(signal, libc::SIG_DFL);
    }
    // SAFETY (all syscalls below): integer arguments, or pointers into `plan`, which the
    // parent keeps alive while it is suspended by CLONE_VFORK.
    if plan.detached && syscall!(syscall(libc::SYS_setsid)).is_err() {
        return fail();
    }
    for &(source, target) in plan.dups {
        // Sources are never equal to targets (they sit above the stdio count).
        if syscall!(syscall(libc::SYS_dup3, source, target, 0)).is_err() {
            return fail();
        }
    }
    if let Some(cwd) = plan.cwd {
        if syscall!(syscall(libc::SYS_chdir, cwd.as_ptr())).is_err() {
            return fail();
        }
    }
    // libuv drops supplementary groups when it changes ids; this fails unless we are
    // privileged, which is fine: then there was nothing to drop.
    let _ = syscall!(syscall(
        libc::SYS_setgroups,
        0,
        std::ptr::null::<libc::gid_t>()
    ));
    if let Some(gid) = plan.gid {
        if syscall!(syscall(libc::SYS_setgid, gid)).is_err() {
            return fail();
        }
    }
    if let Some(uid) = plan.uid {
        if syscall!(syscall(libc::SYS_setuid, uid)).is_err() {
            return fail();
        }
    }
    set_signal_mask(0);
    let (argv, envp) = (plan.argv.ptrs.as_ptr(), plan.envp.ptrs.as_ptr());
    // execve returns only when it failed.
    let _ = syscall!(syscall(libc::SYS_execve, plan.path.as_ptr(), argv, envp));
    fail()
}
