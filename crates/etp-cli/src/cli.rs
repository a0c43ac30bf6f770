//! Command-line definition, and the merging of server settings (flag > env > file >
//! default).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand};
use etp_client::{ClientConfig, TlsOptions};
use etp_server::ServerConfig;

/// `etp`: run an ETP v1.2 server, or talk to one.
#[derive(Debug, Parser)]
#[command(name = "etp", version, about, propagate_version = true)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace). `RUST_LOG` overrides it.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the ETP server.
    ///
    /// Every setting can come from a flag, an `ETP_<SETTING>` environment variable or the
    /// TOML file given with --config (same names, snake_case); a flag beats the environment,
    /// which beats the file, which beats the built-in default.
    // Boxed: the settings make this variant much larger than the others.
    Serve(Box<ServeArgs>),
    /// ETP Ping/Pong round trips, printed like ping(8).
    Ping(PingArgs),
    /// Show what a server offers: capabilities document and negotiated session.
    Info(InfoArgs),
    /// List a server's live and past sessions (its `GET /sessions?all=true`), newest first.
    Sessions(SessionsArgs),
    /// Dataspaces: list, create, delete.
    Dataspace(crate::commands::dataspace::DataspaceArgs),
    /// Discover data objects: a dataspace's content, or the graph around an object.
    Ls(crate::commands::ls::LsArgs),
    /// Download data objects (XML).
    Get(crate::commands::get::GetArgs),
    /// Upload data objects from XML files (one transaction by default).
    Put(crate::commands::put::PutArgs),
    /// Delete data objects.
    Rm(crate::commands::rm::RmArgs),
    /// Arrays behind data objects: metadata, download to .npy, upload from .npy.
    Array(crate::commands::array::ArrayArgs),
    /// End-to-end benchmark with same-run baselines (in-process server, or --url).
    Bench(crate::commands::bench::BenchArgs),
}

/// `etp serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// TOML file with server settings (keys as in the flags, in snake_case).
    #[arg(long, env = "ETP_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the resulting settings as TOML and exit without starting the server.
    #[arg(long)]
    pub print_config: bool,
    /// The settings given as flags or environment variables.
    #[command(flatten)]
    pub overrides: ServerOverrides,
}

