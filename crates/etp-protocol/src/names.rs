//! Names of data object types: Energistics ML families and versions, ETP 1.2
//! qualified types (`resqml20.obj_Grid2dRepresentation`, `witsml21.*`) and the
//! older content types (`application/x-resqml+xml;version=2.0;type=obj_...`)
//! that RESQML 2.0.1 / WITSML 2.0 references and EPC packages still use.
//!
//! Both notations name the same thing, so a store has to convert between them
//! when it reads references inside XML and when it compares a request's type
//! filter with stored objects. Everything here is pure string handling and
//! never panics on hostile input.
//!
//! Case rules (03-uris-and-objects.md §1 and §3):
//! - the family and the media type are case-insensitive on input and always
//!   written in lowercase;
//! - the type name is kept verbatim. Equality (`==`, `Hash`) compares it
//!   exactly, because that is what a canonical storage key needs;
//!   [`QualifiedType::matches`] compares it ignoring ASCII case, like the
//!   ETP DevKit (the notes leave this open; matching is "lenient in").

use std::fmt;
use std::str::FromStr;

/// An Energistics markup language (ML) family, the `<family>` part of a
/// qualified type. Only the four families of the ETP 1.2 URI grammar exist;
/// anything else is rejected because no client we target can use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MlFamily {
    /// Energistics common (`eml`): CRSs, EPC external part references, activities.
    Eml,
    /// RESQML (`resqml`): reservoir models.
    Resqml,
    /// WITSML (`witsml`): wells, wellbores, logs.
    Witsml,
    /// PRODML (`prodml`): production data.
    Prodml,
}

impl MlFamily {
    /// Every family, for callers that enumerate them (building the server's
    /// `supportedDataObjects`, recognising a family name).
    pub const ALL: [MlFamily; 4] = [
        MlFamily::Eml,
        MlFamily::Resqml,
        MlFamily::Witsml,
        MlFamily::Prodml,
    ];

    /// The lowercase spelling used in qualified types, URIs and content types.
    pub const fn as_str(self) -> &'static str {
        match self {
            MlFamily::Eml => "eml",
            MlFamily::Resqml => "resqml",
            MlFamily::Witsml => "witsml",
            MlFamily::Prodml => "prodml",
        }
    }

    /// Recognises a family name in any ASCII case, because producers are not
    /// consistent about it and the notes compare families case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        MlFamily::ALL
            .into_iter()
            .find(|family| family.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for MlFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MlFamily {
    type Err = NameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        MlFamily::from_name(text).ok_or_else(|| NameError::UnknownFamily(excerpt(text)))
    }
}

/// The two-digit ML version of a qualified type (`20` in `resqml20`): the
/// first digit of the major version followed by the first digit of the minor
/// version. Always in `10..=99`, as the URI grammar's `[1-9]\d` requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MlVersion(u8);

impl MlVersion {
    /// Builds a version from its two-digit number; `None` outside `10..=99`
    /// so that an invalid version can never be formatted.
    pub const fn from_two_digits(two_digits: u8) -> Option<Self> {
        if two_digits >= 10 && two_digits <= 99 {
            Some(MlVersion(two_digits))
        } else {
            None
        }
    }

    /// The two-digit number (`20` for RESQML 2.0.1).
    pub const fn two_digits(self) -> u8 {
        self.0
    }

    /// The major version digit (`2` for `20`).
    pub const fn major(self) -> u8 {
        self.0 / 10
    }

    /// The minor version digit (`0` for `20`).
    pub const fn minor(self) -> u8 {
        self.0 % 10
    }

    /// Parses the two-digit text of a qualified type (`"20"`); rejects a
    /// leading zero, signs and anything but exactly two ASCII digits.
    pub fn from_two_digit_text(text: &str) -> Option<Self> {
        let mut digits = text.chars();
        let major = digits.next()?.to_digit(10)?;
        let minor = digits.next()?.to_digit(10)?;
        if digits.next().is_some() || major == 0 {
            return None;
        }
        MlVersion::from_two_digits(u8::try_from(major * 10 + minor).ok()?)
    }

    /// Derives the two-digit version from a dotted ML version as written in
    /// content types (`"2.0"`, `"2.0.1"`, `"1.4.1.1"` → 20, 20, 14).
    ///
    /// The first two components must be single digits (major 1–9); further
    /// components may be any digits. `"2"` or `"2.10"` are rejected rather
    /// than guessed.
    pub fn from_dotted(version: &str) -> Option<Self> {
        let mut components = version.split('.');
        let major = components.next()?;
        let minor = components.next()?;
        if major.len() != 1 || minor.len() != 1 {
            return None;
        }
        if !components.all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        let mut two_digit_text = String::with_capacity(2);
        two_digit_text.push_str(major);
        two_digit_text.push_str(minor);
        MlVersion::from_two_digit_text(&two_digit_text)
    }

    /// `major.minor`, the generic dotted version used in content types for
    /// versions that [`KNOWN_ML_VERSIONS`] does not list.
    pub fn generic_dotted(self) -> String {
        format!("{}.{}", self.major(), self.minor())
    }
}

