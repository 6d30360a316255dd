"""A hybridized HybridBlock's compiled programs (MXNet's CachedOp) and `export`.

One `_CachedGraph` per input signature: the block traced into an ir.Graph with inputs
(data..., every Parameter by name, rng_key<i>...), optimized with the O1 pipeline and
compiled by XLA. Parameters are inputs, not constants, so a Trainer's updates are seen
without recompiling. Outputs are the block's outputs, then the new values of arrays the
block wrote (BatchNorm's running_mean/var); calls store those back. With
`hybridize(static_alloc=True)` the overwritten parameter buffers are donated to XLA.
A call under `autograd.record()` is one tape entry (`autograd.call_recorded`): its
program also returns the VJP residuals, so backward does not run the forward again.

With `hybridize(static_alloc=True)`, predict-mode calls that see the same Parameter arrays
twice in a row switch to a program with those values frozen as constants (`_Frozen`): the O2
inference pipeline then folds BatchNorm and picks the target's layout, and compile_graph packs
convolution weights once. A changed array (a Trainer step, set_data, load_parameters) sends
calls back to the ordinary program until the new values are seen twice.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hybrix import autograd
from hybrix._trace import Tracer, _type_of
from hybrix.gluon.block import HybridBlock, _flatten, _freeze, _regroup
from hybrix.gluon.parameter import Parameter
from hybrix.ir import HybrixError
from hybrix.ndarray import _dispatch
from hybrix.ndarray.ndarray import NDArray

__all__ = ["call_cached", "export_block", "trace_block"]


class TracedBlock:
    """A block's graph and how to feed it and store its side outputs."""

    def __init__(self, graph: Any, params: list[Parameter], tracer: Tracer, out_fmt: Any) -> None:
        self.graph = graph
        self.params = params
        self.sources = tracer.constant_sources
        self.num_keys = tracer.num_keys
        self.out_fmt = out_fmt
        self.num_outputs = 0
        self.writes: list[tuple[str, Any]] = []


def _unique_params(block: HybridBlock) -> list[Parameter]:
    seen: set[int] = set()
    result = []
    for param in block.collect_params().values():
        if id(param) not in seen:
            seen.add(id(param))
            result.append(param)
    return result


def _input_names(flat: list) -> list[str]:
    count = sum(1 for a in flat if a is not None)
    return ["data"] if count == 1 else [f"data{i}" for i in range(count)]


def trace_block(block: HybridBlock, flat: list, fmt: Any, bind_params: bool = True) -> TracedBlock:
    """Trace `block` on inputs shaped like `flat` (nested as `fmt`) into an ir.Graph."""
    if _dispatch.TRACER is not None:
        raise HybrixError(f"{block.name}: cannot trace a block while another trace is running")
    name = block.name if block.name.isidentifier() else "main"
    tracer = Tracer(name)
    names = iter(_input_names(flat))
    traced = [None if a is None else tracer.add_input(next(names), _type_of(a)) for a in flat]
    params = _unique_params(block) if bind_params else []
    ctx = next(a for a in flat if a is not None).context
    saved = _bind_params(tracer, params, ctx)
    by_array = {id(array): ("param", param) for param, array in saved[1]}
    by_array.update({id(a): ("input", i) for i, a in enumerate(t for t in traced if t is not None)})
    _dispatch.TRACER = tracer
    try:
        args, _ = _regroup(traced, fmt)
        out = block._call_imperative(*args)
        flat_out, out_fmt = _flatten(out, "outputs")
        if any(o is None for o in flat_out):
            raise HybrixError(f"{block.name}: hybrid_forward returned None among its outputs")
        result = TracedBlock(tracer.graph, params, tracer, out_fmt)
        tracer.graph.outputs = [tracer.value_of(o) for o in flat_out]
        result.num_outputs = len(flat_out)
        for array, value in tracer.mutations():
            tracer.graph.outputs.append(value)
            result.writes.append(by_array.get(id(array), ("array", array)))
    finally:
        _dispatch.TRACER = None
        tracer.restore()
        for param, data in saved[0]:
            param._data = data
    return result


def _bind_params(tracer: Tracer, params: list[Parameter], ctx: Any) -> tuple[list, list]:
    """Make each parameter's array on ctx a graph input named after the parameter."""
    originals, bound = [], []
    try:
        for param in params:
            array = param.data(ctx)
            traced = tracer.add_input(param.name, _type_of(array))
            position = next(i for i, a in enumerate(param._data or []) if a is array)
            originals.append((param, param._data))
            param._data = [traced if i == position else a for i, a in enumerate(param._data)]
            bound.append((param, traced))
    except BaseException:
        for param, data in originals:
            param._data = data
        raise
    return originals, bound


