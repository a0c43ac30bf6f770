//! GetResources over a dataspace answered in parts while the store is scanned: a listing
//! without counts or edges hands each part to the session as soon as it is full, one with
//! them holds its parts until they are filled in. Both must give the same resources in the
//! same order, in parts within the negotiated size, FIN on the last message only (checked
//! by `ask`), and a MaxResponseCount cut must still end the set with code 30.

mod common;
mod discovery_common;

use common::TestServer;
use discovery_common::{Answer, Put, ask, get_resources, seed, well, wellbore};
use etp_protocol::types::datatypes::object::ContextScopeKind as S;

const WELLS: u64 = 1_500;
const WELLBORES: u64 = 1_500;
/// Small enough for dozens of parts.
const MESSAGE_SIZE: usize = 16 * 1024;

async fn server(
    adjust: impl FnOnce(&mut etp_server::ServerConfig),
) -> (TestServer, tempfile::TempDir) {
    let mut objects: Vec<(&str, Put)> =
        (0..WELLS).map(|n| ("ds", Put::new(well(n), 100))).collect();
    objects.extend((0..WELLBORES).map(|n| ("ds", Put::new(wellbore(n, n % WELLS), 100))));
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), &["ds"], &objects);
    let server = TestServer::start_in(dir.path(), adjust).await;
    (server, dir)
}

fn in_order(a: &Answer) -> Vec<String> {
    a.resources.iter().map(|r| r.uri.to_string()).collect()
}

fn part_sizes(a: &Answer) -> Vec<usize> {
    a.response
        .messages()
        .iter()
        .map(|m| m.body.encoded_len())
        .collect()
}

#[tokio::test]
async fn streamed_and_held_listings_are_the_same_resources_in_the_same_parts_limits() {
    let (server, _dir) = server(|_| {}).await;
    let client = server
        .client_with(|c| c.max_message_size = MESSAGE_SIZE)
        .await;
    let plain = get_resources("eml:///dataspace('ds')", S::Self_, 1);
    let streamed = ask(&client, plain.clone()).await;
    let mut counting = plain.clone();
    counting.count_objects = true;
    let counted = ask(&client, counting).await;
    let mut with_edges = plain;
    with_edges.include_edges = true;
    let edged = ask(&client, with_edges).await;

    for answer in [&streamed, &counted, &edged] {
        assert!(answer.errors.is_empty(), "{:?}", answer.errors);
        assert_eq!(answer.resources.len() as u64, WELLS + WELLBORES);
        let sizes = part_sizes(answer);
        assert!(sizes.len() >= 10, "only {} messages", sizes.len());
        assert!(sizes.iter().all(|&s| s + 35 <= MESSAGE_SIZE), "{sizes:?}");
    }
    // Type then UUID order, whichever way the parts were produced.
    let order = in_order(&streamed);
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    assert_eq!(in_order(&counted), order);
    assert_eq!(in_order(&edged), order);

    // Counts were filled into held parts, after the whole scan.
    for r in &streamed.resources {
        assert_eq!((r.source_count, r.target_count), (None, None));
    }
    for r in &counted.resources {
        let expected = if r.uri.contains("witsml21.Wellbore") {
            (Some(0), Some(1))
        } else {
            (Some(1), Some(0))
        };
        assert_eq!((r.source_count, r.target_count), expected, "{}", r.uri);
    }
    assert_eq!(edged.edges.len() as u64, WELLBORES);
    server.stop().await;
}

#[tokio::test]
async fn a_streamed_listing_cut_by_max_response_count_ends_with_code_30() {
    let (server, _dir) = server(|c| c.max_response_count = 2_000).await;
    let client = server
        .client_with(|c| c.max_message_size = MESSAGE_SIZE)
        .await;
    let a = ask(
        &client,
        get_resources("eml:///dataspace('ds')", S::Self_, 1),
    )
    .await;
    assert_eq!(a.resources.len(), 2_000);
    assert_eq!(a.error_codes(), [30]);
    assert!(part_sizes(&a).len() > 10);
    server.stop().await;
}

#[tokio::test]
async fn an_empty_or_missing_dataspace_still_gets_one_answer() {
    let (server, _dir) = server(|_| {}).await;
    let client = server.client().await;
    let empty = ask(&client, get_resources("eml:///", S::Self_, 1)).await;
    assert!(empty.resources.is_empty() && empty.errors.is_empty());
    assert_eq!(empty.response.messages().len(), 1);
    let missing = ask(
        &client,
        get_resources("eml:///dataspace('nope')", S::Self_, 1),
    )
    .await;
    assert_eq!(missing.error_codes(), [11]);
    assert_eq!(missing.response.messages().len(), 1);
    server.stop().await;
}
