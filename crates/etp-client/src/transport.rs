//! TCP/TLS connection, WebSocket upgrade and the plain HTTP GET of the capabilities
//! document.

use bytes::Bytes;
use fastwebsockets::WebSocket;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::upgrade::Upgraded;
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::{ClientConfig, ETP12_SUBPROTOCOL};
use crate::error::ClientError;
use crate::tls;

/// Largest HTTP error body kept in [`ClientError::Http`].
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Largest capabilities document accepted.
const MAX_CAPABILITIES_BODY: usize = 16 * 1024 * 1024;
/// Path of the capabilities document, appended to the ETP endpoint path.
pub const CAPABILITIES_PATH: &str = "/.well-known/etp-server-capabilities";

/// Anything the HTTP client can run over: a TCP stream or a TLS stream.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// Where to connect, from a `ws(s)://` or `http(s)://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// TLS (`wss`/`https`).
    pub secure: bool,
    /// Host without IPv6 brackets.
    pub host: String,
    /// Port (default 80 / 443).
    pub port: u16,
    /// Value of the `Host` header.
    pub authority: String,
    /// Path (at least `/`).
    pub path: String,
    /// Query string without `?`, if any.
    pub query: Option<String>,
}

impl Target {
    /// Parses `url`; `ws`/`http` are plain, `wss`/`https` use TLS.
    pub fn parse(url: &str) -> Result<Target, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| invalid(&e.to_string()))?;
        let secure = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("ws") | Some("http") => false,
            Some("wss") | Some("https") => true,
            Some(other) => {
                return Err(invalid(&format!(
                    "unsupported scheme {other:?}, expected ws or wss"
                )));
            }
            None => return Err(invalid("missing scheme, expected ws:// or wss://")),
        };
        let authority = uri.authority().ok_or_else(|| invalid("missing host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid(
                "credentials in the URL are not supported; use the authorization setting",
            ));
        }
        let raw_host = authority.host();
        if raw_host.is_empty() {
            return Err(invalid("missing host"));
        }
        let host = raw_host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let path = match uri.path() {
            "" => "/".to_string(),
            p => p.to_string(),
        };
        Ok(Target {
            secure,
            host,
            port,
            authority: authority.as_str().to_string(),
            path,
            query: uri.query().map(str::to_string),
        })
    }

    /// Path and query for the request line.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    /// The capabilities document's path for this endpoint.
    pub fn capabilities_path(&self) -> String {
        format!(
            "{}{CAPABILITIES_PATH}?GetVersion={ETP12_SUBPROTOCOL}",
            self.path.trim_end_matches('/')
        )
    }
}

/// `http(s)://host:port/<path>/.well-known/etp-server-capabilities?GetVersion=etp12.energistics.org`
/// for an ETP endpoint URL.
pub fn capabilities_url(url: &str) -> Result<String, ClientError> {
    let target = Target::parse(url)?;
    let scheme = if target.secure { "https" } else { "http" };
    Ok(format!(
        "{scheme}://{}{}",
        target.authority,
        target.capabilities_path()
    ))
}

/// Opens TCP (and TLS when `secure`).
async fn open_stream(config: &ClientConfig, target: &Target) -> Result<Box<dyn Io>, ClientError> {
    let address = format!("{}:{}", target.host, target.port);
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|source| ClientError::Connect {
            address: address.clone(),
            source,
        })?;
    // Small request messages must not wait for Nagle; failure to set it is harmless.
    let _ = tcp.set_nodelay(true);
    if !target.secure {
        return Ok(Box::new(tcp));
    }
    let connector = tls::connector(&config.tls)?;
    let name = tls::server_name(&target.host)?;
    let stream = connector
        .connect(name, tcp)
        .await
        .map_err(|e| ClientError::Tls(format!("handshake with {address} failed: {e}")))?;
    Ok(Box::new(stream))
}

