"""Every op sample as a one-node graph: verify, save/load and print/parse keep it intact."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix.ir import DType, Graph, TensorType, load, parse, save, structurally_equal, verify
from hybrix.tests.ops.op_db import SAMPLES


def one_node_graph(sample, rng) -> Graph:
    """Inputs typed from the sample's arrays (first dtype), attributes from the sample."""
    graph = Graph(f"{sample.id}_graph")
    inputs = []
    for i, array in enumerate(sample.arrays(sample.dtypes[0], rng)):
        type = TensorType(DType.from_any(np.asarray(array).dtype), np.shape(array))
        inputs.append(graph.add_input(f"x{i}", type))
    graph.outputs = list(graph.add_node(sample.op, inputs, sample.attrs).outputs)
    return graph


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.id for s in SAMPLES])
def test_one_node_graph_round_trips(sample, rng, tmp_path):
    graph = one_node_graph(sample, rng)
    verify(graph)
    path = tmp_path / "op.hxir"
    save(graph, path)
    loaded = load(path).graph
    verify(loaded)
    assert structurally_equal(loaded, graph)
    parsed = parse(str(graph))
    verify(parsed)
    assert structurally_equal(parsed, graph), str(graph)
    assert str(parsed) == str(graph)
