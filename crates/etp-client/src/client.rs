//! One ETP session over one WebSocket: a reader task, a writer task and a table of
//! pending requests.
//!
//! Outgoing messages are encoded (and gzipped) by the calling task, with a placeholder
//! header in front of a little reserved space; the writer task only assigns the message id
//! (even, from 2, +2 per message, in send order), patches the header in place and writes
//! the frame. A request is registered in the pending table by the writer *before* its frame
//! is written, so an answer can never overtake the registration.
//!
//! The reader task decodes every message, except the answers of requests sent with
//! [`Client::request_undecoded`]: those keep their payload as it came off the socket and
//! are decoded by the caller, on the caller's task. For bulk answers (array blocks) that
//! moves the decoding off the one reader task, which then only receives frames, and lets
//! the caller copy values once, straight into their destination. Requests sent with
//! [`Client::request_landing`] go one step further: the reader receives their answer's
//! array values from the socket straight into the caller's memory (see
//! [`crate::landing`]), so the client makes no copy of them at all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use etp_protocol::Uuid;
use etp_protocol::codec::{Avro, Map, Reader};
use etp_protocol::error_code::ErrorCode;
use etp_protocol::message::{
    Compression, DecodeOptions, EtpMessage, Message, MessageInfo, decode_message, encode_message,
    flags,
};
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::{
    DataValue, DataValueItem, MessageHeader, SupportedDataObject, SupportedProtocol, Version,
};
use etp_protocol::types::protocol::core::{
    Acknowledge, CloseSession, CoreMessage, OpenSession, Ping, Pong, RequestSession,
};
use etp_protocol::types::protocol::data_array::{GetDataArraysResponse, GetDataSubarraysResponse};
use fastwebsockets::{Frame, OpCode, Payload, WebSocketWrite};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::ClientConfig;
use crate::error::ClientError;
use crate::frame_read::{BufPool, FrameReader, Incoming, Landed, Lander};
use crate::landing::{Landing, Placement, values_layout};
use crate::mask;
use crate::response::Response;
use crate::transport::{self, Target};

type Stream = TokioIo<Upgraded>;
/// The connection's write half as the writer task writes it: frames queued together are
/// handed to the kernel in one write when the writer flushes (after each batch).
type WriteStream = tokio::io::BufWriter<WriteHalf<Stream>>;

/// Room reserved in front of every encoded message for the final header (a header is at
/// most 35 bytes: three ints of up to 5 bytes and two longs of up to 10).
const HEADER_ROOM: usize = 40;
/// Capacity of the writer's command queue (back-pressure for very eager senders).
const COMMAND_QUEUE: usize = 1024;
/// gzip level for compressed requests: fast, most of the gain for XML.
const GZIP_LEVEL: u32 = 1;
/// Most payload buffers the reader keeps for reuse: a little more than the number of bulk
/// answers usually in flight, so a window of them recycles without new allocations.
const POOLED_BUFFERS: usize = 32;
/// Bytes of payload buffers kept for reuse, in units of the maximum message size.
const POOLED_BYTES_PER_MAX_MESSAGE: usize = 8;
/// How long [`Client::close`] waits for the server to close the WebSocket.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// Name of the message size endpoint capability.
const MAX_MESSAGE_SIZE_KEY: &str = "MaxWebSocketMessagePayloadSize";

/// One message encoded behind `HEADER_ROOM` bytes of slack.
struct Encoded {
    buf: Vec<u8>,
    /// Where the body (everything after the header) starts.
    body_at: usize,
    /// Where the final header starts, once [`Encoded::finish`] has run.
    start: usize,
    protocol: i32,
    message_type: i32,
    /// Flags actually written (COMPRESSED set by the encoder when it helped).
    flags: i32,
    /// The key the body is already masked with, counted from the body's first byte
    /// ([`MaskedBody`]); `None` when the writer masks the whole frame.
    body_key: Option<[u8; 4]>,
}

impl Encoded {
    fn new(
        body: &Body,
        protocol: i32,
        message_type: i32,
        message_flags: i32,
        compression: Compression,
    ) -> Encoded {
        let placeholder = MessageHeader {
            protocol,
            message_type,
            correlation_id: 0,
            message_id: 0,
            message_flags,
        };
        let mut buf = Vec::with_capacity(HEADER_ROOM + 16 + body.encoded_len());
        buf.resize(HEADER_ROOM, 0);
        encode_message(&placeholder, None, body, compression, &mut buf);
        // Read back the header just written to learn its length and final flags.
        let mut reader = Reader::new(&buf[HEADER_ROOM..]);
        let (flags, header_len) = match MessageHeader::decode(&mut reader) {
            Ok(h) => (h.message_flags, reader.position()),
            // Unreachable: the bytes were produced by the encoder above.
            Err(_) => (message_flags, placeholder.encoded_len()),
        };
        Encoded {
            buf,
            body_at: HEADER_ROOM + header_len,
            start: HEADER_ROOM,
            protocol,
            message_type,
            flags,
            body_key: None,
        }
    }

    /// Writes the final header right before the body; returns the payload length.
    fn finish(&mut self, correlation_id: i64, message_id: i64, scratch: &mut Vec<u8>) -> usize {
        let header = MessageHeader {
            protocol: self.protocol,
            message_type: self.message_type,
            correlation_id,
            message_id,
            message_flags: self.flags,
        };
        scratch.clear();
        header.encode(scratch);
        // body_at >= HEADER_ROOM >= 35 >= scratch.len(), so this cannot underflow.
        self.start = self.body_at.saturating_sub(scratch.len());
        self.buf[self.start..self.body_at].copy_from_slice(scratch);
        self.buf.len() - self.start
    }

    fn payload(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..]
    }

    /// The payload as one masked WebSocket frame, once [`Encoded::finish`] has run: the
    /// header is masked here, the rest of the payload too unless the body came masked.
    fn frame(&mut self) -> Frame<'_> {
        let Some(body_key) = self.body_key else {
            let mut frame = Frame::binary(Payload::BorrowedMut(self.payload()));
            frame.mask();
            return frame;
        };
        let key = mask::frame_key(body_key, self.body_at - self.start);
        mask::mask_in_place(&mut self.buf[self.start..self.body_at], key, 0);
        Frame::new(
            true,
            OpCode::Binary,
            Some(key),
            Payload::BorrowedMut(self.payload()),
        )
    }
}

/// An uncompressed message whose body is written already masked for the WebSocket, so
/// that bulk values are copied into the outgoing buffer once, masking included, instead
/// of being encoded and then masked in place (see [`crate::mask`]). Built with
/// [`MaskedBody::new`], sent by [`Client::request_masked`], which assigns the
/// messageId, checks the size limit and registers the request like any other.
pub(crate) struct MaskedBody {
    encoded: Encoded,
    key: [u8; 4],
}

