//! WebSocket framing for a session: reassembling fragmented messages under a size cap, and
//! the writer task that serializes everything the session sends.

use std::io::IoSlice;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use etp_protocol::codec::Avro;
use etp_protocol::codec::SegmentedBuf;
use etp_protocol::message::{
    Compression, encode_message, encode_message_from_segments, encode_message_segments, flags,
    may_compress,
};
use fastwebsockets::{Frame, OpCode, Payload, WebSocketRead, WebSocketWrite};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tracing::debug;

use super::outgoing::Outgoing;
use super::vectored::{SharedWrite, VECTORED_MIN_SIZE, frame_header, write_binary_frame};
use crate::state::{ServerState, SessionInfo};

/// What the reader produced.
pub(crate) enum WireEvent {
    /// One complete binary message.
    Message(Bytes),
    /// A text message (JSON encoding), which ETP 1.2 binary sessions do not use.
    Text,
    /// A message over the hard size limit; the connection must be closed (1009).
    TooLarge(usize),
    /// The peer closed or the connection failed.
    Closed(String),
}

/// Reads complete messages, enforcing the size limit across fragments (the WebSocket
/// library only checks single frames).
pub(crate) struct WireReader<R> {
    read: WebSocketRead<ReadHalf<R>>,
    limit: usize,
    control: mpsc::Sender<Outgoing>,
    fragments: Option<(OpCode, BytesMut)>,
}

impl<R: AsyncRead + Unpin> WireReader<R> {
    pub(crate) fn new(
        mut read: WebSocketRead<ReadHalf<R>>,
        limit: usize,
        control: mpsc::Sender<Outgoing>,
    ) -> Self {
        // A single frame may carry a whole message plus its frame header.
        read.set_max_message_size(limit.saturating_add(16));
        WireReader {
            read,
            limit,
            control,
            fragments: None,
        }
    }

    pub(crate) async fn next(&mut self) -> WireEvent {
        loop {
            let control = self.control.clone();
            let mut send_fn = move |frame: Frame<'_>| {
                let owned = Outgoing::Control {
                    opcode: frame.opcode,
                    payload: frame.payload.to_vec(),
                };
                let control = control.clone();
                async move {
                    control
                        .send(owned)
                        .await
                        .map_err(|_| std::io::Error::other("session writer gone"))
                }
            };
            let frame = match self.read.read_frame(&mut send_fn).await {
                Ok(frame) => frame,
                Err(fastwebsockets::WebSocketError::FrameTooLarge) => {
                    return WireEvent::TooLarge(self.limit);
                }
                Err(e) => return WireEvent::Closed(format!("connection error: {e}")),
            };
            let (opcode, fin) = (frame.opcode, frame.fin);
            let payload = into_bytes_mut(frame.payload);
            match opcode {
                OpCode::Close => return WireEvent::Closed("peer closed the WebSocket".into()),
                OpCode::Ping | OpCode::Pong => continue,
                OpCode::Binary | OpCode::Text => {
                    if self.fragments.is_some() {
                        return WireEvent::Closed("new message inside a fragmented one".into());
                    }
                    if fin {
                        return complete(self.limit, opcode, payload);
                    }
                    self.fragments = Some((opcode, payload));
                }
                OpCode::Continuation => {
                    let Some((first_opcode, mut buf)) = self.fragments.take() else {
                        return WireEvent::Closed("continuation frame without a message".into());
                    };
                    if buf.len() + payload.len() > self.limit {
                        return WireEvent::TooLarge(self.limit);
                    }
                    buf.extend_from_slice(&payload);
                    if fin {
                        return complete(self.limit, first_opcode, buf);
                    }
                    self.fragments = Some((first_opcode, buf));
                }
            }
        }
    }
}

fn complete(limit: usize, opcode: OpCode, payload: BytesMut) -> WireEvent {
    if payload.len() > limit {
        return WireEvent::TooLarge(limit);
    }
    match opcode {
        OpCode::Text => WireEvent::Text,
        _ => WireEvent::Message(payload.freeze()),
    }
}