class _CachedGraph:
    """One compiled program of a hybridized block and the code to call it."""

    def __init__(self, block: HybridBlock, flat: list, fmt: Any, training: bool) -> None:
        from hybrix.compiler import compile_graph
        from hybrix.compiler.pipelines import optimize

        # what export_block needs to trace the block again (the same for every call here)
        self.signature = (fmt, [None if a is None else (a.shape, a.dtype) for a in flat])
        # (context, each Parameter's array list, the arrays on that context) of the last call
        self._bound: tuple = (None, None, None)
        traced = trace_block(block, flat, fmt)
        graph = traced.graph
        before = [id(v) for v in graph.constants]
        optimize(graph, "O1", inference=not training)
        self.live_constants = [id(v) for v in graph.constants] == before
        self.fixed_constants = [np.asarray(v.const) for v in graph.constants]
        self.traced = traced
        # NOTE: training graphs are differentiated: strategies measured on forward + backward
        self.program = compile_graph(graph, train=training, prepack=False).call_with_constants
        self.donating = None
        if block._flags.get("static_alloc"):
            self.donating = _donating_program(graph, traced, training)
        # NOTE: opt-in with static_alloc ("memory usage may increase", MXNet says): the frozen
        # program holds its own copy of the parameters, and its outputs may differ from the
        # ordinary program's in the last bits (folded BatchNorm, other kernels)
        freeze = block._flags.get("static_alloc") and not training and not traced.writes
        self.frozen = _Frozen(graph, traced) if freeze else None

    def __call__(self, flat: list) -> Any:
        from hybrix.ndarray.random import next_key

        traced = self.traced
        arrays = [a for a in flat if a is not None]
        ctx = arrays[0].context
        param_arrays = self._param_arrays(ctx)
        keys = [next_key(ctx) for _ in range(traced.num_keys)]
        if self.live_constants:
            constants = [s._data for s in traced.sources]
        else:
            constants = self.fixed_constants
        # NOTE: the program runs on its inputs' device; naming its context up front saves
        # NDArray.context a lookup (cpu_pinned/cpu_shared inputs give plain cpu outputs).
        out_ctx = ctx if ctx.device_type in ("cpu", "gpu") else None
        if autograd.is_recording():
            # one tape entry; with residuals for backward when an input needs a gradient
            outputs, writes = autograd.call_recorded(
                self._run_all,
                arrays + param_arrays,
                [*keys, *constants],
                traced.num_outputs,
                key=self,
                context=out_ctx,
            )
        else:
            data = [a._data for a in arrays]
            frozen = self.frozen.program(ctx, param_arrays, constants) if self.frozen else None
            if frozen is not None:
                results = frozen(*data, *keys)
            else:
                program = self.program if self.donating is None else self.donating
                results = program(constants, *data, *[p._data for p in param_arrays], *keys)
            outputs = [NDArray(r, out_ctx) for r in results[: traced.num_outputs]]
            writes = results[traced.num_outputs :]
        self._store_writes(writes, arrays, ctx)
        return _regroup(outputs, traced.out_fmt)[0]

    def _param_arrays(self, ctx: Any) -> list[NDArray]:
        """Each Parameter's array on ctx. NOTE: a Parameter gets a new list of arrays when
        its arrays are replaced (initialize, reset_ctx, cast, grad_req), never an edited
        one, so the last call's arrays stand while the context and the lists are the same
        (set_data writes into the arrays themselves)."""
        params = self.traced.params
        last_ctx, lists, arrays = self._bound
        if (last_ctx is ctx or last_ctx == ctx) and all(
            p._data is known for p, known in zip(params, lists, strict=True)
        ):
            return arrays
        arrays = [p.data(ctx) for p in params]
        self._bound = (ctx, [p._data for p in params], arrays)
        return arrays

    def _store_writes(self, values: list, arrays: list[NDArray], ctx: Any) -> None:
        for (kind, target), value in zip(self.traced.writes, values, strict=True):
            if kind == "param":
                target.data(ctx)._data = value
            elif kind == "input":
                arrays[target]._data = value
            else:
                target._data = value

    def _run_all(self, *primals: Any) -> tuple:
        """The program as a pure function of (data, params, keys, constants)."""
        count = len(self.traced.sources) if self.live_constants else len(self.fixed_constants)
        split = len(primals) - count
        return tuple(self.program(list(primals[split:]), *primals[:split]))


