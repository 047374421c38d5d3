//! Governance bindings (cli_contracts A6.5) and distributed metadata (A6.6,
//! distributed_mode.md): does the journal describe *this* capsule?

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};
use veriscope_canon::CanonError;
use veriscope_canon::view::{CanonObject, CanonValue};

use super::results_doc::{CheckedResults, GateKey};
use super::{Step, Validator};
use crate::governance::{LineExtract, RUN_EVENTS};
use crate::jsonref::{ObjRef, ValueRef};
use crate::load::GOVERNANCE_LOG;
use crate::pyrepr::{repr_str, repr_str_list, str_value};
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
    gate_tuples: Vec<GateKey>,
    last_distributed: Option<Map<String, Value>>,
}

/// Reads what the binding checks need of each journal line ([`LineFacts`]). It runs on
/// the journal reader's worker threads, while the line's canonical view is at hand, so it
/// holds only plain text of what is expected; whether a recorded outdir names this
/// directory after path resolution is decided in line order ([`BindingFacts::observe`]).
pub(super) struct FactsReader<'e> {
    run_id: &'e str,
    outdir: &'e str,
    strict_binding: bool,
}

impl<'e> FactsReader<'e> {
    pub(super) fn new(exp: &'e Expected) -> Self {
        FactsReader {
            run_id: &exp.run_id,
            outdir: &exp.outdir,
            strict_binding: exp.strict_binding,
        }
    }

    fn named(&self, payload: ObjRef<'_>, key: &str, expected: &str) -> Named {
        match stripped(payload, key) {
            None => Named::Absent,
            Some(s) if s == expected => Named::Expected,
            Some(s) => Named::Other(s.into_owned()),
        }
    }
}

/// What the binding checks need of one JSON-object line of the journal.
pub(super) enum LineFacts {
    /// Not a run event (`RUN_EVENTS`): the bindings ignore it.
    Other,
    /// A run event whose payload is not an object: it only counts.
    RunWithoutPayload,
    /// A run event and what its payload says.
    Run(RunFacts),
}

/// The payload facts of a run event.
pub(super) struct RunFacts {
    event: RunEvent,
    run_id: Named,
    outdir: Named,
    /// run_started_v1: `window_signature_ref.hash` (bound when the entry is ours).
    window_hash: Option<String>,
    /// run_started_v1: `distributed`, when an object.
    distributed: Option<Map<String, Value>>,
    /// gate_decision_v1 under strict binding: its divergence key (counted when ours). Read
    /// for every such line, since only the ordered pass can tell whether it is ours.
    gate: Option<GateKey>,
}

/// A run event (`RUN_EVENTS`), as far as the bindings tell them apart.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RunEvent {
    Started,
    OverridesApplied,
    GateDecision,
    /// Any other run event (capsule_opened_v1): it only counts.
    Other,
}

/// A payload string (after Python's `strip()`) against the value this capsule expects.
pub(super) enum Named {
    /// Absent, not a string, or blank.
    Absent,
    /// Textually the expected value.
    Expected,
    Other(String),
}

impl LineExtract for FactsReader<'_> {
    type Facts = LineFacts;

    fn extract(&self, line: ObjRef<'_>) -> LineFacts {
        let event = line
            .get("event")
            .filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
            .or_else(|| line.get("event_type"));
        let Some(name) = event.and_then(ValueRef::as_str) else {
            return LineFacts::Other;
        };
        let event = match &*name {
            "run_started_v1" => RunEvent::Started,
            "run_overrides_applied_v1" => RunEvent::OverridesApplied,
            "gate_decision_v1" => RunEvent::GateDecision,
            other if RUN_EVENTS.contains(&other) => RunEvent::Other,
            _ => return LineFacts::Other,
        };
        let Some(payload) = line.get("payload").and_then(ValueRef::as_object) else {
            return LineFacts::RunWithoutPayload;
        };
        let mut facts = RunFacts {
            event,
            run_id: self.named(payload, "run_id", self.run_id),
            outdir: self.named(payload, "outdir", self.outdir),
            window_hash: None,
            distributed: None,
            gate: None,
        };
        match event {
            RunEvent::Started => {
                facts.window_hash = payload
                    .get("window_signature_ref")
                    .and_then(ValueRef::as_object)
                    .and_then(|r| r.get("hash"))
                    .and_then(ValueRef::as_str)
                    .map(Cow::into_owned);
                facts.distributed = payload
                    .get("distributed")
                    .and_then(ValueRef::as_object)
                    .map(ObjRef::to_map);
            }
            RunEvent::GateDecision if self.strict_binding => facts.gate = gate_tuple(payload),
            _ => {}
        }
        LineFacts::Run(facts)
    }
}

