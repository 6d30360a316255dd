"""Executor: a Symbol bound to arrays (MXNet's `sym.bind` / `simple_bind`).

The symbol becomes an ir.Graph (every variable an input), one per mode (`is_train`
switches Dropout and BatchNorm), lowered and jitted once. `forward` runs it and, in
training mode, writes BatchNorm's updated moving statistics into the aux arrays;
`backward` runs a jitted VJP of the same program and writes the gradients into
`grad_arrays` by each argument's grad_req ('write', 'add', 'null').
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hybrix.ir import HybrixError, get_op
from hybrix.ndarray.ndarray import NDArray

__all__ = ["Executor", "simple_bind"]

_REQS = ("write", "add", "null")


class ExecutorError(HybrixError):
    """A bind or an executor call with arrays that do not fit the symbol."""


class _Program:
    """One mode's graph: jitted forward and VJP, and which outputs update which aux."""

    def __init__(self, symbol: Any, shapes: dict, dtypes: dict, training: bool) -> None:
        import jax

        from hybrix.compiler import lower_graph

        graph = symbol.to_graph(shapes, dtypes, training)
        self.names = [v.name for v in graph.inputs]
        self.num_outputs = len(graph.outputs)
        self.aux_targets: list[str] = []
        if training:
            for node in graph.nodes:
                opdef = get_op(node.op)
                positions = {name: i for i, name in enumerate(opdef.input_names)}
                out_names = opdef.output_names(node.attrs)
                for out, inp in opdef.aux_updates.items():
                    graph.outputs.append(node.outputs[out_names.index(out)])
                    self.aux_targets.append(node.inputs[positions[inp]].name)
        run = lower_graph(graph)
        self.graph = graph
        self.forward = jax.jit(lambda *inputs: tuple(run((), *inputs)))
        self.backward = jax.jit(self._vjp_function(run))

    def _vjp_function(self, run: Any) -> Any:
        import jax

        count = self.num_outputs

        def vjp(inputs: tuple, heads: tuple) -> tuple:
            _, pullback = jax.vjp(lambda *xs: tuple(run((), *xs))[:count], *inputs)
            return pullback(heads)

        return vjp


class Executor:
    """Bound arrays, outputs and gradients of one Symbol; see the module docstring."""

    def __init__(
        self,
        symbol: Any,
        ctx: Any,
        args: Any,
        args_grad: Any = None,
        grad_req: Any = "write",
        aux_states: Any = None,
    ) -> None:
        self._symbol = symbol
        self._ctx = ctx
        self._arg_names = symbol.list_arguments()
        self._aux_names = symbol.list_auxiliary_states()
        self.arg_arrays = _arrays(args, self._arg_names, "args")
        self.aux_arrays = _arrays(aux_states or [], self._aux_names, "aux_states")
        self.grad_req = _grad_reqs(grad_req, self._arg_names)
        self.grad_arrays = _grad_arrays(args_grad, self._arg_names, self.grad_req, self.arg_arrays)
        self.outputs: list[NDArray] = []
        self._programs: dict[bool, _Program] = {}
        self._last_train = False
        self._loss_scales = [node.loss_scale for node, _ in symbol._outputs]

    # -- dictionaries ------------------------------------------------------------------
    @property
    def arg_dict(self) -> dict[str, NDArray]:
        return dict(zip(self._arg_names, self.arg_arrays, strict=True))

    @property
    def grad_dict(self) -> dict[str, NDArray]:
        return {
            n: g for n, g in zip(self._arg_names, self.grad_arrays, strict=True) if g is not None
        }

    @property
    def aux_dict(self) -> dict[str, NDArray]:
        return dict(zip(self._aux_names, self.aux_arrays, strict=True))

    @property
    def output_dict(self) -> dict[str, NDArray]:
        return dict(zip(self._symbol.list_outputs(), self.outputs, strict=True))

    # -- running -----------------------------------------------------------------------
    def _program(self, training: bool) -> _Program:
        program = self._programs.get(training)
        if program is None:
            values = {**self.arg_dict, **self.aux_dict}
            shapes = {n: a.shape for n, a in values.items()}
            dtypes = {n: np.dtype(a.dtype).name for n, a in values.items()}
            program = self._programs[training] = _Program(self._symbol, shapes, dtypes, training)
        return program

    def _inputs(self, program: _Program) -> tuple:
        values = {**self.arg_dict, **self.aux_dict}
        return tuple(values[name]._data for name in program.names)

    def forward(self, is_train: bool = False, **kwargs: Any) -> list[NDArray]:
        """Run the symbol; kwargs copy new values into named arguments first."""
        arg_dict = self.arg_dict
        for name, value in kwargs.items():
            if name not in arg_dict:
                raise ExecutorError(
                    f"forward: {name!r} is not an argument; expected some of {self._arg_names}"
                )
            _copy_into(arg_dict[name], value, name)
        program = self._program(bool(is_train))
        results = program.forward(*self._inputs(program))
        aux = self.aux_dict
        for name, data in zip(program.aux_targets, results[program.num_outputs :], strict=True):
            aux[name]._data = data
        self.outputs = [NDArray(r) for r in results[: program.num_outputs]]
        self._last_train = bool(is_train)
        return self.outputs

    def backward(self, out_grads: Any = None, is_train: bool = True) -> None:
        """Gradients of the outputs (head gradients `out_grads`, default ones) into
        grad_arrays. make_loss outputs use their grad_scale, whatever is given."""
        if not self.outputs:
            raise ExecutorError("backward called before forward")
        program = self._program(self._last_train)
        heads = self._head_grads(out_grads)
        grads = program.backward(self._inputs(program), heads)
        by_name = dict(zip(program.names, grads, strict=True))
        for name, req, target in zip(self._arg_names, self.grad_req, self.grad_arrays, strict=True):
            if req == "null" or target is None:
                continue
            grad = by_name[name].astype(target._data.dtype)
            target._data = grad if req == "write" else target._data + grad

    def _head_grads(self, out_grads: Any) -> tuple:
        import jax.numpy as jnp

        if out_grads is not None and not isinstance(out_grads, list | tuple):
            out_grads = [out_grads]
        if out_grads is not None and len(out_grads) != len(self.outputs):
            raise ExecutorError(
                f"backward: {len(out_grads)} out_grads for {len(self.outputs)} outputs"
            )
        heads = []
        for index, output in enumerate(self.outputs):
            scale = self._loss_scales[index]
            if scale is not None:
                value = scale[0] / (output.shape[0] if scale[1] == "batch" else 1)
                heads.append(jnp.full(output.shape, value, output._data.dtype))
            elif out_grads is None:
                heads.append(jnp.ones(output.shape, output._data.dtype))
            else:
                given = out_grads[index]
                data = given._data if isinstance(given, NDArray) else jnp.asarray(given)
                heads.append(data.astype(output._data.dtype))
        return tuple(heads)

    def copy_params_from(
        self,
        arg_params: Mapping[str, Any],
        aux_params: Mapping[str, Any] | None = None,
        allow_extra_params: bool = False,
    ) -> None:
        for source, target in ((arg_params, self.arg_dict), (aux_params or {}, self.aux_dict)):
            for name, value in source.items():
                if name in target:
                    _copy_into(target[name], value, name)
                elif not allow_extra_params:
                    raise ExecutorError(f"copy_params_from: {name!r} is not in the symbol")

    def __repr__(self) -> str:
        return f"<Executor {self._symbol!r} args={self._arg_names}>"


