"""Samples for Convolution, Deconvolution and Pooling (1-D/2-D/3-D, layouts, conventions)."""

import numpy as np

from hybrix.tests.ops.sample import Sample

_rng = np.random.default_rng(1)
_ALL = ("float16", "float32", "float64")


def _normal(*shape):
    return _rng.standard_normal(shape)


def _positive(*shape):
    return _rng.uniform(0.5, 1.5, shape)


def _conv(name, data, weight, bias=None, dtypes=("float32", "float64"), **attrs):
    args = [_normal(*data), _normal(*weight)] + ([_normal(*bias)] if bias else [])
    return Sample("Convolution", args, attrs, dtypes=dtypes, name=name)


def _deconv(name, data, weight, bias=None, dtypes=("float32", "float64"), **attrs):
    args = [_normal(*data), _normal(*weight)] + ([_normal(*bias)] if bias else [])
    return Sample("Deconvolution", args, attrs, dtypes=dtypes, name=name)


def _pool(name, data, dtypes=("float32", "float64"), values=_normal, **attrs):
    return Sample("Pooling", [values(*data)], attrs, dtypes=dtypes, name=name)


CONVOLUTION = [
    _conv("conv2d", (2, 3, 7, 7), (4, 3, 3, 3), (4,), _ALL, kernel=(3, 3), num_filter=4),
    _conv(
        "conv2d_stride_pad_odd",
        (2, 3, 8, 7),
        (2, 3, 3, 2),
        (2,),
        kernel=(3, 2),
        stride=(2, 3),
        pad=(1, 0),
        num_filter=2,
    ),
    _conv(
        "conv2d_dilate",
        (1, 2, 9, 8),
        (3, 2, 3, 3),
        (3,),
        kernel=(3, 3),
        dilate=(2, 1),
        pad=(2, 1),
        stride=(1, 2),
        num_filter=3,
    ),
    _conv(
        "conv2d_groups",
        (2, 4, 6, 6),
        (6, 2, 3, 3),
        (6,),
        kernel=(3, 3),
        pad=(1, 1),
        num_filter=6,
        num_group=2,
    ),
    _conv(
        "conv2d_depthwise_nobias",
        (1, 4, 5, 5),
        (4, 1, 3, 3),
        kernel=(3, 3),
        num_filter=4,
        num_group=4,
        no_bias=True,
    ),
    _conv("conv1d", (2, 3, 9), (4, 3, 3), (4,), kernel=(3,), stride=(2,), pad=(1,), num_filter=4),
    _conv(
        "conv3d",
        (1, 2, 4, 5, 5),
        (3, 2, 2, 3, 3),
        (3,),
        kernel=(2, 3, 3),
        stride=(1, 2, 1),
        pad=(1, 0, 1),
        num_filter=3,
    ),
    _conv(
        "conv2d_nhwc",
        (2, 6, 5, 3),
        (4, 3, 3, 3),
        (4,),
        _ALL,
        kernel=(3, 3),
        stride=(2, 2),
        pad=(1, 1),
        num_filter=4,
        layout="NHWC",
    ),
    _conv(
        "conv2d_nhwc_groups_nobias",
        (1, 5, 5, 4),
        (4, 2, 3, 2),
        kernel=(2, 3),
        num_filter=4,
        num_group=2,
        no_bias=True,
        layout="NHWC",
    ),
    _conv("conv1d_nwc", (2, 7, 3), (2, 3, 3), (2,), kernel=(3,), num_filter=2, layout="NWC"),
    _conv(
        "conv3d_ndhwc",
        (1, 3, 4, 4, 2),
        (2, 2, 2, 2, 2),
        (2,),
        kernel=(2, 2, 2),
        stride=(2, 1, 1),
        num_filter=2,
        layout="NDHWC",
    ),
    _conv("conv2d_1x1_size1", (2, 3, 1, 1), (5, 3, 1, 1), (5,), kernel=(1, 1), num_filter=5),
    _conv("conv2d_empty_batch", (0, 3, 5, 5), (2, 3, 3, 3), (2,), kernel=(3, 3), num_filter=2),
]

DECONVOLUTION = [
    _deconv("deconv2d", (2, 3, 4, 4), (3, 2, 3, 3), None, _ALL, kernel=(3, 3), num_filter=2),
    _deconv(
        "deconv2d_stride_pad_adj_bias",
        (2, 3, 4, 5),
        (3, 2, 3, 3),
        (2,),
        kernel=(3, 3),
        stride=(2, 3),
        pad=(1, 1),
        adj=(1, 2),
        num_filter=2,
        no_bias=False,
    ),
    _deconv(
        "deconv2d_dilate_big_pad",
        (1, 2, 5, 6),
        (2, 3, 1, 3),
        kernel=(1, 3),
        stride=(2, 1),
        dilate=(1, 2),
        pad=(1, 2),
        num_filter=3,
    ),
    _deconv(
        "deconv2d_groups",
        (2, 4, 3, 3),
        (4, 3, 2, 2),
        (6,),
        kernel=(2, 2),
        stride=(2, 2),
        num_filter=6,
        num_group=2,
        no_bias=False,
    ),
    _deconv(
        "deconv1d",
        (2, 3, 5),
        (3, 2, 3),
        kernel=(3,),
        stride=(3,),
        pad=(1,),
        adj=(2,),
        num_filter=2,
    ),
    _deconv(
        "deconv3d",
        (1, 2, 3, 2, 3),
        (2, 2, 2, 2, 2),
        (2,),
        kernel=(2, 2, 2),
        stride=(2, 1, 2),
        num_filter=2,
        no_bias=False,
    ),
    _deconv(
        "deconv2d_target_shape",
        (2, 3, 4, 4),
        (3, 2, 3, 3),
        kernel=(3, 3),
        stride=(2, 2),
        target_shape=(8, 9),
        num_filter=2,
    ),
    _deconv(
        "deconv2d_nhwc",
        (2, 4, 3, 3),
        (3, 3, 2, 2),
        (2,),
        kernel=(3, 2),
        stride=(2, 2),
        pad=(1, 0),
        num_filter=2,
        no_bias=False,
        layout="NHWC",
    ),
]

