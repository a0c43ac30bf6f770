//! Byte encodings: order-preserving keys and compact little-endian values.
//!
//! Values start with a one-byte record version so that a later format can add
//! fields without rewriting everything (see `format.rs`).

use crate::error::{Result, StoreError};
use crate::types::{
    ActiveStatus, ArrayMeta, Dataspace, ElementType, ObjectMeta, ObjectRow, Reference,
    ReferenceCounts, ReferenceList, ReferenceRef, ReferencesRepr, RelationshipKind, SessionRecord,
    Uuid,
};
use bytes::Bytes;

/// Keys above this length are refused with `InvalidArgument` (the engine
/// limits keys to 64 KiB and would panic beyond).
pub(crate) const MAX_KEY_LEN: usize = 16 * 1024;

/// Values must stay below the engine's 4 GiB value limit.
pub(crate) const MAX_VALUE_LEN: usize = (u32::MAX as usize) - 1024;

// ---------------------------------------------------------------- keys

/// Order-preserving, prefix-free key builder.
///
/// Strings are escaped (`00` → `00 FF`) and terminated by `00 01`, so a
/// component never runs into the next and byte order equals string order.
#[derive(Default)]
pub(crate) struct KeyBuf(Vec<u8>);

impl KeyBuf {
    pub(crate) fn new() -> Self {
        Self(Vec::with_capacity(64))
    }

    /// Escaped string without terminator: every key whose string component
    /// starts with `s` starts with these bytes (used for type prefix scans).
    pub(crate) fn str_prefix(mut self, s: &str) -> Self {
        for &b in s.as_bytes() {
            if b == 0 {
                self.0.extend_from_slice(&[0, 0xFF]);
            } else {
                self.0.push(b);
            }
        }
        self
    }

    pub(crate) fn str(self, s: &str) -> Self {
        let mut k = self.str_prefix(s);
        k.0.extend_from_slice(&[0, 1]);
        k
    }

    pub(crate) fn opt_str(mut self, s: Option<&str>) -> Self {
        match s {
            None => {
                self.0.push(0);
                self
            }
            Some(s) => {
                self.0.push(1);
                self.str(s)
            }
        }
    }

    pub(crate) fn uuid(mut self, u: &Uuid) -> Self {
        self.0.extend_from_slice(u);
        self
    }

    pub(crate) fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    pub(crate) fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Ascending time order for signed µs values.
    pub(crate) fn time(self, t: i64) -> Self {
        self.u64(time_ord(t))
    }

    /// Descending time order (newest first).
    pub(crate) fn time_desc(self, t: i64) -> Self {
        self.u64(!time_ord(t))
    }

    /// Finishes the key, refusing keys the engine cannot hold.
    pub(crate) fn build(self) -> Result<Vec<u8>> {
        if self.0.len() > MAX_KEY_LEN {
            return Err(StoreError::InvalidArgument(format!(
                "key components too long ({} bytes, limit {MAX_KEY_LEN})",
                self.0.len()
            )));
        }
        Ok(self.0)
    }
}

fn time_ord(t: i64) -> u64 {
    (t as u64) ^ (1u64 << 63)
}

fn time_from_ord(v: u64) -> i64 {
    (v ^ (1u64 << 63)) as i64
}

/// Smallest key greater than every key starting with `prefix` (exclusive
/// upper bound of a prefix range). `None` if no such key exists (all `FF`).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Reads key components back.
pub(crate) struct KeyReader<'a> {
    buf: &'a [u8],
}

