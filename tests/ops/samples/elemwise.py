"""Samples for ir/ops/elemwise.py: binary, broadcast, scalar, comparison and unary math ops."""

import numpy as np

from hybrix.tests.ops.sample import Sample

_rng = np.random.default_rng(1)
F16 = ("float16", "float32", "float64")


def normal(*shape):
    return _rng.standard_normal(shape)


def away_from_zero(*shape, low=0.5, high=2.0):
    """Values with |x| in [low, high] and random signs (safe divisors, no kinks at 0)."""
    return _rng.uniform(low, high, shape) * _rng.choice([-1.0, 1.0], shape)


def uniform(low, high, *shape):
    return _rng.uniform(low, high, shape)


def off_grid(*shape):
    """Values at least 0.1 away from integers and half-integers (rounding kinks)."""
    whole = _rng.integers(-3, 3, shape)
    fraction = _rng.choice([0.15, 0.3, 0.65, 0.85], shape) + _rng.uniform(-0.04, 0.04, shape)
    return whole + fraction


def with_ties(lhs):
    """A copy of lhs with every other element changed, so comparisons see ties and non-ties."""
    rhs = lhs.copy()
    rhs.flat[::2] = normal(rhs.size)[::2]
    return rhs


# -- binary, same shape and broadcast ----------------------------------------------------
# key: (lhs, rhs) generator for the same-shape (3, 4) case; rhs kept away from kinks
_BINARY_ARGS = {
    "add": lambda: (normal(3, 4), normal(3, 4)),
    "sub": lambda: (normal(3, 4), normal(3, 4)),
    "mul": lambda: (normal(3, 4), normal(3, 4)),
    "div": lambda: (normal(3, 4), away_from_zero(3, 4)),
    "mod": lambda: (normal(3, 4) * 3, away_from_zero(3, 4)),
    "power": lambda: (uniform(0.5, 2.0, 3, 4), normal(3, 4)),
    "maximum": lambda: (normal(3, 4), normal(3, 4)),
    "minimum": lambda: (normal(3, 4), normal(3, 4)),
    "hypot": lambda: (away_from_zero(3, 4), away_from_zero(3, 4)),
}
_ELEMWISE = {
    "add": "elemwise_add",
    "sub": "elemwise_sub",
    "mul": "elemwise_mul",
    "div": "elemwise_div",
    "mod": "_mod",
    "power": "_power",
    "maximum": "_maximum",
    "minimum": "_minimum",
    "hypot": "_hypot",
}
_LOGIC = ["equal", "not_equal", "greater", "greater_equal", "lesser", "lesser_equal"]
_LOGICAL = ["logical_and", "logical_or", "logical_xor"]


def _broadcast_pair(key, lhs_shape, rhs_shape):
    lhs, rhs = _BINARY_ARGS[key]()
    size = int(np.prod(lhs_shape)), int(np.prod(rhs_shape))
    return [np.resize(lhs, size[0]).reshape(lhs_shape), np.resize(rhs, size[1]).reshape(rhs_shape)]


SAMPLES = []
for _key, _name in _ELEMWISE.items():
    SAMPLES.append(Sample(_name, list(_BINARY_ARGS[_key]()), dtypes=F16))
    SAMPLES.append(Sample(_name, [normal(0, 4), normal(0, 4)], name=f"{_name}_empty", grad=False))
    _op = f"broadcast_{_key}"
    SAMPLES += [
        Sample(_op, _broadcast_pair(_key, (2, 3, 1), (1, 3, 4)), dtypes=F16),
        Sample(_op, _broadcast_pair(_key, (3, 4), (4,)), name=f"{_op}_rank"),
    ]
SAMPLES += [
    Sample("broadcast_add", _broadcast_pair("add", (2, 1), (1,)), name="broadcast_add_size1"),
    Sample("broadcast_mul", _broadcast_pair("mul", (1,), (2, 1, 3)), name="broadcast_mul_size1"),
    Sample("broadcast_add", [normal(0, 3), normal(1, 3)], name="broadcast_add_empty"),
    Sample("_plus", [normal(2, 3), normal(2, 3)], name="alias_plus"),
    Sample("broadcast_plus", [normal(2, 3), normal(3)], name="alias_broadcast_plus"),
    # integer tensors keep their dtype; division truncates, mod follows the divisor
    Sample(
        "elemwise_div",
        [np.array([7, -7, 6, 1], np.int32), np.array([2, 2, -4, 3], np.int32)],
        name="elemwise_div_int",
        dtypes=("float32",),
        grad=False,
    ),
    Sample(
        "broadcast_mod",
        [np.array([[7, -7], [5, 0]], np.int64), np.array([3, -3], np.int64)],
        name="broadcast_mod_int",
        dtypes=("float32",),
        grad=False,
    ),
    Sample(
        "_mod",
        [np.array([1.5, -2.5, 3.0]), np.array([0.0, 2.0, -2.0])],
        name="_mod_by_zero",
        grad=False,
    ),
]

