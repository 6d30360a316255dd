"""mx.test_utils: MXNet's test helpers with the same names (and default tolerances)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hybrix.gluon.data.vision.datasets import MNIST, find_file, read_idx

__all__ = [
    "almost_equal",
    "assert_almost_equal",
    "check_numeric_gradient",
    "check_symbolic_backward",
    "check_symbolic_forward",
    "default_atols",
    "default_context",
    "default_numeric_eps",
    "default_rtols",
    "get_mnist",
    "list_gpus",
    "numeric_grad",
    "rand_ndarray",
    "rand_shape_2d",
    "rand_shape_nd",
    "same",
    "set_default_context",
]


def get_mnist(path: str | None = None) -> dict[str, Any]:
    """MNIST from the four standard files in `path` (default: the current directory).

    As MXNet's: images (N, 1, 28, 28) float32 in [0, 1], labels int8. Nothing is
    downloaded; a missing file raises an error naming the files and the folder.
    """
    folder = Path(path) if path else Path.cwd()
    names = MNIST.FILES[True] + MNIST.FILES[False]
    result = {}
    for split, prefix in (("train", True), ("test", False)):
        images_name, labels_name = MNIST.FILES[prefix]
        images = read_idx(find_file(folder, images_name, "get_mnist", names), 3)
        labels = read_idx(find_file(folder, labels_name, "get_mnist", names), 1)
        result[f"{split}_data"] = (images.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
        result[f"{split}_label"] = labels.astype(np.int8)
    return result


# -- comparisons (MXNet 1.9.1 test_utils: default tolerances by dtype) ------------------
def default_rtols() -> dict[np.dtype, float]:
    """Relative tolerance per dtype when none is given (MXNet's values)."""
    return {
        np.dtype(np.float16): 1e-2,
        np.dtype(np.float32): 1e-4,
        np.dtype(np.float64): 1e-5,
        **{np.dtype(t): 0 for t in _EXACT_TYPES},
    }


def default_atols() -> dict[np.dtype, float]:
    """Absolute tolerance per dtype when none is given (MXNet's values)."""
    return {
        np.dtype(np.float16): 1e-1,
        np.dtype(np.float32): 1e-3,
        np.dtype(np.float64): 1e-20,
        **{np.dtype(t): 0 for t in _EXACT_TYPES},
    }


def default_numeric_eps() -> dict[np.dtype, float]:
    """Finite-difference step per dtype (powers of two, as MXNet)."""
    return {
        np.dtype(np.float16): 1.0 / 2**6,
        np.dtype(np.float32): 1.0 / 2**9,
        np.dtype(np.float64): 1.0 / 2**14,
    }


_EXACT_TYPES = (np.bool_, np.int8, np.uint8, np.int32, np.uint32, np.int64, np.uint64)


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "asnumpy"):
        return value.asnumpy()
    return np.asarray(value)


def get_tolerance(dat: Any, tol: Any, default_tol: dict) -> float:
    """`tol` if it is a number, else the (dict or default) entry for dat's dtype."""
    if isinstance(tol, int | float):
        return float(tol)
    table = default_tol if tol is None else tol
    dtype = np.dtype(getattr(dat, "dtype", np.float32))
    if dtype.name == "bfloat16":
        dtype = np.dtype(np.float16)
    return table.get(dtype, table.get(np.dtype(np.float32), 0.0))


def get_tols(a: Any, b: Any, rtol: Any, atol: Any) -> tuple[float, float]:
    """The looser of the two arrays' tolerances (MXNet's get_tols)."""
    rtol = max(get_tolerance(a, rtol, default_rtols()), get_tolerance(b, rtol, default_rtols()))
    atol = max(get_tolerance(a, atol, default_atols()), get_tolerance(b, atol, default_atols()))
    return rtol, atol


def same(a: Any, b: Any) -> bool:
    """Whether two arrays are exactly equal (shape and values)."""
    return bool(np.array_equal(_numpy(a), _numpy(b)))


