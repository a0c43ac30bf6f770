//! DataArray: put and get of a big float64 array (1 GiB by default) through subarrays, at
//! each negotiated message size (1, 8 and 16 MiB by default).
//!
//! The array is `[rows, 1024]` doubles; blocks are runs of whole rows filling the
//! negotiated message size minus 4 KiB (pyetp's margin for the rest of the message), sent
//! with `--window` requests in flight on one session, as pyetp and fetpapi split arrays
//! (12-dataarray.md §5). Put = PutUninitializedDataArrays, every PutDataSubarrays, and the
//! commit when the server offers transactions; get = every GetDataSubarrays, each answer
//! checked. MB/s are decimal megabytes of array values per second.
//!
//! Baselines, in the same run and with the same block sizes, block count and window:
//! bare WebSocket upload (each block acknowledged) and download (each block requested),
//! and the same bytes written to a file next to the store and fsync'd. The put's baseline
//! is min(bare upload, durable file write): a durable put can beat neither.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use etp_client::Client;
use etp_protocol::codec::Map;
use etp_protocol::types::datatypes::data_array_types::{
    DataArrayIdentifier, DataArrayMetadata, GetDataSubarraysType, PutDataSubarraysType,
    PutUninitializedDataArrayType,
};
use etp_protocol::types::datatypes::{
    AnyArray, AnyArrayItem, AnyArrayType, AnyLogicalArrayType, ArrayOfDouble,
};
use etp_protocol::types::protocol::data_array::{
    GetDataSubarrays, GetDataSubarraysResponse, PutDataSubarrays, PutDataSubarraysResponse,
    PutUninitializedDataArrays, PutUninitializedDataArraysResponse,
};

use super::Env;
use super::baseline::{self, BareClient, Limit, Traffic};
use super::report::{Better, Goal, Report, Series};
use super::util;

/// Values per row (8 KiB rows).
pub const ROW: usize = 1024;
/// Bytes left in each message for everything but the values (pyetp uses 4096).
pub const MARGIN: usize = 4096;

/// The shape of one transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Rows of the array.
    pub rows: usize,
    /// Rows per block (the last block may have fewer).
    pub rows_per_block: usize,
}

impl Plan {
    /// The plan for `array_bytes` of doubles under a negotiated `message_size`.
    pub fn new(array_bytes: u64, message_size: usize) -> anyhow::Result<Plan> {
        let row_bytes = ROW * 8;
        let rows = usize::try_from(array_bytes)?.div_ceil(row_bytes).max(1);
        let rows_per_block = message_size.saturating_sub(MARGIN) / row_bytes;
        if rows_per_block == 0 {
            bail!("a {message_size}-byte message cannot carry one {row_bytes}-byte row");
        }
        Ok(Plan {
            rows,
            rows_per_block: rows_per_block.min(rows),
        })
    }

    /// Number of blocks.
    pub fn blocks(&self) -> usize {
        self.rows.div_ceil(self.rows_per_block)
    }

    /// First row and row count of block `i`.
    pub fn block(&self, i: usize) -> (usize, usize) {
        let first = i * self.rows_per_block;
        (first, self.rows_per_block.min(self.rows - first))
    }

    /// Bytes of values in the whole array.
    pub fn bytes(&self) -> u64 {
        (self.rows * ROW * 8) as u64
    }

    /// Bytes of values in a full block.
    pub fn block_bytes(&self) -> usize {
        self.rows_per_block * ROW * 8
    }
}

/// Source values for every block: a smooth depth surface, generated once.
pub fn surface(values: usize) -> Vec<f64> {
    (0..values)
        .map(|i| {
            let (x, y) = ((i % ROW) as f64, (i / ROW) as f64);
            2_150.0 + 40.0 * (x / 97.0).sin() * (y / 131.0).cos() + 0.003 * x - 0.002 * y
        })
        .collect()
}

/// Measures every figure `--runs` times.
pub async fn run(env: &Env, report: &mut Report) -> anyhow::Result<()> {
    let settings = &env.settings;
    let setup = env.connect().await?;
    let closer = util::Closer::new(&setup);
    let path = util::unique("arrays");
    let dataspace = util::create_dataspace(&setup, &path).await?;
    let epc = format!(
        "{dataspace}/eml20.obj_EpcExternalPartReference({})",
        etp_protocol::Uuid::new_v4()
    );
    let transactions = setup.supports_protocol(18);
    let largest = settings
        .message_sizes
        .iter()
        .copied()
        .max()
        .unwrap_or(1 << 20);
    let source = Arc::new(surface(
        Plan::new(settings.array_bytes, largest)?.block_bytes() / 8,
    ));
    let result = async {
        for &size in &settings.message_sizes {
            measure_size(env, report, &dataspace, &epc, size, transactions, &source).await?;
        }
        anyhow::Ok(())
    }
    .await;
    util::delete_dataspace(&setup, &dataspace).await;
    closer.close().await?;
    result
}

