//! `etp sessions`: the live and past sessions of a server (`GET /sessions?all=true`), as a
//! table or as the server's JSON.
//!
//! The HTTP request is a minimal HTTP/1.1 GET over a plain TCP connection, enough for the
//! server's own HTTP side and for plain proxies; `https://`/`wss://` are refused with a
//! clear message (the server itself has no TLS; a TLS proxy in front of it can be queried
//! with curl).

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::info::format_micros;
use crate::cli::{SessionsArgs, seconds};

/// Largest response accepted (10 000 sessions at about 600 bytes of JSON each fit).
const MAX_RESPONSE: u64 = 16 * 1024 * 1024;

/// Fetches the list and prints it.
pub async fn run(args: SessionsArgs) -> anyhow::Result<ExitCode> {
    let target = SessionsUrl::parse(&args.url, args.limit)?;
    let timeout = seconds(args.timeout, "--timeout")?;
    let body = tokio::time::timeout(timeout, get(&target))
        .await
        .map_err(|_| anyhow::anyhow!("no answer from {} within {timeout:?}", target.url()))??;
    let sessions: Value = serde_json::from_slice(&body)
        .with_context(|| format!("{} did not answer with JSON", target.url()))?;
    let Some(list) = sessions.as_array() else {
        bail!("{} did not answer with a list of sessions", target.url());
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&sessions)?);
    } else {
        print!("{}", sessions_table(list));
    }
    Ok(ExitCode::SUCCESS)
}

/// Where to ask: host, port and the request path of `/sessions?all=true&limit=N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionsUrl {
    /// Host as written in the URL (IPv6 without brackets).
    pub host: String,
    /// TCP port (80 when not given).
    pub port: u16,
    /// `host[:port]` for the `Host` header.
    pub authority: String,
    /// Path and query of the request.
    pub path: String,
}

impl SessionsUrl {
    /// Accepts the ETP endpoint (`ws://host:port/prefix`) or the HTTP base
    /// (`http://host:port/prefix`, with or without a trailing `/sessions`); the sessions
    /// list lives under the same path prefix as the ETP endpoint.
    pub fn parse(input: &str, limit: usize) -> anyhow::Result<SessionsUrl> {
        let (scheme, rest) = input
            .split_once("://")
            .with_context(|| format!("{input:?} is not a URL (expected ws:// or http://)"))?;
        match scheme.to_ascii_lowercase().as_str() {
            "ws" | "http" => {}
            "wss" | "https" => bail!(
                "{input}: TLS is not supported by `etp sessions`; query the server's own \
                 plain HTTP address, or fetch /sessions?all=true with curl"
            ),
            other => bail!("{input}: unsupported scheme {other:?} (expected ws or http)"),
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let path = rest[end..].split(['?', '#']).next().unwrap_or("");
        if authority.is_empty() || authority.contains('@') {
            bail!("{input}: expected a host (without credentials)");
        }
        let (host, port) = split_host_port(authority)
            .with_context(|| format!("{input}: invalid host or port {authority:?}"))?;
        let base = path.trim_end_matches('/');
        let base = base.strip_suffix("/sessions").unwrap_or(base);
        Ok(SessionsUrl {
            host,
            port,
            authority: authority.to_owned(),
            path: format!("{base}/sessions?all=true&limit={limit}"),
        })
    }

    /// The URL being fetched, for messages.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.authority, self.path)
    }
}

fn split_host_port(authority: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 80,
    };
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

/// GETs the list; anything but 200 is an error carrying the server's text.
async fn get(target: &SessionsUrl) -> anyhow::Result<Vec<u8>> {
    let mut stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .with_context(|| format!("cannot connect to {}", target.authority))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        target.path, target.authority
    );
    stream
        .write_all(request.as_bytes())
        .await
        .with_context(|| format!("cannot send the request to {}", target.authority))?;
    let mut response = Vec::new();
    (&mut stream)
        .take(MAX_RESPONSE + 1)
        .read_to_end(&mut response)
        .await
        .with_context(|| format!("cannot read the answer of {}", target.authority))?;
    if response.len() as u64 > MAX_RESPONSE {
        bail!(
            "the answer of {} exceeds {MAX_RESPONSE} bytes",
            target.url()
        );
    }
    let (status, body) = parse_response(&response)
        .with_context(|| format!("{} did not answer with HTTP", target.url()))?;
    if status != 200 {
        bail!(
            "{} answered HTTP {status}: {}",
            target.url(),
            String::from_utf8_lossy(&body).trim()
        );
    }
    Ok(body)
}