impl fmt::Display for MlVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One ML release that the Energistics tools know, with the version strings
/// needed to convert between qualified types and content types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownMlVersion {
    /// The family.
    pub family: MlFamily,
    /// The two-digit version of qualified types.
    pub version: MlVersion,
    /// The full release number (`2.0.1` for RESQML 2.0.1).
    pub release: &'static str,
    /// What we write after `version=` in a content type. For RESQML 2.0.1 we
    /// write `2.0`, as the RESQML 2.0.1 standard, fesapi and open-etp-client
    /// do; pyetp writes `2.0.1`. Every reader we know accepts both.
    pub content_type_version: &'static str,
}

const fn known(
    family: MlFamily,
    two_digits: u8,
    release: &'static str,
    content_type_version: &'static str,
) -> KnownMlVersion {
    KnownMlVersion {
        family,
        version: MlVersion(two_digits),
        release,
        content_type_version,
    }
}

/// The ML releases of the version table in 03-uris-and-objects.md §3 (taken
/// from the ETP DevKit). Other two-digit versions are syntactically valid but
/// unknown; a store answers `EDATAOBJECTTYPE_NOTSUPPORTED` for them.
pub const KNOWN_ML_VERSIONS: [KnownMlVersion; 12] = [
    known(MlFamily::Eml, 20, "2.0", "2.0"),
    known(MlFamily::Eml, 21, "2.1", "2.1"),
    known(MlFamily::Eml, 22, "2.2", "2.2"),
    known(MlFamily::Eml, 23, "2.3", "2.3"),
    known(MlFamily::Resqml, 20, "2.0.1", "2.0"),
    known(MlFamily::Resqml, 22, "2.2", "2.2"),
    known(MlFamily::Witsml, 14, "1.4.1.1", "1.4.1.1"),
    known(MlFamily::Witsml, 20, "2.0", "2.0"),
    known(MlFamily::Witsml, 21, "2.1", "2.1"),
    known(MlFamily::Prodml, 20, "2.0", "2.0"),
    known(MlFamily::Prodml, 21, "2.1", "2.1"),
    known(MlFamily::Prodml, 22, "2.2", "2.2"),
];

/// Looks up a release in [`KNOWN_ML_VERSIONS`].
pub fn known_ml_version(family: MlFamily, version: MlVersion) -> Option<&'static KnownMlVersion> {
    KNOWN_ML_VERSIONS
        .iter()
        .find(|known| known.family == family && known.version == version)
}

/// The only qualified-type prefixes pyetp's OpenSession decoder accepts in
/// `SupportedDataObject.qualifiedType` (01-core.md §3); any other prefix kills
/// the client.
pub const PYETP_QUALIFIED_TYPE_PREFIXES: [&str; 6] = [
    "eml20.",
    "resqml20.",
    "resqml22.",
    "eml23.",
    "witsml21.",
    "prodml22.",
];

/// Why a qualified type or content type was rejected. Carries a bounded
/// excerpt of the offending text so that error messages stay readable even for
/// hostile input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Nothing to parse.
    #[error("the data object type is empty")]
    Empty,
    /// The family is not `eml`, `resqml`, `witsml` or `prodml`.
    #[error("unknown ML family in `{0}`: expected eml, resqml, witsml or prodml")]
    UnknownFamily(String),
    /// The version after the family is not two digits `[1-9][0-9]`, or a
    /// content type's `version=` is not a dotted version like `2.0.1`.
    #[error("invalid ML version in `{0}`")]
    InvalidVersion(String),
    /// The type name is not made of ASCII letters, digits and `_`.
    #[error("invalid data object type name `{0}`: only ASCII letters, digits and `_` are allowed")]
    InvalidTypeName(String),
    /// A wildcard (`family##.*`, `family##.` or `family##`) where one concrete
    /// type is required, e.g. in a URI.
    #[error("`{0}` is a wildcard; a concrete data object type is required here")]
    WildcardNotAllowed(String),
    /// A content type that is not `application/x-<family>+xml`.
    #[error(
        "`{0}` is not an Energistics content type (application/x-<family>+xml;version=...;type=...)"
    )]
    NotAContentType(String),
    /// A content type parameter without `=`.
    #[error("malformed content type parameter `{0}`")]
    MalformedParameter(String),
    /// A content type parameter given twice.
    #[error("content type parameter `{0}` appears twice")]
    DuplicateParameter(String),
    /// A content type without `version=`.
    #[error("content type `{0}` has no version parameter")]
    MissingVersion(String),
}

/// Longest excerpt of hostile input copied into an error message.
const EXCERPT_CHARS: usize = 80;

/// Copies at most [`EXCERPT_CHARS`] characters of `text` for an error message,
/// so that a megabyte of garbage does not become a megabyte of error text.
pub(crate) fn excerpt(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// True for the characters of a type name: the ASCII subset of regex `\w`.
fn is_type_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn validate_type_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() || !name.chars().all(is_type_name_char) {
        return Err(NameError::InvalidTypeName(excerpt(name)));
    }
    Ok(())
}

