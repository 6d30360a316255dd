"""transpose strategies: XLA's transpose (the op's facet) and hybrix's native NCHW -> NHWC of
a few channels (compiler/native/layout.c).

The layout pass puts one NCHW -> NHWC transpose in front of a channels-last image network,
on its 1-4 channel input; XLA writes those pixels one element at a time (a 224x224 RGB
image: ~44 us, the kernel ~10, both alone).
"""

from __future__ import annotations

from typing import Any

from hybrix.compiler.strategies._registry import Case, Strategy, facet_strategy, register

__all__ = ["LAYOUT_STRATEGIES", "native_channels_last"]

CHANNELS_LAST = (0, 2, 3, 1)  # NCHW -> NHWC


def native_channels_last(jx: Any, data: Any, **attrs: Any) -> Any:
    """NCHW -> NHWC by the native kernel; the gradient is XLA's transpose back."""
    import jax

    from hybrix.compiler import native

    @jax.custom_vjp
    def channels_last(x: Any) -> Any:
        return native.nchw_to_nhwc(x)

    def forward(x: Any) -> tuple[Any, None]:
        return channels_last(x), None

    def backward(_: None, head: Any) -> tuple[Any]:
        return (jx.jnp.transpose(head, (0, 3, 1, 2)),)

    channels_last.defvjp(forward, backward)
    return channels_last(data)


def _fits_native(case: Case) -> str | None:
    from hybrix.compiler import native

    shape = case.shapes[0]
    if case.target != "cpu" or case.dtype != "float32":
        return f"{case.dtype} on {case.target} (the kernel is float32 on CPU)"
    if len(shape) != 4 or tuple(case.attrs.get("axes") or ()) != CHANNELS_LAST:
        return "not NCHW -> NHWC (axes (0, 2, 3, 1) of a 4-D array)"
    if not 1 <= shape[1] <= native.LAYOUT_MAX_CHANNELS:
        return f"{shape[1]} channels (the kernel takes 1 to {native.LAYOUT_MAX_CHANNELS})"
    return native.unusable()


LAYOUT_STRATEGIES = [
    register(facet_strategy("xla", "transpose", "jnp.transpose")),
    register(
        Strategy(
            "native_channels_last",
            "transpose",
            native_channels_last,
            _fits_native,
            "hybrix's NCHW -> NHWC CPU kernel for 1-4 channels (XLA FFI custom call)",
        )
    ),
]
