"""d2l's MXNet-edition programs (np/npx + Gluon), as written but for the import line,
trained on small synthetic data: the loss must fall."""

from __future__ import annotations

import random

import numpy as onp
import pytest

import hybrix.gluon.data  # noqa: F401  (gluon.data)
from hybrix import autograd, gluon, init, np, npx
from hybrix.gluon import nn, rnn

# NOTE: MXNet's gluon.nn re-exports Block (d2l writes nn.Block); hybrix's may not yet.
Block = getattr(nn, "Block", gluon.Block)


@pytest.fixture(autouse=True)
def numpy_mode():
    npx.set_np()
    np.random.seed(0)
    random.seed(0)
    onp.random.seed(0)  # noqa: NPY002 - DataLoader's shuffle uses numpy's global RNG, as MXNet
    yield
    npx.reset_np()


def synthetic_data(w, b, num_examples):
    X = np.random.normal(0, 1, (num_examples, len(w)))
    y = np.dot(X, w) + b
    y += np.random.normal(0, 0.01, y.shape)
    return X, y.reshape((-1, 1))


def data_iter(batch_size, features, labels):
    num_examples = len(features)
    indices = list(range(num_examples))
    random.shuffle(indices)
    for i in range(0, num_examples, batch_size):
        batch_indices = np.array(indices[i : min(i + batch_size, num_examples)])
        yield features[batch_indices], labels[batch_indices]


def load_array(data_arrays, batch_size, is_train=True):
    dataset = gluon.data.ArrayDataset(*data_arrays)
    return gluon.data.DataLoader(dataset, batch_size, shuffle=is_train)


def test_linear_regression_from_scratch():
    true_w, true_b = np.array([2, -3.4]), 4.2
    features, labels = synthetic_data(true_w, true_b, 200)
    w = np.random.normal(0, 0.01, (2, 1))
    b = np.zeros(1)
    w.attach_grad()
    b.attach_grad()

    def linreg(X, w, b):
        return np.dot(X, w) + b

    def squared_loss(y_hat, y):
        return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2

    def sgd(params, lr, batch_size):
        for param in params:
            param[:] = param - lr * param.grad / batch_size

    losses = [float(squared_loss(linreg(features, w, b), labels).mean())]
    for _ in range(3):
        for X, y in data_iter(10, features, labels):
            with autograd.record():
                l = squared_loss(linreg(X, w, b), y)
            l.backward()
            sgd([w, b], 0.1, 10)
        losses.append(float(squared_loss(linreg(features, w, b), labels).mean()))
    assert losses[-1] < 0.01 < losses[0]
    assert float(np.abs(true_w - w.reshape(true_w.shape)).max()) < 0.1


def test_linear_regression_concise():
    true_w, true_b = np.array([2, -3.4]), 4.2
    features, labels = synthetic_data(true_w, true_b, 200)
    data = load_array((features, labels), 10)
    net = nn.Sequential()
    net.add(nn.Dense(1))
    net.initialize(init.Normal(sigma=0.01))
    loss = gluon.loss.L2Loss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    first = loss(net(features), labels).mean()
    assert isinstance(first, np.ndarray)
    assert first.shape == ()
    for _ in range(3):
        for X, y in data:
            with autograd.record():
                l = loss(net(X), y)
            l.backward()
            trainer.step(10)
    last = loss(net(features), labels).mean()
    assert float(last) < 0.1 * float(first)


def train_classifier(net, X, y, epochs, lr, batch_size=16, hybridize=True):
    """d2l.train_ch3/ch6 in small: returns the mean loss of each epoch."""
    if hybridize:
        net.hybridize()
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})
    data = load_array((X, y), batch_size)
    history = []
    for _ in range(epochs):
        total, count = 0.0, 0
        for Xb, yb in data:
            with autograd.record():
                l = loss(net(Xb), yb)
            l.backward()
            trainer.step(Xb.shape[0])
            total += float(l.sum())
            count += yb.size
        history.append(total / count)
    return history


def classes_data(n, shape, num_classes=3):
    """Inputs whose class shifts their mean, so a model can learn them."""
    y = np.random.randint(0, num_classes, (n,))
    X = np.random.normal(0, 1, (n, *shape)) + y.reshape((-1,) + (1,) * len(shape)).astype("float32")
    return X, y.astype("float32")


