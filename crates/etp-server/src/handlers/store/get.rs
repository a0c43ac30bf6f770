//! GetDataObjects (11-store.md §2–§3), streamed.
//!
//! Objects are read in batches of about [`READ_BATCH_BYTES`] and sent as soon as they are
//! read, so a request for many large objects never holds them all in memory. The answer
//! is shaped for pyetp, the strictest reader (11-store.md §3):
//!
//! * Objects are packed into `GetDataObjectsResponse` parts that each fit the negotiated
//!   message size. There is always at least one such part, empty if nothing was found.
//! * An object that does not fit in one message on its own goes out as a `DataObject` with
//!   a fresh `blobId` and empty `data`, as the last entry of a response part, immediately
//!   followed by its `Chunk` messages (4/8) in order, the last one `final`. Nothing else
//!   is sent between a response and its chunks, and no empty response follows them.
//! * Failed keys come last, in ProtocolException `errors`; FIN is on the very last message.
//!
//! Per key, beyond the module's checks: an object larger than the `MaxDataObjectSize`
//! the client declared for this protocol, or whose metadata alone does not fit in a
//! message, or that would need chunks smaller than [`MIN_CHUNK_BYTES`] → 17.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use etp_protocol::Uuid;
use etp_protocol::codec::{Avro, Map};
use etp_protocol::error_code::ErrorCode;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::ErrorInfo;
use etp_protocol::types::datatypes::object::DataObject;
use etp_protocol::types::protocol::store::{Chunk, GetDataObjects, GetDataObjectsResponse};
use etp_store::{ReadTxn, StoredObject};

use super::{
    MAP_OVERHEAD, StoreHandler, dataspace_not_found, is_xml, not_found, resolve, same_type,
    stored_key,
};
use crate::handlers::objects::{ObjectRef, error_info, resource};
use crate::handlers::store_error;
use crate::session::{Responder, SessionClosed, SessionContext};

/// Object bytes read from the store per read call (one object more if it is bigger).
const READ_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// Room kept in a Chunk body for the blobId, the length prefix and the `final` flag.
const CHUNK_OVERHEAD: usize = 64;
/// Requests of at most this many keys are read on the async worker that handles them
/// (see [`DataAccess::read_inline`](crate::access::DataAccess::read_inline)), up to
/// [`INLINE_READ_BYTES`] of objects; any object beyond is read on the blocking pool.
const INLINE_READ_KEYS: usize = 4;
/// Object bytes read on the async worker per request: a few small objects from the
/// store's cache take less time than the hand-off to the blocking pool would.
const INLINE_READ_BYTES: u64 = 64 * 1024;
/// Smallest chunk payload worth sending: below it (a client that negotiated a tiny
/// message size) a large object would take an absurd number of messages.
const MIN_CHUNK_BYTES: usize = 1024;

/// Answers GetDataObjects.
pub(super) async fn get(
    handler: &StoreHandler,
    session: &SessionContext,
    m: GetDataObjects,
    responder: Responder,
) -> Result<(), SessionClosed> {
    if !is_xml(&m.format) {
        return responder
            .error(
                ErrorCode::EINVALID_ARGUMENT,
                format!(
                    "format {:?} is not supported; this store speaks xml",
                    m.format
                ),
            )
            .await;
    }
    let mut inline = m.uris.len() <= INLINE_READ_KEYS;
    let mut inline_left = INLINE_READ_BYTES;
    let mut errors = Map::new();
    let mut by_dataspace: BTreeMap<String, VecDeque<(String, ObjectRef)>> = BTreeMap::new();
    for (key, uri) in m.uris {
        match resolve(&uri) {
            Ok(object) => by_dataspace
                .entry(object.key.dataspace.clone())
                .or_default()
                .push_back((key.to_string(), object)),
            Err(e) => {
                errors.insert(key, e);
            }
        }
    }

    let mut writer = ResponseWriter::new(responder, client_max_object_size(session));
    for (dataspace, mut pending) in by_dataspace {
        let mut check_dataspace = true;
        while !pending.is_empty() {
            let path = dataspace.clone();
            let access = &handler.access;
            let slot = &session.transaction;
            let read = if inline {
                access
                    .read_inline(slot, &dataspace, move |r| {
                        read_batch(r, &path, check_dataspace, pending, Some(inline_left))
                    })
                    .await
            } else {
                access
                    .read(slot, &dataspace, move |r| {
                        read_batch(r, &path, check_dataspace, pending, None)
                    })
                    .await
            };
            let (results, rest) = match read {
                Ok(read) => read,
                Err((code, message)) => return writer.abort(code, message).await,
            };
            for (key, result) in results {
                if let Ok(stored) = &result {
                    inline_left = inline_left.saturating_sub(stored.data.len() as u64);
                }
                match result {
                    Ok(stored) => writer.add(key, stored, &mut errors).await?,
                    Err(e) => {
                        errors.insert(key.into(), e);
                    }
                }
            }
            // What an inline read left (an object too large for it) goes to the pool.
            inline = inline && rest.is_empty();
            pending = rest;
            check_dataspace = false;
        }
    }
    writer.finish(errors).await
}

