//! DataArray (protocol 9): array metadata, and whole-array transfers that stay within the
//! negotiated message size (12-dataarray.md).
//!
//! [`get_array`] reads the metadata, then asks for the whole array with `GetDataArrays`
//! when it fits one message, and otherwise for blocks with `GetDataSubarrays`
//! ([`BlockPlan`]: along axis 0, then deeper axes when a row is still too big). Block
//! requests are pipelined, at most [`ArrayTransfer::max_in_flight`] at once, and the
//! answers are handed to an [`ArraySink`] in flat order, so an array bigger than memory
//! streams straight to its destination.
//!
//! [`put_array`] declares the array with `PutUninitializedDataArrays` (dimensions,
//! transport and logical types), then sends it whole with `PutDataArrays` when it fits,
//! else block by block with pipelined `PutDataSubarrays`, reading each block from an
//! [`ArraySource`] only when there is room for another request in flight.
//!
//! Sizes: a block holds at most `budget / element size` elements, where the element size
//! is the longest Avro encoding of the transport type (5 bytes for `int`, 10 for `long`,
//! since Avro integers are varints) and, for strings, [`ArrayTransfer::string_size_hint`].
//! When the store still answers a block with `EMAXSIZE_EXCEEDED` (long strings), the
//! block is halved and fetched again; an outgoing block whose strings exceed the budget is
//! halved before it is sent.
//!
//! Alignment: when the store's `preferredSubarrayDimensions` is a contiguous block shape
//! (`[1, …, 1, k, dims…]`, what our server advertises: one chunk of its storage) and fits
//! the budget, blocks hold the largest whole number of preferred blocks that fits
//! ([`preferred_block_elements`]); a block straddling two chunks would make the store
//! read (get) or rewrite (put) both. Otherwise, or with any other preference, blocks fill
//! the budget. The put learns the preference with a GetDataArrayMetadata after
//! PutUninitializedDataArrays (inside the transaction, if any); if that request fails
//! the blocks fill the budget.

mod blocks;
mod values;

use std::future::Future;
use std::pin::Pin;

use etp_protocol::codec::Map;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::types::datatypes::data_array_types::{
    DataArray, DataArrayIdentifier, DataArrayMetadata, GetDataSubarraysType, PutDataArraysType,
    PutDataSubarraysType, PutUninitializedDataArrayType,
};
use etp_protocol::types::datatypes::{AnyArrayType, AnyLogicalArrayType};
use etp_protocol::types::protocol::data_array::{
    GetDataArrayMetadata, GetDataArrayMetadataResponse, GetDataArrays, GetDataArraysResponse,
    GetDataSubarrays, GetDataSubarraysResponse, PutDataArrays, PutDataArraysResponse,
    PutDataSubarrays, PutDataSubarraysResponse, PutUninitializedDataArrays,
    PutUninitializedDataArraysResponse,
};

pub use blocks::{Block, BlockPlan, element_count, preferred_block_elements};
pub use values::{ArrayValues, default_logical_type, max_element_size};

use super::pipeline::{self, batches};
use super::{
    DEFAULT_MAX_IN_FLIGHT, KeyError, KeyedResults, OpsError, keyed_response, merge, message_budget,
};
use crate::Client;

/// Where downloaded array values go. Called on the operation's async task: keep each call
/// short (buffered file writes are fine).
pub trait ArraySink: Send {
    /// Receives elements `offset .. offset + values.len()` of the row-major flattening.
    /// Calls come in increasing offset order without gaps or overlaps.
    fn write(&mut self, offset: u64, values: ArrayValues) -> std::io::Result<()>;
}

/// Where uploaded array values come from. Called on the operation's async task, only when
/// another block request may be sent: keep each call short (buffered file reads are fine).
pub trait ArraySource: Send {
    /// Returns elements `offset .. offset + count` of the row-major flattening, of the
    /// array's transport type. Calls come in increasing offset order without gaps.
    fn read(&mut self, offset: u64, count: usize) -> std::io::Result<ArrayValues>;
}

/// An in-memory array is a source.
impl ArraySource for ArrayValues {
    fn read(&mut self, offset: u64, count: usize) -> std::io::Result<ArrayValues> {
        let offset = usize::try_from(offset).map_err(std::io::Error::other)?;
        if offset.saturating_add(count) > self.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "elements {offset}..{} requested from {} values",
                    offset.saturating_add(count),
                    self.len()
                ),
            ));
        }
        Ok(self.slice(offset, count))
    }
}

