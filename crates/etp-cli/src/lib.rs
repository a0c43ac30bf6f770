//! The `etp` command-line tool: `etp serve` runs the server, `etp ping` and `etp info`
//! talk to any ETP v1.2 endpoint, and the data commands (`dataspace`, `ls`, `get`, `put`,
//! `rm`, `array`) manage a store's content. The binary (`src/main.rs`) only parses and dispatches;
//! everything lives here so it can be tested.

#![warn(missing_docs)]

pub mod cli;
pub mod commands;
pub mod logging;
pub mod npy;

use std::process::ExitCode;

use clap::FromArgMatches;

pub use cli::{Cli, Command, resolve_config};

/// Parses the process arguments, sets up logging and runs the command.
pub fn main() -> ExitCode {
    let matches = cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    logging::init(cli.verbose, matches!(cli.command, Command::Serve(_)));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("etp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("etp: {e:#}");
            ExitCode::FAILURE
        }
    }
}
