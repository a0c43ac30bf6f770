use std::fmt;

/// What went wrong while decoding an Avro datum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended before the datum did.
    #[error("unexpected end of input: {needed} more bytes needed, {available} available")]
    UnexpectedEof {
        /// Bytes the decoder needed at that point.
        needed: u64,
        /// Bytes that were left.
        available: usize,
    },
    /// A varint ran over the maximum length of its type (5 bytes for `int`, 10 for `long`).
    #[error("varint longer than {max_bytes} bytes")]
    OverlongVarint {
        /// The longest valid encoding of the type.
        max_bytes: u8,
    },
    /// An `int` field held a value outside the 32-bit range.
    #[error("int value {0} out of 32-bit range")]
    IntOutOfRange(i64),
    /// A string, bytes or block byte size was negative.
    #[error("negative length {0}")]
    NegativeLength(i64),
    /// A string or bytes length is larger than what is left of the input.
    #[error("length {length} exceeds the {available} bytes left")]
    LengthExceedsInput {
        /// The declared length.
        length: u64,
        /// Bytes left in the input.
        available: usize,
    },
    /// An array or map block declares more items than the remaining input can hold.
    #[error("block of {count} items cannot fit in the {available} bytes left")]
    CountExceedsInput {
        /// The declared item count.
        count: u64,
        /// Bytes left in the input.
        available: usize,
    },
    /// A string was not valid UTF-8.
    #[error("invalid UTF-8 in string")]
    InvalidUtf8,
    /// A union branch index outside the union.
    #[error("union branch index {index} out of range (union has {branches} branches)")]
    InvalidUnionIndex {
        /// The index read.
        index: i64,
        /// Number of branches in the union.
        branches: usize,
    },
    /// An enum index outside the enum's symbols.
    #[error("enum index {index} out of range (enum has {symbols} symbols)")]
    InvalidEnumIndex {
        /// The index read.
        index: i32,
        /// Number of symbols.
        symbols: usize,
    },
    /// A boolean byte other than 0 or 1.
    #[error("invalid boolean byte {0:#04x}")]
    InvalidBoolean(u8),
    /// Bytes were left over after the datum.
    #[error("{0} trailing bytes after the datum")]
    TrailingBytes(usize),
}

/// A failed decode: the kind of failure, where in the input it happened and which
/// field (as a path from the outermost record) was being decoded.
///
/// Boxed so that `Result<T, DecodeError>` stays one word larger than `T` on the hot path.
#[derive(Clone, PartialEq, Eq)]
pub struct DecodeError(Box<Inner>);

#[derive(Clone, PartialEq, Eq)]
struct Inner {
    kind: DecodeErrorKind,
    offset: usize,
    // Innermost field first: names are pushed while the error unwinds.
    path: Vec<&'static str>,
}

impl DecodeError {
    /// An error of `kind` found at byte `offset` of the input.
    #[cold]
    pub fn new(kind: DecodeErrorKind, offset: usize) -> Self {
        DecodeError(Box::new(Inner {
            kind,
            offset,
            path: Vec::new(),
        }))
    }

    /// Records that the error happened inside `field` (called while unwinding).
    #[cold]
    pub fn in_field(mut self, field: &'static str) -> Self {
        self.0.path.push(field);
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> &DecodeErrorKind {
        &self.0.kind
    }

    /// Byte offset in the input where the failure was detected.
    pub fn offset(&self) -> usize {
        self.0.offset
    }

    /// The field path from the outermost record to the failing field, e.g. `GetResources.context.uri`.
    pub fn field_path(&self) -> String {
        let mut names: Vec<&str> = self.0.path.clone();
        names.reverse();
        names.join(".")
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.0.kind, self.0.offset)?;
        if !self.0.path.is_empty() {
            write!(f, " while decoding {}", self.field_path())?;
        }
        Ok(())
    }
}

impl fmt::Debug for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for DecodeError {}
