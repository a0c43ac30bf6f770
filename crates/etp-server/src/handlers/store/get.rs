//! GetDataObjects (11-store.md §2–§3), streamed.
//!
//! Objects are read in batches of about [`READ_BATCH_BYTES`] and sent as soon as they are
//! read, so a request for many large objects never holds them all in memory. The answer
//! is shaped for pyetp, the strictest reader (11-store.md §3):
//!
//! * Objects are packed into `GetDataObjectsResponse` parts that each fit the negotiated
//!   message size. There is always at least one such part, empty if nothing was found.
//! * An object that does not fit in one message on its own goes out as a `DataObject` with
//!   a fresh `blobId` and empty `data`, as the last entry of a response part, immediately
//!   followed by its `Chunk` messages (4/8) in order, the last one `final`. Nothing else
//!   is sent between a response and its chunks, and no empty response follows them.
//! * Failed keys come last, in ProtocolException `errors`; FIN is on the very last message.
//!
//! Per key, beyond the module's checks: an object larger than the `MaxDataObjectSize`
//! the client declared for this protocol, or whose metadata alone does not fit in a
//! message, or that would need chunks smaller than [`MIN_CHUNK_BYTES`] → 17.

use std::collections::VecDeque;

use bytes::{Buf, Bytes};
use etp_protocol::codec::writer::{write_bytes, write_long};
use etp_protocol::codec::{Avro, Map, SegmentedBuf};
use etp_protocol::error_code::ErrorCode;
use etp_protocol::message::EtpMessage;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::ErrorInfo;
use etp_protocol::types::protocol::store::{Chunk, GetDataObjects, GetDataObjectsResponse};
use etp_protocol::{EtpString, Uuid};
use etp_store::{ObjectMeta, ReadTxn, StoredObject};

use super::{
    MAP_OVERHEAD, StoreHandler, dataspace_not_found, is_xml, not_found, resolve, same_type,
    stored_key,
};
use crate::handlers::objects::{ObjectRef, encode_meta_resource, error_info, object_uri};
use crate::handlers::store_error;
use crate::session::{EncodedBody, Responder, SessionClosed, SessionContext};

/// Object bytes read from the store per read call (one object more if it is bigger).
const READ_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// Room kept in a Chunk body for the blobId, the length prefix and the `final` flag.
const CHUNK_OVERHEAD: usize = 64;
/// Requests of at most this many keys are read on the async worker that handles them
/// (see [`DataAccess::read_inline`](crate::access::DataAccess::read_inline)), up to
/// [`INLINE_READ_BYTES`] of objects; any object beyond is read on the blocking pool.
const INLINE_READ_KEYS: usize = 4;
/// Object bytes read on the async worker per request: a few small objects from the
/// store's cache take less time than the hand-off to the blocking pool would.
const INLINE_READ_BYTES: u64 = 64 * 1024;
/// Smallest chunk payload worth sending: below it (a client that negotiated a tiny
/// message size) a large object would take an absurd number of messages.
const MIN_CHUNK_BYTES: usize = 1024;

/// Answers GetDataObjects.
pub(super) async fn get(
    handler: &StoreHandler,
    session: &SessionContext,
    m: GetDataObjects,
    responder: Responder,
) -> Result<(), SessionClosed> {
    if !is_xml(&m.format) {
        return responder
            .error(
                ErrorCode::EINVALID_ARGUMENT,
                format!(
                    "format {:?} is not supported; this store speaks xml",
                    m.format
                ),
            )
            .await;
    }
    let mut inline = m.uris.len() <= INLINE_READ_KEYS;
    let mut inline_left = INLINE_READ_BYTES;
    let mut errors = Map::new();
    // The keys stay the request's strings (shared with its buffer, not copied).
    let mut resolved: Vec<(EtpString, ObjectRef)> = Vec::with_capacity(m.uris.len());
    for (key, uri) in m.uris {
        match resolve(&uri) {
            Ok(object) => resolved.push((key, object)),
            Err(e) => {
                errors.insert(key, e);
            }
        }
    }
    // One dataspace after the other, in the order of their paths, each in request order
    // (a stable sort; most requests name one dataspace and are already sorted).
    resolved.sort_by(|(_, a), (_, b)| a.key.dataspace.cmp(&b.key.dataspace));

    let mut writer = ResponseWriter::new(responder, client_max_object_size(session));
    while let Some((_, first)) = resolved.first() {
        let dataspace = first.key.dataspace.clone();
        let same = resolved
            .iter()
            .take_while(|(_, o)| o.key.dataspace == dataspace)
            .count();
        let rest = resolved.split_off(same);
        let mut pending = VecDeque::from(std::mem::replace(&mut resolved, rest));
        let mut check_dataspace = true;
        while !pending.is_empty() {
            let access = &handler.access;
            let slot = &session.transaction;
            let read = if inline {
                access
                    .read_inline(slot, &dataspace, move |r| {
                        read_batch(r, check_dataspace, pending, Some(inline_left))
                    })
                    .await
            } else {
                access
                    .read(slot, &dataspace, move |r| {
                        read_batch(r, check_dataspace, pending, None)
                    })
                    .await
            };
            let (results, rest) = match read {
                Ok(read) => read,
                Err((code, message)) => return writer.abort(code, message).await,
            };
            for (key, result) in results {
                if let Ok(stored) = &result {
                    inline_left = inline_left.saturating_sub(stored.data.len() as u64);
                }
                match result {
                    Ok(stored) => writer.add(key, stored, &mut errors).await?,
                    Err(e) => {
                        errors.insert(key, e);
                    }
                }
            }
            // What an inline read left (an object too large for it) goes to the pool.
            inline = inline && rest.is_empty();
            pending = rest;
            check_dataspace = false;
        }
    }
    writer.finish(errors).await
}

