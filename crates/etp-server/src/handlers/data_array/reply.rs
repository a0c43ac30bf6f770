//! Map answers sent as they are built: entries accumulate in one message until the next
//! would not fit in the negotiated size, then that message goes out (without FIN) and a
//! new one starts. So a request for many arrays holds one message's worth of values at a
//! time, and no message exceeds the limit.
//!
//! [`MapReply`] holds typed entries; [`EncodedMapReply`] holds entries the handler encoded
//! itself (array values as shared slices of the store's chunks), for bodies that are one
//! map and nothing else (GetDataArraysResponse, GetDataSubarraysResponse).

use bytes::Bytes;
use etp_protocol::codec::writer::{bytes_len, write_bytes, write_long};
use etp_protocol::codec::{Avro, Map, SegmentedBuf};
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::ErrorInfo;

use crate::session::{EncodedBody, Responder, SessionClosed};

/// Encoding overhead of a map around its entries: the block count (a varint of at most
/// ten bytes) and the end-of-map byte.
const MAP_FRAME: usize = 11;

/// A response set of map-shaped messages (`V` under the request's keys) followed by the
/// ProtocolException parts of the failed keys.
pub(super) struct MapReply<V: Avro> {
    responder: Responder,
    make: fn(Map<V>) -> Body,
    current: Map<V>,
    current_size: usize,
}

impl<V: Avro> MapReply<V> {
    /// A reply whose messages are `make(entries)`.
    pub fn new(responder: Responder, make: fn(Map<V>) -> Body) -> Self {
        MapReply {
            responder,
            make,
            current: Map::new(),
            current_size: 0,
        }
    }

    /// Adds an entry, first sending the message being built if the entry would overflow it.
    /// The entry alone must fit in a message (the values pushed here are small).
    pub async fn push(&mut self, key: String, value: V) -> Result<(), SessionClosed> {
        let entry = key.encoded_len() + value.encoded_len();
        let limit = self.responder.max_body_size();
        if !self.current.is_empty() && MAP_FRAME + self.current_size + entry > limit {
            let full = std::mem::take(&mut self.current);
            self.current_size = 0;
            // Not the last message: the entry pushed next goes into another one.
            self.responder.send((self.make)(full), false).await?;
        }
        self.current_size += entry;
        self.current.insert(key.into(), value);
        Ok(())
    }

    /// Sends the message being built (an empty one if nothing was ever pushed) and the
    /// failed keys, FIN on the very last message.
    pub async fn finish(self, errors: Map<ErrorInfo>) -> Result<(), SessionClosed> {
        let make = self.make;
        let parts = if self.current.is_empty() {
            Vec::new()
        } else {
            vec![make(self.current)]
        };
        self.responder
            .reply_set(parts, errors, || make(Map::new()))
            .await
    }

    /// Answers the whole request with one error (nothing may have been sent yet).
    pub async fn fail(
        self,
        code: etp_protocol::error_code::ErrorCode,
        message: String,
    ) -> Result<(), SessionClosed> {
        self.responder.error(code, message).await
    }
}

/// A response set whose body is one map (`string` → `V`), with entries encoded by the
/// caller ([`EncodedMapReply::entry`]), followed by the ProtocolException parts of the
/// failed keys.
pub(super) struct EncodedMapReply {
    responder: Responder,
    message_type: i32,
    /// Segments of the entries of the message being built, in order.
    entries: Vec<Bytes>,
    count: usize,
    size: usize,
}

impl EncodedMapReply {
    /// A reply whose messages are bodies of `message_type` made of one map.
    pub fn new(responder: Responder, message_type: i32) -> Self {
        EncodedMapReply {
            responder,
            message_type,
            entries: Vec::new(),
            count: 0,
            size: 0,
        }
    }

    /// The largest encoded value that fits under `key` alone in one message.
    pub fn room_for(&self, key: &str) -> usize {
        self.responder
            .max_body_size()
            .saturating_sub(MAP_FRAME + bytes_len(key.len()))
    }

    /// The largest body of this session.
    pub fn max_body_size(&self) -> usize {
        self.responder.max_body_size()
    }

    /// A new entry under `key`: the caller appends the encoding of its value (at most
    /// [`EncodedMapReply::room_for`] the key) and pushes it.
    pub fn entry(key: &str) -> SegmentedBuf {
        let mut entry = SegmentedBuf::new();
        // An Avro string is encoded as its UTF-8 bytes.
        write_bytes(entry.small_mut(), key.as_bytes());
        entry
    }

    /// Adds an entry made with [`EncodedMapReply::entry`], first sending the message being
    /// built if the entry would overflow it.
    pub async fn push(&mut self, entry: SegmentedBuf) -> Result<(), SessionClosed> {
        let len = entry.len();
        let limit = self.responder.max_body_size();
        if self.count > 0 && MAP_FRAME + self.size + len > limit {
            let full = self.take_body();
            // Not the last message: the entry pushed next goes into another one.
            self.responder
                .send_encoded(self.message_type, full, false)
                .await?;
        }
        self.size += len;
        self.count += 1;
        self.entries.extend(entry.into_segments());
        Ok(())
    }

    /// Sends the message being built (an empty map if nothing is left) and the failed
    /// keys, FIN on the very last message.
    pub async fn finish(mut self, errors: Map<ErrorInfo>) -> Result<(), SessionClosed> {
        let last = self.take_body();
        self.responder
            .finish_encoded(self.message_type, last, errors)
            .await
    }

    /// The body of the entries so far (a map: block count, entries, end of map), leaving
    /// none.
    fn take_body(&mut self) -> EncodedBody {
        let mut segments = Vec::with_capacity(self.entries.len() + 2);
        if self.count > 0 {
            let mut count = Vec::with_capacity(10);
            write_long(&mut count, i64::try_from(self.count).unwrap_or(i64::MAX));
            segments.push(Bytes::from(count));
        }
        segments.append(&mut self.entries);
        segments.push(Bytes::from_static(&[0]));
        self.count = 0;
        self.size = 0;
        EncodedBody::new(segments)
    }
}