async fn measure_size(
    env: &Env,
    report: &mut Report,
    dataspace: &str,
    epc: &str,
    size: usize,
    transactions: bool,
    source: &Arc<Vec<f64>>,
) -> anyhow::Result<()> {
    let settings = &env.settings;
    let mib = size >> 20;
    let client = Client::connect(env.client_config_sized(size))
        .await
        .context("cannot open an ETP session")?;
    let closer = util::Closer::new(&client);
    let negotiated = client.max_message_size();
    let plan = Plan::new(settings.array_bytes, negotiated)?;
    let window = settings.window;
    let shape = format!(
        "{} MiB as [{}, {ROW}] float64, {} blocks of {} rows, {window} in flight",
        plan.bytes() >> 20,
        plan.rows,
        plan.blocks(),
        plan.rows_per_block
    );
    let mut put = Series::new(
        "arrays",
        &format!("put_{mib}mib"),
        format!("DataArray put via subarrays, {mib} MiB messages"),
        "MB/s",
        Better::Higher,
    )
    .baseline(
        &format!("baseline.put_limit_{mib}mib"),
        "min(bare WS upload, durable file write)",
    )
    .goal(Goal::RatioAtLeast(0.7))
    .note(format!(
        "{shape}; {}",
        if transactions {
            "in one transaction, commit timed"
        } else {
            "server without Transaction: each PutDataSubarrays auto-commits"
        }
    ));
    let mut get = Series::new(
        "arrays",
        &format!("get_{mib}mib"),
        format!("DataArray get via subarrays, {mib} MiB messages"),
        "MB/s",
        Better::Higher,
    )
    .baseline(
        &format!("bare.download_{mib}mib"),
        "bare WS download, same blocks",
    )
    .goal(Goal::RatioAtLeast(0.7));
    let mut bare_upload = Series::new(
        "arrays",
        &format!("bare_upload_{mib}mib"),
        format!("  baseline: bare WS upload, {mib} MiB blocks"),
        "MB/s",
        Better::Higher,
    );
    let mut disk = Series::new(
        "arrays",
        &format!("durable_write_{mib}mib"),
        format!("  baseline: file write + fsync, {mib} MiB writes"),
        "MB/s",
        Better::Higher,
    )
    .note(format!("written under {}", env.scratch.path().display()));
    if negotiated != size {
        put.add_note(format!("negotiated message size {negotiated} bytes"));
    }

    let array_path = format!("/RESQML/bench/array_{mib}mib");
    for _ in 0..settings.runs {
        let bytes = plan.bytes();
        let blocks = plan.blocks() as u64;
        let (_, elapsed) = BareClient::connect(env.bare.addr())
            .await?
            .pipelined(
                Traffic::Upload(plan.block_bytes()),
                Limit::Count(blocks),
                window,
            )
            .await?;
        let upload = util::mb_per_s(bytes, elapsed);
        let dir = env.scratch.path().to_path_buf();
        let chunk = plan.block_bytes();
        let elapsed =
            tokio::task::spawn_blocking(move || baseline::durable_file_write(&dir, bytes, chunk))
                .await??;
        let durable = util::mb_per_s(bytes, elapsed);
        let mark = util::phase(format!("arrays.put_{mib}mib"));
        let elapsed = etp_put(&client, dataspace, epc, &array_path, plan, window, source).await?;
        drop(mark);
        put.push_pair(util::mb_per_s(bytes, elapsed), upload.min(durable));
        bare_upload.push(upload);
        disk.push(durable);

        let (_, elapsed) = BareClient::connect(env.bare.addr())
            .await?
            .pipelined(
                Traffic::Download(plan.block_bytes()),
                Limit::Count(blocks),
                window,
            )
            .await?;
        let download = util::mb_per_s(bytes, elapsed);
        let mark = util::phase(format!("arrays.get_{mib}mib"));
        let elapsed = etp_get(&client, epc, &array_path, plan, window, source).await?;
        drop(mark);
        get.push_pair(util::mb_per_s(bytes, elapsed), download);
    }
    closer.close().await?;
    report.add(put);
    report.add(bare_upload);
    report.add(disk);
    report.add(get);
    Ok(())
}

fn identifier(epc: &str, path: &str) -> DataArrayIdentifier {
    DataArrayIdentifier {
        uri: epc.to_string(),
        path_in_resource: path.to_string(),
    }
}

/// Values of block `i`: the source, with the block number in the first value so that a
/// misplaced block is caught on the way back.
fn block_values(plan: &Plan, i: usize, source: &[f64]) -> Vec<f64> {
    let (_, rows) = plan.block(i);
    let mut values = source[..rows * ROW].to_vec();
    values[0] = i as f64;
    values
}

