//! Client errors.

use std::time::Duration;

use etp_protocol::error_code::ErrorCode;

/// Everything that can go wrong in the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not a usable `ws://` / `wss://` (or `http(s)://`) URL.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting cannot be used (invalid header name or value...).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The TCP connection could not be established (DNS, refused, unreachable...).
    #[error("cannot connect to {address}: {source}")]
    Connect {
        /// `host:port` that was tried.
        address: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// TLS configuration or handshake failure.
    #[error("TLS: {0}")]
    Tls(String),
    /// The server answered the upgrade request with a non-101 status.
    #[error("HTTP {status} from server{}", if body.is_empty() { String::new() } else { format!(": {body}") })]
    Http {
        /// HTTP status code.
        status: u16,
        /// Response body (truncated to 64 KiB, lossily decoded as UTF-8).
        body: String,
    },
    /// The WebSocket handshake or the WebSocket itself failed (missing subprotocol echo,
    /// bad upgrade headers, broken frames).
    #[error("WebSocket: {0}")]
    WebSocket(String),
    /// The server answered with a ProtocolException.
    #[error("ETP error {code}: {message}")]
    Protocol {
        /// The error code.
        code: ErrorCode,
        /// The server's message (with the map key, and a count of further errors, when the
        /// exception carried several).
        message: String,
    },
    /// No (complete) answer in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The connection is closed (or closed while waiting).
    #[error("connection closed: {0}")]
    Closed(String),
    /// A message from the server could not be decoded.
    #[error("undecodable message from server: {0}")]
    Decode(String),
    /// The answer was valid ETP but not what the request calls for.
    #[error("unexpected response: {0}")]
    UnexpectedResponse(String),
    /// The message exceeds the session's negotiated `MaxWebSocketMessagePayloadSize`; it was
    /// not sent.
    #[error("message of {size} bytes exceeds the session limit of {limit} bytes")]
    MessageTooLarge {
        /// Encoded size (after compression).
        size: usize,
        /// Negotiated limit.
        limit: usize,
    },
}

impl ClientError {
    /// Whether trying again later (on a new connection) may succeed: connection, TLS I/O,
    /// timeouts, closed connections and HTTP 5xx/429. Protocol errors, 4xx refusals and
    /// invalid input are permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Connect { .. }
            | ClientError::Timeout(_)
            | ClientError::Closed(_)
            | ClientError::WebSocket(_) => true,
            ClientError::Http { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }

    /// The ETP error code, for [`ClientError::Protocol`].
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Protocol { code, .. } => Some(*code),
            _ => None,
        }
    }
}
