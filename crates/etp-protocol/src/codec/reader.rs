use std::mem::MaybeUninit;

use bytes::Bytes;

use super::error::{DecodeError, DecodeErrorKind};
use crate::EtpString;
use crate::string::{INLINE_BLOCK, INLINE_CAPACITY, OwnerRefs};

/// A cursor over an Avro-encoded input.
///
/// When built with [`Reader::from_bytes`], `bytes` fields are returned as slices of the
/// input buffer (reference counted, no copy) and long strings point into it; otherwise
/// they are copied.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    shared: Option<&'a Bytes>,
    /// The owner that keeps `shared` alive for the long strings decoded from it, made at
    /// the first one (see [`crate::string`]).
    owner: Option<OwnerRefs>,
}

impl<'a> Reader<'a> {
    /// A reader over a borrowed slice; `bytes` fields are copied out of it.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            shared: None,
            owner: None,
        }
    }

    /// A reader over a shared buffer; `bytes` fields become zero-copy slices of it.
    pub fn from_bytes(buf: &'a Bytes) -> Self {
        Reader {
            buf,
            pos: 0,
            shared: Some(buf),
            owner: None,
        }
    }

    /// Current byte offset from the start of the input.
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The unread part of the input.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        // pos never exceeds buf.len(): every advance is checked against remaining().
        &self.buf[self.pos..]
    }

    /// Fails unless the whole input has been consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(self.error(DecodeErrorKind::TrailingBytes(n))),
        }
    }

    /// An error of `kind` at the current position.
    #[cold]
    pub fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(kind, self.pos)
    }

    #[cold]
    fn eof(&self, needed: u64) -> DecodeError {
        self.error(DecodeErrorKind::UnexpectedEof {
            needed,
            available: self.remaining(),
        })
    }

    /// Takes the next `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(self.eof(n as u64));
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.buf[start..self.pos])
    }

    /// Takes the next `n` bytes as a `Bytes`, without copying when the reader is shared.
    #[inline]
    pub fn take_bytes(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        let slice = self.take(n)?;
        Ok(match self.shared {
            Some(shared) => shared.slice(start..start + n),
            None => Bytes::copy_from_slice(slice),
        })
    }

    /// Reads a length-prefixed UTF-8 string (Avro `string`), without copying it when the
    /// reader is shared. Invalid UTF-8 is an error at the string's start (its length).
    ///
    /// Always inlined, so that a short string is built in registers and stored once, in
    /// its final place.
    #[inline(always)]
    pub fn read_str(&mut self) -> Result<EtpString, DecodeError> {
        let start = self.pos;
        let len = self.read_len()?;
        if let Some(block) = self.take_short_str(start, len)? {
            // SAFETY: `take_short_str` checked the length and validated the text.
            return Ok(unsafe { EtpString::from_inline_block(len, block) });
        }
        let mut slot = MaybeUninit::uninit();
        self.read_str_tail(start, len, &mut slot)?;
        // SAFETY: `read_str_tail` returned `Ok`, so it initialised the slot.
        Ok(unsafe { slot.assume_init() })
    }

    /// [`Reader::read_str`] into `slot`, which holds the string when this returns `Ok`.
    ///
    /// Each path writes the slot itself: with one `Result` for both, the compiler built
    /// the string in a temporary and copied it into its place, reading back stores still
    /// in flight (15 % of the `customData` map's decode).
    #[inline(always)]
    pub fn read_str_into(&mut self, slot: &mut MaybeUninit<EtpString>) -> Result<(), DecodeError> {
        let start = self.pos;
        let len = self.read_len()?;
        if let Some(block) = self.take_short_str(start, len)? {
            // SAFETY: `take_short_str` checked the length and validated the text.
            slot.write(unsafe { EtpString::from_inline_block(len, block) });
            return Ok(());
        }
        self.read_str_tail(start, len, slot)
    }

    /// The fast path of [`Reader::read_str`], after the string's length `len` was read
    /// from `start`: for a string short enough to be stored inline and followed by more
    /// input, validates the text, moves past it and returns the block of input that starts
    /// at the length byte, which becomes the `EtpString` (five word loads: the text follows
    /// the length as it follows the tag inside an `EtpString`; cheaper than copying exactly
    /// `len` bytes, a `memmove` call). `None` leaves the string to the general path; so
    /// does a length of at most 39 written in a longer, non-canonical form.
    #[inline(always)]
    fn take_short_str(
        &mut self,
        start: usize,
        len: usize,
    ) -> Result<Option<&'a [u8; INLINE_BLOCK]>, DecodeError> {
        if len <= INLINE_CAPACITY
            && self.pos == start + 1
            && let Some(block) = self.buf[start..].first_chunk::<INLINE_BLOCK>()
        {
            if !is_utf8(&block[1..1 + len]) {
                return Err(DecodeError::new(DecodeErrorKind::InvalidUtf8, start));
            }
            self.pos += len;
            return Ok(Some(block));
        }
        Ok(None)
    }

    /// [`Reader::read_str`] for long strings and strings at the very end of the input.
    #[inline(never)]
    fn read_str_tail(
        &mut self,
        start: usize,
        len: usize,
        slot: &mut MaybeUninit<EtpString>,
    ) -> Result<(), DecodeError> {
        let slice = self.take(len)?;
        if !is_utf8(slice) {
            return Err(DecodeError::new(DecodeErrorKind::InvalidUtf8, start));
        }
        // SAFETY: `slice` was just validated as UTF-8.
        let text = unsafe { std::str::from_utf8_unchecked(slice) };
        slot.write(match self.shared {
            Some(shared) if len > INLINE_CAPACITY => {
                let owner = self.owner.get_or_insert_with(|| OwnerRefs::new(shared));
                // SAFETY: `text` is UTF-8 and lies in `buf`, the contents of `shared`, from
                // which the owner was made.
                unsafe { owner.string(text.as_bytes()) }
            }
            _ => EtpString::from(text),
        });
        Ok(())
    }

    /// Takes a fixed-size array of bytes.
    #[inline]
    pub fn take_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let slice = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    /// Reads a zig-zag varint `long`.
    #[inline]
    pub fn read_long(&mut self) -> Result<i64, DecodeError> {
        match self.buf.get(self.pos) {
            Some(&b) if b < 0x80 => {
                self.pos += 1;
                Ok(unzigzag(u64::from(b)))
            }
            // Two bytes: the length of a string of 64 to 8,191 bytes (a URI).
            Some(&b0) => match self.buf.get(self.pos + 1) {
                Some(&b1) if b1 < 0x80 => {
                    self.pos += 2;
                    Ok(unzigzag(u64::from(b0 & 0x7f) | (u64::from(b1) << 7)))
                }
                _ => self.read_long_slow(),
            },
            None => self.read_long_slow(),
        }
    }

    /// Reads a `long` value (a record field, an array item): like [`Reader::read_long`],
    /// but varints of up to 8 bytes are decoded inline, not in a call. `long` values are
    /// often large (a `Resource` has three timestamps of 8 bytes), while lengths, counts
    /// and union indices, the other users of `read_long`, nearly always take one byte.
    #[inline(always)]
    pub fn read_long_value(&mut self) -> Result<i64, DecodeError> {
        if let Some(word) = self.rest().first_chunk::<8>()
            && let Some((value, len)) = decode_varint_word(u64::from_le_bytes(*word))
        {
            self.pos += len;
            return Ok(unzigzag(value));
        }
        self.read_long_slow()
    }

    #[inline(never)]
    fn read_long_slow(&mut self) -> Result<i64, DecodeError> {
        let (value, len) = decode_varint(self.rest()).map_err(|kind| self.error(kind))?;
        self.pos += len;
        Ok(unzigzag(value))
    }

    /// Reads a zig-zag varint `int`, rejecting encodings longer than 5 bytes or values
    /// outside the 32-bit range.
    #[inline]
    pub fn read_int(&mut self) -> Result<i32, DecodeError> {
        let start = self.pos;
        let value = self.read_long()?;
        if self.pos - start > 5 {
            self.pos = start;
            return Err(self.error(DecodeErrorKind::OverlongVarint { max_bytes: 5 }));
        }
        i32::try_from(value)
            .map_err(|_| DecodeError::new(DecodeErrorKind::IntOutOfRange(value), start))
    }

    /// Reads a non-negative length (string, bytes) and checks it against the input left.
    #[inline]
    pub fn read_len(&mut self) -> Result<usize, DecodeError> {
        let len = self.read_long()?;
        if len < 0 {
            return Err(self.error(DecodeErrorKind::NegativeLength(len)));
        }
        let len = len as u64;
        if len > self.remaining() as u64 {
            return Err(self.error(DecodeErrorKind::LengthExceedsInput {
                length: len,
                available: self.remaining(),
            }));
        }
        Ok(len as usize)
    }

    /// Reads the item count that starts an array or map block. Returns 0 at the end
    /// of the sequence. A negative count is followed by the block's byte size, which is
    /// validated and otherwise ignored. The count is checked so that `count * min_item_size`
    /// fits in the input left, which bounds any allocation made for the block.
    #[inline(always)]
    pub fn read_block_count(&mut self, min_item_size: usize) -> Result<usize, DecodeError> {
        // Most blocks hold fewer than 64 items, a count of one byte, positive (even), or are
        // the end of the sequence: checked inline, without a call.
        if let Some(&b) = self.buf.get(self.pos)
            && b & 0x81 == 0
        {
            let count = usize::from(b >> 1);
            // The items must fit in the input after the count byte.
            if count.saturating_mul(min_item_size.max(1)) < self.remaining() {
                self.pos += 1;
                return Ok(count);
            }
        }
        self.read_block_count_slow(min_item_size)
    }

    /// [`Reader::read_block_count`] for negative counts, large ones, and errors.
    #[inline(never)]
    fn read_block_count_slow(&mut self, min_item_size: usize) -> Result<usize, DecodeError> {
        let raw = self.read_long()?;
        let count = if raw < 0 {
            let size = self.read_long()?;
            if size < 0 {
                return Err(self.error(DecodeErrorKind::NegativeLength(size)));
            }
            if size as u64 > self.remaining() as u64 {
                return Err(self.error(DecodeErrorKind::LengthExceedsInput {
                    length: size as u64,
                    available: self.remaining(),
                }));
            }
            raw.unsigned_abs()
        } else {
            raw as u64
        };
        // Item types of zero size do not occur in ETP; counting them as one byte each keeps
        // a hostile count from spinning the decoder without consuming input.
        let per_item = min_item_size.max(1) as u64;
        match count.checked_mul(per_item) {
            Some(needed) if needed <= self.remaining() as u64 => Ok(count as usize),
            _ => Err(self.error(DecodeErrorKind::CountExceedsInput {
                count,
                available: self.remaining(),
            })),
        }
    }

    /// Reads a union branch index and checks it against the number of branches.
    #[inline]
    pub fn read_union_index(&mut self, branches: usize) -> Result<usize, DecodeError> {
        let start = self.pos;
        let index = self.read_long()?;
        if index < 0 || index as u64 >= branches as u64 {
            return Err(DecodeError::new(
                DecodeErrorKind::InvalidUnionIndex { index, branches },
                start,
            ));
        }
        Ok(index as usize)
    }

    /// Reads an enum index and checks it against the number of symbols.
    #[inline]
    pub fn read_enum_index(&mut self, symbols: usize) -> Result<usize, DecodeError> {
        let start = self.pos;
        let index = self.read_int()?;
        if index < 0 || index as usize >= symbols {
            return Err(DecodeError::new(
                DecodeErrorKind::InvalidEnumIndex { index, symbols },
                start,
            ));
        }
        Ok(index as usize)
    }

    /// Reads a boolean byte, accepting only 0 and 1.
    #[inline]
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        match self.buf.get(self.pos) {
            Some(0) => {
                self.pos += 1;
                Ok(false)
            }
            Some(1) => {
                self.pos += 1;
                Ok(true)
            }
            Some(&b) => Err(self.error(DecodeErrorKind::InvalidBoolean(b))),
            None => Err(self.eof(1)),
        }
    }

    /// Decodes `count` zig-zag varint longs into `out` in one tight loop.
    pub fn read_longs_into(&mut self, count: usize, out: &mut Vec<i64>) -> Result<(), DecodeError> {
        out.reserve(count);
        let rest = self.rest();
        let mut at = 0usize;
        for _ in 0..count {
            match rest.get(at) {
                Some(&b) if b < 0x80 => {
                    at += 1;
                    out.push(unzigzag(u64::from(b)));
                }
                _ => {
                    let tail = rest.get(at..).unwrap_or(&[]);
                    let (value, len) = decode_varint(tail)
                        .map_err(|kind| DecodeError::new(kind, self.pos + at))?;
                    at += len;
                    out.push(unzigzag(value));
                }
            }
        }
        self.pos += at;
        Ok(())
    }

    /// Decodes `count` zig-zag varint ints into `out` in one tight loop.
    pub fn read_ints_into(&mut self, count: usize, out: &mut Vec<i32>) -> Result<(), DecodeError> {
        out.reserve(count);
        for _ in 0..count {
            out.push(self.read_int()?);
        }
        Ok(())
    }

    /// Reads `count` little-endian `double`s into `out` with one bulk copy.
    #[inline]
    pub fn read_f64s_into(&mut self, count: usize, out: &mut Vec<f64>) -> Result<(), DecodeError> {
        // Saturating: a count whose byte size overflows fails like any count too large.
        let bytes = self.take(count.saturating_mul(8))?;
        extend_f64s(out, bytes);
        Ok(())
    }

    /// Reads `count` little-endian `float`s into `out` with one bulk copy.
    #[inline]
    pub fn read_f32s_into(&mut self, count: usize, out: &mut Vec<f32>) -> Result<(), DecodeError> {
        let bytes = self.take(count.saturating_mul(4))?;
        extend_f32s(out, bytes);
        Ok(())
    }
}

