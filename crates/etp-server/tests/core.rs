//! Core (protocol 0) over a real server, one test per rule of 00-wire.md and 01-core.md:
//! session state machine, negotiation, error codes for malformed input, size limits,
//! compression, multipart requests, concurrency, acknowledgements, timeouts, shutdown, the
//! session history and the per-session log spans.
//!
//! Most tests speak raw WebSocket ([`Raw`]) because the Rust client refuses to break the
//! protocol (sending before RequestSession, oversize messages, bad compression); each
//! checks the exact ProtocolException code and correlation, and that the session survives
//! where the notes allow it (a Ping afterwards still gets its Pong).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::TestServer;
use etp_protocol::Uuid;
use etp_protocol::codec::Map;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::message::{
    Compression, DecodeOptions, Message, Role, decode_message, encode_message, flags,
};
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::object::{DataObject, Dataspace, PutResponse, Resource};
use etp_protocol::types::datatypes::{
    DataValue, MessageHeader, SupportedDataObject, SupportedProtocol, Version,
};
use etp_protocol::types::protocol::core::{
    Acknowledge, Authorize, CloseSession, CoreMessage, OpenSession, Ping, RequestSession,
};
use etp_protocol::types::protocol::dataspace::{
    DataspaceMessage, GetDataspaces, GetDataspacesResponse, PutDataspaces, PutDataspacesResponse,
};
use etp_protocol::types::protocol::store::{
    GetDataObjects, PutDataObjects, PutDataObjectsResponse, StoreMessage,
};
use etp_server::handlers::{HandlerFuture, ProtocolHandler, Registry, Request};
use etp_server::session::{Responder, SessionContext};
use etp_server::{Server, ServerConfig};
use fastwebsockets::{Frame, OpCode, Payload, WebSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest any single expected event may take before the test fails (a liveness bound for
/// hung servers, not a performance assertion).
const PATIENCE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Raw WebSocket client
// ---------------------------------------------------------------------------------------

/// What the server sent.
#[derive(Debug)]
enum Event {
    /// An ETP message and the size of its WebSocket payload.
    Message(Box<Message>, usize),
    /// A close frame with this code.
    Closed(u16),
}

/// A WebSocket client that sends whatever bytes a test wants. Client message ids are even
/// and increasing, as the protocol wants, unless a test writes its own header.
struct Raw {
    ws: WebSocket<TcpStream>,
    next_id: i64,
}

impl Raw {
    /// Opens the WebSocket (subprotocol etp12.energistics.org); no ETP message yet.
    async fn connect(addr: SocketAddr) -> Raw {
        let mut stream = TcpStream::connect(addr).await.expect("TCP connect");
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: etp12.energistics.org\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send upgrade");
        // Read the response head byte by byte so no WebSocket byte is consumed with it.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let byte = stream.read_u8().await.expect("upgrade response");
            head.push(byte);
            assert!(head.len() < 8192, "upgrade response head too long");
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
        let mut ws = WebSocket::after_handshake(stream, fastwebsockets::Role::Client);
        ws.set_max_message_size(64 << 20);
        Raw { ws, next_id: 2 }
    }

    /// Connects and opens a session with `request`; returns the OpenSession.
    async fn open_with(addr: SocketAddr, request: RequestSession) -> (Raw, OpenSession) {
        let mut raw = Raw::connect(addr).await;
        let id = raw.send(request).await;
        let (message, _) = raw.recv_message().await;
        assert_eq!(message.header.correlation_id, id, "OpenSession correlation");
        match message.body {
            Body::Core(CoreMessage::OpenSession(open)) => (raw, open),
            other => panic!("expected OpenSession, got {other:?}"),
        }
    }

    /// Connects and opens a session asking for `protocols` (all as store).
    async fn open(addr: SocketAddr, protocols: &[i32]) -> (Raw, OpenSession) {
        Raw::open_with(addr, request_session(protocols)).await
    }

    fn take_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 2;
        id
    }

    async fn send_bytes(&mut self, payload: Vec<u8>) {
        self.ws
            .write_frame(Frame::binary(Payload::Owned(payload)))
            .await
            .expect("write frame");
    }

    /// Sends `body` as a single message (FIN, correlationId 0); returns its message id.
    async fn send(&mut self, body: impl Into<Body>) -> i64 {
        self.send_with(body.into(), 0, flags::FIN, Compression::None)
            .await
    }

    /// Sends `body` with explicit correlation id, flags and compression.
    async fn send_with(
        &mut self,
        body: Body,
        correlation_id: i64,
        message_flags: i32,
        compression: Compression,
    ) -> i64 {
        let id = self.take_id();
        let info = body.info();
        let header = MessageHeader {
            protocol: info.protocol,
            message_type: info.message_type,
            correlation_id,
            message_id: id,
            message_flags,
        };
        let mut payload = Vec::new();
        encode_message(&header, None, &body, compression, &mut payload);
        self.send_bytes(payload).await;
        id
    }

    /// The next ETP message or close frame.
    async fn recv(&mut self) -> Event {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.read_frame())
                .await
                .expect("the server answered in time")
                .expect("readable frame");
            match frame.opcode {
                OpCode::Binary => {
                    let payload = Bytes::copy_from_slice(&frame.payload);
                    let options = DecodeOptions {
                        compression_negotiated: true,
                        max_decompressed_size: 256 << 20,
                    };
                    let message = decode_message(&payload, &options).expect("decodable message");
                    return Event::Message(Box::new(message), payload.len());
                }
                OpCode::Close => {
                    let code = frame
                        .payload
                        .get(..2)
                        .map_or(1005, |b| u16::from_be_bytes([b[0], b[1]]));
                    return Event::Closed(code);
                }
                OpCode::Text => panic!("the server sent a text frame"),
                _ => continue,
            }
        }
    }

    async fn recv_message(&mut self) -> (Message, usize) {
        match self.recv().await {
            Event::Message(message, size) => (*message, size),
            Event::Closed(code) => panic!("expected a message, the server closed ({code})"),
        }
    }

    /// Expects a single-error ProtocolException with `code`, correlated to `correlation_id`
    /// in `protocol`, with FIN.
    async fn expect_error(&mut self, code: ErrorCode, protocol: i32, correlation_id: i64) {
        let (message, _) = self.recv_message().await;
        let Body::ProtocolException(pe) = &message.body else {
            panic!("expected ProtocolException {code:?}, got {message:?}");
        };
        let error = pe.error.as_ref().expect("the single `error` form");
        assert!(pe.errors.is_empty(), "exactly one of error/errors: {pe:?}");
        assert_eq!(
            error.code,
            code.code(),
            "expected {code:?}, got {}: {}",
            error.code,
            error.message
        );
        assert_eq!(message.header.message_type, 1000);
        assert_eq!(message.header.protocol, protocol, "protocol of {pe:?}");
        assert_eq!(
            message.header.correlation_id, correlation_id,
            "correlation of {pe:?}"
        );
        assert!(message.is_final());
    }

    /// The session is alive: a Ping gets its Pong.
    async fn ping(&mut self) {
        let id = self.send(ping()).await;
        let (message, _) = self.recv_message().await;
        assert!(
            matches!(message.body, Body::Core(CoreMessage::Pong(_))),
            "expected Pong, got {message:?}"
        );
        assert_eq!(message.header.correlation_id, id);
        assert!(message.is_final());
    }

    async fn expect_closed(&mut self, code: u16) {
        match self.recv().await {
            Event::Closed(c) => assert_eq!(c, code, "close code"),
            Event::Message(m, _) => panic!("expected close {code}, got {m:?}"),
        }
    }
}

