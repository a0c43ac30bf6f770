//! Array values between the wire (`AnyArray`) and the store (little-endian row-major bytes,
//! or strings).
//!
//! Both directions move whole buffers, never one element through a generic path: a put
//! hands `write_subarray` the memory of the decoded `Vec<f64>` (`f32`, `i64`, `i32`) as
//! bytes, which on little-endian targets already is the store's layout (no copy; other
//! targets and booleans convert in one bulk loop). A get of `double`, `float` or `bytes`
//! values encodes the answer around the store's chunk buffers ([`encode`]); other types
//! stream `read_subarray` into a [`Write`] sink that appends each piece the store
//! produces straight into the answer's vector with the codec's bulk path, so no
//! intermediate byte buffer of the array exists. Integer and boolean conversions are branch-free loops over
//! fixed-size chunks that the compiler vectorizes.

use std::borrow::Cow;
use std::io::{self, Write};

use bytes::Bytes;
use etp_protocol::codec::writer::{
    bytes_len, int_len, long_len, write_f32s, write_f64s, write_long,
};
use etp_protocol::codec::{Avro, Reader, SegmentedBuf};
use etp_protocol::types::datatypes::{
    AnyArray, AnyArrayItem, AnyArrayType, AnyLogicalArrayType, ArrayOfBoolean, ArrayOfDouble,
    ArrayOfFloat, ArrayOfInt, ArrayOfLong, ArrayOfString, ErrorInfo,
};
use etp_store::{ArrayKey, ElementType, ReadTxn, STRING_CHUNK_ELEMS, StoreError};

use super::geometry::{Region, invalid};
use super::view::PutValues;

/// The store element type of a transport type.
pub(super) fn element_type(transport: AnyArrayType) -> ElementType {
    match transport {
        AnyArrayType::ArrayOfBoolean => ElementType::Bool,
        AnyArrayType::ArrayOfInt => ElementType::I32,
        AnyArrayType::ArrayOfLong => ElementType::I64,
        AnyArrayType::ArrayOfFloat => ElementType::F32,
        AnyArrayType::ArrayOfDouble => ElementType::F64,
        AnyArrayType::ArrayOfString => ElementType::String,
        AnyArrayType::Bytes => ElementType::Bytes,
    }
}

/// The transport type an array of `element` is answered in.
pub(super) fn transport_type(element: ElementType) -> AnyArrayType {
    match element {
        ElementType::Bool => AnyArrayType::ArrayOfBoolean,
        ElementType::I32 => AnyArrayType::ArrayOfInt,
        ElementType::I64 => AnyArrayType::ArrayOfLong,
        ElementType::F32 => AnyArrayType::ArrayOfFloat,
        ElementType::F64 => AnyArrayType::ArrayOfDouble,
        ElementType::String => AnyArrayType::ArrayOfString,
        ElementType::Bytes => AnyArrayType::Bytes,
    }
}

/// The store element type of values as sent.
pub(super) fn item_element_type(values: &PutValues) -> ElementType {
    match values {
        PutValues::Decoded(AnyArrayItem::ArrayOfBoolean(_)) => ElementType::Bool,
        PutValues::Decoded(AnyArrayItem::ArrayOfInt(_)) => ElementType::I32,
        PutValues::Decoded(AnyArrayItem::ArrayOfLong(_)) => ElementType::I64,
        PutValues::Decoded(AnyArrayItem::ArrayOfFloat(_)) | PutValues::Floats(_) => {
            ElementType::F32
        }
        PutValues::Decoded(AnyArrayItem::ArrayOfDouble(_)) | PutValues::Doubles(_) => {
            ElementType::F64
        }
        PutValues::Decoded(AnyArrayItem::ArrayOfString(_)) => ElementType::String,
        PutValues::Decoded(AnyArrayItem::Bytes(_)) => ElementType::Bytes,
    }
}

