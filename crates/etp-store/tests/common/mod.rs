//! Shared helpers for the integration tests.
#![allow(dead_code)]

use bytes::Bytes;
use etp_store::{
    ActiveStatus, ArrayKey, ArrayMeta, Dataspace, ElementType, FjallStore, ObjectKey, ObjectMeta,
    Reference, RelationshipKind, Store, StoreConfig,
};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Fails the test with a message (instead of `panic!` in helpers returning Result).
pub fn fail(msg: impl Into<String>) -> Box<dyn std::error::Error> {
    msg.into().into()
}

pub fn open(dir: &std::path::Path) -> Result<FjallStore, etp_store::StoreError> {
    FjallStore::open(dir)
}

pub fn open_small_cache(dir: &std::path::Path) -> Result<FjallStore, etp_store::StoreError> {
    FjallStore::open_with(
        dir,
        StoreConfig {
            cache_bytes: 2 << 20,
            ..StoreConfig::default()
        },
    )
}

pub fn uuid(n: u64) -> [u8; 16] {
    let mut u = [0u8; 16];
    u[8..].copy_from_slice(&n.to_be_bytes());
    u[0] = 0xAB;
    u
}

pub fn meta(t: &str, title: &str, at: i64, refs: Vec<Reference>) -> ObjectMeta {
    ObjectMeta {
        qualified_type: t.to_string(),
        title: title.to_string(),
        last_changed: at - 7,
        store_created: at,
        store_last_write: at,
        active_status: ActiveStatus::Active,
        format: "xml".to_string(),
        custom_data: Bytes::from_static(b"\x02\x08name"),
        references: refs,
        data_len: 0,
    }
}

pub fn reference(target: u64, t: &str) -> Reference {
    Reference {
        target_uuid: uuid(target),
        target_type: t.to_string(),
        name: "eml:Ref".to_string(),
        kind: RelationshipKind::Primary,
    }
}

pub fn xml(n: u64) -> Bytes {
    Bytes::from(format!(
        "<?xml version=\"1.0\"?>\n<obj uuid=\"{n}\">\u{e9}\r\n  payload {n}\0</obj>"
    ))
}

pub fn dataspace(path: &str, at: i64) -> Dataspace {
    Dataspace {
        path: path.to_string(),
        store_created: at,
        store_last_write: at,
        custom_data: Bytes::from_static(b"cd"),
    }
}

pub fn okey(ds: &str, n: u64) -> ObjectKey {
    ObjectKey::new(ds, uuid(n))
}

pub fn akey(ds: &str, owner: u64, path: &str) -> ArrayKey {
    ArrayKey {
        dataspace: ds.to_string(),
        owner: uuid(owner),
        path: path.to_string(),
    }
}

pub fn ameta(dims: &[u64], et: ElementType, at: i64) -> ArrayMeta {
    ArrayMeta {
        dimensions: dims.to_vec(),
        element_type: et,
        logical_type: 10,
        preferred_subarray_dims: Vec::new(),
        store_created: at,
        store_last_write: at,
        custom_data: Bytes::new(),
    }
}

/// Creates dataspace `ds` in its own committed transaction.
pub fn create_ds(store: &dyn Store, ds: &str, at: i64) -> Result<(), etp_store::StoreError> {
    let mut w = store.write()?;
    w.put_dataspace(&dataspace(ds, at))?;
    w.commit()
}
