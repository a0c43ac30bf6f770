//! [`InlineVec`]: the Rust type of every Avro `array<string>` in the generated ETP types.
//!
//! Arrays of strings in ETP messages nearly always hold zero or one item: a `Resource`'s
//! `alternateUris`, the `dataObjectTypes` of a listing, a capability's `supportedFormats`.
//! As a `Vec`, a one-item array was a heap allocation of 40 bytes for every `Resource`
//! decoded, and its `malloc`, `free` and glibc's later consolidation of the freed chunks
//! were about a tenth of the decode of a `GetResourcesResponse`. An `InlineVec` keeps one
//! item in place and moves to a `Vec` only from the second.
//!
//! It is used like a `Vec`: it dereferences to a slice, grows with `push` and `extend`,
//! is built from a `Vec`, an array or an iterator, and compares, prints and serializes as
//! the slice of its items.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// A vector that stores up to one item inline and spills to a `Vec` beyond that (see the
/// [module documentation](self)).
#[derive(Clone)]
pub struct InlineVec<T>(Repr<T>);

#[derive(Clone)]
enum Repr<T> {
    /// No item or one item, without allocation.
    Inline(Option<T>),
    /// Any number of items (built from a `Vec`, or grown past one item).
    Heap(Vec<T>),
}

impl<T> InlineVec<T> {
    /// An empty vector (no allocation).
    pub const fn new() -> Self {
        InlineVec(Repr::Inline(None))
    }

    /// A vector of the single item `item` (no allocation).
    pub const fn one(item: T) -> Self {
        InlineVec(Repr::Inline(Some(item)))
    }

    /// An empty vector with room for `capacity` items (allocating only beyond one).
    pub fn with_capacity(capacity: usize) -> Self {
        if capacity <= 1 {
            InlineVec::new()
        } else {
            InlineVec(Repr::Heap(Vec::with_capacity(capacity)))
        }
    }

    /// The items.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        match &self.0 {
            Repr::Inline(None) => &[],
            Repr::Inline(Some(item)) => std::slice::from_ref(item),
            Repr::Heap(items) => items,
        }
    }

    /// The items, mutable.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        match &mut self.0 {
            Repr::Inline(None) => &mut [],
            Repr::Inline(Some(item)) => std::slice::from_mut(item),
            Repr::Heap(items) => items,
        }
    }

    /// The vector of the items (allocates for an inline item).
    pub fn into_vec(self) -> Vec<T> {
        match self.0 {
            Repr::Inline(None) => Vec::new(),
            Repr::Inline(Some(item)) => vec![item],
            Repr::Heap(items) => items,
        }
    }

    /// Appends `item`.
    pub fn push(&mut self, item: T) {
        match &mut self.0 {
            Repr::Inline(slot @ None) => *slot = Some(item),
            Repr::Heap(items) => items.push(item),
            Repr::Inline(first @ Some(_)) => {
                let mut items = Vec::with_capacity(4);
                items.extend(first.take());
                items.push(item);
                self.0 = Repr::Heap(items);
            }
        }
    }

    /// Removes and returns the last item.
    pub fn pop(&mut self) -> Option<T> {
        match &mut self.0 {
            Repr::Inline(item) => item.take(),
            Repr::Heap(items) => items.pop(),
        }
    }

    /// Removes every item (keeping a heap buffer).
    pub fn clear(&mut self) {
        match &mut self.0 {
            Repr::Inline(item) => *item = None,
            Repr::Heap(items) => items.clear(),
        }
    }

    /// Keeps only the items for which `keep` returns true, in their order.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        match &mut self.0 {
            Repr::Inline(item) => {
                if item.as_ref().is_some_and(|i| !keep(i)) {
                    *item = None;
                }
            }
            Repr::Heap(items) => items.retain(keep),
        }
    }

    /// Replaces the items with `items` (decoding: two or more items).
    pub(crate) fn set_heap(&mut self, items: Vec<T>) {
        self.0 = Repr::Heap(items);
    }

    /// Replaces the items with the one `item` (decoding: in place, without a `Vec`).
    #[inline(always)]
    pub(crate) fn set_one(&mut self, item: T) {
        self.0 = Repr::Inline(Some(item));
    }
}

impl<T> Default for InlineVec<T> {
    fn default() -> Self {
        InlineVec::new()
    }
}

