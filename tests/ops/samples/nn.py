"""Samples for the neural-network layer ops (ir/ops/nn.py)."""

from __future__ import annotations

import numpy as np

from hybrix.tests.ops.sample import Sample

_rng = np.random.default_rng(1)
_HALF = ("float16", "float32", "float64")


def _normal(*shape: int) -> np.ndarray:
    return _rng.standard_normal(shape)


def _off_kink(*shape: int) -> np.ndarray:
    """Normal values at least 0.2 away from 0, so kinks at 0 do not upset finite differences."""
    x = _rng.standard_normal(shape)
    return x + np.where(x >= 0, 0.2, -0.2)


def _positive(*shape: int) -> np.ndarray:
    return _rng.uniform(0.5, 1.5, shape)


def _bn_inputs(shape: tuple[int, ...], axis: int = 1) -> list[np.ndarray]:
    channels = shape[axis]
    return [
        _normal(*shape),
        _positive(channels),
        _normal(channels),
        _normal(channels),
        _positive(channels),
    ]


_FC = [
    Sample(
        "FullyConnected",
        [_normal(4, 10), _normal(6, 10), _normal(6)],
        {"num_hidden": 6},
        dtypes=_HALF,
    ),
    Sample(
        "FullyConnected",
        [_normal(2, 3, 2, 2), _normal(5, 12), _normal(5)],
        {"num_hidden": 5},
        name="fc_flatten_4d",
    ),
    Sample(
        "FullyConnected",
        [_normal(2, 3, 4), _normal(5, 4)],
        {"num_hidden": 5, "no_bias": True, "flatten": False},
        name="fc_noflatten_nobias",
    ),
    Sample(
        "FullyConnected",
        [_normal(0, 6), _normal(3, 6), _normal(3)],
        {"num_hidden": 3},
        name="fc_empty_batch",
    ),
    Sample(
        "FullyConnected",
        [_normal(1, 1), _normal(1, 1), _normal(1)],
        {"num_hidden": 1},
        name="fc_size1",
    ),
    Sample(
        "FullyConnected",
        [_normal(3), _normal(2, 1), _normal(2)],
        {"num_hidden": 2},
        name="fc_rank1_flatten",
    ),
]

_ACTIVATION = [
    Sample(
        "Activation", [_off_kink(3, 7)], {"act_type": act}, name=f"activation_{act}", dtypes=_HALF
    )
    for act in ("relu", "sigmoid", "tanh", "softrelu", "softsign", "log_sigmoid", "mish")
] + [Sample("Activation", [_normal(0, 3)], {"act_type": "relu"}, name="activation_empty")]

_LEAKY = [
    Sample(
        "LeakyReLU",
        [_off_kink(3, 7)],
        {"act_type": "leaky", "slope": 0.1},
        name="leaky_leaky",
        dtypes=_HALF,
    ),
    Sample("LeakyReLU", [_off_kink(3, 7)], name="leaky_default"),
    Sample(
        "LeakyReLU",
        [_off_kink(2, 3, 4), _positive(3) * 0.3],
        {"act_type": "prelu"},
        name="leaky_prelu",
    ),
    Sample(
        "LeakyReLU",
        [_off_kink(2, 3, 2, 2), _positive(1) * 0.3],
        {"act_type": "prelu"},
        name="leaky_prelu_shared_gamma",
    ),
    Sample("LeakyReLU", [_off_kink(4, 5)], {"act_type": "rrelu"}, name="leaky_rrelu_inference"),
    Sample(
        "LeakyReLU",
        [_off_kink(3, 7)],
        {"act_type": "elu", "slope": 1.0},
        name="leaky_elu",
        dtypes=_HALF,
    ),
    Sample(
        "LeakyReLU", [_off_kink(3, 7)], {"act_type": "elu", "slope": 0.5}, name="leaky_elu_slope"
    ),
    Sample("LeakyReLU", [_off_kink(3, 7)], {"act_type": "selu"}, name="leaky_selu"),
    Sample("LeakyReLU", [_normal(3, 7)], {"act_type": "gelu"}, name="leaky_gelu", dtypes=_HALF),
    Sample("LeakyReLU", [_normal(3, 7)], {"act_type": "gelu_erf"}, name="leaky_gelu_erf"),
    Sample("LeakyReLU", [_normal(3, 7)], {"act_type": "gelu_tanh"}, name="leaky_gelu_tanh"),
    Sample("LeakyReLU", [_normal(0, 4)], {"act_type": "elu"}, name="leaky_empty"),
]

