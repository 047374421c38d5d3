//! The live side of a run: feeds samples to the gate and journals every run-governance event
//! as it happens (contract_v1 §Governance Journal): `run_started_v1` (once, carrying the
//! runner's distributed context), `run_overrides_applied_v1` when the profile diverges from the
//! defaults, and one `gate_decision_v1` per check, so a killed run keeps its decisions.
//!
//! Durability (docs/wrapper.md "Durability"): the journal is opened with
//! [`Durability::Grouped`], so each entry is written to the file at once (a killed wrapper
//! leaves every decision it made) and synced at most every [`SYNC_INTERVAL`], from
//! [`RunObserver::tick`], and at finalization ([`LiveRun::finish_journal`]). `metrics.jsonl`
//! is checkpointed on the same schedule.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use veriscope_capsule::governance::{Durability, Journal};

use crate::artifacts::RunIdentity;
use crate::clock::{Clock, utc_seconds};
use crate::distributed::normalize_distributed;
use crate::gatelink::LiveGate;
use crate::metrics_log::MetricsLog;
use crate::notify::Notifier;
use crate::stream::{Hello, SampleLine};
use crate::supervise::{GateCheck, RunObserver};

/// Shortest time between two syncs of the journal (and checkpoints of `metrics.jsonl`):
/// an OS crash can lose at most about this much of the run's record; a killed wrapper
/// loses nothing from the journal.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(250);

/// How the wrapper opens its journal: group commit every [`SYNC_INTERVAL`].
pub const JOURNAL_DURABILITY: Durability = Durability::Grouped {
    interval: SYNC_INTERVAL,
};

/// Governance context fixed at run start.
#[derive(Debug, Clone)]
pub struct JournalContext {
    /// `argv` of run_started_v1 / run_overrides_applied_v1 (already redacted).
    pub argv: Vec<String>,
    pub entrypoint: Value,
    pub code_identity: Value,
    /// Distributed context from the launch environment, used when the runner says nothing.
    pub env_distributed: Value,
}

/// Gate + journal, driven by the supervision loop.
pub struct LiveRun {
    gate: Box<dyn LiveGate>,
    journal: Journal,
    id: RunIdentity,
    ctx: JournalContext,
    clock: Arc<dyn Clock>,
    started: bool,
    hello: Option<Hello>,
    metrics_log: Option<MetricsLog>,
    metrics_log_error: Option<String>,
    last_checkpoint: Instant,
    /// A periodic journal sync failed (reported once; finalization tries again).
    journal_sync_failed: bool,
    opening: Opening,
    resume: Option<ResumeState>,
    /// `--notify-cmd`: told about every live check (docs/notify.md).
    notifier: Option<Notifier>,
}

/// How the run's governance opens (docs/replay.md §3).
#[derive(Debug, Clone)]
pub enum Opening {
    /// A new capsule: `run_started_v1` (with these extra payload keys) and, when the profile
    /// diverges, `run_overrides_applied_v1`.
    Start { extra: Map<String, Value> },
    /// A resumed capsule: `capsule_opened_v1` with this payload; never a second
    /// `run_started_v1` (A6.5 DUPLICATE_RUN_STARTED).
    Reopen { payload: Value },
    /// `--override-contract`: `run_overrides_applied_v1` carrying `contract_override`, then a
    /// `run_started_v1` bound to the new window signature.
    Rebind {
        contract_override: Value,
        extra: Map<String, Value>,
    },
}

/// What a reopened run carries over from the recorded stream.
#[derive(Debug, Default)]
pub struct ResumeState {
    /// Checks the replay produced, to journal after the opening events (those already in the
    /// journal are skipped).
    pub replayed: Vec<GateCheck>,
    /// `(iter, decision)` already journaled for this run.
    pub journaled: HashSet<(u64, String)>,
    /// The gate has seen every sample up to this iteration: live samples at or before it
    /// are not fed (or recorded) twice.
    pub skip_through: Option<u64>,
    /// Recorded `loss` by iteration, compared with what the resumed runner re-emits.
    pub recorded_loss: BTreeMap<u64, Option<f64>>,
    /// Live samples skipped, and those among them whose loss differed from the record.
    pub skipped: u64,
    pub divergent: u64,
}

