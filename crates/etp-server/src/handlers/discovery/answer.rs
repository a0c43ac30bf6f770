//! Building Discovery's records (Resource, Edge) and sending list answers as multipart
//! sets within the negotiated message size (00-wire.md §9).

use std::collections::HashMap;

use bytes::Bytes;
use etp_protocol::codec::writer::write_long;
use etp_protocol::codec::{Avro, Map};
use etp_protocol::error_code::ErrorCode;
use etp_protocol::message::EtpMessage;
use etp_protocol::names::QualifiedType;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::object::{Edge, RelationshipKind as EtpKind, Resource};
use etp_protocol::types::datatypes::{DataValue, DataValueItem, ErrorInfo};
use etp_protocol::types::protocol::core::ProtocolException;
use etp_protocol::types::protocol::discovery::GetResourcesResponse;
use etp_protocol::uri::DataspaceUri;
use etp_store::{ObjectKey, ObjectRow, RelationshipKind, Uuid};
use tokio::sync::mpsc;

use crate::access::Failure;
use crate::handlers::objects::{encode_row_resource, error_info, object_uri};
use crate::session::{EncodedBody, Responder, SessionClosed};

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
        let mut uri = String::new();
        self.write_row_uri(&mut uri, uuid, version, qualified_type)
            .then_some(uri)
    }

    /// Appends the canonical URI of a listed row to `out` (a buffer reused from row to
    /// row, so a listing allocates no URI); `false`, `out` untouched, if the URI cannot be
    /// written.
    pub(crate) fn write_row_uri(
        &mut self,
        out: &mut String,
        uuid: &Uuid,
        version: Option<&str>,
        qualified_type: &str,
    ) -> bool {
        if let Some(version) = version {
            let key = ObjectKey {
                dataspace: self.dataspace.clone(),
                uuid: *uuid,
                version: Some(version.to_owned()),
            };
            return match object_uri(&key, qualified_type) {
                Some(uri) => {
                    out.push_str(&uri);
                    true
                }
                None => false,
            };
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
        let Some(head) = self.last.as_ref().and_then(|(_, head)| head.as_deref()) else {
            return false;
        };
        out.reserve(head.len() + 37);
        out.push_str(head);
        push_uuid(out, uuid);
        out.push(')');
        true
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
            oversized.push((name(&item), too_large(size)));
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

/// The error entry of a record too large for any message of the session.
fn too_large(size: usize) -> ErrorInfo {
    error_info(
        ErrorCode::EMAXSIZE_EXCEEDED,
        format!("this record ({size} bytes) does not fit in the negotiated message size"),
    )
}

/// One part of a GetResources answer, as a listing hands it on.
#[derive(Debug)]
pub(crate) enum ListPart {
    /// Records, encoded by the session writer.
    Resources(Vec<Resource>),
    /// A `GetResourcesResponse` body encoded during the scan ([`EncodedParts`]).
    Encoded(EncodedBody),
}

/// Where finished parts of a listing go: `false` once nobody takes them any more (the
/// session is gone), which ends the listing.
pub(crate) type Deliver<'a> = &'a mut dyn FnMut(ListPart) -> bool;

/// Packs resources into message-sized parts as they are built, sizing each once, and
/// hands every full part on at once (`hold = false`: the listing and the sending overlap)
/// or keeps them until what needs the whole listing (edges) is known.
/// Resources are numbered in the order they are pushed ("listing index"), oversized ones
/// included, so that numbers line up with what the caller gathered alongside.
pub(crate) struct Parts<'a> {
    budget: usize,
    hold: bool,
    current: Vec<Resource>,
    used: usize,
    held: Vec<Vec<Resource>>,
    deliver: Deliver<'a>,
    /// Parts handed on so far.
    delivered: usize,
    /// The receiver still takes parts.
    open: bool,
    /// Resources pushed so far (the next listing index).
    pushed: usize,
    /// Listing indices of the resources left out as oversized, ascending.
    left_out: Vec<usize>,
    /// Those resources' URIs and errors, for the closing ProtocolException.
    pub(crate) oversized: Vec<(String, ErrorInfo)>,
}

impl<'a> Parts<'a> {
    /// Parts of at most `budget` item bytes. Resources must be complete when pushed:
    /// each is sized once, then.
    pub(crate) fn new(budget: usize, hold: bool, deliver: Deliver<'a>) -> Self {
        Parts {
            budget,
            hold,
            current: Vec::new(),
            used: 0,
            held: Vec::new(),
            deliver,
            delivered: 0,
            open: true,
            pushed: 0,
            left_out: Vec::new(),
            oversized: Vec::new(),
        }
    }

    /// Adds the next resource; `false` once the receiver is gone (stop listing).
    pub(crate) fn push(&mut self, resource: Resource) -> bool {
        let index = self.pushed;
        self.pushed += 1;
        let size = resource.encoded_len();
        if size > self.budget {
            self.left_out.push(index);
            self.oversized
                .push((resource.uri.to_string(), too_large(size)));
            return self.open;
        }
        if self.used + size > self.budget {
            self.close_part();
        }
        self.used += size;
        self.current.push(resource);
        self.open
    }

    /// Resources pushed so far, oversized ones included.
    pub(crate) fn pushed(&self) -> usize {
        self.pushed
    }

    fn close_part(&mut self) {
        // The next part holds about as many resources as this one.
        let capacity = self.current.len() + self.current.len() / 8;
        let part = std::mem::replace(&mut self.current, Vec::with_capacity(capacity));
        self.used = 0;
        if self.hold {
            self.held.push(part);
        } else {
            self.hand_on(part);
        }
    }

    fn hand_on(&mut self, part: Vec<Resource>) {
        if self.open {
            self.open = (self.deliver)(ListPart::Resources(part));
            self.delivered += 1;
        }
    }

    /// Calls `visit(listing index, resource)` for every held resource, in order.
    pub(crate) fn visit_held(&mut self, mut visit: impl FnMut(usize, &mut Resource)) {
        let mut left_out = self.left_out.iter().copied().peekable();
        let mut index = 0;
        for resource in self.held.iter_mut().flatten().chain(&mut self.current) {
            while left_out.next_if(|&skipped| skipped == index).is_some() {
                index += 1;
            }
            visit(index, resource);
            index += 1;
        }
    }

    /// Hands on every remaining part: at least one, possibly empty, per listing.
    pub(crate) fn finish(mut self) -> Vec<(String, ErrorInfo)> {
        for part in std::mem::take(&mut self.held) {
            self.hand_on(part);
        }
        if !self.current.is_empty() || self.delivered == 0 {
            let part = std::mem::take(&mut self.current);
            self.hand_on(part);
        }
        self.oversized
    }
}

/// Room kept in front of an encoded part's items for the array's block count (a varint).
const COUNT_ROOM: usize = 10;

/// First capacity of an encoded part: most listings are small, so a part only grows to
/// the whole budget when a listing fills one.
const FIRST_PART_BYTES: usize = 64 << 10;

/// [`Parts`] for a listing whose resources need nothing after the scan: each listed row
/// is encoded straight into the body of its part (`GetResourcesResponse`, an Avro array
/// of `Resource`), with no `Resource` built, sized, encoded by the writer and freed
/// apart. A dataspace of 100,000 objects is 100,000 such records; building them was most
/// of the scanning thread's time after fjall's own iteration.
///
/// Semantics are those of `Parts` without holding: parts of at most `budget` item bytes,
/// handed on as they fill, at least one part per listing, a record larger than the budget
/// left out and reported, every pushed row numbered (oversized ones included).
pub(crate) struct EncodedParts<'a> {
    budget: usize,
    /// [`COUNT_ROOM`] bytes, then the current part's items.
    current: Vec<u8>,
    /// Items in `current`.
    items: usize,
    /// The row being encoded, before it is known which part it fits in.
    item: Vec<u8>,
    deliver: Deliver<'a>,
    delivered: usize,
    open: bool,
    pushed: usize,
    oversized: Vec<(String, ErrorInfo)>,
}

