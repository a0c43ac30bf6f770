//! Array answers read straight from the received message, without decoding them into a
//! `DataArray` first.
//!
//! `GetDataArraysResponse` and `GetDataSubarraysResponse` are both `map<DataArray>`. For
//! `double`, `float` and `bytes` values the wire layout is the memory layout (little-endian
//! IEEE 754, raw bytes), so [`parse_data_array_map`] only records where the values lie in
//! the payload ([`EncodedValues`]); a sink then copies them once, into their final place.
//! Other transport types (varints, booleans, strings) are decoded as usual.

use std::ops::Range;

use bytes::Bytes;
use etp_protocol::codec::{Avro, DecodeError, Reader};
use etp_protocol::types::datatypes::{AnyArray, AnyArrayType};

use super::ArrayValues;

/// `AnyArray` union branches whose values are copied as they are.
const BRANCH_FLOAT: usize = 3;
const BRANCH_DOUBLE: usize = 4;
const BRANCH_BYTES: usize = 6;
/// Branches of the `AnyArray` union.
const ANY_ARRAY_BRANCHES: usize = 7;

/// A block of `double`, `float` or `bytes` values as they came in the message: byte ranges
/// of the received payload (an Avro array may come in several blocks), little-endian. The
/// payload is shared, not copied.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedValues {
    transport: AnyArrayType,
    payload: Bytes,
    ranges: Vec<Range<usize>>,
    len: usize,
}

impl EncodedValues {
    /// Values already in memory, for tests and for sinks fed from other sources.
    /// `bytes` holds `bytes.len() / size` little-endian elements of `transport`, which
    /// must be `arrayOfDouble`, `arrayOfFloat` or `bytes`; `None` otherwise or when the
    /// length is not a whole number of elements.
    pub fn from_le_bytes(transport: AnyArrayType, bytes: Bytes) -> Option<EncodedValues> {
        let size = element_size(transport)?;
        if !bytes.len().is_multiple_of(size) {
            return None;
        }
        Some(EncodedValues {
            transport,
            len: bytes.len() / size,
            ranges: std::iter::once(0..bytes.len()).collect(),
            payload: bytes,
        })
    }

    /// The transport type: `arrayOfDouble`, `arrayOfFloat` or `bytes`.
    pub fn transport_type(&self) -> AnyArrayType {
        self.transport
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The values' little-endian bytes, in order, as slices of the received message.
    pub fn le_bytes(&self) -> impl Iterator<Item = &[u8]> + '_ {
        // The ranges were checked against the payload when they were parsed.
        self.ranges
            .iter()
            .map(|r| self.payload.get(r.clone()).unwrap_or_default())
    }

    /// Copies `double` values into `dest`, which must have exactly [`Self::len`] elements.
    pub fn copy_to_f64(&self, dest: &mut [f64]) -> std::io::Result<()> {
        self.check(AnyArrayType::ArrayOfDouble, dest.len())?;
        let mut at = 0;
        for bytes in self.le_bytes() {
            let n = bytes.len() / 8;
            let Some(place) = dest.get_mut(at..at + n) else {
                return Err(mismatch("values overrun the destination"));
            };
            for (value, raw) in place.iter_mut().zip(bytes.chunks_exact(8)) {
                // Compiles to one bulk copy on little-endian targets.
                *value = f64::from_le_bytes(raw.try_into().unwrap_or_default());
            }
            at += n;
        }
        Ok(())
    }

    /// Copies `float` values into `dest`, which must have exactly [`Self::len`] elements.
    pub fn copy_to_f32(&self, dest: &mut [f32]) -> std::io::Result<()> {
        self.check(AnyArrayType::ArrayOfFloat, dest.len())?;
        let mut at = 0;
        for bytes in self.le_bytes() {
            let n = bytes.len() / 4;
            let Some(place) = dest.get_mut(at..at + n) else {
                return Err(mismatch("values overrun the destination"));
            };
            for (value, raw) in place.iter_mut().zip(bytes.chunks_exact(4)) {
                *value = f32::from_le_bytes(raw.try_into().unwrap_or_default());
            }
            at += n;
        }
        Ok(())
    }