impl MaskedBody {
    /// Starts an uncompressed FIN message of type `info` whose body the caller writes
    /// already masked ([`MaskedBody`]), with room for `body_capacity` bytes. Bodies that
    /// gzip could shrink must go through [`Client::request`] when the session compresses.
    pub(crate) fn new(info: MessageInfo, body_capacity: usize) -> MaskedBody {
        let placeholder = MessageHeader {
            protocol: info.protocol,
            message_type: info.message_type,
            correlation_id: 0,
            message_id: 0,
            message_flags: flags::FIN,
        };
        let mut buf = Vec::with_capacity(HEADER_ROOM + 16 + body_capacity);
        buf.resize(HEADER_ROOM, 0);
        placeholder.encode(&mut buf);
        let key = mask::random_key();
        MaskedBody {
            encoded: Encoded {
                body_at: buf.len(),
                buf,
                start: HEADER_ROOM,
                protocol: info.protocol,
                message_type: info.message_type,
                flags: flags::FIN,
                body_key: Some(key),
            },
            key,
        }
    }

    /// Appends body bytes.
    pub(crate) fn extend(&mut self, bytes: &[u8]) {
        let phase = self.encoded.buf.len() - self.encoded.body_at;
        mask::extend_masked(&mut self.encoded.buf, bytes, self.key, phase);
    }
}

/// A request waiting for its answer.
struct Waiter {
    /// Receives the messageId the writer assigned, so that a timed-out caller can remove
    /// its entry.
    slot: Arc<AtomicI64>,
    tx: oneshot::Sender<Result<Answer, ClientError>>,
    /// Whether the answer's bodies are left undecoded ([`Client::request_undecoded`]).
    undecoded: bool,
    /// Where the answer's values may be received in place ([`Client::request_landing`]).
    landing: Option<Placement>,
}

/// One or more messages to write back to back (a multipart request).
struct Outgoing {
    parts: Vec<Encoded>,
    /// correlationId of the first part; later parts use the first part's messageId.
    correlation_id: i64,
    waiter: Option<Waiter>,
    /// Told the first messageId once everything was written (or why it was not).
    written: Option<oneshot::Sender<Result<i64, ClientError>>>,
}

enum Command {
    Send(Outgoing),
    /// A control frame the WebSocket layer must send (pong, close echo).
    Control(OpCode, Vec<u8>),
    /// A raw binary frame (test hook).
    Raw(Vec<u8>, oneshot::Sender<Result<(), ClientError>>),
    /// Write a close frame and stop.
    Close(u16, String),
}

struct Pending {
    parts: Vec<AnswerPart>,
    error: Option<ClientError>,
    tx: oneshot::Sender<Result<Answer, ClientError>>,
    undecoded: bool,
    /// The request's placement until an answer lands in it.
    landing: Option<Placement>,
    /// The answer that landed in it.
    landed: Option<LandedMessage>,
}

/// The whole answer to a request, as the reader collected it.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The messages that came the usual way (all of them, unless one landed).
    pub parts: Vec<AnswerPart>,
    /// What became of the request's placement, if it had one.
    pub landing: LandingOutcome,
}

/// What became of a request's placement ([`Client::request_landing`]).
#[derive(Debug)]
pub(crate) enum LandingOutcome {
    /// The request had none.
    None,
    /// No answer landed in it: it comes back to be filled from the answer's parts.
    Unused(Placement),
    /// An answer's values were received into it.
    Landed(LandedMessage),
}

/// An answer whose values were received straight into the request's placement; the rest
/// of its body is kept for the caller to check.
#[derive(Debug)]
pub(crate) struct LandedMessage {
    /// The decoded header.
    pub header: MessageHeader,
    /// The body up to the values.
    pub body_head: Bytes,
    /// The body after the values.
    pub tail: Bytes,
    /// The values.
    pub placement: Placement,
}

/// One message of an answer to [`Client::request_undecoded`].
#[derive(Debug, Clone, PartialEq)]
pub enum AnswerPart {
    /// Decoded by the reader as usual: ProtocolExceptions, compressed messages and messages
    /// with a header extension always come this way.
    Decoded(Box<Message>),
    /// Left as it came: the caller decodes the body.
    Undecoded(UndecodedMessage),
}

impl AnswerPart {
    /// The message's header.
    pub fn header(&self) -> &MessageHeader {
        match self {
            AnswerPart::Decoded(m) => &m.header,
            AnswerPart::Undecoded(m) => &m.header,
        }
    }

    /// The decoded message (decoding it now if it was left undecoded).
    pub fn into_message(self, options: &DecodeOptions) -> Result<Message, ClientError> {
        match self {
            AnswerPart::Decoded(m) => Ok(*m),
            AnswerPart::Undecoded(m) => m.decode(options),
        }
    }
}

/// A message whose header was read but whose body was not decoded: uncompressed, without
/// header extension, not a ProtocolException. The payload is the WebSocket message as
/// received, shared, not copied.
#[derive(Debug, Clone, PartialEq)]
pub struct UndecodedMessage {
    /// The decoded header.
    pub header: MessageHeader,
    payload: Bytes,
    body_start: usize,
}

impl UndecodedMessage {
    /// The whole WebSocket message: the header, then the body from
    /// [`UndecodedMessage::body_start`].
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Where the Avro body starts in [`UndecodedMessage::payload`].
    pub fn body_start(&self) -> usize {
        self.body_start
    }

    /// The Avro body.
    pub fn body(&self) -> &[u8] {
        self.payload.get(self.body_start..).unwrap_or_default()
    }

    /// Decodes the message as the reader would have.
    pub fn decode(&self, options: &DecodeOptions) -> Result<Message, ClientError> {
        decode_message(&self.payload, options).map_err(|error| {
            ClientError::Decode(format!(
                "message {} (protocol {}, type {}): {error}",
                self.header.message_id, self.header.protocol, self.header.message_type
            ))
        })
    }
}

struct State {
    /// Why the session is over, once it is.
    closed: Option<String>,
    pending: HashMap<i64, Pending>,
}

/// State shared by the handles and the two tasks.
struct Shared {
    state: Mutex<State>,
    compression: AtomicBool,
    send_limit: AtomicUsize,
    max_decompressed_size: usize,
    in_flight: AtomicUsize,
    /// Requests waiting for undecoded answers: while 0, the reader skips looking for them.
    undecoded_waiting: AtomicUsize,
    /// Requests with a placement: while 0, the reader does not look for landings.
    landings_waiting: AtomicUsize,
    /// Answers whose values were received in place so far.
    landed: AtomicU64,
    socket_closed: watch::Sender<bool>,
    notifications: mpsc::Sender<Message>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere; the table itself stays consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn close_reason(&self) -> String {
        self.lock()
            .closed
            .clone()
            .unwrap_or_else(|| "connection closed".to_string())
    }

