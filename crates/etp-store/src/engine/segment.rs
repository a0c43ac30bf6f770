//! Array chunks in append-only segment files (format 3).
//!
//! Every write transaction that writes chunks appends them to one file of its own,
//! `<dir>/chunks/<id>.seg`, made durable (`sync_data`) before the fjall commit that
//! publishes the pointers to it. Chunk bytes are written once, instead of twice through
//! fjall's journal and blob files. Pointers (`chunk_ptrs`) carry segment, offset,
//! length and an xxh3 checksum; each segment's live blobs and bytes are counted in
//! `segments`, updated in the same atomic batches as the pointers. Dead space is given
//! back (file deleted, or hole punched) only once no snapshot that could still read it
//! is open (see [`Segments::retire`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use fjall::Slice;

use super::mapped::{Mapping, PopulateError};
use crate::error::{Result, StoreError};

/// Directory of the segment files, inside the data directory.
pub(crate) const CHUNKS_DIR: &str = "chunks";
/// Blob starts are aligned to file-system blocks, so the range of a dead blob can be
/// punched out of a live segment whole.
pub(crate) const ALIGN: u64 = 4096;
/// Value of a `pending` marker of a segment (blob markers of formats 1–2 are empty).
pub(crate) const SEGMENT_MARK: &[u8] = b"s";
/// Bytes appended to a segment between two starts of their writeback: a big put has
/// most of its bytes on disk by its commit, instead of all of them still to write then
/// (measured: the sync at the commit of a 1 GiB put took 0.45 s of its 1 s).
pub(crate) const WRITEBACK_STEP: u64 = 8 << 20;
/// Bytes read from a segment and hashed at a time: well inside the smallest L2 cache
/// of the machines we run on, so the hash reads what the copy just wrote.
const READ_PIECE: usize = 256 * 1024;
/// Open segment files (and their mappings) kept for reads; beyond this, one is closed
/// per open.
const FILE_CACHE: usize = 64;

const PTR_VERSION: u8 = 1;
/// Encoded length of a [`SegPtr`]; a pointer of 8 bytes is a format 1–2 blob id.
const PTR_LEN: usize = 33;
const STATS_VERSION: u8 = 1;
const STATS_LEN: usize = 17;

/// Where a chunk's bytes are: a blob of the fjall `chunks` keyspace (formats 1–2), or a
/// range of a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkPtr {
    /// Blob id in the `chunks` keyspace.
    Blob(u64),
    /// Range of a segment file.
    Seg(SegPtr),
}

/// A chunk stored in a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegPtr {
    pub seg: u64,
    pub off: u64,
    pub len: u64,
    /// xxh3-64 of the bytes, checked on every read.
    pub hash: u64,
}

impl SegPtr {
    /// `version, seg, off, len, hash`, little-endian.
    pub(crate) fn encode(&self) -> [u8; PTR_LEN] {
        let mut v = [0u8; PTR_LEN];
        v[0] = PTR_VERSION;
        v[1..9].copy_from_slice(&self.seg.to_le_bytes());
        v[9..17].copy_from_slice(&self.off.to_le_bytes());
        v[17..25].copy_from_slice(&self.len.to_le_bytes());
        v[25..33].copy_from_slice(&self.hash.to_le_bytes());
        v
    }

    /// End of the range, checked (a hostile pointer may overflow).
    fn end(&self) -> Result<u64> {
        self.off
            .checked_add(self.len)
            .ok_or_else(|| StoreError::Corrupt("chunk pointer past any file".into()))
    }
}

/// The little-endian u64 at the start of `v` (callers check the record length first;
/// a short slice reads as 0 rather than panicking).
fn le64(v: &[u8]) -> u64 {
    v.get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_le_bytes)
}

