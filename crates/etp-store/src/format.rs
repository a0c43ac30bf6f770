//! The data directory's format version file and the migration hook.
//!
//! `<dir>/FORMAT` holds one line, `etp-store format <N>`. It is written before
//! the engine creates anything, so a directory without it is either empty
//! (fresh) or not ours.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::engine::FjallStore;
use crate::error::{Result, StoreError};

/// Format version this build writes and reads.
///
/// * 1: the first format.
/// * 2: `ref_counts`, every object's [`crate::ReferenceCounts`] kept at write time.
/// * 3: array chunks in segment files (`chunks/`), pointers with segment, offset, length
///   and checksum, live counts per segment in `segments`. Chunks of formats 1–2 stay
///   where they are (engine blobs, 8-byte pointers) and are read, overwritten and
///   deleted as before; a build that only knows format 2 would misread the new pointers.
pub const FORMAT_VERSION: u32 = 3;

pub(crate) const FORMAT_FILE: &str = "FORMAT";
const MAGIC: &str = "etp-store format ";

/// What [`check_or_init`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// Fresh directory: the file was just written.
    Created,
    /// Existing directory at this version.
    Version(u32),
}

/// Reads the format file, or writes it into an empty/new directory.
pub(crate) fn check_or_init(dir: &Path) -> Result<Found> {
    fs::create_dir_all(dir)?;
    let file = dir.join(FORMAT_FILE);
    match fs::read_to_string(&file) {
        Ok(text) => {
            let v = parse(&text)?;
            if v > FORMAT_VERSION {
                return Err(StoreError::UnsupportedFormatVersion {
                    found: v,
                    supported: FORMAT_VERSION,
                });
            }
            Ok(Found::Version(v))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if fs::read_dir(dir)?.next().is_some() {
                return Err(StoreError::NotAStore(dir.display().to_string()));
            }
            write_version(dir, FORMAT_VERSION)?;
            Ok(Found::Created)
        }
        Err(e) => Err(e.into()),
    }
}

fn parse(text: &str) -> Result<u32> {
    text.trim()
        .strip_prefix(MAGIC)
        .and_then(|v| v.trim().parse::<u32>().ok())
        .filter(|v| *v >= 1)
        .ok_or_else(|| StoreError::Corrupt(format!("unreadable {FORMAT_FILE} file: {text:?}")))
}

/// Atomically replaces the format file (write temp, fsync, rename, fsync dir).
pub(crate) fn write_version(dir: &Path, v: u32) -> Result<()> {
    let tmp = dir.join(format!("{FORMAT_FILE}.tmp"));
    {
        let mut f = fs::File::create(&tmp)?;
        writeln!(f, "{MAGIC}{v}")?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(FORMAT_FILE))?;
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// One upgrade step of an opened store, from format `n` to `n + 1`.
type MigrationStep = fn(&FjallStore) -> Result<()>;

/// Upgrades an opened store from `from` to [`FORMAT_VERSION`], one step at a
/// time; each step must be idempotent because a crash may repeat it. The
/// caller rewrites the format file afterwards. A new format adds
/// `(n, step_from_n_to_n_plus_1)` here.
pub(crate) fn migrate(store: &FjallStore, from: u32) -> Result<()> {
    let steps: &[(u32, MigrationStep)] = &[
        (1, crate::engine::recount_references),
        // Nothing to convert: the `chunks/` directory and the `segments` keyspace are
        // created at open, and old pointers keep resolving to the engine's blobs.
        (2, |_| Ok(())),
    ];
    let mut v = from;
    while v < FORMAT_VERSION {
        let step = steps
            .iter()
            .find(|(n, _)| *n == v)
            .ok_or_else(|| StoreError::Corrupt(format!("no migration from format {v}")))?;
        (step.1)(store)?;
        v += 1;
    }
    Ok(())
}
