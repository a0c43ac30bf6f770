//! Server memory per idle session, and whether 10,000 concurrent sessions are held.
//!
//! Method: the server runs in a **child process** (`etp serve` from this same binary, on
//! loopback with a fresh data directory), so its resident set contains no client memory;
//! the idle clients live in the bench process. After a warm-up session, the child's RSS
//! (`VmRSS` of `/proc/<pid>/status`) is sampled, N sessions are opened (64 connecting at a
//! time) and left idle for a moment, and RSS is sampled again: bytes per session =
//! (after − before) / N. Then every session is pinged once, which proves it is still
//! held. A fresh child is started for every count and run. With `--url`, the same is
//! done against `--server-pid` (a server on this machine), or the family is skipped.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use etp_client::{Client, ClientConfig};

use super::Env;
use super::report::{Better, Goal, Report, Series};
use super::util;

/// Sessions connecting at the same time.
const CONNECTING: usize = 64;
/// Descriptors kept free for everything else (store files, stdio, listeners).
const SPARE_FDS: u64 = 256;
/// Target of the issue: 64 KiB per idle session.
const TARGET_KIB: f64 = 64.0;

/// Measures every count `--runs` times.
pub async fn run(env: &Env, report: &mut Report) -> anyhow::Result<()> {
    let settings = &env.settings;
    if !env.in_process() && env.server_pid.is_none() {
        report.skip(
            "memory",
            "with --url the server's memory cannot be sampled; give --server-pid for a server on this machine",
        );
        return Ok(());
    }
    if !Path::new("/proc/self/status").exists() {
        report.skip("memory", "needs /proc (Linux)");
        return Ok(());
    }
    let method = if env.in_process() {
        "server in a child `etp serve` process, clients in the bench process: client memory not included"
    } else {
        "RSS of --server-pid; clients in the bench process"
    };
    for &count in &settings.idle_sessions {
        if let Some(limit) = util::fd_limit()
            && (count as u64) + SPARE_FDS > limit
        {
            report.skip(
                "memory",
                format!("{count} sessions need more than the open file limit {limit}"),
            );
            continue;
        }
        let mut per_session = Series::new(
            "memory",
            &format!("rss_per_session_{count}"),
            format!("server RSS per idle session, {count} sessions"),
            "KiB",
            Better::Lower,
        )
        .goal(Goal::AtMost(TARGET_KIB))
        .note(method);
        let mut held = Series::new(
            "memory",
            &format!("sessions_held_{count}"),
            format!("idle sessions held without error, of {count}"),
            "sessions",
            Better::Higher,
        )
        .goal(Goal::AtLeast(count as f64));
        for _ in 0..settings.runs {
            let server = if env.in_process() {
                Some(ChildServer::start(env.scratch.path(), count).await?)
            } else {
                None
            };
            let (pid, config) = match &server {
                Some(s) => (s.pid, s.client_config(env)),
                None => (env.server_pid.context("--server-pid")?, env.client_config()),
            };
            let result = measure(config, pid, count).await;
            if let Some(server) = server {
                server.stop().await;
            }
            let (bytes_per_session, alive) = result?;
            per_session.push(bytes_per_session / 1024.0);
            held.push(alive as f64);
        }
        report.add(per_session);
        report.add(held);
    }
    Ok(())
}

/// Opens `count` idle sessions; returns (RSS bytes per session, sessions still answering).
async fn measure(config: ClientConfig, pid: u32, count: usize) -> anyhow::Result<(f64, usize)> {
    // Warm-up: lazily initialised state and allocator arenas are not per-session costs.
    for _ in 0..4 {
        let client = Client::connect(config.clone()).await?;
        client.ping().await?;
        client.close("warm-up").await?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = sample_rss(pid).await?;

    let opened = Arc::new(std::sync::Mutex::new(Vec::with_capacity(count)));
    let failures = Arc::new(AtomicUsize::new(0));
    let (sink, errors) = (opened.clone(), failures.clone());
    util::in_flight(count, CONNECTING, move |_| {
        let (config, sink, errors) = (config.clone(), sink.clone(), errors.clone());
        async move {
            match Client::connect(config).await {
                Ok(client) => sink.lock().unwrap_or_else(|e| e.into_inner()).push(client),
                Err(e) => {
                    if errors.fetch_add(1, Ordering::Relaxed) == 0 {
                        tracing::warn!("session failed to open: {e}");
                    }
                }
            }
            Ok(())
        }
    })
    .await?;
    let clients = std::mem::take(&mut *opened.lock().unwrap_or_else(|e| e.into_inner()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = sample_rss(pid).await?;
    let failed = failures.load(Ordering::Relaxed);

    let clients = Arc::new(clients);
    let alive = Arc::new(AtomicUsize::new(0));
    let (pinged, answered) = (clients.clone(), alive.clone());
    util::in_flight(clients.len(), CONNECTING, move |i| {
        let (client, answered) = (pinged[i].clone(), answered.clone());
        async move {
            if client
                .ping_with_timeout(Duration::from_secs(30))
                .await
                .is_ok()
            {
                answered.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }
    })
    .await?;
    super::ping::close_all(clients).await;
    if failed == count {
        bail!("no session could be opened");
    }
    let per_session = after.saturating_sub(before) as f64 / (count - failed) as f64;
    Ok((per_session, alive.load(Ordering::Relaxed)))
}

/// Median of three RSS samples 100 ms apart.
async fn sample_rss(pid: u32) -> anyhow::Result<u64> {
    let mut samples = Vec::with_capacity(3);
    for i in 0..3 {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        samples.push(util::rss_bytes(pid)?);
    }
    samples.sort_unstable();
    Ok(samples[1])
}

/// `etp serve` in a child process.
struct ChildServer {
    child: tokio::process::Child,
    pid: u32,
    url: String,
    _data_dir: tempfile::TempDir,
}

impl ChildServer {
    /// Starts `<this binary> serve` on a free loopback port, for up to `sessions`
    /// sessions, and waits until it accepts sessions.
    async fn start(scratch: &Path, sessions: usize) -> anyhow::Result<ChildServer> {
        let exe = std::env::current_exe().context("cannot find the etp binary")?;
        let data_dir = tempfile::Builder::new()
            .prefix("memory-server-")
            .tempdir_in(scratch)?;
        // The port is free now; the child binds it a moment later (a race only with
        // another process grabbing the same ephemeral port in between).
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = std::fs::File::create(data_dir.path().join("server.log"))?;
        let mut child = tokio::process::Command::new(exe)
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data_dir.path().join("data"))
            .arg("--max-sessions")
            .arg((sessions + 64).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("cannot start `etp serve`")?;
        let pid = child.id().context("the server exited at once")?;
        let url = format!("ws://127.0.0.1:{port}/");
        let mut config = ClientConfig::new(url.clone());
        config.connect_timeout = Duration::from_secs(2);
        for _ in 0..100 {
            if let Some(status) = child.try_wait()? {
                bail!("`etp serve` exited with {status}");
            }
            if let Ok(client) = Client::connect(config.clone()).await {
                client.close("ready").await?;
                return Ok(ChildServer {
                    child,
                    pid,
                    url,
                    _data_dir: data_dir,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = child.kill().await;
        bail!("`etp serve` did not accept sessions within 10 s")
    }

    fn client_config(&self, env: &Env) -> ClientConfig {
        let mut config = env.client_config();
        config.url = self.url.clone();
        config
    }

    /// Stops the child (SIGKILL: its data directory is thrown away anyway).
    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