impl<'a> EncodedParts<'a> {
    /// Parts of at most `budget` item bytes, handed to `deliver` as they fill.
    pub(crate) fn new(budget: usize, deliver: Deliver<'a>) -> Self {
        EncodedParts {
            budget,
            current: part_buffer(FIRST_PART_BYTES.min(budget.saturating_add(COUNT_ROOM + 1))),
            items: 0,
            item: Vec::with_capacity(256),
            deliver,
            delivered: 0,
            open: true,
            pushed: 0,
            oversized: Vec::new(),
        }
    }

    /// Adds the next resource, the row at `uri` (counts null when `None`); `false` once
    /// the receiver is gone (stop listing).
    pub(crate) fn push(
        &mut self,
        uri: &str,
        row: &ObjectRow<'_>,
        counts: Option<(u64, u64)>,
    ) -> bool {
        self.pushed += 1;
        self.item.clear();
        encode_row_resource(&mut self.item, uri, row, counts);
        let size = self.item.len();
        if size > self.budget {
            self.oversized.push((uri.to_owned(), too_large(size)));
            return self.open;
        }
        if self.current.len() - COUNT_ROOM + size > self.budget {
            self.close_part();
        }
        self.current.extend_from_slice(&self.item);
        self.items += 1;
        self.open
    }

