//! Reading capsule files with clear errors: missing, unreadable, too large, not UTF-8,
//! truncated or malformed JSON each get a message naming the file (cli_contracts A5 step 2).
//!
//! Messages reuse Python's texts where the reference prints them (`'utf-8' codec can't
//! decode byte 0xff in position 0: invalid start byte`, `Expecting value`), so users
//! comparing tools see the same words.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Artifacts larger than this are refused rather than read into memory (1 GiB: a
/// 100,000-gate results.json is ~60 MB).
pub const MAX_ARTIFACT_BYTES: u64 = 1 << 30;

/// window_signature.json
pub const WINDOW_SIGNATURE: &str = "window_signature.json";
/// results.json
pub const RESULTS: &str = "results.json";
/// results_summary.json
pub const RESULTS_SUMMARY: &str = "results_summary.json";
/// run_config_resolved.json
pub const RUN_CONFIG: &str = "run_config_resolved.json";
/// manual_judgement.json
pub const MANUAL_JUDGEMENT: &str = "manual_judgement.json";
/// manual_judgement.jsonl
pub const MANUAL_JUDGEMENT_LOG: &str = "manual_judgement.jsonl";
/// governance_log.jsonl
pub const GOVERNANCE_LOG: &str = "governance_log.jsonl";
/// first_fail_iter.txt
pub const FIRST_FAIL_MARKER: &str = "first_fail_iter.txt";

/// Why a capsule file could not be turned into a JSON value.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// The file does not exist.
    #[error("Missing required artifacts: {0}")]
    Missing(String),
    /// The OS refused the read.
    #[error("Failed to read {name}: {message}")]
    Read {
        /// File name.
        name: String,
        /// OS error text.
        message: String,
    },
    /// Larger than [`MAX_ARTIFACT_BYTES`].
    #[error("Failed to read {name}: file is {size} bytes, larger than the {limit}-byte limit")]
    TooLarge {
        /// File name.
        name: String,
        /// Size on disk.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Not valid UTF-8 (Python codec message).
    #[error("Failed to read {name}: {message}")]
    Decode {
        /// File name.
        name: String,
        /// Codec message.
        message: String,
    },
    /// Not JSON, or truncated JSON.
    #[error("JSON parse error in {name}: {message} (line {line}, col {column})")]
    Parse {
        /// File name.
        name: String,
        /// Parser message (Python wording where known).
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// JSON, but not an object.
    #[error("{name} must be a JSON object (dict), got {kind}")]
    NotObject {
        /// File name.
        name: String,
        /// Python type name of what was found.
        kind: &'static str,
    },
}

/// Reads `dir/name` fully; `Ok(None)` when it does not exist.
pub fn read_bytes(dir: &Path, name: &str) -> Result<Option<Vec<u8>>, LoadError> {
    let path = dir.join(name);
    let read_err = |e: io::Error| LoadError::Read {
        name: name.to_owned(),
        message: e.to_string(),
    };
    let file = match fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(read_err(e)),
    };
    let size = file.metadata().map_err(read_err)?.len();
    if size > MAX_ARTIFACT_BYTES {
        return Err(LoadError::TooLarge {
            name: name.to_owned(),
            size,
            limit: MAX_ARTIFACT_BYTES,
        });
    }
    let mut buf = Vec::with_capacity(size as usize);
    // `take` guards against a file that grows while we read it.
    file.take(MAX_ARTIFACT_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(read_err)?;
    Ok(Some(buf))
}

/// Decodes UTF-8 with Python's codec error text.
pub fn decode_utf8<'a>(name: &str, bytes: &'a [u8]) -> Result<&'a str, LoadError> {
    std::str::from_utf8(bytes).map_err(|e| LoadError::Decode {
        name: name.to_owned(),
        message: python_codec_message(bytes, &e),
    })
}

/// Parses `bytes` as a JSON object artifact named `name`.
pub fn parse_object(name: &str, bytes: &[u8]) -> Result<Value, LoadError> {
    let text = decode_utf8(name, bytes)?;
    let value: Value = serde_json::from_str(text).map_err(|e| LoadError::Parse {
        name: name.to_owned(),
        message: python_json_message(&e),
        line: e.line(),
        column: e.column(),
    })?;
    if !value.is_object() {
        return Err(LoadError::NotObject {
            name: name.to_owned(),
            kind: python_type_name(&value),
        });
    }
    Ok(value)
}

/// Reads and parses `dir/name`; `Ok(None)` when absent.
pub fn read_object(dir: &Path, name: &str) -> Result<Option<Value>, LoadError> {
    read_bytes(dir, name)?
        .map(|b| parse_object(name, &b))
        .transpose()
}

