//! Listening TCP sockets of the whole network namespace, whoever owns them, from one
//! sock_diag dump over netlink.

use nix::errno::Errno;
use nix::libc;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

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
    let ty = libc::SOCK_DGRAM | libc::SOCK_CLOEXEC;
    // SAFETY: plain syscall with integer arguments.
    let fd = syscall!(socket(libc::AF_NETLINK, ty, libc::NETLINK_SOCK_DIAG))?;
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
    let bytes = (&request as *const Request).cast();
    // SAFETY: sends the bytes of `request`, a plain repr(C) value (netlink's kernel address
    // is the default destination of an unbound, unconnected netlink socket).
    syscall!(send(
        sock.as_raw_fd(),
        bytes,
        std::mem::size_of::<Request>(),
        0
    ))?;
    let mut found = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    let header_len = std::mem::size_of::<libc::nlmsghdr>();
    loop {
        // SAFETY: recv writes at most buf.len() bytes into buf.
        let n = syscall!(recv(
            sock.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            0
        ))? as usize;
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
