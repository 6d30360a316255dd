"""gluon.model_zoo.vision: MXNet 1.9.1's vision models and names, built by hybrix.models.

from hybrix.gluon.model_zoo import vision
net = vision.resnet18_v1(classes=10)
net = vision.get_model("mobilenet0.25", pretrained=True, root="~/.mxnet/models")
"""

from hybrix.models import get_model
from hybrix.models._layers import HybridConcurrent, Identity
from hybrix.models.alexnet import AlexNet, alexnet
from hybrix.models.densenet import (
    DenseNet,
    densenet121,
    densenet161,
    densenet169,
    densenet201,
    get_densenet,
)
from hybrix.models.inception import Inception3, inception_v3
from hybrix.models.mobilenet import (
    LinearBottleneck,
    MobileNet,
    MobileNetV2,
    get_mobilenet,
    get_mobilenet_v2,
    mobilenet0_25,
    mobilenet0_5,
    mobilenet0_75,
    mobilenet1_0,
    mobilenet_v2_0_25,
    mobilenet_v2_0_5,
    mobilenet_v2_0_75,
    mobilenet_v2_1_0,
)
from hybrix.models.resnet import (
    BasicBlockV1,
    BasicBlockV2,
    BottleneckV1,
    BottleneckV2,
    ResNetV1,
    ResNetV2,
)
from hybrix.models.squeezenet import SqueezeNet, get_squeezenet, squeezenet1_0, squeezenet1_1
from hybrix.models.vgg import (
    VGG,
    get_vgg,
    vgg11,
    vgg11_bn,
    vgg13,
    vgg13_bn,
    vgg16,
    vgg16_bn,
    vgg19,
    vgg19_bn,
)
from hybrix.models import MODELS as _MODELS, get_resnet

resnet18_v1 = _MODELS["resnet18_v1"]
resnet34_v1 = _MODELS["resnet34_v1"]
resnet50_v1 = _MODELS["resnet50_v1"]
resnet101_v1 = _MODELS["resnet101_v1"]
resnet152_v1 = _MODELS["resnet152_v1"]
resnet18_v2 = _MODELS["resnet18_v2"]
resnet34_v2 = _MODELS["resnet34_v2"]
resnet50_v2 = _MODELS["resnet50_v2"]
resnet101_v2 = _MODELS["resnet101_v2"]
resnet152_v2 = _MODELS["resnet152_v2"]

__all__ = [
    "VGG",
    "AlexNet",
    "BasicBlockV1",
    "BasicBlockV2",
    "BottleneckV1",
    "BottleneckV2",
    "DenseNet",
    "HybridConcurrent",
    "Identity",
    "Inception3",
    "LinearBottleneck",
    "MobileNet",
    "MobileNetV2",
    "ResNetV1",
    "ResNetV2",
    "SqueezeNet",
    "alexnet",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "get_densenet",
    "get_mobilenet",
    "get_mobilenet_v2",
    "get_model",
    "get_resnet",
    "get_squeezenet",
    "get_vgg",
    "inception_v3",
    "mobilenet0_25",
    "mobilenet0_5",
    "mobilenet0_75",
    "mobilenet1_0",
    "mobilenet_v2_0_25",
    "mobilenet_v2_0_5",
    "mobilenet_v2_0_75",
    "mobilenet_v2_1_0",
    "resnet18_v1",
    "resnet18_v2",
    "resnet34_v1",
    "resnet34_v2",
    "resnet50_v1",
    "resnet50_v2",
    "resnet101_v1",
    "resnet101_v2",
    "resnet152_v1",
    "resnet152_v2",
    "squeezenet1_0",
    "squeezenet1_1",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
]
