//! Property tests for ETP URIs: every URI we can build formats to text that
//! parses back to the same value, canonical text is a fixed point, lenient
//! spellings canonicalise to the same value, and no input makes the parser
//! panic.

use etp_protocol::names::{MlFamily, MlVersion, QualifiedType};
use etp_protocol::uri::{
    DataObjectUri, DataspaceUri, EtpUri, HierarchicalUri, QueryBase, QueryUri, format_uuid,
    parse_uuid,
};
use proptest::prelude::*;

fn family() -> impl Strategy<Value = MlFamily> {
    prop::sample::select(MlFamily::ALL.to_vec())
}

fn qualified_type() -> impl Strategy<Value = QualifiedType> {
    (family(), 10u8..=99, "[A-Za-z0-9_]{1,24}").prop_map(|(family, two_digits, name)| {
        let version = MlVersion::from_two_digits(two_digits).expect("10..=99 is a valid version");
        QualifiedType::new(family, version, &name).expect("generated names are valid")
    })
}

/// Dataspace paths: anything without control characters, with quotes,
/// slashes, parentheses, `?`, `#` and non-ASCII over-represented.
fn dataspace() -> impl Strategy<Value = DataspaceUri> {
    prop_oneof![
        Just(DataspaceUri::default_dataspace()),
        "[a-z0-9'/()?#% é-]{1,16}"
            .prop_map(|path| DataspaceUri::from_path(&path).expect("no control characters")),
        "\\PC{0,12}"
            .prop_map(|path| DataspaceUri::from_path(&path).expect("no control characters")),
    ]
}

fn object_version() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[0-9a-z.' )(]{0,8}")
}

fn data_object() -> impl Strategy<Value = DataObjectUri> {
    (
        dataspace(),
        qualified_type(),
        any::<[u8; 16]>(),
        object_version(),
    )
        .prop_map(|(dataspace, qualified_type, uuid, version)| {
            let object =
                DataObjectUri::new(dataspace, qualified_type, uuid).expect("concrete type");
            match version {
                Some(version) => object
                    .with_version(&version)
                    .expect("no control characters"),
                None => object,
            }
        })
}

fn hierarchical() -> impl Strategy<Value = HierarchicalUri> {
    (
        data_object(),
        prop::collection::vec((qualified_type(), any::<[u8; 16]>()), 1..4),
    )
        .prop_map(|(target, chain)| {
            let ancestors = chain
                .into_iter()
                .map(|(qualified_type, uuid)| {
                    DataObjectUri::new(target.dataspace().clone(), qualified_type, uuid)
                        .expect("concrete type")
                })
                .collect();
            HierarchicalUri::new(ancestors, target).expect("same dataspace, non-empty")
        })
}

fn query() -> impl Strategy<Value = QueryUri> {
    let base = prop_oneof![
        dataspace().prop_map(QueryBase::Dataspace),
        data_object().prop_map(QueryBase::DataObject),
        hierarchical().prop_map(QueryBase::Hierarchical),
    ];
    (
        base,
        prop::option::of(qualified_type()),
        prop::option::of("[$a-z0-9=&' /()?]{1,20}"),
        prop::option::of("[a-z0-9#?/]{1,8}"),
    )
        .prop_filter_map(
            "a query URI needs something beyond its base",
            |(base, target, query, fragment)| {
                QueryUri::new(base, target, query.as_deref(), fragment.as_deref()).ok()
            },
        )
}

fn any_uri() -> impl Strategy<Value = EtpUri> {
    prop_oneof![
        dataspace().prop_map(EtpUri::from),
        data_object().prop_map(EtpUri::from),
        hierarchical().prop_map(EtpUri::from),
        query().prop_map(EtpUri::from),
    ]
}

/// Text that looks enough like a URI to reach deep into the parser.
fn uri_like_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[eEmMlL:/]{0,8}[a-zA-Z0-9'()/.?#=,_ %-]{0,60}",
        "eml:///dataspace\\('[a-z' ]{0,6}'{0,3}\\)?/?[a-z]{2,7}[0-9]{0,3}\\.?[A-Za-z_*]{0,8}\\(?(uuid=)?[0-9a-fA-F-]{0,40}(,version='[a-z']{0,4}'?)?\\)?/?\\??#?",
    ]
}

proptest! {
    #[test]
    fn uuid_bytes_round_trip(bytes in any::<[u8; 16]>()) {
        let text = format_uuid(&bytes);
        prop_assert_eq!(text.len(), 36);
        prop_assert_eq!(text.to_ascii_lowercase(), text.clone());
        prop_assert_eq!(parse_uuid(&text), Some(bytes));
        prop_assert_eq!(parse_uuid(&text.to_ascii_uppercase()), Some(bytes));
    }

    #[test]
    fn built_uris_round_trip(uri in any_uri()) {
        let text = uri.to_string();
        let parsed = EtpUri::parse(&text);
        prop_assert_eq!(parsed.as_ref(), Ok(&uri), "{}", text);
        prop_assert!(EtpUri::parse_canonical(&text).is_ok(), "{}", text);
    }

    #[test]
    fn canonical_text_is_a_fixed_point(text in uri_like_text()) {
        if let Ok(uri) = EtpUri::parse(&text) {
            let canonical = uri.to_string();
            let reparsed = EtpUri::parse(&canonical);
            prop_assert_eq!(reparsed.as_ref(), Ok(&uri), "{} -> {}", text, canonical);
            prop_assert_eq!(reparsed.map(|u| u.to_string()), Ok(canonical));
        }
    }

    #[test]
    fn parsing_hostile_text_never_panics(text in uri_like_text()) {
        let _ = EtpUri::parse(&text);
        let _ = DataObjectUri::parse(&text);
        let _ = DataspaceUri::parse(&text);
    }

    #[test]
    fn case_variants_canonicalise(object in data_object(), mask in any::<u64>()) {
        let canonical = object.to_string();
        // Upper-case the scheme, the family and the UUID digits, as some
        // producers do; everything else must stay as it is.
        let family_prefix = object.qualified_type().release_prefix();
        let uuid_text = object.uuid_string();
        let mut varied = canonical.clone();
        if mask & 1 == 1 {
            varied = varied.replacen("eml:", "EML:", 1);
        }
        if mask & 2 == 2 {
            varied = varied.replacen(&uuid_text, &uuid_text.to_ascii_uppercase(), 1);
        }
        if mask & 4 == 4 {
            let type_segment = format!("/{}.", family_prefix);
            varied = varied.replacen(&type_segment, &type_segment.to_ascii_uppercase(), 1);
        }
        let parsed = DataObjectUri::parse(&varied);
        prop_assert_eq!(parsed.as_ref(), Ok(&object), "{}", varied);
        prop_assert_eq!(parsed.map(|o| o.to_string()), Ok(canonical));
    }

    #[test]
    fn dataspace_paths_survive_quoting(path in "\\PC{0,20}") {
        let dataspace = DataspaceUri::from_path(&path).expect("no control characters");
        let parsed = DataspaceUri::parse(&dataspace.to_string()).expect("own output parses");
        prop_assert_eq!(parsed.path_or_empty(), path.as_str());
        prop_assert!(parsed.path_matches(&path));
    }
}