fn ping() -> Ping {
    Ping {
        current_date_time: etp_server::now_micros(),
    }
}

fn v12() -> Version {
    Version {
        major: 1,
        minor: 2,
        revision: 0,
        patch: 0,
    }
}

fn requested(protocol: i32, role: &str) -> SupportedProtocol {
    SupportedProtocol {
        protocol,
        protocol_version: v12(),
        role: role.into(),
        protocol_capabilities: Map::new(),
    }
}

fn declared(types: &[&str]) -> Vec<SupportedDataObject> {
    types
        .iter()
        .map(|t| SupportedDataObject {
            qualified_type: t.to_string().into(),
            data_object_capabilities: Map::new(),
        })
        .collect()
}

fn request_session(protocols: &[i32]) -> RequestSession {
    RequestSession {
        application_name: "core-test".into(),
        application_version: "1".into(),
        client_instance_id: Uuid::new_v4(),
        requested_protocols: protocols.iter().map(|&p| requested(p, "store")).collect(),
        supported_data_objects: declared(&["eml20.*", "resqml20.*"]),
        supported_compression: Default::default(),
        supported_formats: vec!["xml".into()].into(),
        current_date_time: etp_server::now_micros(),
        ..Default::default()
    }
}

/// A request session with the client's `MaxWebSocketMessagePayloadSize`.
fn request_session_limited(protocols: &[i32], max_message_size: i64) -> RequestSession {
    let mut request = request_session(protocols);
    request.endpoint_capabilities.insert(
        "MaxWebSocketMessagePayloadSize".into(),
        DataValue::long(max_message_size),
    );
    request
}

fn header_bytes(protocol: i32, message_type: i32, correlation: i64, id: i64, fl: i32) -> Vec<u8> {
    use etp_protocol::codec::Avro;
    let mut out = Vec::new();
    MessageHeader {
        protocol,
        message_type,
        correlation_id: correlation,
        message_id: id,
        message_flags: fl,
    }
    .encode(&mut out);
    out
}

fn put_dataspaces(paths: &[String]) -> PutDataspaces {
    let mut dataspaces = Map::new();
    for (i, path) in paths.iter().enumerate() {
        dataspaces.insert(
            i.to_string().into(),
            Dataspace {
                uri: format!("eml:///dataspace('{path}')").into(),
                path: path.clone().into(),
                ..Default::default()
            },
        );
    }
    PutDataspaces { dataspaces }
}

// ---------------------------------------------------------------------------------------
// A server with test handlers
// ---------------------------------------------------------------------------------------

/// Store (4) stand-in: answers PutDataObjects with every key of every part it was handed,
/// so tests see how the session assembled a multipart request. Logs one line, so the log
/// span test has something emitted from a handler task.
struct KeyEcho;

impl ProtocolHandler for KeyEcho {
    fn protocol(&self) -> i32 {
        4
    }

