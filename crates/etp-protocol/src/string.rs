//! [`EtpString`]: the string type of every Avro `string` in the generated ETP types.
//!
//! Decoding a `GetResourcesResponse` with `String` fields and map keys made eleven heap
//! allocations per `Resource`, most of them strings, and allocation was the largest cost of
//! decoding. An `EtpString` needs none:
//!
//! - a string of at most [`INLINE_CAPACITY`] bytes (map keys, names, qualified types,
//!   formats, most values) is stored inline, copied out of the input;
//! - a longer one (URIs, long titles) decoded through
//!   [`Reader::from_bytes`](crate::codec::Reader::from_bytes) points into the received
//!   buffer, which it keeps alive through a reference count shared by all the strings
//!   decoded from that buffer (see below); built otherwise, it is a [`Bytes`].
//!
//! Short strings are not shared slices as well because a shared string costs atomic
//! read-modify-writes on a counter; for a few bytes, copying them is cheaper, and they do
//! not keep the received buffer alive.
//!
//! A long string decoded from a buffer does not hold a `Bytes` slice of it: cloning a
//! `Bytes` is an indirect call and an atomic increment of the buffer's counter, dropping it
//! another call and an atomic decrement, and these were 15–18 % of the decode of a
//! `Resource` (two URIs) in the profile. Instead the reader puts the buffer in one
//! [`Owner`] per message, takes references to it from the owner's counter in batches (one
//! atomic add per [`OWNER_BATCH`] strings) and hands one to each long string; dropping the
//! string is one inlined atomic decrement.
//!
//! It behaves like an immutable `String`: it dereferences to `str`, compares, orders and
//! hashes exactly like `str` (so a `Map` keyed by it is looked up with a `&str`), prints and
//! serializes as a string. It is built from `String` (no copy of long text), `&str`, or a
//! `&'static str` with [`EtpString::from_static`] (no allocation). Cloning never copies
//! long text.
//!
//! A long string decoded from a shared buffer keeps that whole buffer alive. Code that keeps
//! a decoded string for long while the rest of the message is dropped can call
//! [`EtpString::compact`] to copy it out.

use std::borrow::{Borrow, Cow};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::mem::ManuallyDrop;
use std::num::NonZeroU64;
use std::ops::Deref;
use std::ptr::NonNull;
use std::str::Utf8Error;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering, fence};

use bytes::Bytes;

/// Longest string stored inline, without a heap allocation or a shared buffer: the 40
/// bytes of an `EtpString` less its tag byte (a `Bytes` is 32). It holds a qualified type
/// (`resqml20.obj_Grid2dRepresentation`, 33 bytes) and most names and map keys.
pub const INLINE_CAPACITY: usize = 39;

/// Bytes an `EtpString` takes: the tag byte and the inline text.
pub(crate) const INLINE_BLOCK: usize = INLINE_CAPACITY + 1;

/// The tag of a shared string (a `Bytes`); an inline string's tag is its length plus one
/// (1..=40), so no tag is zero and `head` is never zero.
const SHARED: u8 = 0xff;

/// The tag of a string that points into a buffer kept alive by an [`Owner`].
const OWNED: u8 = 0xfe;

/// An immutable, cheaply cloned UTF-8 string: inline when short, else backed by [`Bytes`].
///
/// Invariant: the bytes are valid UTF-8. Every constructor either starts from a `str` or
/// validates.
///
/// # Layout
///
/// Five 64-bit words. Byte 0 (in memory order) is the tag; an inline string's text is
/// bytes 1 to 1 + len, i.e. the rest of `head` and then `body`; a shared one keeps its
/// `Bytes` in `body`, one decoded from a buffer its text and owner ([`OwnedText`]). The decoder builds an inline string from one 40-byte block of input
/// (the string's one-byte length and its text) as five word loads, with the length byte
/// replaced by the tag, and every copy of the value moves it as whole words. The earlier
/// layout, a Rust enum with a tag byte and a length byte before a byte array, was copied in
/// pieces of other sizes and offsets than it had been written in, so each copy read back
/// bytes still in flight in the store buffer, which stalls (store-to-load forwarding fails);
/// those stalls were a third of the decode of a `Resource`'s `customData` map.
#[repr(C)]
pub struct EtpString {
    /// The tag (byte 0 in memory) and, inline, the first 7 bytes of text.
    head: NonZeroU64,
    /// Inline: text bytes 7 to 39 (bytes past the length are unspecified and never read).
    /// Shared: the text's `Bytes`.
    body: Body,
}

