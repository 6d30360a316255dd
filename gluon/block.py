"""Block and HybridBlock: Gluon's model containers, with MXNet 1.9.1's naming and API.

Names: a Block created inside a parent's `name_scope()` gets the parent's prefix plus
`<alias><n>_` from the parent's per-alias counter (`hybridsequential0_dense0_`); one
created outside any scope counts in the global NameManager (`dense0_`, `dense1_`).

`HybridBlock.hybridize()` makes later calls run a compiled program: on the first call
per input signature (shapes, dtypes, nesting, train/predict mode) the block is traced
into an ir.Graph whose inputs are the data inputs, then every Parameter (by name), then
one PRNG key per random op; the graph is optimized (O1), compiled with XLA and cached.
BatchNorm's running statistics written by the program are stored back into their
Parameters. See `_CachedGraph`.
"""

from __future__ import annotations

import re
import sys
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from hybrix import autograd
from hybrix import ndarray as nd
from hybrix.gluon.parameter import (
    DeferredInitializationError,
    Parameter,
    ParameterDict,
    ParameterError,
    check_names,
    shape_is_known,
)
from hybrix.gluon.utils import HookHandle, _indent
from hybrix.ir import HybrixError
from hybrix.ndarray import _dispatch
from hybrix.ndarray.ndarray import NDArray

__all__ = ["Block", "HybridBlock", "LayerError", "NameManager"]


class LayerError(HybrixError, ValueError):
    """A layer got inputs it cannot take; the message names the layer and what it expected."""


class NameManager:
    """Global per-hint counters for blocks created outside any name_scope (mx.name)."""

    _current = threading.local()

    def __init__(self) -> None:
        self._counter: dict[str, int] = {}
        self._old: NameManager | None = None

    def get(self, name: str | None, hint: str) -> str:
        if name:
            return name
        count = self._counter.get(hint, 0)
        self._counter[hint] = count + 1
        return f"{hint}{count}"

    @classmethod
    def current(cls) -> NameManager:
        if not hasattr(cls._current, "value"):
            cls._current.value = NameManager()
        return cls._current.value

    def __enter__(self) -> NameManager:
        self._old = NameManager.current()
        NameManager._current.value = self
        return self

    def __exit__(self, *exc: object) -> None:
        NameManager._current.value = self._old


class _BlockScope:
    """Scope for collecting child Blocks (MXNet's gluon.block._BlockScope)."""

    _current = threading.local()

    def __init__(self, block: Block) -> None:
        self._block = block
        self._counter: dict[str, int] = {}
        self._old_scope: _BlockScope | None = None

    @staticmethod
    def create(prefix: str | None, params: Any, hint: str) -> tuple[str, ParameterDict]:
        """The prefix and ParameterDict for a new Block."""
        current = getattr(_BlockScope._current, "value", None)
        if current is None:
            if prefix is None:
                prefix = NameManager.current().get(None, hint) + "_"
            if params is None:
                params = ParameterDict(prefix)
            else:
                params = ParameterDict(params.prefix, params)
            return prefix, params
        if prefix is None:
            count = current._counter.get(hint, 0)
            prefix = f"{hint}{count}_"
            current._counter[hint] = count + 1
        if params is None:
            parent = current._block.params
            params = ParameterDict(parent.prefix + prefix, parent._shared)
        else:
            params = ParameterDict(params.prefix, params)
        return current._block.prefix + prefix, params

    def __enter__(self) -> _BlockScope:
        if self._block._empty_prefix:
            return self
        self._old_scope = getattr(_BlockScope._current, "value", None)
        _BlockScope._current.value = self
        return self

    def __exit__(self, *exc: object) -> None:
        if self._block._empty_prefix:
            return
        _BlockScope._current.value = self._old_scope


