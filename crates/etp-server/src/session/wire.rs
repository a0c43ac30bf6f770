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
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::MessageHeader;
use fastwebsockets::{Frame, OpCode, Payload, WebSocketRead, WebSocketWrite};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tracing::debug;

use super::outgoing::{EncodedBody, Outgoing};
use super::vectored::{
    MAX_IO_SLICES, SharedWrite, VECTORED_MIN_SIZE, frame_header, write_binary_frame,
};
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

/// Most frames gathered into one write.
const COALESCE_FRAMES: usize = 64;

/// Small messages already queued when the writer gets to them, framed one after another
/// and handed to the kernel in one `writev`. Sixteen requests in flight, each answered
/// with one small message, otherwise cost sixteen `sendmsg` calls and as many trips
/// through TCP's send path; the writer only takes what is queued already (`try_recv`), so
/// a lone message goes out as soon as before.
///
/// Frame headers and small fields are copied into one buffer that is kept from write to
/// write; `bytes` values of [`SegmentedBuf::DEFAULT_THRESHOLD`] and more (the XML of a
/// `DataObject`) are written from their own buffers, each its own `IoSlice`. Copying them
/// too made the buffer grow to a few hundred kilobytes per write, and the allocator handed
/// those pages back to the kernel after each write: the next one faulted them in again,
/// which cost more than everything else the writer does (GetDataObjects of 20 KiB objects).
struct Coalesced {
    /// The frames, in order, each its header then its message.
    out: SegmentedBuf,
    /// A message encoded whole (gzip) before it joins `out`.
    scratch: Vec<u8>,
    /// Frames in `out`.
    frames: usize,
    /// What the frames hold of the session's send budget, released once written.
    budgets: Vec<tokio::sync::OwnedSemaphorePermit>,
}

impl Coalesced {
    fn new() -> Self {
        Coalesced {
            out: SegmentedBuf::new(),
            scratch: Vec::new(),
            frames: 0,
            budgets: Vec::new(),
        }
    }

    /// Whether another frame may join this write.
    fn has_room(&self) -> bool {
        self.out.len() < COALESCE_BYTES && self.frames < COALESCE_FRAMES
    }

    /// Appends one frame holding `message` (ETP header and body, `len` bytes in all).
    fn push_frame(&mut self, len: usize, message: impl FnOnce(&mut SegmentedBuf)) {
        let (head, head_len) = frame_header(len);
        self.out.small_mut().extend_from_slice(&head[..head_len]);
        let before = self.out.len();
        message(&mut self.out);
        debug_assert_eq!(self.out.len() - before, len, "frame length announced wrong");
        self.frames += 1;
    }

