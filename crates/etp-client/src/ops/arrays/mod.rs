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
//! Answers with `double`, `float` or `bytes` values are not decoded by the session's
//! reader: [`get_array`] takes them undecoded ([`Client::request_undecoded`]) and hands
//! the sink the values as they lie in the received message ([`EncodedValues`],
//! [`ArraySink::write_encoded`]), so a sink that knows where they go (e.g. [`SliceSink`]
//! into a preallocated array) copies each value once, on the operation's task, while the
//! reader goes on receiving. Sinks that only implement [`ArraySink::write`] get the values
//! decoded into vectors as before.
//!
//! [`put_array`] declares the array with `PutUninitializedDataArrays` (dimensions,
//! transport and logical types), then sends it whole with `PutDataArrays` when it fits,
//! else block by block with pipelined `PutDataSubarrays`, reading each block from an
//! [`ArraySource`] only when there is room for another request in flight. Blocks of
//! `double` or `float` values (on sessions without gzip) are written by the source
//! straight into the outgoing WebSocket frame, masked on the way
//! ([`ArraySource::read_into`], [`BlockWriter`]): one copy of the values in all.
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
mod encoded;
mod into_vec;
mod outgoing;
mod values;

use std::future::Future;
use std::pin::Pin;

use etp_protocol::codec::Map;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::message::{EtpMessage, MessageInfo};
use etp_protocol::types::Body;
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

pub use crate::landing::PlainElement;
pub use blocks::{Block, BlockPlan, element_count, preferred_block_elements};
pub use encoded::EncodedValues;
pub use into_vec::get_array_vec;
pub use outgoing::BlockWriter;
pub use values::{ArrayValues, default_logical_type, max_element_size};

use encoded::{BlockValues, parse_data_array_map};

use super::pipeline::{self, batches};
use super::{
    DEFAULT_MAX_IN_FLIGHT, KeyError, KeyedResults, OpsError, keyed_outcome, keyed_response, merge,
    message_budget,
};
use crate::client::MaskedBody;
use crate::{AnswerPart, Client, ClientError, DecodeOptions, Response};

/// Where downloaded array values go. Called on the operation's async task: keep each call
/// short (buffered file writes are fine).
pub trait ArraySink: Send {
    /// Called once with the array's metadata before any values (element count and
    /// transport type are known from here on). The default does nothing.
    fn start(&mut self, metadata: &DataArrayMetadata) -> std::io::Result<()> {
        let _ = metadata;
        Ok(())
    }

    /// Receives elements `offset .. offset + values.len()` of the row-major flattening.
    /// Calls come in increasing offset order without gaps or overlaps.
    fn write(&mut self, offset: u64, values: ArrayValues) -> std::io::Result<()>;

    /// Receives `double`, `float` or `bytes` elements `offset .. offset + values.len()` as
    /// they lie in the received message, before any decoding: implement it to copy them
    /// straight to where they go (once). Calls interleave with [`ArraySink::write`] in the
    /// same offset order. The default decodes them into a vector and calls `write`.
    fn write_encoded(&mut self, offset: u64, values: &EncodedValues) -> std::io::Result<()> {
        self.write(offset, values.to_values())
    }
}

/// Where uploaded array values come from. Called on the operation's async task, only when
/// another block request may be sent: keep each call short (buffered file reads are fine).
pub trait ArraySource: Send {
    /// Returns elements `offset .. offset + count` of the row-major flattening, of the
    /// array's transport type. Calls come in increasing offset order without gaps.
    fn read(&mut self, offset: u64, count: usize) -> std::io::Result<ArrayValues>;

    /// Writes elements `offset .. offset + count` into `out`, which puts them straight
    /// into the outgoing message: called instead of [`ArraySource::read`] for blocks of
    /// `arrayOfDouble` and `arrayOfFloat` arrays when the session does not compress.
    /// Override it to copy values from where they lie ([`BlockWriter::write_f64s`]),
    /// without building a vector first. The default calls `read` and writes the vector.
    fn read_into(
        &mut self,
        offset: u64,
        count: usize,
        out: &mut BlockWriter<'_>,
    ) -> std::io::Result<()> {
        let values = self.read(offset, count)?;
        out.write_values(&values)
    }
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

