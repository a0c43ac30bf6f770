//! The ETP v1.2 server: a WebSocket endpoint (subprotocol `etp12.energistics.org`) where
//! each connection is one session actor, protocol handlers registered by protocol number,
//! and HTTP endpoints for capabilities, health, metrics and sessions on the same port.
//!
//! ```no_run
//! # async fn example() -> Result<(), etp_server::ServerError> {
//! let server = etp_server::Server::bind(etp_server::ServerConfig::default()).await?;
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

pub mod access;
pub mod capabilities;
pub mod config;
pub mod handlers;
pub mod http;
pub mod metrics;
pub mod session;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use etp_protocol::Uuid;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

pub use config::ServerConfig;
pub use etp_protocol::now_micros;
pub use handlers::{ProtocolHandler, Registry};
use state::{ServerState, SessionRegistry};

/// Why the server could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A setting is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error("cannot open the store: {0}")]
    Store(String),
    /// The data directory could not be prepared.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    state: Arc<ServerState>,
}

impl Server {
    /// Prepares the data directory, registers the protocol handlers and binds the address.
    pub async fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| ServerError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let store_dir = config.data_dir.join("store");
        let store_config = etp_store::StoreConfig {
            cache_bytes: config.store_cache_bytes(),
            ..etp_store::StoreConfig::default()
        };
        tracing::debug!(cache_bytes = store_config.cache_bytes, "opening the store");
        let store = tokio::task::spawn_blocking(move || {
            etp_store::FjallStore::open_with(&store_dir, store_config)
        })
        .await
        .map_err(|e| ServerError::Store(e.to_string()))?
        .map_err(|e| ServerError::Store(e.to_string()))?;
        let store: Arc<dyn etp_store::Store> = Arc::new(store);
        let access = Arc::new(access::DataAccess::new(
            store.clone(),
            Duration::from_secs(config.write_lock_wait_secs),
        ));
        let mut handlers = Registry::default();
        handlers.register(Arc::new(handlers::dataspace::DataspaceHandler::new(
            access.clone(),
        )));
        handlers.register(Arc::new(handlers::transaction::TransactionHandler::new(
            access.clone(),
            config.transaction_timeout_secs,
        )));
        handlers.register(Arc::new(handlers::store::StoreHandler::new(
            access.clone(),
            &config,
        )));
        handlers.register(Arc::new(
            handlers::supported_types::SupportedTypesHandler::new(access.clone(), &config),
        ));
        handlers.register(Arc::new(handlers::data_array::DataArrayHandler::new(
            access.clone(),
            config.max_data_array_size,
        )));
        handlers.register(Arc::new(handlers::discovery::DiscoveryHandler::new(
            access.clone(),
            config.max_response_count,
        )));
        let store = access.store().clone();
        Server::bind_with_store(config, handlers, Some(store)).await
    }

    /// Like [`Server::bind`] with an explicit handler registry (tests and embedders); no
    /// session history is kept.
    pub async fn bind_with(
        config: ServerConfig,
        handlers: Registry,
    ) -> Result<Server, ServerError> {
        Server::bind_with_store(config, handlers, None).await
    }

    /// Like [`Server::bind_with`], recording sessions in `store` when given (see
    /// [`session::history`]; records past the retention period are purged here).
    pub async fn bind_with_store(
        config: ServerConfig,
        handlers: Registry,
        store: Option<Arc<dyn etp_store::Store>>,
    ) -> Result<Server, ServerError> {
        config.validate().map_err(ServerError::Config)?;
        let history = store.map(session::SessionHistory::new);
        if let Some(history) = &history {
            history.purge_expired().await;
        }
        let server_instance_id = load_or_create_instance_id(&config.data_dir)?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let (shutdown, _) = tokio::sync::watch::channel(false);
        let state = Arc::new(ServerState {
            config,
            server_instance_id,
            handlers,
            sessions: SessionRegistry::default(),
            metrics: Default::default(),
            shutdown,
            started_micros: now_micros(),
            history,
        });
        Ok(Server { listener, state })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.state.config.listen)
    }

    /// Serves until `shutdown` resolves, then stops accepting, sends CloseSession to every
    /// session, waits up to `shutdown_grace_secs` for them to end, and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Server { listener, state } = self;
        info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "ETP server listening");
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        let state = state.clone();
                        tokio::spawn(async move {
                            let handshake_timeout = state.config.handshake_timeout();
                            let service = service_fn(move |req| http::route(req, peer, state.clone()));
                            let conn = http1::Builder::new()
                                .timer(TokioTimer::new())
                                .header_read_timeout(handshake_timeout)
                                .serve_connection(TokioIo::new(stream), service)
                                .with_upgrades();
                            if let Err(e) = conn.await {
                                debug!(%peer, error = %e, "HTTP connection ended with an error");
                            }
                        });
                    }
                    // Out of file descriptors and the like: back off instead of spinning.
                    Err(e) => {
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = &mut shutdown => break,
            }
        }
        drop(listener);
        info!(
            sessions = state.sessions.len(),
            "shutting down: closing sessions"
        );
        let _ = state.shutdown.send(true);
        let grace = Duration::from_secs(state.config.shutdown_grace_secs);
        if tokio::time::timeout(grace, state.sessions.wait_empty())
            .await
            .is_err()
        {
            warn!(
                remaining = state.sessions.len(),
                "sessions still open after the grace period"
            );
        }
        if let Some(history) = &state.history {
            history.close().await;
        }
        Ok(())
    }
}

/// Reads the server instance id from the data directory, creating both on first start.
fn load_or_create_instance_id(dir: &Path) -> Result<Uuid, ServerError> {
    let err = |source| ServerError::DataDir {
        path: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let path = dir.join("server-instance-id");
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Ok(id) = text.trim().parse()
    {
        return Ok(id);
    }
    let id = Uuid::new_v4();
    std::fs::write(&path, format!("{id}\n")).map_err(err)?;
    Ok(id)
}
