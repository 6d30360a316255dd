"""Errors raised when a bundle cannot be read or run; each names the file and the problem."""

from __future__ import annotations

from hybrix.ir.errors import HybrixError

__all__ = [
    "BundleCorruptError",
    "BundleError",
    "BundleVersionError",
    "MissingMemberError",
    "PlatformMismatchError",
]


class BundleError(HybrixError):
    """A .hxb bundle is unreadable, damaged, or does not fit this machine."""


class BundleCorruptError(BundleError):
    """Truncated, not a zip, or a member whose sha256 does not match the manifest."""


class MissingMemberError(BundleError):
    """The manifest lists a member the archive does not hold (or the manifest is missing)."""


class BundleVersionError(BundleError):
    """The bundle was written by a newer format version than this hybrix reads."""


class PlatformMismatchError(BundleError):
    """The bundle holds no XLA program for this machine's platform (or jaxlib)."""
