"""Gluon Parameter, Constant and ParameterDict, with MXNet 1.9.1's API and names.

A Parameter holds one NDArray per context (`data(ctx)`, `list_data()`) and, unless
grad_req is 'null', one gradient NDArray per context. The NDArray objects stay the same
for the parameter's life (a Trainer replaces their `_data` jax arrays in place); only
`initialize(force_reinit=True)`, `reset_ctx` and `cast` make new ones. A shape may hold
0 for a dimension not known yet: initialization is then deferred until a Block's first
forward fills the shape from its input (MXNet's deferred initialization).
"""

from __future__ import annotations

import re
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from hybrix import autograd, initializer
from hybrix.context import Context, cpu, current_context
from hybrix.ir import DType, HybrixError
from hybrix.ndarray import NDArray
from hybrix.ndarray import utils as nd_utils

__all__ = [
    "Constant",
    "DeferredInitializationError",
    "Parameter",
    "ParameterDict",
    "ParameterError",
    "shape_is_known",
]

_GRAD_REQS = ("write", "add", "null")


class ParameterError(HybrixError, RuntimeError):
    """A parameter used before initialization, on a context it is not on, or misloaded."""


class DeferredInitializationError(ParameterError):
    """The parameter's shape is not known yet; the first forward pass will initialize it."""


def shape_is_known(shape: Any) -> bool:
    """True when every dimension is known (> 0); a 0 or -1 dimension is unknown."""
    if shape is None:
        return False
    return all(int(d) > 0 for d in shape)


def _as_context_list(ctx: Any) -> list[Context]:
    if ctx is None:
        return [current_context()]
    if isinstance(ctx, Context):
        return [ctx]
    return list(ctx)


def _brief(names: Any, limit: int = 6) -> str:
    names = list(names)
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