/// The `MaxDataObjectSize` the client declared for the Store protocol, if any.
fn client_max_object_size(session: &SessionContext) -> Option<u64> {
    session
        .negotiated
        .client_protocol_capabilities
        .get(&4)?
        .get("MaxDataObjectSize")?
        .as_i64()
        .filter(|&v| v > 0)
        .map(|v| v as u64)
}

/// Per key read so far, the object or why it is not answered.
type BatchResults = Vec<(String, Result<StoredObject, ErrorInfo>)>;

/// Reads objects of one dataspace until about [`READ_BATCH_BYTES`] are in hand; returns
/// them and the keys still to read. Failures of single lookups fail only their key.
/// With `inline_budget`, stops before the first object that would take the bytes read
/// beyond it (that object is read again later, on the blocking pool).
fn read_batch(
    r: &dyn ReadTxn,
    dataspace: &str,
    check_dataspace: bool,
    mut pending: VecDeque<(String, ObjectRef)>,
    inline_budget: Option<u64>,
) -> etp_store::Result<(BatchResults, VecDeque<(String, ObjectRef)>)> {
    let mut results = Vec::new();
    if check_dataspace && r.get_dataspace(dataspace)?.is_none() {
        let missing = dataspace_not_found(dataspace);
        results.extend(
            pending
                .into_iter()
                .map(|(key, _)| (key, Err(missing.clone()))),
        );
        return Ok((results, VecDeque::new()));
    }
    let mut bytes = 0usize;
    while let Some((key, object)) = pending.pop_front() {
        let lookup = match inline_budget {
            None => r.get_object(&stored_key(&object)),
            Some(budget) => {
                let left = budget.saturating_sub(bytes as u64);
                match r.get_object_up_to(&stored_key(&object), left) {
                    Ok(Some(stored)) if stored.meta.data_len > left => {
                        pending.push_front((key, object));
                        break;
                    }
                    other => other,
                }
            }
        };
        let result = match lookup {
            Err(e) => {
                let (code, message) = store_error(&e);
                Err(error_info(code, message))
            }
            Ok(Some(stored))
                if same_type(&stored.meta.qualified_type, &object)
                    && version_matches(&stored, &object) =>
            {
                bytes += stored.data.len();
                Ok(stored)
            }
            Ok(_) => Err(not_found(&object.uri.to_string())),
        };
        results.push((key, result));
        if bytes >= READ_BATCH_BYTES {
            break;
        }
    }
    Ok((results, pending))
}

/// Whether a stored object is the version a URI asks for (any, for a URI without one).
pub(super) fn version_matches(stored: &StoredObject, requested: &ObjectRef) -> bool {
    match requested.uri.version() {
        None => true,
        Some(version) => etp_model::parse_data_object(&stored.data)
            .is_ok_and(|info| info.object_version.as_deref() == Some(version)),
    }
}

/// Builds the response set message by message. The last message produced is held back
/// until the next one exists, so that FIN can go on whichever turns out to be last.
struct ResponseWriter {
    responder: Responder,
    map_budget: usize,
    chunk_size: usize,
    client_max: Option<u64>,
    current: Map<DataObject>,
    current_size: usize,
    held: Option<Body>,
}