    /// Copies `bytes` values into `dest`, which must have exactly [`Self::len`] elements.
    pub fn copy_to_u8(&self, dest: &mut [u8]) -> std::io::Result<()> {
        self.check(AnyArrayType::Bytes, dest.len())?;
        let mut at = 0;
        for bytes in self.le_bytes() {
            let Some(place) = dest.get_mut(at..at + bytes.len()) else {
                return Err(mismatch("values overrun the destination"));
            };
            place.copy_from_slice(bytes);
            at += bytes.len();
        }
        Ok(())
    }

    /// The values decoded into a vector of their type (one copy).
    pub fn to_values(&self) -> ArrayValues {
        match self.transport {
            AnyArrayType::ArrayOfFloat => {
                let mut values = vec![0f32; self.len];
                // Cannot fail: type and length are this block's own.
                let _ = self.copy_to_f32(&mut values);
                ArrayValues::Float(values)
            }
            AnyArrayType::Bytes => {
                let mut values = Vec::with_capacity(self.len);
                for bytes in self.le_bytes() {
                    values.extend_from_slice(bytes);
                }
                ArrayValues::Bytes(values)
            }
            _ => {
                let mut values = vec![0f64; self.len];
                let _ = self.copy_to_f64(&mut values);
                ArrayValues::Double(values)
            }
        }
    }

    fn check(&self, transport: AnyArrayType, dest_len: usize) -> std::io::Result<()> {
        if self.transport != transport {
            return Err(mismatch(&format!(
                "{} values cannot go into a destination of {transport}",
                self.transport
            )));
        }
        if dest_len != self.len {
            return Err(mismatch(&format!(
                "{} values for a destination of {dest_len}",
                self.len
            )));
        }
        Ok(())
    }
}

fn mismatch(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_string())
}

/// Bytes per element of the transport types copied as they are.
fn element_size(transport: AnyArrayType) -> Option<usize> {
    match transport {
        AnyArrayType::ArrayOfDouble => Some(8),
        AnyArrayType::ArrayOfFloat => Some(4),
        AnyArrayType::Bytes => Some(1),
        _ => None,
    }
}

/// The values of one array of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockValues {
    /// Fixed-width values left in the message.
    Encoded(EncodedValues),
    /// Values that had to be decoded (varints, booleans, strings; or a message the reader
    /// decoded, e.g. a compressed one).
    Decoded(ArrayValues),
}

impl BlockValues {
    /// The transport type.
    pub fn transport_type(&self) -> AnyArrayType {
        match self {
            BlockValues::Encoded(e) => e.transport_type(),
            BlockValues::Decoded(v) => v.transport_type(),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            BlockValues::Encoded(e) => e.len(),
            BlockValues::Decoded(v) => v.len(),
        }
    }
}

/// Reads the body of a `GetDataArraysResponse` or `GetDataSubarraysResponse` (a record of
/// one `map<DataArray>`) starting at `body_start` of `payload`: each key with its
/// dimensions and values. Every count and length is checked against the input before use,
/// so a hostile message costs at most its own size.
pub fn parse_data_array_map(
    payload: &Bytes,
    body_start: usize,
) -> Result<Vec<(String, Vec<i64>, BlockValues)>, DecodeError> {
    let mut r = Reader::new(payload);
    r.take(body_start)?;
    let mut entries = Vec::new();
    loop {
        // A key (1 byte at least) and a DataArray (3 bytes at least).
        let count = r.read_block_count(4)?;
        if count == 0 {
            break;
        }
        for _ in 0..count {
            let key = r.read_str()?.to_string();
            let dimensions = Vec::<i64>::decode(&mut r)?;
            let values = read_any_array(payload, &mut r)?;
            entries.push((key, dimensions, values));
        }
    }
    r.finish()?;
    Ok(entries)
}

