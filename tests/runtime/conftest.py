"""Bundles shared by the runtime tests: a small MLP with a symbolic batch, built once."""

from __future__ import annotations

import numpy as np
import pytest

import hybrix
from hybrix import nd
from hybrix.compiler import compile_graph
from hybrix.compiler.bundle import build_bundle
from hybrix.models.builtin import NETS, init_params


def mlp_graph(batch: int = 2) -> hybrix.ir.Graph:
    params = init_params("mlp", 1)
    example = nd.zeros((batch, 784))

    def forward(data: nd.NDArray) -> nd.NDArray:
        return NETS["mlp"](params, data)

    return hybrix.trace(forward, example, symbolic={0: "N"})


@pytest.fixture(scope="session")
def mlp_bundle(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The bundle path, its graph, an input batch of 2 and the in-process compiled output."""
    graph = mlp_graph()
    path = tmp_path_factory.mktemp("bundles") / "mlp.hxb"
    report = build_bundle(graph, None, path, bindings=[{"N": 2}])
    data = np.random.default_rng(0).standard_normal((2, 784)).astype(np.float32)
    expected = np.asarray(compile_graph(graph)(data)[0])
    return {"path": path, "graph": graph, "data": data, "expected": expected, "report": report}