/// One optional flag per [`ServerConfig`] field; `None` means "not given".
#[derive(Debug, Clone, Default, Args)]
pub struct ServerOverrides {
    /// Address to listen on for WebSocket and HTTP.
    #[arg(long, env = "ETP_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Directory of the embedded store; created on first start.
    #[arg(long, env = "ETP_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Extra URL path under which the ETP endpoint is also served (besides `/`), e.g.
    /// `/api/etp`.
    #[arg(long, env = "ETP_PATH_PREFIX", value_name = "PATH")]
    pub path_prefix: Option<String>,
    /// Largest WebSocket message accepted and advertised (MaxWebSocketMessagePayloadSize),
    /// bytes.
    #[arg(long, env = "ETP_MAX_MESSAGE_SIZE", value_name = "BYTES")]
    pub max_message_size: Option<u64>,
    /// Largest WebSocket frame payload advertised (MaxWebSocketFramePayloadSize), bytes.
    #[arg(long, env = "ETP_MAX_FRAME_SIZE", value_name = "BYTES")]
    pub max_frame_size: Option<u64>,
    /// Largest body a gzip-compressed message may inflate to, bytes.
    #[arg(long, env = "ETP_MAX_DECOMPRESSED_SIZE", value_name = "BYTES")]
    pub max_decompressed_size: Option<u64>,
    /// Largest data object accepted (MaxDataObjectSize), bytes.
    #[arg(long, env = "ETP_MAX_DATA_OBJECT_SIZE", value_name = "BYTES")]
    pub max_data_object_size: Option<u64>,
    /// Largest array accepted (MaxDataArraySize), bytes.
    #[arg(long, env = "ETP_MAX_DATA_ARRAY_SIZE", value_name = "BYTES")]
    pub max_data_array_size: Option<u64>,
    /// Seconds to wait for the HTTP upgrade request after the TCP connection opens.
    #[arg(long, env = "ETP_HANDSHAKE_TIMEOUT_SECS", value_name = "SECS")]
    pub handshake_timeout_secs: Option<u64>,
    /// Seconds to wait for RequestSession after the WebSocket opens
    /// (RequestSessionTimeoutPeriod, at least 5).
    #[arg(long, env = "ETP_REQUEST_SESSION_TIMEOUT_SECS", value_name = "SECS")]
    pub request_session_timeout_secs: Option<u64>,
    /// Seconds a session may stay without any incoming message before it is closed.
    #[arg(long, env = "ETP_IDLE_TIMEOUT_SECS", value_name = "SECS")]
    pub idle_timeout_secs: Option<u64>,
    /// Maximum concurrent sessions (MaxSessionGlobalCount).
    #[arg(long, env = "ETP_MAX_SESSIONS", value_name = "N")]
    pub max_sessions: Option<u64>,
    /// Requests one session may have in flight before the server stops reading from it.
    #[arg(long, env = "ETP_MAX_REQUESTS_IN_FLIGHT", value_name = "N")]
    pub max_requests_in_flight: Option<usize>,
    /// Bytes of responses one session may have queued for writing before handlers wait.
    #[arg(long, env = "ETP_SEND_BUFFER_BYTES", value_name = "BYTES")]
    pub send_buffer_bytes: Option<u64>,
    /// gzip level (0–9) for compressible responses when the session negotiated gzip.
    #[arg(long, env = "ETP_COMPRESSION_LEVEL", value_name = "LEVEL")]
    pub compression_level: Option<u32>,
    /// Seconds to wait for sessions to close on shutdown before exiting anyway.
    #[arg(long, env = "ETP_SHUTDOWN_GRACE_SECS", value_name = "SECS")]
    pub shutdown_grace_secs: Option<u64>,
    /// MaxResponseCount advertised for list-shaped responses.
    #[arg(long, env = "ETP_MAX_RESPONSE_COUNT", value_name = "N")]
    pub max_response_count: Option<u64>,
    /// TransactionTimeoutPeriod: seconds after which an abandoned transaction is rolled
    /// back.
    #[arg(long, env = "ETP_TRANSACTION_TIMEOUT_SECS", value_name = "SECS")]
    pub transaction_timeout_secs: Option<u64>,
    /// Seconds a write waits for a dataspace that another session is writing before it is
    /// refused with EMAX_TRANSACTIONS_EXCEEDED (15).
    #[arg(long, env = "ETP_WRITE_LOCK_WAIT_SECS", value_name = "SECS")]
    pub write_lock_wait_secs: Option<u64>,
    /// ChangeRetentionPeriod: seconds deleted-resource records are kept.
    #[arg(long, env = "ETP_CHANGE_RETENTION_SECS", value_name = "SECS")]
    pub change_retention_secs: Option<u64>,
    /// Bytes of the store's cache of object records (array chunks written since store
    /// format 3 bypass it: the OS page cache holds them); 0 sizes it from the machine's
    /// memory (half of what is beyond 1 GiB, 256 MiB – 32 GiB).
    #[arg(long, env = "ETP_CACHE_BYTES", value_name = "BYTES")]
    pub cache_bytes: Option<u64>,
}

/// Copies every given override into the config.
macro_rules! apply_overrides {
    ($overrides:expr, $config:expr, $($field:ident),* $(,)?) => {
        $(
            if let Some(value) = &$overrides.$field {
                $config.$field = value.clone();
            }
        )*
    };
}

impl ServerOverrides {
    /// Overwrites the fields of `config` that were given.
    pub fn apply(&self, config: &mut ServerConfig) {
        apply_overrides!(
            self,
            config,
            listen,
            data_dir,
            path_prefix,
            max_message_size,
            max_frame_size,
            max_decompressed_size,
            max_data_object_size,
            max_data_array_size,
            handshake_timeout_secs,
            request_session_timeout_secs,
            idle_timeout_secs,
            max_sessions,
            max_requests_in_flight,
            send_buffer_bytes,
            compression_level,
            shutdown_grace_secs,
            max_response_count,
            transaction_timeout_secs,
            write_lock_wait_secs,
            change_retention_secs,
            cache_bytes,
        );
    }
}

/// Parses a TOML settings file (unknown keys are an error).
pub fn parse_config_file(text: &str) -> anyhow::Result<ServerConfig> {
    Ok(toml::from_str(text)?)
}

/// Reads and parses a TOML settings file.
pub fn load_config_file(path: &Path) -> anyhow::Result<ServerConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_config_file(&text).with_context(|| format!("invalid settings in {}", path.display()))
}

/// The effective settings: the file's (or the defaults when there is no file), then every
/// flag or environment variable that was given on top. clap already resolved flag over
/// environment inside `overrides`.
pub fn resolve_config(file: Option<ServerConfig>, overrides: &ServerOverrides) -> ServerConfig {
    let mut config = file.unwrap_or_default();
    overrides.apply(&mut config);
    config
}