# -- nested inputs and outputs ----------------------------------------------------------
def _flatten(args: Any, what: str) -> tuple[list[NDArray | None], Any]:
    """Flat list of arrays and a format to rebuild the nesting (MXNet's _flatten)."""
    if isinstance(args, NDArray):
        return [args], 0
    if args is None:
        return [None], -1
    if not isinstance(args, list | tuple):
        raise HybrixError(
            f"HybridBlock {what} must be (nested) lists of NDArrays, got {type(args).__name__}"
        )
    flat: list = []
    formats = []
    for item in args:
        items, fmt = _flatten(item, what)
        flat.extend(items)
        formats.append(fmt)
    return flat, formats


def _regroup(args: list, fmt: Any) -> tuple[Any, list]:
    if isinstance(fmt, int):
        if fmt in (0, -1):
            return args[0], args[1:]
        return args[:fmt], args[fmt:]
    result = []
    for item in fmt:
        part, args = _regroup(args, item)
        result.append(part)
    return result, args


def _freeze(fmt: Any) -> Any:
    return tuple(_freeze(f) for f in fmt) if isinstance(fmt, list) else fmt


@contextmanager
def _untraced() -> Any:
    """Run eagerly even inside a trace (parameter initialization draws real numbers)."""
    saved = _dispatch.TRACER
    _dispatch.TRACER = None
    try:
        yield
    finally:
        _dispatch.TRACER = saved


