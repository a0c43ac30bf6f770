//! Crash test: a client writes objects and arrays in transactions in a loop while the
//! server (`etp serve`, the real binary) is killed with SIGKILL at random moments, ten
//! times. After each restart:
//!
//! * every transaction whose CommitTransaction was acknowledged is complete (object and
//!   array, with the right content);
//! * nothing of a transaction whose commit was never sent is visible;
//! * a transaction whose commit was sent but not acknowledged (the kill came in between)
//!   is all or nothing.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etp_client::{Client, ClientConfig};
use etp_protocol::codec::Map;
use etp_protocol::message::Role;
use etp_protocol::types::datatypes::data_array_types::{
    DataArray, DataArrayIdentifier, DataArrayMetadata, PutDataArraysType,
    PutUninitializedDataArrayType,
};
use etp_protocol::types::datatypes::object::{DataObject, Dataspace, Resource};
use etp_protocol::types::datatypes::{
    AnyArray, AnyArrayItem, AnyArrayType, AnyLogicalArrayType, ArrayOfDouble,
};
use etp_protocol::types::protocol::data_array::{
    GetDataArrays, GetDataArraysResponse, PutDataArrays, PutDataArraysResponse,
    PutUninitializedDataArrays, PutUninitializedDataArraysResponse,
};
use etp_protocol::types::protocol::dataspace::{PutDataspaces, PutDataspacesResponse};
use etp_protocol::types::protocol::store::{
    GetDataObjects, GetDataObjectsResponse, PutDataObjects, PutDataObjectsResponse,
};
use etp_protocol::types::protocol::transaction::{
    CommitTransaction, CommitTransactionResponse, StartTransaction, StartTransactionResponse,
};

const DATASPACE: &str = "eml:///dataspace('crash')";
const KILLS: usize = 10;
const ARRAY_LEN: usize = 20_000;

/// What the writer knows about transaction `i` when the server dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// CommitTransaction answered `successful = true`.
    Acknowledged,
    /// CommitTransaction sent, no answer: may or may not have been applied.
    InDoubt,
    /// Died before CommitTransaction was sent: must not be visible.
    NotCommitted,
}

fn uuid_of(i: u64) -> String {
    format!("00000000-0000-4000-8000-{i:012x}")
}

fn object_uri(i: u64) -> String {
    format!(
        "{DATASPACE}/eml20.obj_EpcExternalPartReference({})",
        uuid_of(i)
    )
}

fn object_xml(i: u64) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<eml:EpcExternalPartReference xmlns:eml="http://www.energistics.org/energyml/data/commonv2" schemaVersion="2.0" uuid="{}">
  <eml:Citation><eml:Title>txn {i}</eml:Title><eml:Originator>crash test</eml:Originator><eml:Creation>2026-01-01T00:00:00Z</eml:Creation><eml:Format>etp</eml:Format></eml:Citation>
  <eml:MimeType>application/x-hdf5</eml:MimeType>
</eml:EpcExternalPartReference>"#,
        uuid_of(i)
    )
}

fn array_values(i: u64) -> Vec<f64> {
    (0..ARRAY_LEN).map(|k| i as f64 * 1e6 + k as f64).collect()
}

