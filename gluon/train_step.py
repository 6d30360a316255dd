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

Data parallel: when the Parameters live on several contexts (`net.initialize(ctx=[mx.gpu(0),
mx.gpu(1), ...])`, as MXNet's multi-device loop has them), the step is ONE SPMD program over
a jax.sharding Mesh of those contexts' devices (axis "data"). Weights and optimizer states
are replicated (NamedSharding with PartitionSpec()), built without a copy from each
context's own arrays and written back to them; the whole batch (data and label) is sharded
along `batch_axis` (an error unless it splits evenly). Each device runs the net on its
slice, exactly as the ordinary loop runs it on each `split_and_load` slice, the gradients
are summed with one `psum` (XLA's all-reduce; `CompiledStep.allreduce_bytes` is its size
per step), and every device applies the same update to its replica. So k compiled steps on
n devices equal k steps of `record / backward / trainer.step` with kvstore='device' over the
same contexts, and, for nets whose samples do not interact, k steps on one device with the
whole batch. As in MXNet's loop (not SyncBatchNorm), BatchNorm normalizes over each
device's slice and each context keeps its own running statistics. The returned loss is on
the first context, the devices' per-sample losses concatenated (one value per device when
loss_fn returns a scalar). The devices are the Parameters' contexts (no separate `devices=`
option), so `param.data(ctx)`, `save_parameters` and the ordinary loop keep working on every
copy. One process only: a Trainer with a 'dist_*' kvstore is refused (use the Trainer loop
across hosts). The optimizer states stay in the Trainer's per-context updaters, as with
update_on_kvstore=False, which a multi-context compiled step therefore selects when the
Trainer left it open; a Trainer already updating on its kvstore is refused.

