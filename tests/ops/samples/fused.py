"""Samples for `_fused` (ir/ops/fused.py): small subgraphs of elementwise ops."""

from __future__ import annotations

import numpy as np

from hybrix.ir import parse
from hybrix.tests.ops.sample import Sample

_rng = np.random.default_rng(7)

_CHAIN = parse("""graph body(%a: f64[2,3], %b: f64[3]) {
  %s = broadcast_add(%a, %b)
  %t = tanh(%s)
  %m = _mul_scalar(%t) {scalar=3.0}
  %r = sum(%m) {axis=[1]}
  return %r, %t
}""")

_SCALAR = parse("""graph body(%a: f64[4]) {
  %n = negative(%a)
  %p = _rminus_scalar(%n) {scalar=2.0}
  %q = Activation(%p) {act_type="sigmoid"}
  return %q
}""")

SAMPLES = [
    Sample(
        "_fused",
        [_rng.standard_normal((2, 3)), _rng.standard_normal(3)],
        {"graph": _CHAIN},
        dtypes=("float64",),
        name="fused_chain_sum",
    ),
    Sample(
        "_fused",
        [_rng.standard_normal(4)],
        {"graph": _SCALAR},
        dtypes=("float64",),
        name="fused_scalar",
    ),
]
