//! RequestSession → OpenSession negotiation (01-core.md §3–4), as a pure function so every
//! rule is unit-tested without a socket.

use std::collections::BTreeMap;

use etp_protocol::Uuid;
use etp_protocol::codec::Map;
use etp_protocol::error_code::ErrorCode;
use etp_protocol::message::Role;
use etp_protocol::types::datatypes::{
    DataValue, ErrorInfo, SupportedDataObject, SupportedProtocol, Version,
};
use etp_protocol::types::protocol::core::{OpenSession, RequestSession};

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
}

fn error(code: ErrorCode, message: impl Into<String>) -> ErrorInfo {
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
            application_name: offer.application_name.clone(),
            application_version: offer.application_version.clone(),
            server_instance_id: offer.server_instance_id,
            supported_protocols: accepted,
            supported_data_objects: offer.data_objects.clone(),
            supported_compression: if gzip { "gzip".into() } else { String::new() },
            supported_formats: vec!["xml".into()],
            current_date_time: now_micros,
            earliest_retained_change_time: offer.earliest_retained_change_time,
            session_id,
            endpoint_capabilities,
        },
        protocols,
        gzip,
        max_message_size,
        client_protocol_capabilities: client_caps,
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
            supported_compression: vec!["gzip".into()],
            supported_formats: vec!["xml".into()],
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

    #[test]
    fn json_only_client_is_refused_and_no_compression_when_not_offered() {
        let mut req = pyetp_request();
        req.supported_formats = vec!["json".into()];
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
