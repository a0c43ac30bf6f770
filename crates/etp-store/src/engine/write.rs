//! Write transactions.
//!
//! Small records (objects, indexes, array metadata, chunk pointers) are
//! buffered in fjall's optimistic transaction and applied atomically by one
//! journal write + fsync at commit. Array chunks are written out of place
//! right away, appended to a segment file of the transaction's own whose
//! `pending` marker precedes it; the commit syncs the file, then removes the
//! marker in the same atomic batch that publishes the pointers. Rollback, drop
//! and crash recovery delete every segment whose marker remains.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;
use fjall::{OptimisticWriteTx, PersistMode, Readable};

use super::segment::{self, ALIGN, ChunkPtr, Dead, SEGMENT_MARK, SegPtr, SegStats};
use super::{FjallStore, Inner, View, keys};
use crate::array::{Runs, chunk_len, layout, split_run, validate_dims, validate_region};
use crate::codec::{
    MAX_VALUE_LEN, StoredArray, ValWriter, enc_array, enc_dataspace, enc_object_meta,
    enc_ref_counts, enc_ref_in, enc_string_chunk,
};
use crate::error::{Result, StoreError};
use crate::types::{
    ArrayKey, ArrayMeta, Dataspace, DeletedResource, Edge, ElementType, ObjectFilter, ObjectKey,
    ObjectMeta, Reference, ReferenceCounts, StoredObject, Uuid,
};
use crate::{ObjectIter, ReadTxn, WriteTxn};

/// The segment a transaction appends its chunks to.
struct OwnSegment {
    id: u64,
    file: File,
    /// Where the next blob may start (before alignment).
    end: u64,
    /// Where the bytes whose writeback has not been started yet begin.
    written_back: u64,
    /// Blobs this transaction's pointers reference, and their bytes.
    live: SegStats,
}

pub(crate) struct FjallWrite {
    inner: Arc<Inner>,
    tx: Option<OptimisticWriteTx>,
    /// Registration in the snapshot registry, until the transaction ends.
    pin: Option<u64>,
    /// Created on the first chunk; its `pending` marker exists until commit.
    seg: Option<OwnSegment>,
    /// Pointers into committed segments this transaction replaces, per segment.
    dead: HashMap<u64, Dead>,
    /// Array instances dropped by this transaction, reclaimed after commit.
    dead_instances: Vec<u64>,
}

impl FjallWrite {
    pub(crate) fn new(inner: Arc<Inner>) -> Result<Self> {
        // Registered before the snapshot is taken (see `FjallRead::new`).
        let pin = inner.segs.pin();
        let tx = match inner.db.write_tx() {
            Ok(tx) => tx.durability(Some(PersistMode::SyncAll)),
            Err(e) => {
                inner.segs.unpin(pin);
                return Err(e.into());
            }
        };
        Ok(Self {
            inner,
            tx: Some(tx),
            pin: Some(pin),
            seg: None,
            dead: HashMap::new(),
            dead_instances: Vec::new(),
        })
    }

