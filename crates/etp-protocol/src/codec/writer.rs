//! Encoding helpers. Encoders append to a caller-owned `Vec<u8>` so the server can
//! reuse one buffer per session.

/// Appends a zig-zag varint `long`.
#[inline]
pub fn write_long(out: &mut Vec<u8>, value: i64) {
    let mut v = zigzag(value);
    if v < 0x80 {
        out.push(v as u8);
        return;
    }
    // Written straight into the spare capacity: appending a slice of variable length
    // (`extend_from_slice(&buf[..=n])`) is a call to `memcpy`, which cost more than the
    // varint itself and took about a third of the time encoding record-heavy bodies.
    out.reserve(MAX_VARINT_LEN);
    let spare = &mut out.spare_capacity_mut()[..MAX_VARINT_LEN];
    let mut n = 0;
    while v >= 0x80 {
        spare[n].write((v as u8) | 0x80);
        v >>= 7;
        n += 1;
    }
    spare[n].write(v as u8);
    let len = out.len() + n + 1;
    // SAFETY: the `n + 1` bytes after the old length were just initialised above, and
    // they are within the capacity reserved.
    unsafe { out.set_len(len) };
}

/// Longest zig-zag varint: 64 bits in 7-bit groups.
const MAX_VARINT_LEN: usize = 10;

/// Appends a zig-zag varint `int`.
#[inline]
pub fn write_int(out: &mut Vec<u8>, value: i32) {
    write_long(out, i64::from(value));
}

/// Number of bytes [`write_long`] writes for `value`.
#[inline]
pub fn long_len(value: i64) -> usize {
    let v = zigzag(value) | 1;
    (64 - v.leading_zeros() as usize).div_ceil(7)
}

/// Number of bytes [`write_int`] writes for `value`.
#[inline]
pub fn int_len(value: i32) -> usize {
    long_len(i64::from(value))
}

/// Appends a length-prefixed byte string (Avro `bytes` and `string`).
#[inline]
pub fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_long(out, bytes.len() as i64);
    out.extend_from_slice(bytes);
}

/// Encoded size of a length-prefixed byte string.
#[inline]
pub fn bytes_len(len: usize) -> usize {
    long_len(len as i64) + len
}

/// Appends `f64`s as consecutive little-endian 8-byte values.
#[inline]
pub fn write_f64s(out: &mut Vec<u8>, values: &[f64]) {
    #[cfg(target_endian = "little")]
    {
        // SAFETY: f64 has no padding and every bit pattern is a valid u8 sequence; the
        // resulting slice covers exactly the memory of `values` (len * 8 bytes, align 1).
        // On little-endian targets the in-memory layout is the Avro wire layout.
        let bytes = unsafe {
            std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
        };
        out.extend_from_slice(bytes);
    }
    #[cfg(not(target_endian = "little"))]
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Appends `f32`s as consecutive little-endian 4-byte values.
#[inline]
pub fn write_f32s(out: &mut Vec<u8>, values: &[f32]) {
    #[cfg(target_endian = "little")]
    {
        // SAFETY: as in `write_f64s`: no padding, any bit pattern is valid bytes.
        let bytes = unsafe {
            std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
        };
        out.extend_from_slice(bytes);
    }
    #[cfg(not(target_endian = "little"))]
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Appends zig-zag varint longs in one loop with a single capacity reservation.
#[inline]
pub fn write_longs(out: &mut Vec<u8>, values: &[i64]) {
    out.reserve(values.len());
    for &v in values {
        write_long(out, v);
    }
}

#[inline(always)]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_len_matches_written_length() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            -65,
            8191,
            8192,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ] {
            let mut out = Vec::new();
            write_long(&mut out, v);
            assert_eq!(out.len(), long_len(v), "value {v}");
        }
    }

    #[test]
    fn varints_append_after_existing_bytes() {
        let values = [
            0i64,
            -1,
            64,
            -65,
            1 << 20,
            i64::MIN,
            i64::MAX,
            1_710_408_413_000_000,
        ];
        let mut out = vec![0xaa];
        for v in values {
            write_long(&mut out, v);
        }
        let expected_len: usize = 1 + values.iter().map(|&v| long_len(v)).sum::<usize>();
        assert_eq!(out.len(), expected_len);
        assert_eq!(out[0], 0xaa);
        let mut r = crate::codec::Reader::new(&out[1..]);
        for v in values {
            assert_eq!(r.read_long().unwrap(), v);
        }
        r.finish().unwrap();
    }

    #[test]
    fn known_encodings() {
        let mut out = Vec::new();
        write_long(&mut out, 1_048_576);
        assert_eq!(out, [0x80, 0x80, 0x80, 0x01]);
        out.clear();
        write_long(&mut out, -1);
        assert_eq!(out, [0x01]);
        out.clear();
        write_long(&mut out, 500);
        assert_eq!(out, [0xe8, 0x07]);
    }
}
