"""Run seed, derived seeds, strict determinism and resume requests (docs/replay.md §2-3).

Owns: the runner side of the run manifest. The wrapper passes the run seed as
``VERISCOPE_SEED``; every random stream of a runner is derived from it with the same
splitmix64 recipe as ``crates/veriscope-contracts/src/seeds.rs`` (``derive_seed(seed,
stream, index)``; streams data_order 1, probe 2, injection 3, init 4), so the seeds a
runner reports in its ``hello`` are the ones the manifest records. Also: seeding
python/numpy/torch, ``VERISCOPE_STRICT_DETERMINISM`` (``torch.use_deterministic_algorithms``
after checking ``PYTHONHASHSEED``) and ``VERISCOPE_CKPT_DIR`` / ``VERISCOPE_RESUME``.

Does not own: checkpoint formats (a runner's business; :mod:`veriscope.hf_train` uses the
Trainer's ``checkpoint-N`` directories).
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional

MASK64 = (1 << 64) - 1
STREAM_DATA_ORDER = 1
STREAM_PROBE = 2
STREAM_INJECTION = 3
STREAM_INIT = 4
#: Seed used when neither ``--seed`` nor ``VERISCOPE_SEED`` gives one (contracts::seeds).
DEFAULT_RUN_SEED = 42

ENV_SEED = "VERISCOPE_SEED"
ENV_CKPT_DIR = "VERISCOPE_CKPT_DIR"
ENV_RESUME = "VERISCOPE_RESUME"
ENV_RESUME_AFTER_ITER = "VERISCOPE_RESUME_AFTER_ITER"
ENV_STRICT = "VERISCOPE_STRICT_DETERMINISM"


def _mix(z: int) -> int:
    """splitmix64 finalizer (the ``mix`` of contracts::seeds)."""
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def derive_seed(seed: int, stream: int, index: int = 0) -> int:
    """The seed of ``stream`` at ``index`` for run seed ``seed`` (64-bit, unsigned)."""
    return _mix(_mix(_mix(seed & MASK64) ^ (stream & MASK64)) ^ (index & MASK64))


def derived_seeds(seed: int) -> Dict[str, int]:
    """``manifest.derived_seeds`` of run seed ``seed``."""
    return {
        "data_order": derive_seed(seed, STREAM_DATA_ORDER),
        "probe": derive_seed(seed, STREAM_PROBE),
        "injection": derive_seed(seed, STREAM_INJECTION),
        "init": derive_seed(seed, STREAM_INIT),
    }


def seed32(seed: int) -> int:
    """A 64-bit seed folded to the 32 bits ``numpy.random.seed`` / HF ``set_seed`` accept."""
    return (seed ^ (seed >> 32)) & 0xFFFFFFFF


class DeterminismError(RuntimeError):
    """A strict-determinism precondition is unmet (``DETERMINISM_PRECONDITION_UNMET``)."""


def env_run_seed(env: Optional[Mapping[str, str]] = None) -> Optional[int]:
    """``$VERISCOPE_SEED`` as an int, ``None`` when unset; a non-integer is an error."""
    env = os.environ if env is None else env
    text = env.get(ENV_SEED, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{ENV_SEED}={text!r} is not an integer") from None
    if not 0 <= value <= MASK64:
        raise ValueError(f"{ENV_SEED}={text!r} is outside 0..2^64-1")
    return value


def seed_everything(run_seed: int, stream: int = STREAM_INIT) -> int:
    """Seeds python ``random``, numpy's global generator and torch (all devices) from
    ``derive_seed(run_seed, stream)``; returns that derived seed."""
    seed = derive_seed(run_seed, stream)
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed32(seed))
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    try:
        import torch
    except ImportError:
        return seed
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def check_strict_preconditions(env: Optional[Mapping[str, str]] = None) -> None:
    """Raises :class:`DeterminismError` when strict mode cannot hold in this process."""
    env = os.environ if env is None else env
    text = env.get("PYTHONHASHSEED")
    if text is None or not text.strip():
        raise DeterminismError(
            "DETERMINISM_PRECONDITION_UNMET PYTHONHASHSEED: unset; strict determinism needs "
            "PYTHONHASHSEED set to an integer before Python starts (e.g. PYTHONHASHSEED=0)"
        )
    if not re.fullmatch(r"\d+", text.strip()):
        raise DeterminismError(
            f"DETERMINISM_PRECONDITION_UNMET PYTHONHASHSEED: {text!r} is not an integer "
            "('random' hashes differently in every process)"
        )


def apply_strict_determinism(env: Optional[Mapping[str, str]] = None) -> bool:
    """When ``VERISCOPE_STRICT_DETERMINISM=1``: checks the preconditions, then turns on
    ``torch.use_deterministic_algorithms(True)``. Returns whether strict mode is on."""
    env = os.environ if env is None else env
    if env.get(ENV_STRICT, "").strip() != "1":
        return False
    check_strict_preconditions(env)
    import torch

    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    return True


@dataclass
class RunSetup:
    """What the wrapper asked of this runner (seed, checkpoints, resume, determinism)."""

    run_seed: int
    seed_source: str  # "arg" | "env" | "default"
    seeds: Dict[str, int] = field(default_factory=dict)
    ckpt_dir: Optional[str] = None
    resume: bool = False
    resume_after_iter: Optional[int] = None
    strict: bool = False

    def hello_seeds(self) -> Dict[str, Any]:
        """The ``seeds`` object of the hello line."""
        return {"run_seed": self.run_seed, "source": self.seed_source, **self.seeds}


def setup_from_env(
    explicit_seed: Optional[int] = None,
    env: Optional[Mapping[str, str]] = None,
    default_seed: int = DEFAULT_RUN_SEED,
    seed_now: bool = True,
) -> RunSetup:
    """Reads ``VERISCOPE_SEED`` / ``_CKPT_DIR`` / ``_RESUME`` / ``_STRICT_DETERMINISM``,
    applies strict determinism (raising :class:`DeterminismError` when it cannot hold) and,
    with ``seed_now``, seeds python/numpy/torch from the derived ``init`` seed.

    The run seed is ``explicit_seed`` (a runner flag), else ``$VERISCOPE_SEED``, else
    ``default_seed``.
    """
    env = os.environ if env is None else env
    from_env = env_run_seed(env)
    if explicit_seed is not None:
        run_seed, source = int(explicit_seed), "arg"
    elif from_env is not None:
        run_seed, source = from_env, "env"
    else:
        run_seed, source = int(default_seed), "default"
    strict = apply_strict_determinism(env)
    after = env.get(ENV_RESUME_AFTER_ITER, "").strip()
    setup = RunSetup(
        run_seed=run_seed,
        seed_source=source,
        seeds=derived_seeds(run_seed),
        ckpt_dir=env.get(ENV_CKPT_DIR, "").strip() or None,
        resume=env.get(ENV_RESUME, "").strip() == "1",
        resume_after_iter=int(after) if after.lstrip("-").isdigit() else None,
        strict=strict,
    )
    if seed_now:
        seed_everything(run_seed)
    return setup
