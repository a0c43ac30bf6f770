//! NumPy `.npy` files (format versions 1.0, 2.0 and 3.0), read and written block by block
//! so that arrays larger than memory stream between disk and an ETP store.
//!
//! Layout: the magic `\x93NUMPY`, two version bytes, the header length (`u16` LE in 1.0,
//! `u32` LE in 2.0/3.0), the header — a Python dict literal such as
//! `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }` padded with spaces to a
//! multiple of 64 bytes and ending in `\n` (ASCII in 1.0/2.0, UTF-8 in 3.0) — then the raw
//! elements.
//!
//! Supported element types, and how they travel in ETP (transport / logical type):
//!
//! | dtype | ETP transport | ETP logical |
//! |---|---|---|
//! | `b1` | arrayOfBoolean | arrayOfBoolean |
//! | `i1` / `u1` | bytes | arrayOfInt8 / arrayOfUInt8 |
//! | `i2` / `u2` | arrayOfInt | arrayOfInt16LE / arrayOfUInt16LE |
//! | `i4` | arrayOfInt | arrayOfInt32LE |
//! | `u4` | arrayOfLong | arrayOfUInt32LE |
//! | `i8` | arrayOfLong | arrayOfInt64LE |
//! | `u8` | arrayOfLong (same 64 bits) | arrayOfUInt64LE |
//! | `f4` / `f8` | arrayOfFloat / arrayOfDouble | arrayOfFloat32LE / arrayOfDouble64LE |
//! | `U<n>` | arrayOfString | arrayOfString |
//!
//! Both byte orders are read; files are written little-endian. Only C order is accepted
//! (`fortran_order: False`): ETP arrays are row-major. Writing strings needs the longest
//! one before the header can be written, so string arrays are buffered in memory.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{Context, bail};
use etp_client::ops::{ArraySink, ArraySource, ArrayValues, BlockWriter};
use etp_protocol::types::datatypes::{AnyArrayType, AnyLogicalArrayType};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// Largest header accepted when reading: real headers are a few hundred bytes.
const MAX_HEADER_LEN: usize = 1 << 20;

/// An element type of a `.npy` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    /// `b1`.
    Bool,
    /// `i1`.
    I8,
    /// `u1`.
    U8,
    /// `i2`.
    I16,
    /// `u2`.
    U16,
    /// `i4`.
    I32,
    /// `u4`.
    U32,
    /// `i8`.
    I64,
    /// `u8`.
    U64,
    /// `f4`.
    F32,
    /// `f8`.
    F64,
    /// `U<n>`: fixed-width UTF-32 text of `n` characters.
    Unicode(usize),
}

