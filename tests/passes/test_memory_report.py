"""The memory report: its text (golden), its dict, and plans made elsewhere."""

from __future__ import annotations

import json

import pytest

from hybrix.ir import DType, Graph, HybrixError, TensorType
from hybrix.passes.memory import MemoryPlan, plan_memory
from hybrix.passes.memory_report import memory_report

DIAMOND = """\
memory of graph diamond: 4 nodes, 4 values in 2 storages (size-best-fit, 64 B aligned)
  arena               512 B   1.000 x lower bound
  lower bound         512 B   live at step 1, node b (sin)
  no reuse         1.00 KiB   arena saves 50.0%
  external            256 B   1 inputs and constants, not in the arena
in-place: 2 of 4 pairs the ops offer
  %a does not reuse %x (exp a): input is external (graph input or constant)
  %b does not reuse %a (sin b): input is still read after this node (until step 2)
  %c reuses %a (cos c)
  %d reuses %b (elemwise_add d)
live at step 1: 2 values, 512 B
  %a  f32[N,16]  at            0       256 B
  %b  f32[N,16]  at          256       256 B"""


@pytest.fixture
def diamond():
    graph = Graph("diamond")
    x = graph.add_input("x", TensorType(DType.float32, ("N", 16)))
    (a,) = graph.add_node("exp", [x], name="a").outputs
    (b,) = graph.add_node("sin", [a], name="b").outputs
    (c,) = graph.add_node("cos", [a], name="c").outputs
    (d,) = graph.add_node("elemwise_add", [b, c], name="d").outputs
    graph.outputs = [d]
    return graph


def test_report_text(diamond):
    assert str(memory_report(diamond, bindings={"N": 4})) == DIAMOND


def test_report_dict(diamond):
    report = memory_report(diamond, bindings={"N": 4}).to_dict()
    json.dumps(report)
    assert report["arena_size"] == report["lower_bound"] == 512
    assert report["no_reuse"] == 1024
    assert report["peak_step"] == 1
    assert report["peak_values"] == ["a", "b"]
    assert report["inplace"] == {"c": "a", "d": "b"}
    assert set(report["inplace_rejected"]) == {"a<-x", "b<-a"}


def test_report_of_a_given_plan(diamond):
    plan = plan_memory(diamond, bindings={"N": 4}, allow_inplace=False)
    plan = MemoryPlan.from_json(plan.to_json())
    text = str(memory_report(diamond, plan))  # no bindings: sizes come from the plan
    assert "in-place: 0 of 4 pairs" in text
    assert "%c does not reuse %a (cos c): not taken by this plan (allow_inplace=False)" in text
    assert "external     ? (symbolic)" in text
    assert "live at step 2: 3 values, 768 B" in text


def test_report_needs_bindings_to_plan(diamond):
    with pytest.raises(HybrixError, match="symbolic dimension 'N' with no binding"):
        memory_report(diamond)
