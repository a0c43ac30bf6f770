//! Measures the store operations the ETP server depends on, on `FjallStore`
//! and on a plain-file baseline in the same run, and prints medians of
//! repeated runs and their ratio.
//!
//! ```text
//! cargo run --release -p etp-store --example store_bench -- [--quick] [DIR]
//! ```
//!
//! Baseline: one file per object (`<dir>/<type>/<uuid>`) and one file per
//! array, written with `write_all` and made durable with `fsync` of every
//! file and directory per batch. It keeps no index, references or metadata,
//! so it is a lower bound for the work a store must do. Set
//! `ETP_BENCH_NO_KV_SEP=1` to create the object keyspace without key-value
//! separation. Reads are timed after a 5 s pause that lets the engine's
//! background flushes and compactions of the bulk load finish.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use bytes::Bytes;
use etp_store::{
    ActiveStatus, ArrayKey, ArrayMeta, ElementType, FjallStore, ObjectFilter, ObjectKey,
    ObjectMeta, Reference, RelationshipKind, Store, StoreConfig, TypeFilter,
};

type R<T = ()> = Result<T, Box<dyn std::error::Error>>;

const TYPES: [&str; 4] = [
    "resqml20.obj_Grid2dRepresentation",
    "resqml20.obj_LocalDepth3dCrs",
    "resqml20.obj_HorizonInterpretation",
    "resqml20.obj_ContinuousProperty",
];
const OBJ_BYTES: usize = 20 * 1024;
const BATCH: u64 = 100;
const MIB: usize = 1 << 20;

struct Cfg {
    put_objects: u64,
    scan_objects: u64,
    gets: u64,
    array_mib: u64,
    reps: usize,
    base: PathBuf,
}

fn uuid(n: u64) -> [u8; 16] {
    let mut u = [0u8; 16];
    u[..8].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    u[8..].copy_from_slice(&n.to_be_bytes());
    u
}

fn hex(u: &[u8; 16]) -> String {
    u.iter().map(|b| format!("{b:02x}")).collect()
}

fn type_of(n: u64) -> &'static str {
    TYPES[(n % 4) as usize]
}

fn doc(n: u64) -> Bytes {
    let mut v = format!("<resqml2:Obj uuid=\"{}\">", hex(&uuid(n))).into_bytes();
    let mut x = n | 1;
    while v.len() < OBJ_BYTES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(format!("<v>{}</v>", x % 100_000).as_bytes());
    }
    v.truncate(OBJ_BYTES);
    Bytes::from(v)
}

/// Object `n` references the CRS hub (object 0) and its parent `n / 10`.
fn meta(n: u64) -> ObjectMeta {
    let r = |t: u64| Reference {
        target_uuid: uuid(t),
        target_type: type_of(t).to_string(),
        name: "rsq:Ref".to_string(),
        kind: RelationshipKind::Primary,
    };
    let references = if n == 0 {
        vec![]
    } else {
        vec![r(0), r(n / 10)]
    };
    ObjectMeta {
        qualified_type: type_of(n).to_string(),
        title: format!("object {n}"),
        last_changed: 1_700_000_000_000_000 + n as i64,
        store_created: 1_700_000_000_000_000,
        store_last_write: 1_700_000_000_000_000 + n as i64,
        active_status: ActiveStatus::Active,
        format: "xml".to_string(),
        custom_data: Bytes::new(),
        references,
        data_len: 0,
    }
}

fn open_store(dir: &Path) -> R<FjallStore> {
    let kv = std::env::var_os("ETP_BENCH_NO_KV_SEP").is_none();
    Ok(FjallStore::open_with(
        dir,
        StoreConfig {
            object_kv_separation: kv,
            ..StoreConfig::default()
        },
    )?)
}

fn fresh(base: &Path, name: &str) -> R<PathBuf> {
    let p = base.join(name);
    if p.exists() {
        fs::remove_dir_all(&p)?;
    }
    Ok(p)
}

// ------------------------------------------------------------ fjall side

