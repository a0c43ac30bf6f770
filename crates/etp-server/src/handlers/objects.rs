//! Conversions between the store's records and ETP's object vocabulary, shared by the
//! protocols that name data objects (Store, Discovery, DataArray, SupportedTypes).

use etp_model::catalog;
use etp_protocol::EtpString;
use etp_protocol::codec::{Map, decode_exact};
use etp_protocol::error_code::ErrorCode;
use etp_protocol::names::QualifiedType;
use etp_protocol::types::datatypes::object::{ActiveStatusKind, Resource};
use etp_protocol::types::datatypes::{DataValue, ErrorInfo};
use etp_protocol::uri::{DataObjectUri, DataspaceUri, EtpUri};
use etp_store::{ActiveStatus, ObjectKey, ObjectMeta, ObjectRow};

/// An [`ErrorInfo`] with `code` and `message`.
pub fn error_info(code: ErrorCode, message: impl Into<String>) -> ErrorInfo {
    ErrorInfo {
        message: EtpString::from(message.into()),
        code: code.code(),
    }
}

/// Whether the store accepts objects of the concrete `qualified_type`: its ML release is
/// in [`etp_model::catalog`] and, where the catalog lists the release, the name is listed
/// (ignoring ASCII case, like [`QualifiedType::matches`]). A RESQML 2.0.1 / EML 2.0 name
/// without its `obj_` prefix is not: no stored object can have that type.
pub fn is_supported(qualified_type: &QualifiedType) -> bool {
    qualified_type.object_type().is_some_and(|name| {
        catalog::release_by_prefix(&qualified_type.release_prefix())
            .is_some_and(|release| release.accepts_type(name))
    })
}

/// `Ok` for a supported type (see [`is_supported`]), else the
/// `EDATAOBJECTTYPE_NOTSUPPORTED` (16) error to answer.
pub fn check_supported(qualified_type: &QualifiedType) -> Result<(), ErrorInfo> {
    if is_supported(qualified_type) {
        Ok(())
    } else {
        Err(error_info(
            ErrorCode::EDATAOBJECTTYPE_NOTSUPPORTED,
            format!("data object type {qualified_type} is not supported by this store"),
        ))
    }
}

/// A parsed data object URI resolved to its store key, with the type the URI names.
#[derive(Debug, Clone)]
pub struct ObjectRef {
    /// The store key (dataspace path, UUID, version).
    pub key: ObjectKey,
    /// The qualified type written in the URI.
    pub qualified_type: QualifiedType,
    /// The parsed URI.
    pub uri: DataObjectUri,
}

/// Parses a data object URI (`eml:///dataspace('p')/type(uuid)`), answering
/// `EINVALID_URI` (9) for anything else.
pub fn parse_object_uri(uri: &str) -> Result<ObjectRef, ErrorInfo> {
    let parsed = DataObjectUri::parse(uri).map_err(|e| {
        error_info(
            ErrorCode::EINVALID_URI,
            format!("invalid data object URI {uri:?}: {e}"),
        )
    })?;
    Ok(ObjectRef {
        key: ObjectKey {
            dataspace: parsed.dataspace().path_or_empty().to_owned(),
            uuid: *parsed.uuid(),
            version: parsed.version().map(str::to_owned),
        },
        qualified_type: parsed.qualified_type().clone(),
        uri: parsed,
    })
}

/// Parses a dataspace URI (`eml:///` or `eml:///dataspace('p')`) to its path (`""` for the
/// default dataspace), answering `EINVALID_URI` (9) for anything else.
pub fn parse_dataspace_uri(uri: &str) -> Result<String, ErrorInfo> {
    DataspaceUri::parse(uri)
        .map(|d| d.path_or_empty().to_owned())
        .map_err(|e| {
            error_info(
                ErrorCode::EINVALID_URI,
                format!("invalid dataspace URI {uri:?}: {e}"),
            )
        })
}

/// Parses any ETP URI, answering `EINVALID_URI` (9) when it does not parse.
pub fn parse_any_uri(uri: &str) -> Result<EtpUri, ErrorInfo> {
    EtpUri::parse(uri)
        .map_err(|e| error_info(ErrorCode::EINVALID_URI, format!("invalid URI {uri:?}: {e}")))
}

