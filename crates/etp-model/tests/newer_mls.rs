//! RESQML 2.2, EML 2.3, WITSML 2.0/2.1 and PRODML 2.2 objects.

mod common;

use common::*;
use etp_model::{ExternalArrayKind, Family, ModelError, parse_data_object};

#[test]
fn all_samples_type_and_uuid() {
    for (xml, qt, uuid) in ALL {
        let info = parse_data_object(xml.as_bytes()).unwrap_or_else(|e| panic!("{qt}: {e}"));
        assert_eq!(info.qualified_type, *qt);
        assert_eq!(info.uuid, *uuid);
        assert!(info.title().is_some(), "{qt} has a title");
    }
}

#[test]
fn resqml22_grid_with_external_data_array_part() {
    let info = parse_data_object(RESQML22_GRID.as_bytes()).expect("valid");
    assert_eq!(info.qualified_type, "resqml22.Grid2dRepresentation");
    assert_eq!(info.family, Family::Resqml);
    assert_eq!(info.family_version, 22);
    assert_eq!(info.object_version.as_deref(), Some("3"));
    assert_eq!(info.schema_version.as_deref(), Some("2.2"));
    assert_eq!(
        info.citation.creation.as_ref().and_then(|c| c.micros),
        Some(1_714_979_289_123_456)
    );

    assert_eq!(info.references.len(), 2);
    let r = &info.references[0];
    assert_eq!(r.element_name, "RepresentedObject");
    assert_eq!(
        r.qualified_type.as_deref(),
        Some("resqml22.HorizonInterpretation")
    );
    assert_eq!(
        r.qualified_type_text.as_deref(),
        Some("resqml22.HorizonInterpretation")
    );
    assert_eq!(r.content_type, None);
    assert_eq!(r.version.as_deref(), Some("2"));
    let crs = &info.references[1];
    assert_eq!(crs.element_path, "Grid2dPatch/Geometry/LocalCrs");
    assert_eq!(
        crs.qualified_type.as_deref(),
        Some("eml23.LocalEngineeringCompoundCrs")
    );
    assert_eq!(
        crs.energistics_uri.as_deref(),
        Some("eml:///eml23.LocalEngineeringCompoundCrs(798b4fd9-aa1c-4ac5-8e4b-0e4c2a53e4ab)")
    );
    assert_eq!(info.edge_references().count(), 2);

    // The FloatingPointConstantArray's eml:Count is not an array reference.
    assert_eq!(info.arrays.len(), 1);
    let a = &info.arrays[0];
    assert_eq!(a.kind, ExternalArrayKind::ExternalDataArrayPart);
    assert_eq!(
        a.element_path,
        "Grid2dPatch/Geometry/Points/ZValues/Values/ExternalDataArrayPart"
    );
    assert_eq!(
        a.path_in_resource,
        "RESQML/030a82f6-10a7-4ecf-af03-54749e098624/zvalues"
    );
    assert_eq!(a.counts, [3, 4]);
    assert_eq!(a.start_indices, [0, 0]);
    assert_eq!(a.uri.as_deref(), Some("grid.h5"));
    assert_eq!(a.mime_type.as_deref(), Some("application/x-hdf5"));
    assert_eq!(a.proxy, None);
    // Without an EpcExternalPartReference the array belongs to the object.
    let keys: Vec<_> = info.array_keys().collect();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].uuid, "030a82f6-10a7-4ecf-af03-54749e098624");
    assert_eq!(keys[0].qualified_type, "resqml22.Grid2dRepresentation");
}

