//! The client's WebSocket frame reader (server-to-client frames, RFC 6455 section 5).
//!
//! Small frames and headers go through a read-ahead buffer and are split off it, as
//! fastwebsockets does. A large payload is instead read straight from the socket into a
//! buffer taken from a [`BufPool`] and handed on as [`Bytes`] that return the buffer to the
//! pool when the last clone is dropped. With many bulk answers in flight, fastwebsockets
//! allocated a fresh payload-sized buffer per frame (the previous ones are still held by
//! their consumers); the allocator hands such blocks back to the kernel when freed, so the
//! kernel's copy into the next one page-faulted on every page. Recycled buffers stay mapped
//! and warm.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::landing::Landing;

/// Capacity of the read-ahead buffer for headers and small frames.
const READ_AHEAD: usize = 64 * 1024;
/// Payloads of at least this size are read into a pooled buffer of their own.
pub(crate) const LARGE_PAYLOAD: usize = 64 * 1024;
/// Largest header of a server frame: 2 bytes + 8 bytes of length (no mask).
const MAX_HEADER: usize = 10;
/// Once the socket has been quiet this long at a frame boundary, the pool is emptied.
const IDLE_RELEASE: Duration = Duration::from_secs(2);

/// Frame opcodes (RFC 6455 section 5.2).
mod opcode {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// Why reading from the server stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("unexpected end of stream")]
    UnexpectedEof,
    #[error("reserved bits are not zero")]
    ReservedBits,
    #[error("unknown opcode {0:#x}")]
    UnknownOpcode(u8),
    #[error("the server sent a masked frame")]
    Masked,
    #[error("control frame fragmented")]
    ControlFragmented,
    #[error("control frame payload of {0} bytes (at most 125)")]
    ControlTooLarge(u64),
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge { size: u64, limit: usize },
    #[error("continuation frame without a message to continue")]
    InvalidContinuation,
    #[error("new data frame inside a fragmented message")]
    InvalidFragment,
    #[error("close frame with a 1-byte payload")]
    InvalidClose,
}

impl FrameError {
    /// The close code to answer with (RFC 6455 section 7.4.1).
    pub(crate) fn close_code(&self) -> u16 {
        match self {
            FrameError::Io(_) | FrameError::UnexpectedEof => 1000,
            FrameError::TooLarge { .. } => 1009,
            _ => 1002,
        }
    }
}

/// Bytes of a message's start a [`Lander`] is shown (all of it when shorter): room for
/// the header and the start of a DataArray answer's body with a long key.
pub(crate) const LANDING_HEAD: usize = 4096;

/// Decides, from a binary message's first bytes, whether its values are received straight
/// into a [`Landing`] (see [`crate::landing`]).
pub(crate) trait Lander {
    /// Whether any landing is waiting at all (checked before anything else is done).
    fn active(&self) -> bool;
    /// The landing for the message of `len` bytes starting with `head` (at least
    /// [`LANDING_HEAD`] bytes of it, or all). The values must start within `head` and end
    /// within the message.
    fn land(&mut self, head: &[u8], len: usize) -> Option<Landing>;
}

/// A [`Lander`] that never lands anything.
#[cfg(test)]
pub(crate) struct NoLanding;

#[cfg(test)]
impl Lander for NoLanding {
    fn active(&self) -> bool {
        false
    }

    fn land(&mut self, _: &[u8], _: usize) -> Option<Landing> {
        None
    }
}

/// A message whose values were received into a [`Landing`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Landed {
    /// The message up to its values.
    pub head: Bytes,
    /// The message after its values.
    pub tail: Bytes,
    /// Where the values went.
    pub landing: Landing,
}

/// One complete message or control frame, as the reader task sees it (Pongs are dropped).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// A binary message, reassembled if it came fragmented.
    Binary(Bytes),
    /// A binary message whose values went straight into a landing.
    Landed(Landed),
    /// A text message (ETP's JSON encoding is not supported; the content is not kept).
    Text,
    /// A Ping, to be answered with a Pong carrying the same payload.
    Ping(Bytes),
    /// A Close frame's payload (empty, or code and reason).
    Close(Bytes),
}

/// Bounded LIFO pool of payload buffers: the most recently returned (warmest) comes first.
#[derive(Debug)]
pub(crate) struct BufPool {
    inner: Mutex<PoolInner>,
    max_buffers: usize,
    max_bytes: usize,
}