impl ChunkPtr {
    /// Decodes a `chunk_ptrs` value.
    pub(crate) fn decode(v: &[u8]) -> Result<Self> {
        match v.len() {
            8 => Ok(Self::Blob(le64(v))),
            PTR_LEN if v[0] == PTR_VERSION => Ok(Self::Seg(SegPtr {
                seg: le64(&v[1..]),
                off: le64(&v[9..]),
                len: le64(&v[17..]),
                hash: le64(&v[25..]),
            })),
            n => Err(StoreError::Corrupt(format!(
                "chunk pointer of {n} bytes (version {:?})",
                v.first()
            ))),
        }
    }
}

/// Live content of a committed segment (`segments` keyspace).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SegStats {
    /// Committed pointers into the segment.
    pub blobs: u64,
    /// Their total length.
    pub bytes: u64,
}

impl SegStats {
    pub(crate) fn encode(&self) -> [u8; STATS_LEN] {
        let mut v = [0u8; STATS_LEN];
        v[0] = STATS_VERSION;
        v[1..9].copy_from_slice(&self.blobs.to_le_bytes());
        v[9..17].copy_from_slice(&self.bytes.to_le_bytes());
        v
    }

    pub(crate) fn decode(v: &[u8]) -> Result<Self> {
        if v.len() != STATS_LEN || v[0] != STATS_VERSION {
            return Err(StoreError::Corrupt("segment record".into()));
        }
        Ok(Self {
            blobs: le64(&v[1..]),
            bytes: le64(&v[9..]),
        })
    }
}

/// Pointers into one segment that a batch removes.
#[derive(Debug, Default)]
pub(crate) struct Dead {
    pub blobs: u64,
    pub bytes: u64,
    /// `(offset, length)` of each removed blob.
    pub ranges: Vec<(u64, u64)>,
}

impl Dead {
    pub(crate) fn add(&mut self, p: &SegPtr) {
        self.blobs += 1;
        self.bytes += p.len;
        self.ranges.push((p.off, p.len));
    }
}

/// Space that became dead in a commit and is given back once no older snapshot remains.
#[derive(Debug)]
pub(crate) enum Kill {
    /// A blob range in a segment that stays live: punched out.
    Range { seg: u64, off: u64, len: u64 },
    /// A segment without live blobs: deleted.
    Segment(u64),
}

impl Dead {
    /// Applies this removal to `stats` (the segment's record): the new record (`None`:
    /// no live blob left, the record goes) and the space to give back. `None` when the
    /// record counts fewer live blobs than are removed: the counts cannot be trusted
    /// then, so the record is left alone and nothing is deleted on its word (space may
    /// leak, data is never lost).
    pub(crate) fn apply(self, seg: u64, stats: SegStats) -> Option<(Option<SegStats>, Vec<Kill>)> {
        let blobs = stats.blobs.checked_sub(self.blobs)?;
        let bytes = stats.bytes.checked_sub(self.bytes)?;
        if blobs == 0 {
            return Some((None, vec![Kill::Segment(seg)]));
        }
        let kills = self
            .ranges
            .into_iter()
            .map(|(off, len)| Kill::Range { seg, off, len })
            .collect();
        Some((Some(SegStats { blobs, bytes }), kills))
    }
}

/// Snapshots open and space waiting for them to close.
#[derive(Default)]
struct Reclaim {
    /// Bumped after every batch that kills space; snapshots register with it.
    epoch: u64,
    /// Open snapshots (read and write transactions) by the epoch they started at.
    readers: BTreeMap<u64, usize>,
    /// Dead space tagged with the epoch after its batch: a snapshot registered before
    /// that epoch may still read it.
    queue: VecDeque<(u64, Kill)>,
}

/// A segment file open for reads.
struct OpenSeg {
    file: Arc<File>,
    /// Its length when opened.
    len: u64,
    /// Its mapping, made on the first mapped read and remade when a read reaches past
    /// it (the segment grew since: only while its own transaction wrote it).
    map: Option<Arc<Mapping>>,
}

/// The segment files of one store: paths, open files, the snapshot registry and the
/// reclaim queue.
pub(crate) struct Segments {
    dir: PathBuf,
    files: Mutex<HashMap<u64, OpenSeg>>,
    reclaim: Mutex<Reclaim>,
    /// Segments of open write transactions → their blobs (for `engine_counts`).
    open: Mutex<HashMap<u64, u64>>,
    /// Serializes read-modify-writes of `segments` records: held from reading a record
    /// to committing the batch that rewrites it.
    acct: Mutex<()>,
}

