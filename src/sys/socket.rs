//! Sockets: creation (close-on-exec, and non-blocking as libuv's are), options, addresses,
//! and the reads and writes of IPC channels and spawnSync pipes, descriptors passed with
//! SCM_RIGHTS.

use nix::errno::Errno;
use nix::libc;
use std::ffi::CStr;
use std::io::IoSlice;
use std::mem::{size_of, zeroed, MaybeUninit};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

/// A connected AF_UNIX stream socketpair, both ends close-on-exec (what libuv uses for pipes).
pub(crate) fn socketpair_cloexec() -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [0 as libc::c_int; 2];
    let ty = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    syscall!(socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()))?;
    // SAFETY: socketpair succeeded, so both descriptors are new and owned by us.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A new socket of `family` and `ty`, close-on-exec and non-blocking.
pub(crate) fn socket(family: libc::c_int, ty: libc::c_int) -> Result<OwnedFd, Errno> {
    let flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    // SAFETY: plain syscall with integer arguments.
    let fd = syscall!(socket(family, ty | flags, 0))?;
    // SAFETY: socket returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// accept4, close-on-exec and non-blocking as libuv accepts.
pub(crate) fn accept(listener: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let (addr, len) = (ptr::null_mut(), ptr::null_mut());
    let flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
    // SAFETY: null address pointers are allowed.
    let fd = syscall!(accept4(listener.as_raw_fd(), addr, len, flags))?;
    // SAFETY: accept4 returned a fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// listen(2).
pub(crate) fn listen(fd: RawFd, backlog: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall with integer arguments.
    syscall!(listen(fd, backlog)).map(drop)
}

/// An integer socket option.
pub(crate) fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    opt: libc::c_int,
    v: libc::c_int,
) -> Result<(), Errno> {
    let (value, len) = ((&v as *const libc::c_int).cast(), size_of::<libc::c_int>());
    // SAFETY: `value` points to a c_int of `len` bytes.
    syscall!(setsockopt(
        fd.as_raw_fd(),
        level,
        opt,
        value,
        len as libc::socklen_t
    ))
    .map(drop)
}

/// An integer socket option.
pub(crate) fn getsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    opt: libc::c_int,
) -> Result<libc::c_int, Errno> {
    let mut v: libc::c_int = 0;
    getsockopt(fd, level, opt, &mut v).map(|()| v)
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

/// bind(2) to an IPv4 or IPv6 address (with its scope id).
pub(crate) fn bind(fd: BorrowedFd<'_>, addr: &SocketAddr) -> Result<(), Errno> {
    // SAFETY: sockaddr_storage is plain data, large and aligned enough for both kinds.
    let mut st: libc::sockaddr_storage = unsafe { zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: as above.
            let sa = unsafe { &mut *ptr::from_mut(&mut st).cast::<libc::sockaddr_in>() };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_port = a.port().to_be();
            sa.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above.
            let sa = unsafe { &mut *ptr::from_mut(&mut st).cast::<libc::sockaddr_in6>() };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_port = a.port().to_be();
            sa.sin6_addr.s6_addr = a.ip().octets();
            sa.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>()
        }
    };
    bind_raw(fd, &st, len)
}

/// Room for a path in a sockaddr_un (sun_path).
pub(crate) const UNIX_PATH_MAX: usize =
    size_of::<libc::sockaddr_un>() - size_of::<libc::sa_family_t>();

/// bind(2) to an AF_UNIX name of at most UNIX_PATH_MAX bytes: a path (NUL-terminated when it
/// fits), or with a leading NUL an abstract name, which is exactly its bytes.
pub(crate) fn bind_unix(fd: BorrowedFd<'_>, path: &[u8]) -> Result<(), Errno> {
    // SAFETY: sockaddr_un is plain data.
    let mut sa: libc::sockaddr_un = unsafe { zeroed() };
    if path.len() > sa.sun_path.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    for (d, s) in sa.sun_path.iter_mut().zip(path) {
        *d = *s as libc::c_char;
    }
    sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let len = if path.first() == Some(&0) {
        size_of::<libc::sa_family_t>() + path.len()
    } else {
        size_of::<libc::sockaddr_un>()
    };
    bind_raw(fd, &sa, len)
}

/// bind(2) to the first `len` bytes of `sa`, a sockaddr of some family.
fn bind_raw<T>(fd: BorrowedFd<'_>, sa: &T, len: usize) -> Result<(), Errno> {
    debug_assert!(len <= size_of::<T>());
    // SAFETY: `sa` holds a sockaddr of `len` bytes.
    syscall!(bind(
        fd.as_raw_fd(),
        ptr::from_ref(sa).cast(),
        len as libc::socklen_t
    ))
    .map(drop)
}