/// Splits `resqml20` into family and version.
fn parse_family_and_version(prefix: &str, whole: &str) -> Result<(MlFamily, MlVersion), NameError> {
    let digits_start = prefix
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(prefix.len());
    let (family_text, version_text) = prefix
        .split_at_checked(digits_start)
        .ok_or_else(|| NameError::UnknownFamily(excerpt(whole)))?;
    let family =
        MlFamily::from_name(family_text).ok_or_else(|| NameError::UnknownFamily(excerpt(whole)))?;
    let version = MlVersion::from_two_digit_text(version_text)
        .ok_or_else(|| NameError::InvalidVersion(excerpt(whole)))?;
    Ok((family, version))
}

/// An ETP 1.2 qualified type (`resqml20.obj_Grid2dRepresentation`) or a
/// wildcard over one ML release (`resqml20.*`).
///
/// Wildcards are accepted in three spellings: `resqml20.*` (standard),
/// `resqml20.` (what pyetp sends) and `resqml20`; they are always written
/// back as `resqml20.*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QualifiedType {
    family: MlFamily,
    version: MlVersion,
    /// `None` for a wildcard.
    object_type: Option<String>,
}

impl QualifiedType {
    /// A concrete type; fails if `object_type` is not a valid type name (which
    /// also rules out `*`; use [`QualifiedType::wildcard`] for that).
    pub fn new(family: MlFamily, version: MlVersion, object_type: &str) -> Result<Self, NameError> {
        validate_type_name(object_type)?;
        Ok(QualifiedType {
            family,
            version,
            object_type: Some(object_type.to_owned()),
        })
    }

    /// The wildcard matching every type of one ML release (`resqml20.*`).
    pub const fn wildcard(family: MlFamily, version: MlVersion) -> Self {
        QualifiedType {
            family,
            version,
            object_type: None,
        }
    }

    /// Parses a qualified type or a wildcard, as found in
    /// `SupportedDataObject.qualifiedType` and `dataObjectTypes` filters.
    /// The family is case-insensitive; the type name is kept verbatim.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        if text.is_empty() {
            return Err(NameError::Empty);
        }
        let (prefix, type_part) = match text.split_once('.') {
            Some((prefix, type_part)) => (prefix, Some(type_part)),
            None => (text, None),
        };
        let (family, version) = parse_family_and_version(prefix, text)?;
        match type_part {
            None | Some("") | Some("*") => Ok(QualifiedType::wildcard(family, version)),
            Some(name) => QualifiedType::new(family, version, name),
        }
    }

    /// Like [`QualifiedType::parse`] but refuses wildcards: URIs and
    /// `SupportedType.dataObjectType` name exactly one type.
    pub fn parse_concrete(text: &str) -> Result<Self, NameError> {
        let parsed = QualifiedType::parse(text)?;
        if parsed.is_wildcard() {
            return Err(NameError::WildcardNotAllowed(excerpt(text)));
        }
        Ok(parsed)
    }

    /// Reads the type of a data object reference from the text of its
    /// `ContentType` or `QualifiedType` element, whichever notation it uses:
    /// a content type (`application/x-resqml+xml;version=2.0;type=obj_X`),
    /// or a qualified type (`resqml20.obj_X`, which some producers write even
    /// inside `ContentType`, and the normal EML 2.2+ `QualifiedType` form).
    /// Surrounding whitespace, common in XML text, is ignored.
    pub fn from_reference_text(text: &str) -> Result<Self, NameError> {
        let trimmed = text.trim();
        let looks_like_media_type = trimmed.contains('/') || trimmed.contains(';');
        if looks_like_media_type {
            Ok(ContentType::parse(trimmed)?.to_qualified_type())
        } else {
            QualifiedType::parse(trimmed)
        }
    }

    /// The ML family.
    pub const fn family(&self) -> MlFamily {
        self.family
    }

    /// The two-digit ML version.
    pub const fn version(&self) -> MlVersion {
        self.version
    }

    /// The type name (`obj_Grid2dRepresentation`), `None` for a wildcard.
    pub fn object_type(&self) -> Option<&str> {
        self.object_type.as_deref()
    }

    /// Whether this names every type of its ML release.
    pub const fn is_wildcard(&self) -> bool {
        self.object_type.is_none()
    }

    /// `resqml20`: the family and version without the type, as used for the
    /// HDF5/EPC and namespace decisions that depend only on the ML release.
    pub fn release_prefix(&self) -> String {
        format!("{}{}", self.family, self.version)
    }

    /// The known ML release this type belongs to, if any.
    pub fn known_release(&self) -> Option<&'static KnownMlVersion> {
        known_ml_version(self.family, self.version)
    }

    /// Whether `self` falls under `pattern`: same family and version, and
    /// either `pattern` is a wildcard or the type names are equal ignoring
    /// ASCII case (the ETP DevKit compares them that way; the specification
    /// is unclear, so we are lenient). A wildcard `self` matches only a
    /// wildcard pattern; use [`QualifiedType::intersection`] to combine two
    /// lists that may both contain wildcards.
    pub fn matches(&self, pattern: &QualifiedType) -> bool {
        if self.family != pattern.family || self.version != pattern.version {
            return false;
        }
        match (&pattern.object_type, &self.object_type) {
            (None, _) => true,
            (Some(wanted), Some(actual)) => wanted.eq_ignore_ascii_case(actual),
            (Some(_), None) => false,
        }
    }

    /// Whether `self` falls under at least one of `patterns`; an empty
    /// pattern list matches nothing (callers decide whether "no filter"
    /// means "everything").
    pub fn matches_any<'a>(&self, patterns: impl IntoIterator<Item = &'a QualifiedType>) -> bool {
        patterns.into_iter().any(|pattern| self.matches(pattern))
    }

    /// The types both `self` and `other` cover, as session negotiation needs
    /// it (01-core.md §4.2): the narrower of the two when one contains the
    /// other, `None` when they are disjoint. For two concrete types differing
    /// only in case, `self` is returned.
    pub fn intersection(&self, other: &QualifiedType) -> Option<QualifiedType> {
        if self.matches(other) {
            Some(self.clone())
        } else if other.matches(self) {
            Some(other.clone())
        } else {
            None
        }
    }

    /// Whether pyetp accepts this type in OpenSession's
    /// `supportedDataObjects` (its prefix is in
    /// [`PYETP_QUALIFIED_TYPE_PREFIXES`]).
    pub fn is_accepted_by_pyetp(&self) -> bool {
        let prefix = self.release_prefix();
        PYETP_QUALIFIED_TYPE_PREFIXES
            .iter()
            .any(|accepted| accepted.strip_suffix('.') == Some(prefix.as_str()))
    }

    /// The equivalent content type. The version written is the release's
    /// [`KnownMlVersion::content_type_version`] (`2.0` for RESQML 2.0.1), or
    /// `major.minor` for unknown releases. A wildcard becomes a content type
    /// without a `type` parameter.
    pub fn to_content_type(&self) -> ContentType {
        let version_text = match self.known_release() {
            Some(known) => known.content_type_version.to_owned(),
            None => self.version.generic_dotted(),
        };
        ContentType {
            family: self.family,
            version: self.version,
            version_text,
            object_type: self.object_type.clone(),
        }
    }
}

