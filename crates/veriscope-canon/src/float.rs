//! Python `repr(float)` text.
//!
//! CPython prints the shortest digit string that round-trips, in fixed notation when the
//! decimal exponent `e` (value = d.ddd × 10^e) satisfies −4 ≤ e < 16, otherwise in
//! scientific notation with a signed, at-least-two-digit exponent. Integral values in fixed
//! notation keep a `.0` (cli_contracts A3). Rust's `{:e}` already yields the shortest
//! round-trip digits; only the layout differs.

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
    let mut sci = StackText::default();
    // `{:e}` of an f64 is at most 24 bytes ("1.7976931348623157e308"); StackText has 32.
    let _ = write!(sci, "{:e}", x.abs());
    let sci = sci.as_str();
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("`{:e}` always prints an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` exponent is an integer");
    let (lead, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    // `lead` is one digit; the significant digits are lead + frac.
    if x.is_sign_negative() {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        fixed_layout(out, lead, frac, exp);
    } else {
        scientific_layout(out, lead, frac, exp);
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

/// A fixed-capacity text buffer on the stack for `{:e}` output.
#[derive(Default)]
struct StackText {
    buf: [u8; 32],
    len: usize,
}

impl StackText {
    fn as_str(&self) -> &str {
        // Only `write_str` fills the buffer, always with whole UTF-8 strings.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
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
}
