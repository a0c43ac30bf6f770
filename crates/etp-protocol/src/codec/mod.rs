//! Avro binary encoding of ETP types (schemaless datums, as ETP sends them).
//!
//! Every ETP type implements [`Avro`]. Decoding is written for hostile input: lengths and
//! block counts are checked against the bytes left before anything is allocated, union and
//! enum indices are range-checked, strings must be UTF-8, varints longer than their type
//! allows are rejected, and errors name the field path being decoded. Nesting depth is
//! bounded by the schema itself, which has no recursive types (the generator refuses one).
//!
//! Arrays of fixed-width values (`double`, `float`, `boolean`) are moved with bulk
//! copies, `long`/`int` arrays with a tight varint loop, and `bytes` fields are zero-copy
//! slices of the input when it is decoded through [`Reader::from_bytes`].

mod error;
pub mod inline_vec;
pub mod map;
mod reader;
mod segments;
pub mod writer;

use std::mem::MaybeUninit;

use bytes::Bytes;

use crate::EtpString;

pub use error::{DecodeError, DecodeErrorKind};
pub use inline_vec::InlineVec;
pub use map::Map;
pub use reader::Reader;
pub use segments::SegmentedBuf;

/// A type with an Avro binary encoding.
pub trait Avro: Sized {
    /// Smallest number of bytes any value of this type takes on the wire. Used to reject
    /// array and map counts that the input cannot possibly hold before allocating.
    const MIN_ENCODED_SIZE: usize;

    /// Decodes one value.
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Exact number of bytes [`Avro::encode`] appends, computed without encoding.
    fn encoded_len(&self) -> usize;

    /// Whether a value of this type can hold an Avro `bytes` value, i.e. whether
    /// [`Avro::encode_segments`] can share anything. Types that cannot keep the default
    /// `encode_segments`, which is a plain [`Avro::encode`].
    const HOLDS_BYTES: bool = false;

    /// Appends the encoding of `self` to `out` like [`Avro::encode`], but with large
    /// `bytes` values shared rather than copied (see [`SegmentedBuf`]). The segments,
    /// concatenated, are the bytes `encode` writes.
    #[inline]
    fn encode_segments(&self, out: &mut SegmentedBuf) {
        self.encode(out.small_mut());
    }

    /// Decodes one value into `slot`, which holds it when this returns `Ok` (and is left
    /// uninitialised on error).
    ///
    /// Arrays and maps decode their items with it straight into their buffers. Generated
    /// records and unions override it to build the value in the slot: a value returned as
    /// a `Result` is built in a temporary and then copied, and the copy reads back, in
    /// pieces of other sizes, what was just stored, which stalls the processor (store-to-load
    /// forwarding fails); for a `Resource` those copies were a fifth of its decode time.
    #[doc(hidden)]
    #[inline]
    fn decode_into(r: &mut Reader<'_>, slot: &mut MaybeUninit<Self>) -> Result<(), DecodeError> {
        slot.write(Self::decode(r)?);
        Ok(())
    }

    /// Decodes `count` array items. Fixed-width primitives override this with bulk paths.
    #[doc(hidden)]
    #[inline]
    fn decode_items(
        r: &mut Reader<'_>,
        count: usize,
        out: &mut Vec<Self>,
    ) -> Result<(), DecodeError> {
        reserve_items(out, prealloc_items::<Self>(count, r.remaining()));
        for _ in 0..count {
            // A no-op unless the reservation above was capped by the input size.
            out.reserve(1);
            let len = out.len();
            // `reserve(1)` guarantees one slot of spare capacity, so index 0 exists.
            Self::decode_into(r, &mut out.spare_capacity_mut()[0])?;
            // SAFETY: `decode_into` returned `Ok`, so the slot at `len` (the first spare
            // one, within the capacity) holds an initialised value.
            unsafe { out.set_len(len + 1) };
        }
        Ok(())
    }

    /// Encodes array items back to back. Fixed-width primitives override this.
    #[doc(hidden)]
    #[inline]
    fn encode_items(items: &[Self], out: &mut Vec<u8>) {
        for item in items {
            item.encode(out);
        }
    }

    /// Encoded size of array items back to back.
    #[doc(hidden)]
    #[inline]
    fn items_encoded_len(items: &[Self]) -> usize {
        items.iter().map(Avro::encoded_len).sum()
    }
}

