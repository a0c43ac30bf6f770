//! PutDataObjects and GetDataObjects of 20 KiB RESQML objects, 1 and 100 objects per
//! message, next to the store engine doing the same writes and reads in-process.
//!
//! ETP side: one session keeps `--window` requests in flight (pyetp sends its puts all at
//! once; the server stops reading beyond its `max_requests_in_flight`). Every run writes
//! into a fresh dataspace; when the server offers Transaction (18) all puts of a run go
//! into one transaction, as pyetp's `upload_model` does, and the commit is timed.
//!
//! Baseline: an `etp-store` [`FjallStore`] in the scratch directory, on one thread, with
//! the same object count, bytes and metadata (parsed with `etp-model` before the clock
//! starts, so XML parsing counts against the server, not the baseline) and the same commit
//! granularity (one commit per run with a transaction, else one per message). Reads use
//! one snapshot per message's worth of objects.
//!
//! Order within a run: baseline put, baseline get, ETP put, ETP get, each phase once the
//! process is idle. Each side's get is the first read of objects it has just written, a
//! read whose cost depends on what the engine did with them since (memtable flushed to
//! blob files, cache filled): with the baseline's get moved next to its own put, both
//! sides are read in the same state (before, the baseline was read after the ETP put and
//! varied from 6,700 to 105,000 objects/s between runs; see docs/performance.md).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use bytes::Bytes;
use etp_protocol::codec::Map;
use etp_protocol::types::protocol::store::{
    GetDataObjects, GetDataObjectsResponse, PutDataObjects, PutDataObjectsResponse,
};
use etp_store::{ActiveStatus, ObjectKey, ObjectMeta, Reference, RelationshipKind, Store};

use super::Env;
use super::report::{Better, Goal, Report, Series};
use super::util;
use super::xml::{self, GeneratedObject};

/// Bytes of XML per object.
pub const OBJECT_SIZE: usize = 20 * 1024;
/// Objects per message.
const BATCHES: [usize; 2] = [1, 100];
/// Longest wait for background compaction between the puts and the gets.
const SETTLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Measures every figure `--runs` times.
pub async fn run(env: &Env, report: &mut Report) -> anyhow::Result<()> {
    let settings = &env.settings;
    let count = settings.objects;
    let client = env.connect().await?;
    let closer = util::Closer::new(&client);
    let transaction_note = if client.supports_protocol(18) {
        "all puts of a run in one transaction (commit timed); baseline: one store commit per run"
    } else {
        "server without Transaction: every message auto-commits; baseline: one store commit per message"
    };
    let raw_store = RawStore::open(env, "raw-objects").await?;
    let raw = raw_store.store();
    let mut series: Vec<(usize, Series, Series)> = BATCHES
        .iter()
        .map(|&batch| {
            let put = Series::new(
                "objects",
                &format!("put_batch_{batch}"),
                format!("PutDataObjects, 20 KiB XML, {batch} per message"),
                "objects/s",
                Better::Higher,
            )
            .baseline(
                &format!("raw_store.put_batch_{batch}"),
                "etp-store put_object, same objects",
            )
            .goal(Goal::RatioAtLeast(0.5))
            .note(format!(
                "{count} objects per run, {} requests in flight; {transaction_note}",
                settings.window
            ));
            let get = Series::new(
                "objects",
                &format!("get_batch_{batch}"),
                format!("GetDataObjects, 20 KiB XML, {batch} per message"),
                "objects/s",
                Better::Higher,
            )
            .baseline(
                &format!("raw_store.get_batch_{batch}"),
                "etp-store get_object, same objects",
            )
            .goal(Goal::RatioAtLeast(0.5))
            .note("every phase starts once the bench process is idle (at most 10 s wait)");
            (batch, put, get)
        })
        .collect();
    for run in 0..settings.runs {
        for (batch, put, get) in &mut series {
            let batch = *batch;
            let tag = format!("objects-b{batch}-r{run}");
            let path = util::unique(&tag);
            let uri = util::dataspace_uri(&path);
            let objects = xml::grid_objects(&uri, count, OBJECT_SIZE, (run * 1000 + batch) as u64);
            let with_transaction = client.supports_protocol(18);

            let records = store_records(&path, &objects)?;
            let keys: Vec<ObjectKey> = records.iter().map(|(k, _, _)| k.clone()).collect();
            // Each side reads right after its own writes have settled, with nothing in
            // between: the first read of just written objects depends on what the
            // engine did with them since (memtable flushed to blob files or not, cache
            // filled or not), so both sides must be read in the same state.
            util::settle(SETTLE_LIMIT).await;
            // The mark also covers the untimed dataspace creation (one small commit).
            let mark = util::phase(format!("raw_store.put_batch_{batch}"));
            let raw_put = raw_put(raw, &path, records, batch, with_transaction).await?;
            drop(mark);
            util::settle(SETTLE_LIMIT).await;
            let mark = util::phase(format!("raw_store.get_batch_{batch}"));
            let raw_get = raw_get(raw, keys, batch).await?;
            drop(mark);
            util::settle(SETTLE_LIMIT).await;
            let mark = util::phase(format!("objects.put_batch_{batch}"));
            let etp_put = etp_put(env, &client, &uri, &objects, batch).await?;
            drop(mark);
            put.push_pair(count as f64 / etp_put, count as f64 / raw_put);

            util::settle(SETTLE_LIMIT).await;
            let mark = util::phase(format!("objects.get_batch_{batch}"));
            let etp_get = etp_get(env, &client, &objects, batch).await?;
            drop(mark);
            get.push_pair(count as f64 / etp_get, count as f64 / raw_get);

            util::delete_dataspace(&client, &uri).await;
            raw_drop_dataspace(raw, &path).await?;
        }
    }
    for (_, put, get) in series {
        report.add(put);
        report.add(get);
    }
    closer.close().await?;
    Ok(())
}

