//! Large uncompressed answers are sent vectored (one WebSocket frame written from the
//! objects' own buffers, see `session/vectored.rs`): the client must receive them byte for
//! byte, mixed with ordinary small messages on the same session. Compression is off (with
//! gzip negotiated the store's answers are compressed, which needs a contiguous copy).

mod common;
mod store_fixtures;

use common::TestServer;
use store_fixtures::*;

#[tokio::test]
async fn large_get_data_objects_answers_arrive_byte_exact() {
    let server = TestServer::start().await;
    let client = server.client_with(|c| c.compression = false).await;
    create_dataspace(&client, DS_PATH).await;

    // Four objects of 150 KB and one small one: one answer of about 600 KB, well over the
    // vectored threshold, whose object bytes are sent from the store's buffers.
    let uuids = [
        "0a1b2c3d-0000-4000-8000-000000000001",
        "0a1b2c3d-0000-4000-8000-000000000002",
        "0a1b2c3d-0000-4000-8000-000000000003",
        "0a1b2c3d-0000-4000-8000-000000000004",
    ];
    let mut entries = Vec::new();
    let mut expected = Vec::new();
    for (i, uuid) in uuids.iter().enumerate() {
        let xml = big_crs(uuid, 150_000 + i * 1000);
        let uri = uri("resqml20.obj_LocalDepth3dCrs", uuid);
        entries.push((format!("big{i}"), data_object(&uri, &xml)));
        expected.push((uri, xml));
    }
    entries.push(("small".to_string(), data_object(&crs_uri(), CRS)));
    expected.push((crs_uri(), CRS.to_string()));
    let response = put(&client, entries).await;
    assert!(response.errors().is_empty(), "{:?}", response.errors());

    for round in 0..3 {
        let keys: Vec<(String, String)> = expected
            .iter()
            .enumerate()
            .map(|(i, (uri, _))| (format!("k{i}"), uri.clone()))
            .collect();
        let request: Vec<(&str, &str)> =
            keys.iter().map(|(k, u)| (k.as_str(), u.as_str())).collect();
        let response = get(&client, &request).await;
        assert!(response.errors().is_empty(), "{:?}", response.errors());
        let objects = objects_of(&response);
        assert_eq!(objects.len(), expected.len(), "round {round}");
        for (i, (uri, xml)) in expected.iter().enumerate() {
            let object = &objects[format!("k{i}").as_str()];
            assert_eq!(object.resource.uri, *uri);
            assert_eq!(
                &object.data[..],
                xml.as_bytes(),
                "object {i}, round {round}"
            );
        }
        // A small message right after a vectored one still arrives intact.
        assert_eq!(&get_one(&client, &crs_uri()).await.data[..], CRS.as_bytes());
    }
}

/// Many small answers queued at once are gathered into one write (`session/wire.rs`,
/// `Coalesced`), with large vectored ones in between: every answer must still arrive
/// whole and match its request.
#[tokio::test]
async fn many_answers_in_flight_arrive_whole_and_matched() {
    let server = TestServer::start().await;
    let client = server.client_with(|c| c.compression = false).await;
    create_dataspace(&client, DS_PATH).await;
    let mut expected = Vec::new();
    let mut entries = Vec::new();
    for i in 0..40usize {
        // Mostly 2–30 KB (gathered), every eighth over the vectored threshold.
        let size = if i % 8 == 7 {
            90_000 + i
        } else {
            2_000 + i * 700
        };
        let uuid = format!("0b1c2d3e-0000-4000-8000-{i:012x}");
        let xml = big_crs(&uuid, size);
        let uri = uri("resqml20.obj_LocalDepth3dCrs", &uuid);
        entries.push((format!("o{i}"), data_object(&uri, &xml)));
        expected.push((uri, xml));
    }
    let response = put(&client, entries).await;
    assert!(response.errors().is_empty(), "{:?}", response.errors());
    for round in 0..3 {
        let mut asked = Vec::new();
        for (uri, xml) in expected.clone() {
            let client = client.clone();
            asked.push(tokio::spawn(async move {
                let object = get_one(&client, &uri).await;
                assert_eq!(object.resource.uri, uri);
                assert_eq!(&object.data[..], xml.as_bytes(), "round {round}");
            }));
        }
        for task in asked {
            task.await.expect("answer checked");
        }
    }
}
