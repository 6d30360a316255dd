"""Eager dispatch cost per op: hybrix nd beside jax.numpy and numpy on the same run.

Two autograd rows: a small add under `autograd.record()` on an array with a gradient
(the recording overhead; jax has nothing to record), and one forward + backward of a
small MLP (FullyConnected-relu-FullyConnected, sum) against eager `jax.grad` of the same
math (and, for scale, the same `jax.grad` jitted whole).

Each case runs `--calls` calls per batch on small float32 arrays, `--batches` times;
the per-call time of a batch is its wall time / calls (the batch ends by blocking on its
last result, so queued asynchronous work is counted). Medians over batches are printed
as a table and written as JSON (default bench/results/eager_dispatch.json).

    python -m hybrix.bench.eager_dispatch --calls 2000 --batches 30
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_OUT = Path(__file__).parent / "results" / "eager_dispatch.json"


def _batch_seconds(call: Callable[[], Any], calls: int, block: Callable[[Any], Any]) -> float:
    start = time.perf_counter()
    result = None
    for _ in range(calls):
        result = call()
    block(result)
    return (time.perf_counter() - start) / calls


def measure(
    calls_by_name: dict[str, Callable[[], Any]],
    calls: int,
    batches: int,
    block: Callable[[Any], Any],
) -> dict:
    """Median and spread of the per-call time in microseconds, per framework.

    Frameworks take turns batch by batch, so load from other processes hits them alike.
    """
    for call in calls_by_name.values():
        for _ in range(3):  # warm up: compile, fill caches
            _batch_seconds(call, max(calls // 10, 10), block)
    times: dict[str, list[float]] = {name: [] for name in calls_by_name}
    for _ in range(batches):
        for name, call in calls_by_name.items():
            times[name].append(_batch_seconds(call, calls, block) * 1e6)
    return {name: _summary(sorted(values)) for name, values in times.items()}


def _summary(times: list[float]) -> dict:
    return {
        "median_us": statistics.median(times),
        "p10_us": times[len(times) // 10],
        "p90_us": times[(len(times) * 9) // 10],
    }


def cases(shape: tuple[int, ...]) -> dict[str, dict[str, Callable[[], Any]]]:
    """op -> framework -> a zero-argument call."""
    import jax
    import jax.numpy as jnp

    from hybrix import nd

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
    x, y = nd.array(a), nd.array(b)
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    return {
        "add (x + y)": {
            "hybrix": lambda: x + y,
            "jax": lambda: jnp.add(ja, jb),
            "numpy": lambda: np.add(a, b),
        },
        "elemwise_add": {
            "hybrix": lambda: nd.elemwise_add(x, y),
            "jax": lambda: jnp.add(ja, jb),
            "numpy": lambda: np.add(a, b),
        },
        "relu": {
            "hybrix": lambda: nd.relu(x),
            "jax": lambda: jax.nn.relu(ja),
            "numpy": lambda: np.maximum(a, 0),
        },
        "scalar add (x + 1.0)": {
            "hybrix": lambda: x + 1.0,
            "jax": lambda: ja + 1.0,
            "numpy": lambda: a + np.float32(1.0),
        },
        "add under record": _recorded_add(a, b),
        "MLP forward+backward": _mlp_cases(),
        **_np_cases(a, b),
    }


def _np_cases(a: np.ndarray, b: np.ndarray) -> dict[str, dict[str, Callable[[], Any]]]:
    """hybrix.np (mxnet.numpy) rows: the same goal as nd, <= 1.2 x jax.numpy per op."""
    import jax.numpy as jnp

    from hybrix import np as hnp
    from hybrix import npx

    x, y = hnp.array(a), hnp.array(b)
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    return {
        "np: x + y": {"hybrix": lambda: x + y, "jax": lambda: ja + jb, "numpy": lambda: a + b},
        "np.add": {
            "hybrix": lambda: hnp.add(x, y),
            "jax": lambda: jnp.add(ja, jb),
            "numpy": lambda: np.add(a, b),
        },
        "np.exp": {
            "hybrix": lambda: hnp.exp(x),
            "jax": lambda: jnp.exp(ja),
            "numpy": lambda: np.exp(a),
        },
        "np: x * 2.0": {
            "hybrix": lambda: x * 2.0,
            "jax": lambda: ja * 2.0,
            "numpy": lambda: a * np.float32(2.0),
        },
        "np.sum(axis=0)": {
            "hybrix": lambda: hnp.sum(x, axis=0),
            "jax": lambda: jnp.sum(ja, axis=0),
            "numpy": lambda: np.sum(a, axis=0),
        },
        "npx.relu": {
            "hybrix": lambda: npx.relu(x),
            "jax": lambda: jnp.maximum(ja, 0),
            "numpy": lambda: np.maximum(a, 0),
        },
    }


def _recorded_add(a: np.ndarray, b: np.ndarray) -> dict[str, Callable[[], Any]]:
    import jax.numpy as jnp

    from hybrix import autograd, nd

    x, y = nd.array(a), nd.array(b)
    x.attach_grad()
    ja, jb = jnp.asarray(a), jnp.asarray(b)

    def recorded() -> Any:
        with autograd.record():
            return x + y

    return {"hybrix": recorded, "jax": lambda: jnp.add(ja, jb), "numpy": lambda: np.add(a, b)}


def _mlp_cases(batch: int = 16, sizes: tuple[int, ...] = (32, 64, 10)) -> dict:
    """hybrix nd + autograd vs eager jax.grad (and jitted jax.grad) of one MLP step."""
    import jax
    import jax.numpy as jnp

    from hybrix import autograd, nd

    rng = np.random.default_rng(1)
    data = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    shapes = [(sizes[1], sizes[0]), (sizes[1],), (sizes[2], sizes[1]), (sizes[2],)]
    values = [(rng.standard_normal(s) * 0.1).astype(np.float32) for s in shapes]
    x = nd.array(data)
    params = [nd.array(v) for v in values]
    for param in params:
        param.attach_grad()

    def hybrix_step() -> Any:
        w1, b1, w2, b2 = params
        with autograd.record():
            hidden = nd.relu(nd.FullyConnected(x, w1, b1, num_hidden=sizes[1]))
            loss = nd.FullyConnected(hidden, w2, b2, num_hidden=sizes[2]).sum()
        loss.backward()
        return w1.grad

    def loss_fn(weights: list, inputs: Any) -> Any:
        w1, b1, w2, b2 = weights
        hidden = jax.nn.relu(inputs @ w1.T + b1)
        return (hidden @ w2.T + b2).sum()

    jx_params = [jnp.asarray(v) for v in values]
    jx_data = jnp.asarray(data)
    eager = jax.grad(loss_fn)
    jitted = jax.jit(eager)
    return {
        "hybrix": hybrix_step,
        "jax": lambda: eager(jx_params, jx_data)[0],
        "jax.jit": lambda: jitted(jx_params, jx_data)[0],
    }


def _block(result: Any) -> None:
    data = getattr(result, "_data", result)
    if hasattr(data, "block_until_ready"):
        data.block_until_ready()


def run(calls: int, batches: int, shape: tuple[int, ...]) -> dict:
    rows = {}
    for op, frameworks in cases(shape).items():
        rows[op] = measure(frameworks, calls, batches, _block)
        rows[op]["hybrix_over_jax"] = rows[op]["hybrix"]["median_us"] / rows[op]["jax"]["median_us"]
    return rows


def print_table(rows: dict) -> None:
    """One line per op; a framework a row does not measure prints as '-'."""
    columns = ("hybrix", "jax", "numpy", "jax.jit")
    header = " ".join(f"{name + ' us':>10}" for name in columns)
    print(f"{'op':24} {header} {'hybrix/jax':>11}")
    for op, row in rows.items():
        cells = " ".join(
            f"{row[name]['median_us']:10.2f}" if name in row else f"{'-':>10}" for name in columns
        )
        print(f"{op:24} {cells} {row['hybrix_over_jax']:11.2f}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per timed batch")
    parser.add_argument("--batches", type=int, default=30, help="timed batches per case")
    parser.add_argument("--shape", default="4,4", help="array shape, comma separated")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results path")
    args = parser.parse_args(argv)
    import jax

    shape = tuple(int(d) for d in args.shape.split(","))
    rows = run(args.calls, args.batches, shape)
    print_table(rows)
    result = {
        "benchmark": "eager_dispatch",
        "shape": list(shape),
        "dtype": "float32",
        "calls_per_batch": args.calls,
        "batches": args.batches,
        "jax": jax.__version__,
        "numpy": np.__version__,
        "device": str(jax.devices()[0]),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "results": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
