"""The pass pipeline and the memory plan per model, beside XLA's own buffer assignment.

For each model (LeNet and MLP from models/builtin.py, ResNet-18 v1 from the MXNet
fixture) the graph is built with a symbolic batch N, optimised once with
compiler.pipelines.run_pipeline (level O2, inference), then planned at each batch size.
Columns: nodes before/after the passes, fused groups, time in the passes, planning time
(median of --repeat runs), the arena, the lower bound (most bytes live at one step), the
bytes with no reuse, what MXNet's allocator would take (its free-list pools at match range
16, each pool its own buffer), and XLA's `memory_analysis()` of the same graph lowered with
compiler.lower_graph: temp bytes, and temp + output bytes (our arena also holds the
outputs). Results go to bench/results/passes.json.

    python bench/passes.py --batches 1 32 --repeat 20
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_OUT = Path(__file__).parent / "results" / "passes.json"
FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "mxnet" / "models"


def builtin_graph(name: str) -> Any:
    import hybrix
    from hybrix import nd
    from hybrix.models.builtin import INPUT_SHAPES, NETS, init_params

    params = init_params(name)
    data = nd.ones((2, *INPUT_SHAPES[name]))
    return hybrix.trace(lambda x: NETS[name](params, x), data, symbolic={0: "N"})


def resnet18_graph() -> Any:
    from hybrix.importers.mxnet import load

    symbol = FIXTURES / "resnet18_v1-symbol.json"
    params = FIXTURES / "resnet18_v1-0000.params"
    return load(symbol, params, input_shapes={"data": ("N", 3, 224, 224)}).graph


def resnet50_graph() -> Any:
    """ResNet-50 v1's topology (bottlenecks 3-4-6-3) in the IR, weights as graph inputs.

    No fixture has ResNet-50; this graph only times the planner on a graph of its size.
    """
    from hybrix.ir import DType, Graph, TensorType

    graph = Graph("resnet50_v1")

    def param(shape: tuple[int, ...]) -> Any:
        return graph.add_input(graph.fresh_name("w"), TensorType(DType.float32, shape))

    def conv_bn(h: Any, channels: int, kernel: int, stride: int, relu: bool) -> Any:
        weight = param((channels, h.shape[1], kernel, kernel))
        attrs = {
            "kernel": (kernel, kernel),
            "stride": (stride, stride),
            "pad": (kernel // 2, kernel // 2),
            "num_filter": channels,
            "no_bias": True,
        }
        (h,) = graph.add_node("Convolution", [h, weight], attrs).outputs
        stats = [param((channels,)) for _ in range(4)]
        h = graph.add_node("BatchNorm", [h, *stats], {"fix_gamma": False}).outputs[0]
        return graph.add_node("Activation", [h], {"act_type": "relu"}).outputs[0] if relu else h

    data = graph.add_input("data", TensorType(DType.float32, ("N", 3, 224, 224)))
    h = conv_bn(data, 64, 7, 2, relu=True)
    pool = {"kernel": (3, 3), "stride": (2, 2), "pad": (1, 1), "pool_type": "max"}
    (h,) = graph.add_node("Pooling", [h], pool).outputs
    for blocks, width, stride in ((3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)):
        for index in range(blocks):
            step = stride if index == 0 else 1
            shortcut = conv_bn(h, width * 4, 1, step, relu=False) if index == 0 else h
            y = conv_bn(h, width, 1, 1, relu=True)
            y = conv_bn(y, width, 3, step, relu=True)
            y = conv_bn(y, width * 4, 1, 1, relu=False)
            (h,) = graph.add_node("elemwise_add", [y, shortcut]).outputs
            h = graph.add_node("Activation", [h], {"act_type": "relu"}).outputs[0]
    pool = {"kernel": (1, 1), "global_pool": True, "pool_type": "avg"}
    (h,) = graph.add_node("Pooling", [h], pool).outputs
    (h,) = graph.add_node("Flatten", [h]).outputs
    weight, bias = param((1000, 2048)), param((1000,))
    graph.outputs = graph.add_node(
        "FullyConnected", [h, weight, bias], {"num_hidden": 1000}
    ).outputs
    return graph


def planning_times(repeat: int) -> list[dict[str, Any]]:
    """Planning time on the largest graphs: ResNet-18 as imported, and ResNet-50's size."""
    from hybrix.passes.memory import plan_memory

    graphs = {"resnet50_v1 (synthetic)": resnet50_graph}
    builders, _ = models()
    if "resnet18_v1" in builders:
        graphs = {"resnet18_v1 (unoptimised)": builders["resnet18_v1"], **graphs}
    rows = []
    for name, build in graphs.items():
        graph = build()
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            plan = plan_memory(graph, bindings={"N": 32})
            times.append(time.perf_counter() - start)
        values = sum(len(node.outputs) for node in graph.nodes)
        rows.append(
            {
                "graph": name,
                "nodes": len(graph.nodes),
                "values": values,
                "plan_ms_median": statistics.median(times) * 1e3,
                "plan_ms_max": max(times) * 1e3,
                "arena": plan.arena_size,
                "lower_bound": plan.lower_bound,
            }
        )
    return rows


def models() -> tuple[dict[str, Callable[[], Any]], list[str]]:
    """Graph builders per model, and notes on the models skipped."""
    builders: dict[str, Callable[[], Any]] = {
        "lenet": lambda: builtin_graph("lenet"),
        "mlp": lambda: builtin_graph("mlp"),
    }
    notes = []
    try:
        from hybrix.importers.mxnet import load  # noqa: F401
    except ImportError as e:
        notes.append(f"resnet18_v1 skipped: no MXNet importer ({e})")
    else:
        if (FIXTURES / "resnet18_v1-symbol.json").is_file():
            builders["resnet18_v1"] = resnet18_graph
        else:
            notes.append(f"resnet18_v1 skipped: fixture not found in {FIXTURES}")
    return builders, notes


