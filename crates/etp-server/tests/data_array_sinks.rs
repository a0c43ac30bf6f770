//! `etp_client::ops::get_array` into the caller's memory: answers left undecoded by the
//! session's reader and copied once into a destination ([`SliceSink`], [`CollectSink`]),
//! for every transport type, with blocks of whole rows and blocks that cut rows at odd
//! places, and failures in the middle of an array. And `ops::get_array_vec`: the values of
//! every answer received by the reader straight into the caller's vector (the client
//! counts those answers), for each plain transport type, on sessions with and without
//! gzip; errors leave the session usable.

mod common;

use common::TestServer;
use etp_client::Client;
use etp_client::ops::{
    self, ArraySink, ArrayTransfer, ArrayValues, CollectSink, EncodedValues, OpsError, SliceSink,
};
use etp_protocol::codec::Map;
use etp_protocol::types::datatypes::AnyArrayType;
use etp_protocol::types::datatypes::data_array_types::DataArrayIdentifier;
use etp_protocol::types::datatypes::object::Dataspace;
use etp_protocol::types::protocol::dataspace::{PutDataspaces, PutDataspacesResponse};

const EPC: &str = "eml:///dataspace('sinks')/eml20.obj_EpcExternalPartReference(0c7e3d54-2d1b-4c1e-9a51-7f7b8e3f5a11)";
/// Rows of 7 values.
const DIMS: [u64; 2] = [41, 7];
const COUNT: usize = 41 * 7;

fn uid(path: &str) -> DataArrayIdentifier {
    DataArrayIdentifier {
        uri: EPC.into(),
        path_in_resource: path.into(),
    }
}

async fn setup(server: &TestServer) -> Client {
    setup_with(server, false).await
}