/// The divergence key of a journal gate decision: its integer `iter`, its decision as
/// the reader normalizes it, and the digest of its audit as recorded.
fn gate_tuple(payload: ObjRef<'_>) -> Option<GateKey> {
    let iter = payload.get("iter").and_then(ValueRef::as_i64)?;
    let decision = payload
        .get("decision")
        .and_then(ValueRef::as_str)
        .map(|d| crate::pyrepr::py_strip_lower(&d))
        .and_then(|d| decision_name(&d))?;
    Some((iter, decision, audit_digest(payload.get("audit"), false)))
}

impl BindingFacts {
    /// Takes in one JSON-object line of the journal (accepted by the chain or not), in
    /// line order.
    pub(super) fn observe(&mut self, line: &LineFacts, exp: &Expected) {
        let facts = match line {
            LineFacts::Other => return,
            LineFacts::RunWithoutPayload => {
                self.run_events += 1;
                return;
            }
            LineFacts::Run(facts) => facts,
        };
        self.run_events += 1;
        let run_id = match &facts.run_id {
            Named::Absent => None,
            Named::Expected => Some(exp.run_id.as_str()),
            Named::Other(r) => Some(r.as_str()),
        };
        // Every line of a run names the same run: look before allocating.
        if let Some(r) = run_id
            && !self.run_ids.contains(r)
        {
            self.run_ids.insert(r.to_owned());
        }
        let outdir_ok = match &facts.outdir {
            Named::Absent => false,
            Named::Expected => true,
            Named::Other(o) => {
                let ok = exp.outdir_matches(o);
                if !ok && !self.outdir_mismatches.contains(o) {
                    self.outdir_mismatches.insert(o.clone());
                }
                ok
            }
        };
        let ours = matches!(facts.run_id, Named::Expected) && outdir_ok;
        match facts.event {
            RunEvent::Started => {
                if ours {
                    self.bindings.push(facts.window_hash.clone());
                }
                if let Some(d) = &facts.distributed {
                    self.last_distributed = Some(d.clone());
                }
            }
            RunEvent::OverridesApplied => self.has_overrides_event = true,
            RunEvent::GateDecision => {
                self.gate_decisions += 1;
                if ours
                    && exp.strict_binding
                    && let Some(key) = &facts.gate
                {
                    self.gate_tuples.push(*key);
                }
            }
            RunEvent::Other => {}
        }
    }
}

/// The contract's spelling of a gate decision (`DECISIONS`), if `d` is one.
pub(super) fn decision_name(d: &str) -> Option<&'static str> {
    DECISIONS.iter().copied().find(|known| *known == d)
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
        let (results_only, governance_only) = multiset_difference(results_keys, &f.gate_tuples);
        let side = |items: Vec<&GateKey>| -> String {
            let items: Vec<String> = items
                .iter()
                .map(|(i, d, h)| format!("({i}, {}, {})", repr_str(d), repr_str(h.as_str())))
                .collect();
            format!("[{}]", items.join(", "))
        };
        if results_only.is_empty() && governance_only.is_empty() {
            return Ok(());
        }
        let (results_only, governance_only) = (side(results_only), side(governance_only));
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

/// The keys that occur more often in `a` than in `b` and those that occur more often in `b`,
/// each once, in key order (the multiset balance of A6.5 step 3). Two sorted lists merged:
/// 10^5 gates per side made a `BTreeMap` of owned keys a visible share of strict validation.
fn multiset_difference<'k>(
    a: &'k [GateKey],
    b: &'k [GateKey],
) -> (Vec<&'k GateKey>, Vec<&'k GateKey>) {
    let sorted = |keys: &'k [GateKey]| {
        let mut refs: Vec<&GateKey> = keys.iter().collect();
        refs.sort_unstable();
        refs
    };
    let (a, b) = (sorted(a), sorted(b));
    let (mut only_a, mut only_b) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // The smallest key still ahead on either side, and how often each side holds it.
        let key = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => (*x).min(*y),
            (Some(x), None) => *x,
            (None, Some(y)) => *y,
            (None, None) => break,
        };
        let start = (i, j);
        while a.get(i) == Some(&key) {
            i += 1;
        }
        while b.get(j) == Some(&key) {
            j += 1;
        }
        let balance = (i - start.0) as i64 - (j - start.1) as i64;
        if balance > 0 {
            only_a.push(key);
        } else if balance < 0 {
            only_b.push(key);
        }
    }
    (only_a, only_b)
}

