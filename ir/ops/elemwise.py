"""Elementwise operators: binary, broadcast, scalar, comparison and unary math (MXNet names).

Most ops are generated from tables of (MXNet name, numpy kernel, JAX kernel). Kernels take
arrays of one dtype and return that dtype: MXNet comparisons and logical ops return 1.0/0.0
in the input dtype, and the scalar ops cast the scalar to the tensor's dtype first
(`DType(alpha)` in MXNet's BinaryScalarOp), so integer tensors stay integer.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Callable
from typing import Any

import numpy as np

from hybrix.ir.dtypes import DType
from hybrix.ir.errors import ShapeError
from hybrix.ir.ops._infer import broadcast_binary, same_as_input, same_dtype
from hybrix.ir.ops._schema import Attr, OpDef, defop
from hybrix.ir.types import TensorType

__all__: list[str] = []

Kernel = Callable[..., Any]
_ZERO_GRAD = "comparison or logical result: 0/1 values, zero gradient (MXNet: MakeZeroGradNodes)"


# -- binary kernels ------------------------------------------------------------------
def _is_int(array: Any) -> bool:
    return np.dtype(array.dtype).kind in "iu"


def _np_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if _is_int(a):  # C integer division truncates toward zero
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.trunc(a / b).astype(a.dtype)
    return a / b


def _jax_div(jx: Any, a: Any, b: Any) -> Any:
    if _is_int(a):
        return jx.lax.div(*jx.jnp.broadcast_arrays(a, b))
    return a / b


def _np_mod(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # NOTE: MXNet's mod takes the sign of the divisor (like Python) and gives 0 for b == 0.
    safe = np.where(b == 0, np.ones_like(b), b)
    return np.where(b == 0, np.zeros_like(a), np.mod(a, safe)).astype(a.dtype)


def _jax_mod(jx: Any, a: Any, b: Any) -> Any:
    safe = jx.jnp.where(b == 0, jx.jnp.ones_like(b), b)  # keeps the gradient finite at b == 0
    return jx.jnp.where(b == 0, jx.jnp.zeros_like(a), jx.jnp.mod(a, safe))


def _np_logic(fn: Kernel) -> Kernel:
    return lambda a, b: fn(a, b).astype(np.result_type(a, b))


def _jax_logic(name: str) -> Kernel:
    return lambda jx, a, b: getattr(jx.jnp, name)(a, b).astype(jx.jnp.result_type(a, b))


# key: (numpy kernel, JAX kernel, formula for the docs)
_BINARY: dict[str, tuple[Kernel, Kernel, str]] = {
    "add": (np.add, lambda jx, a, b: a + b, "lhs + rhs"),
    "sub": (np.subtract, lambda jx, a, b: a - b, "lhs - rhs"),
    "mul": (np.multiply, lambda jx, a, b: a * b, "lhs * rhs"),
    "div": (_np_div, _jax_div, "lhs / rhs (integers truncate)"),
    "mod": (_np_mod, _jax_mod, "lhs mod rhs, sign of rhs, 0 where rhs == 0"),
    "power": (np.power, lambda jx, a, b: jx.jnp.power(a, b), "lhs ** rhs"),
    "maximum": (np.maximum, lambda jx, a, b: jx.jnp.maximum(a, b), "max(lhs, rhs)"),
    "minimum": (np.minimum, lambda jx, a, b: jx.jnp.minimum(a, b), "min(lhs, rhs)"),
    "hypot": (np.hypot, lambda jx, a, b: jx.jnp.hypot(a, b), "sqrt(lhs**2 + rhs**2)"),
}
_LOGIC: dict[str, tuple[str, str]] = {  # key: (numpy/jax.numpy function, formula)
    "equal": ("equal", "lhs == rhs"),
    "not_equal": ("not_equal", "lhs != rhs"),
    "greater": ("greater", "lhs > rhs"),
    "greater_equal": ("greater_equal", "lhs >= rhs"),
    "lesser": ("less", "lhs < rhs"),
    "lesser_equal": ("less_equal", "lhs <= rhs"),
    "logical_and": ("logical_and", "lhs and rhs"),
    "logical_or": ("logical_or", "lhs or rhs"),
    "logical_xor": ("logical_xor", "lhs xor rhs"),
}
for _key, (_fn, _formula) in _LOGIC.items():
    _BINARY[_key] = (_np_logic(getattr(np, _fn)), _jax_logic(_fn), f"1 if {_formula} else 0")


# -- ONNX forms of the binary kernels (o: the ONNX node builder, see compiler/onnx) ----------
def _onnx_mod(o: Any, a: Any, b: Any) -> Any:
    """MXNet's mod: the sign of the divisor, 0 where the divisor is 0."""
    zero = o.scalar(0, a.dtype)
    divisor_zero = o.Equal(b, zero)
    safe = o.Where(divisor_zero, o.scalar(1, a.dtype), b)
    if a.dtype.is_float:
        # NOTE: ONNX Mod on floats needs fmod=1 (sign of the dividend); move to the divisor's
        rest = o.Mod(a, safe, fmod=1)
        flip = o.And(o.Not(o.Equal(rest, zero)), o.Xor(o.Less(rest, zero), o.Less(safe, zero)))
        rest = o.Where(flip, o.Add(rest, safe), rest)
    else:
        rest = o.Mod(a, safe, fmod=0)
    return o.Where(divisor_zero, zero, rest)


