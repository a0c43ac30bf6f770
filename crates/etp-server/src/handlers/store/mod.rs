//! Store (protocol 4): GetDataObjects, PutDataObjects, DeleteDataObjects and their Chunk
//! messages (11-store.md §1–§5).
//!
//! All three requests are maps: every request key is answered either in the response map
//! or in the `errors` map of a trailing ProtocolException, never both (00-wire.md §9).
//! Per key, in this order: an unparsable or non-object URI → `EINVALID_URI` (9); a type
//! the store does not accept → `EDATAOBJECTTYPE_NOTSUPPORTED` (16, see
//! [`etp_model::catalog`]); a
//! missing dataspace or object → `ENOT_FOUND` (11).
//!
//! * **Put** (`put.rs`) is an upsert of whole XML documents, kept byte for byte. The
//!   `Resource` is recomputed from the XML (title, `lastChanged`, references); the
//!   client's `activeStatus` and `customData` are kept as sent, its store times ignored.
//!   All accepted entries of one request are written in one store transaction (or into the
//!   session's open transaction), so a request is atomic; every object of it gets the same
//!   `storeLastWrite`.
//! * **Get** (`get.rs`) streams the answer: objects go out as soon as they are read, in as
//!   many response parts as the negotiated message size needs, and an object too large
//!   for one message goes out chunked.
//! * **Delete** (`delete.rs`) writes tombstones and applies the array lifecycle of
//!   03-uris-and-objects.md §6.
//!
//! Decisions on the notes' open points:
//!
//! * **Versions.** The store keeps one version of each object, the last one put. A
//!   version-qualified URI (`(uuid=…,version='2')`) names that object only if the stored
//!   XML's `objectVersion` equals the version; otherwise a get or delete answers 11 and a
//!   put answers `EINVALID_OBJECT` (14), like any other disagreement between URI and XML.
//!   Answers carry the canonical URI without version.
//! * **Formats.** Only `xml` (ASCII case ignored, empty taken as the default `xml`);
//!   anything else is `EINVALID_ARGUMENT` (5): for the whole GetDataObjects request, per
//!   key in PutDataObjects.
//! * **Types are compared ignoring ASCII case** between a request URI and the stored
//!   object (as [`etp_protocol::names::QualifiedType::matches`] does); a URI naming the
//!   UUID of a stored object of another type answers 11.
//! * **Not enforced:** the data object types a client declared in RequestSession (the
//!   session does not keep them; every type the store supports is served), growing-object
//!   puts (23; the store has no growing objects) and containers (`pruneContainedObjects`
//!   has nothing to prune in RESQML; `PutResponse` lists are always empty).

mod delete;
mod get;
mod put;

use std::sync::Arc;

use etp_protocol::codec::{Avro, Map};
use etp_protocol::error_code::ErrorCode;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::{DataValue, ErrorInfo};
use etp_protocol::types::protocol::store::StoreMessage;
use etp_store::ObjectKey;

use super::objects::{ObjectRef, check_supported, error_info, parse_object_uri};
use super::{HandlerFuture, ProtocolHandler, Request};
use crate::access::DataAccess;
use crate::config::ServerConfig;
use crate::session::{Responder, SessionContext};

/// Settings of the Store protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    /// `MaxDataObjectSize`: largest object accepted, inline or reassembled from chunks.
    pub max_data_object_size: u64,
    /// Refuse, with `ENOCASCADE_DELETE` (4003), to delete an object that a remaining object
    /// still references (11-store.md §5). Off by default (see `delete.rs`).
    pub referential_integrity: bool,
}

impl StoreSettings {
    /// The settings the server configuration asks for.
    pub fn from_config(config: &ServerConfig) -> Self {
        StoreSettings {
            max_data_object_size: config.max_data_object_size,
            referential_integrity: false,
        }
    }
}

/// The Store protocol over a store.
pub struct StoreHandler {
    access: Arc<DataAccess>,
    settings: StoreSettings,
}

impl StoreHandler {
    /// A handler over the store behind `access`, configured from `config`.
    pub fn new(access: Arc<DataAccess>, config: &ServerConfig) -> Self {
        Self::with_settings(access, StoreSettings::from_config(config))
    }

    /// A handler with explicit settings.
    pub fn with_settings(access: Arc<DataAccess>, settings: StoreSettings) -> Self {
        StoreHandler { access, settings }
    }
}

impl ProtocolHandler for StoreHandler {
    fn protocol(&self) -> i32 {
        4
    }

    /// `MaxDataObjectSize` is also an endpoint capability; repeating it at protocol level
    /// is what the DevKit does and costs nothing (02-errors-capabilities.md §4).
    fn capabilities(&self, config: &ServerConfig) -> Map<DataValue> {
        let mut caps = Map::new();
        caps.insert(
            "MaxDataObjectSize".into(),
            DataValue::long(i64::try_from(config.max_data_object_size).unwrap_or(i64::MAX)),
        );
        caps
    }

