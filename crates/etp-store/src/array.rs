//! Array geometry: validation of dimensions and subarray requests, and the
//! mapping of a row-major subarray onto linear chunks.
//!
//! Layout: the array is flattened in row-major order (last dimension fastest)
//! and cut into consecutive chunks of `chunk_elems` elements. Chunk `c` holds
//! flat elements `[c * chunk_elems, (c + 1) * chunk_elems)`; the last chunk
//! may be shorter. A subarray is a set of contiguous flat runs; each run
//! touches only the chunks it overlaps.

use crate::error::{Result, StoreError};
use crate::types::ElementType;

/// Target bytes per chunk for fixed-width element types.
pub const CHUNK_BYTES: u64 = 1 << 20;

/// Elements per chunk for string arrays (variable length; 16 Ki strings of
/// ~64 bytes make a ~1 MiB chunk).
pub const STRING_CHUNK_ELEMS: u64 = 16 * 1024;

/// Elements per chunk for a newly created array of this type.
pub(crate) fn chunk_elems_for(et: ElementType, chunk_bytes: u64, string_elems: u64) -> u64 {
    match et.fixed_size() {
        Some(s) => (chunk_bytes / s).max(1),
        None => string_elems.max(1),
    }
}

/// Validates dimensions and returns the element count.
pub(crate) fn validate_dims(dims: &[u64], et: ElementType) -> Result<u64> {
    if dims.is_empty() {
        return Err(StoreError::InvalidArgument(
            "array must have at least one dimension".into(),
        ));
    }
    let mut total: u64 = 1;
    for d in dims {
        total = total.checked_mul(*d).ok_or_else(|| {
            StoreError::SizeOverflow(format!("product of dimensions {dims:?} exceeds 2^64"))
        })?;
    }
    if let Some(s) = et.fixed_size() {
        total.checked_mul(s).ok_or_else(|| {
            StoreError::SizeOverflow(format!("byte size of {dims:?} × {s} bytes exceeds 2^64"))
        })?;
    }
    Ok(total)
}

/// Validates a subarray request against the array's dimensions and returns
/// the number of requested elements.
pub(crate) fn validate_region(dims: &[u64], starts: &[u64], counts: &[u64]) -> Result<u64> {
    if starts.len() != dims.len() || counts.len() != dims.len() {
        return Err(StoreError::InvalidArgument(format!(
            "rank mismatch: array has {} dimensions, starts {} and counts {}",
            dims.len(),
            starts.len(),
            counts.len()
        )));
    }
    let mut n: u64 = 1;
    for (i, ((&d, &s), &c)) in dims.iter().zip(starts).zip(counts).enumerate() {
        let end = s.checked_add(c).ok_or(StoreError::OutOfRange {
            dim: i,
            start: s,
            count: c,
            size: d,
        })?;
        if end > d {
            return Err(StoreError::OutOfRange {
                dim: i,
                start: s,
                count: c,
                size: d,
            });
        }
        // Cannot overflow: c <= d and the product of dims fits (validated at create).
        n = n.saturating_mul(c);
    }
    Ok(n)
}

/// Iterator over the contiguous flat runs `(first_element, length)` of a
/// validated subarray, in row-major order.
pub(crate) struct Runs {
    /// Strides of dimensions `0..k` (elements).
    strides: Vec<u64>,
    starts: Vec<u64>,
    counts: Vec<u64>,
    /// Odometer over dimensions `0..k`.
    idx: Vec<u64>,
    /// Flat offset contributed by dimension `k` and beyond.
    base: u64,
    run_len: u64,
    done: bool,
}

impl Runs {
    /// `dims`, `starts`, `counts` must have passed [`validate_region`].
    pub(crate) fn new(dims: &[u64], starts: &[u64], counts: &[u64]) -> Self {
        let n = dims.len();
        let empty = counts.contains(&0) || n == 0;
        // Strides (products of the faster dimensions); they fit in u64
        // because the product of all dims does.
        let mut strides = vec![1u64; n];
        for i in (0..n.saturating_sub(1)).rev() {
            strides[i] = strides[i + 1].saturating_mul(dims[i + 1]);
        }
        // k = slowest dimension such that every faster dimension is fully covered.
        let mut k = n.saturating_sub(1);
        while k > 0 && counts[k] == dims[k] {
            k -= 1;
        }
        let run_len = if empty {
            0
        } else {
            counts[k].saturating_mul(strides[k])
        };
        let base = if empty {
            0
        } else {
            starts[k].saturating_mul(strides[k])
        };
        Runs {
            strides: strides[..k].to_vec(),
            starts: starts[..k].to_vec(),
            counts: counts[..k].to_vec(),
            idx: vec![0; k],
            base,
            run_len,
            done: empty,
        }
    }
}

