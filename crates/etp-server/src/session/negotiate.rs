//! RequestSession → OpenSession negotiation (01-core.md §3–4), as a pure function so every
//! rule is unit-tested without a socket.

use std::collections::BTreeMap;

use etp_protocol::codec::Map;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::message::Role;
use etp_protocol::types::datatypes::{
    DataValue, ErrorInfo, SupportedDataObject, SupportedProtocol, Version,
};
use etp_protocol::types::protocol::core::{OpenSession, RequestSession};
use etp_protocol::{EtpString, Uuid};

/// What this server offers, independent of any client.
#[derive(Debug, Clone)]
pub struct ServerOffer {
    /// Product name sent in OpenSession.
    pub application_name: String,
    /// Product version sent in OpenSession.
    pub application_version: String,
    /// Stable id of this server installation.
    pub server_instance_id: Uuid,
    /// Implemented protocols: number → (role the server plays, protocol capabilities).
    pub protocols: BTreeMap<i32, (Role, Map<DataValue>)>,
    /// Data object types the store accepts (family wildcards).
    pub data_objects: Vec<SupportedDataObject>,
    /// Largest WebSocket message the server accepts.
    pub max_message_size: u64,
    /// Largest WebSocket frame the server accepts.
    pub max_frame_size: u64,
    /// Other endpoint capabilities advertised as they are.
    pub endpoint_capabilities: Map<DataValue>,
    /// Earliest change time the store can still answer about, µs.
    pub earliest_retained_change_time: i64,
}

/// The outcome of a successful negotiation.
#[derive(Debug, Clone)]
pub struct Negotiated {
    /// The OpenSession to send.
    pub open_session: OpenSession,
    /// Accepted protocols and the role the server plays in each.
    pub protocols: BTreeMap<i32, Role>,
    /// Whether gzip was chosen.
    pub gzip: bool,
    /// Message size limit for this session in both directions.
    pub max_message_size: u64,
    /// The client's capabilities per accepted protocol (its own limits, e.g. MaxResponseCount).
    pub client_protocol_capabilities: BTreeMap<i32, Map<DataValue>>,
    /// The data object types usable in this session: the client's declared types that the
    /// server supports (01-core.md §4.2). OpenSession itself lists the server's full set,
    /// as the DevKit does.
    pub data_objects: Vec<TypePattern>,
}

impl Negotiated {
    /// Whether `qualified_type` (e.g. `resqml20.obj_Grid2dRepresentation`) was negotiated
    /// for this session; requests for other types get `EDATAOBJECTTYPE_NOTSUPPORTED` (16).
    pub fn supports_data_object(&self, qualified_type: &str) -> bool {
        self.data_objects.iter().any(|p| p.matches(qualified_type))
    }
}

/// One entry of a `supportedDataObjects` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypePattern {
    /// Every type of a family and version: `resqml20.*`, and also pyetp's `resqml20.` and a
    /// bare `resqml20` (01-core.md §4.2). Holds the family, lower-case.
    Family(String),
    /// One qualified type, e.g. `witsml21.Well`.
    Exact(String),
}

impl TypePattern {
    /// Reads a `qualifiedType` entry; `None` when it is empty.
    pub fn parse(text: &str) -> Option<TypePattern> {
        let text = text.trim();
        let family = if let Some(family) = text.strip_suffix(".*") {
            Some(family)
        } else if let Some(family) = text.strip_suffix('.') {
            Some(family)
        } else if !text.contains('.') {
            Some(text)
        } else {
            None
        };
        match family {
            Some("") => None,
            Some(family) => Some(TypePattern::Family(family.to_ascii_lowercase())),
            None => Some(TypePattern::Exact(text.to_owned())),
        }
    }

    /// Whether a qualified type falls under this pattern (family case-insensitively, as
    /// clients differ in capitalisation).
    pub fn matches(&self, qualified_type: &str) -> bool {
        match self {
            TypePattern::Family(family) => qualified_type
                .split_once('.')
                .is_some_and(|(f, name)| !name.is_empty() && f.eq_ignore_ascii_case(family)),
            TypePattern::Exact(t) => t.eq_ignore_ascii_case(qualified_type),
        }
    }
}

