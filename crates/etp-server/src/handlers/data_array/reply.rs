//! Map answers sent as they are built: entries accumulate in one message until the next
//! would not fit in the negotiated size, then that message goes out (without FIN) and a
//! new one starts. So a request for many arrays holds one message's worth of values at a
//! time, and no message exceeds the limit.

use etp_protocol::codec::writer::bytes_len;
use etp_protocol::codec::{Avro, Map};
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::ErrorInfo;

use crate::session::{Responder, SessionClosed};

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

    /// Adds an entry, first sending the message being built if the entry would overflow it.
    /// A value larger than [`MapReply::room_for`] its key must not be pushed.
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
