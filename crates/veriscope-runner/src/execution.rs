//! What a run is, before it starts (docs/replay.md §1-§2): the gate execution contract
//! resolved field by field (persisted > CLI > `VERISCOPE_GATE_*` > runner > preset), the run
//! seed, the determinism preconditions, and the run manifest with its hash.
//!
//! Everything here is a pure function of its inputs (flags, environment map, the runner's
//! self-description, /proc/cpuinfo text), so it is tested without spawning anything.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};
use veriscope_contracts::{execution, seeds};
use veriscope_gate::engine::{GateConfig, GateError, SETTABLE};

use crate::gatelink::Cadence;

/// The gate the user asked for, before resolution.
#[derive(Debug, Clone, Default)]
pub struct GateRequest {
    /// `--gate-preset` when given (else the persisted profile, else the default preset).
    pub preset: Option<String>,
    /// `--gate-set FIELD=VALUE` and the cadence flags, in the order given.
    pub settings: Vec<(String, String)>,
    /// The runner's own cadence (`veriscope-gpt --describe`).
    pub runner_cadence: Option<Cadence>,
}

impl GateRequest {
    /// True when the request names anything beyond the defaults (a preset or a setting).
    pub fn is_explicit(&self) -> bool {
        self.preset.is_some() || !self.settings.is_empty()
    }
}

/// Where a field's value came from (`gate_contract.sources`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Preset,
    Runner,
    Env,
    Cli,
    Persisted,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Preset => "preset",
            Source::Runner => "runner",
            Source::Env => "env",
            Source::Cli => "cli",
            Source::Persisted => "persisted",
        }
    }
}

/// A resolved gate contract.
#[derive(Debug, Clone)]
pub struct ResolvedGate {
    pub cfg: GateConfig,
    /// Settable field -> source, for every settable field that applies to the preset.
    pub sources: BTreeMap<String, Source>,
    /// Controls that differ from the preset's defaults (`profile.overrides`).
    pub overrides: Map<String, Value>,
}

impl ResolvedGate {
    /// Fields that came from the environment fallback.
    pub fn fallback_fields(&self) -> Vec<String> {
        self.sources
            .iter()
            .filter(|(_, s)| **s == Source::Env)
            .map(|(f, _)| f.clone())
            .collect()
    }

    /// The `gate_contract` object of run_config_resolved.json.
    pub fn persisted_object(&self) -> Value {
        let material = self.cfg.contract_material();
        let sources = self
            .sources
            .iter()
            .map(|(f, s)| (f.clone(), json!(s.as_str())))
            .collect();
        execution::persisted_object(
            material,
            &self.cfg.contract_hash(),
            &self.fallback_fields(),
            sources,
        )
    }

    /// A persisted contract taken as is (resume): every field's source is `persisted`.
    pub fn persisted(cfg: GateConfig, overrides: Map<String, Value>) -> ResolvedGate {
        let sources = SETTABLE
            .iter()
            .filter(|s| cfg.get_value(s.name).is_some())
            .map(|s| (s.name.to_owned(), Source::Persisted))
            .collect();
        ResolvedGate {
            cfg,
            sources,
            overrides,
        }
    }
}

/// `VERISCOPE_GATE_<FIELD>` with a leading `gate_` dropped (docs/replay.md §1, resolution
/// step 3): `VERISCOPE_GATE_WINDOW`, `VERISCOPE_GATE_WARMUP_ITERS` (the names the wrapper
/// exports to its runner), `VERISCOPE_GATE_METRIC_INTERVAL`, `VERISCOPE_GATE_EPS`.
pub fn env_var_of(field: &str) -> String {
    let name = field.strip_prefix("gate_").unwrap_or(field);
    format!("VERISCOPE_GATE_{}", name.to_ascii_uppercase())
}

const CADENCE: [&str; 3] = ["gate_window", "gate_warmup_iters", "metric_interval"];

