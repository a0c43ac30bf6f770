//! ETP messages as they travel in one binary WebSocket message: a `MessageHeader`, an
//! optional `MessageHeaderExtension` (flag 0x20) and the body record, everything after the
//! header optionally gzip-compressed (flag 0x08).

mod info;

use std::io::{Read, Write};

use bytes::Bytes;

use crate::codec::{Avro, DecodeError, Reader, SegmentedBuf};
use crate::error_code::ErrorCode;
use crate::types::Body;
use crate::types::datatypes::{MessageHeader, MessageHeaderExtension};

pub use info::{BodyError, EtpMessage, MessageInfo, Role, decode_body};

/// Header flag bits (`MessageHeader.messageFlags`).
pub mod flags {
    /// ETP 1.1 only ("part of a multipart message"); ignored on receipt, never sent.
    pub const MULTIPART: i32 = 0x01;
    /// Last message of its message set ("FIN"): set on every single message and on the
    /// last part of a multipart set.
    pub const FIN: i32 = 0x02;
    /// ETP 1.1 only ("no data"); ignored on receipt, never sent.
    pub const NO_DATA: i32 = 0x04;
    /// Everything after the header is one gzip stream.
    pub const COMPRESSED: i32 = 0x08;
    /// The receiver must answer with an Acknowledge.
    pub const ACKNOWLEDGE: i32 = 0x10;
    /// A MessageHeaderExtension follows the header.
    pub const HEADER_EXTENSION: i32 = 0x20;
}

/// One decoded ETP message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The header as received (the COMPRESSED flag tells whether the body was gzipped).
    pub header: MessageHeader,
    /// The header extension, when flag 0x20 was set.
    pub extension: Option<MessageHeaderExtension>,
    /// The typed body.
    pub body: Body,
}

impl Message {
    /// Whether this is the last message of its set.
    pub fn is_final(&self) -> bool {
        self.header.message_flags & flags::FIN != 0
    }

    /// Whether the sender asked for an Acknowledge.
    pub fn wants_acknowledge(&self) -> bool {
        self.header.message_flags & flags::ACKNOWLEDGE != 0
    }
}

/// What the receiver accepts while decoding.
#[derive(Debug, Clone, Copy)]
pub struct DecodeOptions {
    /// Whether gzip was negotiated for this session.
    pub compression_negotiated: bool,
    /// Largest body a compressed message may inflate to; protects against gzip bombs.
    pub max_decompressed_size: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            compression_negotiated: false,
            max_decompressed_size: 64 * 1024 * 1024,
        }
    }
}

/// Why a WebSocket payload could not become a [`Message`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageError {
    /// Not even the header could be decoded: nothing can be correlated.
    #[error("invalid message header: {0}")]
    InvalidHeader(DecodeError),
    /// The message is compressed although it must not be: a Core, ProtocolException or
    /// Acknowledge message, or no compression was negotiated.
    #[error("compressed {what} message is not allowed")]
    CompressionNotAllowed {
        /// The header of the offending message.
        header: MessageHeader,
        /// Which rule it broke.
        what: &'static str,
    },
    /// The gzip stream was invalid or inflated beyond the configured limit.
    #[error("invalid compressed body: {reason}")]
    InvalidCompression {
        /// The header of the offending message.
        header: MessageHeader,
        /// What went wrong.
        reason: String,
    },
    /// The header extension could not be decoded.
    #[error("invalid header extension: {error}")]
    InvalidExtension {
        /// The header of the offending message.
        header: MessageHeader,
        /// The decoding failure.
        error: DecodeError,
    },
    /// The header was fine but the body could not be decoded.
    #[error("{error}")]
    InvalidBody {
        /// The header of the offending message.
        header: MessageHeader,
        /// The body failure, which carries the ETP error code to answer with.
        error: BodyError,
    },
}

impl MessageError {
    /// The ETP error code to put in the ProtocolException that answers this message.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            MessageError::InvalidHeader(_)
            | MessageError::InvalidExtension { .. }
            | MessageError::InvalidCompression { .. } => ErrorCode::EINVALID_MESSAGE,
            MessageError::CompressionNotAllowed { .. } => ErrorCode::ECOMPRESSION_NOTSUPPORTED,
            MessageError::InvalidBody { error, .. } => match error {
                BodyError::UnsupportedProtocol(_) => ErrorCode::EUNSUPPORTED_PROTOCOL,
                BodyError::InvalidMessageType { .. } => ErrorCode::EINVALID_MESSAGETYPE,
                BodyError::Invalid(_) => ErrorCode::EINVALID_MESSAGE,
            },
        }
    }

    /// The header of the failed message, when it could be decoded, so the error can be
    /// correlated to it.
    pub fn header(&self) -> Option<&MessageHeader> {
        match self {
            MessageError::InvalidHeader(_) => None,
            MessageError::CompressionNotAllowed { header, .. }
            | MessageError::InvalidCompression { header, .. }
            | MessageError::InvalidExtension { header, .. }
            | MessageError::InvalidBody { header, .. } => Some(header),
        }
    }
}

