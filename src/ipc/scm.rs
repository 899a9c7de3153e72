//! sendmsg/recvmsg on an AF_UNIX stream socket, passing descriptors with SCM_RIGHTS.
use nix::errno::Errno;
use nix::libc;
use std::io::IoSlice;
use std::mem::{size_of, zeroed, MaybeUninit};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

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
}

/// One non-blocking `recvmsg` into `buf`; descriptors that came with the bytes are appended
/// to `fds`, close-on-exec. Returns the byte count (0: EOF).
pub fn recv(
    fd: BorrowedFd,
    buf: &mut [MaybeUninit<u8>],
    fds: &mut Vec<OwnedFd>,
) -> Result<usize, Errno> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cmsg = Cmsg::new();
    // SAFETY: msghdr is plain data; all pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.0.as_mut_ptr().cast();
    msg.msg_controllen = CMSG_CAP as _;
    let flags = libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT;
    // SAFETY: msg describes valid, writable memory.
    let n = Errno::result(unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, flags) })? as usize;
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

/// One non-blocking `sendmsg` of `bufs`, with `pass` attached by SCM_RIGHTS to its first byte.
/// MSG_NOSIGNAL: a gone peer is an EPIPE result, never a SIGPIPE.
pub fn send(fd: BorrowedFd, bufs: &[IoSlice], pass: Option<BorrowedFd>) -> Result<usize, Errno> {
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
    let flags = libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT;
    // SAFETY: msg describes valid memory for the duration of the call.
    let n = unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, flags) };
    Errno::result(n).map(|n| n as usize)
}