/// Reads one `AnyArray`, leaving fixed-width values in the payload.
fn read_any_array(payload: &Bytes, r: &mut Reader<'_>) -> Result<BlockValues, DecodeError> {
    let branch = Reader::new(r.rest()).read_union_index(ANY_ARRAY_BRANCHES)?;
    let (transport, size) = match branch {
        BRANCH_DOUBLE => (AnyArrayType::ArrayOfDouble, 8),
        BRANCH_FLOAT => (AnyArrayType::ArrayOfFloat, 4),
        BRANCH_BYTES => (AnyArrayType::Bytes, 1),
        _ => {
            return Ok(BlockValues::Decoded(ArrayValues::from_any_array(
                AnyArray::decode(r)?,
            )));
        }
    };
    r.read_union_index(ANY_ARRAY_BRANCHES)?;
    let mut ranges = Vec::new();
    let mut len = 0usize;
    if transport == AnyArrayType::Bytes {
        let n = r.read_len()?;
        let start = r.position();
        r.take(n)?;
        ranges.push(start..start + n);
        len = n;
    } else {
        loop {
            let n = r.read_block_count(size)?;
            if n == 0 {
                break;
            }
            let start = r.position();
            // read_block_count checked that n * size bytes are left.
            let bytes = n * size;
            r.take(bytes)?;
            // Blocks of one array that follow each other in the message are one range.
            match ranges.last_mut() {
                Some(last) if last.end == start => last.end += bytes,
                _ => ranges.push(start..start + bytes),
            }
            len += n;
        }
    }
    Ok(BlockValues::Encoded(EncodedValues {
        transport,
        payload: payload.clone(),
        ranges,
        len,
    }))
}

#[cfg(test)]
mod tests {
    use etp_protocol::codec::Map;
    use etp_protocol::types::datatypes::data_array_types::DataArray;
    use etp_protocol::types::protocol::data_array::GetDataSubarraysResponse;

    use super::*;

    fn samples() -> Vec<ArrayValues> {
        vec![
            ArrayValues::Boolean(vec![true, false, true]),
            ArrayValues::Int(vec![i32::MIN, -1, 0, i32::MAX]),
            ArrayValues::Long(vec![i64::MIN, 0, i64::MAX]),
            ArrayValues::Float(vec![1.5, f32::MAX, -0.0]),
            ArrayValues::Double(vec![f64::MAX, 2.25, f64::MIN_POSITIVE]),
            ArrayValues::String(vec!["a".into(), "ünïcode".into(), String::new()]),
            ArrayValues::Bytes(vec![0, 255, 7]),
        ]
    }

    /// The body of a GetDataSubarraysResponse behind a few bytes standing for a header.
    fn answer(entries: Vec<(&str, ArrayValues)>) -> (Bytes, usize) {
        let mut data_subarrays = Map::new();
        for (key, values) in entries {
            data_subarrays.insert(
                key.to_string().into(),
                DataArray {
                    dimensions: vec![values.len() as i64],
                    data: values.into_any_array(),
                },
            );
        }
        let mut out = vec![0xAA; 5];
        GetDataSubarraysResponse { data_subarrays }.encode(&mut out);
        (Bytes::from(out), 5)
    }

    #[test]
    fn every_type_reads_back_as_sent() {
        for values in samples() {
            let (payload, start) = answer(vec![("k", values.clone())]);
            let entries = parse_data_array_map(&payload, start).unwrap();
            assert_eq!(entries.len(), 1);
            let (key, dims, got) = &entries[0];
            assert_eq!(
                (key.as_str(), dims.as_slice()),
                ("k", &[values.len() as i64][..])
            );
            assert_eq!(got.transport_type(), values.transport_type());
            assert_eq!(got.len(), values.len());
            let back = match got {
                BlockValues::Encoded(e) => {
                    assert!(matches!(
                        values,
                        ArrayValues::Double(_) | ArrayValues::Float(_) | ArrayValues::Bytes(_)
                    ));
                    e.to_values()
                }
                BlockValues::Decoded(v) => v.clone(),
            };
            assert_eq!(back, values);
        }
    }

