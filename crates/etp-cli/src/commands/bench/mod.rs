//! `etp bench`: end-to-end figures of an ETP server, each next to a baseline measured in
//! the same run, because on small shared machines only ratios are reproducible.
//!
//! By default the bench starts the server in-process on 127.0.0.1 with a fresh temporary
//! data directory (on its own tokio runtime with one worker per CPU, as `etp serve` has);
//! with `--url` it measures any ETP 1.2 endpoint instead (the local baselines then
//! describe this machine, not the server's). Families of figures (`--only`):
//!
//! | family | figures | baseline |
//! |---|---|---|
//! | `session` | session open + close per second | bare WebSocket connect + close |
//! | `ping` | Ping/Pong latency p50/p99, round trips/s with 1, 16, 64 sessions and pipelined | bare WebSocket echo, same sizes and connections |
//! | `objects` | PutDataObjects / GetDataObjects of 20 KiB RESQML, 1 and 100 per message | the store engine doing the same writes and reads in-process |
//! | `discovery` | GetResources depth 1 on a dataspace of 100,000 objects | the store engine listing the same objects |
//! | `arrays` | DataArray put/get of 1 GiB of float64 through subarrays at 1, 8, 16 MiB messages | bare upload/download, durable file write |
//! | `memory` | server RSS per idle session with 1,000 and 10,000 sessions | target only |
//! | `pyetp` | pyetp's array upload/download (256 MiB) and its Avro codec (with `--pyetp`) | our client and codec, same run |
//!
//! Each family runs `--runs` times; within a run the baseline and the figure are measured
//! back to back, and the ratio is taken per run (see [`report`]). Targets from the issue
//! are reported, never enforced. Compression is off unless `--compression`, so that the
//! figures measure the server rather than zlib (gzip of float64 arrays runs at about
//! 100 MB/s here and would hide everything else).

mod arrays;
mod baseline;
mod discovery;
mod memory;
mod objects;
mod ping;
mod pyetp;
pub mod report;
mod session;
mod util;
mod xml;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use etp_client::{Client, ClientConfig};
use serde::Serialize;

use baseline::BareServer;
use report::{Machine, Report};

/// `etp bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Benchmark this ETP endpoint (`ws://…`) instead of a fresh in-process server.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Bearer token for --url.
    #[arg(long, env = "ETP_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Every figure at small sizes and short durations: a smoke run, not a measurement.
    #[arg(long)]
    pub quick: bool,
    /// Also write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Repetitions of every figure (the table shows median and min – max) [default: 3,
    /// quick 1].
    #[arg(long, value_name = "N")]
    pub runs: Option<usize>,
    /// Run only these families of figures (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', num_args = 1.., value_name = "FAMILY")]
    pub only: Vec<Family>,
    /// A Python interpreter with pyetp installed: adds the pyetp figures.
    #[arg(long, value_name = "PYTHON")]
    pub pyetp: Option<PathBuf>,
    /// Seconds each timed loop of the session and ping figures runs [default: 3, quick 0.3].
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Size of the DataArray figures' array, MiB [default: 1024, quick 32].
    #[arg(long, value_name = "MIB")]
    pub array_mib: Option<u64>,
    /// Size of the array pyetp moves, MiB: pyetp encodes at about 12 MB/s, so a smaller
    /// array keeps the run short [default: 256, quick 16].
    #[arg(long, value_name = "MIB")]
    pub pyetp_array_mib: Option<u64>,
    /// Negotiated message sizes of the DataArray figures, MiB [default: 1,8,16].
    #[arg(long, value_delimiter = ',', value_name = "MIB")]
    pub message_sizes: Vec<u64>,
    /// Objects written and read by each object figure [default: 10000, quick 300].
    #[arg(long, value_name = "N")]
    pub objects: Option<usize>,
    /// Objects in the dataspace listed by GetResources [default: 100000, quick 3000].
    #[arg(long, value_name = "N")]
    pub resources: Option<usize>,
    /// Idle session counts of the memory figure [default: 1000,10000, quick 100,1000].
    #[arg(long, value_delimiter = ',', value_name = "N")]
    pub idle_sessions: Vec<usize>,
    /// Requests kept in flight by the object and array figures [default: 16].
    #[arg(long, value_name = "N")]
    pub window: Option<usize>,
    /// Offer gzip compression (off by default: it would measure zlib, not the server).
    #[arg(long)]
    pub compression: bool,
    /// Print `phase <name> <start> <end>` (CLOCK_MONOTONIC seconds) for every timed ETP
    /// phase and the arrays' bare upload and download, to cut a
    /// `perf record -k CLOCK_MONOTONIC` profile to it.
    #[arg(long)]
    pub mark_phases: bool,
    /// With --url: PID of the server process on this machine, for the memory figure.
    #[arg(long, value_name = "PID", requires = "url")]
    pub server_pid: Option<u32>,
}

