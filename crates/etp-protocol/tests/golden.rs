//! Golden samples written by an independent encoder (Python fastavro, see tools/golden/)
//! from the official schema: every sample must decode to the value fastavro was given and,
//! unless it uses a block layout our encoder never writes, re-encode to identical bytes.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use etp_protocol::codec::{Avro, Reader};
use etp_protocol::message::{DecodeOptions, decode_message, flags};
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::{MessageHeader, MessageHeaderExtension};
use serde_json::Value;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

struct Sample {
    name: String,
    bytes: Vec<u8>,
    expected: Value,
}

fn samples() -> Vec<Sample> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(golden_dir()).expect("tests/golden exists") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let expected: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let bytes = std::fs::read(path.with_extension("bin")).unwrap();
            out.push(Sample {
                name,
                bytes,
                expected,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The serde view of a `Body` wraps the message in its protocol variant
/// (`{"Store": {"GetDataObjects": {...}}}`); golden JSON holds the bare record.
fn bare_message(body: &Body) -> Value {
    let mut v = serde_json::to_value(body).unwrap();
    let depth = match body {
        Body::ProtocolException(_) | Body::Acknowledge(_) => 1,
        _ => 2,
    };
    for _ in 0..depth {
        let Value::Object(map) = v else {
            panic!("expected an enum wrapper")
        };
        v = map.into_iter().next().unwrap().1;
    }
    v
}

#[test]
fn golden_samples_cover_all_protocols() {
    let samples = samples();
    assert!(samples.len() >= 40, "only {} samples", samples.len());
    let mut protocols: Vec<i64> = samples
        .iter()
        .map(|s| s.expected["header"]["protocol"].as_i64().unwrap())
        .collect();
    protocols.sort();
    protocols.dedup();
    for p in [0, 1, 2, 3, 4, 5, 6, 7, 9, 13, 14, 16, 18, 21, 22, 24, 25] {
        assert!(protocols.contains(&p), "no golden sample for protocol {p}");
    }
}

#[test]
fn golden_samples_decode_to_expected_values_and_reencode() {
    let mut failures = Vec::new();
    for s in samples() {
        let payload = Bytes::from(s.bytes.clone());
        let msg = match decode_message(&payload, &DecodeOptions::default()) {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{}: decode failed: {e}", s.name));
                continue;
            }
        };
        let header = serde_json::to_value(msg.header).unwrap();
        if header != s.expected["header"] {
            failures.push(format!(
                "{}: header {header} != {}",
                s.name, s.expected["header"]
            ));
        }
        let extension = serde_json::to_value(&msg.extension).unwrap();
        if extension != s.expected["extension"] {
            failures.push(format!("{}: extension differs", s.name));
        }
        let body = bare_message(&msg.body);
        if body != s.expected["body"] {
            failures.push(format!(
                "{}: body differs\n ours:     {}\n expected: {}",
                s.name,
                truncate(&body.to_string()),
                truncate(&s.expected["body"].to_string())
            ));
        }
        if msg.body.info().full_name != s.expected["bodyType"].as_str().unwrap() {
            failures.push(format!(
                "{}: body type {}",
                s.name,
                msg.body.info().full_name
            ));
        }

        // Re-encode: header, extension, body, exactly as the sample.
        let mut out = Vec::new();
        msg.header.encode(&mut out);
        if let Some(ext) = &msg.extension {
            ext.encode(&mut out);
        }
        msg.body.encode(&mut out);
        let expected_len = msg.header.encoded_len()
            + msg.extension.as_ref().map_or(0, Avro::encoded_len)
            + msg.body.encoded_len();
        if out.len() != expected_len {
            failures.push(format!(
                "{}: encoded_len {expected_len} != {}",
                s.name,
                out.len()
            ));
        }
        let identical = s.expected["reencodeIdentical"].as_bool().unwrap();
        if identical && out != s.bytes {
            failures.push(format!("{}: re-encoded bytes differ", s.name));
        }
        if !identical {
            // Our single-block encoding must still decode to the same value.
            let again = decode_message(&Bytes::from(out), &DecodeOptions::default()).unwrap();
            if again != msg {
                failures.push(format!(
                    "{}: multi-block value changed on re-encode",
                    s.name
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn header_extension_flag_drives_extension_decoding() {
    let s = samples()
        .into_iter()
        .find(|s| s.expected["extension"].is_object())
        .expect("a sample with a header extension");
    let mut r = Reader::new(&s.bytes);
    let header = MessageHeader::decode(&mut r).unwrap();
    assert_ne!(header.message_flags & flags::HEADER_EXTENSION, 0);
    MessageHeaderExtension::decode(&mut r).unwrap();
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 600 {
        format!("{}…", s.chars().take(600).collect::<String>())
    } else {
        s.to_owned()
    }
}
