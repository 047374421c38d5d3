//! Governance bindings (cli_contracts A6.5) and distributed metadata (A6.6,
//! distributed_mode.md): does the journal describe *this* capsule?

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use super::results_doc::{CheckedResults, GateKey};
use super::{Step, Validator};
use crate::governance::RUN_EVENTS;
use crate::load::GOVERNANCE_LOG;
use crate::pyrepr::{repr_str, repr_str_list};
use crate::schema::{DECISIONS, lax_bool};

/// What the journal must name: this run, this directory, this window hash.
pub(super) struct Expected {
    pub run_id: String,
    /// OUTDIR as Python prints a `Path` (A6.5 "Expected outdir string").
    pub outdir: String,
    outdir_abs: Option<PathBuf>,
    pub hash: String,
    cwd: Option<PathBuf>,
    /// strict identity AND governance required (A6.5 "strict binding").
    pub strict_binding: bool,
    matches_cache: std::cell::RefCell<HashMap<String, bool>>,
}

impl Expected {
    pub(super) fn new(
        run_id: &str,
        outdir: &Path,
        hash: &str,
        cwd: Option<PathBuf>,
        strict_binding: bool,
    ) -> Self {
        let outdir_abs = absolute(outdir, cwd.as_deref());
        Expected {
            run_id: run_id.to_owned(),
            outdir: python_path_str(outdir),
            outdir_abs,
            hash: hash.to_owned(),
            cwd,
            strict_binding,
            matches_cache: Default::default(),
        }
    }

    /// A recorded outdir matches when textually equal, or equal after `~` expansion and
    /// absolute resolution against the working directory (symlinks resolved when they exist).
    fn outdir_matches(&self, recorded: &str) -> bool {
        if recorded == self.outdir {
            return true;
        }
        if let Some(hit) = self.matches_cache.borrow().get(recorded) {
            return *hit;
        }
        let expanded = expand_home(recorded);
        let hit = match (absolute(&expanded, self.cwd.as_deref()), &self.outdir_abs) {
            (Some(a), Some(b)) => {
                a == *b || canonical(&a).zip(canonical(b)).is_some_and(|(x, y)| x == y)
            }
            _ => false,
        };
        self.matches_cache
            .borrow_mut()
            .insert(recorded.to_owned(), hit);
        hit
    }
}

/// Facts gathered from every JSON-object line of the journal (raw scan, A6.5 step 2).
#[derive(Default)]
pub(super) struct BindingFacts {
    run_events: usize,
    run_ids: BTreeSet<String>,
    outdir_mismatches: BTreeSet<String>,
    /// window hashes of run_started_v1 entries naming this run and directory.
    bindings: Vec<Option<String>>,
    has_overrides_event: bool,
    gate_decisions: usize,
    gate_tuples: Vec<(i64, String, String)>,
    last_distributed: Option<Map<String, Value>>,
}

impl BindingFacts {
    pub(super) fn observe(&mut self, line: &Map<String, Value>, exp: &Expected) {
        let event = line
            .get("event")
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
            .or_else(|| line.get("event_type"));
        let Some(event) = event.and_then(Value::as_str) else {
            return;
        };
        if !RUN_EVENTS.contains(&event) {
            return;
        }
        self.run_events += 1;
        let Some(payload) = line.get("payload").and_then(Value::as_object) else {
            return;
        };
        let run_id = stripped(payload, "run_id");
        let outdir = stripped(payload, "outdir");
        if let Some(r) = run_id {
            self.run_ids.insert(r.to_owned());
        }
        let outdir_ok = outdir.is_some_and(|o| exp.outdir_matches(o));
        if let Some(o) = outdir
            && !outdir_ok
        {
            self.outdir_mismatches.insert(o.to_owned());
        }
        let ours = run_id == Some(exp.run_id.as_str()) && outdir_ok;
        match event {
            "run_started_v1" => {
                if ours {
                    let hash = payload
                        .get("window_signature_ref")
                        .and_then(|r| r.get("hash"))
                        .and_then(Value::as_str);
                    self.bindings.push(hash.map(str::to_owned));
                }
                if let Some(Value::Object(d)) = payload.get("distributed") {
                    self.last_distributed = Some(d.clone());
                }
            }
            "run_overrides_applied_v1" => self.has_overrides_event = true,
            "gate_decision_v1" => {
                self.gate_decisions += 1;
                if ours && exp.strict_binding {
                    self.gate_tuple(payload);
                }
            }
            _ => {}
        }
    }

