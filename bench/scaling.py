"""Data-parallel scaling: step time and samples/s of LeNet on 1, 2, 4 devices.

Two ways to train, both with plain SGD (lr 0.01) and batch 64 per device (weak scaling):

- spmd: gluon.compile_step over the Parameters' contexts, one SPMD program per step (the
  batch sharded over a jax.sharding Mesh, weights replicated, one psum of the gradients);
- kvstore: record / backward per device slice (split_and_load) and trainer.step with
  kvstore='device' (an XLA all-reduce program, then the per-device fused updates).

Also reported: the communication volume per step, i.e. the bytes of gradients all-reduced
(every trained parameter, float32), and what a ring all-reduce moves per device,
2(p-1)/p x bytes. Without GPUs the devices are simulated CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count, set here before jax starts): they share
this machine's cores, so more devices show the overhead of splitting the work, not a
speedup. With GPUs (`--platform gpu`, the default when jax sees one) the devices are real.

Each configuration warms up, then runs `--steps` steps per round for `--rounds` rounds,
blocking on the weights at the end of a round; the median ms/step is reported, printed as a
table and written as JSON (default bench/results/scaling.json). docs/scaling.md reads these
numbers into a scaling model for 8-128 GPUs.

    python bench/scaling.py --steps 10 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_OUT = Path(__file__).parent / "results" / "scaling.json"
PER_DEVICE_BATCH, LR, MAX_DEVICES = 64, 0.01, 4


def build_lenet() -> Any:
    from hybrix.gluon import nn

    net = nn.HybridSequential()
    net.add(
        nn.Conv2D(20, kernel_size=5, in_channels=1, activation="relu"),
        nn.MaxPool2D(pool_size=2, strides=2),
        nn.Conv2D(50, kernel_size=5, in_channels=20, activation="relu"),
        nn.MaxPool2D(pool_size=2, strides=2),
        nn.Flatten(),
        nn.Dense(500, activation="relu", in_units=800),
        nn.Dense(10, in_units=500),
    )
    return net


def setup(mode: str, contexts: list, data: np.ndarray, label: np.ndarray) -> tuple:
    """(a function running one step and returning arrays to block on, the step object)."""
    import hybrix as mx
    from hybrix import autograd, gluon, nd

    mx.random.seed(0)
    net = build_lenet()
    net.initialize(mx.init.Xavier(), ctx=contexts)
    net.hybridize(static_alloc=True)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": LR}, kvstore="device")
    params = list(net.collect_params().values())
    batch = data.shape[0]
    if mode == "spmd":
        step = gluon.compile_step(net, loss_fn, trainer)
        x, y = nd.array(data, ctx=contexts[0]), nd.array(label, ctx=contexts[0])

        def run() -> list:
            step(x, y)
            return [p.list_data()[-1] for p in params]

        return run, step
    datas = gluon.utils.split_and_load(data, contexts)
    labels = gluon.utils.split_and_load(label, contexts)

    def loop() -> list:
        with autograd.record():
            losses = [loss_fn(net(a), b) for a, b in zip(datas, labels, strict=True)]
        autograd.backward(losses)
        trainer.step(batch)
        return [p.list_data()[-1] for p in params]

    return loop, None


def measure(run: Callable, steps: int, rounds: int, warmup: int) -> float:
    """Median milliseconds per step over `rounds` rounds of `steps` steps."""
    for _ in range(warmup):
        _block(run())
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            arrays = run()
        _block(arrays)
        times.append((time.perf_counter() - start) / steps * 1e3)
    return statistics.median(times)


def _block(arrays: list) -> None:
    for array in arrays:
        array.wait_to_read()


def gradient_bytes(contexts: list) -> int:
    """Bytes of all trained parameters' gradients (float32): what one step all-reduces."""
    import hybrix as mx

    net = build_lenet()
    net.initialize(mx.init.Xavier(), ctx=contexts[:1])
    return sum(
        int(np.prod(p.shape)) * 4 for p in net.collect_params().values() if p.grad_req != "null"
    )


def run_all(counts: list[int], platform_name: str, args: argparse.Namespace) -> list[dict]:
    import hybrix as mx

    make = mx.gpu if platform_name == "gpu" else mx.cpu
    rng = np.random.default_rng(0)
    rows = []
    for count in counts:
        contexts = [make(i) for i in range(count)]
        batch = PER_DEVICE_BATCH * count
        data = rng.normal(size=(batch, 1, 28, 28)).astype(np.float32)
        label = rng.integers(0, 10, size=batch).astype(np.float32)
        size = gradient_bytes(contexts)
        for mode in ("spmd", "kvstore"):
            run, step = setup(mode, contexts, data, label)
            ms = measure(run, args.steps, args.rounds, args.warmup)
            if step is not None and count > 1:
                assert step.allreduce_bytes == size, (step.allreduce_bytes, size)
            rows.append(
                {
                    "mode": mode,
                    "devices": count,
                    "global_batch": batch,
                    "ms_per_step": round(ms, 3),
                    "samples_per_s": round(batch / ms * 1e3, 1),
                    "allreduce_bytes": size if count > 1 else 0,
                    "ring_bytes_per_device": round(2 * (count - 1) / count * size),
                }
            )
            print(f"  {mode:8s} {count} device(s): {ms:8.2f} ms/step", file=sys.stderr)
    return rows


def print_table(rows: list[dict]) -> None:
    header = (
        "mode",
        "devices",
        "batch",
        "ms/step",
        "samples/s",
        "vs 1 dev",
        "allreduce B",
        "ring B/dev",
    )
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    base = {r["mode"]: r["samples_per_s"] for r in rows if r["devices"] == 1}
    for r in rows:
        print(
            " | ".join(
                str(v)
                for v in (
                    r["mode"],
                    r["devices"],
                    r["global_batch"],
                    f"{r['ms_per_step']:.2f}",
                    f"{r['samples_per_s']:.0f}",
                    f"{r['samples_per_s'] / base[r['mode']]:.2f}x",
                    r["allreduce_bytes"],
                    r["ring_bytes_per_device"],
                )
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--platform", choices=["auto", "cpu", "gpu"], default="auto")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        flag = f"--xla_force_host_platform_device_count={MAX_DEVICES}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
    import jax

    platform_name = args.platform
    if platform_name == "auto":
        platform_name = "gpu" if jax.default_backend() == "gpu" else "cpu"
    available = len(jax.local_devices(backend=platform_name))
    counts = [c for c in (1, 2, 4, 8) if c <= available]
    rows = run_all(counts, platform_name, args)
    print_table(rows)
    result = {
        "benchmark": "scaling",
        "model": f"LeNet, batch {PER_DEVICE_BATCH} per device, SGD",
        "platform": platform_name,
        "simulated_devices": platform_name == "cpu",
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "jax": jax.__version__,
        "steps": args.steps,
        "rounds": args.rounds,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