fn into_bytes_mut(payload: Payload<'_>) -> BytesMut {
    match payload {
        Payload::Bytes(b) => b,
        other => BytesMut::from(&other[..]),
    }
}

/// Buffers larger than this are released after use so idle sessions stay small.
const KEEP_BUFFER: usize = 256 * 1024;

/// Most bytes of small messages gathered into one write: enough for a dozen 20 KiB
/// objects, little next to the socket's send buffer.
const COALESCE_BYTES: usize = 256 * 1024;

/// Most frames gathered into one write (one `IoSlice` each, far below `IOV_MAX`).
const COALESCE_FRAMES: usize = 64;

/// Longest WebSocket frame header of a server frame (no mask).
const FRAME_HEAD: usize = 10;

/// Small messages already queued when the writer gets to them, framed one after another
/// in one buffer and handed to the kernel in one `writev`. Sixteen requests in flight,
/// each answered with one small message, otherwise cost sixteen `sendmsg` calls and as
/// many trips through TCP's send path; the writer only takes what is queued already
/// (`try_recv`), so a lone message goes out as soon as before.
struct Coalesced {
    /// Frames, each behind [`FRAME_HEAD`] bytes of which its header takes the last ones.
    buf: Vec<u8>,
    /// Each frame's bytes in `buf`, header included.
    frames: Vec<std::ops::Range<usize>>,
    /// What the frames hold of the session's send budget, released once written.
    budgets: Vec<tokio::sync::OwnedSemaphorePermit>,
}

impl Coalesced {
    fn new() -> Self {
        Coalesced {
            buf: Vec::new(),
            frames: Vec::new(),
            budgets: Vec::new(),
        }
    }

    /// Whether another frame may join this write.
    fn has_room(&self) -> bool {
        self.buf.len() < COALESCE_BYTES && self.frames.len() < COALESCE_FRAMES
    }

