"""Checks a hand-derived gradient against finite differences and autodiff, in float64."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdbench.compat.containment import TimeLimit
from gdbench.numerics.autodiff import float64_gradient
from gdbench.problem import Instance, Problem

# Both sides are float64: autodiff should match to rounding, central differences to
# their truncation and cancellation error (about 1e-10 relative for h ~ 1e-6).
AUTODIFF_RTOL = 1e-8
FD_RTOL = 1e-5


@dataclass(frozen=True)
class GradCheck:
    """The hand-derived gradient at ``w`` beside two independent ones.

    ``ratio`` is the least-squares factor hand ≈ ratio · autodiff (1 for a right gradient);
    ``rel_err_*`` are ‖hand − other‖∞ / ‖other‖∞.
    """

    problem: str
    w: np.ndarray
    hand: np.ndarray
    finite_diff: np.ndarray
    autodiff: np.ndarray | None
    autodiff_source: str
    rel_err_fd: float
    rel_err_autodiff: float | None
    ratio: float
    ok: bool
    explanation: str


def finite_differences(problem: Problem, w: np.ndarray, data: dict, h: float = 1e-6):
    w = np.asarray(w, dtype=np.float64)
    g = np.zeros_like(w)
    for i in np.ndindex(w.shape):
        step = h * max(1.0, abs(float(w[i])))
        wp, wm = w.copy(), w.copy()
        wp[i] += step
        wm[i] -= step
        g[i] = (float(problem.loss(wp, **data)) - float(problem.loss(wm, **data))) / (2 * step)
    return g


def _rel(a, b) -> float:
    scale = float(np.abs(b).max()) if np.size(b) else 0.0
    err = float(np.abs(a - b).max()) if np.size(b) else 0.0
    return err / scale if scale > 0 else err


def explain(ratio: float, n_samples: int) -> str:
    if not np.isfinite(ratio):
        return "the hand-derived gradient is not finite"
    if n_samples > 1 and abs(ratio - n_samples) < 1e-6 * n_samples:
        return (
            f"the hand-derived gradient is N = {n_samples} times too large: it sums over "
            "the samples where the loss takes their mean (np.dot already sums, so a "
            "following .mean() of that scalar divides by 1, not N)"
        )
    if n_samples > 1 and abs(ratio * n_samples - 1) < 1e-6:
        return f"the hand-derived gradient is N = {n_samples} times too small"
    if abs(ratio - 2) < 1e-6 or abs(ratio - 0.5) < 1e-6:
        return f"the hand-derived gradient is off by a factor {ratio:g} (the 2 of the square?)"
    if abs(ratio + 1) < 1e-6:
        return "the hand-derived gradient has the wrong sign"
    return f"the hand-derived gradient is not a multiple of the true one (ratio {ratio:.6g})"


def check_gradient(problem: Problem, inst: Instance, w: np.ndarray | None = None) -> GradCheck:
    """Compares ``problem.grad`` with central differences and a float64 autodiff gradient."""
    w = np.asarray(inst.w0 if w is None else w, dtype=np.float64)
    data = {k: np.asarray(v, dtype=np.float64) for k, v in inst.data.items()}
    fd = finite_differences(problem, w, data)
    grad_fn, source = float64_gradient(problem)
    ad = None if source.startswith("hand") else grad_fn(w, data)
    truth = ad if ad is not None else fd
    try:
        with np.errstate(all="ignore"):
            hand = np.asarray(problem.grad(w, **data), dtype=np.float64)
        if hand.shape != truth.shape:
            raise ValueError(f"shape {hand.shape} where the parameters are {truth.shape}")
    except TimeLimit:  # --cell-timeout: the whole check stops, not this point alone
        raise
    except Exception as exc:  # a user's gradient: what broke is the finding
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        text = f"the hand-derived gradient raised {type(exc).__name__}: {first}"
        nan = np.full_like(truth, np.nan)
        rel_ad = None if ad is None else np.inf
        return GradCheck(problem.name, w, nan, fd, ad, source, np.inf, rel_ad, np.nan, False, text)
    denom = float(np.vdot(truth, truth))
    ratio = float(np.vdot(hand, truth) / denom) if denom > 0 else float("nan")
    rel_fd = _rel(hand, fd)
    rel_ad = _rel(hand, ad) if ad is not None else None
    ok = rel_fd <= FD_RTOL and (rel_ad is None or rel_ad <= AUTODIFF_RTOL)
    text = "the hand-derived gradient agrees"
    if not ok:
        text = problem.diagnose(inst, hand, truth) or explain(ratio, inst.n_samples)
    return GradCheck(problem.name, w, hand, fd, ad, source, rel_fd, rel_ad, ratio, ok, text)


def format_check(c: GradCheck) -> list[str]:
    def show(a):
        return np.array2string(np.asarray(a), precision=6, separator=", ", threshold=12)

    lines = [
        f"gradient check of {c.problem!r} at w = {show(c.w)}:",
        f"  hand-derived       {show(c.hand)}",
        f"  finite differences {show(c.finite_diff)}   (rel. error {c.rel_err_fd:.3g})",
    ]
    if c.autodiff is not None:
        lines.append(
            f"  autodiff ({c.autodiff_source}) {show(c.autodiff)}   "
            f"(rel. error {c.rel_err_autodiff:.3g})"
        )
    lines.append(f"  ratio hand/true = {c.ratio:.6g}: {'OK' if c.ok else 'WRONG'}, {c.explanation}")
    return lines


# Where gradcheck looks (``--at``): the start, seeded random points, the reference's path.
POINTS = ("w0", "random", "trajectory")
# Every kind by default: a branch that neither the start nor a random point visits (a Huber
# loss's quadratic part, |r| ≤ δ, where the run converges) is where the run goes.
DEFAULT_POINTS = POINTS
RANDOM_POINTS = 3
TRAJECTORY_POINTS = 3  # a quarter, half and the end of the reference
POINT_COUNTS = {"w0": 1, "random": RANDOM_POINTS, "trajectory": TRAJECTORY_POINTS}


@dataclass(frozen=True)
class Point:
    """A point to check the gradient at, and how it was chosen (for the printed line)."""

    label: str
    w: np.ndarray


def parse_points(value: str | None) -> tuple[str, ...]:
    """``--at``: w0, random, trajectory, all, or a comma list of the first three."""
    from gdbench.errors import UsageError

    if value is None:
        return DEFAULT_POINTS
    names = [v.strip() for v in str(value).split(",") if v.strip()]
    if names == ["all"]:
        return POINTS
    bad = [n for n in names if n not in POINTS]
    if not names or bad:
        raise UsageError(
            f"--at takes w0, random, trajectory, all or a comma list of the first three, "
            f"got {value!r}"
        )
    return tuple(dict.fromkeys(names))


def points(problem: Problem, inst: Instance, where: tuple[str, ...], seed: int = 0) -> list[Point]:
    """The points ``where`` names. Random points are w0 + N(0, s²) draws, s = max(1,
    max|w0|) (the data's scale where w0 is zero: standardised data has weights of order
    1), seeded; trajectory points are the float64 reference's iterates at a quarter, half
    and the end of the problem's default steps (plain gradient descent at its default rate:
    where a run goes)."""
    w0 = np.asarray(inst.w0, dtype=np.float64)
    out = [Point("w0", w0)] if "w0" in where else []
    if "random" in where:
        rng = np.random.default_rng(seed)
        scale = max(1.0, float(np.abs(w0).max()) if w0.size else 1.0)
        for i in range(RANDOM_POINTS):
            w = w0 + scale * rng.standard_normal(w0.shape)
            out.append(Point(f"random point {i + 1} of {RANDOM_POINTS} (seed {seed})", w))
    if "trajectory" in where:
        from gdbench.numerics.reference import float64_iteration

        steps = max(int(problem.default_steps), 1)
        traj, _ = float64_iteration(problem, inst, problem.default_lr, steps)
        for k in sorted({max(traj.steps // 4, 1), max(traj.steps // 2, 1), traj.steps}):
            if k <= traj.steps:
                out.append(Point(f"the reference's step {k}", np.asarray(traj.w[k - 1])))
    return out


def check_at(problem: Problem, inst: Instance, where: tuple[str, ...], seed: int = 0):
    """``[(point, GradCheck)]`` at every point ``where`` names, in order."""
    return [(p, check_gradient(problem, inst, p.w)) for p in points(problem, inst, where, seed)]
