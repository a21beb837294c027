"""The agreement rule: deviations scaled by the reference, dtype tolerances, divergence."""

from __future__ import annotations

import numpy as np
import pytest

from gdbench.numerics.agreement import compare, tolerance
from gdbench.trajectory import Trajectory


def traj(w, **kw):
    w = np.asarray(w, dtype=float)
    return Trajectory(loss=w**2, grad=2 * w, w=w, **kw)


def test_tolerance_scales_with_dtype_steps_and_size():
    assert tolerance("float64", 100) < 1e-12 < tolerance("float32", 100) < 1e-3
    assert tolerance("float32", 200) == 2 * tolerance("float32", 100)
    assert tolerance("float32", 100, 10**6) > tolerance("float32", 100, 4)


def test_identical_trajectories_agree():
    ref = traj(10 * 0.8 ** np.arange(1, 16))
    a = compare(ref, ref, tolerance("float32", 15))
    assert a.agrees and a.max_rel_dev == 0 and a.first_bad_step is None


def test_first_step_outside_the_tolerance_is_reported():
    w = 10 * 0.8 ** np.arange(1, 16)
    run = w.copy()
    run[6:] *= 1 + 1e-3  # from step 7 on
    a = compare(traj(run), traj(w), tolerance("float32", 15))
    assert not a.agrees and a.first_bad_step == 7
    assert "step 7" in a.detail
    assert a.max_rel_dev == pytest.approx(1e-3 * w[6] / w[0])  # parameters, scaled by max|w|


def test_a_run_diverging_alone_disagrees():
    ref = traj([8.0, 6.4, 5.12])
    run = traj([8.0, 6.4, np.inf], diverged_step=3)
    a = compare(run, ref, 1e-5)
    assert not a.agrees and "diverged at step 3" in a.detail


def test_runs_diverging_with_the_reference_agree():
    ref = traj([-20.0, 40.0, np.inf], diverged_step=3)
    run = traj([-20.0, 40.0, np.nan], diverged_step=3)
    assert compare(run, ref, 1e-5).agrees


def test_divergence_is_found_by_growth_not_only_nan():
    k = np.arange(15)
    t = Trajectory.from_steps(100 * 4.0**k, 20 * (-2.0) ** k, 10 * (-2.0) ** (k + 1))
    assert t.diverged_step == 11 and t.steps == 11


def test_the_verdict_reruns_in_float64_only_a_float32_run_outside_the_tolerance():
    # The notebook's w² at lr 0.1 in closed form is the reference; a run 1e-3 off it is
    # outside any float32 tolerance. Rerun in float64 exactly on the reference: imprecise;
    # still off: disagrees; a float64 run, or one that agrees, is never rerun.
    from gdbench import registry
    from gdbench.numerics.verdict import Verdict, judgement
    from gdbench.optimizers.sgd import SGD
    from gdbench.trajectory import Trajectory

    problem = registry.problems()["quadratic"]
    ref, _ = problem.closed_form(problem.make(), 0.1, 15)
    off = Trajectory(ref.loss * 1.001, ref.grad * 1.001, ref.w * 1.001)

    def never():
        raise AssertionError("rerun in float64 where no rerun was needed")

    def judge_(traj, dtype, again):
        return judgement(traj, ref, dtype, 15, 1, SGD(), {}, 0.1, 1.0, again, ref)

    assert judge_(ref, "float32", never).verdict is Verdict.AGREES
    imprecise = judge_(off, "float32", lambda: ref)
    assert imprecise.verdict is Verdict.IMPRECISE and "float32 rounding" in imprecise.detail
    wrong = judge_(off, "float32", lambda: off)
    assert wrong.verdict is Verdict.DISAGREES and "the mathematics" in wrong.detail
    assert judge_(off, "float64", never).verdict is Verdict.DISAGREES
    assert Verdict.of("imprecise") is Verdict.IMPRECISE and Verdict.of("") is None
    assert f"{Verdict.AGREES}" == "agrees"  # what summary.csv and the tables show
