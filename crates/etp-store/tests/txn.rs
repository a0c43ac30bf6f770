//! Transaction semantics: atomic commit, rollback/drop, snapshot isolation,
//! read-your-writes, conflicts, and the dataspace lock helper.

mod common;

use std::time::Duration;

use common::*;
use etp_store::{
    DataspaceLocks, ElementType, FjallStore, LockScope, ObjectFilter, Store, StoreConfig,
    StoreError,
};

const T: &str = "resqml20.obj_Grid2dRepresentation";

fn store(dir: &std::path::Path) -> Result<FjallStore, StoreError> {
    FjallStore::open_with(
        dir,
        StoreConfig {
            array_chunk_bytes: 256,
            ..StoreConfig::default()
        },
    )
}

fn f64s(v: f64, n: usize) -> Vec<u8> {
    (0..n).flat_map(|_| v.to_le_bytes()).collect()
}

fn read_all(
    r: &dyn etp_store::ReadTxn,
    k: &etp_store::ArrayKey,
    n: u64,
) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    r.read_subarray(k, &[0], &[n], &mut out)?;
    Ok(out)
}

#[test]
fn rollback_and_drop_leave_nothing_behind() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path())?;
    for mode in ["rollback", "drop"] {
        let mut w = store.write()?;
        w.put_dataspace(&dataspace("new", 1))?;
        w.put_object(
            &okey("new", 1),
            &meta(T, "g", 1, vec![reference(2, T)]),
            xml(1),
        )?;
        let k = akey("new", 1, "/a");
        w.create_array(&k, &ameta(&[1000], ElementType::F64, 1))?;
        w.write_subarray(&k, &[0], &[1000], &f64s(2.0, 1000), 2)?;
        // Chunks are already on disk (out of place), pending.
        let c = store.engine_counts()?;
        assert_eq!((c.chunk_blobs, c.pending_blobs), (32, 32), "{mode}");
        if mode == "rollback" {
            w.rollback()?;
        } else {
            drop(w);
        }
        let r = store.read()?;
        assert_eq!(r.get_dataspace("new")?, None, "{mode}");
        assert_eq!(r.get_object(&okey("new", 1))?, None);
        assert!(r.sources_of("new", &uuid(2))?.is_empty());
        assert_eq!(r.get_array_meta(&k)?, None);
        let c = store.engine_counts()?;
        assert_eq!(
            (c.chunk_blobs, c.pending_blobs, c.chunk_pointers),
            (0, 0, 0),
            "{mode}"
        );
    }
    Ok(())
}

#[test]
fn commit_is_atomic_and_readers_keep_their_snapshot() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path())?;
    let k = akey("", 1, "/a");
    let mut w = store.write()?;
    w.put_object(&okey("", 1), &meta(T, "v1", 1, vec![]), xml(1))?;
    w.create_array(&k, &ameta(&[1000], ElementType::F64, 1))?;
    w.write_subarray(&k, &[0], &[1000], &f64s(1.0, 1000), 1)?;
    w.commit()?;

    let before = store.read()?;
    let mut w = store.write()?;
    w.put_object(&okey("", 1), &meta(T, "v2", 2, vec![]), xml(2))?;
    w.put_object(&okey("", 2), &meta(T, "new", 2, vec![]), xml(3))?;
    // Overwrite part of the array (copy-on-write of the touched chunks only).
    w.write_subarray(&k, &[100], &[50], &f64s(2.0, 50), 2)?;
    // A reader opened while the write transaction is open sees the old state.
    let during = store.read()?;
    for r in [&before, &during] {
        assert_eq!(
            r.get_object(&okey("", 1))?.map(|o| o.meta.title).as_deref(),
            Some("v1")
        );
        assert_eq!(r.get_object(&okey("", 2))?, None);
        assert_eq!(read_all(&**r, &k, 1000)?, f64s(1.0, 1000));
        assert_eq!(r.list_objects("", &ObjectFilter::default())?.count(), 1);
    }
    w.commit()?;
    // Old snapshots still see the old state, although superseded chunks were deleted.
    for r in [&before, &during] {
        assert_eq!(
            r.get_object(&okey("", 1))?.map(|o| o.meta.title).as_deref(),
            Some("v1")
        );
        assert_eq!(read_all(&**r, &k, 1000)?, f64s(1.0, 1000));
    }
    let after = store.read()?;
    assert_eq!(
        after
            .get_object(&okey("", 1))?
            .map(|o| o.meta.title)
            .as_deref(),
        Some("v2")
    );
    assert!(after.get_object(&okey("", 2))?.is_some());
    let mut expect = f64s(1.0, 1000);
    expect[800..1200].copy_from_slice(&f64s(2.0, 50));
    assert_eq!(read_all(&*after, &k, 1000)?, expect);
    assert_eq!(
        after.get_array_meta(&k)?.map(|m| m.store_last_write),
        Some(2)
    );
    // Superseded chunks are reclaimed: 1000 f64 in 256-byte chunks = 32 chunks.
    assert_eq!(store.engine_counts()?.chunk_blobs, 32);

    // Re-creating the array drops the whole instance; an older snapshot keeps reading it.
    let mut w = store.write()?;
    w.create_array(&k, &ameta(&[1000], ElementType::F64, 3))?;
    w.commit()?;
    assert_eq!(read_all(&*after, &k, 1000)?, expect);
    assert_eq!(read_all(&*store.read()?, &k, 1000)?, vec![0u8; 8000]);
    assert_eq!(store.engine_counts()?.chunk_blobs, 0);
    Ok(())
}

