//! How protocol handlers reach the store: every read and write goes through [`DataAccess`],
//! which decides whether it runs inside the session's open transaction (Transaction,
//! protocol 18) or on its own.
//!
//! Policy (13-transaction.md), in one place so that Store, DataArray and Transaction agree:
//!
//! * **One writer per dataspace.** A read-write transaction takes the writer lock of its
//!   dataspaces at StartTransaction and keeps it until commit, rollback, timeout or session
//!   end. Writes outside a transaction are auto-committed, one transaction per request,
//!   under the same lock. A write that finds the dataspace locked by another session waits
//!   up to `write_lock_wait_secs`, then gets `EMAX_TRANSACTIONS_EXCEEDED` (15), the code
//!   pyetp retries on. Because every writer holds the lock, commits never conflict.
//! * **Inside a transaction** a request on a dataspace the transaction covers reads and
//!   writes the transaction (so it sees its own pending writes); a request on a dataspace
//!   outside its scope is executed on its own (read on a snapshot, write auto-committed).
//!   Writes inside a read-only transaction get `EINVALID_STATE` (8).
//! * Readers never wait: they read the last committed state on a snapshot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use etp_protocol::Uuid;
use etp_protocol::error_code::ErrorCode;
use etp_store::{DataspaceGuard, DataspaceLocks, LockScope, ReadTxn, Store, WriteTxn};
use tokio::sync::Notify;

use crate::handlers::store_error;

/// Why a store access failed: the ETP error code and a message for the client.
pub type Failure = (ErrorCode, String);

/// The store, the dataspace writer locks and the waiting policy; shared by all handlers.
pub struct DataAccess {
    store: Arc<dyn Store>,
    locks: DataspaceLocks,
    /// Wakes writers waiting for a dataspace when a [`WriterLock`] is released.
    released: Arc<Notify>,
    lock_wait: Duration,
}

/// A dataspace writer lock taken through [`DataAccess`]; releasing it wakes the writers
/// waiting for a dataspace.
pub struct WriterLock {
    guard: Option<DataspaceGuard>,
    released: Arc<Notify>,
}

impl std::fmt::Debug for WriterLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterLock")
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // Released first, so the woken writers find it free.
        drop(self.guard.take());
        self.released.notify_waiters();
    }
}

impl std::fmt::Debug for DataAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataAccess")
            .field("lock_wait", &self.lock_wait)
            .finish_non_exhaustive()
    }
}

/// The transaction a session has open (at most one: `MaxTransactionCount` = 1).
pub struct OpenTransaction {
    /// `StartTransactionResponse.transactionUuid`.
    pub id: Uuid,
    /// The dataspaces it covers.
    pub scope: LockScope,
    /// `StartTransaction.message`, for logs.
    pub message: String,
    /// When it started (for `TransactionTimeoutPeriod`).
    pub started: Instant,
    /// The store transaction. `None` only while a request is using it on a blocking thread
    /// or after that request panicked (then the transaction is lost and reported so).
    pub view: Option<TxnView>,
    /// The task that rolls the transaction back after `TransactionTimeoutPeriod`; dropping
    /// it with the transaction (commit, rollback, session end) cancels it, so ended
    /// transactions leave no sleeping task behind.
    pub expiry: Option<ExpiryTimer>,
}

/// Cancels a transaction's expiry task when dropped.
#[derive(Debug)]
pub struct ExpiryTimer(Option<tokio::task::AbortHandle>);

impl ExpiryTimer {
    /// Wraps the handle of the expiry task.
    pub fn new(task: tokio::task::AbortHandle) -> Self {
        ExpiryTimer(Some(task))
    }

    /// Lets the task run on (the expiry task itself, when it fires).
    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for ExpiryTimer {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

impl std::fmt::Debug for OpenTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenTransaction")
            .field("id", &self.id)
            .field("scope", &self.scope)
            .field("read_only", &self.is_read_only())
            .finish_non_exhaustive()
    }
}

impl OpenTransaction {
    /// Whether this is a read-only transaction.
    pub fn is_read_only(&self) -> bool {
        matches!(self.view, Some(TxnView::ReadOnly(_)))
    }

