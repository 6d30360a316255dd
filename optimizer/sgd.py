"""SGD-family optimizers: SGD (with momentum), NAG and Signum, as MXNet 1.9's fused kernels
(src/operator/optimizer_op-inl.h: SGDKernel, SGDMomKernel, NAGMomKernel, SignumKernel)."""

from __future__ import annotations

from typing import Any

from hybrix.optimizer.optimizer import Optimizer, clip, register, scalar, zeros_like

__all__ = ["NAG", "SGD", "Signum"]


@register
class SGD(Optimizer):
    """SGD with momentum and weight decay (MXNet's sgd_update / sgd_mom_update)::

        grad = clip(rescale_grad * grad, clip_gradient)
        momentum == 0:  weight = (1 - lr * wd) * weight - lr * grad
        otherwise:      mom = momentum * mom - lr * wd * weight - lr * grad
                        weight = weight + mom

    `lazy_update` only matters for row-sparse gradients, which hybrix does not have.
    """

    def __init__(self, momentum: float = 0.0, lazy_update: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.momentum = momentum
        self.lazy_update = lazy_update
        self.aggregate_num = 4  # MXNet's default MXNET_OPTIMIZER_AGGREGATION_SIZE

    def create_state(self, index: Any, weight: Any) -> Any:
        return zeros_like(weight) if self.momentum != 0.0 else None

    def _rule(self, jnp, weight, grad, state, scalars, rescale):
        lr, wd = scalar(scalars, 0, weight), scalar(scalars, 1, weight)
        grad = clip(jnp, rescale.astype(weight.dtype) * grad, self.clip_gradient)
        if state is None:
            return (1 - lr * wd) * weight - lr * grad, None
        mom = self.momentum * state - lr * wd * weight - lr * grad
        return weight + mom, mom


@register
class NAG(Optimizer):
    """Nesterov accelerated gradient (MXNet's nag_mom_update)::

        grad = clip(rescale_grad * grad, clip_gradient) + wd * weight
        mom' = momentum * mom
        weight = weight - mom' + (momentum + 1) * (mom' - lr * grad)
        mom = mom' - lr * grad

    Without momentum it is sgd_update.
    """

    def __init__(self, momentum: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.momentum = momentum

    def create_state(self, index: Any, weight: Any) -> Any:
        return zeros_like(weight) if self.momentum != 0.0 else None

    def _rule(self, jnp, weight, grad, state, scalars, rescale):
        lr, wd = scalar(scalars, 0, weight), scalar(scalars, 1, weight)
        grad = clip(jnp, rescale.astype(weight.dtype) * grad, self.clip_gradient)
        if state is None:
            return (1 - lr * wd) * weight - lr * grad, None
        mom = self.momentum * state
        step = lr * (grad + wd * weight)
        new_weight = weight - mom + (self.momentum + 1) * (mom - step)
        return new_weight, mom - step


@register
class Signum(Optimizer):
    """Signum / signSGD (MXNet's signum_update / signsgd_update)::

    momentum > 0:  mom = momentum * mom - (1 - momentum) * (wd * weight + clip(rescale * grad))
                   weight = (1 - lr * wd_lh) * weight + lr * sign(mom)
    otherwise:     weight = (1 - lr * wd) * weight - lr * sign(grad)
    """

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.9,
        wd_lh: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = momentum
        self.wd_lh = wd_lh

    def create_state(self, index: Any, weight: Any) -> Any:
        return zeros_like(weight) if self.momentum != 0.0 else None

    def _rule(self, jnp, weight, grad, state, scalars, rescale):
        lr, wd = scalar(scalars, 0, weight), scalar(scalars, 1, weight)
        if state is None:
            return (1 - lr * wd) * weight - lr * jnp.sign(grad), None
        grad = clip(jnp, rescale.astype(weight.dtype) * grad, self.clip_gradient)
        mom = self.momentum * state - (1 - self.momentum) * (wd * weight + grad)
        return (1 - lr * self.wd_lh) * weight + lr * jnp.sign(mom), mom
