"""Tracing nd code into an ir.Graph, and `compile`: trace once per signature, run with XLA.

    graph = hybrix.trace(mlp, x, w1, b1, symbolic={0: "N"})   # x's first dim becomes N
    fast = hybrix.compile(mlp)                                 # callable on NDArrays

While tracing, the function's inputs are NDArrays holding ir.Values; every nd op whose
inputs include one appends a node (shapes are inferred, so `x.shape` works). Arrays with
data that the function creates or captures become graph constants; a compiled function
reads their *current* data on every call, so captured parameters updated between calls
are seen. Graph outputs are the function's outputs, then the new values of the inputs
and captured arrays the function wrote to (in-place ops, `out=`, BatchNorm's moving
statistics); `compile` writes those back, as MXNet mutates them.

Random ops inside traced code get one extra graph input each, a raw PRNG key
(uint32[2], named rng_key<i>), after the function's inputs; `compile` feeds fresh keys
from nd.random's generator on every call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from hybrix import autograd
from hybrix.ir import DType, Graph, HybrixError, TensorType, Value
from hybrix.ndarray import _dispatch
from hybrix.ndarray.ndarray import NDArray

__all__ = ["Compiled", "Traced", "Tracer", "compile", "trace"]

_KEY_TYPE = TensorType(DType.uint32, (2,))


class Tracer:
    """Builds a graph from nd calls; installed as the dispatcher's active tracer."""

    def __init__(self, name: str) -> None:
        self.graph = Graph(name)
        self.constant_sources: list[NDArray] = []  # parallel to graph.constants
        self._constants: dict[int, Value] = {}
        self._originals: dict[int, tuple[NDArray, Any]] = {}  # arrays the trace may write
        self.num_keys = 0

    def add_input(self, name: str, type: TensorType) -> NDArray:
        array = NDArray(self.graph.add_input(name, type))
        self._originals[id(array)] = (array, array._data)
        return array

    def value_of(self, array: NDArray) -> Value:
        """The graph value for an array: its Value, or a constant holding its data."""
        data = array._data
        if type(data) is Value:
            return data
        value = self._constants.get(id(array))
        if value is None:
            value = self._add_constant(np.asarray(data))
            self._constants[id(array)] = value
            self.constant_sources.append(array)
        return value

    def _add_constant(self, array: np.ndarray) -> Value:
        return self.graph.add_constant(self.graph.fresh_name("const"), array)

    def apply(self, entry: Any, arrays: Sequence[NDArray]) -> list[Value]:
        """Append a node for one op call; returns its output values."""
        inputs = [self.value_of(a) for a in arrays]
        if entry.info.op.rng and self._needs_key(entry, inputs):
            inputs.append(self.graph.add_input(f"rng_key{self.num_keys}", _KEY_TYPE))
            self.num_keys += 1
        node = self.graph.add_node(entry.info.name, inputs, entry.attrs)
        return list(node.outputs)

    @staticmethod
    def _needs_key(entry: Any, inputs: list[Value]) -> bool:
        """An optional key ("key?", as Dropout's) is given only when the call needs one."""
        op = entry.info.op
        if not op.inputs[-1].endswith("?"):
            return True
        try:
            op.infer_types([v.type for v in inputs], entry.attrs)
        except HybrixError:
            return True
        return False

    def rebind(self, target: NDArray, data: Any) -> None:
        """An in-place write inside the trace: `target` now stands for `data`."""
        if id(target) not in self._originals and type(target._data) is not Value:
            self._originals[id(target)] = (target, target._data)
        if type(data) is not Value:
            data = self.value_of(NDArray(data))
        if data.type != _type_of(target):
            raise HybrixError(
                f"cannot write a {data.type} value into an array of type {_type_of(target)}"
            )
        target._data = data

    def mutations(self) -> list[tuple[NDArray, Value]]:
        """(array, new value) for every input or captured array the trace wrote to."""
        return [
            (array, array._data)
            for array, original in self._originals.values()
            if array._data is not original and type(array._data) is Value
        ]

    def restore(self) -> None:
        for array, original in self._originals.values():
            array._data = original


