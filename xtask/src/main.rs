//! Project automation for the etp workspace.
//!
//! `cargo xtask codegen <etp.avpr> [--out DIR] [--check]` generates the ETP message types
//! of `etp-protocol` from the official Avro protocol file. With `--check` it writes nothing
//! and fails when the committed code differs from what the schema produces (CI runs this).

mod codegen;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};

const DEFAULT_OUT: &str = "crates/etp-protocol/src/types";

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("codegen") => {
            let mut schema = None;
            let mut out = None;
            let mut check = false;
            while let Some(arg) = args.next() {
                match arg.as_str() {
                    "--out" => {
                        out = Some(PathBuf::from(
                            args.next().context("--out needs a directory")?,
                        ))
                    }
                    "--check" => check = true,
                    other if other.starts_with('-') => bail!("unknown option {other}"),
                    other => schema = Some(PathBuf::from(other)),
                }
            }
            let schema =
                schema.context("usage: cargo xtask codegen <etp.avpr> [--out DIR] [--check]")?;
            let out = out.unwrap_or_else(|| workspace_root().join(DEFAULT_OUT));
            let text = std::fs::read_to_string(&schema)
                .with_context(|| format!("reading {}", schema.display()))?;
            let files = codegen::generate(&text)?;
            if check {
                let stale = codegen::check(&out, &files)?;
                if stale.is_empty() {
                    println!("generated code is up to date ({} files)", files.len());
                    Ok(ExitCode::SUCCESS)
                } else {
                    for path in stale {
                        eprintln!("out of date: {path}");
                    }
                    eprintln!(
                        "run `cargo xtask codegen {}` and commit the result",
                        schema.display()
                    );
                    Ok(ExitCode::FAILURE)
                }
            } else {
                codegen::write(&out, &files)?;
                println!("wrote {} files to {}", files.len(), out.display());
                Ok(ExitCode::SUCCESS)
            }
        }
        _ => {
            eprintln!("usage: cargo xtask codegen <etp.avpr> [--out DIR] [--check]");
            Ok(ExitCode::from(2))
        }
    }
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
