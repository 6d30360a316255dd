"""The MXNet .params codec against real MXNet 1.9.1 files and hand-built legacy layouts."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from hybrix.importers.mxnet import params
from hybrix.ir import ModelFormatError
from hybrix.tests.conftest import FIXTURES

MODEL_FILES = sorted((FIXTURES / "models").glob("*.params")) if FIXTURES.is_dir() else []


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.name)
def test_fixture_files_reencode_byte_identical(path):
    arrays = params.load(path)
    assert all(name.startswith(("arg:", "aux:")) for name in arrays)
    assert params.dumps(arrays) == path.read_bytes()


def test_lenet_shapes_are_mxnet_layouts():
    arrays = params.load(FIXTURES / "models" / "lenet-0000.params")
    assert arrays["arg:conv0_weight"].shape == (20, 1, 5, 5)
    assert arrays["arg:conv0_weight"].dtype == np.float32
    assert arrays["arg:dense1_weight"].shape[0] == 10


def test_resnet_has_aux_states():
    arrays = params.load(FIXTURES / "models" / "resnet18_v1-0000.params")
    aux = [n for n in arrays if n.startswith("aux:")]
    assert aux
    assert all(n.endswith(("running_mean", "running_var")) for n in aux)
    assert all((arrays[n] >= 0).all() for n in aux if n.endswith("running_var"))


@pytest.mark.parametrize(
    "dtype", ["float16", "float32", "float64", "uint8", "int8", "int32", "int64", "bool"]
)
def test_round_trip_every_dtype(dtype, rng, tmp_path):
    array = (rng.standard_normal((3, 4)) * 10).astype(dtype)
    path = tmp_path / "x.params"
    params.save(path, {"a": array, "b": array[:1]})
    loaded = params.load(path)
    assert list(loaded) == ["a", "b"]
    assert loaded["a"].dtype == array.dtype
    np.testing.assert_array_equal(loaded["a"], array)


def test_bfloat16_round_trip():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    array = np.arange(6, dtype=np.float32).reshape(2, 3).astype(ml_dtypes.bfloat16)
    loaded = params.loads(params.dumps([array]))
    assert loaded[0].dtype == array.dtype
    np.testing.assert_array_equal(loaded[0], array)


def test_unnamed_list_and_scalar():
    loaded = params.loads(params.dumps([np.ones((2,), np.float32), np.array(2.5)]))
    assert isinstance(loaded, list)
    assert loaded[1].shape == ()
    assert loaded[1] == 2.5


def header(count):
    return struct.pack("<QQQ", 0x112, 0, count)


def test_reads_v1_layout():
    data = np.arange(4, dtype=np.float32)
    body = struct.pack("<Ii1q", 0xF993FAC8, 1, 4) + struct.pack("<iii", 1, 0, 0) + data.tobytes()
    loaded = params.loads(header(1) + body + struct.pack("<Q", 0))
    np.testing.assert_array_equal(loaded[0], data)


def test_reads_legacy_magicless_layout():
    data = np.arange(6, dtype=np.float64).reshape(2, 3)
    body = struct.pack("<III", 2, 2, 3) + struct.pack("<iii", 1, 0, 1) + data.tobytes()
    name = b"arg:w"
    tail = struct.pack("<QQ", 1, len(name)) + name
    loaded = params.loads(header(1) + body + tail)
    np.testing.assert_array_equal(loaded["arg:w"], data)


def test_sparse_storage_is_refused_by_name():
    body = struct.pack("<Ii", 0xF993FAC9, 1)
    with pytest.raises(ModelFormatError, match="row_sparse"):
        params.loads(header(1) + body, "sparse.params")


@pytest.mark.parametrize("cut", [4, 20, 30, 100])
def test_truncated_file_names_the_file_and_offset(cut, tmp_path):
    full = (FIXTURES / "models" / "mlp-0000.params").read_bytes()
    path = tmp_path / "cut.params"
    path.write_bytes(full[:cut])
    with pytest.raises(ModelFormatError, match=r"cut\.params: truncated"):
        params.load(path)


def test_foreign_file_is_refused(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07\x12\x04onnx" + bytes(40))
    with pytest.raises(ModelFormatError, match=r"not an MXNet \.params file"):
        params.load(path)


def test_trailing_garbage_is_refused():
    data = params.dumps([np.ones(2, np.float32)]) + b"xx"
    with pytest.raises(ModelFormatError, match="unexpected bytes"):
        params.loads(data)


def test_missing_file():
    with pytest.raises(ModelFormatError, match="cannot read"):
        params.load("/nonexistent/x.params")


def test_save_is_atomic_on_failure(tmp_path):
    path = tmp_path / "x.params"
    params.save(path, [np.ones(2, np.float32)])
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - any failure must leave the old file
        params.save(path, [object()])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.params"]