class Block:
    """Base class of all layers and models; children assigned as attributes register."""

    def __init__(self, prefix: str | None = None, params: ParameterDict | None = None) -> None:
        self._empty_prefix = prefix == ""
        self._prefix, self._params = _BlockScope.create(prefix, params, self._alias())
        self._name = self._prefix[:-1] if self._prefix.endswith("_") else self._prefix
        self._scope = _BlockScope(self)
        self._children: OrderedDict[str, Block] = OrderedDict()
        self._reg_params: dict[str, Parameter] = {}
        self._forward_hooks: OrderedDict[int, Callable] = OrderedDict()
        self._forward_pre_hooks: OrderedDict[int, Callable] = OrderedDict()

    def __repr__(self) -> str:
        lines = [
            f"  ({key}): {_indent(repr(block), 2)}"
            for key, block in self.__dict__.items()
            if isinstance(block, Block)
        ]
        return "{}(\n{}\n)".format(self.__class__.__name__, "\n".join(lines))

    def __setattr__(self, name: str, value: Any) -> None:
        """Registers child Blocks and Parameters assigned as attributes."""
        if hasattr(self, name):
            existing = getattr(self, name)
            if isinstance(existing, Parameter | Block) and not isinstance(value, type(existing)):
                raise HybrixError(
                    f"{type(self).__name__}.{name}: changing attribute type from "
                    f"{type(existing).__name__} to {type(value).__name__} is not allowed"
                )
        if isinstance(value, Block):
            self.register_child(value, name)
        elif isinstance(value, Parameter):
            if name in self._reg_params:
                raise HybrixError(
                    f"{type(self).__name__}.{name}: overriding a Parameter attribute is not "
                    "allowed; share parameters with `params=` at Block construction instead"
                )
            self._reg_params[name] = value
        super().__setattr__(name, value)

    def _alias(self) -> str:
        return self.__class__.__name__.lower()

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def name(self) -> str:
        return self._name

    def name_scope(self) -> _BlockScope:
        """`with self.name_scope():` children created inside get this block's prefix."""
        return self._scope

    @property
    def params(self) -> ParameterDict:
        """This block's own ParameterDict (children's parameters not included)."""
        return self._params

    def collect_params(self, select: str | None = None) -> ParameterDict:
        """This block's and all children's Parameters; `select` is a regex on names."""
        result = ParameterDict(self._params.prefix)
        if not select:
            result.update(self.params)
        else:
            pattern = re.compile(select)
            result.update({k: v for k, v in self.params.items() if pattern.match(k)})
        for child in self._children.values():
            result.update(child.collect_params(select=select))
        return result

    def _collect_params_with_prefix(self, prefix: str = "") -> dict[str, Parameter]:
        if prefix:
            prefix += "."
        result = {prefix + key: value for key, value in self._reg_params.items()}
        for name, child in self._children.items():
            result.update(child._collect_params_with_prefix(prefix + name))
        return result

    def register_child(self, block: Block, name: str | None = None) -> None:
        """Register a child Block under `name` (default: its position)."""
        if name is None:
            name = str(len(self._children))
        self._children[name] = block

    def register_forward_pre_hook(self, hook: Callable) -> HookHandle:
        """hook(block, inputs) runs before each forward."""
        handle = HookHandle()
        handle.attach(self._forward_pre_hooks, hook)
        return handle

    def register_forward_hook(self, hook: Callable) -> HookHandle:
        """hook(block, inputs, outputs) runs after each forward."""
        handle = HookHandle()
        handle.attach(self._forward_hooks, hook)
        return handle

    def apply(self, fn: Callable[[Block], Any]) -> Block:
        """Call fn(block) on every child (recursively), then on this block."""
        for child in self._children.values():
            child.apply(fn)
        fn(self)
        return self

    def initialize(
        self,
        init: Any = None,
        ctx: Any = None,
        verbose: bool = False,
        force_reinit: bool = False,
    ) -> None:
        """Initialize all Parameters (see ParameterDict.initialize); init defaults to Uniform()."""
        self.collect_params().initialize(init, ctx, verbose, force_reinit)

    def hybridize(self, active: bool = True, **kwargs: Any) -> None:
        """Hybridize the HybridBlocks among the children (a plain Block stays imperative)."""
        for child in self._children.values():
            child.hybridize(active, **kwargs)

    def cast(self, dtype: Any) -> None:
        """Cast all Parameters (and children's) to dtype."""
        for child in self._children.values():
            child.cast(dtype)
        for param in self.params.values():
            param.cast(dtype)

    def zero_grad(self) -> None:
        self.collect_params().zero_grad()

    def reset_ctx(self, ctx: Any) -> None:
        self.collect_params().reset_ctx(ctx)

    def __call__(self, *args: Any) -> Any:
        if self._forward_pre_hooks:
            for hook in list(self._forward_pre_hooks.values()):
                hook(self, args)
        out = self.forward(*args)
        if self._forward_hooks:
            for hook in list(self._forward_hooks.values()):
                hook(self, args, out)
        return _as_numpy_mode(out)

    def forward(self, *args: Any) -> Any:
        raise HybrixError(f"{type(self).__name__} ({self.name}) does not define forward()")

    # -- parameters on disk ----------------------------------------------------------------
    def save_parameters(self, filename: str, deduplicate: bool = False) -> None:
        """Save parameters by structural name (`0.weight`, `features.1.gamma`)."""
        params = self._collect_params_with_prefix()
        if deduplicate:
            seen: dict[int, str] = {}
            params = {k: v for k, v in params.items() if seen.setdefault(id(v), k) == k}
        nd.save(filename, {key: param._reduce() for key, param in params.items()})

    def load_parameters(
        self,
        filename: str,
        ctx: Any = None,
        allow_missing: bool = False,
        ignore_extra: bool = False,
        cast_dtype: bool = False,
        dtype_source: str = "current",
    ) -> None:
        """Load parameters saved by save_parameters (structural names), or a file of full
        parameter names (save_params, export's arg:/aux: names)."""
        loaded = nd.load(filename)
        if not isinstance(loaded, dict):
            raise ParameterError(f"{filename} holds unnamed arrays; parameters load by name")
        params = self._collect_params_with_prefix()
        if not loaded and not params:
            return
        if not any("." in key for key in loaded):
            self._load_by_full_name(
                filename, loaded, ctx, allow_missing, ignore_extra, cast_dtype, dtype_source
            )
            return
        # NOTE: a shared parameter is saved once, under one of its structural names.
        aliases: dict[int, list[str]] = {}
        for key, param in params.items():
            aliases.setdefault(id(param), []).append(key)
        satisfied = [k for k in params if any(a in loaded for a in aliases[id(params[k])])]
        check_names(
            params.keys(), loaded.keys(), f"file {filename}", allow_missing, ignore_extra, satisfied
        )
        for key, value in loaded.items():
            if key in params:
                params[key]._load_init(value, ctx, cast_dtype, dtype_source)

    def _load_by_full_name(self, filename: str, loaded: dict, ctx: Any, *flags: Any) -> None:
        # NOTE: MXNet 1.9.1 prepends this block's prefix to the file's names (files of
        # save_params have it stripped). Exported files carry full names (arg:/aux:
        # stripped), which MXNet loads via collect_params().load(); accept both here.
        allow_missing, ignore_extra, cast_dtype, dtype_source = flags
        params = self.collect_params()
        names = [k[4:] if k.startswith(("arg:", "aux:")) else k for k in loaded]
        full_matches = sum(1 for n in names if n in params)
        prefixed_matches = sum(1 for n in names if self.prefix + n in params)
        prefix = "" if full_matches >= prefixed_matches and full_matches else self.prefix
        params.load_dict(
            loaded, ctx, allow_missing, ignore_extra, prefix, filename, cast_dtype, dtype_source
        )

    def save_params(self, filename: str) -> None:
        """Deprecated in MXNet: save with the block prefix stripped from the names."""
        warnings.warn("save_params is deprecated; use save_parameters", stacklevel=2)
        self.collect_params().save(filename, strip_prefix=self.prefix)

    def load_params(self, filename: str, ctx: Any = None, **kwargs: Any) -> None:
        """Deprecated in MXNet: load_parameters."""
        warnings.warn("load_params is deprecated; use load_parameters", stacklevel=2)
        self.load_parameters(filename, ctx, **kwargs)

    # -- summary ---------------------------------------------------------------------------
    def summary(self, *inputs: Any) -> None:
        """Print each layer's output shape and parameter count, as MXNet's Block.summary."""
        from hybrix.gluon._summary import print_summary

        print_summary(self, inputs)


