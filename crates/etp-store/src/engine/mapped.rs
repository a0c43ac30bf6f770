//! Shared read-only mappings of committed segment files, for chunk reads without a copy.
//!
//! A chunk read through a mapping is hashed where the page cache holds it and handed on
//! as a `Bytes` over the mapping: the bytes go from the page cache straight to whoever
//! consumes them (the server's socket writes), instead of being copied into a buffer of
//! their own first. See [`Segments::read`](super::segment::Segments::read) for what keeps
//! the mapped range valid.

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Cleared on the first sign that this kernel cannot map the way reads need it
/// (`MADV_POPULATE_READ`, Linux 5.14): every read copies then.
static USABLE: AtomicBool = AtomicBool::new(true);

/// Cleared on the first sign that this kernel or file system has no `cachestat`
/// (Linux 6.5): [`Mapping::cached`] answers `None` from then on.
static CACHESTAT: AtomicBool = AtomicBool::new(true);

/// Whether reads may try a mapping at all.
pub(crate) fn usable() -> bool {
    cfg!(target_os = "linux") && USABLE.load(Ordering::Relaxed)
}

/// The first `len` bytes of a segment file, mapped shared and read-only.
pub(crate) struct Mapping {
    /// Start of the mapping (page-aligned, as `mmap` returns it).
    addr: *mut libc::c_void,
    len: usize,
    /// The mapped file, for asking the page cache about it ([`Self::cached`]).
    file: Arc<File>,
}

// SAFETY: the mapping is plain memory that is only ever read (PROT_READ) and unmapped
// once, in `drop`, when no reference to it is left; any thread may read or unmap it.
unsafe impl Send for Mapping {}
// SAFETY: as above: shared reads of read-only memory.
unsafe impl Sync for Mapping {}

/// Outcome of [`Mapping::populate`] other than success.
pub(crate) enum PopulateError {
    /// The kernel has no `MADV_POPULATE_READ`: use copies from now on.
    Unsupported,
    /// Touching the range would raise SIGBUS (the file is shorter than the mapping, or
    /// the disk failed): the read fails with this error instead.
    Io(std::io::Error),
}

/// The system's page size.
fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf only reads its integer argument.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(n)
            .ok()
            .filter(|n| n.is_power_of_two())
            .unwrap_or(4096)
    })
}