    /// Ends the session: no new requests, every pending one fails.
    fn mark_closed(&self, reason: String) {
        let drained: Vec<Pending> = {
            let mut st = self.lock();
            if st.closed.is_none() {
                tracing::debug!("ETP session closed: {reason}");
                st.closed = Some(reason);
            }
            st.pending.drain().map(|(_, p)| p).collect()
        };
        let reason = self.close_reason();
        for p in drained {
            let _ = p.tx.send(Err(ClientError::Closed(reason.clone())));
        }
    }

    fn fail_pending(&self, id: i64, error: ClientError) {
        let pending = self.lock().pending.remove(&id);
        if let Some(p) = pending {
            let _ = p.tx.send(Err(error));
        }
    }
}

/// The writer and reader, torn down when the last handle goes away.
struct Conn {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
    reader: Mutex<Option<JoinHandle<()>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Best effort: a close frame, then stop reading after a grace period.
        let _ = self.commands.try_send(Command::Close(1000, String::new()));
        let reader = self.reader.get_mut().ok().and_then(Option::take);
        if let (Some(reader), Ok(rt)) = (reader, tokio::runtime::Handle::try_current()) {
            rt.spawn(async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                reader.abort();
            });
        }
    }
}

struct Inner {
    conn: Conn,
    url: String,
    session: OpenSession,
    request_timeout: Duration,
    notifications: Mutex<Option<mpsc::Receiver<Message>>>,
}

/// Removes a pending entry when the waiting future ends without an answer (timeout or
/// cancellation).
struct PendingGuard<'a> {
    shared: &'a Shared,
    slot: Arc<AtomicI64>,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::Relaxed);
        // Read the slot under the lock the writer registers under: either the entry is
        // already there (and removed here), or the writer will find the receiver gone and
        // skip the request.
        let mut st = self.shared.lock();
        let id = self.slot.load(Ordering::Acquire);
        if id != 0 {
            st.pending.remove(&id);
        }
    }
}