async fn setup_with(server: &TestServer, compression: bool) -> Client {
    let client = server
        .client_with(|c| {
            c.compression = compression;
        })
        .await;
    let mut dataspaces = Map::new();
    dataspaces.insert(
        "ds".to_string().into(),
        Dataspace {
            uri: "eml:///dataspace('sinks')".into(),
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

/// Blocks of `bytes` bytes of values at most: whole rows while a row fits, else pieces of
/// rows (40 bytes: rows of 7 doubles in pieces of 5 and 2).
fn small_blocks(bytes: usize) -> ArrayTransfer {
    ArrayTransfer {
        max_in_flight: 3,
        max_block_bytes: Some(bytes),
        ..ArrayTransfer::default()
    }
}

fn values_of(transport: AnyArrayType) -> ArrayValues {
    let n = COUNT;
    match transport {
        AnyArrayType::ArrayOfBoolean => ArrayValues::Boolean((0..n).map(|i| i % 3 == 0).collect()),
        AnyArrayType::ArrayOfInt => {
            ArrayValues::Int((0..n).map(|i| (i as i32 - 100) * 1_000_003).collect())
        }
        AnyArrayType::ArrayOfLong => {
            ArrayValues::Long((0..n).map(|i| (i as i64 - 100) << 40).collect())
        }
        AnyArrayType::ArrayOfFloat => ArrayValues::Float((0..n).map(|i| i as f32 * 0.25).collect()),
        AnyArrayType::ArrayOfDouble => {
            ArrayValues::Double((0..n).map(|i| i as f64 * -1.5e-3).collect())
        }
        AnyArrayType::ArrayOfString => {
            ArrayValues::String((0..n).map(|i| format!("v{i}")).collect())
        }
        AnyArrayType::Bytes => ArrayValues::Bytes((0..n).map(|i| (i * 7) as u8).collect()),
    }
}

const TRANSPORTS: [AnyArrayType; 7] = [
    AnyArrayType::ArrayOfBoolean,
    AnyArrayType::ArrayOfInt,
    AnyArrayType::ArrayOfLong,
    AnyArrayType::ArrayOfFloat,
    AnyArrayType::ArrayOfDouble,
    AnyArrayType::ArrayOfString,
    AnyArrayType::Bytes,
];

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

/// Downloads `path` into a slice of `T` and returns it.
async fn get_into<T: ops::SliceElement + Default>(
    client: &Client,
    path: &str,
    options: &ArrayTransfer,
) -> Vec<T> {
    let mut dest = vec![T::default(); COUNT];
    let mut sink = SliceSink::new(&mut dest);
    ops::get_array(client, &uid(path), &mut sink, options)
        .await
        .unwrap();
    assert_eq!(sink.filled(), COUNT as u64);
    dest
}

#[tokio::test]
async fn every_type_lands_in_its_destination_whatever_the_block_cut() {
    let server = TestServer::start().await;
    let client = setup(&server).await;
    for transport in TRANSPORTS {
        let path = format!("/sinks/{transport}");
        let values = values_of(transport);
        put(&client, &path, &values).await;
        // Whole-array answers (GetDataArrays), then blocks of whole rows, pieces of rows,
        // single elements.
        for options in [
            ArrayTransfer::default(),
            small_blocks(184),
            small_blocks(40),
            small_blocks(1),
        ] {
            let mut collect = CollectSink::default();
            ops::get_array(&client, &uid(&path), &mut collect, &options)
                .await
                .unwrap();
            assert_eq!(
                collect.values.as_ref(),
                Some(&values),
                "{transport} {options:?}"
            );
            let back = match transport {
                AnyArrayType::ArrayOfDouble => {
                    ArrayValues::Double(get_into::<f64>(&client, &path, &options).await)
                }
                AnyArrayType::ArrayOfFloat => {
                    ArrayValues::Float(get_into::<f32>(&client, &path, &options).await)
                }
                AnyArrayType::Bytes => {
                    ArrayValues::Bytes(get_into::<u8>(&client, &path, &options).await)
                }
                AnyArrayType::ArrayOfInt => {
                    ArrayValues::Int(get_into::<i32>(&client, &path, &options).await)
                }
                AnyArrayType::ArrayOfLong => {
                    ArrayValues::Long(get_into::<i64>(&client, &path, &options).await)
                }
                AnyArrayType::ArrayOfBoolean => {
                    ArrayValues::Boolean(get_into::<bool>(&client, &path, &options).await)
                }
                AnyArrayType::ArrayOfString => continue,
            };
            assert_eq!(back, values, "{transport} {options:?}");
        }
    }
    server.stop().await;
}

/// Records how each block arrived.
#[derive(Default)]
struct KindSink {
    encoded: Vec<(u64, usize)>,
    decoded: Vec<(u64, usize)>,
}

impl ArraySink for KindSink {
    fn write(&mut self, offset: u64, values: ArrayValues) -> std::io::Result<()> {
        self.decoded.push((offset, values.len()));
        Ok(())
    }

    fn write_encoded(&mut self, offset: u64, values: &EncodedValues) -> std::io::Result<()> {
        self.encoded.push((offset, values.len()));
        Ok(())
    }
}

#[tokio::test]
async fn fixed_width_blocks_come_undecoded_and_in_order() {
    let server = TestServer::start().await;
    let client = setup(&server).await;
    put(&client, "/d", &values_of(AnyArrayType::ArrayOfDouble)).await;
    put(&client, "/l", &values_of(AnyArrayType::ArrayOfLong)).await;
    for bytes in [184, 40] {
        let mut sink = KindSink::default();
        ops::get_array(&client, &uid("/d"), &mut sink, &small_blocks(bytes))
            .await
            .unwrap();
        assert!(sink.decoded.is_empty());
        let mut next = 0u64;
        for &(offset, len) in &sink.encoded {
            assert_eq!(offset, next, "blocks follow each other in order");
            next += len as u64;
        }
        assert_eq!(next, COUNT as u64);
        let mid_row = sink.encoded.iter().any(|b| b.0 % 7 != 0);
        assert_eq!(
            mid_row,
            bytes == 40,
            "rows are cut only when they do not fit"
        );
    }
    // Varints are decoded as before.
    let mut sink = KindSink::default();
    ops::get_array(&client, &uid("/l"), &mut sink, &small_blocks(184))
        .await
        .unwrap();
    assert!(sink.encoded.is_empty());
    assert_eq!(sink.decoded.iter().map(|b| b.1).sum::<usize>(), COUNT);
    server.stop().await;
}

/// Fails at the `fail_at`-th block, after keeping the ones before.
struct FailingSink {
    blocks: usize,
    fail_at: usize,
}

impl ArraySink for FailingSink {
    fn write(&mut self, _: u64, _: ArrayValues) -> std::io::Result<()> {
        unreachable!("doubles come encoded")
    }

    fn write_encoded(&mut self, _: u64, _: &EncodedValues) -> std::io::Result<()> {
        self.blocks += 1;
        if self.blocks == self.fail_at {
            return Err(std::io::Error::other("disk full"));
        }
        Ok(())
    }
}

#[tokio::test]
async fn failures_in_the_middle_of_an_array_end_the_transfer_not_the_session() {
    let server = TestServer::start().await;
    let client = setup(&server).await;
    let values = values_of(AnyArrayType::ArrayOfDouble);
    put(&client, "/d", &values).await;

    // The sink fails at the fourth block.
    let mut failing = FailingSink {
        blocks: 0,
        fail_at: 4,
    };
    let err = ops::get_array(&client, &uid("/d"), &mut failing, &small_blocks(40))
        .await
        .unwrap_err();
    assert!(matches!(err, OpsError::Io(_)), "{err}");
    assert_eq!(failing.blocks, 4, "no block after the failure");

    // A destination of the wrong size or type is refused before any request for values.
    let mut short = vec![0f64; COUNT - 1];
    let err = ops::get_array(
        &client,
        &uid("/d"),
        &mut SliceSink::new(&mut short),
        &small_blocks(184),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OpsError::Io(_)), "{err}");
    let mut floats = vec![0f32; COUNT];
    let err = ops::get_array(
        &client,
        &uid("/d"),
        &mut SliceSink::new(&mut floats),
        &small_blocks(184),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OpsError::Io(_)), "{err}");

    // A missing array is the server's error for its key.
    let mut dest = vec![0f64; COUNT];
    let err = ops::get_array(
        &client,
        &uid("/missing"),
        &mut SliceSink::new(&mut dest),
        &small_blocks(184),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OpsError::Key { .. }), "{err}");

    // The session goes on, and a full download still lands whole.
    assert_eq!(
        ArrayValues::Double(get_into::<f64>(&client, "/d", &small_blocks(184)).await),
        values
    );
    server.stop().await;
}