    fn gate_tuple(&mut self, payload: &Map<String, Value>) {
        let iter = payload
            .get("iter")
            .filter(|v| v.is_i64() || v.is_u64())
            .and_then(Value::as_i64);
        let decision = payload
            .get("decision")
            .and_then(Value::as_str)
            .map(crate::pyrepr::py_strip_lower);
        if let (Some(iter), Some(d)) = (iter, decision.filter(|d| DECISIONS.contains(&d.as_str())))
        {
            let audit = payload.get("audit").unwrap_or(&Value::Null);
            self.gate_tuples.push((iter, d, audit_digest(audit, false)));
        }
    }
}

impl Validator<'_> {
    /// A6.5 steps 1-4, in order; each failure goes through [`Validator::binding`].
    pub(super) fn bindings(
        &mut self,
        f: &BindingFacts,
        exp: &Expected,
        checked: &CheckedResults,
    ) -> Step {
        let results = &checked.results;
        let run_events = f.run_events > 0;
        let strict = exp.strict_binding;
        if run_events && self.overrides_required(results) && !f.has_overrides_event {
            let token =
                "ERROR:GOVERNANCE_OVERRIDES_MISSING run_overrides_applied_v1 entry required"
                    .to_owned();
            self.binding(
                token,
                Some("Missing governance overrides entry for applied overrides"),
            )?;
        }
        if run_events {
            self.identity_bindings(f, exp)?;
            if strict {
                self.divergence(f, checked.gate_keys.as_deref().unwrap_or_default())?;
            }
        }
        if run_events
            && !results.gates.is_empty()
            && !strict
            && f.gate_decisions < results.gates.len()
        {
            let token = format!(
                "ERROR:GOVERNANCE_GATE_DECISIONS_MISSING gate_decision_v1 entries={} expected={}",
                f.gate_decisions,
                results.gates.len()
            );
            self.binding(
                token,
                Some("Missing governance gate decision entries for results"),
            )?;
        }
        if strict && !run_events {
            self.binding("ERROR:GOVERNANCE_RUN_STARTED_MISSING run_started_v1 entry required for strict validation".to_owned(), None)?;
        }
        Ok(())
    }

    fn identity_bindings(&mut self, f: &BindingFacts, exp: &Expected) -> Step {
        let (rid, out) = (repr_str(&exp.run_id), repr_str(&exp.outdir));
        if !f.run_ids.is_empty() && (f.run_ids.len() != 1 || !f.run_ids.contains(&exp.run_id)) {
            let observed: Vec<&String> = f.run_ids.iter().collect();
            self.binding(
                format!(
                    "ERROR:GOVERNANCE_RUN_ID_MISMATCH expected={rid} observed={}",
                    repr_str_list(&observed)
                ),
                None,
            )?;
        }
        if !f.outdir_mismatches.is_empty() {
            let observed: Vec<&String> = f.outdir_mismatches.iter().collect();
            self.binding(
                format!(
                    "ERROR:GOVERNANCE_OUTDIR_MISMATCH expected={out} observed={}",
                    repr_str_list(&observed)
                ),
                None,
            )?;
        }
        let hashes: BTreeSet<&String> = f.bindings.iter().flatten().collect();
        let wrong: Vec<&&String> = hashes.iter().filter(|h| ***h != exp.hash).collect();
        let hash = repr_str(&exp.hash);
        if !wrong.is_empty() {
            self.binding(
                format!(
                    "ERROR:GOVERNANCE_WINDOW_HASH_MISMATCH expected={hash} observed={}",
                    repr_str_list(&wrong)
                ),
                None,
            )?;
        }
        if exp.strict_binding && f.bindings.is_empty() {
            self.binding(
                format!("ERROR:GOVERNANCE_RUN_STARTED_MISSING run_id={rid} outdir={out}"),
                None,
            )?;
        }
        let bound = f
            .bindings
            .iter()
            .filter(|h| h.as_deref() == Some(exp.hash.as_str()))
            .count();
        if exp.strict_binding && bound > 1 {
            self.binding(format!("ERROR:GOVERNANCE_DUPLICATE_RUN_STARTED entries={bound} run_id={rid} outdir={out}"), None)?;
        }
        if bound == 0 {
            let observed: Vec<&String> = hashes.into_iter().collect();
            self.binding(
                format!(
                    "ERROR:GOVERNANCE_NOT_BOUND_TO_WINDOW expected={hash} observed={}",
                    repr_str_list(&observed)
                ),
                None,
            )?;
        }
        Ok(())
    }

    /// Multiset of (iter, decision, audit digest) in results vs in the journal (strict only).
    fn divergence(&mut self, f: &BindingFacts, results_keys: &[GateKey]) -> Step {
        let mut balance: BTreeMap<(i64, String, String), i64> = BTreeMap::new();
        for key in results_keys {
            *balance.entry(key.clone()).or_insert(0) += 1;
        }
        for t in &f.gate_tuples {
            *balance.entry(t.clone()).or_insert(0) -= 1;
        }
        let side = |positive: bool| -> String {
            let items: Vec<String> = balance
                .iter()
                .filter(|(_, n)| if positive { **n > 0 } else { **n < 0 })
                .map(|((i, d, h), _)| format!("({i}, {}, {})", repr_str(d), repr_str(h)))
                .collect();
            format!("[{}]", items.join(", "))
        };
        let (results_only, governance_only) = (side(true), side(false));
        if results_only == "[]" && governance_only == "[]" {
            return Ok(());
        }
        self.binding(format!("ERROR:GOVERNANCE_RESULTS_DIVERGENCE results_only={results_only} governance_only={governance_only}"), None)
    }

    /// A6.6 / contract_v1 §Distributed execution: fail loud on incomplete metadata.
    pub(super) fn distributed(&mut self, facts: Option<&BindingFacts>) -> Step {
        let Some(d) = facts.and_then(|f| f.last_distributed.as_ref()) else {
            return Ok(());
        };
        let world = d.get("world_size_observed").and_then(py_int);
        let hints: Vec<&str> = [
            "rank",
            "rank_observed",
            "local_rank",
            "local_rank_observed",
            "backend",
            "ddp_backend",
            "ddp_wrapped",
            "ddp_active",
        ]
        .into_iter()
        .filter(|k| d.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
        let mode = d.get("distributed_mode").filter(|v| !v.is_null());
        let mode_str = mode
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|m| !m.is_empty());
        const ALLOWED: [&str; 3] = [
            "ddp_wrapped",
            "replicated_single_chief_emit",
            "single_process",
        ];
        if world.is_none() && !hints.is_empty() {
            let token = format!(
                "ERROR:DISTRIBUTED_WORLD_SIZE_MISSING hints_present={} distributed execution hints require world_size_observed",
                repr_str_list(&hints)
            );
            return Err(self.fail(
                "DISTRIBUTED_WORLD_SIZE_MISSING",
                Some(GOVERNANCE_LOG),
                token,
            ));
        }
        if world.is_some_and(|w| w > 1) && mode_str.is_none() {
            let token = format!(
                "ERROR:DISTRIBUTED_MODE_MISSING world_size_observed={} requires distributed_mode",
                world.unwrap_or(0)
            );
            return Err(self.fail("DISTRIBUTED_MODE_MISSING", Some(GOVERNANCE_LOG), token));
        }
        // contract_v1 is stricter than the reference code here: any present mode outside the
        // enum fails, whatever the world size.
        if let Some(m) = mode
            && !m.as_str().is_some_and(|s| ALLOWED.contains(&s))
            && (mode_str.is_some() || world.is_some_and(|w| w > 1))
        {
            let shown = m
                .as_str()
                .map_or_else(|| crate::pyrepr::repr_value(m), repr_str);
            let token = format!(
                "ERROR:DISTRIBUTED_MODE_INVALID distributed_mode={shown} allowed={}",
                repr_str_list(&ALLOWED)
            );
            return Err(self.fail("DISTRIBUTED_MODE_INVALID", Some(GOVERNANCE_LOG), token));
        }
        if mode_str == Some("single_process") && world.is_none_or(|w| w <= 1) {
            return Ok(());
        }
        let backend = ["backend", "ddp_backend"]
            .iter()
            .find_map(|k| d.get(*k).and_then(Value::as_str))
            .unwrap_or("unknown");
        let world_text = world.map_or_else(|| "unknown".to_owned(), |w| w.to_string());
        let token = format!(
            "WARNING:DISTRIBUTED_EXECUTION_DETECTED mode={} world_size={world_text} backend={backend}",
            mode_str.unwrap_or("unknown")
        );
        self.warn(
            "DISTRIBUTED_EXECUTION_DETECTED",
            Some(GOVERNANCE_LOG),
            token,
        );
        Ok(())
    }
}

