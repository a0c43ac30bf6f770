//! `etp array ls | get | put`: the arrays (HDF5 datasets in EPC terms) behind data objects.
//!
//! An array is named by `(URI, PATH)`: for RESQML 2.0.1 the URI of the
//! `obj_EpcExternalPartReference` and the `PathInHdfFile`; for RESQML 2.2 the owning
//! object and the `PathInExternalFile` (03-uris-and-objects.md §6). `etp array ls OBJECT`
//! reads the object's XML to find the arrays it references.
//!
//! Downloads stream to disk block by block (`.npy`, or `.raw` for the bare little-endian
//! elements); uploads stream from a `.npy` file. Both run inside a transaction by default:
//! an upload appears atomically, and a download reads one consistent state.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use etp_client::Client;
use etp_client::ops::{
    self, ArraySink, ArraySource, ArrayTransfer, ArrayValues, BlockWriter, OpsError,
    TransactionOptions,
};
use etp_protocol::names::QualifiedType;
use etp_protocol::types::datatypes::data_array_types::{DataArrayIdentifier, DataArrayMetadata};
use etp_protocol::uri::{DataObjectUri, parse_uuid};
use indicatif::ProgressBar;
use serde_json::json;

use super::remote::{RemoteArgs, close, print_json, progress};
use crate::npy::{ElementType, NpyReader, NpyWriter};

/// `etp array`.
#[derive(Debug, Clone, Args)]
pub struct ArrayArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ArrayCommand,
}

/// The array subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum ArrayCommand {
    /// Metadata of the arrays a data object references (or of the one array URI PATH).
    Ls(ArrayLsArgs),
    /// Download an array into a .npy (or .raw) file.
    Get(ArrayGetArgs),
    /// Upload a .npy file as an array.
    Put(ArrayPutArgs),
}

