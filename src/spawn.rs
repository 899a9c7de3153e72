//! vfork-class process creation: the parent never copies its page tables, so the cost of a
//! spawn does not grow with the heap. posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK)) does the
//! work unless uid/gid must change, which posix_spawn cannot express; then our own
//! clone(CLONE_VM|CLONE_VFORK) child does the same steps in the same order plus the id change.
//!
//! Behaviour follows libuv on Linux (which execs with glibc's execvp): PATH comes from the
//! child's environment, `ENOEXEC` files are run by /bin/sh, failures come back as an errno.

use crate::sys;
use nix::errno::Errno;
use nix::libc;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// Largest IPC message the reactor accepts when the caller gives no `maxMessageSize`.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// glibc execvp's search path when the environment has no PATH (confstr(_CS_PATH)).
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// Stack for our clone child: it only makes raw syscalls from a few small frames.
const CHILD_STACK_SIZE: usize = 64 * 1024;

/// What child fd `i` is connected to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stdio {
    /// A socketpair; the parent end is returned.
    Pipe,
    /// /dev/null.
    Ignore,
    /// A copy of this parent fd.
    Fd(RawFd),
    /// The IPC socketpair (at most one).
    Ipc,
}

/// A spawn request; the JS layer has already checked types and ranges.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Path, or a name searched in the PATH of `env_pairs`.
    pub file: String,
    /// The whole argv, argv[0] included.
    pub args: Vec<String>,
    /// `KEY=value` strings: the child's whole environment.
    pub env_pairs: Vec<String>,
    pub cwd: Option<String>,
    /// Run the child in a new session.
    pub detached: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// One entry per child fd. Missing entries among fds 0-2 are /dev/null, as in libuv.
    pub stdio: Vec<Stdio>,
}

/// A running, unreaped child.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    pub pidfd: OwnedFd,
    /// Parent end of each `Pipe` entry, by child fd; `None` for other entries.
    pub pipes: Vec<Option<OwnedFd>>,
    /// Parent end of the `Ipc` entry.
    pub ipc: Option<OwnedFd>,
}

/// How the child is created. Both do the same steps in the same order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Launcher {
    PosixSpawn,
    Clone,
}

/// Spawns `req` without registering it anywhere: the caller owns the pidfd and must reap.
pub fn spawn_process(req: &Request) -> Result<Spawned, Errno> {
    let launcher = if req.uid.is_some() || req.gid.is_some() {
        Launcher::Clone
    } else {
        Launcher::PosixSpawn
    };
    spawn_with(req, launcher)
}

fn spawn_with(req: &Request, launcher: Launcher) -> Result<Spawned, Errno> {
    let argv = CStrArray::new(&req.args)?;
    let envp = CStrArray::new(&req.env_pairs)?;
    let cwd = req.cwd.as_deref().map(cstring).transpose()?;
    let exe = resolve_executable(&req.file, &req.env_pairs, req.cwd.as_deref())?;
    let stdio = ChildStdio::new(&req.stdio)?;

    let mut plan = ExecPlan {
        path: exe.as_ptr(),
        argv: argv.ptrs.as_ptr(),
        envp: envp.ptrs.as_ptr(),
        cwd: cwd.as_ref().map_or(std::ptr::null(), |c| c.as_ptr()),
        dups: &stdio.dups,
        detached: req.detached,
        uid: req.uid,
        gid: req.gid,
    };
    let pid = match launch(&plan, launcher) {
        // execvp semantics: a file the kernel cannot execute is a shell script.
        Err(Errno::ENOEXEC) => {
            let rest: &[*const c_char] = if req.args.len() > 1 {
                &argv.ptrs[1..]
            } else {
                &[std::ptr::null()]
            };
            let mut sh_argv = vec![c"/bin/sh".as_ptr(), exe.as_ptr()];
            sh_argv.extend_from_slice(rest);
            plan.path = c"/bin/sh".as_ptr();
            plan.argv = sh_argv.as_ptr();
            launch(&plan, launcher)?
        }
        other => other?,
    };

    let pidfd = match sys::process::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) => {
            // ESRCH means the child is already gone (reaped by an ignored SIGCHLD): there is
            // no pid of ours left to signal.
            if e != Errno::ESRCH {
                // SAFETY: `pid` is our own unreaped child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                sys::process::reap_pid(pid);
            }
            return Err(e);
        }
    };
    // The child's ends (`stdio._keep`) are closed when this function returns.
    Ok(Spawned {
        pid,
        pidfd,
        pipes: stdio.pipes,
        ipc: stdio.ipc,
    })
}

