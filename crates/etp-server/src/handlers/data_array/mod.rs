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
//!   key; pyetp and fetpapi then use subarrays.
//! * **Store times** are the server's: `storeCreated` is set when an identifier is first
//!   created and kept when it is re-created or filled, `storeLastWrite` moves on every
//!   write. The times clients send in PutUninitializedDataArrays are ignored.
//! * **customData** of PutUninitializedDataArrays is stored; a PutDataArrays with a
//!   non-empty customData replaces it, an empty one keeps it.
//! * **Put answers** are `success[key] = ""` (clients only look at the keys).
//!
//! One request, one answer set: a single-key request is answered by exactly one message
//! holding exactly that key (what pyetp asserts) or, if it failed, by an empty response
//! and a ProtocolException for the key.
//!
//! # Memory and speed
//!
//! A get reads one key at a time into the message being built and sends a message as
//! soon as the next key would not fit in it; values stream from the store's chunks
//! straight into the answer's vector (see [`values`]). A put converts one key's values to
//! little-endian bytes inside the store task and drops them once written, so a request
//! holds its decoded values plus at most one key's bytes.

mod geometry;
mod reply;
mod values;

use std::sync::Arc;

use etp_protocol::codec::{Avro, Map};
use etp_protocol::error_code::ErrorCode;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::data_array_types::{
    DataArray, DataArrayIdentifier, DataArrayMetadata, GetDataSubarraysType, PutDataArraysType,
    PutDataSubarraysType, PutUninitializedDataArrayType,
};
use etp_protocol::types::datatypes::{DataValue, ErrorInfo};
use etp_protocol::types::protocol::data_array::{
    DataArrayMessage, GetDataArrayMetadata, GetDataArrayMetadataResponse, GetDataArrays,
    GetDataArraysResponse, GetDataSubarrays, GetDataSubarraysResponse, PutDataArrays,
    PutDataArraysResponse, PutDataSubarrays, PutDataSubarraysResponse, PutUninitializedDataArrays,
    PutUninitializedDataArraysResponse,
};
use etp_store::{ArrayKey, ArrayMeta, StoreError, WriteTxn};

