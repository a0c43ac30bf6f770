//! PutDataArrays and PutDataSubarrays read with their `double` and `float` values left in
//! the received message.
//!
//! Avro writes `double` and `float` as little-endian IEEE 754, which on little-endian
//! targets is also their layout in memory and in the store. Decoded into the generated
//! types, the values of a 1 MiB put were copied into a `Vec<f64>` only to be handed to the
//! store as bytes again. Read here, an `array<double>` or `array<float>` sent in one Avro
//! block (as every known client sends it) is a slice of the received payload, shared, not
//! copied; one sent in several blocks is gathered with one copy, as the decode made.
//!
//! The session reads these two messages with [`read_put_message`] and decodes every other
//! message (and any of these it cannot read) with `decode_message`. The types here decode
//! through the same [`Reader`] calls as the generated ones, and [`read_put_message`] gives
//! up on any error, so that `decode_message` reads the message again and every malformed
//! message gets exactly the error it got before.

use bytes::{Bytes, BytesMut};
use etp_protocol::codec::writer::{long_len, write_long};
use etp_protocol::codec::{Avro, DecodeError, Map, Reader, field};
use etp_protocol::message::{EtpMessage, MessageInfo, flags};
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::data_array_types::{
    DataArray, DataArrayIdentifier, PutDataArraysType, PutDataSubarraysType,
};
use etp_protocol::types::datatypes::{
    AnyArray, AnyArrayItem, ArrayOfDouble, ArrayOfFloat, DataValue, MessageHeader,
};
use etp_protocol::types::protocol::data_array::{PutDataArrays, PutDataSubarrays};

use super::convert;

/// `AnyArray.item` union branches read as views, and the number of branches.
const BRANCH_FLOAT: usize = 3;
const BRANCH_DOUBLE: usize = 4;
const ANY_ARRAY_BRANCHES: usize = 7;

/// The values of one put entry (an `AnyArray`) as received.
#[derive(Debug, Clone, PartialEq)]
pub enum PutValues {
    /// Values decoded into their generated type: every transport type but `double` and
    /// `float`, and those too when the message was decoded (a compressed one, say).
    Decoded(AnyArrayItem),
    /// `arrayOfDouble`: the values' little-endian bytes, 8 a value.
    Doubles(Bytes),
    /// `arrayOfFloat`: the values' little-endian bytes, 4 a value.
    Floats(Bytes),
}

impl PutValues {
    /// The values in their generated type (a copy of viewed ones).
    pub fn into_item(self) -> AnyArrayItem {
        match self {
            PutValues::Decoded(item) => item,
            PutValues::Doubles(bytes) => {
                let (chunks, _) = bytes.as_chunks::<8>();
                AnyArrayItem::ArrayOfDouble(ArrayOfDouble {
                    values: chunks.iter().map(|c| f64::from_le_bytes(*c)).collect(),
                })
            }
            PutValues::Floats(bytes) => {
                let (chunks, _) = bytes.as_chunks::<4>();
                AnyArrayItem::ArrayOfFloat(ArrayOfFloat {
                    values: chunks.iter().map(|c| f32::from_le_bytes(*c)).collect(),
                })
            }
        }
    }
}

/// Reads the blocks of an Avro `array<double>` (`size` 8) or `array<float>` (4) as their
/// bytes: a slice of the input when the reader shares it and the array is one block.
///
/// The calls and checks are those of the generated decode (`read_block_count`, then the
/// bulk read of `count * size` bytes), so a malformed array fails at the same place.
fn read_le_blocks(r: &mut Reader<'_>, size: usize) -> Result<Bytes, DecodeError> {
    let mut first: Option<Bytes> = None;
    let mut gathered: Option<BytesMut> = None;
    loop {
        let count = r.read_block_count(size)?;
        if count == 0 {
            break;
        }
        // Saturating, as in `read_f64s_into`: an overflowing size fails like a short input.
        let block = r.take_bytes(count.saturating_mul(size))?;
        match (&mut gathered, first.take()) {
            (Some(all), _) => all.extend_from_slice(&block),
            (None, None) => first = Some(block),
            (None, Some(earlier)) => {
                // A second block: both were checked against the input, so this copy is
                // bounded by the message.
                let mut all = BytesMut::with_capacity(earlier.len() + block.len());
                all.extend_from_slice(&earlier);
                all.extend_from_slice(&block);
                gathered = Some(all);
            }
        }
    }
    Ok(match gathered {
        Some(all) => all.freeze(),
        None => first.unwrap_or_default(),
    })
}

