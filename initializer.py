"""Weight initializers (`mx.init`): Uniform, Normal, Xavier, MSRAPrelu, Orthogonal, ...

As in MXNet 1.9.1 (python/mxnet/initializer.py), an initializer is called with an
`InitDesc` (a parameter name with attributes) and the NDArray to fill. With an
`__init__` attribute (a Gluon parameter's own `init`, or the global one) that
initializer's `_init_weight` fills the array whatever the name; otherwise the name's
suffix picks `_init_weight` / `_init_bias` (0) / `_init_gamma` (1) / `_init_beta` (0).
Random draws come from hybrix's global generator (`mx.random.seed`), so runs repeat.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from hybrix.ir import HybrixError

__all__ = [
    "Bilinear",
    "Constant",
    "InitDesc",
    "Initializer",
    "LSTMBias",
    "Load",
    "MSRAPrelu",
    "Mixed",
    "Normal",
    "One",
    "Orthogonal",
    "Uniform",
    "Xavier",
    "Zero",
    "create",
    "register",
]

_REGISTRY: dict[str, type] = {}


class InitializerError(HybrixError, ValueError):
    """An initializer that cannot fill an array (unknown name, wrong shape, no pattern)."""


class InitDesc(str):
    """A parameter name carrying `attrs` (e.g. `{'__init__': 'zeros'}`) and `global_init`."""

    def __new__(cls, name: str, attrs: dict | None = None, global_init: Any = None) -> InitDesc:
        desc = super().__new__(cls, name)
        desc.attrs = attrs or {}
        desc.global_init = global_init
        return desc


def register(klass: type) -> type:
    """Class decorator: make an Initializer creatable by its lower-case class name."""
    if not (isinstance(klass, type) and issubclass(klass, Initializer)):
        raise InitializerError(f"register expects an Initializer subclass, got {klass!r}")
    _REGISTRY[klass.__name__.lower()] = klass
    return klass


def alias(*names: str) -> Callable[[type], type]:
    """Class decorator: extra registry names (`zeros` for Zero)."""

    def decorate(klass: type) -> type:
        for name in names:
            _REGISTRY[name.lower()] = klass
        return klass

    return decorate


def create(init: Any, **kwargs: Any) -> Initializer:
    """An Initializer from an instance, a registered name, or `dumps()` JSON."""
    if isinstance(init, Initializer | Mixed | Load):
        return init
    if isinstance(init, type) and issubclass(init, Initializer):
        return init(**kwargs)
    if not isinstance(init, str):
        raise InitializerError(
            f"cannot create an initializer from {type(init).__name__} {init!r:.60}; "
            "expected an Initializer, its name or its dumps() string"
        )
    if init.startswith("["):
        name, stored = json.loads(init)
        return create(name, **{**stored, **kwargs})
    klass = _REGISTRY.get(init.lower())
    if klass is None:
        raise InitializerError(
            f"unknown initializer {init!r}; registered: {', '.join(sorted(_REGISTRY))}"
        )
    return klass(**kwargs)


class Initializer:
    """Base class: subclass and override `_init_weight` (and others) for new schemes."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._verbose = False
        self._print_func: Callable[[Any], str] | None = None

    def set_verbosity(self, verbose: bool = False, print_func: Any = None) -> Initializer:
        """Print each initialized array's name (and print_func(array), default its norm)."""
        self._verbose = verbose
        self._print_func = print_func or (lambda x: f"{float(np.linalg.norm(x)):.6g}")
        return self

    def _verbose_print(self, desc: str, init: Any, arr: Any) -> None:
        if self._verbose and self._print_func is not None:
            print(f"Initialized {desc} as {init}: {self._print_func(arr.asnumpy())}")

    def dumps(self) -> str:
        """`[name, kwargs]` as JSON; `create` reads it back."""
        return json.dumps([self.__class__.__name__.lower(), self._kwargs])

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._kwargs})"

    def __call__(self, desc: Any, arr: Any) -> None:
        if not isinstance(desc, InitDesc):
            desc = InitDesc(str(desc))
        if desc.global_init is None:
            desc.global_init = self
        init = desc.attrs.get("__init__", "")
        if init:
            create(init)._init_weight(desc, arr)
            self._verbose_print(desc, init, arr)
            return
        for suffix, method in _SUFFIX_METHODS:
            if desc.endswith(suffix):
                getattr(self, method)(desc, arr)
                self._verbose_print(desc, suffix, arr)
                return
        self._init_default(desc, arr)

    # -- the per-kind fills --------------------------------------------------------
    def _init_weight(self, name: str, arr: Any) -> None:
        raise InitializerError(f"{self.__class__.__name__} does not define _init_weight ({name})")

    def _init_bias(self, name: str, arr: Any) -> None:
        arr[:] = 0.0

    def _init_gamma(self, name: str, arr: Any) -> None:
        arr[:] = 1.0

    def _init_beta(self, name: str, arr: Any) -> None:
        arr[:] = 0.0

    def _init_zero(self, name: str, arr: Any) -> None:
        arr[:] = 0.0

    def _init_one(self, name: str, arr: Any) -> None:
        arr[:] = 1.0

    def _init_default(self, name: str, arr: Any) -> None:
        raise InitializerError(
            f"unknown initialization pattern for {name!r}: without an init of its own a "
            "parameter's name must end with weight, bias, gamma, beta, min or max"
        )


