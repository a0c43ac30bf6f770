//! RESQML 2.0.1 / EML 2.0 objects as pyetp and other producers write them.

mod common;

use common::*;
use etp_model::{ExternalArrayKind, Family, parse_data_object};

#[test]
fn local_depth_3d_crs() {
    let info = parse_data_object(RESQML20_CRS.as_bytes()).expect("valid CRS");
    assert_eq!(info.qualified_type, "resqml20.obj_LocalDepth3dCrs");
    assert_eq!(info.family, Family::Resqml);
    assert_eq!(info.family_version, 20);
    assert!(info.version_from_schema);
    assert_eq!(info.root_element, "LocalDepth3dCrs");
    assert_eq!(info.type_name(), "obj_LocalDepth3dCrs");
    assert_eq!(info.uuid, "dbe0e6ba-1ea6-4dd7-b541-9c4c14c16f62");
    assert_eq!(info.schema_version.as_deref(), Some("2.0.1"));
    assert_eq!(info.object_version, None);
    assert_eq!(info.title(), Some("Demo crs"));
    // Entities in the originator are resolved.
    assert_eq!(
        info.citation.originator.as_deref(),
        Some("<name/username/email>")
    );
    let creation = info.citation.creation.as_ref().expect("creation");
    assert_eq!(creation.text, "2026-01-02T03:04:05Z");
    assert_eq!(creation.micros, Some(1_767_323_045_000_000));
    assert_eq!(info.citation.last_update, None);
    assert_eq!(info.last_changed_micros(), Some(1_767_323_045_000_000));
    // VerticalCrs / ProjectedCrs are inline, not references.
    assert!(info.references.is_empty(), "{:?}", info.references);
    assert!(info.arrays.is_empty());
}

#[test]
fn grid2d_references_and_hdf5_arrays() {
    let info = parse_data_object(RESQML20_GRID.as_bytes()).expect("valid grid");
    assert_eq!(info.qualified_type, "resqml20.obj_Grid2dRepresentation");
    // The uuid attribute is written in uppercase; it is canonicalized.
    assert_eq!(info.uuid, "be3dc02d-ed9d-45b1-b291-6edced323411");
    assert_eq!(info.title(), Some("Demo grid"));
    // LastUpdate wins over Creation: 2026-01-03T00:00:00.250+01:00.
    let lu = info.citation.last_update.as_ref().expect("last update");
    assert_eq!(lu.micros, Some(1_767_394_800_250_000));
    assert_eq!(info.last_changed_micros(), Some(1_767_394_800_250_000));

    let names: Vec<&str> = info
        .references
        .iter()
        .map(|r| r.element_name.as_str())
        .collect();
    assert_eq!(names, ["RepresentedInterpretation", "LocalCrs", "HdfProxy"]);

    let interp = &info.references[0];
    assert_eq!(interp.element_path, "RepresentedInterpretation");
    assert_eq!(
        interp.qualified_type.as_deref(),
        Some("resqml20.obj_HorizonInterpretation")
    );
    assert_eq!(interp.uuid, "7a1ccd1c-7b88-4c84-a92c-1d7f9a2b6e4f");
    assert_eq!(interp.title.as_deref(), Some("Top Volantis interp"));
    assert_eq!(
        interp.content_type.as_deref(),
        Some("application/x-resqml+xml;version=2.0;type=obj_HorizonInterpretation")
    );
    assert_eq!(interp.qualified_type_text, None);
    assert!(!interp.is_external_part_reference());

    let crs = &info.references[1];
    assert_eq!(crs.element_path, "Grid2dPatch/Geometry/LocalCrs");
    // pyetp writes version=2.0.1 in content types.
    assert_eq!(
        crs.qualified_type.as_deref(),
        Some("resqml20.obj_LocalDepth3dCrs")
    );
    assert_eq!(crs.uuid, "dbe0e6ba-1ea6-4dd7-b541-9c4c14c16f62");

    let proxy = &info.references[2];
    assert_eq!(
        proxy.element_path,
        "Grid2dPatch/Geometry/Points/ZValues/Values/HdfProxy"
    );
    assert_eq!(
        proxy.qualified_type.as_deref(),
        Some("eml20.obj_EpcExternalPartReference")
    );
    assert!(proxy.is_external_part_reference());

    // Edges: interpretation and CRS, not the HdfProxy.
    let edges: Vec<&str> = info
        .edge_references()
        .map(|r| r.element_name.as_str())
        .collect();
    assert_eq!(edges, ["RepresentedInterpretation", "LocalCrs"]);

    assert_eq!(info.arrays.len(), 1);
    let a = &info.arrays[0];
    assert_eq!(a.kind, ExternalArrayKind::Hdf5Dataset);
    assert_eq!(a.element_path, "Grid2dPatch/Geometry/Points/ZValues/Values");
    assert_eq!(
        a.path_in_resource,
        "/RESQML/be3dc02d-ed9d-45b1-b291-6edced323411/zvalues"
    );
    let p = a.proxy.as_ref().expect("proxy");
    assert_eq!(p.uuid, "d53c9c04-e83a-4ad7-87fc-567a0dd5e660");
    assert_eq!(
        p.qualified_type.as_deref(),
        Some("eml20.obj_EpcExternalPartReference")
    );
    assert!(a.counts.is_empty() && a.start_indices.is_empty() && a.uri.is_none());

    // pyetp's DataArrayIdentifier: the EPC reference + PathInHdfFile.
    let keys: Vec<_> = info.array_keys().collect();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].uuid, "d53c9c04-e83a-4ad7-87fc-567a0dd5e660");
    assert_eq!(keys[0].qualified_type, "eml20.obj_EpcExternalPartReference");
    assert_eq!(
        keys[0].path_in_resource,
        "/RESQML/be3dc02d-ed9d-45b1-b291-6edced323411/zvalues"
    );
}

