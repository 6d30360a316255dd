"""Small built-in networks written with `nd` ops, used by `hybrix demo` and the tests.

They mirror the fixture models of shared/fixtures/mxnet/models (same ops, attributes and
parameter names), so the fixture's parameters reproduce MXNet's outputs. The Gluon model
zoo supersedes them for real use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from hybrix import ndarray as nd

__all__ = ["NETS", "init_params", "lenet", "mlp"]

Params = Mapping[str, nd.NDArray]


def lenet(params: Params, data: nd.NDArray) -> nd.NDArray:
    """LeNet-5 as Gluon's tutorial builds it: two conv+relu+maxpool stages and two dense."""
    h = data
    for stage, channels in enumerate((20, 50)):
        h = nd.Convolution(
            h,
            params[f"conv{stage}_weight"],
            params[f"conv{stage}_bias"],
            kernel=(5, 5),
            num_filter=channels,
        )
        h = nd.Activation(h, act_type="relu")
        h = nd.Pooling(h, kernel=(2, 2), stride=(2, 2), pool_type="max")
    h = nd.Flatten(h)
    h = nd.FullyConnected(h, params["dense0_weight"], params["dense0_bias"], num_hidden=500)
    h = nd.Activation(h, act_type="relu")
    return nd.FullyConnected(h, params["dense1_weight"], params["dense1_bias"], num_hidden=10)


def mlp(params: Params, data: nd.NDArray) -> nd.NDArray:
    """784-256-256-10 with ReLU, parameter names as the mlp fixture (dense2..dense4)."""
    h = data
    for layer, width in ((2, 256), (3, 256)):
        h = nd.FullyConnected(
            h, params[f"dense{layer}_weight"], params[f"dense{layer}_bias"], num_hidden=width
        )
        h = nd.Activation(h, act_type="relu")
    return nd.FullyConnected(h, params["dense4_weight"], params["dense4_bias"], num_hidden=10)


SHAPES = {
    "lenet": {
        "conv0_weight": (20, 1, 5, 5),
        "conv0_bias": (20,),
        "conv1_weight": (50, 20, 5, 5),
        "conv1_bias": (50,),
        "dense0_weight": (500, 800),
        "dense0_bias": (500,),
        "dense1_weight": (10, 500),
        "dense1_bias": (10,),
    },
    "mlp": {
        "dense2_weight": (256, 784),
        "dense2_bias": (256,),
        "dense3_weight": (256, 256),
        "dense3_bias": (256,),
        "dense4_weight": (10, 256),
        "dense4_bias": (10,),
    },
}
INPUT_SHAPES = {"lenet": (1, 28, 28), "mlp": (784,)}
NETS: dict[str, Callable[[Params, nd.NDArray], nd.NDArray]] = {"lenet": lenet, "mlp": mlp}


def init_params(name: str, seed: int = 0) -> dict[str, nd.NDArray]:
    """Uniform(-a, a) weights with a = sqrt(6 / (fan_in + fan_out)) (Xavier), zero biases."""
    rng = np.random.default_rng(seed)
    params = {}
    for key, shape in SHAPES[name].items():
        if key.endswith("bias"):
            params[key] = nd.zeros(shape)
            continue
        fan_out, fan_in = shape[0], int(np.prod(shape[1:]))
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        params[key] = nd.array(rng.uniform(-bound, bound, shape).astype(np.float32))
    return params
