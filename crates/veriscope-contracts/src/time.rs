//! `*_utc` timestamps: lenient reading, one writing form.
//!
//! contract_v1 §Hashing Rules, "Timestamp wire policy": writers emit ISO-8601 UTC with a
//! trailing `Z` (seconds precision); readers accept `Z`, `+00:00` (any offset, converted to
//! UTC) and naive values, which are treated as UTC. We also accept a space separator and
//! date-only strings (midnight UTC), as the original's readers did (cli_contracts A4).
//! Delta from the original: naive and aware values compare fine here (A17.10 fixed).
//!
//! The grammar is exactly the one `veriscope validate` applies (the capsule crate's
//! `isotime`, the side verified against the original), so that every timestamp validate
//! accepts parses here and nothing more does; `crates/veriscope-capsule/tests/
//! contracts_agreement.rs` holds the two in step:
//!
//! `YYYY-MM-DD` then optionally (`T` | space) `HH:MM[:SS[(.|,)digits]]`, then optionally
//! `Z`/`z` or `±HH:MM`; surrounding whitespace is ignored; fractions are truncated to
//! microseconds (A4: "≥7 fractional digits (truncated to µs)").

use std::borrow::Cow;
use std::fmt;

use jiff::Timestamp;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a timestamp string was rejected. Messages follow Python's `fromisoformat`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// The string is empty or blank.
    #[error("ts_utc cannot be empty")]
    Empty,
    /// The string is not an ISO-8601 timestamp.
    #[error("Invalid isoformat string: {}", crate::violation::python_str_repr(.0))]
    Invalid(String),
}

/// Parses an ISO-8601 timestamp as UTC: `Z` or an offset (converted), naive (taken as UTC),
/// `T` or space separator, optional fraction (truncated to microseconds), or a date alone
/// (midnight). See the module documentation for the exact grammar.
///
/// Instants after `jiff::Timestamp::MAX` (9999-12-30T22:00Z) are refused: they cannot be
/// represented (validate accepts them; see the agreement test's documented exception).
pub fn parse_utc(s: &str) -> Result<Timestamp, TimestampError> {
    let text = s.trim();
    if text.is_empty() {
        return Err(TimestampError::Empty);
    }
    parse_iso_micros(text)
        .and_then(|(micros, _)| Timestamp::from_microsecond(micros).ok())
        .ok_or_else(|| TimestampError::Invalid(s.to_string()))
}

/// Microseconds since the Unix epoch of a trimmed ISO-8601 text, and whether it was naive
/// (no `Z`/offset; taken as UTC), or `None`. The one implementation of the timestamp grammar
/// validate accepts (cli_contracts A4): `veriscope-capsule` reads timestamps through it.
pub fn parse_iso_micros(text: &str) -> Option<(i64, bool)> {
    let b = text.as_bytes();
    let (year, month, day) = iso_date(b.get(0..10)?)?;
    let mut seconds = days_from_civil(year, month, day) * 86_400;
    let mut micros = 0i64;
    let mut rest = &b[10..];
    if let [sep, tail @ ..] = rest
        && (*sep == b'T' || *sep == b' ')
    {
        let (secs, frac, after) = iso_time(tail)?;
        seconds += secs;
        micros = frac;
        rest = after;
    }
    let naive = rest.is_empty();
    let offset = iso_offset(rest)?;
    Some(((seconds - offset) * 1_000_000 + micros, naive))
}

/// `YYYY-MM-DD` (year >= 1, a real calendar day).
fn iso_date(b: &[u8]) -> Option<(i64, i64, i64)> {
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, m, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let ok = y >= 1 && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m);
    ok.then_some((y, m, d))
}

/// `HH:MM[:SS[(.|,)digits]]` → (seconds of day, microseconds, remaining bytes).
fn iso_time(b: &[u8]) -> Option<(i64, i64, &[u8])> {
    let (h, m) = (digits(b.get(0..2)?)?, digits(b.get(3..5)?)?);
    if b[2] != b':' || h > 23 || m > 59 {
        return None;
    }
    let mut secs = h * 3600 + m * 60;
    let mut rest = &b[5..];
    let mut micros = 0;
    if let [b':', s1, s2, tail @ ..] = rest {
        let s = digits(&[*s1, *s2])?;
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
            let mut frac: Vec<u8> = tail[..n.min(6)].to_vec();
            frac.resize(6, b'0');
            micros = digits(&frac)?;
            rest = &tail[n..];
        }
    }
    Some((secs, micros, rest))
}

/// Nothing (naive, UTC), `Z`/`z`, or `±HH:MM` → offset in seconds east of UTC.
fn iso_offset(b: &[u8]) -> Option<i64> {
    match b {
        [] | [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let (h, m) = (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?);
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 3600 + m * 60;
            Some(if *sign == b'-' { -off } else { off })
        }
        _ => None,
    }
}

fn digits(b: &[u8]) -> Option<i64> {
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

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats a timestamp the way writers must: `YYYY-MM-DDTHH:MM:SSZ`, fraction truncated.
pub fn format_utc(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Integers up to this magnitude are Unix seconds, larger ones milliseconds (pydantic's
/// datetime rule, which the original applied to `*_utc` fields).
pub const UNIX_SECONDS_LIMIT: u64 = 20_000_000_000;

/// A `*_utc` field: read leniently with [`parse_utc`], written with [`format_utc`].
///
/// Integer Unix timestamps are also accepted on read, as the original's pydantic did:
/// seconds, or milliseconds above [`UNIX_SECONDS_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcTimestamp(pub Timestamp);

impl UtcTimestamp {
    /// Parses with [`parse_utc`].
    pub fn parse(s: &str) -> Result<Self, TimestampError> {
        parse_utc(s).map(UtcTimestamp)
    }

    /// The inner timestamp.
    pub fn timestamp(self) -> Timestamp {
        self.0
    }
}

impl From<Timestamp> for UtcTimestamp {
    fn from(ts: Timestamp) -> Self {
        UtcTimestamp(ts)
    }
}

impl fmt::Display for UtcTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_utc(self.0))
    }
}

