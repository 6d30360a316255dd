"""Trainer: applies an Optimizer to a set of Parameters (MXNet 1.9's gluon.Trainer).

    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    with autograd.record():
        loss = loss_fn(net(data), label)
    loss.backward()
    trainer.step(batch_size)

`step` sums each parameter's gradients across its contexts (`_local_allreduce`, the small
stand-in for a KVStore) and then updates every context's copy with one jitted function
over all of that context's parameters, donating the weight and state buffers.

Stale gradients: MXNet marks a gradient fresh when backward writes it. Here backward
always stores a new jax array into `.grad`, so a gradient whose array is the one the
last step saw (or the one it had when the Trainer was made) was not written since.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from hybrix import optimizer as opt
from hybrix.gluon.parameter import Parameter
from hybrix.ir import HybrixError

__all__ = ["StaleGradientError", "Trainer", "TrainerError"]

_KVSTORES = ("device", "local", None)


class TrainerError(HybrixError, ValueError):
    """Bad Trainer arguments, parameters on mismatched contexts, or unreadable states."""


class StaleGradientError(HybrixError, UserWarning):
    """A parameter's gradient was not written by backward since the last step (MXNet
    raises this as a UserWarning)."""


class Trainer:
    """Applies an Optimizer on a set of Parameters; use with autograd.

    Args:
        params: a ParameterDict, dict or list of Parameters.
        optimizer: an optimizer name or an Optimizer instance.
        optimizer_params: keyword arguments for a named optimizer.
        kvstore: 'device' or 'local' (a local reduction across contexts) or None.
        compression_params: gradient compression; not supported (raises).
        update_on_kvstore: accepted; without a KVStore the update runs here either way.
    """

    def __init__(
        self,
        params: Any,
        optimizer: Any,
        optimizer_params: dict | None = None,
        kvstore: Any = "device",
        compression_params: dict | None = None,
        update_on_kvstore: bool | None = None,
    ) -> None:
        self._params = _unique_parameters(params)
        if kvstore not in _KVSTORES:
            raise TrainerError(
                f"kvstore {kvstore!r} is not supported yet; expected one of {list(_KVSTORES)} "
                "(distributed KVStores come with the KVStore issue)"
            )
        if compression_params:
            raise TrainerError(
                f"compression_params={compression_params!r}: gradient compression is not "
                "supported (gradients are reduced exactly, in memory)"
            )
        self._kvstore = kvstore
        self._update_on_kvstore = update_on_kvstore
        self._init_optimizer(optimizer, optimizer_params or {})
        self._scale = self._optimizer.rescale_grad
        self._contexts: list | None = None
        self._last_grads: dict[tuple[int, int], Any] = {}
        self._remember_grads()
        for param in self._params:
            param._trainer = self

    def _init_optimizer(self, optimizer: Any, optimizer_params: dict) -> None:
        param_dict = dict(enumerate(self._params))
        if isinstance(optimizer, opt.Optimizer):
            if optimizer_params:
                raise TrainerError(
                    "optimizer_params must be None if optimizer is an instance of Optimizer "
                    "instead of str"
                )
            self._optimizer = optimizer
            # NOTE: not copied, so later changes to a Parameter's lr_mult/wd_mult apply.
            self._optimizer.param_dict = param_dict
        else:
            self._optimizer = opt.create(optimizer, param_dict=param_dict, **optimizer_params)
        self._updaters: list[opt.Updater] = []

    # -- properties ------------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        return self._optimizer.learning_rate

    @property
    def optimizer(self) -> opt.Optimizer:
        return self._optimizer

    def set_learning_rate(self, lr: float) -> None:
        """Set the optimizer's learning rate (not allowed with an lr_scheduler)."""
        self._optimizer.set_learning_rate(lr)

    # -- stepping -----------------------------------------------------------------------------
    def step(self, batch_size: int, ignore_stale_grad: bool = False) -> None:
        """Reduce gradients across contexts, then update with gradients scaled by
        1/batch_size (set batch_size=1 if the loss was already averaged)."""
        self._optimizer.rescale_grad = self._scale / batch_size
        self._allreduce_grads()
        self._update(ignore_stale_grad)

    def allreduce_grads(self) -> None:
        """Sum each parameter's gradients across its contexts (for gradient clipping
        between allreduce_grads() and update())."""
        self._allreduce_grads()

    def update(self, batch_size: int, ignore_stale_grad: bool = False) -> None:
        """The update half of `step`, after `allreduce_grads`."""
        self._optimizer.rescale_grad = self._scale / batch_size
        self._update(ignore_stale_grad)

    def _check_contexts(self) -> list:
        contexts = None
        for param in self._params:
            ctx = param.list_ctx()
            if contexts is not None and contexts != ctx:
                raise TrainerError(
                    "All Parameters must be initialized on the same set of contexts, but "
                    f"Parameter {param.name} is initialized on {ctx} while previous Parameters "
                    f"are initialized on {contexts}."
                )
            contexts = ctx
        return contexts or []

    def _ensure_contexts(self) -> list:
        if self._contexts is None:
            self._contexts = self._check_contexts()
            self._updaters = [opt.get_updater(self._optimizer) for _ in self._contexts]
        return self._contexts

    def _allreduce_grads(self) -> None:
        if len(self._ensure_contexts()) <= 1:
            return
        for param in self._params:
            if param.grad_req == "null":
                continue
            grads = param.list_grad()
            for grad, summed in zip(grads, _local_allreduce(grads), strict=True):
                grad._data = summed

    def _update(self, ignore_stale_grad: bool = False) -> None:
        contexts = self._ensure_contexts()
        updates: list[list] = [[] for _ in contexts]
        for i, param in enumerate(self._params):
            if param.grad_req == "null":
                continue
            fresh = self._fresh(i, param)
            if not ignore_stale_grad and not all(fresh):
                ctx = contexts[fresh.index(False)]
                raise StaleGradientError(
                    f"Gradient of Parameter `{param.name}` on context {ctx} has not been "
                    "updated by backward since last `step`. This could mean a bug in your model "
                    "that made it only use a subset of the Parameters (Blocks) for this "
                    "iteration. If you are intentionally only using a subset, call step with "
                    "ignore_stale_grad=True to suppress this warning and skip updating of "
                    "Parameters with stale gradient"
                )
            for c, (weight, grad) in enumerate(
                zip(param.list_data(), param.list_grad(), strict=True)
            ):
                if fresh[c]:
                    updates[c].append((i, grad, weight))
        for updater, batch in zip(self._updaters, updates, strict=True):
            if batch:
                indices, grads, weights = zip(*batch, strict=True)
                updater(list(indices), list(grads), list(weights))
        self._remember_grads()

    def _fresh(self, index: int, param: Parameter) -> list[bool]:
        return [
            grad._data is not self._last_grads.get((index, c))
            for c, grad in enumerate(param.list_grad())
        ]

    def _remember_grads(self) -> None:
        """Note each gradient's current array; a later backward replaces it."""
        for i, param in enumerate(self._params):
            if param.grad_req == "null" or param._grad is None:
                continue
            for c, grad in enumerate(param.list_grad()):
                self._last_grads[(i, c)] = grad._data

    # -- states ------------------------------------------------------------------------------
    def save_states(self, fname: str) -> None:
        """Write optimizer states (momentum, ...) and the optimizer to `fname`.

        The Parameters' lr_mult/wd_mult (optimizer.param_dict) are not saved.
        """
        self._ensure_contexts()
        updater = self._updaters[0] if self._updaters else opt.get_updater(self._optimizer)
        data = updater.get_states(dump_optimizer=True)
        folder = os.path.dirname(os.path.abspath(fname))
        with tempfile.NamedTemporaryFile("wb", dir=folder, delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, fname)

    def load_states(self, fname: str) -> None:
        """Load what save_states wrote; the optimizer is replaced by the saved one."""
        self._ensure_contexts()
        try:
            with open(fname, "rb") as handle:
                data = handle.read()
        except OSError as e:
            raise TrainerError(f"cannot read trainer states from {fname!r}: {e}") from e
        try:
            for updater in self._updaters:
                updater.set_states(data)
                updater.optimizer = self._updaters[0].optimizer
        except opt.OptimizerError as e:
            raise TrainerError(f"{fname!r} does not hold trainer states: {e}") from e
        if self._updaters:
            self._optimizer = self._updaters[0].optimizer
        self._optimizer.param_dict = dict(enumerate(self._params))


def _local_allreduce(arrays: list) -> list:
    """Sum NDArrays living on different devices; returns the sum placed on each device.

    NOTE: a stand-in for KVStore 'device' pushpull; the sum runs on the first device.
    """
    import jax

    first = arrays[0]._data
    device = next(iter(first.devices()))
    total = first
    for array in arrays[1:]:
        total = total + jax.device_put(array._data, device)
    return [jax.device_put(total, next(iter(a._data.devices()))) for a in arrays]


def _unique_parameters(params: Any) -> list[Parameter]:
    if hasattr(params, "values") and not isinstance(params, list | tuple):
        params = list(params.values())
    if not isinstance(params, list | tuple):
        raise TrainerError(
            f"First argument must be a list or dict of Parameters, got {type(params).__name__}."
        )
    unique: list[Parameter] = []
    seen: set[int] = set()
    for param in params:
        if not isinstance(param, Parameter):
            raise TrainerError(
                "First argument must be a list or dict of Parameters, got list of "
                f"{type(param).__name__}."
            )
        if id(param) not in seen:  # shared parameters appear once
            seen.add(id(param))
            unique.append(param)
    return unique
