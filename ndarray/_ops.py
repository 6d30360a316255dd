"""nd.<Op> functions generated from the op registry, MXNet's calling convention.

`nd.FullyConnected(x, w, b, num_hidden=8)`, `nd.concat(a, b, dim=1)`: inputs by position
or by name, attributes by keyword (or by position after the inputs, in declaration
order), `out=` writes into an existing NDArray, `name=` is accepted and ignored, `ctx=`
places ops without array inputs. Functions are made on first use, so ops registered
after `import hybrix.nd` appear too.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hybrix.ir import HybrixError, UnknownOpError
from hybrix.ir.ops import all_ops, get_op
from hybrix.ndarray import _dispatch
from hybrix.ndarray._dispatch import LAST_RESULT, entry_for, invoke, op_info
from hybrix.ndarray.ndarray import NDArray

__all__ = ["make_op_function", "op_functions", "resolve"]

_FUNCTIONS: dict[str, Any] = {}


def make_op_function(name: str) -> Any:
    """The nd function for an op name or alias (cached)."""
    function = _FUNCTIONS.get(name)
    if function is not None:
        return function
    op = get_op(name)
    info = op_info(op.name)
    fast = _plain_entry(info)
    arity = len(info.input_names)

    jitted = fast.fn if fast is not None else None
    seen = fast.seen if fast is not None else None

    def function(
        *args: Any, out: Any = None, name: Any = None, ctx: Any = None, **kwargs: Any
    ) -> Any:
        # Fast path: all inputs given as NDArrays, no attributes, nothing to write back.
        if (
            jitted is not None
            and not kwargs
            and out is None
            and _dispatch.TRACER is None
            and not _dispatch.AUTOGRAD.recording
        ):
            count = len(args)
            if count == 2 and arity == 2:
                lhs, rhs = args
                if type(lhs) is NDArray and type(rhs) is NDArray:
                    left, right = lhs._data, rhs._data
                    if (left.aval, right.aval) not in seen:
                        fast.check((left, right))
                    result = LAST_RESULT[0] = jitted(left, right)
                    return NDArray(result)
            elif count == 1 and arity == 1 and type(args[0]) is NDArray:
                data = args[0]._data
                if (data.aval,) not in seen:
                    fast.check((data,))
                result = LAST_RESULT[0] = jitted(data)
                return NDArray(result)
        return invoke(info, args, kwargs, out, ctx)

    inputs = ", ".join(info.input_names)
    attrs = ", ".join(f"{n}={a.default!r}" for n, a in op.attrs.items())
    function.__name__ = name
    function.__qualname__ = name
    function.__doc__ = f"{op.doc}\n\nnd.{name}({inputs}, {attrs}, out=None, name=None)"
    _FUNCTIONS[name] = function
    return function


def _plain_entry(info: Any) -> Any:
    """The entry for a call without attributes, when such a call needs no extra work."""
    op = info.op
    if op.rng or op.aux_updates or info.has_training or info.has_num_args or info.variadic:
        return None
    if any(spec.required for spec in op.attrs.values()):
        return None
    try:
        entry = entry_for(info, {})
    except HybrixError:
        return None
    return entry if entry.single and entry.visible == 1 else None


def op_functions() -> dict[str, Any]:
    """Every registered op and alias name -> its nd function."""
    result = {}
    for op in all_ops():
        for name in (op.name, *op.aliases):
            result[name] = make_op_function(name)
    return result


class UnknownFunctionError(UnknownOpError, AttributeError):
    """`nd.<name>` for a name that is no registered op (an AttributeError too)."""


def resolve(name: str) -> Any:
    """The nd function for `name`; UnknownFunctionError (an AttributeError) otherwise."""
    try:
        return make_op_function(name)
    except UnknownOpError as e:
        raise UnknownFunctionError(f"nd.{name}: {e}") from None


class _Namespace(SimpleNamespace):
    """nd._internal / nd.op / nd.contrib: resolves op names on attribute access."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__()
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return resolve(self._prefix + name)


internal = _Namespace()
op = _Namespace()
contrib = _Namespace("_contrib_")
