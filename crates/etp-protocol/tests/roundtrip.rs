//! Round-trip property tests for every type of the schema.
//!
//! The strategies are generated from etp.avpr by `cargo xtask codegen` into
//! `tests/generated/strategies.rs` (checked by `cargo xtask codegen --check`), together
//! with macros that list every message, every type and every union; this file holds the
//! properties:
//!
//! * `datum::*` — every named type and union: `encoded_len` equals the encoding's length,
//!   which is at least `MIN_ENCODED_SIZE`, the value decodes back equal with no trailing
//!   bytes (from a slice and from shared `Bytes`), a truncated encoding is an error, and the
//!   vectored encoding (`encode_segments`, at several sharing thresholds) concatenates to
//!   the same bytes as `encode`.
//! * `messages::*` — every one of the 138 messages, with a random header and an optional
//!   header extension: the `Body` round trip (plain and vectored), `encode_message` (and
//!   `encode_message_segments`, byte for byte) + `decode_message` without
//!   compression, with gzip as the encoder chooses, and with a body that is always gzipped
//!   (refused with ECOMPRESSION_NOTSUPPORTED for Core, ProtocolException and Acknowledge,
//!   and when compression was not negotiated).
//! * `unions::*` — the strategies reach every branch of every union.
//!
//! Each property runs 32 cases by default; set `PROPTEST_CASES` for more.

#[path = "generated/strategies.rs"]
mod strategies;

use std::fmt::Debug;
use std::io::Write;

