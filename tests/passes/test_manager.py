"""The pass manager: results, fixpoint, requires/invalidates, verification, IR dumps."""

from __future__ import annotations

import pytest

from hybrix.ir import parse
from hybrix.passes import PassError, PassManager, eliminate_dead_code, graph_pass, simplify

TEXT = """
graph g(%x: f32[2,3]) {
  %a = negative(%x)
  %b = negative(%a)
  %dead = exp(%x)
  return %b
}
"""


def test_results_record_each_pass_run():
    graph = parse(TEXT)
    results = PassManager([simplify, eliminate_dead_code], verify=True).run(graph)
    first = results[0]
    assert (first.name, first.changed, first.nodes_before, first.nodes_after) == (
        "simplify",
        True,
        3,
        1,
    )
    assert first.seconds >= 0
    assert [r.name for r in results] == ["simplify", "eliminate_dead_code"] * 2
    assert results[1].changes == ["removed exp node dead"]
    assert not results[-1].changed
    assert not results[-2].changed
    assert str(graph).count("=") == 0  # return %x: no node left


def test_without_fixpoint_each_pass_runs_once():
    results = PassManager([simplify, eliminate_dead_code], fixpoint=False).run(parse(TEXT))
    assert len(results) == 2


def test_a_pass_that_breaks_the_graph_is_named():
    @graph_pass()
    def break_types(graph):
        graph.nodes[0].outputs[0].type = graph.nodes[0].outputs[0].type.with_shape((7,))
        return True

    with pytest.raises(PassError, match="pass break_types left graph g invalid"):
        PassManager([break_types], verify=True).run(parse(TEXT))


def test_requires_types_reruns_inference_after_an_invalidating_pass():
    @graph_pass(invalidates=("types",))
    def touch(graph):
        return not graph.constants and graph.add_constant("k", [1.0]) is not None

    @graph_pass(requires=("types",))
    def reader(graph):
        return False

    results = PassManager([touch, reader], fixpoint=False).run(parse(TEXT))
    assert [r.name for r in results] == ["touch", "infer_types", "reader"]


def test_rejects_plain_functions():
    with pytest.raises(PassError, match="not a @graph_pass"):
        PassManager([lambda graph: False])


def test_dump_ir_writes_before_and_after(tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRIX_DUMP_IR", str(tmp_path))
    PassManager([simplify], fixpoint=False).run(parse(TEXT))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["g.000.simplify.after.hxir.txt", "g.000.simplify.before.hxir.txt"]
    assert "negative" in (tmp_path / names[1]).read_text()
    assert "negative" not in (tmp_path / names[0]).read_text()


def test_verify_env_turns_verification_on(monkeypatch):
    monkeypatch.setenv("HYBRIX_VERIFY", "1")
    assert PassManager([simplify]).verify
    monkeypatch.setenv("HYBRIX_VERIFY", "0")
    assert not PassManager([simplify]).verify
