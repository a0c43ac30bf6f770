//! Downloading a whole array into a vector, each value received straight into its place.
//!
//! [`get_array`](super::get_array) with a [`SliceSink`](super::SliceSink) copies every value
//! twice: the kernel copies it from the socket into a payload buffer, the sink from there
//! into the slice. [`get_array_vec`] plans the same requests, but gives each one the part
//! of the vector its values belong to (a [`Placement`]), and the session's reader receives
//! them from the socket right there (see [`crate::landing`]): one copy, made by the kernel.
//! Answers the reader cannot place (another layout, compression, an error) are copied into
//! the same part here, as before.

use std::future::Future;
use std::pin::Pin;

use etp_protocol::codec::Map;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::message::{EtpMessage, MessageInfo};
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::data_array_types::{
    DataArray, DataArrayIdentifier, DataArrayMetadata,
};
use etp_protocol::types::protocol::data_array::{
    GetDataArrays, GetDataArraysResponse, GetDataSubarraysResponse,
};

use super::encoded::BlockValues;
use super::{
    ArrayTransfer, ArrayValues, Block, BlockPlan, SliceSink, checked_values, get_array,
    get_array_metadata, key_of, keyed_arrays, preferred_block_elements, shape, single,
    subarray_request,
};
use crate::client::{Answer, LandedMessage, LandingOutcome};
use crate::landing::{LANDING_SUPPORTED, LandingZone, Placement, PlainElement, values_layout};
use crate::ops::OpsError;
use crate::ops::pipeline;
use crate::{Client, ClientError};

/// Downloads the whole array `uid` into `values`, which is resized to the array's element
/// count (keeping its memory when it already has that length, so a vector can be reused
/// across downloads), and returns the array's metadata. The array's transport type must be
/// that of `T` (`arrayOfDouble` for `f64`, `arrayOfFloat` for `f32`, `bytes` for `u8`).
///
/// Requests are planned as in [`get_array`](super::get_array); the values of each answer
/// are received by the session's reader straight into their place in `values`.
///
/// On error the contents of `values` are unspecified (it may come back empty: parts of it
/// may still be in the hands of requests being abandoned).
pub async fn get_array_vec<T: PlainElement>(
    client: &Client,
    uid: &DataArrayIdentifier,
    values: &mut Vec<T>,
    options: &ArrayTransfer,
) -> Result<DataArrayMetadata, OpsError> {
    let metadata = get_array_metadata(client, uid).await?;
    let (dims, count) = shape(&metadata.dimensions).map_err(OpsError::Inconsistent)?;
    if metadata.transport_array_type != T::TRANSPORT {
        return Err(OpsError::InvalidArgument(format!(
            "the array holds {} values, not {}",
            metadata.transport_array_type,
            T::TRANSPORT
        )));
    }
    let len = usize::try_from(count)
        .map_err(|_| OpsError::Inconsistent(format!("{count} elements do not fit in memory")))?;
    if values.len() != len {
        // Reserved fallibly: the element count is the server's word.
        values.clear();
        values.try_reserve_exact(len).map_err(|e| {
            OpsError::InvalidArgument(format!("cannot allocate {len} elements: {e}"))
        })?;
        values.resize(len, T::ZERO);
    }
    if count == 0 {
        return Ok(metadata);
    }
    if !LANDING_SUPPORTED {
        // The wire is little-endian: values cannot be received as they lie here.
        get_array(
            client,
            uid,
            &mut SliceSink::new(values.as_mut_slice()),
            options,
        )
        .await?;
        return Ok(metadata);
    }
    let mut zone = LandingZone::new(std::mem::take(values));
    let whole = zone
        .claim(0, count)
        .ok_or_else(|| OpsError::Inconsistent("the vector is shorter than the array".into()))?;
    let filled = fill(client, uid, whole, &dims, count, &metadata, options).await;
    match zone.into_vec() {
        Ok(filled_values) => *values = filled_values,
        // Only after a failure: requests being aborted may still hold their placement
        // (the vector is freed once they let go of it).
        Err(_) if filled.is_err() => {}
        Err(_) => {
            return Err(OpsError::Inconsistent(
                "values were still being received after the last answer".into(),
            ));
        }
    }
    filled.map(|()| metadata)
}

