"""Generate the MXNet 1.9.1 model zoo parameter table (names, shapes) for hybrix's tests.

Run with a side venv holding mxnet==1.9.1 (not committed):
    python3 -m venv /tmp/mxzoo && /tmp/mxzoo/bin/pip install mxnet==1.9.1 numpy==1.23.5
    /tmp/mxzoo/bin/python scripts/gen_zoo_table.py tests/models/golden/mxnet_zoo_params.json
"""

import json
import sys

import mxnet as mx
from mxnet.gluon.model_zoo import vision

NAMES = [
    "resnet18_v1",
    "resnet34_v1",
    "resnet50_v1",
    "resnet101_v1",
    "resnet152_v1",
    "resnet18_v2",
    "resnet34_v2",
    "resnet50_v2",
    "resnet101_v2",
    "resnet152_v2",
    "mobilenet1.0",
    "mobilenet0.75",
    "mobilenet0.5",
    "mobilenet0.25",
    "mobilenetv2_1.0",
    "mobilenetv2_0.75",
    "mobilenetv2_0.5",
    "mobilenetv2_0.25",
    "vgg11",
    "vgg13",
    "vgg16",
    "vgg19",
    "vgg11_bn",
    "vgg13_bn",
    "vgg16_bn",
    "vgg19_bn",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "squeezenet1.0",
    "squeezenet1.1",
    "inceptionv3",
    "alexnet",
]

table = {}
for name in NAMES:
    with mx.name.NameManager():  # fresh counters: the prefix a new process would give
        net = vision.get_model(name)
    net.initialize()
    size = 299 if name == "inceptionv3" else 224
    net(mx.nd.zeros((1, 3, size, size)))
    params = net.collect_params()
    table[name] = {
        "prefix": net.prefix,
        "input": [1, 3, size, size],
        "params": [[k, list(v.shape)] for k, v in params.items()],
    }
    print(name, len(table[name]["params"]), file=sys.stderr)
with open(sys.argv[1], "w") as f:
    json.dump({"mxnet": mx.__version__, "models": table}, f, indent=0, sort_keys=True)
