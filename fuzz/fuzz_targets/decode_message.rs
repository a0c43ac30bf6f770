//! Fuzzes `etp_protocol::message::decode_message` with compression negotiated and a small
//! decompression cap.
//!
//! Any input may fail to decode, but nothing may panic, and every message that does
//! decode must survive the round trip: re-encoding it gives bytes that decode to the same
//! message, and encoding that again gives the same bytes (decode → encode → decode is a
//! fixpoint), with and without gzip.

#![no_main]

use bytes::Bytes;
use etp_protocol::message::{
    self, Compression, DecodeOptions, Message, decode_message, encode_message, flags,
};
use libfuzzer_sys::fuzz_target;

/// Compression negotiated; a small cap so bombs are cheap to reject.
const OPTIONS: DecodeOptions = DecodeOptions {
    compression_negotiated: true,
    max_decompressed_size: 64 * 1024,
};

fn encode(m: &Message, compression: Compression) -> Bytes {
    let mut out = Vec::new();
    encode_message(
        &m.header,
        m.extension.as_ref(),
        &m.body,
        compression,
        &mut out,
    );
    Bytes::from(out)
}

/// Structural equality that treats NaN like any other value: `Debug` prints every field.
fn same(a: &Message, b: &Message) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fuzz_target!(|data: &[u8]| {
    let payload = Bytes::copy_from_slice(data);
    let first = match decode_message(&payload, &OPTIONS) {
        Ok(m) => m,
        Err(e) => {
            // The error is turned into a ProtocolException: none of this may panic.
            let _ = e.error_code();
            let _ = e.header();
            let _ = e.to_string();
            return;
        }
    };
    let _ = first.body.info();

    // What the decoder saw, as the encoder will send it uncompressed.
    let mut expected = first.clone();
    expected.header.message_flags &= !flags::COMPRESSED;

    let once = encode(&first, Compression::None);
    assert_eq!(
        once.len(),
        message::encoded_len(
            &expected.header,
            expected.extension.as_ref(),
            &expected.body
        ),
        "encoded_len disagrees with encode_message"
    );
    let second = match decode_message(&once, &OPTIONS) {
        Ok(m) => m,
        Err(e) => panic!("re-encoded message does not decode: {e}\n{first:?}"),
    };
    assert!(
        same(&second, &expected),
        "round trip changed the message:\n{expected:?}\n{second:?}"
    );
    let twice = encode(&second, Compression::None);
    assert_eq!(
        once, twice,
        "encode(decode(encode(m))) differs from encode(m)"
    );

    // Through gzip (the encoder compresses only when allowed and smaller). The cap is
    // raised to the plain size: an uncompressed input may be larger than OPTIONS allows.
    let gz = encode(&second, Compression::Gzip(1));
    let roomy = DecodeOptions {
        compression_negotiated: true,
        max_decompressed_size: once.len(),
    };
    let third = match decode_message(&gz, &roomy) {
        Ok(m) => m,
        Err(e) => panic!("gzip re-encoding does not decode: {e}\n{second:?}"),
    };
    let mut third_plain = third.clone();
    third_plain.header.message_flags &= !flags::COMPRESSED;
    assert!(
        same(&third_plain, &expected),
        "gzip round trip changed the message"
    );
    assert!(
        gz.len() <= once.len(),
        "gzip made the message larger: {} > {}",
        gz.len(),
        once.len()
    );
});