/// Defines `$name(out, bytes)`, which appends the little-endian `$ty`s of `bytes` (a whole
/// number of them) to `out`.
///
/// On little-endian targets this is a single `memcpy` into the vector's spare capacity:
/// the per-element loop the compiler makes of `extend(chunks.map(from_le_bytes))` uses
/// 16-byte moves and runs at about half the speed of the C library's copy on large arrays.
macro_rules! extend_from_le_bytes {
    ($name:ident, $ty:ty) => {
        #[inline]
        fn $name(out: &mut Vec<$ty>, bytes: &[u8]) {
            const N: usize = std::mem::size_of::<$ty>();
            let (chunks, _) = bytes.as_chunks::<N>();
            #[cfg(target_endian = "little")]
            {
                out.reserve(chunks.len());
                // SAFETY: `reserve` guarantees room for `chunks.len()` more elements after
                // `out.len()`, i.e. `chunks.len() * N` bytes; the source is borrowed input
                // and cannot overlap the buffer `out` owns. A float has no padding and
                // every bit pattern is a valid value, and on a little-endian target its
                // in-memory bytes are its little-endian encoding, so the elements are
                // initialised with the right values before `set_len` exposes them.
                unsafe {
                    let len = out.len();
                    std::ptr::copy_nonoverlapping(
                        chunks.as_ptr().cast::<u8>(),
                        out.as_mut_ptr().add(len).cast::<u8>(),
                        chunks.len() * N,
                    );
                    out.set_len(len + chunks.len());
                }
            }
            #[cfg(not(target_endian = "little"))]
            out.extend(chunks.iter().map(|c| <$ty>::from_le_bytes(*c)));
        }
    };
}

