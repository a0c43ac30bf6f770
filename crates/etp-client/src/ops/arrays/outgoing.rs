//! `PutDataSubarrays` of `double` or `float` blocks written straight into the outgoing
//! WebSocket frame: the source's values are copied once, from where the source keeps
//! them into the frame's buffer, masked on the way ([`crate::mask`]). The generic path
//! copies them three times over: into an [`ArrayValues`] vector, into the encoded message,
//! then once more in place to mask the frame.
//!
//! The bytes are those `encode_message` writes for the same `PutDataSubarrays` (one map
//! entry; the values as one Avro array block), which the tests check byte for byte.

use etp_protocol::EtpString;
use etp_protocol::codec::{Avro, writer};
use etp_protocol::message::EtpMessage;
use etp_protocol::types::datatypes::AnyArrayType;
use etp_protocol::types::datatypes::data_array_types::DataArrayIdentifier;
use etp_protocol::types::protocol::data_array::PutDataSubarrays;

use super::{ArraySource, ArrayValues, Block, key_of};
use crate::client::MaskedBody;
use crate::ops::OpsError;

/// Where an [`ArraySource`] writes a block's values when the client can take them as
/// they are ([`ArraySource::read_into`]): straight into the outgoing message. It takes
/// the block's transport type only (`arrayOfDouble` or `arrayOfFloat`), and exactly the
/// block's element count, in one or more calls.
pub struct BlockWriter<'a> {
    body: &'a mut MaskedBody,
    transport: AnyArrayType,
    remaining: usize,
    /// Why values were refused (wrong type, too many), reported as an invalid argument
    /// whatever the source makes of the error it got.
    refused: Option<String>,
}

impl BlockWriter<'_> {
    /// The transport type of the block's values.
    pub fn transport_type(&self) -> AnyArrayType {
        self.transport
    }

    /// Elements still expected.
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// Appends `arrayOfDouble` values.
    pub fn write_f64s(&mut self, values: &[f64]) -> std::io::Result<()> {
        self.admit(AnyArrayType::ArrayOfDouble, values.len())?;
        append_le(self.body, values);
        Ok(())
    }

    /// Appends `arrayOfFloat` values.
    pub fn write_f32s(&mut self, values: &[f32]) -> std::io::Result<()> {
        self.admit(AnyArrayType::ArrayOfFloat, values.len())?;
        append_le(self.body, values);
        Ok(())
    }

    /// Appends values of the block's type given as their little-endian bytes (8 per
    /// `double`, 4 per `float`), e.g. as read from a file: a whole number of values.
    pub fn write_le_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        // The transport is double or float (`put_subarray`), so the size is known.
        let size = direct_element_size(self.transport).unwrap_or(1);
        if !bytes.len().is_multiple_of(size) {
            let refused = format!(
                "the source gave {} bytes, not a whole number of {} values",
                bytes.len(),
                self.transport
            );
            self.refused.get_or_insert_with(|| refused.clone());
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                refused,
            ));
        }
        self.admit(self.transport, bytes.len() / size)?;
        self.body.extend(bytes);
        Ok(())
    }

    /// Appends values of the block's type held in a vector.
    pub fn write_values(&mut self, values: &ArrayValues) -> std::io::Result<()> {
        match values {
            ArrayValues::Double(v) => self.write_f64s(v),
            ArrayValues::Float(v) => self.write_f32s(v),
            other => self.admit(other.transport_type(), other.len()),
        }
    }

    /// Checks `count` more values of `transport` against the block.
    fn admit(&mut self, transport: AnyArrayType, count: usize) -> std::io::Result<()> {
        let refused = if transport != self.transport {
            format!(
                "the source gave {transport} values for an array of {}",
                self.transport
            )
        } else if count > self.remaining {
            format!(
                "the source gave {count} values where {} remained in the block",
                self.remaining
            )
        } else {
            self.remaining -= count;
            return Ok(());
        };
        self.refused.get_or_insert_with(|| refused.clone());
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            refused,
        ))
    }
}

