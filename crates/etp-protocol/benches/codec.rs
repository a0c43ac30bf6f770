//! Codec throughput: our generated Avro codec against `apache-avro` (generic `Value`
//! reader/writer, same schema, same bytes) and against a plain memory copy of the same
//! byte count, for three message bodies:
//!
//! - `GetDataArraysResponse` (protocol 9): one `DataArray` of 1,048,576 `double`s (8 MiB);
//! - `PutDataObjects` (protocol 4): 100 `DataObject`s of 20 KiB of RESQML XML each;
//! - `GetResourcesResponse` (protocol 3): 1,000 `Resource`s.
//!
//! `PutDataObjects` also has the vectored encoding (`encode_segments`: the XML shared, not
//! copied), which is how the server sends large uncompressed messages.
//!
//! Every benchmark of a group reports throughput in bytes of the encoded body, so ratios
//! between rows of a group are ratios of speed. Run with
//! `cargo bench -p etp-protocol --bench codec -- --warm-up-time 1 --measurement-time 3`.
//!
//! With `ETP_BENCH_CLOCK=cpu` in the environment, time is the benchmark thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`) instead of wall-clock time: on a machine shared with other
//! work, time spent descheduled no longer counts, which makes runs comparable when the load
//! changes between them (caches shared with other processes still add noise).

use std::collections::{HashMap, HashSet};
use std::hint::black_box;

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value as AvroValue;
use apache_avro::writer::datum::GenericDatumWriter;
use bytes::Bytes;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etp_protocol::Uuid;
use etp_protocol::codec::{Avro, DecodeError, Map, Reader, SegmentedBuf};
use etp_protocol::types::datatypes::data_array_types::DataArray;
use etp_protocol::types::datatypes::object::{ActiveStatusKind, DataObject, Resource};
use etp_protocol::types::datatypes::{
    AnyArray, AnyArrayItem, ArrayOfDouble, DataValue, DataValueItem,
};
use etp_protocol::types::protocol::data_array::GetDataArraysResponse;
use etp_protocol::types::protocol::discovery::GetResourcesResponse;
use etp_protocol::types::protocol::store::PutDataObjects;
use serde_json::Value as Json;

// ---------------------------------------------------------------------------------------
// Avro schemas for apache-avro, field lists copied verbatim from etp.avpr (ETP v1.2).
// ---------------------------------------------------------------------------------------

