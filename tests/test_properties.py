"""Property-based: random small problems agree on every backend at stable learning rates,
diverge on every backend past the stability bound 2/λ_max, and the CSVs round-trip."""

from __future__ import annotations

import math

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdbench import registry
from gdbench.numerics.agreement import compare, tolerance
from gdbench.optimizers.sgd import plain_setup
from gdbench.results.schema import SUMMARY_COLUMNS, TEXT_COLUMNS, read_results
from gdbench.results.writer import ResultWriter, clean_text

SETTINGS = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def available_default_modes():
    return [(n, b.default_mode) for n, b in registry.backends().items() if b.available()[0]]


def runs(n, d, seed, lr_fraction, dtype, steps):
    p = registry.problems()["linreg"]
    inst = p.make(n, d, seed)
    lr = lr_fraction * 2 / p.hessian_max_eig(inst)
    ref, _ = p.closed_form(inst, lr, steps)
    for name, mode in available_default_modes():
        s = registry.backends()[name].prepare(p, inst, plain_setup(lr, dtype, "cpu", mode))
        yield name, s.trajectory(steps), ref, tolerance(dtype, steps, n * d)


sizes = dict(
    n=st.integers(2, 40),
    d=st.integers(1, 4),
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from(["float32", "float64"]),
)


@SETTINGS
@given(lr_fraction=st.floats(0.05, 0.9), **sizes)
def test_stable_learning_rates_agree_on_every_backend(n, d, seed, lr_fraction, dtype):
    for name, traj, ref, tol in runs(n, d, seed, lr_fraction, dtype, 30):
        a = compare(traj, ref, tol)
        assert traj.diverged_step is None, name
        assert a.agrees, (name, a.detail, a.max_rel_dev, tol)


@SETTINGS
@given(lr_fraction=st.floats(1.2, 3.0), **sizes)
def test_past_the_stability_bound_every_backend_diverges(n, d, seed, lr_fraction, dtype):
    # The loss then grows by at least (2·1.2 − 1)² ≈ 2 a step along the top eigenvector.
    for name, traj, ref, tol in runs(n, d, seed, lr_fraction, dtype, 400):
        assert ref.diverged_step is not None
        assert traj.diverged_step is not None, name
        assert compare(traj, ref, tol).agrees, name


text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=30)
# Text that breaks naive CSV handling or looks like another type to a reader.
awkward = st.sampled_from(["a,b", 'say "hi"', "line\nbreak", "ünï 漢字 ✓", "1", "nan", "True", ""])
number = st.floats(allow_nan=True, allow_infinity=True)


@SETTINGS
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                **{c: st.one_of(text, awkward) for c in TEXT_COLUMNS if c in SUMMARY_COLUMNS},
                "final_loss": number,
                "max_rel_dev": st.floats(0, 1e300),
            }
        ),
        min_size=1,
        max_size=6,
    )
)
def test_summary_csv_round_trips(rows, tmp_path_factory):
    out = tmp_path_factory.mktemp("csv")
    w = ResultWriter(out)
    for r in rows:
        w.add(dict(r), None)
    back = read_results(out / "summary.csv")
    assert list(back.columns) == SUMMARY_COLUMNS and len(back) == len(rows)
    texts = [c for c in TEXT_COLUMNS if c in SUMMARY_COLUMNS]
    for r, (_, b) in zip(rows, back.iterrows(), strict=True):
        for k in texts:
            got = "" if pd.isna(b[k]) else b[k]
            assert got == clean_text(r[k]), k
        for k in ("final_loss", "max_rel_dev"):
            v, got = r[k], float(b[k])
            assert got == v or (math.isnan(v) and math.isnan(got)), k
