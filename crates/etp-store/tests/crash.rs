//! Crash safety: a child process commits transactions in a loop and is
//! killed with SIGKILL at arbitrary points; after reopening, every commit the
//! child reported is complete and no partial transaction is visible.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use etp_store::{ElementType, FjallStore, Store, StoreConfig};

const DS: &str = "crash";
const TYPE: &str = "resqml20.obj_Grid2dRepresentation";
const HEAD_TYPE: &str = "eml20.obj_Head";
/// 200,000 f64 = 1.6 MB per array, in 64 KiB chunks (25 chunks).
const ELEMS: u64 = 200_000;
const CHUNK_BYTES: u64 = 64 * 1024;
const OVERWRITE: u64 = 1000;
const ENV: &str = "ETP_STORE_CRASH_DIR";

fn payload(i: u64) -> Bytes {
    let mut s = format!("<obj n=\"{i}\">");
    while s.len() < 20 * 1024 {
        s.push_str(&format!("{i:>12}"));
    }
    s.push_str("</obj>");
    Bytes::from(s)
}

fn head_key() -> etp_store::ObjectKey {
    okey(DS, u64::MAX)
}

fn f64_block(v: f64, n: u64) -> Vec<u8> {
    (0..n).flat_map(|_| v.to_le_bytes()).collect()
}

/// The writer run in the child process. Ignored in normal runs; the parent
/// test starts it explicitly.
#[test]
#[ignore = "child process of crash_safety_under_sigkill"]
fn crash_child_writer() -> TestResult {
    let dir =
        std::env::var_os(ENV).ok_or_else(|| fail("run by crash_safety_under_sigkill only"))?;
    let store = FjallStore::open_with(
        &dir,
        StoreConfig {
            array_chunk_bytes: CHUNK_BYTES,
            ..StoreConfig::default()
        },
    )?;
    if store.read()?.get_dataspace(DS)?.is_none() {
        create_ds(&store, DS, 1)?;
    }
    let start = match store.read()?.get_object(&head_key())? {
        Some(o) => std::str::from_utf8(&o.data)?.parse::<u64>()? + 1,
        None => 0,
    };
    let mut out = std::io::stdout().lock();
    for i in start.. {
        let mut w = store.write()?;
        let refs = if i > 0 {
            vec![reference(i - 1, TYPE)]
        } else {
            vec![]
        };
        w.put_object(&okey(DS, i), &meta(TYPE, "g", i as i64, refs), payload(i))?;
        let k = akey(DS, i, "/a");
        w.create_array(&k, &ameta(&[ELEMS], ElementType::F64, i as i64))?;
        // Four pieces, not aligned with the chunks.
        let piece = ELEMS / 4;
        for p in 0..4 {
            w.write_subarray(
                &k,
                &[p * piece],
                &[piece],
                &f64_block(i as f64, piece),
                i as i64,
            )?;
        }
        if i > 0 {
            // Copy-on-write of a committed chunk of the previous array.
            let prev = akey(DS, i - 1, "/a");
            w.write_subarray(
                &prev,
                &[0],
                &[OVERWRITE],
                &f64_block(i as f64, OVERWRITE),
                i as i64,
            )?;
        }
        w.put_object(
            &head_key(),
            &meta(HEAD_TYPE, "head", i as i64, vec![]),
            Bytes::from(i.to_string()),
        )?;
        w.commit()?;
        writeln!(out, "COMMITTED {i}")?;
        out.flush()?;
    }
    Ok(())
}

fn read_f64s(store: &FjallStore, i: u64) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let mut out = Vec::new();
    store
        .read()?
        .read_subarray(&akey(DS, i, "/a"), &[0], &[ELEMS], &mut out)?;
    Ok(out
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect())
}

