//! Discovery (3) over a real server: error codes, framing of large answers within the
//! negotiated message size, MaxResponseCount, counts, filters, and GetDeletedResources.
//! Objects are written straight into the store before the server starts (see
//! `discovery_common`).

mod common;
mod discovery_common;

use std::path::Path;

use common::TestServer;
use discovery_common::{Put, ask, get_resources, seed, uri, uuid_text, well, wellbore};
use etp_protocol::codec::Avro;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::DataValueItem;
use etp_protocol::types::datatypes::object::{ActiveStatusKind, ContextScopeKind as S};
use etp_protocol::types::protocol::discovery::{
    DiscoveryMessage, GetDeletedResources, GetDeletedResourcesResponse,
};
use etp_protocol::uri::parse_uuid;
use etp_store::{ActiveStatus, ObjectKey, Store};

fn well_uri(ds: &str, n: u64) -> String {
    uri(ds, "witsml21.Well", &parse_uuid(&uuid_text(1, n)).unwrap())
}

fn wellbore_uri(ds: &str, n: u64) -> String {
    uri(
        ds,
        "witsml21.Wellbore",
        &parse_uuid(&uuid_text(2, n)).unwrap(),
    )
}

fn ds_uri(ds: &str) -> String {
    if ds.is_empty() {
        "eml:///".into()
    } else {
        format!("eml:///dataspace('{ds}')")
    }
}

/// `wells` wells and `wellbores` wellbores in `ds`, wellbore i referencing well
/// `i % wells`, all written at time 100.
fn wells(ds: &'static str, wells: u64, wellbores: u64) -> Vec<(&'static str, Put)> {
    let mut objects: Vec<(&str, Put)> = (0..wells).map(|n| (ds, Put::new(well(n), 100))).collect();
    objects.extend((0..wellbores).map(|n| (ds, Put::new(wellbore(n, n % wells), 100))));
    objects
}

async fn server_with(
    objects: &[(&str, Put)],
    dataspaces: &[&str],
    adjust: impl FnOnce(&mut etp_server::ServerConfig),
) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), dataspaces, objects);
    let server = TestServer::start_in(dir.path(), adjust).await;
    (server, dir)
}

#[tokio::test]
async fn malformed_and_alternate_context_uris_are_invalid_uri() {
    let (server, _dir) = server_with(&wells("ds", 1, 1), &["ds"], |_| {}).await;
    let client = server.client().await;
    let well = uuid_text(1, 0);
    for bad in [
        String::new(),
        "eml://invalidUri".into(),
        format!("eml://witsml20/Well({well})"),
        "eml:///witsml21.Well".into(),
        format!("eml:///dataspace('ds')/witsml21.Well({well})/witsml21.Wellbore"),
        format!(
            "eml:///witsml21.Well({well})/witsml21.Wellbore({})",
            uuid_text(2, 0)
        ),
        "eml:///dataspace('ds".into(),
        "http://example.invalid/".into(),
    ] {
        let a = ask(&client, get_resources(&bad, S::Self_, 1)).await;
        assert_eq!(a.error_codes(), [9], "{bad:?}");
        assert_eq!(a.response.messages().len(), 1, "{bad:?}: one error message");
    }
    client.ping().await.expect("the session survives");
    server.stop().await;
}

#[tokio::test]
async fn missing_objects_and_dataspaces_are_not_found() {
    let (server, _dir) = server_with(&wells("ds", 1, 1), &["ds"], |_| {}).await;
    let client = server.client().await;
    let well = uuid_text(1, 0);
    for (uri, code) in [
        ("eml:///dataspace('nope')".to_string(), 11),
        (
            format!("eml:///dataspace('nope')/witsml21.Well({well})"),
            11,
        ),
        (
            format!("eml:///dataspace('ds')/witsml21.Well({})", uuid_text(1, 9)),
            11,
        ),
        // The UUID exists, but as a Well.
        (
            format!("eml:///dataspace('ds')/witsml21.Wellbore({well})"),
            11,
        ),
        (format!("eml:///dataspace('ds')/witsml21.Welll({well})"), 16),
        (format!("eml:///dataspace('ds')/witsml14.Well({well})"), 16),
    ] {
        let a = ask(&client, get_resources(&uri, S::Sources, 1)).await;
        assert_eq!(a.error_codes(), [code], "{uri}");
    }
    // The type in the URI is compared ignoring the case of its name, like the DevKit.
    let a = ask(
        &client,
        get_resources(
            &format!("eml:///dataspace('ds')/witsml21.WELL({well})"),
            S::Sources,
            1,
        ),
    )
    .await;
    assert_eq!(a.uris(), [wellbore_uri("ds", 0)]);
    server.stop().await;
}