class _Frozen:
    """A predict-mode program with the Parameters (and captured arrays) as constants, kept
    while the arrays fed to it stay the same objects (jax arrays never change in place)."""

    def __init__(self, graph: Any, traced: TracedBlock) -> None:
        from hybrix.ir.serde import dumps

        self.graph_bytes = dumps(graph)  # the O1 graph, parameters still inputs
        self.names = [p.name for p in traced.params]
        self.seen: list | None = None  # the arrays of the last call
        self.compiled: Any = None  # the frozen program, for the arrays in `seen`

    def program(self, ctx: Any, param_arrays: list[NDArray], constants: list) -> Any:
        """The frozen program when the arrays equal the last call's (built on the second such
        call), else None: the caller runs the ordinary program."""
        import jax

        current = [p._data for p in param_arrays] + list(constants)
        seen = self.seen
        if seen is not None and all(a is b for a, b in zip(current, seen, strict=True)):
            if self.compiled is None:
                if ctx.device != jax.devices()[0]:
                    return None  # NOTE: compile_graph puts constants on the default device
                self.compiled = self._build(current)
            return self.compiled
        self.seen, self.compiled = current, None
        return None

    def _build(self, arrays: list) -> Any:
        from hybrix.compiler import compile_graph
        from hybrix.compiler.pipelines import optimize
        from hybrix.ir.serde import loads

        graph = loads(self.graph_bytes).graph
        count = len(self.names)
        for value, array in zip(graph.constants, arrays[count:], strict=True):
            value.const = np.asarray(array)
        params = dict(zip(self.names, (np.asarray(a) for a in arrays[:count]), strict=True))
        optimize(graph, "O2", inference=True, params=params)
        return compile_graph(graph)


def _donating_program(graph: Any, traced: TracedBlock, training: bool) -> Any:
    """The program with the buffers of overwritten parameters donated (static_alloc)."""
    import jax

    from hybrix.compiler import lower_graph
    from hybrix.compiler.autotune import strategy_chooser

    data_count = len(graph.inputs) - len(traced.params) - traced.num_keys
    written = {id(target) for kind, target in traced.writes if kind == "param"}
    donate = tuple(1 + data_count + i for i, p in enumerate(traced.params) if id(p) in written)
    if not donate:
        return None
    lowered = lower_graph(graph, strategy_chooser(train=training))
    # NOTE: hybrix.optimizer (imported by hybrix.gluon) filters jax's warning that "Some
    # donated buffers were not usable", once, rather than around every call.
    return jax.jit(lowered, donate_argnums=donate)


def call_cached(block: HybridBlock, args: tuple) -> Any:
    """Run a hybridized block: look up (or build) the program for these inputs, call it."""
    if all(type(a) is NDArray for a in args):  # the usual call: no nesting, no None
        flat, fmt = list(args), [0] * len(args)
        frozen: Any = (0,) * len(args)  # NOTE: what _freeze gives for this fmt
    else:
        flat, fmt = _flatten(list(args), "inputs")
        frozen = _freeze(fmt)
    training = autograd.is_training()
    # NOTE: outside a trace `_data` is a jax array, whose dtype is a numpy dtype
    key = (
        training,
        frozen,
        tuple((a._data.shape, a._data.dtype) for a in flat if a is not None),
    )
    entry = block._cached.get(key)
    if entry is None:
        _finish_deferred_params(block, flat, fmt)
        entry = block._cached[key] = _CachedGraph(block, flat, fmt, training)
    if block._last_signature is not entry.signature:  # NOTE: Block.__setattr__ is slow
        block._last_signature = entry.signature
    return entry(flat)


def _finish_deferred_params(block: HybridBlock, flat: list, fmt: Any) -> None:
    """Parameters waiting for shapes are initialized by a first trace that is discarded
    (each layer fills its shapes from its traced inputs)."""
    params = _unique_params(block)
    if all(p._data is not None or not p._deferred_init for p in params):
        return
    trace_block(block, flat, fmt, bind_params=False)


def export_block(block: HybridBlock, path: str, epoch: int = 0) -> tuple[str, str]:
    """Trace in predict mode and write MXNet's `path-symbol.json` / `path-%04d.params`."""
    if block._last_signature is None:
        raise HybrixError(
            f"{block.name}: please first call block.hybridize() and then run forward with "
            "this block at least once before calling export"
        )
    fmt, signature = block._last_signature
    from hybrix.ndarray.utils import zeros

    flat = [None if s is None else zeros(s[0], dtype=s[1]) for s in signature]
    with autograd.predict_mode():
        traced = trace_block(block, flat, fmt)
    graph = traced.graph
    graph.outputs = graph.outputs[: traced.num_outputs]
    params = {p.name: p._reduce().asnumpy() for p in traced.params}
    try:
        from hybrix.importers.mxnet import save
    except ImportError:
        raise HybrixError(
            "export needs hybrix.importers.mxnet.save (the MXNet JSON exporter), which this "
            "installation lacks"
        ) from None
    save(graph, path, epoch, params=params)
    return f"{path}-symbol.json", f"{path}-{epoch:04d}.params"
