//! Array chunks in segment files (format 3): one segment per writing transaction,
//! in-place overwrites, copy-on-write under open snapshots and the space given back
//! after them, rollback, crash recovery, format-2 chunks, corruption.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::*;
use etp_store::{ArrayKey, ElementType, FjallStore, Store, StoreConfig, StoreError};

/// 64 KiB chunks: 8,192 f64.
const CHUNK: u64 = 64 * 1024;
const PER_CHUNK: u64 = CHUNK / 8;

fn open_store(dir: &Path) -> Result<FjallStore, StoreError> {
    FjallStore::open_with(
        dir,
        StoreConfig {
            array_chunk_bytes: CHUNK,
            string_chunk_elems: 4,
            ..StoreConfig::default()
        },
    )
}

fn f64s(f: impl Fn(u64) -> f64, from: u64, n: u64) -> Vec<u8> {
    (from..from + n).flat_map(|i| f(i).to_le_bytes()).collect()
}

fn read_all(r: &dyn etp_store::ReadTxn, k: &ArrayKey, n: u64) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    r.read_subarray(k, &[0], &[n], &mut out)?;
    Ok(out)
}

fn segment_files(dir: &Path) -> Result<Vec<PathBuf>, std::io::Error> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("chunks"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    v.sort();
    Ok(v)
}

/// Bytes allocated on disk (holes excluded).
fn allocated(p: &Path) -> Result<u64, std::io::Error> {
    Ok(std::fs::metadata(p)?.blocks() * 512)
}

/// Writes `n` elements of `f` into a new array `k` in one committed transaction.
fn put(store: &FjallStore, k: &ArrayKey, n: u64, f: impl Fn(u64) -> f64) -> TestResult {
    let mut w = store.write()?;
    w.create_array(k, &ameta(&[n], ElementType::F64, 1))?;
    w.write_subarray(k, &[0], &[n], &f64s(f, 0, n), 2)?;
    w.commit()?;
    Ok(())
}

#[test]
fn chunks_round_trip_across_segments_transactions_and_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (a, b) = (akey("", 1, "/a"), akey("", 2, "/b"));
    let n = 10 * PER_CHUNK + 77;
    {
        let store = open_store(dir.path())?;
        put(&store, &a, n, |i| i as f64)?;
        assert_eq!(segment_files(dir.path())?.len(), 1);
        // A second transaction: a new array and a block of the first one across
        // chunk boundaries (copy-on-write of chunks 2..=4).
        let mut w = store.write()?;
        w.create_array(&b, &ameta(&[n], ElementType::F64, 3))?;
        w.write_subarray(&b, &[0], &[n], &f64s(|i| -(i as f64), 0, n), 3)?;
        let (s, len) = (2 * PER_CHUNK + 5, 2 * PER_CHUNK + 9);
        w.write_subarray(&a, &[s], &[len], &f64s(|i| i as f64 + 0.5, s, len), 3)?;
        w.commit()?;
        let c = store.engine_counts()?;
        assert_eq!((c.live_segments, c.segment_files), (2, 2));
        // 11 chunks each, the 3 rewritten of `a` dead in the first segment.
        assert_eq!((c.chunk_blobs, c.chunk_pointers), (22, 22));
        assert_eq!(
            (c.pending_blobs, c.pending_segments, c.queued_reclaims),
            (0, 0, 0)
        );
    }
    let store = open_store(dir.path())?;
    let r = store.read()?;
    let s = 2 * PER_CHUNK + 5;
    let mut expect = f64s(|i| i as f64, 0, n);
    expect[(s * 8) as usize..((s + 2 * PER_CHUNK + 9) * 8) as usize].copy_from_slice(&f64s(
        |i| i as f64 + 0.5,
        s,
        2 * PER_CHUNK + 9,
    ));
    assert!(read_all(&*r, &a, n)? == expect);
    assert!(read_all(&*r, &b, n)? == f64s(|i| -(i as f64), 0, n));
    // A block inside one chunk and one across three.
    let mut out = Vec::new();
    r.read_subarray(&b, &[PER_CHUNK - 3], &[2 * PER_CHUNK + 6], &mut out)?;
    assert!(out == f64s(|i| -(i as f64), PER_CHUNK - 3, 2 * PER_CHUNK + 6));
    Ok(())
}