impl ElementType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            ElementType::Bool | ElementType::I8 | ElementType::U8 => 1,
            ElementType::I16 | ElementType::U16 => 2,
            ElementType::I32 | ElementType::U32 | ElementType::F32 => 4,
            ElementType::I64 | ElementType::U64 | ElementType::F64 => 8,
            ElementType::Unicode(chars) => 4 * chars,
        }
    }

    /// The ETP transport and logical types of arrays of this element type.
    pub fn etp_types(self) -> (AnyArrayType, AnyLogicalArrayType) {
        use AnyArrayType as T;
        use AnyLogicalArrayType as L;
        match self {
            ElementType::Bool => (T::ArrayOfBoolean, L::ArrayOfBoolean),
            ElementType::I8 => (T::Bytes, L::ArrayOfInt8),
            ElementType::U8 => (T::Bytes, L::ArrayOfUInt8),
            ElementType::I16 => (T::ArrayOfInt, L::ArrayOfInt16LE),
            ElementType::U16 => (T::ArrayOfInt, L::ArrayOfUInt16LE),
            ElementType::I32 => (T::ArrayOfInt, L::ArrayOfInt32LE),
            ElementType::U32 => (T::ArrayOfLong, L::ArrayOfUInt32LE),
            ElementType::I64 => (T::ArrayOfLong, L::ArrayOfInt64LE),
            ElementType::U64 => (T::ArrayOfLong, L::ArrayOfUInt64LE),
            ElementType::F32 => (T::ArrayOfFloat, L::ArrayOfFloat32LE),
            ElementType::F64 => (T::ArrayOfDouble, L::ArrayOfDouble64LE),
            ElementType::Unicode(_) => (T::ArrayOfString, L::ArrayOfString),
        }
    }

    /// The element type to write an ETP array into, from its transport type refined by its
    /// logical type (strings start at width 0 and grow with the data).
    pub fn for_etp(transport: AnyArrayType, logical: AnyLogicalArrayType) -> ElementType {
        use AnyLogicalArrayType as L;
        match transport {
            AnyArrayType::ArrayOfBoolean => ElementType::Bool,
            AnyArrayType::Bytes => match logical {
                L::ArrayOfUInt8 => ElementType::U8,
                _ => ElementType::I8,
            },
            AnyArrayType::ArrayOfInt => match logical {
                L::ArrayOfInt16LE | L::ArrayOfInt16BE => ElementType::I16,
                L::ArrayOfUInt16LE | L::ArrayOfUInt16BE => ElementType::U16,
                _ => ElementType::I32,
            },
            AnyArrayType::ArrayOfLong => match logical {
                L::ArrayOfUInt32LE | L::ArrayOfUInt32BE => ElementType::U32,
                L::ArrayOfUInt64LE | L::ArrayOfUInt64BE => ElementType::U64,
                _ => ElementType::I64,
            },
            AnyArrayType::ArrayOfFloat => ElementType::F32,
            AnyArrayType::ArrayOfDouble => ElementType::F64,
            AnyArrayType::ArrayOfString => ElementType::Unicode(0),
        }
    }

    /// The `descr` of a little-endian file.
    fn descr(self) -> String {
        match self {
            ElementType::Bool => "|b1".into(),
            ElementType::I8 => "|i1".into(),
            ElementType::U8 => "|u1".into(),
            ElementType::I16 => "<i2".into(),
            ElementType::U16 => "<u2".into(),
            ElementType::I32 => "<i4".into(),
            ElementType::U32 => "<u4".into(),
            ElementType::I64 => "<i8".into(),
            ElementType::U64 => "<u8".into(),
            ElementType::F32 => "<f4".into(),
            ElementType::F64 => "<f8".into(),
            ElementType::Unicode(n) => format!("<U{n}"),
        }
    }
}

/// What the header of a `.npy` file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Element type.
    pub element: ElementType,
    /// Whether multi-byte elements are big-endian.
    pub big_endian: bool,
    /// Whether the data is in Fortran (column-major) order.
    pub fortran_order: bool,
    /// Dimensions, slowest first.
    pub shape: Vec<u64>,
}

impl Header {
    /// The number of elements; fails on overflow.
    pub fn element_count(&self) -> anyhow::Result<u64> {
        self.shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .with_context(|| format!("shape {:?} overflows", self.shape))
    }