extend_from_le_bytes!(extend_f64s, f64);
extend_from_le_bytes!(extend_f32s, f32);

/// Whether `bytes` are valid UTF-8. ETP strings are nearly always ASCII, which an inlined
/// word-at-a-time check confirms faster than a call to the full validator (`<[u8]>::
/// is_ascii` compiled to a byte loop here).
#[inline(always)]
fn is_utf8(bytes: &[u8]) -> bool {
    is_ascii(bytes) || std::str::from_utf8(bytes).is_ok()
}

#[inline(always)]
fn is_ascii(bytes: &[u8]) -> bool {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let (words, tail) = bytes.as_chunks::<8>();
    let mut seen = 0u64;
    for word in words {
        seen |= u64::from_ne_bytes(*word);
    }
    for &byte in tail {
        seen |= u64::from(byte);
    }
    seen & HIGH_BITS == 0
}

/// Decodes an unsigned LEB128 varint of at most 10 bytes; returns the value and its length.
///
/// Varints of up to 8 bytes with 8 bytes of input available (timestamps take 8) are
/// decoded from one 64-bit load without a loop: the first byte without its high bit
/// ends the varint, and three mask-and-shift steps pack the 7-bit groups together.
///
/// Always inlined: its result, returned through memory, was read back by the caller
/// before the stores had left the store buffer (half of `read_long_slow`'s time).
#[inline(always)]
fn decode_varint(bytes: &[u8]) -> Result<(u64, usize), DecodeErrorKind> {
    if let Some(word) = bytes.first_chunk::<8>()
        && let Some(decoded) = decode_varint_word(u64::from_le_bytes(*word))
    {
        return Ok(decoded);
    }
    decode_varint_bytewise(bytes)
}

