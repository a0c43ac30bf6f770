//! What [`crate::parse_data_object`] extracts from a data object.

use crate::Family;
use crate::uuid::NIL_UUID;

/// Index information about one Energistics data object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataObjectInfo {
    /// The ETP qualified type, normalized (`resqml20.obj_Grid2dRepresentation`,
    /// `eml20.obj_EpcExternalPartReference`, `witsml21.Well`,
    /// `resqml22.Grid2dRepresentation`, `eml23.EpcExternalPartReference`).
    pub qualified_type: String,
    /// The family of the root's type.
    pub family: Family,
    /// The two-digit version of the root's type (`20`, `21`, `22`, `23`).
    pub family_version: u8,
    /// Whether `family_version` came from `schemaVersion` (`true`) or was
    /// inferred because the attribute is absent (`false`): `obj_` names give
    /// `20`, otherwise [`Family::latest_version`].
    pub version_from_schema: bool,
    /// The root element's local name as written (`Grid2dRepresentation`,
    /// `obj_LocalDepth3dCrs`, `Well`).
    pub root_element: String,
    /// The root `uuid` attribute, canonical lowercase.
    pub uuid: String,
    /// The root `objectVersion` attribute, if present (EML 2.x), verbatim.
    pub object_version: Option<String>,
    /// The root `schemaVersion` attribute, if present, verbatim.
    pub schema_version: Option<String>,
    /// The object's top-level `Citation`.
    pub citation: Citation,
    /// Every reference to another data object, in document order (including
    /// `HdfProxy` / `EpcExternalPartReference` references, nil-uuid and
    /// self references; see [`DataObjectInfo::edge_references`]).
    pub references: Vec<DataObjectReference>,
    /// Every reference to an external array, in document order.
    pub arrays: Vec<ExternalArrayReference>,
}

/// The fields of the object's top-level `eml:Citation` that a store needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Citation {
    /// `Citation/Title`, verbatim (entities resolved). The ETP
    /// `Resource.name`.
    pub title: Option<String>,
    /// `Citation/Originator`, verbatim (OSDU's `customData.creator`).
    pub originator: Option<String>,
    /// `Citation/Creation`.
    pub creation: Option<DateTimeValue>,
    /// `Citation/LastUpdate`.
    pub last_update: Option<DateTimeValue>,
}

/// An `xsd:dateTime` value: the text and, when it parses, its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateTimeValue {
    /// The element text with surrounding whitespace removed.
    pub text: String,
    /// Microseconds since the Unix epoch, `None` if the text is not a valid
    /// `xsd:dateTime` (see [`crate::parse_xsd_datetime`]). Invalid dates do
    /// not make the object invalid; the store falls back to its own clock.
    pub micros: Option<i64>,
}

/// A reference from this object to another data object.
///
/// Detected structurally, whatever the element's name: an element whose
/// direct children (in the EML common namespace) include `UUID` or `Uuid`
/// and `ContentType` or `QualifiedType` (RESQML 2.0.1 / EML 2.0
/// `eml:DataObjectReference`, EML 2.1 and 2.2/2.3 `DataObjectReference`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataObjectReference {
    /// Local name of the reference element: the relationship name
    /// (`LocalCrs`, `RepresentedInterpretation`, `HdfProxy`, `Well`, ...).
    pub element_name: String,
    /// Slash-separated local names from the root (excluded) down to the
    /// reference element (included), e.g. `Grid2dPatch/Geometry/LocalCrs`.
    /// Prefix-independent; suitable for OSDU's `Edge.customData.path`.
    pub element_path: String,
    /// The target's qualified type, normalized, from `QualifiedType` if
    /// present, else converted from `ContentType`; `None` if neither can be
    /// converted (the reference is still usable by uuid).
    pub qualified_type: Option<String>,
    /// The `ContentType` text, trimmed, if present.
    pub content_type: Option<String>,
    /// The `QualifiedType` text, trimmed, if present.
    pub qualified_type_text: Option<String>,
    /// The target uuid, canonical lowercase.
    pub uuid: String,
    /// The `Title` child, verbatim.
    pub title: Option<String>,
    /// `VersionString` (EML 2.0/2.1) or `ObjectVersion` (EML 2.2/2.3),
    /// trimmed.
    pub version: Option<String>,
    /// `EnergisticsUri` (EML 2.2/2.3), trimmed.
    pub energistics_uri: Option<String>,
}

impl DataObjectReference {
    /// Whether the target uuid is the nil uuid (`Datum` placeholders in
    /// WITSML certification data); such references create no edge.
    pub fn is_nil(&self) -> bool {
        self.uuid == NIL_UUID
    }

    /// Whether this reference points to an external part proxy (an
    /// `HdfProxy` element, or a target of type
    /// `eml20.obj_EpcExternalPartReference` / `eml2x.EpcExternalPartReference`).
    /// Such references create no edge on the OSDU server (03 §5).
    pub fn is_external_part_reference(&self) -> bool {
        self.element_name == "HdfProxy"
            || self.qualified_type.as_deref().is_some_and(|t| {
                t.split_once('.').is_some_and(|(prefix, name)| {
                    prefix.starts_with("eml")
                        && (name == "obj_EpcExternalPartReference"
                            || name == "EpcExternalPartReference")
                })
            })
    }
}

