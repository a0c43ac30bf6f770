//! Transaction (protocol 18): StartTransaction, CommitTransaction, RollbackTransaction
//! (13-transaction.md). The policy itself lives in [`crate::access`]; this module opens
//! and ends the session's transaction. `docs/design/transactions.md` has the whole
//! concurrency story.
//!
//! * **StartTransaction** `dataspaceUris`: `[]` covers every dataspace, `""` or `eml:///`
//!   the default one, anything else must be a dataspace URI (otherwise ProtocolException
//!   `EINVALID_URI`, 9, and nothing starts). A session holds one transaction at a time
//!   (`MaxTransactionCount` = 1): a second StartTransaction gets
//!   `EMAX_TRANSACTIONS_EXCEEDED` (15).
//!   - read-write: takes the writer lock of its dataspaces, waiting up to
//!     `write_lock_wait_secs` for another session's writer, then 15 (the code pyetp's
//!     `debounce` retries on). The store transaction is opened only once the lock is held,
//!     so it starts from the latest commit of its dataspaces.
//!   - read-only: one snapshot of the committed state for all its reads; no lock, never
//!     waits. Writes inside it get `EINVALID_STATE` (8).
//!   - Dataspaces that do not exist are accepted (decided): the lock is on the path, not
//!     on a record, so a transaction may create its dataspace (PutDataspaces) and delete
//!     it again. A missing dataspace is reported by the requests that need it.
//! * **CommitTransaction** applies every write at once and durably (`WriteTxn::commit`,
//!   fsync'd, on a blocking thread), then releases the lock. A store failure answers
//!   `successful = false` with the reason; nothing was applied. An unknown or expired
//!   uuid answers `successful = false` with a reason rather than a ProtocolException,
//!   because pyetp only accepts a CommitTransactionResponse (13 §2); the session's open
//!   transaction, if it has another id, is left untouched.
//! * **RollbackTransaction** discards every write and answers `successful = true`
//!   (`successful = false` for an unknown uuid).
//! * **TransactionTimeoutPeriod** (`transaction_timeout_secs`, 0 = never): measured from
//!   StartTransaction; on expiry the transaction is rolled back and its lock released, and
//!   a later Commit/Rollback of it answers `successful = false`.
//! * **Not emulated** (decided): the OSDU server's commit-time referential-integrity check
//!   (13 §3). ETP lets a store hold objects whose references point nowhere (clients upload
//!   in any order; auto-committed deletes leave dangling references too), so rejecting
//!   them only at commit would make the same writes succeed or fail depending on whether a
//!   transaction wrapped them. Nor is the OSDU "broken session after a failed commit"
//!   quirk: after any commit answer the session can start a new transaction.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use etp_protocol::codec::Map;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::DataValue;
use etp_protocol::types::protocol::transaction::{
    CommitTransactionResponse, RollbackTransactionResponse, StartTransaction,
    StartTransactionResponse, TransactionMessage,
};
use etp_protocol::uri::DataspaceUri;
use etp_protocol::{EtpString, Uuid};
use etp_store::LockScope;
use tracing::{debug, warn};

use super::{HandlerFuture, ProtocolHandler, Request};
use crate::access::{DataAccess, ExpiryTimer, OpenTransaction, TxnView, drop_view_off_thread};
use crate::config::ServerConfig;
use crate::session::{Responder, SessionClosed, SessionContext};

/// Transactions one session may have open at once (`MaxTransactionCount`).
pub const MAX_TRANSACTION_COUNT: i64 = 1;

/// Longest `StartTransaction.message` kept for the logs; the rest is cut.
const MAX_LOGGED_MESSAGE: usize = 256;

/// The Transaction protocol over the store behind a [`DataAccess`].
pub struct TransactionHandler {
    access: Arc<DataAccess>,
    /// `TransactionTimeoutPeriod`; `None` = transactions never expire.
    timeout: Option<Duration>,
}

impl TransactionHandler {
    /// A handler whose transactions are rolled back `timeout_secs` after they start
    /// (never if 0).
    pub fn new(access: Arc<DataAccess>, timeout_secs: u64) -> Self {
        TransactionHandler {
            access,
            timeout: (timeout_secs > 0).then(|| Duration::from_secs(timeout_secs)),
        }
    }
}