/// Fills `whole` (the array's `count` elements): with one GetDataArrays when the array
/// fits a message, else block by block.
async fn fill(
    client: &Client,
    uid: &DataArrayIdentifier,
    whole: Placement,
    dims: &[u64],
    count: u64,
    metadata: &DataArrayMetadata,
    options: &ArrayTransfer,
) -> Result<(), OpsError> {
    let transport = metadata.transport_array_type;
    let budget = options.budget(client, uid);
    let max_elements = options.max_elements(transport, budget);
    let mut rest = whole;
    if count <= max_elements {
        let mut data_arrays = Map::new();
        data_arrays.insert(key_of(uid).into(), uid.clone());
        let answer = client
            .request_landing(GetDataArrays { data_arrays }, rest)
            .await?;
        match take_answer(
            client,
            answer,
            uid,
            count,
            GetDataArraysResponse::INFO,
            "the array",
            |body| {
                GetDataArraysResponse::try_from(body)
                    .ok()
                    .map(|r| r.data_arrays)
            },
        )? {
            Filled::Done => return Ok(()),
            Filled::Refused(e, placement)
                if e.code() == Some(ErrorCode::EMAXSIZE_EXCEEDED) && count > 1 =>
            {
                tracing::debug!("whole array too big for a message; fetching blocks");
                rest = placement;
            }
            Filled::Refused(e, _) => return Err(e),
        }
    }
    let block_elements = if count <= max_elements {
        count.div_ceil(2)
    } else {
        preferred_block_elements(dims, &metadata.preferred_subarray_dimensions, max_elements)
            .unwrap_or(max_elements)
    };
    let size = element_size(rest.len(), count)?;
    let mut plan = BlockPlan::new(dims, block_elements);
    let mut rest = Some(rest);
    pipeline::ordered(
        options.max_in_flight,
        || {
            let Some(block) = plan.next() else {
                return Ok(None);
            };
            // Blocks come in flat order without gaps: each takes the front of the rest.
            let Some(left) = rest.take() else {
                return Err(OpsError::Inconsistent("blocks past the array's end".into()));
            };
            let (placement, left) = left.split_at(block_bytes(&block, size)?);
            rest = Some(left);
            let client = client.clone();
            let uid = uid.clone();
            Ok(Some(async move {
                get_block(client, uid, block, placement, size).await
            }))
        },
        |()| Ok(()),
    )
    .await
}

/// Bytes per element, from a placement's length and element count.
fn element_size(bytes: usize, count: u64) -> Result<usize, OpsError> {
    usize::try_from(count)
        .ok()
        .filter(|&n| n > 0 && bytes.is_multiple_of(n))
        .map(|n| bytes / n)
        .ok_or_else(|| OpsError::Inconsistent("placement of the wrong size".into()))
}

/// Bytes of a block's values.
fn block_bytes(block: &Block, size: usize) -> Result<usize, OpsError> {
    usize::try_from(block.len)
        .ok()
        .and_then(|n| n.checked_mul(size))
        .ok_or_else(|| OpsError::Inconsistent(format!("block of {} elements", block.len)))
}

/// GetDataSubarrays for one block, its values received into `placement`; halves the
/// block (and the placement) and retries when the store says the answer would be too big.
fn get_block(
    client: Client,
    uid: DataArrayIdentifier,
    block: Block,
    placement: Placement,
    size: usize,
) -> Pin<Box<dyn Future<Output = Result<(), OpsError>> + Send>> {
    Box::pin(async move {
        let answer = client
            .request_landing(subarray_request(&uid, &block), placement)
            .await?;
        let what = format!("block at {:?}", block.starts);
        let filled = take_answer(
            &client,
            answer,
            &uid,
            block.len,
            GetDataSubarraysResponse::INFO,
            &what,
            |body| {
                GetDataSubarraysResponse::try_from(body)
                    .ok()
                    .map(|r| r.data_subarrays)
            },
        )?;
        match filled {
            Filled::Done => Ok(()),
            Filled::Refused(e, placement) if e.code() == Some(ErrorCode::EMAXSIZE_EXCEEDED) => {
                let Some((first, second)) = block.split() else {
                    return Err(e);
                };
                let (head, tail) = placement.split_at(block_bytes(&first, size)?);
                get_block(client.clone(), uid.clone(), first, head, size).await?;
                get_block(client, uid, second, tail, size).await
            }
            Filled::Refused(e, _) => Err(e),
        }
    })
}