    fn view(&self) -> Result<View<'_, OptimisticWriteTx>> {
        Ok(View {
            r: self.tx.as_ref().ok_or(StoreError::TxnFinished)?,
            ks: &self.inner.ks,
            segs: &self.inner.segs,
            pin: None,
            own_blobs: true,
        })
    }

    /// The transaction plus the keyspace handles (split borrow).
    fn parts(&mut self) -> Result<(&mut OptimisticWriteTx, &super::Keyspaces)> {
        Ok((
            self.tx.as_mut().ok_or(StoreError::TxnFinished)?,
            &self.inner.ks,
        ))
    }

    fn require_dataspace(&self, path: &str) -> Result<Dataspace> {
        self.view()?
            .dataspace(path)?
            .ok_or_else(|| StoreError::DataspaceNotFound(path.to_string()))
    }

    /// Raises the dataspace's last-write time to `at` if it is older.
    fn bump_dataspace(&mut self, path: &str, at: i64) -> Result<()> {
        let Some(d) = self.view()?.dataspace(path)? else {
            return Ok(());
        };
        self.bump_read_dataspace(path, d, at)
    }

    /// [`bump_dataspace`](Self::bump_dataspace) of the record of `path` that this
    /// transaction has read and not written since: saves reading and decoding it again.
    fn bump_read_dataspace(&mut self, path: &str, mut d: Dataspace, at: i64) -> Result<()> {
        if at > d.store_last_write {
            d.store_last_write = at;
            let v = enc_dataspace(&d)?;
            let k = keys::dataspace(path)?;
            let (tx, ks) = self.parts()?;
            tx.insert(&ks.dataspaces, k, v);
        }
        Ok(())
    }

    fn count_add(&mut self, ds: &str, t: &str, delta: i64) -> Result<()> {
        let c = self.view()?.type_count(ds, t)?;
        let n = i64::try_from(c)
            .ok()
            .and_then(|c| c.checked_add(delta))
            .filter(|n| *n >= 0)
            .ok_or_else(|| StoreError::Corrupt(format!("type count of {t} would go negative")))?;
        let k = keys::type_count(ds, t)?;
        let (tx, ks) = self.parts()?;
        if n == 0 {
            tx.remove(&ks.type_counts, k);
        } else {
            tx.insert(&ks.type_counts, k, (n as u64).to_le_bytes());
        }
        Ok(())
    }

    /// Changes the reference counts of `key` (of type `t`) from `was` (as stored) to
    /// `counts`. None are kept for an object without references either way, so listings
    /// skip most objects' counts for free; and nothing is written when nothing changes,
    /// because a removal of an absent record would still leave a tombstone for every
    /// listing to step over.
    fn set_counts(
        &mut self,
        key: &ObjectKey,
        t: &str,
        was: ReferenceCounts,
        counts: ReferenceCounts,
    ) -> Result<()> {
        if counts == was {
            return Ok(());
        }
        let k = keys::by_type(key, t)?;
        let (tx, ks) = self.parts()?;
        if counts.is_zero() {
            tx.remove(&ks.ref_counts, k);
        } else {
            tx.insert(&ks.ref_counts, k, enc_ref_counts(&counts));
        }
        Ok(())
    }

    /// Applies count changes of other objects (`sources` and `targets` deltas).
    fn adjust_counts(&mut self, changes: Vec<(ObjectKey, String, i64, i64)>) -> Result<()> {
        for (key, t, sources, targets) in changes {
            let was = self.view()?.reference_counts(&key, &t)?;
            // The counts are kept exact by construction; saturating keeps a damaged record
            // from failing every later write to its neighbours.
            let c = ReferenceCounts {
                sources: was.sources.saturating_add_signed(sources),
                targets: was.targets.saturating_add_signed(targets),
            };
            self.set_counts(&key, &t, was, c)?;
        }
        Ok(())
    }

    /// Keeps every [`ReferenceCounts`] right when `key` is put with `new` in place of
    /// `old` (`None` = insert). Called before anything of the put is written.
    ///
    /// The object's own counts: `targets` from the stored versions of what it references;
    /// `sources` depend on its UUID only, so they are those of the replaced record or of
    /// another stored version, or else counted from the reverse references. Around it:
    /// each version of a UUID it starts (stops) referencing gains (loses) a source, and
    /// if its UUID was not stored before, every object referencing that UUID gains a
    /// target.
    fn count_put(
        &mut self,
        key: &ObjectKey,
        old: Option<&ObjectMeta>,
        new: &ObjectMeta,
    ) -> Result<()> {
        let ds = &key.dataspace;
        let before = old.map_or_else(Vec::new, |o| distinct_targets(&key.uuid, &o.references));
        let after = distinct_targets(&key.uuid, &new.references);
        let mut own = ReferenceCounts::default();
        // What is stored for `key` now (nothing for an insert).
        let mut was = ReferenceCounts::default();
        let mut changes = Vec::new();
        {
            let view = self.view()?;
            if let Some(o) = old {
                was = view.reference_counts(key, &o.qualified_type)?;
            }
            for t in merged(&before, &after) {
                let (was, is) = (
                    before.binary_search(&t).is_ok(),
                    after.binary_search(&t).is_ok(),
                );
                let versions = view.versions(ds, &t)?;
                if is && !versions.is_empty() {
                    own.targets += 1;
                }
                let delta = i64::from(is) - i64::from(was);
                if delta != 0 {
                    changes.extend(versions.into_iter().map(|(k, t)| (k, t, delta, 0)));
                }
            }
            own.sources = match old {
                Some(_) => was.sources,
                None => match view.versions(ds, &key.uuid)?.first() {
                    Some((k, t)) => view.reference_counts(k, t)?.sources,
                    None => {
                        let referrers = view.referrers(ds, &key.uuid)?;
                        own.sources = referrers.len() as u64;
                        changes.extend(referrers.into_iter().map(|(k, t)| (k, t, 0, 1)));
                        own.sources
                    }
                },
            };
        }
        if let Some(o) = old
            && o.qualified_type != new.qualified_type
        {
            self.set_counts(key, &o.qualified_type, was, ReferenceCounts::default())?;
            was = ReferenceCounts::default();
        }
        self.adjust_counts(changes)?;
        self.set_counts(key, &new.qualified_type, was, own)
    }

    /// Keeps every [`ReferenceCounts`] right when `key` (`old`) is deleted. Called after
    /// its records are removed, so that the versions of its UUID left are the others.
    fn count_delete(&mut self, key: &ObjectKey, old: &ObjectMeta) -> Result<()> {
        let ds = &key.dataspace;
        let mut changes = Vec::new();
        let was;
        {
            let view = self.view()?;
            was = view.reference_counts(key, &old.qualified_type)?;
            for t in distinct_targets(&key.uuid, &old.references) {
                changes.extend(
                    view.versions(ds, &t)?
                        .into_iter()
                        .map(|(k, t)| (k, t, -1, 0)),
                );
            }
            if view.versions(ds, &key.uuid)?.is_empty() {
                changes.extend(
                    view.referrers(ds, &key.uuid)?
                        .into_iter()
                        .map(|(k, t)| (k, t, 0, -1)),
                );
            }
        }
        self.set_counts(key, &old.qualified_type, was, ReferenceCounts::default())?;
        self.adjust_counts(changes)
    }

    /// Removes the type-index entry, reverse references and count of an object.
    fn unindex(&mut self, key: &ObjectKey, m: &ObjectMeta) -> Result<()> {
        let bt = keys::by_type(key, &m.qualified_type)?;
        let mut refs = Vec::with_capacity(m.references.len());
        for (i, r) in m.references.iter().enumerate() {
            refs.push(keys::ref_in(key, &r.target_uuid, index_u32(i)?)?);
        }
        let (tx, ks) = self.parts()?;
        tx.remove(&ks.by_type, bt);
        for k in refs {
            tx.remove(&ks.refs_in, k);
        }
        self.count_add(&key.dataspace, &m.qualified_type, -1)
    }

    /// Removes the tombstone of `key`, if any.
    fn remove_tombstone(&mut self, key: &ObjectKey) -> Result<()> {
        let ik = keys::deleted_idx(key)?;
        let Some(t) = self.view()?.r.get(&self.inner.ks.deleted_idx, &ik)? else {
            return Ok(());
        };
        let t = <[u8; 8]>::try_from(&t[..])
            .map(i64::from_le_bytes)
            .map_err(|_| StoreError::Corrupt("tombstone index".into()))?;
        let dk = keys::deleted(&key.dataspace, t, &key.uuid, key.version.as_deref())?;
        let (tx, ks) = self.parts()?;
        tx.remove(&ks.deleted, dk);
        tx.remove(&ks.deleted_idx, ik);
        Ok(())
    }

    /// Deletes an object and its index entries; optionally writes a tombstone. With
    /// `recount`, the reference counts of its neighbours follow; without, its own counts
    /// record is left for the caller (a whole dataspace going away).
    fn delete_object_inner(
        &mut self,
        key: &ObjectKey,
        tombstone_at: Option<i64>,
        recount: bool,
    ) -> Result<Option<ObjectMeta>> {
        let ok = keys::object(key)?;
        let Some(old) = self.view()?.object_meta(key)? else {
            return Ok(None);
        };
        self.unindex(key, &old)?;
        self.remove_tombstone(key)?;
        let tomb = match tombstone_at {
            Some(at) => {
                let mut w = ValWriter::new(1);
                w.str(&old.qualified_type)?;
                Some((
                    keys::deleted(&key.dataspace, at, &key.uuid, key.version.as_deref())?,
                    keys::deleted_idx(key)?,
                    w.finish()?,
                    at,
                ))
            }
            None => None,
        };
        let (tx, ks) = self.parts()?;
        tx.remove(&ks.objects, ok.clone());
        tx.remove(&ks.object_data, ok);
        if let Some((dk, ik, v, at)) = tomb {
            tx.insert(&ks.deleted, dk, v);
            tx.insert(&ks.deleted_idx, ik, at.to_le_bytes());
        }
        if recount {
            self.count_delete(key, &old)?;
        }
        Ok(Some(old))
    }

    /// Unlinks an array; its chunks are reclaimed after commit.
    fn drop_array(&mut self, array_key: Vec<u8>, a: &StoredArray) -> Result<()> {
        let inst = a.instance;
        let (tx, ks) = self.parts()?;
        tx.remove(&ks.arrays, array_key);
        tx.insert(&ks.gc, keys::id(inst), []);
        self.dead_instances.push(inst);
        Ok(())
    }

    /// The transaction's segment, created on first use: its `pending` marker is written
    /// first, so recovery finds every segment that may exist without a commit.
    fn own_segment(&mut self) -> Result<&mut OwnSegment> {
        if self.seg.is_none() {
            let id = self.inner.alloc_id()?;
            self.inner.ks.pending.insert(keys::id(id), SEGMENT_MARK)?;
            let file = match self.inner.segs.create(id) {
                Ok(f) => f,
                Err(e) => {
                    let _ = self.inner.ks.pending.remove(keys::id(id));
                    return Err(e);
                }
            };
            self.inner.segs.set_open(id, Some(0));
            self.seg = Some(OwnSegment {
                id,
                file,
                end: 0,
                written_back: 0,
                live: SegStats::default(),
            });
        }
        self.seg.as_mut().ok_or(StoreError::TxnFinished)
    }

    /// Stores chunk `c` of `instance`. A chunk already in this transaction's segment is
    /// overwritten in place when its length is unchanged (nobody else can see it);
    /// otherwise the bytes are appended to the segment and the pointer to them buffered.
    /// A replaced committed chunk is counted dead at commit and its space given back
    /// once older snapshots, which still read it, are gone.
    fn put_chunk(&mut self, instance: u64, c: u64, data: &[u8]) -> Result<()> {
        if data.len() > MAX_VALUE_LEN {
            return Err(StoreError::InvalidArgument(
                "chunk larger than 4 GiB".into(),
            ));
        }
        let len = data.len() as u64;
        let hash = xxhash_rust::xxh3::xxh3_64(data);
        let cur = self.view()?.chunk_ptr(instance, c)?;
        let own = self.seg.as_ref().map(|s| s.id);
        let ptr = match cur {
            Some(ChunkPtr::Seg(p)) if Some(p.seg) == own && p.len == len => {
                let seg = self.own_segment()?;
                seg.file.write_all_at(data, p.off)?;
                SegPtr { hash, ..p }
            }
            cur => {
                let seg = self.own_segment()?;
                let off = seg
                    .end
                    .checked_next_multiple_of(ALIGN)
                    .ok_or_else(|| StoreError::InvalidArgument("segment too large".into()))?;
                seg.file.write_all_at(data, off)?;
                seg.end = off + len;
                if seg.end - seg.written_back >= segment::WRITEBACK_STEP {
                    segment::start_writeback(
                        &seg.file,
                        seg.written_back,
                        seg.end - seg.written_back,
                    );
                    seg.written_back = seg.end;
                }
                seg.live.blobs += 1;
                seg.live.bytes += len;
                let id = seg.id;
                match cur {
                    Some(ChunkPtr::Seg(p)) if Some(p.seg) == own => {
                        // Seen by this transaction only: its space goes right away.
                        let seg = self.own_segment()?;
                        seg.live.blobs -= 1;
                        seg.live.bytes -= p.len;
                        let _ = segment::punch(&seg.file, p.off, p.len);
                    }
                    Some(ChunkPtr::Seg(p)) => self.dead.entry(p.seg).or_default().add(&p),
                    Some(ChunkPtr::Blob(b)) => {
                        // Format 1–2 blob: fjall's MVCC keeps it for older snapshots.
                        let (tx, ks) = self.parts()?;
                        tx.remove(&ks.chunks, keys::id(b));
                    }
                    None => {}
                }
                let blobs = self.own_segment()?.live.blobs;
                self.inner.segs.set_open(id, Some(blobs));
                SegPtr {
                    seg: id,
                    off,
                    len,
                    hash,
                }
            }
        };
        let (tx, ks) = self.parts()?;
        tx.insert(&ks.chunk_ptrs, keys::chunk_ptr(instance, c), ptr.encode());
        Ok(())
    }

    /// Deletes this transaction's segment (rollback, drop, conflict).
    fn discard_segment(&mut self) -> Result<()> {
        match self.seg.take() {
            Some(s) => {
                drop(s.file);
                self.inner.drop_pending_segment(s.id)
            }
            None => Ok(()),
        }
    }

    /// Leaves the snapshot registry and gives back what that allows.
    fn unpin(&mut self) {
        if let Some(p) = self.pin.take() {
            self.inner.segs.unpin(p);
        }
    }

    fn array_or_not_found(&self, key: &ArrayKey) -> Result<StoredArray> {
        self.view()?
            .array(key)?
            .ok_or_else(|| StoreError::ArrayNotFound(key.to_string()))
    }

    /// Stores updated array metadata after a write and raises the dataspace time.
    fn touch_array(&mut self, key: &ArrayKey, mut a: StoredArray, at: i64) -> Result<()> {
        a.meta.store_last_write = at;
        let v = enc_array(&a)?;
        let k = keys::array(key)?;
        let (tx, ks) = self.parts()?;
        tx.insert(&ks.arrays, k, v);
        self.bump_dataspace(&key.dataspace, at)
    }
}