/// First 12 hex of the canonical hash of a normalized audit (A6.5 "Audit digest").
/// `typed` applies the results-side float coercion of the typed fields.
pub(super) fn audit_digest(audit: &Value, typed: bool) -> String {
    let empty = Map::new();
    let a = audit.as_object().unwrap_or(&empty);
    let mut out = Map::new();
    let evaluated = a
        .get("evaluated")
        .map(|v| {
            if typed {
                lax_bool(v, &[]).unwrap_or(false)
            } else {
                truthy(v)
            }
        })
        .unwrap_or(false);
    out.insert("evaluated".into(), Value::Bool(evaluated));
    for k in ["reason", "policy"] {
        if let Some(v) = a.get(k).filter(|v| !v.is_null()) {
            out.insert(k.into(), Value::String(crate::pyrepr::str_value(v)));
        }
    }
    for (k, fallback) in [("worst_DW", "worst_dw"), ("eps_eff", "eps_eff_value")] {
        if let Some(v) = a
            .get(k)
            .filter(|v| !v.is_null())
            .or_else(|| a.get(fallback).filter(|v| !v.is_null()))
        {
            out.insert(k.into(), if typed { as_float(v) } else { v.clone() });
        }
    }
    let tv: Map<String, Value> = a
        .get("per_metric_tv")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        zero_sign(if typed { as_float(v) } else { v.clone() }),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.insert("per_metric_tv".into(), Value::Object(tv));
    const EXTRAS: [&str; 15] = [
        "evidence_total",
        "min_evidence",
        "ddp_agg",
        "ddp_barrier_status",
        "aggregation_method",
        "world_size",
        "base_reason",
        "change_reason",
        "regime_ok",
        "regime_check_ran",
        "regime_ref_ready",
        "regime_ref_windows",
        "regime_worst_DW",
        "regime_eps_eff",
        "eps_regime_eff",
    ];
    for k in EXTRAS {
        if let Some(v) = a.get(k).filter(|v| !v.is_null()) {
            out.insert(k.into(), v.clone());
        }
    }
    veriscope_canon::sha256_hex(&Value::Object(out))
        .map_or_else(|_| "unhashable".to_owned(), |h| h[..12].to_owned())
}

