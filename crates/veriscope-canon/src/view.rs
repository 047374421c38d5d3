//! A borrowed view of text that is already canonical JSON.
//!
//! [`parse_canonical`] reads JSON text in one pass and returns a view only when the text is
//! byte for byte what [`crate::to_canonical_string`] renders for the value it parses to
//! (with `serde_json` + `arbitrary_precision`):
//! - no whitespace anywhere, `,` and `:` separators;
//! - object keys in strictly increasing UTF-8 byte order (so no duplicates), written
//!   without escapes (a key with an escape is refused: its order would need decoding);
//! - strings: everything raw (U+2028, DEL, non-BMP characters included) except `"` and `\`
//!   (written `\"`, `\\`), and controls below U+0020, written `\n`, `\r`, `\t`, `\b`, `\f`
//!   or `\u00xx` (lowercase hex); any other escape (`\/`, `\u00e9`, surrogates) is refused;
//! - integers: `0` or `-?[1-9][0-9]*` of any length (`-0` renders `0`, so it is refused);
//! - floats: finite, and the token equals Python's `repr` of its value (`1e-05`, `1e+16`,
//!   `-0.0`, `100.0`; `1E2`, `1e400`, `0.10` are refused);
//! - nesting at most [`MAX_DEPTH`] deep (well under serde_json's recursion limit).
//!
//! `None` means "not provably canonical", never "invalid JSON": callers fall back to the
//! `Value` path, which owns every error message. The governance reader uses this to verify
//! journal lines without building a `serde_json::Value` per line (docs/governance.md).

use std::borrow::Cow;
use std::ops::Range;

use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

use crate::float::write_python_float_repr;

/// Deepest nesting of arrays and objects accepted (serde_json refuses beyond 128).
pub const MAX_DEPTH: usize = 64;

/// A JSON value inside canonical text, borrowing from it.
#[derive(Debug, Clone, PartialEq)]
pub enum CanonValue<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer token (`0` or `-?[1-9][0-9]*`), any length.
    Int(&'a str),
    /// A float token and its (finite) value; the token is Python's `repr` of the value.
    Float(&'a str, f64),
    /// A string.
    Str(CanonStr<'a>),
    /// An array.
    Array(Vec<CanonValue<'a>>),
    /// An object.
    Object(CanonObject<'a>),
}

impl<'a> CanonValue<'a> {
    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&CanonObject<'a>> {
        match self {
            CanonValue::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&CanonStr<'a>> {
        match self {
            CanonValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, CanonValue::Null)
    }

    /// The `serde_json::Value` that parsing the text gives (same number tokens, same
    /// strings), built without re-reading the text.
    pub fn to_value(&self) -> Value {
        match self {
            CanonValue::Null => Value::Null,
            CanonValue::Bool(b) => Value::Bool(*b),
            // serde_json keeps a canonical token as written (its exponent spelling `e-05`,
            // `e+16` is already serde_json's normalized one), so this is the parsed Number.
            CanonValue::Int(t) | CanonValue::Float(t, _) => {
                t.parse::<Number>().map_or(Value::Null, Value::Number)
            }
            CanonValue::Str(s) => Value::String(s.decoded().into_owned()),
            CanonValue::Array(items) => Value::Array(items.iter().map(Self::to_value).collect()),
            CanonValue::Object(o) => Value::Object(o.to_map()),
        }
    }

    /// Appends this value's canonical text to `out`: what [`crate::write_canonical`] writes
    /// for [`CanonValue::to_value`], without building the `Value`. The parser admitted only
    /// canonical spellings, so every token, string body and object slice is already that
    /// text.
    pub fn write_canonical(&self, out: &mut String) {
        match self {
            CanonValue::Null => out.push_str("null"),
            CanonValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            CanonValue::Int(t) | CanonValue::Float(t, _) => out.push_str(t),
            CanonValue::Str(s) => {
                out.push('"');
                out.push_str(s.raw);
                out.push('"');
            }
            CanonValue::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_canonical(out);
                }
                out.push(']');
            }
            CanonValue::Object(o) => out.push_str(o.text()),
        }
    }
}

/// A string as written between its quotes, with only canonical escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanonStr<'a> {
    raw: &'a str,
    escaped: bool,
}

impl<'a> CanonStr<'a> {
    /// The text when it was written without escapes (the decoded string is the raw text).
    pub fn plain(&self) -> Option<&'a str> {
        (!self.escaped).then_some(self.raw)
    }

    /// The decoded string.
    pub fn decoded(&self) -> Cow<'a, str> {
        if !self.escaped {
            return Cow::Borrowed(self.raw);
        }
        let mut out = String::with_capacity(self.raw.len());
        let mut rest = self.raw;
        while let Some(pos) = rest.find('\\') {
            out.push_str(&rest[..pos]);
            let esc = &rest[pos + 1..];
            let (ch, used) = match esc.as_bytes().first() {
                Some(b'n') => ('\n', 1),
                Some(b'r') => ('\r', 1),
                Some(b't') => ('\t', 1),
                Some(b'b') => ('\u{08}', 1),
                Some(b'f') => ('\u{0c}', 1),
                Some(b'u') => {
                    // The parser admitted only `\u00xx` with xx < 0x20.
                    let code = u32::from_str_radix(&esc[1..5], 16).unwrap_or(0);
                    (char::from_u32(code).unwrap_or('\0'), 5)
                }
                // `\"` and `\\`.
                Some(&b) => (char::from(b), 1),
                None => break,
            };
            out.push(ch);
            rest = &esc[used..];
        }
        out.push_str(rest);
        Cow::Owned(out)
    }

    /// Whether the decoded string is empty (an escape always decodes to a character).
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

