//! Runner resolution for `run gpt` and `run hf`: which command to launch, the trainer's
//! self-description (`--describe`, for its gate cadence), and the HF dependency preflight
//! (productization §2.2). `run cmd` needs none of this.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

use crate::environment::probe;
use crate::gatelink::Cadence;
use crate::shellwords;

/// Overrides the built-in trainer command (shell words).
pub const GPT_RUNNER_ENV: &str = "VERISCOPE_GPT_RUNNER_CMD";
/// Overrides the HF runner command (shell words).
pub const HF_RUNNER_ENV: &str = "VERISCOPE_HF_RUNNER_CMD";
/// Python used for the HF preflight when the runner command is not itself a Python.
pub const HF_PYTHON_ENV: &str = "VERISCOPE_HF_PYTHON";

/// A runner that cannot be resolved; all are usage errors (exit 2), reported before any write.
#[derive(Debug, Error)]
pub enum KindError {
    #[error("{var} is not a valid command: {source}")]
    BadOverride {
        var: &'static str,
        source: shellwords::SplitError,
    },
    #[error("{var} is empty")]
    EmptyOverride { var: &'static str },
    #[error(
        "HF dependency preflight failed: `{python}` cannot import torch and transformers ({detail}). \
         Install them into that Python (`{python} -m pip install torch transformers`), set {HF_PYTHON_ENV} \
         to a Python that has them, or point {HF_RUNNER_ENV} at another runner."
    )]
    HfPreflight { python: String, detail: String },
    /// A launcher option the request cannot use (exit 2).
    #[error("{0}")]
    Invalid(String),
}

fn override_cmd(
    env: &BTreeMap<String, String>,
    var: &'static str,
) -> Result<Option<Vec<String>>, KindError> {
    let Some(raw) = env.get(var) else {
        return Ok(None);
    };
    let words = shellwords::split(raw).map_err(|source| KindError::BadOverride { var, source })?;
    if words.is_empty() {
        return Err(KindError::EmptyOverride { var });
    }
    Ok(Some(words))
}

/// The trainer command: `$VERISCOPE_GPT_RUNNER_CMD`, else `veriscope-gpt` beside `exe`.
pub fn gpt_runner_base(
    env: &BTreeMap<String, String>,
    exe: &Path,
) -> Result<Vec<String>, KindError> {
    if let Some(words) = override_cmd(env, GPT_RUNNER_ENV)? {
        return Ok(words);
    }
    let beside = exe.parent().map(|d| d.join("veriscope-gpt"));
    let path = beside
        .filter(|p| p.exists())
        .map_or_else(|| "veriscope-gpt".to_string(), |p| p.display().to_string());
    Ok(vec![path])
}

/// Result of `<trainer> --describe <args>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Describe {
    pub json: Value,
    pub cadence: Option<Cadence>,
    /// The trainer will use a CUDA device.
    pub uses_gpu: bool,
}

/// Asks the trainer to describe itself; `Err` carries a human reason (a warning, not fatal).
pub fn describe(
    base: &[String],
    args: &[String],
    env: &BTreeMap<String, String>,
) -> Result<Describe, String> {
    let mut argv: Vec<&str> = base.iter().map(String::as_str).collect();
    argv.push("--describe");
    argv.extend(args.iter().map(String::as_str));
    let out =
        probe(&argv, env, Duration::from_secs(60)).ok_or("`--describe` failed or timed out")?;
    let json: Value = serde_json::from_str(out.trim())
        .map_err(|e| format!("`--describe` printed no JSON object: {e}"))?;
    if !json.is_object() {
        return Err("`--describe` printed JSON that is not an object".into());
    }
    let cadence = json.get("gate_cadence").and_then(Cadence::from_json);
    let device = json.get("device").and_then(Value::as_str).unwrap_or("");
    let uses_gpu =
        device.starts_with("cuda") || json.get("preset").and_then(Value::as_str) == Some("gpu");
    Ok(Describe {
        json,
        cadence,
        uses_gpu,
    })
}