/// Appends an Avro array of `bytes.len() / size` fixed-width items whose bytes are `bytes`.
fn write_le_array(out: &mut Vec<u8>, bytes: &[u8], size: usize) {
    let count = bytes.len() / size;
    if count > 0 {
        write_long(out, count as i64);
        out.extend_from_slice(bytes);
    }
    out.push(0);
}

fn le_array_len(bytes: &[u8], size: usize) -> usize {
    match bytes.len() / size {
        0 => 1,
        count => long_len(count as i64) + bytes.len() + 1,
    }
}

/// Encoded as the `AnyArray` it stands for.
impl Avro for PutValues {
    const MIN_ENCODED_SIZE: usize = AnyArray::MIN_ENCODED_SIZE;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // Looked at on a copy of the reader: any other branch (or a bad index, which fails
        // there) is decoded by the generated code from the start of the union.
        let branch = Reader::new(r.rest()).read_union_index(ANY_ARRAY_BRANCHES);
        let (size, make): (usize, fn(Bytes) -> PutValues) = match branch {
            Ok(BRANCH_DOUBLE) => (8, PutValues::Doubles),
            Ok(BRANCH_FLOAT) => (4, PutValues::Floats),
            _ => return Ok(PutValues::Decoded(AnyArray::decode(r)?.item)),
        };
        r.read_union_index(ANY_ARRAY_BRANCHES)?;
        Ok(make(read_le_blocks(r, size)?))
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            PutValues::Decoded(item) => item.encode(out),
            PutValues::Doubles(bytes) => {
                write_long(out, BRANCH_DOUBLE as i64);
                write_le_array(out, bytes, 8);
            }
            PutValues::Floats(bytes) => {
                write_long(out, BRANCH_FLOAT as i64);
                write_le_array(out, bytes, 4);
            }
        }
    }

    fn encoded_len(&self) -> usize {
        match self {
            PutValues::Decoded(item) => item.encoded_len(),
            // The branch index takes one byte.
            PutValues::Doubles(bytes) => 1 + le_array_len(bytes, 8),
            PutValues::Floats(bytes) => 1 + le_array_len(bytes, 4),
        }
    }
}

/// A `PutDataSubarraysType` whose values are [`PutValues`].
#[derive(Debug, Clone, PartialEq)]
pub struct SubarrayPut {
    /// `uid`.
    pub uid: DataArrayIdentifier,
    /// `data`.
    pub data: PutValues,
    /// `starts`.
    pub starts: Vec<i64>,
    /// `counts`.
    pub counts: Vec<i64>,
}

impl Avro for SubarrayPut {
    const MIN_ENCODED_SIZE: usize = PutDataSubarraysType::MIN_ENCODED_SIZE;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SubarrayPut {
            uid: field(r, "uid")?,
            data: field(r, "data")?,
            starts: field(r, "starts")?,
            counts: field(r, "counts")?,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        self.uid.encode(out);
        self.data.encode(out);
        self.starts.encode(out);
        self.counts.encode(out);
    }

    fn encoded_len(&self) -> usize {
        self.uid.encoded_len()
            + self.data.encoded_len()
            + self.starts.encoded_len()
            + self.counts.encoded_len()
    }
}