/// How many of `count` announced items of `T` to reserve room for before decoding them,
/// with `available` input bytes left.
///
/// The count has been checked against the items' smallest encoding, but an item can be
/// much larger in memory than on the wire (a `Resource` takes 192 bytes and may encode in
/// 10; a map entry of `DataValue` is about 40 times its smallest encoding). Reserving the
/// full count would let a hostile count make an allocation tens of times the input before
/// the first item fails, so the reservation is capped at the input's own size; a block of
/// real items larger than that grows as it is decoded.
#[inline]
pub(crate) fn prealloc_items<T>(count: usize, available: usize) -> usize {
    count.min(available / std::mem::size_of::<T>().max(1))
}

/// Makes room for `additional` more items in `out`: exactly that many in an empty vector
/// (the first block of an array or map, usually the only one), as `reserve` does after.
///
/// `reserve` on an empty vector rounds small requests up to four items (a one-element
/// `alternateUris` took 160 bytes, a three-entry `customData` 352) and goes through the
/// out-of-line growth path; `with_capacity` allocates the exact size directly.
#[inline]
pub(crate) fn reserve_items<T>(out: &mut Vec<T>, additional: usize) {
    if out.capacity() == 0 {
        *out = Vec::with_capacity(additional);
    } else {
        out.reserve(additional);
    }
}

/// Decodes a value of record field `name`, adding the name to the error path on failure.
#[inline(always)]
pub fn field<T: Avro>(r: &mut Reader<'_>, name: &'static str) -> Result<T, DecodeError> {
    T::decode(r).map_err(|e| e.in_field(name))
}

/// [`field`] into `slot` (see [`Avro::decode_into`]).
#[inline(always)]
pub fn field_into<T: Avro>(
    r: &mut Reader<'_>,
    slot: &mut MaybeUninit<T>,
    name: &'static str,
) -> Result<(), DecodeError> {
    T::decode_into(r, slot).map_err(|e| e.in_field(name))
}

/// A record field decoded in place while the rest of the record is not yet: drops the
/// field if the record's decode fails before it is complete (see the generated
/// `decode_into` of records), and is told to [`FieldGuard::keep`] it once it is.
#[doc(hidden)]
pub struct FieldGuard<T>(*mut T);

impl<T: Avro> FieldGuard<T> {
    /// Decodes record field `name` into `place`, adding the name to the error path on
    /// failure, and guards it.
    ///
    /// # Safety
    /// `place` points to an uninitialised field of a value being decoded in place, valid
    /// for writes; nothing else reads, writes or drops it while the guard lives.
    #[inline(always)]
    pub unsafe fn decode(
        r: &mut Reader<'_>,
        place: *mut T,
        name: &'static str,
    ) -> Result<Self, DecodeError> {
        // SAFETY: `place` is valid for writes and not otherwise used (the contract); a
        // `MaybeUninit<T>` has the layout of a `T`.
        let slot = unsafe { &mut *place.cast::<MaybeUninit<T>>() };
        field_into(r, slot, name)?;
        Ok(FieldGuard(place))
    }
}

impl<T> FieldGuard<T> {
    /// Leaves the field to the value it is part of, which is now complete.
    #[inline(always)]
    pub fn keep(self) {
        std::mem::forget(self);
    }
}

impl<T> Drop for FieldGuard<T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the field was initialised by `decode`, is still owned by this guard (the
        // containing value is incomplete and will not be dropped) and is dropped once.
        unsafe { std::ptr::drop_in_place(self.0) }
    }
}

/// Decodes a complete datum from `buf`, rejecting trailing bytes.
pub fn decode_exact<T: Avro>(buf: &[u8]) -> Result<T, DecodeError> {
    let mut r = Reader::new(buf);
    let value = T::decode(&mut r)?;
    r.finish()?;
    Ok(value)
}

/// Encodes a value into a fresh buffer of exactly the right capacity.
pub fn encode_to_vec<T: Avro>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.encoded_len());
    value.encode(&mut out);
    out
}

impl Avro for bool {
    const MIN_ENCODED_SIZE: usize = 1;
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_bool()
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        1
    }
    fn decode_items(
        r: &mut Reader<'_>,
        count: usize,
        out: &mut Vec<Self>,
    ) -> Result<(), DecodeError> {
        let start = r.position();
        let bytes = r.take(count)?;
        if let Some(pos) = bytes.iter().position(|&b| b > 1) {
            return Err(DecodeError::new(
                DecodeErrorKind::InvalidBoolean(bytes[pos]),
                start + pos,
            ));
        }
        out.extend(bytes.iter().map(|&b| b == 1));
        Ok(())
    }
    fn encode_items(items: &[Self], out: &mut Vec<u8>) {
        out.extend(items.iter().map(|&b| u8::from(b)));
    }
    fn items_encoded_len(items: &[Self]) -> usize {
        items.len()
    }
}