/// A connected ETP session. Cheap to clone; all clones share the session, so many tasks
/// can send requests concurrently (pipelining). The connection is closed by
/// [`Client::close`] or, without the courtesy of a CloseSession, when the last clone is
/// dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.inner.url)
            .field("session_id", &self.inner.session.session_id)
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Client {
    /// Connects: WebSocket upgrade with subprotocol `etp12.energistics.org`, RequestSession
    /// (messageId 2), and OpenSession. A ProtocolException answer becomes
    /// [`ClientError::Protocol`]. The whole sequence is bounded by `config.connect_timeout`.
    pub async fn connect(config: ClientConfig) -> Result<Client, ClientError> {
        let timeout = config.connect_timeout;
        tokio::time::timeout(timeout, Client::connect_inner(config))
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
    }

    async fn connect_inner(config: ClientConfig) -> Result<Client, ClientError> {
        let target = Target::parse(&config.url)?;
        let ws = transport::upgrade(&config, &target).await?;
        // Frames are read by our own `FrameReader` (large payloads into recycled buffers);
        // fastwebsockets only writes. A fresh `WebSocket` has nothing buffered yet, so
        // taking its stream back loses no bytes.
        let (read, write) = tokio::io::split(ws.into_inner());
        let (_, mut write) = fastwebsockets::after_handshake_split(
            tokio::io::empty(),
            tokio::io::BufWriter::new(write),
            fastwebsockets::Role::Client,
        );
        // The writer masks every frame itself (`Writer`): some bodies come masked already
        // (`MaskedBody`), and fastwebsockets would mask those a second time.
        write.set_auto_apply_mask(false);
        let read = FrameReader::new(
            read,
            config.max_message_size,
            BufPool::new(
                POOLED_BUFFERS,
                POOLED_BYTES_PER_MAX_MESSAGE.saturating_mul(config.max_message_size),
            ),
        );
        let (notify_tx, notify_rx) = mpsc::channel(config.notification_capacity.max(1));
        let (socket_closed, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                closed: None,
                pending: HashMap::new(),
            }),
            compression: AtomicBool::new(false),
            send_limit: AtomicUsize::new(config.max_message_size),
            max_decompressed_size: config.max_decompressed_size,
            in_flight: AtomicUsize::new(0),
            undecoded_waiting: AtomicUsize::new(0),
            landings_waiting: AtomicUsize::new(0),
            landed: AtomicU64::new(0),
            socket_closed,
            notifications: notify_tx,
        });
        let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
        let writer = tokio::spawn(writer_task(write, rx, shared.clone()));
        let reader = tokio::spawn(reader_task(read, commands.clone(), shared.clone()));
        let conn = Conn {
            commands,
            shared,
            reader: Mutex::new(Some(reader)),
            writer: Mutex::new(Some(writer)),
        };

        let request = request_session(&config);
        let part = conn.encode(&request.into(), flags::FIN);
        let response = conn.exchange(vec![part], config.connect_timeout).await?;
        if response.request_id() != 2 {
            tracing::warn!(
                "RequestSession went out as message {}",
                response.request_id()
            );
        }
        let open: OpenSession = response.into_one()?;

        let gzip = config.compression
            && open
                .supported_compression
                .to_ascii_lowercase()
                .contains("gzip");
        conn.shared.compression.store(gzip, Ordering::Release);
        let server_limit = open
            .endpoint_capabilities
            .get(MAX_MESSAGE_SIZE_KEY)
            .and_then(DataValue::as_i64)
            .filter(|v| *v > 0)
            .map(|v| usize::try_from(v).unwrap_or(usize::MAX));
        let limit =
            server_limit.map_or(config.max_message_size, |s| s.min(config.max_message_size));
        conn.shared.send_limit.store(limit, Ordering::Release);
        tracing::debug!(
            session = %open.session_id,
            server = %open.application_name,
            compression = gzip,
            max_message_size = limit,
            "ETP session open"
        );
        Ok(Client {
            inner: Arc::new(Inner {
                conn,
                url: config.url,
                session: open,
                request_timeout: config.request_timeout,
                notifications: Mutex::new(Some(notify_rx)),
            }),
        })
    }

    /// The URL this client connected to.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The server's OpenSession: negotiated protocols and data objects, capabilities,
    /// compression, session id.
    pub fn session(&self) -> &OpenSession {
        &self.inner.session
    }

    /// `OpenSession.sessionId`.
    pub fn session_id(&self) -> Uuid {
        self.inner.session.session_id
    }

    /// Whether gzip was negotiated (non-Core requests are then compressed).
    pub fn compression(&self) -> bool {
        self.inner.conn.shared.compression.load(Ordering::Acquire)
    }

    /// The session's message size limit: min(own `max_message_size`, server's
    /// `MaxWebSocketMessagePayloadSize`).
    pub fn max_message_size(&self) -> usize {
        self.inner.conn.shared.send_limit.load(Ordering::Acquire)
    }

    /// Whether the server accepted `protocol` in OpenSession. Requests for other protocols
    /// are still sent (the server answers them with EUNSUPPORTED_PROTOCOL).
    pub fn supports_protocol(&self, protocol: i32) -> bool {
        protocol == 0
            || self
                .inner
                .session
                .supported_protocols
                .iter()
                .any(|p| p.protocol == protocol)
    }

    /// Requests sent on this session and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.inner.conn.shared.in_flight.load(Ordering::Relaxed)
    }

    /// How many answers so far had their values received straight into the caller's
    /// memory, without a copy on the client ([`crate::ops::get_array_vec`]); for
    /// diagnostics and tests.
    pub fn landed_answers(&self) -> u64 {
        self.inner.conn.shared.landed.load(Ordering::Relaxed)
    }

    /// Whether the session is over (closed by either side, or the connection failed).
    pub fn is_closed(&self) -> bool {
        self.inner.conn.shared.lock().closed.is_some()
    }

    /// The default timeout of [`Client::request`].
    pub fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    /// The queue of unsolicited messages: notifications, and any message whose
    /// correlationId is 0 or not one of ours. Available once (`None` afterwards). ETP Ping,
    /// CloseSession and Acknowledge requests are handled internally and not queued.
    pub fn notifications(&self) -> Option<mpsc::Receiver<Message>> {
        self.inner
            .notifications
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Sends `body` (FIN, correlationId 0) and waits, at most the configured request
    /// timeout, for the complete response set.
    pub async fn request(&self, body: impl Into<Body>) -> Result<Response, ClientError> {
        self.request_with_timeout(body, self.inner.request_timeout)
            .await
    }

    /// [`Client::request`] with an explicit timeout.
    pub async fn request_with_timeout(
        &self,
        body: impl Into<Body>,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let part = self.inner.conn.encode(&body.into(), flags::FIN);
        self.inner.conn.exchange(vec![part], timeout).await
    }

    /// [`Client::request`] of a message built with [`MaskedBody::new`].
    pub(crate) async fn request_masked(&self, body: MaskedBody) -> Result<Response, ClientError> {
        self.inner
            .conn
            .exchange(vec![body.encoded], self.inner.request_timeout)
            .await
    }

    /// Sends `body` and returns its only answer, of type `T`. A ProtocolException becomes
    /// [`ClientError::Protocol`], anything else unexpected [`ClientError::UnexpectedResponse`].
    pub async fn request_one<T: EtpMessage>(
        &self,
        body: impl Into<Body>,
    ) -> Result<T, ClientError> {
        self.request(body).await?.into_one()
    }

    /// Sends `body` and returns every part of its answer, each of type `T`.
    pub async fn request_all<T: EtpMessage>(
        &self,
        body: impl Into<Body>,
    ) -> Result<Vec<T>, ClientError> {
        self.request(body).await?.into_all()
    }

    /// Sends `body` (FIN, correlationId 0) and returns its answer with the bodies left
    /// undecoded where possible ([`AnswerPart::Undecoded`]), sorted by messageId. For bulk
    /// answers the caller decodes on its own task, straight into where the data goes;
    /// ProtocolExceptions, compressed messages and messages with a header extension still
    /// come decoded. Waits at most the configured request timeout.
    pub async fn request_undecoded(
        &self,
        body: impl Into<Body>,
    ) -> Result<Vec<AnswerPart>, ClientError> {
        let part = self.inner.conn.encode(&body.into(), flags::FIN);
        let (_, answer) = self
            .inner
            .conn
            .exchange_parts(vec![part], self.inner.request_timeout, true, None)
            .await?;
        let mut parts = answer.parts;
        parts.sort_by_key(|p| p.header().message_id);
        Ok(parts)
    }

    /// [`Client::request_undecoded`] whose answer's values may be received straight into
    /// `placement` (see [`crate::landing`]): a DataArray request for one array of the
    /// placement's transport type and length.
    pub(crate) async fn request_landing(
        &self,
        body: impl Into<Body>,
        placement: Placement,
    ) -> Result<Answer, ClientError> {
        let part = self.inner.conn.encode(&body.into(), flags::FIN);
        let (_, mut answer) = self
            .inner
            .conn
            .exchange_parts(
                vec![part],
                self.inner.request_timeout,
                true,
                Some(placement),
            )
            .await?;
        answer.parts.sort_by_key(|p| p.header().message_id);
        Ok(answer)
    }

    /// How this session's answers are decoded (for [`UndecodedMessage::decode`]).
    pub fn decode_options(&self) -> DecodeOptions {
        self.inner.conn.decode_options()
    }

    /// Sends a multipart request: `first` without FIN (correlationId 0), then each of
    /// `rest` with correlationId = the first part's messageId, the last one with FIN (for
    /// example PutDataObjects followed by Chunks). Waits for the response set correlated to
    /// the first part.
    pub async fn request_multipart(
        &self,
        first: Body,
        rest: Vec<Body>,
    ) -> Result<Response, ClientError> {
        let conn = &self.inner.conn;
        let count = rest.len();
        let mut parts = Vec::with_capacity(count + 1);
        parts.push(conn.encode(&first, if count == 0 { flags::FIN } else { 0 }));
        for (i, body) in rest.iter().enumerate() {
            parts.push(conn.encode(body, if i + 1 == count { flags::FIN } else { 0 }));
        }
        conn.exchange(parts, self.inner.request_timeout).await
    }

    /// Sends a single message (FIN, correlationId 0) without waiting for any answer;
    /// returns its messageId once written.
    pub async fn send(&self, body: impl Into<Body>) -> Result<i64, ClientError> {
        let part = self.inner.conn.encode(&body.into(), flags::FIN);
        self.inner.conn.send_parts(vec![part], 0).await
    }

    /// Writes `payload` as one binary WebSocket message, bypassing encoding and messageId
    /// assignment. For conformance tests that need malformed input.
    pub async fn send_raw(&self, payload: Vec<u8>) -> Result<(), ClientError> {
        let conn = &self.inner.conn;
        conn.check_open()?;
        let (tx, rx) = oneshot::channel();
        conn.commands
            .send(Command::Raw(payload, tx))
            .await
            .map_err(|_| ClientError::Closed(conn.shared.close_reason()))?;
        rx.await
            .map_err(|_| ClientError::Closed(conn.shared.close_reason()))?
    }

    /// ETP Ping/Pong round trip.
    pub async fn ping(&self) -> Result<Duration, ClientError> {
        self.ping_with_timeout(self.inner.request_timeout).await
    }

    /// [`Client::ping`] with an explicit timeout.
    pub async fn ping_with_timeout(&self, timeout: Duration) -> Result<Duration, ClientError> {
        let start = Instant::now();
        let ping = Ping {
            current_date_time: etp_protocol::now_micros(),
        };
        let _pong: Pong = self.request_with_timeout(ping, timeout).await?.into_one()?;
        Ok(start.elapsed())
    }

    /// Ends the session: CloseSession, then waits briefly for the server to close the
    /// WebSocket, then closes it (code 1000) if the server did not. Requests still pending
    /// on other clones fail with [`ClientError::Closed`].
    pub async fn close(self, reason: &str) -> Result<(), ClientError> {
        let conn = &self.inner.conn;
        let already_closed = self.is_closed();
        if !already_closed {
            let part = conn.encode(
                &CloseSession {
                    reason: reason.to_string().into(),
                }
                .into(),
                flags::FIN,
            );
            let sent = conn.send_parts(vec![part], 0).await;
            conn.shared
                .mark_closed(format!("session closed by client: {reason}"));
            if let Err(e) = sent {
                tracing::debug!("CloseSession not sent: {e}");
            }
        }
        let mut socket_closed = conn.shared.socket_closed.subscribe();
        let server_closed =
            tokio::time::timeout(CLOSE_WAIT, socket_closed.wait_for(|closed| *closed))
                .await
                .is_ok_and(|r| r.is_ok());
        if !server_closed {
            tracing::debug!("server did not close the WebSocket in time; closing it");
        }
        let _ = conn
            .commands
            .send(Command::Close(1000, "normal closure".into()))
            .await;
        let writer = conn.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(writer) = writer {
            let _ = tokio::time::timeout(Duration::from_secs(1), writer).await;
        }
        let reader = conn.reader.lock().ok().and_then(|mut r| r.take());
        if let Some(reader) = reader {
            reader.abort();
        }
        Ok(())
    }
}

