//! ETP 1.2 URIs (03-uris-and-objects.md §1–§2): parsing, validation,
//! canonical formatting, and the UUID text helpers the generated code uses.
//!
//! | kind | canonical form |
//! |---|---|
//! | default dataspace | `eml:///` |
//! | named dataspace | `eml:///dataspace('rddms-io/test-1')` |
//! | data object | `eml:///[dataspace('p')/]witsml21.Well(ca96314d-...)` |
//! | data object version | `eml:///witsml21.Well(uuid=ca96314d-...,version='2.1')` |
//! | query (collection) | `eml:///dataspace('p')/resqml20.obj_LocalDepth3dCrs`, `<object-uri>/witsml21.Wellbore`, optionally `?<query>` and `#<fragment>` |
//! | hierarchical (alternate) | `eml:///witsml21.Well(u1)/witsml21.Wellbore(u2)` |
//!
//! Input is accepted leniently, output is always canonical ("lenient in,
//! strict out"). Decisions, including those the notes leave open (UNSURE):
//!
//! - **Case.** The scheme `eml`, the keyword `dataspace`, the keys `uuid=` and
//!   `version=`, the family (`RESQML20`) and the UUID digits are accepted in
//!   any ASCII case and written in lowercase. Dataspace paths, type names,
//!   versions, queries and fragments are kept exactly; type names therefore
//!   compare case-sensitively here (use [`QualifiedType::matches`] for the
//!   DevKit's case-insensitive comparison).
//! - **Default dataspace.** `eml:///dataspace('')` is read as the default
//!   dataspace and written `eml:///`.
//! - **Quotes.** A `'` inside a dataspace path or version is written `''`; the
//!   accessors return the unescaped text. An unquoted `dataspace(path)` (a
//!   DevKit leniency) is rejected, as by every client regex.
//! - **Percent-encoding.** Nothing is decoded: `%20` stays three characters
//!   and `dataspace('a b')` and `dataspace('a%20b')` are different
//!   dataspaces. [`percent_decode`] is available for callers that want to
//!   retry a lookup with an `encodeURI`-ed URI from open-etp-client.
//! - **Trailing slash.** One `/` at the end of the path (before any `?` or
//!   `#`) is ignored, as open-etp-client tolerates it; it is never written.
//! - **`(uuid=<uuid>)` without version** is accepted and written `(<uuid>)`.
//!   `version=''` is kept as an empty version.
//! - **Empty `?` or `#`** are ignored.
//! - **Control characters** (C0, DEL, C1) are rejected anywhere: no valid
//!   URI contains them and they would corrupt logs.
//! - **ETP 1.1 URIs** (`eml://witsml20/Well(uuid)`, any `eml://` without the
//!   third slash) are reported as [`UriError::Etp11Uri`].
//!
//! Every [`UriError`] maps to `EINVALID_URI` (9). Whether a well-formed but
//! alternate URI (hierarchical, query where an object is expected) is
//! acceptable depends on the request and on `SupportsAlternateRequestUris`;
//! callers check [`EtpUri::kind`] or use [`DataObjectUri::parse`] /
//! [`DataspaceUri::parse`], which reject the other kinds.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::error_code::ErrorCode;
use crate::names::{NameError, QualifiedType, excerpt, serde_as_string};

/// Parses the 8-4-4-4-12 hexadecimal text form of a UUID (either case) into
/// its 16 bytes. Other notations (braces, no hyphens, URNs) are refused
/// because no ETP URI or XML reference uses them.
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    if text.len() != 36 {
        return None;
    }
    let mut bytes = [0u8; 16];
    let mut nibble_count = 0usize;
    for (position, character) in text.bytes().enumerate() {
        if matches!(position, 8 | 13 | 18 | 23) {
            if character != b'-' {
                return None;
            }
            continue;
        }
        let nibble = hex_value(character)?;
        let slot = bytes.get_mut(nibble_count / 2)?;
        *slot = (*slot << 4) | nibble;
        nibble_count += 1;
    }
    Some(bytes)
}

/// Formats 16 UUID bytes as the canonical lowercase 8-4-4-4-12 text that
/// every ETP client generates and compares against.
pub fn format_uuid(bytes: &[u8; 16]) -> String {
    let mut text = String::with_capacity(36);
    for (index, byte) in bytes.iter().enumerate() {
        if matches!(index, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        text.push(hex_digit(byte >> 4));
        text.push(hex_digit(byte & 0x0f));
    }
    text
}

fn hex_value(character: u8) -> Option<u8> {
    match character {
        b'0'..=b'9' => Some(character - b'0'),
        b'a'..=b'f' => Some(character - b'a' + 10),
        b'A'..=b'F' => Some(character - b'A' + 10),
        _ => None,
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from_digit(u32::from(nibble), 16).unwrap_or('0')
}

/// Decodes `%XX` escapes, for URIs that went through JavaScript's
/// `encodeURI` (open-etp-client does this for keys and query context URIs).
/// [`EtpUri::parse`] never decodes by itself; see the module notes.
pub fn percent_decode(input: &str) -> Result<Cow<'_, str>, UriError> {
    if !input.contains('%') {
        return Ok(Cow::Borrowed(input));
    }
    let mut decoded = Vec::with_capacity(input.len());
    let mut bytes = input.bytes().enumerate();
    while let Some((position, byte)) = bytes.next() {
        if byte != b'%' {
            decoded.push(byte);
            continue;
        }
        let high = bytes.next().and_then(|(_, b)| hex_value(b));
        let low = bytes.next().and_then(|(_, b)| hex_value(b));
        match (high, low) {
            (Some(high), Some(low)) => decoded.push((high << 4) | low),
            _ => return Err(UriError::InvalidPercentEncoding { position }),
        }
    }
    String::from_utf8(decoded)
        .map(Cow::Owned)
        .map_err(|_| UriError::PercentDecodedNotUtf8)
}

/// The shape of a URI, for "wrong kind" errors and dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UriKind {
    /// `eml:///` or `eml:///dataspace('...')`.
    Dataspace,
    /// One data object, optionally a specific version.
    DataObject,
    /// A data object addressed through its containers (alternate form).
    Hierarchical,
    /// A collection or query URI (query protocols' context URIs).
    Query,
}

impl fmt::Display for UriKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UriKind::Dataspace => "dataspace",
            UriKind::DataObject => "data object",
            UriKind::Hierarchical => "hierarchical data object",
            UriKind::Query => "query",
        })
    }
}