/// `etp array ls`.
#[derive(Debug, Clone, Args)]
pub struct ArrayLsArgs {
    /// A data object URI (its XML lists its arrays), or with PATH the array's URI.
    pub uri: String,
    /// Path of one array in URI (`pathInResource`).
    pub path: Option<String>,
    /// Connection and output options.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Transfer options of `get` and `put`.
#[derive(Debug, Clone, Args)]
pub struct TransferArgs {
    /// Do not wrap the transfer in a transaction.
    #[arg(long)]
    pub no_transaction: bool,
    /// Block requests kept in flight at once.
    #[arg(long, value_name = "N", default_value_t = ops::DEFAULT_MAX_IN_FLIGHT)]
    pub max_in_flight: usize,
    /// Largest block in bytes (default: what the message size allows).
    #[arg(long, value_name = "BYTES")]
    pub block_size: Option<usize>,
}

impl TransferArgs {
    fn transfer(&self) -> ArrayTransfer {
        ArrayTransfer {
            max_in_flight: self.max_in_flight.max(1),
            max_block_bytes: self.block_size,
            ..ArrayTransfer::default()
        }
    }
}

/// `etp array get`.
#[derive(Debug, Clone, Args)]
pub struct ArrayGetArgs {
    /// URI the array belongs to.
    pub uri: String,
    /// Path of the array in URI (`pathInResource`).
    pub path: String,
    /// Output file: `.raw` for bare little-endian elements, anything else gets `.npy`
    /// format.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Transfer options.
    #[command(flatten)]
    pub transfer: TransferArgs,
    /// Connection and output options.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `etp array put`.
#[derive(Debug, Clone, Args)]
pub struct ArrayPutArgs {
    /// The .npy file (C order; b1, i1, u1, i2, u2, i4, u4, i8, u8, f4, f8 or U<n>).
    pub file: PathBuf,
    /// URI the array belongs to.
    pub uri: String,
    /// Path of the array in URI (`pathInResource`).
    pub path: String,
    /// Transfer options.
    #[command(flatten)]
    pub transfer: TransferArgs,
    /// Connection and output options.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Runs an array subcommand.
pub async fn run(args: ArrayArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ArrayCommand::Ls(args) => ls(args).await,
        ArrayCommand::Get(args) => get(args).await,
        ArrayCommand::Put(args) => put(args).await,
    }
}

/// The metadata as JSON fields and as a short text.
fn describe(metadata: &DataArrayMetadata) -> (serde_json::Value, String) {
    let dims: Vec<String> = metadata.dimensions.iter().map(i64::to_string).collect();
    let text = format!(
        "{} ({} / {})",
        if dims.is_empty() {
            "scalar".to_string()
        } else {
            dims.join(" x ")
        },
        metadata.transport_array_type,
        metadata.logical_array_type.as_str()
    );
    (serde_json::to_value(metadata).unwrap_or_default(), text)
}

async fn ls(args: ArrayLsArgs) -> anyhow::Result<ExitCode> {
    let client = args.remote.connect().await?;
    let result = list(&client, &args).await;
    close(client).await;
    let rows = result?;
    let mut failed = false;
    if args.remote.json {
        let entries: Vec<serde_json::Value> = rows
            .iter()
            .map(|(uid, metadata)| match metadata {
                Ok(m) => json!({"uri": uid.uri, "path": uid.path_in_resource, "metadata": m}),
                Err(e) => json!({"uri": uid.uri, "path": uid.path_in_resource, "error": e}),
            })
            .collect();
        print_json(&entries)?;
    }
    for (uid, metadata) in &rows {
        match metadata {
            Ok(m) if !args.remote.json => {
                println!("{}  {}  {}", uid.path_in_resource, describe(m).1, uid.uri)
            }
            Ok(_) => {}
            Err(e) => {
                failed = true;
                eprintln!("error: {} {}: {e}", uid.uri, uid.path_in_resource);
            }
        }
    }
    if rows.is_empty() && !args.remote.json {
        println!("(no arrays referenced)");
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

type MetadataRows = Vec<(
    DataArrayIdentifier,
    Result<DataArrayMetadata, ops::KeyError>,
)>;

async fn list(client: &Client, args: &ArrayLsArgs) -> anyhow::Result<MetadataRows> {
    let uids = match &args.path {
        Some(path) => vec![DataArrayIdentifier {
            uri: args.uri.clone().into(),
            path_in_resource: path.clone().into(),
        }],
        None => referenced_arrays(client, &args.uri).await?,
    };
    let metadata = ops::get_arrays_metadata(client, &uids).await?;
    Ok(uids.into_iter().zip(metadata).collect())
}

/// The arrays the XML of `uri` references, each named in the object's dataspace.
async fn referenced_arrays(client: &Client, uri: &str) -> anyhow::Result<Vec<DataArrayIdentifier>> {
    let object_uri =
        DataObjectUri::parse(uri).with_context(|| format!("{uri:?} is not a data object URI"))?;
    let mut objects = ops::get_data_objects(client, &[uri.to_string()])
        .await?
        .into_result()?;
    let object = objects
        .swap_remove(uri)
        .with_context(|| format!("the store did not return {uri}"))?;
    let info = etp_model::parse_data_object(&object.data)
        .with_context(|| format!("the XML of {uri} cannot be read"))?;
    let mut out: Vec<DataArrayIdentifier> = Vec::new();
    for key in info.array_keys() {
        let owner = QualifiedType::parse(key.qualified_type)
            .ok()
            .zip(parse_uuid(key.uuid))
            .and_then(|(t, u)| object_uri.dataspace().data_object(t, u).ok());
        let Some(owner) = owner else {
            tracing::warn!(
                "skipping array {} of unusable owner {} {}",
                key.path_in_resource,
                key.qualified_type,
                key.uuid
            );
            continue;
        };
        let uid = DataArrayIdentifier {
            uri: owner.to_string().into(),
            path_in_resource: key.path_in_resource.to_string().into(),
        };
        if !out.contains(&uid) {
            out.push(uid);
        }
    }
    Ok(out)
}

/// The dataspace URI of an array's URI, for the transaction.
fn dataspace_of(uri: &str) -> anyhow::Result<String> {
    Ok(DataObjectUri::parse(uri)
        .with_context(|| format!("{uri:?} is not a data object URI"))?
        .dataspace()
        .to_string())
}

/// Runs `work` in a transaction over `dataspace` unless `no_transaction`.
async fn maybe_in_transaction<T, F, Fut>(
    client: &Client,
    no_transaction: bool,
    options: TransactionOptions,
    work: F,
) -> anyhow::Result<T>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    if no_transaction {
        work(client.clone()).await
    } else {
        ops::in_transaction(client, &options, work).await
    }
}

/// Ticks a progress bar as blocks arrive.
struct ProgressSink {
    inner: NpyWriter,
    bar: ProgressBar,
}

impl ArraySink for ProgressSink {
    fn write(&mut self, offset: u64, values: ArrayValues) -> std::io::Result<()> {
        let n = values.len() as u64;
        self.inner.write(offset, values)?;
        self.bar.inc(n);
        Ok(())
    }
}

/// Ticks a progress bar as blocks are read.
struct ProgressSource {
    inner: NpyReader,
    bar: ProgressBar,
}

impl ArraySource for ProgressSource {
    fn read(&mut self, offset: u64, count: usize) -> std::io::Result<ArrayValues> {
        let values = self.inner.read(offset, count)?;
        self.bar.inc(count as u64);
        Ok(values)
    }

    fn read_into(
        &mut self,
        offset: u64,
        count: usize,
        out: &mut BlockWriter<'_>,
    ) -> std::io::Result<()> {
        self.inner.read_into(offset, count, out)?;
        self.bar.inc(count as u64);
        Ok(())
    }
}

async fn get(args: ArrayGetArgs) -> anyhow::Result<ExitCode> {
    let uid = DataArrayIdentifier {
        uri: args.uri.clone().into(),
        path_in_resource: args.path.clone().into(),
    };
    let options = TransactionOptions {
        read_only: true,
        message: "etp array get".into(),
        ..TransactionOptions::write(dataspace_of(&uid.uri)?)
    };
    let client = args.remote.connect().await?;
    let json = args.remote.json;
    let output = args.output.clone();
    let transfer = args.transfer.transfer();
    let result = maybe_in_transaction(
        &client,
        args.transfer.no_transaction,
        options,
        |client| async move { download(&client, &uid, &output, &transfer, json).await },
    )
    .await;
    close(client).await;
    let (metadata, element) = result?;
    let (fields, text) = describe(&metadata);
    if json {
        print_json(&json!({
            "uri": args.uri,
            "path": args.path,
            "file": args.output,
            "dtype": format!("{element:?}"),
            "metadata": fields,
        }))?;
    } else {
        println!("{} -> {}: {text}", args.path, args.output.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Metadata, then the values streamed into the file.
async fn download(
    client: &Client,
    uid: &DataArrayIdentifier,
    output: &Path,
    transfer: &ArrayTransfer,
    json: bool,
) -> anyhow::Result<(DataArrayMetadata, ElementType)> {
    let metadata = ops::get_array_metadata(client, uid).await?;
    let shape = metadata
        .dimensions
        .iter()
        .map(|&d| u64::try_from(d))
        .collect::<Result<Vec<u64>, _>>()
        .context("the store reports a negative dimension")?;
    let element = ElementType::for_etp(metadata.transport_array_type, metadata.logical_array_type);
    let raw = output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("raw"));
    let count = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    let mut sink = ProgressSink {
        inner: NpyWriter::create(output, element, &shape, raw)?,
        bar: progress(count.unwrap_or(0), "elements", json),
    };
    let fetched = ops::get_array(client, uid, &mut sink, transfer).await;
    sink.bar.finish_and_clear();
    let fetched = fetched.map_err(|e| explain(e, uid))?;
    if fetched.dimensions != metadata.dimensions
        || fetched.transport_array_type != metadata.transport_array_type
    {
        bail!("the array changed while it was being read; try again");
    }
    sink.inner
        .finish()
        .with_context(|| format!("writing {}", output.display()))?;
    Ok((metadata, element))
}

async fn put(args: ArrayPutArgs) -> anyhow::Result<ExitCode> {
    let reader = NpyReader::open(&args.file)?;
    let header = reader.header.clone();
    let (transport, logical) = header.element.etp_types();
    let uid = DataArrayIdentifier {
        uri: args.uri.clone().into(),
        path_in_resource: args.path.clone().into(),
    };
    let options = TransactionOptions {
        message: "etp array put".into(),
        ..TransactionOptions::write(dataspace_of(&uid.uri)?)
    };
    let count = header.element_count()?;
    let json = args.remote.json;
    let transfer = args.transfer.transfer();
    let client = args.remote.connect().await?;
    // The store refuses rank 0 (12-dataarray.md leaves it open): a scalar goes as [1].
    let shape = if header.shape.is_empty() {
        vec![1]
    } else {
        header.shape.clone()
    };
    let result = maybe_in_transaction(
        &client,
        args.transfer.no_transaction,
        options,
        |client| async move {
            let mut source = ProgressSource {
                inner: reader,
                bar: progress(count, "elements", json),
            };
            let sent = ops::put_array(
                &client,
                &uid,
                &shape,
                transport,
                logical,
                &mut source,
                &transfer,
            )
            .await;
            source.bar.finish_and_clear();
            sent.map_err(|e| explain(e, &uid))
        },
    )
    .await;
    close(client).await;
    result?;
    if json {
        print_json(&json!({
            "uri": args.uri,
            "path": args.path,
            "file": args.file,
            "dimensions": header.shape,
            "transportArrayType": transport,
            "logicalArrayType": logical,
        }))?;
    } else {
        println!(
            "{} -> {} {}: {:?} ({transport} / {})",
            args.file.display(),
            args.uri,
            args.path,
            header.shape,
            logical.as_str()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Adds which array failed to an operation error.
fn explain(error: OpsError, uid: &DataArrayIdentifier) -> anyhow::Error {
    anyhow::Error::new(error).context(format!("array {} {}", uid.uri, uid.path_in_resource))
}
