//! Read paths, shared by snapshots and write transactions (anything
//! implementing `fjall::Readable`).

use std::io::Write;
use std::ops::{Bound, Range};
use std::sync::Arc;

use bytes::Bytes;
use fjall::{Keyspace, Readable, Slice, Snapshot};

use super::segment::{ChunkPtr, Segments};
use super::{Inner, Keyspaces, keys};
use crate::array::{Runs, chunk_len, split_run, validate_dims, validate_region};
use crate::codec::{
    KeyReader, StoredArray, ValReader, dec_array, dec_dataspace, dec_object_meta, dec_object_row,
    dec_ref_counts, dec_ref_in, dec_string_chunk, prefix_end,
};
use crate::error::{Result, StoreError};
use crate::types::{
    ArrayKey, ArrayMeta, Dataspace, DeletedResource, Edge, ElementType, ObjectFilter, ObjectKey,
    ObjectMeta, ObjectRow, ReferenceCounts, StoredObject, Uuid,
};
use crate::{ObjectIter, ReadTxn};

/// A forward scan of `ref_counts` kept in step with a scan of `by_type` over the same
/// prefix (both keyed alike): a merge join, each record read once.
struct CountsCursor<I> {
    iter: I,
    /// The record read but not yet reached by the type index.
    ahead: Option<(Slice, Slice)>,
}

impl<I: Iterator<Item = fjall::Guard>> CountsCursor<I> {
    /// The counts of the object whose `by_type` key is `key`; keys must come ascending.
    fn counts_at(&mut self, key: &[u8]) -> Result<ReferenceCounts> {
        loop {
            let (ck, cv) = match self.ahead.take() {
                Some(record) => record,
                None => match self.iter.next() {
                    Some(g) => g.into_inner()?,
                    None => return Ok(ReferenceCounts::default()),
                },
            };
            match ck[..].cmp(key) {
                // Counts of an object no longer in the index cannot exist (both are
                // written in one transaction); skipping is the safe reading anyway.
                std::cmp::Ordering::Less => continue,
                std::cmp::Ordering::Equal => return dec_ref_counts(&cv),
                std::cmp::Ordering::Greater => {
                    self.ahead = Some((ck, cv));
                    return Ok(ReferenceCounts::default());
                }
            }
        }
    }
}

/// Read access over `R` (a snapshot or a write transaction).
pub(crate) struct View<'a, R: Readable> {
    pub r: &'a R,
    pub ks: &'a Keyspaces,
    /// Segment files (chunks written since format 3).
    pub segs: &'a Arc<Segments>,
    /// The epoch a read snapshot is pinned at: its chunks may be served from mappings,
    /// pinned there (see [`Segments::read`]). `None` for write transactions.
    pub pin: Option<u64>,
    /// Write transactions write chunk blobs after their snapshot was taken;
    /// such blobs are found in the latest state (blob ids are unique and
    /// never rewritten once committed, so reading them there is safe).
    pub own_blobs: bool,
}

fn u64_le(v: &[u8], what: &str) -> Result<u64> {
    <[u8; 8]>::try_from(v)
        .map(u64::from_le_bytes)
        .map_err(|_| StoreError::Corrupt(format!("{what}: bad u64")))
}

/// The fill value of every fixed-width type, handed out in ranges for elements never
/// written (a static buffer: sharing it costs no reference count).
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// Hands `n` zero bytes to `piece`, in ranges of [`ZEROS`].
fn zero_pieces(
    piece: &mut dyn FnMut(&Bytes, Range<usize>) -> Result<()>,
    mut n: u64,
) -> Result<()> {
    let zeros = Bytes::from_static(&ZEROS);
    while n > 0 {
        let k = n.min(ZEROS.len() as u64) as usize;
        piece(&zeros, 0..k)?;
        n -= k as u64;
    }
    Ok(())
}

impl<'a, R: Readable> View<'a, R> {
    fn get(&self, ks: &Keyspace, key: &[u8]) -> Result<Option<Slice>> {
        Ok(self.r.get(ks, key)?)
    }

    fn range_from(&self, ks: &Keyspace, start: Vec<u8>, prefix: &[u8]) -> fjall::Iter {
        let end = match prefix_end(prefix) {
            Some(e) => Bound::Excluded(e),
            None => Bound::Unbounded,
        };
        self.r
            .range::<Vec<u8>, _>(ks, (Bound::Included(start), end))
    }