impl<'a> KeyReader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn corrupt(what: &str) -> StoreError {
        StoreError::Corrupt(format!("bad key: {what}"))
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<()> {
        self.buf = self.buf.get(n..).ok_or_else(|| Self::corrupt("short"))?;
        Ok(())
    }

    pub(crate) fn str(&mut self) -> Result<String> {
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            let b = *self
                .buf
                .get(i)
                .ok_or_else(|| Self::corrupt("unterminated string"))?;
            if b == 0 {
                let n = *self
                    .buf
                    .get(i + 1)
                    .ok_or_else(|| Self::corrupt("unterminated string"))?;
                match n {
                    0xFF => out.push(0),
                    1 => {
                        self.buf = self.buf.get(i + 2..).unwrap_or_default();
                        break;
                    }
                    _ => return Err(Self::corrupt("bad escape")),
                }
                i += 2;
            } else {
                out.push(b);
                i += 1;
            }
        }
        String::from_utf8(out).map_err(|_| Self::corrupt("non-UTF-8 string"))
    }

    /// A string component borrowed from the key, when it holds no escaped
    /// `00` byte (always true of versions the server writes); `Ok(None)` if it
    /// does, so the caller falls back to [`KeyReader::str`]. Leaves the reader
    /// unchanged in that case.
    pub(crate) fn plain_str(&mut self) -> Result<Option<&'a str>> {
        let end = self
            .buf
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| Self::corrupt("unterminated string"))?;
        if self.buf.get(end + 1) != Some(&1) {
            return Ok(None);
        }
        let s =
            std::str::from_utf8(&self.buf[..end]).map_err(|_| Self::corrupt("non-UTF-8 string"))?;
        self.buf = self.buf.get(end + 2..).unwrap_or_default();
        Ok(Some(s))
    }

    /// The presence tag of an optional component.
    pub(crate) fn opt_tag(&mut self) -> Result<bool> {
        let tag = *self.buf.first().ok_or_else(|| Self::corrupt("short"))?;
        self.buf = self.buf.get(1..).unwrap_or_default();
        match tag {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Self::corrupt("bad option tag")),
        }
    }

    pub(crate) fn opt_str(&mut self) -> Result<Option<String>> {
        Ok(if self.opt_tag()? {
            Some(self.str()?)
        } else {
            None
        })
    }

    pub(crate) fn uuid(&mut self) -> Result<Uuid> {
        let (head, rest) = self
            .buf
            .split_first_chunk::<16>()
            .ok_or_else(|| Self::corrupt("short uuid"))?;
        self.buf = rest;
        Ok(*head)
    }

    pub(crate) fn u64(&mut self) -> Result<u64> {
        let (head, rest) = self
            .buf
            .split_first_chunk::<8>()
            .ok_or_else(|| Self::corrupt("short u64"))?;
        self.buf = rest;
        Ok(u64::from_be_bytes(*head))
    }

    #[cfg(test)]
    pub(crate) fn u32(&mut self) -> Result<u32> {
        let (head, rest) = self
            .buf
            .split_first_chunk::<4>()
            .ok_or_else(|| Self::corrupt("short u32"))?;
        self.buf = rest;
        Ok(u32::from_be_bytes(*head))
    }

    pub(crate) fn time(&mut self) -> Result<i64> {
        Ok(time_from_ord(self.u64()?))
    }

    pub(crate) fn time_desc(&mut self) -> Result<i64> {
        Ok(time_from_ord(!self.u64()?))
    }
}

// ---------------------------------------------------------------- values

/// Value writer: little-endian fixed-width numbers, `u32` length prefixes.
pub(crate) struct ValWriter(Vec<u8>);

impl ValWriter {
    pub(crate) fn new(record_version: u8) -> Self {
        let mut v = Vec::with_capacity(128);
        v.push(record_version);
        Self(v)
    }
    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) -> Result<&mut Self> {
        let len = u32::try_from(b.len())
            .map_err(|_| StoreError::InvalidArgument("field longer than 4 GiB".into()))?;
        self.u32(len);
        self.0.extend_from_slice(b);
        Ok(self)
    }
    pub(crate) fn str(&mut self, s: &str) -> Result<&mut Self> {
        self.bytes(s.as_bytes())
    }
    pub(crate) fn opt_str(&mut self, s: Option<&str>) -> Result<&mut Self> {
        match s {
            None => Ok(self.u8(0)),
            Some(s) => {
                self.u8(1);
                self.str(s)
            }
        }
    }
    pub(crate) fn opt_i64(&mut self, v: Option<i64>) -> &mut Self {
        match v {
            None => self.u8(0),
            Some(v) => self.u8(1).i64(v),
        }
    }
    pub(crate) fn u64s(&mut self, v: &[u64]) -> Result<&mut Self> {
        let n = u32::try_from(v.len())
            .map_err(|_| StoreError::InvalidArgument("list too long".into()))?;
        self.u32(n);
        for x in v {
            self.u64(*x);
        }
        Ok(self)
    }
    pub(crate) fn finish(self) -> Result<Vec<u8>> {
        if self.0.len() > MAX_VALUE_LEN {
            return Err(StoreError::InvalidArgument(
                "record larger than 4 GiB".to_string(),
            ));
        }
        Ok(self.0)
    }
}

