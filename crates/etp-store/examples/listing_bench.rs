//! Times what a Discovery listing asks of the store: one scan of a dataspace of
//! 100,000 small objects (one reference each, as the server's timing test seeds
//! them), through the type index and through the object keys, with
//! `list_objects` (owned metadata) and `visit_objects` (borrowed rows). Prints
//! the median and the spread of repeated scans.
//!
//! ```text
//! cargo run --release -p etp-store --example listing_bench -- [OBJECTS] [REPS]
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;
use etp_store::{
    ActiveStatus, Dataspace, FjallStore, ObjectFilter, ObjectKey, ObjectMeta, Reference,
    RelationshipKind, Store, TypeFilter,
};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

fn uuid(space: u8, n: u64) -> [u8; 16] {
    let mut u = [0u8; 16];
    u[0] = space;
    u[8..].copy_from_slice(&n.to_be_bytes());
    u
}

fn meta(n: u64) -> ObjectMeta {
    ObjectMeta {
        qualified_type: "witsml21.Wellbore".into(),
        title: format!("Wellbore {n}"),
        last_changed: 1_700_000_000_000_000,
        store_created: 0,
        store_last_write: 0,
        active_status: ActiveStatus::Active,
        format: "xml".into(),
        custom_data: Bytes::new(),
        references: vec![Reference {
            target_uuid: uuid(1, n % 1_000),
            target_type: "witsml21.Well".into(),
            name: "Well".into(),
            kind: RelationshipKind::Primary,
        }],
        data_len: 0,
    }
}

fn median(mut v: Vec<Duration>) -> (Duration, f64) {
    v.sort();
    let m = v[v.len() / 2];
    let spread = (v[v.len() - 1] - v[0]).as_secs_f64() / m.as_secs_f64();
    (m, spread)
}

fn main() -> R {
    let mut args = std::env::args().skip(1);
    let objects: u64 = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let reps: usize = args.next().map_or(Ok(15), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    {
        let store = FjallStore::open(dir.path())?;
        let mut w = store.write()?;
        w.put_dataspace(&Dataspace {
            path: "big".into(),
            store_created: 1,
            store_last_write: 1,
            custom_data: Bytes::new(),
        })?;
        for n in 0..objects {
            w.put_object(
                &ObjectKey::new("big", uuid(2, n)),
                &meta(n),
                Bytes::from_static(b"<x/>"),
            )?;
        }
        w.commit()?;
    }
    // Reopened, as the server's timing test does.
    let store = FjallStore::open(dir.path())?;
    let by_type = ObjectFilter {
        types: vec![TypeFilter::Prefix(String::new())],
        ..Default::default()
    };
    for (name, filter) in [
        ("type index", &by_type),
        ("objects", &ObjectFilter::default()),
    ] {
        let mut times = Vec::new();
        for _ in 0..reps {
            let started = Instant::now();
            let r = store.read()?;
            let mut n = 0u64;
            for item in r.list_objects("big", filter)? {
                let (_key, meta) = item?;
                n += meta.references.len() as u64;
            }
            times.push(started.elapsed());
            assert_eq!(n, objects);
        }
        let (m, spread) = median(times);
        println!(
            "list_objects via {name}: {objects} objects, median {m:?} (spread {:.0} %)",
            spread * 100.0
        );
        let mut times = Vec::new();
        for _ in 0..reps {
            let started = Instant::now();
            let r = store.read()?;
            let mut n = 0u64;
            r.visit_objects("big", filter, &mut |row| {
                n += row.references.len() as u64;
                Ok(true)
            })?;
            times.push(started.elapsed());
            assert_eq!(n, objects);
        }
        let (m, spread) = median(times);
        println!(
            "visit_objects via {name}: {objects} objects, median {m:?} (spread {:.0} %)",
            spread * 100.0
        );
    }
    Ok(())
}