#[test]
fn eml22_external_data_array_part_with_epc_reference() {
    let xml = r#"<resqml:TriangulatedSetRepresentation xmlns:resqml="http://www.energistics.org/energyml/data/resqmlv2" xmlns:eml="http://www.energistics.org/energyml/data/commonv2" uuid="c6ec3a44-0000-4000-8000-000000000001" schemaVersion="2.2">
<eml:Citation><eml:Title>tri</eml:Title></eml:Citation>
<resqml:Points><eml:ExternalDataArrayPart>
  <eml:Count>12</eml:Count><eml:PathInExternalFile>RESQML/c6ec3a44/point_patch0</eml:PathInExternalFile><eml:StartIndex>0</eml:StartIndex>
  <eml:EpcExternalPartReference>
    <eml:Uuid>2b7f3c9e-8a1d-4c5b-9e6f-0a1b2c3d4e5f</eml:Uuid>
    <eml:QualifiedType>eml22.EpcExternalPartReference</eml:QualifiedType>
    <eml:Title>h5</eml:Title>
  </eml:EpcExternalPartReference>
</eml:ExternalDataArrayPart></resqml:Points>
</resqml:TriangulatedSetRepresentation>"#;
    let info = parse_data_object(xml.as_bytes()).expect("valid");
    assert_eq!(
        info.qualified_type,
        "resqml22.TriangulatedSetRepresentation"
    );
    assert_eq!(info.references.len(), 1);
    assert!(info.references[0].is_external_part_reference());
    assert_eq!(info.edge_references().count(), 0);
    let a = &info.arrays[0];
    let p = a.proxy.as_ref().expect("proxy");
    assert_eq!(p.uuid, "2b7f3c9e-8a1d-4c5b-9e6f-0a1b2c3d4e5f");
    assert_eq!(
        p.qualified_type.as_deref(),
        Some("eml22.EpcExternalPartReference")
    );
    let keys: Vec<_> = info.array_keys().collect();
    assert_eq!(keys[0].uuid, "2b7f3c9e-8a1d-4c5b-9e6f-0a1b2c3d4e5f");
    assert_eq!(keys[0].qualified_type, "eml22.EpcExternalPartReference");
    assert_eq!(keys[0].path_in_resource, "RESQML/c6ec3a44/point_patch0");
}

#[test]
fn external_data_array_part_with_bad_count_is_rejected() {
    let xml = r#"<resqml:T xmlns:resqml="http://www.energistics.org/energyml/data/resqmlv2" xmlns:eml="http://www.energistics.org/energyml/data/commonv2" uuid="c6ec3a44-0000-4000-8000-000000000001" schemaVersion="2.2"><resqml:Points><eml:ExternalDataArrayPart><eml:Count>-1</eml:Count><eml:PathInExternalFile>p</eml:PathInExternalFile></eml:ExternalDataArrayPart></resqml:Points></resqml:T>"#;
    match parse_data_object(xml.as_bytes()) {
        Err(ModelError::InvalidValue { element, value }) => {
            assert_eq!(element, "Points/ExternalDataArrayPart/Count");
            assert_eq!(value, "-1");
        }
        other => panic!("expected InvalidValue, got {other:?}"),
    }
}

#[test]
fn eml23_epc_external_part_reference() {
    let info = parse_data_object(EML23_EPC.as_bytes()).expect("valid");
    assert_eq!(info.qualified_type, "eml23.EpcExternalPartReference");
    assert_eq!(info.family, Family::Eml);
    assert_eq!(info.family_version, 23);
    assert_eq!(info.object_version.as_deref(), Some("1.0"));
    assert_eq!(info.title(), Some("grid.h5"));
    assert_eq!(info.last_changed_micros(), Some(1_715_040_000_000_000));
    assert!(info.references.is_empty());
    assert!(info.arrays.is_empty());
}

#[test]
fn eml23_activity_in_default_namespace() {
    let info = parse_data_object(EML23_ACTIVITY.as_bytes()).expect("valid");
    assert_eq!(info.qualified_type, "eml23.Activity");
    assert_eq!(info.title(), Some("Import"));
    let r: Vec<(&str, Option<&str>)> = info
        .references
        .iter()
        .map(|r| (r.element_path.as_str(), r.qualified_type.as_deref()))
        .collect();
    assert_eq!(
        r,
        [
            ("ActivityDescriptor", Some("eml23.ActivityTemplate")),
            (
                "Parameter/DataObject",
                Some("resqml22.Grid2dRepresentation")
            ),
        ]
    );
}

