//! [`Map`]: the Rust type of every Avro `map<V>` in the generated ETP types.
//!
//! ETP maps are almost always small: a `Resource`'s `customData` has a handful of entries,
//! a request's map of URIs a few dozen. `IndexMap` with SipHash cost a third of decoding a
//! `Resource`: hashing each key, two allocations (entries and hash table) and the table's
//! bookkeeping. This map is a vector of entries in insertion order, looked up by comparing
//! keys, which for a few entries costs less than hashing one of them. Only once a map
//! grows past [`INDEX_THRESHOLD`] entries does it build a hash index beside the vector,
//! keyed with the standard library's randomly seeded SipHash ([`RandomState`]), so that a
//! peer cannot make lookups or inserts degrade with colliding keys (HashDoS): decoding or
//! building a map of `n` entries takes time linear in `n` whatever the keys.
//!
//! Semantics, which the codec and its tests rely on:
//!
//! - iteration is in insertion order, so a decoded map re-encodes to the same bytes;
//! - inserting a key that is already present replaces its value **in place**: the entry
//!   keeps its position and its original key, and the old value is returned. On decode,
//!   a key that repeats therefore replaces the earlier value at the earlier position;
//! - removal keeps the order of the other entries;
//! - equality ignores order (two maps are equal if they have the same keys with equal
//!   values), as `IndexMap`'s did and as maps decoded from other encoders need;
//! - it serializes (serde) as a map in insertion order and prints like one.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::iter::FusedIterator;
use std::ops::{Index, IndexMut};

use std::mem::MaybeUninit;

use hashbrown::HashTable;

use super::{Avro, DecodeError, Reader, prealloc_items, reserve_items};
use crate::EtpString;

/// Number of entries up to which lookups scan the entries; a map that grows past it gets a
/// hash index. Below this size a scan comparing keys (lengths first, then bytes) is cheaper
/// than hashing the key looked up; the bound keeps the worst case of building a map by
/// inserts at `INDEX_THRESHOLD / 2` key comparisons per insert.
pub const INDEX_THRESHOLD: usize = 12;

/// An ordered map from [`EtpString`] keys to `V`, small and hash-free until it grows past
/// [`INDEX_THRESHOLD`] entries (see the [module documentation](self)).
pub struct Map<V> {
    entries: Vec<(EtpString, V)>,
    /// Positions in `entries`, hashed by their key; present once the map has held more
    /// than `INDEX_THRESHOLD` entries (and kept after that, even if it shrinks).
    index: Option<Box<HashIndex>>,
}

/// The hash index of a large map: positions of `entries`, hashed by key.
struct HashIndex {
    table: HashTable<usize>,
    hasher: RandomState,
}

impl HashIndex {
    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// An index of `entries`, with room for `additional` more.
    fn build<V>(entries: &[(EtpString, V)], additional: usize) -> Self {
        let hasher = RandomState::new();
        let mut table = HashTable::with_capacity(entries.len().saturating_add(additional));
        for (position, (key, _)) in entries.iter().enumerate() {
            table.insert_unique(hasher.hash_one(key.as_str()), position, |&i| {
                rehash(&hasher, entries, i)
            });
        }
        HashIndex { table, hasher }
    }
}

/// The hash of the key at `position`, for the table to move entries when it grows.
#[inline]
fn rehash<V>(hasher: &RandomState, entries: &[(EtpString, V)], position: usize) -> u64 {
    // The table only holds positions of `entries` (every mutation keeps them in step).
    hasher.hash_one(entries[position].0.as_str())
}

impl<V> Map<V> {
    /// An empty map (no allocation).
    pub const fn new() -> Self {
        Map {
            entries: Vec::new(),
            index: None,
        }
    }

