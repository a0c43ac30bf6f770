//! Helpers on `DataValue`, the typed value of capabilities and custom data, and the ETP
//! clock. Every endpoint needs them, so they live beside the types.

use crate::EtpString;
use crate::types::datatypes::{ArrayOfString, DataValue, DataValueItem};

impl DataValue {
    /// Reads a number the way peers send them: pyetp writes Python ints as Avro `int`,
    /// others `long`, and some tools integral `double`s (01-core.md §4.4).
    pub fn as_i64(&self) -> Option<i64> {
        match self.item {
            DataValueItem::Int(v) => Some(i64::from(v)),
            DataValueItem::Long(v) => Some(v),
            DataValueItem::Double(v) if v.is_finite() && v.fract() == 0.0 => Some(v as i64),
            _ => None,
        }
    }

    /// A `long` value: the branch every client reads for numbers (fetpapi reads only it).
    pub fn long(value: i64) -> DataValue {
        DataValue {
            item: DataValueItem::Long(value),
        }
    }

    /// A `boolean` value.
    pub fn boolean(value: bool) -> DataValue {
        DataValue {
            item: DataValueItem::Boolean(value),
        }
    }

    /// An `ArrayOfString` value (e.g. `AuthorizationDetails`, dataspace ACLs).
    pub fn strings<S: Into<EtpString>>(values: impl IntoIterator<Item = S>) -> DataValue {
        DataValue {
            item: DataValueItem::ArrayOfString(ArrayOfString {
                values: values.into_iter().map(Into::into).collect(),
            }),
        }
    }
}

/// Microseconds since the Unix epoch, the unit of every ETP timestamp.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_from_int_long_and_integral_double() {
        assert_eq!(
            DataValue {
                item: DataValueItem::Int(5)
            }
            .as_i64(),
            Some(5)
        );
        assert_eq!(DataValue::long(1 << 40).as_i64(), Some(1 << 40));
        assert_eq!(
            DataValue {
                item: DataValueItem::Double(7.0)
            }
            .as_i64(),
            Some(7)
        );
        assert_eq!(
            DataValue {
                item: DataValueItem::Double(7.5)
            }
            .as_i64(),
            None
        );
        assert_eq!(DataValue::boolean(true).as_i64(), None);
    }
}
