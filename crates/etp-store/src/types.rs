//! Plain records the store keeps. No ETP types: the server maps messages onto these.

use bytes::Bytes;

/// 16 raw bytes of a UUID, in the order of its canonical text form.
pub type Uuid = [u8; 16];

/// A dataspace: the container all objects and arrays live in.
///
/// The default dataspace `eml:///` has the empty path `""` and always exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataspace {
    /// Path as written inside `dataspace('...')`; `""` for the default dataspace.
    pub path: String,
    /// When the store created the dataspace, µs since the Unix epoch.
    pub store_created: i64,
    /// Last write to the dataspace record or to anything in it, µs since the epoch.
    /// The store raises it on every object and array write in the dataspace.
    pub store_last_write: i64,
    /// Opaque bytes (the server keeps the Avro-encoded `customData` map here).
    pub custom_data: Bytes,
}

/// Identity of a data object inside the store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// Dataspace path (`""` = default dataspace).
    pub dataspace: String,
    /// Object UUID.
    pub uuid: Uuid,
    /// Object version for version-qualified URIs; `None` for the plain object.
    pub version: Option<String>,
}

impl ObjectKey {
    /// Key of the unversioned object, the common case.
    pub fn new(dataspace: impl Into<String>, uuid: Uuid) -> Self {
        Self {
            dataspace: dataspace.into(),
            uuid,
            version: None,
        }
    }
}

/// `Active`/`Inactive` as reported in `Resource.activeStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActiveStatus {
    /// Reported as `Active`.
    Active,
    /// Reported as `Inactive`.
    Inactive,
}

/// Whether a reference is part of the main model hierarchy (Discovery's
/// `navigableEdges`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelationshipKind {
    /// Primary relationship.
    Primary,
    /// Secondary relationship.
    Secondary,
}

/// One outgoing reference of a data object, as parsed from its XML by the server.
///
/// Targets are resolved by UUID inside the source's dataspace, so the target
/// need not exist (yet).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// UUID of the referenced object.
    pub target_uuid: Uuid,
    /// Qualified type written in the reference (a hint: the stored target may differ).
    pub target_type: String,
    /// Relationship name or element path (e.g. `rsq:LocalCrs`), used for `Edge.customData.path`.
    pub name: String,
    /// Primary or secondary.
    pub kind: RelationshipKind,
}

/// Everything the store keeps about a data object except its bytes.
///
/// Kept separate from the bytes so that listing a dataspace of 100,000
/// objects reads only these small records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Qualified type, e.g. `resqml20.obj_Grid2dRepresentation`.
    pub qualified_type: String,
    /// Citation title (`Resource.name`).
    pub title: String,
    /// Last change recorded in the object itself, µs since the epoch.
    pub last_changed: i64,
    /// When the store first created the object, µs. On an update the store keeps
    /// the previous value and ignores the one passed in.
    pub store_created: i64,
    /// When the store last wrote the object, µs.
    pub store_last_write: i64,
    /// Reported active status.
    pub active_status: ActiveStatus,
    /// Serialization of the bytes (`"xml"`).
    pub format: String,
    /// Opaque bytes (Avro-encoded `customData` map).
    pub custom_data: Bytes,
    /// Outgoing references, in document order.
    pub references: Vec<Reference>,
    /// Length of the object bytes. Set by the store on put (the value passed in is
    /// ignored) so `MaxDataObjectSize` checks need not load the bytes.
    pub data_len: u64,
}

/// One object of a listing ([`crate::ReadTxn::visit_objects`]): what
/// [`ObjectKey`] and [`ObjectMeta`] hold except `format` and `data_len`, borrowed
/// from the store's own record. A listing of 100,000 objects then allocates
/// nothing per object in the store; the caller copies only what it keeps.
#[derive(Debug, Clone, Copy)]
pub struct ObjectRow<'a> {
    /// Object UUID (the dataspace is the one listed).
    pub uuid: Uuid,
    /// Object version for version-qualified URIs.
    pub version: Option<&'a str>,
    /// Qualified type.
    pub qualified_type: &'a str,
    /// Citation title.
    pub title: &'a str,
    /// See [`ObjectMeta::last_changed`].
    pub last_changed: i64,
    /// See [`ObjectMeta::store_created`].
    pub store_created: i64,
    /// See [`ObjectMeta::store_last_write`].
    pub store_last_write: i64,
    /// Reported active status.
    pub active_status: ActiveStatus,
    /// Opaque bytes (Avro-encoded `customData` map).
    pub custom_data: &'a [u8],
    /// Outgoing references, in document order.
    pub references: ReferenceList<'a>,
    /// The object's place in the reference graph (`sourceCount`, `targetCount`).
    pub counts: ReferenceCounts,
}

