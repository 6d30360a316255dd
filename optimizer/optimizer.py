"""The Optimizer base class and registry, with MXNet 1.9's bookkeeping (lr/wd multipliers,
update counts, lr schedulers) and hybrix's fused update.

Each optimizer states its math once, as a pure rule over one parameter:

    def _rule(self, jnp, weight, grad, state, scalars, rescale_grad) -> (weight, state)

`scalars` holds the per-parameter numbers MXNet computes in Python for each update (the
learning rate with its multiplier, weight decay, bias corrections); `_scalars(index)`
computes them, counting the update as MXNet's `update()` does. The same rule serves the
per-parameter `update(index, weight, grad, state)` API and `fused_update`, one jitted
function over all parameters with their weight and state buffers donated.

Per-step Python cost matters for small nets (bench/train_step.py), so two things are
cached: `_static_key()` (dropped by `__setattr__` whenever a field it reads may change)
and `_scalar_array(indices)`, the rows of `_scalars` as one array, reused while the rows
are equal.
"""

from __future__ import annotations

import inspect
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from hybrix.ir import HybrixError

__all__ = ["Optimizer", "OptimizerError", "create", "register", "update_function"]

# NOTE: jax warns while lowering a jitted function whose donated buffer has no output to
# alias (backends without donation, a state of another shape); hybrix donates weights and
# states on purpose and falls back to a copy, so the warning is filtered once, here, rather
# than with warnings.catch_warnings around every call (~10 us per step).
warnings.filterwarnings(
    "ignore",
    message="Some donated buffers were not usable",
    category=UserWarning,
    module=r"jax\._src\.interpreters\.mlir",
)


class OptimizerError(HybrixError, ValueError):
    """An unknown optimizer name, a bad optimizer argument, or a misuse of its API."""


