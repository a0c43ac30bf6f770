//! GetResources with `countObjects`: the counts now come from the store with each listed
//! row and the parts are streamed during the scan. The answer must be what the reference
//! rule gives (10-discovery.md §2.2 `countObjects`, as the handler counted before: stored
//! referrers, each version on its own; distinct stored targets; dangling and self
//! references excluded; primary and secondary together), whatever the filters, the
//! message size, or whether the parts are held for edges, on a graph with references
//! across types, dangling references, versions, inactive objects and later writes.

mod common;
mod discovery_common;

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use common::TestServer;
use discovery_common::{Answer, ask, get_resources, open_store};
use etp_protocol::types::datatypes::object::{ActiveStatusKind, ContextScopeKind as S};
use etp_server::handlers::objects::parse_object_uri;
use etp_store::{
    ActiveStatus, Dataspace, ObjectKey, ObjectMeta, Reference, RelationshipKind, Store, Uuid,
};

const TYPES: [&str; 3] = [
    "witsml21.Well",
    "witsml21.Wellbore",
    "resqml20.obj_LocalDepth3dCrs",
];
/// UUIDs `0..POOL` may be stored; references also point at `POOL..POOL + 20`, never stored.
const POOL: u64 = 400;

fn uuid(n: u64) -> Uuid {
    let mut u = [0u8; 16];
    u[8..].copy_from_slice(&n.to_be_bytes());
    u[0] = 0x5c;
    u[6] = 0x40;
    u[8] |= 0x80;
    u
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// The objects of the graph: most UUIDs once, some in two versions, some inactive, each
/// with up to five references (any type, some dangling, some to itself, some twice,
/// a third secondary), written at times 1..=3.
fn graph() -> Vec<(ObjectKey, ObjectMeta)> {
    let mut rng = Rng(0x00c0_ffee_d15c_0123);
    let mut objects = Vec::new();
    for n in 0..POOL {
        if rng.below(7) == 0 {
            continue; // a hole: references to it dangle
        }
        let versions: Vec<Option<String>> = if rng.below(10) == 0 {
            vec![Some("1".into()), Some("2".into())]
        } else {
            vec![None]
        };
        let qualified_type = TYPES[rng.below(3) as usize];
        for version in versions {
            let references = (0..rng.below(6))
                .map(|_| {
                    let target = match rng.below(10) {
                        0 => n,
                        1 => POOL + rng.below(20),
                        _ => rng.below(POOL),
                    };
                    Reference {
                        target_uuid: uuid(target),
                        target_type: TYPES[rng.below(3) as usize].into(),
                        name: "Ref".into(),
                        kind: if rng.below(3) == 0 {
                            RelationshipKind::Secondary
                        } else {
                            RelationshipKind::Primary
                        },
                    }
                })
                .collect();
            let at = 1 + rng.below(3) as i64;
            let meta = ObjectMeta {
                qualified_type: qualified_type.into(),
                title: format!("object {n}"),
                last_changed: at,
                store_created: at,
                store_last_write: at,
                active_status: if rng.below(4) == 0 {
                    ActiveStatus::Inactive
                } else {
                    ActiveStatus::Active
                },
                format: "xml".into(),
                custom_data: Bytes::new(),
                references,
                data_len: 0,
            };
            let key = ObjectKey {
                dataspace: "g".into(),
                uuid: uuid(n),
                version,
            };
            objects.push((key, meta));
        }
    }
    objects
}

/// `(sourceCount, targetCount)` of every object by the reference rule.
fn expected_counts(objects: &[(ObjectKey, ObjectMeta)]) -> HashMap<ObjectKey, (i32, i32)> {
    let stored: HashSet<Uuid> = objects.iter().map(|(k, _)| k.uuid).collect();
    let mut counts: HashMap<ObjectKey, (i32, i32)> =
        objects.iter().map(|(k, _)| (k.clone(), (0, 0))).collect();
    for (key, meta) in objects {
        let targets: HashSet<Uuid> = meta
            .references
            .iter()
            .map(|r| r.target_uuid)
            .filter(|t| *t != key.uuid && stored.contains(t))
            .collect();
        counts.get_mut(key).expect("listed").1 = targets.len() as i32;
        for (other, _) in objects.iter().filter(|(k, _)| targets.contains(&k.uuid)) {
            counts.get_mut(other).expect("listed").0 += 1;
        }
    }
    counts
}

fn seed(dir: &std::path::Path, objects: &[(ObjectKey, ObjectMeta)]) {
    let store = open_store(dir);
    let mut w = store.write().unwrap();
    w.put_dataspace(&Dataspace {
        path: "g".into(),
        store_created: 1,
        store_last_write: 1,
        custom_data: Bytes::new(),
    })
    .unwrap();
    for (key, meta) in objects {
        w.put_object(key, meta, Bytes::from_static(b"<x/>"))
            .unwrap();
    }
    w.commit().unwrap();
}

/// Checks an answer's counts against the rule and its resources against `wanted`.
fn check(answer: &Answer, counts: &HashMap<ObjectKey, (i32, i32)>, wanted: &HashSet<ObjectKey>) {
    assert!(answer.errors.is_empty(), "{:?}", answer.errors);
    let mut listed = HashSet::new();
    for r in &answer.resources {
        let key = parse_object_uri(&r.uri).expect("listed URI").key;
        let (sources, targets) = counts[&key];
        assert_eq!(
            (r.source_count, r.target_count),
            (Some(sources), Some(targets)),
            "{}",
            r.uri
        );
        assert!(listed.insert(key), "{} listed twice", r.uri);
    }
    assert_eq!(&listed, wanted);
}

fn counting(uri: &str) -> etp_protocol::types::protocol::discovery::GetResources {
    let mut request = get_resources(uri, S::Self_, 1);
    request.count_objects = true;
    request
}

#[tokio::test]
async fn listed_counts_follow_the_reference_rule_for_every_filter_and_message_size() {
    let objects = graph();
    let counts = expected_counts(&objects);
    // The graph has what the rule distinguishes.
    assert!(objects.iter().any(|(k, _)| k.version.is_some()));
    assert!(counts.values().any(|&(s, _)| s > 1));
    assert!(counts.values().any(|&(_, t)| t > 1));
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path(), &objects);
    let server = TestServer::start_in(dir.path(), |_| {}).await;
    let ds = "eml:///dataspace('g')";
    let all: HashSet<ObjectKey> = objects.iter().map(|(k, _)| k.clone()).collect();
    let having = |keep: &dyn Fn(&ObjectMeta) -> bool| -> HashSet<ObjectKey> {
        objects
            .iter()
            .filter(|(_, m)| keep(m))
            .map(|(k, _)| k.clone())
            .collect()
    };

    for message_size in [2048, 1 << 20] {
        let client = server
            .client_with(|c| c.max_message_size = message_size)
            .await;
        let whole = ask(&client, counting(ds)).await;
        check(&whole, &counts, &all);
        if message_size == 2048 {
            assert!(whole.response.messages().len() > 20);
        }
        // Held for edges: the same resources, counts and order.
        let mut edged = counting(ds);
        edged.include_edges = true;
        let edged = ask(&client, edged).await;
        check(&edged, &counts, &all);
        assert_eq!(edged.resources, whole.resources);

        let mut by_type = counting(ds);
        by_type.context.data_object_types = vec![TYPES[1].into()].into();
        check(
            &ask(&client, by_type).await,
            &counts,
            &having(&|m| m.qualified_type == TYPES[1]),
        );
        let mut inactive = counting(ds);
        inactive.active_status_filter = Some(ActiveStatusKind::Inactive);
        check(
            &ask(&client, inactive).await,
            &counts,
            &having(&|m| m.active_status == ActiveStatus::Inactive),
        );
        let mut recent = counting(ds);
        recent.store_last_write_filter = Some(2);
        check(
            &ask(&client, recent).await,
            &counts,
            &having(&|m| m.store_last_write > 2),
        );
    }

    // From an object: the walk's resources carry the same counts.
    let client = server.client().await;
    let (start, start_meta) = objects
        .iter()
        .find(|(k, _)| counts[k].0 > 1 && k.version.is_none())
        .expect("an object with several referrers");
    let start_uri = format!(
        "{ds}/{}({})",
        start_meta.qualified_type,
        etp_protocol::uri::format_uuid(&start.uuid)
    );
    let mut sources = get_resources(&start_uri, S::SourcesOrSelf, 2);
    sources.count_objects = true;
    sources.context.navigable_edges =
        etp_protocol::types::datatypes::object::RelationshipKind::Both;
    let walked = ask(&client, sources).await;
    assert!(walked.resources.len() > 2);
    let walked_keys: HashSet<ObjectKey> = walked
        .resources
        .iter()
        .map(|r| parse_object_uri(&r.uri).unwrap().key)
        .collect();
    check(&walked, &counts, &walked_keys);
    server.stop().await;
}

