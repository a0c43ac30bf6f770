//! Hand-written data objects (`tests/data/store/`) and small Store request helpers shared
//! by the Store and SupportedTypes tests.

#![allow(dead_code)]

use etp_client::Client;
use etp_client::Response;
use etp_protocol::EtpString;
use etp_protocol::codec::Map;
use etp_protocol::types::datatypes::object::{DataObject, Dataspace, Resource};
use etp_protocol::types::protocol::dataspace::{PutDataspaces, PutDataspacesResponse};
use etp_protocol::types::protocol::store::{
    DeleteDataObjects, GetDataObjects, GetDataObjectsResponse, PutDataObjects,
};

/// RESQML 2.0.1 `obj_LocalDepth3dCrs`.
pub const CRS: &str = include_str!("../data/store/crs.xml");
pub const CRS_UUID: &str = "2c1f7a60-5d3e-4b8a-9f21-3e4d5c6b7a81";
/// EML 2.0 `obj_EpcExternalPartReference` (the HDF5 proxy).
pub const EPC: &str = include_str!("../data/store/epc.xml");
pub const EPC_UUID: &str = "7f3a2b1c-0d4e-4f5a-8b6c-9d0e1f2a3b4c";
/// RESQML 2.0.1 `obj_HorizonInterpretation` (its feature is not stored).
pub const INTERP: &str = include_str!("../data/store/horizon_interpretation.xml");
pub const INTERP_UUID: &str = "4b6e8d2a-1c3f-4e5a-9b7d-2f4a6c8e0b13";
/// RESQML 2.0.1 `obj_Grid2dRepresentation` → interpretation, CRS; z values in HDF5.
pub const GRID: &str = include_str!("../data/store/grid.xml");
pub const GRID_UUID: &str = "9a487aca-44ca-4989-8ba7-653a5358ee80";
/// WITSML 2.1 `Well`.
pub const WELL: &str = include_str!("../data/store/well.xml");
pub const WELL_UUID: &str = "ca96314d-8e2b-4c1f-9d3a-5b7e0f2a4c68";

/// The dataspace the tests write to.
pub const DS_PATH: &str = "store-test";
pub const DS: &str = "eml:///dataspace('store-test')";

/// `eml:///dataspace('store-test')/<qualified_type>(<uuid>)`.
pub fn uri(qualified_type: &str, uuid: &str) -> String {
    format!("{DS}/{qualified_type}({uuid})")
}

pub fn crs_uri() -> String {
    uri("resqml20.obj_LocalDepth3dCrs", CRS_UUID)
}
pub fn epc_uri() -> String {
    uri("eml20.obj_EpcExternalPartReference", EPC_UUID)
}
pub fn interp_uri() -> String {
    uri("resqml20.obj_HorizonInterpretation", INTERP_UUID)
}
pub fn grid_uri() -> String {
    uri("resqml20.obj_Grid2dRepresentation", GRID_UUID)
}
pub fn well_uri() -> String {
    uri("witsml21.Well", WELL_UUID)
}

/// The five fixtures as (key, URI, XML).
pub fn fixtures() -> Vec<(&'static str, String, &'static str)> {
    vec![
        ("crs", crs_uri(), CRS),
        ("epc", epc_uri(), EPC),
        ("interp", interp_uri(), INTERP),
        ("grid", grid_uri(), GRID),
        ("well", well_uri(), WELL),
    ]
}

/// A copy of `xml` with every occurrence of `from` replaced by `to` (new UUIDs, titles).
pub fn variant(xml: &str, from: &str, to: &str) -> String {
    xml.replace(from, to)
}

/// The CRS fixture under `uuid`, padded with a citation description so that it has at
/// least `size` bytes.
pub fn big_crs(uuid: &str, size: usize) -> String {
    let padding = "Seismic interpretation reference frame. ".repeat(size / 40 + 1);
    CRS.replace(CRS_UUID, uuid).replace(
        "<eml:Format>hand written</eml:Format>",
        &format!("<eml:Format>hand written</eml:Format>\n    <eml:Description>{padding}</eml:Description>"),
    )
}