def _onnx_hypot(o: Any, a: Any, b: Any) -> Any:
    return o.Sqrt(o.Add(o.Mul(a, a), o.Mul(b, b)))


def _onnx_compare(op_type: str, negate: bool = False) -> Kernel:
    def kernel(o: Any, a: Any, b: Any) -> Any:
        result = o.node(op_type, [a, b])
        return o.cast(o.Not(result) if negate else result, a.dtype)

    return kernel


def _onnx_logic(op_type: str) -> Kernel:
    def kernel(o: Any, a: Any, b: Any) -> Any:
        return o.cast(o.node(op_type, [o.cast(a, DType.bool), o.cast(b, DType.bool)]), a.dtype)

    return kernel


def _onnx_op(op_type: str) -> Kernel:
    return lambda o, a, b: o.node(op_type, [a, b])


_ONNX_BINARY: dict[str, Kernel] = {
    "add": _onnx_op("Add"),
    "sub": _onnx_op("Sub"),
    "mul": _onnx_op("Mul"),
    "div": _onnx_op("Div"),  # NOTE: integer Div truncates toward zero, as C and MXNet
    "mod": _onnx_mod,
    "power": _onnx_op("Pow"),
    "maximum": _onnx_op("Max"),
    "minimum": _onnx_op("Min"),
    "hypot": _onnx_hypot,
    "equal": _onnx_compare("Equal"),
    "not_equal": _onnx_compare("Equal", negate=True),
    "greater": _onnx_compare("Greater"),
    "greater_equal": _onnx_compare("GreaterOrEqual"),
    "lesser": _onnx_compare("Less"),
    "lesser_equal": _onnx_compare("LessOrEqual"),
    "logical_and": _onnx_logic("And"),
    "logical_or": _onnx_logic("Or"),
    "logical_xor": _onnx_logic("Xor"),
}


# -- binary ops: same shape and broadcasting -------------------------------------------
def _same_shape(lhs: TensorType, rhs: TensorType, **attrs: object) -> TensorType:
    dtype = same_dtype(lhs, rhs)
    if lhs.shape != rhs.shape:
        raise ShapeError(
            f"inputs have shapes {lhs.shape} and {rhs.shape}; expected equal shapes "
            "(the broadcast_* ops broadcast)"
        )
    return TensorType(dtype, lhs.shape)


def _def_binary(
    name: str, key: str, infer: Kernel, aliases: tuple[str, ...], **options: Any
) -> OpDef:
    numpy_kernel, jax_kernel, formula = _BINARY[key]
    shapes = "same shapes" if infer is _same_shape else "NumPy broadcasting"
    op = defop(
        name,
        inputs=["lhs", "rhs"],
        infer=infer,
        aliases=aliases,
        doc=f"{formula} elementwise, {shapes}. MXNet: {name}.",
        **options,
    )
    op.ref(lambda lhs, rhs: numpy_kernel(lhs, rhs))
    op.lower(lambda jx, lhs, rhs: jax_kernel(jx, lhs, rhs))
    onnx_kernel = _ONNX_BINARY[key]
    op.onnx(lambda o, lhs, rhs: onnx_kernel(o, lhs, rhs))
    return op


