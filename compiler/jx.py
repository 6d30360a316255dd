"""The jax namespaces handed to every op's `lower` facet, so that `ir/` never imports jax."""

from __future__ import annotations

import functools
from types import SimpleNamespace

__all__ = ["jax_namespace"]


@functools.cache
def jax_namespace() -> SimpleNamespace:
    """`jx.jnp`, `jx.lax`, `jx.nn`, `jx.random`, `jx.special`, `jx.jax` (custom_vjp etc.)."""
    import jax
    import jax.numpy as jnp
    import jax.scipy.special as special
    from jax import lax

    return SimpleNamespace(jax=jax, jnp=jnp, lax=lax, nn=jax.nn, random=jax.random, special=special)
