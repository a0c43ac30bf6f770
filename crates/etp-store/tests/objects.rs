//! Dataspaces, data objects, indexes, the reference graph and tombstones.

mod common;

use bytes::Bytes;
use common::*;
use etp_store::{
    ActiveStatus, ObjectFilter, ObjectKey, RelationshipKind, Store, StoreError, TypeFilter,
};

const GRID: &str = "resqml20.obj_Grid2dRepresentation";
const CRS: &str = "resqml20.obj_LocalDepth3dCrs";
const WELL: &str = "witsml21.Well";

#[test]
fn default_dataspace_exists_and_cannot_be_deleted() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path())?;
    let r = store.read()?;
    let d = r
        .get_dataspace("")?
        .ok_or_else(|| fail("default dataspace missing"))?;
    assert!(d.store_created > 0);
    drop(r);
    let mut w = store.write()?;
    assert!(matches!(
        w.delete_dataspace("", true),
        Err(StoreError::InvalidArgument(_))
    ));
    Ok(())
}

#[test]
fn dataspaces_put_list_delete() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path())?;
    let mut w = store.write()?;
    assert_eq!(w.put_dataspace(&dataspace("b/c", 10))?, None);
    assert_eq!(w.put_dataspace(&dataspace("a", 20))?, None);
    // Replacement keeps store_created and returns the previous record.
    let mut again = dataspace("a", 99);
    again.custom_data = Bytes::from_static(b"new");
    let prev = w
        .put_dataspace(&again)?
        .ok_or_else(|| fail("no previous"))?;
    assert_eq!(prev.store_created, 20);
    w.commit()?;

    let r = store.read()?;
    let paths: Vec<String> = r.list_dataspaces()?.into_iter().map(|d| d.path).collect();
    assert_eq!(paths, vec!["", "a", "b/c"]);
    let a = r.get_dataspace("a")?.ok_or_else(|| fail("a missing"))?;
    assert_eq!((a.store_created, a.store_last_write), (20, 99));
    assert_eq!(&a.custom_data[..], b"new");
    assert_eq!(r.get_dataspace("b")?, None);
    drop(r);

    let mut w = store.write()?;
    assert!(w.delete_dataspace("a", false)?);
    assert!(!w.delete_dataspace("a", false)?);
    assert!(!w.delete_dataspace("nope", false)?);
    w.commit()?;
    assert_eq!(store.read()?.get_dataspace("a")?, None);
    Ok(())
}

#[test]
fn object_round_trip_is_byte_exact_and_keeps_store_created() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path())?;
    create_ds(&store, "ds", 1)?;
    let k = okey("ds", 1);
    let mut w = store.write()?;
    assert_eq!(
        w.put_object(&k, &meta(GRID, "Grid", 100, vec![]), xml(1))?,
        None
    );
    w.commit()?;

    let got = store
        .read()?
        .get_object(&k)?
        .ok_or_else(|| fail("missing"))?;
    assert_eq!(got.data, xml(1));
    assert_eq!(got.meta.data_len, xml(1).len() as u64);
    assert_eq!(got.meta.title, "Grid");
    assert_eq!(got.meta.last_changed, 93);
    assert_eq!(&got.meta.custom_data[..], b"\x02\x08name");

    // Update: store_created kept, previous meta returned, bytes replaced.
    let mut w = store.write()?;
    let mut m2 = meta(GRID, "Grid v2", 200, vec![]);
    m2.active_status = ActiveStatus::Inactive;
    let prev = w.put_object(&k, &m2, Bytes::from_static(b"<x/>"))?;
    assert_eq!(prev.map(|p| p.title).as_deref(), Some("Grid"));
    w.commit()?;
    let got = store
        .read()?
        .get_object(&k)?
        .ok_or_else(|| fail("missing"))?;
    assert_eq!(&got.data[..], b"<x/>");
    assert_eq!(got.meta.store_created, 100);
    assert_eq!(got.meta.store_last_write, 200);
    assert_eq!(got.meta.active_status, ActiveStatus::Inactive);
    // The dataspace's last write follows object writes.
    let ds = store
        .read()?
        .get_dataspace("ds")?
        .ok_or_else(|| fail("ds"))?;
    assert_eq!(ds.store_last_write, 200);
    Ok(())
}

