//! `etp ls URI`: Discovery as a tree.
//!
//! For a data object, the resources are arranged by the walk: each one under the object
//! it was reached from (following the edges the store returned, in the direction of the
//! scope), indented by its distance from the context. For a dataspace every object is
//! one step away, so the listing is flat, sorted by type and name.

use std::collections::{HashMap, HashSet, VecDeque};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use etp_client::ops::{self, ResourceQuery};
use etp_protocol::types::datatypes::object::{ContextScopeKind, Edge, Resource};
use etp_protocol::uri::{DataObjectUri, EtpUri};

use super::remote::{RemoteArgs, close, print_json};

/// `etp ls`.
#[derive(Debug, Clone, Args)]
pub struct LsArgs {
    /// Where to start: a dataspace URI (`eml:///`, `eml:///dataspace('x')`) or a data
    /// object URI.
    #[arg(default_value = "eml:///")]
    pub uri: String,
    /// Hops to walk from a data object.
    #[arg(long, default_value_t = 1)]
    pub depth: i32,
    /// Only resources of this qualified type (repeatable; `resqml20.*` wildcards).
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Direction of the walk from a data object.
    #[arg(long, value_enum, default_value_t = Scope::TargetsOrSelf)]
    pub scope: Scope,
    /// Ask the store for source and target counts.
    #[arg(long)]
    pub count: bool,
    /// Connection and output options.
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `ContextScopeKind`, as command-line values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scope {
    /// The object itself.
    #[value(name = "self")]
    Itself,
    /// Objects referencing it, recursively.
    Sources,
    /// Objects it references, recursively.
    Targets,
    /// Sources and the object.
    SourcesOrSelf,
    /// Targets and the object.
    TargetsOrSelf,
}

impl From<Scope> for ContextScopeKind {
    fn from(scope: Scope) -> Self {
        match scope {
            Scope::Itself => ContextScopeKind::Self_,
            Scope::Sources => ContextScopeKind::Sources,
            Scope::Targets => ContextScopeKind::Targets,
            Scope::SourcesOrSelf => ContextScopeKind::SourcesOrSelf,
            Scope::TargetsOrSelf => ContextScopeKind::TargetsOrSelf,
        }
    }
}

/// Runs `etp ls`.
pub async fn run(args: LsArgs) -> anyhow::Result<ExitCode> {
    let mut query = ResourceQuery::new(args.uri.clone());
    query.depth = args.depth;
    query.types = args.types.clone();
    query.scope = args.scope.into();
    query.count_objects = args.count;
    query.include_edges = true;
    let client = args.remote.connect().await?;
    let found = ops::get_resources(&client, &query).await?;
    close(client).await;
    if args.remote.json {
        print_json(&found)?;
    } else {
        println!("{}", args.uri);
        for (depth, resource) in tree(&args.uri, query.scope, &found.resources, &found.edges) {
            println!("{}", line(depth, resource, args.count));
        }
    }
    for (key, error) in &found.omitted {
        eprintln!("warning: the store left out {key}: {error}");
    }
    if found.truncated {
        eprintln!(
            "warning: the store stopped at its MaxResponseCount; the list is incomplete \
             (narrow it with --type or --depth)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One resource: indentation, name, qualified type, uuid (and counts).
fn line(depth: usize, resource: &Resource, counts: bool) -> String {
    let indent = "  ".repeat(depth);
    let name = if resource.name.is_empty() {
        "(no title)"
    } else {
        &resource.name
    };
    let mut text = match DataObjectUri::parse(&resource.uri) {
        Ok(uri) => format!(
            "{indent}{name}  {}  {}",
            uri.qualified_type(),
            uri.uuid_string()
        ),
        Err(_) => format!("{indent}{name}  {}", resource.uri),
    };
    if counts {
        let count = |c: Option<i32>| c.map_or("-".to_string(), |c| c.to_string());
        text.push_str(&format!(
            "  (sources {}, targets {})",
            count(resource.source_count),
            count(resource.target_count)
        ));
    }
    text
}

/// Sort key: type, then name, then URI.
fn order_key(resource: &Resource) -> (String, &str, &str) {
    let qualified = DataObjectUri::parse(&resource.uri)
        .map(|u| u.qualified_type().to_string())
        .unwrap_or_default();
    (qualified, resource.name.as_str(), resource.uri.as_str())
}

/// The resources in display order with their depth: a breadth-first tree from the context
/// object along the edges in the scope's direction, printed depth-first; anything the
/// edges do not reach comes last at depth 1.
fn tree<'a>(
    context: &str,
    scope: ContextScopeKind,
    resources: &'a [Resource],
    edges: &[Edge],
) -> Vec<(usize, &'a Resource)> {
    let mut sorted: Vec<&Resource> = resources.iter().collect();
    sorted.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
    let is_object = matches!(EtpUri::parse(context), Ok(EtpUri::DataObject(_)));
    if !is_object {
        return sorted.into_iter().map(|r| (1, r)).collect();
    }
    let by_uri: HashMap<&str, &Resource> = resources.iter().map(|r| (r.uri.as_str(), r)).collect();
    let forward = !matches!(
        scope,
        ContextScopeKind::Sources | ContextScopeKind::SourcesOrSelf
    );
    let mut neighbours: HashMap<&str, Vec<&str>> = HashMap::new();
    for edge in edges {
        let (from, to) = if forward {
            (edge.source_uri.as_str(), edge.target_uri.as_str())
        } else {
            (edge.target_uri.as_str(), edge.source_uri.as_str())
        };
        neighbours.entry(from).or_default().push(to);
    }
    // Breadth-first: each resource's parent is the first one it was reached from.
    let mut children: HashMap<&str, Vec<&str>> = HashMap::new();
    let mut seen: HashSet<&str> = HashSet::from([context]);
    let mut queue = VecDeque::from([context]);
    while let Some(uri) = queue.pop_front() {
        for &next in neighbours.get(uri).into_iter().flatten() {
            if by_uri.contains_key(next) && seen.insert(next) {
                children.entry(uri).or_default().push(next);
                queue.push_back(next);
            }
        }
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| order_key(by_uri[a]).cmp(&order_key(by_uri[b])));
    }
    let mut out = Vec::new();
    // The context itself is shown at depth 0 when the store returned it.
    let mut stack: Vec<(usize, &str)> = vec![(0, context)];
    while let Some((depth, uri)) = stack.pop() {
        if let Some(resource) = by_uri.get(uri) {
            out.push((depth, *resource));
        }
        if let Some(list) = children.get(uri) {
            stack.extend(list.iter().rev().map(|c| (depth + 1, *c)));
        }
    }
    for resource in sorted {
        if !seen.contains(resource.uri.as_str()) {
            out.push((1, resource));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use etp_protocol::types::datatypes::object::RelationshipKind;

    use super::*;

    const CRS: &str = "eml:///resqml20.obj_LocalDepth3dCrs(00000000-0000-0000-0000-000000000001)";
    const GRID: &str =
        "eml:///resqml20.obj_Grid2dRepresentation(00000000-0000-0000-0000-000000000002)";
    const INTERP: &str =
        "eml:///resqml20.obj_HorizonInterpretation(00000000-0000-0000-0000-000000000003)";
    const FEATURE: &str =
        "eml:///resqml20.obj_GeneticBoundaryFeature(00000000-0000-0000-0000-000000000004)";

    fn resource(uri: &str, name: &str) -> Resource {
        Resource {
            uri: uri.into(),
            name: name.into(),
            ..Resource::default()
        }
    }

    fn edge(source: &str, target: &str) -> Edge {
        Edge {
            source_uri: source.into(),
            target_uri: target.into(),
            relationship_kind: RelationshipKind::Primary,
            custom_data: Default::default(),
        }
    }

    #[test]
    fn targets_form_a_tree_by_distance() {
        let resources = vec![
            resource(FEATURE, "top"),
            resource(CRS, "crs"),
            resource(GRID, "grid"),
            resource(INTERP, "interp"),
        ];
        let edges = vec![edge(GRID, CRS), edge(GRID, INTERP), edge(INTERP, FEATURE)];
        let out = tree(GRID, ContextScopeKind::TargetsOrSelf, &resources, &edges);
        let shown: Vec<(usize, &str)> = out.iter().map(|(d, r)| (*d, r.name.as_str())).collect();
        assert_eq!(shown, [(0, "grid"), (1, "interp"), (2, "top"), (1, "crs")]);
        // The same edges walked backwards from the feature.
        let out = tree(FEATURE, ContextScopeKind::Sources, &resources[1..], &edges);
        let shown: Vec<(usize, &str)> = out.iter().map(|(d, r)| (*d, r.name.as_str())).collect();
        assert_eq!(shown, [(1, "interp"), (2, "grid"), (1, "crs")]);
    }

    #[test]
    fn dataspace_listing_is_flat_and_sorted() {
        let resources = vec![resource(GRID, "g"), resource(CRS, "c")];
        let out = tree("eml:///", ContextScopeKind::Self_, &resources, &[]);
        let shown: Vec<(usize, &str)> = out.iter().map(|(d, r)| (*d, r.name.as_str())).collect();
        assert_eq!(shown, [(1, "g"), (1, "c")]);
        let text = line(1, &resources[1], true);
        assert_eq!(
            text,
            "  c  resqml20.obj_LocalDepth3dCrs  00000000-0000-0000-0000-000000000001  (sources -, targets -)"
        );
    }
}
