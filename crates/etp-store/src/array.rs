//! Array geometry: validation of dimensions and subarray requests, and the
//! mapping of a row-major subarray onto linear chunks.
//!
//! Layout: the array is flattened in row-major order (last dimension fastest)
//! and cut into consecutive chunks of `chunk_elems` elements. Chunk `c` holds
//! flat elements `[c * chunk_elems, (c + 1) * chunk_elems)`; the last chunk
//! may be shorter. A subarray is a set of contiguous flat runs; each run
//! touches only the chunks it overlaps.
//!
//! Chunk size: every array gets chunks of whole "rows" so that a block of the
//! shape the store advertises (`preferred_subarray_dims`, see [`layout`]) and
//! any whole number of such blocks covers whole chunks: a client cutting its
//! blocks that way makes the store read and write each chunk once, with no
//! read-modify-write of a chunk shared by two blocks.

use crate::error::{Result, StoreError};
use crate::types::ElementType;

/// Target bytes per chunk for fixed-width element types: what fits in one
/// 1 MiB ETP message (pyetp's and fetpapi's default size) next to the header,
/// the identifier and the request's other fields. With a full 1 MiB a chunk
/// could never travel in one such message, and every block a client cut to its
/// message size would straddle two chunks.
pub const CHUNK_BYTES: u64 = (1 << 20) - 8 * 1024;

/// Elements per chunk for string arrays (variable length; 16 Ki strings of
/// ~64 bytes make a ~1 MiB chunk).
pub const STRING_CHUNK_ELEMS: u64 = 16 * 1024;

/// How a new array is cut into chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Elements per chunk (at least 1).
    pub chunk_elems: u64,
    /// The block shape advertised as `preferredSubarrayDimensions`:
    /// `[1, …, 1, k, dims…]`, one chunk's worth of elements.
    pub preferred: Vec<u64>,
}