impl LiveRun {
    pub fn new(
        gate: Box<dyn LiveGate>,
        journal: Journal,
        id: RunIdentity,
        ctx: JournalContext,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            gate,
            journal,
            id,
            ctx,
            clock,
            started: false,
            hello: None,
            metrics_log: None,
            metrics_log_error: None,
            last_checkpoint: Instant::now(),
            journal_sync_failed: false,
            opening: Opening::Start { extra: Map::new() },
            resume: None,
            notifier: None,
        }
    }

    /// Sets how the governance opens (default: a plain `run_started_v1`).
    pub fn with_opening(mut self, opening: Opening) -> Self {
        self.opening = opening;
        self
    }

    /// Carries a reopened capsule's replay over.
    pub fn with_resume(mut self, resume: ResumeState) -> Self {
        self.resume = Some(resume);
        self
    }

    /// Tells `notifier` about every live gate check.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// The notifier, for the end-of-run notification once the capsule is final.
    pub fn take_notifier(&mut self) -> Option<Notifier> {
        self.notifier.take()
    }

    /// `(skipped, divergent)` live samples of a resumed run.
    pub fn resume_counts(&self) -> Option<(u64, u64)> {
        self.resume.as_ref().map(|r| (r.skipped, r.divergent))
    }

    /// Syncs every journal entry written so far (finalization, on every exit path).
    pub fn finish_journal(&mut self) -> Result<(), String> {
        self.journal
            .sync()
            .map_err(|e| format!("cannot sync governance_log.jsonl: {e}"))
    }

    /// [`LiveRun::finish_journal`] and [`LiveRun::finish_metrics_log`] at once: the two
    /// files are synced concurrently, each waiting on the disk rather than on the other.
    pub fn finish_records(&mut self) -> (Result<(), String>, Result<Option<Value>, String>) {
        let log = self.metrics_log.take();
        let log_error = self.metrics_log_error.take();
        let journal = &mut self.journal;
        std::thread::scope(|s| {
            let metrics = s.spawn(move || finish_log(log, log_error));
            let synced = journal
                .sync()
                .map_err(|e| format!("cannot sync governance_log.jsonl: {e}"));
            let metrics = metrics
                .join()
                .unwrap_or_else(|_| Err("cannot finish metrics.jsonl: writer panicked".into()));
            (synced, metrics)
        })
    }

    /// The journal, for inspection.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Records every accepted hello/sample line to `log` (metrics.jsonl).
    pub fn with_metrics_log(mut self, log: MetricsLog) -> Self {
        self.metrics_log = Some(log);
        self
    }

    /// Closes metrics.jsonl and returns its `metrics_ref`, or why it could not be kept.
    pub fn finish_metrics_log(&mut self) -> Result<Option<Value>, String> {
        finish_log(self.metrics_log.take(), self.metrics_log_error.take())
    }

    /// Recording the stream is best effort: a failure stops recording and is reported at
    /// finalization, but never interrupts the gate or the training.
    fn record(&mut self, write: impl FnOnce(&mut MetricsLog) -> std::io::Result<()>) {
        if let Some(log) = self.metrics_log.as_mut()
            && let Err(e) = write(log)
        {
            self.metrics_log_error = Some(format!("cannot write metrics.jsonl: {e}"));
            self.metrics_log = None;
        }
    }

    /// The runner's hello, if it sent one.
    pub fn hello(&self) -> Option<&Hello> {
        self.hello.as_ref()
    }

    /// Appends run_started_v1 (and run_overrides_applied_v1) unless already done. Called at
    /// hello, at the first sample of a hello-less stream, and at finalization.
    pub fn ensure_started(&mut self) -> anyhow::Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        let distributed = match self
            .hello
            .as_ref()
            .and_then(|h| h.fields.get("distributed"))
        {
            Some(Value::Object(d)) => normalize_distributed(d, &self.ctx.env_distributed),
            _ => self.ctx.env_distributed.clone(),
        };
        let started_base = json!({
            "run_id": self.id.run_id,
            "outdir": self.id.outdir,
            "argv": self.ctx.argv,
            "code_identity": self.ctx.code_identity,
            "window_signature_ref": self.id.window_ref(),
            "entrypoint": self.ctx.entrypoint,
            "distributed": distributed,
        });
        let started = |extra: &Map<String, Value>| {
            let mut payload = started_base.clone();
            for (k, v) in extra {
                payload[k] = v.clone();
            }
            payload
        };
        let overrides_base = json!({
            "run_id": self.id.run_id,
            "outdir": self.id.outdir,
            "overrides": self.id.overrides,
            "profile": self.id.profile(),
            "entrypoint": self.ctx.entrypoint,
            "argv": self.ctx.argv,
        });
        let overrides = |contract_override: Option<&Value>| {
            let mut payload = overrides_base.clone();
            if let Some(c) = contract_override {
                payload["contract_override"] = c.clone();
            }
            payload
        };
        match self.opening.clone() {
            Opening::Start { extra } => {
                self.append("run_started_v1", started(&extra))?;
                if !self.id.overrides.is_empty() {
                    self.append("run_overrides_applied_v1", overrides(None))?;
                }
            }
            Opening::Reopen { payload } => self.append("capsule_opened_v1", payload)?,
            Opening::Rebind {
                contract_override,
                extra,
            } => {
                self.append(
                    "run_overrides_applied_v1",
                    overrides(Some(&contract_override)),
                )?;
                self.append("run_started_v1", started(&extra))?;
            }
        }
        let replayed = self
            .resume
            .as_mut()
            .map(|r| std::mem::take(&mut r.replayed))
            .unwrap_or_default();
        for check in &replayed {
            self.journal_check(check)?;
        }
        Ok(())
    }

    /// Appends `gate_decision_v1` for `check`, unless this run's journal already holds it.
    fn journal_check(&mut self, check: &GateCheck) -> anyhow::Result<()> {
        let key = (check.iter, check.decision.as_str().to_owned());
        if self
            .resume
            .as_mut()
            .is_some_and(|r| r.journaled.remove(&key))
        {
            return Ok(());
        }
        let mut payload = json!({
            "run_id": self.id.run_id,
            "outdir": self.id.outdir,
            "iter": check.iter,
            "decision": check.decision.as_str(),
            "audit": check.audit,
        });
        if let Some(ok) = check.ok {
            payload["ok"] = json!(ok);
        }
        if let Some(warn) = check.warn {
            payload["warn"] = json!(warn);
        }
        let iter = check.iter;
        self.append("gate_decision_v1", payload)
            .map_err(|e| e.context(format!("gate check at iter {iter} not journaled")))
    }

    fn append(&mut self, event: &str, payload: Value) -> anyhow::Result<()> {
        let ts = utc_seconds(self.clock.now());
        self.journal
            .append(event, payload, None, &ts)
            .map_err(|e| anyhow::anyhow!("cannot append {event} to governance_log.jsonl: {e}"))?;
        Ok(())
    }
}

