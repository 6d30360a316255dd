"""Samples for ir/ops/reduce.py: sum, mean, prod, max, min, nansum, nanprod, arg*, norm."""

import numpy as np

from hybrix.tests.ops.sample import Sample

_rng = np.random.default_rng(2)
F16 = ("float16", "float32", "float64")


def normal(*shape):
    return _rng.standard_normal(shape)


def near_one(*shape):
    """Factors in [0.6, 1.4] with random signs, so products stay well scaled."""
    return _rng.uniform(0.6, 1.4, shape) * _rng.choice([-1.0, 1.0], shape)


def with_nans(*shape):
    data = normal(*shape)
    data.flat[::4] = np.nan
    return data


# every attribute combination, shared by the reductions; (attrs, name suffix)
_AXES = [
    ({}, "all"),
    ({"axis": 1}, "axis1"),
    ({"axis": -1, "keepdims": True}, "axis-1_keepdims"),
    ({"axis": (0, 2)}, "axis02"),
    ({"axis": (0, 1, 2)}, "axis012"),
    ({"keepdims": True}, "all_keepdims"),
    ({"axis": 1, "exclude": True}, "exclude1"),
    ({"axis": (0, -1), "exclude": True, "keepdims": True}, "exclude02_keepdims"),
    ({"axis": ()}, "empty_axis"),
]
_DATA = {
    "sum": normal,
    "mean": normal,
    "prod": near_one,
    "max": normal,
    "min": normal,
    "nansum": with_nans,
    "nanprod": lambda *shape: with_nans(*shape) * 0.3 + 1.0,
}

_SHORT = {"all", "axis1", "axis-1_keepdims", "exclude1"}  # the others share sum's code path

SAMPLES = []
for _op, _make in _DATA.items():
    for _attrs, _suffix in _AXES:
        if _op != "sum" and _suffix not in _SHORT:
            continue
        _dtypes = F16 if _suffix == "all" else ("float32", "float64")
        _name = f"{_op}_{_suffix}"
        SAMPLES.append(Sample(_op, [_make(2, 3, 4)], _attrs, dtypes=_dtypes, name=_name))
    SAMPLES.append(Sample(_op, [_make(5)], {"axis": 0}, name=f"{_op}_rank1"))
SAMPLES += [
    Sample("sum", [normal(0, 3)], {"axis": 0}, name="sum_empty_axis0", grad=False),
    Sample("sum", [normal(0, 3)], {"axis": 1}, name="sum_empty_keep0", grad=False),
    Sample("mean", [normal(2, 1, 3)], {"axis": 1}, name="mean_size1"),
    Sample("sum_axis", [normal(2, 3)], {"axis": 0}, name="alias_sum_axis"),
    Sample("max_axis", [normal(2, 3)], {"axis": 1}, name="alias_max_axis"),
    Sample("min_axis", [normal(2, 3)], {"axis": 1}, name="alias_min_axis"),
    Sample(
        "sum",
        [np.arange(12, dtype=np.int32).reshape(3, 4)],
        {"axis": 1},
        name="sum_int",
        dtypes=("float32",),
        grad=False,
    ),
]

# argmax/argmin: distinct values (no ties) so every dtype picks the same index
for _op in ("argmax", "argmin"):
    _data = _rng.permutation(24).reshape(2, 3, 4) / 4.0
    SAMPLES += [
        Sample(_op, [_data], {"axis": 1}, dtypes=F16),
        Sample(_op, [_data], {}, name=f"{_op}_flat"),
        Sample(_op, [_data], {"keepdims": True}, name=f"{_op}_flat_keepdims"),
        Sample(_op, [_data], {"axis": -1, "keepdims": True}, name=f"{_op}_axis-1_keepdims"),
        Sample(_op, [_data[0, 0]], {"axis": 0}, name=f"{_op}_rank1"),
    ]

SAMPLES += [
    Sample("norm", [normal(2, 3, 4)], {}, dtypes=F16),
    Sample("norm", [normal(2, 3, 4)], {"ord": 2, "axis": 1}, name="norm_l2_axis1"),
    Sample("norm", [normal(2, 3, 4)], {"ord": 1, "axis": -1, "keepdims": True}, name="norm_l1"),
    Sample("norm", [normal(2, 3, 4)], {"ord": 2, "axis": (1, 2)}, name="norm_fro"),
    Sample("norm", [normal(2, 3)], {"ord": 1}, name="norm_l1_all", dtypes=F16),
    Sample(
        "norm", [normal(3, 4)], {"axis": 0, "out_dtype": "float64"}, name="norm_out_f64", grad=False
    ),
    Sample(
        "norm", [np.array([[0.0, 0.0], [3.0, 4.0]])], {"axis": 1}, name="norm_zero_row", grad=False
    ),
]