def _type_of(array: NDArray) -> TensorType:
    data = array._data
    if type(data) is Value:
        return data.type
    return TensorType(DType.from_any(data.dtype), tuple(data.shape))


class Traced:
    """A traced function: its graph and what `compile` needs to run it."""

    def __init__(self, tracer: Tracer, num_inputs: int, structure: Any, writes: list) -> None:
        self.graph = tracer.graph
        self.constant_sources = tracer.constant_sources
        self.num_inputs = num_inputs
        self.num_keys = tracer.num_keys
        self.structure = structure  # None: one array; list or tuple: that many
        self.writes = writes  # (input position or captured NDArray) per mutation output


def _input_types(inputs: Sequence[NDArray], symbolic: Mapping[int, Any] | None) -> list[TensorType]:
    types = [_type_of(a) for a in inputs]
    for index, spec in (symbolic or {}).items():
        if not 0 <= index < len(types):
            raise HybrixError(f"symbolic names input {index}, but there are {len(types)} inputs")
        types[index] = types[index].with_shape(_symbolic_shape(types[index].shape, spec, index))
    return types


def _symbolic_shape(shape: tuple, spec: Any, index: int) -> tuple:
    """spec: 'N' (names dim 0), {axis: name}, or one entry per dim (None keeps it)."""
    if isinstance(spec, str):
        spec = {0: spec}
    elif isinstance(spec, list | tuple):
        spec = {axis: name for axis, name in enumerate(spec) if name is not None}
    result = list(shape)
    for axis, name in spec.items():
        if not -len(shape) <= axis < len(shape):
            raise HybrixError(f"symbolic: input {index} has rank {len(shape)}, no axis {axis}")
        result[axis] = name
    return tuple(result)


