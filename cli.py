"""The `hybrix` command line."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from hybrix.ir import HybrixError

FACETS = ("infer", "ref", "lower", "onnx")


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a HybrixError into a one-line message and exit status 1."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except HybrixError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(1)

    return run


@click.group()
@click.version_option(package_name="hybrix")
def main() -> None:
    """hybrix: MXNet's hybrid programming model, compiled ahead of time with XLA."""


@main.command()
@click.option("--model", type=click.Choice(["lenet", "mlp"]), default="lenet", show_default=True)
@click.option("--batch", type=click.IntRange(1), default=4, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@reports_errors
def demo(model: str, batch: int, seed: int) -> None:
    """Trace a built-in model, print its IR, compile it with XLA and run it.

    \b
    Examples:
      hybrix demo
      hybrix demo --model mlp --batch 32
    """
    import numpy as np

    import hybrix
    from hybrix import nd
    from hybrix.models.builtin import INPUT_SHAPES, NETS, init_params

    params = init_params(model, seed)
    net = NETS[model]
    data = nd.array(np.random.default_rng(seed).standard_normal((batch, *INPUT_SHAPES[model])))

    def forward(x: nd.NDArray) -> nd.NDArray:
        return net(params, x)

    started = time.perf_counter()
    graph = hybrix.trace(forward, data, symbolic={0: "N"})
    traced = time.perf_counter()
    click.echo(f"# {model}: traced {len(graph.nodes)} nodes in {1e3 * (traced - started):.1f} ms")
    click.echo(graph)
    compiled = hybrix.compile(forward, data)
    outputs = compiled(data)
    outputs.wait_to_read()
    compiled_at = time.perf_counter()
    eager = forward(data)
    difference = float(np.abs(outputs.asnumpy() - eager.asnumpy()).max())
    steady = _median_ms(lambda: compiled(data).wait_to_read())
    click.echo(
        f"# compiled and ran in {1e3 * (compiled_at - traced):.1f} ms; "
        f"steady state {steady:.3f} ms per batch of {batch}"
    )
    click.echo(
        f"# output {outputs.shape} {np.dtype(outputs.dtype).name}; "
        f"max |compiled - eager| = {difference:.2e}"
    )
    click.echo(f"# predictions: {outputs.asnumpy().argmax(axis=1).tolist()}")
    if difference > 1e-4:
        raise HybrixError(f"compiled and eager outputs differ by {difference:.2e}")


def _median_ms(run: Callable[[], Any], repeats: int = 20) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return 1e3 * sorted(times)[len(times) // 2]


@main.command()
@click.option("--missing", type=click.Choice(FACETS), help="List only ops lacking this facet.")
def ops(missing: str | None) -> None:
    """Print every operator and which facets it has (schema, infer, ref, lower, onnx).

    \b
    Examples:
      hybrix ops
      hybrix ops --missing onnx
    """
    from hybrix.ir.ops import all_ops

    rows = []
    for op in sorted(all_ops(), key=lambda o: o.name.lower()):
        have = {facet: getattr(op, f"{facet}_fn") is not None for facet in FACETS}
        if missing and have[missing]:
            continue
        marks = "  ".join(f"{facet}:{'y' if have[facet] else '-'}" for facet in FACETS)
        reason = f"  ({op.missing[missing]})" if missing and missing in op.missing else ""
        rows.append(f"{op.name:28} {marks}{reason}")
    click.echo("\n".join(rows))
    click.echo(f"{len(rows)} operators")


if __name__ == "__main__":
    main()
