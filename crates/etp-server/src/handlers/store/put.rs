//! PutDataObjects (11-store.md §3–§4): one logical request made of every part up to FIN,
//! chunked objects reassembled, each entry checked against its own XML, and the accepted
//! entries written in one store transaction.
//!
//! * **Multipart.** fetpapi spreads a large map over several PutDataObjects parts; pyetp
//!   and open-etp-client send one PutDataObjects followed by Chunks. Both are one request
//!   answered once. A later part repeating a key replaces the earlier entry. Any other
//!   message type in the set refuses the whole request with `EINVALID_MESSAGETYPE` (3).
//! * **Chunks.** A DataObject with `blobId` and empty `data` takes the bytes of the Chunks
//!   with that `blobId`, in message id order, up to the one marked `final`. Per key:
//!   no final chunk, a chunk after the final one, `data` and `blobId` both set, or a
//!   `blobId` shared by two entries → `EINVALID_ARGUMENT` (5); more bytes than
//!   `MaxDataObjectSize` → `EMAXSIZE_EXCEEDED` (17), and the bytes beyond are never kept.
//!   Chunks of a `blobId` no entry declares are ignored (logged).
//! * **Per entry** after the URI checks of the module: format not `xml` → 5; larger than
//!   `MaxDataObjectSize` → 17; XML not well-formed, root type or uuid different from the
//!   URI's, or `objectVersion` different from a version-qualified URI → `EINVALID_OBJECT`
//!   (14); dataspace missing → 11 (checked inside the write, so a dataspace created earlier
//!   in the same transaction counts).
//! * **Resource.** `name` = `Citation/Title` (the client's name if the XML has none);
//!   `lastChanged` = `Citation/LastUpdate`, else `Citation/Creation`, else the client's
//!   value, else now; `storeCreated` is kept by the store on update; `storeLastWrite` = the
//!   request's time. References are [`etp_model::DataObjectInfo::edge_references`] (no
//!   edges to external-part proxies, nil or self), all `Primary` (03 §5), named by their
//!   element path for `Edge.customData.path`.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use bytes::{Bytes, BytesMut};
use etp_protocol::Uuid;
use etp_protocol::codec::Map;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::message::Message;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::ErrorInfo;
use etp_protocol::types::datatypes::object::{ActiveStatusKind, DataObject, PutResponse};
use etp_protocol::types::protocol::store::{PutDataObjects, PutDataObjectsResponse, StoreMessage};
use etp_protocol::uri::parse_uuid;
use etp_store::{ActiveStatus, ObjectKey, ObjectMeta, Reference, RelationshipKind, WriteTxn};
use tracing::debug;

use super::{
    MAP_OVERHEAD, StoreHandler, dataspace_not_found, is_xml, resolve, split_map, stored_key,
};
use crate::access::Failure;
use crate::handlers::objects::{encode_custom_data, error_info};
use crate::session::{Responder, SessionClosed, SessionContext};

/// Largest request (bytes of XML, all entries together) parsed on the async worker that
/// received it. Indexing takes 1.5–2 µs per KiB (docs/performance.md), so this bounds the
/// worker's stall to about 0.1 ms, while a hand-off to the blocking pool and back (two
/// thread wake-ups) costs about as much as parsing one 20 KiB object. Larger requests are
/// parsed on the blocking pool, where the hand-off is small next to the parse.
const INLINE_PARSE_BYTES: usize = 64 * 1024;

/// Most objects of a request written into an open transaction on the async worker (see
/// [`crate::access::DataAccess::write_inline`]); each is a handful of in-memory inserts
/// and cached point reads, a few microseconds.
const INLINE_WRITE_OBJECTS: usize = 4;

