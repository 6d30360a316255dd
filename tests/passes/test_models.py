"""Every pass and pipeline on real model graphs keeps them valid and their outputs equal.

Graphs come from the built-in nets (traced) and, when the MXNet importer loads them, the
MXNet fixture models; resnet18's optimized inference graph must still reproduce MXNet.
"""

from __future__ import annotations

import numpy as np
import pytest

import hybrix
from hybrix import nd
from hybrix.compiler import compile_graph
from hybrix.compiler.pipelines import run_pipeline
from hybrix.ir import verify
from hybrix.models.builtin import INPUT_SHAPES, NETS, init_params
from hybrix.passes import (
    eliminate_common_subexpressions,
    eliminate_dead_code,
    fold_activation,
    fold_batchnorm,
    fold_constants,
    fuse_elementwise,
    infer_types,
    remove_dropout,
    simplify,
)
from hybrix.tests.conftest import FIXTURES
from hybrix.tests.passes._helpers import assert_same_outputs, copy, run

PASSES = [
    infer_types,
    eliminate_dead_code,
    eliminate_common_subexpressions,
    fold_constants,
    simplify,
    remove_dropout,
    fold_batchnorm,
    fold_activation,
    fuse_elementwise,
]


def _builtin(name):
    params = init_params(name)
    data = nd.ones((2, *INPUT_SHAPES[name]))
    graph = hybrix.trace(lambda x: NETS[name](params, x), data, symbolic={0: "N"})
    rng = np.random.default_rng(0)
    return graph, [rng.standard_normal((2, *INPUT_SHAPES[name])).astype(np.float32)]


def _fixture(name):
    importer = pytest.importorskip("hybrix.importers.mxnet.symbol")
    prefix = FIXTURES / "models" / name
    if not prefix.with_name(f"{name}-symbol.json").exists():
        pytest.skip(f"fixture {name} not found")
    io = np.load(prefix.with_name(f"{name}-io.npz"))
    try:
        model = importer.load(
            prefix.with_name(f"{name}-symbol.json"),
            prefix.with_name(f"{name}-0000.params"),
            input_shapes={"data": io["data"].shape},
        )
    except hybrix.HybrixError as e:
        pytest.skip(f"the MXNet importer cannot load {name} yet: {e}")
    return model.graph, [io["data"]], io["output"]


MODELS = ["lenet", "mlp"]


@pytest.mark.parametrize("graph_pass", PASSES, ids=lambda p: p.name)
@pytest.mark.parametrize("name", MODELS)
def test_each_pass_on_builtin_models(name, graph_pass):
    graph, inputs = _builtin(name)
    before = copy(graph)
    run(graph_pass, graph)
    verify(graph)
    assert_same_outputs(before, graph, inputs, rtol=1e-4)


@pytest.mark.parametrize("level", ["O0", "O1", "O2"])
@pytest.mark.parametrize("inference", [False, True])
def test_pipelines_on_builtin_models(level, inference):
    for name in MODELS:
        graph, inputs = _builtin(name)
        before = copy(graph)
        run_pipeline(graph, level, inference=inference, verify=True)
        assert_same_outputs(before, graph, inputs, rtol=1e-4)


@pytest.mark.parametrize("name", ["lenet", "mlp", "lstm"])
def test_pipelines_on_mxnet_fixtures(name):
    graph, inputs, expected = _fixture(name)
    before = copy(graph)
    run_pipeline(graph, "O2", inference=True, verify=True)
    assert_same_outputs(before, graph, inputs, rtol=1e-4)
    got = np.asarray(compile_graph(graph)(*inputs)[0])
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_resnet18_inference_pipeline_reproduces_mxnet():
    graph, inputs, expected = _fixture("resnet18_v1")
    nodes = len(graph.nodes)
    results = run_pipeline(graph, "O2", inference=True, verify=True)
    folded = sum(len(r.changes) for r in results if r.name == "fold_batchnorm")
    assert folded == 20  # every BatchNorm of resnet18_v1 follows a Convolution
    assert not any(n.op == "BatchNorm" for n in graph.nodes)
    assert len(graph.nodes) < nodes
    got = np.asarray(compile_graph(graph)(*inputs)[0])
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)
