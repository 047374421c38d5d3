"""Veriscope Python SDK.

Runner-side half of Veriscope: a process being gated speaks the metrics stream
(docs/metrics-stream.md) to the ``veriscope run`` wrapper, which owns the gate.

Modules:
    stream      -- MetricsStream writer and ControlChannel reader (the protocol)
    metrics     -- representation metrics mirroring crates/veriscope-gate
    torch_loop  -- helper for plain PyTorch training loops
    hf          -- Hugging Face ``TrainerCallback``
    hf_train    -- ``python -m veriscope.hf_train``: a small real causal-LM run
"""

__version__ = "0.1.0"
