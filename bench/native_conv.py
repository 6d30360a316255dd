"""Per-shape GFLOP/s of one convolution: ONNX Runtime, XLA's conv (NHWC), hybrix's best
existing strategy, and the native kernel (compiler/native).

Shapes: the distinct 2-D, ungrouped convolutions of ResNet-18 v1 and ResNet-50 v1 at batch 1
224x224 and batch 32 32x32, MobileNet 1.0's 1x1 and depthwise 3x3 convolutions (batch 1
224x224), as the O2 inference pipeline leaves them (its target layout), plus the table of the
native brief.
Columns (GFLOP/s, best of several runs, 2 threads everywhere):
- ort: a one-node ONNX Conv (NCHW, ir_version 8), CPUExecutionProvider, 2 intra-op threads;
- xla_nhwc: lax.conv_general_dilated on NHWC data and an OHWI weight, bias added;
- best_existing: the fastest non-native hybrix strategy for the case (and its name);
- native: the native strategy (native_depthwise for depthwise rows), in the case's own layout.

    python bench/native_conv.py [--quick] [--groups ...] [--out bench/results/native_conv.json]
    python bench/native_conv.py --networks "mobilenet1.0 b1 224" "resnet18_v1 b1 224"

The second form times whole networks instead, native off / dense kernel only / all, in one
process, interleaved, plus ONNX Runtime (see `networks`).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

THREADS = 2
DEFAULT_OUT = Path(__file__).parent / "results" / "native_conv.json"
MODELS = {
    "resnet18 b1 224": ("resnet18_v1", (1, 3, 224, 224)),
    "resnet18 b32 32": ("resnet18_v1", (32, 3, 32, 32)),
    "resnet50 b1 224": ("resnet50_v1", (1, 3, 224, 224)),
    "resnet50 b32 32": ("resnet50_v1", (32, 3, 32, 32)),
    "mobilenet b1 224": ("mobilenet1.0", (1, 3, 224, 224)),
    "mobilenet b1 224 depthwise": ("mobilenet1.0", (1, 3, 224, 224)),
}
# (channels, size, filters, kernel, stride, pad): the brief's table, batch 1, NHWC
BRIEF = [(64, 56, 64, 3, 1, 1), (128, 28, 128, 3, 1, 1), (256, 14, 256, 3, 1, 1)]
BRIEF += [(512, 7, 512, 3, 1, 1), (64, 56, 64, 1, 1, 0)]


def _cases_of(model: str, shape: tuple[int, ...], kind: str) -> list[Any]:
    """kind: "dense" (num_group 1), "1x1" (dense 1x1 only) or "depthwise"."""
    import hybrix
    from hybrix import autograd, models
    from hybrix.compiler.autotune import plan_lowering
    from hybrix.compiler.pipelines import optimize

    net = models.get_model(model)
    net.initialize()
    with autograd.predict_mode():
        graph = hybrix.trace(net, hybrix.nd.array(np.zeros(shape, np.float32)))
    graph = optimize(graph, "O2", inference=True)
    cases = []
    for _, op, case, _ in plan_lowering(graph, "naive"):
        if op != "Convolution" or case is None:
            continue
        if (case.attrs.get("num_group", 1) > 1) != (kind == "depthwise"):
            continue
        if kind == "1x1" and tuple(case.attrs["kernel"]) != (1, 1):
            continue
        if case not in cases:
            cases.append(case)
    return cases


def _brief_case(c: int, size: int, o: int, k: int, s: int, p: int) -> Any:
    from hybrix.compiler.strategies import Case
    from hybrix.ir import get_op

    attrs = {"kernel": (k, k), "stride": (s, s), "pad": (p, p), "num_filter": o}
    attrs = get_op("Convolution").check_attrs({**attrs, "layout": "NHWC"})
    return Case.make("Convolution", [(1, size, size, c), (o, k, k, c), (o,)], "float32", attrs)


def _best(fn: Callable[[], Any], budget: float = 0.3) -> float:
    import jax

    jax.block_until_ready(fn())
    best, spent, runs = float("inf"), 0.0, 0
    while runs < 5 or (spent < budget and runs < 200):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        elapsed = time.perf_counter() - start
        best, spent, runs = min(best, elapsed), spent + elapsed, runs + 1
    return best


def _arrays(case: Any) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s).astype(np.float32) for s in case.shapes]


def _nchw(case: Any, arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    from hybrix.compiler.strategies._geometry import conv_geometry

    x, w = arrays[0], arrays[1]
    if conv_geometry(case.shapes[0], case.shapes[1], case.attrs).last:
        x, w = np.moveaxis(x, -1, 1), np.moveaxis(w, -1, 1)
    return np.ascontiguousarray(x), np.ascontiguousarray(w)


def time_ort(case: Any, arrays: list[np.ndarray]) -> float:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    x, w = _nchw(case, arrays)
    attrs = case.attrs
    pad = list(attrs.get("pad") or (0, 0))
    node = helper.make_node(
        "Conv",
        ["x", "w", "b"] if len(arrays) > 2 else ["x", "w"],
        ["y"],
        kernel_shape=list(attrs["kernel"]),
        strides=list(attrs.get("stride") or (1, 1)),
        dilations=list(attrs.get("dilate") or (1, 1)),
        pads=pad + pad,
        group=attrs.get("num_group", 1),
    )
    inits = [numpy_helper.from_array(w, "w")]
    if len(arrays) > 2:
        inits.append(numpy_helper.from_array(arrays[2], "b"))
    graph = helper.make_graph(
        [node],
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "conv.onnx")
        onnx.save(model, path)
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return _best(lambda: session.run(None, {"x": x}))


def time_xla_nhwc(case: Any, arrays: list[np.ndarray]) -> float:
    import jax
    import jax.numpy as jnp

    x, w = _nchw(case, arrays)
    x, w = jnp.asarray(np.moveaxis(x, 1, -1)), jnp.asarray(np.moveaxis(w, 1, -1))
    bias = jnp.asarray(arrays[2] if len(arrays) > 2 else np.zeros(w.shape[0], np.float32))
    attrs = case.attrs
    pad = attrs.get("pad") or (0, 0)

    @jax.jit
    def run(x: Any, w: Any, b: Any) -> Any:
        out = jax.lax.conv_general_dilated(
            x,
            w,
            tuple(attrs.get("stride") or (1, 1)),
            [(p, p) for p in pad],
            rhs_dilation=tuple(attrs.get("dilate") or (1, 1)),
            dimension_numbers=("NHWC", "OHWI", "NHWC"),
            feature_group_count=attrs.get("num_group", 1),
        )
        return out + b

    return _best(lambda: run(x, w, bias))


def time_strategies(case: Any, arrays: list[np.ndarray]) -> dict[str, float]:
    import jax
    import jax.numpy as jnp

    from hybrix.compiler.jx import jax_namespace
    from hybrix.compiler.strategies import candidates
    from hybrix.ir import get_op

    attrs = get_op(case.op).check_attrs(case.attrs)
    args = [jnp.asarray(a) for a in arrays]
    times = {}
    for strategy, why_not in candidates(case):
        if why_not is None:
            lower = strategy.lower
            fn = jax.jit(lambda *a, lower=lower: lower(jax_namespace(), *a, **attrs))
            times[strategy.name] = _best(lambda fn=fn: fn(*args))
    return times


def describe(case: Any) -> str:
    from hybrix.compiler.strategies._geometry import conv_geometry

    g = conv_geometry(case.shapes[0], case.shapes[1], case.attrs)
    k, s = "x".join(map(str, g.kernel)), g.stride[0]
    layout = "NHWC" if g.last else "NCHW"
    depthwise = " dw" if g.groups > 1 else ""
    return f"{g.batch}x{g.channels}@{g.spatial[0]} -> {g.filters} k{k} s{s}{depthwise} {layout}"


def measure(case: Any) -> dict[str, Any]:
    from hybrix.compiler.strategies._geometry import conv_geometry

    arrays = _arrays(case)
    flops = conv_geometry(case.shapes[0], case.shapes[1], case.attrs).flops
    times = time_strategies(case, arrays)
    natives = {k: v for k, v in times.items() if k.startswith("native")}
    existing = {k: v for k, v in times.items() if k not in natives}
    best = min(existing, key=existing.__getitem__)
    row = {
        "case": describe(case),
        "mflop": round(flops / 1e6, 1),
        "ort": flops / time_ort(case, arrays) / 1e9,
        "xla_nhwc": flops / time_xla_nhwc(case, arrays) / 1e9,
        "best_existing": flops / existing[best] / 1e9,
        "best_name": best,
        "native": flops / min(natives.values()) / 1e9 if natives else None,
    }
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}


def _dense_only(pick: Any) -> Any:
    """The chooser `pick` as it was before native_depthwise and conv+relu groups."""
    from hybrix.compiler.strategies import strategy_named

    native_dw = strategy_named("Convolution", "native_depthwise").lower
    old_dw = strategy_named("Convolution", "depthwise").lower

    def dense(node: Any, args: Any) -> Any:
        lowering = None if node.op == "_fused" else pick(node, args)
        return old_dw if lowering is native_dw else lowering

    return dense


def networks(names: list[str], runs: int, rounds: int) -> dict[str, Any]:
    """Whole networks of bench/infer.py, ms (median of `rounds` medians of `runs`), variants
    interleaved in one process: "off" (HYBRIX_NATIVE=0), "dense" (the native dense kernel
    only: depthwise convs on the "depthwise" strategy, no conv+relu groups), "all" (default
    lowering: native, native_depthwise, ReLU fused); then ONNX Runtime."""
    import statistics

    import jax
    import jax.numpy as jnp

    sys.path.insert(0, str(Path(__file__).parent))
    from infer import ROWS, copy_graph, load_graph, median_ms, ort_ms

    from hybrix.compiler.autotune import strategy_chooser
    from hybrix.compiler.lower import lower_graph
    from hybrix.compiler.pipelines import optimize

    results = {}
    for name in names:
        model, shape = ROWS[name]
        data = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        graph = load_graph(model, shape)
        optimized = optimize(copy_graph(graph), "O2", inference=True)
        constants = [jnp.asarray(v.const) for v in optimized.constants]
        x = jnp.asarray(data)
        os.environ["HYBRIX_NATIVE"] = "0"
        fns = {"off": jax.jit(lower_graph(optimized, strategy_chooser()))}
        jax.block_until_ready(fns["off"](constants, x))  # traced (and built) while off
        os.environ["HYBRIX_NATIVE"] = "1"
        pick = strategy_chooser()
        fns["dense"] = jax.jit(lower_graph(optimized, _dense_only(pick)))
        fns["all"] = jax.jit(lower_graph(optimized, pick))
        times: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(rounds):
            for key, fn in fns.items():
                call = functools.partial(fn, constants, x)
                times[key].append(median_ms(call, runs))
        row = {k: round(statistics.median(v), 2) for k, v in times.items()}
        portable = optimize(copy_graph(graph), "O2", inference=True, layout=False)
        row["onnxruntime"] = round(ort_ms(portable, data, runs * rounds)[0], 2)
        print(name, row, flush=True)
        results[name] = row
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the brief's five shapes")
    parser.add_argument("--groups", nargs="*", choices=list(MODELS), help="only these models")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--networks", nargs="*", help="instead: these rows of bench/infer.py")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("XLA_FLAGS", "")
    if args.networks:
        networks(args.networks, args.runs, args.rounds)
        return
    groups: dict[str, list[Any]] = {"brief (b1, NHWC)": [_brief_case(*s) for s in BRIEF]}
    if not args.quick:
        for name, (model, shape) in MODELS.items():
            if args.groups and name not in args.groups:
                continue
            kind = "depthwise" if "depthwise" in name else "dense"
            groups[name] = _cases_of(model, shape, "1x1" if name == "mobilenet b1 224" else kind)
    results: dict[str, Any] = {"machine": platform.processor() or platform.machine()}
    header = f"{'case':<36}{'MFLOP':>8}{'ort':>8}{'xla':>8}{'best':>8}{'native':>8}  best is"
    for name, cases in groups.items():
        print(f"\n== {name} (GFLOP/s)\n{header}", flush=True)
        rows = []
        for case in cases:
            row = measure(case)
            rows.append(row)
            native = "-" if row["native"] is None else f"{row['native']:.0f}"
            print(
                f"{row['case']:<36}{row['mflop']:>8}{row['ort']:>8.0f}{row['xla_nhwc']:>8.0f}"
                f"{row['best_existing']:>8.0f}{native:>8}  {row['best_name']}",
                flush=True,
            )
        results[name] = rows
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