class Optimizer:
    """Base class of all optimizers (MXNet's `mx.optimizer.Optimizer`).

    Args:
        rescale_grad: multiplies the gradient before the update (Trainer sets 1/batch_size).
        param_idx2name: index -> parameter name; names not ending in `_weight`/`_gamma`
            get wd_mult 0, as in MXNet.
        wd: weight decay. clip_gradient: clip the rescaled gradient to [-c, c].
        learning_rate: the base rate (0.01 unless a subclass says otherwise).
        lr_scheduler: an LRScheduler; its base_lr is set to learning_rate.
        begin_num_update: the initial update count.
        multi_precision: keep a float32 master copy of float16 weights.
        param_dict: index -> gluon Parameter, whose lr_mult/wd_mult take precedence.
    """

    opt_registry: ClassVar[dict[str, type[Optimizer]]] = {}

    def __init__(
        self,
        rescale_grad: float = 1.0,
        param_idx2name: dict | None = None,
        wd: float = 0.0,
        clip_gradient: float | None = None,
        learning_rate: float | None = None,
        lr_scheduler: Any = None,
        sym: Any = None,
        begin_num_update: int = 0,
        multi_precision: bool = False,
        param_dict: dict | None = None,
    ) -> None:
        self.rescale_grad = rescale_grad
        self.lr = 0.01 if learning_rate is None else learning_rate
        self.lr_scheduler = lr_scheduler
        if lr_scheduler is not None:
            self.lr_scheduler.base_lr = self.lr
        self.wd = wd
        self.lr_mult: dict = {}
        self.wd_mult: dict = {}
        self.begin_num_update = begin_num_update
        self.num_update = begin_num_update
        # NOTE: update counts are kept per device id, as MXNet's (one updater per device).
        self._all_index_update_counts: dict = {0: {}}
        self._index_update_count: dict = self._all_index_update_counts[0]
        self.clip_gradient = clip_gradient
        self.multi_precision = multi_precision
        self.aggregate_num = 0
        if param_idx2name is None:
            param_idx2name = {}
        if not isinstance(param_idx2name, dict):
            raise OptimizerError("param_idx2name should be a dict of param indexes to names")
        self.idx2name = param_idx2name.copy()
        self.sym_info = (sym.attr_dict(), sym.list_arguments()) if sym is not None else ()
        self.param_dict = param_dict if param_dict else {}
        self._jitted: dict = {}
        self._scalar_cache: dict = {}  # indices -> (rows, array), see _scalar_array
        self.set_lr_mult({})
        self.set_wd_mult({})

    def __setattr__(self, name: str, value: Any) -> None:
        # NOTE: drops the cached `_static_key` when a field it reads may change: any field
        # holding (or given) a scalar, except those passed to the jitted update as data.
        if name not in _TRACED_FIELDS and (
            _is_static(value) or _is_static(self.__dict__.get(name))
        ):
            self.__dict__["_static_cache"] = None
        object.__setattr__(self, name, value)

    # -- registry -------------------------------------------------------------------
    @staticmethod
    def register(klass: type[Optimizer]) -> type[Optimizer]:
        """Register an Optimizer subclass under its lower-cased class name."""
        if not (isinstance(klass, type) and issubclass(klass, Optimizer)):
            raise OptimizerError(f"register expects an Optimizer subclass, got {klass!r}")
        name = klass.__name__.lower()
        if name in Optimizer.opt_registry:
            warnings.warn(
                f"New optimizer {klass.__module__}.{klass.__name__} is overriding existing "
                f"optimizer {Optimizer.opt_registry[name].__module__}."
                f"{Optimizer.opt_registry[name].__name__}",
                stacklevel=2,
            )
        Optimizer.opt_registry[name] = klass
        return klass

    @staticmethod
    def create_optimizer(name: str, **kwargs: Any) -> Optimizer:
        """Instantiate a registered optimizer by (case-insensitive) name."""
        klass = Optimizer.opt_registry.get(str(name).lower())
        if klass is None:
            known = ", ".join(sorted(Optimizer.opt_registry))
            raise OptimizerError(f"Cannot find optimizer {name!r}; known optimizers: {known}")
        _check_arguments(klass, kwargs)
        return klass(**kwargs)

    # -- learning rate and multipliers ----------------------------------------------------
    @property
    def learning_rate(self) -> float:
        if self.lr_scheduler is not None:
            return self.lr_scheduler(self.num_update)
        return self.lr

    def set_learning_rate(self, lr: float) -> None:
        """Set the base learning rate; not allowed when an lr_scheduler drives it."""
        if self.lr_scheduler is not None:
            raise UserWarning(
                "LRScheduler of the optimizer has already been defined. Note that "
                "set_learning_rate can mutate the value of the learning rate of the optimizer "
                "only when the LRScheduler of the optimizer is undefined."
            )
        self.lr = lr

    def set_lr_mult(self, args_lr_mult: dict) -> None:
        """Per-parameter learning rate multipliers, keyed by name or index."""
        self.lr_mult = {}
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and "__lr_mult__" in attr[name]:
                    self.lr_mult[name] = float(attr[name]["__lr_mult__"])
        self.lr_mult.update(args_lr_mult)

    def set_wd_mult(self, args_wd_mult: dict) -> None:
        """Per-parameter weight decay multipliers; names not ending in _weight/_gamma get 0."""
        self.wd_mult = {}
        for name in self.idx2name.values():
            if not (name.endswith("_weight") or name.endswith("_gamma")):
                self.wd_mult[name] = 0.0
        if self.sym_info:
            attr, arg_names = self.sym_info
            for name in arg_names:
                if name in attr and "__wd_mult__" in attr[name]:
                    self.wd_mult[name] = float(attr[name]["__wd_mult__"])
        self.wd_mult.update(args_wd_mult)

    def _set_current_context(self, device_id: int) -> None:
        """Count updates for this device id from now on."""
        counts = self._all_index_update_counts.get(device_id)
        if counts is None:
            counts = self._all_index_update_counts[device_id] = {}
        if counts is not self._index_update_count:
            self._index_update_count = counts

    def _update_count(self, index: Any) -> None:
        indices = index if isinstance(index, list | tuple) else [index]
        for idx in indices:
            if idx not in self._index_update_count:
                self._index_update_count[idx] = self.begin_num_update
            self._index_update_count[idx] += 1
            self.num_update = max(self._index_update_count[idx], self.num_update)

    def _scalar_rows(self, indices: Sequence[Any]) -> list[tuple[float, ...]]:
        """`[self._scalars(index) for index in indices]`, counting updates in that order.

        For the plain (lr, wd) rows the counting and the lr schedule are done in one pass:
        each index still gets the rate of the num_update reached after its own count.
        NOTE: the scheduler is called once per distinct num_update rather than once per
        index; MXNet's schedulers return the same rate for the same num_update.
        """
        if not _plain_scalars(type(self)):
            return [self._scalars(index) for index in indices]
        counts, begin, top = self._index_update_count, self.begin_num_update, self.num_update
        tops = []
        for index in indices:
            count = counts.get(index, begin) + 1
            counts[index] = count
            if count > top:
                top = count
            tops.append(top)
        self.num_update = top
        lr, wd, scheduler, last = self.lr, self.wd, self.lr_scheduler, None
        param_dict, multiplier = self.param_dict, self._multiplier
        rows = []
        for index, num_update in zip(indices, tops, strict=True):
            if scheduler is not None and num_update != last:
                lr, last = scheduler(num_update), num_update
            param = param_dict.get(index)
            if param is not None:  # the Parameter's own multipliers come first (_multiplier)
                rows.append((lr * param.lr_mult, wd * param.wd_mult))
            else:
                rows.append(
                    (
                        lr * multiplier(index, self.lr_mult, "lr_mult"),
                        wd * multiplier(index, self.wd_mult, "wd_mult"),
                    )
                )
        return rows

    def _scalar_array(self, indices: Sequence[Any]) -> np.ndarray:
        """Count one update of each index and return their `_scalars` rows as one
        (len(indices), k) float64 array; the (read-only) array of the last call with these
        indices is reused when the rows are equal (a fixed lr, wd and multipliers)."""
        rows = self._scalar_rows(indices)
        key = tuple(indices)
        cached = self._scalar_cache.get(key)
        if cached is not None and cached[0] == rows:
            return cached[1]
        # NOTE: numpy, not a device array: jit puts it on the device of the weights
        array = np.array(rows, dtype=np.float64)
        array.flags.writeable = False
        if len(self._scalar_cache) >= 64:  # NOTE: bounds it when the index sets vary
            self._scalar_cache.clear()
        self._scalar_cache[key] = (rows, array)
        return array

    def _get_lrs(self, indices: Sequence[Any]) -> list[float]:
        lr = self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr
        return [lr * self._multiplier(index, self.lr_mult, "lr_mult") for index in indices]

    def _get_wds(self, indices: Sequence[Any]) -> list[float]:
        return [self.wd * self._multiplier(index, self.wd_mult, "wd_mult") for index in indices]

    def _multiplier(self, index: Any, table: dict, attribute: str) -> float:
        # NOTE: MXNet's precedence: the Parameter's own multiplier, then the index, then name.
        if index in self.param_dict:
            return getattr(self.param_dict[index], attribute)
        if index in table:
            return table[index]
        if index in self.idx2name:
            return table.get(self.idx2name[index], 1.0)
        return 1.0

    def _get_lr(self, index: Any) -> float:
        return self._get_lrs([index])[0]

    def _get_wd(self, index: Any) -> float:
        return self._get_wds([index])[0]

    # -- what each optimizer defines -----------------------------------------------------
    def create_state(self, index: Any, weight: Any) -> Any:
        """The optimizer state for one weight: None, an NDArray or a tuple of NDArrays."""
        return None

    def _scalars(self, index: Any) -> tuple[float, ...]:
        """Count one update of `index` and return its per-update numbers (lr, wd, ...)."""
        self._update_count(index)
        return (self._get_lr(index), self._get_wd(index))

    def _rule(self, jnp: Any, weight: Any, grad: Any, state: Any, scalars: Any, rescale: Any):
        """The update of one parameter as pure jax math: returns (new weight, new state)."""
        raise NotImplementedError(f"{type(self).__name__} does not define its update rule")

    def _static_key(self) -> tuple:
        """The hyper-parameters compiled into the jitted update (a change recompiles)."""
        key = self.__dict__.get("_static_cache")
        if key is None:
            key = tuple(
                (name, value)
                for name, value in sorted(vars(self).items())
                if _is_static(value) and name not in _TRACED_FIELDS
            )
            self.__dict__["_static_cache"] = key
        return key

    # -- applying updates ------------------------------------------------------------------
    def create_state_multi_precision(self, index: Any, weight: Any) -> Any:
        """create_state, plus a float32 master copy first for float16 weights."""
        if self.multi_precision and np.dtype(weight.dtype) == np.float16:
            master = weight.astype(np.float32)
            return (master, self.create_state(index, master))
        if np.dtype(weight.dtype) == np.float16:
            warnings.warn(
                "Accumulating with float16 in optimizer can lead to poor accuracy or slow "
                "convergence. Consider using multi_precision=True option of the optimizer",
                stacklevel=2,
            )
        return self.create_state(index, weight)

    def update(self, index: Any, weight: Any, grad: Any, state: Any) -> None:
        """Update one weight in place from its gradient (MXNet's per-parameter API)."""
        self._apply([index], [weight], [grad], [state], multi_precision=False)

    def update_multi_precision(self, index: Any, weight: Any, grad: Any, state: Any) -> None:
        """`update`, through the float32 master copy when the weight is float16."""
        indices, weights, grads, states = _as_lists(index, weight, grad, state)
        self._apply(indices, weights, grads, states, multi_precision=self.multi_precision)

    def _apply(self, indices, weights, grads, states, multi_precision: bool) -> None:
        from hybrix.ndarray import NDArray

        for array in (*weights, *grads):
            if not isinstance(array, NDArray):
                raise OptimizerError(
                    f"{type(self).__name__}.update expects NDArrays, got {type(array).__name__}"
                )
        scalars = self._scalar_array(indices)
        new_weights, new_states = self.fused_update(
            owned_buffers(weights),
            [g._data for g in grads],
            [_state_data(s) for s in states],
            scalars,
            multi_precision=multi_precision,
        )
        store_owned(weights, new_weights)
        for state, data in zip(states, new_states, strict=True):
            _write_state(state, data)

    def fused_update(
        self,
        weights: list,
        grads: list,
        states: list,
        scalars: np.ndarray,
        multi_precision: bool = False,
    ) -> tuple[list, list]:
        """Update many parameters in one jitted call; weights and states are donated.

        Args:
            weights, grads: jax arrays. states: pytrees of jax arrays (from create_state).
            scalars: (len(weights), k) float64, one `_scalars(index)` row per weight.
        Returns:
            (new weights, new states); the inputs' weight and state buffers are consumed.
        """
        key = (self._static_key(), bool(multi_precision))
        function = self._jitted.get(key)
        if function is None:
            function = self._jitted[key] = _jit_update(self, multi_precision)
        return function(weights, grads, states, scalars, np.float64(self.rescale_grad))

    # -- pickling (Trainer.save_states): drop the jit cache and the Parameters ---------------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("param_dict", None)
        state.pop("_static_cache", None)
        state["_jitted"] = {}
        state["_scalar_cache"] = {}
        return state

    def __setstate__(self, state: dict) -> None:
        object.__setattr__(self, "__dict__", state)
        state.setdefault("_scalar_cache", {})  # pickles from before the cache existed
        self.param_dict = {}


