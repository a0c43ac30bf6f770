//! Hostile and malformed input for `decode_message`: truncation at every offset, byte
//! corruption at every offset, huge and negative counts and lengths, bad union and enum
//! indices, bad UTF-8, overlong varints, trailing bytes, gzip bombs and the header-level
//! failures with their ETP error codes.
//!
//! A counting global allocator records the largest single allocation made by the current
//! thread, so the tests can check that hostile counts are rejected before anything big is
//! allocated.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use etp_protocol::Uuid;
use etp_protocol::codec::writer::{write_bytes, write_int, write_long};
use etp_protocol::codec::{Avro, DecodeError, DecodeErrorKind, Map, encode_to_vec};
use etp_protocol::error_code::ErrorCode;
use etp_protocol::message::{
    BodyError, Compression, DecodeOptions, EtpMessage, Message, MessageError, decode_message,
    encode_message, flags,
};
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::data_array_types::DataArray;
use etp_protocol::types::datatypes::object::{ActiveStatusKind, DataObject, Resource};
use etp_protocol::types::datatypes::{
    AnyArray, AnyArrayItem, ArrayOfDouble, DataValue, DataValueItem, ErrorInfo, MessageHeader,
    MessageHeaderExtension, SupportedDataObject, SupportedProtocol, Version,
};
use etp_protocol::types::protocol::core::{ProtocolException, RequestSession};
use etp_protocol::types::protocol::data_array::GetDataArraysResponse;
use etp_protocol::types::protocol::discovery::GetResourcesResponse;
use etp_protocol::types::protocol::store::PutDataObjects;

// ---------------------------------------------------------------------------------------
// Allocation tracking

