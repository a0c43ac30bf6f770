//! Storage layer of the ETP server.
//!
//! The protocol handlers talk to the [`Store`] trait only, so another engine
//! (a multi-node PostgreSQL one is planned) can be added without touching
//! them. The default engine, [`FjallStore`], keeps everything in one data
//! directory on top of the embedded LSM engine `fjall`: no external service,
//! created on first start.
//!
//! This crate knows nothing about ETP messages: it stores opaque byte blobs
//! (object documents, Avro-encoded `customData` maps) and plain Rust values.
//!
//! # Usage model
//!
//! * Reads go through a [`ReadTxn`], a consistent snapshot of committed data.
//! * Writes go through a [`WriteTxn`]; nothing is visible to others until
//!   [`WriteTxn::commit`], which is atomic and durable (fsync). Dropping or
//!   rolling back discards everything. A request outside an ETP transaction is
//!   executed as its own short write transaction (auto-commit).
//! * The API is synchronous; call it from `spawn_blocking`. Transactions are
//!   `'static + Send`, so a session can keep one open across messages.
//! * Writers to the same dataspace must be serialized by the caller (the ETP
//!   rule "one write transaction per dataspace"); [`DataspaceLocks`]
//!   implements that policy. Unserialized concurrent writers get
//!   [`StoreError::Conflict`] at commit, never a mixed state.

mod array;
mod codec;
mod engine;
mod error;
mod format;
mod locks;
mod nowait;
mod types;

use std::io::Write;
use std::ops::Range;

use bytes::Bytes;

pub use array::{CHUNK_BYTES, STRING_CHUNK_ELEMS};
pub use engine::{
    EngineCounts, FjallStore, MAX_MACHINE_CACHE_BYTES, MIN_MACHINE_CACHE_BYTES, StoreConfig,
    cache_bytes_for_memory, machine_cache_bytes,
};
pub use error::{Result, StoreError};
pub use format::FORMAT_VERSION;
pub use locks::{DataspaceGuard, DataspaceLocks, LockScope};
pub use nowait::without_waiting;
pub use types::{
    ActiveStatus, ArrayKey, ArrayMeta, Dataspace, DeletedResource, Edge, ElementType, ObjectFilter,
    ObjectKey, ObjectMeta, ObjectRow, Reference, ReferenceCounts, ReferenceList, ReferenceRef,
    RelationshipKind, SessionRecord, StoredObject, TypeFilter, Uuid,
};

/// Streaming result of [`ReadTxn::list_objects`]: objects in key order within
/// each qualified type, without their bytes.
pub type ObjectIter<'a> = Box<dyn Iterator<Item = Result<(ObjectKey, ObjectMeta)>> + Send + 'a>;

/// A storage engine. Cheap to share (`Arc<dyn Store>`); every method is
/// blocking.
pub trait Store: Send + Sync {
    /// Opens a read snapshot of the committed state. It stays consistent
    /// however long it is held (hold it briefly: old versions are kept alive).
    fn read(&self) -> Result<Box<dyn ReadTxn>>;

    /// Starts a write transaction. Its reads see the committed state at this
    /// moment plus its own writes.
    fn write(&self) -> Result<Box<dyn WriteTxn>>;

    /// Inserts or replaces a session record (keyed by id), durably. Outside
    /// any transaction on purpose: a session's history must not be rolled back
    /// with the session's data transaction.
    fn put_session(&self, session: &SessionRecord) -> Result<()>;

    /// Inserts or replaces all of `sessions` in one durable write (group commit: one
    /// sync for the batch). A later record with the same id as an earlier one in the
    /// batch replaces it, as if they were written one by one in order.
    fn put_sessions(&self, sessions: &[SessionRecord]) -> Result<()> {
        sessions.iter().try_for_each(|s| self.put_session(s))
    }

    /// One session record by id.
    fn get_session(&self, id: &Uuid) -> Result<Option<SessionRecord>>;

    /// Up to `limit` session records, newest `opened_at` first.
    fn list_sessions(&self, limit: usize) -> Result<Vec<SessionRecord>>;

    /// Deletes session records opened before `before` (µs); returns how many.
    fn purge_sessions(&self, before: i64) -> Result<u64>;

    /// Applies the deleted-resource retention period to every dataspace:
    /// drops tombstones deleted before `before` (µs) in one transaction.
    fn purge_deleted_before(&self, before: i64) -> Result<u64> {
        let mut w = self.write()?;
        let mut n = 0;
        for ds in w.list_dataspaces()? {
            n += w.purge_deleted(&ds.path, before)?;
        }
        w.commit()?;
        Ok(n)
    }
}

