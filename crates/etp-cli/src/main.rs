//! `etp`: see `etp --help`.

/// mimalloc instead of glibc `malloc` for the whole binary (server and bench client).
///
/// Its per-thread pages serve the dozens of small and 20 KiB blocks of an object request
/// without glibc's `malloc_consolidate` and arena locking: `etp bench --only objects`,
/// GetDataObjects 1 per message, 33.9 → 29.4 µs CPU per object (server 25.1 → 22.7) while
/// the raw-store baseline stayed put; arrays and idle-session memory within the noise
/// (docs/performance.md, "Global allocator: mimalloc adopted (session 9)").
///
/// Message-sized blocks (1–16 MiB) freed by one request are reused by the next from
/// mimalloc's arenas, which keep freed memory committed for a purge delay (1 s), so
/// they are not mapped and faulted in anew as with glibc's defaults (what the former
/// `mallopt` settings of `etp_cli::main` worked around).
///
/// Built with the crate's `no_thp` feature: otherwise mimalloc asks for transparent huge
/// pages on its arenas (`MADV_HUGEPAGE`), and every purged and reused 2 MiB region was
/// zeroed again by the kernel (`clear_page_erms` 70 % of the samples, GetDataObjects
/// 1 per message at twice the CPU per object).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    etp_cli::main()
}