#[tokio::test]
async fn sessions_with_gzip_get_arrays_the_same_way() {
    let server = TestServer::start().await;
    let client = server
        .client_with(|c| {
            c.compression = true;
        })
        .await;
    assert!(client.compression(), "the server offers gzip");
    let mut dataspaces = Map::new();
    dataspaces.insert(
        "ds".to_string().into(),
        Dataspace {
            uri: "eml:///dataspace('sinks')".into(),
            ..Default::default()
        },
    );
    let _: PutDataspacesResponse = client
        .request_one(PutDataspaces { dataspaces })
        .await
        .unwrap();
    // Our server never gzips DataArray answers (float data does not compress); the
    // decoding of gzipped ones by the reader is covered by the unit tests of `ops::arrays`.
    let values = ArrayValues::Double(vec![2.5; COUNT]);
    put(&client, "/z", &values).await;
    assert_eq!(
        ArrayValues::Double(get_into::<f64>(&client, "/z", &small_blocks(184)).await),
        values
    );
    let mut kinds = KindSink::default();
    ops::get_array(&client, &uid("/z"), &mut kinds, &small_blocks(1024))
        .await
        .unwrap();
    assert_eq!(
        kinds
            .encoded
            .iter()
            .chain(&kinds.decoded)
            .map(|b| b.1)
            .sum::<usize>(),
        COUNT
    );
    server.stop().await;
}