/// Answers a complete (possibly multipart) PutDataObjects request.
pub(super) async fn put(
    handler: &StoreHandler,
    session: &SessionContext,
    first: PutDataObjects,
    continuation: Vec<Message>,
    responder: Responder,
) -> Result<(), SessionClosed> {
    let max = handler.settings.max_data_object_size;
    let collected = match collect(first, continuation, max) {
        Ok(collected) => collected,
        Err((code, message)) => return responder.error(code, message).await,
    };
    let request_bytes: usize = collected
        .iter()
        .filter_map(|(_, object)| object.as_ref().ok())
        .map(|object| object.data.len())
        .sum();
    let now = crate::now_micros();
    let prepare_all = move || {
        collected
            .into_iter()
            .map(|(key, object)| (key, object.and_then(|o| prepare(o, max, now))))
            .collect::<Vec<_>>()
    };
    let prepared = if request_bytes <= INLINE_PARSE_BYTES {
        prepare_all()
    } else {
        // Parsing is CPU work proportional to the objects' size: keep it off the async workers.
        match tokio::task::spawn_blocking(prepare_all).await {
            Ok(prepared) => prepared,
            Err(e) => {
                tracing::error!(error = %e, "PutDataObjects validation task failed");
                return responder
                    .error(ErrorCode::EINVALID_STATE, format!("internal error: {e}"))
                    .await;
            }
        }
    };

    let mut errors = Map::new();
    let mut accepted = Vec::new();
    for (key, result) in prepared {
        match result {
            Ok(p) => accepted.push((key, p)),
            Err(e) => {
                errors.insert(key.into(), e);
            }
        }
    }
    let mut success = Map::new();
    if !accepted.is_empty() {
        let mut dataspaces: Vec<String> = accepted
            .iter()
            .map(|(_, p)| p.key.dataspace.clone())
            .collect();
        dataspaces.sort();
        dataspaces.dedup();
        let inline = request_bytes <= INLINE_PARSE_BYTES && accepted.len() <= INLINE_WRITE_OBJECTS;
        let access = &handler.access;
        let (slot, owner) = (&session.transaction, session.session_id);
        let work = move |txn: &mut dyn WriteTxn| write_all(txn, accepted);
        // A small request inside a transaction only adds to its pending writes: no reason
        // to hand it to another thread (see `DataAccess::write_inline`).
        let written = if inline {
            access.write_inline(slot, owner, &dataspaces, work).await
        } else {
            access.write(slot, owner, &dataspaces, work).await
        };
        match written {
            Ok(results) => {
                for (key, result) in results {
                    match result {
                        Ok(response) => {
                            success.insert(key.into(), response);
                        }
                        Err(e) => {
                            errors.insert(key.into(), e);
                        }
                    }
                }
            }
            Err((code, message)) => return responder.error(code, message).await,
        }
    }
    debug!(
        stored = success.len(),
        failed = errors.len(),
        "PutDataObjects"
    );
    let budget = responder.max_body_size().saturating_sub(MAP_OVERHEAD);
    let parts = split_map(success, budget)
        .into_iter()
        .map(|success| PutDataObjectsResponse { success }.into())
        .collect();
    responder
        .reply_set(parts, errors, || PutDataObjectsResponse::default().into())
        .await
}

/// Per request key, the data object with its bytes in `data`, or why it was refused.
type Collected = Vec<(String, Result<DataObject, ErrorInfo>)>;

/// Where the bytes of one chunked object stand.
enum Blob {
    /// Chunks received so far (not copied yet) and their total length.
    Open { parts: Vec<Bytes>, len: u64 },
    /// The final chunk arrived; the bytes, joined.
    Complete(Bytes),
    /// More bytes than `MaxDataObjectSize`; the bytes were dropped. Total seen so far.
    TooLarge(u64),
    /// A chunk arrived after the final one.
    AfterFinal,
}