#[derive(Debug, Default)]
struct PoolInner {
    free: Vec<Vec<u8>>,
    bytes: usize,
}

impl BufPool {
    /// A pool keeping at most `max_buffers` buffers and `max_bytes` of capacity.
    pub(crate) fn new(max_buffers: usize, max_bytes: usize) -> Arc<BufPool> {
        Arc::new(BufPool {
            inner: Mutex::new(PoolInner::default()),
            max_buffers,
            max_bytes,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolInner> {
        // The critical sections cannot panic half-way (Vec push/pop, additions), so a
        // poisoned lock still guards a consistent pool.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An empty buffer with room for at least `len` bytes.
    fn take(&self, len: usize) -> Vec<u8> {
        let recycled = {
            let mut inner = self.lock();
            let buf = inner.free.pop();
            if let Some(b) = &buf {
                inner.bytes -= b.capacity();
            }
            buf
        };
        let mut buf = match recycled {
            Some(mut buf) => {
                buf.clear();
                let before = buf.as_ptr();
                buf.reserve_exact(len);
                if buf.as_ptr() == before {
                    // The same memory: advised (and faulted in) when first allocated.
                    return buf;
                }
                buf
            }
            None => Vec::with_capacity(len),
        };
        advise_huge_pages(&mut buf);
        buf
    }

    fn give_back(&self, buf: Vec<u8>) {
        let mut inner = self.lock();
        if inner.free.len() < self.max_buffers && inner.bytes + buf.capacity() <= self.max_bytes {
            inner.bytes += buf.capacity();
            inner.free.push(buf);
        }
    }

    /// Frees every pooled buffer.
    pub(crate) fn clear(&self) {
        let free = {
            let mut inner = self.lock();
            inner.bytes = 0;
            std::mem::take(&mut inner.free)
        };
        drop(free);
    }

    /// Number of buffers kept.
    pub(crate) fn len(&self) -> usize {
        self.lock().free.len()
    }

    /// Wraps a filled buffer as `Bytes` that return it here when dropped.
    fn share(self: &Arc<Self>, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(PooledBuf {
            buf,
            pool: Arc::downgrade(self),
        })
    }
}

/// Asks the kernel to back the whole huge pages (2 MiB on x86-64) inside a new buffer's
/// allocation with transparent huge pages, where the system leaves that to the program
/// (THP mode `madvise`, a common default).
///
/// A new payload buffer is filled by the kernel's socket copy, which page-faults on
/// every 4 KiB page of it: on the first DataArray get at 8 MiB messages (16 answers in
/// flight, the pool empty at the start), 33–97 CPU samples per GiB of the client's, up
/// to a tenth of the get; with the advice 25–46. One fault per 2 MiB costs a third of 512
/// small ones (fresh 8 MiB buffers written whole: 440 → 130–150 ms per GiB); the part
/// of a buffer outside its whole huge pages still faults page by page. Only the pages
/// the buffer covers whole are advised, so no memory beyond it is touched; the advice
/// changes how the pages are backed, never what they hold.
///
/// A process that has turned transparent huge pages off (`PR_SET_THP_DISABLE`) ignores
/// the advice: the `etp` binary does, through its allocator (mimalloc built `no_thp`,
/// whose own huge-page arenas cost more than they saved), so there the advice helps
/// only programs that use this library with an allocator of their own.
fn advise_huge_pages(buf: &mut Vec<u8>) {
    #[cfg(target_os = "linux")]
    {
        /// The x86-64 and common arm64 PMD size; the advice is only a hint elsewhere.
        const HUGE: usize = 2 << 20;
        let start = buf.as_mut_ptr() as usize;
        let Some(end) = start.checked_add(buf.capacity()) else {
            return;
        };
        let Some(first) = start.checked_next_multiple_of(HUGE) else {
            return;
        };
        let last = end & !(HUGE - 1);
        if last <= first {
            return;
        }
        // SAFETY: `[first, last)` lies inside the buffer's allocation (`start ≤ first <
        // last ≤ start + capacity`), which `buf` keeps allocated for the call; the range
        // is page-aligned (2 MiB-aligned) as madvise needs. MADV_HUGEPAGE only changes
        // how the kernel backs those pages: their contents, and every access to them, stay
        // as they are. A failure (THP disabled or unsupported) leaves plain pages.
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_HUGEPAGE,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buf;
}

/// A payload buffer on loan from a [`BufPool`]; goes back on drop (unless the pool is gone).
struct PooledBuf {
    buf: Vec<u8>,
    pool: std::sync::Weak<BufPool>,
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.upgrade() {
            pool.give_back(std::mem::take(&mut self.buf));
        }
    }
}

/// A message being reassembled from fragments.
struct Fragments {
    text: bool,
    data: Vec<u8>,
}

/// Reads frames from the server side of a WebSocket (client role: frames arrive unmasked).
pub(crate) struct FrameReader<S> {
    stream: S,
    buf: BytesMut,
    max_message_size: usize,
    pool: Arc<BufPool>,
    fragments: Option<Fragments>,
}

struct Header {
    fin: bool,
    opcode: u8,
    len: usize,
}

impl<S: AsyncRead + Unpin> FrameReader<S> {
    /// A reader accepting messages of up to `max_message_size` bytes.
    pub(crate) fn new(stream: S, max_message_size: usize, pool: Arc<BufPool>) -> Self {
        FrameReader {
            stream,
            buf: BytesMut::with_capacity(READ_AHEAD),
            max_message_size,
            pool,
            fragments: None,
        }
    }

    /// Reads until the buffer holds at least `n` bytes.
    async fn fill(&mut self, n: usize) -> Result<(), FrameError> {
        while self.buf.len() < n {
            let spare = self.buf.capacity() - self.buf.len();
            if spare < n - self.buf.len() || spare < MAX_HEADER {
                self.buf.reserve(READ_AHEAD.max(n - self.buf.len()));
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(FrameError::UnexpectedEof);
            }
        }
        Ok(())
    }

    /// Waits for the next frame's first bytes; empties the pool if none come for a while.
    async fn wait_for_frame(&mut self) -> Result<(), FrameError> {
        if self.buf.is_empty() && self.pool.len() > 0 {
            self.buf.reserve(READ_AHEAD);
            // `read_buf` is cancel-safe: on timeout nothing was read.
            match tokio::time::timeout(IDLE_RELEASE, self.stream.read_buf(&mut self.buf)).await {
                Ok(Ok(0)) => return Err(FrameError::UnexpectedEof),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => self.pool.clear(),
            }
        }
        self.fill(2).await
    }

    async fn header(&mut self) -> Result<Header, FrameError> {
        self.wait_for_frame().await?;
        let (b0, b1) = (self.buf[0], self.buf[1]);
        if b0 & 0x70 != 0 {
            return Err(FrameError::ReservedBits);
        }
        if b1 & 0x80 != 0 {
            return Err(FrameError::Masked);
        }
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0F;
        let control = match opcode {
            opcode::CONTINUATION | opcode::TEXT | opcode::BINARY => false,
            opcode::CLOSE | opcode::PING | opcode::PONG => true,
            other => return Err(FrameError::UnknownOpcode(other)),
        };
        let (extra, len) = match b1 & 0x7F {
            126 => {
                self.fill(4).await?;
                (2, u64::from(u16::from_be_bytes([self.buf[2], self.buf[3]])))
            }
            127 => {
                self.fill(10).await?;
                let mut be = [0u8; 8];
                be.copy_from_slice(&self.buf[2..10]);
                (8, u64::from_be_bytes(be))
            }
            short => (0, u64::from(short)),
        };
        if control && !fin {
            return Err(FrameError::ControlFragmented);
        }
        if control && len > 125 {
            return Err(FrameError::ControlTooLarge(len));
        }
        // Checked before anything is allocated for the payload; fragments count together.
        let before = self.fragments.as_ref().map_or(0, |f| f.data.len());
        let limit = self.max_message_size;
        let size = (before as u64).saturating_add(len);
        let too_large = FrameError::TooLarge { size, limit };
        if size > limit as u64 {
            return Err(too_large);
        }
        let len = usize::try_from(len).map_err(|_| too_large)?;
        bytes::Buf::advance(&mut self.buf, 2 + extra);
        Ok(Header { fin, opcode, len })
    }

    /// Reads one frame's payload (whose header has been consumed).
    async fn payload(&mut self, len: usize) -> Result<Bytes, FrameError> {
        if len < LARGE_PAYLOAD {
            self.fill(len).await?;
            return Ok(self.buf.split_to(len).freeze());
        }
        let mut out = self.pool.take(len);
        let buffered = self.buf.len().min(len);
        out.extend_from_slice(&self.buf[..buffered]);
        bytes::Buf::advance(&mut self.buf, buffered);
        while out.len() < len {
            // Read no further than the frame's end: the rest belongs to the next frame and
            // would otherwise have to be copied back into the read-ahead buffer.
            let remaining = len - out.len();
            if self
                .stream
                .read_buf(&mut (&mut out).limit(remaining))
                .await?
                == 0
            {
                return Err(FrameError::UnexpectedEof);
            }
        }
        Ok(self.pool.share(out))
    }

    /// Reads a message of `len` bytes (whose frame header has been consumed) with its
    /// values going into `landing`.
    async fn land(&mut self, len: usize, mut landing: Landing) -> Result<Incoming, FrameError> {
        let at = landing.values_at;
        let n = landing.placement.len();
        let end = at.saturating_add(n);
        if at > self.buf.len() || end > len {
            // The lander broke its contract; the answer goes the usual way (its request
            // then finds its placement gone and fails).
            debug_assert!(false, "landing at {at}+{n} in a message of {len}");
            return Ok(Incoming::Binary(self.payload(len).await?));
        }
        // Head and tail are a few bytes: copied, so that they do not pin the read-ahead
        // buffer while the answer waits for its consumer.
        let head = Bytes::copy_from_slice(&self.buf[..at]);
        bytes::Buf::advance(&mut self.buf, at);
        let dest = landing.placement.bytes_mut();
        let buffered = self.buf.len().min(n);
        dest[..buffered].copy_from_slice(&self.buf[..buffered]);
        bytes::Buf::advance(&mut self.buf, buffered);
        let mut filled = buffered;
        while filled < n {
            // Straight from the socket into place; never past the values.
            match self.stream.read(&mut dest[filled..]).await? {
                0 => return Err(FrameError::UnexpectedEof),
                read => filled += read,
            }
        }
        let tail_len = len - end;
        self.fill(tail_len).await?;
        let tail = Bytes::copy_from_slice(&self.buf[..tail_len]);
        bytes::Buf::advance(&mut self.buf, tail_len);
        Ok(Incoming::Landed(Landed {
            head,
            tail,
            landing,
        }))
    }

    /// The next message or control frame. Pongs are skipped; fragmented messages are
    /// reassembled (control frames may arrive between their fragments).
    #[cfg(test)]
    pub(crate) async fn next(&mut self) -> Result<Incoming, FrameError> {
        self.next_landing(&mut NoLanding).await
    }

    /// [`FrameReader::next`], offering every unfragmented binary message to `lander`.
    pub(crate) async fn next_landing(
        &mut self,
        lander: &mut impl Lander,
    ) -> Result<Incoming, FrameError> {
        loop {
            let header = self.header().await?;
            match header.opcode {
                opcode::PING => return Ok(Incoming::Ping(self.payload(header.len).await?)),
                opcode::PONG => {
                    self.payload(header.len).await?;
                }
                opcode::CLOSE => {
                    if header.len == 1 {
                        return Err(FrameError::InvalidClose);
                    }
                    return Ok(Incoming::Close(self.payload(header.len).await?));
                }
                opcode::CONTINUATION => {
                    if self.fragments.is_none() {
                        return Err(FrameError::InvalidContinuation);
                    }
                    let payload = self.payload(header.len).await?;
                    let Some(fragments) = self.fragments.as_mut() else {
                        return Err(FrameError::InvalidContinuation);
                    };
                    fragments.data.extend_from_slice(&payload);
                    if header.fin {
                        let Some(done) = self.fragments.take() else {
                            return Err(FrameError::InvalidContinuation);
                        };
                        return Ok(if done.text {
                            Incoming::Text
                        } else {
                            Incoming::Binary(Bytes::from(done.data))
                        });
                    }
                }
                op => {
                    if self.fragments.is_some() {
                        return Err(FrameError::InvalidFragment);
                    }
                    let text = op == opcode::TEXT;
                    if header.fin && !text && lander.active() {
                        let peek = header.len.min(LANDING_HEAD);
                        self.fill(peek).await?;
                        if let Some(landing) = lander.land(&self.buf[..peek], header.len) {
                            return self.land(header.len, landing).await;
                        }
                    }
                    let payload = self.payload(header.len).await?;
                    if header.fin {
                        return Ok(if text {
                            Incoming::Text
                        } else {
                            Incoming::Binary(payload)
                        });
                    }
                    self.fragments = Some(Fragments {
                        text,
                        data: payload.to_vec(),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use fastwebsockets::{Frame, OpCode, Payload, Role, WebSocket};
    use tokio::io::{AsyncReadExt, ReadBuf};

    use super::*;

    /// Hands out its bytes in the given pieces, one piece (at most) per read.
    struct Pieces(VecDeque<Vec<u8>>);

    impl AsyncRead for Pieces {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            if let Some(mut piece) = self.0.pop_front() {
                let n = piece.len().min(buf.remaining());
                buf.put_slice(&piece[..n]);
                if n < piece.len() {
                    self.0.push_front(piece.split_off(n));
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    fn pieces(parts: &[&[u8]]) -> Pieces {
        Pieces(parts.iter().map(|p| p.to_vec()).collect())
    }

    fn reader(stream: Pieces, limit: usize) -> FrameReader<Pieces> {
        FrameReader::new(stream, limit, BufPool::new(4, 64 << 20))
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 131 + 17) as u8).collect()
    }

    /// A server frame built by hand: `form` 0 = 7-bit length, 2 = 16-bit, 8 = 64-bit.
    fn frame(fin: bool, opcode: u8, payload: &[u8], form: usize) -> Vec<u8> {
        let mut out = vec![(u8::from(fin) << 7) | opcode];
        match form {
            0 => out.push(payload.len() as u8),
            2 => {
                out.push(126);
                out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            }
            _ => {
                out.push(127);
                out.extend_from_slice(&(payload.len() as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    /// The bytes fastwebsockets' server-side writer puts on the wire for `frames`.
    async fn written_by_fastwebsockets(frames: Vec<Frame<'static>>) -> Vec<u8> {
        let (server_end, mut client_end) = tokio::io::duplex(1 << 24);
        let mut ws = WebSocket::after_handshake(server_end, Role::Server);
        for frame in frames {
            ws.write_frame(frame).await.expect("written");
        }
        drop(ws);
        let mut wire = Vec::new();
        client_end.read_to_end(&mut wire).await.expect("read");
        wire
    }

    const SIZES: [usize; 8] = [0, 1, 125, 126, 65_535, 65_536, 70_001, 300_000];

    #[tokio::test]
    async fn reads_frames_of_every_length_form_written_by_fastwebsockets() {
        let frames = SIZES
            .iter()
            .map(|&n| Frame::binary(Payload::Owned(sample(n))))
            .collect();
        let wire = written_by_fastwebsockets(frames).await;
        // All frames in one read, then in reads of 1, 7 and 4096 bytes.
        for piece in [wire.len(), 1, 7, 4096] {
            let mut r = reader(
                Pieces(wire.chunks(piece).map(<[u8]>::to_vec).collect()),
                1 << 20,
            );
            for &n in &SIZES {
                assert_eq!(
                    r.next().await.expect("frame"),
                    Incoming::Binary(Bytes::from(sample(n))),
                    "size {n}, pieces of {piece}"
                );
            }
            assert!(matches!(r.next().await, Err(FrameError::UnexpectedEof)));
        }
    }

    #[tokio::test]
    async fn frames_split_at_every_header_byte() {
        for (n, form) in [(100, 0), (300, 2), (100_000, 8), (5, 8)] {
            let payload = sample(n);
            let mut wire = frame(true, opcode::BINARY, &payload, form);
            // A small frame follows, so over-reading past the first would show.
            wire.extend(frame(true, opcode::BINARY, b"next", 0));
            let header = 2 + form;
            for cut in 1..=header + 1 {
                let mut r = reader(pieces(&[&wire[..cut], &wire[cut..]]), 1 << 20);
                assert_eq!(
                    r.next().await.expect("frame"),
                    Incoming::Binary(Bytes::from(payload.clone())),
                    "size {n}, cut {cut}"
                );
                assert_eq!(
                    r.next().await.expect("frame"),
                    Incoming::Binary(Bytes::from_static(b"next"))
                );
            }
        }
    }

    #[tokio::test]
    async fn fragmented_message_with_a_ping_in_the_middle() {
        let big = sample(100_000);
        let mut wire = frame(false, opcode::BINARY, b"abc", 0);
        wire.extend(frame(false, opcode::CONTINUATION, &big, 8));
        wire.extend(frame(true, opcode::PING, b"hi", 0));
        wire.extend(frame(true, opcode::PONG, b"ignored", 0));
        wire.extend(frame(true, opcode::CONTINUATION, b"xyz", 0));
        wire.extend(frame(false, opcode::TEXT, b"{", 0));
        wire.extend(frame(true, opcode::CONTINUATION, b"}", 0));
        let mut r = reader(pieces(&[&wire]), 1 << 20);
        assert_eq!(
            r.next().await.expect("ping"),
            Incoming::Ping(Bytes::from_static(b"hi"))
        );
        let mut expected = b"abc".to_vec();
        expected.extend_from_slice(&big);
        expected.extend_from_slice(b"xyz");
        assert_eq!(
            r.next().await.expect("message"),
            Incoming::Binary(Bytes::from(expected))
        );
        assert_eq!(r.next().await.expect("text"), Incoming::Text);
    }

    #[tokio::test]
    async fn fragmented_messages_from_fastwebsockets() {
        let frames = vec![
            Frame::new(false, OpCode::Binary, None, Payload::Owned(sample(70_000))),
            Frame::new(
                false,
                OpCode::Continuation,
                None,
                Payload::Owned(sample(10)),
            ),
            Frame::new(
                true,
                OpCode::Continuation,
                None,
                Payload::Owned(sample(300)),
            ),
        ];
        let wire = written_by_fastwebsockets(frames).await;
        let mut r = reader(pieces(&[&wire]), 1 << 20);
        let mut expected = sample(70_000);
        expected.extend(sample(10));
        expected.extend(sample(300));
        assert_eq!(
            r.next().await.expect("message"),
            Incoming::Binary(Bytes::from(expected))
        );
    }

    #[tokio::test]
    async fn oversize_rejected_from_the_header_alone() {
        // Only the header arrives: the limit must be checked before waiting for (or
        // allocating) the payload.
        let mut header = vec![0x82, 127];
        header.extend_from_slice(&(1u64 << 40).to_be_bytes());
        let mut r = reader(pieces(&[&header]), 1 << 20);
        assert!(matches!(
            r.next().await,
            Err(FrameError::TooLarge { size, limit: 1_048_576 }) if size == 1 << 40
        ));
        // Exactly the limit is accepted, one more byte is not.
        let wire = frame(true, opcode::BINARY, &sample(1000), 2);
        let mut r = reader(pieces(&[&wire]), 1000);
        assert!(matches!(r.next().await, Ok(Incoming::Binary(b)) if b.len() == 1000));
        let mut r = reader(pieces(&[&wire[..4]]), 999);
        assert!(matches!(r.next().await, Err(FrameError::TooLarge { .. })));
        // Fragments count together.
        let mut wire = frame(false, opcode::BINARY, &sample(600), 2);
        wire.extend(&frame(true, opcode::CONTINUATION, &sample(600), 2)[..4]);
        let mut r = reader(pieces(&[&wire]), 1000);
        assert!(matches!(
            r.next().await,
            Err(FrameError::TooLarge { size: 1200, .. })
        ));
    }

    type IsExpected = fn(&FrameError) -> bool;

    #[tokio::test]
    async fn protocol_errors() {
        let masked = [0x82, 0x81, 1, 2, 3, 4, 0];
        let cases: Vec<(Vec<u8>, IsExpected)> = vec![
            (masked.to_vec(), |e| matches!(e, FrameError::Masked)),
            (vec![0xC2, 0], |e| matches!(e, FrameError::ReservedBits)),
            (vec![0x83, 0], |e| matches!(e, FrameError::UnknownOpcode(3))),
            (vec![0x8B, 0], |e| {
                matches!(e, FrameError::UnknownOpcode(0xB))
            }),
            (vec![0x09, 0], |e| {
                matches!(e, FrameError::ControlFragmented)
            }),
            (frame(true, opcode::PING, &[0; 126], 2), |e| {
                matches!(e, FrameError::ControlTooLarge(126))
            }),
            (vec![0x80, 0], |e| {
                matches!(e, FrameError::InvalidContinuation)
            }),
            (vec![0x02, 0, 0x82, 0], |e| {
                matches!(e, FrameError::InvalidFragment)
            }),
            (vec![0x88, 1, 3], |e| matches!(e, FrameError::InvalidClose)),
        ];
        for (wire, expected) in cases {
            let mut r = reader(pieces(&[&wire]), 1 << 20);
            let error = r.next().await.expect_err("rejected");
            assert!(expected(&error), "{wire:?}: {error}");
            assert_ne!(error.close_code(), 1000);
        }
    }

    #[tokio::test]
    async fn close_with_and_without_reason() {
        let mut reason = 1001u16.to_be_bytes().to_vec();
        reason.extend_from_slice(b"going away");
        let mut wire = frame(true, opcode::CLOSE, &reason, 0);
        wire.extend(frame(true, opcode::CLOSE, b"", 0));
        let mut r = reader(pieces(&[&wire]), 1 << 20);
        assert_eq!(
            r.next().await.expect("close"),
            Incoming::Close(Bytes::from(reason))
        );
        assert_eq!(
            r.next().await.expect("close"),
            Incoming::Close(Bytes::new())
        );
    }

    /// Lands the values of messages that start with `marker`: bytes `at..at + len` of
    /// each go into the next placement of a zone of `count` bytes.
    struct TestLander {
        zone: crate::landing::LandingZone<u8>,
        next: u64,
        marker: u8,
        at: usize,
        len: u64,
        heads_seen: Vec<usize>,
    }

    impl TestLander {
        fn new(count: usize, marker: u8, at: usize, len: u64) -> TestLander {
            TestLander {
                zone: crate::landing::LandingZone::new(vec![0u8; count]),
                next: 0,
                marker,
                at,
                len,
                heads_seen: Vec::new(),
            }
        }
    }

    impl Lander for TestLander {
        fn active(&self) -> bool {
            true
        }

        fn land(&mut self, head: &[u8], len: usize) -> Option<Landing> {
            self.heads_seen.push(head.len());
            assert_eq!(
                head.len(),
                len.min(LANDING_HEAD),
                "the lander sees the head"
            );
            if head.first() != Some(&self.marker) {
                return None;
            }
            let placement = self.zone.claim(self.next, self.len)?;
            self.next += self.len;
            Some(Landing {
                placement,
                values_at: self.at,
            })
        }
    }

    #[tokio::test]
    async fn values_land_in_place_whatever_the_reads_deliver() {
        // Messages of 5 + 100,000 + 2 bytes: a head, the values, a tail.
        let message = |fill: u8| {
            let mut m = vec![7u8, 1, 2, 3, 4];
            m.extend((0..100_000).map(|i| (i as u8).wrapping_mul(fill)));
            m.extend([0, 0]);
            m
        };
        let mut wire = frame(true, opcode::BINARY, &message(3), 8);
        wire.extend(frame(true, opcode::PING, b"p", 0));
        wire.extend(frame(true, opcode::BINARY, &message(5), 8));
        wire.extend(frame(true, opcode::BINARY, b"not landed", 0));
        // Fragmented messages are never offered.
        wire.extend(frame(false, opcode::BINARY, &message(9)[..10], 0));
        wire.extend(frame(true, opcode::CONTINUATION, &message(9)[10..], 8));
        for piece in [1usize, 7, 4096, 70_000, wire.len()] {
            let parts: Vec<&[u8]> = wire.chunks(piece).collect();
            let mut r = reader(pieces(&parts), 1 << 20);
            let mut lander = TestLander::new(200_000, 7, 5, 100_000);
            for fill in [3u8, 5] {
                let got = r.next_landing(&mut lander).await.expect("landed");
                let Incoming::Landed(landed) = got else {
                    panic!("expected a landing, got {got:?}");
                };
                assert_eq!(&landed.head[..], &[7, 1, 2, 3, 4]);
                assert_eq!(&landed.tail[..], &[0, 0]);
                let mut placement = landed.landing.placement;
                assert_eq!(placement.bytes_mut(), &message(fill)[5..100_005]);
                if fill == 3 {
                    assert_eq!(
                        r.next_landing(&mut lander).await.expect("ping"),
                        Incoming::Ping(Bytes::from_static(b"p"))
                    );
                }
            }
            assert_eq!(
                r.next_landing(&mut lander).await.expect("plain"),
                Incoming::Binary(Bytes::from_static(b"not landed"))
            );
            assert_eq!(
                r.next_landing(&mut lander).await.expect("fragmented"),
                Incoming::Binary(Bytes::from(message(9)))
            );
            assert_eq!(lander.heads_seen.len(), 3, "fragments are not offered");
            assert!(matches!(
                r.next_landing(&mut lander).await,
                Err(FrameError::UnexpectedEof)
            ));
        }
    }

    #[tokio::test]
    async fn a_message_cut_short_in_its_values_is_an_error() {
        let mut m = vec![7u8, 1, 2, 3, 4];
        m.extend(sample(100_000));
        m.extend([0, 0]);
        let wire = frame(true, opcode::BINARY, &m, 8);
        let mut r = reader(pieces(&[&wire[..50_000]]), 1 << 20);
        let mut lander = TestLander::new(100_000, 7, 5, 100_000);
        assert!(matches!(
            r.next_landing(&mut lander).await,
            Err(FrameError::UnexpectedEof)
        ));
    }

    #[tokio::test]
    async fn large_payload_buffers_are_recycled() {
        let mut wire = Vec::new();
        for _ in 0..3 {
            wire.extend(frame(true, opcode::BINARY, &sample(LARGE_PAYLOAD), 8));
        }
        let pool = BufPool::new(4, 64 << 20);
        let mut r = FrameReader::new(pieces(&[&wire]), 1 << 20, pool.clone());
        let Incoming::Binary(first) = r.next().await.expect("frame") else {
            panic!("not binary")
        };
        let first_ptr = first.as_ptr();
        // Still held: the next frame gets another buffer.
        let Incoming::Binary(second) = r.next().await.expect("frame") else {
            panic!("not binary")
        };
        assert_ne!(second.as_ptr(), first_ptr);
        drop(second);
        drop(first);
        assert_eq!(pool.len(), 2);
        // LIFO: the buffer returned last comes back first.
        let Incoming::Binary(third) = r.next().await.expect("frame") else {
            panic!("not binary")
        };
        assert_eq!(third.as_ptr(), first_ptr);
        assert_eq!(&third[..], &sample(LARGE_PAYLOAD)[..]);
    }

    /// The `VmFlags` of the mapping holding `addr` (`/proc/self/smaps`).
    #[cfg(target_os = "linux")]
    fn vm_flags(addr: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let range = line
                .split_whitespace()
                .next()
                .and_then(|r| r.split_once('-'));
            if let Some((lo, hi)) = range
                && let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                inside = (lo..hi).contains(&addr);
            } else if inside && let Some(flags) = line.strip_prefix("VmFlags:") {
                return Some(flags.trim().to_string());
            }
        }
        None
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn large_new_buffers_are_advised_to_use_huge_pages() {
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
        if thp.is_err() {
            return; // A kernel without transparent huge pages: nothing to advise.
        }
        let pool = BufPool::new(4, 64 << 20);
        let buf = pool.take(8 << 20);
        let inner = (buf.as_ptr() as usize).next_multiple_of(2 << 20);
        let flags = vm_flags(inner).expect("the buffer is mapped");
        assert!(flags.split(' ').any(|f| f == "hg"), "VmFlags: {flags}");
        // Small buffers hold no whole huge page and are left alone.
        let small = pool.take(LARGE_PAYLOAD);
        assert!(small.capacity() >= LARGE_PAYLOAD);
    }

    #[test]
    fn pool_is_bounded() {
        let pool = BufPool::new(2, 1000);
        for _ in 0..3 {
            pool.give_back(Vec::with_capacity(100));
        }
        assert_eq!(pool.len(), 2);
        let pool = BufPool::new(10, 1000);
        for _ in 0..3 {
            pool.give_back(Vec::with_capacity(400));
        }
        assert_eq!(pool.len(), 2);
        pool.clear();
        assert_eq!(pool.len(), 0);
        // Buffers outliving their pool are simply freed.
        let pool = BufPool::new(2, 1000);
        let shared = pool.share(vec![1, 2, 3]);
        drop(pool);
        assert_eq!(&shared[..], &[1, 2, 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn pool_released_when_idle() {
        let (mut server, client) = tokio::io::duplex(1 << 20);
        let pool = BufPool::new(4, 64 << 20);
        let mut r = FrameReader::new(client, 1 << 20, pool.clone());
        let wire = frame(true, opcode::BINARY, &sample(LARGE_PAYLOAD), 8);
        tokio::io::AsyncWriteExt::write_all(&mut server, &wire)
            .await
            .expect("written");
        drop(r.next().await.expect("frame"));
        assert_eq!(pool.len(), 1);
        // Nothing more arrives (the writer stays open): past the idle time the pool empties.
        let waited = tokio::time::timeout(IDLE_RELEASE * 3, r.next()).await;
        assert!(waited.is_err());
        assert_eq!(pool.len(), 0);
    }
}
