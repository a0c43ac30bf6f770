//! The reference graph as Discovery sees it, and the walk of GetResources from a data object
//! (10-discovery.md §2.2, 03-uris-and-objects.md §5).
//!
//! An edge `A → B` exists when A's XML references B's UUID and an object with that UUID is
//! stored in the same dataspace; references to the object's own UUID never count. The walk
//! is a breadth-first search over [`Graph`], so it is tested on a small in-memory graph
//! here and runs on the store through [`StoreGraph`].

use std::collections::{HashMap, HashSet};

use etp_store::{ObjectKey, ObjectMeta, ReadTxn, RelationshipKind, Result, Uuid};

/// One neighbour of an object through one relationship kind.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    /// The neighbour.
    pub key: ObjectKey,
    /// Its metadata, when the lookup that found it already had it.
    pub meta: Option<ObjectMeta>,
    /// Kind of the reference.
    pub kind: RelationshipKind,
    /// Where the reference sits in the source's XML (`Edge.customData.path`).
    pub path: String,
}

/// The neighbours of stored objects.
pub(crate) trait Graph {
    /// Metadata of one object.
    fn meta(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>>;
    /// The stored objects `key` references: one link per (target, kind).
    fn targets(&self, key: &ObjectKey) -> Result<Vec<Link>>;
    /// The stored objects referencing `key`: one link per (source, kind).
    fn sources(&self, key: &ObjectKey) -> Result<Vec<Link>>;
}

/// [`Graph`] over a store read view, within one dataspace.
pub(crate) struct StoreGraph<'a> {
    /// The read view.
    pub txn: &'a dyn ReadTxn,
}

impl Graph for StoreGraph<'_> {
    fn meta(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>> {
        self.txn.get_object_meta(key)
    }

    fn targets(&self, key: &ObjectKey) -> Result<Vec<Link>> {
        let Some(references) = self.txn.targets_of(key)? else {
            return Ok(Vec::new());
        };
        let mut seen = HashSet::new();
        let mut links = Vec::new();
        for reference in references {
            if reference.target_uuid == key.uuid
                || !seen.insert((reference.target_uuid, reference.kind))
            {
                continue;
            }
            for (target, meta) in self
                .txn
                .objects_by_uuid(&key.dataspace, &reference.target_uuid)?
            {
                links.push(Link {
                    key: target,
                    meta: Some(meta),
                    kind: reference.kind,
                    path: reference.name.clone(),
                });
            }
        }
        Ok(links)
    }

    fn sources(&self, key: &ObjectKey) -> Result<Vec<Link>> {
        let mut seen = HashSet::new();
        let mut links = Vec::new();
        for edge in self.txn.sources_of(&key.dataspace, &key.uuid)? {
            if edge.source.uuid == key.uuid
                || !seen.insert((edge.source.clone(), edge.reference.kind))
            {
                continue;
            }
            links.push(Link {
                key: edge.source,
                meta: None,
                kind: edge.reference.kind,
                path: edge.reference.name,
            });
        }
        Ok(links)
    }
}

/// Which relationship kinds a request lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Kinds {
    /// Primary relationships.
    pub primary: bool,
    /// Secondary relationships.
    pub secondary: bool,
}

impl Kinds {
    /// Whether `kind` is let through.
    pub(crate) fn allows(self, kind: RelationshipKind) -> bool {
        match kind {
            RelationshipKind::Primary => self.primary,
            RelationshipKind::Secondary => self.secondary,
        }
    }
}

/// Which way the walk follows references.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Backwards: objects referencing the current one.
    Sources,
    /// Forwards: objects the current one references.
    Targets,
}

/// An edge found by the walk, in reference direction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FoundEdge {
    /// The referencing object.
    pub source: ObjectKey,
    /// The referenced object.
    pub target: ObjectKey,
    /// Kind of the reference.
    pub kind: RelationshipKind,
    /// `Edge.customData.path`.
    pub path: String,
}

