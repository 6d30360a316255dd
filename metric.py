"""Online evaluation metrics (MXNet 1.9's mx.metric): accuracy, top-k, F1, losses,
regression errors, Pearson correlation, and composites, created by name.

    acc = metric.create("acc")
    acc.update(labels=[label], preds=[output])     # NDArrays, numpy arrays or lists
    name, value = acc.get()

Each metric keeps a local and a global sum (`reset_local` clears only the local one), as
MXNet's do. Inputs are converted to numpy once; the math is numpy, as in MXNet.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from hybrix.ir import HybrixError

__all__ = [
    "MAE",
    "MSE",
    "RMSE",
    "Accuracy",
    "CompositeEvalMetric",
    "CrossEntropy",
    "CustomMetric",
    "EvalMetric",
    "F1",
    "Loss",
    "MetricError",
    "NegativeLogLikelihood",
    "PearsonCorrelation",
    "Perplexity",
    "TopKAccuracy",
    "check_label_shapes",
    "create",
    "np_metric",
    "register",
]


class MetricError(HybrixError, ValueError):
    """Mismatched labels and predictions, or an unknown metric name."""


def _numpy(array: Any) -> np.ndarray:
    """A numpy array from an NDArray, numpy array, scalar or nested list."""
    if hasattr(array, "asnumpy"):
        return array.asnumpy()
    return np.asarray(array)


def _as_list(arrays: Any) -> list:
    """MXNet's `wrap=True`: a single array (not a list of arrays) becomes a one-item list."""
    if isinstance(arrays, list | tuple):
        if arrays and all(np.isscalar(a) for a in arrays):
            return [np.asarray(arrays)]
        return list(arrays)
    return [arrays]


def check_label_shapes(labels: Any, preds: Any, wrap: bool = False, shape: bool = False):
    """Raise MetricError unless labels and preds have the same count (or shape)."""
    if wrap:
        labels, preds = _as_list(labels), _as_list(preds)
    if shape:
        label_shape, pred_shape = np.shape(labels), np.shape(preds)
    else:
        label_shape, pred_shape = len(labels), len(preds)
    if label_shape != pred_shape:
        raise MetricError(
            f"Shape of labels {label_shape} does not match shape of predictions {pred_shape}"
        )
    return labels, preds


class EvalMetric:
    """Base class: sums a metric and an instance count; `get()` is their ratio.

    Args:
        name: shown by `get()`.
        output_names, label_names: which entries `update_dict` uses (all by default).
    """

    def __init__(
        self,
        name: str,
        output_names: list[str] | None = None,
        label_names: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.name = str(name)
        self.output_names = output_names
        self.label_names = label_names
        self._has_global_stats = kwargs.pop("has_global_stats", False)
        self._kwargs = kwargs
        self.reset()

    def __str__(self) -> str:
        return f"EvalMetric: {dict(self.get_name_value())}"

    def get_config(self) -> dict:
        config = self._kwargs.copy()
        config.update(
            {
                "metric": type(self).__name__,
                "name": self.name,
                "output_names": self.output_names,
                "label_names": self.label_names,
            }
        )
        return config

    def update_dict(self, label: dict, pred: dict) -> None:
        """Update from name -> array dicts, picking `label_names` / `output_names`."""
        preds = [pred[n] for n in self.output_names] if self.output_names else list(pred.values())
        labels = [label[n] for n in self.label_names] if self.label_names else list(label.values())
        self.update(labels, preds)

    def update(self, labels: Any, preds: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define update")

    def _add(self, value: float, count: int | float) -> None:
        self.sum_metric += value
        self.global_sum_metric += value
        self.num_inst += count
        self.global_num_inst += count

    def reset(self) -> None:
        self.num_inst = 0
        self.sum_metric = 0.0
        self.global_num_inst = 0
        self.global_sum_metric = 0.0

    def reset_local(self) -> None:
        self.num_inst = 0
        self.sum_metric = 0.0

    def get(self) -> tuple[Any, Any]:
        if self.num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, self.sum_metric / self.num_inst)

    def get_global(self) -> tuple[Any, Any]:
        if not self._has_global_stats:
            return self.get()
        if self.global_num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, self.global_sum_metric / self.global_num_inst)

    def get_name_value(self) -> list[tuple[str, float]]:
        name, value = self.get()
        names = name if isinstance(name, list) else [name]
        values = value if isinstance(value, list) else [value]
        return list(zip(names, values, strict=True))

    def get_global_name_value(self) -> list[tuple[str, float]]:
        name, value = self.get_global()
        names = name if isinstance(name, list) else [name]
        values = value if isinstance(value, list) else [value]
        return list(zip(names, values, strict=True))