    /// The complete preamble (magic, version, length, padded header) of a little-endian
    /// C-order file: version 1.0 when the header fits its 16-bit length, else 2.0.
    pub fn encode(&self) -> Vec<u8> {
        let shape = match self.shape.as_slice() {
            [] => "()".to_string(),
            [one] => format!("({one},)"),
            many => format!(
                "({})",
                many.iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let dict = format!(
            "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
            self.element.descr()
        );
        let encode_with = |len_bytes: usize, major: u8| {
            let unpadded = MAGIC.len() + 2 + len_bytes + dict.len() + 1;
            let padding = unpadded.next_multiple_of(64) - unpadded;
            let header_len = dict.len() + padding + 1;
            let mut out = Vec::with_capacity(unpadded + padding);
            out.extend_from_slice(MAGIC);
            out.extend_from_slice(&[major, 0]);
            if len_bytes == 2 {
                out.extend_from_slice(&(header_len as u16).to_le_bytes());
            } else {
                out.extend_from_slice(&(header_len as u32).to_le_bytes());
            }
            out.extend_from_slice(dict.as_bytes());
            out.resize(out.len() + padding, b' ');
            out.push(b'\n');
            (out, header_len)
        };
        let (v1, len) = encode_with(2, 1);
        if len <= usize::from(u16::MAX) {
            v1
        } else {
            encode_with(4, 2).0
        }
    }

    /// Reads the preamble from `reader`; returns the header and the preamble's length
    /// (where the data starts).
    pub fn read(reader: &mut impl Read) -> anyhow::Result<(Header, u64)> {
        let mut start = [0u8; 8];
        reader
            .read_exact(&mut start)
            .context("too short for a .npy file")?;
        if &start[..6] != MAGIC {
            bail!("not a .npy file (bad magic)");
        }
        let major = start[6];
        let len_bytes = match major {
            1 => 2,
            2 | 3 => 4,
            v => bail!("unsupported .npy format version {v}.{}", start[7]),
        };
        let mut len_buf = [0u8; 4];
        reader
            .read_exact(&mut len_buf[..len_bytes])
            .context("truncated .npy header length")?;
        let header_len = u32::from_le_bytes(len_buf) as usize;
        if header_len > MAX_HEADER_LEN {
            bail!(".npy header of {header_len} bytes is implausibly large");
        }
        let mut text = vec![0u8; header_len];
        reader
            .read_exact(&mut text)
            .context("truncated .npy header")?;
        let text = if major == 3 {
            String::from_utf8(text).context(".npy header is not UTF-8")?
        } else {
            if !text.is_ascii() {
                bail!(".npy header of a version {major} file is not ASCII");
            }
            String::from_utf8(text).context(".npy header is not text")?
        };
        let header = parse_dict(&text)?;
        Ok((header, (8 + len_bytes + header_len) as u64))
    }
}

/// Parses the header dict: the keys `descr`, `fortran_order` and `shape`, in any order.
fn parse_dict(text: &str) -> anyhow::Result<Header> {
    let mut p = DictParser {
        text: text.trim_end(),
        pos: 0,
    };
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    p.expect('{')?;
    loop {
        p.skip_spaces();
        if p.eat('}') {
            break;
        }
        let key = p.string()?;
        p.expect(':')?;
        match key.as_str() {
            "descr" => descr = Some(p.string().context("descr must be a simple type string")?),
            "fortran_order" => fortran = Some(p.boolean()?),
            "shape" => shape = Some(p.tuple()?),
            other => bail!("unknown key {other:?} in .npy header"),
        }
        p.skip_spaces();
        if !p.eat(',') {
            p.expect('}')?;
            break;
        }
    }
    let descr = descr.context(".npy header without descr")?;
    let (element, big_endian) = parse_descr(&descr)?;
    Ok(Header {
        element,
        big_endian,
        fortran_order: fortran.context(".npy header without fortran_order")?,
        shape: shape.context(".npy header without shape")?,
    })
}

/// `<f8`, `>i4`, `|b1`, `<U12`...
fn parse_descr(descr: &str) -> anyhow::Result<(ElementType, bool)> {
    let unsupported = || anyhow::anyhow!("unsupported .npy element type {descr:?}");
    let mut chars = descr.chars();
    let order = chars.next().ok_or_else(unsupported)?;
    let big_endian = match order {
        '<' | '|' => false,
        '>' => true,
        '=' => cfg!(target_endian = "big"),
        _ => return Err(unsupported()),
    };
    let rest = chars.as_str();
    let element = match rest {
        "b1" | "?" => ElementType::Bool,
        "i1" => ElementType::I8,
        "u1" => ElementType::U8,
        "i2" => ElementType::I16,
        "u2" => ElementType::U16,
        "i4" => ElementType::I32,
        "u4" => ElementType::U32,
        "i8" => ElementType::I64,
        "u8" => ElementType::U64,
        "f4" => ElementType::F32,
        "f8" => ElementType::F64,
        _ => match rest.strip_prefix('U').map(str::parse::<usize>) {
            Some(Ok(n)) if n <= 1 << 20 => ElementType::Unicode(n),
            _ => return Err(unsupported()),
        },
    };
    Ok((element, big_endian))
}

struct DictParser<'a> {
    text: &'a str,
    pos: usize,
}

impl DictParser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_spaces(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_spaces();
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> anyhow::Result<()> {
        if self.eat(c) {
            Ok(())
        } else {
            bail!(
                "malformed .npy header: expected {c:?} at {:?}",
                self.rest().chars().take(20).collect::<String>()
            )
        }
    }

    fn string(&mut self) -> anyhow::Result<String> {
        self.skip_spaces();
        let quote = match self.rest().chars().next() {
            Some(q @ ('\'' | '"')) => q,
            _ => bail!("malformed .npy header: expected a string"),
        };
        self.pos += 1;
        let end = self
            .rest()
            .find(quote)
            .context("malformed .npy header: unterminated string")?;
        let value = self.rest()[..end].to_string();
        self.pos += end + 1;
        Ok(value)
    }

    fn boolean(&mut self) -> anyhow::Result<bool> {
        self.skip_spaces();
        for (word, value) in [("True", true), ("False", false)] {
            if self.rest().starts_with(word) {
                self.pos += word.len();
                return Ok(value);
            }
        }
        bail!("malformed .npy header: expected True or False")
    }

    fn tuple(&mut self) -> anyhow::Result<Vec<u64>> {
        self.expect('(')?;
        let mut out = Vec::new();
        loop {
            if self.eat(')') {
                return Ok(out);
            }
            self.skip_spaces();
            let digits = self.rest().chars().take_while(char::is_ascii_digit).count();
            if digits == 0 {
                bail!("malformed .npy header: expected a dimension");
            }
            out.push(
                self.rest()[..digits]
                    .parse()
                    .context("dimension out of range")?,
            );
            self.pos += digits;
            if !self.eat(',') {
                self.expect(')')?;
                return Ok(out);
            }
        }
    }
}

/// A `.npy` file opened for reading, an [`ArraySource`] for uploads.
#[derive(Debug)]
pub struct NpyReader {
    file: BufReader<File>,
    /// The file's header.
    pub header: Header,
    data_start: u64,
    /// Where the next sequential read starts, to avoid needless seeks.
    position: u64,
    /// The last block's bytes ([`ArraySource::read_into`]), reused for the next.
    scratch: Vec<u8>,
}

impl NpyReader {
    /// Opens `path` and checks that the data matches the header (C order, complete).
    pub fn open(path: &Path) -> anyhow::Result<NpyReader> {
        let mut file = BufReader::new(
            File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        );
        let (header, data_start) =
            Header::read(&mut file).with_context(|| format!("reading {}", path.display()))?;
        if header.fortran_order {
            bail!(
                "{} is in Fortran order; ETP arrays are row-major (save it with C order)",
                path.display()
            );
        }
        let expected = header
            .element_count()?
            .checked_mul(header.element.size() as u64)
            .context("array size overflows")?;
        let actual = file.get_ref().metadata()?.len().saturating_sub(data_start);
        if actual < expected {
            bail!(
                "{} is truncated: {actual} bytes of data for {expected} expected",
                path.display()
            );
        }
        Ok(NpyReader {
            file,
            header,
            data_start,
            position: data_start,
            scratch: Vec::new(),
        })
    }
}

impl ArraySource for NpyReader {
    fn read(&mut self, offset: u64, count: usize) -> std::io::Result<ArrayValues> {
        let size = self.header.element.size();
        let at = offset
            .checked_mul(size as u64)
            .and_then(|o| o.checked_add(self.data_start))
            .ok_or_else(|| std::io::Error::other("offset overflows"))?;
        if at != self.position {
            self.file.seek(SeekFrom::Start(at))?;
        }
        let len = count
            .checked_mul(size)
            .ok_or_else(|| std::io::Error::other("block size overflows"))?;
        if self.header.element == ElementType::Unicode(0) {
            // `<U0`: every element is the empty string and takes no bytes.
            return Ok(ArrayValues::String(vec![String::new(); count]));
        }
        let mut bytes = vec![0u8; len];
        self.file.read_exact(&mut bytes)?;
        self.position = at + len as u64;
        decode(&bytes, self.header.element, self.header.big_endian)
    }

