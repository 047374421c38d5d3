//! Foundation benchmark (issue 2): a capsule with N gate records (default 100,000) and a
//! governance journal with one entry per gate plus run_started_v1; times `validate_capsule`
//! (default and strict modes) and `verify_log`, with both line readers side by side: the
//! canonical fast path (`LineReader::Auto`, what `verify_log` uses) and the `Value` reader
//! (`LineReader::ValueOnly`, the reference path).
//!
//! ```text
//! cargo run --release -p veriscope-capsule --example foundation_bench -- OUTDIR [N]
//! cargo run --release -p veriscope-capsule --example foundation_bench -- OUTDIR N verify|verify-value|verify-visit|verify-value-visit|validate
//! /usr/bin/time -v target/release/veriscope validate OUTDIR   # RSS of the CLI
//! ```
//! The journal is written in bulk (same hashing as `Journal::append`, without an fsync per
//! line) so generation takes seconds; figures go to docs/benchmarks.md.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};
use veriscope_capsule::fixture::{CapsuleSpec, FIXTURE_TS, gate_record, write_capsule};
use veriscope_capsule::governance::{LineReader, VerifyOptions, verify_log_via};
use veriscope_capsule::validate::{ValidateOptions, validate_capsule};

/// The same allocator as the `veriscope` binary, so the figures are the CLI's.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let outdir = PathBuf::from(
        args.get(1)
            .map_or("/tmp/veriscope_foundation_bench", String::as_str),
    );
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    // `only` = verify | verify-value | verify-visit | verify-value-visit | validate: time
    // just that once on an existing capsule
    // (for `perf stat`, whose instruction counts do not depend on machine load).
    let only = args.get(3).map(String::as_str);
    if only.is_none() || !outdir.join("results.json").exists() {
        let t0 = Instant::now();
        generate(&outdir, n);
        println!("generate: {n} gates in {:.2} s", t0.elapsed().as_secs_f64());
    }
    let log = outdir.join("governance_log.jsonl");
    match only {
        Some(mode @ ("verify" | "verify-value" | "verify-visit" | "verify-value-visit")) => {
            let reader = if mode.starts_with("verify-value") {
                LineReader::ValueOnly
            } else {
                LineReader::Auto
            };
            let mut count = |_: usize, _: &serde_json::Map<String, Value>| {};
            let visit: Option<&mut veriscope_capsule::governance::LineVisitor<'_>> =
                if mode.ends_with("visit") {
                    Some(&mut count)
                } else {
                    None
                };
            let r = verify_log_via(&log, &VerifyOptions::default(), reader, visit)
                .expect("read journal");
            assert!(r.is_valid(), "{:?}", r.first_bad);
            return;
        }
        Some("validate") => {
            let opts = ValidateOptions {
                allow_partial: true,
                cwd: outdir.parent().map(Path::to_path_buf),
                ..Default::default()
            };
            let r = validate_capsule(&outdir, &opts);
            assert!(r.is_valid(), "{:?}", r.findings.first());
            return;
        }
        _ => {}
    }
    for name in ["results.json", "governance_log.jsonl"] {
        let size = std::fs::metadata(outdir.join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        println!("  {name}: {:.1} MB", size as f64 / 1e6);
    }

    // Interleaved so all variants see the same machine load. "+ visitor" is how validate
    // reads the journal (every line handed over as a `Map` for the binding checks).
    let variants = [
        ("Value reader", LineReader::ValueOnly, false),
        ("fast path", LineReader::Auto, false),
        ("Value reader + visitor", LineReader::ValueOnly, true),
        ("fast path + visitor", LineReader::Auto, true),
    ];
    let mut timings = [(f64::INFINITY, 0.0); 4];
    let mut reports = Vec::new();
    for _ in 0..5 {
        for (slot, &(_, reader, visitor)) in variants.iter().enumerate() {
            let (wall, cpu) = best_of(1, || {
                let mut lines = 0usize;
                let mut count = |_: usize, _: &serde_json::Map<String, Value>| lines += 1;
                let visit: Option<&mut veriscope_capsule::governance::LineVisitor<'_>> =
                    if visitor { Some(&mut count) } else { None };
                let r = verify_log_via(&log, &VerifyOptions::default(), reader, visit)
                    .expect("read journal");
                assert!(r.is_valid(), "{:?}", r.first_bad);
                reports.push(r);
            });
            if wall < timings[slot].0 {
                timings[slot] = (wall, cpu);
            }
        }
    }
    assert!(reports.windows(2).all(|w| w[0] == w[1]), "readers disagree");
    for ((best, cpu), (label, _, _)) in timings.into_iter().zip(variants) {
        println!(
            "verify_log ({label}): {} entries, best of 5 {:.3} s = {:.0} entries/s (cpu {:.2} s = {:.0} entries per cpu-s)",
            n + 1,
            best,
            (n + 1) as f64 / best,
            cpu,
            (n + 1) as f64 / cpu.max(0.01)
        );
    }

    let cwd = outdir.parent().map(Path::to_path_buf);
    for (label, opts) in [
        (
            "default",
            ValidateOptions {
                allow_partial: true,
                cwd: cwd.clone(),
                ..Default::default()
            },
        ),
        (
            "strict",
            ValidateOptions {
                strict_governance: true,
                require_governance: true,
                strict_identity: true,
                allow_partial: true,
                cwd: cwd.clone(),
                ..Default::default()
            },
        ),
    ] {
        let (best, cpu) = best_of(3, || {
            let r = validate_capsule(&outdir, &opts);
            assert!(r.is_valid(), "{:?}", r.findings.first());
        });
        println!("validate_capsule ({label}): best {best:.3} s (cpu {cpu:.2} s)");
    }
}

