//! Discovery (protocol 3): GetResources and GetDeletedResources (10-discovery.md).
//!
//! Every read goes through [`DataAccess::read`], so a session with an open transaction
//! discovers its own pending writes.
//!
//! # GetResources
//!
//! * **Context URI.** A dataspace URI (`eml:///`, `eml:///dataspace('x')`) answers every
//!   object of the dataspace, whatever `scope`, `depth` and `includeSecondary*` say (what
//!   pyetp, open-etp-client and the OSDU certification rely on). A data object URI starts a
//!   graph walk. Anything else — malformed, empty, ETP 1.1, query or hierarchical URIs
//!   (`SupportsAlternateRequestUris` is false) — is `EINVALID_URI` (9). A missing
//!   dataspace or object is `ENOT_FOUND` (11), and so is an object stored under another
//!   type than the URI names; an object URI whose type the store does not accept at all
//!   is `EDATAOBJECTTYPE_NOTSUPPORTED` (16).
//! * **Type filters** (`dataObjectTypes`): see [`types`]; unknown types are 16.
//! * **Depth** below 1 for a walking scope is `EINVALID_ARGUMENT` (5) (UNSURE in the
//!   notes; pyetp never sends it). It is ignored for `self` and dataspace contexts.
//! * **Walk** ([`graph`]): breadth-first, each object visited once (cycles end), in one
//!   direction only, along the kinds `navigableEdges` allows, at most `depth` hops. The
//!   context object is returned only for `self`/`*OrSelf`, never as its own source or
//!   target. `includeSecondaryTargets`/`Sources` add the secondary targets/sources of
//!   every object the walk found (the context object included when the scope includes
//!   it, `self` too), one hop, not walked further. Filters (`dataObjectTypes`,
//!   `storeLastWriteFilter` strictly greater, `activeStatusFilter` on the stored status)
//!   remove objects from the answer, never from the walk.
//! * **Edges** (`includeEdges`, UNSURE in the notes): for a walk, every edge the walk
//!   followed (including edges back to already visited objects, and the secondary edges
//!   that brought secondary neighbours) whose two ends are each either the context object
//!   or a returned resource — so `sources` of a Well with edges gives its Wellbores and the
//!   Wellbore → Well edges. For a dataspace context, every reference between returned
//!   resources of the navigable kinds (plus secondary ones when `includeSecondary*` is
//!   set). One edge per (source, target, kind) even if the XML references the target
//!   twice; `customData.path` = the first reference's element path. Edges always point
//!   in reference direction; `relationshipKind` is `Primary` or `Secondary`.
//! * **Counts** (`countObjects`): `sourceCount` = stored objects referencing the resource
//!   (each version on its own), `targetCount` = distinct stored objects (UUIDs) it
//!   references; primary and secondary together (the DevKit's rule), dangling and self
//!   references excluded (HdfProxy references never become store references in the first
//!   place). The store keeps them up to date on every write
//!   ([`etp_store::ReferenceCounts`]) and lends them with each listed row, so counting
//!   costs a listing nothing but a merged scan of the (sparse) counts records.
//! * **Order.** By qualified type, then UUID, i.e. URI order for unversioned objects, for
//!   both contexts, so repeated requests page predictably.
//! * **Framing.** `GetResourcesResponse` parts (always at least one, possibly empty),
//!   then `GetResourcesEdgesResponse` parts if there are edges (none otherwise, as the
//!   DevKit does), then possibly a ProtocolException; FIN on the very last message. Each
//!   message fits in the negotiated size; a single record too large for any message is
//!   left out and named in the final ProtocolException's `errors` (code 17).
//! * **Streaming.** Resources are packed into parts (at most 1 MiB, sized once each) as
//!   the store is scanned on a blocking thread. A dataspace listing without `includeEdges`
//!   (with or without `countObjects`) encodes each row straight into its part (no
//!   `Resource` is built) and hands each part to the session as soon as it is full, so
//!   the scan, the writing and the client's decoding overlap; edges need the
//!   whole listing, so such parts are held until the scan ends. At most
//!   [`PARTS_AHEAD`] finished parts wait for the writer. A store failure after parts
//!   went out ends the set with a ProtocolException (FIN); before any, it is the answer.
//! * **MaxResponseCount**: the smaller of the server's (`max_response_count`) and the
//!   customer's protocol-3 capability. At most that many resources are sent, then the
//!   ProtocolException `ERESPONSECOUNT_EXCEEDED` (30). UNSURE whether edges count: they
//!   do not; only edges between sent resources (or the context object) are sent, so the
//!   edge list shrinks with the resource list. A walk stops as soon as the limit is
//!   exceeded, which also bounds its memory.
//! * Objects outside the session's negotiated data object types are not hidden
//!   (10-discovery.md §2.3).
//!
//! # GetDeletedResources
//!
//! * `dataspaceUri` must be a dataspace URI (9 otherwise) of an existing dataspace (11).
//! * Tombstones deleted strictly after `deleteTimeFilter`, of the filtered types, oldest
//!   first, at most MaxResponseCount (then 30). `customData` carries `Name` = the
//!   object's UUID, which the OSDU certification looks deleted objects up by (harmless
//!   for everyone else).
//! * A `deleteTimeFilter` older than the retention period is not an error (UNSURE in the
//!   notes): the store answers with what it still retains. The OSDU certification sends
//!   that filter in milliseconds (a 1970 date) and expects the retained tombstones, so
//!   `ERETENTION_PERIOD_EXCEEDED` (5001) would fail it.
//! * Re-putting a deleted object drops its tombstone (the store does it).

