//! `GET /.well-known/etp-server-capabilities`: the ServerCapabilities record as Avro-JSON
//! (default) or Avro binary (`$format=binary`), and the version list (`GetVersions=true`).

use std::collections::HashMap;

use bytes::Bytes;
use etp_protocol::codec::{Avro, Map};
use etp_protocol::types::datatypes::{
    Contact, DataValue, DataValueItem, ServerCapabilities, SupportedProtocol, Version,
};
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use crate::http::{SUBPROTOCOL, json as json_response, text};
use crate::state::{APPLICATION_NAME, ServerState, supported_data_objects};

/// The capabilities record this server publishes.
pub fn server_capabilities(server: &ServerState) -> ServerCapabilities {
    let offer = server.offer();
    let mut endpoint = offer.endpoint_capabilities.clone();
    endpoint.insert(
        "MaxWebSocketMessagePayloadSize".into(),
        DataValue::long(offer.max_message_size as i64),
    );
    endpoint.insert(
        "MaxWebSocketFramePayloadSize".into(),
        DataValue::long(offer.max_frame_size as i64),
    );
    ServerCapabilities {
        application_name: APPLICATION_NAME.into(),
        application_version: env!("CARGO_PKG_VERSION").into(),
        contact_information: Contact::default(),
        supported_compression: vec!["gzip".into()].into(),
        supported_encodings: vec!["binary".into()].into(),
        supported_formats: vec!["xml".into()].into(),
        supported_data_objects: supported_data_objects(),
        supported_protocols: offer
            .protocols
            .iter()
            .map(|(protocol, (role, caps))| SupportedProtocol {
                protocol: *protocol,
                protocol_version: Version {
                    major: 1,
                    minor: 2,
                    revision: 0,
                    patch: 0,
                },
                role: role.as_str().into(),
                protocol_capabilities: caps.clone(),
            })
            .collect(),
        endpoint_capabilities: endpoint,
    }
}

/// Answers the well-known capabilities URL.
pub fn respond(server: &ServerState, query: &HashMap<String, String>) -> Response<Full<Bytes>> {
    if query
        .get("getversions")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return json_response(StatusCode::OK, json!([SUBPROTOCOL]));
    }
    if let Some(version) = query.get("getversion")
        && version != SUBPROTOCOL
    {
        return text(
            StatusCode::NOT_FOUND,
            &format!("version {version:?} is not supported; this server speaks {SUBPROTOCOL}"),
        );
    }
    let caps = server_capabilities(server);
    if query
        .get("$format")
        .is_some_and(|f| f.eq_ignore_ascii_case("binary"))
    {
        let mut body = Vec::with_capacity(caps.encoded_len());
        caps.encode(&mut body);
        let mut r = Response::new(Full::new(Bytes::from(body)));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("avro/binary"));
        return r;
    }
    let mut doc = avro_json(&caps);
    // The OSDU certification (VE0412-1) looks for a top-level copy; extra fields are allowed.
    if let (Some(obj), Some(details)) = (
        doc.as_object_mut(),
        caps.endpoint_capabilities.get("AuthorizationDetails"),
    ) && let DataValueItem::ArrayOfString(a) = &details.item
    {
        obj.insert("AuthorizationDetails".into(), json!(a.values));
    }
    json_response(StatusCode::OK, doc)
}

/// Avro-JSON encoding of ServerCapabilities: unions written as `{"<branch>": value}`.
pub fn avro_json(caps: &ServerCapabilities) -> Value {
    json!({
        "applicationName": caps.application_name,
        "applicationVersion": caps.application_version,
        "contactInformation": {
            "organizationName": caps.contact_information.organization_name,
            "contactName": caps.contact_information.contact_name,
            "contactPhone": caps.contact_information.contact_phone,
            "contactEmail": caps.contact_information.contact_email,
        },
        "supportedCompression": caps.supported_compression,
        "supportedEncodings": caps.supported_encodings,
        "supportedFormats": caps.supported_formats,
        "supportedDataObjects": caps.supported_data_objects.iter().map(|d| json!({
            "qualifiedType": d.qualified_type,
            "dataObjectCapabilities": map_json(&d.data_object_capabilities),
        })).collect::<Vec<_>>(),
        "supportedProtocols": caps.supported_protocols.iter().map(|p| json!({
            "protocol": p.protocol,
            "protocolVersion": {"major": p.protocol_version.major, "minor": p.protocol_version.minor, "revision": p.protocol_version.revision, "patch": p.protocol_version.patch},
            "role": p.role,
            "protocolCapabilities": map_json(&p.protocol_capabilities),
        })).collect::<Vec<_>>(),
        "endpointCapabilities": map_json(&caps.endpoint_capabilities),
    })
}

fn map_json(map: &Map<DataValue>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.to_string(), json!({"item": data_value_json(&v.item)})))
            .collect(),
    )
}

fn data_value_json(item: &DataValueItem) -> Value {
    const NS: &str = "Energistics.Etp.v12.Datatypes.";
    match item {
        DataValueItem::Null => Value::Null,
        DataValueItem::Boolean(v) => json!({"boolean": v}),
        DataValueItem::Int(v) => json!({"int": v}),
        DataValueItem::Long(v) => json!({"long": v}),
        DataValueItem::Float(v) => json!({"float": v}),
        DataValueItem::Double(v) => json!({"double": v}),
        DataValueItem::String(v) => json!({"string": v}),
        DataValueItem::ArrayOfString(a) => {
            json!({format!("{NS}ArrayOfString"): {"values": a.values}})
        }
        DataValueItem::ArrayOfBoolean(a) => {
            json!({format!("{NS}ArrayOfBoolean"): {"values": a.values}})
        }
        DataValueItem::ArrayOfInt(a) => json!({format!("{NS}ArrayOfInt"): {"values": a.values}}),
        DataValueItem::ArrayOfLong(a) => json!({format!("{NS}ArrayOfLong"): {"values": a.values}}),
        DataValueItem::ArrayOfDouble(a) => {
            json!({format!("{NS}ArrayOfDouble"): {"values": a.values}})
        }
        // Not used in capabilities; written with the serde view of the value.
        other => serde_json::to_value(other).unwrap_or(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_values_use_avro_json_branch_names() {
        assert_eq!(data_value_json(&DataValueItem::Long(5)), json!({"long": 5}));
        let v = data_value_json(&DataValue::strings(["a"]).item);
        assert_eq!(
            v,
            json!({"Energistics.Etp.v12.Datatypes.ArrayOfString": {"values": ["a"]}})
        );
    }
}
