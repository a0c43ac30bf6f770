//! The lexical half of the parser: finding the end of markup, attributes,
//! references and namespace bindings, directly on the input bytes.
//!
//! Everything here borrows from the input (already checked to be UTF-8 without
//! NUL); nothing is allocated except the normalized value of an attribute or
//! text that really needs normalizing. Searches use `memchr`, so the long runs
//! of text between tags (the numbers that make up most of a data object) cost
//! about as much as finding the next `<` or `&` in them.

use std::borrow::Cow;

use memchr::{memchr, memchr2, memchr3};

use crate::error::clip;
use crate::{ModelError, NS_COMMON};

/// The namespace the `xml` prefix is bound to.
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// The namespace the `xmlns` prefix is bound to.
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Most namespace bindings in scope at once (quick-xml's default limit, which
/// this parser keeps: it bounds the cost of resolving a prefix).
const MAX_NAMESPACE_BINDINGS: usize = 128;

/// XML white space (`S`).
pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Whether `s` is only XML white space.
pub(super) fn is_xml_space(s: &str) -> bool {
    s.bytes().all(is_space)
}

/// Whether `c` is allowed in an XML 1.0 document.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Haystacks are mostly short (names, numbers, attribute values, the white
/// space between tags): their first bytes are checked eight at a time in a
/// plain integer (a SIMD search costs more to set up than such a haystack
/// takes), and `memchr` takes over for the rest.
const SHORT: usize = 32;

/// Bytes per word of the short searches.
const WORD: usize = 8;
/// `0x01` in every byte of a word.
const ONES: u64 = u64::from_le_bytes([1; WORD]);
/// `0x80` in every byte of a word.
const HIGHS: u64 = ONES << 7;

/// The high bit of each byte of `word` equal to `needle`, and possibly of
/// bytes after the first such byte (a borrow of the subtraction can carry into
/// them): only the lowest mark is exact, and it is the only one used.
#[inline(always)]
fn marks(word: u64, needle: u8) -> u64 {
    let x = word ^ (ONES * u64::from(needle));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The first byte of `head` (at most [`SHORT`] bytes) that `is` accepts:
/// whole words through `mark` (the [`marks`] of the same bytes, ORed; the
/// lowest mark of an OR is the lowest exact one), the rest byte by byte.
#[inline(always)]
fn find_short(head: &[u8], mark: impl Fn(u64) -> u64, is: impl Fn(u8) -> bool) -> Option<usize> {
    let mut words = head.chunks_exact(WORD);
    let mut at = 0;
    for chunk in &mut words {
        // `chunks_exact` yields WORD bytes: the conversion cannot fail.
        let Ok(bytes) = <[u8; WORD]>::try_from(chunk) else {
            break;
        };
        let m = mark(u64::from_le_bytes(bytes));
        if m != 0 {
            return Some(at + (m.trailing_zeros() / 8) as usize);
        }
        at += WORD;
    }
    words
        .remainder()
        .iter()
        .position(|&b| is(b))
        .map(|i| at + i)
}

/// The first `needle` in `hay`.
#[inline]
pub(super) fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    let head = &hay[..hay.len().min(SHORT)];
    if let Some(i) = find_short(head, |w| marks(w, needle), |b| b == needle) {
        return Some(i);
    }
    let tail = hay.get(SHORT..).filter(|t| !t.is_empty())?;
    memchr(needle, tail).map(|i| i + SHORT)
}

/// The first `<` or `&` in `hay`: where character data ends.
#[inline]
pub(super) fn find_markup(hay: &[u8]) -> Option<usize> {
    let head = &hay[..hay.len().min(SHORT)];
    if let Some(i) = find_short(
        head,
        |w| marks(w, b'<') | marks(w, b'&'),
        |b| b == b'<' || b == b'&',
    ) {
        return Some(i);
    }
    let tail = hay.get(SHORT..).filter(|t| !t.is_empty())?;
    memchr2(b'<', b'&', tail).map(|i| i + SHORT)
}

/// The first `>`, `"` or `'` in `hay`.
#[inline]
fn find_tag_byte(hay: &[u8]) -> Option<usize> {
    let head = &hay[..hay.len().min(SHORT)];
    if let Some(i) = find_short(
        head,
        |w| marks(w, b'>') | marks(w, b'"') | marks(w, b'\''),
        |b| b == b'>' || b == b'"' || b == b'\'',
    ) {
        return Some(i);
    }
    let tail = hay.get(SHORT..).filter(|t| !t.is_empty())?;
    memchr3(b'>', b'"', b'\'', tail).map(|i| i + SHORT)
}

/// The first XML white space byte in `hay` (where an element name ends).
#[inline]
pub(super) fn find_space(hay: &[u8]) -> Option<usize> {
    let head = &hay[..hay.len().min(SHORT)];
    let space = |w| marks(w, b' ') | marks(w, b'\n') | marks(w, b'\t') | marks(w, b'\r');
    if let Some(i) = find_short(head, space, is_space) {
        return Some(i);
    }
    let tail = hay.get(SHORT..)?;
    // Names longer than SHORT are rare: the same word loop, without a bound.
    let mut at = SHORT;
    for chunk in tail.chunks(SHORT) {
        if let Some(i) = find_short(chunk, space, is_space) {
            return Some(at + i);
        }
        at += chunk.len();
    }
    None
}

/// The offset of the `>` that ends the tag whose content starts at `from`:
/// the first one outside quotes (a `>` may appear in attribute values).
pub(super) fn tag_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        let j = i + find_tag_byte(bytes.get(i..)?)?;
        let quote = *bytes.get(j)?;
        if quote == b'>' {
            return Some(j);
        }
        i = j + 1 + find_byte(quote, bytes.get(j + 1..)?)? + 1;
    }
}