/// Locks a mutex whose data stays consistent whatever panicked while it was held
/// (each critical section below leaves it valid at every step), reusing a poisoned one.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn is_not_found(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::NotFound
}

impl Segments {
    /// The segments of the store in `store_dir`; creates `chunks/` (durably) if missing.
    pub(crate) fn open(store_dir: &Path) -> Result<Self> {
        let dir = store_dir.join(CHUNKS_DIR);
        if !dir.is_dir() {
            fs::create_dir_all(&dir)?;
            File::open(store_dir)?.sync_all()?;
        }
        Ok(Self {
            dir,
            files: Mutex::new(HashMap::new()),
            reclaim: Mutex::new(Reclaim::default()),
            open: Mutex::new(HashMap::new()),
            acct: Mutex::new(()),
        })
    }

    pub(crate) fn path(&self, seg: u64) -> PathBuf {
        self.dir.join(format!("{seg:016x}.seg"))
    }

    /// Creates the file of a new segment (the caller wrote its pending marker first).
    pub(crate) fn create(&self, seg: u64) -> Result<File> {
        Ok(fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(self.path(seg))?)
    }

    /// Makes the directory entry of a segment created since the last call durable.
    pub(crate) fn sync_dir(&self) -> Result<()> {
        Ok(File::open(&self.dir)?.sync_all()?)
    }

