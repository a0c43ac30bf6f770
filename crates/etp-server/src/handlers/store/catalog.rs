//! Which data object types the store accepts (answers `EDATAOBJECTTYPE_NOTSUPPORTED`, 16,
//! for everything else) and, for SupportedTypes' `returnEmptyTypes`, which concrete types
//! it can list.
//!
//! A type is supported when its ML release is one the store indexes (the families of
//! [`crate::state::supported_data_objects`], including the releases accepted but not
//! advertised to pyetp) and, for releases with a catalog below, its name is one of that
//! release's top-level data objects. The catalogs are the global elements deriving from
//! `AbstractObject` in the Energistics XML schemas (RESQML 2.0.1, 2.2; WITSML 2.0, 2.1;
//! PRODML 2.2; EML 2.0, 2.3). Names compare ignoring ASCII case, like
//! [`QualifiedType::matches`]. Releases without a catalog (`eml21`, `eml22`, `prodml21`)
//! accept any well-formed type name: rejecting a real type would lose data, while
//! accepting a bogus one only changes an `ENOT_FOUND` into a failed XML check.
//!
//! Why a catalog at all: the OSDU certification expects 16, not 11, for
//! `witsml21.Unsupported(...)` (11-store.md §2).

use etp_protocol::error_code::ErrorCode;
use etp_protocol::names::QualifiedType;
use etp_protocol::types::datatypes::ErrorInfo;

use crate::handlers::objects::error_info;

/// ML releases the store accepts, with their catalog (`None` = any type name).
const RELEASES: &[(&str, Option<&[&str]>)] = &[
    ("eml20", Some(EML20)),
    ("eml21", None),
    ("eml22", None),
    ("eml23", Some(EML23)),
    ("resqml20", Some(RESQML20)),
    ("resqml22", Some(RESQML22)),
    ("witsml20", Some(WITSML20)),
    ("witsml21", Some(WITSML21)),
    ("prodml21", None),
    ("prodml22", Some(PRODML22)),
];

