"""shared/examples/lenet_gluon.py runs on hybrix with only its import lines changed."""

from __future__ import annotations

import gzip
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

from hybrix.tests.conftest import SHARED

EXAMPLE = SHARED / "examples" / "lenet_gluon.py"


def write_idx(path, array):
    header = struct.pack(f">I{array.ndim}I", 0x0800 + array.ndim, *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def learnable_mnist(folder, rng, train=1024, test=256):
    """Digits drawn as a bright bar at a class-dependent row, plus noise."""
    for prefix, count in (("train", train), ("t10k", test)):
        labels = rng.integers(0, 10, count)
        images = rng.integers(0, 60, (count, 28, 28))
        for image, label in zip(images, labels, strict=True):
            row = 3 + 2 * int(label)
            image[row : row + 2, 4:24] = 250
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)


def ported_example(folder):
    source = EXAMPLE.read_text()
    ported = source.replace("import mxnet as mx", "import hybrix as mx").replace(
        "from mxnet import", "from hybrix import"
    )
    pairs = zip(source.splitlines(), ported.splitlines(), strict=True)
    changed = [new for old, new in pairs if old != new]
    assert changed == ["import hybrix as mx", "from hybrix import autograd, gluon, nd"]
    path = folder / "lenet_gluon.py"
    path.write_text(ported)
    return path


@pytest.mark.parametrize("hybridize", [False, True])
def test_lenet_example_learns(tmp_path, rng, hybridize):
    if not EXAMPLE.exists():
        pytest.skip(f"{EXAMPLE} not found")
    learnable_mnist(tmp_path, rng)
    script = ported_example(tmp_path)
    command = [sys.executable, str(script), "--epochs", "3", "--batch-size", "64"]
    if hybridize:
        command.append("--hybridize")
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    losses = [float(x) for x in re.findall(r"Loss: ([0-9.]+)", run.stdout)]
    accuracy = float(re.search(r"final_test_accuracy ([0-9.]+)", run.stdout).group(1))
    # NOTE: the example prints a moving average that starts at the first batch's loss
    assert len(losses) == 3, run.stdout
    assert losses[0] > losses[1] > losses[2], run.stdout
    assert accuracy > 0.9, run.stdout
