//! Property tests: arbitrary and mutated input never panics; results are
//! always well-formed; the date parser agrees with a naive implementation.

mod common;

use common::ALL;
use etp_model::{
    canonical_uuid, content_type_to_qualified_type, parse_data_object, parse_xsd_datetime,
    split_qualified_type,
};
use proptest::prelude::*;

fn check_result(bytes: &[u8]) {
    if let Ok(info) = parse_data_object(bytes) {
        assert_eq!(
            canonical_uuid(&info.uuid).as_deref(),
            Some(info.uuid.as_str())
        );
        let parts = split_qualified_type(&info.qualified_type).expect("qualified type");
        assert_eq!(parts.family, info.family);
        assert_eq!(parts.version, info.family_version);
        for r in &info.references {
            assert_eq!(canonical_uuid(&r.uuid).as_deref(), Some(r.uuid.as_str()));
            if let Some(qt) = &r.qualified_type {
                assert!(split_qualified_type(qt).is_some(), "{qt}");
            }
        }
        assert!(info.references.len() + info.arrays.len() <= bytes.len());
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let snippets = prop::sample::select(vec![
        b"<".to_vec(),
        b">".to_vec(),
        b"</".to_vec(),
        b"/>".to_vec(),
        b"&".to_vec(),
        b"&amp;".to_vec(),
        b"\"".to_vec(),
        b"<!DOCTYPE x>".to_vec(),
        b"<![CDATA[".to_vec(),
        b"]]>".to_vec(),
        b"<e:UUID>".to_vec(),
        b"xmlns:x=\"y\" ".to_vec(),
        vec![0xC3],
        vec![0],
    ]);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<usize>(), snippets).prop_map(|(i, s)| Mutation::Insert(i, s)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn apply(mut data: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        let len = data.len().max(1);
        match m {
            Mutation::Replace(i, b) => {
                if !data.is_empty() {
                    let i = i % len;
                    data[i] = *b;
                }
            }
            Mutation::Insert(i, s) => {
                let i = i % (data.len() + 1);
                data.splice(i..i, s.iter().copied());
            }
            Mutation::Delete(i, n) => {
                if !data.is_empty() {
                    let i = i % len;
                    let end = (i + n).min(data.len());
                    data.drain(i..end);
                }
            }
        }
    }
    data
}

/// Days since the epoch, counted naively (independent of the parser's
/// algorithm).
fn naive_days(y: i64, m: u32, d: u32) -> i64 {
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days = 0i64;
    if y >= 1970 {
        for yy in 1970..y {
            days += if leap(yy) { 366 } else { 365 };
        }
    } else {
        for yy in y..1970 {
            days -= if leap(yy) { 366 } else { 365 };
        }
    }
    let month_len = [
        31,
        if leap(y) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    for len in month_len.iter().take(m as usize - 1) {
        days += len;
    }
    days + i64::from(d) - 1
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_result(&bytes);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "[<>/&;:=\"' a-zA-Z0-9!?\\[\\]#x-]{0,300}") {
        check_result(s.as_bytes());
    }

    #[test]
    fn mutated_samples_never_panic(
        which in 0..ALL.len(),
        muts in prop::collection::vec(mutation(), 1..6),
    ) {
        let data = apply(ALL[which].0.as_bytes().to_vec(), &muts);
        check_result(&data);
    }

    #[test]
    fn content_type_conversion_never_panics(s in "\\PC{0,80}") {
        if let Some(qt) = content_type_to_qualified_type(&s) {
            prop_assert!(split_qualified_type(&qt).is_some());
        }
    }

    #[test]
    fn datetime_never_panics(s in "[0-9T:Z.+-]{0,40}") {
        let _ = parse_xsd_datetime(&s);
    }

    #[test]
    fn datetime_matches_naive_computation(
        y in 1600i64..2400,
        m in 1u32..=12,
        d in 1u32..=28,
        h in 0u32..24,
        mi in 0u32..60,
        s in 0u32..60,
        frac in 0u32..1_000_000,
        off_h in 0u32..14,
        off_m in 0u32..60,
        neg in any::<bool>(),
    ) {
        let sign = if neg { '-' } else { '+' };
        let text = format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{frac:06}{sign}{off_h:02}:{off_m:02}");
        let offset = i64::from(off_h * 60 + off_m) * if neg { -1 } else { 1 };
        let expected = ((naive_days(y, m, d) * 86_400
            + i64::from(h * 3600 + mi * 60 + s)
            - offset * 60)
            * 1_000_000)
            + i64::from(frac);
        prop_assert_eq!(parse_xsd_datetime(&text), Some(expected), "{}", text);
    }
}