    /// An empty map with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut map = Map::new();
        map.reserve(capacity);
        map
    }

    /// Number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map has no entries.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of entries the map can hold without reallocating its entries.
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Makes room for `additional` more entries.
    pub fn reserve(&mut self, additional: usize) {
        reserve_items(&mut self.entries, additional);
        let wanted = self.entries.len().saturating_add(additional);
        match &mut self.index {
            Some(index) => {
                let entries = &self.entries;
                let hasher = &index.hasher;
                index
                    .table
                    .reserve(additional, |&i| rehash(hasher, entries, i));
            }
            None if wanted > INDEX_THRESHOLD => {
                self.index = Some(Box::new(HashIndex::build(&self.entries, additional)));
            }
            None => {}
        }
    }

    /// Removes every entry, keeping the allocations.
    pub fn clear(&mut self) {
        self.entries.clear();
        if let Some(index) = &mut self.index {
            index.table.clear();
        }
    }

    /// Position of `key` in the entries.
    #[inline]
    pub fn get_index_of(&self, key: &str) -> Option<usize> {
        match &self.index {
            None => self.entries.iter().position(|(k, _)| k.as_str() == key),
            Some(index) => index
                .table
                .find(index.hash(key), |&i| self.entries[i].0.as_str() == key)
                .copied(),
        }
    }

    /// The value of `key`.
    #[inline]
    pub fn get(&self, key: &str) -> Option<&V> {
        let position = self.get_index_of(key)?;
        Some(&self.entries[position].1)
    }

    /// The stored key and the value of `key`.
    pub fn get_key_value(&self, key: &str) -> Option<(&EtpString, &V)> {
        let position = self.get_index_of(key)?;
        let (k, v) = &self.entries[position];
        Some((k, v))
    }

    /// The value of `key`, mutably.
    #[inline]
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let position = self.get_index_of(key)?;
        Some(&mut self.entries[position].1)
    }

    /// Whether `key` has an entry.
    #[inline]
    pub fn contains_key(&self, key: &str) -> bool {
        self.get_index_of(key).is_some()
    }

    /// The entry at `position` in insertion order.
    pub fn get_index(&self, position: usize) -> Option<(&EtpString, &V)> {
        self.entries.get(position).map(|(k, v)| (k, v))
    }

    /// The first entry in insertion order.
    pub fn first(&self) -> Option<(&EtpString, &V)> {
        self.get_index(0)
    }

    /// The last entry in insertion order.
    pub fn last(&self) -> Option<(&EtpString, &V)> {
        self.entries.last().map(|(k, v)| (k, v))
    }

    /// Inserts `value` under `key`. If the key is present, its value is replaced in place
    /// (the entry keeps its position and its key) and the old value is returned;
    /// otherwise the entry is appended.
    #[inline]
    pub fn insert(&mut self, key: EtpString, value: V) -> Option<V> {
        match self.get_index_of(&key) {
            Some(position) => Some(std::mem::replace(&mut self.entries[position].1, value)),
            None => {
                self.push_new(key, value);
                None
            }
        }
    }

    /// Appends an entry whose key is known to be absent.
    #[inline]
    fn push_new(&mut self, key: EtpString, value: V) {
        self.entries.push((key, value));
        self.index_last_entry();
    }

    /// Removes `key` and returns its value, keeping the order of the other entries
    /// (O(n), like `Vec::remove`).
    pub fn shift_remove(&mut self, key: &str) -> Option<V> {
        self.shift_remove_entry(key).map(|(_, v)| v)
    }

    /// Removes `key` and returns its entry, keeping the order of the other entries.
    pub fn shift_remove_entry(&mut self, key: &str) -> Option<(EtpString, V)> {
        let position = self.get_index_of(key)?;
        if let Some(index) = &mut self.index {
            let hash = index.hash(key);
            if let Ok(found) = index.table.find_entry(hash, |&i| i == position) {
                found.remove();
            }
            for i in index.table.iter_mut() {
                if *i > position {
                    *i -= 1;
                }
            }
        }
        Some(self.entries.remove(position))
    }

    /// Removes `key` and returns its value in O(1): the last entry takes its place.
    pub fn swap_remove(&mut self, key: &str) -> Option<V> {
        self.swap_remove_entry(key).map(|(_, v)| v)
    }

    /// Removes `key` and returns its entry in O(1): the last entry takes its place.
    pub fn swap_remove_entry(&mut self, key: &str) -> Option<(EtpString, V)> {
        let position = self.get_index_of(key)?;
        let last = self.entries.len() - 1;
        if let Some(index) = &mut self.index {
            if let Ok(found) = index.table.find_entry(index.hash(key), |&i| i == position) {
                found.remove();
            }
            if position != last {
                let moved = index.hash(&self.entries[last].0);
                if let Some(i) = index.table.find_mut(moved, |&i| i == last) {
                    *i = position;
                }
            }
        }
        Some(self.entries.swap_remove(position))
    }

    /// Removes `key` and returns its value, keeping the order of the other entries (the
    /// same as [`Map::shift_remove`]).
    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.shift_remove(key)
    }

    /// Keeps only the entries for which `keep` returns true, in their order.
    pub fn retain(&mut self, mut keep: impl FnMut(&EtpString, &mut V) -> bool) {
        let before = self.entries.len();
        self.entries.retain_mut(|(k, v)| keep(k, v));
        if self.entries.len() != before {
            self.rebuild_index();
        }
    }

    /// Sorts the entries by key.
    pub fn sort_keys(&mut self) {
        self.entries.sort_by(|(a, _), (b, _)| a.cmp(b));
        self.rebuild_index();
    }

    /// Sorts the entries with `compare`.
    pub fn sort_by(
        &mut self,
        mut compare: impl FnMut(&EtpString, &V, &EtpString, &V) -> std::cmp::Ordering,
    ) {
        self.entries
            .sort_by(|(ka, va), (kb, vb)| compare(ka, va, kb, vb));
        self.rebuild_index();
    }

    fn rebuild_index(&mut self) {
        if self.index.is_some() {
            self.index = Some(Box::new(HashIndex::build(&self.entries, 0)));
        }
    }

    /// Removes all entries and returns them in order.
    pub fn drain(&mut self) -> std::vec::Drain<'_, (EtpString, V)> {
        if let Some(index) = &mut self.index {
            index.table.clear();
        }
        self.entries.drain(..)
    }

    /// The entries in insertion order.
    pub fn iter(&self) -> Iter<'_, V> {
        Iter(self.entries.iter())
    }

    /// The entries in insertion order, values mutable.
    pub fn iter_mut(&mut self) -> IterMut<'_, V> {
        IterMut(self.entries.iter_mut())
    }

    /// The keys in insertion order.
    pub fn keys(&self) -> Keys<'_, V> {
        Keys(self.entries.iter())
    }

    /// The values in insertion order.
    pub fn values(&self) -> Values<'_, V> {
        Values(self.entries.iter())
    }

    /// The values in insertion order, mutable.
    pub fn values_mut(&mut self) -> ValuesMut<'_, V> {
        ValuesMut(self.entries.iter_mut())
    }

    /// The keys in insertion order, by value.
    pub fn into_keys(self) -> impl DoubleEndedIterator<Item = EtpString> + ExactSizeIterator {
        self.entries.into_iter().map(|(k, _)| k)
    }

    /// The values in insertion order, by value.
    pub fn into_values(self) -> impl DoubleEndedIterator<Item = V> + ExactSizeIterator {
        self.entries.into_iter().map(|(_, v)| v)
    }
}