/// The varint at the start of `word` (eight input bytes, little-endian) and its length,
/// if it ends within them.
#[inline(always)]
fn decode_varint_word(word: u64) -> Option<(u64, usize)> {
    let stops = !word & 0x8080_8080_8080_8080;
    if stops == 0 {
        return None;
    }
    // The high bit of the last byte: 7, 15, ..., 63.
    let end_bit = stops.trailing_zeros();
    let len = (end_bit as usize + 1) / 8;
    let mut x = word & (u64::MAX >> (63 - end_bit)) & 0x7f7f_7f7f_7f7f_7f7f;
    x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
    x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
    x = (x & 0x0000_0000_0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4);
    Some((x, len))
}

/// [`decode_varint`] one byte at a time: varints of 9 or 10 bytes, and any varint in the
/// last 7 bytes of the input.
#[inline]
fn decode_varint_bytewise(bytes: &[u8]) -> Result<(u64, usize), DecodeErrorKind> {
    let mut value: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        // The tenth byte may only carry the single remaining bit of a 64-bit value.
        if i == 9 && b > 1 {
            return Err(DecodeErrorKind::OverlongVarint { max_bytes: 10 });
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    if bytes.len() >= 10 {
        Err(DecodeErrorKind::OverlongVarint { max_bytes: 10 })
    } else {
        Err(DecodeErrorKind::UnexpectedEof {
            needed: 1,
            available: 0,
        })
    }
}

#[inline(always)]
fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_varints_decode_like_bytewise_ones() {
        let mut values: Vec<u64> = (0..64).flat_map(|b| [1u64 << b, (1u64 << b) - 1]).collect();
        values.extend([u64::MAX, 0x0123_4567_89ab_cdef, 1_710_408_413_000_000 << 1]);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            values.push(seed >> (seed % 64));
        }
        for value in values {
            let mut encoded = Vec::new();
            let mut v = value;
            while v >= 0x80 {
                encoded.push((v as u8) | 0x80);
                v >>= 7;
            }
            encoded.push(v as u8);
            for trailing in [0usize, 3, 8] {
                let mut input = encoded.clone();
                input.extend(std::iter::repeat_n(0xffu8, trailing));
                assert_eq!(
                    decode_varint(&input),
                    Ok((value, encoded.len())),
                    "{value:#x}"
                );
                assert_eq!(decode_varint_bytewise(&input), Ok((value, encoded.len())));
                // Truncated: an error, never a value.
                assert!(decode_varint(&input[..encoded.len() - 1]).is_err());
            }
        }
        // Eight continuation bytes: not a word varint, decided byte by byte.
        assert!(decode_varint(&[0x80; 8]).is_err());
        assert!(matches!(
            decode_varint(&[0xff; 12]),
            Err(DecodeErrorKind::OverlongVarint { max_bytes: 10 })
        ));
    }

    #[test]
    fn ascii_check_sees_a_high_bit_anywhere() {
        for len in 0..40 {
            let mut text = vec![b'a'; len];
            assert!(is_ascii(&text) && is_utf8(&text));
            for at in 0..len {
                text[at] = 0x80;
                assert!(!is_ascii(&text), "{len} {at}");
                assert!(!is_utf8(&text), "{len} {at}");
                text[at] = b'a';
            }
        }
        assert!(is_utf8("Grüße, ✓ ok".as_bytes()));
    }

    #[test]
    fn strings_decode_at_every_length_and_position() {
        // Every length around the inline capacity, with and without a block of input after
        // the string, shared and copied, valid and with invalid UTF-8 at the last byte.
        for len in 0..INLINE_CAPACITY + 3 {
            for trailing in [0, 1, INLINE_CAPACITY] {
                let text = "é".repeat(len / 2) + &"x".repeat(len % 2);
                let mut input = crate::codec::encode_to_vec(&EtpString::from(text.as_str()));
                input.extend(std::iter::repeat_n(0xff, trailing));
                let input = Bytes::from(input);
                for mut r in [Reader::new(&input), Reader::from_bytes(&input)] {
                    assert_eq!(r.read_str().unwrap(), text.as_str());
                    assert_eq!(r.remaining(), trailing);
                }
                if len > 0 {
                    let mut bad = input.to_vec();
                    let last = bad.len() - trailing - 1;
                    bad[last] = 0xff;
                    let err = Reader::new(&bad).read_str().unwrap_err();
                    assert_eq!(err.kind(), &DecodeErrorKind::InvalidUtf8);
                    assert_eq!(err.offset(), 0);
                }
            }
        }
    }

    #[test]
    fn longs_read_alike_on_every_path() {
        // One and two bytes (inline in `read_long`), up to eight (inline in
        // `read_long_value`), and longer, with and without input after them.
        let mut values: Vec<i64> = (-20_000..20_000).collect();
        values.extend((0..64).flat_map(|b| {
            [
                1i64 << b,
                (1i64 << b).wrapping_neg(),
                (1i64 << b).wrapping_sub(1),
            ]
        }));
        values.extend([i64::MIN, i64::MAX]);
        for value in values {
            let mut bytes = Vec::new();
            crate::codec::writer::write_long(&mut bytes, value);
            for trailing in [0, 8] {
                let mut input = bytes.clone();
                input.resize(bytes.len() + trailing, 0x80);
                let mut r = Reader::new(&input);
                assert_eq!(r.read_long().unwrap(), value);
                assert_eq!(r.position(), bytes.len());
                let mut r = Reader::new(&input);
                assert_eq!(r.read_long_value().unwrap(), value);
                assert_eq!(r.position(), bytes.len());
            }
        }
        // Cut after a continuation byte.
        for input in [&[0x80][..], &[0x80, 0x80], &[0xff; 9]] {
            assert!(Reader::new(input).read_long().is_err());
            assert!(Reader::new(input).read_long_value().is_err());
        }
    }

    #[test]
    fn a_short_string_with_a_non_canonical_length_decodes() {
        // Length 3 written in two bytes (0x86 0x00), then the text and a block of input.
        let mut input = vec![0x86, 0x00, b'a', b'b', b'c'];
        input.extend([b'z'; 64]);
        let mut r = Reader::new(&input);
        assert_eq!(r.read_str().unwrap(), "abc");
        assert_eq!(r.position(), 5);
    }

    #[test]
    fn bulk_floats_read_from_any_offset_and_append() {
        let values: Vec<f64> = (0..37).map(|i| f64::from(i) * -1.25 + 0.1).collect();
        let singles: Vec<f32> = (0..37).map(|i| i as f32 * 3.5 - 7.0).collect();
        // A leading byte makes the floats unaligned in the input.
        let mut input = vec![0xaa];
        input.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        input.extend(singles.iter().flat_map(|v| v.to_le_bytes()));
        let mut r = Reader::new(&input);
        r.take(1).unwrap();
        let mut out = vec![42.0f64];
        r.read_f64s_into(30, &mut out).unwrap();
        r.read_f64s_into(7, &mut out).unwrap();
        assert_eq!(out[0], 42.0);
        assert_eq!(out[1..], values[..]);
        let mut out32 = Vec::new();
        r.read_f32s_into(37, &mut out32).unwrap();
        assert_eq!(out32, singles);
        r.finish().unwrap();
    }

    #[test]
    fn bulk_floats_reject_short_and_overflowing_counts() {
        let input = [0u8; 15];
        let mut out = Vec::new();
        assert!(matches!(
            Reader::new(&input)
                .read_f64s_into(2, &mut out)
                .unwrap_err()
                .kind(),
            DecodeErrorKind::UnexpectedEof { .. }
        ));
        assert!(matches!(
            Reader::new(&input)
                .read_f64s_into(usize::MAX / 4, &mut out)
                .unwrap_err()
                .kind(),
            DecodeErrorKind::UnexpectedEof { .. }
        ));
        let mut out32 = Vec::new();
        assert!(matches!(
            Reader::new(&input)
                .read_f32s_into(usize::MAX / 2, &mut out32)
                .unwrap_err()
                .kind(),
            DecodeErrorKind::UnexpectedEof { .. }
        ));
        assert!(out.is_empty() && out32.is_empty());
    }
}