/// What to walk.
pub(crate) struct Walk<'a> {
    /// The context object.
    pub start: ObjectKey,
    /// Its metadata.
    pub start_meta: ObjectMeta,
    /// `None` for scope `self`.
    pub direction: Option<Direction>,
    /// Whether the context object is part of the answer (`self`, `*OrSelf`).
    pub include_self: bool,
    /// Hops to walk (ignored for `self`).
    pub depth: u32,
    /// `navigableEdges`.
    pub navigable: Kinds,
    /// `includeSecondaryTargets`.
    pub secondary_targets: bool,
    /// `includeSecondarySources`.
    pub secondary_sources: bool,
    /// The output filters (types, last write, status): they hide objects from the answer,
    /// never from the walk.
    pub keep: &'a dyn Fn(&ObjectMeta) -> bool,
    /// Most objects to return; one more found sets [`Walked::truncated`].
    pub limit: usize,
}

/// The walk's answer.
#[derive(Debug, Default)]
pub(crate) struct Walked {
    /// Objects passing the output filters, nearest first, at most `limit`.
    pub objects: Vec<(ObjectKey, ObjectMeta)>,
    /// Edges the walk followed whose two ends are each the context object or one of
    /// `objects`, without duplicates, in the order found.
    pub edges: Vec<FoundEdge>,
    /// More objects than `limit` passed the filters.
    pub truncated: bool,
}

impl Walk<'_> {
    /// Runs the breadth-first walk. Each object is visited once, so cycles end it; the
    /// context object is never part of its own sources or targets.
    pub(crate) fn run(&self, graph: &dyn Graph) -> Result<Walked> {
        let mut state = State {
            walk: self,
            visited: HashSet::from([self.start.clone()]),
            objects: Vec::new(),
            edges: Vec::new(),
            truncated: false,
        };
        let mut found = Vec::new();
        if self.include_self {
            found.push(self.start.clone());
            if (self.keep)(&self.start_meta) {
                state
                    .objects
                    .push((self.start.clone(), self.start_meta.clone()));
            }
        }
        if let Some(direction) = self.direction {
            let mut frontier = vec![self.start.clone()];
            for _ in 0..self.depth {
                let mut next = Vec::new();
                for node in &frontier {
                    for link in neighbours(graph, node, direction)? {
                        if self.navigable.allows(link.kind)
                            && let Some(key) = state.follow(graph, node, link, direction)?
                        {
                            next.push(key);
                        }
                        if state.truncated {
                            return Ok(state.finish());
                        }
                    }
                }
                found.extend(next.iter().cloned());
                if next.is_empty() {
                    break;
                }
                frontier = next;
            }
        }
        // Secondary neighbours of everything found, one hop, not walked further.
        for (wanted, direction) in [
            (self.secondary_targets, Direction::Targets),
            (self.secondary_sources, Direction::Sources),
        ] {
            if !wanted {
                continue;
            }
            for node in &found {
                for link in neighbours(graph, node, direction)? {
                    if link.kind == RelationshipKind::Secondary {
                        state.follow(graph, node, link, direction)?;
                    }
                    if state.truncated {
                        return Ok(state.finish());
                    }
                }
            }
        }
        Ok(state.finish())
    }
}

fn neighbours(graph: &dyn Graph, node: &ObjectKey, direction: Direction) -> Result<Vec<Link>> {
    match direction {
        Direction::Targets => graph.targets(node),
        Direction::Sources => graph.sources(node),
    }
}

struct State<'w, 'a> {
    walk: &'w Walk<'a>,
    visited: HashSet<ObjectKey>,
    objects: Vec<(ObjectKey, ObjectMeta)>,
    edges: Vec<FoundEdge>,
    truncated: bool,
}