class Parameter:
    """A weight of a Block: name, shape (0 = unknown), dtype, grad_req and its arrays."""

    def __init__(
        self,
        name: str,
        grad_req: str = "write",
        shape: Any = None,
        dtype: Any = np.float32,
        lr_mult: float = 1.0,
        wd_mult: float = 1.0,
        init: Any = None,
        allow_deferred_init: bool = False,
        differentiable: bool = True,
        stype: str = "default",
        grad_stype: str = "default",
    ) -> None:
        self._data: list[NDArray] | None = None
        self._grad: list[NDArray] | None = None
        self._ctx_list: list[Context] | None = None
        self._deferred_init: tuple = ()
        self._differentiable = differentiable
        self._allow_deferred_init = allow_deferred_init
        self._grad_req = "null"
        self._trainer: Any = None
        self._shape: tuple | None = None
        if isinstance(shape, int):
            shape = (shape,)
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.lr_mult = lr_mult
        self.wd_mult = wd_mult
        self.init = init
        self._stype = stype
        self._grad_stype = grad_stype
        self.grad_req = grad_req if differentiable else "null"

    def __repr__(self) -> str:
        return f"Parameter {self.name} (shape={self.shape}, dtype={_dtype_name(self.dtype)})"

    @property
    def _np_dtype(self) -> np.dtype:
        return DType.from_any(self._dtype).numpy

    # -- attributes ------------------------------------------------------------------
    @property
    def grad_req(self) -> str:
        return self._grad_req

    @grad_req.setter
    def grad_req(self, req: str) -> None:
        if req not in _GRAD_REQS:
            raise ParameterError(
                f"Parameter {self.name}: grad_req must be one of {list(_GRAD_REQS)}, got {req!r}"
            )
        if not self._differentiable:
            req = "null"
        if self._grad_req == req:
            return
        self._grad_req = req
        if req == "null" and self._grad is not None:
            self._grad = None
            self._data = [NDArray(d._data, d._ctx) for d in self._data or []]
        elif self._data is not None:
            self._init_grad()

    @property
    def shape(self) -> tuple | None:
        return self._shape

    @shape.setter
    def shape(self, new_shape: Any) -> None:
        if new_shape is None:
            self._shape = None
            return
        new_shape = tuple(int(d) for d in new_shape)
        if self._shape is None:
            self._shape = new_shape
            return
        compatible = len(self._shape) == len(new_shape) and all(
            old in (-1, 0, new) for new, old in zip(new_shape, self._shape, strict=True)
        )
        if not compatible:
            raise ParameterError(
                f"Parameter {self.name}: expected shape {self._shape} is incompatible with "
                f"given shape {new_shape}"
            )
        self._shape = new_shape

    @property
    def dtype(self) -> Any:
        """As given (MXNet prints 'float32' for a string, <class 'numpy.float32'> else)."""
        return self._dtype

    @dtype.setter
    def dtype(self, dtype: Any) -> None:
        DType.from_any(dtype)  # NOTE: validates; the value is kept as given, as in MXNet
        self._dtype = dtype

    @property
    def stype(self) -> str:
        return self._stype

    # -- access -------------------------------------------------------------------------
    def _check_and_get(self, arrays: list[NDArray] | None, ctx: Any) -> Any:
        if arrays is not None:
            if ctx is list:
                return arrays
            if ctx is None:
                if len(arrays) == 1:
                    return arrays[0]
                ctx = current_context()
            for index, known in enumerate(self._ctx_list or []):
                if known == ctx:
                    return arrays[index]
            raise ParameterError(
                f"Parameter {self.name} was not initialized on context {ctx}; it was only "
                f"initialized on {self._ctx_list}"
            )
        if self._deferred_init:
            raise DeferredInitializationError(
                f"Parameter {self.name} has not been initialized yet because initialization "
                "was deferred. Actual initialization happens during the first forward pass. "
                "Pass one batch of data through the network before accessing Parameters, or "
                "give in_units, in_channels, etc. to the layers."
            )
        raise ParameterError(
            f"Parameter {self.name} has not been initialized. Initialize parameters (and "
            "create a Trainer) with Block.collect_params(), not Block.params, which lacks "
            "the Parameters of nested child Blocks"
        )

    def data(self, ctx: Any = None) -> NDArray:
        """This parameter's array on `ctx` (the only one, or the current context)."""
        return self._check_and_get(self._data, ctx)

    def list_data(self) -> list[NDArray]:
        return self._check_and_get(self._data, list)

    def grad(self, ctx: Any = None) -> NDArray:
        if self._data is not None and self._grad is None:
            raise ParameterError(
                f"Cannot get gradient array for Parameter {self.name} because grad_req='null'"
            )
        return self._check_and_get(self._grad, ctx)

    def list_grad(self) -> list[NDArray]:
        if self._data is not None and self._grad is None:
            raise ParameterError(
                f"Cannot get gradient array for Parameter {self.name} because grad_req='null'"
            )
        return self._check_and_get(self._grad, list)

    def list_ctx(self) -> list[Context]:
        if self._data is None:
            if self._deferred_init:
                return list(self._deferred_init[1])
            raise ParameterError(f"Parameter {self.name} has not been initialized")
        return list(self._ctx_list or [])

    def var(self) -> Any:
        """The Symbol of this parameter (needs the symbol frontend)."""
        try:
            from hybrix import symbol
        except ImportError:
            raise ParameterError(
                f"Parameter {self.name}.var() needs hybrix.symbol, which is not available"
            ) from None
        return symbol.var(self.name, shape=self.shape, dtype=self.dtype)

    # -- initialization ----------------------------------------------------------------
    def initialize(
        self,
        init: Any = None,
        ctx: Any = None,
        default_init: Any = None,
        force_reinit: bool = False,
    ) -> None:
        """Create the arrays on `ctx` (list or one Context) filled by `init`.

        init: this call's initializer; else the parameter's own `init`; else default_init
        (Uniform()). A shape with unknown dimensions defers the work to the first forward.
        """
        if self._data is not None and not force_reinit:
            warnings.warn(
                f"Parameter {self.name} is already initialized, ignoring. "
                "Set force_reinit=True to re-initialize.",
                stacklevel=2,
            )
            return
        self._data = self._grad = None
        contexts = _as_context_list(ctx)
        default_init = initializer.Uniform() if default_init is None else default_init
        if init is None:
            init = default_init if self.init is None else self.init
        self._deferred_init = (init, contexts, default_init, None)
        if not shape_is_known(self.shape):
            if self._allow_deferred_init:
                return
            self._deferred_init = ()
            raise ParameterError(
                f"Cannot initialize Parameter {self.name} because it has invalid shape {self.shape}"
            )
        self._finish_deferred_init()

    def _finish_deferred_init(self) -> None:
        if not self._deferred_init:
            return
        init, contexts, default_init, data = self._deferred_init
        if not shape_is_known(self.shape):
            raise DeferredInitializationError(
                f"Parameter {self.name}: cannot finish deferred initialization, the shape "
                f"{self.shape} still has unknown dimensions"
            )
        self._deferred_init = ()
        with autograd.pause():
            if data is None:
                data = nd_utils.zeros(self.shape, ctx=cpu(), dtype=self.dtype)
                desc = initializer.InitDesc(self.name, {"__init__": init})
                initializer.create(default_init)(desc, data)
            self._init_impl(data, contexts)

    def _init_impl(self, data: Any, contexts: list[Context]) -> None:
        self._ctx_list = list(contexts)
        self._data = [_array_on(data, ctx, self.dtype) for ctx in self._ctx_list]
        self._init_grad()

    def _init_grad(self) -> None:
        if self.grad_req == "null" or self._data is None:
            self._grad = None
            return
        self._grad = [nd_utils.zeros(d.shape, ctx=d.context, dtype=d.dtype) for d in self._data]
        mark = getattr(autograd, "mark_variables", None)
        if mark is not None:
            mark(self._data, self._grad, self.grad_req)

    def _load_init(
        self, data: Any, ctx: Any, cast_dtype: bool = False, dtype_source: str = "current"
    ) -> None:
        """Set from loaded data: checks shape and dtype, initializes if needed."""
        data = data if isinstance(data, NDArray) else nd_utils.array(data, dtype=data.dtype)
        self._check_loaded_shape(tuple(data.shape))
        if self._np_dtype != np.dtype(data.dtype):
            if not cast_dtype:
                raise ParameterError(
                    f"Failed loading Parameter {self.name} from saved params: dtype "
                    f"incompatible, expected {_dtype_name(self.dtype)} vs saved "
                    f"{_dtype_name(data.dtype)}. Set cast_dtype=True to cast the saved params."
                )
            if dtype_source == "saved":
                self.dtype = data.dtype
            else:
                data = data.astype(self.dtype)
        contexts = None if ctx is None else _as_context_list(ctx)
        if self._data is None:
            if self._deferred_init:
                contexts = contexts or self._deferred_init[1]
            self._deferred_init = ()
            self._init_impl(data, contexts or [cpu()])
            return
        if contexts is not None and set(contexts) != set(self.list_ctx()):
            raise ParameterError(
                f"Failed to load Parameter {self.name} on {contexts} because it was "
                f"previously initialized on {self.list_ctx()}"
            )
        self.set_data(data)

    def _check_loaded_shape(self, shape: tuple) -> None:
        if self.shape:
            fits = len(self.shape) == len(shape) and all(
                mine in (0, -1, saved) for mine, saved in zip(self.shape, shape, strict=True)
            )
            if not fits:
                raise ParameterError(
                    f"Failed loading Parameter {self.name} from saved params: shape "
                    f"incompatible, expected {self.shape} vs saved {shape}"
                )
        self.shape = shape

    # -- changes ----------------------------------------------------------------------
    def set_data(self, data: Any) -> None:
        """Write `data` into the arrays on every context (before init: use it as init)."""
        self.shape = tuple(data.shape)
        if self._data is None:
            if not self._deferred_init:
                raise ParameterError(f"Parameter {self.name} has not been initialized")
            self._deferred_init = (*self._deferred_init[:3], data)
            return
        for array in self._data:
            array._data = _array_on(data, array.context, self.dtype)._data

    def zero_grad(self) -> None:
        """Set the gradient arrays to 0 (for grad_req='add')."""
        if self._grad is None:
            return
        for grad in self._grad:
            grad._data = grad._data * 0

    def reset_ctx(self, ctx: Any) -> None:
        """Move the parameter to other context(s), keeping its value."""
        contexts = _as_context_list(ctx)
        if self._data is not None:
            data = self._reduce()
            with autograd.pause():
                self._init_impl(data, contexts)
        elif self._deferred_init:
            init, _, default_init, data = self._deferred_init
            self._deferred_init = (init, contexts, default_init, data)
        else:
            raise ParameterError(
                f"Cannot reset context for Parameter {self.name} because it has not been "
                "initialized"
            )

    def cast(self, dtype: Any) -> None:
        """Cast data and gradient to `dtype` (new arrays, as MXNet)."""
        self.dtype = dtype
        if self._data is None:
            return
        with autograd.pause():
            self._data = [d.astype(self.dtype) for d in self._data]
            if self._grad is not None:
                self._init_grad()

    def _reduce(self) -> NDArray:
        """The value on cpu: the mean over contexts (they agree after a Trainer step)."""
        arrays = self.list_data()
        if len(arrays) == 1:
            return arrays[0].copyto(cpu())
        total = np.sum([a.asnumpy().astype(np.float64) for a in arrays], axis=0)
        return nd_utils.array(total / len(arrays), ctx=cpu(), dtype=self.dtype)