_REGISTRY: dict[str, type[EvalMetric]] = {}


def register(klass: type[EvalMetric], *aliases: str) -> type[EvalMetric]:
    """Register a metric class under its lower-cased name (and aliases)."""
    for name in (klass.__name__, *aliases):
        _REGISTRY[name.lower()] = klass
    return klass


def _alias(*aliases: str) -> Callable[[type[EvalMetric]], type[EvalMetric]]:
    return lambda klass: register(klass, *aliases)


def create(metric: Any, *args: Any, **kwargs: Any) -> EvalMetric:
    """A metric from a name ('acc', 'top_k_accuracy', ...), an instance, a list of either
    (a CompositeEvalMetric) or a function feval(label, pred) -> value."""
    if isinstance(metric, EvalMetric):
        return metric
    if isinstance(metric, list):
        composite = CompositeEvalMetric()
        for child in metric:
            composite.add(create(child, *args, **kwargs))
        return composite
    if callable(metric) and not isinstance(metric, type):
        return CustomMetric(metric, *args, **kwargs)
    if isinstance(metric, str):
        klass = _REGISTRY.get(metric.lower())
        if klass is None:
            raise MetricError(
                f"Cannot find metric {metric!r}; known metrics: {', '.join(sorted(_REGISTRY))}"
            )
        return klass(*args, **kwargs)
    raise MetricError(f"metric must be a name, EvalMetric, list or function, got {metric!r}")


@_alias("composite")
class CompositeEvalMetric(EvalMetric):
    """Several metrics updated together; `get()` returns lists of names and values."""

    def __init__(
        self,
        metrics: list | None = None,
        name: str = "composite",
        output_names: list[str] | None = None,
        label_names: list[str] | None = None,
    ) -> None:
        super().__init__(name, output_names=output_names, label_names=label_names)
        self.metrics = [create(m) for m in (metrics or [])]

    def add(self, metric: Any) -> None:
        self.metrics.append(create(metric))

    def get_metric(self, index: int) -> EvalMetric:
        if not 0 <= index < len(self.metrics):
            raise MetricError(f"Metric index {index} is out of range 0 and {len(self.metrics)}")
        return self.metrics[index]

    def update_dict(self, labels: dict, preds: dict) -> None:
        if self.label_names is not None:
            labels = OrderedDict(i for i in labels.items() if i[0] in self.label_names)
        if self.output_names is not None:
            preds = OrderedDict(i for i in preds.items() if i[0] in self.output_names)
        for metric in self.metrics:
            metric.update_dict(labels, preds)

    def update(self, labels: Any, preds: Any) -> None:
        for metric in self.metrics:
            metric.update(labels, preds)

    def reset(self) -> None:
        for metric in getattr(self, "metrics", []):
            metric.reset()

    def reset_local(self) -> None:
        for metric in self.metrics:
            metric.reset_local()

    def get(self) -> tuple[list, list]:
        return self._collect(lambda m: m.get())

    def get_global(self) -> tuple[list, list]:
        return self._collect(lambda m: m.get_global())

    def _collect(self, read: Callable) -> tuple[list, list]:
        names: list = []
        values: list = []
        for metric in self.metrics:
            name, value = read(metric)
            names.extend(name if isinstance(name, list) else [name])
            values.extend(value if isinstance(value, list) else [value])
        return (names, values)

    def get_config(self) -> dict:
        config = super().get_config()
        config["metrics"] = [m.get_config() for m in self.metrics]
        return config


# -- classification ---------------------------------------------------------------------
@_alias("acc")
class Accuracy(EvalMetric):
    """Fraction of predictions equal to the label; class scores are argmax-ed over `axis`."""

    def __init__(
        self,
        axis: int = 1,
        name: str = "accuracy",
        output_names: list[str] | None = None,
        label_names: list[str] | None = None,
    ) -> None:
        super().__init__(
            name,
            axis=axis,
            output_names=output_names,
            label_names=label_names,
            has_global_stats=True,
        )
        self.axis = axis

    def update(self, labels: Any, preds: Any) -> None:
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds, strict=True):
            label, pred = _numpy(label), _numpy(pred)
            if pred.shape != label.shape:
                pred = np.argmax(pred, axis=self.axis)
            pred = pred.astype("int32").ravel()
            label = label.astype("int32").ravel()
            check_label_shapes(label, pred)
            self._add(int((pred == label).sum()), len(pred))