impl RunObserver for LiveRun {
    fn tick(&mut self) -> anyhow::Result<()> {
        if self.last_checkpoint.elapsed() >= SYNC_INTERVAL {
            self.last_checkpoint = Instant::now();
            self.record(MetricsLog::checkpoint);
        }
        if self.journal_sync_failed {
            return Ok(());
        }
        match self.journal.sync_if_due() {
            Ok(_) => Ok(()),
            Err(e) => {
                self.journal_sync_failed = true;
                Err(anyhow::anyhow!("cannot sync governance_log.jsonl: {e}"))
            }
        }
    }

    fn hello(&mut self, hello: &Hello) -> anyhow::Result<()> {
        self.hello = Some(hello.clone());
        // A reopened capsule's record already starts with the first attempt's hello; the
        // resumed runner's own is kept in run_config_resolved (runner.hello), so the record
        // reads as one uninterrupted stream (docs/replay.md §3).
        if self.resume.is_none() {
            self.record(|log| log.hello(&hello.fields));
        }
        self.ensure_started()
    }

    fn sample(&mut self, sample: &SampleLine) -> anyhow::Result<Option<GateCheck>> {
        self.ensure_started()?;
        if let Some(r) = self.resume.as_mut()
            && r.skip_through.is_some_and(|t| sample.iter <= t)
        {
            // Already recorded and seen by the gate (the runner resumed from an older
            // checkpoint than the last recorded sample).
            r.skipped += 1;
            let same = r
                .recorded_loss
                .get(&sample.iter)
                .is_none_or(|l| l.map(f64::to_bits) == sample.loss.map(f64::to_bits));
            if !same {
                r.divergent += 1;
            }
            return Ok(None);
        }
        self.record(|log| log.sample(sample));
        let Some(check) = self.gate.observe(sample) else {
            return Ok(None);
        };
        // The check stands even if journaling fails; the failure is reported as ours.
        let journaled = self.journal_check(&check);
        if let Some(notifier) = self.notifier.as_mut() {
            notifier.check(&check);
        }
        journaled.map(|()| Some(check))
    }
}