/// Bytes per element of the transport types [`put_subarray`] writes directly.
pub(super) fn direct_element_size(transport: AnyArrayType) -> Option<usize> {
    match transport {
        AnyArrayType::ArrayOfDouble => Some(8),
        AnyArrayType::ArrayOfFloat => Some(4),
        _ => None,
    }
}

/// The `PutDataSubarrays` of `block` (of a `double` or `float` array), its values read
/// from `source` straight into the message, masked.
pub(super) fn put_subarray(
    uid: &DataArrayIdentifier,
    block: &Block,
    source: &mut dyn ArraySource,
    transport: AnyArrayType,
) -> Result<MaskedBody, OpsError> {
    let Some(size) = direct_element_size(transport) else {
        return Err(OpsError::InvalidArgument(format!(
            "{transport} values are not written directly"
        )));
    };
    let count = usize::try_from(block.len)
        .ok()
        .filter(|n| n.checked_mul(size).is_some())
        .ok_or_else(|| OpsError::InvalidArgument(format!("block of {} elements", block.len)))?;
    let key: EtpString = key_of(uid).into();
    let starts = block.starts_i64();
    let counts = block.counts_i64();
    let small = 2 * key.len() + uid.encoded_len() + 40 + 20 * (starts.len() + counts.len());
    let mut body = MaskedBody::new(PutDataSubarrays::INFO, count * size + small);
    let mut scratch = Vec::with_capacity(small);
    // map<PutDataSubarraysType> of one entry, up to the values of `data`.
    writer::write_long(&mut scratch, 1);
    key.encode(&mut scratch);
    uid.encode(&mut scratch);
    // `data`: the AnyArray union's branch, then its record's one field, array<double> or
    // array<float>, as one block. The empty array's encoding is the branch index then the
    // terminating zero.
    ArrayValues::empty(transport)
        .into_any_array()
        .encode(&mut scratch);
    scratch.pop();
    if count > 0 {
        writer::write_long(&mut scratch, count as i64);
    }
    body.extend(&scratch);

    let mut values = BlockWriter {
        body: &mut body,
        transport,
        remaining: count,
        refused: None,
    };
    let read = source.read_into(block.offset, count, &mut values);
    if let Some(refused) = values.refused {
        return Err(OpsError::InvalidArgument(refused));
    }
    read?;
    if values.remaining > 0 {
        return Err(OpsError::InvalidArgument(format!(
            "the source gave {} values at offset {} instead of {count}",
            count - values.remaining,
            block.offset
        )));
    }

    // The array's end, `starts`, `counts`, and the map's end.
    scratch.clear();
    scratch.push(0);
    starts.encode(&mut scratch);
    counts.encode(&mut scratch);
    scratch.push(0);
    body.extend(&scratch);
    Ok(body)
}

/// IEEE 754 numbers, whose Avro encoding is their little-endian bytes.
trait WireFloat: Copy {
    /// The little-endian bytes of one value.
    #[cfg(not(target_endian = "little"))]
    fn le_bytes(self) -> impl AsRef<[u8]>;
}

impl WireFloat for f64 {
    #[cfg(not(target_endian = "little"))]
    fn le_bytes(self) -> impl AsRef<[u8]> {
        self.to_le_bytes()
    }
}

impl WireFloat for f32 {
    #[cfg(not(target_endian = "little"))]
    fn le_bytes(self) -> impl AsRef<[u8]> {
        self.to_le_bytes()
    }
}

/// Appends the Avro encoding of `values` (array items, without the block count).
fn append_le<T: WireFloat>(body: &mut MaskedBody, values: &[T]) {
    #[cfg(target_endian = "little")]
    {
        // SAFETY: `WireFloat` is only implemented for f64 and f32, which have no padding,
        // and any bytes are valid u8; the slice covers exactly the memory of `values`
        // (`size_of_val` bytes, align 1) and borrows it. On little-endian targets that
        // memory is the Avro wire layout.
        let bytes = unsafe {
            std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), size_of_val(values))
        };
        body.extend(bytes);
    }
    #[cfg(not(target_endian = "little"))]
    for v in values {
        body.extend(v.le_bytes().as_ref());
    }
}