def optimise(graph: Any) -> dict[str, Any]:
    """Run O2 for inference in place; nodes before/after, fused groups, seconds per pass."""
    from hybrix.compiler.pipelines import run_pipeline

    before = len(graph.nodes)
    start = time.perf_counter()
    results = run_pipeline(graph, "O2", inference=True)
    seconds = time.perf_counter() - start
    per_pass: dict[str, float] = defaultdict(float)
    for result in results:
        per_pass[result.name] += result.seconds
    return {
        "nodes_before": before,
        "nodes_after": len(graph.nodes),
        "fused_groups": sum(1 for node in graph.nodes if node.op == "_fused"),
        "pass_seconds": seconds,
        "per_pass_ms": {name: round(s * 1e3, 3) for name, s in per_pass.items()},
    }


def plan_row(graph: Any, batch: int, repeat: int) -> dict[str, Any]:
    from hybrix.passes.memory import check_plan, plan_memory

    bindings = {"N": batch}
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        plan = plan_memory(graph, bindings=bindings)
        times.append(time.perf_counter() - start)
    check_plan(graph, plan, bindings)
    # MXNet gives each storage of its free-list pools (match range 16) its own buffer
    pools = plan_memory(graph, bindings=bindings, strategy="pool-16")
    return {
        "mxnet_style": sum(size for _, size in pools.storages),
        "arena": plan.arena_size,
        "lower_bound": plan.lower_bound,
        "no_reuse": plan.no_reuse,
        "arena_over_bound": plan.arena_size / plan.lower_bound if plan.lower_bound else 1.0,
        "plan_ms": statistics.median(times) * 1e3,
        "strategy": plan.strategy,
        "inplace": len(plan.inplace),
        **xla_memory(graph, bindings),
    }


def xla_memory(graph: Any, bindings: dict[str, int]) -> dict[str, int]:
    """XLA's buffer assignment for the same graph: temp bytes and output bytes."""
    import jax

    from hybrix.compiler import lower_graph
    from hybrix.passes.memory import value_nbytes

    def spec(value: Any) -> Any:
        shape = tuple(d if isinstance(d, int) else bindings[d] for d in value.shape)
        return jax.ShapeDtypeStruct(shape, value.dtype.numpy)

    constants = [spec(v) for v in graph.constants]
    inputs = [spec(v) for v in graph.inputs]
    compiled = jax.jit(lower_graph(graph)).lower(constants, *inputs).compile()
    analysis = compiled.memory_analysis()
    outputs = sum(value_nbytes(v, bindings) for v in graph.outputs)
    return {
        "xla_temp": int(analysis.temp_size_in_bytes),
        "xla_output": int(analysis.output_size_in_bytes),
        "outputs": outputs,
    }


def run(batches: list[int], repeat: int) -> dict[str, Any]:
    builders, notes = models()
    rows = []
    for name, build in builders.items():
        graph = build()
        unoptimised = {f"N={b}": plan_row(graph, b, repeat)["arena"] for b in batches}
        passes = optimise(graph)
        for batch in batches:
            row = {"model": name, "batch": batch, **passes, **plan_row(graph, batch, repeat)}
            row["arena_unoptimised"] = unoptimised[f"N={batch}"]
            rows.append(row)
    return {"rows": rows, "notes": notes, "planning": planning_times(repeat)}


def _kib(nbytes: int) -> str:
    return f"{nbytes / 1024:,.1f}"


def print_table(result: dict[str, Any]) -> None:
    header = (
        f"{'model':<12} {'N':>3} {'nodes':>9} {'fused':>5} {'pass ms':>8} {'plan ms':>8} "
        f"{'arena KiB':>11} {'bound':>11} {'ratio':>6} {'no reuse':>11} {'MXNet-like':>11} "
        f"{'xla temp':>11} "
        f"{'+outputs':>11} {'in-place':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in result["rows"]:
        print(
            f"{r['model']:<12} {r['batch']:>3} {r['nodes_before']:>4}->{r['nodes_after']:<4}"
            f"{r['fused_groups']:>5} {r['pass_seconds'] * 1e3:>8.1f} {r['plan_ms']:>8.2f} "
            f"{_kib(r['arena']):>11} {_kib(r['lower_bound']):>11} {r['arena_over_bound']:>6.3f} "
            f"{_kib(r['no_reuse']):>11} {_kib(r['mxnet_style']):>11} {_kib(r['xla_temp']):>11} "
            f"{_kib(r['xla_temp'] + r['xla_output']):>11} {r['inplace']:>8}"
        )
    for row in result["planning"]:
        print(
            f"planning {row['graph']}: {row['nodes']} nodes, {row['values']} values, "
            f"median {row['plan_ms_median']:.2f} ms, max {row['plan_ms_max']:.2f} ms, "
            f"arena / bound {row['arena'] / row['lower_bound']:.3f} at N=32"
        )
    for note in result["notes"]:
        print(f"note: {note}")
    below = [f"{r['model']}@{r['batch']}" for r in result["rows"] if r["arena"] < r["xla_temp"]]
    print(f"arena below XLA's temp size: {', '.join(below) or 'none'}")
    worst = max((r["arena_over_bound"] for r in result["rows"]), default=1.0)
    print(f"largest arena / lower bound: {worst:.3f} (goal <= 1.05)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--repeat", type=int, default=20, help="plans timed per row")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    result = run(args.batches, args.repeat)
    print_table(result)
    import jax

    result["machine"] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