    fn read_into(
        &mut self,
        offset: u64,
        count: usize,
        out: &mut BlockWriter<'_>,
    ) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(std::io::Error::other)?;
        let range = start..start.saturating_add(count);
        match self {
            ArrayValues::Double(v) if range.end <= v.len() => out.write_f64s(&v[range]),
            ArrayValues::Float(v) if range.end <= v.len() => out.write_f32s(&v[range]),
            _ => out.write_values(&self.read(offset, count)?),
        }
    }
}

/// Elements [`CollectSink`] reserves before the first block at most: the metadata comes
/// from the server, which must not make the client reserve more than this on its word.
const COLLECT_RESERVE_MAX: u64 = 1 << 25;

/// A sink keeping everything in memory (small arrays, tests). The vector is reserved from
/// the metadata (up to 2^25 elements) when the transfer starts, and `double` / `float` /
/// `bytes` blocks are copied into it once, straight from the received message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CollectSink {
    /// The values received so far: `None` before the transfer starts and after it for an
    /// empty array.
    pub values: Option<ArrayValues>,
}

impl ArraySink for CollectSink {
    fn start(&mut self, metadata: &DataArrayMetadata) -> std::io::Result<()> {
        let count = shape(&metadata.dimensions).map_or(0, |(_, count)| count);
        if count > 0 && self.values.is_none() {
            let reserve = usize::try_from(count.min(COLLECT_RESERVE_MAX)).unwrap_or(0);
            self.values = Some(ArrayValues::with_capacity(
                metadata.transport_array_type,
                reserve,
            ));
        }
        Ok(())
    }

    fn write_encoded(&mut self, offset: u64, values: &EncodedValues) -> std::io::Result<()> {
        let Some(all) = &mut self.values else {
            return self.write(offset, values.to_values());
        };
        if !all.extend_from_encoded(values) {
            return Err(std::io::Error::other(format!(
                "block of {} after values of {}",
                values.transport_type(),
                all.transport_type()
            )));
        }
        Ok(())
    }

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

/// Element types a [`SliceSink`] can fill: one per transport type of fixed width.
pub trait SliceElement: Copy + Send + 'static {
    /// The transport type whose values have this element type.
    const TRANSPORT: AnyArrayType;
    /// Copies values as they lie in a received message into `dest` (exactly as long).
    fn copy_encoded(values: &EncodedValues, dest: &mut [Self]) -> std::io::Result<()>;
    /// The vector inside decoded values of this type.
    fn decoded(values: &ArrayValues) -> Option<&[Self]>;
}

macro_rules! slice_element {
    ($t:ty, $transport:ident, $variant:ident, $copy:expr) => {
        impl SliceElement for $t {
            const TRANSPORT: AnyArrayType = AnyArrayType::$transport;
            fn copy_encoded(values: &EncodedValues, dest: &mut [Self]) -> std::io::Result<()> {
                $copy(values, dest)
            }
            fn decoded(values: &ArrayValues) -> Option<&[Self]> {
                match values {
                    ArrayValues::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}

/// For types that never travel as [`EncodedValues`].
fn never_encoded<T>(values: &EncodedValues, _: &mut [T]) -> std::io::Result<()> {
    Err(std::io::Error::other(format!(
        "{} values for a destination of another type",
        values.transport_type()
    )))
}

slice_element!(f64, ArrayOfDouble, Double, EncodedValues::copy_to_f64);
slice_element!(f32, ArrayOfFloat, Float, EncodedValues::copy_to_f32);
slice_element!(u8, Bytes, Bytes, EncodedValues::copy_to_u8);
slice_element!(i32, ArrayOfInt, Int, never_encoded);
slice_element!(i64, ArrayOfLong, Long, never_encoded);
slice_element!(bool, ArrayOfBoolean, Boolean, never_encoded);

/// A sink filling a caller's slice, e.g. an array allocated once for the whole download:
/// each value is copied once, from the received message into its place. The array's
/// transport type must match the element type and its element count the slice's length
/// (checked when the transfer starts).
#[derive(Debug)]
pub struct SliceSink<'a, T: SliceElement> {
    dest: &'a mut [T],
    filled: u64,
}

impl<'a, T: SliceElement> SliceSink<'a, T> {
    /// A sink writing into `dest`.
    pub fn new(dest: &'a mut [T]) -> Self {
        SliceSink { dest, filled: 0 }
    }

    /// Elements written so far (all of them once `get_array` returned `Ok`).
    pub fn filled(&self) -> u64 {
        self.filled
    }

    /// The part of the destination for `count` elements at `offset`.
    fn place(&mut self, offset: u64, count: usize) -> std::io::Result<&mut [T]> {
        let len = self.dest.len();
        usize::try_from(offset)
            .ok()
            .and_then(|start| self.dest.get_mut(start..start.checked_add(count)?))
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{count} values at offset {offset} overrun a destination of {len}"),
                )
            })
    }
}

