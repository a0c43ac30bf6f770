//! The single-pass scanner on what it skips quickly and what it must still
//! see: references after bulk numeric text, CDATA, comments, entities,
//! namespace prefixes, line ends, and malformed input in skipped regions.

use etp_model::{ModelError, parse_data_object};

const HEAD: &str = r#"<r:G xmlns:r="http://www.energistics.org/energyml/data/resqmlv2" xmlns:e="http://www.energistics.org/energyml/data/commonv2" schemaVersion="2.0" uuid="be3dc02d-ed9d-45b1-b291-6edced323411">"#;
const CRS: &str = "dbe0e6ba-1ea6-4dd7-b541-9c4c14c16f62";

fn wrap(body: &str) -> String {
    format!("{HEAD}{body}</r:G>")
}

fn crs_reference(prefix: &str) -> String {
    format!(
        "<r:LocalCrs><{prefix}:ContentType>application/x-resqml+xml;version=2.0;type=obj_LocalDepth3dCrs</{prefix}:ContentType><{prefix}:UUID>{CRS}</{prefix}:UUID></r:LocalCrs>"
    )
}

/// Control points as the bench objects have them: many small elements of numbers.
fn control_points(n: usize) -> String {
    (0..n)
        .map(|k| format!("<r:ControlPoint index=\"{k}\"><r:Coordinate1>{k}.25</r:Coordinate1><r:Coordinate3>2150.{k:03}</r:Coordinate3></r:ControlPoint>\n"))
        .collect()
}

#[test]
fn reference_after_a_huge_numeric_block_is_found() {
    let numbers = "431250.00 6478125.00 2150.125\n".repeat(40_000);
    let xml = wrap(&format!(
        "<r:Points>{numbers}</r:Points>{}{}",
        control_points(2_000),
        crs_reference("e")
    ));
    assert!(xml.len() > 1_000_000);
    let info = parse_data_object(xml.as_bytes()).expect("valid");
    assert_eq!(info.references.len(), 1);
    assert_eq!(info.references[0].uuid, CRS);
    assert_eq!(info.references[0].element_path, "LocalCrs");
    assert_eq!(
        info.references[0].qualified_type.as_deref(),
        Some("resqml20.obj_LocalDepth3dCrs")
    );
}

#[test]
fn malformed_markup_deep_in_bulk_content_is_still_rejected() {
    let bulk = control_points(500);
    for bad in [
        "<r:ControlPoint><r:Coordinate1>1</r:Coordinate2></r:ControlPoint>",
        "<r:ControlPoint index=\"1\" index=\"2\"/>",
        "<r:ControlPoint index=1/>",
        "1 & 2",
        "<!-- a -- b -->",
        "<q:ControlPoint/>",
        "&#0;",
    ] {
        let xml = wrap(&format!("{bulk}{bad}{bulk}"));
        assert!(
            matches!(
                parse_data_object(xml.as_bytes()),
                Err(ModelError::NotWellFormed { .. })
            ),
            "{bad}"
        );
    }
    let xml = wrap(&format!("{bulk}&nbsp;{bulk}"));
    assert!(matches!(
        parse_data_object(xml.as_bytes()),
        Err(ModelError::UndeclaredEntity { .. })
    ));
    let xml = wrap(&format!("{bulk}<!DOCTYPE x>{bulk}"));
    assert!(matches!(
        parse_data_object(xml.as_bytes()),
        Err(ModelError::DoctypeNotAllowed { .. })
    ));
}

#[test]
fn cdata_comments_entities_and_line_ends_in_captured_text() {
    let xml = wrap(
        "<e:Citation><!-- before --><e:Title>A &amp; B<![CDATA[ <C> & \r\n D ]]>&#x45;&#70;<!-- inside -->\r\nG\rH</e:Title><?pi ignored?></e:Citation>",
    );
    let info = parse_data_object(xml.as_bytes()).expect("valid");
    assert_eq!(info.title(), Some("A & B <C> & \n D EF\nG\nH"));
}

#[test]
fn references_are_matched_by_namespace_not_prefix() {
    // Another prefix for the common namespace, declared on an inner element.
    let inner = crs_reference("c").replace(
        "<r:LocalCrs>",
        "<r:LocalCrs xmlns:c=\"http://www.energistics.org/energyml/data/commonv2\">",
    );
    let info = parse_data_object(wrap(&inner).as_bytes()).expect("valid");
    assert_eq!(info.references.len(), 1);
    // The prefix `e` rebound to another namespace inside: not a reference.
    let rebound = crs_reference("e").replace(
        "<r:LocalCrs>",
        "<r:LocalCrs xmlns:e=\"urn:not-energistics\">",
    );
    let xml = wrap(&format!("{rebound}{}", crs_reference("e")));
    let info = parse_data_object(xml.as_bytes()).expect("valid");
    assert_eq!(
        info.references.len(),
        1,
        "only the reference after the scope"
    );
    // The binding ends with its element.
    let scoped = wrap(&format!(
        "<r:A xmlns:c=\"http://www.energistics.org/energyml/data/commonv2\"/>{}",
        crs_reference("c")
    ));
    assert!(matches!(
        parse_data_object(scoped.as_bytes()),
        Err(ModelError::NotWellFormed { message, .. }) if message.contains("undeclared namespace prefix")
    ));
}

#[test]
fn root_attributes_are_normalized() {
    let xml = r#"<r:G xmlns:r="http://www.energistics.org/energyml/data/resqmlv2" schemaVersion="&#x32;.0" objectVersion="a&#9;b&amp;c" uuid="be3dc02d-ed9d-45b1-b291-6edced323411"/>"#;
    let info = parse_data_object(xml.as_bytes()).expect("valid");
    assert_eq!(info.schema_version.as_deref(), Some("2.0"));
    assert_eq!(info.object_version.as_deref(), Some("a\tb&c"));
    let xml = xml.replace("a&#9;b", "a\tb");
    let info = parse_data_object(xml.as_bytes()).expect("valid");
    assert_eq!(info.object_version.as_deref(), Some("a b&c"));
}

#[test]
fn greater_than_in_attribute_values_and_spaces_in_end_tags() {
    let xml = wrap("<r:A note=\"a > b\" other='\"'></r:A  >");
    assert!(parse_data_object(xml.as_bytes()).is_ok());
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let xml = format!("\u{FEFF}<?xml version=\"1.0\"?>{}", wrap(""));
    assert!(parse_data_object(xml.as_bytes()).is_ok());
}
