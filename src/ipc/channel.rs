//! Per-channel socket I/O: the read side (buffer, framing, received descriptors) and the
//! write side (queue of unsent bytes, descriptors to pass). Both work on a non-blocking
//! AF_UNIX stream socket; the reactor owns the socket and decides when to call them.
use super::framing::{Framer, TooLarge};
use super::Serialization;
use crate::sys::socket::{recv_with_fds, send_with_fd};
use nix::errno::Errno;
use std::collections::VecDeque;
use std::io::IoSlice;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

/// Normal read buffer size; it grows only for a frame that does not fit.
const READ_CHUNK: usize = 64 * 1024;
/// Grow rather than issue reads smaller than this.
const MIN_READ: usize = 4 * 1024;
/// A buffer grown past this for one big frame is given back once that frame is consumed.
const SHRINK_ABOVE: usize = 1 << 20;
/// Small writes queued behind each other are merged into segments up to this size.
const COALESCE: usize = 64 * 1024;
/// Segments gathered into one sendmsg.
const MAX_IOV: usize = 64;

/// Why `Reader::read` returned.
#[derive(Debug)]
pub enum ReadEnd {
    /// Nothing more to read for now.
    WouldBlock,
    /// The sink asked to stop.
    Stopped,
    /// The peer closed (or reset) the connection; complete frames were delivered first.
    Eof,
    /// A frame breaks `max_message_size`; the complete frames before it were delivered.
    TooLarge(TooLarge),
    Failed(Errno),
}

pub struct Reader {
    framer: Framer,
    /// Unconsumed bytes (a partial frame between reads); its capacity is the read buffer.
    buf: Vec<u8>,
    /// The largest buffer a partial frame can need, plus room to read at least one byte.
    limit: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    /// Received descriptors, each tagged with the stream offset of the last byte of the read
    /// that brought it: the kernel ends a read right after the data that carried descriptors,
    /// and a sender puts one frame's bytes alone in such a sendmsg, so that byte lies in the
    /// frame the descriptor belongs to. It is handed out with that frame.
    fds: VecDeque<(u64, OwnedFd)>,
}

impl Reader {
    pub fn new(mode: Serialization, max_message_size: usize) -> Self {
        Reader {
            framer: Framer::new(mode, max_message_size),
            buf: Vec::with_capacity(READ_CHUNK),
            limit: max_message_size.saturating_add(4).max(READ_CHUNK),
            base: 0,
            fds: VecDeque::new(),
        }
    }

    /// Reads until the socket is drained (or the sink returns false), handing `sink` each run
    /// of complete frames with the descriptors that belong to them. With `until_eagain` false,
    /// a read that comes back short and without descriptors counts as drained: the stream
    /// socket had no more queued data, and new data wakes the edge-triggered poller again.
    /// Callers pass true when the peer may have hung up already (no later wake-up would come).
    pub fn read(
        &mut self,
        fd: BorrowedFd,
        until_eagain: bool,
        sink: &mut dyn FnMut(&[u8], Vec<OwnedFd>) -> bool,
    ) -> ReadEnd {
        loop {
            self.make_room();
            let len = self.buf.len();
            let room = self.buf.capacity() - len;
            let mut got = Vec::new();
            let n = match recv_with_fds(fd, self.buf.spare_capacity_mut(), &mut got) {
                Ok(0) => return ReadEnd::Eof,
                Ok(n) => n,
                Err(Errno::EAGAIN) => return ReadEnd::WouldBlock,
                Err(Errno::EINTR) => continue,
                Err(Errno::ECONNRESET) => return ReadEnd::Eof,
                Err(e) => return ReadEnd::Failed(e),
            };
            // SAFETY: recv initialised n bytes of the spare capacity.
            unsafe { self.buf.set_len(len + n) };
            let cut_by_fds = !got.is_empty();
            let tag = self.base + (len + n - 1) as u64;
            self.fds.extend(got.into_iter().map(|f| (tag, f)));

            let scan = self.framer.scan(&self.buf);
            let go = scan.end == 0 || self.deliver(scan.end, sink);
            if let Some(t) = scan.too_large {
                return ReadEnd::TooLarge(t);
            }
            if !go {
                return ReadEnd::Stopped;
            }
            if !until_eagain && n < room && !cut_by_fds {
                return ReadEnd::WouldBlock;
            }
        }
    }

