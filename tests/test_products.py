"""The products as an expert writes them (gdbench.compat.products) and the eager modes' data layout:
the same numbers as the plain formula, and each mode really holds the layout it claims."""

from __future__ import annotations

import numpy as np
import pytest

from gdbench import registry
from gdbench.compat.products import gram_eigh, gram_top_eigenvalue, matvec, plain
from gdbench.optimizers.sgd import plain_setup
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
    from gdbench.compat.frameworks import import_jax

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
    from gdbench.compat import products

    assert products._PLAIN == [False]
    assert matvec(X, w).shape == (50,)


def _session(backend: str, mode: str, d: int = 3):
    problem = registry.problems()["linreg"]
    inst = problem.make(n_samples=40, features=d)
    setup = plain_setup(0.01, "float32", "cpu", mode)
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


@require("torch")
def test_mean_squared_error_and_its_torch_gradient():
    import torch

    from gdbench.compat.products import mean_squared_error

    rng = np.random.default_rng(5)
    p, y = rng.standard_normal(40), rng.standard_normal(40)
    pt = torch.tensor(p, requires_grad=True)
    loss = mean_squared_error(pt, torch.tensor(y))
    loss.backward()
    np.testing.assert_allclose(loss.item(), np.mean((p - y) ** 2), rtol=1e-13)
    np.testing.assert_allclose(pt.grad.numpy(), 2 * (p - y) / len(p), rtol=1e-12)  # d/dp
    assert mean_squared_error(p, y) == pytest.approx(np.mean((p - y) ** 2), rel=1e-13)
    assert loss.grad_fn.name() == "MseLossBackward0"
    with plain():  # the formula itself, for the naive modes
        assert mean_squared_error(pt, torch.tensor(y)).grad_fn.name() == "MeanBackward0"


def test_allocator_settings_are_recorded(monkeypatch):
    from gdbench.compat.environment import allocator

    monkeypatch.delenv("LD_PRELOAD", raising=False)
    for k in [k for k in __import__("os").environ if k.startswith("MALLOC_")]:
        monkeypatch.delenv(k)
    assert allocator() == "default"
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "4294967296")
    assert allocator() == "MALLOC_MMAP_THRESHOLD_=4294967296"


def test_torch_worker_processes_reuse_freed_memory_and_the_user_s_setting_wins(monkeypatch):
    from gdbench.execution.worker import worker_environment

    for k in [k for k in __import__("os").environ if k.startswith("MALLOC_")]:
        monkeypatch.delenv(k)
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    assert worker_environment(None, "numpy") == {}
    assert worker_environment(None, "jax") == {}
    assert worker_environment(2, "torch-autograd")["MALLOC_MMAP_THRESHOLD_"] == str(2**32)
    assert worker_environment(None, "torch-nn") == {"MALLOC_MMAP_THRESHOLD_": str(2**32)}
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/libjemalloc.so.2")
    assert worker_environment(None, "torch-autograd") == {}


@require("torch")
def test_each_row_records_the_allocator_its_process_ran_with(tmp_path, monkeypatch):
    """Timed cells run in one worker process per backend: torch's with the raised mmap
    threshold, NumPy's with glibc's defaults, and each row says so."""
    import pandas as pd

    from gdbench.cli.commands import main

    for k in [k for k in __import__("os").environ if k.startswith("MALLOC_")]:
        monkeypatch.delenv(k)
    monkeypatch.delenv("LD_PRELOAD", raising=False)
    out = tmp_path / "o"
    args = ["--problem", "quadratic", "--backend", "numpy,torch-autograd", "--out", str(out)]
    assert main([*args, "--time-budget", "0.01"]) == 0
    rows = pd.read_csv(out / "summary.csv").set_index("backend")
    assert rows.loc["numpy", "malloc"] == "default"
    assert rows.loc["torch-autograd", "malloc"] == f"MALLOC_MMAP_THRESHOLD_={2**32}"


@pytest.mark.parametrize(("n", "d"), [(30, 8), (8, 30)])
def test_the_gram_spectrum_is_the_dense_one_from_either_side(n, d):
    # Against eigh of the D×D matrix XᵀX/N itself: the same nonzero eigenvalues, and
    # eigenvectors that it maps onto λ·v, whichever side gram_eigh worked on.
    X = np.random.default_rng(3).standard_normal((n, d))
    dense = np.linalg.eigh(X.T @ X / n)[0][-min(n, d) :]
    lam, V = gram_eigh(X)
    assert V.shape == (d, min(n, d))
    np.testing.assert_allclose(lam, dense, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(X.T @ (X @ V) / n, V * lam, atol=1e-12)
    np.testing.assert_allclose(V.T @ V, np.eye(min(n, d)), atol=1e-12)
    assert gram_top_eigenvalue(X) == pytest.approx(dense[-1], rel=1e-12)