/// A sink keeping everything in memory (small arrays, tests).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectSink {
    /// The values received so far, `None` before the first block.
    pub values: Option<ArrayValues>,
}

impl ArraySink for CollectSink {
    fn write(&mut self, _offset: u64, values: ArrayValues) -> std::io::Result<()> {
        match &mut self.values {
            None => self.values = Some(values),
            Some(all) => all.append(values).map_err(|other| {
                std::io::Error::other(format!(
                    "block of {} after values of {}",
                    other.transport_type(),
                    all.transport_type()
                ))
            })?,
        }
        Ok(())
    }
}

/// Tuning of array transfers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayTransfer {
    /// Block requests kept in flight at once.
    pub max_in_flight: usize,
    /// Largest block, in bytes of encoded values; `None` for what the session's message
    /// size allows (smaller blocks are useful to stream with finer progress).
    pub max_block_bytes: Option<usize>,
    /// Assumed encoded size of one string element when planning string blocks.
    pub string_size_hint: usize,
}

impl Default for ArrayTransfer {
    fn default() -> Self {
        ArrayTransfer {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_block_bytes: None,
            string_size_hint: 64,
        }
    }
}

impl ArrayTransfer {
    /// The most bytes of values one message may carry for `uid`.
    fn budget(&self, client: &Client, uid: &DataArrayIdentifier) -> usize {
        let session = message_budget(client)
            .saturating_sub(2 * (uid.uri.len() + uid.path_in_resource.len()) + 256);
        self.max_block_bytes
            .map_or(session, |b| b.min(session))
            .max(1)
    }

    /// The most elements of this transport type that fit `budget` bytes.
    fn max_elements(&self, transport: AnyArrayType, budget: usize) -> u64 {
        let size = max_element_size(transport).unwrap_or(self.string_size_hint.max(1));
        (budget / size).max(1) as u64
    }
}

/// The key used for the one array of a single-array request: its path, as pyetp does.
fn key_of(uid: &DataArrayIdentifier) -> String {
    uid.path_in_resource.to_string()
}

/// Metadata of several arrays, one result per identifier in the same order.
pub async fn get_arrays_metadata(
    client: &Client,
    uids: &[DataArrayIdentifier],
) -> Result<Vec<Result<DataArrayMetadata, KeyError>>, OpsError> {
    // Keys are positions: paths may repeat across different URIs.
    let items = uids
        .iter()
        .enumerate()
        .map(|(i, uid)| (i.to_string(), uid.clone()));
    let requests = batches(items, message_budget(client), 1000, |uid| {
        uid.uri.len() + uid.path_in_resource.len() + 20
    })
    .into_iter()
    .map(|data_arrays| {
        let client = client.clone();
        async move {
            let keys: Vec<String> = data_arrays.keys().map(ToString::to_string).collect();
            let response = client.request(GetDataArrayMetadata { data_arrays }).await?;
            keyed_response(response, &keys, |part: GetDataArrayMetadataResponse, ok| {
                ok.extend(part.array_metadata);
            })
        }
    });
    let mut all: KeyedResults<DataArrayMetadata> =
        merge(pipeline::all(DEFAULT_MAX_IN_FLIGHT, requests).await?);
    Ok((0..uids.len())
        .map(|i| {
            let key = i.to_string();
            match all.ok.swap_remove(key.as_str()) {
                Some(metadata) => Ok(metadata),
                None => Err(all.errors.swap_remove(key.as_str()).unwrap_or(KeyError {
                    code: KeyError::NO_ANSWER,
                    message: "no answer for this array".to_string(),
                })),
            }
        })
        .collect())
}

/// Metadata of one array; a store error for it becomes [`OpsError::Key`].
pub async fn get_array_metadata(
    client: &Client,
    uid: &DataArrayIdentifier,
) -> Result<DataArrayMetadata, OpsError> {
    let mut data_arrays = Map::new();
    data_arrays.insert(key_of(uid).into(), uid.clone());
    let response = client.request(GetDataArrayMetadata { data_arrays }).await?;
    let keys = [key_of(uid)];
    let outcome = keyed_response(response, &keys, |part: GetDataArrayMetadataResponse, ok| {
        ok.extend(part.array_metadata);
    })?;
    single(outcome, uid)
}

