"""The command line, through click's runner and through the installed `hybrix` script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hybrix import runtime
from hybrix.cli import main, parse_input
from hybrix.ir.ops import all_ops

HYBRIX = Path(sys.executable).with_name("hybrix")


def invoke(*args: str) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def mlp_hxb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "mlp.hxb"
    result = invoke("compile", "mlp", "-o", path, "--bind", "N=2", "--bind", "N=1")
    assert result.exit_code == 0, result.output
    return path


def test_demo_builds_runs_every_executor_and_agrees():
    result = invoke("demo", "--model", "mlp", "--batch", "3")
    assert result.exit_code == 0, result.output
    assert "graph forward(%data: f32[N,784])" in result.output
    assert "FullyConnected(" in result.output
    for step in ("optimize", "memory plan", "stablehlo", "precompile", "write"):
        assert f"\n{step}" in result.output
    for executor in ("precompiled", "stablehlo", "reference", "onnxruntime"):
        assert f"# {executor}" in result.output
    assert "# output (3, 10) float32" in result.output
    assert "every executor agrees" in result.output


def test_compile_writes_a_bundle_and_reports_steps(mlp_hxb):
    session = runtime.load(mlp_hxb)
    assert [str(s) for s in session.inputs] == ["data: f32[N,784]"]
    keys = [e["bindings"] for e in session.bundle.manifest["executables"]]
    assert keys == ["N=2", "N=1"]


def test_compile_mxnet_fixture_with_onnx(fixtures_dir, tmp_path):
    prefix = fixtures_dir / "models" / "mlp"
    out, onnx_out = tmp_path / "m.hxb", tmp_path / "m.onnx"
    result = invoke(
        "compile",
        f"{prefix}-symbol.json",
        "--input",
        "data:4,784",
        "-o",
        out,
        "--onnx",
        onnx_out,
        "--no-precompile",
        "--opt",
        "O2",
    )
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    assert onnx_out.exists()
    io = np.load(f"{prefix}-io.npz")
    session = runtime.load(out)
    assert session.bundle.manifest["executables"] == []
    np.testing.assert_allclose(session.run([io["data"]])[0], io["output"], rtol=1e-4, atol=1e-5)


def test_compile_python_function_source(tmp_path, monkeypatch):
    (tmp_path / "mymodels.py").write_text(
        "from hybrix import nd\ndef build():\n    return lambda x: nd.relu(x) * 2\n"
    )
    monkeypatch.chdir(tmp_path)
    result = invoke("compile", "mymodels:build", "--input", "x:N,3", "-o", "f.hxb")
    assert result.exit_code == 0, result.output
    session = runtime.load(tmp_path / "f.hxb")
    data = np.array([[-1.0, 0.5, 2.0]], np.float32)
    np.testing.assert_allclose(session.run({"x": data})[0], [[0.0, 1.0, 4.0]])
    result = invoke("compile", "mymodels:nothing", "-o", "g.hxb")
    assert result.exit_code == 1
    assert "has no function nothing" in result.output


def test_compile_unknown_source_lists_the_accepted_kinds(tmp_path):
    result = invoke("compile", "no-such-model", "-o", tmp_path / "x.hxb")
    assert result.exit_code == 1
    assert "error: cannot tell what 'no-such-model' is" in result.output
    assert ".hxir file" in result.output
    assert not (tmp_path / "x.hxb").exists()


def test_parse_input():
    assert parse_input("data:N,3,224,224") == ("data", (("N", 3, 224, 224), "float32"))
    assert parse_input("ids:8:int32") == ("ids", ((8,), "int32"))
    with pytest.raises(Exception, match="neither a size nor a name"):
        parse_input("data:3,-1")


def test_run_random_inputs_then_files(mlp_hxb, tmp_path):
    result = invoke("run", mlp_hxb, "--batch", "2")
    assert result.exit_code == 0, result.output
    assert "no --input given: random inputs data float32[2, 784]" in result.output
    assert "executor precompiled" in result.output
    data = np.random.default_rng(5).standard_normal((1, 784)).astype(np.float32)
    np.save(tmp_path / "x.npy", data)
    out = tmp_path / "out.npz"
    result = invoke(
        "run",
        mlp_hxb,
        "--input",
        f"data={tmp_path / 'x.npy'}",
        "--executor",
        "reference",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "executor reference" in result.output
    saved = np.load(out)
    expected = runtime.load(mlp_hxb).run([data])[0]
    name = runtime.load(mlp_hxb).outputs[0].name
    np.testing.assert_allclose(saved[name], expected, rtol=1e-5, atol=1e-5)


def test_run_errors_are_one_line(mlp_hxb, tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((2, 5), np.float32))
    result = invoke("run", mlp_hxb, "--input", f"data={tmp_path / 'bad.npy'}")
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert "input data expects shape [N,784]" in result.output
    assert len(result.output.strip().splitlines()) == 1
    (tmp_path / "broken.hxb").write_bytes(b"PK\x03\x04")
    result = invoke("run", tmp_path / "broken.hxb")
    assert result.exit_code == 1
    assert "not a complete .hxb archive" in result.output


def test_inspect_bundle_and_model(mlp_hxb):
    result = invoke("inspect", mlp_hxb, "--ir", "--passes", "--memory", "--lowering")
    assert result.exit_code == 0, result.output
    assert "hybrix bundle format 2" in result.output
    assert "input  data: float32[N,784]" in result.output
    assert "executable  cpu jaxlib" in result.output
    assert "memory plan [N=2]: arena" in result.output
    assert "stablehlo.dot_general" in result.output or "dot_general" in result.output
    result = invoke("inspect", "lenet", "--passes", "--memory")
    assert result.exit_code == 0, result.output
    assert "Convolution" in result.output
    assert "memory plan [symbols=1]" in result.output


def test_bench_prints_percentiles_and_json(mlp_hxb, tmp_path):
    out = tmp_path / "bench.json"
    result = invoke("bench", mlp_hxb, "--batch", "2", "--warmup", "1", "--runs", "5", "--json", out)
    assert result.exit_code == 0, result.output
    assert "p50 ms" in result.output
    row = json.loads(out.read_text())
    assert row["executor"] == "precompiled"
    assert row["runs"] == 5
    assert 0 < row["p50_ms"] <= row["p99_ms"]


def test_viz_writes_dot(mlp_hxb, tmp_path):
    result = invoke("viz", "lenet", "-o", tmp_path / "lenet.dot")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "lenet.dot").read_text()
    assert text.startswith('digraph "forward"')
    assert "Convolution" in text
    assert "->" in text
    result = invoke("viz", mlp_hxb, "-o", tmp_path / "mlp.svg")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mlp.svg").exists() or (tmp_path / "mlp.dot").exists()


def test_ops_table_lists_every_op():
    result = invoke("ops")
    assert result.exit_code == 0
    assert result.output.strip().endswith(f"{len(all_ops())} operators")
    assert "Convolution" in result.output


def test_ops_missing_facet_lists_only_those():
    result = invoke("ops", "--missing", "onnx")
    assert result.exit_code == 0
    listed = result.output.strip().splitlines()[:-1]
    missing = sorted(op.name for op in all_ops() if op.onnx_fn is None)
    assert missing, "no op lacks an ONNX facet: this test would check nothing"
    assert [line.split()[0] for line in listed] == sorted(missing, key=str.lower)
    assert all("onnx:-" in line and "(" in line for line in listed)  # each states its reason


def test_bad_option_fails_with_a_reason():
    result = invoke("demo", "--model", "nope")
    assert result.exit_code != 0
    assert "nope" in result.output


def test_every_command_has_help_with_examples():
    for command in ("compile", "run", "inspect", "bench", "viz", "demo", "ops"):
        result = invoke(command, "--help")
        assert result.exit_code == 0
        assert "Examples:" in result.output


def _hybrix(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(HYBRIX), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def test_real_subprocess_commands(tmp_path):
    assert HYBRIX.exists(), f"{HYBRIX} is not installed"
    done = _hybrix("compile", "mlp", "-o", "m.hxb", "--bind", "N=1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "\x1b[" not in done.stderr  # no progress display when not on a terminal
    done = _hybrix("run", "m.hxb", "-o", "out.npz", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "random inputs" in done.stdout
    assert (tmp_path / "out.npz").exists()
    done = _hybrix("inspect", "m.hxb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "hybrix bundle format 2" in done.stdout
    done = _hybrix("bench", "m.hxb", "--runs", "3", "--warmup", "0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "items/s" in done.stdout
    done = _hybrix("viz", "m.hxb", "-o", "m.dot", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = _hybrix("run", "missing.hxb", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: missing.hxb: no such bundle"
