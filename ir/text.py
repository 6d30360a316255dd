"""The IR's text form: `print_graph(graph)` writes it and `parse(text)` reads it back.

    graph mlp(%x: f32[N,4], %w: f32[8,4], %b: f32[8]) {
      const %scale: f32[2] = [0.5, 2.0]
      %h = FullyConnected(%x, %w, %b) {num_hidden=8} : f32[N,8]
      %a, %c = split(%h) {num_outputs=2} : f32[N,4], f32[N,4]
      return %a, %c
    }

Attributes equal to the schema default are not printed; parsing fills them in again. A
constant's values are listed flat in C order (floats in the shortest form that reads back
bit-exact; a NaN other than the default one as its bits, `0x7fc00001`); constants with
more than `elide_above` elements print as `...` with a summary comment, and `parse` then
takes their data from its `constants` argument. The `: types` of a node may be left out
when writing IR by hand; parse then infers them. `#` starts a comment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, NoReturn

import numpy as np

from hybrix.ir.compare import same_attr_value
from hybrix.ir.dtypes import DType
from hybrix.ir.errors import HybrixError
from hybrix.ir.graph import Graph, Node, Value
from hybrix.ir.ops import Attr, OpDef, get_op
from hybrix.ir.types import Dim, TensorType

__all__ = ["ParseError", "parse", "print_graph"]

ELIDE_ABOVE = 16
_BARE_NAME = re.compile(r"[A-Za-z0-9_.$\-]+")


class ParseError(HybrixError, ValueError):
    """Text that is not valid IR; `line` and `column` (1-based) say where."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.line = line
        self.column = column


# -- printing ---------------------------------------------------------------------------------
def print_graph(graph: Graph, elide_above: int = ELIDE_ABOVE) -> str:
    """The text form of a graph; constants above `elide_above` elements print as `...`."""
    return "\n".join(_graph_lines(graph, "", elide_above)) + "\n"


def _graph_lines(graph: Graph, indent: str, elide_above: int) -> list[str]:
    """The graph's lines; the first has no indent so it can follow `name=` in attrs."""
    inner = indent + "  "
    params = ", ".join(f"{_ref(v)}: {v.type}" for v in graph.inputs)
    lines = [f"graph {_name(graph.name)}({params}) {{"]
    for value in graph.constants:
        lines.append(f"{inner}const {_ref(value)}: {value.type} = {_data(value, elide_above)}")
    for node in graph.nodes:
        lines.append(inner + _node_text(node, inner, elide_above))
    returned = ", ".join(_ref(v) for v in graph.outputs)
    lines.append(f"{inner}return {returned}".rstrip())
    lines.append(f"{indent}}}")
    return lines


def _node_text(node: Node, indent: str, elide_above: int) -> str:
    outputs = ", ".join(_ref(v) for v in node.outputs)
    inputs = ", ".join(_ref(v) for v in node.inputs)
    attrs = _attrs_text(node, indent, elide_above)
    types = ", ".join(str(v.type) for v in node.outputs)
    return f"{outputs} = {node.op}({inputs}){attrs} : {types}"


def _attrs_text(node: Node, indent: str, elide_above: int) -> str:
    specs = _schema_attrs(node.op)
    names = [n for n in specs if n in node.attrs] + [n for n in node.attrs if n not in specs]
    shown = []
    for name in names:
        value, spec = node.attrs[name], specs.get(name)
        if spec is not None and not spec.required and same_attr_value(value, spec.default):
            continue
        shown.append(f"{name}={_literal(value, indent, elide_above)}")
    return f" {{{', '.join(shown)}}}" if shown else ""


def _schema_attrs(op: str) -> dict[str, Attr]:
    try:
        return get_op(op).attrs
    except HybrixError:
        return {}


def _literal(value: Any, indent: str, elide_above: int) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, DType):
        return value.short
    if isinstance(value, Graph):
        return "\n".join(_graph_lines(value, indent + "  ", elide_above))
    if isinstance(value, list | tuple):
        return "[" + ",".join(_literal(item, indent, elide_above) for item in value) + "]"
    return repr(value)


def _name(name: str) -> str:
    return name if _BARE_NAME.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def _ref(value: Value) -> str:
    return "%" + _name(value.name)