/// Hands its values over in pieces of 5 elements, as a source overriding `read_into`.
struct InPieces(ArrayValues);

impl ops::ArraySource for InPieces {
    fn read(&mut self, offset: u64, count: usize) -> std::io::Result<ArrayValues> {
        self.0.read(offset, count)
    }

    fn read_into(
        &mut self,
        offset: u64,
        count: usize,
        out: &mut ops::BlockWriter<'_>,
    ) -> std::io::Result<()> {
        let start = offset as usize;
        for at in (start..start + count).step_by(5) {
            let n = 5.min(start + count - at);
            match &self.0 {
                ArrayValues::Double(v) => out.write_f64s(&v[at..at + n])?,
                ArrayValues::Float(v) => out.write_f32s(&v[at..at + n])?,
                other => out.write_values(&other.slice(at, n))?,
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn blocks_put_from_every_kind_of_source_read_back_the_same() {
    // Without gzip, double and float blocks are written straight into the masked frames;
    // with it, encoded (and maybe compressed) as before. Both must store the same values.
    for compression in [false, true] {
        let server = TestServer::start().await;
        let client = setup_with(&server, compression).await;
        assert_eq!(client.compression(), compression);
        for transport in TRANSPORTS {
            let values = values_of(transport);
            for (kind, options) in [("rows", small_blocks(184)), ("pieces", small_blocks(40))] {
                let path = format!("/put/{compression}/{transport}/{kind}");
                let sources: [Box<dyn ops::ArraySource>; 2] =
                    [Box::new(values.clone()), Box::new(InPieces(values.clone()))];
                for (i, mut source) in sources.into_iter().enumerate() {
                    ops::put_array(
                        &client,
                        &uid(&path),
                        &DIMS,
                        transport,
                        ops::arrays::default_logical_type(transport),
                        source.as_mut(),
                        &options,
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{path} from source {i}: {e}"));
                    let mut collect = CollectSink::default();
                    ops::get_array(
                        &client,
                        &uid(&path),
                        &mut collect,
                        &ArrayTransfer::default(),
                    )
                    .await
                    .unwrap();
                    assert_eq!(collect.values.as_ref(), Some(&values), "{path} source {i}");
                }
            }
        }
        client.close("done").await.unwrap();
        server.stop().await;
    }
}

#[tokio::test]
async fn a_source_short_of_values_fails_the_put_as_an_invalid_argument() {
    struct Short(ArrayValues);
    impl ops::ArraySource for Short {
        fn read(&mut self, offset: u64, count: usize) -> std::io::Result<ArrayValues> {
            self.0.read(offset, count.saturating_sub(1))
        }
    }
    for compression in [false, true] {
        let server = TestServer::start().await;
        let client = setup_with(&server, compression).await;
        let err = ops::put_array(
            &client,
            &uid("/short"),
            &DIMS,
            AnyArrayType::ArrayOfDouble,
            ops::arrays::default_logical_type(AnyArrayType::ArrayOfDouble),
            &mut Short(values_of(AnyArrayType::ArrayOfDouble)),
            &small_blocks(184),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, OpsError::InvalidArgument(m) if m.contains("instead of")),
            "{err}"
        );
        server.stop().await;
    }
}

/// The whole array in one answer, then blocks of whole rows, pieces of rows (rows of 7
/// doubles in pieces of 5 and 2), single elements.
fn cuts() -> [ArrayTransfer; 4] {
    [
        ArrayTransfer::default(),
        small_blocks(184),
        small_blocks(40),
        small_blocks(1),
    ]
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
        let client = setup_with(&server, compression).await;
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
    let client = setup(&server).await;
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
