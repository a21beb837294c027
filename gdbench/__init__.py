"""gdbench: the same gradient-descent problems on several numerical backends, their
trajectories checked against float64 references, their update loops timed.

The public API is what ``__all__`` lists; a plugin file (``--plugin FILE.py``) uses it to
register its own problem, backend or optimizer. Nothing here imports torch, JAX or pandas.
"""

from gdbench.backend import Backend, Session, Setup, StepSession
from gdbench.numerics.gradcheck import GradCheck, check_gradient
from gdbench.optimizer import Hyper, NotMapped, Optimizer
from gdbench.problem import Instance, Problem
from gdbench.registry import (
    backends,
    load_plugin,
    optimizers,
    problems,
    register_backend,
    register_optimizer,
    register_problem,
)
from gdbench.spec import RunSpec
from gdbench.trajectory import Trajectory

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "GradCheck",
    "Hyper",
    "Instance",
    "NotMapped",
    "Optimizer",
    "Problem",
    "RunSpec",
    "Session",
    "Setup",
    "StepSession",
    "Trajectory",
    "__version__",
    "backends",
    "check_gradient",
    "load_plugin",
    "optimizers",
    "problems",
    "register_backend",
    "register_optimizer",
    "register_problem",
]
