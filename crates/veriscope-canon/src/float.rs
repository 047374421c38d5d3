//! Python `repr(float)` text.
//!
//! CPython prints the shortest digit string that round-trips, in fixed notation when the
//! decimal exponent `e` (value = d.ddd × 10^e) satisfies −4 ≤ e < 16, otherwise in
//! scientific notation with a signed, at-least-two-digit exponent. Integral values in fixed
//! notation keep a `.0` (cli_contracts A3). The shortest round-trip digits come from `zmij`
//! (Schubfach, several times faster than `core::fmt`'s `{:e}`; the wrapper renders every
//! recorded sample and verification renders every journal entry); only the layout is ours.
//! The tests compare it with CPython's `repr` (vectors, and 2e5 values against a live python3).

use std::fmt::Write;

/// Python `repr(x)` for a finite `x` (`nan`/`inf` text for the others, never used in JSON).
pub fn python_float_repr(x: f64) -> String {
    let mut out = String::with_capacity(24);
    write_python_float_repr(&mut out, x);
    out
}

/// Appends Python `repr(x)` to `out` without intermediate allocations (the canonical
/// renderer calls this once per float token; journal verification renders every entry).
pub fn write_python_float_repr(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("nan");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
        return;
    }
    let mut text = zmij::Buffer::new();
    let shortest = text.format_finite(x);
    // zmij writes fixed notation for decimal exponents -5..=15 and CPython for -4..=15, with
    // the same digits and the same ".0" on integral values; so outside exponent -5 ("0.0000…")
    // its fixed text already is the repr (tests/it/python_compare.rs checks 2e5 values
    // against CPython on every run).
    if !shortest.contains('e') && !shortest.trim_start_matches('-').starts_with("0.0000") {
        out.push_str(shortest);
        return;
    }
    let digits = ShortestDigits::of(shortest.trim_start_matches('-'));
    let (lead, frac) = digits.as_str().split_at(1);
    if x.is_sign_negative() {
        out.push('-');
    }
    if (-4..16).contains(&digits.exp) {
        fixed_layout(out, lead, frac, digits.exp);
    } else {
        scientific_layout(out, lead, frac, digits.exp);
    }
}

/// The significant digits of a shortest round-trip text, without leading or trailing zeros
/// ("0" for zero), and the decimal exponent of the first one: value = d.ddd × 10^exp.
struct ShortestDigits {
    /// At most 17 significant digits for an f64.
    buf: [u8; 24],
    len: usize,
    exp: i32,
}

impl ShortestDigits {
    /// Reads `zmij`'s text of a finite, non-negative value, whichever notation it chose
    /// ("123.456", "0.001", "1e-7", "1.5e300", "100.0").
    fn of(text: &str) -> Self {
        let (mantissa, exp10) = match text.split_once(['e', 'E']) {
            Some((m, e)) => (
                m,
                e.parse::<i32>().expect("zmij prints an integer exponent"),
            ),
            None => (text, 0),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let mut digits = Self {
            buf: [0; 24],
            len: 0,
            exp: 0,
        };
        let mut leading_zeros = 0usize;
        for &b in int_part.as_bytes().iter().chain(frac_part.as_bytes()) {
            if digits.len == 0 && b == b'0' {
                leading_zeros += 1;
            } else {
                digits.buf[digits.len] = b;
                digits.len += 1;
            }
        }
        while digits.len > 1 && digits.buf[digits.len - 1] == b'0' {
            digits.len -= 1;
        }
        if digits.len == 0 {
            digits.buf[0] = b'0';
            digits.len = 1;
            return digits;
        }
        digits.exp = int_part.len() as i32 - 1 - leading_zeros as i32 + exp10;
        digits
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("0")
    }
}

fn fixed_layout(out: &mut String, lead: &str, frac: &str, exp: i32) {
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(lead);
        out.push_str(frac);
        return;
    }
    let int_from_frac = exp as usize;
    out.push_str(lead);
    if frac.len() <= int_from_frac {
        out.push_str(frac);
        for _ in frac.len()..int_from_frac {
            out.push('0');
        }
        out.push_str(".0");
    } else {
        out.push_str(&frac[..int_from_frac]);
        out.push('.');
        out.push_str(&frac[int_from_frac..]);
    }
}

fn scientific_layout(out: &mut String, lead: &str, frac: &str, exp: i32) {
    out.push_str(lead);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let _ = write!(out, "{:02}", exp.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::python_float_repr as r;

    #[test]
    fn matches_cpython_repr() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (100.0, "100.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1234567890123456.0, "1234567890123456.0"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (2.5e-7, "2.5e-07"),
            (5e-324, "5e-324"),
            (1e-320, "1e-320"),
            (std::f64::consts::PI, "3.141592653589793"),
            (0.1, "0.1"),
            (-1.5e300, "-1.5e+300"),
            (123.456, "123.456"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ];
        for (x, want) in cases {
            assert_eq!(r(*x), *want, "repr({x:e})");
        }
    }

    /// Where several shortest digit strings round-trip, CPython takes the one nearest the
    /// value and, at an exact tie, the even one; `core::fmt`'s `{:e}` rounded some ties up
    /// (2.06e4 of 3e5 values of the form n + 0.25 / n + 0.75 in [1e15, 1e16) differed).
    /// fixtures/canon/vectors.jsonl carries 120 such cases from CPython as well.
    #[test]
    fn halfway_digits_round_to_even_as_cpython_does() {
        assert_eq!(r(1597042454902369.0 + 0.25), "1597042454902369.2");
        assert_eq!(r(-(1543416894114346.0 + 0.25)), "-1543416894114346.2");
        assert_eq!(r(1000000000000000.0 + 0.75), "1000000000000000.8");
        assert_eq!(r(1000000000000000.0 + 0.25), "1000000000000000.2");
    }
}