# key: (same-shape MXNet name, its aliases)
_ELEMWISE_NAMES = {
    "add": ("elemwise_add", ("_add", "_plus", "_Plus")),
    "sub": ("elemwise_sub", ("_sub", "_minus", "_Minus")),
    "mul": ("elemwise_mul", ("_mul", "_Mul")),
    "div": ("elemwise_div", ("_div", "_Div")),
    "mod": ("_mod", ("_Mod",)),
    "power": ("_power", ("_Power",)),
    "maximum": ("_maximum", ("_Maximum",)),
    "minimum": ("_minimum", ("_Minimum",)),
    "hypot": ("_hypot", ("_Hypot",)),
    "equal": ("_equal", ("_Equal",)),
    "not_equal": ("_not_equal", ("_Not_Equal",)),
    "greater": ("_greater", ("_Greater",)),
    "greater_equal": ("_greater_equal", ("_Greater_Equal",)),
    "lesser": ("_lesser", ("_Lesser",)),
    "lesser_equal": ("_lesser_equal", ("_Lesser_Equal",)),
    "logical_and": ("_logical_and", ("_Logical_And",)),
    "logical_or": ("_logical_or", ("_Logical_Or",)),
    "logical_xor": ("_logical_xor", ("_Logical_Xor",)),
}
_BROADCAST_ALIASES = {"add": ("broadcast_plus",), "sub": ("broadcast_minus",)}

for _key, (_name, _aliases) in _ELEMWISE_NAMES.items():
    _logic = {"no_grad": _ZERO_GRAD} if _key in _LOGIC else {}
    _def_binary(_name, _key, _same_shape, _aliases, inplace={0: 0}, **_logic)
    _def_binary(
        f"broadcast_{_key}", _key, broadcast_binary, _BROADCAST_ALIASES.get(_key, ()), **_logic
    )


# -- tensor-scalar ops ---------------------------------------------------------------
_SCALAR_ATTRS = {
    "scalar": Attr.float(1.0, doc="the scalar operand, cast to the tensor's dtype"),
    "is_int": Attr.bool(
        True, doc="MXNet 1.9 records whether the scalar was a Python int; accepted, unused"
    ),
}
# (MXNet name, its alias, kernel key, whether the scalar is the left operand)
_SCALAR = [
    ("_plus_scalar", "_PlusScalar", "add", False),
    ("_minus_scalar", "_MinusScalar", "sub", False),
    ("_rminus_scalar", "_RMinusScalar", "sub", True),
    ("_mul_scalar", "_MulScalar", "mul", False),
    ("_div_scalar", "_DivScalar", "div", False),
    ("_rdiv_scalar", "_RDivScalar", "div", True),
    ("_power_scalar", "_PowerScalar", "power", False),
    ("_rpower_scalar", "_RPowerScalar", "power", True),
    ("_maximum_scalar", "_MaximumScalar", "maximum", False),
    ("_minimum_scalar", "_MinimumScalar", "minimum", False),
    ("_mod_scalar", "_ModScalar", "mod", False),
    ("_rmod_scalar", "_RModScalar", "mod", True),
    ("_hypot_scalar", "_HypotScalar", "hypot", False),
    ("_equal_scalar", "_EqualScalar", "equal", False),
    ("_not_equal_scalar", "_NotEqualScalar", "not_equal", False),
    ("_greater_scalar", "_GreaterScalar", "greater", False),
    ("_greater_equal_scalar", "_GreaterEqualScalar", "greater_equal", False),
    ("_lesser_scalar", "_LesserScalar", "lesser", False),
    ("_lesser_equal_scalar", "_LesserEqualScalar", "lesser_equal", False),
]


def _def_scalar(name: str, alias: str, key: str, scalar_first: bool) -> None:
    numpy_kernel, jax_kernel, formula = _BINARY[key]
    if scalar_first:
        formula = formula.replace("lhs", "scalar").replace("rhs", "data")
    else:
        formula = formula.replace("lhs", "data").replace("rhs", "scalar")
    options = {"no_grad": _ZERO_GRAD} if key in _LOGIC else {}
    op = defop(
        name,
        inputs=["data"],
        attrs=_SCALAR_ATTRS,
        infer=same_as_input,
        aliases=[alias],
        inplace={0: 0},
        doc=f"{formula} elementwise; keeps the tensor's dtype. MXNet: {name}.",
        **options,
    )

    def operands(data: Any, value: Any) -> tuple[Any, Any]:
        return (value, data) if scalar_first else (data, value)

    @op.ref
    def _ref(data: np.ndarray, *, scalar: float, is_int: bool) -> np.ndarray:
        return numpy_kernel(*operands(data, np.asarray(scalar).astype(data.dtype)))

    @op.lower
    def _lower(jx: Any, data: Any, *, scalar: float, is_int: bool) -> Any:
        return jax_kernel(jx, *operands(data, jx.jnp.asarray(scalar).astype(data.dtype)))

    @op.onnx
    def _onnx(o: Any, data: Any, *, scalar: float, is_int: bool) -> Any:
        return _ONNX_BINARY[key](o, *operands(data, o.scalar(scalar, data.dtype)))