#[tokio::test]
async fn counts_follow_writes_and_deletions_made_through_the_store_protocol() {
    use discovery_common::{Put, well, wellbore};
    use etp_protocol::types::datatypes::object::DataObject;
    use etp_protocol::types::protocol::store::{DeleteDataObjects, PutDataObjects};

    let server = TestServer::start().await;
    let client = server.client().await;
    let ds = "eml:///";
    let put = |xml: Vec<u8>| {
        let (key, meta) = discovery_common::meta_of(&Put::new(xml.clone(), 1));
        let uri = discovery_common::uri("", &meta.qualified_type, &key.uuid);
        (uri, xml)
    };
    let (well_uri, well_xml) = put(well(1));
    let (bore_a, bore_a_xml) = put(wellbore(1, 1));
    let (bore_b, bore_b_xml) = put(wellbore(2, 1));
    let put_all = |objects: Vec<(String, Vec<u8>)>| PutDataObjects {
        data_objects: objects
            .into_iter()
            .enumerate()
            .map(|(i, (uri, xml))| {
                (
                    i.to_string().into(),
                    DataObject {
                        resource: etp_protocol::types::datatypes::object::Resource {
                            uri: uri.into(),
                            ..Default::default()
                        },
                        format: "xml".into(),
                        blob_id: None,
                        data: xml.into(),
                    },
                )
            })
            .collect(),
        prune_contained_objects: false,
    };
    let counts_of = |a: &Answer| -> HashMap<String, (Option<i32>, Option<i32>)> {
        a.resources
            .iter()
            .map(|r| (r.uri.to_string(), (r.source_count, r.target_count)))
            .collect()
    };

    // Wellbores first: their Well reference dangles until the Well arrives.
    let answer = client
        .request(put_all(vec![
            (bore_a.clone(), bore_a_xml),
            (bore_b.clone(), bore_b_xml),
        ]))
        .await
        .unwrap();
    assert!(answer.errors().is_empty(), "{:?}", answer.errors());
    let listed = counts_of(&ask(&client, counting(ds)).await);
    assert_eq!(listed[&bore_a], (Some(0), Some(0)));
    client
        .request(put_all(vec![(well_uri.clone(), well_xml)]))
        .await
        .unwrap();
    let listed = counts_of(&ask(&client, counting(ds)).await);
    assert_eq!(listed[&well_uri], (Some(2), Some(0)));
    assert_eq!(listed[&bore_a], (Some(0), Some(1)));
    assert_eq!(listed[&bore_b], (Some(0), Some(1)));

    let deleted = client
        .request(DeleteDataObjects {
            uris: [("0".into(), bore_a.clone().into())].into_iter().collect(),
            prune_contained_objects: false,
        })
        .await
        .unwrap();
    assert!(deleted.errors().is_empty(), "{:?}", deleted.errors());
    let listed = counts_of(&ask(&client, counting(ds)).await);
    assert_eq!(listed[&well_uri], (Some(1), Some(0)));
    assert!(!listed.contains_key(&bore_a));
    server.stop().await;
}