/// The UUIDs `references` point at, once each, ascending, `own` left out.
fn distinct_targets(own: &Uuid, references: &[Reference]) -> Vec<Uuid> {
    let mut targets: Vec<Uuid> = references
        .iter()
        .map(|r| r.target_uuid)
        .filter(|t| t != own)
        .collect();
    targets.sort_unstable();
    targets.dedup();
    targets
}

/// The union of two ascending lists of distinct UUIDs, ascending.
fn merged(a: &[Uuid], b: &[Uuid]) -> Vec<Uuid> {
    let mut all: Vec<Uuid> = a.iter().chain(b).copied().collect();
    all.sort_unstable();
    all.dedup();
    all
}

impl FjallStore {
    /// Stores chunk `c` of the committed array `key` as formats 1–2 did (an engine blob
    /// and an 8-byte pointer), replacing whatever pointer it had without reclaiming it:
    /// lets tests build a format-2 directory. Not for anything else.
    #[doc(hidden)]
    pub fn debug_put_legacy_chunk(&self, key: &ArrayKey, c: u64, data: &[u8]) -> Result<()> {
        let inner = &self.inner;
        let a = View {
            r: &inner.db.read_tx(),
            ks: &inner.ks,
            segs: &inner.segs,
            pin: None,
            own_blobs: false,
        }
        .array(key)?
        .ok_or_else(|| StoreError::ArrayNotFound(key.to_string()))?;
        let b = inner.alloc_id()?;
        inner.ks.chunks.insert(keys::id(b), data)?;
        inner
            .ks
            .chunk_ptrs
            .insert(keys::chunk_ptr(a.instance, c), b.to_le_bytes())?;
        Ok(inner.db.persist(PersistMode::SyncAll)?)
    }

