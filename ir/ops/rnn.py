"""The fused recurrent operator (MXNet's RNN: rnn_relu, rnn_tanh, lstm, gru) and its packer.

MXNet packs every weight of a fused RNN into one flat `parameters` vector
(src/operator/rnn_impl.h, rnn-inl.h GetRnnParamSize): all weights first, for each layer and
each direction W_x (gates*H, in) then W_h (gates*H, H); then all biases, in the same order,
b_x (gates*H) then b_h (gates*H). Gates are ordered i, f, g, o for lstm and r, z, n for gru,
whose candidate is cuDNN's n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).
Layout is TNC only; a backward direction reads the sequence from its end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hybrix.ir.errors import AttrError, ShapeError, TypeMismatchError
from hybrix.ir.ops._infer import normalize_axis, same_dtype
from hybrix.ir.ops._schema import Attr, defop
from hybrix.ir.types import Dim, TensorType, dim_mul

__all__ = ["GATES", "MODES", "RNN", "param_layout", "rnn_param_concat", "split_inputs"]

MODES = ("rnn_relu", "rnn_tanh", "lstm", "gru")
GATES = {"rnn_relu": 1, "rnn_tanh": 1, "lstm": 4, "gru": 3}


# -- attributes, inputs and the packed parameter layout ---------------------------------------
def _rnn_outputs(attrs: Mapping[str, Any]) -> list[str]:
    """MXNet's FListOutputNames for RNN."""
    names = ["output"]
    if attrs.get("state_outputs", False):
        names.append("state_output")
        if attrs.get("mode") == "lstm":
            names.append("statecell_output")
    return names


def _check_supported(attrs: Mapping[str, Any], where: str = "") -> None:
    """AttrError for attribute values hybrix (or MXNet itself) does not run.

    `where` prefixes the message; inside infer the registry adds the node and op names.
    """
    try:
        _check_attr_values(attrs)
    except AttrError as e:
        raise AttrError(f"{where}{e}") from None


def _check_attr_values(attrs: Mapping[str, Any]) -> None:
    if attrs["projection_size"] is not None:
        raise AttrError(
            f"projection_size (LSTMP, cuDNN-only in MXNet) is not supported; "
            f"expected None, got {attrs['projection_size']}"
        )
    if attrs["training"] and attrs["p"] > 0:
        # NOTE: dropout between layers would need a PRNG key input, which cannot follow
        # the optional state_cell/sequence_length inputs; inference-mode dropout is identity.
        raise AttrError(
            f"dropout between layers in training mode is not supported; "
            f"expected p=0 or training=False, got p={attrs['p']}"
        )
    if not 0 <= attrs["p"] < 1:
        raise AttrError(f"p must be in [0, 1), got {attrs['p']}")
    if attrs["state_size"] < 1 or attrs["num_layers"] < 1:
        raise AttrError(
            f"state_size and num_layers must be positive, got "
            f"{attrs['state_size']} and {attrs['num_layers']}"
        )
    _check_clip(attrs)


def _check_clip(attrs: Mapping[str, Any]) -> None:
    low, high = attrs["lstm_state_clip_min"], attrs["lstm_state_clip_max"]
    if low is None and high is None:
        return
    if attrs["mode"] != "lstm":
        raise AttrError(f"state clipping is only for mode lstm, got mode {attrs['mode']}")
    if low is None or high is None:
        raise AttrError("lstm_state_clip_min and lstm_state_clip_max must be set together")
    if high < low:
        raise AttrError(f"lstm_state_clip_max {high} is below lstm_state_clip_min {low}")


def split_inputs(rest: tuple[Any, ...], attrs: Mapping[str, Any]) -> tuple[Any, Any]:
    """(state_cell, sequence_length) from the inputs after `state`, as MXNet orders them.

    NOTE: MXNet's input list depends on the mode: without lstm, sequence_length is the
    fourth input (where the schema names state_cell).
    """
    lstm, use_length = attrs["mode"] == "lstm", attrs["use_sequence_length"]
    expected = 3 + lstm + use_length
    if len(rest) + 3 != expected:
        raise ShapeError(
            f"mode {attrs['mode']} with use_sequence_length={use_length} takes {expected} "
            f"inputs, got {len(rest) + 3}"
        )
    state_cell = rest[0] if lstm else None
    length = rest[-1] if use_length else None
    return state_cell, length


