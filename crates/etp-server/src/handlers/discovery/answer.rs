//! Building Discovery's records (Resource, Edge) and sending list answers as multipart
//! sets within the negotiated message size (00-wire.md §9).

use std::collections::HashMap;

use etp_protocol::codec::{Avro, Map};
use etp_protocol::error_code::ErrorCode;
use etp_protocol::names::QualifiedType;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::object::{Edge, RelationshipKind as EtpKind};
use etp_protocol::types::datatypes::{DataValue, DataValueItem, ErrorInfo};
use etp_protocol::types::protocol::core::ProtocolException;
use etp_protocol::uri::DataspaceUri;
use etp_store::{ObjectKey, RelationshipKind, Uuid};

use crate::handlers::objects::{error_info, object_uri};
use crate::session::{Responder, SessionClosed};

/// Builds canonical object URIs of one dataspace, parsing each stored type once rather than
/// once per object (a dataspace listing may hold 100,000 objects of a dozen types).
pub(crate) struct UriCache {
    dataspace: String,
    /// `eml:///` or `eml:///dataspace('p')/`.
    prefix: String,
    /// Stored type → `<prefix><type>(`, or `None` if the type cannot be written in a URI.
    by_type: HashMap<String, Option<String>>,
    /// The entry of `by_type` used last.
    last: Option<(String, Option<String>)>,
}

impl UriCache {
    /// A cache for the dataspace `path`; `None` if the path cannot be written in a URI.
    pub(crate) fn new(path: &str) -> Option<UriCache> {
        let dataspace = DataspaceUri::from_path(path).ok()?;
        let prefix = if path.is_empty() {
            dataspace.to_string()
        } else {
            format!("{dataspace}/")
        };
        Some(UriCache {
            dataspace: path.to_owned(),
            prefix,
            by_type: HashMap::new(),
            last: None,
        })
    }

    /// The canonical URI of a stored object of this dataspace.
    pub(crate) fn uri(&mut self, key: &ObjectKey, qualified_type: &str) -> Option<String> {
        if key.dataspace != self.dataspace {
            return object_uri(key, qualified_type);
        }
        self.row_uri(&key.uuid, key.version.as_deref(), qualified_type)
    }

    /// The canonical URI of an object of this dataspace given by its parts (a listed row).
    pub(crate) fn row_uri(
        &mut self,
        uuid: &Uuid,
        version: Option<&str>,
        qualified_type: &str,
    ) -> Option<String> {
        if let Some(version) = version {
            let key = ObjectKey {
                dataspace: self.dataspace.clone(),
                uuid: *uuid,
                version: Some(version.to_owned()),
            };
            return object_uri(&key, qualified_type);
        }
        // Listings come grouped by type: most lookups hit the previous type.
        if self.last.as_ref().is_none_or(|(t, _)| t != qualified_type) {
            let head = match self.by_type.get(qualified_type) {
                Some(head) => head.clone(),
                None => {
                    let head = qualified_type
                        .parse::<QualifiedType>()
                        .ok()
                        .filter(|t| !t.is_wildcard())
                        .map(|t| format!("{}{t}(", self.prefix));
                    self.by_type.insert(qualified_type.to_owned(), head.clone());
                    head
                }
            };
            self.last = Some((qualified_type.to_owned(), head));
        }
        let head = self.last.as_ref()?.1.as_deref()?;
        let mut uri = String::with_capacity(head.len() + 37);
        uri.push_str(head);
        push_uuid(&mut uri, uuid);
        uri.push(')');
        Some(uri)
    }
}

/// Appends the canonical lowercase 8-4-4-4-12 form of `uuid` (what
/// [`etp_protocol::uri::format_uuid`] writes) without an intermediate string.
fn push_uuid(out: &mut String, uuid: &[u8; 16]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in uuid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
}