/// Number of values sent (for `bytes`, the number of bytes: dimensions count bytes).
pub(super) fn value_count(values: &PutValues) -> u64 {
    let n = match values {
        PutValues::Decoded(AnyArrayItem::ArrayOfBoolean(a)) => a.values.len(),
        PutValues::Decoded(AnyArrayItem::ArrayOfInt(a)) => a.values.len(),
        PutValues::Decoded(AnyArrayItem::ArrayOfLong(a)) => a.values.len(),
        PutValues::Decoded(AnyArrayItem::ArrayOfFloat(a)) => a.values.len(),
        PutValues::Decoded(AnyArrayItem::ArrayOfDouble(a)) => a.values.len(),
        PutValues::Decoded(AnyArrayItem::ArrayOfString(a)) => a.values.len(),
        PutValues::Decoded(AnyArrayItem::Bytes(b)) => b.len(),
        PutValues::Doubles(b) => b.len() / 8,
        PutValues::Floats(b) => b.len() / 4,
    };
    n as u64
}

/// The logical type assumed when a PutDataArrays creates an array no
/// PutUninitializedDataArrays announced: the pair pyetp sends for that transport type.
pub(super) fn default_logical_type(element: ElementType) -> AnyLogicalArrayType {
    match element {
        ElementType::Bool => AnyLogicalArrayType::ArrayOfBoolean,
        ElementType::I32 => AnyLogicalArrayType::ArrayOfInt32LE,
        ElementType::I64 => AnyLogicalArrayType::ArrayOfInt64LE,
        ElementType::F32 => AnyLogicalArrayType::ArrayOfFloat32LE,
        ElementType::F64 => AnyLogicalArrayType::ArrayOfDouble64LE,
        ElementType::String => AnyLogicalArrayType::ArrayOfString,
        ElementType::Bytes => AnyLogicalArrayType::ArrayOfInt8,
    }
}

/// The logical type stored as its enum index; an index the store should never hold
/// (written by a newer build?) reads as `arrayOfCustom`.
pub(super) fn logical_type(index: i32) -> AnyLogicalArrayType {
    usize::try_from(index)
        .ok()
        .and_then(|i| AnyLogicalArrayType::ALL.get(i).copied())
        .unwrap_or(AnyLogicalArrayType::ArrayOfCustom)
}

/// The size `MaxDataArraySize` is compared with: element count × element size. A string
/// has no fixed size; it counts one byte per element (its smallest encoding), and
/// [`string_bytes`] refines that when the values are at hand.
pub(super) fn array_bytes(element: ElementType, count: u64) -> Option<u64> {
    count.checked_mul(element.fixed_size().unwrap_or(1))
}

/// UTF-8 bytes of string values, at least one per element.
pub(super) fn string_bytes(values: &PutValues) -> Option<u64> {
    match values {
        PutValues::Decoded(AnyArrayItem::ArrayOfString(a)) => Some(
            a.values
                .iter()
                .map(|s| s.len().max(1) as u64)
                .fold(0u64, u64::saturating_add),
        ),
        _ => None,
    }
}

/// Values converted for the store.
pub(super) enum StoreValues {
    /// A fixed-width array's values, row-major.
    Fixed(FixedValues),
    /// String elements, row-major.
    Strings(Vec<String>),
}

/// Fixed-width values kept as received or decoded: on little-endian targets the memory of
/// a `Vec<f64>` (or of `f32`, `i64`, `i32`) already is the store's little-endian bytes, so
/// a put hands the store a view of the decoded vector instead of a 1 MiB copy in a fresh
/// buffer.
pub(super) enum FixedValues {
    /// The store's bytes as they came in the message: `bytes` transport, and `double` or
    /// `float` values left in the message ([`PutValues::Doubles`], [`PutValues::Floats`]).
    Bytes(Bytes),
    Doubles(Vec<f64>),
    Floats(Vec<f32>),
    Longs(Vec<i64>),
    Ints(Vec<i32>),
    Booleans(Vec<bool>),
}

impl FixedValues {
    /// The values as little-endian bytes: borrowed where the memory layout allows.
    pub(super) fn le_bytes(&self) -> Cow<'_, [u8]> {
        match self {
            FixedValues::Bytes(b) => Cow::Borrowed(b),
            FixedValues::Doubles(v) => f64::le_bytes(v),
            FixedValues::Floats(v) => f32::le_bytes(v),
            FixedValues::Longs(v) => i64::le_bytes(v),
            FixedValues::Ints(v) => i32::le_bytes(v),
            FixedValues::Booleans(v) => bool::le_bytes(v),
        }
    }
}