impl From<PutDataSubarraysType> for SubarrayPut {
    fn from(entry: PutDataSubarraysType) -> Self {
        SubarrayPut {
            uid: entry.uid,
            data: PutValues::Decoded(entry.data.item),
            starts: entry.starts,
            counts: entry.counts,
        }
    }
}

impl From<SubarrayPut> for PutDataSubarraysType {
    fn from(entry: SubarrayPut) -> Self {
        PutDataSubarraysType {
            uid: entry.uid,
            data: AnyArray {
                item: entry.data.into_item(),
            },
            starts: entry.starts,
            counts: entry.counts,
        }
    }
}

/// A `PutDataArraysType` whose values are [`PutValues`].
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayPut {
    /// `uid`.
    pub uid: DataArrayIdentifier,
    /// `array.dimensions`.
    pub dimensions: Vec<i64>,
    /// `array.data`.
    pub data: PutValues,
    /// `customData`.
    pub custom_data: Map<DataValue>,
}

impl Avro for ArrayPut {
    const MIN_ENCODED_SIZE: usize = PutDataArraysType::MIN_ENCODED_SIZE;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let uid = field(r, "uid")?;
        // The `DataArray` record, inline.
        let (dimensions, data) = (|| Ok((field(r, "dimensions")?, field(r, "data")?)))()
            .map_err(|e: DecodeError| e.in_field("array"))?;
        Ok(ArrayPut {
            uid,
            dimensions,
            data,
            custom_data: field(r, "customData")?,
        })
    }

    fn encode(&self, out: &mut Vec<u8>) {
        self.uid.encode(out);
        self.dimensions.encode(out);
        self.data.encode(out);
        self.custom_data.encode(out);
    }

    fn encoded_len(&self) -> usize {
        self.uid.encoded_len()
            + self.dimensions.encoded_len()
            + self.data.encoded_len()
            + self.custom_data.encoded_len()
    }
}

impl From<PutDataArraysType> for ArrayPut {
    fn from(entry: PutDataArraysType) -> Self {
        ArrayPut {
            uid: entry.uid,
            dimensions: entry.array.dimensions,
            data: PutValues::Decoded(entry.array.data.item),
            custom_data: entry.custom_data,
        }
    }
}

impl From<ArrayPut> for PutDataArraysType {
    fn from(entry: ArrayPut) -> Self {
        PutDataArraysType {
            uid: entry.uid,
            array: DataArray {
                dimensions: entry.dimensions,
                data: AnyArray {
                    item: entry.data.into_item(),
                },
            },
            custom_data: entry.custom_data,
        }
    }
}

/// A PutDataArrays or PutDataSubarrays body with its values as [`PutValues`].
#[derive(Debug, Clone, PartialEq)]
pub enum PutView {
    /// PutDataArrays `dataArrays`.
    Arrays(Map<ArrayPut>),
    /// PutDataSubarrays `dataSubarrays`.
    Subarrays(Map<SubarrayPut>),
}

impl PutView {
    /// The body in its generated type (the viewed values copied into vectors).
    pub fn into_body(self) -> Body {
        match self {
            PutView::Arrays(entries) => PutDataArrays {
                data_arrays: convert(entries),
            }
            .into(),
            PutView::Subarrays(entries) => PutDataSubarrays {
                data_subarrays: convert(entries),
            }
            .into(),
        }
    }

    /// The schema facts of the message type.
    pub fn info(&self) -> &'static MessageInfo {
        match self {
            PutView::Arrays(_) => &PutDataArrays::INFO,
            PutView::Subarrays(_) => &PutDataSubarrays::INFO,
        }
    }
}