/// Splits a qualified name at its first `:` into prefix and local name.
#[inline]
pub(super) fn split_qname(qname: &str) -> (Option<&str>, &str) {
    match qname.bytes().position(|b| b == b':') {
        Some(i) => (Some(&qname[..i]), &qname[i + 1..]),
        None => (None, qname),
    }
}

/// Resolves the reference `&name;` (the five predefined entities and
/// character references; there is no DTD). `position` is the offset of `&`.
pub(super) fn resolve_reference(name: &str, position: u64) -> Result<char, ModelError> {
    if let Some(number) = name.strip_prefix('#') {
        let (digits, radix) = match number.strip_prefix('x') {
            Some(hex) => (hex, 16),
            None => (number, 10),
        };
        // `from_str_radix` would take a sign.
        let code = if digits.starts_with(['+', '-']) {
            None
        } else {
            u32::from_str_radix(digits, radix).ok()
        };
        return match code.and_then(char::from_u32) {
            Some(c) if c != '\0' && is_xml_char(c) => Ok(c),
            _ => Err(ModelError::not_well_formed(
                position,
                format!("invalid character reference &{};", clip(name)),
            )),
        };
    }
    match name {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "apos" => Ok('\''),
        "quot" => Ok('"'),
        other => Err(ModelError::UndeclaredEntity {
            name: clip(other),
            position,
        }),
    }
}

/// Appends `text` with XML 1.0 line ends normalized (`\r\n` and `\r` → `\n`).
pub(super) fn push_text(out: &mut String, text: &str) {
    if memchr(b'\r', text.as_bytes()).is_none() {
        out.push_str(text);
        return;
    }
    let mut rest = text;
    while let Some(i) = rest.find('\r') {
        out.push_str(&rest[..i]);
        out.push('\n');
        rest = &rest[i + 1..];
        if let Some(after) = rest.strip_prefix('\n') {
            rest = after;
        }
    }
    out.push_str(rest);
}

