//! Receiving array values straight into the caller's memory.
//!
//! A DataArray answer is mostly its values, and `double`, `float` and `bytes` values lie on
//! the wire as they lie in memory (little-endian IEEE 754, raw bytes). When an operation
//! downloads an array into a vector ([`crate::ops::get_array_vec`]), it attaches to each
//! block request a [`Placement`]: the part of the vector the block's values go to. The
//! session's reader, on the answer's first bytes, finds where the values start
//! ([`values_layout`]) and reads them from the socket straight into the placement: the
//! kernel's receive copy is the only copy. Answers laid out any other way (several Avro
//! blocks, several map entries, compressed, fragmented, a ProtocolException) arrive as
//! usual and the operation copies their values into the placement itself.
//!
//! Soundness rests on three rules, all kept inside this module: the placements of a zone
//! never overlap (each is claimed from a cursor that only moves forward, and splitting
//! one divides its range); a placement is never cloned, and its bytes are lent only
//! through `&mut self`; the zone's memory is freed, or handed back as a vector, only when
//! no placement remains (the last `Arc`).

use std::marker::PhantomData;
use std::ops::Range;
use std::ptr::NonNull;
use std::sync::Arc;

use etp_protocol::codec::Reader;
use etp_protocol::types::datatypes::AnyArrayType;

use crate::ops::arrays::SliceElement;

/// Element types that can be received in place: every bit pattern is a valid value and
/// the wire encoding is the little-endian memory layout.
pub trait PlainElement: SliceElement + Sync + private::Sealed {
    /// The value every element starts with.
    const ZERO: Self;
}

mod private {
    pub trait Sealed {}
    impl Sealed for f64 {}
    impl Sealed for f32 {}
    impl Sealed for u8 {}
}

impl PlainElement for f64 {
    const ZERO: Self = 0.0;
}

impl PlainElement for f32 {
    const ZERO: Self = 0.0;
}

impl PlainElement for u8 {
    const ZERO: Self = 0;
}

/// Whether values can land in place on this target: the wire is little-endian.
pub(crate) const LANDING_SUPPORTED: bool = cfg!(target_endian = "little");

/// The memory of a zone: a vector taken apart, so that nothing but raw pointers refers
/// to its buffer while placements write into it.
struct ZoneMemory {
    ptr: NonNull<u8>,
    bytes: usize,
    len: usize,
    capacity: usize,
    /// Rebuilds and drops the vector (monomorphised for its element type).
    free: unsafe fn(NonNull<u8>, usize, usize),
}

// SAFETY: the memory is a heap buffer owned by this value alone; it is written only
// through `Placement::bytes_mut`, whose ranges are disjoint and each held by one owner
// (see the module rules), and read only after `LandingZone::into_vec` proved no
// placement is left. Moving or sharing the owner between threads is therefore sound.
unsafe impl Send for ZoneMemory {}
// SAFETY: as above; `&ZoneMemory` exposes no access to the buffer by itself.
unsafe impl Sync for ZoneMemory {}

impl Drop for ZoneMemory {
    fn drop(&mut self) {
        // SAFETY: `free` is the `free_vec::<T>` of the `Vec<T>` these parts came from,
        // taken apart in `LandingZone::new`; this is the only place they are rebuilt (into_vec
        // forgets the `ZoneMemory` after rebuilding the vector itself).
        unsafe { (self.free)(self.ptr, self.len, self.capacity) }
    }
}

/// Rebuilds the `Vec<T>` taken apart in [`LandingZone::new`] and drops it.
///
/// # Safety
/// `ptr`, `len` and `capacity` must be the parts of a `Vec<T>` that nothing else owns.
unsafe fn free_vec<T>(ptr: NonNull<u8>, len: usize, capacity: usize) {
    // SAFETY: guaranteed by the caller.
    drop(unsafe { Vec::from_raw_parts(ptr.cast::<T>().as_ptr(), len, capacity) });
}

impl<T: PlainElement> std::fmt::Debug for LandingZone<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LandingZone")
            .field("bytes", &self.memory.bytes)
            .field("claimed", &self.claimed)
            .finish()
    }
}