/// Why a URI was rejected. All variants answer `EINVALID_URI` (9); the
/// message says what is wrong so the peer can fix its request. Offending text
/// is quoted only as a bounded excerpt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// The empty string.
    #[error("the URI is empty")]
    Empty,
    /// Does not start with `eml:///`.
    #[error("`{0}` is not an ETP 1.2 URI: it must start with `eml:///`")]
    NotEtpUri(String),
    /// An ETP 1.1 URI (`eml://witsml20/Well(uuid)`), invalid in ETP 1.2.
    #[error(
        "`{0}` is an ETP 1.1 URI; ETP 1.2 URIs look like `eml:///dataspace('path')/witsml20.Well(uuid)`"
    )]
    Etp11Uri(String),
    /// A control character somewhere in the input.
    #[error("control character at byte {position}")]
    ControlCharacter {
        /// Byte offset in the input.
        position: usize,
    },
    /// `dataspace(path)` without the single quotes.
    #[error("the dataspace path must be quoted: `dataspace('path')`")]
    UnquotedDataspace,
    /// A `'`-quoted string without its closing quote.
    #[error("quoted string opened at byte {position} is not closed (a quote inside is written '')")]
    UnterminatedQuote {
        /// Byte offset of the opening quote.
        position: usize,
    },
    /// A required token is missing.
    #[error("expected `{expected}` at byte {position}, found `{found}`")]
    Expected {
        /// What the grammar requires here.
        expected: &'static str,
        /// Byte offset in the input.
        position: usize,
        /// Excerpt of what is there instead.
        found: String,
    },
    /// `dataspace(...)` after a data object segment.
    #[error("`dataspace(...)` may only appear right after `eml:///`")]
    MisplacedDataspace,
    /// Two consecutive slashes, or a slash right after `eml:///`.
    #[error("empty path segment at byte {position}")]
    EmptySegment {
        /// Byte offset in the input.
        position: usize,
    },
    /// A segment that is not a concrete qualified type of a known family.
    #[error("invalid data object type `{segment}`: {reason}")]
    InvalidType {
        /// Excerpt of the segment.
        segment: String,
        /// What is wrong with it.
        reason: NameError,
    },
    /// The text between the parentheses is not a UUID.
    #[error("invalid UUID `{0}`: expected 8-4-4-4-12 hexadecimal digits")]
    InvalidUuid(String),
    /// `(uuid,version='...')` without the `uuid=` key.
    #[error(
        "invalid object id at byte {position}: expected `(<uuid>)` or `(uuid=<uuid>,version='<version>')`"
    )]
    InvalidObjectId {
        /// Byte offset of the id.
        position: usize,
    },
    /// A type without an id (a collection) followed by more segments.
    #[error("`{0}` has no object id, so it must be the last path segment")]
    CollectionNotLast(String),
    /// A `%` not followed by two hexadecimal digits.
    #[error("invalid percent-encoding at byte {position}")]
    InvalidPercentEncoding {
        /// Byte offset of the `%`.
        position: usize,
    },
    /// Percent-decoding produced bytes that are not UTF-8.
    #[error("the percent-decoded URI is not valid UTF-8")]
    PercentDecodedNotUtf8,
    /// A valid URI of another kind than the field requires.
    #[error("expected a {expected} URI, found a {found} URI")]
    WrongKind {
        /// The kind the caller needs.
        expected: UriKind,
        /// The kind that was given.
        found: UriKind,
    },
    /// [`EtpUri::parse_canonical`]: valid but not written canonically.
    #[error("the URI is not in canonical form; canonical form: `{canonical}`")]
    NotCanonical {
        /// The canonical spelling.
        canonical: String,
    },
    /// A value given to a constructor that cannot be written in a URI.
    #[error("invalid {what} for a URI: {problem}")]
    InvalidComponent {
        /// Which component (`query`, `version`, ...).
        what: &'static str,
        /// What is wrong.
        problem: &'static str,
    },
}

impl UriError {
    /// The ETP error code to answer with: always `EINVALID_URI`.
    pub const fn error_code(&self) -> ErrorCode {
        ErrorCode::EINVALID_URI
    }
}

fn check_component(text: &str, what: &'static str) -> Result<(), UriError> {
    if text.chars().any(char::is_control) {
        return Err(UriError::InvalidComponent {
            what,
            problem: "control characters are not allowed",
        });
    }
    Ok(())
}

/// Writes `text` with every `'` doubled, as inside `dataspace('...')` and
/// `version='...'`.
fn escape_quotes(text: &str) -> Cow<'_, str> {
    if text.contains('\'') {
        Cow::Owned(text.replace('\'', "''"))
    } else {
        Cow::Borrowed(text)
    }
}

/// A dataspace: the nameless default one (`eml:///`) or a named one
/// (`eml:///dataspace('path')`). The path is stored unescaped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DataspaceUri {
    /// `None` for the default dataspace; never `Some("")`.
    path: Option<String>,
}

impl DataspaceUri {
    /// The default dataspace `eml:///`, which every store must support.
    pub const fn default_dataspace() -> Self {
        DataspaceUri { path: None }
    }

    /// The dataspace with this (unescaped) path; the empty path is the
    /// default dataspace, matching `Dataspace.path = ""` on the wire.
    pub fn from_path(path: &str) -> Result<Self, UriError> {
        if path.is_empty() {
            return Ok(DataspaceUri::default_dataspace());
        }
        check_component(path, "dataspace path")?;
        Ok(DataspaceUri {
            path: Some(path.to_owned()),
        })
    }

    /// Parses a URI that must be a dataspace URI.
    pub fn parse(input: &str) -> Result<Self, UriError> {
        EtpUri::parse(input)?.into_dataspace()
    }

    /// The unescaped path, `None` for the default dataspace.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The unescaped path, `""` for the default dataspace.
    pub fn path_or_empty(&self) -> &str {
        self.path.as_deref().unwrap_or("")
    }

    /// The path as written inside the URI, with quotes doubled. pyetp checks
    /// `Dataspace.path` against the text its regex extracts from the URI,
    /// which is this form; for paths without quotes both forms are equal.
    pub fn escaped_path(&self) -> Cow<'_, str> {
        escape_quotes(self.path_or_empty())
    }

    /// Whether a `Dataspace.path` field agrees with this URI. The notes do
    /// not know whether a quote appears doubled there, so both are accepted.
    pub fn path_matches(&self, path_field: &str) -> bool {
        path_field == self.path_or_empty() || path_field == self.escaped_path()
    }

    /// Whether this is the default dataspace.
    pub const fn is_default(&self) -> bool {
        self.path.is_none()
    }

    /// The URI of a data object in this dataspace.
    pub fn data_object(
        &self,
        qualified_type: QualifiedType,
        uuid: [u8; 16],
    ) -> Result<DataObjectUri, UriError> {
        DataObjectUri::new(self.clone(), qualified_type, uuid)
    }

    /// Writes the prefix that objects and collections in this dataspace
    /// share: `eml:///` or `eml:///dataspace('p')/`.
    fn write_child_prefix(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            None => f.write_str("eml:///"),
            Some(path) => write!(f, "eml:///dataspace('{}')/", escape_quotes(path)),
        }
    }
}

impl fmt::Display for DataspaceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            None => f.write_str("eml:///"),
            Some(path) => write!(f, "eml:///dataspace('{}')", escape_quotes(path)),
        }
    }
}

/// One data object: dataspace, concrete qualified type, UUID and optionally
/// a specific version. This is the form every `Resource.uri` must have.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DataObjectUri {
    dataspace: DataspaceUri,
    qualified_type: QualifiedType,
    uuid: [u8; 16],
    version: Option<String>,
}

impl DataObjectUri {
    /// Builds the URI of the latest version of an object; the type must be
    /// concrete (no wildcard).
    pub fn new(
        dataspace: DataspaceUri,
        qualified_type: QualifiedType,
        uuid: [u8; 16],
    ) -> Result<Self, UriError> {
        if qualified_type.is_wildcard() {
            let segment = qualified_type.to_string();
            return Err(UriError::InvalidType {
                reason: NameError::WildcardNotAllowed(segment.clone()),
                segment,
            });
        }
        Ok(DataObjectUri {
            dataspace,
            qualified_type,
            uuid,
            version: None,
        })
    }

    /// The same object at a specific version (`(uuid=...,version='...')`).
    pub fn with_version(self, version: &str) -> Result<Self, UriError> {
        check_component(version, "version")?;
        Ok(DataObjectUri {
            version: Some(version.to_owned()),
            ..self
        })
    }

    /// Parses a URI that must be a (non-hierarchical) data object URI.
    pub fn parse(input: &str) -> Result<Self, UriError> {
        EtpUri::parse(input)?.into_data_object()
    }

    /// The dataspace holding the object.
    pub const fn dataspace(&self) -> &DataspaceUri {
        &self.dataspace
    }

    /// The object's type.
    pub const fn qualified_type(&self) -> &QualifiedType {
        &self.qualified_type
    }

    /// The object's UUID bytes.
    pub const fn uuid(&self) -> &[u8; 16] {
        &self.uuid
    }

    /// The UUID in canonical lowercase text.
    pub fn uuid_string(&self) -> String {
        format_uuid(&self.uuid)
    }

    /// The requested object version (unescaped), if the URI names one.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The URI of the object itself, without a version.
    pub fn without_version(&self) -> DataObjectUri {
        DataObjectUri {
            version: None,
            ..self.clone()
        }
    }