impl Avro for i32 {
    const MIN_ENCODED_SIZE: usize = 1;
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_int()
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        writer::write_int(out, *self);
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        writer::int_len(*self)
    }
    fn decode_items(
        r: &mut Reader<'_>,
        count: usize,
        out: &mut Vec<Self>,
    ) -> Result<(), DecodeError> {
        r.read_ints_into(count, out)
    }
}

impl Avro for i64 {
    const MIN_ENCODED_SIZE: usize = 1;
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_long_value()
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        writer::write_long(out, *self);
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        writer::long_len(*self)
    }
    fn decode_items(
        r: &mut Reader<'_>,
        count: usize,
        out: &mut Vec<Self>,
    ) -> Result<(), DecodeError> {
        r.read_longs_into(count, out)
    }
    fn encode_items(items: &[Self], out: &mut Vec<u8>) {
        writer::write_longs(out, items);
    }
}

impl Avro for f32 {
    const MIN_ENCODED_SIZE: usize = 4;
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(f32::from_le_bytes(r.take_array()?))
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        4
    }
    fn decode_items(
        r: &mut Reader<'_>,
        count: usize,
        out: &mut Vec<Self>,
    ) -> Result<(), DecodeError> {
        r.read_f32s_into(count, out)
    }
    fn encode_items(items: &[Self], out: &mut Vec<u8>) {
        writer::write_f32s(out, items);
    }
    fn items_encoded_len(items: &[Self]) -> usize {
        items.len() * 4
    }
}

impl Avro for f64 {
    const MIN_ENCODED_SIZE: usize = 8;
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(f64::from_le_bytes(r.take_array()?))
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        8
    }
    fn decode_items(
        r: &mut Reader<'_>,
        count: usize,
        out: &mut Vec<Self>,
    ) -> Result<(), DecodeError> {
        r.read_f64s_into(count, out)
    }
    fn encode_items(items: &[Self], out: &mut Vec<u8>) {
        writer::write_f64s(out, items);
    }
    fn items_encoded_len(items: &[Self]) -> usize {
        items.len() * 8
    }
}

impl Avro for String {
    const MIN_ENCODED_SIZE: usize = 1;
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.position();
        let len = r.read_len()?;
        let bytes = r.take(len)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(DecodeError::new(DecodeErrorKind::InvalidUtf8, start)),
        }
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        writer::write_bytes(out, self.as_bytes());
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        writer::bytes_len(self.len())
    }
}

/// Zero-copy when decoding through [`Reader::from_bytes`]: the string is a validated slice
/// of the input.
impl Avro for EtpString {
    const MIN_ENCODED_SIZE: usize = 1;
    /// Always inlined, like [`Reader::read_str`]: called, it returned the 40-byte string
    /// through memory, and the caller's loads of it, in other sizes than the stores, stalled
    /// (a quarter of a `customData` map's decode, for its string values).
    #[inline(always)]
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.read_str()
    }
    #[inline(always)]
    fn decode_into(r: &mut Reader<'_>, slot: &mut MaybeUninit<Self>) -> Result<(), DecodeError> {
        r.read_str_into(slot)
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        writer::write_bytes(out, self.as_bytes());
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        writer::bytes_len(self.len())
    }
}

impl Avro for Bytes {
    const MIN_ENCODED_SIZE: usize = 1;
    const HOLDS_BYTES: bool = true;
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = r.read_len()?;
        r.take_bytes(len)
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        writer::write_bytes(out, self);
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        writer::bytes_len(self.len())
    }
    #[inline]
    fn encode_segments(&self, out: &mut SegmentedBuf) {
        writer::write_long(out.small_mut(), self.len() as i64);
        out.push_bytes(self);
    }
}