#[test]
fn witsml21_well() {
    let info = parse_data_object(WITSML21_WELL.as_bytes()).expect("valid");
    assert_eq!(info.qualified_type, "witsml21.Well");
    assert_eq!(info.family, Family::Witsml);
    assert_eq!(info.title(), Some("NO 15/9-F-1 C"));
    // An unparsable LastUpdate is kept as text; lastChanged falls back to Creation.
    let lu = info.citation.last_update.as_ref().expect("last update");
    assert_eq!(lu.text, "not a date");
    assert_eq!(lu.micros, None);
    assert_eq!(info.last_changed_micros(), Some(1_614_834_367_000_000));
    assert!(info.references.is_empty());
}

#[test]
fn witsml21_wellbore_references_its_well() {
    let info = parse_data_object(WITSML21_WELLBORE.as_bytes()).expect("valid");
    assert_eq!(info.qualified_type, "witsml21.Wellbore");
    assert_eq!(info.object_version.as_deref(), Some("1"));
    assert_eq!(info.references.len(), 2);
    let well = &info.references[0];
    assert_eq!(well.element_name, "Well");
    assert_eq!(well.uuid, "ca96314d-a048-46bf-9a1e-a27edd9bac09");
    // The type is only a hint (resolution is by uuid): kept as written.
    assert_eq!(well.qualified_type.as_deref(), Some("witsml20.Well"));
    assert_eq!(well.version.as_deref(), Some("2.1"));
    assert_eq!(well.title.as_deref(), Some("NO 15/9-F-1 C"));
    let datum = &info.references[1];
    assert_eq!(datum.element_path, "Md/Datum");
    assert!(datum.is_nil());
    let edges: Vec<&str> = info
        .edge_references()
        .map(|r| r.element_name.as_str())
        .collect();
    assert_eq!(edges, ["Well"], "nil uuid references are not edges");
}

#[test]
fn witsml20_trajectory_with_content_type_reference() {
    let info = parse_data_object(WITSML20_TRAJECTORY.as_bytes()).expect("valid");
    assert_eq!(info.qualified_type, "witsml20.Trajectory");
    assert_eq!(info.family_version, 20);
    assert_eq!(info.references.len(), 1);
    assert_eq!(
        info.references[0].qualified_type.as_deref(),
        Some("witsml20.Wellbore")
    );
}

#[test]
fn prodml22_fluid_sample() {
    let info = parse_data_object(PRODML22_SAMPLE.as_bytes()).expect("valid");
    assert_eq!(info.qualified_type, "prodml22.FluidSample");
    assert_eq!(info.family, Family::Prodml);
    assert_eq!(
        info.citation.creation.as_ref().and_then(|c| c.micros),
        Some(1_643_779_922_000_000)
    );
    let types: Vec<Option<&str>> = info
        .references
        .iter()
        .map(|r| r.qualified_type.as_deref())
        .collect();
    assert_eq!(
        types,
        [
            Some("prodml22.FluidSystem"),
            Some("prodml22.FluidSampleAcquisitionJob")
        ]
    );
}

#[test]
fn schema_version_selects_version_in_shared_namespace() {
    for (sv, expected) in [
        ("2.0", "witsml20.Log"),
        ("2.1", "witsml21.Log"),
        ("2.1.0.1", "witsml21.Log"),
    ] {
        let xml = format!(
            r#"<Log xmlns="http://www.energistics.org/energyml/data/witsmlv2" uuid="0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0" schemaVersion="{sv}"/>"#
        );
        let info = parse_data_object(xml.as_bytes()).expect("valid");
        assert_eq!(info.qualified_type, expected);
    }
    for (sv, expected) in [
        ("2.0", "eml20.obj_Foo"),
        ("2.1", "eml21.Foo"),
        ("2.3", "eml23.Foo"),
    ] {
        let xml = format!(
            r#"<Foo xmlns="http://www.energistics.org/energyml/data/commonv2" uuid="0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0" schemaVersion="{sv}"/>"#
        );
        let info = parse_data_object(xml.as_bytes()).expect("valid");
        assert_eq!(info.qualified_type, expected);
    }
}