/// Chunk layout of a new array of `dims`, aiming at `chunk_bytes` per chunk
/// (`string_elems` elements for strings).
///
/// The preferred block is cut like a client cuts its blocks: along the
/// slowest axis `a` whose rows (`dims[a+1..]`) fit in a chunk, `k` rows at a
/// time. A chunk is exactly one such block, so blocks of `m × k` rows cover
/// whole chunks as long as the block boundaries fall on multiples of `k` in
/// every row of axis `a`, which holds when `a = 0` (one run through the
/// array) or `k` divides `dims[a]`. For `a > 0` the largest divisor of
/// `dims[a]` not above the target is taken if it keeps at least half the
/// target size; otherwise (say `dims[a]` is a large prime) chunks are cut at
/// the full target and blocks at row ends straddle two chunks, as before.
pub(crate) fn layout(dims: &[u64], et: ElementType, chunk_bytes: u64, string_elems: u64) -> Layout {
    let target = match et.fixed_size() {
        Some(s) => (chunk_bytes / s).max(1),
        None => string_elems.max(1),
    };
    if dims.is_empty() || dims.contains(&0) {
        // Nothing to store: any layout will do; the whole array is the block.
        return Layout {
            chunk_elems: target,
            preferred: dims.iter().map(|&d| d.max(1)).collect(),
        };
    }
    // Elements in one row of each axis (the product of the faster dimensions);
    // validated dimensions have a product that fits in u64.
    let mut inner = 1u64;
    let mut axis = dims.len() - 1;
    loop {
        let row = inner.saturating_mul(dims[axis]);
        if axis == 0 || row > target {
            break;
        }
        inner = row;
        axis -= 1;
    }
    // Here `inner` (rows of `axis`) fits in the target, so `most` >= 1.
    let most = (target / inner).clamp(1, dims[axis]);
    let rows = if axis == 0 || most == dims[axis] {
        most
    } else {
        (most.div_ceil(2)..=most)
            .rev()
            .find(|&k| dims[axis].is_multiple_of(k))
            .unwrap_or(most)
    };
    let mut preferred = vec![1u64; dims.len()];
    preferred[axis] = rows;
    preferred[axis + 1..].copy_from_slice(&dims[axis + 1..]);
    Layout {
        chunk_elems: rows.saturating_mul(inner).max(1),
        preferred,
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
    }

    /// Checks that blocks of `m` preferred blocks, cut like a client cuts them (rows of
    /// the preferred block's axis, restarting at every row end), cover whole chunks.
    fn blocks_cover_whole_chunks(dims: &[u64], l: &Layout, m: u64) -> bool {
        let axis = l
            .preferred
            .iter()
            .zip(dims)
            .rposition(|(p, d)| p != d)
            .unwrap_or(0);
        let step = l.preferred[axis] * m;
        let inner: u64 = dims[axis + 1..].iter().product();
        let outer: u64 = dims[..axis].iter().product();
        let total: u64 = dims.iter().product();
        (0..outer).all(|o| {
            (0..dims[axis]).step_by(step as usize).all(|r| {
                let first = (o * dims[axis] + r) * inner;
                let end = first + step.min(dims[axis] - r) * inner;
                first.is_multiple_of(l.chunk_elems)
                    && (end.is_multiple_of(l.chunk_elems) || end == total)
            })
        })
    }

    #[test]
    fn layouts_align_chunks_with_preferred_blocks() {
        let f64s = |dims: &[u64], bytes: u64| layout(dims, ElementType::F64, bytes, 7);
        // 2-D, rows fit: whole rows per chunk, a chunk is exactly the preferred block.
        let l = f64s(&[131_072, 1024], CHUNK_BYTES);
        assert_eq!(l.preferred, vec![127, 1024]);
        assert_eq!(l.chunk_elems, 127 * 1024);
        // Rows not a power of two: still whole rows (the old layout cut 131 rows of
        // 1000 = 131,000 elements against 131,072-element chunks).
        let l = f64s(&[5000, 1000], 1 << 20);
        assert_eq!(
            (l.preferred.clone(), l.chunk_elems),
            (vec![131, 1000], 131_000)
        );
        // 1-D: plain runs of the target size.
        let l = f64s(&[1_000_000], 8000);
        assert_eq!((l.preferred.clone(), l.chunk_elems), (vec![1000], 1000));
        // Everything fits: the whole array is one chunk.
        let l = f64s(&[3, 4], 8000);
        assert_eq!((l.preferred.clone(), l.chunk_elems), (vec![3, 4], 12));
        // 3-D whose planes exceed a chunk: rows of the middle axis, a divisor of it.
        let l = f64s(&[10, 300, 500], 1 << 20);
        assert_eq!(
            (l.preferred.clone(), l.chunk_elems),
            (vec![1, 150, 500], 75_000)
        );
        // A prime middle axis has no divisor near the target: full-size chunks.
        let l = f64s(&[4, 1009, 100], 800 * 8);
        assert_eq!((l.preferred.clone(), l.chunk_elems), (vec![1, 8, 100], 800));
        // A single row too long for a chunk: split along the last axis.
        let l = f64s(&[2, 10_000], 1000 * 8);
        assert_eq!((l.preferred.clone(), l.chunk_elems), (vec![1, 1000], 1000));
        // Empty arrays and strings.
        let l = f64s(&[0, 5], 8000);
        assert_eq!(l.preferred, vec![1, 5]);
        assert!(l.chunk_elems >= 1);
        let l = layout(&[100, 3], ElementType::String, 1 << 20, 7);
        assert_eq!((l.preferred.clone(), l.chunk_elems), (vec![2, 3], 6));
        // Tiny targets never give empty chunks.
        let l = layout(&[5, 5], ElementType::F64, 4, 7);
        assert_eq!((l.preferred.clone(), l.chunk_elems), (vec![1, 1], 1));

        for dims in [
            vec![1000u64],
            vec![37, 11],
            vec![12, 30, 7],
            vec![5, 64, 3, 2],
            vec![3, 97, 5],
        ] {
            for bytes in [8u64, 64, 200, 1000, 4096, 1 << 20] {
                let l = f64s(&dims, bytes);
                let block: u64 = l.preferred.iter().product();
                assert_eq!(block, l.chunk_elems, "{dims:?} / {bytes}: {l:?}");
                assert!(
                    l.chunk_elems * 8 <= bytes.max(8),
                    "{dims:?} / {bytes}: {l:?}"
                );
                let axis = l
                    .preferred
                    .iter()
                    .zip(&dims)
                    .rposition(|(p, d)| p != d)
                    .unwrap_or(0);
                // Aligned unless no divisor of the axis was near the target (the
                // prime-axis fallback): then only the size is promised.
                let fallback = axis > 0 && dims[axis] % l.preferred[axis] != 0;
                if !fallback {
                    for m in [1, 2, 3] {
                        assert!(
                            blocks_cover_whole_chunks(&dims, &l, m),
                            "{dims:?} / {bytes} × {m}: {l:?}"
                        );
                    }
                }
            }
        }
    }
}
