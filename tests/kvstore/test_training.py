"""Data-parallel training through the KVStore equals one device with the whole batch:
4 simulated CPU devices with kvstore='device', and two `hybrix launch` workers with
kvstore='dist_sync' (gradients and parameters)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).with_name("train_convnet.py")


def _run(args: list[str], env_extra: dict[str, str], timeout: float = 400) -> str:
    env = {**os.environ, **env_extra}
    env.pop("HYBRIX_COORDINATOR", None)
    result = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=timeout
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _params(saved, prefix: str) -> list[str]:
    return [k for k in saved.files if k.startswith(prefix + "param:")]


def _assert_same_training(one, other, prefix: str, atol: float, grads: bool) -> None:
    names = _params(one, prefix)
    assert len(names) == 8
    for name in names:
        np.testing.assert_allclose(other[name], one[name], rtol=0, atol=atol, err_msg=name)
        assert float(other[name.replace("param:", "spread:")]) == 0.0, name  # copies agree
        if grads:
            grad = name.replace("param:", "grad:")
            np.testing.assert_allclose(other[grad], one[grad], rtol=0, atol=atol, err_msg=grad)


def test_four_devices_equal_one_device_with_the_whole_batch(tmp_path):
    _run([str(SCRIPT), "--mode", "single", "--out", str(tmp_path / "one.npz")], {})
    _run(
        [str(SCRIPT), "--mode", "device", "--devices", "4", "--out", str(tmp_path / "four.npz")],
        {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"},
    )
    one, four = np.load(tmp_path / "one.npz"), np.load(tmp_path / "four.npz")
    # SGD (MXNet: aggregate_num 4) updates on each device, Adam on the store
    assert not four["update_on_kvstore"]
    assert four["store_update_on_kvstore"]
    _assert_same_training(one, four, "", atol=1e-5, grads=True)
    _assert_same_training(one, four, "store_", atol=1e-5, grads=False)
    assert np.abs(one["param:7"] - one["store_param:7"]).max() > 1e-3  # both trained


def test_two_launched_workers_equal_one_process_with_the_combined_batch(tmp_path):
    common = ["--dtype", "float64"]
    x64 = {"JAX_ENABLE_X64": "1"}
    _run([str(SCRIPT), "--mode", "single", "--out", str(tmp_path / "one.npz"), *common], x64)
    out = _run(
        [
            "-m",
            "hybrix.cli",
            "launch",
            "-n",
            "2",
            "--timeout",
            "400",
            "--",
            sys.executable,
            str(SCRIPT),
            "--mode",
            "dist",
            "--out",
            str(tmp_path / "dist_RANK.npz"),
            *common,
        ],
        x64,
        timeout=450,
    )
    assert "[0] done dist" in out
    assert "[1] done dist" in out
    one = np.load(tmp_path / "one.npz")
    workers = [np.load(tmp_path / f"dist_{rank}.npz") for rank in (0, 1)]
    for saved in workers:
        assert saved["param:7"].dtype == np.float64
        # rank 1 started from other weights (seed 1): the Trainer synced it to rank 0's
        _assert_same_training(one, saved, "", atol=1e-6, grads=True)
        _assert_same_training(one, saved, "store_", atol=1e-6, grads=False)
    assert np.abs(one["param:7"] - one["store_param:7"]).max() > 1e-3  # both trained