#[test]
fn rewrites_within_a_transaction_stay_in_place() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open_store(dir.path())?;
    let k = akey("", 1, "/a");
    let n = 4 * PER_CHUNK;
    let mut w = store.write()?;
    w.create_array(&k, &ameta(&[n], ElementType::F64, 1))?;
    for round in 0..5u64 {
        w.write_subarray(&k, &[0], &[n], &f64s(|i| (i + round) as f64, 0, n), 2)?;
        // Partial writes patch the chunk the transaction already holds.
        w.write_subarray(&k, &[PER_CHUNK + 1], &[1], &f64s(|_| 9.0, 0, 1), 2)?;
    }
    let mut expect = f64s(|i| (i + 4) as f64, 0, n);
    expect[((PER_CHUNK + 1) * 8) as usize..((PER_CHUNK + 2) * 8) as usize]
        .copy_from_slice(&9f64.to_le_bytes());
    assert!(read_all(&*w, &k, n)? == expect, "read-your-writes");
    let files = segment_files(dir.path())?;
    assert_eq!(files.len(), 1);
    assert_eq!(std::fs::metadata(&files[0])?.len(), 4 * CHUNK, "no appends");
    // String chunks change length: appended again, the old range dead at once.
    let s = akey("", 1, "/s");
    w.create_array(&s, &ameta(&[8], ElementType::String, 1))?;
    let vals = |t: &str| (0..8).map(|i| format!("{t}{i}")).collect::<Vec<_>>();
    w.write_strings(&s, &[0], &[8], &vals("x"), 2)?;
    w.write_strings(&s, &[0], &[8], &vals("longer"), 2)?;
    assert_eq!(w.read_strings(&s, &[0], &[8])?, vals("longer"));
    let c = store.engine_counts()?;
    assert_eq!(
        (c.chunk_blobs, c.pending_blobs, c.pending_segments),
        (6, 6, 1)
    );
    w.commit()?;
    let r = store.read()?;
    assert!(read_all(&*r, &k, n)? == expect);
    assert_eq!(r.read_strings(&s, &[0], &[8])?, vals("longer"));
    let c = store.engine_counts()?;
    assert_eq!(
        (c.chunk_blobs, c.live_segments, c.pending_segments),
        (6, 1, 0)
    );
    Ok(())
}