impl State<'_, '_> {
    /// Records the edge between `node` and `link`, and visits the neighbour if new.
    /// Returns the neighbour's key when it was new.
    fn follow(
        &mut self,
        graph: &dyn Graph,
        node: &ObjectKey,
        link: Link,
        direction: Direction,
    ) -> Result<Option<ObjectKey>> {
        let (source, target) = match direction {
            Direction::Targets => (node.clone(), link.key.clone()),
            Direction::Sources => (link.key.clone(), node.clone()),
        };
        self.edges.push(FoundEdge {
            source,
            target,
            kind: link.kind,
            path: link.path,
        });
        if !self.visited.insert(link.key.clone()) {
            return Ok(None);
        }
        let meta = match link.meta {
            Some(meta) => Some(meta),
            None => graph.meta(&link.key)?,
        };
        // An index entry without its object would be a store inconsistency; the object is
        // simply not there for Discovery.
        let Some(meta) = meta else {
            return Ok(None);
        };
        if (self.walk.keep)(&meta) {
            if self.objects.len() == self.walk.limit {
                self.truncated = true;
                return Ok(None);
            }
            self.objects.push((link.key.clone(), meta));
        }
        Ok(Some(link.key))
    }

    fn finish(self) -> Walked {
        let mut ends: HashSet<&ObjectKey> = self.objects.iter().map(|(k, _)| k).collect();
        ends.insert(&self.walk.start);
        let mut seen = HashSet::new();
        let edges = self
            .edges
            .iter()
            .filter(|e| ends.contains(&e.source) && ends.contains(&e.target))
            .filter(|e| seen.insert((e.source.clone(), e.target.clone(), e.kind)))
            .cloned()
            .collect();
        Walked {
            objects: self.objects,
            edges,
            truncated: self.truncated,
        }
    }
}

/// Positions of objects by UUID. A hash map with the standard library's randomly keyed
/// SipHash, so UUIDs chosen by a client cannot flood it: finding the edges of a listing
/// looks up every referenced UUID, mostly ones that are not in the dataspace, and a
/// binary search over 100,000 UUIDs took about a sixth of such a listing in cache misses.
pub(crate) struct UuidIndex {
    /// UUID → first and last position holding it.
    ends: HashMap<u128, (u32, u32)>,
    /// `next[p]`: the next position holding the UUID at position `p` (several only for
    /// versions of one object), or `NONE`.
    next: Vec<u32>,
}

/// End of a chain of [`UuidIndex::next`].
const NONE: u32 = u32::MAX;