    /// The same object id in another dataspace; references in XML are
    /// resolved in the referencing object's dataspace this way.
    pub fn in_dataspace(&self, dataspace: DataspaceUri) -> DataObjectUri {
        DataObjectUri {
            dataspace,
            ..self.clone()
        }
    }

    /// Writes `type(uuid)` or `type(uuid=...,version='...')`.
    fn write_segment(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let uuid = format_uuid(&self.uuid);
        match &self.version {
            None => write!(f, "{}({uuid})", self.qualified_type),
            Some(version) => write!(
                f,
                "{}(uuid={uuid},version='{}')",
                self.qualified_type,
                escape_quotes(version)
            ),
        }
    }
}

impl DataObjectUri {
    /// Appends the URI's text, exactly what `Display` writes, without the formatting
    /// machinery: a server writes one per object it answers with (GetDataObjects), and
    /// `format!` cost more than the rest of building the answer's `Resource`.
    pub fn push_to(&self, out: &mut String) {
        let push_escaped = |out: &mut String, text: &str| {
            for (index, piece) in text.split('\'').enumerate() {
                if index > 0 {
                    out.push_str("''");
                }
                out.push_str(piece);
            }
        };
        match &self.dataspace.path {
            None => out.push_str("eml:///"),
            Some(path) => {
                out.push_str("eml:///dataspace('");
                push_escaped(out, path);
                out.push_str("')/");
            }
        }
        let qualified = &self.qualified_type;
        out.push_str(qualified.family().as_str());
        let two = qualified.version().two_digits();
        out.push(char::from(b'0' + two / 10));
        out.push(char::from(b'0' + two % 10));
        out.push('.');
        out.push_str(qualified.object_type().unwrap_or("*"));
        out.push('(');
        if self.version.is_some() {
            out.push_str("uuid=");
        }
        for (index, byte) in self.uuid.iter().enumerate() {
            if matches!(index, 4 | 6 | 8 | 10) {
                out.push('-');
            }
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0x0f));
        }
        if let Some(version) = &self.version {
            out.push_str(",version='");
            push_escaped(out, version);
            out.push('\'');
        }
        out.push(')');
    }
}

impl fmt::Display for DataObjectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.dataspace.write_child_prefix(f)?;
        self.write_segment(f)
    }
}

/// An alternate URI addressing an object through its containers
/// (`eml:///witsml21.Well(u1)/witsml21.Wellbore(u2)`). Only acceptable when
/// the endpoint advertises `SupportsAlternateRequestUris`; the DevKit lists
/// such URIs in `Resource.alternateUris` of contained objects.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HierarchicalUri {
    /// The containers, outermost first; never empty; same dataspace as target.
    ancestors: Vec<DataObjectUri>,
    target: DataObjectUri,
}

impl HierarchicalUri {
    /// Builds the URI from the containers (outermost first) and the object;
    /// all must be in the same dataspace and there must be at least one
    /// container.
    pub fn new(ancestors: Vec<DataObjectUri>, target: DataObjectUri) -> Result<Self, UriError> {
        if ancestors.is_empty() {
            return Err(UriError::InvalidComponent {
                what: "hierarchical URI",
                problem: "at least one containing object is required",
            });
        }
        if ancestors
            .iter()
            .any(|ancestor| ancestor.dataspace != target.dataspace)
        {
            return Err(UriError::InvalidComponent {
                what: "hierarchical URI",
                problem: "all objects must be in the same dataspace",
            });
        }
        Ok(HierarchicalUri { ancestors, target })
    }

    /// The containing objects, outermost first.
    pub fn ancestors(&self) -> &[DataObjectUri] {
        &self.ancestors
    }

    /// The addressed object; its canonical URI is `target().to_string()`.
    pub const fn target(&self) -> &DataObjectUri {
        &self.target
    }

    /// The dataspace of all objects in the chain.
    pub const fn dataspace(&self) -> &DataspaceUri {
        &self.target.dataspace
    }
}

impl fmt::Display for HierarchicalUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.target.dataspace.write_child_prefix(f)?;
        for ancestor in &self.ancestors {
            ancestor.write_segment(f)?;
            f.write_str("/")?;
        }
        self.target.write_segment(f)
    }
}

/// What a query URI starts from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueryBase {
    /// All objects of a dataspace.
    Dataspace(DataspaceUri),
    /// Objects related to one object.
    DataObject(DataObjectUri),
    /// Objects related to an object addressed hierarchically.
    Hierarchical(HierarchicalUri),
}

impl QueryBase {
    /// The dataspace the query runs in.
    pub const fn dataspace(&self) -> &DataspaceUri {
        match self {
            QueryBase::Dataspace(dataspace) => dataspace,
            QueryBase::DataObject(object) => &object.dataspace,
            QueryBase::Hierarchical(hierarchical) => hierarchical.dataspace(),
        }
    }
}

impl fmt::Display for QueryBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryBase::Dataspace(dataspace) => dataspace.fmt(f),
            QueryBase::DataObject(object) => object.fmt(f),
            QueryBase::Hierarchical(hierarchical) => hierarchical.fmt(f),
        }
    }
}

/// A query URI, the context URI of DiscoveryQuery, StoreQuery and
/// GrowingObjectQuery: a base, an optional collection type
/// (`<base>/resqml20.obj_LocalDepth3dCrs`), an optional query string
/// (open-etp-client's OData-like `$filter`, `$top`, `$skip`, `$orderby`) and
/// an optional fragment (the DevKit accepts one). Query and fragment are kept
/// verbatim. At least one of the three is present.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryUri {
    base: QueryBase,
    target_type: Option<QualifiedType>,
    query: Option<String>,
    fragment: Option<String>,
}

impl QueryUri {
    /// Builds a query URI. Empty `query`/`fragment` count as absent; the
    /// target type must be concrete; a query may not contain `#`.
    pub fn new(
        base: QueryBase,
        target_type: Option<QualifiedType>,
        query: Option<&str>,
        fragment: Option<&str>,
    ) -> Result<Self, UriError> {
        if let Some(target) = target_type.as_ref().filter(|target| target.is_wildcard()) {
            let segment = target.to_string();
            return Err(UriError::InvalidType {
                reason: NameError::WildcardNotAllowed(segment.clone()),
                segment,
            });
        }
        let query = query.filter(|q| !q.is_empty());
        let fragment = fragment.filter(|f| !f.is_empty());
        if let Some(query) = query {
            check_component(query, "query")?;
            if query.contains('#') {
                return Err(UriError::InvalidComponent {
                    what: "query",
                    problem: "`#` would start a fragment",
                });
            }
        }
        if let Some(fragment) = fragment {
            check_component(fragment, "fragment")?;
        }
        if target_type.is_none() && query.is_none() && fragment.is_none() {
            return Err(UriError::InvalidComponent {
                what: "query URI",
                problem: "needs a target type, a query or a fragment",
            });
        }
        Ok(QueryUri {
            base,
            target_type,
            query: query.map(str::to_owned),
            fragment: fragment.map(str::to_owned),
        })
    }

    /// What the query starts from.
    pub const fn base(&self) -> &QueryBase {
        &self.base
    }

    /// The type of the objects asked for, if the URI names one.
    pub const fn target_type(&self) -> Option<&QualifiedType> {
        self.target_type.as_ref()
    }

    /// The text after `?`, verbatim (not percent-decoded).
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The text after `#`, verbatim.
    pub fn fragment(&self) -> Option<&str> {
        self.fragment.as_deref()
    }

    /// The dataspace the query runs in.
    pub const fn dataspace(&self) -> &DataspaceUri {
        self.base.dataspace()
    }
}

impl fmt::Display for QueryUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.base, &self.target_type) {
            (QueryBase::Dataspace(dataspace), Some(target)) => {
                dataspace.write_child_prefix(f)?;
                target.fmt(f)?;
            }
            (base, Some(target)) => write!(f, "{base}/{target}")?,
            (base, None) => base.fmt(f)?,
        }
        if let Some(query) = &self.query {
            write!(f, "?{query}")?;
        }
        if let Some(fragment) = &self.fragment {
            write!(f, "#{fragment}")?;
        }
        Ok(())
    }
}