/// The one success of a single-key request, or its error.
fn single<T>(mut outcome: KeyedResults<T>, uid: &DataArrayIdentifier) -> Result<T, OpsError> {
    let key = key_of(uid);
    if let Some(value) = outcome.ok.swap_remove(key.as_str()) {
        return Ok(value);
    }
    let error = outcome
        .errors
        .swap_remove(key.as_str())
        .or_else(|| outcome.errors.into_values().next())
        .unwrap_or(KeyError {
            code: KeyError::NO_ANSWER,
            message: "no answer for this array".to_string(),
        });
    Err(OpsError::Key {
        key: format!("{} {}", uid.uri, uid.path_in_resource),
        error,
    })
}

/// The array's dimensions as sizes, and its element count.
fn shape(dimensions: &[i64]) -> Result<(Vec<u64>, u64), String> {
    let dims = dimensions
        .iter()
        .map(|&d| u64::try_from(d).map_err(|_| format!("negative dimension in {dimensions:?}")))
        .collect::<Result<Vec<u64>, String>>()?;
    let count =
        element_count(&dims).ok_or_else(|| format!("dimensions {dimensions:?} overflow"))?;
    Ok((dims, count))
}

/// Downloads a whole array into `sink` (see the module documentation for how it is
/// split) and returns its metadata.
pub async fn get_array(
    client: &Client,
    uid: &DataArrayIdentifier,
    sink: &mut dyn ArraySink,
    options: &ArrayTransfer,
) -> Result<DataArrayMetadata, OpsError> {
    let metadata = get_array_metadata(client, uid).await?;
    let (dims, count) = shape(&metadata.dimensions).map_err(OpsError::Inconsistent)?;
    if count == 0 {
        return Ok(metadata);
    }
    let transport = metadata.transport_array_type;
    let budget = options.budget(client, uid);
    let max_elements = options.max_elements(transport, budget);
    if count <= max_elements {
        match get_whole(client, uid, transport, count).await {
            Ok(values) => {
                sink.write(0, values)?;
                return Ok(metadata);
            }
            // Strings longer than the hint: go on with halves.
            Err(e) if e.code() == Some(ErrorCode::EMAXSIZE_EXCEEDED) && count > 1 => {
                tracing::debug!("whole array too big for a message; fetching blocks");
            }
            Err(e) => return Err(e),
        }
    }
    // Reached with a small array only after EMAXSIZE_EXCEEDED on the whole of it.
    let block_elements = if count <= max_elements {
        count.div_ceil(2)
    } else {
        preferred_block_elements(&dims, &metadata.preferred_subarray_dimensions, max_elements)
            .unwrap_or(max_elements)
    };
    let mut plan = BlockPlan::new(&dims, block_elements);
    pipeline::ordered(
        options.max_in_flight,
        || {
            Ok(plan.next().map(|block| {
                let client = client.clone();
                let uid = uid.clone();
                async move {
                    let values = get_block(client, uid, block.clone(), transport).await?;
                    Ok((block, values))
                }
            }))
        },
        |(block, values): (Block, ArrayValues)| {
            sink.write(block.offset, values)?;
            Ok(())
        },
    )
    .await?;
    Ok(metadata)
}

/// GetDataArrays for one whole array, checked against the metadata.
async fn get_whole(
    client: &Client,
    uid: &DataArrayIdentifier,
    transport: AnyArrayType,
    count: u64,
) -> Result<ArrayValues, OpsError> {
    let mut data_arrays = Map::new();
    data_arrays.insert(key_of(uid).into(), uid.clone());
    let response = client.request(GetDataArrays { data_arrays }).await?;
    let keys = [key_of(uid)];
    let outcome = keyed_response(response, &keys, |part: GetDataArraysResponse, ok| {
        ok.extend(part.data_arrays);
    })?;
    let array = single(outcome, uid)?;
    checked_values(array, transport, count, "the array")
}

