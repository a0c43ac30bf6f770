//! Hand-written sample data objects shared by the integration tests.
#![allow(dead_code)]

/// RESQML 2.0.1 LocalDepth3dCrs as pyetp (xsdata) writes it.
pub const RESQML20_CRS: &str = r#"<resqml2:LocalDepth3dCrs xmlns:eml="http://www.energistics.org/energyml/data/commonv2" xmlns:resqml2="http://www.energistics.org/energyml/data/resqmlv2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" schemaVersion="2.0.1" uuid="dbe0e6ba-1ea6-4dd7-b541-9c4c14c16f62" xsi:type="resqml2:obj_LocalDepth3dCrs">
  <eml:Citation>
    <eml:Title>Demo crs</eml:Title>
    <eml:Originator>&lt;name/username/email&gt;</eml:Originator>
    <eml:Creation>2026-01-02T03:04:05Z</eml:Creation>
    <eml:Format>equinor:pyetp:0.0.49</eml:Format>
  </eml:Citation>
  <resqml2:YOffset>0.0</resqml2:YOffset>
  <resqml2:ZOffset>0.0</resqml2:ZOffset>
  <resqml2:ArealRotation uom="rad">0.0</resqml2:ArealRotation>
  <resqml2:ProjectedAxisOrder>easting northing</resqml2:ProjectedAxisOrder>
  <resqml2:ProjectedUom>m</resqml2:ProjectedUom>
  <resqml2:VerticalUom>m</resqml2:VerticalUom>
  <resqml2:XOffset>0.0</resqml2:XOffset>
  <resqml2:ZIncreasingDownward>true</resqml2:ZIncreasingDownward>
  <resqml2:VerticalCrs xsi:type="eml:VerticalUnknownCrs">
    <eml:Unknown>Mean sea level</eml:Unknown>
  </resqml2:VerticalCrs>
  <resqml2:ProjectedCrs xsi:type="eml:ProjectedCrsEpsgCode">
    <eml:EpsgCode>23031</eml:EpsgCode>
  </resqml2:ProjectedCrs>
</resqml2:LocalDepth3dCrs>
"#;