/// Value reader; every shortfall is a `Corrupt` error.
pub(crate) struct ValReader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> ValReader<'a> {
    /// Starts reading a record, checking its version byte.
    pub(crate) fn new(buf: &'a [u8], what: &'static str, version: u8) -> Result<Self> {
        let mut r = Self { buf, what };
        let v = r.u8()?;
        if v != version {
            return Err(StoreError::Corrupt(format!(
                "{what}: record version {v}, expected {version}"
            )));
        }
        Ok(r)
    }

    fn short(&self) -> StoreError {
        StoreError::Corrupt(format!("{}: record too short", self.what))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(self.short());
        }
        let (h, t) = self.buf.split_at(n);
        self.buf = t;
        Ok(h)
    }

    fn arr<const N: usize>(&mut self) -> Result<[u8; N]> {
        let (h, t) = self
            .buf
            .split_first_chunk::<N>()
            .ok_or_else(|| self.short())?;
        self.buf = t;
        Ok(*h)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.arr::<1>()?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    pub(crate) fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.arr()?))
    }
    pub(crate) fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.arr()?))
    }
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub(crate) fn string(&mut self) -> Result<String> {
        self.str().map(str::to_owned)
    }
    /// A string borrowed from the record.
    pub(crate) fn str(&mut self) -> Result<&'a str> {
        let b = self.bytes()?;
        std::str::from_utf8(b)
            .map_err(|_| StoreError::Corrupt(format!("{}: non-UTF-8 string", self.what)))
    }
    pub(crate) fn opt_string(&mut self) -> Result<Option<String>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.string()?)),
            t => Err(StoreError::Corrupt(format!(
                "{}: option tag {t}",
                self.what
            ))),
        }
    }
    pub(crate) fn opt_i64(&mut self) -> Result<Option<i64>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.i64()?)),
            t => Err(StoreError::Corrupt(format!(
                "{}: option tag {t}",
                self.what
            ))),
        }
    }
    pub(crate) fn u64s(&mut self) -> Result<Vec<u64>> {
        let n = self.u32()? as usize;
        // Bound the allocation by what the buffer can actually hold.
        if n > self.buf.len() / 8 {
            return Err(self.short());
        }
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.u64()?);
        }
        Ok(v)
    }
    pub(crate) fn uuid(&mut self) -> Result<Uuid> {
        self.arr::<16>()
    }
}

// ---------------------------------------------------------------- records

const V1: u8 = 1;

pub(crate) fn enc_dataspace(d: &Dataspace) -> Result<Vec<u8>> {
    let mut w = ValWriter::new(V1);
    w.i64(d.store_created).i64(d.store_last_write);
    w.bytes(&d.custom_data)?;
    w.finish()
}

pub(crate) fn dec_dataspace(path: String, b: &[u8]) -> Result<Dataspace> {
    let mut r = ValReader::new(b, "dataspace", V1)?;
    Ok(Dataspace {
        path,
        store_created: r.i64()?,
        store_last_write: r.i64()?,
        custom_data: Bytes::copy_from_slice(r.bytes()?),
    })
}

fn enc_kind(k: RelationshipKind) -> u8 {
    match k {
        RelationshipKind::Primary => 0,
        RelationshipKind::Secondary => 1,
    }
}

fn dec_kind(v: u8) -> Result<RelationshipKind> {
    match v {
        0 => Ok(RelationshipKind::Primary),
        1 => Ok(RelationshipKind::Secondary),
        _ => Err(StoreError::Corrupt(format!("relationship kind {v}"))),
    }
}

fn enc_reference(w: &mut ValWriter, r: &Reference) -> Result<()> {
    w.0.extend_from_slice(&r.target_uuid);
    w.str(&r.target_type)?;
    w.str(&r.name)?;
    w.u8(enc_kind(r.kind));
    Ok(())
}

fn dec_reference(r: &mut ValReader<'_>) -> Result<Reference> {
    Ok(Reference {
        target_uuid: r.uuid()?,
        target_type: r.string()?,
        name: r.string()?,
        kind: dec_kind(r.u8()?)?,
    })
}