/// A family of figures (`--only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Session open + close per second.
    Session,
    /// Ping/Pong latency and throughput.
    Ping,
    /// PutDataObjects / GetDataObjects.
    Objects,
    /// GetResources on a big dataspace.
    Discovery,
    /// DataArray put/get through subarrays.
    Arrays,
    /// Server memory per idle session.
    Memory,
    /// pyetp array transfer and Avro codec (needs --pyetp).
    Pyetp,
}

impl Family {
    const ALL: [Family; 7] = [
        Family::Session,
        Family::Ping,
        Family::Objects,
        Family::Discovery,
        Family::Arrays,
        Family::Memory,
        Family::Pyetp,
    ];

    /// The `--only` name.
    pub fn name(self) -> &'static str {
        match self {
            Family::Session => "session",
            Family::Ping => "ping",
            Family::Objects => "objects",
            Family::Discovery => "discovery",
            Family::Arrays => "arrays",
            Family::Memory => "memory",
            Family::Pyetp => "pyetp",
        }
    }
}

/// The effective settings, after defaults and `--quick`.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Repetitions.
    pub runs: usize,
    /// Smoke-run sizes.
    pub quick: bool,
    /// Length of each timed loop.
    #[serde(serialize_with = "util::serialize_secs")]
    pub duration: Duration,
    /// Bytes of the DataArray figures' array.
    pub array_bytes: u64,
    /// Bytes of the array pyetp moves (and our client, next to it).
    pub pyetp_array_bytes: u64,
    /// Negotiated message sizes of the DataArray figures, bytes.
    pub message_sizes: Vec<usize>,
    /// Objects per object figure.
    pub objects: usize,
    /// Objects in the GetResources dataspace.
    pub resources: usize,
    /// Idle session counts of the memory figure.
    pub idle_sessions: Vec<usize>,
    /// Requests in flight for objects and arrays.
    pub window: usize,
    /// gzip offered.
    pub compression: bool,
    /// Families to run, in order.
    pub families: Vec<Family>,
}

impl Settings {
    /// Defaults, overridden by the flags given.
    pub fn from_args(args: &BenchArgs) -> anyhow::Result<Settings> {
        let quick = args.quick;
        fn pick<T>(quick: bool, full: T, small: T) -> T {
            if quick { small } else { full }
        }
        let duration = match args.duration {
            Some(secs) => crate::cli::seconds(secs, "--duration")?,
            None => Duration::from_secs_f64(pick(quick, 3.0, 0.3)),
        };
        let message_sizes: Vec<u64> = if args.message_sizes.is_empty() {
            vec![1, 8, 16]
        } else {
            args.message_sizes.clone()
        };
        if message_sizes.iter().any(|&m| m == 0 || m > 1024) {
            anyhow::bail!("--message-sizes must be between 1 and 1024 MiB");
        }
        let families = if args.only.is_empty() {
            Family::ALL.to_vec()
        } else {
            Family::ALL
                .into_iter()
                .filter(|f| args.only.contains(f))
                .collect()
        };
        Ok(Settings {
            runs: args.runs.unwrap_or(pick(quick, 3, 1)).max(1),
            quick,
            duration,
            array_bytes: args.array_mib.unwrap_or(pick(quick, 1024, 32)).max(1) << 20,
            pyetp_array_bytes: args.pyetp_array_mib.unwrap_or(pick(quick, 256, 16)).max(1) << 20,
            message_sizes: message_sizes.iter().map(|m| (m << 20) as usize).collect(),
            objects: args.objects.unwrap_or(pick(quick, 10_000, 300)).max(1),
            resources: args.resources.unwrap_or(pick(quick, 100_000, 3_000)).max(1),
            idle_sessions: if args.idle_sessions.is_empty() {
                pick(quick, vec![1_000, 10_000], vec![100, 1_000])
            } else {
                args.idle_sessions.clone()
            },
            window: args.window.unwrap_or(16).clamp(1, 64),
            compression: args.compression,
            families,
        })
    }
}

