"""One implementation's own training run, recorded step by step as a ``Trajectory`` of
every parameter (flattened in the reference's order) and the outputs of each step."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdbench.ports.runner import Arrays, Runner, flat, unflat
from gdbench.trajectory import Trajectory


@dataclass(frozen=True)
class Recording:
    traj: Trajectory  # loss, gradient (before each update) and weights (after it)
    outputs: list[np.ndarray]  # the model's outputs at each step

    def weights_before(self, k: int, w0: Arrays, shapes: dict[str, tuple]) -> Arrays:
        """The weights step ``k`` (0-based) starts from."""
        return w0 if k == 0 else unflat(self.traj.w[k - 1], shapes)


def record(runner: Runner, w0: Arrays, names: list[str], steps: int) -> Recording:
    """``runner`` trained for ``steps`` steps from ``w0``; cut where it diverges."""
    runner.start(w0)
    losses, grads, ws, outputs = [], [], [], []
    for k in range(steps):
        loss, g, out = runner.step(k)
        losses.append(loss)
        grads.append(flat(g, names))
        ws.append(flat(runner.weights(), names))
        outputs.append(np.asarray(out, dtype=np.float64))
        if not (np.isfinite(loss) and np.isfinite(ws[-1]).all()):
            break
    traj = Trajectory.from_steps(losses, grads, ws)
    return Recording(traj, outputs[: traj.steps])


def perturbed(w0: Arrays, size: float) -> Arrays:
    """``w0`` with every coordinate moved by ±``size`` times the largest |w0| (signs drawn
    from seed 0): the start whose run measures how much the iteration amplifies rounding."""
    scale = max(float(np.abs(v).max()) if np.size(v) else 0.0 for v in w0.values()) or 1.0
    rng = np.random.default_rng(0)
    return {
        n: v + size * scale * np.where(rng.random(np.shape(v)) < 0.5, -1.0, 1.0)
        for n, v in w0.items()
    }