_SUFFIX_METHODS = (
    ("weight", "_init_weight"),
    ("bias", "_init_bias"),
    ("gamma", "_init_gamma"),
    ("beta", "_init_beta"),
    ("min", "_init_zero"),
    ("max", "_init_one"),
)


def _uniform(arr: Any, low: float, high: float) -> None:
    from hybrix.ndarray.random import host_generator

    _fill_from_host(arr, host_generator().uniform(low, high, size=arr.shape))


def _normal(arr: Any, loc: float, scale: float) -> None:
    from hybrix.ndarray.random import host_generator

    _fill_from_host(arr, host_generator().normal(loc, scale, size=arr.shape))


def _fill_from_host(arr: Any, values: np.ndarray) -> None:
    """Draw on the host and copy once: a device draw would compile one program per shape,
    which made initialising a ResNet take seconds."""
    import jax

    arr._data = jax.device_put(values.astype(_float_dtype(arr)), arr.context.device)


def _float_dtype(arr: Any) -> str:
    dtype = np.dtype(arr.dtype)
    return dtype.name if dtype.kind == "f" else "float32"


@register
@alias("zeros")
class Zero(Initializer):
    """Fills with 0."""

    def _init_weight(self, name: str, arr: Any) -> None:
        arr[:] = 0


@register
@alias("ones")
class One(Initializer):
    """Fills with 1."""

    def _init_weight(self, name: str, arr: Any) -> None:
        arr[:] = 1


@register
class Constant(Initializer):
    """Fills with `value` (a scalar, or an array broadcast to the parameter's shape)."""

    def __init__(self, value: Any) -> None:
        super().__init__(value=value)
        self.value = value

    def _init_weight(self, name: str, arr: Any) -> None:
        value = self.value
        if not np.isscalar(value):
            value = np.broadcast_to(np.asarray(value), arr.shape)
        arr[:] = value

    def dumps(self) -> str:
        value = self.value
        value = value.tolist() if hasattr(value, "tolist") else value
        return json.dumps([self.__class__.__name__.lower(), {"value": value}])


@register
class Uniform(Initializer):
    """Weights from U(-scale, scale)."""

    def __init__(self, scale: float = 0.07) -> None:
        super().__init__(scale=scale)
        self.scale = scale

    def _init_weight(self, name: str, arr: Any) -> None:
        _uniform(arr, -self.scale, self.scale)


@register
class Normal(Initializer):
    """Weights from N(0, sigma**2)."""

    def __init__(self, sigma: float = 0.01) -> None:
        super().__init__(sigma=sigma)
        self.sigma = sigma

    def _init_weight(self, name: str, arr: Any) -> None:
        _normal(arr, 0, self.sigma)


@register
class Orthogonal(Initializer):
    """An orthogonal matrix (SVD of a random one) times `scale` (Saxe et al. 2013)."""

    def __init__(self, scale: float = 1.414, rand_type: str = "uniform") -> None:
        super().__init__(scale=scale, rand_type=rand_type)
        if rand_type not in ("uniform", "normal"):
            raise InitializerError(
                f"Orthogonal rand_type is {rand_type!r}, expected uniform/normal"
            )
        self.scale = scale
        self.rand_type = rand_type

    def _init_weight(self, name: str, arr: Any) -> None:
        from hybrix.ndarray import random

        nout, nin = arr.shape[0], int(np.prod(arr.shape[1:]))
        if self.rand_type == "uniform":
            matrix = random.uniform(-1.0, 1.0, shape=(nout, nin), dtype="float64").asnumpy()
        else:
            matrix = random.normal(0.0, 1.0, shape=(nout, nin), dtype="float64").asnumpy()
        u, _, v = np.linalg.svd(matrix, full_matrices=False)
        result = u if u.shape == matrix.shape else v
        arr[:] = (self.scale * result.reshape(arr.shape)).astype(np.dtype(arr.dtype))


