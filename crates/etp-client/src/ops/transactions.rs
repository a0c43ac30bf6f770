//! Transaction (protocol 18): start, commit, roll back, and [`in_transaction`] to run a
//! piece of work atomically (13-transaction.md).
//!
//! A session has at most one open transaction; every write sent on the session between
//! start and commit belongs to it. The store answers `successful = false` with a reason
//! instead of a ProtocolException in most failures (pyetp relies on it); both become
//! errors here.

use std::future::Future;

use etp_protocol::Uuid;
use etp_protocol::types::protocol::transaction::{
    CommitTransaction, CommitTransactionResponse, RollbackTransaction, RollbackTransactionResponse,
    StartTransaction, StartTransactionResponse,
};

use super::OpsError;
use crate::Client;

/// How to start a transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionOptions {
    /// The dataspace URIs the transaction covers; empty for all dataspaces (ETP's rule).
    pub dataspace_uris: Vec<String>,
    /// A read transaction: no writes allowed.
    pub read_only: bool,
    /// Free text describing the transaction (a commit message).
    pub message: String,
}

impl TransactionOptions {
    /// A read-write transaction over one dataspace.
    pub fn write(dataspace_uri: impl Into<String>) -> TransactionOptions {
        TransactionOptions {
            dataspace_uris: vec![dataspace_uri.into()],
            ..TransactionOptions::default()
        }
    }
}

/// Starts a transaction and returns its UUID. Fails with [`OpsError::Transaction`] when
/// the store says `successful = false`, and with the ProtocolException otherwise (e.g.
/// EMAX_TRANSACTIONS_EXCEEDED (15) when one is already open or another session writes to
/// the dataspace).
pub async fn start_transaction(
    client: &Client,
    options: &TransactionOptions,
) -> Result<Uuid, OpsError> {
    let response: StartTransactionResponse = client
        .request_one(StartTransaction {
            read_only: options.read_only,
            message: options.message.clone().into(),
            dataspace_uris: options.dataspace_uris.iter().map(Into::into).collect(),
        })
        .await?;
    if !response.successful {
        return Err(OpsError::Transaction {
            action: "start",
            reason: response.failure_reason.to_string(),
        });
    }
    Ok(response.transaction_uuid)
}

/// Commits: every write of the transaction becomes visible at once, or none does.
pub async fn commit_transaction(client: &Client, transaction: Uuid) -> Result<(), OpsError> {
    let response: CommitTransactionResponse = client
        .request_one(CommitTransaction {
            transaction_uuid: transaction,
        })
        .await?;
    if !response.successful {
        return Err(OpsError::Transaction {
            action: "commit",
            reason: response.failure_reason.to_string(),
        });
    }
    Ok(())
}

/// Rolls back: every write of the transaction is discarded.
pub async fn rollback_transaction(client: &Client, transaction: Uuid) -> Result<(), OpsError> {
    let response: RollbackTransactionResponse = client
        .request_one(RollbackTransaction {
            transaction_uuid: transaction,
        })
        .await?;
    if !response.successful {
        return Err(OpsError::Transaction {
            action: "rollback",
            reason: response.failure_reason.to_string(),
        });
    }
    Ok(())
}

/// Runs `work` inside a transaction: starts it, commits when `work` succeeds, rolls back
/// when it fails (the rollback's own failure is logged, and `work`'s error returned).
/// `work` receives a handle on the same session, which is what binds its writes to the
/// transaction.
///
/// If the returned future is dropped midway, the transaction stays open until the
/// session ends (the store then rolls it back).
pub async fn in_transaction<T, E, F, Fut>(
    client: &Client,
    options: &TransactionOptions,
    work: F,
) -> Result<T, E>
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: From<OpsError>,
{
    let transaction = start_transaction(client, options).await?;
    match work(client.clone()).await {
        Ok(value) => {
            commit_transaction(client, transaction).await?;
            Ok(value)
        }
        Err(error) => {
            if let Err(rollback) = rollback_transaction(client, transaction).await {
                tracing::warn!(%transaction, "rollback after a failure failed: {rollback}");
            }
            Err(error)
        }
    }
}
