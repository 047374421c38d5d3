//! Distributed context of a run (distributed_mode.md; contract_v1 §Distributed execution):
//! what the launch environment says (torchrun / torch elastic / SLURM variables, or a torchrun
//! command line the wrapper starts) and how the runner's own `distributed` report is merged
//! over it for `run_started_v1.payload.distributed`.
//!
//! The launch environment can only say how many processes were started and which one this
//! is; whether a process group was initialized (`ddp_wrapped`) and its `backend` are known
//! only to the runner, so the env default is `replicated_single_chief_emit` for a world
//! above 1 and the runner's hello (the Python SDK reports `ddp_wrapped` / `gloo` / `nccl`)
//! refines it.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// The three allowed `distributed_mode` values (contract_v1).
pub const DISTRIBUTED_MODES: [&str; 3] = [
    "single_process",
    "replicated_single_chief_emit",
    "ddp_wrapped",
];

/// Legacy alias → canonical field (distributed_mode.md, "Legacy compatibility lane").
const LEGACY_ALIASES: [(&str, &str); 4] = [
    ("ddp_backend", "backend"),
    ("rank_observed", "rank"),
    ("local_rank_observed", "local_rank"),
    ("ddp_active", "ddp_wrapped"),
];

fn env_uint(env: &BTreeMap<String, String>, key: &str) -> Option<u64> {
    env.get(key).and_then(|v| v.trim().parse::<u64>().ok())
}

/// Which launcher the environment shows: `torchrun` (torch elastic / `torch.distributed.run`
/// workers, or a plain `MASTER_ADDR` + `WORLD_SIZE` rendezvous), `slurm` (an `srun` task:
/// `SLURM_PROCID` is set), or `None`.
pub fn env_launcher(env: &BTreeMap<String, String>) -> Option<&'static str> {
    let has = |k: &str| env.get(k).is_some_and(|v| !v.trim().is_empty());
    let elastic = env.keys().any(|k| k.starts_with("TORCHELASTIC_"));
    if elastic || has("WORLD_SIZE") || has("RANK") || has("LOCAL_RANK") || has("MASTER_ADDR") {
        Some("torchrun")
    } else if has("SLURM_PROCID") {
        Some("slurm")
    } else {
        None
    }
}

/// Distributed context of the launch environment.
///
/// torchrun / torch elastic: `WORLD_SIZE`, `RANK`, `LOCAL_RANK` (`MASTER_ADDR`/`MASTER_PORT`
/// and `TORCHELASTIC_*` mark the launcher; `LOCAL_WORLD_SIZE` × `GROUP_WORLD_SIZE` stands in
/// for a missing `WORLD_SIZE`). SLURM: `SLURM_NTASKS` (or `SLURM_NPROCS`), `SLURM_PROCID`,
/// `SLURM_LOCALID`, read only inside a task (`SLURM_PROCID` set): an `salloc` shell also
/// exports `SLURM_NTASKS` but runs one process. torchrun variables win over SLURM ones
/// (torchrun started under `srun` describes the real worker group).
pub fn env_distributed(env: &BTreeMap<String, String>) -> Value {
    let int = |k: &str| env_uint(env, k);
    let slurm_task = int("SLURM_PROCID").is_some();
    let slurm = |k: &str| if slurm_task { int(k) } else { None };
    let world = int("WORLD_SIZE")
        .or_else(|| Some(int("LOCAL_WORLD_SIZE")? * int("GROUP_WORLD_SIZE").unwrap_or(1)))
        .or_else(|| slurm("SLURM_NTASKS"))
        .or_else(|| slurm("SLURM_NPROCS"))
        .unwrap_or(1)
        .max(1);
    let rank = int("RANK").or_else(|| slurm("SLURM_PROCID")).unwrap_or(0);
    let local_rank = int("LOCAL_RANK").or_else(|| slurm("SLURM_LOCALID"));
    json!({
        "distributed_mode": if world > 1 { "replicated_single_chief_emit" } else { "single_process" },
        "world_size_observed": world,
        "backend": Value::Null,
        "rank": rank,
        "local_rank": local_rank,
        "ddp_wrapped": false,
    })
}

