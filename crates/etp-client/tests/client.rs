//! The client against a scripted fake server.

mod fake_server;

use std::time::Duration;

use etp_client::{Client, ClientConfig, ClientError, ClientPool, connect_with_retry};
use etp_protocol::codec::Map;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::message::flags;
use etp_protocol::types::Body;
use etp_protocol::types::protocol::core::CoreMessage;
use etp_protocol::types::protocol::store::{
    Chunk, DeleteDataObjects, DeleteDataObjectsResponse, PutDataObjects, PutDataObjectsResponse,
    StoreMessage,
};
use etp_protocol::types::protocol::store_notification::StoreNotificationMessage;
use fake_server::{Behaviour, start, start_tls};

fn delete(keys: &[&str]) -> DeleteDataObjects {
    let mut uris = Map::new();
    for k in keys {
        uris.insert(k.to_string().into(), format!("eml:///{k}").into());
    }
    DeleteDataObjects {
        uris,
        prune_contained_objects: false,
    }
}

fn config(url: String) -> ClientConfig {
    let mut c = ClientConfig::new(url);
    c.connect_timeout = Duration::from_secs(5);
    c.request_timeout = Duration::from_secs(5);
    c
}

fn keys(r: &DeleteDataObjectsResponse) -> Vec<String> {
    r.deleted_uris.keys().map(ToString::to_string).collect()
}

#[test]
fn client_is_send_sync_clone() {
    fn assert<T: Send + Sync + Clone + 'static>() {}
    assert::<Client>();
}

#[tokio::test]
async fn connects_and_negotiates() {
    let server = start(Behaviour {
        max_message_size: 100_000,
        ..Default::default()
    })
    .await;
    let client = Client::connect(config(server.url())).await.unwrap();
    assert_eq!(client.session().application_name, "fake-server");
    assert_eq!(client.max_message_size(), 100_000);
    assert!(!client.compression());
    assert!(client.supports_protocol(4));
    assert!(!client.supports_protocol(5));
    let rtt = client.ping().await.unwrap();
    assert!(rtt < Duration::from_secs(5));

    let msgs = server.recorded.snapshot();
    let first = &msgs[0];
    assert_eq!((first.header.protocol, first.header.message_type), (0, 1));
    assert_eq!(first.header.message_id, 2);
    assert_eq!(first.header.correlation_id, 0);
    assert_eq!(first.header.message_flags, flags::FIN);
    let Body::Core(CoreMessage::RequestSession(rs)) = &first.body else {
        panic!()
    };
    let requested: Vec<i32> = rs.requested_protocols.iter().map(|p| p.protocol).collect();
    assert_eq!(requested, [3, 4, 9, 18, 24]);
    assert!(rs.requested_protocols.iter().all(|p| p.role == "store"));
    assert_eq!(rs.supported_compression, ["gzip"]);
    assert_eq!(msgs[1].header.message_id, 4);
    client.close("done").await.unwrap();
}

#[tokio::test]
async fn pipelined_requests_get_their_own_answers() {
    let server = start(Behaviour::default()).await;
    let client = Client::connect(config(server.url())).await.unwrap();
    const N: usize = 20;
    let mut tasks = Vec::new();
    for i in 0..N {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let key = format!("batch:{N}:{i}");
            let r: DeleteDataObjectsResponse = c.request_one(delete(&[&key])).await.unwrap();
            assert_eq!(keys(&r), [key]);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(client.in_flight(), 0);
    // Ids are even, unique, increasing in send order.
    let ids: Vec<i64> = server
        .recorded
        .snapshot()
        .iter()
        .map(|m| m.header.message_id)
        .collect();
    let expected: Vec<i64> = (1..=ids.len() as i64).map(|i| 2 * i).collect();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn multipart_responses_are_sorted_by_message_id() {
    let server = start(Behaviour::default()).await;
    let client = Client::connect(config(server.url())).await.unwrap();
    let response = client.request(delete(&["multipart"])).await.unwrap();
    assert_eq!(response.messages().len(), 3);
    let parts: Vec<DeleteDataObjectsResponse> = response.clone().into_all().unwrap();
    let order: Vec<String> = parts.iter().flat_map(keys).collect();
    assert_eq!(order, ["part0", "part1", "part2"]);
    assert!(response.messages().last().unwrap().is_final());
    // request_one refuses several parts.
    let err = client
        .request_one::<DeleteDataObjectsResponse>(delete(&["multipart"]))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::UnexpectedResponse(_)), "{err}");
}

