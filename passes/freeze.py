"""freeze_params: turn named graph inputs (parameters) into constants holding their values.

Inference pipelines need parameters as constants so that BatchNorm folding and constant
folding can compute with them. The Value keeps its name and uses; it moves from
`graph.inputs` to `graph.constants`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hybrix.ir import DType, Graph, GraphError, TensorType
from hybrix.passes.infer_types import is_unknown

__all__ = ["freeze_params"]


def freeze_params(graph: Graph, values: Mapping[str, Any]) -> list[str]:
    """Make each input named in `values` a constant with that data; returns the names frozen.

    An input's "?" (unknown) dims take the data's sizes; any other mismatch of dtype or
    shape is a GraphError naming the input. Names in `values` that are not inputs of the
    graph are ignored (a .params file may hold more than one graph uses).
    """
    by_name = {v.name: v for v in graph.inputs}
    frozen = []
    for name, data in values.items():
        value = by_name.get(name)
        if value is None:
            continue
        array = np.asarray(data.asnumpy() if hasattr(data, "asnumpy") else data)
        found = TensorType(DType.from_any(array.dtype), tuple(array.shape))
        if not _fits(value.type, found):
            raise GraphError(
                f"graph {graph.name}: parameter %{name} is declared {value.type}, "
                f"its value is {found}"
            )
        value.type = found
        value.const = array
        graph.inputs.remove(value)
        graph.constants.append(value)
        frozen.append(name)
    return frozen


def _fits(declared: TensorType, found: TensorType) -> bool:
    if declared.dtype != found.dtype or declared.rank != found.rank:
        return False
    return all(d == f or is_unknown(d) for d, f in zip(declared.shape, found.shape, strict=True))
