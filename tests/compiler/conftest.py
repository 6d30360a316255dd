"""Fixtures of the compiler tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def small_resnet():
    """ResNet-18 v1 (10 classes, random weights) traced at batch 2, 32x32, after the O2
    inference pipeline (BatchNorm folded, NHWC), and an input for it."""
    import hybrix
    from hybrix import autograd, models
    from hybrix.compiler.pipelines import optimize

    net = models.get_model("resnet18_v1", classes=10)
    net.initialize()
    data = np.random.default_rng(3).standard_normal((2, 3, 32, 32)).astype(np.float32)
    with autograd.predict_mode():
        graph = hybrix.trace(net, hybrix.nd.array(data))
    return optimize(graph, "O2", inference=True), data
