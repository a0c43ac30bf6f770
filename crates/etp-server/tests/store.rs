//! Store (4) over a real server with the Rust client: round trips, Resource bookkeeping,
//! every per-key error, partial success, chunked put and get at a small message size,
//! persistence across a restart, the array lifecycle on delete, and the optional
//! referential-integrity check.

mod common;
mod store_fixtures;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::TestServer;
use etp_protocol::codec::Map;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::DataValue;
use etp_protocol::types::datatypes::object::{ActiveStatusKind, DataObject, Resource};
use etp_protocol::types::protocol::store::{
    Chunk, DeleteDataObjectsResponse, GetDataObjectsResponse, PutDataObjects,
    PutDataObjectsResponse,
};
use etp_protocol::{EtpString, Uuid};
use etp_server::access::DataAccess;
use etp_server::handlers::dataspace::DataspaceHandler;
use etp_server::handlers::store::{StoreHandler, StoreSettings};
use etp_server::{Registry, Server, ServerConfig};
use etp_store::{ArrayKey, ArrayMeta, ElementType, FjallStore, Store};
use store_fixtures::*;

fn micros(text: &str) -> i64 {
    etp_model::parse_xsd_datetime(text).expect("valid date")
}

#[tokio::test]
async fn put_get_delete_round_trip_is_byte_exact() {
    let server = TestServer::start().await;
    let client = server.client().await;
    create_dataspace(&client, DS_PATH).await;

    let mut well = data_object(&well_uri(), WELL);
    well.resource.active_status = ActiveStatusKind::Inactive;
    well.resource.name = "ignored: the XML has a title".into();
    well.resource.store_created = 1;
    well.resource
        .custom_data
        .insert("source".into(), DataValue::long(42));
    let mut entries: Vec<(String, DataObject)> = fixtures()
        .into_iter()
        .filter(|(key, _, _)| *key != "well")
        .map(|(key, uri, xml)| (key.to_owned(), data_object(&uri, xml)))
        .collect();
    entries.push(("well".into(), well));
    let before = etp_protocol::now_micros();
    let response = put(&client, entries).await;
    assert!(response.errors().is_empty(), "{:?}", response.errors());
    let answered: PutDataObjectsResponse = response.into_one().unwrap();
    let mut keys: Vec<&EtpString> = answered.success.keys().collect();
    keys.sort();
    assert_eq!(keys, ["crs", "epc", "grid", "interp", "well"]);
    assert!(answered.success.values().all(|r| r == &Default::default()));

    let uris: Vec<(String, String)> = fixtures()
        .into_iter()
        .map(|(key, uri, _)| (key.to_owned(), uri))
        .collect();
    let pairs: Vec<(&str, &str)> = uris.iter().map(|(k, u)| (k.as_str(), u.as_str())).collect();
    let response = get(&client, &pairs).await;
    assert!(response.errors().is_empty(), "{:?}", response.errors());
    let objects = objects_of(&response);
    assert_eq!(objects.len(), 5);
    for (key, uri, xml) in fixtures() {
        let object = &objects[key];
        assert_eq!(
            object.data,
            Bytes::from(xml),
            "{key} comes back byte for byte"
        );
        assert_eq!(object.blob_id, None);
        assert_eq!(object.format, "xml");
        assert_eq!(object.resource.uri, uri);
        assert_eq!(object.resource.source_count, None);
        assert_eq!(object.resource.target_count, None);
        assert!(object.resource.store_last_write >= before);
        assert_eq!(
            object.resource.store_created,
            object.resource.store_last_write
        );
    }
    // Names come from Citation/Title, lastChanged from LastUpdate, else Creation.
    assert_eq!(objects["crs"].resource.name, "ED50 / UTM 31N depth");
    assert_eq!(objects["well"].resource.name, "15/9-F-11");
    assert_eq!(
        objects["crs"].resource.last_changed,
        micros("2024-05-06T07:08:09Z")
    );
    assert_eq!(
        objects["well"].resource.last_changed,
        micros("2024-07-08T09:10:11.5Z")
    );
    // Every object of one put shares the request's storeLastWrite.
    assert_eq!(
        objects["crs"].resource.store_last_write,
        objects["well"].resource.store_last_write
    );
    // activeStatus and customData are kept as sent.
    assert_eq!(
        objects["well"].resource.active_status,
        ActiveStatusKind::Inactive
    );
    assert_eq!(
        objects["crs"].resource.active_status,
        ActiveStatusKind::Active
    );
    assert_eq!(
        objects["well"].resource.custom_data.get("source"),
        Some(&DataValue::long(42))
    );

    let response = delete(&client, &[("gone", &grid_uri())]).await;
    let deleted: DeleteDataObjectsResponse = response.into_one().unwrap();
    assert_eq!(deleted.deleted_uris["gone"].values, vec![grid_uri()]);

    // A get of a deleted object: an empty response first, then exactly its key in errors.
    let response = get(&client, &[("gone", &grid_uri())]).await;
    let bodies = response.bodies();
    assert_eq!(bodies.len(), 1);
    assert_eq!(
        bodies[0],
        &Body::from(GetDataObjectsResponse::default()),
        "an empty response precedes the errors"
    );
    assert_eq!(error_codes(&response), [("gone".to_string(), 11)]);
    server.stop().await;
}