/// Named types involved in the three bodies, in dependency order.
const NAMED_TYPES: &[&str] = &[
    r#"{"type":"fixed","namespace":"Energistics.Etp.v12.Datatypes","name":"Uuid","size":16}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Datatypes","name":"ArrayOfBoolean","fields":[{"name":"values","type":{"type":"array","items":"boolean"}}]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Datatypes","name":"ArrayOfNullableBoolean","fields":[{"name":"values","type":{"type":"array","items":["null","boolean"]}}]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Datatypes","name":"ArrayOfInt","fields":[{"name":"values","type":{"type":"array","items":"int"}}]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Datatypes","name":"ArrayOfNullableInt","fields":[{"name":"values","type":{"type":"array","items":["null","int"]}}]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Datatypes","name":"ArrayOfLong","fields":[{"name":"values","type":{"type":"array","items":"long"}}]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Datatypes","name":"ArrayOfNullableLong","fields":[{"name":"values","type":{"type":"array","items":["null","long"]}}]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Datatypes","name":"ArrayOfFloat","fields":[{"name":"values","type":{"type":"array","items":"float"}}]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Datatypes","name":"ArrayOfDouble","fields":[{"name":"values","type":{"type":"array","items":"double"}}]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Datatypes","name":"ArrayOfString","fields":[{"name":"values","type":{"type":"array","items":"string"}}]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Datatypes","name":"ArrayOfBytes","fields":[{"name":"values","type":{"type":"array","items":"bytes"}}]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Datatypes","name":"AnyArray","fields":[{"name":"item","type":["Energistics.Etp.v12.Datatypes.ArrayOfBoolean","Energistics.Etp.v12.Datatypes.ArrayOfInt","Energistics.Etp.v12.Datatypes.ArrayOfLong","Energistics.Etp.v12.Datatypes.ArrayOfFloat","Energistics.Etp.v12.Datatypes.ArrayOfDouble","Energistics.Etp.v12.Datatypes.ArrayOfString","bytes"]}]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Datatypes","name":"AnySubarray","fields":[{"name":"start","type":"long"},{"name":"slice","type":"Energistics.Etp.v12.Datatypes.AnyArray"}]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Datatypes","name":"AnySparseArray","fields":[{"name":"slices","type":{"type":"array","items":"Energistics.Etp.v12.Datatypes.AnySubarray"}}]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Datatypes","name":"DataValue","fields":[{"name":"item","type":["null","boolean","int","long","float","double","string","Energistics.Etp.v12.Datatypes.ArrayOfBoolean","Energistics.Etp.v12.Datatypes.ArrayOfNullableBoolean","Energistics.Etp.v12.Datatypes.ArrayOfInt","Energistics.Etp.v12.Datatypes.ArrayOfNullableInt","Energistics.Etp.v12.Datatypes.ArrayOfLong","Energistics.Etp.v12.Datatypes.ArrayOfNullableLong","Energistics.Etp.v12.Datatypes.ArrayOfFloat","Energistics.Etp.v12.Datatypes.ArrayOfDouble","Energistics.Etp.v12.Datatypes.ArrayOfString","Energistics.Etp.v12.Datatypes.ArrayOfBytes","bytes","Energistics.Etp.v12.Datatypes.AnySparseArray"]}]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Datatypes.DataArrayTypes","name":"DataArray","fields":[{"name":"dimensions","type":{"type":"array","items":"long"}},{"name":"data","type":"Energistics.Etp.v12.Datatypes.AnyArray"}]}"#,
    r#"{"type":"enum","namespace":"Energistics.Etp.v12.Datatypes.Object","name":"ActiveStatusKind","symbols":["Active","Inactive"]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Datatypes.Object","name":"Resource","fields":[{"name":"uri","type":"string"},{"name":"alternateUris","type":{"type":"array","items":"string"},"default":[]},{"name":"name","type":"string"},{"name":"sourceCount","type":["null","int"],"default":null},{"name":"targetCount","type":["null","int"],"default":null},{"name":"lastChanged","type":"long"},{"name":"storeLastWrite","type":"long"},{"name":"storeCreated","type":"long"},{"name":"activeStatus","type":"Energistics.Etp.v12.Datatypes.Object.ActiveStatusKind"},{"name":"customData","type":{"type":"map","values":"Energistics.Etp.v12.Datatypes.DataValue"},"default":{}}]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Datatypes.Object","name":"DataObject","fields":[{"name":"resource","type":"Energistics.Etp.v12.Datatypes.Object.Resource"},{"name":"format","type":"string","default":"xml"},{"name":"blobId","type":["null","Energistics.Etp.v12.Datatypes.Uuid"]},{"name":"data","type":"bytes","default":""}]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Protocol.DataArray","name":"GetDataArraysResponse","fields":[{"name":"dataArrays","type":{"type":"map","values":"Energistics.Etp.v12.Datatypes.DataArrayTypes.DataArray"},"default":{}}]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Protocol.Store","name":"PutDataObjects","fields":[{"name":"dataObjects","type":{"type":"map","values":"Energistics.Etp.v12.Datatypes.Object.DataObject"}},{"name":"pruneContainedObjects","type":"boolean","default":false}]}"#,
    r#"{"type":"record","namespace":"Energistics.Etp.v12.Protocol.Discovery","name":"GetResourcesResponse","fields":[{"name":"resources","type":{"type":"array","items":"Energistics.Etp.v12.Datatypes.Object.Resource"},"default":[]}]}"#,
];