impl ProtocolHandler for TransactionHandler {
    fn protocol(&self) -> i32 {
        18
    }

    fn capabilities(&self, config: &ServerConfig) -> Map<DataValue> {
        let mut caps = Map::new();
        caps.insert(
            "MaxTransactionCount".into(),
            DataValue::long(MAX_TRANSACTION_COUNT),
        );
        caps.insert(
            "TransactionTimeoutPeriod".into(),
            DataValue::long(i64::try_from(config.transaction_timeout_secs).unwrap_or(i64::MAX)),
        );
        caps
    }

    fn handle(
        self: Arc<Self>,
        session: Arc<SessionContext>,
        request: Request,
        responder: Responder,
    ) -> HandlerFuture {
        Box::pin(async move {
            let result = match request.body.into_body() {
                Body::Transaction(TransactionMessage::StartTransaction(m)) => {
                    self.start(&session, m, responder).await
                }
                Body::Transaction(TransactionMessage::CommitTransaction(m)) => {
                    self.commit(&session, m.transaction_uuid, responder).await
                }
                Body::Transaction(TransactionMessage::RollbackTransaction(m)) => {
                    self.rollback(&session, m.transaction_uuid, responder).await
                }
                other => super::not_a_request(responder, "Transaction", &other).await,
            };
            // A closed session cannot be answered; its transaction is rolled back at
            // session end.
            let _ = result;
        })
    }
}

impl TransactionHandler {
    async fn start(
        &self,
        session: &Arc<SessionContext>,
        m: StartTransaction,
        responder: Responder,
    ) -> Result<(), SessionClosed> {
        let scope = match parse_scope(&m.dataspace_uris) {
            Ok(scope) => scope,
            Err(message) => return responder.error(ErrorCode::EINVALID_URI, message).await,
        };
        // Checked before waiting for a lock so that the common mistake is answered at once;
        // checked again below, because the slot is not held while waiting.
        if session.transaction.lock().await.is_some() {
            return responder
                .error(ErrorCode::EMAX_TRANSACTIONS_EXCEEDED, ALREADY_OPEN)
                .await;
        }
        let view = match self.open_view(session, &scope, m.read_only).await {
            Ok(view) => view,
            Err(Refusal::Exception(code, message)) => return responder.error(code, message).await,
            Err(Refusal::Failed(reason)) => {
                return responder
                    .reply(StartTransactionResponse {
                        transaction_uuid: Uuid::NIL,
                        successful: false,
                        failure_reason: reason.into(),
                    })
                    .await;
            }
        };
        let id = Uuid::new_v4();
        let mut slot = session.transaction.lock().await;
        if slot.is_some() {
            drop(slot);
            drop_view_off_thread(view);
            return responder
                .error(ErrorCode::EMAX_TRANSACTIONS_EXCEEDED, ALREADY_OPEN)
                .await;
        }
        // Spawned while the slot is held: the timer cannot look before the transaction is in.
        let expiry = self
            .timeout
            .map(|after| spawn_expiry(Arc::downgrade(session), id, after));
        let message = cut(&m.message);
        debug!(session = %session.session_id, transaction = %id, ?scope, read_only = m.read_only, %message, "transaction started");
        *slot = Some(OpenTransaction {
            id,
            scope,
            message,
            started: Instant::now(),
            view: Some(view),
            expiry,
        });
        drop(slot);
        responder
            .reply(StartTransactionResponse {
                transaction_uuid: id,
                successful: true,
                failure_reason: String::new().into(),
            })
            .await
    }

