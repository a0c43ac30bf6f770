//! Shared read-only mappings of committed segment files, for chunk reads without a copy.
//!
//! A chunk read through a mapping is hashed where the page cache holds it and handed on
//! as a `Bytes` over the mapping: the bytes go from the page cache straight to whoever
//! consumes them (the server's socket writes), instead of being copied into a buffer of
//! their own first. See [`Segments::read`](super::segment::Segments::read) for what keeps
//! the mapped range valid.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};

/// Cleared on the first sign that this kernel cannot map the way reads need it
/// (`MADV_POPULATE_READ`, Linux 5.14): every read copies then.
static USABLE: AtomicBool = AtomicBool::new(true);

/// Whether reads may try a mapping at all.
pub(crate) fn usable() -> bool {
    cfg!(target_os = "linux") && USABLE.load(Ordering::Relaxed)
}

/// The first `len` bytes of a segment file, mapped shared and read-only.
pub(crate) struct Mapping {
    /// Start of the mapping (page-aligned, as `mmap` returns it).
    addr: *mut libc::c_void,
    len: usize,
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
    pub(crate) fn new(file: &File, len: u64) -> Option<Self> {
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
        Some(Self { addr, len })
    }

    /// Elsewhere reads copy.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn new(_file: &File, _len: u64) -> Option<Self> {
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