/// The kind of an external array reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExternalArrayKind {
    /// RESQML 2.0.1 / EML 2.0 `eml:Hdf5Dataset` (`PathInHdfFile` + `HdfProxy`).
    Hdf5Dataset,
    /// EML 2.2/2.3 (RESQML 2.2, WITSML 2.1) `eml:ExternalDataArrayPart`
    /// (`PathInExternalFile`, `Count`, `StartIndex`, `URI`, `MimeType`, and
    /// in EML 2.2 an `EpcExternalPartReference`).
    ExternalDataArrayPart,
}

/// The proxy data object holding an external array: the `HdfProxy` of an
/// `Hdf5Dataset`, or the `EpcExternalPartReference` of an EML 2.2
/// `ExternalDataArrayPart`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyReference {
    /// The proxy's uuid, canonical lowercase.
    pub uuid: String,
    /// The proxy's qualified type, if the reference's type converts
    /// (normally `eml20.obj_EpcExternalPartReference`).
    pub qualified_type: Option<String>,
}

/// A reference from this object to an array stored outside the XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalArrayReference {
    /// Which XML form it came from.
    pub kind: ExternalArrayKind,
    /// Slash-separated local names from the root (excluded) to the
    /// `Hdf5Dataset` / `ExternalDataArrayPart` element (included), e.g.
    /// `Grid2dPatch/Geometry/Points/ZValues/Values`.
    pub element_path: String,
    /// `PathInHdfFile` / `PathInExternalFile`, verbatim: the ETP
    /// `DataArrayIdentifier.pathInResource`.
    pub path_in_resource: String,
    /// The proxy object (`HdfProxy`, or EML 2.2 `EpcExternalPartReference`).
    pub proxy: Option<ProxyReference>,
    /// The EML 2.3 `URI` child, trimmed (usually the external file name).
    pub uri: Option<String>,
    /// The EML 2.3 `MimeType` child, trimmed.
    pub mime_type: Option<String>,
    /// The EML 2.3 `Count` children, in order (one per dimension).
    pub counts: Vec<u64>,
    /// The EML 2.3 `StartIndex` children, in order.
    pub start_indices: Vec<u64>,
}

/// The data object an array belongs to in ETP (the object whose URI goes
/// into `DataArrayIdentifier.uri`), plus the path in that resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArrayKey<'a> {
    /// Uuid of the owning data object.
    pub uuid: &'a str,
    /// Qualified type of the owning data object.
    pub qualified_type: &'a str,
    /// `DataArrayIdentifier.pathInResource`.
    pub path_in_resource: &'a str,
}

impl DataObjectInfo {
    /// `Citation/Title`, the ETP `Resource.name`.
    pub fn title(&self) -> Option<&str> {
        self.citation.title.as_deref()
    }

    /// The object's own last change as recorded in the XML, for
    /// `Resource.lastChanged`: `Citation/LastUpdate` if present and valid,
    /// else `Citation/Creation` if valid.
    pub fn last_changed_micros(&self) -> Option<i64> {
        let lu = self.citation.last_update.as_ref().and_then(|d| d.micros);
        lu.or_else(|| self.citation.creation.as_ref().and_then(|d| d.micros))
    }

    /// The type name part of the qualified type (`obj_Grid2dRepresentation`).
    pub fn type_name(&self) -> &str {
        self.qualified_type
            .split_once('.')
            .map_or(self.qualified_type.as_str(), |(_, n)| n)
    }

    /// The references that become graph edges (03 §5): all except nil-uuid
    /// targets, references to the object itself, and external part proxy
    /// references ([`DataObjectReference::is_external_part_reference`]).
    pub fn edge_references(&self) -> impl Iterator<Item = &DataObjectReference> + '_ {
        self.references
            .iter()
            .filter(|r| !r.is_nil() && r.uuid != self.uuid && !r.is_external_part_reference())
    }

    /// Where each external array lives in ETP terms:
    ///
    /// - `Hdf5Dataset`: the `HdfProxy` object (pyetp / fetpapi:
    ///   `DataArrayIdentifier {uri: <EpcExternalPartReference URI>,
    ///   pathInResource: PathInHdfFile}`); if the proxy's type does not
    ///   convert, `eml20.obj_EpcExternalPartReference` is assumed;
    /// - `ExternalDataArrayPart` with an `EpcExternalPartReference` child:
    ///   that object;
    /// - other `ExternalDataArrayPart`s: this object itself (etpproto-python
    ///   test data; UNSURE per the notes).
    ///
    /// Arrays without an owner (an `Hdf5Dataset` lacking `HdfProxy`) are
    /// skipped.
    pub fn array_keys(&self) -> impl Iterator<Item = ArrayKey<'_>> + '_ {
        self.arrays.iter().filter_map(move |a| {
            let (uuid, qualified_type) = match (&a.proxy, a.kind) {
                (Some(p), ExternalArrayKind::Hdf5Dataset) => (
                    p.uuid.as_str(),
                    p.qualified_type
                        .as_deref()
                        .unwrap_or("eml20.obj_EpcExternalPartReference"),
                ),
                (Some(p), ExternalArrayKind::ExternalDataArrayPart) => {
                    (p.uuid.as_str(), p.qualified_type.as_deref()?)
                }
                (None, ExternalArrayKind::Hdf5Dataset) => return None,
                (None, ExternalArrayKind::ExternalDataArrayPart) => {
                    (self.uuid.as_str(), self.qualified_type.as_str())
                }
            };
            Some(ArrayKey {
                uuid,
                qualified_type,
                path_in_resource: &a.path_in_resource,
            })
        })
    }
}
