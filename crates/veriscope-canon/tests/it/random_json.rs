//! A small seeded generator of JSON *texts* for property tests: random structure, key
//! order, number spellings (`1e5`, `1.50`, `-0.0`, huge integers) and awkward strings.
//!
//! Written by hand rather than with proptest so the canon crate needs no dev-dependency;
//! the seed makes every failure reproducible.

/// xorshift64* generator: deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const SPECIAL_CHARS: &[&str] = &[
    "a",
    "Z",
    "0",
    " ",
    "\\\"",
    "\\\\",
    "/",
    "\\/",
    "\\n",
    "\\t",
    "\\r",
    "\\b",
    "\\f",
    "\\u0000",
    "\\u001f",
    "\\u007f",
    "\u{7f}",
    "\u{85}",
    "\u{2028}",
    "\u{2029}",
    "é",
    "☃",
    "😀",
    "\\ud83d\\ude00",
    "\\uE000",
    "\u{ffff}",
    "\u{10ffff}",
    "~",
    "{",
    "]",
    ",",
    ":",
];

/// A random JSON string literal (quotes included).
pub fn string_literal(rng: &mut Rng) -> String {
    let len = rng.below(6);
    let body: String = (0..len).map(|_| rng.pick(SPECIAL_CHARS)).collect();
    format!("\"{body}\"")
}

/// A random number token: integers of any size, floats in many spellings and magnitudes.
pub fn number_token(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => format!("{}", rng.next_u64() as i64),
        1 => format!("{}{}", rng.next_u64(), rng.next_u64()),
        2 => format!("{}", rng.below(100)),
        3 => {
            let bits = rng.next_u64();
            let x = f64::from_bits(bits);
            if x.is_finite() {
                format!("{x:e}")
            } else {
                "0.5".into()
            }
        }
        4 => format!(
            "{}.{}e{}",
            rng.below(10),
            rng.below(1_000_000),
            rng.below(700) as i64 - 350
        ),
        5 => format!("-{}.{:0>3}", rng.below(1000), rng.below(1000)),
        6 => rng
            .pick(&[
                "-0",
                "-0.0",
                "0.0",
                "1E2",
                "1e16",
                "1e+16",
                "1e-05",
                "5e-324",
                "1e-320",
                "1234567890123456.0",
            ])
            .to_string(),
        _ => format!("{}.0", rng.below(1 << 53)),
    }
}

/// A random JSON value text of bounded depth, with random whitespace and key order.
pub fn value_text(rng: &mut Rng, depth: u32) -> String {
    let choice = if depth == 0 {
        rng.below(5)
    } else {
        rng.below(7)
    };
    match choice {
        0 => rng.pick(&["null", "true", "false"]).to_string(),
        1 | 2 => number_token(rng),
        3 | 4 => string_literal(rng),
        5 => {
            let n = rng.below(4);
            let items: Vec<String> = (0..n).map(|_| value_text(rng, depth - 1)).collect();
            format!(
                "[{}]",
                items.join(if rng.below(2) == 0 { "," } else { " , " })
            )
        }
        _ => {
            let n = rng.below(4);
            let members: Vec<String> = (0..n)
                .map(|_| format!("{}: {}", string_literal(rng), value_text(rng, depth - 1)))
                .collect();
            format!("{{{}}}", members.join(", "))
        }
    }
}
