//! SupportedTypes (protocol 25): GetSupportedTypes (15-supportedtypes.md).
//!
//! * **Dataspace URI** (`eml:///`, `eml:///dataspace('p')`): one entry per qualified type
//!   with at least one object in the dataspace, `relationshipKind = Primary`. `scope` is
//!   ignored, as the notes recommend: open-etp-client asks with `scope = self` and expects
//!   the types present. With `returnEmptyTypes` every concrete type the store can list for
//!   the families it advertises ([`etp_model::catalog`]) is added with count 0.
//! * **Data object URI**: the types of the objects related to it in the direction of
//!   `scope` (one step: `targets` = objects it references that exist, `sources` = objects
//!   referencing it); `self` and the `*OrSelf` scopes include the object's own type.
//!   `relationshipKind` is the kind of the relationships through which the type is
//!   reached, `Both` when reached through both (one entry per type; the DevKit's two
//!   entries would make counts ambiguous). `returnEmptyTypes` adds nothing here: which
//!   types *could* be related needs data-model knowledge the store does not have, and the
//!   notes accept present types only.
//! * `objectCount` is the number of distinct objects of the type when `countObjects`,
//!   else null. Entries are sorted by type.
//! * Errors (whole request): URI unparsable or neither a dataspace nor a data object URI
//!   → `EINVALID_URI` (9); object type not supported → 16; dataspace or object missing
//!   (or stored with another type) → `ENOT_FOUND` (11).
//! * The list is split over as many response messages as the negotiated message size
//!   needs and cut at `MaxResponseCount` (the smaller of ours and the client's), ending
//!   with `ERESPONSECOUNT_EXCEEDED` (30) when cut.
//! * The data object types the client declared in RequestSession are not applied (the
//!   session does not keep them).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use etp_protocol::codec::Map;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::types::Body;
use etp_protocol::types::datatypes::DataValue;
use etp_protocol::types::datatypes::object::{ContextScopeKind, RelationshipKind, SupportedType};
use etp_protocol::types::protocol::supported_types::{
    GetSupportedTypes, GetSupportedTypesResponse, SupportedTypesMessage,
};
use etp_protocol::uri::EtpUri;
use etp_store::{ObjectKey, ReadTxn, RelationshipKind as StoredKind, Uuid};

use super::objects::{check_supported, parse_any_uri};
use super::{HandlerFuture, ProtocolHandler, Request};
use crate::access::{DataAccess, Failure};
use crate::config::ServerConfig;
use crate::session::{Responder, SessionClosed, SessionContext, chunk_by_size};

/// The SupportedTypes protocol over a store.
pub struct SupportedTypesHandler {
    access: Arc<DataAccess>,
    max_response_count: u64,
}

impl SupportedTypesHandler {
    /// A handler over the store behind `access`, configured from `config`.
    pub fn new(access: Arc<DataAccess>, config: &ServerConfig) -> Self {
        SupportedTypesHandler {
            access,
            max_response_count: config.max_response_count,
        }
    }
}

impl ProtocolHandler for SupportedTypesHandler {
    fn protocol(&self) -> i32 {
        25
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
                Body::SupportedTypes(SupportedTypesMessage::GetSupportedTypes(m)) => {
                    self.get(&session, m, responder).await
                }
                other => super::not_a_request(responder, "SupportedTypes", &other).await,
            };
            // A closed session cannot be answered; nothing else to do.
            let _ = result;
        })
    }
}

/// Distinct objects of one type and the relationship kinds through which they are reached.
#[derive(Default)]
struct TypeTally {
    objects: HashSet<Uuid>,
    primary: bool,
    secondary: bool,
}

impl TypeTally {
    fn add(&mut self, uuid: Uuid, kind: StoredKind) {
        self.objects.insert(uuid);
        match kind {
            StoredKind::Primary => self.primary = true,
            StoredKind::Secondary => self.secondary = true,
        }
    }

    fn kind(&self) -> RelationshipKind {
        match (self.primary, self.secondary) {
            (true, true) => RelationshipKind::Both,
            (false, true) => RelationshipKind::Secondary,
            _ => RelationshipKind::Primary,
        }
    }
}

impl SupportedTypesHandler {
    async fn get(
        &self,
        session: &SessionContext,
        m: GetSupportedTypes,
        responder: Responder,
    ) -> Result<(), SessionClosed> {
        let listed = match parse_any_uri(&m.uri) {
            Ok(EtpUri::Dataspace(dataspace)) => {
                self.dataspace_types(session, dataspace.path_or_empty().to_owned(), &m)
                    .await
            }
            Ok(EtpUri::DataObject(object)) => match check_supported(object.qualified_type()) {
                Ok(()) => {
                    self.related_types(session, object, m.scope, m.count_objects)
                        .await
                }
                Err(e) => Err((ErrorCode::EDATAOBJECTTYPE_NOTSUPPORTED, e.message.into())),
            },
            Ok(other) => Err((
                ErrorCode::EINVALID_URI,
                format!(
                    "{} is a {:?} URI; GetSupportedTypes needs a dataspace or data object URI",
                    m.uri,
                    other.kind()
                ),
            )),
            Err(e) => Err((ErrorCode::EINVALID_URI, e.message.into())),
        };
        let mut types = match listed {
            Ok(types) => types,
            Err((code, message)) => return responder.error(code, message).await,
        };
        let limit = self.response_limit(session);
        let cut = types.len() > limit;
        types.truncate(limit);
        let budget = responder.max_body_size().saturating_sub(16);
        let parts: Vec<Body> = chunk_by_size(types, budget)
            .into_iter()
            .map(|supported_types| GetSupportedTypesResponse { supported_types }.into())
            .collect();
        if cut {
            return send_cut(responder, parts, limit).await;
        }
        responder
            .reply_set(parts, Map::new(), || {
                GetSupportedTypesResponse::default().into()
            })
            .await
    }