#[test]
fn space_is_given_back_only_after_older_snapshots_close() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open_store(dir.path())?;
    let (a, b) = (akey("", 1, "/a"), akey("", 2, "/b"));
    let n = 8 * PER_CHUNK;
    // Both arrays in one transaction: one segment.
    let mut w = store.write()?;
    for (k, v) in [(&a, 1.0), (&b, 2.0)] {
        w.create_array(k, &ameta(&[n], ElementType::F64, 1))?;
        w.write_subarray(k, &[0], &[n], &f64s(|_| v, 0, n), 2)?;
    }
    w.commit()?;
    let first = segment_files(dir.path())?;
    assert_eq!(first.len(), 1);
    let first = first[0].clone();
    let full = allocated(&first)?;
    assert!(full >= 2 * n * 8, "{full}");

    // Copy-on-write of all of `a` while a reader and a writer hold older snapshots.
    let old = store.read()?;
    let old_writer = store.write()?;
    let mut w = store.write()?;
    w.write_subarray(&a, &[0], &[n], &f64s(|_| 3.0, 0, n), 3)?;
    w.commit()?;
    assert!(read_all(&*old, &a, n)? == f64s(|_| 1.0, 0, n));
    assert!(read_all(&*old_writer, &a, n)? == f64s(|_| 1.0, 0, n));
    assert!(read_all(&*store.read()?, &a, n)? == f64s(|_| 3.0, 0, n));
    let c = store.engine_counts()?;
    assert_eq!((c.chunk_blobs, c.queued_reclaims), (16, 8));
    assert_eq!(
        allocated(&first)?,
        full,
        "still readable by the old snapshots"
    );
    drop(old);
    assert_eq!(allocated(&first)?, full, "the old writer still reads it");
    drop(old_writer);
    assert_eq!(store.engine_counts()?.queued_reclaims, 0);
    let punched = allocated(&first)?;
    assert!(
        punched + n * 8 <= full,
        "holes punched: {full} -> {punched}"
    );
    assert!(read_all(&*store.read()?, &b, n)? == f64s(|_| 2.0, 0, n));

    // Deleting the last live array of the first segment deletes the file, once the
    // snapshot that still sees it is gone.
    let old = store.read()?;
    let mut w = store.write()?;
    w.delete_array(&b)?;
    w.commit()?;
    assert!(first.exists());
    assert!(read_all(&*old, &b, n)? == f64s(|_| 2.0, 0, n));
    let c = store.engine_counts()?;
    assert_eq!((c.live_segments, c.segment_files), (1, 2));
    drop(old);
    assert!(!first.exists());
    let c = store.engine_counts()?;
    assert_eq!((c.live_segments, c.segment_files, c.chunk_blobs), (1, 1, 8));

    // Re-creating over an existing key and cascades reclaim the same way.
    let mut w = store.write()?;
    w.create_array(&a, &ameta(&[4], ElementType::F64, 4))?;
    w.commit()?;
    let c = store.engine_counts()?;
    assert_eq!(
        (
            c.live_segments,
            c.segment_files,
            c.chunk_blobs,
            c.queued_reclaims
        ),
        (0, 0, 0, 0)
    );
    Ok(())
}

#[test]
fn rollback_drop_and_conflict_delete_the_segment() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open_store(dir.path())?;
    create_ds(&store, "ds", 1)?;
    let k = akey("ds", 1, "/a");
    let n = 3 * PER_CHUNK;
    for mode in ["rollback", "drop", "conflict"] {
        let mut other = store.write()?;
        let mut w = store.write()?;
        w.create_array(&k, &ameta(&[n], ElementType::F64, 1))?;
        w.write_subarray(&k, &[0], &[n], &f64s(|_| 1.0, 0, n), 2)?;
        assert_eq!(segment_files(dir.path())?.len(), 1, "{mode}");
        assert_eq!(store.engine_counts()?.pending_segments, 1);
        match mode {
            "rollback" => w.rollback()?,
            "drop" => drop(w),
            _ => {
                other.put_dataspace(&dataspace("ds", 5))?;
                other.commit()?;
                other = store.write()?;
                assert!(matches!(w.commit(), Err(StoreError::Conflict)));
            }
        }
        drop(other);
        assert!(segment_files(dir.path())?.is_empty(), "{mode}");
        let c = store.engine_counts()?;
        assert_eq!(
            (
                c.chunk_blobs,
                c.pending_blobs,
                c.pending_segments,
                c.chunk_pointers
            ),
            (0, 0, 0, 0),
            "{mode}"
        );
    }
    Ok(())
}

#[test]
fn recovery_deletes_uncommitted_and_unrecorded_segments() -> TestResult {
    let dir = tempfile::tempdir()?;
    let k = akey("", 1, "/a");
    let n = 2 * PER_CHUNK;
    let abandoned;
    {
        let store = open_store(dir.path())?;
        put(&store, &k, n, |i| i as f64)?;
        abandoned = store.debug_abandon_segment(&[7u8; 10_000])?;
        assert_eq!(store.engine_counts()?.pending_segments, 1);
    }
    // A file that no record names (its transaction's marker never reached the journal).
    let stray = dir
        .path()
        .join("chunks")
        .join(format!("{:016x}.seg", 1u64 << 40));
    std::fs::write(&stray, b"junk")?;
    let other = dir.path().join("chunks").join("notes.txt");
    std::fs::write(&other, b"not ours")?;
    let store = open_store(dir.path())?;
    assert!(!abandoned.exists());
    assert!(!stray.exists());
    assert!(other.exists(), "only segment names are touched");
    let c = store.engine_counts()?;
    assert_eq!(
        (
            c.pending_segments,
            c.live_segments,
            c.segment_files,
            c.chunk_blobs
        ),
        (0, 1, 1, 2)
    );
    assert!(read_all(&*store.read()?, &k, n)? == f64s(|i| i as f64, 0, n));
    Ok(())
}