/// Converts values sent for an array of `target` element type. Lossless widenings are
/// accepted (`arrayOfInt` into a long array, `arrayOfFloat` into a double array); any
/// other mismatch is the key's `EINVALID_ARGUMENT`.
pub(super) fn into_store(values: PutValues, target: ElementType) -> Result<StoreValues, ErrorInfo> {
    let sent = item_element_type(&values);
    let fixed = |values: FixedValues| Ok(StoreValues::Fixed(values));
    let item = match (values, target) {
        // Avro's little-endian IEEE 754 is the store's layout: the received bytes go as
        // they are, on any target.
        (PutValues::Doubles(b), ElementType::F64) | (PutValues::Floats(b), ElementType::F32) => {
            return fixed(FixedValues::Bytes(b));
        }
        (PutValues::Floats(b), ElementType::F64) => {
            let (chunks, _) = b.as_chunks::<4>();
            return fixed(FixedValues::Doubles(
                chunks
                    .iter()
                    .map(|c| f64::from(f32::from_le_bytes(*c)))
                    .collect(),
            ));
        }
        (PutValues::Decoded(item), _) => item,
        (PutValues::Doubles(_) | PutValues::Floats(_), _) => return Err(mismatch(sent, target)),
    };
    match (item, target) {
        (AnyArrayItem::ArrayOfDouble(a), ElementType::F64) => fixed(FixedValues::Doubles(a.values)),
        (AnyArrayItem::ArrayOfFloat(a), ElementType::F32) => fixed(FixedValues::Floats(a.values)),
        (AnyArrayItem::ArrayOfLong(a), ElementType::I64) => fixed(FixedValues::Longs(a.values)),
        (AnyArrayItem::ArrayOfInt(a), ElementType::I32) => fixed(FixedValues::Ints(a.values)),
        (AnyArrayItem::ArrayOfBoolean(a), ElementType::Bool) => {
            fixed(FixedValues::Booleans(a.values))
        }
        (AnyArrayItem::Bytes(b), ElementType::Bytes) => fixed(FixedValues::Bytes(b)),
        (AnyArrayItem::ArrayOfString(a), ElementType::String) => Ok(StoreValues::Strings(
            a.values.into_iter().map(String::from).collect(),
        )),
        (AnyArrayItem::ArrayOfInt(a), ElementType::I64) => fixed(FixedValues::Longs(
            a.values.iter().map(|&v| i64::from(v)).collect(),
        )),
        (AnyArrayItem::ArrayOfFloat(a), ElementType::F64) => fixed(FixedValues::Doubles(
            a.values.iter().map(|&v| f64::from(v)).collect(),
        )),
        _ => Err(mismatch(sent, target)),
    }
}

/// The key's error for values of `sent` type put into an array of `target`.
fn mismatch(sent: ElementType, target: ElementType) -> ErrorInfo {
    invalid(format!(
        "values of transport type {} cannot be written into an array of {}",
        transport_type(sent),
        transport_type(target)
    ))
}

fn to_le<T: Element>(values: &[T]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * T::SIZE);
    T::append_le(values, &mut out);
    out
}

/// The memory of `values` as bytes, for plain numbers whose in-memory layout on a
/// little-endian target is their little-endian encoding.
#[cfg(target_endian = "little")]
fn memory_of<T: PlainNumber>(values: &[T]) -> &[u8] {
    // SAFETY: `PlainNumber` is only implemented for f64, f32, i64 and i32, which have no
    // padding bytes and no invalid bit patterns as bytes; the slice covers exactly the
    // memory of `values` (`size_of_val` bytes), u8 has alignment 1, and it borrows
    // `values`, so the memory outlives it unchanged.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), size_of_val(values)) }
}

/// Numbers whose memory is exactly their bytes (see [`memory_of`]).
trait PlainNumber: Copy {}
impl PlainNumber for f64 {}
impl PlainNumber for f32 {}
impl PlainNumber for i64 {}
impl PlainNumber for i32 {}

