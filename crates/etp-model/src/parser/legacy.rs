//! The quick-xml based parser this crate used before its own scanner (`super`): kept
//! for tests only, as the oracle the differential tests compare the scanner with.

use quick_xml::XmlVersion;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::{QName, ResolveResult};
use quick_xml::reader::NsReader;

use super::ParseLimits;
use crate::error::clip;
use crate::model::{
    Citation, DataObjectInfo, DataObjectReference, DateTimeValue, ExternalArrayKind,
    ExternalArrayReference, ProxyReference,
};
use crate::qualified::{
    Family, NS_COMMON, NS_XSI, build_qualified_type, content_type_to_qualified_type,
    normalize_qualified_type, version_to_two_digits,
};
use crate::uuid::canonical_uuid;
use crate::{ModelError, parse_xsd_datetime};

/// Parses an Energistics XML data object (RESQML 2.0.1/2.2, EML 2.0–2.3,
/// WITSML 2.0/2.1, PRODML 2.x) in one streaming pass and extracts what an
/// ETP store indexes: qualified type, uuid, versions, citation, references
/// to other data objects and references to external arrays.
///
/// The input is only read, never modified or re-serialized. It must be
/// UTF-8; DOCTYPE declarations and non-predefined entities are rejected.
/// Namespaces are matched by URI, never by prefix.
///
/// The qualified type comes from the root element's namespace (family), the
/// root's `xsi:type` if it names a type in an Energistics namespace
/// (otherwise the element's local name), and the `schemaVersion` attribute
/// (the version; the namespaces are shared between versions). RESQML 2.0.1
/// and EML 2.0 type names get the `obj_` prefix as ETP writes them.
pub(super) fn parse_data_object_with_limits(
    xml: &[u8],
    limits: &ParseLimits,
) -> Result<DataObjectInfo, ModelError> {
    let text = std::str::from_utf8(xml).map_err(|e| ModelError::InvalidUtf8 {
        position: e.valid_up_to() as u64,
    })?;
    // `contains` on bytes is memchr-accelerated; find the position only on error.
    if xml.contains(&0) {
        let i = xml.iter().position(|&b| b == 0).unwrap_or_default();
        return Err(ModelError::not_well_formed(
            i as u64,
            "NUL character is not allowed in XML",
        ));
    }
    let mut reader = NsReader::from_str(text);
    {
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.check_comments = true;
        cfg.allow_unmatched_ends = false;
        cfg.allow_dangling_amp = false;
        cfg.expand_empty_elements = false;
        cfg.trim_text(false);
    }
    Parser::new(limits).run(&mut reader)
}

/// A text field captured from a leaf element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    CitTitle,
    CitOriginator,
    CitCreation,
    CitLastUpdate,
    ContentType,
    QualifiedType,
    Uuid,
    Title,
    Version,
    EnergisticsUri,
    PathInHdfFile,
    PathInExternalFile,
    Count,
    StartIndex,
    Uri,
    MimeType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Plain,
    Citation,
    Capture(Field),
}

/// Values collected from the direct children of one element.
#[derive(Debug, Default)]
struct Accum {
    content_type: Option<String>,
    qualified_type: Option<String>,
    uuid: Option<String>,
    title: Option<String>,
    version: Option<String>,
    energistics_uri: Option<String>,
    path_in_hdf: Option<String>,
    path_in_external: Option<String>,
    uri: Option<String>,
    mime_type: Option<String>,
    counts: Vec<String>,
    starts: Vec<String>,
    proxy: Option<ProxyReference>,
}

#[derive(Debug)]
struct Frame {
    /// Length of `Parser::path` before this element's name was appended.
    path_len: usize,
    role: Role,
    acc: Option<Box<Accum>>,
}

/// What the root element told us.
struct Root {
    qualified_type: String,
    family: Family,
    family_version: u8,
    version_from_schema: bool,
    root_element: String,
    uuid: String,
    object_version: Option<String>,
    schema_version: Option<String>,
}