_SOFTMAX = [
    Sample("softmax", [_normal(3, 5)], name="softmax_last_axis", dtypes=_HALF),
    Sample(
        "softmax",
        [_normal(2, 4, 3)],
        {"axis": 1, "temperature": 2.0},
        name="softmax_axis1_temperature",
    ),
    Sample("softmax", [_normal(2, 4, 3)], {"axis": -2}, name="softmax_negative_axis"),
    Sample("softmax", [_normal(3, 4)], {"dtype": "float64"}, name="softmax_dtype_float64"),
    Sample(
        "softmax",
        [_normal(2, 5), np.array([3, 0], np.int32)],
        {"use_length": True},
        name="softmax_use_length",
    ),
    Sample(
        "softmax",
        [_normal(2, 4, 3), np.array([[1, 4, 2], [3, 3, 0]], np.int64)],
        {"axis": 1, "use_length": True},
        name="softmax_use_length_axis1",
    ),
    Sample(
        "softmax",
        [_normal(4), np.array([2], np.int32)],
        {"use_length": True},
        name="softmax_use_length_rank1",
    ),
    Sample("softmax", [_normal(0, 4)], name="softmax_empty"),
    Sample("softmax", [_normal(3, 1)], name="softmax_size1_axis"),
    Sample("log_softmax", [_normal(3, 5)], {"axis": 1}, name="log_softmax_axis1", dtypes=_HALF),
    Sample(
        "log_softmax",
        [_normal(3, 5)],
        {"axis": 0, "temperature": 0.5},
        name="log_softmax_axis0_temperature",
    ),
    Sample(
        "log_softmax",
        [_normal(2, 5), np.array([5, 2], np.int32)],
        {"use_length": True},
        name="log_softmax_use_length",
    ),
    Sample("softmin", [_normal(3, 5)], name="softmin_last_axis", dtypes=_HALF),
    Sample(
        "softmin",
        [_normal(2, 3, 4)],
        {"axis": 1, "temperature": 3.0, "dtype": "float64"},
        name="softmin_axis1_dtype",
    ),
]


def _labels(high: int, *shape: int) -> np.ndarray:
    return _rng.integers(0, high, shape).astype(np.float64)


# NOTE: SoftmaxOutput's backward ignores the head gradient (MXNet), so it is no derivative
# of the forward and cannot be checked by finite differences; the MXNet fixture checks it.
_SOFTMAX_OUTPUT = [
    Sample("SoftmaxOutput", [_normal(4, 5), _labels(5, 4)], grad=False, dtypes=_HALF),
    Sample(
        "SoftmaxOutput",
        [_normal(2, 3, 4), _labels(12, 2)],
        grad=False,
        name="softmax_output_flatten_3d",
    ),
    Sample(
        "SoftmaxOutput",
        [_normal(2, 3, 4), _labels(4, 2, 3)],
        {"preserve_shape": True},
        grad=False,
        name="softmax_output_preserve_shape",
    ),
    Sample(
        "SoftmaxOutput",
        [_normal(2, 3, 4), _labels(3, 2, 4)],
        {"multi_output": True},
        grad=False,
        name="softmax_output_multi_output",
    ),
    Sample(
        "SoftmaxOutput",
        [_normal(2, 3, 2, 2), _labels(3, 2, 4)],
        {"multi_output": True, "normalization": "valid", "use_ignore": True, "ignore_label": 1.0},
        grad=False,
        name="softmax_output_multi_output_valid",
    ),
    Sample(
        "SoftmaxOutput",
        [_normal(3, 4), _rng.dirichlet(np.ones(4), 3)],
        {"grad_scale": 2.0},
        grad=False,
        name="softmax_output_probability_label",
    ),
    Sample(
        "Softmax",
        [_normal(4, 5), _labels(5, 4)],
        {"normalization": "batch", "smooth_alpha": 0.1, "out_grad": True},
        grad=False,
        name="softmax_output_alias_smooth",
    ),
]

_BATCHNORM = [
    Sample(
        "BatchNorm",
        _bn_inputs((4, 3, 2, 2)),
        {"fix_gamma": False, "training": True},
        name="batchnorm_train",
        dtypes=_HALF,
    ),
    Sample(
        "BatchNorm", _bn_inputs((4, 3, 2, 2)), {"training": True}, name="batchnorm_train_fix_gamma"
    ),
    Sample(
        "BatchNorm",
        _bn_inputs((4, 3, 2)),
        {"fix_gamma": False, "use_global_stats": True},
        name="batchnorm_global_stats",
    ),
    Sample(
        "BatchNorm",
        _bn_inputs((4, 3, 2)),
        {"fix_gamma": False, "use_global_stats": True, "training": True},
        name="batchnorm_global_stats_train",
    ),
    # predict mode: MXNet's backward is the training formula at the moving statistics,
    # not the derivative of the forward, so no finite-difference check (fixture covers it)
    Sample(
        "BatchNorm",
        _bn_inputs((4, 3, 2)),
        {"fix_gamma": False, "eps": 1e-5},
        grad=False,
        name="batchnorm_inference",
        dtypes=_HALF,
    ),
    Sample(
        "BatchNorm",
        _bn_inputs((3, 2, 4), axis=-1),
        {"axis": -1, "fix_gamma": False, "training": True, "momentum": 0.5},
        name="batchnorm_axis_last",
    ),
    Sample(
        "BatchNorm", _bn_inputs((5, 3)), {"fix_gamma": False, "training": True}, name="batchnorm_2d"
    ),
    Sample(
        "BatchNorm",
        _bn_inputs((4, 3, 2)),
        {"fix_gamma": False, "training": True, "output_mean_var": True},
        name="batchnorm_output_mean_var",
    ),
    Sample(
        "BatchNorm",
        _bn_inputs((4, 3, 2)),
        {"output_mean_var": True, "cudnn_off": True},
        grad=False,
        name="batchnorm_output_mean_var_inference",
    ),
]