for _key in _LOGIC + _LOGICAL:
    _lhs = normal(3, 4)
    if _key in _LOGICAL:
        _lhs.flat[::3] = 0.0
    _rhs = with_ties(_lhs)
    _rhs.flat[1::4] = 0.0
    SAMPLES += [
        Sample(f"_{_key}", [_lhs, _rhs], dtypes=F16),
        Sample(f"broadcast_{_key}", [_lhs.reshape(3, 4, 1), _rhs[:1].reshape(1, 4, 1)], dtypes=F16),
    ]


# -- tensor-scalar ops -----------------------------------------------------------------
# (op, data, scalar): data and scalar are chosen away from the op's kinks
_SCALAR = [
    ("_plus_scalar", normal(3, 4), 0.7),
    ("_minus_scalar", normal(3, 4), -1.5),
    ("_rminus_scalar", normal(3, 4), 2.0),
    ("_mul_scalar", normal(3, 4), -0.3),
    ("_div_scalar", normal(3, 4), 0.7),
    ("_rdiv_scalar", away_from_zero(3, 4), 1.5),
    ("_power_scalar", uniform(0.5, 2.0, 3, 4), 2.5),
    ("_power_scalar", normal(3, 4), 2.0),
    ("_rpower_scalar", normal(3, 4), 1.7),
    ("_maximum_scalar", normal(3, 4), 0.25),
    ("_minimum_scalar", normal(3, 4), -0.25),
    ("_mod_scalar", normal(3, 4) * 3, 1.3),
    ("_mod_scalar", normal(3, 4) * 3, -1.3),
    ("_rmod_scalar", away_from_zero(3, 4), 2.3),
    ("_hypot_scalar", normal(3, 4), 0.5),
    ("smooth_l1", away_from_zero(3, 4, low=0.1, high=3.0), 1.0),
    ("smooth_l1", away_from_zero(3, 4, low=0.05, high=0.2), 3.0),
]
_TIES = np.array([[0.5, 1.0, -0.5], [0.5, 2.0, 0.0]])
for _key in _LOGIC:
    _SCALAR.append((f"_{_key}_scalar", _TIES, 0.5))

_counts: dict = {}
for _op, _data, _scalar in _SCALAR:
    _counts[_op] = _counts.get(_op, 0) + 1
    _id = f"{_op}_{_counts[_op]}"
    SAMPLES.append(Sample(_op, [_data], {"scalar": _scalar}, dtypes=F16, name=_id))
SAMPLES += [
    Sample("_plus_scalar", [normal(0, 3)], {"scalar": 1.0}, name="_plus_scalar_empty"),
    Sample("_PlusScalar", [normal(2)], {"scalar": 1.0, "is_int": False}, name="alias_PlusScalar"),
]
_INTS = np.array([[7, -7, 3], [0, 5, -2]], np.int32)
for _op, _scalar in [
    ("_plus_scalar", 2.0),
    ("_div_scalar", 2.0),
    ("_rdiv_scalar", 12.0),
    ("_mod_scalar", 3.0),
    ("_rmod_scalar", 7.0),
    ("_greater_scalar", 0.0),
    ("_mul_scalar", 2.5),
]:
    _data = np.where(_INTS == 0, 1, _INTS).astype(np.int32) if _op.startswith("_r") else _INTS
    SAMPLES.append(
        Sample(
            _op, [_data], {"scalar": _scalar}, name=f"{_op}_int", dtypes=("float32",), grad=False
        )
    )