/// Status code and body of a complete `Connection: close` HTTP/1.x response (chunked or
/// not).
pub fn parse_response(response: &[u8]) -> Option<(u16, Vec<u8>)> {
    let head_end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&response[..head_end]).ok()?;
    let body = &response[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().ok()?);
        }
    }
    let body = if chunked {
        dechunk(body)?
    } else {
        match length {
            Some(n) => body.get(..n)?.to_vec(),
            None => body.to_vec(),
        }
    };
    Some((status, body))
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// The sessions as an aligned table, one line each, newest first as the server sent them.
pub fn sessions_table(sessions: &[Value]) -> String {
    if sessions.is_empty() {
        return "No sessions.\n".to_owned();
    }
    let header = [
        "ID",
        "APPLICATION",
        "PEER",
        "PROTOCOLS",
        "OPENED (UTC)",
        "CLOSED (UTC)",
        "REASON",
        "MSGS IN/OUT",
        "BYTES IN/OUT",
    ];
    let rows: Vec<[String; 9]> = sessions.iter().map(session_row).collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

fn session_row(s: &Value) -> [String; 9] {
    let text = |key: &str| s[key].as_str().unwrap_or("").to_owned();
    let number = |key: &str| s[key].as_u64().unwrap_or(0);
    let application = format!("{} {}", text("client_application"), text("client_version"));
    let protocols = s["protocols"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(Value::as_i64)
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let closed = match s["closed_micros"].as_i64() {
        Some(micros) => short_time(micros),
        // Still live, or never recorded its end: the state says which.
        None => text("state"),
    };
    [
        text("id"),
        application.trim().to_owned(),
        text("peer"),
        protocols,
        s["connected_micros"]
            .as_i64()
            .map(short_time)
            .unwrap_or_default(),
        closed,
        text("close_reason"),
        format!("{}/{}", number("messages_in"), number("messages_out")),
        format!("{}/{}", number("bytes_in"), number("bytes_out")),
    ]
}

/// `YYYY-MM-DD HH:MM:SS` (UTC).
fn short_time(micros: i64) -> String {
    let full = format_micros(micros);
    full.get(..19).unwrap_or(&full).replacen('T', " ", 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_map_to_the_sessions_path_under_the_prefix() {
        let u = SessionsUrl::parse("ws://127.0.0.1:9002/", 100).unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 9002, "/sessions?all=true&limit=100")
        );
        let u = SessionsUrl::parse("http://etp.example.com/api/etp/sessions", 5).unwrap();
        assert_eq!(
            (u.port, u.path.as_str()),
            (80, "/api/etp/sessions?all=true&limit=5")
        );
        let u = SessionsUrl::parse("ws://[::1]:9100/api/etp?x=1", 1).unwrap();
        assert_eq!(
            (
                u.host.as_str(),
                u.port,
                u.authority.as_str(),
                u.path.as_str()
            ),
            (
                "::1",
                9100,
                "[::1]:9100",
                "/api/etp/sessions?all=true&limit=1"
            )
        );
        for bad in [
            "localhost:9002",
            "wss://x/",
            "https://x/",
            "ftp://x/",
            "ws:///x",
            "ws://h:port/",
            "ws://u:p@h/",
        ] {
            assert!(SessionsUrl::parse(bad, 1).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_plain_and_chunked_responses() {
        let plain = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n[]";
        assert_eq!(parse_response(plain), Some((200, b"[]".to_vec())));
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked), Some((200, b"[1,2]".to_vec())));
        let error = b"HTTP/1.1 400 Bad Request\r\n\r\nlimit must be...\n";
        assert_eq!(parse_response(error).unwrap().0, 400);
        assert_eq!(parse_response(b"garbage"), None);
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n[]"),
            None
        );
    }

    #[test]
    fn table_shows_one_aligned_line_per_session() {
        let sessions = vec![
            json!({
                "id": "0b7c0f3e-0000-4000-8000-000000000001", "peer": "127.0.0.1:5000",
                "client_application": "pyetp", "client_version": "0.0.58",
                "protocols": [3, 4, 24], "state": "open", "close_reason": null,
                "connected_micros": 1_700_000_000_000_000_i64, "closed_micros": null,
                "messages_in": 12, "messages_out": 13, "bytes_in": 1200, "bytes_out": 45000
            }),
            json!({
                "id": "0b7c0f3e-0000-4000-8000-000000000002", "peer": "10.0.0.7:41000",
                "client_application": "etp-cli", "client_version": "0.1.0",
                "protocols": [24], "state": "closed",
                "close_reason": "client closed the session: done",
                "connected_micros": 1_699_999_000_000_000_i64,
                "closed_micros": 1_699_999_001_000_000_i64,
                "messages_in": 3, "messages_out": 2, "bytes_in": 500, "bytes_out": 700
            }),
        ];
        let table = sessions_table(&sessions);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("ID"));
        assert!(lines[1].contains("pyetp 0.0.58") && lines[1].contains("3,4,24"));
        assert!(lines[1].contains("2023-11-14 22:13:20") && lines[1].contains("open"));
        assert!(lines[1].contains("12/13") && lines[1].contains("1200/45000"));
        assert!(lines[2].contains("client closed the session: done"));
        assert!(lines[2].contains("2023-11-14 21:56:41"));
        // Columns line up: every PEER cell starts at the same offset.
        let at = lines[0].find("PEER").unwrap();
        assert_eq!(lines[1].find("127.0.0.1").unwrap(), at);
        assert_eq!(lines[2].find("10.0.0.7").unwrap(), at);
        assert_eq!(sessions_table(&[]), "No sessions.\n");
    }
}
