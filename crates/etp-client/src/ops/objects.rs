//! Store (protocol 4): get, put and delete whole data objects, with chunking of objects
//! too big for one message (11-store.md §1–§5).
//!
//! Keys of every request and result are the object URIs as given.
//!
//! - [`get_data_objects`] sends the URIs in requests that fit the message size, pipelined,
//!   and reassembles objects the store sent as `blobId` + `Chunk` messages.
//! - [`put_data_objects`] batches small objects into `PutDataObjects` messages within the
//!   size; an object that does not fit alone goes in its own message set: a
//!   `PutDataObjects` carrying the object with empty `data` and a fresh `blobId`, then
//!   `Chunk` messages with its bytes, the last one `final` (what pyetp and open-etp-client
//!   do).
//! - [`delete_data_objects`] batches the URIs likewise.

use std::collections::HashMap;

use bytes::Bytes;
use etp_protocol::codec::{Avro, Map};
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::object::{ActiveStatusKind, DataObject, PutResponse, Resource};
use etp_protocol::types::protocol::store::{
    Chunk, DeleteDataObjects, DeleteDataObjectsResponse, GetDataObjects, GetDataObjectsResponse,
    PutDataObjects, PutDataObjectsResponse, StoreMessage,
};
use etp_protocol::{EtpString, Uuid};

use super::pipeline::{self, batches};
use super::{
    DEFAULT_MAX_IN_FLIGHT, KeyError, KeyedResults, OpsError, keyed_outcome, keyed_response, merge,
    message_budget,
};
use crate::{Client, Response};

/// Largest number of URIs per get or delete request: keeps answers (and the work lost if
/// one fails) reasonable while still amortising round trips.
const MAX_URIS_PER_REQUEST: usize = 200;
/// Largest number of objects per PutDataObjects message.
const MAX_OBJECTS_PER_PUT: usize = 500;
/// Bytes of a Chunk message besides its data: blobId (16), data length (≤ 10), final (1),
/// with room to spare.
const CHUNK_OVERHEAD: usize = 64;

/// A `DataObject` for `PutDataObjects`: XML `data` under `uri`, with `name` (the
/// citation title) in the resource. Store-side fields (times, counts) are placeholders the
/// store replaces.
pub fn new_data_object(
    uri: impl Into<EtpString>,
    name: impl Into<EtpString>,
    xml: Bytes,
) -> DataObject {
    let now = etp_protocol::now_micros();
    DataObject {
        resource: Resource {
            uri: uri.into(),
            alternate_uris: Default::default(),
            name: name.into(),
            source_count: None,
            target_count: None,
            last_changed: now,
            store_last_write: now,
            store_created: now,
            active_status: ActiveStatusKind::Active,
            custom_data: Map::new(),
        },
        format: "xml".into(),
        blob_id: None,
        data: xml,
    }
}

/// Fetches data objects by URI. Successes hold complete objects (`data` reassembled from
/// chunks, `blobId` cleared); every URI the store could not serve is in `errors` with the
/// store's code (9 invalid URI, 11 not found, 16 unsupported type...).
pub async fn get_data_objects(
    client: &Client,
    uris: &[String],
) -> Result<KeyedResults<DataObject>, OpsError> {
    let items = uris.iter().map(|uri| (uri.clone(), EtpString::from(uri)));
    let requests = batches(
        items,
        message_budget(client),
        MAX_URIS_PER_REQUEST,
        EtpString::encoded_len,
    )
    .into_iter()
    .map(|uris| {
        let client = client.clone();
        async move {
            let keys: Vec<String> = uris.keys().map(ToString::to_string).collect();
            let response = client
                .request(GetDataObjects {
                    uris,
                    format: "xml".into(),
                })
                .await?;
            collect_objects(response, &keys)
        }
    });
    Ok(merge(pipeline::all(DEFAULT_MAX_IN_FLIGHT, requests).await?))
}

/// The objects of a GetDataObjects answer, chunked ones reassembled: chunks are appended
/// to their blob in messageId order up to the `final` one; an object whose blob never
/// completes is reported as an error for its key.
fn collect_objects(
    response: Response,
    keys: &[String],
) -> Result<KeyedResults<DataObject>, OpsError> {
    let reported = response.errors();
    let mut ok: Map<DataObject> = Map::new();
    // blobId -> (assembled bytes, final seen)
    let mut blobs: HashMap<Uuid, (Vec<u8>, bool)> = HashMap::new();
    for body in response.into_bodies() {
        match body {
            Body::Store(StoreMessage::GetDataObjectsResponse(part)) => {
                for (key, object) in part.data_objects {
                    if let Some(blob) = object.blob_id {
                        blobs.entry(blob).or_default();
                    }
                    ok.insert(key, object);
                }
            }
            Body::Store(StoreMessage::Chunk(chunk)) => {
                let (data, done) = blobs.entry(chunk.blob_id).or_default();
                if *done {
                    tracing::warn!(blob = %chunk.blob_id, "chunk after the final one ignored");
                    continue;
                }
                data.extend_from_slice(&chunk.data);
                *done = chunk.r#final;
            }
            other => {
                return Err(super::unexpected::<GetDataObjectsResponse>(&other));
            }
        }
    }
    let mut incomplete = Vec::new();
    for (key, object) in ok.iter_mut() {
        let Some(blob) = object.blob_id else { continue };
        match blobs.remove(&blob) {
            Some((data, true)) => {
                object.data = Bytes::from(data);
                object.blob_id = None;
            }
            _ => incomplete.push(key.clone()),
        }
    }
    let mut outcome = keyed_outcome(reported, keys, ok);
    for key in incomplete {
        outcome.ok.shift_remove(&key);
        outcome.errors.insert(
            key,
            KeyError {
                code: KeyError::NO_ANSWER,
                message: "the object was announced as chunked but its final chunk never came"
                    .to_string(),
            },
        );
    }
    Ok(outcome)
}