/// A DataObject carrying `xml` inline, with a resource that only names the URI (what the
/// OSDU certification sends).
pub fn data_object(uri: &str, xml: &str) -> DataObject {
    DataObject {
        resource: Resource {
            uri: uri.to_owned().into(),
            ..Default::default()
        },
        format: "xml".into(),
        blob_id: None,
        data: xml.to_owned().into_bytes().into(),
    }
}

/// Creates the test dataspace.
pub async fn create_dataspace(client: &Client, path: &str) {
    let uri = format!("eml:///dataspace('{path}')");
    let mut dataspaces = Map::new();
    dataspaces.insert(
        uri.clone().into(),
        Dataspace {
            uri: uri.into(),
            ..Default::default()
        },
    );
    let created: PutDataspacesResponse = client
        .request_one(PutDataspaces { dataspaces })
        .await
        .expect("dataspace created");
    assert_eq!(created.success.len(), 1);
}

/// Sends one PutDataObjects with `entries` (key, DataObject).
pub async fn put(client: &Client, entries: Vec<(String, DataObject)>) -> Response {
    let data_objects: Map<DataObject> = entries.into_iter().map(|(k, v)| (k.into(), v)).collect();
    client
        .request(PutDataObjects {
            data_objects,
            prune_contained_objects: false,
        })
        .await
        .expect("PutDataObjects answered")
}

/// Puts the five fixtures in one message and checks that all succeeded.
pub async fn put_fixtures(client: &Client) {
    let entries = fixtures()
        .into_iter()
        .map(|(key, uri, xml)| (key.to_owned(), data_object(&uri, xml)))
        .collect();
    let response = put(client, entries).await;
    assert!(response.errors().is_empty(), "{:?}", response.errors());
}

/// Sends one GetDataObjects with `uris` (key, URI).
pub async fn get(client: &Client, uris: &[(&str, &str)]) -> Response {
    let uris: Map<EtpString> = uris
        .iter()
        .map(|(k, u)| (k.to_string().into(), u.to_string().into()))
        .collect();
    client
        .request(GetDataObjects {
            uris,
            format: "xml".into(),
        })
        .await
        .expect("GetDataObjects answered")
}

/// The data objects of every GetDataObjectsResponse part of `response`.
pub fn objects_of(response: &Response) -> Map<DataObject> {
    let mut out = Map::new();
    for body in response.bodies() {
        if let Ok(part) = GetDataObjectsResponse::try_from(body.clone()) {
            out.extend(part.data_objects);
        }
    }
    out
}

/// Gets one object by URI (unchunked answers only) and returns it.
pub async fn get_one(client: &Client, uri: &str) -> DataObject {
    let response = get(client, &[("k", uri)]).await;
    assert!(response.errors().is_empty(), "{:?}", response.errors());
    objects_of(&response)
        .shift_remove("k")
        .expect("object in the answer")
}

/// Sends one DeleteDataObjects with `uris` (key, URI).
pub async fn delete(client: &Client, uris: &[(&str, &str)]) -> Response {
    let uris: Map<EtpString> = uris
        .iter()
        .map(|(k, u)| (k.to_string().into(), u.to_string().into()))
        .collect();
    client
        .request(DeleteDataObjects {
            uris,
            prune_contained_objects: false,
        })
        .await
        .expect("DeleteDataObjects answered")
}

/// The per-key error codes of a response, sorted by key.
pub fn error_codes(response: &Response) -> Vec<(String, i32)> {
    let mut codes: Vec<(String, i32)> = response
        .errors()
        .into_iter()
        .map(|(key, e)| (key.unwrap_or_default(), e.code))
        .collect();
    codes.sort();
    codes
}