# -- unary math --------------------------------------------------------------------------
_POSITIVE = ["reciprocal", "sqrt", "rsqrt", "rcbrt", "log", "log2", "log10", "gamma", "gammaln"]
_UNIT = ["arcsin", "arccos", "arctanh", "erfinv"]
_ROUNDING = ["floor", "ceil", "round", "rint", "fix", "trunc"]
_PLAIN = [
    "negative",
    "abs",
    "sign",
    "square",
    "cbrt",
    "exp",
    "expm1",
    "sin",
    "cos",
    "arctan",
    "sinh",
    "cosh",
    "tanh",
    "arcsinh",
    "degrees",
    "radians",
    "sigmoid",
    "relu",
    "softsign",
    "erf",
    "ones_like",
    "zeros_like",
    "identity",
    "BlockGrad",
]
_NO_F16 = {"erf", "erfinv", "gamma", "gammaln", "cbrt", "rcbrt", "tan", "arctanh", "arccos"}


def _unary_data(name):
    if name in _POSITIVE:
        return uniform(0.5, 2.5, 3, 4)
    if name in _UNIT:
        return uniform(-0.9, 0.9, 3, 4)
    if name in _ROUNDING:
        return off_grid(3, 4)
    return {
        "tan": uniform(-1.2, 1.2, 3, 4),
        "arccosh": uniform(1.2, 3.0, 3, 4),
        "log1p": uniform(-0.5, 2.0, 3, 4),
    }.get(name, normal(3, 4))


for _name in _POSITIVE + _UNIT + _ROUNDING + _PLAIN + ["tan", "arccosh", "log1p"]:
    _dtypes = ("float32", "float64") if _name in _NO_F16 else F16
    SAMPLES.append(Sample(_name, [_unary_data(_name)], dtypes=_dtypes))
SAMPLES += [
    Sample("exp", [normal(0, 3)], name="exp_empty"),
    Sample("abs", [normal(1, 1, 1)], name="abs_size1"),
    Sample("round", [np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])], name="round_halves", grad=False),
    Sample("rint", [np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5])], name="rint_halves", grad=False),
    Sample("logical_not", [np.array([[0.0, 1.5], [-2.0, 0.0]])], dtypes=F16),
    Sample("_copy", [normal(2, 3)], name="alias_copy"),
    Sample("stop_gradient", [normal(2, 3)], name="alias_stop_gradient"),
    Sample(
        "negative",
        [np.array([3, -2, 0], np.int32)],
        name="negative_int",
        dtypes=("float32",),
        grad=False,
    ),
]


# -- clip, where, Cast, add_n ----------------------------------------------------------
_clip_data = np.array([[-1.0, -0.6, -0.4, 0.0, 0.3], [0.45, 0.55, 2.0, -0.3, 0.1]])
_cond = np.array([[1.0, 0.0, 0.0, 2.0], [0.0, 1.0, -1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
SAMPLES += [
    Sample("clip", [_clip_data], {"a_min": -0.5, "a_max": 0.5}, dtypes=F16),
    Sample("clip", [normal(2, 3, 4)], {"a_min": 0.0, "a_max": 10.0}, name="clip_lower_only"),
    Sample("where", [_cond, normal(3, 4), normal(3, 4)], dtypes=F16),
    Sample(
        "where", [np.array([1.0, 0.0, 3.0]), normal(3, 2, 2), normal(3, 2, 2)], name="where_rows"
    ),
    Sample(
        "where", [np.array([1, 0, 1, 0], np.int32), normal(4), normal(4)], name="where_int_cond"
    ),
    Sample("where", [np.zeros((0, 2)), normal(0, 2), normal(0, 2)], name="where_empty", grad=False),
    Sample("Cast", [normal(3, 4)], {"dtype": "float64"}, dtypes=F16),
    Sample("Cast", [normal(3, 4)], {"dtype": "float16"}, name="Cast_f16", grad=False),
    Sample("cast", [off_grid(3, 4) * 3], {"dtype": "int32"}, name="cast_int32", grad=False),
    Sample(
        "Cast",
        [np.array([1, -2, 3], np.int64)],
        {"dtype": "float32"},
        name="Cast_from_int",
        dtypes=("float32",),
        grad=False,
    ),
    Sample("add_n", [normal(2, 3), normal(2, 3), normal(2, 3)], dtypes=F16),
    Sample("add_n", [normal(4)], name="add_n_one"),
    Sample("ElementWiseSum", [normal(2, 2), normal(2, 2)], {"num_args": 2}, name="ElementWiseSum"),
]
