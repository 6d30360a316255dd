"""Milliseconds per training step: hybrix's three ways against a hand-written jax.jit step.

Nets: LeNet (batch 64, 1x28x28) and the 784-256-256-10 MLP (batch 128), built with
gluon.nn; loss: SoftmaxCrossEntropyLoss; optimizer: plain SGD (lr 0.01), so every mode
runs the same math:

- imperative: record / backward / trainer.step, nothing hybridized;
- hybridized: the same loop with net.hybridize(static_alloc=True) and a hybridized loss;
- compiled step: gluon.compile_step (forward, loss, backward and update in one program);
- jax: one hand-written jax.jit of the step (same layers, log-softmax cross entropy, grad
  of the summed loss / batch, SGD), weights donated.

Each mode warms up, then runs `--steps` steps per round for `--rounds` rounds, the modes
taking turns round by round; a round ends by blocking on the last loss and weights (the
record/backward/trainer.step loop returns its loss before its update has run). The
median ms/step over rounds is printed as a table and written as JSON
(default bench/results/train_step.json).

Fairness: both sides compute per-sample softmax cross entropy, the gradient of its sum
scaled by 1/batch, and plain SGD; hybrix's update is MXNet's general one ((1 - lr*wd)*w -
lr*clip(rescale*g), lr/wd/rescale passed as data), a few more elementwise operations than
the hand-written `w - lr*g/batch`, left in as part of what hybrix does.

    python bench/train_step.py --steps 20 --rounds 7
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

DEFAULT_OUT = Path(__file__).parent / "results" / "train_step.json"
LR = 0.01
CONFIGS = {"lenet": (64, (1, 28, 28)), "mlp": (128, (784,))}


def build_net(name: str) -> Any:
    from hybrix.gluon import nn

    net = nn.HybridSequential()
    with net.name_scope():
        if name == "lenet":
            net.add(
                nn.Conv2D(20, kernel_size=5, in_channels=1, activation="relu"),
                nn.MaxPool2D(pool_size=2, strides=2),
                nn.Conv2D(50, kernel_size=5, in_channels=20, activation="relu"),
                nn.MaxPool2D(pool_size=2, strides=2),
                nn.Flatten(),
                nn.Dense(500, activation="relu", in_units=800),
                nn.Dense(10, in_units=500),
            )
        else:
            net.add(
                nn.Dense(256, activation="relu", in_units=784),
                nn.Dense(256, activation="relu", in_units=256),
                nn.Dense(10, in_units=256),
            )
    return net


Mode = tuple[Callable[[], Any], Callable[[], Any]]


def hybrix_modes(name: str, data: np.ndarray, label: np.ndarray) -> dict[str, Mode]:
    """mode -> (a function running one step and returning its loss, a function returning
    the weights, to block on at the end of a round)."""
    import hybrix as mx
    from hybrix import autograd, nd
    from hybrix.gluon.loss import SoftmaxCrossEntropyLoss
    from hybrix.gluon.train_step import compile_step
    from hybrix.gluon.trainer import Trainer

    x, y = nd.array(data), nd.array(label)
    batch = data.shape[0]
    modes = {}
    for mode in ("imperative", "hybridized", "compiled step"):
        mx.random.seed(0)
        net = build_net(name)
        net.initialize(mx.init.Xavier())
        loss_fn = SoftmaxCrossEntropyLoss()
        trainer = Trainer(net.collect_params(), "sgd", {"learning_rate": LR})
        params = list(net.collect_params().values())

        def weights(params=params):
            return [p.data()._data for p in params]

        if mode == "compiled step":
            step = compile_step(net, loss_fn, trainer)
            modes[mode] = (lambda step=step: step(x, y)._data, weights)
            continue
        if mode == "hybridized":
            net.hybridize(static_alloc=True)
            loss_fn.hybridize(static_alloc=True)

        def loop(net=net, loss_fn=loss_fn, trainer=trainer):
            with autograd.record():
                loss = loss_fn(net(x), y)
            loss.backward()
            trainer.step(batch)
            return loss._data

        modes[mode] = (loop, weights)
    return modes


def jax_step(name: str, data: np.ndarray, label: np.ndarray) -> Mode:
    """The same training step written directly in JAX."""
    import jax
    import jax.numpy as jnp

    key = jax.random.PRNGKey(0)
    shapes = _jax_shapes(name)
    params = []
    for shape in shapes:
        key, sub = jax.random.split(key)
        params.append(jax.random.normal(sub, shape, jnp.float32) * 0.05)

    def dense(h, w, b):
        return h @ w.T + b

    def forward(params, x):
        if name == "lenet":
            h = x
            for i in range(2):
                h = jax.lax.conv_general_dilated(h, params[2 * i], (1, 1), "VALID")
                h = jax.nn.relu(h + params[2 * i + 1][None, :, None, None])
                h = jax.lax.reduce_window(
                    h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID"
                )
            h = h.reshape(h.shape[0], -1)
            h = jax.nn.relu(dense(h, params[4], params[5]))
            return dense(h, params[6], params[7])
        h = jax.nn.relu(dense(x, params[0], params[1]))
        h = jax.nn.relu(dense(h, params[2], params[3]))
        return dense(h, params[4], params[5])

    def loss_sum(params, x, y):
        logp = jax.nn.log_softmax(forward(params, x), axis=-1)
        losses = -jnp.take_along_axis(logp, y.astype(jnp.int32)[:, None], axis=1)[:, 0]
        return losses.sum(), losses

    def step(params, x, y):
        grads, losses = jax.grad(loss_sum, has_aux=True)(params, x, y)
        scale = 1.0 / x.shape[0]
        return [w - LR * (g * scale) for w, g in zip(params, grads, strict=True)], losses

    jitted = jax.jit(step, donate_argnums=(0,))
    x, y = jnp.asarray(data), jnp.asarray(label)
    state = {"params": params}

    def run():
        state["params"], losses = jitted(state["params"], x, y)
        return losses

    return run, lambda: state["params"]


def _jax_shapes(name: str) -> list[tuple[int, ...]]:
    if name == "lenet":
        return [(20, 1, 5, 5), (20,), (50, 20, 5, 5), (50,), (500, 800), (500,), (10, 500), (10,)]
    return [(256, 784), (256,), (256, 256), (256,), (10, 256), (10,)]


def measure(modes: dict[str, Mode], steps: int, rounds: int, warmup: int) -> dict:
    import jax

    for run, weights in modes.values():
        for _ in range(warmup):
            result = run()
        jax.block_until_ready((result, weights()))
    samples: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(rounds):
        for mode, (run, weights) in modes.items():
            start = time.perf_counter()
            for _ in range(steps):
                result = run()
            jax.block_until_ready((result, weights()))
            samples[mode].append((time.perf_counter() - start) / steps * 1e3)
    return {
        mode: {
            "median_ms": statistics.median(values),
            "min_ms": min(values),
            "max_ms": max(values),
        }
        for mode, values in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--nets", default="lenet,mlp")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    import jax

    rng = np.random.default_rng(0)
    results: dict[str, Any] = {}
    for name in args.nets.split(","):
        batch, shape = CONFIGS[name]
        data = rng.normal(size=(batch, *shape)).astype(np.float32)
        label = rng.integers(0, 10, size=batch).astype(np.float32)
        modes = hybrix_modes(name, data, label)
        modes["jax.jit (hand-written)"] = jax_step(name, data, label)
        results[name] = measure(modes, args.steps, args.rounds, args.warmup)
    _print_table(results)
    report = {
        "benchmark": "train_step",
        "units": "ms per training step (median over rounds)",
        "steps_per_round": args.steps,
        "rounds": args.rounds,
        "machine": {"platform": platform.platform(), "jax": jax.__version__},
        "devices": [str(d) for d in jax.devices()],
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


def _print_table(results: dict) -> None:
    print(f"{'net':<6} {'mode':<24} {'ms/step':>9} {'min':>8} {'max':>8} {'vs jax':>7}")
    for name, modes in results.items():
        reference = modes["jax.jit (hand-written)"]["median_ms"]
        for mode, row in modes.items():
            ratio = row["median_ms"] / reference
            print(
                f"{name:<6} {mode:<24} {row['median_ms']:>9.3f} {row['min_ms']:>8.3f} "
                f"{row['max_ms']:>8.3f} {ratio:>6.2f}x"
            )


if __name__ == "__main__":
    main()
