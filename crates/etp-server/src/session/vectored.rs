//! Vectored sending of large messages: one WebSocket frame written with a single
//! `writev` of the frame header, the message's small fields and its large `bytes` values
//! straight from the buffers they live in (`DataObject.data`, `bytes` arrays).
//!
//! The WebSocket library writes a frame from one contiguous payload, so a message of 2 MB
//! of XML would first be copied into an encoding buffer. Here the message is encoded with
//! [`encode_message_segments`], which copies only the small fields, and the frame is written
//! directly to the connection. Splitting the message into several frames (one per segment)
//! would also avoid the copy, but costs one system call per frame: more than the copy for
//! objects of a few tens of kilobytes.
//!
//! Only for large, uncompressed messages ([`VECTORED_MIN_SIZE`]); everything else goes
//! through the library's frame writer as before. Both write to the same connection through
//! [`SharedWrite`], from the session's one writer task, one message at a time.
//!
//! On a plain TCP connection ([`SendFile::can_send_file`]) the large values that are
//! ranges of a segment file the store mapped ([`etp_store::file_range_of`]: chunks of
//! `GetDataSubarrays` answers) go to the socket with `sendfile(2)` from the file, between
//! `writev`s of the rest of the frame: the kernel then sends from the page cache
//! without copying the bytes into socket buffers first.

use std::fs::File;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Messages at least this large, when not compressed, are sent vectored. Below it the copy
/// costs less than setting up the segments.
pub(crate) const VECTORED_MIN_SIZE: usize = 64 * 1024;

/// Most buffers handed to one `writev` (Linux's `IOV_MAX` is 1024).
const MAX_IO_SLICES: usize = 1024;

/// File ranges at least this long are sent with `sendfile`; shorter ones go in the
/// `writev` with their neighbours (a system call of its own costs more than their copy).
const SEND_FILE_MIN: usize = 64 * 1024;

/// A connection's write half that may also send file ranges without copying them.
pub(crate) trait SendFile: AsyncWrite + Unpin {
    /// Whether [`Self::poll_send_file`] works on this connection.
    fn can_send_file(&self) -> bool {
        false
    }

    /// Sends up to `len` bytes of `file` from `offset` (at least one unless it fails);
    /// only called when [`Self::can_send_file`].
    fn poll_send_file(
        &mut self,
        _cx: &mut Context<'_>,
        _file: &File,
        _offset: u64,
        _len: usize,
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Err(std::io::ErrorKind::Unsupported.into()))
    }
}

/// TLS, tests and whatever else hyper hands over: copies only.
impl<S: tokio::io::AsyncRead + AsyncWrite> SendFile for tokio::io::WriteHalf<S> {}

impl SendFile for tokio::net::tcp::OwnedWriteHalf {
    fn can_send_file(&self) -> bool {
        cfg!(target_os = "linux")
    }

