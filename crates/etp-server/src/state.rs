//! State shared by all sessions: configuration, the handler registry, live sessions,
//! the session history and metrics.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use etp_protocol::Uuid;
use etp_protocol::codec::Map;
use etp_protocol::types::datatypes::{DataValue, SupportedDataObject};
use etp_store::SessionRecord;
use serde::Serialize;
use tokio::sync::watch;

use crate::config::ServerConfig;
use crate::handlers::Registry;
use crate::metrics::Metrics;
use crate::session::{ServerOffer, SessionHistory};

/// Everything sessions share.
pub struct ServerState {
    /// The settings the server started with.
    pub config: ServerConfig,
    /// Stable across restarts (persisted in the data directory).
    pub server_instance_id: Uuid,
    /// Protocol handlers by protocol number.
    pub handlers: Registry,
    /// Live sessions.
    pub sessions: SessionRegistry,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Flips to `true` when the server shuts down.
    pub shutdown: watch::Sender<bool>,
    /// Server start, µs since the epoch.
    pub started_micros: i64,
    /// Where session records are persisted (`None` when the server runs without a store,
    /// e.g. [`crate::Server::bind_with`]).
    pub history: Option<SessionHistory>,
}

impl ServerState {
    /// The offer every negotiation starts from.
    pub fn offer(&self) -> ServerOffer {
        let c = &self.config;
        let mut endpoint = Map::new();
        endpoint.insert("ActiveTimeoutPeriod".into(), DataValue::long(3600));
        endpoint.insert(
            "ChangeRetentionPeriod".into(),
            DataValue::long(c.change_retention_secs as i64),
        );
        endpoint.insert(
            "MaxDataObjectSize".into(),
            DataValue::long(c.max_data_object_size as i64),
        );
        endpoint.insert(
            "MaxConcurrentMultipart".into(),
            DataValue::long(crate::session::MAX_CONCURRENT_MULTIPART as i64),
        );
        endpoint.insert(
            "MaxSessionGlobalCount".into(),
            DataValue::long(c.max_sessions as i64),
        );
        endpoint.insert(
            "MultipartMessageTimeoutPeriod".into(),
            DataValue::long(crate::session::MULTIPART_TIMEOUT_SECS as i64),
        );
        endpoint.insert(
            "RequestSessionTimeoutPeriod".into(),
            DataValue::long(c.request_session_timeout_secs as i64),
        );
        endpoint.insert(
            "SupportsAlternateRequestUris".into(),
            DataValue::boolean(false),
        );
        endpoint.insert(
            "SupportsMessageHeaderExtensions".into(),
            DataValue::boolean(false),
        );
        ServerOffer {
            application_name: APPLICATION_NAME.into(),
            application_version: env!("CARGO_PKG_VERSION").into(),
            server_instance_id: self.server_instance_id,
            protocols: self
                .handlers
                .iter()
                .map(|h| (h.protocol(), (h.role(), h.capabilities(&self.config))))
                .collect::<BTreeMap<_, _>>(),
            data_objects: supported_data_objects(),
            max_message_size: c.max_message_size,
            max_frame_size: c.max_frame_size,
            endpoint_capabilities: endpoint,
            earliest_retained_change_time: self.started_micros,
        }
    }
}

/// Product name in OpenSession and the capabilities document.
pub const APPLICATION_NAME: &str = "etp";

/// Data object families the store indexes. Every prefix is one pyetp accepts
/// (01-core.md §3), and each carries explicit Get/Put/Delete flags.
pub fn supported_data_objects() -> Vec<SupportedDataObject> {
    [
        "eml20.*",
        "eml21.*",
        "eml22.*",
        "eml23.*",
        "resqml20.*",
        "resqml22.*",
        "witsml20.*",
        "witsml21.*",
        "prodml21.*",
        "prodml22.*",
    ]
    .into_iter()
    // pyetp only accepts these six prefixes in OpenSession; the rest are still
    // accepted by the store, just not advertised.
    .filter(|t| {
        [
            "eml20.",
            "resqml20.",
            "resqml22.",
            "eml23.",
            "witsml21.",
            "prodml22.",
        ]
        .iter()
        .any(|p| t.starts_with(p))
    })
    .map(|t| {
        let mut caps = Map::new();
        caps.insert("SupportsGet".into(), DataValue::boolean(true));
        caps.insert("SupportsPut".into(), DataValue::boolean(true));
        caps.insert("SupportsDelete".into(), DataValue::boolean(true));
        SupportedDataObject {
            qualified_type: t.into(),
            data_object_capabilities: caps,
        }
    })
    .collect()
}

/// Where a WebSocket came from and what its upgrade request said.
#[derive(Debug, Clone, Default)]
pub struct ConnectionInfo {
    /// Remote address.
    pub peer: Option<SocketAddr>,
    /// `Authorization` header or query parameter, if any.
    pub authorization: Option<String>,
    /// OSDU `data-partition-id`, if any.
    pub data_partition_id: Option<String>,
    /// Optional `client-id` (open-etp-client).
    pub client_id: Option<String>,
}

