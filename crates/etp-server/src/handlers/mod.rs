//! Protocol handlers, one module per ETP protocol, registered by protocol number. The
//! session actor handles Core itself and hands every request of a negotiated protocol to
//! the handler registered for it.

pub mod data_array;
pub mod dataspace;
pub mod discovery;
pub mod objects;
pub mod store;
pub mod supported_types;
pub mod transaction;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use etp_protocol::EtpString;
use etp_protocol::codec::Map;
use etp_protocol::message::{Message, MessageInfo, Role};
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::{DataValue, MessageHeader};

use crate::config::ServerConfig;
use crate::session::{Responder, SessionClosed, SessionContext};
use etp_protocol::error_code::ErrorCode;
use etp_protocol::types::datatypes::ErrorInfo;

/// A complete request: its first message and, for multipart requests (PutDataObjects
/// followed by Chunks, or a map split over several messages), the later parts.
#[derive(Debug)]
pub struct Request {
    /// Header of the first message; its id is the correlation id of every answer.
    pub header: MessageHeader,
    /// Body of the first message.
    pub body: RequestBody,
    /// Later parts, in arrival order (which is message id order).
    pub continuation: Vec<Message>,
}

/// The body of a request's first message as the session read it.
#[derive(Debug)]
// `Body` is the common case, held by value as before; boxing it would add an allocation
// to every request to save a few hundred bytes on the rare put moved through the session.
#[allow(clippy::large_enum_variant)]
pub enum RequestBody {
    /// Decoded into the generated types.
    Decoded(Body),
    /// PutDataArrays or PutDataSubarrays with its `double` and `float` values left in the
    /// received message (see [`data_array::PutView`]).
    Put(data_array::PutView),
}

impl RequestBody {
    /// The body in the generated types, copying values a view left in the message.
    pub fn into_body(self) -> Body {
        match self {
            RequestBody::Decoded(body) => body,
            RequestBody::Put(view) => view.into_body(),
        }
    }

    /// The schema facts of the message type.
    pub fn info(&self) -> &'static MessageInfo {
        match self {
            RequestBody::Decoded(body) => body.info(),
            RequestBody::Put(view) => view.info(),
        }
    }
}

impl From<Body> for RequestBody {
    fn from(body: Body) -> Self {
        RequestBody::Decoded(body)
    }
}

/// A boxed future returned by handlers (the registry stores handlers as trait objects).
pub type HandlerFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One ETP protocol on the store side.
pub trait ProtocolHandler: Send + Sync + 'static {
    /// The protocol number.
    fn protocol(&self) -> i32;

    /// The role the server plays (the role a client must request).
    fn role(&self) -> Role {
        Role::Store
    }

    /// Protocol capabilities advertised in OpenSession.
    fn capabilities(&self, _config: &ServerConfig) -> Map<DataValue> {
        Map::new()
    }

    /// Answers one request through `responder`. Runs on its own task; must always answer.
    fn handle(
        self: Arc<Self>,
        session: Arc<SessionContext>,
        request: Request,
        responder: Responder,
    ) -> HandlerFuture;
}

/// Handlers by protocol number.
#[derive(Default)]
pub struct Registry {
    handlers: std::collections::BTreeMap<i32, Arc<dyn ProtocolHandler>>,
}

impl Registry {
    /// Adds (or replaces) the handler of its protocol.
    pub fn register(&mut self, handler: Arc<dyn ProtocolHandler>) {
        self.handlers.insert(handler.protocol(), handler);
    }

    /// The handler of `protocol`, if implemented.
    pub fn get(&self, protocol: i32) -> Option<Arc<dyn ProtocolHandler>> {
        self.handlers.get(&protocol).cloned()
    }

    /// Every handler, by ascending protocol number.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn ProtocolHandler>> {
        self.handlers.values()
    }
}