#[repr(C)]
union Body {
    text: [u64; 4],
    shared: ManuallyDrop<Bytes>,
    owned: OwnedText,
}

/// The body of an [`OWNED`] string: its text, inside the buffer of `owner`, which holds one
/// reference count for this string.
#[repr(C)]
#[derive(Clone, Copy)]
struct OwnedText {
    ptr: *const u8,
    len: usize,
    owner: NonNull<Owner>,
}

// SAFETY: an `EtpString` is immutable text. Inline text is plain bytes; a shared string's
// `Bytes` is `Send + Sync`; an owned string's text lies in a `Bytes` (`Send + Sync`) kept
// alive by its `Owner`, whose counter is atomic and only ever changed atomically (clone,
// drop), so the value may move to or be shared with another thread like an
// `Arc<Bytes>` could.
unsafe impl Send for EtpString {}
// SAFETY: see `Send`: nothing is mutated through `&EtpString`, except the owner's atomic
// counter on `clone`.
unsafe impl Sync for EtpString {}

/// References to an [`Owner`] taken from its counter at once by [`OwnerRefs::take`].
pub(crate) const OWNER_BATCH: usize = 256;

/// A received buffer kept alive for the long strings decoded from it: one allocation per
/// decoded message that has long strings, with an atomic count of the references held
/// (one per string, plus those [`OwnerRefs`] holds).
pub(crate) struct Owner {
    refs: AtomicUsize,
    bytes: Bytes,
}

impl Owner {
    /// Gives back `n` references to `owner`, freeing it with the last.
    ///
    /// # Safety
    /// The caller holds `n` references to `owner` and uses none of them after this.
    #[inline(always)]
    unsafe fn release(owner: NonNull<Owner>, n: usize) {
        // SAFETY: the caller's references keep `owner` alive until this decrement.
        // `Release` orders this holder's reads of the text before the decrement, and the
        // `Acquire` fence below orders every holder's reads before the free (as `Arc`).
        if unsafe { owner.as_ref() }
            .refs
            .fetch_sub(n, AtomicOrdering::Release)
            == n
        {
            // SAFETY: those were the last references.
            unsafe { Owner::free(owner) }
        }
    }

    /// # Safety
    /// No references to `owner` are left.
    #[cold]
    #[inline(never)]
    unsafe fn free(owner: NonNull<Owner>) {
        fence(AtomicOrdering::Acquire);
        // SAFETY: `owner` came from `Box::into_raw` (`OwnerRefs::new`) and, with no
        // reference left, nothing else can reach it.
        drop(unsafe { Box::from_raw(owner.as_ptr()) });
    }

    /// Adds `n` references to `owner`, aborting (like `Arc`) rather than letting the count
    /// overflow.
    ///
    /// # Safety
    /// The caller holds a reference to `owner`.
    #[inline]
    unsafe fn acquire(owner: NonNull<Owner>, n: usize) {
        // SAFETY: the caller's reference keeps it alive. `Relaxed`, as `Arc::clone`: a new
        // reference is made from an existing one, which already orders the accesses.
        let old = unsafe { owner.as_ref() }
            .refs
            .fetch_add(n, AtomicOrdering::Relaxed);
        // Each reference is held by a string (40 bytes of memory) or by a reader's batch,
        // so this is unreachable short of leaking strings on purpose.
        if old > isize::MAX as usize {
            std::process::abort();
        }
    }
}

/// A reader's references to the [`Owner`] of its input: one of its own while it lives,
/// and `prepaid` more taken in a batch and not yet handed to strings. Dropping it gives
/// back all of them.
pub(crate) struct OwnerRefs {
    owner: NonNull<Owner>,
    prepaid: usize,
}

// SAFETY: it holds counted references to an `Owner`, which is `Send + Sync` in substance
// (an atomic counter and a `Bytes`), like an `Arc<Owner>` would.
unsafe impl Send for OwnerRefs {}
// SAFETY: as `Send`; nothing is reachable through `&OwnerRefs` but the pointer.
unsafe impl Sync for OwnerRefs {}

