//! High-level operations: the protocol work behind "list the dataspaces", "put these
//! objects", "download this array", done correctly once so that the `etp` command line,
//! benchmarks and tests share it.
//!
//! Every function takes a connected [`Client`] and:
//!
//! - stays within the session's negotiated message size: map requests are split into
//!   several requests, data objects too big for one message travel as `blobId` + `Chunk`
//!   messages (11-store.md §3), arrays too big for one message move as blocks with
//!   `GetDataSubarrays` / `PutDataSubarrays` (12-dataarray.md §5);
//! - pipelines independent requests on the session, with a bounded number in flight;
//! - collects every part of multipart answers (resources *and* edges, chunks);
//! - surfaces per-key failures instead of swallowing them: map requests answer with a
//!   [`KeyedResults`] holding the successes and a [`KeyError`] per failed key. A
//!   ProtocolException without a key (the whole request refused) is reported for each key
//!   of that request. Transport failures (closed connection, timeout) fail the whole
//!   operation with [`OpsError`].
//!
//! The modules follow the protocols: [`dataspaces`] (24), [`discovery`] (3), [`objects`]
//! (Store, 4), [`arrays`] (DataArray, 9) and [`transactions`] (18).

pub mod arrays;
pub mod dataspaces;
pub mod discovery;
pub mod objects;
mod pipeline;
pub mod transactions;

use std::fmt;

use etp_protocol::codec::Map;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::message::EtpMessage;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::ErrorInfo;

use crate::{Client, ClientError, Response};

pub use arrays::{
    ArraySink, ArraySource, ArrayTransfer, ArrayValues, Block, BlockPlan, BlockWriter, CollectSink,
    EncodedValues, PlainElement, SliceElement, SliceSink, get_array, get_array_metadata,
    get_array_vec, get_arrays_metadata, put_array,
};
pub use dataspaces::{create_dataspaces, delete_dataspaces, list_dataspaces};
pub use discovery::{ResourceQuery, Resources, get_deleted_resources, get_resources};
pub use objects::{delete_data_objects, get_data_objects, new_data_object, put_data_objects};
pub use transactions::{
    TransactionOptions, commit_transaction, in_transaction, rollback_transaction, start_transaction,
};

/// Requests of one operation kept in flight at once, unless the caller says otherwise.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4;

/// Why an operation failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The session failed: connection, timeout, unexpected or undecodable answer, or a
    /// ProtocolException answering a request that is not a map.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// An argument cannot be turned into a valid request.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The one key of a single-item operation failed (e.g. the metadata of one array).
    #[error("{key}: {error}")]
    Key {
        /// The request key (or the item it stands for).
        key: String,
        /// What the server said about it.
        error: KeyError,
    },
    /// The store refused to start, commit or roll back a transaction (`successful =
    /// false`).
    #[error("transaction {action} failed: {reason}")]
    Transaction {
        /// `start`, `commit` or `rollback`.
        action: &'static str,
        /// The store's `failureReason`.
        reason: String,
    },
    /// The server's answer is valid ETP but inconsistent (wrong array size or type,
    /// incomplete chunked object...).
    #[error("inconsistent answer: {0}")]
    Inconsistent(String),
    /// The caller's array source or sink failed.
    #[error("array data: {0}")]
    Io(#[from] std::io::Error),
}

impl OpsError {
    /// The ETP error code behind this failure, if the server sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            OpsError::Client(e) => e.code(),
            OpsError::Key { error, .. } => Some(error.code),
            _ => None,
        }
    }
}

/// The server's error for one key of a map request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyError {
    /// The ETP error code.
    pub code: ErrorCode,
    /// The server's text.
    pub message: String,
}

impl KeyError {
    /// The code (0, never sent by servers) of a key that the server's answer left out.
    pub const NO_ANSWER: ErrorCode = ErrorCode::from_code(0);