Differences from the ordinary loop: `param.grad()` is not written (the gradients stay
inside the program); parameters the loss does not depend on are not updated (as
`step(ignore_stale_grad=True)` would); grad_req='add' is treated as 'write'; random ops
(Dropout) draw from a key folded with the device index, not MXNet's per-device streams.
"""

from __future__ import annotations

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
    store_owned,
)

__all__ = ["CompiledStep", "compile_step"]

AXIS = "data"  # the mesh axis the batch is sharded along


def compile_step(net: Any, loss_fn: Any, trainer: Trainer, batch_axis: int = 0) -> CompiledStep:
    """A callable `step(data, label, batch_size=None) -> loss` running one training step.

    batch_size defaults to data.shape[batch_axis] (the whole batch, over all devices).
    """
    if not isinstance(trainer, Trainer):
        raise TrainerError(f"compile_step needs a gluon.Trainer, got {type(trainer).__name__}")
    return CompiledStep(net, loss_fn, trainer, batch_axis)


class _Program:
    """The compiled step for one input signature and what feeds it.

    With several contexts, `copies` gives per constant position the Parameter arrays (one
    per context) that feed and receive it, or None for an array captured on one context.
    What does not change between steps is kept here (the trained Parameters and their
    indices); what may change (a Parameter's arrays, the updater's states, lr and wd) is
    read again on every call.
    """

    def __init__(
        self, traced: Any, trainable: list[tuple[int, int]], writes: list, params: list
    ) -> None:
        self.traced = traced
        self.trainable = trainable  # (trainer parameter index, constant position)
        self.indices = tuple(index for index, _ in trainable)
        self.params = params  # the trained Parameters, in `trainable` order
        self.writes = writes  # NDArrays receiving the graph's extra outputs
        self.others = [
            pos
            for pos in range(len(traced.constant_sources))
            if pos not in dict(trainable).values()
        ]
        self.contexts: list = []
        self.mesh: Any = None
        self.copies: dict[int, list[NDArray] | None] = {}
        self.write_copies: list[list[NDArray] | None] = []
        self.jitted: Any = None
        self.key: Any = None
        self.scalars: tuple = (None, None, None)  # (numpy rows, rescale, device copies)

    def device_scalars(self, rows: np.ndarray, rescale: float, device: Any) -> Any:
        """(rows, rescale) on `device`, copied there only when they changed: the optimizer
        reuses its rows array while lr, wd and multipliers stay the same, and two host
        arrays moved on every call cost ~10-15 us of a ~0.6 ms MLP step."""
        import jax

        last_rows, last_rescale, on_device = self.scalars
        if last_rows is not rows or last_rescale != rescale:
            on_device = jax.device_put((rows, np.float64(rescale)), device)
            self.scalars = (rows, rescale, on_device)
        return on_device


class CompiledStep:
    """See `compile_step`. Programs are cached per (data, label) shape and dtype."""

    def __init__(self, net: Any, loss_fn: Any, trainer: Trainer, batch_axis: int) -> None:
        self.net = net
        self.loss_fn = loss_fn
        self.trainer = trainer
        self.batch_axis = batch_axis
        self.allreduce_bytes = 0  # gradient bytes all-reduced by the last step (0: one device)
        self._programs: dict[tuple, _Program] = {}
        self._last: tuple | None = None  # (signature, contexts, program) of the last call

    def __call__(self, data: Any, label: Any, batch_size: int | None = None) -> NDArray:
        data, label = _as_nd(data, "data"), _as_nd(label, "label")
        if batch_size is None:
            batch_size = data.shape[self.batch_axis]
        trainer = self.trainer
        contexts = trainer._ensure_contexts()
        if len(contexts) > 1:
            return self._call_parallel(data, label, batch_size, contexts)
        program = self._program(data, label, contexts)
        optimizer = trainer.optimizer
        optimizer.rescale_grad = trainer._scale / batch_size
        # NOTE: read on every call, so set_data / load_parameters between steps are seen
        weights = _first_arrays(program.params)
        states = _states_of(trainer._updaters[0], program, weights)
        scalars = _count_update(optimizer, program, contexts)
        function = self._jitted(program)
        sources = program.traced.constant_sources
        scalars, rescale = program.device_scalars(
            scalars, optimizer.rescale_grad, contexts[0].device
        )
        outputs, new_weights, new_states = function(
            owned_buffers(weights),
            [_state_data(s) for s in states],
            [sources[pos]._data for pos in program.others],
            data._data,
            label._data,
            [_next_key(data) for _ in range(program.traced.num_keys)],
            scalars,
            rescale,
        )
        store_owned(weights, new_weights)
        for state, value in zip(states, new_states, strict=True):
            _write_state(state, value)
        for target, value in zip(program.writes, outputs[1:], strict=True):
            target._data = value
        self.allreduce_bytes = 0
        return NDArray(outputs[0])

    def _call_parallel(self, data: NDArray, label: NDArray, batch_size: int, contexts: list):
        """One SPMD step over the mesh of `contexts` (see the module docstring)."""
        import jax

        _check_parallel_trainer(self.trainer, contexts)
        for what, array in (("data", data), ("label", label)):
            _check_splits(what, array, self.batch_axis, len(contexts))
        program = self._program(data, label, contexts)
        trainer, optimizer = self.trainer, self.trainer.optimizer
        optimizer.rescale_grad = trainer._scale / batch_size
        params = [trainer._params[index] for index, _ in program.trainable]
        copies = [p.list_data() for p in params]  # [parameter][context]
        states = [  # [context][parameter]
            _states_of(updater, program, [c[i] for c in copies])
            for i, updater in enumerate(trainer._updaters)
        ]
        scalars = _count_update(optimizer, program, contexts)
        function = self._jitted(program)
        mesh = program.mesh
        weights = [_replicated(owned_buffers(c), mesh) for c in copies]
        state_data = jax.tree.map(
            lambda *leaves: _replicated(list(leaves), mesh),
            *[[_state_data(s) for s in per_context] for per_context in states],
        )
        others = [_other_input(program, pos, mesh) for pos in program.others]
        loss, writes, new_weights, new_states = function(
            weights,
            state_data,
            others,
            _batch_sharded(data, self.batch_axis, mesh),
            _batch_sharded(label, self.batch_axis, mesh),
            [_replicated_key(mesh) for _ in range(program.traced.num_keys)],
            scalars,
            np.float64(optimizer.rescale_grad),
        )
        devices = [c.device for c in contexts]
        for per_context, value in zip(copies, new_weights, strict=True):
            for weight, shard in zip(per_context, _shards(value, devices), strict=True):
                weight._data = shard
                remember_owned(weight)
        for c, per_context in enumerate(states):
            shards = jax.tree.map(lambda value, c=c: _shards(value, devices)[c], new_states)
            for state, value in zip(per_context, shards, strict=True):
                _write_state(state, value)
        _write_back(program, writes, devices)
        # NOTE: MXNet's Trainer creates its store at the first step, after that step's
        # forward, and broadcasts the first context's values of every Parameter (running
        # statistics included) to all contexts; doing the same here keeps the copies as the
        # ordinary loop has them, and a later trainer.step finds its store ready.
        trainer._prepare()
        self.allreduce_bytes = sum(
            int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in new_weights
        )
        return NDArray(jax.device_put(loss, devices[0]))

    # -- building -------------------------------------------------------------------------------
    def _program(self, data: NDArray, label: NDArray, contexts: list) -> _Program:
        signature = (data._data.shape, data._data.dtype, label._data.shape, label._data.dtype)
        last = self._last
        if last is not None and last[0] == signature and last[1] is contexts:
            return last[2]  # the common case: the same shapes as the last step
        key = (
            data.shape,
            np.dtype(data.dtype).str,
            label.shape,
            np.dtype(label.dtype).str,
            tuple(contexts),
        )
        program = self._programs.get(key)
        if program is None:
            program = self._programs[key] = self._trace(data, label, contexts)
        self._last = (signature, contexts, program)
        return program

    def _trace(self, data: NDArray, label: NDArray, contexts: list) -> _Program:
        from hybrix._trace import compile as trace_compile

        net, loss_fn = self.net, self.loss_fn
        if len(contexts) > 1:  # trace one device's slice, on the first context
            data, label = (
                _slice_like(a, self.batch_axis, len(contexts), contexts[0]) for a in (data, label)
            )

        def training_step(data, label):
            return loss_fn(net(data), label)

        with autograd.pause(), autograd.train_mode(), contexts[0]:
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
        params = [self.trainer._params[index] for index, _ in trainable]
        program = _Program(traced, trainable, writes, params)
        if len(contexts) > 1:
            _find_copies(program, self.net, self.trainer, contexts)
        return program

    def _jitted(self, program: _Program) -> Any:
        optimizer = self.trainer.optimizer
        key = (optimizer._static_key(), optimizer.multi_precision, id(optimizer))
        if program.jitted is None or program.key != key:
            if program.contexts:
                program.jitted = _build_parallel_step(program, optimizer, self.batch_axis)
            else:
                program.jitted = _build_step(program, optimizer)
            program.key = key
        return program.jitted


# -- the update bookkeeping shared by both paths ---------------------------------------------
def _first_arrays(params: list) -> list[NDArray]:
    """Each Parameter's array on its first context."""
    try:
        return [param._data[0] for param in params]
    except TypeError:  # not initialized: list_data() names the Parameter
        return [param.list_data()[0] for param in params]


