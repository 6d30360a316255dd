"""Gluon helpers as in MXNet 1.9.1's gluon/utils.py: data splitting, gradient clipping,
sha1 checks, hook handles. Nothing is downloaded here: `download` says so clearly.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from hybrix.ir import HybrixError

__all__ = [
    "HookHandle",
    "check_sha1",
    "clip_global_norm",
    "download",
    "split_and_load",
    "split_data",
]


def split_data(data: Any, num_slice: int, batch_axis: int = 0, even_split: bool = True) -> list:
    """Split an NDArray into `num_slice` slices along `batch_axis`.

    even_split=False allows slices of different sizes (the last ones one smaller).
    """
    size = data.shape[batch_axis]
    if even_split and size % num_slice != 0:
        raise HybrixError(
            f"data with shape {data.shape} cannot be evenly split into {num_slice} slices "
            f"along axis {batch_axis}. Use a batch size that's multiple of {num_slice} or "
            "set even_split=False to allow uneven partitioning of data."
        )
    if size < num_slice:
        raise HybrixError(
            f"too many slices for data with shape {data.shape}: {num_slice} slices of axis "
            f"{batch_axis} (size {size}); use fewer slices or a bigger batch"
        )
    from hybrix import ndarray as nd

    step = size // num_slice
    if not even_split and size % num_slice:
        # NOTE: MXNet gives the remainder to the first slices, one element each.
        bounds = np.cumsum(
            [0] + [step + (1 if i < size % num_slice else 0) for i in range(num_slice)]
        )
    else:
        bounds = np.arange(num_slice + 1) * step
    if num_slice == 1:
        return [data]
    return [
        nd.slice_axis(data, axis=batch_axis, begin=int(begin), end=int(end))
        for begin, end in itertools.pairwise(bounds)
    ]


def split_and_load(
    data: Any, ctx_list: Sequence[Any], batch_axis: int = 0, even_split: bool = True
) -> list:
    """Split `data` along `batch_axis` and put one slice on each context of ctx_list."""
    from hybrix import ndarray as nd

    if not isinstance(data, nd.NDArray):
        data = nd.array(data, ctx=ctx_list[0])
    if len(ctx_list) == 1:
        return [data.as_in_context(ctx_list[0])]
    slices = split_data(data, len(ctx_list), batch_axis, even_split)
    return [part.as_in_context(ctx) for part, ctx in zip(slices, ctx_list, strict=True)]


def clip_global_norm(arrays: Sequence[Any], max_norm: float, check_isfinite: bool = True) -> Any:
    """Rescale `arrays` in place so that the 2-norm of all of them together is <= max_norm.

    Returns the total norm (a float when check_isfinite, else an NDArray, as MXNet).
    """
    import warnings

    from hybrix import ndarray as nd

    if not arrays:
        raise HybrixError("clip_global_norm needs at least one array")
    ctx = arrays[0].context
    squares = [nd.sum(nd.square(a.astype("float32"))).as_in_context(ctx) for a in arrays]
    total = nd.sqrt(nd.add_n(*squares)) if len(squares) > 1 else nd.sqrt(squares[0])
    if check_isfinite and not math.isfinite(float(total.asscalar())):
        warnings.warn(
            UserWarning("nan or inf is detected. Clipping results will be undefined."),
            stacklevel=2,
        )
    scale = max_norm / (total + 1e-8)
    scale = nd.broadcast_minimum(scale, nd.ones(scale.shape, ctx=ctx))
    for array in arrays:
        array *= scale.as_in_context(array.context).astype(array.dtype)
    if check_isfinite:
        return float(total.asscalar())
    return total


def check_sha1(filename: str, sha1_hash: str) -> bool:
    """Whether the file's sha1 equals `sha1_hash` (only as many characters as given)."""
    sha1 = hashlib.sha1()
    with open(filename, "rb") as file:
        while chunk := file.read(1 << 20):
            sha1.update(chunk)
    digest = sha1.hexdigest()
    length = min(len(digest), len(sha1_hash))
    return digest[:length] == sha1_hash[:length]


def download(url: str, path: str | None = None, *args: Any, **kwargs: Any) -> str:
    """hybrix never downloads: fetch the file yourself and pass its local path."""
    raise HybrixError(
        f"download({url!r}): hybrix does not download files; fetch it with another tool "
        "and load it from a local path"
    )


class HookHandle:
    """A handle to a registered forward (pre-)hook; `detach()` or use as a context."""

    def __init__(self) -> None:
        self._hooks_dict_ref: Any = None
        self._id: int | None = None

    def attach(self, hooks_dict: dict, hook: Any) -> None:
        if self._hooks_dict_ref is not None:
            raise HybrixError("the same hook handle cannot be attached twice")
        self._id = id(hook)
        hooks_dict[self._id] = hook
        self._hooks_dict_ref = weakref.ref(hooks_dict)

    def detach(self) -> None:
        hooks = self._hooks_dict_ref() if self._hooks_dict_ref is not None else None
        if hooks is not None and self._id in hooks:
            del hooks[self._id]

    def __getstate__(self) -> tuple:
        return (self._hooks_dict_ref() if self._hooks_dict_ref else None, self._id)

    def __setstate__(self, state: tuple) -> None:
        if state[0] is None:
            self._hooks_dict_ref = weakref.ref({})
        else:
            self._hooks_dict_ref = weakref.ref(state[0])
        self._id = state[1]

    def __enter__(self) -> HookHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()


def _indent(text: str, spaces: int) -> str:
    """Indent every line of `text` after the first by `spaces` (MXNet's repr helper)."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    pad = " " * spaces
    return lines[0] + "\n" + "\n".join(pad + line for line in lines[1:])


def _brief_print_list(names: Any, limit: int = 7) -> str:
    names = list(names)
    if len(names) > limit:
        return (
            _brief_print_list(names[: limit // 2], limit)
            + ", ..., "
            + _brief_print_list(names[-limit // 2 :], limit)
        )
    return ", ".join(f"'{n}'" for n in names)
