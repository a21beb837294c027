"""The float64 reference trajectory that every run is compared with.

Plain gradient descent keeps the problem's own reference (a closed form where it has one).
Every other optimizer, and every problem without a closed form, gets the float64 iteration
of gdbench's specification of the update with an *autodiff* gradient of the loss (torch,
else JAX), so that neither a wrong hand-derived gradient nor a backend's own optimizer code
can hide in the reference.
"""

from __future__ import annotations

import numpy as np

from gdbench.numerics.autodiff import float64_gradient
from gdbench.problem import step_batches
from gdbench.trajectory import Trajectory

# The reference's rows in trajectories.csv: a pseudo-backend of this name, in float64.
REFERENCE = "reference"
REFERENCE_COLUMNS = {
    "backend": REFERENCE,
    "mode": "closed-form-or-float64",
    "device": "cpu",
    "dtype": "float64",
    "native_defaults": False,
}


def float64_iteration(problem, inst, lr: float, steps: int, optimizer=None, hyper=None, w0=None):
    """``steps`` updates in float64 from ``inst.w0`` (or ``w0``); plain gradient descent by
    default."""
    grad_fn, source = float64_gradient(problem)
    return spec_iteration(problem, inst, lr, steps, optimizer, hyper, w0, grad_fn, source)


def spec_iteration(
    problem, inst, lr, steps, optimizer, hyper, w0, grad_fn, source, dtype="float64"
) -> tuple[Trajectory, str]:
    """gdbench's specification of the update iterated ``steps`` times in ``dtype`` (w, the
    data, the loss, ``grad_fn``'s gradient and every update in it), from ``inst.w0`` (or
    ``w0``); plain gradient descent without an optimizer."""
    w = (inst.w0 if w0 is None else w0).astype(dtype)
    # In float64 the data as given (the reference as it always was), in another dtype in
    # it, as every backend's session holds it; writable either way (torch warns on
    # read-only arrays, and --data's are), each copied once here rather than every step.
    # A problem trained on mini-batches takes step k's batch (``step_batches``).
    batches = [
        {
            k: v if dtype == "float64" and _writable(v) else np.array(v, dtype=dtype)
            for k, v in batch.items()
        }
        for batch in step_batches(problem, inst)
    ]
    state = optimizer.init(w, hyper) if optimizer is not None else {}
    losses, grads, ws = [], [], []
    with np.errstate(all="ignore"):
        for step in range(steps):
            data = batches[step % len(batches)]
            loss = float(problem.loss(w, **data))
            g = np.asarray(grad_fn(w, data), dtype=dtype)
            if optimizer is None:
                w = w - lr * g
            else:
                w, state = optimizer.update(g, state, w, lr, hyper)
            losses.append(loss)
            grads.append(g)
            ws.append(w)
            if not np.isfinite(loss) or not np.all(np.isfinite(w)):
                break
    rule = "gradient descent" if optimizer is None else f"{optimizer.name} (gdbench spec)"
    return Trajectory.from_steps(losses, grads, ws), f"{dtype} {rule}, {source} gradient"


def _writable(v) -> bool:
    return isinstance(v, np.ndarray) and bool(v.flags.writeable)


def closed_form_reference(problem, inst, lr: float, steps: int, optimizer=None, hyper=None):
    """The problem's closed form where the optimizer is plain gradient descent (no
    optimizer: plain) and the problem has one, else None."""
    if optimizer is not None and not optimizer.is_plain(hyper or {}):
        return None
    return problem.closed_form(inst, lr, steps)


def reference_trajectory(problem, inst, lr: float, steps: int, optimizer=None, hyper=None):
    """``(trajectory, where it came from)`` for this problem, instance and optimizer (no
    optimizer: plain gradient descent): the closed form where there is one, else the
    float64 iteration."""
    traj, source, _ = reference_with_growth(problem, inst, lr, steps, optimizer, hyper, False)
    return traj, source


def reference_with_growth(
    problem, inst, lr: float, steps: int, optimizer=None, hyper=None, measure: bool = True
):
    """``(trajectory, source, growth)``: the reference as ``reference_trajectory`` gives it,
    and the ``growth`` its run's tolerance is scaled by: 1 for a closed form (it amplifies
    no rounding of its own) and where ``measure`` is False, else measured (``growth``)."""
    closed = closed_form_reference(problem, inst, lr, steps, optimizer, hyper)
    if closed is not None:
        return (*closed, 1.0)
    traj, source = float64_iteration(problem, inst, lr, steps, optimizer, hyper)
    if not measure:
        return traj, source, 1.0
    return traj, source, growth(problem, inst, lr, steps, optimizer, hyper or {}, traj)


# The perturbation of w0 whose growth is measured: float32's rounding, whatever the run's
# dtype (a float64-sized one would drown in the perturbed run's own rounding).
PERTURBATION = float(np.finfo(np.float32).eps)


def growth(problem, inst, lr: float, steps: int, optimizer, hyper: dict, ref) -> float:
    """How much the float64 iteration amplifies a rounding-sized change of its start: the
    largest deviation (the agreement rule's measure) between the reference and the same
    iteration from w0·(1 ± ε), over ε. About 1 or less for a contracting iteration (a closed
    form, gradient descent on a convex quadratic); larger where nearby trajectories part,
    as along Rosenbrock's valley or through an MLP's saddles. A run's tolerance is scaled
    by it (never below 1), since every step's rounding is amplified in the same way."""
    from gdbench.numerics.agreement import deviations

    if ref.steps == 0:
        return 1.0
    signs = np.where(np.random.default_rng(0).random(inst.w0.shape) < 0.5, -1.0, 1.0)
    w0 = inst.w0.astype(np.float64)
    scale = np.abs(w0).max() or 1.0
    start = w0 + PERTURBATION * scale * signs
    moved, _ = float64_iteration(problem, inst, lr, steps, optimizer, hyper, w0=start)
    n = min(moved.steps, ref.steps) - (1 if moved.diverged_step or ref.diverged_step else 0)
    if n <= 0:
        return 1.0
    dev = deviations(moved, ref, n)
    return max(1.0, float(np.nanmax(dev)) / PERTURBATION) if np.isfinite(dev).all() else 1.0