    /// Leaves a segment as a transaction killed before its commit would: a pending
    /// marker and a file holding `data`. Returns the file's path. Lets tests check
    /// recovery. Not for anything else.
    #[doc(hidden)]
    pub fn debug_abandon_segment(&self, data: &[u8]) -> Result<std::path::PathBuf> {
        let inner = &self.inner;
        let id = inner.alloc_id()?;
        inner.ks.pending.insert(keys::id(id), SEGMENT_MARK)?;
        inner.segs.create(id)?.write_all_at(data, 0)?;
        inner.db.persist(PersistMode::SyncAll)?;
        Ok(inner.segs.path(id))
    }

    /// Removes every kept reference count, as a format-1 directory has none: lets tests
    /// check the migration. Not for anything else.
    #[doc(hidden)]
    pub fn debug_wipe_reference_counts(&self) -> Result<()> {
        let stale: Vec<fjall::Slice> = self
            .inner
            .ks
            .ref_counts
            .iter()
            .map(|g| g.key().map_err(StoreError::from))
            .collect::<Result<_>>()?;
        for k in stale {
            self.inner.ks.ref_counts.remove(k)?;
        }
        Ok(())
    }
}

/// Format 1 → 2: writes the [`ReferenceCounts`] of every stored object, computed from
/// scratch. Idempotent (existing counts records are replaced), in one transaction.
pub(crate) fn recount_references(store: &FjallStore) -> Result<()> {
    let mut w = FjallWrite::new(store.inner.clone())?;
    let stale: Vec<fjall::Slice> = w
        .view()?
        .r
        .iter(&w.inner.ks.ref_counts)
        .map(|g| g.key().map_err(StoreError::from))
        .collect::<Result<_>>()?;
    {
        let (tx, ks) = w.parts()?;
        for k in stale {
            tx.remove(&ks.ref_counts, k);
        }
    }
    for ds in w.list_dataspaces()? {
        let objects: Vec<(ObjectKey, String, Vec<Uuid>)> = w
            .view()?
            .list_objects(&ds.path, &ObjectFilter::default())?
            .map(|item| {
                item.map(|(k, m)| {
                    let targets = distinct_targets(&k.uuid, &m.references);
                    (k, m.qualified_type, targets)
                })
            })
            .collect::<Result<_>>()?;
        let stored: HashSet<Uuid> = objects.iter().map(|(k, _, _)| k.uuid).collect();
        let mut sources: HashMap<Uuid, u64> = HashMap::new();
        for (_, _, targets) in &objects {
            for t in targets.iter().filter(|t| stored.contains(*t)) {
                *sources.entry(*t).or_default() += 1;
            }
        }
        for (k, t, targets) in &objects {
            let counts = ReferenceCounts {
                sources: sources.get(&k.uuid).copied().unwrap_or(0),
                targets: targets.iter().filter(|t| stored.contains(*t)).count() as u64,
            };
            // The stale records were removed above.
            w.set_counts(k, t, ReferenceCounts::default(), counts)?;
        }
    }
    Box::new(w).commit()
}