/// A store engine of its own under the scratch directory, removed when dropped.
pub struct RawStore {
    store: Option<Arc<dyn Store>>,
    dir: std::path::PathBuf,
}

impl RawStore {
    /// Opens a fresh store in `<scratch>/<name>`.
    pub async fn open(env: &Env, name: &str) -> anyhow::Result<RawStore> {
        let dir = env.scratch.path().join(name);
        let at = dir.clone();
        let store = tokio::task::spawn_blocking(move || etp_store::FjallStore::open(&at))
            .await?
            .context("cannot open the baseline store")?;
        Ok(RawStore {
            store: Some(Arc::new(store)),
            dir,
        })
    }

    /// The engine.
    pub fn store(&self) -> &Arc<dyn Store> {
        // `store` is `Some` from `open` until `drop` takes it: never `None` here.
        self.store
            .as_ref()
            .expect("the store is open until dropped")
    }
}

impl Drop for RawStore {
    fn drop(&mut self) {
        // Close the engine before its files go.
        drop(self.store.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Store key, metadata and bytes of each object, as a server would index them.
pub fn store_records(
    dataspace: &str,
    objects: &[GeneratedObject],
) -> anyhow::Result<Vec<(ObjectKey, ObjectMeta, Bytes)>> {
    let now = etp_protocol::now_micros();
    objects
        .iter()
        .map(|o| {
            let info = etp_model::parse_data_object(&o.object.data)
                .with_context(|| format!("generated object {} does not parse", o.uri))?;
            let references = info
                .edge_references()
                .filter_map(|r| {
                    Some(Reference {
                        target_uuid: r.uuid.parse::<etp_protocol::Uuid>().ok()?.0,
                        target_type: r.qualified_type.clone().unwrap_or_default(),
                        name: r.element_path.clone(),
                        kind: RelationshipKind::Primary,
                    })
                })
                .collect();
            let meta = ObjectMeta {
                qualified_type: info.qualified_type.clone(),
                title: info.title().unwrap_or_default().to_string(),
                last_changed: info.last_changed_micros().unwrap_or(now),
                store_created: now,
                store_last_write: now,
                active_status: ActiveStatus::Inactive,
                format: "xml".into(),
                custom_data: Bytes::new(),
                references,
                data_len: 0,
            };
            Ok((
                ObjectKey::new(dataspace, o.uuid.0),
                meta,
                o.object.data.clone(),
            ))
        })
        .collect()
}

/// Creates the dataspace (untimed), then writes every record, `batch` per commit or all
/// in one commit; returns the seconds taken by the writes.
pub async fn raw_put(
    store: &Arc<dyn Store>,
    dataspace: &str,
    records: Vec<(ObjectKey, ObjectMeta, Bytes)>,
    batch: usize,
    one_commit: bool,
) -> anyhow::Result<f64> {
    let store = store.clone();
    let dataspace = dataspace.to_string();
    tokio::task::spawn_blocking(move || {
        let now = etp_protocol::now_micros();
        let mut w = store.write()?;
        w.put_dataspace(&etp_store::Dataspace {
            path: dataspace,
            store_created: now,
            store_last_write: now,
            custom_data: Bytes::new(),
        })?;
        w.commit()?;
        let start = Instant::now();
        if one_commit {
            let mut w = store.write()?;
            for (key, meta, data) in records {
                w.put_object(&key, &meta, data)?;
            }
            w.commit()?;
        } else {
            for chunk in records.chunks(batch.max(1)) {
                let mut w = store.write()?;
                for (key, meta, data) in chunk {
                    w.put_object(key, meta, data.clone())?;
                }
                w.commit()?;
            }
        }
        anyhow::Ok(start.elapsed().as_secs_f64())
    })
    .await?
}

/// Reads every key back, one snapshot per `batch` keys; returns the seconds taken.
async fn raw_get(
    store: &Arc<dyn Store>,
    keys: Vec<ObjectKey>,
    batch: usize,
) -> anyhow::Result<f64> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        for chunk in keys.chunks(batch.max(1)) {
            let r = store.read()?;
            for key in chunk {
                let object = r.get_object(key)?.context("baseline object missing")?;
                if object.data.len() != OBJECT_SIZE {
                    bail!("baseline object has {} bytes", object.data.len());
                }
            }
        }
        anyhow::Ok(start.elapsed().as_secs_f64())
    })
    .await?
}

