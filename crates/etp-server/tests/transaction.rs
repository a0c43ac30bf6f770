//! Transaction (18) over a real server, with Dataspace (24) requests as the transactional
//! writes: visibility at commit, rollback, session end, the writer lock between sessions,
//! auto-committed writes, expiry, read-only transactions, scopes, and concurrent
//! transactions that must not lose an update.
//!
//! GetDataspaces always lists the committed state, so it is what "another session sees".

mod common;

use std::time::Duration;

use common::TestServer;
use etp_client::{Client, ClientError};
use etp_protocol::Uuid;
use etp_protocol::codec::Map;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::types::datatypes::object::Dataspace;
use etp_protocol::types::protocol::dataspace::{
    DeleteDataspaces, DeleteDataspacesResponse, GetDataspaces, GetDataspacesResponse,
    PutDataspaces, PutDataspacesResponse,
};
use etp_protocol::types::protocol::transaction::{
    CommitTransaction, CommitTransactionResponse, RollbackTransaction, RollbackTransactionResponse,
    StartTransaction, StartTransactionResponse,
};

fn ds(name: &str) -> String {
    format!("eml:///dataspace('{name}')")
}

fn start_message(read_only: bool, scope: &[&str]) -> StartTransaction {
    StartTransaction {
        read_only,
        message: "test".into(),
        dataspace_uris: scope.iter().map(|&s| s.into()).collect(),
    }
}

/// Starts a read-write transaction on `scope` and returns its id.
async fn start(client: &Client, scope: &[&str]) -> Uuid {
    let r = try_start(client, false, scope)
        .await
        .expect("StartTransaction answered");
    assert!(r.successful, "{}", r.failure_reason);
    r.transaction_uuid
}

async fn try_start(
    client: &Client,
    read_only: bool,
    scope: &[&str],
) -> Result<StartTransactionResponse, ClientError> {
    client.request_one(start_message(read_only, scope)).await
}

async fn commit(client: &Client, id: Uuid) -> CommitTransactionResponse {
    let r: CommitTransactionResponse = client
        .request_one(CommitTransaction {
            transaction_uuid: id,
        })
        .await
        .expect("CommitTransaction answered");
    assert_eq!(r.transaction_uuid, id);
    r
}

async fn rollback(client: &Client, id: Uuid) -> RollbackTransactionResponse {
    let r: RollbackTransactionResponse = client
        .request_one(RollbackTransaction {
            transaction_uuid: id,
        })
        .await
        .expect("RollbackTransaction answered");
    assert_eq!(r.transaction_uuid, id);
    r
}

fn put_message(uris: &[&str]) -> PutDataspaces {
    let mut dataspaces = Map::new();
    for uri in uris {
        dataspaces.insert(
            (*uri).into(),
            Dataspace {
                uri: (*uri).into(),
                ..Default::default()
            },
        );
    }
    PutDataspaces { dataspaces }
}

fn delete_message(uris: &[&str]) -> DeleteDataspaces {
    let mut keys = Map::new();
    for uri in uris {
        keys.insert((*uri).into(), (*uri).into());
    }
    DeleteDataspaces { uris: keys }
}

/// Creates dataspaces; every one must succeed.
async fn put(client: &Client, uris: &[&str]) {
    let r: PutDataspacesResponse = client
        .request_one(put_message(uris))
        .await
        .expect("PutDataspaces succeeds");
    assert_eq!(r.success.len(), uris.len());
}

/// Deletes dataspaces; every one must succeed.
async fn delete(client: &Client, uris: &[&str]) {
    let r: DeleteDataspacesResponse = client
        .request_one(delete_message(uris))
        .await
        .expect("DeleteDataspaces succeeds");
    assert_eq!(r.success.len(), uris.len());
}

/// The committed dataspaces, sorted.
async fn listed(client: &Client) -> Vec<String> {
    let parts: Vec<GetDataspacesResponse> = client
        .request_all(GetDataspaces::default())
        .await
        .expect("GetDataspaces succeeds");
    let mut uris: Vec<String> = parts
        .into_iter()
        .flat_map(|p| p.dataspaces)
        .map(|d| d.uri.into())
        .collect();
    uris.sort();
    uris
}

