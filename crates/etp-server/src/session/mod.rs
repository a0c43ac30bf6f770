//! One ETP session per WebSocket connection, run as an actor with an explicit state machine:
//! awaiting RequestSession → open → closing → closed (01-core.md §1).
//!
//! The connection task reads and decodes messages and keeps the session state; a writer
//! task owns the socket's write half and assigns message ids (odd, from 1) at the moment a
//! message is written, so ids always increase in send order. Requests of negotiated
//! protocols run concurrently on their own tasks, bounded per session; responses go through
//! the writer queue with their correlation ids.

pub mod history;
mod negotiate;
mod outgoing;
mod vectored;
mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use etp_protocol::codec::Map;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::message::{DecodeOptions, Message, MessageError, Role, decode_message, flags};
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::{ErrorInfo, MessageHeader};
use etp_protocol::types::protocol::core::{
    Acknowledge, AuthorizeResponse, CloseSession, CoreMessage, Pong, ProtocolException,
};
use tokio::sync::{Semaphore, mpsc};
use tracing::{Instrument, debug, info, info_span, warn};

pub use history::SessionHistory;
pub use negotiate::{Negotiated, ServerOffer, TypePattern, negotiate};
pub use outgoing::{EncodedBody, Outgoing, Responder, SessionClosed, chunk_by_size};
pub(crate) use wire::{WireEvent, WireReader, run_writer};

use crate::handlers::data_array::read_put_message;
use crate::handlers::{Request, RequestBody};
use crate::state::{ConnectionInfo, ServerState, SessionInfo};

/// Where the session is in its life.
#[derive(Debug)]
enum State {
    /// WebSocket open, no RequestSession yet.
    AwaitingRequestSession,
    /// OpenSession sent.
    Open(Arc<SessionContext>),
    /// CloseSession sent or received; nothing more is processed.
    Closing,
}

/// What a protocol handler knows about the session it serves.
#[derive(Debug)]
pub struct SessionContext {
    /// The session id sent in OpenSession.
    pub session_id: etp_protocol::Uuid,
    /// The negotiation outcome (protocols, limits, compression).
    pub negotiated: Negotiated,
    /// The client's application name, for logs.
    pub client_application: String,
    /// The open transaction (Transaction, protocol 18), if any; every store access of
    /// the session goes through it (see [`crate::access`]).
    pub transaction: crate::access::TransactionSlot,
}

/// A received message: decoded, or a put read with its values left in the payload
/// ([`read_put_message`]).
struct Incoming {
    header: MessageHeader,
    extension: Option<etp_protocol::types::datatypes::MessageHeaderExtension>,
    body: RequestBody,
}

impl Incoming {
    /// Reads `payload` as `decode_message` does, except for the puts of DataArray, whose
    /// `double` and `float` values stay in the payload. Errors are `decode_message`'s.
    fn read(payload: &Bytes, options: &DecodeOptions) -> Result<Incoming, MessageError> {
        if let Some((header, view)) = read_put_message(payload) {
            return Ok(Incoming {
                header,
                extension: None,
                body: RequestBody::Put(view),
            });
        }
        decode_message(payload, options).map(|m| Incoming {
            header: m.header,
            extension: m.extension,
            body: RequestBody::Decoded(m.body),
        })
    }

    /// The message in the generated types (copying values a view left in the payload).
    fn into_message(self) -> Message {
        Message {
            header: self.header,
            extension: self.extension,
            body: self.body.into_body(),
        }
    }

    fn is_final(&self) -> bool {
        self.header.message_flags & flags::FIN != 0
    }

    fn wants_acknowledge(&self) -> bool {
        self.header.message_flags & flags::ACKNOWLEDGE != 0
    }
}

/// A multipart request being collected until its FIN part arrives.
struct PendingSet {
    first: Message,
    rest: Vec<Message>,
    bytes: usize,
    started: Instant,
}