/// Gathers the entries of every PutDataObjects part and reassembles chunked objects.
fn collect(
    first: PutDataObjects,
    continuation: Vec<Message>,
    max_size: u64,
) -> Result<Collected, Failure> {
    let mut objects: Map<DataObject> = first.data_objects;
    let mut chunks = Vec::new();
    for message in continuation {
        match message.body {
            Body::Store(StoreMessage::PutDataObjects(m)) => objects.extend(m.data_objects),
            Body::Store(StoreMessage::Chunk(chunk)) => chunks.push(chunk),
            other => {
                return Err((
                    ErrorCode::EINVALID_MESSAGETYPE,
                    format!(
                        "{} cannot be part of a PutDataObjects request",
                        other.info().name
                    ),
                ));
            }
        }
    }

    let mut blobs: HashMap<Uuid, Blob> = HashMap::new();
    let mut shared_blob_keys = HashSet::new();
    for (key, object) in &objects {
        if let Some(id) = object.blob_id {
            match blobs.entry(id) {
                Entry::Occupied(_) => {
                    shared_blob_keys.insert(key.clone());
                }
                Entry::Vacant(slot) => {
                    slot.insert(Blob::Open {
                        parts: Vec::new(),
                        len: 0,
                    });
                }
            }
        }
    }

    let mut stray = 0usize;
    for chunk in chunks {
        let Some(blob) = blobs.get_mut(&chunk.blob_id) else {
            stray += 1;
            continue;
        };
        let chunk_len = chunk.data.len() as u64;
        match blob {
            Blob::Open { parts, len } => {
                let total = *len + chunk_len;
                if total > max_size {
                    *blob = Blob::TooLarge(total);
                } else {
                    parts.push(chunk.data);
                    *len = total;
                    if chunk.r#final {
                        *blob = Blob::Complete(join(std::mem::take(parts), total));
                    }
                }
            }
            Blob::TooLarge(total) => *total += chunk_len,
            Blob::Complete(_) | Blob::AfterFinal => *blob = Blob::AfterFinal,
        }
    }
    if stray > 0 {
        debug!(
            chunks = stray,
            "ignored chunks whose blobId no data object declares"
        );
    }

    let invalid = |message: String| Err(error_info(ErrorCode::EINVALID_ARGUMENT, message));
    let mut collected = Vec::with_capacity(objects.len());
    for (key, mut object) in objects {
        let result = match object.blob_id {
            _ if shared_blob_keys.contains(&key) => invalid(format!(
                "blobId {} is already used by another data object of this request",
                object.blob_id.unwrap_or_default()
            )),
            None => Ok(object),
            Some(_) if !object.data.is_empty() => {
                invalid("a data object has both data and a blobId".into())
            }
            Some(id) => match blobs.remove(&id) {
                Some(Blob::Complete(data)) => {
                    object.data = data;
                    object.blob_id = None;
                    Ok(object)
                }
                Some(Blob::TooLarge(total)) => Err(error_info(
                    ErrorCode::EMAXSIZE_EXCEEDED,
                    format!(
                        "the chunks of blob {id} hold at least {total} bytes, more than MaxDataObjectSize ({max_size})"
                    ),
                )),
                Some(Blob::AfterFinal) => {
                    invalid(format!("blob {id} has chunks after its final chunk"))
                }
                Some(Blob::Open { .. }) | None => {
                    invalid(format!("blob {id} has no final chunk in this request"))
                }
            },
        };
        collected.push((key.into(), result));
    }
    Ok(collected)
}

/// Joins chunk payloads into one buffer of exactly `len` bytes.
fn join(parts: Vec<Bytes>, len: u64) -> Bytes {
    if parts.len() == 1 {
        return parts.into_iter().next().unwrap_or_default();
    }
    // `len` was checked against MaxDataObjectSize, which fits in memory by configuration.
    let mut out = BytesMut::with_capacity(usize::try_from(len).unwrap_or(0));
    for part in parts {
        out.extend_from_slice(&part);
    }
    out.freeze()
}

/// An entry ready to be written.
struct Prepared {
    key: ObjectKey,
    meta: ObjectMeta,
    data: Bytes,
}

