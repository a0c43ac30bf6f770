//! `etp`: see `etp --help`.

fn main() -> std::process::ExitCode {
    etp_cli::main()
}
