//! The limits the figures are compared with, measured in the same run.
//!
//! * **Bare WebSocket**: a server and a client on the WebSocket stack the ETP server and
//!   client use (hyper 1 HTTP/1.1 upgrade + fastwebsockets, TCP_NODELAY, client frames
//!   masked), with no ETP on top: no Avro, no session actor, no handler, no store. The
//!   server speaks a one-byte command protocol so that the same traffic shapes as the
//!   ETP figures can be replayed: echo (Ping/Pong), upload with a tiny acknowledgement
//!   per message (a put), and a small request answered by a big message (a get). It runs
//!   where the in-process ETP server runs (its own runtime), so both see the same
//!   scheduling.
//! * **Durable file write**: the same bytes written to a file in the same directory tree
//!   as the store, then `fsync`, which bounds any durable put. How fast it is depends on
//!   what the disk is still writing back, so callers start it after [`write_back`].

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use fastwebsockets::{FragmentCollector, FragmentCollectorRead, Frame, OpCode, Payload, WebSocket};
use http_body_util::Empty;
use hyper::header;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::upgrade::Upgraded;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// Echo the message back.
const ECHO: u8 = b'E';
/// Consume the message, answer with [`ACK_LEN`] bytes.
const UPLOAD: u8 = b'U';
/// Answer with a message of the size given as little-endian `u64` after the command byte.
const DOWNLOAD: u8 = b'D';
/// Size of the acknowledgement of an upload: about an encoded PutDataSubarraysResponse.
const ACK_LEN: usize = 32;
/// Largest message the bare server accepts or sends.
const MAX_MESSAGE: usize = 1 << 30;

type Ws = WebSocket<TokioIo<Upgraded>>;

/// The bare WebSocket server, running until dropped.
pub struct BareServer {
    addr: SocketAddr,
    _stop: watch::Sender<bool>,
}

impl BareServer {
    /// Binds 127.0.0.1:0 on `runtime` and serves there.
    pub async fn start(runtime: &tokio::runtime::Handle) -> anyhow::Result<BareServer> {
        let listener = runtime.spawn(TcpListener::bind("127.0.0.1:0")).await??;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        // One shared source for downloads: the answer bytes are never touched again.
        let source: Arc<Vec<u8>> = Arc::new(vec![0x5a; MAX_MESSAGE.min(64 << 20)]);
        runtime.spawn(async move {
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let _ = stream.set_nodelay(true);
                        let source = source.clone();
                        tokio::spawn(async move {
                            let service = service_fn(move |req| upgrade(req, source.clone()));
                            let _ = http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .with_upgrades()
                                .await;
                        });
                    }
                    _ = stopped.changed() => break,
                }
            }
        });
        Ok(BareServer { addr, _stop: stop })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

async fn upgrade(
    mut req: Request<hyper::body::Incoming>,
    source: Arc<Vec<u8>>,
) -> Result<Response<Empty<Bytes>>, std::convert::Infallible> {
    match fastwebsockets::upgrade::upgrade(&mut req) {
        Ok((response, fut)) => {
            tokio::spawn(async move {
                if let Ok(ws) = fut.await {
                    serve(ws, &source).await;
                }
            });
            Ok(response)
        }
        Err(_) => {
            let mut r = Response::new(Empty::new());
            *r.status_mut() = StatusCode::BAD_REQUEST;
            Ok(r)
        }
    }
}

/// One connection: read a message, act on its first byte, repeat.
async fn serve(ws: Ws, source: &[u8]) {
    let mut ws = FragmentCollector::new(configure(ws));
    let ack = [0u8; ACK_LEN];
    loop {
        let frame = match ws.read_frame().await {
            Ok(frame) => frame,
            Err(_) => return,
        };
        let result = match frame.opcode {
            OpCode::Close => return,
            OpCode::Binary => match frame.payload.first().copied() {
                Some(ECHO) => {
                    let echo = frame.payload.to_vec();
                    ws.write_frame(Frame::binary(Payload::Owned(echo))).await
                }
                Some(UPLOAD) => ws.write_frame(Frame::binary(Payload::Borrowed(&ack))).await,
                Some(DOWNLOAD) if frame.payload.len() >= 9 => {
                    let mut size = [0u8; 8];
                    size.copy_from_slice(&frame.payload[1..9]);
                    let size = usize::try_from(u64::from_le_bytes(size))
                        .unwrap_or(usize::MAX)
                        .min(source.len());
                    ws.write_frame(Frame::binary(Payload::Borrowed(&source[..size])))
                        .await
                }
                _ => return,
            },
            _ => Ok(()),
        };
        if result.is_err() {
            return;
        }
    }
}

fn configure(mut ws: Ws) -> Ws {
    ws.set_max_message_size(MAX_MESSAGE);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    ws
}

