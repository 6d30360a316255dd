"""Op dispatch for NDArrays: the eager fast path and the hand-off to an active tracer.

Eager: per (op, attribute kwargs) the checked attributes and a `jax.jit` of the op's
lowering are cached, so a repeated call costs a dict lookup and one jitted call. JAX
dispatch is asynchronous: the call returns before the result is computed, which makes
JAX's runtime MXNet's dependency engine.

Tracing (see hybrix._trace): while a tracer is active, an op whose inputs include a
traced NDArray (one holding an ir.Value) appends a node to the tracer's graph instead.

Recording (see hybrix.autograd): under `autograd.record()`, a call whose inputs are in a
graph adds a TapeNode holding the op's lowering, keyed by its Entry for the VJP cache.
Fast paths elsewhere check `AUTOGRAD.recording` and fall back to `call_entry`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hybrix import autograd
from hybrix.ir import AttrError, DType, HybrixError, TensorType, Value, get_op
from hybrix.ir.ops import OpDef

__all__ = ["OpInfo", "call_entry", "invoke", "op_info"]

# The active hybrix._trace.Tracer, or None. Module-global so the fast path reads it cheaply.
TRACER: Any = None
# The last eagerly dispatched array, so `waitall()` has something to block on.
LAST_RESULT: list[Any] = [None]
# autograd's per-thread flags, read by every fast path (`AUTOGRAD.recording`).
AUTOGRAD = autograd._STATE
# Set by hybrix.ndarray.ndarray (which imports this module): the NDArray class and converter.
NDArray: Any = None
as_ndarray: Any = None


class OpInfo:
    """What the frontend needs of an op, computed once per op name."""

    __slots__ = (
        "attr_names",
        "has_num_args",
        "has_training",
        "input_names",
        "min_inputs",
        "name",
        "op",
        "variadic",
    )

    def __init__(self, op: OpDef) -> None:
        self.op = op
        self.name = op.name
        names = op.input_names
        # NOTE: an rng op's last input is the PRNG key, which the frontend supplies.
        self.input_names = names[:-1] if op.rng else names
        self.min_inputs = min(op.min_inputs, len(self.input_names))
        self.variadic = op.variadic
        self.attr_names = list(op.attrs)
        self.has_training = "training" in op.attrs
        self.has_num_args = "num_args" in op.attrs


class Entry:
    """A cached dispatch target: checked attrs and the jitted lowering of one op call."""

    __slots__ = ("attrs", "aux", "fn", "info", "nondiff", "run", "seen", "single", "visible")

    def __init__(self, info: OpInfo, attrs: dict[str, Any]) -> None:
        import jax

        from hybrix.compiler import lower_op

        op = info.op
        self.info = info
        self.attrs = attrs
        names = op.output_names(attrs)
        self.visible = op.num_visible_outputs(attrs)
        self.single = len(names) == 1
        run = self.run = lower_op(op.name, attrs)
        self.fn = jax.jit((lambda *args: run(*args)[0]) if self.single else run)
        self.nondiff = _nondiff_positions(op)
        positions = {name: i for i, name in enumerate(op.input_names)}
        updates = op.aux_updates.items() if op.updates_aux(attrs) else ()
        self.aux = [(names.index(out), positions[inp]) for out, inp in updates]
        self.seen: set[tuple] = set()  # input avals whose types `infer` has accepted

    def check(self, data: Sequence[Any]) -> None:
        """Run the op's type inference once per input signature (jax would silently
        promote dtypes or fail with its own message); remember the signature."""
        types = [TensorType(DType.from_any(d.dtype), tuple(d.shape)) for d in data]
        self.info.op.infer_types(types, self.attrs, f"nd.{self.info.name}")
        self.seen.add(tuple(d.aval for d in data))


def _nondiff_positions(op: OpDef) -> Any:
    """Input positions without gradient: all for a no_grad op, else nondiff_inputs and
    the rng key. A variadic input's status covers every position from it on."""
    names = op.input_names
    if op.no_grad is not None:
        return _ALL
    fixed = {i for i, name in enumerate(names) if name in op.nondiff_inputs}
    if op.rng:
        fixed.add(len(names) - 1)
    if op.variadic and names[-1] in op.nondiff_inputs:
        return _FromOn(len(names) - 1, fixed)
    return frozenset(fixed)


class _All:
    """Contains every position."""

    def __contains__(self, position: object) -> bool:
        return True


class _FromOn:
    """Positions in `fixed` or from `start` on."""

    def __init__(self, start: int, fixed: set[int]) -> None:
        self.start, self.fixed = start, fixed

    def __contains__(self, position: object) -> bool:
        return position in self.fixed or position >= self.start  # type: ignore[operator]


_ALL = _All()
_INFOS: dict[str, OpInfo] = {}
_ENTRIES: dict[tuple, Entry] = {}


def op_info(name: str) -> OpInfo:
    info = _INFOS.get(name)
    if info is None:
        info = _INFOS[name] = OpInfo(get_op(name))
    return info


def entry_for(info: OpInfo, kwargs: dict[str, Any]) -> Entry:
    """The cached Entry for these attribute kwargs (checked on first use)."""
    try:
        key = (info.name, *kwargs.items())
        entry = _ENTRIES.get(key)
    except TypeError:  # an unhashable value such as a list
        key = (info.name, *((k, _freeze(v)) for k, v in kwargs.items()))
        entry = _ENTRIES.get(key)
    if entry is None:
        attrs = info.op.check_attrs(kwargs, f"nd.{info.name}")
        entry = _ENTRIES[key] = Entry(info, attrs)
    return entry