/// The client's declared types the server also supports. A client that declares nothing
/// gets the server's whole set (UNSURE: strictly that client handles no object at all; no
/// client we know sends an empty list, and refusing everything would help nobody).
fn negotiate_data_objects(
    client: &[SupportedDataObject],
    server: &[SupportedDataObject],
) -> Vec<TypePattern> {
    let server: Vec<TypePattern> = server
        .iter()
        .filter_map(|d| TypePattern::parse(&d.qualified_type))
        .collect();
    if client.is_empty() {
        return server;
    }
    let mut usable = Vec::new();
    for pattern in client
        .iter()
        .filter_map(|d| TypePattern::parse(&d.qualified_type))
    {
        let supported = match &pattern {
            TypePattern::Family(family) => server.contains(&TypePattern::Family(family.clone())),
            TypePattern::Exact(t) => server.iter().any(|s| s.matches(t)),
        };
        if supported && !usable.contains(&pattern) {
            usable.push(pattern);
        }
    }
    usable
}

fn error(code: ErrorCode, message: impl Into<EtpString>) -> ErrorInfo {
    ErrorInfo {
        message: message.into(),
        code: code.code(),
    }
}

/// ETP 1.2 is the only version offered; major.minor must match.
fn is_v12(v: &Version) -> bool {
    v.major == 1 && v.minor == 2
}

