//! Typed errors of the storage layer.

/// Everything a store operation can fail with.
///
/// The server maps these onto ETP error codes (for example `ArrayNotFound` → 11
/// `ENOT_FOUND`, `InvalidArgument`/`OutOfRange` → 5 `EINVALID_ARGUMENT`,
/// `Conflict` → a failed commit), so the variants separate "the request is
/// wrong" from "the store is broken".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The embedded engine reported a failure (I/O, corruption detected by the
    /// engine, poisoned after a failed fsync). Not caused by the request.
    #[error("storage engine error: {0}")]
    Engine(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// Plain file-system error outside the engine (data directory, format file).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),

    /// The data directory holds a format version this build does not know.
    /// Opening it could corrupt data written by a newer release.
    #[error(
        "data directory format version {found} is newer than the supported version {supported}; \
         upgrade the server or point it at another directory"
    )]
    UnsupportedFormatVersion {
        /// Version found in the data directory.
        found: u32,
        /// Newest version this build can read.
        supported: u32,
    },

    /// Another process (or another `FjallStore` in this one) has the data
    /// directory open.
    #[error("data directory is in use by another store instance")]
    Locked,

    /// The data directory exists, is not empty, and is not an etp-store directory.
    #[error("{0} is not an etp-store data directory (no format file, but not empty)")]
    NotAStore(String),

    /// A stored record could not be decoded: the data on disk is damaged or was
    /// written by an incompatible build.
    #[error("corrupt store record: {0}")]
    Corrupt(String),

    /// The dataspace does not exist.
    #[error("dataspace not found: {0:?}")]
    DataspaceNotFound(String),

    /// The dataspace still holds data objects or arrays and cascade was not requested.
    #[error("dataspace {0:?} is not empty")]
    DataspaceNotEmpty(String),

    /// The array does not exist (never created, deleted, or deleted with its object).
    #[error("array not found: {0}")]
    ArrayNotFound(String),

    /// A request argument is invalid (rank mismatch, zero rank, wrong data length,
    /// key component too long, etc.).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A subarray request reaches outside the array.
    #[error(
        "subarray out of range in dimension {dim}: start {start} + count {count} > size {size}"
    )]
    OutOfRange {
        /// Zero-based dimension index.
        dim: usize,
        /// Requested start in that dimension.
        start: u64,
        /// Requested count in that dimension.
        count: u64,
        /// Size of the array in that dimension.
        size: u64,
    },

    /// A size computation (product of dimensions, byte length) does not fit in 64 bits.
    #[error("size overflow: {0}")]
    SizeOverflow(String),

    /// The operation does not apply to the array's element type (e.g. a byte
    /// write into a string array).
    #[error("element type mismatch: array holds {array}, request uses {request}")]
    TypeMismatch {
        /// Element type of the stored array.
        array: &'static str,
        /// Element type the request assumed.
        request: &'static str,
    },

    /// Another transaction committed a change to data this transaction read or
    /// wrote. Nothing of this transaction was applied. Cannot happen when writers
    /// to a dataspace are serialized (see [`crate::DataspaceLocks`]).
    #[error("write conflict with a concurrently committed transaction; nothing was applied")]
    Conflict,

    /// The transaction was already committed or rolled back.
    #[error("transaction is no longer active")]
    TxnFinished,

    /// The read needs the disk and runs under [`crate::without_waiting`]: nothing is
    /// wrong, the caller repeats it where waiting is allowed.
    #[error("the read would wait for the disk")]
    WouldBlock,
}

impl From<fjall::Error> for StoreError {
    fn from(e: fjall::Error) -> Self {
        match e {
            fjall::Error::Locked => StoreError::Locked,
            e => StoreError::Engine(Box::new(e)),
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
