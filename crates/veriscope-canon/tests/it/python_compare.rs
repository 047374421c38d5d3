//! Property tests: canonical text is a fixed point, ignores key insertion order, and equals
//! CPython's `json.dumps` on the same input text (house style §5.4 "Property tests").
//!
//! The CPython comparison needs `python3` on PATH; all cases go through one interpreter
//! process (one input per line), so the test stays fast. Without python3 it is skipped
//! with a note, and the fixed-point properties still run.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::random_json::{Rng, value_text};

const CASES: usize = 2000;
const SEED: u64 = 0x5EED_CA50;

/// Inputs that both sides accept: our parser rejects lone surrogates and NaN, Python
/// refuses non-finite floats at dump time; such cases are covered by the vectors.
fn generate_cases() -> Vec<(String, Value, String)> {
    let mut rng = Rng::new(SEED);
    let mut out = Vec::new();
    while out.len() < CASES {
        let text = value_text(&mut rng, 4);
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let Ok(canon) = veriscope_canon::to_canonical_string(&value) else {
            continue;
        };
        out.push((text, value, canon));
    }
    out
}

/// canon(parse(canon(v))) == canon(v).
#[test]
fn canonical_text_is_a_fixed_point() {
    for (text, _, canon) in generate_cases() {
        let reparsed: Value = serde_json::from_str(&canon).expect("canonical text parses");
        let again = veriscope_canon::to_canonical_string(&reparsed).expect("canonical again");
        assert_eq!(again, canon, "input {text:?}");
    }
}

/// Reordering an object's members never changes the canonical bytes.
#[test]
fn key_order_never_changes_the_bytes() {
    let a: Value =
        serde_json::from_str(r#"{"b":{"y":1,"x":[2.50,{"q":1,"p":2}]},"a":-0.0,"é":"\u2028"}"#)
            .unwrap();
    let b: Value =
        serde_json::from_str(r#"{"é":"\u2028","a":-0.0,"b":{"x":[2.5,{"p":2,"q":1}],"y":1}}"#)
            .unwrap();
    assert_eq!(
        veriscope_canon::canonical_bytes(&a).unwrap(),
        veriscope_canon::canonical_bytes(&b).unwrap()
    );
}

fn python3_available() -> bool {
    Command::new("python3")
        .arg("-c")
        .arg("pass")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `script` in one `python3` process with `input` on stdin; returns its stdout.
fn run_python(script: &str, input: &str) -> String {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write cases");
    let output = child.wait_with_output().expect("python3 output");
    assert!(output.status.success(), "python3 failed");
    String::from_utf8(output.stdout).expect("utf-8")
}

const PY: &str = r#"
import json, sys
out = []
for line in sys.stdin.read().split("\n"):
    if not line:
        continue
    obj = json.loads(json.loads(line))
    out.append(json.dumps(json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False), ensure_ascii=True))
sys.stdout.write("\n".join(out) + "\n")
"#;

/// Our canonical text equals CPython's for the same input text, on random inputs.
#[test]
fn canonical_text_matches_cpython_on_random_inputs() {
    if !python3_available() {
        eprintln!("note: python3 not on PATH; CPython comparison skipped (vectors still cover it)");
        return;
    }
    let cases = generate_cases();
    // Each input is sent as a JSON string literal on its own line, so newlines inside
    // the text (U+2028 and friends are fine for Python's split("\n")) cannot split it.
    let payload: String = cases
        .iter()
        .map(|(text, _, _)| format!("{}\n", serde_json::to_string(text).expect("string literal")))
        .collect();
    let stdout = run_python(PY, &payload);
    let answers: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<String>(l).expect("python answer is a string literal"))
        .collect();
    assert_eq!(answers.len(), cases.len());
    let failures: Vec<String> = cases
        .iter()
        .zip(&answers)
        .filter(|((_, _, ours), theirs)| ours != *theirs)
        .map(|((text, _, ours), theirs)| {
            format!("input {text:?}\n  ours   {ours:?}\n  python {theirs:?}")
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} random cases differ from CPython:\n{}",
        failures.len(),
        cases.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

const PY_REPR: &str = r#"
import struct, sys
bits = sys.stdin.read().split()
sys.stdout.write("\n".join(repr(struct.unpack("<d", struct.pack("<Q", int(b, 16)))[0]) for b in bits) + "\n")
"#;

/// Float text equals CPython's `repr` on 200k finite doubles: random bit patterns (every
/// magnitude), halfway values n + 0.25 / n + 0.75 in [1e15, 1e16) where the shortest digits
/// tie, and values around the fixed/scientific switches at 1e-5, 1e-4 and 1e16.
#[test]
fn float_text_matches_cpython_repr() {
    if !python3_available() {
        eprintln!("note: python3 not on PATH; CPython comparison skipped (vectors still cover it)");
        return;
    }
    let mut rng = Rng::new(0xF10A7);
    let mut values = Vec::new();
    while values.len() < 200_000 {
        let x = match values.len() % 4 {
            0 | 1 => f64::from_bits(rng.next_u64()),
            2 => (1e15 + rng.below(9_000_000_000_000_000) as f64) + 0.25,
            _ => {
                let scale = [1e-5, 1e-4, 1e15, 1e16][rng.below(4) as usize];
                scale * (1.0 + rng.below(1 << 52) as f64 / (1u64 << 52) as f64 * 9.0)
            }
        };
        if x.is_finite() {
            values.push(if rng.below(2) == 0 { x } else { -x });
        }
    }
    let payload: String = values
        .iter()
        .map(|x| format!("{:x}\n", x.to_bits()))
        .collect();
    let stdout = run_python(PY_REPR, &payload);
    let answers: Vec<&str> = stdout.lines().collect();
    assert_eq!(answers.len(), values.len());
    let failures: Vec<String> = values
        .iter()
        .zip(&answers)
        .filter(|(x, theirs)| veriscope_canon::python_float_repr(**x) != **theirs)
        .take(20)
        .map(|(x, theirs)| {
            let ours = veriscope_canon::python_float_repr(*x);
            format!("bits {:#x}: ours {ours} python {theirs}", x.to_bits())
        })
        .collect();
    assert!(
        failures.is_empty(),
        "differs from CPython:\n{}",
        failures.join("\n")
    );
}
