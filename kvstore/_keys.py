"""Key/value normalisation for the KVStore API: MXNet accepts one key or a list of keys,
each with one NDArray or a list of NDArrays (one per device); values of a repeated key are
grouped, as MXNet's GroupKVPairs does."""

from __future__ import annotations

from typing import Any

from hybrix.ir import HybrixError

__all__ = ["KVStoreError", "group_pairs"]


class KVStoreError(HybrixError, ValueError):
    """A bad key, value or KVStore type, or a KVStore used in a way it does not support."""


def _is_array(value: Any) -> bool:
    from hybrix.ndarray import NDArray

    return isinstance(value, NDArray)


def _check_key(key: Any) -> int | str:
    if isinstance(key, bool) or not isinstance(key, int | str):
        try:
            import numpy as np

            if isinstance(key, np.integer):
                return int(key)
        except ImportError:  # pragma: no cover - numpy is a dependency
            pass
        raise KVStoreError(f"a KVStore key must be an int or a str, got {key!r:.60}")
    return key


def _as_array_list(key: Any, value: Any, what: str) -> list:
    if _is_array(value):
        return [value]
    if isinstance(value, list | tuple) and value and all(_is_array(v) for v in value):
        return list(value)
    raise KVStoreError(
        f"{what} for key {key!r} must be an NDArray or a non-empty list of NDArrays "
        f"(one per device), got {type(value).__name__}"
    )


def group_pairs(key: Any, value: Any, what: str = "value") -> dict[Any, list]:
    """{key: [arrays]} in first-seen key order; a repeated key collects all its arrays."""
    if isinstance(key, list | tuple):
        keys = [_check_key(k) for k in key]
        if len({type(k) for k in keys}) > 1:
            raise KVStoreError(f"inconsistent types of keys detected in {list(key)!r}")
        if not isinstance(value, list | tuple) or len(value) != len(keys):
            found = len(value) if isinstance(value, list | tuple) else type(value).__name__
            raise KVStoreError(
                f"{len(keys)} keys need a list of {len(keys)} {what}s (one per key), got {found}"
            )
        groups: dict[Any, list] = {}
        for k, v in zip(keys, value, strict=True):
            groups.setdefault(k, []).extend(_as_array_list(k, v, what))
        return groups
    k = _check_key(key)
    return {k: _as_array_list(k, value, what)}