/// The server under test (in-process, or a URL), the baselines' servers, and scratch
/// space. In-process, every family gets fresh servers on a fresh runtime and data
/// directory ([`Env::start_servers`]), so that no family measures the leftovers of the one
/// before (background compaction, session records still being written) and the disk holds
/// one family's data at a time.
pub struct Env {
    /// ETP endpoint of the current server.
    pub url: String,
    /// Template for every client of the bench.
    config: ClientConfig,
    /// The settings.
    pub settings: Settings,
    /// Scratch space for baselines (file writes, raw store, scripts).
    pub scratch: tempfile::TempDir,
    /// `--url`.
    remote_url: Option<String>,
    /// `--server-pid`.
    pub server_pid: Option<u32>,
    /// The servers of the current family.
    side: Option<ServerSide>,
}

/// What runs on the server side for one family: its own runtime (one worker per CPU, as
/// `etp serve` has), the bare WebSocket server, and the in-process ETP server.
struct ServerSide {
    runtime: tokio::runtime::Runtime,
    bare: BareServer,
    in_process: Option<InProcess>,
}

struct InProcess {
    url: String,
    data_dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<Result<(), etp_server::ServerError>>,
}

impl ServerSide {
    async fn start(settings: &Settings, with_server: bool) -> anyhow::Result<ServerSide> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("etp-bench-server")
            .enable_all()
            .build()
            .context("cannot start the server runtime")?;
        let handle = runtime.handle().clone();
        let bare = BareServer::start(&handle).await?;
        let in_process = if with_server {
            let data_dir = tempfile::Builder::new()
                .prefix("etp-bench-data-")
                .tempdir()
                .context("cannot create the server's data directory")?;
            let config = in_process_config(settings, data_dir.path().to_path_buf());
            let server = handle
                .spawn(etp_server::Server::bind(config))
                .await?
                .context("cannot start the in-process server")?;
            let url = format!("ws://{}/", server.local_addr());
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let done = handle.spawn(server.run(async {
                let _ = stopped.await;
            }));
            Some(InProcess {
                url,
                data_dir,
                stop: Some(stop),
                done,
            })
        } else {
            None
        };
        Ok(ServerSide {
            runtime,
            bare,
            in_process,
        })
    }

    /// Stops the server, then the runtime (waiting for its blocking tasks, such as
    /// session records being written), and only then removes the data directory: the
    /// store must be closed before its files go.
    async fn stop(self) {
        let ServerSide {
            runtime,
            bare,
            in_process,
        } = self;
        let mut data_dir = None;
        if let Some(mut server) = in_process {
            if let Some(stop) = server.stop.take() {
                let _ = stop.send(());
            }
            let _ = tokio::time::timeout(Duration::from_secs(15), &mut server.done).await;
            data_dir = Some(server.data_dir);
        }
        drop(bare);
        // Blocking is not allowed on a runtime thread, hence the blocking task.
        let _ = tokio::task::spawn_blocking(move || {
            runtime.shutdown_timeout(Duration::from_secs(15));
        })
        .await;
        drop(data_dir);
    }
}

