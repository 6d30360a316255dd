"""Updater: MXNet's closure that owns optimizer states per index (`get_updater`), with
pickled states for Trainer.save_states / load_states."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np

from hybrix.optimizer.optimizer import Optimizer, OptimizerError

__all__ = ["Updater", "get_updater"]


class Updater:
    """Calls `optimizer.update_multi_precision` with a state per index, created on first use.

    `updater(index, grad, weight)` takes one index or lists of them, as MXNet's does.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.states: dict[Any, Any] = {}
        self.states_synced: dict[Any, bool] = {}

    def __call__(self, index: Any, grad: Any, weight: Any) -> None:
        if isinstance(index, list | tuple):
            indices, grads, weights = list(index), list(grad), list(weight)
        else:
            indices, grads, weights = [index], [grad], [weight]
        if weights:
            self.optimizer._set_current_context(weights[0].context.device_id)
        for idx, w in zip(indices, weights, strict=True):
            if idx not in self.states:
                self.states[idx] = self.optimizer.create_state_multi_precision(idx, w)
                self.states_synced[idx] = True
            elif not self.states_synced[idx]:
                self.states[idx] = sync_state_context(self.states[idx], w.context)
                self.states_synced[idx] = True
        states = [self.states[idx] for idx in indices]
        self.optimizer.update_multi_precision(indices, weights, grads, states)

    def get_states(self, dump_optimizer: bool = False) -> bytes:
        """The states (and with dump_optimizer the optimizer) pickled, arrays as numpy."""
        states = {idx: _to_numpy(state) for idx, state in self.states.items()}
        return pickle.dumps((states, self.optimizer) if dump_optimizer else states)

    def set_states(self, states: bytes) -> None:
        """Load what get_states wrote; arrays move to their weights' contexts on next use."""
        try:
            loaded = pickle.loads(states)
        except Exception as e:
            raise OptimizerError(f"cannot read optimizer states: {e}") from e
        if isinstance(loaded, tuple) and len(loaded) == 2:
            loaded, self.optimizer = loaded
        if not isinstance(loaded, dict):
            raise OptimizerError(
                f"optimizer states should be a dict of index -> state, got {type(loaded).__name__}"
            )
        self.states = {idx: _from_numpy(state) for idx, state in loaded.items()}
        self.states_synced = dict.fromkeys(self.states, False)


def get_updater(optimizer: Optimizer) -> Updater:
    return Updater(optimizer)


def sync_state_context(state: Any, context: Any) -> Any:
    """The state with every array moved to `context`."""
    from hybrix.ndarray import NDArray

    if isinstance(state, NDArray):
        return state.as_in_context(context)
    if isinstance(state, tuple | list):
        return type(state)(sync_state_context(s, context) for s in state)
    return state


def _to_numpy(state: Any) -> Any:
    from hybrix.ndarray import NDArray

    if isinstance(state, NDArray):
        return state.asnumpy()
    if isinstance(state, tuple | list):
        return type(state)(_to_numpy(s) for s in state)
    return state


def _from_numpy(state: Any) -> Any:
    from hybrix import nd

    if isinstance(state, np.ndarray):
        return nd.array(state, dtype=state.dtype)
    if isinstance(state, tuple | list):
        return type(state)(_from_numpy(s) for s in state)
    return state
