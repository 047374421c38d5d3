//! Reopening an existing capsule (docs/replay.md §3): `run --resume OUTDIR` continues a
//! partial capsule under its persisted contract, `--override-contract` continues it under a
//! new one, `--fork` branches it into a new capsule.
//!
//! This module reads what the capsule recorded: its run config and contract, the recorded
//! metrics stream (the gate's input, replayed to restore the gate's state) and the gate
//! decisions already journaled (so none is journaled twice).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use veriscope_contracts::execution;
use veriscope_gate::engine::GateConfig;

use crate::artifacts::{self, WINDOW_SIGNATURE};
use crate::execution::RunSeed;
use crate::gatelink::LiveGate;
use crate::metrics_log::METRICS_LOG;
use crate::stream::{Line, SampleLine, StreamItem, StreamParser};
use crate::supervise::GateCheck;
use crate::wrapper::{GOVERNANCE_LOG, RunError};

/// Checkpoint directory inside a capsule (`VERISCOPE_CKPT_DIR`).
pub const CHECKPOINT_DIR: &str = "checkpoints";

/// How a capsule is reopened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReopenMode {
    /// Same run, same contract.
    Resume,
    /// Same run, the requested contract replaces the persisted one.
    OverrideContract,
    /// A new run in a new capsule (`None`: `<source>-fork-<stamp>`).
    Fork { outdir: Option<PathBuf> },
}

/// `--resume OUTDIR` with its mode.
#[derive(Debug, Clone)]
pub struct Reopen {
    pub source: PathBuf,
    pub mode: ReopenMode,
}

/// What the source capsule says about its run.
#[derive(Debug, Clone)]
pub struct PersistedRun {
    pub dir: PathBuf,
    pub run_config: Value,
    pub run_id: String,
    pub kind: String,
    pub gate: GateConfig,
    pub gate_contract_hash: String,
    /// `overrides` of the run config (profile overrides).
    pub overrides: Map<String, Value>,
    pub started_ts_utc: String,
    pub window_hash: String,
    pub seed: Option<RunSeed>,
    /// The forwarded arguments, `None` when the capsule holds them redacted.
    pub forwarded_args: Option<Vec<String>>,
    /// results.json exists and the run was not partial.
    pub complete: bool,
    pub strict: bool,
    /// Attempts recorded so far (1 for a capsule never resumed).
    pub attempts: u64,
}

fn invalid(msg: impl Into<String>) -> RunError {
    RunError::Invalid(msg.into())
}

/// Reads and checks the source capsule's run config and contract. A contract this build
/// cannot run is `UNSUPPORTED_CONTRACT`; an inconsistent one `CONTRACT_MISMATCH` (both exit
/// 2, nothing written).
pub fn read_persisted(dir: &Path) -> Result<PersistedRun, RunError> {
    let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let rc_path = dir.join("run_config_resolved.json");
    let text = fs::read_to_string(&rc_path).map_err(|e| {
        invalid(format!(
            "cannot resume {}: {} is not readable ({e}); --resume needs a capsule written by `veriscope run`",
            dir.display(),
            rc_path.display()
        ))
    })?;
    let rc: Value = serde_json::from_str(&text).map_err(|e| {
        invalid(format!(
            "cannot resume: {} is not JSON ({e})",
            rc_path.display()
        ))
    })?;
    let field = |ptr: &str| rc.pointer(ptr).and_then(Value::as_str).map(str::to_owned);
    let run_id = field("/run/run_id").ok_or_else(|| {
        invalid(format!(
            "cannot resume: {} has no run.run_id",
            rc_path.display()
        ))
    })?;
    let kind = field("/run/kind").unwrap_or_default();
    let ws_text = fs::read_to_string(dir.join(WINDOW_SIGNATURE)).map_err(|e| {
        invalid(format!(
            "cannot resume {}: {WINDOW_SIGNATURE} is not readable ({e})",
            dir.display()
        ))
    })?;
    let ws: Value = serde_json::from_str(&ws_text).map_err(|e| {
        invalid(format!(
            "cannot resume: {WINDOW_SIGNATURE} is not JSON ({e})"
        ))
    })?;
    let window_hash = veriscope_canon::window_signature_hash(&ws).map_err(|e| {
        invalid(format!(
            "cannot resume: {WINDOW_SIGNATURE} cannot be hashed ({e})"
        ))
    })?;
    let (gate, gate_contract_hash) = match rc.get("gate_contract") {
        Some(gc) => persisted_contract(gc)?,
        None => legacy_contract(&rc, &window_hash)?,
    };
    // The seed keeps the source it was first resolved from, so a resumed run's manifest
    // (and its hash) is the uninterrupted run's.
    let seed_source = match rc.pointer("/manifest/seed_source").and_then(Value::as_str) {
        Some("flag") => "flag",
        Some("env") => "env",
        Some("default") => "default",
        Some("runner_args") => "runner_args",
        _ => "persisted",
    };
    let seed = rc
        .pointer("/manifest/run_seed")
        .and_then(Value::as_u64)
        .map(|value| RunSeed {
            value,
            source: seed_source,
        });
    // Arguments recorded with a secret masked cannot be replayed: the user gives them again.
    let forwarded_args = rc
        .pointer("/argv/raw_forwarded_args")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .filter(|a| !a.iter().any(|x| x.contains(crate::envcapture::REDACTED)));
    let complete = dir.join("results.json").exists()
        && rc.get("partial").and_then(Value::as_bool) != Some(true);
    let attempts = rc
        .pointer("/lineage/attempts")
        .and_then(Value::as_array)
        .map_or(1, |a| a.len().max(1) as u64);
    Ok(PersistedRun {
        run_id,
        kind,
        overrides: rc
            .get("overrides")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
        started_ts_utc: field("/started_ts_utc").unwrap_or_default(),
        window_hash,
        seed,
        forwarded_args,
        complete,
        strict: rc.pointer("/determinism/mode").and_then(Value::as_str) == Some("strict"),
        attempts,
        gate,
        gate_contract_hash,
        run_config: rc,
        dir,
    })
}