impl Mapping {
    /// Maps the first `len` bytes of `file`; `None` where mapping is not possible (zero
    /// length, a file system without `mmap`, no address space), so the read copies.
    #[cfg(target_os = "linux")]
    pub(crate) fn new(file: &Arc<File>, len: u64) -> Option<Self> {
        use std::os::fd::AsRawFd;
        let len = usize::try_from(len).ok().filter(|&n| n > 0)?;
        // SAFETY: a new mapping at an address of the kernel's choice (null hint), so no
        // existing memory is replaced; the descriptor is owned by `file`, which outlives
        // the call (the mapping keeps its own reference to the file).
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return None;
        }
        Some(Self {
            addr,
            len,
            file: file.clone(),
        })
    }

    /// Elsewhere reads copy.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn new(_file: &Arc<File>, _len: u64) -> Option<Self> {
        None
    }

    /// Mapped length.
    pub(crate) fn len(&self) -> u64 {
        self.len as u64
    }

    /// The page-aligned span `[start, end)` of the mapping covering `[off, off + len)`,
    /// as (address, length); `None` when the range is not inside the mapping.
    fn pages(&self, off: usize, len: usize) -> Option<(*mut libc::c_void, usize)> {
        let end = off.checked_add(len).filter(|&e| e <= self.len)?;
        let start = off & !(page_size() - 1);
        // SAFETY: `start` ≤ `off` ≤ `self.len`: inside the mapping (or one past its end).
        Some((
            unsafe { self.addr.cast::<u8>().add(start).cast() },
            end - start,
        ))
    }

    /// Whether every page of `[off, off + len)` is in the page cache (`mincore`): reading
    /// them then takes at most minor faults, never the disk (unless memory pressure
    /// evicts one in between, which only makes that read wait).
    #[cfg(target_os = "linux")]
    pub(crate) fn resident(&self, off: usize, len: usize) -> bool {
        let Some((mut addr, mut span)) = self.pages(off, len) else {
            return false;
        };
        let page = page_size();
        // One status byte per page, a stack buffer's worth at a time.
        let mut status = [0u8; 256];
        while span > 0 {
            let n = span.min(status.len() * page);
            // SAFETY: `addr` is page-aligned and `[addr, addr + n)` lies in this mapping;
            // mincore writes one byte per page of it, ceil(n / page) ≤ status.len().
            let rc = unsafe { libc::mincore(addr, n, status.as_mut_ptr()) };
            if rc != 0 || status[..n.div_ceil(page)].iter().any(|s| s & 1 == 0) {
                return false;
            }
            // SAFETY: `n` ≤ `span`: stays inside the mapping (or one past its end).
            addr = unsafe { addr.cast::<u8>().add(n).cast() };
            span -= n;
        }
        true
    }

    /// Elsewhere nothing is known to be resident.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn resident(&self, _off: usize, _len: usize) -> bool {
        false
    }

    /// Whether the page cache holds every page of `[off, off + len)` of the file
    /// (`cachestat`, Linux 6.5); `None` where the kernel cannot tell that way.
    ///
    /// One walk of the file's page-cache tree, a step per folio: for pages that this
    /// mapping has not mapped yet (the first read of a chunk), `mincore` looks each
    /// page up on its own instead, about 17 ms per GiB here against 0.2 ms. Unlike
    /// `mincore` it also counts pages whose read from disk is still in flight, so
    /// touching them may wait for that read: fit for reads that may wait, not for
    /// [`crate::nowait`] ones.
    #[cfg(target_os = "linux")]
    pub(crate) fn cached(&self, off: usize, len: usize) -> Option<bool> {
        use std::os::fd::AsRawFd;
        /// `struct cachestat_range` of `<linux/mman.h>`.
        #[repr(C)]
        struct Range {
            off: u64,
            len: u64,
        }
        /// `struct cachestat` of `<linux/mman.h>`.
        #[repr(C)]
        #[derive(Default)]
        struct Stat {
            nr_cache: u64,
            nr_dirty: u64,
            nr_writeback: u64,
            nr_evicted: u64,
            nr_recently_evicted: u64,
        }
        /// Its number, the same on every architecture (new system calls share one
        /// table since Linux 5.1); the `libc` crate does not list it for x86_64 yet.
        const SYS_CACHESTAT: libc::c_long = 451;
        if len == 0 || !CACHESTAT.load(Ordering::Relaxed) {
            return None;
        }
        let end = off.checked_add(len).filter(|&e| e <= self.len)?;
        let page = page_size();
        let pages = (end.div_ceil(page) - off / page) as u64;
        let range = Range {
            off: off as u64,
            len: len as u64,
        };
        let mut stat = Stat::default();
        // SAFETY: cachestat reads `range` and writes one `struct cachestat` into `stat`,
        // both live locals of the kernel's layout (`#[repr(C)]`, five and two `u64`s);
        // the descriptor is owned by `self.file`, which outlives the call; flags are 0.
        let rc = unsafe {
            libc::syscall(
                SYS_CACHESTAT,
                self.file.as_raw_fd(),
                &raw const range,
                &raw mut stat,
                0u32,
            )
        };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                // ENOSYS (older kernel), EOPNOTSUPP (hugetlbfs), EPERM: not this way.
                CACHESTAT.store(false, Ordering::Relaxed);
            }
            return None;
        }
        Some(stat.nr_cache >= pages)
    }

    /// Elsewhere the page cache is not asked.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn cached(&self, _off: usize, _len: usize) -> Option<bool> {
        None
    }

    /// Maps the pages of `[off, off + len)` into the page tables in one call
    /// (`MADV_POPULATE_READ`), reading from disk what the page cache lacks: the hash then
    /// takes no page fault, and a range that would raise SIGBUS when touched (a file cut
    /// short behind the store's back, a failing disk) is an error here instead.
    #[cfg(target_os = "linux")]
    pub(crate) fn populate(&self, off: usize, len: usize) -> Result<(), PopulateError> {
        let Some((addr, span)) = self.pages(off, len) else {
            return Err(PopulateError::Io(std::io::ErrorKind::InvalidInput.into()));
        };
        loop {
            // SAFETY: `[addr, addr + span)` is a page-aligned range of this mapping;
            // MADV_POPULATE_READ only faults its pages in, changing no memory contents.
            if unsafe { libc::madvise(addr, span, libc::MADV_POPULATE_READ) } == 0 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR | libc::EAGAIN) => continue,
                Some(libc::EINVAL) => {
                    USABLE.store(false, Ordering::Relaxed);
                    return Err(PopulateError::Unsupported);
                }
                _ => return Err(PopulateError::Io(e)),
            }
        }
    }

    /// Elsewhere mappings are never made.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn populate(&self, _off: usize, _len: usize) -> Result<(), PopulateError> {
        Err(PopulateError::Unsupported)
    }

    /// The mapped bytes `[off, off + len)`; the caller checked the range against
    /// [`Self::len`].
    ///
    /// What the returned slice reads must not change while it is borrowed: that holds for
    /// the ranges `Segments` hands out (see the SAFETY comment in its `read_mapped`).
    pub(crate) fn bytes(&self, off: usize, len: usize) -> &[u8] {
        if off.checked_add(len).is_none_or(|end| end > self.len) {
            return &[];
        }
        // SAFETY: `[off, off + len)` lies inside the mapping (checked above), which stays
        // mapped while `self` is borrowed (unmapped only in `drop`) and is readable
        // (PROT_READ). Its contents do not change while the slice lives: see the caller.
        unsafe { std::slice::from_raw_parts(self.addr.cast::<u8>().add(off), len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `addr, len` is the mapping made in `new`, unmapped only here; no slice
        // of it outlives `self` (every `bytes` borrow ends before `drop`).
        unsafe { libc::munmap(self.addr, self.len) };
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    /// Drops the file's clean pages from the page cache.
    fn evict(file: &File) {
        // SAFETY: posix_fadvise only reads its integer arguments; the descriptor is
        // owned by `file`, which outlives the call.
        let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(rc, 0);
    }

    #[test]
    fn cachestat_sees_what_the_page_cache_holds() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("seg");
        let data: Vec<u8> = (0..5 * 4096 + 100).map(|i| (i % 251) as u8).collect();
        File::create(&path)?.write_all(&data)?;
        let file = Arc::new(File::open(&path)?);
        file.sync_all()?;
        let map = Mapping::new(&file, data.len() as u64).ok_or(std::io::ErrorKind::Other)?;
        let Some(all) = map.cached(0, data.len()) else {
            // A kernel without cachestat (before 6.5): reads fall back to mincore.
            return Ok(());
        };
        assert!(all, "just written");
        assert_eq!(map.cached(100, 9000), Some(true), "unaligned range");
        assert_eq!(map.cached(0, data.len() + 1), None, "past the mapping");
        evict(&file);
        assert_eq!(map.cached(4096, 10), Some(false), "evicted");
        assert!(!map.resident(0, data.len()));
        assert!(matches!(map.populate(4096, 8192), Ok(())));
        assert_eq!(map.cached(4096, 8192), Some(true), "read in again");
        assert!(map.bytes(0, data.len()) == &data[..]);
        Ok(())
    }
}