/// Starts an HTTP/1.1 connection and spawns its driver.
async fn http1(
    io: Box<dyn Io>,
) -> Result<hyper::client::conn::http1::SendRequest<Empty<Bytes>>, ClientError> {
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| ClientError::WebSocket(format!("HTTP handshake failed: {e}")))?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!("HTTP connection ended: {e}");
        }
    });
    Ok(sender)
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, ClientError> {
    HeaderValue::from_str(value)
        .map_err(|_| ClientError::InvalidConfig(format!("invalid value for header {name}")))
}

/// Adds the configured authorization, partition and extra headers.
fn add_headers(
    mut builder: hyper::http::request::Builder,
    config: &ClientConfig,
) -> Result<hyper::http::request::Builder, ClientError> {
    if let Some(auth) = config.authorization.as_deref().filter(|a| !a.is_empty()) {
        builder = builder.header(header::AUTHORIZATION, header_value("Authorization", auth)?);
    }
    if let Some(partition) = config
        .data_partition_id
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        builder = builder.header(
            "data-partition-id",
            header_value("data-partition-id", partition)?,
        );
    }
    for (name, value) in &config.extra_headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ClientError::InvalidConfig(format!("invalid header name {name:?}")))?;
        let value = header_value(name.as_str(), value)?;
        builder = builder.header(name, value);
    }
    Ok(builder)
}

/// Reads at most `limit` bytes of a response body, lossily as UTF-8.
async fn read_body(body: Incoming, limit: usize) -> Result<(Vec<u8>, bool), ClientError> {
    let mut body = body;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ClientError::WebSocket(format!("reading HTTP body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            let room = limit.saturating_sub(out.len());
            if data.len() > room {
                out.extend_from_slice(&data[..room]);
                return Ok((out, true));
            }
            out.extend_from_slice(&data);
        }
    }
    Ok((out, false))
}

async fn http_error(status: StatusCode, body: Incoming) -> ClientError {
    let body = match read_body(body, MAX_ERROR_BODY).await {
        Ok((bytes, _)) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    ClientError::Http {
        status: status.as_u16(),
        body,
    }
}

fn header_has_token(headers: &hyper::HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}

/// Opens the connection and performs the WebSocket upgrade with subprotocol
/// `etp12.energistics.org`.
pub(crate) async fn upgrade(
    config: &ClientConfig,
    target: &Target,
) -> Result<WebSocket<TokioIo<Upgraded>>, ClientError> {
    let io = open_stream(config, target).await?;
    let mut sender = http1(io).await?;
    let builder = Request::builder()
        .method("GET")
        .uri(target.path_and_query())
        .header(header::HOST, header_value("Host", &target.authority)?)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header(
            header::SEC_WEBSOCKET_KEY,
            fastwebsockets::handshake::generate_key(),
        )
        .header(header::SEC_WEBSOCKET_VERSION, "13")
        .header(header::SEC_WEBSOCKET_PROTOCOL, ETP12_SUBPROTOCOL)
        .header("etp-encoding", "binary");
    let request = add_headers(builder, config)?
        .body(Empty::<Bytes>::new())
        .map_err(|e| {
            ClientError::InvalidConfig(format!("cannot build the upgrade request: {e}"))
        })?;
    let mut response = sender
        .send_request(request)
        .await
        .map_err(|e| ClientError::WebSocket(format!("upgrade request failed: {e}")))?;
    let status = response.status();
    if status != StatusCode::SWITCHING_PROTOCOLS {
        return Err(http_error(status, response.into_body()).await);
    }
    let headers = response.headers();
    if !header_has_token(headers, header::UPGRADE, "websocket") {
        return Err(ClientError::WebSocket(
            "101 response without `Upgrade: websocket`".into(),
        ));
    }
    if !header_has_token(headers, header::CONNECTION, "upgrade") {
        return Err(ClientError::WebSocket(
            "101 response without `Connection: upgrade`".into(),
        ));
    }
    let selected = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string());
    if selected.as_deref() != Some(ETP12_SUBPROTOCOL) {
        return Err(ClientError::WebSocket(match selected {
            Some(other) => {
                format!("server selected subprotocol {other:?} instead of {ETP12_SUBPROTOCOL}")
            }
            None => format!(
                "server did not select the subprotocol {ETP12_SUBPROTOCOL} (no Sec-WebSocket-Protocol in the 101 response)"
            ),
        }));
    }
    let upgraded = hyper::upgrade::on(&mut response)
        .await
        .map_err(|e| ClientError::WebSocket(format!("upgrade failed: {e}")))?;
    Ok(WebSocket::after_handshake(
        TokioIo::new(upgraded),
        fastwebsockets::Role::Client,
    ))
}

