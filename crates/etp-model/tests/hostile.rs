//! Hostile and malformed input: every case must be rejected with the right
//! error, quickly, and without panicking.

mod common;

use common::*;
use etp_model::{ModelError, ParseLimits, parse_data_object, parse_data_object_with_limits};
use std::time::{Duration, Instant};

const HEAD: &str = r#"<r:Grid2dRepresentation xmlns:r="http://www.energistics.org/energyml/data/resqmlv2" xmlns:e="http://www.energistics.org/energyml/data/commonv2" schemaVersion="2.0" uuid="be3dc02d-ed9d-45b1-b291-6edced323411">"#;
const TAIL: &str = "</r:Grid2dRepresentation>";

fn wrap(body: &str) -> String {
    format!("{HEAD}{body}{TAIL}")
}

fn not_well_formed(xml: &[u8]) -> String {
    match parse_data_object(xml) {
        Err(ModelError::NotWellFormed { message, .. }) => message,
        other => panic!(
            "expected NotWellFormed for {:?}, got {other:?}",
            String::from_utf8_lossy(xml)
        ),
    }
}

#[test]
fn truncated_at_every_offset_is_rejected() {
    for (xml, qt, _) in ALL {
        let complete = xml.trim_end().len();
        for n in 0..xml.len() {
            let r = parse_data_object(&xml.as_bytes()[..n]);
            if n < complete {
                assert!(r.is_err(), "{qt} truncated at {n} was accepted");
                if let Err(e) = &r {
                    assert_eq!(e.etp_error_code(), 14);
                }
            } else {
                assert!(r.is_ok(), "{qt} cut in trailing whitespace at {n}: {r:?}");
            }
        }
    }
}

#[test]
fn truncation_errors_are_the_expected_kinds() {
    let xml = RESQML20_GRID.as_bytes();
    // Before the root element starts: no root.
    assert_eq!(
        parse_data_object(&xml[..38]),
        Err(ModelError::NoRootElement)
    );
    // Inside the root: unclosed elements.
    let msg = not_well_formed(&xml[..xml.len() / 2]);
    assert!(!msg.is_empty());
}

#[test]
fn empty_and_rootless_documents() {
    for xml in [
        "",
        "   \n",
        "<?xml version=\"1.0\"?>",
        "<!-- only a comment -->",
        "<?pi x?>",
    ] {
        assert_eq!(
            parse_data_object(xml.as_bytes()),
            Err(ModelError::NoRootElement),
            "{xml:?}"
        );
    }
}

#[test]
fn malformed_markup() {
    let cases = [
        wrap("<r:A></r:B>"),
        wrap("<r:A>"),
        format!("{HEAD}<r:A/>"),
        wrap("<r:A x=\"1></r:A>"),
        wrap("<r:A x=1/>"),
        wrap("<r:A x=\"1\" x=\"2\"/>"),
        wrap("<r:A x/>"),
        wrap("<!-- a -- b -->"),
        wrap("<![CDATA[ unterminated"),
        wrap("<q:A/>"),
        wrap("text & more"),
        wrap("<r:A x=\"&bogus;\"/>"),
        format!("{}{}", wrap(""), "<r:Second/>"),
        format!("{}{}", wrap(""), "trailing text"),
        format!("leading text{}", wrap("")),
        format!("{}{}", wrap(""), "<![CDATA[x]]>"),
        format!("{}{}", wrap(""), "&amp;"),
        format!("\n<?xml version=\"1.0\"?>{}", wrap("")),
        format!("{}<?xml version=\"1.0\"?>", wrap("")),
        wrap("</r:A>"),
        wrap("&#0;"),
        wrap("&#xD800;"),
        wrap("&#x110000;"),
        wrap("&#xFFFE;"),
        wrap("&#1;"),
        format!("{HEAD}{TAIL}{TAIL}"),
    ];
    for xml in &cases {
        let msg = not_well_formed(xml.as_bytes());
        assert!(!msg.is_empty(), "{xml}");
    }
}

