"""The GluonCV contrib ops against numbers real MXNet 1.9.1 printed, and against plain math.

Expected arrays: mx.nd.contrib.AdaptiveAvgPooling2D / BilinearResize2D on the input below,
run in a side virtualenv with mxnet==1.9.1 (first batch item, rounded to 6 decimals).
"""

from __future__ import annotations

import numpy as np
import pytest

from hybrix.compiler import lower_op
from hybrix.ir import AttrError, ShapeError, get_op

INPUT = (np.arange(2 * 1 * 5 * 6, dtype=np.float32).reshape(2, 1, 5, 6) ** 1.5 % 7).astype(
    np.float32
)
MXNET = {
    "pool_3x4": (
        ("_contrib_AdaptiveAvgPooling2D", {"output_size": (3, 4)}),
        [
            [1.5543, 2.494026, 3.954732, 2.571497],
            [4.807531, 4.277473, 3.856794, 2.781953],
            [5.940529, 5.959076, 2.970358, 3.456284],
        ],
    ),
    "resize_7x4_no_corners": (
        ("_contrib_BilinearResize2D", {"height": 7, "width": 4, "align_corners": False}),
        [
            [0.25, 2.37132, 4.147114, 3.385255],
            [1.051582, 2.359496, 4.866302, 2.603879],
            [2.936251, 2.752003, 4.381513, 1.532633],
            [6.144955, 3.755443, 1.821062, 0.319597],
            [6.205999, 5.027847, 4.250916, 3.859442],
            [5.995223, 5.919982, 3.204176, 3.836442],
            [5.681631, 6.430882, 0.512604, 1.917858],
        ],
    ),
    "resize_to_odd_up": (
        ("_contrib_BilinearResize2D", {"mode": "to_odd_up"}),
        [
            [0.0, 0.833333, 2.218951, 4.01229, 3.797435, 1.530056, 4.18034],
            [0.696939, 3.883039, 2.591698, 3.813708, 5.207592, 3.266126, 1.482872],
            [6.569218, 5.155007, 3.879523, 2.738976, 1.729833, 0.8488, 0.092796],
            [6.367531, 5.910485, 5.568171, 5.338406, 5.219111, 5.208311, 5.304123],
            [5.575508, 5.929252, 6.383006, 3.43531, 0.584768, 1.33003, 2.169785],
        ],
    ),
}


def run_both(op_name, attrs, *arrays):
    op = get_op(op_name)
    full = op.check_attrs(attrs)
    return op.ref_fn(*arrays, **full), np.asarray(lower_op(op_name, full)(*arrays)[0])


@pytest.mark.parametrize("case", sorted(MXNET))
def test_matches_real_mxnet(case):
    (op_name, attrs), expected = MXNET[case]
    for got in run_both(op_name, attrs, INPUT):
        # NOTE: numpy 1.23 and 2.x round float32 ** 1.5 differently in the last bit
        np.testing.assert_allclose(got[0, 0], expected, rtol=1e-5, atol=5e-5)


def test_adaptive_pool_of_divisible_size_is_plain_average_pooling(rng):
    x = rng.standard_normal((2, 3, 6, 8)).astype(np.float32)
    blocks = x.reshape(2, 3, 3, 2, 4, 2).mean(axis=(3, 5))
    for got in run_both("_contrib_AdaptiveAvgPooling2D", {"output_size": (3, 4)}, x):
        np.testing.assert_allclose(got, blocks, rtol=1e-5, atol=1e-6)


def test_bilinear_resize_reproduces_a_linear_ramp_with_align_corners():
    rows, cols = np.meshgrid(np.arange(4.0), np.arange(5.0), indexing="ij")
    ramp = (2 * rows + 3 * cols)[None, None]
    out_rows, out_cols = np.meshgrid(np.linspace(0, 3, 7), np.linspace(0, 4, 9), indexing="ij")
    expected = (2 * out_rows + 3 * out_cols)[None, None]
    for got in run_both("_contrib_BilinearResize2D", {"height": 7, "width": 9}, ramp):
        np.testing.assert_allclose(got, expected, atol=1e-12)


def test_like_mode_takes_the_second_inputs_size(rng):
    x = rng.standard_normal((1, 2, 3, 3))
    like = np.zeros((1, 5, 4, 6))
    for got in run_both("_contrib_BilinearResize2D", {"mode": "like"}, x, like):
        assert got.shape == (1, 2, 4, 6)


def test_bad_attributes_and_shapes_are_named():
    resize = get_op("_contrib_BilinearResize2D")
    with pytest.raises(AttrError, match="odd_scale' needs scale_height"):
        resize.infer_types([_type((1, 1, 4, 4))], resize.check_attrs({"mode": "odd_scale"}))
    with pytest.raises(ShapeError, match="expected 4-D NCHW"):
        resize.infer_types([_type((4, 4))], resize.check_attrs({}))
    pool = get_op("_contrib_AdaptiveAvgPooling2D")
    with pytest.raises(AttrError, match=r"output_size .* has 3 entries"):
        pool.infer_types([_type((1, 1, 4, 4))], pool.check_attrs({"output_size": (1, 2, 3)}))


def _type(shape):
    from hybrix.ir import DType, TensorType

    return TensorType(DType.float32, shape)
