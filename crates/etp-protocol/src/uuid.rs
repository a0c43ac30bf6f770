//! The ETP `Uuid` (Avro `fixed` of 16 bytes, RFC 4122 byte order).

use std::fmt;
use std::str::FromStr;

use crate::codec::{Avro, DecodeError, Reader};

/// `Energistics.Etp.v12.Datatypes.Uuid`: 16 bytes in RFC 4122 order, i.e. the order of
/// the hex digits of the text form (what pyetp's `uuid.bytes` and open-etp-client send).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Uuid(pub [u8; 16]);

/// The text was not a UUID in the 8-4-4-4-12 hexadecimal form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid UUID text {0:?}: expected 8-4-4-4-12 hexadecimal digits")]
pub struct InvalidUuid(pub String);

impl Uuid {
    /// The all-zero UUID.
    pub const NIL: Uuid = Uuid([0; 16]);

    /// A random (version 4) UUID from the operating system's entropy-seeded hasher state.
    ///
    /// `RandomState` is seeded from OS randomness once per process and re-keyed per
    /// instance; mixing two of its outputs with a counter gives session ids that are unique
    /// and unpredictable enough for identification (they are not secrets).
    pub fn new_v4() -> Uuid {
        use std::hash::{BuildHasher, Hasher};
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 16];
        for (i, half) in bytes.chunks_mut(8).enumerate() {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(n);
            h.write_usize(i);
            half.copy_from_slice(&h.finish().to_le_bytes());
        }
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Uuid(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

impl FromStr for Uuid {
    type Err = InvalidUuid;

    /// Parses the hyphenated 36-character form, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || InvalidUuid(s.to_owned());
        let text = s.as_bytes();
        if text.len() != 36 {
            return Err(err());
        }
        let mut out = [0u8; 16];
        let mut nibbles = 0usize;
        for (i, &c) in text.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return Err(err());
                }
                continue;
            }
            let v = (c as char).to_digit(16).ok_or_else(err)? as u8;
            out[nibbles / 2] |= if nibbles.is_multiple_of(2) { v << 4 } else { v };
            nibbles += 1;
        }
        Ok(Uuid(out))
    }
}

impl serde::Serialize for Uuid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Avro for Uuid {
    const MIN_ENCODED_SIZE: usize = 16;
    #[inline]
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Uuid(r.take_array()?))
    }
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0);
    }
    #[inline]
    fn encoded_len(&self) -> usize {
        16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_roundtrip() {
        let text = "0123abcd-4567-89ef-0123-456789abcdef";
        let u: Uuid = text.parse().unwrap();
        assert_eq!(u.0[0], 0x01);
        assert_eq!(u.to_string(), text);
        assert_eq!(
            "0123ABCD-4567-89EF-0123-456789ABCDEF"
                .parse::<Uuid>()
                .unwrap(),
            u
        );
        assert!(
            "0123abcd45678-9ef-0123-456789abcdef"
                .parse::<Uuid>()
                .is_err()
        );
        assert!(
            "0123abcd-4567-89ef-0123-456789abcdeg"
                .parse::<Uuid>()
                .is_err()
        );
        assert!("".parse::<Uuid>().is_err());
    }

    #[test]
    fn v4_is_versioned_and_unique() {
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        assert_ne!(a, b);
        assert_eq!(a.0[6] >> 4, 4);
        assert_eq!(a.0[8] >> 6, 2);
    }
}
