"""Bundles round trip: graph -> bundle -> load -> run equals the in-process compiled graph."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import hybrix
from hybrix import runtime
from hybrix.compiler import compile_graph
from hybrix.compiler.bundle import build_bundle
from hybrix.ir import DType, Graph, HybrixError, ShapeError, TensorType, TypeMismatchError
from hybrix.runtime import MemoryPlanData, ReferenceExecutor

EXECUTORS = ["auto", "xla", "precompiled", "stablehlo", "reference"]


@pytest.mark.parametrize("executor", EXECUTORS)
def test_round_trip_matches_in_process_compile(mlp_bundle, executor):
    session = runtime.load(mlp_bundle["path"], executor=executor)
    (output,) = session.run([mlp_bundle["data"]])
    np.testing.assert_allclose(output, mlp_bundle["expected"], rtol=1e-5, atol=1e-5)
    expected_kind = {"auto": "precompiled", "xla": "precompiled"}.get(executor, executor)
    assert session.last_executor == expected_kind


def test_other_batch_falls_back_and_still_matches(mlp_bundle):
    session = runtime.load(mlp_bundle["path"])
    data = np.random.default_rng(1).standard_normal((3, 784)).astype(np.float32)
    expected = np.asarray(compile_graph(mlp_bundle["graph"])(data)[0])
    (output,) = session.run({"data": data})
    assert session.last_executor in ("stablehlo", "reference")
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)


def test_signatures_and_dict_outputs(mlp_bundle):
    session = runtime.load(mlp_bundle["path"])
    assert [(s.name, s.dtype, s.shape) for s in session.inputs] == [
        ("data", DType.float32, ("N", 784))
    ]
    assert session.outputs[0].shape == ("N", 10)
    result = session.run({"data": mlp_bundle["data"]}, as_dict=True)
    assert list(result) == [session.outputs[0].name]


def test_bad_inputs_are_named(mlp_bundle):
    session = runtime.load(mlp_bundle["path"], executor="reference")
    with pytest.raises(HybrixError, match=r"missing \['data'\], unknown \['x'\]"):
        session.run({"x": mlp_bundle["data"]})
    with pytest.raises(TypeMismatchError, match="input data expects dtype float32, got float64"):
        session.run([mlp_bundle["data"].astype(np.float64)])
    with pytest.raises(ShapeError, match=r"input data expects shape \[N,784\]"):
        session.run([np.zeros((2, 783), np.float32)])
    with pytest.raises(HybrixError, match="expected 1 inputs"):
        session.run([])
    with pytest.raises(HybrixError, match="unknown executor"):
        runtime.load(mlp_bundle["path"], executor="fast")


def test_manifest_records_versions_hashes_and_passes(mlp_bundle):
    import jax

    bundle = runtime.open_bundle(mlp_bundle["path"])
    manifest = bundle.manifest
    assert manifest["format_version"] == runtime.FORMAT_VERSION == 2
    assert manifest["jax_version"] == jax.__version__
    assert manifest["inputs"] == [{"name": "data", "dtype": "float32", "shape": ["N", 784]}]
    assert manifest["targets"] == ["cpu"]
    assert manifest["opt"] == "O1"
    assert manifest["passes"]
    with zipfile.ZipFile(mlp_bundle["path"]) as archive:
        names = set(archive.namelist()) - {"manifest.json"}
        assert names == set(manifest["members"])
        for name in names:
            digest = hashlib.sha256(archive.read(name)).hexdigest()
            assert manifest["members"][name]["sha256"] == digest
    assert {"model.hxir", "params.bin", "params.json"} <= names
    assert any(name.startswith("stablehlo/cpu") for name in names)
    assert any(name.startswith("executable/cpu-jaxlib") for name in names)
    assert any(name.startswith("memory/") for name in names)


def test_params_are_mapped_in_place_and_aligned(mlp_bundle):
    session = runtime.load(mlp_bundle["path"], executor="reference")
    view = session.bundle.view("params.bin")
    address = np.frombuffer(view, np.uint8).ctypes.data
    assert address % 64 == 0
    for array in session.params:
        assert not array.flags.owndata
        assert not array.flags.writeable
        assert array.ctypes.data % 64 == 0
    graph = session.graph
    assert len(graph.constants) == len(session.params)
    data = mlp_bundle["data"]
    np.testing.assert_allclose(
        np.asarray(compile_graph(graph)(data)[0]), mlp_bundle["expected"], rtol=1e-6
    )


def _chain_graph() -> Graph:
    graph = Graph("chain")
    x = graph.add_input("x", TensorType(DType.float32, ("N", 4)))
    h = graph.add_node("relu", [x]).outputs[0]
    h = graph.add_node("_mul_scalar", [h], {"scalar": 3.0}).outputs[0]
    graph.outputs = [graph.add_node("negative", [h]).outputs[0]]
    return graph


def test_reference_executor_writes_into_the_planned_arena(rng):
    graph = _chain_graph()
    names = [node.outputs[0].name for node in graph.nodes]
    # by hand: 2x4 float32 = 32 bytes; the first and last values share bytes [0, 32)
    plan = MemoryPlanData(
        {"N": 2}, 64, {names[0]: (0, 0, 32), names[1]: (1, 32, 32), names[2]: (0, 0, 32)}
    )
    executor = ReferenceExecutor(graph, [], [plan])
    data = rng.standard_normal((2, 4)).astype(np.float32)
    (output,) = executor.run([data], {"N": 2})
    np.testing.assert_allclose(output, -3 * np.maximum(data, 0), rtol=1e-6)
    arena, views = executor._arena({"N": 2})
    assert arena is not None
    assert arena.nbytes == 64
    assert np.shares_memory(views[names[2]], arena)
    np.testing.assert_allclose(views[names[1]], 3 * np.maximum(data, 0), rtol=1e-6)
    (again,) = executor.run([data + 1], {"N": 2})  # the arena is reused, outputs are copies
    np.testing.assert_allclose(output, -3 * np.maximum(data, 0), rtol=1e-6)
    np.testing.assert_allclose(again, -3 * np.maximum(data + 1, 0), rtol=1e-6)
    (other,) = executor.run([data[:1]], {"N": 1})  # no plan for N=1: separate arrays
    np.testing.assert_allclose(other, output[:1], rtol=1e-6)


def test_reference_executor_rejects_a_plan_that_does_not_fit():
    graph = _chain_graph()
    name = graph.nodes[0].outputs[0].name
    executor = ReferenceExecutor(graph, [], [MemoryPlanData({"N": 2}, 16, {name: (0, 0, 32)})])
    with pytest.raises(runtime.BundleCorruptError, match=f"%{name}.*needs 32 bytes"):
        executor.run([np.zeros((2, 4), np.float32)], {"N": 2})


def test_memory_plan_of_the_bundle_is_used(mlp_bundle):
    session = runtime.load(mlp_bundle["path"], executor="reference")
    session.run([mlp_bundle["data"]])
    arena, views = session._reference._arena({"N": 2})
    entry = session.bundle.manifest["memory_plans"][0]
    assert entry["bindings"] == "N=2"
    assert arena is not None
    assert arena.nbytes == entry["arena_size"]
    assert views


def test_params_argument_freezes_inputs(tmp_path, rng):
    graph = Graph("affine")
    x = graph.add_input("x", TensorType(DType.float32, ("N", 3)))
    w = graph.add_input("w", TensorType(DType.float32, (2, 3)))
    graph.outputs = [
        graph.add_node("FullyConnected", [x, w], {"num_hidden": 2, "no_bias": True}).outputs[0]
    ]
    weight = rng.standard_normal((2, 3)).astype(np.float32)
    build_bundle(graph, {"w": weight}, tmp_path / "affine.hxb", bindings=[{"N": 5}])
    assert [v.name for v in graph.inputs] == ["x", "w"]  # the caller's graph is unchanged
    session = runtime.load(tmp_path / "affine.hxb")
    assert [s.name for s in session.inputs] == ["x"]
    data = rng.standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(session.run([data])[0], data @ weight.T, rtol=1e-5)
    with pytest.raises(HybrixError, match="name no input"):
        build_bundle(graph, {"nope": weight}, tmp_path / "bad.hxb")
    with pytest.raises(HybrixError, match="unknown target"):
        build_bundle(graph, None, tmp_path / "bad.hxb", targets=("abacus",))
    assert not (tmp_path / "bad.hxb").exists()


@pytest.mark.parametrize("name", ["mlp", "lenet"])
def test_mxnet_fixture_models_round_trip(fixtures_dir, tmp_path, name):
    from hybrix.importers import mxnet

    prefix = fixtures_dir / "models" / name
    io = np.load(f"{prefix}-io.npz")
    shape = ("N", *io["data"].shape[1:])
    model = mxnet.load(
        f"{prefix}-symbol.json", f"{prefix}-0000.params", input_shapes={"data": shape}
    )
    path = tmp_path / f"{name}.hxb"
    build_bundle(model, None, path, bindings=[{"N": io["data"].shape[0]}])
    for executor in ("precompiled", "stablehlo", "reference"):
        (output,) = runtime.load(path, executor=executor).run([io["data"]])
        np.testing.assert_allclose(output, io["output"], rtol=1e-4, atol=1e-5)


def test_resnet18_fixture_round_trip(fixtures_dir, tmp_path):
    from hybrix.importers import mxnet

    prefix = fixtures_dir / "models" / "resnet18_v1"
    io = np.load(f"{prefix}-io.npz")
    model = mxnet.load(
        f"{prefix}-symbol.json", f"{prefix}-0000.params", input_shapes={"data": io["data"].shape}
    )
    path = tmp_path / "resnet18.hxb"
    build_bundle(model, None, path)
    for executor in ("precompiled", "reference"):
        (output,) = runtime.load(path, executor=executor).run([io["data"]])
        np.testing.assert_allclose(output, io["output"], rtol=1e-3, atol=2e-4)


_BLOCK_JAX = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError('blocked for this test: ' + name)
sys.meta_path.insert(0, Block())
"""