/// The ETP code of a ProtocolException answer.
fn code_of<T: std::fmt::Debug>(result: Result<T, ClientError>) -> ErrorCode {
    match result {
        Err(ClientError::Protocol { code, .. }) => code,
        other => panic!("expected a ProtocolException, got {other:?}"),
    }
}

/// Lets a request reach the server and block there.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn commit_makes_writes_visible_to_other_sessions_only_at_commit() {
    let server = TestServer::start().await;
    let writer = server.client().await;
    let other = server.client().await;
    let x = ds("x");

    let id = start(&writer, &[&x]).await;
    put(&writer, &[&x]).await;
    // Inside the transaction the pending dataspace exists: a second create is refused.
    let again = writer.request(put_message(&[&x])).await.unwrap();
    assert_eq!(again.errors().len(), 1);
    assert_eq!(
        again.errors()[0].1.code,
        ErrorCode::EINVALID_ARGUMENT.code()
    );
    assert!(listed(&other).await.is_empty(), "visible before commit");

    let r = commit(&writer, id).await;
    assert!(r.successful, "{}", r.failure_reason);
    assert_eq!(listed(&other).await, [x]);
    server.stop().await;
}

#[tokio::test]
async fn rollback_discards_and_frees_the_dataspace() {
    let server = TestServer::start_with(|c| c.write_lock_wait_secs = 1).await;
    let writer = server.client().await;
    let other = server.client().await;
    let x = ds("x");

    let id = start(&writer, &[&x]).await;
    put(&writer, &[&x]).await;
    let r = rollback(&writer, id).await;
    assert!(r.successful, "{}", r.failure_reason);
    assert!(listed(&other).await.is_empty());

    // The lock is free at once (the wait is 1 s).
    let id = start(&other, &[&x]).await;
    put(&other, &[&x]).await;
    assert!(commit(&other, id).await.successful);
    assert_eq!(listed(&writer).await, [x]);
    server.stop().await;
}

#[tokio::test]
async fn dropped_connection_rolls_back_and_releases_the_lock() {
    let server = TestServer::start().await;
    let x = ds("x");
    let writer = server.client().await;
    start(&writer, &[&x]).await;
    put(&writer, &[&x]).await;
    drop(writer);

    let other = server.client().await;
    // Would wait the full 10 s and get 15 if the lock stayed with the dead session.
    let id = start(&other, &[&x]).await;
    assert!(listed(&other).await.is_empty());
    // The new transaction starts from a state without the abandoned write.
    put(&other, &[&x]).await;
    assert!(commit(&other, id).await.successful);
    server.stop().await;
}

#[tokio::test]
async fn close_session_rolls_back_and_releases_the_lock() {
    let server = TestServer::start().await;
    let x = ds("x");
    let writer = server.client().await;
    start(&writer, &[&x]).await;
    put(&writer, &[&x]).await;
    writer.close("done").await.unwrap();

    let other = server.client().await;
    let id = start(&other, &[&x]).await;
    assert!(listed(&other).await.is_empty());
    assert!(rollback(&other, id).await.successful);
    server.stop().await;
}

