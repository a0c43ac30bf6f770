//! DataArray (9) over a real server: every transport type and rank, metadata, subarrays,
//! uninitialized regions, message-size limits, MaxDataArraySize, errors, and a large array
//! streamed in blocks.

mod common;

use common::TestServer;
use etp_client::Client;
use etp_protocol::codec::{Avro, Map};
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::data_array_types::{
    DataArray, DataArrayIdentifier, DataArrayMetadata, GetDataSubarraysType, PutDataArraysType,
    PutDataSubarraysType, PutUninitializedDataArrayType,
};
use etp_protocol::types::datatypes::object::Dataspace;
use etp_protocol::types::datatypes::{
    AnyArray, AnyArrayItem, AnyArrayType, AnyLogicalArrayType, ArrayOfBoolean, ArrayOfDouble,
    ArrayOfFloat, ArrayOfInt, ArrayOfLong, ArrayOfString, DataValue,
};
use etp_protocol::types::protocol::data_array::{
    GetDataArrayMetadata, GetDataArrayMetadataResponse, GetDataArrays, GetDataArraysResponse,
    GetDataSubarrays, GetDataSubarraysResponse, PutDataArrays, PutDataArraysResponse,
    PutDataSubarrays, PutDataSubarraysResponse, PutUninitializedDataArrays,
    PutUninitializedDataArraysResponse,
};
use etp_protocol::types::protocol::dataspace::{PutDataspaces, PutDataspacesResponse};

const EPC: &str = "eml:///dataspace('demo')/eml20.obj_EpcExternalPartReference(f1dc897a-e05e-4c57-944f-3501cb9cd71c)";

fn uid(path: &str) -> DataArrayIdentifier {
    DataArrayIdentifier {
        uri: EPC.into(),
        path_in_resource: path.into(),
    }
}

fn one<V>(key: &str, value: V) -> Map<V> {
    let mut map = Map::new();
    map.insert(key.to_string().into(), value);
    map
}

async fn setup(server: &TestServer) -> Client {
    let client = server.client().await;
    create_dataspace(&client).await;
    client
}

async fn create_dataspace(client: &Client) {
    let put = PutDataspaces {
        dataspaces: one(
            "ds",
            Dataspace {
                uri: "eml:///dataspace('demo')".into(),
                ..Default::default()
            },
        ),
    };
    let r: PutDataspacesResponse = client.request_one(put).await.unwrap();
    assert_eq!(r.success.len(), 1);
}

fn meta(dims: &[i64], transport: AnyArrayType, logical: AnyLogicalArrayType) -> DataArrayMetadata {
    DataArrayMetadata {
        dimensions: dims.to_vec(),
        transport_array_type: transport,
        logical_array_type: logical,
        ..Default::default()
    }
}

async fn put_uninitialized(client: &Client, path: &str, metadata: DataArrayMetadata) {
    let r: PutUninitializedDataArraysResponse = client
        .request_one(PutUninitializedDataArrays {
            data_arrays: one(
                path,
                PutUninitializedDataArrayType {
                    uid: uid(path),
                    metadata,
                },
            ),
        })
        .await
        .unwrap();
    assert_eq!(r.success.keys().collect::<Vec<_>>(), [path]);
}

fn put_body(path: &str, dims: &[i64], item: AnyArrayItem) -> PutDataArrays {
    PutDataArrays {
        data_arrays: one(
            path,
            PutDataArraysType {
                uid: uid(path),
                array: DataArray {
                    dimensions: dims.to_vec(),
                    data: AnyArray { item },
                },
                custom_data: Map::new(),
            },
        ),
    }
}

async fn put_array(client: &Client, path: &str, dims: &[i64], item: AnyArrayItem) {
    let r: PutDataArraysResponse = client
        .request_one(put_body(path, dims, item))
        .await
        .unwrap();
    assert_eq!(r.success.keys().collect::<Vec<_>>(), [path]);
}

fn put_sub_body(
    path: &str,
    starts: &[i64],
    counts: &[i64],
    item: AnyArrayItem,
) -> PutDataSubarrays {
    PutDataSubarrays {
        data_subarrays: one(
            path,
            PutDataSubarraysType {
                uid: uid(path),
                data: AnyArray { item },
                starts: starts.to_vec(),
                counts: counts.to_vec(),
            },
        ),
    }
}

async fn put_sub(client: &Client, path: &str, starts: &[i64], counts: &[i64], item: AnyArrayItem) {
    let r: PutDataSubarraysResponse = client
        .request_one(put_sub_body(path, starts, counts, item))
        .await
        .unwrap();
    assert_eq!(r.success.keys().collect::<Vec<_>>(), [path]);
}

/// GetDataArrays of one key: exactly one message holding exactly that key (pyetp).
async fn get_array(client: &Client, path: &str) -> DataArray {
    let response = client
        .request(GetDataArrays {
            data_arrays: one(path, uid(path)),
        })
        .await
        .unwrap();
    assert_eq!(
        response.messages().len(),
        1,
        "one message per single-key get"
    );
    let mut r: GetDataArraysResponse = response.into_one().unwrap();
    assert_eq!(r.data_arrays.keys().collect::<Vec<_>>(), [path]);
    r.data_arrays.swap_remove(path).unwrap()
}

fn sub_body(path: &str, starts: &[i64], counts: &[i64]) -> GetDataSubarrays {
    GetDataSubarrays {
        data_subarrays: one(
            path,
            GetDataSubarraysType {
                uid: uid(path),
                starts: starts.to_vec(),
                counts: counts.to_vec(),
            },
        ),
    }
}

async fn get_sub(client: &Client, path: &str, starts: &[i64], counts: &[i64]) -> DataArray {
    let response = client
        .request(sub_body(path, starts, counts))
        .await
        .unwrap();
    assert_eq!(response.messages().len(), 1);
    let mut r: GetDataSubarraysResponse = response.into_one().unwrap();
    assert_eq!(r.data_subarrays.keys().collect::<Vec<_>>(), [path]);
    r.data_subarrays.swap_remove(path).unwrap()
}

async fn get_meta(client: &Client, path: &str) -> DataArrayMetadata {
    let response = client
        .request(GetDataArrayMetadata {
            data_arrays: one(path, uid(path)),
        })
        .await
        .unwrap();
    assert_eq!(response.messages().len(), 1);
    let mut r: GetDataArrayMetadataResponse = response.into_one().unwrap();
    r.array_metadata.swap_remove(path).unwrap()
}

/// The error codes of a response set by key (all keys, successful ones absent).
async fn key_errors(client: &Client, body: impl Into<Body>) -> Vec<(String, i32)> {
    let response = client.request(body).await.unwrap();
    let mut errors: Vec<(String, i32)> = response
        .errors()
        .into_iter()
        .map(|(key, e)| (key.expect("per-key error"), e.code))
        .collect();
    errors.sort();
    errors
}

/// Test values of every transport type: extremes, NaN and infinities, empty and
/// non-ASCII strings.
fn sample(transport: AnyArrayType, n: usize) -> AnyArrayItem {
    let floats = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        f64::MIN_POSITIVE / 4.0,
        f64::MAX,
        1.0 / 3.0,
    ];
    match transport {
        AnyArrayType::ArrayOfBoolean => AnyArrayItem::ArrayOfBoolean(ArrayOfBoolean {
            values: (0..n).map(|i| i % 3 == 0).collect(),
        }),
        AnyArrayType::ArrayOfInt => AnyArrayItem::ArrayOfInt(ArrayOfInt {
            values: (0..n)
                .map(|i| match i % 4 {
                    0 => i32::MIN,
                    1 => i32::MAX,
                    2 => -(i as i32),
                    _ => i as i32,
                })
                .collect(),
        }),
        AnyArrayType::ArrayOfLong => AnyArrayItem::ArrayOfLong(ArrayOfLong {
            values: (0..n)
                .map(|i| match i % 4 {
                    0 => i64::MIN,
                    1 => i64::MAX,
                    2 => -(i as i64) << 40,
                    _ => i as i64,
                })
                .collect(),
        }),
        AnyArrayType::ArrayOfFloat => AnyArrayItem::ArrayOfFloat(ArrayOfFloat {
            values: (0..n).map(|i| floats[i % floats.len()] as f32).collect(),
        }),
        AnyArrayType::ArrayOfDouble => AnyArrayItem::ArrayOfDouble(ArrayOfDouble {
            values: (0..n)
                .map(|i| floats[i % floats.len()] + i as f64)
                .collect(),
        }),
        AnyArrayType::ArrayOfString => AnyArrayItem::ArrayOfString(ArrayOfString {
            values: (0..n)
                .map(|i| match i % 3 {
                    0 => String::new(),
                    1 => format!("Grüße 🌍 日本 {i}"),
                    _ => format!("v{i}"),
                })
                .map(Into::into)
                .collect(),
        }),
        AnyArrayType::Bytes => AnyArrayItem::Bytes((0..n).map(|i| (i * 37) as u8).collect()),
    }
}