/// A fixed-width element type and its bulk conversions.
trait Element: Sized + Copy {
    /// Bytes per element in the store.
    const SIZE: usize;
    /// Whether the Avro encoding has a variable length (varints), so that the size of an
    /// answer is only known once the values are read.
    const VARIABLE: bool;
    /// Appends the little-endian bytes of `values`.
    fn append_le(values: &[Self], out: &mut Vec<u8>);
    /// The little-endian bytes of `values`, borrowed when their memory already is that.
    fn le_bytes(values: &[Self]) -> Cow<'_, [u8]> {
        Cow::Owned(to_le(values))
    }
    /// Appends the values of `bytes`, a whole number of little-endian elements.
    fn extend_from_le(out: &mut Vec<Self>, bytes: &[u8]);
    /// Avro encoding size of `values` as array items.
    fn wire_len(values: &[Self]) -> usize;
}

impl Element for f64 {
    const SIZE: usize = 8;
    const VARIABLE: bool = false;
    fn append_le(values: &[Self], out: &mut Vec<u8>) {
        write_f64s(out, values);
    }
    #[cfg(target_endian = "little")]
    fn le_bytes(values: &[Self]) -> Cow<'_, [u8]> {
        Cow::Borrowed(memory_of(values))
    }
    fn extend_from_le(out: &mut Vec<Self>, bytes: &[u8]) {
        // The codec's bulk read: one copy into the vector's spare capacity. It cannot fail
        // on a whole number of elements; the fallback keeps this total anyway.
        if Reader::new(bytes)
            .read_f64s_into(bytes.len() / 8, out)
            .is_err()
        {
            let (chunks, _) = bytes.as_chunks::<8>();
            out.extend(chunks.iter().map(|c| f64::from_le_bytes(*c)));
        }
    }
    fn wire_len(values: &[Self]) -> usize {
        values.len() * 8
    }
}

impl Element for f32 {
    const SIZE: usize = 4;
    const VARIABLE: bool = false;
    fn append_le(values: &[Self], out: &mut Vec<u8>) {
        write_f32s(out, values);
    }
    #[cfg(target_endian = "little")]
    fn le_bytes(values: &[Self]) -> Cow<'_, [u8]> {
        Cow::Borrowed(memory_of(values))
    }
    fn extend_from_le(out: &mut Vec<Self>, bytes: &[u8]) {
        if Reader::new(bytes)
            .read_f32s_into(bytes.len() / 4, out)
            .is_err()
        {
            let (chunks, _) = bytes.as_chunks::<4>();
            out.extend(chunks.iter().map(|c| f32::from_le_bytes(*c)));
        }
    }
    fn wire_len(values: &[Self]) -> usize {
        values.len() * 4
    }
}

/// Integer conversions: `as_chunks` loops with no bounds checks in the body, which the
/// compiler turns into vector moves (a byte-swap-free copy on little-endian targets).
macro_rules! integer_element {
    ($ty:ty, $size:literal, $len:expr) => {
        impl Element for $ty {
            const SIZE: usize = $size;
            const VARIABLE: bool = true;
            #[cfg(target_endian = "little")]
            fn le_bytes(values: &[Self]) -> Cow<'_, [u8]> {
                Cow::Borrowed(memory_of(values))
            }
            fn append_le(values: &[Self], out: &mut Vec<u8>) {
                let start = out.len();
                out.resize(start + values.len() * $size, 0);
                let (chunks, _) = out[start..].as_chunks_mut::<$size>();
                for (chunk, value) in chunks.iter_mut().zip(values) {
                    *chunk = value.to_le_bytes();
                }
            }
            fn extend_from_le(out: &mut Vec<Self>, bytes: &[u8]) {
                let (chunks, _) = bytes.as_chunks::<$size>();
                out.extend(chunks.iter().map(|c| <$ty>::from_le_bytes(*c)));
            }
            fn wire_len(values: &[Self]) -> usize {
                values.iter().map(|&v| $len(v)).sum()
            }
        }
    };
}

integer_element!(i64, 8, long_len);
integer_element!(i32, 4, int_len);

impl Element for bool {
    const SIZE: usize = 1;
    const VARIABLE: bool = false;
    fn append_le(values: &[Self], out: &mut Vec<u8>) {
        out.extend(values.iter().map(|&b| u8::from(b)));
    }
    fn extend_from_le(out: &mut Vec<Self>, bytes: &[u8]) {
        // The store only holds 0 and 1 (and zero fill); anything else reads as true.
        out.extend(bytes.iter().map(|&b| b != 0));
    }
    fn wire_len(values: &[Self]) -> usize {
        values.len()
    }
}