def _run_blocked(blocked: set[str], body: str) -> subprocess.CompletedProcess:
    code = _BLOCK_JAX.format(blocked=blocked) + body
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_runtime_imports_and_runs_without_jax(mlp_bundle, tmp_path):
    np.save(tmp_path / "data.npy", mlp_bundle["data"])
    body = f"""
import numpy as np
import hybrix.runtime as rt
session = rt.load({str(mlp_bundle["path"])!r})
out = session.run([np.load({str(tmp_path / "data.npy")!r})])[0]
np.save({str(tmp_path / "out.npy")!r}, out)
assert 'jax' not in sys.modules and 'jaxlib' not in sys.modules
print(session.last_executor)
"""
    result = _run_blocked({"jax", "jaxlib"}, body)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "reference"
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), mlp_bundle["expected"], rtol=1e-5)


def test_precompiled_executable_runs_with_jaxlib_but_no_jax(mlp_bundle, tmp_path):
    np.save(tmp_path / "data.npy", mlp_bundle["data"])
    body = f"""
import numpy as np
import hybrix.runtime as rt
session = rt.load({str(mlp_bundle["path"])!r}, executor="precompiled")
data = np.load({str(tmp_path / "data.npy")!r})
out = session.run([data])[0]
again = session.run({{"data": data}})[0]
assert (out == again).all()
np.save({str(tmp_path / "out.npy")!r}, out)
assert 'jax' not in sys.modules
print(session.last_executor)
"""
    result = _run_blocked({"jax"}, body)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "precompiled"
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), mlp_bundle["expected"], rtol=1e-5)
    result = _run_blocked(
        {"jax"},
        f"""
import hybrix.runtime as rt
rt.load({str(mlp_bundle["path"])!r}, executor="stablehlo")
""",
    )
    assert result.returncode != 0
    assert "the xla executor needs jax, which is not installed" in result.stderr