fn fjall_put_objects(store: &FjallStore, n: u64) -> R {
    let mut w = store.write()?;
    w.put_dataspace(&etp_store::Dataspace {
        path: "ds".into(),
        store_created: 1,
        store_last_write: 1,
        custom_data: Bytes::new(),
    })?;
    w.commit()?;
    let mut i = 0;
    while i < n {
        let mut w = store.write()?;
        for j in i..(i + BATCH).min(n) {
            w.put_object(&ObjectKey::new("ds", uuid(j)), &meta(j), doc(j))?;
        }
        w.commit()?;
        i += BATCH;
    }
    Ok(())
}

fn fjall_gets(store: &FjallStore, n: u64, gets: u64) -> R<u64> {
    let mut x = 88172645463325252u64;
    let mut bytes = 0;
    for _ in 0..gets {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let r = store.read()?;
        let o = r
            .get_object(&ObjectKey::new("ds", uuid(x % n)))?
            .ok_or("missing object")?;
        bytes += o.data.len() as u64;
    }
    Ok(bytes)
}

fn fjall_scan(store: &FjallStore) -> R<u64> {
    let r = store.read()?;
    let mut n = 0;
    for o in r.list_objects("ds", &ObjectFilter::default())? {
        o?;
        n += 1;
    }
    Ok(n)
}

fn fjall_scan_type(store: &FjallStore) -> R<u64> {
    let r = store.read()?;
    let f = ObjectFilter {
        types: vec![TypeFilter::Exact(TYPES[1].into())],
        ..Default::default()
    };
    Ok(r.list_objects("ds", &f)?.count() as u64)
}

fn array_key() -> ArrayKey {
    ArrayKey {
        dataspace: String::new(),
        owner: uuid(1),
        path: "/RESQML/x/values".into(),
    }
}

fn block(i: u64) -> Vec<u8> {
    (0..MIB / 8)
        .flat_map(|j| ((i * 131_072 + j as u64) as f64).to_le_bytes())
        .collect()
}

fn fjall_array_write(store: &FjallStore, mib: u64) -> R {
    let k = array_key();
    let per = (MIB / 8) as u64;
    let mut w = store.write()?;
    w.create_array(
        &k,
        &ArrayMeta {
            dimensions: vec![mib, per],
            element_type: ElementType::F64,
            logical_type: 10,
            preferred_subarray_dims: vec![],
            store_created: 1,
            store_last_write: 1,
            custom_data: Bytes::new(),
        },
    )?;
    for i in 0..mib {
        w.write_subarray(&k, &[i, 0], &[1, per], &block(i), 2)?;
    }
    w.commit()?;
    Ok(())
}

fn fjall_array_read(store: &FjallStore, mib: u64) -> R<u64> {
    let k = array_key();
    let per = (MIB / 8) as u64;
    let r = store.read()?;
    let mut buf = Vec::with_capacity(MIB);
    let mut sum = 0u64;
    for i in 0..mib {
        buf.clear();
        r.read_subarray(&k, &[i, 0], &[1, per], &mut buf)?;
        sum += buf[8] as u64;
    }
    Ok(sum)
}

// ------------------------------------------------------------ file side

fn file_put_objects(dir: &Path, n: u64) -> R {
    for t in TYPES {
        fs::create_dir_all(dir.join(t))?;
    }
    fs::File::open(dir)?.sync_all()?;
    let mut i = 0;
    while i < n {
        let mut files = Vec::with_capacity(BATCH as usize);
        for j in i..(i + BATCH).min(n) {
            let mut f = fs::File::create(dir.join(type_of(j)).join(hex(&uuid(j))))?;
            f.write_all(&doc(j))?;
            files.push(f);
        }
        for f in files {
            f.sync_all()?;
        }
        for t in TYPES {
            fs::File::open(dir.join(t))?.sync_all()?;
        }
        i += BATCH;
    }
    Ok(())
}

