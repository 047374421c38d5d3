//! `veriscope calibrate`: score control and injected capsules against the acceptance
//! criteria (productization §0: FAR <= 5% post-warmup, detection delay <= 2W, overhead <= 5%).
//!
//! Output schema: productization §2.6 and cli_contracts A12 (policy_rev, W, W_source, K,
//! warmup_source, FAR, FAR_source, Delay_W, overhead, missing_fields, redactions_applied,
//! calibration_status, plus the original's detail keys). Deterministic: sorted keys, no
//! timestamps. Several capsules per side: FAR is pooled over controls, delays and overhead
//! are medians over injected runs, and each gets a `*_spread` {min, median, max, n}.
//! `calibration_status` is `incomplete` when an input is missing, else `targets_met` or
//! `targets_not_met` (an unmeasured overhead is listed in `missing_fields` and does not block).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use veriscope_capsule::load::{RESULTS_SUMMARY, read_object};
use veriscope_capsule::validate::{ValidateOptions, validate_capsule};

use crate::error::ReportError;
use crate::view::{CapsuleView, ValidationProfile, load_view};

/// Acceptance targets (productization §0).
pub const FAR_MAX: f64 = 0.05;
/// Detection delay target, in gate windows.
pub const DELAY_W_MAX: f64 = 2.0;
/// Overhead target: veriscope wall / runner wall <= 1.05.
pub const OVERHEAD_RATIO_MAX: f64 = 1.05;

/// Inputs of `veriscope calibrate`.
#[derive(Debug, Clone)]
pub struct CalibrateInput {
    /// Control capsules (no injection).
    pub control_dirs: Vec<PathBuf>,
    /// Injected-pathology capsules.
    pub injected_dirs: Vec<PathBuf>,
    /// `--injection-onset-iter` (overrides the recorded onset).
    pub onset_override: Option<u64>,
}

/// Spread of a per-seed figure.
fn spread(values: &[f64]) -> Value {
    if values.is_empty() {
        return json!({"max": null, "median": null, "min": null, "n": 0});
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    json!({"max": v[v.len() - 1], "median": median_sorted(&v), "min": v[0], "n": v.len()})
}

fn median_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| median_sorted(&v))
}

/// Loads and strictly validates one side's capsule (cli_contracts A12 checks and tokens).
fn load_side(dir: &Path, side: &str) -> Result<(CapsuleView, Value), ReportError> {
    match read_object(dir, RESULTS_SUMMARY) {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Err(ReportError::invalid(
                "MISSING_RESULTS_SUMMARY",
                format!("{}/{RESULTS_SUMMARY} not found", dir.display()),
            ));
        }
        Err(e) => {
            return Err(ReportError::invalid(
                "MISSING_RESULTS_SUMMARY",
                e.to_string(),
            ));
        }
    }
    let token = if side == "control" {
        "INVALID_CONTROL_CAPSULE"
    } else {
        "INVALID_INJECTED_CAPSULE"
    };
    let strict = ValidateOptions {
        strict_governance: true,
        require_governance: true,
        strict_identity: true,
        ..ValidateOptions::default()
    };
    let report = validate_capsule(dir, &strict);
    if !report.is_valid() {
        return Err(ReportError::invalid(token, report.message));
    }
    let view = load_view(dir, ValidationProfile::Compare)
        .map_err(|e| ReportError::invalid(token, e.to_string()))?;
    if view.run_status != "success" {
        return Err(ReportError::invalid(
            "RUN_STATUS_NOT_SUCCESS",
            format!(
                "{side} capsule {} has run_status={}",
                dir.display(),
                view.run_status
            ),
        ));
    }
    let run_config = read_object(dir, "run_config_resolved.json")
        .map_err(|e| ReportError::invalid("INVALID_RUN_CONFIG", e.to_string()))?
        .unwrap_or(Value::Null);
    Ok((view, run_config))
}

struct Side {
    label: &'static str,
    runs: Vec<(CapsuleView, Value)>,
}