#[tokio::test]
async fn update_keeps_store_created_and_raises_store_last_write() {
    let server = TestServer::start().await;
    let client = server.client().await;
    create_dataspace(&client, DS_PATH).await;
    let response = put(&client, vec![("k".into(), data_object(&crs_uri(), CRS))]).await;
    assert!(response.errors().is_empty());
    let first = get_one(&client, &crs_uri()).await;

    tokio::time::sleep(Duration::from_millis(5)).await;
    let renamed = variant(
        CRS,
        "ED50 / UTM 31N depth",
        "ED50 / UTM 31N depth (revised)",
    );
    let response = put(
        &client,
        vec![("k".into(), data_object(&crs_uri(), &renamed))],
    )
    .await;
    assert!(response.errors().is_empty());
    let second = get_one(&client, &crs_uri()).await;

    assert_eq!(second.resource.store_created, first.resource.store_created);
    assert!(second.resource.store_last_write > first.resource.store_last_write);
    assert_eq!(second.resource.name, "ED50 / UTM 31N depth (revised)");
    assert_eq!(second.data, Bytes::from(renamed));
    server.stop().await;
}

#[tokio::test]
async fn every_bad_put_entry_gets_its_code_and_the_good_ones_are_stored() {
    let server = TestServer::start_with(|c| c.max_data_object_size = 100_000).await;
    let client = server.client().await;
    create_dataspace(&client, DS_PATH).await;

    let other_uuid = "11111111-2222-4333-8444-555555555555";
    let entries = vec![
        ("good crs", data_object(&crs_uri(), CRS)),
        ("good well", data_object(&well_uri(), WELL)),
        (
            "invalid uri",
            data_object("eml:///witsml21.Well(invalid)", WELL),
        ),
        (
            "unsupported type",
            data_object(&uri("witsml21.Unsupported", WELL_UUID), WELL),
        ),
        (
            "not well-formed",
            data_object(&epc_uri(), &EPC.replace("</eml:MimeType>", "</eml:Mime>")),
        ),
        (
            "uuid mismatch",
            data_object(&uri("resqml20.obj_Grid2dRepresentation", other_uuid), GRID),
        ),
        (
            "type mismatch",
            data_object(&uri("resqml20.obj_LocalTime3dCrs", CRS_UUID), CRS),
        ),
        (
            "missing dataspace",
            data_object(
                &format!(
                    "eml:///dataspace('nowhere')/resqml20.obj_HorizonInterpretation({INTERP_UUID})"
                ),
                INTERP,
            ),
        ),
        (
            "too large",
            data_object(
                &uri("resqml20.obj_LocalDepth3dCrs", other_uuid),
                &big_crs(other_uuid, 150_000),
            ),
        ),
        (
            "not xml",
            DataObject {
                format: "json".into(),
                ..data_object(&interp_uri(), INTERP)
            },
        ),
    ];
    let response = put(
        &client,
        entries
            .into_iter()
            .map(|(k, o)| (k.to_string(), o))
            .collect(),
    )
    .await;
    assert_eq!(
        error_codes(&response),
        [
            ("invalid uri".to_string(), 9),
            ("missing dataspace".to_string(), 11),
            ("not well-formed".to_string(), 14),
            ("not xml".to_string(), 5),
            ("too large".to_string(), 17),
            ("type mismatch".to_string(), 14),
            ("unsupported type".to_string(), 16),
            ("uuid mismatch".to_string(), 14),
        ]
    );
    let mut success: Vec<String> = response
        .bodies()
        .into_iter()
        .filter_map(|b| PutDataObjectsResponse::try_from(b.clone()).ok())
        .flat_map(|r| r.success.into_keys())
        .map(String::from)
        .collect();
    success.sort();
    assert_eq!(success, ["good crs", "good well"]);

    // The good entries are stored, the bad ones are not.
    assert_eq!(get_one(&client, &crs_uri()).await.data, Bytes::from(CRS));
    assert_eq!(get_one(&client, &well_uri()).await.data, Bytes::from(WELL));
    let response = get(
        &client,
        &[
            ("epc", &epc_uri()),
            ("interp", &interp_uri()),
            ("grid", &grid_uri()),
        ],
    )
    .await;
    assert_eq!(
        error_codes(&response),
        [
            ("epc".to_string(), 11),
            ("grid".to_string(), 11),
            ("interp".to_string(), 11),
        ]
    );
    server.stop().await;
}

