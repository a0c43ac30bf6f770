//! Reopen persistence, session records and the format version file.

mod common;

use bytes::Bytes;
use common::*;
use etp_store::{
    ElementType, FORMAT_VERSION, FjallStore, ObjectFilter, SessionRecord, Store, StoreError,
};

fn session(n: u64, opened_at: i64) -> SessionRecord {
    SessionRecord {
        id: uuid(n),
        application_name: format!("client {n}"),
        application_version: "1.2.3".into(),
        peer_address: "127.0.0.1:5555".into(),
        protocols: vec![3, 4, 9, 18, 24],
        opened_at,
        closed_at: None,
        close_reason: None,
        messages_in: 0,
        messages_out: 0,
        bytes_in: 0,
        bytes_out: 0,
    }
}

#[test]
fn everything_committed_survives_reopen_with_same_timestamps() -> TestResult {
    let dir = tempfile::tempdir()?;
    let k = akey("ds", 1, "/pts");
    let vals: Vec<u8> = (0..3000u32)
        .flat_map(|i| (i as f32).to_le_bytes())
        .collect();
    let (ds_before, dflt_before, obj_before, tomb_before, arr_before);
    {
        let store = open(dir.path())?;
        create_ds(&store, "ds", 111)?;
        let mut w = store.write()?;
        w.put_object(
            &okey("ds", 1),
            &meta("eml23.Activity", "a", 222, vec![reference(2, "x.y")]),
            xml(1),
        )?;
        w.put_object(
            &okey("ds", 2),
            &meta("eml23.Activity", "b", 223, vec![]),
            xml(2),
        )?;
        w.delete_object(&okey("ds", 2), 333, false)?;
        let mut am = etp_store::ArrayMeta {
            preferred_subarray_dims: vec![10, 100],
            ..ameta(&[30, 100], ElementType::F32, 444)
        };
        am.custom_data = Bytes::from_static(b"c");
        w.create_array(&k, &am)?;
        w.write_subarray(&k, &[0, 0], &[30, 100], &vals, 555)?;
        w.create_array(&akey("ds", 1, "/s"), &ameta(&[2], ElementType::String, 1))?;
        w.write_strings(
            &akey("ds", 1, "/s"),
            &[0],
            &[2],
            &["α".into(), "".into()],
            556,
        )?;
        w.commit()?;
        store.put_session(&session(1, 1000))?;
        let r = store.read()?;
        ds_before = r.get_dataspace("ds")?;
        dflt_before = r.get_dataspace("")?;
        obj_before = r.get_object(&okey("ds", 1))?;
        tomb_before = r.deleted_resources("ds", None)?;
        arr_before = r.get_array_meta(&k)?;
    }
    let store = open(dir.path())?;
    assert_eq!(store.path(), dir.path());
    assert!(store.disk_space()? > 0);
    let r = store.read()?;
    assert_eq!(r.get_dataspace("ds")?, ds_before);
    assert_eq!(
        r.get_dataspace("")?,
        dflt_before,
        "default dataspace not re-created"
    );
    assert_eq!(
        ds_before
            .as_ref()
            .map(|d| (d.store_created, d.store_last_write)),
        Some((111, 556))
    );
    assert_eq!(r.get_object(&okey("ds", 1))?, obj_before);
    assert_eq!(obj_before.as_ref().map(|o| o.meta.store_created), Some(222));
    assert_eq!(r.get_object(&okey("ds", 2))?, None);
    assert_eq!(r.deleted_resources("ds", None)?, tomb_before);
    assert_eq!(tomb_before.len(), 1);
    assert_eq!(r.get_array_meta(&k)?, arr_before);
    assert_eq!(arr_before.as_ref().map(|a| a.store_last_write), Some(555));
    let mut out = Vec::new();
    r.read_subarray(&k, &[0, 0], &[30, 100], &mut out)?;
    assert_eq!(out, vals);
    assert_eq!(
        r.read_strings(&akey("ds", 1, "/s"), &[0], &[2])?,
        vec!["α".to_string(), String::new()]
    );
    assert_eq!(
        r.count_by_type("ds")?,
        vec![("eml23.Activity".to_string(), 1)]
    );
    assert_eq!(r.sources_of("ds", &uuid(2))?.len(), 1);
    assert_eq!(store.list_sessions(10)?, vec![session(1, 1000)]);
    // Ids keep increasing after reopen: a new array does not collide with old chunks.
    let mut w = store.write()?;
    w.create_array(&akey("ds", 9, "/n"), &ameta(&[4], ElementType::I32, 1))?;
    w.write_subarray(&akey("ds", 9, "/n"), &[0], &[4], &[9u8; 16], 2)?;
    w.commit()?;
    let mut out = Vec::new();
    store
        .read()?
        .read_subarray(&k, &[0, 0], &[30, 100], &mut out)?;
    assert_eq!(out, vals);
    Ok(())
}

