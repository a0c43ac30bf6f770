//! Arrays: subarray reads/writes at edges and corners of 1-, 2- and 3-D
//! arrays of every element type against an in-memory model, fill values,
//! arrays larger than the cache, errors, and deletion cascades.

mod common;

use common::*;
use etp_store::{ArrayKey, ElementType, FjallStore, ObjectFilter, Store, StoreConfig, StoreError};

/// Deterministic pseudo-random bytes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize, et: ElementType) -> Vec<u8> {
        (0..n)
            .map(|_| {
                let v = (self.next() >> 24) as u8;
                if et == ElementType::Bool {
                    v & 1
                } else {
                    v | 1
                }
            })
            .collect()
    }
    fn string(&mut self) -> String {
        let len = (self.next() % 12) as usize;
        (0..len)
            .map(|i| {
                if i % 5 == 4 {
                    'é'
                } else {
                    (b'a' + (self.next() % 26) as u8) as char
                }
            })
            .collect()
    }
}

/// Store with tiny chunks so small arrays span many chunks.
fn tiny_chunk_store(dir: &std::path::Path) -> Result<FjallStore, StoreError> {
    FjallStore::open_with(
        dir,
        StoreConfig {
            array_chunk_bytes: 64,
            string_chunk_elems: 7,
            ..StoreConfig::default()
        },
    )
}

/// Flat element indices of a block, row-major.
fn block_indices(dims: &[u64], starts: &[u64], counts: &[u64]) -> Vec<usize> {
    let n: u64 = counts.iter().product();
    let mut out = Vec::with_capacity(n as usize);
    for mut e in 0..n {
        let mut idx = vec![0u64; dims.len()];
        for i in (0..dims.len()).rev() {
            idx[i] = starts[i] + e % counts[i];
            e /= counts[i];
        }
        let mut off = 0u64;
        for i in 0..dims.len() {
            off = off * dims[i] + idx[i];
        }
        out.push(off as usize);
    }
    out
}

/// Every combination of (first element, last element, whole, interior) per dimension.
fn edge_regions(dims: &[u64]) -> Vec<(Vec<u64>, Vec<u64>)> {
    let choices = |d: u64| vec![(0, 1), (d - 1, 1), (0, d), (1, d - 2)];
    let mut out = vec![(Vec::new(), Vec::new())];
    for &d in dims {
        let mut next = Vec::new();
        for (s, c) in &out {
            for (s1, c1) in choices(d) {
                let mut s = s.clone();
                let mut c = c.clone();
                s.push(s1);
                c.push(c1);
                next.push((s, c));
            }
        }
        out = next;
    }
    out
}

fn read_block(
    r: &dyn etp_store::ReadTxn,
    k: &ArrayKey,
    s: &[u64],
    c: &[u64],
) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    let n = r.read_subarray(k, s, c, &mut out)?;
    assert_eq!(n, out.len() as u64);
    Ok(out)
}