/// How an object sits in its dataspace's reference graph, as Discovery's `countObjects`
/// reports it (10-discovery.md): primary and secondary references together, references
/// to the object's own UUID never counted.
///
/// Engines keep these up to date on every write, so that a listing can hand them out
/// with each object instead of counting the whole dataspace first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ReferenceCounts {
    /// Stored objects (each version on its own) whose references include this
    /// object's UUID.
    pub sources: u64,
    /// Distinct UUIDs this object references of which at least one version is stored.
    pub targets: u64,
}

impl ReferenceCounts {
    /// No references either way.
    pub fn is_zero(&self) -> bool {
        self.sources == 0 && self.targets == 0
    }
}

impl<'a> ObjectRow<'a> {
    /// The row of an owned object (for engines without a borrowed decode).
    pub fn of(key: &'a ObjectKey, meta: &'a ObjectMeta, counts: ReferenceCounts) -> Self {
        ObjectRow {
            uuid: key.uuid,
            version: key.version.as_deref(),
            qualified_type: &meta.qualified_type,
            title: &meta.title,
            last_changed: meta.last_changed,
            store_created: meta.store_created,
            store_last_write: meta.store_last_write,
            active_status: meta.active_status,
            custom_data: &meta.custom_data,
            references: ReferenceList::of(&meta.references),
            counts,
        }
    }
}

/// The references of an [`ObjectRow`], decoded only as far as they are read.
#[derive(Debug, Clone, Copy)]
pub struct ReferenceList<'a>(pub(crate) ReferencesRepr<'a>);

#[derive(Debug, Clone, Copy)]
pub(crate) enum ReferencesRepr<'a> {
    /// Already decoded references.
    Owned(&'a [Reference]),
    /// `count` references still in the record's encoding (see `codec.rs`).
    Encoded { count: u32, bytes: &'a [u8] },
}

impl<'a> ReferenceList<'a> {
    /// A list over decoded references.
    pub fn of(references: &'a [Reference]) -> Self {
        ReferenceList(ReferencesRepr::Owned(references))
    }

    /// Number of references.
    pub fn len(&self) -> usize {
        match self.0 {
            ReferencesRepr::Owned(r) => r.len(),
            ReferencesRepr::Encoded { count, .. } => count as usize,
        }
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The references in document order. A damaged record yields one error and ends.
    pub fn iter(&self) -> impl Iterator<Item = crate::Result<ReferenceRef<'a>>> + 'a {
        crate::codec::ReferenceIter::new(self.0)
    }

    /// Target UUID and kind of each reference, in document order, without reading the
    /// type and name strings (counting references over a listing of 100,000 objects
    /// spent more time validating those strings than reading the UUIDs). A damaged
    /// record yields one error and ends, as [`ReferenceList::iter`] does.
    pub fn targets(&self) -> impl Iterator<Item = crate::Result<(Uuid, RelationshipKind)>> + 'a {
        crate::codec::ReferenceTargets::new(self.0)
    }
}

/// A borrowed [`Reference`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferenceRef<'a> {
    /// UUID of the referenced object.
    pub target_uuid: Uuid,
    /// Qualified type written in the reference.
    pub target_type: &'a str,
    /// Relationship name or element path.
    pub name: &'a str,
    /// Primary or secondary.
    pub kind: RelationshipKind,
}

impl ReferenceRef<'_> {
    /// An owned copy.
    pub fn to_reference(&self) -> Reference {
        Reference {
            target_uuid: self.target_uuid,
            target_type: self.target_type.to_owned(),
            name: self.name.to_owned(),
            kind: self.kind,
        }
    }
}

/// A data object with its bytes, exactly as they were put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Identity.
    pub key: ObjectKey,
    /// Metadata.
    pub meta: ObjectMeta,
    /// Object document, byte-exact.
    pub data: Bytes,
}

/// One edge `source → target` found through the reverse index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The referencing object.
    pub source: ObjectKey,
    /// Qualified type of the referencing object (to build its URI without a lookup).
    pub source_type: String,
    /// The reference as stored on the source.
    pub reference: Reference,
}

/// Type filter of `GetResources.dataObjectTypes` and similar requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeFilter {
    /// Exactly this qualified type.
    Exact(String),
    /// Every type starting with this text (`resqml20.*` → `Prefix("resqml20.")`).
    Prefix(String),
}

impl TypeFilter {
    /// Whether a qualified type passes this filter.
    pub fn matches(&self, qualified_type: &str) -> bool {
        match self {
            TypeFilter::Exact(t) => t == qualified_type,
            TypeFilter::Prefix(p) => qualified_type.starts_with(p.as_str()),
        }
    }
}