/// RESQML 2.0.1 Grid2dRepresentation with a CRS, an interpretation, a
/// lattice and an Hdf5Dataset of z values (pyetp style, plus a
/// RepresentedInterpretation and a LastUpdate).
pub const RESQML20_GRID: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<resqml2:Grid2dRepresentation xmlns:eml="http://www.energistics.org/energyml/data/commonv2" xmlns:resqml2="http://www.energistics.org/energyml/data/resqmlv2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" schemaVersion="2.0.1" uuid="BE3DC02D-ED9D-45B1-B291-6EDCED323411" xsi:type="resqml2:obj_Grid2dRepresentation">
  <eml:Citation>
    <eml:Title>Demo grid</eml:Title>
    <eml:Originator>pyetp</eml:Originator>
    <eml:Creation>2026-01-02T03:04:05Z</eml:Creation>
    <eml:Format>equinor:pyetp:0.0.49</eml:Format>
    <eml:LastUpdate>2026-01-03T00:00:00.250+01:00</eml:LastUpdate>
  </eml:Citation>
  <resqml2:RepresentedInterpretation>
    <eml:ContentType>application/x-resqml+xml;version=2.0;type=obj_HorizonInterpretation</eml:ContentType>
    <eml:Title>Top Volantis interp</eml:Title>
    <eml:UUID>7a1ccd1c-7b88-4c84-a92c-1d7f9a2b6e4f</eml:UUID>
  </resqml2:RepresentedInterpretation>
  <resqml2:SurfaceRole>map</resqml2:SurfaceRole>
  <resqml2:Grid2dPatch>
    <resqml2:PatchIndex>0</resqml2:PatchIndex>
    <resqml2:FastestAxisCount>103</resqml2:FastestAxisCount>
    <resqml2:SlowestAxisCount>101</resqml2:SlowestAxisCount>
    <resqml2:Geometry>
      <resqml2:LocalCrs>
        <eml:ContentType>application/x-resqml+xml;version=2.0.1;type=obj_LocalDepth3dCrs</eml:ContentType>
        <eml:Title>Demo crs</eml:Title>
        <eml:UUID>dbe0e6ba-1ea6-4dd7-b541-9c4c14c16f62</eml:UUID>
      </resqml2:LocalCrs>
      <resqml2:Points xsi:type="resqml2:Point3dZValueArray">
        <resqml2:SupportingGeometry xsi:type="resqml2:Point3dLatticeArray">
          <resqml2:Origin>
            <resqml2:Coordinate1>10.0</resqml2:Coordinate1>
            <resqml2:Coordinate2>11.0</resqml2:Coordinate2>
            <resqml2:Coordinate3>0.0</resqml2:Coordinate3>
          </resqml2:Origin>
          <resqml2:Offset>
            <resqml2:Offset>
              <resqml2:Coordinate1>1.0</resqml2:Coordinate1>
              <resqml2:Coordinate2>0.0</resqml2:Coordinate2>
              <resqml2:Coordinate3>0.0</resqml2:Coordinate3>
            </resqml2:Offset>
            <resqml2:Spacing xsi:type="resqml2:DoubleConstantArray">
              <resqml2:Value>1.0</resqml2:Value>
              <resqml2:Count>102</resqml2:Count>
            </resqml2:Spacing>
          </resqml2:Offset>
        </resqml2:SupportingGeometry>
        <resqml2:ZValues xsi:type="resqml2:DoubleHdf5Array">
          <resqml2:Values>
            <eml:PathInHdfFile>/RESQML/be3dc02d-ed9d-45b1-b291-6edced323411/zvalues</eml:PathInHdfFile>
            <eml:HdfProxy>
              <eml:ContentType>application/x-eml+xml;version=2.0;type=obj_EpcExternalPartReference</eml:ContentType>
              <eml:Title>Demo epc</eml:Title>
              <eml:UUID>d53c9c04-e83a-4ad7-87fc-567a0dd5e660</eml:UUID>
            </eml:HdfProxy>
          </resqml2:Values>
        </resqml2:ZValues>
      </resqml2:Points>
    </resqml2:Geometry>
  </resqml2:Grid2dPatch>
</resqml2:Grid2dRepresentation>
"#;

/// EML 2.0 obj_EpcExternalPartReference as pyetp writes it.
pub const EML20_EPC: &str = r#"<eml:EpcExternalPartReference xmlns:eml="http://www.energistics.org/energyml/data/commonv2" xmlns:resqml2="http://www.energistics.org/energyml/data/resqmlv2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" schemaVersion="2.0" uuid="d53c9c04-e83a-4ad7-87fc-567a0dd5e660" xsi:type="eml:obj_EpcExternalPartReference">
  <eml:Citation>
    <eml:Title>Demo epc</eml:Title>
    <eml:Originator>pyetp</eml:Originator>
    <eml:Creation>2026-01-02T03:04:05Z</eml:Creation>
    <eml:Format>equinor:pyetp:0.0.49</eml:Format>
  </eml:Citation>
  <eml:MimeType>application/x-hdf5</eml:MimeType>
</eml:EpcExternalPartReference>
"#;

