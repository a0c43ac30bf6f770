//! Several sessions for parallel work, and connecting with retries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::client::Client;
use crate::config::ClientConfig;
use crate::error::ClientError;

/// `n` independent sessions to the same server. [`ClientPool::get`] hands out the session
/// with the fewest requests in flight (round-robin among equals).
#[derive(Debug)]
pub struct ClientPool {
    clients: Vec<Client>,
    next: AtomicUsize,
}

impl ClientPool {
    /// Opens `n` sessions (at least one) concurrently; fails if any of them fails.
    pub async fn connect(config: ClientConfig, n: usize) -> Result<ClientPool, ClientError> {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n.max(1) {
            let config = config.clone();
            set.spawn(async move { (i, Client::connect(config).await) });
        }
        let mut clients: Vec<(usize, Client)> = Vec::with_capacity(n.max(1));
        while let Some(joined) = set.join_next().await {
            let (i, result) =
                joined.map_err(|e| ClientError::Closed(format!("connect task failed: {e}")))?;
            clients.push((i, result?));
        }
        clients.sort_by_key(|(i, _)| *i);
        Ok(ClientPool {
            clients: clients.into_iter().map(|(_, c)| c).collect(),
            next: AtomicUsize::new(0),
        })
    }

    /// Builds a pool from already connected clients. Fails with
    /// [`ClientError::InvalidConfig`] when `clients` is empty.
    pub fn from_clients(clients: Vec<Client>) -> Result<ClientPool, ClientError> {
        if clients.is_empty() {
            return Err(ClientError::InvalidConfig(
                "a pool needs at least one client".into(),
            ));
        }
        Ok(ClientPool {
            clients,
            next: AtomicUsize::new(0),
        })
    }

    /// The open session with the fewest requests in flight; ties are broken round-robin.
    /// Closed sessions are skipped unless all are closed.
    pub fn get(&self) -> &Client {
        let n = self.clients.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let mut best = start;
        let mut best_key = (true, usize::MAX);
        for offset in 0..n {
            let i = (start + offset) % n;
            let c = &self.clients[i];
            let key = (c.is_closed(), c.in_flight());
            if key < best_key {
                best = i;
                best_key = key;
            }
        }
        &self.clients[best]
    }

    /// Every session of the pool.
    pub fn clients(&self) -> &[Client] {
        &self.clients
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Always false: a pool has at least one session.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Closes every session (see [`Client::close`]).
    pub async fn close(self, reason: &str) {
        let mut set = tokio::task::JoinSet::new();
        for c in self.clients {
            let reason = reason.to_string();
            set.spawn(async move { c.close(&reason).await });
        }
        while set.join_next().await.is_some() {}
    }
}

/// Connects, retrying up to `attempts` times in total on transient failures
/// ([`ClientError::is_transient`]), waiting `backoff` after the first failure and twice as
/// long after each further one (at most 30 s). Permanent errors (refused session, HTTP 4xx,
/// bad URL or TLS setup) are returned at once.
pub async fn connect_with_retry(
    config: &ClientConfig,
    attempts: usize,
    backoff: Duration,
) -> Result<Client, ClientError> {
    let attempts = attempts.max(1);
    let mut delay = backoff;
    let mut attempt = 1;
    loop {
        match Client::connect(config.clone()).await {
            Ok(client) => return Ok(client),
            Err(e) if attempt < attempts && e.is_transient() => {
                tracing::warn!(
                    "connection attempt {attempt}/{attempts} to {} failed: {e}; retrying in {delay:?}",
                    config.url
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
