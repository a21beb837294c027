"""gdbench: the same gradient-descent problems on several numerical backends, their
trajectories checked against float64 references, their update loops timed.

The public API is what ``__all__`` lists: ``run``, ``sweep``, ``compare``, ``gradcheck``
and ``load`` (the commands as functions, returning objects), and what a plug-in (a file,
or a class in a notebook cell) uses to define a problem, backend or optimizer. Nothing
here imports torch, JAX or pandas; the functions are imported when first used.
"""

from gdbench.backend import BASELINE, Backend, Mode, Session, Setup, StepSession
from gdbench.compat.arrays import namespace
from gdbench.errors import UsageError
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

# The functions and their objects, imported on first use (they build the command line's
# parser, and their results bring pandas).
_LAZY = {
    "run": "gdbench.api.functions",
    "sweep": "gdbench.api.functions",
    "compare": "gdbench.api.comparison",
    "gradcheck": "gdbench.api.functions",
    "load": "gdbench.api.result",
    "Result": "gdbench.api.result",
    "SweepResult": "gdbench.api.result",
    "Comparison": "gdbench.api.comparison",
    "history": "gdbench.api.history",
    "History": "gdbench.api.history",
    "GradChecks": "gdbench.api.gradchecks",
    "port": "gdbench.api.porting",
    "TorchModel": "gdbench.ports.models",
    "JaxModel": "gdbench.ports.models",
    "PortResult": "gdbench.ports.result",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gdbench' has no attribute {name!r}")


__all__ = [
    "BASELINE",
    "Backend",
    "Comparison",
    "GradCheck",
    "GradChecks",
    "History",
    "Hyper",
    "Instance",
    "JaxModel",
    "Mode",
    "NotMapped",
    "Optimizer",
    "PortResult",
    "Problem",
    "Result",
    "RunSpec",
    "Session",
    "Setup",
    "StepSession",
    "SweepResult",
    "TorchModel",
    "Trajectory",
    "UsageError",
    "__version__",
    "backends",
    "check_gradient",
    "compare",
    "gradcheck",
    "history",
    "load",
    "load_plugin",
    "namespace",
    "optimizers",
    "port",
    "problems",
    "register_backend",
    "register_optimizer",
    "register_problem",
    "run",
    "sweep",
]
