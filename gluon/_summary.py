"""Block.summary: each layer's output shape and parameter count, MXNet 1.9.1's table."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from hybrix.ir import HybrixError
from hybrix.ndarray.ndarray import NDArray

__all__ = ["print_summary"]

_LINE = "{:>20}  {:>42} {:>15}"


def _shape_text(args: Any) -> str:
    def shapes(item: Any) -> Any:
        if isinstance(item, list | tuple):
            return [shapes(i) for i in item]
        return item.shape if isinstance(item, NDArray) else item

    result = shapes(args)
    if isinstance(result, list):
        return str(result)[1:-1]
    return str(result)


def _row(output_shape: str) -> dict:
    return {"output_shape": output_shape, "n_params": 0, "trainable": 0, "shared": 0}


def print_summary(block: Any, inputs: tuple) -> None:
    """Run `block` on `inputs` with forward hooks on every layer and print the table."""
    from hybrix.gluon.block import HybridBlock
    from hybrix.gluon.nn.basic_layers import HybridSequential, Sequential

    summary: OrderedDict[str, dict] = OrderedDict()
    seen: set[int] = set()
    hooks = []

    def hook(layer: Any, _: Any, outputs: Any) -> None:
        row = summary[f"{layer.__class__.__name__}-{len(summary)}"] = _row(_shape_text(outputs))
        for param in layer.params.values():
            size = int(param.data().size)
            row["n_params"] += size
            row["trainable"] += 0 if param.grad_req == "null" else size
            if id(param) in seen:
                row["shared"] += size
            seen.add(id(param))

    def register(layer: Any) -> None:
        if isinstance(layer, HybridBlock) and layer._active:
            raise HybrixError(f'"{layer.name}" must not be hybridized to print summary.')
        if not isinstance(layer, Sequential | HybridSequential):
            hooks.append(layer.register_forward_hook(hook))

    summary["Input"] = _row(_shape_text(inputs))
    try:
        block.apply(register)
        block(*inputs)
        _print_table(summary)
    finally:
        for handle in hooks:
            handle.detach()


def _print_table(summary: OrderedDict[str, dict]) -> None:
    print("-" * 80)
    print(_LINE.format("Layer (type)", "Output Shape", "Param #"))
    print("=" * 80)
    total = trainable = shared = 0
    for name, row in summary.items():
        print(_LINE.format(name, str(row["output_shape"]), row["n_params"]))
        total += row["n_params"]
        trainable += row["trainable"]
        shared += row["shared"]
    print("=" * 80)
    print("Parameters in forward computation graph, duplicate included")
    print("   Total params: " + str(total))
    print("   Trainable params: " + str(trainable))
    print("   Non-trainable params: " + str(total - trainable))
    print("Shared params in forward computation graph: " + str(shared))
    print("Unique parameters in model: " + str(total - shared))
    print("-" * 80)