/// Runs one session to completion on an upgraded WebSocket.
///
/// Everything the session does (this actor, its writer task, the handler tasks of its
/// requests, the history writes) runs inside a `session` span carrying the session id and
/// the peer, so every log line says which session it belongs to.
pub(crate) async fn run<S>(
    ws: fastwebsockets::WebSocket<S>,
    conn: ConnectionInfo,
    server: Arc<ServerState>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let info = server.sessions.register(&conn);
    let peer = conn.peer.map(|p| p.to_string()).unwrap_or_default();
    let span = info_span!("session", id = %info.id, peer = %peer);
    serve(ws, server, info).instrument(span).await;
}

async fn serve<S>(
    ws: fastwebsockets::WebSocket<S>,
    server: Arc<ServerState>,
    info: Arc<SessionInfo>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let hard_limit = server.config.max_message_size as usize;
    // The writer task also writes large messages to the connection directly (vectored).
    let direct = std::cell::RefCell::new(None);
    let (reader, writer) = ws.split(|stream| {
        let (read, write) = tokio::io::split(stream);
        let write = vectored::SharedWrite::new(write);
        *direct.borrow_mut() = Some(write.clone());
        (read, write)
    });
    let Some(direct) = direct.into_inner() else {
        // `split` calls the closure exactly once, before returning.
        return;
    };
    let (tx, rx) = mpsc::channel::<Outgoing>(256);
    let in_flight = Arc::new(Semaphore::new(server.config.max_requests_in_flight));
    let writer_task = tokio::spawn(
        run_writer(
            writer,
            direct,
            rx,
            wire::Busy::new(in_flight.clone(), server.config.max_requests_in_flight),
            server.config.compression_level,
            server.clone(),
            info.clone(),
        )
        .in_current_span(),
    );
    let mut actor = Actor {
        server: server.clone(),
        info: info.clone(),
        tx: tx.clone(),
        state: State::AwaitingRequestSession,
        opened: None,
        open_recorded: false,
        pending: HashMap::new(),
        in_flight,
        send_budget: Arc::new(Semaphore::new(
            (server.config.send_buffer_bytes as usize).min(Semaphore::MAX_PERMITS),
        )),
    };
    let mut wire = WireReader::new(reader, hard_limit, tx.clone());
    let mut shutdown = server.shutdown.subscribe();
    let close_reason = actor.run_loop(&mut wire, &mut shutdown).await;
    info.close(&close_reason);
    // A transaction left open when the session ends is rolled back (13-transaction.md §2).
    if let Some(ctx) = actor.opened.take()
        && let Some(id) = ctx.transaction.abort().await
    {
        info!(transaction = %id, "open transaction rolled back at session end");
    }
    let open_recorded = actor.open_recorded;
    drop(actor);
    drop(tx);
    // The writer drains what handlers already queued, then closes the socket.
    let _ = writer_task.await;
    // Written after the writer is done so the counters are final, and before the session
    // leaves the registry so a graceful shutdown waits for it.
    if let Some(history) = &server.history
        && open_recorded
    {
        history.record_close(info.to_record()).await;
    }
    server.sessions.unregister(&info);
    info!(reason = %close_reason, "session closed");
}

struct Actor {
    server: Arc<ServerState>,
    info: Arc<SessionInfo>,
    tx: mpsc::Sender<Outgoing>,
    state: State,
    /// The session context once open, kept past closing to end its transaction.
    opened: Option<Arc<SessionContext>>,
    /// Whether the session's record was queued at OpenSession (only then is a final one
    /// written).
    open_recorded: bool,
    pending: HashMap<i64, PendingSet>,
    in_flight: Arc<Semaphore>,
    /// Bytes of responses queued for the writer (`send_buffer_bytes`).
    send_budget: Arc<Semaphore>,
}