    fn handle(
        self: Arc<Self>,
        _session: Arc<SessionContext>,
        request: Request,
        responder: Responder,
    ) -> HandlerFuture {
        Box::pin(async move {
            tracing::info!(
                parts = 1 + request.continuation.len(),
                "key echo handler ran"
            );
            let mut success = Map::new();
            let first = request.body.into_body();
            let bodies =
                std::iter::once(&first).chain(request.continuation.iter().map(|m| &m.body));
            for body in bodies {
                if let Body::Store(StoreMessage::PutDataObjects(put)) = body {
                    for key in put.data_objects.keys() {
                        success.insert(key.clone(), PutResponse::default());
                    }
                }
            }
            let _ = responder.reply(PutDataObjectsResponse { success }).await;
        })
    }
}

/// A server built with [`Server::bind_with`] and [`KeyEcho`].
struct EchoServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl EchoServer {
    async fn start() -> EchoServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().expect("literal address"),
            data_dir: dir.path().to_path_buf(),
            shutdown_grace_secs: 2,
            ..ServerConfig::default()
        };
        let mut handlers = Registry::default();
        handlers.register(Arc::new(KeyEcho));
        let server = Server::bind_with(config, handlers)
            .await
            .expect("server starts");
        let addr = server.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        EchoServer {
            addr,
            stop: Some(stop),
            _dir: dir,
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn put_objects(keys: &[&str]) -> PutDataObjects {
    let mut data_objects = Map::new();
    for key in keys {
        data_objects.insert(
            key.to_string().into(),
            DataObject {
                resource: Resource {
                    uri: format!("eml:///witsml21.Well({key})").into(),
                    ..Default::default()
                },
                format: "xml".into(),
                data: Bytes::from_static(b"<Well/>"),
                ..Default::default()
            },
        );
    }
    PutDataObjects {
        data_objects,
        prune_contained_objects: false,
    }
}

// ---------------------------------------------------------------------------------------
// Session state machine
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn messages_before_request_session_are_einvalid_state_and_the_session_can_still_open() {
    let server = TestServer::start().await;
    let mut raw = Raw::connect(server.addr).await;
    let id = raw.send(ping()).await;
    raw.expect_error(ErrorCode::EINVALID_STATE, 0, id).await;
    let id = raw.send(GetDataspaces::default()).await;
    raw.expect_error(ErrorCode::EINVALID_STATE, 24, id).await;
    // Authorize is allowed before RequestSession (authorization is off: accepted).
    let id = raw
        .send(Authorize {
            authorization: "Bearer x".into(),
            supplemental_authorization: Map::new(),
        })
        .await;
    let (message, _) = raw.recv_message().await;
    assert_eq!(message.header.correlation_id, id);
    match message.body {
        Body::Core(CoreMessage::AuthorizeResponse(r)) => {
            assert!(r.success && r.challenges.is_empty())
        }
        other => panic!("expected AuthorizeResponse, got {other:?}"),
    }

    let id = raw.send(request_session(&[24])).await;
    let (message, _) = raw.recv_message().await;
    assert!(matches!(
        message.body,
        Body::Core(CoreMessage::OpenSession(_))
    ));
    assert_eq!(message.header.correlation_id, id);
    raw.ping().await;
}

#[tokio::test]
async fn a_second_request_session_is_einvalid_state_and_the_session_survives() {
    let server = TestServer::start().await;
    let (mut raw, _) = Raw::open(server.addr, &[24]).await;
    let id = raw.send(request_session(&[24])).await;
    raw.expect_error(ErrorCode::EINVALID_STATE, 0, id).await;
    raw.ping().await;
}

#[tokio::test]
async fn requests_of_protocols_not_negotiated_are_eunsupported_protocol() {
    let server = TestServer::start().await;
    let (mut raw, open) = Raw::open(server.addr, &[24]).await;
    assert_eq!(
        open.supported_protocols
            .iter()
            .map(|p| p.protocol)
            .collect::<Vec<_>>(),
        [24]
    );
    // Store is a real protocol, just not part of this session.
    let id = raw
        .send(GetDataObjects {
            uris: Map::new(),
            format: "xml".into(),
        })
        .await;
    raw.expect_error(ErrorCode::EUNSUPPORTED_PROTOCOL, 4, id)
        .await;
    // A protocol number the schema does not define at all.
    let id = raw.take_id();
    raw.send_bytes(header_bytes(77, 1, 0, id, flags::FIN)).await;
    raw.expect_error(ErrorCode::EUNSUPPORTED_PROTOCOL, 77, id)
        .await;
    raw.ping().await;
    // The negotiated protocol still works.
    let id = raw.send(GetDataspaces::default()).await;
    let (message, _) = raw.recv_message().await;
    assert_eq!(message.header.correlation_id, id);
    assert!(matches!(
        message.body,
        Body::Dataspace(DataspaceMessage::GetDataspacesResponse(_))
    ));
}

#[tokio::test]
async fn negotiation_drops_what_it_cannot_serve() {
    let server = TestServer::start().await;
    let mut request = request_session(&[]);
    let mut old = requested(24, "store");
    old.protocol_version.minor = 1;
    request.requested_protocols = vec![
        requested(99, "store"),    // no such protocol
        requested(24, "customer"), // the server is the store, not the customer
        old,                       // ETP 1.1
        requested(24, "Store"),    // accepted: roles match case-insensitively
    ];
    let (mut raw, open) = Raw::open_with(server.addr, request).await;
    assert_eq!(open.supported_protocols.len(), 1, "{open:?}");
    let accepted = &open.supported_protocols[0];
    assert_eq!(
        (accepted.protocol, accepted.role.as_str()),
        (24, "Store"),
        "the role is echoed as requested"
    );
    assert_eq!(accepted.protocol_version, v12());
    raw.ping().await;
}

#[tokio::test]
async fn no_protocol_in_common_is_enosupportedprotocols_then_close() {
    let server = TestServer::start().await;
    let mut raw = Raw::connect(server.addr).await;
    let mut request = request_session(&[]);
    request.requested_protocols = vec![requested(99, "store"), requested(24, "customer")];
    let id = raw.send(request).await;
    raw.expect_error(ErrorCode::ENOSUPPORTEDPROTOCOLS, 0, id)
        .await;
    raw.expect_closed(1000).await;
}

#[tokio::test]
async fn open_session_answers_xml_and_lists_data_object_wildcards() {
    let server = TestServer::start().await;
    let mut request = request_session(&[24]);
    request.supported_formats = vec!["json".into(), "xml".into()].into();
    // pyetp declares `resqml20.` without the '*'; it must not upset negotiation.
    request.supported_data_objects = declared(&["resqml20.", "eml20.*"]);
    let (mut raw, open) = Raw::open_with(server.addr, request).await;
    assert_eq!(open.supported_formats, ["xml"]);
    assert!(!open.supported_data_objects.is_empty());
    for object in &open.supported_data_objects {
        assert!(
            object.qualified_type.ends_with(".*"),
            "{}",
            object.qualified_type
        );
        for flag in ["SupportsGet", "SupportsPut", "SupportsDelete"] {
            assert!(
                matches!(
                    object.data_object_capabilities.get(flag),
                    Some(DataValue {
                        item: etp_protocol::types::datatypes::DataValueItem::Boolean(true)
                    })
                ),
                "{flag} of {object:?}"
            );
        }
    }
    let types: Vec<&str> = open
        .supported_data_objects
        .iter()
        .map(|o| o.qualified_type.as_str())
        .collect();
    assert!(types.contains(&"resqml20.*") && types.contains(&"eml20.*"));
    assert_eq!(open.supported_compression, "", "gzip was not offered");
    raw.ping().await;

    // Formats without xml: ENOSUPPORTEDFORMATS, then close.
    let mut raw = Raw::connect(server.addr).await;
    let mut request = request_session(&[24]);
    request.supported_formats = vec!["json".into()].into();
    let id = raw.send(request).await;
    raw.expect_error(ErrorCode::ENOSUPPORTEDFORMATS, 0, id)
        .await;
    raw.expect_closed(1000).await;
}

// ---------------------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_or_misdirected_message_types_are_einvalid_messagetype() {
    let server = TestServer::start().await;
    let (mut raw, _) = Raw::open(server.addr, &[24]).await;
    let id = raw.take_id();
    raw.send_bytes(header_bytes(0, 99, 0, id, flags::FIN)).await;
    raw.expect_error(ErrorCode::EINVALID_MESSAGETYPE, 0, id)
        .await;
    let id = raw.take_id();
    raw.send_bytes(header_bytes(24, 99, 0, id, flags::FIN))
        .await;
    raw.expect_error(ErrorCode::EINVALID_MESSAGETYPE, 24, id)
        .await;
    // Messages only a store sends.
    let id = raw.send(GetDataspacesResponse::default()).await;
    raw.expect_error(ErrorCode::EINVALID_MESSAGETYPE, 24, id)
        .await;
    let id = raw.send(OpenSession::default()).await;
    raw.expect_error(ErrorCode::EINVALID_MESSAGETYPE, 0, id)
        .await;
    raw.ping().await;
}

