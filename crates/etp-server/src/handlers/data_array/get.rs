//! The reads: GetDataArrayMetadata, GetDataArrays and GetDataSubarrays.

use etp_protocol::codec::{Avro, Map, SegmentedBuf};
use etp_protocol::error_code::ErrorCode;
use etp_protocol::message::EtpMessage;
use etp_protocol::types::datatypes::data_array_types::{DataArrayIdentifier, DataArrayMetadata};
use etp_protocol::types::protocol::data_array::{
    GetDataArrayMetadata, GetDataArrayMetadataResponse, GetDataArrays, GetDataArraysResponse,
    GetDataSubarrays, GetDataSubarraysResponse,
};
use etp_store::{ArrayKey, ArrayMeta, StoreError};

use super::geometry::{Region, element_count, signed};
use super::reply::{EncodedMapReply, MapReply};
use super::{
    DataArrayHandler, KeyFailure, array_key, by_dataspace, failed, not_found, settle, values,
};
use crate::handlers::objects::{custom_data, error_info};
use crate::session::{Responder, SessionClosed, SessionContext};

// ---------------------------------------------------------------------------------------
// GetDataArrayMetadata
// ---------------------------------------------------------------------------------------

impl DataArrayHandler {
    pub(super) async fn get_metadata(
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
                    errors.extend(names.into_iter().map(|key| (key.into(), error.clone())));
                    continue;
                }
            };
            for (key, meta, array) in found {
                match meta {
                    Some(meta) => reply.push(key, metadata(meta)).await?,
                    None => {
                        errors.insert(key.into(), not_found(&array));
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
    pub(super) async fn get_arrays(
        &self,
        session: &SessionContext,
        m: GetDataArrays,
        responder: Responder,
    ) -> Result<(), SessionClosed> {
        let requests = m
            .data_arrays
            .into_iter()
            .map(|(key, uid)| (key.into(), uid, None))
            .collect();
        self.get_blocks(
            session,
            requests,
            responder,
            GetDataArraysResponse::MESSAGE_TYPE,
        )
        .await
    }

    pub(super) async fn get_subarrays(
        &self,
        session: &SessionContext,
        m: GetDataSubarrays,
        responder: Responder,
    ) -> Result<(), SessionClosed> {
        let requests = m
            .data_subarrays
            .into_iter()
            .map(|(key, sub)| (key.into(), sub.uid, Some((sub.starts, sub.counts))))
            .collect();
        self.get_blocks(
            session,
            requests,
            responder,
            GetDataSubarraysResponse::MESSAGE_TYPE,
        )
        .await
    }

    /// Reads each requested block (`None` = whole array) into the reply, one key at a time.
    async fn get_blocks(
        &self,
        session: &SessionContext,
        requests: Vec<(String, DataArrayIdentifier, Option<Block>)>,
        responder: Responder,
        message_type: i32,
    ) -> Result<(), SessionClosed> {
        let mut reply = EncodedMapReply::new(responder, message_type);
        let mut errors = Map::new();
        for (key, uid, block) in requests {
            let array = match array_key(&uid) {
                Ok(array) => array,
                Err(e) => {
                    errors.insert(key.into(), e);
                    continue;
                }
            };
            let room = reply.room_for(&key);
            let max_body = reply.max_body_size();
            let dataspace = array.dataspace.clone();
            let read_block = || {
                let (array, block) = (array.clone(), block.clone());
                let mut entry = EncodedMapReply::entry(&key);
                move |txn: &dyn etp_store::ReadTxn| {
                    settle(
                        encode_block(txn, &array, block, room, max_body, &mut entry)
                            .map(|()| entry),
                    )
                }
            };
            let read = if block_bytes(block.as_ref()) <= INLINE_READ_BYTES {
                self.access
                    .read_cached(&session.transaction, &dataspace, read_block)
                    .await
            } else {
                self.access
                    .read(&session.transaction, &dataspace, read_block())
                    .await
            };
            match read {
                Ok(Ok(entry)) => reply.push(entry).await?,
                Ok(Err(e)) => {
                    errors.insert(key.into(), e);
                }
                Err(failure) => {
                    errors.insert(key.into(), failed(failure));
                }
            }
        }
        reply.finish(errors).await
    }
}

/// Largest block read on the async worker when its chunks are in the page cache: a
/// copy of 2 MiB out of the page cache takes about 0.2 ms here, a pause other tasks of
/// that worker can take; bigger blocks (and whole arrays, of unknown size until their
/// metadata is read) go to the blocking pool, where the hand-off costs little per byte.
const INLINE_READ_BYTES: u64 = 2 << 20;

/// An upper bound of the bytes of a requested block (8 per value, the widest fixed
/// element); `u64::MAX` for a whole array or a bad count, which then take the pool.
fn block_bytes(block: Option<&Block>) -> u64 {
    let Some((_, counts)) = block else {
        return u64::MAX;
    };
    counts
        .iter()
        .try_fold(8u64, |bytes, &count| {
            u64::try_from(count).ok().and_then(|c| bytes.checked_mul(c))
        })
        .unwrap_or(u64::MAX)
}

/// Appends one block of an array to `out` as an encoded `DataArray` of at most `room`
/// bytes.
fn encode_block(
    txn: &dyn etp_store::ReadTxn,
    array: &ArrayKey,
    block: Option<Block>,
    room: usize,
    max_body: usize,
    out: &mut SegmentedBuf,
) -> Result<(), KeyFailure> {
    let meta = txn.get_array_meta(array)?.ok_or_else(|| not_found(array))?;
    let region = match block {
        None => Region::whole(
            &meta.dimensions,
            element_count(&meta.dimensions).unwrap_or(u64::MAX),
        ),
        Some((starts, counts)) => Region::within(&meta.dimensions, &starts, &counts)?,
    };
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
    let before = out.len();
    // DataArray: `dimensions` (the block's counts), then `data`.
    signed(&region.counts).encode(out.small_mut());
    let data_room = room.saturating_sub(out.len() - before);
    if !values::encode(txn, array, meta.element_type, &region, data_room, out)? {
        return Err(too_big().into());
    }
    // The values were bounded by `data_room`; this guards the arithmetic around them.
    if out.len() - before > room {
        return Err(too_big().into());
    }
    Ok(())
}
