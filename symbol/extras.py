"""sym.make_loss, and Symbols from hybridizable Gluon blocks (`block(sym.var(...))`)."""

from __future__ import annotations

from typing import Any

from hybrix.ir import DType, Graph, HybrixError, TensorType, Value, get_op
from hybrix.symbol.symbol import Symbol, SymbolError, SymNode, _Names

__all__ = ["block_to_symbol", "make_loss"]


def make_loss(
    data: Symbol,
    grad_scale: float = 1.0,
    valid_thresh: float = 0.0,
    normalization: str = "null",
    name: str | None = None,
) -> Symbol:
    """Mark `data` as a loss: forward is identity, backward feeds `grad_scale` (divided by
    the batch size for normalization='batch') instead of the head gradient, as MXNet's
    MakeLoss. Written to JSON as `_copy` (hybrix has no MakeLoss op; MXNet reads `_copy`)."""
    if normalization not in ("null", "batch"):
        raise SymbolError(
            f"make_loss: normalization {normalization!r} is not supported; "
            "expected 'null' or 'batch'"
        )
    if not isinstance(data, Symbol) or len(data) != 1:
        raise SymbolError("make_loss expects a Symbol with one output")
    node = SymNode("identity", _Names.get(name, "makeloss"), {}, [data._outputs[0]])
    node.loss_scale = (float(grad_scale), normalization)
    return Symbol([(node, 0)])


def block_to_symbol(block: Any, *inputs: Symbol) -> Symbol:
    """The Symbol of a HybridBlock applied to variables (MXNet: `block(sym.var('data'))`).

    The block is traced, so each input variable needs a `shape` (0 or a name for a batch
    dimension that stays open); parameters become variables named as the Parameters.
    """
    from hybrix.gluon._cached_graph import trace_block
    from hybrix.ndarray.ndarray import NDArray

    arrays = [NDArray(Value(_input_name(s), _input_type(s))) for s in inputs]
    traced = trace_block(block, arrays, [0] * len(arrays))
    return graph_to_symbol(traced.graph, inputs)


def _input_name(symbol: Symbol) -> str:
    if not isinstance(symbol, Symbol) or len(symbol) != 1:
        raise SymbolError(f"a block's symbolic input must be a Symbol, got {symbol!r}")
    return symbol.list_outputs()[0]


def _input_type(symbol: Symbol) -> TensorType:
    node = symbol._outputs[0][0]
    text = node.hidden.get("__shape__")
    if not node.is_variable or text is None:
        raise SymbolError(
            f"calling a block on {symbol!r} needs the input's shape: create it with "
            "sym.var(name, shape=(...)) (0 leaves the batch dimension open)"
        )
    dims = [d.strip() for d in text.strip("()[] ").split(",") if d.strip()]
    shape = tuple("N" if d == "0" else int(d) for d in dims)
    flag = node.hidden.get("__dtype__")
    dtype = DType.from_mxnet_flag(int(flag)) if flag else DType.float32
    return TensorType(dtype, shape)


def graph_to_symbol(graph: Graph, inputs: tuple[Symbol, ...] = ()) -> Symbol:
    """A Symbol with the graph's nodes; its first inputs stand for `inputs`, the others
    (parameters) become variables. Random ops' key inputs are dropped."""
    entries: dict[int, tuple[SymNode, int]] = {}
    for position, value in enumerate(graph.inputs):
        if position < len(inputs):
            entries[id(value)] = inputs[position]._outputs[0]
        elif not value.name.startswith("rng_key"):
            hidden = {"__shape__": str(tuple(d if isinstance(d, int) else 0 for d in value.shape))}
            entries[id(value)] = (SymNode("null", value.name, hidden=hidden), 0)
    if graph.constants:
        names = ", ".join(v.name for v in graph.constants[:5])
        raise HybrixError(
            f"graph {graph.name} holds constants ({names}), which a Symbol cannot carry; "
            "make them Parameters of the block"
        )
    for node in graph.nodes:
        opdef = get_op(node.op)
        attrs = {
            key: value
            for key, value in node.attrs.items()
            if key != "training" and value != opdef.attrs[key].default
        }
        sources = [entries[id(v)] for v in node.inputs if id(v) in entries]
        built = SymNode(node.op, node.name, attrs, sources)
        for index, value in enumerate(node.outputs):
            entries[id(value)] = (built, index)
    return Symbol([entries[id(v)] for v in graph.outputs])