/// An object: its members in key order, with their place in the source text.
#[derive(Debug, Clone, PartialEq)]
pub struct CanonObject<'a> {
    src: &'a str,
    span: Range<usize>,
    members: Vec<Member<'a>>,
}

#[derive(Debug, Clone, PartialEq)]
struct Member<'a> {
    key: &'a str,
    value: CanonValue<'a>,
    /// Byte range of `"key":value` in `src`.
    span: Range<usize>,
}

impl<'a> CanonObject<'a> {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&CanonValue<'a>> {
        // Journal objects have a handful of short keys: a scan comparing lengths and then
        // bytes inline is cheaper than a binary search calling `memcmp` at every step
        // (measured).
        self.members
            .iter()
            .find(|m| same_key(m.key, key))
            .map(|m| &m.value)
    }

    /// Whether `key` is present (even with a `null` value).
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Members in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &CanonValue<'a>)> + '_ {
        self.members.iter().map(|m| (m.key, &m.value))
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the object has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The `serde_json` map that parsing the object's text gives.
    pub fn to_map(&self) -> Map<String, Value> {
        // Inserted one by one: `collect` would sort the (already sorted) entries first.
        let mut map = Map::new();
        for m in &self.members {
            map.insert(m.key.to_owned(), m.value.to_value());
        }
        map
    }

    /// The object's canonical text (a slice of the parsed text).
    pub fn text(&self) -> &'a str {
        &self.src[self.span.clone()]
    }

    /// Lowercase hex SHA-256 of the canonical text of this object with the members named in
    /// `drop` removed, without copying: the text is hashed in up to `drop.len() + 1` pieces
    /// with the separating commas put back. Equals [`crate::sha256_hex_object`] of the
    /// parsed map minus those keys, because the remaining members keep their canonical text
    /// and order.
    pub fn sha256_hex_without(&self, drop: &[&str]) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"{");
        let mut wrote_any = false;
        // A run of kept, adjacent members is one contiguous slice (commas included).
        let mut run: Option<Range<usize>> = None;
        let mut flush = |run: &mut Option<Range<usize>>, hasher: &mut Sha256| {
            if let Some(r) = run.take() {
                if wrote_any {
                    hasher.update(b",");
                }
                hasher.update(&self.src.as_bytes()[r]);
                wrote_any = true;
            }
        };
        for m in &self.members {
            if drop.contains(&m.key) {
                flush(&mut run, &mut hasher);
            } else {
                match &mut run {
                    Some(r) => r.end = m.span.end,
                    None => run = Some(m.span.clone()),
                }
            }
        }
        flush(&mut run, &mut hasher);
        hasher.update(b"}");
        crate::hex_lower(&hasher.finalize())
    }
}

