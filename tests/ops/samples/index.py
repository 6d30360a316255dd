"""Samples for the indexing and ordering ops (ir/ops/index.py).

Index inputs are float64 here (cast to each dtype, as MXNet passes float32 indices) or
int32. Data for the ordering ops has well separated values so the float64 finite
differences never cross a tie.
"""

import numpy as np

from hybrix.tests.ops.sample import Sample

_rng = np.random.default_rng(1)
_HALF = ("float16", "float32", "float64")


def _normal(*shape):
    return _rng.standard_normal(shape)


def _distinct(*shape):
    """Values at least 0.4 apart, in random order."""
    size = int(np.prod(shape))
    return (_rng.permutation(size) * 0.5 + _rng.uniform(0, 0.1, size)).reshape(shape) - size / 4


def _index(*values):
    """Float64 indices: one argument as it is (a scalar or nested list), several as a list."""
    return np.asarray(values[0] if len(values) == 1 else values, dtype=np.float64)


SAMPLES = [
    # take: out-of-range indices are clipped or wrapped; 'raise' behaves as 'clip'
    Sample(
        "take",
        [_normal(5, 3), _index([0, 4], [2, 7])],
        {"axis": 0, "mode": "clip"},
        name="take_axis0_clip",
        dtypes=_HALF,
    ),
    Sample(
        "take",
        [_normal(3, 5), _index(1, -1, 6, -7)],
        {"axis": 1, "mode": "wrap"},
        name="take_axis1_wrap",
    ),
    Sample(
        "take",
        [_normal(2, 3, 4), _index([[-3, 1]])],
        {"axis": -1, "mode": "raise"},
        name="take_negative_axis_raise",
    ),
    Sample("take", [_normal(4, 3), np.asarray([3, 0, 0, 2], np.int32)], name="take_int_indices"),
    Sample("take", [_normal(4, 3), _index(2.7)], name="take_scalar_index"),
    Sample("take", [_normal(4, 3), np.zeros((0,))], name="take_empty_indices", grad=False),
    # pick: index without the axis, or with it kept as size 1
    Sample("pick", [_normal(3, 4), _index(0, 3, 9)], name="pick_last_axis_clip", dtypes=_HALF),
    Sample(
        "pick",
        [_normal(3, 4), _index([[2, -1, 5, 0]])],
        {"axis": 0, "keepdims": True, "mode": "wrap"},
        name="pick_axis0_keepdims_wrap",
    ),
    Sample(
        "pick",
        [_normal(2, 3, 4), _index([[1, 0, 2, 1]], [[0, 2, 1, 0]])],
        {"axis": 1},
        name="pick_same_rank_index",
    ),
    Sample("pick", [_normal(5), _index(3)], {"axis": 0}, name="pick_vector"),
    # one_hot: negative and too-large indices give a row of off_value
    Sample("one_hot", [_index([3, 4, 0], [1, 3, 0])], {"depth": 5}, name="one_hot"),
    Sample(
        "one_hot",
        [_index(-1, 5, 2.7, 1)],
        {"depth": 4, "on_value": 2.5, "off_value": -1.0, "dtype": "float64"},
        name="one_hot_values_out_of_range",
    ),
    Sample(
        "one_hot",
        [np.asarray([[0], [2]], np.int32)],
        {"depth": 3, "dtype": "int32"},
        name="one_hot_int32",
    ),
    Sample("one_hot", [_index(1, 0)], {"depth": 3, "dtype": "float16"}, name="one_hot_float16"),
    Sample("one_hot", [np.zeros((0, 2))], {"depth": 3}, name="one_hot_empty"),
    # gather_nd: indices (M, ...) address the first M axes; negatives count from the end
    Sample(
        "gather_nd",
        [_normal(3, 4, 2), _index([0, 2, -1, 1, 2], [3, 0, 1, -4, 2])],
        name="gather_nd_two_axes",
        dtypes=_HALF,
    ),
    Sample(
        "gather_nd",
        [_normal(3, 4), _index([[0, 2], [1, 1]], [[3, 0], [-1, 2]])],
        name="gather_nd_full_index",
    ),
    Sample("gather_nd", [_normal(3, 4), _index([2])], name="gather_nd_vector_index"),
    # topk
    Sample(
        "topk",
        [_distinct(3, 6)],
        {"k": 2, "axis": -1, "ret_typ": "value"},
        name="topk_value",
        dtypes=_HALF,
    ),
    Sample(
        "topk", [_distinct(3, 6)], {"k": 2}, name="topk_indices_default", grad=False, dtypes=_HALF
    ),
    Sample(
        "topk",
        [_distinct(4, 3)],
        {"k": 0, "axis": 0, "ret_typ": "both", "is_ascend": True},
        name="topk_both_axis0_ascend_full",
    ),
    Sample(
        "topk",
        [_distinct(2, 3, 4)],
        {"k": 3, "axis": 1, "ret_typ": "both", "dtype": "int32"},
        name="topk_both_middle_axis_int32",
    ),
    Sample(
        "topk",
        [_distinct(3, 4)],
        {"k": 5, "axis": None, "ret_typ": "value"},
        name="topk_flattened_value",
    ),
    Sample(
        "topk",
        [_distinct(3, 4)],
        {"k": 5, "axis": None, "ret_typ": "mask"},
        name="topk_flattened_mask",
        grad=False,
    ),
    Sample(
        "topk",
        [_distinct(2, 5, 3)],
        {"k": 2, "axis": 1, "ret_typ": "mask", "is_ascend": True},
        name="topk_mask_axis1_ascend",
        grad=False,
    ),
    Sample(
        "topk",
        [np.asarray([[3, 1, 3, 2], [0, 5, 5, 5]], np.int32)],
        {"k": 2, "ret_typ": "both"},
        name="topk_int_data_ties",
    ),
    Sample(
        "topk",
        [np.asarray([[3, 1, 3, 2]], np.uint8)],
        {"k": 3, "ret_typ": "both", "is_ascend": True},
        name="topk_uint8_ascend",
    ),
    Sample(
        "topk",
        [np.zeros((0, 4))],
        {"k": 2, "ret_typ": "value"},
        name="topk_empty_batch",
        grad=False,
    ),
    # sort, argsort
    Sample("sort", [_distinct(3, 5)], name="sort_last_axis", dtypes=_HALF),
    Sample("sort", [_distinct(4, 3)], {"axis": 0, "is_ascend": False}, name="sort_axis0_desc"),
    Sample("sort", [_distinct(2, 3)], {"axis": None}, name="sort_flattened"),
    Sample("sort", [_distinct(1, 1)], name="sort_size1"),
    Sample("argsort", [_distinct(3, 5)], name="argsort_last_axis", dtypes=_HALF),
    Sample(
        "argsort",
        [_distinct(4, 3)],
        {"axis": -2, "is_ascend": False, "dtype": "int32"},
        name="argsort_axis0_desc_int32",
    ),
    Sample(
        "argsort", [_distinct(2, 3)], {"axis": None, "dtype": "float64"}, name="argsort_flattened"
    ),
    Sample(
        "argsort",
        [np.asarray([2.0, 1.0, 2.0, 1.0])],
        {"is_ascend": False},
        name="argsort_ties_keep_order",
    ),
]