#[test]
fn sessions_are_listed_newest_first_and_updatable() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let store = open(dir.path())?;
        for (n, t) in [(1, 300), (2, 100), (3, 200)] {
            store.put_session(&session(n, t))?;
        }
        let mut closed = session(2, 100);
        closed.closed_at = Some(150);
        closed.close_reason = Some("peer closed".into());
        closed.messages_in = 42;
        closed.bytes_out = 1 << 40;
        store.put_session(&closed)?;
        // Changing opened_at moves the record instead of duplicating it.
        store.put_session(&session(3, 400))?;
    }
    let store = open(dir.path())?;
    let l = store.list_sessions(10)?;
    let order: Vec<(u64, i64)> = l.iter().map(|s| (s.id[15] as u64, s.opened_at)).collect();
    assert_eq!(order, vec![(3, 400), (1, 300), (2, 100)]);
    let s2 = store
        .get_session(&uuid(2))?
        .ok_or_else(|| fail("missing"))?;
    assert_eq!(
        (s2.closed_at, s2.messages_in, s2.bytes_out),
        (Some(150), 42, 1 << 40)
    );
    assert_eq!(s2.close_reason.as_deref(), Some("peer closed"));
    assert_eq!(s2.protocols, vec![3, 4, 9, 18, 24]);
    assert_eq!(store.list_sessions(1)?.len(), 1);
    assert_eq!(store.get_session(&uuid(9))?, None);
    assert_eq!(store.purge_sessions(300)?, 1);
    let left: Vec<i64> = store
        .list_sessions(10)?
        .iter()
        .map(|s| s.opened_at)
        .collect();
    assert_eq!(left, vec![400, 300]);
    assert_eq!(store.get_session(&uuid(2))?, None);
    Ok(())
}

#[test]
fn put_sessions_writes_the_last_record_of_each_id() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let store = open(dir.path())?;
        store.put_session(&session(1, 100))?;
        store.put_session(&session(2, 200))?;
        let mut closed = session(3, 300);
        closed.closed_at = Some(350);
        closed.close_reason = Some("done".into());
        store.put_sessions(&[
            session(3, 300),
            // Already stored with another opened_at: moved, not duplicated.
            session(1, 150),
            closed,
            // Twice in the batch with different opened_at: only the last one stays.
            session(4, 400),
            session(4, 450),
        ])?;
        store.put_sessions(&[])?;
    }
    let store = open(dir.path())?;
    let l = store.list_sessions(10)?;
    let order: Vec<(u64, i64)> = l.iter().map(|s| (s.id[15] as u64, s.opened_at)).collect();
    assert_eq!(order, vec![(4, 450), (3, 300), (2, 200), (1, 150)]);
    let s3 = store
        .get_session(&uuid(3))?
        .ok_or_else(|| fail("missing"))?;
    assert_eq!(
        (s3.closed_at, s3.close_reason.as_deref()),
        (Some(350), Some("done"))
    );
    let s1 = store
        .get_session(&uuid(1))?
        .ok_or_else(|| fail("missing"))?;
    assert_eq!(s1.opened_at, 150);
    let s4 = store
        .get_session(&uuid(4))?
        .ok_or_else(|| fail("missing"))?;
    assert_eq!(s4.opened_at, 450);
    // The index follows the moves: purging by the new times removes exactly those.
    assert_eq!(store.purge_sessions(160)?, 1);
    assert_eq!(store.get_session(&uuid(1))?, None);
    assert_eq!(store.list_sessions(10)?.len(), 3);
    Ok(())
}

#[test]
fn format_file_is_written_and_checked() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("data");
    drop(open(&path)?);
    let text = std::fs::read_to_string(path.join("FORMAT"))?;
    assert_eq!(text.trim(), format!("etp-store format {FORMAT_VERSION}"));
    // Same version reopens.
    drop(open(&path)?);

    let newer = FORMAT_VERSION + 1;
    std::fs::write(path.join("FORMAT"), format!("etp-store format {newer}\n"))?;
    match FjallStore::open(&path) {
        Err(StoreError::UnsupportedFormatVersion { found, supported })
            if found == newer && supported == FORMAT_VERSION => {}
        other => return Err(fail(format!("expected version error, got {other:?}"))),
    }
    std::fs::write(path.join("FORMAT"), "garbage")?;
    assert!(matches!(
        FjallStore::open(&path),
        Err(StoreError::Corrupt(_))
    ));
    std::fs::write(path.join("FORMAT"), "etp-store format 0\n")?;
    assert!(matches!(
        FjallStore::open(&path),
        Err(StoreError::Corrupt(_))
    ));

    // A non-empty directory that is not a store is refused and left alone.
    let other = dir.path().join("other");
    std::fs::create_dir(&other)?;
    std::fs::write(other.join("precious.txt"), "keep")?;
    assert!(matches!(
        FjallStore::open(&other),
        Err(StoreError::NotAStore(_))
    ));
    assert!(!other.join("FORMAT").exists());
    Ok(())
}

#[test]
fn a_directory_can_only_be_opened_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let first = open(dir.path())?;
    assert!(matches!(
        FjallStore::open(dir.path()),
        Err(StoreError::Locked)
    ));
    drop(first);
    let again = open(dir.path())?;
    assert_eq!(
        again
            .read()?
            .list_objects("", &ObjectFilter::default())?
            .count(),
        0
    );
    Ok(())
}