/// The canonical URI of a stored object (`qualified_type` as stored, e.g.
/// `resqml20.obj_Grid2dRepresentation`). `None` only if the stored type or path cannot be
/// written as a URI, which the store's write path rules out.
pub fn object_uri(key: &ObjectKey, qualified_type: &str) -> Option<String> {
    let dataspace = DataspaceUri::from_path(&key.dataspace).ok()?;
    let qualified_type: QualifiedType = qualified_type.parse().ok()?;
    let uri = DataObjectUri::new(dataspace, qualified_type, key.uuid).ok()?;
    let uri = match &key.version {
        Some(v) => uri.with_version(v).ok()?,
        None => uri,
    };
    // The prefix, type and UUID take about 100 bytes; the dataspace and version vary.
    let mut text = String::with_capacity(
        128 + key.dataspace.len() + key.version.as_ref().map_or(0, String::len),
    );
    uri.push_to(&mut text);
    Some(text)
}

/// The ETP `Resource` of a stored object (03-uris-and-objects.md §4). `counts` =
/// (sourceCount, targetCount) when the request asked for them (`countObjects`), else both
/// are null.
pub fn resource(key: &ObjectKey, meta: &ObjectMeta, counts: Option<(u64, u64)>) -> Resource {
    let uri = object_uri(key, &meta.qualified_type).unwrap_or_default();
    resource_with(uri, meta.title.clone(), meta, counts)
}

/// [`resource`] for a caller that already has the object's URI and owns its record
/// (Discovery lists build URIs through a cache and need no copy of the title).
pub fn resource_at(uri: String, mut meta: ObjectMeta, counts: Option<(u64, u64)>) -> Resource {
    let name = std::mem::take(&mut meta.title);
    resource_with(uri, name, &meta, counts)
}

/// The `Resource` of a row lent by a listing ([`etp_store::ReadTxn::visit_objects`]),
/// counts left null: the row's borrowed fields are copied once, into the answer.
pub fn row_resource(uri: String, row: &ObjectRow<'_>) -> Resource {
    Resource {
        uri: uri.into(),
        alternate_uris: Default::default(),
        name: row.title.into(),
        source_count: None,
        target_count: None,
        last_changed: row.last_changed,
        store_last_write: row.store_last_write,
        store_created: row.store_created,
        active_status: active_status_kind(row.active_status),
        custom_data: custom_data(row.custom_data),
    }
}

/// Appends the Avro encoding of [`row_resource`]`(uri, row)` with `counts` set as
/// [`set_counts`] sets them (null when `None`), without building the record: what a
/// listing that sends its parts as it scans writes for each row.
pub fn encode_row_resource(
    out: &mut Vec<u8>,
    uri: &str,
    row: &ObjectRow<'_>,
    counts: Option<(u64, u64)>,
) {
    encode_resource_fields(
        out,
        uri,
        row.title,
        [row.last_changed, row.store_last_write, row.store_created],
        row.active_status,
        row.custom_data,
        counts,
    );
}

/// Appends the Avro encoding of [`resource`]`(key, meta, None)` for an object whose URI
/// the caller already wrote into `uri`, without building the record (GetDataObjects
/// encodes its answer straight from the stored objects).
pub fn encode_meta_resource(out: &mut Vec<u8>, uri: &str, meta: &ObjectMeta) {
    encode_resource_fields(
        out,
        uri,
        &meta.title,
        [meta.last_changed, meta.store_last_write, meta.store_created],
        meta.active_status,
        &meta.custom_data,
        None,
    );
}

/// The `Resource` encoding shared by [`encode_row_resource`] and [`encode_meta_resource`];
/// `times` = (lastChanged, storeLastWrite, storeCreated).
fn encode_resource_fields(
    out: &mut Vec<u8>,
    uri: &str,
    title: &str,
    [last_changed, store_last_write, store_created]: [i64; 3],
    active_status: ActiveStatus,
    custom_data_bytes: &[u8],
    counts: Option<(u64, u64)>,
) {
    use etp_protocol::codec::Avro;
    use etp_protocol::codec::writer::{write_bytes, write_int, write_long};
    // Field order of `Resource`; a union branch is its index as a long (null = 0).
    write_bytes(out, uri.as_bytes());
    // `alternateUris`: an empty array is its end marker alone.
    out.push(0);
    write_bytes(out, title.as_bytes());
    match counts {
        Some((sources, targets)) => {
            let clamp = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
            write_long(out, 1);
            write_int(out, clamp(sources));
            write_long(out, 1);
            write_int(out, clamp(targets));
        }
        None => {
            write_long(out, 0);
            write_long(out, 0);
        }
    }
    write_long(out, last_changed);
    write_long(out, store_last_write);
    write_long(out, store_created);
    active_status_kind(active_status).encode(out);
    if custom_data_bytes.is_empty() {
        out.push(0);
    } else {
        // Rare, and decoded first so that unreadable bytes become an empty map, exactly
        // as in `row_resource` and `resource`.
        custom_data(custom_data_bytes).encode(out);
    }
}