impl Actor {
    async fn run_loop<R>(
        &mut self,
        wire: &mut WireReader<R>,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
    ) -> String
    where
        R: tokio::io::AsyncRead + Unpin,
    {
        let config = &self.server.config;
        let request_session_deadline = tokio::time::Instant::now()
            + std::time::Duration::from_secs(config.request_session_timeout_secs);
        let idle = std::time::Duration::from_secs(config.idle_timeout_secs);
        let mut idle_deadline = tokio::time::Instant::now() + idle;
        loop {
            let deadline = match self.state {
                State::AwaitingRequestSession => request_session_deadline,
                _ => idle_deadline,
            };
            let event = tokio::select! {
                event = wire.next() => event,
                // `wait_for` also sees a shutdown that began before this session subscribed.
                () = async { drop(shutdown.wait_for(|stopping| *stopping).await) } => {
                    self.close_session("server shutting down").await;
                    return "server shutdown".into();
                }
                _ = tokio::time::sleep_until(deadline) => {
                    return match self.state {
                        State::AwaitingRequestSession => {
                            self.send_error(0, 0, ErrorCode::ETIMED_OUT, "no RequestSession within RequestSessionTimeoutPeriod").await;
                            self.close_socket(1000, "request session timeout").await;
                            "request session timeout".into()
                        }
                        _ => {
                            self.close_session("idle timeout").await;
                            "idle timeout".into()
                        }
                    };
                }
            };
            idle_deadline = tokio::time::Instant::now() + idle;
            match event {
                WireEvent::Message(payload) => {
                    self.info.count_in(payload.len());
                    if let Some(reason) = self.on_payload(payload).await {
                        return reason;
                    }
                }
                WireEvent::Text => {
                    self.send_error(
                        0,
                        0,
                        ErrorCode::EINVALID_MESSAGE,
                        "text messages (JSON encoding) are not supported; use binary",
                    )
                    .await;
                }
                WireEvent::TooLarge(limit) => {
                    self.close_socket(1009, "message too big").await;
                    return format!("message larger than {limit} bytes");
                }
                WireEvent::Closed(reason) => return reason,
            }
        }
    }

    /// Handles one complete WebSocket message; returns a close reason when the session ends.
    async fn on_payload(&mut self, payload: Bytes) -> Option<String> {
        let (negotiated_gzip, session_limit) = match &self.state {
            State::Open(ctx) => (
                ctx.negotiated.gzip,
                ctx.negotiated.max_message_size as usize,
            ),
            _ => (false, self.server.config.max_message_size as usize),
        };
        if payload.len() > session_limit {
            // Over the negotiated size but within what the socket accepts: refuse this
            // message and keep the session (the peer broke the limit it agreed to).
            let (protocol, id) = peek_header(&payload);
            self.send_error(protocol, id, ErrorCode::EMAXSIZE_EXCEEDED, &format!(
                "message of {} bytes exceeds the negotiated MaxWebSocketMessagePayloadSize of {session_limit}",
                payload.len()
            )).await;
            return None;
        }
        let options = DecodeOptions {
            compression_negotiated: negotiated_gzip,
            max_decompressed_size: self.server.config.max_decompressed_size as usize,
        };
        let message = match Incoming::read(&payload, &options) {
            Ok(m) => m,
            Err(e) => {
                let (protocol, correlation) =
                    e.header().map_or((0, 0), |h| (h.protocol, h.message_id));
                self.server.metrics.count_error(e.error_code().code());
                debug!(error = %e, "undecodable message");
                self.send_error(protocol, correlation, e.error_code(), &e.to_string())
                    .await;
                return None;
            }
        };
        self.server.metrics.count_in(
            message.header.protocol,
            message.header.message_type,
            payload.len(),
        );
        if message.wants_acknowledge()
            && !matches!(message.body, RequestBody::Decoded(Body::Acknowledge(_)))
        {
            self.send(Outgoing::message(
                message.header.protocol,
                1001,
                message.header.message_id,
                Acknowledge {}.into(),
                true,
            ))
            .await;
        }
        match std::mem::replace(&mut self.state, State::Closing) {
            State::AwaitingRequestSession => {
                self.state = State::AwaitingRequestSession;
                self.before_open(message.into_message()).await
            }
            State::Open(ctx) => {
                self.state = State::Open(ctx.clone());
                self.when_open(ctx, message).await
            }
            State::Closing => None,
        }
    }