def almost_equal(
    a: Any,
    b: Any,
    rtol: Any = None,
    atol: Any = None,
    equal_nan: bool = False,
    use_broadcast: bool = True,
) -> bool:
    """np.allclose with MXNet's default tolerances for the arrays' dtypes."""
    rtol, atol = get_tols(a, b, rtol, atol)
    a, b = _numpy(a), _numpy(b)
    if not use_broadcast and a.shape != b.shape:
        return False
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def assert_almost_equal(
    a: Any,
    b: Any,
    rtol: Any = None,
    atol: Any = None,
    names: tuple[str, str] = ("a", "b"),
    equal_nan: bool = False,
    use_broadcast: bool = True,
    mismatches: tuple[int, int] = (10, 10),
) -> None:
    """Raise AssertionError naming the worst element when `a` and `b` differ beyond
    atol + rtol * |b| (tolerances by dtype when not given, as MXNet)."""
    rtol, atol = get_tols(a, b, rtol, atol)
    a, b = _numpy(a), _numpy(b)
    if not use_broadcast and a.shape != b.shape:
        raise AssertionError(f"{names[0]}.shape = {a.shape} and {names[1]}.shape = {b.shape}")
    if np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan):
        return
    wide_a, wide_b = np.broadcast_arrays(a.astype(np.float64), b.astype(np.float64))
    diff = np.where(wide_a == wide_b, 0, np.abs(wide_a - wide_b))
    violation = diff / (atol + rtol * np.abs(wide_b) + 1e-20)
    if equal_nan:
        violation = np.where(np.isnan(wide_a) & np.isnan(wide_b), 0, violation)
    violation = np.where(np.isnan(violation), np.inf, violation)
    index = np.unravel_index(int(np.argmax(violation)), violation.shape)
    count = int(np.sum(violation > 1))
    raise AssertionError(
        f"Items are not equal: error {float(violation[index]):.6g} exceeds tolerance "
        f"rtol={rtol:.6g}, atol={atol:.6g} ({count} of {violation.size} elements). "
        f"Location of maximum error: {tuple(int(i) for i in index)}, "
        f"{names[0]}={wide_a[index]:.8f}, {names[1]}={wide_b[index]:.8f}"
    )


# -- random data and contexts -----------------------------------------------------------
def rand_shape_nd(num_dim: int, dim: int = 10, allow_zero_size: bool = False) -> tuple:
    """A random shape of `num_dim` dims, each in [1, dim] ([0, dim] with zero sizes)."""
    low = 0 if allow_zero_size else 1
    return tuple(int(d) for d in np.random.randint(low, dim + 1, size=num_dim))  # noqa: NPY002 (MXNet seeds these via np.random.seed)


def rand_shape_2d(dim0: int = 10, dim1: int = 10, allow_zero_size: bool = False) -> tuple:
    low = 0 if allow_zero_size else 1
    return int(np.random.randint(low, dim0 + 1)), int(np.random.randint(low, dim1 + 1))  # noqa: NPY002 (MXNet seeds these via np.random.seed)


def rand_ndarray(
    shape: Any,
    stype: str = "default",
    density: Any = None,
    dtype: Any = None,
    modifier_func: Any = None,
    shuffle_csr_indices: bool = False,
    distribution: Any = None,
    ctx: Any = None,
) -> Any:
    """A dense NDArray of uniform [0, 1) numbers (sparse storage types are not supported)."""
    from hybrix import nd
    from hybrix.ir import HybrixError

    if stype != "default":
        raise HybrixError(f"rand_ndarray: stype {stype!r} is not supported; hybrix is dense only")
    data = np.random.uniform(size=shape)  # noqa: NPY002 (MXNet seeds these via np.random.seed)
    if modifier_func is not None:
        data = modifier_func(data)
    return nd.array(data, ctx=ctx or default_context(), dtype=dtype or np.float32)


_DEFAULT_CONTEXT: list[Any] = [None]


def default_context() -> Any:
    """The context tests run on (the current one unless set_default_context was called)."""
    from hybrix.context import current_context

    return _DEFAULT_CONTEXT[0] or current_context()


def set_default_context(ctx: Any) -> None:
    _DEFAULT_CONTEXT[0] = ctx


def list_gpus() -> list[int]:
    """Indices of the visible GPUs (empty on a CPU-only machine)."""
    from hybrix.context import num_gpus

    return list(range(num_gpus()))


