//! Shapes coming off the wire: dimensions, subarray regions and the size arithmetic the
//! limits need. Everything here is checked arithmetic on hostile `long`s; a failure is the
//! key's `EINVALID_ARGUMENT` (5).

use etp_protocol::error_code::ErrorCode;
use etp_protocol::types::datatypes::ErrorInfo;

use crate::handlers::objects::error_info;

/// A key's failure with `EINVALID_ARGUMENT`.
pub(super) fn invalid(message: impl Into<String>) -> ErrorInfo {
    error_info(ErrorCode::EINVALID_ARGUMENT, message)
}

/// Checks `dimensions` of a new array and returns them unsigned with the element count.
///
/// Rank 0 is refused: the store keeps no scalars and every client sends a scalar as `[1]`.
/// Zero-length dimensions are fine (an empty array).
pub(super) fn array_dimensions(dimensions: &[i64]) -> Result<(Vec<u64>, u64), ErrorInfo> {
    if dimensions.is_empty() {
        return Err(invalid(
            "an array needs at least one dimension (send a scalar as [1])",
        ));
    }
    let dims = unsigned(dimensions, "dimension")?;
    let count = element_count(&dims)
        .ok_or_else(|| invalid(format!("the product of dimensions {dims:?} overflows")))?;
    Ok((dims, count))
}

/// Product of `counts`; `None` if it overflows 64 bits.
pub(super) fn element_count(counts: &[u64]) -> Option<u64> {
    counts.iter().try_fold(1u64, |n, &c| n.checked_mul(c))
}

/// `values` as unsigned numbers; a negative entry is the key's error.
pub(super) fn unsigned(values: &[i64], what: &str) -> Result<Vec<u64>, ErrorInfo> {
    values
        .iter()
        .map(|&v| u64::try_from(v).map_err(|_| invalid(format!("negative {what} {v}"))))
        .collect()
}

/// Signed copy of values the server validated itself (dimensions it stored), for the wire.
pub(super) fn signed(values: &[u64]) -> Vec<i64> {
    values
        .iter()
        .map(|&v| i64::try_from(v).unwrap_or(i64::MAX))
        .collect()
}

/// A block of an array: `starts`/`counts` per dimension, already checked against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Region {
    /// First index per dimension.
    pub starts: Vec<u64>,
    /// Extent per dimension (the answer's `dimensions`).
    pub counts: Vec<u64>,
    /// Product of `counts`.
    pub count: u64,
}

impl Region {
    /// The whole of an array of dimensions `dims` (element count `count`).
    pub fn whole(dims: &[u64], count: u64) -> Region {
        Region {
            starts: vec![0; dims.len()],
            counts: dims.to_vec(),
            count,
        }
    }

    /// Checks a requested block against the array's `dims`. Empty `starts` and `counts`
    /// (the schema defaults) mean the whole array; otherwise both need one entry per
    /// dimension, and the block must lie inside the array.
    pub fn within(dims: &[u64], starts: &[i64], counts: &[i64]) -> Result<Region, ErrorInfo> {
        if starts.is_empty() && counts.is_empty() {
            let count = element_count(dims).unwrap_or(u64::MAX);
            return Ok(Region::whole(dims, count));
        }
        if starts.len() != dims.len() || counts.len() != dims.len() {
            return Err(invalid(format!(
                "the array has {} dimensions but starts has {} entries and counts {}",
                dims.len(),
                starts.len(),
                counts.len()
            )));
        }
        let starts = unsigned(starts, "start")?;
        let counts = unsigned(counts, "count")?;
        for (axis, ((&size, &start), &count)) in dims.iter().zip(&starts).zip(&counts).enumerate() {
            if start.checked_add(count).is_none_or(|end| end > size) {
                return Err(invalid(format!(
                    "the block leaves the array in dimension {axis}: start {start} + count \
                     {count} > size {size}"
                )));
            }
        }
        // Each count is at most its dimension and the product of those fits (checked when
        // the array was created).
        let count = element_count(&counts).unwrap_or(u64::MAX);
        Ok(Region {
            starts,
            counts,
            count,
        })
    }

    /// Splits the block into consecutive sub-blocks of at most `max_elements` elements
    /// each, in row-major order: concatenating them gives the block's own row-major order.
    /// Used to read string arrays a bounded piece at a time.
    pub fn pieces(&self, max_elements: u64) -> Pieces {
        Pieces::new(self, max_elements.max(1))
    }
}

/// Iterator of [`Region::pieces`]: `(starts, counts)` of each sub-block.
pub(super) struct Pieces {
    starts: Vec<u64>,
    counts: Vec<u64>,
    /// The axis cut into runs; faster axes are taken whole, slower ones one index at a time.
    axis: usize,
    /// Indices along the axes slower than `axis` (an odometer), relative to `starts`.
    outer: Vec<u64>,
    /// Next offset along `axis`, relative to its start.
    along: u64,
    /// Run length along `axis`.
    step: u64,
    done: bool,
}