/// Whether the store accepts objects of `qualified_type` (a concrete type).
pub fn is_supported(qualified_type: &QualifiedType) -> bool {
    let Some(name) = qualified_type.object_type() else {
        return false;
    };
    let release = qualified_type.release_prefix();
    RELEASES
        .iter()
        .find(|(r, _)| *r == release)
        .is_some_and(|(_, catalog)| {
            catalog.is_none_or(|names| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
        })
}

/// `Ok` for a supported type, else the `EDATAOBJECTTYPE_NOTSUPPORTED` error to answer.
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

/// Every catalogued concrete type of the ML release `release` (`resqml20`), as qualified
/// type strings; empty for releases without a catalog.
pub fn types_of_release(release: &str) -> Vec<String> {
    RELEASES
        .iter()
        .find(|(r, _)| *r == release)
        .and_then(|(_, catalog)| *catalog)
        .unwrap_or_default()
        .iter()
        .map(|name| format!("{release}.{name}"))
        .collect()
}

/// `eml20` data object types.
const EML20: &[&str] = &["obj_EpcExternalPartReference"];

/// `eml23` data object types.
const EML23: &[&str] = &[
    "Activity",
    "ActivityTemplate",
    "Aggregate",
    "Attachment",
    "BusinessAssociate",
    "CollectionsToDataobjectsAssociationSet",
    "ColumnBasedTable",
    "DataAssuranceRecord",
    "DataobjectCollection",
    "Geographic2dCrs",
    "GraphicalInformationSet",
    "LocalEngineering2dCrs",
    "LocalEngineeringCompoundCrs",
    "ProjectedCrs",
    "PropertyKind",
    "PropertyKindDictionary",
    "RecursiveReferencePoint",
    "ReferencePointInACrs",
    "ReferencePointInALocalEngineeringCompoundCrs",
    "ReferencePointInAWellbore",
    "TimeSeries",
    "VerticalCrs",
];

/// `resqml20` data object types.
const RESQML20: &[&str] = &[
    "obj_Activity",
    "obj_ActivityTemplate",
    "obj_BlockedWellboreRepresentation",
    "obj_BoundaryFeature",
    "obj_BoundaryFeatureInterpretation",
    "obj_CategoricalProperty",
    "obj_CategoricalPropertySeries",
    "obj_CommentProperty",
    "obj_CommentPropertySeries",
    "obj_ContinuousProperty",
    "obj_ContinuousPropertySeries",
    "obj_DeviationSurveyRepresentation",
    "obj_DiscreteProperty",
    "obj_DiscretePropertySeries",
    "obj_DoubleTableLookup",
    "obj_EarthModelInterpretation",
    "obj_FaultInterpretation",
    "obj_FluidBoundaryFeature",
    "obj_FrontierFeature",
    "obj_GenericFeatureInterpretation",
    "obj_GeneticBoundaryFeature",
    "obj_GeobodyBoundaryInterpretation",
    "obj_GeobodyFeature",
    "obj_GeobodyInterpretation",
    "obj_GeologicUnitFeature",
    "obj_GeologicUnitInterpretation",
    "obj_GlobalChronostratigraphicColumn",
    "obj_GpGridRepresentation",
    "obj_Grid2dRepresentation",
    "obj_Grid2dSetRepresentation",
    "obj_GridConnectionSetRepresentation",
    "obj_HorizonInterpretation",
    "obj_IjkGridRepresentation",
    "obj_LocalDepth3dCrs",
    "obj_LocalGridSet",
    "obj_LocalTime3dCrs",
    "obj_MdDatum",
    "obj_NonSealedSurfaceFrameworkRepresentation",
    "obj_OrganizationFeature",
    "obj_PlaneSetRepresentation",
    "obj_PointSetRepresentation",
    "obj_PointsProperty",
    "obj_PolylineRepresentation",
    "obj_PolylineSetRepresentation",
    "obj_PropertyKind",
    "obj_PropertySet",
    "obj_RedefinedGeometryRepresentation",
    "obj_RepresentationIdentitySet",
    "obj_RepresentationSetRepresentation",
    "obj_RockFluidOrganizationInterpretation",
    "obj_RockFluidUnitFeature",
    "obj_RockFluidUnitInterpretation",
    "obj_SealedSurfaceFrameworkRepresentation",
    "obj_SealedVolumeFrameworkRepresentation",
    "obj_SeismicLatticeFeature",
    "obj_SeismicLineFeature",
    "obj_SeismicLineSetFeature",
    "obj_StratigraphicColumn",
    "obj_StratigraphicColumnRankInterpretation",
    "obj_StratigraphicOccurrenceInterpretation",
    "obj_StratigraphicUnitFeature",
    "obj_StratigraphicUnitInterpretation",
    "obj_StreamlinesFeature",
    "obj_StreamlinesRepresentation",
    "obj_StringTableLookup",
    "obj_StructuralOrganizationInterpretation",
    "obj_SubRepresentation",
    "obj_TectonicBoundaryFeature",
    "obj_TimeSeries",
    "obj_TriangulatedSetRepresentation",
    "obj_TruncatedIjkGridRepresentation",
    "obj_TruncatedUnstructuredColumnLayerGridRepresentation",
    "obj_UnstructuredColumnLayerGridRepresentation",
    "obj_UnstructuredGridRepresentation",
    "obj_WellboreFeature",
    "obj_WellboreFrameRepresentation",
    "obj_WellboreInterpretation",
    "obj_WellboreMarkerFrameRepresentation",
    "obj_WellboreTrajectoryRepresentation",
];

/// `resqml22` data object types.
const RESQML22: &[&str] = &[
    "BlockedWellboreRepresentation",
    "BooleanProperty",
    "BoundaryFeature",
    "BoundaryFeatureInterpretation",
    "CmpLineFeature",
    "ColorMapDictionary",
    "CommentProperty",
    "ContinuousColorMap",
    "ContinuousProperty",
    "CulturalFeature",
    "DiscreteColorMap",
    "DiscreteProperty",
    "EarthModelInterpretation",
    "FaultInterpretation",
    "FluidBoundaryInterpretation",
    "GenericFeatureInterpretation",
    "GeobodyBoundaryInterpretation",
    "GeobodyInterpretation",
    "GeologicUnitInterpretation",
    "GeologicUnitOccurrenceInterpretation",
    "GpGridRepresentation",
    "Grid2dRepresentation",
    "GridConnectionSetRepresentation",
    "HorizonInterpretation",
    "IjkGridRepresentation",
    "LocalGridSet",
    "Model",
    "NonSealedSurfaceFrameworkRepresentation",
    "PlaneSetRepresentation",
    "PointSetRepresentation",
    "PointsProperty",
    "PolylineRepresentation",
    "PolylineSetRepresentation",
    "RepresentationIdentitySet",
    "RepresentationSetRepresentation",
    "RockFluidOrganizationInterpretation",
    "RockFluidUnitInterpretation",
    "RockVolumeFeature",
    "SealedSurfaceFrameworkRepresentation",
    "SealedVolumeFrameworkRepresentation",
    "Seismic2dPostStackRepresentation",
    "Seismic3dPostStackRepresentation",
    "SeismicLatticeFeature",
    "SeismicLineSetFeature",
    "SeismicWellboreFrameRepresentation",
    "ShotPointLineFeature",
    "StratigraphicColumn",
    "StratigraphicColumnRankInterpretation",
    "StratigraphicUnitInterpretation",
    "StreamlinesFeature",
    "StreamlinesRepresentation",
    "StructuralOrganizationInterpretation",
    "SubRepresentation",
    "TriangulatedSetRepresentation",
    "TruncatedIjkGridRepresentation",
    "TruncatedUnstructuredColumnLayerGridRepresentation",
    "UnstructuredColumnLayerGridRepresentation",
    "UnstructuredGridRepresentation",
    "WellboreFeature",
    "WellboreFrameRepresentation",
    "WellboreInterpretation",
    "WellboreIntervalSet",
    "WellboreTrajectoryRepresentation",
];

/// `witsml20` data object types.
const WITSML20: &[&str] = &[
    "Attachment",
    "BhaRun",
    "CementJob",
    "CementJobEvaluation",
    "Channel",
    "ChannelSet",
    "CuttingsGeology",
    "CuttingsGeologyInterval",
    "DepthRegImage",
    "DownholeComponent",
    "DrillReport",
    "FluidsReport",
    "InterpretedGeology",
    "InterpretedGeologyInterval",
    "Log",
    "MudLogReport",
    "OpsReport",
    "Rig",
    "RigUtilization",
    "Risk",
    "ShowEvaluation",
    "ShowEvaluationInterval",
    "StimJob",
    "StimJobStage",
    "StimPerforationCluster",
    "SurveyProgram",
    "ToolErrorModel",
    "ToolErrorTermSet",
    "Trajectory",
    "Tubular",
    "Well",
    "WellCMLedger",
    "WellCompletion",
    "Wellbore",
    "WellboreCompletion",
    "WellboreGeology",
    "WellboreGeometry",
    "WellboreMarker",
    "WellboreMarkerSet",
];

/// `witsml21` data object types.
const WITSML21: &[&str] = &[
    "BhaRun",
    "CementJob",
    "CementJobEvaluation",
    "Channel",
    "ChannelKind",
    "ChannelKindDictionary",
    "ChannelSet",
    "CuttingsGeology",
    "DepthRegImage",
    "DownholeComponent",
    "DrillReport",
    "ErrorTerm",
    "ErrorTermDictionary",
    "FluidsReport",
    "InterpretedGeology",
    "Log",
    "LoggingToolKind",
    "LoggingToolKindDictionary",
    "MudLogReport",
    "OpsReport",
    "PPFGChannel",
    "PPFGChannelSet",
    "PPFGLog",
    "Rig",
    "RigUtilization",
    "Risk",
    "ShowEvaluation",
    "StimJob",
    "StimJobStage",
    "StimPerforationCluster",
    "SurveyProgram",
    "Target",
    "ToolErrorModel",
    "ToolErrorModelDictionary",
    "Trajectory",
    "Tubular",
    "WeightingFunction",
    "WeightingFunctionDictionary",
    "Well",
    "WellCMLedger",
    "WellCompletion",
    "Wellbore",
    "WellboreCompletion",
    "WellboreGeology",
    "WellboreGeometry",
    "WellboreMarker",
    "WellboreMarkerSet",
];

/// `prodml22` data object types.
const PRODML22: &[&str] = &[
    "AssetProductionVolumes",
    "Channel",
    "ChannelSet",
    "DasAcquisition",
    "DasInstrumentBox",
    "DtsInstalledSystem",
    "DtsInstrumentBox",
    "DtsMeasurement",
    "Facility",
    "FiberOpticalPath",
    "FlowTestActivity",
    "FlowTestJob",
    "FluidAnalysis",
    "FluidCharacterization",
    "FluidSample",
    "FluidSampleAcquisitionJob",
    "FluidSampleContainer",
    "FluidSystem",
    "HydrocarbonAnalysis",
    "OTDRAcquisition",
    "PressureTransientAnalysis",
    "ProductFlowModel",
    "ProductVolume",
    "ProductionOperation",
    "ProductionWellTests",
    "PtaDataPreProcess",
    "PtaDeconvolution",
    "Report",
    "ReportingEntity",
    "ReportingHierarchy",
    "TerminalLifting",
    "TimeSeriesData",
    "TimeSeriesStatistic",
    "Transfer",
    "WaterAnalysis",
    "WellProductionParameters",
];

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(is_supported(&qt("prodml21.Anything")));
        assert!(!is_supported(&qt("witsml21.Unsupported")));
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
                RELEASES.iter().any(|(r, _)| *r == release),
                "{release} is advertised but not accepted"
            );
        }
    }

    #[test]
    fn catalogued_releases_list_their_types() {
        let types = types_of_release("witsml21");
        assert!(types.contains(&"witsml21.Wellbore".to_string()));
        assert!(types_of_release("eml21").is_empty());
        for t in types_of_release("resqml20") {
            assert!(is_supported(&qt(&t)), "{t}");
        }
    }
}
