//! Python `repr(float)` text.
//!
//! CPython prints the shortest digit string that round-trips, in fixed notation when the
//! decimal exponent `e` (value = d.ddd × 10^e) satisfies −4 ≤ e < 16, otherwise in
//! scientific notation with a signed, at-least-two-digit exponent. Integral values in fixed
//! notation keep a `.0` (cli_contracts A3). Rust's `{:e}` already yields the shortest
//! round-trip digits; only the layout differs.

/// Python `repr(x)` for a finite `x` (`nan`/`inf` text for the others, never used in JSON).
pub fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("`{:e}` always prints an exponent");
    let exp: i32 = exp.parse().expect("`{:e}` exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let body = if (-4..16).contains(&exp) {
        fixed_layout(&digits, exp)
    } else {
        scientific_layout(&digits, exp)
    };
    format!("{sign}{body}")
}

fn fixed_layout(digits: &str, exp: i32) -> String {
    if exp < 0 {
        let zeros = "0".repeat((-exp - 1) as usize);
        return format!("0.{zeros}{digits}");
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        let pad = "0".repeat(int_len - digits.len());
        format!("{digits}{pad}.0")
    } else {
        format!("{}.{}", &digits[..int_len], &digits[int_len..])
    }
}

fn scientific_layout(digits: &str, exp: i32) -> String {
    let mantissa = if digits.len() == 1 {
        digits.to_owned()
    } else {
        format!("{}.{}", &digits[..1], &digits[1..])
    };
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
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