fn as_float(v: &Value) -> Value {
    let x = match v {
        Value::Number(n) => n.to_string().parse::<f64>().ok(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    x.map_or_else(|| v.clone(), veriscope_canon::float_value)
}

fn zero_sign(v: Value) -> Value {
    match &v {
        Value::Number(n)
            if n.to_string()
                .parse::<f64>()
                .is_ok_and(|x| x == 0.0 && x.is_sign_negative()) =>
        {
            veriscope_canon::float_value(0.0)
        }
        _ => v,
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.to_string().parse::<f64>().is_ok_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn py_int(v: &Value) -> Option<i64> {
    match v {
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|x| x.is_finite())
                .map(|x| x.trunc() as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn stripped<'a>(payload: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    payload
        .get(key)
        .and_then(Value::as_str)
        .map(crate::pyrepr::py_strip)
        .filter(|s| !s.is_empty())
}

/// `str(Path(p))` in Python: duplicate slashes collapsed, `.` components and a trailing
/// slash dropped.
pub(super) fn python_path_str(p: &Path) -> String {
    let text = p.to_string_lossy();
    let absolute = text.starts_with('/');
    let parts: Vec<&str> = text
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    match (absolute, parts.is_empty()) {
        (true, _) => format!("/{}", parts.join("/")),
        (false, true) => ".".to_owned(),
        (false, false) => parts.join("/"),
    }
}

fn expand_home(p: &str) -> PathBuf {
    match p.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => std::env::home_dir().map_or_else(
            || PathBuf::from(p),
            |h| h.join(rest.trim_start_matches('/')),
        ),
        _ => PathBuf::from(p),
    }
}

/// Lexically absolute and normalized (`..` popped), like Python's non-strict resolve
/// without symlinks.
fn absolute(p: &Path, cwd: Option<&Path>) -> Option<PathBuf> {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd?.join(p)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

fn canonical(p: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(p).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_like_python() {
        assert_eq!(python_path_str(Path::new("./a//b/")), "a/b");
        assert_eq!(python_path_str(Path::new("./")), ".");
        assert_eq!(python_path_str(Path::new("/x/./y")), "/x/y");
    }
}
