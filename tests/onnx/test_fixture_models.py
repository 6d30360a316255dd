"""The MXNet fixture models, imported by hybrix and exported to ONNX, reproduce MXNet's
outputs (and hybrix's) in onnxruntime, with a symbolic batch run at two sizes."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix.compiler import compile_graph
from hybrix.compiler.onnx import check_onnx, to_onnx

ort = pytest.importorskip("onnxruntime")
mxnet_import = pytest.importorskip("hybrix.importers.mxnet")

MODELS = ["lenet", "mlp", "lstm", "resnet18_v1"]
COMPILED = {"lenet", "mlp", "lstm"}  # resnet's XLA compile is slow; importer tests cover it


def load_fixture(fixtures_dir, name):
    io = np.load(fixtures_dir / "models" / f"{name}-io.npz")
    model = mxnet_import.load(
        fixtures_dir / "models" / f"{name}-symbol.json",
        fixtures_dir / "models" / f"{name}-0000.params",
        input_shapes={"data": ("N", *io["data"].shape[1:])},
    )
    return model, io["data"], io["output"]


@pytest.mark.parametrize("name", MODELS)
def test_fixture_model_matches_mxnet_in_onnxruntime(name, fixtures_dir):
    model, data, expected = load_fixture(fixtures_dir, name)
    proto = to_onnx(model)
    check_onnx(proto)
    batch_dims = [d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim][:1]
    assert batch_dims == ["N"]
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"data": data})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    # the symbolic batch at another size: each row is computed on its own
    doubled = np.concatenate([data, data[::-1]])
    (twice,) = session.run(None, {"data": doubled})
    np.testing.assert_allclose(twice, np.concatenate([got, got[::-1]]), rtol=1e-5, atol=1e-5)
    if name in COMPILED:
        (compiled,) = compile_graph(model.graph)(data)
        np.testing.assert_allclose(got, np.asarray(compiled), rtol=1e-4, atol=1e-5)
