"""Samples for the shape-manipulation ops (ir/ops/shape.py)."""

import numpy as np

from hybrix.tests.ops.sample import Sample

_rng = np.random.default_rng(1)


def _x(*shape):
    return _rng.standard_normal(shape)


_HALF = ("float16", "float32", "float64")

RESHAPE = [
    Sample("Reshape", [_x(2, 3, 4)], {"shape": (4, 0, 2)}, dtypes=_HALF, name="reshape_copy0"),
    Sample("Reshape", [_x(2, 3, 4)], {"shape": (6, 1, -1)}, name="reshape_infer"),
    Sample("Reshape", [_x(2, 3, 4)], {"shape": (-1,)}, name="reshape_all"),
    Sample("Reshape", [_x(2, 3, 4)], {"shape": (-2, 1, 1)}, name="reshape_rest"),
    Sample("Reshape", [_x(2, 3, 4, 5)], {"shape": (-3, -3)}, name="reshape_merge"),
    Sample("Reshape", [_x(2, 3, 4)], {"shape": (2, -4, -1, 3, -2)}, name="reshape_split"),
    Sample("Reshape", [_x(2, 3, 4)], {"shape": (-4, 1, 2, -2)}, name="reshape_split_first"),
    Sample("Reshape", [_x(10, 5, 4)], {"shape": (-1, 0), "reverse": True}, name="reshape_rev"),
    Sample("Reshape", [_x(2, 0, 3)], {"shape": (0, -1)}, name="reshape_empty"),
    Sample("reshape", [_x(1, 1)], {"shape": (1,)}, name="reshape_alias_size1"),
    Sample("Flatten", [_x(2, 3, 4)], dtypes=_HALF),
    Sample("flatten", [_x(5)], name="flatten_rank1"),
    Sample("Flatten", [_x(2, 0, 3)], name="flatten_empty"),
]

AXES = [
    Sample("transpose", [_x(2, 3, 4)], dtypes=_HALF, name="transpose_reverse"),
    Sample("transpose", [_x(2, 3, 4, 5)], {"axes": (0, 2, 1, 3)}, name="transpose_axes"),
    Sample("transpose", [_x(2, 0, 3)], {"axes": (-1, 0, 1)}, name="transpose_negative_empty"),
    Sample("SwapAxis", [_x(2, 3, 4)], {"dim1": 0, "dim2": 2}),
    Sample("swapaxes", [_x(2, 3, 4)], {"dim1": -1, "dim2": 1}, name="swapaxes_negative"),
    Sample("SwapAxis", [_x(2, 3)], name="swapaxis_default"),
    Sample("expand_dims", [_x(2, 3)], {"axis": 1}),
    Sample("expand_dims", [_x(2, 3)], {"axis": -1}, name="expand_dims_last"),
    Sample("expand_dims", [_x(0, 3)], {"axis": 0}, name="expand_dims_empty"),
    Sample("squeeze", [_x(1, 3, 1, 2)]),
    Sample("squeeze", [_x(1, 3, 1, 2)], {"axis": (-2,)}, name="squeeze_axis"),
    Sample("squeeze", [_x(1, 3, 1, 2)], {"axis": (0, 2)}, name="squeeze_two"),
    Sample("squeeze", [_x(1, 1)], name="squeeze_all_keeps_one"),
    Sample("squeeze", [_x(1, 0)], {"axis": (0,)}, name="squeeze_empty"),
]

