//! What the data commands (`dataspace`, `ls`, `get`, `put`, `rm`, `array`) share: the
//! connection options (`--url` / `ETP_URL` and the options of `etp ping` / `etp info`),
//! `--json`, error reporting and progress bars.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use etp_client::ops::KeyError;
use etp_client::{Client, ClientConfig};
use etp_protocol::codec::Map;
use etp_protocol::uri::DataspaceUri;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{ClientArgs, seconds};

/// The default server of the data commands.
pub const DEFAULT_URL: &str = "ws://127.0.0.1:9002/";

/// Connection and output options of the data commands.
#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// ETP endpoint, `ws://host:port/path` or `wss://…`.
    #[arg(long, env = "ETP_URL", default_value = DEFAULT_URL)]
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
    /// Largest WebSocket message this client accepts and advertises, bytes. Objects and
    /// arrays bigger than the session's limit are sent and fetched in pieces.
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
    /// Seconds to wait for the answer to each request.
    #[arg(long, value_name = "SECS", default_value_t = 300.0)]
    pub request_timeout: f64,
    /// Print JSON (for scripts) instead of text.
    #[arg(long)]
    pub json: bool,
}

impl RemoteArgs {
    /// The client configuration, built exactly as for `etp ping` / `etp info`.
    pub fn client_config(&self) -> anyhow::Result<ClientConfig> {
        let mut config = ClientArgs {
            url: self.url.clone(),
            token: self.token.clone(),
            data_partition_id: self.data_partition_id.clone(),
            no_compression: self.no_compression,
            max_message_size: self.max_message_size,
            ca_cert: self.ca_cert.clone(),
            insecure: self.insecure,
            connect_timeout: self.connect_timeout,
        }
        .client_config()?;
        config.request_timeout = seconds(self.request_timeout, "--request-timeout")?;
        Ok(config)
    }

    /// Opens the session.
    pub async fn connect(&self) -> anyhow::Result<Client> {
        let config = self.client_config()?;
        let url = config.url.clone();
        Client::connect(config)
            .await
            .with_context(|| format!("cannot open an ETP session with {url}"))
    }
}

/// How long a finished command waits for the session to close. `Client::close` sends
/// CloseSession and then waits for the server to close the WebSocket; when the server is
/// quick, the client can miss it (its `socket_closed` watch is updated with `send`, which
/// stores nothing while no receiver exists) and wait its full 5 s. The command is done
/// by then, so a short grace is enough: CloseSession is out, and dropping the client
/// closes the WebSocket.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// Ends the session politely; a failure to do so changes nothing for the user.
pub async fn close(client: Client) {
    match tokio::time::timeout(CLOSE_GRACE, client.close("etp command done")).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!("closing the session: {e}"),
        Err(_) => tracing::debug!("the server did not close the WebSocket within {CLOSE_GRACE:?}"),
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints one line per failed key on stderr.
pub fn report_errors(errors: &Map<KeyError>) {
    for (key, error) in errors {
        eprintln!("error: {key}: {error}");
    }
}

/// A dataspace given as a path (`a/b`, `""` for the default dataspace) or as a URI
/// (`eml:///dataspace('a/b')`, `eml:///`).
pub fn parse_dataspace(text: &str) -> anyhow::Result<DataspaceUri> {
    if text.starts_with("eml:") {
        DataspaceUri::parse(text).with_context(|| format!("invalid dataspace URI {text:?}"))
    } else {
        DataspaceUri::from_path(text).with_context(|| format!("invalid dataspace path {text:?}"))
    }
}

/// A progress bar on stderr for `total` units of `unit`; hidden with `--json` (and by
/// indicatif itself when stderr is not a terminal).
pub fn progress(total: u64, unit: &str, json: bool) -> ProgressBar {
    if json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} ({{elapsed}}, eta {{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
