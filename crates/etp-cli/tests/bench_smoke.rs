//! `etp bench` smoke run: the handler-independent figures at `--quick` sizes, one run,
//! checked for the JSON layout other tools read. Not a measurement (debug build).

use std::process::Command;

use serde_json::Value;

#[test]
fn quick_bench_writes_the_documented_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json_path = dir.path().join("bench.json");
    let output = Command::new(env!("CARGO_BIN_EXE_etp"))
        .args(["bench", "--quick", "--only", "ping,session", "--runs", "1"])
        .args(["--duration", "0.2", "--json"])
        .arg(&json_path)
        .env_remove("ETP_TOKEN")
        .output()
        .expect("run etp bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Ping/Pong latency p50"), "{stdout}");
    assert!(stdout.contains("ratio"), "{stdout}");

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json written"))
            .expect("valid JSON");
    assert_eq!(report["version"], 1);
    assert_eq!(report["server"], "in-process");
    assert!(report["machine"]["cpus"].as_u64().unwrap() >= 1);
    assert_eq!(report["settings"]["quick"], true);
    assert_eq!(report["settings"]["runs"], 1);
    assert_eq!(
        report["settings"]["families"],
        serde_json::json!(["session", "ping"])
    );
    assert_eq!(report["failed"], serde_json::json!([]));

    let figures = report["figures"].as_array().expect("figures");
    let ids: Vec<&str> = figures.iter().filter_map(|f| f["id"].as_str()).collect();
    for id in [
        "session.open_close",
        "ping.latency_p50",
        "ping.latency_p99",
        "ping.throughput_1_sessions",
        "ping.throughput_16_sessions",
        "ping.throughput_64_sessions",
        "ping.throughput_pipelined",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    for f in figures {
        let id = f["id"].as_str().unwrap_or_default();
        for key in ["median", "min", "max"] {
            let v = f[key].as_f64().unwrap_or(f64::NAN);
            assert!(v.is_finite() && v > 0.0, "{id}.{key} = {v}");
        }
        assert_eq!(f["runs"].as_array().map(Vec::len), Some(1), "{id}");
        assert!(
            matches!(f["better"].as_str(), Some("higher" | "lower")),
            "{id}"
        );
        assert!(f["unit"].as_str().is_some_and(|u| !u.is_empty()), "{id}");
        // Every figure of these families has a same-run baseline and a ratio.
        assert!(
            f["baseline"]["median"].as_f64().unwrap_or(0.0) > 0.0,
            "{id}"
        );
        assert!(f["baseline"]["name"].as_str().is_some(), "{id}");
        assert!(f["ratio"]["median"].as_f64().unwrap_or(0.0) > 0.0, "{id}");
    }
    let target = figures
        .iter()
        .find(|f| f["id"] == "ping.throughput_64_sessions")
        .and_then(|f| f["target"].as_object())
        .expect("the 64-session figure carries the issue's target");
    assert_eq!(target["text"], "ratio ≥ 0.70");
    assert!(target["met"].is_boolean());
}

#[test]
fn unknown_family_is_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_etp"))
        .args(["bench", "--only", "nonsense"])
        .output()
        .expect("run etp bench");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("nonsense"));
}

#[test]
fn tiny_memory_and_object_figures_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json_path = dir.path().join("bench.json");
    let output = Command::new(env!("CARGO_BIN_EXE_etp"))
        .args(["bench", "--only", "memory,objects", "--runs", "1"])
        .args(["--idle-sessions", "20", "--objects", "20", "--json"])
        .arg(&json_path)
        .env_remove("ETP_TOKEN")
        .output()
        .expect("run etp bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).expect("json written"))
            .expect("valid JSON");
    let figure = |id: &str| {
        report["figures"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["id"] == id))
            .unwrap_or_else(|| panic!("{id} missing: {report}"))
            .clone()
    };
    // The server ran in a child process and kept every session.
    assert_eq!(figure("memory.sessions_held_20")["median"], 20.0);
    let per_session = figure("memory.rss_per_session_20");
    assert!(per_session["median"].as_f64().unwrap() >= 0.0);
    assert_eq!(per_session["target"]["text"], "≤ 64.0 KiB");
    // Objects went through the server and the raw store baseline.
    for id in [
        "objects.put_batch_1",
        "objects.get_batch_1",
        "objects.put_batch_100",
        "objects.get_batch_100",
    ] {
        let f = figure(id);
        assert!(f["median"].as_f64().unwrap() > 0.0, "{id}");
        assert!(f["baseline"]["median"].as_f64().unwrap() > 0.0, "{id}");
        assert_eq!(f["target"]["text"], "ratio ≥ 0.50", "{id}");
    }
}
