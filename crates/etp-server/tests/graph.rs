//! Discovery over a small RESQML 2.0.1 model and a WITSML 2.1 well (fixtures in
//! `tests/data/graph`), checked against an explicit edge list:
//!
//! ```text
//! ContinuousProperty ─SupportingRepresentation→ Grid2dRepresentation ─LocalCrs→ LocalDepth3dCrs
//!        └─LocalPropertyKind→ PropertyKind          └─RepresentedInterpretation→ HorizonInterpretation
//!                                                          HorizonInterpretation ─InterpretedFeature→ GeneticBoundaryFeature
//! Wellbore ─Well→ Well          (HdfProxy references to the EpcExternalPartReference make no edge)
//! ```
//!
//! Every scope × depth 1–3 × navigable edge kind × type filter from every object is
//! compared with an independent breadth-first model of the rules (resources and edges),
//! and the cases the notes spell out are also asserted by hand.

mod common;
mod discovery_common;

use std::collections::BTreeSet;

use common::TestServer;
use discovery_common::{Answer, Put, ask, fixture, get_resources, meta_of, seed, uri};
use etp_protocol::types::datatypes::object::{ContextScopeKind, RelationshipKind};
use etp_protocol::types::protocol::discovery::GetResources;

/// Every reference primary, as the Store protocol records them.
const PRIMARY_DS: &str = "volve/model";
/// The same objects with the `LocalCrs` references recorded as secondary.
const SECONDARY_DS: &str = "volve/secondary";
/// Well and Wellbore in the default dataspace, as the OSDU certification puts them.
const DEFAULT_DS: &str = "";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum N {
    Crs,
    Feature,
    Interp,
    Grid,
    PKind,
    Prop,
    Epc,
    Well,
    Wellbore,
}

const RESQML: [N; 7] = [
    N::Crs,
    N::Feature,
    N::Interp,
    N::Grid,
    N::PKind,
    N::Prop,
    N::Epc,
];
const WITSML: [N; 2] = [N::Well, N::Wellbore];

fn file(n: N) -> &'static str {
    match n {
        N::Crs => "crs.xml",
        N::Feature => "feature.xml",
        N::Interp => "interpretation.xml",
        N::Grid => "grid.xml",
        N::PKind => "property_kind.xml",
        N::Prop => "property.xml",
        N::Epc => "epc.xml",
        N::Well => "well.xml",
        N::Wellbore => "wellbore.xml",
    }
}

fn qualified_type(n: N) -> &'static str {
    match n {
        N::Crs => "resqml20.obj_LocalDepth3dCrs",
        N::Feature => "resqml20.obj_GeneticBoundaryFeature",
        N::Interp => "resqml20.obj_HorizonInterpretation",
        N::Grid => "resqml20.obj_Grid2dRepresentation",
        N::PKind => "resqml20.obj_PropertyKind",
        N::Prop => "resqml20.obj_ContinuousProperty",
        N::Epc => "eml20.obj_EpcExternalPartReference",
        N::Well => "witsml21.Well",
        N::Wellbore => "witsml21.Wellbore",
    }
}

type Kind = RelationshipKind;

/// The graph of the fixtures: (source, target, reference element, kind in PRIMARY_DS).
const EDGES: [(N, N, &str); 6] = [
    (N::Interp, N::Feature, "InterpretedFeature"),
    (N::Grid, N::Interp, "RepresentedInterpretation"),
    (N::Grid, N::Crs, "Grid2dPatch/Geometry/LocalCrs"),
    (N::Prop, N::Grid, "SupportingRepresentation"),
    (N::Prop, N::PKind, "PropertyKind/LocalPropertyKind"),
    (N::Wellbore, N::Well, "Well"),
];

fn edges_in(ds: &str) -> Vec<(N, N, Kind)> {
    EDGES
        .iter()
        .map(|&(s, t, path)| {
            let secondary = ds == SECONDARY_DS && path.ends_with("LocalCrs");
            let kind = if secondary {
                Kind::Secondary
            } else {
                Kind::Primary
            };
            (s, t, kind)
        })
        .collect()
}

fn nodes_in(ds: &str) -> Vec<N> {
    if ds == DEFAULT_DS {
        WITSML.to_vec()
    } else {
        RESQML.iter().chain(&WITSML).copied().collect()
    }
}

struct Model {
    uuids: std::collections::HashMap<N, [u8; 16]>,
}

impl Model {
    fn uri(&self, ds: &str, n: N) -> String {
        uri(ds, qualified_type(n), &self.uuids[&n])
    }
}

