//! DataArray: put and get of a big float64 array (1 GiB by default) through subarrays, at
//! each negotiated message size (1, 8 and 16 MiB by default).
//!
//! The array is `[rows, 1024]` doubles, moved with `etp_client::ops::put_array` and
//! `get_array`, the code behind `etp array`: blocks of whole rows filling the negotiated
//! message size minus the client's allowance for the rest of the message (as pyetp and
//! fetpapi split arrays, 12-dataarray.md §5), `--window` requests in flight on one session.
//! Put = PutUninitializedDataArrays, every PutDataSubarrays, and the commit when the server
//! offers transactions; get = GetDataArrayMetadata and every GetDataSubarrays with
//! `ops::get_array_vec`: the whole array into one vector, as an application loads an array
//! into memory (pyetp's `get_array` returns a numpy array), each block's values received
//! by the session's reader straight into their place. The vector is allocated and touched
//! once, before the first get, and reused; every value is checked after each get (outside
//! the timing), then overwritten with NaN so that the next get has to fill it again. MB/s
//! are decimal megabytes of array values per second.
//!
//! Where the get reads from: every run puts the array anew (new chunks), so each get reads
//! chunks written moments before and never read since. Since store format 3 array chunks
//! live in segment files outside the engine and its cache: every get is served from those
//! files, through the operating system's page cache (which holds them on a machine with
//! memory to spare). A second get of the same array follows (`get_cached_*`, same
//! baseline): the same path, with the page cache warm from the first get.
//!
//! Baselines, in the same run, replaying the blocks the client just moved (same count,
//! same size, same window): bare WebSocket upload (each block acknowledged) and download
//! (each block requested), and the same bytes written to a file next to the store and
//! fsync'd. The put's baseline is min(bare upload, durable file write): a durable put can
//! beat neither. The file write runs right before and right after every put, and the
//! put's ratio of that run uses the mean of the two; each of the three starts once the
//! process is idle and the file system has written back everything dirty (`syncfs`), so
//! none of them pays for the writeback of another.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use etp_client::Client;
use etp_client::ops::{self, ArraySource, ArrayTransfer, ArrayValues, BlockWriter};
use etp_protocol::types::datatypes::data_array_types::DataArrayIdentifier;
use etp_protocol::types::datatypes::{AnyArrayType, AnyLogicalArrayType};

use super::Env;
use super::baseline::{self, BareClient, Limit, Traffic};
use super::report::{Better, Goal, Report, Series};
use super::util;

/// Values per row (8 KiB rows).
pub const ROW: usize = 1024;
/// Bytes pyetp leaves in each message for everything but the values.
pub const MARGIN: usize = 4096;
/// Longest wait for the process to go idle before a timed transfer.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);

/// The array's shape: whole rows of [`ROW`] doubles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Rows of the array.
    pub rows: usize,
}

impl Shape {
    /// Enough rows for `array_bytes` of doubles (at least one).
    pub fn for_bytes(array_bytes: u64) -> anyhow::Result<Shape> {
        let rows = usize::try_from(array_bytes)?.div_ceil(ROW * 8).max(1);
        Ok(Shape { rows })
    }

    /// Bytes of values in the whole array.
    pub fn bytes(&self) -> u64 {
        (self.rows * ROW * 8) as u64
    }

