//! The embedded engine: [`FjallStore`] on top of `fjall` (LSM tree, one
//! journal, MVCC snapshots, optimistic cross-keyspace transactions).

mod keys;
mod mapped;
mod read;
mod segment;
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use fjall::{
    CompressionType, Keyspace, KeyspaceCreateOptions, KvSeparationOptions, OptimisticTxDatabase,
    PersistMode, Readable,
};

use crate::codec::{KeyReader, dec_session, enc_dataspace, enc_session};
use crate::error::{Result, StoreError};
use crate::format::{self, FORMAT_VERSION, Found};
use crate::types::{Dataspace, SessionRecord, Uuid};
use crate::{ReadTxn, Store, WriteTxn};

pub(crate) use read::View;
use segment::{ChunkPtr, Dead, SEGMENT_MARK, SegStats, Segments};
use write::FjallWrite;
pub(crate) use write::recount_references;

/// Tuning of [`FjallStore`]. The defaults suit a server with a few GiB of RAM.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Block cache size in bytes: hot object records, table blocks, and array chunks of
    /// stores written before format 3 (held as engine blobs).
    ///
    /// Array chunks written since format 3 live in segment files and are not cached
    /// here: the OS page cache holds them. A chunk from this cache goes to the socket as
    /// it is, shared with the cache; one that is not is read from its file into a new
    /// buffer (a copy, a checksum). The cache holds only what was read, not what was
    /// written, and takes memory only as it fills: its capacity can be much larger than
    /// what is in use. [`machine_cache_bytes`] sizes it from the machine's memory; the
    /// default here is 256 MiB, for embedded and test stores.
    pub cache_bytes: u64,
    /// Store object documents in separate blob files (key-value separation)
    /// instead of inside the LSM tree. Less rewrite work in compactions for
    /// objects of several KiB. Only takes effect when the store is created.
    pub object_kv_separation: bool,
    /// Chunk size in bytes for new fixed-width arrays (each array keeps the
    /// layout it was created with). Smaller chunks make partial writes
    /// cheaper, larger ones reduce per-chunk overhead; ~1 MiB matches the
    /// ETP message size clients use. Clamped to 8 B ..= 256 MiB.
    pub array_chunk_bytes: u64,
    /// Elements per chunk for new string arrays. Clamped to 1 ..= 16 Mi.
    pub string_chunk_elems: u64,
    /// Largest in-memory write buffer (memtable) of the object-record and type-index
    /// keyspaces, which listings scan. Iterating a memtable (a lock-free skip list) costs
    /// about twice as much per record as iterating flushed, sorted blocks, so these
    /// keyspaces flush early: 100,000 object records are ~24 MiB, which the engine's
    /// 64 MiB default would keep in memory. Clamped to 1 ..= 64 MiB. Only takes effect
    /// when the store is created (the engine records it with the keyspace).
    pub listing_memtable_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            cache_bytes: 256 << 20,
            object_kv_separation: true,
            array_chunk_bytes: crate::array::CHUNK_BYTES,
            string_chunk_elems: crate::array::STRING_CHUNK_ELEMS,
            listing_memtable_bytes: 4 << 20,
        }
    }
}

/// Smallest cache [`machine_cache_bytes`] chooses.
pub const MIN_MACHINE_CACHE_BYTES: u64 = 256 << 20;
/// Largest cache [`machine_cache_bytes`] chooses (a bigger one must be asked for).
pub const MAX_MACHINE_CACHE_BYTES: u64 = 32 << 30;

/// A cache size for a store that has the machine to itself: half of what is left of
/// the memory after 1 GiB for everything else (the rule of WiredTiger, MongoDB's engine),
/// at least [`MIN_MACHINE_CACHE_BYTES`], at most [`MAX_MACHINE_CACHE_BYTES`]. The memory
/// is the smaller of the machine's (`MemTotal` in `/proc/meminfo`) and the process's
/// cgroup limit (`memory.max`, cgroup v2) where those can be read; elsewhere the minimum.
/// The cache takes memory only as it fills, so an idle server does not pay for it.
pub fn machine_cache_bytes() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_total_bytes(&text));
    let limit = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok());
    let memory = match (total, limit) {
        (Some(t), Some(l)) => Some(t.min(l)),
        (t, l) => t.or(l),
    };
    cache_bytes_for_memory(memory)
}