/// Best wall time of `runs` runs, with the process CPU time (user + sys) of that run: on a
/// shared machine the CPU time is the steadier figure, and CPU > wall shows parallelism.
fn best_of(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    (0..runs)
        .map(|_| {
            let c = cpu_seconds();
            let t = Instant::now();
            f();
            (t.elapsed().as_secs_f64(), cpu_seconds() - c)
        })
        .fold((f64::INFINITY, 0.0), |best, run| {
            if run.0 < best.0 { run } else { best }
        })
}

/// utime + stime of this process from /proc/self/stat (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    // Linux reports in USER_HZ, which is 100 on every mainstream configuration.
    ticks / 100.0
}

/// Writes the capsule with `n` gates (pass/warn/skip mix, one fail) and its journal.
fn generate(outdir: &Path, n: usize) {
    let _ = std::fs::remove_dir_all(outdir);
    let rec = outdir
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or("bench")
        .to_owned();
    let mut spec = CapsuleSpec::four_gate("bench_run", &rec);
    spec.decisions = (0..n)
        .map(|i| match i % 10 {
            _ if i == n / 2 => "fail",
            0 => "skip",
            3 => "warn",
            _ => "pass",
        })
        .map(str::to_owned)
        .collect();
    spec.governance = false;
    let hash = write_capsule(outdir, &spec).expect("write capsule");
    write_journal(outdir, &spec, &rec, &hash);
}

fn write_journal(outdir: &Path, spec: &CapsuleSpec, rec: &str, hash: &str) {
    let file = std::fs::File::create(outdir.join("governance_log.jsonl")).expect("create journal");
    let mut w = std::io::BufWriter::new(file);
    let mut prev: Option<String> = None;
    let mut rev = 0;
    let mut append = |event: &str, payload: Value| {
        rev += 1;
        let mut entry = json!({"schema_version": 1, "rev": rev, "ts_utc": FIXTURE_TS, "actor": null,
                               "event": event, "payload": payload, "prev_hash": prev});
        let h = veriscope_canon::sha256_hex(&entry).expect("hash");
        entry["entry_hash"] = json!(h);
        writeln!(
            w,
            "{}",
            veriscope_canon::to_canonical_string(&entry).expect("canon")
        )
        .expect("write");
        prev = Some(h);
    };
    append(
        "run_started_v1",
        json!({"run_id": spec.run_id, "outdir": rec, "argv": ["bench"], "code_identity": {"package_version": "bench"},
               "window_signature_ref": {"hash": hash, "path": "window_signature.json"},
               "entrypoint": {"kind": "runner", "name": "bench"}}),
    );
    for (i, d) in spec.decisions.iter().enumerate() {
        let g = gate_record(i as u64, d);
        append(
            "gate_decision_v1",
            json!({"run_id": spec.run_id, "outdir": rec, "iter": i, "decision": d, "ok": g["ok"], "warn": g["warn"], "audit": g["audit"]}),
        );
    }
}
