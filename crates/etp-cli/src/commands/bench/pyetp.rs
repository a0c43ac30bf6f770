//! The user's view: pyetp (Python, from PyPI) moving the same array through our server,
//! and pyetp's own Avro encode/decode of one such message, next to our client and codec
//! in the same run. Needs `--pyetp PYTHON` (an interpreter with pyetp installed).
//!
//! The script (`pyetp_bench.py`, embedded) times only the operations themselves, never
//! Python start-up or imports. pyetp sends all blocks of an upload at once and requests all
//! blocks of a download at once; our client keeps `--window` in flight. Ratios here are
//! pyetp's speed relative to ours: below 1 means pyetp users get less than the server
//! can give.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use etp_client::Client;
use etp_protocol::codec::Map;
use etp_protocol::message::{Compression, DecodeOptions, decode_message, encode_message, flags};
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::MessageHeader;
use etp_protocol::types::datatypes::data_array_types::{DataArrayIdentifier, PutDataSubarraysType};
use etp_protocol::types::datatypes::{AnyArray, AnyArrayItem, ArrayOfDouble};
use etp_protocol::types::protocol::data_array::PutDataSubarrays;
use serde::Deserialize;

use super::Env;
use super::arrays::{self, ROW, Shape};
use super::report::{Better, Report, Series};
use super::util;

/// The script, written next to the other scratch files at run time.
const SCRIPT: &str = include_str!("pyetp_bench.py");
/// Longest a single script invocation may take.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(3600);
/// Encode/decode repetitions (best of) on both sides.
const CODEC_REPEATS: usize = 5;

#[derive(Debug, Deserialize)]
struct Transfer {
    bytes: u64,
    put_seconds: f64,
    get_seconds: f64,
}

#[derive(Debug, Deserialize)]
struct Codec {
    message_bytes: u64,
    value_bytes: u64,
    encode_seconds: f64,
    decode_seconds: f64,
}

/// Measures every figure `--runs` times.
pub async fn run(env: &Env, python: &Path, report: &mut Report) -> anyhow::Result<()> {
    let settings = &env.settings;
    let script = env.scratch.path().join("pyetp_bench.py");
    std::fs::write(&script, SCRIPT).context("cannot write the pyetp script")?;
    let authorization = env.client_config().authorization.unwrap_or_default();
    for &size in &settings.message_sizes {
        let mib = size >> 20;
        let client = Client::connect(env.client_config_sized(size)).await?;
        let closer = util::Closer::new(&client);
        let plan = Shape::for_bytes(settings.pyetp_array_bytes)?;
        let source = Arc::new(arrays::surface(client.max_message_size() / 8));
        let path = util::unique(&format!("pyetp-{mib}mib"));
        let dataspace = util::create_dataspace(&client, &path).await?;
        let epc = format!(
            "{dataspace}/eml20.obj_EpcExternalPartReference({})",
            etp_protocol::Uuid::new_v4()
        );
        let transactions = client.supports_protocol(18);
        let mut put = Series::new(
            "pyetp",
            &format!("put_{mib}mib"),
            format!("pyetp upload_array, {mib} MiB messages"),
            "MB/s",
            Better::Higher,
        )
        .baseline(
            &format!("etp_client.put_{mib}mib"),
            "etp client, same array and server",
        )
        .note(format!(
            "{} MiB float64; pyetp: all blocks in flight, no transaction; etp client: {} in flight{}",
            plan.bytes() >> 20,
            settings.window,
            if transactions { ", one transaction" } else { "" }
        ));
        let mut get = Series::new(
            "pyetp",
            &format!("get_{mib}mib"),
            format!("pyetp download_array, {mib} MiB messages"),
            "MB/s",
            Better::Higher,
        )
        .baseline(
            &format!("etp_client.get_{mib}mib"),
            "etp client, same array and server",
        );
        let mut encode = Series::new(
            "pyetp",
            &format!("encode_{mib}mib"),
            format!("pyetp encode_message, PutDataSubarrays of {mib} MiB"),
            "MB/s",
            Better::Higher,
        )
        .baseline(
            &format!("codec.encode_{mib}mib"),
            "etp-protocol encode_message",
        )
        .note("best of 5; MB/s of array values; pyetp = pydantic dump + fastavro");
        let mut decode = Series::new(
            "pyetp",
            &format!("decode_{mib}mib"),
            format!("pyetp decode_message, PutDataSubarrays of {mib} MiB"),
            "MB/s",
            Better::Higher,
        )
        .baseline(
            &format!("codec.decode_{mib}mib"),
            "etp-protocol decode_message",
        )
        .note("pyetp = fastavro + pydantic validation");
        let array_path = format!("/RESQML/bench/pyetp_{mib}mib");
        // Our get fills one vector with the whole array (see arrays.rs), touched now.
        let mut destination = vec![f64::NAN; plan.values()];
        for _ in 0..settings.runs {
            let bytes = plan.bytes();
            let (ours_put, layout) = arrays::etp_put(
                &client,
                &dataspace,
                &epc,
                &array_path,
                plan.rows,
                settings.window,
                &source,
            )
            .await?;
            let ours_put = ours_put.elapsed;
            let ours_get = arrays::etp_get(
                &client,
                &epc,
                &array_path,
                settings.window,
                &mut destination,
            )
            .await?;
            layout.check(&mut destination, &source)?;
            let transfer: Transfer = run_script(
                python,
                &script,
                &[
                    "transfer".into(),
                    "--url".into(),
                    env.url.clone(),
                    "--authorization".into(),
                    authorization.clone(),
                    "--dataspace".into(),
                    format!("{path}/pyetp"),
                    "--message-size".into(),
                    size.to_string(),
                    "--array-bytes".into(),
                    bytes.to_string(),
                ],
            )
            .await?;
            put.push_pair(
                util::mb_per_s(
                    transfer.bytes,
                    Duration::from_secs_f64(transfer.put_seconds),
                ),
                util::mb_per_s(bytes, ours_put),
            );
            get.push_pair(
                util::mb_per_s(
                    transfer.bytes,
                    Duration::from_secs_f64(transfer.get_seconds),
                ),
                util::mb_per_s(bytes, ours_get),
            );

            let theirs: Codec = run_script(
                python,
                &script,
                &[
                    "codec".into(),
                    "--message-size".into(),
                    size.to_string(),
                    "--repeats".into(),
                    CODEC_REPEATS.to_string(),
                ],
            )
            .await?;
            let ours = our_codec(size)?;
            if ours.value_bytes != theirs.value_bytes {
                bail!(
                    "pyetp and etp-protocol encoded different blocks ({} vs {} bytes of values)",
                    theirs.value_bytes,
                    ours.value_bytes
                );
            }
            let rate = |seconds: f64| theirs.value_bytes as f64 / 1e6 / seconds.max(1e-9);
            encode.push_pair(rate(theirs.encode_seconds), rate(ours.encode_seconds));
            decode.push_pair(rate(theirs.decode_seconds), rate(ours.decode_seconds));
            if encode.len() == 1 {
                encode.add_note(format!(
                    "message: pyetp {} bytes, etp-protocol {} bytes",
                    theirs.message_bytes, ours.message_bytes
                ));
            }
        }
        util::delete_dataspace(&client, &dataspace).await;
        closer.close().await?;
        report.add(put);
        report.add(get);
        report.add(encode);
        report.add(decode);
    }
    Ok(())
}