def test_graph_and_build_report(mlp_bundle):
    graph = runtime.load(mlp_bundle["path"], executor="reference").graph
    assert hybrix.ir.structurally_equal(graph, mlp_bundle["graph"])
    report = mlp_bundle["report"]
    assert [step for step, _, _ in report.steps] == [
        "optimize",
        "params",
        "memory plan",
        "stablehlo",
        "precompile",
        "write",
    ]
    assert json.loads(runtime.open_bundle(mlp_bundle["path"]).read("params.json"))


def test_precompiled_executable_survives_a_warm_persistent_cache(tmp_path):
    # jax 0.10 CPU: an executable served by the persistent cache serializes without its
    # kernels; the bundle must compile its own (compiler.cache_dir.persistent_cache_bypassed)
    script = f"""
import contextlib, numpy as np
from hybrix import runtime
from hybrix.compiler import bundle, cache_dir
import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})
from conftest import mlp_graph
cache_dir.enable_compilation_cache(0.0)
data = np.ones((2, 784), np.float32)
bypass = bundle.persistent_cache_bypassed
bundle.persistent_cache_bypassed = contextlib.nullcontext  # the first build fills the cache
bundle.build_bundle(mlp_graph(), None, {str(tmp_path / "a.hxb")!r}, bindings=[{{"N": 2}}])
bundle.persistent_cache_bypassed = bypass
bundle.build_bundle(mlp_graph(), None, {str(tmp_path / "b.hxb")!r}, bindings=[{{"N": 2}}])
session = runtime.load({str(tmp_path / "b.hxb")!r}, executor="precompiled")
(output,) = session.run([data])
assert session.last_executor == "precompiled"
print(float(np.asarray(output).sum()))
"""
    env = {**os.environ, "HYBRIX_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert any((tmp_path / "cache" / "xla").iterdir()), "the first build wrote the cache"