    async fn before_open(&mut self, message: Message) -> Option<String> {
        let id = message.header.message_id;
        match message.body {
            Body::Core(CoreMessage::RequestSession(request)) => {
                let session_id = self.info.id;
                let offer = self.server.offer();
                match negotiate(&request, &offer, session_id, crate::now_micros()) {
                    Ok(negotiated) => {
                        let open = negotiated.open_session.clone();
                        let protocols: Vec<i32> = negotiated.protocols.keys().copied().collect();
                        self.info.opened(
                            &request.application_name,
                            &request.application_version,
                            &protocols,
                        );
                        info!(
                            client = %request.application_name,
                            version = %request.application_version,
                            protocols = ?protocols,
                            gzip = negotiated.gzip,
                            max_message_size = negotiated.max_message_size,
                            "session opened"
                        );
                        if negotiated.data_objects.is_empty() {
                            // Not fatal (01-core.md §4.2, as the DevKit): the client may
                            // still use types-agnostic requests such as GetDataspaces.
                            warn!(
                                declared = ?request
                                    .supported_data_objects
                                    .iter()
                                    .map(|d| d.qualified_type.as_str())
                                    .collect::<Vec<_>>(),
                                "none of the client's data object types is supported (ENOSUPPORTEDDATAOBJECTTYPES)"
                            );
                        }
                        let ctx = Arc::new(SessionContext {
                            session_id,
                            negotiated,
                            client_application: request.application_name.to_string(),
                            transaction: Default::default(),
                        });
                        self.opened = Some(ctx.clone());
                        self.state = State::Open(ctx);
                        if let Some(history) = &self.server.history {
                            history.record_open(self.info.to_record());
                            self.open_recorded = true;
                        }
                        self.send(Outgoing::message(0, 2, id, open.into(), true))
                            .await;
                        None
                    }
                    Err(error) => {
                        warn!(client = %request.application_name, error = %error.message, "session refused");
                        self.send_error_info(0, id, error).await;
                        self.close_socket(1000, "session refused").await;
                        Some("negotiation failed".into())
                    }
                }
            }
            Body::Core(CoreMessage::Authorize(_)) => {
                // Authentication is off: every authorization is accepted.
                let reply = AuthorizeResponse {
                    success: true,
                    challenges: Default::default(),
                };
                self.send(Outgoing::message(0, 7, id, reply.into(), true))
                    .await;
                None
            }
            Body::Core(CoreMessage::CloseSession(close)) => {
                self.close_socket(1000, "").await;
                Some(format!("client closed before opening: {}", close.reason))
            }
            Body::ProtocolException(pe) => {
                debug!(?pe, "client sent ProtocolException");
                None
            }
            Body::Acknowledge(_) => None,
            other => {
                let info = other.info();
                self.send_error(
                    message.header.protocol,
                    id,
                    ErrorCode::EINVALID_STATE,
                    &format!("{} is not allowed before RequestSession", info.name),
                )
                .await;
                None
            }
        }
    }

    async fn when_open(&mut self, ctx: Arc<SessionContext>, message: Incoming) -> Option<String> {
        let header = message.header;
        let RequestBody::Decoded(body) = &message.body else {
            // A DataArray put: a request like any other below.
            return self.when_open_request(ctx, message).await;
        };
        match body {
            Body::Core(core) => {
                return match core {
                    CoreMessage::CloseSession(close) => {
                        self.state = State::Closing;
                        self.close_socket(1000, "").await;
                        Some(format!("client closed the session: {}", close.reason))
                    }
                    CoreMessage::Ping(_) => {
                        let pong = Pong {
                            current_date_time: crate::now_micros(),
                        };
                        self.send(Outgoing::message(
                            0,
                            9,
                            header.message_id,
                            pong.into(),
                            true,
                        ))
                        .await;
                        None
                    }
                    CoreMessage::Pong(_) => None,
                    CoreMessage::Authorize(_) => {
                        let reply = AuthorizeResponse {
                            success: true,
                            challenges: Default::default(),
                        };
                        self.send(Outgoing::message(
                            0,
                            7,
                            header.message_id,
                            reply.into(),
                            true,
                        ))
                        .await;
                        None
                    }
                    CoreMessage::RequestSession(_) => {
                        self.send_error(
                            0,
                            header.message_id,
                            ErrorCode::EINVALID_STATE,
                            "the session is already open",
                        )
                        .await;
                        None
                    }
                    other => {
                        self.send_error(
                            0,
                            header.message_id,
                            ErrorCode::EINVALID_MESSAGETYPE,
                            &format!("{} is not sent to a server", other.info().name),
                        )
                        .await;
                        None
                    }
                };
            }
            Body::ProtocolException(pe) => {
                debug!(?pe, "client sent ProtocolException");
                return None;
            }
            Body::Acknowledge(_) => return None,
            _ => {}
        }
        self.when_open_request(ctx, message).await
    }