impl Env {
    /// The client side of the bench; servers come with [`Env::start_servers`].
    fn new(args: &BenchArgs, settings: Settings) -> anyhow::Result<Env> {
        let scratch = tempfile::Builder::new()
            .prefix("etp-bench-")
            .tempdir()
            .context("cannot create a scratch directory")?;
        let url = args.url.clone().unwrap_or_default();
        let mut config = ClientConfig::new(url.clone());
        config.compression = settings.compression;
        config.application_name = "etp-bench".into();
        config.application_version = env!("CARGO_PKG_VERSION").into();
        config.authorization = args
            .token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| format!("Bearer {t}"));
        // Large enough for one GetResourcesResponse part and for the array figures, which
        // set their own size.
        config.max_message_size = 16 << 20;
        config.max_decompressed_size = 1 << 30;
        Ok(Env {
            url,
            config,
            settings,
            scratch,
            remote_url: args.url.clone(),
            server_pid: args.server_pid,
            side: None,
        })
    }

    /// Starts fresh servers for the next family: the bare server always, the in-process
    /// ETP server unless `--url` or the family runs its own (memory).
    async fn start_servers(&mut self, family: Family) -> anyhow::Result<()> {
        self.stop_servers().await;
        let with_server = self.remote_url.is_none() && family != Family::Memory;
        let side = ServerSide::start(&self.settings, with_server).await?;
        if let Some(server) = &side.in_process {
            self.url = server.url.clone();
            self.config.url = server.url.clone();
        }
        self.side = Some(side);
        Ok(())
    }

    /// Stops the servers of the last family.
    async fn stop_servers(&mut self) {
        if let Some(side) = self.side.take() {
            side.stop().await;
        }
    }

    /// Whether the server runs in this process.
    pub fn in_process(&self) -> bool {
        self.remote_url.is_none()
    }

    /// Address of the bare WebSocket server (port 0 before [`Env::start_servers`]).
    pub fn bare_addr(&self) -> std::net::SocketAddr {
        self.side.as_ref().map_or_else(
            || std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            |side| side.bare.addr(),
        )
    }

    /// A client configuration for the server under test.
    pub fn client_config(&self) -> ClientConfig {
        self.config.clone()
    }

    /// A client configuration with a given message size limit.
    pub fn client_config_sized(&self, max_message_size: usize) -> ClientConfig {
        let mut config = self.config.clone();
        config.max_message_size = max_message_size;
        config
    }

    /// Opens a session with the default configuration.
    pub async fn connect(&self) -> anyhow::Result<Client> {
        Client::connect(self.client_config())
            .await
            .with_context(|| format!("cannot open an ETP session with {}", self.url))
    }
}

/// Settings of the in-process server: loopback, the given data directory, and limits
/// large enough for every figure.
fn in_process_config(settings: &Settings, data_dir: PathBuf) -> etp_server::ServerConfig {
    let largest = settings
        .message_sizes
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(16 << 20) as u64;
    etp_server::ServerConfig {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir,
        max_message_size: largest,
        max_frame_size: largest,
        max_sessions: 20_000,
        ..etp_server::ServerConfig::default()
    }
}

/// Runs one family against the servers `env` has up.
async fn run_family(
    env: &Env,
    family: Family,
    args: &BenchArgs,
    report: &mut Report,
) -> anyhow::Result<()> {
    match family {
        Family::Session => session::run(env, report).await,
        Family::Ping => ping::run(env, report).await,
        Family::Objects => objects::run(env, report).await,
        Family::Discovery => discovery::run(env, report).await,
        Family::Arrays => arrays::run(env, report).await,
        Family::Memory => memory::run(env, report).await,
        Family::Pyetp => match &args.pyetp {
            Some(python) => pyetp::run(env, python, report).await,
            None => {
                report.skip(
                    "pyetp",
                    "give --pyetp PYTHON (a Python with pyetp installed)",
                );
                Ok(())
            }
        },
    }
}

