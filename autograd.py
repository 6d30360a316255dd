"""autograd: record nd operations and differentiate them with JAX VJPs, as MXNet's autograd.

    x.attach_grad()
    with autograd.record():          # recording, training behaviour
        y = (x * x).sum()
    y.backward()                     # x.grad == 2 * x

While recording, every nd op call on an array that needs a gradient adds a `TapeNode`
(a pure JAX function of the op's input arrays, the inputs as they were, where each input
came from); its outputs point back to it. `backward()` walks the nodes that lead from
the heads to the marked variables in reverse order, summing cotangents, and runs each
node's VJP through one jitted function cached per (function, which inputs/outputs take
part), so the per-op backward cost is a cached dispatch. Without `retain_graph` the walked
graph is freed.

Hybridized blocks record as one node through `call_recorded`: one jitted call returns the
outputs and the VJP's residuals (`jax.vjp`'s pullback is a pytree whose leaves are the
residuals), kept on the node, so backward applies them instead of running the forward a
second time. The VJP that recomputes the forward stays for `create_graph` (the gradient
must itself be differentiable) and for nodes recorded without residuals.

NOTE: inputs are kept as the jax arrays they were when recorded (jax arrays are
immutable), so writing into an array after recording does not change its gradient.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

from hybrix._jitted_vjp import _inexact, _residual_forward, vjp_function
from hybrix.ir import HybrixError

__all__ = [
    "AutogradError",
    "Function",
    "TapeNode",
    "Variable",
    "backward",
    "call_recorded",
    "grad",
    "is_recording",
    "is_training",
    "mark_variables",
    "pause",
    "predict_mode",
    "record",
    "record_op",
    "set_recording",
    "set_training",
    "train_mode",
]

GRAD_REQS = ("write", "add", "null")
_NOT_RECORDED = (
    "Cannot differentiate node because it is not in a computational graph. You need to set "
    "is_recording to true or use autograd.record() to save computational graphs for backward"
)
_FREED = (
    "the computational graph behind this array was freed by an earlier backward(); pass "
    "retain_graph=True to that backward to differentiate the same graph again"
)


class AutogradError(HybrixError):
    """Misuse of autograd: no recorded graph, a freed graph, in-place writes while recording."""


class _State(threading.local):
    """Per-thread flags (MXNet keeps them thread-local in the engine too)."""

    def __init__(self) -> None:
        self.recording = False
        self.training = False


_STATE = _State()
_SEQUENCE = itertools.count()  # orders nodes: an input's node is always older


# -- mode flags ------------------------------------------------------------------------
def set_recording(is_recording: bool) -> bool:
    """Set the recording flag; returns the previous value."""
    previous = _STATE.recording
    _STATE.recording = bool(is_recording)
    return previous


def set_training(train_mode: bool) -> bool:
    """Set the training flag; returns the previous value."""
    previous = _STATE.training
    _STATE.training = bool(train_mode)
    return previous


def is_recording() -> bool:
    return _STATE.recording


def is_training() -> bool:
    return _STATE.training


class _RecordingStateScope:
    """Sets the flags on entry and restores the previous ones on exit; None keeps a flag."""

    def __init__(self, is_record: bool | None, train_mode: bool | None) -> None:
        self._enter_record = is_record
        self._enter_train = train_mode
        self._prev_record: bool | None = None
        self._prev_train: bool | None = None

    def __enter__(self) -> None:
        if self._enter_record is not None:
            self._prev_record = set_recording(self._enter_record)
        if self._enter_train is not None:
            self._prev_train = set_training(self._enter_train)

    def __exit__(self, *exc: object) -> None:
        if self._enter_record is not None:
            set_recording(bool(self._prev_record))
        if self._enter_train is not None:
            set_training(bool(self._prev_train))


def record(train_mode: bool = True) -> _RecordingStateScope:
    """Scope that records operations for gradients; `train_mode` sets training behaviour."""
    return _RecordingStateScope(True, train_mode)


def pause(train_mode: bool = False) -> _RecordingStateScope:
    """Scope that stops recording (e.g. metric code inside `record()`)."""
    return _RecordingStateScope(False, train_mode)


def train_mode() -> _RecordingStateScope:
    """Scope with training behaviour; the recording flag is left as is."""
    return _RecordingStateScope(None, True)


def predict_mode() -> _RecordingStateScope:
    """Scope with inference behaviour; the recording flag is left as is."""
    return _RecordingStateScope(None, False)


# -- the graph -------------------------------------------------------------------------
class Variable:
    """A marked array's gradient buffer and request: 'write' overwrites it, 'add'
    accumulates into it, 'null' leaves it. Owned by the marked NDArray (its `_ag`)."""

    __slots__ = ("grad", "req")

    def __init__(self, grad: Any, req: str) -> None:
        self.grad = grad
        self.req = req


class TapeNode:
    """One recorded call. `fn(*primals)` returns a tuple whose first `len(diff_out)` items
    are the recorded outputs (later ones are hidden, e.g. aux updates). Each recorded output
    array holds `(node, index)` as its `_ag`; `parents[i]` is input i's `_ag` when recorded
    (None, a Variable, or a (node, index) pair). `primals` is None once the node is freed.
    `function` is set for an `autograd.Function` call, whose backward is the user's.
    `residuals` is set for a `call_recorded` call: (jax.vjp's pullback of the recorded
    call w.r.t. the `diff_in` inputs, the (shape, dtype) of each differentiable output)."""

    __slots__ = (
        "diff_in",
        "diff_out",
        "fn",
        "function",
        "key",
        "parents",
        "primals",
        "residuals",
        "seq",
    )

    def __init__(
        self,
        fn: Any,
        key: Any,
        parents: tuple,
        primals: tuple,
        diff_in: tuple[bool, ...],
        diff_out: tuple[bool, ...],
    ) -> None:
        self.fn = fn
        self.key = key
        self.parents = parents
        self.primals: tuple | None = primals
        self.diff_in = diff_in
        self.diff_out = diff_out
        self.function: Any = None
        self.residuals: tuple | None = None
        self.seq = next(_SEQUENCE)


def add_node(
    fn: Any,
    key: Any,
    inputs: Sequence[Any],
    primals: Sequence[Any],
    outputs: Sequence[Any],
    nondiff: Any = (),
) -> TapeNode | None:
    """Record `outputs = fn(*primals)[:len(outputs)]`, where `inputs` are the NDArrays the
    first primals came from (an rng key may follow). Nothing is recorded when no input is
    in a graph. `nondiff` holds input positions that get no gradient."""
    parents = [array._ag for array in inputs]
    if not any(parent is not None for parent in parents):
        return None
    parents.extend([None] * (len(primals) - len(parents)))
    diff_in = tuple(
        parent is not None and i not in nondiff and _inexact(data)
        for i, (parent, data) in enumerate(zip(parents, primals, strict=True))
    )
    diff_out = tuple(_inexact(array._data) for array in outputs)
    node = TapeNode(fn, key, tuple(parents), tuple(primals), diff_in, diff_out)
    for index, array in enumerate(outputs):
        array._ag = (node, index)
    return node


def record_op(
    fn: Callable[..., tuple],
    inputs: Sequence[Any],
    outputs: Sequence[Any],
    *,
    nondiff: Sequence[int] = (),
    key: Any = None,
) -> None:
    """Record one call `fn(*[a._data for a in inputs])` that produced the NDArrays
    `outputs` (a hybridized block records its whole forward as one such entry).

    `fn` is a pure JAX function returning a tuple; trailing results beyond `outputs`
    (aux updates) get no gradient. Inputs listed in `nondiff`, and integer inputs and
    outputs, get none either. The VJP is jitted once per `key` (default: `fn` itself,
    so pass a stable function, or a hashable key naming the computation).
    Does nothing unless recording.
    """
    if not _STATE.recording:
        return
    primals = [array._data for array in inputs]
    add_node(fn, fn if key is None else key, inputs, primals, outputs, frozenset(nondiff))


def call_recorded(
    fn: Callable[..., tuple],
    inputs: Sequence[Any],
    constants: Sequence[Any],
    num_outputs: int,
    *,
    key: Any,
    context: Any = None,
) -> tuple[list, list]:
    """Run `fn(*[a._data for a in inputs], *constants)` and, while recording, record it as
    `record_op` would; returns (its first `num_outputs` results as NDArrays on `context`,
    the later results as jax arrays).

    `constants` are jax arrays that get no gradient (rng keys, graph constants). When an
    input needs a gradient, one jitted call (cached per `key` and which inputs need one)
    also returns the VJP's residuals, kept on the tape node until backward frees the
    graph: backward applies them rather than running `fn` again (a `create_graph`
    backward still does, to record the gradient's own graph). Nothing extra is computed
    when no input needs a gradient.
    """
    from hybrix.ndarray.ndarray import NDArray

    primals = [*(array._data for array in inputs), *constants]
    parents = [array._ag for array in inputs] if _STATE.recording else []
    if not any(parent is not None for parent in parents):
        results = fn(*primals)
        return [NDArray(r, context) for r in results[:num_outputs]], list(results[num_outputs:])
    flags = [
        parent is not None and _inexact(array._data)
        for parent, array in zip(parents, inputs, strict=True)
    ]
    diff_in = (*flags, *[False] * len(constants))
    parents.extend([None] * len(constants))
    pullback = None
    if any(diff_in):
        results, pullback = _residual_forward(fn, key, diff_in, num_outputs)(*primals)
    else:
        results = fn(*primals)
    visible = results[:num_outputs]
    diff_out = tuple(_inexact(r) for r in visible)
    node = TapeNode(fn, key, tuple(parents), tuple(primals), diff_in, diff_out)
    if pullback is not None:
        avals = tuple((r.shape, r.dtype) for r, d in zip(visible, diff_out, strict=True) if d)
        node.residuals = (pullback, avals)
    outputs = [NDArray(r, context) for r in visible]
    for index, array in enumerate(outputs):
        array._ag = (node, index)
    return outputs, list(results[num_outputs:])


def check_writable(array: Any, what: str) -> None:
    """MXNet forbids writing into an array that is in a graph while recording."""
    if _STATE.recording and array._ag is not None:
        raise AutogradError(
            f"{what}: assigning to an NDArray of shape {array.shape} that is already in a "
            "computational graph while recording would corrupt its gradients; call "
            "backward first, write outside autograd.record(), or use the result of an "
            "out-of-place op (y = x + 1 instead of x += 1)"
        )


def mark_variables(variables: Any, gradients: Any, grad_reqs: Any = "write") -> None:
    """Mark NDArrays as variables whose gradients go into `gradients` (MXNet's API).

    A marked array starts a new graph: its earlier history is cut, as in MXNet.
    """
    from hybrix.ndarray.ndarray import NDArray

    if isinstance(variables, NDArray):
        variables, gradients = [variables], [gradients]
    variables, gradients = list(variables), list(gradients)
    reqs = [grad_reqs] * len(variables) if isinstance(grad_reqs, str) else list(grad_reqs)
    if not len(variables) == len(gradients) == len(reqs):
        raise AutogradError(
            f"mark_variables: {len(variables)} variables, {len(gradients)} gradients and "
            f"{len(reqs)} grad_reqs; expected as many of each"
        )
    for i, (array, gradient, req) in enumerate(zip(variables, gradients, reqs, strict=True)):
        if req not in GRAD_REQS:
            raise AutogradError(
                f"mark_variables: grad_req {req!r} for variable {i}; expected one of {GRAD_REQS}"
            )
        if not isinstance(array, NDArray) or not isinstance(gradient, NDArray):
            raise AutogradError(f"mark_variables: variable {i} and its gradient must be NDArrays")
        if gradient.shape != array.shape:
            raise AutogradError(
                f"mark_variables: gradient {i} has shape {gradient.shape}, its variable "
                f"{array.shape}"
            )
        array._ag = Variable(gradient, req)


# -- backward --------------------------------------------------------------------------
def backward(
    heads: Any, head_grads: Any = None, retain_graph: bool = False, train_mode: bool = True
) -> None:
    """Gradients of `heads` into the `.grad` of every marked variable they depend on."""
    targets, grads = _run_backward(heads, head_grads, None, retain_graph, False, train_mode)
    for variable, gradient in zip(targets, grads, strict=True):
        _store(variable, gradient)


def grad(
    heads: Any,
    variables: Any,
    head_grads: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    train_mode: bool = True,
) -> list:
    """Gradients of `heads` w.r.t. `variables`, returned as new NDArrays (`.grad` is left
    alone). With `create_graph` the backward is recorded, for higher-order gradients."""
    from hybrix.ndarray.ndarray import NDArray

    if isinstance(variables, NDArray):
        variables = [variables]
    variables = list(variables)
    if not variables:
        raise AutogradError("autograd.grad: variables cannot be an empty list")
    retain = create_graph if retain_graph is None else retain_graph
    _, grads = _run_backward(heads, head_grads, variables, retain, create_graph, train_mode)
    results = []
    for array, gradient in zip(variables, grads, strict=True):
        if gradient is None:
            gradient = _zeros_like(array._data)
        results.append(gradient)
    return results


def _store(variable: Variable, gradient: Any) -> None:
    target = variable.grad
    if variable.req == "null":
        return
    if gradient is None:
        if variable.req == "write":
            target._data = _zeros_like(target._data)._data
        return
    data = gradient._data
    if data.dtype != target._data.dtype:
        data = data.astype(target._data.dtype)
    target._data = data if variable.req == "write" else target._data + data


def _zeros_like(data: Any) -> Any:
    import jax.numpy as jnp

    from hybrix.ndarray.ndarray import NDArray

    return NDArray(jnp.zeros(data.shape, data.dtype))


def _run_backward(
    heads: Any,
    head_grads: Any,
    variables: list | None,
    retain_graph: bool,
    create_graph: bool,
    train_mode: bool,
) -> tuple[list[Variable], list]:
    """(target variables, their gradients as NDArrays or None where none arrived)."""
    heads, seeds = _parse_heads(heads, head_grads)
    starts = [_head_ref(head, i) for i, head in enumerate(heads)]
    nodes, reached = _collect(starts)
    if variables is None:
        targets = [v for v in reached if v.req != "null"]
        if not targets:
            raise AutogradError(
                "There are no inputs in computational graph that require gradients: call "
                "attach_grad() on the inputs before computing the heads in autograd.record()"
            )
    else:
        targets = [_variable_of(array, i) for i, array in enumerate(variables)]
    target_set = set(targets)
    order = _live_nodes(nodes, target_set)
    live = set(order)
    cotangents: dict[Any, Any] = {}
    for ref, seed in zip(starts, seeds, strict=True):
        _accumulate(cotangents, ref, seed)
    with _RecordingStateScope(create_graph, train_mode):
        for node in reversed(order):
            outputs = [cotangents.pop((node, j), None) for j in range(len(node.diff_out))]
            # the inputs whose cotangent leads to a target
            wrt = tuple(
                diff and (parent in target_set or (type(parent) is tuple and parent[0] in live))
                for parent, diff in zip(node.parents, node.diff_in, strict=True)
            )
            for parent, cotangent in zip(node.parents, _pullback(node, outputs, wrt), strict=True):
                if cotangent is not None:
                    _accumulate(cotangents, parent, cotangent)
    if not retain_graph:
        for node in nodes:
            node.primals = None
            node.residuals = None
            node.parents = ()
    return targets, [cotangents.get(variable) for variable in targets]


def _seq(node: TapeNode) -> int:
    return node.seq


def _parse_heads(heads: Any, head_grads: Any) -> tuple[list, list]:
    """The heads and their seed cotangents (ones where no head gradient is given)."""
    import jax.numpy as jnp

    from hybrix.ndarray.ndarray import NDArray

    if isinstance(heads, NDArray):
        heads = [heads]
    heads = list(heads)
    if head_grads is None and len(heads) == 1 and isinstance(heads[0], NDArray):
        return heads, [NDArray(_ones(heads[0]._data))]  # NOTE: loss.backward(), the usual call
    if head_grads is None:
        head_grads = [None] * len(heads)
    elif isinstance(head_grads, NDArray):
        head_grads = [head_grads]
    head_grads = list(head_grads)
    if len(head_grads) != len(heads):
        raise AutogradError(
            f"backward: {len(heads)} heads but {len(head_grads)} head gradients; "
            "heads and head_grads must be lists of the same length"
        )
    seeds = []
    for i, (head, seed) in enumerate(zip(heads, head_grads, strict=True)):
        if not isinstance(head, NDArray):
            raise AutogradError(f"backward: head {i} is a {type(head).__name__}, not an NDArray")
        data = head._data
        if seed is None:
            seeds.append(NDArray(_ones(data)))
            continue
        if not isinstance(seed, NDArray):
            seed = NDArray(jnp.asarray(seed, data.dtype))
        if seed.shape != head.shape:
            raise AutogradError(
                f"backward: head gradient {i} has shape {seed.shape}, its head {head.shape}"
            )
        if seed.dtype != head.dtype:
            seed = seed.astype(head.dtype)
        seeds.append(seed)
    return heads, seeds


_ONES: dict[tuple, Any] = {}


def _ones(data: Any) -> Any:
    """Ones shaped like `data`; small ones are cached (jax arrays are immutable), since an
    eager jnp.ones costs more than a whole small VJP."""
    import jax.numpy as jnp

    key = (data.shape, data.dtype, data.sharding)
    ones = _ONES.get(key)
    if ones is None:
        ones = jnp.ones(data.shape, data.dtype, device=data.sharding)
        if data.size <= 4096:
            if len(_ONES) >= 256:
                _ONES.clear()
            _ONES[key] = ones
    return ones


def _head_ref(head: Any, index: int) -> Any:
    ref = head._ag
    if ref is None:
        raise AutogradError(f"backward: head {index} (shape {head.shape}): {_NOT_RECORDED}")
    if type(ref) is tuple and ref[0].primals is None:
        raise AutogradError(f"backward: head {index} (shape {head.shape}): {_FREED}")
    return ref


def _variable_of(array: Any, index: int) -> Variable:
    ref = getattr(array, "_ag", None)
    if type(ref) is not Variable:
        raise AutogradError(
            f"autograd.grad: cannot differentiate with respect to variable {index} because "
            "it does not require gradient; call attach_grad() on it before recording"
        )
    return ref


def _collect(starts: list) -> tuple[list[TapeNode], list[Variable]]:
    """Every node reachable from the heads, oldest first, and the variables met (in order
    found)."""
    stack = [ref[0] for ref in starts if type(ref) is tuple]
    seen: set[TapeNode] = set()
    variables: dict[Variable, None] = {ref: None for ref in starts if type(ref) is Variable}
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        if node.primals is None:
            raise AutogradError(f"backward: {_FREED}")
        seen.add(node)
        for parent in node.parents:
            if type(parent) is tuple:
                stack.append(parent[0])
            elif type(parent) is Variable:
                variables[parent] = None
    return sorted(seen, key=_seq), list(variables)


def _live_nodes(nodes: list[TapeNode], targets: set) -> list[TapeNode]:
    """The nodes (oldest first, as `nodes`) with a differentiable path to a target
    variable: only they run a VJP."""
    live: set[TapeNode] = set()
    order = []
    for node in nodes:
        for parent, diff in zip(node.parents, node.diff_in, strict=True):
            if diff and (parent in targets or (type(parent) is tuple and parent[0] in live)):
                live.add(node)
                order.append(node)
                break
    return order


def _accumulate(cotangents: dict, ref: Any, value: Any) -> None:
    previous = cotangents.get(ref)
    if previous is None:
        cotangents[ref] = value
    elif _STATE.recording:  # create_graph: the sum is part of the recorded backward
        cotangents[ref] = previous + value
    else:
        from hybrix.ndarray.ndarray import NDArray

        cotangents[ref] = NDArray(previous._data + value._data)


# -- VJPs ------------------------------------------------------------------------------
def _pullback(node: TapeNode, outputs: list, wrt: tuple[bool, ...]) -> list:
    """Cotangents of the inputs flagged in `wrt` (NDArrays; None elsewhere, or where none
    arrives) from output cotangents. `wrt` only flags `diff_in` inputs."""
    if node.function is not None:
        return _function_pullback(node, outputs, wrt)
    present = tuple(c is not None and d for c, d in zip(outputs, node.diff_out, strict=True))
    results: list = [None] * len(wrt)
    if not any(present) or not any(wrt):
        return results
    if node.residuals is not None and not _STATE.recording:
        return _apply_residuals(node, outputs, wrt)
    cotangents = [c for c, p in zip(outputs, present, strict=True) if p]
    if _STATE.recording:
        # NOTE: create_graph: the recorded gradient depends on every differentiable input,
        # also those it is not taken w.r.t. (MXNet's gradient graph reads them too)
        constant = tuple(not d for d in node.diff_in)
        vjp = vjp_function(node.fn, node.key, wrt, present, constant)
        values = _recorded_vjp(node, vjp, (node.key, wrt, present, constant), cotangents)
    else:
        vjp = vjp_function(node.fn, node.key, wrt, present)
        from hybrix.ndarray.ndarray import NDArray

        values = [NDArray(v) for v in vjp(*node.primals, *(c._data for c in cotangents))]
    positions = [i for i, w in enumerate(wrt) if w]
    for i, value in zip(positions, values, strict=True):
        results[i] = value
    return results


_APPLY: list = []  # the jitted `pullback(cotangents)`, made on first use


def _apply_residuals(node: TapeNode, outputs: list, wrt: tuple[bool, ...]) -> list:
    """Input cotangents from the residuals kept by `call_recorded` (no forward rerun).

    The pullback gives every `diff_in` input's cotangent; those outside `wrt` are dropped.
    Missing output cotangents are zeros (MXNet: an unused output contributes nothing).
    """
    from hybrix.ndarray.ndarray import NDArray

    pullback, avals = node.residuals  # type: ignore[misc]
    if not _APPLY:
        import jax

        _APPLY.append(jax.jit(lambda pull, cotangents: pull(cotangents)))
    cotangents = []
    kept = (c for c, d in zip(outputs, node.diff_out, strict=True) if d)
    for cotangent, (shape, dtype) in zip(kept, avals, strict=True):
        if cotangent is None:
            import jax.numpy as jnp

            cotangents.append(jnp.zeros(shape, dtype))
            continue
        data = cotangent._data
        # NOTE: the pullback takes exactly the outputs' dtypes (see _make_vjp's cast)
        cotangents.append(data if data.dtype == dtype else data.astype(dtype))
    values = iter(_APPLY[0](pullback, tuple(cotangents)))
    results: list = []
    for diff, wanted in zip(node.diff_in, wrt, strict=True):
        value = next(values) if diff else None
        results.append(NDArray(value) if wanted else None)
    return results


def _recorded_vjp(node: TapeNode, vjp: Any, key: Any, cotangents: list) -> list:
    """Run a VJP on NDArrays and record it, so the gradient itself has a graph."""
    from hybrix.ndarray.ndarray import NDArray

    inputs = []
    for parent, data in zip(node.parents, node.primals, strict=True):
        array = NDArray(data)
        array._ag = parent
        inputs.append(array)
    inputs.extend(cotangents)
    results = [NDArray(v) for v in vjp(*(a._data for a in inputs))]
    add_node(vjp, ("vjp", key), inputs, [a._data for a in inputs], results)
    return results


# -- custom functions ------------------------------------------------------------------
class Function:
    """A differentiable function with a hand-written backward, as MXNet's.

        class sigmoid(autograd.Function):
            def forward(self, x):
                y = 1 / (1 + nd.exp(-x))
                self.save_for_backward(y)
                return y

            def backward(self, dy):
                (y,) = self.saved_tensors
                return dy * y * (1 - y)

    `forward` runs without recording; `backward` takes one gradient per output and returns
    one per input. Each instance may be called once.
    """

    def __init__(self) -> None:
        self._used = False
        self.saved_tensors: tuple = ()

    def save_for_backward(self, *args: Any) -> None:
        self.saved_tensors = args

    def forward(self, *inputs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward")

    def backward(self, *output_grads: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define backward")

    def __call__(self, *inputs: Any) -> Any:
        from hybrix.ndarray.ndarray import NDArray

        if self._used:
            raise AutogradError(
                f"{type(self).__name__}: each Function instance can only be called once; "
                "create another instance"
            )
        self._used = True
        with pause(train_mode=_STATE.training):
            result = self.forward(*inputs)
        if not _STATE.recording:
            return result
        outputs = [result] if isinstance(result, NDArray) else list(result)
        for i, array in enumerate([*inputs, *outputs]):
            if not isinstance(array, NDArray):
                raise AutogradError(
                    f"{type(self).__name__}: forward's inputs and outputs must be NDArrays; "
                    f"argument/result {i} is a {type(array).__name__}"
                )
        primals = [array._data for array in inputs]
        outputs = [NDArray(array._data) for array in outputs]  # fresh: graph outputs
        node = add_node(None, None, inputs, primals, outputs)
        if node is not None:
            node.function = self
            node.fn = tuple(array._data for array in outputs)  # shapes for zero gradients
        return outputs[0] if isinstance(result, NDArray) else outputs


def _function_pullback(node: TapeNode, outputs: list, wrt: tuple[bool, ...]) -> list:
    function = node.function
    grads = [
        c if c is not None else _zeros_like(_output_like(node, j)) for j, c in enumerate(outputs)
    ]
    results = function.backward(*grads)
    from hybrix.ndarray.ndarray import NDArray

    results = [results] if isinstance(results, NDArray) else list(results)
    if len(results) != len(node.parents):
        raise AutogradError(
            f"{type(function).__name__}.backward must return as many NDArrays as forward "
            f"had inputs: expected {len(node.parents)}, got {len(results)}"
        )
    for i, value in enumerate(results):
        if not isinstance(value, NDArray):
            raise AutogradError(
                f"{type(function).__name__}.backward must return NDArrays; result {i} is a "
                f"{type(value).__name__}"
            )
    return [v if w else None for v, w in zip(results, wrt, strict=True)]


def _output_like(node: TapeNode, index: int) -> Any:
    """Shape and dtype of a Function node's output (kept on the node's saved outputs)."""
    return node.fn[index]