/// The schema of `full_name` with every named type it uses defined inline at its first use
/// (what a standalone `.avsc` for that record looks like).
fn schema_of(full_name: &str) -> Schema {
    let defs: HashMap<String, Json> = NAMED_TYPES
        .iter()
        .map(|text| {
            let def: Json = serde_json::from_str(text).expect("schema snippet is JSON");
            let name = format!(
                "{}.{}",
                def["namespace"].as_str().unwrap(),
                def["name"].as_str().unwrap()
            );
            (name, def)
        })
        .collect();
    let mut defined = HashSet::new();
    let json = inline_named(&Json::String(full_name.to_owned()), &defs, &mut defined);
    Schema::parse(&json).expect("apache-avro accepts the schema")
}

/// Replaces the first reference to each named type (in document order, which is the order
/// an Avro parser reads them) with its definition.
fn inline_named(v: &Json, defs: &HashMap<String, Json>, defined: &mut HashSet<String>) -> Json {
    match v {
        Json::String(s) if defs.contains_key(s) => {
            if defined.insert(s.clone()) {
                inline_named(&defs[s], defs, defined)
            } else {
                v.clone()
            }
        }
        Json::Array(items) => Json::Array(
            items
                .iter()
                .map(|i| inline_named(i, defs, defined))
                .collect(),
        ),
        Json::Object(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, x)| {
                    let x = match k.as_str() {
                        "name" | "namespace" | "default" | "symbols" => x.clone(),
                        _ => inline_named(x, defs, defined),
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        _ => v.clone(),
    }
}

// ---------------------------------------------------------------------------------------
// Realistic bodies.
// ---------------------------------------------------------------------------------------

/// Deterministic pseudo-random numbers (SplitMix64), so every run encodes the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uuid(&mut self) -> Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next().to_le_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        Uuid(bytes)
    }
}

/// 2024-03-14T09:26:53Z in microseconds since the epoch, as ETP timestamps are.
const T0: i64 = 1_710_408_413_000_000;

const HORIZONS: &[&str] = &[
    "Top Reservoir",
    "Base Cretaceous Unconformity",
    "Top Brent",
    "Top Ness",
    "Top Etive",
    "Base Reservoir",
];

fn resource(rng: &mut Rng, i: usize) -> (Resource, Uuid) {
    let uuid = rng.uuid();
    let uri = format!("eml:///dataspace('demo/x')/resqml20.obj_Grid2dRepresentation({uuid})");
    let mut custom_data = Map::new();
    custom_data.insert(
        "source".into(),
        DataValue {
            item: DataValueItem::String("Petrel 2023.4 / seismic interpretation".into()),
        },
    );
    custom_data.insert(
        "surveyId".into(),
        DataValue {
            item: DataValueItem::Long(40_000 + i as i64),
        },
    );
    custom_data.insert(
        "zDomain".into(),
        DataValue {
            item: DataValueItem::String("depth".into()),
        },
    );
    let resource = Resource {
        alternate_uris: vec![format!("{uri}/version('{}')", 1 + i % 4).into()].into(),
        uri: uri.into(),
        name: format!(
            "{} grid {:04} (v{})",
            HORIZONS[i % HORIZONS.len()],
            i,
            1 + i % 4
        )
        .into(),
        source_count: Some(1 + (i % 3) as i32),
        target_count: Some((i % 5) as i32),
        last_changed: T0 + (i as i64) * 61_000_123,
        store_last_write: T0 + (i as i64) * 61_000_123 + 250_000,
        store_created: T0 - 86_400_000_000 + (i as i64) * 1_000_000,
        active_status: if i % 10 == 9 {
            ActiveStatusKind::Inactive
        } else {
            ActiveStatusKind::Active
        },
        custom_data,
    };
    (resource, uuid)
}