/// An `Edge` in reference direction; `customData.path` is the reference's place in the
/// source XML when known.
pub(crate) fn edge(source: String, target: String, kind: RelationshipKind, path: String) -> Edge {
    let mut custom = Map::new();
    if !path.is_empty() {
        custom.insert(
            "path".into(),
            DataValue {
                item: DataValueItem::String(path.into()),
            },
        );
    }
    Edge {
        source_uri: source.into(),
        target_uri: target.into(),
        relationship_kind: match kind {
            RelationshipKind::Primary => EtpKind::Primary,
            RelationshipKind::Secondary => EtpKind::Secondary,
        },
        custom_data: custom,
    }
}

/// Room for an Avro array's framing (block count and end marker) around the items.
const ARRAY_FRAMING: usize = 16;

/// Largest body of one list message, whatever the peer accepts. A long listing (100,000
/// resources are 18 MB) sent as a few huge messages makes the client wait for each whole
/// message before decoding any of it; 1 MiB parts let the client decode one part while the
/// server encodes and writes the next, and cost one 20-byte header each.
const LIST_PART_BYTES: usize = 1 << 20;

/// The item budget of one list message.
pub(crate) fn list_budget(responder: &Responder) -> usize {
    responder
        .max_body_size()
        .min(LIST_PART_BYTES)
        .saturating_sub(ARRAY_FRAMING)
}

/// Splits `items` into message-sized chunks (at least one, possibly empty), like
/// [`crate::session::chunk_by_size`] but sizing each item once. An item too large for any
/// message is left out and reported in `oversized` under `name(item)`.
pub(crate) fn fit<T: Avro>(
    items: Vec<T>,
    budget: usize,
    name: impl Fn(&T) -> String,
    oversized: &mut Vec<(String, ErrorInfo)>,
) -> Vec<Vec<T>> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut used = 0usize;
    for item in items {
        let size = item.encoded_len();
        if size > budget {
            oversized.push((
                name(&item),
                error_info(
                    ErrorCode::EMAXSIZE_EXCEEDED,
                    format!(
                        "this record ({size} bytes) does not fit in the negotiated message size"
                    ),
                ),
            ));
            continue;
        }
        if used + size > budget {
            chunks.push(std::mem::take(&mut current));
            used = 0;
        }
        used += size;
        current.push(item);
    }
    if !current.is_empty() || chunks.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// The ProtocolExceptions ending a list answer: `error` (e.g. `ERESPONSECOUNT_EXCEEDED`)
/// in the first, per-record `errors` spread so each message fits in `max_body`. Entries
/// that cannot fit in any message are dropped (their key alone is too large).
pub(crate) fn exceptions(
    error: Option<ErrorInfo>,
    errors: Vec<(String, ErrorInfo)>,
    max_body: usize,
) -> Vec<ProtocolException> {
    let mut out = Vec::new();
    let mut current = ProtocolException {
        error,
        errors: Map::new(),
    };
    let mut size = current.encoded_len() + ARRAY_FRAMING;
    for (key, info) in errors {
        let entry = key.encoded_len() + info.encoded_len();
        if entry + ARRAY_FRAMING + 1 > max_body {
            tracing::warn!(
                bytes = entry,
                "error entry too large for any message; dropped"
            );
            continue;
        }
        if size + entry > max_body {
            out.push(std::mem::replace(
                &mut current,
                ProtocolException {
                    error: None,
                    errors: Map::new(),
                },
            ));
            size = 1 + ARRAY_FRAMING;
        }
        size += entry;
        current.errors.insert(key.into(), info);
    }
    if current.error.is_some() || !current.errors.is_empty() {
        out.push(current);
    }
    out
}

