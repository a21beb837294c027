"""The classifier: its hand-derived backprop against finite differences and autodiff, its
mini-batch schedule followed alike by every backend and mode and by the reference, its
FLOP count against torch's own counter, and its settings checked as usage errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gdbench import registry
from gdbench.cli.commands import main
from gdbench.execution.options import problem_names
from gdbench.numerics import agreement
from gdbench.numerics.reference import growth, reference_trajectory
from gdbench.optimizers.sgd import plain_setup
from gdbench.problem import step_batches

from .conftest import backend_mode_params, require

SMALL = {"layers": "6-8-5-3", "batch": 16}


def classifier(**settings):
    return registry.problems()["classifier"].configured({**SMALL, **settings})


def central_differences(p, w, data, h=1e-6):
    g = np.zeros_like(w)
    for i in range(len(w)):
        e = np.zeros_like(w)
        e[i] = h
        g[i] = (p.loss(w + e, **data) - p.loss(w - e, **data)) / (2 * h)
    return g


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_hand_backprop_matches_finite_differences(activation):
    # Widths 16 so that no sample lands on relu's kink (a whole dead row, Z = 0 exactly),
    # where a central difference gives ½ and every library's relu 0.
    p = classifier(layers="7-16-16-4", activation=activation)
    inst = p.make(50, None, 3)
    rng = np.random.default_rng(0)
    w = inst.w0 + 0.1 * rng.standard_normal(inst.w0.shape)  # biases off zero too
    hand = p.grad(w, **inst.data)
    fd = central_differences(p, w, inst.data)
    assert hand.shape == (p.param_count(7),) == (7 * 16 + 16 + 16 * 16 + 16 + 16 * 4 + 4,)
    assert np.abs(hand - fd).max() < 1e-7 * np.abs(fd).max()


def test_relu_at_its_kink_is_what_nn_relu_and_the_hand_gradient_say():
    # The default instance's zero biases put a sample with every unit of the first layer
    # dead at Z = 0 exactly in the second (widths 8: likely in 200 samples): the loss's
    # relu must give derivative 0 there, as nn.ReLU does, not maximum's ½.
    torch = pytest.importorskip("torch")
    p = classifier(layers="6-8-5-3")
    inst = p.make(200, None, 0)
    wt = torch.tensor(inst.w0, requires_grad=True)
    p.loss(wt, **{k: torch.tensor(v) for k, v in inst.data.items()}).backward()
    assert np.abs(wt.grad.numpy() - p.grad(inst.w0, **inst.data)).max() < 1e-14


def test_the_schedule_is_seeded_disjoint_batches_cycled():
    p = classifier()
    inst = p.make(100, None, 5)
    batches = step_batches(p, inst)
    assert len(batches) == 100 // 16
    rows = [tuple(map(tuple, b["X"])) for b in batches]
    flat = [r for b in rows for r in b]
    assert all(len(b) == 16 for b in rows) and len(set(flat)) == len(flat)
    originals = {tuple(r) for r in inst.data["X"]}
    assert set(flat) <= originals
    again = step_batches(p, p.make(100, None, 5))
    assert all(np.array_equal(a["X"], b["X"]) for a, b in zip(batches, again, strict=True))
    other = step_batches(p, p.make(100, None, 6))
    assert not np.array_equal(batches[0]["X"], other[0]["X"])
    # A problem without a batch size (and a batch as large as N) sees the whole data.
    assert step_batches(classifier(batch=100), inst)[0] is inst.data
    linreg = registry.problems()["linreg"]
    assert step_batches(linreg, linreg.make(10, 2, 0))[0]["X"].shape == (10, 2)


def test_the_reference_steps_through_the_batches():
    # Plain SGD by hand over the schedule's batches (cycled after 4) is the reference; the
    # full-batch iteration is not.
    p = classifier()
    inst = p.make(64, None, 1)
    lr, steps = 0.5, 9
    ref, _ = reference_trajectory(p, inst, lr, steps)
    batches = step_batches(p, inst)
    w = inst.w0.copy()
    for k in range(steps):
        w = w - lr * p.grad(w, **batches[k % 4])
    assert np.allclose(ref.w[-1], w, rtol=1e-12, atol=1e-14)
    full = inst.w0.copy()
    for _ in range(steps):
        full = full - lr * p.grad(full, **inst.data)
    assert np.abs(full - w).max() > 1e-3


@pytest.mark.parametrize(("backend", "mode"), backend_mode_params())
def test_every_backend_and_mode_follows_the_schedule(backend, mode):
    p = classifier()
    inst = p.make(64, None, 2)
    opt = registry.optimizers()["adam"]
    hp = opt.resolve({})
    steps, lr = 6, 0.05  # 4 batches: the cycle comes round again
    setup = plain_setup(lr, "float32", "cpu", mode)
    from dataclasses import replace

    s = registry.backends()[backend].prepare(p, inst, replace(setup, optimizer=opt, hyper=hp))
    traj = s.trajectory(steps)
    ref, _ = reference_trajectory(p, inst, lr, steps, opt, hp)
    g = growth(p, inst, lr, steps, opt, hp, ref)
    agr = agreement.judge(traj, ref, "float32", steps, 64 * 6, opt, hp, lr, g)
    assert agr.agrees, agr.detail
    # A second trajectory starts the schedule again (the timer ran steps in between).
    s.run_steps(3)
    assert np.array_equal(s.trajectory(steps).loss, traj.loss)


@require("torch")
def test_flop_count_is_torchs_own_count_of_the_matrix_products():
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    p = classifier(layers="30-40-20-5", batch=12)
    inst = p.make(50, None, 0)
    module = p.torch_nn_module(torch.zeros(p.param_count(30), dtype=torch.float64), inst.data)
    batch = {k: torch.tensor(v[:12]) for k, v in inst.data.items()}
    with FlopCounterMode(display=False) as counter:
        module(**batch).backward()
    assert (
        counter.get_total_flops()
        == p.gemm_flops(inst)
        == 2 * 12 * (3 * (30 * 40 + 40 * 20 + 20 * 5) - 30 * 40)
    )
    assert p.flops_per_step(inst) > p.gemm_flops(inst)


def test_a_bare_run_leaves_the_classifier_out_and_all_takes_it():
    problems = registry.problems()
    assert "classifier" not in problem_names(None, problems)
    assert "classifier" in problem_names("all", problems)


@pytest.mark.parametrize(
    ("setting", "needle"),
    [
        ("layers=784-x-10", "widths joined by '-'"),
        ("layers=784", "at least two widths"),
        ("layers=10-1", "at least 2 classes"),
        ("activation=gelu", "relu or tanh"),
        ("batch=0", "batch must be in"),
    ],
)
def test_bad_settings_are_one_line_usage_errors(setting, needle, capsys, tmp_path):
    argv = ["run", "--problem", "classifier", "--problem-opt", setting, "--no-timing"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err


@require("sklearn")
def test_digits_through_the_data_loader(tmp_path, capsys):
    from gdbench.execution.data import load, open_data

    source = open_data("sklearn:digits", None, False)
    loaded = load(source, False)
    assert loaded.X.shape == (1797, 64) and set(np.unique(loaded.y)) == set(range(10))
    assert loaded.X.min() == 0.0 and loaded.X.max() == 1.0  # pixels 0–16 scaled
    inst = classifier(layers="784-16-10").from_data(loaded.X, loaded.y, 0)
    assert inst.data["Y"].shape == (1797, 10) and inst.w0.size == 64 * 16 + 16 + 16 * 10 + 10
    argv = ["run", "--problem", "classifier", "--data", "sklearn:digits", "--backend", "numpy"]
    argv += ["--problem-opt", "layers=64-16-10", "--steps", "3", "--no-timing"]
    assert main([*argv, "--out", str(tmp_path / "d")]) == 0
    summary = pd.read_csv(tmp_path / "d" / "summary.csv")
    assert (summary.verdict == "agrees").all() and summary.n_samples.iloc[0] == 1797
    capsys.readouterr()
    assert main(["run", "--problem", "classifier", "--data", "sklearn:nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown dataset" in err and len(err.splitlines()) == 1


def test_a_sweep_runs_the_network_its_layers_name(tmp_path, capsys):
    """A sweep's default --features (1, 16) once reached the classifier: rows said
    layers 8-16-3 and ran 1-16-3 and 16-16-3 networks. Its D is its first layer."""
    out = tmp_path / "s"
    argv = ["sweep", "--problem", "classifier", "--problem-opt", "layers=8-16-3,batch=8"]
    argv += ["--n-samples", "32", "--backend", "numpy", "--mode", "eager", "--no-timing"]
    assert main([*argv, "--steps", "2", "--out", str(out)]) == 0
    rows = pd.read_csv(out / "sweep.csv")
    assert rows.features.tolist() == [8]
    # 8·16 + 16 + 16·3 + 3 parameters: the trajectory's w has 195 of them.
    traj = pd.read_csv(out / "trajectories.csv")
    assert len([c for c in traj.columns if c.startswith("w_")]) == 8 * 16 + 16 + 16 * 3 + 3
    capsys.readouterr()
    assert main([*argv, "--features", "16", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "classifier's settings fix D = 8" in err and err.count("\n") == 1
    assert main([*argv, "--features", "8", "--steps", "2", "--out", str(tmp_path / "y")]) == 0


def test_a_sweep_s_roof_size_follows_the_problem_s_own_d(monkeypatch):
    import argparse

    from gdbench.execution.sizes import size_grid

    monkeypatch.setenv("GDBENCH_LLC_BYTES", "1MiB")
    args = argparse.Namespace(n_samples="1e3,roof", features=None, seed="0")
    classifier = registry.problems()["classifier"].configured({"layers": "8-16-3"})
    grid = size_grid(args, single=False, problem=classifier)
    # 4 MiB / (4 B · (8 + 1)) = 116508.4 → 120000; D = 1 (the sweep's default) is not run.
    assert [(g["n_samples"], g["features"]) for g in grid] == [(1000, 8), (120_000, 8)]
    linreg = size_grid(args, single=False, problem=registry.problems()["linreg"])
    assert {g["features"] for g in linreg} == {1, 16}


def test_a_disagreement_names_the_parameter_group_it_starts_in(tmp_path):
    """A hand backprop whose output bias gradient is twice the true one (b2 of 8-16-3):
    the numpy row says b2, where torch's autograd agrees."""
    import gdbench

    base = type(registry.problems()["classifier"])

    class WrongB2(base):
        name = "classifier-wrong-b2"

        def grad(self, w, X, Y):
            g = np.array(super().grad(w, X, Y), dtype=np.float64)
            b2 = self.layout_of(X, Y)["b2"]
            g[b2] *= 2.0
            return g

        def layout_of(self, X, Y):
            return self.layout(gdbench.Instance(self.name, w0=np.zeros(1), data={"X": X, "Y": Y}))

    problem = WrongB2().configured({"layers": "8-16-3", "batch": 8})
    r = gdbench.run(
        problem=problem,
        backend=["numpy", "torch-autograd"],
        n_samples=32,
        features=8,
        steps=5,
        timing=False,
        progress=False,
    )
    rows = r.summary.set_index("backend")
    assert rows.loc["torch-autograd", "verdict"] == "agrees"
    assert rows.loc["numpy", "verdict"] == "disagrees"
    assert "of the parameters, b2 first, from step 1" in rows.loc["numpy", "reason"]
    # trajectories.csv's dev_GROUP columns: b2 is the group far off, from step 1
    traj = r.trajectories
    numpy = traj[traj.backend == "numpy"].set_index("step")
    devs = numpy[["dev_W1", "dev_b1", "dev_W2", "dev_b2"]]
    assert devs.loc[1].idxmax() == "dev_b2" and devs.loc[1, "dev_b2"] > 1e-3
    torch = traj[traj.backend == "torch-autograd"]
    assert torch[["dev_W1", "dev_b1", "dev_W2", "dev_b2"]].max().max() < 1e-5
    layout = problem.layout(problem.make(32, 8))
    assert list(layout) == ["W1", "b1", "W2", "b2"]
    assert [s.stop - s.start for s in layout.values()] == [16 * 8, 16, 3 * 16, 3]
