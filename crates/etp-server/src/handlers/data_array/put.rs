//! The writes: PutUninitializedDataArrays, PutDataArrays and PutDataSubarrays.

use etp_protocol::EtpString;
use etp_protocol::codec::Map;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::data_array_types::PutUninitializedDataArrayType;
use etp_protocol::types::datatypes::{DataValue, ErrorInfo};
use etp_protocol::types::protocol::data_array::{
    PutDataArraysResponse, PutDataSubarraysResponse, PutUninitializedDataArrays,
    PutUninitializedDataArraysResponse,
};
use etp_store::{ArrayKey, ArrayMeta, WriteTxn};

use super::geometry::{Region, array_dimensions, invalid, unsigned};
use super::reply::MapReply;
use super::values::{StoreValues, into_store};
use super::view::{ArrayPut, PutValues, SubarrayPut};
use super::{DataArrayHandler, KeyFailure, array_key, not_found, settle, values};
use crate::access::Failure;
use crate::handlers::objects::{encode_custom_data, error_info};
use crate::session::{Responder, SessionClosed, SessionContext};

// ---------------------------------------------------------------------------------------
// PutUninitializedDataArrays
// ---------------------------------------------------------------------------------------

/// A checked PutUninitializedDataArrays entry.
struct NewArray {
    array: ArrayKey,
    meta: ArrayMeta,
}

impl DataArrayHandler {
    pub(super) async fn put_uninitialized(
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
        // Advisory: a block shape that does not fit the array means no preference, and the
        // store picks one aligned with its chunks.
        let preferred = unsigned(&metadata.preferred_subarray_dimensions, "")
            .ok()
            .filter(|block| {
                block.len() == dimensions.len()
                    && block
                        .iter()
                        .zip(&dimensions)
                        .all(|(&b, &d)| b >= 1 && b <= d.max(1))
            })
            .unwrap_or_default();
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
    data: PutValues,
    custom_data: Map<DataValue>,
}

impl DataArrayHandler {
    pub(super) async fn put_arrays(
        &self,
        session: &SessionContext,
        entries: Map<ArrayPut>,
        responder: Responder,
    ) -> Result<(), SessionClosed> {
        let (accepted, errors) = check_each(entries, |entry| self.check_whole(entry));
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

    fn check_whole(&self, entry: ArrayPut) -> Result<WholeArray, ErrorInfo> {
        let array = array_key(&entry.uid)?;
        let (dimensions, count) = array_dimensions(&entry.dimensions)?;
        let data = entry.data;
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
    entry: SubarrayPut,
}

impl DataArrayHandler {
    pub(super) async fn put_subarrays(
        &self,
        session: &SessionContext,
        entries: Map<SubarrayPut>,
        responder: Responder,
    ) -> Result<(), SessionClosed> {
        let (accepted, errors) = check_each(entries, |entry| {
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
    let sent = values::value_count(&entry.data);
    if sent != region.count {
        return Err(invalid(format!(
            "{sent} values sent for a block of {:?} ({} values)",
            region.counts, region.count
        ))
        .into());
    }
    let values = into_store(entry.data, meta.element_type)?;
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
        StoreValues::Fixed(values) => txn.write_subarray(
            array,
            &region.starts,
            &region.counts,
            &values.le_bytes(),
            now,
        )?,
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
            Ok(checked) => accepted.push((key.into(), checked)),
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
    make: fn(Map<EtpString>) -> Body,
) -> Result<(), SessionClosed> {
    let reply = MapReply::new(responder, make);
    let results = match outcome {
        Ok(results) => results,
        Err((code, message)) => return reply.fail(code, message).await,
    };
    let mut reply = reply;
    for (key, result) in results {
        match result {
            Ok(()) => reply.push(key, EtpString::new()).await?,
            Err(e) => {
                errors.insert(key.into(), e);
            }
        }
    }
    reply.finish(errors).await
}