#[tokio::test]
async fn protocol_exceptions_surface() {
    let server = start(Behaviour::default()).await;
    let client = Client::connect(config(server.url())).await.unwrap();
    let err = client
        .request_one::<DeleteDataObjectsResponse>(delete(&["error"]))
        .await
        .unwrap_err();
    match err {
        ClientError::Protocol { code, message } => {
            assert_eq!(code, ErrorCode::ENOT_FOUND);
            assert_eq!(message, "no such object");
        }
        other => panic!("{other:?}"),
    }
    // Partial failure: body and keyed errors side by side.
    let response = client.request(delete(&["partial"])).await.unwrap();
    assert_eq!(response.bodies().len(), 1);
    let errors = response.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0.as_deref(), Some("bad"));
    assert_eq!(errors[0].1.code, 9);
    assert_eq!(
        response.check().unwrap_err().code(),
        Some(ErrorCode::EINVALID_URI)
    );
    // Wrong type.
    let err = client
        .request_one::<PutDataObjectsResponse>(delete(&["x"]))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::UnexpectedResponse(_)), "{err}");
}

#[tokio::test]
async fn garbage_does_not_kill_the_client() {
    let server = start(Behaviour::default()).await;
    let client = Client::connect(config(server.url())).await.unwrap();
    // Uncorrelatable garbage and a text frame, then a normal answer.
    let r: DeleteDataObjectsResponse = client.request_one(delete(&["garbage"])).await.unwrap();
    assert_eq!(keys(&r), ["garbage"]);
    // Correlatable garbage fails that request only.
    let err = client
        .request(delete(&["garbage-correlated"]))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Decode(_)), "{err}");
    let r: DeleteDataObjectsResponse = client
        .request_one(delete(&["still", "alive"]))
        .await
        .unwrap();
    assert_eq!(keys(&r), ["still", "alive"]);
    // Raw malformed input reaches the server as is.
    client.send_raw(vec![0x01]).await.unwrap();
    client.ping().await.unwrap();
    assert_eq!(*server.recorded.undecodable.lock().unwrap(), 1);
}

#[tokio::test]
async fn timeouts_clean_up() {
    let server = start(Behaviour::default()).await;
    let client = Client::connect(config(server.url())).await.unwrap();
    let err = client
        .request_with_timeout(delete(&["silent"]), Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Timeout(_)), "{err}");
    assert_eq!(client.in_flight(), 0);
    client.ping().await.unwrap();
}

#[tokio::test]
async fn compression_both_ways() {
    let server = start(Behaviour {
        compression: true,
        ..Default::default()
    })
    .await;
    let client = Client::connect(config(server.url())).await.unwrap();
    assert!(client.compression());
    let many: Vec<String> = (0..200)
        .map(|i| format!("eml:///dataspace('x')/resqml20.obj_Thing({i:04})"))
        .collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let r: DeleteDataObjectsResponse = client.request_one(delete(&refs)).await.unwrap();
    assert_eq!(r.deleted_uris.len(), 200);
    client.ping().await.unwrap();
    let msgs = server.recorded.snapshot();
    let store = msgs.iter().find(|m| m.header.protocol == 4).unwrap();
    assert_ne!(store.header.message_flags & flags::COMPRESSED, 0);
    let ping = msgs.iter().rev().find(|m| m.header.protocol == 0).unwrap();
    assert_eq!(ping.header.message_flags & flags::COMPRESSED, 0);
}