/// Runs the calibration and returns the JSON document.
pub fn calibrate(input: &CalibrateInput) -> Result<Value, ReportError> {
    let load = |dirs: &[PathBuf], label: &'static str| -> Result<Side, ReportError> {
        if dirs.is_empty() {
            return Err(ReportError::invalid(
                "MISSING_RESULTS_SUMMARY",
                format!("no --{label}-dir given"),
            ));
        }
        Ok(Side {
            label,
            runs: dirs
                .iter()
                .map(|d| load_side(d, label))
                .collect::<Result<_, _>>()?,
        })
    };
    let control = load(&input.control_dirs, "control")?;
    let injected = load(&input.injected_dirs, "injected")?;
    let all: Vec<&(CapsuleView, Value)> = control.runs.iter().chain(&injected.runs).collect();
    let reference = &all[0].0;
    for (v, _) in &all[1..] {
        if v.window_ref_hash != reference.window_ref_hash {
            return Err(ReportError::invalid(
                "WINDOW_SIGNATURE_HASH_MISMATCH",
                format!(
                    "{} has {} but {} has {}",
                    reference.outdir, reference.window_hash, v.outdir, v.window_hash
                ),
            ));
        }
        if v.gate_preset != reference.gate_preset {
            return Err(ReportError::invalid(
                "GATE_PRESET_MISMATCH",
                format!(
                    "{} uses {} but {} uses {}",
                    reference.outdir, reference.gate_preset, v.outdir, v.gate_preset
                ),
            ));
        }
    }
    let mut doc = Map::new();
    let mut missing: Vec<String> = Vec::new();
    let mut notes: Vec<String> = vec![
        "NOTE:control_gate_events_source=results.json".into(),
        "NOTE:injected_gate_events_source=results.json".into(),
    ];
    let (w, w_source) = gate_window(&all).ok_or_else(|| ReportError::invalid("MISSING_GATE_WINDOW", "gate_window not found in window_signature.json gate_controls or run_config_resolved.json"))?;
    let (k, warmup_source, warmup_inferred) = warmup(&control, &all, &mut notes, &mut missing);
    doc.insert("W".into(), json!(w));
    doc.insert("W_source".into(), json!(w_source));
    doc.insert("K".into(), json!(k));
    doc.insert("warmup_source".into(), json!(warmup_source));
    let far = far_section(&control, k, &mut doc, &mut missing);
    let delay = delay_section(
        &injected,
        input.onset_override,
        k,
        w,
        &mut doc,
        &mut missing,
    )?;
    let overhead = overhead_section(&injected, &mut doc, &mut missing, &mut notes);
    decisions(&control, &mut doc);
    decisions(&injected, &mut doc);
    doc.insert(
        "policy_rev".into(),
        json!(
            first_text(
                &all,
                &[
                    "/provenance/policy_rev",
                    "/env_capture/policy_rev",
                    "/policy_rev"
                ]
            )
            .unwrap_or_else(|| "unknown".into())
        ),
    );
    doc.insert("redactions_applied".into(), redactions(&all));
    let acceptance = json!({
        "FAR_max": FAR_MAX, "FAR_ok": far.map(|f| f <= FAR_MAX),
        "Delay_W_max": DELAY_W_MAX, "Delay_ok": delay.map(|d| d <= DELAY_W_MAX),
        "overhead_max": OVERHEAD_RATIO_MAX, "overhead_ok": overhead.map(|o| o <= OVERHEAD_RATIO_MAX),
    });
    let complete = far.is_some() && delay.is_some() && !warmup_inferred;
    let met = far.is_some_and(|f| f <= FAR_MAX)
        && delay.is_some_and(|d| d <= DELAY_W_MAX)
        && overhead.is_none_or(|o| o <= OVERHEAD_RATIO_MAX);
    let status = match (complete, met) {
        (false, _) => "incomplete",
        (true, true) => "targets_met",
        (true, false) => "targets_not_met",
    };
    doc.insert("acceptance".into(), acceptance);
    doc.insert("calibration_status".into(), json!(status));
    missing.sort();
    missing.dedup();
    doc.insert("missing_fields".into(), json!(missing));
    doc.insert("notes".into(), json!(notes));
    doc.insert(
        "seeds".into(),
        json!({"control": control.runs.len(), "injected": injected.runs.len()}),
    );
    Ok(Value::Object(doc))
}