# -- checking symbols -------------------------------------------------------------------
def _parse_location(symbol: Any, location: Any, dtype: Any) -> dict[str, Any]:
    from hybrix import nd
    from hybrix.ir import HybrixError

    names = symbol.list_arguments()
    if isinstance(location, dict):
        if set(location) != set(names):
            raise HybrixError(
                f"location names {sorted(location)} do not match the symbol's arguments {names}"
            )
    else:
        location = dict(zip(names, location, strict=True))
    return {k: nd.array(_numpy(v), dtype=_float_or_same(v, dtype)) for k, v in location.items()}


def _float_or_same(value: Any, dtype: Any) -> Any:
    kind = np.dtype(getattr(value, "dtype", np.float64)).kind
    return dtype if kind == "f" else np.dtype(value.dtype)


def _parse_aux(symbol: Any, aux_states: Any, dtype: Any) -> dict[str, Any] | None:
    from hybrix import nd

    if aux_states is None:
        return None
    if not isinstance(aux_states, dict):
        aux_states = dict(zip(symbol.list_auxiliary_states(), aux_states, strict=True))
    return {k: nd.array(_numpy(v), dtype=dtype) for k, v in aux_states.items()}


def numeric_grad(
    executor: Any,
    location: dict[str, np.ndarray],
    aux_states: Any = None,
    eps: float = 1e-4,
    use_forward_train: bool = True,
    dtype: Any = np.float32,
) -> dict[str, np.ndarray]:
    """Central finite differences of sum(output 0) for every element of every float
    argument in `location` (MXNet's numeric_grad)."""
    from hybrix import nd

    grads = {k: np.zeros(v.shape, dtype=dtype) for k, v in location.items()}
    for name, value in location.items():
        value = np.array(value, dtype=value.dtype)
        if value.dtype.kind != "f":
            continue
        flat = value.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            results = []
            for delta in (eps / 2.0, -eps / 2.0):
                flat[i] = old + delta
                executor.arg_dict[name][:] = nd.array(value, dtype=dtype)
                for key, aux in (aux_states or {}).items():
                    executor.aux_dict[key][:] = nd.array(aux, dtype=dtype)
                executor.forward(is_train=use_forward_train)
                results.append(executor.outputs[0].asnumpy().astype(np.float64))
            flat[i] = old
            grads[name].reshape(-1)[i] = (results[0] - results[1]).sum() / eps
        executor.arg_dict[name][:] = nd.array(value, dtype=dtype)
    return grads


def check_numeric_gradient(
    sym: Any,
    location: Any,
    aux_states: Any = None,
    numeric_eps: Any = None,
    rtol: Any = None,
    atol: Any = None,
    grad_nodes: Any = None,
    use_forward_train: bool = True,
    ctx: Any = None,
    grad_stype_dict: Any = None,
    dtype: Any = np.float32,
) -> None:
    """Compare the executor's backward with finite differences of sum(out * proj) for a
    random projection `proj`, as MXNet's check_numeric_gradient."""
    from hybrix import nd
    from hybrix import symbol as symbols

    ctx = ctx or default_context()
    location = _parse_location(sym, location, dtype)
    location_npy = {k: v.asnumpy() for k, v in location.items()}
    aux = _parse_aux(sym, aux_states, dtype)
    aux_npy = None if aux is None else {k: v.asnumpy() for k, v in aux.items()}
    if grad_nodes is None:
        grad_req = dict.fromkeys(sym.list_arguments(), "write")
    elif isinstance(grad_nodes, dict):
        grad_req = dict(grad_nodes)
    else:
        grad_req = dict.fromkeys(grad_nodes, "write")
    _, out_shapes, _ = sym.infer_shape(**{k: v.shape for k, v in location.items()})
    proj = symbols.var("__random_proj")
    out = symbols.make_loss(sym * proj)
    location["__random_proj"] = nd.array(np.random.rand(*out_shapes[0]) + 0.1, dtype=dtype)  # noqa: NPY002 (MXNet seeds these via np.random.seed)
    args_grad = {
        k: nd.array(np.random.normal(0, 0.01, size=location[k].shape), dtype=dtype)  # noqa: NPY002 (MXNet seeds these via np.random.seed)
        for k in grad_req
    }
    executor = out.bind(ctx, location, args_grad, grad_req, aux)
    executor.forward(is_train=True)
    eps = get_tolerance(executor.outputs[0], numeric_eps, default_numeric_eps())
    executor.backward()
    symbolic = {k: v.asnumpy() for k, v in executor.grad_dict.items()}
    location_npy["__random_proj"] = location["__random_proj"].asnumpy()
    numeric = numeric_grad(executor, location_npy, aux_npy, eps, use_forward_train, dtype)
    for name in grad_req:
        if grad_req[name] == "null" or location_npy[name].dtype.kind != "f":
            continue
        expected = numeric[name]
        if grad_req[name] == "add":
            expected = expected + _numpy(args_grad[name])
        assert_almost_equal(
            expected,
            symbolic[name],
            rtol,
            atol,
            (f"NUMERICAL_{name}", f"BACKWARD_{name}"),
        )