impl Pieces {
    fn new(region: &Region, max_elements: u64) -> Pieces {
        let rank = region.counts.len();
        // The slowest axis whose faster axes, taken whole, still fit in one piece.
        let mut axis = rank.saturating_sub(1);
        let mut inner = 1u64;
        while axis > 0 {
            match inner.checked_mul(region.counts[axis]) {
                Some(next) if next <= max_elements => {
                    inner = next;
                    axis -= 1;
                }
                _ => break,
            }
        }
        let step = (max_elements / inner.max(1)).max(1);
        Pieces {
            starts: region.starts.clone(),
            counts: region.counts.clone(),
            axis,
            outer: vec![0; axis],
            along: 0,
            step,
            done: rank == 0 || region.counts.contains(&0),
        }
    }
}

impl Iterator for Pieces {
    type Item = (Vec<u64>, Vec<u64>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let axis = self.axis;
        let run = self.step.min(self.counts[axis] - self.along);
        let mut starts = self.starts.clone();
        let mut counts = self.counts.clone();
        for (i, &index) in self.outer.iter().enumerate() {
            starts[i] += index;
            counts[i] = 1;
        }
        starts[axis] += self.along;
        counts[axis] = run;
        // Advance: along the cut axis first, then the odometer of the slower axes.
        self.along += run;
        if self.along == self.counts[axis] {
            self.along = 0;
            let mut i = self.outer.len();
            loop {
                if i == 0 {
                    self.done = true;
                    break;
                }
                i -= 1;
                self.outer[i] += 1;
                if self.outer[i] < self.counts[i] {
                    break;
                }
                self.outer[i] = 0;
            }
        }
        Some((starts, counts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flat row-major offsets of the elements of a block, one by one.
    fn offsets(dims: &[u64], starts: &[u64], counts: &[u64]) -> Vec<u64> {
        let n = element_count(counts).unwrap();
        (0..n)
            .map(|mut e| {
                let mut index = vec![0; dims.len()];
                for i in (0..dims.len()).rev() {
                    index[i] = starts[i] + e % counts[i];
                    e /= counts[i];
                }
                index.iter().zip(dims).fold(0, |off, (&i, &d)| off * d + i)
            })
            .collect()
    }

    #[test]
    fn pieces_cover_the_block_in_row_major_order_within_the_bound() {
        let cases: &[(&[u64], &[u64], &[u64])] = &[
            (&[10], &[0], &[10]),
            (&[10], &[3], &[7]),
            (&[4, 5], &[1, 1], &[3, 4]),
            (&[3, 4, 5], &[0, 1, 2], &[3, 3, 3]),
            (&[3, 4, 5], &[0, 0, 0], &[3, 4, 5]),
            (&[2, 1, 7], &[1, 0, 0], &[1, 1, 7]),
        ];
        for &(dims, starts, counts) in cases {
            let region = Region::within(
                dims,
                &starts.iter().map(|&s| s as i64).collect::<Vec<_>>(),
                &counts.iter().map(|&c| c as i64).collect::<Vec<_>>(),
            )
            .unwrap();
            for max in [1, 2, 3, 4, 6, 7, 20, 1000] {
                let mut got = Vec::new();
                for (s, c) in region.pieces(max) {
                    assert!(element_count(&c).unwrap() <= max, "{dims:?} {max} {c:?}");
                    got.extend(offsets(dims, &s, &c));
                }
                assert_eq!(got, offsets(dims, starts, counts), "{dims:?} max {max}");
            }
        }
    }

    #[test]
    fn empty_blocks_have_no_pieces() {
        let region = Region::within(&[3, 0], &[], &[]).unwrap();
        assert_eq!(region.count, 0);
        assert_eq!(region.pieces(10).count(), 0);
    }

    #[test]
    fn regions_are_checked() {
        assert_eq!(
            Region::within(&[4, 5], &[], &[]).unwrap(),
            Region {
                starts: vec![0, 0],
                counts: vec![4, 5],
                count: 20
            }
        );
        for (starts, counts) in [
            (&[0][..], &[1][..]),
            (&[0, 0][..], &[][..]),
            (&[-1, 0][..], &[1, 1][..]),
            (&[0, 0][..], &[1, -1][..]),
            (&[3, 0][..], &[2, 1][..]),
            (&[0, i64::MAX][..], &[1, i64::MAX][..]),
        ] {
            let e = Region::within(&[4, 5], starts, counts).unwrap_err();
            assert_eq!(e.code, 5, "{starts:?} {counts:?}");
        }
        assert_eq!(Region::within(&[4, 5], &[3, 4], &[1, 1]).unwrap().count, 1);
        assert_eq!(Region::within(&[4, 5], &[4, 5], &[0, 0]).unwrap().count, 0);
    }

    #[test]
    fn dimensions_are_checked() {
        assert_eq!(array_dimensions(&[2, 3]).unwrap(), (vec![2, 3], 6));
        assert_eq!(array_dimensions(&[0]).unwrap(), (vec![0], 0));
        assert_eq!(array_dimensions(&[]).unwrap_err().code, 5);
        assert_eq!(array_dimensions(&[2, -3]).unwrap_err().code, 5);
        assert_eq!(array_dimensions(&[i64::MAX, i64::MAX]).unwrap_err().code, 5);
    }
}
