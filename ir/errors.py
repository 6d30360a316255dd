"""The error hierarchy: every error hybrix raises on bad input is a HybrixError."""

from __future__ import annotations

__all__ = [
    "AttrError",
    "GraphError",
    "HybrixError",
    "ModelFormatError",
    "ShapeError",
    "TypeMismatchError",
    "UnknownOpError",
]


class HybrixError(Exception):
    """Base of every error hybrix raises for bad input; the message names the culprit."""


class UnknownOpError(HybrixError, KeyError):
    """An operator name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AttrError(HybrixError, ValueError):
    """An attribute that is missing, of the wrong type, or out of range."""


class ShapeError(HybrixError, ValueError):
    """Input shapes an operator cannot accept."""


class TypeMismatchError(HybrixError, TypeError):
    """Input dtypes an operator cannot accept."""


class GraphError(HybrixError, ValueError):
    """A graph that breaks an IR invariant (SSA, order, use-lists, types)."""


class ModelFormatError(HybrixError, ValueError):
    """A file (.hxir, .params, -symbol.json, bundle) that is truncated, corrupt or foreign."""