/// An attribute value with references resolved and white space normalized
/// (XML 1.0 attribute-value normalization, CDATA type: `\t`, `\n`, `\r`,
/// `\r\n` → one space). Borrowed when nothing changes. Unknown entities are
/// errors here (not [`ModelError::UndeclaredEntity`], as in quick-xml).
pub(super) fn attribute_value(raw: &str, position: u64) -> Result<Cow<'_, str>, ModelError> {
    let bytes = raw.as_bytes();
    if !bytes
        .iter()
        .any(|&b| matches!(b, b'&' | b'\t' | b'\n' | b'\r'))
    {
        return Ok(Cow::Borrowed(raw));
    }
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'&' => {
                out.push_str(&raw[copied..i]);
                let end =
                    i + memchr(b';', &bytes[i..]).ok_or_else(|| unclosed_reference(position))?;
                out.push(attribute_reference(&raw[i + 1..end], position)?);
                i = end + 1;
                copied = i;
            }
            b'\t' | b'\n' | b'\r' => {
                out.push_str(&raw[copied..i]);
                out.push(' ');
                if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                i += 1;
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&raw[copied..]);
    Ok(Cow::Owned(out))
}

/// Checks the references in an attribute value without building the value.
fn check_attribute_references(raw: &str, position: u64) -> Result<(), ModelError> {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while let Some(amp) = memchr(b'&', &bytes[i..]) {
        let start = i + amp;
        let end =
            start + memchr(b';', &bytes[start..]).ok_or_else(|| unclosed_reference(position))?;
        attribute_reference(&raw[start + 1..end], position)?;
        i = end + 1;
    }
    Ok(())
}

/// A reference in an attribute value: unknown entities are plain
/// well-formedness errors there.
fn attribute_reference(name: &str, position: u64) -> Result<char, ModelError> {
    resolve_reference(name, position).map_err(|e| match e {
        ModelError::UndeclaredEntity { name, .. } => ModelError::not_well_formed(
            position,
            format!("unrecognized entity &{name}; in an attribute value"),
        ),
        other => other,
    })
}

fn unclosed_reference(position: u64) -> ModelError {
    ModelError::not_well_formed(position, "unclosed reference: `&` without `;`")
}

/// Walks the attributes of a tag (`raw` is what follows the element name),
/// checking their syntax, duplicates, count and references, and hands each
/// key and raw (unnormalized) value to `f`. `keys` is scratch space for the
/// duplicate check. Attributes need no white space between them (as in
/// quick-xml, which this parser replaced). References are checked only if
/// `check_references` (not in the XML declaration, as quick-xml).
pub(super) fn attributes<'a>(
    raw: &'a str,
    position: u64,
    max_attributes: usize,
    check_references: bool,
    keys: &mut Vec<&'a str>,
    mut f: impl FnMut(&'a str, &'a str) -> Result<(), ModelError>,
) -> Result<(), ModelError> {
    keys.clear();
    let bytes = raw.as_bytes();
    let bad = |message: &str| ModelError::not_well_formed(position, message);
    let mut i = 0;
    loop {
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        if i == bytes.len() {
            return Ok(());
        }
        if keys.len() >= max_attributes {
            return Err(ModelError::TooManyAttributes {
                limit: max_attributes,
                position,
            });
        }
        let key_start = i;
        while i < bytes.len() && bytes[i] != b'=' && !is_space(bytes[i]) {
            i += 1;
        }
        let key = &raw[key_start..i];
        if key.is_empty() {
            return Err(bad("attribute without a name"));
        }
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            return Err(ModelError::not_well_formed(
                position,
                format!("attribute {:?} without a value", clip(key)),
            ));
        }
        i += 1;
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        let quote = match bytes.get(i) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return Err(bad("attribute value not in quotes")),
        };
        let value_start = i + 1;
        let value_end = value_start
            + find_byte(quote, &bytes[value_start..])
                .ok_or_else(|| bad("unclosed attribute value"))?;
        let value = &raw[value_start..value_end];
        i = value_end + 1;
        if keys.contains(&key) {
            return Err(ModelError::not_well_formed(
                position,
                format!("duplicate attribute {:?}", clip(key)),
            ));
        }
        keys.push(key);
        if check_references && find_byte(b'&', value.as_bytes()).is_some() {
            check_attribute_references(value, position)?;
        }
        f(key, value)?;
    }
}

/// A namespace an element or attribute name resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Namespace<'a> {
    /// The namespace URI as written in its declaration.
    pub(super) uri: &'a str,
    /// Whether it is the EML common namespace (decided once per binding, not
    /// per element: every reference-like element is looked up by it).
    pub(super) common: bool,
}