@_alias("top_k_accuracy", "top_k_acc")
class TopKAccuracy(EvalMetric):
    """Fraction of samples whose label is among the `top_k` highest scores."""

    def __init__(
        self,
        top_k: int = 1,
        name: str = "top_k_accuracy",
        output_names: list[str] | None = None,
        label_names: list[str] | None = None,
    ) -> None:
        super().__init__(
            name,
            top_k=top_k,
            output_names=output_names,
            label_names=label_names,
            has_global_stats=True,
        )
        self.top_k = top_k
        if self.top_k <= 1:
            raise MetricError(f"Please use Accuracy if top_k is no more than 1, got {top_k}")
        self.name += f"_{self.top_k}"

    def update(self, labels: Any, preds: Any) -> None:
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds, strict=True):
            pred = _numpy(pred).astype("float32")
            if pred.ndim > 2:
                raise MetricError(f"Predictions should be no more than 2 dims, got {pred.shape}")
            label = _numpy(label).astype("int32")
            check_label_shapes(label, pred)
            num_samples = pred.shape[0]
            if pred.ndim == 1:
                self._add(int((pred.ravel() == label.ravel()).sum()), num_samples)
                continue
            # NOTE: MXNet uses argpartition; ties between equal scores may order differently.
            order = np.argpartition(pred, -self.top_k, axis=1)
            num_classes = pred.shape[1]
            correct = 0
            for j in range(min(num_classes, self.top_k)):
                correct += int((order[:, num_classes - 1 - j].ravel() == label.ravel()).sum())
            self._add(correct, num_samples)


class _BinaryStats:
    """True/false positive/negative counts of binary predictions (local and global)."""

    def __init__(self) -> None:
        self.local = np.zeros(4, dtype=np.int64)  # tp, fp, fn, tn
        self.total = np.zeros(4, dtype=np.int64)

    def update(self, label: Any, pred: Any, name: str) -> None:
        pred, label = _numpy(pred), _numpy(label).astype("int32")
        pred_label = np.argmax(pred, axis=1)
        check_label_shapes(label, pred)
        if len(np.unique(label)) > 2:
            raise MetricError(f"{name} currently only supports binary classification.")
        pred_true, label_true = pred_label == 1, label.ravel() == 1
        counts = np.array(
            [
                (pred_true & label_true).sum(),
                (pred_true & ~label_true).sum(),
                (~pred_true & label_true).sum(),
                (~pred_true & ~label_true).sum(),
            ]
        )
        self.local += counts
        self.total += counts

    @staticmethod
    def fscore(counts: np.ndarray) -> float:
        tp, fp, fn, _ = (int(c) for c in counts)
        precision = tp / (tp + fp) if tp + fp > 0 else 0.0
        recall = tp / (tp + fn) if tp + fn > 0 else 0.0
        if precision + recall > 0:
            return 2 * precision * recall / (precision + recall)
        return 0.0


@_alias()
class F1(EvalMetric):
    """Binary F1 score of argmax predictions; 'macro' averages per-update scores, 'micro'
    scores all samples seen."""

    def __init__(
        self,
        name: str = "f1",
        output_names: list[str] | None = None,
        label_names: list[str] | None = None,
        average: str = "macro",
    ) -> None:
        self.average = average
        self.stats = _BinaryStats()
        super().__init__(
            name, output_names=output_names, label_names=label_names, has_global_stats=True
        )

    def update(self, labels: Any, preds: Any) -> None:
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds, strict=True):
            self.stats.update(label, pred, type(self).__name__)
        if self.average == "macro":
            # NOTE: MXNet resets both local and global counts after each macro update.
            self._add(self.stats.fscore(self.stats.local), 1)
            self.stats.local[:] = 0
            self.stats.total[:] = 0
        else:
            local, total = int(self.stats.local.sum()), int(self.stats.total.sum())
            self.sum_metric = self.stats.fscore(self.stats.local) * local
            self.global_sum_metric = self.stats.fscore(self.stats.total) * total
            self.num_inst, self.global_num_inst = local, total

    def reset(self) -> None:
        super().reset()
        self.stats = _BinaryStats()

    def reset_local(self) -> None:
        super().reset_local()
        self.stats.local[:] = 0