/// The view of `text` when it is exactly canonical JSON (see the module docs), else `None`.
pub fn parse_canonical(text: &str) -> Option<CanonValue<'_>> {
    let mut p = Parser {
        src: text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
        scratch: String::new(),
    };
    let v = p.value()?;
    (p.pos == p.bytes.len()).then_some(v)
}

/// [`parse_canonical`] for text that must be one object.
pub fn parse_canonical_object(text: &str) -> Option<CanonObject<'_>> {
    match parse_canonical(text)? {
        CanonValue::Object(o) => Some(o),
        _ => None,
    }
}

struct Parser<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    /// Reused buffer for float `repr` comparisons.
    scratch: String,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.bytes.get(self.pos..self.pos + word.len())? == word {
            self.pos += word.len();
            Some(())
        } else {
            None
        }
    }

    fn value(&mut self) -> Option<CanonValue<'a>> {
        match self.peek()? {
            b'{' => self.object().map(CanonValue::Object),
            b'[' => self.array().map(CanonValue::Array),
            b'"' => self.string().map(CanonValue::Str),
            b'n' => self.literal(b"null").map(|()| CanonValue::Null),
            b't' => self.literal(b"true").map(|()| CanonValue::Bool(true)),
            b'f' => self.literal(b"false").map(|()| CanonValue::Bool(false)),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    fn object(&mut self) -> Option<CanonObject<'a>> {
        self.enter()?;
        let start = self.pos;
        self.pos += 1;
        // Journal objects have up to eight members: one allocation, no regrowth.
        let mut members: Vec<Member<'a>> = Vec::with_capacity(8);
        if self.eat(b'}').is_none() {
            loop {
                let m_start = self.pos;
                let key = self.string()?.plain()?;
                if members
                    .last()
                    .is_some_and(|prev| !key_before(prev.key, key))
                {
                    return None;
                }
                self.eat(b':')?;
                let value = self.value()?;
                members.push(Member {
                    key,
                    value,
                    span: m_start..self.pos,
                });
                match self.peek()? {
                    b',' => self.pos += 1,
                    b'}' => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(CanonObject {
            src: self.src,
            span: start..self.pos,
            members,
        })
    }

    fn array(&mut self) -> Option<Vec<CanonValue<'a>>> {
        self.enter()?;
        self.pos += 1;
        let mut items = Vec::new();
        if self.eat(b']').is_none() {
            loop {
                items.push(self.value()?);
                match self.peek()? {
                    b',' => self.pos += 1,
                    b']' => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(items)
    }

    /// A string at `"`; only the escapes canonical text uses.
    fn string(&mut self) -> Option<CanonStr<'a>> {
        self.eat(b'"')?;
        let start = self.pos;
        let mut escaped = false;
        loop {
            let rest = &self.bytes[self.pos..];
            let at = string_stop(rest)?;
            self.pos += at;
            match rest[at] {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.pos += 1 + canonical_escape_len(&self.bytes[self.pos + 1..])?;
                }
                // A raw control character: not JSON, let the full parser say so.
                _ => return None,
            }
        }
        let raw = &self.src[start..self.pos];
        self.pos += 1;
        Some(CanonStr { raw, escaped })
    }

    /// A number token in JSON grammar, kept only in its canonical spelling.
    fn number(&mut self) -> Option<CanonValue<'a>> {
        let start = self.pos;
        self.eat(b'-');
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        let mut is_float = false;
        if self.eat(b'.').is_some() {
            is_float = true;
            self.at_least_one_digit()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            is_float = true;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.at_least_one_digit()?;
        }
        let token = &self.src[start..self.pos];
        if !is_float {
            // Python prints the int 0 for `-0`.
            return (token != "-0").then_some(CanonValue::Int(token));
        }
        let x: f64 = token.parse().ok()?;
        if !x.is_finite() {
            return None;
        }
        if is_short_fixed_repr(token) {
            return Some(CanonValue::Float(token, x));
        }
        self.scratch.clear();
        write_python_float_repr(&mut self.scratch, x);
        (self.scratch == token).then_some(CanonValue::Float(token, x))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    fn at_least_one_digit(&mut self) -> Option<()> {
        let before = self.pos;
        self.digits();
        (self.pos > before).then_some(())
    }
}

/// `a == b`, inline: most keys differ in length or in their first byte.
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// Index of the first `"`, `\` or control character (< 0x20) in `b`: where a run of
/// characters written raw in a JSON string ends.
///
/// Eight bytes at a time (journal lines are mostly string bytes: hashes, names): a word
/// holds a stop byte when one of the classic "has a zero byte" / "has a byte below n" bit
/// tests fires. Those tests have no false negatives; a false positive only means the
/// byte-wise scan below starts from that word.
fn string_stop(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH;
    let mut start = 0;
    for word in b.chunks_exact(8) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let w = u64::from_le_bytes(bytes);
        let stop = below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1)
            | below(w, 0x20);
        if stop != 0 {
            break;
        }
        start += 8;
    }
    b[start..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|p| start + p)
}