/// Any ETP 1.2 URI. `Display` writes the canonical form; `FromStr` and
/// [`EtpUri::parse`] accept the lenient forms described in the module notes.
///
/// Equality compares components: dataspace path exactly, family and version
/// and UUID regardless of input case (they are normalised), type name, version
/// and query exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EtpUri {
    /// A dataspace.
    Dataspace(DataspaceUri),
    /// A data object (canonical form).
    DataObject(DataObjectUri),
    /// A data object through its containers (alternate form).
    Hierarchical(HierarchicalUri),
    /// A collection / query URI.
    Query(QueryUri),
}

impl EtpUri {
    /// Parses and validates any ETP 1.2 URI.
    pub fn parse(input: &str) -> Result<Self, UriError> {
        Parser::parse(input)
    }

    /// Like [`EtpUri::parse`], but also refuses URIs not written exactly in
    /// canonical form (uppercase UUID, `dataspace('')`, trailing slash...),
    /// for peers that insist on string equality.
    pub fn parse_canonical(input: &str) -> Result<Self, UriError> {
        let uri = EtpUri::parse(input)?;
        let canonical = uri.to_string();
        if canonical != input {
            return Err(UriError::NotCanonical { canonical });
        }
        Ok(uri)
    }

    /// The URI's shape.
    pub const fn kind(&self) -> UriKind {
        match self {
            EtpUri::Dataspace(_) => UriKind::Dataspace,
            EtpUri::DataObject(_) => UriKind::DataObject,
            EtpUri::Hierarchical(_) => UriKind::Hierarchical,
            EtpUri::Query(_) => UriKind::Query,
        }
    }

    /// The dataspace the URI lives in (the default one for `eml:///...`).
    pub const fn dataspace(&self) -> &DataspaceUri {
        match self {
            EtpUri::Dataspace(dataspace) => dataspace,
            EtpUri::DataObject(object) => &object.dataspace,
            EtpUri::Hierarchical(hierarchical) => hierarchical.dataspace(),
            EtpUri::Query(query) => query.dataspace(),
        }
    }

    /// The unescaped dataspace path, `None` for the default dataspace.
    pub fn dataspace_path(&self) -> Option<&str> {
        self.dataspace().path()
    }

    /// The type of the addressed object, or for a query the type asked for.
    pub fn qualified_type(&self) -> Option<&QualifiedType> {
        match self {
            EtpUri::Dataspace(_) => None,
            EtpUri::DataObject(object) => Some(&object.qualified_type),
            EtpUri::Hierarchical(hierarchical) => Some(&hierarchical.target.qualified_type),
            EtpUri::Query(query) => query.target_type(),
        }
    }

    /// The UUID of the addressed object (`None` for dataspaces and queries;
    /// a query's base object is in [`QueryUri::base`]).
    pub fn uuid(&self) -> Option<&[u8; 16]> {
        self.addressed_object().map(DataObjectUri::uuid)
    }

    /// The requested object version, if the addressed object has one.
    pub fn object_version(&self) -> Option<&str> {
        self.addressed_object().and_then(DataObjectUri::version)
    }

    fn addressed_object(&self) -> Option<&DataObjectUri> {
        match self {
            EtpUri::DataObject(object) => Some(object),
            EtpUri::Hierarchical(hierarchical) => Some(&hierarchical.target),
            EtpUri::Dataspace(_) | EtpUri::Query(_) => None,
        }
    }

    /// The dataspace, if this is a dataspace URI.
    pub const fn as_dataspace(&self) -> Option<&DataspaceUri> {
        match self {
            EtpUri::Dataspace(dataspace) => Some(dataspace),
            _ => None,
        }
    }

    /// The object, if this is a canonical data object URI.
    pub const fn as_data_object(&self) -> Option<&DataObjectUri> {
        match self {
            EtpUri::DataObject(object) => Some(object),
            _ => None,
        }
    }

    /// The dataspace, or [`UriError::WrongKind`] for any other kind.
    pub fn into_dataspace(self) -> Result<DataspaceUri, UriError> {
        match self {
            EtpUri::Dataspace(dataspace) => Ok(dataspace),
            other => Err(UriError::WrongKind {
                expected: UriKind::Dataspace,
                found: other.kind(),
            }),
        }
    }

    /// The object, or [`UriError::WrongKind`] for any other kind (including
    /// hierarchical URIs, which are alternate forms).
    pub fn into_data_object(self) -> Result<DataObjectUri, UriError> {
        match self {
            EtpUri::DataObject(object) => Ok(object),
            other => Err(UriError::WrongKind {
                expected: UriKind::DataObject,
                found: other.kind(),
            }),
        }
    }
}

impl fmt::Display for EtpUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EtpUri::Dataspace(dataspace) => dataspace.fmt(f),
            EtpUri::DataObject(object) => object.fmt(f),
            EtpUri::Hierarchical(hierarchical) => hierarchical.fmt(f),
            EtpUri::Query(query) => query.fmt(f),
        }
    }
}

impl FromStr for EtpUri {
    type Err = UriError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        EtpUri::parse(input)
    }
}

impl FromStr for DataObjectUri {
    type Err = UriError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        DataObjectUri::parse(input)
    }
}

impl FromStr for DataspaceUri {
    type Err = UriError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        DataspaceUri::parse(input)
    }
}

impl From<DataspaceUri> for EtpUri {
    fn from(dataspace: DataspaceUri) -> Self {
        EtpUri::Dataspace(dataspace)
    }
}

impl From<DataObjectUri> for EtpUri {
    fn from(object: DataObjectUri) -> Self {
        EtpUri::DataObject(object)
    }
}

impl From<HierarchicalUri> for EtpUri {
    fn from(hierarchical: HierarchicalUri) -> Self {
        EtpUri::Hierarchical(hierarchical)
    }
}

impl From<QueryUri> for EtpUri {
    fn from(query: QueryUri) -> Self {
        EtpUri::Query(query)
    }
}

impl From<QueryBase> for EtpUri {
    fn from(base: QueryBase) -> Self {
        match base {
            QueryBase::Dataspace(dataspace) => EtpUri::Dataspace(dataspace),
            QueryBase::DataObject(object) => EtpUri::DataObject(object),
            QueryBase::Hierarchical(hierarchical) => EtpUri::Hierarchical(hierarchical),
        }
    }
}

serde_as_string!(EtpUri);
serde_as_string!(DataObjectUri);
serde_as_string!(DataspaceUri);

/// `text` without `prefix`, comparing ASCII case-insensitively.
fn strip_prefix_ignore_ascii_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        text.get(prefix.len()..)
    } else {
        None
    }
}

/// One `type` or `type(id)` path segment before classification.
struct Segment {
    qualified_type: QualifiedType,
    id: Option<ObjectId>,
}

/// The content of `(...)`.
struct ObjectId {
    uuid: [u8; 16],
    version: Option<String>,
}

/// A single-pass, non-backtracking reader over the input. Every step works
/// on `&str` prefixes found with `find`/`strip_prefix`, so it cannot slice
/// inside a UTF-8 character and cannot panic.
struct Parser<'a> {
    input: &'a str,
    rest: &'a str,
}