/// Runs hyper's connection futures on tokio.
#[derive(Clone, Copy)]
struct SpawnExecutor;

impl<F> hyper::rt::Executor<F> for SpawnExecutor
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, fut: F) {
        tokio::spawn(fut);
    }
}

/// A client connection to the bare server.
pub struct BareClient {
    ws: Ws,
}

impl BareClient {
    /// TCP connect (TCP_NODELAY) and WebSocket upgrade, the way the ETP client does it.
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<BareClient> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let request = Request::builder()
            .method("GET")
            .uri(format!("http://{addr}/"))
            .header(header::HOST, addr.to_string())
            .header(header::UPGRADE, "websocket")
            .header(header::CONNECTION, "upgrade")
            .header(
                header::SEC_WEBSOCKET_KEY,
                fastwebsockets::handshake::generate_key(),
            )
            .header(header::SEC_WEBSOCKET_VERSION, "13")
            .body(Empty::<Bytes>::new())?;
        let (ws, _) = fastwebsockets::handshake::client(&SpawnExecutor, request, stream)
            .await
            .context("bare WebSocket upgrade")?;
        Ok(BareClient { ws: configure(ws) })
    }

    /// Sequential echo round trips of `len`-byte messages for `duration` (at least
    /// `min_count`); returns each round trip's time.
    pub async fn echo_rtts(
        &mut self,
        len: usize,
        duration: Duration,
        min_count: usize,
    ) -> anyhow::Result<Vec<Duration>> {
        let mut buf = vec![0u8; len.max(1)];
        let mut rtts = Vec::new();
        let start = Instant::now();
        while start.elapsed() < duration || rtts.len() < min_count {
            buf[0] = ECHO;
            let t = Instant::now();
            self.ws
                .write_frame(Frame::binary(Payload::BorrowedMut(&mut buf)))
                .await?;
            let frame = self.ws.read_frame().await?;
            if frame.opcode != OpCode::Binary || frame.payload.len() != buf.len() {
                bail!("bare echo: unexpected answer");
            }
            rtts.push(t.elapsed());
        }
        Ok(rtts)
    }

    /// Closes with a close frame and waits for the server's.
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.ws.write_frame(Frame::close(1000, b"")).await?;
        loop {
            match self.ws.read_frame().await {
                Ok(frame) if frame.opcode == OpCode::Close => return Ok(()),
                Ok(_) => {}
                Err(_) => return Ok(()),
            }
        }
    }

    /// Requests of one shape with at most `window` in flight, until `limit`; returns how
    /// many were answered and the elapsed time.
    pub async fn pipelined(
        self,
        kind: Traffic,
        limit: Limit,
        window: usize,
    ) -> anyhow::Result<(u64, Duration)> {
        let (read, mut write) = self.ws.split(tokio::io::split);
        let mut read = FragmentCollectorRead::new(read);
        let window = Arc::new(Semaphore::new(window.max(1)));
        let expected_reply = kind.reply_len();
        let start = Instant::now();
        let writer_window = window.clone();
        let writer = tokio::spawn(async move {
            let mut buf = kind.request();
            let mut sent = 0u64;
            while match limit {
                Limit::Count(n) => sent < n,
                Limit::Duration(d) => start.elapsed() < d,
            } {
                let permit = writer_window.acquire().await?;
                permit.forget();
                // Masking works in place, so the command bytes must be restored each time.
                kind.prepare(&mut buf);
                write
                    .write_frame(Frame::binary(Payload::BorrowedMut(&mut buf)))
                    .await?;
                sent += 1;
            }
            // The end marker: an echo whose answer length no traffic shape produces.
            let mut end = vec![ECHO; END_MARKER_LEN];
            write
                .write_frame(Frame::binary(Payload::BorrowedMut(&mut end)))
                .await?;
            anyhow::Ok((write, sent))
        });
        let mut send_nothing = |_: Frame<'_>| async { Ok::<(), std::io::Error>(()) };
        let mut answered = 0u64;
        loop {
            let frame = read.read_frame(&mut send_nothing).await?;
            let len = frame.payload.len();
            if frame.opcode == OpCode::Binary && len == END_MARKER_LEN {
                break;
            }
            if frame.opcode != OpCode::Binary || len != expected_reply {
                bail!("bare {kind:?}: expected a {expected_reply}-byte answer, got {len} bytes");
            }
            answered += 1;
            window.add_permits(1);
        }
        let elapsed = start.elapsed();
        let (mut write, sent) = writer.await??;
        let _ = write.write_frame(Frame::close(1000, b"")).await;
        if sent != answered {
            bail!("bare {kind:?}: {sent} sent but {answered} answered");
        }
        Ok((answered, elapsed))
    }
}