impl OwnerRefs {
    /// An owner of `bytes` (a clone is kept), with its first batch of references.
    #[cold]
    #[inline(never)]
    pub(crate) fn new(bytes: &Bytes) -> Self {
        let owner = Box::new(Owner {
            refs: AtomicUsize::new(1 + OWNER_BATCH),
            bytes: bytes.clone(),
        });
        OwnerRefs {
            owner: NonNull::from(Box::leak(owner)),
            prepaid: OWNER_BATCH,
        }
    }

    /// A string of `text`, holding one reference to the owner (meant for long text: short
    /// text is cheaper inline).
    ///
    /// # Safety
    /// `text` is valid UTF-8 and lies within the contents of the `Bytes` this owner was
    /// made from (`OwnerRefs::new`).
    #[inline(always)]
    pub(crate) unsafe fn string(&mut self, text: &[u8]) -> EtpString {
        if self.prepaid == 0 {
            self.refill();
        }
        self.prepaid -= 1;
        EtpString {
            head: head_with_tag([0; 8], OWNED),
            body: Body {
                owned: OwnedText {
                    ptr: text.as_ptr(),
                    len: text.len(),
                    owner: self.owner,
                },
            },
        }
    }

    #[cold]
    #[inline(never)]
    fn refill(&mut self) {
        // SAFETY: this holds its own reference.
        unsafe { Owner::acquire(self.owner, OWNER_BATCH) };
        self.prepaid = OWNER_BATCH;
    }
}

impl Drop for OwnerRefs {
    fn drop(&mut self) {
        // SAFETY: this holds its own reference and `prepaid` more, unused after this.
        unsafe { Owner::release(self.owner, self.prepaid + 1) }
    }
}

/// `head` of a shared string, or of an inline one whose first 8 block bytes are `first`.
#[inline(always)]
const fn head_with_tag(mut first: [u8; 8], tag: u8) -> NonZeroU64 {
    first[0] = tag;
    match NonZeroU64::new(u64::from_ne_bytes(first)) {
        Some(head) => head,
        // Every tag is non-zero (see `SHARED`), and so is a word with a non-zero byte.
        None => panic!("zero tag"),
    }
}

impl EtpString {
    /// The empty string (no allocation).
    pub const fn new() -> Self {
        EtpString {
            head: head_with_tag([0; 8], 1),
            body: Body { text: [0; 4] },
        }
    }

    /// A string pointing at static text: no allocation, no copy.
    pub const fn from_static(text: &'static str) -> Self {
        EtpString::shared(Bytes::from_static(text.as_bytes()))
    }

    /// The shared form of `bytes`, which must be valid UTF-8 (every caller checks or
    /// starts from a `str`).
    #[inline]
    const fn shared(bytes: Bytes) -> Self {
        EtpString {
            head: head_with_tag([0; 8], SHARED),
            body: Body {
                shared: ManuallyDrop::new(bytes),
            },
        }
    }