/// Checks a persisted `gate_contract` (execution_contract "Worker execution asserts") and
/// rebuilds its configuration.
fn persisted_contract(gc: &Value) -> Result<(GateConfig, String), RunError> {
    let problems = execution::persisted_problems(gc);
    if !problems.is_empty() {
        return Err(invalid(format!(
            "CONTRACT_MISMATCH the capsule's persisted gate contract is inconsistent:\n  {}",
            problems.join("\n  ")
        )));
    }
    let material = &gc["material"];
    let unsupported = execution::unsupported(material);
    if !unsupported.is_empty() {
        let tokens: Vec<String> = unsupported.iter().map(|u| u.token()).collect();
        return Err(invalid(format!(
            "{}\nThis build of veriscope cannot run the capsule's gate contract; resume it with the build that wrote it.",
            tokens.join("\n")
        )));
    }
    let cfg = GateConfig::from_normalized(&material["normalized_gate_config"]).map_err(|e| {
        invalid(format!(
            "UNSUPPORTED_CONTRACT field=normalized_gate_config: {e}"
        ))
    })?;
    let hash = gc["hash"].as_str().unwrap_or_default().to_owned();
    Ok((cfg, hash))
}

/// A capsule written before contracts were persisted: the contract is attached
/// deterministically from its recorded preset and cadence, when that reproduces the
/// capsule's window signature exactly (execution_contract "legacy runs ... get one attached
/// deterministically on first continue/resume").
fn legacy_contract(rc: &Value, window_hash: &str) -> Result<(GateConfig, String), RunError> {
    let preset = rc.pointer("/gate/gate_preset").and_then(Value::as_str);
    let cadence = rc
        .pointer("/gate/cadence")
        .and_then(crate::gatelink::Cadence::from_json);
    let rebuilt = preset.and_then(|p| {
        let cfg = GateConfig::preset(p).ok()?;
        match cadence {
            Some(c) => cfg
                .with_cadence(c.gate_window, c.gate_warmup_iters, c.metric_interval)
                .ok(),
            None => Some(cfg),
        }
    });
    let Some(cfg) = rebuilt else {
        return Err(invalid(
            "UNSUPPORTED_CONTRACT field=gate_contract value=missing: the capsule records no gate contract and no usable gate preset",
        ));
    };
    let ws = artifacts::window_signature(&cfg.window_signature_content(), "1970-01-01T00:00:00Z");
    if veriscope_canon::window_signature_hash(&ws).ok().as_deref() != Some(window_hash) {
        return Err(invalid(
            "UNSUPPORTED_CONTRACT field=gate_contract value=missing: the capsule records no gate contract, and its preset and cadence do not reproduce its window signature",
        ));
    }
    let hash = cfg.contract_hash();
    Ok((cfg, hash))
}

/// The recorded metrics stream of a capsule.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Every complete, well-formed line (with its `\n`), in order: what the reopened
    /// metrics.jsonl keeps.
    pub lines: Vec<String>,
    pub samples: Vec<SampleLine>,
    /// `loss` by iteration, to compare a resumed runner's re-emitted samples.
    pub loss_by_iter: BTreeMap<u64, Option<f64>>,
    /// Lines dropped (a torn last line of a killed wrapper, malformed lines).
    pub dropped: u64,
}