/// Options shared by the commands that connect to a server.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// ETP endpoint, `ws://host:port/path` or `wss://…`.
    pub url: String,
    /// Bearer token, sent as `Authorization: Bearer <TOKEN>` (a value that already starts
    /// with `Bearer ` or `Basic ` is sent as is).
    #[arg(long, env = "ETP_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// OSDU data partition, sent as the `data-partition-id` header.
    #[arg(long, env = "ETP_DATA_PARTITION_ID", value_name = "ID")]
    pub data_partition_id: Option<String>,
    /// Do not offer gzip compression.
    #[arg(long)]
    pub no_compression: bool,
    /// Largest WebSocket message this client accepts and advertises, bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_message_size: usize,
    /// PEM file with extra trusted root certificates for wss://.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Accept any TLS certificate (testing only).
    #[arg(long)]
    pub insecure: bool,
    /// Seconds allowed for connecting and opening the session.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub connect_timeout: f64,
}

impl ClientArgs {
    /// The client configuration these options describe.
    pub fn client_config(&self) -> anyhow::Result<ClientConfig> {
        let mut config = ClientConfig::new(self.url.clone());
        config.authorization = self.token.as_deref().filter(|t| !t.is_empty()).map(|t| {
            let lower = t.to_ascii_lowercase();
            if lower.starts_with("bearer ") || lower.starts_with("basic ") {
                t.to_string()
            } else {
                format!("Bearer {t}")
            }
        });
        config.data_partition_id = self.data_partition_id.clone();
        config.compression = !self.no_compression;
        config.max_message_size = self.max_message_size;
        config.connect_timeout = seconds(self.connect_timeout, "--connect-timeout")?;
        config.application_name = "etp-cli".to_string();
        config.application_version = env!("CARGO_PKG_VERSION").to_string();
        config.tls = TlsOptions {
            root_cert_file: self.ca_cert.clone(),
            accept_invalid_certs: self.insecure,
        };
        Ok(config)
    }
}

/// A positive number of seconds as a duration.
pub fn seconds(value: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .with_context(|| format!("{what} must be a positive number of seconds, got {value}"))
}

/// `etp ping`.
#[derive(Debug, Clone, Args)]
pub struct PingArgs {
    /// Connection options.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Stop after COUNT pings (default: until interrupted).
    #[arg(short = 'c', long, value_name = "COUNT")]
    pub count: Option<u64>,
    /// Seconds between pings.
    #[arg(short = 'i', long, value_name = "INTERVAL_SECS", default_value_t = 1.0)]
    pub interval: f64,
    /// Seconds to wait for each Pong.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub timeout: f64,
}

/// `etp info`.
#[derive(Debug, Clone, Args)]
pub struct InfoArgs {
    /// Connection options.
    #[command(flatten)]
    pub client: ClientArgs,
    /// Print a JSON document instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// `etp sessions`.
#[derive(Debug, Clone, Args)]
pub struct SessionsArgs {
    /// The server: its ETP endpoint (`ws://host:port/path`) or HTTP base
    /// (`http://host:port/path`).
    #[arg(value_name = "URL_OR_HTTP_BASE")]
    pub url: String,
    /// Print the server's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Most sessions to list.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: usize,
    /// Seconds to wait for the answer.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,
}

/// The full command, with `[default: …]` added to every `serve` setting from
/// `ServerConfig::default()`, so the help can never disagree with the real defaults.
pub fn command() -> clap::Command {
    let defaults = default_values();
    Cli::command().mut_subcommand("serve", |serve| {
        let ids: Vec<String> = serve
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect();
        ids.into_iter()
            .fold(serve, |serve, id| match defaults.get(&id) {
                Some(default) => serve.mut_arg(id.as_str(), |arg| {
                    let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                    let long_help = arg.get_long_help().map(|h| h.to_string());
                    let arg = arg.help(format!("{help} [default: {default}]"));
                    match long_help {
                        Some(long) => arg.long_help(format!("{long}\n\n[default: {default}]")),
                        None => arg,
                    }
                }),
                None => serve,
            })
    })
}

/// Every `ServerConfig` field name with its default value as text.
pub fn default_values() -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    if let Ok(toml::Value::Table(table)) = toml::Value::try_from(ServerConfig::default()) {
        for (key, value) in table {
            let text = match value {
                toml::Value::String(s) if s.is_empty() => "\"\"".to_string(),
                toml::Value::String(s) => s,
                other => other.to_string(),
            };
            out.insert(key, text);
        }
    }
    out
}
