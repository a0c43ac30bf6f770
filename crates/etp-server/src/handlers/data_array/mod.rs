//! DataArray (protocol 9, role store): the numeric and string arrays data objects keep
//! outside their XML (12-dataarray.md).
//!
//! An array is named by `DataArrayIdentifier {uri, pathInResource}` and stored under
//! `ArrayKey {dataspace of the URI, UUID of the URI's object, pathInResource}`. Every
//! request is a map; each key succeeds or fails on its own (00-wire.md §9), and answers
//! never exceed the negotiated message size.
//!
//! | request | answer per key |
//! |---|---|
//! | GetDataArrayMetadata | dimensions, both types, store times, customData |
//! | GetDataArrays | the whole array, or 17 if it cannot fit in one message |
//! | GetDataSubarrays | the block `starts`/`counts`, with `dimensions = counts` |
//! | PutUninitializedDataArrays | creates (or re-creates) the array, zero-filled |
//! | PutDataArrays | creates or replaces the whole array with its values |
//! | PutDataSubarrays | writes one block of an existing array |
//!
//! # Decisions on the points the notes leave open
//!
//! * **Identifiers.** `uri` must be a data object URI (else 9, `EINVALID_URI`); a version
//!   in it is ignored, since arrays belong to the object's UUID. An empty
//!   `pathInResource` is 5. The object itself need not exist: fesapi writes arrays before
//!   the XML that references them, and pyetp writes both in one transaction (03 §6). The
//!   dataspace must exist (writes into a missing one are 11).
//! * **Shapes.** Rank 0 is refused with 5 (send a scalar as `[1]`); zero-length
//!   dimensions make an empty array. With `bytes` transport the dimensions count bytes,
//!   as pyetp sends them (it multiplies the last dimension by the item size).
//! * **Types.** The transport type an array is written with is kept and answered with.
//!   The logical type is stored and returned as sent, whatever the pair (the spec's table
//!   of allowed combinations is not available, and the OSDU server ignores it).
//!   PutDataArrays carries no logical type: it keeps the one a PutUninitializedDataArrays
//!   gave the same identifier if the transport type is unchanged, otherwise it takes
//!   pyetp's pair for the transport type (int → arrayOfInt32LE, bytes → arrayOfInt8, …).
//! * **Uninitialized elements** read as the store's fill: zero bytes, i.e. `0`, `0.0`,
//!   `false`, and `""` for strings (not NaN: the store has no per-type fill).
//! * **Subarrays.** `starts`/`counts` need one entry per dimension; empty ones (the schema
//!   default) mean the whole array. Rank mismatch, negative entries or a block leaving
//!   the array: 5. PutDataSubarrays values must match the array's transport type (5),
//!   except lossless widenings (int into long, float into double).
//! * **PutDataSubarrays on an array never created**: 11.
//! * **Sizes.** `MaxDataArraySize` (bytes = element count × element size; a string counts
//!   its UTF-8 bytes, at least one per element, and one byte per element when only the
//!   dimensions are known) is enforced on PutUninitializedDataArrays and PutDataArrays
//!   with 17. A get whose answer for one key cannot fit in a message gets 17 for that
//!   key; pyetp and fetpapi then use subarrays. Note that `int`/`long` values are
//!   varints on the wire: a long array of large values takes up to 10 bytes per element,
//!   more than the 8 pyetp budgets, so near the limit such an array can get 17 where
//!   pyetp expected it to fit (nothing else could be sent: one array is never split).
//! * **Transactions.** Reads and writes go through [`DataAccess`]: inside the session's
//!   open transaction they see and add to its pending writes, which others see at commit;
//!   otherwise each put request is committed on its own, all its keys at once.
//! * **Store times** are the server's: `storeCreated` is set when an identifier is first
//!   created and kept when it is re-created or filled, `storeLastWrite` moves on every
//!   write. The times clients send in PutUninitializedDataArrays are ignored.
//! * **customData** of PutUninitializedDataArrays is stored; a PutDataArrays with a
//!   non-empty customData replaces it, an empty one keeps it.
//! * **preferredSubarrayDimensions** of PutUninitializedDataArrays is kept when it fits
//!   the array (same rank, each entry between 1 and its dimension); otherwise, or when
//!   empty, the store reports one chunk of its storage: `[1, …, 1, k, dims…]`, whole rows
//!   of just under 1 MiB, so that one such block travels in a 1 MiB message and blocks of
//!   whole multiples of it read and write whole chunks (`etp_client::ops` cuts its blocks
//!   that way). A client's own preference is reported back, but the store does not lay
//!   its chunks out for it.
//! * **Put answers** are `success[key] = ""` (clients only look at the keys).
//!
//! One request, one answer set: a single-key request is answered by exactly one message
//! holding exactly that key (what pyetp asserts) or, if it failed, by an empty response
//! and a ProtocolException for the key.
//!
//! # Memory and speed
//!
//! A get reads one key at a time into the message being built and sends a message as
//! soon as the next key would not fit in it. Answers are encoded by the handler
//! (`reply::EncodedMapReply`, sent with `Responder::send_encoded`): `double`, `float` and
//! `bytes` values travel in the store's own layout, so their part of the message is the
//! store's chunk buffers, shared (`ReadTxn::visit_subarray`), and the session writer hands
//! them to the kernel in one `writev` with the header and the few framing bytes: no copy
//! of the values in the server. Other types are converted from the chunks into the
//! answer's vector and encoded (module `values`). A put's `double` and `float` values are
//! never decoded: the session reads them as a slice of the received message (module
//! `view`), which the store writes as it is; other types are decoded and handed over as
//! a byte view of the decoded vector (little-endian targets; elsewhere one key's
//! converted bytes), so a request holds its message or its decoded values, not both. The conversions run at `memcpy`
//! speed (18–37 GB/s measured for 16 MiB of `f64` and `i64`, both directions, against
//! 19–23 GB/s for a plain allocate-and-copy on the project machine).