/// The nullable union `["null", T]`: branch 0 is null, branch 1 holds a value.
impl<T: Avro> Avro for Option<T> {
    const MIN_ENCODED_SIZE: usize = 1;
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.read_union_index(2)? {
            0 => Ok(None),
            _ => Ok(Some(T::decode(r)?)),
        }
    }
    /// Always inlined: optional fields are small (`sourceCount`), and the call cost more
    /// than the decode.
    #[inline(always)]
    fn decode_into(r: &mut Reader<'_>, slot: &mut MaybeUninit<Self>) -> Result<(), DecodeError> {
        slot.write(match r.read_union_index(2)? {
            0 => None,
            _ => Some(T::decode(r)?),
        });
        Ok(())
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(2); // zig-zag of branch index 1
                v.encode(out);
            }
        }
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        1 + self.as_ref().map_or(0, Avro::encoded_len)
    }
    const HOLDS_BYTES: bool = T::HOLDS_BYTES;
    fn encode_segments(&self, out: &mut SegmentedBuf) {
        match self {
            Some(v) if T::HOLDS_BYTES => {
                out.small_mut().push(2);
                v.encode_segments(out);
            }
            _ => self.encode(out.small_mut()),
        }
    }
}

/// Decodes the blocks of an Avro array, appending the items to `out`.
#[inline(always)]
fn decode_array_blocks<T: Avro>(r: &mut Reader<'_>, out: &mut Vec<T>) -> Result<(), DecodeError> {
    loop {
        let count = r.read_block_count(T::MIN_ENCODED_SIZE)?;
        if count == 0 {
            return Ok(());
        }
        T::decode_items(r, count, out)?;
    }
}

/// Decodes the blocks of an Avro map into `out`.
#[inline(always)]
fn decode_map_blocks<V: Avro>(r: &mut Reader<'_>, out: &mut Map<V>) -> Result<(), DecodeError> {
    loop {
        let count = r.read_block_count(1 + V::MIN_ENCODED_SIZE)?;
        if count == 0 {
            return Ok(());
        }
        out.decode_entries(r, count)?;
    }
}

/// Decodes a container (array or map) in its slot: `empty` is written there first and
/// `fill` decodes the items into it. On error the slot is left uninitialised, as
/// `decode_into` requires, with the container and the items decoded so far dropped once.
#[inline(always)]
fn decode_container_into<C>(
    r: &mut Reader<'_>,
    slot: &mut MaybeUninit<C>,
    empty: C,
    fill: impl FnOnce(&mut Reader<'_>, &mut C) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let out = slot.write(empty);
    let result = fill(r, out);
    if result.is_err() {
        // SAFETY: the slot was initialised just above and nothing has dropped it since;
        // it is dropped here once and then counts as uninitialised again.
        unsafe { slot.assume_init_drop() };
    }
    result
}

/// Writes `items` as an Avro array: one positive-count block (none when empty), then the
/// terminating zero. `Vec<T>` and `InlineVec<T>` are encoded alike.
fn encode_array<T: Avro>(items: &[T], out: &mut Vec<u8>) {
    if !items.is_empty() {
        writer::write_long(out, items.len() as i64);
        T::encode_items(items, out);
    }
    out.push(0);
}

/// The length [`encode_array`] writes.
fn array_encoded_len<T: Avro>(items: &[T]) -> usize {
    if items.is_empty() {
        1
    } else {
        writer::long_len(items.len() as i64) + T::items_encoded_len(items) + 1
    }
}

/// [`encode_array`] into a segmented buffer: items holding large `bytes` values are
/// referenced, not copied.
fn encode_array_segments<T: Avro>(items: &[T], out: &mut SegmentedBuf) {
    if !T::HOLDS_BYTES || items.is_empty() {
        return encode_array(items, out.small_mut());
    }
    writer::write_long(out.small_mut(), items.len() as i64);
    for item in items {
        item.encode_segments(out);
    }
    out.small_mut().push(0);
}

/// Avro `array<T>`: written as one positive-count block; read in any block layout.
impl<T: Avro> Avro for Vec<T> {
    const MIN_ENCODED_SIZE: usize = 1;
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut out = Vec::new();
        decode_array_blocks(r, &mut out)?;
        Ok(out)
    }
    /// Decodes the items into a vector that is already in its slot, so that its length
    /// and buffer are stored once, in place: a vector built on the stack and returned was
    /// then copied in 16-byte pieces that straddled its separately stored fields.
    #[inline]
    fn decode_into(r: &mut Reader<'_>, slot: &mut MaybeUninit<Self>) -> Result<(), DecodeError> {
        decode_container_into(r, slot, Vec::new(), decode_array_blocks)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        encode_array(self, out);
    }
    fn encoded_len(&self) -> usize {
        array_encoded_len(self.as_slice())
    }
    const HOLDS_BYTES: bool = T::HOLDS_BYTES;
    fn encode_segments(&self, out: &mut SegmentedBuf) {
        encode_array_segments(self, out);
    }
}

