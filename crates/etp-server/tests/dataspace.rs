//! Dataspace (24) over a real server: the default dataspace, create/list/delete, and
//! serialization of writers through the dataspace lock.

mod common;

use common::TestServer;
use etp_protocol::codec::Map;
use etp_protocol::types::datatypes::object::Dataspace;
use etp_protocol::types::protocol::dataspace::{
    DeleteDataspaces, DeleteDataspacesResponse, GetDataspaces, GetDataspacesResponse,
    PutDataspaces, PutDataspacesResponse,
};

fn put(uris: &[&str]) -> PutDataspaces {
    let mut dataspaces = Map::new();
    for (i, uri) in uris.iter().enumerate() {
        dataspaces.insert(
            i.to_string().into(),
            Dataspace {
                uri: uri.to_string().into(),
                ..Default::default()
            },
        );
    }
    PutDataspaces { dataspaces }
}

#[tokio::test]
async fn create_list_delete() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let listed: Vec<GetDataspacesResponse> =
        client.request_all(GetDataspaces::default()).await.unwrap();
    assert!(listed.iter().all(|r| r.dataspaces.is_empty()));

    let created: PutDataspacesResponse = client
        .request_one(put(&["eml:///dataspace('a/b')", "eml:///dataspace('c')"]))
        .await
        .unwrap();
    assert_eq!(created.success.len(), 2);

    let listed: Vec<GetDataspacesResponse> =
        client.request_all(GetDataspaces::default()).await.unwrap();
    let mut uris: Vec<String> = listed
        .into_iter()
        .flat_map(|r| r.dataspaces)
        .map(|d| d.uri.into())
        .collect();
    uris.sort();
    assert_eq!(uris, ["eml:///dataspace('a/b')", "eml:///dataspace('c')"]);

    let mut keys = Map::new();
    keys.insert("x".into(), "eml:///dataspace('c')".into());
    let deleted: DeleteDataspacesResponse = client
        .request_one(DeleteDataspaces { uris: keys })
        .await
        .unwrap();
    assert_eq!(deleted.success.len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn concurrent_sessions_creating_many_dataspaces_lose_nothing() {
    let server = TestServer::start().await;
    let mut tasks = Vec::new();
    for s in 0..4 {
        let client = server.client().await;
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let uri = format!("eml:///dataspace('s{s}-{i}')");
                let r: PutDataspacesResponse = client.request_one(put(&[&uri])).await.unwrap();
                assert_eq!(r.success.len(), 1);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let client = server.client().await;
    let listed: Vec<GetDataspacesResponse> =
        client.request_all(GetDataspaces::default()).await.unwrap();
    assert_eq!(listed.iter().map(|r| r.dataspaces.len()).sum::<usize>(), 40);
    server.stop().await;
}