#[test]
fn epc_external_part_reference_20() {
    let info = parse_data_object(EML20_EPC.as_bytes()).expect("valid EPC reference");
    assert_eq!(info.qualified_type, "eml20.obj_EpcExternalPartReference");
    assert_eq!(info.family, Family::Eml);
    assert_eq!(info.root_element, "EpcExternalPartReference");
    assert_eq!(info.title(), Some("Demo epc"));
    assert!(info.references.is_empty());
    assert!(info.arrays.is_empty());
}

#[test]
fn horizon_interpretation_with_default_namespace_and_ns0_prefix() {
    let info = parse_data_object(RESQML20_HORIZON_INTERP.as_bytes()).expect("valid");
    // No xsi:type, no obj_ in the element name: obj_ is added for resqml20.
    assert_eq!(info.qualified_type, "resqml20.obj_HorizonInterpretation");
    assert_eq!(info.schema_version.as_deref(), Some("2.0"));
    assert_eq!(info.title(), Some("Top Volantis interp"));
    assert_eq!(
        info.citation.creation.as_ref().and_then(|c| c.micros),
        Some(1_435_744_800_000_000)
    );
    assert_eq!(info.references.len(), 2);
    let f = &info.references[0];
    assert_eq!(f.element_name, "InterpretedFeature");
    assert_eq!(f.uuid, "e1f4e9b4-2d7e-4c2a-9c4b-3f1d9b8a7c6e");
    assert_eq!(
        f.qualified_type.as_deref(),
        Some("resqml20.obj_GeneticBoundaryFeature")
    );
    assert_eq!(f.version.as_deref(), Some("v1"));
    let t = &info.references[1];
    assert_eq!(t.element_path, "HasOccuredDuring/ChronoBottom");
    assert_eq!(
        t.qualified_type.as_deref(),
        Some("resqml20.obj_GeologicTimeFeature")
    );
    assert_eq!(info.edge_references().count(), 2);
}