/// The `MaxDataObjectSize` the client declared for the Store protocol, if any.
fn client_max_object_size(session: &SessionContext) -> Option<u64> {
    session
        .negotiated
        .client_protocol_capabilities
        .get(&4)?
        .get("MaxDataObjectSize")?
        .as_i64()
        .filter(|&v| v > 0)
        .map(|v| v as u64)
}

/// Per key read so far, the object or why it is not answered.
type BatchResults = Vec<(EtpString, Result<StoredObject, ErrorInfo>)>;

/// Reads objects of one dataspace (`pending` holds keys of one dataspace only) until
/// about [`READ_BATCH_BYTES`] are in hand; returns
/// them and the keys still to read. Failures of single lookups fail only their key.
/// With `inline_budget`, stops before the first object that would take the bytes read
/// beyond it (that object is read again later, on the blocking pool).
///
/// With `check_dataspace`, every key fails with "dataspace does not exist" if the
/// dataspace is missing. It is looked up only once a key is not found: an object
/// exists only inside an existing dataspace (the store creates and deletes them
/// together), so a found object proves it exists, and a request whose objects are all
/// there does not pay for the lookup (one more read of the store per request).
fn read_batch(
    r: &dyn ReadTxn,
    mut check_dataspace: bool,
    mut pending: VecDeque<(EtpString, ObjectRef)>,
    inline_budget: Option<u64>,
) -> etp_store::Result<(BatchResults, VecDeque<(EtpString, ObjectRef)>)> {
    let mut results: BatchResults = Vec::with_capacity(pending.len().min(64));
    let mut bytes = 0usize;
    while let Some((key, object)) = pending.pop_front() {
        let lookup = match inline_budget {
            None => r.get_object(&stored_key(&object)),
            Some(budget) => {
                let left = budget.saturating_sub(bytes as u64);
                match r.get_object_up_to(&stored_key(&object), left) {
                    Ok(Some(stored)) if stored.meta.data_len > left => {
                        pending.push_front((key, object));
                        break;
                    }
                    other => other,
                }
            }
        };
        let result = match lookup {
            Err(e) => {
                let (code, message) = store_error(&e);
                Err(error_info(code, message))
            }
            Ok(Some(stored))
                if same_type(&stored.meta.qualified_type, &object)
                    && version_matches(&stored, &object) =>
            {
                check_dataspace = false;
                bytes += stored.data.len();
                Ok(stored)
            }
            Ok(_) if check_dataspace => {
                let dataspace = &object.key.dataspace;
                if r.get_dataspace(dataspace)?.is_none() {
                    // Nothing of this dataspace can have been found: every key fails alike.
                    let missing = dataspace_not_found(dataspace);
                    let keys = results.into_iter().map(|(key, _)| key);
                    let keys = keys.chain(std::iter::once(key));
                    let keys = keys.chain(pending.into_iter().map(|(key, _)| key));
                    let failed = keys.map(|key| (key, Err(missing.clone()))).collect();
                    return Ok((failed, VecDeque::new()));
                }
                check_dataspace = false;
                Err(not_found(&object.uri.to_string()))
            }
            Ok(_) => Err(not_found(&object.uri.to_string())),
        };
        results.push((key, result));
        if bytes >= READ_BATCH_BYTES {
            break;
        }
    }
    Ok((results, pending))
}