impl<'a> Parser<'a> {
    fn parse(input: &'a str) -> Result<EtpUri, UriError> {
        if input.is_empty() {
            return Err(UriError::Empty);
        }
        if let Some((position, _)) = input.char_indices().find(|(_, c)| c.is_control()) {
            return Err(UriError::ControlCharacter { position });
        }
        let after_scheme = strip_prefix_ignore_ascii_case(input, "eml:")
            .ok_or_else(|| UriError::NotEtpUri(excerpt(input)))?;
        let Some(path) = after_scheme.strip_prefix("///") else {
            return Err(if after_scheme.starts_with("//") {
                UriError::Etp11Uri(excerpt(input))
            } else {
                UriError::NotEtpUri(excerpt(input))
            });
        };
        let mut parser = Parser { input, rest: path };

        let mut dataspace = DataspaceUri::default_dataspace();
        let has_dataspace = parser.eat_ignore_case("dataspace(");
        if has_dataspace {
            let opening = parser.position();
            if !parser.eat("'") {
                return Err(UriError::UnquotedDataspace);
            }
            let path = parser.read_quoted(opening)?;
            parser.expect(")")?;
            dataspace = DataspaceUri::from_path(&path)?;
            if !parser.at_path_end() {
                parser.expect("/")?;
            }
        }

        let mut segments = Vec::new();
        while !parser.at_path_end() {
            let is_first = segments.is_empty() && !has_dataspace;
            segments.push(parser.segment(is_first)?);
            if parser.at_path_end() {
                break;
            }
            parser.expect("/")?;
        }

        let query = if parser.eat("?") {
            Some(parser.take_while(|c| c != '#'))
        } else {
            None
        };
        let fragment = if parser.eat("#") {
            Some(parser.take_while(|_| true))
        } else {
            None
        };
        if !parser.rest.is_empty() {
            return Err(parser.expected("end of URI"));
        }
        classify(dataspace, segments, query, fragment)
    }

    fn position(&self) -> usize {
        self.input.len().saturating_sub(self.rest.len())
    }

    fn eat(&mut self, token: &str) -> bool {
        match self.rest.strip_prefix(token) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn eat_ignore_case(&mut self, token: &str) -> bool {
        match strip_prefix_ignore_ascii_case(self.rest, token) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let end = self
            .rest
            .find(|c: char| !keep(c))
            .unwrap_or(self.rest.len());
        let (taken, rest) = self.rest.split_at_checked(end).unwrap_or((self.rest, ""));
        self.rest = rest;
        taken
    }

    /// End of the path part: end of input, or the start of query/fragment.
    fn at_path_end(&self) -> bool {
        self.rest.is_empty() || self.rest.starts_with(['?', '#'])
    }

    fn expected(&self, expected: &'static str) -> UriError {
        UriError::Expected {
            expected,
            position: self.position(),
            found: if self.rest.is_empty() {
                "end of URI".to_owned()
            } else {
                excerpt(self.rest)
            },
        }
    }

    fn expect(&mut self, token: &'static str) -> Result<(), UriError> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.expected(token))
        }
    }

    /// Reads a `'`-quoted string whose opening quote was just consumed;
    /// `''` stands for one quote, a single `'` ends the string.
    fn read_quoted(&mut self, opening: usize) -> Result<String, UriError> {
        let mut value = String::new();
        let mut remaining = self.rest;
        loop {
            let (before, after) = remaining
                .split_once('\'')
                .ok_or(UriError::UnterminatedQuote { position: opening })?;
            value.push_str(before);
            match after.strip_prefix('\'') {
                Some(after_doubled) => {
                    value.push('\'');
                    remaining = after_doubled;
                }
                None => {
                    self.rest = after;
                    return Ok(value);
                }
            }
        }
    }

    fn segment(&mut self, is_first: bool) -> Result<Segment, UriError> {
        let start = self.position();
        let type_text = self.take_while(|c| !matches!(c, '(' | '/' | '?' | '#'));
        if type_text.is_empty() {
            return Err(UriError::EmptySegment { position: start });
        }
        if type_text.eq_ignore_ascii_case("dataspace") {
            return Err(if is_first {
                UriError::UnquotedDataspace
            } else {
                UriError::MisplacedDataspace
            });
        }
        let qualified_type =
            QualifiedType::parse_concrete(type_text).map_err(|reason| UriError::InvalidType {
                segment: excerpt(type_text),
                reason,
            })?;
        let id = if self.eat("(") {
            Some(self.object_id()?)
        } else {
            None
        };
        Ok(Segment { qualified_type, id })
    }

    /// Reads `<uuid>)` or `uuid=<uuid>[,version='<version>'])`.
    fn object_id(&mut self) -> Result<ObjectId, UriError> {
        let id_start = self.position();
        let keyed = self.eat_ignore_case("uuid=");
        let uuid_text = self.take_while(|c| !matches!(c, ',' | ')'));
        let uuid =
            parse_uuid(uuid_text).ok_or_else(|| UriError::InvalidUuid(excerpt(uuid_text)))?;
        let mut version = None;
        if self.eat(",") {
            if !keyed {
                return Err(UriError::InvalidObjectId { position: id_start });
            }
            if !self.eat_ignore_case("version=") {
                return Err(self.expected("version='<version>'"));
            }
            let opening = self.position();
            if !self.eat("'") {
                return Err(self.expected("'"));
            }
            version = Some(self.read_quoted(opening)?);
        }
        self.expect(")")?;
        Ok(ObjectId { uuid, version })
    }
}