# fields that change every step and are passed to the jitted update as data (and the
# cache of the other fields)
_TRACED_FIELDS = frozenset(
    {"rescale_grad", "lr", "num_update", "wd", "begin_num_update", "m_schedule", "_static_cache"}
)


_STATIC_TYPES = (int, float, bool, str, type(None))


def _is_static(value: Any) -> bool:
    """Whether `_static_key` compiles this field's value into the update."""
    return isinstance(value, _STATIC_TYPES)


# the methods behind the base (lr, wd) `_scalars`, which `_scalar_rows` does in one pass
_SCALAR_METHODS = ("_scalars", "_update_count", "_get_lrs", "_get_wds", "_get_lr", "_get_wd")
_PLAIN: dict[type, bool] = {}


def _plain_scalars(klass: type) -> bool:
    """Whether the class keeps the base `_scalars` and every method behind it."""
    plain = _PLAIN.get(klass)
    if plain is None:
        plain = _PLAIN[klass] = all(
            getattr(klass, name) is getattr(Optimizer, name)
            for name in (*_SCALAR_METHODS, "_multiplier")
        )
    return plain


register = Optimizer.register
create = Optimizer.create_optimizer


def _check_arguments(klass: type, kwargs: dict) -> None:
    """Name the optimizer and its accepted arguments when a keyword is unknown."""
    accepted: set[str] = set()
    for cls in klass.__mro__:
        if cls is object:
            continue
        params = inspect.signature(cls.__init__).parameters.values()
        accepted |= {p.name for p in params if p.kind is p.KEYWORD_ONLY or p.default is not p.empty}
        accepted |= {p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD}
    accepted.discard("self")
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise OptimizerError(
            f"optimizer {klass.__name__.lower()!r} got unknown arguments {unknown}; "
            f"it accepts {sorted(accepted)}"
        )