def _freeze(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def invoke(
    info: OpInfo,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    out: Any = None,
    ctx: Any = None,
) -> Any:
    """Call an op the way MXNet's generated `nd.<op>` functions do.

    Positional args fill the inputs, then the attributes in declaration order; keyword
    args name inputs or attributes. Returns an NDArray, or a list for several outputs.
    """
    inputs, attrs = _bind_arguments(info, args, kwargs)
    arrays = [as_ndarray(x, info.name) for x in inputs]
    if info.has_training and "training" not in attrs:
        attrs["training"] = autograd.is_training()
    if info.has_num_args and "num_args" not in attrs:
        attrs["num_args"] = len(arrays)
    entry = entry_for(info, attrs)
    return call_entry(entry, arrays, out, ctx)


def _bind_arguments(info: OpInfo, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple:
    """Split MXNet-style arguments into (inputs, attribute kwargs)."""
    attrs = dict(kwargs)
    if info.variadic:
        inputs = list(args)
        if len(inputs) == 1 and isinstance(inputs[0], list | tuple):
            inputs = list(inputs[0])
        name = info.input_names[-1]
        if name in attrs:
            given = attrs.pop(name)
            inputs.extend(given if isinstance(given, list | tuple) else [given])
        return inputs, attrs
    names = info.input_names
    inputs: list[Any] = list(args[: len(names)])
    extra = args[len(names) :]
    if len(extra) > len(info.attr_names):
        raise AttrError(
            f"nd.{info.name} takes at most {len(names) + len(info.attr_names)} positional "
            f"arguments ({', '.join(names + info.attr_names)}), got {len(args)}"
        )
    for name, value in zip(info.attr_names, extra, strict=False):
        if name in attrs:
            raise AttrError(f"nd.{info.name} got {name!r} both by position and by keyword")
        attrs[name] = value
    inputs.extend([None] * (len(names) - len(inputs)))
    for i, name in enumerate(names):
        if name in attrs:
            if inputs[i] is not None:
                raise AttrError(f"nd.{info.name} got input {name!r} twice")
            inputs[i] = attrs.pop(name)
    while inputs and inputs[-1] is None:
        inputs.pop()
    if None in inputs or len(inputs) < info.min_inputs:
        missing = [
            n for n, x in zip(names, inputs + [None] * len(names), strict=False) if x is None
        ]
        raise AttrError(f"nd.{info.name} needs input(s) {', '.join(missing[:3])}")
    return inputs, attrs


def call_entry(entry: Entry, arrays: list[Any], out: Any = None, ctx: Any = None) -> Any:
    """Run a cached entry on NDArrays (eager or traced) and wrap the visible outputs."""
    info = entry.info
    data: list[Any] = []
    if out is not None and AUTOGRAD.recording:
        for target in out if isinstance(out, list | tuple) else [out]:
            autograd.check_writable(target, f"nd.{info.name}(out=...)")
    if TRACER is not None and (info.op.rng or any(type(a._data) is Value for a in arrays)):
        results = TRACER.apply(entry, arrays)
    else:
        data = [a._data for a in arrays]
        if info.op.rng:
            from hybrix.ndarray.random import next_key

            data.append(next_key(ctx or _context_of(arrays)))
        if tuple(d.aval for d in data) not in entry.seen:
            entry.check(data)
        if data or ctx is None:
            results = entry.fn(*data)
        else:
            import jax

            with jax.default_device(ctx.device):
                results = entry.fn(*data)
        if entry.single:
            results = (results,)
        LAST_RESULT[0] = results[0]
    for out_index, in_index in entry.aux:
        _assign(arrays[in_index], results[out_index])
    visible = results[: entry.visible]
    if out is not None:
        written = _write_out(out, visible, info.name)
        if AUTOGRAD.recording and data:
            targets = list(out) if isinstance(out, list | tuple) else [out]
            autograd.add_node(entry.run, entry, arrays, data, targets, entry.nondiff)
        return written
    wrapped = [NDArray(r) for r in visible]
    if AUTOGRAD.recording and data:
        autograd.add_node(entry.run, entry, arrays, data, wrapped, entry.nondiff)
    return wrapped[0] if len(wrapped) == 1 else wrapped


def _context_of(arrays: list[Any]) -> Any:
    from hybrix.context import current_context

    return arrays[0].context if arrays else current_context()


def _assign(target: Any, data: Any) -> None:
    """Make `target` hold `data` (MXNet writes into the NDArray's buffer)."""
    if TRACER is not None and (type(data) is Value or type(target._data) is Value):
        TRACER.rebind(target, data)
    else:
        target._data = data


def _write_out(out: Any, results: Sequence[Any], op_name: str) -> Any:
    targets = list(out) if isinstance(out, list | tuple) else [out]
    if len(targets) != len(results):
        raise HybrixError(
            f"nd.{op_name}: out= has {len(targets)} arrays for {len(results)} outputs"
        )
    for target, data in zip(targets, results, strict=True):
        shape, dtype = tuple(data.shape), data.dtype
        if tuple(target.shape) != shape:
            raise HybrixError(
                f"nd.{op_name}: out= has shape {tuple(target.shape)}, the result has shape {shape}"
            )
        if type(data) is not Value and target.dtype != dtype:
            data = data.astype(target.dtype)
        _assign(target, data)
    return out
