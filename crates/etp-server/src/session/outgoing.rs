//! What a session sends, and the handle protocol handlers answer requests with.

use etp_protocol::EtpString;
use etp_protocol::codec::{Avro, Map};
use etp_protocol::error_code::ErrorCode;
use etp_protocol::message::flags;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::{ErrorInfo, MessageHeader};
use etp_protocol::types::protocol::core::ProtocolException;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// Upper bound of an encoded MessageHeader (five varints), used when fitting bodies into
/// the negotiated message size.
pub const MAX_HEADER_SIZE: usize = 35;

/// An item in a session's write queue.
#[derive(Debug)]
pub enum Outgoing {
    /// An ETP message; the writer assigns its message id.
    Message {
        /// Header without message id.
        header: MessageHeader,
        /// The body (boxed: message bodies are large next to control frames).
        body: Box<Body>,
        /// Whether gzip may be applied (it is only when negotiated and it pays).
        compress: bool,
        /// The share of the session's send budget this message holds until it is written.
        budget: Option<OwnedSemaphorePermit>,
    },
    /// An ETP message whose body its sender encoded (see [`EncodedBody`]); the writer
    /// assigns its message id and writes the segments without copying them when it can.
    Encoded {
        /// Header without message id.
        header: MessageHeader,
        /// The encoded body.
        body: EncodedBody,
        /// Whether gzip may be applied (it is only when negotiated and it pays).
        compress: bool,
        /// The share of the session's send budget this message holds until it is written.
        budget: Option<OwnedSemaphorePermit>,
    },
    /// A WebSocket control frame owed to the peer (pong, close reply).
    Control {
        /// Pong or Close.
        opcode: fastwebsockets::OpCode,
        /// The frame payload.
        payload: Vec<u8>,
    },
    /// Close the WebSocket with this code after everything queued before it.
    Close {
        /// WebSocket close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
}

impl Outgoing {
    /// A message to send uncompressed.
    pub fn message(
        protocol: i32,
        message_type: i32,
        correlation_id: i64,
        body: Body,
        fin: bool,
    ) -> Outgoing {
        Outgoing::Message {
            header: MessageHeader {
                protocol,
                message_type,
                correlation_id,
                message_id: 0,
                message_flags: if fin { flags::FIN } else { 0 },
            },
            body: Box::new(body),
            compress: false,
            budget: None,
        }
    }
}

/// A message body its sender encoded: the Avro encoding of the body record, as segments
/// that are written one after another. Lets a handler send values from the buffers they
/// already live in (array chunks of the store) instead of building a typed body the
/// writer would encode again; the session writer hands large uncompressed ones to the
/// kernel in one vectored write (`vectored.rs`).
#[derive(Debug, Clone, Default)]
pub struct EncodedBody {
    segments: Vec<Bytes>,
    len: usize,
}

impl EncodedBody {
    /// The body made of `segments`, in order.
    pub fn new(segments: Vec<Bytes>) -> Self {
        let len = segments.iter().map(Bytes::len).sum();
        EncodedBody { segments, len }
    }

    /// Encoded size in bytes: exactly what goes on the wire after the header.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the body has no bytes (no ETP body encodes that way; a guard for callers).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The segments, in order.
    pub fn segments(&self) -> &[Bytes] {
        &self.segments
    }
}

/// The session is gone; nothing more can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("session closed")]
pub struct SessionClosed;

/// Answers one request: every message it sends carries the request's id as correlation id
/// and the request's protocol, and exactly the last one carries FIN.
#[derive(Debug)]
pub struct Responder {
    tx: mpsc::Sender<Outgoing>,
    protocol: i32,
    correlation_id: i64,
    max_message_size: usize,
    gzip: bool,
    sent: usize,
    send_budget: Option<Arc<Semaphore>>,
    budget_total: usize,
}

impl Responder {
    /// A responder for the request with message id `correlation_id`.
    pub fn new(
        tx: mpsc::Sender<Outgoing>,
        protocol: i32,
        correlation_id: i64,
        max_message_size: usize,
        gzip: bool,
    ) -> Self {
        Responder {
            tx,
            protocol,
            correlation_id,
            max_message_size,
            gzip,
            sent: 0,
            send_budget: None,
            budget_total: 0,
        }
    }

