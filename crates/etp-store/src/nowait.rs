//! Reads that must not wait for the disk.
//!
//! An async server runs store work on a blocking pool because a read may wait for the
//! disk, and pays two thread hand-offs per request for it. Array chunks that are in the
//! page cache (just written, or read before) are a `memcpy` away, so a caller may first
//! run a bounded read on its own thread under [`without_waiting`]: chunk reads then take
//! only what the page cache holds (`preadv2` with `RWF_NOWAIT`) and fail with
//! [`StoreError::WouldBlock`](crate::StoreError::WouldBlock) otherwise, and the caller
//! repeats the read on the blocking pool. Reads of the engine's own records (object
//! metadata, chunk pointers) are not covered: they are small and mostly in its cache.

use std::cell::Cell;

thread_local! {
    static NO_WAIT: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with the reads of array chunks on this thread limited to the page cache:
/// a chunk that is not all there fails the read with
/// [`StoreError::WouldBlock`](crate::StoreError::WouldBlock) instead of waiting for the
/// disk. Where the operating system cannot read that way, every such read fails so.
pub fn without_waiting<T>(f: impl FnOnce() -> T) -> T {
    /// Restores the previous mode even when `f` unwinds.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            NO_WAIT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(NO_WAIT.with(|c| c.replace(true)));
    f()
}

/// Whether the current thread is inside [`without_waiting`].
pub(crate) fn active() -> bool {
    NO_WAIT.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_is_scoped_and_nests() {
        assert!(!active());
        without_waiting(|| {
            assert!(active());
            without_waiting(|| assert!(active()));
            assert!(active());
        });
        assert!(!active());
        let unwound = std::panic::catch_unwind(|| without_waiting(|| panic!("inside")));
        assert!(unwound.is_err());
        assert!(!active());
    }
}