#[tokio::test]
async fn malformed_messages_are_einvalid_message_and_the_session_survives() {
    let server = TestServer::start().await;
    let (mut raw, _) = Raw::open(server.addr, &[24]).await;

    // Headers that cannot be read cannot be correlated: protocol 0, correlationId 0.
    for payload in [
        vec![],
        vec![0x00, 0x02], // truncated header
        vec![0xff; 11],   // overlong varint
    ] {
        raw.send_bytes(payload).await;
        raw.expect_error(ErrorCode::EINVALID_MESSAGE, 0, 0).await;
    }

    // A Ping whose timestamp varint never ends.
    let id = raw.take_id();
    let mut payload = header_bytes(0, 8, 0, id, flags::FIN);
    payload.extend_from_slice(&[0xff, 0xff, 0xff]);
    raw.send_bytes(payload).await;
    raw.expect_error(ErrorCode::EINVALID_MESSAGE, 0, id).await;

    // Truncated body: PutDataspaces announcing one map entry and ending there.
    let id = raw.take_id();
    let mut payload = header_bytes(24, 3, 0, id, flags::FIN);
    payload.push(0x02);
    raw.send_bytes(payload).await;
    raw.expect_error(ErrorCode::EINVALID_MESSAGE, 24, id).await;

    // Bytes after a complete body (the codec is strict: 00-wire.md §3 leaves it open).
    let id = raw.take_id();
    let mut payload = Vec::new();
    encode_message(
        &MessageHeader {
            protocol: 0,
            message_type: 8,
            correlation_id: 0,
            message_id: id,
            message_flags: flags::FIN,
        },
        None,
        &ping().into(),
        Compression::None,
        &mut payload,
    );
    payload.extend_from_slice(b"\xde\xad");
    raw.send_bytes(payload).await;
    raw.expect_error(ErrorCode::EINVALID_MESSAGE, 0, id).await;

    // A text frame (JSON encoding) is refused the same way.
    raw.ws
        .write_frame(Frame::text(Payload::Borrowed(b"[{}, {}]")))
        .await
        .unwrap();
    raw.expect_error(ErrorCode::EINVALID_MESSAGE, 0, 0).await;

    raw.ping().await;
}

