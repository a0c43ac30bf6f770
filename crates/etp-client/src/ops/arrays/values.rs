//! Typed array values, one variant per ETP transport type (`AnyArray` branches).

use bytes::Bytes;

use super::EncodedValues;
use etp_protocol::types::datatypes::{
    AnyArray, AnyArrayItem, AnyArrayType, AnyLogicalArrayType, ArrayOfBoolean, ArrayOfDouble,
    ArrayOfFloat, ArrayOfInt, ArrayOfLong, ArrayOfString,
};

/// The values of an array or of a block of it, flattened in row-major order, typed by
/// transport type (`AnyArrayType`): what travels in `AnyArray`.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayValues {
    /// `arrayOfBoolean`.
    Boolean(Vec<bool>),
    /// `arrayOfInt` (32 bits).
    Int(Vec<i32>),
    /// `arrayOfLong` (64 bits).
    Long(Vec<i64>),
    /// `arrayOfFloat` (32 bits).
    Float(Vec<f32>),
    /// `arrayOfDouble` (64 bits).
    Double(Vec<f64>),
    /// `arrayOfString`.
    String(Vec<String>),
    /// `bytes`: one byte per element (logical int8 / uint8 arrays).
    Bytes(Vec<u8>),
}

impl ArrayValues {
    /// No values, of the given transport type.
    pub fn empty(transport: AnyArrayType) -> ArrayValues {
        match transport {
            AnyArrayType::ArrayOfBoolean => ArrayValues::Boolean(Vec::new()),
            AnyArrayType::ArrayOfInt => ArrayValues::Int(Vec::new()),
            AnyArrayType::ArrayOfLong => ArrayValues::Long(Vec::new()),
            AnyArrayType::ArrayOfFloat => ArrayValues::Float(Vec::new()),
            AnyArrayType::ArrayOfDouble => ArrayValues::Double(Vec::new()),
            AnyArrayType::ArrayOfString => ArrayValues::String(Vec::new()),
            AnyArrayType::Bytes => ArrayValues::Bytes(Vec::new()),
        }
    }

    /// No values yet, with room for `capacity` of the given transport type.
    pub fn with_capacity(transport: AnyArrayType, capacity: usize) -> ArrayValues {
        match transport {
            AnyArrayType::ArrayOfBoolean => ArrayValues::Boolean(Vec::with_capacity(capacity)),
            AnyArrayType::ArrayOfInt => ArrayValues::Int(Vec::with_capacity(capacity)),
            AnyArrayType::ArrayOfLong => ArrayValues::Long(Vec::with_capacity(capacity)),
            AnyArrayType::ArrayOfFloat => ArrayValues::Float(Vec::with_capacity(capacity)),
            AnyArrayType::ArrayOfDouble => ArrayValues::Double(Vec::with_capacity(capacity)),
            AnyArrayType::ArrayOfString => ArrayValues::String(Vec::with_capacity(capacity)),
            AnyArrayType::Bytes => ArrayValues::Bytes(Vec::with_capacity(capacity)),
        }
    }

    /// Appends values as they lie in a received message (one copy); `false`, with nothing
    /// appended, if their transport type differs.
    pub fn extend_from_encoded(&mut self, values: &EncodedValues) -> bool {
        let at = self.len();
        let n = values.len();
        // The copies cannot fail: type and length were just matched.
        match self {
            ArrayValues::Double(v) if values.transport_type() == AnyArrayType::ArrayOfDouble => {
                v.resize(at + n, 0.0);
                let _ = values.copy_to_f64(&mut v[at..]);
            }
            ArrayValues::Float(v) if values.transport_type() == AnyArrayType::ArrayOfFloat => {
                v.resize(at + n, 0.0);
                let _ = values.copy_to_f32(&mut v[at..]);
            }
            ArrayValues::Bytes(v) if values.transport_type() == AnyArrayType::Bytes => {
                v.reserve(n);
                for bytes in values.le_bytes() {
                    v.extend_from_slice(bytes);
                }
            }
            _ => return false,
        }
        true
    }

