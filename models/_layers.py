"""HybridConcurrent and Identity: MXNet 1.9.1's gluon.contrib.nn blocks the zoo builds on.

DenseNet, SqueezeNet and Inception v3 run branches side by side and concatenate them
(`HybridConcurrent(axis=1)`); DenseNet's dense layer concatenates its input unchanged
(`Identity`). Neither has parameters, so they never change parameter names.
"""

from __future__ import annotations

from typing import Any

from hybrix.gluon import nn
from hybrix.gluon.block import HybridBlock

__all__ = ["HybridConcurrent", "Identity"]


class HybridConcurrent(nn.HybridSequential):
    """Feed the input to every child and concatenate their outputs along `axis`."""

    def __init__(self, axis: int = -1, prefix: str | None = None, params: Any = None) -> None:
        super().__init__(prefix=prefix, params=params)
        self.axis = axis

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        outputs = [block(x) for block in self._children.values()]
        return F.concat(*outputs, dim=self.axis)


class Identity(HybridBlock):
    """Return the input unchanged (contrib.nn.Identity)."""

    def hybrid_forward(self, F: Any, x: Any) -> Any:
        return x