    /// A message of a negotiated protocol, once open: a request, or a part of one.
    async fn when_open_request(
        &mut self,
        ctx: Arc<SessionContext>,
        message: Incoming,
    ) -> Option<String> {
        let header = message.header;
        // Continuation of a multipart request (later parts carry the first part's id).
        if header.correlation_id != 0 {
            let Some(set) = self.pending.get_mut(&header.correlation_id) else {
                self.send_error(
                    header.protocol,
                    header.correlation_id,
                    ErrorCode::EINVALID_STATE,
                    &format!(
                        "message {} continues unknown message set {}",
                        header.message_id, header.correlation_id
                    ),
                )
                .await;
                return None;
            };
            let fin = message.is_final();
            let message = message.into_message();
            set.bytes += message.body.encoded_len();
            set.rest.push(message);
            if set.bytes > self.server.config.max_decompressed_size as usize {
                self.pending.remove(&header.correlation_id);
                self.send_error(
                    header.protocol,
                    header.correlation_id,
                    ErrorCode::EMAXSIZE_EXCEEDED,
                    "multipart request too large",
                )
                .await;
            } else if fin && let Some(set) = self.pending.remove(&header.correlation_id) {
                self.dispatch(ctx, set.first.header, set.first.body.into(), set.rest)
                    .await;
            }
            return None;
        }

        let info = message.body.info();
        let Some(&role) = ctx.negotiated.protocols.get(&header.protocol) else {
            self.send_error(
                header.protocol,
                header.message_id,
                ErrorCode::EUNSUPPORTED_PROTOCOL,
                &format!(
                    "protocol {} was not negotiated in this session",
                    header.protocol
                ),
            )
            .await;
            return None;
        };
        if !info.receivable_by(role) {
            self.send_error(
                header.protocol,
                header.message_id,
                ErrorCode::EINVALID_MESSAGETYPE,
                &format!("{} is not sent to a {role}", info.name),
            )
            .await;
            return None;
        }
        if !message.is_final() {
            if !info.multipart {
                self.send_error(
                    header.protocol,
                    header.message_id,
                    ErrorCode::EINVALID_MESSAGE,
                    &format!("{} cannot be sent in several parts", info.name),
                )
                .await;
                return None;
            }
            self.expire_pending();
            if self.pending.len() >= MAX_CONCURRENT_MULTIPART {
                self.send_error(
                    header.protocol,
                    header.message_id,
                    ErrorCode::EMULTIPART_CANCELLED,
                    "too many multipart requests in flight",
                )
                .await;
                return None;
            }
            // Puts read as views are not multipart (`info.multipart` above).
            let message = message.into_message();
            let bytes = message.body.encoded_len();
            self.pending.insert(
                header.message_id,
                PendingSet {
                    first: message,
                    rest: Vec::new(),
                    bytes,
                    started: Instant::now(),
                },
            );
            return None;
        }
        self.dispatch(ctx, header, message.body, Vec::new()).await;
        None
    }

    fn expire_pending(&mut self) {
        let timeout = std::time::Duration::from_secs(MULTIPART_TIMEOUT_SECS);
        self.pending
            .retain(|_, set| set.started.elapsed() < timeout);
    }