/// Remembers the last few type conversions: objects repeat the same
/// content types (every `HdfProxy` of a grid, for instance).
#[derive(Default)]
struct TypeCache {
    entries: Vec<(String, Option<String>)>,
    next: usize,
}

impl TypeCache {
    const SIZE: usize = 8;

    fn convert(&mut self, text: &str, f: fn(&str) -> Option<String>) -> Option<String> {
        if let Some((_, result)) = self.entries.iter().find(|(t, _)| t == text) {
            return result.clone();
        }
        let result = f(text);
        let entry = (text.to_owned(), result.clone());
        if self.entries.len() < Self::SIZE {
            self.entries.push(entry);
        } else if let Some(slot) = self.entries.get_mut(self.next) {
            *slot = entry;
            self.next = (self.next + 1) % Self::SIZE;
        }
        result
    }
}

struct Parser<'l> {
    limits: &'l ParseLimits,
    type_cache: TypeCache,
    frames: Vec<Frame>,
    /// Slash-separated local names below the root of the open elements.
    path: String,
    /// Text of the element being captured.
    text: String,
    root: Option<Root>,
    root_closed: bool,
    citation: Citation,
    references: Vec<DataObjectReference>,
    arrays: Vec<ExternalArrayReference>,
}

fn xml_err(e: quick_xml::Error, position: u64) -> ModelError {
    ModelError::not_well_formed(position, e.to_string())
}