struct Tracking;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with` fails only while the thread is being torn down; nothing is measured then.
    let _ = LARGEST.try_with(|largest| largest.set(largest.get().max(size)));
}

// SAFETY: every call is forwarded unchanged to the system allocator; the bookkeeping only
// touches a const-initialised thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Runs `f` and returns its result with the largest single allocation it made.
fn largest_allocation<R>(f: impl FnOnce() -> R) -> (R, usize) {
    LARGEST.with(|l| l.set(0));
    let result = f();
    (result, LARGEST.with(Cell::get))
}

#[test]
fn allocation_tracking_sees_allocations() {
    let (v, largest) = largest_allocation(|| vec![0u8; 123_456]);
    assert_eq!(v.len(), 123_456);
    assert!(largest >= 123_456, "{largest}");
}

// ---------------------------------------------------------------------------------------
// Realistic messages

const APP_NAME: &str = "MARKER-application";
const DATE_TIME: i64 = 0x0123_4567_89ab_cdef;
const STORE_CREATED: i64 = 0x0765_4321_0fed_cba9;
const CAPABILITY: &str = "MARKER-capability";

fn value(item: DataValueItem) -> DataValue {
    DataValue { item }
}

fn request_session() -> RequestSession {
    let mut capabilities = Map::new();
    capabilities.insert(
        CAPABILITY.to_owned().into(),
        value(DataValueItem::Long(4_000_000)),
    );
    capabilities.insert(
        "SupportsAlternateRequestUris".into(),
        value(DataValueItem::Boolean(true)),
    );
    let protocol = |protocol, role: &str| SupportedProtocol {
        protocol,
        protocol_version: Version {
            major: 1,
            minor: 2,
            revision: 0,
            patch: 0,
        },
        role: role.to_owned().into(),
        protocol_capabilities: Map::new(),
    };
    RequestSession {
        application_name: APP_NAME.to_owned().into(),
        application_version: "1.0 – Grüße".into(),
        client_instance_id: Uuid([7; 16]),
        requested_protocols: vec![
            protocol(3, "store"),
            protocol(4, "store"),
            protocol(9, "store"),
        ],
        supported_data_objects: vec![SupportedDataObject {
            qualified_type: "resqml20.*".into(),
            data_object_capabilities: Map::new(),
        }],
        supported_compression: vec!["gzip".into()].into(),
        supported_formats: vec!["xml".into()].into(),
        current_date_time: DATE_TIME,
        earliest_retained_change_time: 0,
        server_authorization_required: false,
        endpoint_capabilities: capabilities,
    }
}

fn resource(i: usize) -> Resource {
    let mut custom = Map::new();
    custom.insert(
        "note".into(),
        value(DataValueItem::String(format!("résumé {i}").into())),
    );
    Resource {
        uri: format!("eml:///dataspace('demo')/resqml20.obj_TriangulatedSetRepresentation({i:08})")
            .into(),
        alternate_uris: vec![].into(),
        name: format!("Horizon {i}").into(),
        source_count: Some(2),
        target_count: None,
        last_changed: 1_700_000_000_000_000,
        store_last_write: 1_700_000_000_000_001,
        store_created: STORE_CREATED,
        active_status: ActiveStatusKind::Inactive,
        custom_data: custom,
    }
}

fn put_data_objects() -> PutDataObjects {
    let mut objects = Map::new();
    for i in 0..2 {
        objects.insert(
            format!("{i}").into(),
            DataObject {
                resource: resource(i),
                format: "xml".into(),
                blob_id: None,
                data: Bytes::from(format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<resqml2:TriangulatedSetRepresentation \
                     xmlns:resqml2=\"http://www.energistics.org/energyml/data/resqmlv2\" uuid=\"{i}\">\
                     <eml:Citation><eml:Title>Horizon {i}</eml:Title></eml:Citation>\
                     </resqml2:TriangulatedSetRepresentation>"
                )),
            },
        );
    }
    PutDataObjects {
        data_objects: objects,
        prune_contained_objects: false,
    }
}

fn get_data_arrays_response() -> GetDataArraysResponse {
    let mut arrays = Map::new();
    arrays.insert(
        "points".into(),
        DataArray {
            dimensions: vec![4, 3],
            data: AnyArray {
                item: AnyArrayItem::ArrayOfDouble(ArrayOfDouble {
                    values: (0..12).map(|i| f64::from(i) * 1.5 - 3.0).collect(),
                }),
            },
        },
    );
    GetDataArraysResponse {
        data_arrays: arrays,
    }
}

fn get_resources_response() -> GetResourcesResponse {
    GetResourcesResponse {
        resources: (0..3).map(resource).collect(),
    }
}

fn protocol_exception() -> ProtocolException {
    let mut errors = Map::new();
    for (key, code) in [("0", 11), ("1", 9), ("nöt-found", 11)] {
        errors.insert(
            key.to_owned().into(),
            ErrorInfo {
                message: format!("object {key} not found").into(),
                code,
            },
        );
    }
    ProtocolException {
        error: None,
        errors,
    }
}

fn header_for<T: EtpMessage>(message_flags: i32) -> MessageHeader {
    MessageHeader {
        protocol: T::PROTOCOL,
        message_type: T::MESSAGE_TYPE,
        correlation_id: 41,
        message_id: 42,
        message_flags,
    }
}

/// `header | body` exactly as given (the body need not be valid).
fn raw(header: MessageHeader, body: &[u8]) -> Bytes {
    let mut out = encode_to_vec(&header);
    out.extend_from_slice(body);
    Bytes::from(out)
}

fn frame<T: EtpMessage>(body: T) -> Bytes {
    let mut out = Vec::new();
    encode_message(
        &header_for::<T>(flags::FIN),
        None,
        &body.into(),
        Compression::None,
        &mut out,
    );
    Bytes::from(out)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

const NEGOTIATED: DecodeOptions = DecodeOptions {
    compression_negotiated: true,
    max_decompressed_size: 1 << 20,
};

/// The realistic payloads, with the options to decode them with.
fn samples() -> Vec<(&'static str, Bytes, DecodeOptions)> {
    let mut extension = Map::new();
    extension.insert("trace".into(), value(DataValueItem::Int(5)));
    let mut with_extension = Vec::new();
    encode_message(
        &header_for::<GetResourcesResponse>(flags::FIN | flags::ACKNOWLEDGE),
        Some(&MessageHeaderExtension { extension }),
        &get_resources_response().into(),
        Compression::None,
        &mut with_extension,
    );
    let put = put_data_objects();
    let mut compressed = encode_to_vec(&header_for::<PutDataObjects>(
        flags::FIN | flags::COMPRESSED,
    ));
    compressed.extend_from_slice(&gzip(&encode_to_vec(&put)));
    vec![
        (
            "RequestSession",
            frame(request_session()),
            DecodeOptions::default(),
        ),
        ("PutDataObjects", frame(put), DecodeOptions::default()),
        (
            "GetDataArraysResponse",
            frame(get_data_arrays_response()),
            DecodeOptions::default(),
        ),
        (
            "GetResourcesResponse",
            frame(get_resources_response()),
            DecodeOptions::default(),
        ),
        (
            "ProtocolException",
            frame(protocol_exception()),
            DecodeOptions::default(),
        ),
        (
            "GetResourcesResponse+extension",
            Bytes::from(with_extension),
            DecodeOptions::default(),
        ),
        ("PutDataObjects gzip", Bytes::from(compressed), NEGOTIATED),
    ]
}

/// Replaces the one occurrence of `marker` in `haystack` by `replacement`.
fn splice(haystack: &[u8], marker: &[u8], replacement: &[u8]) -> Vec<u8> {
    let found: Vec<usize> = haystack
        .windows(marker.len())
        .enumerate()
        .filter(|(_, w)| *w == marker)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(found.len(), 1, "marker must occur exactly once");
    let at = found[0];
    let mut out = haystack[..at].to_vec();
    out.extend_from_slice(replacement);
    out.extend_from_slice(&haystack[at + marker.len()..]);
    out
}

fn long(v: i64) -> Vec<u8> {
    let mut out = Vec::new();
    write_long(&mut out, v);
    out
}

fn string(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    write_bytes(&mut out, s.as_bytes());
    out
}

/// The body's decoding error; panics on any other outcome.
fn body_error(result: Result<Message, MessageError>) -> (DecodeError, String) {
    match result {
        Err(err @ MessageError::InvalidBody { .. }) => {
            assert_eq!(err.error_code(), ErrorCode::EINVALID_MESSAGE);
            assert!(err.header().is_some());
            let text = err.to_string();
            match err {
                MessageError::InvalidBody {
                    error: BodyError::Invalid(e),
                    ..
                } => (e, text),
                other => panic!("expected an undecodable body, got {other}"),
            }
        }
        Err(other) => panic!("expected an undecodable body, got {other}"),
        Ok(message) => panic!("hostile body decoded: {message:?}"),
    }
}

/// Decodes a hostile payload, checking that nothing large was allocated for it.
fn decode_hostile(payload: &Bytes, options: &DecodeOptions) -> Result<Message, MessageError> {
    decode_within(payload, options, 4096)
}

/// Decodes a payload, checking that no single allocation exceeded `bound` bytes.
fn decode_within(
    payload: &Bytes,
    options: &DecodeOptions,
    bound: usize,
) -> Result<Message, MessageError> {
    let (result, largest) = largest_allocation(|| decode_message(payload, options));
    assert!(
        largest <= bound,
        "decoding {} hostile bytes allocated {largest} bytes at once",
        payload.len()
    );
    result
}

// ---------------------------------------------------------------------------------------
// Every offset

#[test]
fn the_samples_decode() {
    for (name, payload, options) in samples() {
        let message = decode_message(&payload, &options).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(message.is_final(), "{name}");
    }
}

#[test]
fn truncation_at_every_offset_is_an_invalid_message() {
    for (name, payload, options) in samples() {
        for cut in 0..payload.len() {
            let err = decode_message(&payload.slice(..cut), &options)
                .err()
                .unwrap_or_else(|| panic!("{name} cut at {cut} decoded"));
            assert_eq!(
                err.error_code(),
                ErrorCode::EINVALID_MESSAGE,
                "{name} cut at {cut}: {err}"
            );
        }
    }
}

/// Decodes `payload`; when it decodes, re-encoding and decoding again gives the same
/// message and the same bytes (decode → encode → decode is a fixpoint).
fn decode_and_check_fixpoint(payload: &Bytes, options: &DecodeOptions) {
    let Ok(first) = decode_message(payload, options) else {
        return;
    };
    let encode = |m: &Message| {
        let mut out = Vec::new();
        encode_message(
            &m.header,
            m.extension.as_ref(),
            &m.body,
            Compression::None,
            &mut out,
        );
        Bytes::from(out)
    };
    let bytes = encode(&first);
    let second = decode_message(&bytes, options).expect("a re-encoded message decodes");
    let mut expected = first.clone();
    expected.header.message_flags &= !flags::COMPRESSED;
    // NaN != NaN: compare what was decoded structurally through Debug and by bytes.
    assert_eq!(format!("{second:?}"), format!("{expected:?}"));
    assert_eq!(encode(&second), bytes);
}

#[test]
fn corrupting_any_byte_never_panics() {
    let mut decoded = 0usize;
    let mut total = 0usize;
    for (_, payload, options) in samples() {
        for at in 0..payload.len() {
            let original = payload[at];
            for replacement in [
                0x00,
                0x01,
                0x02,
                0x7f,
                0x80,
                0xff,
                original ^ 0x01,
                original ^ 0x40,
            ] {
                if replacement == original {
                    continue;
                }
                let mut bytes = payload.to_vec();
                bytes[at] = replacement;
                let corrupted = Bytes::from(bytes);
                total += 1;
                if decode_message(&corrupted, &options).is_ok() {
                    decoded += 1;
                }
                decode_and_check_fixpoint(&corrupted, &options);
            }
        }
    }
    // Some corruptions land in values and still decode; many must not.
    assert!(
        decoded > 0 && decoded < total,
        "{decoded} of {total} decoded"
    );
}

#[test]
fn inserting_or_deleting_a_byte_never_panics() {
    for (_, payload, options) in samples() {
        for at in 0..payload.len() {
            let mut deleted = payload.to_vec();
            deleted.remove(at);
            decode_and_check_fixpoint(&Bytes::from(deleted), &options);
            let mut inserted = payload.to_vec();
            inserted.insert(at, 0x81);
            decode_and_check_fixpoint(&Bytes::from(inserted), &options);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Counts and lengths

#[test]
fn huge_array_counts_are_rejected_before_allocating() {
    let header = header_for::<GetResourcesResponse>(flags::FIN);
    for count in [1i64 << 62, i64::MAX, 1 << 40, 1_000_000] {
        let mut body = long(count);
        body.extend_from_slice(&[0; 16]);
        let (err, text) = body_error(decode_hostile(
            &raw(header, &body),
            &DecodeOptions::default(),
        ));
        assert!(
            matches!(err.kind(), DecodeErrorKind::CountExceedsInput { count: c, .. } if *c == count as u64),
            "{count}: {err}"
        );
        assert_eq!(err.field_path(), "GetResourcesResponse.resources");
        assert!(text.contains("GetResourcesResponse.resources"), "{text}");
    }
    // A negative count announces a block byte size next.
    for (count, size) in [(i64::MIN, 0i64), (-(1 << 62), 4), (-1, 1 << 62), (-3, -1)] {
        let mut body = long(count);
        body.extend_from_slice(&long(size));
        body.extend_from_slice(&[0; 16]);
        let (err, _) = body_error(decode_hostile(
            &raw(header, &body),
            &DecodeOptions::default(),
        ));
        assert!(
            matches!(
                err.kind(),
                DecodeErrorKind::CountExceedsInput { .. }
                    | DecodeErrorKind::LengthExceedsInput { .. }
                    | DecodeErrorKind::NegativeLength(_)
            ),
            "({count}, {size}): {err}"
        );
        assert_eq!(err.field_path(), "GetResourcesResponse.resources", "{err}");
    }
}

#[test]
fn double_counts_are_checked_against_eight_bytes_each() {
    // One DataArray whose ArrayOfDouble claims one value more than the bytes left hold.
    let mut body = long(1); // dataArrays: one entry
    body.extend(string("points"));
    body.extend(long(1)); // dimensions: [12]
    body.extend(long(12));
    body.push(0);
    body.extend(long(4)); // AnyArray branch 4: ArrayOfDouble
    let values = 1i64 << 61; // 2^61 * 8 overflows usize arithmetic done carelessly
    body.extend(long(values));
    body.extend_from_slice(&[0; 12 * 8]);
    body.extend_from_slice(&[0, 0]);
    let header = header_for::<GetDataArraysResponse>(flags::FIN);
    let (err, text) = body_error(decode_hostile(
        &raw(header, &body),
        &DecodeOptions::default(),
    ));
    assert!(
        matches!(err.kind(), DecodeErrorKind::CountExceedsInput { .. }),
        "{err}"
    );
    assert_eq!(
        err.field_path(),
        "GetDataArraysResponse.dataArrays.<value>.data.item.ArrayOfDouble.values"
    );
    assert!(text.contains("GetDataArraysResponse.dataArrays"), "{text}");

    // 13 doubles announced, 12 present: the count fits one byte each but not eight.
    let body = splice(&body, &long(values), &long(13));
    let (err, _) = body_error(decode_hostile(
        &raw(header, &body),
        &DecodeOptions::default(),
    ));
    assert!(
        matches!(
            err.kind(),
            DecodeErrorKind::CountExceedsInput { count: 13, .. }
        ),
        "{err}"
    );
}

/// A count that the remaining bytes could hold at the items' minimum size, followed by
/// garbage: whatever is reserved for the block before its first item fails must be
/// justified by the input, not by the count times the in-memory item size (a `Resource`
/// is about 20 times larger in memory than its smallest encoding, a map entry of
/// `DataValue` about 40 times).
#[test]
fn plausible_counts_reserve_no_more_than_the_input() {
    let garbage = vec![0xff; 10_000];
    let resources = {
        let mut body = long(1_000);
        body.extend_from_slice(&garbage);
        raw(header_for::<GetResourcesResponse>(flags::FIN), &body)
    };
    let errors = {
        let mut body = vec![0]; // error: null
        body.extend(long(3_000));
        body.extend_from_slice(&garbage);
        raw(header_for::<ProtocolException>(flags::FIN), &body)
    };
    let capabilities = {
        let mut body = long(4_000);
        body.extend_from_slice(&garbage);
        let mut header = header_for::<GetResourcesResponse>(flags::FIN | flags::HEADER_EXTENSION);
        header.message_flags |= flags::HEADER_EXTENSION;
        raw(header, &body)
    };
    for payload in [resources, errors, capabilities] {
        let result = decode_within(&payload, &DecodeOptions::default(), payload.len() + 4096);
        assert!(result.is_err());
    }
}

#[test]
fn huge_map_counts_are_rejected_before_allocating() {
    let header = header_for::<GetDataArraysResponse>(flags::FIN);
    for count in [1i64 << 62, i64::MAX, 100] {
        let mut body = long(count);
        body.extend(string("a"));
        let (err, _) = body_error(decode_hostile(
            &raw(header, &body),
            &DecodeOptions::default(),
        ));
        assert!(
            matches!(err.kind(), DecodeErrorKind::CountExceedsInput { .. }),
            "{err}"
        );
        assert_eq!(err.field_path(), "GetDataArraysResponse.dataArrays");
    }
}

#[test]
fn huge_and_negative_string_lengths_are_rejected() {
    let valid = frame(request_session());
    let header = header_for::<RequestSession>(flags::FIN);
    let body = &valid[header.encoded_len()..];
    for (length, negative) in [
        (1i64 << 62, false),
        (i64::MAX, false),
        (1000, false),
        (-1, true),
        (i64::MIN, true),
    ] {
        let hostile = splice(body, &string(APP_NAME), &long(length));
        let (err, text) = body_error(decode_hostile(
            &raw(header, &hostile),
            &DecodeOptions::default(),
        ));
        if negative {
            assert_eq!(err.kind(), &DecodeErrorKind::NegativeLength(length));
        } else {
            assert!(
                matches!(err.kind(), DecodeErrorKind::LengthExceedsInput { length: l, .. } if *l == length as u64),
                "{err}"
            );
        }
        assert_eq!(err.field_path(), "RequestSession.applicationName");
        assert!(text.contains("RequestSession.applicationName"), "{text}");
    }
}

#[test]
fn huge_bytes_lengths_are_rejected() {
    let put = put_data_objects();
    let valid = frame(put.clone());
    let header = header_for::<PutDataObjects>(flags::FIN);
    let body = &valid[header.encoded_len()..];
    let data = &put.data_objects["1"].data;
    let mut marker = long(data.len() as i64);
    marker.extend_from_slice(data);
    for length in [1i64 << 62, data.len() as i64 + 1] {
        let hostile = splice(body, &marker, &long(length));
        let (err, _) = body_error(decode_hostile(
            &raw(header, &hostile),
            &DecodeOptions::default(),
        ));
        assert!(
            matches!(err.kind(), DecodeErrorKind::LengthExceedsInput { .. }),
            "{err}"
        );
        assert_eq!(err.field_path(), "PutDataObjects.dataObjects.<value>.data");
    }
}

// ---------------------------------------------------------------------------------------
// Values

#[test]
fn bad_data_value_union_index() {
    let valid = frame(request_session());
    let header = header_for::<RequestSession>(flags::FIN);
    let body = &valid[header.encoded_len()..];
    let mut marker = string(CAPABILITY);
    marker.extend(long(3)); // DataValue branch 3: long
    for index in [19i64, 63, -1, 1 << 40] {
        let mut replacement = string(CAPABILITY);
        replacement.extend(long(index));
        let hostile = splice(body, &marker, &replacement);
        let (err, text) = body_error(decode_hostile(
            &raw(header, &hostile),
            &DecodeOptions::default(),
        ));
        assert_eq!(
            err.kind(),
            &DecodeErrorKind::InvalidUnionIndex {
                index,
                branches: 19
            }
        );
        assert_eq!(
            err.field_path(),
            "RequestSession.endpointCapabilities.<value>.item"
        );
        assert!(
            text.contains("RequestSession.endpointCapabilities"),
            "{text}"
        );
    }
}

#[test]
fn bad_utf8_in_a_string() {
    let valid = frame(request_session());
    let header = header_for::<RequestSession>(flags::FIN);
    let body = &valid[header.encoded_len()..];
    for bad in [
        &[0xc3, 0x28][..],
        &[0xff],
        &[0xed, 0xa0, 0x80],
        &[b'a', 0xe2, 0x82],
    ] {
        let mut replacement = long(bad.len() as i64);
        replacement.extend_from_slice(bad);
        let hostile = splice(body, &string(APP_NAME), &replacement);
        let (err, _) = body_error(decode_hostile(
            &raw(header, &hostile),
            &DecodeOptions::default(),
        ));
        assert_eq!(err.kind(), &DecodeErrorKind::InvalidUtf8);
        assert_eq!(err.field_path(), "RequestSession.applicationName");
    }
}

#[test]
fn overlong_varints() {
    let valid = frame(request_session());
    let header = header_for::<RequestSession>(flags::FIN);
    let body = &valid[header.encoded_len()..];
    // A long of 11 bytes, and 10 bytes whose last byte carries more than the 64th bit.
    for overlong in [
        &[
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
        ][..],
        &[
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ],
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
    ] {
        let hostile = splice(body, &long(DATE_TIME), overlong);
        let (err, _) = body_error(decode_hostile(
            &raw(header, &hostile),
            &DecodeOptions::default(),
        ));
        assert_eq!(
            err.kind(),
            &DecodeErrorKind::OverlongVarint { max_bytes: 10 }
        );
        assert_eq!(err.field_path(), "RequestSession.currentDateTime");
    }
    // An int of 6 bytes in Version.major; the largest 5-byte value out of int range.
    let mut marker = long(3);
    marker.extend(encode_to_vec(&Version {
        major: 1,
        minor: 2,
        revision: 0,
        patch: 0,
    }));
    for (overlong, kind) in [
        (
            &[0x80, 0x80, 0x80, 0x80, 0x80, 0x00][..],
            DecodeErrorKind::OverlongVarint { max_bytes: 5 },
        ),
        (
            &[0xfe, 0xff, 0xff, 0xff, 0x1f],
            DecodeErrorKind::IntOutOfRange((1 << 32) - 1),
        ),
    ] {
        let mut replacement = long(3);
        replacement.extend_from_slice(overlong);
        replacement.extend_from_slice(&[0x04, 0x00, 0x00]);
        let hostile = splice(body, &marker, &replacement);
        let (err, _) = body_error(decode_hostile(
            &raw(header, &hostile),
            &DecodeOptions::default(),
        ));
        assert_eq!(err.kind(), &kind);
        assert_eq!(
            err.field_path(),
            "RequestSession.requestedProtocols.protocolVersion.major"
        );
    }
    // Overlong ints in the header itself: no header to correlate with.
    let mut bad_header = vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
    bad_header.extend_from_slice(&[0x02, 0x00, 0x02, 0x02]);
    let err = decode_hostile(&Bytes::from(bad_header), &DecodeOptions::default()).unwrap_err();
    assert!(
        matches!(err, MessageError::InvalidHeader(ref e) if e.field_path() == "MessageHeader.protocol"),
        "{err}"
    );
    assert_eq!(err.error_code(), ErrorCode::EINVALID_MESSAGE);
}

#[test]
fn enum_index_out_of_range() {
    let valid = frame(get_resources_response());
    let header = header_for::<GetResourcesResponse>(flags::FIN);
    let mut body = valid[header.encoded_len()..].to_vec();
    let mut marker = long(STORE_CREATED);
    marker.extend(encode_to_vec(&ActiveStatusKind::Inactive));
    // Three resources carry the marker; corrupt the second one's status.
    let at: Vec<usize> = body
        .windows(marker.len())
        .enumerate()
        .filter(|(_, w)| *w == &marker[..])
        .map(|(i, _)| i + marker.len() - 1)
        .collect();
    assert_eq!(at.len(), 3);
    for index in [2i32, -1, 63] {
        let mut status = Vec::new();
        write_int(&mut status, index);
        assert_eq!(status.len(), 1);
        body[at[1]] = status[0];
        let (err, text) = body_error(decode_hostile(
            &raw(header, &body),
            &DecodeOptions::default(),
        ));
        assert_eq!(
            err.kind(),
            &DecodeErrorKind::InvalidEnumIndex { index, symbols: 2 }
        );
        assert_eq!(
            err.field_path(),
            "GetResourcesResponse.resources.activeStatus"
        );
        assert!(
            text.contains("GetResourcesResponse.resources.activeStatus"),
            "{text}"
        );
    }
}

#[test]
fn invalid_boolean() {
    let valid = frame(put_data_objects());
    let mut bytes = valid.to_vec();
    // pruneContainedObjects is the last byte of the body.
    let last = bytes.len() - 1;
    assert_eq!(bytes[last], 0);
    bytes[last] = 2;
    let (err, _) = body_error(decode_hostile(
        &Bytes::from(bytes),
        &DecodeOptions::default(),
    ));
    assert_eq!(err.kind(), &DecodeErrorKind::InvalidBoolean(2));
    assert_eq!(err.field_path(), "PutDataObjects.pruneContainedObjects");
}

#[test]
fn trailing_bytes_after_the_body() {
    for (name, payload, options) in samples() {
        let mut longer = payload.to_vec();
        longer.extend_from_slice(&[0, 0, 0]);
        if options.compression_negotiated {
            continue; // bytes after a gzip stream are a compression error, tested below
        }
        let (err, _) = body_error(decode_message(&Bytes::from(longer), &options));
        assert_eq!(err.kind(), &DecodeErrorKind::TrailingBytes(3), "{name}");
    }
    // Inside a gzip stream too.
    let mut plain = encode_to_vec(&put_data_objects());
    plain.push(0);
    let mut bytes = encode_to_vec(&header_for::<PutDataObjects>(
        flags::FIN | flags::COMPRESSED,
    ));
    bytes.extend(gzip(&plain));
    let (err, _) = body_error(decode_message(&Bytes::from(bytes), &NEGOTIATED));
    assert_eq!(err.kind(), &DecodeErrorKind::TrailingBytes(1));
}

#[test]
fn invalid_header_extension() {
    let header = header_for::<GetResourcesResponse>(flags::FIN | flags::HEADER_EXTENSION);
    let mut body = long(1);
    body.extend(string("k"));
    body.extend(long(40)); // DataValue branch 40
    let err = decode_hostile(&raw(header, &body), &DecodeOptions::default()).unwrap_err();
    let MessageError::InvalidExtension { error, header: h } = &err else {
        panic!("{err}");
    };
    assert_eq!(h, &header);
    assert_eq!(
        error.field_path(),
        "MessageHeaderExtension.extension.<value>.item"
    );
    assert_eq!(err.error_code(), ErrorCode::EINVALID_MESSAGE);
}

// ---------------------------------------------------------------------------------------
// Compression

#[test]
fn gzip_bomb_is_stopped_at_the_limit() {
    // 64 MiB of zeros: one gzip member of the first 16 MiB and three more members, so the
    // multi-member path is exercised too.
    let zeros = vec![0u8; 16 << 20];
    let member = gzip(&zeros);
    drop(zeros);
    let mut bomb = encode_to_vec(&header_for::<PutDataObjects>(
        flags::FIN | flags::COMPRESSED,
    ));
    for _ in 0..4 {
        bomb.extend_from_slice(&member);
    }
    assert!(bomb.len() < 200 << 10, "bomb is {} bytes", bomb.len());
    let bomb = Bytes::from(bomb);
    let options = DecodeOptions {
        compression_negotiated: true,
        max_decompressed_size: 1 << 20,
    };
    let started = Instant::now();
    let (result, largest) = largest_allocation(|| decode_message(&bomb, &options));
    let elapsed = started.elapsed();
    let err = result.unwrap_err();
    assert!(
        matches!(err, MessageError::InvalidCompression { .. }),
        "{err}"
    );
    assert_eq!(err.error_code(), ErrorCode::EINVALID_MESSAGE);
    assert!(err.header().is_some());
    assert!(
        largest <= 4 << 20,
        "the bomb made a {largest}-byte allocation"
    );
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");

    // A trailer that claims 4 GiB does not size the buffer either.
    let mut lying = bomb.to_vec();
    let n = lying.len();
    lying[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    let (result, largest) = largest_allocation(|| decode_message(&Bytes::from(lying), &options));
    assert!(matches!(
        result,
        Err(MessageError::InvalidCompression { .. })
    ));
    assert!(largest <= 4 << 20, "{largest}");
}

#[test]
fn corrupt_gzip_is_invalid_compression() {
    let put = encode_to_vec(&put_data_objects());
    let header = encode_to_vec(&header_for::<PutDataObjects>(
        flags::FIN | flags::COMPRESSED,
    ));
    let stream = gzip(&put);
    let mut cases: Vec<Vec<u8>> = vec![vec![], b"not gzip at all".to_vec(), put.clone()];
    let mut bad_crc = stream.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0xff;
    cases.push(bad_crc);
    let mut garbage_after = stream.clone();
    garbage_after.extend_from_slice(b"xyz");
    cases.push(garbage_after);
    for (i, case) in cases.into_iter().enumerate() {
        let mut bytes = header.clone();
        bytes.extend(case);
        // The inflater's state and window are allocated whatever the input.
        let err = decode_within(&Bytes::from(bytes), &NEGOTIATED, 256 << 10).unwrap_err();
        assert!(
            matches!(err, MessageError::InvalidCompression { .. }),
            "case {i}: {err}"
        );
        assert_eq!(err.error_code(), ErrorCode::EINVALID_MESSAGE);
    }
}

#[test]
fn compressed_core_message_is_13() {
    let plain = encode_to_vec(&request_session());
    let header = header_for::<RequestSession>(flags::FIN | flags::COMPRESSED);
    let err = decode_message(&raw(header, &gzip(&plain)), &NEGOTIATED).unwrap_err();
    assert!(
        matches!(err, MessageError::CompressionNotAllowed { .. }),
        "{err}"
    );
    assert_eq!(err.error_code(), ErrorCode::ECOMPRESSION_NOTSUPPORTED);
    assert_eq!(err.error_code().code(), 13);
    assert_eq!(err.header(), Some(&header));
    // ProtocolException in any protocol as well.
    let mut header = header_for::<ProtocolException>(flags::FIN | flags::COMPRESSED);
    header.protocol = 4;
    let plain = encode_to_vec(&protocol_exception());
    let err = decode_message(&raw(header, &gzip(&plain)), &NEGOTIATED).unwrap_err();
    assert_eq!(err.error_code().code(), 13);
}

#[test]
fn compression_without_negotiation_is_13() {
    let plain = encode_to_vec(&put_data_objects());
    let header = header_for::<PutDataObjects>(flags::FIN | flags::COMPRESSED);
    let payload = raw(header, &gzip(&plain));
    let err = decode_message(&payload, &DecodeOptions::default()).unwrap_err();
    assert_eq!(err.error_code().code(), 13);
    assert_eq!(err.header(), Some(&header));
    // The same bytes decode once compression is negotiated.
    let message = decode_message(&payload, &NEGOTIATED).unwrap();
    assert_eq!(message.body, Body::from(put_data_objects()));
}

// ---------------------------------------------------------------------------------------
// Header-level failures

#[test]
fn unknown_protocol_is_4() {
    for protocol in [8, 10, 99, 1999, -1, i32::MAX] {
        assert!(!etp_protocol::types::PROTOCOLS.contains(&protocol));
        let mut header = header_for::<GetResourcesResponse>(flags::FIN);
        header.protocol = protocol;
        let payload = raw(header, &encode_to_vec(&get_resources_response()));
        let err = decode_message(&payload, &DecodeOptions::default()).unwrap_err();
        assert!(
            matches!(err, MessageError::InvalidBody { error: BodyError::UnsupportedProtocol(p), .. } if p == protocol),
            "{err}"
        );
        assert_eq!(err.error_code().code(), 4);
        assert_eq!(err.header(), Some(&header));
    }
}

#[test]
fn unknown_message_type_is_3() {
    for message_type in [0, 3, 999, 1002, -1, i32::MIN] {
        let mut header = header_for::<GetResourcesResponse>(flags::FIN);
        header.message_type = message_type;
        let payload = raw(header, &encode_to_vec(&get_resources_response()));
        let err = decode_message(&payload, &DecodeOptions::default()).unwrap_err();
        assert!(
            matches!(
                err,
                MessageError::InvalidBody {
                    error: BodyError::InvalidMessageType { .. },
                    ..
                }
            ),
            "{message_type}: {err}"
        );
        assert_eq!(err.error_code().code(), 3, "{message_type}");
    }
}

#[test]
fn undecodable_header_is_19_without_a_header() {
    let cases: [&[u8]; 6] = [
        &[],
        &[0x08],
        &[0x08, 0x02, 0x00, 0x02],
        &[0xff; 12],
        &[
            0x08, 0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
        ],
        &[0x08, 0x02, 0x00, 0x02, 0x80, 0x80, 0x80, 0x80, 0x10],
    ];
    for case in cases {
        let err =
            decode_hostile(&Bytes::copy_from_slice(case), &DecodeOptions::default()).unwrap_err();
        assert!(
            matches!(err, MessageError::InvalidHeader(_)),
            "{case:?}: {err}"
        );
        assert_eq!(err.error_code().code(), 19);
        assert!(err.header().is_none());
        assert!(err.to_string().contains("MessageHeader"), "{err}");
    }
}
