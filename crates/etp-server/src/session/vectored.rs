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
pub(crate) const MAX_IO_SLICES: usize = 1024;

/// The connection's write half, usable both by the WebSocket library's frame writer and by
/// [`write_binary_frame`]. Only the session's writer task writes, and it finishes one
/// frame before starting the next, so the lock is never contended and frames never
/// interleave.
pub(crate) struct SharedWrite<W>(Arc<Mutex<W>>);

impl<W> SharedWrite<W> {
    pub(crate) fn new(write: W) -> Self {
        SharedWrite(Arc::new(Mutex::new(write)))
    }

    fn with<T>(&self, f: impl FnOnce(Pin<&mut W>) -> T) -> T
    where
        W: Unpin,
    {
        // A panic while holding the lock cannot leave the write half half-updated in a way
        // that matters more than the broken frame the peer will see anyway.
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(Pin::new(&mut *guard))
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
/// accepts.
pub(crate) async fn write_binary_frame<W: AsyncWrite + Unpin>(
    write: &mut W,
    segments: &[Bytes],
) -> std::io::Result<()> {
    let len: usize = segments.iter().map(Bytes::len).sum();
    let (head, head_len) = frame_header(len);
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(segments.len() + 1);
    slices.push(IoSlice::new(&head[..head_len]));
    slices.extend(segments.iter().map(|s| IoSlice::new(s)));
    let mut remaining = &mut slices[..];
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
