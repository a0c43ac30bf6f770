//! Errors of this crate.

/// ETP 1.2 error code `EINVALID_OBJECT`.
pub const EINVALID_OBJECT: i32 = 14;

/// Maximum number of characters of hostile input copied into an error.
const MAX_ERROR_TEXT: usize = 80;

/// Why a data object could not be parsed, or disagrees with its URI.
///
/// **Mapping to ETP error codes.** A store answering `PutDataObjects` first
/// validates the URI (9 `EINVALID_URI`) and checks that the URI's type is
/// supported and negotiated (16 `EDATAOBJECTTYPE_NOTSUPPORTED`); only then
/// does it parse the XML. From that point every variant here, including
/// [`ModelError::UnsupportedNamespace`] and
/// [`ModelError::UnsupportedSchemaVersion`], means "the XML is not a valid
/// object of the type named by the URI" and must be answered with 14
/// `EINVALID_OBJECT` (11-store.md §4: not well-formed, root type ≠ URI
/// type, uuid ≠ URI uuid → 14). [`ModelError::etp_error_code`] returns that
/// code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The input is not valid UTF-8 (ETP data objects are UTF-8 XML).
    #[error("data object is not valid UTF-8 (byte {position})")]
    InvalidUtf8 {
        /// Byte offset of the first invalid byte.
        position: u64,
    },
    /// The XML declaration names an encoding other than UTF-8 / US-ASCII.
    #[error("unsupported XML encoding {encoding:?} (only UTF-8 is accepted)")]
    UnsupportedEncoding {
        /// The declared encoding (truncated).
        encoding: String,
    },
    /// The XML is not well-formed (as far as this streaming reader checks;
    /// see the crate documentation).
    #[error("XML not well-formed at byte {position}: {message}")]
    NotWellFormed {
        /// Approximate byte offset of the problem.
        position: u64,
        /// Human-readable description.
        message: String,
    },
    /// A document type declaration (`<!DOCTYPE ...>`) is present. DTDs are
    /// never processed (no entity expansion, no external fetches); any
    /// DOCTYPE is rejected.
    #[error("DOCTYPE declarations are not allowed (byte {position})")]
    DoctypeNotAllowed {
        /// Byte offset of the declaration.
        position: u64,
    },
    /// An entity reference other than the five predefined ones and
    /// character references.
    #[error("undeclared entity &{name}; at byte {position}")]
    UndeclaredEntity {
        /// Entity name (truncated).
        name: String,
        /// Byte offset of the reference.
        position: u64,
    },
    /// The document contains no root element.
    #[error("no root element")]
    NoRootElement,
    /// Element nesting deeper than the configured limit.
    #[error("element nesting deeper than {limit} levels (byte {position})")]
    DepthLimitExceeded {
        /// The limit ([`crate::ParseLimits::max_depth`]).
        limit: usize,
        /// Byte offset where the limit was exceeded.
        position: u64,
    },
    /// An element has more attributes than the configured limit.
    #[error("element with more than {limit} attributes (byte {position})")]
    TooManyAttributes {
        /// The limit ([`crate::ParseLimits::max_attributes`]).
        limit: usize,
        /// Byte offset of the element.
        position: u64,
    },
    /// More data object references than the configured limit.
    #[error("more than {limit} data object references")]
    TooManyReferences {
        /// The limit ([`crate::ParseLimits::max_references`]).
        limit: usize,
    },
    /// More external array references than the configured limit.
    #[error("more than {limit} external array references")]
    TooManyArrays {
        /// The limit ([`crate::ParseLimits::max_arrays`]).
        limit: usize,
    },
    /// The root element is not in a supported Energistics 2.x namespace
    /// (RESQML, WITSML, PRODML or EML `…/energyml/data/*v2`). WITSML 1.x,
    /// arbitrary XML and namespace-less roots end here. The store answers
    /// 14 (see the type documentation): the URI type was already checked.
    #[error("root element {local_name:?} is in unsupported namespace {namespace:?}")]
    UnsupportedNamespace {
        /// Namespace URI of the root element (empty if none; truncated).
        namespace: String,
        /// Local name of the root element (truncated).
        local_name: String,
    },
    /// The root's `schemaVersion` is not a 2.x version of its family.
    #[error("unsupported schemaVersion {schema_version:?} for namespace of family {family}")]
    UnsupportedSchemaVersion {
        /// Family derived from the root namespace.
        family: crate::Family,
        /// The attribute value (truncated).
        schema_version: String,
    },
    /// The root element / `xsi:type` name cannot be an ETP type name
    /// (only ASCII letters, digits and `_` are allowed).
    #[error("invalid data object type name {name:?}")]
    InvalidTypeName {
        /// The offending name (truncated).
        name: String,
    },
    /// The root element has no `uuid` attribute.
    #[error("root element has no uuid attribute")]
    MissingUuid,
    /// A UUID (the root's or a reference's) is not in 8-4-4-4-12 hex form.
    #[error("invalid uuid {value:?} in {context}")]
    InvalidUuid {
        /// The offending text (truncated).
        value: String,
        /// Where it was found: `uuid attribute` or the reference element path.
        context: String,
    },
    /// A numeric field of an external array reference (`Count`,
    /// `StartIndex`) is not a non-negative integer.
    #[error("invalid value {value:?} in {element}")]
    InvalidValue {
        /// The element path.
        element: String,
        /// The offending text (truncated).
        value: String,
    },
    /// The root `uuid` differs from the uuid of the request URI
    /// ([`crate::check_consistency`]).
    #[error("uuid in XML ({found}) differs from uuid in URI ({expected})")]
    UuidMismatch {
        /// The uuid from the URI.
        expected: String,
        /// The uuid from the XML.
        found: String,
    },
    /// The root element type differs from the type of the request URI
    /// ([`crate::check_consistency`]).
    #[error("data object type in XML ({found}) differs from type in URI ({expected})")]
    TypeMismatch {
        /// The qualified type from the URI.
        expected: String,
        /// The qualified type derived from the XML.
        found: String,
    },
}

impl ModelError {
    /// The ETP error code a store answers for this error in
    /// `PutDataObjects`: always 14 `EINVALID_OBJECT` (see the type
    /// documentation for why unsupported namespaces are 14, not 16).
    pub const fn etp_error_code(&self) -> i32 {
        EINVALID_OBJECT
    }

    pub(crate) fn not_well_formed(position: u64, message: impl Into<String>) -> Self {
        ModelError::NotWellFormed {
            position,
            message: message.into(),
        }
    }
}

/// Copies at most [`MAX_ERROR_TEXT`] characters of `s` (hostile input must not
/// make errors large).
pub(crate) fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_ERROR_TEXT) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
