//! A tiny scripted ETP server for the client tests (fastwebsockets + hyper).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use etp_protocol::codec::Map;
use etp_protocol::message::{
    Compression, DecodeOptions, Message, decode_message, encode_message, flags,
};
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::{
    ArrayOfString, DataValue, DataValueItem, ErrorInfo, MessageHeader,
};
use etp_protocol::types::protocol::core::{
    CloseSession, CoreMessage, OpenSession, Ping, Pong, ProtocolException,
};
use etp_protocol::types::protocol::store::{
    DeleteDataObjectsResponse, PutDataObjectsResponse, StoreMessage,
};
use etp_protocol::types::protocol::store_notification::UnsolicitedStoreNotifications;
use etp_protocol::{EtpString, Uuid};
use fastwebsockets::{FragmentCollector, Frame, OpCode, Payload, WebSocketError};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// What the server does beyond answering.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Refuse the upgrade with this status and body.
    pub refuse_http: Option<(u16, &'static str)>,
    /// Do not echo the subprotocol.
    pub no_subprotocol: bool,
    /// Answer RequestSession with ProtocolException ENOSUPPORTEDPROTOCOLS.
    pub refuse_session: bool,
    /// Accept gzip when offered.
    pub compression: bool,
    /// MaxWebSocketMessagePayloadSize advertised (0 = not advertised).
    pub max_message_size: i64,
    /// Right after OpenSession: send an ETP Ping.
    pub ping_after_open: bool,
    /// Right after OpenSession: send a notification (correlationId 0), asking for an
    /// Acknowledge when `ack` is set.
    pub notify_after_open: bool,
    /// Ask for an Acknowledge on the notification.
    pub ack: bool,
}

/// Everything the server received, decoded.
#[derive(Default)]
pub struct Recorded {
    pub messages: Mutex<Vec<Message>>,
    /// Headers of undecodable messages are not recorded; count them.
    pub undecodable: Mutex<usize>,
}

impl Recorded {
    pub fn snapshot(&self) -> Vec<Message> {
        self.messages.lock().unwrap().clone()
    }

    /// Waits up to 3 s for a received message satisfying `pred`.
    pub async fn wait_for(&self, pred: impl Fn(&Message) -> bool) -> Message {
        for _ in 0..300 {
            if let Some(m) = self.snapshot().into_iter().find(|m| pred(m)) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "expected message not received; got {:#?}",
            self.snapshot().iter().map(|m| m.header).collect::<Vec<_>>()
        );
    }
}

pub struct FakeServer {
    pub addr: SocketAddr,
    pub recorded: Arc<Recorded>,
}

impl FakeServer {
    pub fn url(&self) -> String {
        format!("ws://{}/etp", self.addr)
    }
}

pub async fn start(behaviour: Behaviour) -> FakeServer {
    start_with(behaviour, None).await
}

/// A `wss://` server with a fresh self-signed certificate for `localhost`; returns the
/// certificate as PEM.
pub async fn start_tls(behaviour: Behaviour) -> (FakeServer, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let pem = certified.cert.pem();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    (start_with(behaviour, Some(acceptor)).await, pem)
}

async fn start_with(behaviour: Behaviour, tls: Option<tokio_rustls::TlsAcceptor>) -> FakeServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let recorded = Arc::new(Recorded::default());
    let rec = recorded.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let behaviour = behaviour.clone();
            let rec = rec.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let service =
                    service_fn(move |req| handle_http(req, behaviour.clone(), rec.clone()));
                let builder = hyper::server::conn::http1::Builder::new();
                match tls {
                    Some(acceptor) => {
                        let Ok(stream) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .with_upgrades()
                            .await;
                    }
                    None => {
                        let _ = builder
                            .serve_connection(TokioIo::new(tcp), service)
                            .with_upgrades()
                            .await;
                    }
                }
            });
        }
    });
    FakeServer { addr, recorded }
}

async fn handle_http(
    mut req: Request<Incoming>,
    behaviour: Behaviour,
    recorded: Arc<Recorded>,
) -> Result<Response<Full<Bytes>>, WebSocketError> {
    if req
        .uri()
        .path()
        .ends_with("/.well-known/etp-server-capabilities")
    {
        let body = format!(
            r#"{{"applicationName": "fake", "applicationVersion": "1.0", "query": "{}", "supportedProtocols": []}}"#,
            req.uri().query().unwrap_or("")
        );
        return Ok(Response::builder()
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap());
    }
    if let Some((status, body)) = behaviour.refuse_http {
        return Ok(Response::builder()
            .status(status)
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap());
    }
    let offered = req
        .headers()
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert_eq!(offered, "etp12.energistics.org");
    let (response, fut) = fastwebsockets::upgrade::upgrade(&mut req)?;
    let (mut parts, _) = response.into_parts();
    if !behaviour.no_subprotocol {
        parts.headers.insert(
            "sec-websocket-protocol",
            "etp12.energistics.org".parse().unwrap(),
        );
    }
    tokio::spawn(async move {
        if let Ok(ws) = fut.await {
            let mut session = Session {
                ws: FragmentCollector::new(ws),
                next_id: 1,
                gzip: false,
                behaviour,
                recorded,
                batch: Vec::new(),
            };
            session.run().await;
        }
    });
    Ok(Response::from_parts(parts, Full::new(Bytes::new())))
}

