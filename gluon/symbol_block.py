"""gluon.SymbolBlock: a HybridBlock running an MXNet symbol (-symbol.json) with its params.

The symbol's variables other than the inputs become Parameters named exactly as in the file
(aux states such as BatchNorm's running_mean/var with grad_req='null'). A call imports the
symbol for the input shapes (once per signature) and runs its nodes through `nd`, so the
block runs imperatively, records for autograd, hybridizes (the nd calls are traced) and
exports like any HybridBlock; BatchNorm's moving statistics update in training mode.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from hybrix.gluon.block import HybridBlock
from hybrix.gluon.parameter import ParameterDict, ParameterError
from hybrix.importers import mxnet as mx_import
from hybrix.ir import Graph, HybrixError, Model
from hybrix.ndarray import NDArray, _dispatch

__all__ = ["SymbolBlock"]

Symbol = str | os.PathLike | Mapping[str, Any] | Graph | Model


class SymbolBlock(HybridBlock):
    """Construct a block from a symbol: `SymbolBlock(outputs, inputs, params=None)`.

    outputs: the symbol, as a -symbol.json path, its text or dict, or an ir.Graph / ir.Model
    (MXNet passes a Symbol; hybrix reads the same JSON). inputs: the input variable name(s).
    """

    def __init__(
        self, outputs: Symbol, inputs: str | Sequence[str], params: ParameterDict | None = None
    ) -> None:
        super().__init__(prefix="", params=params)
        self._symbol = _symbol_dict(outputs)
        self._input_names = [inputs] if isinstance(inputs, str) else list(inputs)
        variables = {v.name: v for v in mx_import.list_variables(self._symbol)}
        missing = [name for name in self._input_names if name not in variables]
        if missing:
            raise HybrixError(
                f"SymbolBlock: inputs {missing} are not variables of the symbol; its variables "
                f"are {sorted(variables)[:20]}"
            )
        self._graphs: dict[tuple, Graph] = {}
        for name, variable in variables.items():
            if name not in self._input_names:
                self._reg_params[name] = self.params.get(name, **_parameter_args(variable))

    @staticmethod
    def imports(
        symbol_file: str | os.PathLike,
        input_names: str | Sequence[str],
        param_file: str | os.PathLike | None = None,
        ctx: Any = None,
    ) -> SymbolBlock:
        """Load exported files: SymbolBlock.imports("m-symbol.json", ["data"], "m-0000.params")."""
        block = SymbolBlock(symbol_file, input_names)
        if param_file is not None:
            block._load_param_file(param_file, ctx)
        return block

    def _load_param_file(self, param_file: str | os.PathLike, ctx: Any) -> None:
        arrays = mx_import.read_params(param_file) or {}
        params = self._reg_params
        extra = sorted(set(arrays) - set(params))
        missing = sorted(set(params) - set(arrays))
        if extra or missing:
            raise ParameterError(
                f"{param_file}: does not match the symbol's parameters: missing {missing[:20]}, "
                f"not in the symbol {extra[:20]}"
            )
        for name, array in arrays.items():
            params[name]._load_init(array, ctx, cast_dtype=True, dtype_source="saved")

    # -- running ----------------------------------------------------------------------
    def infer_shape(self, *args: Any) -> None:
        """Fill unknown parameter shapes by importing the symbol for these input shapes."""
        graph = self._graph_for(list(args))
        for value in graph.inputs:
            param = self._reg_params.get(value.name)
            if param is not None:
                param.shape = tuple(value.shape)

    def hybrid_forward(self, F: Any, x: Any, *args: Any, **params: Any) -> Any:
        arrays = [x, *args]
        graph = self._graph_for(arrays)
        env: dict[int, Any] = {}
        named = dict(zip(self._input_names, arrays, strict=True)) | params
        for value in graph.inputs:
            env[id(value)] = named[value.name]
        for node in graph.nodes:
            attrs = {k: v for k, v in node.attrs.items() if k != "training"}
            inputs = [env[id(value)] for value in node.inputs]
            result = _dispatch.invoke(_dispatch.op_info(node.op), inputs, attrs)
            results = result if isinstance(result, list) else [result]
            for value, array in zip(node.outputs, results, strict=False):
                env[id(value)] = array
        outputs = [env[id(value)] for value in graph.outputs]
        return outputs[0] if len(outputs) == 1 else outputs

    def _graph_for(self, arrays: list[Any]) -> Graph:
        if len(arrays) != len(self._input_names):
            raise HybrixError(
                f"SymbolBlock: expected {len(self._input_names)} inputs "
                f"({', '.join(self._input_names)}), got {len(arrays)}"
            )
        shapes = {n: tuple(a.shape) for n, a in zip(self._input_names, arrays, strict=True)}
        dtypes = {n: _dtype_of(a) for n, a in zip(self._input_names, arrays, strict=True)}
        for name, param in self._reg_params.items():
            if param.shape and all(d > 0 for d in param.shape):
                shapes[name] = tuple(param.shape)
            dtypes[name] = param.dtype
        key = tuple(sorted((n, s, str(dtypes[n])) for n, s in shapes.items()))
        graph = self._graphs.get(key)
        if graph is None:
            graph = mx_import.load(self._symbol, input_shapes=shapes, input_dtypes=dtypes).graph
            self._graphs[key] = graph
        return graph


def _symbol_dict(outputs: Symbol) -> dict[str, Any]:
    if isinstance(outputs, Graph | Model):
        return json.loads(mx_import.to_json(outputs))
    if isinstance(outputs, Mapping):
        return dict(outputs)
    text = str(outputs)
    if text.lstrip().startswith("{"):
        return json.loads(text)
    from hybrix.importers.mxnet._json import read_symbol

    read_symbol(outputs)  # NOTE: reports a missing or foreign file with its path
    with open(outputs, encoding="utf-8") as file:
        return json.load(file)


def _parameter_args(variable: Any) -> dict[str, Any]:
    attrs = variable.attrs
    shape = variable.shape
    return {
        "shape": shape,
        "dtype": variable.dtype.numpy,
        "grad_req": "null" if variable.aux else "write",
        "lr_mult": float(attrs.get("__lr_mult__", 1.0)),
        "wd_mult": float(attrs.get("__wd_mult__", 1.0)),
        "init": attrs.get("__init__"),  # NOTE: MXNet's variable initializer ("zeros", ...)
        "allow_deferred_init": True,
    }


def _dtype_of(array: Any) -> Any:
    return array.dtype if isinstance(array, NDArray) else getattr(array, "dtype", "float32")
