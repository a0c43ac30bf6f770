//! The data object types of every ML release an ETP store built on this crate accepts.
//!
//! One catalog serves every protocol that must tell a real type from a typo: Store answers
//! `EDATAOBJECTTYPE_NOTSUPPORTED` (16) for `witsml21.Welll` instead of `ENOT_FOUND`, as the
//! OSDU certification expects (11-store.md §2); Discovery refuses such a type filter
//! (10-discovery.md §2.2 rule 7); SupportedTypes lists the catalogued types with
//! `returnEmptyTypes`.
//!
//! ```
//! use etp_model::{Family, catalog};
//!
//! assert_eq!(catalog::is_known_type(Family::Witsml, 21, "WELLBORE"), Some("Wellbore"));
//! assert_eq!(catalog::is_known_type(Family::Witsml, 21, "Welll"), None);
//! let resqml20 = catalog::release_by_prefix("resqml20").unwrap();
//! assert_eq!(resqml20.find_type_lenient("LocalDepth3dCrs"), Some("obj_LocalDepth3dCrs"));
//! assert!(catalog::release_by_prefix("prodml21").unwrap().accepts_type("Anything"));
//! assert!(catalog::release_by_prefix("witsml14").is_none());
//! ```
//!
//! # Where the names come from
//!
//! The names are the global elements substituting for `AbstractObject` (non-abstract data
//! objects only) in the Energistics schema bindings `energyml-*` 1.12.0: RESQML 2.0.1 and
//! 2.2, WITSML 2.0 and 2.1, PRODML 2.2, EML 2.0 to 2.3. RESQML 2.0.1 and EML 2.0 keep their
//! `obj_` element names.
//!
//! Two hand-written lists were merged into this one; where they differed the catalog
//! keeps the union, because wrongly refusing a real type loses data while wrongly
//! accepting a bogus one only turns `ENOT_FOUND` into a failed XML check. The names beyond
//! the 1.12.0 global elements are concrete subtypes of data objects present in those
//! bindings (`prodml22.DrillStemTest` and the other `FlowTestActivity` kinds,
//! `prodml22.NonHydrocarbonAnalysis`, `eml23.ProjectedCompoundCrs`,
//! `eml23.GeographicCompoundCrs`, `resqml22.ReservoirCompartmentInterpretation`,
//! `resqml22.SeismicLatticeSetFeature`, `resqml22.VoidageGroupInterpretation`) and names
//! of other published revisions of the schemas (`resqml22.Graph2dRepresentation`,
//! `eml23.Cartesian2dCrs`, `eml23.Geocentric3dCrs`, `eml23.Geographic3dCrs`).
//!
//! `prodml21` has no list (its schemas are not in those bindings): every well-formed type
//! name of it is accepted.
//!
//! # Matching
//!
//! Type names compare ignoring ASCII case, the DevKit's leniency (03-uris-and-objects.md
//! §1), and the lookups return the catalog's spelling, which is how objects are stored.
//! [`Release::find_type_lenient`] also accepts RESQML 2.0.1 / EML 2.0 names without their
//! `obj_` prefix, as [`crate::normalize_qualified_type`] does.

use crate::qualified::Family;

/// One ML release the store accepts, with its data object types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    prefix: &'static str,
    family: Family,
    version: u8,
    types: Option<&'static [&'static str]>,
}