impl fmt::Display for QualifiedType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}.{}",
            self.family,
            self.version,
            self.object_type.as_deref().unwrap_or("*")
        )
    }
}

impl FromStr for QualifiedType {
    type Err = NameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        QualifiedType::parse(text)
    }
}

/// An Energistics content type
/// (`application/x-resqml+xml;version=2.0;type=obj_LocalDepth3dCrs`), the
/// pre-ETP-1.2 way of naming a data object type, still used inside RESQML
/// 2.0.1 / WITSML 2.0 references and in EPC packages.
///
/// Parsing is lenient: media type and parameter names in any case, spaces
/// around `;` and `=`, parameters in any order, optional double quotes
/// around values, unknown parameters (such as `charset`) ignored, `type=*`
/// or no `type` for "every type". The version string is kept as written
/// (`2.0` and `2.0.1` both mean `resqml20`) so that the value can be echoed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContentType {
    family: MlFamily,
    version: MlVersion,
    /// The `version=` value as written, already validated.
    version_text: String,
    /// `None` for "every type".
    object_type: Option<String>,
}

impl ContentType {
    /// Builds a content type from its parts; `version` is a dotted version
    /// (`2.0.1`) and `object_type` `None` means every type of the release.
    pub fn new(
        family: MlFamily,
        version: &str,
        object_type: Option<&str>,
    ) -> Result<Self, NameError> {
        let ml_version = MlVersion::from_dotted(version)
            .ok_or_else(|| NameError::InvalidVersion(excerpt(version)))?;
        if let Some(name) = object_type {
            validate_type_name(name)?;
        }
        Ok(ContentType {
            family,
            version: ml_version,
            version_text: version.to_owned(),
            object_type: object_type.map(str::to_owned),
        })
    }

    /// Parses `application/x-<family>+xml;version=<v>[;type=<type>]`.
    ///
    /// Only the MIME notation is accepted here; for the text of a reference
    /// element, which may hold a qualified type instead, use
    /// [`QualifiedType::from_reference_text`].
    pub fn parse(text: &str) -> Result<Self, NameError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(NameError::Empty);
        }
        let mut parts = trimmed.split(';');
        let media_type = parts.next().unwrap_or_default().trim();
        let family = parse_media_type(media_type)
            .ok_or_else(|| NameError::NotAContentType(excerpt(text)))?;

        let mut version_text: Option<&str> = None;
        let mut type_text: Option<&str> = None;
        for parameter in parts.map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = parameter
                .split_once('=')
                .ok_or_else(|| NameError::MalformedParameter(excerpt(parameter)))?;
            let name = name.trim();
            let value = unquote(value.trim());
            let slot = if name.eq_ignore_ascii_case("version") {
                &mut version_text
            } else if name.eq_ignore_ascii_case("type") {
                &mut type_text
            } else {
                continue;
            };
            if slot.replace(value).is_some() {
                return Err(NameError::DuplicateParameter(excerpt(name)));
            }
        }

        let version_text = version_text.ok_or_else(|| NameError::MissingVersion(excerpt(text)))?;
        let object_type = match type_text {
            None | Some("") | Some("*") => None,
            Some(name) => Some(name),
        };
        ContentType::new(family, version_text, object_type)
    }

    /// The ML family (from `x-<family>+xml`).
    pub const fn family(&self) -> MlFamily {
        self.family
    }

    /// The two-digit version derived from the `version=` value.
    pub const fn ml_version(&self) -> MlVersion {
        self.version
    }

    /// The `version=` value exactly as written (`2.0.1`).
    pub fn version_text(&self) -> &str {
        &self.version_text
    }

    /// The type name, `None` when the content type covers every type.
    pub fn object_type(&self) -> Option<&str> {
        self.object_type.as_deref()
    }

    /// The equivalent qualified type: family from the media type, two-digit
    /// version from the first two version digits, type name verbatim.
    pub fn to_qualified_type(&self) -> QualifiedType {
        QualifiedType {
            family: self.family,
            version: self.version,
            object_type: self.object_type.clone(),
        }
    }
}

