//! The data object types of every ML release the store accepts, so that a type filter with
//! a typo (`witsml21.Welll`) is answered `EDATAOBJECTTYPE_NOTSUPPORTED` (16) instead of an
//! empty list, as the OSDU certification expects (10-discovery.md §2.2 rule 7).
//!
//! The names are the global elements that substitute for `AbstractObject` in each
//! release's XML schemas (non-abstract data objects only), extracted from the
//! Energistics schema bindings `energyml-*` 1.12.0 (RESQML 2.0.1 and EML 2.0 keep their
//! `obj_` element names). `prodml21` has no list here: its schemas are not in those
//! bindings, so every syntactically valid `prodml21` type is accepted.
//!
//! The releases are those the server accepts (`state::supported_data_objects`, advertised
//! or not). A type missing from a list is still accepted when objects of that type exist
//! in the dataspace, so an incomplete list can never hide stored objects.

/// `(release prefix, sorted type names)` of every release with a known type list.
pub(crate) const TYPES_BY_RELEASE: &[(&str, &[&str])] = &[
    ("eml20", &["obj_EpcExternalPartReference"]),
    (
        "eml21",
        &[
            "Activity",
            "ActivityTemplate",
            "DataAssuranceRecord",
            "EpcExternalPartReference",
            "GeodeticCrs",
            "GraphicalInformationSet",
            "ProjectedCrs",
            "PropertyKind",
            "PropertyKindDictionary",
            "TimeSeries",
            "VerticalCrs",
        ],
    ),
    (
        "eml22",
        &[
            "Activity",
            "ActivityTemplate",
            "DataAssuranceRecord",
            "EpcExternalPartReference",
            "GeodeticCrs",
            "GraphicalInformationSet",
            "ProjectedCrs",
            "PropertyKind",
            "PropertyKindDictionary",
            "TimeSeries",
            "VerticalCrs",
        ],
    ),
    (
        "eml23",
        &[
            "Activity",
            "ActivityTemplate",
            "Aggregate",
            "Attachment",
            "BusinessAssociate",
            "Cartesian2dCrs",
            "CollectionsToDataobjectsAssociationSet",
            "ColumnBasedTable",
            "DataAssuranceRecord",
            "DataobjectCollection",
            "Geocentric3dCrs",
            "Geographic2dCrs",
            "Geographic3dCrs",
            "GeographicCompoundCrs",
            "GraphicalInformationSet",
            "LocalEngineering2dCrs",
            "LocalEngineeringCompoundCrs",
            "ProjectedCompoundCrs",
            "ProjectedCrs",
            "PropertyKind",
            "PropertyKindDictionary",
            "RecursiveReferencePoint",
            "ReferencePointInACrs",
            "ReferencePointInALocalEngineeringCompoundCrs",
            "ReferencePointInAWellbore",
            "TimeSeries",
            "VerticalCrs",
        ],
    ),
    (
        "resqml20",
        &[
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
        ],
    ),
    (
        "resqml22",
        &[
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
            "Graph2dRepresentation",
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
            "ReservoirCompartmentInterpretation",
            "RockFluidOrganizationInterpretation",
            "RockFluidUnitInterpretation",
            "RockVolumeFeature",
            "SealedSurfaceFrameworkRepresentation",
            "SealedVolumeFrameworkRepresentation",
            "Seismic2dPostStackRepresentation",
            "Seismic3dPostStackRepresentation",
            "SeismicLatticeFeature",
            "SeismicLatticeSetFeature",
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
            "VoidageGroupInterpretation",
            "WellboreFeature",
            "WellboreFrameRepresentation",
            "WellboreInterpretation",
            "WellboreIntervalSet",
            "WellboreTrajectoryRepresentation",
        ],
    ),
    (
        "witsml20",
        &[
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
        ],
    ),
    (
        "witsml21",
        &[
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
        ],
    ),
    (
        "prodml22",
        &[
            "AssetProductionVolumes",
            "Channel",
            "ChannelSet",
            "DasAcquisition",
            "DasInstrumentBox",
            "DrillStemTest",
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
            "FormationTesterStation",
            "HydrocarbonAnalysis",
            "InjectionFlowTest",
            "InterwellTest",
            "NonHydrocarbonAnalysis",
            "OTDRAcquisition",
            "PressureTransientAnalysis",
            "ProductFlowModel",
            "ProductVolume",
            "ProductionFlowTest",
            "ProductionOperation",
            "ProductionTransientTest",
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
            "VerticalInterferenceTest",
            "WaterAnalysis",
            "WaterLevelTest",
            "WellProductionParameters",
        ],
    ),
];

/// Releases whose types are accepted without a list (see the module documentation).
pub(crate) const RELEASES_WITHOUT_LIST: &[&str] = &["prodml21"];

/// What the catalog says about one release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// The store does not accept this release at all.
    Unsupported,
    /// Accepted, every type name is valid.
    Open,
    /// Accepted, with this list of type names.
    Listed(&'static [&'static str]),
}

/// Looks up a release by its prefix (`resqml20`).
pub(crate) fn release(prefix: &str) -> Release {
    if let Some((_, types)) = TYPES_BY_RELEASE.iter().find(|(p, _)| *p == prefix) {
        return Release::Listed(types);
    }
    if RELEASES_WITHOUT_LIST.contains(&prefix) {
        return Release::Open;
    }
    Release::Unsupported
}

/// The catalog spelling of `name` in `types`, compared ignoring ASCII case (the DevKit's
/// leniency; 03-uris-and-objects.md §1).
pub(crate) fn find_type(types: &'static [&'static str], name: &str) -> Option<&'static str> {
    types.iter().copied().find(|t| t.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_and_releases_unique() {
        for (i, (prefix, types)) in TYPES_BY_RELEASE.iter().enumerate() {
            assert!(types.windows(2).all(|w| w[0] < w[1]), "{prefix} not sorted");
            assert!(
                !TYPES_BY_RELEASE[..i].iter().any(|(p, _)| p == prefix),
                "{prefix} twice"
            );
        }
    }

    #[test]
    fn well_known_types_are_listed() {
        for qualified in [
            "resqml20.obj_LocalDepth3dCrs",
            "resqml20.obj_Grid2dRepresentation",
            "eml20.obj_EpcExternalPartReference",
            "witsml21.Well",
            "witsml21.Wellbore",
            "eml23.LocalEngineeringCompoundCrs",
            "resqml22.TriangulatedSetRepresentation",
        ] {
            let (prefix, name) = qualified.split_once('.').unwrap();
            let Release::Listed(types) = release(prefix) else {
                panic!("{prefix} has no list")
            };
            assert_eq!(find_type(types, name), Some(name), "{qualified}");
        }
    }

    #[test]
    fn typos_and_unknown_releases_are_not_found() {
        let Release::Listed(types) = release("witsml21") else {
            panic!("witsml21 has no list")
        };
        assert_eq!(find_type(types, "Welll"), None);
        assert_eq!(find_type(types, "WELLBORE"), Some("Wellbore"));
        assert_eq!(release("witsml14"), Release::Unsupported);
        assert_eq!(release("prodml21"), Release::Open);
    }
}
