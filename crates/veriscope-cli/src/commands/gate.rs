//! `veriscope gate ...`: offline gate tools. `gate replay` re-gates a recorded metrics stream
//! (docs/metrics-stream.md) with any preset and cadence, without touching a capsule.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{Map, Value, json};
use veriscope_contracts::exit;
use veriscope_gate::engine::{Decision, GateConfig, GateEngine, GateRecord, Sample};

/// Lines longer than this are malformed (docs/metrics-stream.md §Errors).
const MAX_LINE_BYTES: usize = 1 << 20;

/// Offline gate subcommands.
#[derive(clap::Subcommand)]
pub enum GateCommand {
    /// Recompute gate decisions from a recorded metrics stream
    Replay(ReplayArgs),
}

/// Output format of `gate replay`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Arguments of `veriscope gate replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// Metrics stream file (JSON lines: hello, sample..., end)
    pub metrics: PathBuf,
    /// Gate preset (tuned_v0, legacy, spike_v1, calibrated_v1, calibrated_v2, stationary_v1;
    /// `tuned` = tuned_v0)
    #[arg(long, default_value = veriscope_gate::DEFAULT_PRESET)]
    pub gate_preset: String,
    /// Override the gate window (iterations between checks)
    #[arg(long)]
    pub gate_window: Option<u64>,
    /// Override the gate warmup (first iteration that may be checked)
    #[arg(long)]
    pub gate_warmup: Option<u64>,
    /// Override the metric interval (iterations between samples)
    #[arg(long)]
    pub metric_interval: Option<u64>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Runs a `veriscope gate` subcommand.
pub fn execute(cmd: GateCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        GateCommand::Replay(args) => replay(&args),
    }
}

fn replay(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let cfg = match resolve_config(args) {
        Ok(cfg) => cfg,
        Err(msg) => return Ok(invalid(&msg)),
    };
    let file = match File::open(&args.metrics) {
        Ok(f) => f,
        Err(e) => {
            let msg = format!("cannot read metrics stream {}: {e}", args.metrics.display());
            return Ok(invalid(&msg));
        }
    };
    let mut engine = GateEngine::new(cfg.clone());
    let mut stats = StreamStats::default();
    let mut records = Vec::new();
    if let Err(e) = read_stream(BufReader::new(file), &mut stats, |s| {
        records.extend(engine.observe(&s))
    }) {
        let msg = format!("cannot read metrics stream {}: {e}", args.metrics.display());
        return Ok(invalid(&msg));
    }
    let summary = Summary::of(&records);
    match args.format {
        Format::Text => print_text(&cfg, &args.metrics, &records, &summary, &stats),
        Format::Json => print_json(&cfg, &records, &summary, &stats)?,
    }
    Ok(ExitCode::from(exit::OK))
}

fn invalid(msg: &str) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(exit::INVALID)
}

fn resolve_config(args: &ReplayArgs) -> Result<GateConfig, String> {
    let cfg = GateConfig::preset(&args.gate_preset).map_err(|e| e.to_string())?;
    let (w, wu, mi) = (
        args.gate_window.unwrap_or(cfg.gate_window),
        args.gate_warmup.unwrap_or(cfg.gate_warmup_iters),
        args.metric_interval.unwrap_or(cfg.metric_interval),
    );
    cfg.with_cadence(w, wu, mi).map_err(|e| e.to_string())
}

/// Line counts of the stream; malformed lines are counted by reason and skipped.
#[derive(Debug, Default)]
struct StreamStats {
    lines: u64,
    samples: u64,
    hello: u64,
    end: u64,
    unknown_type: u64,
    malformed: BTreeMap<&'static str, u64>,
}