fn gate_window(all: &[&(CapsuleView, Value)]) -> Option<(u64, String)> {
    if let Some(w) = all[0].0.gate_window.filter(|w| *w > 0) {
        return Some((w, "window_signature.gate_controls.gate_window".into()));
    }
    all.iter().find_map(|(_, rc)| {
        rc.pointer("/resolved_gate_cfg/gate_window")
            .map(|v| (v, "run_config_resolved.resolved_gate_cfg.gate_window"))
            .or_else(|| {
                rc.get("gate_window")
                    .map(|v| (v, "run_config_resolved.gate_window"))
            })
            .and_then(|(v, src)| Some((v.as_u64().filter(|w| *w > 0)?, src.to_owned())))
    })
}

fn warmup(
    control: &Side,
    all: &[&(CapsuleView, Value)],
    notes: &mut Vec<String>,
    missing: &mut Vec<String>,
) -> (u64, String, bool) {
    if let Some(k) = all[0].0.gate_warmup_iters {
        return (
            k,
            "window_signature.gate_controls.gate_warmup_iters".into(),
            false,
        );
    }
    let min_iter = control
        .runs
        .iter()
        .flat_map(|(v, _)| v.gates.iter().map(|g| g.iter))
        .min();
    match min_iter {
        Some(k) => {
            notes.push("NOTE:warmup_inferred_from_gate_events".into());
            missing.push("global.warmup_missing_inferred".into());
            (k, "inferred_min_gate_iter".into(), true)
        }
        None => {
            notes.push("NOTE:warmup_defaulted_no_gate_events".into());
            missing.push("global.warmup_missing_defaulted".into());
            (0, "default_0_no_gates".into(), true)
        }
    }
}

/// Pooled post-warmup FAR over the control runs.
fn far_section(
    control: &Side,
    k: u64,
    doc: &mut Map<String, Value>,
    missing: &mut Vec<String>,
) -> Option<f64> {
    let (mut total, mut fail, mut warnfail) = (0u64, 0u64, 0u64);
    let mut per_seed = Vec::new();
    for (v, _) in &control.runs {
        let post: Vec<_> = v
            .gates
            .iter()
            .filter(|g| g.evaluated && g.iter >= k)
            .collect();
        let f = post.iter().filter(|g| g.decision == "fail").count() as u64;
        let wf = post
            .iter()
            .filter(|g| g.decision == "fail" || g.decision == "warn")
            .count() as u64;
        if v.gates.is_empty() {
            missing.push(format!("{}.gate_events_missing", control.label));
        }
        if !post.is_empty() {
            per_seed.push(wf as f64 / post.len() as f64);
        }
        total += post.len() as u64;
        fail += f;
        warnfail += wf;
    }
    let rate = |n: u64| (total > 0).then(|| n as f64 / total as f64);
    if total == 0 {
        missing.push("control.post_warmup_events_missing".into());
    }
    doc.insert("FAR".into(), json!(rate(warnfail)));
    doc.insert("FAR_fail".into(), json!(rate(fail)));
    doc.insert("FAR_warnfail".into(), json!(rate(warnfail)));
    doc.insert("FAR_counts".into(), json!({"post_warmup_total": total, "post_warmup_fail": fail, "post_warmup_warnfail": warnfail}));
    doc.insert("FAR_source".into(), json!("control.results.json.gates"));
    doc.insert("FAR_spread".into(), spread(&per_seed));
    rate(warnfail)
}

