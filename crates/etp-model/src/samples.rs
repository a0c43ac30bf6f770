//! Generated sample documents for benchmarks and load tests (`etp bench`, the codec and
//! parser benches), so every measurement of "a 20 KiB RESQML object" means the same bytes.

/// RESQML 2.0.1 XML of a Grid2dRepresentation of `uuid` padded with control points (and
/// finally spaces) to exactly `size` bytes, or just the fixed part when that is larger.
/// `references` are the UUIDs of its HorizonInterpretation, LocalDepth3dCrs and HDF proxy;
/// `next_random` supplies the depths' pseudo-random digits.
pub fn grid2d_xml(
    uuid: &str,
    title: &str,
    references: [&str; 3],
    size: usize,
    mut next_random: impl FnMut() -> u64,
) -> String {
    let [interp, crs, hdf] = references;
    let mut xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<resqml2:Grid2dRepresentation xmlns:resqml2="http://www.energistics.org/energyml/data/resqmlv2" xmlns:eml="http://www.energistics.org/energyml/data/commonv2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="resqml2:obj_Grid2dRepresentation" schemaVersion="2.0" uuid="{uuid}">
  <eml:Citation>
    <eml:Title>{title}</eml:Title>
    <eml:Originator>geomodeller</eml:Originator>
    <eml:Creation>2024-03-14T09:26:53Z</eml:Creation>
    <eml:Format>Petrel 2023.4 RESQML export</eml:Format>
    <eml:Description>Depth-converted horizon grid, 1024 x 1024 nodes at 25 m spacing</eml:Description>
  </eml:Citation>
  <resqml2:SurfaceRole>map</resqml2:SurfaceRole>
  <resqml2:RepresentedInterpretation>
    <eml:ContentType>application/x-resqml+xml;version=2.0;type=obj_HorizonInterpretation</eml:ContentType>
    <eml:Title>{title} interpretation</eml:Title>
    <eml:UUID>{interp}</eml:UUID>
  </resqml2:RepresentedInterpretation>
  <resqml2:Grid2dPatch>
    <resqml2:PatchIndex>0</resqml2:PatchIndex>
    <resqml2:FastestAxisCount>1024</resqml2:FastestAxisCount>
    <resqml2:SlowestAxisCount>1024</resqml2:SlowestAxisCount>
    <resqml2:Geometry>
      <resqml2:LocalCrs>
        <eml:ContentType>application/x-resqml+xml;version=2.0;type=obj_LocalDepth3dCrs</eml:ContentType>
        <eml:Title>ED50 / UTM zone 31N, depth</eml:Title>
        <eml:UUID>{crs}</eml:UUID>
      </resqml2:LocalCrs>
      <resqml2:Points xsi:type="resqml2:Point3dZValueArray">
        <resqml2:ZValues xsi:type="resqml2:DoubleHdf5Array">
          <resqml2:Values>
            <eml:PathInHdfFile>/RESQML/{uuid}/points_patch0</eml:PathInHdfFile>
            <eml:HdfProxy>
              <eml:ContentType>application/x-eml+xml;version=2.0;type=obj_EpcExternalPartReference</eml:ContentType>
              <eml:Title>Hdf Proxy</eml:Title>
              <eml:UUID>{hdf}</eml:UUID>
            </eml:HdfProxy>
          </resqml2:Values>
        </resqml2:ZValues>
      </resqml2:Points>
    </resqml2:Geometry>
  </resqml2:Grid2dPatch>
"#
    );
    let tail = "</resqml2:Grid2dRepresentation>\n";
    let mut k = 0u32;
    loop {
        let x = 431_250.0 + f64::from(k % 64) * 25.0;
        let y = 6_478_125.0 + f64::from(k / 64) * 25.0;
        let z = 2_150.0 + (next_random() % 100_000) as f64 / 1000.0;
        let entry = format!(
            "  <resqml2:ControlPoint index=\"{k}\"><resqml2:Coordinate1>{x:.2}</resqml2:Coordinate1><resqml2:Coordinate2>{y:.2}</resqml2:Coordinate2><resqml2:Coordinate3>{z:.3}</resqml2:Coordinate3></resqml2:ControlPoint>\n"
        );
        if xml.len() + entry.len() + tail.len() > size {
            break;
        }
        xml.push_str(&entry);
        k += 1;
    }
    let pad = size.saturating_sub(tail.len() + xml.len());
    xml.push_str(&" ".repeat(pad));
    xml.push_str(tail);
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_have_the_size_asked_and_index_as_resqml() {
        const UUID: &str = "be3dc02d-ed9d-45b1-b291-6edced323411";
        let refs = [
            "7a1ccd1c-7b88-4c84-a92c-1d7f9a2b6e4f",
            "dbe0e6ba-1ea6-4dd7-b541-9c4c14c16f62",
            "f1dc897a-e05e-4c57-944f-3501cb9cd71c",
        ];
        let mut n = 0u64;
        let xml = grid2d_xml(UUID, "G", refs, 20 * 1024, || {
            n += 7919;
            n
        });
        assert_eq!(xml.len(), 20 * 1024);
        let info = crate::parse_data_object(xml.as_bytes()).unwrap();
        assert_eq!(info.qualified_type, "resqml20.obj_Grid2dRepresentation");
        assert_eq!(
            info.references.len(),
            3,
            "interpretation, CRS and HDF proxy"
        );
        assert!(
            grid2d_xml(UUID, "G", refs, 10, || 0).len() > 10,
            "fixed part kept"
        );
    }
}
