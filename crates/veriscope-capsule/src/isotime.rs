//! ISO-8601 timestamp parsing for `*_utc` fields, with the reference's error texts.
//!
//! contract_v1 §Hashing Rules "Timestamp wire policy": readers accept `Z`, `+00:00` (any
//! offset) and naive values, naive meaning UTC. The reference parses with Python's
//! `datetime.fromisoformat`; we accept `YYYY-MM-DD`, optionally followed by `T` or a space and
//! `HH:MM[:SS[.fraction]]`, then optionally `Z` or `±HH:MM`. Errors carry Python's texts
//! (`Invalid isoformat string: '<raw>'`, cli_contracts A6.3) because they appear in tokens.

use crate::pyrepr::repr_str;

/// A parsed instant: microseconds since the Unix epoch, UTC, plus whether the input
/// carried an explicit offset (naive inputs are treated as UTC but remembered as naive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UtcMicros {
    /// Microseconds since 1970-01-01T00:00:00Z (fractions beyond µs are truncated).
    pub micros: i64,
    /// True when the text had no `Z`/offset.
    pub naive: bool,
}

/// Parses `raw` (after trimming) or returns the reference's error message.
pub fn parse_iso_utc(raw: &str, field: &str) -> Result<UtcMicros, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(format!("{field} cannot be empty"));
    }
    parse(s.as_bytes()).ok_or_else(|| format!("Invalid isoformat string: {}", repr_str(raw)))
}

fn parse(b: &[u8]) -> Option<UtcMicros> {
    let (year, month, day) = date(b.get(0..10)?)?;
    let mut seconds = days_from_civil(year, month, day) * 86_400;
    let mut micros = 0i64;
    let mut rest = &b[10..];
    if let [sep, tail @ ..] = rest
        && (*sep == b'T' || *sep == b' ')
    {
        let (secs, frac, after) = time_of_day(tail)?;
        seconds += secs;
        micros = frac;
        rest = after;
    }
    let (offset, naive) = offset(rest)?;
    Some(UtcMicros {
        micros: (seconds - offset) * 1_000_000 + micros,
        naive,
    })
}

fn date(b: &[u8]) -> Option<(i64, i64, i64)> {
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    let ok = (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m) && y >= 1;
    ok.then_some((y, m, d))
}

/// `HH:MM[:SS[.frac]]` → (seconds of day, microseconds, remaining bytes).
fn time_of_day(b: &[u8]) -> Option<(i64, i64, &[u8])> {
    let (h, m) = (num(b.get(0..2)?)?, num(b.get(3..5)?)?);
    if b[2] != b':' || h > 23 || m > 59 {
        return None;
    }
    let mut secs = h * 3600 + m * 60;
    let mut rest = &b[5..];
    let mut micros = 0;
    if let [b':', s1, s2, tail @ ..] = rest {
        let s = num(&[*s1, *s2])?;
        if s > 59 {
            return None;
        }
        secs += s;
        rest = tail;
        if let [b'.' | b',', tail @ ..] = rest {
            let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            let mut digits: Vec<u8> = tail[..n.min(6)].to_vec();
            digits.resize(6, b'0');
            micros = num(&digits)?;
            rest = &tail[n..];
        }
    }
    Some((secs, micros, rest))
}

/// Trailing `Z`, `±HH:MM` or nothing → (offset seconds east, naive?).
fn offset(b: &[u8]) -> Option<(i64, bool)> {
    match b {
        [] => Some((0, true)),
        [b'Z' | b'z'] => Some((0, false)),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (num(&[*h1, *h2])?, num(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 3600 + m * 60;
            Some((if *sign == b'-' { -off } else { off }, false))
        }
        _ => None,
    }
}

fn num(b: &[u8]) -> Option<i64> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
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
    fn accepts_z_offset_naive_and_date_only() {
        let z = parse_iso_utc("2026-01-01T00:00:00Z", "ts_utc").unwrap();
        assert_eq!(z.micros, 1_767_225_600 * 1_000_000);
        assert!(!z.naive);
        assert_eq!(
            parse_iso_utc("2026-01-01T02:00:00+02:00", "ts_utc")
                .unwrap()
                .micros,
            z.micros
        );
        let naive = parse_iso_utc("2026-01-01 00:00:00", "ts_utc").unwrap();
        assert_eq!((naive.micros, naive.naive), (z.micros, true));
        assert_eq!(
            parse_iso_utc("2026-01-01", "ts_utc").unwrap().micros,
            z.micros
        );
        assert_eq!(
            parse_iso_utc("2026-01-01T00:00:00.5Z", "t").unwrap().micros,
            z.micros + 500_000
        );
    }

    #[test]
    fn rejects_with_python_messages() {
        assert_eq!(
            parse_iso_utc("x", "ts_utc").unwrap_err(),
            "Invalid isoformat string: 'x'"
        );
        assert_eq!(
            parse_iso_utc("  ", "ts_utc").unwrap_err(),
            "ts_utc cannot be empty"
        );
        assert!(parse_iso_utc("2026-02-30T00:00:00Z", "t").is_err());
        assert!(parse_iso_utc("2026-01-01T24:00:00Z", "t").is_err());
    }
}