    /// Bounds the bytes of this session's responses waiting to be written: each message
    /// holds permits for its encoded size (capped at the whole budget, so one oversized
    /// message still goes) until the writer has sent it. A handler producing a long answer
    /// (array blocks, chunked objects) then waits instead of queueing it all in memory.
    pub fn with_send_budget(mut self, budget: Arc<Semaphore>, total: usize) -> Self {
        self.send_budget = Some(budget);
        self.budget_total = total;
        self
    }

    async fn reserve(
        &self,
        encoded_len: usize,
    ) -> Result<Option<OwnedSemaphorePermit>, SessionClosed> {
        let Some(budget) = &self.send_budget else {
            return Ok(None);
        };
        let wanted = encoded_len.clamp(1, self.budget_total.max(1));
        let permits = u32::try_from(wanted).unwrap_or(u32::MAX);
        budget
            .clone()
            .acquire_many_owned(permits)
            .await
            .map(Some)
            .map_err(|_| SessionClosed)
    }

    /// Largest body that fits in one message of this session.
    pub fn max_body_size(&self) -> usize {
        self.max_message_size.saturating_sub(MAX_HEADER_SIZE)
    }

    /// The request's protocol.
    pub fn protocol(&self) -> i32 {
        self.protocol
    }

    /// Messages sent so far.
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// Whether this response's messages may be gzipped (compression negotiated).
    fn compress(&self) -> bool {
        // Array payloads are incompressible in practice (6–24 % at 18–52 MB/s, limits.md):
        // gzip would cost far more than it saves on the wire.
        self.gzip && self.protocol != 9
    }

    fn header(&self, message_type: i32, fin: bool) -> MessageHeader {
        MessageHeader {
            protocol: self.protocol,
            message_type,
            correlation_id: self.correlation_id,
            message_id: 0,
            message_flags: if fin { flags::FIN } else { 0 },
        }
    }

    /// Sends one message of the response set; `fin` marks the last one.
    pub async fn send(&mut self, body: Body, fin: bool) -> Result<(), SessionClosed> {
        let header = self.header(body.info().message_type, fin);
        let budget = self.reserve(body.encoded_len()).await?;
        self.sent += 1;
        self.tx
            .send(Outgoing::Message {
                header,
                body: Box::new(body),
                compress: self.compress(),
                budget,
            })
            .await
            .map_err(|_| SessionClosed)
    }

    /// Sends one message of the response set whose body the handler encoded (a body of
    /// `message_type` in this response's protocol); `fin` marks the last one. The caller
    /// sizes the body to [`Responder::max_body_size`]; a body over it is a bug of the
    /// caller and is answered with `EMAXSIZE_EXCEEDED` (same `fin`) instead of being sent
    /// to a peer that would refuse it.
    pub async fn send_encoded(
        &mut self,
        message_type: i32,
        body: EncodedBody,
        fin: bool,
    ) -> Result<(), SessionClosed> {
        if body.len() > self.max_body_size() {
            tracing::error!(
                size = body.len(),
                max = self.max_body_size(),
                "encoded body over the message size"
            );
            let pe = ProtocolException {
                error: Some(ErrorInfo {
                    message: format!(
                        "the response ({} bytes) does not fit in the negotiated message size of {} bytes",
                        body.len(),
                        self.max_message_size
                    )
                    .into(),
                    code: ErrorCode::EMAXSIZE_EXCEEDED.code(),
                }),
                errors: Map::new(),
            };
            return self.send_exception(pe, fin).await;
        }
        let header = self.header(message_type, fin);
        let budget = self.reserve(body.len()).await?;
        self.sent += 1;
        self.tx
            .send(Outgoing::Encoded {
                header,
                body,
                compress: self.compress(),
                budget,
            })
            .await
            .map_err(|_| SessionClosed)
    }