fn uid(i: u64) -> DataArrayIdentifier {
    DataArrayIdentifier {
        uri: object_uri(i).into(),
        path_in_resource: format!("/RESQML/{}/values", uuid_of(i)).into(),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Small deterministic PRNG (xorshift64*) so a failing run can be replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

struct ServerProcess {
    child: Child,
}

impl ServerProcess {
    fn start(data_dir: &Path, port: u16) -> ServerProcess {
        let child = Command::new(env!("CARGO_BIN_EXE_etp"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start etp serve");
        ServerProcess { child }
    }

    fn kill(mut self) {
        // `Child::kill` is SIGKILL on Unix: no shutdown code runs.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client_config(port: u16) -> ClientConfig {
    let mut config = ClientConfig::new(format!("ws://127.0.0.1:{port}/"));
    config.requested_protocols = vec![
        (4, Role::Store),
        (9, Role::Store),
        (18, Role::Store),
        (24, Role::Store),
    ];
    config.connect_timeout = Duration::from_secs(5);
    config.request_timeout = Duration::from_secs(20);
    config
}

async fn connect(port: u16) -> Client {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Client::connect(client_config(port)).await {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("server did not come up: {e}"),
        }
    }
}

/// One transaction: an object and its array. Records the outcome as it goes.
async fn write_one(
    client: &Client,
    i: u64,
    outcomes: &Mutex<Vec<(u64, Outcome)>>,
) -> Result<(), String> {
    let set = |o: Outcome| {
        let mut all = outcomes.lock().expect("outcomes lock");
        match all.iter_mut().find(|(n, _)| *n == i) {
            Some(entry) => entry.1 = o,
            None => all.push((i, o)),
        }
    };
    set(Outcome::NotCommitted);
    let e = |e: etp_client::ClientError| e.to_string();
    let started: StartTransactionResponse = client
        .request_one(StartTransaction {
            read_only: false,
            message: format!("crash test {i}").into(),
            dataspace_uris: vec![DATASPACE.into()].into(),
        })
        .await
        .map_err(e)?;
    assert!(started.successful, "{}", started.failure_reason);

    let mut objects = Map::new();
    objects.insert(
        "o".into(),
        DataObject {
            resource: Resource {
                uri: object_uri(i).into(),
                name: format!("txn {i}").into(),
                ..Default::default()
            },
            format: "xml".into(),
            blob_id: None,
            data: object_xml(i).into_bytes().into(),
        },
    );
    let _: PutDataObjectsResponse = client
        .request_one(PutDataObjects {
            data_objects: objects,
            prune_contained_objects: false,
        })
        .await
        .map_err(e)?;

    let mut uninit = Map::new();
    uninit.insert(
        "a".into(),
        PutUninitializedDataArrayType {
            uid: uid(i),
            metadata: DataArrayMetadata {
                dimensions: vec![ARRAY_LEN as i64],
                transport_array_type: AnyArrayType::ArrayOfDouble,
                logical_array_type: AnyLogicalArrayType::ArrayOfDouble64LE,
                ..Default::default()
            },
        },
    );
    let _: PutUninitializedDataArraysResponse = client
        .request_one(PutUninitializedDataArrays {
            data_arrays: uninit,
        })
        .await
        .map_err(e)?;
    let mut arrays = Map::new();
    arrays.insert(
        "a".into(),
        PutDataArraysType {
            uid: uid(i),
            array: DataArray {
                dimensions: vec![ARRAY_LEN as i64],
                data: AnyArray {
                    item: AnyArrayItem::ArrayOfDouble(ArrayOfDouble {
                        values: array_values(i),
                    }),
                },
            },
            custom_data: Map::new(),
        },
    );
    let _: PutDataArraysResponse = client
        .request_one(PutDataArrays {
            data_arrays: arrays,
        })
        .await
        .map_err(e)?;

    set(Outcome::InDoubt);
    let committed: CommitTransactionResponse = client
        .request_one(CommitTransaction {
            transaction_uuid: started.transaction_uuid,
        })
        .await
        .map_err(e)?;
    assert!(committed.successful, "{}", committed.failure_reason);
    set(Outcome::Acknowledged);
    Ok(())
}

/// Whether transaction `i` is visible: (object present, array present and exact).
async fn visible(client: &Client, i: u64) -> (bool, bool) {
    let mut uris = Map::new();
    uris.insert("o".into(), object_uri(i).into());
    let object = match client
        .request(GetDataObjects {
            uris,
            format: "xml".into(),
        })
        .await
    {
        Ok(response) => {
            let has_errors = response.has_errors();
            let bodies: Vec<GetDataObjectsResponse> = response
                .into_bodies()
                .into_iter()
                .filter_map(|b| b.try_into().ok())
                .collect();
            let found = bodies.iter().any(|b| {
                b.data_objects
                    .get("o")
                    .is_some_and(|o| o.data.as_ref() == object_xml(i).as_bytes())
            });
            assert!(
                !(found && has_errors),
                "object {i}: answer and error at once"
            );
            found
        }
        Err(e) => panic!("GetDataObjects {i}: {e}"),
    };
    let mut ids = Map::new();
    ids.insert("a".into(), uid(i));
    let array = match client.request(GetDataArrays { data_arrays: ids }).await {
        Ok(response) => response
            .into_bodies()
            .into_iter()
            .filter_map(|b| GetDataArraysResponse::try_from(b).ok())
            .any(|r| {
                r.data_arrays.get("a").is_some_and(|a| {
                    matches!(&a.data.item, AnyArrayItem::ArrayOfDouble(d) if d.values == array_values(i))
                })
            }),
        Err(e) => panic!("GetDataArrays {i}: {e}"),
    };
    (object, array)
}

fn temp_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!("etp-crash-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_commits_survive_sigkill_and_nothing_else_is_half_visible() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let dir = temp_dir();
    let port = free_port();
    let outcomes = Arc::new(Mutex::new(Vec::<(u64, Outcome)>::new()));

    let server = ServerProcess::start(&dir, port);
    let client = connect(port).await;
    let mut spaces = Map::new();
    spaces.insert(
        "d".into(),
        Dataspace {
            uri: DATASPACE.into(),
            ..Default::default()
        },
    );
    let _: PutDataspacesResponse = client
        .request_one(PutDataspaces { dataspaces: spaces })
        .await
        .expect("create dataspace");
    drop(client);
    let mut server = Some(server);
    let mut next: u64 = 1;

    for round in 0..KILLS {
        let running = server
            .take()
            .unwrap_or_else(|| ServerProcess::start(&dir, port));
        let client = connect(port).await;
        let writer = {
            let outcomes = outcomes.clone();
            let start = next;
            tokio::spawn(async move {
                let mut i = start;
                while write_one(&client, i, &outcomes).await.is_ok() {
                    i += 1;
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(rng.between(300, 1500))).await;
        running.kill();
        // The writer stops at its first failed request (connection gone).
        let _ = tokio::time::timeout(Duration::from_secs(30), writer).await;
        next = outcomes
            .lock()
            .expect("outcomes lock")
            .iter()
            .map(|(i, _)| *i)
            .max()
            .unwrap_or(0)
            + 1;

        let restarted = ServerProcess::start(&dir, port);
        let checker = connect(port).await;
        let snapshot = outcomes.lock().expect("outcomes lock").clone();
        let mut acknowledged = 0;
        for (i, outcome) in snapshot {
            let (object, array) = visible(&checker, i).await;
            match outcome {
                Outcome::Acknowledged => {
                    acknowledged += 1;
                    assert!(
                        object && array,
                        "round {round}: acknowledged txn {i} lost (object {object}, array {array}); seed {seed}"
                    );
                }
                Outcome::NotCommitted => assert!(
                    !object && !array,
                    "round {round}: uncommitted txn {i} visible (object {object}, array {array}); seed {seed}"
                ),
                Outcome::InDoubt => assert_eq!(
                    object, array,
                    "round {round}: in-doubt txn {i} half applied; seed {seed}"
                ),
            }
        }
        eprintln!("round {round}: {acknowledged} acknowledged transactions verified");
        drop(checker);
        server = Some(restarted);
    }
    let acknowledged = outcomes
        .lock()
        .expect("outcomes lock")
        .iter()
        .filter(|(_, o)| *o == Outcome::Acknowledged)
        .count();
    assert!(
        acknowledged >= KILLS,
        "the writer made too little progress to mean anything: {acknowledged}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
