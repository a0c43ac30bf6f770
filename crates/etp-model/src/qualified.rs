//! Energistics families, XML namespaces, qualified types and content types.
//!
//! An ETP 1.2 *qualified type* is `<family><vv>.<type>`, e.g.
//! `resqml20.obj_Grid2dRepresentation`, `eml23.EpcExternalPartReference`,
//! `witsml21.Well`. A *content type* (Energistics Identifier spec, EPC,
//! RESQML 2.0.1 / EML 2.1 references) is
//! `application/x-<family>+xml;version=<version>;type=<type>`.

use std::fmt;

/// Namespace of the Energistics common (EML) schemas, shared by EML 2.0, 2.1,
/// 2.2 and 2.3.
pub const NS_COMMON: &str = "http://www.energistics.org/energyml/data/commonv2";
/// Namespace of RESQML 2.x, shared by RESQML 2.0.1 and 2.2.
pub const NS_RESQML: &str = "http://www.energistics.org/energyml/data/resqmlv2";
/// Namespace of WITSML 2.x, shared by WITSML 2.0 and 2.1.
pub const NS_WITSML: &str = "http://www.energistics.org/energyml/data/witsmlv2";
/// Namespace of PRODML 2.x, shared by PRODML 2.0, 2.1 and 2.2.
pub const NS_PRODML: &str = "http://www.energistics.org/energyml/data/prodmlv2";
/// The XML Schema instance namespace (for `xsi:type`).
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// An Energistics ML family, as it appears in ETP qualified types and URIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Energistics common (`eml`).
    Eml,
    /// RESQML (`resqml`).
    Resqml,
    /// WITSML (`witsml`).
    Witsml,
    /// PRODML (`prodml`).
    Prodml,
}