fn cstring(s: &str) -> Result<CString, Errno> {
    CString::new(s).map_err(|_| Errno::EINVAL)
}

/// A NULL-terminated `char*` array and the strings it points to.
struct CStrArray {
    _strings: Vec<CString>,
    ptrs: Vec<*const c_char>,
}

impl CStrArray {
    fn new(items: &[String]) -> Result<Self, Errno> {
        let strings = items
            .iter()
            .map(|s| cstring(s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        Ok(CStrArray {
            _strings: strings,
            ptrs,
        })
    }
}

/// The path to exec. A `file` with a `/` is used as is (relative to the child's cwd); a bare
/// name is searched like glibc's execvp does in the child, but here in the parent: entries
/// that do not exist are skipped, entries that exist but cannot be executed are skipped and
/// turn the final ENOENT into EACCES.
fn resolve_executable(file: &str, env: &[String], cwd: Option<&str>) -> Result<CString, Errno> {
    if file.is_empty() {
        return Err(Errno::ENOENT);
    }
    if file.contains('/') {
        return cstring(file);
    }
    if file.len() > libc::NAME_MAX as usize {
        return Err(Errno::ENAMETOOLONG);
    }
    let path = env
        .iter()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let mut saw_eacces = false;
    for dir in path.split(':') {
        // An empty entry is the current directory: exec the bare name, relative to the cwd.
        let candidate = if dir.is_empty() {
            file.to_owned()
        } else {
            format!("{dir}/{file}")
        };
        // The child resolves relative paths after its chdir, so check them the same way.
        let checked = match cwd {
            Some(cwd) if !candidate.starts_with('/') => format!("{cwd}/{candidate}"),
            _ => candidate.clone(),
        };
        match executable(&cstring(&checked)?) {
            Ok(()) => return cstring(&candidate),
            Err(Errno::EACCES) => saw_eacces = true,
            Err(
                Errno::ENOENT | Errno::ENOTDIR | Errno::ESTALE | Errno::ENODEV | Errno::ETIMEDOUT,
            ) => {}
            Err(e) => return Err(e),
        }
    }
    Err(if saw_eacces {
        Errno::EACCES
    } else {
        Errno::ENOENT
    })
}

/// What execve would say about `path` before reading it: EACCES for anything that is not an
/// executable regular file (directories included).
fn executable(path: &CStr) -> Result<(), Errno> {
    // SAFETY: an all-zero stat is a valid out-value; `path` is NUL-terminated.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::stat(path.as_ptr(), &mut st) } == -1 {
        return Err(Errno::last());
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Errno::EACCES);
    }
    // AT_EACCESS: execve checks the effective ids.
    // SAFETY: `path` is NUL-terminated.
    if unsafe { libc::faccessat(libc::AT_FDCWD, path.as_ptr(), libc::X_OK, libc::AT_EACCESS) } == -1
    {
        return Err(Errno::last());
    }
    Ok(())
}

/// The descriptors a spawn needs. Every source fd the child dup2()s from is numbered at or
/// above the stdio count, so no dup2 onto a target can clobber a source still to be copied.
struct ChildStdio {
    /// Child-side fds we created (close-on-exec); closed in the parent after the spawn.
    _keep: Vec<OwnedFd>,
    /// (source, target) pairs, targets 0..n in order.
    dups: Vec<(RawFd, RawFd)>,
    pipes: Vec<Option<OwnedFd>>,
    ipc: Option<OwnedFd>,
}