/// When [`BareClient::pipelined`] stops sending.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    /// After this many requests.
    Count(u64),
    /// Once this much time has passed.
    Duration(Duration),
}

/// Shortest request: longer than the end marker, so that echoes are told apart.
const MIN_REQUEST: usize = END_MARKER_LEN + 1;

/// Length of the end-of-stream echo; shorter than any traffic's answer.
const END_MARKER_LEN: usize = 3;

/// A traffic shape for [`BareClient::pipelined`].
#[derive(Debug, Clone, Copy)]
pub enum Traffic {
    /// Messages of this many bytes, echoed.
    Echo(usize),
    /// Messages of this many bytes, each acknowledged with a few bytes.
    Upload(usize),
    /// Small requests, each answered by a message of this many bytes.
    Download(usize),
}

impl Traffic {
    fn request(self) -> Vec<u8> {
        match self {
            Traffic::Echo(len) | Traffic::Upload(len) => vec![0u8; len.max(MIN_REQUEST)],
            Traffic::Download(_) => vec![0u8; 9],
        }
    }

    fn prepare(self, buf: &mut [u8]) {
        match self {
            Traffic::Echo(_) => buf[0] = ECHO,
            Traffic::Upload(_) => buf[0] = UPLOAD,
            Traffic::Download(len) => {
                buf[0] = DOWNLOAD;
                buf[1..9].copy_from_slice(&(len as u64).to_le_bytes());
            }
        }
    }

    fn reply_len(self) -> usize {
        match self {
            Traffic::Echo(len) => len.max(MIN_REQUEST),
            Traffic::Upload(_) => ACK_LEN,
            Traffic::Download(len) => len,
        }
    }
}

/// Writes `total` bytes in `chunk`-byte writes to a new file in `dir`, then `fsync`s it;
/// returns the elapsed time including the fsync. The file is removed afterwards.
pub fn durable_file_write(dir: &Path, total: u64, chunk: usize) -> anyhow::Result<Duration> {
    let path = dir.join(format!("fsync-baseline-{}", std::process::id()));
    let buf: Vec<u8> = (0..chunk.max(1)).map(|i| (i * 31 % 251) as u8).collect();
    let start = Instant::now();
    let result = (|| {
        let mut file = std::fs::File::create(&path)?;
        let mut left = total;
        while left > 0 {
            let n = (buf.len() as u64).min(left) as usize;
            file.write_all(&buf[..n])?;
            left -= n as u64;
        }
        file.sync_all()?;
        anyhow::Ok(())
    })();
    let elapsed = start.elapsed();
    let _ = std::fs::remove_file(&path);
    result.with_context(|| format!("durable write to {}", dir.display()))?;
    Ok(elapsed)
}

/// Writes back every dirty page of the file system holding `dir` (`syncfs`), so that a
/// timed write that follows does not share the disk with the writeback of an earlier
/// figure. Only on Linux; elsewhere it returns at once.
pub fn write_back(dir: &Path) -> anyhow::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd as _;
        let handle = std::fs::File::open(dir)
            .with_context(|| format!("cannot open {} to sync it", dir.display()))?;
        // SAFETY: syncfs only reads the descriptor, which `handle` keeps open for the call.
        if unsafe { libc::syncfs(handle.as_raw_fd()) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("syncfs of {}", dir.display()));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bare_server_echoes_acknowledges_and_streams() {
        let server = BareServer::start(&tokio::runtime::Handle::current())
            .await
            .unwrap();
        let mut client = BareClient::connect(server.addr()).await.unwrap();
        let rtts = client.echo_rtts(16, Duration::ZERO, 5).await.unwrap();
        assert_eq!(rtts.len(), 5);
        client.close().await.unwrap();
        for traffic in [
            Traffic::Echo(100),
            Traffic::Upload(70_000),
            Traffic::Download(200_000),
            Traffic::Echo(1),
        ] {
            let client = BareClient::connect(server.addr()).await.unwrap();
            let (n, _) = client
                .pipelined(traffic, Limit::Count(20), 4)
                .await
                .unwrap();
            assert_eq!(n, 20);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pipelining_until_a_deadline_answers_everything_sent() {
        let server = BareServer::start(&tokio::runtime::Handle::current())
            .await
            .unwrap();
        let client = BareClient::connect(server.addr()).await.unwrap();
        let (n, elapsed) = client
            .pipelined(
                Traffic::Echo(16),
                Limit::Duration(Duration::from_millis(100)),
                8,
            )
            .await
            .unwrap();
        assert!(n > 0);
        assert!(elapsed >= Duration::from_millis(100));
    }

    #[test]
    fn durable_write_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        durable_file_write(dir.path(), 100_000, 4096).unwrap();
        write_back(dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