/// serde_json's message mapped to Python's `json` wording where one exists, position dropped.
pub fn python_json_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let msg = full
        .rfind(" at line ")
        .map_or(full.as_str(), |i| &full[..i]);
    let mapped = match msg {
        "expected value" | "expected ident" => "Expecting value",
        "trailing characters" => "Extra data",
        "key must be a string" => "Expecting property name enclosed in double quotes",
        "EOF while parsing a string" => "Unterminated string starting at",
        "expected `,` or `}`"
        | "expected `,` or `]`"
        | "EOF while parsing an object"
        | "EOF while parsing a list" => "Expecting ',' delimiter",
        "expected `:`" => "Expecting ':' delimiter",
        "EOF while parsing a value" => "Expecting value",
        other => other,
    };
    mapped.to_owned()
}

fn python_codec_message(bytes: &[u8], e: &std::str::Utf8Error) -> String {
    let pos = e.valid_up_to();
    let byte = bytes.get(pos).copied().unwrap_or(0);
    let reason = match e.error_len() {
        None => "unexpected end of data",
        Some(_) if (0x80..0xc0).contains(&byte) || byte >= 0xf8 => "invalid start byte",
        Some(_) => "invalid continuation byte",
    };
    format!("'utf-8' codec can't decode byte 0x{byte:02x} in position {pos}: {reason}")
}

/// Python type name of a parsed JSON value (`dict`, `list`, `str`, `int`, `float`, `bool`, `NoneType`).
pub fn python_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.to_string().contains(['.', 'e', 'E']) => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// A capsule directory read into raw JSON values (hash the raw values, never re-serialized
/// structs: house_style §5.7 "Hash the bytes you read").
#[derive(Debug, Clone, Default)]
pub struct Capsule {
    /// The directory.
    pub outdir: PathBuf,
    /// window_signature.json, when present.
    pub window_signature: Option<Value>,
    /// results.json, when present.
    pub results: Option<Value>,
    /// results_summary.json, when present.
    pub summary: Option<Value>,
    /// run_config_resolved.json, when present.
    pub run_config: Option<Value>,
    /// manual_judgement.json, when present.
    pub manual_judgement: Option<Value>,
    /// Whether manual_judgement.jsonl exists.
    pub has_manual_judgement_log: bool,
    /// Whether governance_log.jsonl exists.
    pub has_governance_log: bool,
    /// Whether first_fail_iter.txt exists.
    pub has_first_fail_marker: bool,
}

impl Capsule {
    /// `results_summary.partial == true`.
    pub fn is_partial(&self) -> bool {
        self.results.is_none()
            || self
                .summary
                .as_ref()
                .and_then(|s| s.get("partial"))
                .and_then(Value::as_bool)
                == Some(true)
    }
}

/// Reads every JSON artifact present in `outdir`; the first unreadable one is an error.
/// Presence rules (which files are required) belong to [`crate::validate`].
pub fn load_capsule(outdir: &Path) -> Result<Capsule, LoadError> {
    Ok(Capsule {
        outdir: outdir.to_path_buf(),
        window_signature: read_object(outdir, WINDOW_SIGNATURE)?,
        results: read_object(outdir, RESULTS)?,
        summary: read_object(outdir, RESULTS_SUMMARY)?,
        run_config: read_object(outdir, RUN_CONFIG)?,
        manual_judgement: read_object(outdir, MANUAL_JUDGEMENT)?,
        has_manual_judgement_log: outdir.join(MANUAL_JUDGEMENT_LOG).is_file(),
        has_governance_log: outdir.join(GOVERNANCE_LOG).is_file(),
        has_first_fail_marker: outdir.join(FIRST_FAIL_MARKER).exists(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file_and_problem() {
        assert_eq!(
            parse_object("w.json", b"\xff{}").unwrap_err().to_string(),
            "Failed to read w.json: 'utf-8' codec can't decode byte 0xff in position 0: invalid start byte"
        );
        assert_eq!(
            parse_object("w.json", b"{\"a\": 1")
                .unwrap_err()
                .to_string(),
            "JSON parse error in w.json: Expecting ',' delimiter (line 1, col 7)"
        );
        assert_eq!(
            parse_object("w.json", b"[1]").unwrap_err().to_string(),
            "w.json must be a JSON object (dict), got list"
        );
        assert_eq!(
            parse_object("w.json", b"{} x").unwrap_err().to_string(),
            "JSON parse error in w.json: Extra data (line 1, col 4)"
        );
    }
}
