//! Measures what streaming a listing buys: GetResources on a dataspace of 100,000 objects
//! without counts (parts go out while the store is scanned) and with `countObjects` (parts
//! held until the whole listing is counted), alternated in one run: median wall time and
//! median process CPU of each. A measurement, not a check: run it with
//! `cargo test --release -p etp-server --test listing_timing -- --ignored --nocapture`.

mod common;
mod discovery_common;

use std::time::{Duration, Instant};

use common::TestServer;
use discovery_common::{Put, ask, get_resources};
use etp_protocol::types::datatypes::object::ContextScopeKind;
use etp_protocol::uri::parse_uuid;
use etp_store::{ObjectKey, Store};

const OBJECTS: u64 = 100_000;
const REPETITIONS: usize = 15;

fn wellbore_xml() -> Vec<u8> {
    r#"<?xml version="1.0" encoding="utf-8"?>
<Wellbore xmlns="http://www.energistics.org/energyml/data/witsmlv2" xmlns:eml="http://www.energistics.org/energyml/data/commonv2" schemaVersion="2.1" uuid="00000002-0000-4000-8000-000000000000">
  <eml:Citation>
    <eml:Title>Wellbore</eml:Title>
    <eml:Originator>etp integration tests</eml:Originator>
    <eml:Creation>2026-01-02T03:04:05Z</eml:Creation>
    <eml:Format>generated</eml:Format>
  </eml:Citation>
  <Well>
    <eml:Uuid>00000001-0000-4000-8000-000000000000</eml:Uuid>
    <eml:QualifiedType>witsml21.Well</eml:QualifiedType>
    <eml:Title>Well</eml:Title>
  </Well>
</Wellbore>"#
        .as_bytes()
        .to_vec()
}

fn uuid(kind: u32, n: u64) -> [u8; 16] {
    parse_uuid(&format!("{kind:08x}-0000-4000-8000-{n:012x}")).expect("valid uuid")
}

/// CPU time of every thread of this process so far (`/proc/self/task/*/schedstat`, ns).
/// Threads that ended are missing, so only differences over a span in which the
/// runtime's threads stay alive mean anything.
fn process_cpu() -> Duration {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task")
        .expect("procfs")
        .flatten()
    {
        if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) {
            total += text
                .split_whitespace()
                .next()
                .and_then(|ns| ns.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(total)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "seeds 100,000 objects; a measurement, not a check"]
async fn streamed_and_held_listings_of_100k_objects_wall_and_cpu() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = discovery_common::open_store(dir.path());
        let mut w = store.write().unwrap();
        discovery_common::create_dataspace(w.as_mut(), "big");
        let (_, base) = discovery_common::meta_of(&Put::new(wellbore_xml(), 100));
        for n in 0..OBJECTS {
            let mut meta = base.clone();
            meta.title = format!("Wellbore {n}");
            meta.references[0].target_uuid = uuid(1, n % 1_000);
            w.put_object(
                &ObjectKey::new("big", uuid(2, n)),
                &meta,
                bytes::Bytes::from_static(b"<x/>"),
            )
            .unwrap();
        }
        w.commit().unwrap();
    }
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let client = server.client_with(|c| c.compression = false).await;
    let streamed = get_resources("eml:///dataspace('big')", ContextScopeKind::Self_, 1);
    let mut counted = streamed.clone();
    counted.count_objects = true;
    // Warm-up: caches, the blocking pool's thread.
    for request in [&streamed, &counted] {
        assert_eq!(
            ask(&client, request.clone()).await.resources.len() as u64,
            OBJECTS
        );
    }
    let mut measured = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
    for _ in 0..REPETITIONS {
        for (request, (walls, cpus)) in [&streamed, &counted].into_iter().zip(&mut measured) {
            let (cpu, wall) = (process_cpu(), Instant::now());
            let response = client.request(request.clone()).await.expect("answer");
            walls.push(wall.elapsed());
            cpus.push(process_cpu().saturating_sub(cpu));
            assert!(response.errors().is_empty());
        }
    }
    for (what, (walls, cpus)) in ["streamed (no counts)", "held (countObjects)"]
        .into_iter()
        .zip(measured)
    {
        println!(
            "GetResources depth 1, {what}, {OBJECTS} objects: median wall {:?}, median process CPU {:?} ({REPETITIONS} runs)",
            median(walls),
            median(cpus)
        );
    }
    server.stop().await;
}
