//! Raw Linux calls behind spawn and spawnSync: socketpairs, fd duplication, pidfds and the
//! signal-mask / disposition syscalls the clone(CLONE_VM|CLONE_VFORK) child needs.
//! Every fd created here is close-on-exec.

use nix::errno::Errno;
use nix::libc;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Turns a `-1 + errno` libc return into a Result.
fn check(ret: libc::c_int) -> Result<libc::c_int, Errno> {
    if ret == -1 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// A connected AF_UNIX stream socketpair, both ends close-on-exec (what libuv uses for pipes).
pub(crate) fn socketpair_cloexec() -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: socketpair succeeded, so both descriptors are new and owned by us.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Duplicates `fd` onto the lowest free number `>= min`, close-on-exec.
pub(crate) fn dup_cloexec_min(fd: RawFd, min: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: F_DUPFD_CLOEXEC only reads `fd`; an invalid one yields EBADF.
    let new = check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) })?;
    // SAFETY: fcntl returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Fails with EBADF unless `fd` is open.
pub(crate) fn check_open(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: F_GETFD has no side effects.
    check(unsafe { libc::fcntl(fd, libc::F_GETFD) }).map(drop)
}

/// Sets O_NONBLOCK on the open file description behind `fd`.
pub(crate) fn set_nonblock(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: F_GETFL / F_SETFL only touch the file status flags.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK == 0 {
        check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    }
    Ok(())
}

/// How many connections wait in a listening TCP socket's accept queue (TCP_INFO's
/// `tcpi_unacked` is the accept backlog while the socket listens).
pub(crate) fn accept_queue_len(fd: RawFd) -> Result<u32, Errno> {
    // SAFETY: tcp_info is plain data; all zeroes is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`.
    check(unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    })?;
    Ok(info.tcpi_unacked)
}

/// The errno behind an io::Error (EIO if it has none).
pub(crate) fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Clears O_NONBLOCK on the open file description behind `fd`.
pub(crate) fn clear_nonblock(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: F_GETFL / F_SETFL only touch the file status flags.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK != 0 {
        check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) })?;
    }
    Ok(())
}

pub(crate) fn open_dev_null() -> Result<OwnedFd, Errno> {
    // SAFETY: the path is a NUL-terminated literal.
    let fd = check(unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) })?;
    // SAFETY: open returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Blocks until `fd` is readable (a pidfd: its process exited), whatever its O_NONBLOCK.
pub(crate) fn wait_readable(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd.
        match check(unsafe { libc::poll(&mut pfd, 1, -1) }) {
            Err(Errno::EINTR) => continue,
            other => return other.map(drop),
        }
    }
}

/// pidfd_open(2); the kernel always makes pidfds close-on-exec.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the syscall returned a fresh descriptor, which fits in a c_int.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// pidfd_send_signal(2): cannot hit a recycled pid, unlike kill(2).
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall; a null siginfo means "as kill(2) would send it".
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
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
        // SAFETY: `info` is a valid out-pointer; the id is a pidfd we own.
        let ret = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED | flags,
            )
        };
        match check(ret) {
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
    loop {
        // SAFETY: a null status pointer is allowed.
        let ret = unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        if ret != -1 || Errno::last() != Errno::EINTR {
            return;
        }
    }
}

/// Every signal bit, as the kernel's 64-bit sigset.
pub(crate) const ALL_SIGNALS: u64 = !0;

/// rt_sigprocmask(SIG_SETMASK) on the calling thread through the raw syscall: glibc's wrapper
/// refuses to block its internal signals, which must stay blocked while a CLONE_VM child
/// shares our memory. Returns the previous mask.
pub(crate) fn set_signal_mask(mask: u64) -> u64 {
    let mut old: u64 = 0;
    // SAFETY: both pointers refer to 8-byte sigsets, the size passed to the kernel.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &mask as *const u64,
            &mut old as *mut u64,
            std::mem::size_of::<u64>(),
        );
    }
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
pub(crate) fn set_disposition_raw(signal: libc::c_int, handler: libc::sighandler_t) {
    let action = KernelSigaction {
        handler,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: `action` has the kernel's layout; a null old-action pointer is allowed.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            signal,
            &action as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            std::mem::size_of::<u64>(),
        );
    }
}

/// The address of `name` among the symbols the process has loaded (the Node binary's
/// exported libuv functions), or None.
pub(crate) fn symbol(name: &std::ffi::CStr) -> Option<std::ptr::NonNull<libc::c_void>> {
    // SAFETY: dlsym only reads the name; RTLD_DEFAULT searches the global scope.
    std::ptr::NonNull::new(unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) })
}

