"""Every pass and pipeline on random graphs: the graph stays valid, its outputs stay equal."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from hybrix.compiler.pipelines import run_pipeline
from hybrix.tests.passes._helpers import assert_same_outputs, copy, run
from hybrix.tests.passes.random_graphs import random_graphs
from hybrix.tests.passes.test_models import PASSES

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("graph_pass", PASSES, ids=lambda p: p.name)
@SETTINGS
@given(drawn=random_graphs())
def test_each_pass_on_random_graphs(graph_pass, drawn):
    graph, inputs = drawn
    before = copy(graph)
    run(graph_pass, graph)
    assert_same_outputs(before, graph, inputs)


@pytest.mark.parametrize("level", ["O1", "O2"])
@SETTINGS
@given(drawn=random_graphs(max_nodes=12))
def test_pipelines_on_random_graphs(level, drawn):
    graph, inputs = drawn
    before = copy(graph)
    run_pipeline(graph, level, inference=True, verify=True)
    assert_same_outputs(before, graph, inputs)