/// Receives `read_subarray`'s bytes and appends them as elements. The store writes whole
/// elements, but nothing in [`Write`] promises that, so a split element is carried over.
/// For varint types it stops the read (with an error the caller recognises by
/// `exceeded`) as soon as the values cannot fit in `wire_limit` encoded bytes.
struct ElementSink<'a, T: Element> {
    out: &'a mut Vec<T>,
    carry: [u8; 8],
    carry_len: usize,
    wire_len: usize,
    wire_limit: usize,
    exceeded: bool,
}

impl<T: Element> ElementSink<'_, T> {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let before = self.out.len();
        T::extend_from_le(self.out, bytes);
        if T::VARIABLE {
            self.wire_len += T::wire_len(&self.out[before..]);
            if self.wire_len > self.wire_limit {
                self.exceeded = true;
                return Err(io::Error::other("answer exceeds the message size"));
            }
        }
        Ok(())
    }
}

impl<T: Element> Write for ElementSink<'_, T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        if self.carry_len > 0 {
            let take = (T::SIZE - self.carry_len).min(rest.len());
            self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&rest[..take]);
            self.carry_len += take;
            rest = &rest[take..];
            if self.carry_len < T::SIZE {
                return Ok(buf.len());
            }
            self.carry_len = 0;
            let element = self.carry;
            self.append(&element[..T::SIZE])?;
        }
        let whole = rest.len() - rest.len() % T::SIZE;
        self.append(&rest[..whole])?;
        let tail = &rest[whole..];
        self.carry[..tail.len()].copy_from_slice(tail);
        self.carry_len = tail.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Encoded size of the frame around `count` array items: block count and end marker.
fn array_frame(count: u64) -> usize {
    if count == 0 {
        1
    } else {
        long_len(i64::try_from(count).unwrap_or(i64::MAX)) + 1
    }
}

/// Reads `region` of the array `key` (element type `element`) as an `AnyArray` whose
/// encoding takes at most `max_encoded` bytes; `None` when it cannot.
///
/// Memory stays within one answer: the smallest possible encoding is checked before
/// anything is read, exact-size types are then known to fit, and varint and string
/// reads stop as soon as they overflow.
pub(super) fn read(
    txn: &dyn ReadTxn,
    key: &ArrayKey,
    element: ElementType,
    region: &Region,
    max_encoded: usize,
) -> Result<Option<AnyArray>, StoreError> {
    let n = region.count;
    // Union branch index (one byte) and the frame of the value list.
    let frame = 1 + match element {
        ElementType::Bytes => long_len(i64::try_from(n).unwrap_or(i64::MAX)),
        _ => array_frame(n),
    };
    // Varints and strings take at least one byte per element, the rest their fixed size.
    let smallest_width = match element {
        ElementType::I32 | ElementType::I64 | ElementType::String => 1,
        fixed => fixed.fixed_size().unwrap_or(1),
    };
    let smallest = n.saturating_mul(smallest_width);
    let Some(room) = max_encoded.checked_sub(frame) else {
        return Ok(None);
    };
    if smallest > room as u64 {
        return Ok(None);
    }
    // From here n <= room: allocations below are bounded by the message size.
    let count = n as usize;
    let item = match element {
        ElementType::F64 => read_fixed::<f64>(txn, key, region, count, room)?
            .map(|values| AnyArrayItem::ArrayOfDouble(ArrayOfDouble { values })),
        ElementType::F32 => read_fixed::<f32>(txn, key, region, count, room)?
            .map(|values| AnyArrayItem::ArrayOfFloat(ArrayOfFloat { values })),
        ElementType::I64 => read_fixed::<i64>(txn, key, region, count, room)?
            .map(|values| AnyArrayItem::ArrayOfLong(ArrayOfLong { values })),
        ElementType::I32 => read_fixed::<i32>(txn, key, region, count, room)?
            .map(|values| AnyArrayItem::ArrayOfInt(ArrayOfInt { values })),
        ElementType::Bool => read_fixed::<bool>(txn, key, region, count, room)?
            .map(|values| AnyArrayItem::ArrayOfBoolean(ArrayOfBoolean { values })),
        ElementType::Bytes => {
            let mut bytes = Vec::with_capacity(count);
            txn.read_subarray(key, &region.starts, &region.counts, &mut bytes)?;
            Some(AnyArrayItem::Bytes(Bytes::from(bytes)))
        }
        ElementType::String => read_strings(txn, key, region, room)?.map(|values| {
            AnyArrayItem::ArrayOfString(ArrayOfString {
                values: values.into_iter().map(Into::into).collect(),
            })
        }),
    };
    Ok(item.map(|item| AnyArray { item }))
}