def _data(value: Value, elide_above: int) -> str:
    array = np.asarray(value.const)
    if array.size > elide_above:
        return f"...  # {_summary(array)}"
    return "[" + ", ".join(_element_texts(array.reshape(-1))) + "]"


def _summary(array: np.ndarray) -> str:
    if array.dtype.kind == "b":
        return f"{array.size} values, {int(np.count_nonzero(array))} true"
    values = array.astype(np.float64)
    return f"{array.size} values in [{values.min():.6g}, {values.max():.6g}]"


def _element_texts(flat: np.ndarray) -> list[str]:
    if flat.dtype.kind == "b":
        return ["true" if item else "false" for item in flat]
    if flat.dtype.kind in "iu":
        return [str(int(item)) for item in flat]
    texts = [str(item) for item in flat]
    bits = flat.view(f"u{flat.dtype.itemsize}")
    back = _floats_from_texts(texts, flat.dtype).view(bits.dtype)
    for i in np.flatnonzero(back != bits):
        # NOTE: exact in float64 for every narrower float; NaNs keep their payload as bits.
        is_nan = np.isnan(flat[i].astype(np.float64))
        texts[i] = hex(int(bits[i])) if is_nan else repr(float(flat[i]))
    return texts


def _floats_from_texts(texts: list[str], dtype: np.dtype) -> np.ndarray:
    return np.array([float(text) for text in texts], np.float64).astype(dtype)


# -- parsing ----------------------------------------------------------------------------------
def parse(text: str, constants: Mapping[str, Any] | None = None) -> Graph:
    """The Graph written in `text`; `constants` supplies the data of elided (`...`) constants."""
    parser = _Parser(text, dict(constants or {}))
    graph = parser.graph(())
    parser.end()
    return graph


class _Ident(str):
    """A bare identifier in an attribute value (only dtype attributes take one)."""