struct Session {
    ws: FragmentCollector<TokioIo<hyper::upgrade::Upgraded>>,
    next_id: i64,
    gzip: bool,
    behaviour: Behaviour,
    recorded: Arc<Recorded>,
    /// Requests held back to be answered together in reverse order.
    batch: Vec<(i64, String)>,
}

fn header_for(
    body: &Body,
    correlation_id: i64,
    message_id: i64,
    message_flags: i32,
) -> MessageHeader {
    let info = body.info();
    MessageHeader {
        protocol: info.protocol,
        message_type: info.message_type,
        correlation_id,
        message_id,
        message_flags,
    }
}

fn delete_response(keys: &[&str]) -> Body {
    let mut deleted_uris = Map::new();
    for k in keys {
        deleted_uris.insert(
            k.to_string().into(),
            ArrayOfString {
                values: vec![format!("eml:///{k}").into()].into(),
            },
        );
    }
    DeleteDataObjectsResponse { deleted_uris }.into()
}

impl Session {
    fn take_id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 2;
        id
    }

    async fn write_with_id(
        &mut self,
        body: Body,
        protocol: Option<i32>,
        correlation_id: i64,
        id: i64,
        message_flags: i32,
    ) {
        let mut header = header_for(&body, correlation_id, id, message_flags);
        if let Some(p) = protocol {
            header.protocol = p;
        }
        let compression = if self.gzip {
            Compression::Gzip(6)
        } else {
            Compression::None
        };
        let mut out = Vec::new();
        encode_message(&header, None, &body, compression, &mut out);
        let _ = self
            .ws
            .write_frame(Frame::binary(Payload::Owned(out)))
            .await;
    }

    async fn write(&mut self, body: Body, correlation_id: i64, message_flags: i32) -> i64 {
        let id = self.take_id();
        self.write_with_id(body, None, correlation_id, id, message_flags)
            .await;
        id
    }

    async fn run(&mut self) {
        loop {
            let frame = match self.ws.read_frame().await {
                Ok(frame) => frame,
                Err(_) => return,
            };
            match frame.opcode {
                OpCode::Close => return,
                OpCode::Binary => {}
                _ => continue,
            }
            let payload = Bytes::from(frame.payload.to_vec());
            let options = DecodeOptions {
                compression_negotiated: self.gzip,
                ..Default::default()
            };
            let message = match decode_message(&payload, &options) {
                Ok(m) => m,
                Err(_) => {
                    *self.recorded.undecodable.lock().unwrap() += 1;
                    continue;
                }
            };
            self.recorded.messages.lock().unwrap().push(message.clone());
            if !self.handle(message).await {
                let _ = self.ws.write_frame(Frame::close(1000, b"")).await;
                return;
            }
        }
    }

    /// Returns false to close the connection.
    async fn handle(&mut self, message: Message) -> bool {
        let id = message.header.message_id;
        match message.body {
            Body::Core(CoreMessage::RequestSession(rs)) => {
                if self.behaviour.refuse_session {
                    let pe = ProtocolException {
                        error: Some(ErrorInfo {
                            message: "no protocol for you".into(),
                            code: 2,
                        }),
                        errors: Map::new(),
                    };
                    self.write(pe.into(), id, flags::FIN).await;
                    return false;
                }
                let gzip = self.behaviour.compression
                    && rs.supported_compression.iter().any(|c| c == "gzip");
                let mut endpoint_capabilities = Map::new();
                if self.behaviour.max_message_size > 0 {
                    endpoint_capabilities.insert(
                        "MaxWebSocketMessagePayloadSize".into(),
                        DataValue {
                            item: DataValueItem::Long(self.behaviour.max_message_size),
                        },
                    );
                }
                let open = OpenSession {
                    application_name: "fake-server".into(),
                    application_version: "1.0".into(),
                    server_instance_id: Uuid::new_v4(),
                    supported_protocols: rs.requested_protocols.clone(),
                    supported_data_objects: rs.supported_data_objects.clone(),
                    supported_compression: if gzip {
                        "gzip".into()
                    } else {
                        String::new().into()
                    },
                    supported_formats: vec!["xml".into()].into(),
                    current_date_time: 0,
                    earliest_retained_change_time: 0,
                    session_id: Uuid::new_v4(),
                    endpoint_capabilities,
                };
                self.write(open.into(), id, flags::FIN).await;
                self.gzip = gzip;
                if self.behaviour.ping_after_open {
                    self.write(
                        Ping {
                            current_date_time: 1,
                        }
                        .into(),
                        0,
                        flags::FIN,
                    )
                    .await;
                }
                if self.behaviour.notify_after_open {
                    let f = if self.behaviour.ack {
                        flags::FIN | flags::ACKNOWLEDGE
                    } else {
                        flags::FIN
                    };
                    self.write(UnsolicitedStoreNotifications::default().into(), 0, f)
                        .await;
                }
            }
            Body::Core(CoreMessage::Ping(_)) => {
                self.write(
                    Pong {
                        current_date_time: 2,
                    }
                    .into(),
                    id,
                    flags::FIN,
                )
                .await;
            }
            Body::Core(CoreMessage::CloseSession(_)) => return false,
            Body::Store(StoreMessage::DeleteDataObjects(req)) => {
                let Some((key, _)) = req.uris.first() else {
                    self.write(delete_response(&[]), id, flags::FIN).await;
                    return true;
                };
                let key = key.clone();
                return self.scripted(id, &key, &req.uris).await;
            }
            Body::Store(StoreMessage::PutDataObjects(_)) | Body::Store(StoreMessage::Chunk(_))
                if message.is_final() =>
            {
                let first = if message.header.correlation_id == 0 {
                    id
                } else {
                    message.header.correlation_id
                };
                self.write(PutDataObjectsResponse::default().into(), first, flags::FIN)
                    .await;
            }
            _ => {}
        }
        true
    }

    async fn scripted(&mut self, id: i64, key: &str, uris: &Map<EtpString>) -> bool {
        match key {
            "multipart" => {
                // Three parts with ascending ids, written out of order; FIN on the last written.
                let (a, b, c) = (self.take_id(), self.take_id(), self.take_id());
                self.write_with_id(delete_response(&["part1"]), None, id, b, 0)
                    .await;
                self.write_with_id(delete_response(&["part0"]), None, id, a, 0)
                    .await;
                self.write_with_id(delete_response(&["part2"]), None, id, c, flags::FIN)
                    .await;
            }
            "error" => {
                let pe = ProtocolException {
                    error: Some(ErrorInfo {
                        message: "no such object".into(),
                        code: 11,
                    }),
                    errors: Map::new(),
                };
                let pid = self.take_id();
                self.write_with_id(pe.into(), Some(4), id, pid, flags::FIN)
                    .await;
            }
            "partial" => {
                self.write(delete_response(&["partial"]), id, 0).await;
                let mut errors = Map::new();
                errors.insert(
                    "bad".into(),
                    ErrorInfo {
                        message: "invalid".into(),
                        code: 9,
                    },
                );
                let pid = self.take_id();
                self.write_with_id(
                    ProtocolException {
                        error: None,
                        errors,
                    }
                    .into(),
                    Some(4),
                    id,
                    pid,
                    flags::FIN,
                )
                .await;
            }
            "silent" => {}
            "garbage-correlated" => {
                // Valid header correlated to the request, undecodable body.
                let header = MessageHeader {
                    protocol: 4,
                    message_type: 4,
                    correlation_id: id,
                    message_id: self.take_id(),
                    message_flags: flags::FIN,
                };
                let mut out = Vec::new();
                etp_protocol::codec::Avro::encode(&header, &mut out);
                out.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x01]);
                let _ = self
                    .ws
                    .write_frame(Frame::binary(Payload::Owned(out)))
                    .await;
            }
            "garbage" => {
                // Not even a header, then a normal answer.
                let _ = self
                    .ws
                    .write_frame(Frame::binary(Payload::Owned(vec![0xff; 12])))
                    .await;
                let _ = self
                    .ws
                    .write_frame(Frame::text(Payload::Owned(b"[1,2]".to_vec())))
                    .await;
                self.write(delete_response(&["garbage"]), id, flags::FIN)
                    .await;
            }
            "close-session" => {
                self.write(
                    CloseSession {
                        reason: "maintenance".into(),
                    }
                    .into(),
                    0,
                    flags::FIN,
                )
                .await;
            }
            k if k.starts_with("batch:") => {
                // "batch:<n>:<i>": hold until n requests are in, answer in reverse order.
                let n: usize = k
                    .split(':')
                    .nth(1)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                self.batch.push((id, k.to_string()));
                if self.batch.len() == n {
                    let held = std::mem::take(&mut self.batch);
                    for (rid, key) in held.into_iter().rev() {
                        self.write(delete_response(&[&key]), rid, flags::FIN).await;
                    }
                }
            }
            _ => {
                let keys: Vec<&str> = uris.keys().map(EtpString::as_str).collect();
                self.write(delete_response(&keys), id, flags::FIN).await;
            }
        }
        true
    }
}