/// Runs a blocking store operation off the async workers and maps store failures to the
/// ETP error code and message to answer with.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> etp_store::Result<T> + Send + 'static,
) -> Result<T, (etp_protocol::error_code::ErrorCode, String)> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(store_error(&e)),
        Err(e) => Err((
            etp_protocol::error_code::ErrorCode::EINVALID_STATE,
            format!("internal error: {e}"),
        )),
    }
}

/// The ETP error code for a store failure.
pub(crate) fn store_error(
    e: &etp_store::StoreError,
) -> (etp_protocol::error_code::ErrorCode, String) {
    use etp_protocol::error_code::ErrorCode;
    use etp_store::StoreError;
    let code = match e {
        StoreError::DataspaceNotFound(_) | StoreError::ArrayNotFound(_) => ErrorCode::ENOT_FOUND,
        StoreError::DataspaceNotEmpty(_)
        | StoreError::InvalidArgument(_)
        | StoreError::OutOfRange { .. }
        | StoreError::SizeOverflow(_)
        | StoreError::TypeMismatch { .. } => ErrorCode::EINVALID_ARGUMENT,
        StoreError::Conflict => ErrorCode::EMAX_TRANSACTIONS_EXCEEDED,
        // No ETP code means "internal error"; EINVALID_STATE is what the DevKit uses.
        _ => ErrorCode::EINVALID_STATE,
    };
    if code == ErrorCode::EINVALID_STATE {
        tracing::error!(error = %e, "store failure");
    }
    (code, e.to_string())
}

/// Per request key: the value for the success map, or the key's error.
pub(crate) type KeyResults = Vec<(EtpString, Result<String, ErrorInfo>)>;

/// Answers a map request (00-wire.md §9): the keys that succeeded in one response message
/// (empty when none did), then the failed keys in a ProtocolException `errors` map.
pub(crate) async fn answer_map(
    responder: Responder,
    outcome: Result<KeyResults, (ErrorCode, String)>,
    mut errors: Map<ErrorInfo>,
    response: impl Fn(Map<EtpString>) -> Body,
) -> Result<(), SessionClosed> {
    let results = match outcome {
        Ok(results) => results,
        Err((code, message)) => return responder.error(code, message).await,
    };
    let mut success = Map::new();
    for (key, result) in results {
        match result {
            Ok(value) => {
                success.insert(key, value.into());
            }
            Err(e) => {
                errors.insert(key, e);
            }
        }
    }
    let parts = if success.is_empty() {
        Vec::new()
    } else {
        vec![response(success)]
    };
    responder
        .reply_set(parts, errors, || response(Map::new()))
        .await
}

/// Protocol capabilities of a list-answering protocol: `MaxResponseCount`.
pub(crate) fn max_response_count_capability(config: &ServerConfig) -> Map<DataValue> {
    let mut caps = Map::new();
    caps.insert(
        "MaxResponseCount".into(),
        DataValue::long(i64::try_from(config.max_response_count).unwrap_or(i64::MAX)),
    );
    caps
}

/// `MaxResponseCount` for one session and protocol: the server's `ours`, lowered by the
/// client's if it declared a positive one for `protocol`.
pub(crate) fn response_limit(session: &SessionContext, protocol: i32, ours: u64) -> usize {
    let client = session
        .negotiated
        .client_protocol_capabilities
        .get(&protocol)
        .and_then(|caps| caps.get("MaxResponseCount"))
        .and_then(DataValue::as_i64)
        .filter(|&n| n > 0)
        .and_then(|n| u64::try_from(n).ok());
    let limit = client.map_or(ours, |c| c.min(ours));
    usize::try_from(limit).unwrap_or(usize::MAX)
}

/// Answers a message that is not a request of the handler's protocol with
/// `EINVALID_MESSAGETYPE` (3).
pub(crate) async fn not_a_request(
    responder: Responder,
    protocol_name: &str,
    body: &Body,
) -> Result<(), SessionClosed> {
    responder
        .error(
            ErrorCode::EINVALID_MESSAGETYPE,
            format!("{} is not a {protocol_name} request", body.info().name),
        )
        .await
}