JOIN = [
    Sample("Concat", [_x(2, 1, 3), _x(2, 2, 3), _x(2, 3, 3)], dtypes=_HALF),
    Sample("concat", [_x(2, 3), _x(4, 3)], {"dim": 0, "num_args": 2}, name="concat_dim0"),
    Sample("Concat", [_x(2, 3), _x(2, 0)], {"dim": -1}, name="concat_negative_empty"),
    Sample("Concat", [_x(2, 3)], name="concat_single"),
    Sample("stack", [_x(2, 3), _x(2, 3)], {"axis": 1}, dtypes=_HALF),
    Sample("stack", [_x(2, 3), _x(2, 3), _x(2, 3)], {"axis": -1, "num_args": 3}, name="stack_last"),
    Sample("stack", [_x(0, 3)], name="stack_empty"),
    Sample("split", [_x(2, 6, 3)], {"num_outputs": 3}, dtypes=_HALF),
    Sample(
        "SliceChannel",
        [_x(2, 3, 4)],
        {"num_outputs": 3, "axis": 1, "squeeze_axis": True},
        name="split_squeeze",
    ),
    Sample("split", [_x(4, 3)], {"num_outputs": 2, "axis": -2}, name="split_negative"),
    Sample("split", [_x(2, 3)], {"num_outputs": 1, "axis": 0}, name="split_one"),
    Sample("split", [_x(0, 4)], {"num_outputs": 2}, name="split_empty"),
]

SLICE = [
    Sample(
        "slice",
        [_x(4, 6, 5)],
        {"begin": (1, 0, None), "end": (3, None, None), "step": (None, 2, -1)},
        dtypes=_HALF,
        name="slice_step",
    ),
    Sample("slice", [_x(3, 4)], {"begin": (0, 1), "end": (2, 4)}, name="slice_plain"),
    Sample(
        "slice",
        [_x(3, 4)],
        {"begin": (None, 0), "end": (None, 3), "step": (-1, 2)},
        name="slice_reverse_rows",
    ),
    Sample("slice", [_x(5, 4)], {"begin": (-2,), "end": (None,)}, name="slice_negative"),
    Sample(
        "crop",
        [_x(5, 4)],
        {"begin": (-1, 3), "end": (-10, 0), "step": (-2, -1)},
        name="slice_negative_steps",
    ),
    Sample("slice", [_x(5, 4)], {"begin": (10,), "end": (20,)}, name="slice_out_of_range"),
    Sample("slice", [_x(5, 4)], {"begin": (3,), "end": (1,)}, name="slice_empty_range"),
    Sample("slice", [_x(0, 4)], {"begin": (None, 1), "end": (None, 3)}, name="slice_empty"),
    Sample("slice_axis", [_x(4, 6)], {"axis": 1, "begin": 1, "end": -1}, dtypes=_HALF),
    Sample("slice_axis", [_x(4, 6)], {"axis": -2, "begin": -3}, name="slice_axis_to_end"),
    Sample("slice_axis", [_x(4, 6)], {"axis": 0, "begin": 0, "end": 1}, name="slice_axis_one"),
    Sample("slice_axis", [_x(0, 6)], {"axis": 0, "begin": 0, "end": 2}, name="slice_axis_empty"),
    Sample("slice_like", [_x(3, 4), _x(2, 3)], dtypes=_HALF),
    Sample("slice_like", [_x(3, 4), _x(2, 3)], {"axes": (0,)}, name="slice_like_axis0"),
    Sample("slice_like", [_x(3, 4, 2), _x(2, 3)], {"axes": (-2,)}, name="slice_like_negative"),
]

