//! UUID text handling.

/// The nil UUID in canonical form.
pub const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// Validates a UUID in the 8-4-4-4-12 hexadecimal form (either case,
/// surrounding XML whitespace ignored) and returns it in canonical lowercase
/// form. Braces, `urn:uuid:` prefixes and the 32-digit form are rejected, as
/// the Energistics `UuidString` pattern does.
pub fn canonical_uuid(s: &str) -> Option<String> {
    let s = s.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n' | '\r'));
    let b = s.as_bytes();
    if b.len() != 36 {
        return None;
    }
    for (i, &c) in b.iter().enumerate() {
        let ok = match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        };
        if !ok {
            return None;
        }
    }
    Some(s.to_ascii_lowercase())
}

/// Whether `a` and `b` are the same UUID text ignoring ASCII case.
pub fn uuid_eq(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical() {
        assert_eq!(
            canonical_uuid(" A05E8CB9-F948-4891-85C8-64EABDE770E8\n").as_deref(),
            Some("a05e8cb9-f948-4891-85c8-64eabde770e8")
        );
        assert!(canonical_uuid("a05e8cb9f948489185c864eabde770e8").is_none());
        assert!(canonical_uuid("{a05e8cb9-f948-4891-85c8-64eabde770e8}").is_none());
        assert!(canonical_uuid("a05e8cb9-f948-4891-85c8-64eabde770eg").is_none());
        assert!(canonical_uuid("a05e8cb9-f948-4891-85c8_64eabde770e8").is_none());
        assert!(canonical_uuid("").is_none());
    }
}