/// Whether `a` sorts strictly before `b` by UTF-8 bytes (code points, Python's `str`
/// order). Written out because keys usually differ in their first bytes, where a `memcmp`
/// call costs more than the comparison.
fn key_before(a: &str, b: &str) -> bool {
    for (x, y) in a.bytes().zip(b.bytes()) {
        if x != y {
            return x < y;
        }
    }
    a.len() < b.len()
}

/// A sufficient condition, checked without formatting, for a float token to be Python's
/// `repr` of its value: fixed notation `-?I.F` with at most 15 significant digits, the
/// first of them at decimal exponent -4..15, no superfluous zero.
///
/// Why it suffices: every decimal of at most 15 significant digits survives a round trip
/// through f64 (DBL_DIG = 15), so no other string of at most 15 digits names the same f64;
/// hence the shortest round-trip digits of the value (what `repr` prints) are exactly the
/// token's significant digits, and `repr`'s fixed layout for exponents -4..15 writes them
/// back as `I.F` (`0.000ddd`, `ddd.ddd`, `ddd.0`). Tokens failing the test are compared
/// with `repr` the slow way.
fn is_short_fixed_repr(token: &str) -> bool {
    let body = token.strip_prefix('-').unwrap_or(token);
    let Some((int, frac)) = body.split_once('.') else {
        return false;
    };
    if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    if frac == "0" {
        // `0.0`, or an integral value: its digits all sit left of the point. The JSON
        // grammar already refused leading zeros in `int`.
        return int == "0" || (int.len() <= 16 && int.trim_end_matches('0').len() <= 15);
    }
    if frac.ends_with('0') {
        return false;
    }
    if int == "0" {
        let leading_zeros = frac.bytes().take_while(|&b| b == b'0').count();
        leading_zeros <= 3 && frac.len() - leading_zeros <= 15
    } else {
        int.len() + frac.len() <= 15
    }
}