impl<T: SliceElement> ArraySink for SliceSink<'_, T> {
    fn start(&mut self, metadata: &DataArrayMetadata) -> std::io::Result<()> {
        let (_, count) = shape(&metadata.dimensions)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        if metadata.transport_array_type != T::TRANSPORT || count != self.dest.len() as u64 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "an array of {count} {} does not fit a destination of {} {}",
                    metadata.transport_array_type,
                    self.dest.len(),
                    T::TRANSPORT
                ),
            ));
        }
        Ok(())
    }

    fn write(&mut self, offset: u64, values: ArrayValues) -> std::io::Result<()> {
        let Some(decoded) = T::decoded(&values) else {
            return Err(std::io::Error::other(format!(
                "{} values for a destination of {}",
                values.transport_type(),
                T::TRANSPORT
            )));
        };
        self.place(offset, decoded.len())?.copy_from_slice(decoded);
        self.filled += decoded.len() as u64;
        Ok(())
    }

    fn write_encoded(&mut self, offset: u64, values: &EncodedValues) -> std::io::Result<()> {
        T::copy_encoded(values, self.place(offset, values.len())?)?;
        self.filled += values.len() as u64;
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
    sink.start(&metadata)?;
    if count == 0 {
        return Ok(metadata);
    }
    let transport = metadata.transport_array_type;
    let budget = options.budget(client, uid);
    let max_elements = options.max_elements(transport, budget);
    if count <= max_elements {
        match get_whole(client, uid, transport, count).await {
            Ok(values) => {
                write_block(sink, 0, values)?;
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
                async move { get_block(client, uid, block, transport).await }
            }))
        },
        |pieces: Vec<(u64, BlockValues)>| {
            for (offset, values) in pieces {
                write_block(sink, offset, values)?;
            }
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
) -> Result<BlockValues, OpsError> {
    let mut data_arrays = Map::new();
    data_arrays.insert(key_of(uid).into(), uid.clone());
    let parts = client
        .request_undecoded(GetDataArrays { data_arrays })
        .await?;
    let keys = [key_of(uid)];
    let options = client.decode_options();
    let outcome = keyed_arrays(
        &options,
        parts,
        &keys,
        GetDataArraysResponse::INFO,
        |body| {
            GetDataArraysResponse::try_from(body)
                .ok()
                .map(|r| r.data_arrays)
        },
    )?;
    let values = single(outcome, uid)?;
    checked_values(values, transport, count, "the array")
}

/// Hands one block's values to the sink: as they came when they were left undecoded.
fn write_block(sink: &mut dyn ArraySink, offset: u64, values: BlockValues) -> std::io::Result<()> {
    match values {
        BlockValues::Encoded(encoded) => sink.write_encoded(offset, &encoded),
        BlockValues::Decoded(decoded) => sink.write(offset, decoded),
    }
}