/// How one member of the normalized audit is derived from the recorded audit (A6.5
/// "Audit digest").
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// `evaluated`, always present: Python truthiness of the recorded value (journal side),
    /// pydantic's lax bool (results side, `typed`); absent is false.
    Evaluated,
    /// `reason`/`policy` when present and not null: Python `str()` of the value.
    Text,
    /// `worst_DW`/`eps_eff` (or the named fallback key) when present and not null: the value,
    /// as a float on the results side.
    Number(&'static str),
    /// `per_metric_tv`, always present: the recorded object (else `{}`) with each value as a
    /// float on the results side and negative zero made positive.
    PerMetricTv,
    /// Any other contract key when present and not null: the value as recorded.
    Extra,
}

/// The normalized audit's members in canonical key order (byte order, checked by a test),
/// so its canonical text is written member by member with no map and no sort.
const NORMALIZED_AUDIT: [(&str, Rule); 21] = [
    ("aggregation_method", Rule::Extra),
    ("base_reason", Rule::Extra),
    ("change_reason", Rule::Extra),
    ("ddp_agg", Rule::Extra),
    ("ddp_barrier_status", Rule::Extra),
    ("eps_eff", Rule::Number("eps_eff_value")),
    ("eps_regime_eff", Rule::Extra),
    ("evaluated", Rule::Evaluated),
    ("evidence_total", Rule::Extra),
    ("min_evidence", Rule::Extra),
    ("per_metric_tv", Rule::PerMetricTv),
    ("policy", Rule::Text),
    ("reason", Rule::Text),
    ("regime_check_ran", Rule::Extra),
    ("regime_eps_eff", Rule::Extra),
    ("regime_ok", Rule::Extra),
    ("regime_ref_ready", Rule::Extra),
    ("regime_ref_windows", Rule::Extra),
    ("regime_worst_DW", Rule::Extra),
    ("world_size", Rule::Extra),
    ("worst_DW", Rule::Number("worst_dw")),
];

/// An audit digest (A6.5 "Audit digest"): the first 12 hex digits of the normalized
/// audit's canonical hash, or `unhashable`. Held inline: a strict validation keeps one per
/// gate on each side (10^5 and more).
#[derive(Debug, Clone, Copy)]
pub(super) struct AuditDigest {
    text: [u8; 12],
    len: u8,
}

impl AuditDigest {
    const UNHASHABLE: &str = "unhashable";

