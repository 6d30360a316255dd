"""The text form: golden output, print -> parse round trips, constants, parse errors."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix.ir import DType, Graph, ParseError, parse, print_graph, structurally_equal, verify
from hybrix.tests.ir._graphs import diamond, f32, mlp

MLP_TEXT = """\
graph mlp(%x: f32[N,4], %w: f32[8,4], %b: f32[8]) {
  %h = FullyConnected(%x, %w, %b) {num_hidden=8} : f32[N,8]
  %y = Activation(%h) {act_type="relu"} : f32[N,8]
  return %y
}
"""


def round_trip(graph: Graph, **constants) -> Graph:
    parsed = parse(print_graph(graph), constants=constants)
    verify(parsed)
    assert structurally_equal(parsed, graph)
    assert print_graph(parsed) == print_graph(graph)
    return parsed


def test_golden_mlp():
    assert str(mlp()) == MLP_TEXT


def test_mlp_parses_back_with_its_names():
    graph = round_trip(mlp())
    assert graph.name == "mlp"
    assert [v.name for v in graph.values()] == ["x", "w", "b", "h", "y"]
    assert [n.name for n in graph.nodes] == ["h", "y"]
    assert graph.nodes[0].attrs == mlp().nodes[0].attrs  # defaults filled in


def test_multiple_outputs_and_shared_inputs():
    text = print_graph(diamond())
    assert "%p, %p_1 = split(%s) {num_outputs=2} : f32[2,3], f32[2,3]" in text
    assert "return %p, %p_1, %s" in text
    graph = round_trip(diamond())
    assert [(n.name, i) for n, i in graph.inputs[0].uses] == [("a", 0), ("b", 0)]


def test_attributes_of_every_literal_kind():
    graph = Graph("attrs")
    x = graph.add_input("x", f32(1, 1, 5, "W"))
    w = graph.add_input("w", f32(2, 1, 3, 3))
    attrs = {"kernel": (3, 3), "num_filter": 2, "no_bias": True, "pad": (1, 1)}
    conv = graph.add_node("Convolution", [x, w], attrs)
    sliced = graph.add_node("slice", conv.outputs, {"begin": (None, -1), "end": (None, None)})
    clipped = graph.add_node("clip", sliced.outputs, {"a_min": -0.5, "a_max": 1.5e-3})
    cast = graph.add_node("Cast", clipped.outputs, {"dtype": "float16"})
    graph.outputs = cast.outputs
    text = print_graph(graph)
    assert "{kernel=[3,3], pad=[1,1], num_filter=2, no_bias=true}" in text
    assert "{begin=[none,-1], end=[none,none]}" in text
    assert "{a_min=-0.5, a_max=0.0015}" in text
    assert "= Cast(%clip2) {dtype=f16} : f16[1,1,5,W]" in text
    round_trip(graph)


def test_names_that_need_quoting():
    graph = Graph("my graph")
    x = graph.add_input("input.1", f32(3))
    y = graph.add_node("relu", [x], output_names=["/layer/Relu output:0"]).outputs[0]
    graph.outputs = [y]
    text = print_graph(graph)
    assert text.startswith('graph "my graph"(%input.1: f32[3]) {')
    assert '%"/layer/Relu output:0" = relu(%input.1)' in text
    round_trip(graph)


def test_opaque_symbolic_dimensions():
    graph = Graph("g")
    x = graph.add_input("x", f32("(N+1)*(T)", "2*N", 3))
    graph.outputs = [graph.add_node("relu", [x]).outputs[0]]
    assert "f32[(N+1)*(T),2*N,3]" in print_graph(graph)
    assert round_trip(graph).inputs[0].type == f32("(N+1)*(T)", "2*N", 3)


def test_scalars_and_empty_graphs():
    graph = Graph("g")
    x = graph.add_input("x", f32())
    graph.outputs = [x]
    assert print_graph(graph) == "graph g(%x: f32[]) {\n  return %x\n}\n"
    round_trip(graph)
    nothing = parse("graph empty() {\n  return\n}\n")
    assert nothing.inputs == []
    assert nothing.outputs == []


# -- constants --------------------------------------------------------------------------------
SPECIAL = [0.1, -0.0, np.inf, -np.inf, np.nan, 1e-30, 65504.0, 3.0]


@pytest.mark.parametrize("dtype", list(DType), ids=lambda d: d.name)
def test_small_constants_round_trip_bit_exact(dtype, rng):
    if dtype.is_float:
        data = np.array(SPECIAL + list(rng.standard_normal(4))).astype(dtype.numpy)
        data = data.reshape(3, 4)
    elif dtype is DType.bool:
        data = np.array([[True, False], [False, True]])
    else:
        info = np.iinfo(dtype.numpy)
        data = np.array([info.min, info.max, 0, 1], dtype.numpy)
    graph = Graph("c")
    graph.outputs = [graph.add_constant("c", data), graph.add_constant("e", data[:0])]
    parsed = round_trip(graph)
    assert parsed.constants[0].const.tobytes() == data.tobytes()
    assert parsed.constants[0].const.dtype == data.dtype


def test_nan_payloads_are_kept_as_bits():
    data = np.array([0x7FC00001, 0xFFC00000, 0x7FC00000], np.uint32).view(np.float32)
    graph = Graph("c")
    graph.outputs = [graph.add_constant("c", data)]
    text = print_graph(graph)
    assert "= [0x7fc00001, 0xffc00000, nan]" in text
    assert parse(text).constants[0].const.tobytes() == data.tobytes()


def test_constants_print_in_order_before_nodes():
    graph = Graph("c")
    x = graph.add_input("x", f32(2))
    c = graph.add_constant("c", np.array([1.5, -2.0], np.float32))
    graph.outputs = [graph.add_node("elemwise_add", [x, c], name="y").outputs[0]]
    assert print_graph(graph) == (
        "graph c(%x: f32[2]) {\n"
        "  const %c: f32[2] = [1.5, -2.0]\n"
        "  %y = elemwise_add(%x, %c) : f32[2]\n"
        "  return %y\n"
        "}\n"
    )


def big_constant_graph() -> tuple[Graph, np.ndarray]:
    graph = Graph("big")
    data = np.arange(32, dtype=np.float32).reshape(8, 4)
    graph.outputs = [graph.add_constant("w", data)]
    return graph, data


def test_large_constants_are_elided_with_a_summary():
    graph, data = big_constant_graph()
    text = print_graph(graph)
    assert "const %w: f32[8,4] = ...  # 32 values in [0, 31]" in text
    parsed = parse(text, constants={"w": data})
    assert structurally_equal(parsed, graph)
    with pytest.raises(ParseError, match=r"line 2, column 9: constant %w is elided"):
        parse(text)
    with pytest.raises(ParseError, match=r"declared f32\[8,4\], its data is f64\[8,4\]"):
        parse(text, constants={"w": data.astype(np.float64)})


def test_elide_above_is_the_printers_choice():
    graph, _ = big_constant_graph()
    text = print_graph(graph, elide_above=100)
    assert "= [0.0, 1.0, 2.0," in text
    assert structurally_equal(parse(text), graph)
    assert "= ..." in print_graph(graph, elide_above=0)


# -- writing IR by hand -----------------------------------------------------------------------
def test_hand_written_ir_may_leave_out_types_and_use_comments():
    text = """
    # a comment
    graph mlp(%x: f32[N,4], %w: f32[8,4], %b: f32[8]) {
      %h = FullyConnected(%x, %w, %b) {num_hidden=8}   # types inferred
      %y = Activation(%h) {act_type="relu"}
      return %y
    }
    """
    graph = parse(text)
    verify(graph)
    assert structurally_equal(graph, mlp())


def test_defaults_may_be_written_out():
    text = MLP_TEXT.replace("{num_hidden=8}", "{num_hidden=8, no_bias=false, flatten=true}")
    assert structurally_equal(parse(text), mlp())


def test_dtype_attributes_accept_long_names():
    graph = parse("graph g(%x: f32[2]) {\n  %y = Cast(%x) {dtype=float64}\n  return %y\n}")
    assert graph.nodes[0].attrs["dtype"] is DType.float64
    assert graph.outputs[0].type == graph.outputs[0].type.with_dtype(DType.float64)


# -- errors -----------------------------------------------------------------------------------
BAD = [
    ("graph g(%x: f32[2]) {\n  %y = NoSuchOp(%x)\n  return %y\n}", 2, 8, "unknown operator"),
    ("graph g(%x: f32[2]) {\n  %y = relu(%z)\n  return %y\n}", 2, 13, "%z is not defined"),
    ("graph g(%x: f32[2]) {\n  %y = relu(%x\n  return %y\n}", 3, 3, "expected ','"),
    ("graph g(%x: q32[2]) {\n  return %x\n}", 1, 13, "expected a dtype"),
    ("graph g(%x: f32[2) {\n  return %x\n}", 1, 17, "expected ']'"),
    ("graph g(%x: f32[2], %x: f32[2]) {\n  return %x\n}", 1, 21, "%x is defined twice"),
    ("graph g(%x: f32[2]) {\n  %x = relu(%x)\n  return %x\n}", 2, 3, "%x is defined twice"),
    ("graph g(%x: f32[2]) {\n  %y = Activation(%x)\n  return %y\n}", 2, 22, "needs attribute"),
    (
        "graph g(%x: f32[2]) {\n  %y = Activation(%x) {act_type=relu}\n  return %y\n}",
        2,
        24,
        "expected str, found relu",
    ),
    (
        "graph g(%x: f32[2]) {\n  %y = Activation(%x) {act_type=3}\n  return %y\n}",
        2,
        23,
        "expected str, got 3",
    ),
    (
        'graph g(%x: f32[2]) {\n  %y = Activation(%x) {act="relu"}\n  return %y\n}',
        2,
        23,
        "has no attribute act",
    ),
    (
        "graph g(%x: f32[2]) {\n  %y = relu(%x) : f32[3]\n  return %y\n}\nextra",
        5,
        1,
        "expected the end of the text",
    ),
    ("graph g(%x: f32[2]) {\n  %y = relu(%x)\n", 3, 1, "expected '%', found the end of the text"),
    ("graph g(%x: f32[2]) {\n  %a, %b = relu(%x)\n  return %a\n}", 2, 3, "1 outputs; 2 names"),
    ("graph g() {\n  const %c: f32[2] = [1.0]\n  return %c\n}", 2, 13, "1 values, expected 2"),
    ("graph g() {\n  const %c: u8[1] = [300]\n  return %c\n}", 2, 13, "bad data"),
    ("graph g() {\n  const %c: f32[N] = [1.0]\n  return %c\n}", 2, 13, "static shape"),
    (
        'graph g(%x: f32[2]) {\n  %y = Activation(%x) {act_type="relu", act_type="tanh"}\n}',
        2,
        41,
        "attribute act_type is given twice",
    ),
    ('graph "bad\\q"() {\n  return\n}', 1, 7, "bad string literal"),
    (
        "graph g(%x: f32[2]) {\n  %y = relu(%x) : f32[2] f32\n  return %y\n}",
        2,
        26,
        "expected '%', found 'f32'",
    ),
]


@pytest.mark.parametrize(("text", "line", "column", "message"), BAD, ids=[b[3] for b in BAD])
def test_parse_errors_say_where_and_what(text, line, column, message):
    with pytest.raises(ParseError, match=message) as info:
        parse(text)
    assert (info.value.line, info.value.column) == (line, column), str(info.value)
    assert str(info.value).startswith(f"line {line}, column {column}: ")