/// Reads a PutDataArrays or PutDataSubarrays message as a [`PutView`] of `payload`.
///
/// `None` for anything else, for the messages this does not read (compressed, or with a
/// header extension), and for any malformed one: the caller then decodes the payload with
/// `decode_message`, which answers for it exactly as before this reader existed.
pub(crate) fn read_put_message(payload: &Bytes) -> Option<(MessageHeader, PutView)> {
    let mut r = Reader::from_bytes(payload);
    let header = MessageHeader::decode(&mut r).ok()?;
    if header.protocol != PutDataSubarrays::PROTOCOL
        || header.message_flags & (flags::COMPRESSED | flags::HEADER_EXTENSION) != 0
    {
        return None;
    }
    let view = match header.message_type {
        PutDataSubarrays::MESSAGE_TYPE => PutView::Subarrays(field(&mut r, "dataSubarrays").ok()?),
        PutDataArrays::MESSAGE_TYPE => PutView::Arrays(field(&mut r, "dataArrays").ok()?),
        _ => return None,
    };
    r.finish().ok()?;
    Some((header, view))
}

#[cfg(test)]
mod tests {
    use etp_protocol::message::{Compression, DecodeOptions, decode_message, encode_message};
    use etp_protocol::types::datatypes::{ArrayOfBoolean, ArrayOfInt, ArrayOfLong, ArrayOfString};

    use super::*;

    fn uid(path: &str) -> DataArrayIdentifier {
        DataArrayIdentifier {
            uri: "eml:///dataspace('d')/eml20.obj_EpcExternalPartReference(f1dc897a-e05e-4c57-944f-3501cb9cd71c)".into(),
            path_in_resource: path.into(),
        }
    }

    fn header(message_type: i32, message_flags: i32) -> MessageHeader {
        MessageHeader {
            protocol: 9,
            message_type,
            correlation_id: 0,
            message_id: 2,
            message_flags,
        }
    }

    fn items() -> Vec<AnyArrayItem> {
        vec![
            AnyArrayItem::ArrayOfBoolean(ArrayOfBoolean {
                values: vec![true, false],
            }),
            AnyArrayItem::ArrayOfInt(ArrayOfInt {
                values: vec![-1, 7],
            }),
            AnyArrayItem::ArrayOfLong(ArrayOfLong {
                values: vec![i64::MIN, 3],
            }),
            AnyArrayItem::ArrayOfFloat(ArrayOfFloat {
                values: vec![1.5, -0.0, f32::MAX],
            }),
            AnyArrayItem::ArrayOfDouble(ArrayOfDouble {
                values: vec![f64::MIN_POSITIVE, 2.25, -7.0],
            }),
            AnyArrayItem::ArrayOfDouble(ArrayOfDouble { values: vec![] }),
            AnyArrayItem::ArrayOfString(ArrayOfString {
                values: vec!["a".into(), "ü".into()].into(),
            }),
            AnyArrayItem::Bytes(Bytes::from_static(&[0, 255])),
        ]
    }

    fn subarrays(item: AnyArrayItem) -> Body {
        let mut data_subarrays = Map::new();
        for key in ["k", "other"] {
            data_subarrays.insert(
                key.into(),
                PutDataSubarraysType {
                    uid: uid(key),
                    data: AnyArray { item: item.clone() },
                    starts: vec![0, 1],
                    counts: vec![1, 3],
                },
            );
        }
        PutDataSubarrays { data_subarrays }.into()
    }

    fn arrays(item: AnyArrayItem) -> Body {
        let mut custom_data = Map::new();
        custom_data.insert("note".into(), DataValue::long(5));
        PutDataArrays {
            data_arrays: std::iter::once((
                "k".into(),
                PutDataArraysType {
                    uid: uid("k"),
                    array: DataArray {
                        dimensions: vec![3],
                        data: AnyArray { item },
                    },
                    custom_data,
                },
            ))
            .collect(),
        }
        .into()
    }

    fn message(body: &Body, message_flags: i32) -> Bytes {
        let info = body.info();
        let mut out = Vec::new();
        encode_message(
            &header(info.message_type, message_flags),
            None,
            body,
            Compression::None,
            &mut out,
        );
        Bytes::from(out)
    }