# -- probabilities and losses -------------------------------------------------------------
@_alias("ce")
class CrossEntropy(EvalMetric):
    """Mean of -log(p[label]) over samples; preds are probabilities (batch, classes)."""

    def __init__(
        self,
        eps: float = 1e-12,
        name: str = "cross-entropy",
        output_names: list[str] | None = None,
        label_names: list[str] | None = None,
    ) -> None:
        super().__init__(
            name,
            eps=eps,
            output_names=output_names,
            label_names=label_names,
            has_global_stats=True,
        )
        self.eps = eps

    def update(self, labels: Any, preds: Any) -> None:
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds, strict=True):
            label, pred = _numpy(label).ravel(), _numpy(pred)
            if label.shape[0] != pred.shape[0]:
                raise MetricError(f"{label.shape[0]} labels for {pred.shape[0]} predictions")
            prob = pred[np.arange(label.shape[0]), np.int64(label)]
            self._add(float((-np.log(prob + self.eps)).sum()), label.shape[0])


@_alias("nll_loss")
class NegativeLogLikelihood(CrossEntropy):
    """CrossEntropy under MXNet's other name."""

    def __init__(
        self,
        eps: float = 1e-12,
        name: str = "nll-loss",
        output_names: list[str] | None = None,
        label_names: list[str] | None = None,
    ) -> None:
        super().__init__(eps, name, output_names, label_names)


@_alias()
class Perplexity(EvalMetric):
    """exp of the mean negative log-probability of the labels (`ignore_label` skipped)."""

    def __init__(
        self,
        ignore_label: int | None = None,
        axis: int = -1,
        name: str = "perplexity",
        output_names: list[str] | None = None,
        label_names: list[str] | None = None,
    ) -> None:
        super().__init__(
            name,
            ignore_label=ignore_label,
            output_names=output_names,
            label_names=label_names,
            has_global_stats=True,
        )
        self.ignore_label = ignore_label
        self.axis = axis

    def update(self, labels: Any, preds: Any) -> None:
        labels, preds = check_label_shapes(labels, preds, True)
        loss, num = 0.0, 0
        for label, pred in zip(labels, preds, strict=True):
            label, pred = _numpy(label), _numpy(pred)
            if label.size != pred.size / pred.shape[-1]:
                raise MetricError(f"shape mismatch: {label.shape} vs. {pred.shape}")
            label = label.reshape(label.size).astype("int32")
            picked = np.take_along_axis(
                np.moveaxis(pred, self.axis, -1).reshape(-1, pred.shape[self.axis]),
                label[:, None],
                axis=1,
            )[:, 0]
            if self.ignore_label is not None:
                ignore = (label == self.ignore_label).astype(picked.dtype)
                num -= int(ignore.sum())
                picked = picked * (1 - ignore) + ignore
            loss -= float(np.sum(np.log(np.maximum(1e-10, picked))))
            num += picked.size
        self._add(loss, num)

    def get(self) -> tuple[str, float]:
        if self.num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, math.exp(self.sum_metric / self.num_inst))

    def get_global(self) -> tuple[str, float]:
        if self.global_num_inst == 0:
            return (self.name, float("nan"))
        return (self.name, math.exp(self.global_sum_metric / self.global_num_inst))


@_alias()
class Loss(EvalMetric):
    """Mean of the loss values given as preds (labels are ignored)."""

    def __init__(
        self,
        name: str = "loss",
        output_names: list[str] | None = None,
        label_names: list[str] | None = None,
    ) -> None:
        super().__init__(
            name, output_names=output_names, label_names=label_names, has_global_stats=True
        )

    def update(self, _: Any, preds: Any) -> None:
        for pred in _as_list(preds):
            values = _numpy(pred)
            self._add(float(values.sum()), values.size)


# -- regression ------------------------------------------------------------------------------
class _Regression(EvalMetric):
    """Per update, the error of each (label, pred) pair averaged over its elements; `get()`
    averages over pairs (MXNet 1.x counts one instance per pair)."""

    def __init__(
        self,
        name: str,
        output_names: list[str] | None = None,
        label_names: list[str] | None = None,
    ) -> None:
        super().__init__(
            name, output_names=output_names, label_names=label_names, has_global_stats=True
        )

    def _error(self, label: np.ndarray, pred: np.ndarray) -> float:
        raise NotImplementedError

    def update(self, labels: Any, preds: Any) -> None:
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds, strict=True):
            label, pred = _numpy(label), _numpy(pred)
            if label.ndim == 1:
                label = label.reshape(label.shape[0], 1)
            if pred.ndim == 1:
                pred = pred.reshape(pred.shape[0], 1)
            self._add(float(self._error(label, pred)), 1)


@_alias()
class MAE(_Regression):
    """Mean absolute error."""

    def __init__(self, name: str = "mae", output_names=None, label_names=None) -> None:
        super().__init__(name, output_names, label_names)

    def _error(self, label: np.ndarray, pred: np.ndarray) -> float:
        return np.abs(label - pred).mean()


