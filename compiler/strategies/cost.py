"""A cost model in seconds per strategy and case: FLOPs, memory traffic, known XLA weak spots.

Used where nothing was measured. Rates are per target, for this kind of machine (2 AVX-512
cores, jax 0.10 CPU; see DESIGN.md "Compiler notes" and bench/lowering.py --per-op):
XLA's CPU conv runs ordinary shapes well but collapses when the output has only a few
spatial positions, and on thin-channel inputs; a matmul is steady. On GPU XLA's own conv
(cuDNN) is the default: every other strategy is costed as worse.
"""

from __future__ import annotations

from math import prod

from hybrix.compiler.strategies._geometry import conv_geometry, trim_taps
from hybrix.compiler.strategies._registry import Case

__all__ = ["CPU_RATES", "estimate"]

CPU_RATES = {
    # NOTE: alone, XLA's conv runs ~120 GFLOP/s on ordinary shapes; inside a whole network
    # (fused with bias and activation) ResNet-18 ran ~4x slower than with im2col matmuls
    "conv": 30e9,  # FLOP/s of XLA's conv on ordinary shapes, in a whole program
    "conv_padded": 2e9,  # ... when the kernel is wider than the input (mostly padding)
    "conv_small": 20e9,  # ... on inputs of at most 4 positions per image
    # NOTE: alone, a 7x7 stride-2 stem on 3 channels ran ~60 GFLOP/s, in the network ~25;
    # im2col for it was as fast or faster in ResNet-18/50 and MobileNet (bench/infer.py)
    "conv_thin": 25e9,  # ... with at most 4 input channels per group
    # NOTE: one-channel groups (depthwise) fall off XLA's fast CPU path: MobileNet 1.0's 13
    # depthwise convolutions (35 MFLOP) took 64 ms in all, against 17.7 ms for the network
    # with the depthwise strategy (bench/infer.py)
    "conv_depthwise": 0.5e9,
    "matmul": 110e9,  # FLOP/s of a large float32 matmul
    "deconv": 100e9,  # XLA's transposed convolution, fewer than 128 channels in or out
    "deconv_wide": 300e9,  # ... with 128 or more both in and out
    # NOTE: hybrix's native kernel (compiler/native), alone on NHWC ResNet shapes: 330-480
    # GFLOP/s with >= 32 input channels on a quiet machine (bench/native_conv.py); ResNet-18
    # at batch 1 ran 1.2-2.2x faster with it than without (whole network, interleaved runs)
    "native": 300e9,
    "native_thin": 120e9,  # ... with at most 4 input channels (the stems: 300-370 alone)
    # NOTE: hybrix's depthwise kernel, alone on MobileNet 1.0's depthwise shapes (NHWC, b1
    # 224): 30-115 GFLOP/s, 5-8x the "depthwise" strategy and at or above ONNX Runtime; the
    # small late layers (< 1 MFLOP) are dominated by a fixed ~10 us per call
    "native_depthwise": 80e9,
    "native_call": 10e-6,  # fixed cost of one depthwise FFI call (threads woken, weight packed)
    "thin_gather": 1.5,  # im2col slowdown gathering taps of at most 4 channels
    "memory": 8e9,  # bytes/s of a copy or elementwise pass (read + write)
    "call": 2e-6,  # a fixed cost per op (loop setup, fusion boundary)
    "xla_interleave": 4.0,  # XLA's transpose to a minor axis of 1-4 elements, x a copy
    "loop_step": 0.7e-6,  # one XLA while-loop iteration (the fixtures' LSTM: 43.8 vs 40.4 us)
    # NOTE: an RNN step in XLA is two small dots and a fusion, each a thunk with a fixed cost;
    # alone (jitted strategy, best of runs): LSTM T5 N2 C8 H32 14 us unrolled, 32 as a loop;
    # T20 N16 C64 H128 0.60 ms unrolled (~100 GFLOP/s)
    "rnn_step": 2e-6,
    "rnn": 100e9,  # FLOP/s of XLA's RNN dots on 2 threads
    # NOTE: hybrix's RNN kernel (compiler/native/rnn.c) is one thread and one call: 12 us on
    # the LSTM above (5 of them XLA's call), 1.3 ms on T20 N16 C64 H128 (~48 GFLOP/s)
    "native_rnn": 45e9,
}


def estimate(strategy: str, case: Case) -> float:
    """Estimated seconds for `strategy` on `case` (inf when the model has no idea)."""
    if case.op == "Convolution":
        return _conv(strategy, case)
    if case.op == "Pooling":
        return _pool(strategy, case)
    if case.op == "RNN":
        return _rnn(strategy, case)
    if case.op == "Deconvolution":
        return _deconv(strategy, case)
    if case.op == "transpose":
        return _transpose(strategy, case)
    return float("inf")


def _transpose(strategy: str, case: Case) -> float:
    copy = _bytes(2 * prod(case.shapes[0]), case)
    if strategy == "native_channels_last":
        return copy + CPU_RATES["native_call"]
    # NOTE: NCHW -> NHWC of a 224x224 RGB image, alone: XLA ~44 us, the native kernel ~10
    return CPU_RATES["xla_interleave"] * copy + CPU_RATES["call"]


