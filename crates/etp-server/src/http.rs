//! The HTTP side of the port: the WebSocket upgrade to ETP (at `/` and at the configured
//! path prefix), the server capabilities document, health, metrics and sessions.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tracing::{debug, warn};

use crate::capabilities;
use crate::state::{ConnectionInfo, ServerState, SessionSnapshot};

/// The ETP 1.2 WebSocket subprotocol.
pub const SUBPROTOCOL: &str = "etp12.energistics.org";

type HttpResponse = Response<Full<Bytes>>;

/// Routes one HTTP request.
pub async fn route(
    mut req: Request<Incoming>,
    peer: SocketAddr,
    server: Arc<ServerState>,
) -> Result<HttpResponse, Infallible> {
    let path = req.uri().path().to_owned();
    let query = parse_query(req.uri().query().unwrap_or(""));
    let prefix = server.config.path_prefix.trim_end_matches('/');
    let local = if !prefix.is_empty() && (path == prefix || path.starts_with(&format!("{prefix}/")))
    {
        &path[prefix.len()..]
    } else {
        path.as_str()
    };
    let local = if local.is_empty() { "/" } else { local };

    if fastwebsockets::upgrade::is_upgrade_request(&req) {
        if local != "/" {
            return Ok(text(StatusCode::NOT_FOUND, "no ETP endpoint at this path"));
        }
        return Ok(upgrade(&mut req, &query, peer, server));
    }
    if req.method() != Method::GET {
        return Ok(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET is served here",
        ));
    }
    Ok(match local {
        "/.well-known/etp-server-capabilities" => capabilities::respond(&server, &query),
        "/health" => json(
            StatusCode::OK,
            serde_json::json!({"status": "ok", "sessions": server.sessions.len()}),
        ),
        "/metrics" => {
            let mut r = Response::new(Full::new(Bytes::from(
                server.metrics.render(&server.sessions),
            )));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            r
        }
        "/sessions" => sessions(&server, &query).await,
        "/" => text(
            StatusCode::UPGRADE_REQUIRED,
            "this is an ETP 1.2 endpoint: connect with a WebSocket using subprotocol etp12.energistics.org",
        ),
        _ => text(StatusCode::NOT_FOUND, "not found"),
    })
}

/// Default number of sessions `GET /sessions?all=true` returns.
pub const DEFAULT_SESSIONS_LIMIT: usize = 100;

/// `GET /sessions`: the live sessions, oldest first. With `all=true`, the live sessions and
/// the past ones from the session history, newest first, at most `limit` (default
/// [`DEFAULT_SESSIONS_LIMIT`], capped at
/// [`MAX_LIST_LIMIT`](crate::session::history::MAX_LIST_LIMIT)).
async fn sessions(server: &ServerState, query: &HashMap<String, String>) -> HttpResponse {
    let all = query
        .get("all")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "" | "true" | "1" | "yes"));
    let limit = match query.get("limit").map(|v| v.parse::<usize>()) {
        None => DEFAULT_SESSIONS_LIMIT,
        Some(Ok(n)) => n.min(crate::session::history::MAX_LIST_LIMIT),
        Some(Err(_)) => {
            return text(
                StatusCode::BAD_REQUEST,
                "limit must be a non-negative integer",
            );
        }
    };
    let mut list = server.sessions.snapshots();
    if !all {
        return json(
            StatusCode::OK,
            serde_json::to_value(list).unwrap_or_default(),
        );
    }
    if let Some(history) = &server.history {
        // Live sessions have a record too: ask for enough to still fill `limit` without them.
        match history.recent(limit.saturating_add(list.len())).await {
            Ok(records) => {
                let live: std::collections::HashSet<String> =
                    list.iter().map(|s| s.id().to_owned()).collect();
                list.extend(
                    records
                        .iter()
                        .map(SessionSnapshot::from_record)
                        .filter(|s| !live.contains(s.id())),
                );
            }
            Err(e) => {
                warn!(error = %e, "cannot read the session history");
                return text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("cannot read the session history: {e}"),
                );
            }
        }
    }
    list.sort_by_key(|s| std::cmp::Reverse(s.connected_micros()));
    list.truncate(limit);
    json(
        StatusCode::OK,
        serde_json::to_value(list).unwrap_or_default(),
    )
}

