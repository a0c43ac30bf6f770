//! Throughput of `parse_data_object` on two ~20 KiB RESQML 2.0.1 objects,
//! next to baselines over the same bytes measured in the same run (plain
//! `std::time` harness: `cargo bench -p etp-model`):
//!
//! - **memchr `<`**: counting the `<` of the document with `memchr` (the
//!   least any XML scanner does: look at every byte once, SIMD);
//! - **memcpy**: copying the document into a buffer allocated once;
//! - **quick-xml NsReader**: the reader this crate used before its own
//!   scanner, resolving every element name, extracting nothing.
//!
//! The objects: the Grid2dRepresentation of `etp bench` (citation, three
//! references, control points up to 20 KiB) and an IjkGrid-like object dense
//! in Hdf5Datasets and references (the worst case for extraction).

use std::hint::black_box;
use std::time::Instant;

use etp_model::parse_data_object;

/// A RESQML 2.0.1 IjkGridRepresentation-like object of about 20 KiB with
/// many Hdf5Datasets and references.
fn sample() -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<resqml2:IjkGridRepresentation xmlns:eml="http://www.energistics.org/energyml/data/commonv2" xmlns:resqml2="http://www.energistics.org/energyml/data/resqmlv2" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" schemaVersion="2.0.1" uuid="be3dc02d-ed9d-45b1-b291-6edced323411" xsi:type="resqml2:obj_IjkGridRepresentation">
  <eml:Citation>
    <eml:Title>Bench grid</eml:Title>
    <eml:Originator>bench</eml:Originator>
    <eml:Creation>2026-01-02T03:04:05Z</eml:Creation>
    <eml:Format>bench</eml:Format>
    <eml:LastUpdate>2026-01-03T03:04:05.123Z</eml:LastUpdate>
  </eml:Citation>
  <resqml2:RepresentedInterpretation>
    <eml:ContentType>application/x-resqml+xml;version=2.0;type=obj_EarthModelInterpretation</eml:ContentType>
    <eml:Title>interp</eml:Title>
    <eml:UUID>7a1ccd1c-7b88-4c84-a92c-1d7f9a2b6e4f</eml:UUID>
  </resqml2:RepresentedInterpretation>
  <resqml2:Ni>100</resqml2:Ni><resqml2:Nj>100</resqml2:Nj><resqml2:Nk>50</resqml2:Nk>
  <resqml2:Geometry xsi:type="resqml2:IjkGridGeometry">
    <resqml2:LocalCrs>
      <eml:ContentType>application/x-resqml+xml;version=2.0;type=obj_LocalDepth3dCrs</eml:ContentType>
      <eml:Title>crs</eml:Title>
      <eml:UUID>dbe0e6ba-1ea6-4dd7-b541-9c4c14c16f62</eml:UUID>
    </resqml2:LocalCrs>
"#,
    );
    let mut i = 0;
    while xml.len() < 20 * 1024 - 600 {
        xml.push_str(&format!(
            r#"    <resqml2:Array{i} xsi:type="resqml2:DoubleHdf5Array">
      <resqml2:Values xsi:type="eml:Hdf5Dataset">
        <eml:PathInHdfFile>/RESQML/be3dc02d-ed9d-45b1-b291-6edced323411/array_{i}</eml:PathInHdfFile>
        <eml:HdfProxy xsi:type="eml:DataObjectReference">
          <eml:ContentType>application/x-eml+xml;version=2.0;type=obj_EpcExternalPartReference</eml:ContentType>
          <eml:Title>Hdf Proxy</eml:Title>
          <eml:UUID>f1dc897a-e05e-4c57-944f-3501cb9cd71c</eml:UUID>
        </eml:HdfProxy>
      </resqml2:Values>
      <resqml2:Comment>coordinates {i} &amp; more</resqml2:Comment>
    </resqml2:Array{i}>
"#
        ));
        i += 1;
    }
    xml.push_str("  </resqml2:Geometry>\n</resqml2:IjkGridRepresentation>\n");
    xml
}

/// Runs `f` `iterations` times after a warm-up and returns the mean time.
fn time(iterations: u32, mut f: impl FnMut()) -> std::time::Duration {
    for _ in 0..iterations / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed() / iterations
}

/// Baseline: quick-xml's namespace-aware reader alone, resolving every
/// element name, no extraction.
fn quick_xml_only(xml: &str) -> usize {
    let mut reader = quick_xml::reader::NsReader::from_str(xml);
    let mut n = 0;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(e)) => {
                let (ns, _) = reader.resolver().resolve_element(e.name());
                n += usize::from(matches!(ns, quick_xml::name::ResolveResult::Bound(_)));
            }
            Ok(quick_xml::events::Event::Eof) | Err(_) => return n,
            Ok(_) => {}
        }
    }
}

fn main() {
    // ETP_BENCH_ITERATIONS=200 for runs under callgrind; ETP_BENCH_PARSE_ONLY=1
    // loops over the parser alone (for a profiler).
    if std::env::var_os("ETP_BENCH_PARSE_ONLY").is_some() {
        let xml = grid2d();
        let start = Instant::now();
        while start.elapsed().as_secs() < 5 {
            black_box(parse_data_object(black_box(xml.as_bytes())).ok());
        }
        return;
    }
    let iterations = std::env::var("ETP_BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    for (name, xml) in [
        ("Grid2dRepresentation (etp bench)", grid2d()),
        ("IjkGrid, dense in references", sample()),
    ] {
        measure(name, &xml, iterations);
    }
}

fn measure(name: &str, xml: &str, iterations: u32) {
    let bytes = xml.as_bytes();
    let info = parse_data_object(bytes).expect("the benchmark sample is valid");
    let mut copy = vec![0u8; bytes.len()];
    let memchr = time(iterations, || {
        black_box(memchr::memchr_iter(b'<', black_box(bytes)).count());
    });
    let memcpy = time(iterations, || {
        copy.copy_from_slice(black_box(bytes));
        black_box(&mut copy);
    });
    let quick_xml = time(iterations, || {
        black_box(quick_xml_only(black_box(xml)));
    });
    let ours = time(iterations, || {
        black_box(
            parse_data_object(black_box(bytes))
                .map(|i| i.references.len())
                .ok(),
        );
    });
    println!(
        "{name}: {} bytes, {} references, {} arrays",
        bytes.len(),
        info.references.len(),
        info.arrays.len()
    );
    for (row, d) in [
        ("memchr `<`", memchr),
        ("memcpy", memcpy),
        ("quick-xml NsReader alone", quick_xml),
        ("parse_data_object", ours),
    ] {
        println!(
            "  {row:<26} {:>9.2} µs/object {:>8.0} MB/s   parse_data_object at {:.2}x its speed",
            d.as_secs_f64() * 1e6,
            bytes.len() as f64 / d.as_secs_f64() / 1e6,
            d.as_secs_f64() / ours.as_secs_f64(),
        );
    }
}

/// The Grid2dRepresentation `etp bench` puts, 20 KiB, with fixed UUIDs and
/// pseudo-random depths.
fn grid2d() -> String {
    let mut state = 7u64;
    etp_model::samples::grid2d_xml(
        "be3dc02d-ed9d-45b1-b291-6edced323411",
        "Top Reservoir grid 000001",
        [
            "7a1ccd1c-7b88-4c84-a92c-1d7f9a2b6e4f",
            "dbe0e6ba-1ea6-4dd7-b541-9c4c14c16f62",
            "f1dc897a-e05e-4c57-944f-3501cb9cd71c",
        ],
        20 * 1024,
        || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> 33
        },
    )
}