/// Appends the encoded `AnyArray` of `region` of the array `key` (element type `element`)
/// to `out`, taking at most `max_encoded` bytes; `false` (and `out` unchanged) when it
/// cannot fit.
///
/// `double`, `float` and `bytes` travel in the layout the store keeps them in (Avro writes
/// floating-point values as little-endian IEEE 754, and bytes as they are): their values
/// are the store's chunk buffers themselves, shared into `out` (pieces under
/// [`SegmentedBuf::threshold`] are copied), so the answer is never copied on its way to
/// the socket. Other types are converted ([`read`]) and encoded.
pub(super) fn encode(
    txn: &dyn ReadTxn,
    key: &ArrayKey,
    element: ElementType,
    region: &Region,
    max_encoded: usize,
    out: &mut SegmentedBuf,
) -> Result<bool, StoreError> {
    let shared_layout = match element {
        ElementType::F64 => Some((ARRAY_OF_DOUBLE, 8)),
        ElementType::F32 => Some((ARRAY_OF_FLOAT, 4)),
        ElementType::Bytes => Some((BYTES, 1)),
        _ => None,
    };
    let Some((branch, size)) = shared_layout else {
        return Ok(match read(txn, key, element, region, max_encoded)? {
            Some(array) => {
                array.encode_segments(out);
                true
            }
            None => false,
        });
    };
    let n = region.count;
    let count = i64::try_from(n).unwrap_or(i64::MAX);
    let frame = 1 + match element {
        ElementType::Bytes => long_len(count),
        _ => array_frame(n),
    };
    let values_len = n.saturating_mul(size);
    if values_len.saturating_add(frame as u64) > max_encoded as u64 {
        return Ok(false);
    }
    let threshold = out.threshold();
    write_long(out.small_mut(), branch);
    // An array is one block of `n` items then the end marker (a count of 0 is the end
    // marker alone); bytes are their length then the bytes.
    let array = element != ElementType::Bytes;
    write_long(out.small_mut(), count);
    let read = txn.visit_subarray(key, &region.starts, &region.counts, &mut |chunk, range| {
        if range.len() < threshold {
            out.small_mut().extend_from_slice(&chunk[range]);
        } else {
            out.push_bytes(&chunk.slice(range));
        }
        Ok(())
    })?;
    if read != values_len {
        // The frame above announced `n` values: anything else would corrupt the message.
        return Err(StoreError::Corrupt(format!(
            "{read} bytes read for {n} elements of {size} bytes"
        )));
    }
    if array && n > 0 {
        out.small_mut().push(0);
    }
    Ok(true)
}

/// `AnyArray` union branch indexes (the order of `etp.avpr`'s `AnyArray.item`).
const ARRAY_OF_FLOAT: i64 = 3;
const ARRAY_OF_DOUBLE: i64 = 4;
const BYTES: i64 = 6;

