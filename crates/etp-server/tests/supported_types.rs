//! SupportedTypes (25) over a real server: counts per type in a dataspace, the types
//! around an object per scope, `returnEmptyTypes`, and the error codes.

mod common;
mod store_fixtures;

use common::TestServer;
use etp_client::Client;
use etp_protocol::types::datatypes::object::{ContextScopeKind, RelationshipKind, SupportedType};
use etp_protocol::types::protocol::supported_types::{
    GetSupportedTypes, GetSupportedTypesResponse,
};
use store_fixtures::*;

async fn supported_types(
    client: &Client,
    uri: &str,
    scope: ContextScopeKind,
    return_empty_types: bool,
    count_objects: bool,
) -> Result<Vec<SupportedType>, etp_client::ClientError> {
    let parts: Vec<GetSupportedTypesResponse> = client
        .request_all(GetSupportedTypes {
            uri: uri.to_owned().into(),
            scope,
            return_empty_types,
            count_objects,
        })
        .await?;
    Ok(parts.into_iter().flat_map(|p| p.supported_types).collect())
}

/// (type, count) pairs, all with relationshipKind Primary.
fn counted(types: &[SupportedType]) -> Vec<(String, Option<i32>)> {
    assert!(
        types
            .iter()
            .all(|t| t.relationship_kind == RelationshipKind::Primary)
    );
    types
        .iter()
        .map(|t| (t.data_object_type.to_string(), t.object_count))
        .collect()
}

fn pairs(expected: &[(&str, i32)]) -> Vec<(String, Option<i32>)> {
    expected
        .iter()
        .map(|(t, n)| (t.to_string(), Some(*n)))
        .collect()
}

async fn seeded() -> (TestServer, Client) {
    let server = TestServer::start().await;
    let client = server.client().await;
    create_dataspace(&client, DS_PATH).await;
    put_fixtures(&client).await;
    let second_crs_uuid = "3d2f8b71-6e4f-4c9b-8a32-4f5e6d7c8b92";
    let response = put(
        &client,
        vec![(
            "crs 2".into(),
            data_object(
                &uri("resqml20.obj_LocalDepth3dCrs", second_crs_uuid),
                &variant(CRS, CRS_UUID, second_crs_uuid),
            ),
        )],
    )
    .await;
    assert!(response.errors().is_empty());
    (server, client)
}