/// Resolves a fresh run's contract: per field, CLI > environment > runner > preset. A value
/// out of range is refused naming its field, value, allowed range and where it came from.
pub fn resolve_gate(
    req: &GateRequest,
    env: &BTreeMap<String, String>,
) -> Result<ResolvedGate, String> {
    let preset = req
        .preset
        .as_deref()
        .unwrap_or(veriscope_gate::engine::DEFAULT_PRESET);
    let base = GateConfig::preset(preset).map_err(|e| e.to_string())?;
    resolve_over(base, req, Some(env))
}

/// Lays the request's settings (and, for a fresh run, the environment and the runner's
/// cadence) over `base`.
pub fn resolve_over(
    base: GateConfig,
    req: &GateRequest,
    env: Option<&BTreeMap<String, String>>,
) -> Result<ResolvedGate, String> {
    for (field, _) in &req.settings {
        if veriscope_gate::engine::settable(field).is_none() {
            return Err(GateError::UnknownField {
                field: field.clone(),
                known: SETTABLE
                    .iter()
                    .map(|s| s.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            }
            .to_string());
        }
    }
    // Highest precedence wins: collect each field's winning (source, text) first, then
    // apply, so the cadence's pairwise check sees final values only.
    let mut chosen: BTreeMap<&str, (Source, String)> = BTreeMap::new();
    for s in SETTABLE {
        let cli = req
            .settings
            .iter()
            .rev()
            .find(|(f, _)| f == s.name)
            .map(|(_, v)| (Source::Cli, v.clone()));
        let from_env = env
            .and_then(|e| e.get(&env_var_of(s.name)))
            .filter(|v| !v.trim().is_empty())
            .map(|v| (Source::Env, v.clone()));
        let runner = req.runner_cadence.and_then(|c| {
            let v = match s.name {
                "gate_window" => c.gate_window,
                "gate_warmup_iters" => c.gate_warmup_iters,
                "metric_interval" => c.metric_interval,
                _ => return None,
            };
            (env.is_some()).then(|| (Source::Runner, v.to_string()))
        });
        if let Some(pick) = cli.or(from_env).or(runner) {
            chosen.insert(s.name, pick);
        }
    }
    let defaults = base.clone();
    let mut cfg = base;
    let described = |field: &str, src: Source, e: GateError| match src {
        Source::Env => format!("{e} (from {})", env_var_of(field)),
        Source::Runner => format!("{e} (from the runner's self-description)"),
        _ => e.to_string(),
    };
    let mut cadence_vals = [None; 3];
    for (i, field) in CADENCE.iter().enumerate() {
        let Some((src, text)) = chosen.get(field) else {
            continue;
        };
        match text.trim().parse::<u64>() {
            Ok(v) => cadence_vals[i] = Some(v),
            Err(_) => {
                // set_text words the refusal (field, value, allowed range).
                let e = defaults
                    .clone()
                    .set_text(field, text)
                    .err()
                    .unwrap_or_else(|| GateError::OutOfRange {
                        field: (*field).into(),
                        value: text.clone(),
                        allowed: "an integer".into(),
                    });
                return Err(described(field, *src, e));
            }
        }
    }
    if cadence_vals.iter().any(Option::is_some) {
        let w = cadence_vals[0].unwrap_or(cfg.gate_window);
        let warm = cadence_vals[1].unwrap_or(cfg.gate_warmup_iters);
        let mi = cadence_vals[2].unwrap_or(cfg.metric_interval);
        cfg = cfg.with_cadence(w, warm, mi).map_err(|e| {
            let field = match &e {
                GateError::OutOfRange { field, .. } => field.clone(),
                _ => String::new(),
            };
            match chosen.get(field.as_str()) {
                Some((src, _)) => described(&field, *src, e),
                None => e.to_string(),
            }
        })?;
    }
    for (field, (src, text)) in &chosen {
        if CADENCE.contains(field) {
            continue;
        }
        cfg.set_text(field, text)
            .map_err(|e| described(field, *src, e))?;
    }
    let mut sources = BTreeMap::new();
    let mut overrides = Map::new();
    for s in SETTABLE {
        let Some(now) = cfg.get_value(s.name) else {
            continue;
        };
        let src = chosen.get(s.name).map_or(Source::Preset, |(src, _)| *src);
        sources.insert(s.name.to_owned(), src);
        if defaults.get_value(s.name).as_ref() != Some(&now) {
            overrides.insert(s.name.to_owned(), now);
        }
    }
    Ok(ResolvedGate {
        cfg,
        sources,
        overrides,
    })
}

/// Controls of `cfg` that differ from its preset's defaults (`profile.overrides`).
pub fn overrides_vs_preset(cfg: &GateConfig) -> Map<String, Value> {
    let Ok(defaults) = GateConfig::preset(cfg.preset_name()) else {
        return Map::new();
    };
    SETTABLE
        .iter()
        .filter_map(|s| {
            let now = cfg.get_value(s.name)?;
            (defaults.get_value(s.name).as_ref() != Some(&now)).then(|| (s.name.to_owned(), now))
        })
        .collect()
}

/// The run seed and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSeed {
    pub value: u64,
    pub source: &'static str,
}

