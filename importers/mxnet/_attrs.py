"""MXNet attribute strings <-> typed hybrix attributes, and which MXNet keys are not attributes.

MXNet stores every attribute as a string written by Python's str() ("(3, 3)", "True",
"None", "1e-05", "float32"); dmlc's parameter parser reads them back. Here they are parsed
once, by the kind of the op's Attr, and written back in the same spelling.
"""

from __future__ import annotations

import ast
from typing import Any

from hybrix.ir import AttrError, DType, OpDef

__all__ = ["HIDDEN_KEYS", "format_attr", "is_dropped_key", "parse_attr"]

# NOTE: kHiddenKeys of MXNet 1.9.1 (src/c_api/c_api_common.h); stored as `__key__` or, on old
# files, as `key` / `<input>_key` on the op node (src/nnvm/legacy_json_util.cc).
HIDDEN_KEYS = ("ctx_group", "lr_mult", "wd_mult", "force_mirroring", "mirror_stage")
HIDDEN_KEYS += ("profiler_scope",)

# MXNet attributes that tune a backend and do not change the result; hybrix ops that do not
# declare them drop them on import.
BACKEND_KEYS = frozenset({"cudnn_tune", "cudnn_off", "workspace", "cudnn_algo_verbose"})
BACKEND_KEYS |= {"cudnn_algo_fwd", "cudnn_algo_bwd_data", "cudnn_algo_bwd_filter"}
BACKEND_KEYS |= {"cudnn_tensor_core", "cudnn_tensor_core_only", "ctx"}

_DTYPE_FLAGS = {str(d.mxnet_flag): d for d in DType}


def is_dropped_key(key: str) -> bool:
    """A key that is metadata (hidden `__x__` keys, lr_mult...) rather than an op attribute."""
    if key.startswith("__") and key.endswith("__"):
        return True
    return any(key == k or key.endswith("_" + k) for k in HIDDEN_KEYS)


def parse_attr(opdef: OpDef, key: str, text: Any, where: str) -> Any:
    """The typed value of MXNet's string `text` for attribute `key` of `opdef`."""
    spec = opdef.attrs[key]
    if not isinstance(text, str):  # a dict built by hand may hold typed values already
        return spec.coerce(text, f"{where}: {opdef.name}.{key}")
    stripped = text.strip()
    if stripped in ("None", "") and (spec.optional or spec.default is None):
        return None
    try:
        value = _PARSERS[spec.kind](stripped)
    except (ValueError, SyntaxError, TypeError, KeyError):
        raise AttrError(
            f"{where}: {opdef.name}.{key} = {text!r} is not a valid {spec.kind}"
        ) from None
    return spec.coerce(value, f"{where}: {opdef.name}.{key}")


def _literal(text: str) -> Any:
    # NOTE: files written by Python 2 MXNet spell longs as "(3L, 3L)".
    return ast.literal_eval(text.replace("L,", ",").replace("L)", ")"))


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise ValueError(text)


def _parse_int(text: str) -> int:
    value = _literal(text)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(text)
    return value


def _parse_float(text: str) -> float:
    return float(text)  # also reads "inf", "-inf", "nan", "1e-05"


def _parse_tuple(text: str) -> tuple:
    value = _literal(text)
    if isinstance(value, list | tuple):
        return tuple(value)
    return (value,)


def _parse_dtype(text: str) -> DType:
    if text in _DTYPE_FLAGS:
        return _DTYPE_FLAGS[text]
    return DType.from_any(text)


def _parse_str(text: str) -> str:
    return text


def _no_graph(text: str) -> Any:
    raise ValueError("subgraph attributes are not read from MXNet JSON")


_PARSERS = {
    "int": _parse_int,
    "float": _parse_float,
    "bool": _parse_bool,
    "str": _parse_str,
    "ints": _parse_tuple,
    "floats": _parse_tuple,
    "opt_ints": _parse_tuple,
    "dtype": _parse_dtype,
    "graph": _no_graph,
}


def format_attr(value: Any, where: str) -> str:
    """MXNet's string for a typed attribute value (what Python's str() wrote)."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, DType):
        return value.name
    if isinstance(value, int | float | str):
        return str(value)
    if isinstance(value, tuple | list):
        return str(tuple(value))
    raise AttrError(f"{where}: attribute value {value!r} has no MXNet spelling")