/// A live (or just closed) session as `/sessions` shows it.
#[derive(Debug)]
pub struct SessionInfo {
    /// The session id (sent in OpenSession).
    pub id: Uuid,
    /// Remote address.
    pub peer: Option<SocketAddr>,
    /// µs since the epoch.
    pub connected_micros: i64,
    details: Mutex<SessionDetails>,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

#[derive(Debug, Default, Clone, Serialize)]
struct SessionDetails {
    client_application: String,
    client_version: String,
    protocols: Vec<i32>,
    state: &'static str,
    close_reason: Option<String>,
    closed_micros: Option<i64>,
    data_partition_id: Option<String>,
}

/// State of a live session that sent OpenSession.
const STATE_OPEN: &str = "open";
/// State of a session that has ended.
const STATE_CLOSED: &str = "closed";
/// State of a past session whose end was never recorded: the server stopped without
/// closing it (crash, kill).
const STATE_INTERRUPTED: &str = "interrupted";

/// JSON view of a session, live or from the history (`GET /sessions`).
#[derive(Debug, Serialize)]
pub struct SessionSnapshot {
    id: String,
    peer: Option<String>,
    connected_micros: i64,
    #[serde(flatten)]
    details: SessionDetails,
    messages_in: u64,
    messages_out: u64,
    bytes_in: u64,
    bytes_out: u64,
}

impl SessionSnapshot {
    /// The view of a persisted record of a session that is not live.
    pub fn from_record(record: &SessionRecord) -> SessionSnapshot {
        SessionSnapshot {
            id: Uuid(record.id).to_string(),
            peer: Some(record.peer_address.clone()).filter(|p| !p.is_empty()),
            connected_micros: record.opened_at,
            details: SessionDetails {
                client_application: record.application_name.clone(),
                client_version: record.application_version.clone(),
                protocols: record.protocols.clone(),
                state: if record.closed_at.is_some() {
                    STATE_CLOSED
                } else {
                    STATE_INTERRUPTED
                },
                close_reason: record.close_reason.clone(),
                closed_micros: record.closed_at,
                data_partition_id: None,
            },
            messages_in: record.messages_in,
            messages_out: record.messages_out,
            bytes_in: record.bytes_in,
            bytes_out: record.bytes_out,
        }
    }

    /// The session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When the WebSocket opened, µs since the epoch.
    pub fn connected_micros(&self) -> i64 {
        self.connected_micros
    }
}

impl SessionInfo {
    /// Records what RequestSession told us.
    pub fn opened(&self, application: &str, version: &str, protocols: &[i32]) {
        if let Ok(mut d) = self.details.lock() {
            d.client_application = application.to_owned();
            d.client_version = version.to_owned();
            d.protocols = protocols.to_vec();
            d.state = STATE_OPEN;
        }
    }

    /// Records why and when the session ended.
    pub fn close(&self, reason: &str) {
        if let Ok(mut d) = self.details.lock() {
            d.state = STATE_CLOSED;
            d.close_reason = Some(reason.to_owned());
            d.closed_micros = Some(crate::now_micros());
        }
    }

    /// Counts one incoming message of `bytes`.
    pub fn count_in(&self, bytes: usize) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts one outgoing message of `bytes`.
    pub fn count_out(&self, bytes: usize) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// A JSON-ready copy.
    pub fn snapshot(&self) -> SessionSnapshot {
        SessionSnapshot {
            id: self.id.to_string(),
            peer: self.peer.map(|p| p.to_string()),
            connected_micros: self.connected_micros,
            details: self.details.lock().map(|d| d.clone()).unwrap_or_default(),
            messages_in: self.messages_in.load(Ordering::Relaxed),
            messages_out: self.messages_out.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
        }
    }

    /// The session as the store keeps it ([`SessionHistory`]).
    pub fn to_record(&self) -> SessionRecord {
        let details = self.details.lock().map(|d| d.clone()).unwrap_or_default();
        SessionRecord {
            id: self.id.0,
            application_name: details.client_application,
            application_version: details.client_version,
            peer_address: self.peer.map(|p| p.to_string()).unwrap_or_default(),
            protocols: details.protocols,
            opened_at: self.connected_micros,
            closed_at: details.closed_micros,
            close_reason: details.close_reason,
            messages_in: self.messages_in.load(Ordering::Relaxed),
            messages_out: self.messages_out.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
        }
    }
}

/// The live sessions, and a notifier for shutdown to wait until they are gone.
#[derive(Default)]
pub struct SessionRegistry {
    live: Mutex<HashMap<Uuid, Arc<SessionInfo>>>,
    total: AtomicU64,
    gone: tokio::sync::Notify,
}

impl SessionRegistry {
    /// Adds a session for a new connection.
    pub fn register(&self, conn: &ConnectionInfo) -> Arc<SessionInfo> {
        let info = Arc::new(SessionInfo {
            id: Uuid::new_v4(),
            peer: conn.peer,
            connected_micros: crate::now_micros(),
            details: Mutex::new(SessionDetails {
                state: "awaiting RequestSession",
                data_partition_id: conn.data_partition_id.clone(),
                ..Default::default()
            }),
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
        });
        self.total.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut live) = self.live.lock() {
            live.insert(info.id, info.clone());
        }
        info
    }

    /// Removes a finished session.
    pub fn unregister(&self, info: &SessionInfo) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(&info.id);
        }
        self.gone.notify_waiters();
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.live.lock().map(|l| l.len()).unwrap_or(0)
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sessions opened since start.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Snapshots of every live session, oldest first.
    pub fn snapshots(&self) -> Vec<SessionSnapshot> {
        let mut list: Vec<SessionSnapshot> = self
            .live
            .lock()
            .map(|l| l.values().map(|s| s.snapshot()).collect())
            .unwrap_or_default();
        list.sort_by_key(|s| s.connected_micros);
        list
    }

    /// Waits until every session has ended.
    pub async fn wait_empty(&self) {
        loop {
            let notified = self.gone.notified();
            if self.is_empty() {
                return;
            }
            notified.await;
        }
    }
}