    /// Whether the transaction covers the dataspace `path` (`""` = default dataspace).
    pub fn covers(&self, path: &str) -> bool {
        match &self.scope {
            LockScope::All => true,
            LockScope::Paths(paths) => paths.iter().any(|p| p == path),
        }
    }
}

/// The store side of an open transaction.
pub enum TxnView {
    /// A read-only transaction: one snapshot for all its reads.
    ReadOnly(Box<dyn ReadTxn>),
    /// A read-write transaction and the writer lock of its dataspaces.
    ReadWrite {
        /// Pending writes; applied at commit.
        txn: Box<dyn WriteTxn>,
        /// Released when the transaction ends.
        guard: WriterLock,
    },
}

/// The per-session slot holding the open transaction, if any.
#[derive(Debug, Default)]
pub struct TransactionSlot {
    inner: tokio::sync::Mutex<Option<OpenTransaction>>,
}

impl TransactionSlot {
    /// Locks the slot. Held across a whole request that uses the transaction, so requests
    /// of one session on its transaction run one after the other.
    pub async fn lock(&self) -> tokio::sync::MutexGuard<'_, Option<OpenTransaction>> {
        self.inner.lock().await
    }

    /// Ends the open transaction, if any, without applying it (session end, timeout).
    /// Returns its id.
    pub async fn abort(&self) -> Option<Uuid> {
        let open = self.inner.lock().await.take()?;
        let id = open.id;
        if let Some(view) = open.view {
            drop_view_off_thread(view);
        }
        Some(id)
    }
}

/// Rolls back a transaction view on a blocking thread (dropping a store transaction may
/// do I/O, e.g. reclaim array chunks written out of place).
pub fn drop_view_off_thread(view: TxnView) {
    tokio::task::spawn_blocking(move || match view {
        TxnView::ReadOnly(r) => drop(r),
        TxnView::ReadWrite { txn, guard } => {
            let _ = txn.rollback();
            drop(guard);
        }
    });
}

impl DataAccess {
    /// Access to `store`, with writers waiting up to `lock_wait` for a busy dataspace.
    pub fn new(store: Arc<dyn Store>, lock_wait: Duration) -> Self {
        DataAccess {
            store,
            locks: DataspaceLocks::new(),
            released: Arc::new(Notify::new()),
            lock_wait,
        }
    }

    /// The store itself, for work that is not part of any session (maintenance).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The dataspace writer locks.
    pub fn locks(&self) -> &DataspaceLocks {
        &self.locks
    }

    /// How long writers wait for a busy dataspace.
    pub fn lock_wait(&self) -> Duration {
        self.lock_wait
    }