    /// Rows pushed so far, oversized ones included.
    pub(crate) fn pushed(&self) -> usize {
        self.pushed
    }

    fn close_part(&mut self) {
        // The next part fills about as far as this one.
        let next = part_buffer(self.current.capacity());
        self.hand_on(next);
    }

    /// Hands on the current part, `next` taking its place.
    fn hand_on(&mut self, next: Vec<u8>) {
        let part = std::mem::replace(&mut self.current, next);
        let items = std::mem::take(&mut self.items);
        if self.open {
            self.open = (self.deliver)(ListPart::Encoded(array_body(part, items)));
            self.delivered += 1;
        }
    }

    /// Hands on the last part (at least one, possibly empty, per listing) and returns the
    /// resources left out as oversized.
    pub(crate) fn finish(mut self) -> Vec<(String, ErrorInfo)> {
        if self.items > 0 || self.delivered == 0 {
            self.hand_on(Vec::new());
        }
        self.oversized
    }
}

/// An empty part: the room for its count, then nothing.
fn part_buffer(capacity: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(capacity.max(COUNT_ROOM + 1));
    buf.resize(COUNT_ROOM, 0);
    buf
}

/// The Avro array of the `items` records in `part` (after its [`COUNT_ROOM`]): one block,
/// its count written just before the items, then the end marker.
fn array_body(mut part: Vec<u8>, items: usize) -> EncodedBody {
    let mut count = Vec::with_capacity(COUNT_ROOM);
    if items > 0 {
        write_long(&mut count, i64::try_from(items).unwrap_or(i64::MAX));
    }
    let start = COUNT_ROOM - count.len();
    part[start..COUNT_ROOM].copy_from_slice(&count);
    part.push(0);
    EncodedBody::new(vec![Bytes::from(part).slice(start..)])
}

/// What follows the resource parts of a GetResources answer.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    /// Further messages (edge parts).
    pub bodies: Vec<Body>,
    /// The closing ProtocolExceptions (MaxResponseCount, oversized records).
    pub exceptions: Vec<ProtocolException>,
}

/// Sends a list answer whose parts `producer` hands over through `parts` while it runs
/// (on a blocking thread), then what it returns: the parts go out as they come, each one
/// once the next (or the end) shows it is not the last message, so FIN lands on the very
/// last message. If the producer fails after parts went out, its error closes the set as
/// a ProtocolException; if it fails before, that error is the whole answer. If the session
/// goes away, `parts` is dropped, which stops the producer at its next part.
pub(crate) async fn stream_set(
    mut responder: Responder,
    parts: mpsc::Receiver<ListPart>,
    producer: impl Future<Output = Result<Tail, Failure>>,
) -> Result<(), SessionClosed> {
    let mut held: Option<ListPart> = None;
    let forward = async {
        let mut parts = parts;
        while let Some(part) = parts.recv().await {
            if let Some(previous) = held.replace(part) {
                send_part(&mut responder, previous, false).await?;
            }
        }
        Ok::<(), SessionClosed>(())
    };
    let (tail, forwarded) = tokio::join!(producer, forward);
    forwarded?;
    match tail {
        Ok(tail) => {
            if let Some(last) = held {
                let fin = tail.bodies.is_empty() && tail.exceptions.is_empty();
                send_part(&mut responder, last, fin).await?;
            }
            send_set(responder, tail.bodies, tail.exceptions).await
        }
        Err((code, message)) => {
            if let Some(previous) = held {
                send_part(&mut responder, previous, false).await?;
            }
            responder.error(code, message).await
        }
    }
}