/// The HF runner command: `$VERISCOPE_HF_RUNNER_CMD`, else `python3 -m veriscope.hf_train`.
pub fn hf_runner_base(env: &BTreeMap<String, String>) -> Result<Vec<String>, KindError> {
    Ok(override_cmd(env, HF_RUNNER_ENV)?.unwrap_or_else(|| {
        vec![
            hf_python(env, None),
            "-m".into(),
            "veriscope.hf_train".into(),
        ]
    }))
}

/// The HF runner launched as `nproc_per_node` processes on this node (`veriscope run hf
/// --nproc-per-node N`). `None` or 1 keeps the single-process command.
///
/// N > 1 runs the runner under `python -m torch.distributed.run --standalone
/// --nproc-per-node N` (a local rendezvous on a free port, so concurrent runs do not
/// collide), started by the runner's Python ([`hf_python`]):
/// - `python -m MODULE ARGS` (the default `veriscope.hf_train`) → `... -m MODULE ARGS`;
/// - `python SCRIPT ARGS` → `... SCRIPT ARGS`;
/// - anything else (a wrapper script, `python -u -m ...`) → `... --no-python CMD ARGS`, so
///   torchrun runs the command as given in every worker.
///
/// The wrapper's forwarded arguments follow, so they reach every worker. A command that is
/// already a torchrun launch is refused: the world would be launched twice.
pub fn hf_launch(
    base: Vec<String>,
    nproc_per_node: Option<u32>,
    env: &BTreeMap<String, String>,
) -> Result<Vec<String>, KindError> {
    let n = match nproc_per_node {
        None | Some(1) => return Ok(base),
        Some(0) => {
            return Err(KindError::Invalid(
                "--nproc-per-node must be at least 1".into(),
            ));
        }
        Some(n) => n,
    };
    let is_launcher = |w: &String| {
        w == "torch.distributed.run"
            || w == "torch.distributed.launch"
            || Path::new(w).file_name().is_some_and(|f| f == "torchrun")
    };
    if base.iter().any(is_launcher) {
        return Err(KindError::Invalid(format!(
            "--nproc-per-node: the HF runner command ({HF_RUNNER_ENV}) already launches torchrun; \
             drop --nproc-per-node or the launcher from the command"
        )));
    }
    let python = hf_python(env, Some(&base));
    let mut argv = vec![
        python,
        "-m".to_string(),
        "torch.distributed.run".to_string(),
        "--standalone".to_string(),
        "--nproc-per-node".to_string(),
        n.to_string(),
    ];
    let base_is_python = base.first().is_some_and(|p| {
        Path::new(p)
            .file_name()
            .and_then(|f| f.to_str())
            .is_some_and(|f| f.starts_with("python"))
    });
    match base.as_slice() {
        [_, m, module, rest @ ..] if base_is_python && m == "-m" => {
            argv.extend(["-m".to_string(), module.clone()]);
            argv.extend(rest.iter().cloned());
        }
        [_, script, rest @ ..] if base_is_python && !script.starts_with('-') => {
            argv.push(script.clone());
            argv.extend(rest.iter().cloned());
        }
        _ => {
            argv.push("--no-python".to_string());
            argv.extend(base);
        }
    }
    Ok(argv)
}

/// The Python whose packages the HF runner uses.
pub fn hf_python(env: &BTreeMap<String, String>, base: Option<&[String]>) -> String {
    if let Some(py) = env.get(HF_PYTHON_ENV).filter(|p| !p.is_empty()) {
        return py.clone();
    }
    let first = base.and_then(|b| b.first());
    match first {
        Some(p)
            if Path::new(p)
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("python")) =>
        {
            p.clone()
        }
        _ => "python3".into(),
    }
}

/// Fails fast when `python` cannot import torch and transformers.
pub fn hf_preflight(python: &str, env: &BTreeMap<String, String>) -> Result<(), KindError> {
    let script = "import torch, transformers; print('ok')";
    match probe(&[python, "-c", script], env, Duration::from_secs(120)) {
        Some(out) if out.trim() == "ok" => Ok(()),
        _ => {
            let detail = probe_stderr(python, script, env);
            Err(KindError::HfPreflight {
                python: python.to_string(),
                detail,
            })
        }
    }
}

