"""The .hxir format: lossless round trips and clear errors for bad files."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest

from hybrix.ir import (
    DType,
    Graph,
    Model,
    ModelFormatError,
    load,
    save,
    serde,
    structurally_equal,
    verify,
)
from hybrix.tests.ir._graphs import diamond, f32, mlp


def round_trip(model, tmp_path) -> Model:
    path = tmp_path / "model.hxir"
    save(model, path)
    return load(path)


def test_mlp_round_trips_with_names_and_metadata(tmp_path):
    model = Model(mlp(), producer="test", opset=3, metadata={"author": "me", "note": "é"})
    loaded = round_trip(model, tmp_path)
    graph = loaded.graph
    verify(graph)
    assert structurally_equal(graph, model.graph)
    assert (loaded.producer, loaded.opset, loaded.metadata) == ("test", 3, model.metadata)
    assert loaded.format_version == Model.FORMAT_VERSION
    assert graph.name == "mlp"
    assert [v.name for v in graph.values()] == ["x", "w", "b", "h", "y"]
    assert [n.name for n in graph.nodes] == ["h", "y"]
    assert graph.inputs[0].type == f32("N", 4)
    assert str(graph) == str(model.graph)


def test_a_bare_graph_is_saved_in_a_default_model(tmp_path):
    loaded = round_trip(diamond(), tmp_path)
    assert loaded.producer == "hybrix"
    assert loaded.metadata == {}
    assert structurally_equal(loaded.graph, diamond())
    verify(loaded.graph)


def test_use_lists_are_rebuilt(tmp_path):
    graph = round_trip(diamond(), tmp_path).graph
    x = graph.inputs[0]
    assert [(n.name, i) for n, i in x.uses] == [("a", 0), ("b", 0)]
    assert all(node.graph is graph for node in graph.nodes)


def random_bits(dtype: DType, shape, rng) -> np.ndarray:
    raw = rng.integers(0, 256, size=int(np.prod(shape)) * dtype.itemsize, dtype=np.uint8)
    array = raw.view(dtype.numpy) if dtype is not DType.bool else raw.astype(bool)
    return array.reshape(shape)


@pytest.mark.parametrize("dtype", list(DType), ids=lambda d: d.name)
def test_constants_of_every_dtype_are_bit_exact(dtype, tmp_path, rng):
    graph = Graph("consts")
    arrays = [random_bits(dtype, shape, rng) for shape in [(3, 5), (), (0, 2)]]
    if dtype.is_float:
        arrays.append(np.array([np.nan, -np.nan, -0.0, np.inf, -np.inf]).astype(dtype.numpy))
    values = [graph.add_constant(f"c{i}", array) for i, array in enumerate(arrays)]
    graph.outputs = values
    loaded = round_trip(graph, tmp_path).graph
    for value, array in zip(loaded.constants, arrays, strict=True):
        assert value.const.dtype == array.dtype
        assert value.const.shape == array.shape
        assert value.const.tobytes() == array.tobytes()
        assert value.type.dtype is dtype
    assert structurally_equal(loaded, graph)


def test_big_endian_constants_are_stored_little_endian(tmp_path):
    graph = Graph("g")
    graph.outputs = [graph.add_constant("c", np.arange(4, dtype=">i4"))]
    loaded = round_trip(graph, tmp_path).graph
    np.testing.assert_array_equal(loaded.constants[0].const, np.arange(4))


def attr_graph() -> Graph:
    """Nodes whose attributes cover int, bool, str, ints, opt_ints (with None), float, dtype."""
    graph = Graph("attrs")
    x = graph.add_input("x", f32(1, 1, 5, "W"))
    w = graph.add_input("w", f32(2, 1, 3, 3))
    conv = graph.add_node(
        "Convolution", [x, w], {"kernel": (3, 3), "num_filter": 2, "no_bias": True, "pad": (1, 1)}
    )
    sliced = graph.add_node("slice", conv.outputs, {"begin": (None, 1), "end": (None, None)})
    clipped = graph.add_node("clip", sliced.outputs, {"a_min": -0.5, "a_max": 1.5e-3})
    cast = graph.add_node("Cast", clipped.outputs, {"dtype": "float16"})
    graph.outputs = cast.outputs
    return graph


def test_attributes_of_every_kind_round_trip(tmp_path):
    graph = attr_graph()
    loaded = round_trip(graph, tmp_path).graph
    verify(loaded)
    for before, after in zip(graph.nodes, loaded.nodes, strict=True):
        assert after.attrs == before.attrs
        assert [type(v) for v in after.attrs.values()] == [type(v) for v in before.attrs.values()]
    assert loaded.nodes[1].attrs["begin"] == (None, 1)
    assert loaded.nodes[0].attrs["layout"] is None
    assert loaded.nodes[3].attrs["dtype"] is DType.float16
    assert loaded.inputs[0].type == f32(1, 1, 5, "W")


@pytest.mark.parametrize(
    "value",
    [0, -7, 2.5, float("nan"), True, False, "tanh", "", (), (3, 3), (0.5, -1.0), (None, 2, None)],
    ids=repr,
)
def test_attribute_values_encode_and_decode(value):
    kind = serde._guess_kind(value, "test")
    message = serde._attr_to_proto("a", value, kind, "test")
    decoded = serde._GraphReader("test", ())._attr(message, "test")
    assert type(decoded) is type(value)
    if value == value:  # NaN aside
        assert decoded == value


def test_empty_floats_and_none_keep_their_kind():
    message = serde._attr_to_proto("a", (), "floats", "test")
    assert message.WhichOneof("value") == "floats"
    none = serde._attr_to_proto("a", None, "int", "test")
    assert serde._GraphReader("test", ())._attr(none, "test") is None


def test_nested_graph_attribute_encodes_and_decodes():
    body = diamond()
    message = serde._attr_to_proto("body", body, "graph", "test")
    decoded = serde._GraphReader("test", ())._attr(message, "test")
    assert isinstance(decoded, Graph)
    assert decoded.name == "diamond"
    assert structurally_equal(decoded, body)
    verify(decoded)


# -- bad files --------------------------------------------------------------------------------
def write(path, data: bytes):
    path.write_bytes(data)
    return path


def header(payload: bytes, version: int = 1) -> bytes:
    return struct.pack("<4sIQI", b"HXIR", version, len(payload), zlib.crc32(payload))


def test_a_foreign_file_is_named(tmp_path):
    path = write(tmp_path / "model.zip", b"PK\x03\x04 not a model at all")
    with pytest.raises(ModelFormatError, match=r"model\.zip: not a \.hxir file \(magic b'PK"):
        load(path)


@pytest.mark.parametrize("keep", [0, 3, 10])
def test_a_file_cut_in_the_header_is_truncated(tmp_path, keep):
    save(mlp(), tmp_path / "m.hxir")
    data = (tmp_path / "m.hxir").read_bytes()
    path = write(tmp_path / "cut.hxir", data[:keep])
    with pytest.raises(ModelFormatError, match=r"cut\.hxir: truncated"):
        load(path)


def test_a_file_cut_in_the_model_is_truncated(tmp_path):
    save(mlp(), tmp_path / "m.hxir")
    data = (tmp_path / "m.hxir").read_bytes()
    path = write(tmp_path / "cut.hxir", data[:-5])
    with pytest.raises(ModelFormatError, match=r"cut\.hxir: truncated: expected \d+ bytes"):
        load(path)


def test_a_flipped_byte_is_corrupt(tmp_path):
    save(mlp(), tmp_path / "m.hxir")
    data = bytearray((tmp_path / "m.hxir").read_bytes())
    data[-3] ^= 0xFF
    path = write(tmp_path / "bad.hxir", bytes(data))
    with pytest.raises(ModelFormatError, match=r"bad\.hxir: corrupt"):
        load(path)


def test_trailing_bytes_are_corrupt(tmp_path):
    save(mlp(), tmp_path / "m.hxir")
    path = write(tmp_path / "long.hxir", (tmp_path / "m.hxir").read_bytes() + b"junk")
    with pytest.raises(ModelFormatError, match=r"long\.hxir: corrupt: 4 bytes after"):
        load(path)


def test_an_undecodable_payload_is_corrupt(tmp_path):
    payload = b"\xff\xff\xff\xff"
    path = write(tmp_path / "junk.hxir", header(payload) + payload)
    with pytest.raises(ModelFormatError, match=r"junk\.hxir: corrupt model"):
        load(path)


def test_a_newer_format_version_is_refused(tmp_path):
    payload = serde.to_proto(mlp()).SerializeToString()
    path = write(tmp_path / "new.hxir", header(payload, version=7) + payload)
    with pytest.raises(
        ModelFormatError, match=r"new\.hxir: format version 7 is newer than this hybrix reads \(1\)"
    ):
        load(path)
    model = Model(mlp(), format_version=7)
    save(model, tmp_path / "newer.hxir")
    with pytest.raises(ModelFormatError, match="format version 7 is newer"):
        load(tmp_path / "newer.hxir")


def test_an_unknown_op_is_named(tmp_path):
    message = serde.to_proto(mlp())
    message.graph.nodes[1].op = "NoSuchOp"
    payload = message.SerializeToString()
    path = write(tmp_path / "op.hxir", header(payload) + payload)
    with pytest.raises(ModelFormatError, match=r"op\.hxir: unknown op NoSuchOp in node y"):
        load(path)


def test_an_undefined_input_is_named(tmp_path):
    message = serde.to_proto(mlp())
    message.graph.nodes[1].inputs[0] = "ghost"
    payload = message.SerializeToString()
    path = write(tmp_path / "ghost.hxir", header(payload) + payload)
    with pytest.raises(ModelFormatError, match=r"ghost\.hxir: graph mlp: .*%ghost is not defined"):
        load(path)


def test_constant_data_of_the_wrong_size_is_named(tmp_path):
    graph = Graph("g")
    graph.outputs = [graph.add_constant("c", np.zeros(3, np.float32))]
    message = serde.to_proto(graph)
    message.graph.constants[0].raw_data = b"\x00" * 5
    payload = message.SerializeToString()
    path = write(tmp_path / "size.hxir", header(payload) + payload)
    with pytest.raises(ModelFormatError, match="constant c has 5 bytes, expected 12"):
        load(path)


def test_missing_value_types_are_inferred(tmp_path):
    message = serde.to_proto(mlp())
    del message.graph.value_info[:]
    graph = serde.from_proto(message).graph
    verify(graph)
    assert structurally_equal(graph, mlp())


# -- atomic writes ----------------------------------------------------------------------------
def test_save_replaces_a_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "m.hxir"
    save(mlp(), path)
    save(diamond(), path)
    assert load(path).graph.name == "diamond"
    assert os.listdir(tmp_path) == ["m.hxir"]


def test_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.hxir"
    save(mlp(), path)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(serde.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save(diamond(), path)
    monkeypatch.undo()
    assert load(path).graph.name == "mlp"
    assert os.listdir(tmp_path) == ["m.hxir"]


def test_missing_file_is_a_model_format_error(tmp_path):
    from hybrix.ir import ModelFormatError, load

    with pytest.raises(ModelFormatError, match=r"nothere\.hxir: cannot read"):
        load(tmp_path / "nothere.hxir")