/// `--seed`, else `VERISCOPE_SEED`, else the default (docs/replay.md §2).
pub fn run_seed(flag: Option<u64>, env: &BTreeMap<String, String>) -> Result<RunSeed, String> {
    if let Some(v) = flag {
        return Ok(RunSeed {
            value: v,
            source: "flag",
        });
    }
    match env.get("VERISCOPE_SEED").map(|s| s.trim()) {
        Some(s) if !s.is_empty() => s
            .parse::<u64>()
            .map(|value| RunSeed {
                value,
                source: "env",
            })
            .map_err(|_| {
                format!(
                    "VERISCOPE_SEED='{s}' is not a seed (allowed: integer 0..=18446744073709551615)"
                )
            }),
        _ => Ok(RunSeed {
            value: seeds::DEFAULT_RUN_SEED,
            source: "default",
        }),
    }
}

/// One determinism precondition (docs/replay.md §2 "Determinism").
#[derive(Debug, Clone, PartialEq)]
pub struct Precondition {
    pub name: String,
    pub met: bool,
    pub observed: String,
    pub required: String,
}

impl Precondition {
    pub fn to_json(&self) -> Value {
        json!({ "name": self.name, "met": self.met, "observed": self.observed, "required": self.required })
    }
}

/// What a runner is, for the preconditions.
#[derive(Debug, Clone, Copy)]
pub struct RunnerTraits {
    pub python: bool,
    pub uses_gpu: bool,
}