/// Length of a canonical escape body after its `\` (`n`, `u001f`, ...), or `None`.
fn canonical_escape_len(b: &[u8]) -> Option<usize> {
    match b.first()? {
        b'"' | b'\\' | b'n' | b'r' | b't' | b'b' | b'f' => Some(1),
        b'u' => {
            let hex = b.get(1..5)?;
            let lower_hex = |c: &u8| c.is_ascii_digit() || (b'a'..=b'f').contains(c);
            if hex[0] != b'0' || hex[1] != b'0' || !hex[2..].iter().all(lower_hex) {
                return None;
            }
            let code = u8::from_str_radix(std::str::from_utf8(&hex[2..]).ok()?, 16).ok()?;
            // Controls with a short form are written short.
            let short = matches!(code, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d);
            (code < 0x20 && !short).then_some(5)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{sha256_hex_object, to_canonical_string};
    use serde_json::Value;

    fn accepted(text: &str) -> bool {
        parse_canonical(text).is_some()
    }

    #[test]
    fn accepts_exactly_the_canonical_spellings() {
        for text in [
            r#"{"a":[true,null],"b":1}"#,
            r#"{}"#,
            r#"[]"#,
            r#"{"a":{"b":{}},"c":[[],[1,2.5]]}"#,
            "[1e-05,1e+16,-0.0,0.0,100.0,1.5e-07,123456789012345678901234567890,-7]",
            "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}\u{2028}\u{2029}\u{85}é😀/\"",
            r#"{"":0,"a":"","é":1,"😀":2}"#,
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            assert_eq!(
                to_canonical_string(&v).unwrap(),
                text,
                "fixture is canonical"
            );
            assert!(accepted(text), "{text}");
        }
    }

    #[test]
    fn refuses_every_other_spelling() {
        for text in [
            r#"{"b":1,"a":2}"#,     // key order
            r#"{"a":1,"a":2}"#,     // duplicate key
            r#"{"a": 1}"#,          // whitespace
            r#" {"a":1}"#,          // leading whitespace
            "{\"a\":1}\n",          // trailing newline
            r#"{"a":1}x"#,          // trailing data
            "[1E2]",                // uppercase exponent
            "[1e5]",                // repr is 100000.0
            "[1e16]",               // repr is 1e+16
            "[0.00001]",            // repr is 1e-05
            "[1.50]",               // trailing zero
            "[-0]",                 // renders 0
            "[01]",                 // not JSON
            "[1.]",                 // not JSON
            "[1e400]",              // overflows: non-finite
            "[NaN]",                // not JSON
            "[\"\\/\"]",            // needless escape
            "[\"\\u00e9\"]",        // escaped non-control
            "[\"\\u000a\"]",        // control with a short form
            "[\"\\u001F\"]",        // uppercase hex
            "[\"\\ud83d\\ude00\"]", // surrogate escapes
            "[\"a\u{1}\"]",         // raw control
            r#"{"a\"":1}"#,         // escaped key
            "[true,]",              // trailing comma
            "[nul]",                // truncated literal
        ] {
            assert!(!accepted(text), "{text}");
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(!accepted(&deep));
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(accepted(&ok));
    }

    #[test]
    fn string_stop_finds_the_first_stop_byte() {
        let stops = [b'"', b'\\', 0x00, 0x1f, b'\n'];
        let fill = [b'!', b'#', b'[', b']', 0x20, 0xe2, 0x7f, 0x80, 0xff];
        for len in 0..40 {
            for at in 0..=len {
                for &stop in &stops {
                    // Bytes just around the stop values, and non-ASCII, everywhere else.
                    let mut b: Vec<u8> = (0..len).map(|i| fill[(i + at) % fill.len()]).collect();
                    if at < len {
                        b[at] = stop;
                    }
                    let want = b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
                    assert_eq!(string_stop(&b), want, "{b:?}");
                }
            }
        }
    }

    #[test]
    fn short_fixed_test_implies_python_repr() {
        // Every fixed-notation token of up to 18 digits around the boundaries (exponents
        // -6..18, 14-17 significant digits, zeros inside and at the ends).
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut hits = 0;
        for _ in 0..400_000 {
            let n_int = (next() % 19) as usize;
            let n_frac = 1 + (next() % 18) as usize;
            let digit = |r: u64| char::from(b'0' + (r % 10) as u8);
            let mut int: String = (0..n_int).map(|_| digit(next())).collect();
            let mut frac: String = (0..n_frac)
                .map(|_| if next() % 3 == 0 { '0' } else { digit(next()) })
                .collect();
            if int.is_empty() || int.starts_with('0') {
                int = "0".to_owned();
            }
            if next() % 5 == 0 {
                frac = "0".to_owned();
            }
            let sign = if next() % 2 == 0 { "-" } else { "" };
            let token = format!("{sign}{int}.{frac}");
            if is_short_fixed_repr(&token) {
                hits += 1;
                let x: f64 = token.parse().unwrap();
                assert_eq!(crate::python_float_repr(x), token);
            }
        }
        assert!(hits > 50_000, "{hits}");
        for t in [
            "0.08",
            "0.0",
            "-0.0",
            "0.0001",
            "100.0",
            "1000000000000000.0",
            "0.1",
        ] {
            assert!(is_short_fixed_repr(t), "{t}");
        }
        for t in [
            "0.00001",
            "1e-05",
            "0.10",
            "10000000000000000.0",
            "0.1234567890123456",
        ] {
            assert!(!is_short_fixed_repr(t), "{t}");
        }
    }

    #[test]
    fn typed_access_and_decoding() {
        let text = r#"{"a":"x\"y\u0001\n","b":-12,"c":0.25,"d":{"e":null}}"#;
        let o = parse_canonical_object(text).unwrap();
        assert_eq!(
            o.get("a").unwrap().as_str().unwrap().decoded(),
            "x\"y\u{1}\n"
        );
        assert_eq!(o.get("a").unwrap().as_str().unwrap().plain(), None);
        assert_eq!(o.get("b"), Some(&CanonValue::Int("-12")));
        assert_eq!(o.get("c"), Some(&CanonValue::Float("0.25", 0.25)));
        assert!(
            o.get("d")
                .unwrap()
                .as_object()
                .unwrap()
                .get("e")
                .unwrap()
                .is_null()
        );
        assert_eq!(o.get("zz"), None);
        assert_eq!(o.len(), 4);
        assert_eq!(
            o.get("d").unwrap().as_object().unwrap().text(),
            r#"{"e":null}"#
        );
    }

    #[test]
    fn write_canonical_is_the_canonical_text_of_the_value() {
        for text in [
            r#"{"a":[true,null,{"b":"x\"y\u0001\n"}],"c":-12,"d":1e-05,"e":{},"f":[]}"#,
            "[1e+16,-0.0,100.0,123456789012345678901234567890,\"\u{2028}é\"]",
            r#""plain""#,
            "false",
        ] {
            let v = parse_canonical(text).expect("canonical fixture");
            let mut out = String::from("prefix:");
            v.write_canonical(&mut out);
            assert_eq!(out, format!("prefix:{text}"));
            assert_eq!(to_canonical_string(&v.to_value()).unwrap(), text);
        }
    }

    #[test]
    fn hash_without_members_matches_hash_of_the_reduced_map() {
        let text = r#"{"a":1,"entry_hash":"h","line_no":3,"m":[1],"z":{"entry_hash":2}}"#;
        let o = parse_canonical_object(text).unwrap();
        let v: Value = serde_json::from_str(text).unwrap();
        for drop in [
            &[][..],
            &["a"][..],
            &["z"][..],
            &["entry_hash"][..],
            &["entry_hash", "line_no"][..],
            &["a", "entry_hash", "line_no", "m", "z"][..],
            &["a", "line_no", "z"][..],
        ] {
            let mut map = v.as_object().unwrap().clone();
            for k in drop {
                map.remove(*k);
            }
            assert_eq!(
                o.sha256_hex_without(drop),
                sha256_hex_object(&map).unwrap(),
                "{drop:?}"
            );
        }
    }
}