impl Conn {
    fn check_open(&self) -> Result<(), ClientError> {
        match &self.shared.lock().closed {
            Some(reason) => Err(ClientError::Closed(reason.clone())),
            None => Ok(()),
        }
    }

    fn encode(&self, body: &Body, message_flags: i32) -> Encoded {
        let info = body.info();
        let compression = if self.shared.compression.load(Ordering::Acquire) {
            Compression::Gzip(GZIP_LEVEL)
        } else {
            Compression::None
        };
        Encoded::new(
            body,
            info.protocol,
            info.message_type,
            message_flags,
            compression,
        )
    }

    async fn send_parts(
        &self,
        parts: Vec<Encoded>,
        correlation_id: i64,
    ) -> Result<i64, ClientError> {
        self.check_open()?;
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Send(Outgoing {
                parts,
                correlation_id,
                waiter: None,
                written: Some(tx),
            }))
            .await
            .map_err(|_| ClientError::Closed(self.shared.close_reason()))?;
        rx.await
            .map_err(|_| ClientError::Closed(self.shared.close_reason()))?
    }

    fn decode_options(&self) -> DecodeOptions {
        DecodeOptions {
            compression_negotiated: self.shared.compression.load(Ordering::Acquire),
            max_decompressed_size: self.shared.max_decompressed_size,
        }
    }

    async fn exchange(
        &self,
        parts: Vec<Encoded>,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let (request_id, answer) = self.exchange_parts(parts, timeout, false, None).await?;
        let options = self.decode_options();
        let messages = answer
            .parts
            .into_iter()
            .map(|part| part.into_message(&options))
            .collect::<Result<Vec<Message>, ClientError>>()?;
        Ok(Response::new(request_id, messages))
    }

    /// Sends the parts of one request and waits for its whole answer; returns the
    /// request's messageId and the answer (undecoded where allowed, if asked; received
    /// into `landing` where possible).
    async fn exchange_parts(
        &self,
        parts: Vec<Encoded>,
        timeout: Duration,
        undecoded: bool,
        landing: Option<Placement>,
    ) -> Result<(i64, Answer), ClientError> {
        self.check_open()?;
        let (tx, rx) = oneshot::channel();
        let slot = Arc::new(AtomicI64::new(0));
        self.shared.in_flight.fetch_add(1, Ordering::Relaxed);
        let _guard = PendingGuard {
            shared: &self.shared,
            slot: slot.clone(),
        };
        let _undecoded_guard = undecoded.then(|| WaitingGuard::new(&self.shared.undecoded_waiting));
        let _landing_guard = landing
            .is_some()
            .then(|| WaitingGuard::new(&self.shared.landings_waiting));
        let outgoing = Outgoing {
            parts,
            correlation_id: 0,
            waiter: Some(Waiter {
                slot: slot.clone(),
                tx,
                undecoded,
                landing,
            }),
            written: None,
        };
        let wait = async {
            self.commands
                .send(Command::Send(outgoing))
                .await
                .map_err(|_| ClientError::Closed(self.shared.close_reason()))?;
            match rx.await {
                Ok(result) => result,
                Err(_) => Err(ClientError::Closed(self.shared.close_reason())),
            }
        };
        let answer = tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| ClientError::Timeout(timeout))??;
        Ok((slot.load(Ordering::Acquire), answer))
    }
}

/// Counts a request waiting for a special kind of answer (undecoded, landed) while it
/// lives, so that the reader looks for such answers only while someone waits for one.
struct WaitingGuard<'a> {
    count: &'a AtomicUsize,
}

impl<'a> WaitingGuard<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        WaitingGuard { count }
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The RequestSession this client sends.
fn request_session(config: &ClientConfig) -> RequestSession {
    let version = Version {
        major: 1,
        minor: 2,
        revision: 0,
        patch: 0,
    };
    let mut object_caps = Map::new();
    for key in ["SupportsGet", "SupportsPut", "SupportsDelete"] {
        object_caps.insert(
            key.to_string().into(),
            DataValue {
                item: DataValueItem::Boolean(true),
            },
        );
    }
    let mut endpoint_capabilities = Map::new();
    endpoint_capabilities.insert(
        MAX_MESSAGE_SIZE_KEY.to_string().into(),
        DataValue {
            item: DataValueItem::Long(i64::try_from(config.max_message_size).unwrap_or(i64::MAX)),
        },
    );
    RequestSession {
        application_name: config.application_name.clone().into(),
        application_version: config.application_version.clone().into(),
        client_instance_id: Uuid::new_v4(),
        requested_protocols: config
            .requested_protocols
            .iter()
            .map(|(protocol, role)| SupportedProtocol {
                protocol: *protocol,
                protocol_version: version,
                role: role.as_str().to_string().into(),
                protocol_capabilities: Map::new(),
            })
            .collect(),
        supported_data_objects: config
            .supported_data_objects
            .iter()
            .map(|t| SupportedDataObject {
                qualified_type: t.clone().into(),
                data_object_capabilities: object_caps.clone(),
            })
            .collect(),
        supported_compression: if config.compression {
            vec!["gzip".into()].into()
        } else {
            Default::default()
        },
        supported_formats: vec!["xml".into()].into(),
        current_date_time: etp_protocol::now_micros(),
        earliest_retained_change_time: 0,
        server_authorization_required: false,
        endpoint_capabilities,
    }
}