def _layer_sizes(attrs: Mapping[str, Any], input_size: int) -> list[int]:
    """The input size of each layer."""
    hidden, directions = attrs["state_size"], 2 if attrs["bidirectional"] else 1
    return [input_size] + [directions * hidden] * (attrs["num_layers"] - 1)


def param_layout(attrs: Mapping[str, Any], input_size: int) -> tuple[list[dict], int]:
    """Offsets and shapes of W_x, W_h, b_x, b_h per (layer, direction), and the total size."""
    hidden, directions = attrs["state_size"], 2 if attrs["bidirectional"] else 1
    rows = GATES[attrs["mode"]] * hidden
    entries: list[dict] = []
    offset = 0
    for size in _layer_sizes(attrs, input_size):
        for _ in range(directions):
            entry: dict[str, tuple[int, tuple[int, ...]]] = {"wx": (offset, (rows, size))}
            offset += rows * size
            entry["wh"] = (offset, (rows, hidden))
            offset += rows * hidden
            entries.append(entry)
    for entry in entries:
        entry["bx"] = (offset, (rows,))
        entry["bh"] = (offset + rows, (rows,))
        offset += 2 * rows
    return entries, offset


def _unpack(parameters: Any, attrs: Mapping[str, Any], input_size: int) -> list[dict]:
    """Per (layer, direction) dicts of the weight arrays, sliced from the flat vector."""
    entries, _ = param_layout(attrs, input_size)
    result = []
    for entry in entries:
        arrays = {}
        for key, (offset, shape) in entry.items():
            size = int(np.prod(shape))
            arrays[key] = parameters[offset : offset + size].reshape(shape)
        result.append(arrays)
    return result


# -- type inference ------------------------------------------------------------------------------
def _expect_shape(name: str, found: TensorType, expected: tuple[Dim, ...]) -> None:
    """ShapeError when known dimensions differ (symbolic ones are taken on trust)."""
    clash = found.rank != len(expected) or any(
        isinstance(a, int) and isinstance(b, int) and a != b
        for a, b in zip(found.shape, expected, strict=False)
    )
    if clash:
        shown = "[" + ", ".join(str(d) for d in expected) + "]"
        found_text = "[" + ", ".join(str(d) for d in found.shape) + "]"
        raise ShapeError(f"{name} should have shape {shown}, got {found_text}")


def _check_params_size(parameters: TensorType, attrs: Mapping[str, Any], input_size: Dim) -> None:
    if parameters.rank != 1:
        raise ShapeError(f"parameters should be a vector, got shape {tuple(parameters.shape)}")
    if not isinstance(input_size, int):
        return
    _, size = param_layout(attrs, input_size)
    _expect_shape("parameters", parameters, (size,))


def _rnn_infer(
    data: TensorType, parameters: TensorType, state: TensorType, *rest: TensorType, **attrs: Any
) -> tuple[TensorType, ...]:
    _check_supported(attrs)
    state_cell, length = split_inputs(rest, attrs)
    if data.rank != 3:
        raise ShapeError(f"data should be (T, N, C) (layout TNC), got shape {tuple(data.shape)}")
    dtype = same_dtype(*[t for t in (data, parameters, state, state_cell) if t is not None])
    if not dtype.is_float:
        raise TypeMismatchError(f"needs float inputs, got {dtype.name}")
    steps, batch, input_size = data.shape
    hidden, directions = attrs["state_size"], 2 if attrs["bidirectional"] else 1
    state_shape = (attrs["num_layers"] * directions, batch, hidden)
    _check_params_size(parameters, attrs, input_size)
    _expect_shape("state", state, state_shape)
    if state_cell is not None:
        _expect_shape("state_cell", state_cell, state_shape)
    if length is not None:
        _expect_shape("sequence_length", length, (batch,))
    output = TensorType(dtype, (steps, batch, dim_mul(directions, hidden)))
    states = TensorType(dtype, state_shape)
    return (output, *[states] * (len(_rnn_outputs(attrs)) - 1))