/// [`machine_cache_bytes`] for `memory` bytes (`None`: unknown).
pub fn cache_bytes_for_memory(memory: Option<u64>) -> u64 {
    let Some(memory) = memory else {
        return MIN_MACHINE_CACHE_BYTES;
    };
    (memory.saturating_sub(1 << 30) / 2).clamp(MIN_MACHINE_CACHE_BYTES, MAX_MACHINE_CACHE_BYTES)
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
fn mem_total_bytes(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line.split_whitespace().skip(1);
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => value.checked_mul(1024),
        None => Some(value),
        Some(_) => None,
    }
}

/// Internal record counts returned by [`FjallStore::engine_counts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineCounts {
    /// Stored array chunks (committed or pending): engine blobs (formats 1–2), live
    /// blobs of committed segments, blobs in open transactions' segments.
    pub chunk_blobs: u64,
    /// Committed chunk pointers.
    pub chunk_pointers: u64,
    /// Chunks written by transactions that have not committed (0 when idle).
    pub pending_blobs: u64,
    /// Dropped array instances not yet reclaimed (0 when idle).
    pub dead_instances: u64,
    /// Segments with live blobs (each has a file).
    pub live_segments: u64,
    /// Segment files on disk: live ones, open transactions' ones, and dead ones an open
    /// snapshot may still read. Equal to `live_segments` when idle.
    pub segment_files: u64,
    /// Segments of transactions that have not committed (0 when idle).
    pub pending_segments: u64,
    /// Dead segments and blob ranges waiting for older snapshots to close (0 when idle).
    pub queued_reclaims: u64,
}

/// Handles of every keyspace (the engine's tables).
#[derive(Clone)]
pub(crate) struct Keyspaces {
    pub meta: Keyspace,
    pub dataspaces: Keyspace,
    pub objects: Keyspace,
    pub object_data: Keyspace,
    pub by_type: Keyspace,
    pub type_counts: Keyspace,
    pub refs_in: Keyspace,
    /// Reference counts of objects with any, keyed like `by_type` (format 2).
    pub ref_counts: Keyspace,
    pub deleted: Keyspace,
    pub deleted_idx: Keyspace,
    pub arrays: Keyspace,
    pub chunk_ptrs: Keyspace,
    /// Chunk blobs of formats 1–2 (read, overwritten, deleted; never written since 3).
    pub chunks: Keyspace,
    /// Live blobs and bytes of each committed segment (format 3).
    pub segments: Keyspace,
    pub pending: Keyspace,
    pub gc: Keyspace,
    pub sessions: Keyspace,
    pub session_ids: Keyspace,
}

/// Unique-id allocator (array instances and chunk blobs). Ids are reserved in
/// blocks whose upper bound is journaled before use, so ids never repeat
/// across restarts.
struct IdAlloc {
    next: u64,
    limit: u64,
}

const ID_BLOCK: u64 = 4096;
const ID_HWM_KEY: &[u8] = b"id_hwm";

pub(crate) struct Inner {
    pub db: OptimisticTxDatabase,
    pub ks: Keyspaces,
    ids: Mutex<IdAlloc>,
    path: PathBuf,
    /// Segment files, open snapshots, space waiting to be given back.
    pub segs: Arc<Segments>,
    pub chunk_bytes: u64,
    pub string_chunk_elems: u64,
}

impl Inner {
    /// A fresh id. The reservation write precedes, in the single journal, any
    /// write that uses the id, so a durable use implies a durable reservation.
    pub(crate) fn alloc_id(&self) -> Result<u64> {
        // The allocator only holds two integers updated together; a panic
        // elsewhere cannot leave them inconsistent, so a poisoned lock is reused.
        let mut ids = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        if ids.next >= ids.limit {
            let limit = ids.next.saturating_add(ID_BLOCK);
            self.ks.meta.insert(ID_HWM_KEY, limit.to_le_bytes())?;
            ids.limit = limit;
        }
        let id = ids.next;
        ids.next += 1;
        Ok(id)
    }