    /// Little-endian `float64` / `float32` data goes from the file straight to the
    /// message (one copy into a reused buffer, none into a vector of values).
    fn read_into(
        &mut self,
        offset: u64,
        count: usize,
        out: &mut BlockWriter<'_>,
    ) -> std::io::Result<()> {
        let raw = matches!(
            (self.header.element, out.transport_type()),
            (ElementType::F64, AnyArrayType::ArrayOfDouble)
                | (ElementType::F32, AnyArrayType::ArrayOfFloat)
        ) && !self.header.big_endian;
        if !raw {
            let values = self.read(offset, count)?;
            return out.write_values(&values);
        }
        let size = self.header.element.size();
        let at = offset
            .checked_mul(size as u64)
            .and_then(|o| o.checked_add(self.data_start))
            .ok_or_else(|| std::io::Error::other("offset overflows"))?;
        let len = count
            .checked_mul(size)
            .ok_or_else(|| std::io::Error::other("block size overflows"))?;
        if at != self.position {
            self.file.seek(SeekFrom::Start(at))?;
        }
        self.scratch.resize(len, 0);
        self.file.read_exact(&mut self.scratch)?;
        self.position = at + len as u64;
        out.write_le_bytes(&self.scratch)
    }
}

/// Values from raw element bytes.
fn decode(bytes: &[u8], element: ElementType, big: bool) -> std::io::Result<ArrayValues> {
    macro_rules! numbers {
        ($t:ty, $n:literal) => {
            bytes.chunks_exact($n).map(|c| {
                let mut a = [0u8; $n];
                a.copy_from_slice(c);
                if big {
                    <$t>::from_be_bytes(a)
                } else {
                    <$t>::from_le_bytes(a)
                }
            })
        };
    }
    Ok(match element {
        ElementType::Bool => ArrayValues::Boolean(bytes.iter().map(|&b| b != 0).collect()),
        ElementType::I8 | ElementType::U8 => ArrayValues::Bytes(bytes.to_vec()),
        ElementType::I16 => ArrayValues::Int(numbers!(i16, 2).map(i32::from).collect()),
        ElementType::U16 => ArrayValues::Int(numbers!(u16, 2).map(i32::from).collect()),
        ElementType::I32 => ArrayValues::Int(numbers!(i32, 4).collect()),
        ElementType::U32 => ArrayValues::Long(numbers!(u32, 4).map(i64::from).collect()),
        ElementType::I64 => ArrayValues::Long(numbers!(i64, 8).collect()),
        // Same 64 bits; the logical type says they are unsigned.
        ElementType::U64 => ArrayValues::Long(numbers!(u64, 8).map(|v| v as i64).collect()),
        ElementType::F32 => ArrayValues::Float(numbers!(f32, 4).collect()),
        ElementType::F64 => ArrayValues::Double(numbers!(f64, 8).collect()),
        ElementType::Unicode(chars) => {
            let mut out = Vec::with_capacity(bytes.len() / (4 * chars).max(1));
            for item in bytes.chunks_exact((4 * chars).max(1)) {
                let mut text = String::new();
                for unit in numbers_u32(item, big) {
                    if unit == 0 {
                        break;
                    }
                    text.push(char::from_u32(unit).ok_or_else(|| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            format!("invalid character U+{unit:X} in a string element"),
                        )
                    })?);
                }
                out.push(text);
            }
            ArrayValues::String(out)
        }
    })
}