/// Runs the script and parses its JSON answer.
async fn run_script<T: serde::de::DeserializeOwned>(
    python: &Path,
    script: &Path,
    args: &[String],
) -> anyhow::Result<T> {
    let child = tokio::process::Command::new(python)
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {}", python.display()))?;
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output())
        .await
        .context("the pyetp script timed out")??;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        bail!(
            "the pyetp script failed ({}):\n{}",
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).with_context(|| format!("unexpected pyetp script output: {stdout}"))
}

/// Our encode/decode of the message the script builds at `message_size`.
fn our_codec(message_size: usize) -> anyhow::Result<Codec> {
    let rows = message_size.saturating_sub(arrays::MARGIN) / (ROW * 8);
    let values = arrays::surface(rows.max(1) * ROW);
    let value_bytes = (values.len() * 8) as u64;
    let mut data_subarrays = Map::new();
    data_subarrays.insert(
        "/RESQML/pyetp-bench/values".into(),
        PutDataSubarraysType {
            uid: DataArrayIdentifier {
                uri: format!(
                    "eml:///dataspace('bench')/eml20.obj_EpcExternalPartReference({})",
                    etp_protocol::Uuid::new_v4()
                )
                .into(),
                path_in_resource: "/RESQML/pyetp-bench/values".into(),
            },
            data: AnyArray {
                item: AnyArrayItem::ArrayOfDouble(ArrayOfDouble { values }),
            },
            starts: vec![0, 0],
            counts: vec![rows as i64, ROW as i64],
        },
    );
    let body: Body = PutDataSubarrays { data_subarrays }.into();
    let header = MessageHeader {
        protocol: 9,
        message_type: 5,
        correlation_id: 0,
        message_id: 2,
        message_flags: flags::FIN,
    };
    let mut message_bytes = 0;
    let mut encode = f64::INFINITY;
    let mut decode = f64::INFINITY;
    for _ in 0..CODEC_REPEATS {
        // A fresh buffer each time, as a client encoding one message at a time has.
        let mut out = Vec::new();
        let start = Instant::now();
        encode_message(&header, None, &body, Compression::None, &mut out);
        encode = encode.min(start.elapsed().as_secs_f64());
        message_bytes = out.len() as u64;
        let bytes = Bytes::from(out);
        let start = Instant::now();
        let decoded = decode_message(&bytes, &DecodeOptions::default())?;
        decode = decode.min(start.elapsed().as_secs_f64());
        drop(decoded);
    }
    Ok(Codec {
        message_bytes,
        value_bytes,
        encode_seconds: encode,
        decode_seconds: decode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_codec_round_trips_one_block() {
        let c = our_codec(1 << 20).unwrap();
        assert_eq!(c.value_bytes, (127 * ROW * 8) as u64);
        assert!(c.message_bytes > c.value_bytes && c.message_bytes < 1 << 20);
        assert!(c.encode_seconds > 0.0 && c.decode_seconds > 0.0);
    }

    #[test]
    fn the_script_is_embedded() {
        assert!(SCRIPT.contains("def transfer"));
        assert!(SCRIPT.contains("def codec"));
    }
}
