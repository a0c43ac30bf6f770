//! GetResources: the request checked once ([`ResourceQuery::parse`]), then answered on a
//! store read view ([`ResourceQuery::run`]).

use std::collections::{HashMap, HashSet};

use etp_protocol::EtpString;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::names::QualifiedType;
use etp_protocol::types::datatypes::ErrorInfo;
use etp_protocol::types::datatypes::object::{
    ActiveStatusKind, ContextScopeKind, Edge, RelationshipKind as EtpKind, Resource,
};
use etp_protocol::types::protocol::discovery::GetResources;
use etp_protocol::uri::EtpUri;
use etp_store::{
    ActiveStatus, ObjectFilter, ObjectKey, ObjectMeta, ObjectRow, ReadTxn, RelationshipKind,
    TypeFilter, Uuid,
};

use super::answer::{Deliver, EncodedParts, Parts, UriCache, edge};
use super::graph::{Direction, FoundEdge, Kinds, StoreGraph, UuidIndex, Walk};
use super::types::{TypeFilters, is_supported_concrete};
use crate::access::Failure;
use crate::handlers::objects::{
    ObjectRef, parse_object_uri, resource_at, row_resource, set_counts,
};

/// Where a request starts.
#[derive(Debug)]
enum Context {
    /// Every object of the dataspace with this path (`""` = default).
    Dataspace(String),
    /// A graph walk from this object.
    Object(ObjectRef),
}

/// A checked GetResources request.
#[derive(Debug)]
pub(crate) struct ResourceQuery {
    uri: String,
    context: Context,
    scope: ContextScopeKind,
    depth: u32,
    types: TypeFilters,
    last_write_after: Option<i64>,
    active_status: Option<ActiveStatus>,
    navigable: Kinds,
    secondary_targets: bool,
    secondary_sources: bool,
    count_objects: bool,
    include_edges: bool,
}

/// What follows the resources, which went to the part sink (see [`ResourceQuery::run`]).
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// Edges (only when asked for).
    pub edges: Vec<Edge>,
    /// `MaxResponseCount` cut the resource list.
    pub truncated: bool,
    /// Resources too large for any message: URI and error.
    pub oversized: Vec<(String, ErrorInfo)>,
}

impl ResourceQuery {
    /// Checks everything that needs no store: the context URI (`EINVALID_URI`), the type
    /// filters (`EDATAOBJECTTYPE_NOTSUPPORTED`) and the depth (`EINVALID_ARGUMENT`).
    pub(crate) fn parse(m: GetResources) -> Result<ResourceQuery, Failure> {
        let ctx = m.context;
        let invalid = |why: String| {
            (
                ErrorCode::EINVALID_URI,
                format!("invalid context URI {:?}: {why}", shorten(&ctx.uri)),
            )
        };
        let context = match EtpUri::parse(&ctx.uri) {
            Ok(EtpUri::Dataspace(d)) => Context::Dataspace(d.path_or_empty().to_owned()),
            Ok(EtpUri::DataObject(_)) => Context::Object(
                parse_object_uri(&ctx.uri)
                    .map_err(|e| (ErrorCode::EINVALID_URI, e.message.into()))?,
            ),
            Ok(other) => {
                return Err(invalid(format!(
                    "a {} URI; GetResources takes a dataspace or data object URI \
                     (alternate URIs are not supported)",
                    other.kind()
                )));
            }
            Err(e) => return Err(invalid(e.to_string())),
        };
        let types = TypeFilters::parse(&ctx.data_object_types)?;
        let walks = matches!(context, Context::Object(_)) && m.scope != ContextScopeKind::Self_;
        if walks && ctx.depth < 1 {
            return Err((
                ErrorCode::EINVALID_ARGUMENT,
                format!(
                    "depth must be at least 1 for scope {} (got {})",
                    m.scope, ctx.depth
                ),
            ));
        }
        let navigable = match ctx.navigable_edges {
            EtpKind::Primary => Kinds {
                primary: true,
                secondary: false,
            },
            EtpKind::Secondary => Kinds {
                primary: false,
                secondary: true,
            },
            EtpKind::Both => Kinds {
                primary: true,
                secondary: true,
            },
        };
        Ok(ResourceQuery {
            uri: ctx.uri.to_string(),
            context,
            scope: m.scope,
            depth: u32::try_from(ctx.depth).unwrap_or(0),
            types,
            last_write_after: m.store_last_write_filter,
            active_status: m.active_status_filter.map(|s| match s {
                ActiveStatusKind::Active => ActiveStatus::Active,
                ActiveStatusKind::Inactive => ActiveStatus::Inactive,
            }),
            navigable,
            secondary_targets: ctx.include_secondary_targets,
            secondary_sources: ctx.include_secondary_sources,
            count_objects: m.count_objects,
            include_edges: m.include_edges,
        })
    }