mod geometry;
mod get;
mod put;
mod reply;
mod values;
mod view;

use std::sync::Arc;

use etp_protocol::codec::Map;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::data_array_types::DataArrayIdentifier;
use etp_protocol::types::datatypes::{DataValue, ErrorInfo};
use etp_protocol::types::protocol::data_array::DataArrayMessage;
use etp_store::{ArrayKey, StoreError};

use self::geometry::invalid;
pub(crate) use self::view::read_put_message;
pub use self::view::{ArrayPut, PutValues, PutView, SubarrayPut};
use super::objects::{error_info, parse_object_uri};
use super::{HandlerFuture, ProtocolHandler, Request, RequestBody, store_error};
use crate::access::{DataAccess, Failure};
use crate::config::ServerConfig;
use crate::session::{Responder, SessionContext};

/// The DataArray protocol over a store.
pub struct DataArrayHandler {
    access: Arc<DataAccess>,
    /// `MaxDataArraySize`, in bytes.
    max_array_bytes: u64,
}

impl DataArrayHandler {
    /// A handler over the store behind `access`, accepting arrays of up to
    /// `max_array_bytes` bytes (`max_data_array_size`).
    pub fn new(access: Arc<DataAccess>, max_array_bytes: u64) -> Self {
        DataArrayHandler {
            access,
            max_array_bytes,
        }
    }
}

impl ProtocolHandler for DataArrayHandler {
    fn protocol(&self) -> i32 {
        9
    }

    fn capabilities(&self, _config: &ServerConfig) -> Map<DataValue> {
        let mut caps = Map::new();
        // The limit the puts enforce, so what is advertised and enforced cannot differ.
        caps.insert(
            "MaxDataArraySize".into(),
            DataValue::long(i64::try_from(self.max_array_bytes).unwrap_or(i64::MAX)),
        );
        caps
    }

