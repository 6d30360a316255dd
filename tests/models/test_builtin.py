"""The built-in nd networks with MXNet's exported parameters reproduce MXNet's outputs."""

from __future__ import annotations

import numpy as np
import pytest

import hybrix
from hybrix import nd
from hybrix.models.builtin import INPUT_SHAPES, NETS, SHAPES, init_params
from hybrix.tests.conftest import FIXTURES


def fixture_params(name):
    loaded = nd.load(str(FIXTURES / "models" / f"{name}-0000.params"))
    return {key.split(":", 1)[1]: value for key, value in loaded.items()}


@pytest.mark.parametrize("name", sorted(NETS))
def test_eager_and_compiled_reproduce_mxnet(name):
    params = fixture_params(name)
    assert {k: v.shape for k, v in params.items()} == SHAPES[name]
    io = np.load(FIXTURES / "models" / f"{name}-io.npz")
    data = nd.array(io["data"])
    eager = NETS[name](params, data).asnumpy()
    np.testing.assert_allclose(eager, io["output"], rtol=1e-4, atol=1e-5)
    compiled = hybrix.compile(lambda x: NETS[name](params, x), data, symbolic={0: "N"})
    np.testing.assert_allclose(compiled(data).asnumpy(), io["output"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(NETS))
def test_symbolic_batch_graph(name):
    params = init_params(name)
    data = nd.ones((2, *INPUT_SHAPES[name]))
    graph = hybrix.trace(lambda x: NETS[name](params, x), data, symbolic={0: "N"})
    hybrix.ir.verify(graph)
    assert graph.inputs[0].shape[0] == "N"
    assert graph.outputs[0].shape == ("N", 10)
