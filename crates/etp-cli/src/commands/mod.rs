//! One module per subcommand.

pub mod array;
pub mod bench;
pub mod dataspace;
pub mod get;
pub mod info;
pub mod ls;
pub mod ping;
pub mod put;
pub mod remote;
pub mod rm;
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
        Command::Dataspace(args) => dataspace::run(args).await,
        Command::Ls(args) => ls::run(args).await,
        Command::Get(args) => get::run(args).await,
        Command::Put(args) => put::run(args).await,
        Command::Rm(args) => rm::run(args).await,
        Command::Array(args) => array::run(args).await,
        Command::Bench(args) => bench::run(args).await,
    }
}