/// The preconditions of strict determinism for this run: ours (seed, Python hash seed, cuBLAS
/// workspace) and the runner's own (`determinism.preconditions` of its `--describe`).
pub fn determinism_preconditions(
    seed: RunSeed,
    traits: RunnerTraits,
    env: &BTreeMap<String, String>,
    describe: Option<&Value>,
) -> Vec<Precondition> {
    let mut out = vec![Precondition {
        name: "run_seed_fixed".into(),
        met: seed.source != "default",
        observed: format!("{}:{}", seed.source, seed.value),
        required: "--seed N or VERISCOPE_SEED".into(),
    }];
    if traits.python {
        let v = env.get("PYTHONHASHSEED");
        out.push(Precondition {
            name: "python_hash_seed".into(),
            met: v.is_some_and(|s| s.trim().parse::<u32>().is_ok()),
            observed: v.map_or("unset".into(), |s| format!("PYTHONHASHSEED={s}")),
            required: "PYTHONHASHSEED set to an integer".into(),
        });
    }
    let cuda_visible = env
        .get("CUDA_VISIBLE_DEVICES")
        .is_none_or(|v| !v.is_empty() && v != "-1");
    if traits.uses_gpu && cuda_visible && traits.python {
        let v = env.get("CUBLAS_WORKSPACE_CONFIG");
        out.push(Precondition {
            name: "cublas_workspace_config".into(),
            met: v.is_some_and(|s| s == ":4096:8" || s == ":16:8"),
            observed: v.map_or("unset".into(), |s| format!("CUBLAS_WORKSPACE_CONFIG={s}")),
            required: "CUBLAS_WORKSPACE_CONFIG=:4096:8 (or :16:8)".into(),
        });
    }
    let reported = describe
        .and_then(|d| d.get("determinism"))
        .and_then(|d| d.get("preconditions"))
        .and_then(Value::as_array);
    for p in reported.into_iter().flatten() {
        let text = |k: &str| {
            p.get(k)
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .unwrap_or_default()
        };
        let name = text("name");
        if name.is_empty() || out.iter().any(|q| q.name == name) {
            continue;
        }
        out.push(Precondition {
            name,
            met: p.get("met").and_then(Value::as_bool).unwrap_or(false),
            observed: text("observed"),
            required: text("required"),
        });
    }
    out
}

/// The `determinism` object of run_config_resolved.json.
pub fn determinism_record(strict: bool, preconditions: &[Precondition]) -> Value {
    json!({
        "mode": if strict { "strict" } else { "standard" },
        "preconditions": preconditions.iter().map(Precondition::to_json).collect::<Vec<_>>(),
    })
}

/// `DETERMINISM_PRECONDITION_UNMET` refusal text, `None` when every precondition is met.
pub fn strict_refusal(preconditions: &[Precondition]) -> Option<String> {
    let unmet: Vec<String> = preconditions
        .iter()
        .filter(|p| !p.met)
        .map(|p| {
            format!(
                "DETERMINISM_PRECONDITION_UNMET {}: observed {}; required {}",
                p.name, p.observed, p.required
            )
        })
        .collect();
    (!unmet.is_empty()).then(|| {
        format!(
            "Refusing to run with --strict-determinism:\n{}",
            unmet.join("\n")
        )
    })
}

/// The forwarded arguments as the manifest records them: an absolute path keeps only its
/// file name (absolute paths are never compared, run_contract_replay "Known Non-Invariants").
pub fn manifest_args(args: &[String]) -> Vec<String> {
    args.iter()
        .map(|a| {
            let (flag, value) = match a.split_once('=') {
                Some((f, v)) if f.starts_with('-') => (Some(f), v),
                _ => (None, a.as_str()),
            };
            if !value.starts_with('/') {
                return a.clone();
            }
            let name = Path::new(value)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            match flag {
                Some(f) => format!("{f}=<abs>/{name}"),
                None => format!("<abs>/{name}"),
            }
        })
        .collect()
}

/// The hardware profile of the manifest (run_contract_replay "Hardware Profile").
pub fn hardware(cpuinfo: &str, gpu_models: &[String], cuda_version: Option<&str>) -> Value {
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "model name").then(|| v.trim().to_owned())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
    json!({
        "device": if gpu_models.is_empty() { "cpu" } else { "cuda" },
        "cpu_model": cpu_model,
        "gpu_models": gpu_models,
        "gpu_count": gpu_models.len(),
        "cuda_version": cuda_version,
    })
}

/// Inputs of the run manifest.
#[derive(Debug, Clone)]
pub struct ManifestInputs<'a> {
    pub seed: RunSeed,
    pub kind: &'a str,
    pub forwarded_args: &'a [String],
    pub spec: Option<Value>,
    pub gate_contract_hash: &'a str,
    pub code_identity: Value,
    pub hardware: Value,
    pub dependency_text: Option<&'a str>,
    pub strict: bool,
}