# id(NDArray) -> (weakref to it, the jax array an update last wrote into it)
_OWNED: dict[int, tuple[Any, Any]] = {}


def owned_buffers(weights: Sequence[Any]) -> list:
    """The weights' jax arrays, safe to donate: an array the last update did not produce
    may be shared with another NDArray (`set_data(x)`, an initializer), so it is copied
    once first. NOTE: `NDArray.copy()` of a weight shares its buffer too; read such a
    snapshot before the next update, or take it with `asnumpy()`."""
    import jax.numpy as jnp

    result = []
    for weight in weights:
        entry = _OWNED.get(id(weight))
        data = weight._data
        if entry is None or entry[0]() is not weight or entry[1] is not data:
            data = jnp.array(data, copy=True)
        result.append(data)
    return result


def remember_owned(weight: Any) -> None:
    """Note that the weight's current jax array was produced by an update (not shared)."""
    key = id(weight)
    entry = _OWNED.get(key)
    if entry is not None and entry[0]() is weight:
        _OWNED[key] = (entry[0], weight._data)  # the same weight: keep its weakref
        return
    if entry is None:
        weakref.finalize(weight, _OWNED.pop, key, None)
    _OWNED[key] = (weakref.ref(weight), weight._data)


def store_owned(weights: Sequence[Any], values: Sequence[Any]) -> None:
    """Write each update's new jax array into its weight and `remember_owned` it."""
    for weight, value in zip(weights, values, strict=True):
        weight._data = value
        remember_owned(weight)