#[cfg(test)]
mod tests {
    use etp_protocol::codec::Map;
    use etp_protocol::message::{Compression, encode_message, flags};
    use etp_protocol::types::datatypes::MessageHeader;
    use etp_protocol::types::datatypes::data_array_types::PutDataSubarraysType;

    use super::*;
    use crate::ops::arrays::BlockPlan;

    fn uid() -> DataArrayIdentifier {
        DataArrayIdentifier {
            uri: "eml:///dataspace('a')/resqml20.obj_IjkGridRepresentation(7e6d4d2c-2a1f-4b1e-9c51-7f7b8e3f5a11)".into(),
            path_in_resource: "/RESQML/points".into(),
        }
    }

    /// What `encode_message` writes for the block's PutDataSubarrays.
    fn generic(block: &Block, values: ArrayValues) -> Vec<u8> {
        let mut data_subarrays = Map::new();
        data_subarrays.insert(
            key_of(&uid()).into(),
            PutDataSubarraysType {
                uid: uid(),
                data: values.into_any_array(),
                starts: block.starts_i64(),
                counts: block.counts_i64(),
            },
        );
        let header = MessageHeader {
            protocol: PutDataSubarrays::INFO.protocol,
            message_type: PutDataSubarrays::INFO.message_type,
            correlation_id: 0,
            message_id: 0,
            message_flags: flags::FIN,
        };
        let mut out = Vec::new();
        let body = PutDataSubarrays { data_subarrays }.into();
        encode_message(&header, None, &body, Compression::None, &mut out);
        out
    }

    /// Hands its values over in pieces of `piece` elements, or misbehaves as told.
    struct Pieces {
        values: ArrayValues,
        piece: usize,
        /// Values to leave out at the end of each block (negative: to add).
        short: isize,
    }

    impl ArraySource for Pieces {
        fn read(&mut self, offset: u64, count: usize) -> std::io::Result<ArrayValues> {
            self.values.read(offset, count)
        }

        fn read_into(
            &mut self,
            offset: u64,
            count: usize,
            out: &mut BlockWriter<'_>,
        ) -> std::io::Result<()> {
            let count = count.saturating_add_signed(-self.short);
            let mut at = offset as usize;
            let end = at + count;
            while at < end {
                let n = self.piece.min(end - at);
                match &self.values {
                    // Every other piece as bytes.
                    ArrayValues::Double(v) if at % 2 == 1 => {
                        let bytes: Vec<u8> =
                            v[at..at + n].iter().flat_map(|x| x.to_le_bytes()).collect();
                        out.write_le_bytes(&bytes)?
                    }
                    ArrayValues::Float(v) if at % 2 == 1 => {
                        let bytes: Vec<u8> =
                            v[at..at + n].iter().flat_map(|x| x.to_le_bytes()).collect();
                        out.write_le_bytes(&bytes)?
                    }
                    ArrayValues::Double(v) => out.write_f64s(&v[at..at + n])?,
                    ArrayValues::Float(v) => out.write_f32s(&v[at..at + n])?,
                    other => out.write_values(&other.slice(at, n))?,
                }
                at += n;
            }
            Ok(())
        }
    }