fn file_gets(dir: &Path, n: u64, gets: u64) -> R<u64> {
    let mut x = 88172645463325252u64;
    let mut bytes = 0;
    for _ in 0..gets {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = x % n;
        bytes += fs::read(dir.join(type_of(j)).join(hex(&uuid(j))))?.len() as u64;
    }
    Ok(bytes)
}

fn file_scan(dir: &Path, types: &[&str]) -> R<u64> {
    let mut n = 0;
    for t in types {
        for e in fs::read_dir(dir.join(t))? {
            let e = e?;
            n += u64::from(e.metadata()?.len() > 0);
        }
    }
    Ok(n)
}

fn file_array_write(dir: &Path, mib: u64) -> R {
    fs::create_dir_all(dir)?;
    let mut f = fs::File::create(dir.join("array"))?;
    for i in 0..mib {
        f.write_all(&block(i))?;
    }
    f.sync_all()?;
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

fn file_array_read(dir: &Path, mib: u64) -> R<u64> {
    let mut f = fs::File::open(dir.join("array"))?;
    let mut buf = vec![0u8; MIB];
    let mut sum = 0u64;
    for i in 0..mib {
        f.seek(SeekFrom::Start(i * MIB as u64))?;
        f.read_exact(&mut buf)?;
        sum += buf[8] as u64;
    }
    Ok(sum)
}

// ------------------------------------------------------------ harness

struct Row {
    name: &'static str,
    unit: &'static str,
    fjall: Vec<f64>,
    files: Vec<f64>,
}

fn median(v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s[s.len() / 2];
    let spread = if m > 0.0 {
        (s[s.len() - 1] - s[0]) / m
    } else {
        0.0
    };
    (m, spread)
}

fn timed(f: impl FnOnce() -> R) -> R<f64> {
    let t = Instant::now();
    f()?;
    Ok(t.elapsed().as_secs_f64())
}

fn main() -> R {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let base = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("etp-store-bench"));
    let cfg = if quick {
        Cfg {
            put_objects: 2_000,
            scan_objects: 10_000,
            gets: 5_000,
            array_mib: 64,
            reps: 3,
            base,
        }
    } else {
        Cfg {
            put_objects: 5_000,
            scan_objects: 100_000,
            gets: 20_000,
            array_mib: 512,
            reps: 3,
            base,
        }
    };
    fs::create_dir_all(&cfg.base)?;
    let mut rows = vec![
        Row {
            name: "object puts, 20 KiB, 100/commit, durable",
            unit: "objects/s",
            fjall: vec![],
            files: vec![],
        },
        Row {
            name: "single-object commits",
            unit: "commits/s",
            fjall: vec![],
            files: vec![],
        },
        Row {
            name: "point gets (random, snapshot per get)",
            unit: "gets/s",
            fjall: vec![],
            files: vec![],
        },
        Row {
            name: "list dataspace (all objects)",
            unit: "objects/s",
            fjall: vec![],
            files: vec![],
        },
        Row {
            name: "list one type (1/4 of objects)",
            unit: "objects/s",
            fjall: vec![],
            files: vec![],
        },
        Row {
            name: "array write, 1 MiB blocks, 1 txn, durable",
            unit: "MB/s",
            fjall: vec![],
            files: vec![],
        },
        Row {
            name: "array read, 1 MiB blocks (warm)",
            unit: "MB/s",
            fjall: vec![],
            files: vec![],
        },
    ];
    let mut walk_ms = Vec::new();
    let mut hub_ms = Vec::new();
    let mut types_ms = Vec::new();
    let mut disk = (0u64, 0u64);

    for rep in 0..cfg.reps {
        eprintln!("repetition {} of {}", rep + 1, cfg.reps);
        // Alternate the order so neither side always runs on a warmer disk.
        let sides: [&str; 2] = if rep % 2 == 0 {
            ["fjall", "files"]
        } else {
            ["files", "fjall"]
        };
        for side in sides {
            let put_n = cfg.put_objects;
            if side == "fjall" {
                let d = fresh(&cfg.base, "fjall-put")?;
                let store = open_store(&d)?;
                let t = timed(|| fjall_put_objects(&store, put_n))?;
                rows[0].fjall.push(put_n as f64 / t);
                let t = timed(|| {
                    for j in 0..200 {
                        let mut w = store.write()?;
                        w.put_object(&ObjectKey::new("ds", uuid(j)), &meta(j), doc(j))?;
                        w.commit()?;
                    }
                    Ok(())
                })?;
                rows[1].fjall.push(200.0 / t);
                drop(store);
                fs::remove_dir_all(&d)?;

                // Read-side dataset: scan_objects objects.
                let d = fresh(&cfg.base, "fjall-scan")?;
                let store = open_store(&d)?;
                fjall_put_objects(&store, cfg.scan_objects)?;
                disk.0 = du(&d)?;
                settle();
                fjall_scan(&store)?; // warm
                let t = timed(|| fjall_gets(&store, cfg.scan_objects, cfg.gets).map(|_| ()))?;
                rows[2].fjall.push(cfg.gets as f64 / t);
                let mut n = 0;
                let t = timed(|| {
                    n = fjall_scan(&store)?;
                    Ok(())
                })?;
                rows[3].fjall.push(n as f64 / t);
                let t = timed(|| {
                    n = fjall_scan_type(&store)?;
                    Ok(())
                })?;
                rows[4].fjall.push(n as f64 / t);
                // Discovery depth 1 from a typical object: its sources and targets with metadata.
                let t = timed(|| {
                    for k in 1..101u64 {
                        let r = store.read()?;
                        let key = ObjectKey::new("ds", uuid(k * 7));
                        for e in r.sources_of("ds", &key.uuid)? {
                            r.get_object_meta(&e.source)?;
                        }
                        for t in r.targets_of(&key)?.unwrap_or_default() {
                            r.objects_by_uuid("ds", &t.target_uuid)?;
                        }
                    }
                    Ok(())
                })?;
                walk_ms.push(t * 1000.0 / 100.0);
                // Depth 1 "sources" from the CRS hub: every object references it.
                let t = timed(|| {
                    let r = store.read()?;
                    let edges = r.sources_of("ds", &uuid(0))?;
                    for e in &edges {
                        r.get_object_meta(&e.source)?;
                    }
                    if (edges.len() as u64) < cfg.scan_objects - 1 {
                        return Err("hub edges".into());
                    }
                    Ok(())
                })?;
                hub_ms.push(t * 1000.0);
                let t = timed(|| {
                    store.read()?.count_by_type("ds")?;
                    Ok(())
                })?;
                types_ms.push(t * 1000.0);
                drop(store);
                fs::remove_dir_all(&d)?;

                let d = fresh(&cfg.base, "fjall-array")?;
                let store = open_store(&d)?;
                let mb = (cfg.array_mib * MIB as u64) as f64 / 1e6;
                let t = timed(|| fjall_array_write(&store, cfg.array_mib))?;
                rows[5].fjall.push(mb / t);
                fjall_array_read(&store, cfg.array_mib)?; // warm
                let t = timed(|| fjall_array_read(&store, cfg.array_mib).map(|_| ()))?;
                rows[6].fjall.push(mb / t);
                drop(store);
                fs::remove_dir_all(&d)?;
            } else {
                let d = fresh(&cfg.base, "files-put")?;
                fs::create_dir_all(&d)?;
                let t = timed(|| file_put_objects(&d, put_n))?;
                rows[0].files.push(put_n as f64 / t);
                let t = timed(|| {
                    for j in 0..200u64 {
                        let p = d.join(type_of(j)).join(hex(&uuid(j)));
                        let mut f = fs::File::create(&p)?;
                        f.write_all(&doc(j))?;
                        f.sync_all()?;
                        fs::File::open(d.join(type_of(j)))?.sync_all()?;
                    }
                    Ok(())
                })?;
                rows[1].files.push(200.0 / t);
                fs::remove_dir_all(&d)?;

                let d = fresh(&cfg.base, "files-scan")?;
                fs::create_dir_all(&d)?;
                // Untimed build: no per-batch fsync, one sync at the end.
                for t in TYPES {
                    fs::create_dir_all(d.join(t))?;
                }
                for j in 0..cfg.scan_objects {
                    fs::write(d.join(type_of(j)).join(hex(&uuid(j))), doc(j))?;
                }
                let out = std::process::Command::new("sync").status();
                drop(out);
                disk.1 = du(&d)?;
                settle();
                file_scan(&d, &TYPES)?; // warm
                let t = timed(|| file_gets(&d, cfg.scan_objects, cfg.gets).map(|_| ()))?;
                rows[2].files.push(cfg.gets as f64 / t);
                let mut n = 0;
                let t = timed(|| {
                    n = file_scan(&d, &TYPES)?;
                    Ok(())
                })?;
                rows[3].files.push(n as f64 / t);
                let t = timed(|| {
                    n = file_scan(&d, &TYPES[1..2])?;
                    Ok(())
                })?;
                rows[4].files.push(n as f64 / t);
                fs::remove_dir_all(&d)?;

                let d = fresh(&cfg.base, "files-array")?;
                let mb = (cfg.array_mib * MIB as u64) as f64 / 1e6;
                let t = timed(|| file_array_write(&d, cfg.array_mib))?;
                rows[5].files.push(mb / t);
                file_array_read(&d, cfg.array_mib)?;
                let t = timed(|| file_array_read(&d, cfg.array_mib).map(|_| ()))?;
                rows[6].files.push(mb / t);
                fs::remove_dir_all(&d)?;
            }
        }
    }

    println!(
        "objects: puts {} × 20 KiB; read-side dataset {} × 20 KiB; {} random gets; array {} MiB; {} repetitions",
        cfg.put_objects, cfg.scan_objects, cfg.gets, cfg.array_mib, cfg.reps
    );
    println!("| operation | unit | fjall store | files | fjall / files |");
    println!("|---|---|---:|---:|---:|");
    for r in &rows {
        let (f, fs_) = median(&r.fjall);
        let (b, bs) = median(&r.files);
        println!(
            "| {} | {} | {:.0} ({:.0}%) | {:.0} ({:.0}%) | **{:.2}×** |",
            r.name,
            r.unit,
            f,
            fs_ * 100.0,
            b,
            bs * 100.0,
            f / b
        );
    }
    let (w, ws) = median(&walk_ms);
    let (h, hs) = median(&hub_ms);
    let (c, cs) = median(&types_ms);
    println!(
        "| discovery depth 1, typical object (≤ 10 sources + 2 targets, with metadata) | ms | {w:.3} ({:.0}%) | – | – |",
        ws * 100.0
    );
    println!(
        "| discovery depth 1, hub with {} sources (with metadata) | ms | {h:.1} ({:.0}%) | – | – |",
        cfg.scan_objects - 1,
        hs * 100.0
    );
    println!(
        "| count_by_type over {} objects | ms | {c:.3} ({:.0}%) | – | – |",
        cfg.scan_objects,
        cs * 100.0
    );
    println!(
        "| disk footprint of the read-side dataset ({:.0} MB raw) | MB | {:.0} | {:.0} | **{:.2}×** |",
        (cfg.scan_objects as f64 * OBJ_BYTES as f64) / 1e6,
        disk.0 as f64 / 1e6,
        disk.1 as f64 / 1e6,
        disk.0 as f64 / disk.1 as f64
    );
    Ok(())
}

/// Lets background flushes and compactions of the bulk load finish before
/// reads are timed (both sides wait the same).
fn settle() {
    std::thread::sleep(std::time::Duration::from_secs(5));
}

/// Allocated bytes under a directory (`du`-style, 512-byte blocks).
fn du(dir: &Path) -> R<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d)? {
            let e = e?;
            let m = e.metadata()?;
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total += m.blocks() * 512;
            }
        }
    }
    Ok(total)
}