/// World size a torchrun command line will start on this node, when `argv` launches
/// `torchrun` or `python -m torch.distributed.run` with a fixed `--nproc-per-node N` (and
/// `--nnodes M`, a plain integer; an elastic range `1:4` gives no answer).
pub fn argv_world_size(argv: &[String]) -> Option<u64> {
    let launcher = argv.iter().position(|a| {
        a == "torch.distributed.run"
            || a == "torch.distributed.launch"
            || std::path::Path::new(a)
                .file_name()
                .is_some_and(|n| n == "torchrun")
    })?;
    let (mut nproc, mut nnodes) = (None, Some(1u64));
    let mut it = argv[launcher + 1..].iter();
    while let Some(a) = it.next() {
        if !a.starts_with("--") {
            // The training script (or `-m module`): launcher options end here.
            if a == "-m" {
                continue;
            }
            break;
        }
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) => (k.replace('_', "-"), Some(v.to_string())),
            None => (a.replace('_', "-"), None),
        };
        let mut value = || inline.clone().or_else(|| it.next().cloned());
        match key.as_str() {
            "--nproc-per-node" => nproc = value().and_then(|v| v.parse::<u64>().ok()),
            "--nnodes" => nnodes = value().and_then(|v| v.parse::<u64>().ok()),
            "--standalone" | "--no-python" | "--module" | "--run-path" => {}
            _ if inline.is_none() => {
                it.next();
            }
            _ => {}
        }
    }
    Some(nproc? * nnodes?).filter(|w| *w >= 1)
}

/// The env default ([`env_distributed`]) refined by the runner command line: a torchrun
/// launch the wrapper starts itself (`veriscope run hf --nproc-per-node N`, or `run cmd --
/// torchrun ...`) has a known world size before any worker says hello.
pub fn launch_distributed(env: &BTreeMap<String, String>, runner_argv: &[String]) -> Value {
    let mut d = env_distributed(env);
    if let Some(w) = argv_world_size(runner_argv).filter(|w| *w > 1) {
        d["world_size_observed"] = json!(w);
        d["rank"] = json!(0);
        d["local_rank"] = json!(0);
        d["distributed_mode"] = json!("replicated_single_chief_emit");
    }
    d
}