    #[test]
    fn blocks_written_directly_are_the_generic_encoding() {
        let n = 3 * 7 * 11;
        let doubles = ArrayValues::Double((0..n).map(|i| i as f64 * -1.25e-3).collect());
        let floats = ArrayValues::Float((0..n).map(|i| i as f32 * 0.5 + 0.1).collect());
        for mut all in [doubles, floats] {
            let transport = all.transport_type();
            // Whole array, rows, pieces of rows, single elements.
            for max_elements in [n as u64, 77, 5, 1] {
                for piece in [1, 3, 1000] {
                    let mut source = Pieces {
                        values: all.clone(),
                        piece,
                        short: 0,
                    };
                    for block in BlockPlan::new(&[3, 7, 11], max_elements) {
                        let body =
                            put_subarray(&uid(), &block, &mut source, transport).expect("a body");
                        let values = all.read(block.offset, block.len as usize).unwrap();
                        assert_eq!(
                            body.unmasked(),
                            generic(&block, values),
                            "{transport}, block {block:?}, pieces of {piece}"
                        );
                    }
                }
            }
            // The default `read_into` (through `read`) and the in-memory source alike.
            let mut block = BlockPlan::new(&[3, 7, 11], 20);
            let block = block.nth(2).unwrap();
            let values = all.read(block.offset, block.len as usize).unwrap();
            let mut in_memory = all.clone();
            let body = put_subarray(&uid(), &block, &mut in_memory, transport).unwrap();
            assert_eq!(body.unmasked(), generic(&block, values.clone()));
            struct ByRead(ArrayValues);
            impl ArraySource for ByRead {
                fn read(&mut self, offset: u64, count: usize) -> std::io::Result<ArrayValues> {
                    self.0.read(offset, count)
                }
            }
            let body = put_subarray(&uid(), &block, &mut ByRead(all.clone()), transport).unwrap();
            assert_eq!(body.unmasked(), generic(&block, values));
        }
    }

    #[test]
    fn sources_giving_the_wrong_values_are_invalid_arguments() {
        let doubles = ArrayValues::Double(vec![1.5; 100]);
        let block = BlockPlan::new(&[100], 40).next().unwrap();
        let error = |values: ArrayValues, short: isize, transport| {
            let mut source = Pieces {
                values,
                piece: 7,
                short,
            };
            match put_subarray(&uid(), &block, &mut source, transport) {
                Err(OpsError::InvalidArgument(message)) => message,
                Err(e) => panic!("{e}"),
                Ok(_) => panic!("accepted"),
            }
        };
        let too_few = error(doubles.clone(), 3, AnyArrayType::ArrayOfDouble);
        assert!(too_few.contains("gave 37 values"), "{too_few}");
        let too_many = error(doubles.clone(), -3, AnyArrayType::ArrayOfDouble);
        assert!(too_many.contains("remained"), "{too_many}");
        let floats = ArrayValues::Float(vec![1.5; 100]);
        let wrong_type = error(floats, 0, AnyArrayType::ArrayOfDouble);
        assert!(wrong_type.contains("arrayOfFloat"), "{wrong_type}");
        let ints = ArrayValues::Int(vec![1; 100]);
        let wrong_type = error(ints, 0, AnyArrayType::ArrayOfFloat);
        assert!(wrong_type.contains("arrayOfInt"), "{wrong_type}");
        // Bytes that are not whole values.
        struct Ragged;
        impl ArraySource for Ragged {
            fn read(&mut self, _: u64, _: usize) -> std::io::Result<ArrayValues> {
                unreachable!("read_into is used")
            }
            fn read_into(
                &mut self,
                _: u64,
                _: usize,
                out: &mut BlockWriter<'_>,
            ) -> std::io::Result<()> {
                out.write_le_bytes(&[0; 13]).or(Ok(()))
            }
        }
        let ragged = put_subarray(&uid(), &block, &mut Ragged, AnyArrayType::ArrayOfDouble);
        assert!(
            matches!(&ragged, Err(OpsError::InvalidArgument(m)) if m.contains("13 bytes")),
            "{:?}",
            ragged.err()
        );
        // A source's own failure stays one.
        struct Failing;
        impl ArraySource for Failing {
            fn read(&mut self, _: u64, _: usize) -> std::io::Result<ArrayValues> {
                Err(std::io::Error::other("disk on fire"))
            }
        }
        let failed = put_subarray(&uid(), &block, &mut Failing, AnyArrayType::ArrayOfDouble);
        assert!(matches!(failed, Err(OpsError::Io(e)) if e.to_string() == "disk on fire"));
    }
}