    fn handle(
        self: Arc<Self>,
        session: Arc<SessionContext>,
        request: Request,
        responder: Responder,
    ) -> HandlerFuture {
        Box::pin(async move {
            let body = match request.body {
                RequestBody::Put(PutView::Arrays(entries)) => {
                    let _ = self.put_arrays(&session, entries, responder).await;
                    return;
                }
                RequestBody::Put(PutView::Subarrays(entries)) => {
                    let _ = self.put_subarrays(&session, entries, responder).await;
                    return;
                }
                RequestBody::Decoded(body) => body,
            };
            let Body::DataArray(message) = body else {
                let name = body.info().name;
                let _ = responder
                    .error(
                        ErrorCode::EINVALID_MESSAGETYPE,
                        format!("{name} is not a DataArray request"),
                    )
                    .await;
                return;
            };
            let result = match message {
                DataArrayMessage::GetDataArrayMetadata(m) => {
                    self.get_metadata(&session, m, responder).await
                }
                DataArrayMessage::GetDataArrays(m) => self.get_arrays(&session, m, responder).await,
                DataArrayMessage::GetDataSubarrays(m) => {
                    self.get_subarrays(&session, m, responder).await
                }
                DataArrayMessage::PutUninitializedDataArrays(m) => {
                    self.put_uninitialized(&session, m, responder).await
                }
                DataArrayMessage::PutDataArrays(m) => {
                    let entries = convert(m.data_arrays);
                    self.put_arrays(&session, entries, responder).await
                }
                DataArrayMessage::PutDataSubarrays(m) => {
                    let entries = convert(m.data_subarrays);
                    self.put_subarrays(&session, entries, responder).await
                }
                other => {
                    responder
                        .error(
                            ErrorCode::EINVALID_MESSAGETYPE,
                            format!("{} is not a request a store answers", other.info().name),
                        )
                        .await
                }
            };
            // A closed session cannot be answered; nothing else to do.
            let _ = result;
        })
    }
}

/// The entries of a decoded put in their view type ([`PutValues::Decoded`] values).
fn convert<A, B: From<A>>(entries: Map<A>) -> Map<B> {
    entries.into_iter().map(|(k, v)| (k, B::from(v))).collect()
}

// ---------------------------------------------------------------------------------------
// Identifiers and errors
// ---------------------------------------------------------------------------------------

/// The store key of an array identifier.
fn array_key(uid: &DataArrayIdentifier) -> Result<ArrayKey, ErrorInfo> {
    let object = parse_object_uri(&uid.uri)?;
    if uid.path_in_resource.is_empty() {
        return Err(invalid("pathInResource is empty"));
    }
    Ok(ArrayKey {
        dataspace: object.key.dataspace,
        owner: object.key.uuid,
        path: uid.path_in_resource.to_string(),
    })
}

/// Groups identifiers by dataspace, in first-appearance order; bad identifiers go to
/// `errors`.
fn by_dataspace(
    identifiers: Map<DataArrayIdentifier>,
    errors: &mut Map<ErrorInfo>,
) -> Vec<(String, Vec<(String, ArrayKey)>)> {
    let mut groups: Vec<(String, Vec<(String, ArrayKey)>)> = Vec::new();
    for (key, uid) in identifiers {
        match array_key(&uid) {
            Ok(array) => match groups.iter_mut().find(|(ds, _)| *ds == array.dataspace) {
                Some((_, keys)) => keys.push((key.to_string(), array)),
                None => groups.push((array.dataspace.clone(), vec![(key.to_string(), array)])),
            },
            Err(e) => {
                errors.insert(key, e);
            }
        }
    }
    groups
}

fn not_found(array: &ArrayKey) -> ErrorInfo {
    error_info(
        ErrorCode::ENOT_FOUND,
        format!("array {:?} not found", array.path),
    )
}

fn failed((code, message): Failure) -> ErrorInfo {
    error_info(code, message)
}

/// Why one key failed inside a store task: its own error, or the store's.
enum KeyFailure {
    Key(ErrorInfo),
    Store(StoreError),
}

impl From<ErrorInfo> for KeyFailure {
    fn from(e: ErrorInfo) -> Self {
        KeyFailure::Key(e)
    }
}

impl From<StoreError> for KeyFailure {
    fn from(e: StoreError) -> Self {
        KeyFailure::Store(e)
    }
}

/// Keeps a key's failure with the key when the request caused it (not found, bad
/// argument, type mismatch); passes a failure of the store itself on, to fail the request.
fn settle<T>(result: Result<T, KeyFailure>) -> Result<Result<T, ErrorInfo>, StoreError> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(KeyFailure::Key(e)) => Ok(Err(e)),
        Err(KeyFailure::Store(
            e @ (StoreError::ArrayNotFound(_)
            | StoreError::DataspaceNotFound(_)
            | StoreError::InvalidArgument(_)
            | StoreError::OutOfRange { .. }
            | StoreError::SizeOverflow(_)
            | StoreError::TypeMismatch { .. }),
        )) => {
            let (code, message) = store_error(&e);
            Ok(Err(error_info(code, message)))
        }
        Err(KeyFailure::Store(e)) => Err(e),
    }
}