for _scalar_row in _SCALAR:
    _def_scalar(*_scalar_row)


smooth_l1 = defop(
    "smooth_l1",
    inputs=["data"],
    attrs={"scalar": Attr.float(1.0, doc="sigma")},
    infer=same_as_input,
    inplace={0: 0},
    doc="0.5*(sigma*x)**2 where |x| < 1/sigma**2, else |x| - 0.5/sigma**2. MXNet: smooth_l1.",
)


@smooth_l1.ref
def _smooth_l1_ref(data: np.ndarray, *, scalar: float) -> np.ndarray:
    sigma2 = scalar * scalar
    quadratic = 0.5 * sigma2 * data * data
    return np.where(np.abs(data) < 1.0 / sigma2, quadratic, np.abs(data) - 0.5 / sigma2)


@smooth_l1.lower
def _smooth_l1_lower(jx: Any, data: Any, *, scalar: float) -> Any:
    sigma2 = scalar * scalar
    quadratic = 0.5 * sigma2 * data * data
    return jx.jnp.where(jx.jnp.abs(data) < 1.0 / sigma2, quadratic, jx.jnp.abs(data) - 0.5 / sigma2)


@smooth_l1.onnx
def _smooth_l1_onnx(o: Any, data: Any, *, scalar: float) -> Any:
    sigma2 = scalar * scalar
    size = o.Abs(data)
    quadratic = o.Mul(o.scalar(0.5 * sigma2, data.dtype), o.Mul(data, data))
    linear = o.Sub(size, o.scalar(0.5 / sigma2, data.dtype))
    return o.Where(o.Less(size, o.scalar(1.0 / sigma2, data.dtype)), quadratic, linear)


# -- unary math ----------------------------------------------------------------------
def _via_float64(fn: Callable[[float], float]) -> Kernel:
    """A numpy kernel from a scalar function of the standard library, in float64."""

    def kernel(x: np.ndarray) -> np.ndarray:
        values = [fn(float(v)) for v in np.asarray(x, np.float64).ravel()]
        return np.asarray(values, np.float64).reshape(np.shape(x)).astype(x.dtype)

    return kernel


def _erfinv(y: float) -> float:
    if abs(y) >= 1.0:
        return math.copysign(math.inf, y) if abs(y) == 1.0 else math.nan
    return statistics.NormalDist().inv_cdf((y + 1.0) / 2.0) / math.sqrt(2.0)


def _np_round(x: np.ndarray) -> np.ndarray:
    """Round half away from zero (C roundf, as MXNet's round); numpy rounds half to even."""
    floor = np.floor(x)
    fraction = x - floor  # exact for floats
    up = (fraction > 0.5) | ((fraction == 0.5) & (x >= 0))
    return np.where(up, floor + 1, floor).astype(x.dtype)


def _jax(path: str) -> Kernel:
    """The JAX kernel `jx.<namespace>.<name>` for a path such as 'jnp.exp'."""
    namespace, name = path.split(".")
    return lambda jx, x: getattr(getattr(jx, namespace), name)(x)