/// Checks the recovered store; returns the last committed index.
fn verify(
    dir: &std::path::Path,
    reported: Option<u64>,
) -> Result<Option<u64>, Box<dyn std::error::Error>> {
    let store = FjallStore::open(dir)?;
    let c = store.engine_counts()?;
    assert_eq!(
        (c.pending_blobs, c.dead_instances, c.pending_segments),
        (0, 0, 0),
        "recovery left garbage"
    );
    // Every segment file on disk is a committed, live one.
    assert_eq!(c.segment_files, c.live_segments, "leaked segment files");
    let r = store.read()?;
    let head = match r.get_object(&head_key())? {
        Some(o) => Some(std::str::from_utf8(&o.data)?.parse::<u64>()?),
        None => None,
    };
    // Every reported commit is there; at most one more (committed, not yet reported).
    match (reported, head) {
        (None, None) => {}
        (None, Some(h)) => assert_eq!(h, 0),
        (Some(rp), Some(h)) => assert!(h == rp || h == rp + 1, "reported {rp}, head {h}"),
        (Some(rp), None) => return Err(fail(format!("reported commit {rp} lost"))),
    }
    let n = head.map_or(0, |h| h + 1);
    let counts = r.count_by_type(DS)?;
    let grids = counts
        .iter()
        .find(|(t, _)| t == TYPE)
        .map_or(0, |(_, c)| *c);
    assert_eq!(grids, n, "objects of a partial transaction visible");
    for i in 0..n {
        let o = r
            .get_object(&okey(DS, i))?
            .ok_or_else(|| fail(format!("object {i} missing")))?;
        assert_eq!(o.data, payload(i));
        let v = read_f64s(&store, i)?;
        // Overwritten by transaction i + 1 if that one committed.
        let first = if i + 1 < n { (i + 1) as f64 } else { i as f64 };
        assert!(
            v[..OVERWRITE as usize].iter().all(|x| *x == first),
            "array {i} head"
        );
        assert!(
            v[OVERWRITE as usize..].iter().all(|x| *x == i as f64),
            "array {i} body"
        );
    }
    assert_eq!(r.get_object(&okey(DS, n))?, None);
    assert_eq!(r.get_array_meta(&akey(DS, n, "/a"))?, None);
    let per_array = ELEMS * 8 / CHUNK_BYTES + 1;
    let c = store.engine_counts()?;
    assert_eq!(
        (c.chunk_blobs, c.chunk_pointers),
        (n * per_array, n * per_array),
        "leaked chunks"
    );
    Ok(head)
}

#[test]
fn crash_safety_under_sigkill() -> TestResult {
    let dir = tempfile::tempdir()?;
    let exe = std::env::current_exe()?;
    let mut reported: Option<u64> = None;
    for round in 0..3u64 {
        let mut child = Command::new(&exe)
            .args([
                "--ignored",
                "--exact",
                "crash_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| fail("no stdout"))?;
        let child = Arc::new(Mutex::new(child));
        // Watchdog: never let a stuck child hang the test.
        let wd = {
            let child = child.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(300));
                if let Ok(mut c) = child.lock() {
                    let _ = c.kill();
                }
            })
        };
        drop(wd);
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = 0;
        let target = 4 + round * 3;
        while seen < target {
            let Some(line) = lines.next() else {
                return Err(fail(format!(
                    "child exited after {seen} commits (round {round})"
                )));
            };
            if let Some(n) = line?.strip_prefix("COMMITTED ") {
                reported = Some(n.trim().parse()?);
                seen += 1;
            }
        }
        // Land somewhere inside the next transaction.
        std::thread::sleep(Duration::from_millis([2, 60, 150][round as usize]));
        {
            let mut c = child.lock().map_err(|_| fail("poisoned"))?;
            c.kill()?; // SIGKILL
            c.wait()?;
        }
        // Lines already in the pipe were reported before the kill.
        for line in lines {
            if let Some(n) = line?.strip_prefix("COMMITTED ") {
                reported = Some(n.trim().parse()?);
            }
        }
        let head = verify(dir.path(), reported)?;
        // The next round continues from what is actually committed.
        reported = head;
    }
    assert!(reported.is_some_and(|r| r >= 20), "{reported:?}");
    Ok(())
}