#[tokio::test]
async fn no_compression_when_disabled() {
    let server = start(Behaviour {
        compression: true,
        ..Default::default()
    })
    .await;
    let mut cfg = config(server.url());
    cfg.compression = false;
    let client = Client::connect(cfg).await.unwrap();
    assert!(!client.compression());
    let Body::Core(CoreMessage::RequestSession(rs)) = &server.recorded.snapshot()[0].body else {
        panic!()
    };
    assert!(rs.supported_compression.is_empty());
}

#[tokio::test]
async fn server_ping_notifications_and_acknowledge() {
    let server = start(Behaviour {
        ping_after_open: true,
        notify_after_open: true,
        ack: true,
        ..Default::default()
    })
    .await;
    let client = Client::connect(config(server.url())).await.unwrap();
    let mut notifications = client.notifications().unwrap();
    assert!(client.notifications().is_none());
    let n = tokio::time::timeout(Duration::from_secs(3), notifications.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(
        n.body,
        Body::StoreNotification(StoreNotificationMessage::UnsolicitedStoreNotifications(_))
    ));
    // Server ids: OpenSession 1, Ping 3, notification 5.
    let pong = server
        .recorded
        .wait_for(|m| matches!(m.body, Body::Core(CoreMessage::Pong(_))))
        .await;
    assert_eq!(pong.header.correlation_id, 3);
    let ack = server
        .recorded
        .wait_for(|m| matches!(m.body, Body::Acknowledge(_)))
        .await;
    assert_eq!((ack.header.protocol, ack.header.message_type), (5, 1001));
    assert_eq!(ack.header.correlation_id, n.header.message_id);
    assert_eq!(ack.header.message_flags & flags::ACKNOWLEDGE, 0);
}

#[tokio::test]
async fn multipart_requests() {
    let server = start(Behaviour::default()).await;
    let client = Client::connect(config(server.url())).await.unwrap();
    let chunk = |last| {
        Body::from(Chunk {
            blob_id: etp_protocol::Uuid::new_v4(),
            data: bytes::Bytes::from_static(b"abc"),
            r#final: last,
        })
    };
    let response = client
        .request_multipart(
            PutDataObjects::default().into(),
            vec![chunk(false), chunk(true)],
        )
        .await
        .unwrap();
    let _: PutDataObjectsResponse = response.into_one().unwrap();
    let msgs: Vec<_> = server
        .recorded
        .snapshot()
        .into_iter()
        .filter(|m| m.header.protocol == 4)
        .collect();
    assert_eq!(msgs.len(), 3);
    let first = msgs[0].header.message_id;
    assert!(matches!(
        msgs[0].body,
        Body::Store(StoreMessage::PutDataObjects(_))
    ));
    assert_eq!(
        (msgs[0].header.correlation_id, msgs[0].header.message_flags),
        (0, 0)
    );
    assert_eq!(
        (msgs[1].header.correlation_id, msgs[1].header.message_flags),
        (first, 0)
    );
    assert_eq!(
        (msgs[2].header.correlation_id, msgs[2].header.message_flags),
        (first, flags::FIN)
    );
    assert_eq!(msgs[1].header.message_id, first + 2);
}

#[tokio::test]
async fn oversized_messages_are_refused_locally() {
    let server = start(Behaviour {
        max_message_size: 5_000,
        ..Default::default()
    })
    .await;
    let mut cfg = config(server.url());
    cfg.compression = false;
    let client = Client::connect(cfg).await.unwrap();
    assert_eq!(client.max_message_size(), 5_000);
    let big = "x".repeat(6_000);
    let err = client.request(delete(&[&big])).await.unwrap_err();
    assert!(
        matches!(err, ClientError::MessageTooLarge { limit: 5_000, .. }),
        "{err}"
    );
    client.ping().await.unwrap();
}

