"""The layout pass: NHWC rewrite keeps outputs, inserts the fewest transposes, permutes weights."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hybrix.compiler.layout import convert_layout, count_transposes, pick_layout
from hybrix.compiler.lower import lower_graph
from hybrix.compiler.pipelines import optimize
from hybrix.ir import DType, Graph, HybrixError, TensorType, verify


def _net() -> Graph:
    rng = np.random.default_rng(0)
    graph = Graph("net")
    x = graph.add_input("x", TensorType(DType.float32, (2, 3, 8, 8)))
    w1 = graph.add_constant("w1", rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    w2 = graph.add_constant("w2", rng.standard_normal((4, 4, 3, 3)).astype(np.float32))
    fc = graph.add_constant("fc", rng.standard_normal((5, 64)).astype(np.float32))
    conv = {"kernel": (3, 3), "pad": (1, 1), "num_filter": 4, "no_bias": True}
    h = graph.add_node("Convolution", [x, w1], conv).outputs[0]
    h = graph.add_node("Activation", [h], {"act_type": "relu"}).outputs[0]
    y = graph.add_node("Convolution", [h, w2], conv).outputs[0]
    y = graph.add_node("elemwise_add", [h, y]).outputs[0]
    y = graph.add_node("Pooling", [y], {"kernel": (2, 2), "stride": (2, 2)}).outputs[0]
    y = graph.add_node("Flatten", [y]).outputs[0]
    out = graph.add_node("FullyConnected", [y, fc], {"num_hidden": 5, "no_bias": True}).outputs[0]
    graph.outputs = [out]
    return graph


def _run(graph: Graph, x: np.ndarray) -> np.ndarray:
    constants = [jnp.asarray(v.const) for v in graph.constants]
    return np.asarray(jax.jit(lower_graph(graph, None))(constants, jnp.asarray(x))[0])


@pytest.mark.parametrize("fused", [False, True], ids=["plain", "fused"])
def test_nhwc_rewrite_keeps_outputs_with_two_transposes(fused):
    graph = _net()
    if fused:
        optimize(graph, "O2", inference=True)
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    converted = convert_layout(graph, "NHWC")
    verify(converted)
    np.testing.assert_allclose(_run(converted, x), _run(graph, x), rtol=1e-4, atol=1e-4)
    # the input goes channels-last once, the pooled result back once; weights are permuted
    assert count_transposes(converted) == 2
    layouts = [n.attrs.get("layout") for n in _all(converted) if n.op in ("Convolution", "Pooling")]
    assert layouts == ["NHWC"] * 3
    assert converted.inputs[0].type.shape == (2, 3, 8, 8)


def _all(graph):
    for node in graph.nodes:
        sub = node.attrs.get("graph") if node.op == "_fused" else None
        yield from _all(sub) if isinstance(sub, Graph) else [node]


def test_nchw_is_a_copy_without_transposes():
    graph = _net()
    converted = convert_layout(graph, "NCHW")
    assert count_transposes(converted) == 0
    assert converted is not graph


def test_unknown_layout_is_an_error():
    with pytest.raises(HybrixError, match="layout 'NDHWC'"):
        convert_layout(_net(), "NDHWC")


def test_pick_layout_per_target():
    assert pick_layout("cpu") == "NHWC"
    assert pick_layout("gpu") == "NCHW"


def test_inference_pipeline_runs_the_target_layout_on_cpu():
    from hybrix.compiler.layout import to_target_layout

    graph, reference = _net(), _net()
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    optimize(graph, "O2", inference=True)
    verify(graph)
    layouts = {n.attrs.get("layout") for n in _all(graph) if n.op in ("Convolution", "Pooling")}
    assert layouts == {"NHWC"}
    assert not any(v.name == "w1" for v in graph.constants), "the NCHW weights were dropped"
    np.testing.assert_allclose(_run(graph, x), _run(reference, x), rtol=1e-4, atol=1e-4)
    assert not to_target_layout(graph), "a second run finds nothing to move"


def test_layout_stage_is_skipped_for_training_when_asked_and_on_override(monkeypatch):
    def windowed_layouts(graph):
        return {n.attrs.get("layout") for n in _all(graph) if n.op in ("Convolution", "Pooling")}

    assert windowed_layouts(optimize(_net(), "O2")) == {None}
    assert windowed_layouts(optimize(_net(), "O2", inference=True, layout=False)) == {None}
    monkeypatch.setenv("HYBRIX_LAYOUT", "NCHW")
    assert windowed_layouts(optimize(_net(), "O2", inference=True)) == {None}
    monkeypatch.setenv("HYBRIX_LAYOUT", "NHCW")
    with pytest.raises(HybrixError, match="HYBRIX_LAYOUT='NHCW'"):
        optimize(_net(), "O2", inference=True)