/// Puts (creates or replaces) data objects, keyed by their `resource.uri`. Small objects
/// share messages; an object too big for one message is sent as chunks. Requests are
/// pipelined, at most `DEFAULT_MAX_IN_FLIGHT` at once. Per-object failures (invalid
/// object 14, unknown dataspace 11...) are in `errors`.
pub async fn put_data_objects(
    client: &Client,
    objects: Vec<DataObject>,
) -> Result<KeyedResults<PutResponse>, OpsError> {
    let budget = message_budget(client);
    let (big, small): (Vec<DataObject>, Vec<DataObject>) = objects
        .into_iter()
        .partition(|o| o.encoded_len() + super::pipeline::entry_overhead(&o.resource.uri) > budget);
    let mut requests: Vec<PutRequest> = batches(
        small.into_iter().map(|o| (o.resource.uri.clone(), o)),
        budget,
        MAX_OBJECTS_PER_PUT,
        DataObject::encoded_len,
    )
    .into_iter()
    .map(PutRequest::Batch)
    .collect();
    requests.extend(
        big.into_iter()
            .map(|o| PutRequest::Chunked(Box::new(o), budget)),
    );
    let requests = requests.into_iter().map(|request| {
        let client = client.clone();
        async move { request.send(&client).await }
    });
    Ok(merge(pipeline::all(DEFAULT_MAX_IN_FLIGHT, requests).await?))
}

/// One message set of a put.
enum PutRequest {
    /// Objects that fit together in one PutDataObjects.
    Batch(Map<DataObject>),
    /// One object sent as chunks of at most `budget` bytes of message.
    Chunked(Box<DataObject>, usize),
}

impl PutRequest {
    async fn send(self, client: &Client) -> Result<KeyedResults<PutResponse>, OpsError> {
        let (keys, response) = match self {
            PutRequest::Batch(data_objects) => {
                let keys: Vec<String> = data_objects.keys().map(ToString::to_string).collect();
                let request = PutDataObjects {
                    data_objects,
                    prune_contained_objects: false,
                };
                (keys, client.request(request).await?)
            }
            PutRequest::Chunked(object, budget) => {
                let key = object.resource.uri.to_string();
                let (first, chunks) = chunked_put(*object, budget);
                (vec![key], client.request_multipart(first, chunks).await?)
            }
        };
        keyed_response(response, &keys, |part: PutDataObjectsResponse, ok| {
            ok.extend(part.success);
        })
    }
}

/// The message set of a chunked put: PutDataObjects with the object's bytes replaced by a
/// fresh blobId, then Chunks of at most `budget - CHUNK_OVERHEAD` bytes, the last `final`.
fn chunked_put(mut object: DataObject, budget: usize) -> (Body, Vec<Body>) {
    let blob_id = Uuid::new_v4();
    let data = std::mem::take(&mut object.data);
    object.blob_id = Some(blob_id);
    let key = object.resource.uri.clone();
    let mut data_objects = Map::new();
    data_objects.insert(key, object);
    let first = PutDataObjects {
        data_objects,
        prune_contained_objects: false,
    }
    .into();
    let size = budget.saturating_sub(CHUNK_OVERHEAD).max(1);
    let count = data.len().div_ceil(size).max(1);
    let chunks = (0..count)
        .map(|i| {
            let start = i * size;
            let end = (start + size).min(data.len());
            Chunk {
                blob_id,
                data: data.slice(start..end),
                r#final: i + 1 == count,
            }
            .into()
        })
        .collect();
    (first, chunks)
}

