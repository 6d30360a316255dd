"""Memory planning on hand-built graphs with known answers; plan checks by brute force.

`assert_valid_plan` and `run_in_arena` are used by the other test_memory* files too.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hybrix.ir import DType, Graph, HybrixError, ModelFormatError, TensorType, get_op
from hybrix.passes.fuse import REDUCTIONS
from hybrix.passes.memory import MemoryPlan, check_plan, plan_memory, value_nbytes


# -- independent checkers -----------------------------------------------------------------
def concrete(shape, bindings):
    return tuple(
        d if isinstance(d, int) else int(eval(d, {"__builtins__": {}}, dict(bindings)))
        for d in shape
    )


def nbytes_of(value, bindings):
    return int(np.prod(concrete(value.shape, bindings))) * value.dtype.itemsize


def spans_of(graph):
    """value name -> set of steps it is live (written ... last read; outputs to the end)."""
    first, last = {}, {}
    for step, node in enumerate(graph.nodes):
        for value in node.inputs:
            if value.name in first:
                last[value.name] = step
        for value in node.outputs:
            first[value.name] = last[value.name] = step
    for value in graph.outputs:
        if value.name in first:
            last[value.name] = len(graph.nodes)
    return {name: set(range(first[name], last[name] + 1)) for name in first}


def assert_valid_plan(graph, plan, bindings=None):
    """Every pair of values, every in-place pair and the bounds, checked by brute force."""
    bindings = bindings or {}
    spans = spans_of(graph)
    written = {v.name: v for node in graph.nodes for v in node.outputs}
    assert set(plan.offsets) == set(written)
    assert plan.external == [v.name for v in (*graph.inputs, *graph.constants)]
    for name, (storage, offset, size) in plan.offsets.items():
        assert size == nbytes_of(written[name], bindings), name
        assert offset % plan.alignment == 0, name
        assert offset + size <= plan.arena_size, name
        assert plan.storages[storage][0] == offset, name
        assert size <= plan.storages[storage][1], name
    for output, source in plan.inplace.items():
        _assert_inplace_allowed(graph, written[output], written[source], spans)
    for a, b in itertools.combinations(written, 2):
        _, start_a, size_a = plan.offsets[a]
        _, start_b, size_b = plan.offsets[b]
        share_bytes = (
            size_a and size_b and start_a < start_b + size_b and start_b < start_a + size_a
        )
        common = spans[a] & spans[b]
        if share_bytes and common:
            pair = plan.inplace.get(b) == a or plan.inplace.get(a) == b
            assert pair, f"%{a} and %{b} share bytes at steps {common}"
            assert len(common) == 1, f"in-place %{a} and %{b} share bytes at steps {common}"
    live = [_live_bytes(graph, plan, spans, step) for step in range(len(graph.nodes) + 1)]
    assert plan.lower_bound == max(live, default=0)
    if graph.nodes:
        assert plan.peak_step == live.index(plan.lower_bound)
    assert plan.lower_bound <= plan.arena_size <= plan.no_reuse
    aligned = [-(-s // plan.alignment) * plan.alignment for _, _, s in plan.offsets.values()]
    assert plan.no_reuse == sum(aligned)


def _assert_inplace_allowed(graph, output, source, spans):
    node = output.producer
    if node.op == "_fused":  # position-wise ops only, input of the output's type
        assert not any(n.op in REDUCTIONS for n in node.attrs["graph"].nodes)
        assert source in node.inputs
        assert source.type == output.type
    else:
        input_index = get_op(node.op).inplace[output.index]
        assert node.inputs[input_index] is source
    assert max(spans[source.name]) == min(spans[output.name])  # the input dies here
    assert source not in graph.outputs
    assert source.dtype.itemsize == output.dtype.itemsize


def _live_bytes(graph, plan, spans, step):
    handed_over = {s for o, s in plan.inplace.items() if min(spans[o]) == step}
    return sum(
        -(-plan.offsets[name][2] // plan.alignment) * plan.alignment
        for name, steps in spans.items()
        if step in steps and name not in handed_over
    )


def run_plain(graph, inputs):
    env = {}
    for value, array in zip(
        [*graph.inputs, *graph.constants],
        [*inputs, *(c.const for c in graph.constants)],
        strict=True,
    ):
        env[value.name] = array
    for node in graph.nodes:
        results = _ref(node, [env[v.name] for v in node.inputs])
        env.update((v.name, r) for v, r in zip(node.outputs, results, strict=True))
    return [np.array(env[v.name]) for v in graph.outputs]


def run_in_arena(graph, plan, inputs, bindings=None, seed=0):
    """What the reference executor does: each written value is a view of one arena."""
    arena = np.random.default_rng(seed).integers(0, 256, plan.arena_size, dtype=np.uint8)
    env = {}
    for value, array in zip(
        [*graph.inputs, *graph.constants],
        [*inputs, *(c.const for c in graph.constants)],
        strict=True,
    ):
        env[value.name] = array
    for node in graph.nodes:
        results = [np.array(r) for r in _ref(node, [env[v.name] for v in node.inputs])]
        for value, result in zip(node.outputs, results, strict=True):
            _, offset, _ = plan.offsets[value.name]
            shape = concrete(value.shape, bindings or {})
            view = np.ndarray(shape, value.dtype.numpy, buffer=arena, offset=offset)
            np.copyto(view, result, casting="unsafe")
            env[value.name] = view
    return [np.array(env[v.name]) for v in graph.outputs]


def _ref(node, args):
    result = get_op(node.op).ref_fn(*args, **node.attrs)
    return list(result) if isinstance(result, tuple | list) else [result]


# -- hand-built graphs ----------------------------------------------------------------------
def f32(*shape):
    return TensorType(DType.float32, shape)


def chain(ops, shape=(16,)):
    graph = Graph("chain")
    value = graph.add_input("x", f32(*shape))
    for op in ops:
        value = graph.add_node(op, [value]).outputs[0]
    graph.outputs = [value]
    return graph


def test_inplace_chain_uses_one_buffer():
    graph = chain(["exp", "relu", "tanh", "sigmoid"])
    plan = plan_memory(graph)
    assert_valid_plan(graph, plan)
    assert plan.inplace == {"relu1": "exp0", "tanh2": "relu1", "sigmoid3": "tanh2"}
    assert (plan.arena_size, plan.lower_bound, plan.no_reuse) == (64, 64, 256)
    assert len(plan.storages) == 1


def test_chain_without_inplace_ping_pongs():
    graph = chain(["exp", "relu", "tanh", "sigmoid"])
    plan = plan_memory(graph, allow_inplace=False)
    assert_valid_plan(graph, plan)
    assert plan.inplace == {}
    assert (plan.arena_size, plan.lower_bound, plan.no_reuse) == (128, 128, 256)
    offsets = [plan.offsets[v][1] for v in ("exp0", "relu1", "tanh2", "sigmoid3")]
    assert offsets[0] == offsets[2] != offsets[1] == offsets[3]


def test_diamond_reuses_dying_inputs():
    graph = Graph("diamond")
    x = graph.add_input("x", f32(16))
    (a,) = graph.add_node("exp", [x], name="a").outputs
    (b,) = graph.add_node("sin", [a], name="b").outputs
    (c,) = graph.add_node("cos", [a], name="c").outputs
    (d,) = graph.add_node("elemwise_add", [b, c], name="d").outputs
    graph.outputs = [d]
    plan = plan_memory(graph)
    assert_valid_plan(graph, plan)
    assert plan.inplace == {"c": "a", "d": "b"}  # b reads a, which c still needs
    assert plan.arena_size == plan.lower_bound == 128
    assert plan.peak_step == 1


def test_graph_outputs_live_to_the_end():
    graph = chain(["exp", "relu", "tanh"])
    first = graph.nodes[0].outputs[0]
    graph.outputs = [first, graph.nodes[-1].outputs[0]]
    plan = plan_memory(graph)
    assert_valid_plan(graph, plan)
    assert "relu1" not in plan.inplace  # its input is a graph output
    assert plan.offsets["exp0"][1] not in {plan.offsets[v][1] for v in ("relu1", "tanh2")}
    assert plan.arena_size == 128


def test_sizes_fill_gaps_to_the_lower_bound():
    # a (256 B), big (1 KiB, a graph output) and the s -> t -> u chain (256 B) meet at step 3
    graph = Graph("gaps")
    x = graph.add_input("x", f32(64))
    (a,) = graph.add_node("exp", [x], name="a").outputs
    (big,) = graph.add_node("tile", [a], {"reps": (4,)}, name="big").outputs
    (s,) = graph.add_node("slice_axis", [big], {"axis": 0, "begin": 0, "end": 64}, name="s").outputs
    (t,) = graph.add_node("broadcast_add", [s, a], name="t").outputs
    (u,) = graph.add_node("tanh", [t], name="u").outputs
    graph.outputs = [u, big]
    plan = plan_memory(graph)
    assert_valid_plan(graph, plan)
    assert plan.inplace == {"u": "t"}  # broadcast_add offers no in-place pair
    assert plan.arena_size == plan.lower_bound == 1024 + 3 * 256


def test_multi_output_and_unused_values():
    graph = Graph("split")
    x = graph.add_input("x", f32(4, 48))
    (a,) = graph.add_node("exp", [x], name="a").outputs
    parts = graph.add_node("split", [a], {"num_outputs": 3, "axis": 1}, name="s").outputs
    graph.add_node("sin", [parts[2]], name="unused")
    (y,) = graph.add_node("cos", [parts[0]], name="y").outputs
    graph.outputs = [y]
    plan = plan_memory(graph)
    assert_valid_plan(graph, plan)
    assert plan.offsets["unused"][2] == 256  # written, so placed, though nothing reads it
    assert plan.inplace == {"unused": "s_2", "y": "s"}
    assert plan.arena_size == plan.lower_bound == 768 + 3 * 256


def test_inplace_candidates_say_why_not():
    from hybrix.passes.inplace import inplace_candidates
    from hybrix.passes.memory import lifetimes

    graph = Graph("why")
    x = graph.add_input("x", f32(4, 16))
    (a,) = graph.add_node("exp", [x], name="a").outputs
    (b,) = graph.add_node("relu", [a], name="b").outputs
    (c,) = graph.add_node("sin", [a], name="c").outputs
    (d,) = graph.add_node("cos", [b], name="d").outputs
    graph.add_node("broadcast_add", [c, d], name="e")  # offers no pair
    graph.outputs = [c, d]
    nbytes = {v.name: value_nbytes(v) for node in graph.nodes for v in node.outputs}
    found = {c.output: c.reason for c in inplace_candidates(graph, lifetimes(graph), nbytes)}
    assert found == {
        "a": "input is external (graph input or constant)",
        "b": "input is still read after this node (until step 2)",
        "c": None,
        "d": None,
    }
    nbytes["d"] = 128  # no registered op changes size in place; the rule still checks it
    found = {c.output: c.reason for c in inplace_candidates(graph, lifetimes(graph), nbytes)}
    assert found["d"] == "sizes differ (256 B input, 128 B output)"
    plan = plan_memory(graph)
    assert plan.inplace == {"c": "a", "d": "b"}
    assert_valid_plan(graph, plan)


def test_inplace_never_takes_a_graph_output():
    from hybrix.passes.inplace import inplace_candidates
    from hybrix.passes.memory import lifetimes

    graph = chain(["exp", "relu"])
    graph.outputs = [graph.nodes[0].outputs[0], graph.nodes[1].outputs[0]]
    nbytes = {"exp0": 64, "relu1": 64}
    candidate = inplace_candidates(graph, lifetimes(graph), nbytes)[-1]
    assert candidate.output == "relu1"
    assert candidate.reason == "input is still read after this node (until step 2)"
    assert plan_memory(graph).inplace == {}


def test_symbolic_dims_need_bindings():
    graph = chain(["exp", "relu"], shape=("N", 4, 4))
    reshaped = graph.add_node("Reshape", [graph.outputs[0]], {"shape": (-1,)}).outputs[0]
    assert reshaped.shape == ("16*N",)
    graph.outputs = [reshaped]
    with pytest.raises(HybrixError, match=r"exp0: f32\[N,4,4\] has symbolic dimension 'N'"):
        plan_memory(graph)
    plan = plan_memory(graph, bindings={"N": 3})
    assert plan.offsets["reshape2"][2] == 3 * 16 * 4
    assert_valid_plan(graph, plan, {"N": 3})


def test_dimension_expressions():
    graph = Graph("dims")
    x = graph.add_input("x", f32("N+M", "2*T"))
    graph.add_node("exp", [x])
    value = graph.nodes[0].outputs[0]
    assert value_nbytes(value, {"N": 2, "M": 3, "T": 5}) == 5 * 10 * 4
    with pytest.raises(HybrixError, match="'M' with no binding"):
        value_nbytes(value, {"N": 2, "T": 5})
    with pytest.raises(HybrixError, match="not a non-negative int"):
        value_nbytes(value, {"N": 2, "M": -9, "T": 1})
    weird = Graph("weird")
    y = weird.add_input("y", f32("f(N)"))
    weird.add_node("exp", [y])
    with pytest.raises(HybrixError, match="cannot evaluate dimension 'f\\(N\\)'"):
        plan_memory(weird, bindings={"N": 1})


def test_empty_and_zero_sized_graphs():
    graph = Graph("identity")
    x = graph.add_input("x", f32(3))
    graph.outputs = [x]
    plan = plan_memory(graph)
    assert (plan.arena_size, plan.offsets, plan.external) == (0, {}, ["x"])
    empty = chain(["exp", "relu"], shape=(0, 16))
    plan = plan_memory(empty)
    assert plan.arena_size == 0
    assert plan.offsets["relu1"][2] == 0
    assert_valid_plan(empty, plan)


def test_alignment():
    graph = chain(["exp", "relu", "tanh"], shape=(3,))
    graph.outputs = [graph.nodes[0].outputs[0], graph.nodes[2].outputs[0]]
    exact = plan_memory(graph, alignment=1)
    assert (exact.arena_size, exact.no_reuse) == (24, 36)
    padded = plan_memory(graph, alignment=256)
    assert padded.arena_size == 512
    assert_valid_plan(graph, padded)
    with pytest.raises(HybrixError, match="alignment must be a positive int"):
        plan_memory(graph, alignment=0)
    with pytest.raises(HybrixError, match="unknown memory strategy 'best'; expected one of"):
        plan_memory(graph, strategy="best")


def test_json_round_trip_and_bad_files():
    graph = chain(["exp", "relu", "tanh"])
    plan = plan_memory(graph)
    again = MemoryPlan.from_json(plan.to_json())
    assert again == plan
    assert isinstance(again.offsets["exp0"], tuple)
    with pytest.raises(ModelFormatError, match="not valid JSON"):
        MemoryPlan.from_json("{")
    with pytest.raises(ModelFormatError, match="format"):
        MemoryPlan.from_json('{"arena_size": 3}')
    broken = plan.to_json().replace('"offsets"', '"offset"')
    with pytest.raises(ModelFormatError, match="missing or malformed field"):
        MemoryPlan.from_json(broken)


def test_checkers_catch_a_bad_plan():
    graph = chain(["exp", "relu", "tanh"])
    plan = plan_memory(graph, allow_inplace=False)
    check_plan(graph, plan)
    storage, _, size = plan.offsets["relu1"]
    plan.offsets["relu1"] = (storage, plan.offsets["exp0"][1], size)
    plan.storages[storage] = (plan.offsets["exp0"][1], plan.storages[storage][1])
    with pytest.raises(HybrixError, match="%exp0 and %relu1 share bytes at step 1"):
        check_plan(graph, plan)
    with pytest.raises(AssertionError, match="share bytes"):
        assert_valid_plan(graph, plan)
    plan = plan_memory(graph, allow_inplace=False)
    plan.inplace["tanh2"] = "exp0"
    with pytest.raises(HybrixError, match="does not let %tanh2 reuse %exp0"):
        check_plan(graph, plan)


def test_arena_run_matches_plain_run(rng):
    graph = Graph("mixed")
    x = graph.add_input("x", f32(4, 16))
    (a,) = graph.add_node("exp", [x], name="a").outputs
    (b,) = graph.add_node("sin", [a], name="b").outputs
    (c,) = graph.add_node("_mul_scalar", [a], {"scalar": 2.0}, name="c").outputs
    (d,) = graph.add_node("elemwise_add", [b, c], name="d").outputs
    (e,) = graph.add_node("sum", [d], {"axis": (1,), "keepdims": True}, name="e").outputs
    (f,) = graph.add_node("broadcast_sub", [d, e], name="f").outputs
    (g,) = graph.add_node("relu", [f], name="g").outputs
    graph.outputs = [g, e]
    inputs = [rng.standard_normal((4, 16)).astype(np.float32)]
    expected = run_plain(graph, inputs)
    for allow in (True, False):
        plan = plan_memory(graph, allow_inplace=allow)
        assert_valid_plan(graph, plan)
        for got, want in zip(run_in_arena(graph, plan, inputs), expected, strict=True):
            np.testing.assert_array_equal(got, want)


def test_arena_run_notices_a_clobbered_value(rng):
    # the check above can fail: put b on a's bytes while c still has to read a
    graph = Graph("diamond")
    x = graph.add_input("x", f32(16))
    (a,) = graph.add_node("exp", [x], name="a").outputs
    (b,) = graph.add_node("sin", [a], name="b").outputs
    (c,) = graph.add_node("cos", [a], name="c").outputs
    graph.outputs = [graph.add_node("elemwise_add", [b, c], name="d").outputs[0]]
    plan = plan_memory(graph, allow_inplace=False)
    storage, _, size = plan.offsets["b"]
    plan.offsets["b"] = (storage, plan.offsets["a"][1], size)
    inputs = [rng.standard_normal(16).astype(np.float32)]
    (expected,) = run_plain(graph, inputs)
    (got,) = run_in_arena(graph, plan, inputs)
    assert not np.allclose(got, expected)


@pytest.mark.parametrize(
    ("root", "attrs", "offered"),
    [("cos", {}, True), ("sum", {"axis": (1,), "keepdims": True}, False)],
)
def test_fused_nodes_offer_inplace_unless_they_reduce(root, attrs, offered):
    from hybrix.passes import fuse_elementwise
    from hybrix.passes.inplace import offered_pairs

    graph = Graph("fused")
    x = graph.add_input("x", f32(4, 1))
    (a,) = graph.add_node("tile", [x], {"reps": (2, 1)}, name="a").outputs
    (b,) = graph.add_node("sin", [a], name="b").outputs
    (c,) = graph.add_node("_mul_scalar", [b], {"scalar": 2.0}, name="c").outputs
    graph.outputs = graph.add_node(root, [c], attrs, name="d").outputs
    assert fuse_elementwise(graph)
    fused = graph.nodes[-1]
    assert fused.op == "_fused"
    assert fused.outputs[0].type == a.type  # a reduction over an axis of 1 keeps the type
    assert offered_pairs(fused) == ([(0, 0)] if offered else [])
    plan = plan_memory(graph)
    assert plan.inplace == ({fused.outputs[0].name: "a"} if offered else {})
    assert_valid_plan(graph, plan)


def test_lifetimes_of_bad_orders_and_nested_reads():
    from hybrix.ir import GraphError
    from hybrix.passes.memory import lifetimes

    graph = chain(["exp", "relu", "tanh"])
    assert lifetimes(graph) == {"exp0": (0, 1), "relu1": (1, 2), "tanh2": (2, 3)}
    graph.nodes.reverse()
    with pytest.raises(GraphError, match=r"node tanh2 \(tanh\) reads %relu1 before any node"):
        lifetimes(graph)
    # a nested graph (a graph attribute) that reads an outer value keeps it alive
    graph = chain(["exp", "relu", "tanh"])
    body = Graph("body")
    body.outputs = body.add_node("sin", [graph.nodes[0].outputs[0]]).outputs
    graph.nodes[2].attrs["body"] = body
    assert lifetimes(graph)["exp0"] == (0, 2)
