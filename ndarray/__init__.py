"""hybrix.nd: MXNet's imperative NDArray API on JAX.

Every registered op is `nd.<name>` (and `nd.<alias>`), generated from the registry;
creation functions, save/load and `nd.random` follow MXNet 1.9's signatures.
"""

import jax

from hybrix.runtime.xla import configure_jax_dispatch

# MXNet has float64 and int64 arrays; creation defaults stay float32 as in MXNet.
jax.config.update("jax_enable_x64", True)
configure_jax_dispatch()

import hybrix.ir.ops  # registers every op

from . import random
from ._ops import contrib, op, op_functions, resolve
from ._ops import internal as _internal
from .ndarray import NDArray
from .utils import (
    arange,
    array,
    concatenate,
    empty,
    eye,
    full,
    load,
    ones,
    save,
    waitall,
    zeros,
)
from . import utils as _utils

globals().update(op_functions())
# Frontend fallbacks for ops MXNet also has as Python functions, when none is registered.
for _name in ("zeros_like", "ones_like"):
    globals().setdefault(_name, getattr(_utils, _name))
# Creation and I/O are Python functions in MXNet; they win over same-named ops.
globals().update({name: getattr(_utils, name) for name in _utils.__all__})


def __getattr__(name: str):
    """Ops registered after import resolve on first use."""
    if name.startswith("__"):
        raise AttributeError(name)
    if name in ("np", "npx"):  # F.np / F.npx inside hybrid_forward, as MXNet's nd has
        import importlib

        return importlib.import_module("hybrix.mxnp" if name == "np" else "hybrix.npx")
    function = resolve(name)
    globals()[name] = function
    return function


__all__ = [
    "NDArray",
    "arange",
    "array",
    "concatenate",
    "contrib",
    "empty",
    "eye",
    "full",
    "load",
    "ones",
    "op",
    "random",
    "save",
    "waitall",
    "zeros",
]