/// Messages that are never compressed: all of Core, ProtocolException and Acknowledge.
pub fn never_compressed(protocol: i32, message_type: i32) -> bool {
    protocol == 0 || message_type == 1000 || message_type == 1001
}

/// Turns one binary WebSocket payload into a typed message.
///
/// Errors carry the ETP error code to answer with ([`MessageError::error_code`]) and, when
/// the header was readable, the header to correlate the answer to.
pub fn decode_message(payload: &Bytes, options: &DecodeOptions) -> Result<Message, MessageError> {
    let mut r = Reader::from_bytes(payload);
    let header = MessageHeader::decode(&mut r)
        .map_err(|e| MessageError::InvalidHeader(e.in_field("MessageHeader")))?;
    if header.message_flags & flags::COMPRESSED == 0 {
        return decode_after_header(header, &mut r);
    }
    if never_compressed(header.protocol, header.message_type) {
        let what = if header.protocol == 0 {
            "Core"
        } else {
            "ProtocolException or Acknowledge"
        };
        return Err(MessageError::CompressionNotAllowed { header, what });
    }
    if !options.compression_negotiated {
        return Err(MessageError::CompressionNotAllowed {
            header,
            what: "un-negotiated",
        });
    }
    let inflated = match gunzip(r.rest(), options.max_decompressed_size) {
        Ok(bytes) => Bytes::from(bytes),
        Err(reason) => return Err(MessageError::InvalidCompression { header, reason }),
    };
    let mut r = Reader::from_bytes(&inflated);
    decode_after_header(header, &mut r)
}

fn decode_after_header(header: MessageHeader, r: &mut Reader<'_>) -> Result<Message, MessageError> {
    let extension = if header.message_flags & flags::HEADER_EXTENSION != 0 {
        match MessageHeaderExtension::decode(r) {
            Ok(ext) => Some(ext),
            Err(e) => {
                return Err(MessageError::InvalidExtension {
                    header,
                    error: e.in_field("MessageHeaderExtension"),
                });
            }
        }
    } else {
        None
    };
    let body = match Body::decode(header.protocol, header.message_type, r) {
        Ok(body) => body,
        Err(error) => return Err(MessageError::InvalidBody { header, error }),
    };
    if let Err(e) = r.finish() {
        return Err(MessageError::InvalidBody {
            header,
            error: BodyError::Invalid(e),
        });
    }
    Ok(Message {
        header,
        extension,
        body,
    })
}

/// Inflates a gzip stream, failing once the output would exceed `limit` bytes.
pub fn gunzip(input: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    let mut decoder = flate2::read::MultiGzDecoder::new(input);
    // Reserve from the gzip trailer's size hint only within the limit; the hint is
    // attacker-controlled, so it only sizes the first allocation.
    let hint = input
        .len()
        .checked_sub(4)
        .and_then(|at| input.get(at..))
        .and_then(|tail| <[u8; 4]>::try_from(tail).ok())
        .map_or(0, |b| u32::from_le_bytes(b) as usize);
    let mut out = Vec::with_capacity(hint.min(limit).min(input.len().saturating_mul(32)));
    let mut limited = (&mut decoder).take(limit as u64 + 1);
    limited
        .read_to_end(&mut out)
        .map_err(|e| format!("gzip: {e}"))?;
    if out.len() > limit {
        return Err(format!("decompressed body exceeds {limit} bytes"));
    }
    Ok(out)
}

/// How to encode an outgoing message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Send the body as is.
    None,
    /// Gzip the body at the given level (0–9) when the message may be compressed and the
    /// result is smaller; otherwise send it uncompressed.
    Gzip(u32),
}

/// Exact size of the uncompressed encoding of a message.
pub fn encoded_len(
    header: &MessageHeader,
    extension: Option<&MessageHeaderExtension>,
    body: &Body,
) -> usize {
    header.encoded_len() + extension.map_or(0, Avro::encoded_len) + body.encoded_len()
}

/// Encodes one complete, uncompressed message into `out` with large `bytes` values
/// (`DataObject.data`, `bytes` arrays) shared rather than copied: the vectored form of
/// [`encode_message`] with [`Compression::None`], identical bytes once concatenated.
/// The flags are set as `encode_message` sets them.
pub fn encode_message_segments(
    header: &MessageHeader,
    extension: Option<&MessageHeaderExtension>,
    body: &Body,
    out: &mut SegmentedBuf,
) {
    let mut header = *header;
    header.message_flags &= !(flags::COMPRESSED | flags::HEADER_EXTENSION);
    if extension.is_some() {
        header.message_flags |= flags::HEADER_EXTENSION;
    }
    header.encode(out.small_mut());
    if let Some(ext) = extension {
        ext.encode_segments(out);
    }
    body.encode_segments(out);
}