fn index_u32(i: usize) -> Result<u32> {
    u32::try_from(i).map_err(|_| StoreError::InvalidArgument("too many references".into()))
}

impl Drop for FjallWrite {
    fn drop(&mut self) {
        if self.tx.take().is_some() {
            // Best effort: whatever fails here is removed at the next open
            // (the segment still carries its pending marker).
            let _ = self.discard_segment();
        }
        self.unpin();
    }
}

impl FjallWrite {
    fn write_fixed(
        &mut self,
        key: &ArrayKey,
        starts: &[u64],
        counts: &[u64],
        data: &[u8],
        at: i64,
    ) -> Result<()> {
        let a = self.array_or_not_found(key)?;
        let es = a
            .meta
            .element_type
            .fixed_size()
            .ok_or(StoreError::TypeMismatch {
                array: ElementType::String.name(),
                request: "fixed-width",
            })?;
        let total = validate_dims(&a.meta.dimensions, a.meta.element_type)?;
        let n = validate_region(&a.meta.dimensions, starts, counts)?;
        // n * es fits: n <= total and total * es was checked at create.
        if data.len() as u64 != n * es {
            return Err(StoreError::InvalidArgument(format!(
                "data has {} bytes, block {counts:?} of {} needs {}",
                data.len(),
                a.meta.element_type.name(),
                n * es
            )));
        }
        let mut pos = 0usize;
        // Partially covered chunk being assembled: (index, bytes).
        let mut cur: Option<(u64, Vec<u8>)> = None;
        for (lin, len) in Runs::new(&a.meta.dimensions, starts, counts) {
            for (c, off, take) in split_run(lin, len, a.chunk_elems) {
                let clen = chunk_len(total, a.chunk_elems, c);
                let nbytes = (take * es) as usize;
                let src = data
                    .get(pos..pos + nbytes)
                    .ok_or_else(|| StoreError::InvalidArgument("data too short".into()))?;
                pos += nbytes;
                if off == 0 && take == clen {
                    // Runs are maximal, so a fully covered chunk is covered by one piece.
                    if let Some((ci, buf)) = cur.take()
                        && ci != c
                    {
                        self.put_chunk(a.instance, ci, &buf)?;
                    }
                    self.put_chunk(a.instance, c, src)?;
                    continue;
                }
                if cur.as_ref().map(|(i, _)| *i) != Some(c) {
                    if let Some((ci, buf)) = cur.take() {
                        self.put_chunk(a.instance, ci, &buf)?;
                    }
                    let base = match self.view()?.fixed_chunk(&a, c, clen * es)? {
                        Some(s) => s.to_vec(),
                        None => vec![0u8; (clen * es) as usize],
                    };
                    cur = Some((c, base));
                }
                if let Some((_, buf)) = cur.as_mut() {
                    let from = (off * es) as usize;
                    buf.get_mut(from..from + nbytes)
                        .ok_or_else(|| StoreError::Corrupt("chunk too short".into()))?
                        .copy_from_slice(src);
                }
            }
        }
        if let Some((ci, buf)) = cur.take() {
            self.put_chunk(a.instance, ci, &buf)?;
        }
        self.touch_array(key, a, at)
    }

