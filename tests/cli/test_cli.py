"""The command line: the demo main job and the operator coverage table."""

from __future__ import annotations

from click.testing import CliRunner

from hybrix.cli import main
from hybrix.ir.ops import all_ops


def test_demo_traces_prints_compiles_and_runs():
    result = CliRunner().invoke(main, ["demo", "--model", "mlp", "--batch", "3"])
    assert result.exit_code == 0, result.output
    assert "graph forward(%x: f32[N,784])" in result.output
    assert "FullyConnected(" in result.output
    assert "# output (3, 10) float32" in result.output
    assert "max |compiled - eager| = 0.00e+00" in result.output


def test_ops_table_lists_every_op():
    result = CliRunner().invoke(main, ["ops"])
    assert result.exit_code == 0
    assert result.output.strip().endswith(f"{len(all_ops())} operators")
    assert "Convolution" in result.output


def test_ops_missing_facet_lists_only_those():
    result = CliRunner().invoke(main, ["ops", "--missing", "onnx"])
    assert result.exit_code == 0
    listed = result.output.strip().splitlines()[:-1]
    assert all("onnx:-" in line for line in listed)


def test_bad_option_fails_with_a_reason():
    result = CliRunner().invoke(main, ["demo", "--model", "nope"])
    assert result.exit_code != 0
    assert "nope" in result.output