def _array_on(data: Any, ctx: Context, dtype: Any) -> NDArray:
    if isinstance(data, NDArray):
        source = data if np.dtype(data.dtype) == np.dtype(dtype) else data.astype(dtype)
        return source.copyto(ctx)
    return nd_utils.array(np.asarray(data), ctx=ctx, dtype=dtype)


def _dtype_name(dtype: Any) -> str:
    return str(dtype) if isinstance(dtype, str) else f"<class 'numpy.{np.dtype(dtype).name}'>"


class Constant(Parameter):
    """A Parameter that never gets gradients, initialized to `value`."""

    def __init__(self, name: str, value: Any) -> None:
        if not isinstance(value, NDArray):
            value = nd_utils.array(np.asarray(value))
        self.value = value
        super().__init__(
            name,
            grad_req="null",
            shape=value.shape,
            dtype=value.dtype,
            init=initializer.Constant(value.asnumpy()),
        )

    def __repr__(self) -> str:
        return f"Constant {self.name} (shape={self.shape}, dtype={_dtype_name(self.dtype)})"

    @property
    def grad_req(self) -> str:
        return "null"

    @grad_req.setter
    def grad_req(self, req: str) -> None:
        if req != "null":
            warnings.warn(
                f'Constant parameter "{self.name}" does not support grad_req other than '
                f'"null", and new value "{req}" is ignored.',
                stacklevel=2,
            )


