"""Lowering whole graphs: results against the ops' numpy refs, the compile cache, input checks."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from hybrix.compiler import cache_info, clear_cache, compile_graph
from hybrix.ir import DType, Graph, HybrixError, ShapeError, TensorType, TypeMismatchError, get_op


def mlp_graph(weights, batch="N"):
    graph = Graph("mlp")
    x = graph.add_input("x", TensorType(DType.float32, (batch, 4)))
    w1 = graph.add_constant("w1", weights[0])
    b1 = graph.add_constant("b1", weights[1])
    w2 = graph.add_constant("w2", weights[2])
    h = graph.add_node("FullyConnected", [x, w1, b1], {"num_hidden": 8}).outputs[0]
    h = graph.add_node("Activation", [h], {"act_type": "tanh"}).outputs[0]
    y = graph.add_node("FullyConnected", [h, w2], {"num_hidden": 3, "no_bias": True}).outputs[0]
    graph.outputs = [graph.add_node("softmax", [y], {"axis": -1}).outputs[0]]
    return graph


def reference(graph, inputs):
    """Evaluate with each op's numpy ref, node by node (independent of the JAX lowering)."""
    env = {id(v): a for v, a in zip(graph.inputs, inputs, strict=True)}
    env.update({id(v): v.const for v in graph.constants})
    for node in graph.nodes:
        result = get_op(node.op).ref_fn(*[env[id(v)] for v in node.inputs], **node.attrs)
        results = result if isinstance(result, tuple) else (result,)
        env.update({id(v): r for v, r in zip(node.outputs, results, strict=True)})
    return [env[id(v)] for v in graph.outputs]


def random_weights(rng):
    shapes = [(8, 4), (8,), (3, 8)]
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def test_compiled_graph_matches_numpy_refs(rng):
    graph = mlp_graph(random_weights(rng))
    x = rng.standard_normal((5, 4)).astype(np.float32)
    (got,) = compile_graph(graph)(x)
    (expected,) = reference(graph, [x])
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)


def test_symbolic_batch_accepts_any_batch(rng):
    compiled = compile_graph(mlp_graph(random_weights(rng)))
    for batch in (1, 3, 7):
        (out,) = compiled(np.ones((batch, 4), np.float32))
        assert out.shape == (batch, 3)


def test_structurally_equal_graphs_share_one_program(rng):
    clear_cache()
    first = compile_graph(mlp_graph(random_weights(rng)))
    second = compile_graph(mlp_graph(random_weights(rng)))
    assert cache_info() == {"hits": 1, "misses": 1, "size": 1}
    x = np.ones((2, 4), np.float32)
    # NOTE: same program, different constants: the outputs must differ
    assert not np.allclose(np.asarray(first(x)[0]), np.asarray(second(x)[0]))


def test_wrong_inputs_are_named(rng):
    compiled = compile_graph(mlp_graph(random_weights(rng), batch=2))
    with pytest.raises(ShapeError, match=r"input x expects shape \[2,4\], got \[3, 4\]"):
        compiled(np.ones((3, 4), np.float32))
    with pytest.raises(TypeMismatchError, match="input x expects dtype float32, got int32"):
        compiled(np.ones((2, 4), np.int32))
    with pytest.raises(HybrixError, match=r"expected 1 inputs \(x\), got 2"):
        compiled(np.ones((2, 4), np.float32), np.ones((2, 4), np.float32))
    # a signature accepted once is remembered; the wrong ones are still refused after it
    compiled(np.ones((2, 4), np.float32))
    compiled(jnp.ones((2, 4), jnp.float32))
    with pytest.raises(ShapeError, match=r"input x expects shape \[2,4\], got \[3, 4\]"):
        compiled(np.ones((3, 4), np.float32))
    with pytest.raises(TypeMismatchError, match="input x expects dtype float32, got int32"):
        compiled(np.ones((2, 4), np.int32))
    with pytest.raises(TypeMismatchError, match=r"input x expects an array .*got list"):
        compiled([[1.0] * 4] * 2)


def test_multi_output_node_lowers(rng):
    graph = Graph("split")
    x = graph.add_input("x", TensorType(DType.float64, (2, 6)))
    node = graph.add_node("split", [x], {"num_outputs": 3, "axis": 1})
    graph.outputs = list(node.outputs)
    data = rng.standard_normal((2, 6))
    outputs = compile_graph(graph)(data)
    for got, want in zip(outputs, np.split(data, 3, axis=1), strict=True):
        np.testing.assert_array_equal(np.asarray(got), want)


@pytest.mark.parametrize(
    ("op", "attrs", "expected"),
    [
        ("Flatten", {}, "(N, 24)"),
        ("Reshape", {"shape": (0, -1)}, "(N, 24)"),
        ("Reshape", {"shape": (-3, -2)}, "(2*N, 3, 4)"),
        ("expand_dims", {"axis": 1}, "(N, 1, 2, 3, 4)"),
        ("squeeze", {"axis": None}, "(N, 2, 3, 4)"),
    ],
)
def test_reshaping_ops_export_with_a_symbolic_batch(op, attrs, expected):
    """jax.export with a symbolic batch: bundles carry one program for every batch size."""
    import jax
    import jax.numpy as jnp
    from jax import export

    from hybrix.compiler import lower_op

    (batch,) = export.symbolic_shape("N")
    function = jax.jit(lower_op(op, get_op(op).check_attrs(attrs)))
    exported = export.export(function)(jax.ShapeDtypeStruct((batch, 2, 3, 4), jnp.float32))
    assert str(exported.out_avals[0].shape) == expected
    (result,) = exported.call(np.ones((5, 2, 3, 4), np.float32))
    assert result.size == 5 * 24
