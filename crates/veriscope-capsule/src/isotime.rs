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
    veriscope_contracts::parse_iso_micros(s)
        .map(|(micros, naive)| UtcMicros { micros, naive })
        .ok_or_else(|| format!("Invalid isoformat string: {}", repr_str(raw)))
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
