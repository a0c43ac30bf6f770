//! Understanding Energistics XML data objects well enough for an ETP 1.2
//! store to index them.
//!
//! A pure library (no I/O, no async). [`parse_data_object`] reads the bytes
//! of one data object, as received in `PutDataObjects`, in a single
//! pass over the bytes (its own scanner, no DOM, nothing copied but the
//! reported values) and returns a
//! [`DataObjectInfo`]: qualified type, uuid, object and schema versions,
//! citation title and dates, references to other data objects, and
//! references to external arrays. [`check_consistency`] compares the result
//! with the request URI.
//! [`catalog`] knows the data object types of every ML release the store
//! accepts.
//!
//! ```
//! let xml = br#"<resqml2:LocalDepth3dCrs
//!     xmlns:eml="http://www.energistics.org/energyml/data/commonv2"
//!     xmlns:resqml2="http://www.energistics.org/energyml/data/resqmlv2"
//!     schemaVersion="2.0.1" uuid="dbe0e6ba-1ea6-4dd7-b541-9c4c14c16f62">
//!   <eml:Citation><eml:Title>Demo crs</eml:Title>
//!     <eml:Creation>2026-01-02T03:04:05Z</eml:Creation></eml:Citation>
//! </resqml2:LocalDepth3dCrs>"#;
//! let info = etp_model::parse_data_object(xml)?;
//! assert_eq!(info.qualified_type, "resqml20.obj_LocalDepth3dCrs");
//! assert_eq!(info.title(), Some("Demo crs"));
//! assert_eq!(info.last_changed_micros(), Some(1_767_323_045_000_000));
//! etp_model::check_consistency(
//!     &info,
//!     "dbe0e6ba-1ea6-4dd7-b541-9c4c14c16f62",
//!     "resqml20.obj_LocalDepth3dCrs",
//! )?;
//! # Ok::<(), etp_model::ModelError>(())
//! ```
//!
//! # Supported XML
//!
//! | family | versions | root namespace | type name |
//! |---|---|---|---|
//! | RESQML | 2.0.1 (`resqml20`), 2.2 (`resqml22`) | `…/energyml/data/resqmlv2` | 2.0.1: `obj_` added when missing |
//! | EML | 2.0 (`eml20`), 2.1, 2.2, 2.3 (`eml23`) | `…/energyml/data/commonv2` | 2.0: `obj_` added when missing |
//! | WITSML | 2.0, 2.1 (`witsml21`) | `…/energyml/data/witsmlv2` | as written |
//! | PRODML | 2.0, 2.1, 2.2 (`prodml22`) | `…/energyml/data/prodmlv2` | as written |
//!
//! Namespaces are shared between versions, so the version comes from the
//! root's `schemaVersion` attribute (`2.0.1` → `20`). Prefixes are
//! irrelevant: everything is matched by namespace URI.
//!
//! # Hostile input
//!
//! Never panics; memory is bounded by the input size plus what is reported.
//! Rejected: invalid UTF-8, NUL bytes, any DOCTYPE (so no DTD, no entity
//! expansion, no external fetches), undeclared entities, nesting deeper than
//! [`ParseLimits::max_depth`], elements with more than
//! [`ParseLimits::max_attributes`] attributes, more references or arrays
//! than the limits, more than 128 namespace bindings in scope.
//! Well-formedness is checked as the quick-xml reader this crate used before
//! checked it (tag syntax and matching, attribute syntax and duplicates,
//! comments, namespace prefixes and bindings; see the parser module for the
//! few places where it is stricter) plus: a single root element, no text or
//! markup outside it, the XML declaration only at the start and declaring
//! UTF-8, valid character and entity references. It is not a validating
//! parser: name characters and `]]>` in text are not checked.

#![warn(missing_docs)]

pub mod catalog;
mod consistency;
mod datetime;
mod error;
mod model;
mod parser;
mod qualified;
pub mod samples;
mod uuid;

pub use consistency::check_consistency;
pub use datetime::parse_xsd_datetime;
pub use error::{EINVALID_OBJECT, ModelError};
pub use model::{
    ArrayKey, Citation, DataObjectInfo, DataObjectReference, DateTimeValue, ExternalArrayKind,
    ExternalArrayReference, ProxyReference,
};
pub use parser::{ParseLimits, parse_data_object, parse_data_object_with_limits};
pub use qualified::{
    Family, NS_COMMON, NS_PRODML, NS_RESQML, NS_WITSML, NS_XSI, QualifiedTypeParts,
    content_type_to_qualified_type, normalize_qualified_type, split_qualified_type,
    version_to_two_digits,
};
pub use uuid::{NIL_UUID, canonical_uuid, uuid_eq};