/// A vector whose parts are handed out as [`Placement`]s, in order, for answers to be
/// received into; [`LandingZone::into_vec`] gives the vector back.
pub(crate) struct LandingZone<T: PlainElement> {
    memory: Arc<ZoneMemory>,
    /// Bytes claimed so far: placements are claimed from here on only.
    claimed: usize,
    element: PhantomData<T>,
}

impl<T: PlainElement> LandingZone<T> {
    /// A zone over `values` (its length is what can be claimed).
    pub(crate) fn new(values: Vec<T>) -> LandingZone<T> {
        let mut values = std::mem::ManuallyDrop::new(values);
        let (len, capacity) = (values.len(), values.capacity());
        // A Vec's pointer is never null (dangling but non-null when nothing is allocated).
        let ptr = NonNull::new(values.as_mut_ptr().cast::<u8>()).unwrap_or(NonNull::dangling());
        LandingZone {
            memory: Arc::new(ZoneMemory {
                ptr,
                bytes: len * std::mem::size_of::<T>(),
                len,
                capacity,
                free: free_vec::<T>,
            }),
            claimed: 0,
            element: PhantomData,
        }
    }

    /// The placement for `count` elements from element `start`, which must not come before
    /// the end of the previous claim; `None` when it does or when it runs past the end.
    pub(crate) fn claim(&mut self, start: u64, count: u64) -> Option<Placement> {
        let size = std::mem::size_of::<T>() as u64;
        let from = usize::try_from(start.checked_mul(size)?).ok()?;
        let to = from.checked_add(usize::try_from(count.checked_mul(size)?).ok()?)?;
        if from < self.claimed || to > self.memory.bytes {
            return None;
        }
        self.claimed = to;
        Some(Placement {
            memory: self.memory.clone(),
            range: from..to,
            transport: T::TRANSPORT,
        })
    }

    /// The vector, once no placement of it is left; the zone itself otherwise.
    pub(crate) fn into_vec(self) -> Result<Vec<T>, LandingZone<T>> {
        match Arc::try_unwrap(self.memory) {
            Ok(memory) => {
                let memory = std::mem::ManuallyDrop::new(memory);
                // SAFETY: the parts are those of the `Vec<T>` given to `new` (the zone is
                // typed by `T`); no placement is left to write into it (the `Arc` was the
                // last one, and unwrapping it synchronises with the placements' drops),
                // and `ManuallyDrop` keeps `ZoneMemory::drop` from freeing it again.
                Ok(unsafe {
                    Vec::from_raw_parts(
                        memory.ptr.cast::<T>().as_ptr(),
                        memory.len,
                        memory.capacity,
                    )
                })
            }
            Err(memory) => Err(LandingZone {
                memory,
                claimed: self.claimed,
                element: PhantomData,
            }),
        }
    }
}

/// Bytes of a [`LandingZone`] that one answer's values go to. Not clonable: whoever holds
/// it is the only one who can write there.
pub(crate) struct Placement {
    memory: Arc<ZoneMemory>,
    range: Range<usize>,
    transport: AnyArrayType,
}

impl std::fmt::Debug for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Placement")
            .field("range", &self.range)
            .field("transport", &self.transport)
            .finish()
    }
}

impl PartialEq for Placement {
    /// The same bytes of the same zone.
    fn eq(&self, other: &Placement) -> bool {
        Arc::ptr_eq(&self.memory, &other.memory) && self.range == other.range
    }
}

impl Eq for Placement {}

impl Placement {
    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.range.len()
    }

    /// The transport type of the values expected here.
    pub(crate) fn transport(&self) -> AnyArrayType {
        self.transport
    }

    /// The bytes to write the values into.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: the range lies inside the zone's buffer (checked by `claim`, kept by
        // `split_at`), which the `Arc` keeps allocated; no other placement overlaps it and
        // this one is borrowed mutably, so this is the only reference to these bytes; the
        // zone's owner reads them only after the last placement is gone (`into_vec`).
        // `u8` has no alignment or validity requirement.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.memory.ptr.as_ptr().add(self.range.start),
                self.range.len(),
            )
        }
    }

    /// Splits at `bytes` (clamped to the length): the first part and the rest.
    pub(crate) fn split_at(self, bytes: usize) -> (Placement, Placement) {
        let middle = self.range.start + bytes.min(self.range.len());
        let first = Placement {
            memory: self.memory.clone(),
            range: self.range.start..middle,
            transport: self.transport,
        };
        let rest = Placement {
            memory: self.memory,
            range: middle..self.range.end,
            transport: self.transport,
        };
        (first, rest)
    }
}

