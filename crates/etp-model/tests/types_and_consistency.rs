//! Content type / qualified type conversion and URI consistency checks.

mod common;

use common::*;
use etp_model::{
    EINVALID_OBJECT, ModelError, check_consistency, content_type_to_qualified_type,
    normalize_qualified_type, parse_data_object,
};

#[test]
fn content_types_convert() {
    let cases = [
        (
            "application/x-resqml+xml;version=2.0;type=obj_LocalDepth3dCrs",
            "resqml20.obj_LocalDepth3dCrs",
        ),
        (
            "application/x-resqml+xml;version=2.0.1;type=obj_Grid2dRepresentation",
            "resqml20.obj_Grid2dRepresentation",
        ),
        (
            "application/x-eml+xml;version=2.0;type=obj_EpcExternalPartReference",
            "eml20.obj_EpcExternalPartReference",
        ),
        (
            "application/x-witsml+xml;version=2.1;type=Well",
            "witsml21.Well",
        ),
        (
            "application/x-witsml+xml;version=2.0;type=Wellbore",
            "witsml20.Wellbore",
        ),
        (
            "application/x-prodml+xml;version=2.2;type=FluidSystem",
            "prodml22.FluidSystem",
        ),
        (
            "application/x-witsml+xml;version=1.4.1.1;type=obj_well",
            "witsml14.obj_well",
        ),
        (
            "  Application/X-RESQML+XML ; VERSION = 2.0 ; Type = obj_LocalDepth3dCrs ; ",
            "resqml20.obj_LocalDepth3dCrs",
        ),
        (
            "application/x-eml+xml; version=2.1; type=Activity",
            "eml21.Activity",
        ),
        (
            "application/x-resqml+xml;type=obj_X;version=2.0",
            "resqml20.obj_X",
        ),
        (
            "application/x-resqml+xml;version=\"2.0\";type=\"obj_X\";charset=utf-8",
            "resqml20.obj_X",
        ),
        // obj_ added where RESQML 2.0.1 / EML 2.0 need it.
        (
            "application/x-resqml+xml;version=2.0;type=LocalDepth3dCrs",
            "resqml20.obj_LocalDepth3dCrs",
        ),
        // An already qualified type parameter.
        (
            "application/x-witsml+xml;version=2.1;type=witsml21.Well",
            "witsml21.Well",
        ),
        // Bare qualified types (EML 2.3 QualifiedType text).
        (
            "eml23.LocalEngineeringCompoundCrs",
            "eml23.LocalEngineeringCompoundCrs",
        ),
        (" WITSML21.Well\n", "witsml21.Well"),
        (
            "resqml20.HorizonInterpretation",
            "resqml20.obj_HorizonInterpretation",
        ),
    ];
    for (ct, qt) in cases {
        assert_eq!(
            content_type_to_qualified_type(ct).as_deref(),
            Some(qt),
            "{ct}"
        );
    }
}

#[test]
fn bad_content_types_do_not_convert() {
    for ct in [
        "",
        "text/xml",
        "application/xml;version=2.0;type=obj_X",
        "application/x-osdu+xml;version=2.0;type=obj_X",
        "application/x-resqml+json;version=2.0;type=obj_X",
        "application/x-resqml+xml;type=obj_X",
        "application/x-resqml+xml;version=2.0",
        "application/x-resqml+xml;version=2;type=obj_X",
        "application/x-resqml+xml;version=2.0;type=",
        "application/x-resqml+xml;version=2.0;type=obj X",
        "application/x-resqml+xml;version=2.0;type=obj-X",
        "application/x-resqml+xml;version=2.0;version=2.2;type=X",
        "application/x-resqml+xml;version=2.0;type=X;type=Y",
        "application/x-resqml+xml;version=2.0;garbage;type=X",
        "application/x-witsml+xml;version=2.1;type=witsml20.Well",
        "application/x-witsml+xml;version=2.1;type=resqml21.Well",
        "x-resqml+xml;version=2.0;type=obj_X",
        "resqml20",
        "resqml20.",
        "resqml2.obj_X",
        "resqml20.obj_X.Y",
        "éresqml20.obj_X",
    ] {
        assert_eq!(content_type_to_qualified_type(ct), None, "{ct:?}");
    }
}