/// Fetches the server's capabilities document
/// (`/.well-known/etp-server-capabilities?GetVersion=etp12.energistics.org`, over http for
/// `ws://` and https for `wss://`) and returns it as JSON. Sends the configured
/// authorization and partition headers. Bounded by `config.connect_timeout`.
pub async fn fetch_server_capabilities(
    config: &ClientConfig,
) -> Result<serde_json::Value, ClientError> {
    let timeout = config.connect_timeout;
    tokio::time::timeout(timeout, fetch_inner(config))
        .await
        .map_err(|_| ClientError::Timeout(timeout))?
}

async fn fetch_inner(config: &ClientConfig) -> Result<serde_json::Value, ClientError> {
    let target = Target::parse(&config.url)?;
    let io = open_stream(config, &target).await?;
    let mut sender = http1(io).await?;
    let builder = Request::builder()
        .method("GET")
        .uri(target.capabilities_path())
        .header(header::HOST, header_value("Host", &target.authority)?)
        .header(header::ACCEPT, "application/json");
    let request = add_headers(builder, config)?
        .body(Empty::<Bytes>::new())
        .map_err(|e| ClientError::InvalidConfig(format!("cannot build the request: {e}")))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| ClientError::WebSocket(format!("capabilities request failed: {e}")))?;
    let status = response.status();
    if status != StatusCode::OK {
        return Err(http_error(status, response.into_body()).await);
    }
    let (body, truncated) = read_body(response.into_body(), MAX_CAPABILITIES_BODY).await?;
    if truncated {
        return Err(ClientError::UnexpectedResponse(format!(
            "capabilities document larger than {MAX_CAPABILITIES_BODY} bytes"
        )));
    }
    serde_json::from_slice(&body).map_err(|e| {
        ClientError::UnexpectedResponse(format!("capabilities document is not JSON: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ws_urls() {
        let t = Target::parse("ws://localhost:9002/api/etp?x=1").unwrap();
        assert!(!t.secure);
        assert_eq!((t.host.as_str(), t.port), ("localhost", 9002));
        assert_eq!(t.path_and_query(), "/api/etp?x=1");
        assert_eq!(
            t.capabilities_path(),
            "/api/etp/.well-known/etp-server-capabilities?GetVersion=etp12.energistics.org"
        );
        let t = Target::parse("wss://[::1]/").unwrap();
        assert!(t.secure);
        assert_eq!(
            (t.host.as_str(), t.port, t.authority.as_str()),
            ("::1", 443, "[::1]")
        );
        assert_eq!(
            t.capabilities_path(),
            "/.well-known/etp-server-capabilities?GetVersion=etp12.energistics.org"
        );
        let t = Target::parse("ws://example.com").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "localhost:9002",
            "ftp://x/",
            "ws://",
            "ws://user:pw@host/",
            "not a url",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(ClientError::InvalidUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn capabilities_urls() {
        assert_eq!(
            capabilities_url("wss://etp.example.com/api/etp/").unwrap(),
            "https://etp.example.com/api/etp/.well-known/etp-server-capabilities?GetVersion=etp12.energistics.org"
        );
        assert_eq!(
            capabilities_url("ws://127.0.0.1:9002").unwrap(),
            "http://127.0.0.1:9002/.well-known/etp-server-capabilities?GetVersion=etp12.energistics.org"
        );
    }
}