    /// Runs the protocol handler for a complete request on its own task.
    async fn dispatch(
        &mut self,
        ctx: Arc<SessionContext>,
        header: MessageHeader,
        body: RequestBody,
        rest: Vec<Message>,
    ) {
        let Some(handler) = self.server.handlers.get(header.protocol) else {
            self.send_error(
                header.protocol,
                header.message_id,
                ErrorCode::EUNSUPPORTED_PROTOCOL,
                "protocol not implemented",
            )
            .await;
            return;
        };
        // Waiting here stops reading from the socket: TCP backpressure on a client that
        // pipelines more than the session allows.
        let Ok(permit) = self.in_flight.clone().acquire_owned().await else {
            return;
        };
        let responder = Responder::new(
            self.tx.clone(),
            header.protocol,
            header.message_id,
            ctx.negotiated.max_message_size as usize,
            ctx.negotiated.gzip,
        )
        .with_send_budget(
            self.send_budget.clone(),
            self.server.config.send_buffer_bytes as usize,
        );
        let request = Request {
            header,
            body,
            continuation: rest,
        };
        let metrics = self.server.metrics.clone();
        let started = Instant::now();
        let message_type = header.message_type;
        // A child of the session span (the current one here).
        let span = info_span!(
            "request",
            protocol = header.protocol,
            message_type,
            correlation_id = header.message_id
        );
        tokio::spawn(
            async move {
                handler.handle(ctx, request, responder).await;
                metrics.observe_latency(header.protocol, message_type, started.elapsed());
                drop(permit);
            }
            .instrument(span),
        );
    }

    async fn send(&self, outgoing: Outgoing) {
        // A closed writer means the socket is gone; the read loop notices on its own.
        let _ = self.tx.send(outgoing).await;
    }

    async fn send_error(&self, protocol: i32, correlation_id: i64, code: ErrorCode, message: &str) {
        self.send_error_info(
            protocol,
            correlation_id,
            ErrorInfo {
                message: message.to_owned().into(),
                code: code.code(),
            },
        )
        .await;
    }

    async fn send_error_info(&self, protocol: i32, correlation_id: i64, error: ErrorInfo) {
        self.server.metrics.count_error(error.code);
        let pe = ProtocolException {
            error: Some(error),
            errors: Map::new(),
        };
        self.send(Outgoing::message(
            protocol,
            1000,
            correlation_id,
            pe.into(),
            true,
        ))
        .await;
    }

    /// Sends CloseSession, then closes the WebSocket.
    async fn close_session(&mut self, reason: &str) {
        if matches!(self.state, State::Open(_) | State::AwaitingRequestSession) {
            let close = CloseSession {
                reason: reason.to_owned().into(),
            };
            self.send(Outgoing::message(0, 5, 0, close.into(), true))
                .await;
        }
        self.state = State::Closing;
        self.close_socket(1000, reason).await;
    }

    async fn close_socket(&mut self, code: u16, reason: &str) {
        self.state = State::Closing;
        self.send(Outgoing::Close {
            code,
            reason: reason.to_owned(),
        })
        .await;
    }
}

/// Multipart request sets one session may have open at once (`MaxConcurrentMultipart`).
pub const MAX_CONCURRENT_MULTIPART: usize = 100;
/// Seconds a multipart request may take between its first and last part.
pub const MULTIPART_TIMEOUT_SECS: u64 = 300;

/// Best-effort protocol and message id of a payload whose body will not be decoded.
fn peek_header(payload: &[u8]) -> (i32, i64) {
    use etp_protocol::codec::Avro;
    let mut r = etp_protocol::codec::Reader::new(payload);
    MessageHeader::decode(&mut r).map_or((0, 0), |h| (h.protocol, h.message_id))
}

/// The role the server plays in a protocol it implements.
pub fn server_role(protocol: i32) -> Role {
    match protocol {
        0 => Role::Server,
        1 => Role::Producer,
        _ => Role::Store,
    }
}