#[test]
fn qualified_type_normalization() {
    assert_eq!(
        normalize_qualified_type("Resqml20.obj_Grid2dRepresentation").as_deref(),
        Some("resqml20.obj_Grid2dRepresentation")
    );
    assert_eq!(
        normalize_qualified_type("eml20.EpcExternalPartReference").as_deref(),
        Some("eml20.obj_EpcExternalPartReference")
    );
    // Only RESQML 2.0.1 and EML 2.0 get obj_.
    assert_eq!(
        normalize_qualified_type("eml23.Activity").as_deref(),
        Some("eml23.Activity")
    );
    assert_eq!(
        normalize_qualified_type("witsml20.Well").as_deref(),
        Some("witsml20.Well")
    );
    assert_eq!(normalize_qualified_type("resqml20.*"), None);
    assert_eq!(normalize_qualified_type("resqml20"), None);
}

#[test]
fn consistent_put_is_accepted() {
    let info = parse_data_object(RESQML20_GRID.as_bytes()).expect("valid");
    check_consistency(
        &info,
        "be3dc02d-ed9d-45b1-b291-6edced323411",
        "resqml20.obj_Grid2dRepresentation",
    )
    .expect("consistent");
    // Uuid case and family case do not matter.
    check_consistency(
        &info,
        "BE3DC02D-ED9D-45B1-B291-6EDCED323411",
        "RESQML20.obj_Grid2dRepresentation",
    )
    .expect("consistent ignoring case");
    let info = parse_data_object(WITSML21_WELL.as_bytes()).expect("valid");
    check_consistency(
        &info,
        "ca96314d-a048-46bf-9a1e-a27edd9bac09",
        "witsml21.Well",
    )
    .expect("consistent");
}

#[test]
fn uuid_mismatch_is_einvalid_object() {
    let info = parse_data_object(WITSML21_WELL.as_bytes()).expect("valid");
    let err = check_consistency(
        &info,
        "ca96314d-a048-46bf-9a1e-a27edd9bac0a",
        "witsml21.Well",
    )
    .expect_err("mismatch");
    assert_eq!(
        err,
        ModelError::UuidMismatch {
            expected: "ca96314d-a048-46bf-9a1e-a27edd9bac0a".into(),
            found: "ca96314d-a048-46bf-9a1e-a27edd9bac09".into(),
        }
    );
    assert_eq!(err.etp_error_code(), EINVALID_OBJECT);
    assert_eq!(EINVALID_OBJECT, 14);
    // The uuid is checked before the type.
    let err = check_consistency(&info, "not-a-uuid", "witsml20.Well").expect_err("mismatch");
    assert!(matches!(err, ModelError::UuidMismatch { .. }));
}

#[test]
fn type_mismatch_is_einvalid_object() {
    let info = parse_data_object(RESQML20_GRID.as_bytes()).expect("valid");
    let uuid = "be3dc02d-ed9d-45b1-b291-6edced323411";
    for wrong in [
        "resqml22.Grid2dRepresentation",
        "resqml20.Grid2dRepresentation",
        "resqml20.obj_grid2drepresentation",
        "resqml20.obj_LocalDepth3dCrs",
        "eml20.obj_Grid2dRepresentation",
        "resqml20.*",
        "garbage",
        "",
    ] {
        match check_consistency(&info, uuid, wrong) {
            Err(e @ ModelError::TypeMismatch { .. }) => {
                assert_eq!(e.etp_error_code(), 14);
                assert!(e.to_string().contains("resqml20.obj_Grid2dRepresentation"));
            }
            other => panic!("{wrong}: expected TypeMismatch, got {other:?}"),
        }
    }
}

#[test]
fn wellbore_referencing_witsml20_well_is_consistent_with_witsml21_uri() {
    // The Wellbore's reference type is only a hint; consistency is about
    // the object itself.
    let info = parse_data_object(WITSML21_WELLBORE.as_bytes()).expect("valid");
    check_consistency(&info, &info.uuid.clone(), "witsml21.Wellbore").expect("consistent");
}
