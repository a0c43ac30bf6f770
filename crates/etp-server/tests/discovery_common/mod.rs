//! Helpers of the Discovery tests: objects are written straight into the store (indexed
//! with etp-model, as the Store protocol does) before the server starts, then queried with
//! the Rust client.

#![allow(dead_code)]

use std::path::Path;

use bytes::Bytes;
use etp_client::{Client, Response};
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::ErrorInfo;
use etp_protocol::types::datatypes::object::{ContextInfo, ContextScopeKind, Edge, Resource};
use etp_protocol::types::protocol::discovery::{DiscoveryMessage, GetResources};
use etp_protocol::uri::{format_uuid, parse_uuid};
use etp_store::{
    ActiveStatus, Dataspace, FjallStore, ObjectKey, ObjectMeta, Reference, RelationshipKind, Store,
    WriteTxn,
};

/// A fixture of `tests/data/graph`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/graph")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// How one object is written.
#[derive(Debug, Clone)]
pub struct Put {
    /// The XML document.
    pub xml: Vec<u8>,
    /// `storeLastWrite` (and `storeCreated`), µs.
    pub at: i64,
    /// Stored active status.
    pub status: ActiveStatus,
    /// Reference element names recorded as secondary relationships.
    pub secondary: Vec<&'static str>,
}

impl Put {
    /// An active object written at `at`, all references primary.
    pub fn new(xml: Vec<u8>, at: i64) -> Put {
        Put {
            xml,
            at,
            status: ActiveStatus::Active,
            secondary: Vec::new(),
        }
    }
}

/// The store metadata of a document, derived the way the Store protocol does: title,
/// last change and graph references from etp-model.
pub fn meta_of(put: &Put) -> (ObjectKey, ObjectMeta) {
    let info = etp_model::parse_data_object(&put.xml).expect("fixture parses");
    let uuid = parse_uuid(&info.uuid).expect("fixture uuid");
    let references = info
        .edge_references()
        .map(|r| Reference {
            target_uuid: parse_uuid(&r.uuid).expect("reference uuid"),
            target_type: r.qualified_type.clone().unwrap_or_default(),
            name: r.element_path.clone(),
            kind: if put.secondary.contains(&r.element_name.as_str()) {
                RelationshipKind::Secondary
            } else {
                RelationshipKind::Primary
            },
        })
        .collect();
    let meta = ObjectMeta {
        qualified_type: info.qualified_type.clone(),
        title: info.title().unwrap_or_default().to_string(),
        last_changed: info.last_changed_micros().unwrap_or(put.at),
        store_created: put.at,
        store_last_write: put.at,
        active_status: put.status,
        format: "xml".into(),
        custom_data: Bytes::new(),
        references,
        data_len: 0,
    };
    (ObjectKey::new("", uuid), meta)
}

/// The canonical URI of an object in dataspace `path`.
pub fn uri(path: &str, qualified_type: &str, uuid: &[u8; 16]) -> String {
    let ds = if path.is_empty() {
        "eml:///".to_string()
    } else {
        format!("eml:///dataspace('{path}')/")
    };
    format!("{ds}{qualified_type}({})", format_uuid(uuid))
}

/// Opens the store of a server data directory.
pub fn open_store(data_dir: &Path) -> FjallStore {
    FjallStore::open(data_dir.join("store")).expect("store opens")
}

/// Creates a dataspace (nothing to do for the default one).
pub fn create_dataspace(w: &mut dyn WriteTxn, path: &str) {
    if path.is_empty() {
        return;
    }
    w.put_dataspace(&Dataspace {
        path: path.into(),
        store_created: 1,
        store_last_write: 1,
        custom_data: Bytes::new(),
    })
    .expect("dataspace created");
}

/// Writes one object into dataspace `path`; returns its URI.
pub fn put(w: &mut dyn WriteTxn, path: &str, put: &Put) -> String {
    let (mut key, meta) = meta_of(put);
    key.dataspace = path.into();
    let uri = uri(path, &meta.qualified_type, &key.uuid);
    w.put_object(&key, &meta, Bytes::from(put.xml.clone()))
        .expect("object stored");
    uri
}

/// Seeds a data directory: creates `dataspaces` and writes `objects` (dataspace, object)
/// in one transaction, then closes the store so that the server can open it.
pub fn seed(data_dir: &Path, dataspaces: &[&str], objects: &[(&str, Put)]) -> Vec<String> {
    let store = open_store(data_dir);
    let mut w = store.write().expect("write transaction");
    for ds in dataspaces {
        create_dataspace(w.as_mut(), ds);
    }
    let uris = objects
        .iter()
        .map(|(ds, p)| put(w.as_mut(), ds, p))
        .collect();
    w.commit().expect("commit");
    uris
}

