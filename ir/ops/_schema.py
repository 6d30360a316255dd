"""Operator schemas: inputs, typed attributes and the facets (infer, ref, lower, onnx).

An op is declared once with `defop(...)`; its facets are attached with decorators:

    relu = defop("relu", inputs=["data"], infer=same_as_input, inplace={0: 0}, doc=...)

    @relu.ref
    def _(data): return np.maximum(data, 0)

    @relu.lower
    def _(jx, data): return jx.nn.relu(data)

Input specs: "name" (required), "name?" (optional, trailing), "*name" (variadic).
`infer(*input_types, **attrs)`, `ref(*arrays, **attrs)` and `lower(jx, *arrays, **attrs)`
return one result or a tuple of results, one per output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hybrix.ir.dtypes import DType
from hybrix.ir.errors import AttrError, HybrixError, ShapeError, UnknownOpError
from hybrix.ir.types import TensorType

__all__ = [
    "REQUIRED",
    "Attr",
    "OpDef",
    "all_ops",
    "defop",
    "get_op",
]

FACETS = ("infer", "ref", "lower", "onnx")


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
_KINDS = ("int", "float", "bool", "str", "ints", "floats", "opt_ints", "dtype", "graph")


@dataclass(frozen=True)
class Attr:
    """A typed attribute. `Attr.int(3)`, `Attr.ints()` (required), `Attr.str("max", choices=...)`.

    `optional=True` (implied by a None default) admits None.
    """

    kind: str
    default: Any = REQUIRED
    choices: tuple[Any, ...] | None = None
    optional: bool = False
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise HybrixError(f"unknown attribute kind {self.kind!r}; expected one of {_KINDS}")

    @classmethod
    def int(cls, default: Any = REQUIRED, **kw: Any) -> Attr:
        return cls("int", default, **kw)

    @classmethod
    def float(cls, default: Any = REQUIRED, **kw: Any) -> Attr:
        return cls("float", default, **kw)

    @classmethod
    def bool(cls, default: Any = REQUIRED, **kw: Any) -> Attr:
        return cls("bool", default, **kw)

    @classmethod
    def str(cls, default: Any = REQUIRED, **kw: Any) -> Attr:
        return cls("str", default, **kw)

    @classmethod
    def ints(cls, default: Any = REQUIRED, **kw: Any) -> Attr:
        return cls("ints", default, **kw)

    @classmethod
    def floats(cls, default: Any = REQUIRED, **kw: Any) -> Attr:
        return cls("floats", default, **kw)

    @classmethod
    def opt_ints(cls, default: Any = REQUIRED, **kw: Any) -> Attr:
        """A tuple whose entries may be None (MXNet's slice begin/end/step)."""
        return cls("opt_ints", default, **kw)

    @classmethod
    def dtype(cls, default: Any = REQUIRED, **kw: Any) -> Attr:
        return cls("dtype", default, **kw)

    @classmethod
    def graph(cls, default: Any = REQUIRED, **kw: Any) -> Attr:
        return cls("graph", default, **kw)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def coerce(self, value: Any, where: str) -> Any:
        """The canonical value for `value`, or AttrError naming `where` and the expectation."""
        if value is None:
            if self.optional or self.default is None:
                return None
            raise AttrError(f"{where}: expected {self.kind}, got None")
        try:
            result = _COERCE[self.kind](value)
        except (TypeError, ValueError, HybrixError):
            raise AttrError(f"{where}: expected {self.kind}, got {value!r}") from None
        if self.choices is not None and result not in self.choices:
            raise AttrError(f"{where}: expected one of {list(self.choices)}, got {value!r}")
        return result


def _as_int(value: Any) -> int:
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    raise TypeError(value)


def _as_float(value: Any) -> float:
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return float(value)
    raise TypeError(value)


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool | np.bool_) or (
        isinstance(value, int | np.integer) and value in (0, 1)
    ):
        return bool(value)
    raise TypeError(value)


def _as_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(value)


def _as_tuple(item: Callable[[Any], Any]) -> Callable[[Any], tuple[Any, ...]]:
    def convert(value: Any) -> tuple[Any, ...]:
        if isinstance(value, list | tuple | np.ndarray):
            return tuple(item(v) for v in value)
        return (item(value),)

    return convert


