//! `etp serve`.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{ServeArgs, load_config_file, resolve_config};

/// Resolves the settings, then runs the server until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let file = args.config.as_deref().map(load_config_file).transpose()?;
    let config = resolve_config(file, &args.overrides);
    if args.print_config {
        print!(
            "{}",
            toml::to_string_pretty(&config).context("cannot print the settings")?
        );
        return Ok(ExitCode::SUCCESS);
    }
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid settings: {e}"))?;
    let server = etp_server::Server::bind(config)
        .await
        .context("cannot start the server")?;
    tracing::info!("ETP server listening on {}", server.local_addr());
    server
        .run(shutdown_signal())
        .await
        .context("server failed")?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