    /// Deletes the chunk pointers and chunk blobs of a dropped array instance,
    /// then its marker. Idempotent: a crash midway is finished at next open. Each batch
    /// removes pointers and lowers the counts of their segments atomically, so a repeat
    /// never counts a pointer twice; the space itself is given back once no snapshot
    /// that can see the instance remains.
    pub(crate) fn gc_instance(&self, instance: u64) -> Result<()> {
        let prefix = instance.to_be_bytes();
        loop {
            let acct = self.segs.accounting();
            let mut ptrs = Vec::with_capacity(1024);
            for g in self.ks.chunk_ptrs.prefix(prefix).take(1024) {
                ptrs.push(g.into_inner()?);
            }
            if ptrs.is_empty() {
                break;
            }
            let mut batch = self.db.inner().batch();
            let mut dead: HashMap<u64, Dead> = HashMap::new();
            for (k, v) in ptrs {
                // An undecodable pointer goes without its blob: space lost, nothing else.
                match ChunkPtr::decode(&v) {
                    Ok(ChunkPtr::Blob(b)) => batch.remove(&self.ks.chunks, keys::id(b)),
                    Ok(ChunkPtr::Seg(p)) => dead.entry(p.seg).or_default().add(&p),
                    Err(_) => {}
                }
                batch.remove(&self.ks.chunk_ptrs, k);
            }
            let kills = self.account(dead, |ks, k, v| match v {
                Some(v) => batch.insert(ks, k, v),
                None => batch.remove(ks, k),
            })?;
            batch.commit()?;
            drop(acct);
            self.segs.retire(kills);
        }
        self.ks.gc.remove(keys::id(instance))?;
        Ok(())
    }

    /// Lowers the counts of the segments in `dead` through `write` (record key, new
    /// value or `None` to remove), reading them in the latest state: the caller holds
    /// [`Segments::accounting`] until the batch carrying the writes is committed.
    /// Returns the space the batch kills.
    pub(crate) fn account(
        &self,
        dead: HashMap<u64, Dead>,
        mut write: impl FnMut(&Keyspace, [u8; 8], Option<[u8; 17]>),
    ) -> Result<Vec<segment::Kill>> {
        let mut kills = Vec::new();
        for (seg, d) in dead {
            // A segment without a (sound) record is never deleted on its account.
            let Some(v) = self.ks.segments.get(keys::id(seg))? else {
                continue;
            };
            let Ok(stats) = SegStats::decode(&v) else {
                continue;
            };
            let Some((rec, k)) = d.apply(seg, stats) else {
                continue;
            };
            write(&self.ks.segments, keys::id(seg), rec.map(|r| r.encode()));
            kills.extend(k);
        }
        Ok(kills)
    }

    /// Removes a blob that no committed pointer references, then its
    /// pending marker (in that order, so a crash leaves at most a marker).
    pub(crate) fn drop_pending_blob(&self, blob: u64) -> Result<()> {
        self.ks.chunks.remove(keys::id(blob))?;
        self.ks.pending.remove(keys::id(blob))?;
        Ok(())
    }

    /// Deletes the file of a segment no committed pointer references, then its pending
    /// marker (in that order, so a crash leaves at most a marker).
    pub(crate) fn drop_pending_segment(&self, seg: u64) -> Result<()> {
        self.segs.set_open(seg, None);
        self.segs.delete(seg)?;
        self.ks.pending.remove(keys::id(seg))?;
        Ok(())
    }
}

/// The embedded store: one data directory, no external service.
///
/// Directory layout: `FORMAT` (format version), `db/` (fjall journal,
/// tables and blob files), `chunks/` (array chunk segments). Only one process may open a directory (the
/// engine holds a file lock).
#[derive(Clone)]
pub struct FjallStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for FjallStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallStore")
            .field("path", &self.inner.path)
            .finish()
    }
}