mod answer;
mod graph;
mod query;
mod types;

use std::sync::Arc;

use etp_protocol::codec::Map;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::object::DeletedResource;
use etp_protocol::types::datatypes::{DataValue, DataValueItem, ErrorInfo};
use etp_protocol::types::protocol::discovery::{
    DiscoveryMessage, GetDeletedResources, GetDeletedResourcesResponse, GetResources,
    GetResourcesEdgesResponse,
};
use etp_protocol::uri::format_uuid;
use etp_store::ObjectKey;
use tokio::sync::mpsc;

use super::objects::{error_info, object_uri, parse_dataspace_uri};
use super::{HandlerFuture, ProtocolHandler, Request};
use crate::access::{DataAccess, Failure};
use crate::config::ServerConfig;
use crate::session::{Responder, SessionClosed, SessionContext};
use answer::{ListPart, Tail, exceptions, fit, list_budget, send_set, stream_set};
use query::{ResourceQuery, shorten};
use types::TypeFilters;

/// Finished parts of a listing that may wait for the session writer: enough to keep the
/// writer busy while the scan goes on, few enough (1 MiB each) to bound what a slow
/// reader makes the server hold.
const PARTS_AHEAD: usize = 2;

/// The Discovery protocol over a store.
pub struct DiscoveryHandler {
    access: Arc<DataAccess>,
    max_response_count: usize,
}

impl DiscoveryHandler {
    /// A handler over the store behind `access`, sending at most `max_response_count`
    /// records per list (the server's `MaxResponseCount`).
    pub fn new(access: Arc<DataAccess>, max_response_count: u64) -> Self {
        DiscoveryHandler {
            access,
            max_response_count: usize::try_from(max_response_count)
                .unwrap_or(usize::MAX)
                .max(1),
        }
    }

    /// The smaller of the server's and the customer's `MaxResponseCount`.
    fn response_limit(&self, session: &SessionContext) -> usize {
        super::response_limit(session, 3, self.max_response_count as u64)
    }
}

impl ProtocolHandler for DiscoveryHandler {
    fn protocol(&self) -> i32 {
        3
    }

    fn capabilities(&self, config: &ServerConfig) -> Map<DataValue> {
        super::max_response_count_capability(config)
    }

    fn handle(
        self: Arc<Self>,
        session: Arc<SessionContext>,
        request: Request,
        responder: Responder,
    ) -> HandlerFuture {
        Box::pin(async move {
            let result = match request.body.into_body() {
                Body::Discovery(DiscoveryMessage::GetResources(m)) => {
                    self.get_resources(&session, m, responder).await
                }
                Body::Discovery(DiscoveryMessage::GetDeletedResources(m)) => {
                    self.get_deleted_resources(&session, m, responder).await
                }
                other => super::not_a_request(responder, "Discovery", &other).await,
            };
            // A closed session cannot be answered; nothing else to do.
            let _ = result;
        })
    }
}