/// Starts a server over the three dataspaces.
async fn start() -> (TestServer, tempfile::TempDir, Model) {
    let dir = tempfile::tempdir().unwrap();
    let mut objects = Vec::new();
    let mut uuids = std::collections::HashMap::new();
    for ds in [PRIMARY_DS, SECONDARY_DS, DEFAULT_DS] {
        for n in nodes_in(ds) {
            let mut put = Put::new(fixture(file(n)), 1_000 + n as i64);
            if ds == SECONDARY_DS {
                put.secondary = vec!["LocalCrs"];
            }
            let (key, meta) = meta_of(&put);
            assert_eq!(meta.qualified_type, qualified_type(n), "{n:?}");
            uuids.insert(n, key.uuid);
            objects.push((ds, put));
        }
    }
    seed(dir.path(), &[PRIMARY_DS, SECONDARY_DS], &objects);
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    (server, dir, Model { uuids })
}

fn request(
    model: &Model,
    ds: &str,
    start: N,
    scope: ContextScopeKind,
    depth: i32,
    navigable: Kind,
    types: &[&str],
) -> GetResources {
    let mut r = get_resources(&model.uri(ds, start), scope, depth);
    r.context.navigable_edges = navigable;
    r.context.data_object_types = types.iter().map(|&t| t.into()).collect();
    r.include_edges = true;
    r
}

/// The notes' rules restated on an explicit edge list (10-discovery.md §2.2 and the
/// decisions in the handler's documentation).
struct Query<'a> {
    start: N,
    scope: ContextScopeKind,
    depth: usize,
    navigable: Kind,
    secondary_targets: bool,
    secondary_sources: bool,
    keep: &'a dyn Fn(N) -> bool,
}

fn expected(edges: &[(N, N, Kind)], q: &Query) -> (BTreeSet<N>, BTreeSet<(N, N, Kind)>) {
    use ContextScopeKind as S;
    let allowed = |k: Kind| q.navigable == Kind::Both || q.navigable == k;
    let include_self = matches!(q.scope, S::Self_ | S::SourcesOrSelf | S::TargetsOrSelf);
    let forwards = matches!(q.scope, S::Targets | S::TargetsOrSelf);
    let mut visited = BTreeSet::from([q.start]);
    let mut found = Vec::new();
    let mut followed = Vec::new();
    if include_self {
        found.push(q.start);
    }
    if q.scope != S::Self_ {
        let mut frontier = vec![q.start];
        for _ in 0..q.depth {
            let mut next = Vec::new();
            for &x in &frontier {
                for &(s, t, k) in edges {
                    let other = match (forwards, s == x, t == x) {
                        (true, true, _) => t,
                        (false, _, true) => s,
                        _ => continue,
                    };
                    if !allowed(k) {
                        continue;
                    }
                    followed.push((s, t, k));
                    if visited.insert(other) {
                        next.push(other);
                    }
                }
            }
            found.extend(&next);
            frontier = next;
        }
    }
    let mut output: Vec<N> = found.clone();
    for x in found {
        for &(s, t, k) in edges {
            if k != Kind::Secondary {
                continue;
            }
            let other = if q.secondary_targets && s == x {
                t
            } else if q.secondary_sources && t == x {
                s
            } else {
                continue;
            };
            followed.push((s, t, k));
            if visited.insert(other) {
                output.push(other);
            }
        }
    }
    let output: BTreeSet<N> = output.into_iter().filter(|&n| (q.keep)(n)).collect();
    let ends = |n: N| n == q.start || output.contains(&n);
    let edges = followed
        .into_iter()
        .filter(|&(s, t, _)| ends(s) && ends(t))
        .collect();
    (output, edges)
}

fn uris(model: &Model, ds: &str, nodes: impl IntoIterator<Item = N>) -> Vec<String> {
    let mut v: Vec<String> = nodes.into_iter().map(|n| model.uri(ds, n)).collect();
    v.sort();
    v
}

fn triples(
    model: &Model,
    ds: &str,
    edges: impl IntoIterator<Item = (N, N, Kind)>,
) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = edges
        .into_iter()
        .map(|(s, t, k)| (model.uri(ds, s), model.uri(ds, t), k.as_str().to_string()))
        .collect();
    v.sort();
    v
}

const SCOPES: [ContextScopeKind; 5] = ContextScopeKind::ALL;

fn type_matches(filter: &[&str], n: N) -> bool {
    let t = qualified_type(n);
    filter.is_empty()
        || filter
            .iter()
            .any(|f| f.strip_suffix('*').map_or(*f == t, |p| t.starts_with(p)))
}