pub(crate) fn enc_object_meta(m: &ObjectMeta) -> Result<Vec<u8>> {
    let mut w = ValWriter::new(V1);
    w.str(&m.qualified_type)?;
    w.str(&m.title)?;
    w.i64(m.last_changed)
        .i64(m.store_created)
        .i64(m.store_last_write)
        .u8(match m.active_status {
            ActiveStatus::Active => 1,
            ActiveStatus::Inactive => 0,
        });
    w.str(&m.format)?;
    w.bytes(&m.custom_data)?;
    w.u64(m.data_len);
    let n = u32::try_from(m.references.len())
        .map_err(|_| StoreError::InvalidArgument("too many references".into()))?;
    w.u32(n);
    for r in &m.references {
        enc_reference(&mut w, r)?;
    }
    w.finish()
}

pub(crate) fn dec_object_meta(b: &[u8]) -> Result<ObjectMeta> {
    let mut r = ValReader::new(b, "object", V1)?;
    let qualified_type = r.string()?;
    let title = r.string()?;
    let last_changed = r.i64()?;
    let store_created = r.i64()?;
    let store_last_write = r.i64()?;
    let active_status = match r.u8()? {
        1 => ActiveStatus::Active,
        0 => ActiveStatus::Inactive,
        v => return Err(StoreError::Corrupt(format!("active status {v}"))),
    };
    let format = r.string()?;
    let custom_data = Bytes::copy_from_slice(r.bytes()?);
    let data_len = r.u64()?;
    let n = r.u32()? as usize;
    // Each reference takes at least 16 + 4 + 4 + 1 bytes.
    let mut references = Vec::with_capacity(n.min(b.len() / 25));
    for _ in 0..n {
        references.push(dec_reference(&mut r)?);
    }
    Ok(ObjectMeta {
        qualified_type,
        title,
        last_changed,
        store_created,
        store_last_write,
        active_status,
        format,
        custom_data,
        references,
        data_len,
    })
}

/// The listing view of an object record ([`ObjectRow`]), borrowing its strings
/// and leaving the references encoded until they are read. Checks as much as
/// [`dec_object_meta`] up to the references, which [`ReferenceIter`] checks.
pub(crate) fn dec_object_row<'a>(
    uuid: Uuid,
    version: Option<&'a str>,
    b: &'a [u8],
) -> Result<ObjectRow<'a>> {
    let mut r = ValReader::new(b, "object", V1)?;
    let qualified_type = r.str()?;
    let title = r.str()?;
    let last_changed = r.i64()?;
    let store_created = r.i64()?;
    let store_last_write = r.i64()?;
    let active_status = match r.u8()? {
        1 => ActiveStatus::Active,
        0 => ActiveStatus::Inactive,
        v => return Err(StoreError::Corrupt(format!("active status {v}"))),
    };
    let _format = r.bytes()?;
    let custom_data = r.bytes()?;
    let _data_len = r.u64()?;
    let count = r.u32()?;
    Ok(ObjectRow {
        uuid,
        version,
        qualified_type,
        title,
        last_changed,
        store_created,
        store_last_write,
        active_status,
        custom_data,
        references: ReferenceList(ReferencesRepr::Encoded {
            count,
            bytes: r.buf,
        }),
        // Kept in their own records; the listing fills them in.
        counts: ReferenceCounts::default(),
    })
}

/// `ref_counts` value: sources then targets, u64 little-endian each.
pub(crate) fn enc_ref_counts(c: &ReferenceCounts) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&c.sources.to_le_bytes());
    v[8..].copy_from_slice(&c.targets.to_le_bytes());
    v
}

pub(crate) fn dec_ref_counts(b: &[u8]) -> Result<ReferenceCounts> {
    let bad = || StoreError::Corrupt("reference counts record".into());
    let (s, t) = b.split_at_checked(8).ok_or_else(bad)?;
    Ok(ReferenceCounts {
        sources: u64::from_le_bytes(s.try_into().map_err(|_| bad())?),
        targets: u64::from_le_bytes(t.try_into().map_err(|_| bad())?),
    })
}

