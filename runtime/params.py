"""The parameter file of a bundle: one binary blob plus a JSON index, viewable without copies.

Each tensor starts at a multiple of ALIGNMENT bytes of the blob, little-endian, C order.
The bundle writer stores the blob uncompressed and 64-byte aligned inside the zip, so a
reader maps the file once and views every tensor with np.frombuffer (no copy, no parse).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hybrix.ir.dtypes import DType
from hybrix.runtime.errors import BundleCorruptError

__all__ = ["ALIGNMENT", "pack_params", "view_params"]

ALIGNMENT = 64


def pack_params(arrays: Mapping[str, np.ndarray]) -> tuple[list[dict[str, Any]], bytes]:
    """(index, blob): index entries {name, dtype, shape, offset, nbytes}, in `arrays` order."""
    index: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    offset = 0
    for name, array in arrays.items():
        array = np.ascontiguousarray(array)
        data = _little_endian_bytes(array)
        padding = -offset % ALIGNMENT
        chunks.append(b"\0" * padding)
        offset += padding
        index.append(
            {
                "name": name,
                "dtype": DType.from_any(array.dtype).name,
                "shape": list(array.shape),
                "offset": offset,
                "nbytes": len(data),
            }
        )
        chunks.append(data)
        offset += len(data)
    return index, b"".join(chunks)


def _little_endian_bytes(array: np.ndarray) -> bytes:
    # NOTE: viewed as unsigned ints of the same width so bfloat16 (ml_dtypes) swaps too.
    if array.dtype.itemsize == 1 or array.dtype.byteorder in ("<", "|"):
        return array.tobytes()
    if array.dtype.byteorder == "=" and np.little_endian:
        return array.tobytes()
    bits = array.view(f"u{array.dtype.itemsize}")
    return bits.astype(bits.dtype.newbyteorder("<")).tobytes()


def view_params(buffer: Any, index: list[dict[str, Any]], source: str) -> dict[str, np.ndarray]:
    """Read-only arrays over `buffer` (bytes, mmap or memoryview of the blob) per `index`."""
    size = len(buffer)
    arrays = {}
    for entry in index:
        name, offset, nbytes = entry["name"], entry["offset"], entry["nbytes"]
        dtype = DType.from_any(entry["dtype"]).numpy
        shape = tuple(entry["shape"])
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if nbytes != expected or offset < 0 or offset + nbytes > size:
            raise BundleCorruptError(
                f"{source}: parameter {name} claims bytes [{offset}, {offset + nbytes}) for "
                f"{dtype.name}{list(shape)} ({expected} bytes) in a {size}-byte params.bin"
            )
        little = dtype.newbyteorder("<") if dtype.itemsize > 1 else dtype
        array = np.frombuffer(buffer, little, count=nbytes // dtype.itemsize, offset=offset)
        arrays[name] = array.reshape(shape)
    return arrays