enum Flow {
    Continue,
    Stop(String),
}

async fn writer_task(
    mut ws: WebSocketWrite<WriteStream>,
    mut rx: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
) {
    let mut writer = Writer {
        next_id: 2,
        scratch: Vec::with_capacity(HEADER_ROOM),
        shared: shared.clone(),
    };
    let reason = 'outer: loop {
        let Some(mut command) = rx.recv().await else {
            break "client dropped".to_string();
        };
        let mut yielded = false;
        loop {
            if let Flow::Stop(reason) = writer.handle(&mut ws, command).await {
                break 'outer reason;
            }
            match rx.try_recv() {
                Ok(next) => command = next,
                Err(_) if yielded || shared.in_flight.load(Ordering::Relaxed) < 2 => break,
                Err(_) => {
                    // Other requests are waiting for answers: callers on this worker that
                    // are about to send get to run first (`yield_now` resumes once the
                    // worker is out of tasks), so their requests share this write and
                    // the peer is woken once for them all.
                    yielded = true;
                    tokio::task::yield_now().await;
                    match rx.try_recv() {
                        Ok(next) => command = next,
                        Err(_) => break,
                    }
                }
            }
        }
        if let Err(e) = ws.flush().await {
            break format!("write failed: {e}");
        }
    };
    let _ = ws.flush().await;
    shared.mark_closed(reason);
    // Commands still queued are dropped: their waiters see the session closed.
}

struct Writer {
    next_id: i64,
    scratch: Vec<u8>,
    shared: Arc<Shared>,
}

impl Writer {
    async fn handle(&mut self, ws: &mut WebSocketWrite<WriteStream>, command: Command) -> Flow {
        match command {
            Command::Send(out) => self.send(ws, out).await,
            Command::Control(opcode, payload) => {
                let mut frame = Frame::new(true, opcode, None, Payload::Owned(payload));
                frame.mask();
                if let Err(e) = ws.write_frame(frame).await {
                    return Flow::Stop(format!("write failed: {e}"));
                }
                if opcode == OpCode::Close {
                    return Flow::Stop("server closed the WebSocket".into());
                }
                Flow::Continue
            }
            Command::Raw(mut payload, done) => {
                let mut frame = Frame::binary(Payload::BorrowedMut(&mut payload));
                frame.mask();
                let result = ws
                    .write_frame(frame)
                    .await
                    .map_err(|e| ClientError::WebSocket(format!("write failed: {e}")));
                let failed = result.is_err();
                let _ = done.send(result);
                if failed {
                    return Flow::Stop("write failed".into());
                }
                Flow::Continue
            }
            Command::Close(code, reason) => {
                if !ws.is_closed() {
                    let mut frame = Frame::close(code, reason.as_bytes());
                    frame.mask();
                    let _ = ws.write_frame(frame).await;
                }
                Flow::Stop("connection closed by client".into())
            }
        }
    }

    async fn send(&mut self, ws: &mut WebSocketWrite<WriteStream>, mut out: Outgoing) -> Flow {
        let first_id = self.next_id;
        let limit = self.shared.send_limit.load(Ordering::Acquire);
        let mut id = first_id;
        for (i, part) in out.parts.iter_mut().enumerate() {
            let correlation_id = if i == 0 { out.correlation_id } else { first_id };
            let size = part.finish(correlation_id, id, &mut self.scratch);
            if size > limit {
                let error = || ClientError::MessageTooLarge { size, limit };
                if let Some(w) = out.waiter {
                    let _ = w.tx.send(Err(error()));
                }
                if let Some(written) = out.written {
                    let _ = written.send(Err(error()));
                }
                return Flow::Continue;
            }
            id += 2;
        }
        self.next_id = id;
        if let Some(w) = out.waiter {
            let mut st = self.shared.lock();
            if w.tx.is_closed() {
                // The caller gave up (timeout or cancellation) before the request went out.
                return Flow::Continue;
            }
            if let Some(reason) = &st.closed {
                let _ = w.tx.send(Err(ClientError::Closed(reason.clone())));
                return Flow::Continue;
            }
            w.slot.store(first_id, Ordering::Release);
            st.pending.insert(
                first_id,
                Pending {
                    parts: Vec::new(),
                    error: None,
                    tx: w.tx,
                    undecoded: w.undecoded,
                    landing: w.landing,
                    landed: None,
                },
            );
        }
        for part in &mut out.parts {
            if let Err(e) = ws.write_frame(part.frame()).await {
                let reason = format!("write failed: {e}");
                self.shared
                    .fail_pending(first_id, ClientError::WebSocket(reason.clone()));
                if let Some(written) = out.written {
                    let _ = written.send(Err(ClientError::WebSocket(reason.clone())));
                }
                return Flow::Stop(reason);
            }
        }
        if let Some(written) = out.written {
            let _ = written.send(Ok(first_id));
        }
        Flow::Continue
    }
}

async fn reader_task(
    mut ws: FrameReader<ReadHalf<Stream>>,
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
) {
    let mut close_code = 1000;
    let reason = loop {
        let mut lander = ClientLander { shared: &shared };
        match ws.next_landing(&mut lander).await {
            Ok(Incoming::Landed(landed)) => handle_landed(landed, &commands, &shared),
            Ok(Incoming::Binary(payload)) => {
                if let Flow::Stop(reason) = handle_message(payload, &commands, &shared) {
                    // The session is over; keep reading until the WebSocket closes.
                    shared.mark_closed(reason);
                }
            }
            Ok(Incoming::Text) => {
                tracing::warn!("ignoring a text WebSocket message (JSON encoding is not supported)")
            }
            Ok(Incoming::Ping(payload)) => {
                let pong = Command::Control(OpCode::Pong, payload.to_vec());
                if commands.send(pong).await.is_err() {
                    break "WebSocket: writer stopped".to_string();
                }
            }
            Ok(Incoming::Close(payload)) => {
                // Echo the close (RFC 6455 section 5.5.1); the writer stops after it.
                let _ = commands
                    .send(Command::Control(OpCode::Close, payload.to_vec()))
                    .await;
                break close_reason(&payload);
            }
            Err(e) => {
                close_code = e.close_code();
                break format!("WebSocket: {e}");
            }
        }
    };
    shared.mark_closed(reason);
    // `send_replace`, not `send`: with no receiver subscribed yet, `send` would store nothing
    // and a later `close()` would wait its whole timeout for a socket already gone.
    shared.socket_closed.send_replace(true);
    let _ = commands.try_send(Command::Close(close_code, String::new()));
}

