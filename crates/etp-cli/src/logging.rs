//! tracing setup: `RUST_LOG` if set, else a level from the `-v` count.

use tracing_subscriber::EnvFilter;

/// The project's crates, whose log level `-v` raises; dependencies stay at `warn` below
/// `-vvv`.
const OUR_CRATES: &[&str] = &[
    "etp",
    "etp_cli",
    "etp_client",
    "etp_server",
    "etp_store",
    "etp_model",
    "etp_protocol",
];

/// The filter directive for a verbosity: `warn` (`info` for long-running commands such as
/// `serve`) for our crates, raised by each `-v`; everything at `trace` from `-vvv` on.
pub fn directive(verbose: u8, long_running: bool) -> String {
    let level = match u8::from(long_running).saturating_add(verbose) {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => return "trace".to_string(),
    };
    let mut out = String::from("warn");
    for krate in OUR_CRATES {
        out.push_str(&format!(",{krate}={level}"));
    }
    out
}

/// Installs the stderr subscriber (`RUST_LOG` wins over `-v`).
pub fn init(verbose: u8, long_running: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(directive(verbose, long_running)));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert!(directive(0, false).contains("etp_client=warn"));
        assert!(directive(0, true).contains("etp_server=info"));
        assert!(directive(1, true).contains("etp_server=debug"));
        assert_eq!(directive(3, false), "trace");
        assert!(directive(2, false).starts_with("warn,"));
    }
}