    /// The dataspace the request reads (`""` = default).
    pub(crate) fn dataspace(&self) -> &str {
        match &self.context {
            Context::Dataspace(path) => path,
            Context::Object(object) => &object.key.dataspace,
        }
    }

    /// Answers the request on `txn`, with at most `limit` resources, handing the resources
    /// to `deliver` in parts of at most `budget` item bytes (at least one part, possibly
    /// empty, unless an error comes first). A dataspace listing without edges hands each
    /// part on as soon as it is full, while the scan goes on. The outer error is
    /// a store failure, the inner one the ETP error to answer with.
    pub(crate) fn run(
        mut self,
        txn: &dyn ReadTxn,
        limit: usize,
        budget: usize,
        deliver: Deliver<'_>,
    ) -> etp_store::Result<Result<Found, Failure>> {
        let dataspace = self.dataspace().to_owned();
        let start = match &self.context {
            Context::Dataspace(path) => {
                if txn.get_dataspace(path)?.is_none() {
                    return Ok(Err(not_found(format!(
                        "dataspace {} not found",
                        shorten(&self.uri)
                    ))));
                }
                None
            }
            Context::Object(object) => match txn.get_object_meta(&object.key)? {
                Some(meta) if same_type(&meta.qualified_type, &object.qualified_type) => {
                    Some((object.key.clone(), meta))
                }
                _ if !is_supported_concrete(&object.qualified_type) => {
                    return Ok(Err((
                        ErrorCode::EDATAOBJECTTYPE_NOTSUPPORTED,
                        format!(
                            "data object type {} of {} is not supported",
                            object.qualified_type,
                            shorten(&self.uri)
                        ),
                    )));
                }
                _ => return Ok(Err(not_found(format!("{} not found", shorten(&self.uri))))),
            },
        };
        if self.types.needs_stored_types() {
            let stored: Vec<String> = txn
                .count_by_type(&dataspace)?
                .into_iter()
                .map(|(t, _)| t)
                .collect();
            if let Err(failure) = self.types.resolve(&stored) {
                return Ok(Err(failure));
            }
        }
        let Some(mut uris) = UriCache::new(&dataspace) else {
            return Ok(Err(not_found(format!(
                "dataspace {} not found",
                shorten(&self.uri)
            ))));
        };
        Ok(Ok(match start {
            None => self.list(txn, &dataspace, limit, &mut uris, budget, deliver)?,
            Some((key, meta)) => {
                let (resources, found) = self.walk(txn, key, meta, limit, &mut uris)?;
                let mut parts = Parts::new(budget, false, deliver);
                for resource in resources {
                    if !parts.push(resource) {
                        break;
                    }
                }
                Found {
                    oversized: parts.finish(),
                    ..found
                }
            }
        }))
    }

    /// The output filters of 10-discovery.md §2.2 rule 6.
    fn keeps(&self, meta: &ObjectMeta) -> bool {
        self.types.accepts(&meta.qualified_type)
            && self
                .last_write_after
                .is_none_or(|after| meta.store_last_write > after)
            && self.active_status.is_none_or(|s| meta.active_status == s)
    }

    /// Edge kinds reported for a dataspace context: the navigable ones, plus secondary
    /// ones when secondary neighbours were asked for.
    fn reported_kinds(&self) -> Kinds {
        Kinds {
            primary: self.navigable.primary,
            secondary: self.navigable.secondary || self.secondary_targets || self.secondary_sources,
        }
    }

