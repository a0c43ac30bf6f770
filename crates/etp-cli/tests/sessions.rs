//! `etp sessions` against the real `etp serve`: a session opened by `etp ping` is listed
//! after the server restarted, as JSON and as a table, and the server's log lines carry
//! the session span.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a server may take to start or stop before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

fn etp() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_etp"));
    // Keep the environment of the test runner from leaking into the settings.
    for (key, _) in std::env::vars() {
        if key.starts_with("ETP_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("run etp");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A free loopback port (the usual race with other processes is acceptable in a test).
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// `etp serve` on `addr` and `data_dir`, logging to `log`; stopped with SIGTERM (and
/// killed if it does not stop) when dropped.
struct Serve {
    child: Child,
}

impl Serve {
    fn start(addr: SocketAddr, data_dir: &Path, log: &Path) -> Serve {
        let log = std::fs::File::create(log).expect("log file");
        let child = etp()
            .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
            .arg(data_dir)
            // Plain log text, so the test can read the span fields.
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start etp serve");
        let serve = Serve { child };
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(started.elapsed() < PATIENCE, "etp serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        serve
    }

    /// Graceful stop: SIGTERM, then wait for the exit.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let signalled = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(signalled.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for etp serve") {
                assert!(status.success(), "etp serve exited with {status}");
                return;
            }
            assert!(started.elapsed() < PATIENCE, "etp serve did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("etp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn sessions_survive_a_restart_and_are_listed_as_json_and_table() {
    let tmp = TempDir::new("sessions-test");
    let data = tmp.0.join("data");
    let addr = free_port();
    let url = format!("ws://{addr}/");

    let server = Serve::start(addr, &data, &tmp.0.join("first.log"));
    let (ok, out, err) = run(etp().args(["ping", "-c", "1", &url]));
    assert!(ok, "ping failed: {out}\n{err}");
    server.stop();

    let server = Serve::start(addr, &data, &tmp.0.join("second.log"));
    let (ok, out, err) = run(etp().args(["sessions", "--json", &url]));
    assert!(ok, "{err}");
    let sessions: serde_json::Value = serde_json::from_str(&out).expect("JSON output");
    let sessions = sessions.as_array().expect("a list");
    assert_eq!(sessions.len(), 1, "{out}");
    let session = &sessions[0];
    assert_eq!(session["client_application"], "etp-cli");
    assert_eq!(session["state"], "closed");
    assert!(
        session["close_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("client closed the session")),
        "{session}"
    );
    assert!(session["messages_in"].as_u64().unwrap() >= 2, "{session}");
    assert!(session["closed_micros"].as_i64().is_some());
    let id = session["id"].as_str().unwrap().to_owned();

    // The HTTP base works too, and the table names the session.
    let (ok, table, err) = run(etp().args(["sessions", &format!("http://{addr}")]));
    assert!(ok, "{err}");
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(lines[0].starts_with("ID"), "{table}");
    for expected in [
        id.as_str(),
        "etp-cli",
        "127.0.0.1:",
        "client closed the session",
    ] {
        assert!(lines[1].contains(expected), "{expected} missing in {table}");
    }
    server.stop();

    // The first server's log lines about the session carry its span.
    let log = std::fs::read_to_string(tmp.0.join("first.log")).unwrap();
    let opened = log
        .lines()
        .find(|l| l.contains("session opened"))
        .unwrap_or_else(|| panic!("no 'session opened' line in:\n{log}"));
    assert!(
        opened.contains(&format!("session{{id={id} peer=127.0.0.1:")),
        "{opened}"
    );
}

#[test]
fn sessions_reports_unreachable_and_unsupported_urls() {
    let addr = free_port();
    let (ok, _, err) = run(etp().args(["sessions", &format!("http://{addr}/")]));
    assert!(!ok);
    assert!(err.contains("cannot connect"), "{err}");
    let (ok, _, err) = run(etp().args(["sessions", "wss://example.invalid/"]));
    assert!(!ok);
    assert!(err.contains("TLS"), "{err}");
}
