//! `etp_client::ops::get_array_vec` against our server: the values of every answer are
//! received by the session's reader straight into the caller's vector (the client counts
//! those answers), for each plain transport type, whole-array answers and blocks cut at
//! odd places, on sessions with and without gzip; errors leave the session usable.

mod common;

use common::TestServer;
use etp_client::Client;
use etp_client::ops::{self, ArrayTransfer, ArrayValues, OpsError};
use etp_protocol::codec::Map;
use etp_protocol::types::datatypes::data_array_types::DataArrayIdentifier;
use etp_protocol::types::datatypes::object::Dataspace;
use etp_protocol::types::protocol::dataspace::{PutDataspaces, PutDataspacesResponse};

const EPC: &str = "eml:///dataspace('landing')/eml20.obj_EpcExternalPartReference(5d0c4a2e-8b7f-4f61-9a3c-2e6f1b0d7c44)";
/// Rows of 7 values.
const DIMS: [u64; 2] = [41, 7];
const COUNT: usize = 41 * 7;

fn uid(path: &str) -> DataArrayIdentifier {
    DataArrayIdentifier {
        uri: EPC.into(),
        path_in_resource: path.into(),
    }
}

async fn setup(server: &TestServer, compression: bool) -> Client {
    let client = server
        .client_with(|c| {
            c.compression = compression;
        })
        .await;
    assert_eq!(client.compression(), compression);
    let mut dataspaces = Map::new();
    dataspaces.insert(
        "ds".to_string().into(),
        Dataspace {
            uri: "eml:///dataspace('landing')".into(),
            ..Default::default()
        },
    );
    let r: PutDataspacesResponse = client
        .request_one(PutDataspaces { dataspaces })
        .await
        .unwrap();
    assert_eq!(r.success.len(), 1);
    client
}

async fn put(client: &Client, path: &str, values: &ArrayValues) {
    let mut source = values.clone();
    ops::put_array(
        client,
        &uid(path),
        &DIMS,
        values.transport_type(),
        ops::arrays::default_logical_type(values.transport_type()),
        &mut source,
        &ArrayTransfer::default(),
    )
    .await
    .unwrap();
}

/// The whole array in one answer, then blocks of whole rows, pieces of rows (rows of 7
/// doubles in pieces of 5 and 2), single elements.
fn cuts() -> [ArrayTransfer; 4] {
    let blocks = |bytes| ArrayTransfer {
        max_in_flight: 3,
        max_block_bytes: Some(bytes),
        ..ArrayTransfer::default()
    };
    [ArrayTransfer::default(), blocks(184), blocks(40), blocks(1)]
}

/// Downloads `path` with every cut into one reused vector (which starts too long and
/// full of other values), checking the values and that every answer landed.
async fn every_cut<T: ops::PlainElement + std::fmt::Debug + PartialEq>(
    client: &Client,
    path: &str,
    expected: &[T],
    stale: T,
) {
    let mut values = vec![stale; COUNT + 5];
    for options in cuts() {
        let landed = client.landed_answers();
        let metadata = ops::get_array_vec(client, &uid(path), &mut values, &options)
            .await
            .unwrap_or_else(|e| panic!("{path} {options:?}: {e}"));
        assert_eq!(metadata.dimensions, vec![41, 7]);
        assert_eq!(values, expected, "{path} {options:?}");
        // Blocks of whole rows while a row fits, else pieces of rows.
        let max = options
            .max_block_bytes
            .map_or(COUNT, |b| (b / std::mem::size_of::<T>()).max(1));
        let requests = if max >= COUNT {
            1
        } else if max >= 7 {
            41usize.div_ceil(max / 7)
        } else {
            41 * 7usize.div_ceil(max)
        };
        assert_eq!(
            (client.landed_answers() - landed) as usize,
            requests,
            "{path} {options:?}: every answer landed"
        );
        values.iter_mut().for_each(|v| *v = stale);
    }
}

#[tokio::test]
async fn every_plain_type_lands_in_a_reused_vector() {
    for compression in [false, true] {
        let server = TestServer::start().await;
        let client = setup(&server, compression).await;
        let doubles: Vec<f64> = (0..COUNT).map(|i| i as f64 * -1.5e-3).collect();
        let floats: Vec<f32> = (0..COUNT).map(|i| i as f32 * 0.25).collect();
        let bytes: Vec<u8> = (0..COUNT).map(|i| (i * 7) as u8).collect();
        put(&client, "/d", &ArrayValues::Double(doubles.clone())).await;
        put(&client, "/f", &ArrayValues::Float(floats.clone())).await;
        put(&client, "/b", &ArrayValues::Bytes(bytes.clone())).await;
        every_cut(&client, "/d", &doubles, 9.5).await;
        every_cut(&client, "/f", &floats, -7.0f32).await;
        every_cut(&client, "/b", &bytes, 0xEEu8).await;
        client.close("done").await.unwrap();
        server.stop().await;
    }
}

#[tokio::test]
async fn errors_leave_the_session_usable() {
    let server = TestServer::start().await;
    let client = setup(&server, false).await;
    let doubles: Vec<f64> = (0..COUNT).map(|i| i as f64).collect();
    put(&client, "/d", &ArrayValues::Double(doubles.clone())).await;
    put(
        &client,
        "/l",
        &ArrayValues::Long((0..COUNT as i64).collect()),
    )
    .await;

    // A vector of another type is refused before any values are asked for.
    let mut floats = Vec::<f32>::new();
    let err = ops::get_array_vec(&client, &uid("/d"), &mut floats, &ArrayTransfer::default())
        .await
        .unwrap_err();
    assert!(matches!(err, OpsError::InvalidArgument(_)), "{err}");
    // Arrays of varints cannot be received in place.
    let mut doubles_back = Vec::<f64>::new();
    let err = ops::get_array_vec(
        &client,
        &uid("/l"),
        &mut doubles_back,
        &ArrayTransfer::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OpsError::InvalidArgument(_)), "{err}");
    // A missing array is the server's error for its key.
    let err = ops::get_array_vec(
        &client,
        &uid("/missing"),
        &mut doubles_back,
        &ArrayTransfer::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OpsError::Key { .. }), "{err}");
    assert_eq!(client.landed_answers(), 0);

    // The session goes on.
    let options = ArrayTransfer {
        max_block_bytes: Some(8 * 7 * 4),
        ..ArrayTransfer::default()
    };
    ops::get_array_vec(&client, &uid("/d"), &mut doubles_back, &options)
        .await
        .unwrap();
    assert_eq!(doubles_back, doubles);
    assert_eq!(client.landed_answers(), 41u64.div_ceil(4));
    server.stop().await;
}
