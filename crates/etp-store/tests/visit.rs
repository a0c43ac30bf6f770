//! `visit_objects`, the allocation-free listing: it must see exactly what
//! `list_objects` yields, in the same order, for every filter.

mod common;

use bytes::Bytes;
use common::*;
use etp_store::{
    ActiveStatus, ObjectFilter, ObjectKey, ObjectMeta, ObjectRow, ReadTxn, Reference,
    RelationshipKind, Store, TypeFilter,
};

const GRID: &str = "resqml20.obj_Grid2dRepresentation";
const CRS: &str = "resqml20.obj_LocalDepth3dCrs";
const WELL: &str = "witsml21.Well";

/// What a row says, owned, in the shape `list_objects` yields.
fn owned(dataspace: &str, row: &ObjectRow<'_>) -> etp_store::Result<(ObjectKey, ObjectMeta)> {
    let references = row
        .references
        .iter()
        .map(|r| r.map(|r| r.to_reference()))
        .collect::<etp_store::Result<Vec<Reference>>>()?;
    Ok((
        ObjectKey {
            dataspace: dataspace.to_owned(),
            uuid: row.uuid,
            version: row.version.map(str::to_owned),
        },
        ObjectMeta {
            qualified_type: row.qualified_type.to_owned(),
            title: row.title.to_owned(),
            last_changed: row.last_changed,
            store_created: row.store_created,
            store_last_write: row.store_last_write,
            active_status: row.active_status,
            // Not part of a row.
            format: String::new(),
            custom_data: Bytes::copy_from_slice(row.custom_data),
            references,
            data_len: 0,
        },
    ))
}

fn visited(
    r: &dyn ReadTxn,
    ds: &str,
    f: &ObjectFilter,
    stop_after: usize,
) -> etp_store::Result<Vec<(ObjectKey, ObjectMeta)>> {
    let mut out = Vec::new();
    r.visit_objects(ds, f, &mut |row| {
        out.push(owned(ds, row)?);
        Ok(out.len() < stop_after)
    })?;
    Ok(out)
}

fn listed(
    r: &dyn ReadTxn,
    ds: &str,
    f: &ObjectFilter,
) -> etp_store::Result<Vec<(ObjectKey, ObjectMeta)>> {
    r.list_objects(ds, f)?
        .map(|item| {
            item.map(|(k, mut m)| {
                m.format = String::new();
                m.data_len = 0;
                (k, m)
            })
        })
        .collect()
}

#[test]
fn visit_sees_what_list_yields_in_the_same_order() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path())?;
    create_ds(&store, "ds", 1)?;
    create_ds(&store, "ds2", 1)?;
    let mut w = store.write()?;
    for n in 0..30u64 {
        let t = [GRID, CRS, WELL][(n % 3) as usize];
        let refs = (0..n % 4)
            .map(|i| {
                let mut r = reference(i, CRS);
                r.name = format!("ref {i} \u{e9}");
                if i == 2 {
                    r.kind = RelationshipKind::Secondary;
                }
                r
            })
            .collect();
        let mut m = meta(t, &format!("o{n} \u{e9}"), 1000 + n as i64, refs);
        if n % 5 == 0 {
            m.active_status = ActiveStatus::Inactive;
        }
        if n % 7 == 0 {
            m.custom_data = Bytes::from(vec![n as u8; 3]);
        }
        w.put_object(&okey("ds", n), &m, xml(n))?;
    }
    // Versions, one with a NUL byte (escaped in keys, so not borrowable).
    for (i, version) in ["2", "a\0b"].into_iter().enumerate() {
        let key = ObjectKey {
            version: Some(version.to_owned()),
            ..okey("ds", 3)
        };
        w.put_object(&key, &meta(CRS, "v", 2000 + i as i64, vec![]), xml(3))?;
    }
    // Noise in another dataspace whose name extends "ds".
    w.put_object(&okey("ds2", 100), &meta(GRID, "x", 1, vec![]), xml(100))?;
    w.commit()?;

    let r = store.read()?;
    let filters = [
        ObjectFilter::default(),
        ObjectFilter {
            types: vec![TypeFilter::Prefix(String::new())],
            ..Default::default()
        },
        ObjectFilter {
            types: vec![
                TypeFilter::Prefix("resqml20.".into()),
                TypeFilter::Exact(GRID.into()),
            ],
            ..Default::default()
        },
        ObjectFilter {
            types: vec![TypeFilter::Exact(WELL.into())],
            last_write_after: Some(1020),
            active_status: Some(ActiveStatus::Active),
        },
        ObjectFilter {
            last_write_after: Some(1010),
            active_status: Some(ActiveStatus::Inactive),
            ..Default::default()
        },
        ObjectFilter {
            types: vec![TypeFilter::Exact("witsml21.Welll".into())],
            ..Default::default()
        },
    ];
    for f in &filters {
        let expected = listed(r.as_ref(), "ds", f)?;
        assert_eq!(visited(r.as_ref(), "ds", f, usize::MAX)?, expected, "{f:?}");
        // Stopping early, in the middle of a type too.
        let head: Vec<_> = expected.iter().take(11).cloned().collect();
        assert_eq!(visited(r.as_ref(), "ds", f, 11)?, head, "{f:?}");
    }
    let all = visited(r.as_ref(), "ds", &filters[0], usize::MAX)?;
    assert_eq!(all.len(), 32);
    assert!(
        all.iter()
            .any(|(k, _)| k.version.as_deref() == Some("a\0b"))
    );
    assert!(visited(r.as_ref(), "nope", &filters[1], usize::MAX)?.is_empty());
    Ok(())
}

#[test]
fn visit_inside_a_write_transaction_sees_its_own_writes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path())?;
    create_ds(&store, "ds", 1)?;
    let mut w = store.write()?;
    w.put_object(
        &okey("ds", 1),
        &meta(WELL, "w", 5, vec![reference(2, CRS)]),
        xml(1),
    )?;
    let f = ObjectFilter {
        types: vec![TypeFilter::Exact(WELL.into())],
        ..Default::default()
    };
    let rows = visited(&*w, "ds", &f, usize::MAX)?;
    assert_eq!(rows, listed(&*w, "ds", &f)?);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1.references.len(), 1);
    Ok(())
}

#[test]
fn errors_of_the_visitor_end_the_visit() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open(dir.path())?;
    create_ds(&store, "ds", 1)?;
    let mut w = store.write()?;
    for n in 0..3 {
        w.put_object(&okey("ds", n), &meta(WELL, "w", 5, vec![]), xml(n))?;
    }
    w.commit()?;
    let mut seen = 0;
    let result = store
        .read()?
        .visit_objects("ds", &ObjectFilter::default(), &mut |_| {
            seen += 1;
            Err(etp_store::StoreError::InvalidArgument("stop".into()))
        });
    assert!(result.is_err());
    assert_eq!(seen, 1);
    Ok(())
}
