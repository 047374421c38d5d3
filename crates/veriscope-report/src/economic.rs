//! The economic estimate of `report --economic` and `inspect --economic` (cli_contracts A8):
//! how many iterations, wall-clock hours and GPU dollars stopping at the first fail would save.
//!
//! - planned total iterations: `--planned-total-iters`, else the last `--max_iters` (gpt) /
//!   `--max_steps` (hf) / either (other kinds) in the run config's forwarded arguments, as
//!   `--flag N` or `--flag=N`. Our own trainer's spellings `--max-iters` / `--max-steps` count
//!   too, and the wrapper's `argv.raw_forwarded_args` is read when
//!   `argv.normalized_forwarded_args` is absent. Any unparsable occurrence, or a last value
//!   below 1, leaves it unknown.
//! - step time (seconds per iteration): the mean of the finite, non-negative `step_time`
//!   values in results.json `metrics`; else run config `timing.runner_wall_s` / planned; else
//!   (ours) the mean `timing.step_ms` of the capsule's metrics stream.
//! - saved_iters = max(0, planned - first_fail_iter); saved wall = saved_iters x step time;
//!   saved cost = saved wall / 3600 x price x GPUs.
//! - action, from the automated final decision: fail "stop recommended", warn "investigate",
//!   pass "continue", skip "no evaluated gate yet".

use serde_json::Value;

use crate::view::CapsuleView;

/// Printed for every value that cannot be computed.
pub const NOT_AVAILABLE: &str = "not available";

/// The economic flags of `report` and `inspect`, as parsed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EconomicFlags {
    /// `--economic`.
    pub economic: bool,
    /// `--planned-total-iters`.
    pub planned_total_iters: Option<i64>,
    /// `--price-per-gpu-hour`.
    pub price_per_gpu_hour: Option<f64>,
    /// `--gpus` (default 1).
    pub gpus: i64,
}

impl Default for EconomicFlags {
    fn default() -> Self {
        EconomicFlags {
            economic: false,
            planned_total_iters: None,
            price_per_gpu_hour: None,
            gpus: 1,
        }
    }
}

impl EconomicFlags {
    /// Checks the values (always, even without `--economic`, as the original does); the
    /// error is the message to print before exiting 2.
    pub fn validate(&self) -> Result<(), String> {
        if self.planned_total_iters.is_some_and(|n| n < 1) {
            return Err("--planned-total-iters must be >= 1".to_owned());
        }
        if let Some(p) = self.price_per_gpu_hour {
            if !p.is_finite() {
                return Err("--price-per-gpu-hour must be a finite number".to_owned());
            }
            if p < 0.0 {
                return Err("--price-per-gpu-hour must be >= 0".to_owned());
            }
        }
        if self.gpus < 1 {
            return Err("--gpus must be >= 1".to_owned());
        }
        Ok(())
    }
}

/// What the run config and results contribute, gathered when the view is loaded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EconomicInputs {
    /// Planned total iterations from the forwarded runner arguments.
    pub planned_from_run_config: Option<u64>,
    /// `timing.runner_wall_s` of the run config (finite, >= 0).
    pub runner_wall_s: Option<f64>,
    /// Mean of results.json `step_time` metric values (finite, >= 0).
    pub step_time_s: Option<f64>,
}

impl EconomicInputs {
    /// Reads the inputs from a run config and results.json (either may be `Null`).
    pub fn from_artifacts(run_config: &Value, results: &Value) -> Self {
        let nonneg = |v: Option<&Value>| {
            v.and_then(Value::as_f64)
                .filter(|x| x.is_finite() && *x >= 0.0)
        };
        let times: Vec<f64> = results
            .get("metrics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|m| m.get("name").and_then(Value::as_str) == Some("step_time"))
            .filter_map(|m| nonneg(m.get("value")))
            .collect();
        EconomicInputs {
            planned_from_run_config: planned_from_run_config(run_config),
            runner_wall_s: nonneg(run_config.pointer("/timing/runner_wall_s")),
            step_time_s: (!times.is_empty())
                .then(|| times.iter().sum::<f64>() / times.len() as f64),
        }
    }
}

/// Where the step time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepTimeSource {
    /// results.json `step_time` metrics.
    StepTimeMetric,
    /// run config `timing.runner_wall_s` / planned total iterations.
    RunnerWall,
    /// The metrics stream's `timing.step_ms`.
    MetricsStream,
}

/// The computed estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct EconomicEstimate {
    /// The summary's first fail iteration.
    pub first_fail_iter: Option<u64>,
    /// Planned total iterations.
    pub planned_total_iters: Option<u64>,
    /// Seconds per iteration and where that came from.
    pub step_time: Option<(f64, StepTimeSource)>,
    /// Iterations a stop at the first fail saves.
    pub saved_iters: Option<u64>,
    /// Wall-clock seconds saved.
    pub saved_wall_s: Option<f64>,
    /// Dollars saved.
    pub saved_cost: Option<f64>,
    /// The price assumption.
    pub price_per_gpu_hour: Option<f64>,
    /// The GPU count assumption.
    pub gpus: u64,
    /// What to do, from the automated decision.
    pub action: &'static str,
}

