"""Read an MXNet -symbol.json of any version into plain node records, upgraded to 1.9.1.

Layout (nnvm saveload_json.cc): {nodes, arg_nodes, node_row_ptr?, heads, attrs?}; a node is
{op, name, attrs | attr | param, inputs: [[node, output, version?]], control_deps?}. Files
before 0.9 store attributes under `param`/`attr` and leave out aux-state variables;
src/nnvm/legacy_json_util.cc upgrades them by `attrs.mxnet_version`, as done here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybrix.importers.mxnet._attrs import HIDDEN_KEYS
from hybrix.ir import ModelFormatError, UnknownOpError, get_op

__all__ = ["CURRENT_VERSION", "RawNode", "RawSymbol", "read_symbol"]

CURRENT_VERSION = 10901
LEGACY_VERSION = 800  # a file without mxnet_version was written by MXNet 0.8


@dataclass
class RawNode:
    """One JSON node: op ("null" for a variable), name, string attributes, input entries."""

    op: str
    name: str
    attrs: dict[str, Any]
    inputs: list[tuple[int, int, int]]
    index: int = 0

    @property
    def is_variable(self) -> bool:
        return self.op == "null"


@dataclass
class RawSymbol:
    nodes: list[RawNode]
    heads: list[tuple[int, int, int]]
    version: int
    source: str
    extra_attrs: dict[str, Any] = field(default_factory=dict)


def read_symbol(source: str | os.PathLike | Mapping[str, Any]) -> RawSymbol:
    """Parse and upgrade a symbol given as a path, a JSON string or the decoded dict."""
    data, where = _decode(source)
    nodes = [_read_node(item, i, where) for i, item in enumerate(_field(data, "nodes", where))]
    heads = [_entry(e, len(nodes), f"{where}: heads") for e in _field(data, "heads", where)]
    for node in nodes:
        node.inputs = [_entry(e, node.index, f"{where}: node {node.name}") for e in node.inputs]
    attrs = data.get("attrs") or {}
    symbol = RawSymbol(nodes, heads, _version(attrs, where), where)
    symbol.extra_attrs = {k: v for k, v in attrs.items() if k != "mxnet_version"}
    _upgrade(symbol)
    return symbol


def _decode(source: str | os.PathLike | Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    if isinstance(source, Mapping):
        return dict(source), "<symbol dict>"
    text, where = str(source), "<symbol string>"
    if not text.lstrip().startswith("{"):
        path = Path(source)
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise ModelFormatError(f"{where}: cannot read ({e.strerror})") from None
        except UnicodeDecodeError:
            raise ModelFormatError(f"{where}: not an MXNet symbol JSON (not UTF-8 text)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelFormatError(f"{where}: not an MXNet symbol JSON ({e})") from None
    if not isinstance(data, dict):
        raise ModelFormatError(f"{where}: not an MXNet symbol JSON (top level is not an object)")
    return data, where


def _field(data: dict[str, Any], key: str, where: str) -> list:
    if not isinstance(data.get(key), list):
        raise ModelFormatError(
            f"{where}: not an MXNet symbol JSON: expected keys nodes, arg_nodes, heads "
            f"(found {sorted(data)[:8]})"
        )
    return data[key]


def _read_node(item: Any, index: int, where: str) -> RawNode:
    if not isinstance(item, dict) or "op" not in item or "name" not in item:
        raise ModelFormatError(f"{where}: node {index} is not an MXNet node {{op, name, inputs}}")
    attrs: dict[str, Any] = {}
    for key in ("param", "attr", "attrs"):  # NOTE: nnvm merges all three; `param` wins
        value = item.get(key) or {}
        if not isinstance(value, dict):
            raise ModelFormatError(f"{where}: node {item['name']}: `{key}` is not an object")
        attrs.update(value)
    if item.get("subgraphs"):
        raise ModelFormatError(
            f"{where}: node {item['name']} ({item['op']}) holds subgraphs; MXNet control-flow "
            "ops (_foreach, _while_loop, _cond) are not imported"
        )
    inputs = item.get("inputs", [])
    if not isinstance(inputs, list):
        raise ModelFormatError(f"{where}: node {item['name']}: `inputs` is not a list")
    return RawNode(str(item["op"]), str(item["name"]), attrs, inputs, index)


def _entry(entry: Any, limit: int, where: str) -> tuple[int, int, int]:
    """[node, output] or [node, output, version]; the node must come before `limit`."""
    ok = isinstance(entry, list) and len(entry) in (2, 3)
    ok = ok and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in entry)
    if not ok:
        raise ModelFormatError(f"{where}: input entry {entry!r} is not [node, output, version]")
    if entry[0] >= limit:
        raise ModelFormatError(
            f"{where}: input entry {entry!r} refers to node {entry[0]}, which does not come "
            "before it (nodes must be in topological order)"
        )
    return entry[0], entry[1], entry[2] if len(entry) == 3 else 0


def _version(attrs: Any, where: str) -> int:
    value = attrs.get("mxnet_version") if isinstance(attrs, dict) else None
    if value is None:
        return LEGACY_VERSION
    if isinstance(value, list) and len(value) == 2 and isinstance(value[1], int):
        return value[1]
    if isinstance(value, int):
        return value
    raise ModelFormatError(f"{where}: attrs.mxnet_version is {value!r}, expected ['int', N]")


# -- upgrades (src/nnvm/legacy_json_util.cc) ---------------------------------------------
def _upgrade(symbol: RawSymbol) -> None:
    if symbol.version < CURRENT_VERSION:
        _move_hidden_keys(symbol)
    if symbol.version < 900:
        _add_missing_aux_variables(symbol)
    if symbol.version < 905:
        _argmax_axis_minus_one(symbol)


def _move_hidden_keys(symbol: RawSymbol) -> None:
    """`lr_mult` -> `__lr_mult__`; `weight_lr_mult` on an op -> `__lr_mult__` on its weight."""
    for node in symbol.nodes:
        for key in list(node.attrs):
            for hidden in HIDDEN_KEYS:
                if key == hidden:
                    node.attrs[f"__{hidden}__"] = node.attrs.pop(key)
                elif key.endswith("_" + hidden) and not node.is_variable:
                    _move_to_input(symbol, node, key, key[: -len(hidden) - 1], hidden)


def _move_to_input(symbol: RawSymbol, node: RawNode, key: str, arg: str, hidden: str) -> None:
    try:
        names = get_op(node.op).input_names
    except UnknownOpError:
        return  # the unknown op is reported when the graph is built
    if arg in names and names.index(arg) < len(node.inputs):
        source = symbol.nodes[node.inputs[names.index(arg)][0]]
        if source.is_variable:
            source.attrs[f"__{hidden}__"] = node.attrs.pop(key)


def _add_missing_aux_variables(symbol: RawSymbol) -> None:
    """Before 0.9 aux states (BatchNorm's moving_mean/var) were not in the file: add them."""
    added: list[RawNode] = []
    for node in list(symbol.nodes):
        if node.is_variable:
            continue
        try:
            opdef = get_op(node.op)
        except UnknownOpError:
            continue
        names = opdef.input_names
        for position in range(len(node.inputs), opdef.min_inputs):
            name = f"{node.name}_{names[position]}" if node.name else names[position]
            variable = RawNode("null", name, {}, [], -1)
            added.append(variable)
            node.inputs.append((-len(added), 0, 0))  # resolved by _renumber below
    if added:
        _renumber(symbol, added)


def _renumber(symbol: RawSymbol, added: list[RawNode]) -> None:
    """Put the added variables first (they have no inputs) and shift every index."""
    shift = len(added)
    for node in symbol.nodes:
        node.inputs = [
            (-n - 1 if n < 0 else n + shift, output, version) for n, output, version in node.inputs
        ]
    symbol.heads = [(n + shift, output, version) for n, output, version in symbol.heads]
    symbol.nodes = added + symbol.nodes
    for index, node in enumerate(symbol.nodes):
        node.index = index


def _argmax_axis_minus_one(symbol: RawSymbol) -> None:
    """Before 0.9.5 argmax/argmin's axis=-1 meant "over all elements" (now axis=None)."""
    for node in symbol.nodes:
        if node.op in ("argmax", "argmin") and str(node.attrs.get("axis")) == "-1":
            del node.attrs["axis"]
