//! One module per subcommand.

pub mod bench;
pub mod info;
pub mod ping;
pub mod serve;
pub mod sessions;

use std::process::ExitCode;

use crate::cli::Command;

/// Runs one subcommand.
pub async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Ping(args) => ping::run(args).await,
        Command::Info(args) => info::run(args).await,
        Command::Sessions(args) => sessions::run(args).await,
        Command::Bench(args) => bench::run(args).await,
    }
}
