//! [`EtpString`]: the string type of every Avro `string` in the generated ETP types.
//!
//! A UTF-8 string held in a [`Bytes`], so that decoding a message through
//! [`Reader::from_bytes`](crate::codec::Reader::from_bytes) turns each string into a slice of
//! the received buffer (a reference-count increment) instead of a fresh heap allocation.
//! Decoding a `GetResourcesResponse` made eleven allocations per `Resource` with `String`
//! fields and map keys; most of them were strings. Cloning is a reference-count increment too,
//! which is what the server does when it copies a URI from a request into its answer.
//!
//! It behaves like an immutable `String`: it dereferences to `str`, compares, orders and
//! hashes exactly like `str` (so a `Map` keyed by it is looked up with a `&str`), prints and
//! serializes as a string. It is built from `String` (no copy), `&str` (one copy) or a
//! `&'static str` with [`EtpString::from_static`] (no allocation).
//!
//! Holding a slice keeps the whole received buffer alive. A server that keeps a decoded
//! string for long while the rest of the message is dropped can call
//! [`EtpString::compact`] to copy it out.

use std::borrow::{Borrow, Cow};
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::str::Utf8Error;

use bytes::Bytes;

/// An immutable, cheaply cloned UTF-8 string backed by [`Bytes`].
///
/// Invariant: the bytes are valid UTF-8. Every constructor either starts from a `str` or
/// validates.
#[derive(Clone, Default)]
pub struct EtpString(Bytes);

impl EtpString {
    /// The empty string (no allocation).
    pub const fn new() -> Self {
        EtpString(Bytes::new())
    }

    /// A string pointing at static text: no allocation, no copy.
    pub const fn from_static(text: &'static str) -> Self {
        EtpString(Bytes::from_static(text.as_bytes()))
    }

    /// Takes `bytes` as a string if they are valid UTF-8, without copying them.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(EtpString(bytes))
    }

    /// Takes `bytes` as a string without checking them.
    ///
    /// # Safety
    /// `bytes` must be valid UTF-8 (the decoder calls this after validating them, to avoid
    /// scanning them twice).
    #[inline]
    pub(crate) unsafe fn from_utf8_unchecked(bytes: Bytes) -> Self {
        EtpString(bytes)
    }

    /// The text.
    #[inline]
    pub fn as_str(&self) -> &str {
        // SAFETY: the bytes are valid UTF-8, the invariant every constructor establishes
        // (from a `str`, or after `from_utf8` validation); they are never mutated.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The UTF-8 bytes, shared.
    #[inline]
    pub fn as_bytes_shared(&self) -> &Bytes {
        &self.0
    }

    /// The UTF-8 bytes, shared.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// An owned `String` copy of the text.
    pub fn into_string(self) -> String {
        self.as_str().to_owned()
    }

    /// A copy of the text in its own allocation, so that it no longer keeps alive the
    /// buffer it was decoded from.
    pub fn compact(&self) -> Self {
        EtpString::from(self.as_str())
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
        &self.0
    }
}

impl Borrow<str> for EtpString {
    #[inline]
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<String> for EtpString {
    /// Takes over the `String`'s buffer without copying the text.
    fn from(text: String) -> Self {
        EtpString(Bytes::from(text.into_bytes()))
    }
}

impl From<&String> for EtpString {
    fn from(text: &String) -> Self {
        EtpString::from(text.as_str())
    }
}

impl From<&str> for EtpString {
    /// Copies the text once. Use [`EtpString::from_static`] for literals.
    fn from(text: &str) -> Self {
        EtpString(Bytes::copy_from_slice(text.as_bytes()))
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
        text.0
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
        self.0 == other.0
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
        let mut index = indexmap::IndexMap::new();
        index.insert(EtpString::from_static("k"), 2);
        assert_eq!(index.get("k"), Some(&2));
    }

    #[test]
    fn conversions_avoid_copies_where_they_can() {
        let text = String::from("no copy");
        let ptr = text.as_ptr();
        let s = EtpString::from(text);
        assert_eq!(s.as_ptr(), ptr);
        let literal: &'static str = "static";
        assert_eq!(EtpString::from_static(literal).as_ptr(), literal.as_ptr());
        let clone = s.clone();
        assert_eq!(clone.as_ptr(), s.as_ptr());
        let compact = s.compact();
        assert_ne!(compact.as_ptr(), s.as_ptr());
        assert_eq!(compact, s);
    }

    #[test]
    fn from_utf8_validates() {
        assert!(EtpString::from_utf8(Bytes::from_static(b"\xc3\x28")).is_err());
        let bytes = Bytes::from_static("ok ✓".as_bytes());
        let s = EtpString::from_utf8(bytes.clone()).unwrap();
        assert_eq!(s, "ok ✓");
        assert_eq!(s.into_bytes(), bytes);
    }

    #[test]
    fn serializes_as_a_string() {
        let s = EtpString::from("a\"b");
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""a\"b""#);
    }
}
