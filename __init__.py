"""hybrix: MXNet's hybrid programming model as an ahead-of-time graph compiler on XLA.

`from hybrix import nd, autograd, gluon` works as MXNet code expects. The frontend loads
lazily so that `import hybrix.ir` and `import hybrix.runtime` work without jax.
"""

from __future__ import annotations

import importlib
import os as _os
from typing import Any

# NOTE: absolute imports only: pytest also imports this file under the folder's name (as
# the rootdir Package), and a relative import would then load a second copy of `ir`.
from hybrix.ir.errors import HybrixError

__version__ = "0.1.0"

if "HYBRIX_COORDINATOR" in _os.environ:
    # NOTE: a `hybrix launch` worker joins its jax.distributed group before JAX runs anything.
    from hybrix.kvstore.dist import join_from_environment

    join_from_environment()

# attribute -> (module, attribute in it or None for the module itself)
_LAZY = {
    "nd": ("hybrix.ndarray", None),
    "ndarray": ("hybrix.ndarray", None),
    "cpu": ("hybrix.context", "cpu"),
    "gpu": ("hybrix.context", "gpu"),
    "Context": ("hybrix.context", "Context"),
    "context": ("hybrix.context", None),
    "current_context": ("hybrix.context", "current_context"),
    "num_gpus": ("hybrix.context", "num_gpus"),
    "autograd": ("hybrix.autograd", None),
    "trace": ("hybrix._trace", "trace"),
    "compile": ("hybrix._trace", "compile"),
    "random": ("hybrix.ndarray.random", None),
    "ir": ("hybrix.ir", None),
    "compiler": ("hybrix.compiler", None),
    "runtime": ("hybrix.runtime", None),
    "passes": ("hybrix.passes", None),
    "explain": ("hybrix.compiler.explain", "explain"),
    "gluon": ("hybrix.gluon", None),
    "init": ("hybrix.initializer", None),
    "initializer": ("hybrix.initializer", None),
    "optimizer": ("hybrix.optimizer", None),
    "lr_scheduler": ("hybrix.lr_scheduler", None),
    "metric": ("hybrix.metric", None),
    "io": ("hybrix.dataio", None),
    "test_utils": ("hybrix.test_utils", None),
    "sym": ("hybrix.symbol", None),
    "symbol": ("hybrix.symbol", None),
    "onnx": ("hybrix.compiler.onnx", None),
    "importers": ("hybrix.importers", None),
    "models": ("hybrix.models", None),
    "np": ("hybrix.mxnp", None),
    "npx": ("hybrix.npx", None),
    "kv": ("hybrix.kvstore", None),
    "kvstore": ("hybrix.kvstore", None),
}

__all__ = ["HybrixError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'hybrix' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value