/// Merges the runner's `distributed` object over the env defaults, keeping only well-typed
/// fields, reading the legacy aliases (`ddp_backend`, `rank_observed`, `local_rank_observed`,
/// `ddp_active`) when the canonical field is absent, and deriving a valid, consistent
/// `distributed_mode`, so a sloppy runner cannot make the capsule fail distributed
/// validation (contract_v1 §Distributed execution). The result carries canonical names only.
pub fn normalize_distributed(reported: &Map<String, Value>, defaults: &Value) -> Value {
    let mut d = defaults.as_object().cloned().unwrap_or_default();
    for (alias, canonical) in LEGACY_ALIASES {
        d.remove(alias);
        if d.get(canonical).is_none()
            && let Some(v) = d.get(alias).cloned()
        {
            d.insert(canonical.into(), v);
        }
    }
    let field = |k: &str| -> Option<&Value> {
        reported.get(k).or_else(|| {
            LEGACY_ALIASES
                .iter()
                .find(|(_, c)| *c == k)
                .and_then(|(alias, _)| reported.get(*alias))
        })
    };
    let uint = |k: &str| field(k).and_then(Value::as_u64);
    if let Some(w) = uint("world_size_observed").filter(|w| *w >= 1) {
        d.insert("world_size_observed".into(), json!(w));
    }
    if let Some(r) = uint("rank") {
        d.insert("rank".into(), json!(r));
    }
    match field("local_rank") {
        Some(Value::Null) => {
            d.insert("local_rank".into(), Value::Null);
        }
        // HF's TrainingArguments.local_rank is -1 outside a distributed launch.
        Some(v) if v.as_i64().is_some_and(|r| r < 0) => {
            d.insert("local_rank".into(), Value::Null);
        }
        Some(v) if v.as_u64().is_some() => {
            d.insert("local_rank".into(), v.clone());
        }
        _ => {}
    }
    match field("backend") {
        Some(Value::String(b)) if !b.trim().is_empty() => {
            d.insert("backend".into(), json!(b.trim()));
        }
        Some(Value::Null) => {
            d.insert("backend".into(), Value::Null);
        }
        _ => {}
    }
    let reported_mode = field("distributed_mode")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|m| DISTRIBUTED_MODES.contains(m));
    let wrapped_flag = field("ddp_wrapped").and_then(Value::as_bool);
    let world = d
        .get("world_size_observed")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    // ddp_wrapped (contract_v1): an initialized process group AND world > 1.
    let wrapped = world > 1 && wrapped_flag.unwrap_or(reported_mode == Some("ddp_wrapped"));
    let mode = if world <= 1 {
        "single_process"
    } else if wrapped {
        "ddp_wrapped"
    } else {
        match reported_mode {
            Some("ddp_wrapped") | Some("single_process") | None => "replicated_single_chief_emit",
            Some(m) => m,
        }
    };
    d.insert("ddp_wrapped".into(), json!(wrapped));
    d.insert("distributed_mode".into(), json!(mode));
    if d.get("rank").and_then(Value::as_u64).is_none() {
        d.insert("rank".into(), json!(0));
    }
    if !d.contains_key("local_rank") {
        d.insert("local_rank".into(), Value::Null);
    }
    if !d.contains_key("backend") {
        d.insert("backend".into(), Value::Null);
    }
    Value::Object(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_env::env;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn env_distributed_defaults_to_single_process() {
        let d = env_distributed(&BTreeMap::new());
        assert_eq!(d["distributed_mode"], "single_process");
        assert_eq!(d["world_size_observed"], 1);
        assert_eq!(d["rank"], 0);
        assert_eq!(d["local_rank"], Value::Null);
        assert_eq!(d["backend"], Value::Null);
        assert_eq!(d["ddp_wrapped"], false);
        assert_eq!(env_launcher(&BTreeMap::new()), None);
    }

    #[test]
    fn torchrun_worker_env_is_read() {
        let e = env(&[
            ("WORLD_SIZE", "8"),
            ("RANK", "5"),
            ("LOCAL_RANK", "1"),
            ("LOCAL_WORLD_SIZE", "4"),
            ("MASTER_ADDR", "10.0.0.1"),
            ("MASTER_PORT", "29500"),
            ("TORCHELASTIC_RUN_ID", "none"),
            ("TORCHELASTIC_RESTART_COUNT", "0"),
        ]);
        let d = env_distributed(&e);
        assert_eq!(d["world_size_observed"], 8);
        assert_eq!(d["rank"], 5);
        assert_eq!(d["local_rank"], 1);
        assert_eq!(d["distributed_mode"], "replicated_single_chief_emit");
        assert_eq!(d["ddp_wrapped"], false);
        assert_eq!(env_launcher(&e), Some("torchrun"));
        // Elastic agents export LOCAL_WORLD_SIZE/GROUP_WORLD_SIZE; WORLD_SIZE may be absent.
        let d = env_distributed(&env(&[
            ("LOCAL_WORLD_SIZE", "4"),
            ("GROUP_WORLD_SIZE", "2"),
            ("TORCHELASTIC_RUN_ID", "x"),
        ]));
        assert_eq!(d["world_size_observed"], 8);
    }

    #[test]
    fn slurm_task_env_is_read_but_not_an_salloc_shell() {
        let task = env(&[
            ("SLURM_NTASKS", "16"),
            ("SLURM_PROCID", "9"),
            ("SLURM_LOCALID", "1"),
        ]);
        let d = env_distributed(&task);
        assert_eq!(d["world_size_observed"], 16);
        assert_eq!(d["rank"], 9);
        assert_eq!(d["local_rank"], 1);
        assert_eq!(d["distributed_mode"], "replicated_single_chief_emit");
        assert_eq!(env_launcher(&task), Some("slurm"));
        // An `salloc -n 16` shell: SLURM_NTASKS without a task id is one process.
        let shell = env(&[("SLURM_NTASKS", "16"), ("SLURM_JOB_ID", "1")]);
        assert_eq!(env_distributed(&shell)["world_size_observed"], 1);
        assert_eq!(
            env_distributed(&shell)["distributed_mode"],
            "single_process"
        );
        // SLURM_NPROCS is the older spelling.
        let old = env(&[("SLURM_NPROCS", "4"), ("SLURM_PROCID", "0")]);
        assert_eq!(env_distributed(&old)["world_size_observed"], 4);
        // torchrun under srun: torchrun's variables describe the worker group.
        let both = env(&[
            ("SLURM_NTASKS", "2"),
            ("SLURM_PROCID", "1"),
            ("WORLD_SIZE", "16"),
            ("RANK", "12"),
        ]);
        assert_eq!(env_distributed(&both)["world_size_observed"], 16);
        assert_eq!(env_distributed(&both)["rank"], 12);
    }

    #[test]
    fn garbage_env_values_fall_back() {
        let d = env_distributed(&env(&[("WORLD_SIZE", "two"), ("RANK", "-1")]));
        assert_eq!(d["world_size_observed"], 1);
        assert_eq!(d["rank"], 0);
        assert_eq!(
            env_distributed(&env(&[("WORLD_SIZE", "0")]))["world_size_observed"],
            1
        );
    }

    #[test]
    fn torchrun_command_lines_give_the_world_size() {
        let w = |s: &str| argv_world_size(&words(s));
        assert_eq!(
            w(
                "python3 -m torch.distributed.run --standalone --nproc-per-node 2 -m veriscope.hf_train --max_steps 5"
            ),
            Some(2)
        );
        assert_eq!(
            w("torchrun --nproc_per_node=4 --nnodes=2 train.py"),
            Some(8)
        );
        assert_eq!(
            w(
                "/usr/bin/torchrun --master-port 1234 --nproc-per-node=3 train.py --nproc-per-node 9"
            ),
            Some(3)
        );
        assert_eq!(w("torchrun --nnodes 1:4 --nproc-per-node 2 train.py"), None);
        assert_eq!(w("torchrun --nproc-per-node gpu train.py"), None);
        assert_eq!(w("python3 train.py --nproc-per-node 2"), None);
        let d = launch_distributed(&BTreeMap::new(), &words("torchrun --nproc-per-node 2 t.py"));
        assert_eq!(d["world_size_observed"], 2);
        assert_eq!(d["distributed_mode"], "replicated_single_chief_emit");
        let d = launch_distributed(&BTreeMap::new(), &words("python3 t.py"));
        assert_eq!(d["distributed_mode"], "single_process");
    }

    #[test]
    fn runner_distributed_is_normalized() {
        let defaults = env_distributed(&BTreeMap::new());
        let reported = json!({"world_size_observed": 4, "rank": 2, "distributed_mode": "bogus", "ddp_wrapped": true});
        let d = normalize_distributed(reported.as_object().unwrap(), &defaults);
        assert_eq!(d["distributed_mode"], "ddp_wrapped");
        assert_eq!(d["rank"], 2);
        assert_eq!(d["world_size_observed"], 4);
    }

    #[test]
    fn sdk_ddp_report_is_kept() {
        let defaults =
            launch_distributed(&BTreeMap::new(), &words("torchrun --nproc-per-node 2 x.py"));
        let reported = json!({"distributed_mode": "ddp_wrapped", "world_size_observed": 2, "backend": "gloo",
                              "rank": 0, "local_rank": 0, "ddp_wrapped": true});
        let d = normalize_distributed(reported.as_object().unwrap(), &defaults);
        assert_eq!(d, reported);
    }

    #[test]
    fn legacy_aliases_are_read_and_written_canonically() {
        let defaults = env_distributed(&BTreeMap::new());
        let reported = json!({"world_size_observed": 2, "ddp_backend": "nccl", "rank_observed": 1,
                              "local_rank_observed": 1, "ddp_active": true});
        let d = normalize_distributed(reported.as_object().unwrap(), &defaults);
        assert_eq!(d["backend"], "nccl");
        assert_eq!(d["rank"], 1);
        assert_eq!(d["local_rank"], 1);
        assert_eq!(d["ddp_wrapped"], true);
        assert_eq!(d["distributed_mode"], "ddp_wrapped");
        for alias in [
            "ddp_backend",
            "rank_observed",
            "local_rank_observed",
            "ddp_active",
        ] {
            assert!(d.get(alias).is_none(), "{alias} leaked: {d}");
        }
        // A canonical field wins over its alias.
        let reported = json!({"world_size_observed": 2, "backend": "gloo", "ddp_backend": "nccl"});
        let d = normalize_distributed(reported.as_object().unwrap(), &defaults);
        assert_eq!(d["backend"], "gloo");
    }

    #[test]
    fn inconsistent_reports_get_a_consistent_mode() {
        let defaults = env_distributed(&BTreeMap::new());
        let norm = |v: Value| normalize_distributed(v.as_object().unwrap(), &defaults);
        // The old SDK's "ddp" token and HF's local_rank -1.
        let d = norm(
            json!({"world_size_observed": 2, "distributed_mode": "ddp", "ddp_wrapped": true, "local_rank": -1}),
        );
        assert_eq!(d["distributed_mode"], "ddp_wrapped");
        assert_eq!(d["local_rank"], Value::Null);
        // ddp_wrapped with a world of one is a single process (contract_v1 semantics).
        let d = norm(
            json!({"world_size_observed": 1, "distributed_mode": "ddp_wrapped", "ddp_wrapped": true}),
        );
        assert_eq!(d["distributed_mode"], "single_process");
        assert_eq!(d["ddp_wrapped"], false);
        // World 2 without a process group: chief emission.
        let d = norm(json!({"world_size_observed": 2, "distributed_mode": "single_process"}));
        assert_eq!(d["distributed_mode"], "replicated_single_chief_emit");
        // A mode of ddp_wrapped implies the flag when the flag is absent.
        let d = norm(json!({"world_size_observed": 3, "distributed_mode": "ddp_wrapped"}));
        assert_eq!(d["ddp_wrapped"], true);
        // Wrong types are ignored, never written through.
        let d = norm(
            json!({"world_size_observed": "4", "rank": -2, "backend": 7, "ddp_wrapped": "yes"}),
        );
        assert_eq!(d["world_size_observed"], 1);
        assert_eq!(d["rank"], 0);
        assert_eq!(d["backend"], Value::Null);
        assert_eq!(d["distributed_mode"], "single_process");
        for mode in DISTRIBUTED_MODES {
            let d = norm(json!({"world_size_observed": 2, "distributed_mode": mode}));
            assert!(DISTRIBUTED_MODES.contains(&d["distributed_mode"].as_str().unwrap()));
        }
    }
}