/// Turns the parsed pieces into the right [`EtpUri`] variant.
fn classify(
    dataspace: DataspaceUri,
    segments: Vec<Segment>,
    query: Option<&str>,
    fragment: Option<&str>,
) -> Result<EtpUri, UriError> {
    let segment_count = segments.len();
    let mut objects = Vec::with_capacity(segment_count);
    let mut target_type = None;
    for (index, segment) in segments.into_iter().enumerate() {
        match segment.id {
            Some(ObjectId { uuid, version }) => objects.push(DataObjectUri {
                dataspace: dataspace.clone(),
                qualified_type: segment.qualified_type,
                uuid,
                version,
            }),
            None if index + 1 == segment_count => target_type = Some(segment.qualified_type),
            None => {
                return Err(UriError::CollectionNotLast(
                    segment.qualified_type.to_string(),
                ));
            }
        }
    }

    let base = match objects.pop() {
        None => QueryBase::Dataspace(dataspace),
        Some(target) if objects.is_empty() => QueryBase::DataObject(target),
        Some(target) => QueryBase::Hierarchical(HierarchicalUri {
            ancestors: objects,
            target,
        }),
    };

    let query = query.filter(|q| !q.is_empty());
    let fragment = fragment.filter(|f| !f.is_empty());
    if target_type.is_none() && query.is_none() && fragment.is_none() {
        return Ok(EtpUri::from(base));
    }
    Ok(EtpUri::Query(QueryUri {
        base,
        target_type,
        query: query.map(str::to_owned),
        fragment: fragment.map(str::to_owned),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::{MlFamily, MlVersion};

    const WELL: &str = "ca96314d-a048-46bf-9a1e-a27edd9bac09";
    const GRID: &str = "e8a58c7e-d870-43d3-87d9-81ae18d8df7b";

    fn parse(text: &str) -> EtpUri {
        EtpUri::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    fn parse_err(text: &str) -> UriError {
        EtpUri::parse(text).expect_err(text)
    }

    fn qt(text: &str) -> QualifiedType {
        QualifiedType::parse(text).unwrap()
    }

    fn uuid(text: &str) -> [u8; 16] {
        parse_uuid(text).unwrap()
    }

    #[test]
    fn uuid_text_round_trip() {
        let bytes = uuid(WELL);
        assert_eq!(bytes[0], 0xca);
        assert_eq!(bytes[15], 0x09);
        assert_eq!(format_uuid(&bytes), WELL);
        assert_eq!(parse_uuid(&WELL.to_ascii_uppercase()), Some(bytes));
        assert_eq!(
            format_uuid(&[0; 16]),
            "00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(
            format_uuid(&[0xff; 16]),
            "ffffffff-ffff-ffff-ffff-ffffffffffff"
        );
        for bad in [
            "",
            "ca96314d-a048-46bf-9a1e-a27edd9bac0",
            "ca96314d-a048-46bf-9a1e-a27edd9bac099",
            "ca96314da04846bf9a1ea27edd9bac09",
            "{ca96314d-a048-46bf-9a1e-a27edd9bac0}",
            "ca96314d-a048-46bf-9a1e_a27edd9bac09",
            "ca96314d-a048-46bf-9a1e-a27edd9bac0g",
            "ca96314d-a048-46bf-9a1e-a27edd9bacé",
            "ca96314d-a048+46bf-9a1e-a27edd9bac09",
        ] {
            assert_eq!(parse_uuid(bad), None, "{bad}");
        }
    }

    #[test]
    fn default_and_named_dataspaces() {
        let root = parse("eml:///");
        assert_eq!(root, EtpUri::Dataspace(DataspaceUri::default_dataspace()));
        assert_eq!(root.kind(), UriKind::Dataspace);
        assert_eq!(root.dataspace_path(), None);
        assert_eq!(root.to_string(), "eml:///");

        let named = parse("eml:///dataspace('rddms-io/test-1')");
        assert_eq!(named.dataspace_path(), Some("rddms-io/test-1"));
        assert_eq!(named.to_string(), "eml:///dataspace('rddms-io/test-1')");
        assert_eq!(named.qualified_type(), None);
        assert_eq!(named.uuid(), None);
    }

    #[test]
    fn empty_dataspace_is_the_default() {
        assert_eq!(parse("eml:///dataspace('')"), parse("eml:///"));
        assert_eq!(parse("eml:///dataspace('')").to_string(), "eml:///");
        let object = parse(&format!("eml:///dataspace('')/witsml21.Well({WELL})"));
        assert_eq!(object.to_string(), format!("eml:///witsml21.Well({WELL})"));
        assert_eq!(
            DataspaceUri::from_path(""),
            Ok(DataspaceUri::default_dataspace())
        );
    }

    #[test]
    fn quotes_in_paths_and_versions() {
        let uri = parse("eml:///dataspace('it''s')");
        assert_eq!(uri.dataspace_path(), Some("it's"));
        assert_eq!(uri.to_string(), "eml:///dataspace('it''s')");
        let dataspace = uri.dataspace();
        assert_eq!(dataspace.escaped_path(), "it''s");
        assert!(dataspace.path_matches("it's"));
        assert!(dataspace.path_matches("it''s"));
        assert!(!dataspace.path_matches("its"));

        assert_eq!(parse("eml:///dataspace('''')").dataspace_path(), Some("'"));
        assert_eq!(
            parse("eml:///dataspace('a''''b')").dataspace_path(),
            Some("a''b")
        );

        let versioned = parse(&format!("eml:///witsml21.Well(uuid={WELL},version='v''1')"));
        assert_eq!(versioned.object_version(), Some("v'1"));
        assert_eq!(
            versioned.to_string(),
            format!("eml:///witsml21.Well(uuid={WELL},version='v''1')")
        );
    }

    #[test]
    fn special_characters_inside_quotes_are_kept() {
        for path in [
            "a b",
            "a%20b",
            "x/y/z",
            "a?b#c",
            "a)b(",
            "é/ü",
            "dataspace('x')",
        ] {
            let dataspace = DataspaceUri::from_path(path).unwrap();
            let text = dataspace.to_string();
            let parsed = parse(&text);
            assert_eq!(parsed.dataspace_path(), Some(path), "{text}");
            assert_eq!(parsed.to_string(), text);
        }
        assert_ne!(
            parse("eml:///dataspace('a b')"),
            parse("eml:///dataspace('a%20b')")
        );
    }

    #[test]
    fn data_objects_in_default_and_named_dataspaces() {
        let well = parse(&format!("eml:///witsml21.Well({WELL})"));
        assert_eq!(well.kind(), UriKind::DataObject);
        assert_eq!(well.dataspace_path(), None);
        assert_eq!(well.qualified_type(), Some(&qt("witsml21.Well")));
        assert_eq!(well.uuid(), Some(&uuid(WELL)));
        assert_eq!(well.object_version(), None);
        assert_eq!(well.to_string(), format!("eml:///witsml21.Well({WELL})"));

        let text = format!("eml:///dataspace('demo')/resqml20.obj_Grid2dRepresentation({GRID})");
        let grid = DataObjectUri::parse(&text).unwrap();
        assert_eq!(grid.dataspace().path(), Some("demo"));
        assert_eq!(grid.qualified_type().family(), MlFamily::Resqml);
        assert_eq!(
            grid.qualified_type().object_type(),
            Some("obj_Grid2dRepresentation")
        );
        assert_eq!(grid.uuid_string(), GRID);
        assert_eq!(grid.to_string(), text);
    }

    #[test]
    fn specific_versions() {
        let text = format!("eml:///witsml21.Well(uuid={WELL},version='2.1')");
        let object = DataObjectUri::parse(&text).unwrap();
        assert_eq!(object.version(), Some("2.1"));
        assert_eq!(object.to_string(), text);
        assert_eq!(
            object.without_version().to_string(),
            format!("eml:///witsml21.Well({WELL})")
        );
        // `(uuid=...)` without a version is the plain form.
        assert_eq!(
            parse(&format!("eml:///witsml21.Well(uuid={WELL})")).to_string(),
            format!("eml:///witsml21.Well({WELL})")
        );
        // An empty version is kept.
        let empty = parse(&format!("eml:///witsml21.Well(uuid={WELL},version='')"));
        assert_eq!(empty.object_version(), Some(""));
        assert_eq!(
            empty.to_string(),
            format!("eml:///witsml21.Well(uuid={WELL},version='')")
        );
    }

    #[test]
    fn collection_query_uris() {
        let in_dataspace = parse("eml:///dataspace('demo')/resqml20.obj_LocalDepth3dCrs");
        let EtpUri::Query(query) = &in_dataspace else {
            panic!("expected a query URI")
        };
        assert_eq!(
            query.base(),
            &QueryBase::Dataspace(DataspaceUri::from_path("demo").unwrap())
        );
        assert_eq!(
            query.target_type(),
            Some(&qt("resqml20.obj_LocalDepth3dCrs"))
        );
        assert_eq!(
            in_dataspace.qualified_type(),
            Some(&qt("resqml20.obj_LocalDepth3dCrs"))
        );
        assert_eq!(in_dataspace.uuid(), None);
        assert_eq!(
            in_dataspace.to_string(),
            "eml:///dataspace('demo')/resqml20.obj_LocalDepth3dCrs"
        );

        let in_default = parse("eml:///resqml20.obj_LocalDepth3dCrs");
        assert_eq!(in_default.kind(), UriKind::Query);
        assert_eq!(
            in_default.to_string(),
            "eml:///resqml20.obj_LocalDepth3dCrs"
        );

        let related_text = format!("eml:///witsml21.Well({WELL})/witsml21.Wellbore");
        let related = parse(&related_text);
        let EtpUri::Query(query) = &related else {
            panic!("expected a query URI")
        };
        assert!(matches!(query.base(), QueryBase::DataObject(base) if base.uuid() == &uuid(WELL)));
        assert_eq!(related.to_string(), related_text);
    }

    #[test]
    fn query_strings_and_fragments() {
        let text = "eml:///dataspace('demo')/witsml21.Well?$filter=Name eq 'A'&$top=10";
        let uri = parse(text);
        let EtpUri::Query(query) = &uri else {
            panic!("expected a query URI")
        };
        assert_eq!(query.query(), Some("$filter=Name eq 'A'&$top=10"));
        assert_eq!(query.fragment(), None);
        assert_eq!(uri.to_string(), text);

        let with_fragment = parse("eml:///dataspace('demo')/witsml21.Well?$top=1#frag?x");
        let EtpUri::Query(query) = &with_fragment else {
            panic!("expected a query URI")
        };
        assert_eq!(query.query(), Some("$top=1"));
        assert_eq!(query.fragment(), Some("frag?x"));

        // A query without a collection type, on a dataspace and on an object.
        let on_dataspace = parse("eml:///dataspace('demo')?$skip=5");
        assert_eq!(on_dataspace.kind(), UriKind::Query);
        assert_eq!(on_dataspace.to_string(), "eml:///dataspace('demo')?$skip=5");
        assert_eq!(parse("eml:///?$top=1").to_string(), "eml:///?$top=1");
        let on_object = parse(&format!("eml:///witsml21.Well({WELL})#part"));
        assert_eq!(on_object.kind(), UriKind::Query);
        assert_eq!(
            on_object.to_string(),
            format!("eml:///witsml21.Well({WELL})#part")
        );

        // Empty `?` and `#` are dropped.
        assert_eq!(
            parse("eml:///dataspace('demo')?"),
            parse("eml:///dataspace('demo')")
        );
        assert_eq!(
            parse("eml:///dataspace('demo')?#").kind(),
            UriKind::Dataspace
        );
    }

    #[test]
    fn hierarchical_uris() {
        let wellbore = "0a8f2c1e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
        let text =
            format!("eml:///dataspace('x')/witsml21.Well({WELL})/witsml21.Wellbore({wellbore})");
        let uri = parse(&text);
        let EtpUri::Hierarchical(hierarchical) = &uri else {
            panic!("expected a hierarchical URI")
        };
        assert_eq!(hierarchical.ancestors().len(), 1);
        assert_eq!(
            hierarchical.target().to_string(),
            format!("eml:///dataspace('x')/witsml21.Wellbore({wellbore})")
        );
        assert_eq!(uri.uuid(), Some(&uuid(wellbore)));
        assert_eq!(uri.qualified_type(), Some(&qt("witsml21.Wellbore")));
        assert_eq!(uri.to_string(), text);
        assert_eq!(
            DataObjectUri::parse(&text),
            Err(UriError::WrongKind {
                expected: UriKind::DataObject,
                found: UriKind::Hierarchical
            })
        );

        let deeper = format!("{text}/witsml21.Log");
        let EtpUri::Query(query) = parse(&deeper) else {
            panic!("expected a query URI")
        };
        assert!(matches!(query.base(), QueryBase::Hierarchical(_)));
        assert_eq!(query.to_string(), deeper);

        let built = HierarchicalUri::new(
            vec![DataObjectUri::parse(&format!("eml:///witsml21.Well({WELL})")).unwrap()],
            DataObjectUri::parse(&format!("eml:///witsml21.Wellbore({wellbore})")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            built.to_string(),
            format!("eml:///witsml21.Well({WELL})/witsml21.Wellbore({wellbore})")
        );
        assert!(HierarchicalUri::new(vec![], built.target().clone()).is_err());
        let elsewhere = built
            .target()
            .in_dataspace(DataspaceUri::from_path("other").unwrap());
        assert!(HierarchicalUri::new(vec![elsewhere], built.target().clone()).is_err());
    }

    #[test]
    fn canonicalisation() {
        let canonical =
            format!("eml:///dataspace('demo')/resqml20.obj_Grid2dRepresentation({GRID})");
        for variant in [
            format!("EML:///dataspace('demo')/resqml20.obj_Grid2dRepresentation({GRID})"),
            format!("eml:///DataSpace('demo')/resqml20.obj_Grid2dRepresentation({GRID})"),
            format!("eml:///dataspace('demo')/RESQML20.obj_Grid2dRepresentation({GRID})"),
            format!(
                "eml:///dataspace('demo')/resqml20.obj_Grid2dRepresentation({})",
                GRID.to_ascii_uppercase()
            ),
            format!("eml:///dataspace('demo')/resqml20.obj_Grid2dRepresentation(UUID={GRID})"),
            format!("eml:///dataspace('demo')/resqml20.obj_Grid2dRepresentation({GRID})/"),
        ] {
            let uri = parse(&variant);
            assert_eq!(uri.to_string(), canonical, "{variant}");
            assert_eq!(uri, parse(&canonical));
            assert_eq!(
                EtpUri::parse_canonical(&variant),
                Err(UriError::NotCanonical {
                    canonical: canonical.clone()
                })
            );
        }
        assert!(EtpUri::parse_canonical(&canonical).is_ok());
        assert_eq!(
            parse("eml:///dataspace('demo')/").to_string(),
            "eml:///dataspace('demo')"
        );
        assert_eq!(
            parse(&format!("eml:///witsml21.Well(uuid={WELL},VERSION='1')")).to_string(),
            format!("eml:///witsml21.Well(uuid={WELL},version='1')")
        );
        // Type names keep their case and compare exactly.
        let odd = parse(&format!("eml:///witsml21.WELL({WELL})"));
        assert_eq!(odd.to_string(), format!("eml:///witsml21.WELL({WELL})"));
        assert_ne!(odd, parse(&format!("eml:///witsml21.Well({WELL})")));
    }

    #[test]
    fn rejects_empty_and_non_etp() {
        assert_eq!(parse_err(""), UriError::Empty);
        for text in [
            "eml",
            "eml:",
            "eml:/",
            "eml:/x",
            "http://x/",
            "witsml21.Well",
            " eml:///",
            "urn:eml:///",
        ] {
            assert!(matches!(parse_err(text), UriError::NotEtpUri(_)), "{text}");
        }
    }

    #[test]
    fn rejects_etp_1_1_uris() {
        for text in [
            format!("eml://witsml20/Well({WELL})"),
            "eml://resqml20/obj_Grid2dRepresentation".to_owned(),
            "eml://".to_owned(),
            "EML://witsml14/well".to_owned(),
            "eml://invalidUri".to_owned(),
            format!("eml://some-dataspace/witsml20/Well({WELL})"),
        ] {
            let error = parse_err(&text);
            assert!(matches!(error, UriError::Etp11Uri(_)), "{text}: {error:?}");
            assert_eq!(error.error_code(), ErrorCode::EINVALID_URI);
        }
    }

    #[test]
    fn rejects_bad_dataspaces() {
        assert_eq!(
            parse_err("eml:///dataspace(demo)"),
            UriError::UnquotedDataspace
        );
        assert_eq!(parse_err("eml:///dataspace"), UriError::UnquotedDataspace);
        assert!(matches!(
            parse_err("eml:///dataspace('demo"),
            UriError::UnterminatedQuote { position: 17 }
        ));
        assert!(matches!(
            parse_err("eml:///dataspace('it's')"),
            UriError::Expected { expected: ")", .. }
        ));
        assert!(matches!(
            parse_err("eml:///dataspace('''')x"),
            UriError::Expected { expected: "/", .. }
        ));
        assert!(matches!(
            parse_err("eml:///dataspace('a''"),
            UriError::UnterminatedQuote { .. }
        ));
        assert!(matches!(
            parse_err("eml:///dataspace('a'''"),
            UriError::Expected { expected: ")", .. }
        ));
        assert!(matches!(
            parse_err("eml:///dataspace('demo'"),
            UriError::Expected { expected: ")", .. }
        ));
        assert_eq!(
            parse_err(&format!("eml:///witsml21.Well({WELL})/dataspace('x')")),
            UriError::MisplacedDataspace
        );
        assert!(matches!(
            parse_err("eml:///dataspace('x')//"),
            UriError::EmptySegment { position: 22 }
        ));
        assert!(matches!(
            parse_err("eml:////"),
            UriError::EmptySegment { position: 7 }
        ));
    }

    #[test]
    fn push_to_writes_what_display_writes() {
        for text in [
            "eml:///resqml20.obj_HorizonInterpretation(0b5b7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b)",
            "eml:///dataspace('a/b')/witsml21.Well(0B5B7A3E-1C2D-4E5F-8A9B-0C1D2E3F4A5B)",
            "eml:///dataspace('it''s')/eml23.DataAssuranceRecord(uuid=0b5b7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b,version='v''2')",
            "eml:///dataspace('x''''y')/prodml22.Facility(uuid=0b5b7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b,version='1')",
        ] {
            let uri: DataObjectUri = text.parse().unwrap();
            let mut pushed = String::from("prefix:");
            uri.push_to(&mut pushed);
            assert_eq!(pushed, format!("prefix:{uri}"), "{text}");
        }
    }

    #[test]
    fn rejects_bad_object_segments() {
        let unknown_family = parse_err(&format!("eml:///foo20.Well({WELL})"));
        assert!(matches!(
            unknown_family,
            UriError::InvalidType {
                reason: NameError::UnknownFamily(_),
                ..
            }
        ));
        for text in [
            format!("eml:///witsml2.Well({WELL})"),
            format!("eml:///witsml021.Well({WELL})"),
            format!("eml:///witsml21.Well-X({WELL})"),
            format!("eml:///witsml21.*({WELL})"),
            format!("eml:///witsml21({WELL})"),
            format!("eml:///witsml21.({WELL})"),
            "eml:///witsml20/Well".to_owned(),
        ] {
            assert!(
                matches!(parse_err(&text), UriError::InvalidType { .. }),
                "{text}"
            );
        }
        assert_eq!(
            parse_err("eml:///witsml21.Well(invalid)"),
            UriError::InvalidUuid("invalid".to_owned())
        );
        assert!(matches!(
            parse_err("eml:///witsml21.Well()"),
            UriError::InvalidUuid(_)
        ));
        assert!(matches!(
            parse_err("eml:///witsml21.Well(uuid=nope)"),
            UriError::InvalidUuid(_)
        ));
        assert!(matches!(
            parse_err(&format!("eml:///witsml21.Well({WELL}")),
            UriError::Expected { expected: ")", .. }
        ));
        assert!(matches!(
            parse_err(&format!("eml:///witsml21.Well({WELL},version='1')")),
            UriError::InvalidObjectId { position: 21 }
        ));
        assert!(matches!(
            parse_err(&format!("eml:///witsml21.Well(uuid={WELL},version=1)")),
            UriError::Expected { expected: "'", .. }
        ));
        assert!(matches!(
            parse_err(&format!("eml:///witsml21.Well(uuid={WELL},ver='1')")),
            UriError::Expected { .. }
        ));
        assert!(matches!(
            parse_err(&format!("eml:///witsml21.Well(uuid={WELL},version='1)")),
            UriError::UnterminatedQuote { .. }
        ));
        assert!(matches!(
            parse_err(&format!("eml:///witsml21.Well({WELL})x")),
            UriError::Expected { expected: "/", .. }
        ));
        assert!(matches!(
            parse_err(&format!("eml:///witsml21.Well({WELL})({WELL})")),
            UriError::Expected { expected: "/", .. }
        ));
        assert_eq!(
            parse_err(&format!("eml:///witsml21.Well/witsml21.Wellbore({WELL})")),
            UriError::CollectionNotLast("witsml21.Well".to_owned())
        );
    }

    #[test]
    fn rejects_control_characters() {
        assert_eq!(
            parse_err("eml:///dataspace('a\nb')"),
            UriError::ControlCharacter { position: 19 }
        );
        assert!(matches!(
            parse_err("eml:///\0"),
            UriError::ControlCharacter { .. }
        ));
        assert!(matches!(
            parse_err("eml:///dataspace('a\u{85}')"),
            UriError::ControlCharacter { .. }
        ));
        assert!(DataspaceUri::from_path("a\tb").is_err());
        let object = DataObjectUri::parse(&format!("eml:///witsml21.Well({WELL})")).unwrap();
        assert!(object.with_version("1\r").is_err());
    }

    #[test]
    fn kind_checking_helpers() {
        let object_text = format!("eml:///witsml21.Well({WELL})");
        assert_eq!(
            DataspaceUri::parse(&object_text),
            Err(UriError::WrongKind {
                expected: UriKind::Dataspace,
                found: UriKind::DataObject
            })
        );
        assert_eq!(
            DataObjectUri::parse("eml:///dataspace('x')"),
            Err(UriError::WrongKind {
                expected: UriKind::DataObject,
                found: UriKind::Dataspace
            })
        );
        assert_eq!(
            DataObjectUri::parse(&format!("{object_text}?$top=1"))
                .unwrap_err()
                .error_code(),
            ErrorCode::EINVALID_URI
        );
        assert!(parse(&object_text).as_data_object().is_some());
        assert!(parse(&object_text).as_dataspace().is_none());
        assert!(parse("eml:///").as_dataspace().is_some());
        assert_eq!(
            "eml:///".parse::<DataspaceUri>(),
            Ok(DataspaceUri::default_dataspace())
        );
        assert!(object_text.parse::<DataObjectUri>().is_ok());
    }

    #[test]
    fn builders_produce_canonical_text() {
        let dataspace = DataspaceUri::from_path("maap/drogon").unwrap();
        let grid_type = QualifiedType::new(
            MlFamily::Resqml,
            MlVersion::from_two_digits(20).unwrap(),
            "obj_Grid2dRepresentation",
        )
        .unwrap();
        let object = dataspace.data_object(grid_type, uuid(GRID)).unwrap();
        assert_eq!(
            object.to_string(),
            format!("eml:///dataspace('maap/drogon')/resqml20.obj_Grid2dRepresentation({GRID})")
        );
        assert!(dataspace.data_object(qt("resqml20.*"), uuid(GRID)).is_err());
        let versioned = object.clone().with_version("3").unwrap();
        assert_eq!(versioned.version(), Some("3"));
        assert_eq!(
            object
                .in_dataspace(DataspaceUri::default_dataspace())
                .dataspace(),
            &DataspaceUri::default()
        );

        let query = QueryUri::new(
            QueryBase::Dataspace(dataspace.clone()),
            Some(qt("resqml20.obj_LocalDepth3dCrs")),
            Some("$top=5"),
            None,
        )
        .unwrap();
        assert_eq!(
            query.to_string(),
            "eml:///dataspace('maap/drogon')/resqml20.obj_LocalDepth3dCrs?$top=5"
        );
        assert_eq!(parse(&query.to_string()), EtpUri::Query(query));
        assert!(
            QueryUri::new(
                QueryBase::Dataspace(dataspace.clone()),
                None,
                Some(""),
                None
            )
            .is_err()
        );
        assert!(
            QueryUri::new(
                QueryBase::Dataspace(dataspace.clone()),
                None,
                Some("a#b"),
                None
            )
            .is_err()
        );
        assert!(
            QueryUri::new(
                QueryBase::Dataspace(dataspace),
                Some(qt("resqml20.*")),
                None,
                None
            )
            .is_err()
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("eml:///dataspace('a b')").unwrap(),
            "eml:///dataspace('a b')"
        );
        assert_eq!(
            percent_decode("eml:///dataspace('a%20b')").unwrap(),
            "eml:///dataspace('a b')"
        );
        assert_eq!(percent_decode("%C3%A9").unwrap(), "é");
        assert_eq!(
            percent_decode("%2"),
            Err(UriError::InvalidPercentEncoding { position: 0 })
        );
        assert_eq!(
            percent_decode("ab%zz"),
            Err(UriError::InvalidPercentEncoding { position: 2 })
        );
        assert_eq!(percent_decode("%ff"), Err(UriError::PercentDecodedNotUtf8));
    }

    #[test]
    fn errors_do_not_echo_huge_input() {
        let huge = format!("eml://{}", "x".repeat(100_000));
        let UriError::Etp11Uri(text) = parse_err(&huge) else {
            panic!("wrong error")
        };
        assert!(text.len() < 400);
        let message =
            parse_err(&format!("eml:///witsml21.Well({})", "z".repeat(100_000))).to_string();
        assert!(message.len() < 400);
    }

    #[test]
    fn serde_uses_canonical_strings() {
        let uri = parse(&format!(
            "eml:///dataspace('demo')/witsml21.Well({})",
            WELL.to_ascii_uppercase()
        ));
        let json = serde_json::to_string(&uri).unwrap();
        assert_eq!(
            json,
            format!("\"eml:///dataspace('demo')/witsml21.Well({WELL})\"")
        );
        assert_eq!(serde_json::from_str::<EtpUri>(&json).unwrap(), uri);
        assert!(serde_json::from_str::<DataObjectUri>("\"eml:///\"").is_err());
        assert_eq!(
            serde_json::from_str::<DataspaceUri>("\"eml:///\"").unwrap(),
            DataspaceUri::default_dataspace()
        );
    }
}