impl<V: Avro> Map<V> {
    /// Decodes `count` entries (key, then value) of a map block, each straight into the
    /// first spare slot of the entries rather than into a temporary that is then moved
    /// (see [`Avro::decode_into`]). A key that is already present replaces the earlier
    /// value in place, as [`Map::insert`] does.
    pub(crate) fn decode_entries(
        &mut self,
        r: &mut Reader<'_>,
        count: usize,
    ) -> Result<(), DecodeError> {
        self.reserve(prealloc_items::<(EtpString, V)>(count, r.remaining()));
        for _ in 0..count {
            // A no-op unless the reservation above was capped by the input size.
            self.entries.reserve(1);
            let len = self.entries.len();
            // `reserve(1)` guarantees one slot of spare capacity, so index 0 exists.
            let entry = self.entries.spare_capacity_mut()[0].as_mut_ptr();
            // SAFETY: `entry` points to the spare slot, valid for writes and not aliased;
            // the two references are to its (disjoint) fields, as uninitialised memory.
            let (key, value) = unsafe {
                (
                    &mut *(&raw mut (*entry).0).cast::<MaybeUninit<EtpString>>(),
                    &mut *(&raw mut (*entry).1).cast::<MaybeUninit<V>>(),
                )
            };
            r.read_str_into(key)?;
            if let Err(e) = V::decode_into(r, value) {
                // SAFETY: the key was written just above; the slot is not exposed.
                unsafe { key.assume_init_drop() };
                return Err(e.in_field("<value>"));
            }
            // SAFETY: both fields were written above.
            let key = unsafe { key.assume_init_ref() };
            match self.get_index_of(key) {
                None => {
                    // SAFETY: the slot at `len`, within the capacity, is fully initialised.
                    unsafe { self.entries.set_len(len + 1) };
                    self.index_last_entry();
                }
                Some(position) => {
                    // SAFETY: initialised above, and read out exactly once: the slot stays
                    // spare, so it is neither dropped nor exposed again.
                    let (_, value) =
                        unsafe { self.entries.spare_capacity_mut()[0].assume_init_read() };
                    self.entries[position].1 = value;
                }
            }
        }
        Ok(())
    }
}

