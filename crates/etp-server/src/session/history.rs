//! Session history: a [`SessionRecord`] per session, written to the store when the session
//! opens (OpenSession sent) and again when it ends, so `GET /sessions?all=true` and
//! `etp sessions` can list past sessions after a restart.
//!
//! Decisions (the notes leave them to us):
//! - Only sessions that reached OpenSession are recorded. Connections that never opened a
//!   session (RequestSession timeout, refused negotiation) are only logged: they cost an
//!   attacker nothing, and every record is an fsync.
//! - Writes run on the blocking pool and never stall the session actor. The close record
//!   waits for the open record first (they overwrite the same key), and the session waits
//!   for its close record, bounded by [`WRITE_TIMEOUT`], before it unregisters, so a
//!   graceful shutdown leaves every record complete. Failures are logged and otherwise
//!   ignored: history is diagnostics, not data.
//! - A record whose session never recorded its end (server crash or kill) keeps
//!   `closed_at = None` and is shown as "interrupted".
//! - Retention: records of sessions opened more than [`RETENTION_DAYS`] days ago are purged
//!   at startup, and at most once a day afterwards when a session ends (no timer task, so
//!   nothing outlives the server).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use etp_store::{SessionRecord, Store};
use tokio::task::JoinHandle;
use tracing::{Span, debug, info, warn};

/// Days a session record is kept.
pub const RETENTION_DAYS: i64 = 30;
/// Longest a session waits at its end for its record to be written.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most records `GET /sessions?all=true` returns, whatever `limit` asks for.
pub const MAX_LIST_LIMIT: usize = 10_000;

const DAY_MICROS: i64 = 86_400 * 1_000_000;

/// The persisted session records, over the server's store.
pub struct SessionHistory {
    store: Arc<dyn Store>,
    /// When records were last purged, µs (0 = never).
    last_purge: AtomicI64,
}

impl std::fmt::Debug for SessionHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionHistory")
            .field("last_purge", &self.last_purge.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl SessionHistory {
    /// A history over `store`; nothing is read or written yet.
    pub fn new(store: Arc<dyn Store>) -> SessionHistory {
        SessionHistory {
            store,
            last_purge: AtomicI64::new(0),
        }
    }

    /// Deletes the records older than the retention period (startup; failures logged).
    pub async fn purge_expired(&self) {
        let store = self.store.clone();
        let now = crate::now_micros();
        self.last_purge.store(now, Ordering::Relaxed);
        let span = Span::current();
        let result = tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            purge(store.as_ref(), now);
        })
        .await;
        if let Err(e) = result {
            warn!(error = %e, "session history purge task failed");
        }
    }

    /// Writes the record of a session that just opened, in the background.
    pub(crate) fn record_open(&self, record: SessionRecord) -> JoinHandle<()> {
        let store = self.store.clone();
        let span = Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            if let Err(e) = store.put_session(&record) {
                warn!(error = %e, "cannot record the session in the store");
            }
        })
    }

    /// Writes the final record of a session once its open record is written; purges old
    /// records when the last purge is more than a day old. Waits at most [`WRITE_TIMEOUT`];
    /// the write itself goes on.
    pub(crate) async fn record_close(&self, opened: JoinHandle<()>, record: SessionRecord) {
        let now = crate::now_micros();
        let last = self.last_purge.load(Ordering::Relaxed);
        // Only one ending session wins the daily purge.
        let purge_due = now.saturating_sub(last) > DAY_MICROS
            && self
                .last_purge
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        let store = self.store.clone();
        let span = Span::current();
        let write = async move {
            // The open record must land first: both writes replace the same record.
            let _ = opened.await;
            tokio::task::spawn_blocking(move || {
                let _entered = span.enter();
                if let Err(e) = store.put_session(&record) {
                    warn!(error = %e, "cannot record the end of the session in the store");
                }
                if purge_due {
                    purge(store.as_ref(), now);
                }
            })
            .await
        };
        // Spawned, so that giving up waiting does not cancel the write: a timeout that
        // dropped the future while it still awaited the open record would lose the final
        // record (seen when 10,000 sessions close at once).
        let write = tokio::spawn(write);
        match tokio::time::timeout(WRITE_TIMEOUT, write).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e)) | Err(e)) => warn!(error = %e, "session record task failed"),
            Err(_) => warn!(
                timeout = ?WRITE_TIMEOUT,
                "the session record is still being written; not waiting any longer"
            ),
        }
    }

    /// Up to `limit` records (at most [`MAX_LIST_LIMIT`]), newest first.
    pub async fn recent(&self, limit: usize) -> Result<Vec<SessionRecord>, String> {
        let store = self.store.clone();
        let limit = limit.min(MAX_LIST_LIMIT);
        match tokio::task::spawn_blocking(move || store.list_sessions(limit)).await {
            Ok(Ok(records)) => Ok(records),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("session history task failed: {e}")),
        }
    }
}

fn purge(store: &dyn Store, now: i64) {
    let before = now.saturating_sub(RETENTION_DAYS * DAY_MICROS);
    match store.purge_sessions(before) {
        Ok(0) => debug!("no session record older than {RETENTION_DAYS} days"),
        Ok(n) => info!(
            purged = n,
            "removed session records older than {RETENTION_DAYS} days"
        ),
        Err(e) => warn!(error = %e, "cannot purge old session records"),
    }
}