def _states_of(updater: Any, program: _Program, weights: list) -> list:
    """The updater's state for each trained parameter, created on first use."""
    states = updater.states
    try:
        return [states[index] for index in program.indices]
    except KeyError:
        pass
    optimizer = updater.optimizer
    for index, weight in zip(program.indices, weights, strict=True):
        if index not in states:
            states[index] = optimizer.create_state_multi_precision(index, weight)
            updater.states_synced[index] = True
    return [states[index] for index in program.indices]


def _count_update(optimizer: Any, program: _Program, contexts: list) -> np.ndarray:
    """Count one update on every context (as each context's updater would) and return the
    per-parameter scalars (lr, wd, ...) of the first."""
    optimizer._set_current_context(contexts[0].device_id)
    scalars = optimizer._scalar_array(program.indices)
    for context in contexts[1:]:
        optimizer._set_current_context(context.device_id)
        optimizer._scalar_rows(program.indices)
    return scalars


def _build_step(program: _Program, optimizer: Any) -> Any:
    """jax.jit of forward + loss + grad + update, donating weights and states."""
    import jax

    return jax.jit(_step_function(program, optimizer, None), donate_argnums=(0, 1))


def _step_function(program: _Program, optimizer: Any, axis: str | None) -> Any:
    """step(weights, states, others, data, label, keys, scalars, rescale) -> (outputs, new
    weights, new states); with `axis`, one device's part of the SPMD step: random keys are
    folded with the device index and gradients summed over the axis."""
    import jax
    import jax.numpy as jnp

    from hybrix.compiler.autotune import strategy_chooser
    from hybrix.compiler.lower import lower_graph

    # NOTE: differentiated: strategies measured on forward + backward ("tune"), else XLA's own
    forward = lower_graph(program.traced.graph, strategy_chooser(train=True))
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
        if axis is not None:
            index = jax.lax.axis_index(axis)
            keys = [jax.random.fold_in(key, index) for key in keys]

        def objective(weights):
            outputs = forward(constants_of(weights, others), data, label, *keys)
            return jnp.sum(outputs[0]), outputs

        grads, outputs = jax.grad(objective, has_aux=True)(weights)
        if axis is not None:
            grads = jax.lax.psum(grads, axis)  # the all-reduce: one per step, all parameters
        new_weights, new_states = update(weights, grads, states, scalars, rescale)
        return outputs, new_weights, new_states

    return step