impl ResponseWriter {
    fn new(responder: Responder, client_max: Option<u64>) -> Self {
        let body = responder.max_body_size();
        ResponseWriter {
            map_budget: body.saturating_sub(MAP_OVERHEAD),
            chunk_size: body.saturating_sub(CHUNK_OVERHEAD),
            responder,
            client_max,
            current: Map::new(),
            current_size: 0,
            held: None,
        }
    }

    /// Adds a found object to the answer, inline or chunked; records a 17 in `errors`
    /// when it cannot be sent to this client.
    async fn add(
        &mut self,
        key: String,
        stored: StoredObject,
        errors: &mut Map<ErrorInfo>,
    ) -> Result<(), SessionClosed> {
        let len = stored.data.len();
        let too_large = |message: String| error_info(ErrorCode::EMAXSIZE_EXCEEDED, message);
        if let Some(max) = self.client_max
            && len as u64 > max
        {
            let message =
                format!("the object has {len} bytes, more than your MaxDataObjectSize ({max})");
            errors.insert(key.into(), too_large(message));
            return Ok(());
        }
        let object = DataObject {
            resource: resource(&stored.key, &stored.meta, None),
            format: "xml".into(),
            blob_id: None,
            data: stored.data,
        };
        let size = key.encoded_len() + object.encoded_len();
        if size <= self.map_budget {
            return self.append(key, object, size).await;
        }

        let data = object.data.clone();
        let blob_id = Uuid::new_v4();
        let placeholder = DataObject {
            blob_id: Some(blob_id),
            data: Bytes::new(),
            ..object
        };
        let size = key.encoded_len() + placeholder.encoded_len();
        if size > self.map_budget || self.chunk_size < MIN_CHUNK_BYTES {
            let message = format!(
                "the object ({len} bytes) cannot be sent within the negotiated message size"
            );
            errors.insert(key.into(), too_large(message));
            return Ok(());
        }
        self.append(key, placeholder, size).await?;
        // The chunks must follow the response holding their DataObject directly.
        self.flush().await?;
        let mut start = 0;
        while start < len {
            let end = (start + self.chunk_size).min(len);
            let chunk = Chunk {
                blob_id,
                data: data.slice(start..end),
                r#final: end == len,
            };
            self.push(chunk.into()).await?;
            start = end;
        }
        Ok(())
    }

    /// Adds an entry to the response part being built, starting a new part if it would
    /// overflow.
    async fn append(
        &mut self,
        key: String,
        object: DataObject,
        size: usize,
    ) -> Result<(), SessionClosed> {
        if !self.current.is_empty() && self.current_size + size > self.map_budget {
            self.flush().await?;
        }
        self.current.insert(key.into(), object);
        self.current_size += size;
        Ok(())
    }

    /// Closes the response part being built.
    async fn flush(&mut self) -> Result<(), SessionClosed> {
        if self.current.is_empty() {
            return Ok(());
        }
        let data_objects = std::mem::take(&mut self.current);
        self.current_size = 0;
        self.push(GetDataObjectsResponse { data_objects }.into())
            .await
    }

    /// Queues `body`, sending the previously held message (not the last one, so no FIN).
    async fn push(&mut self, body: Body) -> Result<(), SessionClosed> {
        if let Some(previous) = self.held.replace(body) {
            self.responder.send(previous, false).await?;
        }
        Ok(())
    }

    /// Sends what is left, then the per-key errors; FIN on the last message.
    async fn finish(mut self, errors: Map<ErrorInfo>) -> Result<(), SessionClosed> {
        self.flush().await?;
        let last: Vec<Body> = self.held.take().into_iter().collect();
        self.responder
            .reply_set(last, errors, || GetDataObjectsResponse::default().into())
            .await
    }

    /// Ends the set with a whole-request error after a failure of the store itself.
    async fn abort(mut self, code: ErrorCode, message: String) -> Result<(), SessionClosed> {
        if let Some(previous) = self.held.take() {
            self.responder.send(previous, false).await?;
        }
        self.responder.error(code, message).await
    }
}
