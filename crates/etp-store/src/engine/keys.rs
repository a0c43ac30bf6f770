//! Key layout of every keyspace (see `docs/design/storage.md`).

use crate::codec::KeyBuf;
use crate::error::Result;
use crate::types::{ArrayKey, ObjectKey, Uuid};

/// `dataspaces`: esc(path)
pub(crate) fn dataspace(path: &str) -> Result<Vec<u8>> {
    KeyBuf::new().str(path).build()
}

/// Prefix of everything in one dataspace, in every dataspace-scoped keyspace.
pub(crate) fn ds_prefix(path: &str) -> Result<Vec<u8>> {
    KeyBuf::new().str(path).build()
}

/// `objects`, `object_data`: esc(ds) uuid opt(version)
pub(crate) fn object(k: &ObjectKey) -> Result<Vec<u8>> {
    KeyBuf::new()
        .str(&k.dataspace)
        .uuid(&k.uuid)
        .opt_str(k.version.as_deref())
        .build()
}

/// Prefix of all versions of one object.
pub(crate) fn object_uuid_prefix(ds: &str, uuid: &Uuid) -> Result<Vec<u8>> {
    KeyBuf::new().str(ds).uuid(uuid).build()
}

/// `by_type`: esc(ds) esc(type) uuid opt(version)
pub(crate) fn by_type(k: &ObjectKey, qualified_type: &str) -> Result<Vec<u8>> {
    KeyBuf::new()
        .str(&k.dataspace)
        .str(qualified_type)
        .uuid(&k.uuid)
        .opt_str(k.version.as_deref())
        .build()
}

/// Prefix of one exact type in `by_type`.
pub(crate) fn by_type_prefix(ds: &str, qualified_type: &str) -> Result<Vec<u8>> {
    KeyBuf::new().str(ds).str(qualified_type).build()
}

/// `type_counts`: esc(ds) esc(type)
pub(crate) fn type_count(ds: &str, qualified_type: &str) -> Result<Vec<u8>> {
    KeyBuf::new().str(ds).str(qualified_type).build()
}

/// `refs_in`: esc(ds) target_uuid source_uuid opt(source_version) ref_index_be32
pub(crate) fn ref_in(source: &ObjectKey, target: &Uuid, index: u32) -> Result<Vec<u8>> {
    KeyBuf::new()
        .str(&source.dataspace)
        .uuid(target)
        .uuid(&source.uuid)
        .opt_str(source.version.as_deref())
        .u32(index)
        .build()
}

/// Prefix of all edges pointing at `target`.
pub(crate) fn ref_in_prefix(ds: &str, target: &Uuid) -> Result<Vec<u8>> {
    KeyBuf::new().str(ds).uuid(target).build()
}

/// `deleted`: esc(ds) time_asc uuid opt(version)
pub(crate) fn deleted(ds: &str, at: i64, uuid: &Uuid, version: Option<&str>) -> Result<Vec<u8>> {
    KeyBuf::new()
        .str(ds)
        .time(at)
        .uuid(uuid)
        .opt_str(version)
        .build()
}

/// Start of the `deleted` range at time `at` in dataspace `ds`.
pub(crate) fn deleted_from(ds: &str, at: i64) -> Result<Vec<u8>> {
    KeyBuf::new().str(ds).time(at).build()
}

/// `deleted_idx`: esc(ds) uuid opt(version) → time
pub(crate) fn deleted_idx(k: &ObjectKey) -> Result<Vec<u8>> {
    object(k)
}

/// `arrays`: esc(ds) owner_uuid esc(path)
pub(crate) fn array(k: &ArrayKey) -> Result<Vec<u8>> {
    KeyBuf::new()
        .str(&k.dataspace)
        .uuid(&k.owner)
        .str(&k.path)
        .build()
}

/// Prefix of all arrays owned by one object.
pub(crate) fn array_owner_prefix(ds: &str, owner: &Uuid) -> Result<Vec<u8>> {
    KeyBuf::new().str(ds).uuid(owner).build()
}

/// `chunk_ptrs`: instance_be64 chunk_be64 → blob id
pub(crate) fn chunk_ptr(instance: u64, chunk: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&instance.to_be_bytes());
    k[8..].copy_from_slice(&chunk.to_be_bytes());
    k
}

/// `chunks`, `pending`: blob_be64; `gc`: instance_be64
pub(crate) fn id(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// `sessions`: time_desc(opened_at) id
pub(crate) fn session(opened_at: i64, id: &Uuid) -> Vec<u8> {
    // Fixed 24 bytes: cannot exceed the key limit.
    KeyBuf::new()
        .time_desc(opened_at)
        .uuid(id)
        .build()
        .unwrap_or_default()
}