/// Computes the estimate for `view` (flags already validated).
pub fn estimate(view: &CapsuleView, flags: &EconomicFlags) -> EconomicEstimate {
    let inputs = &view.economic_inputs;
    let planned = flags
        .planned_total_iters
        .and_then(|n| u64::try_from(n).ok())
        .filter(|n| *n >= 1)
        .or(inputs.planned_from_run_config);
    let step_time = inputs
        .step_time_s
        .map(|s| (s, StepTimeSource::StepTimeMetric))
        .or_else(|| {
            let (wall, n) = (inputs.runner_wall_s?, planned?);
            Some((wall / n as f64, StepTimeSource::RunnerWall))
        })
        .or_else(|| {
            let ms = view.stream.as_ref()?.mean_step_ms?;
            Some((ms / 1000.0, StepTimeSource::MetricsStream))
        });
    let saved_iters = match (planned, view.first_fail_iter) {
        (Some(p), Some(f)) => Some(p.saturating_sub(f)),
        _ => None,
    };
    let saved_wall_s = saved_iters.zip(step_time).map(|(n, (s, _))| n as f64 * s);
    let gpus = u64::try_from(flags.gpus).unwrap_or(1).max(1);
    let saved_cost = saved_wall_s
        .zip(flags.price_per_gpu_hour)
        .map(|(w, p)| w / 3600.0 * p * gpus as f64);
    EconomicEstimate {
        first_fail_iter: view.first_fail_iter,
        planned_total_iters: planned,
        step_time,
        saved_iters,
        saved_wall_s,
        saved_cost,
        price_per_gpu_hour: flags.price_per_gpu_hour,
        gpus,
        action: action(&view.final_decision),
    }
}

/// The recommendation for an automated final decision.
pub fn action(final_decision: &str) -> &'static str {
    match final_decision {
        "fail" => "stop recommended",
        "warn" => "investigate",
        "pass" => "continue",
        "skip" => "no evaluated gate yet",
        _ => NOT_AVAILABLE,
    }
}

