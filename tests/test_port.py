"""``gdbench.port``: a user's PyTorch training step against their ports of it.

The verdicts are promises: a faithful JAX port and a refactored PyTorch module agree; the
three mistakes ports make are each caught in float32 and named (stage, step, parameter);
a port of the built-in classifier written as a user would agrees with gdbench's own
classifier cells; bad input is one line, a failing candidate an error row."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gdbench
from gdbench import UsageError

from . import port_models as pm
from .conftest import ROOT

pytest.importorskip("torch")
pytest.importorskip("optax")


def _port(candidates, steps=10, **kw):
    model, opt, loss = pm.torch_mlp()
    kw.setdefault("param_map", pm.PARAM_MAP)
    return gdbench.port(
        (model, opt, loss),
        candidates,
        pm.data(),
        batch_size=32,
        steps=steps,
        timing=kw.pop("timing", False),
        **kw,
    )


@pytest.fixture(scope="module")
def port_mistakes():
    return _port(
        {
            "faithful": pm.jax_port(),
            "tanh gelu": pm.jax_port(gelu_tanh=True),
            "ln eps 1e-6": pm.jax_port(ln_eps=1e-6),
            "default decay": pm.jax_port(default_decay=True),
        }
    )


def test_the_faithful_port_agrees_in_both_dtypes(port_mistakes):
    assert port_mistakes.verdict("faithful", "float32") == "agrees"
    assert port_mistakes.verdict("faithful", "float64") == "agrees"
    row = port_mistakes.table.set_index(["candidate", "dtype"]).loc[("faithful", "float32")]
    assert row["error_ratio"] < 5 and row["max_rel_dev"] < row["tol"]


@pytest.mark.parametrize(
    "name, stage",
    [
        ("tanh gelu", "forward output"),
        ("ln eps 1e-6", "forward output"),
        ("default decay", "update"),
    ],
)
def test_each_mistake_disagrees_in_float32_named_by_stage_step_and_parameter(
    port_mistakes, name, stage
):
    assert port_mistakes.verdict(name, "float32") == "disagrees"
    first = port_mistakes.divergence(name, "float32")
    assert first is not None and (first.stage, first.step) == (stage, 1)
    assert first.parameter in pm.PARAM_MAP and first.ratio > 5
    row = port_mistakes.table.set_index(["candidate", "dtype"]).loc[(name, "float32")]
    assert row["first_stage"] == stage and "the mathematics, not the precision" in row["detail"]


def test_the_stage_check_flags_no_stage_of_the_faithful_port():
    """The stages of a correct port, each on the reference's inputs, stay within five
    times the reference code's own float32 deviation at every step."""
    from gdbench.ports import engine, stages
    from gdbench.ports.mapping import Link
    from gdbench.ports.models import JaxModel, TorchModel
    from gdbench.ports.recording import record
    from gdbench.ports.torch_side import TorchRunner, shapes

    model, opt, loss = pm.torch_mlp()
    X, y = pm.data()
    ref = TorchModel(model, opt, loss)
    names = shapes(model)
    w0 = {n: p.detach().double().numpy() for n, p in model.named_parameters()}
    batches = engine.batches(X.astype(np.float64), y, 32, 0)
    ref64 = TorchRunner(model, opt, loss, [Link(n, n) for n in names])
    ref64.load(batches, "float64")
    truth = record(ref64, w0, list(names), 10)
    own = TorchRunner(model, opt, loss, [Link(n, n) for n in names])
    own.load(batches, "float32")
    port = engine.runner(JaxModel(*pm.jax_port(), param_map=pm.PARAM_MAP), ref, names, "jax")
    port.load(batches, "float32")
    base = stages.deviations(own, truth, w0, names, 10)
    mine = stages.deviations(port, truth, w0, names, 10)
    assert stages.first_divergence(mine, base, list(names), "float32") is None
    # and the same check names the wrong GELU at its first forward pass
    wrong = engine.runner(
        JaxModel(*pm.jax_port(gelu_tanh=True), param_map=pm.PARAM_MAP), ref, names, "jax"
    )
    wrong.load(batches, "float32")
    bad = stages.deviations(wrong, truth, w0, names, 10)
    assert stages.first_divergence(bad, base, list(names), "float32").stage == "forward output"