impl Release {
    /// The release prefix of qualified types, `resqml20`.
    pub const fn prefix(&self) -> &'static str {
        self.prefix
    }

    /// The ML family.
    pub const fn family(&self) -> Family {
        self.family
    }

    /// The two-digit version (`20`, `22`, ...).
    pub const fn version(&self) -> u8 {
        self.version
    }

    /// The sorted type names, `None` when the release accepts any well-formed name.
    pub const fn types(&self) -> Option<&'static [&'static str]> {
        self.types
    }

    /// The catalog spelling of `name`, compared ignoring ASCII case; `None` when the name
    /// is not listed or the release has no list.
    pub fn find_type(&self, name: &str) -> Option<&'static str> {
        self.types?
            .iter()
            .copied()
            .find(|listed| listed.eq_ignore_ascii_case(name))
    }

    /// Like [`Release::find_type`], also trying `obj_<name>` in the releases whose names
    /// carry that prefix (RESQML 2.0.1, EML 2.0).
    pub fn find_type_lenient(&self, name: &str) -> Option<&'static str> {
        self.find_type(name).or_else(|| {
            if !self.family.uses_obj_prefix(self.version) {
                return None;
            }
            // Catalog names spell the prefix `obj_` exactly; matching the rest avoids
            // building `obj_<name>` for every lookup.
            self.types?.iter().copied().find(|listed| {
                listed
                    .strip_prefix("obj_")
                    .is_some_and(|bare| bare.eq_ignore_ascii_case(name))
            })
        })
    }

    /// Whether objects named `name` belong to this release: any name when it has no list,
    /// else a listed name (ignoring ASCII case).
    pub fn accepts_type(&self, name: &str) -> bool {
        self.types.is_none() || self.find_type(name).is_some()
    }
}

/// Every release the store accepts, advertised or not.
pub fn releases() -> &'static [Release] {
    RELEASES
}

/// The release of `family` at the two-digit `version`, if the store accepts it.
pub fn release(family: Family, version: u8) -> Option<&'static Release> {
    RELEASES
        .iter()
        .find(|r| r.family == family && r.version == version)
}

/// The release with the qualified-type prefix `prefix` (`resqml20`, ASCII case ignored),
/// if the store accepts it.
pub fn release_by_prefix(prefix: &str) -> Option<&'static Release> {
    RELEASES
        .iter()
        .find(|r| r.prefix.eq_ignore_ascii_case(prefix))
}

/// The catalog spelling of the type `name` of `family` at `version`, compared ignoring
/// ASCII case; `None` for unknown names and for releases without a list.
pub fn is_known_type(family: Family, version: u8, name: &str) -> Option<&'static str> {
    release(family, version)?.find_type(name)
}

/// The listed type names of the release with prefix `prefix`; empty for releases without
/// a list and for releases the store does not accept.
pub fn types_of(prefix: &str) -> &'static [&'static str] {
    release_by_prefix(prefix)
        .and_then(Release::types)
        .unwrap_or_default()
}

const fn listed(
    prefix: &'static str,
    family: Family,
    version: u8,
    types: &'static [&'static str],
) -> Release {
    Release {
        prefix,
        family,
        version,
        types: Some(types),
    }
}

const RELEASES: &[Release] = &[
    listed("eml20", Family::Eml, 20, EML20),
    listed("eml21", Family::Eml, 21, EML21),
    listed("eml22", Family::Eml, 22, EML22),
    listed("eml23", Family::Eml, 23, EML23),
    listed("resqml20", Family::Resqml, 20, RESQML20),
    listed("resqml22", Family::Resqml, 22, RESQML22),
    listed("witsml20", Family::Witsml, 20, WITSML20),
    listed("witsml21", Family::Witsml, 21, WITSML21),
    Release {
        prefix: "prodml21",
        family: Family::Prodml,
        version: 21,
        types: None,
    },
    listed("prodml22", Family::Prodml, 22, PRODML22),
];

/// EML 2.0 (`eml20`) data object types.
const EML20: &[&str] = &["obj_EpcExternalPartReference"];

/// EML 2.1 (`eml21`) data object types.
const EML21: &[&str] = &[
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
];

/// EML 2.2 (`eml22`) data object types: the same set as EML 2.1.
const EML22: &[&str] = EML21;

/// EML 2.3 (`eml23`) data object types.
const EML23: &[&str] = &[
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
];

/// RESQML 2.0.1 (`resqml20`) data object types.
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

/// RESQML 2.2 (`resqml22`) data object types.
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
];

/// WITSML 2.0 (`witsml20`) data object types.
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

/// WITSML 2.1 (`witsml21`) data object types.
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

