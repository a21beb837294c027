"""The float64 reference trajectory that every run is compared with.

Plain gradient descent keeps the problem's own reference (a closed form where it has one).
Every other optimizer, and every problem without a closed form, gets the float64 iteration
of gdbench's specification of the update with an *autodiff* gradient of the loss (torch,
else JAX), so that neither a wrong hand-derived gradient nor a backend's own optimizer code
can hide in the reference.
"""

from __future__ import annotations

import numpy as np

from gdbench.autodiff import float64_gradient
from gdbench.trajectory import Trajectory


def float64_iteration(problem, inst, lr: float, steps: int, optimizer=None, hyper=None):
    """``steps`` updates in float64 from ``inst.w0``; plain gradient descent by default."""
    grad_fn, source = float64_gradient(problem)
    w = inst.w0.astype(np.float64)
    state = optimizer.init(w, hyper) if optimizer is not None else {}
    losses, grads, ws = [], [], []
    with np.errstate(all="ignore"):
        for _ in range(steps):
            loss = float(problem.loss(w, **inst.data))
            g = grad_fn(w, inst.data)
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
    return Trajectory.from_steps(losses, grads, ws), f"float64 {rule}, {source} gradient"


def is_plain_gd(optimizer, hyper: dict) -> bool:
    from gdbench.optimizers.sgd import SGD

    return type(optimizer) is SGD and not hyper.get("weight_decay")


def reference_trajectory(problem, inst, lr: float, steps: int, optimizer, hyper: dict):
    """``(trajectory, where it came from)`` for this problem, instance and optimizer."""
    if is_plain_gd(optimizer, hyper):
        return problem.reference(inst, lr, steps)
    return float64_iteration(problem, inst, lr, steps, optimizer, hyper)