/// What a prefix resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resolved<'a> {
    /// A namespace.
    Bound(Namespace<'a>),
    /// No namespace (an unprefixed name without a default namespace).
    Unbound,
    /// A prefix that no binding in scope declares.
    Unknown(&'a str),
}

/// One `xmlns` / `xmlns:prefix` declaration in scope.
#[derive(Debug)]
struct Binding<'a> {
    /// `None`: the default namespace.
    prefix: Option<&'a str>,
    /// The prefix packed into an integer when it has at most 8 bytes
    /// ([`pack`]), so that lookups compare one word.
    packed: Option<u64>,
    /// The namespace; empty undeclares.
    namespace: Namespace<'a>,
}

/// A prefix of at most 8 bytes as one integer (zero-padded; the input has no
/// NUL, so padding cannot collide with a byte of a prefix).
#[inline]
fn pack(prefix: &str) -> Option<u64> {
    let bytes = prefix.as_bytes();
    if bytes.len() > 8 {
        return None;
    }
    let mut word = [0u8; 8];
    word[..bytes.len()].copy_from_slice(bytes);
    Some(u64::from_le_bytes(word))
}

/// The namespace bindings in scope, innermost last. Values are the raw
/// attribute values (namespace URIs are compared as written).
#[derive(Debug, Default)]
pub(super) struct Namespaces<'a> {
    bindings: Vec<Binding<'a>>,
}

impl<'a> Namespaces<'a> {
    /// How many bindings are in scope (to restore when an element ends).
    pub(super) fn mark(&self) -> usize {
        self.bindings.len()
    }

    /// Ends the scope of the bindings declared after `mark`.
    pub(super) fn restore(&mut self, mark: usize) {
        self.bindings.truncate(mark);
    }

    /// Applies an `xmlns` / `xmlns:prefix` attribute (other keys are ignored).
    pub(super) fn declare(
        &mut self,
        key: &'a str,
        value: &'a str,
        position: u64,
    ) -> Result<(), ModelError> {
        let prefix = match key.strip_prefix("xmlns") {
            Some("") => None,
            Some(rest) => match rest.strip_prefix(':') {
                Some(prefix) => Some(prefix),
                None => return Ok(()),
            },
            None => return Ok(()),
        };
        let bad = |message: String| Err(ModelError::not_well_formed(position, message));
        match prefix {
            Some("") => return bad("empty namespace prefix in `xmlns:`".into()),
            Some("xml") if value == XML_NS => return Ok(()),
            Some("xml") => return bad("the namespace prefix xml cannot be rebound".into()),
            Some("xmlns") => return bad("the namespace prefix xmlns cannot be declared".into()),
            Some(p) if value == XML_NS || value == XMLNS_NS => {
                return bad(format!(
                    "the namespace prefix {:?} cannot be bound to a reserved namespace",
                    clip(p)
                ));
            }
            _ => {}
        }
        if self.bindings.len() >= MAX_NAMESPACE_BINDINGS {
            return bad(format!(
                "more than {MAX_NAMESPACE_BINDINGS} namespace bindings in scope"
            ));
        }
        self.bindings.push(Binding {
            prefix,
            packed: prefix.and_then(pack),
            namespace: Namespace {
                uri: value,
                common: value == NS_COMMON,
            },
        });
        Ok(())
    }

