//! `*_utc` timestamps: lenient reading, one writing form.
//!
//! contract_v1 §Hashing Rules, "Timestamp wire policy": writers emit ISO-8601 UTC with a
//! trailing `Z` (seconds precision); readers accept `Z`, `+00:00` (any offset, converted to
//! UTC) and naive values, which are treated as UTC. We also accept a space separator and
//! date-only strings (midnight UTC), as the original's readers did (cli_contracts A4).
//! Delta from the original: naive and aware values compare fine here (A17.10 fixed).

use std::borrow::Cow;
use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
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
/// `T` or space separator, optional fraction, or a date alone (midnight).
pub fn parse_utc(s: &str) -> Result<Timestamp, TimestampError> {
    let text = s.trim();
    if text.is_empty() {
        return Err(TimestampError::Empty);
    }
    let invalid = || TimestampError::Invalid(s.to_string());
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(invalid());
    }
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    // A naive value: only accept text without any offset marker, so `...+05:00` never
    // silently loses its offset.
    if let Ok(dt) = text.parse::<DateTime>() {
        return dt
            .to_zoned(TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|_| invalid());
    }
    if let Ok(date) = text.parse::<Date>() {
        return date
            .to_zoned(TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|_| invalid());
    }
    Err(invalid())
}

/// Formats a timestamp the way writers must: `YYYY-MM-DDTHH:MM:SSZ`, fraction truncated.
pub fn format_utc(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A `*_utc` field: read leniently with [`parse_utc`], written with [`format_utc`].
///
/// Integer Unix seconds are also accepted on read (the original's pydantic did).
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
                .and_then(|secs| Timestamp::from_second(secs).ok())
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