impl<V> Map<V> {
    /// Adds the last entry, just appended to `entries` and known to have a new key, to the
    /// hash index, or builds the index if the map has just outgrown the threshold.
    #[inline]
    fn index_last_entry(&mut self) {
        let position = self.entries.len() - 1;
        match &mut self.index {
            Some(index) => {
                let entries = &self.entries;
                let hasher = &index.hasher;
                let hash = hasher.hash_one(entries[position].0.as_str());
                index
                    .table
                    .insert_unique(hash, position, |&i| rehash(hasher, entries, i));
            }
            None if self.entries.len() > INDEX_THRESHOLD => {
                self.index = Some(Box::new(HashIndex::build(&self.entries, 0)));
            }
            None => {}
        }
    }
}

impl<V> Default for Map<V> {
    fn default() -> Self {
        Map::new()
    }
}

impl<V: Clone> Clone for Map<V> {
    fn clone(&self) -> Self {
        // A fresh index (and hash key) for the copy: cheaper than cloning the table with a
        // shared key, and no two maps need to agree on hashes.
        let entries = self.entries.clone();
        let index = self
            .index
            .as_ref()
            .map(|_| Box::new(HashIndex::build(&entries, 0)));
        Map { entries, index }
    }
}

impl<V: fmt::Debug> fmt::Debug for Map<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Equal when both have the same keys with equal values, in any order.
impl<V: PartialEq> PartialEq for Map<V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl<V: Eq> Eq for Map<V> {}

/// `map["key"]`, for code that knows the key is present (tests, mostly): like the
/// standard maps, it panics if the key is absent, so it is never used on peer input.
impl<V> Index<&str> for Map<V> {
    type Output = V;
    fn index(&self, key: &str) -> &V {
        match self.get(key) {
            Some(value) => value,
            None => panic!("no entry for key {key:?} in the map"),
        }
    }
}

/// `map["key"] = value` on a present key; panics if the key is absent.
impl<V> IndexMut<&str> for Map<V> {
    fn index_mut(&mut self, key: &str) -> &mut V {
        match self.get_mut(key) {
            Some(value) => value,
            None => panic!("no entry for key {key:?} in the map"),
        }
    }
}