/// RESQML 2.0.1 HorizonInterpretation with default namespace for RESQML and
/// an `ns0` prefix for EML (prefixes vary between producers), no xsi:type,
/// `schemaVersion="2.0"`.
pub const RESQML20_HORIZON_INTERP: &str = r#"<HorizonInterpretation xmlns="http://www.energistics.org/energyml/data/resqmlv2" xmlns:ns0="http://www.energistics.org/energyml/data/commonv2" uuid="7a1ccd1c-7b88-4c84-a92c-1d7f9a2b6e4f" schemaVersion="2.0">
  <ns0:Citation>
    <ns0:Title>Top Volantis interp</ns0:Title>
    <ns0:Originator>geo</ns0:Originator>
    <ns0:Creation>2015-07-01T12:00:00.000+02:00</ns0:Creation>
    <ns0:Format>Paradigm SKUA-GOCAD 22 Alpha 2 Build:20150609-0008 (id: origin/master|56360|1cc1a5c9fd5|20150608-1750) for Win_x64_6.1_v11</ns0:Format>
  </ns0:Citation>
  <Domain>depth</Domain>
  <InterpretedFeature>
    <ns0:ContentType>application/x-resqml+xml;version=2.0;type=obj_GeneticBoundaryFeature</ns0:ContentType>
    <ns0:Title>Top Volantis</ns0:Title>
    <ns0:UUID>E1F4E9B4-2D7E-4C2A-9C4B-3F1D9B8A7C6E</ns0:UUID>
    <ns0:UuidAuthority>pdgm</ns0:UuidAuthority>
    <ns0:VersionString>v1</ns0:VersionString>
  </InterpretedFeature>
  <HasOccuredDuring>
    <ChronoBottom>
      <ns0:ContentType>application/x-resqml+xml;version=2.0;type=obj_GeologicTimeFeature</ns0:ContentType>
      <ns0:Title>Jurassic</ns0:Title>
      <ns0:UUID>11111111-2222-3333-4444-555555555555</ns0:UUID>
    </ChronoBottom>
  </HasOccuredDuring>
</HorizonInterpretation>
"#;

/// RESQML 2.0.1 ContinuousProperty with a PatchOfValues/Hdf5Dataset, a
/// supporting representation, a local property kind and an integer array
/// with a NullValue, written with `resqml:` / `eml:` prefixes and an
/// explicit `xsi:type="eml:DataObjectReference"` on references.
pub const RESQML20_PROPERTY: &str = r#"<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<!-- written by a test -->
<resqml:ContinuousProperty xmlns:resqml="http://www.energistics.org/energyml/data/resqmlv2" xmlns:eml="http://www.energistics.org/energyml/data/commonv2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="resqml:obj_ContinuousProperty" schemaVersion="2.0" uuid="5b0b0f64-0c1d-4f0e-9a55-0e3b3c3f1a10">
  <eml:Citation>
    <eml:Title><![CDATA[Porosity <total>]]> &amp; more</eml:Title>
    <eml:Originator>fesapi</eml:Originator>
    <eml:Creation>2019-03-04T05:06:07Z</eml:Creation>
    <eml:Format>F2I-CONSULTING:FESAPI</eml:Format>
  </eml:Citation>
  <resqml:IndexableElement>cells</resqml:IndexableElement>
  <resqml:Count>1</resqml:Count>
  <resqml:PropertyKind xsi:type="resqml:LocalPropertyKind">
    <resqml:LocalPropertyKind xsi:type="eml:DataObjectReference">
      <eml:ContentType>application/x-resqml+xml;version=2.0;type=obj_PropertyKind</eml:ContentType>
      <eml:Title>my porosity</eml:Title>
      <eml:UUID>a48a5e3c-1e5c-4e0b-8b9c-6f9f2c7a0d01</eml:UUID>
    </resqml:LocalPropertyKind>
  </resqml:PropertyKind>
  <resqml:SupportingRepresentation xsi:type="eml:DataObjectReference">
    <eml:ContentType>application/x-resqml+xml;version=2.0;type=obj_IjkGridRepresentation</eml:ContentType>
    <eml:Title>Grid</eml:Title>
    <eml:UUID>c7a5d8e2-3b4f-4a61-9d7c-2e8f1a0b3c4d</eml:UUID>
  </resqml:SupportingRepresentation>
  <resqml:PatchOfValues>
    <resqml:RepresentationPatchIndex>0</resqml:RepresentationPatchIndex>
    <resqml:Values xsi:type="resqml:DoubleHdf5Array">
      <resqml:Values xsi:type="eml:Hdf5Dataset">
        <eml:PathInHdfFile>/RESQML/5b0b0f64-0c1d-4f0e-9a55-0e3b3c3f1a10/values_patch0</eml:PathInHdfFile>
        <eml:HdfProxy xsi:type="eml:DataObjectReference">
          <eml:ContentType>application/x-eml+xml;version=2.0;type=obj_EpcExternalPartReference</eml:ContentType>
          <eml:Title>Hdf Proxy</eml:Title>
          <eml:UUID>f1dc897a-e05e-4c57-944f-3501cb9cd71c</eml:UUID>
        </eml:HdfProxy>
      </resqml:Values>
    </resqml:Values>
  </resqml:PatchOfValues>
  <resqml:PatchOfValues>
    <resqml:RepresentationPatchIndex>1</resqml:RepresentationPatchIndex>
    <resqml:Values xsi:type="resqml:IntegerHdf5Array">
      <resqml:NullValue>-1</resqml:NullValue>
      <resqml:Values>
        <eml:PathInHdfFile>/RESQML/5b0b0f64-0c1d-4f0e-9a55-0e3b3c3f1a10/values_patch1</eml:PathInHdfFile>
        <eml:HdfProxy>
          <eml:ContentType>application/x-eml+xml; Version=2.0; Type=obj_EpcExternalPartReference</eml:ContentType>
          <eml:Title>Hdf Proxy</eml:Title>
          <eml:UUID>f1dc897a-e05e-4c57-944f-3501cb9cd71c</eml:UUID>
        </eml:HdfProxy>
      </resqml:Values>
    </resqml:Values>
  </resqml:PatchOfValues>
  <resqml:UOM>m3/m3</resqml:UOM>
  <resqml:MinimumValue>0.0</resqml:MinimumValue>
  <resqml:MaximumValue>0.35</resqml:MaximumValue>
