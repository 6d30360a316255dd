"""Evaluation metrics against numpy, with NDArray, numpy and list inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hybrix import metric, nd
from hybrix.metric import MetricError


@pytest.fixture
def batch(rng):
    pred = rng.random((8, 4)).astype(np.float32)
    pred /= pred.sum(axis=1, keepdims=True)
    label = rng.integers(0, 4, size=8).astype(np.float32)
    return label, pred


def test_accuracy_with_ndarray_numpy_and_lists(batch):
    label, pred = batch
    expected = float((pred.argmax(1) == label).mean())
    for wrap in (nd.array, np.asarray, lambda a: a.tolist()):
        acc = metric.create("acc")
        acc.update([wrap(label)], [wrap(pred)])
        assert acc.get() == ("accuracy", pytest.approx(expected))
    acc = metric.Accuracy()
    acc.update(nd.array(label), nd.array(pred))  # single arrays are wrapped, as MXNet
    assert acc.get()[1] == pytest.approx(expected)


def test_accuracy_reset_and_global(batch):
    label, pred = batch
    acc = metric.Accuracy()
    acc.update([label], [pred])
    acc.reset_local()
    assert math.isnan(acc.get()[1])
    assert acc.get_global()[1] == pytest.approx(float((pred.argmax(1) == label).mean()))
    acc.reset()
    assert math.isnan(acc.get_global()[1])


def test_top_k_accuracy(batch):
    label, pred = batch
    top = metric.create("top_k_accuracy", top_k=2)
    top.update([label], [pred])
    best2 = np.argsort(pred, axis=1)[:, -2:]
    expected = float(np.mean([label[i] in best2[i] for i in range(len(label))]))
    assert top.get() == ("top_k_accuracy_2", pytest.approx(expected))


def test_f1_macro_and_micro(rng):
    batches = [(rng.integers(0, 2, 10), rng.random((10, 2))) for _ in range(2)]

    def f1(label, pred):
        p = pred.argmax(1)
        tp = np.sum((p == 1) & (label == 1))
        fp = np.sum((p == 1) & (label == 0))
        fn = np.sum((p == 0) & (label == 1))
        prec, rec = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        return 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)

    macro, micro = metric.F1(), metric.F1(average="micro")
    for label, pred in batches:
        macro.update([label], [pred])
        micro.update([label], [pred])
    assert macro.get()[1] == pytest.approx(np.mean([f1(*b) for b in batches]))
    labels = np.concatenate([b[0] for b in batches])
    preds = np.concatenate([b[1] for b in batches])
    assert micro.get()[1] == pytest.approx(f1(labels, preds))
    with pytest.raises(MetricError, match="binary"):
        metric.F1().update([np.array([0, 1, 2])], [rng.random((3, 2))])


def test_cross_entropy_and_perplexity(batch):
    label, pred = batch
    picked = pred[np.arange(8), label.astype(int)]
    ce = metric.create("ce")
    ce.update([label], [pred])
    assert ce.get()[1] == pytest.approx(float(-np.log(picked + 1e-12).mean()), rel=1e-6)
    perp = metric.Perplexity(ignore_label=None)
    perp.update([nd.array(label)], [nd.array(pred)])
    assert perp.get()[1] == pytest.approx(math.exp(-np.log(picked).mean()), rel=1e-5)
    ignoring = metric.Perplexity(ignore_label=int(label[0]))
    ignoring.update([label], [pred])
    keep = label != label[0]
    assert ignoring.get()[1] == pytest.approx(math.exp(-np.log(picked[keep]).mean()), rel=1e-5)


def test_regression_metrics_average_per_batch(rng):
    pairs = [(rng.normal(size=6), rng.normal(size=6)) for _ in range(3)]
    checks = {
        "mae": lambda a, b: np.abs(a - b).mean(),
        "mse": lambda a, b: ((a - b) ** 2).mean(),
        "rmse": lambda a, b: np.sqrt(((a - b) ** 2).mean()),
    }
    for name, function in checks.items():
        m = metric.create(name)
        for label, pred in pairs:
            m.update([nd.array(label)], [nd.array(pred)])
        expected = np.mean([function(label, pred) for label, pred in pairs])
        assert m.get() == (name, pytest.approx(expected, rel=1e-5))


def test_loss_metric_ignores_labels(rng):
    values = rng.random(5)
    loss = metric.Loss()
    loss.update(None, [nd.array(values)])
    assert loss.get()[1] == pytest.approx(values.mean(), rel=1e-6)


def test_pearson_macro_and_micro(rng):
    pairs = [(rng.normal(size=20), rng.normal(size=20)) for _ in range(3)]
    macro, micro = metric.create("pearsonr"), metric.PearsonCorrelation(average="micro")
    for label, pred in pairs:
        macro.update([label], [pred])
        micro.update([label], [pred])
    assert macro.get()[1] == pytest.approx(np.mean([np.corrcoef(p, lab)[0, 1] for lab, p in pairs]))
    labels = np.concatenate([p[0] for p in pairs])
    preds = np.concatenate([p[1] for p in pairs])
    assert micro.get()[1] == pytest.approx(np.corrcoef(preds, labels)[0, 1])


def test_composite_and_custom(batch):
    label, pred = batch
    comp = metric.create(["acc", metric.MSE(), lambda lab, p: float(np.abs(p).sum())])
    comp.update([label], [pred])
    names, values = comp.get()
    assert names == ["accuracy", "mse", "custom(<lambda>)"]
    assert values[0] == pytest.approx(float((pred.argmax(1) == label).mean()))
    assert values[2] == pytest.approx(float(pred.sum()), rel=1e-6)
    assert comp.get_name_value()[0][0] == "accuracy"


def test_mismatched_counts_and_unknown_names(batch):
    label, pred = batch
    with pytest.raises(MetricError, match="does not match"):
        metric.Accuracy().update([label, label], [pred])
    with pytest.raises(MetricError, match=r"known metrics: .*acc"):
        metric.create("accuracyy")
