//! WebSocket framing for a session: reassembling fragmented messages under a size cap, and
//! the writer task that serializes everything the session sends.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use etp_protocol::codec::Avro;
use etp_protocol::codec::SegmentedBuf;
use etp_protocol::message::{
    Compression, encode_message, encode_message_from_segments, encode_message_segments, flags,
    may_compress,
};
use fastwebsockets::{Frame, OpCode, Payload, WebSocketRead, WebSocketWrite};
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tracing::debug;

use super::outgoing::Outgoing;
use super::vectored::{SharedWrite, VECTORED_MIN_SIZE, write_binary_frame};
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

/// Owns the write half: assigns message ids (odd, from 1, in send order), encodes, writes.
/// `direct` is the connection under `write`, for large messages sent vectored
/// (see [`super::vectored`]).
pub(crate) async fn run_writer<W: AsyncWrite + Unpin>(
    mut write: WebSocketWrite<SharedWrite<WriteHalf<W>>>,
    mut direct: SharedWrite<WriteHalf<W>>,
    mut rx: mpsc::Receiver<Outgoing>,
    compression_level: u32,
    server: Arc<ServerState>,
    info: Arc<SessionInfo>,
) {
    let mut next_id: i64 = 1;
    let mut buf = Vec::new();
    while let Some(item) = rx.recv().await {
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