    /// The ids of every segment file present.
    pub(crate) fn list(&self) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir)? {
            let name = e?.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".seg")) else {
                continue;
            };
            if stem.len() == 16
                && let Ok(id) = u64::from_str_radix(stem, 16)
            {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// An open handle of segment `seg` and the length it had when opened, cached.
    fn file(&self, seg: u64) -> Result<(Arc<File>, u64)> {
        if let Some(f) = lock(&self.files).get(&seg) {
            return Ok((f.file.clone(), f.len));
        }
        let f = match File::open(self.path(seg)) {
            Ok(f) => Arc::new(f),
            Err(e) if is_not_found(&e) => {
                return Err(StoreError::Corrupt(format!("segment file {seg} missing")));
            }
            Err(e) => return Err(e.into()),
        };
        let len = f.metadata()?.len();
        let mut files = lock(&self.files);
        if files.len() >= FILE_CACHE
            && let Some(k) = files.keys().next().copied()
        {
            // Its mapping stays until the last chunk read from it is dropped.
            files.remove(&k);
        }
        files.insert(
            seg,
            OpenSeg {
                file: f.clone(),
                len,
                map: None,
            },
        );
        Ok((f, len))
    }

    /// A mapping of segment `seg` reaching at least to `end`, cached with its file;
    /// `None` when the file cannot be mapped.
    fn mapping(&self, seg: u64, end: u64) -> Result<Option<Arc<Mapping>>> {
        if let Some(m) = lock(&self.files).get(&seg).and_then(|f| f.map.as_ref())
            && m.len() >= end
        {
            return Ok(Some(m.clone()));
        }
        let (file, _) = self.file(seg)?;
        // The whole file as it is now: later reads of other chunks share the mapping.
        let len = file.metadata()?.len();
        if end > len {
            return Err(StoreError::Corrupt(format!(
                "chunk pointer past the end of segment {seg}"
            )));
        }
        let Some(m) = Mapping::new(&file, len) else {
            return Ok(None);
        };
        let m = Arc::new(m);
        if let Some(f) = lock(&self.files).get_mut(&seg) {
            f.len = f.len.max(len);
            f.map = Some(m.clone());
        }
        Ok(Some(m))
    }

    /// Reads and checks the chunk `p` points at.
    ///
    /// With `epoch`, the epoch a read snapshot is pinned at ([`Self::pin`]), the chunk is
    /// served from a mapping of its segment (where the system allows): checked in place,
    /// and handed out as a `Bytes` over the mapping that keeps the mapping and a pin at
    /// `epoch` until it is dropped, so the range it shows is not punched out before.
    /// Without (write transactions, whose own segment is rewritten in place) or where
    /// mapping fails, the chunk is copied into a new buffer.
    pub(crate) fn read(self: &Arc<Self>, p: &SegPtr, epoch: Option<u64>) -> Result<Slice> {
        if let Some(epoch) = epoch
            && p.len > 0
            && super::mapped::usable()
            && let Some(s) = self.read_mapped(p, epoch)?
        {
            return Ok(s);
        }
        self.read_copy(p)
    }

    /// The mapped read of [`Self::read`]; `None`: copy instead.
    fn read_mapped(self: &Arc<Self>, p: &SegPtr, epoch: u64) -> Result<Option<Slice>> {
        let end = p.end()?;
        let Some(map) = self.mapping(p.seg, end)? else {
            return Ok(None);
        };
        // Both fit: `off + len = end` ≤ the mapped length, a `usize`.
        let (off, len) = (p.off as usize, p.len as usize);
        // Pages the page cache holds are read by touching them (a minor fault maps a
        // batch of them at a time, and none once mapped). Others must come from disk:
        // not here under no-wait; else through `populate`, where a read error is an
        // error instead of a SIGBUS on touching the page. Under no-wait, `mincore`
        // tells: it counts only pages whose contents are read in. Elsewhere `cachestat`
        // does, for a fraction of the cost on pages not mapped yet. It counts pages
        // still being read in too: touching those waits for that read, which is
        // allowed here; should that read fail, the touch raises SIGBUS, as it does for
        // a page evicted between either check and the touch (both need a disk error
        // during another reader's read of the same pages).
        let ready = if crate::nowait::active() {
            if !map.resident(off, len) {
                return Err(StoreError::WouldBlock);
            }
            true
        } else {
            map.cached(off, len)
                .unwrap_or_else(|| map.resident(off, len))
        };
        if !ready {
            match map.populate(off, len) {
                Ok(()) => {}
                Err(PopulateError::Unsupported) => return Ok(None),
                Err(PopulateError::Io(e)) => return Err(e.into()),
            }
        }
        // Taken while the caller's snapshot (pinned at `epoch`) is open, so nothing it
        // can read has been given back yet, nor will be while this pin lives.
        let pin = Pin::new(self.clone(), epoch);
        let chunk = MappedChunk {
            map,
            off,
            len,
            _pin: pin,
        };
        if xxhash_rust::xxh3::xxh3_64(chunk.as_ref()) != p.hash {
            return Err(StoreError::Corrupt(format!(
                "checksum mismatch in segment {} at {}",
                p.seg, p.off
            )));
        }
        Ok(Some(Slice::from(Bytes::from_owner(chunk))))
    }

    /// Reads and checks the chunk `p` points at into a new buffer.
    fn read_copy(&self, p: &SegPtr) -> Result<Slice> {
        let (file, known_len) = self.file(p.seg)?;
        // The length comes from disk: never allocate more than the file holds. A segment
        // grows only while its own transaction writes (and reads back) into it, so the
        // length seen at open is asked again only when it is too short.
        let end = p.end()?;
        if end > known_len && end > file.metadata()?.len() {
            return Err(StoreError::Corrupt(format!(
                "chunk pointer past the end of segment {}",
                p.seg
            )));
        }
        let len = usize::try_from(p.len)
            .map_err(|_| StoreError::Corrupt("chunk longer than memory".into()))?;
        let mut buf = Vec::with_capacity(len);
        // Read and hash piece by piece: each piece is hashed while it is still in the
        // CPU cache, where the copy out of the page cache left it (a whole chunk, up to
        // 16 MiB, is not, and hashing it after the read went to memory a second time).
        let no_wait = crate::nowait::active();
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        let mut at = 0;
        while at < len {
            let piece = (len - at).min(READ_PIECE);
            let spare = &mut buf.spare_capacity_mut()[..piece];
            read_exact_at(&file, spare, p.off + at as u64, no_wait).map_err(|e| {
                match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => {
                        StoreError::Corrupt(format!("segment {} shorter than its pointers", p.seg))
                    }
                    std::io::ErrorKind::WouldBlock => StoreError::WouldBlock,
                    _ => e.into(),
                }
            })?;
            // SAFETY: `read_exact_at` returned Ok, so it initialized the `piece` bytes
            // after the `at` already in the vector (capacity is `len` ≥ `at + piece`).
            unsafe { buf.set_len(at + piece) };
            hasher.update(&buf[at..]);
            at += piece;
        }
        if hasher.digest() != p.hash {
            return Err(StoreError::Corrupt(format!(
                "checksum mismatch in segment {} at {}",
                p.seg, p.off
            )));
        }
        Ok(Slice::from(buf))
    }

    /// Deletes a segment file (absent is fine: deletion is repeated after crashes).
    pub(crate) fn delete(&self, seg: u64) -> Result<()> {
        lock(&self.files).remove(&seg);
        match fs::remove_file(self.path(seg)) {
            Err(e) if !is_not_found(&e) => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Punches `[off, off + len)` of segment `seg` out, up to the next block boundary
    /// (the next blob starts there at the earliest).
    fn punch_seg(&self, seg: u64, off: u64, len: u64) -> Result<()> {
        let f = match fs::OpenOptions::new().write(true).open(self.path(seg)) {
            Ok(f) => f,
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        punch(&f, off, len)
    }

    /// Records the blobs of an open transaction's segment (for `engine_counts`).
    pub(crate) fn set_open(&self, seg: u64, blobs: Option<u64>) {
        let mut open = lock(&self.open);
        match blobs {
            Some(n) => open.insert(seg, n),
            None => open.remove(&seg),
        };
    }

    /// Blobs in open transactions' segments.
    pub(crate) fn open_blobs(&self) -> u64 {
        lock(&self.open).values().sum()
    }

    /// Reclaims waiting for snapshots.
    pub(crate) fn queued(&self) -> u64 {
        lock(&self.reclaim).queue.len() as u64
    }

    /// Held while reading `segments` records and committing the batch rewriting them.
    pub(crate) fn accounting(&self) -> MutexGuard<'_, ()> {
        lock(&self.acct)
    }

    /// Registers a snapshot about to be taken; returns what [`Self::unpin`] needs.
    pub(crate) fn pin(&self) -> u64 {
        let mut r = lock(&self.reclaim);
        let e = r.epoch;
        *r.readers.entry(e).or_default() += 1;
        e
    }

    /// Registers one more reader at `epoch`, the epoch of a pin still held: it keeps
    /// what that snapshot can read after the snapshot is gone.
    fn pin_again(&self, epoch: u64) {
        *lock(&self.reclaim).readers.entry(epoch).or_default() += 1;
    }

    /// Deregisters a snapshot and gives back what no snapshot can read any more.
    pub(crate) fn unpin(&self, epoch: u64) {
        {
            let mut r = lock(&self.reclaim);
            if let Some(n) = r.readers.get_mut(&epoch) {
                *n -= 1;
                if *n == 0 {
                    r.readers.remove(&epoch);
                }
            }
        }
        self.reclaim_ripe();
    }

    /// Queues space killed by a batch that is already visible. Snapshots registered from
    /// now on cannot see the pointers to it; older ones may, so it waits for them.
    pub(crate) fn retire(&self, kills: Vec<Kill>) {
        if kills.is_empty() {
            return;
        }
        let mut r = lock(&self.reclaim);
        r.epoch += 1;
        let tag = r.epoch;
        r.queue.extend(kills.into_iter().map(|k| (tag, k)));
    }

    /// Deletes and punches what no open snapshot can read. Failures leave space
    /// behind, never data: dead segments are deleted again at the next open.
    pub(crate) fn reclaim_ripe(&self) {
        let ripe: Vec<Kill> = {
            let mut r = lock(&self.reclaim);
            let oldest = r.readers.keys().next().copied().unwrap_or(u64::MAX);
            let n = r.queue.iter().take_while(|(tag, _)| *tag <= oldest).count();
            r.queue.drain(..n).map(|(_, k)| k).collect()
        };
        if ripe.is_empty() {
            return;
        }
        let dead: std::collections::HashSet<u64> = ripe
            .iter()
            .filter_map(|k| match k {
                Kill::Segment(s) => Some(*s),
                Kill::Range { .. } => None,
            })
            .collect();
        for k in ripe {
            let _ = match k {
                Kill::Segment(s) => self.delete(s),
                Kill::Range { seg, .. } if dead.contains(&seg) => Ok(()),
                Kill::Range { seg, off, len } => self.punch_seg(seg, off, len),
            };
        }
    }
}

/// A pin at an epoch, released (and what became ripe reclaimed) when dropped.
struct Pin {
    segs: Arc<Segments>,
    epoch: u64,
}

impl Pin {
    /// One more pin at `epoch`, which a live snapshot holds.
    fn new(segs: Arc<Segments>, epoch: u64) -> Self {
        segs.pin_again(epoch);
        Self { segs, epoch }
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        self.segs.unpin(self.epoch);
    }
}

/// The owner of a chunk served from a mapping: the mapping stays while the chunk's
/// `Bytes` (or any slice of it) lives, and so does the pin that keeps its range from
/// being punched out.
struct MappedChunk {
    map: Arc<Mapping>,
    off: usize,
    len: usize,
    _pin: Pin,
}

impl AsRef<[u8]> for MappedChunk {
    fn as_ref(&self) -> &[u8] {
        // Why the bytes stay as they are while borrowed (what `Mapping::bytes` requires):
        // - the range holds a committed chunk, and a committed segment is never written
        //   again: a transaction writes (and rewrites in place) only its own segment,
        //   before its commit, and reads it by copy (no epoch), never mapped;
        // - a committed range is punched only once no pin at an epoch that can see it is
        //   left (`reclaim_ripe`), and `_pin` is one, taken under the snapshot that read
        //   the pointer; punches of other chunks leave this range alone (blobs start on
        //   `ALIGN` boundaries, a punch ends at the next one);
        // - a segment file is never truncated or shortened by the store: created with
        //   `create_new`, grown by appends, deleted whole (a deleted file's pages stay
        //   valid under a mapping); recovery and migration only delete. Only another
        //   process cutting the file short (none may open the directory while the engine
        //   holds its lock) could make a mapped page past the end raise SIGBUS, and
        //   `populate` turned that into an error before the hash touched the range.
        self.map.bytes(self.off, self.len)
    }
}

/// Gives back the blocks of `[off, off + len)` rounded up to [`ALIGN`]: the range reads
/// as zeros afterwards, the file keeps its size. File systems without hole punching
/// keep the space.
#[cfg(target_os = "linux")]
pub(crate) fn punch(f: &File, off: u64, len: u64) -> Result<()> {
    use std::os::fd::AsRawFd;
    let end = off
        .checked_add(len)
        .and_then(|e| e.checked_next_multiple_of(ALIGN))
        .ok_or_else(|| StoreError::Corrupt("range past any file".into()))?;
    let (Ok(o), Ok(l)) = (libc::off_t::try_from(off), libc::off_t::try_from(end - off)) else {
        return Err(StoreError::Corrupt("range past any file".into()));
    };
    // SAFETY: `fallocate` only reads its integer arguments; the descriptor is owned by
    // `f`, which outlives the call.
    let rc = unsafe {
        libc::fallocate(
            f.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            o,
            l,
        )
    };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EOPNOTSUPP) {
            return Err(e.into());
        }
    }
    Ok(())
}