/// A placement, and where in the message it answers the values start: what the session's
/// reader needs to receive them in place.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Landing {
    /// Where the values go.
    pub placement: Placement,
    /// Offset of the values in the WebSocket message.
    pub values_at: usize,
}

/// Where the values of a DataArray answer lie in its body, when the answer is laid out
/// so that they can be received in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ValuesLayout {
    /// The map key of the one array.
    pub key: String,
    /// Its dimensions.
    pub dimensions: Vec<i64>,
    /// Its transport type (`arrayOfDouble`, `arrayOfFloat` or `bytes`).
    pub transport: AnyArrayType,
    /// Offset of the values in the body.
    pub values_at: usize,
    /// Length of the values in bytes.
    pub values_len: usize,
}

/// What follows the values of an `array<double>` or `array<float>` laid out for landing:
/// the end of the values array, then the end of the map.
const SUFFIX_ARRAY: &[u8] = &[0, 0];
/// What follows `bytes` values: the end of the map.
const SUFFIX_BYTES: &[u8] = &[0];
/// `AnyArray` union branches (see `ops::arrays::encoded`).
const BRANCH_FLOAT: usize = 3;
const BRANCH_DOUBLE: usize = 4;
const BRANCH_BYTES: usize = 6;
const ANY_ARRAY_BRANCHES: usize = 7;
/// Dimensions of an array landed in place at most (deeper ones take the usual path).
const MAX_DIMENSIONS: usize = 32;

impl ValuesLayout {
    /// The bytes that must follow the values, up to the end of the body.
    pub(crate) fn suffix(&self) -> &'static [u8] {
        if self.transport == AnyArrayType::Bytes {
            SUFFIX_BYTES
        } else {
            SUFFIX_ARRAY
        }
    }
}

/// Reads the start of a `GetDataArraysResponse` or `GetDataSubarraysResponse` body (a
/// `map<DataArray>`): `head` is its first bytes, `body_len` its whole length. Returns
/// where the values lie when the body is one map entry whose `double`, `float` or `bytes`
/// values come in one Avro block and end the body (what our server and every known
/// server send); `None` for anything else, which is then decoded as usual. Nothing past
/// `head` is trusted: lengths are checked against `body_len`.
pub(crate) fn values_layout(head: &[u8], body_len: usize) -> Option<ValuesLayout> {
    let mut r = Reader::new(head);
    // One map entry in the first block (a negative count would be followed by the
    // block's byte size, which spans the values: not worth supporting).
    if r.read_long().ok()? != 1 {
        return None;
    }
    let key = r.read_str().ok()?.to_string();
    let mut dimensions = Vec::new();
    loop {
        let n = r.read_long().ok()?;
        if n == 0 {
            break;
        }
        let n = usize::try_from(n).ok()?;
        if dimensions.len() + n > MAX_DIMENSIONS {
            return None;
        }
        for _ in 0..n {
            dimensions.push(r.read_long().ok()?);
        }
    }
    let (transport, size) = match r.read_union_index(ANY_ARRAY_BRANCHES).ok()? {
        BRANCH_DOUBLE => (AnyArrayType::ArrayOfDouble, 8),
        BRANCH_FLOAT => (AnyArrayType::ArrayOfFloat, 4),
        BRANCH_BYTES => (AnyArrayType::Bytes, 1),
        _ => return None,
    };
    // The record inside the union branch (`ArrayOfDouble { values }` and the like) and
    // `bytes` both start with a long: the item count, or the byte length.
    let count = r.read_long().ok()?;
    if count <= 0 {
        return None;
    }
    let values_len = usize::try_from(count).ok()?.checked_mul(size)?;
    let values_at = r.position();
    let layout = ValuesLayout {
        key,
        dimensions,
        transport,
        values_at,
        values_len,
    };
    let end = values_at
        .checked_add(values_len)?
        .checked_add(layout.suffix().len())?;
    (end == body_len).then_some(layout)
}

#[cfg(test)]
mod tests {
    use etp_protocol::codec::{Avro, Map};
    use etp_protocol::types::datatypes::data_array_types::DataArray;
    use etp_protocol::types::protocol::data_array::{
        GetDataArraysResponse, GetDataSubarraysResponse,
    };