    fn handle(
        self: Arc<Self>,
        session: Arc<SessionContext>,
        request: Request,
        responder: Responder,
    ) -> HandlerFuture {
        Box::pin(async move {
            let Request {
                body, continuation, ..
            } = request;
            let result = match body.into_body() {
                Body::Store(StoreMessage::GetDataObjects(m)) => {
                    get::get(&self, &session, m, responder).await
                }
                Body::Store(StoreMessage::PutDataObjects(m)) => {
                    put::put(&self, &session, m, continuation, responder).await
                }
                Body::Store(StoreMessage::DeleteDataObjects(m)) => {
                    delete::delete(&self, &session, m, responder).await
                }
                other => super::not_a_request(responder, "Store", &other).await,
            };
            // A closed session cannot be answered; nothing else to do.
            let _ = result;
        })
    }
}

/// Resolves a request URI to the object it names: `EINVALID_URI` (9) unless it is a
/// data object URI, `EDATAOBJECTTYPE_NOTSUPPORTED` (16) for a type the store does not
/// accept.
fn resolve(uri: &str) -> Result<ObjectRef, ErrorInfo> {
    let object = parse_object_uri(uri)?;
    check_supported(&object.qualified_type)?;
    Ok(object)
}

/// The store key of the object a URI names: the store keeps one version per object, so
/// the key never carries the URI's version (see the module documentation).
fn stored_key(object: &ObjectRef) -> ObjectKey {
    ObjectKey {
        version: None,
        ..object.key.clone()
    }
}

/// Whether a stored object's type is the type a request URI names.
fn same_type(stored: &str, requested: &ObjectRef) -> bool {
    use std::fmt::Write;
    // Compares the type's text as it is formatted, without building it (once per object
    // read).
    struct Compare<'a> {
        rest: &'a [u8],
        equal: bool,
    }
    impl Write for Compare<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            match self.rest.split_at_checked(s.len()) {
                Some((head, tail)) if self.equal && head.eq_ignore_ascii_case(s.as_bytes()) => {
                    self.rest = tail;
                }
                _ => self.equal = false,
            }
            Ok(())
        }
    }
    let mut compare = Compare {
        rest: stored.as_bytes(),
        equal: true,
    };
    // Writing into `Compare` never fails.
    let _ = write!(compare, "{}", requested.qualified_type);
    compare.equal && compare.rest.is_empty()
}

/// `ENOT_FOUND` for an object URI.
fn not_found(uri: &str) -> ErrorInfo {
    error_info(
        ErrorCode::ENOT_FOUND,
        format!("data object {uri} not found"),
    )
}

/// `ENOT_FOUND` for a dataspace path.
fn dataspace_not_found(path: &str) -> ErrorInfo {
    let uri = etp_protocol::uri::DataspaceUri::from_path(path)
        .map(|d| d.to_string())
        .unwrap_or_else(|_| path.to_owned());
    error_info(
        ErrorCode::ENOT_FOUND,
        format!("dataspace {uri} does not exist"),
    )
}

/// Whether `format` names the XML format (the only one this server speaks).
fn is_xml(format: &str) -> bool {
    format.is_empty() || format.eq_ignore_ascii_case("xml")
}

/// Splits a response map into maps whose encoding stays within `budget` bytes each
/// (every part has at least one entry).
fn split_map<V: Avro>(map: Map<V>, budget: usize) -> Vec<Map<V>> {
    let mut parts = Vec::new();
    let mut current = Map::new();
    let mut size = 0usize;
    for (key, value) in map {
        let entry = key.encoded_len() + value.encoded_len();
        if !current.is_empty() && size + entry > budget {
            parts.push(std::mem::take(&mut current));
            size = 0;
        }
        size += entry;
        current.insert(key, value);
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

/// Room kept in every response body for the map's block counts and end marker.
const MAP_OVERHEAD: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_sorts_uri_and_type_errors() {
        let uuid = "0b5b7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
        assert_eq!(
            resolve("eml:///witsml21.Well(invalid)").unwrap_err().code,
            9
        );
        assert_eq!(resolve("eml:///dataspace('a')").unwrap_err().code, 9);
        assert_eq!(
            resolve(&format!("eml:///witsml21.Unsupported({uuid})"))
                .unwrap_err()
                .code,
            16
        );
        let ok = resolve(&format!(
            "eml:///dataspace('a')/witsml21.Well(uuid={uuid},version='2')"
        ))
        .unwrap();
        assert_eq!(stored_key(&ok).version, None);
        assert_eq!(ok.uri.version(), Some("2"));
        assert!(same_type("witsml21.Well", &ok));
        assert!(same_type("WITSML21.wELL", &ok));
        assert!(!same_type("witsml21.Wellbore", &ok));
        assert!(!same_type("witsml21.Wel", &ok));
        assert!(!same_type("witsml21.Wellx", &ok));
        assert!(!same_type("", &ok));
    }

    #[test]
    fn split_map_respects_the_budget() {
        let mut map = Map::new();
        for i in 0..100 {
            map.insert(format!("key-{i:03}").into(), "x".repeat(50));
        }
        let parts = split_map(map, 500);
        assert!(parts.len() > 1);
        assert_eq!(parts.iter().map(|p| p.len()).sum::<usize>(), 100);
        for p in &parts {
            let size: usize = p
                .iter()
                .map(|(k, v)| k.encoded_len() + v.encoded_len())
                .sum();
            assert!(size <= 500);
        }
        assert!(split_map(Map::<String>::new(), 10).is_empty());
    }
}