/// Whether a stored object is the version a URI asks for (any, for a URI without one).
pub(super) fn version_matches(stored: &StoredObject, requested: &ObjectRef) -> bool {
    match requested.uri.version() {
        None => true,
        Some(version) => etp_model::parse_data_object(&stored.data)
            .is_ok_and(|info| info.object_version.as_deref() == Some(version)),
    }
}

/// Builds the response set message by message. The last message produced is held back
/// until the next one exists, so that FIN can go on whichever turns out to be last.
///
/// Response parts are encoded entry by entry straight from the stored objects
/// ([`encode_entry`]): no `Resource` or `DataObject` is built, and the XML is shared, not
/// copied. The bytes are those of the typed `GetDataObjectsResponse` (tests hold both to it).
struct ResponseWriter {
    responder: Responder,
    map_budget: usize,
    chunk_size: usize,
    client_max: Option<u64>,
    /// The entries of the part being built (without the map's count and end marker).
    current: SegmentedBuf,
    current_entries: usize,
    current_size: usize,
    /// One entry's fields before its data, reused.
    head: Vec<u8>,
    held: Option<Held>,
}

/// A message of the answer held back (see [`ResponseWriter`]).
enum Held {
    /// A `GetDataObjectsResponse` part, encoded.
    Part(EncodedBody),
    /// A `Chunk`.
    Chunk(Chunk),
}

/// Bytes of an entry head besides its strings: their lengths, the times, status, format,
/// blob id and data length (an upper bound: varints of at most 10 bytes).
const ENTRY_FIXED_BYTES: usize = 128;

/// The message type of `GetDataObjectsResponse`.
const RESPONSE_TYPE: i32 = <GetDataObjectsResponse as EtpMessage>::INFO.message_type;

impl ResponseWriter {
    fn new(responder: Responder, client_max: Option<u64>) -> Self {
        let body = responder.max_body_size();
        ResponseWriter {
            map_budget: body.saturating_sub(MAP_OVERHEAD),
            chunk_size: body.saturating_sub(CHUNK_OVERHEAD),
            responder,
            client_max,
            current: SegmentedBuf::new(),
            current_entries: 0,
            current_size: 0,
            head: Vec::new(),
            held: None,
        }
    }

    /// Adds a found object to the answer, inline or chunked; records a 17 in `errors`
    /// when it cannot be sent to this client.
    async fn add(
        &mut self,
        key: EtpString,
        stored: StoredObject,
        errors: &mut Map<ErrorInfo>,
    ) -> Result<(), SessionClosed> {
        let len = stored.data.len();
        let too_large = |message: String| error_info(ErrorCode::EMAXSIZE_EXCEEDED, message);
        if let Some(max) = self.client_max
            && len as u64 > max
        {
            let message =
                format!("the object has {len} bytes, more than your MaxDataObjectSize ({max})");
            errors.insert(key, too_large(message));
            return Ok(());
        }
        let uri = object_uri(&stored.key, &stored.meta.qualified_type).unwrap_or_default();
        self.head.clear();
        // Room for the whole head at once (it would otherwise grow by doubling from
        // empty, for every request).
        self.head.reserve(
            ENTRY_FIXED_BYTES
                + key.len()
                + uri.len()
                + stored.meta.title.len()
                + 2 * stored.meta.custom_data.len(),
        );
        encode_entry_head(&mut self.head, &key, &uri, &stored.meta, None, len);
        let size = self.head.len() + len;
        if size <= self.map_budget {
            return self.append(size, &stored.data).await;
        }

        let blob_id = Uuid::new_v4();
        self.head.clear();
        encode_entry_head(&mut self.head, &key, &uri, &stored.meta, Some(&blob_id), 0);
        let size = self.head.len();
        if size > self.map_budget || self.chunk_size < MIN_CHUNK_BYTES {
            let message = format!(
                "the object ({len} bytes) cannot be sent within the negotiated message size"
            );
            errors.insert(key, too_large(message));
            return Ok(());
        }
        self.append(size, &Bytes::new()).await?;
        // The chunks must follow the response holding their DataObject directly.
        self.flush().await?;
        let data = stored.data;
        let mut start = 0;
        while start < len {
            let end = (start + self.chunk_size).min(len);
            let chunk = Chunk {
                blob_id,
                data: data.slice(start..end),
                r#final: end == len,
            };
            self.push(Held::Chunk(chunk)).await?;
            start = end;
        }
        Ok(())
    }