impl ChildStdio {
    fn new(stdio: &[Stdio]) -> Result<Self, Errno> {
        let count = stdio.len().max(3);
        let min = RawFd::try_from(count).map_err(|_| Errno::EINVAL)?;
        let mut keep = Vec::new();
        let mut dups = Vec::with_capacity(count);
        let mut pipes: Vec<Option<OwnedFd>> = (0..count).map(|_| None).collect();
        let mut ipc = None;
        let mut dev_null: Option<RawFd> = None;

        for (target, pipe_slot) in pipes.iter_mut().enumerate() {
            let entry = stdio.get(target).copied().unwrap_or(Stdio::Ignore);
            // libuv points an ignored stdin/stdout/stderr at /dev/null but leaves an ignored
            // fd 3+ closed in the child.
            if entry == Stdio::Ignore && target > 2 {
                continue;
            }
            let source = match entry {
                Stdio::Pipe | Stdio::Ipc => {
                    let (parent, child) = sys::socket::socketpair_cloexec()?;
                    let child = above(child, min)?;
                    let raw = child.as_raw_fd();
                    keep.push(child);
                    if entry == Stdio::Ipc {
                        if ipc.is_some() {
                            return Err(Errno::EINVAL);
                        }
                        ipc = Some(parent);
                    } else {
                        *pipe_slot = Some(parent);
                    }
                    raw
                }
                Stdio::Ignore => match dev_null {
                    Some(fd) => fd,
                    None => {
                        let fd = above(sys::fs::open_dev_null()?, min)?;
                        let raw = fd.as_raw_fd();
                        keep.push(fd);
                        dev_null = Some(raw);
                        raw
                    }
                },
                Stdio::Fd(fd) => {
                    if fd < 0 {
                        return Err(Errno::EBADF);
                    }
                    // libuv makes the child's stdin/stdout/stderr blocking; the flag lives on
                    // the shared open file description, so doing it here is the same thing.
                    if target <= 2 {
                        sys::fd::clear_nonblock(fd)?;
                    }
                    if fd < min {
                        let copy = sys::fd::dup_cloexec_min(fd, min)?;
                        let raw = copy.as_raw_fd();
                        keep.push(copy);
                        raw
                    } else {
                        sys::fd::check_open(fd)?;
                        fd
                    }
                }
            };
            dups.push((source, target as RawFd));
        }
        Ok(ChildStdio {
            _keep: keep,
            dups,
            pipes,
            ipc,
        })
    }
}

/// `fd` itself if it is numbered `>= min`, else a close-on-exec copy that is.
fn above(fd: OwnedFd, min: RawFd) -> Result<OwnedFd, Errno> {
    if fd.as_raw_fd() >= min {
        Ok(fd)
    } else {
        sys::fd::dup_cloexec_min(fd.as_raw_fd(), min)
    }
}

/// Everything the child needs, as raw pointers prepared before it exists.
struct ExecPlan<'a> {
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    /// Null when the cwd is inherited.
    cwd: *const c_char,
    dups: &'a [(RawFd, RawFd)],
    detached: bool,
    uid: Option<u32>,
    gid: Option<u32>,
}

fn launch(plan: &ExecPlan<'_>, launcher: Launcher) -> Result<libc::pid_t, Errno> {
    match launcher {
        Launcher::PosixSpawn => posix_spawn_launch(plan),
        Launcher::Clone => clone_launch(plan),
    }
}

/// Owns an initialised posix_spawn_file_actions_t.
struct FileActions(libc::posix_spawn_file_actions_t);

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in posix_spawn_launch and destroyed once.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

/// Owns an initialised posix_spawnattr_t.
struct SpawnAttr(libc::posix_spawnattr_t);

impl Drop for SpawnAttr {
    fn drop(&mut self) {
        // SAFETY: initialised in posix_spawn_launch and destroyed once.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

/// posix_spawn functions return the error number instead of setting errno.
fn spawn_rc(rc: c_int) -> Result<(), Errno> {
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno::from_raw(rc))
    }
}

