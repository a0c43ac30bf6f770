//! Helpers shared by the figure families: bounded concurrency, dataspaces, transactions,
//! process limits and memory.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use etp_client::Client;
use etp_protocol::Uuid;
use etp_protocol::codec::Map;
use etp_protocol::types::datatypes::object::Dataspace;
use etp_protocol::types::protocol::dataspace::{
    DeleteDataspaces, DeleteDataspacesResponse, PutDataspaces, PutDataspacesResponse,
};
use etp_protocol::types::protocol::transaction::{
    CommitTransaction, CommitTransactionResponse, StartTransaction, StartTransactionResponse,
};

/// Serializes a duration as seconds.
pub fn serialize_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Runs `op(0..count)` with at most `window` calls in flight, each on its own task; stops
/// at the first error.
pub async fn in_flight<F, Fut>(count: usize, window: usize, op: F) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..window.clamp(1, count.max(1)) {
        let op = op.clone();
        let next = next.clone();
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return anyhow::Ok(());
                }
                op(i).await?;
            }
        });
    }
    // Dropping the set on an early return aborts the other workers.
    while let Some(joined) = workers.join_next().await {
        joined.context("bench worker panicked")??;
    }
    Ok(())
}

/// Runs `op(worker)` in a loop on `workers` tasks until `duration` has passed; returns
/// the completed calls per second (the clock stops when the last call returns).
pub async fn rate<F, Fut>(workers: usize, duration: Duration, op: F) -> anyhow::Result<f64>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let start = std::time::Instant::now();
    let deadline = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workers.max(1) {
        let op = op.clone();
        tasks.spawn(async move {
            let mut done = 0u64;
            while std::time::Instant::now() < deadline {
                op(worker).await?;
                done += 1;
            }
            anyhow::Ok(done)
        });
    }
    let mut total = 0u64;
    while let Some(joined) = tasks.join_next().await {
        total += joined.context("bench worker panicked")??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64().max(1e-9))
}

/// Closes a session however the family ends: [`Closer::close`] on success, in the
/// background when dropped on an error path (so the server is not left waiting for an
/// abandoned session at shutdown).
pub struct Closer(Option<Client>);

impl Closer {
    /// Guards `client` (a clone; every clone shares the session).
    pub fn new(client: &Client) -> Closer {
        Closer(Some(client.clone()))
    }

    /// Closes the session now.
    pub async fn close(mut self) -> anyhow::Result<()> {
        if let Some(client) = self.0.take() {
            client.close("etp bench").await?;
        }
        Ok(())
    }
}

impl Drop for Closer {
    fn drop(&mut self) {
        if let (Some(client), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(async move {
                let _ = client.close("etp bench failed").await;
            });
        }
    }
}

/// Whether `--mark-phases` was given.
static MARK_PHASES: AtomicBool = AtomicBool::new(false);

/// Turns phase marks on (see [`phase`]).
pub fn enable_phase_marks() {
    MARK_PHASES.store(true, Ordering::Relaxed);
}

/// Seconds of `CLOCK_MONOTONIC`, the clock `perf record -k CLOCK_MONOTONIC` stamps
/// samples with.
fn monotonic_secs() -> f64 {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime only writes the struct passed by pointer.
        if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } == 0 {
            return ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9;
        }
    }
    0.0
}

/// A measured phase: with `--mark-phases`, `phase <name> <start> <end>` (monotonic
/// seconds) goes to stderr when it ends, so that a profile can be cut to exactly the
/// timed work with `perf script --time <start>,<end>`.
pub struct Phase {
    name: String,
    start: f64,
}

/// Starts a phase (a no-op unless `--mark-phases`).
pub fn phase(name: impl Into<String>) -> Option<Phase> {
    MARK_PHASES.load(Ordering::Relaxed).then(|| Phase {
        name: name.into(),
        start: monotonic_secs(),
    })
}

impl Drop for Phase {
    fn drop(&mut self) {
        eprintln!(
            "phase {} {:.6} {:.6}",
            self.name,
            self.start,
            monotonic_secs()
        );
    }
}

/// A name unique to this bench process, for dataspaces on shared servers.
pub fn unique(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("etp-bench/{}-{nanos:x}/{tag}", std::process::id())
}

/// `eml:///dataspace('<path>')`.
pub fn dataspace_uri(path: &str) -> String {
    format!("eml:///dataspace('{path}')")
}

/// Creates a dataspace (PutDataspaces) and checks it was accepted.
pub async fn create_dataspace(client: &Client, path: &str) -> anyhow::Result<String> {
    let uri = dataspace_uri(path);
    let now = etp_protocol::now_micros();
    let mut dataspaces = Map::new();
    dataspaces.insert(
        uri.clone().into(),
        Dataspace {
            uri: uri.clone().into(),
            path: path.to_string().into(),
            store_last_write: now,
            store_created: now,
            custom_data: Map::new(),
        },
    );
    let answers: Vec<PutDataspacesResponse> = client
        .request_all(PutDataspaces { dataspaces })
        .await
        .with_context(|| format!("cannot create dataspace {path}"))?;
    if !answers.iter().any(|a| a.success.contains_key(uri.as_str())) {
        bail!("PutDataspaces did not confirm {uri}");
    }
    Ok(uri)
}