    fn deliver(&mut self, end: usize, sink: &mut dyn FnMut(&[u8], Vec<OwnedFd>) -> bool) -> bool {
        let limit = self.base + end as u64;
        let mut fds = Vec::new();
        while self.fds.front().is_some_and(|(tag, _)| *tag < limit) {
            fds.extend(self.fds.pop_front().map(|(_, f)| f));
        }
        let go = sink(&self.buf[..end], fds);
        self.buf.drain(..end);
        self.base = limit;
        go
    }

    /// Keeps the buffer between `READ_CHUNK` and `limit`: grows it for a partial frame that
    /// does not fit (to the size its header announces, when known), shrinks it back after.
    fn make_room(&mut self) {
        let (len, cap) = (self.buf.len(), self.buf.capacity());
        let wanted = self.framer.wanted(&self.buf).unwrap_or(0);
        // Not while a big frame is still arriving: it would only grow back on the next read.
        if cap > SHRINK_ABOVE && len <= READ_CHUNK / 2 && wanted <= READ_CHUNK {
            let mut small = Vec::with_capacity(READ_CHUNK);
            small.extend_from_slice(&self.buf);
            self.buf = small;
            return;
        }
        if cap - len < MIN_READ || wanted > cap {
            let target = (cap * 2).max(wanted).min(self.limit);
            if target > cap {
                self.buf.reserve_exact(target - len);
            }
        }
    }
}

/// Who wrote a message that carries a descriptor: the receiver acknowledges each such
/// message, in order, and the acknowledgement goes back to whoever sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// JavaScript (`channelWrite`).
    Js,
    /// The round-robin scheduler, for the connection it sent with this seq.
    Scheduler(u64),
}

/// A descriptor to pass. The queue keeps what has not gone out yet: a dup of a borrowed
/// descriptor, or another reference to a shared one.
#[derive(Clone, Copy)]
pub enum Pass<'a> {
    Borrowed(BorrowedFd<'a>),
    Shared(&'a Arc<OwnedFd>),
}

impl<'a> Pass<'a> {
    fn fd(self) -> BorrowedFd<'a> {
        match self {
            Pass::Borrowed(fd) => fd,
            Pass::Shared(fd) => fd.as_fd(),
        }
    }

    fn keep(&self) -> Result<Arc<OwnedFd>, Errno> {
        match self {
            Pass::Borrowed(fd) => Ok(Arc::new(
                fd.try_clone_to_owned().map_err(crate::sys::io_errno)?,
            )),
            Pass::Shared(fd) => Ok(Arc::clone(fd)),
        }
    }
}

/// Bytes to send; `fd` is passed with the first of them and dropped once sent.
struct Segment {
    data: Vec<u8>,
    sent: usize,
    fd: Option<Arc<OwnedFd>>,
}

#[derive(Default)]
pub struct Writer {
    queue: VecDeque<Segment>,
    queued: usize,
    /// Origin of each message written with a descriptor, oldest first, until its ACK/NACK.
    origins: VecDeque<Origin>,
    /// A JS write was queued: JS waits for a `drain` event once the queue is empty.
    drain_wanted: bool,
}