/// Sends `bodies` then `exceptions` as one response set, FIN on the last message.
pub(crate) async fn send_set(
    mut responder: Responder,
    bodies: Vec<Body>,
    exceptions: Vec<ProtocolException>,
) -> Result<(), SessionClosed> {
    let total = bodies.len() + exceptions.len();
    let all = bodies
        .into_iter()
        .chain(exceptions.into_iter().map(Body::from));
    for (index, body) in all.enumerate() {
        responder.send(body, index + 1 == total).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_uris_equal_the_canonical_ones() {
        for path in ["", "a/b", "it's"] {
            let mut cache = UriCache::new(path).unwrap();
            for (uuid, t) in [
                ([0xab; 16], "resqml20.obj_Grid2dRepresentation"),
                ([0x01; 16], "witsml21.Well"),
                ([0x02; 16], "resqml20.obj_Grid2dRepresentation"),
            ] {
                let key = ObjectKey::new(path, uuid);
                assert_eq!(cache.uri(&key, t), object_uri(&key, t));
            }
            let versioned = ObjectKey {
                dataspace: path.into(),
                uuid: [3; 16],
                version: Some("2".into()),
            };
            assert_eq!(
                cache.uri(&versioned, "witsml21.Well"),
                object_uri(&versioned, "witsml21.Well")
            );
            assert_eq!(cache.uri(&ObjectKey::new(path, [4; 16]), "bad type"), None);
        }
    }

    #[test]
    fn uuids_are_written_canonically() {
        for uuid in [
            [0u8; 16],
            [0xff; 16],
            *b"\x01\x23\x45\x67\x89\xab\xcd\xef\xfe\xdc\xba\x98\x76\x54\x32\x10",
        ] {
            let mut s = String::new();
            push_uuid(&mut s, &uuid);
            assert_eq!(s, etp_protocol::uri::format_uuid(&uuid));
        }
    }

    #[test]
    fn exceptions_fit_and_carry_the_error_first() {
        let errors: Vec<(String, ErrorInfo)> = (0..100)
            .map(|i| {
                (
                    format!("eml:///witsml21.Well({i:036})"),
                    error_info(ErrorCode::EMAXSIZE_EXCEEDED, "too large"),
                )
            })
            .collect();
        let pes = exceptions(
            Some(error_info(ErrorCode::ERESPONSECOUNT_EXCEEDED, "cut")),
            errors,
            1_000,
        );
        assert!(pes.len() > 1);
        assert_eq!(pes[0].error.as_ref().map(|e| e.code), Some(30));
        assert!(pes[1..].iter().all(|p| p.error.is_none()));
        assert!(pes.iter().all(|p| p.encoded_len() <= 1_000));
        assert_eq!(pes.iter().map(|p| p.errors.len()).sum::<usize>(), 100);
        assert!(exceptions(None, Vec::new(), 1_000).is_empty());
    }

    #[test]
    fn oversized_records_are_reported_not_sent() {
        let mut oversized = Vec::new();
        let edges = vec![
            edge(
                "a".into(),
                "b".into(),
                RelationshipKind::Primary,
                "x".repeat(500),
            ),
            edge(
                "c".into(),
                "d".into(),
                RelationshipKind::Primary,
                String::new(),
            ),
        ];
        let chunks = fit(edges, 100, |e| e.source_uri.to_string(), &mut oversized);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].len(), 1);
        assert_eq!(oversized.len(), 1);
        assert_eq!(oversized[0].0, "a");
        assert_eq!(oversized[0].1.code, 17);
        let none: Vec<Vec<Edge>> = fit(
            Vec::new(),
            100,
            |e| e.source_uri.to_string(),
            &mut oversized,
        );
        assert_eq!(none, [Vec::<Edge>::new()]);
    }

    #[test]
    fn chunks_stay_within_the_budget() {
        let edges: Vec<Edge> = (0..500)
            .map(|i| {
                edge(
                    format!("s{i}"),
                    "t".repeat(i % 50),
                    RelationshipKind::Primary,
                    String::new(),
                )
            })
            .collect();
        let sizes: Vec<usize> = edges.iter().map(|e| e.encoded_len()).collect();
        let chunks = fit(edges, 300, |e| e.source_uri.to_string(), &mut Vec::new());
        assert!(chunks.len() > 10);
        let mut i = 0;
        for chunk in &chunks {
            let total: usize = sizes[i..i + chunk.len()].iter().sum();
            assert!(total <= 300 && !chunk.is_empty());
            i += chunk.len();
        }
        assert_eq!(i, 500);
    }
}