/// Checks one entry against its URI and derives the store metadata from its XML.
fn prepare(object: DataObject, max_size: u64, now: i64) -> Result<Prepared, ErrorInfo> {
    let DataObject {
        resource,
        format,
        data,
        ..
    } = object;
    let target = resolve(&resource.uri)?;
    let uri = &resource.uri;
    if !is_xml(&format) {
        return Err(error_info(
            ErrorCode::EINVALID_ARGUMENT,
            format!("format {format:?} is not supported; this store speaks xml"),
        ));
    }
    if data.len() as u64 > max_size {
        return Err(error_info(
            ErrorCode::EMAXSIZE_EXCEEDED,
            format!(
                "{uri}: {} bytes is more than MaxDataObjectSize ({max_size})",
                data.len()
            ),
        ));
    }
    let invalid = |message: String| error_info(ErrorCode::EINVALID_OBJECT, message);
    let info = etp_model::parse_data_object(&data).map_err(|e| invalid(format!("{uri}: {e}")))?;
    let qualified_type = target.qualified_type.to_string();
    etp_model::check_consistency(&info, &target.uri.uuid_string(), &qualified_type)
        .map_err(|e| invalid(format!("{uri}: {e}")))?;
    if let Some(version) = target.uri.version()
        && info.object_version.as_deref() != Some(version)
    {
        return Err(invalid(format!(
            "{uri}: the URI names version {version:?} but the XML has objectVersion {:?}",
            info.object_version
        )));
    }
    let references = info
        .edge_references()
        .filter_map(|r| {
            Some(Reference {
                target_uuid: parse_uuid(&r.uuid)?,
                target_type: r.qualified_type.clone().unwrap_or_default(),
                name: r.element_path.clone(),
                kind: RelationshipKind::Primary,
            })
        })
        .collect();
    let last_changed = info
        .last_changed_micros()
        .or((resource.last_changed > 0).then_some(resource.last_changed))
        .unwrap_or(now);
    let meta = ObjectMeta {
        qualified_type,
        title: info
            .title()
            .map_or(resource.name.to_string(), str::to_owned),
        last_changed,
        store_created: now,
        store_last_write: now,
        active_status: match resource.active_status {
            ActiveStatusKind::Active => ActiveStatus::Active,
            ActiveStatusKind::Inactive => ActiveStatus::Inactive,
        },
        format: "xml".into(),
        custom_data: encode_custom_data(&resource.custom_data),
        references,
        data_len: data.len() as u64,
    };
    Ok(Prepared {
        key: stored_key(&target),
        meta,
        data,
    })
}

