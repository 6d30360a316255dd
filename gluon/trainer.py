"""Trainer: applies an Optimizer to a set of Parameters (MXNet 1.9's gluon.Trainer).

    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    with autograd.record():
        loss = loss_fn(net(data), label)
    loss.backward()
    trainer.step(batch_size)

With several contexts (or a 'dist_*' kvstore) `step` reduces each parameter's gradients
through a KVStore (hybrix.kvstore), as MXNet does: with update_on_kvstore the store sums
the gradients and runs the optimizer on its own copy of the weights, which every context
then pulls; otherwise the summed gradients come back to every context and each context's
updater runs one jitted function over all of that context's parameters, donating the
weight and state buffers. All parameters go to the store in one call, so the reduction is
one XLA program per step.

Stale gradients: MXNet marks a gradient fresh when backward writes it. Here backward
always stores a new jax array into `.grad`, so a gradient whose array is the one the
last step saw (or the one it had when the Trainer was made) was not written since.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np

from hybrix import kvstore as kvs
from hybrix import optimizer as opt
from hybrix.gluon.parameter import Parameter
from hybrix.ir import HybrixError

__all__ = ["StaleGradientError", "Trainer", "TrainerError"]

# MXNet's model._create_kvstore: 'local' stops updating on the store past this many elements
_LOCAL_UPDATE_LIMIT = 1024 * 1024 * 16


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
        kvstore: a KVStore type ('device', 'local', 'dist_sync', 'dist_device_sync'), a
            KVStore, or None (no reduction across contexts). As in MXNet, a non-dist type
            with one context uses no store.
        compression_params: gradient compression; not supported (raises).
        update_on_kvstore: run the optimizer on the store (None: MXNet's choice, True
            unless MXNET_UPDATE_ON_KVSTORE=0 or a 'local' store holds a huge parameter).
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
        _check_kvstore_argument(kvstore)
        if compression_params:
            raise TrainerError(
                f"compression_params={compression_params!r}: gradient compression is not "
                "supported (gradients are reduced exactly, by XLA collectives)"
            )
        self._init_optimizer(optimizer, optimizer_params or {})
        self._scale = self._optimizer.rescale_grad
        if self._optimizer.aggregate_num > 1 and update_on_kvstore:
            raise TrainerError(
                "Cannot set update_on_kvstore=True when optimizer.aggregate_num > 1."
            )
        if update_on_kvstore is None and self._optimizer.aggregate_num > 1:
            update_on_kvstore = False
        self._kvstore_params = {"kvstore": kvstore, "update_on_kvstore": update_on_kvstore}
        self._kvstore: Any = None
        self._update_on_kvstore: bool | None = None
        self._kv_initialized = False
        self._params_to_init = list(self._params)
        self._contexts: list | None = None
        self._last_grads: dict[tuple[int, int], Any] = {}
        self._pending_fresh: dict[int, list[bool]] | None = None
        self._remember_grads()
        for param in self._params:
            param._trainer = self
        if _is_dist(kvstore) and not any(p._deferred_init for p in self._params):
            # NOTE: beyond MXNet, which syncs at the first step: every worker starts from
            # rank 0's weights before its first forward, so step 1's gradients agree too.
            self._init_kvstore()
            self._init_params()

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

    # -- the KVStore -------------------------------------------------------------------------
    def _init_kvstore(self) -> None:
        """Create the KVStore and decide update_on_kvstore (MXNet's _create_kvstore)."""
        config = self._kvstore_params
        contexts = self._ensure_contexts()
        kvstore, update_on_kvstore = _create_kvstore(config["kvstore"], len(contexts), self._params)
        if config["update_on_kvstore"] is not None:
            update_on_kvstore = config["update_on_kvstore"]
        if kvstore is not None:
            if update_on_kvstore:
                kvstore.set_optimizer(self._optimizer)
            self._kvstore = kvstore
            self._update_on_kvstore = bool(update_on_kvstore)
        self._kv_initialized = True

    def _init_params(self) -> None:
        """Put every initialized parameter in the store and give all contexts (and, when
        distributed, all workers) rank 0's first-context value."""
        if self._kvstore is None:
            self._params_to_init = []
            return
        ready = [p for p in self._params_to_init if not p._deferred_init]
        self._params_to_init = [p for p in self._params_to_init if p._deferred_init]
        if ready:
            keys = [self._params.index(p) for p in ready]
            self._kvstore.broadcast(
                keys, [p.list_data()[0] for p in ready], [p.list_data() for p in ready]
            )

    def _prepare(self) -> None:
        if not self._kv_initialized:
            self._init_kvstore()
        if self._params_to_init:
            self._init_params()

    def _check_and_rescale_grad(self, scale: float) -> None:
        # NOTE: MXNet refuses a new batch size with update_on_kvstore on a dist store (its
        # servers hold a pickled copy of the optimizer); here every worker's store runs this
        # very optimizer, so the new scale applies.
        self._optimizer.rescale_grad = scale

    # -- stepping -----------------------------------------------------------------------------
    def step(self, batch_size: int, ignore_stale_grad: bool = False) -> None:
        """Reduce gradients across contexts, then update with gradients scaled by
        1/batch_size (set batch_size=1 if the loss was already averaged; with a dist
        kvstore gradients are summed over all workers, so give the global batch size)."""
        self._check_and_rescale_grad(self._scale / batch_size)
        self._prepare()
        trained = self._trained()
        fresh = self._freshness(ignore_stale_grad, trained)
        self._allreduce_grads(trained)
        self._update(fresh, trained)

    def allreduce_grads(self) -> None:
        """Sum each parameter's gradients across its contexts (for gradient clipping
        between allreduce_grads() and update())."""
        self._prepare()
        self._refuse_on_kvstore("allreduce_grads")
        trained = self._trained()
        self._pending_fresh = self._freshness(True, trained)
        self._allreduce_grads(trained)

    def update(self, batch_size: int, ignore_stale_grad: bool = False) -> None:
        """The update half of `step`, after `allreduce_grads`."""
        self._prepare()
        self._refuse_on_kvstore("update")
        self._check_and_rescale_grad(self._scale / batch_size)
        trained = self._trained()
        fresh = self._freshness(ignore_stale_grad, trained)
        self._pending_fresh = None
        self._update(fresh, trained)

    def _refuse_on_kvstore(self, what: str) -> None:
        if self._kvstore is not None and self._update_on_kvstore:
            raise TrainerError(
                f"{what}() when parameters are updated on kvstore is not supported. Try "
                "setting `update_on_kvstore` to False when creating trainer."
            )

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

    def _trained(self) -> list[tuple[int, list, list]]:
        """(index, per-context weights, per-context gradients) of each parameter with a
        gradient, looked up once per step (a grad_req change applies at the next step)."""
        return [
            (i, param.list_data(), param.list_grad())
            for i, param in enumerate(self._params)
            if param.grad_req != "null"
        ]

    def _allreduce_grads(self, trained: list[tuple[int, list, list]]) -> None:
        """One pushpull of every trained parameter's gradients (one XLA program)."""
        if self._kvstore is None or not trained:
            return
        keys = [i for i, _, _ in trained]
        weights = [arrays for _, arrays, _ in trained]
        grads = [arrays for _, _, arrays in trained]
        if self._update_on_kvstore:
            self._kvstore.pushpull(keys, grads, out=weights)
        else:
            self._kvstore.pushpull(keys, grads)

    def _freshness(
        self, ignore_stale_grad: bool, trained: list[tuple[int, list, list]]
    ) -> dict[int, list[bool]]:
        """Which gradients backward wrote since the last step; raises on a stale one
        unless ignore_stale_grad (MXNet's UserWarning, raised before anything changes)."""
        fresh = self._pending_fresh
        if not fresh:
            last = self._last_grads
            fresh = {
                i: [grad._data is not last.get((i, c)) for c, grad in enumerate(grads)]
                for i, _, grads in trained
            }
        if not ignore_stale_grad:
            contexts = self._ensure_contexts()
            for i, flags in fresh.items():
                if False in flags:
                    raise StaleGradientError(
                        f"Gradient of Parameter `{self._params[i].name}` on context "
                        f"{contexts[flags.index(False)]} has not been updated by backward "
                        "since last `step`. This could mean a bug in your model that made it "
                        "only use a subset of the Parameters (Blocks) for this iteration. If "
                        "you are intentionally only using a subset, call step with "
                        "ignore_stale_grad=True to suppress this warning and skip updating "
                        "of Parameters with stale gradient"
                    )
        return fresh

    def _update(self, fresh: dict[int, list[bool]], trained: list[tuple[int, list, list]]) -> None:
        self._ensure_contexts()
        if self._kvstore is not None and self._update_on_kvstore:
            self._remember_grads(trained)  # the store already updated the weights
            return
        for c, updater in enumerate(self._updaters):
            batch = [(i, weights[c], grads[c]) for i, weights, grads in trained if fresh[i][c]]
            if batch:
                indices, weights, grads = zip(*batch, strict=True)
                updater(list(indices), list(grads), list(weights))
        self._remember_grads(trained)

    def _remember_grads(self, trained: list[tuple[int, list, list]] | None = None) -> None:
        """Note each gradient's current array; a later backward replaces it."""
        if trained is None:
            trained = [
                (i, None, param.list_grad())
                for i, param in enumerate(self._params)
                if param.grad_req != "null" and param._grad is not None
            ]
        last = self._last_grads
        for i, _, grads in trained:
            for c, grad in enumerate(grads):
                last[(i, c)] = grad._data

    # -- states ------------------------------------------------------------------------------
    def save_states(self, fname: str) -> None:
        """Write optimizer states (momentum, ...) and the optimizer to `fname`.

        The Parameters' lr_mult/wd_mult (optimizer.param_dict) are not saved.
        """
        self._prepare()
        if self._kvstore is not None and self._update_on_kvstore:
            self._kvstore.save_optimizer_states(fname, dump_optimizer=True)
            return
        updater = self._updaters[0] if self._updaters else opt.get_updater(self._optimizer)
        data = updater.get_states(dump_optimizer=True)
        folder = os.path.dirname(os.path.abspath(fname))
        with tempfile.NamedTemporaryFile("wb", dir=folder, delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, fname)

    def load_states(self, fname: str) -> None:
        """Load what save_states wrote; the optimizer is replaced by the saved one."""
        self._prepare()
        try:
            with open(fname, "rb") as handle:
                data = handle.read()
        except OSError as e:
            raise TrainerError(f"cannot read trainer states from {fname!r}: {e}") from e
        try:
            if self._kvstore is not None and self._update_on_kvstore:
                self._kvstore._updater.set_states(data)
                self._optimizer = self._kvstore._updater.optimizer
            else:
                for updater in self._updaters:
                    updater.set_states(data)
                    updater.optimizer = self._updaters[0].optimizer
                if self._updaters:
                    self._optimizer = self._updaters[0].optimizer
        except opt.OptimizerError as e:
            raise TrainerError(f"{fname!r} does not hold trainer states: {e}") from e
        self._optimizer.param_dict = dict(enumerate(self._params))


def _is_dist(kvstore: Any) -> bool:
    if kvstore is None:
        return False
    name = kvstore if isinstance(kvstore, str) else kvstore.type
    return "dist" in name


def _check_kvstore_argument(kvstore: Any) -> None:
    """Refuse a bad kvstore argument at once (MXNet finds out at the first step)."""
    if kvstore is None or isinstance(kvstore, kvs.KVStore):
        return
    if not isinstance(kvstore, str):
        raise TrainerError(
            f"kvstore must be a KVStore, a str or None, got {type(kvstore).__name__}"
        )
    try:
        kvs.check_type(kvstore)
    except kvs.KVStoreError as e:
        raise TrainerError(f"Trainer(kvstore={kvstore!r}): {e}") from e


def _create_kvstore(kvstore: Any, num_device: int, params: list) -> tuple[Any, bool]:
    """(store or None, update_on_kvstore) as MXNet 1.9's model._create_kvstore."""
    update_on_kvstore = bool(int(os.environ.get("MXNET_UPDATE_ON_KVSTORE", "1")))
    if kvstore is None:
        return None, False
    if isinstance(kvstore, kvs.KVStore):
        return kvstore, update_on_kvstore
    if num_device == 1 and "dist" not in kvstore:
        return None, False  # no need for a store with one device on one machine
    store = kvs.create(kvstore)
    if kvstore == "local":
        sizes = [int(np.prod(p.shape)) for p in params if p.shape is not None]
        if sizes and max(sizes) > _LOCAL_UPDATE_LIMIT:
            update_on_kvstore = False
    return store, update_on_kvstore


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