    use super::*;
    use crate::ops::arrays::ArrayValues;

    fn body(entries: Vec<(&str, Vec<i64>, ArrayValues)>) -> Vec<u8> {
        let mut data_subarrays = Map::new();
        for (key, dimensions, values) in entries {
            data_subarrays.insert(
                key.to_string().into(),
                DataArray {
                    dimensions,
                    data: values.into_any_array(),
                },
            );
        }
        let mut out = Vec::new();
        GetDataSubarraysResponse { data_subarrays }.encode(&mut out);
        out
    }

    #[test]
    fn finds_the_values_of_each_plain_type_as_encoded() {
        let doubles = vec![1.5, -2.25, f64::MAX];
        let floats = vec![0.5f32, f32::MIN];
        let bytes = vec![0u8, 7, 255, 3];
        let cases: Vec<(ArrayValues, Vec<u8>)> = vec![
            (
                ArrayValues::Double(doubles.clone()),
                doubles.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            (
                ArrayValues::Float(floats.clone()),
                floats.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            (ArrayValues::Bytes(bytes.clone()), bytes.clone()),
        ];
        for (values, raw) in cases {
            let transport = values.transport_type();
            let encoded = body(vec![("values", vec![1, raw.len() as i64], values)]);
            let layout = values_layout(&encoded, encoded.len()).expect("laid out for landing");
            assert_eq!(layout.key, "values");
            assert_eq!(layout.dimensions, vec![1, raw.len() as i64]);
            assert_eq!(layout.transport, transport);
            assert_eq!(
                &encoded[layout.values_at..layout.values_at + layout.values_len],
                raw.as_slice()
            );
            assert_eq!(
                &encoded[layout.values_at + layout.values_len..],
                layout.suffix()
            );
            // Only the head is needed: the values need not have arrived.
            let head = &encoded[..layout.values_at];
            assert_eq!(values_layout(head, encoded.len()), Some(layout));
        }
    }

    #[test]
    fn the_whole_array_answer_has_the_same_layout() {
        let mut data_arrays = Map::new();
        data_arrays.insert(
            "a".to_string().into(),
            DataArray {
                dimensions: vec![3],
                data: ArrayValues::Double(vec![1.0, 2.0, 3.0]).into_any_array(),
            },
        );
        let mut encoded = Vec::new();
        GetDataArraysResponse { data_arrays }.encode(&mut encoded);
        let layout = values_layout(&encoded, encoded.len()).expect("laid out for landing");
        assert_eq!(layout.values_len, 24);
    }

    #[test]
    fn anything_else_takes_the_usual_path() {
        let two = body(vec![
            ("a", vec![1], ArrayValues::Double(vec![1.0])),
            ("b", vec![1], ArrayValues::Double(vec![2.0])),
        ]);
        assert_eq!(values_layout(&two, two.len()), None, "two entries");
        let longs = body(vec![("a", vec![2], ArrayValues::Long(vec![1, 2]))]);
        assert_eq!(values_layout(&longs, longs.len()), None, "varint values");
        let empty = body(vec![("a", vec![0], ArrayValues::Double(vec![]))]);
        assert_eq!(values_layout(&empty, empty.len()), None, "no values");
        let one = body(vec![("a", vec![2], ArrayValues::Double(vec![1.0, 2.0]))]);
        assert_eq!(values_layout(&one, one.len() + 1), None, "longer body");
        assert_eq!(values_layout(&one, one.len() - 1), None, "shorter body");
        assert_eq!(values_layout(&[], 0), None);
        // Values in two Avro blocks: 1 item, then 1 item, then the end.
        let mut split = one.clone();
        let at = values_layout(&one, one.len()).unwrap().values_at;
        split[at - 1] = 2; // count 1
        split.splice(at + 8..at + 8, [2u8]);
        assert_eq!(values_layout(&split, split.len()), None, "two value blocks");
        // A hostile count cannot overflow.
        let mut huge = one[..at - 1].to_vec();
        huge.extend_from_slice(&[0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
        assert_eq!(values_layout(&huge, usize::MAX), None);
    }

    proptest::proptest! {
        /// Any bytes: no panic, and whatever is accepted lies inside the body.
        #[test]
        fn hostile_heads_are_refused_or_consistent(
            head in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            extra in 0usize..1 << 20,
        ) {
            let body_len = head.len() + extra;
            if let Some(layout) = values_layout(&head, body_len) {
                proptest::prop_assert!(layout.values_at <= head.len());
                proptest::prop_assert_eq!(
                    layout.values_at + layout.values_len + layout.suffix().len(),
                    body_len
                );
                proptest::prop_assert!(layout.values_len > 0);
            }
        }

        /// Valid answers with bytes changed and cut short: no panic, and whatever is
        /// accepted lies inside the body.
        #[test]
        fn damaged_answers_are_refused_or_consistent(
            changes in proptest::collection::vec((0usize..64, proptest::prelude::any::<u8>()), 1..4),
            cut in 0usize..80,
            extra in 0usize..64,
        ) {
            let mut encoded = body(vec![(
                "path/to/values",
                vec![2, 3],
                ArrayValues::Double(vec![1.5; 6]),
            )]);
            for (at, byte) in changes {
                let at = at % encoded.len();
                encoded[at] = byte;
            }
            let head = &encoded[..cut.min(encoded.len())];
            let body_len = encoded.len() + extra;
            if let Some(layout) = values_layout(head, body_len) {
                proptest::prop_assert!(layout.values_at <= head.len());
                proptest::prop_assert_eq!(
                    layout.values_at + layout.values_len + layout.suffix().len(),
                    body_len
                );
            }
        }

        /// Real answers of one plain array: found, and the range holds exactly the values.
        #[test]
        fn encoded_answers_are_found_exactly(
            doubles in proptest::collection::vec(proptest::prelude::any::<f64>(), 1..300),
            key in "[a-zA-Z0-9/_]{0,40}",
            extra_dims in proptest::collection::vec(1i64..4, 0..3),
        ) {
            let raw: Vec<u8> = doubles.iter().flat_map(|v| v.to_le_bytes()).collect();
            let mut dimensions = vec![doubles.len() as i64];
            dimensions.extend(extra_dims);
            let encoded = body(vec![(&key, dimensions.clone(), ArrayValues::Double(doubles))]);
            let layout = values_layout(&encoded, encoded.len());
            proptest::prop_assert!(layout.is_some());
            let layout = layout.unwrap_or_else(|| unreachable!());
            proptest::prop_assert_eq!(&layout.key, &key);
            proptest::prop_assert_eq!(&layout.dimensions, &dimensions);
            proptest::prop_assert_eq!(
                &encoded[layout.values_at..layout.values_at + layout.values_len],
                raw.as_slice()
            );
        }
    }

    #[test]
    fn placements_are_disjoint_and_the_vector_comes_back_filled() {
        let mut zone = LandingZone::new(vec![0f64; 10]);
        let mut first = zone.claim(0, 4).expect("first block");
        assert!(zone.claim(2, 2).is_none(), "overlaps the first");
        let second = zone.claim(4, 6).expect("second block");
        assert!(zone.claim(10, 1).is_none(), "past the end");
        assert_eq!((first.len(), second.len()), (32, 48));
        let (mut head, mut tail) = second.split_at(16);
        for (i, b) in first.bytes_mut().chunks_exact_mut(8).enumerate() {
            b.copy_from_slice(&(i as f64).to_le_bytes());
        }
        head.bytes_mut()
            .copy_from_slice(&[4f64, 5.0].map(f64::to_le_bytes).concat());
        let Err(zone) = zone.into_vec() else {
            panic!("placements are still out");
        };
        tail.bytes_mut()
            .copy_from_slice(&[6f64, 7.0, 8.0, 9.0].map(f64::to_le_bytes).concat());
        drop((first, head, tail));
        let values = zone.into_vec().expect("no placement left");
        assert_eq!(values, (0..10).map(|i| i as f64).collect::<Vec<_>>());
    }

    #[test]
    fn a_zone_dropped_with_placements_out_frees_once_they_are_gone() {
        let mut zone = LandingZone::new(vec![0u8; 1 << 20]);
        let mut placement = zone.claim(0, 1 << 20).unwrap();
        drop(zone);
        placement.bytes_mut().fill(7);
        drop(placement);
    }
}