    fn write_str(
        &mut self,
        key: &ArrayKey,
        starts: &[u64],
        counts: &[u64],
        values: &[String],
        at: i64,
    ) -> Result<()> {
        let a = self.array_or_not_found(key)?;
        if a.meta.element_type != ElementType::String {
            return Err(StoreError::TypeMismatch {
                array: a.meta.element_type.name(),
                request: ElementType::String.name(),
            });
        }
        let total = validate_dims(&a.meta.dimensions, a.meta.element_type)?;
        let n = validate_region(&a.meta.dimensions, starts, counts)?;
        if values.len() as u64 != n {
            return Err(StoreError::InvalidArgument(format!(
                "{} values given, block {counts:?} needs {n}",
                values.len()
            )));
        }
        let mut pos = 0usize;
        let mut cur: Option<(u64, Vec<Vec<u8>>)> = None;
        for (lin, len) in Runs::new(&a.meta.dimensions, starts, counts) {
            for (c, off, take) in split_run(lin, len, a.chunk_elems) {
                if cur.as_ref().map(|(i, _)| *i) != Some(c) {
                    if let Some((ci, vals)) = cur.take() {
                        self.put_chunk(a.instance, ci, &enc_string_chunk(&vals)?)?;
                    }
                    let clen = chunk_len(total, a.chunk_elems, c);
                    cur = Some((c, self.view()?.string_chunk(&a, c, clen)?));
                }
                let src = values
                    .get(pos..pos + take as usize)
                    .ok_or_else(|| StoreError::InvalidArgument("too few values".into()))?;
                pos += take as usize;
                if let Some((_, vals)) = cur.as_mut() {
                    let dst = vals
                        .get_mut(off as usize..(off + take) as usize)
                        .ok_or_else(|| StoreError::Corrupt("string chunk too short".into()))?;
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d = s.as_bytes().to_vec();
                    }
                }
            }
        }
        if let Some((ci, vals)) = cur.take() {
            self.put_chunk(a.instance, ci, &enc_string_chunk(&vals)?)?;
        }
        self.touch_array(key, a, at)
    }
}

super::read::impl_read_txn!(FjallWrite);

impl WriteTxn for FjallWrite {
    fn put_dataspace(&mut self, d: &Dataspace) -> Result<Option<Dataspace>> {
        let prev = self.view()?.dataspace(&d.path)?;
        let mut rec = d.clone();
        if let Some(p) = &prev {
            rec.store_created = p.store_created;
        }
        let v = enc_dataspace(&rec)?;
        let k = keys::dataspace(&d.path)?;
        let (tx, ks) = self.parts()?;
        tx.insert(&ks.dataspaces, k, v);
        Ok(prev)
    }

