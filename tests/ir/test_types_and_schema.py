"""DType spellings, symbolic dimension arithmetic, attribute coercion and input checking."""

from __future__ import annotations

import numpy as np
import pytest

from hybrix.ir import AttrError, DType, HybrixError, ShapeError, TensorType, TypeMismatchError
from hybrix.ir.graph import Value
from hybrix.ir.ops import Attr
from hybrix.ir.signature import check_inputs
from hybrix.ir.types import broadcast_shapes, dim_div, dim_mul, dim_prod


@pytest.mark.parametrize("dtype", list(DType))
def test_dtype_spellings_round_trip(dtype):
    assert DType.from_any(dtype.name) is dtype
    assert DType.from_any(dtype.short) is dtype
    assert DType.from_any(dtype.numpy) is dtype
    assert DType.from_mxnet_flag(dtype.mxnet_flag) is dtype
    assert dtype.itemsize == dtype.numpy.itemsize


def test_dtype_from_numpy_scalar_types():
    assert DType.from_any(np.float32) is DType.float32
    assert DType.from_any(bool) is DType.bool
    with pytest.raises(HybrixError, match="unsupported dtype 'complex64'"):
        DType.from_any("complex64")
    with pytest.raises(HybrixError, match="unknown MXNet type flag 99"):
        DType.from_mxnet_flag(99)


def test_symbolic_dims_multiply_and_divide():
    assert dim_mul("N", 4) == "4*N"
    assert dim_mul(3, "4*N") == "12*N"
    assert dim_prod(["N", 3, "T"]) == "3*N*T"
    assert dim_div("12*N", 3) == "4*N"
    assert dim_div("3*N*T", "T") == "3*N"
    assert dim_div(12, 4) == 3
    with pytest.raises(ShapeError, match="not divisible"):
        dim_div("3*N", 2)
    with pytest.raises(ShapeError):
        dim_div(7, 2)


def test_broadcast_shapes_with_symbols():
    assert broadcast_shapes(("N", 1, 4), (3, 1)) == ("N", 3, 4)
    assert broadcast_shapes((), (2,)) == (2,)
    with pytest.raises(ShapeError, match="do not broadcast"):
        broadcast_shapes((2, 3), (4, 3))


def test_tensor_type_text_and_validation():
    assert str(TensorType(DType.float32, ("N", 4))) == "f32[N,4]"
    assert str(TensorType(DType.int64, ())) == "i64[]"
    with pytest.raises(ShapeError):
        TensorType(DType.float32, (-1,))
    with pytest.raises(ShapeError):
        TensorType(DType.float32, (2.0,))


@pytest.mark.parametrize(
    ("attr", "given", "expected"),
    [
        (Attr.int(), np.int64(3), 3),
        (Attr.float(), 2, 2.0),
        (Attr.bool(), 1, True),
        (Attr.ints(), 3, (3,)),
        (Attr.ints(), [1, 2], (1, 2)),
        (Attr.opt_ints(), [1, None], (1, None)),
        (Attr.dtype(), "float16", DType.float16),
        (Attr.str(None), None, None),
    ],
)
def test_attr_coercion(attr, given, expected):
    assert attr.coerce(given, "here") == expected


@pytest.mark.parametrize(
    ("attr", "given", "message"),
    [
        (Attr.int(), "3", "expected int"),
        (Attr.int(), 2.5, "expected int"),
        (Attr.bool(), 2, "expected bool"),
        (Attr.ints(), ["a"], "expected ints"),
        (Attr.str("max", choices=("max", "avg")), "mean", r"expected one of \['max', 'avg'\]"),
        (Attr.int(1), None, "expected int, got None"),
    ],
)
def test_attr_errors_name_the_place(attr, given, message):
    with pytest.raises(AttrError, match=f"node7: {message}"):
        attr.coerce(given, "node7")


def value(name, dtype, shape):
    return Value(name, TensorType(DType.from_any(dtype), shape))


def test_check_inputs_binds_symbols_once():
    inputs = [value("x", "float32", ("N", 3)), value("y", "float32", ("N",))]
    x, y = np.zeros((4, 3), np.float32), np.zeros(4, np.float32)
    assert check_inputs(inputs, [x, y], "g") == {"N": 4}
    with pytest.raises(ShapeError, match=r"input y expects shape \[N\] with \{'N': 4\}, got \[5\]"):
        check_inputs(inputs, [x, np.zeros(5, np.float32)], "g")
    with pytest.raises(TypeMismatchError, match="input x expects dtype float32, got float64"):
        check_inputs(inputs, [x.astype(np.float64), y], "g")
    with pytest.raises(HybrixError, match=r"expected 2 inputs \(x, y\), got 1"):
        check_inputs(inputs, [x], "g")