/// Negotiates a session. `session_id` and `now_micros` are passed in so the result is
/// deterministic under test.
pub fn negotiate(
    request: &RequestSession,
    offer: &ServerOffer,
    session_id: Uuid,
    now_micros: i64,
) -> Result<Negotiated, ErrorInfo> {
    let mut accepted = Vec::new();
    let mut protocols = BTreeMap::new();
    let mut client_caps = BTreeMap::new();
    for requested in &request.requested_protocols {
        let Some((role, caps)) = offer.protocols.get(&requested.protocol) else {
            continue;
        };
        // The request names the role the server is asked to play.
        if Role::parse(&requested.role) != Some(*role) || !is_v12(&requested.protocol_version) {
            continue;
        }
        if protocols.insert(requested.protocol, *role).is_some() {
            continue;
        }
        client_caps.insert(requested.protocol, requested.protocol_capabilities.clone());
        accepted.push(SupportedProtocol {
            protocol: requested.protocol,
            protocol_version: Version {
                major: 1,
                minor: 2,
                revision: 0,
                patch: 0,
            },
            role: requested.role.clone(),
            protocol_capabilities: caps.clone(),
        });
    }
    if accepted.is_empty() {
        let asked: Vec<String> = request
            .requested_protocols
            .iter()
            .map(|p| format!("{} as {}", p.protocol, p.role))
            .collect();
        return Err(error(
            ErrorCode::ENOSUPPORTEDPROTOCOLS,
            format!(
                "none of the requested protocols is supported (asked for {}; this server offers {})",
                asked.join(", "),
                offer
                    .protocols
                    .iter()
                    .map(|(p, (r, _))| format!("{p} as {r}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }

    let formats_ok = request.supported_formats.is_empty()
        || request
            .supported_formats
            .iter()
            .any(|f| f.eq_ignore_ascii_case("xml"));
    if !formats_ok {
        return Err(error(
            ErrorCode::ENOSUPPORTEDFORMATS,
            format!(
                "none of the formats {:?} is supported; this server uses xml",
                request.supported_formats
            ),
        ));
    }

    let gzip = request
        .supported_compression
        .iter()
        .any(|c| c.trim().eq_ignore_ascii_case("gzip"));

    let client_limit = request
        .endpoint_capabilities
        .get("MaxWebSocketMessagePayloadSize")
        .and_then(DataValue::as_i64)
        .filter(|&v| v > 0)
        .map(|v| v as u64);
    let max_message_size =
        client_limit.map_or(offer.max_message_size, |c| c.min(offer.max_message_size));
    let client_frame = request
        .endpoint_capabilities
        .get("MaxWebSocketFramePayloadSize")
        .and_then(DataValue::as_i64)
        .filter(|&v| v > 0)
        .map(|v| v as u64);
    let max_frame = client_frame.map_or(offer.max_frame_size, |c| c.min(offer.max_frame_size));

    let mut endpoint_capabilities = offer.endpoint_capabilities.clone();
    endpoint_capabilities.insert(
        "MaxWebSocketMessagePayloadSize".into(),
        DataValue::long(max_message_size as i64),
    );
    endpoint_capabilities.insert(
        "MaxWebSocketFramePayloadSize".into(),
        DataValue::long(max_frame as i64),
    );

    Ok(Negotiated {
        open_session: OpenSession {
            application_name: offer.application_name.clone().into(),
            application_version: offer.application_version.clone().into(),
            server_instance_id: offer.server_instance_id,
            supported_protocols: accepted,
            supported_data_objects: offer.data_objects.clone(),
            supported_compression: if gzip {
                "gzip".into()
            } else {
                String::new().into()
            },
            supported_formats: vec!["xml".into()].into(),
            current_date_time: now_micros,
            earliest_retained_change_time: offer.earliest_retained_change_time,
            session_id,
            endpoint_capabilities,
        },
        protocols,
        gzip,
        max_message_size,
        client_protocol_capabilities: client_caps,
        data_objects: negotiate_data_objects(&request.supported_data_objects, &offer.data_objects),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etp_protocol::types::datatypes::DataValueItem;

    fn offer() -> ServerOffer {
        let mut protocols = BTreeMap::new();
        protocols.insert(24, (Role::Store, Map::new()));
        protocols.insert(4, (Role::Store, Map::new()));
        ServerOffer {
            application_name: "etp".into(),
            application_version: "0.1.0".into(),
            server_instance_id: Uuid([1; 16]),
            protocols,
            data_objects: vec![SupportedDataObject {
                qualified_type: "resqml20.*".into(),
                data_object_capabilities: Map::new(),
            }],
            max_message_size: 16 << 20,
            max_frame_size: 16 << 20,
            endpoint_capabilities: Map::new(),
            earliest_retained_change_time: 0,
        }
    }

    fn requested(protocol: i32, role: &str) -> SupportedProtocol {
        SupportedProtocol {
            protocol,
            protocol_version: Version {
                major: 1,
                minor: 2,
                revision: 0,
                patch: 0,
            },
            role: role.into(),
            protocol_capabilities: Map::new(),
        }
    }

    fn pyetp_request() -> RequestSession {
        let mut caps = Map::new();
        caps.insert(
            "MaxWebSocketMessagePayloadSize".into(),
            DataValue {
                item: DataValueItem::Int(1 << 20),
            },
        );
        RequestSession {
            application_name: "pyetp".into(),
            requested_protocols: [3, 4, 9, 18, 24]
                .into_iter()
                .map(|p| requested(p, "store"))
                .collect(),
            supported_compression: vec!["gzip".into()].into(),
            supported_formats: vec!["xml".into()].into(),
            endpoint_capabilities: caps,
            ..Default::default()
        }
    }

    #[test]
    fn pyetp_gets_the_intersection_with_its_roles_and_a_long_size() {
        let n = negotiate(&pyetp_request(), &offer(), Uuid([2; 16]), 7).unwrap();
        let numbers: Vec<i32> = n
            .open_session
            .supported_protocols
            .iter()
            .map(|p| p.protocol)
            .collect();
        assert_eq!(numbers, vec![4, 24]);
        assert!(
            n.open_session
                .supported_protocols
                .iter()
                .all(|p| p.role == "store")
        );
        assert_eq!(n.open_session.supported_formats, vec!["xml".to_owned()]);
        assert_eq!(n.open_session.supported_compression, "gzip");
        assert_eq!(n.max_message_size, 1 << 20);
        assert_eq!(
            n.open_session.endpoint_capabilities["MaxWebSocketMessagePayloadSize"].item,
            DataValueItem::Long(1 << 20)
        );
        assert_eq!(n.open_session.current_date_time, 7);
    }

    #[test]
    fn nothing_in_common_is_enosupportedprotocols() {
        let mut req = pyetp_request();
        req.requested_protocols = vec![requested(1, "producer"), requested(4, "customer")];
        let err = negotiate(&req, &offer(), Uuid::NIL, 0).unwrap_err();
        assert_eq!(err.code, ErrorCode::ENOSUPPORTEDPROTOCOLS.code());
    }

    #[test]
    fn wrong_version_is_not_accepted() {
        let mut req = pyetp_request();
        req.requested_protocols = vec![requested(4, "store")];
        req.requested_protocols[0].protocol_version.minor = 1;
        assert!(negotiate(&req, &offer(), Uuid::NIL, 0).is_err());
    }

    #[test]
    fn roles_match_case_insensitively_and_duplicates_collapse() {
        let mut req = pyetp_request();
        req.requested_protocols = vec![requested(4, "Store"), requested(4, "store")];
        let n = negotiate(&req, &offer(), Uuid::NIL, 0).unwrap();
        assert_eq!(n.open_session.supported_protocols.len(), 1);
    }

    fn declared(types: &[&str]) -> Vec<SupportedDataObject> {
        types
            .iter()
            .map(|t| SupportedDataObject {
                qualified_type: t.to_string().into(),
                data_object_capabilities: Map::new(),
            })
            .collect()
    }

    #[test]
    fn type_patterns_accept_the_wildcard_spellings_clients_use() {
        for family in ["resqml20.*", "resqml20.", "resqml20", " RESQML20.* "] {
            assert_eq!(
                TypePattern::parse(family),
                Some(TypePattern::Family("resqml20".into())),
                "{family}"
            );
        }
        assert_eq!(
            TypePattern::parse("witsml21.Well"),
            Some(TypePattern::Exact("witsml21.Well".into()))
        );
        assert_eq!(TypePattern::parse("  "), None);
        let family = TypePattern::Family("resqml20".into());
        assert!(family.matches("resqml20.obj_Grid2dRepresentation"));
        assert!(!family.matches("resqml22.Grid2dRepresentation"));
        assert!(!family.matches("resqml20."));
        assert!(!family.matches("resqml20"));
    }

    #[test]
    fn session_data_objects_are_the_supported_part_of_the_clients_list() {
        let mut server = offer();
        server.data_objects = declared(&["resqml20.*", "eml20.*", "witsml21.*"]);
        let mut req = pyetp_request();
        // pyetp's spelling without '*', an exact type, and a family the server lacks.
        req.supported_data_objects = declared(&["resqml20.", "witsml21.Well", "prodml22.*"]);
        let n = negotiate(&req, &server, Uuid::NIL, 0).unwrap();
        assert!(n.supports_data_object("resqml20.obj_Grid2dRepresentation"));
        assert!(n.supports_data_object("witsml21.Well"));
        assert!(!n.supports_data_object("witsml21.Wellbore"));
        assert!(!n.supports_data_object("eml20.obj_EpcExternalPartReference"));
        assert!(!n.supports_data_object("prodml22.Anything"));
        // OpenSession lists the server's whole set, wildcards as they are.
        let listed: Vec<&str> = n
            .open_session
            .supported_data_objects
            .iter()
            .map(|d| d.qualified_type.as_str())
            .collect();
        assert_eq!(listed, ["resqml20.*", "eml20.*", "witsml21.*"]);

        // Nothing in common: the session opens, with no usable type.
        req.supported_data_objects = declared(&["prodml22.*"]);
        let n = negotiate(&req, &server, Uuid::NIL, 0).unwrap();
        assert!(n.data_objects.is_empty());
        // Nothing declared: everything the server has.
        req.supported_data_objects.clear();
        let n = negotiate(&req, &server, Uuid::NIL, 0).unwrap();
        assert!(n.supports_data_object("eml20.obj_EpcExternalPartReference"));
    }

    #[test]
    fn json_only_client_is_refused_and_no_compression_when_not_offered() {
        let mut req = pyetp_request();
        req.supported_formats = vec!["json".into()].into();
        assert_eq!(
            negotiate(&req, &offer(), Uuid::NIL, 0).unwrap_err().code,
            ErrorCode::ENOSUPPORTEDFORMATS.code()
        );
        let mut req = pyetp_request();
        req.supported_compression.clear();
        req.endpoint_capabilities.clear();
        let n = negotiate(&req, &offer(), Uuid::NIL, 0).unwrap();
        assert_eq!(n.open_session.supported_compression, "");
        assert!(!n.gzip);
        assert_eq!(n.max_message_size, 16 << 20);
    }
}