RNN = defop(
    "RNN",
    inputs=["data", "parameters", "state", "state_cell?", "sequence_length?"],
    outputs=_rnn_outputs,
    attrs={
        "state_size": Attr.int(doc="H, the hidden size of each layer"),
        "num_layers": Attr.int(doc="L, the number of stacked layers"),
        "bidirectional": Attr.bool(False),
        "mode": Attr.str(choices=MODES),
        "p": Attr.float(0.0, doc="dropout rate between layers (training only)"),
        "state_outputs": Attr.bool(False, doc="also return the final states"),
        "projection_size": Attr.int(None, doc="LSTMP projection; not supported"),
        "lstm_state_clip_min": Attr.float(None),
        "lstm_state_clip_max": Attr.float(None),
        "lstm_state_clip_nan": Attr.bool(False, doc="clip NaN cell states to the minimum"),
        "use_sequence_length": Attr.bool(False),
        "training": Attr.bool(False),
    },
    infer=_rnn_infer,
    aliases=["_npx_rnn"],
    nondiff_inputs=("sequence_length",),
    doc=(
        "Fused multi-layer (bidirectional) RNN over data (T, N, C) with a flat parameter "
        "vector; outputs (T, N, D*H) and, with state_outputs, the final states (L*D, N, H). "
        "sequence_length (use_sequence_length) stops each batch entry at its length and "
        "zeros later outputs, as cuDNN does. MXNet: RNN."
    ),
)


# -- numpy reference -----------------------------------------------------------------------------
def _np_sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _np_cell(mode: str, x: np.ndarray, h: np.ndarray, c: Any, w: dict, attrs: Mapping) -> tuple:
    """One time step of one layer and direction: (new h, new c)."""
    gx = x @ w["wx"].T + w["bx"]
    gh = h @ w["wh"].T + w["bh"]
    if mode == "rnn_tanh":
        return np.tanh(gx + gh), None
    if mode == "rnn_relu":
        return np.maximum(gx + gh, 0), None
    if mode == "gru":
        xr, xz, xn = np.split(gx, 3, axis=-1)
        hr, hz, hn = np.split(gh, 3, axis=-1)
        reset, update = _np_sigmoid(xr + hr), _np_sigmoid(xz + hz)
        candidate = np.tanh(xn + reset * hn)
        return (1 - update) * candidate + update * h, None
    i, f, g, o = np.split(gx + gh, 4, axis=-1)
    c = _np_sigmoid(f) * c + _np_sigmoid(i) * np.tanh(g)
    c = _np_clip_state(c, attrs)
    return _np_sigmoid(o) * np.tanh(c), c


def _np_clip_state(c: np.ndarray, attrs: Mapping) -> np.ndarray:
    low, high = attrs["lstm_state_clip_min"], attrs["lstm_state_clip_max"]
    if low is None:
        return c
    clipped = np.clip(c, low, high).astype(c.dtype)
    if attrs["lstm_state_clip_nan"]:
        return np.where(np.isnan(c), c.dtype.type(low), clipped)
    return clipped


def _np_direction(
    x: np.ndarray,
    h: np.ndarray,
    c: Any,
    w: dict,
    steps_valid: np.ndarray,
    reverse: bool,
    attrs: Mapping,
) -> tuple[np.ndarray, np.ndarray, Any]:
    """Run one layer in one direction: outputs (T, N, H), final h and c."""
    outputs = np.zeros((x.shape[0], *h.shape), dtype=x.dtype)
    order = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
    for t in order:
        new_h, new_c = _np_cell(attrs["mode"], x[t], h, c, w, attrs)
        valid = (t < steps_valid)[:, None]
        h = np.where(valid, new_h, h)
        c = None if c is None else np.where(valid, new_c, c)
        outputs[t] = np.where(valid, new_h, 0)
    return outputs, h, c


@RNN.ref
def _rnn_ref(
    data: np.ndarray, parameters: np.ndarray, state: np.ndarray, *rest: np.ndarray, **attrs: Any
) -> Any:
    _check_supported(attrs, "RNN: ")
    state_cell, length = split_inputs(rest, attrs)
    steps, batch, input_size = data.shape
    steps_valid = np.full(batch, steps) if length is None else np.asarray(length).astype(np.int64)
    directions = 2 if attrs["bidirectional"] else 1
    weights = _unpack(parameters, attrs, input_size)
    x, final_h, final_c = data, [], []
    for layer in range(attrs["num_layers"]):
        outputs = []
        for direction in range(directions):
            index = layer * directions + direction
            c0 = None if state_cell is None else state_cell[index]
            y, h, c = _np_direction(
                x, state[index], c0, weights[index], steps_valid, direction == 1, attrs
            )
            outputs.append(y)
            final_h.append(h)
            final_c.append(c)
        x = np.concatenate(outputs, axis=-1)
    results = [x]
    if attrs["state_outputs"]:
        results.append(np.stack(final_h))
        if state_cell is not None:
            results.append(np.stack(final_c))
    return tuple(results) if len(results) > 1 else x