/// Iterator of [`ReferenceList::iter`].
pub(crate) enum ReferenceIter<'a> {
    Owned(std::slice::Iter<'a, Reference>),
    Encoded { left: u32, reader: ValReader<'a> },
}

impl<'a> ReferenceIter<'a> {
    pub(crate) fn new(repr: ReferencesRepr<'a>) -> Self {
        match repr {
            ReferencesRepr::Owned(r) => ReferenceIter::Owned(r.iter()),
            ReferencesRepr::Encoded { count, bytes } => ReferenceIter::Encoded {
                left: count,
                reader: ValReader {
                    buf: bytes,
                    what: "object",
                },
            },
        }
    }
}

impl<'a> Iterator for ReferenceIter<'a> {
    type Item = Result<ReferenceRef<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            ReferenceIter::Owned(it) => it.next().map(|r| {
                Ok(ReferenceRef {
                    target_uuid: r.target_uuid,
                    target_type: &r.target_type,
                    name: &r.name,
                    kind: r.kind,
                })
            }),
            ReferenceIter::Encoded { left, reader } => {
                if *left == 0 {
                    return None;
                }
                let item = (|| {
                    Ok(ReferenceRef {
                        target_uuid: reader.uuid()?,
                        target_type: reader.str()?,
                        name: reader.str()?,
                        kind: dec_kind(reader.u8()?)?,
                    })
                })();
                // After a damaged reference nothing further can be read.
                *left = if item.is_ok() { *left - 1 } else { 0 };
                Some(item)
            }
        }
    }
}

/// Iterator of [`ReferenceList::targets`]: the encoding of [`ReferenceIter`], with the
/// two strings skipped unread.
pub(crate) enum ReferenceTargets<'a> {
    Owned(std::slice::Iter<'a, Reference>),
    Encoded { left: u32, reader: ValReader<'a> },
}

impl<'a> ReferenceTargets<'a> {
    pub(crate) fn new(repr: ReferencesRepr<'a>) -> Self {
        match repr {
            ReferencesRepr::Owned(r) => ReferenceTargets::Owned(r.iter()),
            ReferencesRepr::Encoded { count, bytes } => ReferenceTargets::Encoded {
                left: count,
                reader: ValReader {
                    buf: bytes,
                    what: "object",
                },
            },
        }
    }
}

impl Iterator for ReferenceTargets<'_> {
    type Item = Result<(Uuid, RelationshipKind)>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            ReferenceTargets::Owned(it) => it.next().map(|r| Ok((r.target_uuid, r.kind))),
            ReferenceTargets::Encoded { left, reader } => {
                if *left == 0 {
                    return None;
                }
                let item = (|| {
                    let target = reader.uuid()?;
                    reader.bytes()?;
                    reader.bytes()?;
                    Ok((target, dec_kind(reader.u8()?)?))
                })();
                *left = if item.is_ok() { *left - 1 } else { 0 };
                Some(item)
            }
        }
    }
}

/// Value of a reverse-index entry: source type + the reference.
pub(crate) fn enc_ref_in(source_type: &str, r: &Reference) -> Result<Vec<u8>> {
    let mut w = ValWriter::new(V1);
    w.str(source_type)?;
    enc_reference(&mut w, r)?;
    w.finish()
}

pub(crate) fn dec_ref_in(b: &[u8]) -> Result<(String, Reference)> {
    let mut r = ValReader::new(b, "reverse reference", V1)?;
    let t = r.string()?;
    Ok((t, dec_reference(&mut r)?))
}

/// Stored array record: public metadata plus the chunk layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredArray {
    pub meta: ArrayMeta,
    /// Storage generation; chunk pointers live under this id. A re-created or
    /// deleted array gets a new one / has its old one garbage-collected.
    pub instance: u64,
    /// Elements per chunk (fixed when the array is created).
    pub chunk_elems: u64,
}

pub(crate) fn enc_array(a: &StoredArray) -> Result<Vec<u8>> {
    let mut w = ValWriter::new(V1);
    w.u64s(&a.meta.dimensions)?;
    w.u8(a.meta.element_type.index()).i32(a.meta.logical_type);
    w.u64s(&a.meta.preferred_subarray_dims)?;
    w.i64(a.meta.store_created).i64(a.meta.store_last_write);
    w.bytes(&a.meta.custom_data)?;
    w.u64(a.instance).u64(a.chunk_elems);
    w.finish()
}