    /// Takes `bytes` as a string if they are valid UTF-8, without copying long text.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, Utf8Error> {
        std::str::from_utf8(&bytes)?;
        // SAFETY: validated just above.
        Ok(unsafe { EtpString::from_utf8_unchecked(bytes) })
    }

    /// Takes `bytes` as a string without checking them.
    ///
    /// # Safety
    /// `bytes` must be valid UTF-8 (the decoder calls this after validating them, to avoid
    /// scanning them twice).
    #[inline]
    pub(crate) unsafe fn from_utf8_unchecked(bytes: Bytes) -> Self {
        inline(&bytes).unwrap_or_else(|| EtpString::shared(bytes))
    }

    /// An inline string of the `len` bytes of `block` after its first byte.
    ///
    /// # Safety
    /// `len <= INLINE_CAPACITY` and `block[1..1 + len]` is valid UTF-8. (The decoder passes
    /// the block of input that starts at the string's one-byte length, which is cheaper to
    /// copy whole than the text alone, and validates the text part of it.)
    #[inline(always)]
    pub(crate) unsafe fn from_inline_block(len: usize, block: &[u8; INLINE_BLOCK]) -> Self {
        debug_assert!(len <= INLINE_CAPACITY);
        let word = |i: usize| {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(&block[8 * i..8 * i + 8]);
            bytes
        };
        EtpString {
            // `len + 1 <= 40`: a precondition.
            head: head_with_tag(word(0), len as u8 + 1),
            body: Body {
                text: [
                    u64::from_ne_bytes(word(1)),
                    u64::from_ne_bytes(word(2)),
                    u64::from_ne_bytes(word(3)),
                    u64::from_ne_bytes(word(4)),
                ],
            },
        }
    }

    /// The tag byte: [`SHARED`], or an inline string's length plus one.
    #[inline(always)]
    fn tag(&self) -> u8 {
        self.head.get().to_ne_bytes()[0]
    }

    /// The shared `Bytes`, if the text is not inline.
    #[inline(always)]
    fn as_shared(&self) -> Option<&Bytes> {
        // SAFETY: `body` holds a `Bytes` exactly when the tag says so.
        (self.tag() == SHARED).then(|| unsafe { &*self.body.shared })
    }

    /// The text and owner of an [`OWNED`] string.
    #[inline(always)]
    fn as_owned(&self) -> Option<OwnedText> {
        if self.tag() == OWNED {
            // SAFETY: `body` holds an `OwnedText` exactly when the tag says so. (Read only
            // then: other bodies may hold a zero where its `NonNull` is.)
            Some(unsafe { self.body.owned })
        } else {
            None
        }
    }

    /// The text's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        let tag = self.tag();
        if tag == OWNED {
            // SAFETY: the tag says `body` is an `OwnedText`, whose `len` bytes at `ptr` lie
            // in its owner's buffer, alive while this string holds its reference (at least
            // as long as the borrow of `self`) and never mutated.
            return unsafe {
                let owned = self.body.owned;
                std::slice::from_raw_parts(owned.ptr, owned.len)
            };
        }
        match self.as_shared() {
            Some(bytes) => bytes,
            // SAFETY: an inline string's text is `len = tag - 1 <= INLINE_CAPACITY` bytes
            // from byte 1 of the value, which is `repr(C)` with `head` (8 bytes) and `body`
            // (32) back to back, so the range lies within it; every byte of an inline value
            // is initialised (all five words are written), and the value is borrowed for the
            // lifetime of the slice.
            None => unsafe {
                std::slice::from_raw_parts(
                    (self as *const Self).cast::<u8>().add(1),
                    usize::from(self.tag() - 1),
                )
            },
        }
    }

    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        // SAFETY: the bytes are valid UTF-8, the invariant every constructor establishes
        // (from a `str`, or after validation); they are never mutated.
        unsafe { std::str::from_utf8_unchecked(self.as_bytes()) }
    }

    /// The UTF-8 bytes as a `Bytes` (a reference-count increment for long text, a copy of
    /// short text).
    pub fn to_bytes(&self) -> Bytes {
        if let Some(owned) = self.as_owned() {
            // SAFETY: this string holds a reference to its owner, so it is alive.
            let buffer = unsafe { &owned.owner.as_ref().bytes };
            // The text lies within the owner's buffer (the invariant of `OwnedText`), so
            // `slice_ref` finds it there and does not panic.
            return buffer.slice_ref(self.as_bytes());
        }
        match self.as_shared() {
            Some(bytes) => bytes.clone(),
            None => Bytes::copy_from_slice(self.as_bytes()),
        }
    }

    /// An owned `String` copy of the text.
    pub fn into_string(self) -> String {
        self.as_str().to_owned()
    }

    /// A copy of the text that no longer keeps alive the buffer it was decoded from.
    pub fn compact(&self) -> Self {
        if self.is_inline() {
            self.clone()
        } else {
            EtpString::shared(Bytes::copy_from_slice(self.as_bytes()))
        }
    }

    /// Whether the text is stored inline.
    #[inline(always)]
    fn is_inline(&self) -> bool {
        self.tag() <= INLINE_BLOCK as u8
    }
}

