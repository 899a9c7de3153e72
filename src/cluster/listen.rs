//! `listenSocket`: the listening (or bound) sockets the cluster primary makes, as Node's
//! `net._createServerHandle` + `listen` and dgram's bind make them through libuv: same
//! socket options, same fallbacks, errors as libuv reports them. Every descriptor is
//! close-on-exec and non-blocking (libuv's sockets are).
use crate::sys::{self, sock_diag::TcpListener, socket};
use nix::errno::Errno;
use nix::libc;
use std::ffi::CString;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tcp4,
    Tcp6,
    Unix,
    Udp4,
    Udp6,
}

#[derive(Debug)]
pub struct Options<'a> {
    pub kind: Kind,
    /// None or empty: TCP binds the unspecified address (`::`, else `0.0.0.0`); UDP binds
    /// its family's.
    pub address: Option<&'a str>,
    pub port: u16,
    /// Adopt this descriptor instead of creating one.
    pub fd: Option<RawFd>,
    pub backlog: i32,
    pub ipv6_only: bool,
    /// UDP's `reuseAddr` (libuv's UV_UDP_REUSEADDR); TCP always sets SO_REUSEADDR.
    pub reuse_addr: bool,
    pub reuse_port: bool,
    pub readable_all: bool,
    pub writable_all: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sockname {
    pub address: String,
    pub family: &'static str,
    pub port: u16,
}

/// Node's default backlog: `listen(backlog || 511)`.
pub const DEFAULT_BACKLOG: i32 = 511;

/// The socket and, for TCP and UDP, its address. Errors are errno values (EADDRINUSE...).
pub fn listen_socket(o: &Options) -> Result<(OwnedFd, Option<Sockname>), Errno> {
    let fd = match (o.fd, o.kind) {
        (Some(fd), _) => return adopt(fd, o),
        (None, Kind::Tcp4 | Kind::Tcp6) => tcp(o)?,
        (None, Kind::Unix) => unix(o)?,
        (None, Kind::Udp4 | Kind::Udp6) => udp(o)?,
    };
    let name = sockname(fd.as_raw_fd())?;
    Ok((fd, name))
}

fn backlog(o: &Options) -> i32 {
    if o.backlog == 0 {
        DEFAULT_BACKLOG
    } else {
        o.backlog
    }
}

fn tcp(o: &Options) -> Result<OwnedFd, Errno> {
    let fd = match o.address.filter(|a| !a.is_empty()) {
        // Node tries the IPv6 unspecified address first and falls back to IPv4 if binding it
        // fails (no IPv6). libuv defers EADDRINUSE from bind to listen, so that one does not
        // fall back.
        None => match bind_tcp(&parse_addr(Kind::Tcp6, "::", o.port)?, o) {
            Err(e) if e != Errno::EADDRINUSE => {
                bind_tcp(&parse_addr(Kind::Tcp4, "0.0.0.0", o.port)?, o)?
            }
            other => other?,
        },
        Some(a) => bind_tcp(&parse_addr(o.kind, a, o.port)?, o)?,
    };
    socket::listen(fd.as_raw_fd(), backlog(o))?;
    Ok(fd)
}

