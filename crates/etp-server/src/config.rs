//! Server settings. Every field can come from a TOML file, an `ETP_*` environment variable
//! or a command-line flag (the `etp` binary merges them in that order of precedence:
//! flag, then environment, then file, then the defaults below).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The store's cache size unless told otherwise (fjall's block cache: object records and
/// array chunks of stores written before format 3).
pub const DEFAULT_CACHE_BYTES: u64 = 256 << 20;

/// Everything `etp serve` can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on for WebSocket and HTTP.
    pub listen: SocketAddr,
    /// Directory of the embedded store; created on first start.
    pub data_dir: PathBuf,
    /// Extra URL path under which the ETP endpoint is also served (besides `/`), for
    /// deployments behind a proxy path such as `/api/etp`.
    pub path_prefix: String,
    /// Largest WebSocket message accepted and advertised (`MaxWebSocketMessagePayloadSize`);
    /// the session uses the smaller of this and the client's value.
    pub max_message_size: u64,
    /// Largest WebSocket frame payload advertised (`MaxWebSocketFramePayloadSize`).
    pub max_frame_size: u64,
    /// Largest body a gzip-compressed message may inflate to.
    pub max_decompressed_size: u64,
    /// Largest data object accepted (`MaxDataObjectSize`).
    pub max_data_object_size: u64,
    /// Largest array accepted (`MaxDataArraySize`).
    pub max_data_array_size: u64,
    /// Seconds to wait for the HTTP upgrade request after the TCP connection opens.
    pub handshake_timeout_secs: u64,
    /// Seconds to wait for RequestSession after the WebSocket opens
    /// (`RequestSessionTimeoutPeriod`).
    pub request_session_timeout_secs: u64,
    /// Seconds a session may stay without any incoming message before it is closed.
    pub idle_timeout_secs: u64,
    /// Maximum concurrent sessions (`MaxSessionGlobalCount`).
    pub max_sessions: u64,
    /// Requests one session may have in flight before the server stops reading from it.
    pub max_requests_in_flight: usize,
    /// Bytes of responses one session may have queued for writing; a handler producing
    /// more (array blocks, chunked objects) waits until the socket drains, so a large
    /// answer is never held whole in memory.
    pub send_buffer_bytes: u64,
    /// gzip level (0–9) for compressible responses when the session negotiated gzip.
    pub compression_level: u32,
    /// Seconds to wait for sessions to close on shutdown before exiting anyway.
    pub shutdown_grace_secs: u64,
    /// `MaxResponseCount` advertised for list-shaped responses.
    pub max_response_count: u64,
    /// `TransactionTimeoutPeriod`: seconds after which an abandoned transaction is rolled back.
    pub transaction_timeout_secs: u64,
    /// Seconds a write (a StartTransaction or an auto-committed request) waits for a
    /// dataspace that another session is writing before it is refused with
    /// `EMAX_TRANSACTIONS_EXCEEDED` (15).
    pub write_lock_wait_secs: u64,
    /// `ChangeRetentionPeriod`: seconds deleted-resource records are kept.
    pub change_retention_secs: u64,
    /// Bytes of the store's cache of object records (default 256 MiB); 0 sizes it from
    /// the machine: half of the memory beyond 1 GiB, 256 MiB – 32 GiB
    /// ([`ServerConfig::store_cache_bytes`]). Array chunks written since store format 3
    /// live in segment files and are not cached here (the OS page cache holds them);
    /// chunks of older stores are. The cache only takes memory as it fills, and keeps
    /// it: see docs/design/storage.md §4.
    pub cache_bytes: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 9002)),
            data_dir: PathBuf::from("./etp-data"),
            path_prefix: String::new(),
            max_message_size: 16 * 1024 * 1024,
            max_frame_size: 16 * 1024 * 1024,
            max_decompressed_size: 64 * 1024 * 1024,
            max_data_object_size: 64 * 1024 * 1024,
            max_data_array_size: 64 * 1024 * 1024 * 1024,
            handshake_timeout_secs: 10,
            request_session_timeout_secs: 45,
            idle_timeout_secs: 3600,
            max_sessions: 10_000,
            max_requests_in_flight: 64,
            send_buffer_bytes: 64 * 1024 * 1024,
            compression_level: 1,
            shutdown_grace_secs: 5,
            max_response_count: 100_000,
            transaction_timeout_secs: 600,
            write_lock_wait_secs: 10,
            change_retention_secs: 86_400,
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

impl ServerConfig {
    /// Checks values that would make the server misbehave rather than fail loudly.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_message_size < 5_000 {
            return Err("max_message_size must be at least 5000 bytes".into());
        }
        if self.compression_level > 9 {
            return Err("compression_level must be 0–9".into());
        }
        if self.request_session_timeout_secs < 5 {
            return Err("request_session_timeout_secs must be at least 5 (ETP minimum)".into());
        }
        if self.send_buffer_bytes == 0 || self.send_buffer_bytes > u64::from(u32::MAX) {
            return Err("send_buffer_bytes must be between 1 and 4294967295".into());
        }
        if self.max_requests_in_flight == 0 {
            return Err("max_requests_in_flight must be at least 1".into());
        }
        if !self.path_prefix.is_empty() && !self.path_prefix.starts_with('/') {
            return Err("path_prefix must start with '/'".into());
        }
        Ok(())
    }

    /// The store's cache size: `cache_bytes`, or when it is 0 the size chosen from the
    /// machine's memory ([`etp_store::machine_cache_bytes`]).
    pub fn store_cache_bytes(&self) -> u64 {
        match self.cache_bytes {
            0 => etp_store::machine_cache_bytes(),
            bytes => bytes,
        }
    }

    /// The handshake timeout as a duration.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_size_is_256_mib_given_or_the_machines() {
        let mut config = ServerConfig::default();
        assert_eq!(config.cache_bytes, 256 << 20);
        assert_eq!(config.store_cache_bytes(), 256 << 20);
        config.cache_bytes = 3 << 20;
        assert_eq!(config.store_cache_bytes(), 3 << 20);
        assert!(config.validate().is_ok());
        config.cache_bytes = 0;
        assert_eq!(config.store_cache_bytes(), etp_store::machine_cache_bytes());
        assert!(config.validate().is_ok());
    }
}
