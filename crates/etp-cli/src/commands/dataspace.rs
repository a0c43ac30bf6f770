//! `etp dataspace ls | create NAME... | rm NAME...`.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use etp_client::ops::{self, KeyedResults};
use etp_protocol::codec::Map;
use etp_protocol::types::datatypes::{DataValue, DataValueItem};
use serde_json::json;

use super::info::format_micros;
use super::remote::{RemoteArgs, close, parse_dataspace, print_json, report_errors};

/// `etp dataspace`.
#[derive(Debug, Clone, Args)]
pub struct DataspaceArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DataspaceCommand,
}

/// The dataspace subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum DataspaceCommand {
    /// List the dataspaces.
    Ls(DataspaceLsArgs),
    /// Create dataspaces.
    Create(DataspaceCreateArgs),
    /// Delete dataspaces, with every object and array in them.
    Rm(DataspaceRmArgs),
}

/// `etp dataspace ls`.
#[derive(Debug, Clone, Args)]
pub struct DataspaceLsArgs {
    /// Connection and output options.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `etp dataspace create`.
#[derive(Debug, Clone, Args)]
pub struct DataspaceCreateArgs {
    /// Dataspaces to create: paths (`project/survey`) or URIs (`eml:///dataspace('x')`).
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// customData entry with a string value (repeatable), e.g. `--custom owner=me`.
    #[arg(long, value_name = "KEY=VALUE")]
    pub custom: Vec<String>,
    /// customData entry with a list of strings, comma-separated (repeatable), e.g.
    /// `--custom-list legaltags=a,b` (OSDU `legaltags`, `owners`, `viewers`...).
    #[arg(long, value_name = "KEY=V1,V2")]
    pub custom_list: Vec<String>,
    /// Connection and output options.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `etp dataspace rm`.
#[derive(Debug, Clone, Args)]
pub struct DataspaceRmArgs {
    /// Dataspaces to delete: paths or URIs.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// Connection and output options.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Runs a dataspace subcommand.
pub async fn run(args: DataspaceArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        DataspaceCommand::Ls(args) => ls(args).await,
        DataspaceCommand::Create(args) => create(args).await,
        DataspaceCommand::Rm(args) => rm(args).await,
    }
}

async fn ls(args: DataspaceLsArgs) -> anyhow::Result<ExitCode> {
    let client = args.remote.connect().await?;
    let mut dataspaces = ops::list_dataspaces(&client, None).await?;
    close(client).await;
    dataspaces.sort_by(|a, b| a.path.cmp(&b.path));
    if args.remote.json {
        print_json(&dataspaces)?;
    } else if dataspaces.is_empty() {
        println!("(no dataspaces)");
    } else {
        let width = dataspaces.iter().map(|d| d.path.len()).max().unwrap_or(0);
        println!("{:width$}  {:27}  LAST WRITE", "PATH", "CREATED");
        for d in &dataspaces {
            println!(
                "{:width$}  {}  {}",
                d.path,
                format_micros(d.store_created),
                format_micros(d.store_last_write)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The customData of `--custom` and `--custom-list`.
fn custom_data(args: &DataspaceCreateArgs) -> anyhow::Result<Map<DataValue>> {
    let mut out = Map::new();
    for entry in &args.custom {
        let (key, value) = entry
            .split_once('=')
            .with_context(|| format!("--custom {entry:?}: expected KEY=VALUE"))?;
        out.insert(
            key.to_string().into(),
            DataValue {
                item: DataValueItem::String(value.to_string().into()),
            },
        );
    }
    for entry in &args.custom_list {
        let (key, values) = entry
            .split_once('=')
            .with_context(|| format!("--custom-list {entry:?}: expected KEY=V1,V2"))?;
        let values = values
            .split(',')
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>();
        out.insert(key.into(), DataValue::strings(values));
    }
    Ok(out)
}

async fn create(args: DataspaceCreateArgs) -> anyhow::Result<ExitCode> {
    let custom = custom_data(&args)?;
    let mut dataspaces = Vec::new();
    for name in &args.names {
        let uri = parse_dataspace(name)?;
        if uri.is_default() {
            bail!("the default dataspace eml:/// always exists and cannot be created");
        }
        dataspaces.push((uri, custom.clone()));
    }
    let client = args.remote.connect().await?;
    let outcome = ops::create_dataspaces(&client, &dataspaces).await?;
    close(client).await;
    report(outcome, "created", args.remote.json)
}

async fn rm(args: DataspaceRmArgs) -> anyhow::Result<ExitCode> {
    let dataspaces = args
        .names
        .iter()
        .map(|name| parse_dataspace(name))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = args.remote.connect().await?;
    let outcome = ops::delete_dataspaces(&client, &dataspaces).await?;
    close(client).await;
    report(outcome, "deleted", args.remote.json)
}

/// Prints what succeeded (`{"ok": [...], "errors": {...}}` with `--json`) and what
/// failed; failure exit code if anything failed.
fn report(outcome: KeyedResults<()>, done: &str, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(&json!({
            "ok": outcome.ok.keys().collect::<Vec<_>>(),
            "errors": outcome.errors,
        }))?;
    } else {
        for uri in outcome.ok.keys() {
            println!("{done} {uri}");
        }
    }
    report_errors(&outcome.errors);
    Ok(if outcome.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
