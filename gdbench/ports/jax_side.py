"""A JAX implementation driven as a ``Runner``: the user's pytree cast to the run's dtype,
``apply`` and ``loss`` under ``jax.value_and_grad``, the user's optax transformation,
each stage jitted once per dtype."""

from __future__ import annotations

import time

import numpy as np

from gdbench.compat.frameworks import import_jax, import_optax
from gdbench.ports.mapping import Link
from gdbench.ports.runner import Arrays


def _key_text(key) -> str:
    for attr in ("key", "idx", "name"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def paths(params) -> tuple[list[str], list, object]:
    """The pytree's leaves as ``a/b/0`` paths, the leaves and the tree's structure."""
    jax = import_jax()
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    return ["/".join(_key_text(k) for k in path) for path, _ in flat], [v for _, v in flat], treedef


def shapes(params) -> dict[str, tuple]:
    keys, leaves, _ = paths(params)
    return {k: tuple(np.shape(v)) for k, v in zip(keys, leaves, strict=True)}


class JaxRunner:
    def __init__(self, params, apply, optimizer, loss, links: list[Link]):
        self.keys, _, self.treedef = paths(params)
        self.apply, self.tx, self.loss, self.links = apply, optimizer, loss, links
        self.index = {k: i for i, k in enumerate(self.keys)}
        self.traces = 0

    def load(self, batches, dtype: str) -> None:
        jax, optax = import_jax(), import_optax()
        jnp = jax.numpy
        self.jax, self.dtype = jax, dtype

        def array(a):
            a = np.asarray(a)
            return jnp.asarray(a, dtype) if np.issubdtype(a.dtype, np.floating) else jnp.asarray(a)

        self.batches = [(array(x), array(y)) for x, y in batches]

        def loss_of(p, x, y):
            out = self.apply(p, x)
            return self.loss(out, y), out

        grad_of = jax.value_and_grad(loss_of, has_aux=True)

        def train(p, s, x, y):
            self.traces += 1  # runs when traced, not when called: counts compilations
            (loss, out), g = grad_of(p, x, y)
            u, s = self.tx.update(g, s, p)
            return optax.apply_updates(p, u), s, loss, g, out

        def update(p, s, g):
            u, s = self.tx.update(g, s, p)
            return optax.apply_updates(p, u), s

        self._train = jax.jit(train)
        self._grad = jax.jit(grad_of)
        self._forward = jax.jit(self.apply)
        self._update = jax.jit(update)
        self.first_s: float | None = None  # the first step: tracing and compilation

    def _tree(self, weights: Arrays):
        leaves: list = [None] * len(self.keys)
        for link in self.links:
            value = np.asarray(weights[link.name])
            value = value.T if link.transpose else value
            leaves[self.index[link.key]] = self.jax.numpy.asarray(value, self.dtype)
        return self.jax.tree_util.tree_unflatten(self.treedef, leaves)

    def _arrays(self, tree) -> Arrays:
        leaves = self.jax.tree_util.tree_leaves(tree)
        out = {}
        for link in self.links:
            a = np.asarray(leaves[self.index[link.key]])
            out[link.name] = a.T if link.transpose else a
        return out

    def start(self, weights: Arrays) -> None:
        self.p = self._tree(weights)
        self.s = self.tx.init(self.p)

    def step(self, k: int):
        t0 = time.perf_counter()
        x, y = self.batches[k % len(self.batches)]
        self.p, self.s, loss, g, out = self._train(self.p, self.s, x, y)
        if self.first_s is None:
            self.jax.block_until_ready(out)
            self.first_s = time.perf_counter() - t0
        return float(loss), self._arrays(g), np.asarray(out)

    def weights(self) -> Arrays:
        return self._arrays(self.p)

    def forward(self, weights: Arrays, k: int) -> np.ndarray:
        return np.asarray(
            self._forward(self._tree(weights), self.batches[k % len(self.batches)][0])
        )

    def gradient(self, weights: Arrays, k: int) -> Arrays:
        x, y = self.batches[k % len(self.batches)]
        return self._arrays(self._grad(self._tree(weights), x, y)[1])

    def replay(self, weights: Arrays, grads: Arrays) -> Arrays:
        p, self.s = self._update(self._tree(weights), self.s, self._tree(grads))
        return self._arrays(p)

    def session(self, steps: int):
        return _Session(self)


class _Session:
    """Jitted training steps, parameters and state carried; synced on the parameters."""

    def __init__(self, runner: JaxRunner):
        self.r, self.k = runner, 0

    def sync(self) -> None:
        self.r.jax.block_until_ready((self.r.p, self.r.s))

    def run_steps(self, n: int) -> None:
        r = self.r
        for _ in range(n):
            x, y = r.batches[self.k % len(r.batches)]
            r.p, r.s, *_ = r._train(r.p, r.s, x, y)
            self.k += 1

    def warmup(self) -> float:
        t0 = time.perf_counter()
        self.run_steps(2)  # the jit compiles on the first
        self.sync()
        return time.perf_counter() - t0

    def compile_count(self) -> int:
        return self.r.traces