    /// Adds the entry in `self.head` followed by `data` (`size` bytes in all) to the
    /// response part being built, starting a new part if it would overflow.
    async fn append(&mut self, size: usize, data: &Bytes) -> Result<(), SessionClosed> {
        if self.current_entries > 0 && self.current_size + size > self.map_budget {
            self.flush().await?;
        }
        if self.current_entries == 0 {
            start_part(&mut self.current);
        }
        let small = self.current.small_mut();
        // The head, the map's end marker and its count (see `finish_part`).
        small.reserve(self.head.len() + 1 + COUNT_ROOM);
        small.extend_from_slice(&self.head);
        self.current.push_bytes(data);
        self.current_entries += 1;
        self.current_size += size;
        Ok(())
    }

    /// Closes the response part being built.
    async fn flush(&mut self) -> Result<(), SessionClosed> {
        if self.current_entries == 0 {
            return Ok(());
        }
        let entries = std::mem::take(&mut self.current);
        let part = finish_part(self.current_entries, entries);
        self.current_entries = 0;
        self.current_size = 0;
        self.push(Held::Part(part)).await
    }

    /// Queues `message`, sending the previously held message (not the last one, so no FIN).
    async fn push(&mut self, message: Held) -> Result<(), SessionClosed> {
        match self.held.replace(message) {
            None => Ok(()),
            Some(Held::Part(part)) => {
                self.responder
                    .send_encoded(RESPONSE_TYPE, part, false)
                    .await
            }
            Some(Held::Chunk(chunk)) => self.responder.send(chunk.into(), false).await,
        }
    }

    /// Sends what is left, then the per-key errors; FIN on the last message.
    async fn finish(mut self, errors: Map<ErrorInfo>) -> Result<(), SessionClosed> {
        self.flush().await?;
        match self.held.take() {
            Some(Held::Part(part)) => {
                self.responder
                    .finish_encoded(RESPONSE_TYPE, part, errors)
                    .await
            }
            last => {
                let last: Vec<Body> = match last {
                    Some(Held::Chunk(chunk)) => vec![chunk.into()],
                    _ => Vec::new(),
                };
                self.responder
                    .reply_set(last, errors, || GetDataObjectsResponse::default().into())
                    .await
            }
        }
    }

    /// Ends the set with a whole-request error after a failure of the store itself.
    async fn abort(mut self, code: ErrorCode, message: String) -> Result<(), SessionClosed> {
        if let Some(previous) = self.held.take() {
            match previous {
                Held::Part(part) => {
                    self.responder
                        .send_encoded(RESPONSE_TYPE, part, false)
                        .await?
                }
                Held::Chunk(chunk) => self.responder.send(chunk.into(), false).await?,
            }
        }
        self.responder.error(code, message).await
    }
}

/// Appends what precedes the XML in one entry of a `GetDataObjectsResponse` map: the
/// key, then the `DataObject` of the stored object at `uri` (its `Resource`, format
/// `xml`, `blob_id`) up to and including the length of its `data_len` bytes of data.
fn encode_entry_head(
    out: &mut Vec<u8>,
    key: &str,
    uri: &str,
    meta: &ObjectMeta,
    blob_id: Option<&Uuid>,
    data_len: usize,
) {
    write_bytes(out, key.as_bytes());
    encode_meta_resource(out, uri, meta);
    write_bytes(out, b"xml");
    match blob_id {
        None => write_long(out, 0),
        Some(id) => {
            write_long(out, 1);
            id.encode(out);
        }
    }
    write_long(out, data_len as i64);
}

/// Room for the map's entry count (a varint of at most 10 bytes) at the start of a
/// response part's buffer: the count is known only once the part is full, and writing it
/// there spares a buffer and a segment of its own per part.
const COUNT_ROOM: usize = 10;

/// Starts the entries of a response part in `entries`, empty: room for their count
/// (see [`finish_part`]).
fn start_part(entries: &mut SegmentedBuf) {
    entries.small_mut().extend_from_slice(&[0; COUNT_ROOM]);
}

