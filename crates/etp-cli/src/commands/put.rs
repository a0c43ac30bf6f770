//! `etp put FILE... [--dataspace DS]`: upload XML data objects.
//!
//! Each file is parsed (`etp-model`) for its qualified type, uuid and title, which give
//! the object's URI in the target dataspace and its resource name. Files are read and sent
//! in groups (batched `PutDataObjects`, big objects chunked by `etp-client`), so a large
//! upload never sits in memory at once. By default everything happens in one transaction:
//! any failure (unreadable or invalid file, object refused by the store) rolls the whole
//! upload back. `--no-transaction` lets each request commit on its own and keeps what
//! succeeded.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use etp_client::Client;
use etp_client::ops::{self, TransactionOptions};
use etp_protocol::Uuid;
use etp_protocol::codec::Map;
use etp_protocol::names::QualifiedType;
use etp_protocol::types::datatypes::object::DataObject;
use etp_protocol::uri::{DataspaceUri, parse_uuid};
use serde::Serialize;

use super::remote::{RemoteArgs, close, parse_dataspace, print_json, progress};

/// Files per group sent together.
const GROUP_FILES: usize = 500;
/// Bytes of XML per group sent together.
const GROUP_BYTES: u64 = 32 * 1024 * 1024;

/// `etp put`.
#[derive(Debug, Clone, Args)]
pub struct PutArgs {
    /// XML files of data objects (directories with --recursive).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Target dataspace: a path (`project/a`) or URI; the default dataspace `eml:///` if
    /// not given.
    #[arg(short, long, value_name = "DS", default_value = "")]
    pub dataspace: String,
    /// Upload every `*.xml` file under the directories given.
    #[arg(short, long)]
    pub recursive: bool,
    /// Let each request commit on its own instead of one transaction for everything.
    #[arg(long)]
    pub no_transaction: bool,
    /// Connection and output options.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// One uploaded object.
#[derive(Debug, Serialize)]
struct Uploaded {
    file: PathBuf,
    uri: String,
    name: String,
}

/// One failure, tied to its file where known.
#[derive(Debug, Serialize)]
struct Failure {
    file: Option<PathBuf>,
    uri: Option<String>,
    code: Option<i32>,
    message: String,
}

/// Runs `etp put`.
pub async fn run(args: PutArgs) -> anyhow::Result<ExitCode> {
    let files = collect_files(&args.files, args.recursive)?;
    let dataspace = parse_dataspace(&args.dataspace)?;
    let client = args.remote.connect().await?;
    let transaction = if args.no_transaction {
        None
    } else {
        let options = TransactionOptions {
            message: format!("etp put of {} files", files.len()),
            ..TransactionOptions::write(dataspace.to_string())
        };
        Some(
            ops::start_transaction(&client, &options)
                .await
                .context("cannot start a transaction (--no-transaction to do without)")?,
        )
    };
    let outcome = upload(
        &client,
        &dataspace,
        &files,
        transaction.is_some(),
        args.remote.json,
    )
    .await;
    let (uploaded, failures) = match outcome {
        Ok(result) => result,
        Err(e) => {
            if let Some(t) = transaction {
                let _ = ops::rollback_transaction(&client, t).await;
            }
            close(client).await;
            return Err(e);
        }
    };
    let committed = match transaction {
        None => None,
        Some(t) if failures.is_empty() => {
            let result = ops::commit_transaction(&client, t).await;
            close(client).await;
            result.context("the upload was not committed")?;
            Some(true)
        }
        Some(t) => {
            let result = ops::rollback_transaction(&client, t).await;
            close(client).await;
            result.context("rolling back after a failure")?;
            Some(false)
        }
    };
    report(
        &dataspace,
        &uploaded,
        &failures,
        committed,
        args.remote.json,
    )?;
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn report(
    dataspace: &DataspaceUri,
    uploaded: &[Uploaded],
    failures: &[Failure],
    committed: Option<bool>,
    json: bool,
) -> anyhow::Result<()> {
    for failure in failures {
        let what = failure
            .file
            .as_ref()
            .map(|f| f.display().to_string())
            .or_else(|| failure.uri.clone())
            .unwrap_or_default();
        eprintln!("error: {what}: {}", failure.message);
    }
    if json {
        return print_json(&serde_json::json!({
            "dataspace": dataspace.to_string(),
            "transaction": committed.is_some(),
            "committed": committed,
            "objects": uploaded,
            "errors": failures,
        }));
    }
    match committed {
        Some(false) => eprintln!("nothing was written: the transaction was rolled back"),
        _ => println!("put {} objects into {dataspace}", uploaded.len()),
    }
    Ok(())
}

/// Reads, parses and sends the files group by group. In a transaction the first failing
/// group ends the upload (it will be rolled back anyway).
async fn upload(
    client: &Client,
    dataspace: &DataspaceUri,
    files: &[PathBuf],
    in_transaction: bool,
    json: bool,
) -> anyhow::Result<(Vec<Uploaded>, Vec<Failure>)> {
    let bar = progress(files.len() as u64, "files", json);
    let mut uploaded = Vec::new();
    let mut failures = Vec::new();
    let mut rest = files;
    while !rest.is_empty() {
        let mut objects = Vec::new();
        let mut sources: Map<(PathBuf, String)> = Map::new();
        let mut bytes = 0u64;
        let mut taken = 0;
        for file in rest {
            if taken >= GROUP_FILES || bytes >= GROUP_BYTES {
                break;
            }
            taken += 1;
            match load(file, dataspace) {
                Ok(object) => {
                    bytes += object.data.len() as u64;
                    let uri = object.resource.uri.clone();
                    if sources.contains_key(&uri) {
                        tracing::warn!("{uri} appears twice in one group; the last file wins");
                    }
                    sources.insert(uri, (file.clone(), object.resource.name.to_string()));
                    objects.push(object);
                }
                Err(e) => failures.push(Failure {
                    file: Some(file.clone()),
                    uri: None,
                    code: None,
                    message: format!("{e:#}"),
                }),
            }
        }
        rest = &rest[taken..];
        let results = ops::put_data_objects(client, objects).await?;
        for uri in results.ok.keys() {
            if let Some((file, name)) = sources.get(uri) {
                uploaded.push(Uploaded {
                    file: file.clone(),
                    uri: uri.to_string(),
                    name: name.clone(),
                });
            }
        }
        for (uri, error) in results.errors {
            failures.push(Failure {
                file: sources.get(&uri).map(|(file, _)| file.clone()),
                uri: Some(uri.to_string()),
                code: Some(error.code.code()),
                message: error.to_string(),
            });
        }
        bar.inc(taken as u64);
        if in_transaction && !failures.is_empty() {
            break;
        }
    }
    bar.finish_and_clear();
    Ok((uploaded, failures))
}

/// Reads one file and builds its DataObject in `dataspace`.
fn load(file: &Path, dataspace: &DataspaceUri) -> anyhow::Result<DataObject> {
    let xml = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let info = etp_model::parse_data_object(&xml).context("not a data object")?;
    let qualified_type = QualifiedType::parse(&info.qualified_type)
        .with_context(|| format!("unusable type {:?}", info.qualified_type))?;
    let uuid = parse_uuid(&info.uuid)
        .or_else(|| info.uuid.parse::<Uuid>().ok().map(|u| u.0))
        .with_context(|| format!("unusable uuid {:?}", info.uuid))?;
    let uri = dataspace
        .data_object(qualified_type, uuid)
        .context("cannot build the object's URI")?;
    Ok(ops::new_data_object(
        uri.to_string(),
        info.title().unwrap_or_default(),
        Bytes::from(xml),
    ))
}

/// The files to upload: files as given, directories expanded to their `*.xml` files
/// (sorted, recursively) with `--recursive`.
fn collect_files(paths: &[PathBuf], recursive: bool) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            if !recursive {
                bail!("{} is a directory (use --recursive)", path.display());
            }
            walk(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("xml"))
        {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_xml_files_recursively_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        for name in ["b.xml", "a.XML", "notes.txt"] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        std::fs::write(sub.join("c.xml"), "x").unwrap();
        assert!(collect_files(&[dir.path().to_path_buf()], false).is_err());
        let files = collect_files(&[dir.path().to_path_buf()], true).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| {
                p.strip_prefix(dir.path())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["a.XML", "b.xml", "sub/c.xml"]);
        // A file given explicitly is taken whatever its extension.
        let txt = dir.path().join("notes.txt");
        assert_eq!(
            collect_files(std::slice::from_ref(&txt), false).unwrap(),
            [txt]
        );
    }

    #[test]
    fn builds_uris_in_the_dataspace() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("crs.xml");
        std::fs::write(
            &file,
            r#"<resqml2:LocalDepth3dCrs xmlns:eml="http://www.energistics.org/energyml/data/commonv2"
                xmlns:resqml2="http://www.energistics.org/energyml/data/resqmlv2"
                schemaVersion="2.0.1" uuid="DBE0E6BA-1EA6-4DD7-B541-9C4C14C16F62">
              <eml:Citation><eml:Title>Demo crs</eml:Title></eml:Citation>
            </resqml2:LocalDepth3dCrs>"#,
        )
        .unwrap();
        let ds = parse_dataspace("demo/a").unwrap();
        let object = load(&file, &ds).unwrap();
        assert_eq!(
            object.resource.uri,
            "eml:///dataspace('demo/a')/resqml20.obj_LocalDepth3dCrs(dbe0e6ba-1ea6-4dd7-b541-9c4c14c16f62)"
        );
        assert_eq!(object.resource.name, "Demo crs");
        std::fs::write(&file, "<not-energistics/>").unwrap();
        assert!(load(&file, &ds).is_err());
    }
}