pub(crate) fn dec_array(b: &[u8]) -> Result<StoredArray> {
    let mut r = ValReader::new(b, "array", V1)?;
    let dimensions = r.u64s()?;
    let et = r.u8()?;
    let element_type = ElementType::from_index(et)
        .ok_or_else(|| StoreError::Corrupt(format!("element type {et}")))?;
    let logical_type = r.i32()?;
    let preferred_subarray_dims = r.u64s()?;
    let store_created = r.i64()?;
    let store_last_write = r.i64()?;
    let custom_data = Bytes::copy_from_slice(r.bytes()?);
    let instance = r.u64()?;
    let chunk_elems = r.u64()?;
    if chunk_elems == 0 {
        return Err(StoreError::Corrupt("array with zero chunk size".into()));
    }
    Ok(StoredArray {
        meta: ArrayMeta {
            dimensions,
            element_type,
            logical_type,
            preferred_subarray_dims,
            store_created,
            store_last_write,
            custom_data,
        },
        instance,
        chunk_elems,
    })
}

pub(crate) fn enc_session(s: &SessionRecord) -> Result<Vec<u8>> {
    let mut w = ValWriter::new(V1);
    w.str(&s.application_name)?;
    w.str(&s.application_version)?;
    w.str(&s.peer_address)?;
    let n = u32::try_from(s.protocols.len())
        .map_err(|_| StoreError::InvalidArgument("too many protocols".into()))?;
    w.u32(n);
    for p in &s.protocols {
        w.i32(*p);
    }
    w.i64(s.opened_at).opt_i64(s.closed_at);
    w.opt_str(s.close_reason.as_deref())?;
    w.u64(s.messages_in)
        .u64(s.messages_out)
        .u64(s.bytes_in)
        .u64(s.bytes_out);
    w.finish()
}

pub(crate) fn dec_session(id: Uuid, b: &[u8]) -> Result<SessionRecord> {
    let mut r = ValReader::new(b, "session", V1)?;
    let application_name = r.string()?;
    let application_version = r.string()?;
    let peer_address = r.string()?;
    let n = r.u32()? as usize;
    let mut protocols = Vec::with_capacity(n.min(b.len() / 4));
    for _ in 0..n {
        protocols.push(r.i32()?);
    }
    Ok(SessionRecord {
        id,
        application_name,
        application_version,
        peer_address,
        protocols,
        opened_at: r.i64()?,
        closed_at: r.opt_i64()?,
        close_reason: r.opt_string()?,
        messages_in: r.u64()?,
        messages_out: r.u64()?,
        bytes_in: r.u64()?,
        bytes_out: r.u64()?,
    })
}

/// Chunk of a string array: `u32` count, then `u32` length + bytes per element.
pub(crate) fn enc_string_chunk(values: &[Vec<u8>]) -> Result<Vec<u8>> {
    let total: usize = values.iter().map(|v| v.len() + 4).sum::<usize>() + 4;
    let mut out = Vec::with_capacity(total);
    let n = u32::try_from(values.len())
        .map_err(|_| StoreError::InvalidArgument("string chunk too long".into()))?;
    out.extend_from_slice(&n.to_le_bytes());
    for v in values {
        let l = u32::try_from(v.len())
            .map_err(|_| StoreError::InvalidArgument("string longer than 4 GiB".into()))?;
        out.extend_from_slice(&l.to_le_bytes());
        out.extend_from_slice(v);
    }
    if out.len() > MAX_VALUE_LEN {
        return Err(StoreError::InvalidArgument(
            "string chunk larger than 4 GiB".into(),
        ));
    }
    Ok(out)
}