/// Exactly 20,480 bytes of RESQML 2.0 XML for a Grid2dRepresentation (the document
/// `etp bench` puts: [`etp_model::samples::grid2d_xml`]).
fn grid_xml(rng: &mut Rng, uuid: Uuid, title: &str) -> Bytes {
    const SIZE: usize = 20 * 1024;
    let references = [rng.uuid(), rng.uuid(), rng.uuid()].map(|u| u.to_string());
    let [interp, crs, hdf] = &references;
    let xml =
        etp_model::samples::grid2d_xml(&uuid.to_string(), title, [interp, crs, hdf], SIZE, || {
            rng.next()
        });
    assert_eq!(xml.len(), SIZE);
    Bytes::from(xml)
}

fn get_data_arrays_response() -> GetDataArraysResponse {
    const N: usize = 1 << 20;
    // A smooth depth surface, 1024 x 1024 nodes.
    let values: Vec<f64> = (0..N)
        .map(|i| {
            let (x, y) = ((i % 1024) as f64, (i / 1024) as f64);
            2_150.0 + 40.0 * (x / 97.0).sin() * (y / 131.0).cos() + 0.003 * x - 0.002 * y
        })
        .collect();
    let mut data_arrays = Map::new();
    data_arrays.insert(
        "eml:///dataspace('demo/x')/resqml20.obj_Grid2dRepresentation(2c1f4a7e-93b1-4e0c-8d57-6a0f3c9e1b42)/RESQML/points_patch0".into(),
        DataArray {
            dimensions: vec![1024, 1024],
            data: AnyArray {
                item: AnyArrayItem::ArrayOfDouble(ArrayOfDouble { values }),
            },
        },
    );
    GetDataArraysResponse { data_arrays }
}

fn put_data_objects() -> PutDataObjects {
    let mut rng = Rng(0x5eed_0004);
    let mut data_objects = Map::new();
    for i in 0..100 {
        let (resource, uuid) = resource(&mut rng, i);
        let data = grid_xml(&mut rng, uuid, &resource.name);
        data_objects.insert(
            i.to_string().into(),
            DataObject {
                resource,
                format: "xml".into(),
                blob_id: None,
                data,
            },
        );
    }
    PutDataObjects {
        data_objects,
        prune_contained_objects: false,
    }
}

fn get_resources_response() -> GetResourcesResponse {
    let mut rng = Rng(0x5eed_0003);
    GetResourcesResponse {
        resources: (0..1000).map(|i| resource(&mut rng, i).0).collect(),
    }
}

// ---------------------------------------------------------------------------------------
// The benchmark.
// ---------------------------------------------------------------------------------------

fn decode_ours<T: Avro>(input: &Bytes) -> Result<T, DecodeError> {
    let mut r = Reader::from_bytes(input);
    let value = T::decode(&mut r)?;
    r.finish()?;
    Ok(value)
}