impl Iterator for Runs {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        if self.done {
            return None;
        }
        let mut off = self.base;
        for i in 0..self.idx.len() {
            off += (self.starts[i] + self.idx[i]) * self.strides[i];
        }
        // Advance the odometer.
        let mut i = self.idx.len();
        loop {
            if i == 0 {
                self.done = true;
                break;
            }
            i -= 1;
            self.idx[i] += 1;
            if self.idx[i] < self.counts[i] {
                break;
            }
            self.idx[i] = 0;
        }
        Some((off, self.run_len))
    }
}

/// A piece of a run inside one chunk: `(chunk, first element in chunk, length)`.
pub(crate) fn split_run(
    start: u64,
    len: u64,
    chunk_elems: u64,
) -> impl Iterator<Item = (u64, u64, u64)> {
    let mut pos = start;
    let end = start + len;
    std::iter::from_fn(move || {
        if pos >= end {
            return None;
        }
        let c = pos / chunk_elems;
        let off = pos % chunk_elems;
        let take = (chunk_elems - off).min(end - pos);
        pos += take;
        Some((c, off, take))
    })
}

/// Number of elements in chunk `c` of an array of `total` elements.
pub(crate) fn chunk_len(total: u64, chunk_elems: u64, c: u64) -> u64 {
    let first = c.saturating_mul(chunk_elems);
    total.saturating_sub(first).min(chunk_elems)
}

/// A block shape aligned with the chunks: whole chunks of rows of the slowest
/// dimension when a row fits in a chunk, otherwise one row split along the
/// next dimension.
pub(crate) fn preferred_block(dims: &[u64], chunk_elems: u64) -> Vec<u64> {
    let mut block = dims.to_vec();
    let mut budget = chunk_elems.max(1);
    // Walk from the fastest dimension outwards, taking whole dimensions while they fit.
    for i in (0..dims.len()).rev() {
        let d = dims[i].max(1);
        if d <= budget {
            budget /= d;
        } else {
            block[i] = budget.max(1);
            for b in block.iter_mut().take(i) {
                *b = 1;
            }
            break;
        }
    }
    block
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(dims: &[u64], starts: &[u64], counts: &[u64]) -> Vec<u64> {
        // Reference implementation: enumerate every element.
        let mut out = Vec::new();
        let n: u64 = counts.iter().product();
        for mut e in 0..n {
            let mut idx = vec![0u64; dims.len()];
            for i in (0..dims.len()).rev() {
                idx[i] = starts[i] + e % counts[i];
                e /= counts[i];
            }
            let mut off = 0;
            for i in 0..dims.len() {
                off = off * dims[i] + idx[i];
            }
            out.push(off);
        }
        out
    }

    #[test]
    fn runs_match_reference() {
        let cases: &[(&[u64], &[u64], &[u64])] = &[
            (&[10], &[3], &[4]),
            (&[4, 5], &[1, 0], &[2, 5]),
            (&[4, 5], &[1, 1], &[3, 3]),
            (&[3, 4, 5], &[0, 1, 2], &[3, 2, 3]),
            (&[3, 4, 5], &[1, 0, 0], &[2, 4, 5]),
            (&[3, 4, 5], &[0, 0, 0], &[0, 4, 5]),
        ];
        for (d, s, c) in cases {
            let got: Vec<u64> = Runs::new(d, s, c).flat_map(|(o, l)| o..o + l).collect();
            assert_eq!(got, flat(d, s, c), "{d:?} {s:?} {c:?}");
        }
    }

    #[test]
    fn validation() {
        assert!(validate_dims(&[], ElementType::F64).is_err());
        assert!(matches!(
            validate_dims(&[u64::MAX, 2], ElementType::Bool),
            Err(StoreError::SizeOverflow(_))
        ));
        assert!(matches!(
            validate_dims(&[u64::MAX / 4], ElementType::F64),
            Err(StoreError::SizeOverflow(_))
        ));
        assert_eq!(validate_dims(&[0, 5], ElementType::F64).ok(), Some(0));
        assert!(matches!(
            validate_region(&[10], &[u64::MAX], &[2]),
            Err(StoreError::OutOfRange { .. })
        ));
        assert!(matches!(
            validate_region(&[10], &[5], &[6]),
            Err(StoreError::OutOfRange { .. })
        ));
        assert!(validate_region(&[10], &[5], &[5]).is_ok());
        assert!(validate_region(&[10, 2], &[5], &[5]).is_err());
    }

    #[test]
    fn split_and_block() {
        let v: Vec<_> = split_run(5, 10, 4).collect();
        assert_eq!(v, vec![(1, 1, 3), (2, 0, 4), (3, 0, 3)]);
        assert_eq!(chunk_len(10, 4, 2), 2);
        assert_eq!(chunk_len(10, 4, 3), 0);
        assert_eq!(preferred_block(&[1000, 100], 1000), vec![10, 100]);
        assert_eq!(preferred_block(&[10, 5000], 1000), vec![1, 1000]);
        assert_eq!(preferred_block(&[3, 4], 1000), vec![3, 4]);
    }
}