#[test]
fn fixed_width_edges_and_corners_match_model() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = tiny_chunk_store(dir.path())?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let types = [
        ElementType::Bool,
        ElementType::I32,
        ElementType::I64,
        ElementType::F32,
        ElementType::F64,
        ElementType::Bytes,
    ];
    let shapes: [&[u64]; 3] = [&[37], &[9, 11], &[5, 6, 7]];
    for (ti, et) in types.into_iter().enumerate() {
        let es = et.fixed_size().ok_or_else(|| fail("fixed"))? as usize;
        for (si, dims) in shapes.iter().enumerate() {
            let k = akey("", ti as u64, &format!("/a{si}"));
            let total: u64 = dims.iter().product();
            let mut model = vec![0u8; total as usize * es];
            let mut w = store.write()?;
            w.create_array(&k, &ameta(dims, et, 5))?;
            w.commit()?;
            // Never written: all zero.
            assert_eq!(
                read_block(&*store.read()?, &k, &vec![0; dims.len()], dims)?,
                model
            );
            for (s, c) in edge_regions(dims) {
                let idx = block_indices(dims, &s, &c);
                let data = rng.bytes(idx.len() * es, et);
                let mut w = store.write()?;
                w.write_subarray(&k, &s, &c, &data, 6)?;
                w.commit()?;
                for (j, &e) in idx.iter().enumerate() {
                    model[e * es..(e + 1) * es].copy_from_slice(&data[j * es..(j + 1) * es]);
                }
                let r = store.read()?;
                let whole = read_block(&*r, &k, &vec![0; dims.len()], dims)?;
                assert!(whole == model, "{et:?} {dims:?} after writing {s:?}/{c:?}");
                // The block written reads back exactly.
                assert_eq!(read_block(&*r, &k, &s, &c)?, data);
            }
            // Every edge region reads back as the model says.
            let r = store.read()?;
            for (s, c) in edge_regions(dims) {
                let expect: Vec<u8> = block_indices(dims, &s, &c)
                    .into_iter()
                    .flat_map(|e| model[e * es..(e + 1) * es].to_vec())
                    .collect();
                assert_eq!(
                    read_block(&*r, &k, &s, &c)?,
                    expect,
                    "{et:?} {dims:?} {s:?} {c:?}"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn strings_edges_and_corners_match_model() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = tiny_chunk_store(dir.path())?;
    let mut rng = Rng(12345);
    let shapes: [&[u64]; 3] = [&[23], &[9, 11], &[5, 6, 7]];
    for (si, dims) in shapes.iter().enumerate() {
        let k = akey("", 1, &format!("/s{si}"));
        let total: u64 = dims.iter().product();
        let mut model = vec![String::new(); total as usize];
        let mut w = store.write()?;
        w.create_array(&k, &ameta(dims, ElementType::String, 5))?;
        w.commit()?;
        assert_eq!(
            store.read()?.read_strings(&k, &vec![0; dims.len()], dims)?,
            model
        );
        for (s, c) in edge_regions(dims) {
            let idx = block_indices(dims, &s, &c);
            let vals: Vec<String> = idx.iter().map(|_| rng.string()).collect();
            let mut w = store.write()?;
            w.write_strings(&k, &s, &c, &vals, 6)?;
            // Read-your-writes inside the transaction.
            assert_eq!(w.read_strings(&k, &s, &c)?, vals);
            w.commit()?;
            for (j, &e) in idx.iter().enumerate() {
                model[e] = vals[j].clone();
            }
            let whole = store.read()?.read_strings(&k, &vec![0; dims.len()], dims)?;
            assert_eq!(whole, model, "{dims:?} after {s:?}/{c:?}");
        }
    }
    Ok(())
}

#[test]
fn fill_values_and_partial_writes() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = tiny_chunk_store(dir.path())?;
    let kf = akey("", 1, "f");
    let ks = akey("", 1, "s");
    let mut w = store.write()?;
    w.create_array(&kf, &ameta(&[4, 10], ElementType::F64, 1))?;
    w.create_array(&ks, &ameta(&[4, 10], ElementType::String, 1))?;
    let ones: Vec<u8> = (0..10).flat_map(|_| 1.5f64.to_le_bytes()).collect();
    w.write_subarray(&kf, &[2, 0], &[1, 10], &ones, 2)?;
    w.write_strings(&ks, &[3, 9], &[1, 1], &["last".to_string()], 2)?;
    w.commit()?;
    let r = store.read()?;
    let mut out = Vec::new();
    r.read_subarray(&kf, &[0, 0], &[4, 10], &mut out)?;
    let vals: Vec<f64> = out
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect();
    for (i, v) in vals.iter().enumerate() {
        let expect = if (20..30).contains(&i) { 1.5 } else { 0.0 };
        assert_eq!(*v, expect, "element {i}");
    }
    let s = r.read_strings(&ks, &[0, 0], &[4, 10])?;
    assert!(s[..39].iter().all(String::is_empty));
    assert_eq!(s[39], "last");
    Ok(())
}

#[test]
fn invalid_requests_are_typed_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = tiny_chunk_store(dir.path())?;
    let k = akey("", 1, "a");
    let mut w = store.write()?;
    assert!(matches!(
        w.create_array(&k, &ameta(&[], ElementType::F64, 1)),
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        w.create_array(&k, &ameta(&[u64::MAX, u64::MAX], ElementType::Bool, 1)),
        Err(StoreError::SizeOverflow(_))
    ));
    assert!(matches!(
        w.create_array(&k, &ameta(&[1 << 62], ElementType::F64, 1)),
        Err(StoreError::SizeOverflow(_))
    ));
    assert!(matches!(
        w.create_array(&akey("nope", 1, "a"), &ameta(&[3], ElementType::F64, 1)),
        Err(StoreError::DataspaceNotFound(_))
    ));
    w.create_array(&k, &ameta(&[4, 5], ElementType::I32, 1))?;
    let mut sink = Vec::new();
    assert!(matches!(
        w.read_subarray(&k, &[0, 0], &[5, 1], &mut sink),
        Err(StoreError::OutOfRange { dim: 0, .. })
    ));
    assert!(matches!(
        w.read_subarray(&k, &[0, u64::MAX], &[1, 2], &mut sink),
        Err(StoreError::OutOfRange { dim: 1, .. })
    ));
    assert!(matches!(
        w.read_subarray(&k, &[0], &[1], &mut sink),
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        w.write_subarray(&k, &[0, 0], &[2, 2], &[0u8; 15], 2),
        Err(StoreError::InvalidArgument(_))
    ));
    assert!(matches!(
        w.write_subarray(&k, &[3, 4], &[2, 2], &[0u8; 16], 2),
        Err(StoreError::OutOfRange { .. })
    ));
    assert!(matches!(
        w.write_strings(&k, &[0, 0], &[1, 1], &["x".to_string()], 2),
        Err(StoreError::TypeMismatch { .. })
    ));
    assert!(matches!(
        w.read_strings(&k, &[0, 0], &[1, 1]),
        Err(StoreError::TypeMismatch { .. })
    ));
    assert!(matches!(
        w.read_subarray(&akey("", 9, "zz"), &[0], &[1], &mut sink),
        Err(StoreError::ArrayNotFound(_))
    ));
    assert!(matches!(
        w.write_subarray(&akey("", 9, "zz"), &[0], &[1], &[0; 4], 2),
        Err(StoreError::ArrayNotFound(_))
    ));
    assert!(sink.is_empty(), "failed reads wrote nothing");
    // Empty arrays and empty blocks are fine.
    let e = akey("", 1, "empty");
    w.create_array(&e, &ameta(&[0, 5], ElementType::F64, 1))?;
    assert_eq!(w.read_subarray(&e, &[0, 0], &[0, 5], &mut sink)?, 0);
    w.write_subarray(&k, &[1, 1], &[0, 3], &[], 2)?;
    assert_eq!(w.read_subarray(&k, &[4, 5], &[0, 0], &mut sink)?, 0);
    w.commit()?;
    Ok(())
}

/// Counts bytes and checks values without keeping them.
struct CheckSink {
    pos: u64,
    row_len: u64,
    col0: u64,
    cols: u64,
    row0: u64,
    partial: Vec<u8>,
    errors: u64,
}

fn value(r: u64, c: u64) -> f64 {
    (r * 100_000 + c) as f64
}

impl std::io::Write for CheckSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(buf);
        let whole = self.partial.len() / 8 * 8;
        for ch in self.partial[..whole].chunks_exact(8) {
            let v = f64::from_le_bytes(ch.try_into().unwrap_or_default());
            let r = self.row0 + self.pos / self.cols;
            let c = self.col0 + self.pos % self.cols;
            if v != value(r, c) {
                self.errors += 1;
            }
            self.pos += 1;
        }
        self.partial.drain(..whole);
        let _ = self.row_len;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn array_larger_than_cache_written_and_read_piecewise() -> TestResult {
    let dir = tempfile::tempdir()?;
    // 2 MiB cache, default chunks (whole rows, just under 1 MiB), 64 MiB array.
    let store = open_small_cache(dir.path())?;
    let (rows, cols) = (2048u64, 4096u64);
    let k = akey("", 1, "/big");
    let mut w = store.write()?;
    w.create_array(&k, &ameta(&[rows, cols], ElementType::F64, 1))?;
    // Blocks of 100 rows (3.2 MB, not aligned with the chunks), one transaction.
    let mut r0 = 0;
    while r0 < rows {
        let n = 100.min(rows - r0);
        let mut buf = Vec::with_capacity((n * cols * 8) as usize);
        for r in r0..r0 + n {
            for c in 0..cols {
                buf.extend_from_slice(&value(r, c).to_le_bytes());
            }
        }
        w.write_subarray(&k, &[r0, 0], &[n, cols], &buf, 2)?;
        r0 += n;
    }
    w.commit()?;
    let counts = store.engine_counts()?;
    // 32 KiB rows: 31 of them per chunk.
    let rows_per_chunk = etp_store::CHUNK_BYTES / (cols * 8);
    assert_eq!(rows_per_chunk, 31);
    assert_eq!(counts.chunk_blobs, rows.div_ceil(rows_per_chunk));
    assert_eq!(counts.pending_blobs, 0);

    let r = store.read()?;
    // Whole array streamed through a checking sink.
    let mut sink = CheckSink {
        pos: 0,
        row_len: cols,
        col0: 0,
        cols,
        row0: 0,
        partial: vec![],
        errors: 0,
    };
    let n = r.read_subarray(&k, &[0, 0], &[rows, cols], &mut sink)?;
    assert_eq!(n, rows * cols * 8);
    assert_eq!((sink.pos, sink.errors), (rows * cols, 0));
    // Piecewise with a different block shape.
    let mut r0 = 0;
    while r0 < rows {
        let n = 77.min(rows - r0);
        let mut sink = CheckSink {
            pos: 0,
            row_len: cols,
            col0: 10,
            cols: 3000,
            row0: r0,
            partial: vec![],
            errors: 0,
        };
        r.read_subarray(&k, &[r0, 10], &[n, 3000], &mut sink)?;
        assert_eq!((sink.pos, sink.errors), (n * 3000, 0));
        r0 += n;
    }
    // A column crosses every chunk.
    let mut sink = CheckSink {
        pos: 0,
        row_len: cols,
        col0: 4095,
        cols: 1,
        row0: 0,
        partial: vec![],
        errors: 0,
    };
    r.read_subarray(&k, &[0, 4095], &[rows, 1], &mut sink)?;
    assert_eq!((sink.pos, sink.errors), (rows, 0));
    Ok(())
}

#[test]
fn arrays_metadata_listing_and_recreate() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = tiny_chunk_store(dir.path())?;
    let mut w = store.write()?;
    let mut m = ameta(&[100, 3], ElementType::I64, 11);
    m.custom_data = bytes::Bytes::from_static(b"avro-map");
    w.create_array(&akey("", 1, "/b"), &m)?;
    w.create_array(&akey("", 1, "/a"), &ameta(&[2], ElementType::Bool, 12))?;
    w.create_array(&akey("", 2, "/a"), &ameta(&[2], ElementType::Bool, 12))?;
    w.write_subarray(&akey("", 1, "/b"), &[0, 0], &[100, 3], &[7u8; 2400], 20)?;
    w.commit()?;
    let r = store.read()?;
    let l = r.list_arrays("", &uuid(1))?;
    let paths: Vec<&str> = l.iter().map(|(k, _)| k.path.as_str()).collect();
    assert_eq!(paths, vec!["/a", "/b"]);
    let mb = &l[1].1;
    assert_eq!(mb.dimensions, vec![100, 3]);
    assert_eq!(mb.element_type, ElementType::I64);
    assert_eq!(mb.logical_type, 10);
    assert_eq!((mb.store_created, mb.store_last_write), (11, 20));
    assert_eq!(&mb.custom_data[..], b"avro-map");
    // 64-byte chunks hold 8 i64: two whole rows of 3 fit in one chunk.
    assert_eq!(mb.preferred_subarray_dims, vec![2, 3]);
    drop(r);

    // Re-create with other dimensions: old content gone, old chunks reclaimed.
    let before = store.engine_counts()?.chunk_blobs;
    assert!(before > 0);
    let mut w = store.write()?;
    let prev = w.create_array(&akey("", 1, "/b"), &ameta(&[4], ElementType::I64, 30))?;
    assert_eq!(prev.map(|p| p.dimensions), Some(vec![100, 3]));
    w.commit()?;
    assert_eq!(store.engine_counts()?.chunk_blobs, 0);
    let got = read_block(&*store.read()?, &akey("", 1, "/b"), &[0], &[4])?;
    assert_eq!(got, vec![0u8; 32]);
    Ok(())
}