#[tokio::test]
async fn type_filters_accept_known_types_and_refuse_unknown_ones() {
    let (server, _dir) = server_with(&wells("ds", 2, 2), &["ds"], |_| {}).await;
    let client = server.client().await;
    let listing = |types: &[&str]| {
        let mut r = get_resources(&ds_uri("ds"), S::Self_, 1);
        r.context.data_object_types = types.iter().map(|&t| t.into()).collect();
        r
    };
    for bad in [
        &["witsml21.Welll"][..],
        &["witsml21.Well", "resqml21.*"],
        &["notatype"],
        &[""],
        &["witsml14.Well"],
    ] {
        let a = ask(&client, listing(bad)).await;
        assert_eq!(a.error_codes(), [16], "{bad:?}");
    }
    // Same rule in a walk.
    let mut walk = get_resources(&well_uri("ds", 0), S::Sources, 1);
    walk.context.data_object_types = vec!["witsml21.Welll".into()].into();
    assert_eq!(ask(&client, walk).await.error_codes(), [16]);

    // Known types without objects give an empty answer, not an error.
    let a = ask(
        &client,
        listing(&["resqml22.TriangulatedSetRepresentation"]),
    )
    .await;
    assert!(a.errors.is_empty());
    assert!(a.resources.is_empty());
    assert_eq!(a.response.messages().len(), 1);

    let wells = [well_uri("ds", 0), well_uri("ds", 1)];
    for spelling in [&["witsml21.Well"][..], &["witsml21.well"]] {
        assert_eq!(ask(&client, listing(spelling)).await.uris(), wells);
    }
    // pyetp's wildcard spelling, the standard one, and the bare release.
    for wildcard in ["witsml21.", "witsml21.*", "witsml21"] {
        assert_eq!(ask(&client, listing(&[wildcard])).await.resources.len(), 4);
    }
    assert!(
        ask(&client, listing(&["resqml20.*"]))
            .await
            .resources
            .is_empty()
    );
    // Overlapping filters never repeat an object.
    let a = ask(&client, listing(&["witsml21.*", "witsml21.Wellbore"])).await;
    assert_eq!(a.resources.len(), 4);
    server.stop().await;
}