#[tokio::test]
async fn every_scope_depth_and_edge_kind_matches_the_model() {
    let (server, _dir, model) = start().await;
    let client = server.client().await;
    let filters: [&[&str]; 4] = [
        &[],
        &["resqml20.*"],
        &["witsml21.Well"],
        &[
            "resqml20.obj_LocalDepth3dCrs",
            "resqml20.obj_GeneticBoundaryFeature",
        ],
    ];
    let mut checked = 0;
    for ds in [PRIMARY_DS, SECONDARY_DS, DEFAULT_DS] {
        let edges = edges_in(ds);
        for start in nodes_in(ds) {
            for scope in SCOPES {
                for depth in 1..=3 {
                    for navigable in [Kind::Primary, Kind::Secondary, Kind::Both] {
                        for filter in filters {
                            if navigable != Kind::Primary && !filter.is_empty() {
                                continue;
                            }
                            let keep = |n: N| type_matches(filter, n);
                            let (want, want_edges) = expected(
                                &edges,
                                &Query {
                                    start,
                                    scope,
                                    depth,
                                    navigable,
                                    secondary_targets: false,
                                    secondary_sources: false,
                                    keep: &keep,
                                },
                            );
                            let req =
                                request(&model, ds, start, scope, depth as i32, navigable, filter);
                            let answer = ask(&client, req).await;
                            let case = format!(
                                "{ds:?} {start:?} {scope} depth {depth} {navigable:?} {filter:?}"
                            );
                            assert!(answer.errors.is_empty(), "{case}: {:?}", answer.errors);
                            assert_eq!(answer.uris(), uris(&model, ds, want), "{case}");
                            assert_eq!(
                                answer.edge_triples(),
                                triples(&model, ds, want_edges),
                                "{case} edges"
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 1_000, "{checked} cases");
    server.stop().await;
}

#[tokio::test]
async fn secondary_neighbours_are_added_one_hop() {
    let (server, _dir, model) = start().await;
    let client = server.client().await;
    let edges = edges_in(SECONDARY_DS);
    for start in nodes_in(SECONDARY_DS) {
        for scope in SCOPES {
            for depth in 1..=3 {
                for (targets, sources) in [(true, false), (false, true), (true, true)] {
                    let keep = |_: N| true;
                    let (want, want_edges) = expected(
                        &edges,
                        &Query {
                            start,
                            scope,
                            depth,
                            navigable: Kind::Primary,
                            secondary_targets: targets,
                            secondary_sources: sources,
                            keep: &keep,
                        },
                    );
                    let mut req = request(
                        &model,
                        SECONDARY_DS,
                        start,
                        scope,
                        depth as i32,
                        Kind::Primary,
                        &[],
                    );
                    req.context.include_secondary_targets = targets;
                    req.context.include_secondary_sources = sources;
                    let answer = ask(&client, req).await;
                    let case = format!("{start:?} {scope} {depth} {targets} {sources}");
                    assert_eq!(answer.uris(), uris(&model, SECONDARY_DS, want), "{case}");
                    assert_eq!(
                        answer.edge_triples(),
                        triples(&model, SECONDARY_DS, want_edges),
                        "{case}"
                    );
                }
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn the_cases_the_notes_spell_out() {
    use ContextScopeKind as S;
    let (server, _dir, m) = start().await;
    let client = server.client().await;
    let ask_uris = |ds: &'static str, start: N, scope: S, depth: i32, types: &'static [&str]| {
        let req = request(&m, ds, start, scope, depth, Kind::Primary, types);
        let client = &client;
        async move { ask(client, req).await }
    };

    // Well W, Wellbore B referencing W: sources of W → [B], targets of B → [W], also in the
    // default dataspace, and with a type filter applied after the walk.
    for ds in [PRIMARY_DS, DEFAULT_DS] {
        let a = ask_uris(ds, N::Well, S::Sources, 1, &[]).await;
        assert_eq!(a.uris(), [m.uri(ds, N::Wellbore)]);
        assert_eq!(
            a.edge_triples(),
            triples(&m, ds, [(N::Wellbore, N::Well, Kind::Primary)])
        );
        let a = ask_uris(ds, N::Wellbore, S::Targets, 1, &[]).await;
        assert_eq!(a.uris(), [m.uri(ds, N::Well)]);
        let a = ask_uris(ds, N::Well, S::Sources, 2, &["witsml21.Wellbore"]).await;
        assert_eq!(a.uris(), [m.uri(ds, N::Wellbore)]);
    }
    assert!(
        m.uri(DEFAULT_DS, N::Well)
            .starts_with("eml:///witsml21.Well(")
    );

    // Grid G → CRS C (and → interpretation), HdfProxy → EPC makes no edge.
    let ds = PRIMARY_DS;
    let a = ask_uris(ds, N::Grid, S::TargetsOrSelf, 1, &[]).await;
    assert_eq!(a.uris(), uris(&m, ds, [N::Grid, N::Crs, N::Interp]));
    assert_eq!(
        a.edge_triples(),
        triples(
            &m,
            ds,
            [
                (N::Grid, N::Crs, Kind::Primary),
                (N::Grid, N::Interp, Kind::Primary)
            ]
        )
    );
    let crs_edge = a
        .edges
        .iter()
        .find(|e| e.target_uri == m.uri(ds, N::Crs))
        .unwrap();
    assert_eq!(
        crs_edge
            .custom_data
            .get("path")
            .map(|v| format!("{:?}", v.item)),
        Some("String(\"Grid2dPatch/Geometry/LocalCrs\")".to_string())
    );
    // The self resource is found by string equality with the URI sent (pyetp).
    assert!(a.resources.iter().any(|r| r.uri == m.uri(ds, N::Grid)));
    let a = ask_uris(ds, N::Grid, S::SourcesOrSelf, 1, &[]).await;
    assert_eq!(a.uris(), uris(&m, ds, [N::Grid, N::Prop]));

    // Depth 3 from the property reaches the feature; a CRS filter still walks through the grid.
    let a = ask_uris(ds, N::Prop, S::Targets, 3, &[]).await;
    assert_eq!(
        a.uris(),
        uris(&m, ds, [N::Grid, N::PKind, N::Interp, N::Crs, N::Feature])
    );
    let a = ask_uris(ds, N::Prop, S::Targets, 2, &[]).await;
    assert_eq!(
        a.uris(),
        uris(&m, ds, [N::Grid, N::PKind, N::Interp, N::Crs])
    );
    let a = ask_uris(
        ds,
        N::Prop,
        S::Targets,
        3,
        &["resqml20.obj_LocalDepth3dCrs"],
    )
    .await;
    assert_eq!(a.uris(), [m.uri(ds, N::Crs)]);
    assert!(
        a.edges.is_empty(),
        "the CRS's edge comes from the hidden grid"
    );
    let a = ask_uris(ds, N::Feature, S::Sources, 3, &[]).await;
    assert_eq!(a.uris(), uris(&m, ds, [N::Interp, N::Grid, N::Prop]));
    let a = ask_uris(ds, N::Epc, S::SourcesOrSelf, 3, &[]).await;
    assert_eq!(a.uris(), [m.uri(ds, N::Epc)]);

    // Secondary LocalCrs: only followed when navigable, or added with includeSecondaryTargets.
    let ds = SECONDARY_DS;
    let grid = |navigable: Kind, secondary_targets: bool| {
        let mut r = request(&m, ds, N::Grid, S::TargetsOrSelf, 1, navigable, &[]);
        r.context.include_secondary_targets = secondary_targets;
        r
    };
    let a = ask(&client, grid(Kind::Primary, false)).await;
    assert_eq!(a.uris(), uris(&m, ds, [N::Grid, N::Interp]));
    let a = ask(&client, grid(Kind::Secondary, false)).await;
    assert_eq!(a.uris(), uris(&m, ds, [N::Grid, N::Crs]));
    assert_eq!(
        a.edge_triples(),
        triples(&m, ds, [(N::Grid, N::Crs, Kind::Secondary)])
    );
    let a = ask(&client, grid(Kind::Both, false)).await;
    assert_eq!(a.uris(), uris(&m, ds, [N::Grid, N::Interp, N::Crs]));
    let a = ask(&client, grid(Kind::Primary, true)).await;
    assert_eq!(a.uris(), uris(&m, ds, [N::Grid, N::Interp, N::Crs]));
    // From the property, depth 1 finds the grid, whose secondary CRS is added.
    let mut r = request(&m, ds, N::Prop, S::Targets, 1, Kind::Primary, &[]);
    r.context.include_secondary_targets = true;
    let a = ask(&client, r).await;
    assert_eq!(a.uris(), uris(&m, ds, [N::Grid, N::PKind, N::Crs]));
    server.stop().await;
}

#[tokio::test]
async fn counts_and_resource_fields() {
    use ContextScopeKind as S;
    let (server, _dir, m) = start().await;
    let client = server.client().await;
    let ds = PRIMARY_DS;
    // (sourceCount, targetCount): the EPC is no target (HdfProxy), counts are of objects.
    let want = [
        (N::Crs, (1, 0)),
        (N::Feature, (1, 0)),
        (N::Interp, (1, 1)),
        (N::Grid, (1, 2)),
        (N::PKind, (1, 0)),
        (N::Prop, (0, 2)),
        (N::Epc, (0, 0)),
        (N::Well, (1, 0)),
        (N::Wellbore, (0, 1)),
    ];
    let check = |a: &Answer, nodes: &[N]| {
        assert_eq!(a.resources.len(), nodes.len());
        for r in &a.resources {
            let (n, (s, t)) = want
                .iter()
                .find(|(n, _)| m.uri(ds, *n) == r.uri)
                .unwrap_or_else(|| panic!("unexpected {}", r.uri));
            assert!(nodes.contains(n));
            assert_eq!(
                (r.source_count, r.target_count),
                (Some(*s), Some(*t)),
                "{n:?}"
            );
        }
    };
    // Dataspace listing (counts from the listing itself), scope and depth ignored.
    for (scope, depth) in [
        (S::Self_, 1),
        (S::Sources, 1),
        (S::Sources, 2),
        (S::Targets, 0),
    ] {
        let mut r = get_resources(&format!("eml:///dataspace('{ds}')"), scope, depth);
        r.count_objects = true;
        let a = ask(&client, r).await;
        check(&a, &nodes_in(ds));
    }
    // Filtered listing (counts looked up per object).
    let mut r = get_resources(&format!("eml:///dataspace('{ds}')"), S::Self_, 1);
    r.count_objects = true;
    r.context.data_object_types = vec!["resqml20.obj_Grid2dRepresentation".into()].into();
    check(&ask(&client, r).await, &[N::Grid]);
    // Walk.
    let mut r = request(&m, ds, N::Grid, S::SourcesOrSelf, 1, Kind::Primary, &[]);
    r.count_objects = true;
    check(&ask(&client, r).await, &[N::Grid, N::Prop]);

    // Without countObjects the counts are null; the other fields come from the XML and the
    // store.
    let a = ask(
        &client,
        request(&m, ds, N::Grid, S::Self_, 1, Kind::Primary, &[]),
    )
    .await;
    let grid = &a.resources[0];
    assert_eq!(grid.source_count, None);
    assert_eq!(grid.target_count, None);
    assert_eq!(grid.name, "Top Hugin depth surface");
    assert_eq!(grid.last_changed, 1_767_323_045_000_000);
    assert_eq!(grid.store_last_write, 1_000 + N::Grid as i64);
    assert_eq!(grid.store_created, 1_000 + N::Grid as i64);
    assert!(grid.alternate_uris.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn dataspace_listings_report_the_edges_among_their_resources() {
    use ContextScopeKind as S;
    let (server, _dir, m) = start().await;
    let client = server.client().await;
    let listing = |ds: &str, navigable: Kind, secondary: bool, types: &[&str]| {
        let mut r = get_resources(&format!("eml:///dataspace('{ds}')"), S::Self_, 1);
        r.include_edges = true;
        r.context.navigable_edges = navigable;
        r.context.include_secondary_sources = secondary;
        r.context.data_object_types = types.iter().map(|&t| t.into()).collect();
        r
    };
    for (ds, navigable, secondary, types) in [
        (PRIMARY_DS, Kind::Primary, false, &[][..]),
        (PRIMARY_DS, Kind::Secondary, false, &[]),
        (PRIMARY_DS, Kind::Primary, false, &["resqml20.*"]),
        (
            PRIMARY_DS,
            Kind::Both,
            false,
            &[
                "resqml20.obj_Grid2dRepresentation",
                "resqml20.obj_LocalDepth3dCrs",
            ],
        ),
        (SECONDARY_DS, Kind::Primary, false, &[]),
        (SECONDARY_DS, Kind::Secondary, false, &[]),
        (SECONDARY_DS, Kind::Both, false, &[]),
        (SECONDARY_DS, Kind::Primary, true, &[]),
    ] {
        let a = ask(&client, listing(ds, navigable, secondary, types)).await;
        let listed: Vec<N> = nodes_in(ds)
            .into_iter()
            .filter(|&n| type_matches(types, n))
            .collect();
        assert_eq!(a.uris(), uris(&m, ds, listed.iter().copied()));
        let want = edges_in(ds).into_iter().filter(|&(s, t, k)| {
            let kind_ok =
                navigable == Kind::Both || navigable == k || (secondary && k == Kind::Secondary);
            kind_ok && listed.contains(&s) && listed.contains(&t)
        });
        assert_eq!(
            a.edge_triples(),
            triples(&m, ds, want),
            "{ds} {navigable:?} {secondary} {types:?}"
        );
    }
    server.stop().await;
}