/// The inline form of `text`, if it is short enough.
#[inline]
fn inline(text: &[u8]) -> Option<EtpString> {
    if text.len() > INLINE_CAPACITY {
        return None;
    }
    let mut block = [0; INLINE_BLOCK];
    block[1..1 + text.len()].copy_from_slice(text);
    // SAFETY: the length was checked above; callers pass UTF-8 (see their contracts).
    Some(unsafe { EtpString::from_inline_block(text.len(), &block) })
}

impl Drop for EtpString {
    #[inline]
    fn drop(&mut self) {
        match self.tag() {
            // SAFETY: the tag says `body` holds an `OwnedText`, whose reference to its
            // owner this string holds and gives back once, here.
            OWNED => unsafe { Owner::release(self.body.owned.owner, 1) },
            // SAFETY: the tag says `body` holds a `Bytes`; it is dropped once, here.
            SHARED => unsafe { ManuallyDrop::drop(&mut self.body.shared) },
            _ => {}
        }
    }
}

impl Clone for EtpString {
    #[inline]
    fn clone(&self) -> Self {
        if let Some(owned) = self.as_owned() {
            // SAFETY: this string holds a reference to the owner; the clone gets its own.
            unsafe { Owner::acquire(owned.owner, 1) };
            return EtpString {
                head: self.head,
                body: Body { owned },
            };
        }
        match self.as_shared() {
            Some(bytes) => EtpString::shared(bytes.clone()),
            None => EtpString {
                head: self.head,
                // SAFETY: an inline string's body is text words (plain integers).
                body: Body {
                    text: unsafe { self.body.text },
                },
            },
        }
    }
}

impl Default for EtpString {
    fn default() -> Self {
        EtpString::new()
    }
}