fn numbers_u32(bytes: &[u8], big: bool) -> impl Iterator<Item = u32> + '_ {
    bytes.chunks_exact(4).map(move |c| {
        let a = [c[0], c[1], c[2], c[3]];
        if big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    })
}

/// A `.npy` (or headerless `.raw`) file being written, an [`ArraySink`] for downloads.
/// Numbers go to disk as they arrive; strings are kept until [`NpyWriter::finish`].
#[derive(Debug)]
pub struct NpyWriter {
    file: BufWriter<File>,
    element: ElementType,
    shape: Vec<u64>,
    written: u64,
    strings: Vec<String>,
}

impl NpyWriter {
    /// Creates `path` for an array of `shape` and element type; `raw` leaves out the
    /// header (plain little-endian elements).
    pub fn create(
        path: &Path,
        element: ElementType,
        shape: &[u64],
        raw: bool,
    ) -> anyhow::Result<NpyWriter> {
        if raw && matches!(element, ElementType::Unicode(_)) {
            bail!("string arrays have no raw form; write a .npy file");
        }
        let mut file = BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        );
        if !raw && !matches!(element, ElementType::Unicode(_)) {
            let header = Header {
                element,
                big_endian: false,
                fortran_order: false,
                shape: shape.to_vec(),
            };
            file.write_all(&header.encode())?;
        }
        Ok(NpyWriter {
            file,
            element,
            shape: shape.to_vec(),
            written: 0,
            strings: Vec::new(),
        })
    }

    /// Writes what is pending (string arrays, with their header) and flushes; fails if
    /// fewer elements than the shape holds were written.
    pub fn finish(mut self) -> anyhow::Result<()> {
        let expected = self
            .shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .context("shape overflows")?;
        if self.written != expected {
            bail!(
                "{} elements written for a shape of {expected}",
                self.written
            );
        }
        if let ElementType::Unicode(_) = self.element {
            let width = self
                .strings
                .iter()
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
                .max(1);
            let header = Header {
                element: ElementType::Unicode(width),
                big_endian: false,
                fortran_order: false,
                shape: self.shape.clone(),
            };
            self.file.write_all(&header.encode())?;
            let mut item = Vec::with_capacity(4 * width);
            for s in &self.strings {
                item.clear();
                for c in s.chars() {
                    item.extend_from_slice(&(c as u32).to_le_bytes());
                }
                item.resize(4 * width, 0);
                self.file.write_all(&item)?;
            }
        }
        self.file.flush()?;
        Ok(())
    }

    fn encode(&self, values: ArrayValues) -> std::io::Result<Vec<u8>> {
        let wrong = |v: &ArrayValues| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} values cannot be written as {}",
                    v.transport_type(),
                    self.element.descr()
                ),
            )
        };
        let out_of_range = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("value out of range for {}", self.element.descr()),
            )
        };
        macro_rules! narrow {
            ($values:expr, $t:ty) => {{
                let mut out = Vec::with_capacity($values.len() * std::mem::size_of::<$t>());
                for v in $values {
                    let n = <$t>::try_from(*v).map_err(|_| out_of_range())?;
                    out.extend_from_slice(&n.to_le_bytes());
                }
                out
            }};
        }
        Ok(match (&values, self.element) {
            (ArrayValues::Boolean(v), ElementType::Bool) => {
                v.iter().map(|&b| u8::from(b)).collect()
            }
            (ArrayValues::Bytes(v), ElementType::I8 | ElementType::U8) => v.clone(),
            (ArrayValues::Int(v), ElementType::I16) => narrow!(v, i16),
            (ArrayValues::Int(v), ElementType::U16) => narrow!(v, u16),
            (ArrayValues::Int(v), ElementType::I32) => narrow!(v, i32),
            (ArrayValues::Long(v), ElementType::U32) => narrow!(v, u32),
            (ArrayValues::Long(v), ElementType::I64) => narrow!(v, i64),
            (ArrayValues::Long(v), ElementType::U64) => {
                v.iter().flat_map(|&n| (n as u64).to_le_bytes()).collect()
            }
            (ArrayValues::Float(v), ElementType::F32) => {
                v.iter().flat_map(|n| n.to_le_bytes()).collect()
            }
            (ArrayValues::Double(v), ElementType::F64) => {
                v.iter().flat_map(|n| n.to_le_bytes()).collect()
            }
            _ => return Err(wrong(&values)),
        })
    }
}