/// Decodes the blocks of an Avro array into the empty `out`: a single item (the usual
/// case) is decoded into its inline place, two or more into a `Vec`.
#[inline(always)]
fn decode_inline_vec_blocks<T: Avro>(
    r: &mut Reader<'_>,
    out: &mut InlineVec<T>,
) -> Result<(), DecodeError> {
    let mut items = Vec::new();
    match r.read_block_count(T::MIN_ENCODED_SIZE)? {
        0 => return Ok(()),
        1 => {
            out.set_one(T::decode(r)?);
            let count = r.read_block_count(T::MIN_ENCODED_SIZE)?;
            if count == 0 {
                return Ok(());
            }
            reserve_items(&mut items, 1 + prealloc_items::<T>(count, r.remaining()));
            items.extend(out.pop());
            T::decode_items(r, count, &mut items)?;
        }
        count => T::decode_items(r, count, &mut items)?,
    }
    decode_array_blocks(r, &mut items)?;
    out.set_heap(items);
    Ok(())
}

/// Avro `array<T>` as an [`InlineVec`]: encoded exactly as a `Vec<T>`.
impl<T: Avro> Avro for InlineVec<T> {
    const MIN_ENCODED_SIZE: usize = 1;
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut out = InlineVec::new();
        decode_inline_vec_blocks(r, &mut out)?;
        Ok(out)
    }
    /// In place, as for `Vec` (a single string item is built in its final place).
    #[inline]
    fn decode_into(r: &mut Reader<'_>, slot: &mut MaybeUninit<Self>) -> Result<(), DecodeError> {
        decode_container_into(r, slot, InlineVec::new(), decode_inline_vec_blocks)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        encode_array(self, out);
    }
    fn encoded_len(&self) -> usize {
        array_encoded_len(self.as_slice())
    }
    const HOLDS_BYTES: bool = T::HOLDS_BYTES;
    fn encode_segments(&self, out: &mut SegmentedBuf) {
        encode_array_segments(self, out);
    }
}