# (MXNet name, numpy kernel, JAX kernel or 'namespace.name', formula, aliases)
_UNARY: list[tuple[str, Kernel, Kernel | str, str, tuple[str, ...]]] = [
    ("negative", np.negative, "jnp.negative", "-x", ()),
    ("reciprocal", lambda x: 1 / x, lambda jx, x: 1 / x, "1/x", ()),
    ("abs", np.abs, "jnp.abs", "|x|", ()),
    ("sign", np.sign, "jnp.sign", "sign(x), zero gradient", ()),
    ("square", np.square, "jnp.square", "x**2", ()),
    ("sqrt", np.sqrt, "jnp.sqrt", "sqrt(x)", ()),
    ("rsqrt", lambda x: 1 / np.sqrt(x), "lax.rsqrt", "1/sqrt(x)", ()),
    ("cbrt", np.cbrt, "jnp.cbrt", "cube root of x", ()),
    ("rcbrt", lambda x: 1 / np.cbrt(x), lambda jx, x: 1 / jx.jnp.cbrt(x), "1/cbrt(x)", ()),
    ("exp", np.exp, "jnp.exp", "e**x", ()),
    ("expm1", np.expm1, "jnp.expm1", "e**x - 1", ()),
    ("log", np.log, "jnp.log", "natural log of x", ()),
    ("log2", np.log2, "jnp.log2", "log base 2 of x", ()),
    ("log10", np.log10, "jnp.log10", "log base 10 of x", ()),
    ("log1p", np.log1p, "jnp.log1p", "log(1 + x)", ()),
    ("sin", np.sin, "jnp.sin", "sin(x)", ()),
    ("cos", np.cos, "jnp.cos", "cos(x)", ()),
    ("tan", np.tan, "jnp.tan", "tan(x)", ()),
    ("arcsin", np.arcsin, "jnp.arcsin", "arcsin(x)", ()),
    ("arccos", np.arccos, "jnp.arccos", "arccos(x)", ()),
    ("arctan", np.arctan, "jnp.arctan", "arctan(x)", ()),
    ("sinh", np.sinh, "jnp.sinh", "sinh(x)", ()),
    ("cosh", np.cosh, "jnp.cosh", "cosh(x)", ()),
    ("tanh", np.tanh, "jnp.tanh", "tanh(x)", ()),
    ("arcsinh", np.arcsinh, "jnp.arcsinh", "arcsinh(x)", ()),
    ("arccosh", np.arccosh, "jnp.arccosh", "arccosh(x)", ()),
    ("arctanh", np.arctanh, "jnp.arctanh", "arctanh(x)", ()),
    ("degrees", np.degrees, "jnp.degrees", "x * 180/pi", ()),
    ("radians", np.radians, "jnp.radians", "x * pi/180", ()),
    ("floor", np.floor, "jnp.floor", "floor(x), zero gradient", ()),
    ("ceil", np.ceil, "jnp.ceil", "ceil(x), zero gradient", ()),
    ("round", _np_round, "lax.round", "x rounded half away from zero, zero gradient", ()),
    ("rint", np.rint, "jnp.rint", "x rounded half to even, zero gradient", ()),
    ("fix", np.fix, "jnp.trunc", "x rounded toward zero, zero gradient", ()),
    ("trunc", np.trunc, "jnp.trunc", "x rounded toward zero, zero gradient", ()),
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x)), "nn.sigmoid", "1/(1 + e**-x)", ()),
    ("relu", lambda x: np.maximum(x, 0), "nn.relu", "max(x, 0)", ()),
    ("softsign", lambda x: x / (1 + np.abs(x)), "nn.soft_sign", "x/(1 + |x|)", ()),
    ("erf", _via_float64(math.erf), "special.erf", "the error function", ()),
    ("erfinv", _via_float64(_erfinv), "special.erfinv", "the inverse error function", ()),
    ("gamma", _via_float64(math.gamma), "special.gamma", "the gamma function", ()),
    ("gammaln", _via_float64(math.lgamma), "special.gammaln", "log |gamma(x)|", ()),
    ("ones_like", np.ones_like, "jnp.ones_like", "ones of x's shape and dtype", ()),
    ("zeros_like", np.zeros_like, "jnp.zeros_like", "zeros of x's shape and dtype", ()),
    ("identity", np.copy, lambda jx, x: x, "x (a copy)", ("_copy",)),
]


# -- ONNX forms of the unary kernels -------------------------------------------------------
def _onnx_unary(op_type: str) -> Kernel:
    return lambda o, data: o.node(op_type, [data])


def _onnx_times(factor: float) -> Kernel:
    return lambda o, data: o.Mul(data, o.scalar(factor, data.dtype))


def _onnx_log_base(base: float) -> Kernel:
    return lambda o, data: o.Div(o.Log(data), o.scalar(math.log(base), data.dtype))


def _onnx_cbrt(o: Any, data: Any) -> Any:
    third = o.scalar(1.0 / 3.0, data.dtype)
    return o.Mul(o.Sign(data), o.Pow(o.Abs(data), third))


def _onnx_trunc(o: Any, data: Any) -> Any:
    return o.Mul(o.Sign(data), o.Floor(o.Abs(data)))


def _onnx_round(o: Any, data: Any) -> Any:
    """Half away from zero (C roundf); ONNX Round rounds half to even."""
    floor = o.Floor(data)
    fraction = o.Sub(data, floor)
    half = o.scalar(0.5, data.dtype)
    up = o.Or(
        o.Greater(fraction, half),
        o.And(o.Equal(fraction, half), o.GreaterOrEqual(data, o.scalar(0, data.dtype))),
    )
    return o.Where(up, o.Add(floor, o.scalar(1, data.dtype)), floor)


def _onnx_fill(value: float) -> Kernel:
    def kernel(o: Any, data: Any) -> Any:
        fill = np.full((1,), value, data.dtype.numpy)
        return o.ConstantOfShape(o.Shape(data), value=o.tensor_attr(fill))

    return kernel


