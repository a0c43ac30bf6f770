//! The parser behind [`crate::parse_data_object`]: one pass over the bytes,
//! no DOM, no event objects.
//!
//! The lexical work (markup boundaries, attributes, references, namespaces)
//! is in `scan`; this module keeps the open elements and turns the children
//! of reference-like elements into [`DataObjectReference`]s and
//! [`ExternalArrayReference`]s. Text is only copied inside the few leaf
//! elements whose value is reported (`Title`, `UUID`, `ContentType`, ...);
//! everywhere else the scanner jumps from one `<` or `&` to the next with
//! `memchr`, which is what makes the numeric bulk of a data object cheap.
//!
//! **Well-formedness** is checked as quick-xml (the reader this crate used
//! before) checked it with the configuration the crate used, with the same
//! error variants. Decided where the two may differ (all are
//! [`ModelError::NotWellFormed`], so still `EINVALID_OBJECT`):
//! an element without a name (`<>`, `< a>`), an attribute without one or a
//! processing instruction without a target name (`<?>…?>`, `<? x?>`) is
//! rejected; so is `xmlns:` with an empty prefix (quick-xml took it for a
//! default namespace); character references in attribute values must name
//! XML characters, as in text; the XML declaration is checked whole (quick-xml
//! ignored what follows `encoding`); messages and error positions are this
//! parser's own. The differential
//! tests (`differential.rs`) compare both parsers on the samples and on mutated
//! documents.

#[cfg(test)]
mod legacy;
mod scan;

use memchr::memmem;

use crate::error::clip;
use crate::model::{
    Citation, DataObjectInfo, DataObjectReference, DateTimeValue, ExternalArrayKind,
    ExternalArrayReference, ProxyReference,
};
use crate::qualified::{
    Family, NS_XSI, build_qualified_type, content_type_to_qualified_type, normalize_qualified_type,
    version_to_two_digits,
};
use crate::uuid::canonical_uuid;
use crate::{ModelError, parse_xsd_datetime};
use scan::{Namespaces, Resolved, is_space, is_xml_space};

/// Resource limits applied while parsing (hostile input).
///
/// Memory use is otherwise bounded by the input size: nothing is expanded
/// (no DTD, no entities beyond the predefined ones), and only the values
/// reported in [`DataObjectInfo`] are copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Maximum element nesting depth (the root is depth 1). Default 256.
    pub max_depth: usize,
    /// Maximum number of attributes on one element (also bounds the cost of
    /// the duplicate-attribute check). Default 64.
    pub max_attributes: usize,
    /// Maximum number of data object references. Default 100 000.
    pub max_references: usize,
    /// Maximum number of external array references. Default 100 000.
    pub max_arrays: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_depth: 256,
            max_attributes: 64,
            max_references: 100_000,
            max_arrays: 100_000,
        }
    }
}