#[tokio::test]
async fn depth_below_one_is_invalid_only_when_walking() {
    let (server, _dir) = server_with(&wells("ds", 1, 1), &["ds"], |_| {}).await;
    let client = server.client().await;
    for scope in [S::Sources, S::Targets, S::SourcesOrSelf, S::TargetsOrSelf] {
        let a = ask(&client, get_resources(&well_uri("ds", 0), scope, 0)).await;
        assert_eq!(a.error_codes(), [5], "{scope}");
        let a = ask(&client, get_resources(&well_uri("ds", 0), scope, -3)).await;
        assert_eq!(a.error_codes(), [5], "{scope}");
    }
    let a = ask(&client, get_resources(&well_uri("ds", 0), S::Self_, 0)).await;
    assert_eq!(a.uris(), [well_uri("ds", 0)]);
    let a = ask(&client, get_resources(&ds_uri("ds"), S::Sources, 0)).await;
    assert_eq!(a.resources.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn empty_dataspaces_answer_one_empty_response() {
    let (server, _dir) = server_with(&[], &["empty"], |_| {}).await;
    let client = server.client().await;
    for uri in [ds_uri("empty"), "eml:///".to_string()] {
        let mut r = get_resources(&uri, S::Self_, 1);
        r.count_objects = true;
        r.include_edges = true;
        let a = ask(&client, r).await;
        assert!(a.errors.is_empty());
        assert_eq!(a.response.messages().len(), 1, "{uri}");
        assert!(matches!(
            &a.response.messages()[0].body,
            Body::Discovery(DiscoveryMessage::GetResourcesResponse(r)) if r.resources.is_empty()
        ));
    }
    server.stop().await;
}

#[tokio::test]
async fn large_answers_are_split_within_the_message_size() {
    // 100 wells, 100 wellbores all referencing well 0.
    let mut objects = wells("big", 100, 0);
    objects.extend((0..100).map(|n| ("big", Put::new(wellbore(n, 0), 100))));
    let (server, _dir) = server_with(&objects, &["big"], |_| {}).await;
    let client = server.client_with(|c| c.max_message_size = 5_000).await;
    assert_eq!(client.max_message_size(), 5_000);
    let fits = |a: &discovery_common::Answer| {
        for m in a.response.messages() {
            let size = m.header.encoded_len() + m.body.encoded_len();
            assert!(size <= 5_000, "message of {size} bytes");
        }
    };

    let mut r = get_resources(&ds_uri("big"), S::Self_, 1);
    r.include_edges = true;
    r.count_objects = true;
    let a = ask(&client, r).await;
    fits(&a);
    assert!(a.errors.is_empty());
    assert_eq!(a.resources.len(), 200);
    assert!(a.response.messages().len() > 5, "split into several parts");
    let mut expected: Vec<String> = (0..100)
        .flat_map(|n| [well_uri("big", n), wellbore_uri("big", n)])
        .collect();
    expected.sort();
    let sent: Vec<String> = a.resources.iter().map(|r| r.uri.to_string()).collect();
    assert_eq!(sent, expected, "every object once, in URI order");
    assert_eq!(a.edges.len(), 100);
    assert!(a.edges.iter().all(|e| e.target_uri == well_uri("big", 0)));
    let hub = a.resources.iter().find(|r| r.uri == well_uri("big", 0));
    assert_eq!(hub.and_then(|r| r.source_count), Some(100));

    // A walk is split the same way.
    let mut r = get_resources(&well_uri("big", 0), S::SourcesOrSelf, 1);
    r.include_edges = true;
    let a = ask(&client, r).await;
    fits(&a);
    assert_eq!(a.resources.len(), 101);
    assert_eq!(a.edges.len(), 100);
    server.stop().await;
}

#[tokio::test]
async fn long_listings_come_in_parts_of_at_most_one_mebibyte() {
    // 12,000 resources of ~107 bytes: more than 1 MiB of answer, far below the 16 MiB
    // the client accepts, so only the server's own part size can split it.
    let objects = wells("long", 12_000, 0);
    let (server, _dir) = server_with(&objects, &["long"], |_| {}).await;
    let client = server.client_with(|c| c.max_message_size = 16 << 20).await;
    let mut r = get_resources(&ds_uri("long"), S::Self_, 1);
    r.count_objects = true;
    let a = ask(&client, r).await;
    assert!(a.errors.is_empty());
    assert_eq!(a.resources.len(), 12_000);
    let sizes: Vec<usize> = a
        .response
        .messages()
        .iter()
        .map(|m| m.body.encoded_len())
        .collect();
    assert!(sizes.len() >= 2, "one message of {sizes:?} bytes");
    assert!(
        sizes.iter().all(|&s| s <= 1 << 20),
        "parts of {sizes:?} bytes"
    );
    server.stop().await;
}

#[tokio::test]
async fn max_response_count_cuts_the_answer_with_code_30() {
    let mut objects = wells("big", 100, 0);
    objects.extend((0..100).map(|n| ("big", Put::new(wellbore(n, 0), 100))));
    objects.extend(wells("fifty", 50, 0));
    let (server, _dir) =
        server_with(&objects, &["big", "fifty"], |c| c.max_response_count = 50).await;
    let client = server.client().await;
    let caps = &client
        .session()
        .supported_protocols
        .iter()
        .find(|p| p.protocol == 3)
        .expect("Discovery negotiated")
        .protocol_capabilities;
    assert_eq!(
        caps.get("MaxResponseCount").and_then(|v| v.as_i64()),
        Some(50)
    );

    let a = ask(&client, get_resources(&ds_uri("big"), S::Self_, 1)).await;
    assert_eq!(a.resources.len(), 50);
    assert_eq!(a.error_codes(), [30]);
    let last = a.response.messages().last().unwrap();
    assert!(matches!(last.body, Body::ProtocolException(_)));

    // A walk keeps the nearest objects and only edges between what was sent.
    let mut r = get_resources(&well_uri("big", 0), S::SourcesOrSelf, 1);
    r.include_edges = true;
    let a = ask(&client, r).await;
    assert_eq!(a.resources.len(), 50);
    assert!(a.resources.iter().any(|r| r.uri == well_uri("big", 0)));
    assert_eq!(a.edges.len(), 49);
    let sent: std::collections::HashSet<&str> =
        a.resources.iter().map(|r| r.uri.as_str()).collect();
    assert!(a.edges.iter().all(|e| sent.contains(e.source_uri.as_str())));
    assert_eq!(a.error_codes(), [30]);

    // Filtered listings are cut the same way; exactly the limit is not cut.
    let mut r = get_resources(&ds_uri("big"), S::Self_, 1);
    r.context.data_object_types = vec!["witsml21.Well".into()].into();
    r.store_last_write_filter = Some(0);
    let a = ask(&client, r).await;
    assert_eq!(a.resources.len(), 50);
    assert_eq!(a.error_codes(), [30]);
    let a = ask(&client, get_resources(&ds_uri("fifty"), S::Self_, 1)).await;
    assert_eq!(a.resources.len(), 50);
    assert!(a.errors.is_empty());
    let a = ask(
        &client,
        get_resources(&wellbore_uri("big", 7), S::TargetsOrSelf, 1),
    )
    .await;
    assert_eq!(a.resources.len(), 2);
    assert!(a.errors.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn counts_agree_whichever_way_they_are_computed() {
    // 10 wells and 2,100 wellbores: the unfiltered listing counts from the listing itself,
    // a Wellbore filter (2,100 results) from a dataspace scan, a Well filter and walks
    // from per-object lookups.
    let (server, _dir) = server_with(&wells("many", 10, 2_100), &["many"], |_| {}).await;
    let client = server.client().await;
    let check = |a: &discovery_common::Answer, expected_len: usize| {
        assert!(a.errors.is_empty(), "{:?}", a.errors);
        assert_eq!(a.resources.len(), expected_len);
        for r in &a.resources {
            let counts = (r.source_count, r.target_count);
            if r.uri.contains("witsml21.Wellbore(") {
                assert_eq!(counts, (Some(0), Some(1)), "{}", r.uri);
            } else {
                assert_eq!(counts, (Some(210), Some(0)), "{}", r.uri);
            }
        }
    };
    let listing = |types: &[&str]| {
        let mut r = get_resources(&ds_uri("many"), S::Self_, 1);
        r.count_objects = true;
        r.context.data_object_types = types.iter().map(|&t| t.into()).collect();
        r
    };
    check(&ask(&client, listing(&[])).await, 2_110);
    check(&ask(&client, listing(&["witsml21.Wellbore"])).await, 2_100);
    check(&ask(&client, listing(&["witsml21.Well"])).await, 10);
    let mut walk = get_resources(&well_uri("many", 3), S::SourcesOrSelf, 1);
    walk.count_objects = true;
    check(&ask(&client, walk).await, 211);
    server.stop().await;
}

#[tokio::test]
async fn last_write_and_status_filters_hide_but_do_not_stop_the_walk() {
    // Well 0 ← wellbores 0..6; wellbore n written at 100 + n, odd ones inactive.
    let mut objects = vec![("ds", Put::new(well(0), 50))];
    for n in 0..6u64 {
        let mut put = Put::new(wellbore(n, 0), 100 + n as i64);
        if n % 2 == 1 {
            put.status = ActiveStatus::Inactive;
        }
        objects.push(("ds", put));
    }
    let (server, _dir) = server_with(&objects, &["ds"], |_| {}).await;
    let client = server.client().await;
    let wellbores = |ns: &[u64]| {
        let mut v: Vec<String> = ns.iter().map(|&n| wellbore_uri("ds", n)).collect();
        v.sort();
        v
    };

    let mut r = get_resources(&ds_uri("ds"), S::Self_, 1);
    r.store_last_write_filter = Some(103);
    assert_eq!(
        ask(&client, r).await.uris(),
        wellbores(&[4, 5]),
        "strictly after"
    );

    let mut r = get_resources(&ds_uri("ds"), S::Self_, 1);
    r.active_status_filter = Some(ActiveStatusKind::Inactive);
    assert_eq!(ask(&client, r).await.uris(), wellbores(&[1, 3, 5]));

    let mut r = get_resources(&well_uri("ds", 0), S::SourcesOrSelf, 1);
    r.active_status_filter = Some(ActiveStatusKind::Active);
    r.store_last_write_filter = Some(101);
    r.include_edges = true;
    let a = ask(&client, r).await;
    assert_eq!(
        a.uris(),
        wellbores(&[2, 4]),
        "the context object is filtered too"
    );
    // Edges to the (filtered) context object are still reported.
    assert_eq!(a.edges.len(), 2);

    // Objects passing both filters are kept in a walk.
    let mut r = get_resources(&wellbore_uri("ds", 0), S::TargetsOrSelf, 1);
    r.store_last_write_filter = Some(40);
    r.active_status_filter = Some(ActiveStatusKind::Active);
    assert_eq!(ask(&client, r).await.uris(), {
        let mut v = vec![well_uri("ds", 0), wellbore_uri("ds", 0)];
        v.sort();
        v
    });
    server.stop().await;
}

/// Deletes `uuids` (objects of `ds`) straight in the store at `at`.
fn delete(data_dir: &Path, ds: &str, uuids: &[(String, i64)]) {
    let store = discovery_common::open_store(data_dir);
    let mut w = store.write().unwrap();
    for (uuid, at) in uuids {
        let key = ObjectKey::new(ds, parse_uuid(uuid).unwrap());
        assert!(w.delete_object(&key, *at, true).unwrap().is_some());
    }
    w.commit().unwrap();
}

#[tokio::test]
async fn deleted_resources_after_deletes() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), &["ds", "clean"], &wells("ds", 3, 3));
    delete(
        dir.path(),
        "ds",
        &[
            (uuid_text(2, 0), 1_000),
            (uuid_text(2, 1), 2_000),
            (uuid_text(1, 2), 3_000),
        ],
    );
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let client = server.client().await;
    let deleted = |filter: Option<i64>, types: &[&str]| GetDeletedResources {
        dataspace_uri: ds_uri("ds").into(),
        delete_time_filter: filter,
        data_object_types: types.iter().map(|&t| t.into()).collect(),
    };
    let list = |parts: Vec<GetDeletedResourcesResponse>| {
        parts
            .into_iter()
            .flat_map(|p| p.deleted_resources)
            .collect::<Vec<_>>()
    };

    let all = list(client.request_all(deleted(None, &[])).await.unwrap());
    let got: Vec<(String, i64)> = all
        .iter()
        .map(|d| (d.uri.to_string(), d.deleted_time))
        .collect();
    assert_eq!(
        got,
        [
            (wellbore_uri("ds", 0), 1_000),
            (wellbore_uri("ds", 1), 2_000),
            (well_uri("ds", 2), 3_000)
        ],
        "oldest first"
    );
    let name = all[0].custom_data.get("Name").map(|v| v.item.clone());
    assert_eq!(name, Some(DataValueItem::String(uuid_text(2, 0).into())));

    let after = list(client.request_all(deleted(Some(2_000), &[])).await.unwrap());
    assert_eq!(after.len(), 1, "strictly after the filter");
    assert_eq!(after[0].uri, well_uri("ds", 2));
    let wellbores = list(
        client
            .request_all(deleted(None, &["witsml21.Wellbore"]))
            .await
            .unwrap(),
    );
    assert_eq!(wellbores.len(), 2);
    // A millisecond filter (the OSDU certification's) reads as 1970: everything retained.
    let ms = list(client.request_all(deleted(Some(1_000), &[])).await.unwrap());
    assert_eq!(ms.len(), 2);

    // The deleted objects are gone from GetResources, and their sources lost the edge.
    let a = ask(&client, get_resources(&ds_uri("ds"), S::Self_, 1)).await;
    assert_eq!(a.resources.len(), 3);
    let a = ask(&client, get_resources(&wellbore_uri("ds", 0), S::Self_, 1)).await;
    assert_eq!(a.error_codes(), [11]);

    let empty: Vec<GetDeletedResourcesResponse> = client
        .request_all(GetDeletedResources {
            dataspace_uri: ds_uri("clean").into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(empty.len(), 1);
    assert!(empty[0].deleted_resources.is_empty());

    for (dataspace_uri, types, code) in [
        ("emla:///".to_string(), vec![], 9),
        (well_uri("ds", 0), vec![], 9),
        (String::new(), vec![], 9),
        (ds_uri("nope"), vec![], 11),
        (ds_uri("ds"), vec!["witsml21.Welll".to_string()], 16),
    ] {
        let r = client
            .request(GetDeletedResources {
                dataspace_uri: dataspace_uri.clone().into(),
                delete_time_filter: None,
                data_object_types: types.into_iter().map(Into::into).collect(),
            })
            .await
            .unwrap();
        let codes: Vec<i32> = r.errors().iter().map(|(_, e)| e.code).collect();
        assert_eq!(codes, [code], "{dataspace_uri:?}");
    }
    server.stop().await;

    // Putting a deleted object again drops its tombstone.
    seed(dir.path(), &[], &[("ds", Put::new(wellbore(0, 0), 5_000))]);
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let client = server.client().await;
    let all = list(client.request_all(deleted(None, &[])).await.unwrap());
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|d| d.uri != wellbore_uri("ds", 0)));
    server.stop().await;
}

#[tokio::test]
async fn deleted_resources_respect_max_response_count() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), &["ds"], &wells("ds", 1, 30));
    let deletes: Vec<(String, i64)> = (0..30).map(|n| (uuid_text(2, n), 10 + n as i64)).collect();
    delete(dir.path(), "ds", &deletes);
    let server = TestServer::start_in(dir.path(), |c| c.max_response_count = 20).await;
    let client = server.client_with(|c| c.max_message_size = 5_000).await;
    let r = client
        .request(GetDeletedResources {
            dataspace_uri: ds_uri("ds").into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let codes: Vec<i32> = r.errors().iter().map(|(_, e)| e.code).collect();
    assert_eq!(codes, [30]);
    let sent: usize = r
        .bodies()
        .iter()
        .map(|b| match b {
            Body::Discovery(DiscoveryMessage::GetDeletedResourcesResponse(d)) => {
                d.deleted_resources.len()
            }
            other => panic!("unexpected {other:?}"),
        })
        .sum();
    assert_eq!(sent, 20);
    server.stop().await;
}

#[tokio::test]
async fn default_dataspace_objects_are_listed_with_eml_uris() {
    let (server, _dir) = server_with(&wells("", 1, 1), &[], |_| {}).await;
    let client = server.client().await;
    // The OSDU certification lists eml:/// with scope sources at depths 1 and 2.
    for depth in [1, 2] {
        let a = ask(&client, get_resources("eml:///", S::Sources, depth)).await;
        assert_eq!(a.uris(), [well_uri("", 0), wellbore_uri("", 0)]);
        assert!(a.resources[0].uri.starts_with("eml:///witsml21."));
    }
    server.stop().await;
}

/// Times a depth-1 listing of a 100,000-object dataspace, as pyetp sends it (countObjects).
/// Run with `cargo test --release -p etp-server --test discovery -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "seeds 100,000 objects; a measurement, not a check"]
async fn listing_100k_objects_timing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = discovery_common::open_store(dir.path());
        let mut w = store.write().unwrap();
        discovery_common::create_dataspace(w.as_mut(), "big");
        let template = Put::new(wellbore(0, 0), 100);
        let (_, base) = discovery_common::meta_of(&template);
        for n in 0..100_000u64 {
            let mut meta = base.clone();
            meta.title = format!("Wellbore {n}");
            meta.references[0].target_uuid = parse_uuid(&uuid_text(1, n % 1_000)).unwrap();
            let key = ObjectKey::new("big", parse_uuid(&uuid_text(2, n)).unwrap());
            w.put_object(&key, &meta, bytes::Bytes::from_static(b"<x/>"))
                .unwrap();
        }
        w.commit().unwrap();
        // The store's own share: one scan of the type index with metadata decoded.
        for _ in 0..3 {
            let started = std::time::Instant::now();
            let r = store.read().unwrap();
            let filter = etp_store::ObjectFilter {
                types: vec![etp_store::TypeFilter::Prefix(String::new())],
                ..Default::default()
            };
            let n = r.list_objects("big", &filter).unwrap().count();
            println!("store scan of {n} objects: {:?}", started.elapsed());
        }
    }
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    // Uncompressed, as on a local network (gzip would cost both ends more than it saves).
    let client = server.client_with(|c| c.compression = false).await;
    for count_objects in [false, true, true, true] {
        let mut r = get_resources(&ds_uri("big"), S::Self_, 1);
        r.count_objects = count_objects;
        let started = std::time::Instant::now();
        let a = ask(&client, r).await;
        let elapsed = started.elapsed();
        assert_eq!(a.resources.len(), 100_000);
        println!("countObjects={count_objects}: 100,000 resources in {elapsed:?}");
    }
    server.stop().await;
}