def _onnx_logical_not(o: Any, data: Any) -> Any:
    return o.cast(o.Not(o.cast(data, DType.bool)), data.dtype)


# Lanczos approximation (g=7, n=9), in float64: gamma and log-gamma have no ONNX op
_LANCZOS = (
    0.99999999999980993,
    676.5203681218851,
    -1259.1392167224028,
    771.32342877765313,
    -176.61502916214059,
    12.507343278686905,
    -0.13857109526572012,
    9.9843695780195716e-6,
    1.5056327351493116e-7,
)


def _onnx_lanczos_log(o: Any, x: Any) -> Any:
    """log gamma(x) for x >= 0.5 (x float64): the Lanczos series."""
    z = o.Sub(x, o.scalar(1, DType.float64))
    series = o.scalar(_LANCZOS[0], DType.float64)
    for i, c in enumerate(_LANCZOS[1:], start=1):
        series = o.Add(
            series, o.Div(o.scalar(c, DType.float64), o.Add(z, o.scalar(i, DType.float64)))
        )
    t = o.Add(z, o.scalar(7.5, DType.float64))
    half_log_2pi = o.scalar(0.5 * math.log(2 * math.pi), DType.float64)
    power = o.Mul(o.Add(z, o.scalar(0.5, DType.float64)), o.Log(t))
    return o.Add(o.Add(half_log_2pi, o.Sub(power, t)), o.Log(series))


def _onnx_gamma_parts(o: Any, data: Any) -> tuple[Any, Any]:
    """(log |gamma(x)|, sign of gamma(x)) in float64, with the reflection for x < 0.5."""
    x = o.cast(data, DType.float64)
    half = o.scalar(0.5, DType.float64)
    small = o.Less(x, half)
    one = o.scalar(1, DType.float64)
    mirrored = o.Where(small, o.Sub(one, x), x)
    log_gamma = _onnx_lanczos_log(o, mirrored)
    sine = o.Sin(o.Mul(o.scalar(math.pi, DType.float64), x))
    reflected = o.Sub(
        o.Sub(o.scalar(math.log(math.pi), DType.float64), o.Log(o.Abs(sine))), log_gamma
    )
    sign = o.Where(small, o.Sign(sine), one)
    return o.Where(small, reflected, log_gamma), sign


def _onnx_gamma(o: Any, data: Any) -> Any:
    log_gamma, sign = _onnx_gamma_parts(o, data)
    return o.cast(o.Mul(sign, o.Exp(log_gamma)), data.dtype)


def _onnx_gammaln(o: Any, data: Any) -> Any:
    return o.cast(_onnx_gamma_parts(o, data)[0], data.dtype)


def _onnx_erfinv(o: Any, data: Any) -> Any:
    """Giles' single-precision erfinv approximation, evaluated in float64 and refined by two
    Newton steps on erf (ONNX has Erf but no inverse)."""
    x = o.cast(data, DType.float64)
    one = o.scalar(1, DType.float64)
    w = o.Neg(o.Log(o.Mul(o.Sub(one, x), o.Add(one, x))))
    central = _onnx_poly(o, o.Sub(w, o.scalar(2.5, DType.float64)), _ERFINV_CENTRAL)
    tail = _onnx_poly(o, o.Sub(o.Sqrt(w), o.scalar(3.0, DType.float64)), _ERFINV_TAIL)
    y = o.Mul(o.Where(o.Less(w, o.scalar(5.0, DType.float64)), central, tail), x)
    scale = o.scalar(math.sqrt(math.pi) / 2, DType.float64)
    for _ in range(2):
        # NOTE: onnxruntime's CPU Erf is float32 only
        erf = o.cast(o.Erf(o.cast(y, DType.float32)), DType.float64)
        step = o.Mul(o.Sub(erf, x), o.Mul(scale, o.Exp(o.Mul(y, y))))
        y = o.Sub(y, step)
    return o.cast(y, data.dtype)


def _onnx_poly(o: Any, t: Any, coefficients: tuple[float, ...]) -> Any:
    result = o.scalar(coefficients[0], DType.float64)
    for c in coefficients[1:]:
        result = o.Add(o.Mul(result, t), o.scalar(c, DType.float64))
    return result