#[test]
fn get_object_up_to_leaves_the_bytes_of_larger_objects_unread() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path())?;
    create_ds(&store, "ds", 1)?;
    let (k, len) = (okey("ds", 1), xml(1).len() as u64);
    let mut w = store.write()?;
    w.put_object(&k, &meta(GRID, "Grid", 100, vec![]), xml(1))?;
    // Inside the writing transaction, its own pending object is found the same way.
    let pending = w
        .get_object_up_to(&k, len)?
        .ok_or_else(|| fail("pending"))?;
    assert_eq!(pending.data, xml(1));
    w.commit()?;

    let r = store.read()?;
    let fits = r
        .get_object_up_to(&k, len)?
        .ok_or_else(|| fail("missing"))?;
    assert_eq!(fits.data, xml(1));
    assert_eq!(fits.meta.data_len, len);
    let larger = r
        .get_object_up_to(&k, len - 1)?
        .ok_or_else(|| fail("missing"))?;
    assert!(larger.data.is_empty());
    assert_eq!(larger.meta.data_len, len);
    assert_eq!(larger.meta.title, "Grid");
    assert_eq!(larger.key, k);
    assert!(r.get_object_up_to(&okey("ds", 2), u64::MAX)?.is_none());
    Ok(())
}

#[test]
fn put_into_missing_dataspace_fails() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path())?;
    let mut w = store.write()?;
    let e = w.put_object(&okey("missing", 1), &meta(GRID, "g", 1, vec![]), xml(1));
    assert!(matches!(e, Err(StoreError::DataspaceNotFound(p)) if p == "missing"));
    Ok(())
}

#[test]
fn versions_are_separate_objects() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path())?;
    let plain = okey("", 5);
    let v2 = ObjectKey {
        version: Some("2.0".into()),
        ..plain.clone()
    };
    let mut w = store.write()?;
    w.put_object(&plain, &meta(WELL, "plain", 1, vec![]), xml(1))?;
    w.put_object(&v2, &meta(WELL, "v2", 2, vec![]), xml(2))?;
    w.commit()?;
    let r = store.read()?;
    assert_eq!(r.get_object(&v2)?.map(|o| o.data), Some(xml(2)));
    let all = r.objects_by_uuid("", &uuid(5))?;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].0.version, None);
    assert_eq!(all[1].0.version.as_deref(), Some("2.0"));
    assert_eq!(r.count_by_type("")?, vec![(WELL.to_string(), 2)]);
    Ok(())
}

#[test]
fn listing_filters_and_counts() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path())?;
    create_ds(&store, "ds", 1)?;
    create_ds(&store, "ds2", 1)?;
    let mut w = store.write()?;
    for n in 0..30u64 {
        let t = match n % 3 {
            0 => GRID,
            1 => CRS,
            _ => WELL,
        };
        let mut m = meta(t, &format!("o{n}"), 1000 + n as i64, vec![]);
        if n % 5 == 0 {
            m.active_status = ActiveStatus::Inactive;
        }
        w.put_object(&okey("ds", n), &m, xml(n))?;
    }
    // Noise in another dataspace whose name extends "ds".
    w.put_object(&okey("ds2", 100), &meta(GRID, "x", 1, vec![]), xml(100))?;
    w.commit()?;

    let r = store.read()?;
    let all: Vec<_> = r
        .list_objects("ds", &ObjectFilter::default())?
        .collect::<Result<_, _>>()?;
    assert_eq!(all.len(), 30);
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "sorted by key");
    assert!(all.iter().all(|(k, _)| k.dataspace == "ds"));

    let counts = r.count_by_type("ds")?;
    assert_eq!(
        counts,
        vec![
            (GRID.to_string(), 10),
            (CRS.to_string(), 10),
            (WELL.to_string(), 10)
        ]
    );

    let f = ObjectFilter {
        types: vec![
            TypeFilter::Prefix("resqml20.".into()),
            TypeFilter::Exact(GRID.into()),
        ],
        ..Default::default()
    };
    let res: Vec<_> = r.list_objects("ds", &f)?.collect::<Result<_, _>>()?;
    assert_eq!(res.len(), 20, "overlapping filters yield each object once");
    assert!(
        res.iter()
            .all(|(_, m)| m.qualified_type.starts_with("resqml20."))
    );

    let f = ObjectFilter {
        types: vec![TypeFilter::Exact(WELL.into())],
        last_write_after: Some(1020),
        active_status: Some(ActiveStatus::Active),
    };
    let res: Vec<_> = r.list_objects("ds", &f)?.collect::<Result<_, _>>()?;
    let ns: Vec<i64> = res.iter().map(|(_, m)| m.store_last_write - 1000).collect();
    assert_eq!(ns, vec![23, 26, 29]); // 20 is inactive, "after" is strict
    let none = ObjectFilter {
        types: vec![TypeFilter::Exact("witsml21.Welll".into())],
        ..Default::default()
    };
    assert_eq!(r.list_objects("ds", &none)?.count(), 0);
    Ok(())
}

