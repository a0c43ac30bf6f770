//! `etp info`: the server's capabilities document and a negotiated session, as tables or
//! JSON.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use etp_client::{Client, capabilities_url, fetch_server_capabilities};
use etp_protocol::codec::Map;
use etp_protocol::types::datatypes::{DataValue, DataValueItem};
use serde_json::{Value, json};

use crate::cli::InfoArgs;

/// Fetches the capabilities document (failure is reported, not fatal), opens a session
/// (failure is fatal), prints both.
pub async fn run(args: InfoArgs) -> anyhow::Result<ExitCode> {
    let config = args.client.client_config()?;
    let url = config.url.clone();
    let doc_url = capabilities_url(&url)?;
    let document = fetch_server_capabilities(&config).await;
    let client = Client::connect(config.clone())
        .await
        .with_context(|| format!("cannot open an ETP session with {url}"))?;
    let own_limit = config.max_message_size;
    if args.json {
        let (doc, doc_error) = match &document {
            Ok(d) => (d.clone(), Value::Null),
            Err(e) => (Value::Null, Value::String(e.to_string())),
        };
        let out = json!({
            "url": url,
            "capabilitiesUrl": doc_url,
            "capabilities": doc,
            "capabilitiesError": doc_error,
            "session": client.session(),
            "negotiated": {
                "sessionId": client.session_id().to_string(),
                "compression": if client.compression() { "gzip" } else { "" },
                "maxMessageSize": client.max_message_size(),
                "clientMaxMessageSize": own_limit,
            },
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", session_text(&client, &url, own_limit));
        println!();
        match &document {
            Ok(doc) => print!("{}", document_text(doc, &doc_url)),
            Err(e) => println!("Capabilities document ({doc_url}): unavailable: {e}"),
        }
    }
    let _ = client.close("etp info done").await;
    Ok(ExitCode::SUCCESS)
}

/// ETP protocol names by number (including the OSDU extensions).
pub fn protocol_name(protocol: i32) -> &'static str {
    match protocol {
        0 => "Core",
        1 => "ChannelStreaming",
        2 => "ChannelDataFrame",
        3 => "Discovery",
        4 => "Store",
        5 => "StoreNotification",
        6 => "GrowingObject",
        7 => "GrowingObjectNotification",
        9 => "DataArray",
        13 => "DiscoveryQuery",
        14 => "StoreQuery",
        16 => "GrowingObjectQuery",
        18 => "Transaction",
        21 => "ChannelSubscribe",
        22 => "ChannelDataLoad",
        24 => "Dataspace",
        25 => "SupportedTypes",
        2100 => "WitsmlSoap",
        2404 => "StoreOSDU",
        2424 => "DataspaceOSDU",
        _ => "?",
    }
}

/// Readable text of any JSON value: single-key objects (Avro union branches, `item`,
/// `values`) are unwrapped, arrays joined with commas.
pub fn json_text(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(json_text).collect::<Vec<_>>().join(", "),
        Value::Object(map) if map.len() == 1 => {
            map.values().next().map(json_text).unwrap_or_default()
        }
        other => other.to_string(),
    }
}

/// Readable text of a capability value.
pub fn data_value_text(value: &DataValue) -> String {
    match &value.item {
        DataValueItem::Null => "null".to_string(),
        item => json_text(&serde_json::to_value(item).unwrap_or(Value::Null)),
    }
}