fn posix_spawn_launch(plan: &ExecPlan<'_>) -> Result<libc::pid_t, Errno> {
    debug_assert!(plan.uid.is_none() && plan.gid.is_none());
    // SAFETY: every posix_spawn object is initialised by its init function before use and
    // destroyed by its Drop; all pointers in `plan` outlive this call.
    unsafe {
        let mut actions = FileActions(std::mem::zeroed());
        spawn_rc(libc::posix_spawn_file_actions_init(&mut actions.0))?;
        for &(source, target) in plan.dups {
            spawn_rc(libc::posix_spawn_file_actions_adddup2(
                &mut actions.0,
                source,
                target,
            ))?;
        }
        if !plan.cwd.is_null() {
            spawn_rc(libc::posix_spawn_file_actions_addchdir_np(
                &mut actions.0,
                plan.cwd,
            ))?;
        }

        let mut attr = SpawnAttr(std::mem::zeroed());
        spawn_rc(libc::posix_spawnattr_init(&mut attr.0))?;
        // Like libuv: the child starts with default dispositions and an empty signal mask.
        // (libc declares these flags with mixed integer types; setflags takes a short.)
        let mut flags =
            (libc::POSIX_SPAWN_SETSIGDEF | libc::POSIX_SPAWN_SETSIGMASK) as libc::c_short;
        if plan.detached {
            flags |= libc::POSIX_SPAWN_SETSID as libc::c_short;
        }
        spawn_rc(libc::posix_spawnattr_setflags(&mut attr.0, flags))?;
        spawn_rc(libc::posix_spawnattr_setsigdefault(
            &mut attr.0,
            &every_signal(),
        ))?;
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        spawn_rc(libc::posix_spawnattr_setsigmask(&mut attr.0, &empty))?;

        let mut pid: libc::pid_t = 0;
        loop {
            let rc = libc::posix_spawn(
                &mut pid,
                plan.path,
                &actions.0,
                &attr.0,
                plan.argv as *const *mut c_char,
                plan.envp as *const *mut c_char,
            );
            if rc != libc::EINTR {
                spawn_rc(rc)?;
                return Ok(pid);
            }
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
    unsafe { *(&mut set as *mut libc::sigset_t as *mut u64) = sys::process::ALL_SIGNALS };
    set
}

/// What the clone child reads (shared memory under CLONE_VM) and where it reports its errno.
struct CloneChild<'a> {
    plan: &'a ExecPlan<'a>,
    /// SIGRTMAX, read in the parent: the child calls nothing from glibc but syscall wrappers.
    last_signal: c_int,
    err: AtomicI32,
}

/// Runs in the child on its own stack, sharing the parent's memory, until execve. Only raw
/// syscalls: glibc's setuid/setgid would signal the parent's threads, and nothing here may
/// allocate, lock or unwind.
extern "C" fn clone_child(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the CloneChild that clone_launch keeps alive until we exec or exit.
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
        sys::process::set_disposition_raw(signal, libc::SIG_DFL);
    }
    // SAFETY (all syscalls below): integer arguments, or pointers into `plan`, which the
    // parent keeps alive while it is suspended by CLONE_VFORK.
    unsafe {
        if plan.detached && libc::syscall(libc::SYS_setsid) < 0 {
            return fail();
        }
        for &(source, target) in plan.dups {
            // Sources are never equal to targets (they sit above the stdio count).
            if libc::syscall(libc::SYS_dup3, source, target, 0) < 0 {
                return fail();
            }
        }
        if !plan.cwd.is_null() && libc::syscall(libc::SYS_chdir, plan.cwd) < 0 {
            return fail();
        }
        // libuv drops supplementary groups when it changes ids; this fails unless we are
        // privileged, which is fine: then there was nothing to drop.
        libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>());
        if let Some(gid) = plan.gid {
            if libc::syscall(libc::SYS_setgid, gid) < 0 {
                return fail();
            }
        }
        if let Some(uid) = plan.uid {
            if libc::syscall(libc::SYS_setuid, uid) < 0 {
                return fail();
            }
        }
        sys::process::set_signal_mask(0);
        libc::syscall(libc::SYS_execve, plan.path, plan.argv, plan.envp);
    }
    fail()
}