fn finish_log(log: Option<MetricsLog>, error: Option<String>) -> Result<Option<Value>, String> {
    if let Some(err) = error {
        return Err(err);
    }
    match log {
        Some(log) => log
            .finish()
            .map(Some)
            .map_err(|e| format!("cannot finish metrics.jsonl: {e}")),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::gatelink::{Cadence, build_gate};
    use veriscope_capsule::governance::{VerifyOptions, verify_log};

    fn live_run(dir: &std::path::Path) -> LiveRun {
        let journal =
            Journal::open_with(&dir.join("governance_log.jsonl"), JOURNAL_DURABILITY).unwrap();
        let cadence = Cadence {
            gate_window: 10,
            gate_warmup_iters: 10,
            metric_interval: 1,
        };
        let (gate, overrides) = build_gate("tuned_v0", Some(cadence)).unwrap();
        let id = RunIdentity {
            run_id: "abcdef012345".into(),
            outdir: dir.display().to_string(),
            window_hash: "0".repeat(64),
            gate_preset: "tuned_v0".into(),
            overrides,
            started_ts_utc: "2026-01-01T00:00:00Z".into(),
        };
        let ctx = JournalContext {
            argv: vec!["python3".into(), "train.py".into()],
            entrypoint: json!({"kind": "wrapper", "name": "veriscope run cmd"}),
            code_identity: json!({"package": "veriscope"}),
            env_distributed: crate::distributed::env_distributed(&BTreeMap::new()),
        };
        let clock = Arc::new(FixedClock("2026-01-01T00:00:01Z".parse().unwrap()));
        LiveRun::new(Box::new(gate), journal, id, ctx, clock)
    }

    fn sample(iter: u64) -> SampleLine {
        let wobble = (iter % 7) as f64 * 0.01;
        SampleLine {
            iter,
            metrics: BTreeMap::from([
                ("var_out_k".to_string(), Some(0.4 + wobble)),
                ("eff_dim".to_string(), Some(12.0 + wobble)),
                ("rankme".to_string(), Some(20.0 + wobble)),
                ("cos_disp".to_string(), Some(0.2 + wobble)),
            ]),
            loss: Some(2.0),
            ewma_loss: Some(2.0),
            grad_norm: None,
            timing: BTreeMap::new(),
        }
    }

    fn journaled_events(dir: &std::path::Path) -> Vec<String> {
        std::fs::read_to_string(dir.join("governance_log.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].to_string())
            .collect()
    }

    #[test]
    fn checks_are_on_file_at_once_and_synced_at_finish() {
        let dir = tempfile::tempdir().unwrap();
        let mut run = live_run(dir.path());
        let mut checks = 0;
        for iter in 0..60 {
            checks += usize::from(run.sample(&sample(iter)).unwrap().is_some());
        }
        assert!(checks >= 3, "{checks}");
        // Every check is in the file before its control line could be sent (contract_v1
        // §Governance Journal) even though no sync has happened yet.
        let events = journaled_events(dir.path());
        assert_eq!(events[0], "\"run_started_v1\"");
        assert_eq!(
            events
                .iter()
                .filter(|e| *e == "\"gate_decision_v1\"")
                .count(),
            checks
        );
        assert_eq!(run.journal().unsynced_entries(), events.len() as u64);
        run.finish_journal().unwrap();
        assert_eq!(run.journal().unsynced_entries(), 0);
        let report = verify_log(
            &dir.path().join("governance_log.jsonl"),
            &VerifyOptions::default(),
        )
        .unwrap();
        assert!(report.is_valid(), "{:?}", report.errors);
        assert_eq!(report.accepted, events.len());
    }

    #[test]
    fn tick_group_commits_once_the_interval_has_passed() {
        let dir = tempfile::tempdir().unwrap();
        let mut run = live_run(dir.path());
        run.sample(&sample(0)).unwrap();
        // `sample` never syncs; the loop's tick does, once the interval has passed.
        std::thread::sleep(SYNC_INTERVAL);
        run.tick().unwrap();
        assert_eq!(run.journal().unsynced_entries(), 0);
    }
}