impl Serialize for UtcTimestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_utc(self.0))
    }
}

impl<'de> Deserialize<'de> for UtcTimestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(serde_json::Number),
        }
        match Raw::deserialize(d).map_err(|_| {
            D::Error::custom("Input should be a valid datetime (an ISO-8601 string)")
        })? {
            Raw::Text(s) => UtcTimestamp::parse(&s).map_err(D::Error::custom),
            Raw::Number(n) => n
                .as_i64()
                .filter(|_| !n.to_string().contains(['.', 'e', 'E']))
                .and_then(|n| {
                    // pydantic: |n| <= 2e10 is seconds, larger magnitudes milliseconds.
                    if n.unsigned_abs() <= UNIX_SECONDS_LIMIT {
                        Timestamp::from_second(n).ok()
                    } else {
                        Timestamp::from_millisecond(n).ok()
                    }
                })
                .map(UtcTimestamp)
                .ok_or_else(|| D::Error::custom("Input should be a valid datetime")),
        }
    }
}

impl JsonSchema for UtcTimestamp {
    fn schema_name() -> Cow<'static, str> {
        "UtcTimestamp".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "ISO-8601 timestamp. Written as UTC `YYYY-MM-DDTHH:MM:SSZ`; `+00:00`, other offsets (converted) and naive values (taken as UTC) are accepted on read.",
            "type": "string",
            "format": "date-time"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> String {
        format_utc(parse_utc(s).unwrap())
    }

    #[test]
    fn accepts_z_offset_naive_space_fraction_and_date() {
        assert_eq!(utc("2026-01-18T12:34:56Z"), "2026-01-18T12:34:56Z");
        assert_eq!(utc("2026-01-18T12:34:56+00:00"), "2026-01-18T12:34:56Z");
        assert_eq!(utc("2026-01-18T14:34:56+02:00"), "2026-01-18T12:34:56Z");
        assert_eq!(utc("2026-01-18T12:34:56"), "2026-01-18T12:34:56Z");
        assert_eq!(utc("2026-01-18 12:34:56"), "2026-01-18T12:34:56Z");
        assert_eq!(utc("2026-01-18T12:34:56.999999Z"), "2026-01-18T12:34:56Z");
        assert_eq!(utc("  2026-01-18T12:34:56Z "), "2026-01-18T12:34:56Z");
        assert_eq!(utc("2026-01-18"), "2026-01-18T00:00:00Z");
    }

    #[test]
    fn grammar_is_exactly_the_one_validate_applies() {
        // Accepted by validate (capsule isotime), so accepted here.
        assert_eq!(utc("2026-01-18Z"), "2026-01-18T00:00:00Z");
        assert_eq!(utc("2026-01-18T12:34z"), "2026-01-18T12:34:00Z");
        assert_eq!(utc("2026-01-18T12:34:56,5Z"), "2026-01-18T12:34:56Z");
        assert_eq!(utc("0001-01-01T00:00:00+23:59"), "0000-12-31T00:01:00Z");
        // Fractions are truncated to microseconds (A4), whatever their length.
        let a = parse_utc("2026-01-18T12:34:56.1234569999Z").unwrap();
        let b = parse_utc("2026-01-18T12:34:56.123456Z").unwrap();
        assert_eq!(a, b);
        // Refused by validate, so refused here.
        for bad in [
            "2026-01-18T12:34:60Z",
            "2026-01-18T12:34:56+0200",
            "2026-01-18T12:34:56+02",
            "2026-01-18T12:34:56+24:00",
            "2026-01-18T12Z",
            "2026-01-18t12:34:56Z",
            "2026-01-18T12:34:56Z[UTC]",
            "20260118T123456Z",
            "+002026-01-18T12:34:56Z",
            "0000-01-01",
        ] {
            assert!(parse_utc(bad).is_err(), "{bad} accepted");
        }
        // Beyond jiff's range: not representable.
        assert!(parse_utc("9999-12-31T00:00:00Z").is_err());
    }

    #[test]
    fn rejects_garbage_with_python_message() {
        assert_eq!(parse_utc("   "), Err(TimestampError::Empty));
        assert_eq!(
            parse_utc("x").unwrap_err().to_string(),
            "Invalid isoformat string: 'x'"
        );
        assert!(parse_utc("2026-13-01T00:00:00Z").is_err());
        assert!(parse_utc("yesterday").is_err());
    }

    #[test]
    fn serde_round_trip_writes_seconds_z() {
        let t: UtcTimestamp = serde_json::from_str("\"2026-01-18T12:34:56.5+00:00\"").unwrap();
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2026-01-18T12:34:56Z\""
        );
        let unix: UtcTimestamp = serde_json::from_str("0").unwrap();
        assert_eq!(unix.to_string(), "1970-01-01T00:00:00Z");
        assert!(serde_json::from_str::<UtcTimestamp>("1.5").is_err());
        assert!(serde_json::from_str::<UtcTimestamp>("true").is_err());
    }
}