    fn delete_dataspace(&mut self, path: &str, cascade: bool) -> Result<bool> {
        if path.is_empty() {
            return Err(StoreError::InvalidArgument(
                "the default dataspace cannot be deleted".into(),
            ));
        }
        if self.view()?.dataspace(path)?.is_none() {
            return Ok(false);
        }
        let prefix = keys::ds_prefix(path)?;
        let (objects, arrays) = {
            let v = self.view()?;
            let objects: Vec<ObjectKey> = v
                .list_objects(path, &ObjectFilter::default())?
                .map(|r| r.map(|(k, _)| k))
                .collect::<Result<_>>()?;
            (objects, v.array_keys_in(path)?)
        };
        if !cascade && (!objects.is_empty() || !arrays.is_empty()) {
            return Err(StoreError::DataspaceNotEmpty(path.to_string()));
        }
        for k in &objects {
            self.delete_object_inner(k, None, false)?;
        }
        // Every object goes, so every counts record goes, unrecounted.
        let counted: Vec<fjall::Slice> = self
            .view()?
            .r
            .prefix(&self.inner.ks.ref_counts, &prefix)
            .map(|g| g.key().map_err(StoreError::from))
            .collect::<Result<_>>()?;
        for (k, a) in arrays {
            self.drop_array(k, &a)?;
        }
        let tombs = self.view()?.deleted_range(path, None)?;
        let idx: Vec<fjall::Slice> = self
            .view()?
            .r
            .prefix(&self.inner.ks.deleted_idx, &prefix)
            .map(|g| g.key().map_err(StoreError::from))
            .collect::<Result<_>>()?;
        let (tx, ks) = self.parts()?;
        for (k, _) in tombs {
            tx.remove(&ks.deleted, k);
        }
        for k in idx {
            tx.remove(&ks.deleted_idx, k);
        }
        for k in counted {
            tx.remove(&ks.ref_counts, k);
        }
        tx.remove(&ks.dataspaces, keys::dataspace(path)?);
        Ok(true)
    }

    fn put_object(
        &mut self,
        key: &ObjectKey,
        meta: &ObjectMeta,
        data: Bytes,
    ) -> Result<Option<ObjectMeta>> {
        if data.len() > MAX_VALUE_LEN {
            return Err(StoreError::InvalidArgument(
                "object larger than 4 GiB".into(),
            ));
        }
        // Bumped at the end; nothing in between writes the dataspace record.
        let dataspace = self.require_dataspace(&key.dataspace)?;
        let ok = keys::object(key)?;
        let bt = keys::by_type(key, &meta.qualified_type)?;
        let old = self.view()?.object_meta(key)?;
        self.count_put(key, old.as_ref(), meta)?;
        if let Some(o) = &old {
            self.unindex(key, o)?;
        }
        let mut m = meta.clone();
        m.data_len = data.len() as u64;
        if let Some(o) = &old {
            m.store_created = o.store_created;
        }
        let enc = enc_object_meta(&m)?;
        let mut refs = Vec::with_capacity(m.references.len());
        for (i, r) in m.references.iter().enumerate() {
            refs.push((
                keys::ref_in(key, &r.target_uuid, index_u32(i)?)?,
                enc_ref_in(&m.qualified_type, r)?,
            ));
        }
        let (tx, ks) = self.parts()?;
        tx.insert(&ks.objects, ok.clone(), enc.clone());
        tx.insert(&ks.object_data, ok, data);
        tx.insert(&ks.by_type, bt, enc);
        for (k, v) in refs {
            tx.insert(&ks.refs_in, k, v);
        }
        self.count_add(&key.dataspace, &m.qualified_type, 1)?;
        self.remove_tombstone(key)?;
        self.bump_read_dataspace(&key.dataspace, dataspace, m.store_last_write)?;
        Ok(old)
    }

    fn delete_object(
        &mut self,
        key: &ObjectKey,
        deleted_at: i64,
        cascade_arrays: bool,
    ) -> Result<Option<ObjectMeta>> {
        let old = self.delete_object_inner(key, Some(deleted_at), true)?;
        if old.is_none() {
            return Ok(None);
        }
        if cascade_arrays
            && self
                .view()?
                .objects_by_uuid(&key.dataspace, &key.uuid)?
                .is_empty()
        {
            let arrays = self.view()?.arrays_of(&key.dataspace, &key.uuid)?;
            for (ak, a) in arrays {
                self.drop_array(keys::array(&ak)?, &a)?;
            }
        }
        self.bump_dataspace(&key.dataspace, deleted_at)?;
        Ok(old)
    }

    fn purge_deleted(&mut self, dataspace: &str, before: i64) -> Result<u64> {
        let victims: Vec<_> = self
            .view()?
            .deleted_range(dataspace, None)?
            .into_iter()
            .take_while(|(_, d)| d.deleted_at < before)
            .collect();
        let mut idx = Vec::with_capacity(victims.len());
        for (_, d) in &victims {
            idx.push(keys::deleted_idx(&ObjectKey {
                dataspace: dataspace.to_string(),
                uuid: d.uuid,
                version: d.version.clone(),
            })?);
        }
        let n = victims.len() as u64;
        let (tx, ks) = self.parts()?;
        for ((k, _), ik) in victims.into_iter().zip(idx) {
            tx.remove(&ks.deleted, k);
            tx.remove(&ks.deleted_idx, ik);
        }
        Ok(n)
    }