/// Reads stream lines, handing each valid `sample` to `on_sample`. Only IO errors fail.
fn read_stream(
    mut reader: impl BufRead,
    stats: &mut StreamStats,
    mut on_sample: impl FnMut(Sample),
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut last_iter: Option<u64> = None;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        stats.lines += 1;
        match parse_line(&buf, last_iter) {
            Ok(Line::Sample(s)) => {
                last_iter = Some(s.iter);
                stats.samples += 1;
                on_sample(s);
            }
            Ok(Line::Hello) => stats.hello += 1,
            Ok(Line::End) => stats.end += 1,
            Ok(Line::Unknown) => stats.unknown_type += 1,
            Ok(Line::Blank) => stats.lines -= 1,
            Err(reason) => *stats.malformed.entry(reason).or_default() += 1,
        }
    }
}

enum Line {
    Sample(Sample),
    Hello,
    End,
    Unknown,
    Blank,
}

fn parse_line(raw: &[u8], last_iter: Option<u64>) -> Result<Line, &'static str> {
    if raw.len() > MAX_LINE_BYTES {
        return Err("line_too_long");
    }
    let text = std::str::from_utf8(raw).map_err(|_| "not_utf8")?.trim();
    if text.is_empty() {
        return Ok(Line::Blank);
    }
    let value: Value = serde_json::from_str(text).map_err(|_| "not_json")?;
    let obj = value.as_object().ok_or("not_object")?;
    match obj.get("type").and_then(Value::as_str) {
        Some("sample") => parse_sample(obj, last_iter).map(Line::Sample),
        Some("hello") => Ok(Line::Hello),
        Some("end") => Ok(Line::End),
        Some(_) => Ok(Line::Unknown),
        None => Err("missing_type"),
    }
}

fn parse_sample(obj: &Map<String, Value>, last_iter: Option<u64>) -> Result<Sample, &'static str> {
    let iter = obj.get("iter").and_then(Value::as_u64).ok_or("bad_iter")?;
    if last_iter.is_some_and(|last| iter <= last) {
        return Err("iter_not_increasing");
    }
    let number = |key: &str| {
        obj.get(key)
            .and_then(Value::as_f64)
            .filter(|x| x.is_finite())
    };
    let metrics = match obj.get("metrics") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| (k.clone(), v.as_f64().filter(|x| x.is_finite())))
            .collect(),
        Some(_) => return Err("bad_metrics"),
    };
    Ok(Sample {
        iter,
        metrics,
        loss: number("loss"),
        ewma_loss: number("ewma_loss"),
        grad_norm: number("grad_norm"),
    })
}

/// Decision counts and roll-up (productization §4D rules).
struct Summary {
    counts: BTreeMap<&'static str, u64>,
    final_decision: Decision,
    first_fail_iter: Option<u64>,
}

impl Summary {
    fn of(records: &[GateRecord]) -> Self {
        let mut counts: BTreeMap<&'static str, u64> = ["pass", "warn", "fail", "skip", "evaluated"]
            .iter()
            .map(|k| (*k, 0))
            .collect();
        for r in records {
            *counts.entry(r.decision.as_str()).or_default() += 1;
            if r.decision != Decision::Skip {
                *counts.entry("evaluated").or_default() += 1;
            }
        }
        let final_decision = [Decision::Fail, Decision::Warn, Decision::Pass]
            .into_iter()
            .find(|d| counts[d.as_str()] > 0)
            .unwrap_or(Decision::Skip);
        let first_fail_iter = records
            .iter()
            .find(|r| r.decision == Decision::Fail)
            .map(|r| r.iter);
        Self {
            counts,
            final_decision,
            first_fail_iter,
        }
    }
}