_ERFINV_CENTRAL = (
    2.81022636e-08,
    3.43273939e-07,
    -3.5233877e-06,
    -4.39150654e-06,
    0.00021858087,
    -0.00125372503,
    -0.00417768164,
    0.246640727,
    1.50140941,
)
_ERFINV_TAIL = (
    -0.000200214257,
    0.000100950558,
    0.00134934322,
    -0.00367342844,
    0.00573950773,
    -0.0076224613,
    0.00943887047,
    1.00167406,
    2.83297682,
)

_ONNX_UNARY: dict[str, Kernel] = {
    "negative": _onnx_unary("Neg"),
    "reciprocal": _onnx_unary("Reciprocal"),
    "abs": _onnx_unary("Abs"),
    "sign": _onnx_unary("Sign"),
    "square": lambda o, data: o.Mul(data, data),
    "sqrt": _onnx_unary("Sqrt"),
    "rsqrt": lambda o, data: o.Reciprocal(o.Sqrt(data)),
    "cbrt": _onnx_cbrt,
    "rcbrt": lambda o, data: o.Reciprocal(_onnx_cbrt(o, data)),
    "exp": _onnx_unary("Exp"),
    "expm1": lambda o, data: o.Sub(o.Exp(data), o.scalar(1, data.dtype)),
    "log": _onnx_unary("Log"),
    "log2": _onnx_log_base(2.0),
    "log10": _onnx_log_base(10.0),
    "log1p": lambda o, data: o.Log(o.Add(data, o.scalar(1, data.dtype))),
    "sin": _onnx_unary("Sin"),
    "cos": _onnx_unary("Cos"),
    "tan": _onnx_unary("Tan"),
    "arcsin": _onnx_unary("Asin"),
    "arccos": _onnx_unary("Acos"),
    "arctan": _onnx_unary("Atan"),
    "sinh": _onnx_unary("Sinh"),
    "cosh": _onnx_unary("Cosh"),
    "tanh": _onnx_unary("Tanh"),
    "arcsinh": _onnx_unary("Asinh"),
    "arccosh": _onnx_unary("Acosh"),
    "arctanh": _onnx_unary("Atanh"),
    "degrees": _onnx_times(180.0 / math.pi),
    "radians": _onnx_times(math.pi / 180.0),
    "floor": _onnx_unary("Floor"),
    "ceil": _onnx_unary("Ceil"),
    "round": _onnx_round,
    "rint": _onnx_unary("Round"),  # ONNX Round: half to even, as rint
    "fix": _onnx_trunc,
    "trunc": _onnx_trunc,
    "sigmoid": _onnx_unary("Sigmoid"),
    "relu": _onnx_unary("Relu"),
    "softsign": _onnx_unary("Softsign"),
    "erf": _onnx_unary("Erf"),
    "erfinv": _onnx_erfinv,
    "gamma": _onnx_gamma,
    "gammaln": _onnx_gammaln,
    "ones_like": _onnx_fill(1),
    "zeros_like": _onnx_fill(0),
    "identity": _onnx_unary("Identity"),
    "logical_not": _onnx_logical_not,
    "BlockGrad": _onnx_unary("Identity"),
}


def _def_unary(
    name: str,
    numpy_kernel: Kernel,
    jax_kernel: Kernel | str,
    formula: str,
    aliases: tuple[str, ...],
    **options: Any,
) -> OpDef:
    jax_fn = _jax(jax_kernel) if isinstance(jax_kernel, str) else jax_kernel
    op = defop(
        name,
        inputs=["data"],
        infer=same_as_input,
        inplace={0: 0},
        aliases=aliases,
        doc=f"{formula}, elementwise. MXNet: {name}.",
        **options,
    )
    op.ref(lambda data: numpy_kernel(data))
    op.lower(lambda jx, data: jax_fn(jx, data))
    op.onnx(_ONNX_UNARY[name])
    return op


for _unary_row in _UNARY:
    _def_unary(*_unary_row)

_def_unary(
    "logical_not",
    lambda x: (x == 0).astype(x.dtype),
    lambda jx, x: (x == 0).astype(x.dtype),
    "1 where x == 0 else 0",
    (),
    no_grad=_ZERO_GRAD,
)
_def_unary(
    "BlockGrad",
    np.copy,
    "lax.stop_gradient",
    "x forward; the gradient stops here",
    ("stop_gradient",),
    no_grad="stop_gradient: the gradient is zero by definition",
)


# -- clip, where, Cast, add_n ----------------------------------------------------------
clip = defop(
    "clip",
    inputs=["data"],
    attrs={"a_min": Attr.float(), "a_max": Attr.float()},
    infer=same_as_input,
    inplace={0: 0},
    doc="min(max(x, a_min), a_max); gradient 1 strictly inside the range. MXNet: clip.",
)


