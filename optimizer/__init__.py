"""hybrix.optimizer: MXNet 1.9's optimizers (mx.optimizer), each update one jitted rule.

opt = optimizer.create("sgd", learning_rate=0.1, momentum=0.9, wd=1e-4)
state = opt.create_state(0, weight)
opt.update(0, weight, grad, state)          # in place, as MXNet
"""

from .optimizer import Optimizer, OptimizerError, create, register, update_function
from .sgd import NAG, SGD, Signum
from .adam import FTML, Adam, Adamax, Nadam
from .adaptive import AdaDelta, AdaGrad, RMSProp
from .updater import Updater, get_updater

__all__ = [
    "FTML",
    "NAG",
    "SGD",
    "AdaDelta",
    "AdaGrad",
    "Adam",
    "Adamax",
    "Nadam",
    "Optimizer",
    "OptimizerError",
    "RMSProp",
    "Signum",
    "Updater",
    "create",
    "get_updater",
    "register",
    "update_function",
]