    fn of_hash(hash: &[u8; 32]) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0; 12];
        for (pair, byte) in text.chunks_exact_mut(2).zip(hash) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        AuditDigest { text, len: 12 }
    }

    fn unhashable() -> Self {
        let mut text = [0; 12];
        text[..Self::UNHASHABLE.len()].copy_from_slice(Self::UNHASHABLE.as_bytes());
        AuditDigest {
            text,
            len: Self::UNHASHABLE.len() as u8,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.text[..usize::from(self.len)]
    }

    /// The digest text.
    pub(super) fn as_str(&self) -> &str {
        // Hex digits or `unhashable`: always ASCII.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

// Compared as the text it is, so keys sort as the strings they stand for.
impl PartialEq for AuditDigest {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for AuditDigest {}

impl PartialOrd for AuditDigest {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AuditDigest {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

/// The audit digest of `audit` (a non-object digests as `{}`). `typed` applies the
/// results-side float coercion of the typed fields.
pub(super) fn audit_digest(audit: Option<ValueRef<'_>>, typed: bool) -> AuditDigest {
    thread_local! {
        // One buffer per thread for the normalized text (a digest per gate per side).
        static TEXT: std::cell::RefCell<String> = std::cell::RefCell::new(String::with_capacity(512));
    }
    if let Some(ValueRef::Canonical(CanonValue::Object(recorded))) = audit
        && let Some(text) = verbatim_normalized(recorded, typed)
    {
        return AuditDigest::of_hash(&veriscope_canon::sha256_digest(text.as_bytes()));
    }
    TEXT.with_borrow_mut(|text| {
        text.clear();
        match write_normalized_audit(text, audit.and_then(ValueRef::as_object), typed) {
            Ok(()) => AuditDigest::of_hash(&veriscope_canon::sha256_digest(text.as_bytes())),
            Err(_) => AuditDigest::unhashable(),
        }
    })
}

/// The audit's own canonical text when it is already its normalized audit, as a writer's
/// audit usually is: only members of the normalized audit, none null, `evaluated` a bool,
/// `reason`/`policy` strings, `per_metric_tv` an object without a negative value (zero
/// sign), and on the results side every float-coerced value a float token already (which
/// in canonical text is Python's `repr` of it). Then its text is the normalized text, with
/// nothing to rewrite.
fn verbatim_normalized<'t>(audit: &CanonObject<'t>, typed: bool) -> Option<&'t str> {
    let is_float = |v: &CanonValue<'_>| matches!(v, CanonValue::Float(..));
    let no_sign = |v: &CanonValue<'_>| match v {
        CanonValue::Int(t) | CanonValue::Float(t, _) => !t.starts_with('-'),
        _ => true,
    };
    let (mut next, mut evaluated, mut tv) = (0, false, false);
    for (key, value) in audit.iter() {
        // Canonical members come in key order, as the table is: one forward walk.
        while next < NORMALIZED_AUDIT.len() && key_order(NORMALIZED_AUDIT[next].0, key).is_lt() {
            next += 1;
        }
        let (name, rule) = NORMALIZED_AUDIT.get(next)?;
        if !key_order(name, key).is_eq() {
            return None;
        }
        let kept = match rule {
            Rule::Evaluated => {
                evaluated = true;
                matches!(value, CanonValue::Bool(_))
            }
            Rule::Text => matches!(value, CanonValue::Str(_)),
            Rule::Number(_) if typed => is_float(value),
            Rule::Number(_) | Rule::Extra => !value.is_null(),
            Rule::PerMetricTv => {
                tv = true;
                value
                    .as_object()
                    .is_some_and(|m| m.iter().all(|(_, v)| no_sign(v) && (!typed || is_float(v))))
            }
        };
        if !kept {
            return None;
        }
        next += 1;
    }
    (evaluated && tv).then(|| audit.text())
}

/// Writes the canonical text of the normalized audit of `audit` (a non-object reads as `{}`).
fn write_normalized_audit(
    out: &mut String,
    audit: Option<ObjRef<'_>>,
    typed: bool,
) -> Result<(), CanonError> {
    let recorded = AuditMembers::of(audit);
    out.push('{');
    let mut first = true;
    for (slot, (key, rule)) in NORMALIZED_AUDIT.into_iter().enumerate() {
        let get = recorded.slots[slot];
        let present = get.filter(|v| !v.is_null());
        let value = match rule {
            Rule::Evaluated | Rule::PerMetricTv => get,
            Rule::Text | Rule::Extra => present,
            Rule::Number(fallback) => present.or_else(|| recorded.fallback(fallback)),
        };
        if value.is_none() && !matches!(rule, Rule::Evaluated | Rule::PerMetricTv) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        out.push('"');
        out.push_str(key);
        out.push_str("\":");
        match (rule, value) {
            (Rule::Evaluated, v) => {
                let evaluated = v.is_some_and(|v| {
                    if typed {
                        lax_bool_of(v)
                    } else {
                        v.with_value(truthy)
                    }
                });
                out.push_str(if evaluated { "true" } else { "false" });
            }
            (Rule::PerMetricTv, v) => {
                write_per_metric_tv(out, v.and_then(ValueRef::as_object), typed)?
            }
            (Rule::Text, Some(v)) => write_str_value(out, v),
            (Rule::Number(_), Some(v)) if typed => Scalar::as_float(v).write(out)?,
            (_, Some(v)) => v.write_canonical(out)?,
            (_, None) => unreachable!("absent optional members were skipped above"),
        }
    }
    out.push('}');
    Ok(())
}

/// The members of a recorded audit that the normalized audit reads, found in one pass over
/// the audit (a lookup per normalized key cost more than the hash).
struct AuditMembers<'a> {
    /// By position in [`NORMALIZED_AUDIT`].
    slots: [Option<ValueRef<'a>>; NORMALIZED_AUDIT.len()],
    /// The fallback keys of [`Rule::Number`] members, with their values.
    fallbacks: [(&'static str, Option<ValueRef<'a>>); 2],
}

impl<'a> AuditMembers<'a> {
    fn of(audit: Option<ObjRef<'a>>) -> Self {
        let mut found = AuditMembers {
            slots: [None; NORMALIZED_AUDIT.len()],
            fallbacks: [("eps_eff_value", None), ("worst_dw", None)],
        };
        // Both forms give members in key order, as the table is, so one forward walk of
        // the table finds them all; a key out of order restarts the walk (any order works).
        let mut next = 0;
        for (key, value) in audit.into_iter().flat_map(ObjRef::members) {
            if next > 0 && key_order(key, NORMALIZED_AUDIT[next - 1].0).is_le() {
                next = 0;
            }
            while next < NORMALIZED_AUDIT.len() && key_order(NORMALIZED_AUDIT[next].0, key).is_lt()
            {
                next += 1;
            }
            if next < NORMALIZED_AUDIT.len() && key_order(NORMALIZED_AUDIT[next].0, key).is_eq() {
                found.slots[next] = Some(value);
                next += 1;
            } else if let Some(fb) = found
                .fallbacks
                .iter_mut()
                .find(|(name, _)| key_order(name, key).is_eq())
            {
                fb.1 = Some(value);
            }
        }
        found
    }

    /// The value of fallback key `name`, when present and not null.
    fn fallback(&self, name: &str) -> Option<ValueRef<'a>> {
        self.fallbacks
            .iter()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| *v)
            .filter(|v| !v.is_null())
    }
}