COPY = [
    Sample("tile", [_x(2, 3)], {"reps": (2, 1, 2)}, dtypes=_HALF),
    Sample("tile", [_x(2, 3)], {"reps": (2,)}, name="tile_short_reps"),
    Sample("tile", [_x(2, 3)], {"reps": (0, 2)}, name="tile_zero"),
    Sample("repeat", [_x(2, 3)], {"repeats": 2}, dtypes=_HALF),
    Sample("repeat", [_x(2, 3)], {"repeats": 3, "axis": -1}, name="repeat_axis"),
    Sample("repeat", [_x(2, 3)], {"repeats": 0, "axis": 0}, name="repeat_zero"),
    Sample(
        "Pad",
        [_x(2, 3, 8, 8)],
        {"mode": "constant", "pad_width": (0, 0, 0, 0, 1, 2, 2, 1), "constant_value": 0.5},
        dtypes=_HALF,
        name="pad_constant",
    ),
    Sample(
        "pad",
        [_x(1, 2, 3, 4)],
        {"mode": "edge", "pad_width": (0, 0, 0, 0, 2, 1, 0, 3)},
        name="pad_edge",
    ),
    Sample(
        "pad",
        [_x(1, 2, 3, 4)],
        {"mode": "reflect", "pad_width": (0, 0, 0, 0, 2, 1, 3, 0)},
        name="pad_reflect",
    ),
    Sample(
        "pad",
        [_x(2, 3, 4, 3, 3)],
        {"mode": "reflect", "pad_width": (0, 0, 0, 0, 1, 1, 2, 0, 1, 2)},
        name="pad_reflect_5d",
    ),
    Sample("pad", [_x(3, 2)], {"pad_width": (1, 0, 0, 2)}, name="pad_any_axis"),
    Sample("pad", [_x(2, 0)], {"pad_width": (0, 0, 1, 1)}, name="pad_constant_empty"),
    Sample("reverse", [_x(2, 3, 4)], {"axis": (1,)}, dtypes=_HALF),
    Sample("flip", [_x(2, 3, 4)], {"axis": (0, -1)}, name="flip_two"),
    Sample("reverse", [_x(2, 0)], {"axis": (0,)}, name="reverse_empty"),
]

BROADCAST = [
    Sample("broadcast_to", [_x(1, 3)], {"shape": (2, 3)}, dtypes=_HALF),
    Sample("broadcast_to", [_x(1, 3, 1)], {"shape": (4, 0, 2)}, name="broadcast_to_keep"),
    Sample("broadcast_to", [_x(1, 3)], {"shape": (0, 3)}, name="broadcast_to_size1"),
    Sample("broadcast_axis", [_x(1, 3, 1)], {"axis": (0, 2), "size": (2, 4)}, dtypes=_HALF),
    Sample("broadcast_axes", [_x(2, 1)], {"axis": (-1,), "size": (3,)}, name="broadcast_axes"),
    Sample("broadcast_like", [_x(1, 3), _x(2, 3)], dtypes=_HALF),
    Sample(
        "broadcast_like",
        [_x(1, 3), _x(5, 4)],
        {"lhs_axes": (0,), "rhs_axes": (-1,)},
        name="broadcast_like_axes",
    ),
    Sample("reshape_like", [_x(2, 6), _x(3, 4)], dtypes=_HALF),
    Sample(
        "reshape_like",
        [_x(30, 7), _x(15, 2, 4)],
        {"lhs_begin": 0, "lhs_end": 1, "rhs_begin": 0, "rhs_end": 2},
        name="reshape_like_part",
    ),
    Sample(
        "reshape_like",
        [_x(2, 3, 4), _x(6, 2)],
        {"lhs_end": -1, "rhs_end": 1},
        name="reshape_like_negative",
    ),
    Sample("shape_array", [_x(2, 3, 4)]),
    Sample("shape_array", [_x(0)], name="shape_array_empty"),
    Sample("size_array", [_x(2, 3, 4)]),
    Sample("size_array", [_x(2, 0)], name="size_array_empty"),
]

SPACE = [
    Sample("depth_to_space", [_x(1, 4, 2, 3)], {"block_size": 2}, dtypes=_HALF),
    Sample("depth_to_space", [_x(2, 9, 1, 2)], {"block_size": 3}, name="depth_to_space_b3"),
    Sample("space_to_depth", [_x(1, 1, 4, 6)], {"block_size": 2}, dtypes=_HALF),
    Sample("space_to_depth", [_x(2, 2, 3, 3)], {"block_size": 3}, name="space_to_depth_b3"),
]

SAMPLES = RESHAPE + AXES + JOIN + SLICE + COPY + BROADCAST + SPACE