@clip.ref
def _clip_ref(data: np.ndarray, *, a_min: float, a_max: float) -> np.ndarray:
    return np.minimum(np.maximum(data, a_min), a_max).astype(data.dtype)


@clip.lower
def _clip_lower(jx: Any, data: Any, *, a_min: float, a_max: float) -> Any:
    return jx.jnp.minimum(jx.jnp.maximum(data, a_min), a_max)


@clip.onnx
def _clip_onnx(o: Any, data: Any, *, a_min: float, a_max: float) -> Any:
    return o.Min(o.Max(data, o.scalar(a_min, data.dtype)), o.scalar(a_max, data.dtype))


def _where_infer(condition: TensorType, x: TensorType, y: TensorType) -> TensorType:
    dtype = same_dtype(x, y)
    if x.shape != y.shape:
        raise ShapeError(f"x has shape {x.shape} and y {y.shape}; expected equal shapes")
    rows = condition.rank == 1 and x.rank >= 1 and condition.shape[0] == x.shape[0]
    if condition.shape != x.shape and not rows:
        raise ShapeError(
            f"condition has shape {condition.shape}; expected x's shape {x.shape} "
            f"or ({x.shape[0] if x.shape else 'N'},) to select rows"
        )
    return TensorType(dtype, x.shape)


where = defop(
    "where",
    inputs=["condition", "x", "y"],
    infer=_where_infer,
    nondiff_inputs=("condition",),
    doc="x where condition != 0 else y; a condition of shape (N,) selects rows. MXNet: where.",
)


def _row_mask(condition: Any, rank: int) -> Any:
    """The condition as a mask that broadcasts against x (rows when it is 1-D)."""
    mask = condition != 0
    return mask.reshape(mask.shape + (1,) * (rank - mask.ndim))


@where.ref
def _where_ref(condition: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.where(_row_mask(condition, x.ndim), x, y)


@where.lower
def _where_lower(jx: Any, condition: Any, x: Any, y: Any) -> Any:
    return jx.jnp.where(_row_mask(condition, x.ndim), x, y)


@where.onnx
def _where_onnx(o: Any, condition: Any, x: Any, y: Any) -> Any:
    mask = o.cast(condition, DType.bool)
    if condition.rank < x.rank:
        mask = o.unsqueeze(mask, range(condition.rank, x.rank))
    return o.Where(mask, x, y)


Cast = defop(
    "Cast",
    inputs=["data"],
    attrs={"dtype": Attr.dtype()},
    aliases=["cast"],
    infer=lambda data, *, dtype: data.with_dtype(dtype),
    doc="x converted to `dtype` (floats to integers truncate). MXNet: Cast.",
)


@Cast.ref
def _cast_ref(data: np.ndarray, *, dtype: DType) -> np.ndarray:
    return data.astype(dtype.numpy)


@Cast.lower
def _cast_lower(jx: Any, data: Any, *, dtype: DType) -> Any:
    return data.astype(dtype.numpy)


@Cast.onnx
def _cast_onnx(o: Any, data: Any, *, dtype: DType) -> Any:
    return o.Cast(data, to=o.dtype_code(dtype))


def _add_n_infer(*args: TensorType, num_args: int | None) -> TensorType:
    if not args:
        raise ShapeError("add_n takes at least one input, got none")
    if num_args is not None and num_args != len(args):
        raise ShapeError(f"num_args is {num_args} but {len(args)} inputs were given")
    dtype = same_dtype(*args)
    shapes = {t.shape for t in args}
    if len(shapes) > 1:
        raise ShapeError(f"inputs have shapes {sorted(map(str, shapes))}; expected one shape")
    return TensorType(dtype, args[0].shape)


add_n = defop(
    "add_n",
    inputs=["*args"],
    attrs={"num_args": Attr.int(None)},
    aliases=["ElementWiseSum"],
    infer=_add_n_infer,
    inplace={0: 0},
    doc="The sum of all inputs, of one shape. MXNet: add_n (num_args is the input count).",
)


@add_n.ref
def _add_n_ref(*args: np.ndarray, num_args: int | None) -> np.ndarray:
    return functools.reduce(np.add, args)


@add_n.lower
def _add_n_lower(jx: Any, *args: Any, num_args: int | None) -> Any:
    return functools.reduce(lambda a, b: a + b, args)


@add_n.onnx
def _add_n_onnx(o: Any, *args: Any, num_args: int | None) -> Any:
    return o.Sum(*args)