    #[test]
    fn several_avro_blocks_and_keys() {
        // arrayOfDouble in two Avro blocks, the second with a negative count and byte size.
        let mut body = Vec::new();
        2i64.encode(&mut body); // two map entries
        for (key, split) in [("a", false), ("b", true)] {
            key.to_string().encode(&mut body);
            vec![3i64].encode(&mut body);
            (BRANCH_DOUBLE as i64).encode(&mut body);
            if split {
                1i64.encode(&mut body);
                body.extend_from_slice(&1.0f64.to_le_bytes());
                (-2i64).encode(&mut body);
                16i64.encode(&mut body);
                body.extend_from_slice(&2.0f64.to_le_bytes());
                body.extend_from_slice(&3.0f64.to_le_bytes());
            } else {
                3i64.encode(&mut body);
                for v in [4.0f64, 5.0, 6.0] {
                    body.extend_from_slice(&v.to_le_bytes());
                }
            }
            0i64.encode(&mut body);
        }
        0i64.encode(&mut body);
        let entries = parse_data_array_map(&Bytes::from(body), 0).unwrap();
        let got: Vec<ArrayValues> = entries
            .iter()
            .map(|(_, _, v)| match v {
                BlockValues::Encoded(e) => e.to_values(),
                BlockValues::Decoded(v) => v.clone(),
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ArrayValues::Double(vec![4.0, 5.0, 6.0]),
                ArrayValues::Double(vec![1.0, 2.0, 3.0])
            ]
        );
        let BlockValues::Encoded(split) = &entries[1].2 else {
            panic!("doubles are left encoded");
        };
        assert_eq!(
            split.le_bytes().count(),
            2,
            "ranges apart in the message stay apart"
        );
    }

    #[test]
    fn hostile_counts_and_truncations_are_errors() {
        let (payload, start) = answer(vec![("k", ArrayValues::Double(vec![1.0; 100]))]);
        for cut in [start + 1, start + 10, payload.len() - 9, payload.len() - 1] {
            assert!(
                parse_data_array_map(&payload.slice(..cut), start).is_err(),
                "cut at {cut}"
            );
        }
        let mut trailing = payload.to_vec();
        trailing.push(0);
        assert!(parse_data_array_map(&Bytes::from(trailing), start).is_err());
        // A count claiming more doubles than the message holds.
        let mut body = Vec::new();
        1i64.encode(&mut body);
        "k".to_string().encode(&mut body);
        vec![1i64].encode(&mut body);
        (BRANCH_DOUBLE as i64).encode(&mut body);
        (1i64 << 40).encode(&mut body);
        assert!(parse_data_array_map(&Bytes::from(body), 0).is_err());
        // A union branch that does not exist.
        let mut body = Vec::new();
        1i64.encode(&mut body);
        "k".to_string().encode(&mut body);
        vec![1i64].encode(&mut body);
        9i64.encode(&mut body);
        assert!(parse_data_array_map(&Bytes::from(body), 0).is_err());
    }

    #[test]
    fn copies_check_type_and_length() {
        let values = EncodedValues::from_le_bytes(
            AnyArrayType::ArrayOfDouble,
            Bytes::from(
                [1.5f64, -2.0]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect::<Vec<u8>>(),
            ),
        )
        .unwrap();
        let mut two = [0f64; 2];
        values.copy_to_f64(&mut two).unwrap();
        assert_eq!(two, [1.5, -2.0]);
        assert!(values.copy_to_f64(&mut [0f64; 3]).is_err());
        assert!(values.copy_to_f32(&mut [0f32; 2]).is_err());
        assert!(values.copy_to_u8(&mut [0u8; 16]).is_err());
        assert!(
            EncodedValues::from_le_bytes(
                AnyArrayType::ArrayOfFloat,
                Bytes::from_static(&[1, 2, 3])
            )
            .is_none()
        );
        assert!(EncodedValues::from_le_bytes(AnyArrayType::ArrayOfLong, Bytes::new()).is_none());
    }
}