#[test]
fn graph_both_directions_and_reindex_on_update() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path())?;
    let crs = okey("", 1);
    let mut w = store.write()?;
    w.put_object(&crs, &meta(CRS, "crs", 1, vec![]), xml(1))?;
    for n in 2..=4 {
        let mut r2 = reference(1, CRS);
        if n == 4 {
            r2.kind = RelationshipKind::Secondary;
        }
        w.put_object(
            &okey("", n),
            &meta(GRID, "g", 1, vec![r2, reference(99, WELL)]),
            xml(n),
        )?;
    }
    w.commit()?;
    let r = store.read()?;
    let src = r.sources_of("", &uuid(1))?;
    let srcs: Vec<[u8; 16]> = src.iter().map(|e| e.source.uuid).collect();
    assert_eq!(srcs, vec![uuid(2), uuid(3), uuid(4)]);
    assert!(src.iter().all(|e| e.source_type == GRID));
    assert_eq!(src[2].reference.kind, RelationshipKind::Secondary);
    // Dangling target: edge kept by uuid.
    assert_eq!(r.sources_of("", &uuid(99))?.len(), 3);
    let t = r.targets_of(&okey("", 2))?.ok_or_else(|| fail("missing"))?;
    assert_eq!(t.len(), 2);
    assert_eq!(t[0].target_uuid, uuid(1));
    assert_eq!(r.targets_of(&okey("", 77))?, None);
    drop(r);

    // Update object 3 without references; delete object 4.
    let mut w = store.write()?;
    w.put_object(&okey("", 3), &meta(GRID, "g", 2, vec![]), xml(3))?;
    w.delete_object(&okey("", 4), 50, false)?;
    w.commit()?;
    let r = store.read()?;
    let srcs: Vec<[u8; 16]> = r
        .sources_of("", &uuid(1))?
        .iter()
        .map(|e| e.source.uuid)
        .collect();
    assert_eq!(srcs, vec![uuid(2)]);
    assert_eq!(r.sources_of("", &uuid(99))?.len(), 1);
    Ok(())
}