#[test]
fn continuous_property_with_patches_of_values() {
    let info = parse_data_object(RESQML20_PROPERTY.as_bytes()).expect("valid property");
    assert_eq!(info.qualified_type, "resqml20.obj_ContinuousProperty");
    // CDATA and entity references are part of the title.
    assert_eq!(info.title(), Some("Porosity <total> & more"));
    let names: Vec<&str> = info
        .references
        .iter()
        .map(|r| r.element_name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "LocalPropertyKind",
            "SupportingRepresentation",
            "HdfProxy",
            "HdfProxy"
        ]
    );
    assert_eq!(
        info.references[0].element_path,
        "PropertyKind/LocalPropertyKind"
    );
    assert_eq!(
        info.references[0].qualified_type.as_deref(),
        Some("resqml20.obj_PropertyKind")
    );
    assert_eq!(
        info.references[1].qualified_type.as_deref(),
        Some("resqml20.obj_IjkGridRepresentation")
    );
    // "Version=2.0; Type=..." with spaces and capitals converts too.
    assert_eq!(
        info.references[3].qualified_type.as_deref(),
        Some("eml20.obj_EpcExternalPartReference")
    );
    let edges: Vec<&str> = info
        .edge_references()
        .map(|r| r.element_name.as_str())
        .collect();
    assert_eq!(edges, ["LocalPropertyKind", "SupportingRepresentation"]);

    let paths: Vec<&str> = info
        .arrays
        .iter()
        .map(|a| a.path_in_resource.as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "/RESQML/5b0b0f64-0c1d-4f0e-9a55-0e3b3c3f1a10/values_patch0",
            "/RESQML/5b0b0f64-0c1d-4f0e-9a55-0e3b3c3f1a10/values_patch1"
        ]
    );
    for a in &info.arrays {
        assert_eq!(a.kind, ExternalArrayKind::Hdf5Dataset);
        assert_eq!(
            a.proxy.as_ref().map(|p| p.uuid.as_str()),
            Some("f1dc897a-e05e-4c57-944f-3501cb9cd71c")
        );
    }
    assert_eq!(info.arrays[0].element_path, "PatchOfValues/Values/Values");
    assert_eq!(info.array_keys().count(), 2);
}

#[test]
fn root_named_obj_without_xsi_type_and_without_schema_version() {
    let xml = r#"<resqml2:obj_TectonicBoundaryFeature xmlns:resqml2="http://www.energistics.org/energyml/data/resqmlv2" xmlns:eml="http://www.energistics.org/energyml/data/commonv2" uuid="12345678-9abc-def0-1234-56789abcdef0"><eml:Citation><eml:Title>F1</eml:Title></eml:Citation><resqml2:TectonicBoundaryKind>fault</resqml2:TectonicBoundaryKind></resqml2:obj_TectonicBoundaryFeature>"#;
    let info = parse_data_object(xml.as_bytes()).expect("valid");
    assert_eq!(info.qualified_type, "resqml20.obj_TectonicBoundaryFeature");
    assert!(!info.version_from_schema);
    assert_eq!(info.schema_version, None);
    assert_eq!(info.citation.creation, None);
    assert_eq!(info.last_changed_micros(), None);
}

#[test]
fn resqml20_activity_with_data_object_parameter() {
    let xml = r#"<resqml2:Activity xmlns:resqml2="http://www.energistics.org/energyml/data/resqmlv2" xmlns:eml="http://www.energistics.org/energyml/data/commonv2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="resqml2:obj_Activity" schemaVersion="2.0" uuid="aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee">
<eml:Citation><eml:Title>commit</eml:Title><eml:Originator>server</eml:Originator><eml:Creation>2024-01-01T00:00:00Z</eml:Creation><eml:Format>f</eml:Format></eml:Citation>
<resqml2:ActivityDescriptor><eml:ContentType>application/x-resqml+xml;version=2.0;type=obj_ActivityTemplate</eml:ContentType><eml:Title>t</eml:Title><eml:UUID>bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee</eml:UUID></resqml2:ActivityDescriptor>
<resqml2:Parameter xsi:type="resqml2:DataObjectParameter"><resqml2:Title>Output</resqml2:Title><resqml2:DataObject><eml:ContentType>application/x-resqml+xml;version=2.0;type=obj_Grid2dRepresentation</eml:ContentType><eml:Title>g</eml:Title><eml:UUID>be3dc02d-ed9d-45b1-b291-6edced323411</eml:UUID></resqml2:DataObject></resqml2:Parameter>
</resqml2:Activity>"#;
    let info = parse_data_object(xml.as_bytes()).expect("valid");
    assert_eq!(info.qualified_type, "resqml20.obj_Activity");
    let paths: Vec<&str> = info
        .references
        .iter()
        .map(|r| r.element_path.as_str())
        .collect();
    assert_eq!(paths, ["ActivityDescriptor", "Parameter/DataObject"]);
    assert_eq!(
        info.references[1].qualified_type.as_deref(),
        Some("resqml20.obj_Grid2dRepresentation")
    );
}