impl Recorded {
    /// Last recorded sample iteration.
    pub fn last_iter(&self) -> Option<u64> {
        self.samples.last().map(|s| s.iter)
    }
}

/// Reads `metrics.jsonl` of `dir` (absent: nothing recorded).
pub fn read_recorded(dir: &Path) -> io::Result<Recorded> {
    let bytes = match fs::read(dir.join(METRICS_LOG)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Recorded::default()),
        Err(e) => return Err(e),
    };
    let mut rec = Recorded::default();
    let mut parser = StreamParser::default();
    let complete_len = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    if complete_len < bytes.len() {
        rec.dropped += 1;
    }
    for raw in bytes[..complete_len].split(|b| *b == b'\n') {
        if raw.is_empty() {
            continue;
        }
        let Ok(text) = std::str::from_utf8(raw) else {
            rec.dropped += 1;
            continue;
        };
        let kept = match parser.feed(&Line::Complete(raw.to_vec())) {
            Some(StreamItem::Sample(s)) => {
                rec.loss_by_iter.insert(s.iter, s.loss);
                rec.samples.push(s);
                true
            }
            // A hello (the first, or a resumed attempt's) is kept as recorded.
            _ => text.contains("\"type\":\"hello\""),
        };
        if kept {
            rec.lines.push(format!("{text}\n"));
        } else {
            rec.dropped += 1;
        }
    }
    Ok(rec)
}

/// `(iter, decision)` of every `gate_decision_v1` the journal holds for `run_id`.
pub fn journaled_decisions(dir: &Path, run_id: &str) -> io::Result<HashSet<(u64, String)>> {
    let text = match fs::read_to_string(dir.join(GOVERNANCE_LOG)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(e) => return Err(e),
    };
    let mut out = HashSet::new();
    for line in text.split('\n').filter(|l| l.contains("gate_decision_v1")) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let p = &v["payload"];
        if v["event"] == "gate_decision_v1"
            && p["run_id"] == run_id
            && let (Some(iter), Some(d)) = (p["iter"].as_u64(), p["decision"].as_str())
        {
            out.insert((iter, d.to_owned()));
        }
    }
    Ok(out)
}

/// Feeds the recorded samples to `gate`; the checks they complete, in order.
pub fn replay(gate: &mut dyn LiveGate, samples: &[SampleLine]) -> Vec<GateCheck> {
    samples.iter().filter_map(|s| gate.observe(s)).collect()
}

/// Copies the source's checkpoints into a fork (hard links when the filesystem allows).
pub fn copy_checkpoints(from: &Path, to: &Path) -> io::Result<u64> {
    let src = from.join(CHECKPOINT_DIR);
    let Ok(entries) = fs::read_dir(&src) else {
        return Ok(0);
    };
    let dst = to.join(CHECKPOINT_DIR);
    fs::create_dir_all(&dst)?;
    let mut n = 0;
    for entry in entries {
        let entry = entry?;
        if !entry.file_type()?.is_file() {
            continue;
        }
        let target = dst.join(entry.file_name());
        if fs::hard_link(entry.path(), &target).is_err() {
            fs::copy(entry.path(), &target)?;
        }
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_stream_keeps_complete_lines_and_drops_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let text = concat!(
            "{\"protocol\":1,\"type\":\"hello\"}\n",
            "{\"ewma_loss\":null,\"grad_norm\":null,\"iter\":5,\"loss\":2.5,\"metrics\":{\"eff_dim\":3.0},\"type\":\"sample\"}\n",
            "{\"ewma_loss\":null,\"grad_norm\":null,\"iter\":10,\"loss\":2.4,\"metrics\":{\"eff_dim\":3.1},\"type\":\"sample\"}\n",
            "{\"ewma_loss\":null,\"grad_norm\":null,\"iter\":15,\"lo"
        );
        fs::write(dir.path().join(METRICS_LOG), text).unwrap();
        let rec = read_recorded(dir.path()).unwrap();
        assert_eq!(rec.lines.len(), 3);
        assert_eq!(rec.samples.len(), 2);
        assert_eq!(rec.last_iter(), Some(10));
        assert_eq!(rec.loss_by_iter[&5], Some(2.5));
        assert_eq!(rec.dropped, 1);
        assert!(
            read_recorded(&dir.path().join("none"))
                .unwrap()
                .samples
                .is_empty()
        );
    }

    #[test]
    fn not_a_capsule_is_a_clear_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_persisted(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("run_config_resolved.json") && e.contains("--resume"),
            "{e}"
        );
    }
}
