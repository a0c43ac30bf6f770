//! The ETP v1.2 protocol layer: every message type of the Energistics Transfer
//! Protocol, a fast Avro binary codec for them, message framing (header, flags,
//! gzip), ETP URIs, qualified types, error codes and capabilities.
//!
//! This crate performs no I/O. Everything that comes from the network is treated
//! as hostile: decoding never panics and never allocates more than the input
//! can justify.

pub mod capabilities;
pub mod codec;
pub mod error_code;
pub mod message;
pub mod names;
mod string;
pub mod types;
pub mod uri;
mod uuid;
mod values;

pub use string::EtpString;
pub use uuid::{InvalidUuid, Uuid};
pub use values::now_micros;