    /// The namespace of `prefix` (`None`: the default namespace).
    fn resolve_prefix(&self, prefix: Option<&'a str>) -> Resolved<'a> {
        let found = match prefix {
            None => self.bindings.iter().rev().find(|b| b.prefix.is_none()),
            Some("xml") => return Resolved::Bound(builtin(XML_NS)),
            Some("xmlns") => return Resolved::Bound(builtin(XMLNS_NS)),
            Some(p) => match pack(p) {
                Some(packed) => self
                    .bindings
                    .iter()
                    .rev()
                    .find(|b| b.packed == Some(packed)),
                None => self.bindings.iter().rev().find(|b| b.prefix == Some(p)),
            },
        };
        match found {
            Some(b) if !b.namespace.uri.is_empty() => Resolved::Bound(b.namespace),
            _ => match prefix {
                Some(p) => Resolved::Unknown(p),
                None => Resolved::Unbound,
            },
        }
    }

    /// The namespace and local name of an element name (unprefixed names are
    /// in the default namespace).
    pub(super) fn resolve_element(&self, qname: &'a str) -> (Resolved<'a>, &'a str) {
        let (prefix, local) = split_qname(qname);
        (self.resolve_prefix(prefix), local)
    }

    /// The namespace and local name of an attribute name (unprefixed
    /// attributes are in no namespace).
    pub(super) fn resolve_attribute(&self, qname: &'a str) -> (Resolved<'a>, &'a str) {
        match split_qname(qname) {
            (Some(prefix), local) => (self.resolve_prefix(Some(prefix)), local),
            (None, local) => (Resolved::Unbound, local),
        }
    }
}

fn builtin(uri: &'static str) -> Namespace<'static> {
    Namespace { uri, common: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time searches against a byte loop, with the needle at
    /// every offset of haystacks around the word and `SHORT` boundaries,
    /// among bytes that differ from a needle by one bit or one unit (the
    /// neighbours a borrow in the word arithmetic could confuse with it).
    #[test]
    fn short_searches_match_a_byte_loop() {
        let needles = [b'<', b'&', b'>', b'"', b'\'', b' ', b'\n', b'\t', b'\r'];
        let mut fillers = vec![b'a', b'0', 0x01, 0x7f, 0x80, 0xff];
        for n in needles {
            fillers.extend([n ^ 1, n.wrapping_add(1), n.wrapping_sub(1), n | 0x80]);
        }
        fillers.retain(|f| !needles.contains(f));
        let naive = |hay: &[u8], set: &[u8]| hay.iter().position(|b| set.contains(b));
        for len in 0..80 {
            for (k, &filler) in fillers.iter().enumerate() {
                let base: Vec<u8> = (0..len)
                    .map(|i| {
                        if i % 3 == 0 {
                            fillers[(k + i) % fillers.len()]
                        } else {
                            filler
                        }
                    })
                    .collect();
                for at in (0..len).map(Some).chain([None]) {
                    for &n in &needles {
                        let mut hay = base.clone();
                        if let Some(at) = at {
                            hay[at] = n;
                            // A second needle after the first must not win.
                            if at + 1 < len {
                                hay[at + 1] = n;
                            }
                        }
                        assert_eq!(find_byte(n, &hay), naive(&hay, &[n]), "{hay:?}");
                        assert_eq!(find_markup(&hay), naive(&hay, b"<&"), "{hay:?}");
                        assert_eq!(find_tag_byte(&hay), naive(&hay, b">\"'"), "{hay:?}");
                        assert_eq!(find_space(&hay), naive(&hay, b" \n\t\r"), "{hay:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn tag_end_skips_quoted_greater_than() {
        let b = br#"<a x="1>2" y='>'>rest"#;
        assert_eq!(tag_end(b, 1), Some(16));
        assert_eq!(tag_end(br#"<a x="1>"#, 1), None);
        assert_eq!(tag_end(b"<a", 1), None);
    }

    #[test]
    fn short_and_long_searches() {
        let long = format!("{}<x", "1".repeat(100));
        assert_eq!(find_markup(long.as_bytes()), Some(100));
        assert_eq!(find_markup(b"12&"), Some(2));
        assert_eq!(find_markup(b"123"), None);
        assert_eq!(find_markup(&long.as_bytes()[..100]), None);
        assert_eq!(find_byte(b'"', long.as_bytes()), None);
        assert_eq!(find_byte(b'x', long.as_bytes()), Some(101));
        assert_eq!(find_byte(b'x', b""), None);
        assert_eq!(split_qname("a:b:c"), (Some("a"), "b:c"));
        assert_eq!(split_qname("b"), (None, "b"));
    }

    #[test]
    fn references() {
        assert_eq!(resolve_reference("amp", 0), Ok('&'));
        assert_eq!(resolve_reference("#x41", 0), Ok('A'));
        assert_eq!(resolve_reference("#65", 0), Ok('A'));
        for bad in [
            "#0", "#x", "#", "#+65", "#x110000", "#xD800", "#1", "#xFFFE", "#X41",
        ] {
            assert!(
                matches!(
                    resolve_reference(bad, 3),
                    Err(ModelError::NotWellFormed { position: 3, .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            resolve_reference("nbsp", 3),
            Err(ModelError::UndeclaredEntity { .. })
        ));
    }

    #[test]
    fn text_line_ends_are_normalized() {
        let mut s = String::new();
        push_text(&mut s, "a\r\nb\rc\n\r");
        assert_eq!(s, "a\nb\nc\n\n");
    }

    #[test]
    fn attribute_values_are_normalized() {
        assert!(matches!(
            attribute_value("plain", 0),
            Ok(Cow::Borrowed("plain"))
        ));
        assert_eq!(
            attribute_value("a\r\nb\tc&amp;&#x41;", 0).unwrap(),
            "a b c&A"
        );
        assert!(attribute_value("a&b", 0).is_err());
        assert!(attribute_value("&bogus;", 0).is_err());
    }

    #[test]
    fn attribute_syntax() {
        let mut keys = Vec::new();
        let mut seen = Vec::new();
        attributes(
            r#" a="1"b='2'  c = "x>y" "#,
            0,
            64,
            true,
            &mut keys,
            |k, v| {
                seen.push((k, v));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, [("a", "1"), ("b", "2"), ("c", "x>y")]);
        for bad in [
            " a",
            " a=1",
            r#" a="1" a="2""#,
            r#" a="1"#,
            r#" a="&x;""#,
            " =",
        ] {
            assert!(
                attributes(bad, 0, 64, true, &mut keys, |_, _| Ok(())).is_err(),
                "{bad}"
            );
        }
        assert!(matches!(
            attributes(r#" a="1" b="2""#, 0, 1, true, &mut keys, |_, _| Ok(())),
            Err(ModelError::TooManyAttributes { limit: 1, .. })
        ));
    }

    #[test]
    fn namespace_scopes() {
        let mut ns = Namespaces::default();
        ns.declare("xmlns:a", "urn:a", 0).unwrap();
        ns.declare("xmlns", "urn:d", 0).unwrap();
        let mark = ns.mark();
        ns.declare("xmlns:a", "urn:a2", 0).unwrap();
        ns.declare("xmlns", "", 0).unwrap();
        let bound = |uri| Resolved::Bound(Namespace { uri, common: false });
        assert_eq!(ns.resolve_element("a:x"), (bound("urn:a2"), "x"));
        assert_eq!(ns.resolve_element("x"), (Resolved::Unbound, "x"));
        assert_eq!(ns.resolve_attribute("x"), (Resolved::Unbound, "x"));
        assert_eq!(ns.resolve_element("b:x"), (Resolved::Unknown("b"), "x"));
        assert_eq!(ns.resolve_element("xml:x"), (bound(XML_NS), "x"));
        ns.restore(mark);
        assert_eq!(ns.resolve_element("a:x"), (bound("urn:a"), "x"));
        assert_eq!(ns.resolve_element("x"), (bound("urn:d"), "x"));
        ns.declare("xmlns:a_long_prefix", NS_COMMON, 0).unwrap();
        assert_eq!(
            ns.resolve_element("a_long_prefix:x").0,
            Resolved::Bound(Namespace {
                uri: NS_COMMON,
                common: true
            })
        );
        assert_eq!(
            ns.resolve_element("a_long_prefi:x").0,
            Resolved::Unknown("a_long_prefi")
        );
        assert!(ns.declare("xmlns:xml", "urn:other", 0).is_err());
        assert!(ns.declare("xmlns:xml", XML_NS, 0).is_ok());
        assert!(ns.declare("xmlns:xmlns", "urn:x", 0).is_err());
        assert!(ns.declare("xmlns:p", XMLNS_NS, 0).is_err());
        assert!(ns.declare("xmlnsfoo", "urn:x", 0).is_ok());
        assert!(ns.declare("xmlns:", "urn:x", 0).is_err());
        assert_eq!(ns.mark(), mark + 1);
    }
}
