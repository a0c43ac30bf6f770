//! Client settings.

use std::path::PathBuf;
use std::time::Duration;

use etp_protocol::message::Role;

/// The subprotocol every ETP 1.2 WebSocket negotiates.
pub const ETP12_SUBPROTOCOL: &str = "etp12.energistics.org";

/// Protocols requested by default, each with the role asked of the server: Discovery (3),
/// Store (4), DataArray (9), Transaction (18) and Dataspace (24), all as `store`, like pyetp.
pub const DEFAULT_PROTOCOLS: &[(i32, Role)] = &[
    (3, Role::Store),
    (4, Role::Store),
    (9, Role::Store),
    (18, Role::Store),
    (24, Role::Store),
];

/// Data object types declared by default (the six families pyetp accepts).
pub const DEFAULT_DATA_OBJECTS: &[&str] = &[
    "eml20.*",
    "resqml20.*",
    "resqml22.*",
    "eml23.*",
    "witsml21.*",
    "prodml22.*",
];

/// TLS settings for `wss://` URLs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file with extra trusted root certificates (added to the built-in web PKI roots).
    pub root_cert_file: Option<PathBuf>,
    /// Accept any server certificate and host name. For testing only: this disables the
    /// authentication of the server.
    pub accept_invalid_certs: bool,
}

/// Everything [`crate::Client::connect`] needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// `ws://host[:port]/path` or `wss://host[:port]/path`.
    pub url: String,
    /// Value of the `Authorization` header of the upgrade request, e.g. `Bearer eyJ...`.
    pub authorization: Option<String>,
    /// Value of the `data-partition-id` header (OSDU).
    pub data_partition_id: Option<String>,
    /// Additional headers of the upgrade request (name, value).
    pub extra_headers: Vec<(String, String)>,
    /// Protocols to request, each with the role the server is asked to play.
    pub requested_protocols: Vec<(i32, Role)>,
    /// Qualified data object types to declare (`family##.*` wildcards allowed).
    pub supported_data_objects: Vec<String>,
    /// Offer gzip compression; when the server accepts it, non-Core requests are compressed.
    pub compression: bool,
    /// Largest WebSocket message this client accepts, advertised as
    /// `MaxWebSocketMessagePayloadSize`; the session limit is the smaller of this and the
    /// server's value, and larger outgoing messages are refused locally.
    pub max_message_size: usize,
    /// Largest body a compressed incoming message may inflate to.
    pub max_decompressed_size: usize,
    /// `RequestSession.applicationName`.
    pub application_name: String,
    /// `RequestSession.applicationVersion`.
    pub application_version: String,
    /// Time allowed for TCP connect, TLS, WebSocket upgrade and session negotiation together.
    pub connect_timeout: Duration,
    /// Default time to wait for the complete answer to a request.
    pub request_timeout: Duration,
    /// Capacity of the queue of unsolicited messages ([`crate::Client::notifications`]);
    /// messages arriving while it is full are dropped with a warning.
    pub notification_capacity: usize,
    /// TLS settings for `wss://`.
    pub tls: TlsOptions,
}

impl ClientConfig {
    /// Default settings for `url`.
    pub fn new(url: impl Into<String>) -> ClientConfig {
        ClientConfig {
            url: url.into(),
            authorization: None,
            data_partition_id: None,
            extra_headers: Vec::new(),
            requested_protocols: DEFAULT_PROTOCOLS.to_vec(),
            supported_data_objects: DEFAULT_DATA_OBJECTS.iter().map(|s| s.to_string()).collect(),
            compression: true,
            max_message_size: 16 * 1024 * 1024,
            max_decompressed_size: 256 * 1024 * 1024,
            application_name: "etp-client".to_string(),
            application_version: env!("CARGO_PKG_VERSION").to_string(),
            connect_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(300),
            notification_capacity: 1024,
            tls: TlsOptions::default(),
        }
    }

    /// Sets the `Authorization` header to `Bearer <token>`.
    pub fn with_bearer_token(mut self, token: impl AsRef<str>) -> ClientConfig {
        self.authorization = Some(format!("Bearer {}", token.as_ref()));
        self
    }
}