</resqml:ContinuousProperty>
"#;

/// RESQML 2.2 Grid2dRepresentation with EML 2.3 references and an
/// ExternalDataArrayPart.
pub const RESQML22_GRID: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<resqml:Grid2dRepresentation xmlns:resqml="http://www.energistics.org/energyml/data/resqmlv2" xmlns:eml="http://www.energistics.org/energyml/data/commonv2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" uuid="030a82f6-10a7-4ecf-af03-54749e098624" schemaVersion="2.2" objectVersion="3">
  <eml:Citation>
    <eml:Title>Horizon grid 2.2</eml:Title>
    <eml:Originator>fesapi</eml:Originator>
    <eml:Creation>2024-05-06T07:08:09.123456Z</eml:Creation>
    <eml:Format>F2I</eml:Format>
  </eml:Citation>
  <resqml:RepresentedObject>
    <eml:Uuid>ac12dc12-4951-459b-b585-90f48aa88a5a</eml:Uuid>
    <eml:QualifiedType>resqml22.HorizonInterpretation</eml:QualifiedType>
    <eml:Title>Horizon interp</eml:Title>
    <eml:ObjectVersion>2</eml:ObjectVersion>
  </resqml:RepresentedObject>
  <resqml:SurfaceRole>map</resqml:SurfaceRole>
  <resqml:Grid2dPatch>
    <resqml:FastestAxisCount>4</resqml:FastestAxisCount>
    <resqml:SlowestAxisCount>3</resqml:SlowestAxisCount>
    <resqml:Geometry>
      <resqml:LocalCrs>
        <eml:Uuid>798b4fd9-aa1c-4ac5-8e4b-0e4c2a53e4ab</eml:Uuid>
        <eml:QualifiedType>eml23.LocalEngineeringCompoundCrs</eml:QualifiedType>
        <eml:Title>Local CRS</eml:Title>
        <eml:EnergisticsUri>eml:///eml23.LocalEngineeringCompoundCrs(798b4fd9-aa1c-4ac5-8e4b-0e4c2a53e4ab)</eml:EnergisticsUri>
      </resqml:LocalCrs>
      <resqml:Points xsi:type="resqml:Point3dZValueArray">
        <resqml:SupportingGeometry xsi:type="resqml:Point3dLatticeArray">
          <resqml:Origin>
            <resqml:Coordinate1>0</resqml:Coordinate1>
            <resqml:Coordinate2>0</resqml:Coordinate2>
            <resqml:Coordinate3>0</resqml:Coordinate3>
          </resqml:Origin>
          <resqml:Dimension>
            <resqml:Direction>
              <resqml:Coordinate1>1</resqml:Coordinate1>
              <resqml:Coordinate2>0</resqml:Coordinate2>
              <resqml:Coordinate3>0</resqml:Coordinate3>
            </resqml:Direction>
            <resqml:Spacing xsi:type="eml:FloatingPointConstantArray">
              <eml:Value>25</eml:Value>
              <eml:Count>3</eml:Count>
            </resqml:Spacing>
          </resqml:Dimension>
        </resqml:SupportingGeometry>
        <resqml:ZValues xsi:type="eml:FloatingPointExternalArray">
          <eml:ArrayFloatingPointType>arrayOfDouble64LE</eml:ArrayFloatingPointType>
          <eml:Values>
            <eml:ExternalDataArrayPart>
              <eml:Count>3</eml:Count>
              <eml:Count>4</eml:Count>
              <eml:PathInExternalFile>RESQML/030a82f6-10a7-4ecf-af03-54749e098624/zvalues</eml:PathInExternalFile>
              <eml:StartIndex>0</eml:StartIndex>
              <eml:StartIndex> 0 </eml:StartIndex>
              <eml:URI>grid.h5</eml:URI>
              <eml:MimeType>application/x-hdf5</eml:MimeType>
            </eml:ExternalDataArrayPart>
          </eml:Values>
        </resqml:ZValues>
      </resqml:Points>
    </resqml:Geometry>
  </resqml:Grid2dPatch>