/// The run manifest (docs/replay.md §2) and its hash.
pub fn manifest(m: &ManifestInputs<'_>) -> (Value, String) {
    let derived: Map<String, Value> = seeds::derived_seeds(m.seed.value)
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let manifest = json!({
        "schema_version": 1,
        "run_seed": m.seed.value,
        "seed_source": m.seed.source,
        "derived_seeds": derived,
        "code_identity": m.code_identity,
        "runner": { "kind": m.kind, "args": manifest_args(m.forwarded_args), "spec": m.spec },
        "gate_contract_hash": m.gate_contract_hash,
        "hardware": m.hardware,
        "dependencies_sha256": m.dependency_text.map(|t| veriscope_canon::sha256_hex_bytes(t.as_bytes())),
        "determinism_mode": if m.strict { "strict" } else { "standard" },
    });
    // Every number is an integer and every text a string: hashing cannot fail.
    let hash = veriscope_canon::sha256_hex(&manifest).unwrap_or_default();
    (manifest, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_env::env;

    #[test]
    fn resolution_order_is_cli_then_env_then_runner_then_preset() {
        let req = GateRequest {
            preset: None,
            settings: vec![("gate_window".into(), "60".into())],
            runner_cadence: Some(Cadence {
                gate_window: 50,
                gate_warmup_iters: 200,
                metric_interval: 5,
            }),
        };
        let e = env(&[
            ("VERISCOPE_GATE_WINDOW", "70"),
            ("VERISCOPE_GATE_EPS", "0.2"),
            ("VERISCOPE_GATE_METRIC_INTERVAL", "10"),
        ]);
        let r = resolve_gate(&req, &e).unwrap();
        assert_eq!(r.cfg.gate_window, 60);
        assert_eq!(r.cfg.metric_interval, 10);
        assert_eq!(r.cfg.gate_warmup_iters, 200);
        assert_eq!(r.cfg.eps, 0.2);
        assert_eq!(r.sources["gate_window"], Source::Cli);
        assert_eq!(r.sources["metric_interval"], Source::Env);
        assert_eq!(r.sources["gate_warmup_iters"], Source::Runner);
        assert_eq!(r.sources["bins"], Source::Preset);
        assert_eq!(r.fallback_fields(), ["eps", "metric_interval"]);
        let obj = r.persisted_object();
        assert_eq!(obj["fallback_used"], json!(true));
        assert!(execution::persisted_problems(&obj).is_empty());
        assert_eq!(r.overrides["gate_window"], json!(60));
        assert!(!r.overrides.contains_key("bins"));
    }

    #[test]
    fn env_names_drop_the_gate_prefix() {
        assert_eq!(env_var_of("gate_window"), "VERISCOPE_GATE_WINDOW");
        assert_eq!(
            env_var_of("gate_warmup_iters"),
            "VERISCOPE_GATE_WARMUP_ITERS"
        );
        assert_eq!(
            env_var_of("metric_interval"),
            "VERISCOPE_GATE_METRIC_INTERVAL"
        );
        assert_eq!(env_var_of("eps"), "VERISCOPE_GATE_EPS");
    }

    #[test]
    fn defaults_have_no_overrides_and_the_preset_hash() {
        let r = resolve_gate(&GateRequest::default(), &BTreeMap::new()).unwrap();
        assert!(r.overrides.is_empty());
        assert!(r.fallback_fields().is_empty());
        assert_eq!(
            r.cfg.contract_hash(),
            GateConfig::preset("tuned_v0").unwrap().contract_hash()
        );
    }

    #[test]
    fn bad_values_name_field_value_range_and_source() {
        let e = resolve_gate(
            &GateRequest::default(),
            &env(&[("VERISCOPE_GATE_EPS", "7")]),
        )
        .unwrap_err();
        assert!(
            e.contains("`eps`") && e.contains('7') && e.contains("VERISCOPE_GATE_EPS"),
            "{e}"
        );
        let req = GateRequest {
            settings: vec![("gate_window".into(), "abc".into())],
            ..Default::default()
        };
        let e = resolve_gate(&req, &BTreeMap::new()).unwrap_err();
        assert!(e.contains("gate_window") && e.contains("abc"), "{e}");
        let req = GateRequest {
            settings: vec![("metric_interval".into(), "500".into())],
            ..Default::default()
        };
        let e = resolve_gate(&req, &BTreeMap::new()).unwrap_err();
        assert!(e.contains("metric_interval") && e.contains("500"), "{e}");
        let req = GateRequest {
            settings: vec![("window".into(), "5".into())],
            ..Default::default()
        };
        let e = resolve_gate(&req, &BTreeMap::new()).unwrap_err();
        assert!(e.contains("unknown gate control `window`"), "{e}");
    }

    #[test]
    fn seeds_and_strict_preconditions() {
        assert_eq!(
            run_seed(None, &BTreeMap::new()).unwrap(),
            RunSeed {
                value: 42,
                source: "default"
            }
        );
        assert_eq!(
            run_seed(None, &env(&[("VERISCOPE_SEED", "7")]))
                .unwrap()
                .source,
            "env"
        );
        assert!(run_seed(None, &env(&[("VERISCOPE_SEED", "x")])).is_err());
        let seed = run_seed(None, &BTreeMap::new()).unwrap();
        let traits = RunnerTraits {
            python: true,
            uses_gpu: false,
        };
        let describe = json!({"determinism": {"preconditions": [
            {"name": "cpu_threads", "met": false, "observed": "threads=4", "required": "threads=1"}
        ]}});
        let p = determinism_preconditions(seed, traits, &BTreeMap::new(), Some(&describe));
        let names: Vec<&str> = p.iter().map(|x| x.name.as_str()).collect();
        assert_eq!(names, ["run_seed_fixed", "python_hash_seed", "cpu_threads"]);
        let refusal = strict_refusal(&p).unwrap();
        assert!(refusal.contains("DETERMINISM_PRECONDITION_UNMET run_seed_fixed"));
        assert!(refusal.contains("DETERMINISM_PRECONDITION_UNMET python_hash_seed"));
        assert!(refusal.contains("threads=1"));
        let seed = run_seed(Some(3), &BTreeMap::new()).unwrap();
        let p = determinism_preconditions(seed, traits, &env(&[("PYTHONHASHSEED", "0")]), None);
        assert!(strict_refusal(&p).is_none());
    }

    #[test]
    fn manifest_is_path_free_and_hash_is_stable() {
        let args: Vec<String> = [
            "--data=/home/a/corpus.txt",
            "/tmp/x/cfg.json",
            "--lr",
            "0.1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            manifest_args(&args),
            ["--data=<abs>/corpus.txt", "<abs>/cfg.json", "--lr", "0.1"]
        );
        let hw = hardware("processor\t: 0\nmodel name\t: Some CPU @ 2GHz\n", &[], None);
        assert_eq!(hw["cpu_model"], json!("Some CPU @ 2GHz"));
        let inputs = ManifestInputs {
            seed: RunSeed {
                value: 42,
                source: "flag",
            },
            kind: "gpt",
            forwarded_args: &args,
            spec: Some(json!({"n_layer": 2})),
            gate_contract_hash: "ab",
            code_identity: json!({"package": "veriscope"}),
            hardware: hw,
            dependency_text: Some("torch==2\n"),
            strict: true,
        };
        let (m, h) = manifest(&inputs);
        assert_eq!(
            m["derived_seeds"]["data_order"],
            json!(10_646_091_845_267_208_524u64)
        );
        assert_eq!(m["determinism_mode"], json!("strict"));
        let (_, h2) = manifest(&inputs);
        assert_eq!(h, h2);
        let other = ManifestInputs {
            seed: RunSeed {
                value: 43,
                source: "flag",
            },
            ..inputs
        };
        assert_ne!(manifest(&other).1, h);
    }
}