/// The values of a DataArray answer, checked for type and size.
fn checked_values(
    array: DataArray,
    transport: AnyArrayType,
    count: u64,
    what: &str,
) -> Result<ArrayValues, OpsError> {
    let values = ArrayValues::from_any_array(array.data);
    if values.transport_type() != transport {
        return Err(OpsError::Inconsistent(format!(
            "{what} came as {} but the metadata says {transport}",
            values.transport_type()
        )));
    }
    if values.len() as u64 != count {
        return Err(OpsError::Inconsistent(format!(
            "{what} came with {} values instead of {count}",
            values.len()
        )));
    }
    Ok(values)
}

/// GetDataSubarrays for one block; halves it and retries when the store says the answer
/// would be too big.
fn get_block(
    client: Client,
    uid: DataArrayIdentifier,
    block: Block,
    transport: AnyArrayType,
) -> Pin<Box<dyn Future<Output = Result<ArrayValues, OpsError>> + Send>> {
    Box::pin(async move {
        let mut data_subarrays = Map::new();
        data_subarrays.insert(
            key_of(&uid).into(),
            GetDataSubarraysType {
                uid: uid.clone(),
                starts: block.starts_i64(),
                counts: block.counts_i64(),
            },
        );
        let response = client.request(GetDataSubarrays { data_subarrays }).await?;
        let keys = [key_of(&uid)];
        let outcome = keyed_response(response, &keys, |part: GetDataSubarraysResponse, ok| {
            ok.extend(part.data_subarrays);
        })?;
        match single(outcome, &uid) {
            Ok(array) => checked_values(
                array,
                transport,
                block.len,
                &format!("block at {:?}", block.starts),
            ),
            Err(e) if e.code() == Some(ErrorCode::EMAXSIZE_EXCEEDED) => {
                let Some((first, second)) = block.split() else {
                    return Err(e);
                };
                let mut values = get_block(client.clone(), uid.clone(), first, transport).await?;
                let rest = get_block(client, uid, second, transport).await?;
                values.append(rest).map_err(|_| {
                    OpsError::Inconsistent("halves of a block came with different types".into())
                })?;
                Ok(values)
            }
            Err(e) => Err(e),
        }
    })
}

/// Uploads a whole array of `dims` from `source`: PutUninitializedDataArrays with the
/// types, then PutDataArrays or pipelined PutDataSubarrays blocks. Run it inside a
/// transaction ([`super::in_transaction`]) to make the array appear at once.
pub async fn put_array(
    client: &Client,
    uid: &DataArrayIdentifier,
    dims: &[u64],
    transport: AnyArrayType,
    logical: AnyLogicalArrayType,
    source: &mut dyn ArraySource,
    options: &ArrayTransfer,
) -> Result<(), OpsError> {
    let count = element_count(dims)
        .ok_or_else(|| OpsError::InvalidArgument(format!("dimensions {dims:?} overflow")))?;
    let dimensions = dims
        .iter()
        .map(|&d| i64::try_from(d))
        .collect::<Result<Vec<i64>, _>>()
        .map_err(|_| OpsError::InvalidArgument(format!("dimensions {dims:?} too large")))?;
    let now = etp_protocol::now_micros();
    let mut declare = Map::new();
    declare.insert(
        key_of(uid).into(),
        PutUninitializedDataArrayType {
            uid: uid.clone(),
            metadata: DataArrayMetadata {
                dimensions: dimensions.clone(),
                preferred_subarray_dimensions: Vec::new(),
                transport_array_type: transport,
                logical_array_type: logical,
                store_last_write: now,
                store_created: now,
                custom_data: Map::new(),
            },
        },
    );
    let response = client
        .request(PutUninitializedDataArrays {
            data_arrays: declare,
        })
        .await?;
    let keys = [key_of(uid)];
    single(
        keyed_response(
            response,
            &keys,
            |part: PutUninitializedDataArraysResponse, ok| {
                ok.extend(part.success);
            },
        )?,
        uid,
    )?;

    let budget = options.budget(client, uid);
    let max_elements = options.max_elements(transport, budget);
    if count <= max_elements {
        let values = read_checked(source, 0, count, transport)?;
        if values.encoded_len_bound() <= budget {
            return put_whole(client, uid, dimensions, values).await;
        }
        // Strings longer than the hint: send the values already read as blocks.
        let mut in_memory = values;
        return put_blocks(
            client,
            uid,
            BlockPlan::new(dims, count.div_ceil(2)),
            &mut in_memory,
            transport,
            budget,
            options,
        )
        .await;
    }
    let block_elements = match get_array_metadata(client, uid).await {
        Ok(metadata) => {
            preferred_block_elements(dims, &metadata.preferred_subarray_dimensions, max_elements)
                .unwrap_or(max_elements)
        }
        Err(e) => {
            tracing::debug!("no metadata for the new array ({e}); blocks fill the messages");
            max_elements
        }
    };
    put_blocks(
        client,
        uid,
        BlockPlan::new(dims, block_elements),
        source,
        transport,
        budget,
        options,
    )
    .await
}

