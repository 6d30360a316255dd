"""Trains a small LeNet-style conv net for a few steps and saves its parameters and last
(reduced) gradients: on one device, on several devices of this process (kvstore
'device'), or as one worker of a `hybrix launch` group (kvstore 'dist_sync').

    python train_convnet.py --mode single --out one.npz
    python train_convnet.py --mode device --devices 4 --out four.npz
    hybrix launch -n 2 -- python train_convnet.py --mode dist --out dist.npz
"""

from __future__ import annotations

import argparse

import numpy as np

import hybrix as mx
from hybrix import autograd, gluon, nd
from hybrix.gluon import nn

BATCH, STEPS = 8, 3


def build(seed: int, contexts: list, dtype: str) -> gluon.HybridBlock:
    mx.random.seed(seed)
    net = nn.HybridSequential()
    net.add(
        nn.Conv2D(4, 3, in_channels=1, activation="relu"),
        nn.MaxPool2D(2),
        nn.Conv2D(8, 3, in_channels=4, activation="relu"),
        nn.MaxPool2D(2),
        nn.Flatten(),
        nn.Dense(16, in_units=8 * 2 * 2, activation="relu"),
        nn.Dense(10, in_units=16),
    )
    net.initialize(mx.init.Xavier(), ctx=contexts)
    net.cast(dtype)
    net.hybridize()
    return net


def batches(dtype: str) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    return [
        (
            rng.normal(size=(BATCH, 1, 14, 14)).astype(dtype),
            rng.integers(0, 10, size=BATCH).astype(dtype),
        )
        for _ in range(STEPS)
    ]


def train(net, trainer, parts, dtype: str) -> None:
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    for data, label in batches(dtype):
        datas, labels = parts(data, label)
        with autograd.record():
            losses = [loss_fn(net(x), y) for x, y in zip(datas, labels, strict=True)]
        autograd.backward(losses)
        trainer.step(BATCH)  # the global batch: gradients are summed over all slices


def snapshot(net, prefix: str) -> dict[str, np.ndarray]:
    result = {}
    for name, param in enumerate(net.collect_params().values()):  # names differ per net
        result[f"{prefix}param:{name}"] = param.data().asnumpy()
        result[f"{prefix}grad:{name}"] = param.grad().asnumpy()
        copies = [a.asnumpy() for a in param.list_data()]
        result[f"{prefix}spread:{name}"] = np.array(
            max(float(np.abs(c - copies[0]).max()) for c in copies)
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["single", "device", "dist"], required=True)
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--out", required=True)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()

    contexts = [mx.cpu(i) for i in range(args.devices)]
    seed, kvstore, kv = 0, "device", None
    if args.mode == "device":

        def parts(data, label):
            return (
                gluon.utils.split_and_load(data, contexts),
                gluon.utils.split_and_load(label, contexts),
            )
    else:
        kv = mx.kv.create("dist_sync") if args.mode == "dist" else None
        rank, workers = (kv.rank, kv.num_workers) if kv else (0, 1)
        # NOTE: rank 1 starts from other weights; the Trainer gives it rank 0's
        seed, kvstore = rank, "dist_sync" if kv else None
        size = BATCH // workers

        def parts(data, label):
            mine = slice(rank * size, (rank + 1) * size)
            return [nd.array(data[mine], dtype=data.dtype)], [
                nd.array(label[mine], dtype=data.dtype)
            ]

    result = {}
    # NOTE: MXNet 1.9 updates on the store by default, except for SGD (aggregate_num 4)
    configs = (
        ("", "sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 1e-3}),
        ("store_", "adam", {"learning_rate": 0.01, "wd": 1e-3}),
    )
    for prefix, name, hyper in configs:
        net = build(seed, contexts, args.dtype)
        trainer = gluon.Trainer(net.collect_params(), name, hyper, kvstore=kvstore)
        train(net, trainer, parts, args.dtype)
        result.update(snapshot(net, prefix))
        result[prefix + "update_on_kvstore"] = np.array(bool(trainer._update_on_kvstore))
    np.savez(args.out.replace("RANK", str(kv.rank if args.mode == "dist" else 0)), **result)
    print("done", args.mode, flush=True)


if __name__ == "__main__":
    main()
