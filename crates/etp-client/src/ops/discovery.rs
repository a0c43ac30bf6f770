//! Discovery (protocol 3): GetResources with every part (resources and edges) collected,
//! and GetDeletedResources (10-discovery.md).

use etp_protocol::codec::Map;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::object::{
    ActiveStatusKind, ContextInfo, ContextScopeKind, DeletedResource, Edge, RelationshipKind,
    Resource,
};
use etp_protocol::types::protocol::discovery::{
    DiscoveryMessage, GetDeletedResources, GetDeletedResourcesResponse, GetResources,
};

use super::{KeyError, OpsError, unexpected};
use crate::{Client, ClientError, Response};

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
                uri: self.uri.clone().into(),
                depth: self.depth,
                data_object_types: self.types.iter().map(Into::into).collect(),
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
    /// Records the store left out and reported by key in its ProtocolException (e.g. a
    /// resource too large for any message, code 17).
    pub omitted: Map<KeyError>,
}

/// Sends one GetResources and collects all its parts. A ProtocolException without a key
/// ends the operation with [`OpsError::Client`] (invalid URI, object not found...),
/// except `ERESPONSECOUNT_EXCEEDED`, which only marks the result as truncated; errors
/// with a key name records the store left out ([`Resources::omitted`]).
pub async fn get_resources(client: &Client, query: &ResourceQuery) -> Result<Resources, OpsError> {
    let response = client.request(query.to_request()).await?;
    collect_resources(response)
}

/// The resources and edges of every part of a GetResources answer.
fn collect_resources(response: Response) -> Result<Resources, OpsError> {
    let mut out = Resources::default();
    for (key, error) in response.errors() {
        let code = ErrorCode::from_code(error.code);
        match key {
            _ if code == ErrorCode::ERESPONSECOUNT_EXCEEDED => out.truncated = true,
            Some(key) => {
                out.omitted.insert(key.into(), KeyError::from_info(&error));
            }
            None => {
                return Err(OpsError::Client(ClientError::Protocol {
                    code,
                    message: error.message.to_string(),
                }));
            }
        }
    }
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
            dataspace_uri: dataspace_uri.to_string().into(),
            delete_time_filter,
            data_object_types: types.iter().map(Into::into).collect(),
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

#[cfg(test)]
mod tests {
    use etp_protocol::message::{Message, flags};
    use etp_protocol::types::datatypes::{ErrorInfo, MessageHeader};
    use etp_protocol::types::protocol::core::ProtocolException;
    use etp_protocol::types::protocol::discovery::{
        GetResourcesEdgesResponse, GetResourcesResponse,
    };

    use super::*;

    fn msg(id: i64, body: Body) -> Message {
        let info = body.info();
        Message {
            header: MessageHeader {
                protocol: info.protocol,
                message_type: info.message_type,
                correlation_id: 2,
                message_id: id,
                message_flags: if id == 9 { flags::FIN } else { 0 },
            },
            extension: None,
            body,
        }
    }

    fn resource(uri: &str) -> Resource {
        Resource {
            uri: uri.into(),
            ..Resource::default()
        }
    }

    fn exception(key: Option<&str>, code: i32) -> Body {
        let info = ErrorInfo {
            message: "m".into(),
            code,
        };
        let mut errors = Map::new();
        let mut error = None;
        match key {
            Some(k) => {
                errors.insert(k.to_string().into(), info);
            }
            None => error = Some(info),
        }
        ProtocolException { error, errors }.into()
    }

    #[test]
    fn collects_parts_edges_and_truncation() {
        let edge = Edge {
            source_uri: "a".into(),
            target_uri: "b".into(),
            relationship_kind: RelationshipKind::Primary,
            custom_data: Map::new(),
        };
        let response = Response::new(
            2,
            vec![
                msg(
                    5,
                    GetResourcesEdgesResponse {
                        edges: vec![edge.clone()],
                    }
                    .into(),
                ),
                msg(
                    1,
                    GetResourcesResponse {
                        resources: vec![resource("a")],
                    }
                    .into(),
                ),
                msg(
                    3,
                    GetResourcesResponse {
                        resources: vec![resource("b")],
                    }
                    .into(),
                ),
                msg(7, exception(Some("huge"), 17)),
                msg(9, exception(None, 30)),
            ],
        );
        let out = collect_resources(response).unwrap();
        let uris: Vec<&str> = out.resources.iter().map(|r| r.uri.as_str()).collect();
        assert_eq!(uris, ["a", "b"]);
        assert_eq!(out.edges, [edge]);
        assert!(out.truncated);
        assert_eq!(out.omitted["huge"].code, ErrorCode::EMAXSIZE_EXCEEDED);
    }

    #[test]
    fn a_request_error_fails_the_operation() {
        let response = Response::new(2, vec![msg(9, exception(None, 11))]);
        let error = collect_resources(response).unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::ENOT_FOUND));
    }
}