fn is_xml_space(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

fn trim_xml(s: &str) -> &str {
    s.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n' | '\r'))
}

/// Trims XML whitespace, reusing the allocation when nothing is trimmed.
fn trim_owned(s: String) -> String {
    let t = trim_xml(&s);
    if t.len() == s.len() { s } else { t.to_owned() }
}

/// Whether `c` is allowed in an XML 1.0 document.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn set_once(slot: &mut Option<String>, value: String) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

/// Resolves a general entity or character reference without any DTD.
fn resolve_reference(r: &BytesRef<'_>, position: u64) -> Result<char, ModelError> {
    if r.is_char_ref() {
        return match r.resolve_char_ref() {
            Ok(Some(c)) if is_xml_char(c) => Ok(c),
            Ok(_) => Err(ModelError::not_well_formed(
                position,
                format!("invalid character reference &{};", clip(r)),
            )),
            Err(e) => Err(xml_err(e, position)),
        };
    }
    match &**r {
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

/// The role of a child element in the EML common namespace.
fn classify(parent: Role, local: &str) -> Role {
    if parent == Role::Citation {
        return match local {
            "Title" => Role::Capture(Field::CitTitle),
            "Originator" => Role::Capture(Field::CitOriginator),
            "Creation" => Role::Capture(Field::CitCreation),
            "LastUpdate" => Role::Capture(Field::CitLastUpdate),
            _ => Role::Plain,
        };
    }
    let field = match local {
        "ContentType" => Field::ContentType,
        "QualifiedType" => Field::QualifiedType,
        "UUID" | "Uuid" => Field::Uuid,
        "Title" => Field::Title,
        "VersionString" | "ObjectVersion" => Field::Version,
        "EnergisticsUri" => Field::EnergisticsUri,
        "PathInHdfFile" => Field::PathInHdfFile,
        "PathInExternalFile" => Field::PathInExternalFile,
        "Count" => Field::Count,
        "StartIndex" => Field::StartIndex,
        "URI" => Field::Uri,
        "MimeType" => Field::MimeType,
        _ => return Role::Plain,
    };
    Role::Capture(field)
}

impl<'l> Parser<'l> {
    fn new(limits: &'l ParseLimits) -> Self {
        Parser {
            limits,
            type_cache: TypeCache::default(),
            frames: Vec::new(),
            path: String::new(),
            text: String::new(),
            root: None,
            root_closed: false,
            citation: Citation::default(),
            references: Vec::new(),
            arrays: Vec::new(),
        }
    }

    fn capturing(&self) -> bool {
        matches!(
            self.frames.last(),
            Some(Frame {
                role: Role::Capture(_),
                ..
            })
        )
    }

    fn run(mut self, reader: &mut NsReader<&[u8]>) -> Result<DataObjectInfo, ModelError> {
        let mut first = true;
        loop {
            let position = reader.buffer_position();
            let event = reader
                .read_event()
                .map_err(|e| xml_err(e, reader.error_position()))?;
            match event {
                Event::Decl(decl) => {
                    if !first {
                        return Err(ModelError::not_well_formed(
                            position,
                            "XML declaration is only allowed at the very start",
                        ));
                    }
                    decl.version().map_err(|e| xml_err(e, position))?;
                    if let Some(enc) = decl.encoding() {
                        let enc = enc.map_err(|e| xml_err(e.into(), position))?;
                        let ok = ["UTF-8", "UTF8", "US-ASCII", "ASCII"]
                            .iter()
                            .any(|n| n.eq_ignore_ascii_case(&enc));
                        if !ok {
                            return Err(ModelError::UnsupportedEncoding {
                                encoding: clip(&enc),
                            });
                        }
                    }
                }
                Event::DocType(_) => return Err(ModelError::DoctypeNotAllowed { position }),
                Event::Start(e) => self.start(reader, &e, position)?,
                Event::Empty(e) => {
                    self.start(reader, &e, position)?;
                    self.end(position)?;
                }
                Event::End(_) => self.end(position)?,
                Event::Text(t) => {
                    if self.frames.is_empty() {
                        if !is_xml_space(&t) {
                            return Err(ModelError::not_well_formed(
                                position,
                                "text outside the root element",
                            ));
                        }
                    } else if self.capturing() {
                        self.text.push_str(&t.xml10_content());
                    }
                }
                Event::CData(c) => {
                    if self.frames.is_empty() {
                        return Err(ModelError::not_well_formed(
                            position,
                            "CDATA outside the root element",
                        ));
                    }
                    if self.capturing() {
                        self.text.push_str(&c.xml10_content());
                    }
                }
                Event::GeneralRef(r) => {
                    let c = resolve_reference(&r, position)?;
                    if self.frames.is_empty() {
                        return Err(ModelError::not_well_formed(
                            position,
                            "reference outside the root element",
                        ));
                    }
                    if self.capturing() {
                        self.text.push(c);
                    }
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::Eof => break,
            }
            first = false;
        }
        if !self.frames.is_empty() {
            return Err(ModelError::not_well_formed(
                reader.buffer_position(),
                format!(
                    "unexpected end of document: {} element(s) not closed",
                    self.frames.len()
                ),
            ));
        }
        let Some(root) = self.root else {
            return Err(ModelError::NoRootElement);
        };
        Ok(DataObjectInfo {
            qualified_type: root.qualified_type,
            family: root.family,
            family_version: root.family_version,
            version_from_schema: root.version_from_schema,
            root_element: root.root_element,
            uuid: root.uuid,
            object_version: root.object_version,
            schema_version: root.schema_version,
            citation: self.citation,
            references: self.references,
            arrays: self.arrays,
        })
    }

    /// Validates the attributes of an element (syntax, duplicates, entity
    /// references, count) and hands each to `f`.
    fn attributes<'a>(
        &self,
        e: &'a BytesStart<'_>,
        position: u64,
        mut f: impl FnMut(Attribute<'a>) -> Result<(), ModelError>,
    ) -> Result<(), ModelError> {
        for (n, attr) in e.attributes().enumerate() {
            if n >= self.limits.max_attributes {
                return Err(ModelError::TooManyAttributes {
                    limit: self.limits.max_attributes,
                    position,
                });
            }
            let attr = attr.map_err(|err| xml_err(err.into(), position))?;
            if attr.value.contains('&') {
                attr.normalized_value(XmlVersion::Implicit1_0)
                    .map_err(|err| xml_err(err, position))?;
            }
            f(attr)?;
        }
        Ok(())
    }

    fn start(
        &mut self,
        reader: &NsReader<&[u8]>,
        e: &BytesStart<'_>,
        position: u64,
    ) -> Result<(), ModelError> {
        if self.root_closed {
            return Err(ModelError::not_well_formed(
                position,
                "element after the end of the root element",
            ));
        }
        let depth = self.frames.len();
        if depth >= self.limits.max_depth {
            return Err(ModelError::DepthLimitExceeded {
                limit: self.limits.max_depth,
                position,
            });
        }
        let (ns, local) = reader.resolver().resolve_element(e.name());
        let ns: Option<&str> = match ns {
            ResolveResult::Bound(ns) => Some(ns.0),
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(prefix) => {
                return Err(ModelError::not_well_formed(
                    position,
                    format!("undeclared namespace prefix {:?}", clip(&prefix)),
                ));
            }
        };
        let local = local.into_inner();

        if depth == 0 {
            let root = self.root(reader, e, ns, local, position)?;
            self.root = Some(root);
            self.frames.push(Frame {
                path_len: 0,
                role: Role::Plain,
                acc: None,
            });
            return Ok(());
        }

        if !is_xml_space(e.attributes_raw()) {
            self.attributes(e, position, |_| Ok(()))?;
        }

        let Some(parent) = self.frames.last_mut() else {
            // depth > 0 means a frame is open.
            return Err(ModelError::not_well_formed(position, "internal: no parent"));
        };
        let role = match parent.role {
            Role::Capture(_) => {
                // Mixed content in a leaf we capture: not one of ours.
                parent.role = Role::Plain;
                Role::Plain
            }
            // Only the root's own Citation is of interest; the root's other
            // children are never references themselves.
            _ if depth == 1 => {
                if ns == Some(NS_COMMON) && local == "Citation" {
                    Role::Citation
                } else {
                    Role::Plain
                }
            }
            parent_role if ns == Some(NS_COMMON) => classify(parent_role, local),
            _ => Role::Plain,
        };
        if matches!(role, Role::Capture(_)) {
            self.text.clear();
        }
        let path_len = self.path.len();
        if path_len > 0 {
            self.path.push('/');
        }
        self.path.push_str(local);
        self.frames.push(Frame {
            path_len,
            role,
            acc: None,
        });
        Ok(())
    }

    fn root(
        &self,
        reader: &NsReader<&[u8]>,
        e: &BytesStart<'_>,
        ns: Option<&str>,
        local: &str,
        position: u64,
    ) -> Result<Root, ModelError> {
        let mut uuid: Option<String> = None;
        let mut schema_version: Option<String> = None;
        let mut object_version: Option<String> = None;
        let mut xsi_type: Option<String> = None;
        self.attributes(e, position, |attr| {
            let key = attr.key.0;
            let slot = match key {
                "uuid" => &mut uuid,
                "schemaVersion" => &mut schema_version,
                "objectVersion" => &mut object_version,
                k if k.contains(':') && !k.starts_with("xmlns:") => {
                    match reader.resolver().resolve_attribute(attr.key) {
                        (ResolveResult::Bound(n), l) if n.0 == NS_XSI && l.as_ref() == "type" => {
                            &mut xsi_type
                        }
                        _ => return Ok(()),
                    }
                }
                _ => return Ok(()),
            };
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| xml_err(err, position))?;
            *slot = Some(value.into_owned());
            Ok(())
        })?;

        let family = ns.and_then(Family::from_namespace).ok_or_else(|| {
            ModelError::UnsupportedNamespace {
                namespace: clip(ns.unwrap_or("")),
                local_name: clip(local),
            }
        })?;

        // The xsi:type names the actual type when it is an Energistics one
        // (xsdata writes `<resqml2:Grid2dRepresentation
        // xsi:type="resqml2:obj_Grid2dRepresentation">`).
        let mut family = family;
        let mut type_name: &str = local;
        if let Some(xsi) = xsi_type.as_deref()
            && let (ResolveResult::Bound(n), l) =
                reader.resolver().resolve_element(QName(trim_xml(xsi)))
            && let Some(f) = Family::from_namespace(n.0)
        {
            family = f;
            type_name = l.into_inner();
        }

        let (family_version, version_from_schema) = match schema_version.as_deref() {
            Some(v) => {
                let vv = version_to_two_digits(trim_xml(v))
                    .filter(|vv| vv / 10 == 2)
                    .ok_or_else(|| ModelError::UnsupportedSchemaVersion {
                        family,
                        schema_version: clip(v),
                    })?;
                (vv, true)
            }
            None if type_name.starts_with("obj_") || local.starts_with("obj_") => (20, false),
            None => (family.latest_version(), false),
        };
        let qualified_type =
            build_qualified_type(family, family_version, type_name).ok_or_else(|| {
                ModelError::InvalidTypeName {
                    name: clip(type_name),
                }
            })?;
        let uuid = uuid.ok_or(ModelError::MissingUuid)?;
        let uuid = canonical_uuid(&uuid).ok_or_else(|| ModelError::InvalidUuid {
            value: clip(&uuid),
            context: "uuid attribute of the root element".to_owned(),
        })?;
        Ok(Root {
            qualified_type,
            family,
            family_version,
            version_from_schema,
            root_element: local.to_owned(),
            uuid,
            object_version,
            schema_version,
        })
    }

    fn end(&mut self, position: u64) -> Result<(), ModelError> {
        let Some(frame) = self.frames.pop() else {
            return Err(ModelError::not_well_formed(position, "unmatched end tag"));
        };
        if self.frames.is_empty() {
            self.root_closed = true;
            return Ok(());
        }
        match frame.role {
            Role::Capture(field) => {
                let value = std::mem::take(&mut self.text);
                self.store_field(field, value);
            }
            Role::Plain | Role::Citation => {
                if let Some(acc) = frame.acc {
                    self.finish_element(*acc, frame.path_len)?;
                }
            }
        }
        self.path.truncate(frame.path_len);
        Ok(())
    }

    /// Stores a captured leaf value into the citation or the parent's
    /// accumulator.
    fn store_field(&mut self, field: Field, value: String) {
        let cit = &mut self.citation;
        match field {
            Field::CitTitle => set_once(&mut cit.title, value),
            Field::CitOriginator => set_once(&mut cit.originator, value),
            Field::CitCreation | Field::CitLastUpdate => {
                let text = trim_owned(value);
                let micros = parse_xsd_datetime(&text);
                let slot = if field == Field::CitCreation {
                    &mut cit.creation
                } else {
                    &mut cit.last_update
                };
                if slot.is_none() {
                    *slot = Some(DateTimeValue { text, micros });
                }
            }
            _ => {
                let Some(parent) = self.frames.last_mut() else {
                    return;
                };
                let acc = parent.acc.get_or_insert_with(Box::default);
                match field {
                    Field::ContentType => set_once(&mut acc.content_type, trim_owned(value)),
                    Field::QualifiedType => set_once(&mut acc.qualified_type, trim_owned(value)),
                    Field::Uuid => set_once(&mut acc.uuid, value),
                    Field::Title => set_once(&mut acc.title, value),
                    Field::Version => set_once(&mut acc.version, trim_owned(value)),
                    Field::EnergisticsUri => set_once(&mut acc.energistics_uri, trim_owned(value)),
                    Field::PathInHdfFile => set_once(&mut acc.path_in_hdf, value),
                    Field::PathInExternalFile => set_once(&mut acc.path_in_external, value),
                    Field::Uri => set_once(&mut acc.uri, trim_owned(value)),
                    Field::MimeType => set_once(&mut acc.mime_type, trim_owned(value)),
                    Field::Count => acc.counts.push(value),
                    Field::StartIndex => acc.starts.push(value),
                    Field::CitTitle
                    | Field::CitOriginator
                    | Field::CitCreation
                    | Field::CitLastUpdate => {}
                }
            }
        }
    }

    /// Turns the children collected for a closed element into a reference
    /// and/or an external array reference. `path_len` is the length of
    /// `self.path` before the element's name.
    fn finish_element(&mut self, acc: Accum, path_len: usize) -> Result<(), ModelError> {
        let element_path = self.path.as_str();
        let element_name = element_path
            .get(path_len..)
            .map_or("", |n| n.strip_prefix('/').unwrap_or(n));

        let is_reference =
            acc.uuid.is_some() && (acc.content_type.is_some() || acc.qualified_type.is_some());
        if is_reference {
            let raw_uuid = acc.uuid.as_deref().unwrap_or_default();
            let uuid = canonical_uuid(raw_uuid).ok_or_else(|| ModelError::InvalidUuid {
                value: clip(raw_uuid),
                context: clip(element_path),
            })?;
            if self.references.len() >= self.limits.max_references {
                return Err(ModelError::TooManyReferences {
                    limit: self.limits.max_references,
                });
            }
            let qualified_type = match (&acc.qualified_type, &acc.content_type) {
                (Some(qt), _) => self.type_cache.convert(qt, normalize_qualified_type),
                (None, Some(ct)) => self.type_cache.convert(ct, content_type_to_qualified_type),
                (None, None) => None,
            };
            // The parent of an HdfProxy is an Hdf5Dataset; of an
            // EpcExternalPartReference, an EML 2.2 ExternalDataArrayPart.
            if matches!(element_name, "HdfProxy" | "EpcExternalPartReference")
                && self.frames.len() > 1
                && let Some(parent) = self.frames.last_mut()
            {
                parent.acc.get_or_insert_with(Box::default).proxy = Some(ProxyReference {
                    uuid: uuid.clone(),
                    qualified_type: qualified_type.clone(),
                });
            }
            self.references.push(DataObjectReference {
                element_name: element_name.to_owned(),
                element_path: element_path.to_owned(),
                qualified_type,
                content_type: acc.content_type,
                qualified_type_text: acc.qualified_type,
                uuid,
                title: acc.title,
                version: acc.version,
                energistics_uri: acc.energistics_uri,
            });
        }

        let (kind, path_in_resource) = match (acc.path_in_hdf, acc.path_in_external) {
            (Some(p), _) => (ExternalArrayKind::Hdf5Dataset, p),
            (None, Some(p)) => (ExternalArrayKind::ExternalDataArrayPart, p),
            (None, None) => return Ok(()),
        };
        if self.arrays.len() >= self.limits.max_arrays {
            return Err(ModelError::TooManyArrays {
                limit: self.limits.max_arrays,
            });
        }
        let element_path = self.path.as_str();
        let numbers = |values: Vec<String>, name: &str| -> Result<Vec<u64>, ModelError> {
            values
                .iter()
                .map(|v| {
                    trim_xml(v)
                        .parse::<u64>()
                        .map_err(|_| ModelError::InvalidValue {
                            element: clip(&format!("{element_path}/{name}")),
                            value: clip(v),
                        })
                })
                .collect()
        };
        let (counts, start_indices) = match kind {
            ExternalArrayKind::Hdf5Dataset => (Vec::new(), Vec::new()),
            ExternalArrayKind::ExternalDataArrayPart => (
                numbers(acc.counts, "Count")?,
                numbers(acc.starts, "StartIndex")?,
            ),
        };
        self.arrays.push(ExternalArrayReference {
            kind,
            element_path: element_path.to_owned(),
            path_in_resource,
            proxy: acc.proxy,
            uri: acc.uri,
            mime_type: acc.mime_type,
            counts,
            start_indices,
        });
        Ok(())
    }
}
