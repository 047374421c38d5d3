//! Wall-clock access behind a trait, so tests can pin every timestamp the wrapper writes.

use jiff::Timestamp;

/// Source of the current UTC time.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The real system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that always answers the same instant (tests).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// ISO-8601 UTC with seconds precision and a trailing `Z`
/// (contract_v1 §Hashing Rules, "Timestamp wire policy").
pub fn utc_seconds(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Compact UTC stamp `YYYYmmdd_HHMMSS`, used in generated directory names.
pub fn compact_stamp(ts: Timestamp) -> String {
    ts.strftime("%Y%m%d_%H%M%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_seconds_with_z() {
        let ts: Timestamp = "2026-11-22T02:22:47.123456Z".parse().unwrap();
        assert_eq!(utc_seconds(ts), "2026-11-22T02:22:47Z");
        assert_eq!(compact_stamp(ts), "20261122_022247");
    }
}
