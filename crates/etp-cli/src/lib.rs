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
    keep_large_buffers();
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

/// Keeps freed message-sized buffers (1–16 MiB) in the process for reuse.
///
/// By default glibc serves such blocks with `mmap` and returns them with `munmap`
/// (its adaptive threshold only grows after a free, per arena), and trims the heap
/// top above 128 KiB: every array block then costs a fresh mapping and one page
/// fault per 4 KiB on first touch, on the server (chunk reads, encoded answers) and
/// on the client (decoded values). Measured with `etp bench --only arrays`, these
/// faults were about a third of DataArray get. Blocks up to 32 MiB (the most glibc
/// allows) now come from the heap, and up to 256 MiB of free heap top is kept.
///
/// Threads other than the main one allocate from glibc's per-thread arenas, made of
/// 64 MiB heaps, and `free` unmaps such a heap as soon as it holds nothing, whatever
/// the trim threshold, unless the top pad is a whole heap. A client receiving 16 MiB
/// messages got a new heap for almost every frame (its reader allocates on a worker
/// thread, the operation frees on another) and faulted all of it in again: 23 % of
/// the CPU of a 16 MiB DataArray get. With a top pad of 64 MiB those heaps stay mapped
/// and are reused; the price is that memory freed in a thread arena stays with the
/// process (its high-water mark), as the main arena already keeps up to 256 MiB.
fn keep_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only changes allocator parameters; it is called before any
        // thread of ours starts, and a refused value (return 0) leaves the default.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
            libc::mallopt(libc::M_TOP_PAD, 64 << 20);
        }
    }
}
