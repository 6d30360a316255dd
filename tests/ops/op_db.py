"""The op table: every registered op's samples, gathered from tests/ops/samples/*.py."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from hybrix.tests.ops.sample import Sample  # noqa: F401  (re-exported for sample files)

SAMPLE_DIR = Path(__file__).parent / "samples"


def load_samples() -> list:
    samples = []
    for module in pkgutil.iter_modules([str(SAMPLE_DIR)]):
        mod = importlib.import_module(f"hybrix.tests.ops.samples.{module.name}")
        samples.extend(mod.SAMPLES)
    return samples


SAMPLES = load_samples()