fn print_text(
    cfg: &GateConfig,
    path: &Path,
    records: &[GateRecord],
    s: &Summary,
    st: &StreamStats,
) {
    println!(
        "gate replay: {} (preset {}, gate_window {}, gate_warmup {}, metric_interval {})",
        path.display(),
        cfg.preset_name(),
        cfg.gate_window,
        cfg.gate_warmup_iters,
        cfg.metric_interval
    );
    for r in records {
        println!(
            "iter {:>8}  {:<4}  worst_DW {:>8}  eps_eff {:>8}  {}",
            r.iter,
            r.decision.as_str(),
            fmt_num(&r.audit["worst_DW"]),
            fmt_num(&r.audit["eps_eff"]),
            r.audit["reason"].as_str().unwrap_or("-")
        );
    }
    let c = &s.counts;
    println!(
        "checks {}: evaluated {}, pass {}, warn {}, fail {}, skip {}; final {}; first_fail_iter {}",
        records.len(),
        c["evaluated"],
        c["pass"],
        c["warn"],
        c["fail"],
        c["skip"],
        s.final_decision.as_str(),
        s.first_fail_iter
            .map_or("none".to_string(), |i| i.to_string())
    );
    let malformed: u64 = st.malformed.values().sum();
    let detail: Vec<String> = st
        .malformed
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!(
        "stream: lines {}, samples {}, hello {}, end {}, unknown_type {}, malformed {}{}",
        st.lines,
        st.samples,
        st.hello,
        st.end,
        st.unknown_type,
        malformed,
        if detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", detail.join(", "))
        }
    );
}

fn fmt_num(v: &Value) -> String {
    v.as_f64().map_or("-".to_string(), |x| format!("{x:.4}"))
}

fn print_json(
    cfg: &GateConfig,
    records: &[GateRecord],
    s: &Summary,
    st: &StreamStats,
) -> anyhow::Result<()> {
    let out = json!({
        "gate_preset": cfg.preset_name(),
        "gate_controls": cfg.gate_controls(),
        "gates": records.iter().map(GateRecord::to_json).collect::<Vec<_>>(),
        "counts": s.counts,
        "final_decision": s.final_decision.as_str(),
        "first_fail_iter": s.first_fail_iter,
        "stream": {
            "lines": st.lines,
            "samples": st.samples,
            "hello": st.hello,
            "end": st.end,
            "unknown_type": st.unknown_type,
            "malformed": st.malformed,
        },
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> (StreamStats, Vec<Sample>) {
        let mut stats = StreamStats::default();
        let mut samples = vec![];
        read_stream(text.as_bytes(), &mut stats, |s| samples.push(s)).unwrap();
        (stats, samples)
    }

    #[test]
    fn malformed_lines_are_counted_not_fatal() {
        let text = concat!(
            "{\"type\":\"hello\",\"protocol\":1}\n",
            "not json\n",
            "[1,2]\n",
            "{\"type\":\"sample\",\"iter\":0,\"metrics\":{\"eff_dim\":3.5,\"rankme\":null}}\n",
            "{\"type\":\"sample\",\"iter\":0}\n",
            "{\"type\":\"sample\",\"iter\":-1}\n",
            "{\"type\":\"telemetry\"}\n",
            "\n",
            "{\"type\":\"sample\",\"iter\":5,\"loss\":2.0,\"ewma_loss\":2.1}\n",
            "{\"type\":\"end\",\"iter\":5}\n",
        );
        let (st, samples) = read(text);
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].metrics["eff_dim"], Some(3.5));
        assert_eq!(samples[0].metrics["rankme"], None);
        assert_eq!(samples[1].ewma_loss, Some(2.1));
        assert_eq!((st.hello, st.end, st.unknown_type, st.lines), (1, 1, 1, 9));
        assert_eq!(st.malformed["not_json"], 1);
        assert_eq!(st.malformed["not_object"], 1);
        assert_eq!(st.malformed["iter_not_increasing"], 1);
        assert_eq!(st.malformed["bad_iter"], 1);
    }

    #[test]
    fn unknown_preset_and_bad_cadence_are_rejected_with_names() {
        let args = |preset: &str, w: Option<u64>| ReplayArgs {
            metrics: PathBuf::from("x"),
            gate_preset: preset.to_string(),
            gate_window: w,
            gate_warmup: None,
            metric_interval: None,
            format: Format::Text,
        };
        assert!(
            resolve_config(&args("nope", None))
                .unwrap_err()
                .contains("nope")
        );
        assert!(
            resolve_config(&args("tuned", Some(0)))
                .unwrap_err()
                .contains("gate_window")
        );
        assert_eq!(
            resolve_config(&args("tuned", Some(50)))
                .unwrap()
                .gate_window,
            50
        );
    }
}