    /// The store side of a new transaction: a snapshot, or the writer lock and then a
    /// write transaction (opened after the lock so it sees the last commit).
    async fn open_view(
        &self,
        session: &SessionContext,
        scope: &LockScope,
        read_only: bool,
    ) -> Result<TxnView, Refusal> {
        let store = self.access.store().clone();
        if read_only {
            return super::blocking(move || store.read())
                .await
                .map(TxnView::ReadOnly)
                .map_err(|(_, message)| Refusal::Failed(message));
        }
        let guard = self
            .access
            .lock_for_transaction(scope.clone(), session.session_id)
            .await
            .map_err(|(code, message)| Refusal::Exception(code, message))?;
        // On failure the guard is dropped here, releasing the lock.
        let txn = super::blocking(move || store.write())
            .await
            .map_err(|(_, message)| Refusal::Failed(message))?;
        Ok(TxnView::ReadWrite { txn, guard })
    }

    async fn commit(
        &self,
        session: &SessionContext,
        id: Uuid,
        responder: Responder,
    ) -> Result<(), SessionClosed> {
        // The slot stays locked until the commit is durable: a request the session sends
        // after CommitTransaction runs after it.
        let mut slot = session.transaction.lock().await;
        let Some(mut open) = slot.take_if(|open| open.id == id) else {
            let reason = self.not_open(slot.as_ref(), id);
            drop(slot);
            return responder
                .reply(CommitTransactionResponse {
                    transaction_uuid: id,
                    successful: false,
                    failure_reason: reason.into(),
                })
                .await;
        };
        let outcome = match open.view.take() {
            None => Err(LOST.to_owned()),
            Some(TxnView::ReadOnly(snapshot)) => {
                drop(snapshot);
                Ok(())
            }
            Some(TxnView::ReadWrite { txn, guard }) => {
                let committed = super::blocking(move || {
                    let result = txn.commit();
                    // Released only once the commit is durable (or failed): the next
                    // writer starts from it.
                    drop(guard);
                    result
                })
                .await;
                committed.map_err(|(_, message)| {
                    format!("the commit failed and nothing was applied: {message}")
                })
            }
        };
        drop(open);
        drop(slot);
        let (successful, failure_reason) = match outcome {
            Ok(()) => {
                debug!(session = %session.session_id, transaction = %id, "transaction committed");
                (true, String::new())
            }
            Err(reason) => {
                warn!(session = %session.session_id, transaction = %id, %reason, "commit failed");
                (false, reason)
            }
        };
        responder
            .reply(CommitTransactionResponse {
                transaction_uuid: id,
                successful,
                failure_reason: failure_reason.into(),
            })
            .await
    }

    async fn rollback(
        &self,
        session: &SessionContext,
        id: Uuid,
        responder: Responder,
    ) -> Result<(), SessionClosed> {
        let mut slot = session.transaction.lock().await;
        let Some(mut open) = slot.take_if(|open| open.id == id) else {
            let reason = self.not_open(slot.as_ref(), id);
            drop(slot);
            return responder
                .reply(RollbackTransactionResponse {
                    transaction_uuid: id,
                    successful: false,
                    failure_reason: reason.into(),
                })
                .await;
        };
        // A lost view was already dropped, and so rolled back, with the request that lost it.
        if let Some(view) = open.view.take() {
            // Awaited so that the lock is free when the answer arrives.
            let discarded = super::blocking(move || match view {
                TxnView::ReadOnly(_) => Ok(()),
                TxnView::ReadWrite { txn, guard } => {
                    let result = txn.rollback();
                    drop(guard);
                    result
                }
            })
            .await;
            // Nothing of an uncommitted transaction is visible whatever happened here;
            // a failure only leaves storage for the next open to reclaim.
            if let Err((_, message)) = discarded {
                warn!(session = %session.session_id, transaction = %id, %message, "rollback cleanup failed");
            }
        }
        drop(open);
        drop(slot);
        debug!(session = %session.session_id, transaction = %id, "transaction rolled back");
        responder
            .reply(RollbackTransactionResponse {
                transaction_uuid: id,
                successful: true,
                failure_reason: String::new().into(),
            })
            .await
    }

    /// Why `id` is not the session's open transaction, for `failureReason`.
    fn not_open(&self, open: Option<&OpenTransaction>, id: Uuid) -> String {
        match (open, self.timeout) {
            (Some(open), _) => format!(
                "transaction {id} is not open in this session (the open one is {})",
                open.id
            ),
            (None, Some(timeout)) => format!(
                "transaction {id} is not open in this session: it was already committed or \
                 rolled back, or it expired (TransactionTimeoutPeriod = {} s)",
                timeout.as_secs()
            ),
            (None, None) => format!(
                "transaction {id} is not open in this session: it was already committed or \
                 rolled back"
            ),
        }
    }
}