_NUMBER = re.compile(r"-?(?:0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf\b|nan\b)")
_INT = re.compile(r"-?\d+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_SPACE = re.compile(r"(?:\s|#[^\n]*)*")
_Scopes = tuple[dict[str, Value], ...]


class _Parser:
    """A recursive-descent reader over the text; `pos` is the offset of the next character."""

    def __init__(self, text: str, constants: dict[str, Any]) -> None:
        self.text = text
        self.pos = 0
        self.constants = constants

    # -- grammar ----------------------------------------------------------------------------
    def graph(self, outer: _Scopes) -> Graph:
        self.keyword("graph")
        self.skip()
        graph = Graph(self.name("a graph name"))
        scopes: _Scopes = ({}, *outer)
        self.expect("(")
        while not self.accept(")"):
            if graph.inputs:
                self.expect(",")
            start = self.here()
            name = self.value_name()
            self.expect(":")
            self.define(scopes, graph.add_input(self.claim(scopes, name, start), self.type()))
        self.expect("{")
        while self.peek_word("const"):
            self.constant(graph, scopes)
        while not self.peek_word("return"):
            graph.append(self.node(scopes))
        self.keyword("return")
        if not self.peek("}"):
            graph.outputs = [self.reference(scopes)]
            while self.accept(","):
                graph.outputs.append(self.reference(scopes))
        self.expect("}")
        return graph

    def constant(self, graph: Graph, scopes: _Scopes) -> None:
        self.keyword("const")
        start = self.here()
        name = self.value_name()
        self.expect(":")
        type_start = self.here()
        type = self.type()
        self.expect("=")
        if self.accept("..."):
            if name not in self.constants:
                message = f"constant %{name} is elided; pass its data in parse(constants=...)"
                self.fail(message, start)
            array = np.asarray(self.constants[name])
        else:
            array = self.array(type, type_start)
        found = TensorType(DType.from_any(array.dtype), tuple(array.shape))
        if found != type:
            self.fail(f"constant %{name} is declared {type}, its data is {found}", type_start)
        self.define(scopes, graph.add_constant(self.claim(scopes, name, start), array))

    def node(self, scopes: _Scopes) -> Node:
        start = self.here()
        names = [(start, self.value_name())]
        while self.accept(","):
            names.append((self.here(), self.value_name()))
        self.expect("=")
        op_start = self.here()
        op = self.match(_IDENT, "an op name")
        opdef = self.opdef(op, op_start)
        self.expect("(")
        inputs: list[Value] = []
        while not self.accept(")"):
            if inputs:
                self.expect(",")
            inputs.append(self.reference(scopes))
        attrs = self.attrs(opdef, names[0][1], scopes)
        types = self.output_types(opdef, inputs, attrs, names[0][1], start)
        if len(types) != len(names):
            self.fail(f"{op} gives {len(types)} outputs; {len(names)} names are bound", start)
        outputs = []
        for (position, name), type in zip(names, types, strict=True):
            outputs.append(Value(self.claim(scopes, name, position), type))
            self.define(scopes, outputs[-1])
        return Node(op, inputs, outputs, attrs, names[0][1])

    def opdef(self, op: str, start: int) -> OpDef:
        try:
            return get_op(op)
        except HybrixError as e:
            self.fail(str(e), start)

    def attrs(self, opdef: OpDef, node: str, scopes: _Scopes) -> dict[str, Any]:
        start, given = self.pos, dict[str, Any]()
        if self.accept("{"):
            start = self.pos - 1
            while not self.accept("}"):
                if given:
                    self.expect(",")
                name_start = self.here()
                name = self.match(_IDENT, "an attribute name")
                self.expect("=")
                value = self.literal(scopes)
                spec = opdef.attrs.get(name)
                if isinstance(value, _Ident) and (spec is None or spec.kind != "dtype"):
                    kind = spec.kind if spec else "a literal"
                    self.fail(f"{opdef.name}.{name}: expected {kind}, found {value}", name_start)
                if name in given:
                    self.fail(f"attribute {name} is given twice", name_start)
                given[name] = str(value) if isinstance(value, _Ident) else value
        try:
            return opdef.check_attrs(given, f"node {node}")
        except HybrixError as e:
            self.fail(str(e), start)

    def output_types(
        self, opdef: OpDef, inputs: list[Value], attrs: dict[str, Any], node: str, start: int
    ) -> list[TensorType]:
        if self.accept(":"):
            types = [self.type()]
            while self.accept(","):
                types.append(self.type())
            return types
        try:
            return opdef.infer_types([v.type for v in inputs], attrs, f"node {node}")
        except HybrixError as e:
            self.fail(str(e), start)

    def literal(self, scopes: _Scopes) -> Any:
        self.skip()
        if self.peek("["):
            self.expect("[")
            items: list[Any] = []
            while not self.accept("]"):
                if items:
                    self.expect(",")
                items.append(self.literal(scopes))
            return items
        if self.peek('"'):
            return self.string("a string")
        if self.peek_word("graph"):
            return self.graph(scopes)
        number = _NUMBER.match(self.text, self.pos)
        if number:
            self.pos = number.end()
            return _number(number.group())
        word = self.match(_IDENT, "a value (number, string, true, false, none, [..], graph)")
        return {"true": True, "false": False, "none": None}.get(word, _Ident(word))

    def array(self, type: TensorType, start: int) -> np.ndarray:
        if not type.is_static:
            self.fail(f"a constant needs a static shape, found {type}", start)
        self.expect("[")
        items: list[Any] = []
        while not self.accept("]"):
            if items:
                self.expect(",")
            self.skip()
            number = _NUMBER.match(self.text, self.pos)
            if number:
                self.pos = number.end()
                items.append(number.group())
            else:
                items.append(self.match(re.compile(r"true|false"), "a number, true or false"))
        try:
            return _array_from_texts(items, type)
        except (ValueError, OverflowError, HybrixError) as e:
            self.fail(f"bad data for a constant of type {type}: {e}", start)

    def type(self) -> TensorType:
        start = self.here()
        word = self.match(re.compile(r"[A-Za-z0-9]+"), "a dtype (f32, i64, ...)")
        try:
            dtype = DType.from_any(word)
        except HybrixError:
            self.fail(f"expected a dtype (f32, i64, ...), found {word!r}", start)
        self.expect("[")
        close = self._closing_bracket()
        body = self.text[self.pos : close]
        self.pos = close + 1
        try:
            return TensorType(dtype, _dims(body))
        except HybrixError as e:
            self.fail(str(e), start)

    def _closing_bracket(self) -> int:
        depth = 0
        for i in range(self.pos, len(self.text)):
            char = self.text[i]
            if char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
            elif char == "]" and depth == 0:
                return i
            elif char in "\n{}":
                break
        self.fail("expected ']' closing the shape", self.pos)

    # -- names and scopes -------------------------------------------------------------------
    def value_name(self) -> str:
        self.expect("%")
        return self.name("a value name")

    def name(self, what: str) -> str:
        if self.text.startswith('"', self.pos):
            return self.string(what)
        return self.match(_BARE_NAME, what, skip=False)

    def string(self, what: str) -> str:
        start = self.here()
        try:
            return str(json.loads(self.match(_STRING, what)))
        except ValueError as e:
            self.fail(f"bad string literal: {e}", start)

    def reference(self, scopes: _Scopes) -> Value:
        start = self.here()
        name = self.value_name()
        for scope in scopes:
            if name in scope:
                return scope[name]
        self.fail(f"%{name} is not defined before its use", start)

    def claim(self, scopes: _Scopes, name: str, start: int) -> str:
        if name in scopes[0]:
            self.fail(f"value %{name} is defined twice", start)
        return name

    def define(self, scopes: _Scopes, value: Value) -> None:
        scopes[0][value.name] = value

    # -- characters -------------------------------------------------------------------------
    def skip(self) -> None:
        self.pos = _SPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]

    def peek(self, literal: str) -> bool:
        self.skip()
        return self.text.startswith(literal, self.pos)

    def peek_word(self, word: str) -> bool:
        self.skip()
        found = _IDENT.match(self.text, self.pos)
        return found is not None and found.group() == word

    def accept(self, literal: str) -> bool:
        if self.peek(literal):
            self.pos += len(literal)
            return True
        return False

    def expect(self, literal: str) -> None:
        if not self.accept(literal):
            self.fail(f"expected '{literal}', found {self.found()}", self.pos)

    def keyword(self, word: str) -> None:
        if not self.peek_word(word):
            self.fail(f"expected '{word}', found {self.found()}", self.pos)
        self.pos += len(word)

    def match(self, pattern: re.Pattern[str], what: str, skip: bool = True) -> str:
        if skip:
            self.skip()
        found = pattern.match(self.text, self.pos)
        if found is None or not found.group():
            self.fail(f"expected {what}, found {self.found()}", self.pos)
        self.pos = found.end()
        return found.group()

    def end(self) -> None:
        self.skip()
        if self.pos < len(self.text):
            self.fail(f"expected the end of the text, found {self.found()}", self.pos)

    def found(self) -> str:
        if self.pos >= len(self.text):
            return "the end of the text"
        rest = self.text[self.pos :].split("\n", 1)[0]
        return repr(rest[:20]) if rest else "the end of the line"

    def here(self) -> int:
        self.skip()
        return self.pos

    def fail(self, message: str, position: int) -> NoReturn:
        line = self.text.count("\n", 0, position) + 1
        column = position - (self.text.rfind("\n", 0, position) + 1) + 1
        raise ParseError(message, line, column)


def _number(text: str) -> int | float:
    if text.lstrip("-").startswith("0x"):
        return int(text, 16)
    return int(text) if _INT.fullmatch(text) else float(text)


def _dims(body: str) -> tuple[Dim, ...]:
    if not body.strip():
        return ()
    parts, depth, start = [], 0, 0
    for i, char in enumerate(body):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    dims: list[Dim] = []
    for part in (p.strip() for p in parts):
        if not part:
            raise HybrixError(f"empty dimension in shape [{body}]")
        dims.append(int(part) if part.isascii() and part.isdigit() else part)
    return tuple(dims)


def _array_from_texts(items: list[str], type: TensorType) -> np.ndarray:
    dtype = type.dtype.numpy
    shape = tuple(int(d) for d in type.shape)
    count = int(np.prod(shape, dtype=np.int64))
    if len(items) != count:
        raise HybrixError(f"{len(items)} values, expected {count}")
    if type.dtype is DType.bool:
        return np.array([item == "true" for item in items], bool).reshape(shape)
    if not type.dtype.is_float:
        return np.array([int(item, 0) for item in items], dtype).reshape(shape)
    is_bits = [item.lstrip("-").startswith("0x") for item in items]
    values = [0.0 if bits else float(item) for item, bits in zip(items, is_bits, strict=True)]
    array = np.array(values, np.float64).astype(dtype)
    raw = array.view(f"u{dtype.itemsize}")
    for i in np.flatnonzero(is_bits):
        raw[i] = int(items[i], 16)
    return array.reshape(shape)
