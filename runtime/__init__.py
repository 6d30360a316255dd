"""The small runtime: read and verify .hxb bundles and run them (numpy or XLA); jax optional.

session = hybrix.runtime.load("lenet.hxb")          # executor="auto"
(scores,) = session.run({"data": batch})
"""

from .errors import (
    BundleCorruptError,
    BundleError,
    BundleVersionError,
    MissingMemberError,
    PlatformMismatchError,
)
from .format import FORMAT_VERSION, READERS, Bundle, open_bundle, write_bundle
from .params import pack_params, view_params
from .reference import MemoryPlanData, ReferenceExecutor
from .session import EXECUTORS, Session, TensorSpec, load

__all__ = [
    "EXECUTORS",
    "FORMAT_VERSION",
    "READERS",
    "Bundle",
    "BundleCorruptError",
    "BundleError",
    "BundleVersionError",
    "MemoryPlanData",
    "MissingMemberError",
    "PlatformMismatchError",
    "ReferenceExecutor",
    "Session",
    "TensorSpec",
    "load",
    "open_bundle",
    "pack_params",
    "view_params",
    "write_bundle",
]