/// Deletes data objects by URI. `prune` asks the store to also delete contained objects
/// left without a container (WITSML containers). Successes hold every URI the store
/// deleted for that key.
pub async fn delete_data_objects(
    client: &Client,
    uris: &[String],
    prune: bool,
) -> Result<KeyedResults<Vec<String>>, OpsError> {
    let items = uris.iter().map(|uri| (uri.clone(), EtpString::from(uri)));
    let requests = batches(
        items,
        message_budget(client),
        MAX_URIS_PER_REQUEST,
        EtpString::encoded_len,
    )
    .into_iter()
    .map(|uris| {
        let client = client.clone();
        async move {
            let keys: Vec<String> = uris.keys().map(ToString::to_string).collect();
            let response = client
                .request(DeleteDataObjects {
                    uris,
                    prune_contained_objects: prune,
                })
                .await?;
            keyed_response(response, &keys, |part: DeleteDataObjectsResponse, ok| {
                ok.extend(
                    part.deleted_uris
                        .into_iter()
                        .map(|(k, v)| (k, v.values.into_iter().map(String::from).collect())),
                );
            })
        }
    });
    Ok(merge(pipeline::all(DEFAULT_MAX_IN_FLIGHT, requests).await?))
}

#[cfg(test)]
mod tests {
    use etp_protocol::message::{Message, flags};
    use etp_protocol::types::datatypes::{ErrorInfo, MessageHeader};
    use etp_protocol::types::protocol::core::ProtocolException;

    use super::*;

    fn msg(id: i64, body: Body) -> Message {
        let info = body.info();
        Message {
            header: MessageHeader {
                protocol: info.protocol,
                message_type: info.message_type,
                correlation_id: 2,
                message_id: id,
                message_flags: 0,
            },
            extension: None,
            body,
        }
    }

    fn object(uri: &str, data: &'static [u8], blob: Option<Uuid>) -> DataObject {
        let mut o = new_data_object(uri, "t", Bytes::from_static(data));
        o.blob_id = blob;
        o
    }

    fn chunk(blob: Uuid, data: &'static [u8], last: bool) -> Body {
        Chunk {
            blob_id: blob,
            data: Bytes::from_static(data),
            r#final: last,
        }
        .into()
    }

    #[test]
    fn reassembles_chunks_in_message_order_and_reports_errors() {
        let (b1, b2) = (Uuid::new_v4(), Uuid::new_v4());
        let mut part = Map::new();
        part.insert("small".into(), object("small", b"<a/>", None));
        part.insert("big".into(), object("big", b"", Some(b1)));
        part.insert("broken".into(), object("broken", b"", Some(b2)));
        let mut errors = Map::new();
        errors.insert(
            "gone".into(),
            ErrorInfo {
                message: "not found".into(),
                code: 11,
            },
        );
        // Shuffled: Response sorts by messageId.
        let mut last = msg(
            9,
            ProtocolException {
                error: None,
                errors,
            }
            .into(),
        );
        last.header.message_flags = flags::FIN;
        let response = Response::new(
            2,
            vec![
                msg(5, chunk(b1, b"world", false)),
                msg(1, GetDataObjectsResponse { data_objects: part }.into()),
                msg(3, chunk(b1, b"hello ", false)),
                msg(7, chunk(b1, b"!", true)),
                msg(8, chunk(b2, b"half", false)),
                last,
            ],
        );
        let keys: Vec<String> = ["small", "big", "broken", "gone", "silent"]
            .map(String::from)
            .to_vec();
        let out = collect_objects(response, &keys).unwrap();
        assert_eq!(out.ok.keys().collect::<Vec<_>>(), ["small", "big"]);
        assert_eq!(&out.ok["big"].data[..], b"hello world!");
        assert_eq!(out.ok["big"].blob_id, None);
        assert_eq!(&out.ok["small"].data[..], b"<a/>");
        assert_eq!(out.errors["gone"].code.code(), 11);
        assert_eq!(out.errors["broken"].code, KeyError::NO_ANSWER);
        assert_eq!(out.errors["silent"].code, KeyError::NO_ANSWER);
    }

    #[test]
    fn whole_request_error_is_charged_to_every_key() {
        let mut pe = msg(
            3,
            ProtocolException {
                error: Some(ErrorInfo {
                    message: "no transaction".into(),
                    code: 8,
                }),
                errors: Map::new(),
            }
            .into(),
        );
        pe.header.message_flags = flags::FIN;
        let keys = vec!["a".to_string(), "b".to_string()];
        let out = collect_objects(Response::new(2, vec![pe]), &keys).unwrap();
        assert!(out.ok.is_empty());
        assert_eq!(out.errors.len(), 2);
        assert!(out.errors.values().all(|e| e.code.code() == 8));
    }

    #[test]
    fn chunked_put_splits_within_budget() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let object = new_data_object("eml:///x", "x", Bytes::from(data.clone()));
        let (first, chunks) = chunked_put(object, 300 + CHUNK_OVERHEAD);
        let Body::Store(StoreMessage::PutDataObjects(put)) = first else {
            panic!("{first:?}")
        };
        let announced = &put.data_objects["eml:///x"];
        assert!(announced.data.is_empty());
        let blob = announced.blob_id.unwrap();
        assert_eq!(chunks.len(), 4);
        let mut joined = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            let Body::Store(StoreMessage::Chunk(c)) = c else {
                panic!()
            };
            assert_eq!(c.blob_id, blob);
            assert!(c.data.len() <= 300);
            assert_eq!(c.r#final, i == 3);
            joined.extend_from_slice(&c.data);
        }
        assert_eq!(joined, data);
    }
}