impl UuidIndex {
    /// Indexes `uuids` by position. One hash insertion per position and no sorting: a
    /// sort of the 100,000 UUIDs of a listing cost more than the insertions.
    pub(crate) fn new(uuids: impl ExactSizeIterator<Item = Uuid>) -> UuidIndex {
        let mut ends: HashMap<u128, (u32, u32)> = HashMap::with_capacity(uuids.len());
        let mut next = vec![NONE; uuids.len()];
        for (position, uuid) in uuids.enumerate() {
            // Listings are bounded by MaxResponseCount and message sizes far below 2^32.
            let Ok(position) = u32::try_from(position) else {
                break;
            };
            match ends.entry(u128::from_be_bytes(uuid)) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert((position, position));
                }
                std::collections::hash_map::Entry::Occupied(mut slot) => {
                    let (_, last) = slot.get_mut();
                    if let Some(link) = next.get_mut(*last as usize) {
                        *link = position;
                    }
                    *last = position;
                }
            }
        }
        UuidIndex { ends, next }
    }

    /// The positions holding `uuid`, ascending (several only for versions of one object).
    pub(crate) fn positions(&self, uuid: &Uuid) -> impl Iterator<Item = usize> + '_ {
        let first = self
            .ends
            .get(&u128::from_be_bytes(*uuid))
            .map_or(NONE, |&(first, _)| first);
        std::iter::successors((first != NONE).then_some(first), |&p| {
            self.next.get(p as usize).copied().filter(|&n| n != NONE)
        })
        .map(|p| p as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etp_store::{ActiveStatus, Reference};

    /// Objects named by one byte (UUID `[n; 16]`) with typed references.
    struct MemGraph {
        objects: HashMap<ObjectKey, ObjectMeta>,
    }

    fn key(n: u8) -> ObjectKey {
        ObjectKey::new("ds", [n; 16])
    }

    fn meta(qualified_type: &str, refs: &[(u8, RelationshipKind)]) -> ObjectMeta {
        ObjectMeta {
            qualified_type: qualified_type.into(),
            title: String::new(),
            last_changed: 0,
            store_created: 0,
            store_last_write: 0,
            active_status: ActiveStatus::Active,
            format: "xml".into(),
            custom_data: Default::default(),
            references: refs
                .iter()
                .map(|&(n, kind)| Reference {
                    target_uuid: [n; 16],
                    target_type: String::new(),
                    name: format!("ref{n}"),
                    kind,
                })
                .collect(),
            data_len: 0,
        }
    }

    impl Graph for MemGraph {
        fn meta(&self, key: &ObjectKey) -> Result<Option<ObjectMeta>> {
            Ok(self.objects.get(key).cloned())
        }
        fn targets(&self, key: &ObjectKey) -> Result<Vec<Link>> {
            let Some(m) = self.objects.get(key) else {
                return Ok(Vec::new());
            };
            Ok(m.references
                .iter()
                .filter(|r| r.target_uuid != key.uuid)
                .filter_map(|r| {
                    let k = ObjectKey::new("ds", r.target_uuid);
                    self.objects.get(&k).map(|m| Link {
                        key: k,
                        meta: Some(m.clone()),
                        kind: r.kind,
                        path: r.name.clone(),
                    })
                })
                .collect())
        }
        fn sources(&self, key: &ObjectKey) -> Result<Vec<Link>> {
            let mut out: Vec<Link> = self
                .objects
                .iter()
                .filter(|(k, _)| k.uuid != key.uuid)
                .flat_map(|(k, m)| {
                    m.references
                        .iter()
                        .filter(|r| r.target_uuid == key.uuid)
                        .map(|r| Link {
                            key: k.clone(),
                            meta: None,
                            kind: r.kind,
                            path: r.name.clone(),
                        })
                })
                .collect();
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        }
    }

    use RelationshipKind::{Primary, Secondary};

    /// 1 → 2 → 3 → 1 (a cycle), 4 → 1, 5 -(secondary)-> 2, 6 → 6 (self reference).
    fn graph() -> MemGraph {
        let mut objects = HashMap::new();
        objects.insert(key(1), meta("t.A", &[(2, Primary)]));
        objects.insert(key(2), meta("t.B", &[(3, Primary)]));
        objects.insert(key(3), meta("t.C", &[(1, Primary)]));
        objects.insert(key(4), meta("t.D", &[(1, Primary)]));
        objects.insert(key(5), meta("t.E", &[(2, Secondary)]));
        objects.insert(key(6), meta("t.F", &[(6, Primary)]));
        MemGraph { objects }
    }

    fn walk(
        start: u8,
        direction: Option<Direction>,
        include_self: bool,
        depth: u32,
    ) -> (Vec<u8>, Vec<(u8, u8)>) {
        walk_with(start, direction, include_self, depth, &|_| true, 100)
    }

    fn walk_with(
        start: u8,
        direction: Option<Direction>,
        include_self: bool,
        depth: u32,
        keep: &dyn Fn(&ObjectMeta) -> bool,
        limit: usize,
    ) -> (Vec<u8>, Vec<(u8, u8)>) {
        let g = graph();
        let w = Walk {
            start: key(start),
            start_meta: g.objects[&key(start)].clone(),
            direction,
            include_self,
            depth,
            navigable: Kinds {
                primary: true,
                secondary: false,
            },
            secondary_targets: false,
            secondary_sources: false,
            keep,
            limit,
        };
        let out = w.run(&g).unwrap();
        let mut objects: Vec<u8> = out.objects.iter().map(|(k, _)| k.uuid[0]).collect();
        objects.sort();
        let mut edges: Vec<(u8, u8)> = out
            .edges
            .iter()
            .map(|e| (e.source.uuid[0], e.target.uuid[0]))
            .collect();
        edges.sort();
        (objects, edges)
    }

    #[test]
    fn depth_bounds_the_walk_and_cycles_end_it() {
        assert_eq!(
            walk(1, Some(Direction::Targets), false, 1),
            (vec![2], vec![(1, 2)])
        );
        assert_eq!(
            walk(1, Some(Direction::Targets), false, 2),
            (vec![2, 3], vec![(1, 2), (2, 3)])
        );
        // Depth 3 comes back to the start, which is not its own target; the closing edge
        // touches the context object and is reported.
        assert_eq!(
            walk(1, Some(Direction::Targets), false, 3),
            (vec![2, 3], vec![(1, 2), (2, 3), (3, 1)])
        );
        assert_eq!(
            walk(1, Some(Direction::Targets), true, 50),
            (vec![1, 2, 3], vec![(1, 2), (2, 3), (3, 1)])
        );
    }

    #[test]
    fn sources_walk_backwards_and_report_edges_forwards() {
        assert_eq!(
            walk(1, Some(Direction::Sources), false, 1),
            (vec![3, 4], vec![(3, 1), (4, 1)])
        );
        assert_eq!(
            walk(1, Some(Direction::Sources), true, 2),
            (vec![1, 2, 3, 4], vec![(2, 3), (3, 1), (4, 1)])
        );
    }

    #[test]
    fn self_scope_and_self_references() {
        assert_eq!(walk(1, None, true, 5), (vec![1], vec![]));
        assert_eq!(
            walk(6, Some(Direction::Targets), true, 3),
            (vec![6], vec![])
        );
        assert_eq!(
            walk(6, Some(Direction::Sources), false, 3),
            (vec![], vec![])
        );
    }

    #[test]
    fn filters_hide_objects_but_the_walk_goes_through_them() {
        let not_b = |m: &ObjectMeta| m.qualified_type != "t.B";
        assert_eq!(
            walk_with(1, Some(Direction::Targets), false, 2, &not_b, 100),
            (vec![3], vec![])
        );
    }

    #[test]
    fn the_limit_truncates_the_farthest_objects() {
        let g = graph();
        let w = Walk {
            start: key(1),
            start_meta: g.objects[&key(1)].clone(),
            direction: Some(Direction::Targets),
            include_self: true,
            depth: 5,
            navigable: Kinds {
                primary: true,
                secondary: false,
            },
            secondary_targets: false,
            secondary_sources: false,
            keep: &|_| true,
            limit: 2,
        };
        let out = w.run(&g).unwrap();
        assert!(out.truncated);
        let objects: Vec<u8> = out.objects.iter().map(|(k, _)| k.uuid[0]).collect();
        assert_eq!(objects, [1, 2]);
    }

    #[test]
    fn secondary_edges_only_when_asked() {
        let g = graph();
        let mut w = Walk {
            start: key(2),
            start_meta: g.objects[&key(2)].clone(),
            direction: Some(Direction::Sources),
            include_self: true,
            depth: 1,
            navigable: Kinds {
                primary: true,
                secondary: false,
            },
            secondary_targets: false,
            secondary_sources: false,
            keep: &|_| true,
            limit: 100,
        };
        let ids = |out: Walked| {
            let mut v: Vec<u8> = out.objects.iter().map(|(k, _)| k.uuid[0]).collect();
            v.sort();
            v
        };
        assert_eq!(ids(w.run(&g).unwrap()), [1, 2]);
        w.secondary_sources = true;
        let out = w.run(&g).unwrap();
        assert!(
            out.edges
                .iter()
                .any(|e| e.source == key(5) && e.kind == Secondary)
        );
        assert_eq!(ids(out), [1, 2, 5]);
        w.secondary_sources = false;
        w.navigable = Kinds {
            primary: false,
            secondary: true,
        };
        assert_eq!(ids(w.run(&g).unwrap()), [2, 5]);
    }

    #[test]
    fn uuid_index_finds_every_version() {
        let index = UuidIndex::new([[3; 16], [1; 16], [3; 16], [2; 16]].into_iter());
        let mut threes: Vec<usize> = index.positions(&[3; 16]).collect();
        threes.sort();
        assert_eq!(threes, [0, 2]);
        assert_eq!(index.positions(&[1; 16]).collect::<Vec<_>>(), [1]);
        assert_eq!(index.positions(&[9; 16]).count(), 0);
    }
}