/// Byte order of two keys (`str`'s order), compared inline: keys are short and mostly differ
/// in their first bytes, where a `memcmp` call costs more than the comparison.
fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let common = a.len().min(b.len());
    for i in 0..common {
        if a[i] != b[i] {
            return a[i].cmp(&b[i]);
        }
    }
    a.len().cmp(&b.len())
}

/// `{name: zero_sign(value)}` over `per_metric_tv`, values as floats on the results side.
fn write_per_metric_tv(
    out: &mut String,
    tv: Option<ObjRef<'_>>,
    typed: bool,
) -> Result<(), CanonError> {
    let members = || tv.into_iter().flat_map(ObjRef::members);
    // Both forms keep keys in byte order; sort only if a map ever did not (canonical text
    // needs sorted keys whatever the map's order).
    let sorted = members()
        .zip(members().skip(1))
        .all(|((a, _), (b, _))| a.as_bytes() < b.as_bytes());
    if sorted {
        return write_tv_members(out, members(), typed);
    }
    let mut entries: Vec<_> = members().collect();
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    write_tv_members(out, entries.into_iter(), typed)
}

fn write_tv_members<'v>(
    out: &mut String,
    members: impl Iterator<Item = (&'v str, ValueRef<'v>)>,
    typed: bool,
) -> Result<(), CanonError> {
    out.push('{');
    for (i, (name, v)) in members.enumerate() {
        if i > 0 {
            out.push(',');
        }
        veriscope_canon::write_canonical_str(out, name);
        out.push(':');
        let scalar = if typed {
            Scalar::as_float(v)
        } else {
            Scalar::Raw(v)
        };
        scalar.zero_sign().write(out)?;
    }
    out.push('}');
    Ok(())
}

/// A normalized numeric member: a float written as Python's `repr`, `null`, or the value as
/// recorded.
#[derive(Clone, Copy)]
enum Scalar<'a> {
    Float(f64),
    Null,
    Raw(ValueRef<'a>),
}

impl<'a> Scalar<'a> {
    /// The results-side coercion: numbers and numeric strings become floats (a non-finite
    /// one becomes `null`, as `float_value` gives), anything else stays as recorded.
    fn as_float(v: ValueRef<'a>) -> Self {
        // A canonical float token is already Python's `repr` of its value: keep it as
        // written rather than format the float again.
        if let ValueRef::Canonical(CanonValue::Float(..)) = v {
            return Scalar::Raw(v);
        }
        let x = match v.number_token() {
            Some(token) => token.parse::<f64>().ok(),
            None => v.as_str().and_then(|s| s.trim().parse::<f64>().ok()),
        };
        match x {
            Some(x) if x.is_finite() => Scalar::Float(x),
            Some(_) => Scalar::Null,
            None => Scalar::Raw(v),
        }
    }

    /// A number equal to negative zero becomes the float `0.0` (any spelling, `-0` too).
    fn zero_sign(self) -> Self {
        let x = match self {
            Scalar::Float(x) => Some(x),
            // Only a token with a sign can be negative zero.
            Scalar::Raw(v) => v
                .number_token()
                .filter(|t| t.starts_with('-'))
                .and_then(|t| t.parse::<f64>().ok()),
            Scalar::Null => None,
        };
        if x.is_some_and(|x| x == 0.0 && x.is_sign_negative()) {
            Scalar::Float(0.0)
        } else {
            self
        }
    }

    fn write(self, out: &mut String) -> Result<(), CanonError> {
        match self {
            Scalar::Float(x) => veriscope_canon::write_python_float_repr(out, x),
            Scalar::Null => out.push_str("null"),
            Scalar::Raw(v) => v.write_canonical(out)?,
        }
        Ok(())
    }
}