impl<T> Deref for InlineVec<T> {
    type Target = [T];
    #[inline]
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T> DerefMut for InlineVec<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T> AsRef<[T]> for InlineVec<T> {
    fn as_ref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T> From<Vec<T>> for InlineVec<T> {
    /// Keeps the `Vec`'s buffer, unless it holds at most one item, which is moved inline.
    fn from(mut items: Vec<T>) -> Self {
        if items.len() <= 1 {
            InlineVec(Repr::Inline(items.pop()))
        } else {
            InlineVec(Repr::Heap(items))
        }
    }
}

impl<T, const N: usize> From<[T; N]> for InlineVec<T> {
    fn from(items: [T; N]) -> Self {
        items.into_iter().collect()
    }
}

impl<T: Clone> From<&[T]> for InlineVec<T> {
    fn from(items: &[T]) -> Self {
        items.iter().cloned().collect()
    }
}

impl<T> From<InlineVec<T>> for Vec<T> {
    fn from(items: InlineVec<T>) -> Self {
        items.into_vec()
    }
}

impl<T> FromIterator<T> for InlineVec<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut iter = iter.into_iter();
        let Some(first) = iter.next() else {
            return InlineVec::new();
        };
        match iter.next() {
            None => InlineVec::one(first),
            Some(second) => {
                let mut items = Vec::with_capacity(2 + iter.size_hint().0);
                items.push(first);
                items.push(second);
                items.extend(iter);
                InlineVec(Repr::Heap(items))
            }
        }
    }
}

impl<T> Extend<T> for InlineVec<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, iter: I) {
        for item in iter {
            self.push(item);
        }
    }
}

impl<T> IntoIterator for InlineVec<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter(match self.0 {
            Repr::Inline(item) => IntoIterRepr::Inline(item.into_iter()),
            Repr::Heap(items) => IntoIterRepr::Heap(items.into_iter()),
        })
    }
}

/// The items of an [`InlineVec`], by value.
pub struct IntoIter<T>(IntoIterRepr<T>);

enum IntoIterRepr<T> {
    Inline(std::option::IntoIter<T>),
    Heap(std::vec::IntoIter<T>),
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        match &mut self.0 {
            IntoIterRepr::Inline(item) => item.next(),
            IntoIterRepr::Heap(items) => items.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            IntoIterRepr::Inline(item) => item.size_hint(),
            IntoIterRepr::Heap(items) => items.size_hint(),
        }
    }
}

impl<T> DoubleEndedIterator for IntoIter<T> {
    fn next_back(&mut self) -> Option<T> {
        match &mut self.0 {
            IntoIterRepr::Inline(item) => item.next_back(),
            IntoIterRepr::Heap(items) => items.next_back(),
        }
    }
}

impl<T> ExactSizeIterator for IntoIter<T> {}

impl<'a, T> IntoIterator for &'a InlineVec<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl<'a, T> IntoIterator for &'a mut InlineVec<T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_mut_slice().iter_mut()
    }
}

impl<T: fmt::Debug> fmt::Debug for InlineVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_slice(), f)
    }
}

impl<T: PartialEq> PartialEq for InlineVec<T> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Eq> Eq for InlineVec<T> {}

impl<T: std::hash::Hash> std::hash::Hash for InlineVec<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

/// Comparisons with other sequences, item by item, as `Vec` has them.
macro_rules! eq_with {
    ($([$($generics:tt)*] $other:ty),*) => {$(
        impl<$($generics)* T: PartialEq<U>, U> PartialEq<$other> for InlineVec<T> {
            fn eq(&self, other: &$other) -> bool {
                self.as_slice() == &other[..]
            }
        }
    )*};
}

