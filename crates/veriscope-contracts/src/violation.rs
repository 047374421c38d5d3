//! `ContractViolation`: one broken contract rule, with a stable code, a location and the
//! contract's message. The capsule validator turns these into findings.

use std::fmt::Write as _;

use crate::FindingCode;

/// One rule of the contract that an artifact breaks.
///
/// `pointer` is a JSON Pointer (RFC 6901) into the artifact, e.g. `/gates/0/iter`; it is
/// empty when the rule concerns the whole artifact. `message` is the contract's text
/// (cli_contracts A4), without any "Schema validation failed" framing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ContractViolation {
    /// Stable code of the broken rule.
    pub code: FindingCode,
    /// JSON Pointer to the offending value (empty for the artifact as a whole).
    pub pointer: String,
    /// The contract's message.
    pub message: String,
}

impl ContractViolation {
    /// A violation of `code` at `pointer`.
    pub fn new(code: FindingCode, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code,
            pointer: pointer.into(),
            message: message.into(),
        }
    }

    /// A structural schema violation (type, range, pattern, required key).
    pub fn schema(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(FindingCode::SchemaInvalid, pointer, message)
    }

    /// The same violation, located under `prefix` (a JSON Pointer such as `/gates/3`).
    pub fn under(mut self, prefix: &str) -> Self {
        self.pointer = format!("{prefix}{}", self.pointer);
        self
    }

    /// The location as the original printed it: a Python tuple such as `('gates', 0, 'iter')`,
    /// or an empty string for the artifact as a whole.
    pub fn python_loc(&self) -> String {
        let parts = pointer_segments(&self.pointer);
        if parts.is_empty() {
            return String::new();
        }
        let rendered: Vec<String> = parts
            .iter()
            .map(|p| match p.parse::<u64>() {
                Ok(index) if !p.starts_with('0') || p == "0" => index.to_string(),
                _ => python_str_repr(p),
            })
            .collect();
        if rendered.len() == 1 {
            format!("({},)", rendered[0])
        } else {
            format!("({})", rendered.join(", "))
        }
    }

    /// The one-line message `validate` prints for a schema failure (cli_contracts A4):
    /// `Schema validation failed: <msg> at <loc>`; model rules carry pydantic's
    /// `Value error, ` prefix, and the location is left out when empty.
    pub fn schema_failure_message(&self) -> String {
        let mut out = String::from("Schema validation failed: ");
        if self.code != FindingCode::SchemaInvalid {
            out.push_str("Value error, ");
        }
        out.push_str(&self.message);
        let loc = self.python_loc();
        if !loc.is_empty() {
            let _ = write!(out, " at {loc}");
        }
        out
    }
}

/// Joins a parent pointer and one key or index, escaping per RFC 6901.
pub fn pointer_join(parent: &str, segment: impl AsRef<str>) -> String {
    let escaped = segment.as_ref().replace('~', "~0").replace('/', "~1");
    format!("{parent}/{escaped}")
}

fn pointer_segments(pointer: &str) -> Vec<String> {
    if pointer.is_empty() {
        return Vec::new();
    }
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Python `repr()` of a `str`: single quotes unless the text holds `'` and no `"`.
pub fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_loc_matches_pydantic_tuples() {
        let v = ContractViolation::schema("/gates/0/iter", "Input should be a valid integer");
        assert_eq!(v.python_loc(), "('gates', 0, 'iter')");
        assert_eq!(
            v.schema_failure_message(),
            "Schema validation failed: Input should be a valid integer at ('gates', 0, 'iter')"
        );
        let single = ContractViolation::schema("/schema_version", "Input should be 1");
        assert_eq!(single.python_loc(), "('schema_version',)");
    }

    #[test]
    fn model_rules_get_value_error_prefix_and_no_empty_loc() {
        let v = ContractViolation::new(
            FindingCode::TimestampOrder,
            "",
            "ended_ts_utc cannot precede started_ts_utc",
        );
        assert_eq!(
            v.schema_failure_message(),
            "Schema validation failed: Value error, ended_ts_utc cannot precede started_ts_utc"
        );
    }

    #[test]
    fn pointer_join_escapes_and_under_prefixes() {
        assert_eq!(
            pointer_join("/per_metric_tv", "a/b~c"),
            "/per_metric_tv/a~1b~0c"
        );
        let v = ContractViolation::schema("/iter", "x").under("/gates/2");
        assert_eq!(v.pointer, "/gates/2/iter");
    }

    #[test]
    fn python_str_repr_quotes_like_python() {
        assert_eq!(python_str_repr("abc"), "'abc'");
        assert_eq!(python_str_repr("it's"), "\"it's\"");
        assert_eq!(python_str_repr("a\nb\\"), "'a\\nb\\\\'");
    }
}
