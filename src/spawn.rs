//! Process creation as libuv does it on Linux (which execs with glibc's execvp): the program is
//! found here, in the parent, in the PATH of the child's environment; the child's descriptors
//! are laid out so that its dup2 steps cannot clobber one another; `sys::spawn` then starts it
//! vfork-style, so the cost of a spawn does not grow with the heap. `ENOEXEC` files are run by
//! /bin/sh; failures come back as an errno.

use crate::sys::{
    self,
    spawn::{CStrArray, ExecPlan},
};
use nix::errno::Errno;
use nix::libc;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// Largest IPC message the reactor accepts when the caller gives no `maxMessageSize`.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;

/// glibc execvp's search path when the environment has no PATH (confstr(_CS_PATH)).
const DEFAULT_PATH: &str = "/bin:/usr/bin";

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
    let argv = cstr_array(&req.args)?;
    let envp = cstr_array(&req.env_pairs)?;
    let cwd = req.cwd.as_deref().map(cstring).transpose()?;
    let exe = resolve_executable(&req.file, &req.env_pairs, req.cwd.as_deref())?;
    let stdio = ChildStdio::new(&req.stdio)?;

    let plan = ExecPlan {
        path: &exe,
        argv: &argv,
        envp: &envp,
        cwd: cwd.as_deref(),
        dups: &stdio.dups,
        detached: req.detached,
        uid: req.uid,
        gid: req.gid,
    };
    let pid = match launch(&plan, launcher) {
        // execvp semantics: a file the kernel cannot execute is a shell script, run as
        // `/bin/sh <file> <args after argv[0]>`.
        Err(Errno::ENOEXEC) => {
            let mut sh = vec![c"/bin/sh".to_owned(), exe.clone()];
            sh.extend(argv.strings().iter().skip(1).cloned());
            let sh_argv = CStrArray::new(sh);
            let sh_plan = ExecPlan {
                path: c"/bin/sh",
                argv: &sh_argv,
                ..plan
            };
            launch(&sh_plan, launcher)?
        }
        other => other?,
    };

    let pidfd = match sys::process::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) => {
            // ESRCH means the child is already gone (reaped by an ignored SIGCHLD): there is
            // no pid of ours left to signal.
            if e != Errno::ESRCH {
                // `pid` is our own unreaped child.
                let _ = sys::process::kill(pid, libc::SIGKILL);
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

/// A NULL-terminated `char*` array of `items`; EINVAL if one holds a NUL.
fn cstr_array(items: &[String]) -> Result<CStrArray, Errno> {
    let strings = items.iter().map(|s| cstring(s)).collect::<Result<_, _>>()?;
    Ok(CStrArray::new(strings))
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
    if sys::fs::stat_mode(path)? & libc::S_IFMT != libc::S_IFREG {
        return Err(Errno::EACCES);
    }
    sys::fs::access_exec(path)
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

fn launch(plan: &ExecPlan<'_>, launcher: Launcher) -> Result<libc::pid_t, Errno> {
    match launcher {
        Launcher::PosixSpawn => sys::spawn::posix_spawn(plan),
        Launcher::Clone => sys::spawn::clone_vfork(plan),
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
        use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};
        let mut old = SigSet::empty();
        let usr1 = SigSet::from(Signal::SIGUSR1);
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&usr1), Some(&mut old)).unwrap();
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
        pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None).unwrap();
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
                let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD);
                flags.is_ok_and(|f| f & libc::FD_CLOEXEC == 0)
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