fn upgrade(
    req: &mut Request<Incoming>,
    query: &HashMap<String, String>,
    peer: SocketAddr,
    server: Arc<ServerState>,
) -> HttpResponse {
    let offered: Vec<String> = req
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    if offered.is_empty() {
        return text(
            StatusCode::BAD_REQUEST,
            "missing Sec-WebSocket-Protocol: this endpoint speaks etp12.energistics.org",
        );
    }
    if !offered.iter().any(|p| p == SUBPROTOCOL) {
        return text(
            StatusCode::BAD_REQUEST,
            &format!(
                "unsupported WebSocket subprotocol {offered:?}: this endpoint speaks etp12.energistics.org (ETP 1.2 only)"
            ),
        );
    }
    // Headers win over query parameters (browsers cannot set headers: open-etp-client's
    // "noHeaders" mode moves them to the query string).
    let param = |name: &str| -> Option<String> {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| query.get(name).cloned())
            .filter(|v| !v.is_empty())
    };
    if let Some(encoding) = param("etp-encoding")
        && !encoding.eq_ignore_ascii_case("binary")
    {
        return text(
            StatusCode::PRECONDITION_FAILED,
            &format!("etp-encoding {encoding:?} is not supported; only binary"),
        );
    }
    if server.sessions.len() as u64 >= server.config.max_sessions {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many sessions (MaxSessionGlobalCount)",
        );
    }
    let conn = ConnectionInfo {
        peer: Some(peer),
        authorization: param("authorization"),
        data_partition_id: param("data-partition-id"),
        client_id: param("client-id"),
    };
    let (mut response, fut) = match fastwebsockets::upgrade::upgrade(req) {
        Ok(pair) => pair,
        Err(e) => {
            return text(
                StatusCode::BAD_REQUEST,
                &format!("invalid WebSocket upgrade: {e}"),
            );
        }
    };
    response.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(SUBPROTOCOL),
    );
    tokio::spawn(async move {
        match fut.await {
            Ok(ws) => crate::session::run(ws, conn, server).await,
            Err(e) => debug!(%peer, error = %e, "WebSocket upgrade failed"),
        }
    });
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, Full::new(Bytes::new()))
}

fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k).to_ascii_lowercase(), percent_decode(v))
        })
        .collect()
}

/// Decodes a query component: `+` is a space, `%XX` escapes as in URIs; text with an
/// invalid escape is kept as it was sent.
fn percent_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    match etp_protocol::uri::percent_decode(&spaced) {
        Ok(decoded) => decoded.into_owned(),
        Err(_) => spaced,
    }
}

/// A plain-text response.
pub fn text(status: StatusCode, body: &str) -> HttpResponse {
    if status.is_client_error() {
        warn!(%status, reason = body, "refused HTTP request");
    }
    let mut r = Response::new(Full::new(Bytes::from(format!("{body}\n"))));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A pretty-printed JSON response (a space after each colon: fetpapi text-searches it).
pub fn json(status: StatusCode, value: serde_json::Value) -> HttpResponse {
    let body = serde_json::to_string_pretty(&value).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing_decodes_and_lowercases_keys() {
        let q = parse_query(
            "GetVersion=etp12.energistics.org&Authorization=Bearer%20abc&x=%zz&$format=binary",
        );
        assert_eq!(q["getversion"], "etp12.energistics.org");
        assert_eq!(q["authorization"], "Bearer abc");
        assert_eq!(q["x"], "%zz");
        assert_eq!(q["$format"], "binary");
    }
}