def test_a_refactored_torch_module_agrees_and_its_names_map():
    from torch import nn

    class Sequential(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(
                nn.Linear(64, 128), nn.LayerNorm(128), nn.GELU(), nn.Linear(128, 10)
            )

        def forward(self, x):
            return self.net(x)

    names = dict(
        zip(
            pm.PARAM_MAP,
            [
                "net.0.weight",
                "net.0.bias",
                "net.1.weight",
                "net.1.bias",
                "net.3.weight",
                "net.3.bias",
            ],
            strict=True,
        )
    )
    r = _port({"sequential": gdbench.TorchModel(Sequential(), param_map=names)}, param_map=None)
    assert r.verdict("sequential", "float32") == "agrees"
    assert r.verdict("sequential", "float64") == "agrees"


def test_a_users_port_of_the_classifier_agrees_with_gdbenchs_own_cells():
    """The built-in classifier (20-32-3, relu, batches of 16, SGD lr 0.1), ported as a user
    would: torch nn.Sequential and a JAX pytree with optax.sgd, from gdbench's w0 and data
    at the same seed. The port's float64 reference follows gdbench's own float64 cell step
    by step (the same batch schedule), and the JAX port agrees with it."""
    import jax.numpy as jnp
    import optax
    import torch
    import torch.nn.functional as F
    from torch import nn

    from gdbench import registry

    settings = {"layers": "20-32-3", "batch": 16, "activation": "relu"}
    problem = registry.problems()["classifier"].configured(settings)
    inst = problem.make(n_samples=128, features=20, seed=3)
    cells = gdbench.run(
        problem="classifier",
        problem_opt=settings,
        backend="numpy",
        optimizer="sgd",
        lr=0.1,
        steps=12,
        n_samples=128,
        features=20,
        seed=3,
        dtype="float64",
        timing=False,
        progress=False,
    )
    assert list(cells.summary["verdict"]) == ["agrees"]
    own = cells.trajectories[cells.trajectories["backend"] == "numpy"]
    w_cols = [c for c in own.columns if c.startswith("w_")]
    assert len(w_cols) == len(inst.w0)

    (W1, b1), (W2, b2) = problem.unpack(inst.w0, [20, 32, 3])
    # float64, so that the module holds gdbench's w0 exactly (float32 would round it)
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 3)).double()
    with torch.no_grad():
        for p, v in zip(model.parameters(), (W1, b1, W2, b2), strict=True):
            p.copy_(torch.as_tensor(v))
    params = {
        "W1": jnp.asarray(W1.T),
        "b1": jnp.asarray(b1),
        "W2": jnp.asarray(W2.T),
        "b2": jnp.asarray(b2),
    }

    def apply(p, x):
        h = jnp.maximum(x @ p["W1"] + p["b1"], 0)
        return h @ p["W2"] + p["b2"]

    def loss(logits, y):
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    labels = inst.data["Y"].argmax(axis=1)
    r = gdbench.port(
        (model, lambda p: torch.optim.SGD(p, lr=0.1), F.cross_entropy),
        {"jax": (params, apply, optax.sgd(0.1), loss)},
        (inst.data["X"], labels),
        batch_size=16,
        steps=12,
        seed=3,
        timing=False,
        param_map={"0.weight": "W1.T", "0.bias": "b1", "2.weight": "W2.T", "2.bias": "b2"},
    )
    mine = r.recordings["reference"]["float64"].traj
    theirs_w = own[w_cols].to_numpy()
    scale = np.abs(theirs_w).max()
    assert np.abs(mine.w - theirs_w).max() / scale < 1e-12
    assert np.allclose(mine.loss, own["loss"].to_numpy(), rtol=1e-12)
    assert r.verdict("jax", "float32") == "agrees" and r.verdict("jax", "float64") == "agrees"


# Bad input: one line, before any work ------------------------------------------------------


def test_parameters_that_cannot_be_matched_are_listed():
    with pytest.raises(UsageError, match=r"fc1.bias \(128,\), ln.weight \(128,\)") as e:
        _port({"jax": pm.jax_port()}, param_map=None)
    assert "param_map=" in str(e.value) and "\n" not in str(e.value)


def test_a_mis_shaped_or_unknown_map_entry_is_named():
    wrong = {**pm.PARAM_MAP, "fc1.weight": "fc1/w"}
    with pytest.raises(UsageError, match=r"fc1.weight \(128, 64\) is mapped to fc1/w .*add \.T"):
        _port({"jax": pm.jax_port()}, param_map=wrong)
    with pytest.raises(UsageError, match="which jax lacks"):
        _port({"jax": pm.jax_port()}, param_map={**pm.PARAM_MAP, "fc1.bias": "fc1/bias"})
    with pytest.raises(UsageError, match="which the reference lacks"):
        _port({"jax": pm.jax_port()}, param_map={**pm.PARAM_MAP, "fc3.bias": "fc1/b"})


def test_shapes_alone_match_where_unambiguous_and_transposed_kernels_are_found():
    from gdbench.ports.mapping import MappingError, resolve

    ref = {"a.weight": (4, 3), "a.bias": (4,), "b.weight": (2, 4)}
    cand = {"k1": (3, 4), "k2": (4, 2), "bias": (4,)}
    links = resolve(ref, cand, None, "jax", transposes=True)
    assert [(x.key, x.transpose) for x in links] == [("k1", True), ("bias", False), ("k2", True)]
    with pytest.raises(MappingError, match="square"):
        resolve({"w": (3, 3)}, {"k": (3, 3)}, None, "jax", transposes=True)
    assert resolve({"w": (3, 3)}, {"k": (3, 3)}, {"w": "k.T"}, "jax", True)[0].transpose


