//! The `created_ts_utc` volatile-key rule.
//!
//! contract_v1 §Hashing Rules: `window_signature.created_ts_utc` is excluded from hashing
//! only when it is a valid ISO-8601 UTC timestamp string with trailing `Z`. The reference
//! uses CPython 3.11's `datetime.fromisoformat`, whose accepted set depends on the Python
//! version (cli_contracts A3, A17.13). We accept the RFC 3339 profile that every writer
//! emits, `YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]]Z`, with calendar-checked fields, after
//! trimming surrounding whitespace as the reference does. Date-only or basic-format
//! (`20260101T000000Z`) strings are rejected; that delta is documented in docs/contract.md.

/// Whether `raw` is an ISO-8601 UTC timestamp with a trailing `Z` (see module docs).
pub fn is_valid_utc_z_timestamp(raw: &str) -> bool {
    let s = raw.trim();
    let Some(body) = s.strip_suffix('Z') else {
        return false;
    };
    parse_body(body.as_bytes()).is_some()
}

fn parse_body(b: &[u8]) -> Option<()> {
    if b.len() < 16 {
        return None;
    }
    let year = digits(&b[0..4])?;
    expect(b[4], b'-')?;
    let month = digits(&b[5..7])?;
    expect(b[7], b'-')?;
    let day = digits(&b[8..10])?;
    if b[10] != b'T' && b[10] != b' ' {
        return None;
    }
    let hour = digits(&b[11..13])?;
    expect(b[13], b':')?;
    let minute = digits(&b[14..16])?;
    let rest = &b[16..];
    let second = match rest {
        [] => 0,
        [b':', s1, s2, frac @ ..] => {
            fraction(frac)?;
            digits(&[*s1, *s2])?
        }
        _ => return None,
    };
    let valid = (1..=9999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    valid.then_some(())
}

fn fraction(frac: &[u8]) -> Option<()> {
    match frac {
        [] => Some(()),
        [b'.', rest @ ..] if !rest.is_empty() && rest.iter().all(u8::is_ascii_digit) => Some(()),
        _ => None,
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    if !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
}

fn expect(got: u8, want: u8) -> Option<()> {
    (got == want).then_some(())
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::is_valid_utc_z_timestamp as ok;

    #[test]
    fn accepts_rfc3339_z_forms() {
        for s in [
            "2026-01-18T12:34:56Z",
            " 2026-01-18T12:34:56Z ",
            "2026-01-18T12:34Z",
            "2026-01-18 12:34:56.123456789Z",
            "2024-02-29T00:00:00Z",
        ] {
            assert!(ok(s), "{s}");
        }
    }

    #[test]
    fn rejects_everything_else() {
        for s in [
            "2026-01-18T12:34:56+00:00",
            "2026-01-18T12:34:56",
            "2026-01-01Z",
            "20260101T000000Z",
            "2026-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-01-18T24:00:00Z",
            "2026-01-18T12:34:56.Z",
            "",
            "Z",
        ] {
            assert!(!ok(s), "{s}");
        }
    }
}