</resqml:Grid2dRepresentation>
"#;

/// EML 2.3 EpcExternalPartReference.
pub const EML23_EPC: &str = r#"<eml:EpcExternalPartReference xmlns:eml="http://www.energistics.org/energyml/data/commonv2" uuid="2b7f3c9e-8a1d-4c5b-9e6f-0a1b2c3d4e5f" schemaVersion="2.3" objectVersion="1.0">
  <eml:Citation>
    <eml:Title>grid.h5</eml:Title>
    <eml:Originator>fesapi</eml:Originator>
    <eml:Creation>2024-05-06T07:08:09Z</eml:Creation>
    <eml:Format>F2I</eml:Format>
    <eml:LastUpdate>2024-05-07T00:00:00Z</eml:LastUpdate>
  </eml:Citation>
  <eml:Filename>grid.h5</eml:Filename>
  <eml:MimeType>application/x-hdf5</eml:MimeType>
</eml:EpcExternalPartReference>
"#;

/// EML 2.3 Activity with a template and a data object parameter.
pub const EML23_ACTIVITY: &str = r#"<Activity xmlns="http://www.energistics.org/energyml/data/commonv2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" uuid="5e0a3a6b-6c1f-4f2a-8a9b-3c2d1e0f9a8b" schemaVersion="2.3">
  <Citation>
    <Title>Import</Title>
    <Originator>etp-server</Originator>
    <Creation>2024-05-06T07:08:09Z</Creation>
    <Format>etp</Format>
  </Citation>
  <ActivityDescriptor>
    <Uuid>9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a</Uuid>
    <QualifiedType>eml23.ActivityTemplate</QualifiedType>
    <Title>Import template</Title>
  </ActivityDescriptor>
  <Parameter xsi:type="DataObjectParameter">
    <Title>Output</Title>
    <DataObject>
      <Uuid>030a82f6-10a7-4ecf-af03-54749e098624</Uuid>
      <QualifiedType>resqml22.Grid2dRepresentation</QualifiedType>
      <Title>Horizon grid 2.2</Title>
    </DataObject>
  </Parameter>