def test_non_finite_data_and_bad_numbers_are_refused():
    model, opt, loss = pm.torch_mlp()
    X, y = pm.data()
    X[5, 3] = np.nan
    with pytest.raises(UsageError, match=r"X holds 1 non-finite value \(the first at \(5, 3\)\)"):
        gdbench.port((model, opt, loss), {"jax": pm.jax_port()}, (X, y), param_map=pm.PARAM_MAP)
    X, y = pm.data()
    for kw, text in [
        ({"batch_size": 0}, "batch_size"),
        ({"steps": 1.5}, "steps"),
        ({"batch_size": 10_000}, "batch_size"),
    ]:
        with pytest.raises(UsageError, match=text):
            gdbench.port((model, opt, loss), {"jax": pm.jax_port()}, (X, y), **kw)
    with pytest.raises(UsageError, match="X has 512 rows and y 3"):
        gdbench.port((model, opt, loss), {"jax": pm.jax_port()}, (X, y[:3]))
    with pytest.raises(UsageError, match="candidate 'jax' is a str"):
        gdbench.port((model, opt, loss), {"jax": "jax"}, (X, y))


def test_a_failing_candidate_is_an_error_row_and_the_others_are_judged():
    params, _, tx, loss = pm.jax_port()

    def raises(p, x):
        raise ValueError("the port's apply is unfinished")

    def wide(p, x):  # returns the hidden layer: the wrong shape
        return x @ p["fc1"]["w"]

    r = _port(
        {
            "raises": (params, raises, tx, loss),
            "wide": (params, wide, tx, loss),
            "faithful": pm.jax_port(),
        }
    )
    t = r.table.set_index(["candidate", "dtype"])
    assert t.loc[("raises", "float32"), "error"] == "ValueError: the port's apply is unfinished"
    assert (
        "outputs have shape (32, 128), the reference's (32, 10)"
        in t.loc[("wide", "float64"), "error"]
    )
    assert r.verdict("faithful") == "agrees" and not r.ok
    assert re.search(r"raises +float32 +error", str(r)) and repr(r) == str(r)


def test_a_reference_whose_loss_is_not_a_scalar_is_refused():
    import torch.nn.functional as F

    model, opt, _ = pm.torch_mlp()
    per_row = lambda out, y: F.cross_entropy(out, y, reduction="none")  # noqa: E731
    with pytest.raises(UsageError, match=r"reference: the loss returns shape \(32,\)"):
        gdbench.port(
            (model, opt, per_row), {"jax": pm.jax_port()}, pm.data(), param_map=pm.PARAM_MAP
        )


def test_timing_gives_each_candidate_a_ratio_with_its_interval():
    import os

    import torch

    before = (torch.get_num_threads(), os.sched_getaffinity(0))
    r = _port({"faithful": pm.jax_port()}, steps=3, timing=True, rounds=2, threads=1)
    row = r.table.set_index(["candidate", "dtype"]).loc[("faithful", "float32")]
    assert row["time_per_step_s"] > 0 and row["time_per_step_iqr_s"] >= 0
    assert row["time_ratio_low"] <= row["time_ratio"] <= row["time_ratio_high"]
    assert row["threads"] == 1 and "on 1 CPU threads" in str(r)
    assert (torch.get_num_threads(), os.sched_getaffinity(0)) == before  # restored


def test_a_compiled_torch_candidate_agrees_and_its_compilation_is_off_the_clock():
    model = pm.torch_mlp()[0]
    r = _port(
        {"compiled": gdbench.TorchModel(model, compile=True)},
        steps=3,
        timing=True,
        rounds=1,
        param_map=None,
    )
    row = r.table.set_index(["candidate", "dtype"]).loc[("compiled", "float32")]
    assert r.verdict("compiled") == "agrees" and r.verdict("compiled", "float64") == "agrees"
    # inductor compiles in the warm-up: seconds, against steps of a millisecond or less
    assert row["compile_s"] > 20 * row["time_per_step_s"]


def test_the_command_runs_a_users_file_and_exits_1_on_a_disagreement(tmp_path):
    file = tmp_path / "port_me.py"
    file.write_text(
        textwrap.dedent("""
        from tests import port_models as pm
        reference = pm.torch_mlp()
        candidates = {"faithful": pm.jax_port(), "tanh": pm.jax_port(gelu_tanh=True)}
        data = pm.data()
        param_map = pm.PARAM_MAP
        steps = 4
    """)
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "gdbench", "port", str(file), "--no-timing", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 1, done.stderr
    assert "step 1: " in done.stdout and "forward output" in done.stdout
    assert {p.name for p in out.iterdir()} >= {"port.csv", "deviations.csv"}
    import pandas as pd

    table = pd.read_csv(out / "port.csv")
    assert list(table["verdict"]) == ["agrees", "agrees", "disagrees", "disagrees"]
    broken = tmp_path / "broken.py"
    broken.write_text("reference = 1\ncandidates = {}\n")
    done = subprocess.run(
        [sys.executable, "-m", "gdbench", "port", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "defines no data" in done.stderr
