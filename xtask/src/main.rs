//! Project automation for the etp workspace.
//!
//! `cargo xtask codegen <etp.avpr> [--out DIR] [--tests-out DIR] [--check]` generates the
//! ETP message types of `etp-protocol` from the official Avro protocol file, and the
//! proptest strategies its round-trip tests use. With `--check` it writes nothing and fails
//! when the committed code (types or test support) differs from what the schema produces
//! (CI runs this).

mod codegen;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

const DEFAULT_OUT: &str = "crates/etp-protocol/src/types";
const DEFAULT_TESTS_OUT: &str = "crates/etp-protocol/tests/generated";
const USAGE: &str = "usage: cargo xtask codegen <etp.avpr> [--out DIR] [--tests-out DIR] [--check]";

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
            let mut tests_out = None;
            let mut check = false;
            while let Some(arg) = args.next() {
                match arg.as_str() {
                    "--out" => {
                        out = Some(PathBuf::from(
                            args.next().context("--out needs a directory")?,
                        ))
                    }
                    "--tests-out" => {
                        tests_out = Some(PathBuf::from(
                            args.next().context("--tests-out needs a directory")?,
                        ))
                    }
                    "--check" => check = true,
                    other if other.starts_with('-') => bail!("unknown option {other}"),
                    other => schema = Some(PathBuf::from(other)),
                }
            }
            let schema = schema.context(USAGE)?;
            let out = out.unwrap_or_else(|| workspace_root().join(DEFAULT_OUT));
            let tests_out = tests_out.unwrap_or_else(|| workspace_root().join(DEFAULT_TESTS_OUT));
            let text = std::fs::read_to_string(&schema)
                .with_context(|| format!("reading {}", schema.display()))?;
            let generated = codegen::generate(&text)?;
            let roots: [(&Path, &BTreeMap<String, String>); 2] =
                [(&out, &generated.types), (&tests_out, &generated.tests)];
            if check {
                let mut stale = Vec::new();
                for (dir, files) in roots {
                    for rel in codegen::check(dir, files)? {
                        stale.push(dir.join(rel).display().to_string());
                    }
                }
                if stale.is_empty() {
                    println!(
                        "generated code is up to date ({} type files, {} test files)",
                        generated.types.len(),
                        generated.tests.len()
                    );
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
                for (dir, files) in roots {
                    codegen::write(dir, files)?;
                    println!("wrote {} files to {}", files.len(), dir.display());
                }
                Ok(ExitCode::SUCCESS)
            }
        }
        _ => {
            eprintln!("{USAGE}");
            Ok(ExitCode::from(2))
        }
    }
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
