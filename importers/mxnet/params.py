"""MXNet's binary NDArray list format (`.params`, `nd.save`): read every layout, write V2.

Layout (src/ndarray/ndarray.cc, MXNet 1.9.1), all little-endian:
    uint64 0x112 magic, uint64 reserved, uint64 count, count arrays,
    uint64 name count, names as (uint64 length, bytes).
Each array: uint32 magic (V1 0xF993FAC8, V2 0xF993FAC9, V3 0xF993FACA; anything else is a
legacy array whose first word is ndim), [V2/V3: int32 storage type], shape (V1-V3: int32
ndim + int64 dims; legacy: uint32 dims), [non-empty: int32 dev_type, int32 dev_id,
int32 type flag, raw C-order data].
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from hybrix.ir import DType, ModelFormatError

__all__ = ["dumps", "load", "loads", "save"]

LIST_MAGIC = 0x112
V1, V2, V3 = 0xF993FAC8, 0xF993FAC9, 0xF993FACA
STORAGE_NAMES = {1: "row_sparse", 2: "csr"}


class _Reader:
    def __init__(self, data: bytes, source: str) -> None:
        self.data, self.source, self.offset = data, source, 0

    def take(self, fmt: str, what: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.offset + size > len(self.data):
            raise ModelFormatError(
                f"{self.source}: truncated at byte {self.offset} while reading {what} "
                f"(needs {size} bytes, {len(self.data) - self.offset} left)"
            )
        values = struct.unpack_from(fmt, self.data, self.offset)
        self.offset += size
        return values

    def raw(self, size: int, what: str) -> bytes:
        if self.offset + size > len(self.data):
            raise ModelFormatError(
                f"{self.source}: truncated at byte {self.offset} while reading {what} "
                f"({size} bytes expected, {len(self.data) - self.offset} left)"
            )
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk


def _read_shape(reader: _Reader, magic: int, index: int) -> tuple[int, ...] | None:
    """The array's shape, or None for MXNet's "none" (empty) array, which has no data."""
    if magic not in (V1, V2, V3):  # legacy: the magic word was the rank
        shape = reader.take(f"<{magic}I", f"shape of array {index}")
        return shape or None
    (ndim,) = reader.take("<i", f"rank of array {index}")
    if not -1 <= ndim <= 32:
        raise ModelFormatError(f"{reader.source}: array {index} has rank {ndim}; expected <= 32")
    # NOTE: V3 uses numpy shape semantics (rank -1 is "none", rank 0 a scalar); older
    # layouts use rank 0 for "none".
    if ndim == -1 or (ndim == 0 and magic != V3):
        return None
    return reader.take(f"<{ndim}q", f"shape of array {index}")


def _read_array(reader: _Reader, index: int) -> np.ndarray:
    (magic,) = reader.take("<I", f"header of array {index}")
    if magic in (V2, V3):
        (storage,) = reader.take("<i", f"storage type of array {index}")
        if storage != 0:
            kind = STORAGE_NAMES.get(storage, f"type {storage}")
            raise ModelFormatError(
                f"{reader.source}: array {index} has {kind} storage; only dense arrays are "
                "supported (convert with .tostype('default') in MXNet)"
            )
    elif magic != V1 and magic > 32:
        raise ModelFormatError(
            f"{reader.source}: array {index} starts with 0x{magic:08X}; expected an "
            "MXNet NDArray magic (0xF993FAC8/9/A) or a legacy rank"
        )
    shape = _read_shape(reader, magic, index)
    if shape is None:
        return np.zeros((0,), np.float32)
    reader.take("<ii", f"context of array {index}")
    (flag,) = reader.take("<i", f"dtype of array {index}")
    try:
        dtype = DType.from_mxnet_flag(flag).numpy
    except Exception as e:
        raise ModelFormatError(f"{reader.source}: array {index}: {e}") from None
    count = int(np.prod(shape, dtype=np.int64))
    raw = reader.raw(count * dtype.itemsize, f"data of array {index}")
    return np.frombuffer(raw, dtype.newbyteorder("<")).astype(dtype).reshape(shape)


def loads(data: bytes, source: str = "<bytes>") -> dict[str, np.ndarray] | list[np.ndarray]:
    """Parse a .params payload: a dict when the file names its arrays, else a list."""
    reader = _Reader(data, source)
    magic, _reserved = reader.take("<QQ", "file header")
    if magic != LIST_MAGIC:
        raise ModelFormatError(
            f"{source}: not an MXNet .params file (magic 0x{magic:X}, expected 0x{LIST_MAGIC:X})"
        )
    (count,) = reader.take("<Q", "array count")
    if count > len(data):
        raise ModelFormatError(f"{source}: array count {count} exceeds the file size")
    arrays = [_read_array(reader, i) for i in range(count)]
    (name_count,) = reader.take("<Q", "name count")
    names = []
    for i in range(name_count):
        (length,) = reader.take("<Q", f"length of name {i}")
        names.append(reader.raw(length, f"name {i}").decode("utf-8", "replace"))
    if reader.offset != len(data):
        raise ModelFormatError(
            f"{source}: {len(data) - reader.offset} unexpected bytes after the last name"
        )
    if not names:
        return arrays
    if len(names) != len(arrays):
        raise ModelFormatError(f"{source}: {len(names)} names for {len(arrays)} arrays")
    return dict(zip(names, arrays, strict=True))


def load(path: str | os.PathLike) -> dict[str, np.ndarray] | list[np.ndarray]:
    """Read a .params / nd.save file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelFormatError(f"{path}: cannot read ({e.strerror})") from None
    return loads(data, str(path))


def _write_array(out: list[bytes], array: np.ndarray) -> None:
    dtype = DType.from_any(array.dtype)
    # NOTE: V2 reads rank 0 as "none", so a 0-d array needs V3's numpy shape semantics.
    out.append(struct.pack("<Ii", V3 if array.ndim == 0 else V2, 0))
    out.append(struct.pack(f"<i{array.ndim}q", array.ndim, *array.shape))
    out.append(struct.pack("<iii", 1, 0, dtype.mxnet_flag))  # cpu(0), as MXNet saves
    out.append(np.ascontiguousarray(array, dtype.numpy.newbyteorder("<")).tobytes())


def dumps(arrays: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> bytes:
    """The bytes MXNet 1.9.1's nd.save writes for these arrays (V2 dense layout)."""
    if isinstance(arrays, Mapping):
        names, values = list(arrays), list(arrays.values())
    else:
        names, values = [], list(arrays)
    out = [struct.pack("<QQQ", LIST_MAGIC, 0, len(values))]
    for value in values:
        _write_array(out, np.asarray(value))
    out.append(struct.pack("<Q", len(names)))
    for name in names:
        encoded = name.encode("utf-8")
        out.append(struct.pack("<Q", len(encoded)) + encoded)
    return b"".join(out)


def save(path: str | os.PathLike, arrays: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> None:
    """Write atomically: a temporary file in the same folder, then a rename."""
    path = Path(path)
    data = dumps(arrays)
    handle, temporary = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