/// getsockname(2) of an IPv4 or IPv6 socket (the IPv6 scope id included); None for other
/// families.
pub(crate) fn local_addr(fd: RawFd) -> Result<Option<SocketAddr>, Errno> {
    // SAFETY: sockaddr_storage is plain data, filled in by getsockname.
    let mut st: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let sa = ptr::from_mut(&mut st).cast();
    // SAFETY: `st` has `len` bytes of room.
    syscall!(getsockname(fd, sa, &mut len))?;
    Ok(match libc::c_int::from(st.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in.
            let a = unsafe { &*ptr::from_ref(&st).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(a.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddrV4::new(ip, u16::from_be(a.sin_port)).into())
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel wrote a sockaddr_in6.
            let a = unsafe { &*ptr::from_ref(&st).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            let port = u16::from_be(a.sin6_port);
            Some(SocketAddrV6::new(ip, port, a.sin6_flowinfo, a.sin6_scope_id).into())
        }
        _ => None,
    })
}

/// The index of the network interface `name`; 0 if there is none.
pub(crate) fn if_nametoindex(name: &CStr) -> u32 {
    // SAFETY: `name` is NUL-terminated.
    unsafe { libc::if_nametoindex(name.as_ptr()) }
}

/// The name of the network interface with index `id`, if there is one.
pub(crate) fn if_indextoname(id: u32) -> Option<String> {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `name` has IF_NAMESIZE bytes, as if_indextoname requires.
    if unsafe { libc::if_indextoname(id, name.as_mut_ptr()) }.is_null() {
        return None;
    }
    // SAFETY: if_indextoname wrote a NUL-terminated name.
    let name = unsafe { CStr::from_ptr(name.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
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

/// Descriptors one read can take. The kernel ends a stream read right after the data that
/// carried descriptors, so this covers one sender's sendmsg (libuv uses 64 as well).
const MAX_FDS: usize = 64;
const CMSG_CAP: usize =
    // SAFETY: CMSG_SPACE is pure arithmetic.
    unsafe { libc::CMSG_SPACE((MAX_FDS * size_of::<RawFd>()) as u32) } as usize;

/// Control buffer aligned for `cmsghdr` (its first field is a size_t).
#[repr(C, align(8))]
struct Cmsg([MaybeUninit<u8>; CMSG_CAP]);

impl Cmsg {
    fn new() -> Self {
        Cmsg([MaybeUninit::new(0); CMSG_CAP])
    }

    /// For the kernel to fill: nothing past the `msg_controllen` it returns is read.
    fn uninit() -> Self {
        Cmsg([MaybeUninit::uninit(); CMSG_CAP])
    }
}

/// One non-blocking `recvmsg` into `buf`; descriptors that came with the bytes are appended
/// to `fds`, close-on-exec. Returns the byte count (0: EOF).
pub(crate) fn recv_with_fds(
    fd: BorrowedFd<'_>,
    buf: &mut [MaybeUninit<u8>],
    fds: &mut Vec<OwnedFd>,
) -> Result<usize, Errno> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cmsg = Cmsg::uninit();
    // SAFETY: msghdr is plain data; all pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.0.as_mut_ptr().cast();
    msg.msg_controllen = CMSG_CAP as _;
    let flags = libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT;
    // SAFETY: msg describes valid, writable memory.
    let n = syscall!(recvmsg(fd.as_raw_fd(), &mut msg, flags))? as usize;
    // Walk the control messages even under MSG_CTRUNC: the descriptors that fitted were
    // installed and must be owned (and closed) by us.
    // SAFETY: the kernel filled msg_control/msg_controllen; the CMSG_* macros stay inside it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c).cast::<RawFd>();
                let count =
                    ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / size_of::<RawFd>();
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(ptr::read_unaligned(data.add(i))));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(n)
}

/// One non-blocking send of `bufs` (a `sendmsg`, or `send` for one buffer and no descriptor),
/// with `pass` attached by SCM_RIGHTS to its first byte. MSG_NOSIGNAL: a gone peer is an EPIPE
/// result, never a SIGPIPE.
pub(crate) fn send_with_fd(
    fd: BorrowedFd<'_>,
    bufs: &[IoSlice<'_>],
    pass: Option<BorrowedFd<'_>>,
) -> Result<usize, Errno> {
    let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
    if let ([one], None) = (bufs, pass) {
        // send(2) skips sendmsg's copy-in of a msghdr and an iovec array: the common write.
        return send(fd, one, flags);
    }
    let mut cmsg = Cmsg::new();
    // SAFETY: msghdr is plain data; all pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    // IoSlice is ABI-compatible with iovec on Unix; sendmsg does not write through it.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len() as _;
    if let Some(pass) = pass {
        // SAFETY: the control buffer has room for one SCM_RIGHTS header and descriptor.
        unsafe {
            msg.msg_control = cmsg.0.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(size_of::<RawFd>() as u32) as _;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as _;
            ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), pass.as_raw_fd());
        }
    }
    // SAFETY: msg describes valid memory for the duration of the call.
    let n = syscall!(sendmsg(fd.as_raw_fd(), &msg, flags))?;
    Ok(n as usize)
}