    /// The transport type of these values.
    pub fn transport_type(&self) -> AnyArrayType {
        match self {
            ArrayValues::Boolean(_) => AnyArrayType::ArrayOfBoolean,
            ArrayValues::Int(_) => AnyArrayType::ArrayOfInt,
            ArrayValues::Long(_) => AnyArrayType::ArrayOfLong,
            ArrayValues::Float(_) => AnyArrayType::ArrayOfFloat,
            ArrayValues::Double(_) => AnyArrayType::ArrayOfDouble,
            ArrayValues::String(_) => AnyArrayType::ArrayOfString,
            ArrayValues::Bytes(_) => AnyArrayType::Bytes,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ArrayValues::Boolean(v) => v.len(),
            ArrayValues::Int(v) => v.len(),
            ArrayValues::Long(v) => v.len(),
            ArrayValues::Float(v) => v.len(),
            ArrayValues::Double(v) => v.len(),
            ArrayValues::String(v) => v.len(),
            ArrayValues::Bytes(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Splits off the elements from `at` on (all of them if `at` is 0, none if `at` is
    /// past the end).
    pub fn split_off(&mut self, at: usize) -> ArrayValues {
        let at = at.min(self.len());
        match self {
            ArrayValues::Boolean(v) => ArrayValues::Boolean(v.split_off(at)),
            ArrayValues::Int(v) => ArrayValues::Int(v.split_off(at)),
            ArrayValues::Long(v) => ArrayValues::Long(v.split_off(at)),
            ArrayValues::Float(v) => ArrayValues::Float(v.split_off(at)),
            ArrayValues::Double(v) => ArrayValues::Double(v.split_off(at)),
            ArrayValues::String(v) => ArrayValues::String(v.split_off(at)),
            ArrayValues::Bytes(v) => ArrayValues::Bytes(v.split_off(at)),
        }
    }

    /// Appends `other`; gives it back if its transport type differs.
    pub fn append(&mut self, other: ArrayValues) -> Result<(), ArrayValues> {
        match (self, other) {
            (ArrayValues::Boolean(a), ArrayValues::Boolean(b)) => a.extend(b),
            (ArrayValues::Int(a), ArrayValues::Int(b)) => a.extend(b),
            (ArrayValues::Long(a), ArrayValues::Long(b)) => a.extend(b),
            (ArrayValues::Float(a), ArrayValues::Float(b)) => a.extend(b),
            (ArrayValues::Double(a), ArrayValues::Double(b)) => a.extend(b),
            (ArrayValues::String(a), ArrayValues::String(b)) => a.extend(b),
            (ArrayValues::Bytes(a), ArrayValues::Bytes(b)) => a.extend(b),
            (_, other) => return Err(other),
        }
        Ok(())
    }

    /// The elements `start..start + count` (clamped to the values).
    pub fn slice(&self, start: usize, count: usize) -> ArrayValues {
        let start = start.min(self.len());
        let end = start.saturating_add(count).min(self.len());
        match self {
            ArrayValues::Boolean(v) => ArrayValues::Boolean(v[start..end].to_vec()),
            ArrayValues::Int(v) => ArrayValues::Int(v[start..end].to_vec()),
            ArrayValues::Long(v) => ArrayValues::Long(v[start..end].to_vec()),
            ArrayValues::Float(v) => ArrayValues::Float(v[start..end].to_vec()),
            ArrayValues::Double(v) => ArrayValues::Double(v[start..end].to_vec()),
            ArrayValues::String(v) => ArrayValues::String(v[start..end].to_vec()),
            ArrayValues::Bytes(v) => ArrayValues::Bytes(v[start..end].to_vec()),
        }
    }

    /// An upper bound of the Avro encoding of these values as an `AnyArray`: exact for
    /// strings and bytes, worst case (longest varint) for integers.
    pub fn encoded_len_bound(&self) -> usize {
        let items = match self {
            ArrayValues::String(v) => v.iter().map(|s| s.len() + 10).sum(),
            ArrayValues::Bytes(v) => v.len(),
            other => {
                let size = max_element_size(other.transport_type()).unwrap_or(0);
                other.len().saturating_mul(size)
            }
        };
        // Union index, block count and terminator, or the bytes length prefix.
        items.saturating_add(24)
    }

    /// The wire form.
    pub fn into_any_array(self) -> AnyArray {
        let item = match self {
            ArrayValues::Boolean(values) => AnyArrayItem::ArrayOfBoolean(ArrayOfBoolean { values }),
            ArrayValues::Int(values) => AnyArrayItem::ArrayOfInt(ArrayOfInt { values }),
            ArrayValues::Long(values) => AnyArrayItem::ArrayOfLong(ArrayOfLong { values }),
            ArrayValues::Float(values) => AnyArrayItem::ArrayOfFloat(ArrayOfFloat { values }),
            ArrayValues::Double(values) => AnyArrayItem::ArrayOfDouble(ArrayOfDouble { values }),
            ArrayValues::String(values) => AnyArrayItem::ArrayOfString(ArrayOfString {
                values: values.into_iter().map(Into::into).collect(),
            }),
            ArrayValues::Bytes(values) => AnyArrayItem::Bytes(Bytes::from(values)),
        };
        AnyArray { item }
    }

    /// From the wire form.
    pub fn from_any_array(array: AnyArray) -> ArrayValues {
        match array.item {
            AnyArrayItem::ArrayOfBoolean(a) => ArrayValues::Boolean(a.values),
            AnyArrayItem::ArrayOfInt(a) => ArrayValues::Int(a.values),
            AnyArrayItem::ArrayOfLong(a) => ArrayValues::Long(a.values),
            AnyArrayItem::ArrayOfFloat(a) => ArrayValues::Float(a.values),
            AnyArrayItem::ArrayOfDouble(a) => ArrayValues::Double(a.values),
            AnyArrayItem::ArrayOfString(a) => {
                ArrayValues::String(a.values.into_iter().map(String::from).collect())
            }
            AnyArrayItem::Bytes(b) => ArrayValues::Bytes(Vec::from(b)),
        }
    }
}

/// The most bytes one element of this transport type takes in Avro (varints at their
/// longest); `None` for strings, whose size depends on the text.
pub fn max_element_size(transport: AnyArrayType) -> Option<usize> {
    match transport {
        AnyArrayType::ArrayOfBoolean | AnyArrayType::Bytes => Some(1),
        AnyArrayType::ArrayOfInt => Some(5),
        AnyArrayType::ArrayOfLong => Some(10),
        AnyArrayType::ArrayOfFloat => Some(4),
        AnyArrayType::ArrayOfDouble => Some(8),
        AnyArrayType::ArrayOfString => None,
    }
}

/// The logical type to declare for values of a transport type when the caller has no
/// better knowledge: what pyetp declares (bytes are int8 there).
pub fn default_logical_type(transport: AnyArrayType) -> AnyLogicalArrayType {
    match transport {
        AnyArrayType::ArrayOfBoolean => AnyLogicalArrayType::ArrayOfBoolean,
        AnyArrayType::ArrayOfInt => AnyLogicalArrayType::ArrayOfInt32LE,
        AnyArrayType::ArrayOfLong => AnyLogicalArrayType::ArrayOfInt64LE,
        AnyArrayType::ArrayOfFloat => AnyLogicalArrayType::ArrayOfFloat32LE,
        AnyArrayType::ArrayOfDouble => AnyLogicalArrayType::ArrayOfDouble64LE,
        AnyArrayType::ArrayOfString => AnyLogicalArrayType::ArrayOfString,
        AnyArrayType::Bytes => AnyLogicalArrayType::ArrayOfInt8,
    }
}

#[cfg(test)]
mod tests {
    use etp_protocol::codec::Avro;

    use super::*;

    fn samples() -> Vec<ArrayValues> {
        vec![
            ArrayValues::Boolean(vec![true, false, true]),
            ArrayValues::Int(vec![i32::MIN, -1, 0, i32::MAX]),
            ArrayValues::Long(vec![i64::MIN, 0, i64::MAX]),
            ArrayValues::Float(vec![1.5, f32::NAN, -0.0]),
            ArrayValues::Double(vec![f64::MAX, 2.25, f64::MIN_POSITIVE]),
            ArrayValues::String(vec!["a".into(), "ünïcode".into(), String::new()]),
            ArrayValues::Bytes(vec![0, 255, 7]),
        ]
    }

    #[test]
    fn wire_round_trip_and_size_bound() {
        for values in samples() {
            let transport = values.transport_type();
            let wire = values.clone().into_any_array();
            assert!(
                wire.encoded_len() <= values.encoded_len_bound(),
                "{transport}: {} > {}",
                wire.encoded_len(),
                values.encoded_len_bound()
            );
            let back = ArrayValues::from_any_array(wire);
            assert_eq!(back.transport_type(), transport);
            assert_eq!(back.len(), values.len());
            if transport != AnyArrayType::ArrayOfFloat {
                assert_eq!(back, values);
            }
            assert_eq!(ArrayValues::empty(transport).transport_type(), transport);
        }
    }

    #[test]
    fn split_slice_append() {
        let mut v = ArrayValues::Int(vec![1, 2, 3, 4, 5]);
        let tail = v.split_off(2);
        assert_eq!(v, ArrayValues::Int(vec![1, 2]));
        assert_eq!(tail.slice(1, 10), ArrayValues::Int(vec![4, 5]));
        v.append(tail).unwrap();
        assert_eq!(v.len(), 5);
        assert!(v.append(ArrayValues::Double(vec![1.0])).is_err());
        assert!(v.slice(9, 1).is_empty());
    }
}