/// Whether [`encode_message`] with `compression` would gzip a message of this protocol and
/// message type (if gzip makes it smaller): the caller can use [`encode_message_segments`]
/// when it would not.
pub fn may_compress(compression: Compression, protocol: i32, message_type: i32) -> bool {
    matches!(compression, Compression::Gzip(_)) && !never_compressed(protocol, message_type)
}

/// Appends one complete message to `out`. The FIN, ACKNOWLEDGE and other flags are taken
/// from `header`; the COMPRESSED and HEADER_EXTENSION flags are set here from what is
/// actually written. Core, ProtocolException and Acknowledge are never compressed, and a
/// body is sent uncompressed when gzip does not make it smaller.
pub fn encode_message(
    header: &MessageHeader,
    extension: Option<&MessageHeaderExtension>,
    body: &Body,
    compression: Compression,
    out: &mut Vec<u8>,
) {
    let mut header = *header;
    header.message_flags &= !(flags::COMPRESSED | flags::HEADER_EXTENSION);
    if extension.is_some() {
        header.message_flags |= flags::HEADER_EXTENSION;
    }
    let level = match compression {
        Compression::Gzip(level) if !never_compressed(header.protocol, header.message_type) => {
            level
        }
        _ => {
            out.reserve(encoded_len(&header, extension, body));
            header.encode(out);
            if let Some(ext) = extension {
                ext.encode(out);
            }
            body.encode(out);
            return;
        }
    };
    let mut plain = Vec::with_capacity(extension.map_or(0, Avro::encoded_len) + body.encoded_len());
    if let Some(ext) = extension {
        ext.encode(&mut plain);
    }
    body.encode(&mut plain);
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(plain.len() / 4 + 64),
        flate2::Compression::new(level.min(9)),
    );
    // Writing into a Vec cannot fail; a failure would just mean sending uncompressed.
    match encoder.write_all(&plain).and_then(|()| encoder.finish()) {
        Ok(gz) if gz.len() < plain.len() => {
            header.message_flags |= flags::COMPRESSED;
            header.encode(out);
            out.extend_from_slice(&gz);
        }
        _ => {
            header.encode(out);
            out.extend_from_slice(&plain);
        }
    }
}

