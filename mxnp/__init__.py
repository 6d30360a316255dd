"""hybrix.np: mxnet.numpy, NumPy's API over hybrix arrays (see mxnp/_array.py).

Exposed as `hybrix.np` (`from hybrix import np, npx`); the package is named mxnp so that
no module of ours shadows NumPy.
"""

import hybrix.ndarray as _nd

from . import linalg, random
from ._array import ndarray
from ._functions import *  # noqa: F403
from ._functions import _UNARY_FUNCTIONS

globals().update(_UNARY_FUNCTIONS)
dtype = __import__("numpy").dtype

# NOTE: MXNet code in hybrid_forward reaches np/npx through F (F.np.*, F.npx.*).
_nd.np = __import__("sys").modules[__name__]
