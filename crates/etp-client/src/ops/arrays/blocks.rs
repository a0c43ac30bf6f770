//! Cutting an array into blocks that each fit in one message.
//!
//! Blocks are cut along axis 0 (whole rows of the remaining axes), like pyetp; when a
//! single row of axis 0 is still too big, along axis 1 within each row, and so on. Every
//! block is therefore `[1, …, 1, k, full, …, full]`: a contiguous run of the array's
//! row-major flattening. The plan yields blocks in flat order without gaps, which lets a
//! sink write them sequentially (to a file, say) and a source read them sequentially.
//!
//! A store's `preferredSubarrayDimensions` of that same shape (one block of its storage,
//! as ours advertises) is honoured by [`preferred_block_elements`]: blocks then hold a
//! whole number of preferred blocks, so that the store reads or writes each of its chunks
//! once instead of twice for blocks that straddle them.

/// One hyperslab of an array, contiguous in row-major order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// First index along each dimension (`GetDataSubarraysType.starts`).
    pub starts: Vec<u64>,
    /// Extent along each dimension (`counts`).
    pub counts: Vec<u64>,
    /// Flat (row-major) index of the block's first element.
    pub offset: u64,
    /// Number of elements (product of `counts`).
    pub len: u64,
}

impl Block {
    /// The whole array as one block; `None` if the element count overflows.
    pub fn whole(dims: &[u64]) -> Option<Block> {
        Some(Block {
            starts: vec![0; dims.len()],
            counts: dims.to_vec(),
            offset: 0,
            len: element_count(dims)?,
        })
    }

    /// Halves the block along its first axis of extent > 1; both halves keep the
    /// contiguous shape. `None` for a single element.
    pub fn split(&self) -> Option<(Block, Block)> {
        let axis = self.counts.iter().position(|&c| c > 1)?;
        let inner: u64 = self.counts[axis + 1..].iter().product();
        let half = self.counts[axis] / 2;
        let mut first = self.clone();
        first.counts[axis] = half;
        first.len = half * inner;
        let mut second = self.clone();
        second.starts[axis] += half;
        second.counts[axis] -= half;
        second.offset += first.len;
        second.len = self.len - first.len;
        Some((first, second))
    }

    /// `starts` as the wire's `long`s.
    pub fn starts_i64(&self) -> Vec<i64> {
        self.starts.iter().map(|&v| v as i64).collect()
    }

    /// `counts` as the wire's `long`s.
    pub fn counts_i64(&self) -> Vec<i64> {
        self.counts.iter().map(|&v| v as i64).collect()
    }
}