/// Avro `map<V>`: written as one positive-count block; read in any block layout. A key
/// that repeats replaces the earlier value, at the earlier value's position (see
/// [`Map::insert`]).
impl<V: Avro> Avro for Map<V> {
    const MIN_ENCODED_SIZE: usize = 1;
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut out = Map::new();
        decode_map_blocks(r, &mut out)?;
        Ok(out)
    }
    /// In place, as for arrays (the copy of a map returned by value was 7 % of the decode
    /// of a `Resource`'s `customData`).
    #[inline]
    fn decode_into(r: &mut Reader<'_>, slot: &mut MaybeUninit<Self>) -> Result<(), DecodeError> {
        decode_container_into(r, slot, Map::new(), decode_map_blocks)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        if !self.is_empty() {
            writer::write_long(out, self.len() as i64);
            for (key, value) in self {
                key.encode(out);
                value.encode(out);
            }
        }
        out.push(0);
    }
    fn encoded_len(&self) -> usize {
        if self.is_empty() {
            return 1;
        }
        let items: usize = self
            .iter()
            .map(|(k, v)| k.encoded_len() + v.encoded_len())
            .sum();
        writer::long_len(self.len() as i64) + items + 1
    }
    const HOLDS_BYTES: bool = V::HOLDS_BYTES;
    fn encode_segments(&self, out: &mut SegmentedBuf) {
        if !V::HOLDS_BYTES || self.is_empty() {
            return self.encode(out.small_mut());
        }
        writer::write_long(out.small_mut(), self.len() as i64);
        for (key, value) in self {
            key.encode(out.small_mut());
            value.encode_segments(out);
        }
        out.small_mut().push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip<T: Avro + PartialEq + std::fmt::Debug>(value: T) {
        let bytes = encode_to_vec(&value);
        assert_eq!(bytes.len(), value.encoded_len());
        assert_eq!(decode_exact::<T>(&bytes).unwrap(), value);
    }

    #[test]
    fn primitives_roundtrip() {
        roundtrip(true);
        roundtrip(i32::MIN);
        roundtrip(i32::MAX);
        roundtrip(i64::MIN);
        roundtrip(i64::MAX);
        roundtrip(1.5f32);
        roundtrip(-2.25f64);
        roundtrip(String::from("Grüße"));
        roundtrip(EtpString::from("Grüße"));
        roundtrip(Bytes::from_static(b"\x00\x01\xff"));
        roundtrip(Some(7i64));
        roundtrip(None::<i64>);
        roundtrip(vec![1.0f64, 2.0, -3.5]);
        roundtrip(vec![0i64, -1, 1 << 40, i64::MIN]);
        roundtrip(vec![true, false, true]);
        roundtrip(Vec::<String>::new());
        let mut m = Map::new();
        m.insert("b".into(), 2i32);
        m.insert("a".into(), 1i32);
        roundtrip(m);
    }

    #[test]
    fn single_block_arrays_and_maps_allocate_exactly_their_items() {
        // Followed by more input, as inside a message (the reservation is capped by the
        // bytes left, see `prealloc_items`).
        fn decode_with_input_after<T: Avro>(value: &T) -> T {
            let mut bytes = encode_to_vec(value);
            bytes.resize(bytes.len() + 4096, 0);
            T::decode(&mut Reader::new(&bytes)).unwrap()
        }
        let items: Vec<EtpString> = vec!["a".into()];
        let decoded = decode_with_input_after(&items);
        assert_eq!((decoded.len(), decoded.capacity()), (1, 1));
        let map: Map<i64> = (0..3)
            .map(|i| (EtpString::from(format!("k{i}")), i))
            .collect();
        let decoded = decode_with_input_after(&map);
        assert_eq!((decoded.len(), decoded.capacity()), (3, 3));
        // A second block grows the vector as usual.
        let bytes = [0x02, 0x02, 0x02, 0x04, 0x00];
        assert_eq!(decode_exact::<Vec<i64>>(&bytes).unwrap(), vec![1, 2]);
    }

    #[test]
    fn records_decoded_in_place_release_their_fields_when_a_later_one_fails() {
        use crate::types::datatypes::object::{DataObject, Resource};
        use crate::types::datatypes::{DataValue, DataValueItem};
        // Long strings and `bytes` are slices of the input, so a field that a failed decode
        // leaked would keep the input shared, and one dropped twice would corrupt its count.
        let long = |what: &str, i: usize| {
            EtpString::from(format!("eml:///{what}({i})/{}", "x".repeat(50)))
        };
        let objects: Vec<DataObject> = (0..3)
            .map(|i| DataObject {
                resource: Resource {
                    uri: long("uri", i),
                    alternate_uris: vec![long("alt", i)].into(),
                    name: long("name", i),
                    custom_data: Map::from([(
                        long("key", i),
                        DataValue {
                            item: DataValueItem::String(long("value", i)),
                        },
                    )]),
                    ..Default::default()
                },
                data: Bytes::from(vec![b'x'; 100]),
                ..Default::default()
            })
            .collect();
        let bytes = encode_to_vec(&objects);
        // (From 1: an empty `Bytes` is static, never unique.)
        for cut in 1..=bytes.len() {
            let input = Bytes::copy_from_slice(&bytes[..cut]);
            let mut r = Reader::from_bytes(&input);
            let decoded = Vec::<DataObject>::decode(&mut r);
            // The reader holds the input for the long strings it decodes until it is dropped.
            drop(r);
            assert_eq!(decoded.is_ok(), cut == bytes.len(), "cut at {cut}");
            if let Ok(decoded) = decoded {
                assert_eq!(decoded, objects);
            }
            assert!(
                input.is_unique(),
                "cut at {cut}: a decoded field was leaked"
            );
        }
    }

    #[test]
    fn negative_block_count_is_accepted() {
        // Two blocks: -2 items with byte size 2, then 1 item, then end.
        let bytes = [0x03, 0x04, 0x02, 0x04, 0x02, 0x06, 0x00];
        assert_eq!(decode_exact::<Vec<i64>>(&bytes).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn hostile_counts_are_rejected_before_allocation() {
        // A count of 2^62 doubles in a 10-byte input.
        let mut bytes = Vec::new();
        writer::write_long(&mut bytes, 1 << 62);
        bytes.extend_from_slice(&[0; 8]);
        let err = decode_exact::<Vec<f64>>(&bytes).unwrap_err();
        assert!(matches!(
            err.kind(),
            DecodeErrorKind::CountExceedsInput { .. }
        ));
        // A one-byte count (the inline path) too large for the input left.
        let err = decode_exact::<Vec<f64>>(&[0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                DecodeErrorKind::CountExceedsInput { count: 5, .. }
            ),
            "{err}"
        );
        // Exactly enough input: one double, then the end of the array.
        let mut bytes = vec![0x02];
        bytes.extend(1.5f64.to_le_bytes());
        bytes.push(0);
        assert_eq!(decode_exact::<Vec<f64>>(&bytes).unwrap(), vec![1.5]);
        let mut bytes = Vec::new();
        writer::write_long(&mut bytes, i64::MIN);
        let err = decode_exact::<Vec<i64>>(&bytes).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                DecodeErrorKind::CountExceedsInput { .. } | DecodeErrorKind::UnexpectedEof { .. }
            ),
            "{err}"
        );
    }

    #[test]
    fn malformed_scalars_are_rejected() {
        assert!(matches!(
            decode_exact::<i64>(&[0xff; 11]).unwrap_err().kind(),
            DecodeErrorKind::OverlongVarint { .. }
        ));
        assert!(matches!(
            decode_exact::<i32>(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01])
                .unwrap_err()
                .kind(),
            DecodeErrorKind::OverlongVarint { max_bytes: 5 }
        ));
        assert!(matches!(
            decode_exact::<i32>(&[0x80, 0x80, 0x80, 0x80, 0x7f])
                .unwrap_err()
                .kind(),
            DecodeErrorKind::IntOutOfRange(_)
        ));
        assert!(matches!(
            decode_exact::<bool>(&[2]).unwrap_err().kind(),
            DecodeErrorKind::InvalidBoolean(2)
        ));
        assert!(matches!(
            decode_exact::<String>(&[0x04, 0xc3, 0x28])
                .unwrap_err()
                .kind(),
            DecodeErrorKind::InvalidUtf8
        ));
        assert!(matches!(
            decode_exact::<Option<i64>>(&[0x04, 0x00])
                .unwrap_err()
                .kind(),
            DecodeErrorKind::InvalidUnionIndex { index: 2, .. }
        ));
        assert!(matches!(
            decode_exact::<String>(&[0x03]).unwrap_err().kind(),
            DecodeErrorKind::NegativeLength(-2)
        ));
        assert!(matches!(
            decode_exact::<i64>(&[0x02, 0x00]).unwrap_err().kind(),
            DecodeErrorKind::TrailingBytes(1)
        ));
    }

    #[test]
    fn shared_reader_slices_bytes_without_copy() {
        let input = Bytes::from(vec![0x06, b'a', b'b', b'c']);
        let mut r = Reader::from_bytes(&input);
        let out = Bytes::decode(&mut r).unwrap();
        assert_eq!(&out[..], b"abc");
        assert_eq!(out.as_ptr(), input[1..].as_ptr());
    }

    #[test]
    fn shared_reader_slices_strings_without_copy_and_still_validates() {
        // Long enough not to be stored inline.
        let text = "eml:///dataspace('demo')/resqml20.obj_Grid2dRepresentation(1)";
        let input = Bytes::from(encode_to_vec(&EtpString::from(text)));
        let text_at = input.len() - text.len();
        let out = EtpString::decode(&mut Reader::from_bytes(&input)).unwrap();
        assert_eq!(out, text);
        assert_eq!(out.as_ptr(), input[text_at..].as_ptr());
        let copied = EtpString::decode(&mut Reader::new(&input)).unwrap();
        assert_eq!(copied, text);
        assert_ne!(copied.as_ptr(), input[text_at..].as_ptr());
        // Short strings are copied inline either way.
        let short = Bytes::from(vec![0x06, b'a', b'b', b'c']);
        assert_eq!(
            EtpString::decode(&mut Reader::from_bytes(&short)).unwrap(),
            "abc"
        );

        let bad = Bytes::from(vec![0x00, 0x04, 0xc3, 0x28]);
        for mut r in [Reader::from_bytes(&bad), Reader::new(&bad)] {
            r.take(1).unwrap();
            let err = field::<EtpString>(&mut r, "uri").unwrap_err();
            assert_eq!(err.kind(), &DecodeErrorKind::InvalidUtf8);
            assert_eq!(err.offset(), 1);
            assert!(err.to_string().contains("uri"), "{err}");
        }
    }
}