/// Appends one complete message whose body the caller encoded already: `body`, the
/// concatenation of these segments, must be the Avro encoding of the body record that
/// `header` names (no header extension). Flags and compression as in [`encode_message`]:
/// gzip only when `compression` asks for it, the message may be compressed, and it makes
/// the body smaller. For senders that build a body from shared buffers (array chunks) and
/// fall back to one buffer when compression is on.
pub fn encode_message_from_segments(
    header: &MessageHeader,
    body: &[Bytes],
    compression: Compression,
    out: &mut Vec<u8>,
) {
    let mut header = *header;
    header.message_flags &= !(flags::COMPRESSED | flags::HEADER_EXTENSION);
    let plain_len: usize = body.iter().map(Bytes::len).sum();
    if let Compression::Gzip(level) = compression
        && !never_compressed(header.protocol, header.message_type)
    {
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(plain_len / 4 + 64),
            flate2::Compression::new(level.min(9)),
        );
        // Writing into a Vec cannot fail; a failure would just mean sending uncompressed.
        let gzipped = body
            .iter()
            .try_for_each(|segment| encoder.write_all(segment))
            .and_then(|()| encoder.finish());
        if let Ok(gz) = gzipped
            && gz.len() < plain_len
        {
            header.message_flags |= flags::COMPRESSED;
            header.encode(out);
            out.extend_from_slice(&gz);
            return;
        }
    }
    out.reserve(header.encoded_len() + plain_len);
    header.encode(out);
    for segment in body {
        out.extend_from_slice(segment);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::protocol::core::{CloseSession, Ping};
    use crate::types::protocol::store::GetDataObjects;

    fn header(protocol: i32, message_type: i32, flags: i32) -> MessageHeader {
        MessageHeader {
            protocol,
            message_type,
            correlation_id: 0,
            message_id: 2,
            message_flags: flags,
        }
    }

    #[test]
    fn wire_examples_from_the_notes() {
        let mut out = Vec::new();
        let h = MessageHeader {
            protocol: 4,
            message_type: 1000,
            correlation_id: 6,
            message_id: 9,
            message_flags: 2,
        };
        h.encode(&mut out);
        assert_eq!(out, [0x08, 0xd0, 0x0f, 0x0c, 0x12, 0x04]);
        out.clear();
        encode_message(
            &header(0, 5, flags::FIN),
            None,
            &CloseSession {
                reason: "bye".into(),
            }
            .into(),
            Compression::Gzip(6),
            &mut out,
        );
        assert_eq!(out, [0x00, 0x0a, 0x00, 0x04, 0x04, 0x06, 0x62, 0x79, 0x65]);
    }

    #[test]
    fn messages_from_encoded_segments_match_encode_message() {
        let mut uris = crate::codec::Map::new();
        for i in 0..50 {
            uris.insert(format!("k{i}").into(), format!("eml:///a({i})").into());
        }
        let body: Body = GetDataObjects {
            uris,
            format: "xml".into(),
        }
        .into();
        let mut plain = Vec::new();
        body.encode(&mut plain);
        let segments: Vec<Bytes> = plain
            .chunks(7)
            .map(Bytes::copy_from_slice)
            .chain([Bytes::new()])
            .collect();
        for compression in [Compression::None, Compression::Gzip(6)] {
            // GetDataObjects may be compressed; a Core message never is (its header
            // is only there to check the flags: the body is not a Core body).
            for (protocol, message_type) in [(4, 1), (0, 5)] {
                let h = header(protocol, message_type, flags::FIN | flags::COMPRESSED);
                let (mut expect, mut got) = (Vec::new(), Vec::new());
                encode_message(&h, None, &body, compression, &mut expect);
                encode_message_from_segments(&h, &segments, compression, &mut got);
                // Deflate may cut its output differently when fed in pieces: compare
                // what the peer decodes, and the bytes when nothing was compressed.
                let opts = DecodeOptions {
                    compression_negotiated: true,
                    ..Default::default()
                };
                let decoded = |bytes: Vec<u8>| {
                    let m = decode_message(&Bytes::from(bytes), &opts).unwrap();
                    (m.header, m.body)
                };
                if protocol == 0 || compression == Compression::None {
                    assert_eq!(got, expect, "{compression:?} {protocol}/{message_type}");
                } else {
                    let (got, expect) = (decoded(got), decoded(expect));
                    assert!(
                        got.0.message_flags & flags::COMPRESSED != 0,
                        "gzip pays here"
                    );
                    assert_eq!(got, expect);
                }
            }
        }
    }

    #[test]
    fn compressed_roundtrip_and_rules() {
        let mut uris = crate::codec::Map::new();
        for i in 0..50 {
            uris.insert(
                format!("k{i}").into(),
                format!("eml:///dataspace('demo')/resqml20.obj_Grid2dRepresentation({i})").into(),
            );
        }
        let body: Body = GetDataObjects {
            uris,
            format: "xml".into(),
        }
        .into();
        let mut out = Vec::new();
        encode_message(
            &header(4, 1, flags::FIN),
            None,
            &body,
            Compression::Gzip(6),
            &mut out,
        );
        assert!(out.len() < encoded_len(&header(4, 1, 0), None, &body));
        let payload = Bytes::from(out);
        let err = decode_message(&payload, &DecodeOptions::default()).unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::ECOMPRESSION_NOTSUPPORTED);
        let opts = DecodeOptions {
            compression_negotiated: true,
            ..Default::default()
        };
        let msg = decode_message(&payload, &opts).unwrap();
        assert_eq!(msg.body, body);
        assert!(msg.header.message_flags & flags::COMPRESSED != 0);
        let tight = DecodeOptions {
            compression_negotiated: true,
            max_decompressed_size: 100,
        };
        let err = decode_message(&payload, &tight).unwrap_err();
        assert!(
            matches!(err, MessageError::InvalidCompression { .. }),
            "{err}"
        );
    }

    #[test]
    fn core_is_never_compressed() {
        let mut out = Vec::new();
        encode_message(
            &header(0, 8, flags::FIN),
            None,
            &Ping {
                current_date_time: 5,
            }
            .into(),
            Compression::Gzip(6),
            &mut out,
        );
        assert_eq!(out[4] as i32 & flags::COMPRESSED, 0);
    }

    #[test]
    fn unknown_protocol_and_type_map_to_codes() {
        let mut out = Vec::new();
        header(77, 1, 2).encode(&mut out);
        let err = decode_message(&Bytes::from(out), &DecodeOptions::default()).unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::EUNSUPPORTED_PROTOCOL);
        let mut out = Vec::new();
        header(4, 99, 2).encode(&mut out);
        let err = decode_message(&Bytes::from(out), &DecodeOptions::default()).unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::EINVALID_MESSAGETYPE);
        let err =
            decode_message(&Bytes::from_static(&[0x08]), &DecodeOptions::default()).unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::EINVALID_MESSAGE);
        assert!(err.header().is_none());
    }
}