/// Last stderr line of the failed import, for the message.
fn probe_stderr(python: &str, script: &str, env: &BTreeMap<String, String>) -> String {
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .env_clear()
        .envs(env)
        .output();
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stderr)
            .lines()
            .last()
            .unwrap_or("import failed")
            .trim()
            .to_string(),
        Err(e) => format!("cannot run it: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_commands_are_shell_split() {
        let mut env = BTreeMap::new();
        env.insert(
            GPT_RUNNER_ENV.to_string(),
            "python3 'my runner.py' --x".to_string(),
        );
        let base = gpt_runner_base(&env, Path::new("/nonexistent/veriscope")).unwrap();
        assert_eq!(base, vec!["python3", "my runner.py", "--x"]);
        env.insert(GPT_RUNNER_ENV.to_string(), "  ".to_string());
        assert!(matches!(
            gpt_runner_base(&env, Path::new("/x")),
            Err(KindError::EmptyOverride { .. })
        ));
    }

    #[test]
    fn describe_reads_cadence() {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let base = vec!["sh".to_string(), "-c".to_string(), r#"echo '{"gate_cadence":{"gate_window":20,"gate_warmup_iters":40,"metric_interval":5},"device":"cpu"}'"#.to_string()];
        let d = describe(&base, &[], &env).unwrap();
        assert_eq!(
            d.cadence,
            Some(Cadence {
                gate_window: 20,
                gate_warmup_iters: 40,
                metric_interval: 5
            })
        );
        assert!(!d.uses_gpu);
    }

    #[test]
    fn preflight_names_the_python_and_the_fix() {
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let err = hf_preflight("/nonexistent/python3", &env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/python3") && err.contains("pip install"),
            "{err}"
        );
    }

    fn strings(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn hf_launch_wraps_the_runner_in_torchrun() {
        let env = BTreeMap::new();
        let base = strings("/venv/bin/python -m veriscope.hf_train");
        assert_eq!(hf_launch(base.clone(), None, &env).unwrap(), base);
        assert_eq!(hf_launch(base.clone(), Some(1), &env).unwrap(), base);
        assert_eq!(
            hf_launch(base, Some(2), &env).unwrap(),
            strings(
                "/venv/bin/python -m torch.distributed.run --standalone --nproc-per-node 2 -m veriscope.hf_train"
            )
        );
        // A custom script keeps its arguments; the launcher Python is VERISCOPE_HF_PYTHON.
        let mut env = BTreeMap::new();
        env.insert(HF_PYTHON_ENV.to_string(), "/py/bin/python3".to_string());
        assert_eq!(
            hf_launch(strings("python3 my_train.py --x 1"), Some(4), &env).unwrap(),
            strings(
                "/py/bin/python3 -m torch.distributed.run --standalone --nproc-per-node 4 my_train.py --x 1"
            )
        );
        // Not a plain Python command: torchrun runs it as is.
        assert_eq!(
            hf_launch(strings("./train.sh --fast"), Some(2), &env).unwrap(),
            strings(
                "/py/bin/python3 -m torch.distributed.run --standalone --nproc-per-node 2 --no-python ./train.sh --fast"
            )
        );
        assert_eq!(
            hf_launch(
                strings("python3 -u -m pkg.train"),
                Some(2),
                &BTreeMap::new()
            )
            .unwrap(),
            strings(
                "python3 -m torch.distributed.run --standalone --nproc-per-node 2 --no-python python3 -u -m pkg.train"
            )
        );
    }

    #[test]
    fn hf_launch_refuses_zero_and_double_launch() {
        let env = BTreeMap::new();
        let err = hf_launch(strings("python3 -m x"), Some(0), &env).unwrap_err();
        assert!(err.to_string().contains("at least 1"), "{err}");
        let err =
            hf_launch(strings("torchrun --nproc-per-node 2 t.py"), Some(2), &env).unwrap_err();
        assert!(
            matches!(err, KindError::Invalid(_))
                && err.to_string().contains("already launches torchrun"),
            "{err}"
        );
    }
}