def _deconv(strategy: str, case: Case) -> float:
    """XLA's transposed convolution (of the stride-dilated input) against the native phases,
    measured alone on CPU: XLA ran 47-210 GFLOP/s of useful work with fewer than 128 input or
    output channels and ~260-325 with more; the phases 170-350, after rearranging the weight
    on every call (three passes over it: 512@7 -> 256 at batch 1 ran ~2x slower for it;
    bench/train_ops.py has three of these shapes)."""
    if case.target != "cpu":
        return 1.0 if strategy == "xla" else 2.0
    data, weight = case.shapes[0], case.shapes[1]
    last = case.attrs.get("layout") in ("NWC", "NHWC", "NDHWC")
    channels = data[-1] if last else data[1]
    filters = (weight[-1] if last else weight[1]) * int(case.attrs.get("num_group") or 1)
    flops = 2 * prod(data) * prod(weight[1:])  # weight (C, O/g, KH, KW) or (C, KH, KW, O/g)
    if strategy == "native":
        rate = CPU_RATES["native_thin"] if min(channels, filters) <= 32 else CPU_RATES["native"]
        return flops / rate + _bytes(3 * prod(weight), case) + CPU_RATES["native_call"]
    rate = CPU_RATES["deconv_wide"] if min(channels, filters) >= 128 else CPU_RATES["deconv"]
    return flops / rate + CPU_RATES["call"]


def _bytes(count: int, case: Case) -> float:
    itemsize = 2 if case.dtype in ("float16", "bfloat16") else 8 if case.dtype == "float64" else 4
    return count * itemsize / CPU_RATES["memory"]


def _conv(strategy: str, case: Case) -> float:
    geometry = conv_geometry(case.shapes[0], case.shapes[1], case.attrs)
    trimmed = trim_taps(geometry)
    if case.target != "cpu":
        return 1.0 if strategy == "xla" else 2.0
    rates, call = CPU_RATES, CPU_RATES["call"]
    data, out = prod(case.shapes[0]), geometry.batch * geometry.filters * prod(geometry.out)
    group_channels = geometry.channels // geometry.groups
    if strategy in ("xla", "xla_trim", "xla_relayout"):
        used = geometry if strategy == "xla" else trimmed
        rate = rates["conv"]
        if any(k > n for k, n in zip(used.kernel, used.spatial, strict=True)):
            rate = rates["conv_padded"]
        elif prod(used.spatial) <= 4:
            rate = rates["conv_small"]
        elif group_channels == 1 and geometry.groups > 1:
            rate = rates["conv_depthwise"]
        elif group_channels <= 4:
            rate = rates["conv_thin"]
        cost = used.flops / rate + call
        if strategy == "xla_relayout":
            cost += _bytes(2 * (data + out), case) + 2 * call
        return cost
    if strategy in ("im2col", "matmul_1x1"):
        patches = geometry.batch * prod(geometry.out) * prod(trimmed.kernel) * geometry.channels
        copies = 0 if strategy == "matmul_1x1" and trimmed.stride == (1,) * trimmed.rank else 2
        per_group = 1.0 if geometry.groups == 1 else 1.5  # batched small matmuls run slower
        gather = rates["thin_gather"] if group_channels <= 4 else 1.0
        moved = _bytes(copies * patches, case) * gather
        return trimmed.flops * per_group / rates["matmul"] + moved + call
    if strategy == "native":
        rate = rates["native_thin"] if group_channels <= 4 else rates["native"]
        # NOTE: its weight packing runs in cache, as a matmul's does; NCHW data, output and
        # weight are transposed (bench: still the fastest NCHW strategy on most ResNet shapes)
        weight = geometry.filters * group_channels * prod(trimmed.kernel)  # kept taps
        moved = 0 if geometry.last else 2 * (data + out + weight)
        return trimmed.flops / rate + _bytes(moved, case) + call
    if strategy == "native_depthwise":
        moved = 0 if geometry.last else 2 * (data + out)
        return (
            geometry.flops / rates["native_depthwise"] + _bytes(moved, case) + rates["native_call"]
        )
    if strategy == "depthwise":
        taps = prod(trimmed.kernel)
        return _bytes(2 * taps * out + data, case) + call
    return float("inf")


def _pool(strategy: str, case: Case) -> float:
    data = prod(case.shapes[0])
    if case.target != "cpu":
        return 1.0 if strategy == "xla" else 2.0
    if strategy == "global_reduce":
        return _bytes(data, case) + CPU_RATES["call"]
    kernel = prod(case.attrs.get("kernel") or (1,))
    if strategy == "native_max":
        # NOTE: one pass, input read about once (windows overlap in cache), padding skipped
        out = data // max(1, prod(case.attrs.get("stride") or (1,)))
        return _bytes(data + out, case) + CPU_RATES["native_call"]
    if strategy == "slices":
        # the slices fuse into one loop reading each input element about `kernel` times
        return _bytes(data + kernel * data // 4, case) + CPU_RATES["call"]
    # reduce_window on CPU: about 4x slower per tap than the fused slices (measured)
    return _bytes(data + kernel * data, case) + CPU_RATES["call"]


def _rnn(strategy: str, case: Case) -> float:
    """XLA's steps each cost a few thunks plus their dots; the native kernel runs the whole op
    on one thread. Every weight is used once per step and batch row: 2 FLOPs each."""
    if case.target != "cpu":
        return 1.0 if strategy != "native" else 2.0
    attrs = case.attrs
    steps, batch = case.shapes[0][0], case.shapes[0][1]
    directions = 2 if attrs.get("bidirectional") else 1
    loops = steps * attrs.get("num_layers", 1) * directions
    flops = 2 * steps * batch * prod(case.shapes[1])
    if strategy == "native":
        return flops / CPU_RATES["native_rnn"] + CPU_RATES["call"]
    work = flops / CPU_RATES["rnn"] + loops * CPU_RATES["rnn_step"] + CPU_RATES["call"]
    if strategy == "unrolled":
        return work
    return work + loops * CPU_RATES["loop_step"]