/// Deletes a dataspace; failures are only logged (cleanup).
pub async fn delete_dataspace(client: &Client, uri: &str) {
    let mut uris = Map::new();
    uris.insert(uri.to_string().into(), uri.to_string().into());
    if let Err(e) = client
        .request_all::<DeleteDataspacesResponse>(DeleteDataspaces { uris })
        .await
    {
        tracing::warn!("cannot delete dataspace {uri}: {e}");
    }
}

/// A write transaction on one dataspace when the server offers Transaction (18); `None`
/// means requests auto-commit one by one.
pub async fn start_transaction(client: &Client, dataspace: &str) -> anyhow::Result<Option<Uuid>> {
    if !client.supports_protocol(18) {
        return Ok(None);
    }
    let answer: StartTransactionResponse = client
        .request_one(StartTransaction {
            read_only: false,
            message: "etp bench".into(),
            dataspace_uris: vec![dataspace.to_string().into()].into(),
        })
        .await
        .context("StartTransaction")?;
    if !answer.successful {
        bail!("StartTransaction refused: {}", answer.failure_reason);
    }
    Ok(Some(answer.transaction_uuid))
}

/// Commits what [`start_transaction`] opened.
pub async fn commit(client: &Client, transaction: Option<Uuid>) -> anyhow::Result<()> {
    let Some(transaction_uuid) = transaction else {
        return Ok(());
    };
    let answer: CommitTransactionResponse = client
        .request_one(CommitTransaction { transaction_uuid })
        .await
        .context("CommitTransaction")?;
    if !answer.successful {
        bail!("CommitTransaction failed: {}", answer.failure_reason);
    }
    Ok(())
}

/// Raises the soft open-file limit to the hard one (10,000 sessions need 10,000
/// descriptors on each side); returns (soft, hard) afterwards.
#[cfg(unix)]
pub fn raise_fd_limit() -> std::io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer, which
    // lives for the duration of each call.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    // rlim_t is u64 on Linux but not on every Unix.
    #[allow(clippy::unnecessary_cast)]
    Ok((limit.rlim_cur as u64, limit.rlim_max as u64))
}

/// Not available: the memory figure is Linux-only anyway.
#[cfg(not(unix))]
pub fn raise_fd_limit() -> std::io::Result<(u64, u64)> {
    Err(std::io::Error::other("not supported on this platform"))
}

/// The soft open-file limit.
pub fn fd_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as in `raise_fd_limit`.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
        // rlim_t is u64 on Linux but not on every Unix.
        #[allow(clippy::unnecessary_cast)]
        ok.then_some(limit.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    None
}

/// Resident set size of a process, bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read the memory of process {pid}"))?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .context("no VmRSS in /proc/<pid>/status")
}

/// CPU seconds this process has used (user + system), from `/proc/self/stat`.
fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| (utime + stime) / ticks as f64)
}

/// Waits until this process is nearly idle (below a tenth of a core over 250 ms), at
/// most `limit`: the store engines flush and compact in background threads after big
/// writes, and a read figure should not measure the tail of the write before it.
/// Returns how long it waited.
pub async fn settle(limit: Duration) -> Duration {
    let start = std::time::Instant::now();
    let window = Duration::from_millis(250);
    while start.elapsed() < limit {
        let Some(before) = process_cpu_secs() else {
            break;
        };
        tokio::time::sleep(window).await;
        let Some(after) = process_cpu_secs() else {
            break;
        };
        if (after - before) / window.as_secs_f64() < 0.1 {
            break;
        }
    }
    start.elapsed()
}

/// Bytes per second as decimal MB/s.
pub fn mb_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64().max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_flight_runs_every_index_once_and_stops_on_error() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = seen.clone();
        in_flight(50, 7, move |i| {
            let s = s.clone();
            async move {
                s.lock().unwrap().push(i);
                Ok(())
            }
        })
        .await
        .unwrap();
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        let failed = in_flight(10, 3, |i| async move {
            if i == 4 {
                bail!("boom")
            }
            Ok(())
        })
        .await;
        assert!(failed.is_err());
    }

    #[tokio::test]
    async fn an_idle_process_settles_at_once() {
        assert!(process_cpu_secs().is_some());
        assert!(settle(Duration::from_secs(5)).await < Duration::from_secs(5));
    }

    #[test]
    fn own_rss_is_readable() {
        assert!(rss_bytes(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn names() {
        assert_eq!(dataspace_uri("a/b"), "eml:///dataspace('a/b')");
        assert!(unique("x").starts_with("etp-bench/"));
        assert!(unique("x").ends_with("/x"));
    }
}