</Activity>
"#;

/// WITSML 2.1 Well (OSDU certification style, default WITSML namespace).
pub const WITSML21_WELL: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Well xmlns="http://www.energistics.org/energyml/data/witsmlv2" xmlns:eml="http://www.energistics.org/energyml/data/commonv2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" uuid="ca96314d-a048-46bf-9a1e-a27edd9bac09" schemaVersion="2.1">
  <eml:Citation>
    <eml:Title>NO 15/9-F-1 C</eml:Title>
    <eml:Originator>Equinor</eml:Originator>
    <eml:Creation>2021-03-04T05:06:07.000Z</eml:Creation>
    <eml:Format>Volve</eml:Format>
    <eml:LastUpdate>not a date</eml:LastUpdate>
  </eml:Citation>
  <eml:Existence>actual</eml:Existence>
  <eml:ActiveStatus>inactive</eml:ActiveStatus>
  <Field>VOLVE</Field>
  <Country>Norway</Country>
  <Operator>Statoil</Operator>
  <WellDatum uid="RKB">
    <eml:Code>KB</eml:Code>
    <eml:Datum xsi:type="eml:GeodeticDatum"/>
  </WellDatum>
</Well>
"#;

/// WITSML 2.1 Wellbore referencing its Well (with the `witsml20.Well`
/// qualified type the certification data uses) and a nil-uuid Datum.
pub const WITSML21_WELLBORE: &str = r#"<witsml:Wellbore xmlns:witsml="http://www.energistics.org/energyml/data/witsmlv2" xmlns:eml="http://www.energistics.org/energyml/data/commonv2" uuid="f3a9c2b1-7d6e-4f50-8a1b-2c3d4e5f6a7b" schemaVersion="2.1" objectVersion="1">
  <eml:Citation>
    <eml:Title>NO 15/9-F-1 C wellbore</eml:Title>
    <eml:Originator>Equinor</eml:Originator>
    <eml:Creation>2021-03-04T05:06:07Z</eml:Creation>
    <eml:Format>Volve</eml:Format>
  </eml:Citation>
  <witsml:Number>1</witsml:Number>
  <witsml:Well>
    <eml:Uuid>ca96314d-a048-46bf-9a1e-a27edd9bac09</eml:Uuid>
    <eml:ObjectVersion>2.1</eml:ObjectVersion>
    <eml:QualifiedType>witsml20.Well</eml:QualifiedType>
    <eml:Title>NO 15/9-F-1 C</eml:Title>
  </witsml:Well>
  <witsml:Md uom="m">
    <witsml:MeasuredDepth>3400</witsml:MeasuredDepth>
    <witsml:Datum>
      <eml:Uuid>00000000-0000-0000-0000-000000000000</eml:Uuid>
      <eml:QualifiedType>witsml21.WellboreDatum</eml:QualifiedType>
      <eml:Title>none</eml:Title>
    </witsml:Datum>
  </witsml:Md>
</witsml:Wellbore>
"#;

/// WITSML 2.0 Trajectory (EML 2.1 references with ContentType + Uuid).
pub const WITSML20_TRAJECTORY: &str = r#"<Trajectory xmlns="http://www.energistics.org/energyml/data/witsmlv2" xmlns:eml="http://www.energistics.org/energyml/data/commonv2" uuid="0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0" schemaVersion="2.0">
  <eml:Citation>
    <eml:Title>Survey 1</eml:Title>
    <eml:Originator>witsml</eml:Originator>
    <eml:Creation>2018-01-01T00:00:00Z</eml:Creation>
    <eml:Format>x</eml:Format>
  </eml:Citation>
  <Wellbore>
    <eml:ContentType>application/x-witsml+xml;version=2.0;type=Wellbore</eml:ContentType>
    <eml:Title>Wellbore 1</eml:Title>
    <eml:Uuid>f3a9c2b1-7d6e-4f50-8a1b-2c3d4e5f6a7b</eml:Uuid>
  </Wellbore>
  <ActiveStatus>false</ActiveStatus>
