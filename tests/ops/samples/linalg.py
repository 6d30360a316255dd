"""Samples for the matrix products (ir/ops/linalg.py)."""

import numpy as np

from hybrix.tests.ops.sample import Sample

_rng = np.random.default_rng(1)
_HALF = ("float16", "float32", "float64")


def _normal(*shape):
    return _rng.standard_normal(shape)


SAMPLES = [
    # dot: lhs's last axis (first with transpose_a) against rhs's first (last with transpose_b)
    Sample("dot", [_normal(3, 4), _normal(4, 5)], name="dot", dtypes=_HALF),
    Sample("dot", [_normal(3, 4), _normal(5, 4)], {"transpose_b": True}, name="dot_transpose_b"),
    Sample("dot", [_normal(4, 3), _normal(4, 5)], {"transpose_a": True}, name="dot_transpose_a"),
    Sample(
        "dot",
        [_normal(4, 3), _normal(5, 4)],
        {"transpose_a": True, "transpose_b": True},
        name="dot_transpose_both",
    ),
    Sample("dot", [_normal(4), _normal(4)], name="dot_vectors"),
    Sample("dot", [_normal(4), _normal(4, 3)], name="dot_vector_matrix"),
    Sample("dot", [_normal(3, 4), _normal(4)], name="dot_matrix_vector"),
    Sample("dot", [_normal(2, 3, 4), _normal(4, 5)], name="dot_nd_lhs"),
    Sample("dot", [_normal(3, 4), _normal(4, 2, 5)], name="dot_nd_rhs"),
    Sample(
        "dot", [_normal(4, 2, 3), _normal(4, 5)], {"transpose_a": True}, name="dot_nd_transpose_a"
    ),
    Sample(
        "dot",
        [_normal(3, 4), _normal(5, 2, 4)],
        {"transpose_b": True, "forward_stype": "default"},
        name="dot_nd_transpose_b",
    ),
    Sample("dot", [_normal(0, 4), _normal(4, 3)], name="dot_empty", grad=False),
    Sample("dot", [_normal(1, 1), _normal(1, 1)], name="dot_size1"),
    # batch_dot
    Sample("batch_dot", [_normal(2, 3, 4), _normal(2, 4, 5)], name="batch_dot", dtypes=_HALF),
    Sample(
        "batch_dot",
        [_normal(2, 4, 3), _normal(2, 4, 5)],
        {"transpose_a": True},
        name="batch_dot_transpose_a",
    ),
    Sample(
        "batch_dot",
        [_normal(2, 3, 4), _normal(2, 5, 4)],
        {"transpose_b": True},
        name="batch_dot_transpose_b",
    ),
    Sample(
        "batch_dot",
        [_normal(2, 2, 3, 4), _normal(2, 2, 5, 3)],
        {"transpose_a": True, "transpose_b": True},
        name="batch_dot_4d_transpose_both",
    ),
    Sample("batch_dot", [_normal(1, 1, 3), _normal(1, 3, 1)], name="batch_dot_size1"),
    # khatri_rao
    Sample("khatri_rao", [_normal(2, 3), _normal(4, 3)], name="khatri_rao", dtypes=_HALF),
    Sample("khatri_rao", [_normal(2, 2), _normal(3, 2), _normal(2, 2)], name="khatri_rao_three"),
    Sample("khatri_rao", [_normal(3, 2)], name="khatri_rao_single"),
    # _linalg_gemm2
    Sample(
        "_linalg_gemm2", [_normal(3, 4), _normal(4, 2)], {"alpha": 0.5}, name="gemm2", dtypes=_HALF
    ),
    Sample(
        "linalg_gemm2",
        [_normal(2, 4, 3), _normal(2, 2, 4)],
        {"transpose_a": True, "transpose_b": True},
        name="gemm2_batched_transposed",
    ),
    Sample(
        "_linalg_gemm2",
        [_normal(3, 2, 4, 5), _normal(3, 6, 4, 5)],
        {"axis": 1, "transpose_b": True, "alpha": -2.0},
        name="gemm2_axis1",
    ),
    Sample(
        "_linalg_gemm2",
        [_normal(3, 2, 5), _normal(3, 2, 4)],
        {"axis": -3, "transpose_a": True},
        name="gemm2_axis_negative",
    ),
]