/// Uploads the whole array; returns the elapsed time.
pub async fn etp_put(
    client: &Client,
    dataspace: &str,
    epc: &str,
    path: &str,
    plan: Plan,
    window: usize,
    source: &Arc<Vec<f64>>,
) -> anyhow::Result<std::time::Duration> {
    let start = Instant::now();
    let transaction = util::start_transaction(client, dataspace).await?;
    let now = etp_protocol::now_micros();
    let mut arrays = Map::new();
    arrays.insert(
        path.to_string(),
        PutUninitializedDataArrayType {
            uid: identifier(epc, path),
            metadata: DataArrayMetadata {
                dimensions: vec![plan.rows as i64, ROW as i64],
                preferred_subarray_dimensions: Vec::new(),
                transport_array_type: AnyArrayType::ArrayOfDouble,
                logical_array_type: AnyLogicalArrayType::ArrayOfDouble64LE,
                store_last_write: now,
                store_created: now,
                custom_data: Map::new(),
            },
        },
    );
    let created: PutUninitializedDataArraysResponse = client
        .request_one(PutUninitializedDataArrays {
            data_arrays: arrays,
        })
        .await
        .context("PutUninitializedDataArrays")?;
    if !created.success.contains_key(path) {
        bail!("PutUninitializedDataArrays did not confirm {path}");
    }
    let (client2, epc, path2, source) = (
        client.clone(),
        epc.to_string(),
        path.to_string(),
        source.clone(),
    );
    util::in_flight(plan.blocks(), window, move |i| {
        let (client, uid, path, source) = (
            client2.clone(),
            identifier(&epc, &path2),
            path2.clone(),
            source.clone(),
        );
        async move {
            let (first, rows) = plan.block(i);
            let mut subarrays = Map::new();
            subarrays.insert(
                path.clone(),
                PutDataSubarraysType {
                    uid,
                    data: AnyArray {
                        item: AnyArrayItem::ArrayOfDouble(ArrayOfDouble {
                            values: block_values(&plan, i, &source),
                        }),
                    },
                    starts: vec![first as i64, 0],
                    counts: vec![rows as i64, ROW as i64],
                },
            );
            let answer: PutDataSubarraysResponse = client
                .request_one(PutDataSubarrays {
                    data_subarrays: subarrays,
                })
                .await
                .with_context(|| format!("PutDataSubarrays block {i}"))?;
            if !answer.success.contains_key(&path) {
                bail!("PutDataSubarrays block {i} not confirmed");
            }
            Ok(())
        }
    })
    .await?;
    util::commit(client, transaction).await?;
    Ok(start.elapsed())
}

/// Downloads the whole array, checking every block; returns the elapsed time.
pub async fn etp_get(
    client: &Client,
    epc: &str,
    path: &str,
    plan: Plan,
    window: usize,
    source: &Arc<Vec<f64>>,
) -> anyhow::Result<std::time::Duration> {
    let start = Instant::now();
    let (client, epc, path, source) = (
        client.clone(),
        epc.to_string(),
        path.to_string(),
        source.clone(),
    );
    util::in_flight(plan.blocks(), window, move |i| {
        let (client, uid, source) = (client.clone(), identifier(&epc, &path), source.clone());
        async move {
            let (first, rows) = plan.block(i);
            let key = format!("block {i}");
            let mut subarrays = Map::new();
            subarrays.insert(
                key.clone(),
                GetDataSubarraysType {
                    uid,
                    starts: vec![first as i64, 0],
                    counts: vec![rows as i64, ROW as i64],
                },
            );
            let answer: GetDataSubarraysResponse = client
                .request_one(GetDataSubarrays {
                    data_subarrays: subarrays,
                })
                .await
                .with_context(|| format!("GetDataSubarrays block {i}"))?;
            let array = answer
                .data_subarrays
                .get(&key)
                .with_context(|| format!("GetDataSubarrays block {i}: key missing"))?;
            let AnyArrayItem::ArrayOfDouble(doubles) = &array.data.item else {
                bail!("GetDataSubarrays block {i}: not arrayOfDouble");
            };
            let values = &doubles.values;
            let n = rows * ROW;
            if values.len() != n || values[0] != i as f64 || values[n - 1] != source[n - 1] {
                bail!("GetDataSubarrays block {i}: wrong values");
            }
            Ok(())
        }
    })
    .await?;
    Ok(start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_split_whole_rows_within_the_message_budget() {
        let plan = Plan::new(1 << 30, 1 << 20).unwrap();
        assert_eq!(plan.rows, 131_072);
        assert_eq!(plan.rows_per_block, 127);
        assert!(plan.block_bytes() + MARGIN <= 1 << 20);
        assert_eq!(plan.blocks(), 1033);
        let (first, rows) = plan.block(plan.blocks() - 1);
        assert_eq!(first + rows, plan.rows);
        assert_eq!(plan.bytes(), 1 << 30);

        let small = Plan::new(1 << 20, 16 << 20).unwrap();
        assert_eq!(
            (small.rows, small.rows_per_block, small.blocks()),
            (128, 128, 1)
        );
        assert!(Plan::new(1 << 20, 5000).is_err());
    }

    #[test]
    fn blocks_carry_their_number() {
        let plan = Plan::new(4 << 20, 1 << 20).unwrap();
        let source = surface(plan.block_bytes() / 8);
        let last = plan.blocks() - 1;
        let values = block_values(&plan, last, &source);
        assert_eq!(values.len(), plan.block(last).1 * ROW);
        assert_eq!(values[0], last as f64);
    }
}