def _as_array(value: Any, name: str) -> NDArray:
    if isinstance(value, NDArray):
        return value
    if isinstance(value, np.ndarray | list | tuple | float | int):
        import jax.numpy as jnp

        array = np.asarray(value)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        return NDArray(jnp.asarray(array))
    raise ExecutorError(f"{name}: expected an NDArray, got {type(value).__name__}")


def _arrays(given: Any, names: list[str], what: str) -> list[NDArray]:
    if isinstance(given, Mapping):
        missing = [n for n in names if n not in given]
        if missing:
            raise ExecutorError(f"bind: {what} lacks {missing}; the symbol needs {names}")
        return [_as_array(given[n], n) for n in names]
    given = list(given)
    if len(given) != len(names):
        raise ExecutorError(f"bind: {len(given)} {what} for {len(names)} names {names}")
    return [_as_array(g, n) for g, n in zip(given, names, strict=True)]


def _grad_reqs(grad_req: Any, names: list[str]) -> list[str]:
    if isinstance(grad_req, str):
        reqs = [grad_req] * len(names)
    elif isinstance(grad_req, Mapping):
        reqs = [grad_req.get(n, "null") for n in names]
    else:
        reqs = list(grad_req)
    bad = [r for r in reqs if r not in _REQS]
    if bad or len(reqs) != len(names):
        raise ExecutorError(f"bind: grad_req {grad_req!r}; expected {_REQS} per argument")
    return reqs


def _grad_arrays(
    args_grad: Any, names: list[str], reqs: list[str], args: list[NDArray]
) -> list[NDArray | None]:
    import jax.numpy as jnp

    if args_grad is None:
        if any(r != "null" for r in reqs) and args_grad is None:
            return [
                None if r == "null" else NDArray(jnp.zeros(a.shape, a._data.dtype))
                for r, a in zip(reqs, args, strict=True)
            ]
        return [None] * len(names)
    if isinstance(args_grad, Mapping):
        return [_as_array(args_grad[n], n) if n in args_grad else None for n in names]
    return [_as_array(g, n) for g, n in zip(args_grad, names, strict=True)]


def _copy_into(target: NDArray, value: Any, name: str) -> None:
    array = _as_array(value, name)
    if tuple(array.shape) != tuple(target.shape):
        raise ExecutorError(f"{name}: shape {array.shape} does not match bound {target.shape}")
    target._data = array._data.astype(target._data.dtype)


def simple_bind(
    symbol: Any, ctx: Any, grad_req: Any, type_dict: dict[str, Any], shapes: dict[str, Any]
) -> Executor:
    """Allocate zero arrays of the inferred shapes (and dtypes) and bind them."""
    import jax.numpy as jnp

    graph = symbol.to_graph(shapes, type_dict)
    by_name = {v.name: v for v in graph.inputs}

    def zeros(name: str) -> NDArray:
        value = by_name[name]
        if not value.type.is_static:
            raise ExecutorError(f"simple_bind: the shape of {name} ({value.type}) is not known")
        return NDArray(jnp.zeros(value.shape, value.dtype.numpy))

    args = [zeros(n) for n in symbol.list_arguments()]
    aux = [zeros(n) for n in symbol.list_auxiliary_states()]
    return Executor(symbol, ctx, args, None, grad_req, aux)