#[test]
fn delete_writes_tombstone_and_reput_clears_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path())?;
    create_ds(&store, "ds", 1)?;
    let mut w = store.write()?;
    for n in 1..=4 {
        w.put_object(&okey("ds", n), &meta(WELL, "w", 10, vec![]), xml(n))?;
    }
    w.commit()?;

    let mut w = store.write()?;
    for (n, at) in [(1, 100), (2, 200), (3, 300)] {
        let old = w.delete_object(&okey("ds", n), at, false)?;
        assert_eq!(old.map(|m| m.qualified_type).as_deref(), Some(WELL));
    }
    assert_eq!(w.delete_object(&okey("ds", 42), 400, false)?, None);
    w.commit()?;

    let r = store.read()?;
    assert_eq!(r.get_object(&okey("ds", 1))?, None);
    let d = r.deleted_resources("ds", None)?;
    let got: Vec<(i64, [u8; 16])> = d.iter().map(|d| (d.deleted_at, d.uuid)).collect();
    assert_eq!(got, vec![(100, uuid(1)), (200, uuid(2)), (300, uuid(3))]);
    assert!(
        d.iter()
            .all(|d| d.qualified_type == WELL && d.version.is_none())
    );
    let after: Vec<i64> = r
        .deleted_resources("ds", Some(200))?
        .iter()
        .map(|d| d.deleted_at)
        .collect();
    assert_eq!(after, vec![300], "filter is strictly greater");
    assert!(r.deleted_resources("ds", Some(i64::MAX))?.is_empty());
    assert_eq!(r.count_by_type("ds")?, vec![(WELL.to_string(), 1)]);
    drop(r);

    // Put again: tombstone disappears.
    let mut w = store.write()?;
    w.put_object(&okey("ds", 2), &meta(WELL, "w", 500, vec![]), xml(2))?;
    w.commit()?;
    let times: Vec<i64> = store
        .read()?
        .deleted_resources("ds", None)?
        .iter()
        .map(|d| d.deleted_at)
        .collect();
    assert_eq!(times, vec![100, 300]);

    // Retention purge.
    assert_eq!(store.purge_deleted_before(300)?, 1);
    let times: Vec<i64> = store
        .read()?
        .deleted_resources("ds", None)?
        .iter()
        .map(|d| d.deleted_at)
        .collect();
    assert_eq!(times, vec![300]);
    Ok(())
}

#[test]
fn delete_dataspace_refuses_non_empty_unless_cascade() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path())?;
    create_ds(&store, "a", 1)?;
    create_ds(&store, "a/b", 1)?;
    let mut w = store.write()?;
    w.put_object(
        &okey("a", 1),
        &meta(GRID, "g", 1, vec![reference(2, CRS)]),
        xml(1),
    )?;
    w.put_object(&okey("a", 2), &meta(CRS, "c", 1, vec![]), xml(2))?;
    w.delete_object(&okey("a", 2), 5, false)?;
    w.put_object(&okey("a/b", 3), &meta(CRS, "c", 1, vec![]), xml(3))?;
    w.commit()?;

    let mut w = store.write()?;
    assert!(matches!(
        w.delete_dataspace("a", false),
        Err(StoreError::DataspaceNotEmpty(_))
    ));
    assert!(w.delete_dataspace("a", true)?);
    // Read-your-writes: gone inside the transaction already.
    assert_eq!(w.get_object(&okey("a", 1))?, None);
    w.commit()?;

    let r = store.read()?;
    assert_eq!(r.get_dataspace("a")?, None);
    assert!(r.count_by_type("a")?.is_empty());
    assert!(r.sources_of("a", &uuid(2))?.is_empty());
    assert!(r.deleted_resources("a", None)?.is_empty());
    // The sibling dataspace "a/b" is untouched.
    assert!(r.get_object(&okey("a/b", 3))?.is_some());
    drop(r);
    // Re-creating the dataspace starts empty.
    create_ds(&store, "a", 9)?;
    assert_eq!(
        store
            .read()?
            .list_objects("a", &ObjectFilter::default())?
            .count(),
        0
    );
    Ok(())
}

#[test]
fn odd_names_and_oversized_keys() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path())?;
    let weird = "it''s/\0nul/é";
    create_ds(&store, weird, 1)?;
    let mut w = store.write()?;
    let k = ObjectKey {
        dataspace: weird.into(),
        uuid: uuid(1),
        version: Some("v\0'1".into()),
    };
    w.put_object(&k, &meta(GRID, "g", 1, vec![]), xml(1))?;
    let huge = "x".repeat(100_000);
    let e = w.put_object(&okey(&huge, 1), &meta(GRID, "g", 1, vec![]), xml(1));
    assert!(matches!(e, Err(StoreError::InvalidArgument(_))), "{e:?}");
    let e = w.put_dataspace(&dataspace(&huge, 1));
    assert!(matches!(e, Err(StoreError::InvalidArgument(_))), "{e:?}");
    w.commit()?;
    let r = store.read()?;
    let l: Vec<_> = r
        .list_objects(weird, &ObjectFilter::default())?
        .collect::<Result<_, _>>()?;
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].0, k);
    Ok(())
}