#[tokio::test]
async fn second_writer_waits_for_the_commit_then_starts_from_it() {
    let server = TestServer::start().await;
    let x = ds("x");
    let first = server.client().await;
    let second = server.client().await;

    let id = start(&first, &[&x]).await;
    let waiting = {
        let second = second.clone();
        let x = x.clone();
        tokio::spawn(async move { try_start(&second, false, &[&x]).await })
    };
    settle().await;
    assert!(
        !waiting.is_finished(),
        "started while another session writes"
    );

    put(&first, &[&x]).await;
    assert!(commit(&first, id).await.successful);
    let started = waiting.await.unwrap().expect("StartTransaction answered");
    assert!(started.successful, "{}", started.failure_reason);

    // Its transaction sees the first one's commit.
    delete(&second, &[&x]).await;
    assert!(commit(&second, started.transaction_uuid).await.successful);
    assert!(listed(&first).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn second_writer_gets_15_after_the_lock_wait() {
    let server = TestServer::start_with(|c| c.write_lock_wait_secs = 1).await;
    let x = ds("x");
    let first = server.client().await;
    let second = server.client().await;

    let id = start(&first, &[&x]).await;
    assert_eq!(
        code_of(try_start(&second, false, &[&x]).await),
        ErrorCode::EMAX_TRANSACTIONS_EXCEEDED
    );
    // Other dataspaces are not locked.
    let y = ds("y");
    let other = start(&second, &[&y]).await;
    assert!(rollback(&second, other).await.successful);
    assert!(commit(&first, id).await.successful);
    server.stop().await;
}

#[tokio::test]
async fn auto_committed_write_waits_for_the_transaction() {
    let server = TestServer::start().await;
    let x = ds("x");
    let writer = server.client().await;
    let other = server.client().await;

    let id = start(&writer, &[&x]).await;
    put(&writer, &[&x]).await;
    let deleting = {
        let other = other.clone();
        let x = x.clone();
        tokio::spawn(async move {
            other
                .request_one::<DeleteDataspacesResponse>(delete_message(&[&x]))
                .await
        })
    };
    settle().await;
    assert!(
        !deleting.is_finished(),
        "wrote while a transaction holds the dataspace"
    );

    assert!(commit(&writer, id).await.successful);
    // Run after the commit: the dataspace it created is there to delete.
    let deleted = deleting.await.unwrap().expect("DeleteDataspaces succeeds");
    assert_eq!(deleted.success.len(), 1);
    assert!(listed(&writer).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn auto_committed_write_gets_15_after_the_lock_wait() {
    let server = TestServer::start_with(|c| c.write_lock_wait_secs = 1).await;
    let x = ds("x");
    let writer = server.client().await;
    let other = server.client().await;

    let id = start(&writer, &[&x]).await;
    assert_eq!(
        code_of(
            other
                .request_one::<PutDataspacesResponse>(put_message(&[&x]))
                .await
        ),
        ErrorCode::EMAX_TRANSACTIONS_EXCEEDED
    );
    assert!(rollback(&writer, id).await.successful);
    put(&other, &[&x]).await;
    server.stop().await;
}

#[tokio::test]
async fn one_transaction_per_session() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let id = start(&client, &[&ds("x")]).await;
    assert_eq!(
        code_of(try_start(&client, false, &[&ds("x")]).await),
        ErrorCode::EMAX_TRANSACTIONS_EXCEEDED
    );
    assert_eq!(
        code_of(try_start(&client, true, &[&ds("y")]).await),
        ErrorCode::EMAX_TRANSACTIONS_EXCEEDED
    );
    // The first one is unharmed.
    put(&client, &[&ds("x")]).await;
    assert!(commit(&client, id).await.successful);
    assert_eq!(listed(&client).await, [ds("x")]);
    server.stop().await;
}

#[tokio::test]
async fn commit_and_rollback_of_an_unknown_uuid_are_unsuccessful() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let stranger = Uuid::new_v4();

    let r = commit(&client, stranger).await;
    assert!(!r.successful);
    assert!(!r.failure_reason.is_empty());
    let r = rollback(&client, stranger).await;
    assert!(!r.successful);
    assert!(!r.failure_reason.is_empty());

    // A wrong uuid leaves the open transaction alone.
    let id = start(&client, &[&ds("x")]).await;
    put(&client, &[&ds("x")]).await;
    assert!(!commit(&client, stranger).await.successful);
    assert!(!rollback(&client, stranger).await.successful);
    assert!(commit(&client, id).await.successful);
    assert_eq!(listed(&client).await, [ds("x")]);
    // Ended transactions are unknown too.
    assert!(!commit(&client, id).await.successful);
    assert!(!rollback(&client, id).await.successful);
    server.stop().await;
}

#[tokio::test]
async fn abandoned_transaction_is_rolled_back_after_the_timeout_period() {
    let server = TestServer::start_with(|c| c.transaction_timeout_secs = 1).await;
    let x = ds("x");
    let abandoning = server.client().await;
    let caps = abandoning
        .session()
        .supported_protocols
        .iter()
        .find(|p| p.protocol == 18)
        .expect("Transaction negotiated")
        .protocol_capabilities
        .clone();
    assert_eq!(caps["TransactionTimeoutPeriod"].as_i64(), Some(1));
    assert_eq!(caps["MaxTransactionCount"].as_i64(), Some(1));

    let id = start(&abandoning, &[&x]).await;
    put(&abandoning, &[&x]).await;

    // Gets the lock only once the abandoned transaction expired (the wait is 10 s).
    let other = server.client().await;
    let next = start(&other, &[&x]).await;
    assert!(listed(&other).await.is_empty());
    assert!(rollback(&other, next).await.successful);

    let late = commit(&abandoning, id).await;
    assert!(!late.successful);
    assert!(late.failure_reason.contains("TransactionTimeoutPeriod"));
    assert!(listed(&other).await.is_empty());
    // The session may start again.
    let again = start(&abandoning, &[&x]).await;
    assert!(rollback(&abandoning, again).await.successful);
    server.stop().await;
}

#[tokio::test]
async fn read_only_transaction_refuses_writes_and_takes_no_lock() {
    let server = TestServer::start_with(|c| c.write_lock_wait_secs = 1).await;
    let x = ds("x");
    let reader = server.client().await;
    let writer = server.client().await;

    let write_id = start(&writer, &[&x]).await;
    // A writer holds x, yet a read-only transaction on it starts at once.
    let r = try_start(&reader, true, &[&x]).await.unwrap();
    assert!(r.successful, "{}", r.failure_reason);
    assert_eq!(
        code_of(
            reader
                .request_one::<PutDataspacesResponse>(put_message(&[&x]))
                .await
        ),
        ErrorCode::EINVALID_STATE
    );
    assert_eq!(
        code_of(
            reader
                .request_one::<DeleteDataspacesResponse>(delete_message(&[&x]))
                .await
        ),
        ErrorCode::EINVALID_STATE
    );
    assert!(commit(&reader, r.transaction_uuid).await.successful);
    assert!(rollback(&writer, write_id).await.successful);

    // With scope [] every dataspace is covered, hence read-only.
    let all = try_start(&reader, true, &[]).await.unwrap();
    assert_eq!(
        code_of(
            reader
                .request_one::<PutDataspacesResponse>(put_message(&[&ds("z")]))
                .await
        ),
        ErrorCode::EINVALID_STATE
    );
    assert!(rollback(&reader, all.transaction_uuid).await.successful);
    assert!(listed(&reader).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn empty_scope_covers_every_dataspace() {
    let server = TestServer::start_with(|c| c.write_lock_wait_secs = 1).await;
    let writer = server.client().await;
    let other = server.client().await;
    let (x, y, z) = (ds("x"), ds("y"), ds("z"));

    let id = start(&writer, &[]).await;
    put(&writer, &[&x, &y]).await;
    // Every dataspace is locked, even ones the transaction has not touched.
    assert_eq!(
        code_of(
            other
                .request_one::<PutDataspacesResponse>(put_message(&[&z]))
                .await
        ),
        ErrorCode::EMAX_TRANSACTIONS_EXCEEDED
    );
    assert_eq!(
        code_of(try_start(&other, false, &[&z]).await),
        ErrorCode::EMAX_TRANSACTIONS_EXCEEDED
    );
    assert!(listed(&other).await.is_empty());
    assert!(commit(&writer, id).await.successful);
    assert_eq!(listed(&other).await, [x, y]);
    put(&other, &[&z]).await;
    server.stop().await;
}

#[tokio::test]
async fn writes_outside_the_scope_are_auto_committed() {
    let server = TestServer::start().await;
    let writer = server.client().await;
    let other = server.client().await;
    let (x, y, z) = (ds("x"), ds("y"), ds("z"));

    let id = start(&writer, &[&x]).await;
    put(&writer, &[&y]).await;
    assert_eq!(
        listed(&other).await,
        std::slice::from_ref(&y),
        "y is committed at once"
    );
    // One request may not straddle the scope.
    assert_eq!(
        code_of(
            writer
                .request_one::<PutDataspacesResponse>(put_message(&[&x, &z]))
                .await
        ),
        ErrorCode::EINVALID_STATE
    );
    put(&writer, &[&x]).await;
    assert!(rollback(&writer, id).await.successful);
    assert_eq!(listed(&other).await, [y]);
    server.stop().await;
}

#[tokio::test]
async fn invalid_scope_is_refused_with_9_and_starts_nothing() {
    let server = TestServer::start().await;
    let client = server.client().await;
    for bad in [
        "not a uri",
        "eml:///dataspace('x')/resqml20.obj_Grid2dRepresentation(0b5bb0a8-2f7a-4b1a-9d4e-4a1b6c1b2c3d)",
    ] {
        assert_eq!(
            code_of(try_start(&client, false, &[&ds("x"), bad]).await),
            ErrorCode::EINVALID_URI
        );
    }
    // Nothing was opened or locked: the default dataspace ("" and eml:///) can start.
    let id = start(&client, &["", "eml:///"]).await;
    assert!(commit(&client, id).await.successful);
    server.stop().await;
}

#[tokio::test]
async fn requests_naming_no_dataspace_do_not_wait_for_a_transaction_on_all() {
    let server = TestServer::start_with(|c| c.write_lock_wait_secs = 1).await;
    let writer = server.client().await;
    let other = server.client().await;
    let id = start(&writer, &[]).await;
    // Every key is invalid: per-key 9, not 15 after waiting for the lock on everything.
    for client in [&writer, &other] {
        let r = client.request(put_message(&["not a uri"])).await.unwrap();
        let errors = r.errors();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].1.code, ErrorCode::EINVALID_URI.code());
    }
    assert!(rollback(&writer, id).await.successful);
    server.stop().await;
}

/// Every transaction reads how many `c-*` dataspaces exist and creates the next one, so
/// two transactions that overlapped would both create the same name (a lost update).
#[tokio::test]
async fn concurrent_read_modify_write_transactions_lose_no_update() {
    const SESSIONS: usize = 4;
    const ROUNDS: usize = 10;
    let server = TestServer::start_with(|c| c.write_lock_wait_secs = 20).await;
    let mut tasks = Vec::new();
    for s in 0..SESSIONS {
        let client = server.client().await;
        tasks.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                let id = start(&client, &[]).await;
                let n = listed(&client)
                    .await
                    .iter()
                    .filter(|uri| uri.starts_with("eml:///dataspace('c-"))
                    .count();
                put(
                    &client,
                    &[&ds(&format!("c-{n:03}")), &ds(&format!("tmp-{n:03}"))],
                )
                .await;
                if n > 0 {
                    delete(&client, &[&ds(&format!("tmp-{:03}", n - 1))]).await;
                }
                let r = commit(&client, id).await;
                assert!(r.successful, "{}", r.failure_reason);

                // Interleaved work that must leave no trace.
                if round % 3 == 0 {
                    let id = start(&client, &[&ds(&format!("junk-{s}"))]).await;
                    put(&client, &[&ds(&format!("junk-{s}"))]).await;
                    assert!(rollback(&client, id).await.successful);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let client = server.client().await;
    let total = SESSIONS * ROUNDS;
    let mut expected: Vec<String> = (0..total).map(|n| ds(&format!("c-{n:03}"))).collect();
    expected.push(ds(&format!("tmp-{:03}", total - 1)));
    expected.sort();
    assert_eq!(listed(&client).await, expected);
    server.stop().await;
}