    /// Runs `work` on a read view of `dataspace`: the session's open transaction if it
    /// covers it, otherwise a snapshot of the committed state. `work` runs on the
    /// blocking pool.
    pub async fn read<T: Send + 'static>(
        &self,
        slot: &TransactionSlot,
        dataspace: &str,
        work: impl FnOnce(&dyn ReadTxn) -> etp_store::Result<T> + Send + 'static,
    ) -> Result<T, Failure> {
        self.read_on(Place::BlockingPool, slot, dataspace, work)
            .await
    }

    /// [`read`](Self::read), with `work` run on the calling async worker. Only for work
    /// the caller bounds to a few point reads of small records (a GetDataObjects of one
    /// small object): the hand-off to the blocking pool and back, two thread wake-ups,
    /// costs more than such a read from the store's cache.
    pub async fn read_inline<T: Send + 'static>(
        &self,
        slot: &TransactionSlot,
        dataspace: &str,
        work: impl FnOnce(&dyn ReadTxn) -> etp_store::Result<T> + Send + 'static,
    ) -> Result<T, Failure> {
        self.read_on(Place::Inline, slot, dataspace, work).await
    }

    /// [`read`](Self::read) for a bounded read that is often in the page cache (a block
    /// of an array): `make()`'s work runs first on the calling async worker under
    /// [`etp_store::without_waiting`], and only if it would wait for the disk a second
    /// `make()` runs on the blocking pool. Skipping the hand-off to the pool and back
    /// (two thread wake-ups per request) took about 10 % off the server's CPU in a DataArray
    /// get of 1 MiB blocks. `make` must build the same work each time.
    pub async fn read_cached<T: Send + 'static, W>(
        &self,
        slot: &TransactionSlot,
        dataspace: &str,
        make: impl Fn() -> W,
    ) -> Result<T, Failure>
    where
        W: FnOnce(&dyn ReadTxn) -> etp_store::Result<T> + Send + 'static,
    {
        let work = make();
        let first = self
            .read_on(Place::Inline, slot, dataspace, move |txn| {
                Ok(etp_store::without_waiting(|| work(txn)))
            })
            .await?;
        match first {
            Err(etp_store::StoreError::WouldBlock) => {
                self.read_on(Place::BlockingPool, slot, dataspace, make())
                    .await
            }
            done => done.map_err(|e| store_error(&e)),
        }
    }

    async fn read_on<T: Send + 'static>(
        &self,
        place: Place,
        slot: &TransactionSlot,
        dataspace: &str,
        work: impl FnOnce(&dyn ReadTxn) -> etp_store::Result<T> + Send + 'static,
    ) -> Result<T, Failure> {
        let mut guard = slot.lock().await;
        match guard.as_mut() {
            Some(open) if open.covers(dataspace) => {
                let view = take_view(open)?;
                let (view, result) = place
                    .run(move || {
                        let result = match &view {
                            TxnView::ReadOnly(r) => work(r.as_ref()),
                            TxnView::ReadWrite { txn, .. } => work(txn.as_ref()),
                        };
                        (view, result)
                    })
                    .await?;
                open.view = Some(view);
                result.map_err(|e| store_error(&e))
            }
            _ => {
                drop(guard);
                let store = self.store.clone();
                place
                    .run(move || work(store.read()?.as_ref()))
                    .await?
                    .map_err(|e| store_error(&e))
            }
        }
    }

    /// Runs `work` on a write view of `dataspaces` (paths; `""` = default dataspace):
    /// inside the session's open read-write transaction if it covers them, otherwise as a
    /// transaction of its own under their writer locks, committed before returning
    /// (and rolled back if `work` fails). `owner` identifies the session for the locks.
    pub async fn write<T: Send + 'static>(
        &self,
        slot: &TransactionSlot,
        owner: Uuid,
        dataspaces: &[String],
        work: impl FnOnce(&mut dyn WriteTxn) -> etp_store::Result<T> + Send + 'static,
    ) -> Result<T, Failure> {
        self.write_on(Place::BlockingPool, slot, owner, dataspaces, work)
            .await
    }

    /// [`write`](Self::write), with `work` run on the calling async worker when it goes
    /// into the session's open transaction. Only for work the caller bounds to a few small
    /// records (a PutDataObjects of one small object): such a write only adds to the
    /// transaction's pending set in memory (plus point reads of cached index records),
    /// while the hand-off to the blocking pool and back costs two thread wake-ups, more
    /// than the write. An auto-committed write still runs on the blocking pool: its
    /// commit waits for the disk (fsync).
    pub async fn write_inline<T: Send + 'static>(
        &self,
        slot: &TransactionSlot,
        owner: Uuid,
        dataspaces: &[String],
        work: impl FnOnce(&mut dyn WriteTxn) -> etp_store::Result<T> + Send + 'static,
    ) -> Result<T, Failure> {
        self.write_on(Place::Inline, slot, owner, dataspaces, work)
            .await
    }

    async fn write_on<T: Send + 'static>(
        &self,
        place: Place,
        slot: &TransactionSlot,
        owner: Uuid,
        dataspaces: &[String],
        work: impl FnOnce(&mut dyn WriteTxn) -> etp_store::Result<T> + Send + 'static,
    ) -> Result<T, Failure> {
        let mut guard = slot.lock().await;
        if let Some(open) = guard.as_mut() {
            let covered = dataspaces.iter().filter(|d| open.covers(d)).count();
            if covered > 0 && covered < dataspaces.len() {
                return Err((
                    ErrorCode::EINVALID_STATE,
                    "a request may not mix dataspaces inside and outside the open transaction"
                        .into(),
                ));
            }
            if covered > 0 {
                if open.is_read_only() {
                    return Err((
                        ErrorCode::EINVALID_STATE,
                        "the open transaction is read-only".into(),
                    ));
                }
                let view = take_view(open)?;
                let (view, result) = place
                    .run(move || {
                        let mut view = view;
                        let result = match &mut view {
                            TxnView::ReadWrite { txn, .. } => work(txn.as_mut()),
                            // Checked above: the view is read-write.
                            TxnView::ReadOnly(_) => Err(etp_store::StoreError::InvalidArgument(
                                "read-only transaction".into(),
                            )),
                        };
                        (view, result)
                    })
                    .await?;
                open.view = Some(view);
                return result.map_err(|e| store_error(&e));
            }
        }
        drop(guard);
        // A request whose every key was rejected names no dataspace and writes nothing: it
        // must not wait for (or be refused because of) a transaction covering all
        // dataspaces, the session's own included.
        let lock = if dataspaces.is_empty() {
            None
        } else {
            Some(
                self.acquire(&LockScope::Paths(dataspaces.to_vec()), owner)
                    .await?,
            )
        };
        let store = self.store.clone();
        run_blocking(move || {
            // Held until the commit is durable; a panic below releases it while unwinding.
            let _lock = lock;
            let mut txn = store.write().map_err(|e| store_error(&e))?;
            let value = work(txn.as_mut()).map_err(|e| store_error(&e))?;
            txn.commit().map_err(|e| store_error(&e))?;
            Ok(value)
        })
        .await?
    }

    /// Takes the writer lock of `scope` for a read-write transaction, waiting up to the
    /// configured time; `EMAX_TRANSACTIONS_EXCEEDED` if it stays busy.
    pub async fn lock_for_transaction(
        &self,
        scope: LockScope,
        owner: Uuid,
    ) -> Result<WriterLock, Failure> {
        self.acquire(&scope, owner).await
    }

    /// Takes the writer lock of `scope`, waiting up to the configured time. The wait is on
    /// a task, not a blocking thread: every session may have dozens of writes queued
    /// behind one transaction, and parked blocking threads would exhaust the pool all
    /// store work runs on. Every waiter is woken at each release, as with a condition
    /// variable (no FIFO order).
    async fn acquire(&self, scope: &LockScope, owner: Uuid) -> Result<WriterLock, Failure> {
        let deadline = tokio::time::Instant::now() + self.lock_wait;
        loop {
            // Registered before trying, so a release in between is not missed.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if let Ok(guard) = self.locks.try_lock(scope, lock_owner(owner)) {
                return Ok(WriterLock {
                    guard: Some(guard),
                    released: self.released.clone(),
                });
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(busy(self.lock_wait));
            }
            // Also retried now and then: a lock taken through `locks()` directly is
            // released without waking anyone.
            let _ = tokio::time::timeout((deadline - now).min(LOCK_RETRY), released).await;
        }
    }
}