    #[cfg(target_os = "linux")]
    fn poll_send_file(
        &mut self,
        cx: &mut Context<'_>,
        file: &File,
        offset: u64,
        len: usize,
    ) -> Poll<std::io::Result<usize>> {
        use std::os::fd::AsRawFd;
        let socket: &tokio::net::TcpStream = self.as_ref();
        loop {
            std::task::ready!(socket.poll_write_ready(cx))?;
            // `try_io` clears the readiness when the socket's buffer is full (EAGAIN), so
            // the next `poll_write_ready` waits for room.
            match socket.try_io(tokio::io::Interest::WRITABLE, || {
                send_file_once(socket.as_raw_fd(), file, offset, len)
            }) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    }
}

/// One `sendfile(2)` of up to `len` bytes of `file` at `offset` to the non-blocking
/// socket `socket`.
#[cfg(target_os = "linux")]
fn send_file_once(
    socket: std::os::fd::RawFd,
    file: &File,
    offset: u64,
    len: usize,
) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    // Linux sends at most this much per call anyway.
    let len = len.min(0x7fff_f000);
    let mut off = libc::off_t::try_from(offset)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    loop {
        // SAFETY: both descriptors are open for the call (the socket is borrowed from its
        // stream, the file from its handle); `off` is a valid off_t the kernel updates.
        let n = unsafe { libc::sendfile(socket, file.as_raw_fd(), &mut off, len) };
        if let Ok(n) = usize::try_from(n) {
            if n == 0 && len > 0 {
                // The file ends before the range: the frame could not be completed.
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            return Ok(n);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The connection's write half, usable both by the WebSocket library's frame writer and by
/// [`write_binary_frame`]. Only the session's writer task writes, and it finishes one
/// frame before starting the next, so the lock is never contended and frames never
/// interleave.
pub(crate) struct SharedWrite<W>(Arc<Mutex<W>>);

impl<W> SharedWrite<W> {
    pub(crate) fn new(write: W) -> Self {
        SharedWrite(Arc::new(Mutex::new(write)))
    }

    pub(crate) fn with<T>(&self, f: impl FnOnce(Pin<&mut W>) -> T) -> T
    where
        W: Unpin,
    {
        // A panic while holding the lock cannot leave the write half half-updated in a way
        // that matters more than the broken frame the peer will see anyway.
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(Pin::new(&mut *guard))
    }
}

impl<W: SendFile> SharedWrite<W> {
    /// Whether the connection can send file ranges.
    fn can_send_file(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .can_send_file()
    }

    /// Sends `[offset, offset + len)` of `file`, all of it.
    async fn send_file(&self, file: &File, mut offset: u64, mut len: usize) -> std::io::Result<()> {
        while len > 0 {
            let sent = std::future::poll_fn(|cx| {
                self.with(|w| w.get_mut().poll_send_file(cx, file, offset, len))
            })
            .await?;
            if sent == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            offset += sent as u64;
            len -= sent.min(len);
        }
        Ok(())
    }
}

impl<W> Clone for SharedWrite<W> {
    fn clone(&self) -> Self {
        SharedWrite(self.0.clone())
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for SharedWrite<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.with(|w| w.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.with(|w| w.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.with(|w| w.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.with(|w| w.poll_shutdown(cx))
    }
}

/// The header of an unmasked, final binary frame (a server's) of `len` payload bytes
/// (RFC 6455 §5.2).
pub(crate) fn frame_header(len: usize) -> ([u8; 10], usize) {
    const FIN_BINARY: u8 = 0x80 | 0x2;
    let mut head = [0u8; 10];
    head[0] = FIN_BINARY;
    if len < 126 {
        head[1] = len as u8;
        (head, 2)
    } else if let Ok(short) = u16::try_from(len) {
        head[1] = 126;
        head[2..4].copy_from_slice(&short.to_be_bytes());
        (head, 4)
    } else {
        head[1] = 127;
        head[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        (head, 10)
    }
}

/// Writes one complete binary message made of `segments` as a single unmasked frame (the
/// server role), handing all buffers to the connection in as few `writev` calls as it
/// accepts; where the connection can, segments that are ranges of a store's segment file
/// go with `sendfile` instead (see the module documentation).
///
/// The caller keeps `segments` alive until this returns: they own what keeps the file
/// ranges unchanged. Returns how many bytes went with `sendfile`.
pub(crate) async fn write_binary_frame<W: SendFile>(
    write: &mut SharedWrite<W>,
    segments: &[Bytes],
) -> std::io::Result<usize> {
    let len: usize = segments.iter().map(Bytes::len).sum();
    let (head, head_len) = frame_header(len);
    let send_file = write.can_send_file();
    let mut from_files = 0;
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(segments.len() + 1);
    slices.push(IoSlice::new(&head[..head_len]));
    for segment in segments {
        let range = if send_file && segment.len() >= SEND_FILE_MIN {
            etp_store::file_range_of(segment)
        } else {
            None
        };
        match range {
            Some((file, offset)) => {
                write_slices(write, &mut slices).await?;
                slices.clear();
                write.send_file(&file, offset, segment.len()).await?;
                from_files += segment.len();
            }
            None => slices.push(IoSlice::new(segment)),
        }
    }
    write_slices(write, &mut slices).await?;
    Ok(from_files)
}

/// Writes all of `slices`, in as few `writev` calls as the connection accepts.
async fn write_slices<W: AsyncWrite + Unpin>(
    write: &mut W,
    slices: &mut [IoSlice<'_>],
) -> std::io::Result<()> {
    let mut remaining = slices;
    while !remaining.is_empty() {
        let batch = remaining.len().min(MAX_IO_SLICES);
        let written = write.write_vectored(&remaining[..batch]).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut remaining, written);
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn frame_headers_use_the_shortest_length_form() {
        assert_eq!(frame_header(0), ([0x82, 0, 0, 0, 0, 0, 0, 0, 0, 0], 2));
        assert_eq!(frame_header(125).0[..2], [0x82, 125]);
        assert_eq!(frame_header(126).0[..4], [0x82, 126, 0, 126]);
        assert_eq!(frame_header(65_535).0[..4], [0x82, 126, 0xff, 0xff]);
        let (head, n) = frame_header(65_536);
        assert_eq!(n, 10);
        assert_eq!(head, [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    /// A writer that accepts at most a few bytes per call, to exercise partial writes
    /// (the session writer's tests use it too).
    pub(in crate::session) struct Trickle(pub(in crate::session) Vec<u8>);

    impl SendFile for Trickle {}

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let n = buf.len().min(7);
            self.0.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn partial_writes_still_send_every_byte_in_order() {
        let segments: Vec<Bytes> = (0..3000u32)
            .map(|i| Bytes::from(vec![(i % 251) as u8; (i % 5) as usize]))
            .collect();
        let payload: Vec<u8> = segments.concat();
        let mut out = SharedWrite::new(Trickle(Vec::new()));
        write_binary_frame(&mut out, &segments).await.unwrap();
        let written = std::mem::take(&mut out.0.lock().unwrap().0);
        let (head, n) = frame_header(payload.len());
        assert_eq!(&written[..n], &head[..n]);
        assert_eq!(&written[n..], &payload[..]);
    }
}