// ---------------------------------------------------------------------------------------
// Sizes and compression
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_message_over_the_negotiated_size_is_emaxsize_exceeded_and_the_session_survives() {
    let server = TestServer::start_with(|c| c.max_message_size = 100_000).await;
    let (mut raw, open) = Raw::open_with(server.addr, request_session_limited(&[24], 10_000)).await;
    assert_eq!(
        open.endpoint_capabilities["MaxWebSocketMessagePayloadSize"].as_i64(),
        Some(10_000)
    );
    let id = raw.take_id();
    let mut payload = header_bytes(24, 1, 0, id, flags::FIN);
    payload.resize(20_000, 0);
    raw.send_bytes(payload).await;
    raw.expect_error(ErrorCode::EMAXSIZE_EXCEEDED, 24, id).await;
    raw.ping().await;
}

#[tokio::test]
async fn a_message_over_the_socket_limit_closes_with_1009() {
    let server = TestServer::start_with(|c| c.max_message_size = 100_000).await;
    let (mut raw, _) = Raw::open(server.addr, &[24]).await;
    let mut payload = header_bytes(24, 1, 0, 4, flags::FIN);
    payload.resize(150_000, 0);
    raw.send_bytes(payload).await;
    raw.expect_closed(1009).await;

    // The same through fragments that are each small: the whole message counts.
    let (mut raw, _) = Raw::open(server.addr, &[24]).await;
    let chunk = vec![0u8; 40_000];
    raw.ws
        .write_frame(Frame::new(
            false,
            OpCode::Binary,
            None,
            Payload::Owned(chunk.clone()),
        ))
        .await
        .unwrap();
    for fin in [false, false, true] {
        raw.ws
            .write_frame(Frame::new(
                fin,
                OpCode::Continuation,
                None,
                Payload::Owned(chunk.clone()),
            ))
            .await
            .unwrap();
    }
    raw.expect_closed(1009).await;
}

#[tokio::test]
async fn responses_fit_in_the_clients_message_size() {
    let server = TestServer::start().await;
    let client = server.client().await;
    // About 13 KB of dataspace records: more than one 4 KB message.
    let paths: Vec<String> = (0..100)
        .map(|i| format!("{i:03}-{}", "x".repeat(100)))
        .collect();
    let created: PutDataspacesResponse = client.request_one(put_dataspaces(&paths)).await.unwrap();
    assert_eq!(created.success.len(), 100);

    let limit = 4_096;
    let (mut raw, open) = Raw::open_with(server.addr, request_session_limited(&[24], limit)).await;
    assert_eq!(
        open.endpoint_capabilities["MaxWebSocketMessagePayloadSize"].as_i64(),
        Some(limit)
    );
    let id = raw.send(GetDataspaces::default()).await;
    let mut listed = 0;
    let mut parts = 0;
    loop {
        let (message, size) = raw.recv_message().await;
        assert!(size as i64 <= limit, "a {size}-byte message");
        assert_eq!(message.header.correlation_id, id);
        let Body::Dataspace(DataspaceMessage::GetDataspacesResponse(part)) = message.body else {
            panic!("expected GetDataspacesResponse, got {:?}", message.body);
        };
        listed += part.dataspaces.len();
        parts += 1;
        if message.header.message_flags & flags::FIN != 0 {
            break;
        }
    }
    assert_eq!(listed, 100);
    assert!(parts > 1, "the answer was split");
    raw.ping().await;
}

#[tokio::test]
async fn compressed_messages_without_gzip_or_in_core_are_ecompression_notsupported() {
    let server = TestServer::start().await;
    let (mut raw, open) = Raw::open(server.addr, &[24]).await;
    assert_eq!(open.supported_compression, "");
    // A real gzip body, flagged: compression was never negotiated.
    let paths = vec!["z".repeat(500)];
    let id = raw
        .send_with(
            put_dataspaces(&paths).into(),
            0,
            flags::FIN,
            Compression::Gzip(6),
        )
        .await;
    raw.expect_error(ErrorCode::ECOMPRESSION_NOTSUPPORTED, 24, id)
        .await;
    raw.ping().await;

    // With gzip negotiated, Core still must never be compressed.
    let mut request = request_session(&[24]);
    request.supported_compression = vec!["gzip".into()].into();
    let (mut raw, open) = Raw::open_with(server.addr, request).await;
    assert_eq!(open.supported_compression, "gzip");
    let id = raw.take_id();
    // Refused on the header alone, before anything is inflated.
    let mut payload = header_bytes(0, 8, 0, id, flags::FIN | flags::COMPRESSED);
    payload.extend_from_slice(b"\x1f\x8b\x08\x00");
    raw.send_bytes(payload).await;
    raw.expect_error(ErrorCode::ECOMPRESSION_NOTSUPPORTED, 0, id)
        .await;
    raw.ping().await;
}