/// Recognises `application/x-<family>+xml` in any case.
fn parse_media_type(media_type: &str) -> Option<MlFamily> {
    const PREFIX: &str = "application/x-";
    const SUFFIX: &str = "+xml";
    let head = media_type.get(..PREFIX.len())?;
    if !head.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let rest = media_type.get(PREFIX.len()..)?;
    let family_end = rest.len().checked_sub(SUFFIX.len())?;
    let tail = rest.get(family_end..)?;
    if !tail.eq_ignore_ascii_case(SUFFIX) {
        return None;
    }
    MlFamily::from_name(rest.get(..family_end)?)
}

/// Removes one pair of surrounding double quotes (MIME quoted-string).
fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(value)
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "application/x-{}+xml;version={}",
            self.family, self.version_text
        )?;
        if let Some(name) = &self.object_type {
            write!(f, ";type={name}")?;
        }
        Ok(())
    }
}

impl FromStr for ContentType {
    type Err = NameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ContentType::parse(text)
    }
}

impl From<&QualifiedType> for ContentType {
    fn from(qualified_type: &QualifiedType) -> Self {
        qualified_type.to_content_type()
    }
}

impl From<&ContentType> for QualifiedType {
    fn from(content_type: &ContentType) -> Self {
        content_type.to_qualified_type()
    }
}