/// Detection delays from max(onset, K) (cli_contracts A12), medians over injected runs.
fn delay_section(
    injected: &Side,
    onset_override: Option<u64>,
    k: u64,
    w: u64,
    doc: &mut Map<String, Value>,
    missing: &mut Vec<String>,
) -> Result<Option<f64>, ReportError> {
    let (mut warn_iters, mut fail_iters, mut onsets) = (Vec::new(), Vec::new(), Vec::new());
    let mut source = "cli.injection_onset_iter";
    for (v, rc) in &injected.runs {
        let onset = match onset_override {
            Some(n) => n,
            None => {
                let recorded = v
                    .injection
                    .as_ref()
                    .map(|i| i.at)
                    .or_else(|| rc.get("data_corrupt_at").and_then(Value::as_u64));
                source = if v.injection.is_some() {
                    "run_config_resolved.runner.hello.injection.at"
                } else {
                    "run_config_resolved.data_corrupt_at"
                };
                recorded.ok_or_else(|| {
                    ReportError::invalid("MISSING_INJECTION_ONSET", format!("{}: no recorded injection (runner.hello.injection.at); pass --injection-onset-iter", v.outdir))
                })?
            }
        };
        onsets.push(onset as f64);
        let t0 = onset.max(k);
        let first = |pred: &dyn Fn(&str) -> bool| {
            v.gates
                .iter()
                .filter(|g| g.evaluated && g.iter >= t0 && pred(&g.decision))
                .map(|g| (g.iter - t0) as f64)
                .reduce(f64::min)
        };
        if let Some(d) = first(&|d| d == "warn" || d == "fail") {
            warn_iters.push(d);
        }
        if let Some(d) = first(&|d| d == "fail") {
            fail_iters.push(d);
        }
    }
    let complete = |xs: &Vec<f64>| xs.len() == injected.runs.len();
    let med = |xs: &Vec<f64>| if complete(xs) { median(xs) } else { None };
    let per_w = |x: Option<f64>| x.map(|d| d / w as f64);
    let (dw, df) = (med(&warn_iters), med(&fail_iters));
    if dw.is_none() {
        missing.push("injected.delay_warn_missing".into());
    }
    doc.insert(
        "injection_onset_iter".into(),
        json!(median(&onsets).map(|o| o as u64)),
    );
    doc.insert("injection_onset_source".into(), json!(source));
    doc.insert("Delay_warn_iters".into(), json!(dw));
    doc.insert("Delay_warn_W".into(), json!(per_w(dw)));
    doc.insert("Delay_fail_iters".into(), json!(df));
    doc.insert("Delay_fail_W".into(), json!(per_w(df)));
    doc.insert("Delay_W".into(), json!(per_w(dw)));
    let w_values: Vec<f64> = warn_iters.iter().map(|d| d / w as f64).collect();
    doc.insert("Delay_W_spread".into(), spread(&w_values));
    Ok(per_w(dw))
}