/// Filters applied by [`crate::ReadTxn::list_objects`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectFilter {
    /// Keep objects whose type matches any of these; empty = all types.
    pub types: Vec<TypeFilter>,
    /// Keep objects with `store_last_write` strictly greater than this.
    pub last_write_after: Option<i64>,
    /// Keep objects with this active status.
    pub active_status: Option<ActiveStatus>,
}

/// A deleted-resource tombstone (`DeletedResource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedResource {
    /// UUID of the deleted object.
    pub uuid: Uuid,
    /// Version of the deleted object, if it was version-qualified.
    pub version: Option<String>,
    /// Qualified type the object had.
    pub qualified_type: String,
    /// Deletion time, µs since the epoch.
    pub deleted_at: i64,
}

/// Transport element type of an array (`AnyArrayType`; the discriminants are
/// the Avro enum indices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ElementType {
    /// `arrayOfBoolean`: one byte per element, 0 or 1.
    Bool = 0,
    /// `arrayOfInt`: i32 little-endian.
    I32 = 1,
    /// `arrayOfLong`: i64 little-endian.
    I64 = 2,
    /// `arrayOfFloat`: f32 little-endian.
    F32 = 3,
    /// `arrayOfDouble`: f64 little-endian.
    F64 = 4,
    /// `arrayOfString`: UTF-8 strings of any length.
    String = 5,
    /// `bytes`: one byte per element.
    Bytes = 6,
}

impl ElementType {
    /// Bytes per element for fixed-width types; `None` for strings.
    pub fn fixed_size(self) -> Option<u64> {
        match self {
            ElementType::Bool | ElementType::Bytes => Some(1),
            ElementType::I32 | ElementType::F32 => Some(4),
            ElementType::I64 | ElementType::F64 => Some(8),
            ElementType::String => None,
        }
    }

    /// Avro enum index (`AnyArrayType`).
    pub fn index(self) -> u8 {
        self as u8
    }

    /// Inverse of [`ElementType::index`].
    pub fn from_index(i: u8) -> Option<Self> {
        Some(match i {
            0 => ElementType::Bool,
            1 => ElementType::I32,
            2 => ElementType::I64,
            3 => ElementType::F32,
            4 => ElementType::F64,
            5 => ElementType::String,
            6 => ElementType::Bytes,
            _ => return None,
        })
    }

    /// Short name for error messages.
    pub fn name(self) -> &'static str {
        match self {
            ElementType::Bool => "bool",
            ElementType::I32 => "i32",
            ElementType::I64 => "i64",
            ElementType::F32 => "f32",
            ElementType::F64 => "f64",
            ElementType::String => "string",
            ElementType::Bytes => "bytes",
        }
    }
}

/// Identity of an array: `DataArrayIdentifier` resolved to its dataspace and
/// owning object UUID.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArrayKey {
    /// Dataspace path.
    pub dataspace: String,
    /// UUID of the object named by `DataArrayIdentifier.uri`.
    pub owner: Uuid,
    /// `pathInResource`, verbatim.
    pub path: String,
}

impl std::fmt::Display for ArrayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "dataspace {:?} owner ", self.dataspace)?;
        for b in self.owner {
            write!(f, "{b:02x}")?;
        }
        write!(f, " path {:?}", self.path)
    }
}

/// Array metadata (`DataArrayMetadata` minus what the server derives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayMeta {
    /// Sizes from slowest to fastest varying (row-major).
    pub dimensions: Vec<u64>,
    /// Transport element type the array is stored and answered in.
    pub element_type: ElementType,
    /// `AnyLogicalArrayType` Avro enum index, kept as sent.
    pub logical_type: i32,
    /// Block shape the store reads and writes efficiently. If empty on create,
    /// the store fills in a block aligned to its chunks.
    pub preferred_subarray_dims: Vec<u64>,
    /// Creation time, µs. Kept as given on create.
    pub store_created: i64,
    /// Last write, µs. Raised by every subarray write.
    pub store_last_write: i64,
    /// Opaque bytes (Avro-encoded `customData` map).
    pub custom_data: Bytes,
}

/// Record of one ETP session, kept so past sessions can be listed after restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Session id.
    pub id: Uuid,
    /// `RequestSession.applicationName`.
    pub application_name: String,
    /// `RequestSession.applicationVersion`.
    pub application_version: String,
    /// Peer socket address as text.
    pub peer_address: String,
    /// Negotiated protocol numbers.
    pub protocols: Vec<i32>,
    /// Open time, µs. Part of the ordering key: keep it stable for a session.
    pub opened_at: i64,
    /// Close time, µs; `None` while open (or if the server died).
    pub closed_at: Option<i64>,
    /// Why the session ended.
    pub close_reason: Option<String>,
    /// Messages received.
    pub messages_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
}