use self::geometry::{Region, array_dimensions, element_count, invalid, signed, unsigned};
use self::reply::MapReply;
use self::values::{StoreValues, into_store};
use super::objects::{custom_data, encode_custom_data, error_info, parse_object_uri};
use super::{HandlerFuture, ProtocolHandler, Request, store_error};
use crate::access::{DataAccess, Failure};
use crate::config::ServerConfig;
use crate::session::{Responder, SessionClosed, SessionContext};

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

    fn capabilities(&self, config: &ServerConfig) -> Map<DataValue> {
        let mut caps = Map::new();
        caps.insert(
            "MaxDataArraySize".into(),
            DataValue::long(i64::try_from(config.max_data_array_size).unwrap_or(i64::MAX)),
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
            let Body::DataArray(message) = request.body else {
                let name = request.body.info().name;
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
                DataArrayMessage::PutDataArrays(m) => self.put_arrays(&session, m, responder).await,
                DataArrayMessage::PutDataSubarrays(m) => {
                    self.put_subarrays(&session, m, responder).await
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

// ---------------------------------------------------------------------------------------
// GetDataArrayMetadata
// ---------------------------------------------------------------------------------------

impl DataArrayHandler {
    async fn get_metadata(
        &self,
        session: &SessionContext,
        m: GetDataArrayMetadata,
        responder: Responder,
    ) -> Result<(), SessionClosed> {
        let mut reply = MapReply::new(responder, |array_metadata| {
            GetDataArrayMetadataResponse { array_metadata }.into()
        });
        let mut errors = Map::new();
        // One store read per dataspace: pyetp asks for every array of an object at once.
        for (dataspace, keys) in by_dataspace(m.data_arrays, &mut errors) {
            let names: Vec<String> = keys.iter().map(|(key, _)| key.clone()).collect();
            let found = self
                .access
                .read(&session.transaction, &dataspace, move |txn| {
                    keys.into_iter()
                        .map(|(key, array)| Ok((key, txn.get_array_meta(&array)?, array)))
                        .collect::<Result<Vec<_>, StoreError>>()
                })
                .await;
            let found = match found {
                Ok(found) => found,
                Err(failure) => {
                    let error = failed(failure);
                    errors.extend(names.into_iter().map(|key| (key, error.clone())));
                    continue;
                }
            };
            for (key, meta, array) in found {
                match meta {
                    Some(meta) => reply.push(key, metadata(meta)).await?,
                    None => {
                        errors.insert(key, not_found(&array));
                    }
                }
            }
        }
        reply.finish(errors).await
    }
}

/// The ETP record of stored metadata.
fn metadata(meta: ArrayMeta) -> DataArrayMetadata {
    DataArrayMetadata {
        dimensions: signed(&meta.dimensions),
        preferred_subarray_dimensions: signed(&meta.preferred_subarray_dims),
        transport_array_type: values::transport_type(meta.element_type),
        logical_array_type: values::logical_type(meta.logical_type),
        store_last_write: meta.store_last_write,
        store_created: meta.store_created,
        custom_data: custom_data(&meta.custom_data),
    }
}

// ---------------------------------------------------------------------------------------
// GetDataArrays and GetDataSubarrays
// ---------------------------------------------------------------------------------------

/// `starts` and `counts` of a GetDataSubarrays entry.
type Block = (Vec<i64>, Vec<i64>);

impl DataArrayHandler {
    async fn get_arrays(
        &self,
        session: &SessionContext,
        m: GetDataArrays,
        responder: Responder,
    ) -> Result<(), SessionClosed> {
        let requests = m
            .data_arrays
            .into_iter()
            .map(|(key, uid)| (key, uid, None))
            .collect();
        self.get_blocks(session, requests, responder, |data_arrays| {
            GetDataArraysResponse { data_arrays }.into()
        })
        .await
    }

    async fn get_subarrays(
        &self,
        session: &SessionContext,
        m: GetDataSubarrays,
        responder: Responder,
    ) -> Result<(), SessionClosed> {
        let requests = m
            .data_subarrays
            .into_iter()
            .map(
                |(
                    key,
                    GetDataSubarraysType {
                        uid,
                        starts,
                        counts,
                    },
                )| { (key, uid, Some((starts, counts))) },
            )
            .collect();
        self.get_blocks(session, requests, responder, |data_subarrays| {
            GetDataSubarraysResponse { data_subarrays }.into()
        })
        .await
    }

    /// Reads each requested block (`None` = whole array) into the reply, one key at a time.
    async fn get_blocks(
        &self,
        session: &SessionContext,
        requests: Vec<(String, DataArrayIdentifier, Option<Block>)>,
        responder: Responder,
        make: fn(Map<DataArray>) -> Body,
    ) -> Result<(), SessionClosed> {
        let mut reply = MapReply::new(responder, make);
        let mut errors = Map::new();
        for (key, uid, block) in requests {
            let array = match array_key(&uid) {
                Ok(array) => array,
                Err(e) => {
                    errors.insert(key, e);
                    continue;
                }
            };
            let room = reply.room_for(&key);
            let max_body = reply.max_body_size();
            let dataspace = array.dataspace.clone();
            let read = self
                .access
                .read(&session.transaction, &dataspace, move |txn| {
                    settle(read_block(txn, &array, block, room, max_body))
                })
                .await;
            match read {
                Ok(Ok(data)) => reply.push(key, data).await?,
                Ok(Err(e)) => {
                    errors.insert(key, e);
                }
                Err(failure) => {
                    errors.insert(key, failed(failure));
                }
            }
        }
        reply.finish(errors).await
    }
}

/// Reads one block of an array as a `DataArray` whose encoding fits in `room` bytes.
fn read_block(
    txn: &dyn etp_store::ReadTxn,
    array: &ArrayKey,
    block: Option<Block>,
    room: usize,
    max_body: usize,
) -> Result<DataArray, KeyFailure> {
    let meta = txn.get_array_meta(array)?.ok_or_else(|| not_found(array))?;
    let region = match block {
        None => Region::whole(
            &meta.dimensions,
            element_count(&meta.dimensions).unwrap_or(u64::MAX),
        ),
        Some((starts, counts)) => Region::within(&meta.dimensions, &starts, &counts)?,
    };
    let dimensions = signed(&region.counts);
    let data_room = room.saturating_sub(dimensions.encoded_len());
    let too_big = || {
        error_info(
            ErrorCode::EMAXSIZE_EXCEEDED,
            format!(
                "{} values of {} do not fit in one message of at most {max_body} bytes; \
                 read the array with GetDataSubarrays",
                region.count,
                values::transport_type(meta.element_type),
            ),
        )
    };
    let data =
        values::read(txn, array, meta.element_type, &region, data_room)?.ok_or_else(too_big)?;
    let answer = DataArray { dimensions, data };
    // The read bounded the values; this guards the arithmetic of the frame around them.
    if answer.encoded_len() > room {
        return Err(too_big().into());
    }
    Ok(answer)
}

// ---------------------------------------------------------------------------------------
// PutUninitializedDataArrays
// ---------------------------------------------------------------------------------------

/// A checked PutUninitializedDataArrays entry.
struct NewArray {
    array: ArrayKey,
    meta: ArrayMeta,
}

impl DataArrayHandler {
    async fn put_uninitialized(
        &self,
        session: &SessionContext,
        m: PutUninitializedDataArrays,
        responder: Responder,
    ) -> Result<(), SessionClosed> {
        let (accepted, errors) = check_each(m.data_arrays, |entry| self.check_new(entry));
        let now = crate::now_micros();
        let outcome = self
            .write_each(
                session,
                accepted,
                |new| &new.array,
                move |txn, new| {
                    let NewArray { array, mut meta } = new;
                    let previous = txn.get_array_meta(&array)?;
                    meta.store_created = previous.map_or(now, |p| p.store_created);
                    meta.store_last_write = now;
                    txn.create_array(&array, &meta)?;
                    Ok(())
                },
            )
            .await;
        answer_puts(responder, outcome, errors, |success| {
            PutUninitializedDataArraysResponse { success }.into()
        })
        .await
    }

    fn check_new(&self, entry: PutUninitializedDataArrayType) -> Result<NewArray, ErrorInfo> {
        let array = array_key(&entry.uid)?;
        let metadata = entry.metadata;
        let (dimensions, count) = array_dimensions(&metadata.dimensions)?;
        let element = values::element_type(metadata.transport_array_type);
        self.check_size(values::array_bytes(element, count))?;
        let preferred = unsigned(
            &metadata.preferred_subarray_dimensions,
            "preferred subarray dimension",
        )?;
        if !preferred.is_empty() && preferred.len() != dimensions.len() {
            return Err(invalid(format!(
                "preferredSubarrayDimensions has {} entries for {} dimensions",
                preferred.len(),
                dimensions.len()
            )));
        }
        Ok(NewArray {
            array,
            meta: ArrayMeta {
                dimensions,
                element_type: element,
                logical_type: metadata.logical_array_type as i32,
                preferred_subarray_dims: preferred,
                store_created: 0,
                store_last_write: 0,
                custom_data: encode_custom_data(&metadata.custom_data),
            },
        })
    }

    /// `MaxDataArraySize` (17); `None` is a size beyond 64 bits, beyond any limit.
    fn check_size(&self, bytes: Option<u64>) -> Result<(), ErrorInfo> {
        match bytes {
            Some(bytes) if bytes <= self.max_array_bytes => Ok(()),
            _ => Err(error_info(
                ErrorCode::EMAXSIZE_EXCEEDED,
                format!(
                    "the array exceeds MaxDataArraySize ({} bytes)",
                    self.max_array_bytes
                ),
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------
// PutDataArrays
// ---------------------------------------------------------------------------------------

/// A checked PutDataArrays entry.
struct WholeArray {
    array: ArrayKey,
    dimensions: Vec<u64>,
    count: u64,
    data: etp_protocol::types::datatypes::AnyArrayItem,
    custom_data: Map<DataValue>,
}

impl DataArrayHandler {
    async fn put_arrays(
        &self,
        session: &SessionContext,
        m: PutDataArrays,
        responder: Responder,
    ) -> Result<(), SessionClosed> {
        let (accepted, errors) = check_each(m.data_arrays, |entry| self.check_whole(entry));
        let now = crate::now_micros();
        let outcome = self
            .write_each(
                session,
                accepted,
                |whole| &whole.array,
                move |txn, whole| write_whole(txn, whole, now),
            )
            .await;
        answer_puts(responder, outcome, errors, |success| {
            PutDataArraysResponse { success }.into()
        })
        .await
    }

    fn check_whole(&self, entry: PutDataArraysType) -> Result<WholeArray, ErrorInfo> {
        let array = array_key(&entry.uid)?;
        let (dimensions, count) = array_dimensions(&entry.array.dimensions)?;
        let data = entry.array.data.item;
        let sent = values::value_count(&data);
        if sent != count {
            return Err(invalid(format!(
                "{sent} values sent for dimensions {dimensions:?} ({count} values)"
            )));
        }
        let element = values::item_element_type(&data);
        self.check_size(
            values::string_bytes(&data).or_else(|| values::array_bytes(element, count)),
        )?;
        Ok(WholeArray {
            array,
            dimensions,
            count,
            data,
            custom_data: entry.custom_data,
        })
    }
}

/// Creates or replaces an array with all its values, keeping what an earlier
/// PutUninitializedDataArrays said about it (see the module documentation).
fn write_whole(txn: &mut dyn WriteTxn, whole: WholeArray, now: i64) -> Result<(), KeyFailure> {
    let WholeArray {
        array,
        dimensions,
        count,
        data,
        custom_data,
    } = whole;
    let element = values::item_element_type(&data);
    let previous = txn.get_array_meta(&array)?;
    let same_type = previous.as_ref().filter(|p| p.element_type == element);
    let meta = ArrayMeta {
        logical_type: same_type.map_or(values::default_logical_type(element) as i32, |p| {
            p.logical_type
        }),
        preferred_subarray_dims: same_type
            .filter(|p| p.dimensions == dimensions)
            .map_or_else(Vec::new, |p| p.preferred_subarray_dims.clone()),
        custom_data: match &previous {
            Some(p) if custom_data.is_empty() => p.custom_data.clone(),
            _ => encode_custom_data(&custom_data),
        },
        store_created: previous.as_ref().map_or(now, |p| p.store_created),
        store_last_write: now,
        dimensions,
        element_type: element,
    };
    txn.create_array(&array, &meta)?;
    let whole = Region::whole(&meta.dimensions, count);
    write_values(txn, &array, &whole, into_store(data, element)?, now)
}

// ---------------------------------------------------------------------------------------
// PutDataSubarrays
// ---------------------------------------------------------------------------------------

/// A PutDataSubarrays entry with its identifier resolved.
struct BlockWrite {
    array: ArrayKey,
    entry: PutDataSubarraysType,
}

impl DataArrayHandler {
    async fn put_subarrays(
        &self,
        session: &SessionContext,
        m: PutDataSubarrays,
        responder: Responder,
    ) -> Result<(), SessionClosed> {
        let (accepted, errors) = check_each(m.data_subarrays, |entry| {
            Ok(BlockWrite {
                array: array_key(&entry.uid)?,
                entry,
            })
        });
        let now = crate::now_micros();
        let outcome = self
            .write_each(
                session,
                accepted,
                |block| &block.array,
                move |txn, block| write_block(txn, block, now),
            )
            .await;
        answer_puts(responder, outcome, errors, |success| {
            PutDataSubarraysResponse { success }.into()
        })
        .await
    }
}

/// Writes one block into an existing array.
fn write_block(txn: &mut dyn WriteTxn, block: BlockWrite, now: i64) -> Result<(), KeyFailure> {
    let BlockWrite { array, entry } = block;
    let meta = txn
        .get_array_meta(&array)?
        .ok_or_else(|| not_found(&array))?;
    let region = Region::within(&meta.dimensions, &entry.starts, &entry.counts)?;
    let sent = values::value_count(&entry.data.item);
    if sent != region.count {
        return Err(invalid(format!(
            "{sent} values sent for a block of {:?} ({} values)",
            region.counts, region.count
        ))
        .into());
    }
    let values = into_store(entry.data.item, meta.element_type)?;
    write_values(txn, &array, &region, values, now)
}

fn write_values(
    txn: &mut dyn WriteTxn,
    array: &ArrayKey,
    region: &Region,
    values: StoreValues,
    now: i64,
) -> Result<(), KeyFailure> {
    if region.counts.contains(&0) {
        return Ok(());
    }
    match values {
        StoreValues::Fixed(bytes) => {
            txn.write_subarray(array, &region.starts, &region.counts, &bytes, now)?
        }
        StoreValues::Strings(strings) => {
            txn.write_strings(array, &region.starts, &region.counts, &strings, now)?
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Shared by the puts
// ---------------------------------------------------------------------------------------

/// Per request key: `Ok` if written, else the key's error.
type PutResults = Vec<(String, Result<(), ErrorInfo>)>;

impl DataArrayHandler {
    /// Runs `write` for every accepted entry in one store write (auto-committed, or in the
    /// session's transaction). Key failures are collected; a store failure fails the whole
    /// request and, outside a transaction, writes nothing.
    async fn write_each<T: Send + 'static>(
        &self,
        session: &SessionContext,
        accepted: Vec<(String, T)>,
        array_of: impl Fn(&T) -> &ArrayKey,
        write: impl Fn(&mut dyn WriteTxn, T) -> Result<(), KeyFailure> + Send + 'static,
    ) -> Result<PutResults, Failure> {
        if accepted.is_empty() {
            return Ok(Vec::new());
        }
        let mut dataspaces: Vec<String> = accepted
            .iter()
            .map(|(_, entry)| array_of(entry).dataspace.clone())
            .collect();
        dataspaces.sort();
        dataspaces.dedup();
        self.access
            .write(
                &session.transaction,
                session.session_id,
                &dataspaces,
                move |txn| {
                    let mut results = Vec::with_capacity(accepted.len());
                    for (key, entry) in accepted {
                        results.push((key, settle(write(txn, entry))?));
                    }
                    Ok(results)
                },
            )
            .await
    }
}

/// Splits request entries into the checked ones and the keys' errors.
fn check_each<E, T>(
    entries: Map<E>,
    mut check: impl FnMut(E) -> Result<T, ErrorInfo>,
) -> (Vec<(String, T)>, Map<ErrorInfo>) {
    let mut accepted = Vec::new();
    let mut errors = Map::new();
    for (key, entry) in entries {
        match check(entry) {
            Ok(checked) => accepted.push((key, checked)),
            Err(e) => {
                errors.insert(key, e);
            }
        }
    }
    (accepted, errors)
}

/// Answers a put: `success[key] = ""` for the keys written, then the failed keys.
async fn answer_puts(
    responder: Responder,
    outcome: Result<PutResults, Failure>,
    mut errors: Map<ErrorInfo>,
    make: fn(Map<String>) -> Body,
) -> Result<(), SessionClosed> {
    let reply = MapReply::new(responder, make);
    let results = match outcome {
        Ok(results) => results,
        Err((code, message)) => return reply.fail(code, message).await,
    };
    let mut reply = reply;
    for (key, result) in results {
        match result {
            Ok(()) => reply.push(key, String::new()).await?,
            Err(e) => {
                errors.insert(key, e);
            }
        }
    }
    reply.finish(errors).await
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
        path: uid.path_in_resource.clone(),
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
                Some((_, keys)) => keys.push((key, array)),
                None => groups.push((array.dataspace.clone(), vec![(key, array)])),
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