/// Python `str(v)` as a canonical JSON string.
fn write_str_value(out: &mut String, v: ValueRef<'_>) {
    match v {
        // A view's string body is already its canonical text.
        ValueRef::Canonical(CanonValue::Str(_)) => {
            let _ = v.write_canonical(out);
        }
        _ => match v.as_str() {
            Some(s) => veriscope_canon::write_canonical_str(out, &s),
            None => veriscope_canon::write_canonical_str(out, &v.with_value(str_value)),
        },
    }
}

/// pydantic's lax bool of `evaluated` on the results side; an invalid one counts as false.
fn lax_bool_of(v: ValueRef<'_>) -> bool {
    match v {
        ValueRef::Canonical(CanonValue::Bool(b)) => *b,
        _ => v.with_value(|v| lax_bool(v, &[]).unwrap_or(false)),
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

/// A payload string after Python's `strip()`, when not empty.
fn stripped<'a>(payload: ObjRef<'a>, key: &str) -> Option<Cow<'a, str>> {
    let text = match payload.get(key)?.as_str()? {
        Cow::Borrowed(s) => Cow::Borrowed(crate::pyrepr::py_strip(s)),
        Cow::Owned(s) => Cow::Owned(crate::pyrepr::py_strip(&s).to_owned()),
    };
    (!text.is_empty()).then_some(text)
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
    use proptest::prelude::*;
    use serde_json::json;
    use veriscope_canon::view::parse_canonical;

    use super::*;

    /// The digest as A6.5 defines it, built as a `Map` and hashed whole (the implementation
    /// before the member-by-member writer; kept as the reference the writer must equal).
    fn reference_digest(audit: &Value, typed: bool) -> String {
        let as_float = |v: &Value| {
            let x = match v {
                Value::Number(n) => n.to_string().parse::<f64>().ok(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            x.map_or_else(|| v.clone(), veriscope_canon::float_value)
        };
        let zero_sign = |v: Value| match &v {
            Value::Number(n)
                if n.to_string()
                    .parse::<f64>()
                    .is_ok_and(|x| x == 0.0 && x.is_sign_negative()) =>
            {
                veriscope_canon::float_value(0.0)
            }
            _ => v,
        };
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
                out.insert(k.into(), Value::String(str_value(v)));
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
        for (k, rule) in NORMALIZED_AUDIT {
            if matches!(rule, Rule::Extra)
                && let Some(v) = a.get(k).filter(|v| !v.is_null())
            {
                out.insert(k.into(), v.clone());
            }
        }
        veriscope_canon::sha256_hex(&Value::Object(out))
            .map_or_else(|_| "unhashable".to_owned(), |h| h[..12].to_owned())
    }

    /// Both forms of `text` (parsed, and its canonical view when it is canonical) give the
    /// reference digest on both sides.
    fn assert_digests_match(text: &str) {
        let parsed: Value = serde_json::from_str(text).unwrap();
        let view = parse_canonical(text);
        for typed in [false, true] {
            let want = reference_digest(&parsed, typed);
            assert_eq!(
                audit_digest(Some(ValueRef::Parsed(&parsed)), typed).as_str(),
                want,
                "{text} typed={typed}"
            );
            if let Some(view) = &view {
                assert_eq!(
                    audit_digest(Some(ValueRef::Canonical(view)), typed).as_str(),
                    want,
                    "{text} typed={typed}"
                );
            }
        }
    }

    #[test]
    fn normalized_members_are_in_canonical_key_order() {
        let keys: Vec<&str> = NORMALIZED_AUDIT.iter().map(|(k, _)| *k).collect();
        assert!(
            keys.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()),
            "{keys:?}"
        );
        let fallbacks = AuditMembers::of(None).fallbacks.map(|(k, _)| k);
        for (_, rule) in NORMALIZED_AUDIT {
            if let Rule::Number(fb) = rule {
                assert!(fallbacks.contains(&fb), "{fb}");
            }
        }
    }

    #[test]
    fn digest_equals_the_reference_on_unusual_audits() {
        for text in [
            "null",
            "[1]",
            "{}",
            r#"{"evaluated":true,"per_metric_tv":{"a":-0.0,"b":0,"c":"0.25","d":1e-05,"e":-0},"worst_DW":"1e400"}"#,
            r#"{"evaluated":"yes","reason":5,"policy":["p"],"worst_dw":0.5,"eps_eff_value":" 2 ","eps_eff":null}"#,
            r#"{"evaluated":0.0,"per_metric_tv":[1],"regime_ok":"yes","world_size":[1,{"b":2,"a":1e-07}]}"#,
            r#"{"evaluated":1,"reason":"a\"b\n\u0001é","ddp_agg":{"z":1,"a":null},"aggregation_method":null}"#,
            r#"{"evaluated":false,"worst_DW":1e400,"min_evidence":123456789012345678901234567890}"#,
            r#"{"evaluated":true,"per_metric_tv":{"x":1E2,"y":1e400,"é":"inf"},"eps_eff":-0.0}"#,
            r#"{"eps_eff":0.08,"evaluated":true,"evidence_total":16,"min_evidence":16,"per_metric_tv":{"var_out_k":0.08},"policy":"test","reason":"evaluated_pass","worst_DW":0.08}"#,
            // Near-verbatim audits: each differs from its normalized form in one place.
            r#"{"evaluated":false,"per_metric_tv":{}}"#,
            r#"{"evaluated":false,"per_metric_tv":{},"reason":null}"#,
            r#"{"evaluated":true,"per_metric_tv":{"a":1}}"#,
            r#"{"evaluated":true,"per_metric_tv":{"a":-0.0}}"#,
            r#"{"evaluated":true,"per_metric_tv":{"a":-1.5}}"#,
            r#"{"evaluated":true,"per_metric_tv":{"a":0.5},"worst_DW":0}"#,
            r#"{"evaluated":true,"per_metric_tv":{"a":0.5},"worst_dw":0.5}"#,
            r#"{"evaluated":true,"per_metric_tv":{"a":0.5},"other":1}"#,
            r#"{"evaluated":1,"per_metric_tv":{"a":0.5}}"#,
            r#"{"evaluated":true}"#,
            r#"{"per_metric_tv":{"a":0.5}}"#,
            r#"{"change_reason":{"k":[null,false]},"evaluated":true,"per_metric_tv":{"a":0.5},"reason":"r"}"#,
        ] {
            assert_digests_match(text);
        }
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!(null)),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|i| json!(i)),
            prop::sample::select(vec![
                "-0.0", "0.0", "1e-05", "1e+16", "0.08", "100.0", "-2.5", "-0", "1E2", "0.10"
            ])
            .prop_map(|t| serde_json::from_str(t).unwrap()),
            prop::sample::select(vec![
                "", "x", " 0.5 ", "1e-3", "inf", "é\n", "yes", "0", "true"
            ])
            .prop_map(|s| json!(s)),
        ]
    }

    fn audit() -> impl Strategy<Value = Value> {
        let names: Vec<&str> = NORMALIZED_AUDIT
            .iter()
            .map(|(k, _)| *k)
            .chain(["worst_dw", "eps_eff_value", "other"])
            .collect();
        let member = (prop::sample::select(names), scalar());
        let tv = prop::collection::btree_map("[a-c]{1,2}", scalar(), 0..3)
            .prop_map(|m| Value::Object(m.into_iter().collect()));
        (prop::collection::vec(member, 0..8), prop::option::of(tv)).prop_map(|(members, tv)| {
            let mut m: Map<String, Value> = members
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            if let Some(tv) = tv {
                m.insert("per_metric_tv".to_owned(), tv);
            }
            Value::Object(m)
        })
    }

    #[test]
    fn writer_audits_are_hashed_as_written() {
        let writer = r#"{"eps_eff":0.08,"evaluated":true,"evidence_total":16,"min_evidence":16,"per_metric_tv":{"var_out_k":0.08},"policy":"test","reason":"evaluated_pass","worst_DW":0.08}"#;
        let skip = r#"{"evaluated":false,"evidence_total":0,"min_evidence":16,"per_metric_tv":{},"policy":"test","reason":"not_evaluated"}"#;
        for text in [writer, skip] {
            let view = parse_canonical(text).unwrap();
            let CanonValue::Object(o) = &view else {
                unreachable!()
            };
            for typed in [false, true] {
                assert_eq!(verbatim_normalized(o, typed), Some(text), "{text}");
            }
        }
        for (text, typed) in [
            (r#"{"evaluated":true,"per_metric_tv":{"a":1}}"#, true),
            (r#"{"evaluated":true,"per_metric_tv":{"a":-0.0}}"#, false),
            (
                r#"{"evaluated":true,"per_metric_tv":{},"worst_DW":null}"#,
                false,
            ),
            (
                r#"{"evaluated":true,"per_metric_tv":{},"worst_dw":0.5}"#,
                false,
            ),
            (r#"{"evaluated":"yes","per_metric_tv":{}}"#, false),
            (r#"{"evaluated":true}"#, false),
        ] {
            let view = parse_canonical(text).unwrap();
            let CanonValue::Object(o) = &view else {
                unreachable!()
            };
            assert_eq!(verbatim_normalized(o, typed), None, "{text}");
        }
    }

    /// Audits as writers produce them (normalized members only, none null), where the
    /// digest is usually taken over the audit's own text.
    fn writer_audit() -> impl Strategy<Value = Value> {
        let value = prop_oneof![
            prop::sample::select(vec![
                "0.08",
                "1e-05",
                "16",
                "-0.0",
                "2.5",
                "\"r\"",
                "true",
                "[1,{\"a\":null}]"
            ])
            .prop_map(|t| serde_json::from_str::<Value>(t).unwrap()),
        ];
        let optional = prop::collection::btree_map(
            prop::sample::select(
                NORMALIZED_AUDIT
                    .iter()
                    .filter(|(k, _)| !matches!(*k, "evaluated" | "per_metric_tv"))
                    .map(|(k, _)| *k)
                    .collect::<Vec<_>>(),
            ),
            value.clone(),
            0..6,
        );
        let tv = prop::collection::btree_map("[a-c]", value, 0..3);
        (any::<bool>(), optional, tv).prop_map(|(evaluated, optional, tv)| {
            let mut m: Map<String, Value> = optional
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            m.insert("evaluated".to_owned(), Value::Bool(evaluated));
            m.insert(
                "per_metric_tv".to_owned(),
                Value::Object(tv.into_iter().collect()),
            );
            Value::Object(m)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// The verbatim shortcut and the writer agree with the reference on writer-like
        /// audits.
        #[test]
        fn digest_of_writer_audits_equals_the_reference(a in writer_audit()) {
            assert_digests_match(&veriscope_canon::to_canonical_string(&a).unwrap());
        }

        /// The writer equals the reference on random audits, parsed (as written by serde,
        /// and canonically) and read through the canonical view.
        #[test]
        fn digest_equals_the_reference(a in audit()) {
            assert_digests_match(&a.to_string());
            if let Ok(canonical) = veriscope_canon::to_canonical_string(&a) {
                assert_digests_match(&canonical);
            }
        }
    }

    fn gate_keys() -> impl Strategy<Value = Vec<GateKey>> {
        let digests: Vec<AuditDigest> = (0u8..3)
            .map(|i| AuditDigest::of_hash(&[i; 32]))
            .chain([AuditDigest::unhashable()])
            .collect();
        let key = (
            -1i64..3,
            prop::sample::select(DECISIONS.to_vec()),
            prop::sample::select(digests),
        );
        prop::collection::vec(key, 0..12)
    }

    proptest! {
        /// The sorted merge gives the keys, in key order, whose count differs between the
        /// sides, as the multiset balance (a map of counts) does.
        #[test]
        fn multiset_difference_is_the_balance(a in gate_keys(), b in gate_keys()) {
            let mut balance: std::collections::BTreeMap<GateKey, i64> = Default::default();
            for k in &a {
                *balance.entry(*k).or_default() += 1;
            }
            for k in &b {
                *balance.entry(*k).or_default() -= 1;
            }
            let side = |positive: bool| -> Vec<GateKey> {
                balance
                    .iter()
                    .filter(|(_, n)| if positive { **n > 0 } else { **n < 0 })
                    .map(|(k, _)| *k)
                    .collect()
            };
            let (only_a, only_b) = multiset_difference(&a, &b);
            prop_assert_eq!(only_a.into_iter().copied().collect::<Vec<_>>(), side(true));
            prop_assert_eq!(only_b.into_iter().copied().collect::<Vec<_>>(), side(false));
        }
    }

    #[test]
    fn digests_order_as_their_text() {
        let mut digests: Vec<AuditDigest> = (0u8..=255)
            .step_by(17)
            .map(|i| AuditDigest::of_hash(&[i; 32]))
            .chain([AuditDigest::unhashable()])
            .collect();
        digests.sort();
        let texts: Vec<&str> = digests.iter().map(AuditDigest::as_str).collect();
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, sorted);
        assert_eq!(texts.last(), Some(&"unhashable"));
        assert!(texts[..texts.len() - 1].iter().all(|t| t.len() == 12));
    }

    #[test]
    fn paths_print_like_python() {
        assert_eq!(python_path_str(Path::new("./a//b/")), "a/b");
        assert_eq!(python_path_str(Path::new("./")), ".");
        assert_eq!(python_path_str(Path::new("/x/./y")), "/x/y");
    }
}