fn clone_launch(plan: &ExecPlan<'_>) -> Result<libc::pid_t, Errno> {
    let child = CloneChild {
        plan,
        last_signal: libc::SIGRTMAX(),
        err: AtomicI32::new(0),
    };
    let mut stack = Vec::<u8>::with_capacity(CHILD_STACK_SIZE);
    // The stack grows down from the (16-byte aligned) end of the buffer.
    let top = (stack.as_mut_ptr() as usize + CHILD_STACK_SIZE) & !15;

    let old_mask = sys::process::set_signal_mask(sys::process::ALL_SIGNALS);
    // SAFETY: CLONE_VFORK suspends us until the child execs or exits, so `child`, `plan` and
    // `stack` outlive its use of them; the child function only makes raw syscalls.
    let pid = unsafe {
        libc::clone(
            clone_child,
            top as *mut c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &child as *const CloneChild<'_> as *mut c_void,
        )
    };
    let clone_err = Errno::last();
    sys::process::set_signal_mask(old_mask);
    if pid == -1 {
        return Err(clone_err);
    }
    match child.err.load(Ordering::SeqCst) {
        0 => Ok(pid),
        err => {
            sys::process::reap_pid(pid);
            Err(Errno::from_raw(err))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::process::Exit;
    use std::fs;
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    use std::path::PathBuf;

    const LAUNCHERS: [Launcher; 2] = [Launcher::PosixSpawn, Launcher::Clone];

    fn request(file: &str, args: &[&str]) -> Request {
        Request {
            file: file.into(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env_pairs: vec!["PATH=/usr/bin:/bin".into()],
            stdio: vec![Stdio::Ignore; 3],
            ..Request::default()
        }
    }

    fn run(req: &Request, launcher: Launcher) -> Result<Exit, Errno> {
        let child = spawn_with(req, launcher)?;
        Ok(sys::process::reap_pidfd(child.pidfd.as_fd()).unwrap())
    }

    /// Runs `req` with a stdout pipe; returns what the child wrote and how it ended.
    fn capture(mut req: Request, launcher: Launcher) -> (String, Exit) {
        req.stdio[1] = Stdio::Pipe;
        let mut child = spawn_with(&req, launcher).unwrap();
        let mut out = String::new();
        fs::File::from(child.pipes[1].take().unwrap())
            .read_to_string(&mut out)
            .unwrap();
        (out, sys::process::reap_pidfd(child.pidfd.as_fd()).unwrap())
    }

    /// A fresh directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("rc-spawn-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Writes a fixture through a separate process: a write fd opened here could be copied
    /// into a child that another test is spawning, and exec'ing the fixture would then fail
    /// with ETXTBSY until that child execs.
    fn write_file(path: &std::path::Path, text: &str, mode: u32) {
        let status = std::process::Command::new("/bin/sh")
            .args([
                "-c",
                "printf '%s' \"$1\" > \"$2\" && chmod \"$3\" \"$2\"",
                "sh",
            ])
            .args([text, path.to_str().unwrap(), &format!("{mode:o}")])
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn exit_codes() {
        for launcher in LAUNCHERS {
            assert_eq!(
                run(&request("/bin/true", &["true"]), launcher),
                Ok(Exit::Code(0))
            );
            let req = request("/bin/sh", &["sh", "-c", "exit 3"]);
            assert_eq!(run(&req, launcher), Ok(Exit::Code(3)));
        }
    }

    #[test]
    fn signal_death_with_default_dispositions() {
        // The test harness ignores SIGPIPE; the child must not inherit that.
        for launcher in LAUNCHERS {
            let req = request("/bin/sh", &["sh", "-c", "kill -PIPE $$"]);
            assert_eq!(run(&req, launcher), Ok(Exit::Signal(libc::SIGPIPE)));
            let req = request("/bin/sh", &["sh", "-c", "kill -TERM $$"]);
            assert_eq!(run(&req, launcher), Ok(Exit::Signal(libc::SIGTERM)));
        }
    }

    #[test]
    fn child_starts_with_empty_mask_and_nothing_ignored() {
        // Block SIGUSR1 in this thread: the child must still start with an empty mask.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        unsafe {
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR1);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        }
        for launcher in LAUNCHERS {
            let req = request(
                "/bin/grep",
                &["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"],
            );
            let (out, exit) = capture(req, launcher);
            assert_eq!(exit, Exit::Code(0));
            assert_eq!(
                out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
                "{launcher:?}"
            );
        }
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    }

    #[test]
    fn argv0_and_environment_are_exactly_as_given() {
        for launcher in LAUNCHERS {
            let mut req = request("/bin/sh", &["my-argv0", "-c", "echo \"$0\"; env"]);
            req.env_pairs = vec!["ONLY=this".into()];
            let (out, exit) = capture(req, launcher);
            assert_eq!(exit, Exit::Code(0));
            let mut lines: Vec<&str> = out.lines().collect();
            assert_eq!(lines.remove(0), "my-argv0");
            // sh itself adds PWD (and nothing else we passed).
            lines.retain(|l| !l.starts_with("PWD="));
            assert_eq!(lines, ["ONLY=this"]);
        }
    }

    #[test]
    fn missing_file_is_enoent() {
        for launcher in LAUNCHERS {
            let req = request("/nonexistent/prog", &["prog"]);
            assert_eq!(run(&req, launcher).unwrap_err(), Errno::ENOENT);
            let req = request("no-such-program-rc", &["x"]);
            assert_eq!(run(&req, launcher).unwrap_err(), Errno::ENOENT);
            let req = request("/etc/passwd/x", &["x"]);
            assert_eq!(run(&req, launcher).unwrap_err(), Errno::ENOTDIR);
        }
    }

    #[test]
    fn missing_cwd_is_enoent() {
        for launcher in LAUNCHERS {
            let mut req = request("/bin/true", &["true"]);
            req.cwd = Some("/nonexistent-rc-dir".into());
            assert_eq!(run(&req, launcher).unwrap_err(), Errno::ENOENT);
        }
    }

    #[test]
    fn cwd_applies_before_exec() {
        let dir = scratch("cwd");
        write_file(&dir.join("tool"), "#!/bin/sh\npwd\n", 0o755);
        for launcher in LAUNCHERS {
            // A relative path with a slash resolves against the child's new cwd.
            let mut req = request("./tool", &["tool"]);
            req.cwd = Some(dir.to_str().unwrap().into());
            let (out, exit) = capture(req, launcher);
            assert_eq!((out.trim(), exit), (dir.to_str().unwrap(), Exit::Code(0)));
        }
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn not_executable_is_eacces() {
        let dir = scratch("eacces");
        let plain = dir.join("plain");
        write_file(&plain, "#!/bin/sh\n", 0o644);
        for launcher in LAUNCHERS {
            let req = request(plain.to_str().unwrap(), &["plain"]);
            assert_eq!(run(&req, launcher).unwrap_err(), Errno::EACCES);
            let req = request(dir.to_str().unwrap(), &["dir"]);
            assert_eq!(run(&req, launcher).unwrap_err(), Errno::EACCES);
        }
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn path_search_uses_the_child_environment() {
        let dir = scratch("path");
        let (bin, noexec) = (dir.join("bin"), dir.join("noexec"));
        fs::create_dir_all(&bin).unwrap();
        fs::create_dir_all(&noexec).unwrap();
        fs::create_dir_all(dir.join("dironly").join("rc-tool")).unwrap();
        write_file(&bin.join("rc-tool"), "#!/bin/sh\necho from-bin\n", 0o755);
        write_file(&noexec.join("rc-tool"), "#!/bin/sh\necho no\n", 0o644);
        let path = |entries: &[&std::path::Path]| {
            let joined: Vec<&str> = entries.iter().map(|p| p.to_str().unwrap()).collect();
            format!("PATH={}", joined.join(":"))
        };
        for launcher in LAUNCHERS {
            let mut req = request("rc-tool", &["rc-tool"]);
            // Found only as non-executable entries: EACCES, like execvp.
            req.env_pairs = vec![path(&[&noexec, &dir.join("dironly")])];
            assert_eq!(run(&req, launcher).unwrap_err(), Errno::EACCES);
            // Non-executable entries are skipped.
            req.env_pairs = vec![path(&[&dir.join("missing"), &noexec, &bin])];
            assert_eq!(capture(req.clone(), launcher).0, "from-bin\n");
            // Relative entries (and the empty one) are relative to the child's cwd.
            req.cwd = Some(dir.to_str().unwrap().into());
            req.env_pairs = vec!["PATH=missing:bin".into()];
            assert_eq!(capture(req.clone(), launcher).0, "from-bin\n");
            req.cwd = Some(bin.to_str().unwrap().into());
            req.env_pairs = vec!["PATH=/nonexistent:".into()];
            assert_eq!(capture(req.clone(), launcher).0, "from-bin\n");
            // Not in the child's PATH: the parent's PATH is not consulted.
            req.env_pairs = vec!["PATH=/nonexistent".into()];
            assert_eq!(run(&req, launcher).unwrap_err(), Errno::ENOENT);
            // No PATH at all: execvp's default, /bin:/usr/bin.
            let mut req = request("sh", &["sh", "-c", "exit 4"]);
            req.env_pairs = vec![];
            assert_eq!(run(&req, launcher), Ok(Exit::Code(4)));
        }
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn script_without_interpreter_runs_under_sh() {
        let dir = scratch("enoexec");
        let script = dir.join("plain-script");
        write_file(&script, "echo \"$0|$1|$2\"\n", 0o755);
        for launcher in LAUNCHERS {
            let req = request(script.to_str().unwrap(), &["argv0", "a1", "a2"]);
            let (out, exit) = capture(req, launcher);
            assert_eq!(exit, Exit::Code(0));
            assert_eq!(out, format!("{}|a1|a2\n", script.display()));
        }
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn invalid_requests() {
        let mut req = request("/bin/true", &["tr\0ue"]);
        assert_eq!(spawn_process(&req).unwrap_err(), Errno::EINVAL);
        req.args = vec!["true".into()];
        req.stdio = vec![
            Stdio::Ignore,
            Stdio::Ignore,
            Stdio::Ignore,
            Stdio::Ipc,
            Stdio::Ipc,
        ];
        assert_eq!(spawn_process(&req).unwrap_err(), Errno::EINVAL);
        req.stdio = vec![Stdio::Ignore, Stdio::Fd(1 << 20), Stdio::Ignore];
        assert_eq!(spawn_process(&req).unwrap_err(), Errno::EBADF);
    }

    #[test]
    fn stdio_sources_sit_above_the_targets() {
        // Child fd 0 <- parent fd 1 and child fd 1 <- parent fd 0: a naive dup2 sequence would
        // overwrite fd 0 before copying it.
        let plan =
            ChildStdio::new(&[Stdio::Fd(1), Stdio::Fd(0), Stdio::Fd(2), Stdio::Pipe]).unwrap();
        let id = |fd: RawFd| {
            let st = nix::sys::stat::fstat(fd).unwrap();
            (st.st_dev, st.st_ino)
        };
        for (i, &(source, target)) in plan.dups.iter().enumerate() {
            assert_eq!(target, i as RawFd);
            assert!(source >= 4, "source {source} could be clobbered");
        }
        assert_eq!(id(plan.dups[0].0), id(1));
        assert_eq!(id(plan.dups[1].0), id(0));
        assert!(plan.pipes[3].is_some());
    }

    /// fds of this process that a child inherits regardless of us (not close-on-exec).
    fn inheritable_fds() -> Vec<RawFd> {
        fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().to_str()?.parse().ok())
            .filter(|&fd| {
                let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
                flags != -1 && flags & libc::FD_CLOEXEC == 0
            })
            .collect()
    }

    #[test]
    fn child_gets_only_its_stdio() {
        for launcher in LAUNCHERS {
            let mut req = request("/bin/cat", &["cat"]);
            req.env_pairs = vec![];
            req.stdio = vec![
                Stdio::Pipe,
                Stdio::Pipe,
                Stdio::Ignore,
                Stdio::Ipc,
                Stdio::Pipe,
                // An ignored fd 3+ stays closed, as libuv leaves it.
                Stdio::Ignore,
            ];
            let mut child = spawn_with(&req, launcher).unwrap();
            let mut stdin = fs::File::from(child.pipes[0].take().unwrap());
            let mut stdout = fs::File::from(child.pipes[1].take().unwrap());
            // One round trip: cat has started and is blocked reading.
            stdin.write_all(b"x").unwrap();
            let mut byte = [0u8];
            stdout.read_exact(&mut byte).unwrap();

            let mut fds: Vec<RawFd> = fs::read_dir(format!("/proc/{}/fd", child.pid))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
                .collect();
            fds.sort();
            let outside = inheritable_fds();
            fds.retain(|fd| !outside.contains(fd) || *fd < 6);
            assert_eq!(fds, [0, 1, 2, 3, 4], "{launcher:?}");

            drop(stdin);
            assert_eq!(
                sys::process::reap_pidfd(child.pidfd.as_fd()),
                Ok(Exit::Code(0))
            );
        }
    }

    #[test]
    fn ipc_end_is_connected_to_the_child() {
        for launcher in LAUNCHERS {
            let mut req = request("/bin/sh", &["sh", "-c", "echo hello >&3"]);
            req.stdio = vec![Stdio::Ignore, Stdio::Ignore, Stdio::Ignore, Stdio::Ipc];
            let child = spawn_with(&req, launcher).unwrap();
            assert!(child.pipes.iter().all(Option::is_none));
            let mut out = String::new();
            fs::File::from(child.ipc.unwrap())
                .read_to_string(&mut out)
                .unwrap();
            assert_eq!(out, "hello\n");
            assert_eq!(
                sys::process::reap_pidfd(child.pidfd.as_fd()),
                Ok(Exit::Code(0))
            );
        }
    }

    /// Session id of a process, from /proc/<pid>/stat (the field after pgrp).
    fn session_of(stat: &str) -> i32 {
        let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
        after_comm.split(' ').nth(3).unwrap().parse().unwrap()
    }

    #[test]
    fn detached_child_leads_a_new_session() {
        let ours = session_of(&fs::read_to_string("/proc/self/stat").unwrap());
        for launcher in LAUNCHERS {
            for detached in [false, true] {
                let mut req = request("/bin/cat", &["cat", "/proc/self/stat"]);
                req.detached = detached;
                req.stdio[1] = Stdio::Pipe;
                let mut child = spawn_with(&req, launcher).unwrap();
                let mut stat = String::new();
                fs::File::from(child.pipes[1].take().unwrap())
                    .read_to_string(&mut stat)
                    .unwrap();
                let expected = if detached { child.pid } else { ours };
                assert_eq!(
                    session_of(&stat),
                    expected,
                    "{launcher:?} detached={detached}"
                );
                assert_eq!(
                    sys::process::reap_pidfd(child.pidfd.as_fd()),
                    Ok(Exit::Code(0))
                );
            }
        }
    }

    #[test]
    fn inherited_fd_entry() {
        for launcher in LAUNCHERS {
            let (ours, theirs) = sys::socket::socketpair_cloexec().unwrap();
            let mut req = request("/bin/sh", &["sh", "-c", "echo via-fd"]);
            req.stdio[1] = Stdio::Fd(theirs.as_raw_fd());
            let child = spawn_with(&req, launcher).unwrap();
            drop(theirs);
            let mut out = String::new();
            fs::File::from(ours).read_to_string(&mut out).unwrap();
            assert_eq!(out, "via-fd\n");
            assert_eq!(
                sys::process::reap_pidfd(child.pidfd.as_fd()),
                Ok(Exit::Code(0))
            );
        }
    }

    #[test]
    fn uid_and_gid() {
        let mut req = request("/bin/sh", &["sh", "-c", "id -u; id -g; id -G"]);
        req.uid = Some(65534);
        req.gid = Some(65534);
        if nix::unistd::geteuid().is_root() {
            let (out, exit) = capture(req, Launcher::Clone);
            // Supplementary groups are dropped too.
            assert_eq!(
                (out.as_str(), exit),
                ("65534\n65534\n65534\n", Exit::Code(0))
            );
        } else {
            assert_eq!(spawn_process(&req).unwrap_err(), Errno::EPERM);
        }
    }
}
