"""Problems: hand-derived gradients and references checked against outside sources."""

from __future__ import annotations

import numpy as np
import pytest

from gdbench import registry
from gdbench.numerics.gradcheck import check_gradient, finite_differences
from gdbench.reports.notebook import NotebookGradient, notebook_instance

from .conftest import require

INSTANCES = [
    ("quadratic", {}),
    ("linreg", {}),
    ("linreg", {"n_samples": 50, "features": 3, "seed": 1}),
    ("linreg", {"n_samples": 7, "features": 12, "seed": 2}),  # more features than samples
]


def _instance(name, sizes):
    problem = registry.problems()[name]
    return problem, problem.make(**sizes)


@pytest.mark.parametrize(("name", "sizes"), INSTANCES)
def test_hand_gradient_matches_finite_differences(name, sizes):
    problem, inst = _instance(name, sizes)
    rng = np.random.default_rng(0)
    for w in (inst.w0, inst.w0 + rng.standard_normal(inst.w0.shape)):
        hand = problem.grad(w, **inst.data)
        fd = finite_differences(problem, w, inst.data)
        np.testing.assert_allclose(hand, fd, rtol=1e-6, atol=1e-7)


@require("torch")
@pytest.mark.parametrize(("name", "sizes"), INSTANCES)
def test_hand_gradient_matches_torch_autograd(name, sizes):
    import torch

    problem, inst = _instance(name, sizes)
    w = torch.tensor(inst.w0 + 0.5, dtype=torch.float64, requires_grad=True)
    data = {k: torch.tensor(v) for k, v in inst.data.items()}
    problem.loss(w, **data).backward()
    np.testing.assert_allclose(
        problem.grad(inst.w0 + 0.5, **inst.data), w.grad.numpy(), rtol=1e-12, atol=1e-12
    )
    assert check_gradient(problem, inst).ok


def test_notebook_gradient_is_caught_with_its_ratio():
    # The notebook's np.dot(2*X, Y_pred-Y).mean(): -120 at w = 0 where the truth is -30.
    check = check_gradient(NotebookGradient(), notebook_instance(2.0))
    assert not check.ok
    assert check.hand == pytest.approx([-120.0])
    assert check.finite_diff == pytest.approx([-30.0], rel=1e-8)
    assert check.ratio == pytest.approx(4.0)
    assert "N = 4 times too large" in check.explanation


def test_a_factor_of_two_is_caught_too():
    class Halved(type(registry.problems()["linreg"])):
        def grad(self, w, X, y):
            return super().grad(w, X, y) / 2

    check = check_gradient(Halved(), registry.problems()["linreg"].make(30, 2, 0))
    assert not check.ok and check.ratio == pytest.approx(0.5)


def test_quadratic_reference_is_the_notebook_closed_form():
    problem = registry.problems()["quadratic"]
    ref, source = problem.closed_form(problem.make(), 0.1, 15)
    k = np.arange(1, 16)
    np.testing.assert_allclose(ref.w, 10 * 0.8**k, rtol=1e-15)
    assert (ref.loss[0], ref.grad[0], ref.w[0]) == (100.0, 20.0, 8.0)  # the notebook's Epoch 1
    assert "closed form" in source


@pytest.mark.parametrize(("name", "sizes"), INSTANCES[1:])
def test_linreg_closed_form_matches_float64_iteration(name, sizes):
    # The reference (eigendecomposition) against the plain float64 iteration it solves.
    problem, inst = _instance(name, sizes)
    ref, _ = problem.closed_form(inst, 0.05, 60)
    w = inst.w0.copy()
    for k in range(60):
        loss = float(((inst.data["X"] @ w - inst.data["y"]) ** 2).mean())
        g = problem.grad(w, **inst.data)
        w = w - 0.05 * g
        scale = max(1.0, float(np.abs(ref.w).max()))
        assert ref.loss[k] == pytest.approx(loss, rel=1e-10, abs=1e-13)
        np.testing.assert_allclose(ref.grad[k], g, atol=1e-11 * scale)
        np.testing.assert_allclose(ref.w[k], w, atol=1e-12 * scale)


def test_linreg_default_is_the_notebook_data():
    inst = registry.problems()["linreg"].make()
    np.testing.assert_array_equal(inst.data["X"][:, 0], [1, 2, 3, 4])
    np.testing.assert_array_equal(inst.data["y"], [2, 4, 6, 8])
    assert inst.w0.tolist() == [0.0]


def test_generated_data_is_seeded():
    p = registry.problems()["linreg"]
    a, b, c = p.make(20, 3, 5), p.make(20, 3, 5), p.make(20, 3, 6)
    np.testing.assert_array_equal(a.data["X"], b.data["X"])
    assert not np.array_equal(a.data["X"], c.data["X"])
    assert a.data["X"].shape == (20, 3)


def test_a_plug_in_with_the_old_reference_method_is_told_its_new_name():
    # Problem.reference became Problem.closed_form: a plug-in still defining reference
    # would have its closed form ignored without a word.
    class Old(type(registry.problems()["quadratic"])):
        name = "old-style"

        def reference(self, inst, lr, steps):
            return self.closed_form(inst, lr, steps)

    with pytest.raises(ValueError, match="name it closed_form"):
        registry.register_problem(Old())
    assert "old-style" not in registry.problems()
