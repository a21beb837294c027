"""The products as an expert writes them (gdbench.products) and the eager modes' data layout:
the same numbers as the plain formula, and each mode really holds the layout it claims."""

from __future__ import annotations

import numpy as np
import pytest

from gdbench import registry
from gdbench.backend import Setup
from gdbench.products import matvec, plain
from tests.conftest import require


def _data(d: int):
    rng = np.random.default_rng(3)
    return rng.standard_normal((50, d)), rng.standard_normal(d)


@pytest.mark.parametrize("d", [1, 4])
def test_matvec_is_the_float64_product(d):
    X, w = _data(d)
    expected = np.einsum("nd,d->n", X, w)  # summed in another order than BLAS's gemv
    np.testing.assert_allclose(matvec(X, w), expected, rtol=1e-13, atol=1e-13)
    with plain():
        np.testing.assert_allclose(matvec(X, w), expected, rtol=1e-13, atol=1e-13)


@require("torch")
@pytest.mark.parametrize("d", [1, 4])
def test_matvec_and_its_torch_gradient(d):
    import torch

    X, w = _data(d)
    r = np.random.default_rng(4).standard_normal(len(X))
    Xt, rt = torch.tensor(X), torch.tensor(r)
    wt = torch.tensor(w, requires_grad=True)
    (matvec(Xt, wt) @ rt).backward()
    # d/dw (Xw)·r = Xᵀr
    np.testing.assert_allclose(wt.grad.numpy(), X.T @ r, rtol=1e-12)
    np.testing.assert_allclose(matvec(Xt, wt).detach().numpy(), X @ w, rtol=1e-13)


@require("jax")
def test_matvec_on_jax_arrays_at_d1():
    from gdbench.frameworks import import_jax

    jnp = import_jax().numpy
    X, w = _data(1)
    np.testing.assert_allclose(
        np.asarray(matvec(jnp.asarray(X, jnp.float32), jnp.asarray(w, jnp.float32))),
        X[:, 0] * w[0],
        rtol=1e-6,
    )


def test_plain_is_restored_after_an_exception():
    X, w = _data(1)
    with pytest.raises(RuntimeError), plain():
        raise RuntimeError("inside")
    from gdbench import products

    assert products._PLAIN == [False]
    assert matvec(X, w).shape == (50,)


def _session(backend: str, mode: str, d: int = 3):
    problem = registry.problems()["linreg"]
    inst = problem.make(n_samples=40, features=d)
    setup = Setup(lr=0.01, dtype="float32", device="cpu", mode=mode)
    return registry.backends()[backend].prepare(problem, inst, setup)


def test_numpy_eager_stores_x_column_major_and_naive_as_given():
    assert _session("numpy", "eager").data["X"].flags.f_contiguous
    naive = _session("numpy", "naive").data["X"]
    assert naive.flags.c_contiguous and not naive.flags.f_contiguous


@require("torch")
def test_torch_eager_stores_x_column_major_and_naive_as_given():
    assert _session("torch-autograd", "eager").data["X"].stride() == (1, 40)
    assert _session("torch-autograd", "naive").data["X"].stride() == (3, 1)


@require("torch")
@pytest.mark.parametrize("backend", ["numpy", "torch-autograd"])
def test_eager_and_naive_give_the_same_trajectory(backend):
    """The layout and the product change the call, not the numbers: NumPy at D = 1 bit for
    bit (one product a sample, the same Xᵀr), otherwise within float32 summation order
    (torch's backward of the scaling sums g·x where the naive one calls a dot product)."""
    exact = backend == "numpy"
    for d, rtol in ((1, 0.0 if exact else 1e-5), (3, 1e-5)):
        a = _session(backend, "eager", d).trajectory(20)
        b = _session(backend, "naive", d).trajectory(20)
        np.testing.assert_allclose(a.w, b.w, rtol=rtol, atol=1e-6 if rtol else 0.0)
        np.testing.assert_allclose(a.loss, b.loss, rtol=rtol or 0.0)
