//! Test harness shared by the server integration tests: a real server on a loopback port
//! over a fresh data directory, and clients connected to it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use etp_client::{Client, ClientConfig};
use etp_protocol::message::Role;
use etp_server::{Server, ServerConfig};

/// A server running on `127.0.0.1:<random port>` until dropped.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its configuration (the data directory included).
    pub config: ServerConfig,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts a server with default settings on a fresh temporary data directory.
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts a server on a fresh temporary data directory after `adjust` changed its
    /// settings.
    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut server = Self::start_in(dir.path(), adjust).await;
        server._dir = Some(dir);
        server
    }

    /// Starts a server on `data_dir` (kept after the server stops: restart tests).
    pub async fn start_in(data_dir: &Path, adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse().expect("literal address"),
            data_dir: PathBuf::from(data_dir),
            shutdown_grace_secs: 2,
            ..ServerConfig::default()
        };
        adjust(&mut config);
        let server = Server::bind(config.clone()).await.expect("server starts");
        let addr = server.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async move {
                    let _ = stopped.await;
                })
                .await
                .expect("server runs");
        });
        TestServer {
            addr,
            config,
            stop: Some(stop),
            task: Some(task),
            _dir: None,
        }
    }

    /// `ws://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn http(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Client settings for this server asking for every protocol the server implements.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(self.url());
        config.requested_protocols = vec![
            (3, Role::Store),
            (4, Role::Store),
            (9, Role::Store),
            (18, Role::Store),
            (24, Role::Store),
            (25, Role::Store),
        ];
        config.request_timeout = std::time::Duration::from_secs(30);
        config
    }

    /// A client session with [`TestServer::client_config`].
    pub async fn client(&self) -> Client {
        Client::connect(self.client_config())
            .await
            .expect("client connects")
    }

    /// A client session with adjusted settings.
    pub async fn client_with(&self, adjust: impl FnOnce(&mut ClientConfig)) -> Client {
        let mut config = self.client_config();
        adjust(&mut config);
        Client::connect(config).await.expect("client connects")
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