@register
class Xavier(Initializer):
    """Glorot: scale = sqrt(magnitude / fan), fan by factor_type avg/in/out."""

    def __init__(
        self, rnd_type: str = "uniform", factor_type: str = "avg", magnitude: float = 3
    ) -> None:
        super().__init__(rnd_type=rnd_type, factor_type=factor_type, magnitude=magnitude)
        if rnd_type not in ("uniform", "gaussian"):
            raise InitializerError(f"Xavier rnd_type is {rnd_type!r}, expected uniform/gaussian")
        if factor_type not in ("avg", "in", "out"):
            raise InitializerError(f"Xavier factor_type is {factor_type!r}, expected avg/in/out")
        self.rnd_type = rnd_type
        self.factor_type = factor_type
        self.magnitude = float(magnitude)

    def _init_weight(self, name: str, arr: Any) -> None:
        shape = arr.shape
        if len(shape) < 2:
            raise InitializerError(
                f"Xavier initializer cannot be applied to vector {name}. It requires at least 2D."
            )
        receptive = float(np.prod(shape[2:])) if len(shape) > 2 else 1.0
        fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
        factor = {"avg": (fan_in + fan_out) / 2.0, "in": fan_in, "out": fan_out}[self.factor_type]
        scale = np.sqrt(self.magnitude / factor)
        if self.rnd_type == "uniform":
            _uniform(arr, -scale, scale)
        else:
            _normal(arr, 0, scale)


@register
class MSRAPrelu(Xavier):
    """He et al. 2015: Gaussian Xavier with magnitude 2 / (1 + slope**2)."""

    def __init__(self, factor_type: str = "avg", slope: float = 0.25) -> None:
        super().__init__("gaussian", factor_type, 2.0 / (1 + slope**2))
        self._kwargs = {"factor_type": factor_type, "slope": slope}


@register
class Bilinear(Initializer):
    """Bilinear upsampling weights (for Deconvolution)."""

    def _init_weight(self, name: str, arr: Any) -> None:
        shape = arr.shape
        weight = np.zeros(int(np.prod(shape)), dtype="float32")
        f = np.ceil(shape[3] / 2.0)
        c = (2 * f - 1 - f % 2) / (2.0 * f)
        for i in range(weight.size):
            x = i % shape[3]
            y = (i // shape[3]) % shape[2]
            weight[i] = (1 - abs(x / f - c)) * (1 - abs(y / f - c))
        arr[:] = weight.reshape(shape)


@register
class LSTMBias(Initializer):
    """Zero bias except the forget gate (second quarter), set to `forget_bias`."""

    def __init__(self, forget_bias: float = 1.0) -> None:
        super().__init__(forget_bias=forget_bias)
        self.forget_bias = forget_bias

    def _init_weight(self, name: str, arr: Any) -> None:
        values = np.zeros(arr.shape, np.dtype(arr.dtype))
        hidden = arr.shape[0] // 4
        values[hidden : 2 * hidden] = self.forget_bias
        arr[:] = values


class Mixed:
    """Pick the initializer by the first regex in `patterns` that matches the name."""

    def __init__(self, patterns: list[str], initializers: list[Any]) -> None:
        if len(patterns) != len(initializers):
            raise InitializerError(
                f"Mixed: {len(patterns)} patterns for {len(initializers)} initializers"
            )
        self.map = [(re.compile(p), create(i)) for p, i in zip(patterns, initializers, strict=True)]

    def __call__(self, name: Any, arr: Any) -> None:
        for pattern, init in self.map:
            if pattern.match(name):
                init(name, arr)
                return
        raise InitializerError(
            f"Parameter name {name} did not match any pattern of Mixed "
            f"({[p.pattern for p, _ in self.map]}); add a '.*' pattern with a default"
        )

    def _init_weight(self, name: str, arr: Any) -> None:
        self(name, arr)


class Load:
    """Values from a dict of arrays or a .params file (arg:/aux: prefixes stripped)."""

    def __init__(self, param: Any, default_init: Any = None, verbose: bool = False) -> None:
        if isinstance(param, str):
            from hybrix.ndarray import load

            param = load(param)
        if not isinstance(param, dict):
            raise InitializerError("Load expects a dict of arrays or a .params file of named ones")
        self.param = {_strip_arg_aux(k): v for k, v in param.items()}
        self.default_init = default_init
        self.verbose = verbose

    def __call__(self, name: Any, arr: Any) -> None:
        name = str(name)
        if name in self.param:
            value = self.param[name]
            if tuple(value.shape) != tuple(arr.shape):
                raise InitializerError(
                    f"Load: parameter {name} has shape {tuple(arr.shape)} but the loaded "
                    f"array has shape {tuple(value.shape)}"
                )
            arr[:] = np.asarray(value)
            if self.verbose:
                print(f"Initialized {name} by loading")
            return
        if self.default_init is None:
            raise InitializerError(
                f"Load: cannot initialize {name}: it is not in the loaded parameters and "
                "no default_init was given"
            )
        create(self.default_init)(name, arr)

    def _init_weight(self, name: str, arr: Any) -> None:
        self(name, arr)


def _strip_arg_aux(name: str) -> str:
    return name[4:] if name.startswith(("arg:", "aux:")) else name