#[test]
fn reads_inside_a_write_transaction_see_its_writes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path())?;
    let mut w = store.write()?;
    w.put_dataspace(&dataspace("ds", 1))?;
    assert!(w.get_dataspace("ds")?.is_some());
    w.put_object(&okey("ds", 1), &meta(T, "crs", 5, vec![]), xml(1))?;
    w.put_object(
        &okey("ds", 2),
        &meta(T, "g", 6, vec![reference(1, T)]),
        xml(2),
    )?;
    assert_eq!(w.get_object(&okey("ds", 2))?.map(|o| o.data), Some(xml(2)));
    assert_eq!(w.count_by_type("ds")?, vec![(T.to_string(), 2)]);
    assert_eq!(w.list_objects("ds", &ObjectFilter::default())?.count(), 2);
    assert_eq!(w.sources_of("ds", &uuid(1))?.len(), 1);
    assert_eq!(w.get_dataspace("ds")?.map(|d| d.store_last_write), Some(6));
    let k = akey("ds", 1, "/x");
    w.create_array(&k, &ameta(&[100], ElementType::F64, 1))?;
    w.write_subarray(&k, &[10], &[80], &f64s(4.0, 80), 2)?;
    // Second partial write into chunks this transaction already wrote (in place).
    w.write_subarray(&k, &[0], &[20], &f64s(5.0, 20), 3)?;
    let mut expect = vec![0u8; 800];
    expect[80..720].copy_from_slice(&f64s(4.0, 80));
    expect[..160].copy_from_slice(&f64s(5.0, 20));
    assert_eq!(read_all(&*w, &k, 100)?, expect);
    w.delete_object(&okey("ds", 1), 9, false)?;
    assert_eq!(w.get_object(&okey("ds", 1))?, None);
    assert_eq!(w.deleted_resources("ds", None)?.len(), 1);
    // Nothing visible outside yet.
    assert_eq!(store.read()?.get_dataspace("ds")?, None);
    w.commit()?;
    let r = store.read()?;
    assert_eq!(read_all(&*r, &k, 100)?, expect);
    assert_eq!(r.count_by_type("ds")?, vec![(T.to_string(), 1)]);
    // Only the chunks written remain: elements 0..90 touch chunks 0-2 of 32 f64.
    let c = store.engine_counts()?;
    assert_eq!(
        (c.chunk_blobs, c.chunk_pointers, c.pending_blobs),
        (3, 3, 0)
    );
    Ok(())
}

#[test]
fn object_writes_only_raise_the_dataspace_time() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path())?;
    let mut w = store.write()?;
    w.put_dataspace(&dataspace("ds", 1))?;
    w.put_object(&okey("ds", 1), &meta(T, "new", 6, vec![]), xml(1))?;
    // An older write leaves the time as it is; the record keeps the rest.
    w.put_object(&okey("ds", 2), &meta(T, "old", 4, vec![]), xml(2))?;
    let d = w.get_dataspace("ds")?.ok_or("dataspace missing")?;
    assert_eq!((d.store_created, d.store_last_write), (1, 6));
    assert_eq!(&d.custom_data[..], b"cd");
    w.commit()?;
    let d = store
        .read()?
        .get_dataspace("ds")?
        .ok_or("dataspace missing")?;
    assert_eq!((d.store_created, d.store_last_write), (1, 6));
    Ok(())
}