/// Elsewhere dead ranges keep their space until the segment is deleted.
#[cfg(not(target_os = "linux"))]
pub(crate) fn punch(_f: &File, _off: u64, _len: u64) -> Result<()> {
    Ok(())
}

/// Starts writing `[off, off + len)` of `f` to disk without waiting for it
/// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`): the `sync_data` at commit then only waits
/// for what is left. Durability does not depend on it (commit still syncs everything),
/// so a failure is ignored: the commit's sync reports real I/O errors.
#[cfg(target_os = "linux")]
pub(crate) fn start_writeback(f: &File, off: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(o), Ok(l)) = (libc::off64_t::try_from(off), libc::off64_t::try_from(len)) else {
        return;
    };
    // SAFETY: `sync_file_range` only reads its integer arguments; the descriptor is
    // owned by `f`, which outlives the call.
    let _ = unsafe { libc::sync_file_range(f.as_raw_fd(), o, l, libc::SYNC_FILE_RANGE_WRITE) };
}

/// Elsewhere the writeback waits for the commit's sync.
#[cfg(not(target_os = "linux"))]
pub(crate) fn start_writeback(_f: &File, _off: u64, _len: u64) {}

/// `pread` until `buf` is full, into memory not yet initialized: a chunk read is as long
/// as the chunk (up to 16 MiB), and zeroing it first cost as much CPU as a third of the
/// copy out of the page cache (measured on DataArray get). With `no_wait`, only what
/// the page cache holds is read (`RWF_NOWAIT`); anything else is `WouldBlock`.
fn read_exact_at(
    file: &File,
    mut buf: &mut [std::mem::MaybeUninit<u8>],
    mut off: u64,
    no_wait: bool,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    while !buf.is_empty() {
        let at = libc::off_t::try_from(off)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        let n = if no_wait {
            pread_cached(file.as_raw_fd(), buf, at)?
        } else {
            // SAFETY: the pointer and length describe `buf`, writable memory we own for
            // the call; pread writes at most that many bytes and reports how many.
            unsafe { libc::pread(file.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), at) }
        };
        match n {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n if n < 0 => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            // A positive `isize` no larger than `buf.len()`: fits `usize` and `u64`.
            n => {
                buf = &mut buf[n as usize..];
                off += n as u64;
            }
        }
    }
    Ok(())
}