fn capabilities_text(caps: &Map<DataValue>) -> String {
    caps.iter()
        .map(|(k, v)| format!("{k}={}", data_value_text(v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Left-aligned columns, two spaces apart, indented by two.
fn table(header: Option<&[&str]>, rows: &[Vec<String>]) -> String {
    let columns = header.map_or_else(|| rows.first().map_or(0, Vec::len), <[&str]>::len);
    let mut widths = vec![0; columns];
    for row in header
        .map(|h| h.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .iter()
        .chain(rows)
    {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let mut text = String::from("  ");
        let last = cells.len().saturating_sub(1);
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    if let Some(h) = header {
        line(h.iter().map(|s| s.to_string()).collect());
    }
    for row in rows {
        line(row.clone());
    }
    out
}

/// Microseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn format_micros(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn session_text(client: &Client, url: &str, own_limit: usize) -> String {
    let s = client.session();
    let server_limit = s
        .endpoint_capabilities
        .get("MaxWebSocketMessagePayloadSize")
        .and_then(DataValue::as_i64)
        .map_or_else(|| "not advertised".to_string(), |v| v.to_string());
    let mut out = String::from("ETP session\n");
    out.push_str(&table(
        None,
        &[
            vec!["Endpoint".into(), url.to_string()],
            vec![
                "Server".into(),
                format!("{} {}", s.application_name, s.application_version),
            ],
            vec!["Server instance".into(), s.server_instance_id.to_string()],
            vec!["Session id".into(), s.session_id.to_string()],
            vec!["Server time".into(), format_micros(s.current_date_time)],
            vec![
                "Earliest retained change".into(),
                format_micros(s.earliest_retained_change_time),
            ],
            vec![
                "Compression".into(),
                if client.compression() {
                    "gzip".to_string()
                } else if s.supported_compression.is_empty() {
                    "none".to_string()
                } else {
                    format!("none (server chose {:?})", s.supported_compression)
                },
            ],
            vec![
                "Max message size".into(),
                format!(
                    "{} bytes (server {server_limit}, client {own_limit})",
                    client.max_message_size()
                ),
            ],
            vec!["Formats".into(), s.supported_formats.join(", ")],
        ],
    ));
    out.push_str("\nEndpoint capabilities\n");
    let rows: Vec<Vec<String>> = s
        .endpoint_capabilities
        .iter()
        .map(|(k, v)| vec![k.to_string(), data_value_text(v)])
        .collect();
    if rows.is_empty() {
        out.push_str("  (none)\n");
    } else {
        out.push_str(&table(None, &rows));
    }
    out.push_str("\nProtocols\n");
    let rows: Vec<Vec<String>> = s
        .supported_protocols
        .iter()
        .map(|p| {
            let v = &p.protocol_version;
            vec![
                p.protocol.to_string(),
                protocol_name(p.protocol).to_string(),
                p.role.to_string(),
                format!("{}.{}.{}.{}", v.major, v.minor, v.revision, v.patch),
                capabilities_text(&p.protocol_capabilities),
            ]
        })
        .collect();
    out.push_str(&table(
        Some(&["ID", "PROTOCOL", "ROLE", "VERSION", "CAPABILITIES"]),
        &rows,
    ));
    out.push_str("\nData objects\n");
    let rows: Vec<Vec<String>> = s
        .supported_data_objects
        .iter()
        .map(|d| {
            vec![
                d.qualified_type.to_string(),
                capabilities_text(&d.data_object_capabilities),
            ]
        })
        .collect();
    out.push_str(&table(Some(&["TYPE", "CAPABILITIES"]), &rows));
    out
}

fn str_list(doc: &Value, key: &str) -> String {
    match doc.get(key) {
        Some(Value::Array(items)) if items.is_empty() => "(none)".to_string(),
        Some(v) => json_text(v),
        None => "-".to_string(),
    }
}

/// The capabilities document as text.
pub fn document_text(doc: &Value, doc_url: &str) -> String {
    let mut out = format!("Capabilities document ({doc_url})\n");
    let get = |k: &str| doc.get(k).map(json_text).unwrap_or_else(|| "-".to_string());
    let contact = doc
        .get("contactInformation")
        .and_then(Value::as_object)
        .map(|c| {
            c.values()
                .map(json_text)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    out.push_str(&table(
        None,
        &[
            vec![
                "Server".into(),
                format!("{} {}", get("applicationName"), get("applicationVersion")),
            ],
            vec![
                "Contact".into(),
                if contact.is_empty() {
                    "-".into()
                } else {
                    contact
                },
            ],
            vec!["Encodings".into(), str_list(doc, "supportedEncodings")],
            vec!["Compression".into(), str_list(doc, "supportedCompression")],
            vec!["Formats".into(), str_list(doc, "supportedFormats")],
        ],
    ));
    if let Some(caps) = doc.get("endpointCapabilities").and_then(Value::as_object) {
        out.push_str("\nEndpoint capabilities (document)\n");
        let rows: Vec<Vec<String>> = caps
            .iter()
            .map(|(k, v)| vec![k.clone(), json_text(v)])
            .collect();
        out.push_str(&table(None, &rows));
    }
    if let Some(protocols) = doc.get("supportedProtocols").and_then(Value::as_array) {
        out.push_str("\nProtocols (document)\n");
        let rows: Vec<Vec<String>> = protocols
            .iter()
            .map(|p| {
                let id = p.get("protocol").and_then(Value::as_i64).unwrap_or(-1);
                let version = p
                    .get("protocolVersion")
                    .and_then(Value::as_object)
                    .map(|v| {
                        ["major", "minor", "revision", "patch"]
                            .iter()
                            .map(|k| v.get(*k).map(json_text).unwrap_or_default())
                            .collect::<Vec<_>>()
                            .join(".")
                    })
                    .unwrap_or_default();
                let caps = p
                    .get("protocolCapabilities")
                    .and_then(Value::as_object)
                    .map(|c| {
                        c.iter()
                            .map(|(k, v)| format!("{k}={}", json_text(v)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                vec![
                    id.to_string(),
                    i32::try_from(id).map_or("?", protocol_name).to_string(),
                    p.get("role").map(json_text).unwrap_or_default(),
                    version,
                    caps,
                ]
            })
            .collect();
        out.push_str(&table(
            Some(&["ID", "PROTOCOL", "ROLE", "VERSION", "CAPABILITIES"]),
            &rows,
        ));
    }
    if let Some(objects) = doc.get("supportedDataObjects").and_then(Value::as_array) {
        out.push_str("\nData objects (document)\n");
        let rows: Vec<Vec<String>> = objects
            .iter()
            .map(|o| {
                let caps = o
                    .get("dataObjectCapabilities")
                    .and_then(Value::as_object)
                    .map(|c| {
                        c.iter()
                            .map(|(k, v)| format!("{k}={}", json_text(v)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                vec![
                    o.get("qualifiedType").map(json_text).unwrap_or_default(),
                    caps,
                ]
            })
            .collect();
        out.push_str(&table(Some(&["TYPE", "CAPABILITIES"]), &rows));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times() {
        assert_eq!(format_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_micros(1_700_000_000_123_456),
            "2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(
            format_micros(951_782_400_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
    }

    #[test]
    fn renders_values() {
        let long = DataValue {
            item: DataValueItem::Long(5),
        };
        assert_eq!(data_value_text(&long), "5");
        let b = DataValue {
            item: DataValueItem::Boolean(true),
        };
        assert_eq!(data_value_text(&b), "true");
        let avro_json: Value = serde_json::from_str(
            r#"{"item": {"Energistics.Etp.v12.Datatypes.ArrayOfString": {"values": ["a", "b"]}}}"#,
        )
        .unwrap();
        assert_eq!(json_text(&avro_json), "a, b");
    }

    #[test]
    fn renders_document() {
        let doc: Value = serde_json::from_str(
            r#"{"applicationName": "srv", "applicationVersion": "1",
                "supportedEncodings": ["binary"], "supportedCompression": ["gzip"],
                "supportedProtocols": [{"protocol": 4, "protocolVersion": {"major": 1, "minor": 2, "revision": 0, "patch": 0},
                                        "role": "store", "protocolCapabilities": {"MaxDataObjectSize": {"item": {"long": 9}}}}],
                "endpointCapabilities": {"MaxWebSocketMessagePayloadSize": {"item": {"long": 1000}}}}"#,
        )
        .unwrap();
        let text = document_text(&doc, "http://x/");
        assert!(text.contains("srv 1"), "{text}");
        assert!(
            text.contains("MaxWebSocketMessagePayloadSize  1000"),
            "{text}"
        );
        assert!(
            text.contains("4   Store     store  1.2.0.0  MaxDataObjectSize=9"),
            "{text}"
        );
    }
}
