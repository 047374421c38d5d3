//! Set-up shared by the trainer's integration tests: a tiny model (about a second per run)
//! and a training run into a stream file. Each test file uses a subset.
#![allow(dead_code)]

use std::path::Path;

use clap::Parser;
use veriscope_gpt::cli::Args;
use veriscope_gpt::config::TrainConfig;
use veriscope_gpt::interrupt::Interrupt;
use veriscope_gpt::stream::{ControlState, MetricsSink, SinkTarget};
use veriscope_gpt::trainer::{Outcome, RunContext, train};

/// The tiny model and a gate cadence that gives checks within a few dozen iterations.
pub const TINY_MODEL: &[&str] = &[
    "--n-layer",
    "1",
    "--n-head",
    "2",
    "--n-embd",
    "32",
    "--block-size",
    "16",
    "--batch-size",
    "8",
    "--probe-batch",
    "4",
    "--metric-interval",
    "2",
    "--gate-window",
    "4",
    "--gate-warmup",
    "8",
    "--lr",
    "3e-3",
    "--warmup-iters",
    "5",
];

/// The config of `veriscope-gpt TINY_MODEL args…` under the environment `env`.
pub fn tiny_config(args: &[&str], env: impl Fn(&str) -> Option<String>) -> TrainConfig {
    let argv = std::iter::once("veriscope-gpt")
        .chain(TINY_MODEL.iter().copied())
        .chain(args.iter().copied());
    Args::try_parse_from(argv).unwrap().resolve(env).unwrap()
}

/// Trains `cfg` in-process, writing the stream to `out`.
pub fn train_to(
    cfg: &TrainConfig,
    out: &Path,
    control: &ControlState,
    interrupt: &Interrupt,
) -> Outcome {
    let sink = MetricsSink::open(&SinkTarget::Path(out.to_path_buf())).unwrap();
    train(
        cfg,
        RunContext {
            sink,
            control,
            interrupt,
            progress: false,
        },
    )
    .unwrap()
}