#[tokio::test]
async fn dataspace_types_are_counted_whatever_the_scope() {
    let (server, client) = seeded().await;
    let expected = pairs(&[
        ("eml20.obj_EpcExternalPartReference", 1),
        ("resqml20.obj_Grid2dRepresentation", 1),
        ("resqml20.obj_HorizonInterpretation", 1),
        ("resqml20.obj_LocalDepth3dCrs", 2),
        ("witsml21.Well", 1),
    ]);
    for scope in [ContextScopeKind::Self_, ContextScopeKind::Targets] {
        let types = supported_types(&client, DS, scope, false, true)
            .await
            .unwrap();
        assert_eq!(counted(&types), expected);
    }
    let types = supported_types(&client, DS, ContextScopeKind::Self_, false, false)
        .await
        .unwrap();
    assert_eq!(types.len(), 5);
    assert!(types.iter().all(|t| t.object_count.is_none()));

    // returnEmptyTypes adds the store's other types with count 0.
    let types = supported_types(&client, DS, ContextScopeKind::Self_, true, true)
        .await
        .unwrap();
    let find = |name: &str| {
        types
            .iter()
            .find(|t| t.data_object_type == name)
            .map(|t| t.object_count)
    };
    assert_eq!(find("resqml20.obj_LocalDepth3dCrs"), Some(Some(2)));
    assert_eq!(find("witsml21.Wellbore"), Some(Some(0)));
    assert_eq!(find("resqml20.obj_IjkGridRepresentation"), Some(Some(0)));
    assert!(types.len() > 100);
    let mut sorted = types.clone();
    sorted.sort_by(|a, b| a.data_object_type.cmp(&b.data_object_type));
    assert_eq!(sorted, types);

    // The default dataspace exists and is empty here.
    let types = supported_types(&client, "eml:///", ContextScopeKind::Self_, false, true)
        .await
        .unwrap();
    assert!(types.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn object_scopes_follow_the_references() {
    let (server, client) = seeded().await;
    let grid = grid_uri();
    // The grid references its interpretation and CRS; the HDF5 proxy is not an edge.
    let targets = supported_types(&client, &grid, ContextScopeKind::Targets, false, true)
        .await
        .unwrap();
    assert_eq!(
        counted(&targets),
        pairs(&[
            ("resqml20.obj_HorizonInterpretation", 1),
            ("resqml20.obj_LocalDepth3dCrs", 1),
        ])
    );
    let with_self = supported_types(&client, &grid, ContextScopeKind::TargetsOrSelf, false, true)
        .await
        .unwrap();
    assert_eq!(
        counted(&with_self),
        pairs(&[
            ("resqml20.obj_Grid2dRepresentation", 1),
            ("resqml20.obj_HorizonInterpretation", 1),
            ("resqml20.obj_LocalDepth3dCrs", 1),
        ])
    );
    let sources = supported_types(&client, &grid, ContextScopeKind::Sources, false, true)
        .await
        .unwrap();
    assert!(sources.is_empty());
    let itself = supported_types(&client, &grid, ContextScopeKind::Self_, false, true)
        .await
        .unwrap();
    assert_eq!(
        counted(&itself),
        pairs(&[("resqml20.obj_Grid2dRepresentation", 1)])
    );

    let crs = crs_uri();
    let sources = supported_types(&client, &crs, ContextScopeKind::SourcesOrSelf, false, true)
        .await
        .unwrap();
    assert_eq!(
        counted(&sources),
        pairs(&[
            ("resqml20.obj_Grid2dRepresentation", 1),
            ("resqml20.obj_LocalDepth3dCrs", 1),
        ])
    );
    // The interpretation's feature is not stored: no target type.
    let targets = supported_types(
        &client,
        &interp_uri(),
        ContextScopeKind::Targets,
        true,
        false,
    )
    .await
    .unwrap();
    assert!(targets.is_empty());
    // The EPC proxy has no edges at all.
    let sources = supported_types(&client, &epc_uri(), ContextScopeKind::Sources, false, true)
        .await
        .unwrap();
    assert!(sources.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn errors_have_the_codes_of_the_notes() {
    let (server, client) = seeded().await;
    let code = |r: Result<Vec<SupportedType>, etp_client::ClientError>| {
        r.unwrap_err().code().map(|c| c.code())
    };
    let scope = ContextScopeKind::Self_;
    assert_eq!(
        code(supported_types(&client, "eml://invalidUri", scope, false, true).await),
        Some(9)
    );
    let query = format!("{DS}/resqml20.obj_LocalDepth3dCrs");
    assert_eq!(
        code(supported_types(&client, &query, scope, false, true).await),
        Some(9)
    );
    assert_eq!(
        code(supported_types(&client, "eml:///dataspace('nowhere')", scope, false, true).await),
        Some(11)
    );
    let missing = uri(
        "resqml20.obj_LocalDepth3dCrs",
        "11111111-2222-4333-8444-555555555555",
    );
    assert_eq!(
        code(supported_types(&client, &missing, scope, false, true).await),
        Some(11)
    );
    let wrong_type = uri("resqml20.obj_LocalTime3dCrs", CRS_UUID);
    assert_eq!(
        code(supported_types(&client, &wrong_type, scope, false, true).await),
        Some(11)
    );
    let unsupported = uri("witsml21.Unsupported", WELL_UUID);
    assert_eq!(
        code(supported_types(&client, &unsupported, scope, false, true).await),
        Some(16)
    );
    server.stop().await;
}

#[tokio::test]
async fn long_lists_are_split_and_cut_at_max_response_count() {
    let server = TestServer::start_with(|c| c.max_response_count = 200).await;
    let client = server.client_with(|c| c.max_message_size = 5_000).await;
    create_dataspace(&client, DS_PATH).await;
    let response = client
        .request(GetSupportedTypes {
            uri: DS.into(),
            scope: ContextScopeKind::Self_,
            return_empty_types: true,
            count_objects: true,
        })
        .await
        .unwrap();
    let errors = response.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, None);
    assert_eq!(errors[0].1.code, 30);
    let parts = response.bodies();
    assert!(
        parts.len() > 1,
        "200 entries do not fit in one 5,000-byte message"
    );
    let listed: usize = parts
        .into_iter()
        .map(|b| {
            GetSupportedTypesResponse::try_from(b.clone())
                .unwrap()
                .supported_types
                .len()
        })
        .sum();
    assert_eq!(listed, 200);
    server.stop().await;
}