impl Family {
    /// The lowercase family name used in qualified types (`eml`, `resqml`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Family::Eml => "eml",
            Family::Resqml => "resqml",
            Family::Witsml => "witsml",
            Family::Prodml => "prodml",
        }
    }

    /// Parses a family name, ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<Family> {
        [Family::Eml, Family::Resqml, Family::Witsml, Family::Prodml]
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(name))
    }

    /// The family whose 2.x schemas use the XML namespace `ns`, if any.
    pub fn from_namespace(ns: &str) -> Option<Family> {
        match ns {
            NS_COMMON => Some(Family::Eml),
            NS_RESQML => Some(Family::Resqml),
            NS_WITSML => Some(Family::Witsml),
            NS_PRODML => Some(Family::Prodml),
            _ => None,
        }
    }

    /// The two-digit version assumed when a root element carries no
    /// `schemaVersion` attribute and no `obj_` marker: the newest version of
    /// the family that ETP 1.2 clients use (eml23, resqml22, witsml21,
    /// prodml22).
    pub const fn latest_version(self) -> u8 {
        match self {
            Family::Eml => 23,
            Family::Resqml => 22,
            Family::Witsml => 21,
            Family::Prodml => 22,
        }
    }

    /// Whether data object type names of this family at this two-digit
    /// version carry the `obj_` prefix (only RESQML 2.0.1 and EML 2.0).
    pub const fn uses_obj_prefix(self, version: u8) -> bool {
        matches!((self, version), (Family::Resqml, 20) | (Family::Eml, 20))
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `s` is a non-empty run of ASCII letters, digits and `_` (the
/// `\w+` of the ETP URI grammar, restricted to ASCII).
pub(crate) fn is_word(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Parses a version string such as `2.0`, `2.0.1`, `2.1`, `1.4.1.1` into
/// the two-digit ETP version (`20`, `20`, `21`, `14`).
///
/// The major and minor parts must each be a single digit, the major one
/// 1–9; further dot-separated numeric parts are allowed and ignored.
pub fn version_to_two_digits(version: &str) -> Option<u8> {
    let mut parts = version.split('.');
    let major = parts.next()?;
    let minor = parts.next()?;
    let (&[ma], &[mi]) = (major.as_bytes(), minor.as_bytes()) else {
        return None;
    };
    if !(b'1'..=b'9').contains(&ma) || !mi.is_ascii_digit() {
        return None;
    }
    if parts.any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    Some((ma - b'0') * 10 + (mi - b'0'))
}

/// Builds `<family><vv>.<type>`, adding the `obj_` prefix for RESQML 2.0.1 /
/// EML 2.0 names that lack it. Returns `None` if `type_name` is not `\w+`.
pub(crate) fn build_qualified_type(family: Family, version: u8, type_name: &str) -> Option<String> {
    if !is_word(type_name) || !(10..=99).contains(&version) {
        return None;
    }
    let prefix = if family.uses_obj_prefix(version) && !type_name.starts_with("obj_") {
        "obj_"
    } else {
        ""
    };
    Some(format!(
        "{}{}.{}{}",
        family.as_str(),
        version,
        prefix,
        type_name
    ))
}

/// A parsed qualified type (borrowing its type name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QualifiedTypeParts<'a> {
    /// The family.
    pub family: Family,
    /// The two-digit version (`20`, `21`, `22`, `23`, ...).
    pub version: u8,
    /// The type name, e.g. `obj_LocalDepth3dCrs` or `Well`.
    pub type_name: &'a str,
}

/// Splits a qualified type `<family><vv>.<type>` into its parts. The family
/// is matched ignoring ASCII case; `<vv>` must be two digits, the first 1–9;
/// `<type>` must be `\w+` (ASCII). No `obj_` normalization is applied.
pub fn split_qualified_type(s: &str) -> Option<QualifiedTypeParts<'_>> {
    let (prefix, type_name) = s.split_once('.')?;
    if prefix.len() < 3 || !is_word(type_name) {
        return None;
    }
    let (fam, vv) = prefix.split_at_checked(prefix.len() - 2)?;
    let family = Family::from_name(fam)?;
    let &[a, b] = vv.as_bytes() else {
        return None;
    };
    if !(b'1'..=b'9').contains(&a) || !b.is_ascii_digit() {
        return None;
    }
    Some(QualifiedTypeParts {
        family,
        version: (a - b'0') * 10 + (b - b'0'),
        type_name,
    })
}

/// Normalizes a qualified type as ETP writes it: lowercase family, and the
/// `obj_` prefix for `resqml20` / `eml20` types that lack it
/// (`RESQML20.LocalDepth3dCrs` → `resqml20.obj_LocalDepth3dCrs`).
/// Surrounding whitespace is ignored. Returns `None` if `s` is not a
/// qualified type.
pub fn normalize_qualified_type(s: &str) -> Option<String> {
    let p = split_qualified_type(s.trim())?;
    build_qualified_type(p.family, p.version, p.type_name)
}

/// Converts an Energistics content type to an ETP qualified type.
///
/// Accepted forms (spaces around `;` and `=` allowed, parameter names and
/// the media type matched ignoring ASCII case, parameter values optionally
/// double-quoted):
///
/// - `application/x-resqml+xml;version=2.0;type=obj_LocalDepth3dCrs` →
///   `resqml20.obj_LocalDepth3dCrs` (also `version=2.0.1`);
/// - `application/x-eml+xml;version=2.0;type=obj_EpcExternalPartReference`
///   → `eml20.obj_EpcExternalPartReference`;
/// - `application/x-witsml+xml;version=2.1;type=Well` → `witsml21.Well`;
/// - a `type` that is already qualified (`type=witsml21.Well`) if its
///   prefix agrees with the family and version;
/// - a bare qualified type (`eml23.LocalEngineeringCompoundCrs`, as written
///   in EML 2.3 `QualifiedType` elements), normalized with
///   [`normalize_qualified_type`].
///
/// The family must be `eml`, `resqml`, `witsml` or `prodml`; unknown
/// parameters are ignored; a missing or repeated `version` / `type`
/// parameter gives `None`.
pub fn content_type_to_qualified_type(content_type: &str) -> Option<String> {
    let s = content_type.trim();
    if !s.contains('/') {
        return normalize_qualified_type(s);
    }
    let mut params = s.split(';');
    let media = params.next()?.trim();
    let (top, sub) = media.split_once('/')?;
    if !top.trim().eq_ignore_ascii_case("application") {
        return None;
    }
    let sub = sub.trim();
    let fam = sub
        .get(..2)
        .filter(|p| p.eq_ignore_ascii_case("x-"))
        .and_then(|_| sub.get(2..))
        .and_then(|rest| {
            let cut = rest.len().checked_sub(4)?;
            let (name, suffix) = rest.split_at_checked(cut)?;
            suffix.eq_ignore_ascii_case("+xml").then_some(name)
        })?;
    let family = Family::from_name(fam)?;

    let mut version: Option<&str> = None;
    let mut type_name: Option<&str> = None;
    for param in params {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let (name, value) = param.split_once('=')?;
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        let slot = match name.trim() {
            n if n.eq_ignore_ascii_case("version") => &mut version,
            n if n.eq_ignore_ascii_case("type") => &mut type_name,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return None;
        }
    }
    let vv = version_to_two_digits(version?)?;
    let type_name = type_name?;
    if type_name.contains('.') {
        let p = split_qualified_type(type_name)?;
        if p.family != family || p.version != vv {
            return None;
        }
        return build_qualified_type(family, vv, p.type_name);
    }
    build_qualified_type(family, vv, type_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(version_to_two_digits("2.0"), Some(20));
        assert_eq!(version_to_two_digits("2.0.1"), Some(20));
        assert_eq!(version_to_two_digits("1.4.1.1"), Some(14));
        assert_eq!(version_to_two_digits("2.3"), Some(23));
        assert_eq!(version_to_two_digits("2"), None);
        assert_eq!(version_to_two_digits("0.1"), None);
        assert_eq!(version_to_two_digits("2.10"), None);
        assert_eq!(version_to_two_digits("2.0."), None);
        assert_eq!(version_to_two_digits("2.0.x"), None);
        assert_eq!(version_to_two_digits("v2.0"), None);
    }

    #[test]
    fn split() {
        let p = split_qualified_type("WITSML21.Well").expect("valid");
        assert_eq!(p.family, Family::Witsml);
        assert_eq!(p.version, 21);
        assert_eq!(p.type_name, "Well");
        assert!(split_qualified_type("witsml2.Well").is_none());
        assert!(split_qualified_type("witsml01.Well").is_none());
        assert!(split_qualified_type("osdu21.Well").is_none());
        assert!(split_qualified_type("witsml21.").is_none());
        assert!(split_qualified_type("witsml21.*").is_none());
        assert!(split_qualified_type("21.Well").is_none());
        assert!(split_qualified_type("é21.Well").is_none());
    }
}