/// Parses an Energistics XML data object with the default [`ParseLimits`].
///
/// See [`parse_data_object_with_limits`].
pub fn parse_data_object(xml: &[u8]) -> Result<DataObjectInfo, ModelError> {
    parse_data_object_with_limits(xml, &ParseLimits::default())
}

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
pub fn parse_data_object_with_limits(
    xml: &[u8],
    limits: &ParseLimits,
) -> Result<DataObjectInfo, ModelError> {
    let text = std::str::from_utf8(xml).map_err(|e| ModelError::InvalidUtf8 {
        position: e.valid_up_to() as u64,
    })?;
    if let Some(i) = memchr::memchr(0, xml) {
        return Err(ModelError::not_well_formed(
            i as u64,
            "NUL character is not allowed in XML",
        ));
    }
    Parser::new(text, limits).run()
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

/// An open element.
#[derive(Debug)]
struct Frame<'a> {
    /// The name as written, for matching the end tag.
    qname: &'a str,
    /// The local name (a step of reference paths).
    local: &'a str,
    /// Namespace bindings in scope before this element's own.
    namespaces: usize,
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

/// The root's attributes of interest, raw (normalized once all namespace
/// bindings of the root are known).
#[derive(Default)]
struct RootAttributes<'a> {
    uuid: Option<&'a str>,
    schema_version: Option<&'a str>,
    object_version: Option<&'a str>,
    /// Prefixed attributes other than namespace declarations: `xsi:type`
    /// candidates.
    prefixed: Vec<(&'a str, &'a str)>,
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

struct Parser<'a, 'l> {
    input: &'a str,
    limits: &'l ParseLimits,
    type_cache: TypeCache,
    frames: Vec<Frame<'a>>,
    namespaces: Namespaces<'a>,
    /// Scratch space for the duplicate-attribute check.
    attribute_keys: Vec<&'a str>,
    /// Text of the element being captured.
    text: String,
    root: Option<Root>,
    root_closed: bool,
    citation: Citation,
    references: Vec<DataObjectReference>,
    arrays: Vec<ExternalArrayReference>,
}

fn trim_xml(s: &str) -> &str {
    s.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n' | '\r'))
}

/// Trims XML whitespace, reusing the allocation when nothing is trimmed.
fn trim_owned(s: String) -> String {
    let t = trim_xml(&s);
    if t.len() == s.len() { s } else { t.to_owned() }
}

fn set_once(slot: &mut Option<String>, value: String) {
    if slot.is_none() {
        *slot = Some(value);
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

/// The UTF-8 byte order mark, skipped at the start of the input.
const BOM: &str = "\u{FEFF}";

impl<'a, 'l> Parser<'a, 'l> {
    fn new(input: &'a str, limits: &'l ParseLimits) -> Self {
        Parser {
            input,
            limits,
            type_cache: TypeCache::default(),
            frames: Vec::new(),
            namespaces: Namespaces::default(),
            attribute_keys: Vec::new(),
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

    fn run(mut self) -> Result<DataObjectInfo, ModelError> {
        let bytes = self.input.as_bytes();
        let start = if self.input.starts_with(BOM) {
            BOM.len()
        } else {
            0
        };
        let mut pos = start;
        loop {
            let next = scan::find_markup(&bytes[pos..]).map_or(bytes.len(), |i| pos + i);
            if next > pos {
                self.text(pos, next)?;
            }
            pos = match bytes.get(next) {
                None => break,
                Some(b'&') => self.reference(next)?,
                Some(_) => match bytes.get(next + 1) {
                    Some(b'/') => self.end_tag(next)?,
                    Some(b'!') => self.bang(next)?,
                    Some(b'?') => self.processing_instruction(next, next == start)?,
                    _ => self.start_tag(next)?,
                },
            };
        }
        if !self.frames.is_empty() {
            return Err(ModelError::not_well_formed(
                bytes.len() as u64,
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

    /// Character data between `start` and `end` (no `<` or `&` in it).
    fn text(&mut self, start: usize, end: usize) -> Result<(), ModelError> {
        let text = &self.input[start..end];
        if self.frames.is_empty() {
            if !is_xml_space(text) {
                return Err(ModelError::not_well_formed(
                    start as u64,
                    "text outside the root element",
                ));
            }
        } else if self.capturing() {
            scan::push_text(&mut self.text, text);
        }
        Ok(())
    }

    /// A reference in text at `amp`; returns the offset after it.
    fn reference(&mut self, amp: usize) -> Result<usize, ModelError> {
        let bytes = self.input.as_bytes();
        let position = amp as u64;
        // Like quick-xml: the reference ends at the first `;`, unless a `&`
        // or `<` comes first.
        let end = memchr::memchr3(b';', b'&', b'<', &bytes[amp + 1..])
            .map(|i| amp + 1 + i)
            .filter(|&i| bytes[i] == b';')
            .ok_or_else(|| {
                ModelError::not_well_formed(position, "unclosed reference: `&` without `;`")
            })?;
        let c = scan::resolve_reference(&self.input[amp + 1..end], position)?;
        if self.frames.is_empty() {
            return Err(ModelError::not_well_formed(
                position,
                "reference outside the root element",
            ));
        }
        if self.capturing() {
            self.text.push(c);
        }
        Ok(end + 1)
    }

    /// `<!--`, `<![CDATA[` or `<!DOCTYPE` at `lt`.
    fn bang(&mut self, lt: usize) -> Result<usize, ModelError> {
        let rest = &self.input[lt..];
        let position = lt as u64;
        if let Some(body) = rest.strip_prefix("<!--") {
            let end = memmem::find(body.as_bytes(), b"-->")
                .ok_or_else(|| ModelError::not_well_formed(position, "unclosed comment"))?;
            if memmem::find(&body.as_bytes()[..end], b"--").is_some() {
                return Err(ModelError::not_well_formed(
                    position,
                    "`--` is not allowed inside a comment",
                ));
            }
            return Ok(lt + 4 + end + 3);
        }
        if let Some(body) = rest.strip_prefix("<![CDATA[") {
            let end = memmem::find(body.as_bytes(), b"]]>")
                .ok_or_else(|| ModelError::not_well_formed(position, "unclosed CDATA section"))?;
            if self.frames.is_empty() {
                return Err(ModelError::not_well_formed(
                    position,
                    "CDATA outside the root element",
                ));
            }
            if self.capturing() {
                scan::push_text(&mut self.text, &body[..end]);
            }
            return Ok(lt + 9 + end + 3);
        }
        if rest
            .get(2..9)
            .is_some_and(|k| k.eq_ignore_ascii_case("DOCTYPE"))
        {
            return Err(ModelError::DoctypeNotAllowed { position });
        }
        Err(ModelError::not_well_formed(
            position,
            "unknown markup after `<!`",
        ))
    }

    /// `<?...?>` at `lt`: the XML declaration (only at the very start) or a
    /// processing instruction (ignored).
    fn processing_instruction(&mut self, lt: usize, at_start: bool) -> Result<usize, ModelError> {
        let position = lt as u64;
        let body = &self.input[lt + 2..];
        let end = memmem::find(body.as_bytes(), b"?>").ok_or_else(|| {
            ModelError::not_well_formed(position, "unclosed processing instruction")
        })?;
        let content = &body[..end];
        // The target is an XML Name: `<?` directly followed by a space, `>` or other
        // punctuation is not a processing instruction (non-ASCII bytes may start a name).
        if !content
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':' || b >= 0x80)
        {
            return Err(ModelError::not_well_formed(
                position,
                "processing instruction without a target",
            ));
        }
        let is_declaration =
            content.starts_with("xml") && content.as_bytes().get(3).is_none_or(|&b| is_space(b));
        if is_declaration {
            if !at_start {
                return Err(ModelError::not_well_formed(
                    position,
                    "XML declaration is only allowed at the very start",
                ));
            }
            self.declaration(&content[3..], position)?;
        }
        Ok(lt + 2 + end + 2)
    }

    /// Checks the pseudo-attributes of the XML declaration: `version` first,
    /// `encoding` (if present) UTF-8 or ASCII. An unsupported encoding is
    /// reported before any syntax error after it (as quick-xml did); syntax
    /// errors of the declaration are [`ModelError::NotWellFormed`] (quick-xml
    /// let those after `encoding` through).
    fn declaration(&mut self, raw: &'a str, position: u64) -> Result<(), ModelError> {
        let mut first = true;
        let limit = self.limits.max_attributes;
        scan::attributes(
            raw,
            position,
            limit,
            false,
            &mut self.attribute_keys,
            |key, value| {
                if first && key != "version" {
                    return Err(ModelError::not_well_formed(
                        position,
                        "the XML declaration must start with version",
                    ));
                }
                first = false;
                let supported = ["UTF-8", "UTF8", "US-ASCII", "ASCII"]
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(value));
                if key == "encoding" && !supported {
                    return Err(ModelError::UnsupportedEncoding {
                        encoding: clip(value),
                    });
                }
                Ok(())
            },
        )
        .map_err(|e| match e {
            ModelError::NotWellFormed { position, message } => ModelError::NotWellFormed {
                position,
                message: format!("XML declaration: {message}"),
            },
            other => other,
        })?;
        if first {
            return Err(ModelError::not_well_formed(
                position,
                "XML declaration: no version",
            ));
        }
        Ok(())
    }

    /// A start tag at `lt`; returns the offset after it.
    fn start_tag(&mut self, lt: usize) -> Result<usize, ModelError> {
        let position = lt as u64;
        let gt = scan::tag_end(self.input.as_bytes(), lt + 1)
            .ok_or_else(|| ModelError::not_well_formed(position, "unclosed start tag"))?;
        let mut content = &self.input[lt + 1..gt];
        let empty = content.ends_with('/');
        if empty {
            content = &content[..content.len() - 1];
        }
        let name_end = scan::find_space(content.as_bytes()).unwrap_or(content.len());
        let (qname, attributes) = content.split_at(name_end);
        if qname.is_empty() {
            return Err(ModelError::not_well_formed(
                position,
                "element without a name",
            ));
        }
        self.start(qname, attributes, position)?;
        if empty {
            self.end(position)?;
        }
        Ok(gt + 1)
    }

    /// An end tag at `lt`; returns the offset after it.
    fn end_tag(&mut self, lt: usize) -> Result<usize, ModelError> {
        let position = lt as u64;
        let bytes = self.input.as_bytes();
        let gt = scan::find_byte(b'>', &bytes[lt + 2..])
            .map(|i| lt + 2 + i)
            .ok_or_else(|| ModelError::not_well_formed(position, "unclosed end tag"))?;
        let mut name_end = gt;
        while name_end > lt + 2 && is_space(bytes[name_end - 1]) {
            name_end -= 1;
        }
        let name = &self.input[lt + 2..name_end];
        match self.frames.last() {
            Some(frame) if frame.qname == name => {}
            Some(frame) => {
                return Err(ModelError::not_well_formed(
                    position,
                    format!(
                        "end tag </{}> does not match <{}>",
                        clip(name),
                        clip(frame.qname)
                    ),
                ));
            }
            None => {
                return Err(ModelError::not_well_formed(
                    position,
                    format!("end tag </{}> without a start tag", clip(name)),
                ));
            }
        }
        self.end(position)?;
        Ok(gt + 1)
    }

    fn start(&mut self, qname: &'a str, raw: &'a str, position: u64) -> Result<(), ModelError> {
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
        let mark = self.namespaces.mark();
        let mut root_attributes = RootAttributes::default();
        if !is_xml_space(raw) {
            let namespaces = &mut self.namespaces;
            let is_root = depth == 0;
            let limit = self.limits.max_attributes;
            scan::attributes(
                raw,
                position,
                limit,
                true,
                &mut self.attribute_keys,
                |key, value| {
                    if key.as_bytes().first() == Some(&b'x') && key.starts_with("xmlns") {
                        namespaces.declare(key, value, position)?;
                    }
                    if is_root {
                        match key {
                            "uuid" => root_attributes.uuid = Some(value),
                            "schemaVersion" => root_attributes.schema_version = Some(value),
                            "objectVersion" => root_attributes.object_version = Some(value),
                            k if k.contains(':') && !k.starts_with("xmlns:") => {
                                root_attributes.prefixed.push((k, value));
                            }
                            _ => {}
                        }
                    }
                    Ok(())
                },
            )?;
        }
        let (ns, local) = self.namespaces.resolve_element(qname);
        let (ns, common): (Option<&str>, bool) = match ns {
            Resolved::Bound(ns) => (Some(ns.uri), ns.common),
            Resolved::Unbound => (None, false),
            Resolved::Unknown(prefix) => {
                return Err(ModelError::not_well_formed(
                    position,
                    format!("undeclared namespace prefix {:?}", clip(prefix)),
                ));
            }
        };

        if depth == 0 {
            let root = self.root(&root_attributes, ns, local, position)?;
            self.root = Some(root);
            self.frames.push(Frame {
                qname,
                local,
                namespaces: mark,
                role: Role::Plain,
                acc: None,
            });
            return Ok(());
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
                if common && local == "Citation" {
                    Role::Citation
                } else {
                    Role::Plain
                }
            }
            parent_role if common => classify(parent_role, local),
            _ => Role::Plain,
        };
        if matches!(role, Role::Capture(_)) {
            self.text.clear();
        }
        self.frames.push(Frame {
            qname,
            local,
            namespaces: mark,
            role,
            acc: None,
        });
        Ok(())
    }

    fn root(
        &self,
        attributes: &RootAttributes<'a>,
        ns: Option<&str>,
        local: &str,
        position: u64,
    ) -> Result<Root, ModelError> {
        let value = |raw: Option<&'a str>| -> Result<Option<String>, ModelError> {
            raw.map(|raw| scan::attribute_value(raw, position).map(|v| v.into_owned()))
                .transpose()
        };
        let uuid = value(attributes.uuid)?;
        let schema_version = value(attributes.schema_version)?;
        let object_version = value(attributes.object_version)?;
        let mut xsi_type: Option<String> = None;
        for &(key, raw) in &attributes.prefixed {
            if let (Resolved::Bound(ns), "type") = self.namespaces.resolve_attribute(key)
                && ns.uri == NS_XSI
            {
                xsi_type = value(Some(raw))?;
            }
        }

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
            && let (Resolved::Bound(n), l) = self.namespaces.resolve_element(trim_xml(xsi))
            && let Some(f) = Family::from_namespace(n.uri)
        {
            family = f;
            type_name = l;
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
        self.namespaces.restore(frame.namespaces);
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
                    self.finish_element(*acc, frame.local)?;
                }
            }
        }
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

    /// The slash-separated local names from below the root down to a closed
    /// element named `local` whose ancestors are the open frames.
    fn element_path(&self, local: &str) -> String {
        let ancestors = self.frames.get(1..).unwrap_or_default();
        let len = ancestors.iter().map(|f| f.local.len() + 1).sum::<usize>() + local.len();
        let mut path = String::with_capacity(len);
        for frame in ancestors {
            path.push_str(frame.local);
            path.push('/');
        }
        path.push_str(local);
        path
    }

    /// Turns the children collected for a closed element named `element_name`
    /// into a reference and/or an external array reference.
    fn finish_element(&mut self, acc: Accum, element_name: &str) -> Result<(), ModelError> {
        let element_path = self.element_path(element_name);

        let is_reference =
            acc.uuid.is_some() && (acc.content_type.is_some() || acc.qualified_type.is_some());
        if is_reference {
            let raw_uuid = acc.uuid.as_deref().unwrap_or_default();
            let uuid = canonical_uuid(raw_uuid).ok_or_else(|| ModelError::InvalidUuid {
                value: clip(raw_uuid),
                context: clip(&element_path),
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
                element_path: element_path.clone(),
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
            element_path,
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

#[cfg(test)]
mod differential;