    fn create_array(&mut self, key: &ArrayKey, meta: &ArrayMeta) -> Result<Option<ArrayMeta>> {
        validate_dims(&meta.dimensions, meta.element_type)?;
        self.require_dataspace(&key.dataspace)?;
        let ak = keys::array(key)?;
        let old = self.view()?.array(key)?;
        if let Some(o) = &old {
            self.drop_array(ak.clone(), o)?;
        }
        let layout = layout(
            &meta.dimensions,
            meta.element_type,
            self.inner.chunk_bytes,
            self.inner.string_chunk_elems,
        );
        let chunk_elems = layout.chunk_elems;
        let mut m = meta.clone();
        // A caller's own preference is kept as given (chunks are not laid out for it).
        if m.preferred_subarray_dims.is_empty() {
            m.preferred_subarray_dims = layout.preferred;
        }
        let at = m.store_last_write.max(m.store_created);
        let stored = StoredArray {
            meta: m,
            instance: self.inner.alloc_id()?,
            chunk_elems,
        };
        let v = enc_array(&stored)?;
        let (tx, ks) = self.parts()?;
        tx.insert(&ks.arrays, ak, v);
        self.bump_dataspace(&key.dataspace, at)?;
        Ok(old.map(|o| o.meta))
    }

    fn write_subarray(
        &mut self,
        key: &ArrayKey,
        starts: &[u64],
        counts: &[u64],
        data: &[u8],
        at: i64,
    ) -> Result<()> {
        self.write_fixed(key, starts, counts, data, at)
    }

    fn write_strings(
        &mut self,
        key: &ArrayKey,
        starts: &[u64],
        counts: &[u64],
        values: &[String],
        at: i64,
    ) -> Result<()> {
        self.write_str(key, starts, counts, values, at)
    }

    fn delete_array(&mut self, key: &ArrayKey) -> Result<bool> {
        let Some(a) = self.view()?.array(key)? else {
            return Ok(false);
        };
        self.drop_array(keys::array(key)?, &a)?;
        Ok(true)
    }

    fn commit(mut self: Box<Self>) -> Result<()> {
        let mut tx = self.tx.take().ok_or(StoreError::TxnFinished)?;
        if let Some(seg) = &self.seg {
            // No pointer may become durable before the bytes it points at: data first,
            // then the directory entry of the new file, then the journal.
            let synced = seg
                .file
                .sync_data()
                .map_err(StoreError::from)
                .and_then(|()| self.inner.segs.sync_dir());
            if let Err(e) = synced {
                drop(tx);
                self.discard_segment()?;
                return Err(e);
            }
            tx.remove(&self.inner.ks.pending, keys::id(seg.id));
            tx.insert(&self.inner.ks.segments, keys::id(seg.id), seg.live.encode());
        }
        // Counts of other segments are read-modify-written: the lock keeps concurrent
        // commits and reclaims from losing an update until this batch is in.
        let acct = (!self.dead.is_empty()).then(|| self.inner.segs.accounting());
        let kills = self
            .inner
            .account(std::mem::take(&mut self.dead), |ks, k, v| match v {
                Some(v) => tx.insert(ks, k, v),
                None => tx.remove(ks, k),
            });
        let kills = match kills {
            Ok(k) => k,
            Err(e) => {
                drop(acct);
                drop(tx);
                self.discard_segment()?;
                return Err(e);
            }
        };
        let outcome = tx.commit();
        drop(acct);
        match outcome {
            Ok(Ok(())) => {
                // Committed: the segment is the store's now.
                if let Some(seg) = self.seg.take() {
                    self.inner.segs.set_open(seg.id, None);
                }
                self.inner.segs.retire(kills);
                for inst in std::mem::take(&mut self.dead_instances) {
                    // Committed already; a failed reclaim is finished at next open
                    // (the gc marker stays).
                    let _ = self.inner.gc_instance(inst);
                }
                self.unpin();
                Ok(())
            }
            Ok(Err(_conflict)) => {
                self.discard_segment()?;
                Err(StoreError::Conflict)
            }
            Err(e) => {
                // The engine may or may not have journaled the batch; leave the
                // segment to crash recovery, which keys off the pending marker.
                if let Some(seg) = self.seg.take() {
                    self.inner.segs.set_open(seg.id, None);
                }
                Err(e.into())
            }
        }
    }

    fn rollback(mut self: Box<Self>) -> Result<()> {
        let tx = self.tx.take().ok_or(StoreError::TxnFinished)?;
        tx.rollback();
        let r = self.discard_segment();
        self.unpin();
        r
    }
}