    /// `MaxResponseCount` for this session: ours, lowered by the client's if it declared one.
    fn response_limit(&self, session: &SessionContext) -> usize {
        super::response_limit(session, 25, self.max_response_count)
    }

    async fn dataspace_types(
        &self,
        session: &SessionContext,
        path: String,
        m: &GetSupportedTypes,
    ) -> Result<Vec<SupportedType>, Failure> {
        let read_path = path.clone();
        let counts = self
            .access
            .read(&session.transaction, &path, move |r| {
                if r.get_dataspace(&read_path)?.is_none() {
                    return Ok(None);
                }
                r.count_by_type(&read_path).map(Some)
            })
            .await?
            .ok_or_else(|| not_found(format!("dataspace {} does not exist", m.uri)))?;
        let mut by_type: BTreeMap<String, u64> = counts.into_iter().collect();
        if m.return_empty_types {
            for advertised in crate::state::supported_data_objects() {
                let release = advertised.qualified_type.trim_end_matches(".*");
                for name in etp_model::catalog::types_of(release) {
                    by_type.entry(format!("{release}.{name}")).or_insert(0);
                }
            }
        }
        Ok(by_type
            .into_iter()
            .map(|(data_object_type, count)| SupportedType {
                data_object_type: data_object_type.into(),
                object_count: m.count_objects.then(|| clamp(count)),
                relationship_kind: RelationshipKind::Primary,
            })
            .collect())
    }

    async fn related_types(
        &self,
        session: &SessionContext,
        object: etp_protocol::uri::DataObjectUri,
        scope: ContextScopeKind,
        count_objects: bool,
    ) -> Result<Vec<SupportedType>, Failure> {
        let key = ObjectKey::new(object.dataspace().path_or_empty(), *object.uuid());
        let requested_type = object.qualified_type().to_string();
        let dataspace = key.dataspace.clone();
        let tallies = self
            .access
            .read(&session.transaction, &dataspace, move |r| {
                tally_related(r, &key, &requested_type, scope)
            })
            .await?
            .ok_or_else(|| not_found(format!("data object {object} not found")))?;
        Ok(tallies
            .into_iter()
            .map(|(data_object_type, tally)| SupportedType {
                data_object_type: data_object_type.into(),
                object_count: count_objects.then(|| clamp(tally.objects.len() as u64)),
                relationship_kind: tally.kind(),
            })
            .collect())
    }
}

/// The types around `key` in the direction of `scope`, by type; `None` if the object (of
/// that type) does not exist.
fn tally_related(
    r: &dyn ReadTxn,
    key: &ObjectKey,
    requested_type: &str,
    scope: ContextScopeKind,
) -> etp_store::Result<Option<BTreeMap<String, TypeTally>>> {
    let Some(meta) = r.get_object_meta(key)? else {
        return Ok(None);
    };
    if !meta.qualified_type.eq_ignore_ascii_case(requested_type) {
        return Ok(None);
    }
    let (with_self, targets, sources) = match scope {
        ContextScopeKind::Self_ => (true, false, false),
        ContextScopeKind::Sources => (false, false, true),
        ContextScopeKind::Targets => (false, true, false),
        ContextScopeKind::SourcesOrSelf => (true, false, true),
        ContextScopeKind::TargetsOrSelf => (true, true, false),
    };
    let mut tallies: BTreeMap<String, TypeTally> = BTreeMap::new();
    if with_self {
        tallies
            .entry(meta.qualified_type.clone())
            .or_default()
            .add(key.uuid, StoredKind::Primary);
    }
    if targets {
        for reference in &meta.references {
            if reference.target_uuid == key.uuid {
                continue;
            }
            for (target, target_meta) in
                r.objects_by_uuid(&key.dataspace, &reference.target_uuid)?
            {
                tallies
                    .entry(target_meta.qualified_type)
                    .or_default()
                    .add(target.uuid, reference.kind);
            }
        }
    }
    if sources {
        for edge in r.sources_of(&key.dataspace, &key.uuid)? {
            if edge.source.uuid == key.uuid {
                continue;
            }
            tallies
                .entry(edge.source_type)
                .or_default()
                .add(edge.source.uuid, edge.reference.kind);
        }
    }
    Ok(Some(tallies))
}

fn not_found(message: String) -> Failure {
    (ErrorCode::ENOT_FOUND, message)
}

fn clamp(count: u64) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// Sends the parts of a list cut at `limit`, then `ERESPONSECOUNT_EXCEEDED` with FIN.
async fn send_cut(
    mut responder: Responder,
    parts: Vec<Body>,
    limit: usize,
) -> Result<(), SessionClosed> {
    for part in parts {
        responder.send(part, false).await?;
    }
    responder
        .error(
            ErrorCode::ERESPONSECOUNT_EXCEEDED,
            format!("the list was cut at MaxResponseCount ({limit}) entries"),
        )
        .await
}