</Trajectory>
"#;

/// PRODML 2.2 FluidSample referencing a FluidSystem and a WITSML wellbore.
pub const PRODML22_SAMPLE: &str = r#"<prodml:FluidSample xmlns:prodml="http://www.energistics.org/energyml/data/prodmlv2" xmlns:eml="http://www.energistics.org/energyml/data/commonv2" uuid="6c5b4a39-2817-4069-a5b4-c3d2e1f0a9b8" schemaVersion="2.2">
  <eml:Citation>
    <eml:Title>Sample 42</eml:Title>
    <eml:Originator>lab</eml:Originator>
    <eml:Creation>2022-02-02T02:02:02-03:30</eml:Creation>
    <eml:Format>prodml</eml:Format>
  </eml:Citation>
  <prodml:SampleKind>stock tank oil</prodml:SampleKind>
  <prodml:FluidSystem>
    <eml:Uuid>7d6c5b4a-3928-4170-b6c5-d4e3f2a1b0c9</eml:Uuid>
    <eml:QualifiedType>prodml22.FluidSystem</eml:QualifiedType>
    <eml:Title>Reservoir fluid</eml:Title>
  </prodml:FluidSystem>
  <prodml:FluidSampleAcquisitionJobSource>
    <eml:Uuid>8e7d6c5b-4a39-4281-87d6-e5f4a3b2c1d0</eml:Uuid>
    <eml:QualifiedType>prodml22.FluidSampleAcquisitionJob</eml:QualifiedType>
    <eml:Title>Job</eml:Title>
  </prodml:FluidSampleAcquisitionJobSource>
</prodml:FluidSample>
"#;

/// All valid samples with their expected qualified type and uuid.
pub const ALL: &[(&str, &str, &str)] = &[
    (
        RESQML20_CRS,
        "resqml20.obj_LocalDepth3dCrs",
        "dbe0e6ba-1ea6-4dd7-b541-9c4c14c16f62",
    ),
    (
        RESQML20_GRID,
        "resqml20.obj_Grid2dRepresentation",
        "be3dc02d-ed9d-45b1-b291-6edced323411",
    ),
    (
        EML20_EPC,
        "eml20.obj_EpcExternalPartReference",
        "d53c9c04-e83a-4ad7-87fc-567a0dd5e660",
    ),
    (
        RESQML20_HORIZON_INTERP,
        "resqml20.obj_HorizonInterpretation",
        "7a1ccd1c-7b88-4c84-a92c-1d7f9a2b6e4f",
    ),
    (
        RESQML20_PROPERTY,
        "resqml20.obj_ContinuousProperty",
        "5b0b0f64-0c1d-4f0e-9a55-0e3b3c3f1a10",
    ),
    (
        RESQML22_GRID,
        "resqml22.Grid2dRepresentation",
        "030a82f6-10a7-4ecf-af03-54749e098624",
    ),
    (
        EML23_EPC,
        "eml23.EpcExternalPartReference",
        "2b7f3c9e-8a1d-4c5b-9e6f-0a1b2c3d4e5f",
    ),
    (
        EML23_ACTIVITY,
        "eml23.Activity",
        "5e0a3a6b-6c1f-4f2a-8a9b-3c2d1e0f9a8b",
    ),
    (
        WITSML21_WELL,
        "witsml21.Well",
        "ca96314d-a048-46bf-9a1e-a27edd9bac09",
    ),
    (
        WITSML21_WELLBORE,
        "witsml21.Wellbore",
        "f3a9c2b1-7d6e-4f50-8a1b-2c3d4e5f6a7b",
    ),
    (
        WITSML20_TRAJECTORY,
        "witsml20.Trajectory",
        "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
    ),
    (
        PRODML22_SAMPLE,
        "prodml22.FluidSample",
        "6c5b4a39-2817-4069-a5b4-c3d2e1f0a9b8",
    ),
];