/// The per-key outcome of an array answer (a `map<DataArray>` body of type `info`) taken
/// undecoded: fixed-width values stay in the messages, everything else is decoded here;
/// `decoded` gets the map out of a body the reader had to decode (e.g. a compressed one).
fn keyed_arrays(
    options: &DecodeOptions,
    parts: Vec<AnswerPart>,
    request_keys: &[String],
    info: MessageInfo,
    decoded: impl Fn(Body) -> Option<Map<DataArray>>,
) -> Result<KeyedResults<BlockValues>, OpsError> {
    let mut reported = Vec::new();
    let mut ok = Map::new();
    for part in parts {
        let header = *part.header();
        if let AnswerPart::Undecoded(message) = &part
            && (header.protocol, header.message_type) == (info.protocol, info.message_type)
        {
            let entries =
                parse_data_array_map(message.payload(), message.body_start()).map_err(|e| {
                    ClientError::Decode(format!(
                        "message {} ({}): {e}",
                        header.message_id, info.name
                    ))
                })?;
            for (key, _dimensions, values) in entries {
                ok.insert(key.into(), values);
            }
            continue;
        }
        match part.into_message(options)?.body {
            Body::ProtocolException(pe) => {
                reported.extend(pe.error.map(|e| (None, e)));
                reported.extend(pe.errors.into_iter().map(|(k, e)| (Some(k.to_string()), e)));
            }
            body => {
                let got = body.info().name;
                let arrays = decoded(body).ok_or_else(|| {
                    ClientError::UnexpectedResponse(format!("expected {}, got {got}", info.name))
                })?;
                for (key, array) in arrays {
                    ok.insert(
                        key,
                        BlockValues::Decoded(ArrayValues::from_any_array(array.data)),
                    );
                }
            }
        }
    }
    Ok(keyed_outcome(reported, request_keys, ok))
}