    /// Dataspace context: every object passing the filters, ordered by type then UUID
    /// (the store's type index order, which is URI order for unversioned objects).
    fn list(
        &self,
        txn: &dyn ReadTxn,
        dataspace: &str,
        limit: usize,
        uris: &mut UriCache,
        budget: usize,
        deliver: Deliver<'_>,
    ) -> etp_store::Result<Found> {
        let unfiltered = self.types.store_filters().is_empty();
        let filter = ObjectFilter {
            types: if unfiltered {
                // Every type, through the type index, for a stable URI order.
                vec![TypeFilter::Prefix(String::new())]
            } else {
                self.types.store_filters().to_vec()
            },
            last_write_after: self.last_write_after,
            active_status: self.active_status,
        };
        // The type counts bound the answer: sizing the lists once spares copying 100,000
        // entries through every doubling of the vector.
        let expected = if self.include_edges {
            txn.count_by_type(dataspace)?
                .iter()
                .filter(|(t, _)| filter.types.iter().any(|f| f.matches(t)))
                .map(|(_, n)| usize::try_from(*n).unwrap_or(usize::MAX))
                .fold(0usize, usize::saturating_add)
                .min(limit)
        } else {
            0
        };
        if !self.include_edges {
            return self.list_encoded(txn, dataspace, &filter, limit, uris, budget, deliver);
        }
        // The store keeps every object's counts and lends them with its row, so a part
        // goes out as soon as it is full, counts or not. Edges need the whole listing:
        // what they need of each object is gathered during the scan (the row is lent for
        // one call only) and the parts are held until the scan ends.
        let mut parts = Parts::new(budget, self.include_edges, deliver);
        let mut references = References::with_capacity(expected);
        let mut truncated = false;
        txn.visit_objects(dataspace, &filter, &mut |row| {
            if parts.pushed() == limit {
                truncated = true;
                return Ok(false);
            }
            let Some(uri) = uris.row_uri(&row.uuid, row.version, row.qualified_type) else {
                unwritable(row.qualified_type);
                return Ok(true);
            };
            if self.include_edges {
                references.push(row)?;
            }
            let mut resource = row_resource(uri, row);
            if self.count_objects {
                set_counts(&mut resource, (row.counts.sources, row.counts.targets));
            }
            Ok(parts.push(resource))
        })?;
        let edges = if self.include_edges {
            let mut uris: Vec<Option<EtpString>> = vec![None; parts.pushed()];
            parts.visit_held(|i, resource| {
                if let Some(slot) = uris.get_mut(i) {
                    *slot = Some(resource.uri.clone());
                }
            });
            references
                .edges_among(self.reported_kinds())
                .into_iter()
                .filter_map(|(i, j, kind, path)| {
                    let source = uris.get(i)?.as_ref()?;
                    let target = uris.get(j)?.as_ref()?;
                    Some(edge(source.to_string(), target.to_string(), kind, path))
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Found {
            edges,
            truncated,
            oversized: parts.finish(),
        })
    }

    /// A dataspace listing without edges: each row is encoded into its part as it is
    /// scanned and every full part goes out at once (the store lends each row's counts).
    #[allow(clippy::too_many_arguments)]
    fn list_encoded(
        &self,
        txn: &dyn ReadTxn,
        dataspace: &str,
        filter: &ObjectFilter,
        limit: usize,
        uris: &mut UriCache,
        budget: usize,
        deliver: Deliver<'_>,
    ) -> etp_store::Result<Found> {
        let mut parts = EncodedParts::new(budget, deliver);
        let mut uri = String::new();
        let mut truncated = false;
        txn.visit_objects(dataspace, filter, &mut |row| {
            if parts.pushed() == limit {
                truncated = true;
                return Ok(false);
            }
            uri.clear();
            if !uris.write_row_uri(&mut uri, &row.uuid, row.version, row.qualified_type) {
                unwritable(row.qualified_type);
                return Ok(true);
            }
            let counts = self
                .count_objects
                .then_some((row.counts.sources, row.counts.targets));
            Ok(parts.push(&uri, row, counts))
        })?;
        Ok(Found {
            edges: Vec::new(),
            truncated,
            oversized: parts.finish(),
        })
    }

    /// Object context: the graph walk, then resources ordered by type then UUID, and
    /// what follows them.
    fn walk(
        &self,
        txn: &dyn ReadTxn,
        start: ObjectKey,
        start_meta: ObjectMeta,
        limit: usize,
        uris: &mut UriCache,
    ) -> etp_store::Result<(Vec<Resource>, Found)> {
        let start_uri = uris.uri(&start, &start_meta.qualified_type);
        let (direction, include_self) = match self.scope {
            ContextScopeKind::Self_ => (None, true),
            ContextScopeKind::Sources => (Some(Direction::Sources), false),
            ContextScopeKind::Targets => (Some(Direction::Targets), false),
            ContextScopeKind::SourcesOrSelf => (Some(Direction::Sources), true),
            ContextScopeKind::TargetsOrSelf => (Some(Direction::Targets), true),
        };
        let keep = |meta: &ObjectMeta| self.keeps(meta);
        let walked = Walk {
            start: start.clone(),
            start_meta,
            direction,
            include_self,
            depth: self.depth,
            navigable: self.navigable,
            secondary_targets: self.secondary_targets,
            secondary_sources: self.secondary_sources,
            keep: &keep,
            limit,
        }
        .run(&StoreGraph { txn })?;
        let mut objects = walked.objects;
        objects
            .sort_by(|(ka, ma), (kb, mb)| (&ma.qualified_type, ka).cmp(&(&mb.qualified_type, kb)));
        let keys: Vec<ObjectKey> = objects.iter().map(|(k, _)| k.clone()).collect();
        let counts = if self.count_objects {
            let kept: etp_store::Result<Vec<(u64, u64)>> = objects
                .iter()
                .map(|(key, meta)| {
                    let c = txn.reference_counts(key, &meta.qualified_type)?;
                    Ok((c.sources, c.targets))
                })
                .collect();
            Some(kept?)
        } else {
            None
        };
        let resources = build_resources(objects, counts, uris);
        let mut uri_of: HashMap<&ObjectKey, &str> = keys
            .iter()
            .zip(&resources)
            .map(|(k, r)| (k, r.uri.as_str()))
            .collect();
        if let Some(uri) = &start_uri {
            uri_of.insert(&start, uri);
        }
        let edges = if self.include_edges {
            walked
                .edges
                .into_iter()
                .filter_map(
                    |FoundEdge {
                         source,
                         target,
                         kind,
                         path,
                     }| {
                        let source = uri_of.get(&source)?.to_string();
                        let target = uri_of.get(&target)?.to_string();
                        Some(edge(source, target, kind, path))
                    },
                )
                .collect()
        } else {
            Vec::new()
        };
        let found = Found {
            edges,
            truncated: walked.truncated,
            oversized: Vec::new(),
        };
        Ok((resources, found))
    }
}

/// Resources of `objects` (in order), skipping any whose URI cannot be written (the
/// store's write path rules that out).
fn build_resources(
    objects: Vec<(ObjectKey, ObjectMeta)>,
    counts: Option<Vec<(u64, u64)>>,
    uris: &mut UriCache,
) -> Vec<Resource> {
    let mut resources = Vec::with_capacity(objects.len());
    for (i, (key, meta)) in objects.into_iter().enumerate() {
        let count = counts.as_ref().and_then(|c| c.get(i).copied());
        match uris.uri(&key, &meta.qualified_type) {
            Some(uri) => resources.push(resource_at(uri, meta, count)),
            None => unwritable(&meta.qualified_type),
        }
    }
    resources
}

/// The store's write path only keeps objects whose URI can be written; one that cannot is
/// left out of answers rather than sent with a broken URI.
fn unwritable(qualified_type: &str) {
    tracing::warn!(
        qualified_type = %qualified_type,
        "stored object whose URI cannot be written; left out"
    );
}

/// The references of listed objects, flattened: target UUID, kind and element path.
#[derive(Default)]
struct References {
    uuids: Vec<Uuid>,
    targets: Vec<(Uuid, RelationshipKind)>,
    /// `paths[k]` is the path of `targets[k]`.
    paths: Vec<String>,
    /// `targets[ends[i - 1]..ends[i]]` are object i's references (`ends[-1]` = 0).
    ends: Vec<usize>,
}

impl References {
    /// Room for `objects` objects of about two references each.
    fn with_capacity(objects: usize) -> References {
        References {
            uuids: Vec::with_capacity(objects),
            targets: Vec::with_capacity(objects * 2),
            paths: Vec::with_capacity(objects * 2),
            ends: Vec::with_capacity(objects),
        }
    }

    fn push(&mut self, row: &ObjectRow<'_>) -> etp_store::Result<()> {
        for r in row.references.iter() {
            let r = r?;
            self.targets.push((r.target_uuid, r.kind));
            self.paths.push(r.name.to_owned());
        }
        self.uuids.push(row.uuid);
        self.ends.push(self.targets.len());
        Ok(())
    }

    fn range(&self, i: usize) -> std::ops::Range<usize> {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        start..self.ends[i]
    }

    /// References between the objects, as `(source index, target index, kind, path)`, one
    /// per (source, target, kind), in listing order.
    fn edges_among(&self, kinds: Kinds) -> Vec<(usize, usize, RelationshipKind, String)> {
        let index = UuidIndex::new(self.uuids.iter().copied());
        let mut seen = HashSet::new();
        let mut edges = Vec::new();
        for (i, own) in self.uuids.iter().enumerate() {
            for k in self.range(i) {
                let (target, kind) = &self.targets[k];
                if target == own || !kinds.allows(*kind) {
                    continue;
                }
                for j in index.positions(target) {
                    if seen.insert((i, j, *kind)) {
                        let path = self.paths.get(k).cloned().unwrap_or_default();
                        edges.push((i, j, *kind, path));
                    }
                }
            }
        }
        edges
    }
}

/// Whether a stored type is the type a URI names (case of the name ignored, as
/// [`QualifiedType::matches`] does).
fn same_type(stored: &str, named: &QualifiedType) -> bool {
    stored
        .parse::<QualifiedType>()
        .is_ok_and(|t| t.matches(named))
}

fn not_found(message: String) -> Failure {
    (ErrorCode::ENOT_FOUND, message)
}

/// At most 200 characters of client text for error messages.
pub(crate) fn shorten(text: &str) -> &str {
    match text.char_indices().nth(200) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}