/// PRODML 2.2 (`prodml22`) data object types.
const PRODML22: &[&str] = &[
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
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize_qualified_type;

    #[test]
    fn releases_are_unique_and_prefixes_match_family_and_version() {
        for (i, r) in RELEASES.iter().enumerate() {
            assert_eq!(r.prefix, format!("{}{}", r.family, r.version));
            assert!(
                !RELEASES[..i].iter().any(|o| o.prefix == r.prefix),
                "{}",
                r.prefix
            );
            assert_eq!(release(r.family, r.version), Some(r));
            assert_eq!(release_by_prefix(&r.prefix.to_uppercase()), Some(r));
        }
    }

    #[test]
    fn lists_are_sorted_without_duplicates_and_already_normalized() {
        for r in RELEASES {
            let Some(types) = r.types else { continue };
            assert!(!types.is_empty(), "{}", r.prefix);
            assert!(
                types.windows(2).all(|w| w[0] < w[1]),
                "{} not sorted",
                r.prefix
            );
            for name in types {
                let qualified = format!("{}.{name}", r.prefix);
                // Catches a RESQML 2.0.1 name without `obj_` or a name with a stray `obj_`.
                assert_eq!(
                    normalize_qualified_type(&qualified).as_deref(),
                    Some(qualified.as_str())
                );
                assert_eq!(
                    name.starts_with("obj_"),
                    r.family.uses_obj_prefix(r.version),
                    "{qualified}"
                );
            }
        }
    }

    #[test]
    fn well_known_types_are_found_in_their_spelling() {
        for (family, version, name) in [
            (Family::Resqml, 20, "obj_LocalDepth3dCrs"),
            (Family::Resqml, 20, "obj_Grid2dRepresentation"),
            (Family::Eml, 20, "obj_EpcExternalPartReference"),
            (Family::Eml, 21, "PropertyKind"),
            (Family::Witsml, 21, "Well"),
            (Family::Witsml, 20, "Wellbore"),
            (Family::Eml, 23, "LocalEngineeringCompoundCrs"),
            (Family::Resqml, 22, "TriangulatedSetRepresentation"),
            (Family::Prodml, 22, "DrillStemTest"),
        ] {
            assert_eq!(is_known_type(family, version, name), Some(name));
            let shouted = name.to_ascii_uppercase();
            assert_eq!(is_known_type(family, version, &shouted), Some(name));
        }
    }

    #[test]
    fn typos_and_unknown_releases_are_not_found() {
        assert_eq!(is_known_type(Family::Witsml, 21, "Welll"), None);
        assert_eq!(is_known_type(Family::Witsml, 14, "Well"), None);
        assert_eq!(
            is_known_type(Family::Resqml, 20, "Grid2dRepresentation"),
            None
        );
        assert!(release_by_prefix("witsml14").is_none());
        assert!(release_by_prefix("resqml").is_none());
        assert!(release_by_prefix("").is_none());
        let witsml21 = release_by_prefix("witsml21").unwrap();
        assert!(!witsml21.accepts_type("Unsupported"));
        assert!(!witsml21.accepts_type(""));
    }

    #[test]
    fn lenient_lookup_adds_obj_only_where_the_release_uses_it() {
        let resqml20 = release_by_prefix("resqml20").unwrap();
        assert_eq!(
            resqml20.find_type_lenient("grid2drepresentation"),
            Some("obj_Grid2dRepresentation")
        );
        assert_eq!(
            resqml20.find_type_lenient("obj_Grid2dRepresentation"),
            Some("obj_Grid2dRepresentation")
        );
        assert_eq!(resqml20.find_type_lenient("obj_"), None);
        let eml20 = release_by_prefix("eml20").unwrap();
        assert_eq!(
            eml20.find_type_lenient("EpcExternalPartReference"),
            Some("obj_EpcExternalPartReference")
        );
        let resqml22 = release_by_prefix("resqml22").unwrap();
        assert_eq!(resqml22.find_type_lenient("obj_Grid2dRepresentation"), None);
    }

    #[test]
    fn releases_without_a_list_accept_any_name_but_list_nothing() {
        let prodml21 = release_by_prefix("prodml21").unwrap();
        assert!(prodml21.types().is_none());
        assert!(prodml21.accepts_type("Anything"));
        assert_eq!(prodml21.find_type("Anything"), None);
        assert!(types_of("prodml21").is_empty());
        assert!(types_of("witsml14").is_empty());
        assert!(types_of("witsml21").contains(&"Wellbore"));
    }
}