/// The values of a DataArray answer, checked for type and size.
fn checked_values(
    values: BlockValues,
    transport: AnyArrayType,
    count: u64,
    what: &str,
) -> Result<BlockValues, OpsError> {
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

/// Values of a block in flat order, with their offsets: one piece, or more when the block
/// had to be halved.
type Pieces = Vec<(u64, BlockValues)>;

/// The GetDataSubarrays asking for `block` of `uid`, keyed as [`key_of`].
fn subarray_request(uid: &DataArrayIdentifier, block: &Block) -> GetDataSubarrays {
    let mut data_subarrays = Map::new();
    data_subarrays.insert(
        key_of(uid).into(),
        GetDataSubarraysType {
            uid: uid.clone(),
            starts: block.starts_i64(),
            counts: block.counts_i64(),
        },
    );
    GetDataSubarrays { data_subarrays }
}

/// GetDataSubarrays for one block; halves it and retries when the store says the answer
/// would be too big.
fn get_block(
    client: Client,
    uid: DataArrayIdentifier,
    block: Block,
    transport: AnyArrayType,
) -> Pin<Box<dyn Future<Output = Result<Pieces, OpsError>> + Send>> {
    Box::pin(async move {
        let parts = client
            .request_undecoded(subarray_request(&uid, &block))
            .await?;
        let keys = [key_of(&uid)];
        let outcome = keyed_arrays(
            &client.decode_options(),
            parts,
            &keys,
            GetDataSubarraysResponse::INFO,
            |body| {
                GetDataSubarraysResponse::try_from(body)
                    .ok()
                    .map(|r| r.data_subarrays)
            },
        )?;
        match single(outcome, &uid) {
            Ok(values) => Ok(vec![(
                block.offset,
                checked_values(
                    values,
                    transport,
                    block.len,
                    &format!("block at {:?}", block.starts),
                )?,
            )]),
            Err(e) if e.code() == Some(ErrorCode::EMAXSIZE_EXCEEDED) => {
                let Some((first, second)) = block.split() else {
                    return Err(e);
                };
                let mut pieces = get_block(client.clone(), uid.clone(), first, transport).await?;
                pieces.extend(get_block(client, uid, second, transport).await?);
                Ok(pieces)
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
    put_outcome(response, uid, |part: PutUninitializedDataArraysResponse| {
        part.success
    })?;

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
    put_outcome(response, uid, |part: PutDataArraysResponse| part.success)
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
    // Fixed-width floating-point values go straight into the outgoing frames, unless
    // gzip might shrink the messages.
    let direct = outgoing::direct_element_size(transport).is_some() && !client.compression();
    pipeline::ordered(
        options.max_in_flight,
        || {
            let Some(block) = plan.next() else {
                return Ok(None);
            };
            if direct {
                let body = outgoing::put_subarray(uid, &block, source, transport)?;
                return Ok(Some(send_block(client.clone(), uid.clone(), body)));
            }
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

/// Sends a block's PutDataSubarrays written by [`outgoing::put_subarray`].
fn send_block(
    client: Client,
    uid: DataArrayIdentifier,
    body: MaskedBody,
) -> Pin<Box<dyn Future<Output = Result<(), OpsError>> + Send>> {
    Box::pin(async move {
        let response = client.request_masked(body).await?;
        put_block_outcome(response, &uid)
    })
}

/// The outcome of one block's PutDataSubarrays.
fn put_block_outcome(response: Response, uid: &DataArrayIdentifier) -> Result<(), OpsError> {
    put_outcome(response, uid, |part: PutDataSubarraysResponse| part.success)
}

/// The outcome of a put of the one array `uid`: its key in the response's `success`
/// map (each part's, through `success`), or the error reported for it.
fn put_outcome<B: EtpMessage>(
    response: Response,
    uid: &DataArrayIdentifier,
    success: impl Fn(B) -> Map<etp_protocol::EtpString>,
) -> Result<(), OpsError> {
    let keys = [key_of(uid)];
    single(
        keyed_response(response, &keys, |part: B, ok| ok.extend(success(part)))?,
        uid,
    )?;
    Ok(())
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
        put_block_outcome(response, &uid)
    })
}

#[cfg(test)]
mod tests {
    use etp_protocol::message::{Message, flags};
    use etp_protocol::types::datatypes::data_array_types::DataArray;
    use etp_protocol::types::datatypes::{ErrorInfo, MessageHeader};
    use etp_protocol::types::protocol::core::ProtocolException;

    use super::*;

    fn decoded(id: i64, body: Body, flags: i32) -> AnswerPart {
        let info = body.info();
        AnswerPart::Decoded(Box::new(Message {
            header: MessageHeader {
                protocol: info.protocol,
                message_type: info.message_type,
                correlation_id: 2,
                message_id: id,
                message_flags: flags,
            },
            extension: None,
            body,
        }))
    }

    fn subarrays(key: &str, values: ArrayValues) -> Body {
        let mut data_subarrays = Map::new();
        data_subarrays.insert(
            key.to_string().into(),
            DataArray {
                dimensions: vec![values.len() as i64],
                data: values.into_any_array(),
            },
        );
        GetDataSubarraysResponse { data_subarrays }.into()
    }

    fn keyed(parts: Vec<AnswerPart>, keys: &[&str]) -> Result<KeyedResults<BlockValues>, OpsError> {
        let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
        keyed_arrays(
            &DecodeOptions::default(),
            parts,
            &keys,
            GetDataSubarraysResponse::INFO,
            |body| {
                GetDataSubarraysResponse::try_from(body)
                    .ok()
                    .map(|r| r.data_subarrays)
            },
        )
    }

    #[test]
    fn answers_the_reader_decoded_are_taken_as_they_are() {
        // A gzipped answer arrives decoded; a keyed error in a ProtocolException.
        let mut errors = Map::new();
        errors.insert(
            "b".to_string().into(),
            ErrorInfo {
                message: "no such array".into(),
                code: 11,
            },
        );
        let parts = vec![
            decoded(3, subarrays("a", ArrayValues::Double(vec![1.0, 2.0])), 0),
            decoded(
                5,
                ProtocolException {
                    error: None,
                    errors,
                }
                .into(),
                flags::FIN,
            ),
        ];
        let outcome = keyed(parts, &["a", "b", "c"]).unwrap();
        assert_eq!(
            outcome.ok.get("a"),
            Some(&BlockValues::Decoded(ArrayValues::Double(vec![1.0, 2.0])))
        );
        assert_eq!(outcome.errors.get("b").map(|e| e.code.code()), Some(11));
        assert_eq!(
            outcome.errors.get("c").map(|e| e.code),
            Some(KeyError::NO_ANSWER)
        );
    }

    #[test]
    fn answers_of_another_type_are_refused() {
        let parts = vec![decoded(
            3,
            GetDataArraysResponse {
                data_arrays: Map::new(),
            }
            .into(),
            flags::FIN,
        )];
        let err = keyed(parts, &["a"]).unwrap_err();
        assert!(
            err.to_string().contains("GetDataSubarraysResponse"),
            "{err}"
        );
    }
}