impl Writer {
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Sends `data` now if nothing is queued, queueing what the socket does not take (with
    /// `pass` if it has not gone out yet). Returns the bytes queued in total. `pass` goes with
    /// the first byte of `data`, in a sendmsg carrying only `data`.
    pub fn write(
        &mut self,
        fd: BorrowedFd,
        data: &[u8],
        pass: Option<Pass>,
        origin: Origin,
    ) -> Result<usize, Errno> {
        if data.is_empty() {
            // A descriptor needs at least one byte to travel with.
            return if pass.is_some() {
                Err(Errno::EINVAL)
            } else {
                Ok(self.queued)
            };
        }
        let mut sent = 0;
        let mut unsent = pass;
        if self.queue.is_empty() {
            while sent < data.len() {
                match send_with_fd(fd, &[IoSlice::new(&data[sent..])], unsent.map(|p| p.fd())) {
                    Ok(n) => {
                        sent += n;
                        unsent = None;
                    }
                    Err(Errno::EINTR) => {}
                    Err(Errno::EAGAIN) => break,
                    Err(e) => return Err(e),
                }
            }
        }
        if sent < data.len() {
            let kept = unsent.map(|p| p.keep()).transpose()?;
            self.push(&data[sent..], kept);
            if origin == Origin::Js {
                self.drain_wanted = true;
            }
        }
        if pass.is_some() {
            self.origins.push_back(origin);
        }
        Ok(self.queued)
    }

    /// Who sent the oldest descriptor not yet acknowledged; called for each ACK or NACK read.
    pub fn pop_origin(&mut self) -> Option<Origin> {
        self.origins.pop_front()
    }

    /// Whether a `drain` event is owed to JS now that the queue is empty; resets it.
    pub fn take_drain_wanted(&mut self) -> bool {
        std::mem::take(&mut self.drain_wanted)
    }

    fn push(&mut self, bytes: &[u8], fd: Option<Arc<OwnedFd>>) {
        self.queued += bytes.len();
        if fd.is_none() {
            if let Some(tail) = self.queue.back_mut() {
                if tail.fd.is_none() && tail.data.len() + bytes.len() <= COALESCE {
                    tail.data.extend_from_slice(bytes);
                    return;
                }
            }
        }
        self.queue.push_back(Segment {
            data: bytes.to_vec(),
            sent: 0,
            fd,
        });
    }

    /// Sends queued bytes until the socket is full. Ok(true) once the queue is empty.
    /// A segment with a descriptor is sent by a sendmsg of its own; others are gathered.
    pub fn flush(&mut self, fd: BorrowedFd) -> Result<bool, Errno> {
        while let Some(head) = self.queue.front() {
            let res = match &head.fd {
                Some(pass) => send_with_fd(
                    fd,
                    &[IoSlice::new(&head.data[head.sent..])],
                    Some(pass.as_fd()),
                ),
                None => {
                    let mut iov = [IoSlice::new(&[]); MAX_IOV];
                    let segs = self.queue.iter().enumerate();
                    let run = segs.take_while(|(i, s)| *i == 0 || s.fd.is_none());
                    let mut k = 0;
                    for (slot, (_, s)) in iov.iter_mut().zip(run) {
                        *slot = IoSlice::new(&s.data[s.sent..]);
                        k += 1;
                    }
                    send_with_fd(fd, &iov[..k], None)
                }
            };
            match res {
                Ok(n) => self.consume(n),
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    fn consume(&mut self, mut n: usize) {
        self.queued -= n;
        while n > 0 {
            let Some(head) = self.queue.front_mut() else {
                break;
            };
            // Only the head's descriptor can have been attached, and it went with this send.
            head.fd = None;
            let left = head.data.len() - head.sent;
            if n < left {
                head.sent += n;
                break;
            }
            n -= left;
            self.queue.pop_front();
        }
    }

    /// Drops everything queued (and the descriptors waiting to be passed, closed unless
    /// shared), and the acknowledgements waited for.
    pub fn discard(&mut self) {
        self.queue.clear();
        self.queued = 0;
        self.origins.clear();
        self.drain_wanted = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    use std::os::fd::AsRawFd;

    fn pair() -> (OwnedFd, OwnedFd) {
        let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
        socketpair(AddressFamily::Unix, SockType::Stream, None, flags).unwrap()
    }

    fn is_cloexec(fd: &OwnedFd) -> bool {
        let flags = FdFlag::from_bits_truncate(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFD).unwrap());
        flags.contains(FdFlag::FD_CLOEXEC)
    }

    /// A pipe whose write end, once passed, lets the test check the received descriptor.
    fn pipe() -> (OwnedFd, OwnedFd) {
        nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap()
    }

    /// (frames, descriptors) per sink call.
    type Runs = Vec<(Vec<u8>, Vec<OwnedFd>)>;

    /// Everything one `read` call handed out.
    fn read_all(r: &mut Reader, fd: &OwnedFd) -> (Runs, ReadEnd) {
        let mut out = Vec::new();
        let end = r.read(fd.as_fd(), true, &mut |b, f| {
            out.push((b.to_vec(), f));
            true
        });
        (out, end)
    }

    #[test]
    fn receives_fd_with_its_frame_close_on_exec() {
        let (a, b) = pair();
        let (rp, wp) = pipe();
        send_with_fd(a.as_fd(), &[IoSlice::new(b"one\n")], None).unwrap();
        // The handle's frame arrives in two sendmsgs; the fd comes with the first.
        send_with_fd(a.as_fd(), &[IoSlice::new(b"{\"cmd\":")], Some(wp.as_fd())).unwrap();
        drop(wp);
        let mut r = Reader::new(Serialization::Json, 1 << 20);
        let (got, end) = read_all(&mut r, &b);
        assert!(matches!(end, ReadEnd::WouldBlock), "{end:?}");
        let bytes: Vec<u8> = got.iter().flat_map(|(b, _)| b.clone()).collect();
        assert_eq!(bytes, b"one\n");
        assert!(
            got.iter().all(|(_, f)| f.is_empty()),
            "fd handed out before its frame"
        );

        send_with_fd(a.as_fd(), &[IoSlice::new(b"\"H\"}\ntwo\n")], None).unwrap();
        let (mut got, _) = read_all(&mut r, &b);
        assert_eq!(got.len(), 1);
        let (bytes, mut fds) = got.pop().unwrap();
        assert_eq!(bytes, b"{\"cmd\":\"H\"}\ntwo\n");
        assert_eq!(fds.len(), 1);
        let fd = fds.pop().unwrap();
        assert!(is_cloexec(&fd));
        nix::unistd::write(&fd, b"via fd").unwrap();
        drop(fd);
        let mut buf = [0u8; 16];
        let n = nix::unistd::read(rp.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"via fd");

        drop(a);
        let (got, end) = read_all(&mut r, &b);
        assert!(got.is_empty());
        assert!(matches!(end, ReadEnd::Eof), "{end:?}");
    }

    #[test]
    fn oversize_frame_ends_the_read_after_good_frames() {
        let (a, b) = pair();
        let mut frames = Vec::new();
        for p in [&b"ok"[..], &[7u8; 100][..]] {
            frames.extend_from_slice(&(p.len() as u32).to_be_bytes());
            frames.extend_from_slice(p);
        }
        send_with_fd(a.as_fd(), &[IoSlice::new(&frames)], None).unwrap();
        let mut r = Reader::new(Serialization::Advanced, 50);
        let (got, end) = read_all(&mut r, &b);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, b"\0\0\0\x02ok");
        match end {
            ReadEnd::TooLarge(t) => assert_eq!((t.size, t.limit), (100, 50)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn big_frame_grows_the_buffer_and_stop_is_honoured() {
        let (a, b) = pair();
        let payload = vec![b'x'; 300 * 1024];
        let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&payload);
        let mut w = Writer::default();
        let mut r = Reader::new(Serialization::Advanced, 1 << 20);
        w.write(a.as_fd(), &frame, None, Origin::Js).unwrap();
        w.write(a.as_fd(), &frame, None, Origin::Js).unwrap();
        let mut frames = 0;
        while frames < 2 {
            if !w.is_empty() {
                w.flush(a.as_fd()).unwrap();
            }
            // Stop after the first delivered run: nothing else may be read after it.
            let end = r.read(b.as_fd(), true, &mut |bytes, _| {
                assert_eq!(bytes.len() % frame.len(), 0);
                frames += bytes.len() / frame.len();
                false
            });
            assert!(
                matches!(end, ReadEnd::Stopped | ReadEnd::WouldBlock),
                "{end:?}"
            );
        }
        assert_eq!(frames, 2);
        assert!(w.is_empty());
    }

    #[test]
    fn queued_writes_flush_in_order_with_fd_in_its_own_sendmsg() {
        let (a, b) = pair();
        let (rp, wp) = pipe();
        let mut w = Writer::default();
        // Far more than the socket buffer: the first write queues most of it.
        let big: Vec<u8> = [vec![b'x'; 2 << 20], b"\n".to_vec()].concat();
        let queued = w.write(a.as_fd(), &big, None, Origin::Js).unwrap();
        assert!(queued > 0, "socket took 2 MiB at once");
        let after_small = w.write(a.as_fd(), b"small\n", None, Origin::Js).unwrap();
        assert_eq!(after_small, queued + 6);
        let pass = Some(Pass::Borrowed(wp.as_fd()));
        let after_fd = w.write(a.as_fd(), b"HANDLE\n", pass, Origin::Js).unwrap();
        assert_eq!(after_fd, after_small + 7);
        drop(wp); // the queue holds its own dup
        w.write(a.as_fd(), b"tail\n", None, Origin::Js).unwrap();

        let mut r = Reader::new(Serialization::Json, 4 << 20);
        let mut bytes = Vec::new();
        let mut handle_fds = Vec::new();
        let mut flushed = false;
        let expected = [&big[..], b"small\n", b"HANDLE\n", b"tail\n"].concat();
        while !flushed || bytes.len() < expected.len() {
            if !flushed {
                flushed = w.flush(a.as_fd()).unwrap();
            }
            r.read(b.as_fd(), true, &mut |chunk, fds| {
                if !fds.is_empty() {
                    // The descriptor comes with the run holding its frame.
                    assert!(chunk.windows(7).any(|x| x == b"HANDLE\n"));
                    handle_fds.extend(fds);
                }
                bytes.extend_from_slice(chunk);
                true
            });
        }
        assert!(bytes == expected);
        assert_eq!(handle_fds.len(), 1);
        assert!(is_cloexec(&handle_fds[0]));
        nix::unistd::write(&handle_fds[0], b"!").unwrap();
        let mut one = [0u8; 1];
        assert_eq!(nix::unistd::read(rp.as_raw_fd(), &mut one).unwrap(), 1);
    }

    #[test]
    fn write_to_closed_peer_fails_synchronously() {
        let (a, b) = pair();
        drop(b);
        let mut w = Writer::default();
        assert_eq!(
            w.write(a.as_fd(), b"x\n", None, Origin::Js),
            Err(Errno::EPIPE)
        );
        assert_eq!(w.write(a.as_fd(), b"", None, Origin::Js), Ok(0));
        assert_eq!(w.pop_origin(), None, "a failed write is not acknowledged");
    }

    #[test]
    fn origins_in_write_order_and_drain_only_for_js() {
        let (a, b) = pair();
        let (_rp, wp) = pipe();
        let shared = Arc::new(wp);
        let mut w = Writer::default();
        let js = Some(Pass::Borrowed(shared.as_fd()));
        w.write(a.as_fd(), b"1\n", js, Origin::Js).unwrap();
        w.write(a.as_fd(), b"2\n", None, Origin::Js).unwrap();
        let sched = Some(Pass::Shared(&shared));
        w.write(a.as_fd(), b"3\n", sched, Origin::Scheduler(7))
            .unwrap();
        assert!(!w.take_drain_wanted(), "nothing was queued");

        // Behind a full socket, the queue holds a reference to a shared descriptor, not a dup.
        let big = vec![b'x'; 4 << 20];
        assert!(
            w.write(a.as_fd(), &big, None, Origin::Scheduler(0))
                .unwrap()
                > 0
        );
        w.write(a.as_fd(), b"H\n", sched, Origin::Scheduler(8))
            .unwrap();
        assert_eq!(Arc::strong_count(&shared), 2);
        assert!(!w.take_drain_wanted(), "scheduler writes owe JS no drain");
        w.write(a.as_fd(), b"4\n", None, Origin::Js).unwrap();
        assert!(w.take_drain_wanted());
        assert!(!w.take_drain_wanted());

        assert_eq!(w.pop_origin(), Some(Origin::Js));
        assert_eq!(w.pop_origin(), Some(Origin::Scheduler(7)));
        assert_eq!(w.pop_origin(), Some(Origin::Scheduler(8)));
        assert_eq!(w.pop_origin(), None);
        w.write(a.as_fd(), b"5\n", js, Origin::Js).unwrap();
        w.discard();
        assert_eq!(w.pop_origin(), None);
        assert_eq!(
            Arc::strong_count(&shared),
            1,
            "discard drops the queued reference"
        );
        drop(b);
    }
}
