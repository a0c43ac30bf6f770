//! `etp rm URI... [--prune]`: delete data objects.

use std::process::ExitCode;

use clap::Args;
use etp_client::ops;
use serde_json::json;

use super::remote::{RemoteArgs, close, print_json, report_errors};

/// `etp rm`.
#[derive(Debug, Clone, Args)]
pub struct RmArgs {
    /// Data object URIs.
    #[arg(required = true, value_name = "URI")]
    pub uris: Vec<String>,
    /// Also delete contained objects left without their container (pruneContainedObjects;
    /// WITSML containers).
    #[arg(long)]
    pub prune: bool,
    /// Connection and output options.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Runs `etp rm`.
pub async fn run(args: RmArgs) -> anyhow::Result<ExitCode> {
    let client = args.remote.connect().await?;
    let outcome = ops::delete_data_objects(&client, &args.uris, args.prune).await?;
    close(client).await;
    if args.remote.json {
        print_json(&json!({ "deleted": outcome.ok, "errors": outcome.errors }))?;
    } else {
        for deleted in outcome.ok.values().flatten() {
            println!("deleted {deleted}");
        }
    }
    report_errors(&outcome.errors);
    Ok(if outcome.all_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