class ParameterDict:
    """An ordered name -> Parameter mapping with a prefix, shared between Blocks."""

    def __init__(self, prefix: str = "", shared: ParameterDict | None = None) -> None:
        self._prefix = prefix
        self._params: OrderedDict[str, Parameter] = OrderedDict()
        self._shared = shared

    def __repr__(self) -> str:
        name = self._prefix + " " if self._prefix else ""
        content = "\n".join(f"  {v}" for v in self.values())
        return f"{name}(\n{content}\n)"

    def __getitem__(self, key: str) -> Parameter:
        return self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __contains__(self, key: object) -> bool:
        return key in self._params

    def items(self) -> Any:
        return self._params.items()

    def keys(self) -> Any:
        return self._params.keys()

    def values(self) -> Any:
        return self._params.values()

    @property
    def prefix(self) -> str:
        return self._prefix

    def _get_impl(self, name: str) -> Parameter | None:
        if name in self._params:
            return self._params[name]
        if self._shared is not None and name in self._shared._params:
            self._params[name] = self._shared._params[name]
            return self._params[name]
        return None

    def get(self, name: str, **kwargs: Any) -> Parameter:
        """The Parameter `prefix + name`, created with kwargs if new; an existing one must
        agree with kwargs (unknown shape dimensions are filled in)."""
        name = self._prefix + name
        param = self._get_impl(name)
        if param is None:
            param = Parameter(name, **kwargs)
            self._params[name] = param
            return param
        for key, value in kwargs.items():
            existing = getattr(param, key, None)
            if existing is None:
                setattr(param, key, value)
            elif not _same_attribute(param, key, value, existing):
                raise ParameterError(
                    f"Cannot retrieve Parameter {name} because desired attribute does not "
                    f"match with stored for attribute {key!r}: desired {value!r} vs stored "
                    f"{existing!r}"
                )
        return param

    def get_constant(self, name: str, value: Any = None) -> Parameter:
        """The Constant `prefix + name`, created from `value` if new."""
        name = self._prefix + name
        param = self._get_impl(name)
        if param is None:
            if value is None:
                raise ParameterError(
                    f"No constant named {name}. Please specify value if you want to create "
                    "a new constant."
                )
            param = Constant(name, value)
            self._params[name] = param
        elif value is not None and not isinstance(param, Constant):
            raise ParameterError(f"Parameter {name} already exists but it is not a constant")
        return param

    def update(self, other: Mapping[str, Parameter] | ParameterDict) -> None:
        """Copy all Parameters of `other`; a name must not map to a different Parameter."""
        for key, value in other.items():
            if key in self._params and self._params[key] is not value:
                raise ParameterError(
                    f"Cannot update self with other because they have different Parameters "
                    f"with the same name {key!r}"
                )
        for key, value in other.items():
            self._params[key] = value

    def initialize(
        self,
        init: Any = None,
        ctx: Any = None,
        verbose: bool = False,
        force_reinit: bool = False,
    ) -> None:
        """Initialize every Parameter; `init` is the default for those without their own."""
        init = initializer.Uniform() if init is None else initializer.create(init)
        if verbose and hasattr(init, "set_verbosity"):
            init.set_verbosity(verbose=verbose)
        for param in self.values():
            param.initialize(None, ctx, init, force_reinit=force_reinit)

    def zero_grad(self) -> None:
        for param in self.values():
            param.zero_grad()

    def reset_ctx(self, ctx: Any) -> None:
        for param in self.values():
            param.reset_ctx(ctx)

    def list_ctx(self) -> list[Context]:
        contexts: list[Context] = []
        for param in self.values():
            contexts.extend(c for c in param.list_ctx() if c not in contexts)
        return contexts

    def setattr(self, name: str, value: Any) -> None:
        """Set an attribute (grad_req, lr_mult, ...) on every Parameter."""
        for param in self.values():
            setattr(param, name, value)

    def save(self, filename: str, strip_prefix: str = "") -> None:
        """Save to an MXNet .params file, names without `strip_prefix`."""
        arrays = {}
        for param in self.values():
            if not param.name.startswith(strip_prefix):
                raise ParameterError(
                    f"Prefix {strip_prefix!r} is to be stripped before saving, but "
                    f"Parameter's name {param.name!r} does not start with it (shared "
                    "parameters, or child blocks created outside name_scope())"
                )
            arrays[param.name[len(strip_prefix) :]] = param._reduce()
        nd_utils.save(filename, arrays)

    def load(
        self,
        filename: str,
        ctx: Any = None,
        allow_missing: bool = False,
        ignore_extra: bool = False,
        restore_prefix: str = "",
        cast_dtype: bool = False,
        dtype_source: str = "current",
    ) -> None:
        """Load a .params file; its names get `restore_prefix` prepended."""
        for name in self.keys():
            if not name.startswith(restore_prefix):
                raise ParameterError(
                    f"restore_prefix is {restore_prefix!r} but Parameter name {name!r} does "
                    "not start with it"
                )
        loaded = nd_utils.load(filename)
        self.load_dict(
            loaded,
            ctx,
            allow_missing,
            ignore_extra,
            restore_prefix,
            filename,
            cast_dtype,
            dtype_source,
        )

    def load_dict(
        self,
        param_dict: Mapping[str, Any],
        ctx: Any = None,
        allow_missing: bool = False,
        ignore_extra: bool = False,
        restore_prefix: str = "",
        filename: str = "",
        cast_dtype: bool = False,
        dtype_source: str = "current",
    ) -> None:
        """Load from a name -> array dict (arg:/aux: prefixes are stripped)."""
        if not isinstance(param_dict, Mapping):
            raise ParameterError(
                f"{filename or 'param_dict'} holds unnamed arrays; Parameters load by name"
            )
        arrays = {restore_prefix + strip_arg_aux(k): v for k, v in param_dict.items()}
        source = f"file {filename}" if filename else "param_dict"
        check_names(self.keys(), arrays.keys(), source, allow_missing, ignore_extra)
        for name, value in arrays.items():
            if name in self._params:
                self._params[name]._load_init(value, ctx, cast_dtype, dtype_source)