    fn decoded(payload: &Bytes) -> Result<Body, String> {
        decode_message(payload, &DecodeOptions::default())
            .map(|m| m.body)
            .map_err(|e| e.to_string())
    }

    /// The view of `payload` agrees with the decoder: the same body when both read it,
    /// and no view of a message the decoder refuses.
    fn agrees(payload: &Bytes) -> bool {
        let view = read_put_message(payload);
        match (view, decoded(payload)) {
            (Some((_, view)), Ok(body)) => {
                // Compared encoded: a flipped bit may make a NaN, unequal to itself.
                let (mut got, mut want) = (Vec::new(), Vec::new());
                view.into_body().encode(&mut got);
                body.encode(&mut want);
                assert_eq!(got, want);
                true
            }
            (Some((_, view)), Err(e)) => panic!("view {view:?} of a message refused with {e}"),
            (None, _) => false,
        }
    }

    /// Whether the bytes of `b` lie inside `payload`'s (a view, not a copy).
    fn inside(b: &Bytes, payload: &Bytes) -> bool {
        let range = payload.as_ptr_range();
        b.is_empty() || (range.contains(&b.as_ptr()) && b.as_ptr_range().end <= range.end)
    }

    #[test]
    fn puts_read_as_the_generated_types_do_with_floats_left_in_the_message() {
        for item in items() {
            for body in [subarrays(item.clone()), arrays(item.clone())] {
                let payload = message(&body, flags::FIN | flags::ACKNOWLEDGE);
                assert!(agrees(&payload), "{body:?}");
                let (header, view) = read_put_message(&payload).unwrap();
                assert_eq!(header.message_flags, flags::FIN | flags::ACKNOWLEDGE);
                let values: Vec<&PutValues> = match &view {
                    PutView::Arrays(m) => m.values().map(|e| &e.data).collect(),
                    PutView::Subarrays(m) => m.values().map(|e| &e.data).collect(),
                };
                for values in values {
                    match (values, &item) {
                        (PutValues::Doubles(b), AnyArrayItem::ArrayOfDouble(_))
                        | (PutValues::Floats(b), AnyArrayItem::ArrayOfFloat(_)) => {
                            assert!(inside(b, &payload), "values copied: {item:?}");
                        }
                        (PutValues::Decoded(got), _) => assert_eq!(got, &item),
                        other => panic!("{other:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn views_encode_as_the_generated_types() {
        for item in items() {
            for body in [subarrays(item.clone()), arrays(item.clone())] {
                let payload = message(&body, flags::FIN);
                let (_, view) = read_put_message(&payload).unwrap();
                let mut out = Vec::new();
                let len = match &view {
                    PutView::Arrays(m) => {
                        m.encode(&mut out);
                        m.encoded_len()
                    }
                    PutView::Subarrays(m) => {
                        m.encode(&mut out);
                        m.encoded_len()
                    }
                };
                let mut typed = Vec::new();
                body.encode(&mut typed);
                assert_eq!(out, typed);
                assert_eq!(len, typed.len());
            }
        }
    }

    /// A PutDataSubarrays of one key whose `count` doubles (1.0, 2.0, …) are written in
    /// blocks of `blocks` items, negative counts with their byte size where `negative`.
    fn split_body(blocks: &[usize], negative: bool, size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let head = header(5, flags::FIN);
        head.encode(&mut out);
        write_long(&mut out, 1);
        "k".to_string().encode(&mut out);
        uid("k").encode(&mut out);
        write_long(&mut out, if size == 8 { 4 } else { 3 });
        let mut next = 1.0f64;
        for &n in blocks {
            if negative {
                write_long(&mut out, -(n as i64));
                write_long(&mut out, (n * size) as i64);
            } else {
                write_long(&mut out, n as i64);
            }
            for _ in 0..n {
                if size == 8 {
                    out.extend_from_slice(&next.to_le_bytes());
                } else {
                    out.extend_from_slice(&(next as f32).to_le_bytes());
                }
                next += 1.0;
            }
        }
        out.push(0);
        vec![0i64].encode(&mut out);
        vec![next as i64 - 1].encode(&mut out);
        // The end of the map.
        out.push(0);
        out
    }

    #[test]
    fn values_in_several_blocks_are_gathered_in_order() {
        for size in [8, 4] {
            for blocks in [&[5][..], &[2, 3], &[1, 1, 1, 1, 1], &[0][..0]] {
                for negative in [false, true] {
                    let payload = Bytes::from(split_body(blocks, negative, size));
                    assert!(
                        agrees(&payload),
                        "{blocks:?} {negative}: {:?}",
                        decoded(&payload)
                    );
                    let (_, PutView::Subarrays(m)) = read_put_message(&payload).unwrap() else {
                        panic!("subarrays");
                    };
                    let values = &m["k"].data;
                    let n: usize = blocks.iter().sum();
                    match (values, size) {
                        (PutValues::Doubles(b), 8) | (PutValues::Floats(b), 4) => {
                            assert_eq!(b.len(), n * size);
                            assert_eq!(inside(b, &payload), blocks.len() <= 1);
                        }
                        other => panic!("{other:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn malformed_puts_are_left_to_the_decoder() {
        let mut samples = vec![
            split_body(&[2, 3], true, 8),
            split_body(&[3], false, 4),
            message(&arrays(items()[4].clone()), flags::FIN).to_vec(),
            message(&subarrays(items()[3].clone()), flags::FIN).to_vec(),
        ];
        // A block count beyond the input, and a negative byte size.
        let mut huge = split_body(&[], false, 8);
        let at = huge.len() - 3;
        huge.splice(at..at + 1, [0x80, 0x80, 0x80, 0x80, 0x08]);
        samples.push(huge);
        let mut negative_size = split_body(&[1], true, 8);
        let at = negative_size.iter().position(|&b| b == 0x01).unwrap();
        negative_size[at + 1] = 0x0f;
        samples.push(negative_size);
        let mut read = 0;
        let mut refused = 0;
        for sample in samples {
            for cut in 0..sample.len() {
                let payload = Bytes::copy_from_slice(&sample[..cut]);
                assert!(!agrees(&payload) || decoded(&payload).is_ok());
            }
            let mut trailing = sample.clone();
            trailing.push(0);
            assert!(!agrees(&Bytes::from(trailing)));
            for at in 0..sample.len() {
                for flip in [0x01u8, 0x02, 0x40, 0x80, 0xff] {
                    let mut bad = sample.clone();
                    bad[at] ^= flip;
                    let payload = Bytes::from(bad);
                    match decoded(&payload) {
                        Ok(_) => read += usize::from(agrees(&payload)),
                        Err(_) => {
                            assert!(!agrees(&payload));
                            refused += 1;
                        }
                    }
                }
            }
        }
        assert!(read > 0 && refused > 0, "{read} {refused}");
    }

    #[test]
    fn other_messages_are_not_read() {
        let payload = message(&subarrays(items()[4].clone()), flags::FIN);
        for (protocol, message_type, message_flags) in [
            (4, 5, flags::FIN),
            (9, 3, flags::FIN),
            (9, 5, flags::FIN | flags::COMPRESSED),
            (9, 5, flags::FIN | flags::HEADER_EXTENSION),
        ] {
            let mut out = Vec::new();
            MessageHeader {
                protocol,
                message_type,
                ..header(5, message_flags)
            }
            .encode(&mut out);
            let mut r = Reader::new(&payload);
            MessageHeader::decode(&mut r).unwrap();
            out.extend_from_slice(r.rest());
            assert!(read_put_message(&Bytes::from(out)).is_none());
        }
    }
}
