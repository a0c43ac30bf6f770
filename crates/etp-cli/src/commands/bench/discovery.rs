//! GetResources depth 1 on a dataspace of 100,000 objects: the time from sending the
//! request to the last part of the answer, as pyetp's `list_objects_under_dataspace`
//! asks it (dataspace URI, scope self, depth 1, countObjects, no edges).
//!
//! The dataspace is filled once per bench (untimed) with 2 KiB Grid2dRepresentations
//! through PutDataObjects, 1,000 per message. Baseline: the store engine listing the same
//! objects' metadata (`ReadTxn::list_objects` over a store filled with the same records),
//! which is the least any server on this engine must do. Target: ≤ 100 ms.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use etp_protocol::types::datatypes::object::{ContextInfo, ContextScopeKind, RelationshipKind};
use etp_protocol::types::protocol::discovery::{GetResources, GetResourcesResponse};
use etp_store::{ObjectFilter, Store};

use super::Env;
use super::objects;
use super::report::{Better, Goal, Report, Series};
use super::util;
use super::xml;

/// XML bytes per object: listing reads metadata only, so small objects fill faster.
const OBJECT_SIZE: usize = 2048;
/// Objects per PutDataObjects while filling.
const FILL_BATCH: usize = 1000;
/// Longest wait for background compaction after the fill.
const SETTLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Fills the dataspace, then measures `--runs` times.
pub async fn run(env: &Env, report: &mut Report) -> anyhow::Result<()> {
    let settings = &env.settings;
    let count = settings.resources;
    let client = env.connect().await?;
    let closer = util::Closer::new(&client);
    let path = util::unique("discovery");
    let uri = util::dataspace_uri(&path);
    let objects = xml::grid_objects(&uri, count, OBJECT_SIZE, 0xd15c);

    let fill_start = Instant::now();
    objects::etp_put(env, &client, &uri, &objects, FILL_BATCH).await?;
    let fill = fill_start.elapsed();
    let raw_store = objects::RawStore::open(env, "raw-discovery").await?;
    let raw = raw_store.store();
    let records = objects::store_records(&path, &objects)?;
    drop(objects);
    objects::raw_put(raw, &path, records, FILL_BATCH, true).await?;
    let settled = util::settle(SETTLE_LIMIT).await;

    let mut series = Series::new(
        "discovery",
        "get_resources",
        format!("GetResources depth 1, dataspace of {count} objects"),
        "ms",
        Better::Lower,
    )
    .baseline(
        "raw_store.list_objects",
        "etp-store list_objects, same objects",
    )
    .goal(Goal::AtMost(100.0))
    .note(format!(
        "filled through PutDataObjects ({FILL_BATCH} per message, untimed) in {:.1} s = {:.0} objects/s, \
         then {:.1} s until the bench process was idle (store compaction)",
        fill.as_secs_f64(),
        count as f64 / fill.as_secs_f64(),
        settled.as_secs_f64()
    ));
    let request = GetResources {
        context: ContextInfo {
            uri: uri.clone().into(),
            depth: 1,
            data_object_types: Default::default(),
            navigable_edges: RelationshipKind::Primary,
            include_secondary_targets: false,
            include_secondary_sources: false,
        },
        scope: ContextScopeKind::Self_,
        count_objects: true,
        store_last_write_filter: None,
        active_status_filter: None,
        include_edges: false,
    };
    let mut answer_note = None;
    for _ in 0..settings.runs {
        let raw_ms = raw_list(raw, &path, count).await?;
        let mark = util::phase("discovery.get_resources");
        let start = Instant::now();
        let answers: Vec<GetResourcesResponse> = client
            .request_all(request.clone())
            .await
            .context("GetResources")?;
        let etp_ms = start.elapsed().as_secs_f64() * 1e3;
        drop(mark);
        let listed: usize = answers.iter().map(|a| a.resources.len()).sum();
        if listed != count {
            bail!("GetResources listed {listed} of {count} objects");
        }
        answer_note.get_or_insert_with(|| {
            format!(
                "answer: {} message(s), {:.1} MB of Avro",
                answers.len(),
                answers
                    .iter()
                    .map(etp_protocol::codec::Avro::encoded_len)
                    .sum::<usize>() as f64
                    / 1e6
            )
        });
        series.push_pair(etp_ms, raw_ms);
    }
    if let Some(note) = answer_note {
        series.add_note(note);
    }
    report.add(series);
    if !env.in_process() {
        util::delete_dataspace(&client, &uri).await;
    }
    closer.close().await?;
    Ok(())
}

/// Milliseconds the store takes to list every object of the dataspace.
async fn raw_list(store: &Arc<dyn Store>, dataspace: &str, expected: usize) -> anyhow::Result<f64> {
    let store = store.clone();
    let dataspace = dataspace.to_string();
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let r = store.read()?;
        let mut listed = 0usize;
        for item in r.list_objects(&dataspace, &ObjectFilter::default())? {
            let (_key, meta) = item?;
            std::hint::black_box(&meta);
            listed += 1;
        }
        let ms = start.elapsed().as_secs_f64() * 1e3;
        if listed != expected {
            bail!("the baseline store listed {listed} of {expected} objects");
        }
        anyhow::Ok(ms)
    })
    .await?
}
