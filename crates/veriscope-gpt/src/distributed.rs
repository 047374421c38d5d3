//! Replicated ranks (distributed_mode `replicated_single_chief_emit`; docs/trainer.md
//! §Replicated ranks). The trainer never joins a process group: when a launcher starts it
//! `WORLD_SIZE` > 1 times, every rank trains the same run on its own and only rank 0 (the
//! chief) writes the metrics stream and checkpoints, so the wrapper sees one stream.
//!
//! The variables are read as the wrapper reads them (veriscope-runner `env_distributed`):
//! `WORLD_SIZE` else `SLURM_NTASKS`, `RANK` else `SLURM_PROCID`, `LOCAL_RANK`.

use serde::{Serialize, Serializer};
use serde_json::{Value, json};
use veriscope_contracts::DistributedMode;

/// This process's place among the replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Distributed {
    pub world_size: u64,
    pub rank: u64,
    pub local_rank: Option<u64>,
}

impl Default for Distributed {
    fn default() -> Self {
        Self {
            world_size: 1,
            rank: 0,
            local_rank: None,
        }
    }
}

impl Distributed {
    /// Reads the launcher's variables. A world size above 1 without a rank is refused: every
    /// process would think it is the chief and write the one stream.
    pub fn from_env(env: &impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let int = |keys: &[&str]| -> Result<Option<u64>, String> {
            for key in keys {
                if let Some(raw) = env(key).filter(|v| !v.trim().is_empty()) {
                    return raw
                        .trim()
                        .parse::<u64>()
                        .map(Some)
                        .map_err(|_| format!("{key}='{raw}' is not a non-negative integer"));
                }
            }
            Ok(None)
        };
        let world_size = int(&["WORLD_SIZE", "SLURM_NTASKS"])?.unwrap_or(1).max(1);
        let rank = int(&["RANK", "SLURM_PROCID"])?;
        let local_rank = int(&["LOCAL_RANK"])?;
        if world_size == 1 {
            return Ok(Self {
                local_rank,
                ..Self::default()
            });
        }
        let rank = rank.ok_or_else(|| {
            format!(
                "WORLD_SIZE={world_size} but RANK is not set: a replicated run needs each \
                 process's rank so that only rank 0 writes the metrics stream"
            )
        })?;
        if rank >= world_size {
            return Err(format!("RANK={rank} is not below WORLD_SIZE={world_size}"));
        }
        Ok(Self {
            world_size,
            rank,
            local_rank,
        })
    }

    /// Rank 0 writes the stream and the checkpoints; the others train silently.
    pub fn is_chief(&self) -> bool {
        self.rank == 0
    }

    pub fn mode(&self) -> DistributedMode {
        if self.world_size > 1 {
            DistributedMode::ReplicatedSingleChiefEmit
        } else {
            DistributedMode::SingleProcess
        }
    }

    /// The hello line's `distributed` object (metrics-stream.md §hello).
    pub fn to_json(&self) -> Value {
        json!({
            "distributed_mode": self.mode().as_str(),
            "world_size_observed": self.world_size,
            "backend": null,
            "rank": self.rank,
            "local_rank": self.local_rank,
            "ddp_wrapped": false,
        })
    }
}

impl Serialize for Distributed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_env::env_of;

    #[test]
    fn no_launcher_is_a_single_process() {
        let d = Distributed::from_env(&env_of(&[])).unwrap();
        assert!(d.is_chief());
        assert_eq!(d.to_json()["distributed_mode"], "single_process");
        assert_eq!(d.to_json()["world_size_observed"], 1);
        let one = Distributed::from_env(&env_of(&[("WORLD_SIZE", "1"), ("RANK", "0")])).unwrap();
        assert_eq!(one.mode(), DistributedMode::SingleProcess);
    }

    #[test]
    fn replicas_know_their_rank_and_only_rank_zero_is_chief() {
        let env = env_of(&[("WORLD_SIZE", "3"), ("RANK", "2"), ("LOCAL_RANK", "0")]);
        let d = Distributed::from_env(&env).unwrap();
        assert!(!d.is_chief());
        let v = d.to_json();
        assert_eq!(v["distributed_mode"], "replicated_single_chief_emit");
        assert_eq!(
            (v["world_size_observed"].as_u64(), v["rank"].as_u64()),
            (Some(3), Some(2))
        );
        assert_eq!(v["local_rank"], 0);
        assert!(v["backend"].is_null() && v["ddp_wrapped"] == false);
        let chief = Distributed::from_env(&env_of(&[("WORLD_SIZE", "3"), ("RANK", "0")])).unwrap();
        assert!(chief.is_chief() && chief.local_rank.is_none());
    }

    #[test]
    fn missing_or_bad_ranks_are_refused() {
        let err = Distributed::from_env(&env_of(&[("WORLD_SIZE", "2")])).unwrap_err();
        assert!(err.contains("RANK is not set"), "{err}");
        let err =
            Distributed::from_env(&env_of(&[("WORLD_SIZE", "2"), ("RANK", "2")])).unwrap_err();
        assert!(err.contains("not below"), "{err}");
        let err =
            Distributed::from_env(&env_of(&[("WORLD_SIZE", "x"), ("RANK", "0")])).unwrap_err();
        assert!(err.contains("WORLD_SIZE='x'"), "{err}");
    }
}