/// Reads `count` values at `offset` and checks what the source returned.
fn read_checked(
    source: &mut dyn ArraySource,
    offset: u64,
    count: u64,
    transport: AnyArrayType,
) -> Result<ArrayValues, OpsError> {
    let wanted = usize::try_from(count)
        .map_err(|_| OpsError::InvalidArgument(format!("block of {count} elements")))?;
    let values = source.read(offset, wanted)?;
    if values.transport_type() != transport {
        return Err(OpsError::InvalidArgument(format!(
            "the source gave {} values for an array of {transport}",
            values.transport_type()
        )));
    }
    if values.len() != wanted {
        return Err(OpsError::InvalidArgument(format!(
            "the source gave {} values at offset {offset} instead of {wanted}",
            values.len()
        )));
    }
    Ok(values)
}

/// PutDataArrays of a whole array.
async fn put_whole(
    client: &Client,
    uid: &DataArrayIdentifier,
    dimensions: Vec<i64>,
    values: ArrayValues,
) -> Result<(), OpsError> {
    let mut data_arrays = Map::new();
    data_arrays.insert(
        key_of(uid).into(),
        PutDataArraysType {
            uid: uid.clone(),
            array: DataArray {
                dimensions,
                data: values.into_any_array(),
            },
            custom_data: Map::new(),
        },
    );
    let response = client.request(PutDataArrays { data_arrays }).await?;
    let keys = [key_of(uid)];
    single(
        keyed_response(response, &keys, |part: PutDataArraysResponse, ok| {
            ok.extend(part.success);
        })?,
        uid,
    )?;
    Ok(())
}

/// Sends the blocks of `plan`, each read from `source` when there is room in flight.
async fn put_blocks(
    client: &Client,
    uid: &DataArrayIdentifier,
    mut plan: BlockPlan,
    source: &mut dyn ArraySource,
    transport: AnyArrayType,
    budget: usize,
    options: &ArrayTransfer,
) -> Result<(), OpsError> {
    pipeline::ordered(
        options.max_in_flight,
        || {
            let Some(block) = plan.next() else {
                return Ok(None);
            };
            let values = read_checked(source, block.offset, block.len, transport)?;
            Ok(Some(put_block(
                client.clone(),
                uid.clone(),
                block,
                values,
                budget,
            )))
        },
        |()| Ok(()),
    )
    .await
}

/// PutDataSubarrays for one block, halved first while its encoding exceeds `budget`
/// (only possible with long strings).
fn put_block(
    client: Client,
    uid: DataArrayIdentifier,
    block: Block,
    mut values: ArrayValues,
    budget: usize,
) -> Pin<Box<dyn Future<Output = Result<(), OpsError>> + Send>> {
    Box::pin(async move {
        if values.encoded_len_bound() > budget
            && let Some((first, second)) = block.split()
        {
            let rest = values.split_off(first.len as usize);
            put_block(client.clone(), uid.clone(), first, values, budget).await?;
            return put_block(client, uid, second, rest, budget).await;
        }
        let mut data_subarrays = Map::new();
        data_subarrays.insert(
            key_of(&uid).into(),
            PutDataSubarraysType {
                uid: uid.clone(),
                data: values.into_any_array(),
                starts: block.starts_i64(),
                counts: block.counts_i64(),
            },
        );
        let response = client.request(PutDataSubarrays { data_subarrays }).await?;
        let keys = [key_of(&uid)];
        single(
            keyed_response(response, &keys, |part: PutDataSubarraysResponse, ok| {
                ok.extend(part.success);
            })?,
            &uid,
        )?;
        Ok(())
    })
}
