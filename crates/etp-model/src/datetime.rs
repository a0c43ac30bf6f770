//! A small strict parser for `xsd:dateTime` / RFC 3339 timestamps.

/// Parses an `xsd:dateTime` (RFC 3339 profile) into microseconds since the
/// Unix epoch (UTC).
///
/// Accepted: `YYYY-MM-DDThh:mm:ss[.f+][Z|±hh:mm]`, surrounding XML
/// whitespace ignored, `t` / `z` accepted in lowercase, year 0001–9999,
/// fraction of any length (truncated to microseconds), `24:00:00` (with an
/// all-zero fraction) meaning midnight at the end of the day, offsets up to
/// ±14:00. A value without a timezone is taken as UTC. Rejected: anything
/// else, including leap seconds (`:60`), invalid calendar dates, a space
/// instead of `T`, missing seconds.
pub fn parse_xsd_datetime(s: &str) -> Option<i64> {
    let s = s.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\n' | '\r'));
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    if year == 0 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    if minute > 59 || second > 59 || hour > 24 {
        return None;
    }

    let mut i = 19;
    let mut micros: i64 = 0;
    let mut fraction_is_zero = true;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            let pos = i - start;
            if pos < 6 {
                micros += i64::from(c - b'0') * 10_i64.pow(5 - pos as u32);
            }
            if *c != b'0' {
                fraction_is_zero = false;
            }
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if hour == 24 && (minute != 0 || second != 0 || !fraction_is_zero) {
        return None;
    }

    let offset_minutes: i64 = match &b[i..] {
        [] => 0,
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] => {
            if rest.len() != 5 || rest[2] != b':' {
                return None;
            }
            let oh = digits(rest, 0, 2)?;
            let om = digits(rest, 3, 2)?;
            if om > 59 || oh > 14 || (oh == 14 && om != 0) {
                return None;
            }
            let total = i64::from(oh * 60 + om);
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };

    let days = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
    let seconds =
        days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
            - offset_minutes * 60;
    Some(seconds * 1_000_000 + micros)
}

/// Reads `n` ASCII digits at `at`.
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let slice = b.get(at..at + n)?;
    slice.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_examples() {
        assert_eq!(parse_xsd_datetime("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_xsd_datetime("1970-01-01T00:00:00"), Some(0));
        assert_eq!(
            parse_xsd_datetime("2026-01-02T03:04:05Z"),
            Some(1_767_323_045_000_000)
        );
        assert_eq!(
            parse_xsd_datetime("2026-01-02T05:04:05.5+02:00"),
            Some(1_767_323_045_500_000)
        );
        assert_eq!(
            parse_xsd_datetime("2026-01-02T03:04:05.1234567z"),
            Some(1_767_323_045_123_456)
        );
        assert_eq!(parse_xsd_datetime("1969-12-31T23:59:59Z"), Some(-1_000_000));
        assert_eq!(
            parse_xsd_datetime("1970-01-01T24:00:00Z"),
            Some(86_400_000_000)
        );
        assert_eq!(
            parse_xsd_datetime("2000-02-29T00:00:00Z"),
            Some(951_782_400_000_000)
        );
    }

    #[test]
    fn rejects() {
        for s in [
            "",
            "2026-01-02",
            "2026-01-02 03:04:05Z",
            "2026-01-02T03:04Z",
            "2026-13-02T03:04:05Z",
            "2026-02-29T03:04:05Z",
            "1900-02-29T03:04:05Z",
            "2026-01-02T03:04:60Z",
            "2026-01-02T24:00:01Z",
            "2026-01-02T24:00:00.1Z",
            "2026-01-02T03:04:05.Z",
            "2026-01-02T03:04:05+1:00",
            "2026-01-02T03:04:05+15:00",
            "2026-01-02T03:04:05+14:30",
            "2026-01-02T03:04:05ZZ",
            "0000-01-02T03:04:05Z",
            "+2026-01-02T03:04:05Z",
            "２０２6-01-02T03:04:05Z",
        ] {
            assert_eq!(parse_xsd_datetime(s), None, "{s}");
        }
    }
}
