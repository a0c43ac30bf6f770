//! GetDataSubarrays answers over plain TCP send the array chunks they carry straight
//! from the store's segment files (`sendfile`, `session/vectored.rs`): what arrives must
//! be byte for byte what was written, for whole chunks, blocks spanning chunks, blocks of
//! a few rows or columns and answers of several messages, mixed with small messages; and
//! with the path off (`send_file = false`, as over TLS) the same.

mod common;

use common::TestServer;
use etp_client::Client;
use etp_protocol::codec::Map;
use etp_protocol::types::datatypes::data_array_types::{
    DataArrayIdentifier, DataArrayMetadata, GetDataSubarraysType, PutDataSubarraysType,
    PutUninitializedDataArrayType,
};
use etp_protocol::types::datatypes::object::Dataspace;
use etp_protocol::types::datatypes::{
    AnyArray, AnyArrayItem, AnyArrayType, AnyLogicalArrayType, ArrayOfDouble,
};
use etp_protocol::types::protocol::data_array::{
    GetDataSubarrays, GetDataSubarraysResponse, PutDataSubarrays, PutDataSubarraysResponse,
    PutUninitializedDataArrays, PutUninitializedDataArraysResponse,
};
use etp_protocol::types::protocol::dataspace::{PutDataspaces, PutDataspacesResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const EPC: &str = "eml:///dataspace('demo')/eml20.obj_EpcExternalPartReference(f1dc897a-e05e-4c57-944f-3501cb9cd71c)";
const ROWS: i64 = 640;
const COLS: i64 = 1_024;

fn uid() -> DataArrayIdentifier {
    DataArrayIdentifier {
        uri: EPC.into(),
        path_in_resource: "/a".into(),
    }
}

fn one<V>(key: &str, value: V) -> Map<V> {
    let mut map = Map::new();
    map.insert(key.to_string().into(), value);
    map
}

/// Element `i` (row-major): distinct bit patterns, so a misplaced or zeroed byte shows.
fn value(i: i64) -> f64 {
    (i as f64).sqrt() * 1.000_000_1 - (i % 13) as f64
}

/// A 640 × 1024 array of doubles (5 MiB, several chunks), written in blocks of 64 rows.
async fn setup(client: &Client) {
    let r: PutDataspacesResponse = client
        .request_one(PutDataspaces {
            dataspaces: one(
                "ds",
                Dataspace {
                    uri: "eml:///dataspace('demo')".into(),
                    ..Default::default()
                },
            ),
        })
        .await
        .unwrap();
    assert_eq!(r.success.len(), 1);
    let metadata = DataArrayMetadata {
        dimensions: vec![ROWS, COLS],
        transport_array_type: AnyArrayType::ArrayOfDouble,
        logical_array_type: AnyLogicalArrayType::ArrayOfDouble64LE,
        ..Default::default()
    };
    let r: PutUninitializedDataArraysResponse = client
        .request_one(PutUninitializedDataArrays {
            data_arrays: one(
                "a",
                PutUninitializedDataArrayType {
                    uid: uid(),
                    metadata,
                },
            ),
        })
        .await
        .unwrap();
    assert_eq!(r.success.len(), 1);
    for first in (0..ROWS).step_by(64) {
        let values = (first * COLS..(first + 64) * COLS).map(value).collect();
        let r: PutDataSubarraysResponse = client
            .request_one(PutDataSubarrays {
                data_subarrays: one(
                    "a",
                    PutDataSubarraysType {
                        uid: uid(),
                        data: AnyArray {
                            item: AnyArrayItem::ArrayOfDouble(ArrayOfDouble { values }),
                        },
                        starts: vec![first, 0],
                        counts: vec![64, COLS],
                    },
                ),
            })
            .await
            .unwrap();
        assert_eq!(r.success.len(), 1);
    }
}

fn expected(starts: [i64; 2], counts: [i64; 2]) -> Vec<u64> {
    let mut out = Vec::new();
    for r in starts[0]..starts[0] + counts[0] {
        for c in starts[1]..starts[1] + counts[1] {
            out.push(value(r * COLS + c).to_bits());
        }
    }
    out
}

/// Blocks: a chunk (127 rows of 8 KiB), blocks spanning chunks at odd rows, column
/// ranges, a few elements, and the whole array in one message; those larger than
/// 1 MiB only where messages may be larger.
const BLOCKS: [([i64; 2], [i64; 2]); 9] = [
    ([0, 0], [127, COLS]),
    ([100, 0], [127, COLS]),
    ([300, 0], [120, COLS]),
    ([5, 5], [3, 3]),
    ([639, 0], [1, COLS]),
    ([100, 0], [130, COLS]),
    ([37, 0], [301, COLS]),
    ([10, 100], [300, 700]),
    ([0, 0], [ROWS, COLS]),
];

/// The blocks whose answer fits a message of `max_message_size` bytes.
fn blocks(max_message_size: u64) -> Vec<([i64; 2], [i64; 2])> {
    BLOCKS
        .into_iter()
        .filter(|(_, c)| (c[0] * c[1] * 8 + 4096) as u64 <= max_message_size)
        .collect()
}

async fn check_blocks(client: &Client, round: usize, max_message_size: u64) {
    let blocks = blocks(max_message_size);
    // One request per block, then all of them in one request (answers of several
    // messages).
    for &(starts, counts) in &blocks {
        let r: GetDataSubarraysResponse = client
            .request_one(GetDataSubarrays {
                data_subarrays: one(
                    "k",
                    GetDataSubarraysType {
                        uid: uid(),
                        starts: starts.to_vec(),
                        counts: counts.to_vec(),
                    },
                ),
            })
            .await
            .unwrap();
        let got = bits(&r.data_subarrays["k"].data.item);
        assert!(
            got == expected(starts, counts),
            "round {round}, block {starts:?} {counts:?}"
        );
    }
    let mut all = Map::new();
    for (i, (starts, counts)) in blocks.iter().enumerate() {
        all.insert(
            format!("{i}").into(),
            GetDataSubarraysType {
                uid: uid(),
                starts: starts.to_vec(),
                counts: counts.to_vec(),
            },
        );
    }
    let response = client
        .request(GetDataSubarrays {
            data_subarrays: all,
        })
        .await
        .unwrap();
    assert!(!response.has_errors());
    let mut seen = 0;
    for body in response.into_bodies() {
        let Ok(r) = GetDataSubarraysResponse::try_from(body) else {
            continue;
        };
        for (key, array) in r.data_subarrays {
            let i: usize = key.as_str().parse().unwrap();
            let (starts, counts) = blocks[i];
            assert!(
                bits(&array.data.item) == expected(starts, counts),
                "round {round}, key {i} of the multi-key request"
            );
            seen += 1;
        }
    }
    assert_eq!(seen, blocks.len());
}

fn bits(item: &AnyArrayItem) -> Vec<u64> {
    match item {
        AnyArrayItem::ArrayOfDouble(a) => a.values.iter().map(|v| v.to_bits()).collect(),
        other => panic!("{other:?}"),
    }
}

/// `etp_bytes_sent_from_files_total` from `/metrics`.
async fn sent_from_files(server: &TestServer) -> u64 {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8(response).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("etp_bytes_sent_from_files_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("counter in /metrics")
}

async fn round_trip(send_file: bool, max_message_size: u64) -> u64 {
    let server = TestServer::start_with(|c| {
        c.send_file = send_file;
        c.max_message_size = max_message_size;
    })
    .await;
    // Without gzip: compressed answers are one copy, never sent from files.
    let client = server.client_with(|c| c.compression = false).await;
    setup(&client).await;
    // Twice: the second time from mappings made by the first.
    for round in 0..2 {
        check_blocks(&client, round, max_message_size).await;
    }
    let sent = sent_from_files(&server).await;
    drop(client);
    server.stop().await;
    sent
}

#[tokio::test]
async fn answers_sent_from_segment_files_arrive_byte_exact() {
    let sent = round_trip(true, 16 << 20).await;
    if cfg!(target_os = "linux") {
        // Most of the ~40 MiB read went from the files.
        assert!(sent > 16 << 20, "{sent}");
    }
}

#[tokio::test]
async fn answers_sent_from_files_in_1_mib_messages_arrive_byte_exact() {
    // The whole array needs several messages; each carries about one chunk.
    let sent = round_trip(true, 1 << 20).await;
    if cfg!(target_os = "linux") {
        assert!(sent > 0, "{sent}");
    }
}

#[tokio::test]
async fn without_send_file_answers_are_copied_and_exact() {
    assert_eq!(round_trip(false, 16 << 20).await, 0);
}