def _as_lists(index, weight, grad, state):
    if isinstance(index, list | tuple):
        return list(index), list(weight), list(grad), list(state)
    return [index], [weight], [grad], [state]


def _state_data(state: Any) -> Any:
    """The jax pytree behind a state of NDArrays (None, NDArray, or nested tuples)."""
    if state is None:
        return None
    if isinstance(state, tuple | list):
        return tuple(_state_data(s) for s in state)
    return state._data


def _write_state(state: Any, data: Any) -> None:
    if state is None:
        return
    if isinstance(state, tuple | list):
        for part, part_data in zip(state, data, strict=True):
            _write_state(part, part_data)
        return
    state._data = data


def _jit_update(optimizer: Optimizer, multi_precision: bool) -> Callable:
    """jax.jit of the optimizer's rule over lists of parameters, donating weights and states."""
    import jax

    return jax.jit(update_function(optimizer, multi_precision), donate_argnums=(0, 2))


def update_function(optimizer: Optimizer, multi_precision: bool = False) -> Callable:
    """The pure update of many parameters, update(weights, grads, states, scalars, rescale)
    -> (new weights, new states), for use inside a larger jitted function."""
    import jax.numpy as jnp

    def rule(weight, grad, state, scalars, rescale):
        if multi_precision and weight.dtype == jnp.float16:
            master, inner = state
            new_master, new_inner = optimizer._rule(
                jnp, master, grad.astype(jnp.float32), inner, scalars, rescale
            )
            return new_master.astype(weight.dtype), (new_master, new_inner)
        return optimizer._rule(jnp, weight, grad, state, scalars, rescale)

    def update_all(weights, grads, states, scalars, rescale):
        new_weights, new_states = [], []
        for i, (weight, grad, state) in enumerate(zip(weights, grads, states, strict=True)):
            new_weight, new_state = rule(weight, grad, state, scalars[i], rescale)
            new_weights.append(new_weight.astype(weight.dtype))
            new_states.append(new_state)
        return new_weights, new_states

    return update_all


def scalar(values: Any, i: int, like: Any) -> Any:
    """Element i of a rule's scalars, in the weight's dtype (MXNet's kernels use DType)."""
    return values[i].astype(like.dtype)


def clip(jnp: Any, grad: Any, bound: float | None) -> Any:
    """Clip as MXNet's fused update kernels do: None, 0 or a negative bound disables it
    (Python passes `clip_gradient` only when truthy; the kernel clips when it is >= 0)."""
    if not bound or bound < 0:
        return grad
    return jnp.clip(grad, -bound, bound)


def clip_python(jnp: Any, grad: Any, bound: float | None) -> Any:
    """Clip as MXNet's Python-side optimizers do (`if clip_gradient is not None`)."""
    if bound is None:
        return grad
    return jnp.clip(grad, -bound, bound)


def zeros_like(weight: Any, dtype: Any = None) -> Any:
    """A zero NDArray with the weight's shape, context and (by default) dtype."""
    import jax
    import jax.numpy as jnp

    from hybrix.ndarray import NDArray

    # NOTE: committed to the weight's device like the jitted update's outputs; an
    # uncommitted first state would make jax compile the update a second time.
    context = weight.context
    zeros = jnp.zeros(weight.shape, dtype=dtype or weight.dtype)
    return NDArray(jax.device_put(zeros, context.device), context)