def test_softmax_regression():
    X, y = classes_data(96, (8,))
    net = nn.Sequential()
    net.add(nn.Dense(3))
    net.initialize(init.Normal(sigma=0.01))
    history = train_classifier(net, X, y, 4, 0.1)
    assert history[-1] < 0.8 * history[0]


def test_mlp():
    X, y = classes_data(96, (8,))
    net = nn.Sequential()
    net.add(nn.Dense(16, activation="relu"), nn.Dense(3))
    net.initialize(init.Normal(sigma=0.01))
    history = train_classifier(net, X, y, 6, 0.5)
    assert history[-1] < 0.8 * history[0]


def test_lenet():
    X, y = classes_data(48, (1, 12, 12))
    net = nn.HybridSequential()
    net.add(
        nn.Conv2D(channels=4, kernel_size=3, padding=1, activation="sigmoid"),
        nn.AvgPool2D(pool_size=2, strides=2),
        nn.Conv2D(channels=8, kernel_size=3, activation="sigmoid"),
        nn.AvgPool2D(pool_size=2, strides=2),
        nn.Dense(16, activation="sigmoid"),
        nn.Dense(3),
    )
    net.initialize(init.Xavier())
    history = train_classifier(net, X, y, 8, 0.9)
    assert history[-1] < history[0]


class Residual(Block):
    """d2l 7.6's residual block, as written there (F-free forward with npx)."""

    def __init__(self, num_channels, use_1x1conv=False, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = nn.Conv2D(num_channels, kernel_size=3, padding=1, strides=strides)
        self.conv2 = nn.Conv2D(num_channels, kernel_size=3, padding=1)
        if use_1x1conv:
            self.conv3 = nn.Conv2D(num_channels, kernel_size=1, strides=strides)
        else:
            self.conv3 = None
        self.bn1 = nn.BatchNorm()
        self.bn2 = nn.BatchNorm()

    def forward(self, X):
        Y = npx.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        return npx.relu(Y + X)


def test_resnet_block():
    blk = Residual(6, use_1x1conv=True, strides=2)
    blk.initialize()
    assert blk(np.random.uniform(size=(4, 3, 6, 6))).shape == (4, 6, 3, 3)
    X, y = classes_data(32, (3, 6, 6))
    net = nn.Sequential()
    net.add(blk, nn.GlobalAvgPool2D(), nn.Dense(3))
    net.initialize(init.Xavier())
    history = train_classifier(net, X, y, 4, 0.1, hybridize=False)
    assert history[-1] < history[0]


class RNNModel(Block):
    """d2l 8.6's RNN language model (concise, gluon.rnn)."""

    def __init__(self, rnn_layer, vocab_size, **kwargs):
        super().__init__(**kwargs)
        self.rnn = rnn_layer
        self.vocab_size = vocab_size
        self.dense = nn.Dense(vocab_size)

    def forward(self, inputs, state):
        X = npx.one_hot(inputs.T, self.vocab_size)
        Y, state = self.rnn(X, state)
        output = self.dense(Y.reshape(-1, Y.shape[-1]))
        return output, state

    def begin_state(self, *args, **kwargs):
        return self.rnn.begin_state(*args, **kwargs)


def test_rnn_language_model():
    vocab_size, num_steps, batch_size = 6, 5, 4
    corpus = [i % vocab_size for i in range(200)]  # a learnable cyclic sequence
    net = RNNModel(rnn.RNN(16), vocab_size)
    net.initialize(init.Normal(sigma=0.1))
    loss = gluon.loss.SoftmaxCrossEntropyLoss()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 1.0})
    history = []
    for _ in range(6):
        total, count = 0.0, 0
        state = net.begin_state(batch_size=batch_size)
        for start in range(0, 150, num_steps * batch_size):
            rows = [
                corpus[start + i * num_steps : start + (i + 1) * num_steps + 1]
                for i in range(batch_size)
            ]
            seq = np.array(rows, dtype="int32")
            X, Y = seq[:, :-1], seq[:, 1:]
            state = [s.detach() for s in state]
            with autograd.record():
                y_hat, state = net(X, state)
                l = loss(y_hat, Y.T.reshape(-1)).mean()
            l.backward()
            gluon.utils.clip_global_norm([p.grad() for p in net.collect_params().values()], 1.0)
            trainer.step(1)
            total += float(l)
            count += 1
        history.append(total / count)
    assert history[-1] < 0.5 * history[0]