/// Rows of one body; `vectored` adds "ours encode (vectored)".
fn bench_body<T>(c: &mut Criterion<Clock>, group_name: &str, record: &str, body: &T, vectored: bool)
where
    T: Avro + PartialEq + std::fmt::Debug,
{
    let schema = schema_of(record);
    let avro_reader = GenericDatumReader::builder(&schema)
        .build()
        .expect("apache-avro datum reader");
    // `to_avro_datum` is this writer with validation on, writing into a fresh Vec after
    // taking the Value by value; we give apache-avro its fastest configuration instead:
    // no validation (our typed values cannot be invalid either), a reused buffer, and
    // the pre-built Value by reference.
    let avro_writer = GenericDatumWriter::builder(&schema)
        .validate(false)
        .build()
        .expect("apache-avro datum writer");

    // Our encoding, and the checks that both sides really do the same work.
    let mut ours = Vec::with_capacity(body.encoded_len());
    body.encode(&mut ours);
    assert_eq!(ours.len(), body.encoded_len());
    let input = Bytes::from(ours);
    assert_eq!(
        &decode_ours::<T>(&input).expect("we decode our bytes"),
        body
    );

    let value: AvroValue = avro_reader
        .read_value(&mut &input[..])
        .expect("apache-avro decodes our bytes");
    assert!(value.validate(&schema), "decoded Value matches the schema");
    let mut theirs = Vec::new();
    avro_writer
        .write_value_ref(&mut theirs, &value)
        .expect("apache-avro encodes");
    // Maps may come out in another order (apache-avro keeps them in a HashMap), so the
    // bytes can differ, but not in length, and they must decode to the same body.
    assert_eq!(theirs.len(), input.len());
    let theirs = Bytes::from(theirs);
    assert_eq!(
        &decode_ours::<T>(&theirs).expect("we decode apache-avro's bytes"),
        body
    );

    let len = input.len();
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Bytes(len as u64));

    group.bench_function("ours_decode", |b| {
        b.iter(|| decode_ours::<T>(black_box(&input)).unwrap())
    });
    let mut out = Vec::new();
    group.bench_function("ours_encode", |b| {
        b.iter(|| {
            out.clear();
            black_box(body).encode(&mut out);
            black_box(out.len())
        })
    });
    if vectored {
        // The vectored encoding, with its check: the segments are the plain encoding.
        let mut segmented = SegmentedBuf::new();
        body.encode_segments(&mut segmented);
        assert!(segmented.has_shared());
        assert_eq!(segmented.into_segments().concat(), &input[..]);
        // Everything the transport gets: a fresh buffer for the small fields (handed over
        // as shared `Bytes`) and the list of segments, freed in the loop.
        group.bench_function("ours_encode_vectored", |b| {
            b.iter(|| {
                let mut segmented = SegmentedBuf::new();
                black_box(body).encode_segments(&mut segmented);
                segmented.into_segments()
            })
        });
    }
    group.bench_function("apache_avro_decode", |b| {
        b.iter(|| avro_reader.read_value(&mut black_box(&input[..])).unwrap())
    });
    let mut out = Vec::new();
    group.bench_function("apache_avro_encode", |b| {
        b.iter(|| {
            out.clear();
            avro_writer
                .write_value_ref(&mut out, black_box(&value))
                .unwrap();
            black_box(out.len())
        })
    });
    // Baselines: a copy of the same byte count into a warm, pre-allocated buffer, and
    // the same copy into a freshly allocated one (what a decoder that allocates its
    // output pays at least).
    let mut dst = vec![0u8; len];
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&input[..]));
            black_box(dst.as_ptr());
        })
    });
    group.bench_function("alloc_memcpy", |b| {
        b.iter(|| black_box(&input[..]).to_vec())
    });
    group.finish();
}

fn codec(c: &mut Criterion<Clock>) {
    bench_body(
        c,
        "get_data_arrays_response_8MiB_f64",
        "Energistics.Etp.v12.Protocol.DataArray.GetDataArraysResponse",
        &get_data_arrays_response(),
        false,
    );
    bench_body(
        c,
        "put_data_objects_100x20KiB",
        "Energistics.Etp.v12.Protocol.Store.PutDataObjects",
        &put_data_objects(),
        true,
    );
    bench_body(
        c,
        "get_resources_response_1000",
        "Energistics.Etp.v12.Protocol.Discovery.GetResourcesResponse",
        &get_resources_response(),
        false,
    );
}

/// Wall-clock time, or with `ETP_BENCH_CLOCK=cpu` the thread's CPU time, in nanoseconds.
struct Clock {
    cpu: bool,
}

impl Clock {
    fn from_env() -> Self {
        Clock {
            cpu: std::env::var("ETP_BENCH_CLOCK").is_ok_and(|v| v == "cpu"),
        }
    }

    fn now_ns(&self) -> u64 {
        if self.cpu {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
            let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
            assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
            ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
        } else {
            static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
            EPOCH
                .get_or_init(std::time::Instant::now)
                .elapsed()
                .as_nanos() as u64
        }
    }
}

impl Measurement for Clock {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        self.now_ns()
    }
    fn end(&self, start: u64) -> u64 {
        self.now_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, value: &u64) -> f64 {
        *value as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Both clocks count nanoseconds, which is what the wall-clock formatter prints.
        static WALL: WallTime = WallTime;
        WALL.formatter()
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(Clock::from_env()).sample_size(30);
    targets = codec
}
criterion_main!(benches);
