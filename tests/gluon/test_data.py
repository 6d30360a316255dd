"""gluon.data and mx.io against hand-written expectations and real-format files."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from hybrix.dataio import NDArrayIter
from hybrix.gluon.data import ArrayDataset, BatchSampler, DataLoader, SimpleDataset
from hybrix.gluon.data.vision import CIFAR10, MNIST, FashionMNIST, transforms
from hybrix.ir import HybrixError, ModelFormatError
from hybrix.test_utils import get_mnist


def write_idx(path, array, compress=True):
    rank = array.ndim
    header = struct.pack(f">I{rank}I", 0x0800 + rank, *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


def write_mnist(folder, rng, train=20, test=10, compress=True):
    suffix = ".gz" if compress else ""
    data = {}
    for prefix, count in (("train", train), ("t10k", test)):
        images = rng.integers(0, 256, (count, 28, 28))
        labels = rng.integers(0, 10, count)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, compress)
        data[prefix] = (images, labels)
    return data


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_reads_idx_files(tmp_path, rng, compress):
    written = write_mnist(tmp_path, rng, compress=compress)
    train = MNIST(root=str(tmp_path))
    assert len(train) == 20
    image, label = train[3]
    assert image.shape == (28, 28, 1)
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image.asnumpy()[..., 0], written["train"][0][3])
    assert label == written["train"][1][3]
    assert label.dtype == np.int32
    assert len(FashionMNIST(root=str(tmp_path), train=False)) == 10


def test_mnist_missing_files_say_where(tmp_path):
    with pytest.raises(
        HybrixError, match=r"train-images-idx3-ubyte\.gz not found in .*nothing is downloaded"
    ):
        MNIST(root=str(tmp_path))


def test_corrupt_idx_is_named(tmp_path, rng):
    write_mnist(tmp_path, rng)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\0\0\x08\x03abcd"))
    with pytest.raises(ModelFormatError, match="idx magic"):
        MNIST(root=str(tmp_path))


def test_get_mnist_matches_mxnet_layout(tmp_path, rng):
    written = write_mnist(tmp_path, rng)
    mnist = get_mnist(str(tmp_path))
    assert mnist["train_data"].shape == (20, 1, 28, 28)
    assert mnist["train_data"].dtype == np.float32
    np.testing.assert_allclose(mnist["test_data"][2, 0], written["t10k"][0][2] / 255.0, 1e-6)
    assert mnist["test_label"].dtype == np.int8


def test_cifar10_binary_records(tmp_path, rng):
    images = rng.integers(0, 256, (4, 3, 32, 32)).astype(np.uint8)
    labels = np.arange(4, dtype=np.uint8)
    records = np.concatenate([labels[:, None], images.reshape(4, -1)], axis=1)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        (tmp_path / name).write_bytes(records.tobytes())
    train = CIFAR10(root=str(tmp_path))
    assert len(train) == 20
    image, label = train[1]
    np.testing.assert_array_equal(image.asnumpy(), images[1].transpose(1, 2, 0))
    assert label == 1
    (tmp_path / "test_batch.bin").write_bytes(b"x" * 100)
    with pytest.raises(ModelFormatError, match="3073-byte records"):
        CIFAR10(root=str(tmp_path), train=False)


def test_dataset_transforms_and_shards():
    data = ArrayDataset(np.arange(10.0), np.arange(10) * 2)
    assert data[3] == (3.0, 6)
    doubled = data.transform_first(lambda x: x * 10)
    assert doubled[2] == (20.0, 4)
    assert [len(data.shard(3, i)) for i in range(3)] == [4, 3, 3]
    assert len(data.filter(lambda sample: sample[1] > 10)) == 4
    with pytest.raises(HybrixError, match="length 3, expected 10"):
        ArrayDataset(np.arange(10), np.arange(3))


@pytest.mark.parametrize(
    ("last_batch", "sizes"), [("keep", [4, 4, 2]), ("discard", [4, 4]), ("rollover", [4, 4])]
)
def test_batch_sampler_last_batch(last_batch, sizes):
    sampler = BatchSampler(range(10), 4, last_batch)
    assert [len(b) for b in sampler] == sizes
    if last_batch == "rollover":
        assert next(iter(sampler)) == [8, 9, 0, 1]


def test_dataloader_batches_and_dtypes():
    data = ArrayDataset(
        np.arange(20, dtype=np.float32).reshape(10, 2), np.arange(10, dtype=np.int32)
    )
    batches = list(DataLoader(data, batch_size=4))
    assert len(batches) == 3
    x, y = batches[0]
    np.testing.assert_array_equal(x.asnumpy(), np.arange(8, dtype=np.float32).reshape(4, 2))
    assert y.dtype == np.int32
    assert batches[-1][0].shape == (2, 2)


def test_dataloader_shuffle_covers_everything():
    np.random.seed(0)  # noqa: NPY002 - the sampler uses numpy's global RNG, as MXNet
    loader = DataLoader(SimpleDataset(np.arange(10)), batch_size=3, shuffle=True, last_batch="keep")
    seen = np.concatenate([b.asnumpy() for b in loader])
    assert sorted(seen.tolist()) == list(range(10))


def test_dataloader_worker_processes_give_the_same_batches():
    data = ArrayDataset(np.arange(24, dtype=np.float32).reshape(12, 2), np.arange(12))
    plain = [b[0].asnumpy() for b in DataLoader(data, batch_size=5)]
    workers = [b[0].asnumpy() for b in DataLoader(data, batch_size=5, num_workers=2)]
    for a, b in zip(plain, workers, strict=True):
        np.testing.assert_array_equal(a, b)


def test_dataloader_argument_errors():
    with pytest.raises(HybrixError, match="needs batch_size"):
        DataLoader(SimpleDataset([1, 2]))
    with pytest.raises(HybrixError, match="last_batch must be one of"):
        DataLoader(SimpleDataset([1, 2]), batch_size=1, last_batch="pad")


def test_transforms_against_numpy(rng):
    image = rng.integers(0, 256, (6, 8, 3)).astype(np.uint8)
    tensor = transforms.ToTensor()(image).asnumpy()
    np.testing.assert_allclose(tensor, image.transpose(2, 0, 1) / 255.0, 1e-6)
    normalized = transforms.Normalize(0.5, 0.25)(tensor).asnumpy()
    np.testing.assert_allclose(normalized, (tensor - 0.5) / 0.25, 1e-5)
    cropped = transforms.CenterCrop((4, 2))(image).asnumpy()
    np.testing.assert_array_equal(cropped, image[2:4, 2:6])
    resized = transforms.Resize((4, 3))(image).asnumpy()
    assert resized.shape == (3, 4, 3)
    assert resized.dtype == np.uint8
    same = transforms.Resize((8, 6))(image).asnumpy()
    np.testing.assert_array_equal(same, image)
    chain = transforms.Compose([transforms.ToTensor(), transforms.Normalize(0.5, 0.5)])
    assert chain(image).shape == (3, 6, 8)


def test_ndarray_iter_pad_discard_roll_over():
    data, label = np.arange(10.0).reshape(10, 1), np.arange(10)
    padded = list(NDArrayIter(data, label, batch_size=4))
    assert [b.pad for b in padded] == [0, 0, 2]
    np.testing.assert_array_equal(padded[-1].data[0].asnumpy()[:, 0], [8, 9, 0, 1])
    assert len(list(NDArrayIter(data, label, 4, last_batch_handle="discard"))) == 2
    rolling = NDArrayIter(data, label, 4, last_batch_handle="roll_over")
    assert len(list(rolling)) == 2
    rolling.reset()
    first = next(rolling)
    np.testing.assert_array_equal(first.data[0].asnumpy()[:, 0], [8, 9, 0, 1])
    assert rolling.provide_data[0].shape == (4, 1)
    assert rolling.provide_label[0].name == "softmax_label"