/// Read operations, on a snapshot ([`Store::read`]) or inside a write
/// transaction (then including its own uncommitted writes).
pub trait ReadTxn: Send {
    /// One dataspace by path (`""` = default dataspace).
    fn get_dataspace(&self, path: &str) -> Result<Option<Dataspace>>;

    /// Every dataspace, ordered by path.
    fn list_dataspaces(&self) -> Result<Vec<Dataspace>>;

    /// Object metadata and bytes.
    fn get_object(&self, key: &ObjectKey) -> Result<Option<StoredObject>>;

    /// Object metadata without the bytes.
    fn get_object_meta(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>>;

    /// Object metadata, and the bytes only if there are at most `max_data_len` of them
    /// (`data` is left empty when `meta.data_len` is larger). Lets a caller read small
    /// objects where it stands and leave large ones to a thread that may block, without
    /// looking the metadata up twice.
    fn get_object_up_to(&self, key: &ObjectKey, max_data_len: u64) -> Result<Option<StoredObject>> {
        match self.get_object_meta(key)? {
            Some(meta) if meta.data_len > max_data_len => Ok(Some(StoredObject {
                key: key.clone(),
                meta,
                data: Bytes::new(),
            })),
            Some(_) => self.get_object(key),
            None => Ok(None),
        }
    }

    /// Every stored version of one UUID in a dataspace (references resolve by
    /// UUID; usually zero or one entry).
    fn objects_by_uuid(&self, dataspace: &str, uuid: &Uuid)
    -> Result<Vec<(ObjectKey, ObjectMeta)>>;

    /// Objects of a dataspace passing `filter`, streamed. With type filters the
    /// type index is used, so cost follows the number of matching objects.
    fn list_objects(&self, dataspace: &str, filter: &ObjectFilter) -> Result<ObjectIter<'_>>;

    /// The objects [`ReadTxn::list_objects`] yields, in the same order, handed
    /// to `visit` as rows borrowed from the store's records (nothing is
    /// allocated per object); `visit` returns `Ok(false)` to stop early. The
    /// listing path: prefer it to `list_objects` when most objects are only
    /// looked at.
    fn visit_objects(
        &self,
        dataspace: &str,
        filter: &ObjectFilter,
        visit: &mut dyn FnMut(&ObjectRow<'_>) -> Result<bool>,
    ) -> Result<()> {
        for item in self.list_objects(dataspace, filter)? {
            let (key, meta) = item?;
            let counts = self.reference_counts(&key, &meta.qualified_type)?;
            if !visit(&ObjectRow::of(&key, &meta, counts))? {
                break;
            }
        }
        Ok(())
    }

    /// The [`ReferenceCounts`] of the stored object `key` of type `qualified_type`
    /// (zero for an object that is not stored).
    fn reference_counts(&self, key: &ObjectKey, qualified_type: &str) -> Result<ReferenceCounts>;

    /// `(qualified type, object count)` for every type present, ordered by type.
    fn count_by_type(&self, dataspace: &str) -> Result<Vec<(String, u64)>>;

    /// Outgoing references of an object; `None` if the object does not exist.
    fn targets_of(&self, key: &ObjectKey) -> Result<Option<Vec<Reference>>> {
        Ok(self.get_object_meta(key)?.map(|m| m.references))
    }

    /// Objects referencing `target` (by UUID) in a dataspace.
    fn sources_of(&self, dataspace: &str, target: &Uuid) -> Result<Vec<Edge>>;

    /// Tombstones of a dataspace deleted strictly after `after` (all if
    /// `None`), oldest first.
    fn deleted_resources(
        &self,
        dataspace: &str,
        after: Option<i64>,
    ) -> Result<Vec<DeletedResource>>;

    /// Array metadata.
    fn get_array_meta(&self, key: &ArrayKey) -> Result<Option<ArrayMeta>>;

    /// Arrays owned by one object, ordered by path.
    fn list_arrays(&self, dataspace: &str, owner: &Uuid) -> Result<Vec<(ArrayKey, ArrayMeta)>>;

    /// Streams the block `starts`/`counts` of a fixed-width array into `out`
    /// as little-endian row-major bytes (never-written elements read as zero /
    /// false). Holds at most one chunk in memory. Returns the bytes written.
    fn read_subarray(
        &self,
        key: &ArrayKey,
        starts: &[u64],
        counts: &[u64],
        out: &mut dyn Write,
    ) -> Result<u64>;

    /// The block `starts`/`counts` of a fixed-width array, like
    /// [`ReadTxn::read_subarray`], handed to `piece` as shared buffers instead of
    /// copied: each call names a buffer and the byte range of it that comes next
    /// (row-major, little-endian). Where the engine can, the buffer is the stored
    /// chunk itself (a reference count, no copy), so a caller may keep slices of
    /// it after the call, for example to send them; never-written ranges come as
    /// ranges of a static zero buffer. Returns the bytes handed out.
    ///
    /// The default implementation reads the whole block into one fresh buffer
    /// with `read_subarray`: callers bound the block's size first.
    fn visit_subarray(
        &self,
        key: &ArrayKey,
        starts: &[u64],
        counts: &[u64],
        piece: &mut dyn FnMut(&Bytes, Range<usize>) -> Result<()>,
    ) -> Result<u64> {
        let mut all = Vec::new();
        let n = self.read_subarray(key, starts, counts, &mut all)?;
        let all = Bytes::from(all);
        if !all.is_empty() {
            piece(&all, 0..all.len())?;
        }
        Ok(n)
    }

    /// The block `starts`/`counts` of a string array, row-major
    /// (never-written elements read as `""`).
    fn read_strings(&self, key: &ArrayKey, starts: &[u64], counts: &[u64]) -> Result<Vec<String>>;
}

/// A write transaction. Nothing is visible to other readers before
/// [`WriteTxn::commit`]; dropping it without commit rolls it back.
pub trait WriteTxn: ReadTxn {
    /// Creates or replaces a dataspace record. On replacement the existing
    /// `store_created` is kept. Returns the previous record.
    fn put_dataspace(&mut self, dataspace: &Dataspace) -> Result<Option<Dataspace>>;

    /// Deletes a dataspace. Without `cascade` it fails with
    /// `DataspaceNotEmpty` if objects or arrays remain; with it, all its
    /// objects, arrays and tombstones go too (no tombstones are written).
    /// The default dataspace cannot be deleted. Returns whether it existed.
    fn delete_dataspace(&mut self, path: &str, cascade: bool) -> Result<bool>;

    /// Inserts or replaces an object (bytes kept exactly), re-indexes its type
    /// and references, drops a tombstone of the same key, and raises the
    /// dataspace's last-write time. Fails with `DataspaceNotFound`. Returns the
    /// previous metadata (`None` = insert).
    fn put_object(
        &mut self,
        key: &ObjectKey,
        meta: &ObjectMeta,
        data: Bytes,
    ) -> Result<Option<ObjectMeta>>;

    /// Deletes an object, records a tombstone at `deleted_at`, and with
    /// `cascade_arrays` deletes the arrays it owns once no other version of
    /// its UUID remains. Returns the deleted metadata (`None` = was absent, no
    /// tombstone written).
    fn delete_object(
        &mut self,
        key: &ObjectKey,
        deleted_at: i64,
        cascade_arrays: bool,
    ) -> Result<Option<ObjectMeta>>;

    /// Drops the dataspace's tombstones deleted before `before` (µs).
    fn purge_deleted(&mut self, dataspace: &str, before: i64) -> Result<u64>;

    /// Creates (or re-creates, discarding old content) an uninitialized array.
    /// Fails with `DataspaceNotFound`. Returns the previous metadata.
    fn create_array(&mut self, key: &ArrayKey, meta: &ArrayMeta) -> Result<Option<ArrayMeta>>;

    /// Writes a block of a fixed-width array from little-endian row-major
    /// bytes (`data.len()` = product(counts) × element size). Chunks are
    /// written out of place immediately; only their pointers wait for commit.
    fn write_subarray(
        &mut self,
        key: &ArrayKey,
        starts: &[u64],
        counts: &[u64],
        data: &[u8],
        at: i64,
    ) -> Result<()>;

    /// Writes a block of a string array (`values.len()` = product(counts)).
    fn write_strings(
        &mut self,
        key: &ArrayKey,
        starts: &[u64],
        counts: &[u64],
        values: &[String],
        at: i64,
    ) -> Result<()>;

    /// Deletes an array; its chunks are reclaimed after commit.
    fn delete_array(&mut self, key: &ArrayKey) -> Result<bool>;

    /// Makes every write of the transaction visible at once and durable.
    /// On `Err` nothing was applied.
    fn commit(self: Box<Self>) -> Result<()>;

    /// Discards every write of the transaction.
    fn rollback(self: Box<Self>) -> Result<()>;
}
