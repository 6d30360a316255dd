"""A whole training step as one XLA program: forward, loss, backward and optimizer update.

Beyond MXNet. The ordinary loop runs three programs per step (the hybridized forward, its
VJP, the fused update) and moves gradients between them; `compile_step` traces the network
and the loss into one ir.Graph with the Parameters as inputs, differentiates it with JAX,
applies the Trainer's optimizer rule in the same jitted function, and donates the weight
and optimizer-state buffers so XLA updates them in place:

    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    step = gluon.compile_step(net, gluon.loss.SoftmaxCrossEntropyLoss(), trainer)
    for data, label in batches:
        loss = step(data, label)          # per-sample losses, as loss_fn returns them

After each call the Parameters hold the new weights and the Trainer's updater holds the
new optimizer states, so `net(x)`, `trainer.save_states` and the ordinary
record/backward/`trainer.step` loop carry on from there. The math is the ordinary loop's:
gradients of `loss.sum()` (backward's head gradient of ones), scaled by 1/batch_size, then
the optimizer's own update rule with the same learning rates, multipliers and counts.

Differences from the ordinary loop: one context only; `param.grad()` is not written (the
gradients stay inside the program); parameters the loss does not depend on are not updated
(as `step(ignore_stale_grad=True)` would); grad_req='add' is treated as 'write'.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from hybrix import autograd
from hybrix.gluon.trainer import Trainer, TrainerError
from hybrix.ir import HybrixError
from hybrix.ndarray import NDArray
from hybrix.optimizer import update_function
from hybrix.optimizer.optimizer import (
    _state_data,
    _write_state,
    owned_buffers,
    remember_owned,
)

__all__ = ["CompiledStep", "compile_step"]


def compile_step(net: Any, loss_fn: Any, trainer: Trainer, batch_axis: int = 0) -> CompiledStep:
    """A callable `step(data, label, batch_size=None) -> loss` running one training step.

    batch_size defaults to data.shape[batch_axis].
    """
    if not isinstance(trainer, Trainer):
        raise TrainerError(f"compile_step needs a gluon.Trainer, got {type(trainer).__name__}")
    return CompiledStep(net, loss_fn, trainer, batch_axis)


class _Program:
    """The compiled step for one input signature and what feeds it."""

    def __init__(self, traced: Any, trainable: list[tuple[int, int]], writes: list) -> None:
        self.traced = traced
        self.trainable = trainable  # (trainer parameter index, constant position)
        self.writes = writes  # NDArrays receiving the graph's extra outputs
        self.others = [
            pos
            for pos in range(len(traced.constant_sources))
            if pos not in dict(trainable).values()
        ]
        self.jitted: Any = None
        self.key: Any = None


class CompiledStep:
    """See `compile_step`. Programs are cached per (data, label) shape and dtype."""

    def __init__(self, net: Any, loss_fn: Any, trainer: Trainer, batch_axis: int) -> None:
        self.net = net
        self.loss_fn = loss_fn
        self.trainer = trainer
        self.batch_axis = batch_axis
        self._programs: dict[tuple, _Program] = {}

    def __call__(self, data: Any, label: Any, batch_size: int | None = None) -> NDArray:
        data, label = _as_nd(data, "data"), _as_nd(label, "label")
        program = self._program(data, label)
        trainer = self.trainer
        optimizer = trainer.optimizer
        if batch_size is None:
            batch_size = data.shape[self.batch_axis]
        optimizer.rescale_grad = trainer._scale / batch_size
        contexts = trainer._ensure_contexts()
        updater = trainer._updaters[0]
        optimizer._set_current_context(contexts[0].device_id)
        params = [trainer._params[index] for index, _ in program.trainable]
        weights = [p.list_data()[0] for p in params]
        states = []
        for (index, _), weight in zip(program.trainable, weights, strict=True):
            if index not in updater.states:
                updater.states[index] = optimizer.create_state_multi_precision(index, weight)
                updater.states_synced[index] = True
            states.append(updater.states[index])
        scalars = np.array(
            [optimizer._scalars(index) for index, _ in program.trainable], dtype=np.float64
        )
        function = self._jitted(program)
        sources = program.traced.constant_sources
        others = [sources[pos]._data for pos in program.others]
        keys = [_next_key(data) for _ in range(program.traced.num_keys)]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
            outputs, new_weights, new_states = function(
                owned_buffers(weights),
                [_state_data(s) for s in states],
                others,
                data._data,
                label._data,
                keys,
                scalars,
                np.float64(optimizer.rescale_grad),
            )
        for weight, value in zip(weights, new_weights, strict=True):
            weight._data = value
            remember_owned(weight)
        for state, value in zip(states, new_states, strict=True):
            _write_state(state, value)
        for target, value in zip(program.writes, outputs[1:], strict=True):
            target._data = value
        return NDArray(outputs[0])

    # -- building -------------------------------------------------------------------------------
    def _program(self, data: NDArray, label: NDArray) -> _Program:
        key = (data.shape, np.dtype(data.dtype).str, label.shape, np.dtype(label.dtype).str)
        program = self._programs.get(key)
        if program is None:
            program = self._programs[key] = self._trace(data, label)
        return program

    def _trace(self, data: NDArray, label: NDArray) -> _Program:
        from hybrix._trace import compile as trace_compile

        contexts = {str(c) for p in self.trainer._params for c in p.list_ctx()}
        if len(contexts) > 1:
            raise TrainerError(
                f"compile_step runs on one context; the parameters are on {sorted(contexts)}"
            )
        net, loss_fn = self.net, self.loss_fn

        def training_step(data, label):
            return loss_fn(net(data), label)

        with autograd.pause(), autograd.train_mode():
            traced = trace_compile(training_step).traced(data, label)
        if traced.structure is not None:
            raise TrainerError("compile_step: the loss function must return one NDArray")
        positions = {id(source): pos for pos, source in enumerate(traced.constant_sources)}
        trainable = []
        for index, param in enumerate(self.trainer._params):
            if param.grad_req == "null":
                continue
            pos = positions.get(id(param.list_data()[0]))
            if pos is not None:
                trainable.append((index, pos))
        if not trainable:
            raise TrainerError("compile_step: the loss does not depend on any trained Parameter")
        writes = []
        for target in traced.writes:
            if isinstance(target, int):
                raise TrainerError("compile_step: the network writes into its input arrays")
            writes.append(target)
        return _Program(traced, trainable, writes)

    def _jitted(self, program: _Program) -> Any:
        optimizer = self.trainer.optimizer
        key = (optimizer._static_key(), optimizer.multi_precision, id(optimizer))
        if program.jitted is None or program.key != key:
            program.jitted = _build_step(program, optimizer)
            program.key = key
        return program.jitted


def _build_step(program: _Program, optimizer: Any) -> Any:
    """jax.jit of forward + loss + grad + update, donating weights and states."""
    import jax
    import jax.numpy as jnp

    from hybrix.compiler.lower import lower_graph

    forward = lower_graph(program.traced.graph)
    update = update_function(optimizer, optimizer.multi_precision)
    count = len(program.traced.constant_sources)
    trainable_positions = [pos for _, pos in program.trainable]

    def constants_of(weights: list, others: list) -> list:
        constants: list = [None] * count
        for pos, value in zip(trainable_positions, weights, strict=True):
            constants[pos] = value
        for pos, value in zip(program.others, others, strict=True):
            constants[pos] = value
        return constants

    def step(weights, states, others, data, label, keys, scalars, rescale):
        def objective(weights):
            outputs = forward(constants_of(weights, others), data, label, *keys)
            return jnp.sum(outputs[0]), outputs

        grads, outputs = jax.grad(objective, has_aux=True)(weights)
        new_weights, new_states = update(weights, grads, states, scalars, rescale)
        return outputs, new_weights, new_states

    return jax.jit(step, donate_argnums=(0, 1))


def _as_nd(value: Any, what: str) -> NDArray:
    if isinstance(value, NDArray):
        return value
    if isinstance(value, np.ndarray | list | tuple):
        from hybrix import nd

        return nd.array(value)
    raise HybrixError(f"compile_step: {what} must be an NDArray or numpy array, got {value!r:.60}")


def _next_key(data: NDArray) -> Any:
    from hybrix.ndarray.random import next_key

    return next_key(data.context)