/// What an answer did with its placement.
enum Filled {
    /// The values are in place.
    Done,
    /// The store refused the key; the placement comes back for another try.
    Refused(OpsError, Placement),
}

/// Checks the answer to a request for the `count` values of `uid` (one key) and makes
/// sure they are in its placement: received there by the reader, or copied there now.
fn take_answer(
    client: &Client,
    answer: Answer,
    uid: &DataArrayIdentifier,
    count: u64,
    info: MessageInfo,
    what: &str,
    decoded: impl Fn(Body) -> Option<Map<DataArray>>,
) -> Result<Filled, OpsError> {
    let key = key_of(uid);
    match answer.landing {
        LandingOutcome::Landed(landed) => {
            if !answer.parts.is_empty() {
                return Err(OpsError::Inconsistent(format!(
                    "{what}: more messages after the values"
                )));
            }
            check_landed(&landed, &key, count, info, what)?;
            Ok(Filled::Done)
        }
        LandingOutcome::Unused(mut placement) => {
            let outcome = keyed_arrays(
                &client.decode_options(),
                answer.parts,
                std::slice::from_ref(&key),
                info,
                decoded,
            )?;
            match single(outcome, uid) {
                Ok(values) => {
                    let values = checked_values(values, placement.transport(), count, what)?;
                    copy_into(values, placement.bytes_mut(), what)?;
                    Ok(Filled::Done)
                }
                Err(e) => Ok(Filled::Refused(e, placement)),
            }
        }
        LandingOutcome::None => Err(OpsError::Client(ClientError::UnexpectedResponse(format!(
            "{what}: the answer lost its placement"
        )))),
    }
}

/// Checks what surrounded values received in place: the message type, the key, the
/// dimensions and the end of the body.
fn check_landed(
    landed: &LandedMessage,
    key: &str,
    count: u64,
    info: MessageInfo,
    what: &str,
) -> Result<(), OpsError> {
    let header = &landed.header;
    if (header.protocol, header.message_type) != (info.protocol, info.message_type) {
        return Err(OpsError::Client(ClientError::UnexpectedResponse(format!(
            "expected {}, got message type {} of protocol {}",
            info.name, header.message_type, header.protocol
        ))));
    }
    let body_len = landed.body_head.len() + landed.placement.len() + landed.tail.len();
    let layout = values_layout(&landed.body_head, body_len)
        .filter(|l| l.values_at == landed.body_head.len() && l.suffix() == &landed.tail[..])
        .ok_or_else(|| OpsError::Inconsistent(format!("{what}: malformed {}", info.name)))?;
    if layout.key != key {
        return Err(OpsError::Inconsistent(format!(
            "{what}: answer for key {:?} instead of {key:?}",
            layout.key
        )));
    }
    let elements = layout
        .dimensions
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(u64::try_from(d).ok()?));
    if elements != Some(count) {
        return Err(OpsError::Inconsistent(format!(
            "{what}: dimensions {:?} for {count} values",
            layout.dimensions
        )));
    }
    Ok(())
}

/// Copies values that came the usual way into their place (little-endian, as on the wire).
fn copy_into(values: BlockValues, dest: &mut [u8], what: &str) -> Result<(), OpsError> {
    let wrong_size = || OpsError::Inconsistent(format!("{what}: values do not fill their place"));
    let mut at = 0;
    let mut put = |bytes: &[u8]| -> Result<(), OpsError> {
        let end = at + bytes.len();
        dest.get_mut(at..end)
            .ok_or_else(wrong_size)?
            .copy_from_slice(bytes);
        at = end;
        Ok(())
    };
    match values {
        BlockValues::Encoded(encoded) => {
            for bytes in encoded.le_bytes() {
                put(bytes)?;
            }
        }
        BlockValues::Decoded(ArrayValues::Double(v)) => {
            for value in v {
                put(&value.to_le_bytes())?;
            }
        }
        BlockValues::Decoded(ArrayValues::Float(v)) => {
            for value in v {
                put(&value.to_le_bytes())?;
            }
        }
        BlockValues::Decoded(ArrayValues::Bytes(v)) => put(&v)?,
        BlockValues::Decoded(other) => {
            return Err(OpsError::Inconsistent(format!(
                "{what}: {} values for a vector of another type",
                other.transport_type()
            )));
        }
    }
    if at != dest.len() {
        return Err(wrong_size());
    }
    Ok(())
}
