//! `etp get URI... [-o FILE|DIR]`: data objects as XML, to stdout or files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use etp_client::ops;
use etp_protocol::uri::DataObjectUri;
use serde_json::{Value, json};

use super::remote::{RemoteArgs, close, print_json, report_errors};

/// `etp get`.
#[derive(Debug, Clone, Args)]
pub struct GetArgs {
    /// Data object URIs.
    #[arg(required = true, value_name = "URI")]
    pub uris: Vec<String>,
    /// Where to write: a file (one URI), or a directory — an existing one, or any path
    /// when several URIs are given (created if needed) — with one
    /// `<qualified type>_<uuid>.xml` file per object. Without it the XML goes to stdout
    /// (one URI), or into the JSON output with --json.
    #[arg(short, long, value_name = "FILE|DIR")]
    pub output: Option<PathBuf>,
    /// Connection and output options.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Where each object goes.
enum Destination {
    Stdout,
    /// Inside the JSON output.
    Json,
    File(PathBuf),
    Directory(PathBuf),
}

/// Runs `etp get`.
pub async fn run(args: GetArgs) -> anyhow::Result<ExitCode> {
    let destination = match &args.output {
        Some(path) if args.uris.len() > 1 || path.is_dir() => {
            std::fs::create_dir_all(path)
                .with_context(|| format!("cannot create directory {}", path.display()))?;
            Destination::Directory(path.clone())
        }
        Some(path) => Destination::File(path.clone()),
        None if args.remote.json => Destination::Json,
        None if args.uris.len() == 1 => Destination::Stdout,
        None => bail!("several objects: give a directory with -o DIR (or use --json)"),
    };
    let client = args.remote.connect().await?;
    let outcome = ops::get_data_objects(&client, &args.uris).await?;
    close(client).await;

    let mut listed = Vec::new();
    for (uri, object) in &outcome.ok {
        let mut entry = json!({
            "uri": uri,
            "name": object.resource.name,
            "size": object.data.len(),
        });
        match &destination {
            Destination::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(&object.data)?;
                out.flush()?;
            }
            Destination::Json => {
                entry["xml"] = Value::String(String::from_utf8_lossy(&object.data).into_owned());
            }
            Destination::File(path) => {
                write_file(path, &object.data)?;
                entry["file"] = json!(path);
            }
            Destination::Directory(dir) => {
                let path = dir.join(file_name(uri));
                write_file(&path, &object.data)?;
                entry["file"] = json!(path);
            }
        }
        if !args.remote.json
            && let Some(file) = entry.get("file").and_then(Value::as_str)
        {
            println!("{uri} -> {file}");
        }
        listed.push(entry);
    }
    if args.remote.json {
        print_json(&json!({ "objects": listed, "errors": outcome.errors }))?;
    }
    report_errors(&outcome.errors);
    Ok(if outcome.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn write_file(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, data).with_context(|| format!("cannot write {}", path.display()))
}

/// `<qualified type>_<uuid>.xml` for an object URI; anything else made file-name safe.
pub fn file_name(uri: &str) -> String {
    match DataObjectUri::parse(uri) {
        Ok(parsed) => format!("{}_{}.xml", parsed.qualified_type(), parsed.uuid_string()),
        Err(_) => {
            let safe: String = uri
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("{safe}.xml")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(
            file_name(
                "eml:///dataspace('a/b')/resqml20.obj_LocalDepth3dCrs(0f8a7c6e-1234-4e56-9abc-def012345678)"
            ),
            "resqml20.obj_LocalDepth3dCrs_0f8a7c6e-1234-4e56-9abc-def012345678.xml"
        );
        assert_eq!(file_name("eml:///bad(uri)"), "eml____bad_uri_.xml");
    }
}