# -- JAX lowering --------------------------------------------------------------------------------
def _jx_cell(jx: Any, mode: str, gx: Any, gh: Any, h: Any, c: Any, attrs: Mapping) -> tuple:
    """One time step from the input and hidden projections gx, gh: (new h, new c)."""
    jnp, sigmoid = jx.jnp, jx.nn.sigmoid
    if mode == "rnn_tanh":
        return jnp.tanh(gx + gh), c
    if mode == "rnn_relu":
        return jx.nn.relu(gx + gh), c
    if mode == "gru":
        xr, xz, xn = jnp.split(gx, 3, axis=-1)
        hr, hz, hn = jnp.split(gh, 3, axis=-1)
        reset, update = sigmoid(xr + hr), sigmoid(xz + hz)
        candidate = jnp.tanh(xn + reset * hn)
        return (1 - update) * candidate + update * h, c
    i, f, g, o = jnp.split(gx + gh, 4, axis=-1)
    c = _jx_clip_state(jx, sigmoid(f) * c + sigmoid(i) * jnp.tanh(g), attrs)
    return sigmoid(o) * jnp.tanh(c), c


def _jx_clip_state(jx: Any, c: Any, attrs: Mapping) -> Any:
    low, high = attrs["lstm_state_clip_min"], attrs["lstm_state_clip_max"]
    if low is None:
        return c
    clipped = jx.jnp.clip(c, low, high).astype(c.dtype)
    if attrs["lstm_state_clip_nan"]:
        return jx.jnp.where(jx.jnp.isnan(c), jx.jnp.asarray(low, c.dtype), clipped)
    return clipped


def _time_align(jx: Any, stacked: Any) -> Any:
    """Reverse time (axis 1) of the backward direction (index 1 of axis 0), if there is one.

    NOTE: so both directions of a layer run in one forward scan; applied twice it undoes
    itself, which maps the scanned outputs back to the original time order.
    """
    if stacked.shape[0] == 1:
        return stacked
    return jx.jnp.stack([stacked[0], jx.jnp.flip(stacked[1], axis=0)])


def _jx_layer(
    jx: Any, x: Any, h: Any, c: Any, weights: list[dict], mask: Any, attrs: Mapping
) -> tuple:
    """One layer, all directions in one scan: outputs (T, N, D*H), final h and c (D, N, H)."""
    jnp = jx.jnp
    wx, wh, bx, bh = (jnp.stack([w[key] for w in weights]) for key in ("wx", "wh", "bx", "bh"))
    # every step's input projection in one matmul: (D, T, N, gates*H)
    projected = _time_align(jx, jnp.einsum("tni,dgi->dtng", x, wx) + bx[:, None, None, :])
    masks = None if mask is None else _time_align(jx, jnp.stack([mask] * len(weights)))

    def step(carry: tuple, inputs: tuple) -> tuple:
        h, c = carry
        gx, valid = inputs
        gh = jnp.einsum("dnh,dgh->dng", h, wh) + bh[:, None, :]
        new_h, new_c = _jx_cell(jx, attrs["mode"], gx, gh, h, c, attrs)
        if valid is None:
            return (new_h, new_c), new_h
        if c is not None:
            new_c = jnp.where(valid, new_c, c)
        output = jnp.where(valid, new_h, jnp.zeros((), new_h.dtype))
        return (jnp.where(valid, new_h, h), new_c), output

    masks = None if masks is None else jnp.moveaxis(masks, 1, 0)
    (h, c), outputs = jx.lax.scan(step, (h, c), (jnp.moveaxis(projected, 1, 0), masks))
    outputs = _time_align(jx, jnp.moveaxis(outputs, 0, 1))  # (D, T, N, H)
    directions, steps, batch, hidden = outputs.shape
    return jnp.moveaxis(outputs, 0, 2).reshape(steps, batch, directions * hidden), h, c


def _jx_mask(jx: Any, length: Any, steps: int) -> Any:
    """(T, N, 1) booleans: step t is inside batch entry n's sequence."""
    if length is None:
        return None
    lengths = jx.jnp.asarray(length).astype(jx.jnp.int32)
    return (jx.jnp.arange(steps)[:, None] < lengths[None, :])[:, :, None]


@RNN.lower
def _rnn_lower(jx: Any, data: Any, parameters: Any, state: Any, *rest: Any, **attrs: Any) -> Any:
    _check_supported(attrs, "RNN: ")
    return _rnn_forward(jx, data, parameters, state, *rest, attrs=attrs)