const ALREADY_OPEN: &str =
    "a transaction is already open in this session (MaxTransactionCount = 1)";

const LOST: &str = "the transaction was lost after an internal error and rolled back";

/// Why a transaction could not start.
enum Refusal {
    /// A ProtocolException (the request cannot be served now: busy dataspace).
    Exception(ErrorCode, String),
    /// `StartTransactionResponse.successful = false` (the store failed).
    Failed(String),
}

/// The dataspaces of `StartTransaction.dataspaceUris`, as lock scope.
fn parse_scope(uris: &[EtpString]) -> Result<LockScope, String> {
    if uris.is_empty() {
        return Ok(LockScope::All);
    }
    let mut paths = Vec::with_capacity(uris.len());
    for uri in uris {
        // `""` is the schema default, meaning the default dataspace.
        if uri.is_empty() {
            paths.push(String::new());
            continue;
        }
        let dataspace = DataspaceUri::parse(uri)
            .map_err(|e| format!("invalid dataspace URI {uri:?} in dataspaceUris: {e}"))?;
        paths.push(dataspace.path_or_empty().to_owned());
    }
    paths.sort_unstable();
    paths.dedup();
    Ok(LockScope::Paths(paths))
}

/// Rolls back transaction `id` of `session` after `after`, unless it ended before (then
/// the returned timer, dropped with the transaction, has cancelled the task).
fn spawn_expiry(session: Weak<SessionContext>, id: Uuid, after: Duration) -> ExpiryTimer {
    // Weak: an expiry must not keep an ended session alive.
    let task = tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let Some(session) = session.upgrade() else {
            return;
        };
        let mut slot = session.transaction.lock().await;
        let Some(mut open) = slot.take_if(|open| open.id == id) else {
            return;
        };
        drop(slot);
        // This task is the timer: dropping it armed would abort the task running here.
        if let Some(timer) = open.expiry.take() {
            timer.disarm();
        }
        if let Some(view) = open.view.take() {
            drop_view_off_thread(view);
        }
        warn!(
            session = %session.session_id,
            transaction = %id,
            message = %open.message,
            timeout_secs = after.as_secs(),
            "transaction rolled back after TransactionTimeoutPeriod"
        );
    });
    ExpiryTimer::new(task.abort_handle())
}

/// `text` cut to [`MAX_LOGGED_MESSAGE`] bytes at a character boundary.
fn cut(text: &str) -> String {
    if text.len() <= MAX_LOGGED_MESSAGE {
        return text.to_owned();
    }
    let mut end = MAX_LOGGED_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_of_dataspace_uris() {
        assert_eq!(parse_scope(&[]), Ok(LockScope::All));
        assert_eq!(
            parse_scope(&[EtpString::new()]),
            Ok(LockScope::Paths(vec![String::new()]))
        );
        assert_eq!(
            parse_scope(&[
                "eml:///dataspace('b')".into(),
                "eml:///".into(),
                "eml:///dataspace('a/x')".into(),
                "eml:///dataspace('b')".into(),
            ]),
            Ok(LockScope::Paths(vec![
                String::new(),
                "a/x".into(),
                "b".into()
            ]))
        );
        assert!(parse_scope(&["not a uri".into()]).is_err());
        assert!(
            parse_scope(&["eml:///dataspace('a')/resqml20.obj_Grid2dRepresentation(\
                 0b5bb0a8-2f7a-4b1a-9d4e-4a1b6c1b2c3d)"
                .into()])
            .is_err()
        );
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        assert_eq!(cut("short"), "short");
        let long = "é".repeat(MAX_LOGGED_MESSAGE);
        let kept = cut(&long);
        assert!(kept.len() <= MAX_LOGGED_MESSAGE + "…".len());
        assert!(kept.ends_with('…'));
    }
}