/// One `preadv2(RWF_NOWAIT)`: bytes the page cache holds, `WouldBlock` when the first
/// of them is not there (also when the kernel or file system cannot tell: every error
/// but EINTR means "ask again where waiting is allowed").
#[cfg(target_os = "linux")]
fn pread_cached(
    fd: std::os::fd::RawFd,
    buf: &mut [std::mem::MaybeUninit<u8>],
    at: libc::off_t,
) -> std::io::Result<isize> {
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `iov` describes `buf`, writable memory we own for the call; preadv2 writes
    // at most that many bytes into it and reports how many.
    let n = unsafe { libc::preadv2(fd, &iov, 1, at, libc::RWF_NOWAIT) };
    if n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
        return Err(std::io::ErrorKind::WouldBlock.into());
    }
    Ok(n)
}

/// Without `RWF_NOWAIT` nothing is known to be cached.
#[cfg(not(target_os = "linux"))]
fn pread_cached(
    _fd: std::os::fd::RawFd,
    _buf: &mut [std::mem::MaybeUninit<u8>],
    _at: libc::off_t,
) -> std::io::Result<isize> {
    Err(std::io::ErrorKind::WouldBlock.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_round_trip_and_garbage_is_corrupt() {
        let p = SegPtr {
            seg: 7,
            off: 4096,
            len: 1 << 20,
            hash: 0xDEAD_BEEF,
        };
        assert_eq!(ChunkPtr::decode(&p.encode()).ok(), Some(ChunkPtr::Seg(p)));
        assert_eq!(
            ChunkPtr::decode(&42u64.to_le_bytes()).ok(),
            Some(ChunkPtr::Blob(42))
        );
        let mut bad = p.encode();
        bad[0] = 9;
        assert!(matches!(
            ChunkPtr::decode(&bad),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(
            ChunkPtr::decode(&[1, 2, 3]),
            Err(StoreError::Corrupt(_))
        ));
        let s = SegStats {
            blobs: 3,
            bytes: 99,
        };
        assert_eq!(SegStats::decode(&s.encode()).ok(), Some(s));
        assert!(SegStats::decode(&[1; 5]).is_err());
    }

    #[test]
    fn reclaim_waits_for_older_snapshots_only() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let segs = Segments::open(dir.path())?;
        drop(segs.create(1)?);
        drop(segs.create(2)?);
        let old = segs.pin();
        segs.retire(vec![Kill::Segment(1)]);
        let new = segs.pin();
        segs.reclaim_ripe();
        assert!(segs.path(1).exists(), "an older snapshot may read it");
        segs.unpin(old);
        assert!(!segs.path(1).exists(), "only newer snapshots remain");
        segs.retire(vec![Kill::Segment(2)]);
        segs.unpin(new);
        assert!(!segs.path(2).exists());
        assert_eq!(segs.queued(), 0);
        Ok(())
    }

    /// A segment file holding `data` at offset 0, as a committed one would.
    fn segment_with(segs: &Segments, seg: u64, data: &[u8]) -> Result<SegPtr> {
        use std::os::unix::fs::FileExt;
        segs.create(seg)?.write_all_at(data, 0)?;
        Ok(SegPtr {
            seg,
            off: 0,
            len: data.len() as u64,
            hash: xxhash_rust::xxh3::xxh3_64(data),
        })
    }

    #[test]
    fn mapped_reads_share_the_mapping_and_check_the_bytes() -> Result<()> {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir()?;
        let segs = Arc::new(Segments::open(dir.path())?);
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let p = segment_with(&segs, 5, &data)?;
        let epoch = segs.pin();
        let chunk = segs.read(&p, Some(epoch))?;
        assert!(chunk[..] == data[..]);
        // Served from the cached mapping, not copied.
        let map = lock(&segs.files)
            .get(&5)
            .and_then(|f| f.map.clone())
            .ok_or_else(|| StoreError::Corrupt("no mapping".into()))?;
        assert_eq!(chunk.as_ptr(), map.bytes(0, data.len()).as_ptr());
        // The chunk holds a pin of its own.
        assert_eq!(lock(&segs.reclaim).readers.get(&epoch), Some(&2));
        drop(chunk);
        assert_eq!(lock(&segs.reclaim).readers.get(&epoch), Some(&1));
        // A flipped byte in the file shows through the mapping and fails the check.
        let f = fs::OpenOptions::new().write(true).open(segs.path(5))?;
        f.write_all_at(&[data[1234] ^ 0x10], 1234)?;
        assert!(matches!(
            segs.read(&p, Some(epoch)),
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(segs.read(&p, None), Err(StoreError::Corrupt(_))));
        assert_eq!(lock(&segs.reclaim).readers.get(&epoch), Some(&1));
        // A pointer past the end is refused before anything is mapped over it.
        let past = SegPtr { off: 4096, ..p };
        assert!(matches!(
            segs.read(&past, Some(epoch)),
            Err(StoreError::Corrupt(_))
        ));
        segs.unpin(epoch);
        Ok(())
    }

    #[test]
    fn a_grown_segment_is_mapped_again() -> Result<()> {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir()?;
        let segs = Arc::new(Segments::open(dir.path())?);
        let head = vec![7u8; 4096];
        let p = segment_with(&segs, 9, &head)?;
        let epoch = segs.pin();
        let first = segs.read(&p, Some(epoch))?;
        let tail = vec![9u8; 8192];
        fs::OpenOptions::new()
            .write(true)
            .open(segs.path(9))?
            .write_all_at(&tail, 4096)?;
        let q = SegPtr {
            off: 4096,
            len: tail.len() as u64,
            hash: xxhash_rust::xxh3::xxh3_64(&tail),
            ..p
        };
        let second = segs.read(&q, Some(epoch))?;
        assert!(first[..] == head[..] && second[..] == tail[..]);
        drop((first, second));
        segs.unpin(epoch);
        Ok(())
    }
}