fn close_reason(payload: &[u8]) -> String {
    if payload.len() < 2 {
        return "server closed the WebSocket".to_string();
    }
    let code = u16::from_be_bytes([payload[0], payload[1]]);
    let text = String::from_utf8_lossy(&payload[2..]);
    if text.is_empty() {
        format!("server closed the WebSocket (code {code})")
    } else {
        format!("server closed the WebSocket (code {code}: {text})")
    }
}

/// Queues a single message built by the reader (Pong, Acknowledge).
fn reply(commands: &mpsc::Sender<Command>, body: Body, protocol: i32, correlation_id: i64) {
    let info = body.info();
    let part = Encoded::new(
        &body,
        protocol,
        info.message_type,
        flags::FIN,
        Compression::None,
    );
    let command = Command::Send(Outgoing {
        parts: vec![part],
        correlation_id,
        waiter: None,
        written: None,
    });
    if commands.try_send(command).is_err() {
        tracing::warn!("cannot queue a {} reply: writer busy or stopped", info.name);
    }
}

fn handle_message(payload: Bytes, commands: &mpsc::Sender<Command>, shared: &Shared) -> Flow {
    let Some(payload) = take_undecoded(payload, commands, shared) else {
        return Flow::Continue;
    };
    let options = DecodeOptions {
        compression_negotiated: shared.compression.load(Ordering::Acquire),
        max_decompressed_size: shared.max_decompressed_size,
    };
    let message = match decode_message(&payload, &options) {
        Ok(message) => message,
        Err(error) => {
            tracing::warn!(
                len = payload.len(),
                header = ?error.header(),
                "undecodable message from server: {error}"
            );
            if let Some(header) = error.header() {
                let finished = {
                    let mut st = shared.lock();
                    match st.pending.get_mut(&header.correlation_id) {
                        Some(p) => {
                            p.error.get_or_insert(ClientError::Decode(format!(
                                "message {} (protocol {}, type {}): {error}",
                                header.message_id, header.protocol, header.message_type
                            )));
                            if header.message_flags & flags::FIN != 0 {
                                st.pending.remove(&header.correlation_id)
                            } else {
                                None
                            }
                        }
                        None => None,
                    }
                };
                if let Some(p) = finished {
                    deliver(p);
                }
            }
            return Flow::Continue;
        }
    };
    let header = message.header;
    if matches!(message.body, Body::Acknowledge(_)) {
        // We never ask for acknowledgements; an Acknowledge must not end a wait.
        tracing::debug!(
            correlation_id = header.correlation_id,
            "Acknowledge received"
        );
        return Flow::Continue;
    }
    if message.wants_acknowledge() {
        reply(
            commands,
            Acknowledge {}.into(),
            header.protocol,
            header.message_id,
        );
    }
    let message = if header.correlation_id != 0 {
        let (finished, unclaimed) = {
            let mut st = shared.lock();
            match st.pending.get_mut(&header.correlation_id) {
                Some(p) => {
                    let fin = message.is_final();
                    p.parts.push(AnswerPart::Decoded(Box::new(message)));
                    let finished = if fin {
                        st.pending.remove(&header.correlation_id)
                    } else {
                        None
                    };
                    (finished, None)
                }
                None => (None, Some(message)),
            }
        };
        if let Some(p) = finished {
            deliver(p);
        }
        match unclaimed {
            Some(message) => message,
            None => return Flow::Continue,
        }
    } else {
        message
    };
    match &message.body {
        Body::Core(CoreMessage::Ping(_)) => {
            let pong = Pong {
                current_date_time: etp_protocol::now_micros(),
            };
            reply(commands, pong.into(), 0, header.message_id);
            return Flow::Continue;
        }
        Body::Core(CoreMessage::CloseSession(close)) => {
            let reason = format!("server closed the session: {}", close.reason);
            tracing::debug!("{reason}");
            let _ = commands.try_send(Command::Close(1000, String::new()));
            return Flow::Stop(reason);
        }
        Body::ProtocolException(pe) if header.correlation_id == 0 => {
            let error = pe.error.as_ref().or_else(|| pe.errors.values().next());
            if let Some(e) = error {
                tracing::warn!(
                    code = %ErrorCode::from_code(e.code),
                    "unsolicited ProtocolException from server: {}",
                    e.message
                );
            }
        }
        _ => {}
    }
    match shared.notifications.try_send(message) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(m)) => tracing::warn!(
            protocol = m.header.protocol,
            message_type = m.header.message_type,
            "notification queue full; message dropped"
        ),
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
    Flow::Continue
}

/// Hands `payload` undecoded to the request it answers when that request asked for it
/// ([`Client::request_undecoded`]) and the message can go undecoded; returns the payload
/// when it must be decoded here instead.
fn take_undecoded(
    payload: Bytes,
    commands: &mpsc::Sender<Command>,
    shared: &Shared,
) -> Option<Bytes> {
    if shared.undecoded_waiting.load(Ordering::Acquire) == 0 {
        return Some(payload);
    }
    let mut reader = Reader::new(&payload);
    let Ok(header) = MessageHeader::decode(&mut reader) else {
        return Some(payload);
    };
    let must_decode = header.correlation_id == 0
        || header.message_flags & (flags::COMPRESSED | flags::HEADER_EXTENSION) != 0
        || etp_protocol::message::never_compressed(header.protocol, header.message_type);
    if must_decode {
        return Some(payload);
    }
    let body_start = reader.position();
    let finished = {
        let mut st = shared.lock();
        match st.pending.get_mut(&header.correlation_id) {
            Some(p) if p.undecoded => {
                p.parts.push(AnswerPart::Undecoded(UndecodedMessage {
                    header,
                    payload,
                    body_start,
                }));
                if header.message_flags & flags::FIN != 0 {
                    st.pending.remove(&header.correlation_id)
                } else {
                    None
                }
            }
            _ => return Some(payload),
        }
    };
    acknowledge_if_asked(commands, &header);
    if let Some(p) = finished {
        deliver(p);
    }
    None
}

/// Answers with an Acknowledge when the message's header asks for one.
fn acknowledge_if_asked(commands: &mpsc::Sender<Command>, header: &MessageHeader) {
    if header.message_flags & flags::ACKNOWLEDGE != 0 {
        reply(
            commands,
            Acknowledge {}.into(),
            header.protocol,
            header.message_id,
        );
    }
}

