//! Session history: a [`SessionRecord`] per session, written to the store when the session
//! opens (OpenSession sent) and again when it ends, so `GET /sessions?all=true` and
//! `etp sessions` can list past sessions after a restart.
//!
//! Decisions (the notes leave them to us):
//! - Only sessions that reached OpenSession are recorded. Connections that never opened a
//!   session (RequestSession timeout, refused negotiation) are only logged: they cost an
//!   attacker nothing, and every record is an fsync.
//! - Writes never stall the session actor: records are queued to one writer task, which
//!   takes everything queued (up to [`MAX_BATCH`]) and writes it with one
//!   [`Store::put_sessions`] on the blocking pool (group commit: one fsync per batch, not
//!   per record, so heavy session churn does not build a backlog). One writer in queue
//!   order also keeps a session's close record after its open record (both replace the
//!   same key). The session waits for its close record, bounded by [`WRITE_TIMEOUT`],
//!   before it unregisters, so a graceful shutdown leaves every record complete. Failures
//!   are logged and otherwise ignored: history is diagnostics, not data.
//! - A record whose session never recorded its end (server crash or kill) keeps
//!   `closed_at = None` and is shown as "interrupted".
//! - Retention: records of sessions opened more than [`RETENTION_DAYS`] days ago are purged
//!   at startup, and at most once a day afterwards when a session ends (no timer task, so
//!   nothing outlives the server).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etp_store::{SessionRecord, Store};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

/// Days a session record is kept.
pub const RETENTION_DAYS: i64 = 30;
/// Longest a session waits at its end for its record to be written.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most records `GET /sessions?all=true` returns, whatever `limit` asks for.
pub const MAX_LIST_LIMIT: usize = 10_000;
/// Most records written in one durable store write.
pub const MAX_BATCH: usize = 1_024;

const DAY_MICROS: i64 = 86_400 * 1_000_000;

/// A record waiting for the writer task.
struct Queued {
    record: SessionRecord,
    /// Told once the record is durable (or its write failed).
    done: Option<oneshot::Sender<()>>,
    /// Purge records older than the retention period relative to this time (µs) after
    /// writing.
    purge_at: Option<i64>,
}

/// The persisted session records, over the server's store.
pub struct SessionHistory {
    store: Arc<dyn Store>,
    /// When records were last purged, µs (0 = never).
    last_purge: AtomicI64,
    /// The writer task, started on the first record (inside the runtime).
    writer: Mutex<Writer>,
}

enum Writer {
    NotStarted,
    /// The queue is unbounded because every session queues at most two records (open
    /// and close) and waits for the close one, so it holds at most about twice the live
    /// sessions (bounded by `max_sessions`), plus the records of sessions that gave up
    /// waiting after [`WRITE_TIMEOUT`]. The task ends once the sender is dropped (with
    /// the history, or by [`SessionHistory::close`]), after writing what is queued.
    Running {
        queue: mpsc::UnboundedSender<Queued>,
        task: tokio::task::JoinHandle<()>,
    },
    Closed,
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
            writer: Mutex::new(Writer::NotStarted),
        }
    }

    /// Deletes the records older than the retention period (startup; failures logged).
    pub async fn purge_expired(&self) {
        let store = self.store.clone();
        let now = crate::now_micros();
        self.last_purge.store(now, Ordering::Relaxed);
        let result = tokio::task::spawn_blocking(move || purge(store.as_ref(), now)).await;
        if let Err(e) = result {
            warn!(error = %e, "session history purge task failed");
        }
    }

    /// Queues `item` for the writer task, starting it if needed (must run inside the
    /// runtime). False if the writer is gone (it only stops when the history is dropped,
    /// or if it panicked).
    fn queue(&self, item: Queued) -> bool {
        // A panic while holding the lock leaves the state consistent: no invariant spans it.
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(*writer, Writer::NotStarted) {
            let (queue, rx) = mpsc::unbounded_channel();
            let task = tokio::spawn(write_loop(self.store.clone(), rx));
            *writer = Writer::Running { queue, task };
        }
        match &*writer {
            Writer::Running { queue, .. } => queue.send(item).is_ok(),
            Writer::NotStarted | Writer::Closed => false,
        }
    }

    /// Stops taking records and waits (at most [`WRITE_TIMEOUT`]) for the queued ones to
    /// be written and the writer to end, so the store is released when the server returns.
    pub(crate) async fn close(&self) {
        let writer = std::mem::replace(
            &mut *self.writer.lock().unwrap_or_else(|e| e.into_inner()),
            Writer::Closed,
        );
        if let Writer::Running { queue, task } = writer {
            drop(queue);
            match tokio::time::timeout(WRITE_TIMEOUT, task).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!(error = %e, "session history writer failed"),
                Err(_) => warn!(
                    timeout = ?WRITE_TIMEOUT,
                    "session records are still being written; not waiting any longer"
                ),
            }
        }
    }

    /// Queues the record of a session that just opened; written in the background.
    pub(crate) fn record_open(&self, record: SessionRecord) {
        if !self.queue(Queued {
            record,
            done: None,
            purge_at: None,
        }) {
            warn!("cannot record the session: the session history writer is gone");
        }
    }

    /// Queues the final record of a session (written after its open record, queued
    /// earlier) and waits until it is durable, at most [`WRITE_TIMEOUT`]; the write itself
    /// goes on. Purges old records when the last purge is more than a day old.
    pub(crate) async fn record_close(&self, record: SessionRecord) {
        let now = crate::now_micros();
        let last = self.last_purge.load(Ordering::Relaxed);
        // Only one ending session wins the daily purge.
        let purge_due = now.saturating_sub(last) > DAY_MICROS
            && self
                .last_purge
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        let (done, written) = oneshot::channel();
        if !self.queue(Queued {
            record,
            done: Some(done),
            purge_at: purge_due.then_some(now),
        }) {
            warn!("cannot record the end of the session: the session history writer is gone");
            return;
        }
        match tokio::time::timeout(WRITE_TIMEOUT, written).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => warn!("the session history writer stopped before writing the record"),
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

/// The writer task: writes what is queued in batches, in queue order, one durable store
/// write per batch; ends when every sender is dropped and the queue is empty.
async fn write_loop(store: Arc<dyn Store>, mut rx: mpsc::UnboundedReceiver<Queued>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let mut records = Vec::with_capacity(batch.len());
        let mut notify = Vec::new();
        let mut purge_at = None;
        for q in batch.drain(..) {
            records.push(q.record);
            notify.extend(q.done);
            purge_at = purge_at.or(q.purge_at);
        }
        let store = store.clone();
        let n = records.len();
        let result = tokio::task::spawn_blocking(move || {
            if let Err(e) = store.put_sessions(&records) {
                warn!(error = %e, records = n, "cannot write session records to the store");
            }
            if let Some(now) = purge_at {
                purge(store.as_ref(), now);
            }
        })
        .await;
        if let Err(e) = result {
            warn!(error = %e, records = n, "session record write task failed");
        }
        for done in notify {
            // The session may have stopped waiting (timeout): nothing to tell then.
            let _ = done.send(());
        }
    }
}