#[test]
fn empty_element_references_and_self_closing_tags() {
    // Self-closing children and a self reference (ignored for edges).
    let xml = r#"<r:Grid2dRepresentation xmlns:r="http://www.energistics.org/energyml/data/resqmlv2" xmlns:e="http://www.energistics.org/energyml/data/commonv2" schemaVersion="2.0" uuid="be3dc02d-ed9d-45b1-b291-6edced323411"><e:Citation><e:Title/></e:Citation><r:Self><e:ContentType>application/x-resqml+xml;version=2.0;type=obj_Grid2dRepresentation</e:ContentType><e:Title/><e:UUID>BE3DC02D-ED9D-45B1-B291-6EDCED323411</e:UUID></r:Self><r:Empty/></r:Grid2dRepresentation>"#;
    let info = parse_data_object(xml.as_bytes()).expect("valid");
    assert_eq!(info.title(), Some(""));
    assert_eq!(info.references.len(), 1);
    assert_eq!(info.references[0].title.as_deref(), Some(""));
    assert_eq!(
        info.edge_references().count(),
        0,
        "self reference is not an edge"
    );
}

#[test]
fn reference_children_in_other_namespace_are_not_references() {
    // UUID/ContentType children in the RESQML namespace do not count.
    let xml = r#"<r:Grid2dRepresentation xmlns:r="http://www.energistics.org/energyml/data/resqmlv2" schemaVersion="2.0" uuid="be3dc02d-ed9d-45b1-b291-6edced323411"><r:LocalCrs><r:ContentType>application/x-resqml+xml;version=2.0;type=obj_LocalDepth3dCrs</r:ContentType><r:UUID>dbe0e6ba-1ea6-4dd7-b541-9c4c14c16f62</r:UUID></r:LocalCrs></r:Grid2dRepresentation>"#;
    let info = parse_data_object(xml.as_bytes()).expect("valid");
    assert!(info.references.is_empty());
    assert_eq!(info.title(), None);
}

#[test]
fn unconvertible_content_type_keeps_reference() {
    let xml = r#"<r:Grid2dRepresentation xmlns:r="http://www.energistics.org/energyml/data/resqmlv2" xmlns:e="http://www.energistics.org/energyml/data/commonv2" schemaVersion="2.0" uuid="be3dc02d-ed9d-45b1-b291-6edced323411"><r:LocalCrs><e:ContentType>text/plain</e:ContentType><e:UUID>dbe0e6ba-1ea6-4dd7-b541-9c4c14c16f62</e:UUID></r:LocalCrs></r:Grid2dRepresentation>"#;
    let info = parse_data_object(xml.as_bytes()).expect("valid");
    assert_eq!(info.references.len(), 1);
    assert_eq!(info.references[0].qualified_type, None);
    assert_eq!(
        info.references[0].content_type.as_deref(),
        Some("text/plain")
    );
}

#[test]
fn utf8_bom_and_crlf_line_ends() {
    let mut xml = vec![0xEF, 0xBB, 0xBF];
    xml.extend_from_slice(RESQML20_CRS.replace('\n', "\r\n").as_bytes());
    let info = parse_data_object(&xml).expect("BOM and CRLF are fine");
    assert_eq!(info.qualified_type, "resqml20.obj_LocalDepth3dCrs");
    assert_eq!(info.title(), Some("Demo crs"));
}

#[test]
fn multiline_title_keeps_normalized_line_ends() {
    let xml = "<r:X xmlns:r=\"http://www.energistics.org/energyml/data/resqmlv2\" xmlns:e=\"http://www.energistics.org/energyml/data/commonv2\" schemaVersion=\"2.0\" uuid=\"be3dc02d-ed9d-45b1-b291-6edced323411\"><e:Citation><e:Title>a\r\nb&#x9;c&#65;</e:Title></e:Citation></r:X>";
    let info = parse_data_object(xml.as_bytes()).expect("valid");
    assert_eq!(info.title(), Some("a\nb\tcA"));
    assert_eq!(info.qualified_type, "resqml20.obj_X");
}

#[test]
fn nested_citation_is_not_the_object_citation() {
    let xml = r#"<r:X xmlns:r="http://www.energistics.org/energyml/data/resqmlv2" xmlns:e="http://www.energistics.org/energyml/data/commonv2" schemaVersion="2.0" uuid="be3dc02d-ed9d-45b1-b291-6edced323411"><r:Inner><e:Citation><e:Title>inner</e:Title></e:Citation></r:Inner><e:Citation><e:Title>outer</e:Title><e:Title>second</e:Title></e:Citation></r:X>"#;
    let info = parse_data_object(xml.as_bytes()).expect("valid");
    assert_eq!(info.title(), Some("outer"));
}