/// The body of a `GetDataObjectsResponse` whose map holds `count` entries, encoded in
/// `entries` after [`start_part`].
fn finish_part(count: usize, mut entries: SegmentedBuf) -> EncodedBody {
    // The map as one block: its count, the entries, the end marker.
    let small = entries.small_mut();
    small.push(0);
    let end = small.len();
    write_long(small, count as i64);
    let len = small.len() - end;
    // The count goes at the end of its room; the bytes before it are skipped below.
    let skip = COUNT_ROOM - len;
    small.copy_within(end.., skip);
    small.truncate(end);
    let mut segments = entries.into_segments();
    // The first segment starts with the room (the buffer's first bytes, never empty).
    if let Some(first) = segments.first_mut() {
        first.advance(skip);
    }
    EncodedBody::new(segments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::objects::{encode_custom_data, resource};
    use etp_protocol::codec::encode_to_vec;
    use etp_protocol::types::datatypes::DataValue;
    use etp_protocol::types::datatypes::object::DataObject;
    use etp_store::{ActiveStatus, ObjectKey};

    fn stored(dataspace: &str, title: &str, custom: bool, xml_len: usize) -> StoredObject {
        let mut custom_data = Map::new();
        if custom {
            custom_data.insert("k".into(), DataValue::long(42));
        }
        StoredObject {
            key: ObjectKey {
                dataspace: dataspace.into(),
                uuid: *Uuid::new_v4().as_bytes(),
                version: None,
            },
            meta: ObjectMeta {
                qualified_type: "resqml20.obj_LocalDepth3dCrs".into(),
                title: title.into(),
                last_changed: 1_700_000_000_000_000,
                store_created: -5,
                store_last_write: 1_700_000_000_123_456,
                active_status: if custom {
                    ActiveStatus::Inactive
                } else {
                    ActiveStatus::Active
                },
                format: "xml".into(),
                custom_data: encode_custom_data(&custom_data),
                references: Vec::new(),
                data_len: xml_len as u64,
            },
            data: Bytes::from(vec![b'<'; xml_len]),
        }
    }

    /// The entry count written into its room at the start of the part encodes as the
    /// typed map's, whatever its varint length.
    #[test]
    fn parts_of_many_entries_encode_as_the_typed_response() {
        for count in [1, 63, 64, 300, 20_000] {
            let object = stored("ds", "t", false, 3);
            let uri = object_uri(&object.key, &object.meta.qualified_type).unwrap();
            let mut typed = Map::new();
            let mut entries = SegmentedBuf::new();
            start_part(&mut entries);
            let mut head = Vec::new();
            for i in 0..count {
                let key = format!("{i}");
                typed.insert(
                    key.clone().into(),
                    DataObject {
                        resource: resource(&object.key, &object.meta, None),
                        format: "xml".into(),
                        blob_id: None,
                        data: object.data.clone(),
                    },
                );
                head.clear();
                encode_entry_head(&mut head, &key, &uri, &object.meta, None, 3);
                entries.small_mut().extend_from_slice(&head);
                entries.push_bytes(&object.data);
            }
            let part = finish_part(count, entries);
            let typed = GetDataObjectsResponse {
                data_objects: typed,
            };
            assert_eq!(part.segments().concat(), encode_to_vec(&typed), "{count}");
            assert_eq!(part.len(), typed.encoded_len());
        }
    }

    /// The direct encoding of a response part is byte for byte the typed one, whether
    /// the XML is inline, shared or left for chunks (a `blobId` and no data).
    #[test]
    fn direct_entries_encode_as_the_typed_response() {
        let objects = [
            stored("", "", false, 0),
            stored("a/b", "Crs 'one'", true, 10),
            stored("x", "Ünïcode title", false, 20 * 1024),
            stored("", "chunked", true, 100_000),
        ];
        let mut typed = Map::new();
        let mut entries = SegmentedBuf::new();
        start_part(&mut entries);
        let mut head = Vec::new();
        for (i, object) in objects.iter().enumerate() {
            let key = format!("key-{i}");
            let blob_id = (i == 3).then(Uuid::new_v4);
            let data = if blob_id.is_some() {
                Bytes::new()
            } else {
                object.data.clone()
            };
            typed.insert(
                key.clone().into(),
                DataObject {
                    resource: resource(&object.key, &object.meta, None),
                    format: "xml".into(),
                    blob_id,
                    data: data.clone(),
                },
            );
            let uri = object_uri(&object.key, &object.meta.qualified_type).unwrap();
            head.clear();
            encode_entry_head(
                &mut head,
                &key,
                &uri,
                &object.meta,
                blob_id.as_ref(),
                data.len(),
            );
            entries.small_mut().extend_from_slice(&head);
            entries.push_bytes(&data);
        }
        let part = finish_part(objects.len(), entries);
        let direct: Vec<u8> = part.segments().concat();
        let typed = GetDataObjectsResponse {
            data_objects: typed,
        };
        assert_eq!(direct, encode_to_vec(&typed));
        assert_eq!(part.len(), typed.encoded_len());
        // The 20 KiB XML went by reference.
        assert!(
            part.segments()
                .iter()
                .any(|s| s.as_ptr() == objects[2].data.as_ptr())
        );
    }
}
