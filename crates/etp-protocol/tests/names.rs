//! Property tests for qualified types and content types: conversions in both
//! directions agree, wildcard spellings are equivalent, matching is
//! consistent with intersection, and no input makes the parsers panic.

use etp_protocol::names::{ContentType, KNOWN_ML_VERSIONS, MlFamily, MlVersion, QualifiedType};
use proptest::prelude::*;

fn family() -> impl Strategy<Value = MlFamily> {
    prop::sample::select(MlFamily::ALL.to_vec())
}

fn version() -> impl Strategy<Value = MlVersion> {
    (10u8..=99)
        .prop_map(|two_digits| MlVersion::from_two_digits(two_digits).expect("10..=99 is valid"))
}

fn type_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_]{1,24}"
}

fn concrete_type() -> impl Strategy<Value = QualifiedType> {
    (family(), version(), type_name()).prop_map(|(family, version, name)| {
        QualifiedType::new(family, version, &name).expect("valid name")
    })
}

fn any_type() -> impl Strategy<Value = QualifiedType> {
    prop_oneof![
        concrete_type(),
        (family(), version())
            .prop_map(|(family, version)| QualifiedType::wildcard(family, version)),
    ]
}

proptest! {
    #[test]
    fn qualified_type_text_round_trips(qualified in any_type()) {
        let text = qualified.to_string();
        prop_assert_eq!(QualifiedType::parse(&text), Ok(qualified.clone()));
        prop_assert_eq!(QualifiedType::from_reference_text(&text), Ok(qualified));
    }

    #[test]
    fn content_type_conversion_round_trips(qualified in any_type()) {
        let content_type = qualified.to_content_type();
        prop_assert_eq!(content_type.to_qualified_type(), qualified.clone());
        let text = content_type.to_string();
        prop_assert_eq!(ContentType::parse(&text), Ok(content_type));
        prop_assert_eq!(QualifiedType::from_reference_text(&text), Ok(qualified));
    }

    #[test]
    fn dotted_versions_of_known_releases_map_back(index in 0usize..KNOWN_ML_VERSIONS.len(), name in type_name()) {
        let known = KNOWN_ML_VERSIONS.get(index).expect("index in range");
        for dotted in [known.release, known.content_type_version] {
            let content_type = ContentType::new(known.family, dotted, Some(&name)).expect("valid");
            let qualified = content_type.to_qualified_type();
            prop_assert_eq!(qualified.family(), known.family);
            prop_assert_eq!(qualified.version(), known.version);
            prop_assert_eq!(qualified.object_type(), Some(name.as_str()));
        }
    }

    #[test]
    fn wildcard_spellings_are_equivalent(family in family(), version in version(), probe in concrete_type()) {
        let prefix = format!("{family}{version}");
        let spellings = [format!("{prefix}.*"), format!("{prefix}."), prefix.clone(), prefix.to_ascii_uppercase()];
        let standard = QualifiedType::wildcard(family, version);
        for spelling in spellings {
            let parsed = QualifiedType::parse(&spelling).expect("wildcard spelling parses");
            prop_assert_eq!(&parsed, &standard);
            prop_assert_eq!(
                probe.matches(&parsed),
                probe.family() == family && probe.version() == version
            );
        }
    }

    #[test]
    fn intersection_agrees_with_matching(a in any_type(), b in any_type()) {
        match a.intersection(&b) {
            Some(both) => {
                prop_assert!(both.matches(&a) && both.matches(&b));
                prop_assert!(both == a || both == b);
            }
            None => prop_assert!(!a.matches(&b) && !b.matches(&a)),
        }
        prop_assert!(a.matches(&a));
    }

    #[test]
    fn parsers_never_panic(text in prop_oneof![
        any::<String>(),
        "[a-zA-Z]{0,8}[0-9]{0,3}\\.?[A-Za-z0-9_*. -]{0,12}",
        "(application/x-)?[a-z]{0,8}(\\+xml)?(; ?(version|type|TYPE)=\"?[0-9a-z_.*]{0,8}\"?){0,3}",
    ]) {
        let _ = QualifiedType::parse(&text);
        let _ = QualifiedType::parse_concrete(&text);
        let _ = QualifiedType::from_reference_text(&text);
        if let Ok(content_type) = ContentType::parse(&text) {
            let reparsed = ContentType::parse(&content_type.to_string());
            prop_assert_eq!(reparsed, Ok(content_type));
        }
    }
}