# -- the SPMD step over several contexts --------------------------------------------------------
def _check_parallel_trainer(trainer: Trainer, contexts: list) -> None:
    """Refuse what one SPMD program cannot do; keep the optimizer states per context."""
    from hybrix.gluon.trainer import _is_dist

    config = trainer._kvstore_params
    kvstore = config["kvstore"]
    if _is_dist(kvstore):
        raise TrainerError(
            f"compile_step over contexts {contexts}: kvstore {_kv_name(kvstore)!r} spans "
            "processes; the compiled step runs on this process's devices only (use the "
            "ordinary record/backward/trainer.step loop across hosts)"
        )
    if kvstore is None:
        raise TrainerError(
            f"compile_step over contexts {contexts}: the Trainer has kvstore=None, so its "
            "own loop would update each context with that context's gradient alone; the "
            "compiled step sums them over the contexts: create the Trainer with "
            "kvstore='device' (or 'local')"
        )
    if trainer._kv_initialized:
        on_store = trainer._kvstore is not None and trainer._update_on_kvstore
    else:
        on_store = config["update_on_kvstore"]
    if on_store:
        raise TrainerError(
            f"compile_step over contexts {contexts}: this Trainer updates on its kvstore, "
            "but the compiled step keeps the optimizer states on every context; create the "
            "Trainer with update_on_kvstore=False"
        )
    if not trainer._kv_initialized:
        config["update_on_kvstore"] = False  # the math is the same; the states stay per context


def _kv_name(kvstore: Any) -> str:
    return kvstore if isinstance(kvstore, str) else getattr(kvstore, "type", str(kvstore))


def _check_splits(what: str, array: NDArray, axis: int, count: int) -> None:
    if array.ndim <= axis or array.shape[axis] % count:
        raise TrainerError(
            f"compile_step over {count} contexts: {what} of shape {tuple(array.shape)} cannot "
            f"be split evenly into {count} slices along batch_axis {axis}; use a batch size "
            f"that is a multiple of {count}"
        )


def _slice_like(array: NDArray, axis: int, count: int, context: Any) -> NDArray:
    """An array shaped like one device's slice, on `context` (for tracing)."""
    from hybrix import nd

    shape = list(array.shape)
    shape[axis] //= count
    return nd.zeros(tuple(shape), ctx=context, dtype=array.dtype)


def _find_copies(program: _Program, net: Any, trainer: Trainer, contexts: list) -> None:
    """Map each constant and written array to its Parameter's per-context arrays."""
    params = list(trainer._params) + list(net.collect_params().values())
    by_first = {}
    for param in params:
        if param._data is not None:
            by_first[id(param.list_data()[0])] = param.list_data()
    program.contexts = list(contexts)
    program.mesh = _mesh(contexts)
    sources = program.traced.constant_sources
    program.copies = {pos: by_first.get(id(sources[pos])) for pos in program.others}
    program.write_copies = [by_first.get(id(target)) for target in program.writes]


def _mesh(contexts: list) -> Any:
    from jax.sharding import Mesh

    return Mesh(np.array([c.device for c in contexts], dtype=object), (AXIS,))


def _spec(axis: int | None) -> Any:
    """PartitionSpec: replicated (None) or sharded along `axis` over the mesh."""
    from jax.sharding import PartitionSpec

    if axis is None:
        return PartitionSpec()
    return PartitionSpec(*([None] * axis), AXIS)