/// Implements serde as the canonical string, so that these names appear in
/// JSON and configuration files exactly as on the wire.
macro_rules! serde_as_string {
    ($type:ty) => {
        impl serde::Serialize for $type {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text =
                    <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use serde_as_string;

serde_as_string!(QualifiedType);
serde_as_string!(ContentType);
serde_as_string!(MlFamily);

#[cfg(test)]
mod tests {
    use super::*;

    fn v(two_digits: u8) -> MlVersion {
        MlVersion::from_two_digits(two_digits).unwrap()
    }

    fn qt(text: &str) -> QualifiedType {
        QualifiedType::parse(text).unwrap()
    }

    #[test]
    fn family_names_round_trip_and_ignore_case() {
        for family in MlFamily::ALL {
            assert_eq!(MlFamily::from_name(family.as_str()), Some(family));
            assert_eq!(
                MlFamily::from_name(&family.as_str().to_ascii_uppercase()),
                Some(family)
            );
            assert_eq!(family.to_string().parse::<MlFamily>(), Ok(family));
        }
        assert_eq!(MlFamily::from_name("energyml"), None);
        assert_eq!(MlFamily::from_name(""), None);
    }

    #[test]
    fn two_digit_versions() {
        assert_eq!(MlVersion::from_two_digit_text("20"), Some(v(20)));
        assert_eq!(MlVersion::from_two_digit_text("14"), Some(v(14)));
        assert_eq!(MlVersion::from_two_digit_text("99"), Some(v(99)));
        for bad in ["", "2", "02", "201", "2a", "+2", "２０", "-1"] {
            assert_eq!(MlVersion::from_two_digit_text(bad), None, "{bad}");
        }
        assert_eq!(MlVersion::from_two_digits(9), None);
        assert_eq!(MlVersion::from_two_digits(100), None);
        assert_eq!(v(21).major(), 2);
        assert_eq!(v(21).minor(), 1);
        assert_eq!(v(21).generic_dotted(), "2.1");
    }

    #[test]
    fn dotted_versions() {
        for (dotted, two) in [
            ("2.0", 20),
            ("2.0.1", 20),
            ("1.4.1.1", 14),
            ("2.3", 23),
            ("2.2.0.0", 22),
        ] {
            assert_eq!(MlVersion::from_dotted(dotted), Some(v(two)), "{dotted}");
        }
        for bad in [
            "", "2", "2.", ".0", "0.9", "2.10", "20.1", "2.0.", "2.0.x", "2..0", "v2.0", "2,0",
        ] {
            assert_eq!(MlVersion::from_dotted(bad), None, "{bad}");
        }
    }

    #[test]
    fn known_versions_table_is_consistent() {
        assert_eq!(KNOWN_ML_VERSIONS.len(), 12);
        for known in KNOWN_ML_VERSIONS {
            assert_eq!(MlVersion::from_dotted(known.release), Some(known.version));
            assert_eq!(
                MlVersion::from_dotted(known.content_type_version),
                Some(known.version)
            );
            assert_eq!(known_ml_version(known.family, known.version), Some(&known));
        }
        assert!(known_ml_version(MlFamily::Resqml, v(21)).is_none());
    }

    #[test]
    fn parse_concrete_qualified_types() {
        let grid = qt("resqml20.obj_Grid2dRepresentation");
        assert_eq!(grid.family(), MlFamily::Resqml);
        assert_eq!(grid.version(), v(20));
        assert_eq!(grid.object_type(), Some("obj_Grid2dRepresentation"));
        assert!(!grid.is_wildcard());
        assert_eq!(grid.to_string(), "resqml20.obj_Grid2dRepresentation");

        for text in [
            "witsml21.Well",
            "witsml20.Well",
            "eml23.LocalEngineeringCompoundCrs",
            "eml20.obj_EpcExternalPartReference",
            "resqml22.TriangulatedSetRepresentation",
            "prodml22.FluidAnalysis",
            "witsml14.well",
        ] {
            assert_eq!(qt(text).to_string(), text);
            assert_eq!(QualifiedType::parse_concrete(text), Ok(qt(text)));
        }
    }

    #[test]
    fn family_case_is_normalised_type_case_is_kept() {
        let upper = qt("RESQML20.obj_Grid2dRepresentation");
        assert_eq!(upper.to_string(), "resqml20.obj_Grid2dRepresentation");
        assert_eq!(upper, qt("resqml20.obj_Grid2dRepresentation"));
        let odd_case = qt("resqml20.OBJ_GRID2DREPRESENTATION");
        assert_eq!(odd_case.to_string(), "resqml20.OBJ_GRID2DREPRESENTATION");
        assert_ne!(odd_case, upper);
        assert!(odd_case.matches(&upper));
    }

    #[test]
    fn wildcard_spellings() {
        for text in ["resqml20.*", "resqml20.", "resqml20", "RESQML20.*"] {
            let parsed = qt(text);
            assert!(parsed.is_wildcard(), "{text}");
            assert_eq!(parsed, QualifiedType::wildcard(MlFamily::Resqml, v(20)));
            assert_eq!(parsed.to_string(), "resqml20.*");
            assert!(matches!(
                QualifiedType::parse_concrete(text),
                Err(NameError::WildcardNotAllowed(_))
            ));
        }
    }

    #[test]
    fn rejects_malformed_qualified_types() {
        assert_eq!(QualifiedType::parse(""), Err(NameError::Empty));
        for (text, expected) in [
            ("foo20.Bar", "family"),
            ("resqml.obj_X", "version"),
            ("resqml2.obj_X", "version"),
            ("resqml201.obj_X", "version"),
            ("resqml02.obj_X", "version"),
            ("20.obj_X", "family"),
            (".obj_X", "family"),
            ("resqml20.obj-X", "name"),
            ("resqml20.obj X", "name"),
            ("resqml20.obj_X.Y", "name"),
            ("resqml20.*X", "name"),
            ("resqml20.obj_é", "name"),
            ("resqml20x.obj_X", "version"),
            ("*", "family"),
        ] {
            let error = QualifiedType::parse(text).unwrap_err();
            let ok = match expected {
                "family" => matches!(error, NameError::UnknownFamily(_)),
                "version" => matches!(error, NameError::InvalidVersion(_)),
                _ => matches!(error, NameError::InvalidTypeName(_)),
            };
            assert!(ok, "{text}: {error:?}");
        }
        assert!(QualifiedType::new(MlFamily::Eml, v(23), "*").is_err());
        assert!(QualifiedType::new(MlFamily::Eml, v(23), "").is_err());
    }

    #[test]
    fn wildcard_matching() {
        let grid = qt("resqml20.obj_Grid2dRepresentation");
        for pattern in [
            "resqml20.*",
            "resqml20.",
            "resqml20",
            "resqml20.obj_Grid2dRepresentation",
        ] {
            assert!(grid.matches(&qt(pattern)), "{pattern}");
        }
        for pattern in [
            "resqml22.*",
            "eml20.*",
            "resqml20.obj_LocalDepth3dCrs",
            "witsml20.*",
        ] {
            assert!(!grid.matches(&qt(pattern)), "{pattern}");
        }
        // A wildcard is only inside another wildcard of the same release.
        assert!(qt("resqml20.*").matches(&qt("resqml20.")));
        assert!(!qt("resqml20.*").matches(&grid));

        let client = [qt("eml20.*"), qt("resqml20.")];
        assert!(grid.matches_any(&client));
        assert!(qt("eml20.obj_EpcExternalPartReference").matches_any(&client));
        assert!(!qt("witsml21.Well").matches_any(&client));
        assert!(!grid.matches_any(&[]));
    }

    #[test]
    fn intersection_for_negotiation() {
        let any_resqml = qt("resqml20.*");
        let grid = qt("resqml20.obj_Grid2dRepresentation");
        assert_eq!(any_resqml.intersection(&grid), Some(grid.clone()));
        assert_eq!(grid.intersection(&any_resqml), Some(grid.clone()));
        assert_eq!(
            any_resqml.intersection(&qt("resqml20.")),
            Some(any_resqml.clone())
        );
        assert_eq!(any_resqml.intersection(&qt("resqml22.*")), None);
        assert_eq!(grid.intersection(&qt("resqml20.obj_LocalDepth3dCrs")), None);
    }

    #[test]
    fn pyetp_prefixes() {
        for text in [
            "eml20.*",
            "resqml20.obj_X",
            "resqml22.*",
            "eml23.Activity",
            "witsml21.Well",
            "prodml22.*",
        ] {
            assert!(qt(text).is_accepted_by_pyetp(), "{text}");
        }
        for text in [
            "witsml20.Well",
            "eml21.*",
            "prodml21.*",
            "witsml14.well",
            "resqml21.*",
        ] {
            assert!(!qt(text).is_accepted_by_pyetp(), "{text}");
        }
    }

    #[test]
    fn content_types_of_every_known_release_round_trip() {
        let expected = [
            (
                MlFamily::Eml,
                20,
                "application/x-eml+xml;version=2.0;type=T",
            ),
            (
                MlFamily::Eml,
                21,
                "application/x-eml+xml;version=2.1;type=T",
            ),
            (
                MlFamily::Eml,
                22,
                "application/x-eml+xml;version=2.2;type=T",
            ),
            (
                MlFamily::Eml,
                23,
                "application/x-eml+xml;version=2.3;type=T",
            ),
            (
                MlFamily::Resqml,
                20,
                "application/x-resqml+xml;version=2.0;type=T",
            ),
            (
                MlFamily::Resqml,
                22,
                "application/x-resqml+xml;version=2.2;type=T",
            ),
            (
                MlFamily::Witsml,
                14,
                "application/x-witsml+xml;version=1.4.1.1;type=T",
            ),
            (
                MlFamily::Witsml,
                20,
                "application/x-witsml+xml;version=2.0;type=T",
            ),
            (
                MlFamily::Witsml,
                21,
                "application/x-witsml+xml;version=2.1;type=T",
            ),
            (
                MlFamily::Prodml,
                20,
                "application/x-prodml+xml;version=2.0;type=T",
            ),
            (
                MlFamily::Prodml,
                21,
                "application/x-prodml+xml;version=2.1;type=T",
            ),
            (
                MlFamily::Prodml,
                22,
                "application/x-prodml+xml;version=2.2;type=T",
            ),
        ];
        assert_eq!(expected.len(), KNOWN_ML_VERSIONS.len());
        for (family, two, content_type) in expected {
            let qualified = QualifiedType::new(family, v(two), "T").unwrap();
            assert_eq!(qualified.to_content_type().to_string(), content_type);
            let parsed = ContentType::parse(content_type).unwrap();
            assert_eq!(parsed.to_qualified_type(), qualified);
            assert_eq!(parsed.to_string(), content_type);
        }
    }

    #[test]
    fn content_types_seen_in_real_data() {
        let cases = [
            (
                "application/x-resqml+xml;version=2.0;type=obj_LocalDepth3dCrs",
                "resqml20.obj_LocalDepth3dCrs",
            ),
            (
                "application/x-resqml+xml;version=2.0.1;type=obj_Grid2dRepresentation",
                "resqml20.obj_Grid2dRepresentation",
            ),
            (
                "application/x-eml+xml;version=2.0;type=obj_EpcExternalPartReference",
                "eml20.obj_EpcExternalPartReference",
            ),
            (
                "application/x-witsml+xml;version=1.4.1.1;type=well",
                "witsml14.well",
            ),
            (
                "application/x-witsml+xml;version=2.0;type=Well",
                "witsml20.Well",
            ),
            (
                "application/x-prodml+xml;version=2.0;type=WellTest",
                "prodml20.WellTest",
            ),
            (
                "application/x-eml+xml;version=2.1;type=Activity",
                "eml21.Activity",
            ),
            (
                "application/x-resqml+xml;version=2.0.1;type=*",
                "resqml20.*",
            ),
            ("application/x-eml+xml; version=2.1", "eml21.*"),
            (
                "Application/X-RESQML+XML; Version=2.0 ; TYPE=obj_X",
                "resqml20.obj_X",
            ),
            (
                "application/x-resqml+xml;type=obj_X;version=2.0",
                "resqml20.obj_X",
            ),
            (
                "application/x-resqml+xml;version=\"2.0\";type=\"obj_X\"",
                "resqml20.obj_X",
            ),
            (
                "application/x-resqml+xml;version=2.0;type=obj_X;charset=utf-8;",
                "resqml20.obj_X",
            ),
            (
                "  application/x-resqml+xml;version=2.2;type=X \n",
                "resqml22.X",
            ),
        ];
        for (content_type, qualified) in cases {
            let parsed = ContentType::parse(content_type).unwrap();
            assert_eq!(parsed.to_qualified_type(), qt(qualified), "{content_type}");
            assert_eq!(QualifiedType::from(&parsed), qt(qualified));
        }
        let pyetp =
            ContentType::parse("application/x-resqml+xml;version=2.0.1;type=obj_X").unwrap();
        assert_eq!(pyetp.version_text(), "2.0.1");
        assert_eq!(pyetp.ml_version(), v(20));
        assert_eq!(
            pyetp.to_string(),
            "application/x-resqml+xml;version=2.0.1;type=obj_X"
        );
    }

    #[test]
    fn rejects_malformed_content_types() {
        assert_eq!(ContentType::parse(""), Err(NameError::Empty));
        assert_eq!(ContentType::parse("   "), Err(NameError::Empty));
        fn kind(error: &NameError) -> &'static str {
            match error {
                NameError::NotAContentType(_) => "not-content-type",
                NameError::MissingVersion(_) => "missing-version",
                NameError::MalformedParameter(_) => "malformed-parameter",
                NameError::InvalidVersion(_) => "invalid-version",
                NameError::InvalidTypeName(_) => "invalid-type-name",
                NameError::DuplicateParameter(_) => "duplicate-parameter",
                _ => "other",
            }
        }
        for (text, expected) in [
            ("text/xml", "not-content-type"),
            (
                "application/x-foo+xml;version=2.0;type=X",
                "not-content-type",
            ),
            (
                "application/x-resqml+json;version=2.0;type=X",
                "not-content-type",
            ),
            ("application/x-+xml;version=2.0", "not-content-type"),
            ("resqml20.obj_X", "not-content-type"),
            ("application/x-resqml+xml", "missing-version"),
            ("application/x-resqml+xml;type=X", "missing-version"),
            ("application/x-resqml+xml;version", "malformed-parameter"),
            (
                "application/x-resqml+xml;version=2;type=X",
                "invalid-version",
            ),
            (
                "application/x-resqml+xml;version=two;type=X",
                "invalid-version",
            ),
            (
                "application/x-resqml+xml;version=2.0;type=obj X",
                "invalid-type-name",
            ),
            (
                "application/x-resqml+xml;version=2.0;version=2.2",
                "duplicate-parameter",
            ),
        ] {
            let error = ContentType::parse(text).unwrap_err();
            assert_eq!(kind(&error), expected, "{text}: {error:?}");
        }
    }

    #[test]
    fn wildcard_content_types() {
        let all = qt("resqml20.*").to_content_type();
        assert_eq!(all.object_type(), None);
        assert_eq!(all.to_string(), "application/x-resqml+xml;version=2.0");
        assert_eq!(ContentType::parse(&all.to_string()).unwrap(), all);
        // Unknown release: generic major.minor.
        assert_eq!(
            qt("witsml13.well").to_content_type().to_string(),
            "application/x-witsml+xml;version=1.3;type=well"
        );
    }

    #[test]
    fn reference_text_accepts_both_notations() {
        for (text, expected) in [
            (
                "application/x-resqml+xml;version=2.0;type=obj_LocalDepth3dCrs",
                "resqml20.obj_LocalDepth3dCrs",
            ),
            (
                "resqml20.obj_LocalDepth3dCrs",
                "resqml20.obj_LocalDepth3dCrs",
            ),
            ("witsml20.Well", "witsml20.Well"),
            (
                "eml23.LocalEngineeringCompoundCrs",
                "eml23.LocalEngineeringCompoundCrs",
            ),
            ("\n   witsml21.Wellbore\n ", "witsml21.Wellbore"),
            (
                " application/x-eml+xml;version=2.0;type=obj_EpcExternalPartReference ",
                "eml20.obj_EpcExternalPartReference",
            ),
        ] {
            assert_eq!(
                QualifiedType::from_reference_text(text),
                Ok(qt(expected)),
                "{text:?}"
            );
        }
        assert!(QualifiedType::from_reference_text("").is_err());
        assert!(QualifiedType::from_reference_text("text/plain").is_err());
    }

    #[test]
    fn errors_truncate_hostile_input() {
        let long = format!("foo20.{}", "x".repeat(10_000));
        let NameError::UnknownFamily(text) = QualifiedType::parse(&long).unwrap_err() else {
            panic!("wrong error");
        };
        assert!(text.chars().count() <= EXCERPT_CHARS + 1);
    }

    #[test]
    fn serde_uses_the_canonical_strings() {
        let grid = qt("RESQML20.obj_Grid2dRepresentation");
        let json = serde_json::to_string(&grid).unwrap();
        assert_eq!(json, "\"resqml20.obj_Grid2dRepresentation\"");
        assert_eq!(serde_json::from_str::<QualifiedType>(&json).unwrap(), grid);
        assert!(serde_json::from_str::<QualifiedType>("\"nope\"").is_err());
        let content_type = grid.to_content_type();
        let json = serde_json::to_string(&content_type).unwrap();
        assert_eq!(
            serde_json::from_str::<ContentType>(&json).unwrap(),
            content_type
        );
    }
}