    /// Values in the whole array.
    pub fn values(&self) -> usize {
        self.rows * ROW
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
    // No block can carry more values than its message has bytes / 8.
    let source = Arc::new(surface(largest / 8));
    // The whole array, reused by every get: touched now (NaN, not zero, so that no page
    // is left to fault in during a timed get).
    let mut destination = vec![f64::NAN; Shape::for_bytes(settings.array_bytes)?.values()];
    let result = async {
        for &size in &settings.message_sizes {
            measure_size(
                env,
                report,
                (&dataspace, &epc),
                size,
                transactions,
                &source,
                &mut destination,
            )
            .await?;
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
    (dataspace, epc): (&str, &str),
    size: usize,
    transactions: bool,
    source: &Arc<Vec<f64>>,
    destination: &mut Vec<f64>,
) -> anyhow::Result<()> {
    let settings = &env.settings;
    let mib = size >> 20;
    let client = Client::connect(env.client_config_sized(size))
        .await
        .context("cannot open an ETP session")?;
    let closer = util::Closer::new(&client);
    let negotiated = client.max_message_size();
    let plan = Shape::for_bytes(settings.array_bytes)?;
    let window = settings.window;
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
    .goal(Goal::RatioAtLeast(0.7));
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
    let mut get_cached = Series::new(
        "arrays",
        &format!("get_cached_{mib}mib"),
        format!("DataArray get again (read before), {mib} MiB messages"),
        "MB/s",
        Better::Higher,
    )
    .baseline(
        &format!("bare.download_{mib}mib"),
        "bare WS download, same blocks",
    );
    let mut bare_upload = Series::new(
        "arrays",
        &format!("bare_upload_{mib}mib"),
        format!("  baseline: bare WS upload, {mib} MiB messages"),
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

    // One array for every size: each put re-creates it, so the disk holds one copy.
    let array_path = "/RESQML/bench/values".to_string();
    let bytes = plan.bytes();
    let dir = env.scratch.path().to_path_buf();
    // Writes of the put's block size (the message size until the first put has run).
    let mut write_size = size;
    for run in 0..settings.runs {
        // The disk baseline is measured right before and right after each put, each
        // write (and the put) starting with nothing left to write back: measured only
        // after the put, it swung 315 → 1,371 MB/s between runs D and E with the
        // writeback of the put still under way.
        let before = durable_write(&dir, bytes, write_size).await?;
        quiesce(&dir).await?;
        let mark = util::phase(format!("arrays.put_{mib}mib"));
        let (sent, layout) = etp_put(
            &client,
            dataspace,
            epc,
            &array_path,
            plan.rows,
            window,
            source,
        )
        .await?;
        drop(mark);
        // The store writes the chunks to its blob files after the commit, in the
        // background: that writeback is over before the file write after the put starts.
        write_size = sent.max_block_bytes();
        let after = durable_write(&dir, bytes, write_size).await?;
        // The baselines replay the blocks the client just sent: same count, same size.
        let bare = BareClient::connect(env.bare_addr()).await?;
        let mark = util::phase(format!("arrays.bare_upload_{mib}mib"));
        let (_, elapsed) = bare
            .pipelined(
                Traffic::Upload(sent.max_block_bytes()),
                Limit::Count(sent.blocks),
                window,
            )
            .await?;
        drop(mark);
        let upload = util::mb_per_s(sent.blocks * sent.max_block_bytes() as u64, elapsed);
        let durable = (before + after) / 2.0;
        put.push_pair(util::mb_per_s(bytes, sent.elapsed), upload.min(durable));
        bare_upload.push(upload);
        disk.push(before);
        disk.push(after);

        util::settle(SETTLE_LIMIT).await;
        let landed_before = client.landed_answers();
        let mark = util::phase(format!("arrays.get_{mib}mib"));
        let received = etp_get(&client, epc, &array_path, window, destination).await?;
        drop(mark);
        let landed = client.landed_answers() - landed_before;
        layout.check(destination, source)?;
        // Plan and block size follow from the message size and the store's preferred
        // block, as the put's did: the baseline replays the put's blocks.
        let received = Transfer {
            elapsed: received,
            ..sent
        };
        let bare = BareClient::connect(env.bare_addr()).await?;
        let mark = util::phase(format!("arrays.bare_download_{mib}mib"));
        let (_, elapsed) = bare
            .pipelined(
                Traffic::Download(received.max_block_bytes()),
                Limit::Count(received.blocks),
                window,
            )
            .await?;
        drop(mark);
        let download = util::mb_per_s(received.blocks * received.max_block_bytes() as u64, elapsed);
        get.push_pair(util::mb_per_s(bytes, received.elapsed), download);

        util::settle(SETTLE_LIMIT).await;
        let mark = util::phase(format!("arrays.get_cached_{mib}mib"));
        let again = etp_get(&client, epc, &array_path, window, destination).await?;
        drop(mark);
        layout.check(destination, source)?;
        get_cached.push_pair(util::mb_per_s(bytes, again), download);
        if run == 0 {
            put.add_note(format!(
                "{} MiB as [{}, {ROW}] float64 in {} blocks of up to {} rows, {window} in flight \
                 (etp-client ops::put_array); {}",
                bytes >> 20,
                plan.rows,
                sent.blocks,
                sent.max_block_values / ROW,
                if transactions {
                    "in one transaction, commit timed"
                } else {
                    "server without Transaction: each PutDataSubarrays auto-commits"
                }
            ));
            get.add_note(format!(
                "{} blocks of up to {} rows, {window} in flight, received into one vector \
                 (ops::get_array_vec, metadata request included); {landed} of them received \
                 in place by the session's reader (any others copied)",
                received.blocks,
                received.max_block_values / ROW,
            ));
        }
    }
    closer.close().await?;
    report.add(put);
    report.add(bare_upload);
    report.add(disk);
    report.add(get);
    get_cached.add_note(
        "read from the store's segment files again (array chunks bypass the server's cache \
         since store format 3; the OS page cache holds them)"
            .to_string(),
    );
    report.add(get_cached);
    Ok(())
}

/// Waits until the process is idle and the file system holding `dir` has nothing left
/// to write back.
async fn quiesce(dir: &std::path::Path) -> anyhow::Result<()> {
    util::settle(SETTLE_LIMIT).await;
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || baseline::write_back(&dir)).await??;
    Ok(())
}

/// One durable file write of `bytes` in `chunk`-byte writes, from a quiet start; MB/s.
async fn durable_write(dir: &std::path::Path, bytes: u64, chunk: usize) -> anyhow::Result<f64> {
    quiesce(dir).await?;
    let dir = dir.to_path_buf();
    let elapsed =
        tokio::task::spawn_blocking(move || baseline::durable_file_write(&dir, bytes, chunk))
            .await??;
    Ok(util::mb_per_s(bytes, elapsed))
}

fn identifier(epc: &str, path: &str) -> DataArrayIdentifier {
    DataArrayIdentifier {
        uri: epc.to_string().into(),
        path_in_resource: path.to_string().into(),
    }
}

/// What one ETP transfer did.
#[derive(Debug, Clone, Copy)]
pub struct Transfer {
    /// Wall-clock time, from the first request to the last answer (and the commit).
    pub elapsed: Duration,
    /// Blocks sent or received.
    pub blocks: u64,
    /// Values in the largest block.
    pub max_block_values: usize,
}

impl Transfer {
    /// Bytes of float64 values in the largest block.
    pub fn max_block_bytes(&self) -> usize {
        self.max_block_values * 8
    }
}

/// Serves the upload's blocks from the shared source values, with the block's flat
/// offset in its first value so that a misplaced block is caught on the way back.
struct Source {
    values: Arc<Vec<f64>>,
    blocks: u64,
    max_block_values: usize,
    layout: Layout,
}

/// The blocks an upload sent (offset, values), in order: what a download must give back.
#[derive(Debug, Clone, Default)]
pub struct Layout(Vec<(u64, usize)>);

impl Layout {
    /// Checks every value of a downloaded array against the blocks [`Source`] sent, then
    /// overwrites it with NaN, so that a download that leaves values in place fails the
    /// next check.
    pub fn check(&self, array: &mut [f64], values: &[f64]) -> anyhow::Result<()> {
        let mut next = 0u64;
        for &(offset, n) in &self.0 {
            anyhow::ensure!(offset == next, "the upload's blocks left a gap at {next}");
            let start = usize::try_from(offset)?;
            let got = array
                .get(start..start + n)
                .with_context(|| format!("the download is shorter than the block at {offset}"))?;
            let expected = values
                .get(1..n)
                .with_context(|| format!("a block of {n} values was sent"))?;
            let intact = n > 0 && got[0] == offset as f64 && &got[1..] == expected;
            anyhow::ensure!(
                intact,
                "block at offset {offset} ({n} values) came back wrong"
            );
            next += n as u64;
        }
        anyhow::ensure!(
            next == array.len() as u64,
            "{} values downloaded, {next} uploaded",
            array.len()
        );
        array.fill(f64::NAN);
        Ok(())
    }
}

impl ArraySource for Source {
    fn read(&mut self, offset: u64, count: usize) -> std::io::Result<ArrayValues> {
        let Some(values) = self.values.get(..count) else {
            return Err(std::io::Error::other(format!(
                "a block of {count} values is larger than the {} prepared",
                self.values.len()
            )));
        };
        let mut block = values.to_vec();
        if let Some(first) = block.first_mut() {
            *first = offset as f64;
        }
        self.blocks += 1;
        self.max_block_values = self.max_block_values.max(count);
        self.layout.0.push((offset, count));
        Ok(ArrayValues::Double(block))
    }

    /// The same values, copied once: from the shared source straight into the message.
    fn read_into(
        &mut self,
        offset: u64,
        count: usize,
        out: &mut BlockWriter<'_>,
    ) -> std::io::Result<()> {
        let Some(values) = self.values.get(..count) else {
            return Err(std::io::Error::other(format!(
                "a block of {count} values is larger than the {} prepared",
                self.values.len()
            )));
        };
        if let Some((_, rest)) = values.split_first() {
            out.write_f64s(&[offset as f64])?;
            out.write_f64s(rest)?;
        }
        self.blocks += 1;
        self.max_block_values = self.max_block_values.max(count);
        self.layout.0.push((offset, count));
        Ok(())
    }
}

fn transfer_options(window: usize) -> ArrayTransfer {
    ArrayTransfer {
        max_in_flight: window,
        ..ArrayTransfer::default()
    }
}

/// Uploads the whole array with `etp_client::ops::put_array` (inside a transaction when
/// the server has them); returns what it took and the blocks it sent.
pub async fn etp_put(
    client: &Client,
    dataspace: &str,
    epc: &str,
    path: &str,
    rows: usize,
    window: usize,
    values: &Arc<Vec<f64>>,
) -> anyhow::Result<(Transfer, Layout)> {
    let start = Instant::now();
    let transaction = util::start_transaction(client, dataspace).await?;
    let mut source = Source {
        values: values.clone(),
        blocks: 0,
        max_block_values: 0,
        layout: Layout::default(),
    };
    ops::put_array(
        client,
        &identifier(epc, path),
        &[rows as u64, ROW as u64],
        AnyArrayType::ArrayOfDouble,
        AnyLogicalArrayType::ArrayOfDouble64LE,
        &mut source,
        &transfer_options(window),
    )
    .await
    .context("put_array")?;
    util::commit(client, transaction).await?;
    let sent = Transfer {
        elapsed: start.elapsed(),
        blocks: source.blocks,
        max_block_values: source.max_block_values,
    };
    Ok((sent, source.layout))
}

/// Downloads the whole array into `destination` (already the array's length, so that no
/// allocation or page fault is timed) with `etp_client::ops::get_array_vec`; returns how
/// long it took.
pub async fn etp_get(
    client: &Client,
    epc: &str,
    path: &str,
    window: usize,
    destination: &mut Vec<f64>,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    ops::get_array_vec(
        client,
        &identifier(epc, path),
        destination,
        &transfer_options(window),
    )
    .await
    .context("get_array_vec")?;
    Ok(start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_whole_rows() {
        let shape = Shape::for_bytes(1 << 30).unwrap();
        assert_eq!(shape.rows, 131_072);
        assert_eq!(shape.bytes(), 1 << 30);
        assert_eq!(Shape::for_bytes(1).unwrap().rows, 1);
        assert_eq!(Shape::for_bytes(8193).unwrap().bytes(), 16_384);
    }

    #[test]
    fn the_check_accepts_exactly_what_the_source_sent() {
        let values = Arc::new(surface(2 * ROW));
        let mut source = Source {
            values: values.clone(),
            blocks: 0,
            max_block_values: 0,
            layout: Layout::default(),
        };
        // What a download of three blocks of 2, 2 and 1 rows gives back.
        let mut array = Vec::new();
        for (offset, count) in [(0u64, 2 * ROW), (2048, 2 * ROW), (4096, ROW)] {
            let ArrayValues::Double(block) = source.read(offset, count).unwrap() else {
                panic!("the source gives doubles");
            };
            array.extend(block);
        }
        assert_eq!((source.blocks, source.max_block_values), (3, 2 * ROW));
        let intact = array.clone();
        source.layout.check(&mut array, &values).unwrap();
        assert!(
            array.iter().all(|v| v.is_nan()),
            "poisoned for the next get"
        );
        assert!(
            source.layout.check(&mut array, &values).is_err(),
            "a download that left the array alone"
        );
        for (at, what) in [
            (0, "first value"),
            (2048, "a block's offset"),
            (5119, "last"),
        ] {
            let mut array = intact.clone();
            array[at] += 1.0;
            assert!(source.layout.check(&mut array, &values).is_err(), "{what}");
        }
        let mut short = intact[..4096].to_vec();
        assert!(source.layout.check(&mut short, &values).is_err(), "short");
        let mut long = intact.clone();
        long.push(0.0);
        assert!(source.layout.check(&mut long, &values).is_err(), "long");
        assert!(source.read(0, 3 * ROW).is_err(), "more than prepared");
    }
}