/// Exact equality, floats compared bit for bit (NaN, -0.0).
fn same(a: &AnyArrayItem, b: &AnyArrayItem) -> bool {
    match (a, b) {
        (AnyArrayItem::ArrayOfFloat(x), AnyArrayItem::ArrayOfFloat(y)) => x
            .values
            .iter()
            .map(|v| v.to_bits())
            .eq(y.values.iter().map(|v| v.to_bits())),
        (AnyArrayItem::ArrayOfDouble(x), AnyArrayItem::ArrayOfDouble(y)) => x
            .values
            .iter()
            .map(|v| v.to_bits())
            .eq(y.values.iter().map(|v| v.to_bits())),
        _ => a == b,
    }
}

#[tokio::test]
async fn every_transport_type_and_rank_round_trips_exactly() {
    let server = TestServer::start().await;
    let client = setup(&server).await;
    let shapes: [&[i64]; 5] = [&[7], &[3, 5], &[2, 3, 4], &[0], &[3, 0]];
    for transport in AnyArrayType::ALL {
        for dims in shapes {
            let n = dims.iter().product::<i64>() as usize;
            let path = format!("/RESQML/{transport}/{dims:?}");
            let values = sample(transport, n);
            put_array(&client, &path, dims, values.clone()).await;
            let got = get_array(&client, &path).await;
            assert_eq!(got.dimensions, dims, "{path}");
            assert!(same(&got.data.item, &values), "{path}: {:?}", got.data.item);
            let m = get_meta(&client, &path).await;
            assert_eq!(m.dimensions, dims);
            assert_eq!(m.transport_array_type, transport);
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn metadata_keeps_types_custom_data_and_store_times() {
    let server = TestServer::start().await;
    let client = setup(&server).await;
    let before = etp_server::now_micros();
    let mut announced = meta(
        &[4, 3],
        AnyArrayType::ArrayOfInt,
        AnyLogicalArrayType::ArrayOfInt16LE,
    );
    // Client clocks are not the store's.
    announced.store_created = 1;
    announced.store_last_write = 1;
    announced.custom_data = one("unit", DataValue::long(5));
    put_uninitialized(&client, "/a", announced).await;
    let created = get_meta(&client, "/a").await;
    assert_eq!(created.dimensions, [4, 3]);
    assert_eq!(created.transport_array_type, AnyArrayType::ArrayOfInt);
    assert_eq!(
        created.logical_array_type,
        AnyLogicalArrayType::ArrayOfInt16LE
    );
    assert_eq!(created.custom_data, one("unit", DataValue::long(5)));
    assert!(created.store_created >= before);
    assert_eq!(created.store_last_write, created.store_created);
    assert_eq!(created.preferred_subarray_dimensions.len(), 2);

    // PutDataArrays fills it (pyetp's upload) and keeps what PutUninitialized said.
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    put_array(&client, "/a", &[4, 3], sample(AnyArrayType::ArrayOfInt, 12)).await;
    let filled = get_meta(&client, "/a").await;
    assert_eq!(
        filled.logical_array_type,
        AnyLogicalArrayType::ArrayOfInt16LE
    );
    assert_eq!(filled.custom_data, one("unit", DataValue::long(5)));
    assert_eq!(filled.store_created, created.store_created);
    assert!(filled.store_last_write > created.store_last_write);

    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    put_sub(
        &client,
        "/a",
        &[1, 1],
        &[1, 2],
        AnyArrayItem::ArrayOfInt(ArrayOfInt { values: vec![7, 8] }),
    )
    .await;
    let written = get_meta(&client, "/a").await;
    assert_eq!(written.store_created, created.store_created);
    assert!(written.store_last_write > filled.store_last_write);

    // Replaced with another transport type: the logical type follows the new one.
    put_array(&client, "/a", &[2], sample(AnyArrayType::ArrayOfDouble, 2)).await;
    let replaced = get_meta(&client, "/a").await;
    assert_eq!(replaced.dimensions, [2]);
    assert_eq!(replaced.transport_array_type, AnyArrayType::ArrayOfDouble);
    assert_eq!(
        replaced.logical_array_type,
        AnyLogicalArrayType::ArrayOfDouble64LE
    );
    assert_eq!(replaced.store_created, created.store_created);

    // A preferred block is kept when it fits the array, replaced by the store's otherwise.
    let mut hinted = meta(
        &[100, 10],
        AnyArrayType::ArrayOfDouble,
        AnyLogicalArrayType::ArrayOfDouble64LE,
    );
    hinted.preferred_subarray_dimensions = vec![10, 10];
    put_uninitialized(&client, "/hinted", hinted.clone()).await;
    assert_eq!(
        get_meta(&client, "/hinted")
            .await
            .preferred_subarray_dimensions,
        [10, 10]
    );
    hinted.preferred_subarray_dimensions = vec![0, 11];
    put_uninitialized(&client, "/hinted", hinted).await;
    assert_eq!(
        get_meta(&client, "/hinted")
            .await
            .preferred_subarray_dimensions,
        [100, 10]
    );

    // Several keys at once, one of them unknown.
    let mut ids = Map::new();
    ids.insert("a".into(), uid("/a"));
    ids.insert("missing".into(), uid("/missing"));
    let response = client
        .request(GetDataArrayMetadata { data_arrays: ids })
        .await
        .unwrap();
    let errors: Vec<_> = response
        .errors()
        .into_iter()
        .map(|(k, e)| (k, e.code))
        .collect();
    assert_eq!(errors, [(Some("missing".to_string()), 11)]);
    let found: Vec<String> = response
        .into_bodies()
        .into_iter()
        .filter_map(|b| GetDataArrayMetadataResponse::try_from(b).ok())
        .flat_map(|r| r.array_metadata.into_keys())
        .map(String::from)
        .collect();
    assert_eq!(found, ["a"]);
    server.stop().await;
}

/// The block `starts`/`counts` of a row-major array, computed element by element.
fn extract(values: &[i64], dims: &[i64], starts: &[i64], counts: &[i64]) -> Vec<i64> {
    let n: i64 = counts.iter().product();
    (0..n)
        .map(|mut e| {
            let mut flat = 0;
            let mut index = vec![0; dims.len()];
            for i in (0..dims.len()).rev() {
                index[i] = starts[i] + e % counts[i];
                e /= counts[i];
            }
            for i in 0..dims.len() {
                flat = flat * dims[i] + index[i];
            }
            values[flat as usize]
        })
        .collect()
}

fn longs(item: &AnyArrayItem) -> Vec<i64> {
    match item {
        AnyArrayItem::ArrayOfLong(a) => a.values.clone(),
        other => panic!("expected longs, got {other:?}"),
    }
}

#[tokio::test]
async fn subarrays_at_edges_and_corners() {
    let server = TestServer::start().await;
    let client = setup(&server).await;
    let dims = [4i64, 5, 6];
    let all: Vec<i64> = (0..120).collect();
    put_array(
        &client,
        "/cube",
        &dims,
        AnyArrayItem::ArrayOfLong(ArrayOfLong {
            values: all.clone(),
        }),
    )
    .await;
    // Every corner, with blocks of 1 and of several elements, and whole-axis edges.
    for counts in [[1i64, 1, 1], [2, 3, 4], [4, 1, 6], [1, 5, 1], [4, 5, 6]] {
        for corner in 0..8 {
            let starts: Vec<i64> = (0..3)
                .map(|axis| {
                    if corner >> axis & 1 == 1 {
                        dims[axis] - counts[axis]
                    } else {
                        0
                    }
                })
                .collect();
            let got = get_sub(&client, "/cube", &starts, &counts).await;
            assert_eq!(got.dimensions, counts);
            assert_eq!(
                longs(&got.data.item),
                extract(&all, &dims, &starts, &counts),
                "starts {starts:?} counts {counts:?}"
            );
        }
    }
    // Empty starts/counts: the whole array. Zero counts: an empty block.
    assert_eq!(
        longs(&get_sub(&client, "/cube", &[], &[]).await.data.item),
        all
    );
    let empty = get_sub(&client, "/cube", &[4, 0, 0], &[0, 5, 6]).await;
    assert_eq!(empty.dimensions, [0, 5, 6]);
    assert!(longs(&empty.data.item).is_empty());

    // Write the far corner and the first edge, then read everything back.
    let mut expected = all.clone();
    put_sub(
        &client,
        "/cube",
        &[2, 3, 4],
        &[2, 2, 2],
        AnyArrayItem::ArrayOfLong(ArrayOfLong {
            values: vec![-1, -2, -3, -4, -5, -6, -7, -8],
        }),
    )
    .await;
    let mut k = 0;
    for i in 2..4 {
        for j in 3..5 {
            for l in 4..6 {
                k += 1;
                expected[(i * 30 + j * 6 + l) as usize] = -k;
            }
        }
    }
    put_sub(
        &client,
        "/cube",
        &[0, 0, 0],
        &[4, 1, 1],
        AnyArrayItem::ArrayOfLong(ArrayOfLong {
            values: vec![100, 101, 102, 103],
        }),
    )
    .await;
    for i in 0..4 {
        expected[i * 30] = 100 + i as i64;
    }
    assert_eq!(
        longs(&get_array(&client, "/cube").await.data.item),
        expected
    );
    server.stop().await;
}

#[tokio::test]
async fn uninitialized_elements_read_as_zero_fill() {
    let server = TestServer::start().await;
    let client = setup(&server).await;
    put_uninitialized(
        &client,
        "/d",
        meta(
            &[3, 3],
            AnyArrayType::ArrayOfDouble,
            AnyLogicalArrayType::ArrayOfDouble64LE,
        ),
    )
    .await;
    put_sub(
        &client,
        "/d",
        &[1, 1],
        &[1, 2],
        AnyArrayItem::ArrayOfDouble(ArrayOfDouble {
            values: vec![1.5, 2.5],
        }),
    )
    .await;
    let got = get_array(&client, "/d").await;
    assert_eq!(
        got.data.item,
        AnyArrayItem::ArrayOfDouble(ArrayOfDouble {
            values: vec![0.0, 0.0, 0.0, 0.0, 1.5, 2.5, 0.0, 0.0, 0.0]
        })
    );

    put_uninitialized(
        &client,
        "/s",
        meta(
            &[4],
            AnyArrayType::ArrayOfString,
            AnyLogicalArrayType::ArrayOfString,
        ),
    )
    .await;
    put_sub(
        &client,
        "/s",
        &[2],
        &[1],
        AnyArrayItem::ArrayOfString(ArrayOfString {
            values: vec!["x".into()].into(),
        }),
    )
    .await;
    assert_eq!(
        get_array(&client, "/s").await.data.item,
        AnyArrayItem::ArrayOfString(ArrayOfString {
            values: vec!["".into(), "".into(), "x".into(), "".into()].into()
        })
    );

    put_uninitialized(
        &client,
        "/b",
        meta(
            &[2],
            AnyArrayType::ArrayOfBoolean,
            AnyLogicalArrayType::ArrayOfBoolean,
        ),
    )
    .await;
    assert_eq!(
        get_array(&client, "/b").await.data.item,
        AnyArrayItem::ArrayOfBoolean(ArrayOfBoolean {
            values: vec![false, false]
        })
    );
    server.stop().await;
}

#[tokio::test]
async fn arrays_larger_than_a_message_go_through_subarrays() {
    let server = TestServer::start().await;
    let client = server.client_with(|c| c.max_message_size = 100_000).await;
    assert_eq!(client.max_message_size(), 100_000);
    create_dataspace(&client).await;

    // 300 × 100 doubles = 240 kB, written as six 40 kB blocks (pyetp's upload).
    let rows = 300i64;
    let cols = 100i64;
    let all: Vec<f64> = (0..rows * cols).map(|i| i as f64 * 0.25 - 7.0).collect();
    put_uninitialized(
        &client,
        "/big",
        meta(
            &[rows, cols],
            AnyArrayType::ArrayOfDouble,
            AnyLogicalArrayType::ArrayOfDouble64LE,
        ),
    )
    .await;
    for block in 0..6 {
        let first = (block * 50 * cols) as usize;
        put_sub(
            &client,
            "/big",
            &[block * 50, 0],
            &[50, cols],
            AnyArrayItem::ArrayOfDouble(ArrayOfDouble {
                values: all[first..first + (50 * cols) as usize].to_vec(),
            }),
        )
        .await;
    }
    // The whole array cannot fit: 17 for that key, and nothing oversized on the wire (the
    // client's WebSocket would refuse it).
    let errors = key_errors(
        &client,
        GetDataArrays {
            data_arrays: one("big", uid("/big")),
        },
    )
    .await;
    assert_eq!(errors, [("big".to_string(), 17)]);

    // Every block in one request: answered over several messages, never splitting one.
    let mut blocks = Map::new();
    for block in 0..6i64 {
        blocks.insert(
            format!("/big ({block})").into(),
            GetDataSubarraysType {
                uid: uid("/big"),
                starts: vec![block * 50, 0],
                counts: vec![50, cols],
            },
        );
    }
    let response = client
        .request(GetDataSubarrays {
            data_subarrays: blocks,
        })
        .await
        .unwrap();
    assert!(
        response.messages().len() >= 3,
        "{}",
        response.messages().len()
    );
    let parts: Vec<GetDataSubarraysResponse> = response.into_all().unwrap();
    let mut read = Vec::new();
    for part in parts {
        for (_, array) in part.data_subarrays {
            match array.data.item {
                AnyArrayItem::ArrayOfDouble(a) => read.extend(a.values),
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(read, all);

    // Long values are varints: 11 000 of them take 88 kB in memory, which pyetp compares
    // with its limit, but 110 kB on the wire when they are large, far less when small.
    for (path, value) in [("/large-longs", i64::MAX), ("/small-longs", 3)] {
        put_uninitialized(
            &client,
            path,
            meta(
                &[11_000],
                AnyArrayType::ArrayOfLong,
                AnyLogicalArrayType::ArrayOfInt64LE,
            ),
        )
        .await;
        for half in 0..2 {
            put_sub(
                &client,
                path,
                &[half * 5_500],
                &[5_500],
                AnyArrayItem::ArrayOfLong(ArrayOfLong {
                    values: vec![value; 5_500],
                }),
            )
            .await;
        }
    }
    let errors = key_errors(
        &client,
        GetDataArrays {
            data_arrays: one("large", uid("/large-longs")),
        },
    )
    .await;
    assert_eq!(errors, [("large".to_string(), 17)]);
    assert_eq!(
        longs(&get_array(&client, "/small-longs").await.data.item),
        vec![3; 11_000]
    );

    // Strings: the answer's size is only known while reading them.
    let strings: Vec<String> = (0..20_000).map(|i| format!("s{i:08}")).collect();
    put_uninitialized(
        &client,
        "/strings",
        meta(
            &[20_000],
            AnyArrayType::ArrayOfString,
            AnyLogicalArrayType::ArrayOfString,
        ),
    )
    .await;
    for quarter in 0..4i64 {
        let first = (quarter * 5_000) as usize;
        put_sub(
            &client,
            "/strings",
            &[quarter * 5_000],
            &[5_000],
            AnyArrayItem::ArrayOfString(ArrayOfString {
                values: strings[first..first + 5_000]
                    .iter()
                    .map(Into::into)
                    .collect(),
            }),
        )
        .await;
    }
    let errors = key_errors(
        &client,
        GetDataArrays {
            data_arrays: one("s", uid("/strings")),
        },
    )
    .await;
    assert_eq!(errors, [("s".to_string(), 17)]);
    let tail = get_sub(&client, "/strings", &[15_000], &[5_000]).await;
    assert_eq!(
        tail.data.item,
        AnyArrayItem::ArrayOfString(ArrayOfString {
            values: strings[15_000..].iter().map(Into::into).collect()
        })
    );
    server.stop().await;
}

#[tokio::test]
async fn many_keys_spread_over_messages_without_splitting_an_array() {
    let server = TestServer::start().await;
    let client = server.client_with(|c| c.max_message_size = 50_000).await;
    create_dataspace(&client).await;
    // Ten arrays of 2 000 doubles (16 kB): about three per message.
    let mut request = Map::new();
    for i in 0..10 {
        let path = format!("/part{i}");
        let values: Vec<f64> = (0..2_000).map(|j| (i * 10_000 + j) as f64).collect();
        put_array(
            &client,
            &path,
            &[2_000],
            AnyArrayItem::ArrayOfDouble(ArrayOfDouble { values }),
        )
        .await;
        request.insert(path.clone().into(), uid(&path));
    }
    request.insert("unknown".into(), uid("/nothing"));
    let response = client
        .request(GetDataArrays {
            data_arrays: request,
        })
        .await
        .unwrap();
    let messages = response.messages().len();
    assert!(messages >= 4, "{messages} messages");
    let errors: Vec<_> = response
        .errors()
        .into_iter()
        .map(|(k, e)| (k, e.code))
        .collect();
    assert_eq!(errors, [(Some("unknown".to_string()), 11)]);
    let mut seen = Vec::new();
    for body in response.into_bodies() {
        if let Ok(part) = GetDataArraysResponse::try_from(body) {
            assert!(part.data_arrays.len() <= 3);
            for (path, array) in part.data_arrays {
                let i: usize = path["/part".len()..].parse().unwrap();
                let expected: Vec<f64> = (0..2_000).map(|j| (i * 10_000 + j) as f64).collect();
                assert_eq!(
                    array.data.item,
                    AnyArrayItem::ArrayOfDouble(ArrayOfDouble { values: expected })
                );
                seen.push(i);
            }
        }
    }
    seen.sort();
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    server.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_their_codes() {
    let server = TestServer::start().await;
    let client = setup(&server).await;
    put_array(
        &client,
        "/d",
        &[2, 3],
        sample(AnyArrayType::ArrayOfDouble, 6),
    )
    .await;
    put_array(&client, "/l", &[4], sample(AnyArrayType::ArrayOfLong, 4)).await;

    // Identifiers: not a data object URI → 9; unknown array → 11.
    let mut ids = Map::new();
    for (key, uri, path) in [
        ("dataspace-uri", "eml:///dataspace('demo')", "/d"),
        ("garbage", "not a uri", "/d"),
        ("etp11", "eml://witsml20/Well(1)", "/d"),
        ("empty-path", EPC, ""),
        ("missing", EPC, "/nope"),
        ("ok", EPC, "/d"),
    ] {
        ids.insert(
            key.to_string().into(),
            DataArrayIdentifier {
                uri: uri.into(),
                path_in_resource: path.into(),
            },
        );
    }
    let expected = vec![
        ("dataspace-uri".to_string(), 9),
        ("empty-path".to_string(), 5),
        ("etp11".to_string(), 9),
        ("garbage".to_string(), 9),
        ("missing".to_string(), 11),
    ];
    assert_eq!(
        key_errors(
            &client,
            GetDataArrays {
                data_arrays: ids.clone()
            }
        )
        .await,
        expected
    );
    assert_eq!(
        key_errors(&client, GetDataArrayMetadata { data_arrays: ids }).await,
        expected
    );

    // Subarray geometry: out of range, rank mismatch, negative → 5.
    for (starts, counts) in [
        (&[1i64, 0][..], &[2i64, 3][..]),
        (&[0, 2][..], &[2, 2][..]),
        (&[0][..], &[2][..]),
        (&[0, -1][..], &[1, 1][..]),
        (&[0, 0][..], &[1, -1][..]),
    ] {
        assert_eq!(
            key_errors(&client, sub_body("/d", starts, counts)).await,
            [("/d".to_string(), 5)],
            "get {starts:?} {counts:?}"
        );
        let n = counts.iter().product::<i64>().max(0) as usize;
        assert_eq!(
            key_errors(
                &client,
                put_sub_body("/d", starts, counts, sample(AnyArrayType::ArrayOfDouble, n))
            )
            .await,
            [("/d".to_string(), 5)],
            "put {starts:?} {counts:?}"
        );
    }

    // Type mismatch → 5; lossless widening is accepted.
    for item in [
        sample(AnyArrayType::ArrayOfString, 2),
        sample(AnyArrayType::ArrayOfLong, 2),
        sample(AnyArrayType::Bytes, 2),
    ] {
        assert_eq!(
            key_errors(&client, put_sub_body("/d", &[0, 0], &[1, 2], item)).await,
            [("/d".to_string(), 5)]
        );
    }
    put_sub(
        &client,
        "/d",
        &[0, 0],
        &[1, 2],
        AnyArrayItem::ArrayOfFloat(ArrayOfFloat {
            values: vec![0.5, 1.5],
        }),
    )
    .await;
    put_sub(
        &client,
        "/l",
        &[2],
        &[2],
        AnyArrayItem::ArrayOfInt(ArrayOfInt {
            values: vec![-5, 6],
        }),
    )
    .await;
    let got = longs(&get_array(&client, "/l").await.data.item);
    assert_eq!(&got[2..], [-5, 6]);

    // Value count against dimensions, and shapes → 5.
    assert_eq!(
        key_errors(
            &client,
            put_sub_body(
                "/d",
                &[0, 0],
                &[1, 2],
                sample(AnyArrayType::ArrayOfDouble, 3)
            )
        )
        .await,
        [("/d".to_string(), 5)]
    );
    for dims in [&[2i64, 2][..], &[][..], &[-1, -3][..]] {
        assert_eq!(
            key_errors(
                &client,
                put_body("/x", dims, sample(AnyArrayType::ArrayOfDouble, 3))
            )
            .await,
            [("/x".to_string(), 5)],
            "{dims:?}"
        );
    }

    // Arrays never created, dataspaces that do not exist → 11.
    assert_eq!(
        key_errors(
            &client,
            put_sub_body("/new", &[0], &[1], sample(AnyArrayType::ArrayOfDouble, 1))
        )
        .await,
        [("/new".to_string(), 11)]
    );
    let mut elsewhere = put_body("/x", &[1], sample(AnyArrayType::ArrayOfDouble, 1));
    elsewhere.data_arrays["/x"].uid.uri =
        "eml:///dataspace('absent')/eml20.obj_EpcExternalPartReference(f1dc897a-e05e-4c57-944f-3501cb9cd71c)"
            .into();
    assert_eq!(
        key_errors(&client, elsewhere).await,
        [("/x".to_string(), 11)]
    );

    // A request with good and bad keys: the good ones are written and answered.
    let mut mixed = put_body("/good", &[1], sample(AnyArrayType::ArrayOfDouble, 1));
    mixed
        .data_arrays
        .extend(put_body("/bad", &[2], sample(AnyArrayType::ArrayOfDouble, 1)).data_arrays);
    let response = client.request(mixed).await.unwrap();
    let errors: Vec<_> = response
        .errors()
        .into_iter()
        .map(|(k, e)| (k, e.code))
        .collect();
    assert_eq!(errors, [(Some("/bad".to_string()), 5)]);
    let success: Vec<String> = response
        .into_bodies()
        .into_iter()
        .filter_map(|b| PutDataArraysResponse::try_from(b).ok())
        .flat_map(|r| r.success.into_keys())
        .map(String::from)
        .collect();
    assert_eq!(success, ["/good"]);
    assert_eq!(get_array(&client, "/good").await.dimensions, [1]);
    server.stop().await;
}

#[tokio::test]
async fn max_data_array_size_is_enforced_with_17() {
    let server = TestServer::start_with(|c| c.max_data_array_size = 1_000).await;
    let client = setup(&server).await;
    let caps = &client
        .session()
        .supported_protocols
        .iter()
        .find(|p| p.protocol == 9)
        .expect("protocol 9 negotiated")
        .protocol_capabilities;
    assert_eq!(caps.get("MaxDataArraySize"), Some(&DataValue::long(1_000)));

    let doubles = |dims: &[i64]| {
        meta(
            dims,
            AnyArrayType::ArrayOfDouble,
            AnyLogicalArrayType::ArrayOfDouble64LE,
        )
    };
    put_uninitialized(&client, "/fits", doubles(&[125])).await;
    let too_big = PutUninitializedDataArrays {
        data_arrays: one(
            "/big",
            PutUninitializedDataArrayType {
                uid: uid("/big"),
                metadata: doubles(&[5, 26]),
            },
        ),
    };
    assert_eq!(
        key_errors(&client, too_big).await,
        [("/big".to_string(), 17)]
    );
    let overflow = PutUninitializedDataArrays {
        data_arrays: one(
            "/huge",
            PutUninitializedDataArrayType {
                uid: uid("/huge"),
                metadata: doubles(&[1 << 40, 1 << 22]),
            },
        ),
    };
    assert_eq!(
        key_errors(&client, overflow).await,
        [("/huge".to_string(), 17)]
    );

    put_array(
        &client,
        "/fits",
        &[125],
        sample(AnyArrayType::ArrayOfDouble, 125),
    )
    .await;
    assert_eq!(
        key_errors(
            &client,
            put_body("/big", &[126], sample(AnyArrayType::ArrayOfDouble, 126))
        )
        .await,
        [("/big".to_string(), 17)]
    );
    // Strings count their bytes.
    let long_strings = AnyArrayItem::ArrayOfString(ArrayOfString {
        values: vec!["x".repeat(600).into(), "y".repeat(600).into()].into(),
    });
    assert_eq!(
        key_errors(&client, put_body("/s", &[2], long_strings)).await,
        [("/s".to_string(), 17)]
    );
    server.stop().await;
}

/// FNV-1a over the bits of the values, in order.
fn checksum(values: &[f64], mut hash: u64) -> u64 {
    for v in values {
        for b in v.to_bits().to_le_bytes() {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    hash
}

#[tokio::test]
async fn a_64_mib_array_streams_through_1_mib_blocks() {
    // The session may queue only 2 MiB of responses: the 64 MiB array is 32 times the
    // server's send budget, so answers must be produced as the socket drains.
    let server = TestServer::start_with(|c| c.send_buffer_bytes = 2 * 1024 * 1024).await;
    // Without gzip: compressing 64 MiB of doubles on both ends would dominate the test
    // (and buys 6–24 % on such data).
    let client = server.client_with(|c| c.compression = false).await;
    create_dataspace(&client).await;
    // 8192 × 1024 doubles = 64 MiB; blocks of 128 rows = 1 MiB.
    let (rows, cols, step) = (8_192i64, 1_024i64, 128i64);
    put_uninitialized(
        &client,
        "/huge",
        meta(
            &[rows, cols],
            AnyArrayType::ArrayOfDouble,
            AnyLogicalArrayType::ArrayOfDouble64LE,
        ),
    )
    .await;
    let value = |i: i64| (i as f64).sqrt() - (i % 7) as f64;
    let mut written = 0xcbf2_9ce4_8422_2325u64;
    for first in (0..rows).step_by(step as usize) {
        let values: Vec<f64> = (first * cols..(first + step) * cols).map(value).collect();
        written = checksum(&values, written);
        put_sub(
            &client,
            "/huge",
            &[first, 0],
            &[step, cols],
            AnyArrayItem::ArrayOfDouble(ArrayOfDouble { values }),
        )
        .await;
    }
    // Larger than the 16 MiB message: whole-array reads are refused.
    let errors = key_errors(
        &client,
        GetDataArrays {
            data_arrays: one("huge", uid("/huge")),
        },
    )
    .await;
    assert_eq!(errors, [("huge".to_string(), 17)]);
    let mut read = 0xcbf2_9ce4_8422_2325u64;
    for first in (0..rows).step_by(step as usize) {
        let block = get_sub(&client, "/huge", &[first, 0], &[step, cols]).await;
        match block.data.item {
            AnyArrayItem::ArrayOfDouble(a) => {
                assert_eq!(a.values.len(), (step * cols) as usize);
                read = checksum(&a.values, read);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(read, written);
    // One request for all 64 blocks: several 16 MiB answer messages, each waiting for the
    // budget the previous one releases once written.
    let mut all = Map::new();
    for (n, first) in (0..rows).step_by(step as usize).enumerate() {
        all.insert(
            format!("{n:03}").into(),
            GetDataSubarraysType {
                uid: uid("/huge"),
                starts: vec![first, 0],
                counts: vec![step, cols],
            },
        );
    }
    let response = client
        .request(GetDataSubarrays {
            data_subarrays: all,
        })
        .await
        .expect("multi-key subarray read");
    assert!(!response.has_errors());
    assert!(
        response.messages().len() >= 4,
        "{}",
        response.messages().len()
    );
    let mut blocks: Vec<(String, DataArray)> = response
        .into_bodies()
        .into_iter()
        .filter_map(|b| GetDataSubarraysResponse::try_from(b).ok())
        .flat_map(|r| r.data_subarrays)
        .map(|(k, v)| (k.into(), v))
        .collect();
    blocks.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(blocks.len(), 64);
    let mut again = 0xcbf2_9ce4_8422_2325u64;
    for (_, block) in blocks {
        match block.data.item {
            AnyArrayItem::ArrayOfDouble(a) => again = checksum(&a.values, again),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(again, written);
    let m = get_meta(&client, "/huge").await;
    assert_eq!(m.dimensions, [rows, cols]);
    server.stop().await;
}

/// Records where each block of a download starts, and keeps the values.
#[derive(Default)]
struct OffsetSink {
    offsets: Vec<u64>,
    values: Vec<f64>,
}

impl etp_client::ops::ArraySink for OffsetSink {
    fn write(&mut self, offset: u64, values: etp_client::ops::ArrayValues) -> std::io::Result<()> {
        self.offsets.push(offset);
        match values.into_any_array().item {
            AnyArrayItem::ArrayOfDouble(a) => self.values.extend(a.values),
            other => panic!("{other:?}"),
        }
        Ok(())
    }
}

/// Serves values from memory and records the blocks asked for.
struct RecordingSource {
    values: etp_client::ops::ArrayValues,
    reads: Vec<(u64, usize)>,
}

impl etp_client::ops::ArraySource for RecordingSource {
    fn read(&mut self, offset: u64, count: usize) -> std::io::Result<etp_client::ops::ArrayValues> {
        self.reads.push((offset, count));
        self.values.read(offset, count)
    }
}

#[tokio::test]
async fn preferred_blocks_are_whole_chunks_that_fit_a_1_mib_message() {
    let server = TestServer::start().await;
    let client = server
        .client_with(|c| {
            c.max_message_size = 1 << 20;
            c.compression = false;
        })
        .await;
    create_dataspace(&client).await;
    // (dimensions, transport, the block the store's chunk layout gives).
    let cases: &[(&[i64], AnyArrayType, AnyLogicalArrayType, &[i64])] = &[
        // 8 KiB rows: 127 of them (a 128-row MiB would not fit next to the header).
        (
            &[2000, 1024],
            AnyArrayType::ArrayOfDouble,
            AnyLogicalArrayType::ArrayOfDouble64LE,
            &[127, 1024],
        ),
        // Planes of 1.2 MB: rows of the middle axis, a divisor of its 300.
        (
            &[4, 300, 500],
            AnyArrayType::ArrayOfDouble,
            AnyLogicalArrayType::ArrayOfDouble64LE,
            &[1, 150, 500],
        ),
        (
            &[1_000_000],
            AnyArrayType::ArrayOfFloat,
            AnyLogicalArrayType::ArrayOfFloat32LE,
            &[260_096],
        ),
        // Small arrays are one block.
        (
            &[3, 4],
            AnyArrayType::ArrayOfLong,
            AnyLogicalArrayType::ArrayOfInt64LE,
            &[3, 4],
        ),
    ];
    for (n, &(dims, transport, logical, preferred)) in cases.iter().enumerate() {
        let path = format!("/p{n}");
        put_uninitialized(&client, &path, meta(dims, transport, logical)).await;
        let m = get_meta(&client, &path).await;
        assert_eq!(m.preferred_subarray_dimensions, preferred, "{dims:?}");
        // One preferred block is answered within the 1 MiB message.
        let block = get_sub(&client, &path, &vec![0; dims.len()], preferred).await;
        assert_eq!(block.dimensions, preferred);
    }

    // ops cut their blocks on those boundaries, both ways: 150 rows of the middle axis,
    // where the message alone would allow 261 (and every other block would straddle two
    // chunks).
    let dims = [4u64, 300, 500];
    let values: Vec<f64> = (0..4 * 300 * 500).map(|i| f64::from(i) * 0.5).collect();
    let id = uid("/ops");
    let mut source = RecordingSource {
        values: etp_client::ops::ArrayValues::from_any_array(AnyArray {
            item: AnyArrayItem::ArrayOfDouble(ArrayOfDouble {
                values: values.clone(),
            }),
        }),
        reads: Vec::new(),
    };
    etp_client::ops::put_array(
        &client,
        &id,
        &dims,
        AnyArrayType::ArrayOfDouble,
        AnyLogicalArrayType::ArrayOfDouble64LE,
        &mut source,
        &etp_client::ops::ArrayTransfer::default(),
    )
    .await
    .expect("put_array");
    let expected: Vec<u64> = (0..8).map(|i| i * 75_000).collect();
    let reads: Vec<u64> = source.reads.iter().map(|&(offset, _)| offset).collect();
    assert_eq!(reads, expected);
    assert!(source.reads.iter().all(|&(_, count)| count == 75_000));
    let mut sink = OffsetSink::default();
    let m = etp_client::ops::get_array(
        &client,
        &id,
        &mut sink,
        &etp_client::ops::ArrayTransfer::default(),
    )
    .await
    .expect("get_array");
    assert_eq!(m.preferred_subarray_dimensions, [1, 150, 500]);
    assert_eq!(sink.offsets, expected);
    assert_eq!(sink.values, values);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------
// Answers built from the store's chunks (double, float and bytes values are shared
// slices of the chunks; the other types are converted): every type, blocks crossing
// chunk boundaries and never-written chunks, at several message sizes, with and without
// compression.
// ---------------------------------------------------------------------------------------

/// Columns of the arrays below: rows of 256 elements.
const COLS: i64 = 256;

/// Rows per store chunk of a `[rows, 256]` array of `transport` (the store cuts chunks of
/// whole rows of just under 1 MiB, 16 Ki elements for strings; the test reads the
/// preference the store reports, which is one chunk).
async fn rows_per_chunk(client: &Client, path: &str) -> i64 {
    let m = get_meta(client, path).await;
    assert_eq!(m.preferred_subarray_dimensions[1], COLS);
    m.preferred_subarray_dimensions[0]
}

/// The value of element `i` of the test arrays (the same function for every type).
fn value_at(transport: AnyArrayType, i: i64) -> DataValueOf {
    match transport {
        AnyArrayType::ArrayOfBoolean => DataValueOf::Bool(i % 3 != 1),
        AnyArrayType::ArrayOfInt => DataValueOf::Int((i as i32).wrapping_mul(-7_919)),
        AnyArrayType::ArrayOfLong => DataValueOf::Long(i.wrapping_mul(-1 << 33) + 1),
        AnyArrayType::ArrayOfFloat => DataValueOf::Float(i as f32 * 0.5 + 1.0),
        AnyArrayType::ArrayOfDouble => DataValueOf::Double(i as f64 * 0.25 - 3.0),
        AnyArrayType::ArrayOfString => DataValueOf::String(format!("s{i}")),
        AnyArrayType::Bytes => DataValueOf::Byte((i % 251 + 1) as u8),
    }
}

/// One element of any transport type.
enum DataValueOf {
    Bool(bool),
    Int(i32),
    Long(i64),
    Float(f32),
    Double(f64),
    String(String),
    Byte(u8),
}

/// The values of the flat elements `indices` (`None` = never written: the fill).
fn item_of(transport: AnyArrayType, indices: impl Iterator<Item = Option<i64>>) -> AnyArrayItem {
    if transport == AnyArrayType::Bytes {
        let bytes: Vec<u8> = indices
            .map(|index| match index.map(|i| value_at(transport, i)) {
                Some(DataValueOf::Byte(v)) => v,
                _ => 0,
            })
            .collect();
        return AnyArrayItem::Bytes(bytes.into());
    }
    let mut item = sample(transport, 0);
    for index in indices {
        let value = index.map(|i| value_at(transport, i));
        match (&mut item, value) {
            (AnyArrayItem::ArrayOfBoolean(a), v) => {
                a.values.push(matches!(v, Some(DataValueOf::Bool(true))))
            }
            (AnyArrayItem::ArrayOfInt(a), Some(DataValueOf::Int(v))) => a.values.push(v),
            (AnyArrayItem::ArrayOfInt(a), _) => a.values.push(0),
            (AnyArrayItem::ArrayOfLong(a), Some(DataValueOf::Long(v))) => a.values.push(v),
            (AnyArrayItem::ArrayOfLong(a), _) => a.values.push(0),
            (AnyArrayItem::ArrayOfFloat(a), Some(DataValueOf::Float(v))) => a.values.push(v),
            (AnyArrayItem::ArrayOfFloat(a), _) => a.values.push(0.0),
            (AnyArrayItem::ArrayOfDouble(a), Some(DataValueOf::Double(v))) => a.values.push(v),
            (AnyArrayItem::ArrayOfDouble(a), _) => a.values.push(0.0),
            (AnyArrayItem::ArrayOfString(a), Some(DataValueOf::String(v))) => {
                a.values.push(v.into())
            }
            (AnyArrayItem::ArrayOfString(a), _) => a.values.push("".into()),
            (AnyArrayItem::Bytes(_), _) => unreachable!("built above"),
        }
    }
    item
}

/// Flat indices of the block `starts`/`counts` of a `[rows, COLS]` array, row-major.
fn block_indices(starts: [i64; 2], counts: [i64; 2]) -> impl Iterator<Item = i64> {
    (starts[0]..starts[0] + counts[0])
        .flat_map(move |r| (starts[1]..starts[1] + counts[1]).map(move |c| r * COLS + c))
}

/// A `[3k + 5, 256]` array of `transport`, `k` rows per chunk: chunk 0 written whole,
/// the first half of chunk 2 written, chunks 1 and 3 (5 rows) never ([`written`]).
/// Returns `k`.
async fn three_chunk_array(client: &Client, path: &str, transport: AnyArrayType) -> i64 {
    let logical = match transport {
        AnyArrayType::ArrayOfBoolean => AnyLogicalArrayType::ArrayOfBoolean,
        AnyArrayType::ArrayOfInt => AnyLogicalArrayType::ArrayOfInt32LE,
        AnyArrayType::ArrayOfLong => AnyLogicalArrayType::ArrayOfInt64LE,
        AnyArrayType::ArrayOfFloat => AnyLogicalArrayType::ArrayOfFloat32LE,
        AnyArrayType::ArrayOfDouble => AnyLogicalArrayType::ArrayOfDouble64LE,
        AnyArrayType::ArrayOfString => AnyLogicalArrayType::ArrayOfString,
        AnyArrayType::Bytes => AnyLogicalArrayType::ArrayOfInt8,
    };
    // The chunk size depends on the dimensions only through the row size (for arrays of
    // more than one chunk): ask the store about a big one first.
    put_uninitialized(client, path, meta(&[100_000, COLS], transport, logical)).await;
    let k = rows_per_chunk(client, path).await;
    let rows = 3 * k + 5;
    put_uninitialized(client, path, meta(&[rows, COLS], transport, logical)).await;
    assert_eq!(rows_per_chunk(client, path).await, k);
    for (first, count) in [(0, k), (2 * k, k / 2)] {
        let indices = block_indices([first, 0], [count, COLS]).map(Some);
        put_sub(
            client,
            path,
            &[first, 0],
            &[count, COLS],
            item_of(transport, indices),
        )
        .await;
    }
    k
}

fn written(k: i64, i: i64) -> bool {
    let row = i / COLS;
    row < k || (2 * k..2 * k + k / 2).contains(&row)
}

#[tokio::test]
async fn blocks_crossing_chunks_and_gaps_read_exactly_for_every_type() {
    let server = TestServer::start().await;
    let writer = server.client_with(|c| c.max_message_size = 16 << 20).await;
    create_dataspace(&writer).await;
    let small = server
        .client_with(|c| {
            c.max_message_size = 40_000;
            c.compression = false;
        })
        .await;
    let vectored = server
        .client_with(|c| {
            c.max_message_size = 200_000;
            c.compression = false;
        })
        .await;
    let gzip = server
        .client_with(|c| {
            c.max_message_size = 200_000;
            c.compression = true;
        })
        .await;
    assert!(gzip.compression(), "gzip negotiated");
    for transport in AnyArrayType::ALL {
        let path = format!("/chunks/{transport}");
        let k = three_chunk_array(&writer, &path, transport).await;
        let half = 2 * k + k / 2;
        // (starts, counts): unaligned blocks across every kind of boundary.
        let blocks: [([i64; 2], [i64; 2]); 6] = [
            // Written chunk 0 into never-written chunk 1, a window of columns.
            ([k - 3, 7], [7, 193]),
            // Chunk 1 (never written) into chunk 2, whole rows: one contiguous run.
            ([2 * k - 2, 0], [5, COLS]),
            // Across the written half of chunk 2 into its unwritten half.
            ([half - 2, 1], [4, 254]),
            // One column from chunk 2 into the short last chunk.
            ([3 * k - 1, 100], [6, 1]),
            // A single element, and a larger block over three chunks' boundaries.
            ([k, 255], [1, 1]),
            ([k - 20, 0], [(k + 40).min(3 * k + 5 - (k - 20)), COLS]),
        ];
        for (starts, counts) in blocks {
            let expect = item_of(
                transport,
                block_indices(starts, counts).map(|i| written(k, i).then_some(i)),
            );
            let n = counts[0] * counts[1];
            for (name, client) in [("small", &small), ("vectored", &vectored), ("gzip", &gzip)] {
                // Bounds of the encoded values: at least 1 byte per element, at most 10
                // (long varints) or the strings' length.
                let (least, most) = match transport {
                    AnyArrayType::ArrayOfBoolean | AnyArrayType::Bytes => (n, n),
                    AnyArrayType::ArrayOfInt => (n, 5 * n),
                    AnyArrayType::ArrayOfLong => (n, 10 * n),
                    AnyArrayType::ArrayOfFloat => (4 * n, 4 * n),
                    AnyArrayType::ArrayOfDouble => (8 * n, 8 * n),
                    AnyArrayType::ArrayOfString => (n, 12 * n),
                };
                let limit = client.max_message_size() as i64;
                let at = format!("{path} {starts:?} {counts:?} via {name}");
                if most + 200 <= limit {
                    let got = get_sub(client, &path, &starts, &counts).await;
                    assert_eq!(got.dimensions, counts, "{at}");
                    assert!(same(&got.data.item, &expect), "{at}");
                } else if least > limit {
                    let errors = key_errors(client, sub_body(&path, &starts, &counts)).await;
                    assert_eq!(errors, [(path.clone(), 17)], "{at}");
                }
            }
        }
    }
    server.stop().await;
}

/// The largest double/float/bytes/long block answered at a negotiated message size, found
/// by bisection: its message fits that size with only the server's fixed allowances to
/// spare (header and map frame bounds), and one more element gets 17.
#[tokio::test]
async fn answers_fill_the_message_size_exactly() {
    const LIMIT: usize = 50_000;
    let server = TestServer::start().await;
    let writer = server.client().await;
    create_dataspace(&writer).await;
    let client = server
        .client_with(|c| {
            c.max_message_size = LIMIT;
            c.compression = false;
        })
        .await;
    assert_eq!(client.max_message_size(), LIMIT);
    for transport in [
        AnyArrayType::ArrayOfDouble,
        AnyArrayType::ArrayOfFloat,
        AnyArrayType::Bytes,
        AnyArrayType::ArrayOfLong,
    ] {
        let path = format!("/fill/{transport}");
        let n = 60_000i64;
        put_array(&writer, &path, &[n], item_of(transport, (0..n).map(Some))).await;
        let fits = |count: i64| {
            let client = &client;
            let path = &path;
            async move {
                let response = client
                    .request(sub_body(path, &[0], &[count]))
                    .await
                    .unwrap();
                if !response.errors().is_empty() {
                    assert_eq!(response.errors()[0].1.code, 17, "{path} {count}");
                    return None;
                }
                assert_eq!(response.messages().len(), 1);
                let message = &response.messages()[0];
                let size = message.header.encoded_len() + message.body.encoded_len();
                Some(size)
            }
        };
        let (mut lo, mut hi) = (1i64, n);
        assert!(fits(lo).await.is_some());
        assert!(fits(hi).await.is_none(), "{path}: {n} values cannot fit");
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if fits(mid).await.is_some() {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let size = fits(lo).await.expect("the largest block fits");
        assert!(size <= LIMIT, "{path}: {size} bytes for {lo} values");
        // MessageHeader bound (35) + map frame bound (11) + one element (up to 10).
        assert!(LIMIT - size < 64, "{path}: {size} bytes for {lo} values");
        let got = get_sub(&client, &path, &[0], &[lo]).await;
        assert!(
            same(&got.data.item, &item_of(transport, (0..lo).map(Some))),
            "{path}"
        );
    }
    server.stop().await;
}

/// Drops every array segment file under `dir` from the page cache (their pages are clean:
/// each commit synced them), so that the next read of their chunks has to go to disk.
fn drop_segment_pages(dir: &std::path::Path) -> usize {
    use std::os::fd::AsRawFd;
    let mut dropped = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "seg") {
                let f = std::fs::File::open(&path).unwrap();
                // SAFETY: fadvise only reads its integer arguments; `f` outlives the call.
                let rc =
                    unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
                assert_eq!(rc, 0);
                dropped += 1;
            }
        }
    }
    dropped
}

#[tokio::test]
async fn blocks_not_in_the_page_cache_are_read_where_waiting_is_allowed() {
    // Blocks up to 2 MiB are first read on the session's worker from the page cache
    // only; a block whose chunks are not there is read again on the blocking pool.
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let client = server.client_with(|c| c.compression = false).await;
    create_dataspace(&client).await;
    let (rows, cols) = (512i64, 1_024i64);
    let values: Vec<f64> = (0..rows * cols).map(|i| i as f64 * 0.5).collect();
    put_uninitialized(
        &client,
        "/cold",
        meta(
            &[rows, cols],
            AnyArrayType::ArrayOfDouble,
            AnyLogicalArrayType::ArrayOfDouble64LE,
        ),
    )
    .await;
    for first in (0..rows).step_by(128) {
        let block = values[(first * cols) as usize..((first + 128) * cols) as usize].to_vec();
        put_sub(
            &client,
            "/cold",
            &[first, 0],
            &[128, cols],
            AnyArrayItem::ArrayOfDouble(ArrayOfDouble { values: block }),
        )
        .await;
    }
    // Twice: from disk after the pages were dropped, then from the page cache.
    for round in 0..2 {
        if round == 0 {
            assert!(drop_segment_pages(dir.path()) > 0);
        }
        // 1 MiB blocks (first tried without waiting) and one 4 MiB block (the pool).
        for (first, count) in [(0i64, 128i64), (200, 128), (384, 128), (0, 512)] {
            let got = get_sub(&client, "/cold", &[first, 0], &[count, cols]).await;
            let AnyArrayItem::ArrayOfDouble(got) = got.data.item else {
                panic!("not doubles");
            };
            let want = &values[(first * cols) as usize..((first + count) * cols) as usize];
            assert!(got.values == want, "round {round}, rows {first}+{count}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Puts written by hand: Avro block layouts, and malformed values
// ---------------------------------------------------------------------------------------

/// A message id far beyond the client's own: the answers to it come through the client's
/// notification queue.
const RAW_ID: i64 = 1 << 40;

/// A PutDataSubarrays (`message_type` 5) or PutDataArrays (4) message of one key, `path`,
/// for `n` values: what comes before the values' `AnyArray` and what comes after it.
fn raw_frame(message_type: i32, path: &str, n: usize) -> (Vec<u8>, Vec<u8>) {
    use etp_protocol::codec::writer::write_long;
    use etp_protocol::types::datatypes::MessageHeader;
    let mut before = Vec::new();
    MessageHeader {
        protocol: 9,
        message_type,
        correlation_id: 0,
        message_id: RAW_ID,
        message_flags: etp_protocol::message::flags::FIN,
    }
    .encode(&mut before);
    write_long(&mut before, 1);
    path.to_string().encode(&mut before);
    uid(path).encode(&mut before);
    if message_type == 4 {
        vec![n as i64].encode(&mut before);
    }
    let mut after = Vec::new();
    if message_type == 4 {
        Map::<DataValue>::new().encode(&mut after);
    } else {
        vec![0i64].encode(&mut after);
        vec![n as i64].encode(&mut after);
    }
    // The end of the map.
    after.push(0);
    (before, after)
}

/// The `AnyArray` of `array<double>` (`size` 8) or `array<float>` (4) values 1.0, 2.0, …
/// in Avro blocks of `blocks` items, negative counts with their byte size where `negative`.
fn raw_values(blocks: &[usize], negative: bool, size: usize) -> Vec<u8> {
    use etp_protocol::codec::writer::write_long;
    let mut out = Vec::new();
    write_long(&mut out, if size == 8 { 4 } else { 3 });
    let mut next = 1.0f64;
    for &count in blocks {
        if negative {
            write_long(&mut out, -(count as i64));
            write_long(&mut out, (count * size) as i64);
        } else {
            write_long(&mut out, count as i64);
        }
        for _ in 0..count {
            match size {
                8 => out.extend_from_slice(&next.to_le_bytes()),
                _ => out.extend_from_slice(&(next as f32).to_le_bytes()),
            }
            next += 1.0;
        }
    }
    out.push(0);
    out
}

/// [`raw_frame`] around [`raw_values`].
fn raw_put(
    message_type: i32,
    path: &str,
    blocks: &[usize],
    negative: bool,
    size: usize,
) -> Vec<u8> {
    let (mut out, after) = raw_frame(message_type, path, blocks.iter().sum());
    out.extend(raw_values(blocks, negative, size));
    out.extend(after);
    out
}

/// Sends `payload` as it is and returns the server's answer to it.
async fn raw_answer(
    client: &Client,
    answers: &mut tokio::sync::mpsc::Receiver<etp_protocol::message::Message>,
    payload: Vec<u8>,
) -> Body {
    client.send_raw(payload).await.unwrap();
    let message = tokio::time::timeout(std::time::Duration::from_secs(10), answers.recv())
        .await
        .expect("answered in time")
        .expect("session open");
    assert_eq!(message.header.correlation_id, RAW_ID);
    message.body
}

#[tokio::test]
async fn put_values_in_one_or_several_avro_blocks_are_written_exactly() {
    let server = TestServer::start().await;
    let client = setup(&server).await;
    let mut answers = client.notifications().unwrap();
    for (size, transport) in [
        (8, AnyArrayType::ArrayOfDouble),
        (4, AnyArrayType::ArrayOfFloat),
    ] {
        for blocks in [&[6][..], &[2, 4], &[1, 1, 1, 1, 1, 1], &[3]] {
            for negative in [false, true] {
                for message_type in [5, 4] {
                    let path = format!("/b{size}-{blocks:?}-{negative}-{message_type}");
                    let n: usize = blocks.iter().sum();
                    if message_type == 5 {
                        put_uninitialized(
                            &client,
                            &path,
                            meta(
                                &[n as i64],
                                transport,
                                AnyLogicalArrayType::ArrayOfDouble64LE,
                            ),
                        )
                        .await;
                    }
                    let body = raw_answer(
                        &client,
                        &mut answers,
                        raw_put(message_type, &path, blocks, negative, size),
                    )
                    .await;
                    let success: Vec<String> = match body {
                        Body::DataArray(m) => match m {
                            etp_protocol::types::protocol::data_array::DataArrayMessage::PutDataSubarraysResponse(r) => r.success.into_keys().map(String::from).collect(),
                            etp_protocol::types::protocol::data_array::DataArrayMessage::PutDataArraysResponse(r) => r.success.into_keys().map(String::from).collect(),
                            other => panic!("{other:?}"),
                        },
                        other => panic!("{path}: {other:?}"),
                    };
                    assert_eq!(success, std::slice::from_ref(&path));
                    let want: Vec<f64> = (1..=n).map(|i| i as f64).collect();
                    let got = get_array(&client, &path).await;
                    assert_eq!(got.dimensions, [n as i64]);
                    match got.data.item {
                        AnyArrayItem::ArrayOfDouble(a) => {
                            assert_eq!(size, 8);
                            assert_eq!(a.values, want, "{path}");
                        }
                        AnyArrayItem::ArrayOfFloat(a) => {
                            assert_eq!(size, 4);
                            let got: Vec<f64> = a.values.iter().map(|&v| f64::from(v)).collect();
                            assert_eq!(got, want, "{path}");
                        }
                        other => panic!("{path}: {other:?}"),
                    }
                }
            }
        }
    }
    // Floats into an array of doubles: widened, as when decoded.
    put_uninitialized(
        &client,
        "/widen",
        meta(
            &[3],
            AnyArrayType::ArrayOfDouble,
            AnyLogicalArrayType::ArrayOfDouble64LE,
        ),
    )
    .await;
    raw_answer(
        &client,
        &mut answers,
        raw_put(5, "/widen", &[1, 2], false, 4),
    )
    .await;
    match get_array(&client, "/widen").await.data.item {
        AnyArrayItem::ArrayOfDouble(a) => assert_eq!(a.values, [1.0, 2.0, 3.0]),
        other => panic!("{other:?}"),
    }
    server.stop().await;
}

#[tokio::test]
async fn malformed_put_values_get_the_decoders_errors() {
    use etp_protocol::message::{DecodeOptions, decode_message};
    let server = TestServer::start().await;
    let client = setup(&server).await;
    let mut answers = client.notifications().unwrap();
    put_uninitialized(
        &client,
        "/m",
        meta(
            &[6],
            AnyArrayType::ArrayOfDouble,
            AnyLogicalArrayType::ArrayOfDouble64LE,
        ),
    )
    .await;
    let (before, after) = raw_frame(5, "/m", 6);
    let framed = |values: &[u8]| [&before[..], values, &after[..]].concat();
    let good = raw_values(&[2, 4], true, 8);
    let mut samples = Vec::new();
    // Truncated in the second block's values, at its start, in the first block's values,
    // and the whole message missing the map's end.
    for cut in [good.len() - 10, good.len() - 33, 12] {
        samples.push([&before[..], &good[..cut]].concat());
    }
    let whole = framed(&good);
    samples.push(whole[..whole.len() - 1].to_vec());
    // The union branch, the first block: [4] [-2 → 3] [16 → 32] 16 bytes, the second:
    // [-4 → 7] [32 → 64] 32 bytes, then the end [0].
    assert_eq!(good[..3], [8, 3, 32]);
    let second = 3 + 16;
    assert_eq!(good[second..second + 2], [7, 64]);
    // A count larger than the values sent, then one smaller (the rest reads as garbage).
    for count in [9u8, 5] {
        let mut bad = good.clone();
        bad[second] = count;
        samples.push(framed(&bad));
    }
    // A block byte size that is negative, then one past the input.
    for size in [0x0fu8, 0x7e] {
        let mut bad = good.clone();
        bad[2] = size;
        samples.push(framed(&bad));
    }
    // A union index past the end, and trailing bytes.
    let mut bad = good.clone();
    bad[0] = 0x0e;
    samples.push(framed(&bad));
    let mut trailing = whole.clone();
    trailing.push(0);
    samples.push(trailing);
    for sample in samples {
        let payload = bytes::Bytes::from(sample.clone());
        let expected = decode_message(&payload, &DecodeOptions::default())
            .expect_err("a malformed sample")
            .to_string();
        let Body::ProtocolException(pe) = raw_answer(&client, &mut answers, sample).await else {
            panic!("a ProtocolException for {expected}");
        };
        let error = pe.error.expect("one error");
        assert_eq!(
            (error.code, error.message.as_str()),
            (19, expected.as_str())
        );
    }
    // Values that decode but do not fit the block: an empty response, then the key's
    // error, as before.
    let empty = raw_answer(
        &client,
        &mut answers,
        framed(&raw_values(&[2, 3], false, 8)),
    )
    .await;
    assert!(
        matches!(&empty, Body::DataArray(etp_protocol::types::protocol::data_array::DataArrayMessage::PutDataSubarraysResponse(r)) if r.success.is_empty()),
        "{empty:?}"
    );
    let Some(Body::ProtocolException(pe)) = answers.recv().await.map(|m| m.body) else {
        panic!("a key error");
    };
    assert_eq!(pe.errors.get("/m").map(|e| e.code), Some(5), "{pe:?}");
    // The session is fine, and the array unchanged.
    assert_eq!(get_array(&client, "/m").await.dimensions, [6]);
    server.stop().await;
}