@_alias()
class MSE(_Regression):
    """Mean squared error."""

    def __init__(self, name: str = "mse", output_names=None, label_names=None) -> None:
        super().__init__(name, output_names, label_names)

    def _error(self, label: np.ndarray, pred: np.ndarray) -> float:
        return ((label - pred) ** 2.0).mean()


@_alias()
class RMSE(_Regression):
    """Root mean squared error (per pair, then averaged over pairs)."""

    def __init__(self, name: str = "rmse", output_names=None, label_names=None) -> None:
        super().__init__(name, output_names, label_names)

    def _error(self, label: np.ndarray, pred: np.ndarray) -> float:
        return np.sqrt(((label - pred) ** 2.0).mean())


@_alias("pearsonr")
class PearsonCorrelation(EvalMetric):
    """Pearson correlation of preds and labels: 'macro' averages per-pair correlations,
    'micro' correlates everything seen (streaming means and sums of squares)."""

    def __init__(
        self,
        name: str = "pearsonr",
        output_names: list[str] | None = None,
        label_names: list[str] | None = None,
        average: str = "macro",
    ) -> None:
        self.average = average
        super().__init__(
            name, output_names=output_names, label_names=label_names, has_global_stats=True
        )

    def reset(self) -> None:
        super().reset()
        self._label_stats = (0, 0.0, 0.0)  # count, mean, sum of squared deviations
        self._pred_stats = (0, 0.0, 0.0)
        self._cov = 0.0

    def update(self, labels: Any, preds: Any) -> None:
        labels, preds = check_label_shapes(labels, preds, True)
        for label, pred in zip(labels, preds, strict=True):
            label = _numpy(label).ravel().astype(np.float64)
            pred = _numpy(pred).ravel().astype(np.float64)
            check_label_shapes(label, pred, False, True)
            if self.average == "macro":
                self._add(float(np.corrcoef(pred, label)[0, 1]), 1)
                continue
            self._add(0.0, 1)
            self._label_stats = _welford(label, *self._label_stats)
            self._cov += float(
                np.sum((label - self._label_stats[1]) * (pred - self._pred_stats[1]))
            )
            self._pred_stats = _welford(pred, *self._pred_stats)

    def get(self) -> tuple[str, float]:
        if self.num_inst == 0:
            return (self.name, float("nan"))
        if self.average == "macro":
            return (self.name, self.sum_metric / self.num_inst)
        n = self._label_stats[0]
        spread = np.sqrt(self._pred_stats[2] / (n - 1)) * np.sqrt(self._label_stats[2] / (n - 1))
        return (self.name, float(self._cov / ((n - 1) * spread)))


def _welford(values: np.ndarray, count: int, mean: float, m_2: float) -> tuple:
    """MXNet's batched update of a running count, mean and sum of squared deviations."""
    count += len(values)
    delta = values - mean
    mean += float(np.sum(delta / count))
    m_2 += float(np.sum(delta * (values - mean)))
    return (count, mean, m_2)


# -- user functions -----------------------------------------------------------------------------
@_alias()
class CustomMetric(EvalMetric):
    """A metric from feval(label, pred) -> value or (sum, count), on numpy arrays."""

    def __init__(
        self,
        feval: Callable,
        name: str | None = None,
        allow_extra_outputs: bool = False,
        output_names: list[str] | None = None,
        label_names: list[str] | None = None,
    ) -> None:
        if name is None:
            name = getattr(feval, "__name__", "custom")
            if name.find("<") != -1:
                name = f"custom({name})"
        super().__init__(
            name,
            feval=feval,
            allow_extra_outputs=allow_extra_outputs,
            output_names=output_names,
            label_names=label_names,
            has_global_stats=True,
        )
        self._feval = feval
        self._allow_extra_outputs = allow_extra_outputs

    def update(self, labels: Any, preds: Any) -> None:
        labels, preds = _as_list(labels), _as_list(preds)
        if not self._allow_extra_outputs:
            check_label_shapes(labels, preds)
        for label, pred in zip(labels, preds, strict=False):
            result = self._feval(_numpy(label), _numpy(pred))
            if isinstance(result, tuple):
                self._add(result[0], result[1])
            else:
                self._add(result, 1)


def np_metric(numpy_feval: Callable, name: str | None = None, allow_extra_outputs: bool = False):
    """A CustomMetric from a numpy function feval(label, pred) (MXNet's mx.metric.np)."""

    def feval(label: np.ndarray, pred: np.ndarray) -> Any:
        return numpy_feval(label, pred)

    feval.__name__ = numpy_feval.__name__
    return CustomMetric(feval, name, allow_extra_outputs)
