//! The reference counts the store keeps at write time (`ReadTxn::reference_counts`,
//! `ObjectRow::counts`) must always equal what a count from scratch over the stored
//! objects gives, whatever sequence of puts, replacements (other references, other
//! type), deletions, versions, rolled-back and committed transactions led there.

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use etp_store::{
    FjallStore, ObjectFilter, ObjectKey, ReadTxn, Reference, ReferenceCounts, RelationshipKind,
    Store, TypeFilter, Uuid, WriteTxn,
};

const TYPES: [&str; 3] = [
    "resqml20.obj_Grid2dRepresentation",
    "resqml20.obj_LocalDepth3dCrs",
    "witsml21.Well",
];
/// Few UUIDs, so that references often hit stored objects, often dangle, and objects
/// often come back after a deletion.
const POOL: u64 = 9;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_key(rng: &mut Rng, ds: &str) -> ObjectKey {
    let mut key = okey(ds, rng.below(POOL));
    // A few versioned objects: several versions of one UUID.
    if rng.below(5) == 0 {
        key.version = Some(format!("v{}", rng.below(2)));
    }
    key
}

fn random_references(rng: &mut Rng) -> Vec<Reference> {
    (0..rng.below(5))
        .map(|_| {
            // Target 99 is never stored: a dangling reference.
            let target = if rng.below(6) == 0 {
                99
            } else {
                rng.below(POOL)
            };
            let mut r = reference(target, TYPES[rng.below(3) as usize]);
            if rng.below(3) == 0 {
                r.kind = RelationshipKind::Secondary;
            }
            r
        })
        .collect()
}

/// One random write: mostly puts (inserts and replacements), some deletions.
fn random_write(rng: &mut Rng, w: &mut dyn WriteTxn, ds: &str, at: i64) -> TestResult {
    let key = random_key(rng, ds);
    if rng.below(4) == 0 {
        w.delete_object(&key, at, false)?;
    } else {
        let t = TYPES[rng.below(3) as usize];
        let m = meta(t, "o", at, random_references(rng));
        w.put_object(&key, &m, xml(1))?;
    }
    Ok(())
}

/// The counts of every stored object of `ds`, from scratch (10-discovery.md's rule, as
/// the Discovery handler counted before the store kept them).
fn recount(
    r: &dyn ReadTxn,
    ds: &str,
) -> Result<HashMap<ObjectKey, ReferenceCounts>, Box<dyn std::error::Error>> {
    let objects: Vec<_> = r
        .list_objects(ds, &ObjectFilter::default())?
        .collect::<Result<_, _>>()?;
    let stored: HashSet<Uuid> = objects.iter().map(|(k, _)| k.uuid).collect();
    let mut counts: HashMap<ObjectKey, ReferenceCounts> = HashMap::new();
    for (key, meta) in &objects {
        let targets: HashSet<Uuid> = meta
            .references
            .iter()
            .map(|r| r.target_uuid)
            .filter(|t| *t != key.uuid && stored.contains(t))
            .collect();
        counts.entry(key.clone()).or_default().targets = targets.len() as u64;
        for (other, _) in objects.iter().filter(|(k, _)| targets.contains(&k.uuid)) {
            counts.entry(other.clone()).or_default().sources += 1;
        }
    }
    Ok(counts)
}

/// Compares the kept counts with a recount, through every way of reading them.
fn check(r: &dyn ReadTxn, ds: &str, step: usize) -> TestResult {
    let expected = recount(r, ds)?;
    for (key, meta) in r
        .list_objects(ds, &ObjectFilter::default())?
        .collect::<Result<Vec<_>, _>>()?
    {
        let kept = r.reference_counts(&key, &meta.qualified_type)?;
        if kept != expected[&key] {
            return Err(fail(format!(
                "step {step}: {key:?} keeps {kept:?}, a recount gives {:?}",
                expected[&key]
            )));
        }
    }
    // Listings through the type index (a merge with the counts) and without.
    for filter in [
        ObjectFilter {
            types: vec![TypeFilter::Prefix(String::new())],
            ..ObjectFilter::default()
        },
        ObjectFilter::default(),
    ] {
        let mut seen = 0;
        let mut wrong = None;
        r.visit_objects(ds, &filter, &mut |row| {
            seen += 1;
            let key = ObjectKey {
                dataspace: ds.to_owned(),
                uuid: row.uuid,
                version: row.version.map(str::to_owned),
            };
            if expected.get(&key) != Some(&row.counts) {
                wrong.get_or_insert((key, row.counts));
            }
            Ok(true)
        })?;
        if let Some((key, counts)) = wrong {
            return Err(fail(format!(
                "step {step}: listed {key:?} with {counts:?}, a recount gives {:?}",
                expected.get(&key)
            )));
        }
        if seen != expected.len() {
            return Err(fail(format!(
                "step {step}: listed {seen} of {}",
                expected.len()
            )));
        }
    }
    Ok(())
}