fn deliver(pending: Pending) {
    let Pending {
        parts,
        error,
        tx,
        landing,
        landed,
        ..
    } = pending;
    let result = match error {
        Some(error) => {
            // Given up before the caller hears of the failure.
            drop((landing, landed));
            Err(error)
        }
        None => Ok(Answer {
            parts,
            landing: match (landed, landing) {
                (Some(landed), _) => LandingOutcome::Landed(landed),
                (None, Some(placement)) => LandingOutcome::Unused(placement),
                (None, None) => LandingOutcome::None,
            },
        }),
    };
    let _ = tx.send(result);
}

/// Finds, for the reader, the placement an answer's values can be received into.
struct ClientLander<'a> {
    shared: &'a Shared,
}

impl Lander for ClientLander<'_> {
    fn active(&self) -> bool {
        self.shared.landings_waiting.load(Ordering::Acquire) > 0
    }

    fn land(&mut self, head: &[u8], len: usize) -> Option<Landing> {
        let mut reader = Reader::new(head);
        let header = MessageHeader::decode(&mut reader).ok()?;
        let plain = header.message_flags & (flags::COMPRESSED | flags::HEADER_EXTENSION) == 0;
        let single = header.message_flags & flags::FIN != 0;
        let array_answer = header.protocol == GetDataSubarraysResponse::INFO.protocol
            && (header.message_type == GetDataSubarraysResponse::INFO.message_type
                || header.message_type == GetDataArraysResponse::INFO.message_type);
        if header.correlation_id == 0 || !plain || !single || !array_answer {
            return None;
        }
        let body_at = reader.position();
        let layout = values_layout(reader.rest(), len.checked_sub(body_at)?)?;
        let mut st = self.shared.lock();
        let pending = st.pending.get_mut(&header.correlation_id)?;
        let fits = pending
            .landing
            .as_ref()
            .is_some_and(|p| p.len() == layout.values_len && p.transport() == layout.transport);
        if !fits || pending.landed.is_some() {
            return None;
        }
        Some(Landing {
            placement: pending.landing.take()?,
            values_at: body_at + layout.values_at,
        })
    }
}

/// Hands an answer whose values landed to the request it answers.
fn handle_landed(landed: Landed, commands: &mpsc::Sender<Command>, shared: &Shared) {
    let Landed {
        head,
        tail,
        landing,
    } = landed;
    let mut reader = Reader::new(&head);
    // The lander decoded this very header before the values were read.
    let Ok(header) = MessageHeader::decode(&mut reader) else {
        return;
    };
    let body_head = head.slice(reader.position()..);
    acknowledge_if_asked(commands, &header);
    let finished = {
        let mut st = shared.lock();
        let Some(p) = st.pending.get_mut(&header.correlation_id) else {
            // The request timed out or was cancelled while its values were read.
            return;
        };
        p.landed = Some(LandedMessage {
            header,
            body_head,
            tail,
            placement: landing.placement,
        });
        // Landed answers are single messages (FIN).
        st.pending.remove(&header.correlation_id)
    };
    shared.landed.fetch_add(1, Ordering::Relaxed);
    if let Some(p) = finished {
        deliver(p);
    }
}

#[cfg(test)]
impl MaskedBody {
    /// The message this body makes with its placeholder header, unmasked.
    pub(crate) fn unmasked(&self) -> Vec<u8> {
        let encoded = &self.encoded;
        let mut out = encoded.buf[encoded.start..].to_vec();
        mask::mask_in_place(&mut out[encoded.body_at - encoded.start..], self.key, 0);
        out
    }
}

#[cfg(test)]
mod tests {
    use etp_protocol::types::protocol::core::Ping;
    use etp_protocol::types::protocol::data_array::PutDataSubarrays;
    use fastwebsockets::{Role, WebSocket};

    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 131 + 17) as u8).collect()
    }

    /// Writes `encoded` as the writer does and returns the payload the server reads.
    async fn through_websocket(
        write: &mut WebSocketWrite<WriteHalf<tokio::io::DuplexStream>>,
        server: &mut WebSocket<tokio::io::DuplexStream>,
        mut encoded: Encoded,
        message_id: i64,
    ) -> Vec<u8> {
        let mut scratch = Vec::new();
        let len = encoded.finish(0, message_id, &mut scratch);
        // Large frames do not fit the pipe: read while writing.
        let (written, read) = tokio::join!(write.write_frame(encoded.frame()), async {
            server.read_frame().await
        });
        written.expect("frame written");
        let frame = read.expect("frame read");
        assert!(frame.fin);
        assert_eq!(frame.opcode, OpCode::Binary);
        assert_eq!(frame.payload.len(), len);
        frame.payload.to_vec()
    }

    #[tokio::test]
    async fn frames_of_masked_bodies_and_plain_messages_unmask_to_the_message() {
        let (client_end, server_end) = tokio::io::duplex(64 * 1024);
        let (_, mut write) =
            WebSocket::after_handshake(client_end, Role::Client).split(tokio::io::split);
        write.set_auto_apply_mask(false);
        let mut server = WebSocket::after_handshake(server_end, Role::Server);
        // Payload lengths in all three frame length forms (7 bits, 16 bits as 126, 64
        // bits as 127), none a multiple of 4 or 8; headers of 5 to 12 bytes (messageIds
        // of 1 to 8 varint bytes) move the body across every mask phase.
        for body_len in [0, 1, 7, 109, 1_001, 65_529, 70_003] {
            for message_id in [2, 64, 8_190, 1 << 20, 1 << 40] {
                let body = sample(body_len);
                let mut masked = MaskedBody::new(PutDataSubarrays::INFO, body_len);
                masked.extend(&body[..body_len / 3]);
                masked.extend(&body[body_len / 3..]);
                let payload =
                    through_websocket(&mut write, &mut server, masked.encoded, message_id).await;
                let mut expected = Vec::new();
                MessageHeader {
                    protocol: PutDataSubarrays::INFO.protocol,
                    message_type: PutDataSubarrays::INFO.message_type,
                    correlation_id: 0,
                    message_id,
                    message_flags: flags::FIN,
                }
                .encode(&mut expected);
                expected.extend_from_slice(&body);
                assert_eq!(payload, expected, "body {body_len}, message {message_id}");
            }
        }
        // Messages encoded as usual are masked by the writer, once.
        let ping: Body = Ping {
            current_date_time: 1_234_567,
        }
        .into();
        let plain = Encoded::new(&ping, 0, 8, flags::FIN, Compression::None);
        let payload = through_websocket(&mut write, &mut server, plain, 6).await;
        let message =
            decode_message(&Bytes::from(payload), &DecodeOptions::default()).expect("a message");
        assert_eq!(message.header.message_id, 6);
        assert_eq!(message.body, ping);
    }
}
