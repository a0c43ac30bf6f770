//! The data commands end to end: a real `etp serve` on a free port and a temporary data
//! directory, driven by the `etp` binary with `--json`.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etp_cli::npy::{ElementType, NpyReader, NpyWriter};
use etp_client::ops::{ArraySink, ArraySource, ArrayValues};
use serde_json::Value;

const EPC_UUID: &str = "5d2b7c1e-8f3a-4b6d-9e0c-1a2b3c4d5e6f";
const CRS_UUID: &str = "0b8e4d21-6c3f-4a7e-b1d2-93e4f5a6b7c8";
const FEATURE_UUID: &str = "c3a1f0e2-7b4d-4c9e-8a5f-6d2e1b0c9a87";
const INTERP_UUID: &str = "7e9d2c4b-1a3f-4e6d-9b8c-0f1e2d3c4b5a";
const GRID_UUID: &str = "f4e3d2c1-b0a9-4876-9543-210fedcba987";

/// The fixtures: file name, qualified type, uuid.
const FIXTURES: [(&str, &str, &str); 5] = [
    ("epc.xml", "eml20.obj_EpcExternalPartReference", EPC_UUID),
    ("crs.xml", "resqml20.obj_LocalDepth3dCrs", CRS_UUID),
    (
        "feature.xml",
        "resqml20.obj_GeneticBoundaryFeature",
        FEATURE_UUID,
    ),
    (
        "interpretation.xml",
        "resqml20.obj_HorizonInterpretation",
        INTERP_UUID,
    ),
    ("grid.xml", "resqml20.obj_Grid2dRepresentation", GRID_UUID),
];

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/model")
}

fn fixture(name: &str) -> PathBuf {
    data_dir().join(name)
}

fn uri(dataspace: &str, qualified_type: &str, uuid: &str) -> String {
    format!("eml:///dataspace('{dataspace}')/{qualified_type}({uuid})")
}