#[test]
fn format_2_chunks_open_read_and_are_overwritten() -> TestResult {
    let dir = tempfile::tempdir()?;
    let k = akey("", 1, "/old");
    let n = 4 * PER_CHUNK;
    {
        let store = open_store(dir.path())?;
        let mut w = store.write()?;
        w.create_array(&k, &ameta(&[n], ElementType::F64, 1))?;
        w.commit()?;
        // The chunks as format 2 stored them: engine blobs behind 8-byte pointers.
        for c in 0..4 {
            store.debug_put_legacy_chunk(&k, c, &f64s(|i| i as f64, c * PER_CHUNK, PER_CHUNK))?;
        }
    }
    std::fs::write(dir.path().join("FORMAT"), "etp-store format 2\n")?;
    let store = open_store(dir.path())?;
    assert_eq!(
        std::fs::read_to_string(dir.path().join("FORMAT"))?.trim(),
        "etp-store format 3"
    );
    let c = store.engine_counts()?;
    assert_eq!((c.chunk_blobs, c.live_segments, c.segment_files), (4, 0, 0));
    assert!(read_all(&*store.read()?, &k, n)? == f64s(|i| i as f64, 0, n));
    // A partial write of chunk 1: copied into a segment, the old blob goes at commit;
    // an older snapshot keeps reading it.
    let old = store.read()?;
    let mut w = store.write()?;
    w.write_subarray(&k, &[PER_CHUNK + 10], &[5], &f64s(|_| -1.0, 0, 5), 2)?;
    w.commit()?;
    assert!(read_all(&*old, &k, n)? == f64s(|i| i as f64, 0, n));
    drop(old);
    let mut expect = f64s(|i| i as f64, 0, n);
    expect[((PER_CHUNK + 10) * 8) as usize..((PER_CHUNK + 15) * 8) as usize]
        .copy_from_slice(&f64s(|_| -1.0, 0, 5));
    assert!(read_all(&*store.read()?, &k, n)? == expect);
    let c = store.engine_counts()?;
    assert_eq!(
        (c.chunk_blobs, c.chunk_pointers, c.live_segments),
        (4, 4, 1)
    );
    drop(store);
    let st = open_store(dir.path())?;
    assert!(read_all(&*st.read()?, &k, n)? == expect);
    let mut w = st.write()?;
    w.delete_array(&k)?;
    w.commit()?;
    let c = st.engine_counts()?;
    assert_eq!(
        (
            c.chunk_blobs,
            c.chunk_pointers,
            c.live_segments,
            c.segment_files
        ),
        (0, 0, 0, 0)
    );
    Ok(())
}

#[test]
fn damaged_segments_are_reported_as_corrupt() -> TestResult {
    let dir = tempfile::tempdir()?;
    let k = akey("", 1, "/a");
    let n = 3 * PER_CHUNK;
    {
        let store = open_store(dir.path())?;
        put(&store, &k, n, |i| i as f64)?;
    }
    let seg = segment_files(dir.path())?
        .pop()
        .ok_or_else(|| fail("no segment"))?;
    let mut bytes = std::fs::read(&seg)?;
    bytes[CHUNK as usize + 100] ^= 0x40;
    std::fs::write(&seg, &bytes)?;
    let read_chunk = |st: &FjallStore, c: u64| -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::new();
        st.read()?
            .read_subarray(&k, &[c * PER_CHUNK], &[PER_CHUNK], &mut out)?;
        Ok(out)
    };
    {
        let st = open_store(dir.path())?;
        assert!(read_chunk(&st, 0)? == f64s(|i| i as f64, 0, PER_CHUNK));
        assert!(matches!(read_chunk(&st, 1), Err(StoreError::Corrupt(_))));
        // Writing into a damaged chunk reads it first: refused, not propagated.
        let mut w = st.write()?;
        assert!(matches!(
            w.write_subarray(&k, &[PER_CHUNK], &[1], &[0u8; 8], 2),
            Err(StoreError::Corrupt(_))
        ));
    }
    // Cut short: the last chunk's pointer reaches past the end.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)?
        .set_len(2 * CHUNK + 10)?;
    let st = open_store(dir.path())?;
    assert!(read_chunk(&st, 0)? == f64s(|i| i as f64, 0, PER_CHUNK));
    assert!(matches!(read_chunk(&st, 2), Err(StoreError::Corrupt(_))));
    drop(st);
    // Gone altogether (the open store may keep a deleted file open: reopen).
    std::fs::remove_file(&seg)?;
    let st = open_store(dir.path())?;
    assert!(matches!(read_chunk(&st, 0), Err(StoreError::Corrupt(_))));
    Ok(())
}