    /// Appends one message: `encode` appends its bytes (ETP header and body) to the
    /// buffer it is given. Returns the message's length.
    fn push(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> usize {
        let room = self.buf.len();
        self.buf.resize(room + FRAME_HEAD, 0);
        encode(&mut self.buf);
        let len = self.buf.len() - room - FRAME_HEAD;
        let (head, head_len) = frame_header(len);
        let start = room + FRAME_HEAD - head_len;
        self.buf[start..room + FRAME_HEAD].copy_from_slice(&head[..head_len]);
        self.frames.push(start..self.buf.len());
        len
    }

    /// Writes every gathered frame, in order, and releases their budget.
    async fn flush<W: AsyncWrite + Unpin>(&mut self, write: &mut W) -> std::io::Result<()> {
        if self.frames.is_empty() {
            return Ok(());
        }
        let mut slices: Vec<IoSlice<'_>> = self
            .frames
            .iter()
            .map(|range| IoSlice::new(&self.buf[range.clone()]))
            .collect();
        let mut remaining = &mut slices[..];
        let mut result = Ok(());
        while !remaining.is_empty() {
            match write.write_vectored(remaining).await {
                Ok(0) => {
                    result = Err(std::io::ErrorKind::WriteZero.into());
                    break;
                }
                Ok(written) => IoSlice::advance_slices(&mut remaining, written),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        drop(slices);
        self.frames.clear();
        self.budgets.clear();
        self.buf.clear();
        // The session's other buffers follow the same rule: a burst of answers must not
        // leave every session that saw one holding half a megabyte while idle.
        if self.buf.capacity() > KEEP_BUFFER {
            self.buf = Vec::new();
        }
        result
    }
}

/// How many of the session's requests are being handled, as the writer sees it: the
/// session's in-flight permits that are taken.
pub(crate) struct Busy {
    in_flight: Arc<tokio::sync::Semaphore>,
    max: usize,
}

impl Busy {
    /// The view of `in_flight`, a semaphore of `max` permits, one held per request.
    pub(crate) fn new(in_flight: Arc<tokio::sync::Semaphore>, max: usize) -> Self {
        Busy { in_flight, max }
    }

    /// Whether another answer may be on its way besides the one in hand: at least two
    /// requests hold a permit (the one answered may not have returned its own yet).
    fn others(&self) -> bool {
        self.max.saturating_sub(self.in_flight.available_permits()) >= 2
    }
}

/// Takes `item` into `small` if it is a message gathered into one write (not sent
/// vectored), assigning its message id; otherwise gives it back.
fn gather(
    small: &mut Coalesced,
    item: Outgoing,
    next_id: &mut i64,
    compression_level: u32,
    server: &ServerState,
    info: &SessionInfo,
) -> Option<Outgoing> {
    let compression = |compress: bool| {
        if compress {
            Compression::Gzip(compression_level)
        } else {
            Compression::None
        }
    };
    let (header, len) = match item {
        Outgoing::Message {
            mut header,
            body,
            compress,
            budget,
        } if may_compress(compression(compress), header.protocol, header.message_type)
            || body.encoded_len() < VECTORED_MIN_SIZE =>
        {
            header.message_id = *next_id;
            let len = small.push(|out| {
                encode_message(&header, None, &body, compression(compress), out);
            });
            small.budgets.extend(budget);
            (header, len)
        }
        Outgoing::Encoded {
            mut header,
            body,
            compress,
            budget,
        } if may_compress(compression(compress), header.protocol, header.message_type)
            || body.len() < VECTORED_MIN_SIZE =>
        {
            header.message_id = *next_id;
            let len = small.push(|out| {
                encode_message_from_segments(&header, body.segments(), compression(compress), out);
            });
            small.budgets.extend(budget);
            (header, len)
        }
        other => return Some(other),
    };
    *next_id += 2;
    server
        .metrics
        .count_out(header.protocol, header.message_type, len);
    info.count_out(len);
    None
}

/// Owns the write half: assigns message ids (odd, from 1, in send order), encodes, writes.
/// `direct` is the connection under `write`, for large messages sent vectored
/// (see [`super::vectored`]) and for small ones gathered into one write ([`Coalesced`]).
pub(crate) async fn run_writer<W: AsyncWrite + Unpin>(
    mut write: WebSocketWrite<SharedWrite<WriteHalf<W>>>,
    mut direct: SharedWrite<WriteHalf<W>>,
    mut rx: mpsc::Receiver<Outgoing>,
    busy: Busy,
    compression_level: u32,
    server: Arc<ServerState>,
    info: Arc<SessionInfo>,
) {
    let mut next_id: i64 = 1;
    let mut buf = Vec::new();
    let mut small = Coalesced::new();
    // A message taken from the queue while gathering that does not join the write.
    let mut queued: Option<Outgoing> = None;
    loop {
        let item = match queued.take() {
            Some(item) => item,
            None => match rx.recv().await {
                Some(item) => item,
                None => break,
            },
        };
        let gathered = |small: &mut Coalesced, item, next_id: &mut i64| {
            gather(small, item, next_id, compression_level, &server, &info)
        };
        let Some(item) = gathered(&mut small, item, &mut next_id) else {
            let mut yielded = false;
            loop {
                while small.has_room() {
                    let Ok(next) = rx.try_recv() else { break };
                    if let Some(other) = gathered(&mut small, next, &mut next_id) {
                        queued = Some(other);
                        break;
                    }
                }
                // A handler that answers on this worker wakes the writer into the worker's
                // next slot, so each answer went out alone (one `writev`, one wake-up of
                // the peer: most of a small answer's cost). With other requests of the
                // session in hand, the writer first lets this worker run what it has
                // queued (`yield_now` resumes once the worker is out of tasks), once.
                if yielded || queued.is_some() || !small.has_room() || !busy.others() {
                    break;
                }
                yielded = true;
                tokio::task::yield_now().await;
            }
            if let Err(e) = small.flush(&mut direct).await {
                debug!(error = %e, "write failed");
                break;
            }
            continue;
        };
        let result = match item {
            Outgoing::Message {
                mut header,
                body,
                compress,
                budget,
            } => {
                header.message_id = next_id;
                next_id += 2;
                buf.clear();
                let compression = if compress {
                    Compression::Gzip(compression_level)
                } else {
                    Compression::None
                };
                let vectored = !may_compress(compression, header.protocol, header.message_type)
                    && body.encoded_len() >= VECTORED_MIN_SIZE;
                let result = if vectored {
                    let mut segmented = SegmentedBuf::new();
                    encode_message_segments(&header, None, &body, &mut segmented);
                    server
                        .metrics
                        .count_out(header.protocol, header.message_type, segmented.len());
                    info.count_out(segmented.len());
                    write_binary_frame(&mut direct, &segmented.into_segments())
                        .await
                        .map_err(fastwebsockets::WebSocketError::IoError)
                } else {
                    encode_message(&header, None, &body, compression, &mut buf);
                    server
                        .metrics
                        .count_out(header.protocol, header.message_type, buf.len());
                    info.count_out(buf.len());
                    write
                        .write_frame(Frame::binary(Payload::Borrowed(&buf)))
                        .await
                };
                if buf.capacity() > KEEP_BUFFER {
                    buf = Vec::new();
                }
                // Written (or failed): its bytes no longer count against the send budget.
                drop(budget);
                result
            }
            Outgoing::Encoded {
                mut header,
                body,
                compress,
                budget,
            } => {
                header.message_id = next_id;
                next_id += 2;
                let compression = if compress {
                    Compression::Gzip(compression_level)
                } else {
                    Compression::None
                };
                let len;
                let result = if !may_compress(compression, header.protocol, header.message_type)
                    && body.len() >= VECTORED_MIN_SIZE
                {
                    // The flags `encode_message_from_segments` would set: nothing compressed,
                    // no extension.
                    header.message_flags &= !(flags::COMPRESSED | flags::HEADER_EXTENSION);
                    let mut head = Vec::with_capacity(header.encoded_len());
                    header.encode(&mut head);
                    let mut segments = Vec::with_capacity(body.segments().len() + 1);
                    segments.push(Bytes::from(head));
                    segments.extend_from_slice(body.segments());
                    len = segments.iter().map(Bytes::len).sum();
                    write_binary_frame(&mut direct, &segments)
                        .await
                        .map_err(fastwebsockets::WebSocketError::IoError)
                } else {
                    buf.clear();
                    encode_message_from_segments(&header, body.segments(), compression, &mut buf);
                    len = buf.len();
                    write
                        .write_frame(Frame::binary(Payload::Borrowed(&buf)))
                        .await
                };
                server
                    .metrics
                    .count_out(header.protocol, header.message_type, len);
                info.count_out(len);
                if buf.capacity() > KEEP_BUFFER {
                    buf = Vec::new();
                }
                // Written (or failed): the chunks it shared may be freed, and its bytes no
                // longer count against the send budget.
                drop(body);
                drop(budget);
                result
            }
            Outgoing::Control { opcode, payload } => {
                write
                    .write_frame(Frame::new(true, opcode, None, Payload::Owned(payload)))
                    .await
            }
            Outgoing::Close { code, reason } => {
                let _ = write
                    .write_frame(Frame::close(code, reason.as_bytes()))
                    .await;
                break;
            }
        };
        if let Err(e) = result {
            debug!(error = %e, "write failed");
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::vectored::tests::Trickle;
    use super::*;

    #[tokio::test]
    async fn gathered_frames_are_written_whole_in_order() {
        let payloads: Vec<Vec<u8>> = [0usize, 1, 125, 126, 300, 65_535, 65_536, 7]
            .iter()
            .enumerate()
            .map(|(i, &n)| vec![i as u8 + 1; n])
            .collect();
        let mut small = Coalesced::new();
        let mut expected = Vec::new();
        for payload in &payloads {
            assert_eq!(
                small.push(|out| out.extend_from_slice(payload)),
                payload.len()
            );
            let (head, n) = frame_header(payload.len());
            expected.extend_from_slice(&head[..n]);
            expected.extend_from_slice(payload);
        }
        let mut out = Trickle(Vec::new());
        small.flush(&mut out).await.unwrap();
        assert_eq!(out.0, expected);
        assert!(small.frames.is_empty() && small.buf.is_empty());
        // Nothing gathered: nothing written.
        small.flush(&mut out).await.unwrap();
        assert_eq!(out.0.len(), expected.len());
    }
}