impl DiscoveryHandler {
    async fn get_resources(
        &self,
        session: &SessionContext,
        m: GetResources,
        responder: Responder,
    ) -> Result<(), SessionClosed> {
        let query = match ResourceQuery::parse(m) {
            Ok(query) => query,
            Err((code, message)) => return responder.error(code, message).await,
        };
        let limit = self.response_limit(session);
        let dataspace = query.dataspace().to_owned();
        let budget = list_budget(&responder);
        let max_body = responder.max_body_size();
        let (parts_tx, parts_rx) = mpsc::channel::<ListPart>(PARTS_AHEAD);
        let listing = self
            .access
            .read(&session.transaction, &dataspace, move |txn| {
                // On the blocking pool, so waiting for room in the channel is allowed.
                let mut deliver = |part: ListPart| parts_tx.blocking_send(part).is_ok();
                query.run(txn, limit, budget, &mut deliver)
            });
        let producer = async move {
            let found = match listing.await {
                Ok(Ok(found)) => found,
                Ok(Err(failure)) | Err(failure) => return Err(failure),
            };
            let mut oversized = found.oversized;
            let edge_name = |e: &etp_protocol::types::datatypes::object::Edge| {
                format!("{} -> {}", e.source_uri, e.target_uri)
            };
            let bodies = fit(found.edges, budget, edge_name, &mut oversized)
                .into_iter()
                .filter(|edges| !edges.is_empty())
                .map(|edges| GetResourcesEdgesResponse { edges }.into())
                .collect();
            let error = found.truncated.then(|| cut_at(limit, "resources"));
            Ok(Tail {
                bodies,
                exceptions: exceptions(error, oversized, max_body),
            })
        };
        stream_set(responder, parts_rx, producer).await
    }

    async fn get_deleted_resources(
        &self,
        session: &SessionContext,
        m: GetDeletedResources,
        responder: Responder,
    ) -> Result<(), SessionClosed> {
        let dataspace = match parse_dataspace_uri(&m.dataspace_uri) {
            Ok(path) => path,
            Err(e) => return responder.error(ErrorCode::EINVALID_URI, e.message).await,
        };
        let types = match TypeFilters::parse(&m.data_object_types) {
            Ok(types) => types,
            Err((code, message)) => return responder.error(code, message).await,
        };
        let limit = self.response_limit(session);
        let after = m.delete_time_filter;
        let uri = m.dataspace_uri;
        let path = dataspace.clone();
        let outcome = self
            .access
            .read(&session.transaction, &dataspace, move |txn| {
                if txn.get_dataspace(&path)?.is_none() {
                    return Ok(Err((
                        ErrorCode::ENOT_FOUND,
                        format!("dataspace {} not found", shorten(&uri)),
                    )));
                }
                let tombstones = txn.deleted_resources(&path, after)?;
                deleted(txn, &path, types, tombstones, limit)
            })
            .await;
        let (deleted, truncated) = match outcome {
            Ok(Ok(found)) => found,
            Ok(Err((code, message))) | Err((code, message)) => {
                return responder.error(code, message).await;
            }
        };
        let mut oversized = Vec::new();
        let bodies = fit(
            deleted,
            list_budget(&responder),
            |d| d.uri.to_string(),
            &mut oversized,
        )
        .into_iter()
        .map(|deleted_resources| GetDeletedResourcesResponse { deleted_resources }.into())
        .collect();
        let error = truncated.then(|| cut_at(limit, "deleted resources"));
        let pes = exceptions(error, oversized, responder.max_body_size());
        send_set(responder, bodies, pes).await
    }
}

/// The tombstones passing the type filters, at most `limit`, and whether more passed.
fn deleted(
    txn: &dyn etp_store::ReadTxn,
    dataspace: &str,
    mut types: TypeFilters,
    tombstones: Vec<etp_store::DeletedResource>,
    limit: usize,
) -> etp_store::Result<Result<(Vec<DeletedResource>, bool), Failure>> {
    if types.needs_stored_types() {
        // Types that were stored once are known even if no object of them is left.
        let mut known: Vec<String> = txn
            .count_by_type(dataspace)?
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        known.extend(tombstones.iter().map(|t| t.qualified_type.clone()));
        if let Err(failure) = types.resolve(&known) {
            return Ok(Err(failure));
        }
    }
    let mut out = Vec::new();
    let mut truncated = false;
    for tombstone in tombstones {
        if !types.accepts(&tombstone.qualified_type) {
            continue;
        }
        if out.len() == limit {
            truncated = true;
            break;
        }
        let key = ObjectKey {
            dataspace: dataspace.to_owned(),
            uuid: tombstone.uuid,
            version: tombstone.version,
        };
        let Some(uri) = object_uri(&key, &tombstone.qualified_type) else {
            continue;
        };
        let mut custom_data = Map::new();
        custom_data.insert(
            "Name".into(),
            DataValue {
                item: DataValueItem::String(format_uuid(&key.uuid).into()),
            },
        );
        out.push(DeletedResource {
            uri: uri.into(),
            deleted_time: tombstone.deleted_at,
            custom_data,
        });
    }
    Ok(Ok((out, truncated)))
}

fn cut_at(limit: usize, what: &str) -> ErrorInfo {
    error_info(
        ErrorCode::ERESPONSECOUNT_EXCEEDED,
        format!("only the first {limit} {what} were sent (MaxResponseCount)"),
    )
}