/// Blocks not aligned with the chunks (as 1 MiB ETP messages are) rewrite the
/// transaction's own chunks in place (no chunk is appended twice), read back inside the
/// transaction, and carry a checksum of their final bytes after the commit.
#[test]
fn unaligned_blocks_rewrite_own_chunks_in_place() -> TestResult {
    let dir = tempfile::tempdir()?;
    let k = akey("", 1, "/a");
    let n = 3 * PER_CHUNK;
    {
        let store = open_store(dir.path())?;
        let mut w = store.write()?;
        w.create_array(&k, &ameta(&[n], ElementType::F64, 1))?;
        let mut s = 0;
        while s < n {
            let len = 1000.min(n - s);
            w.write_subarray(&k, &[s], &[len], &f64s(|i| i as f64 * 2.0, s, len), 2)?;
            s += len + 1; // every 1001st element left at the fill value
        }
        let expect: Vec<u8> = (0..n)
            .flat_map(|i| {
                let v = if i % 1001 == 1000 {
                    0.0
                } else {
                    i as f64 * 2.0
                };
                v.to_le_bytes()
            })
            .collect();
        assert!(read_all(&*w, &k, n)? == expect, "read-your-writes");
        w.commit()?;
        assert!(read_all(&*store.read()?, &k, n)? == expect);
        let files = segment_files(dir.path())?;
        assert_eq!(std::fs::metadata(&files[0])?.len(), 3 * CHUNK, "in place");
    }
    let seg = segment_files(dir.path())?
        .pop()
        .ok_or_else(|| fail("no segment"))?;
    let mut bytes = std::fs::read(&seg)?;
    bytes[2 * CHUNK as usize + 8] ^= 1;
    std::fs::write(&seg, &bytes)?;
    let store = open_store(dir.path())?;
    let mut out = Vec::new();
    store
        .read()?
        .read_subarray(&k, &[0], &[2 * PER_CHUNK], &mut out)?;
    assert!(matches!(
        store
            .read()?
            .read_subarray(&k, &[2 * PER_CHUNK], &[1], &mut out),
        Err(StoreError::Corrupt(_))
    ));
    Ok(())
}

/// Whether `dir` is on tmpfs, whose pages cannot be dropped from the page cache.
fn on_tmpfs(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `path` is a NUL-terminated string and `st` a zeroed statfs we own; statfs
    // writes only into `st`.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(path.as_ptr(), &mut st) == 0 && st.f_type == libc::TMPFS_MAGIC
    }
}

/// Drops the pages of every segment file from the page cache (clean pages that no
/// mapping holds: the store that read them must be closed).
fn drop_cached_pages(dir: &Path) -> TestResult {
    use std::os::fd::AsRawFd;
    for path in segment_files(dir)? {
        let f = std::fs::File::open(path)?;
        // SAFETY: fadvise only reads its integer arguments; `f` outlives the call.
        let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(rc, 0);
    }
    Ok(())
}