def _build_parallel_step(program: _Program, optimizer: Any, batch_axis: int) -> Any:
    """jax.jit of shard_map(step) over the contexts' mesh, donating weights and states.

    Per-context arrays (BatchNorm running statistics) travel concatenated along axis 0,
    sharded, so each device sees its own copy; a rank-0 one gets a leading axis of 1.
    """
    import jax

    mesh = program.mesh
    step = _step_function(program, optimizer, AXIS)
    per_device = [program.copies[pos] is not None for pos in program.others]

    def local(weights, states, others, data, label, keys, scalars, rescale):
        others = [
            o.reshape(o.shape[1:]) if own and _was_scalar(program, pos) else o
            for o, own, pos in zip(others, per_device, program.others, strict=True)
        ]
        outputs, new_weights, new_states = step(
            weights, states, others, data, label, keys, scalars, rescale
        )
        loss, writes = outputs[0], outputs[1:]
        return _lead(loss), [_lead(w) for w in writes], new_weights, new_states

    replicated, sharded, batch = _spec(None), _spec(0), _spec(batch_axis)
    others_specs = [sharded if own else replicated for own in per_device]
    mapped = jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(
            replicated,
            replicated,
            others_specs,
            batch,
            batch,
            replicated,
            replicated,
            replicated,
        ),
        out_specs=(sharded, sharded, replicated, replicated),
        check_vma=False,  # NOTE: gradients are psum'd by hand, so replicated outputs hold
    )
    return jax.jit(mapped, donate_argnums=(0, 1))


def _was_scalar(program: _Program, pos: int) -> bool:
    return program.traced.constant_sources[pos].ndim == 0


def _lead(value: Any) -> Any:
    """A rank-0 per-device value gets a leading axis so devices' values concatenate."""
    return value.reshape((1,)) if value.ndim == 0 else value


def _replicated(arrays: list, mesh: Any) -> Any:
    """One replicated global array from one equal array per mesh device, without a copy."""
    import jax
    from jax.sharding import NamedSharding

    return jax.make_array_from_single_device_arrays(
        arrays[0].shape, NamedSharding(mesh, _spec(None)), arrays
    )


def _per_device(arrays: list, mesh: Any) -> Any:
    """One global array holding each device's own array, concatenated along axis 0."""
    import jax
    from jax.sharding import NamedSharding

    arrays = [_lead(a) for a in arrays]
    shape = (arrays[0].shape[0] * len(arrays), *arrays[0].shape[1:])
    return jax.make_array_from_single_device_arrays(shape, NamedSharding(mesh, _spec(0)), arrays)


def _other_input(program: _Program, pos: int, mesh: Any) -> Any:
    """A non-trained constant: per context for a Parameter, else replicated from its one copy."""
    import jax
    from jax.sharding import NamedSharding

    copies = program.copies[pos]
    if copies is not None:
        return _per_device([c._data for c in copies], mesh)
    source = program.traced.constant_sources[pos]._data
    return jax.device_put(source, NamedSharding(mesh, _spec(None)))


def _batch_sharded(array: NDArray, axis: int, mesh: Any) -> Any:
    import jax
    from jax.sharding import NamedSharding

    return jax.device_put(array._data, NamedSharding(mesh, _spec(axis)))


def _shards(value: Any, devices: list) -> list:
    """The per-device arrays of a global array, in `devices` order (no copy)."""
    by_device = {shard.device: shard.data for shard in value.addressable_shards}
    return [by_device[device] for device in devices]


def _write_back(program: _Program, writes: list, devices: list) -> None:
    """Each context's new value of a written array (running statistics) into its copy."""
    for target, copies, value, scalar in zip(
        program.writes,
        program.write_copies,
        writes,
        [t.ndim == 0 for t in program.writes],
        strict=True,
    ):
        shards = _shards(value, devices)
        if scalar:
            shards = [s.reshape(()) for s in shards]
        for array, shard in zip(copies or [target], shards, strict=False):
            array._data = shard


def _as_nd(value: Any, what: str) -> NDArray:
    if isinstance(value, NDArray):
        return value
    if isinstance(value, np.ndarray | list | tuple):
        from hybrix import nd

        return nd.array(value)
    raise HybrixError(f"compile_step: {what} must be an NDArray or numpy array, got {value!r:.60}")


def _replicated_key(mesh: Any) -> Any:
    import jax
    from jax.sharding import NamedSharding

    from hybrix.ndarray.random import next_key

    return jax.device_put(next_key(None), NamedSharding(mesh, _spec(None)))


def _next_key(data: NDArray) -> Any:
    from hybrix.ndarray.random import next_key

    return next_key(data.context)