/// Longest a waiting writer goes without retrying the lock.
const LOCK_RETRY: Duration = Duration::from_millis(100);

/// The lock owner id of a session.
fn lock_owner(session: Uuid) -> u128 {
    u128::from_be_bytes(*session.as_bytes())
}

fn busy(wait: Duration) -> Failure {
    (
        ErrorCode::EMAX_TRANSACTIONS_EXCEEDED,
        format!(
            "another session is writing this dataspace (waited {} s); retry later",
            wait.as_secs()
        ),
    )
}

fn take_view(open: &mut OpenTransaction) -> Result<TxnView, Failure> {
    open.view.take().ok_or_else(|| {
        (
            ErrorCode::EINVALID_STATE,
            "the open transaction was lost after an internal error; roll it back".into(),
        )
    })
}

/// Where store work runs.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// On the blocking pool: the default, for anything that may read much or wait on I/O.
    BlockingPool,
    /// On the async worker that asks, for small bounded reads (see
    /// [`DataAccess::read_inline`]).
    Inline,
}

impl Place {
    /// Runs `work` here; a panic becomes an error answer in both places.
    async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Failure> {
        match self {
            Place::BlockingPool => run_blocking(work).await,
            Place::Inline => {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|_| {
                    tracing::error!("store work panicked");
                    (
                        ErrorCode::EINVALID_STATE,
                        "internal error: store work panicked".into(),
                    )
                })
            }
        }
    }
}

/// Runs blocking store work on the blocking pool; a panic there becomes an error answer.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        tracing::error!(error = %e, "store task failed");
        (ErrorCode::EINVALID_STATE, format!("internal error: {e}"))
    })
}