pub(crate) fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl FjallStore {
    /// Opens (or creates) the store in `dir` with default tuning.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, StoreConfig::default())
    }

    /// Opens (or creates) the store in `dir`. Refuses directories written by
    /// a newer format and non-empty directories that are not stores. Rolls
    /// back whatever uncommitted array chunks a crash left behind.
    pub fn open_with(dir: impl AsRef<Path>, config: StoreConfig) -> Result<Self> {
        let dir = dir.as_ref();
        let found = format::check_or_init(dir)?;
        let db = OptimisticTxDatabase::builder(dir.join("db"))
            .cache_size(config.cache_bytes)
            // The journal is a transient copy of each write, fsynced at commit and dropped
            // after the flush. LZ4 on it (fjall's default for entries over 4 KiB) cost
            // 12–20 % of an array put for no saving on float data; tables and object blob
            // files are still compressed when flushed.
            .journal_compression(CompressionType::None)
            .open()?;

        let plain = || KeyspaceCreateOptions::default();
        let open = |name: &str, opts: fn() -> KeyspaceCreateOptions| -> Result<Keyspace> {
            let k = db.keyspace(name, opts)?;
            Ok(AsRef::<Keyspace>::as_ref(&k).clone())
        };
        let objects_opts: fn() -> KeyspaceCreateOptions = if config.object_kv_separation {
            || {
                KeyspaceCreateOptions::default()
                    .with_kv_separation(Some(KvSeparationOptions::default()))
            }
        } else {
            plain
        };
        let listing_memtable = config.listing_memtable_bytes.clamp(1 << 20, 64 << 20);
        let listed = |name: &str| -> Result<Keyspace> {
            let k = db.keyspace(name, || {
                KeyspaceCreateOptions::default().max_memtable_size(listing_memtable)
            })?;
            Ok(AsRef::<Keyspace>::as_ref(&k).clone())
        };
        let ks = Keyspaces {
            meta: open("meta", plain)?,
            dataspaces: open("dataspaces", plain)?,
            objects: listed("objects")?,
            object_data: open("object_data", objects_opts)?,
            by_type: listed("by_type")?,
            type_counts: open("type_counts", plain)?,
            refs_in: open("refs_in", plain)?,
            ref_counts: listed("ref_counts")?,
            deleted: open("deleted", plain)?,
            deleted_idx: open("deleted_idx", plain)?,
            arrays: open("arrays", plain)?,
            chunk_ptrs: open("chunk_ptrs", plain)?,
            chunks: open("chunks", || {
                // Array chunks are ~1 MiB of mostly incompressible numbers:
                // keep them out of the tree and uncompressed.
                KeyspaceCreateOptions::default().with_kv_separation(Some(
                    KvSeparationOptions::default()
                        .compression(CompressionType::None)
                        .separation_threshold(4096),
                ))
            })?,
            segments: open("segments", plain)?,
            pending: open("pending", plain)?,
            gc: open("gc", plain)?,
            sessions: open("sessions", plain)?,
            session_ids: open("session_ids", plain)?,
        };

        let hwm = match ks.meta.get(ID_HWM_KEY)? {
            Some(v) => u64::from_le_bytes(
                <[u8; 8]>::try_from(&v[..])
                    .map_err(|_| StoreError::Corrupt("id high-water mark".into()))?,
            ),
            None => 1,
        };
        let inner = Arc::new(Inner {
            db,
            ks,
            ids: Mutex::new(IdAlloc {
                next: hwm,
                limit: hwm,
            }),
            path: dir.to_path_buf(),
            segs: Arc::new(Segments::open(dir)?),
            chunk_bytes: config.array_chunk_bytes.clamp(8, 256 << 20),
            string_chunk_elems: config.string_chunk_elems.clamp(1, 1 << 24),
        });
        let store = FjallStore { inner };

        if let Found::Version(v) = found
            && v < FORMAT_VERSION
        {
            format::migrate(&store, v)?;
            format::write_version(dir, FORMAT_VERSION)?;
        }
        store.recover()?;
        // Records replayed from the journal sit in memtables, where listings iterate them
        // at twice the cost of flushed blocks: write them out in the background.
        for listed in [
            &store.inner.ks.objects,
            &store.inner.ks.by_type,
            &store.inner.ks.ref_counts,
        ] {
            listed.rotate_memtable()?;
        }
        Ok(store)
    }

    /// Crash recovery and first-start initialisation.
    fn recover(&self) -> Result<()> {
        let inner = &self.inner;
        // 1. Chunk blobs and segments of transactions that never committed.
        let pending: Vec<(u64, bool)> = inner
            .ks
            .pending
            .iter()
            .map(|g| {
                let (k, v) = g.into_inner()?;
                Ok((KeyReader::new(&k).u64()?, &v[..] == SEGMENT_MARK))
            })
            .collect::<Result<_>>()?;
        for (id, segment) in pending {
            if segment {
                inner.drop_pending_segment(id)?;
            } else {
                inner.drop_pending_blob(id)?;
            }
        }
        // 2. Array instances dropped by committed transactions.
        let dead: Vec<u64> = inner
            .ks
            .gc
            .iter()
            .map(|g| {
                let k = g.key()?;
                KeyReader::new(&k).u64()
            })
            .collect::<Result<_>>()?;
        for i in dead {
            inner.gc_instance(i)?;
        }
        // No snapshot is open yet: everything dead goes now.
        inner.segs.reclaim_ripe();
        // Segment files without a record: dead ones whose deletion a crash interrupted,
        // and ones created by a transaction whose pending marker never reached the
        // journal (a committed segment always has its record).
        for seg in inner.segs.list()? {
            if inner.ks.segments.get(keys::id(seg))?.is_none() {
                inner.segs.delete(seg)?;
            }
        }
        // 3. The default dataspace always exists.
        if inner.ks.dataspaces.get(keys::dataspace("")?)?.is_none() {
            let now = now_micros();
            let mut tx = inner.db.write_tx()?.durability(Some(PersistMode::SyncAll));
            tx.insert(
                &inner.ks.dataspaces,
                keys::dataspace("")?,
                enc_dataspace(&Dataspace {
                    path: String::new(),
                    store_created: now,
                    store_last_write: now,
                    custom_data: Default::default(),
                })?,
            );
            tx.commit()?.map_err(|_| StoreError::Conflict)?;
        }
        inner.db.persist(PersistMode::SyncAll)?;
        Ok(())
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Counts of internal array records, for diagnostics and tests (leaked
    /// chunks show up here). Scans the chunk keyspaces: O(number of chunks).
    pub fn engine_counts(&self) -> Result<EngineCounts> {
        let ks = &self.inner.ks;
        let count = |k: &Keyspace| -> Result<u64> {
            let mut n = 0;
            for g in k.iter() {
                g.key()?;
                n += 1;
            }
            Ok(n)
        };
        let mut live_segments = 0;
        let mut segment_blobs = 0;
        for g in ks.segments.iter() {
            let v = g.value()?;
            live_segments += 1;
            segment_blobs += SegStats::decode(&v)?.blobs;
        }
        let (mut pending_blobs, mut pending_segments) = (0, 0);
        for g in ks.pending.iter() {
            if &g.value()?[..] == SEGMENT_MARK {
                pending_segments += 1;
            } else {
                pending_blobs += 1;
            }
        }
        let open = self.inner.segs.open_blobs();
        Ok(EngineCounts {
            chunk_blobs: count(&ks.chunks)? + segment_blobs + open,
            chunk_pointers: count(&ks.chunk_ptrs)?,
            pending_blobs: pending_blobs + open,
            dead_instances: count(&ks.gc)?,
            live_segments,
            segment_files: self.inner.segs.list()?.len() as u64,
            pending_segments,
            queued_reclaims: self.inner.segs.queued(),
        })
    }

    /// Bytes used by array chunk segments, as allocated on disk (holes excluded).
    pub fn segment_disk_space(&self) -> Result<u64> {
        use std::os::unix::fs::MetadataExt;
        let mut n = 0;
        for seg in self.inner.segs.list()? {
            match std::fs::metadata(self.inner.segs.path(seg)) {
                Ok(m) => n += m.blocks() * 512,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(n)
    }

    /// Bytes used on disk by the engine (tables, blob files, journals) and the chunk
    /// segments.
    pub fn disk_space(&self) -> Result<u64> {
        Ok(self.inner.db.disk_space()? + self.segment_disk_space()?)
    }
}

impl Store for FjallStore {
    fn read(&self) -> Result<Box<dyn ReadTxn>> {
        Ok(Box::new(read::FjallRead::new(self.inner.clone())))
    }

    fn write(&self) -> Result<Box<dyn WriteTxn>> {
        Ok(Box::new(FjallWrite::new(self.inner.clone())?))
    }

    fn put_session(&self, s: &SessionRecord) -> Result<()> {
        self.put_sessions(std::slice::from_ref(s))
    }

    fn put_sessions(&self, sessions: &[SessionRecord]) -> Result<()> {
        if sessions.is_empty() {
            return Ok(());
        }
        // Only the last record of each id is written, so every id is looked up and
        // indexed once and the previous `opened_at` read below is the stored one.
        let mut seen = std::collections::HashSet::with_capacity(sessions.len());
        let last: Vec<&SessionRecord> = sessions
            .iter()
            .rev()
            .filter(|s| seen.insert(s.id))
            .collect();
        let ks = &self.inner.ks;
        let mut tx = self
            .inner
            .db
            .write_tx()?
            .durability(Some(PersistMode::SyncAll));
        for s in last.into_iter().rev() {
            if let Some(prev) = tx.get(&ks.session_ids, s.id)? {
                let prev = i64::from_le_bytes(
                    <[u8; 8]>::try_from(&prev[..])
                        .map_err(|_| StoreError::Corrupt("session index".into()))?,
                );
                if prev != s.opened_at {
                    tx.remove(&ks.sessions, keys::session(prev, &s.id));
                }
            }
            tx.insert(
                &ks.sessions,
                keys::session(s.opened_at, &s.id),
                enc_session(s)?,
            );
            tx.insert(&ks.session_ids, s.id, s.opened_at.to_le_bytes());
        }
        tx.commit()?.map_err(|_| StoreError::Conflict)
    }

    fn get_session(&self, id: &Uuid) -> Result<Option<SessionRecord>> {
        let snap = self.inner.db.read_tx();
        let ks = &self.inner.ks;
        let Some(t) = snap.get(&ks.session_ids, id)? else {
            return Ok(None);
        };
        let t = i64::from_le_bytes(
            <[u8; 8]>::try_from(&t[..]).map_err(|_| StoreError::Corrupt("session index".into()))?,
        );
        match snap.get(&ks.sessions, keys::session(t, id))? {
            Some(v) => Ok(Some(dec_session(*id, &v)?)),
            None => Err(StoreError::Corrupt("session index points nowhere".into())),
        }
    }

    fn list_sessions(&self, limit: usize) -> Result<Vec<SessionRecord>> {
        let snap = self.inner.db.read_tx();
        let mut out = Vec::new();
        for g in snap.iter(&self.inner.ks.sessions).take(limit) {
            let (k, v) = g.into_inner()?;
            let mut r = KeyReader::new(&k);
            r.skip(8)?;
            let id = r.uuid()?;
            out.push(dec_session(id, &v)?);
        }
        Ok(out)
    }

    fn purge_sessions(&self, before: i64) -> Result<u64> {
        let ks = &self.inner.ks;
        let mut tx = self
            .inner
            .db
            .write_tx()?
            .durability(Some(PersistMode::SyncAll));
        // Newest first: everything from `time_desc(before - 1)` on is older than `before`.
        let Some(last_kept) = before.checked_sub(1) else {
            return Ok(0);
        };
        let start = crate::codec::KeyBuf::new().time_desc(last_kept).build()?;
        let victims: Vec<(fjall::Slice, Uuid)> = tx
            .range(&ks.sessions, start..)
            .map(|g| {
                let k = g.key()?;
                let mut r = KeyReader::new(&k);
                let t = r.time_desc()?;
                let id = r.uuid()?;
                debug_assert!(t < before);
                Ok((k, id))
            })
            .collect::<Result<_>>()?;
        let n = victims.len() as u64;
        for (k, id) in victims {
            tx.remove(&ks.sessions, k);
            tx.remove(&ks.session_ids, id);
        }
        tx.commit()?.map_err(|_| StoreError::Conflict)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_cache_is_half_of_the_memory_beyond_one_gibibyte_within_bounds() {
        const GIB: u64 = 1 << 30;
        assert_eq!(cache_bytes_for_memory(Some(24 * GIB)), 23 * GIB / 2);
        assert_eq!(cache_bytes_for_memory(Some(9 * GIB)), 4 * GIB);
        assert_eq!(cache_bytes_for_memory(Some(GIB)), MIN_MACHINE_CACHE_BYTES);
        assert_eq!(cache_bytes_for_memory(Some(0)), MIN_MACHINE_CACHE_BYTES);
        assert_eq!(
            cache_bytes_for_memory(Some(512 * GIB)),
            MAX_MACHINE_CACHE_BYTES
        );
        assert_eq!(
            cache_bytes_for_memory(Some(u64::MAX)),
            MAX_MACHINE_CACHE_BYTES
        );
        assert_eq!(cache_bytes_for_memory(None), MIN_MACHINE_CACHE_BYTES);
        let cache = machine_cache_bytes();
        assert!((MIN_MACHINE_CACHE_BYTES..=MAX_MACHINE_CACHE_BYTES).contains(&cache));
    }

    #[test]
    fn mem_total_is_read_in_kibibytes() {
        let meminfo = "MemTotal:       24684092 kB\nMemFree:         3686640 kB\n";
        assert_eq!(mem_total_bytes(meminfo), Some(24_684_092 * 1024));
        assert_eq!(mem_total_bytes("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total_bytes("MemTotal: lots kB\n"), None);
        assert_eq!(mem_total_bytes("MemTotal: 5 MB\n"), None);
        assert_eq!(mem_total_bytes("MemTotal: 5\n"), Some(5));
    }
}