#[test]
fn deleting_objects_cascades_to_arrays() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = tiny_chunk_store(dir.path())?;
    create_ds(&store, "ds", 1)?;
    let grid = okey("ds", 1);
    let epc = okey("ds", 2);
    let mut w = store.write()?;
    w.put_object(&grid, &meta("resqml22.Grid", "g", 1, vec![]), xml(1))?;
    w.put_object(
        &epc,
        &meta("eml20.obj_EpcExternalPartReference", "e", 1, vec![]),
        xml(2),
    )?;
    for (owner, path) in [(1, "/p1"), (1, "/p2"), (2, "/RESQML/x/Points")] {
        let k = akey("ds", owner, path);
        w.create_array(&k, &ameta(&[40], ElementType::F64, 1))?;
        w.write_subarray(&k, &[0], &[40], &[3u8; 320], 2)?;
    }
    w.commit()?;
    let blobs = store.engine_counts()?.chunk_blobs;
    assert_eq!(blobs, 15);

    let mut w = store.write()?;
    w.delete_object(&grid, 10, true)?;
    w.delete_object(&epc, 10, false)?;
    // Inside the transaction the arrays are already gone (read-your-writes).
    assert!(w.get_array_meta(&akey("ds", 1, "/p1"))?.is_none());
    w.commit()?;

    let r = store.read()?;
    assert!(r.list_arrays("ds", &uuid(1))?.is_empty());
    let mut out = Vec::new();
    assert!(matches!(
        r.read_subarray(&akey("ds", 1, "/p1"), &[0], &[1], &mut out),
        Err(StoreError::ArrayNotFound(_))
    ));
    // Without cascade the EPC's arrays stay readable (OSDU behaviour).
    assert_eq!(
        read_block(&*r, &akey("ds", 2, "/RESQML/x/Points"), &[0], &[40])?,
        vec![3u8; 320]
    );
    let c = store.engine_counts()?;
    assert_eq!((c.chunk_blobs, c.dead_instances), (5, 0));
    drop(r);

    let mut w = store.write()?;
    assert!(w.delete_array(&akey("ds", 2, "/RESQML/x/Points"))?);
    assert!(!w.delete_array(&akey("ds", 2, "/RESQML/x/Points"))?);
    w.commit()?;
    assert_eq!(store.engine_counts()?.chunk_blobs, 0);

    // Cascade via dataspace deletion.
    let mut w = store.write()?;
    w.create_array(&akey("ds", 7, "/q"), &ameta(&[16], ElementType::I32, 1))?;
    w.write_subarray(&akey("ds", 7, "/q"), &[0], &[16], &[1u8; 64], 2)?;
    w.commit()?;
    let mut w = store.write()?;
    assert!(matches!(
        w.delete_dataspace("ds", false),
        Err(StoreError::DataspaceNotEmpty(_))
    ));
    w.delete_dataspace("ds", true)?;
    w.commit()?;
    assert_eq!(store.engine_counts()?.chunk_blobs, 0);
    assert_eq!(
        store
            .read()?
            .list_objects("ds", &ObjectFilter::default())?
            .count(),
        0
    );
    Ok(())
}