/// Removes a dataspace and everything in it from the baseline store.
pub async fn raw_drop_dataspace(store: &Arc<dyn Store>, dataspace: &str) -> anyhow::Result<()> {
    let store = store.clone();
    let dataspace = dataspace.to_string();
    tokio::task::spawn_blocking(move || {
        let mut w = store.write()?;
        w.delete_dataspace(&dataspace, true)?;
        w.commit()?;
        anyhow::Ok(())
    })
    .await?
}

/// PutDataObjects messages of `batch` objects each, keyed by URI.
pub fn put_messages(objects: &[GeneratedObject], batch: usize) -> Vec<PutDataObjects> {
    objects
        .chunks(batch.max(1))
        .map(|chunk| {
            let mut data_objects = Map::new();
            for o in chunk {
                data_objects.insert(o.uri.clone().into(), o.object.clone());
            }
            PutDataObjects {
                data_objects,
                prune_contained_objects: false,
            }
        })
        .collect()
}

/// Creates the dataspace (untimed), then puts every object with `--window` messages in
/// flight, in one transaction when the server has them; returns the seconds taken.
pub async fn etp_put(
    env: &Env,
    client: &etp_client::Client,
    dataspace_uri: &str,
    objects: &[GeneratedObject],
    batch: usize,
) -> anyhow::Result<f64> {
    util::create_dataspace(client, dataspace_path(dataspace_uri)).await?;
    let messages = Arc::new(put_messages(objects, batch));
    let start = Instant::now();
    let transaction = util::start_transaction(client, dataspace_uri).await?;
    let sender = client.clone();
    util::in_flight(messages.len(), env.settings.window, move |i| {
        let client = sender.clone();
        let messages = messages.clone();
        async move {
            let message = messages[i].clone();
            let expected = message.data_objects.len();
            let answers: Vec<PutDataObjectsResponse> = client
                .request_all(message)
                .await
                .context("PutDataObjects")?;
            let confirmed: usize = answers.iter().map(|a| a.success.len()).sum();
            if confirmed != expected {
                bail!("PutDataObjects confirmed {confirmed} of {expected} objects");
            }
            Ok(())
        }
    })
    .await?;
    util::commit(client, transaction).await?;
    Ok(start.elapsed().as_secs_f64())
}

/// Gets every object back, `batch` per message, `--window` messages in flight, checking
/// each answer's size; returns the seconds taken.
async fn etp_get(
    env: &Env,
    client: &etp_client::Client,
    objects: &[GeneratedObject],
    batch: usize,
) -> anyhow::Result<f64> {
    let messages: Arc<Vec<GetDataObjects>> = Arc::new(
        objects
            .chunks(batch.max(1))
            .map(|chunk| GetDataObjects {
                uris: chunk
                    .iter()
                    .map(|o| (o.uri.clone().into(), o.uri.clone().into()))
                    .collect(),
                format: "xml".into(),
            })
            .collect(),
    );
    let start = Instant::now();
    let sender = client.clone();
    util::in_flight(messages.len(), env.settings.window, move |i| {
        let client = sender.clone();
        let messages = messages.clone();
        async move {
            let message = messages[i].clone();
            let expected = message.uris.len();
            let answers: Vec<GetDataObjectsResponse> = client
                .request_all(message)
                .await
                .context("GetDataObjects")?;
            let mut got = 0;
            for answer in &answers {
                for object in answer.data_objects.values() {
                    if object.data.len() != OBJECT_SIZE {
                        bail!("GetDataObjects returned {} bytes", object.data.len());
                    }
                    got += 1;
                }
            }
            if got != expected {
                bail!("GetDataObjects returned {got} of {expected} objects");
            }
            Ok(())
        }
    })
    .await?;
    Ok(start.elapsed().as_secs_f64())
}

/// The path inside `eml:///dataspace('<path>')`.
pub fn dataspace_path(uri: &str) -> &str {
    uri.strip_prefix("eml:///dataspace('")
        .and_then(|rest| rest.strip_suffix("')"))
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_records_cover_every_object() {
        let uri = util::dataspace_uri("b/x");
        assert_eq!(dataspace_path(&uri), "b/x");
        let objects = xml::grid_objects(&uri, 250, 3000, 1);
        let messages = put_messages(&objects, 100);
        assert_eq!(
            messages
                .iter()
                .map(|m| m.data_objects.len())
                .collect::<Vec<_>>(),
            vec![100, 100, 50]
        );
        let records = store_records("b/x", &objects).unwrap();
        assert_eq!(records.len(), 250);
        assert_eq!(records[0].1.qualified_type, xml::GRID_TYPE);
        // Interpretation and CRS; the HDF proxy is not a graph edge.
        assert_eq!(records[0].1.references.len(), 2);
    }
}