/// Sends one `GetResourcesResponse` of a streamed set.
async fn send_part(
    responder: &mut Responder,
    part: ListPart,
    fin: bool,
) -> Result<(), SessionClosed> {
    match part {
        ListPart::Resources(resources) => {
            responder
                .send(GetResourcesResponse { resources }.into(), fin)
                .await
        }
        ListPart::Encoded(body) => {
            let message_type = <GetResourcesResponse as EtpMessage>::INFO.message_type;
            responder.send_encoded(message_type, body, fin).await
        }
    }
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

    use crate::session::Outgoing;
    use etp_protocol::types::protocol::discovery::DiscoveryMessage;
    use etp_store::{ActiveStatus, ObjectMeta};

    fn resource(n: usize) -> Resource {
        Resource {
            uri: format!("eml:///witsml21.Well({n:036})").into(),
            name: "x".repeat(n % 7).into(),
            ..Default::default()
        }
    }

    fn resources_of(part: ListPart) -> Vec<Resource> {
        match part {
            ListPart::Resources(resources) => resources,
            ListPart::Encoded(body) => {
                let bytes: Vec<u8> = body.segments().concat();
                etp_protocol::codec::decode_exact::<GetResourcesResponse>(&bytes)
                    .unwrap()
                    .resources
            }
        }
    }

    /// The body `resources` make, encoded the way `EncodedParts` does.
    fn encoded(resources: &[Resource]) -> EncodedBody {
        let mut part = part_buffer(0);
        for r in resources {
            r.encode(&mut part);
        }
        array_body(part, resources.len())
    }

    fn names(parts: &[Vec<Resource>]) -> Vec<String> {
        parts.iter().flatten().map(|r| r.uri.to_string()).collect()
    }

    #[test]
    fn parts_go_out_as_they_fill_unless_held() {
        let items: Vec<Resource> = (0..200).map(resource).collect();
        let expected: Vec<String> = items.iter().map(|r| r.uri.to_string()).collect();
        for hold in [false, true] {
            let mut got: Vec<Vec<Resource>> = Vec::new();
            let mut seen_while_pushing = 0;
            let mut deliver = |part: ListPart| {
                got.push(resources_of(part));
                true
            };
            let mut parts = Parts::new(1_000, hold, &mut deliver);
            for (i, item) in items.iter().enumerate() {
                assert!(parts.push(item.clone()));
                if i == 150 {
                    seen_while_pushing = parts.delivered;
                }
            }
            assert!(parts.finish().is_empty());
            assert_eq!(seen_while_pushing > 0, !hold);
            assert!(got.len() > 5);
            assert_eq!(names(&got), expected);
            for part in &got {
                let size: usize = part.iter().map(|r| r.encoded_len()).sum();
                assert!(size <= 1_000 && !part.is_empty());
            }
        }
    }

    /// A row of `ObjectRow` shape for resource `n` (its title as long as `title`).
    fn meta(title: usize) -> ObjectMeta {
        ObjectMeta {
            qualified_type: "witsml21.Well".into(),
            title: "x".repeat(title),
            last_changed: 1,
            store_created: 2,
            store_last_write: 3,
            active_status: ActiveStatus::Active,
            format: "xml".into(),
            custom_data: Bytes::new(),
            references: Vec::new(),
            data_len: 1,
        }
    }

    #[test]
    fn encoded_parts_equal_typed_parts() {
        for budget in [300, 1_000, 1 << 20] {
            let metas: Vec<ObjectMeta> = (0..200).map(|n| meta(n % 7)).collect();
            let key = ObjectKey::new("", [1; 16]);
            let mut typed: Vec<Vec<Resource>> = Vec::new();
            let mut deliver = |part: ListPart| {
                typed.push(resources_of(part));
                true
            };
            let mut parts = Parts::new(budget, false, &mut deliver);
            for (n, m) in metas.iter().enumerate() {
                let row = etp_store::ObjectRow::of(&key, m, Default::default());
                let mut r =
                    crate::handlers::objects::row_resource(resource(n).uri.to_string(), &row);
                r.source_count = Some(n as i32);
                r.target_count = Some(1);
                parts.push(r);
            }
            let typed_oversized = parts.finish();
            let mut encoded: Vec<Vec<Resource>> = Vec::new();
            let mut sizes = Vec::new();
            let mut deliver = |part: ListPart| {
                if let ListPart::Encoded(body) = &part {
                    sizes.push(body.len());
                }
                encoded.push(resources_of(part));
                true
            };
            let mut parts = EncodedParts::new(budget, &mut deliver);
            for (n, m) in metas.iter().enumerate() {
                let row = etp_store::ObjectRow::of(&key, m, Default::default());
                assert!(parts.push(&resource(n).uri, &row, Some((n as u64, 1))));
            }
            assert_eq!(parts.pushed(), 200);
            assert_eq!(parts.finish(), typed_oversized);
            assert_eq!(encoded, typed);
            assert!(sizes.iter().all(|&s| s <= budget + ARRAY_FRAMING));
        }
    }

    #[test]
    fn encoded_parts_leave_out_oversized_rows_and_end_with_one_part() {
        let mut got: Vec<Vec<Resource>> = Vec::new();
        let mut deliver = |part: ListPart| {
            got.push(resources_of(part));
            true
        };
        EncodedParts::new(1_000, &mut deliver).finish();
        assert_eq!(got, [Vec::<Resource>::new()]);

        let mut got: Vec<Vec<Resource>> = Vec::new();
        let mut deliver = |part: ListPart| {
            got.push(resources_of(part));
            true
        };
        let mut parts = EncodedParts::new(300, &mut deliver);
        let key = ObjectKey::new("", [1; 16]);
        let (small, huge) = (meta(3), meta(500));
        for (n, m) in [&small, &huge, &small].into_iter().enumerate() {
            let row = etp_store::ObjectRow::of(&key, m, Default::default());
            assert!(parts.push(&resource(n).uri, &row, None));
        }
        assert_eq!(parts.pushed(), 3);
        let oversized = parts.finish();
        assert_eq!(oversized.len(), 1);
        assert_eq!(oversized[0].0, resource(1).uri);
        assert_eq!(oversized[0].1.code, 17);
        assert_eq!(
            names(&got),
            [resource(0).uri.to_string(), resource(2).uri.to_string()]
        );

        let mut calls = 0;
        let mut refuse = |_: ListPart| {
            calls += 1;
            false
        };
        let mut parts = EncodedParts::new(200, &mut refuse);
        let mut pushed = 0;
        while parts.push(
            &resource(pushed).uri,
            &etp_store::ObjectRow::of(&key, &small, Default::default()),
            None,
        ) {
            pushed += 1;
        }
        assert!(pushed < 10);
        parts.finish();
        assert_eq!(calls, 1);
    }

    #[test]
    fn held_parts_are_visited_by_listing_index_skipping_oversized_ones() {
        let mut got: Vec<Vec<Resource>> = Vec::new();
        let mut deliver = |part: ListPart| {
            got.push(resources_of(part));
            true
        };
        let mut parts = Parts::new(300, true, &mut deliver);
        let huge = Resource {
            name: "y".repeat(500).into(),
            ..resource(1)
        };
        for r in [resource(0), huge.clone(), resource(2), huge, resource(4)] {
            parts.push(r);
        }
        let mut visited = Vec::new();
        parts.visit_held(|i, r| {
            r.source_count = Some(i as i32);
            visited.push(i);
        });
        assert_eq!(visited, [0, 2, 4]);
        let oversized = parts.finish();
        assert_eq!(oversized.len(), 2);
        assert!(oversized.iter().all(|(_, e)| e.code == 17));
        let counts: Vec<Option<i32>> = got.iter().flatten().map(|r| r.source_count).collect();
        assert_eq!(counts, [Some(0), Some(2), Some(4)]);
    }

    #[test]
    fn an_empty_listing_is_one_empty_part_and_a_gone_receiver_stops_it() {
        let mut got: Vec<Vec<Resource>> = Vec::new();
        let mut deliver = |part: ListPart| {
            got.push(resources_of(part));
            true
        };
        Parts::new(1_000, false, &mut deliver).finish();
        assert_eq!(got, [Vec::<Resource>::new()]);

        let mut calls = 0;
        let mut refuse = |_: ListPart| {
            calls += 1;
            false
        };
        let mut parts = Parts::new(200, false, &mut refuse);
        let mut pushed = 0;
        while parts.push(resource(pushed)) {
            pushed += 1;
        }
        assert!(pushed < 10);
        parts.finish();
        assert_eq!(calls, 1);
    }

    /// Runs `stream_set` with a producer sending `parts` then ending with `end`, and
    /// returns what the session would write: (resource count or -1 for an exception,
    /// FIN).
    async fn streamed(parts: usize, end: Result<Tail, Failure>) -> Vec<(i64, bool)> {
        let (out_tx, mut out_rx) = mpsc::channel::<Outgoing>(64);
        let responder = Responder::new(out_tx, 3, 7, 1 << 20, false);
        let (parts_tx, parts_rx) = mpsc::channel::<ListPart>(1);
        let producer = async move {
            for n in 0..parts {
                let part = vec![resource(n); n + 1];
                // Typed and encoded parts alternate: the writer sends both the same way.
                let part = if n % 2 == 0 {
                    ListPart::Resources(part)
                } else {
                    ListPart::Encoded(encoded(&part))
                };
                parts_tx.send(part).await.unwrap();
            }
            end
        };
        stream_set(responder, parts_rx, producer).await.unwrap();
        let mut sent = Vec::new();
        while let Ok(outgoing) = out_rx.try_recv() {
            let (header, body) = match outgoing {
                Outgoing::Message { header, body, .. } => (header, *body),
                Outgoing::Encoded { header, body, .. } => {
                    let bytes: Vec<u8> = body.segments().concat();
                    let decoded =
                        etp_protocol::codec::decode_exact::<GetResourcesResponse>(&bytes).unwrap();
                    (header, decoded.into())
                }
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(header.correlation_id, 7);
            let fin = header.message_flags & etp_protocol::message::flags::FIN != 0;
            let what = match body {
                Body::Discovery(DiscoveryMessage::GetResourcesResponse(r)) => {
                    r.resources.len() as i64
                }
                Body::ProtocolException(_) => -1,
                other => panic!("unexpected {other:?}"),
            };
            sent.push((what, fin));
        }
        sent
    }

    #[tokio::test]
    async fn streamed_sets_end_with_fin_and_errors_close_them() {
        let pe = || ProtocolException {
            error: Some(error_info(ErrorCode::ERESPONSECOUNT_EXCEEDED, "cut")),
            errors: Map::new(),
        };
        assert_eq!(
            streamed(3, Ok(Tail::default())).await,
            [(1, false), (2, false), (3, true)]
        );
        assert_eq!(
            streamed(
                2,
                Ok(Tail {
                    bodies: Vec::new(),
                    exceptions: vec![pe()],
                })
            )
            .await,
            [(1, false), (2, false), (-1, true)]
        );
        // A store failure in the middle of the scan closes what was sent.
        let failure = || Err((ErrorCode::EINVALID_STATE, "disk gone".to_string()));
        assert_eq!(
            streamed(2, failure()).await,
            [(1, false), (2, false), (-1, true)]
        );
        // Before any part, the failure is the whole answer.
        assert_eq!(streamed(0, failure()).await, [(-1, true)]);
    }

    #[tokio::test]
    async fn a_closed_session_stops_the_producer() {
        let (out_tx, out_rx) = mpsc::channel::<Outgoing>(1);
        drop(out_rx);
        let responder = Responder::new(out_tx, 3, 7, 1 << 20, false);
        let (parts_tx, parts_rx) = mpsc::channel::<ListPart>(1);
        let producer = async move {
            let mut accepted = 0;
            for n in 0..100 {
                if parts_tx
                    .send(ListPart::Resources(vec![resource(n)]))
                    .await
                    .is_err()
                {
                    break;
                }
                accepted += 1;
            }
            assert!(accepted < 100, "the producer was not stopped");
            Ok(Tail::default())
        };
        let result = stream_set(responder, parts_rx, producer).await;
        assert_eq!(result, Err(SessionClosed));
    }

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