def _rnn_forward(
    jx: Any, data: Any, parameters: Any, state: Any, *rest: Any, attrs: Mapping
) -> Any:
    state_cell, length = split_inputs(rest, attrs)
    mask = _jx_mask(jx, length, data.shape[0])
    directions = 2 if attrs["bidirectional"] else 1
    weights = _unpack(parameters, attrs, data.shape[2])
    x, final_h, final_c = data, [], []
    for layer in range(attrs["num_layers"]):
        rows = slice(layer * directions, (layer + 1) * directions)
        c0 = None if state_cell is None else state_cell[rows]
        x, h, c = _jx_layer(jx, x, state[rows], c0, weights[rows], mask, attrs)
        final_h.append(h)
        final_c.append(c)
    results = [x]
    if attrs["state_outputs"]:
        results.append(jx.jnp.concatenate(final_h))
        if state_cell is not None:
            results.append(jx.jnp.concatenate(final_c))
    return tuple(results) if len(results) > 1 else x


# -- _rnn_param_concat ---------------------------------------------------------------------------
def _dim_sum(dims: list[Dim]) -> Dim:
    if all(isinstance(d, int) for d in dims):
        return sum(dims)  # type: ignore[arg-type]
    return "+".join(str(d) for d in dims)


def _param_concat_infer(*inputs: TensorType, dim: int, num_args: int | None) -> TensorType:
    if num_args is not None and num_args != len(inputs):
        raise ShapeError(f"num_args is {num_args} but {len(inputs)} inputs were given")
    dtype = same_dtype(*inputs)
    first = inputs[0]
    if any(t.rank != first.rank for t in inputs):
        raise ShapeError(f"inputs should have one rank, got shapes {[t.shape for t in inputs]}")
    axis = normalize_axis(dim, first.rank)
    before, after = first.shape[:axis], first.shape[axis + 1 :]
    for t in inputs:
        _expect_shape("each input", t, (*before, t.shape[axis], *after))
    size = _dim_sum([t.shape[axis] for t in inputs])
    return TensorType(dtype, (*before, size, *after))


rnn_param_concat = defop(
    "_rnn_param_concat",
    inputs=["*data"],
    attrs={"dim": Attr.int(1), "num_args": Attr.int(None, doc="number of inputs (MXNet)")},
    infer=_param_concat_infer,
    aliases=["_npi_rnn_param_concat"],
    doc=(
        "Concatenate inputs along dim; Gluon's fused RNN layers pack their reshaped weights "
        "and biases into RNN's parameter vector with it. MXNet: _rnn_param_concat."
    ),
)


@rnn_param_concat.ref
def _param_concat_ref(*data: np.ndarray, dim: int, num_args: int | None) -> np.ndarray:
    return np.concatenate(data, axis=dim)


@rnn_param_concat.lower
def _param_concat_lower(jx: Any, *data: Any, dim: int, num_args: int | None) -> Any:
    return jx.jnp.concatenate(data, axis=dim)


@rnn_param_concat.onnx
def _param_concat_onnx(o: Any, *data: Any, dim: int, num_args: int | None) -> Any:
    return o.Concat(*data, axis=normalize_axis(dim, data[0].rank))


# -- ONNX: one LSTM / GRU / RNN node per layer -------------------------------------------------
# MXNet's gate order -> ONNX's: lstm i,f,g,o -> i,o,f,c; gru r,z,n -> z,r,h (rnn: one gate)
_ONNX_GATE_ORDER = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "rnn_relu": [0], "rnn_tanh": [0]}
_ONNX_OP = {"lstm": "LSTM", "gru": "GRU", "rnn_relu": "RNN", "rnn_tanh": "RNN"}


def _onnx_piece(o: Any, parameters: Any, entry: tuple, mode: str, hidden: int) -> Any:
    """One packed weight or bias, its gate blocks in ONNX's order, with a leading 1 axis."""
    offset, shape = entry
    size = int(np.prod(shape))
    flat = o.Slice(parameters, o.ints([offset]), o.ints([offset + size]), o.ints([0]))
    gates = len(_ONNX_GATE_ORDER[mode])
    blocks = o.Reshape(flat, o.ints([gates, hidden, *shape[1:]]))
    if gates > 1:
        blocks = o.Gather(blocks, o.ints(_ONNX_GATE_ORDER[mode]), axis=0)
    return o.Reshape(blocks, o.ints([1, *shape]))