class HybridBlock(Block):
    """A Block whose `hybrid_forward(F, x, *args, **params)` can be traced and compiled."""

    def __init__(self, prefix: str | None = None, params: ParameterDict | None = None) -> None:
        super().__init__(prefix=prefix, params=params)
        self._active = False
        self._flags: dict[str, Any] = {}
        self._cached: dict[tuple, Any] = {}
        self._last_signature: tuple | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if isinstance(value, HybridBlock):
            self._clear_cached_op()

    def register_child(self, block: Block, name: str | None = None) -> None:
        if not isinstance(block, HybridBlock):
            raise HybrixError(
                f"Children of HybridBlock must also be HybridBlock, but {block!r:.60} has type "
                f"{type(block).__name__}. If you are using Sequential, please try "
                "HybridSequential instead."
            )
        super().register_child(block, name)
        self._clear_cached_op()

    def _clear_cached_op(self) -> None:
        self._cached = {}

    def hybridize(
        self,
        active: bool = True,
        static_alloc: bool = False,
        static_shape: bool = False,
        **kwargs: Any,
    ) -> None:
        """Compile this block on its next call (per input signature) and reuse the program.

        static_alloc: donate the buffers the program overwrites (BatchNorm running
        statistics) to XLA. static_shape is accepted (XLA programs are shape-static).
        """
        self._active = active
        self._flags = {"static_alloc": static_alloc, "static_shape": static_shape, **kwargs}
        self._clear_cached_op()
        if active and (self._forward_hooks or self._forward_pre_hooks):
            warnings.warn(
                f'"{self.name}" is being hybridized while still having forward hook/pre-hook. '
                f'If "{self.name}" is a child of HybridBlock, the hooks will not take effect.',
                stacklevel=2,
            )
        super().hybridize(active, static_alloc=static_alloc, static_shape=static_shape, **kwargs)

    def cast(self, dtype: Any) -> None:
        self._clear_cached_op()
        super().cast(dtype)

    def infer_shape(self, *args: Any) -> None:
        """Fill unknown parameter shapes from the inputs; layers with deferred shapes
        override this (MXNet 1.9 infers through the symbol graph instead)."""

    def infer_type(self, *args: Any) -> None:
        """Parameters keep their declared dtype (MXNet infers it; float32 is the default)."""

    def forward(self, x: Any, *args: Any) -> Any:
        """Run hybrid_forward with F = nd, or the compiled program when hybridized.

        Called on Symbols (sym.var), it returns the Symbol of the block (MXNet's way of
        getting a block's graph); the variables need shapes, since the block is traced.
        """
        if not isinstance(x, NDArray) and not any(isinstance(a, NDArray) for a in args):
            symbol = sys.modules.get("hybrix.symbol")
            if symbol is not None and isinstance(x, symbol.Symbol):
                return symbol.block_to_symbol(self, x, *args)
            raise HybrixError(
                f"{self.name}: HybridBlock inputs must be NDArrays or Symbols, "
                f"got {type(x).__name__}"
            )
        if self._active and _dispatch.TRACER is None:
            from hybrix.gluon._cached_graph import call_cached

            return call_cached(self, (x, *args))
        return self._call_imperative(x, *args)

    def _call_imperative(self, x: Any, *args: Any) -> Any:
        ctx = _first_array(x, args).context
        try:
            params = {k: v.data(ctx) for k, v in self._reg_params.items()}
        except DeferredInitializationError:
            self._finish_deferred(x, *args)
            params = {k: v.data(ctx) for k, v in self._reg_params.items()}
        try:
            return self.hybrid_forward(nd, x, *args, **params)
        except (LayerError, ParameterError):
            raise
        except HybrixError as e:
            raise LayerError(f"{self.name} ({_short_repr(self)}): {e}") from e

    def _finish_deferred(self, *args: Any) -> None:
        self.infer_shape(*args)
        unknown = [
            p.name for p in self.params.values() if p._deferred_init and not shape_is_known(p.shape)
        ]
        if unknown:
            raise DeferredInitializationError(
                f"{self.name} ({type(self).__name__}): parameters {unknown} still have unknown "
                "shapes after infer_shape; give their shapes (in_units, in_channels, ...) or "
                "define infer_shape(self, *args) to fill them from the inputs"
            )
        with _untraced(), autograd.pause():
            for param in self.params.values():
                param._finish_deferred_init()

    def hybrid_forward(self, F: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
        raise HybrixError(f"{type(self).__name__} ({self.name}) does not define hybrid_forward()")

    def export(self, path: str, epoch: int = 0, remove_amp_cast: bool = True) -> tuple[str, str]:
        """Write `path-symbol.json` and `path-%04d.params` (MXNet's format) for the last
        input signature this block ran with, traced in predict mode."""
        from hybrix.gluon._cached_graph import export_block

        return export_block(self, path, epoch)

    def __hybrix_graph__(self) -> Any:
        """The graph of the last input signature, traced in predict mode, parameters as
        constants named after them: what `hybrix.onnx.export(block, path)` writes."""
        from hybrix.gluon._cached_graph import trace_block
        from hybrix.ndarray.utils import zeros
        from hybrix.runtime._graphs import rebuild

        if self._last_signature is None:
            raise HybrixError(f"{self.name}: run the block once before exporting its graph")
        fmt, signature = self._last_signature
        flat = [None if s is None else zeros(s[0], dtype=s[1]) for s in signature]
        with autograd.predict_mode():
            traced = trace_block(self, flat, fmt)
        traced.graph.outputs = traced.graph.outputs[: traced.num_outputs]
        params = {p.name: p._reduce().asnumpy() for p in traced.params}
        return rebuild(traced.graph, to_constants=params)


def _first_array(x: Any, args: tuple) -> NDArray:
    for item in (x, *args):
        flat, _ = _flatten(item, "inputs") if item is not None else ([], None)
        for array in flat:
            if isinstance(array, NDArray):
                return array
    raise HybrixError("HybridBlock call without NDArray inputs")


def _short_repr(block: Block) -> str:
    text = repr(block)
    return text if "\n" not in text else type(block).__name__


def _as_numpy_mode(out: Any) -> Any:
    """Block outputs as np.ndarray when npx.set_np() is on (MXNet's NumPy mode)."""
    npx = sys.modules.get("hybrix.npx")
    if npx is None or not npx.is_np_array():
        return out
    return npx.to_np(out)