impl Deref for EtpString {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for EtpString {
    #[inline]
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for EtpString {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<str> for EtpString {
    #[inline]
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for EtpString {
    /// Takes over the `String`'s buffer without copying long text.
    fn from(text: String) -> Self {
        inline(text.as_bytes()).unwrap_or_else(|| EtpString::shared(Bytes::from(text.into_bytes())))
    }
}

impl From<&String> for EtpString {
    fn from(text: &String) -> Self {
        EtpString::from(text.as_str())
    }
}

impl From<&str> for EtpString {
    /// Copies the text once. [`EtpString::from_static`] does not copy literals.
    fn from(text: &str) -> Self {
        inline(text.as_bytes())
            .unwrap_or_else(|| EtpString::shared(Bytes::copy_from_slice(text.as_bytes())))
    }
}

impl From<Box<str>> for EtpString {
    fn from(text: Box<str>) -> Self {
        EtpString::from(String::from(text))
    }
}

impl From<Cow<'_, str>> for EtpString {
    fn from(text: Cow<'_, str>) -> Self {
        match text {
            Cow::Borrowed(s) => EtpString::from(s),
            Cow::Owned(s) => EtpString::from(s),
        }
    }
}

impl From<EtpString> for String {
    fn from(text: EtpString) -> Self {
        text.into_string()
    }
}

impl From<EtpString> for Bytes {
    fn from(text: EtpString) -> Self {
        if text.as_shared().is_none() {
            // Inline (a copy) or owned (a slice of the owner's buffer).
            return text.to_bytes();
        }
        let text = ManuallyDrop::new(text);
        // SAFETY: the tag says `body` holds a `Bytes`; it is moved out once, and `text`,
        // wrapped in `ManuallyDrop`, is not dropped after.
        unsafe { ManuallyDrop::into_inner(std::ptr::read(&text.body.shared)) }
    }
}

impl std::str::FromStr for EtpString {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(EtpString::from(text))
    }
}

impl FromIterator<char> for EtpString {
    fn from_iter<I: IntoIterator<Item = char>>(iter: I) -> Self {
        EtpString::from(String::from_iter(iter))
    }
}

impl fmt::Display for EtpString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl fmt::Debug for EtpString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for EtpString {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for EtpString {}

impl PartialOrd for EtpString {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EtpString {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

/// Hashes like `str`, as `Borrow<str>` requires for map lookups by `&str`.
impl Hash for EtpString {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

/// Comparisons with the other string types, in both directions.
macro_rules! eq_with {
    ($($other:ty),*) => {$(
        impl PartialEq<$other> for EtpString {
            #[inline]
            fn eq(&self, other: &$other) -> bool {
                self.as_str() == AsRef::<str>::as_ref(other)
            }
        }
        impl PartialEq<EtpString> for $other {
            #[inline]
            fn eq(&self, other: &EtpString) -> bool {
                AsRef::<str>::as_ref(self) == other.as_str()
            }
        }
    )*};
}

eq_with!(str, &str, String, Cow<'_, str>);

impl serde::Serialize for EtpString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::hash::BuildHasher;

    #[test]
    fn behaves_like_str() {
        let s = EtpString::from("Grüße");
        assert_eq!(s.len(), "Grüße".len());
        assert!(s.starts_with("Gr"));
        assert_eq!(s, "Grüße");
        assert_eq!("Grüße", s);
        assert_eq!(s, *"Grüße");
        assert_eq!(s, String::from("Grüße"));
        assert_eq!(String::from("Grüße"), s);
        assert_eq!(s, Cow::Borrowed("Grüße"));
        assert_eq!(s.to_string(), "Grüße");
        assert_eq!(format!("{s:?}"), "\"Grüße\"");
        assert_eq!(format!("{s:>7}"), "  Grüße");
        assert_eq!(String::from(s.clone()), "Grüße");
        assert_eq!(EtpString::default(), "");
        assert_eq!(EtpString::new(), EtpString::from_static(""));
        let (a, b) = (EtpString::from("a"), EtpString::from("b"));
        assert!(a < b);
        assert_eq!(
            EtpString::from("é").cmp(&EtpString::from("z")),
            "é".cmp("z")
        );
    }

    #[test]
    fn hashes_like_str_so_maps_are_looked_up_by_str() {
        let state = std::hash::RandomState::new();
        let s = EtpString::from("customKey");
        assert_eq!(state.hash_one(&s), state.hash_one("customKey"));
        let mut map = HashMap::new();
        map.insert(s, 1);
        assert_eq!(map.get("customKey"), Some(&1));
        let mut index = crate::codec::Map::new();
        index.insert(EtpString::from_static("k"), 2);
        assert_eq!(index.get("k"), Some(&2));
    }

    const LONG: &str = "eml:///dataspace('demo')/resqml20.obj_Grid2dRepresentation(1)";

    #[test]
    fn long_text_is_shared_not_copied() {
        assert!(LONG.len() > INLINE_CAPACITY);
        let text = String::from(LONG);
        let ptr = text.as_ptr();
        let s = EtpString::from(text);
        assert_eq!(s.as_ptr(), ptr);
        assert!(!s.is_inline());
        let clone = s.clone();
        assert_eq!(clone.as_ptr(), s.as_ptr());
        let compact = s.compact();
        assert_ne!(compact.as_ptr(), s.as_ptr());
        assert_eq!(compact, s);
        let literal: &'static str = "static";
        assert_eq!(EtpString::from_static(literal).as_ptr(), literal.as_ptr());
        assert_eq!(EtpString::from(LONG).to_bytes(), LONG.as_bytes());
    }

    #[test]
    fn short_text_is_inline_up_to_the_capacity() {
        let at_capacity = "é".repeat(INLINE_CAPACITY / 2) + &"x".repeat(INLINE_CAPACITY % 2);
        assert_eq!(at_capacity.len(), INLINE_CAPACITY);
        for text in ["", "k", at_capacity.as_str()] {
            for s in [
                EtpString::from(text),
                EtpString::from(text.to_owned()),
                EtpString::from_utf8(Bytes::copy_from_slice(text.as_bytes())).unwrap(),
            ] {
                assert!(s.is_inline(), "{text:?}");
                assert_eq!(s, text);
                assert_eq!(s.len(), text.len());
                assert_eq!(Bytes::from(s.clone()), text.as_bytes());
            }
        }
        let over = format!("{at_capacity}x");
        assert!(!EtpString::from(over.as_str()).is_inline());
        assert_eq!(EtpString::from(over.as_str()), over);
        // Inline and shared forms of the same text are equal and hash alike.
        let state = std::hash::RandomState::new();
        let shared = EtpString::from_static("k");
        assert!(!shared.is_inline());
        assert_eq!(shared, EtpString::from("k"));
        assert_eq!(
            state.hash_one(&shared),
            state.hash_one(EtpString::from("k"))
        );
        assert_eq!(std::mem::size_of::<EtpString>(), 40);
        // The never-zero head leaves a niche for `Option` and `Result`.
        assert_eq!(std::mem::size_of::<Option<EtpString>>(), 40);
        // Clones and drops of both forms (a double drop or leak shows under Miri).
        let forms = [EtpString::from(at_capacity.as_str()), EtpString::from(LONG)];
        let copies = forms.clone();
        drop(forms);
        assert_eq!(copies[0], at_capacity.as_str());
        assert_eq!(copies[1], LONG);
        assert_eq!(Bytes::from(copies[1].clone()), LONG.as_bytes());
    }

    #[test]
    fn from_utf8_validates() {
        assert!(EtpString::from_utf8(Bytes::from_static(b"\xc3\x28")).is_err());
        assert!(
            EtpString::from_utf8(Bytes::from(
                format!("{LONG}\u{fffd}").into_bytes()[..LONG.len() + 1].to_vec()
            ))
            .is_err()
        );
        let bytes = Bytes::from_static("ok ✓".as_bytes());
        let s = EtpString::from_utf8(bytes.clone()).unwrap();
        assert_eq!(s, "ok ✓");
        assert_eq!(Bytes::from(s), bytes);
        let long = Bytes::from_static(LONG.as_bytes());
        let s = EtpString::from_utf8(long.clone()).unwrap();
        assert_eq!(s.as_ptr(), long.as_ptr());
    }

    #[test]
    fn decoded_long_strings_share_one_owner_and_release_it() {
        use crate::codec::{Avro, Reader};
        // More strings than one batch of references, so the reader refills.
        let texts: Vec<String> = (0..2 * OWNER_BATCH + 3)
            .map(|i| format!("{LONG}/{i}"))
            .collect();
        let items: Vec<EtpString> = texts.iter().map(EtpString::from).collect();
        let input = Bytes::from(crate::codec::encode_to_vec(&items));
        let mut r = Reader::from_bytes(&input);
        let decoded = Vec::<EtpString>::decode(&mut r).unwrap();
        assert!(!input.is_unique());
        // The strings outlive their reader (and move to another thread).
        drop(r);
        let decoded = std::thread::spawn(move || decoded).join().unwrap();
        assert_eq!(decoded, items);
        for (s, text) in decoded.iter().zip(&texts) {
            assert_eq!(s.tag(), OWNED);
            assert!(input.as_ptr_range().contains(&s.as_ptr()));
            assert_eq!(s.to_bytes(), text.as_bytes());
            assert_eq!(s.to_bytes().as_ptr(), s.as_ptr());
        }
        let clone = decoded[1].clone();
        let as_bytes = Bytes::from(decoded[2].clone());
        let compact = decoded[3].compact();
        assert_eq!(compact.tag(), SHARED);
        assert!(!input.as_ptr_range().contains(&compact.as_ptr()));
        drop(decoded);
        // The clone and the `Bytes` keep the buffer; the compact copy does not.
        assert!(!input.is_unique());
        assert_eq!(clone, texts[1].as_str());
        assert_eq!(as_bytes, texts[2].as_bytes());
        drop(clone);
        assert!(!input.is_unique());
        drop(as_bytes);
        assert!(input.is_unique());
        assert_eq!(compact, texts[3].as_str());
        // A reader that decoded no long string makes no owner; one that decoded one and
        // failed later releases it.
        let short = Bytes::from(crate::codec::encode_to_vec(&EtpString::from("abc")));
        let mut r = Reader::from_bytes(&short);
        EtpString::decode(&mut r).unwrap();
        assert!(r.finish().is_ok());
        drop(r);
        assert!(short.is_unique());
        let cut = input.slice(..input.len() - 5);
        let mut r = Reader::from_bytes(&cut);
        assert!(Vec::<EtpString>::decode(&mut r).is_err());
        drop(r);
        drop(cut);
        assert!(input.is_unique());
    }

    #[test]
    fn serializes_as_a_string() {
        let s = EtpString::from("a\"b");
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""a\"b""#);
    }
}