def _onnx_layer_weights(
    o: Any, parameters: Any, attrs: Mapping[str, Any], input_size: int, layer: int
) -> tuple[Any, Any, Any]:
    """ONNX's W (D, gates*H, in), R (D, gates*H, H) and B (D, 2*gates*H) of one layer."""
    entries, _ = param_layout(attrs, input_size)
    directions = 2 if attrs["bidirectional"] else 1
    mode, hidden = attrs["mode"], attrs["state_size"]
    pieces: dict[str, list[Any]] = {"W": [], "R": [], "B": []}
    for direction in range(directions):
        entry = entries[layer * directions + direction]
        part = {key: _onnx_piece(o, parameters, entry[key], mode, hidden) for key in entry}
        pieces["W"].append(part["wx"])
        pieces["R"].append(part["wh"])
        pieces["B"].append(o.Concat(part["bx"], part["bh"], axis=1))
    return tuple(
        o.Concat(*pieces[key], axis=0) if directions > 1 else pieces[key][0] for key in "WRB"
    )


def _onnx_layer_states(o: Any, state: Any, layer: int, directions: int) -> Any:
    if state is None:
        return None
    rows = [layer * directions, (layer + 1) * directions]
    return o.Slice(state, o.ints(rows[:1]), o.ints(rows[1:]), o.ints([0]))


def _onnx_kept_state(o: Any, final: Any, initial: Any, lengths: Any, data: Any) -> Any:
    """MXNet keeps the initial state of a sequence with no steps (ONNX gives zeros)."""
    if data.shape[0] == 0:
        return initial
    if lengths is None:
        return final
    empty = o.unsqueeze(o.Equal(lengths, o.scalar(0, "int32")), [0, 2])
    return o.Where(empty, initial, final)


@RNN.onnx
def _rnn_onnx(o: Any, data: Any, parameters: Any, state: Any, *rest: Any, **attrs: Any) -> Any:
    _check_supported(attrs, "RNN: ")
    if attrs["lstm_state_clip_min"] is not None:
        o.fail(
            "lstm_state_clip_min/max clip the cell state; ONNX LSTM's clip bounds the "
            "gate inputs, so clipped LSTMs have no ONNX form"
        )
    state_cell, length = split_inputs(rest, attrs)
    input_size = data.shape[2]
    if not isinstance(input_size, int):
        o.fail(f"an input size {input_size} that is symbolic leaves the packed weights unknown")
    mode, hidden = attrs["mode"], attrs["state_size"]
    directions = 2 if attrs["bidirectional"] else 1
    lengths = None if length is None else o.cast(length, "int32")
    options: dict[str, Any] = {
        "hidden_size": hidden,
        "direction": "bidirectional" if directions == 2 else "forward",
    }
    if mode == "gru":
        options["linear_before_reset"] = 1  # cuDNN's candidate, as MXNet's
    if mode.startswith("rnn_"):
        options["activations"] = ["Relu" if mode == "rnn_relu" else "Tanh"] * directions
    x, final_h, final_c = data, [], []
    outputs = 3 if mode == "lstm" else 2
    for layer in range(attrs["num_layers"]):
        weights = _onnx_layer_weights(o, parameters, attrs, input_size, layer)
        h0 = _onnx_layer_states(o, state, layer, directions)
        c0 = _onnx_layer_states(o, state_cell, layer, directions)
        inputs = [x, *weights, lengths, h0] + ([c0] if mode == "lstm" else [])
        results = o.node(_ONNX_OP[mode], inputs, outputs=outputs, **options)
        # Y is (T, D, N, H); MXNet's output is (T, N, D*H)
        y = o.Transpose(results[0], perm=[0, 2, 1, 3])
        x = o.reshape(y, o.output_types[0].shape, like=[data, state])
        final_h.append(_onnx_kept_state(o, results[1], h0, lengths, data))
        if mode == "lstm":
            final_c.append(_onnx_kept_state(o, results[2], c0, lengths, data))
    outputs_list = [x]
    if attrs["state_outputs"]:
        outputs_list.append(o.Concat(*final_h, axis=0) if len(final_h) > 1 else final_h[0])
        if mode == "lstm":
            outputs_list.append(o.Concat(*final_c, axis=0) if len(final_c) > 1 else final_c[0])
    return tuple(outputs_list) if len(outputs_list) > 1 else x