/// A price as the original prints it: two decimals, then trailing zeros and dot dropped
/// (`2.5`, `3`, `0.25`).
pub fn price_label(p: f64) -> String {
    let s = format!("{p:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn or_na<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| NOT_AVAILABLE.to_owned(), |x| x.to_string())
}

impl EconomicEstimate {
    /// `(key, value)` pairs in display order, values formatted.
    pub fn fields(&self) -> [(&'static str, String); 6] {
        let wall = self
            .saved_wall_s
            .map(|w| format!("{:.2} hours", w / 3600.0));
        let cost = self.saved_cost.zip(self.price_per_gpu_hour).map(|(c, p)| {
            let unit = if self.gpus == 1 { "GPU" } else { "GPUs" };
            format!(
                "${c:.2} (assuming {} {unit} at ${}/hr)",
                self.gpus,
                price_label(p)
            )
        });
        [
            ("first_fail_iter", or_na(self.first_fail_iter)),
            ("planned_total_iters", or_na(self.planned_total_iters)),
            ("saved_iters", or_na(self.saved_iters)),
            ("saved_wall_clock", or_na(wall)),
            ("saved_cost", or_na(cost)),
            ("action", self.action.to_owned()),
        ]
    }

    /// The text block (no trailing newline): heading, rule, then three groups.
    pub fn render_text(&self) -> String {
        let f = self.fields();
        let line = |i: usize| format!("{}: {}", f[i].0, f[i].1);
        [
            "Economic Estimate".to_owned(),
            "-----------------".to_owned(),
            String::new(),
            line(0),
            line(1),
            String::new(),
            line(2),
            line(3),
            line(4),
            String::new(),
            line(5),
        ]
        .join("\n")
    }

    /// The Markdown section (no trailing newline).
    pub fn render_md(&self) -> String {
        let mut out = vec!["## Economic Estimate".to_owned(), String::new()];
        out.extend(self.fields().iter().map(|(k, v)| format!("- {k}: {v}")));
        out.join("\n")
    }
}

/// Flags that name the planned total iterations for a run kind.
fn planned_flags(kind: Option<&str>) -> &'static [&'static str] {
    match kind {
        Some("gpt") => &["--max_iters", "--max-iters"],
        Some("hf") => &["--max_steps", "--max-steps"],
        _ => &["--max_iters", "--max-iters", "--max_steps", "--max-steps"],
    }
}

/// Planned total iterations from `argv.normalized_forwarded_args` (else
/// `argv.raw_forwarded_args`, without a leading `--`) of a run config.
pub fn planned_from_run_config(run_config: &Value) -> Option<u64> {
    let kind = run_config.pointer("/run/kind").and_then(Value::as_str);
    let argv = run_config.get("argv")?;
    let args = argv
        .get("normalized_forwarded_args")
        .filter(|v| !v.is_null())
        .or_else(|| argv.get("raw_forwarded_args"))?
        .as_array()?;
    let args: Vec<&str> = args.iter().filter_map(Value::as_str).collect();
    let args = match args.split_first() {
        Some((&"--", rest)) => rest,
        _ => &args[..],
    };
    planned_from_args(kind, args)
}

/// The last value of the kind's planned-iterations flags in `args` (`--flag N` or
/// `--flag=N`); `None` when absent, when any occurrence is unparsable, or when below 1.
pub fn planned_from_args(kind: Option<&str>, args: &[&str]) -> Option<u64> {
    let flags = planned_flags(kind);
    let mut last = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        let value = if flags.contains(&a) {
            i += 1;
            Some(args.get(i).copied())
        } else {
            flags
                .iter()
                .find_map(|f| a.strip_prefix(f).and_then(|rest| rest.strip_prefix('=')))
                .map(Some)
        };
        if let Some(v) = value {
            last = Some(v.and_then(|s| s.trim().parse::<i64>().ok())?);
        }
        i += 1;
    }
    last.and_then(|n| u64::try_from(n).ok()).filter(|n| *n >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn planned_iters_follow_the_kind_and_the_last_occurrence() {
        let p = |kind, args: &[&str]| planned_from_args(kind, args);
        assert_eq!(p(Some("gpt"), &["--max_iters", "500"]), Some(500));
        assert_eq!(
            p(Some("gpt"), &["--max-iters=700", "--seed", "1"]),
            Some(700)
        );
        assert_eq!(
            p(Some("gpt"), &["--max_iters", "5", "--max_iters=9"]),
            Some(9)
        );
        assert_eq!(p(Some("gpt"), &["--max_steps", "500"]), None, "hf flag");
        assert_eq!(p(Some("hf"), &["--max_steps", "40"]), Some(40));
        assert_eq!(p(Some("hf"), &["--max_iters", "40"]), None);
        assert_eq!(
            p(Some("cmd"), &["--max_steps", "3", "--max_iters", "4"]),
            Some(4)
        );
        assert_eq!(p(None, &["--max-steps=8"]), Some(8));
        // Any unparsable occurrence spoils the value, even if a later one parses.
        assert_eq!(
            p(Some("gpt"), &["--max_iters", "x", "--max_iters", "9"]),
            None
        );
        assert_eq!(p(Some("gpt"), &["--max_iters"]), None, "value missing");
        assert_eq!(p(Some("gpt"), &["--max_iters", "1e3"]), None);
        assert_eq!(p(Some("gpt"), &["--max_iters", "0"]), None, "below 1");
        assert_eq!(p(Some("gpt"), &["--max_iters", "-3"]), None);
        assert_eq!(p(Some("gpt"), &["--max_iters_x", "3"]), None, "other flag");
    }

    #[test]
    fn run_config_args_normalized_then_raw() {
        let rc = json!({"run": {"kind": "gpt"}, "argv": {"normalized_forwarded_args": ["--max_iters", "300"],
                        "raw_forwarded_args": ["--", "--max_iters", "999"]}});
        assert_eq!(planned_from_run_config(&rc), Some(300));
        let rc = json!({"run": {"kind": "gpt"}, "argv": {"raw_forwarded_args": ["--", "--max-iters", "999"]}});
        assert_eq!(planned_from_run_config(&rc), Some(999));
        let rc =
            json!({"run": {"kind": "hf"}, "argv": {"normalized_forwarded_args": "--max_steps 3"}});
        assert_eq!(planned_from_run_config(&rc), None, "not a list");
        assert_eq!(planned_from_run_config(&json!({})), None);
    }

    #[test]
    fn flags_are_checked_in_contract_order() {
        let f = |planned, price, gpus| {
            EconomicFlags {
                economic: false,
                planned_total_iters: planned,
                price_per_gpu_hour: price,
                gpus,
            }
            .validate()
        };
        assert_eq!(
            f(Some(0), Some(-1.0), 0).unwrap_err(),
            "--planned-total-iters must be >= 1"
        );
        assert_eq!(
            f(Some(1), Some(-0.5), 0).unwrap_err(),
            "--price-per-gpu-hour must be >= 0"
        );
        assert_eq!(f(None, None, 0).unwrap_err(), "--gpus must be >= 1");
        assert_eq!(
            f(None, Some(f64::NAN), 1).unwrap_err(),
            "--price-per-gpu-hour must be a finite number"
        );
        assert!(f(Some(1), Some(0.0), 1).is_ok());
    }

    #[test]
    fn price_label_drops_trailing_zeros() {
        assert_eq!(price_label(2.5), "2.5");
        assert_eq!(price_label(3.0), "3");
        assert_eq!(price_label(0.0), "0");
        assert_eq!(price_label(10.0), "10");
        assert_eq!(price_label(1.239), "1.24");
        assert_eq!(price_label(0.001), "0");
    }
}
