//! ETP v1.2 client.
//!
//! [`Client::connect`] opens a WebSocket (`ws://` or `wss://`, subprotocol
//! `etp12.energistics.org`), negotiates a session (RequestSession → OpenSession) and runs
//! one reader and one writer task for it. A [`Client`] is a cheap clonable handle:
//! any number of tasks may send requests concurrently on the same session; answers are
//! matched to requests by correlationId, multipart answers are collected until FIN and
//! sorted by messageId.
//!
//! ```no_run
//! # async fn demo() -> Result<(), etp_client::ClientError> {
//! use etp_client::{Client, ClientConfig};
//! use etp_protocol::types::protocol::dataspace::{GetDataspaces, GetDataspacesResponse};
//!
//! let client = Client::connect(ClientConfig::new("ws://localhost:9002/")).await?;
//! println!("ping: {:?}", client.ping().await?);
//! let spaces: Vec<GetDataspacesResponse> =
//!     client.request_all(GetDataspaces { store_last_write_filter: None }).await?;
//! client.close("done").await?;
//! # let _ = spaces; Ok(()) }
//! ```
//!
//! [`ops`] builds on this the operations applications need (dataspaces, discovery, data
//! objects with chunking, arrays in blocks, transactions), within the negotiated message
//! size and with per-key errors reported.
//!
//! The server's own behaviour is never trusted: undecodable messages are logged and fail
//! only the request they correlate to, unsolicited messages go to
//! [`Client::notifications`], ETP Ping is answered with Pong, acknowledgement requests
//! with Acknowledge, and a CloseSession from the server closes the connection.

#![warn(missing_docs)]

mod client;
mod config;
mod error;
mod frame_read;
mod landing;
mod mask;
pub mod ops;
mod pool;
mod response;
mod tls;
mod transport;

pub use client::{AnswerPart, Client, UndecodedMessage};
pub use config::{
    ClientConfig, DEFAULT_DATA_OBJECTS, DEFAULT_PROTOCOLS, ETP12_SUBPROTOCOL, TlsOptions,
};
pub use error::ClientError;
pub use etp_protocol::message::{DecodeOptions, Message};
pub use pool::{ClientPool, connect_with_retry};
pub use response::Response;
pub use transport::{CAPABILITIES_PATH, capabilities_url, fetch_server_capabilities};