def _as_graph(value: Any) -> Any:
    from hybrix.ir.graph import Graph

    if isinstance(value, Graph):
        return value
    raise TypeError(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else _as_int(value)


_COERCE: dict[str, Callable[[Any], Any]] = {
    "int": _as_int,
    "float": _as_float,
    "bool": _as_bool,
    "str": _as_str,
    "ints": _as_tuple(_as_int),
    "floats": _as_tuple(_as_float),
    "opt_ints": _as_tuple(_opt_int),
    "dtype": DType.from_any,
    "graph": _as_graph,
}


@dataclass
class OpDef:
    """One operator: schema and facets. Registered by `defop`; looked up with `get_op`."""

    name: str
    inputs: list[str]
    outputs: list[str] | Callable[[Mapping[str, Any]], list[str]]
    attrs: dict[str, Attr]
    doc: str = ""
    aliases: tuple[str, ...] = ()
    inplace: dict[int, int] = field(default_factory=dict)
    nondiff_inputs: tuple[str, ...] = ()
    no_grad: str | None = None
    visible_outputs: int | Callable[[Mapping[str, Any]], int] | None = None
    aux_updates: dict[str, str] = field(default_factory=dict)
    aux_when: Callable[[Mapping[str, Any]], bool] | None = None
    rng: bool = False
    missing: dict[str, str] = field(default_factory=dict)
    infer_fn: Callable[..., Any] | None = None
    ref_fn: Callable[..., Any] | None = None
    lower_fn: Callable[..., Any] | None = None
    onnx_fn: Callable[..., Any] | None = None

    # -- facet decorators -----------------------------------------------------------
    def infer(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        self.infer_fn = fn
        return fn

    def ref(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        self.ref_fn = fn
        return fn

    def lower(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        self.lower_fn = fn
        return fn

    def onnx(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        self.onnx_fn = fn
        return fn

    # -- schema queries -------------------------------------------------------------
    @property
    def variadic(self) -> bool:
        return any(spec.startswith("*") for spec in self.inputs)

    @property
    def input_names(self) -> list[str]:
        return [spec.strip("*?") for spec in self.inputs]

    @property
    def min_inputs(self) -> int:
        # NOTE: a variadic input ("*data") needs at least one array, as MXNet's num_args >= 1
        return sum(1 for spec in self.inputs if not spec.endswith("?"))

    def check_arity(self, count: int, where: str) -> None:
        if self.variadic:
            ok = count >= self.min_inputs
        else:
            ok = self.min_inputs <= count <= len(self.inputs)
        if not ok:
            expected = f"{self.min_inputs}+" if self.variadic else self._arity_text()
            raise ShapeError(f"{where}: {self.name} takes {expected} inputs, got {count}")

    def _arity_text(self) -> str:
        if self.min_inputs == len(self.inputs):
            return str(len(self.inputs))
        return f"{self.min_inputs} to {len(self.inputs)}"

    def output_names(self, attrs: Mapping[str, Any]) -> list[str]:
        return list(self.outputs(attrs) if callable(self.outputs) else self.outputs)

    def updates_aux(self, attrs: Mapping[str, Any]) -> bool:
        """Whether this call changes the inputs named in aux_updates (else they pass through)."""
        if not self.aux_updates:
            return False
        return self.aux_when is None or self.aux_when(attrs)

    def num_visible_outputs(self, attrs: Mapping[str, Any]) -> int:
        if self.visible_outputs is None:
            return len(self.output_names(attrs))
        if callable(self.visible_outputs):
            return self.visible_outputs(attrs)
        return self.visible_outputs

    def check_attrs(self, attrs: Mapping[str, Any], where: str = "") -> dict[str, Any]:
        """Every attribute of the op, coerced to its kind, defaults filled in."""
        where = where or self.name
        unknown = sorted(set(attrs) - set(self.attrs))
        if unknown:
            raise AttrError(
                f"{where}: {self.name} has no attribute {', '.join(unknown)}; "
                f"expected some of {sorted(self.attrs)}"
            )
        result = {}
        for name, spec in self.attrs.items():
            if name in attrs:
                result[name] = spec.coerce(attrs[name], f"{where}: {self.name}.{name}")
            elif spec.required:
                raise AttrError(f"{where}: {self.name} needs attribute {name!r} ({spec.kind})")
            else:
                result[name] = spec.default
        return result

    def infer_types(
        self, input_types: Sequence[TensorType], attrs: Mapping[str, Any], where: str = ""
    ) -> list[TensorType]:
        """Output types for the given input types; errors name the node and the op."""
        where = where or self.name
        self.check_arity(len(input_types), where)
        if self.infer_fn is None:
            raise HybrixError(f"{where}: {self.name} has no type inference")
        try:
            result = self.infer_fn(*input_types, **attrs)
        except HybrixError as e:
            if str(e).startswith(f"{where}:"):
                raise
            raise type(e)(f"{where}: {self.name}: {e}") from None
        types = list(result) if isinstance(result, list | tuple) else [result]
        expected = len(self.output_names(attrs))
        if len(types) != expected:
            raise HybrixError(
                f"{where}: {self.name} inferred {len(types)} outputs, expected {expected}"
            )
        return types


_REGISTRY: dict[str, OpDef] = {}
_ALIASES: dict[str, str] = {}


def defop(
    name: str,
    *,
    inputs: Sequence[str],
    outputs: Sequence[str] | Callable[[Mapping[str, Any]], list[str]] = ("output",),
    attrs: Mapping[str, Attr] | None = None,
    infer: Callable[..., Any] | None = None,
    doc: str = "",
    aliases: Sequence[str] = (),
    **options: Any,
) -> OpDef:
    """Declare and register an operator. See the module docstring for the facets.

    options: inplace {output: input}, nondiff_inputs (names), no_grad (why the op has no
    gradient), visible_outputs (how many outputs MXNet shows), aux_updates {output: input}
    (outputs the frontend writes back into an input, as MXNet mutates aux states),
    rng (last input is a PRNG key the frontend supplies), no_onnx (why no ONNX form).
    """
    if name in _REGISTRY or name in _ALIASES:
        raise HybrixError(f"operator {name} is registered twice")
    missing = {}
    if "no_onnx" in options:
        missing["onnx"] = options.pop("no_onnx")
    op = OpDef(
        name=name,
        inputs=list(inputs),
        outputs=outputs if callable(outputs) else list(outputs),
        attrs=dict(attrs or {}),
        doc=doc,
        aliases=tuple(aliases),
        missing=missing,
        infer_fn=infer,
        **options,
    )
    _REGISTRY[name] = op
    for alias in aliases:
        if alias in _REGISTRY or alias in _ALIASES:
            raise HybrixError(f"alias {alias} of {name} is registered twice")
        _ALIASES[alias] = name
    return op


def get_op(name: str) -> OpDef:
    """The OpDef for a name or alias; UnknownOpError names close matches."""
    op = _REGISTRY.get(name) or _REGISTRY.get(_ALIASES.get(name, ""))
    if op is None:
        import difflib

        close = difflib.get_close_matches(name, list(_REGISTRY) + list(_ALIASES), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownOpError(f"unknown operator {name!r}{hint}")
    return op


def all_ops() -> list[OpDef]:
    return list(_REGISTRY.values())