fn read_fixed<T: Element>(
    txn: &dyn ReadTxn,
    key: &ArrayKey,
    region: &Region,
    count: usize,
    room: usize,
) -> Result<Option<Vec<T>>, StoreError> {
    // Varint values may be far fewer than `count` bytes' worth once too big: grow as read.
    let reserve = if T::VARIABLE {
        count.min(room / T::SIZE)
    } else {
        count
    };
    let mut values = Vec::with_capacity(reserve);
    let mut sink = ElementSink {
        out: &mut values,
        carry: [0; 8],
        carry_len: 0,
        wire_len: 0,
        wire_limit: room,
        exceeded: false,
    };
    match txn.read_subarray(key, &region.starts, &region.counts, &mut sink) {
        Ok(_) => Ok(Some(values)),
        Err(_) if sink.exceeded => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads string elements a store chunk at a time, stopping once their encoding passes
/// `room` bytes.
fn read_strings(
    txn: &dyn ReadTxn,
    key: &ArrayKey,
    region: &Region,
    room: usize,
) -> Result<Option<Vec<String>>, StoreError> {
    let mut values = Vec::new();
    let mut encoded = 0usize;
    for (starts, counts) in region.pieces(STRING_CHUNK_ELEMS) {
        let piece = txn.read_strings(key, &starts, &counts)?;
        encoded = piece
            .iter()
            .fold(encoded, |n, s| n.saturating_add(bytes_len(s.len())));
        if encoded > room {
            return Ok(None);
        }
        values.extend(piece);
    }
    Ok(Some(values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Element + PartialEq + std::fmt::Debug>(values: &[T]) {
        let bytes = to_le(values);
        assert_eq!(bytes.len(), values.len() * T::SIZE);
        // The borrowed view a put hands the store is the same bytes.
        assert_eq!(&T::le_bytes(values)[..], &bytes[..]);
        // Fed back in awkward pieces: elements split across writes must survive.
        for piece in [1, 3, 5, 7, 64] {
            let mut out: Vec<T> = Vec::new();
            let mut sink = ElementSink {
                out: &mut out,
                carry: [0; 8],
                carry_len: 0,
                wire_len: 0,
                wire_limit: usize::MAX,
                exceeded: false,
            };
            for chunk in bytes.chunks(piece) {
                sink.write_all(chunk).unwrap();
            }
            assert_eq!(sink.carry_len, 0);
            assert_eq!(out, values, "piece size {piece}");
        }
    }

    #[test]
    fn fixed_width_values_round_trip_through_bytes() {
        round_trip(&[0i64, -1, 1, i64::MIN, i64::MAX, 1 << 40]);
        round_trip(&[0i32, -1, i32::MIN, i32::MAX]);
        round_trip(&[0.0f64, -0.0, 1.5, f64::INFINITY, f64::MIN_POSITIVE]);
        round_trip(&[0.0f32, -2.5, f32::NEG_INFINITY]);
        round_trip(&[true, false, true]);
        assert_eq!(to_le(&[1i32, -2]), [1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff]);
        assert_eq!(to_le(&[1.0f64]), 1.0f64.to_le_bytes());
    }

    #[test]
    fn varint_sinks_stop_at_their_limit() {
        let bytes = to_le(&[i64::MAX; 100]);
        let mut out: Vec<i64> = Vec::new();
        let mut sink = ElementSink {
            out: &mut out,
            carry: [0; 8],
            carry_len: 0,
            wire_len: 0,
            wire_limit: 50 * 10,
            exceeded: false,
        };
        assert!(sink.write_all(&bytes[..400]).is_ok());
        assert!(sink.write_all(&bytes[400..]).is_err());
        assert!(sink.exceeded);
    }

    #[test]
    fn conversions_check_the_target_type() {
        let ints = PutValues::Decoded(AnyArrayItem::ArrayOfInt(ArrayOfInt {
            values: vec![-1, 2],
        }));
        match into_store(ints.clone(), ElementType::I64).unwrap() {
            StoreValues::Fixed(b) => assert_eq!(&b.le_bytes()[..], &to_le(&[-1i64, 2])[..]),
            StoreValues::Strings(_) => panic!("strings"),
        }
        assert_eq!(into_store(ints, ElementType::F64).err().unwrap().code, 5);
        let strings = PutValues::Decoded(AnyArrayItem::ArrayOfString(ArrayOfString {
            values: vec!["a".into()].into(),
        }));
        assert_eq!(
            into_store(strings, ElementType::Bytes).err().unwrap().code,
            5
        );
    }

    #[test]
    fn type_mappings_are_inverse() {
        for t in AnyArrayType::ALL {
            assert_eq!(transport_type(element_type(t)), t);
        }
        assert_eq!(logical_type(4), AnyLogicalArrayType::ArrayOfInt32LE);
        assert_eq!(logical_type(99), AnyLogicalArrayType::ArrayOfCustom);
        assert_eq!(logical_type(-1), AnyLogicalArrayType::ArrayOfCustom);
    }
}