pub(crate) fn dec_string_chunk(b: &[u8], expected: usize) -> Result<Vec<Vec<u8>>> {
    let bad = || StoreError::Corrupt("string chunk".into());
    let (n, mut rest) = b.split_first_chunk::<4>().ok_or_else(bad)?;
    let n = u32::from_le_bytes(*n) as usize;
    if n != expected {
        return Err(StoreError::Corrupt(format!(
            "string chunk holds {n} values, expected {expected}"
        )));
    }
    let mut out = Vec::with_capacity(n.min(b.len() / 4));
    for _ in 0..n {
        let (l, r) = rest.split_first_chunk::<4>().ok_or_else(bad)?;
        let l = u32::from_le_bytes(*l) as usize;
        if r.len() < l {
            return Err(bad());
        }
        let (v, r) = r.split_at(l);
        out.push(v.to_vec());
        rest = r;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_strings_round_trip_and_order() {
        let names = ["", "a", "a\0b", "a/b", "ab", "b", "\0", "é"];
        let mut keys: Vec<(Vec<u8>, &str)> = Vec::new();
        for n in names {
            let k = KeyBuf::new().str(n).u32(7).build().unwrap_or_default();
            let mut r = KeyReader::new(&k);
            assert_eq!(r.str().ok().as_deref(), Some(n));
            assert_eq!(r.u32().ok(), Some(7));
            keys.push((k, n));
        }
        keys.sort();
        let sorted: Vec<&str> = keys.iter().map(|(_, n)| *n).collect();
        let mut expect = names.to_vec();
        expect.sort();
        assert_eq!(sorted, expect);
    }

    #[test]
    fn prefix_is_not_confused_with_longer_names() {
        let a = KeyBuf::new().str("a").build().unwrap_or_default();
        let ab = KeyBuf::new()
            .str("ab")
            .uuid(&[0; 16])
            .build()
            .unwrap_or_default();
        assert!(!ab.starts_with(&a));
    }

    #[test]
    fn time_order() {
        let ts = [i64::MIN, -5, 0, 3, i64::MAX];
        for w in ts.windows(2) {
            let a = KeyBuf::new().time(w[0]).build().unwrap_or_default();
            let b = KeyBuf::new().time(w[1]).build().unwrap_or_default();
            assert!(a < b);
            let a = KeyBuf::new().time_desc(w[0]).build().unwrap_or_default();
            let b = KeyBuf::new().time_desc(w[1]).build().unwrap_or_default();
            assert!(a > b);
            assert_eq!(KeyReader::new(&a).time_desc().ok(), Some(w[0]));
        }
    }

    #[test]
    fn truncated_records_are_errors_not_panics() {
        let m = ObjectMeta {
            qualified_type: "resqml20.obj_X".into(),
            title: "t".into(),
            last_changed: 1,
            store_created: 2,
            store_last_write: 3,
            active_status: ActiveStatus::Active,
            format: "xml".into(),
            custom_data: Bytes::from_static(b"cd"),
            references: vec![Reference {
                target_uuid: [1; 16],
                target_type: "x.y".into(),
                name: "n".into(),
                kind: RelationshipKind::Secondary,
            }],
            data_len: 9,
        };
        let b = enc_object_meta(&m).unwrap_or_default();
        assert_eq!(dec_object_meta(&b).ok(), Some(m.clone()));
        for n in 0..b.len() {
            assert!(dec_object_meta(&b[..n]).is_err());
            // The row decode stops at the references, which its iterator checks.
            if let Ok(row) = dec_object_row([0; 16], None, &b[..n]) {
                assert!(row.references.iter().any(|r| r.is_err()));
                assert!(row.references.targets().any(|r| r.is_err()));
            }
        }
        let row = dec_object_row([7; 16], Some("v"), &b).unwrap();
        assert_eq!(row.qualified_type, m.qualified_type);
        assert_eq!(row.title, m.title);
        assert_eq!(
            (row.last_changed, row.store_created, row.store_last_write),
            (1, 2, 3)
        );
        assert_eq!(row.active_status, m.active_status);
        assert_eq!(row.custom_data, &m.custom_data[..]);
        let refs: Vec<Reference> = row
            .references
            .iter()
            .map(|r| r.map(|r| r.to_reference()))
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(refs, m.references);
        assert_eq!(row.references.len(), 1);
        let targets: Vec<(Uuid, RelationshipKind)> =
            row.references.targets().collect::<Result<_>>().unwrap();
        assert_eq!(targets, [([1; 16], RelationshipKind::Secondary)]);
        let key = crate::ObjectKey::new("d", [7; 16]);
        let owned = ObjectRow::of(&key, &m, Default::default());
        assert_eq!(
            owned
                .references
                .targets()
                .collect::<Result<Vec<_>>>()
                .unwrap(),
            targets
        );
    }

    #[test]
    fn plain_key_strings_are_borrowed_and_escaped_ones_are_not() {
        let k = KeyBuf::new().str("v1").str("a\0b").build().unwrap();
        let mut r = KeyReader::new(&k);
        assert_eq!(r.plain_str().unwrap(), Some("v1"));
        assert_eq!(r.plain_str().unwrap(), None);
        assert_eq!(r.str().unwrap(), "a\0b");
        assert!(KeyReader::new(b"abc").plain_str().is_err());
    }
}