    /// Appends one message: `encode` appends its bytes (ETP header and body, compressed or
    /// not) to the buffer it is given. Returns the message's length.
    fn push_encoded(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> usize {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        encode(&mut scratch);
        let len = scratch.len();
        self.push_frame(len, |out| out.small_mut().extend_from_slice(&scratch));
        if scratch.capacity() <= KEEP_BUFFER {
            self.scratch = scratch;
        }
        len
    }

    /// Appends one uncompressed message, sharing its large `bytes` values. Returns the
    /// message's length.
    fn push_message(&mut self, header: &MessageHeader, body: &Body) -> usize {
        // The flags `encode_message_segments` writes: nothing compressed, no extension.
        let mut written = *header;
        written.message_flags &= !(flags::COMPRESSED | flags::HEADER_EXTENSION);
        let len = written.encoded_len() + body.encoded_len();
        self.push_frame(len, |out| {
            encode_message_segments(&written, None, body, out);
        });
        len
    }

    /// Appends one uncompressed message whose body is already encoded, sharing its large
    /// segments. Returns the message's length.
    fn push_segments(&mut self, header: &MessageHeader, body: &EncodedBody) -> usize {
        // The flags `encode_message_from_segments` writes: nothing compressed, no extension.
        let mut written = *header;
        written.message_flags &= !(flags::COMPRESSED | flags::HEADER_EXTENSION);
        let len = written.encoded_len() + body.len();
        self.push_frame(len, |out| {
            written.encode(out.small_mut());
            for segment in body.segments() {
                out.push_bytes(segment);
            }
        });
        len
    }

    /// Writes every gathered frame, in order, and releases their budget.
    async fn flush<W: AsyncWrite + Unpin>(&mut self, write: &mut W) -> std::io::Result<()> {
        if self.frames == 0 {
            return Ok(());
        }
        let mut slices: Vec<IoSlice<'_>> = self.out.segments().map(IoSlice::new).collect();
        let mut remaining = &mut slices[..];
        let mut result = Ok(());
        while !remaining.is_empty() {
            let batch = remaining.len().min(MAX_IO_SLICES);
            match write.write_vectored(&remaining[..batch]).await {
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
        self.out.clear();
        self.frames = 0;
        self.budgets.clear();
        // The session's other buffers follow the same rule: a burst of answers must not
        // leave every session that saw one holding half a megabyte while idle.
        if self.out.small_mut().capacity() > KEEP_BUFFER {
            self.out = SegmentedBuf::new();
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
            let len = if may_compress(compression(compress), header.protocol, header.message_type) {
                small.push_encoded(|out| {
                    encode_message(&header, None, &body, compression(compress), out);
                })
            } else {
                small.push_message(&header, &body)
            };
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
            let len = if may_compress(compression(compress), header.protocol, header.message_type) {
                small.push_encoded(|out| {
                    encode_message_from_segments(
                        &header,
                        body.segments(),
                        compression(compress),
                        out,
                    );
                })
            } else {
                small.push_segments(&header, &body)
            };
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

    fn data_object_response(xml_len: usize) -> Body {
        use etp_protocol::types::datatypes::object::DataObject;
        use etp_protocol::types::protocol::store::GetDataObjectsResponse;
        let mut data_objects = etp_protocol::codec::Map::new();
        data_objects.insert(
            "k".into(),
            DataObject {
                format: "xml".into(),
                data: Bytes::from(vec![b'x'; xml_len]),
                ..Default::default()
            },
        );
        GetDataObjectsResponse { data_objects }.into()
    }

    fn header(message_type: i32, message_id: i64) -> MessageHeader {
        MessageHeader {
            protocol: 4,
            message_type,
            correlation_id: 3,
            message_id,
            message_flags: flags::FIN,
        }
    }

    /// Every kind of gathered message, compressed or not, large `bytes` values shared or
    /// not, comes out as the frame the plain encoding would make.
    #[tokio::test]
    async fn gathered_frames_are_written_whole_in_order() {
        let mut small = Coalesced::new();
        let mut expected = Vec::new();
        let mut frame = |message: Vec<u8>| {
            let (head, n) = frame_header(message.len());
            expected.extend_from_slice(&head[..n]);
            expected.extend_from_slice(&message);
        };
        for (i, xml_len) in [0usize, 10, 100, 5000, 20 * 1024, 70_000]
            .into_iter()
            .enumerate()
        {
            let header = header(4, 2 * i as i64 + 1);
            let body = data_object_response(xml_len);
            let mut plain = Vec::new();
            encode_message(&header, None, &body, Compression::None, &mut plain);
            assert_eq!(small.push_message(&header, &body), plain.len());
            frame(plain);

            let gzip = Compression::Gzip(6);
            let mut gz = Vec::new();
            encode_message(&header, None, &body, gzip, &mut gz);
            let len = small.push_encoded(|out| encode_message(&header, None, &body, gzip, out));
            assert_eq!(len, gz.len());
            frame(gz);

            let mut encoded = etp_protocol::codec::SegmentedBuf::new();
            body.encode_segments(&mut encoded);
            let segments = EncodedBody::new(encoded.into_segments());
            let mut plain = Vec::new();
            encode_message_from_segments(
                &header,
                segments.segments(),
                Compression::None,
                &mut plain,
            );
            assert_eq!(small.push_segments(&header, &segments), plain.len());
            frame(plain);
        }
        assert_eq!(small.frames, 18);
        // The XML went by reference: only headers and small fields were copied.
        assert!(small.out.small_len() < 8 * 1024);
        let mut out = Trickle(Vec::new());
        small.flush(&mut out).await.unwrap();
        assert_eq!(out.0, expected);
        assert!(small.frames == 0 && small.out.is_empty());
        // Nothing gathered: nothing written.
        small.flush(&mut out).await.unwrap();
        assert_eq!(out.0.len(), expected.len());
    }
}