impl<V> Extend<(EtpString, V)> for Map<V> {
    fn extend<I: IntoIterator<Item = (EtpString, V)>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.reserve(iter.size_hint().0);
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<V> FromIterator<(EtpString, V)> for Map<V> {
    fn from_iter<I: IntoIterator<Item = (EtpString, V)>>(iter: I) -> Self {
        let mut map = Map::new();
        map.extend(iter);
        map
    }
}

impl<V, const N: usize> From<[(EtpString, V); N]> for Map<V> {
    fn from(entries: [(EtpString, V); N]) -> Self {
        Map::from_iter(entries)
    }
}

impl<V> IntoIterator for Map<V> {
    type Item = (EtpString, V);
    type IntoIter = std::vec::IntoIter<(EtpString, V)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a, V> IntoIterator for &'a Map<V> {
    type Item = (&'a EtpString, &'a V);
    type IntoIter = Iter<'a, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, V> IntoIterator for &'a mut Map<V> {
    type Item = (&'a EtpString, &'a mut V);
    type IntoIter = IterMut<'a, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl<V: serde::Serialize> serde::Serialize for Map<V> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

/// Defines an iterator over `std::slice::$inner` of the entries, mapping each entry with
/// `$map`.
macro_rules! entry_iterator {
    ($(#[$doc:meta])* $name:ident, $inner:ident, $item:ty, |$entry:pat_param| $map:expr) => {
        $(#[$doc])*
        pub struct $name<'a, V>(std::slice::$inner<'a, (EtpString, V)>);

        impl<'a, V> Iterator for $name<'a, V> {
            type Item = $item;
            #[inline]
            fn next(&mut self) -> Option<Self::Item> {
                self.0.next().map(|$entry| $map)
            }
            #[inline]
            fn size_hint(&self) -> (usize, Option<usize>) {
                self.0.size_hint()
            }
        }

        impl<V> DoubleEndedIterator for $name<'_, V> {
            #[inline]
            fn next_back(&mut self) -> Option<Self::Item> {
                self.0.next_back().map(|$entry| $map)
            }
        }

        impl<V> ExactSizeIterator for $name<'_, V> {}
        impl<V> FusedIterator for $name<'_, V> {}
    };
}

entry_iterator!(
    /// The entries of a [`Map`] in insertion order.
    Iter, Iter, (&'a EtpString, &'a V), |(k, v)| (k, v)
);
entry_iterator!(
    /// The entries of a [`Map`] in insertion order, values mutable.
    IterMut, IterMut, (&'a EtpString, &'a mut V), |(k, v)| (&*k, v)
);
entry_iterator!(
    /// The keys of a [`Map`] in insertion order.
    Keys, Iter, &'a EtpString, |(k, _)| k
);
entry_iterator!(
    /// The values of a [`Map`] in insertion order.
    Values, Iter, &'a V, |(_, v)| v
);
entry_iterator!(
    /// The values of a [`Map`] in insertion order, mutable.
    ValuesMut, IterMut, &'a mut V, |(_, v)| v
);

impl<V> Clone for Iter<'_, V> {
    fn clone(&self) -> Self {
        Iter(self.0.clone())
    }
}

impl<V> Clone for Keys<'_, V> {
    fn clone(&self) -> Self {
        Keys(self.0.clone())
    }
}

impl<V> Clone for Values<'_, V> {
    fn clone(&self) -> Self {
        Values(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> EtpString {
        EtpString::from(format!("key{i}"))
    }

    /// Maps of every size around the threshold, built by inserts.
    fn sizes() -> impl Iterator<Item = usize> {
        [
            0,
            1,
            2,
            INDEX_THRESHOLD - 1,
            INDEX_THRESHOLD,
            INDEX_THRESHOLD + 1,
            100,
        ]
        .into_iter()
    }

    #[test]
    fn lookups_agree_below_and_above_the_threshold() {
        for n in sizes() {
            let map: Map<usize> = (0..n).map(|i| (key(i), i)).collect();
            assert_eq!(map.len(), n);
            assert_eq!(map.index.is_some(), n > INDEX_THRESHOLD, "{n}");
            for i in 0..n {
                assert_eq!(map.get(&key(i)), Some(&i));
                assert_eq!(map.get_index_of(&format!("key{i}")), Some(i));
                assert_eq!(map[key(i).as_str()], i);
            }
            assert_eq!(map.get("absent"), None);
            assert!(!map.contains_key("key"));
            assert!(
                map.keys()
                    .map(|k| k.as_str())
                    .eq((0..n).map(|i| format!("key{i}")))
            );
            assert!(map.values().copied().eq(0..n));
        }
    }

    #[test]
    fn repeated_key_replaces_in_place() {
        for n in sizes().filter(|&n| n > 1) {
            let mut map: Map<usize> = (0..n).map(|i| (key(i), i)).collect();
            assert_eq!(map.insert(key(1), 1000), Some(1));
            assert_eq!(map.len(), n);
            assert_eq!(map.get_index(1), Some((&key(1), &1000)));
            assert_eq!(map.get("key1"), Some(&1000));
            *map.get_mut("key0").unwrap() += 7;
            assert_eq!(map.first(), Some((&key(0), &7)));
        }
    }

    #[test]
    fn removal_keeps_order_and_lookups() {
        for n in sizes().filter(|&n| n > 2) {
            let mut map: Map<usize> = (0..n).map(|i| (key(i), i)).collect();
            assert_eq!(map.shift_remove("key1"), Some(1));
            assert_eq!(map.remove("key1"), None);
            assert_eq!(map.len(), n - 1);
            let expected: Vec<usize> = (0..n).filter(|&i| i != 1).collect();
            assert!(map.values().copied().eq(expected.iter().copied()));
            for &i in &expected {
                assert_eq!(map.get(&key(i)), Some(&i), "{n} {i}");
            }
            map.insert(key(1), 1);
            assert_eq!(map.last(), Some((&key(1), &1)));
            assert_eq!(map.swap_remove("key0"), Some(0));
            assert_eq!(map.get_index(0), Some((&key(1), &1)));
            assert_eq!(map.swap_remove("key1"), Some(1));
            assert_eq!(map.swap_remove("key1"), None);
            for i in 2..n {
                assert_eq!(map.get(&key(i)), Some(&i), "{n} {i}");
            }
            map.insert(key(0), 0);
            map.retain(|_, v| *v % 2 == 0);
            assert!(map.values().all(|v| v % 2 == 0));
            for i in (0..n).step_by(2) {
                assert_eq!(map.get(&key(i)), Some(&i));
            }
            map.sort_keys();
            assert!(map.keys().is_sorted());
            for i in (0..n).step_by(2) {
                assert_eq!(map.get(&key(i)), Some(&i));
            }
            map.clear();
            assert!(map.is_empty() && map.get("key0").is_none());
            map.insert(key(3), 3);
            assert_eq!(map.get("key3"), Some(&3));
        }
    }

    #[test]
    fn equality_ignores_order() {
        for n in sizes() {
            let forward: Map<usize> = (0..n).map(|i| (key(i), i)).collect();
            let backward: Map<usize> = (0..n).rev().map(|i| (key(i), i)).collect();
            assert_eq!(forward, backward);
            assert_eq!(forward.clone(), forward);
            if n > 0 {
                let mut other = forward.clone();
                other.insert(key(0), 99);
                assert_ne!(forward, other);
                let mut shorter = forward.clone();
                shorter.shift_remove("key0");
                assert_ne!(forward, shorter);
                shorter.insert(key(n), 0);
                assert_ne!(forward, shorter);
            }
        }
    }

    #[test]
    fn iterators_serde_and_debug() {
        let mut map: Map<i32> = Map::from([("b".into(), 2), ("a".into(), 1)]);
        for (_, v) in &mut map {
            *v *= 10;
        }
        for v in map.values_mut() {
            *v += 1;
        }
        assert_eq!(format!("{map:?}"), r#"{"b": 21, "a": 11}"#);
        assert_eq!(serde_json::to_string(&map).unwrap(), r#"{"b":21,"a":11}"#);
        let owned: Vec<(EtpString, i32)> = map.clone().into_iter().collect();
        assert_eq!(owned, [("b".into(), 21), ("a".into(), 11)]);
        assert_eq!(map.iter().rev().len(), 2);
        assert!(map.clone().into_keys().eq(["b", "a"]));
        assert!(map.into_values().eq([21, 11]));
    }

    #[test]
    fn a_million_inserts_are_not_quadratic() {
        // Quadratic work would be 10^12 key comparisons here: this test would not end.
        let n = 1_000_000;
        let map: Map<u32> = (0..n)
            .map(|i| (EtpString::from(format!("{i}")), i))
            .collect();
        assert_eq!(map.len(), n as usize);
        assert_eq!(map.get("999999"), Some(&999_999));
    }

    /// The Avro encoding of a map block by block, each block a list of (key, value).
    fn encode_blocks(blocks: &[Vec<(String, i64)>]) -> Vec<u8> {
        let mut out = Vec::new();
        for block in blocks {
            crate::codec::writer::write_long(&mut out, block.len() as i64);
            for (k, v) in block {
                crate::codec::Avro::encode(&EtpString::from(k.as_str()), &mut out);
                crate::codec::writer::write_long(&mut out, *v);
            }
        }
        out.push(0);
        out
    }

    #[test]
    fn a_value_that_fails_to_decode_leaves_the_decoded_entries_intact() {
        use crate::codec::{DecodeErrorKind, decode_exact, encode_to_vec};
        // Long keys and values are shared slices, so a leak or a double drop of the
        // half-decoded entry would show under Miri or a leak checker; the error names the
        // map value, and every value decoded before it is dropped with the map.
        let long = |i: usize| EtpString::from(format!("{i}-{}", "x".repeat(60)));
        let map: Map<EtpString> = (0..INDEX_THRESHOLD + 3)
            .map(|i| (long(i), long(i)))
            .collect();
        let bytes = encode_to_vec(&map);
        assert_eq!(decode_exact::<Map<EtpString>>(&bytes).unwrap(), map);
        // Cut inside the last value: its key is decoded, its value is not.
        let cut = &bytes[..bytes.len() - 10];
        let err = decode_exact::<Map<EtpString>>(cut).unwrap_err();
        assert!(
            matches!(err.kind(), DecodeErrorKind::LengthExceedsInput { .. }),
            "{err}"
        );
        assert_eq!(err.field_path(), "<value>");
    }

    #[test]
    fn decoded_repeated_key_replaces_the_earlier_value_in_its_position() {
        use crate::codec::decode_exact;
        // Across blocks and within one, below and above the index threshold.
        for n in [3, INDEX_THRESHOLD + 5] {
            let first: Vec<(String, i64)> = (0..n).map(|i| (format!("k{i}"), i as i64)).collect();
            let second = vec![
                ("k1".to_owned(), -1),
                ("new".to_owned(), 7),
                ("k1".to_owned(), -2),
            ];
            let map: Map<i64> = decode_exact(&encode_blocks(&[first, second])).unwrap();
            assert_eq!(map.len(), n + 1);
            assert_eq!(map.get_index(1), Some((&EtpString::from("k1"), &-2)));
            assert_eq!(map.last(), Some((&EtpString::from("new"), &7)));
            // Re-encoding writes each key once, in first-seen order.
            let again: Map<i64> = decode_exact(&crate::codec::encode_to_vec(&map)).unwrap();
            assert!(again.iter().eq(map.iter()));
        }
    }

    #[test]
    fn a_decoded_million_entry_map_uses_the_index() {
        use crate::codec::decode_exact;
        let n = 1_000_000;
        let entries: Vec<(String, i64)> = (0..n).map(|i| (format!("{i:x}"), i)).collect();
        let bytes = encode_blocks(&[entries]);
        let map: Map<i64> = decode_exact(&bytes).unwrap();
        assert_eq!(map.len(), n as usize);
        assert!(map.index.is_some());
        assert_eq!(map.get("f423f"), Some(&999_999));
        assert_eq!(crate::codec::encode_to_vec(&map), bytes);
        // All keys the same: a million replacements of one entry.
        let same: Vec<(String, i64)> = (0..n).map(|i| ("k".to_owned(), i)).collect();
        let map: Map<i64> = decode_exact(&encode_blocks(&[same])).unwrap();
        assert_eq!(map.len(), 1);
        assert_eq!(map.get("k"), Some(&(n - 1)));
    }

    mod model {
        use super::*;
        use crate::codec::{decode_exact, encode_to_vec};
        use proptest::prelude::*;

        /// Operations on a map, keys from a small set so that they repeat.
        #[derive(Debug, Clone)]
        enum Op {
            Insert(u8, i64),
            ShiftRemove(u8),
            SwapRemove(u8),
        }

        fn ops() -> impl Strategy<Value = Vec<Op>> {
            let op = prop_oneof![
                6 => (0u8..40, any::<i64>()).prop_map(|(k, v)| Op::Insert(k, v)),
                1 => (0u8..40).prop_map(Op::ShiftRemove),
                1 => (0u8..40).prop_map(Op::SwapRemove),
            ];
            proptest::collection::vec(op, 0..120)
        }

        fn name(k: u8) -> String {
            // Keys of several lengths, some sharing prefixes.
            format!("key-{}", "x".repeat(usize::from(k % 5))) + &k.to_string()
        }

        proptest! {
            /// The map behaves like a vector of entries searched linearly (the obvious
            /// model), whatever the size, and round-trips through the codec.
            #[test]
            fn behaves_like_a_vector_of_entries(ops in ops()) {
                let mut map = Map::new();
                let mut model: Vec<(String, i64)> = Vec::new();
                for op in ops {
                    match op {
                        Op::Insert(k, v) => {
                            let old = map.insert(EtpString::from(name(k)), v);
                            let found = model.iter_mut().find(|(mk, _)| *mk == name(k));
                            let expected = match found {
                                Some((_, mv)) => Some(std::mem::replace(mv, v)),
                                None => {
                                    model.push((name(k), v));
                                    None
                                }
                            };
                            prop_assert_eq!(old, expected);
                        }
                        Op::ShiftRemove(k) => {
                            let position = model.iter().position(|(mk, _)| *mk == name(k));
                            let expected = position.map(|p| model.remove(p).1);
                            prop_assert_eq!(map.shift_remove(&name(k)), expected);
                        }
                        Op::SwapRemove(k) => {
                            let position = model.iter().position(|(mk, _)| *mk == name(k));
                            let expected = position.map(|p| model.swap_remove(p).1);
                            prop_assert_eq!(map.swap_remove(&name(k)), expected);
                        }
                    }
                    prop_assert!(map.iter().map(|(k, v)| (k.as_str(), *v))
                        .eq(model.iter().map(|(k, v)| (k.as_str(), *v))));
                }
                for k in 0..40 {
                    let expected = model.iter().find(|(mk, _)| *mk == name(k)).map(|(_, v)| v);
                    prop_assert_eq!(map.get(&name(k)), expected);
                }
                let bytes = encode_to_vec(&map);
                prop_assert_eq!(bytes.len(), crate::codec::Avro::encoded_len(&map));
                let decoded: Map<i64> = decode_exact(&bytes).unwrap();
                prop_assert!(decoded.iter().eq(map.iter()));
                let mut reversed = model.clone();
                reversed.reverse();
                let reversed: Map<i64> =
                    reversed.into_iter().map(|(k, v)| (EtpString::from(k), v)).collect();
                prop_assert_eq!(&reversed, &map);
                prop_assert_eq!(&decoded, &map);
            }
        }
    }
}