#[test]
fn reads_without_waiting_take_only_the_page_cache() -> TestResult {
    let dir = tempfile::tempdir()?;
    let k = akey("", 1, "/a");
    let n = 3 * PER_CHUNK + 5;
    let expect = f64s(|i| i as f64 * 0.25, 0, n);
    {
        let store = open_store(dir.path())?;
        put(&store, &k, n, |i| i as f64 * 0.25)?;
        // Written moments ago: in the page cache.
        let r = store.read()?;
        assert!(etp_store::without_waiting(|| read_all(&*r, &k, n))? == expect);
    }
    // The commit synced the segment, so its pages are clean and can be dropped once the
    // store that mapped them is closed (pages a mapping holds stay cached).
    drop_cached_pages(dir.path())?;
    let store = open_store(dir.path())?;
    let r = store.read()?;
    match etp_store::without_waiting(|| read_all(&*r, &k, n)) {
        Err(StoreError::WouldBlock) => {}
        Ok(data) if on_tmpfs(dir.path()) => assert!(data == expect),
        Ok(_) => panic!("expected WouldBlock after dropping the pages, got the data"),
        Err(e) => panic!("expected WouldBlock after dropping the pages, got {e:?}"),
    }
    // A read that may wait brings the pages back; then no-wait reads succeed again.
    assert!(read_all(&*r, &k, n)? == expect);
    assert!(etp_store::without_waiting(|| read_all(&*r, &k, n))? == expect);
    Ok(())
}

/// The chunks of a block as a read snapshot hands them out (`visit_subarray`), kept.
fn held_pieces(
    r: &dyn etp_store::ReadTxn,
    k: &ArrayKey,
    n: u64,
) -> Result<Vec<bytes::Bytes>, StoreError> {
    let mut held = Vec::new();
    r.visit_subarray(k, &[0], &[n], &mut |chunk, range| {
        held.push(chunk.slice(range));
        Ok(())
    })?;
    Ok(held)
}

/// A chunk handed out by a read outlives its snapshot: served from a mapping of its
/// segment, it keeps the range from being punched out (or the file from being deleted)
/// until dropped, so it still shows the bytes it was read with.
#[test]
fn chunks_held_after_their_snapshot_keep_their_bytes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = open_store(dir.path())?;
    let (a, b) = (akey("", 1, "/a"), akey("", 2, "/b"));
    let n = 4 * PER_CHUNK;
    let mut w = store.write()?;
    for (k, v) in [(&a, 1.0), (&b, 2.0)] {
        w.create_array(k, &ameta(&[n], ElementType::F64, 1))?;
        w.write_subarray(k, &[0], &[n], &f64s(|i| v + i as f64, 0, n), 2)?;
    }
    w.commit()?;
    let first = segment_files(dir.path())?
        .pop()
        .ok_or_else(|| fail("no segment"))?;
    let full = allocated(&first)?;
    let old_a = f64s(|i| 1.0 + i as f64, 0, n);

    // Overwrite all of `a` while only its chunks, not their snapshot, are held.
    let held = held_pieces(&*store.read()?, &a, n)?;
    let mut w = store.write()?;
    w.write_subarray(&a, &[0], &[n], &f64s(|_| -1.0, 0, n), 3)?;
    w.commit()?;
    assert_eq!(
        store.engine_counts()?.queued_reclaims,
        4,
        "held chunks wait"
    );
    assert_eq!(
        allocated(&first)?,
        full,
        "nothing punched under held chunks"
    );
    assert!(held.concat() == old_a);
    assert!(read_all(&*store.read()?, &a, n)? == f64s(|_| -1.0, 0, n));
    drop(held);
    assert_eq!(store.engine_counts()?.queued_reclaims, 0);
    let punched = allocated(&first)?;
    assert!(punched + n * 8 <= full, "punched: {full} -> {punched}");

    // Deleting the last array of the segment deletes the file after the held chunks go.
    let held = held_pieces(&*store.read()?, &b, n)?;
    let mut w = store.write()?;
    w.delete_array(&b)?;
    w.commit()?;
    assert!(first.exists());
    assert!(held.concat() == f64s(|i| 2.0 + i as f64, 0, n));
    drop(held);
    assert!(!first.exists());
    assert_eq!(store.engine_counts()?.queued_reclaims, 0);
    Ok(())
}