/// The dataspace of a GetDataObjects is looked up only once a key is not found: whatever
/// the order of the keys, those of a missing dataspace all say so, and a missing object
/// of an existing dataspace is "not found" next to found ones.
#[tokio::test]
async fn get_names_the_missing_dataspace_for_every_key_of_it() {
    let server = TestServer::start().await;
    let client = server.client().await;
    create_dataspace(&client, DS_PATH).await;
    put_fixtures(&client).await;

    let nowhere =
        |uuid: &str| format!("eml:///dataspace('nowhere')/resqml20.obj_LocalDepth3dCrs({uuid})");
    let (a, b) = (
        nowhere(CRS_UUID),
        nowhere("11111111-2222-4333-8444-555555555555"),
    );
    for request in [
        vec![("a", a.as_str()), ("b", b.as_str())],
        vec![("b", b.as_str())],
    ] {
        let response = get(&client, &request).await;
        assert!(objects_of(&response).is_empty());
        let errors = response.errors();
        assert_eq!(errors.len(), request.len());
        for (_, e) in errors {
            assert_eq!(e.code, 11);
            assert_eq!(
                e.message.as_str(),
                "dataspace eml:///dataspace('nowhere') does not exist"
            );
        }
    }

    let missing = uri(
        "resqml20.obj_LocalDepth3dCrs",
        "11111111-2222-4333-8444-555555555555",
    );
    let well = well_uri();
    for request in [
        [("well", well.as_str()), ("missing", missing.as_str())],
        [("missing", missing.as_str()), ("well", well.as_str())],
    ] {
        let response = get(&client, &request).await;
        assert_eq!(objects_of(&response).keys().collect::<Vec<_>>(), ["well"]);
        let errors = response.errors();
        assert_eq!(errors.len(), 1);
        let (key, e) = &errors[0];
        assert_eq!(key.as_deref(), Some("missing"));
        assert_eq!(
            e.message.as_str(),
            format!("data object {missing} not found")
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn get_and_delete_errors_are_per_key() {
    let server = TestServer::start().await;
    let client = server.client().await;
    create_dataspace(&client, DS_PATH).await;
    put_fixtures(&client).await;

    let missing_object = uri(
        "resqml20.obj_LocalDepth3dCrs",
        "11111111-2222-4333-8444-555555555555",
    );
    let missing_dataspace =
        format!("eml:///dataspace('nowhere')/resqml20.obj_LocalDepth3dCrs({CRS_UUID})");
    let unsupported = uri("witsml21.Unsupported", WELL_UUID);
    let wrong_type = uri("witsml21.Wellbore", WELL_UUID);
    let bad = [
        ("invalid", "eml://invalidUri"),
        ("dataspace uri", DS),
        ("unsupported", unsupported.as_str()),
        ("missing object", missing_object.as_str()),
        ("missing dataspace", missing_dataspace.as_str()),
        ("wrong type", wrong_type.as_str()),
    ];
    let expected = [
        ("dataspace uri".to_string(), 9),
        ("invalid".to_string(), 9),
        ("missing dataspace".to_string(), 11),
        ("missing object".to_string(), 11),
        ("unsupported".to_string(), 16),
        ("wrong type".to_string(), 11),
    ];

    let mut request = bad.to_vec();
    let well = well_uri();
    request.push(("well", &well));
    let response = get(&client, &request).await;
    assert_eq!(error_codes(&response), expected);
    let objects = objects_of(&response);
    assert_eq!(objects.keys().collect::<Vec<_>>(), ["well"]);

    let response = delete(&client, &request).await;
    assert_eq!(error_codes(&response), expected);
    let deleted: Vec<DeleteDataObjectsResponse> = response
        .bodies()
        .into_iter()
        .filter_map(|b| DeleteDataObjectsResponse::try_from(b.clone()).ok())
        .collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].deleted_uris["well"].values, vec![well_uri()]);

    // Deleting again: not found.
    let response = delete(&client, &[("again", &well_uri())]).await;
    assert_eq!(error_codes(&response), [("again".to_string(), 11)]);

    // Another format than xml refuses the whole request.
    let uris: Map<EtpString> = [("k".into(), crs_uri().into())].into_iter().collect();
    let error = client
        .request_one::<GetDataObjectsResponse>(
            etp_protocol::types::protocol::store::GetDataObjects {
                uris,
                format: "json".into(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(error.code().map(|c| c.code()), Some(5));
    server.stop().await;
}

#[tokio::test]
async fn version_qualified_uris_name_the_stored_version_only() {
    let server = TestServer::start().await;
    let client = server.client().await;
    create_dataspace(&client, DS_PATH).await;
    let versioned_xml = WELL.replace(
        "schemaVersion=\"2.1\"",
        "schemaVersion=\"2.1\" objectVersion=\"1.0\"",
    );
    let v10 = format!("{DS}/witsml21.Well(uuid={WELL_UUID},version='1.0')");
    let v20 = format!("{DS}/witsml21.Well(uuid={WELL_UUID},version='2.0')");

    let response = put(
        &client,
        vec![("v2".into(), data_object(&v20, &versioned_xml))],
    )
    .await;
    assert_eq!(error_codes(&response), [("v2".to_string(), 14)]);
    let response = put(
        &client,
        vec![("v1".into(), data_object(&v10, &versioned_xml))],
    )
    .await;
    assert!(response.errors().is_empty(), "{:?}", response.errors());

    let response = get(
        &client,
        &[("v1", &v10), ("v2", &v20), ("plain", &well_uri())],
    )
    .await;
    assert_eq!(error_codes(&response), [("v2".to_string(), 11)]);
    let objects = objects_of(&response);
    assert_eq!(objects["v1"].data, Bytes::from(versioned_xml));
    assert_eq!(objects["v1"].resource.uri, well_uri());
    assert!(objects.contains_key("plain"));
    server.stop().await;
}

/// The chunk messages of a response, in order.
fn chunks_of(response: &etp_client::Response) -> Vec<Chunk> {
    response
        .bodies()
        .into_iter()
        .filter_map(|b| Chunk::try_from(b.clone()).ok())
        .collect()
}

#[tokio::test]
async fn chunked_put_and_get_at_a_small_message_size() {
    const LIMIT: usize = 5_000;
    let server = TestServer::start().await;
    let client = server.client_with(|c| c.max_message_size = LIMIT).await;
    create_dataspace(&client, DS_PATH).await;

    let big_uuid = "0e1d2c3b-4a59-4687-a5b4-c3d2e1f00918";
    let big_uri = uri("resqml20.obj_LocalDepth3dCrs", big_uuid);
    let big = big_crs(big_uuid, 50 * 1024);
    assert!(big.len() > 50 * 1024);

    // pyetp style: PutDataObjects without data, then chunks, the last one final.
    let blob = Uuid::new_v4();
    let first = PutDataObjects {
        data_objects: [(
            format!("Big crs -- {big_uri}").into(),
            DataObject {
                blob_id: Some(blob),
                data: Bytes::new(),
                ..data_object(&big_uri, "")
            },
        )]
        .into_iter()
        .collect(),
        prune_contained_objects: false,
    };
    let bytes = Bytes::from(big.clone());
    let pieces: Vec<Body> = bytes
        .chunks(LIMIT - 1000)
        .enumerate()
        .map(|(i, piece)| {
            Chunk {
                blob_id: blob,
                data: Bytes::copy_from_slice(piece),
                r#final: (i + 1) * (LIMIT - 1000) >= bytes.len(),
            }
            .into()
        })
        .collect();
    assert!(pieces.len() > 10);
    let response = client
        .request_multipart(first.into(), pieces)
        .await
        .unwrap();
    assert!(response.errors().is_empty(), "{:?}", response.errors());
    let answered: PutDataObjectsResponse = response.into_one().unwrap();
    assert!(
        answered
            .success
            .contains_key(format!("Big crs -- {big_uri}").as_str())
    );

    // fetpapi style: the map spread over two PutDataObjects parts, answered once.
    let part = |key: &str, uri: String, xml: &str| -> PutDataObjects {
        PutDataObjects {
            data_objects: [(key.into(), data_object(&uri, xml))].into_iter().collect(),
            prune_contained_objects: false,
        }
    };
    let response = client
        .request_multipart(
            part("crs", crs_uri(), CRS).into(),
            vec![part("interp", interp_uri(), INTERP).into()],
        )
        .await
        .unwrap();
    let answered: PutDataObjectsResponse = response.into_one().unwrap();
    assert_eq!(answered.success.len(), 2);

    // pyetp get: one response with the object (blobId, no data), then only its chunks.
    let response = get(&client, &[(&big_uri, &big_uri)]).await;
    assert!(response.errors().is_empty(), "{:?}", response.errors());
    let messages = response.messages();
    assert!(messages.len() > 10);
    for m in messages {
        assert!(
            MAX_HEADER + m.body.encoded_len() <= LIMIT,
            "message within the limit"
        );
        assert!(m.header.message_id % 2 == 1);
    }
    let first = GetDataObjectsResponse::try_from(messages[0].body.clone()).unwrap();
    assert_eq!(first.data_objects.len(), 1);
    let object = &first.data_objects[big_uri.as_str()];
    assert!(object.data.is_empty());
    let blob = object.blob_id.expect("chunked object carries a blobId");
    assert_eq!(object.resource.name, "ED50 / UTM 31N depth");
    let chunks = chunks_of(&response);
    assert_eq!(
        chunks.len(),
        messages.len() - 1,
        "nothing but chunks follows"
    );
    assert!(chunks.iter().all(|c| c.blob_id == blob));
    assert!(chunks[..chunks.len() - 1].iter().all(|c| !c.r#final));
    assert!(chunks.last().unwrap().r#final);
    let joined: Vec<u8> = chunks.iter().flat_map(|c| c.data.iter().copied()).collect();
    assert_eq!(joined, big.as_bytes());

    // Several objects, one of them chunked: small ones inline, chunks right after the
    // response holding their DataObject, a missing key in errors last.
    let response = get(
        &client,
        &[
            ("crs", &crs_uri()),
            ("big", &big_uri),
            ("interp", &interp_uri()),
            ("missing", &grid_uri()),
        ],
    )
    .await;
    assert_eq!(error_codes(&response), [("missing".to_string(), 11)]);
    let messages = response.messages();
    assert!(matches!(
        messages.last().unwrap().body,
        Body::ProtocolException(_)
    ));
    let mut blob_seen = None;
    let mut joined = Vec::new();
    let mut inline = Map::new();
    for m in messages {
        assert!(MAX_HEADER + m.body.encoded_len() <= LIMIT);
        if let Ok(part) = GetDataObjectsResponse::try_from(m.body.clone()) {
            assert!(
                blob_seen.is_none() || joined.len() == big.len(),
                "no response inside a blob's chunks"
            );
            for (key, object) in part.data_objects {
                match object.blob_id {
                    Some(id) => blob_seen = Some((key, id)),
                    None => {
                        inline.insert(key, object);
                    }
                }
            }
        } else if let Ok(chunk) = Chunk::try_from(m.body.clone()) {
            assert_eq!(Some(chunk.blob_id), blob_seen.as_ref().map(|(_, id)| *id));
            joined.extend_from_slice(&chunk.data);
        }
    }
    assert_eq!(blob_seen.map(|(k, _)| k).as_deref(), Some("big"));
    assert_eq!(joined, big.as_bytes());
    assert_eq!(inline["crs"].data, Bytes::from(CRS));
    assert_eq!(inline["interp"].data, Bytes::from(INTERP));
    server.stop().await;
}

/// Upper bound of an encoded message header.
const MAX_HEADER: usize = 35;

#[tokio::test]
async fn chunked_put_beyond_max_data_object_size_is_refused() {
    let server = TestServer::start_with(|c| c.max_data_object_size = 100_000).await;
    let client = server.client().await;
    create_dataspace(&client, DS_PATH).await;
    let big_uuid = "0e1d2c3b-4a59-4687-a5b4-c3d2e1f00918";
    let big_uri = uri("resqml20.obj_LocalDepth3dCrs", big_uuid);
    let big = Bytes::from(big_crs(big_uuid, 150_000));
    let blob = Uuid::new_v4();
    let incomplete = Uuid::new_v4();
    let chunked = |id: Uuid| DataObject {
        blob_id: Some(id),
        data: Bytes::new(),
        ..data_object(&big_uri, "")
    };
    let first = PutDataObjects {
        data_objects: [
            ("big".into(), chunked(blob)),
            ("no final chunk".into(), chunked(incomplete)),
            ("inline".into(), data_object(&crs_uri(), CRS)),
        ]
        .into_iter()
        .collect(),
        prune_contained_objects: false,
    };
    let mut rest: Vec<Body> = big
        .chunks(10_000)
        .map(|piece| {
            Chunk {
                blob_id: blob,
                data: Bytes::copy_from_slice(piece),
                r#final: false,
            }
            .into()
        })
        .collect();
    rest.push(
        Chunk {
            blob_id: incomplete,
            data: Bytes::from_static(b"<x"),
            r#final: false,
        }
        .into(),
    );
    let response = client.request_multipart(first.into(), rest).await.unwrap();
    assert_eq!(
        error_codes(&response),
        [("big".to_string(), 17), ("no final chunk".to_string(), 5)]
    );
    assert_eq!(get_one(&client, &crs_uri()).await.data, Bytes::from(CRS));
    server.stop().await;
}

#[tokio::test]
async fn objects_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let client = server.client().await;
    create_dataspace(&client, DS_PATH).await;
    put_fixtures(&client).await;
    let before = get_one(&client, &grid_uri()).await;
    client.close("done").await.unwrap();
    server.stop().await;

    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let client = server.client().await;
    let after = get_one(&client, &grid_uri()).await;
    assert_eq!(after.data, Bytes::from(GRID));
    assert_eq!(after.resource, before.resource);
    for (_, uri, xml) in fixtures() {
        assert_eq!(get_one(&client, &uri).await.data, Bytes::from(xml));
    }
    server.stop().await;
}

fn uuid_bytes(text: &str) -> [u8; 16] {
    etp_protocol::uri::parse_uuid(text).expect("uuid")
}

fn array_key(owner: &str, path: &str) -> ArrayKey {
    ArrayKey {
        dataspace: DS_PATH.into(),
        owner: uuid_bytes(owner),
        path: path.into(),
    }
}

#[tokio::test]
async fn arrays_outlive_the_epc_object_and_go_with_the_object_referencing_them() {
    let grid_b_uuid = "5d4c3b2a-1908-4f7e-8d6c-5b4a39281706";
    let grid_a_path = format!("/RESQML/{GRID_UUID}/zvalues");
    let grid_b_path = format!("/RESQML/{grid_b_uuid}/zvalues");
    let unreferenced_path = "/RESQML/ffffffff-0000-4000-8000-000000000000/other";
    let own_path = "points_patch0";
    let arrays = [
        array_key(EPC_UUID, &grid_a_path),
        array_key(EPC_UUID, &grid_b_path),
        array_key(EPC_UUID, unreferenced_path),
        // Addressed with the grid's own URI (RESQML 2.2 style): owned by the grid.
        array_key(GRID_UUID, own_path),
    ];

    // Arrays are written straight into the store before the server starts (the DataArray
    // protocol is not part of this test).
    let dir = tempfile::tempdir().unwrap();
    {
        let store = FjallStore::open(dir.path().join("store")).unwrap();
        let mut w = store.write().unwrap();
        w.put_dataspace(&etp_store::Dataspace {
            path: DS_PATH.into(),
            store_created: 1,
            store_last_write: 1,
            custom_data: Bytes::new(),
        })
        .unwrap();
        for key in &arrays {
            let meta = ArrayMeta {
                dimensions: vec![3, 4],
                element_type: ElementType::F64,
                logical_type: 0,
                preferred_subarray_dims: Vec::new(),
                store_created: 1,
                store_last_write: 1,
                custom_data: Bytes::new(),
            };
            w.create_array(key, &meta).unwrap();
        }
        w.commit().unwrap();
    }

    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let client = server.client().await;
    put_fixtures(&client).await;
    // Grid B shares grid A's z values (its path names grid A) and has its own.
    let grid_b = variant(GRID, GRID_UUID, grid_b_uuid).replace(
        "</resqml2:Grid2dPatch>",
        &format!(
            r#"</resqml2:Grid2dPatch>
  <resqml2:Grid2dPatch>
    <resqml2:ZValues xsi:type="resqml2:DoubleHdf5Array">
      <resqml2:Values>
        <eml:PathInHdfFile>{grid_a_path}</eml:PathInHdfFile>
        <eml:HdfProxy xsi:type="eml:DataObjectReference">
          <eml:ContentType>application/x-eml+xml;version=2.0;type=obj_EpcExternalPartReference</eml:ContentType>
          <eml:Title>volve.h5</eml:Title>
          <eml:UUID>{EPC_UUID}</eml:UUID>
        </eml:HdfProxy>
      </resqml2:Values>
    </resqml2:ZValues>
  </resqml2:Grid2dPatch>"#
        ),
    );
    let grid_b_uri = uri("resqml20.obj_Grid2dRepresentation", grid_b_uuid);
    let response = put(
        &client,
        vec![("b".into(), data_object(&grid_b_uri, &grid_b))],
    )
    .await;
    assert!(response.errors().is_empty(), "{:?}", response.errors());

    let response = delete(&client, &[("epc", &epc_uri()), ("grid b", &grid_b_uri)]).await;
    assert!(response.errors().is_empty(), "{:?}", response.errors());
    client.close("done").await.unwrap();
    server.stop().await;
    let exists = |key: &ArrayKey| {
        let store = FjallStore::open(dir.path().join("store")).unwrap();
        store.read().unwrap().get_array_meta(key).unwrap().is_some()
    };
    assert!(
        exists(&arrays[0]),
        "grid A's array stays while grid A exists"
    );
    assert!(!exists(&arrays[1]), "grid B's own array went with it");
    assert!(exists(&arrays[2]), "arrays outlive the EPC object");
    assert!(exists(&arrays[3]));

    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let client = server.client().await;
    let response = delete(&client, &[("grid a", &grid_uri())]).await;
    assert!(response.errors().is_empty(), "{:?}", response.errors());
    client.close("done").await.unwrap();
    server.stop().await;
    assert!(!exists(&arrays[0]), "the z values went with grid A");
    assert!(
        exists(&arrays[2]),
        "an array nobody references is left alone"
    );
    assert!(!exists(&arrays[3]), "arrays owned by grid A went with it");
}

#[tokio::test]
async fn referential_integrity_refuses_deleting_a_referenced_object() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        ..ServerConfig::default()
    };
    let store: Arc<dyn Store> = Arc::new(FjallStore::open(dir.path().join("store")).unwrap());
    let access = Arc::new(DataAccess::new(store, Duration::from_secs(5)));
    let mut handlers = Registry::default();
    handlers.register(Arc::new(DataspaceHandler::new(access.clone())));
    handlers.register(Arc::new(StoreHandler::with_settings(
        access,
        StoreSettings {
            referential_integrity: true,
            ..StoreSettings::from_config(&config)
        },
    )));
    let server = Server::bind_with(config, handlers).await.unwrap();
    let url = format!("ws://{}/", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let mut config = etp_client::ClientConfig::new(url);
    config.requested_protocols = vec![
        (4, etp_protocol::message::Role::Store),
        (24, etp_protocol::message::Role::Store),
    ];
    let client = etp_client::Client::connect(config).await.unwrap();
    create_dataspace(&client, DS_PATH).await;
    put_fixtures(&client).await;

    // The CRS is referenced by the grid, the interpretation by the grid too.
    let response = delete(&client, &[("crs", &crs_uri()), ("epc", &epc_uri())]).await;
    assert_eq!(error_codes(&response), [("crs".to_string(), 4003)]);
    assert_eq!(get_one(&client, &crs_uri()).await.data, Bytes::from(CRS));
    // Together with everything referencing it, it goes.
    let response = delete(
        &client,
        &[
            ("crs", &crs_uri()),
            ("grid", &grid_uri()),
            ("interp", &interp_uri()),
        ],
    )
    .await;
    assert!(response.errors().is_empty(), "{:?}", response.errors());
    client.close("done").await.unwrap();
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn references_may_dangle_by_default() {
    let server = TestServer::start().await;
    let client = server.client().await;
    create_dataspace(&client, DS_PATH).await;
    put_fixtures(&client).await;
    let response = delete(&client, &[("crs", &crs_uri())]).await;
    assert!(response.errors().is_empty(), "{:?}", response.errors());
    // The grid still names the CRS; putting the CRS back restores the graph by UUID.
    assert_eq!(get_one(&client, &grid_uri()).await.data, Bytes::from(GRID));
    let response = put(&client, vec![("crs".into(), data_object(&crs_uri(), CRS))]).await;
    assert!(response.errors().is_empty());
    server.stop().await;
}

#[tokio::test]
async fn the_default_dataspace_holds_objects_too() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let plain = format!("eml:///witsml21.Well({WELL_UUID})");
    let object = DataObject {
        resource: Resource {
            uri: plain.clone().into(),
            name: String::new().into(),
            ..Default::default()
        },
        ..data_object(&plain, WELL)
    };
    let response = put(&client, vec![(plain.clone(), object)]).await;
    assert!(response.errors().is_empty(), "{:?}", response.errors());
    let got = get_one(&client, &plain).await;
    assert_eq!(got.resource.uri, plain);
    assert_eq!(got.resource.name, "15/9-F-11");
    server.stop().await;
}

/// Requests of a few keys are read on the async worker up to 64 KiB of objects; a larger
/// object of such a request is read on the blocking pool; inside a transaction both read
/// its view. Every path answers the same bytes, in the same shape.
#[tokio::test]
async fn small_requests_answer_alike_whichever_path_reads_them() {
    use etp_protocol::types::protocol::transaction::{
        RollbackTransaction, RollbackTransactionResponse, StartTransaction,
        StartTransactionResponse,
    };
    let server = TestServer::start().await;
    let client = server.client().await;
    create_dataspace(&client, DS_PATH).await;
    let big_uuid = "5d0c9a3e-7b21-4c6f-8e0d-1a2b3c4d5e6f";
    let big_uri = uri("resqml20.obj_LocalDepth3dCrs", big_uuid);
    let big = big_crs(big_uuid, 100 * 1024);
    let entries = vec![
        ("crs".to_string(), data_object(&crs_uri(), CRS)),
        ("big".to_string(), data_object(&big_uri, &big)),
    ];
    assert!(put(&client, entries).await.errors().is_empty());

    assert_eq!(get_one(&client, &crs_uri()).await.data, Bytes::from(CRS));
    assert_eq!(
        get_one(&client, &big_uri).await.data,
        Bytes::from(big.clone())
    );
    // The small object inline, the big one after it on the pool, the missing one an error.
    let missing = uri(
        "resqml20.obj_LocalDepth3dCrs",
        "00000000-0000-4000-8000-000000000000",
    );
    let response = get(
        &client,
        &[
            ("crs", &crs_uri()),
            ("big", &big_uri),
            ("missing", &missing),
        ],
    )
    .await;
    let objects = objects_of(&response);
    assert_eq!(objects["crs"].data, Bytes::from(CRS));
    assert_eq!(objects["big"].data, Bytes::from(big.clone()));
    assert_eq!(error_codes(&response), [("missing".to_string(), 11)]);

    // Inside a transaction, a single-key get sees the transaction's own pending write.
    let started: StartTransactionResponse = client
        .request_one(StartTransaction {
            read_only: false,
            message: "inline reads".into(),
            dataspace_uris: vec![DS.into()].into(),
        })
        .await
        .expect("StartTransaction answered");
    assert!(started.successful, "{}", started.failure_reason);
    let pending = variant(WELL, "15/9-F-11", "15/9-F-12");
    assert!(
        put(
            &client,
            vec![("w".into(), data_object(&well_uri(), &pending))]
        )
        .await
        .errors()
        .is_empty()
    );
    assert_eq!(
        get_one(&client, &well_uri()).await.data,
        Bytes::from(pending)
    );
    assert_eq!(get_one(&client, &big_uri).await.data, Bytes::from(big));
    let _: RollbackTransactionResponse = client
        .request_one(RollbackTransaction {
            transaction_uuid: started.transaction_uuid,
        })
        .await
        .expect("RollbackTransaction answered");
    let response = get(&client, &[("w", &well_uri())]).await;
    assert_eq!(error_codes(&response), [("w".to_string(), 11)]);
    server.stop().await;
}