/// A running `etp serve`, killed on drop.
struct Server {
    child: Child,
    url: String,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `etp` with a clean environment (no `ETP_*` from the test runner).
fn etp_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_etp"));
    for (key, _) in std::env::vars() {
        if key.starts_with("ETP_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

impl Server {
    /// Starts a server on a free port; retries with another port if the first one was
    /// taken in between.
    fn start() -> Server {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let data = tempfile::tempdir().expect("temp dir");
            let mut child = etp_command()
                .args([
                    "serve",
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--data-dir",
                ])
                .arg(data.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start etp serve");
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Server {
                        child,
                        url: format!("ws://127.0.0.1:{port}/"),
                        _data: data,
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("etp serve did not start");
    }

    /// Runs `etp ARGS --json` against this server: (success, JSON stdout, stderr).
    fn run(&self, args: &[&str]) -> (bool, Value, String) {
        let out = etp_command()
            .env("ETP_URL", &self.url)
            .args(args)
            .arg("--json")
            .output()
            .expect("run etp");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let json = if stdout.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&stdout)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"))
        };
        (out.status.success(), json, stderr)
    }

    /// [`Server::run`] that must succeed.
    fn ok(&self, args: &[&str]) -> Value {
        let (ok, json, stderr) = self.run(args);
        assert!(ok, "etp {args:?} failed: {stderr}\n{json:#}");
        json
    }

    /// Creates a dataspace and puts the five fixtures into it.
    fn load_model(&self, dataspace: &str) {
        self.ok(&["dataspace", "create", dataspace]);
        let dir = data_dir();
        let put = self.ok(&[
            "put",
            "--recursive",
            dir.to_str().unwrap(),
            "--dataspace",
            dataspace,
        ]);
        assert_eq!(put["objects"].as_array().unwrap().len(), 5, "{put:#}");
    }
}

/// The error codes of a `{"errors": {key: {code, message}}}` output.
fn error_codes(json: &Value) -> Vec<(String, i64)> {
    json["errors"]
        .as_object()
        .map(|errors| {
            errors
                .iter()
                .map(|(k, e)| (k.clone(), e["code"].as_i64().unwrap_or(-1)))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn dataspaces_create_list_delete() {
    let server = Server::start();
    let created = server.ok(&[
        "dataspace",
        "create",
        "cli/a",
        "eml:///dataspace('cli/b')",
        "--custom",
        "owner=tests",
        "--custom-list",
        "legaltags=t1,t2",
    ]);
    assert_eq!(
        created["ok"],
        serde_json::json!(["eml:///dataspace('cli/a')", "eml:///dataspace('cli/b')"])
    );

    let listed = server.ok(&["dataspace", "ls"]);
    let listed = listed.as_array().unwrap();
    let paths: Vec<&str> = listed.iter().map(|d| d["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["cli/a", "cli/b"]);
    assert_eq!(listed[0]["uri"], "eml:///dataspace('cli/a')");
    let custom = serde_json::to_string(&listed[1]["customData"]).unwrap();
    assert!(
        custom.contains("tests") && custom.contains("t2"),
        "{custom}"
    );

    // Creating an existing dataspace fails for that key only.
    let (ok, json, stderr) = server.run(&["dataspace", "create", "cli/a", "cli/c"]);
    assert!(!ok);
    assert_eq!(
        error_codes(&json),
        [("eml:///dataspace('cli/a')".to_string(), 5)]
    );
    assert!(stderr.contains("cli/a"), "{stderr}");

    server.ok(&["dataspace", "rm", "cli/a", "cli/c"]);
    let listed = server.ok(&["dataspace", "ls"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let (ok, json, _) = server.run(&["dataspace", "rm", "cli/a"]);
    assert!(!ok);
    assert_eq!(
        error_codes(&json),
        [("eml:///dataspace('cli/a')".to_string(), 11)]
    );
}

#[test]
fn put_get_rm_objects() {
    let server = Server::start();
    server.ok(&["dataspace", "create", "model"]);
    let files: Vec<String> = FIXTURES
        .iter()
        .map(|(f, _, _)| fixture(f).to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["put", "-d", "model"];
    args.extend(files.iter().map(String::as_str));
    let put = server.ok(&args);
    assert_eq!(put["committed"], true);
    assert_eq!(put["dataspace"], "eml:///dataspace('model')");
    let uris: Vec<String> = FIXTURES
        .iter()
        .map(|(_, t, u)| uri("model", t, u))
        .collect();
    let put_uris: Vec<&str> = put["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["uri"].as_str().unwrap())
        .collect();
    assert_eq!(put_uris, uris);
    assert_eq!(put["objects"][4]["name"], "Top Volantis depth surface");

    // Byte-exact round trip, into a directory.
    let out = tempfile::tempdir().unwrap();
    let mut args = vec!["get", "-o", out.path().to_str().unwrap()];
    args.extend(uris.iter().map(String::as_str));
    let got = server.ok(&args);
    assert_eq!(got["objects"].as_array().unwrap().len(), 5);
    for ((file, qualified_type, uuid), uri) in FIXTURES.iter().zip(&uris) {
        let written = out.path().join(format!("{qualified_type}_{uuid}.xml"));
        assert_eq!(
            std::fs::read(&written).unwrap(),
            std::fs::read(fixture(file)).unwrap(),
            "{uri}"
        );
    }
    // One object into a file, and inline in the JSON.
    let file = out.path().join("one.xml");
    server.ok(&["get", &uris[1], "-o", file.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(fixture("crs.xml")).unwrap()
    );
    let inline = server.ok(&["get", &uris[1]]);
    assert_eq!(
        inline["objects"][0]["xml"].as_str().unwrap().as_bytes(),
        std::fs::read(fixture("crs.xml")).unwrap()
    );

    // Per-key errors: a missing object and an invalid URI, next to a success.
    let missing = uri("model", "resqml20.obj_LocalDepth3dCrs", GRID_UUID);
    let (ok, json, stderr) = server.run(&["get", &uris[0], &missing, "eml://bad"]);
    assert!(!ok);
    assert_eq!(json["objects"].as_array().unwrap().len(), 1);
    let mut codes = error_codes(&json);
    codes.sort();
    assert_eq!(codes, [(missing.clone(), 11), ("eml://bad".to_string(), 9)]);
    assert!(stderr.contains("ENOT_FOUND"), "{stderr}");

    // rm: the grid goes, a second rm finds nothing.
    let removed = server.ok(&["rm", &uris[4]]);
    assert_eq!(removed["deleted"][&uris[4]], serde_json::json!([uris[4]]));
    let (ok, json, _) = server.run(&["get", &uris[4]]);
    assert!(!ok);
    assert_eq!(error_codes(&json), [(uris[4].clone(), 11)]);
    let (ok, json, _) = server.run(&["rm", &uris[4]]);
    assert!(!ok);
    assert_eq!(error_codes(&json), [(uris[4].clone(), 11)]);
}

#[test]
fn put_is_atomic_unless_told_otherwise() {
    let server = Server::start();
    server.ok(&["dataspace", "create", "atomic"]);
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), "<notAnEnergisticsObject/>").unwrap();
    let crs = fixture("crs.xml");
    let crs_uri = uri("atomic", "resqml20.obj_LocalDepth3dCrs", CRS_UUID);

    let (ok, json, stderr) = server.run(&[
        "put",
        "-d",
        "atomic",
        crs.to_str().unwrap(),
        bad.path().to_str().unwrap(),
    ]);
    assert!(!ok, "{json:#}");
    assert_eq!(json["committed"], false);
    assert_eq!(json["errors"][0]["file"], bad.path().to_str().unwrap());
    assert!(stderr.contains("not a data object"), "{stderr}");
    let (ok, json, _) = server.run(&["get", &crs_uri]);
    assert!(!ok, "rolled back: {json:#}");

    let (ok, json, _) = server.run(&[
        "put",
        "--no-transaction",
        "-d",
        "atomic",
        crs.to_str().unwrap(),
        bad.path().to_str().unwrap(),
    ]);
    assert!(!ok);
    assert_eq!(json["committed"], Value::Null);
    assert_eq!(json["objects"].as_array().unwrap().len(), 1);
    server.ok(&["get", &crs_uri]);

    // An object the store refuses (unknown dataspace) fails its key.
    let (ok, json, _) = server.run(&["put", "-d", "nowhere", crs.to_str().unwrap()]);
    assert!(!ok, "{json:#}");
}

#[test]
fn big_objects_travel_in_chunks() {
    let server = Server::start();
    server.ok(&["dataspace", "create", "big"]);
    let crs = std::fs::read_to_string(fixture("crs.xml")).unwrap();
    let padding = "Depth reference for the Volantis horizons. ".repeat(1500);
    let big = crs.replace(
        "<eml:Format>Equinor:RESQML export</eml:Format>",
        &format!(
            "<eml:Format>Equinor:RESQML export</eml:Format>\n    <eml:Description>{padding}</eml:Description>"
        ),
    );
    assert!(big.len() > 60_000);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.xml");
    std::fs::write(&file, &big).unwrap();
    let small = ["--max-message-size", "6000"];
    let mut args = vec!["put", "-d", "big", file.to_str().unwrap()];
    args.extend(small);
    server.ok(&args);
    let out = dir.path().join("back.xml");
    let object = uri("big", "resqml20.obj_LocalDepth3dCrs", CRS_UUID);
    let mut args = vec!["get", &object, "-o", out.to_str().unwrap()];
    args.extend(small);
    server.ok(&args);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), big);
}

#[test]
fn ls_lists_dataspaces_and_walks_the_graph() {
    let server = Server::start();
    server.load_model("graph");
    let ds = "eml:///dataspace('graph')";
    let listed = server.ok(&["ls", ds]);
    assert_eq!(
        listed["resources"].as_array().unwrap().len(),
        5,
        "{listed:#}"
    );
    let typed = server.ok(&["ls", ds, "--type", "resqml20.obj_LocalDepth3dCrs"]);
    assert_eq!(typed["resources"].as_array().unwrap().len(), 1);

    let grid = uri("graph", "resqml20.obj_Grid2dRepresentation", GRID_UUID);
    let crs = uri("graph", "resqml20.obj_LocalDepth3dCrs", CRS_UUID);
    let feature = uri("graph", "resqml20.obj_GeneticBoundaryFeature", FEATURE_UUID);
    let names = |json: &Value| -> Vec<String> {
        let mut names: Vec<String> = json["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    let one = server.ok(&["ls", &grid, "--depth", "1"]);
    assert_eq!(
        names(&one),
        [
            "ST_ED50_UTM31N depth",
            "Top Volantis depth surface",
            "Top Volantis interpretation"
        ]
    );
    let two = server.ok(&["ls", &grid, "--depth", "2"]);
    assert_eq!(names(&two).len(), 4, "{two:#}");
    let edges = two["edges"].as_array().unwrap();
    assert!(
        edges
            .iter()
            .any(|e| e["sourceUri"] == grid.as_str() && e["targetUri"] == crs.as_str()),
        "{two:#}"
    );
    let sources = server.ok(&["ls", &feature, "--scope", "sources", "--depth", "2"]);
    assert_eq!(
        names(&sources),
        ["Top Volantis depth surface", "Top Volantis interpretation"]
    );

    // The text tree: indentation by distance from the grid.
    let out = etp_command()
        .env("ETP_URL", &server.url)
        .args(["ls", &grid, "--depth", "2"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], grid);
    assert!(lines[1].starts_with("Top Volantis depth surface  resqml20.obj_Grid2dRepresentation"));
    assert!(
        lines.contains(
            &format!("    Top Volantis  resqml20.obj_GeneticBoundaryFeature  {FEATURE_UUID}")
                .as_str()
        ),
        "{text}"
    );
    assert!(
        lines.contains(
            &format!("  ST_ED50_UTM31N depth  resqml20.obj_LocalDepth3dCrs  {CRS_UUID}").as_str()
        ),
        "{text}"
    );

    let (ok, _, stderr) = server.run(&["ls", "eml:///dataspace('nope')/resqml20.obj_Bad"]);
    assert!(!ok);
    assert!(stderr.contains("EINVALID_URI"), "{stderr}");
}

/// Writes `values` of `shape` to a new `.npy` file.
fn write_npy(path: &Path, element: ElementType, shape: &[u64], values: ArrayValues) {
    let mut writer = NpyWriter::create(path, element, shape, false).unwrap();
    writer.write(0, values).unwrap();
    writer.finish().unwrap();
}

/// Every value of a `.npy` file.
fn read_npy(path: &Path) -> (Vec<u64>, ArrayValues) {
    let mut reader = NpyReader::open(path).unwrap();
    let count = reader.header.element_count().unwrap() as usize;
    (reader.header.shape.clone(), reader.read(0, count).unwrap())
}

#[test]
fn arrays_round_trip_through_npy_files() {
    let server = Server::start();
    server.load_model("arrays");
    let epc = uri("arrays", "eml20.obj_EpcExternalPartReference", EPC_UUID);
    let grid = uri("arrays", "resqml20.obj_Grid2dRepresentation", GRID_UUID);
    let dir = tempfile::tempdir().unwrap();
    let path_in_hdf = format!("/RESQML/{GRID_UUID}/points_patch0");

    let z: Vec<f64> = (0..12)
        .map(|i| 1500.0 + f64::from(i) * 2.5 - 0.125)
        .collect();
    let cases = [
        (
            "z.npy",
            path_in_hdf.clone(),
            ElementType::F64,
            vec![3u64, 4],
            ArrayValues::Double(z),
        ),
        (
            "ids.npy",
            "/RESQML/ids".to_string(),
            ElementType::I32,
            vec![7],
            ArrayValues::Int(vec![i32::MIN, -7, 0, 1, 42, 65_536, i32::MAX]),
        ),
        (
            "mask.npy",
            "/RESQML/mask".to_string(),
            ElementType::Bool,
            vec![2, 3],
            ArrayValues::Boolean(vec![true, false, false, true, true, false]),
        ),
        (
            "facies.npy",
            "/RESQML/facies".to_string(),
            ElementType::I8,
            vec![5],
            ArrayValues::Bytes(vec![0, 1, 127, 128, 255]),
        ),
        (
            "names.npy",
            "/RESQML/names".to_string(),
            ElementType::Unicode(0),
            vec![3],
            ArrayValues::String(vec!["Volantis".into(), String::new(), "Ørn Fm.".into()]),
        ),
    ];
    for (name, path, element, shape, values) in &cases {
        let input = dir.path().join(name);
        write_npy(&input, *element, shape, values.clone());
        let put = server.ok(&["array", "put", input.to_str().unwrap(), &epc, path]);
        assert_eq!(put["dimensions"], serde_json::json!(shape));
        let output = dir.path().join(format!("back-{name}"));
        let got = server.ok(&["array", "get", &epc, path, "-o", output.to_str().unwrap()]);
        assert_eq!(got["metadata"]["dimensions"], serde_json::json!(shape));
        assert_eq!(
            std::fs::read(&output).unwrap(),
            std::fs::read(&input).unwrap(),
            "{name}"
        );
        assert_eq!(read_npy(&output), (shape.clone(), values.clone()));
    }

    // The grid's XML names its z values: `array ls` finds them through the HdfProxy.
    let listed = server.ok(&["array", "ls", &grid]);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["uri"], epc.as_str());
    assert_eq!(listed[0]["path"], path_in_hdf.as_str());
    assert_eq!(
        listed[0]["metadata"]["dimensions"],
        serde_json::json!([3, 4])
    );
    assert_eq!(listed[0]["metadata"]["transportArrayType"], "arrayOfDouble");
    let one = server.ok(&["array", "ls", &epc, "/RESQML/ids"]);
    assert_eq!(one[0]["metadata"]["logicalArrayType"], "arrayOfInt32LE");
    let (ok, json, _) = server.run(&["array", "ls", &epc, "/RESQML/none"]);
    assert!(!ok);
    assert_eq!(json[0]["error"]["code"], 11);

    // Raw output: the bare little-endian doubles.
    let raw = dir.path().join("z.raw");
    server.ok(&[
        "array",
        "get",
        &epc,
        &path_in_hdf,
        "-o",
        raw.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&raw).unwrap();
    assert_eq!(bytes.len(), 12 * 8);
    assert_eq!(
        f64::from_le_bytes(bytes[8..16].try_into().unwrap()),
        1502.375
    );
}

#[test]
fn arrays_bigger_than_a_message_move_in_blocks() {
    let server = Server::start();
    server.ok(&["dataspace", "create", "blocks"]);
    let epc = uri("blocks", "eml20.obj_EpcExternalPartReference", EPC_UUID);
    let dir = tempfile::tempdir().unwrap();
    // 200 x 150 doubles = 240 kB, through 6 kB messages: rows of 1.2 kB, about 4 per block.
    let values: Vec<f64> = (0..30_000).map(|i| f64::from(i) * 0.5 - 1234.25).collect();
    let input = dir.path().join("big.npy");
    write_npy(
        &input,
        ElementType::F64,
        &[200, 150],
        ArrayValues::Double(values),
    );
    let small = ["--max-message-size", "6000"];
    let mut put = vec!["array", "put", input.to_str().unwrap(), &epc, "/big"];
    put.extend(small);
    server.ok(&put);
    let output = dir.path().join("big-back.npy");
    let mut get = vec!["array", "get", &epc, "/big", "-o", output.to_str().unwrap()];
    get.extend(small);
    server.ok(&get);
    assert_eq!(
        std::fs::read(&output).unwrap(),
        std::fs::read(&input).unwrap()
    );

    // Without gzip, float blocks go from the file straight into the frames.
    for (element, values) in [
        (
            ElementType::F64,
            ArrayValues::Double((0..30_000).map(|i| f64::from(i) / 3.0).collect()),
        ),
        (
            ElementType::F32,
            ArrayValues::Float((0..30_000).map(|i| i as f32 / 7.0).collect()),
        ),
    ] {
        let input = dir.path().join(format!("{element:?}.npy"));
        write_npy(&input, element, &[200, 150], values);
        let path = format!("/plain-{element:?}");
        let mut put = vec!["array", "put", input.to_str().unwrap(), &epc, &path];
        put.extend(small);
        put.push("--no-compression");
        server.ok(&put);
        let output = dir.path().join(format!("{element:?}-back.npy"));
        let mut get = vec!["array", "get", &epc, &path, "-o", output.to_str().unwrap()];
        get.extend(small);
        server.ok(&get);
        assert_eq!(
            std::fs::read(&output).unwrap(),
            std::fs::read(&input).unwrap(),
            "{element:?}"
        );
    }

    // One row longer than a message: blocks cut inside rows.
    let wide: Vec<i64> = (0..4_000).map(|i| i * 1_000_003 - 7).collect();
    let input = dir.path().join("wide.npy");
    write_npy(
        &input,
        ElementType::I64,
        &[2, 2_000],
        ArrayValues::Long(wide),
    );
    let mut put = vec!["array", "put", input.to_str().unwrap(), &epc, "/wide"];
    put.extend(small);
    server.ok(&put);
    let output = dir.path().join("wide-back.npy");
    let mut get = vec![
        "array",
        "get",
        &epc,
        "/wide",
        "-o",
        output.to_str().unwrap(),
    ];
    get.extend(small);
    get.extend(["--max-in-flight", "2", "--no-transaction"]);
    server.ok(&get);
    assert_eq!(
        std::fs::read(&output).unwrap(),
        std::fs::read(&input).unwrap()
    );
}