/// A listening TCP socket, as sock_diag reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TcpListener {
    pub inode: u32,
    pub uid: u32,
    /// The bound address, network order (IPv4 in the first 4 bytes).
    pub addr: [u8; 16],
}

// <linux/inet_diag.h>, <linux/sock_diag.h>: not in the libc crate.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const TCP_LISTEN: u32 = 10;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct InetDiagSockid {
    sport: u16,
    dport: u16,
    src: [u8; 16],
    dst: [u8; 16],
    interface: u32,
    cookie: [u32; 2],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct InetDiagReq {
    family: u8,
    protocol: u8,
    ext: u8,
    pad: u8,
    states: u32,
    id: InetDiagSockid,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct InetDiagMsg {
    family: u8,
    state: u8,
    timer: u8,
    retrans: u8,
    id: InetDiagSockid,
    expires: u32,
    rqueue: u32,
    wqueue: u32,
    uid: u32,
    inode: u32,
}

/// Every listening TCP socket of `family` (AF_INET, AF_INET6) on `port`, in this network
/// namespace, whoever owns it (one sock_diag dump over netlink).
pub(crate) fn tcp_listeners(family: libc::c_int, port: u16) -> Result<Vec<TcpListener>, Errno> {
    // SAFETY: a new descriptor, owned below.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            libc::NETLINK_SOCK_DIAG,
        )
    })?;
    // SAFETY: socket returned a fresh descriptor.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    #[repr(C)]
    struct Request {
        header: libc::nlmsghdr,
        req: InetDiagReq,
    }
    let request = Request {
        header: libc::nlmsghdr {
            nlmsg_len: std::mem::size_of::<Request>() as u32,
            nlmsg_type: SOCK_DIAG_BY_FAMILY,
            nlmsg_flags: (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16,
            nlmsg_seq: 1,
            nlmsg_pid: 0,
        },
        req: InetDiagReq {
            family: family as u8,
            protocol: libc::IPPROTO_TCP as u8,
            ext: 0,
            pad: 0,
            states: 1 << TCP_LISTEN,
            id: InetDiagSockid::default(),
        },
    };
    // SAFETY: sends the bytes of `request`, a plain repr(C) value (netlink's kernel address
    // is the default destination of an unbound, unconnected netlink socket).
    check(unsafe {
        libc::send(
            sock.as_raw_fd(),
            (&request as *const Request).cast(),
            std::mem::size_of::<Request>(),
            0,
        ) as libc::c_int
    })?;
    let mut found = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    let header_len = std::mem::size_of::<libc::nlmsghdr>();
    loop {
        // SAFETY: recv writes at most buf.len() bytes into buf.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        let n = check(n as libc::c_int)? as usize;
        let mut at = 0;
        while at + header_len <= n {
            // SAFETY: header_len bytes are there; read_unaligned copes with any alignment.
            let h: libc::nlmsghdr = unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
            let len = h.nlmsg_len as usize;
            if len < header_len || at + len > n {
                return Err(Errno::EPROTO);
            }
            match h.nlmsg_type as libc::c_int {
                libc::NLMSG_DONE => return Ok(found),
                libc::NLMSG_ERROR => {
                    let code: i32 = buf
                        .get(at + header_len..at + header_len + 4)
                        .map_or(-libc::EPROTO, |b| {
                            i32::from_ne_bytes(b.try_into().unwrap_or_default())
                        });
                    return Err(Errno::from_raw(-code));
                }
                _ if h.nlmsg_type == SOCK_DIAG_BY_FAMILY
                    && len >= header_len + std::mem::size_of::<InetDiagMsg>() =>
                {
                    // SAFETY: the message holds an inet_diag_msg (length checked above).
                    let m: InetDiagMsg =
                        unsafe { std::ptr::read_unaligned(buf[at + header_len..].as_ptr().cast()) };
                    if u16::from_be(m.id.sport) == port {
                        found.push(TcpListener {
                            inode: m.inode,
                            uid: m.uid,
                            addr: m.id.src,
                        });
                    }
                }
                _ => {}
            }
            // Messages are 4-byte aligned.
            at += (len + 3) & !3;
        }
    }
}

/// The inode number of the file behind `fd` (a socket's is what sock_diag reports).
pub(crate) fn inode_of(fd: RawFd) -> Result<u64, Errno> {
    // SAFETY: stat is plain data; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into `st` only.
    check(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st.st_ino)
}