fn active_status_kind(status: ActiveStatus) -> ActiveStatusKind {
    match status {
        ActiveStatus::Active => ActiveStatusKind::Active,
        ActiveStatus::Inactive => ActiveStatusKind::Inactive,
    }
}

fn resource_with(
    uri: String,
    name: String,
    meta: &ObjectMeta,
    counts: Option<(u64, u64)>,
) -> Resource {
    let mut resource = Resource {
        uri: uri.into(),
        alternate_uris: Default::default(),
        name: name.into(),
        source_count: None,
        target_count: None,
        last_changed: meta.last_changed,
        store_last_write: meta.store_last_write,
        store_created: meta.store_created,
        active_status: active_status_kind(meta.active_status),
        custom_data: custom_data(&meta.custom_data),
    };
    if let Some(counts) = counts {
        set_counts(&mut resource, counts);
    }
    resource
}

/// Fills `sourceCount` and `targetCount` (saturating at the Avro `int` range).
pub fn set_counts(resource: &mut Resource, (sources, targets): (u64, u64)) {
    let clamp = |n: u64| i32::try_from(n).unwrap_or(i32::MAX);
    resource.source_count = Some(clamp(sources));
    resource.target_count = Some(clamp(targets));
}

/// Decodes a `customData` map kept as Avro bytes (empty on anything unreadable: the server
/// wrote these bytes itself).
pub fn custom_data(bytes: &[u8]) -> Map<DataValue> {
    if bytes.is_empty() {
        return Map::new();
    }
    decode_exact::<Map<DataValue>>(bytes).unwrap_or_default()
}

