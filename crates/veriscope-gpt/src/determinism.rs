//! Strict determinism preconditions (docs/replay.md §2 "Determinism"): what this trainer
//! needs for a run to be bit-reproducible, reported by `--describe` (the wrapper refuses to
//! start a strict run with an unmet one) and enforced by the trainer itself when
//! `VERISCOPE_STRICT_DETERMINISM=1`.
//!
//! Found by testing (docs/trainer.md §Determinism): on CPU, candle's matmuls (gemm splits the
//! output, never a reduction) gave byte-identical sample lines at 1, 2 and 4 threads and
//! from run to run, and the metric math runs single-threaded in f64, so the CPU has no
//! thread precondition. On CUDA, cuBLAS needs a fixed workspace configuration.

use serde::Serialize;
use serde_json::Value;

use crate::config::DeviceKind;

/// `CUBLAS_WORKSPACE_CONFIG` values under which cuBLAS is deterministic.
pub const CUBLAS_DETERMINISTIC: [&str; 2] = [":4096:8", ":16:8"];

/// One precondition, in the shape of the run config's `determinism.preconditions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Precondition {
    pub name: String,
    pub met: bool,
    pub observed: String,
    pub required: String,
}

/// The `determinism` object of `--describe` and the hello line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Determinism {
    /// `VERISCOPE_STRICT_DETERMINISM=1`.
    pub strict_requested: bool,
    pub preconditions: Vec<Precondition>,
}

impl Determinism {
    pub fn resolve(device: DeviceKind, env: &impl Fn(&str) -> Option<String>) -> Self {
        let strict_requested = env("VERISCOPE_STRICT_DETERMINISM").is_some_and(|v| v.trim() == "1");
        let mut preconditions = Vec::new();
        if device == DeviceKind::Cuda {
            let observed = env("CUBLAS_WORKSPACE_CONFIG");
            preconditions.push(Precondition {
                name: "cublas_workspace_config".into(),
                met: observed
                    .as_deref()
                    .is_some_and(|v| CUBLAS_DETERMINISTIC.contains(&v.trim())),
                observed: observed.unwrap_or_else(|| "unset".into()),
                required: format!(
                    "CUBLAS_WORKSPACE_CONFIG in {}",
                    CUBLAS_DETERMINISTIC.join("|")
                ),
            });
        }
        Self {
            strict_requested,
            preconditions,
        }
    }

    pub fn unmet(&self) -> impl Iterator<Item = &Precondition> {
        self.preconditions.iter().filter(|p| !p.met)
    }

    /// Why a strict run must not start, or None when it may.
    pub fn refusal(&self) -> Option<String> {
        if !self.strict_requested {
            return None;
        }
        let lines: Vec<String> = self
            .unmet()
            .map(|p| {
                format!(
                    "DETERMINISM_PRECONDITION_UNMET {}: observed {}, required {}",
                    p.name, p.observed, p.required
                )
            })
            .collect();
        (!lines.is_empty()).then(|| lines.join("; "))
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("determinism serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_env::env_of;

    #[test]
    fn cpu_has_no_precondition_and_strict_is_read_from_the_env() {
        let d = Determinism::resolve(DeviceKind::Cpu, &env_of(&[]));
        assert_eq!(d, Determinism::default());
        let d = Determinism::resolve(
            DeviceKind::Cpu,
            &env_of(&[("VERISCOPE_STRICT_DETERMINISM", "1")]),
        );
        assert!(d.strict_requested && d.preconditions.is_empty());
        assert_eq!(d.refusal(), None);
    }

    #[test]
    fn cuda_needs_a_deterministic_cublas_workspace() {
        let strict = ("VERISCOPE_STRICT_DETERMINISM", "1");
        let d = Determinism::resolve(DeviceKind::Cuda, &env_of(&[strict]));
        let p = &d.preconditions[0];
        assert_eq!(
            (p.name.as_str(), p.met, p.observed.as_str()),
            ("cublas_workspace_config", false, "unset")
        );
        let why = d.refusal().unwrap();
        assert!(
            why.contains("DETERMINISM_PRECONDITION_UNMET cublas_workspace_config"),
            "{why}"
        );
        for ok in CUBLAS_DETERMINISTIC {
            let d = Determinism::resolve(
                DeviceKind::Cuda,
                &env_of(&[strict, ("CUBLAS_WORKSPACE_CONFIG", ok)]),
            );
            assert!(d.preconditions[0].met && d.refusal().is_none(), "{ok}");
        }
        // Not strict: reported, never refused.
        let d = Determinism::resolve(DeviceKind::Cuda, &env_of(&[]));
        assert!(!d.preconditions[0].met && d.refusal().is_none());
    }
}
