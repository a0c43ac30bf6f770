//! Discovery (protocol 3): GetResources with every part (resources and edges) collected,
//! and GetDeletedResources (10-discovery.md).

use etp_protocol::error_code::ErrorCode;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::object::{
    ActiveStatusKind, ContextInfo, ContextScopeKind, DeletedResource, Edge, RelationshipKind,
    Resource,
};
use etp_protocol::types::protocol::discovery::{
    DiscoveryMessage, GetDeletedResources, GetDeletedResourcesResponse, GetResources,
};

use super::{OpsError, unexpected};
use crate::{Client, ClientError};

/// What to discover: a GetResources request with readable defaults (`self` scope, depth
/// 1, every type, both kinds of edges, no counts, no edges).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceQuery {
    /// Starting point: a dataspace URI (every object in it) or a data object URI (graph
    /// walk).
    pub uri: String,
    /// Direction of the walk from a data object (ignored by stores for a dataspace).
    pub scope: ContextScopeKind,
    /// Hops to walk.
    pub depth: i32,
    /// Qualified types to return (`resqml20.obj_Grid2dRepresentation`, `resqml20.*`);
    /// empty for all.
    pub types: Vec<String>,
    /// Which relationships the walk may follow.
    pub navigable_edges: RelationshipKind,
    /// Also return the secondary targets of what is found.
    pub include_secondary_targets: bool,
    /// Also return the secondary sources of what is found.
    pub include_secondary_sources: bool,
    /// Ask for `sourceCount` / `targetCount`.
    pub count_objects: bool,
    /// Ask for the edges between the resources found.
    pub include_edges: bool,
    /// Only resources written after this time (µs since the epoch).
    pub store_last_write_filter: Option<i64>,
    /// Only resources with this status.
    pub active_status_filter: Option<ActiveStatusKind>,
}

impl ResourceQuery {
    /// The defaults for `uri`.
    pub fn new(uri: impl Into<String>) -> ResourceQuery {
        ResourceQuery {
            uri: uri.into(),
            scope: ContextScopeKind::Self_,
            depth: 1,
            types: Vec::new(),
            navigable_edges: RelationshipKind::Both,
            include_secondary_targets: false,
            include_secondary_sources: false,
            count_objects: false,
            include_edges: false,
            store_last_write_filter: None,
            active_status_filter: None,
        }
    }

    /// The request message.
    pub fn to_request(&self) -> GetResources {
        GetResources {
            context: ContextInfo {
                uri: self.uri.clone(),
                depth: self.depth,
                data_object_types: self.types.clone(),
                navigable_edges: self.navigable_edges,
                include_secondary_targets: self.include_secondary_targets,
                include_secondary_sources: self.include_secondary_sources,
            },
            scope: self.scope,
            count_objects: self.count_objects,
            store_last_write_filter: self.store_last_write_filter,
            active_status_filter: self.active_status_filter,
            include_edges: self.include_edges,
        }
    }
}

/// Everything a GetResources answered.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Resources {
    /// The resources of every GetResourcesResponse part, in order.
    pub resources: Vec<Resource>,
    /// The edges of every GetResourcesEdgesResponse part, in order.
    pub edges: Vec<Edge>,
    /// The store stopped at its `MaxResponseCount` (ERESPONSECOUNT_EXCEEDED after the
    /// parts): the lists are incomplete.
    pub truncated: bool,
}

/// Sends one GetResources and collects all its parts. A ProtocolException ends the
/// operation with [`OpsError::Client`] (invalid URI, object not found...), except
/// `ERESPONSECOUNT_EXCEEDED`, which only marks the result as truncated.
pub async fn get_resources(client: &Client, query: &ResourceQuery) -> Result<Resources, OpsError> {
    let response = client.request(query.to_request()).await?;
    let errors = response.errors();
    let truncated = !errors.is_empty()
        && errors
            .iter()
            .all(|(_, e)| ErrorCode::from_code(e.code) == ErrorCode::ERESPONSECOUNT_EXCEEDED);
    if !truncated {
        response.check()?;
    }
    let mut out = Resources {
        truncated,
        ..Resources::default()
    };
    for body in response.into_bodies() {
        match body {
            Body::Discovery(DiscoveryMessage::GetResourcesResponse(part)) => {
                out.resources.extend(part.resources)
            }
            Body::Discovery(DiscoveryMessage::GetResourcesEdgesResponse(part)) => {
                out.edges.extend(part.edges)
            }
            other => {
                return Err(OpsError::Client(ClientError::UnexpectedResponse(format!(
                    "expected GetResourcesResponse or GetResourcesEdgesResponse, got {}",
                    other.info().name
                ))));
            }
        }
    }
    Ok(out)
}

/// The tombstones of a dataspace: objects deleted after `delete_time_filter` (µs), of the
/// given types (empty for all).
pub async fn get_deleted_resources(
    client: &Client,
    dataspace_uri: &str,
    delete_time_filter: Option<i64>,
    types: &[String],
) -> Result<Vec<DeletedResource>, OpsError> {
    let response = client
        .request(GetDeletedResources {
            dataspace_uri: dataspace_uri.to_string(),
            delete_time_filter,
            data_object_types: types.to_vec(),
        })
        .await?;
    response.check()?;
    let mut out = Vec::new();
    for body in response.into_bodies() {
        let part = GetDeletedResourcesResponse::try_from(body)
            .map_err(|other| unexpected::<GetDeletedResourcesResponse>(&other))?;
        out.extend(part.deleted_resources);
    }
    Ok(out)
}