/// `visit_subarray` hands out the bytes `read_subarray` writes, as ranges of the stored
/// chunks (pieces of one chunk are ranges of one shared buffer, not copies), and
/// never-written chunks as zeros; inside a write transaction too.
#[test]
fn visited_pieces_are_ranges_of_shared_chunks() -> TestResult {
    let dir = tempfile::tempdir()?;
    // 64-byte chunks: 16 floats, two rows of the [6, 8] array below.
    let store = tiny_chunk_store(dir.path())?;
    let k = akey("", 3, "/v");
    let dims = [6u64, 8];
    let mut w = store.write()?;
    w.create_array(&k, &ameta(&dims, ElementType::F32, 1))?;
    let rows: Vec<u8> = (0..32u16)
        .flat_map(|i| f32::from(i).to_le_bytes())
        .collect();
    // Rows 0..4 (chunks 0 and 1) written, rows 4 and 5 (chunk 2) never.
    w.write_subarray(&k, &[0, 0], &[4, 8], &rows, 2)?;
    let check = |r: &dyn etp_store::ReadTxn| -> TestResult {
        for (s, c) in [
            (vec![0u64, 0], vec![6u64, 8]),
            (vec![1, 1], vec![3, 5]),
            (vec![0, 3], vec![6, 2]),
            (vec![4, 0], vec![2, 8]),
        ] {
            let mut joined = Vec::new();
            let n = r.visit_subarray(&k, &s, &c, &mut |buf, range| {
                joined.extend_from_slice(&buf[range]);
                Ok(())
            })?;
            assert_eq!(n, joined.len() as u64);
            assert_eq!(joined, read_block(r, &k, &s, &c)?, "{s:?} {c:?}");
        }
        // Columns 1..4 of rows 0 and 1: two pieces of chunk 0, one buffer, whole.
        let mut pieces = Vec::new();
        r.visit_subarray(&k, &[0, 1], &[2, 3], &mut |buf, range| {
            pieces.push((buf.as_ptr(), buf.len(), range));
            Ok(())
        })?;
        assert_eq!(pieces.len(), 2);
        assert_eq!(
            pieces[0].0, pieces[1].0,
            "both rows share the chunk's buffer"
        );
        assert_eq!((pieces[0].1, pieces[0].2.clone()), (64, 4..16));
        assert_eq!((pieces[1].1, pieces[1].2.clone()), (64, 36..48));
        // Never written: zeros.
        let mut zeros = 0;
        r.visit_subarray(&k, &[4, 0], &[2, 8], &mut |buf, range| {
            assert!(buf[range.clone()].iter().all(|&b| b == 0));
            zeros += range.len();
            Ok(())
        })?;
        assert_eq!(zeros, 64);
        Ok(())
    };
    check(&*w)?;
    w.commit()?;
    check(&*store.read()?)?;
    Ok(())
}