#[test]
fn kept_counts_equal_a_recount_after_every_write() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path())?;
    create_ds(&store, "ds", 1)?;
    // Same UUIDs in another dataspace: references never cross dataspaces.
    create_ds(&store, "other", 1)?;
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut at = 10;
    for step in 0..400 {
        at += 1;
        let mut w = store.write()?;
        // One to four writes per transaction; some rolled back.
        for _ in 0..=rng.below(4) {
            let ds = if rng.below(8) == 0 { "other" } else { "ds" };
            random_write(&mut rng, w.as_mut(), ds, at)?;
        }
        // Inside the transaction the counts already follow its own writes.
        check(w.as_ref(), "ds", step)?;
        if rng.below(6) == 0 {
            w.rollback()?;
        } else {
            w.commit()?;
        }
        let r = store.read()?;
        check(r.as_ref(), "ds", step)?;
        check(r.as_ref(), "other", step)?;
    }
    Ok(())
}

#[test]
fn a_cascaded_dataspace_deletion_leaves_no_counts_behind() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path())?;
    create_ds(&store, "ds", 1)?;
    let mut w = store.write()?;
    w.put_object(
        &okey("ds", 1),
        &meta(TYPES[0], "a", 2, vec![reference(2, TYPES[1])]),
        xml(1),
    )?;
    w.put_object(
        &okey("ds", 2),
        &meta(TYPES[1], "b", 2, vec![reference(1, TYPES[0])]),
        xml(2),
    )?;
    w.commit()?;
    let mut w = store.write()?;
    assert!(w.delete_dataspace("ds", true)?);
    w.commit()?;
    // Re-created, the same objects start from their own references again.
    create_ds(&store, "ds", 3)?;
    let mut w = store.write()?;
    w.put_object(&okey("ds", 1), &meta(TYPES[0], "a", 4, Vec::new()), xml(1))?;
    w.commit()?;
    let r = store.read()?;
    assert_eq!(
        r.reference_counts(&okey("ds", 1), TYPES[0])?,
        ReferenceCounts::default()
    );
    check(r.as_ref(), "ds", 0)
}

/// A directory written by format 1 has no counts: opening it counts every object once.
#[test]
fn a_format_1_store_is_counted_when_opened() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let store = open(dir.path())?;
        create_ds(&store, "ds", 1)?;
        let mut w = store.write()?;
        for n in 0..6 {
            let refs = vec![reference((n + 1) % 6, TYPES[0]), reference(77, TYPES[0])];
            w.put_object(&okey("ds", n), &meta(TYPES[0], "o", 2, refs), xml(n))?;
        }
        w.commit()?;
        wipe_counts(&store)?;
    }
    std::fs::write(dir.path().join("FORMAT"), "etp-store format 1\n")?;
    let store = open(dir.path())?;
    let r = store.read()?;
    assert_eq!(
        r.reference_counts(&okey("ds", 3), TYPES[0])?,
        ReferenceCounts {
            sources: 1,
            targets: 1
        }
    );
    check(r.as_ref(), "ds", 0)?;
    let text = std::fs::read_to_string(dir.path().join("FORMAT"))?;
    assert_eq!(
        text.trim(),
        format!("etp-store format {}", etp_store::FORMAT_VERSION)
    );
    Ok(())
}

/// Leaves the store as format 1 left it: no counts kept.
fn wipe_counts(store: &FjallStore) -> TestResult {
    store.debug_wipe_reference_counts()?;
    let r = store.read()?;
    if r.reference_counts(&okey("ds", 3), TYPES[0])? != ReferenceCounts::default() {
        return Err(fail("counts still there after the wipe"));
    }
    Ok(())
}