fn overhead_section(
    injected: &Side,
    doc: &mut Map<String, Value>,
    missing: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Option<f64> {
    let ratios: Vec<f64> = injected
        .runs
        .iter()
        .filter_map(|(v, _)| v.overhead.map(|o| o.veriscope_wall_s / o.runner_wall_s))
        .collect();
    if ratios.len() < injected.runs.len() {
        missing.push("injected.timing.runner_wall_s".into());
        notes.push("NOTE:timing.runner_wall_s".into());
    }
    let value = if ratios.len() == injected.runs.len() {
        median(&ratios)
    } else {
        None
    };
    doc.insert("overhead".into(), json!(value));
    doc.insert("overhead_spread".into(), spread(&ratios));
    value
}

/// `<side>_final_decision` etc. from the first capsule of the side, plus gate-event stats.
fn decisions(side: &Side, doc: &mut Map<String, Value>) {
    let (v, _) = &side.runs[0];
    let p = side.label;
    doc.insert(format!("{p}_final_decision"), json!(v.final_decision));
    doc.insert(
        format!("{p}_effective_decision"),
        json!(v.effective_decision()),
    );
    doc.insert(
        format!("{p}_effective_decision_source"),
        json!(v.decision_source()),
    );
    doc.insert(format!("{p}_gate_events_source"), json!("results.json"));
    doc.insert(
        format!("{p}_gate_events_total"),
        json!(side.runs.iter().map(|(v, _)| v.gates.len()).sum::<usize>()),
    );
    doc.insert(
        format!("{p}_gate_events_first"),
        json!(v.gates.iter().map(|g| g.iter).min()),
    );
    doc.insert(
        format!("{p}_gate_events_last"),
        json!(v.gates.iter().map(|g| g.iter).max()),
    );
}

fn first_text(all: &[&(CapsuleView, Value)], pointers: &[&str]) -> Option<String> {
    all.iter().find_map(|(_, rc)| {
        pointers
            .iter()
            .find_map(|p| rc.pointer(p).and_then(Value::as_str).map(str::to_owned))
    })
}

fn redactions(all: &[&(CapsuleView, Value)]) -> Value {
    let flags: Vec<bool> = all
        .iter()
        .filter_map(|(_, rc)| {
            rc.pointer("/env_capture/redactions_applied")
                .and_then(Value::as_bool)
        })
        .collect();
    if flags.is_empty() {
        json!("unknown")
    } else {
        json!(flags.iter().any(|b| *b))
    }
}

/// Markdown summary of a calibration document (`%.6g`-style floats, `n/a` for null).
pub fn render_markdown(doc: &Value) -> String {
    let f = |k: &str| match doc.get(k) {
        Some(Value::Null) | None => "n/a".to_owned(),
        Some(Value::Number(n)) => n.as_f64().map_or_else(|| n.to_string(), g6),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let ok = |k: &str| match doc.pointer(&format!("/acceptance/{k}")) {
        Some(Value::Bool(true)) => "met",
        Some(Value::Bool(false)) => "NOT met",
        _ => "unmeasured",
    };
    let mut l = vec!["# Veriscope Calibration".to_owned(), String::new()];
    l.push(format!(
        "- calibration_status: **{}**",
        f("calibration_status")
    ));
    l.push(format!("- policy_rev: {}", f("policy_rev")));
    l.push(format!("- W: {} ({})", f("W"), f("W_source")));
    l.push(format!("- K (warmup): {} ({})", f("K"), f("warmup_source")));
    l.push(format!(
        "- seeds: control={} injected={}",
        doc.pointer("/seeds/control").unwrap_or(&Value::Null),
        doc.pointer("/seeds/injected").unwrap_or(&Value::Null)
    ));
    l.push(String::new());
    l.push("| Criterion | Value | Target | Result |".to_owned());
    l.push("|---|---:|---:|---|".to_owned());
    l.push(format!(
        "| FAR (post-warmup, control) | {} | <= {} | {} |",
        f("FAR"),
        g6(FAR_MAX),
        ok("FAR_ok")
    ));
    l.push(format!(
        "| Detection delay (W) | {} | <= {} | {} |",
        f("Delay_W"),
        g6(DELAY_W_MAX),
        ok("Delay_ok")
    ));
    l.push(format!(
        "| Overhead (ratio) | {} | <= {} | {} |",
        f("overhead"),
        g6(OVERHEAD_RATIO_MAX),
        ok("overhead_ok")
    ));
    l.push(String::new());
    for key in ["FAR_spread", "Delay_W_spread", "overhead_spread"] {
        if let Some(s) = doc.get(key) {
            let v = |k: &str| {
                s.get(k)
                    .and_then(Value::as_f64)
                    .map_or_else(|| "n/a".to_owned(), g6)
            };
            l.push(format!(
                "- {key}: min={} median={} max={} n={}",
                v("min"),
                v("median"),
                v("max"),
                s.get("n").unwrap_or(&Value::Null)
            ));
        }
    }
    l.push(format!(
        "- injection_onset_iter: {} ({})",
        f("injection_onset_iter"),
        f("injection_onset_source")
    ));
    l.push(format!("- redactions_applied: {}", f("redactions_applied")));
    let missing: Vec<String> = doc
        .get("missing_fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    l.push(format!(
        "- missing_fields: {}",
        if missing.is_empty() {
            "none".to_owned()
        } else {
            missing.join(", ")
        }
    ));
    l.join("\n") + "\n"
}

/// C `%.6g`.
fn g6(x: f64) -> String {
    if x == 0.0 {
        return "0".to_owned();
    }
    let exp = x.abs().log10().floor() as i32;
    if !(-4..6).contains(&exp) {
        let s = format!("{x:.5e}");
        let (mant, e) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = mant.trim_end_matches('0').trim_end_matches('.');
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{mant}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let decimals = (5 - exp).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g6_matches_c_printf() {
        assert_eq!(g6(0.5), "0.5");
        assert_eq!(g6(1.1), "1.1");
        assert_eq!(g6(2.0 / 3.0), "0.666667");
        assert_eq!(g6(1234567.0), "1.23457e+06");
        assert_eq!(g6(0.00001234), "1.234e-05");
    }

    #[test]
    fn spread_reports_min_median_max() {
        assert_eq!(
            spread(&[0.3, 0.1, 0.2, 0.4]),
            json!({"max": 0.4, "median": 0.25, "min": 0.1, "n": 4})
        );
        assert_eq!(
            spread(&[]),
            json!({"max": null, "median": null, "min": null, "n": 0})
        );
    }
}