    pub(crate) fn dataspace(&self, path: &str) -> Result<Option<Dataspace>> {
        match self.get(&self.ks.dataspaces, &keys::dataspace(path)?)? {
            Some(v) => Ok(Some(dec_dataspace(path.to_string(), &v)?)),
            None => Ok(None),
        }
    }

    pub(crate) fn dataspaces(&self) -> Result<Vec<Dataspace>> {
        let mut out = Vec::new();
        for g in self.r.iter(&self.ks.dataspaces) {
            let (k, v) = g.into_inner()?;
            let path = KeyReader::new(&k).str()?;
            out.push(dec_dataspace(path, &v)?);
        }
        Ok(out)
    }

    pub(crate) fn object_meta(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>> {
        match self.get(&self.ks.objects, &keys::object(key)?)? {
            Some(v) => Ok(Some(dec_object_meta(&v)?)),
            None => Ok(None),
        }
    }

    pub(crate) fn object(&self, key: &ObjectKey) -> Result<Option<StoredObject>> {
        self.object_up_to(key, u64::MAX)
    }

    /// The object, with its bytes only if there are at most `max_data_len`.
    pub(crate) fn object_up_to(
        &self,
        key: &ObjectKey,
        max_data_len: u64,
    ) -> Result<Option<StoredObject>> {
        let k = keys::object(key)?;
        let Some(m) = self.get(&self.ks.objects, &k)? else {
            return Ok(None);
        };
        let meta = dec_object_meta(&m)?;
        if meta.data_len > max_data_len {
            return Ok(Some(StoredObject {
                key: key.clone(),
                meta,
                data: Bytes::new(),
            }));
        }
        let data = self
            .get(&self.ks.object_data, &k)?
            .ok_or_else(|| StoreError::Corrupt("object without data".into()))?;
        Ok(Some(StoredObject {
            key: key.clone(),
            meta,
            data: Bytes::from(data),
        }))
    }

    pub(crate) fn objects_by_uuid(
        &self,
        ds: &str,
        uuid: &Uuid,
    ) -> Result<Vec<(ObjectKey, ObjectMeta)>> {
        let prefix = keys::object_uuid_prefix(ds, uuid)?;
        let mut out = Vec::new();
        for g in self.r.prefix(&self.ks.objects, &prefix) {
            let (k, v) = g.into_inner()?;
            let mut r = KeyReader::new(&k);
            r.skip(prefix.len())?;
            out.push((
                ObjectKey {
                    dataspace: ds.to_string(),
                    uuid: *uuid,
                    version: r.opt_str()?,
                },
                dec_object_meta(&v)?,
            ));
        }
        Ok(out)
    }

    pub(crate) fn list_objects(
        &self,
        ds: &str,
        filter: &ObjectFilter,
    ) -> Result<ObjectIter<'static>> {
        let keep = {
            let f = filter.clone();
            move |m: &ObjectMeta| {
                f.last_write_after.is_none_or(|t| m.store_last_write > t)
                    && f.active_status.is_none_or(|s| m.active_status == s)
            }
        };
        let ds_owned = ds.to_string();
        if filter.types.is_empty() {
            let prefix = keys::ds_prefix(ds)?;
            let plen = prefix.len();
            let it = self.r.prefix(&self.ks.objects, &prefix);
            return Ok(Box::new(
                it.map(move |g| -> Result<Option<(ObjectKey, ObjectMeta)>> {
                    let (k, v) = g.into_inner()?;
                    let meta = dec_object_meta(&v)?;
                    if !keep(&meta) {
                        return Ok(None);
                    }
                    let mut r = KeyReader::new(&k);
                    r.skip(plen)?;
                    let key = ObjectKey {
                        dataspace: ds_owned.clone(),
                        uuid: r.uuid()?,
                        version: r.opt_str()?,
                    };
                    Ok(Some((key, meta)))
                })
                .filter_map(Result::transpose),
            ));
        }
        // Type index: scan each concrete type present that matches a filter,
        // so overlapping filters never yield an object twice.
        let types: Vec<String> = self
            .count_by_type(ds)?
            .into_iter()
            .map(|(t, _)| t)
            .filter(|t| filter.types.iter().any(|f| f.matches(t)))
            .collect();
        let mut iters = Vec::with_capacity(types.len());
        for t in types {
            let prefix = keys::by_type_prefix(ds, &t)?;
            iters.push((prefix.len(), self.r.prefix(&self.ks.by_type, &prefix)));
        }
        Ok(Box::new(
            iters
                .into_iter()
                .flat_map(|(plen, it)| it.map(move |g| (plen, g)))
                .map(
                    move |(plen, g)| -> Result<Option<(ObjectKey, ObjectMeta)>> {
                        let (k, v) = g.into_inner()?;
                        let meta = dec_object_meta(&v)?;
                        if !keep(&meta) {
                            return Ok(None);
                        }
                        let mut r = KeyReader::new(&k);
                        r.skip(plen)?;
                        let key = ObjectKey {
                            dataspace: ds_owned.clone(),
                            uuid: r.uuid()?,
                            version: r.opt_str()?,
                        };
                        Ok(Some((key, meta)))
                    },
                )
                .filter_map(Result::transpose),
        ))
    }

