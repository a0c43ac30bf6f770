//! Vectored encoding: an encoding as a list of shared buffers instead of one copy.
//!
//! [`Avro::encode_segments`](super::Avro::encode_segments) writes small fields into one
//! buffer, as [`Avro::encode`](super::Avro::encode) does, but records every `bytes` value of
//! at least [`SegmentedBuf::threshold`] bytes by reference (a `Bytes` clone) instead of
//! copying it. The segments, concatenated, are exactly the bytes `encode` writes. A
//! `PutDataObjects` or `GetDataObjectsResponse` of 2 MB of XML then encodes by copying the
//! few kilobytes of resources only, and the transport can hand the XML buffers to the
//! kernel in one vectored write.

use bytes::Bytes;

/// The output of a vectored encoding: small fields copied, large `bytes` values shared.
#[derive(Debug, Default)]
pub struct SegmentedBuf {
    small: Vec<u8>,
    parts: Vec<Part>,
    threshold: usize,
    len: usize,
}

#[derive(Debug)]
enum Part {
    /// The bytes of `small` up to this offset (from the end of the previous small part).
    Small(usize),
    /// A shared value.
    Large(Bytes),
}

impl SegmentedBuf {
    /// Values this size and larger are shared by default. Below that, a separate
    /// segment costs the transport more (one more I/O vector, or frame) than the copy.
    pub const DEFAULT_THRESHOLD: usize = 4096;

    /// An empty buffer that shares values of at least [`Self::DEFAULT_THRESHOLD`] bytes.
    pub fn new() -> Self {
        SegmentedBuf::with_threshold(SegmentedBuf::DEFAULT_THRESHOLD)
    }

    /// An empty buffer that shares values of at least `threshold` bytes (at least 1).
    pub fn with_threshold(threshold: usize) -> Self {
        SegmentedBuf {
            threshold: threshold.max(1),
            ..SegmentedBuf::default()
        }
    }

    /// The smallest `bytes` value that is shared rather than copied.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// The buffer that small fields are appended to.
    #[inline]
    pub fn small_mut(&mut self) -> &mut Vec<u8> {
        &mut self.small
    }

    /// Appends `bytes` (the value only; the caller wrote its length), shared when large.
    #[inline]
    pub fn push_bytes(&mut self, bytes: &Bytes) {
        if bytes.len() < self.threshold {
            self.small.extend_from_slice(bytes);
            return;
        }
        self.parts.push(Part::Small(self.small.len()));
        self.len += bytes.len();
        self.parts.push(Part::Large(bytes.clone()));
    }

    /// Total number of bytes written so far.
    pub fn len(&self) -> usize {
        self.len + self.small.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether any value was shared (otherwise the encoding is one buffer).
    pub fn has_shared(&self) -> bool {
        !self.parts.is_empty()
    }

    /// Empties the buffer, keeping its allocations (and threshold) for the next encoding:
    /// a writer that encodes message after message into one `SegmentedBuf` then allocates
    /// nothing once warm.
    pub fn clear(&mut self) {
        self.small.clear();
        self.parts.clear();
        self.len = 0;
    }

    /// Bytes of small fields held (the copied part of [`Self::len`]).
    pub fn small_len(&self) -> usize {
        self.small.len()
    }

    /// The segments in order, borrowed (empty ones left out); concatenated, the same bytes
    /// as [`Self::into_segments`]. For a vectored write straight from the buffer.
    pub fn segments(&self) -> impl Iterator<Item = &[u8]> + '_ {
        // The small fields after the last shared value.
        let tail = self
            .parts
            .iter()
            .rev()
            .find_map(|part| match part {
                Part::Small(end) => Some(*end),
                Part::Large(_) => None,
            })
            .unwrap_or(0);
        let mut start = 0;
        self.parts
            .iter()
            .map(move |part| match part {
                Part::Small(end) => {
                    let slice = &self.small[start..*end];
                    start = *end;
                    slice
                }
                Part::Large(bytes) => &bytes[..],
            })
            .chain(std::iter::once(&self.small[tail..]))
            .filter(|segment| !segment.is_empty())
    }

    /// The segments in order; empty ones are left out. The small fields become slices of
    /// one buffer (no copy).
    pub fn into_segments(self) -> Vec<Bytes> {
        let small = Bytes::from(self.small);
        let mut out = Vec::with_capacity(self.parts.len() + 1);
        let mut start = 0;
        for part in self.parts {
            match part {
                Part::Small(end) => {
                    if end > start {
                        out.push(small.slice(start..end));
                    }
                    start = end;
                }
                Part::Large(bytes) => out.push(bytes),
            }
        }
        if small.len() > start {
            out.push(small.slice(start..));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Avro, Map, encode_to_vec};

    fn concat(segments: &[Bytes]) -> Vec<u8> {
        segments.iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn large_values_are_shared_and_small_ones_copied() {
        let large = Bytes::from(vec![7u8; 5000]);
        let small = Bytes::from_static(b"tiny");
        let mut map = Map::new();
        map.insert("a".into(), large.clone());
        map.insert("b".into(), small.clone());
        map.insert("c".into(), large.clone());
        let mut out = SegmentedBuf::new();
        map.encode_segments(&mut out);
        assert!(out.has_shared());
        assert_eq!(out.len(), map.encoded_len());
        let segments = out.into_segments();
        // count+key+len | large | key+len+tiny+key+len | large | end of map
        assert_eq!(segments.len(), 5);
        assert_eq!(segments[1].as_ptr(), large.as_ptr());
        assert_eq!(segments[3].as_ptr(), large.as_ptr());
        assert_eq!(concat(&segments), encode_to_vec(&map));
    }

    #[test]
    fn borrowed_segments_match_owned_ones_and_clear_reuses() {
        let large = Bytes::from(vec![7u8; 5000]);
        let mut map = Map::new();
        map.insert("a".into(), large.clone());
        map.insert("b".into(), Bytes::from_static(b"tiny"));
        map.insert("c".into(), large.clone());
        let mut out = SegmentedBuf::new();
        for _ in 0..2 {
            out.clear();
            map.encode_segments(&mut out);
            let borrowed: Vec<&[u8]> = out.segments().collect();
            assert_eq!(borrowed.len(), 5);
            assert_eq!(borrowed[1].as_ptr(), large.as_ptr());
            assert_eq!(borrowed.concat(), encode_to_vec(&map));
            assert_eq!(out.len(), map.encoded_len());
        }
        // Ends with a large value: no empty trailing segment.
        let mut out = SegmentedBuf::new();
        large.encode_segments(&mut out);
        let borrowed: Vec<&[u8]> = out.segments().collect();
        assert_eq!(borrowed.len(), 2);
        assert_eq!(borrowed.concat(), encode_to_vec(&large));
        out.clear();
        assert!(out.is_empty() && out.segments().next().is_none());
        // Only small fields: one segment.
        out.small_mut().extend_from_slice(b"abc");
        assert_eq!(out.segments().collect::<Vec<_>>(), vec![&b"abc"[..]]);
        assert_eq!(out.small_len(), 3);
    }

    #[test]
    fn without_large_values_the_encoding_is_one_segment() {
        let value = vec![Bytes::from_static(b"abc"), Bytes::new()];
        let mut out = SegmentedBuf::new();
        value.encode_segments(&mut out);
        assert!(!out.has_shared());
        let segments = out.into_segments();
        assert_eq!(segments.len(), 1);
        assert_eq!(concat(&segments), encode_to_vec(&value));
        assert!(SegmentedBuf::new().into_segments().is_empty());
    }
}