use bytes::Bytes;
use etp_protocol::codec::{Avro, Reader, SegmentedBuf, decode_exact, encode_to_vec};
use etp_protocol::error_code::ErrorCode;
use etp_protocol::message::{
    Compression, DecodeOptions, EtpMessage, Message, MessageError, decode_message, encode_message,
    encode_message_segments, flags, never_compressed,
};
use etp_protocol::types::datatypes::{MessageHeader, MessageHeaderExtension};
use etp_protocol::types::{Body, PROTOCOLS, message_info};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(32);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Runs `property` on `config().cases` values of `strategy`, shrinking a failure.
fn run<S: Strategy>(strategy: S, property: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    let mut runner = TestRunner::new(config());
    if let Err(e) = runner.run(&strategy, property) {
        panic!("{e}");
    }
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// The datum properties of one value.
fn check_datum<T: Avro + PartialEq + Debug>(value: &T) -> Result<(), TestCaseError> {
    let bytes = encode_to_vec(value);
    prop_assert_eq!(value.encoded_len(), bytes.len(), "encoded_len");
    prop_assert!(
        bytes.len() >= T::MIN_ENCODED_SIZE,
        "{} bytes is below MIN_ENCODED_SIZE {}",
        bytes.len(),
        T::MIN_ENCODED_SIZE
    );
    // Encoding appends to what the buffer already holds.
    let mut appended = vec![0xa5];
    value.encode(&mut appended);
    prop_assert_eq!(&appended[1..], &bytes[..]);

    let decoded = decode_exact::<T>(&bytes).map_err(fail)?;
    prop_assert_eq!(&decoded, value);

    let shared = Bytes::from(bytes.clone());
    let mut r = Reader::from_bytes(&shared);
    let decoded = T::decode(&mut r).map_err(fail)?;
    r.finish().map_err(fail)?;
    prop_assert_eq!(&decoded, value);

    // Decoding reads the same bytes in the same order whatever follows, so any strict
    // prefix runs out of input.
    if let Some(last) = bytes.len().checked_sub(1) {
        for cut in [0, last / 2, last] {
            prop_assert!(
                decode_exact::<T>(&bytes[..cut]).is_err(),
                "prefix of {cut} bytes decoded"
            );
        }
    }
    // Vectored encoding gives the same bytes, sharing every `bytes` value of at least the
    // threshold (1: all of them, also empty ones are left out as segments).
    for threshold in [1, 4, SegmentedBuf::DEFAULT_THRESHOLD] {
        let mut segmented = SegmentedBuf::with_threshold(threshold);
        segmented.small_mut().push(0xa5);
        value.encode_segments(&mut segmented);
        prop_assert_eq!(segmented.len(), bytes.len() + 1);
        if !T::HOLDS_BYTES {
            prop_assert!(!segmented.has_shared(), "shared without bytes");
        }
        let joined: Vec<u8> = segmented.into_segments().concat();
        prop_assert_eq!(
            &joined[1..],
            &bytes[..],
            "vectored at threshold {}",
            threshold
        );
    }

    // Trailing bytes are rejected.
    let mut longer = bytes;
    longer.push(0);
    prop_assert!(
        decode_exact::<T>(&longer).is_err(),
        "trailing byte accepted"
    );
    Ok(())
}

/// Random header fields besides protocol and message type, which the message fixes.
#[derive(Debug, Clone)]
struct HeaderParts {
    correlation_id: i64,
    message_id: i64,
    message_flags: i32,
    /// Picks the protocol number for ProtocolException and Acknowledge.
    protocol_pick: usize,
}

fn header_parts() -> impl Strategy<Value = HeaderParts> {
    (any::<i64>(), any::<i64>(), any::<i32>(), any::<usize>()).prop_map(
        |(correlation_id, message_id, message_flags, protocol_pick)| HeaderParts {
            correlation_id,
            message_id,
            message_flags,
            protocol_pick,
        },
    )
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

const NEGOTIATED: DecodeOptions = DecodeOptions {
    compression_negotiated: true,
    max_decompressed_size: 1 << 20,
};

/// The message properties of one body sent with `parts` and `extension`.
fn check_message<T>(
    value: T,
    parts: HeaderParts,
    extension: Option<MessageHeaderExtension>,
    level: u32,
) -> Result<(), TestCaseError>
where
    T: EtpMessage + Clone + PartialEq + Debug,
{
    check_datum(&value)?;
    let protocol = if T::MESSAGE_TYPE >= 1000 {
        PROTOCOLS[parts.protocol_pick % PROTOCOLS.len()]
    } else {
        T::PROTOCOL
    };
    let message_type = T::MESSAGE_TYPE;
    let header = MessageHeader {
        protocol,
        message_type,
        correlation_id: parts.correlation_id,
        message_id: parts.message_id,
        message_flags: parts.message_flags,
    };
    check_datum(&header)?;
    if let Some(ext) = &extension {
        check_datum(ext)?;
    }
    prop_assert_eq!(message_info(protocol, message_type), Some(&T::INFO));

    // The Body enum dispatches on (protocol, message type).
    let body: Body = value.clone().into();
    prop_assert_eq!(body.info(), &T::INFO);
    let mut plain = Vec::new();
    body.encode(&mut plain);
    prop_assert_eq!(plain, encode_to_vec(&value), "Body encodes as the record");
    prop_assert_eq!(body.encoded_len(), value.encoded_len());
    let mut segmented = SegmentedBuf::with_threshold(1);
    body.encode_segments(&mut segmented);
    prop_assert_eq!(segmented.into_segments().concat(), encode_to_vec(&value));
    let bytes = encode_to_vec(&value);
    let mut r = Reader::new(&bytes);
    let decoded = Body::decode(protocol, message_type, &mut r).map_err(fail)?;
    r.finish().map_err(fail)?;
    prop_assert_eq!(&decoded, &body);
    prop_assert_eq!(T::try_from(decoded).ok(), Some(value));

    // What the receiver sees: the flags the encoder owns reflect what was sent.
    let mut expected_header = header;
    expected_header.message_flags &= !(flags::COMPRESSED | flags::HEADER_EXTENSION);
    if extension.is_some() {
        expected_header.message_flags |= flags::HEADER_EXTENSION;
    }
    let expected = Message {
        header: expected_header,
        extension,
        body,
    };

    // Uncompressed.
    let mut out = Vec::new();
    encode_message(
        &header,
        expected.extension.as_ref(),
        &expected.body,
        Compression::None,
        &mut out,
    );
    prop_assert_eq!(
        out.len(),
        etp_protocol::message::encoded_len(
            &expected_header,
            expected.extension.as_ref(),
            &expected.body
        )
    );
    let mut segmented = SegmentedBuf::with_threshold(1);
    encode_message_segments(
        &header,
        expected.extension.as_ref(),
        &expected.body,
        &mut segmented,
    );
    prop_assert_eq!(
        segmented.into_segments().concat(),
        out.clone(),
        "vectored message"
    );
    let uncompressed = Bytes::from(out);
    let decoded = decode_message(&uncompressed, &DecodeOptions::default()).map_err(fail)?;
    prop_assert_eq!(&decoded, &expected);
    let decoded = decode_message(&uncompressed, &NEGOTIATED).map_err(fail)?;
    prop_assert_eq!(&decoded, &expected);

    // Gzip as the encoder chooses: only when allowed and smaller.
    let mut out = Vec::new();
    encode_message(
        &header,
        expected.extension.as_ref(),
        &expected.body,
        Compression::Gzip(level),
        &mut out,
    );
    let chosen = Bytes::from(out);
    let decoded = decode_message(&chosen, &NEGOTIATED).map_err(fail)?;
    let compressed = decoded.header.message_flags & flags::COMPRESSED != 0;
    if compressed {
        prop_assert!(!never_compressed(protocol, message_type));
        let mut with_flag = expected.clone();
        with_flag.header.message_flags |= flags::COMPRESSED;
        prop_assert_eq!(&decoded, &with_flag);
        prop_assert!(chosen.len() < uncompressed.len());
    } else {
        prop_assert_eq!(&chosen, &uncompressed);
    }

    // A body that is always gzipped, whatever its size.
    let header_len = expected_header.encoded_len();
    let mut forced_header = expected_header;
    forced_header.message_flags |= flags::COMPRESSED;
    let mut forced = encode_to_vec(&forced_header);
    forced.extend_from_slice(&gzip(&uncompressed[header_len..]));
    let forced = Bytes::from(forced);
    if never_compressed(protocol, message_type) {
        let err = decode_message(&forced, &NEGOTIATED).unwrap_err();
        prop_assert_eq!(err.error_code(), ErrorCode::ECOMPRESSION_NOTSUPPORTED);
        prop_assert_eq!(err.header(), Some(&forced_header));
    } else {
        let decoded = decode_message(&forced, &NEGOTIATED).map_err(fail)?;
        let mut with_flag = expected;
        with_flag.header.message_flags |= flags::COMPRESSED;
        prop_assert_eq!(&decoded, &with_flag);
        let err = decode_message(&forced, &DecodeOptions::default()).unwrap_err();
        prop_assert!(
            matches!(err, MessageError::CompressionNotAllowed { .. }),
            "{err}"
        );
        prop_assert_eq!(err.error_code(), ErrorCode::ECOMPRESSION_NOTSUPPORTED);
    }
    Ok(())
}

macro_rules! datum_tests {
    ($($strategy:ident : $ty:ty),* $(,)?) => {
        $(
            #[test]
            fn $strategy() {
                super::run(crate::strategies::$strategy(), |value: $ty| {
                    super::check_datum(&value)
                });
            }
        )*
    };
}

macro_rules! message_tests {
    ($($strategy:ident : $ty:ty),* $(,)?) => {
        $(
            #[test]
            fn $strategy() {
                let strategy = (
                    crate::strategies::$strategy(),
                    super::header_parts(),
                    proptest::option::of(
                        crate::strategies::datatypes_message_header_extension(),
                    ),
                    0u32..=9,
                );
                super::run(strategy, |(value, parts, extension, level)| {
                    super::check_message::<$ty>(value, parts, extension, level)
                });
            }
        )*
    };
}

macro_rules! union_tests {
    ($($strategy:ident : $ty:ty = $branches:expr),* $(,)?) => {
        $(
            #[test]
            fn $strategy() {
                super::check_union_coverage(crate::strategies::$strategy(), $branches);
            }
        )*
    };
}

/// Every named type and union enum.
mod datum {
    crate::strategies::for_each_type!(datum_tests);
}

/// Every ETP message, through the whole message path.
mod messages {
    crate::strategies::for_each_message!(message_tests);
}

/// Every union's strategy reaches every branch.
mod unions {
    crate::strategies::for_each_union!(union_tests);
}

/// Samples `strategy` until every union branch index has been written (the first byte of
/// the encoding is the zig-zag branch index), failing after a generous number of draws.
fn check_union_coverage<T: Avro + Debug>(strategy: BoxedStrategy<T>, branches: usize) {
    let mut runner = TestRunner::deterministic();
    let mut seen = vec![false; branches];
    for _ in 0..200 * branches {
        let value = strategy.new_tree(&mut runner).unwrap().current();
        let first = encode_to_vec(&value)[0];
        let index = usize::from(first >> 1);
        assert!(
            first & 1 == 0 && index < branches,
            "bad branch byte {first}"
        );
        seen[index] = true;
        if seen.iter().all(|&s| s) {
            return;
        }
    }
    let missing: Vec<usize> = (0..branches).filter(|&i| !seen[i]).collect();
    panic!("union branches never generated: {missing:?}");
}

#[test]
fn every_message_and_type_is_listed() {
    macro_rules! count {
        ($($strategy:ident : $ty:ty),* $(,)?) => {
            [$(stringify!($strategy)),*].len()
        };
    }
    assert_eq!(strategies::for_each_message!(count), 138);
    // 212 named types of etp.avpr plus the 3 union enums.
    assert_eq!(strategies::for_each_type!(count), 215);
}
