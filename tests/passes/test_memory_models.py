"""Memory plans of real models and random graphs: valid, near the lower bound, and running
every op's numpy kernel inside the arena gives the outputs of a plain run."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import hybrix
from hybrix import nd
from hybrix.models.builtin import INPUT_SHAPES, NETS, init_params
from hybrix.passes.memory import STRATEGIES, check_plan, plan_memory
from hybrix.tests.conftest import FIXTURES
from hybrix.tests.passes.random_graphs import random_graphs
from hybrix.tests.passes.test_memory import assert_valid_plan, run_in_arena, run_plain


def traced(name):
    params = init_params(name)
    data = nd.ones((2, *INPUT_SHAPES[name]))
    return hybrix.trace(lambda x: NETS[name](params, x), data, symbolic={0: "N"})


@pytest.mark.parametrize("name", sorted(NETS))
@pytest.mark.parametrize(("batch", "strategy"), [(1, None), (3, None), (2, "pool-16")])
def test_builtin_models(name, batch, strategy, rng):
    graph = traced(name)
    bindings = {"N": batch}
    plan = plan_memory(graph, bindings=bindings, strategy=strategy)
    assert_valid_plan(graph, plan, bindings)
    check_plan(graph, plan, bindings)
    assert plan.arena_size <= 1.05 * plan.lower_bound
    assert plan.arena_size < plan.no_reuse / 2
    inputs = [rng.standard_normal((batch, *INPUT_SHAPES[name])).astype(np.float32)]
    expected = run_plain(graph, inputs)
    got = run_in_arena(graph, plan, inputs, bindings)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def resnet18():
    symbol = FIXTURES / "models" / "resnet18_v1-symbol.json"
    if not symbol.is_file():
        pytest.skip(f"fixture {symbol} not found")
    from hybrix.importers.mxnet import load

    params = FIXTURES / "models" / "resnet18_v1-0000.params"
    return load(symbol, params, input_shapes={"data": ("N", 3, 32, 32)}).graph


@pytest.mark.parametrize("allow_inplace", [True, False])
def test_resnet18_plan(resnet18, allow_inplace):
    bindings = {"N": 2}
    plan = plan_memory(resnet18, bindings=bindings, allow_inplace=allow_inplace)
    assert_valid_plan(resnet18, plan, bindings)
    assert plan.arena_size <= 1.05 * plan.lower_bound
    # every Activation after a BatchNorm and every residual add can work in place
    assert len(plan.inplace) == (25 if allow_inplace else 0)
    arenas = []
    for strategy in STRATEGIES:
        forced = plan_memory(
            resnet18, bindings=bindings, allow_inplace=allow_inplace, strategy=strategy
        )
        assert_valid_plan(resnet18, forced, bindings)
        assert forced.strategy == strategy
        arenas.append(forced.arena_size)
    assert plan.arena_size == min(arenas)


def test_resnet18_runs_in_its_arena(resnet18, rng):
    bindings = {"N": 1}
    plan = plan_memory(resnet18, bindings=bindings)
    inputs = [rng.standard_normal((1, 3, 32, 32)).astype(np.float32)]
    expected = run_plain(resnet18, inputs)
    got = run_in_arena(resnet18, plan, inputs, bindings)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs(max_nodes=10))
def test_random_graphs(case):
    graph, inputs = case
    expected = run_plain(graph, inputs)
    for allow_inplace, strategy in itertools.product((True, False), (None, *STRATEGIES)):
        plan = plan_memory(graph, allow_inplace=allow_inplace, alignment=16, strategy=strategy)
        assert_valid_plan(graph, plan)
        check_plan(graph, plan)
        for a, b in zip(run_in_arena(graph, plan, inputs), expected, strict=True):
            np.testing.assert_array_equal(a, b)


def test_optimised_resnet18_reuses_fused_inputs(resnet18, rng):
    from hybrix.compiler.pipelines import optimize
    from hybrix.ir.serde import dumps, loads

    graph = loads(dumps(resnet18)).graph  # a copy: optimize works in place
    optimize(graph, "O2", inference=True)
    assert any(node.op == "_fused" for node in graph.nodes)
    bindings = {"N": 1}
    plan = plan_memory(graph, bindings=bindings)
    assert_valid_plan(graph, plan, bindings)
    assert plan.arena_size <= 1.05 * plan.lower_bound
    assert any(graph.find_value(out).producer.op == "_fused" for out in plan.inplace)
    inputs = [rng.standard_normal((1, 3, 32, 32)).astype(np.float32)]
    expected = run_plain(graph, inputs)
    for a, b in zip(run_in_arena(graph, plan, inputs, bindings), expected, strict=True):
        np.testing.assert_array_equal(a, b)