/// Runs the bench and prints the table (and writes the JSON).
pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::from_args(&args)?;
    if args.mark_phases {
        util::enable_phase_marks();
    }
    let started = Instant::now();
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match util::raise_fd_limit() {
        Ok((soft, hard)) => tracing::debug!("RLIMIT_NOFILE {soft} (hard {hard})"),
        Err(e) => eprintln!("etp bench: cannot raise the open file limit: {e}"),
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "etp bench: this is a debug build; the figures say little (build with --release)"
        );
    }
    let mut report = Report {
        version: report::JSON_VERSION,
        etp_version: env!("CARGO_PKG_VERSION").to_string(),
        started_unix,
        duration_secs: 0.0,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine: Machine::probe(),
        server: args.url.clone().unwrap_or_else(|| "in-process".to_string()),
        settings: serde_json::to_value(&settings)?,
        figures: Vec::new(),
        skipped: Vec::new(),
        failed: Vec::new(),
        family_seconds: Default::default(),
    };
    let mut env = Env::new(&args, settings.clone())?;
    eprintln!(
        "etp bench: {}, {} run(s) per figure",
        match &args.url {
            Some(url) => format!("server at {url}"),
            None => "in-process server, fresh for every family".to_string(),
        },
        settings.runs
    );
    for family in &settings.families {
        let family = *family;
        eprintln!("etp bench: {} …", family.name());
        let before = report.figures.len();
        let family_start = Instant::now();
        let result = match env.start_servers(family).await {
            Ok(()) => run_family(&env, family, &args, &mut report).await,
            Err(e) => Err(e),
        };
        env.stop_servers().await;
        if let Err(e) = result {
            eprintln!("etp bench: {} failed: {e:#}", family.name());
            report.fail(family.name(), format!("{e:#}"));
        }
        let seconds = family_start.elapsed().as_secs_f64();
        report
            .family_seconds
            .insert(family.name().to_string(), seconds);
        eprintln!("etp bench: {} took {seconds:.1} s", family.name());
        for f in &report.figures[before..] {
            eprintln!(
                "  {:<58} {:>12} {}",
                f.name,
                report::format_value(f.stats.median),
                f.unit
            );
        }
    }
    report.duration_secs = started.elapsed().as_secs_f64();
    report.machine.load_at_end = report::load_average();
    println!("{}", report.to_table());
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_json())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn args(extra: &[&str]) -> BenchArgs {
        let cli = crate::cli::Cli::try_parse_from(["etp", "bench"].iter().chain(extra)).unwrap();
        match cli.command {
            crate::cli::Command::Bench(args) => args,
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn defaults_follow_the_issue_and_quick_shrinks_them() {
        let full = Settings::from_args(&args(&[])).unwrap();
        assert_eq!(full.runs, 3);
        assert_eq!(full.array_bytes, 1 << 30);
        assert_eq!(full.message_sizes, vec![1 << 20, 8 << 20, 16 << 20]);
        assert_eq!(full.objects, 10_000);
        assert_eq!(full.resources, 100_000);
        assert_eq!(full.idle_sessions, vec![1_000, 10_000]);
        assert_eq!(full.families, Family::ALL.to_vec());
        let quick = Settings::from_args(&args(&["--quick"])).unwrap();
        assert_eq!(quick.runs, 1);
        assert!(quick.array_bytes < full.array_bytes);
        assert!(quick.duration < full.duration);
        assert!(quick.resources < full.resources);
    }

    #[test]
    fn overrides_and_only_keep_the_canonical_order() {
        let s = Settings::from_args(&args(&[
            "--only",
            "memory,ping",
            "--message-sizes",
            "2,4",
            "--array-mib",
            "8",
            "--runs",
            "5",
            "--window",
            "1000",
        ]))
        .unwrap();
        assert_eq!(s.families, vec![Family::Ping, Family::Memory]);
        assert_eq!(s.message_sizes, vec![2 << 20, 4 << 20]);
        assert_eq!(s.array_bytes, 8 << 20);
        assert_eq!(s.runs, 5);
        assert_eq!(s.window, 64, "at most the server's default in-flight limit");
        assert!(Settings::from_args(&args(&["--message-sizes", "0"])).is_err());
        assert!(Settings::from_args(&args(&["--duration", "0"])).is_err());
    }

    #[test]
    fn in_process_server_accepts_the_largest_message() {
        let s = Settings::from_args(&args(&["--message-sizes", "1,32"])).unwrap();
        let config = in_process_config(&s, PathBuf::from("/nonexistent"));
        assert_eq!(config.max_message_size, 32 << 20);
        assert!(config.max_sessions >= 10_000);
        assert!(config.validate().is_ok());
        assert!(config.listen.ip().is_loopback());
    }
}
