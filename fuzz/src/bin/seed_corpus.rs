//! Writes the seed corpus of the `decode_message` target:
//!
//! * every golden sample `crates/etp-protocol/tests/golden/*.bin`, when present;
//! * for every one of the 138 message types, a few messages sampled (deterministically)
//!   from the generated proptest strategies, framed with a header, sometimes with a header
//!   extension, and for the ones that may be compressed also as a gzipped body.
//!
//! Usage: `cargo run --release --bin seed_corpus -- [OUT_DIR]` from `fuzz/` (default
//! `corpus/decode_message`).

#[path = "../../../crates/etp-protocol/tests/generated/strategies.rs"]
mod strategies;

use std::path::{Path, PathBuf};

use etp_protocol::message::{Compression, EtpMessage, encode_message, flags, never_compressed};
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::MessageHeader;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

/// Samples per message type.
const SAMPLES: usize = 4;

struct Writer {
    dir: PathBuf,
    count: usize,
}

impl Writer {
    fn write(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::write(self.dir.join(name), bytes)?;
        self.count += 1;
        Ok(())
    }
}

fn sample_messages<T>(
    out: &mut Writer,
    runner: &mut TestRunner,
    name: &str,
    strategy: proptest::strategy::BoxedStrategy<T>,
) -> std::io::Result<()>
where
    T: EtpMessage + std::fmt::Debug,
{
    let extensions = strategies::datatypes_message_header_extension();
    for i in 0..SAMPLES {
        let body: Body = strategy
            .new_tree(runner)
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .current()
            .into();
        let header = MessageHeader {
            protocol: T::PROTOCOL,
            message_type: T::MESSAGE_TYPE,
            correlation_id: i as i64,
            message_id: 2 * i as i64 + 2,
            message_flags: flags::FIN,
        };
        let extension = if i % 2 == 1 {
            Some(
                extensions
                    .new_tree(runner)
                    .map_err(|e| std::io::Error::other(e.to_string()))?
                    .current(),
            )
        } else {
            None
        };
        let mut bytes = Vec::new();
        encode_message(
            &header,
            extension.as_ref(),
            &body,
            Compression::None,
            &mut bytes,
        );
        out.write(&format!("gen-{name}-{i}.bin"), &bytes)?;
        if i == 0 && !never_compressed(header.protocol, header.message_type) {
            // Gzip everything after the header, whatever the size.
            let mut plain = Vec::new();
            body.encode(&mut plain);
            let mut compressed = header;
            compressed.message_flags |= flags::COMPRESSED;
            let mut bytes = Vec::new();
            etp_protocol::codec::Avro::encode(&compressed, &mut bytes);
            bytes.extend(gzip(&plain)?);
            out.write(&format!("gen-{name}-gzip.bin"), &bytes)?;
        }
    }
    Ok(())
}

fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data)?;
    encoder.finish()
}

fn copy_golden(out: &mut Writer, golden: &Path) -> std::io::Result<usize> {
    let Ok(entries) = std::fs::read_dir(golden) else {
        return Ok(0);
    };
    let mut n = 0;
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "bin") {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.write(&format!("golden-{name}"), &std::fs::read(&path)?)?;
            n += 1;
        }
    }
    Ok(n)
}

macro_rules! sample_all {
    ($($strategy:ident : $ty:ty),* $(,)?) => {
        |out: &mut Writer, runner: &mut TestRunner| -> std::io::Result<()> {
            $(
                sample_messages::<$ty>(out, runner, stringify!($strategy), strategies::$strategy())?;
            )*
            Ok(())
        }
    };
}

fn main() -> std::io::Result<()> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("corpus/decode_message"));
    std::fs::create_dir_all(&dir)?;
    let mut out = Writer { dir, count: 0 };
    let golden = copy_golden(
        &mut out,
        &manifest.join("../crates/etp-protocol/tests/golden"),
    )?;
    let mut runner = TestRunner::deterministic();
    let sample = strategies::for_each_message!(sample_all);
    sample(&mut out, &mut runner)?;
    println!(
        "wrote {} seeds ({golden} golden samples) to {}",
        out.count,
        out.dir.display()
    );
    Ok(())
}