#[tokio::test]
async fn close_and_server_close_session() {
    let server = start(Behaviour::default()).await;
    let client = Client::connect(config(server.url())).await.unwrap();
    let other = client.clone();
    client.close("bye").await.unwrap();
    assert!(other.is_closed());
    let close = server
        .recorded
        .wait_for(|m| matches!(m.body, Body::Core(CoreMessage::CloseSession(_))))
        .await;
    let Body::Core(CoreMessage::CloseSession(c)) = close.body else {
        panic!()
    };
    assert_eq!(c.reason, "bye");
    assert!(matches!(other.ping().await, Err(ClientError::Closed(_))));

    // The server ends the session while a request is pending.
    let client = Client::connect(config(server.url())).await.unwrap();
    let err = client
        .request(delete(&["close-session"]))
        .await
        .unwrap_err();
    match err {
        ClientError::Closed(reason) => assert!(reason.contains("maintenance"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert!(client.is_closed());
}

#[tokio::test]
async fn refused_connections() {
    let server = start(Behaviour {
        refuse_http: Some((401, "bad token")),
        ..Default::default()
    })
    .await;
    match Client::connect(config(server.url())).await.unwrap_err() {
        ClientError::Http { status, body } => {
            assert_eq!((status, body.as_str()), (401, "bad token"))
        }
        other => panic!("{other:?}"),
    }

    let server = start(Behaviour {
        no_subprotocol: true,
        ..Default::default()
    })
    .await;
    match Client::connect(config(server.url())).await.unwrap_err() {
        ClientError::WebSocket(m) => assert!(m.contains("subprotocol"), "{m}"),
        other => panic!("{other:?}"),
    }

    let server = start(Behaviour {
        refuse_session: true,
        ..Default::default()
    })
    .await;
    let err = Client::connect(config(server.url())).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::ENOSUPPORTEDPROTOCOLS), "{err}");

    // Nobody listening: a transient error, retried then reported.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    drop(listener);
    let err = connect_with_retry(&config(url), 2, Duration::from_millis(10))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Connect { .. }), "{err}");
}

#[tokio::test]
async fn pool_spreads_load() {
    let server = start(Behaviour::default()).await;
    let pool = ClientPool::connect(config(server.url()), 3).await.unwrap();
    assert_eq!(pool.len(), 3);
    let ids: std::collections::HashSet<_> = (0..3).map(|_| pool.get().session_id()).collect();
    assert_eq!(ids.len(), 3, "round robin among idle sessions");
    let mut tasks = Vec::new();
    for i in 0..9 {
        let c = pool.get().clone();
        tasks.push(tokio::spawn(async move {
            c.request_one::<DeleteDataObjectsResponse>(delete(&[&format!("k{i}")]))
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    pool.close("done").await;
}

#[tokio::test]
async fn capabilities_document() {
    let server = start(Behaviour::default()).await;
    let doc = etp_client::fetch_server_capabilities(&config(server.url()))
        .await
        .unwrap();
    assert_eq!(doc["applicationName"], "fake");
    assert_eq!(doc["query"], "GetVersion=etp12.energistics.org");
}

#[tokio::test]
async fn wss_with_custom_root_or_insecure() {
    let (server, pem) = start_tls(Behaviour::default()).await;
    let url = format!("wss://localhost:{}/etp", server.addr.port());

    // Unknown issuer: refused.
    let err = Client::connect(config(url.clone())).await.unwrap_err();
    assert!(matches!(err, ClientError::Tls(_)), "{err}");

    // Trusted through the extra root file.
    let dir = std::env::temp_dir().join(format!("etp-client-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &pem).unwrap();
    let mut cfg = config(url.clone());
    cfg.tls.root_cert_file = Some(ca.clone());
    let client = Client::connect(cfg.clone()).await.unwrap();
    client.ping().await.unwrap();
    let doc = etp_client::fetch_server_capabilities(&cfg).await.unwrap();
    assert_eq!(doc["applicationName"], "fake");
    client.close("done").await.unwrap();

    // Name mismatch is refused even with the right root.
    cfg.url = format!("wss://127.0.0.1:{}/etp", server.addr.port());
    assert!(matches!(
        Client::connect(cfg).await,
        Err(ClientError::Tls(_))
    ));

    // Testing mode accepts anything.
    let mut cfg = config(url);
    cfg.tls.accept_invalid_certs = true;
    let client = Client::connect(cfg).await.unwrap();
    client.ping().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
