//! calibrated_v2 on real metric streams of the built-in trainer (`veriscope-gpt`, cpu_small,
//! 800 iterations, gate cadence W = 40, warmup 200, metric_interval 2: 15 checks), committed
//! under fixtures/streams/ (provenance in fixtures/streams/README.md). A model that is
//! learning has trending, autocorrelated metrics; the preset must not fail such a run, and
//! must fail runs with an injected pathology soon after the onset.

use std::collections::BTreeMap;

use veriscope_gate::engine::{Decision, GateConfig, GateEngine, GateRecord, Sample};

struct Stream {
    onset: Option<u64>,
    samples: Vec<Sample>,
}

fn load(name: &str) -> Stream {
    let path = format!(
        "{}/../../fixtures/streams/{name}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut stream = Stream {
        onset: None,
        samples: vec![],
    };
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        match v["type"].as_str() {
            Some("hello") => stream.onset = v["injection"]["at"].as_u64(),
            Some("sample") => {
                let metrics: BTreeMap<String, Option<f64>> = v["metrics"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, x)| (k.clone(), x.as_f64()))
                    .collect();
                stream.samples.push(Sample {
                    iter: v["iter"].as_u64().unwrap(),
                    metrics,
                    loss: v["loss"].as_f64(),
                    ewma_loss: v["ewma_loss"].as_f64(),
                    grad_norm: None,
                });
            }
            _ => {}
        }
    }
    stream
}

/// The trainer's cadence (docs/trainer.md, cpu_small).
fn gate(preset: &str, stream: &Stream) -> Vec<GateRecord> {
    let cfg = GateConfig::preset(preset)
        .unwrap()
        .with_cadence(40, 200, 2)
        .unwrap();
    let mut engine = GateEngine::new(cfg);
    stream
        .samples
        .iter()
        .filter_map(|s| engine.observe(s))
        .collect()
}

fn fails(records: &[GateRecord]) -> Vec<u64> {
    records
        .iter()
        .filter(|r| r.decision == Decision::Fail)
        .map(|r| r.iter)
        .collect()
}

#[test]
fn healthy_learning_runs_never_fail() {
    for name in ["gpt_cpu_small_healthy_s43", "gpt_cpu_small_healthy_s51"] {
        let s = load(name);
        assert_eq!(s.samples.len(), 400, "{name}");
        let recs = gate("calibrated_v2", &s);
        assert_eq!(recs.len(), 15, "{name}");
        assert!(recs.iter().all(|r| r.decision == Decision::Pass), "{name}");
        // The same streams fail tuned_v0 and calibrated_v1 (flat-baseline presets), and
        // stationary_v1, whose frozen reference a learning run leaves behind (docs/gate.md
        // §stationary_v1, limit 1: it is for phases whose metrics should not move).
        for preset in ["tuned_v0", "calibrated_v1", "stationary_v1"] {
            assert!(fails(&gate(preset, &s)).len() >= 5, "{preset} on {name}");
        }
    }
}

#[test]
fn injected_pathologies_fail_within_one_window_of_onset() {
    // (fixture, latest acceptable first fail, channels expected at that check)
    for (name, by, metric) in [
        // Representation collapse (scale 0.9, rank 2): the newest snapshot at the onset.
        ("gpt_cpu_small_collapse_s44", 400, "cos_disp"),
        // LR ×20 for 40 iterations.
        ("gpt_cpu_small_lrspike_s43", 440, "var_out_k"),
        // Half the input tokens replaced by random ids for 400 iterations.
        ("gpt_cpu_small_corrupt_s44", 440, "cos_disp"),
    ] {
        let s = load(name);
        let onset = s.onset.expect("injection onset in the hello line");
        assert_eq!(onset, 400);
        let recs = gate("calibrated_v2", &s);
        let f = fails(&recs);
        assert!(
            f.iter().all(|&i| i >= onset),
            "{name}: fail before onset {f:?}"
        );
        let first = *f.first().unwrap_or_else(|| panic!("{name}: not detected"));
        assert!(first <= by, "{name}: first fail at {first}");
        let rec = recs.iter().find(|r| r.iter == first).unwrap();
        let flagged = rec.audit["channels_flagged"].to_string();
        assert!(flagged.contains(metric), "{name}: {flagged}");
    }
}