    /// Ends a response set whose earlier parts went out without FIN: `last` (an encoded
    /// body of `message_type`), then the per-key `errors` as in
    /// [`Responder::reply_set`]; FIN on the very last message.
    pub async fn finish_encoded(
        mut self,
        message_type: i32,
        last: EncodedBody,
        errors: Map<ErrorInfo>,
    ) -> Result<(), SessionClosed> {
        let error_parts = split_errors(errors, self.max_body_size());
        self.send_encoded(message_type, last, error_parts.is_empty())
            .await?;
        let total = error_parts.len();
        for (index, pe) in error_parts.into_iter().enumerate() {
            self.send_exception(pe, index + 1 == total).await?;
        }
        Ok(())
    }

    /// Sends a single-message response.
    pub async fn reply(mut self, body: impl Into<Body>) -> Result<(), SessionClosed> {
        let body = body.into();
        let size = body.encoded_len();
        if size > self.max_body_size() {
            let message = format!(
                "the response ({size} bytes) does not fit in the negotiated message size of {} bytes",
                self.max_message_size
            );
            return self.error(ErrorCode::EMAXSIZE_EXCEEDED, message).await;
        }
        self.send(body, true).await
    }

    /// Answers the whole request with one error.
    pub async fn error(
        mut self,
        code: ErrorCode,
        message: impl Into<EtpString>,
    ) -> Result<(), SessionClosed> {
        let pe = ProtocolException {
            error: Some(ErrorInfo {
                message: message.into(),
                code: code.code(),
            }),
            errors: Map::new(),
        };
        self.send_exception(pe, true).await
    }

    async fn send_exception(
        &mut self,
        pe: ProtocolException,
        fin: bool,
    ) -> Result<(), SessionClosed> {
        let header = self.header(1000, fin);
        self.sent += 1;
        self.tx
            .send(Outgoing::Message {
                header,
                body: Box::new(pe.into()),
                compress: false,
                budget: None,
            })
            .await
            .map_err(|_| SessionClosed)
    }

    /// Sends a response set made of `parts` (each already sized to fit) followed by the
    /// per-key `errors` of a map request, split over as many ProtocolException messages as
    /// the message size needs. FIN goes on the very last message. With neither parts nor
    /// errors, `empty` is sent so the requester always gets an answer.
    pub async fn reply_set(
        mut self,
        parts: Vec<Body>,
        errors: Map<ErrorInfo>,
        empty: impl FnOnce() -> Body,
    ) -> Result<(), SessionClosed> {
        let mut parts = parts;
        if parts.is_empty() {
            parts.push(empty());
        }
        let error_parts = split_errors(errors, self.max_body_size());
        let total = parts.len() + error_parts.len();
        let mut index = 0;
        for part in parts {
            index += 1;
            self.send(part, index == total).await?;
        }
        for pe in error_parts {
            index += 1;
            self.send_exception(pe, index == total).await?;
        }
        Ok(())
    }
}

/// Splits a per-key error map into ProtocolExceptions that each fit in `max_body`.
fn split_errors(errors: Map<ErrorInfo>, max_body: usize) -> Vec<ProtocolException> {
    let mut out = Vec::new();
    let mut current = Map::new();
    let mut size = 2; // null `error` branch + end of map
    for (key, error) in errors {
        let entry = key.encoded_len() + error.encoded_len();
        if !current.is_empty() && size + entry + 10 > max_body {
            out.push(ProtocolException {
                error: None,
                errors: std::mem::take(&mut current),
            });
            size = 2;
        }
        size += entry;
        current.insert(key, error);
    }
    if !current.is_empty() {
        out.push(ProtocolException {
            error: None,
            errors: current,
        });
    }
    out
}

/// Groups items into chunks whose encoded size stays within `budget` bytes each (every
/// chunk has at least one item). Used to split list responses into multipart messages.
pub fn chunk_by_size<T: Avro>(items: Vec<T>, budget: usize) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut size = 0usize;
    for item in items {
        let len = item.encoded_len();
        if !current.is_empty() && size + len > budget {
            out.push(std::mem::take(&mut current));
            size = 0;
        }
        size += len;
        current.push(item);
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}