#[tokio::test]
async fn a_gzip_body_inflating_past_the_limit_is_einvalid_message() {
    let server = TestServer::start_with(|c| c.max_decompressed_size = 100_000).await;
    let mut request = request_session(&[24]);
    request.supported_compression = vec!["gzip".into()].into();
    let (mut raw, _) = Raw::open_with(server.addr, request).await;
    // One megabyte of a single letter: a few kilobytes on the wire.
    let paths = vec!["b".repeat(1 << 20)];
    let id = raw
        .send_with(
            put_dataspaces(&paths).into(),
            0,
            flags::FIN,
            Compression::Gzip(9),
        )
        .await;
    raw.expect_error(ErrorCode::EINVALID_MESSAGE, 24, id).await;
    raw.ping().await;
    // Under the limit, the same kind of message is fine.
    let paths = vec!["c".repeat(1_000)];
    let id = raw
        .send_with(
            put_dataspaces(&paths).into(),
            0,
            flags::FIN,
            Compression::Gzip(9),
        )
        .await;
    let (message, _) = raw.recv_message().await;
    assert_eq!(message.header.correlation_id, id);
    assert!(
        matches!(
            message.body,
            Body::Dataspace(DataspaceMessage::PutDataspacesResponse(_))
        ),
        "{message:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Multipart, concurrency, message ids, acknowledgements
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_multipart_request_is_assembled_and_answered_once() {
    let server = EchoServer::start().await;
    let (mut raw, _) = Raw::open(server.addr, &[4]).await;
    let first = raw
        .send_with(put_objects(&["a", "b"]).into(), 0, 0, Compression::None)
        .await;
    // Other traffic may interleave with the parts.
    raw.ping().await;
    raw.send_with(put_objects(&["c"]).into(), first, 0, Compression::None)
        .await;
    raw.send_with(
        put_objects(&["d"]).into(),
        first,
        flags::FIN,
        Compression::None,
    )
    .await;
    let (message, _) = raw.recv_message().await;
    assert_eq!(message.header.correlation_id, first);
    assert!(message.is_final());
    let Body::Store(StoreMessage::PutDataObjectsResponse(response)) = message.body else {
        panic!("expected PutDataObjectsResponse, got {:?}", message.body);
    };
    let keys: Vec<&str> = response.success.keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c", "d"]);

    // A continuation of a set that was never started.
    let id = raw
        .send_with(
            put_objects(&["e"]).into(),
            12_345,
            flags::FIN,
            Compression::None,
        )
        .await;
    raw.expect_error(ErrorCode::EINVALID_STATE, 4, 12_345).await;
    let _ = id;
    // A message type that cannot be multipart, sent without FIN.
    let id = raw
        .send_with(
            GetDataObjects {
                uris: Map::new(),
                format: "xml".into(),
            }
            .into(),
            0,
            0,
            Compression::None,
        )
        .await;
    raw.expect_error(ErrorCode::EINVALID_MESSAGE, 4, id).await;
    raw.ping().await;
}

#[tokio::test]
async fn two_hundred_requests_in_flight_get_their_own_answers_with_increasing_odd_ids() {
    let server = TestServer::start().await;
    let (mut raw, _) = Raw::open(server.addr, &[24]).await;
    let mut expected = std::collections::HashMap::new();
    for i in 0..200 {
        let id = if i % 2 == 0 {
            raw.send(ping()).await
        } else {
            raw.send(GetDataspaces::default()).await
        };
        expected.insert(id, i % 2 == 0);
    }
    let mut last_id = 1; // OpenSession
    while !expected.is_empty() {
        let (message, _) = raw.recv_message().await;
        let id = message.header.message_id;
        assert!(id % 2 == 1 && id > last_id, "id {id} after {last_id}");
        last_id = id;
        assert!(message.is_final());
        let is_ping = expected
            .remove(&message.header.correlation_id)
            .unwrap_or_else(|| panic!("unexpected correlation in {message:?}"));
        if is_ping {
            assert!(matches!(message.body, Body::Core(CoreMessage::Pong(_))));
        } else {
            assert!(matches!(
                message.body,
                Body::Dataspace(DataspaceMessage::GetDataspacesResponse(_))
            ));
        }
    }
}

#[tokio::test]
async fn server_message_ids_start_at_one_and_stay_odd_across_errors() {
    let server = TestServer::start().await;
    let mut raw = Raw::connect(server.addr).await;
    let mut ids = Vec::new();
    // An error before the session opens, the OpenSession, a Pong, an error.
    raw.send(ping()).await;
    ids.push(raw.recv_message().await.0.header.message_id);
    raw.send(request_session(&[24])).await;
    ids.push(raw.recv_message().await.0.header.message_id);
    raw.send(ping()).await;
    ids.push(raw.recv_message().await.0.header.message_id);
    raw.send_bytes(vec![0xff; 3]).await;
    ids.push(raw.recv_message().await.0.header.message_id);
    assert_eq!(ids, [1, 3, 5, 7]);
}

#[tokio::test]
async fn acknowledge_is_sent_first_when_asked_and_only_then() {
    let server = TestServer::start().await;
    let (mut raw, _) = Raw::open(server.addr, &[24]).await;
    let id = raw
        .send_with(
            ping().into(),
            0,
            flags::FIN | flags::ACKNOWLEDGE,
            Compression::None,
        )
        .await;
    let (ack, _) = raw.recv_message().await;
    assert!(matches!(ack.body, Body::Acknowledge(_)), "{ack:?}");
    assert_eq!(
        (
            ack.header.protocol,
            ack.header.message_type,
            ack.header.correlation_id
        ),
        (0, 1001, id)
    );
    assert!(ack.is_final());
    let (pong, _) = raw.recv_message().await;
    assert!(matches!(pong.body, Body::Core(CoreMessage::Pong(_))));
    assert_eq!(pong.header.correlation_id, id);

    // In another protocol, the Acknowledge carries that protocol.
    let id = raw
        .send_with(
            GetDataspaces::default().into(),
            0,
            flags::FIN | flags::ACKNOWLEDGE,
            Compression::None,
        )
        .await;
    let (ack, _) = raw.recv_message().await;
    assert_eq!(
        (
            ack.header.protocol,
            ack.header.message_type,
            ack.header.correlation_id
        ),
        (24, 1001, id)
    );
    let (response, _) = raw.recv_message().await;
    assert_eq!(response.header.correlation_id, id);

    // An Acknowledge asking for an Acknowledge, and a message without the flag: neither
    // is acknowledged, so the next message is the Pong.
    raw.send_with(
        Acknowledge {}.into(),
        0,
        flags::FIN | flags::ACKNOWLEDGE,
        Compression::None,
    )
    .await;
    raw.ping().await;
}

// ---------------------------------------------------------------------------------------
// Closing, timeouts, shutdown, restart
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn close_session_closes_the_socket_with_1000() {
    let server = TestServer::start().await;
    let (mut raw, _) = Raw::open(server.addr, &[24]).await;
    raw.send(CloseSession {
        reason: "bye".into(),
    })
    .await;
    // `recv` fails the test if the close takes longer than PATIENCE.
    raw.expect_closed(1000).await;
}

#[tokio::test]
async fn no_request_session_in_time_is_etimed_out_then_close() {
    // 5 s is the smallest RequestSessionTimeoutPeriod the configuration accepts (ETP minimum).
    let server = TestServer::start_with(|c| c.request_session_timeout_secs = 5).await;
    let mut raw = Raw::connect(server.addr).await;
    raw.expect_error(ErrorCode::ETIMED_OUT, 0, 0).await;
    raw.expect_closed(1000).await;
}

#[tokio::test]
async fn an_idle_session_gets_close_session_then_close() {
    let server = TestServer::start_with(|c| c.idle_timeout_secs = 1).await;
    let (mut raw, _) = Raw::open(server.addr, &[24]).await;
    let (message, _) = raw.recv_message().await;
    match message.body {
        Body::Core(CoreMessage::CloseSession(close)) => assert_eq!(close.reason, "idle timeout"),
        other => panic!("expected CloseSession, got {other:?}"),
    }
    assert_eq!(message.header.correlation_id, 0);
    raw.expect_closed(1000).await;
}

#[tokio::test]
async fn graceful_shutdown_sends_close_session_to_every_session() {
    let server = TestServer::start().await;
    let (mut open, _) = Raw::open(server.addr, &[24]).await;
    let mut waiting = Raw::connect(server.addr).await;
    let stopping = tokio::spawn(server.stop());
    for raw in [&mut open, &mut waiting] {
        let (message, _) = raw.recv_message().await;
        match message.body {
            Body::Core(CoreMessage::CloseSession(close)) => {
                assert_eq!(close.reason, "server shutting down")
            }
            other => panic!("expected CloseSession, got {other:?}"),
        }
        raw.expect_closed(1000).await;
    }
    tokio::time::timeout(PATIENCE, stopping)
        .await
        .expect("the server stops")
        .unwrap();
}

#[tokio::test]
async fn server_instance_id_survives_restarts_and_session_ids_do_not_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let (a, b) = (server.client().await, server.client().await);
    let instance = a.session().server_instance_id;
    assert_eq!(b.session().server_instance_id, instance);
    assert_ne!(a.session_id(), b.session_id());
    let first = a.session_id();
    a.close("done").await.unwrap();
    b.close("done").await.unwrap();
    server.stop().await;

    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let c = server.client().await;
    assert_eq!(c.session().server_instance_id, instance);
    assert_ne!(c.session_id(), first);
    c.close("done").await.unwrap();
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Session history and /sessions
// ---------------------------------------------------------------------------------------

/// GET over plain HTTP/1.1; returns the status and the body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut response))
        .await
        .expect("HTTP answer in time")
        .unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP head");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, body.to_owned())
}

async fn sessions_json(addr: SocketAddr, query: &str) -> Vec<serde_json::Value> {
    let (status, body) = http_get(addr, &format!("/sessions{query}")).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Writes session records straight into a store directory, as an earlier server would
/// have.
fn seed_history(data_dir: &Path, records: &[etp_store::SessionRecord]) {
    let store = etp_store::FjallStore::open(data_dir.join("store")).unwrap();
    use etp_store::Store as _;
    for record in records {
        store.put_session(record).unwrap();
    }
}

fn record(id: u8, opened_at: i64, closed_at: Option<i64>) -> etp_store::SessionRecord {
    etp_store::SessionRecord {
        id: [id; 16],
        application_name: "seeded".into(),
        application_version: "0".into(),
        peer_address: "10.0.0.1:5000".into(),
        protocols: vec![24],
        opened_at,
        closed_at,
        close_reason: closed_at.map(|_| "client closed the session: old".into()),
        messages_in: 3,
        messages_out: 4,
        bytes_in: 30,
        bytes_out: 40,
    }
}

#[tokio::test]
async fn sessions_are_recorded_and_listed_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let now = etp_server::now_micros();
    let day = 86_400_000_000;
    seed_history(
        dir.path(),
        &[
            record(1, now - 2 * day, None), // the server died during this one
            record(2, now - 40 * day, Some(now - 40 * day)), // past the retention
        ],
    );

    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let first = server.client().await;
    let first_id = first.session_id().to_string();
    let _: Vec<GetDataspacesResponse> = first.request_all(GetDataspaces::default()).await.unwrap();
    first.close("first done").await.unwrap();
    let second = server.client().await;
    let second_id = second.session_id().to_string();

    // The first session leaves the live list once its final record is written; the
    // client's close may return just before.
    let mut live = Vec::new();
    for _ in 0..100 {
        live = sessions_json(server.addr, "").await;
        if live.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0]["id"], second_id.as_str());

    let all = sessions_json(server.addr, "?all=true").await;
    let ids: Vec<&str> = all.iter().map(|s| s["id"].as_str().unwrap()).collect();
    let interrupted = Uuid([1; 16]).to_string();
    assert_eq!(ids, [second_id.as_str(), first_id.as_str(), &interrupted]);
    assert_eq!(all[0]["state"], "open");
    let closed = &all[1];
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["client_application"], "etp-client");
    assert!(
        closed["protocols"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(24)),
        "{closed}"
    );
    assert!(
        closed["close_reason"]
            .as_str()
            .unwrap()
            .contains("first done")
    );
    assert!(
        closed["closed_micros"].as_i64().unwrap() >= closed["connected_micros"].as_i64().unwrap()
    );
    assert!(closed["messages_in"].as_u64().unwrap() >= 3, "{closed}");
    assert!(closed["messages_out"].as_u64().unwrap() >= 2, "{closed}");
    assert!(closed["bytes_in"].as_u64().unwrap() > 0);
    assert!(closed["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(all[2]["state"], "interrupted");
    assert_eq!(all[2]["closed_micros"], serde_json::Value::Null);

    let limited = sessions_json(server.addr, "?all=true&limit=1").await;
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0]["id"], second_id.as_str());
    let (status, _) = http_get(server.addr, "/sessions?all=true&limit=many").await;
    assert_eq!(status, 400);

    drop(second);
    server.stop().await;

    // After a restart every session is history, the live one closed by the shutdown.
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    assert!(sessions_json(server.addr, "").await.is_empty());
    let all = sessions_json(server.addr, "?all=true").await;
    let ids: Vec<&str> = all.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [second_id.as_str(), first_id.as_str(), &interrupted]);
    assert_eq!(all[0]["state"], "closed");
    assert_eq!(all[0]["close_reason"], "server shutdown");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_opened_and_closed_concurrently_are_all_recorded_closed() {
    const SESSIONS: usize = 64;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let config = server.client_config();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..SESSIONS {
        let config = config.clone();
        tasks.spawn(async move {
            let client = etp_client::Client::connect(config).await.unwrap();
            let id = client.session_id().to_string();
            client.close(&format!("churn {i}")).await.unwrap();
            id
        });
    }
    let mut ids = Vec::new();
    while let Some(id) = tasks.join_next().await {
        ids.push(id.unwrap());
    }
    // The open and close records of every session share one writer; stopping the server
    // waits for what is queued.
    server.stop().await;

    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let all = sessions_json(server.addr, "?all=true").await;
    assert_eq!(all.len(), SESSIONS, "{all:?}");
    for id in &ids {
        let record = all
            .iter()
            .find(|s| s["id"] == id.as_str())
            .unwrap_or_else(|| panic!("session {id} not recorded"));
        assert_eq!(record["state"], "closed", "{record}");
        assert!(record["closed_micros"].as_i64().is_some(), "{record}");
        assert!(
            record["close_reason"].as_str().unwrap().contains("churn "),
            "{record}"
        );
    }
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Log spans
// ---------------------------------------------------------------------------------------

/// A `tracing` writer that keeps everything in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

// A current-thread runtime: the subscriber set for this thread sees every task.
#[tokio::test(flavor = "current_thread")]
async fn log_lines_carry_the_session_and_request_spans() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = EchoServer::start().await;
    let mut config = etp_client::ClientConfig::new(format!("ws://{}/", server.addr));
    config.requested_protocols = vec![(4, Role::Store)];
    let client = etp_client::Client::connect(config).await.unwrap();
    let session = client.session_id().to_string();
    let response = client.request(put_objects(&["k"])).await.unwrap();
    let request_id = response.request_id();
    client.close("done").await.unwrap();
    // The "session closed" line is written once the server has seen the close.
    let mut text = String::new();
    for _ in 0..100 {
        text = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
        if text.contains("session closed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let session_span = format!("session{{id={session} peer=127.0.0.1:");
    let line = |needle: &str| -> String {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} line in:\n{text}"))
            .to_owned()
    };
    for event in ["session opened", "session closed"] {
        assert!(line(event).contains(&session_span), "{}", line(event));
    }
    let handler = line("key echo handler ran");
    assert!(handler.contains(&session_span), "{handler}");
    assert!(
        handler.contains(&format!(
            "request{{protocol=4 message_type=2 correlation_id={request_id}}}"
        )),
        "{handler}"
    );
}