impl ArraySink for NpyWriter {
    fn write(&mut self, offset: u64, values: ArrayValues) -> std::io::Result<()> {
        if offset != self.written {
            return Err(std::io::Error::other(format!(
                "block at element {offset} while {} were written",
                self.written
            )));
        }
        self.written += values.len() as u64;
        if let ElementType::Unicode(_) = self.element {
            return match values {
                ArrayValues::String(v) => {
                    self.strings.extend(v);
                    Ok(())
                }
                other => Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} values for a string array", other.transport_type()),
                )),
            };
        }
        let bytes = self.encode(values)?;
        self.file.write_all(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(element: ElementType, shape: &[u64]) -> Header {
        Header {
            element,
            big_endian: false,
            fortran_order: false,
            shape: shape.to_vec(),
        }
    }

    #[test]
    fn header_round_trip_and_alignment() {
        for (element, shape) in [
            (ElementType::F64, vec![3u64, 4]),
            (ElementType::I32, vec![7]),
            (ElementType::Bool, vec![]),
            (ElementType::Unicode(12), vec![2, 2, 2]),
        ] {
            let h = header(element, &shape);
            let bytes = h.encode();
            assert_eq!(bytes.len() % 64, 0);
            assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
            assert_eq!(*bytes.last().unwrap(), b'\n');
            let (back, start) = Header::read(&mut &bytes[..]).unwrap();
            assert_eq!(back, h);
            assert_eq!(start, bytes.len() as u64);
        }
        // A shape too long for a 16-bit header length needs version 2.0.
        let long = header(ElementType::U8, &vec![1; 30_000]);
        let bytes = long.encode();
        assert_eq!(&bytes[6..8], b"\x02\x00");
        assert_eq!(bytes.len() % 64, 0);
        assert_eq!(Header::read(&mut &bytes[..]).unwrap().0, long);
    }

    #[test]
    fn parses_numpy_headers() {
        // Exactly what numpy 1.x/2.x writes, including keys in another order and big
        // endian, plus a version 3.0 file.
        let text = "{'descr': '>i4', 'fortran_order': False, 'shape': (2, 3), }";
        let h = parse_dict(text).unwrap();
        assert_eq!(h.element, ElementType::I32);
        assert!(h.big_endian);
        assert_eq!(h.shape, [2, 3]);
        let h = parse_dict("{'shape': (5,), 'fortran_order': True, 'descr': '|b1'}").unwrap();
        assert_eq!(
            (h.element, h.fortran_order, h.shape),
            (ElementType::Bool, true, vec![5])
        );
        let h = parse_dict("{'descr': '<U7', 'fortran_order': False, 'shape': ()}").unwrap();
        assert_eq!(h.element, ElementType::Unicode(7));
        assert!(h.shape.is_empty());
        let mut v3 = b"\x93NUMPY\x03\x00".to_vec();
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n";
        v3.extend_from_slice(&(dict.len() as u32).to_le_bytes());
        v3.extend_from_slice(dict.as_bytes());
        assert_eq!(
            Header::read(&mut &v3[..]).unwrap().0.element,
            ElementType::F32
        );
    }

    #[test]
    fn rejects_bad_headers() {
        for text in [
            "{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (2,)}",
            "{'descr': '<c16', 'fortran_order': False, 'shape': (2,)}",
            "{'descr': '<f8', 'shape': (2,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (a,)}",
            "{'descr': '<f8', 'fortran_order': Maybe, 'shape': (2,)}",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
            "not a dict",
        ] {
            assert!(parse_dict(text).is_err(), "{text}");
        }
        assert!(Header::read(&mut &b"\x93NUMPX\x01\x00\x00\x00"[..]).is_err());
        assert!(Header::read(&mut &b"\x93NUMPY\x09\x00\x00\x00"[..]).is_err());
        let mut huge = b"\x93NUMPY\x02\x00".to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(Header::read(&mut &huge[..]).is_err());
    }

    fn round_trip(element: ElementType, shape: &[u64], values: ArrayValues) -> ArrayValues {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        let mut w = NpyWriter::create(&path, element, shape, false).unwrap();
        // Two blocks, as a download would deliver them.
        let mut first = values.clone();
        let second = first.split_off(values.len() / 2);
        let n = first.len() as u64;
        w.write(0, first).unwrap();
        w.write(n, second).unwrap();
        w.finish().unwrap();
        let mut r = NpyReader::open(&path).unwrap();
        assert_eq!(r.header.shape, shape);
        let total = r.header.element_count().unwrap() as usize;
        let mut all = r.read(0, 1).unwrap();
        all.append(r.read(1, total - 1).unwrap()).unwrap();
        all
    }

    #[test]
    fn writes_and_reads_every_type() {
        let cases = vec![
            (
                ElementType::F64,
                ArrayValues::Double(vec![1.5, -2.0, f64::MAX, 0.0, 3.25, 1e-300]),
            ),
            (
                ElementType::F32,
                ArrayValues::Float(vec![1.5, -2.0, 0.0, 7.0, 8.0, 9.0]),
            ),
            (
                ElementType::I64,
                ArrayValues::Long(vec![i64::MIN, -1, 0, 1, i64::MAX, 5]),
            ),
            (ElementType::U64, ArrayValues::Long(vec![-1, 0, 1, 2, 3, 4])),
            (
                ElementType::I32,
                ArrayValues::Int(vec![i32::MIN, -1, 0, 1, i32::MAX, 5]),
            ),
            (
                ElementType::U32,
                ArrayValues::Long(vec![0, 1, 2, u32::MAX as i64, 4, 5]),
            ),
            (
                ElementType::I16,
                ArrayValues::Int(vec![-32768, -1, 0, 1, 32767, 5]),
            ),
            (
                ElementType::U16,
                ArrayValues::Int(vec![0, 1, 2, 65535, 4, 5]),
            ),
            (
                ElementType::I8,
                ArrayValues::Bytes(vec![0, 1, 127, 128, 255, 5]),
            ),
            (
                ElementType::U8,
                ArrayValues::Bytes(vec![0, 1, 127, 128, 255, 5]),
            ),
            (
                ElementType::Bool,
                ArrayValues::Boolean(vec![true, false, true, true, false, false]),
            ),
            (
                ElementType::Unicode(0),
                ArrayValues::String(
                    ["a", "", "héllo", "z", "日本", "tail"]
                        .map(String::from)
                        .to_vec(),
                ),
            ),
        ];
        for (element, values) in cases {
            let back = round_trip(element, &[2, 3], values.clone());
            assert_eq!(back, values, "{element:?}");
            assert_eq!(element.etp_types().0, values.transport_type());
            let (t, l) = element.etp_types();
            let again = ElementType::for_etp(t, l);
            match element {
                ElementType::Unicode(_) => assert_eq!(again, ElementType::Unicode(0)),
                _ => assert_eq!(again, element),
            }
        }
    }

    #[test]
    fn reads_big_endian_and_refuses_fortran_or_truncated_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("be.npy");
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let dict = "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }";
        let pad = (8 + 2 + dict.len() + 1).next_multiple_of(64) - (8 + 2 + dict.len() + 1);
        let len = dict.len() + pad + 1;
        bytes.extend_from_slice(&(len as u16).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        bytes.extend(std::iter::repeat_n(b' ', pad));
        bytes.push(b'\n');
        bytes.extend_from_slice(&1.5f64.to_be_bytes());
        bytes.extend_from_slice(&(-3.0f64).to_be_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let mut r = NpyReader::open(&path).unwrap();
        assert_eq!(r.read(0, 2).unwrap(), ArrayValues::Double(vec![1.5, -3.0]));

        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert!(
            NpyReader::open(&path)
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );

        let fortran = Header {
            fortran_order: true,
            ..header(ElementType::U8, &[1])
        };
        let mut f = fortran.encode();
        // `encode` always writes C order; patch the flag like numpy would write it.
        let at = f.windows(5).position(|w| w == b"False").unwrap();
        f.splice(at..at + 5, b"True ".iter().copied());
        f.push(0);
        std::fs::write(&path, &f).unwrap();
        assert!(
            NpyReader::open(&path)
                .unwrap_err()
                .to_string()
                .contains("Fortran")
        );
    }

    #[test]
    fn writer_checks_types_ranges_and_completeness() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let mut w = NpyWriter::create(&path, ElementType::I16, &[2], false).unwrap();
        assert!(w.write(0, ArrayValues::Int(vec![70_000])).is_err());
        let mut w = NpyWriter::create(&path, ElementType::F64, &[2], false).unwrap();
        assert!(w.write(0, ArrayValues::Int(vec![1, 2])).is_err());
        let mut w = NpyWriter::create(&path, ElementType::F64, &[2], true).unwrap();
        w.write(0, ArrayValues::Double(vec![1.0])).unwrap();
        assert!(w.write(5, ArrayValues::Double(vec![1.0])).is_err());
        let w = NpyWriter::create(&path, ElementType::F64, &[2], true).unwrap();
        assert!(w.finish().is_err());
        let mut w = NpyWriter::create(&path, ElementType::F64, &[2], true).unwrap();
        w.write(0, ArrayValues::Double(vec![1.0, 2.0])).unwrap();
        w.finish().unwrap();
        // Raw: no header, just the elements.
        assert_eq!(std::fs::read(&path).unwrap().len(), 16);
        assert!(NpyWriter::create(&path, ElementType::Unicode(0), &[1], true).is_err());
    }
}