/// Writes the accepted entries; a missing dataspace fails only its entries.
fn write_all(
    txn: &mut dyn WriteTxn,
    accepted: Vec<(String, Prepared)>,
) -> etp_store::Result<Vec<(String, Result<PutResponse, ErrorInfo>)>> {
    let mut dataspace_exists: HashMap<String, bool> = HashMap::new();
    let mut results = Vec::with_capacity(accepted.len());
    for (key, p) in accepted {
        let exists = match dataspace_exists.get(&p.key.dataspace) {
            Some(&exists) => exists,
            None => {
                let exists = txn.get_dataspace(&p.key.dataspace)?.is_some();
                dataspace_exists.insert(p.key.dataspace.clone(), exists);
                exists
            }
        };
        if !exists {
            results.push((key, Err(dataspace_not_found(&p.key.dataspace))));
            continue;
        }
        txn.put_object(&p.key, &p.meta, p.data)?;
        results.push((key, Ok(PutResponse::default())));
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etp_protocol::types::datatypes::object::Resource;
    use etp_protocol::types::protocol::store::Chunk;

    fn message(body: impl Into<Body>) -> Message {
        Message {
            header: Default::default(),
            extension: None,
            body: body.into(),
        }
    }

    fn chunked(uri: &str, blob: Uuid) -> DataObject {
        DataObject {
            resource: Resource {
                uri: uri.into(),
                ..Default::default()
            },
            blob_id: Some(blob),
            ..Default::default()
        }
    }

    fn chunk(blob: Uuid, data: &'static [u8], last: bool) -> Message {
        message(Chunk {
            blob_id: blob,
            data: Bytes::from_static(data),
            r#final: last,
        })
    }

    fn put_of(entries: Vec<(&str, DataObject)>) -> PutDataObjects {
        PutDataObjects {
            data_objects: entries.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            prune_contained_objects: false,
        }
    }

    #[test]
    fn chunks_are_joined_in_order_up_to_final() {
        let (a, b) = (Uuid([1; 16]), Uuid([2; 16]));
        let first = put_of(vec![("a", chunked("ua", a)), ("b", chunked("ub", b))]);
        let rest = vec![
            chunk(a, b"<x", false),
            chunk(b, b"12", false),
            chunk(a, b"/>", true),
            chunk(Uuid([9; 16]), b"stray", true),
            chunk(b, b"34", true),
        ];
        let collected = collect(first, rest, 100).unwrap();
        let data: Vec<_> = collected
            .iter()
            .map(|(_, r)| r.as_ref().unwrap().data.clone())
            .collect();
        assert_eq!(data, vec![Bytes::from("<x/>"), Bytes::from("1234")]);
        assert!(
            collected
                .iter()
                .all(|(_, r)| r.as_ref().unwrap().blob_id.is_none())
        );
    }

    #[test]
    fn broken_chunk_sequences_fail_only_their_key() {
        let ids: Vec<Uuid> = (1..=5).map(|i| Uuid([i; 16])).collect();
        let mut both = chunked("u", ids[3]);
        both.data = Bytes::from_static(b"<x/>");
        let first = put_of(vec![
            ("missing-final", chunked("u", ids[0])),
            ("after-final", chunked("u", ids[1])),
            ("too-large", chunked("u", ids[2])),
            ("both", both),
            ("shared", chunked("u", ids[1])),
            (
                "inline",
                DataObject {
                    data: Bytes::from_static(b"<y/>"),
                    ..Default::default()
                },
            ),
        ]);
        let rest = vec![
            chunk(ids[0], b"abc", false),
            chunk(ids[1], b"abc", true),
            chunk(ids[1], b"more", true),
            chunk(ids[2], b"0123456789", false),
            chunk(ids[2], b"0123456789", true),
        ];
        let collected: HashMap<String, Result<DataObject, ErrorInfo>> =
            collect(first, rest, 15).unwrap().into_iter().collect();
        let code = |k: &str| collected[k].as_ref().map(|_| 0).unwrap_or_else(|e| e.code);
        assert_eq!(code("missing-final"), 5);
        assert_eq!(code("after-final"), 5);
        assert_eq!(code("too-large"), 17);
        assert_eq!(code("both"), 5);
        assert_eq!(code("shared"), 5);
        assert_eq!(code("inline"), 0);
    }

    #[test]
    fn later_parts_add_entries_and_foreign_messages_are_refused() {
        let first = put_of(vec![("a", DataObject::default())]);
        let rest = vec![message(put_of(vec![("b", DataObject::default())]))];
        assert_eq!(collect(first.clone(), rest, 10).unwrap().len(), 2);
        let rest = vec![message(
            etp_protocol::types::protocol::store::GetDataObjects::default(),
        )];
        assert_eq!(
            collect(first, rest, 10).unwrap_err().0,
            ErrorCode::EINVALID_MESSAGETYPE
        );
    }

    #[test]
    fn prepare_checks_the_xml_against_the_uri() {
        let uuid = "dbe0e6ba-1ea6-4dd7-b541-9c4c14c16f62";
        let xml = format!(
            r#"<resqml2:LocalDepth3dCrs xmlns:eml="http://www.energistics.org/energyml/data/commonv2"
    xmlns:resqml2="http://www.energistics.org/energyml/data/resqmlv2"
    schemaVersion="2.0.1" uuid="{uuid}">
  <eml:Citation><eml:Title>Demo crs</eml:Title>
    <eml:Creation>2026-01-02T03:04:05Z</eml:Creation></eml:Citation>
</resqml2:LocalDepth3dCrs>"#
        );
        let object = |uri: String, data: &str| DataObject {
            resource: Resource {
                uri: uri.into(),
                ..Default::default()
            },
            data: Bytes::from(data.to_owned()),
            ..Default::default()
        };
        let uri = format!("eml:///dataspace('d')/resqml20.obj_LocalDepth3dCrs({uuid})");
        let p = prepare(object(uri.clone(), &xml), 10_000, 7).unwrap();
        assert_eq!(p.meta.title, "Demo crs");
        assert_eq!(p.meta.last_changed, 1_767_323_045_000_000);
        assert_eq!(p.meta.store_last_write, 7);
        assert_eq!(p.key.dataspace, "d");
        assert_eq!(p.data.len(), xml.len());

        let code = |o: DataObject, max: u64| prepare(o, max, 7).err().map(|e| e.code);
        assert_eq!(code(object(uri.clone(), &xml), 10), Some(17));
        assert_eq!(code(object(uri.clone(), "<not xml"), 10_000), Some(14));
        let other_type = uri.replace("obj_LocalDepth3dCrs", "obj_LocalTime3dCrs");
        assert_eq!(code(object(other_type, &xml), 10_000), Some(14));
        let other_uuid = uri.replace("dbe0e6ba", "00000000");
        assert_eq!(code(object(other_uuid, &xml), 10_000), Some(14));
        let versioned = uri.replace(&format!("({uuid})"), &format!("(uuid={uuid},version='3')"));
        assert_eq!(code(object(versioned, &xml), 10_000), Some(14));
        let mut json = object(uri, &xml);
        json.format = "json".into();
        assert_eq!(code(json, 10_000), Some(5));
    }
}