def strip_arg_aux(name: str) -> str:
    """`arg:x` / `aux:x` (as `export` names them) -> `x`."""
    return name[4:] if name.startswith(("arg:", "aux:")) else name


def check_names(
    expected: Any,
    found: Any,
    source: str,
    allow_missing: bool,
    ignore_extra: bool,
    satisfied: Any = (),
) -> None:
    """Raise one ParameterError listing every missing and every extra name; names in
    `satisfied` count as present (a shared parameter loaded under another name)."""
    expected, found = list(expected), list(found)
    present = set(found) | set(satisfied)
    missing = [] if allow_missing else [n for n in expected if n not in present]
    extra = [] if ignore_extra else [n for n in found if n not in set(expected)]
    if not missing and not extra:
        return
    parts = []
    if missing:
        parts.append(
            f"missing in {source}: {_brief(missing)} (set allow_missing=True to skip them); "
            f"it contains {_brief(found)}"
        )
    if extra:
        parts.append(
            f"in {source} but not in the Block: {_brief(extra)} (set ignore_extra=True to "
            f"ignore them); the Block has {_brief(expected)}"
        )
    raise ParameterError("cannot load parameters: " + "; ".join(parts))


def _same_attribute(param: Parameter, key: str, value: Any, existing: Any) -> bool:
    if value is None:
        return True
    if key == "shape":
        value = (value,) if isinstance(value, int) else tuple(value)
        if len(value) != len(existing):
            return False
        merged = []
        for wanted, stored in zip(value, existing, strict=True):
            if wanted != stored and wanted > 0 and stored > 0:
                return False
            merged.append(stored if wanted in (0, -1) else wanted)
        param._shape = tuple(merged)
        return True
    if key == "dtype":
        return np.dtype(DType.from_any(value).numpy) == np.dtype(existing)
    return bool(value == existing)


def select_params(params: ParameterDict, pattern: str | None) -> list[tuple[str, Parameter]]:
    """(name, Parameter) pairs whose names match the regex `pattern` (all for None)."""
    if not pattern:
        return list(params.items())
    compiled = re.compile(pattern)
    return [(k, v) for k, v in params.items() if compiled.match(k)]
