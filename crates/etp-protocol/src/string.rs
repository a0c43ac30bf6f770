//! [`EtpString`]: the string type of every Avro `string` in the generated ETP types.
//!
//! Decoding a `GetResourcesResponse` with `String` fields and map keys made eleven heap
//! allocations per `Resource`, most of them strings, and allocation was the largest cost of
//! decoding. An `EtpString` needs none:
//!
//! - a string of at most [`INLINE_CAPACITY`] bytes (map keys, names, qualified types,
//!   formats, most values) is stored inline, copied out of the input;
//! - a longer one (URIs, long titles) is a [`Bytes`]: decoding through
//!   [`Reader::from_bytes`](crate::codec::Reader::from_bytes) makes it a slice of the
//!   received buffer (a reference-count increment), otherwise it is copied once.
//!
//! Short strings are not shared slices as well because a `Bytes` clone and drop are two
//! atomic read-modify-writes on the buffer's counter; for a few bytes, copying them is
//! cheaper, and they do not keep the received buffer alive.
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
use std::str::Utf8Error;

use bytes::Bytes;

/// Longest string stored inline, without a heap allocation or a shared buffer: the 40
/// bytes of an `EtpString` less its tag byte (a `Bytes` is 32). It holds a qualified type
/// (`resqml20.obj_Grid2dRepresentation`, 33 bytes) and most names and map keys.
pub const INLINE_CAPACITY: usize = 39;

/// Bytes an `EtpString` takes: the tag byte and the inline text.
pub(crate) const INLINE_BLOCK: usize = INLINE_CAPACITY + 1;

/// The tag of a shared string; an inline string's tag is its length plus one (1..=40), so
/// no tag is zero and `head` is never zero.
const SHARED: u8 = 0xff;

/// An immutable, cheaply cloned UTF-8 string: inline when short, else backed by [`Bytes`].
///
/// Invariant: the bytes are valid UTF-8. Every constructor either starts from a `str` or
/// validates.
///
/// # Layout
///
/// Five 64-bit words. Byte 0 (in memory order) is the tag; an inline string's text is
/// bytes 1 to 1 + len, i.e. the rest of `head` and then `body`; a shared one keeps its
/// `Bytes` in `body`. The decoder builds an inline string from one 40-byte block of input
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

    /// A string of `text`'s bytes, which must be valid UTF-8, copying short ones inline
    /// and slicing long ones out of `shared` (which holds `text` at `range`).
    ///
    /// # Safety
    /// `text` must be valid UTF-8 and equal to `shared[range]`.
    #[inline]
    pub(crate) unsafe fn from_shared_slice(
        text: &[u8],
        shared: &Bytes,
        range: std::ops::Range<usize>,
    ) -> Self {
        inline(text).unwrap_or_else(|| EtpString::shared(shared.slice(range)))
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

    /// The text's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
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
        match self.as_shared() {
            Some(bytes) => EtpString::shared(Bytes::copy_from_slice(bytes)),
            None => self.clone(),
        }
    }

    /// Whether the text is stored inline (for tests of the representation).
    #[cfg(test)]
    fn is_inline(&self) -> bool {
        self.as_shared().is_none()
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
        if self.tag() == SHARED {
            // SAFETY: the tag says `body` holds a `Bytes`; it is dropped once, here.
            unsafe { ManuallyDrop::drop(&mut self.body.shared) }
        }
    }
}

impl Clone for EtpString {
    #[inline]
    fn clone(&self) -> Self {
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
    fn serializes_as_a_string() {
        let s = EtpString::from("a\"b");
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""a\"b""#);
    }
}