POOLING = [
    _pool("pool_max_2d", (2, 3, 7, 7), _ALL, kernel=(3, 3), stride=(2, 2)),
    _pool("pool_max_full", (2, 3, 7, 6), kernel=(2, 2), stride=(2, 2), pooling_convention="full"),
    _pool("pool_max_pad", (2, 2, 6, 5), kernel=(3, 3), stride=(2, 2), pad=(1, 1)),
    _pool(
        "pool_avg_pad",
        (2, 2, 6, 5),
        _ALL,
        kernel=(3, 3),
        stride=(2, 2),
        pad=(1, 1),
        pool_type="avg",
    ),
    _pool(
        "pool_avg_pad_exclude",
        (2, 2, 6, 5),
        kernel=(3, 3),
        stride=(2, 2),
        pad=(1, 1),
        pool_type="avg",
        count_include_pad=False,
    ),
    _pool(
        "pool_avg_full",
        (1, 2, 7, 8),
        kernel=(3, 3),
        stride=(2, 2),
        pad=(1, 1),
        pool_type="avg",
        pooling_convention="full",
    ),
    _pool(
        "pool_avg_full_exclude",
        (1, 2, 7, 8),
        kernel=(3, 3),
        stride=(2, 2),
        pad=(1, 0),
        pool_type="avg",
        pooling_convention="full",
        count_include_pad=False,
    ),
    _pool("pool_sum_2d", (2, 3, 5, 7), kernel=(2, 3), stride=(1, 2), pool_type="sum"),
    _pool(
        "pool_lp1",
        (2, 2, 6, 6),
        values=_positive,
        kernel=(2, 2),
        stride=(2, 2),
        pool_type="lp",
        p_value=1,
    ),
    _pool(
        "pool_lp2",
        (2, 2, 6, 6),
        values=_positive,
        kernel=(3, 3),
        pad=(1, 1),
        pool_type="lp",
        p_value=2,
    ),
    _pool(
        "pool_lp3", (2, 2, 7), values=_positive, kernel=(3,), stride=(2,), pool_type="lp", p_value=3
    ),
    _pool("pool_global_max", (2, 3, 5, 4), kernel=(1, 1), global_pool=True),
    _pool("pool_global_avg", (2, 3, 5, 4), _ALL, global_pool=True, pool_type="avg"),
    _pool("pool_global_sum_3d", (1, 2, 3, 4, 3), global_pool=True, pool_type="sum"),
    _pool("pool_global_avg_nhwc", (2, 4, 3, 3), global_pool=True, pool_type="avg", layout="NHWC"),
    _pool("pool_max_1d", (2, 3, 9), kernel=(3,), stride=(2,), pad=(1,)),
    _pool("pool_max_1d_same", (2, 3, 7), kernel=(3,), stride=(2,), pooling_convention="same"),
    _pool(
        "pool_avg_1d_same",
        (2, 3, 8),
        kernel=(2,),
        stride=(3,),
        pool_type="avg",
        pooling_convention="same",
    ),
    _pool(
        "pool_avg_3d",
        (1, 2, 4, 5, 5),
        kernel=(2, 3, 3),
        stride=(2, 2, 1),
        pad=(0, 1, 1),
        pool_type="avg",
    ),
    _pool(
        "pool_max_3d_full",
        (1, 2, 5, 4, 5),
        kernel=(2, 2, 2),
        stride=(2, 2, 2),
        pooling_convention="full",
    ),
    _pool(
        "pool_max_nhwc_pad",
        (2, 6, 5, 3),
        _ALL,
        kernel=(3, 3),
        stride=(2, 2),
        pad=(1, 1),
        layout="NHWC",
    ),
    _pool(
        "pool_avg_nhwc_full",
        (2, 7, 6, 3),
        kernel=(2, 2),
        stride=(2, 2),
        pool_type="avg",
        pooling_convention="full",
        layout="NHWC",
    ),
    _pool("pool_sum_nwc", (2, 7, 3), kernel=(2,), stride=(2,), pool_type="sum", layout="NWC"),
    _pool(
        "pool_max_ndhwc",
        (1, 4, 4, 4, 2),
        kernel=(2, 2, 2),
        stride=(2, 1, 2),
        layout="NDHWC",
    ),
    _pool("pool_max_size1", (2, 3, 1, 1), kernel=(1, 1)),
    _pool("pool_avg_empty_batch", (0, 3, 4, 4), kernel=(2, 2), pool_type="avg"),
]

SAMPLES = CONVOLUTION + DECONVOLUTION + POOLING