def _input_names(fn: Callable, count: int) -> list[str]:
    try:
        params = [
            p.name
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        params = []
    names = params[:count] if len(params) >= count else []
    return names or [f"arg{i}" for i in range(count)]


def _as_array(value: Any, position: int) -> NDArray:
    if isinstance(value, NDArray):
        return value
    if isinstance(value, np.ndarray | np.generic) or type(value).__module__.startswith("jax"):
        import jax.numpy as jnp

        return NDArray(jnp.asarray(value))
    raise HybrixError(
        f"input {position} of a traced function must be an NDArray or numpy array, "
        f"got {type(value).__name__}"
    )


def _trace(fn: Callable, inputs: Sequence[NDArray], symbolic: Mapping[int, Any] | None) -> Traced:
    if _dispatch.TRACER is not None:
        raise HybrixError("trace() was called while another trace is running")
    name = getattr(fn, "__name__", "main")
    tracer = Tracer(name if name.isidentifier() else "main")
    types = _input_types(inputs, symbolic)
    names = _input_names(fn, len(inputs))
    arguments = [tracer.add_input(n, t) for n, t in zip(names, types, strict=True)]
    _dispatch.TRACER = tracer
    try:
        result = fn(*arguments)
        structure, outputs = _flatten_outputs(result, name)
        tracer.graph.outputs = [tracer.value_of(o) for o in outputs]
        writes = []
        for array, value in tracer.mutations():
            tracer.graph.outputs.append(value)
            is_input = any(array is a for a in arguments)
            writes.append(
                next(i for i, a in enumerate(arguments) if a is array) if is_input else array
            )
    finally:
        _dispatch.TRACER = None
        tracer.restore()
    return Traced(tracer, len(inputs), structure, writes)


def _flatten_outputs(result: Any, name: str) -> tuple[Any, list[NDArray]]:
    if isinstance(result, NDArray):
        return None, [result]
    if isinstance(result, list | tuple) and all(isinstance(r, NDArray) for r in result):
        return type(result), list(result)
    raise HybrixError(
        f"traced function {name} must return an NDArray or a list/tuple of NDArrays, "
        f"got {type(result).__name__}"
    )


def trace(fn: Callable, *example_inputs: Any, symbolic: Mapping[int, Any] | None = None) -> Graph:
    """Run `fn` on traced NDArrays shaped like `example_inputs`; returns the ir.Graph.

    symbolic: {input index: 'N'} names dim 0 of that input; {index: {axis: name}} or
    {index: ('N', None, 'T')} name other dims.
    """
    inputs = [_as_array(x, i) for i, x in enumerate(example_inputs)]
    return _trace(fn, inputs, symbolic).graph


class Compiled:
    """`compile(fn)`: a callable on NDArrays/numpy that runs `fn`'s graph through XLA."""

    def __init__(self, fn: Callable, symbolic: Mapping[int, Any] | None = None) -> None:
        self.fn = fn
        self.symbolic = dict(symbolic) if symbolic else None
        self._exact: dict[tuple, tuple[Traced, Any]] = {}
        self._symbolic: list[tuple[Traced, Any]] = []

    def __call__(self, *args: Any) -> Any:
        arrays = [_as_array(x, i) for i, x in enumerate(args)]
        if _dispatch.TRACER is not None:
            return self.fn(*arrays)  # inside another trace: inline
        traced, program = self._lookup(arrays)
        constants = [source._data for source in traced.constant_sources]
        keys = [_next_key(arrays) for _ in range(traced.num_keys)]
        results = program(constants, *[a._data for a in arrays], *keys)
        return self._finish(traced, arrays, results)

    def traced(self, *args: Any) -> Traced:
        """The Traced entry for these inputs (tracing if needed)."""
        return self._lookup([_as_array(x, i) for i, x in enumerate(args)])[0]

    def _lookup(self, arrays: list[NDArray]) -> tuple[Traced, Any]:
        training = autograd.is_training()
        if self.symbolic is not None:
            return self._lookup_symbolic(arrays, training)
        key = (training, *((a.shape, np.dtype(a.dtype).str) for a in arrays))
        found = self._exact.get(key)
        if found is None:
            found = self._exact[key] = self._build(arrays)
        return found

    def _lookup_symbolic(self, arrays: list[NDArray], training: bool) -> tuple[Traced, Any]:
        from hybrix.ir.signature import check_inputs

        for traced, program in self._symbolic:
            if program.training == training:
                inputs = traced.graph.inputs[: traced.num_inputs]
                check_inputs(inputs, [a._data for a in arrays], f"compiled {traced.graph.name}")
                return traced, program
        entry = self._build(arrays)
        self._symbolic.append(entry)
        return entry

    def _build(self, arrays: list[NDArray]) -> tuple[Traced, Any]:
        from hybrix.compiler import compile_graph

        traced = _trace(self.fn, arrays, self.symbolic)
        program = _Program(compile_graph(traced.graph, prepack=False), autograd.is_training())
        return traced, program

    @staticmethod
    def _finish(traced: Traced, arrays: list[NDArray], results: list) -> Any:
        count = len(results) - len(traced.writes)
        for target, data in zip(traced.writes, results[count:], strict=True):
            array = arrays[target] if isinstance(target, int) else target
            array._data = data
        outputs = [NDArray(r) for r in results[:count]]
        if traced.structure is None:
            return outputs[0]
        return traced.structure(outputs)


class _Program:
    """The jitted program of a graph, called with the live constants."""

    def __init__(self, compiled: Any, training: bool) -> None:
        # NOTE: CompiledGraph binds the constants' trace-time data; live data is passed
        # instead so captured arrays updated between calls are seen.
        self._run = compiled.call_with_constants
        self.training = training

    def __call__(self, constants: list, *inputs: Any) -> list:
        return self._run(constants, *inputs)


def _next_key(arrays: list[NDArray]) -> Any:
    from hybrix.ndarray.random import next_key

    return next_key(arrays[0].context if arrays else None)


def compile(
    fn: Callable, *example_inputs: Any, symbolic: Mapping[int, Any] | None = None
) -> Compiled:
    """A compiled version of `fn`; traced now for `example_inputs`, else on first call."""
    compiled = Compiled(fn, symbolic)
    if example_inputs:
        compiled.traced(*example_inputs)
    return compiled
