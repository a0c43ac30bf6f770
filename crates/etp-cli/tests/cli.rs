//! `etp` command-line behaviour: help text and settings precedence.

use std::net::SocketAddr;
use std::process::Command;

use etp_cli::cli::{ServerOverrides, default_values, parse_config_file};
use etp_cli::resolve_config;
use etp_server::ServerConfig;

fn etp() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_etp"));
    // Keep the environment of the test runner from leaking into the settings.
    for (key, _) in std::env::vars() {
        if key.starts_with("ETP_") {
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

#[test]
fn serve_help_documents_every_setting_with_default_and_env() {
    let (ok, help, err) = run(etp().args(["serve", "--help"]));
    assert!(ok, "{err}");
    // Help is wrapped to the terminal width; compare with whitespace collapsed.
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let defaults = default_values();
    assert!(defaults.len() >= 18, "{defaults:?}");
    // Every ServerConfig field (taken from its serialization, so new fields are caught).
    for (field, default) in &defaults {
        let flag = format!("--{}", field.replace('_', "-"));
        let env = format!("ETP_{}", field.to_ascii_uppercase());
        assert!(help.contains(&flag), "missing {flag} in:\n{help}");
        assert!(help.contains(&env), "missing {env} in:\n{help}");
        assert!(
            help.contains(&format!("[default: {default}]")),
            "missing default of {field} in:\n{help}"
        );
    }
    assert!(help.contains("--config"));
    assert!(help.contains("[default: 0.0.0.0:9002]"), "{help}");
}

#[test]
fn top_level_help_lists_commands() {
    let (ok, help, _) = run(etp().arg("--help"));
    assert!(ok);
    for sub in ["serve", "ping", "info"] {
        assert!(help.contains(sub), "{help}");
    }
    let (ok, help, _) = run(etp().args(["ping", "--help"]));
    assert!(ok);
    for flag in [
        "--count",
        "--interval",
        "--timeout",
        "--token",
        "--data-partition-id",
        "--no-compression",
        "--max-message-size",
    ] {
        assert!(help.contains(flag), "missing {flag}:\n{help}");
    }
    let (ok, help, _) = run(etp().args(["info", "--help"]));
    assert!(ok);
    assert!(help.contains("--json"));
}

#[test]
fn resolve_config_precedence() {
    let file = parse_config_file(
        r#"
        listen = "127.0.0.1:7000"
        max_message_size = 100000
        path_prefix = "/api/etp"
        "#,
    )
    .unwrap();
    assert_eq!(file.data_dir, ServerConfig::default().data_dir);
    let overrides = ServerOverrides {
        max_message_size: Some(200_000),
        compression_level: Some(6),
        ..Default::default()
    };
    let config = resolve_config(Some(file), &overrides);
    assert_eq!(
        config.listen,
        "127.0.0.1:7000".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(config.path_prefix, "/api/etp");
    assert_eq!(config.max_message_size, 200_000);
    assert_eq!(config.compression_level, 6);
    assert_eq!(
        config.idle_timeout_secs,
        ServerConfig::default().idle_timeout_secs
    );
    assert_eq!(
        resolve_config(None, &ServerOverrides::default()),
        ServerConfig::default()
    );
}

#[test]
fn config_file_rejects_unknown_keys() {
    let err = parse_config_file("listen = \"127.0.0.1:1\"\nlisten_port = 3\n").unwrap_err();
    assert!(format!("{err:#}").contains("listen_port"), "{err:#}");
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let dir = std::env::temp_dir().join(format!("etp-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("etp.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:7000\"\nmax_message_size = 100000\nmax_sessions = 7\nidle_timeout_secs = 99\n",
    )
    .unwrap();
    let (ok, out, err) = run(etp()
        .args(["serve", "--print-config", "--config"])
        .arg(&file)
        .args(["--max-message-size", "300000"])
        .env("ETP_MAX_MESSAGE_SIZE", "200000")
        .env("ETP_MAX_SESSIONS", "8")
        .env("ETP_DATA_DIR", "/tmp/etp-env-dir"));
    assert!(ok, "{err}");
    let printed: ServerConfig = toml::from_str(&out).unwrap();
    assert_eq!(printed.max_message_size, 300_000, "flag beats env and file");
    assert_eq!(printed.max_sessions, 8, "env beats file");
    assert_eq!(
        printed.data_dir,
        std::path::PathBuf::from("/tmp/etp-env-dir"),
        "env beats default"
    );
    assert_eq!(printed.idle_timeout_secs, 99, "file beats default");
    assert_eq!(
        printed.listen,
        "127.0.0.1:7000".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(
        printed.max_frame_size,
        ServerConfig::default().max_frame_size
    );

    // ETP_CONFIG names the file too.
    let (ok, out, err) = run(etp()
        .args(["serve", "--print-config"])
        .env("ETP_CONFIG", &file));
    assert!(ok, "{err}");
    let printed: ServerConfig = toml::from_str(&out).unwrap();
    assert_eq!(printed.max_sessions, 7);

    // Unknown keys and bad values are reported, not ignored.
    std::fs::write(&file, "bogus = 1\n").unwrap();
    let (ok, _, err) = run(etp()
        .args(["serve", "--print-config", "--config"])
        .arg(&file));
    assert!(!ok);
    assert!(err.contains("bogus"), "{err}");
    let (ok, _, err) = run(etp().args(["serve", "--print-config", "--max-sessions", "many"]));
    assert!(!ok);
    assert!(err.contains("--max-sessions"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ping_reports_unreachable_server() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    drop(listener);
    let (ok, _, err) = run(etp().args(["ping", "-c", "1", "--connect-timeout", "2", &url]));
    assert!(!ok);
    assert!(err.contains("cannot"), "{err}");
}

#[test]
fn cache_size_comes_from_file_env_or_flag_and_zero_means_the_machines() {
    let (ok, out, err) = run(etp().args(["serve", "--print-config"]));
    assert!(ok, "{err}");
    let printed: ServerConfig = toml::from_str(&out).unwrap();
    assert_eq!(printed.cache_bytes, 256 << 20);

    let zero = parse_config_file("cache_bytes = 0\n").unwrap();
    assert_eq!(zero.store_cache_bytes(), etp_store::machine_cache_bytes());

    let file = parse_config_file("cache_bytes = 1073741824\n").unwrap();
    assert_eq!(file.cache_bytes, 1 << 30);
    assert_eq!(file.store_cache_bytes(), 1 << 30);

    let (ok, out, err) = run(etp()
        .args(["serve", "--print-config"])
        .env("ETP_CACHE_BYTES", "5000000"));
    assert!(ok, "{err}");
    let printed: ServerConfig = toml::from_str(&out).unwrap();
    assert_eq!(printed.cache_bytes, 5_000_000);

    let (ok, out, err) = run(etp()
        .args(["serve", "--print-config", "--cache-bytes", "7000000"])
        .env("ETP_CACHE_BYTES", "5000000"));
    assert!(ok, "{err}");
    let printed: ServerConfig = toml::from_str(&out).unwrap();
    assert_eq!(printed.cache_bytes, 7_000_000, "flag beats env");

    let (ok, _, err) = run(etp().args(["serve", "--print-config", "--cache-bytes", "lots"]));
    assert!(!ok);
    assert!(err.contains("--cache-bytes"), "{err}");
}