#[test]
fn unserialized_writers_conflict_and_the_loser_applies_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = store(dir.path())?;
    create_ds(&store, "ds", 1)?;
    let mut a = store.write()?;
    let mut b = store.write()?;
    a.put_object(&okey("ds", 1), &meta(T, "a", 2, vec![]), xml(1))?;
    b.put_object(&okey("ds", 2), &meta(T, "b", 3, vec![]), xml(2))?;
    let k = akey("ds", 2, "/b");
    b.create_array(&k, &ameta(&[64], ElementType::F64, 3))?;
    b.write_subarray(&k, &[0], &[64], &f64s(1.0, 64), 3)?;
    a.commit()?;
    assert!(matches!(b.commit(), Err(StoreError::Conflict)));
    let r = store.read()?;
    assert!(r.get_object(&okey("ds", 1))?.is_some());
    assert_eq!(r.get_object(&okey("ds", 2))?, None);
    assert_eq!(r.get_array_meta(&k)?, None);
    assert_eq!(r.count_by_type("ds")?, vec![(T.to_string(), 1)]);
    assert_eq!(store.engine_counts()?.chunk_blobs, 0);
    // Writers in different dataspaces do not conflict.
    create_ds(&store, "other", 1)?;
    let mut a = store.write()?;
    let mut b = store.write()?;
    a.put_object(&okey("ds", 5), &meta(T, "a", 4, vec![]), xml(5))?;
    b.put_object(&okey("other", 6), &meta(T, "b", 4, vec![]), xml(6))?;
    a.commit()?;
    b.commit()?;
    Ok(())
}

#[test]
fn dataspace_locks_policy() -> TestResult {
    let locks = DataspaceLocks::new();
    let a = LockScope::Paths(vec!["a".into()]);
    let ab = LockScope::Paths(vec!["a".into(), "b".into()]);
    let c = LockScope::Paths(vec!["c".into()]);
    let g1 = locks
        .try_lock(&a, 1)
        .map_err(|o| fail(format!("held by {o}")))?;
    assert_eq!(locks.try_lock(&ab, 2).err(), Some(1));
    assert_eq!(locks.try_lock(&LockScope::All, 2).err(), Some(1));
    let g3 = locks
        .try_lock(&c, 3)
        .map_err(|o| fail(format!("held by {o}")))?;
    drop(g1);
    let g2 = locks
        .try_lock(&ab, 2)
        .map_err(|o| fail(format!("held by {o}")))?;
    drop((g2, g3));
    let all = locks
        .try_lock(&LockScope::All, 4)
        .map_err(|o| fail(format!("held by {o}")))?;
    assert_eq!(locks.try_lock(&c, 5).err(), Some(4));
    // A waiter gets the lock when the holder releases it.
    let l2 = locks.clone();
    let t = std::thread::spawn(move || l2.lock_timeout(&c, 6, Duration::from_secs(10)).is_ok());
    std::thread::sleep(Duration::from_millis(50));
    drop(all);
    assert!(t.join().map_err(|_| fail("thread panicked"))?);
    // And times out while it is held.
    let _h = locks
        .try_lock(&a, 7)
        .map_err(|o| fail(format!("held by {o}")))?;
    assert_eq!(
        locks.lock_timeout(&a, 8, Duration::from_millis(20)).err(),
        Some(7)
    );
    Ok(())
}

#[test]
fn store_and_transactions_are_send_and_static() -> TestResult {
    fn assert_send<T: Send + 'static>(_: &T) {}
    let dir = tempfile::tempdir()?;
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(store(dir.path())?);
    let w = store.write()?;
    assert_send(&w);
    // A transaction can move to another thread and commit there.
    let h = std::thread::spawn(move || -> Result<(), StoreError> {
        let mut w = w;
        w.put_object(&okey("", 1), &meta(T, "t", 1, vec![]), xml(1))?;
        w.commit()
    });
    h.join().map_err(|_| fail("thread panicked"))??;
    assert!(store.read()?.get_object(&okey("", 1))?.is_some());
    Ok(())
}