/// The number of elements of an array of these dimensions (1 for rank 0); `None` on
/// overflow.
pub fn element_count(dims: &[u64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
}

/// The block size limit to plan with when the store prefers blocks of `preferred`
/// (`preferredSubarrayDimensions`): the largest whole number of preferred blocks within
/// `max_elements`. `None`, to plan with `max_elements` as it is, when there is no usable
/// preference: empty, of another rank, out of the array's bounds, not a contiguous run of
/// the row-major flattening (`[1, …, 1, k, dims…]`, the only shape that [`BlockPlan`]
/// can cut in flat order), or larger than `max_elements`.
///
/// [`BlockPlan::new`] with the returned limit cuts blocks that start and end on preferred
/// block boundaries: along the preferred block's axis in multiples of its extent there,
/// or, when a whole row of that axis fits, in whole rows of a slower axis.
pub fn preferred_block_elements(dims: &[u64], preferred: &[i64], max_elements: u64) -> Option<u64> {
    if preferred.is_empty() || preferred.len() != dims.len() {
        return None;
    }
    let preferred = preferred
        .iter()
        .zip(dims)
        .map(|(&p, &d)| u64::try_from(p).ok().filter(|&p| p >= 1 && p <= d))
        .collect::<Option<Vec<u64>>>()?;
    // The axis the block is cut along: the last one it does not span entirely.
    if let Some(axis) = preferred.iter().zip(dims).rposition(|(p, d)| p != d)
        && preferred[..axis].iter().any(|&p| p != 1)
    {
        return None;
    }
    let block = element_count(&preferred)?;
    if block == 0 || block > max_elements {
        return None;
    }
    Some(max_elements / block * block)
}

/// The blocks of an array, at most `max_elements` elements each, in flat order.
#[derive(Debug, Clone)]
pub struct BlockPlan {
    dims: Vec<u64>,
    /// The axis blocks are cut along.
    axis: usize,
    /// Indices of the block along `axis` per step.
    step: u64,
    /// Current index along each axis before `axis`.
    prefix: Vec<u64>,
    /// Current start along `axis`.
    position: u64,
    /// Flat offset of the next block.
    offset: u64,
    done: bool,
}

impl BlockPlan {
    /// Plans blocks of at most `max_elements` (at least 1) elements. The element count of
    /// `dims` must not overflow `u64` (check with [`element_count`]); if it does, the
    /// plan is empty.
    pub fn new(dims: &[u64], max_elements: u64) -> BlockPlan {
        let max_elements = max_elements.max(1);
        let empty = element_count(dims).is_none_or(|n| n == 0);
        // The first axis whose trailing rows fit; the last axis always qualifies (its
        // rows are single elements).
        let mut axis = 0;
        let mut inner = element_count(dims).unwrap_or(0);
        while axis < dims.len() {
            inner /= dims[axis].max(1);
            if inner <= max_elements {
                break;
            }
            axis += 1;
        }
        let step = if dims.is_empty() {
            1
        } else {
            (max_elements / inner.max(1)).clamp(1, dims[axis].max(1))
        };
        BlockPlan {
            dims: dims.to_vec(),
            axis,
            step,
            prefix: vec![0; axis.min(dims.len())],
            position: 0,
            offset: 0,
            done: empty,
        }
    }

    /// How many blocks the plan yields in total.
    pub fn block_count(&self) -> u64 {
        if element_count(&self.dims).is_none_or(|n| n == 0) {
            return 0;
        }
        if self.dims.is_empty() {
            return 1;
        }
        let outer: u64 = self.dims[..self.axis].iter().product();
        outer * self.dims[self.axis].div_ceil(self.step)
    }
}

impl Iterator for BlockPlan {
    type Item = Block;

    fn next(&mut self) -> Option<Block> {
        if self.done {
            return None;
        }
        if self.dims.is_empty() {
            self.done = true;
            return Some(Block {
                starts: Vec::new(),
                counts: Vec::new(),
                offset: 0,
                len: 1,
            });
        }
        let axis = self.axis;
        let count = self.step.min(self.dims[axis] - self.position);
        let mut starts = self.prefix.clone();
        starts.push(self.position);
        starts.resize(self.dims.len(), 0);
        let mut counts = vec![1; axis];
        counts.push(count);
        counts.extend_from_slice(&self.dims[axis + 1..]);
        let len = counts.iter().product();
        let block = Block {
            starts,
            counts,
            offset: self.offset,
            len,
        };
        self.offset += len;
        self.position += count;
        if self.position >= self.dims[axis] {
            self.position = 0;
            // Odometer over the axes before `axis`, last one fastest.
            let mut i = axis;
            loop {
                if i == 0 {
                    self.done = true;
                    break;
                }
                i -= 1;
                self.prefix[i] += 1;
                if self.prefix[i] < self.dims[i] {
                    break;
                }
                self.prefix[i] = 0;
            }
        }
        Some(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that blocks tile the array exactly, in flat order, within the limit.
    fn check(dims: &[u64], max: u64) -> Vec<Block> {
        let plan = BlockPlan::new(dims, max);
        let expected_count = plan.block_count();
        let blocks: Vec<Block> = plan.collect();
        assert_eq!(blocks.len() as u64, expected_count, "{dims:?} / {max}");
        let total = element_count(dims).unwrap();
        let mut offset = 0;
        for b in &blocks {
            assert_eq!(b.offset, offset, "{dims:?} / {max}: {b:?}");
            assert!(b.len <= max.max(1), "{b:?}");
            assert_eq!(b.len, b.counts.iter().product::<u64>());
            // The block's first element, by its starts, is at its flat offset.
            let mut flat = 0;
            for (s, d) in b.starts.iter().zip(dims) {
                flat = flat * d + s;
            }
            assert_eq!(flat, b.offset);
            for ((s, c), d) in b.starts.iter().zip(&b.counts).zip(dims) {
                assert!(s + c <= *d);
            }
            offset += b.len;
        }
        assert_eq!(offset, total);
        blocks
    }

    #[test]
    fn plans_tile_arrays() {
        for dims in [
            vec![10u64],
            vec![7, 3],
            vec![4, 5, 6],
            vec![1, 1, 9],
            vec![3, 1000],
            vec![2, 3, 4, 5],
        ] {
            for max in [1, 2, 3, 5, 7, 16, 60, 119, 120, 1000, 100_000] {
                check(&dims, max);
            }
        }
    }

    #[test]
    fn cuts_along_axis_zero_when_rows_fit() {
        let blocks = check(&[10, 4], 12);
        assert_eq!(blocks.len(), 4);
        assert_eq!(blocks[0].counts, [3, 4]);
        assert_eq!(blocks[3].counts, [1, 4]);
        assert_eq!(blocks[3].starts, [9, 0]);
        // One row of 1000 does not fit 300: cut within rows.
        let blocks = check(&[3, 1000], 300);
        assert_eq!(blocks[0].counts, [1, 300]);
        assert_eq!(blocks[4].starts, [1, 0]);
        assert_eq!(blocks.len(), 12);
        // Everything fits: one block.
        assert_eq!(check(&[4, 5], 20).len(), 1);
    }

    #[test]
    fn degenerate_arrays() {
        assert_eq!(BlockPlan::new(&[0, 5], 10).count(), 0);
        assert_eq!(BlockPlan::new(&[5, 0], 10).block_count(), 0);
        let scalar: Vec<Block> = BlockPlan::new(&[], 10).collect();
        assert_eq!(scalar.len(), 1);
        assert_eq!(scalar[0].len, 1);
        assert_eq!(BlockPlan::new(&[u64::MAX, 3], 10).count(), 0);
    }

    #[test]
    fn preferred_blocks_are_whole_multiples() {
        // The bench's array at 1 MiB messages: 127-row chunks, 127 rows fit.
        let dims = [131_072u64, 1024];
        assert_eq!(
            preferred_block_elements(&dims, &[127, 1024], 130_600),
            Some(127 * 1024)
        );
        // 8 MiB messages: 8 chunks of 127 rows rather than 1021 rows.
        assert_eq!(
            preferred_block_elements(&dims, &[127, 1024], 1_045_000),
            Some(8 * 127 * 1024)
        );
        // A preferred block larger than a message: today's plan.
        assert_eq!(preferred_block_elements(&dims, &[128, 1024], 130_600), None);
        // Unusable preferences.
        assert_eq!(preferred_block_elements(&dims, &[], 1000), None);
        assert_eq!(preferred_block_elements(&dims, &[10], 10_000), None);
        assert_eq!(preferred_block_elements(&dims, &[0, 1024], 10_000), None);
        assert_eq!(preferred_block_elements(&dims, &[-1, 1024], 10_000), None);
        assert_eq!(preferred_block_elements(&dims, &[1, 2048], 10_000), None);
        // Not contiguous in row-major order: a tile.
        assert_eq!(preferred_block_elements(&dims, &[4, 16], 10_000), None);
        assert_eq!(preferred_block_elements(&[4, 6, 8], &[2, 3, 8], 1000), None);
        // Contiguous with leading ones.
        assert_eq!(
            preferred_block_elements(&[4, 6, 8], &[1, 3, 8], 50),
            Some(48)
        );
    }

    /// Every block of the plan starts and ends on a preferred block boundary of the
    /// row-major flattening, tiling it as a store with chunks of that shape lays it out
    /// (a chunk restarts at every row end of the preferred block's axis).
    #[test]
    fn plans_with_preferred_blocks_cover_whole_blocks() {
        let cases: &[(&[u64], &[i64])] = &[
            (&[1000], &[64]),
            (&[37, 11], &[5, 11]),
            (&[12, 30, 7], &[1, 3, 7]),
            (&[12, 30, 7], &[1, 10, 7]),
            (&[12, 30, 7], &[2, 30, 7]),
            (&[5, 64, 3, 2], &[1, 1, 3, 2]),
            (&[5, 64, 3, 2], &[1, 16, 3, 2]),
            (&[3, 4], &[3, 4]),
        ];
        for &(dims, preferred) in cases {
            let pref: Vec<u64> = preferred.iter().map(|&p| p as u64).collect();
            let block = element_count(&pref).unwrap();
            let axis = pref.iter().zip(dims).rposition(|(p, d)| p != d);
            // Flat offsets at which a preferred block (a store chunk) starts.
            let total = element_count(dims).unwrap();
            let inner: u64 = axis.map_or(total, |a| dims[a + 1..].iter().product());
            let boundary = |flat: u64| {
                if flat == total {
                    return true;
                }
                match axis {
                    None => flat == 0,
                    Some(a) => {
                        let along = (flat / inner) % dims[a];
                        flat.is_multiple_of(inner) && along.is_multiple_of(pref[a])
                    }
                }
            };
            for max in [1, 2, 7, 16, 50, 100, 333, 1000, 100_000] {
                let Some(limit) = preferred_block_elements(dims, preferred, max) else {
                    assert!(block > max, "{dims:?} {preferred:?} / {max}");
                    continue;
                };
                assert_eq!(limit % block, 0);
                for b in check(dims, limit) {
                    assert!(
                        boundary(b.offset) && boundary(b.offset + b.len),
                        "{dims:?} {preferred:?} / {max}: {b:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn splits_stay_contiguous() {
        let whole = Block::whole(&[5, 4]).unwrap();
        let (a, b) = whole.split().unwrap();
        assert_eq!((a.counts.clone(), a.len), (vec![2, 4], 8));
        assert_eq!(
            (b.starts.clone(), b.counts.clone(), b.offset),
            (vec![2, 0], vec![3, 4], 8)
        );
        let row = Block {
            starts: vec![3, 0],
            counts: vec![1, 5],
            offset: 15,
            len: 5,
        };
        let (a, b) = row.split().unwrap();
        assert_eq!(
            (a.starts.clone(), a.counts.clone(), a.offset),
            (vec![3, 0], vec![1, 2], 15)
        );
        assert_eq!(
            (b.starts, b.counts, b.offset, b.len),
            (vec![3, 2], vec![1, 3], 17, 3)
        );
        let single = Block::whole(&[1, 1]).unwrap();
        assert!(single.split().is_none());
    }
}
