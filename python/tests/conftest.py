"""Shared pytest helpers: optional-dependency markers and stream-file parsing."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

# Tests import the package from python/src even when it is not pip-installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_TRANSFORMERS = HAS_TORCH and importlib.util.find_spec("transformers") is not None

needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not importable (run scripts/setup_python_env.sh)")
needs_hf = pytest.mark.skipif(
    not HAS_TRANSFORMERS, reason="torch/transformers are not importable (run scripts/setup_python_env.sh)"
)


def parse_stream(text: str) -> list:
    """Parses stream text into objects, asserting the line framing of docs/metrics-stream.md."""
    assert text.endswith("\n"), "every stream line ends with a newline"
    lines = text[:-1].split("\n")
    objs = [json.loads(line) for line in lines]
    assert all(isinstance(o, dict) and "type" in o for o in objs)
    return objs


def check_protocol(objs: list) -> None:
    """Asserts the runner-side rules: hello first with protocol 1, increasing sample iters,
    numbers or null as metric values, end (if any) last."""
    assert objs[0]["type"] == "hello" and objs[0]["protocol"] == 1
    samples = [o for o in objs if o["type"] == "sample"]
    iters = [s["iter"] for s in samples]
    assert iters == sorted(set(iters)), f"iters not strictly increasing: {iters}"
    for s in samples:
        assert isinstance(s["iter"], int) and s["iter"] >= 0
        for name, value in s["metrics"].items():
            assert value is None or isinstance(value, float), (name, value)
    ends = [i for i, o in enumerate(objs) if o["type"] == "end"]
    assert ends in ([], [len(objs) - 1])