#[test]
fn second_root_element_is_rejected() {
    // A complete second root, with its own namespace declarations.
    let xml = format!("{}\n{}", wrap(""), wrap(""));
    let msg = not_well_formed(xml.as_bytes());
    assert!(msg.contains("after the end of the root"), "{msg}");
    let xml = format!("{}<!-- ok --><?pi ok?>\n", wrap(""));
    assert!(parse_data_object(xml.as_bytes()).is_ok());
}

#[test]
fn valid_char_references_pass() {
    let xml = wrap("<e:Citation><e:Title>&#x1F600;&#65;&#x9;&quot;&apos;</e:Title></e:Citation>");
    let info = parse_data_object(xml.as_bytes()).expect("valid");
    assert_eq!(info.title(), Some("😀A\t\"'"));
}

#[test]
fn doctype_with_external_entity_is_rejected() {
    let xml = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n{}",
        wrap("<e:Citation><e:Title>&xxe;</e:Title></e:Citation>")
    );
    match parse_data_object(xml.as_bytes()) {
        Err(ModelError::DoctypeNotAllowed { position }) => assert_eq!(position, 22),
        other => panic!("expected DoctypeNotAllowed, got {other:?}"),
    }
}

#[test]
fn billion_laughs_is_rejected_without_expansion() {
    let mut dtd = String::from("<!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        dtd.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">",
            format!("&{prev};").repeat(10)
        ));
    }
    dtd.push_str("]>");
    let xml = format!(
        "{dtd}{}",
        wrap("<e:Citation><e:Title>&lol9;</e:Title></e:Citation>")
    );
    assert!(matches!(
        parse_data_object(xml.as_bytes()),
        Err(ModelError::DoctypeNotAllowed { .. })
    ));
}

#[test]
fn undeclared_entity_without_dtd() {
    let xml = wrap("<e:Citation><e:Title>&xxe;</e:Title></e:Citation>");
    match parse_data_object(xml.as_bytes()) {
        Err(ModelError::UndeclaredEntity { name, position }) => {
            assert_eq!(name, "xxe");
            assert!(position as usize >= HEAD.len());
        }
        other => panic!("expected UndeclaredEntity, got {other:?}"),
    }
    // Also outside capture elements.
    let xml = wrap("<r:Any>&nbsp;</r:Any>");
    assert!(matches!(
        parse_data_object(xml.as_bytes()),
        Err(ModelError::UndeclaredEntity { .. })
    ));
}