/// Avro bytes of a `customData` map, as the store keeps them.
pub fn encode_custom_data(map: &Map<DataValue>) -> bytes::Bytes {
    use etp_protocol::codec::Avro;
    if map.is_empty() {
        return bytes::Bytes::new();
    }
    let mut out = Vec::new();
    map.encode(&mut out);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_uri_round_trips_through_parse() {
        let uri = "eml:///dataspace('a/b')/resqml20.obj_LocalDepth3dCrs(0b5b7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b)";
        let parsed = parse_object_uri(uri).unwrap();
        assert_eq!(parsed.key.dataspace, "a/b");
        assert_eq!(
            object_uri(&parsed.key, "resqml20.obj_LocalDepth3dCrs").as_deref(),
            Some(uri)
        );
    }

    #[test]
    fn bad_uris_are_invalid_uri_errors() {
        assert_eq!(parse_object_uri("eml:///").unwrap_err().code, 9);
        assert_eq!(parse_dataspace_uri("http://x").unwrap_err().code, 9);
    }

    fn qt(text: &str) -> QualifiedType {
        text.parse().unwrap()
    }

    #[test]
    fn known_types_are_supported_and_bogus_ones_are_not() {
        assert!(is_supported(&qt("resqml20.obj_Grid2dRepresentation")));
        assert!(is_supported(&qt("resqml20.obj_localdepth3dcrs")));
        assert!(is_supported(&qt("eml20.obj_EpcExternalPartReference")));
        assert!(is_supported(&qt("witsml21.Well")));
        assert!(is_supported(&qt("eml23.LocalEngineeringCompoundCrs")));
        assert!(is_supported(&qt("eml21.PropertyKind")));
        assert!(is_supported(&qt("prodml21.Anything")));
        assert!(!is_supported(&qt("witsml21.Unsupported")));
        assert!(!is_supported(&qt("eml21.Unsupported")));
        assert!(!is_supported(&qt("resqml20.Grid2dRepresentation")));
        assert!(!is_supported(&qt("witsml14.Well")));
        assert!(!is_supported(&qt("resqml20.*")));
        assert_eq!(check_supported(&qt("witsml21.Welll")).unwrap_err().code, 16);
    }

    #[test]
    fn every_advertised_family_is_accepted() {
        for advertised in crate::state::supported_data_objects() {
            let release = advertised.qualified_type.trim_end_matches(".*");
            assert!(
                catalog::release_by_prefix(release).is_some(),
                "{release} is advertised but not accepted"
            );
        }
    }

    #[test]
    fn every_catalogued_type_is_supported() {
        for release in catalog::releases() {
            for name in release.types().unwrap_or_default() {
                assert!(is_supported(&qt(&format!("{}.{name}", release.prefix()))));
            }
        }
    }

    #[test]
    fn resource_at_a_known_uri_is_the_same_record_and_counts_saturate() {
        let uri = "eml:///dataspace('a')/witsml21.Well(0b5b7a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b)";
        let key = parse_object_uri(uri).unwrap().key;
        let meta = ObjectMeta {
            qualified_type: "witsml21.Well".into(),
            title: "Well 1".into(),
            last_changed: 1,
            store_created: 2,
            store_last_write: 3,
            active_status: ActiveStatus::Inactive,
            format: "xml".into(),
            custom_data: bytes::Bytes::new(),
            references: Vec::new(),
            data_len: 10,
        };
        let counts = Some((5, u64::MAX));
        let built = resource(&key, &meta, counts);
        assert_eq!(built, resource_at(uri.to_string(), meta, counts));
        assert_eq!(built.uri, uri);
        assert_eq!(built.name, "Well 1");
        assert_eq!(built.active_status, ActiveStatusKind::Inactive);
        assert_eq!(
            (built.source_count, built.target_count),
            (Some(5), Some(i32::MAX))
        );
    }

    #[test]
    fn row_resources_equal_meta_resources() {
        let mut custom = Map::new();
        custom.insert("k".into(), DataValue::long(5));
        let meta = ObjectMeta {
            qualified_type: "witsml21.Well".into(),
            title: "W \u{e9}".into(),
            last_changed: 1,
            store_created: 2,
            store_last_write: 3,
            active_status: ActiveStatus::Inactive,
            format: "xml".into(),
            custom_data: encode_custom_data(&custom),
            references: Vec::new(),
            data_len: 4,
        };
        let key = ObjectKey::new("a", [9; 16]);
        let from_row = row_resource("u".into(), &ObjectRow::of(&key, &meta, Default::default()));
        assert_eq!(from_row, resource_at("u".into(), meta, None));
        assert_eq!(from_row.custom_data, custom);
    }

    #[test]
    fn encoded_rows_equal_encoded_resources() {
        use etp_protocol::codec::Avro;
        let mut custom = Map::new();
        custom.insert("k".into(), DataValue::long(5));
        let long_title = "t\u{e9}".repeat(100);
        for (title, custom_bytes, status, counts) in [
            ("", bytes::Bytes::new(), ActiveStatus::Active, None),
            (
                "W \u{e9}",
                encode_custom_data(&custom),
                ActiveStatus::Inactive,
                Some((0, 3)),
            ),
            (
                long_title.as_str(),
                bytes::Bytes::new(),
                ActiveStatus::Active,
                Some((u64::MAX, 1 << 40)),
            ),
            // Unreadable stored bytes read as an empty map either way.
            (
                "x",
                bytes::Bytes::from_static(&[7, 1]),
                ActiveStatus::Active,
                Some((64, 63)),
            ),
        ] {
            let meta = ObjectMeta {
                qualified_type: "witsml21.Well".into(),
                title: title.into(),
                last_changed: -1,
                store_created: 1 << 50,
                store_last_write: 1_700_000_000_000_000,
                active_status: status,
                format: "xml".into(),
                custom_data: custom_bytes,
                references: Vec::new(),
                data_len: 4,
            };
            let key = ObjectKey::new("a", [9; 16]);
            let uri = "eml:///dataspace('a')/witsml21.Well(09090909-0909-0909-0909-090909090909)";
            let row = ObjectRow::of(&key, &meta, Default::default());
            let mut resource = row_resource(uri.into(), &row);
            if let Some(c) = counts {
                set_counts(&mut resource, c);
            }
            let mut expected = Vec::new();
            resource.encode(&mut expected);
            let mut encoded = vec![0xAA];
            encode_row_resource(&mut encoded, uri, &row, counts);
            assert_eq!(encoded[0], 0xAA);
            assert_eq!(&encoded[1..], &expected[..], "{title:?} {counts:?}");
        }
    }

    #[test]
    fn custom_data_round_trips() {
        let mut map = Map::new();
        map.insert("k".into(), DataValue::long(5));
        assert_eq!(custom_data(&encode_custom_data(&map)), map);
        assert!(custom_data(&[]).is_empty());
    }
}