    fn from_info(info: &ErrorInfo) -> KeyError {
        KeyError {
            code: ErrorCode::from_code(info.code),
            message: info.message.to_string(),
        }
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.code == KeyError::NO_ANSWER {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

impl std::error::Error for KeyError {}

/// The outcome of a map request (or of several, when it had to be split): per key, a
/// success value or the server's error. Keys keep the order of the request.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KeyedResults<T> {
    /// Keys that succeeded.
    pub ok: Map<T>,
    /// Keys that failed, with the server's reason. Keys the server neither answered nor
    /// reported are listed here too, with [`KeyError::NO_ANSWER`] as code.
    pub errors: Map<KeyError>,
}

impl<T> Default for KeyedResults<T> {
    fn default() -> Self {
        KeyedResults {
            ok: Map::new(),
            errors: Map::new(),
        }
    }
}

impl<T> KeyedResults<T> {
    /// Whether every key succeeded.
    pub fn all_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The successes, or the first failure as [`OpsError::Key`].
    pub fn into_result(self) -> Result<Map<T>, OpsError> {
        match self.errors.into_iter().next() {
            Some((key, error)) => Err(OpsError::Key {
                key: key.to_string(),
                error,
            }),
            None => Ok(self.ok),
        }
    }

    fn extend(&mut self, other: KeyedResults<T>) {
        self.ok.extend(other.ok);
        self.errors.extend(other.errors);
    }
}

/// Bytes of the negotiated message size kept free for the header, the request's own
/// fields and gzip's worst-case expansion of incompressible data (about 0.1 %).
fn message_overhead(limit: usize) -> usize {
    1024 + limit / 512
}

/// How many bytes of message body an operation may fill on this session.
pub fn message_budget(client: &Client) -> usize {
    let limit = client.max_message_size();
    limit.saturating_sub(message_overhead(limit)).max(1)
}

/// Builds the per-key outcome of one map request from the successes found in its
/// answer: keyed ProtocolException errors go to their keys; a whole-request error (no
/// key) is charged to every request key left unanswered; keys neither answered nor
/// reported get a [`KeyError::NO_ANSWER`] error, so that no key ever disappears silently.
fn keyed_outcome<T>(
    reported: Vec<(Option<String>, ErrorInfo)>,
    request_keys: &[String],
    ok: Map<T>,
) -> KeyedResults<T> {
    let mut errors = Map::new();
    let mut whole = None;
    for (key, info) in reported {
        match key {
            Some(key) => {
                errors.insert(key.into(), KeyError::from_info(&info));
            }
            None => whole = Some(KeyError::from_info(&info)),
        }
    }
    for key in request_keys {
        if ok.contains_key(key.as_str()) || errors.contains_key(key.as_str()) {
            continue;
        }
        let error = whole.clone().unwrap_or_else(|| KeyError {
            code: KeyError::NO_ANSWER,
            message: "the server's answer neither contains nor reports this key".to_string(),
        });
        errors.insert(key.clone().into(), error);
    }
    KeyedResults { ok, errors }
}

/// [`keyed_outcome`] for answers made of bodies of type `B`, each giving some successes
/// through `entries`.
fn keyed_response<B: EtpMessage, T>(
    response: Response,
    request_keys: &[String],
    mut entries: impl FnMut(B, &mut Map<T>),
) -> Result<KeyedResults<T>, OpsError> {
    let reported = response.errors();
    let mut ok = Map::new();
    for body in response.into_bodies() {
        let body = B::try_from(body).map_err(|other| unexpected::<B>(&other))?;
        entries(body, &mut ok);
    }
    Ok(keyed_outcome(reported, request_keys, ok))
}

/// The error for an answer body of the wrong type.
fn unexpected<B: EtpMessage>(got: &Body) -> OpsError {
    OpsError::Client(ClientError::UnexpectedResponse(format!(
        "expected {}, got {}",
        B::INFO.name,
        got.info().name
    )))
}

/// Concatenates the outcomes of the requests of one operation.
fn merge<T>(parts: Vec<KeyedResults<T>>) -> KeyedResults<T> {
    let mut out = KeyedResults::default();
    for part in parts {
        out.extend(part);
    }
    out
}