fn bind_tcp(addr: &SocketAddr, o: &Options) -> Result<OwnedFd, Errno> {
    let fd = socket::socket(family(addr), libc::SOCK_STREAM)?;
    setsockopt(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if addr.is_ipv6() {
        // libuv sets it either way: the system default may be on.
        setsockopt(
            &fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            o.ipv6_only.into(),
        )?;
    }
    if o.reuse_port {
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    bind(&fd, addr)?;
    Ok(fd)
}

fn udp(o: &Options) -> Result<OwnedFd, Errno> {
    let v6 = o.kind == Kind::Udp6;
    let fd = socket::socket(
        if v6 { libc::AF_INET6 } else { libc::AF_INET },
        libc::SOCK_DGRAM,
    )?;
    let address = o.address.filter(|a| !a.is_empty());
    // dgram binds only when given a port or an address; otherwise the socket stays unbound.
    if o.port == 0 && address.is_none() {
        return Ok(fd);
    }
    let any = if v6 { "::" } else { "0.0.0.0" };
    let addr = parse_addr(o.kind, address.unwrap_or(any), o.port)?;
    if o.ipv6_only && !v6 {
        return Err(Errno::EINVAL);
    }
    if o.reuse_addr {
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    }
    if o.reuse_port {
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    if o.ipv6_only {
        setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1)?;
    }
    bind(&fd, &addr)?;
    Ok(fd)
}

fn unix(o: &Options) -> Result<OwnedFd, Errno> {
    let path = o.address.unwrap_or("").as_bytes();
    if path.is_empty() || path[1..].contains(&0) {
        return Err(Errno::EINVAL);
    }
    // libuv truncates a path longer than sun_path, as Node 20 shows.
    let path = &path[..path.len().min(socket::UNIX_PATH_MAX)];
    // A leading NUL: an abstract name, which has no file to chmod.
    if path[0] == 0 && (o.readable_all || o.writable_all) {
        return Err(Errno::EINVAL);
    }
    let fd = socket::socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
    match socket::bind_unix(fd.as_fd(), path) {
        // libuv reports a missing directory as EACCES, as on Windows.
        Err(Errno::ENOENT) => return Err(Errno::EACCES),
        other => other?,
    };
    socket::listen(fd.as_raw_fd(), backlog(o))?;
    if o.readable_all || o.writable_all {
        chmod_all(path, o.readable_all, o.writable_all)?;
    }
    Ok(fd)
}

/// uv_pipe_chmod: add read and/or write for everyone to the socket file.
fn chmod_all(path: &[u8], readable: bool, writable: bool) -> Result<(), Errno> {
    let path = CString::new(path).map_err(|_| Errno::EINVAL)?;
    let mut want: libc::mode_t = 0;
    if readable {
        want |= libc::S_IRUSR | libc::S_IRGRP | libc::S_IROTH;
    }
    if writable {
        want |= libc::S_IWUSR | libc::S_IWGRP | libc::S_IWOTH;
    }
    let mode = sys::fs::stat_mode(&path)?;
    if mode & want == want {
        return Ok(());
    }
    sys::fs::chmod(&path, (mode | want) & 0o7777)
}

/// Takes over an inherited descriptor: it must be a stream socket for TCP and Unix kinds
/// (Node: a TCP or pipe handle, else EINVAL) and a UDP socket for UDP ones. Stream sockets
/// are made to listen. The same descriptor number comes back.
fn adopt(fd: RawFd, o: &Options) -> Result<(OwnedFd, Option<Sockname>), Errno> {
    let sockopt =
        |opt| socket::getsockopt_int(fd, libc::SOL_SOCKET, opt).map_err(|_| Errno::EINVAL);
    let (ty, domain) = (sockopt(libc::SO_TYPE)?, sockopt(libc::SO_DOMAIN)?);
    let inet = domain == libc::AF_INET || domain == libc::AF_INET6;
    let stream = matches!(o.kind, Kind::Tcp4 | Kind::Tcp6 | Kind::Unix);
    let fits = if stream {
        ty == libc::SOCK_STREAM && (inet || domain == libc::AF_UNIX)
    } else {
        ty == libc::SOCK_DGRAM && inet
    };
    if !fits {
        return Err(Errno::EINVAL);
    }
    sys::fd::set_nonblock(fd)?;
    sys::fd::set_cloexec(fd)?;
    if stream {
        socket::listen(fd, backlog(o))?;
    }
    // SAFETY: the caller hands the descriptor over once it has been accepted here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let name = sockname(fd.as_raw_fd())?;
    Ok((fd, name))
}

fn setsockopt(fd: &OwnedFd, level: libc::c_int, opt: libc::c_int, v: i32) -> Result<(), Errno> {
    socket::setsockopt_int(fd.as_fd(), level, opt, v)
}

fn bind(fd: &OwnedFd, addr: &SocketAddr) -> Result<(), Errno> {
    match socket::bind(fd.as_fd(), addr) {
        // libuv: a family mismatch is the caller's error.
        Err(Errno::EAFNOSUPPORT) => Err(Errno::EINVAL),
        other => other,
    }
}

fn family(addr: &SocketAddr) -> libc::c_int {
    if addr.is_ipv6() {
        libc::AF_INET6
    } else {
        libc::AF_INET
    }
}

/// An IP address and port, parsed as libuv's uv_ip4_addr / uv_ip6_addr do: strict dotted
/// quad, or IPv6 text with an optional `%zone` (an unknown zone leaves the scope unset).
fn parse_addr(kind: Kind, s: &str, port: u16) -> Result<SocketAddr, Errno> {
    if !matches!(kind, Kind::Tcp6 | Kind::Udp6) {
        let ip = s.parse::<Ipv4Addr>().map_err(|_| Errno::EINVAL)?;
        return Ok(SocketAddrV4::new(ip, port).into());
    }
    let (host, zone) = s.split_once('%').map_or((s, None), |(h, z)| (h, Some(z)));
    let ip = host.parse::<Ipv6Addr>().map_err(|_| Errno::EINVAL)?;
    let scope = match zone {
        Some(z) => socket::if_nametoindex(&CString::new(z).map_err(|_| Errno::EINVAL)?),
        None => 0,
    };
    Ok(SocketAddrV6::new(ip, port, 0, scope).into())
}

/// Listening TCP sockets on the address and port of `ours` (sockets of one SO_REUSEPORT
/// group) that are not among them: another process's, which joined the group by binding
/// the port with SO_REUSEPORT (Linux allows that to the same effective uid only). When the
/// group's address is unspecified, also those on a specific address and that port, and
/// beside a dual-stack IPv6 group the IPv4 ones: the kernel prefers them, so each takes
/// every connection to its address.
pub fn strangers(ours: &[RawFd]) -> Result<Vec<TcpListener>, Errno> {
    let Some(first) = ours.first() else {
        return Ok(Vec::new());
    };
    let Some(name) = sockname(*first)? else {
        return Ok(Vec::new());
    };
    let family = if name.family == "IPv4" {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let mine = ours
        .iter()
        .map(|&fd| sys::fs::inode_of(fd))
        .collect::<Result<Vec<u64>, Errno>>()?;
    let mut all = sys::sock_diag::tcp_listeners(family, name.port)?;
    // Our group's address, as sock_diag writes it.
    let Some(addr) = all
        .iter()
        .find(|l| mine.contains(&u64::from(l.inode)))
        .map(|l| l.addr)
    else {
        return Ok(Vec::new());
    };
    let any = addr == [0; 16];
    if any && family == libc::AF_INET6 && !v6_only(*first)? {
        all.extend(sys::sock_diag::tcp_listeners(libc::AF_INET, name.port)?);
    }
    Ok(all
        .into_iter()
        .filter(|l| (any || l.addr == addr) && !mine.contains(&u64::from(l.inode)))
        .collect())
}

/// Whether an IPv6 socket takes IPv6 connections only.
fn v6_only(fd: RawFd) -> Result<bool, Errno> {
    socket::getsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY).map(|v| v != 0)
}

/// getsockname as Node reports it: `{address, family: 'IPv4' | 'IPv6', port}`, with
/// `%scope` after a link-local IPv6 address; None for other families.
fn sockname(fd: RawFd) -> Result<Option<Sockname>, Errno> {
    let Some(addr) = socket::local_addr(fd)? else {
        return Ok(None);
    };
    let (mut address, family, scope) = match addr {
        SocketAddr::V4(a) => (a.ip().to_string(), "IPv4", None),
        SocketAddr::V6(a) => {
            let link_local = a.ip().segments()[0] & 0xffc0 == 0xfe80;
            let scope = (link_local && a.scope_id() > 0).then_some(a.scope_id());
            (a.ip().to_string(), "IPv6", scope)
        }
    };
    if let Some(id) = scope {
        address.push('%');
        address.push_str(&socket::if_indextoname(id).unwrap_or_else(|| id.to_string()));
    }
    Ok(Some(Sockname {
        address,
        family,
        port: addr.port(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::os::unix::fs::PermissionsExt;

    fn opts(kind: Kind, address: Option<&str>) -> Options<'_> {
        Options {
            kind,
            address,
            port: 0,
            fd: None,
            backlog: 0,
            ipv6_only: false,
            reuse_addr: false,
            reuse_port: false,
            readable_all: false,
            writable_all: false,
        }
    }

    fn fd_flags(fd: &OwnedFd) -> (bool, bool) {
        use nix::fcntl::{fcntl, FcntlArg};
        let fdfl = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFD).unwrap();
        let fl = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).unwrap();
        (fdfl & libc::FD_CLOEXEC != 0, fl & libc::O_NONBLOCK != 0)
    }

    /// The next connection, as a blocking socket.
    fn accept_one(fd: &OwnedFd) -> OwnedFd {
        loop {
            match socket::accept(fd.as_fd()) {
                Ok(c) => {
                    sys::fd::clear_nonblock(c.as_raw_fd()).unwrap();
                    return c;
                }
                Err(e) => assert_eq!(e, Errno::EAGAIN),
            }
            std::thread::yield_now();
        }
    }

    #[test]
    fn tcp4_listens_close_on_exec_and_reports_in_use() {
        let (fd, name) = listen_socket(&opts(Kind::Tcp4, Some("127.0.0.1"))).unwrap();
        let name = name.unwrap();
        assert_eq!((name.address.as_str(), name.family), ("127.0.0.1", "IPv4"));
        assert_ne!(name.port, 0);
        assert_eq!(fd_flags(&fd), (true, true));
        let mut c = TcpStream::connect(("127.0.0.1", name.port)).unwrap();
        let s = accept_one(&fd);
        c.write_all(b"x").unwrap();
        let mut one = [0u8];
        nix::unistd::read(s.as_raw_fd(), &mut one).unwrap();
        let taken = Options {
            port: name.port,
            ..opts(Kind::Tcp4, Some("127.0.0.1"))
        };
        assert_eq!(listen_socket(&taken).unwrap_err(), Errno::EADDRINUSE);
        assert_eq!(
            listen_socket(&opts(Kind::Tcp4, Some("::1"))).unwrap_err(),
            Errno::EINVAL
        );
        assert_eq!(
            listen_socket(&opts(Kind::Tcp4, Some("1.2.3"))).unwrap_err(),
            Errno::EINVAL
        );
        drop(c);
    }

    #[test]
    fn tcp_unspecified_prefers_ipv6_and_ipv6_only_is_honoured() {
        let (fd, name) = listen_socket(&opts(Kind::Tcp4, None)).unwrap();
        let name = name.unwrap();
        assert_eq!((name.address.as_str(), name.family), ("::", "IPv6"));
        // Dual stack: IPv4 clients get in.
        let _c = TcpStream::connect(("127.0.0.1", name.port)).unwrap();
        accept_one(&fd);

        let v6only = Options {
            ipv6_only: true,
            ..opts(Kind::Tcp6, Some("::"))
        };
        let (_fd, name) = listen_socket(&v6only).unwrap();
        let port = name.unwrap().port;
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
        // ...so the IPv4 side of that port is free.
        let v4 = Options {
            port,
            ..opts(Kind::Tcp4, Some("127.0.0.1"))
        };
        listen_socket(&v4).unwrap();
    }

    #[test]
    fn reuse_port_lets_two_sockets_share() {
        let o = Options {
            reuse_port: true,
            ..opts(Kind::Tcp4, Some("127.0.0.1"))
        };
        let (a, name) = listen_socket(&o).unwrap();
        let o = Options {
            port: name.unwrap().port,
            ..o
        };
        let (b, _) = listen_socket(&o).unwrap();
        // Each is a stranger to a group of the other alone; together, none.
        let (a, b) = (a.as_raw_fd(), b.as_raw_fd());
        let inode = |fd| sys::fs::inode_of(fd).unwrap();
        let found = strangers(&[a]).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(u64::from(found[0].inode), inode(b));
        assert_eq!(found[0].uid, nix::unistd::getuid().as_raw());
        assert_eq!(u64::from(strangers(&[b]).unwrap()[0].inode), inode(a));
        assert!(strangers(&[a, b]).unwrap().is_empty());
    }

    #[test]
    fn strangers_taking_every_connection_of_an_unspecified_group() {
        let inode = |fd: &OwnedFd| sys::fs::inode_of(fd.as_raw_fd()).unwrap();
        let reported = |ours: &OwnedFd| -> Vec<u64> {
            let found = strangers(&[ours.as_raw_fd()]).unwrap();
            found.iter().map(|l| u64::from(l.inode)).collect()
        };
        // A group on 0.0.0.0: a socket on 127.0.0.1 and the port (the kernel lets the same
        // user bind it) gets every connection to 127.0.0.1.
        let o = Options {
            reuse_port: true,
            ..opts(Kind::Tcp4, Some("0.0.0.0"))
        };
        let (group, name) = listen_socket(&o).unwrap();
        let port = name.unwrap().port;
        let specific = Options {
            port,
            ..opts(Kind::Tcp4, Some("127.0.0.1"))
        };
        let (stranger, _) = listen_socket(&Options {
            reuse_port: true,
            ..specific
        })
        .unwrap();
        assert_eq!(reported(&group), [inode(&stranger)]);
        // A dual-stack group on ::: an IPv4 socket on the port gets every IPv4 connection.
        let o = Options {
            reuse_port: true,
            ..opts(Kind::Tcp6, Some("::"))
        };
        let Ok((group, name)) = listen_socket(&o) else {
            return; // No IPv6 here.
        };
        let v4 = Options {
            reuse_port: true,
            port: name.unwrap().port,
            ..opts(Kind::Tcp4, Some("0.0.0.0"))
        };
        let (stranger, _) = listen_socket(&v4).unwrap();
        assert_eq!(reported(&group), [inode(&stranger)]);
        // IPv6 only: IPv4 connections are not the group's, nor is that socket a stranger.
        let o = Options {
            ipv6_only: true,
            ..o
        };
        let (group, name) = listen_socket(&o).unwrap();
        let v4 = Options {
            port: name.unwrap().port,
            ..v4
        };
        let (_other, _) = listen_socket(&v4).unwrap();
        assert!(reported(&group).is_empty());
    }

    #[test]
    fn unix_path_with_modes_and_errors() {
        let dir = std::env::temp_dir().join(format!("rc-listen-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let p = path.to_str().unwrap();
        let o = Options {
            readable_all: true,
            writable_all: true,
            ..opts(Kind::Unix, Some(p))
        };
        let (fd, name) = listen_socket(&o).unwrap();
        assert_eq!(name, None);
        assert_eq!(fd_flags(&fd), (true, true));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o666, 0o666);
        let mut c = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let s = accept_one(&fd);
        c.write_all(b"y").unwrap();
        let mut got = [0u8];
        std::fs::File::from(s).read_exact(&mut got).unwrap();
        assert_eq!(
            listen_socket(&opts(Kind::Unix, Some(p))).unwrap_err(),
            Errno::EADDRINUSE
        );
        let missing = dir.join("no/such.sock");
        let missing = opts(Kind::Unix, missing.to_str());
        assert_eq!(listen_socket(&missing).unwrap_err(), Errno::EACCES);
        assert_eq!(
            listen_socket(&opts(Kind::Unix, Some(""))).unwrap_err(),
            Errno::EINVAL
        );
        let abstract_name = format!("\0rc-listen-{}", std::process::id());
        listen_socket(&opts(Kind::Unix, Some(&abstract_name))).unwrap();
        let o = Options {
            readable_all: true,
            ..opts(Kind::Unix, Some(&abstract_name))
        };
        assert_eq!(listen_socket(&o).unwrap_err(), Errno::EINVAL);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn udp_binds_only_when_asked() {
        let (fd, name) = listen_socket(&opts(Kind::Udp4, Some("127.0.0.1"))).unwrap();
        let name = name.unwrap();
        assert_ne!(name.port, 0);
        let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        c.send_to(b"d", ("127.0.0.1", name.port)).unwrap();
        let mut buf = [0u8; 4];
        loop {
            match nix::sys::socket::recv(
                fd.as_raw_fd(),
                &mut buf,
                nix::sys::socket::MsgFlags::empty(),
            ) {
                Ok(n) => break assert_eq!(&buf[..n], b"d"),
                Err(Errno::EAGAIN) => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        let (_fd, name) = listen_socket(&opts(Kind::Udp6, None)).unwrap();
        assert_eq!(name.unwrap().port, 0, "unbound");
        let o = Options {
            ipv6_only: true,
            ..opts(Kind::Udp4, Some("127.0.0.1"))
        };
        assert_eq!(listen_socket(&o).unwrap_err(), Errno::EINVAL);
        // reuseAddr: a second socket on the same port.
        let o = Options {
            reuse_addr: true,
            ..opts(Kind::Udp4, Some("127.0.0.1"))
        };
        let (_a, n) = listen_socket(&o).unwrap();
        let o = Options {
            port: n.unwrap().port,
            ..o
        };
        listen_socket(&o).unwrap();
    }

    #[test]
    fn adopts_an_inherited_socket() {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let raw = std::os::fd::IntoRawFd::into_raw_fd(std_listener);
        let o = Options {
            fd: Some(raw),
            ..opts(Kind::Tcp4, None)
        };
        let (fd, name) = listen_socket(&o).unwrap();
        assert_eq!(fd.as_raw_fd(), raw);
        assert_eq!(name.unwrap().port, port);
        assert_eq!(fd_flags(&fd), (true, true));
        // Wrong kinds and non-sockets are EINVAL, and the descriptor is left alone.
        let o = Options {
            fd: Some(raw),
            ..opts(Kind::Udp4, None)
        };
        assert_eq!(listen_socket(&o).unwrap_err(), Errno::EINVAL);
        let file = std::fs::File::open("/dev/null").unwrap();
        let o = Options {
            fd: Some(file.as_raw_fd()),
            ..opts(Kind::Tcp4, None)
        };
        assert_eq!(listen_socket(&o).unwrap_err(), Errno::EINVAL);
    }
}