def check_symbolic_forward(
    sym: Any,
    location: Any,
    expected: Any,
    rtol: Any = None,
    atol: Any = None,
    aux_states: Any = None,
    ctx: Any = None,
    equal_nan: bool = False,
    dtype: Any = np.float32,
) -> list[np.ndarray]:
    """Run the symbol's forward (predict mode) and compare each output with `expected`."""
    ctx = ctx or default_context()
    location = _parse_location(sym, location, dtype)
    aux = _parse_aux(sym, aux_states, dtype)
    if isinstance(expected, dict):
        expected = [expected[k] for k in sym.list_outputs()]
    executor = sym.bind(ctx, location, None, "null", aux)
    outputs = [o.asnumpy() for o in executor.forward(is_train=False)]
    for name, want, got in zip(sym.list_outputs(), expected, outputs, strict=True):
        assert_almost_equal(
            want, got, rtol, atol, (f"EXPECTED_{name}", f"FORWARD_{name}"), equal_nan=equal_nan
        )
    return outputs


def check_symbolic_backward(
    sym: Any,
    location: Any,
    out_grads: Any,
    expected: Any,
    rtol: Any = None,
    atol: Any = None,
    aux_states: Any = None,
    grad_req: Any = "write",
    ctx: Any = None,
    grad_stypes: Any = None,
    equal_nan: bool = False,
    dtype: Any = np.float32,
) -> dict[str, np.ndarray]:
    """Run forward (training mode) and backward with `out_grads`; compare the gradients
    with `expected` (a list in argument order or a {name: array} dict)."""
    from hybrix import nd

    ctx = ctx or default_context()
    location = _parse_location(sym, location, dtype)
    aux = _parse_aux(sym, aux_states, dtype)
    names = sym.list_arguments()
    if not isinstance(expected, dict):
        expected = dict(zip(names, expected, strict=True))
    if isinstance(grad_req, str):
        grad_req = dict.fromkeys(expected, grad_req)
    args_grad = {
        k: nd.array(np.random.normal(size=location[k].shape), dtype=dtype)  # noqa: NPY002
        for k in expected
    }
    initial = {k: v.asnumpy() for k, v in args_grad.items()}
    executor = sym.bind(ctx, location, args_grad, {**dict.fromkeys(names, "null"), **grad_req}, aux)
    executor.forward(is_train=True)
    if out_grads is not None:
        if isinstance(out_grads, dict):
            out_grads = [out_grads[k] for k in sym.list_outputs()]
        out_grads = [nd.array(_numpy(g), dtype=dtype) for g in out_grads]
    executor.backward(out_grads)
    grads = {k: v.asnumpy() for k, v in executor.grad_dict.items()}
    for name, want in expected.items():
        req = grad_req.get(name, "null")
        if req == "null":
            continue
        want = _numpy(want) + (initial[name] if req == "add" else 0)
        assert_almost_equal(
            want,
            grads[name],
            rtol,
            atol,
            (f"EXPECTED_{name}", f"BACKWARD_{name}"),
            equal_nan=equal_nan,
        )
    return grads