#[test]
fn missing_schema_version_defaults_to_latest() {
    for (ns, expected) in [
        ("witsmlv2", "witsml21.ChannelSet"),
        ("prodmlv2", "prodml22.ChannelSet"),
        ("resqmlv2", "resqml22.ChannelSet"),
        ("commonv2", "eml23.ChannelSet"),
    ] {
        let xml = format!(
            r#"<ChannelSet xmlns="http://www.energistics.org/energyml/data/{ns}" uuid="0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"/>"#
        );
        let info = parse_data_object(xml.as_bytes()).expect("valid");
        assert_eq!(info.qualified_type, expected);
        assert!(!info.version_from_schema);
    }
}

#[test]
fn unsupported_schema_versions() {
    for sv in ["1.4.1.1", "3.0", "", "two", "2"] {
        let xml = format!(
            r#"<Well xmlns="http://www.energistics.org/energyml/data/witsmlv2" uuid="0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0" schemaVersion="{sv}"/>"#
        );
        match parse_data_object(xml.as_bytes()) {
            Err(ModelError::UnsupportedSchemaVersion {
                family,
                schema_version,
            }) => {
                assert_eq!(family, Family::Witsml);
                assert_eq!(schema_version, sv);
            }
            other => panic!("{sv:?}: expected UnsupportedSchemaVersion, got {other:?}"),
        }
    }
}

#[test]
fn witsml14_and_foreign_namespaces_are_unsupported() {
    let cases = [
        (
            r#"<wells xmlns="http://www.witsml.org/schemas/1series" version="1.4.1.1"><well uid="w1"/></wells>"#,
            "http://www.witsml.org/schemas/1series",
            "wells",
        ),
        (
            r#"<Well uuid="0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0" schemaVersion="2.1"/>"#,
            "",
            "Well",
        ),
        (
            r#"<x:Well xmlns:x="http://example.com/energyml/data/witsmlv2" uuid="0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"/>"#,
            "http://example.com/energyml/data/witsmlv2",
            "Well",
        ),
    ];
    for (xml, ns, local) in cases {
        match parse_data_object(xml.as_bytes()) {
            Err(e @ ModelError::UnsupportedNamespace { .. }) => {
                assert_eq!(e.etp_error_code(), 14);
                let ModelError::UnsupportedNamespace {
                    namespace,
                    local_name,
                } = e
                else {
                    unreachable!()
                };
                assert_eq!(namespace, ns);
                assert_eq!(local_name, local);
            }
            other => panic!("expected UnsupportedNamespace, got {other:?}"),
        }
    }
}

#[test]
fn xsi_type_outside_energistics_is_ignored() {
    let xml = r#"<w:Well xmlns:w="http://www.energistics.org/energyml/data/witsmlv2" xmlns:o="urn:other" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="o:Thing" uuid="0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0" schemaVersion="2.1"/>"#;
    let info = parse_data_object(xml.as_bytes()).expect("valid");
    assert_eq!(info.qualified_type, "witsml21.Well");
}

#[test]
fn xsi_type_names_the_type() {
    // xsi:type wins over the element name when it is an Energistics type,
    // even when declared with a different prefix than the element.
    let xml = r#"<a:AbstractObject xmlns:a="http://www.energistics.org/energyml/data/resqmlv2" xmlns:b="http://www.energistics.org/energyml/data/resqmlv2" xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:type=" b:obj_FaultInterpretation " uuid="0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0" schemaVersion="2.0"/>"#;
    let info = parse_data_object(xml.as_bytes()).expect("valid");
    assert_eq!(info.qualified_type, "resqml20.obj_FaultInterpretation");
    assert_eq!(info.root_element, "AbstractObject");
}

#[test]
fn invalid_type_names() {
    let xml = r#"<w:Wéll xmlns:w="http://www.energistics.org/energyml/data/witsmlv2" uuid="0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0" schemaVersion="2.1"/>"#;
    assert!(matches!(
        parse_data_object(xml.as_bytes()),
        Err(ModelError::InvalidTypeName { .. })
    ));
    let xml = r#"<w:My-Well xmlns:w="http://www.energistics.org/energyml/data/witsmlv2" uuid="0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0" schemaVersion="2.1"/>"#;
    assert!(matches!(
        parse_data_object(xml.as_bytes()),
        Err(ModelError::InvalidTypeName { .. })
    ));
}