    /// `list_objects` without materializing anything: each record is decoded
    /// into a borrowed [`ObjectRow`] for the duration of one `visit` call.
    pub(crate) fn visit_objects(
        &self,
        ds: &str,
        filter: &ObjectFilter,
        visit: &mut dyn FnMut(&ObjectRow<'_>) -> Result<bool>,
    ) -> Result<()> {
        // `counts` is the stored reference count of the object (zero if none is kept).
        let mut one = |plen: usize, k: &[u8], v: &[u8], counts: ReferenceCounts| -> Result<bool> {
            let mut r = KeyReader::new(k);
            r.skip(plen)?;
            let uuid = r.uuid()?;
            // Versions are rare, and escaped ones rarer: only those are copied.
            let escaped;
            let version = match r.opt_tag()? {
                false => None,
                true => match r.plain_str()? {
                    Some(v) => Some(v),
                    None => {
                        escaped = r.str()?;
                        Some(escaped.as_str())
                    }
                },
            };
            let mut row = dec_object_row(uuid, version, v)?;
            row.counts = counts;
            if filter
                .last_write_after
                .is_some_and(|t| row.store_last_write <= t)
                || filter.active_status.is_some_and(|s| row.active_status != s)
            {
                return Ok(true);
            }
            visit(&row)
        };
        if filter.types.is_empty() {
            // UUID order here, type order in `ref_counts`: looked up one by one.
            let prefix = keys::ds_prefix(ds)?;
            for g in self.r.prefix(&self.ks.objects, &prefix) {
                let (k, v) = g.into_inner()?;
                let counts = {
                    let mut r = KeyReader::new(&k);
                    r.skip(prefix.len())?;
                    let key = ObjectKey {
                        dataspace: ds.to_owned(),
                        uuid: r.uuid()?,
                        version: r.opt_str()?,
                    };
                    let qualified_type = ValReader::new(&v, "object", 1)?.string()?;
                    self.reference_counts(&key, &qualified_type)?
                };
                if !one(prefix.len(), &k, &v, counts)? {
                    break;
                }
            }
            return Ok(());
        }
        // As in `list_objects`: each matching type present, once. `ref_counts` is keyed
        // like `by_type` and holds only objects with references either way, so one
        // forward scan of it alongside the type index finds every object's counts.
        for (t, _) in self.count_by_type(ds)? {
            if !filter.types.iter().any(|f| f.matches(&t)) {
                continue;
            }
            let prefix = keys::by_type_prefix(ds, &t)?;
            let mut counted = CountsCursor {
                iter: self.r.prefix(&self.ks.ref_counts, &prefix),
                ahead: None,
            };
            for g in self.r.prefix(&self.ks.by_type, &prefix) {
                let (k, v) = g.into_inner()?;
                let counts = counted.counts_at(&k)?;
                if !one(prefix.len(), &k, &v, counts)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    pub(crate) fn count_by_type(&self, ds: &str) -> Result<Vec<(String, u64)>> {
        let prefix = keys::ds_prefix(ds)?;
        let mut out = Vec::new();
        for g in self.r.prefix(&self.ks.type_counts, &prefix) {
            let (k, v) = g.into_inner()?;
            let mut r = KeyReader::new(&k);
            r.skip(prefix.len())?;
            out.push((r.str()?, u64_le(&v, "type count")?));
        }
        Ok(out)
    }

    pub(crate) fn type_count(&self, ds: &str, t: &str) -> Result<u64> {
        match self.get(&self.ks.type_counts, &keys::type_count(ds, t)?)? {
            Some(v) => u64_le(&v, "type count"),
            None => Ok(0),
        }
    }

    pub(crate) fn sources_of(&self, ds: &str, target: &Uuid) -> Result<Vec<Edge>> {
        let prefix = keys::ref_in_prefix(ds, target)?;
        let mut out = Vec::new();
        for g in self.r.prefix(&self.ks.refs_in, &prefix) {
            let (k, v) = g.into_inner()?;
            let mut r = KeyReader::new(&k);
            r.skip(prefix.len())?;
            let uuid = r.uuid()?;
            let version = r.opt_str()?;
            let (source_type, reference) = dec_ref_in(&v)?;
            out.push(Edge {
                source: ObjectKey {
                    dataspace: ds.to_string(),
                    uuid,
                    version,
                },
                source_type,
                reference,
            });
        }
        Ok(out)
    }

    pub(crate) fn reference_counts(&self, key: &ObjectKey, t: &str) -> Result<ReferenceCounts> {
        match self.get(&self.ks.ref_counts, &keys::by_type(key, t)?)? {
            Some(v) => dec_ref_counts(&v),
            None => Ok(ReferenceCounts::default()),
        }
    }

    /// Every stored version of `uuid` in `ds`, with its type.
    pub(crate) fn versions(&self, ds: &str, uuid: &Uuid) -> Result<Vec<(ObjectKey, String)>> {
        let prefix = keys::object_uuid_prefix(ds, uuid)?;
        let mut out = Vec::new();
        for g in self.r.prefix(&self.ks.objects, &prefix) {
            let (k, v) = g.into_inner()?;
            let mut r = KeyReader::new(&k);
            r.skip(prefix.len())?;
            let key = ObjectKey {
                dataspace: ds.to_string(),
                uuid: *uuid,
                version: r.opt_str()?,
            };
            out.push((key, ValReader::new(&v, "object", 1)?.string()?));
        }
        Ok(out)
    }

    /// The stored objects (each version on its own) referencing `target` in `ds`, other
    /// than versions of `target` itself, once each, with their types.
    pub(crate) fn referrers(&self, ds: &str, target: &Uuid) -> Result<Vec<(ObjectKey, String)>> {
        let prefix = keys::ref_in_prefix(ds, target)?;
        let mut out: Vec<(ObjectKey, String)> = Vec::new();
        for g in self.r.prefix(&self.ks.refs_in, &prefix) {
            let (k, v) = g.into_inner()?;
            let mut r = KeyReader::new(&k);
            r.skip(prefix.len())?;
            let uuid = r.uuid()?;
            if uuid == *target {
                continue;
            }
            let version = r.opt_str()?;
            // One entry per reference: a source's entries are adjacent (same key prefix).
            if out
                .last()
                .is_some_and(|(last, _)| last.uuid == uuid && last.version == version)
            {
                continue;
            }
            let source_type = ValReader::new(&v, "reverse reference", 1)?.string()?;
            out.push((
                ObjectKey {
                    dataspace: ds.to_string(),
                    uuid,
                    version,
                },
                source_type,
            ));
        }
        Ok(out)
    }

    /// Raw tombstone keys of a dataspace in `[from, to)`, with decoded records.
    pub(crate) fn deleted_range(
        &self,
        ds: &str,
        after: Option<i64>,
    ) -> Result<Vec<(Slice, DeletedResource)>> {
        let prefix = keys::ds_prefix(ds)?;
        let start = match after {
            None => prefix.clone(),
            Some(t) => match t.checked_add(1) {
                Some(t1) => keys::deleted_from(ds, t1)?,
                None => return Ok(Vec::new()),
            },
        };
        let mut out = Vec::new();
        for g in self.range_from(&self.ks.deleted, start, &prefix) {
            let (k, v) = g.into_inner()?;
            let mut r = KeyReader::new(&k);
            r.skip(prefix.len())?;
            let deleted_at = r.time()?;
            let uuid = r.uuid()?;
            let version = r.opt_str()?;
            let mut vr = ValReader::new(&v, "tombstone", 1)?;
            let qualified_type = vr.string()?;
            out.push((
                k,
                DeletedResource {
                    uuid,
                    version,
                    qualified_type,
                    deleted_at,
                },
            ));
        }
        Ok(out)
    }

    pub(crate) fn array(&self, key: &ArrayKey) -> Result<Option<StoredArray>> {
        match self.get(&self.ks.arrays, &keys::array(key)?)? {
            Some(v) => Ok(Some(dec_array(&v)?)),
            None => Ok(None),
        }
    }

    pub(crate) fn arrays_of(&self, ds: &str, owner: &Uuid) -> Result<Vec<(ArrayKey, StoredArray)>> {
        let prefix = keys::array_owner_prefix(ds, owner)?;
        let mut out = Vec::new();
        for g in self.r.prefix(&self.ks.arrays, &prefix) {
            let (k, v) = g.into_inner()?;
            let mut r = KeyReader::new(&k);
            r.skip(prefix.len())?;
            out.push((
                ArrayKey {
                    dataspace: ds.to_string(),
                    owner: *owner,
                    path: r.str()?,
                },
                dec_array(&v)?,
            ));
        }
        Ok(out)
    }

    /// Array keys of a whole dataspace (for cascade deletion).
    pub(crate) fn array_keys_in(&self, ds: &str) -> Result<Vec<(Vec<u8>, StoredArray)>> {
        let prefix = keys::ds_prefix(ds)?;
        let mut out = Vec::new();
        for g in self.r.prefix(&self.ks.arrays, &prefix) {
            let (k, v) = g.into_inner()?;
            out.push((k.to_vec(), dec_array(&v)?));
        }
        Ok(out)
    }

    /// Chunk pointer: where chunk `c` of `instance` is, if written.
    pub(crate) fn chunk_ptr(&self, instance: u64, c: u64) -> Result<Option<ChunkPtr>> {
        match self.get(&self.ks.chunk_ptrs, &keys::chunk_ptr(instance, c))? {
            Some(v) => Ok(Some(ChunkPtr::decode(&v)?)),
            None => Ok(None),
        }
    }

    /// The bytes of a chunk: an engine blob (formats 1–2) or a checked segment range.
    pub(crate) fn chunk(&self, p: &ChunkPtr) -> Result<Slice> {
        match p {
            ChunkPtr::Blob(b) => self.blob(*b),
            ChunkPtr::Seg(s) => self.segs.read(s, self.pin),
        }
    }

    pub(crate) fn blob(&self, blob: u64) -> Result<Slice> {
        let k = keys::id(blob);
        if let Some(v) = self.get(&self.ks.chunks, &k)? {
            return Ok(v);
        }
        if self.own_blobs
            && let Some(v) = self.ks.chunks.get(k)?
        {
            return Ok(v);
        }
        Err(StoreError::Corrupt(format!("chunk blob {blob} missing")))
    }

    /// Chunk `c` of a fixed-width array, length-checked; `None` = never written.
    pub(crate) fn fixed_chunk(
        &self,
        a: &StoredArray,
        c: u64,
        expect_bytes: u64,
    ) -> Result<Option<Slice>> {
        let Some(p) = self.chunk_ptr(a.instance, c)? else {
            return Ok(None);
        };
        if let ChunkPtr::Seg(s) = &p
            && s.len != expect_bytes
        {
            // Checked before reading: the length must not size a buffer unchecked.
            return Err(StoreError::Corrupt(format!(
                "chunk {c} has {} bytes, expected {expect_bytes}",
                s.len
            )));
        }
        let v = self.chunk(&p)?;
        if v.len() as u64 != expect_bytes {
            return Err(StoreError::Corrupt(format!(
                "chunk {c} has {} bytes, expected {expect_bytes}",
                v.len()
            )));
        }
        Ok(Some(v))
    }

    /// Chunk `c` of a string array decoded; never-written chunks are empty strings.
    pub(crate) fn string_chunk(&self, a: &StoredArray, c: u64, len: u64) -> Result<Vec<Vec<u8>>> {
        match self.chunk_ptr(a.instance, c)? {
            Some(p) => dec_string_chunk(&self.chunk(&p)?, len as usize),
            None => Ok(vec![Vec::new(); len as usize]),
        }
    }

    pub(crate) fn read_subarray(
        &self,
        key: &ArrayKey,
        starts: &[u64],
        counts: &[u64],
        out: &mut dyn Write,
    ) -> Result<u64> {
        self.visit_subarray(key, starts, counts, &mut |buf, range| {
            Ok(out.write_all(&buf[range])?)
        })
    }

    /// The pieces of a block, each a range of a chunk as the engine holds it: fjall's
    /// `Slice` is a `Bytes` (feature `bytes_1`), a blob served from its cache or read
    /// from its file is shared, not copied. At most one chunk is held at a time.
    pub(crate) fn visit_subarray(
        &self,
        key: &ArrayKey,
        starts: &[u64],
        counts: &[u64],
        piece: &mut dyn FnMut(&Bytes, Range<usize>) -> Result<()>,
    ) -> Result<u64> {
        let a = self
            .array(key)?
            .ok_or_else(|| StoreError::ArrayNotFound(key.to_string()))?;
        let es = a
            .meta
            .element_type
            .fixed_size()
            .ok_or(StoreError::TypeMismatch {
                array: ElementType::String.name(),
                request: "fixed-width",
            })?;
        let total = validate_dims(&a.meta.dimensions, a.meta.element_type)?;
        let n = validate_region(&a.meta.dimensions, starts, counts)?;
        let mut cur: Option<(u64, Option<Bytes>)> = None;
        for (lin, len) in Runs::new(&a.meta.dimensions, starts, counts) {
            for (c, off, take) in split_run(lin, len, a.chunk_elems) {
                if cur.as_ref().map(|(i, _)| *i) != Some(c) {
                    let clen = chunk_len(total, a.chunk_elems, c);
                    cur = Some((c, self.fixed_chunk(&a, c, clen * es)?.map(Bytes::from)));
                }
                match cur.as_ref().and_then(|(_, s)| s.as_ref()) {
                    Some(chunk) => {
                        let from = (off * es) as usize;
                        let to = ((off + take) * es) as usize;
                        if to > chunk.len() {
                            return Err(StoreError::Corrupt("chunk too short".into()));
                        }
                        piece(chunk, from..to)?;
                    }
                    None => zero_pieces(piece, take * es)?,
                }
            }
        }
        Ok(n * es)
    }

    pub(crate) fn read_strings(
        &self,
        key: &ArrayKey,
        starts: &[u64],
        counts: &[u64],
    ) -> Result<Vec<String>> {
        let a = self
            .array(key)?
            .ok_or_else(|| StoreError::ArrayNotFound(key.to_string()))?;
        if a.meta.element_type != ElementType::String {
            return Err(StoreError::TypeMismatch {
                array: a.meta.element_type.name(),
                request: ElementType::String.name(),
            });
        }
        let total = validate_dims(&a.meta.dimensions, a.meta.element_type)?;
        let n = validate_region(&a.meta.dimensions, starts, counts)?;
        let mut out = Vec::with_capacity(n.min(1 << 20) as usize);
        let mut cur: Option<(u64, Vec<Vec<u8>>)> = None;
        for (lin, len) in Runs::new(&a.meta.dimensions, starts, counts) {
            for (c, off, take) in split_run(lin, len, a.chunk_elems) {
                if cur.as_ref().map(|(i, _)| *i) != Some(c) {
                    let clen = chunk_len(total, a.chunk_elems, c);
                    cur = Some((c, self.string_chunk(&a, c, clen)?));
                }
                let chunk = cur.as_ref().map(|(_, v)| v.as_slice()).unwrap_or_default();
                let piece = chunk
                    .get(off as usize..(off + take) as usize)
                    .ok_or_else(|| StoreError::Corrupt("string chunk too short".into()))?;
                for v in piece {
                    out.push(
                        String::from_utf8(v.clone())
                            .map_err(|_| StoreError::Corrupt("non-UTF-8 string element".into()))?,
                    );
                }
            }
        }
        Ok(out)
    }
}

/// A read snapshot.
pub(crate) struct FjallRead {
    inner: Arc<Inner>,
    snap: Snapshot,
    /// Registration in the snapshot registry: segment space this snapshot may read is
    /// not given back before it is dropped.
    pin: u64,
}

impl FjallRead {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        // Registered before the snapshot is taken, so every commit it may miss is seen.
        let pin = inner.segs.pin();
        let snap = inner.db.read_tx();
        Self { inner, snap, pin }
    }

    /// Same shape as the write transaction's `view()`, which can fail.
    #[allow(clippy::unnecessary_wraps)]
    fn view(&self) -> Result<View<'_, Snapshot>> {
        Ok(View {
            r: &self.snap,
            ks: &self.inner.ks,
            segs: &self.inner.segs,
            pin: Some(self.pin),
            own_blobs: false,
        })
    }
}

impl Drop for FjallRead {
    fn drop(&mut self) {
        self.inner.segs.unpin(self.pin);
    }
}

/// Implements every `ReadTxn` method by delegating to `self.view()?`.
macro_rules! impl_read_txn {
    ($t:ty) => {
        impl ReadTxn for $t {
            fn get_dataspace(&self, path: &str) -> Result<Option<Dataspace>> {
                self.view()?.dataspace(path)
            }
            fn list_dataspaces(&self) -> Result<Vec<Dataspace>> {
                self.view()?.dataspaces()
            }
            fn get_object(&self, key: &ObjectKey) -> Result<Option<StoredObject>> {
                self.view()?.object(key)
            }
            fn get_object_meta(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>> {
                self.view()?.object_meta(key)
            }
            fn get_object_up_to(
                &self,
                key: &ObjectKey,
                max_data_len: u64,
            ) -> Result<Option<StoredObject>> {
                self.view()?.object_up_to(key, max_data_len)
            }
            fn objects_by_uuid(
                &self,
                dataspace: &str,
                uuid: &Uuid,
            ) -> Result<Vec<(ObjectKey, ObjectMeta)>> {
                self.view()?.objects_by_uuid(dataspace, uuid)
            }
            fn list_objects(
                &self,
                dataspace: &str,
                filter: &ObjectFilter,
            ) -> Result<ObjectIter<'_>> {
                self.view()?.list_objects(dataspace, filter)
            }
            fn visit_objects(
                &self,
                dataspace: &str,
                filter: &ObjectFilter,
                visit: &mut dyn FnMut(&$crate::ObjectRow<'_>) -> Result<bool>,
            ) -> Result<()> {
                self.view()?.visit_objects(dataspace, filter, visit)
            }
            fn reference_counts(
                &self,
                key: &ObjectKey,
                qualified_type: &str,
            ) -> Result<$crate::ReferenceCounts> {
                self.view()?.reference_counts(key, qualified_type)
            }
            fn count_by_type(&self, dataspace: &str) -> Result<Vec<(String, u64)>> {
                self.view()?.count_by_type(dataspace)
            }
            fn sources_of(&self, dataspace: &str, target: &Uuid) -> Result<Vec<Edge>> {
                self.view()?.sources_of(dataspace, target)
            }
            fn deleted_resources(
                &self,
                dataspace: &str,
                after: Option<i64>,
            ) -> Result<Vec<DeletedResource>> {
                Ok(self
                    .view()?
                    .deleted_range(dataspace, after)?
                    .into_iter()
                    .map(|(_, d)| d)
                    .collect())
            }
            fn get_array_meta(&self, key: &ArrayKey) -> Result<Option<ArrayMeta>> {
                Ok(self.view()?.array(key)?.map(|a| a.meta))
            }
            fn list_arrays(
                &self,
                dataspace: &str,
                owner: &Uuid,
            ) -> Result<Vec<(ArrayKey, ArrayMeta)>> {
                Ok(self
                    .view()?
                    .arrays_of(dataspace, owner)?
                    .into_iter()
                    .map(|(k, a)| (k, a.meta))
                    .collect())
            }
            fn read_subarray(
                &self,
                key: &ArrayKey,
                starts: &[u64],
                counts: &[u64],
                out: &mut dyn Write,
            ) -> Result<u64> {
                self.view()?.read_subarray(key, starts, counts, out)
            }
            fn visit_subarray(
                &self,
                key: &ArrayKey,
                starts: &[u64],
                counts: &[u64],
                piece: &mut dyn FnMut(&::bytes::Bytes, ::std::ops::Range<usize>) -> Result<()>,
            ) -> Result<u64> {
                self.view()?.visit_subarray(key, starts, counts, piece)
            }
            fn read_strings(
                &self,
                key: &ArrayKey,
                starts: &[u64],
                counts: &[u64],
            ) -> Result<Vec<String>> {
                self.view()?.read_strings(key, starts, counts)
            }
        }
    };
}
pub(crate) use impl_read_txn;

impl_read_txn!(FjallRead);