eq_with!([] Vec<U>, [] [U], ['a,] &'a [U], [const N: usize,] [U; N]);

impl<T: serde::Serialize> serde::Serialize for InlineVec<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EtpString;
    use crate::codec::{Avro, DecodeErrorKind, Reader, decode_exact, encode_to_vec, writer};
    use bytes::Bytes;

    fn long(i: usize) -> EtpString {
        EtpString::from(format!(
            "eml:///dataspace('demo')/witsml20.Well({i})/{}",
            "x".repeat(40)
        ))
    }

    #[test]
    fn behaves_like_a_vec() {
        let mut v = InlineVec::new();
        assert!(v.is_empty());
        assert_eq!(v, Vec::<i32>::new());
        for i in 0..6 {
            v.push(i);
            assert_eq!(v, (0..=i).collect::<Vec<_>>());
        }
        v.retain(|&i| i % 2 == 0);
        assert_eq!(v, [0, 2, 4]);
        assert_eq!(v.pop(), Some(4));
        v[0] = 7;
        assert_eq!(v.iter().sum::<i32>(), 9);
        assert_eq!(v.clone().into_iter().rev().collect::<Vec<_>>(), [2, 7]);
        v.clear();
        assert_eq!(v.pop(), None);
        let mut one = InlineVec::one(3);
        one.retain(|&i| i == 3);
        assert_eq!(one, [3]);
        one.retain(|&i| i != 3);
        assert!(one.is_empty());
        one.extend([1, 2, 3]);
        assert_eq!(Vec::from(one), [1, 2, 3]);
        let strings: InlineVec<EtpString> = vec!["a".into()].into();
        assert_eq!(strings, ["a"]);
        assert_eq!(strings.into_iter().len(), 1);
        assert_eq!(InlineVec::from([1]).into_vec(), [1]);
        assert_eq!(InlineVec::<i32>::with_capacity(8).len(), 0);
        assert_eq!(format!("{:?}", InlineVec::from([1, 2])), "[1, 2]");
        assert_eq!(
            serde_json::to_string(&InlineVec::from([EtpString::from("x")])).unwrap(),
            r#"["x"]"#
        );
        assert_eq!(InlineVec::<EtpString>::new(), InlineVec::from(Vec::new()));
    }

    #[test]
    fn round_trips_every_size_and_block_layout() {
        for n in 0..5 {
            let items: InlineVec<EtpString> = (0..n).map(long).collect();
            let bytes = encode_to_vec(&items);
            assert_eq!(bytes, encode_to_vec(&items.clone().into_vec()));
            assert_eq!(bytes.len(), items.encoded_len());
            let input = Bytes::from(bytes);
            let decoded = InlineVec::<EtpString>::decode(&mut Reader::from_bytes(&input)).unwrap();
            assert_eq!(decoded, items);
            let mut slot = std::mem::MaybeUninit::uninit();
            InlineVec::<EtpString>::decode_into(&mut Reader::new(&input), &mut slot).unwrap();
            // SAFETY: `decode_into` returned `Ok`.
            assert_eq!(unsafe { slot.assume_init() }, items);
        }
        // Blocks of one item each (the inline item then moves to the heap), and a block
        // with a negative count and a byte size.
        let mut bytes = Vec::new();
        for i in 0..3 {
            bytes.push(0x02);
            long(i).encode(&mut bytes);
        }
        let mut sized = Vec::new();
        long(3).encode(&mut sized);
        bytes.push(0x01);
        writer::write_long(&mut bytes, sized.len() as i64);
        bytes.extend(&sized);
        bytes.push(0);
        let decoded = decode_exact::<InlineVec<EtpString>>(&bytes).unwrap();
        assert_eq!(decoded, (0..4).map(long).collect::<Vec<_>>());
        // One item, then an empty block end.
        let decoded = decode_exact::<InlineVec<EtpString>>(&[0x02, 0x02, b'a', 0x00]).unwrap();
        assert_eq!(decoded, ["a"]);
    }

    #[test]
    fn truncated_input_fails_and_releases_what_was_decoded() {
        for n in [1, 2, 3] {
            let items: InlineVec<EtpString> = (0..n).map(long).collect();
            let mut bytes = encode_to_vec(&items);
            // A second block after a one-item first block, for the spill path.
            if n == 1 {
                bytes.pop();
                bytes.push(0x02);
                long(9).encode(&mut bytes);
                bytes.push(0);
            }
            for cut in 1..bytes.len() {
                let input = Bytes::copy_from_slice(&bytes[..cut]);
                let mut r = Reader::from_bytes(&input);
                let mut slot = std::mem::MaybeUninit::uninit();
                assert!(InlineVec::<EtpString>::decode_into(&mut r, &mut slot).is_err());
                assert!(InlineVec::<EtpString>::decode(&mut Reader::from_bytes(&input)).is_err());
                drop(r);
                assert!(input.is_unique(), "{n} items cut at {cut}: leaked");
            }
        }
        // A hostile count is rejected before allocating.
        let err = decode_exact::<InlineVec<EtpString>>(&[0x80, 0x80, 0x80, 0x80, 0x04, 0x02])
            .unwrap_err();
        assert!(
            matches!(err.kind(), DecodeErrorKind::CountExceedsInput { .. }),
            "{err}"
        );
    }
}