#[test]
fn ten_thousand_deep_nesting_is_rejected_fast() {
    let depth = 10_000;
    let body = format!("{}{}", "<r:a>".repeat(depth), "</r:a>".repeat(depth));
    let xml = wrap(&body);
    let t = Instant::now();
    match parse_data_object(xml.as_bytes()) {
        Err(ModelError::DepthLimitExceeded { limit, .. }) => assert_eq!(limit, 256),
        other => panic!("expected DepthLimitExceeded, got {other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn depth_limit_boundary() {
    // Root + 255 nested elements = 256 levels: accepted; one more: rejected.
    let ok = wrap(&format!("{}{}", "<r:a>".repeat(255), "</r:a>".repeat(255)));
    assert!(parse_data_object(ok.as_bytes()).is_ok());
    let too_deep = wrap(&format!("{}{}", "<r:a>".repeat(256), "</r:a>".repeat(256)));
    assert!(matches!(
        parse_data_object(too_deep.as_bytes()),
        Err(ModelError::DepthLimitExceeded { limit: 256, .. })
    ));
    let empty_leaf = wrap(&format!(
        "{}<r:b/>{}",
        "<r:a>".repeat(255),
        "</r:a>".repeat(255)
    ));
    assert!(matches!(
        parse_data_object(empty_leaf.as_bytes()),
        Err(ModelError::DepthLimitExceeded { .. })
    ));
    let limits = ParseLimits {
        max_depth: 3,
        ..ParseLimits::default()
    };
    assert!(parse_data_object_with_limits(wrap("<r:a><r:b/></r:a>").as_bytes(), &limits).is_ok());
    assert!(
        parse_data_object_with_limits(wrap("<r:a><r:b><r:c/></r:b></r:a>").as_bytes(), &limits)
            .is_err()
    );
}

#[test]
fn huge_attribute_is_handled_and_errors_stay_small() {
    let big = "a".repeat(8 << 20);
    // A huge unrelated attribute: fine.
    let xml = format!(
        r#"<r:X xmlns:r="http://www.energistics.org/energyml/data/resqmlv2" big="{big}" schemaVersion="2.0" uuid="be3dc02d-ed9d-45b1-b291-6edced323411"/>"#
    );
    let t = Instant::now();
    let info = parse_data_object(xml.as_bytes()).expect("valid");
    assert_eq!(info.qualified_type, "resqml20.obj_X");
    assert!(t.elapsed() < Duration::from_secs(5));
    // A huge uuid attribute: rejected, and the error does not copy it.
    let xml = format!(
        r#"<r:X xmlns:r="http://www.energistics.org/energyml/data/resqmlv2" schemaVersion="2.0" uuid="{big}"/>"#
    );
    let err = parse_data_object(xml.as_bytes()).expect_err("invalid uuid");
    assert!(matches!(err, ModelError::InvalidUuid { .. }));
    assert!(err.to_string().len() < 400, "{}", err.to_string().len());
    // A huge schemaVersion: same.
    let xml = format!(
        r#"<r:X xmlns:r="http://www.energistics.org/energyml/data/resqmlv2" schemaVersion="{big}" uuid="be3dc02d-ed9d-45b1-b291-6edced323411"/>"#
    );
    let err = parse_data_object(xml.as_bytes()).expect_err("bad version");
    assert!(err.to_string().len() < 400);
}

#[test]
fn too_many_attributes() {
    let attrs: String = (0..100).map(|i| format!(" a{i}=\"x\"")).collect();
    let xml = wrap(&format!("<r:A{attrs}/>"));
    match parse_data_object(xml.as_bytes()) {
        Err(ModelError::TooManyAttributes { limit, .. }) => assert_eq!(limit, 64),
        other => panic!("expected TooManyAttributes, got {other:?}"),
    }
    let attrs: String = (0..64).map(|i| format!(" a{i}=\"x\"")).collect();
    assert!(parse_data_object(wrap(&format!("<r:A{attrs}/>")).as_bytes()).is_ok());
}

#[test]
fn many_namespace_declarations_are_bounded() {
    let decls: String = (0..60)
        .map(|i| format!(" xmlns:p{i}=\"urn:x{i}\""))
        .collect();
    let body = format!(
        "{}{}",
        format!("<r:a{decls}>").repeat(10),
        "</r:a>".repeat(10)
    );
    let msg = not_well_formed(wrap(&body).as_bytes());
    assert!(
        msg.contains("namespace") || msg.contains("binding"),
        "{msg}"
    );
}

#[test]
fn uuid_problems() {
    let xml =
        r#"<r:X xmlns:r="http://www.energistics.org/energyml/data/resqmlv2" schemaVersion="2.0"/>"#;
    assert_eq!(
        parse_data_object(xml.as_bytes()),
        Err(ModelError::MissingUuid)
    );
    // A namespaced uuid attribute is not the uuid.
    let xml = r#"<r:X xmlns:r="http://www.energistics.org/energyml/data/resqmlv2" schemaVersion="2.0" r:uuid="be3dc02d-ed9d-45b1-b291-6edced323411"/>"#;
    assert_eq!(
        parse_data_object(xml.as_bytes()),
        Err(ModelError::MissingUuid)
    );
    for bad in [
        "be3dc02ded9d45b1b2916edced323411",
        "{be3dc02d-ed9d-45b1-b291-6edced323411}",
        "be3dc02d-ed9d-45b1-b291-6edced32341",
        "ze3dc02d-ed9d-45b1-b291-6edced323411",
        "urn:uuid:be3dc02d-ed9d-45b1-b291-6edced323411",
        "",
    ] {
        let xml = format!(
            r#"<r:X xmlns:r="http://www.energistics.org/energyml/data/resqmlv2" schemaVersion="2.0" uuid="{bad}"/>"#
        );
        match parse_data_object(xml.as_bytes()) {
            Err(ModelError::InvalidUuid { value, context }) => {
                assert_eq!(value, bad);
                assert!(context.contains("uuid attribute"));
            }
            other => panic!("{bad}: expected InvalidUuid, got {other:?}"),
        }
    }
    // In a reference: rejected with the element path as context.
    let xml = wrap(
        "<r:G><r:LocalCrs><e:ContentType>application/x-resqml+xml;version=2.0;type=obj_LocalDepth3dCrs</e:ContentType><e:UUID>nope</e:UUID></r:LocalCrs></r:G>",
    );
    match parse_data_object(xml.as_bytes()) {
        Err(ModelError::InvalidUuid { value, context }) => {
            assert_eq!(value, "nope");
            assert_eq!(context, "G/LocalCrs");
        }
        other => panic!("expected InvalidUuid, got {other:?}"),
    }
}

#[test]
fn reference_and_array_limits() {
    let reference = "<r:R><e:ContentType>application/x-resqml+xml;version=2.0;type=obj_X</e:ContentType><e:UUID>dbe0e6ba-1ea6-4dd7-b541-9c4c14c16f62</e:UUID></r:R>";
    let limits = ParseLimits {
        max_references: 10,
        max_arrays: 2,
        ..ParseLimits::default()
    };
    let ok = wrap(&reference.repeat(10));
    assert_eq!(
        parse_data_object_with_limits(ok.as_bytes(), &limits)
            .expect("10 references")
            .references
            .len(),
        10
    );
    let too_many = wrap(&reference.repeat(11));
    assert_eq!(
        parse_data_object_with_limits(too_many.as_bytes(), &limits),
        Err(ModelError::TooManyReferences { limit: 10 })
    );
    let array = "<r:V><e:PathInHdfFile>/p</e:PathInHdfFile></r:V>";
    let too_many = wrap(&array.repeat(3));
    assert_eq!(
        parse_data_object_with_limits(too_many.as_bytes(), &limits),
        Err(ModelError::TooManyArrays { limit: 2 })
    );
    // Without HdfProxy the array has no ETP key.
    let info = parse_data_object_with_limits(wrap(&array.repeat(2)).as_bytes(), &limits)
        .expect("2 arrays");
    assert_eq!(info.arrays.len(), 2);
    assert_eq!(info.array_keys().count(), 0);
}

#[test]
fn encoding_problems() {
    let mut xml = RESQML20_CRS.as_bytes().to_vec();
    xml[200] = 0xFF;
    assert_eq!(
        parse_data_object(&xml),
        Err(ModelError::InvalidUtf8 { position: 200 })
    );
    // UTF-16 with BOM.
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(RESQML20_CRS.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    assert!(matches!(
        parse_data_object(&utf16),
        Err(ModelError::InvalidUtf8 { position: 0 })
    ));
    // UTF-16 without BOM is valid UTF-8 full of NULs.
    let utf16: Vec<u8> = RESQML20_CRS
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    assert!(matches!(
        parse_data_object(&utf16),
        Err(ModelError::NotWellFormed { position: 1, .. })
    ));
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>{}",
        wrap("")
    );
    assert_eq!(
        parse_data_object(xml.as_bytes()),
        Err(ModelError::UnsupportedEncoding {
            encoding: "ISO-8859-1".into()
        })
    );
    let xml = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>{}", wrap(""));
    assert!(parse_data_object(xml.as_bytes()).is_ok());
}

#[test]
fn large_valid_object_is_fine() {
    // ~2 MB of references and arrays under the default limits.
    let item = "<r:P><r:V><e:PathInHdfFile>/RESQML/x/values</e:PathInHdfFile><e:HdfProxy><e:ContentType>application/x-eml+xml;version=2.0;type=obj_EpcExternalPartReference</e:ContentType><e:Title>h</e:Title><e:UUID>d53c9c04-e83a-4ad7-87fc-567a0dd5e660</e:UUID></e:HdfProxy></r:V></r:P>";
    let xml = wrap(&item.repeat(8000));
    let info = parse_data_object(xml.as_bytes()).expect("valid");
    assert_eq!(info.references.len(), 8000);
    assert_eq!(info.arrays.len(), 8000);
    assert_eq!(info.edge_references().count(), 0);
}