/// A GetResources request with the defaults pyetp uses (Primary edges, no counts).
pub fn get_resources(uri: &str, scope: ContextScopeKind, depth: i32) -> GetResources {
    GetResources {
        context: ContextInfo {
            uri: uri.into(),
            depth,
            ..Default::default()
        },
        scope,
        ..Default::default()
    }
}

/// The parts of a GetResources answer.
#[derive(Debug)]
pub struct Answer {
    /// Every resource of every GetResourcesResponse, in order.
    pub resources: Vec<Resource>,
    /// Every edge of every GetResourcesEdgesResponse, in order.
    pub edges: Vec<Edge>,
    /// Every error of every ProtocolException.
    pub errors: Vec<(Option<String>, ErrorInfo)>,
    /// The raw response.
    pub response: Response,
}

impl Answer {
    /// The resource URIs, sorted.
    pub fn uris(&self) -> Vec<String> {
        let mut uris: Vec<String> = self.resources.iter().map(|r| r.uri.to_string()).collect();
        uris.sort();
        uris
    }

    /// The edges as sorted `(source, target, kind)` triples.
    pub fn edge_triples(&self) -> Vec<(String, String, String)> {
        let mut edges: Vec<_> = self
            .edges
            .iter()
            .map(|e| {
                (
                    e.source_uri.to_string(),
                    e.target_uri.to_string(),
                    e.relationship_kind.as_str().to_string(),
                )
            })
            .collect();
        edges.sort();
        edges
    }

    /// The single error code of the answer, if it is an error.
    pub fn error_codes(&self) -> Vec<i32> {
        self.errors.iter().map(|(_, e)| e.code).collect()
    }
}

/// Sends `request` and splits the answer by message type, checking the framing rules every
/// answer must follow: resources first, then edges, then exceptions; FIN only on the last.
pub async fn ask(client: &Client, request: impl Into<Body>) -> Answer {
    let response = client.request(request).await.expect("answer");
    let mut resources = Vec::new();
    let mut edges = Vec::new();
    let mut stage = 0;
    let count = response.messages().len();
    for (i, message) in response.messages().iter().enumerate() {
        let fin = message.header.message_flags & etp_protocol::message::flags::FIN != 0;
        assert_eq!(fin, i + 1 == count, "FIN only on the last message");
        let this_stage = match &message.body {
            Body::Discovery(DiscoveryMessage::GetResourcesResponse(r)) => {
                resources.extend(r.resources.iter().cloned());
                0
            }
            Body::Discovery(DiscoveryMessage::GetResourcesEdgesResponse(r)) => {
                assert!(!r.edges.is_empty(), "no empty edge messages");
                edges.extend(r.edges.iter().cloned());
                1
            }
            Body::ProtocolException(_) => 2,
            other => panic!("unexpected answer {other:?}"),
        };
        assert!(this_stage >= stage, "resources, then edges, then errors");
        stage = this_stage;
    }
    let errors = response.errors();
    Answer {
        resources,
        edges,
        errors,
        response,
    }
}

/// The UUID text of generated object `n` of kind `kind` (1 wells, 2 wellbores).
pub fn uuid_text(kind: u32, n: u64) -> String {
    format!("{kind:08x}-0000-4000-8000-{n:012x}")
}

/// A WITSML 2.1 Well document, object `n`.
pub fn well(n: u64) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<Well xmlns="http://www.energistics.org/energyml/data/witsmlv2" xmlns:eml="http://www.energistics.org/energyml/data/commonv2" schemaVersion="2.1" uuid="{}">
  <eml:Citation>
    <eml:Title>Well {n}</eml:Title>
    <eml:Originator>etp integration tests</eml:Originator>
    <eml:Creation>2026-01-02T03:04:05Z</eml:Creation>
    <eml:Format>generated</eml:Format>
  </eml:Citation>
  <Field>Volve</Field>
</Well>"#,
        uuid_text(1, n)
    )
    .into_bytes()
}

/// A WITSML 2.1 Wellbore document referencing well `well_n`.
pub fn wellbore(n: u64, well_n: u64) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<Wellbore xmlns="http://www.energistics.org/energyml/data/witsmlv2" xmlns:eml="http://www.energistics.org/energyml/data/commonv2" schemaVersion="2.1" uuid="{}">
  <eml:Citation>
    <eml:Title>Wellbore {n}</eml:Title>
    <eml:Originator>etp integration tests</eml:Originator>
    <eml:Creation>2026-01-02T03:04:05Z</eml:Creation>
    <eml:Format>generated</eml:Format>
  </eml:Citation>
  <Number>{n}</Number>
  <Well>
    <eml:Uuid>{}</eml:Uuid>
    <eml:QualifiedType>witsml21.Well</eml:QualifiedType>
    <eml:Title>Well {well_n}</eml:Title>
  </Well>
</Wellbore>"#,
        uuid_text(2, n),
        uuid_text(1, well_n)
    )
    .into_bytes()
}