_NORMS = [
    Sample(
        "LayerNorm",
        [_normal(2, 3, 6), _positive(6), _normal(6)],
        {"eps": 1e-5},
        name="layernorm_last_axis",
        dtypes=_HALF,
    ),
    Sample(
        "LayerNorm",
        [_normal(2, 4, 3), _positive(4), _normal(4)],
        {"axis": 1},
        name="layernorm_axis1",
    ),
    Sample(
        "LayerNorm",
        [_normal(3, 5), _positive(5), _normal(5)],
        {"output_mean_var": True},
        name="layernorm_output_mean_var",
    ),
    Sample("LayerNorm", [_normal(3, 1), _positive(1), _normal(1)], name="layernorm_size1_axis"),
    Sample(
        "GroupNorm",
        [_normal(2, 4, 3), _positive(4), _normal(4)],
        {"num_groups": 2},
        name="groupnorm_2_groups",
        dtypes=_HALF,
    ),
    Sample(
        "GroupNorm",
        [_normal(2, 6, 2, 2), _positive(6), _normal(6)],
        {"num_groups": 3, "output_mean_var": True},
        name="groupnorm_output_mean_var",
    ),
    Sample("GroupNorm", [_normal(2, 3, 4), _positive(3), _normal(3)], name="groupnorm_default"),
    Sample(
        "GroupNorm",
        [_normal(2, 4, 3), _positive(2), _normal(2)],
        {"num_groups": 2},
        name="groupnorm_per_group_gamma",
    ),
    Sample(
        "InstanceNorm",
        [_normal(2, 3, 4), _positive(3), _normal(3)],
        name="instancenorm",
        dtypes=_HALF,
    ),
    Sample(
        "InstanceNorm",
        [_normal(2, 2, 3, 3), _positive(2), _normal(2)],
        {"eps": 1e-5},
        name="instancenorm_2d_spatial",
    ),
]


def _check_dropout(p: float, shared_axes: tuple[int, ...] = ()):
    """Dropout of ones: values are 0 or 1/(1-p), zeros near p, one mask along shared axes."""

    def check(got, expected):
        for out in (got[0], np.asarray(expected[0])):
            out = out.astype(np.float64)
            kept = out != 0
            np.testing.assert_allclose(out[kept], 1 / (1 - p), rtol=1e-3)
            assert abs(1 - kept.mean() - p) < 0.05, f"dropped {1 - kept.mean():.3f}, p={p}"
            for axis in shared_axes:
                assert (kept == kept.take([0], axis=axis)).all()

    return check


_KEY = np.array([0, 42], np.uint32)

_DROPOUT = [
    Sample("Dropout", [_normal(3, 7)], {"p": 0.5}, name="dropout_inference", dtypes=_HALF),
    Sample(
        "Dropout", [_normal(3, 7), _KEY], {"p": 0.0, "training": True}, name="dropout_p0_training"
    ),
    Sample(
        "Dropout",
        [np.ones((40, 100)), _KEY],
        {"p": 0.5, "training": True},
        name="dropout_training",
        check=_check_dropout(0.5),
        dtypes=_HALF,
    ),
    Sample(
        "Dropout",
        [np.ones((50, 4, 20)), _KEY],
        {"p": 0.3, "mode": "always", "axes": (1,)},
        name="dropout_always_shared_axis",
        check=_check_dropout(0.3, (1,)),
    ),
    Sample("Dropout", [_normal(3, 4), _KEY], {"p": 1.0, "training": True}, name="dropout_p1"),
]

_EMBEDDING = [
    Sample(
        "Embedding",
        [np.array([[5, 8, 9, 5], [0, 0, 1, 7]], np.float64), _normal(10, 4)],
        {"input_dim": 10, "output_dim": 4},
        name="embedding",
        dtypes=_HALF,
    ),
    Sample(
        "Embedding",
        [np.array([-3.0, 2.7, 12.0]), _normal(5, 3)],
        {"input_dim": 5, "output_dim": 3},
        name="embedding_clip_out_of_range",
    ),
    Sample(
        "Embedding",
        [np.array([[4, 1], [1, 0]], np.int32), _normal(5, 2)],
        {"input_dim": 5, "output_dim": 2, "sparse_grad": True},
        name="embedding_int_indices",
    ),
    Sample(
        "Embedding",
        [np.zeros((0, 2)), _normal(3, 2)],
        {"input_dim": 3, "output_dim": 2},
        name="embedding_empty",
    ),
]

SAMPLES = [
    *_FC,
    *_ACTIVATION,
    *_LEAKY,
    *_SOFTMAX,
    *_SOFTMAX_OUTPUT,
    *_BATCHNORM,
    *_NORMS,
    *_DROPOUT,
    *_EMBEDDING,
]
