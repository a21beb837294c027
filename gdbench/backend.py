"""The Backend contract: how one numerical library runs a problem's gradient descent."""

from __future__ import annotations

import importlib.util
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from gdbench.optimizer import Optimizer
from gdbench.problem import Instance, Problem
from gdbench.trajectory import Trajectory, is_divergent


@dataclass(frozen=True)
class Setup:
    """Everything a backend needs to prepare one run (besides the problem's instance).

    ``optimizer`` is the update rule and ``hyper`` its hyperparameters; after construction
    ``hyper`` holds every one of them (the given ones, gdbench's defaults for the rest).
    ``gdbench.optimizers.sgd.plain_setup`` builds the plain-gradient-descent one.
    ``native`` is None for gdbench's specification, or, with ``--native-defaults``, the
    names the user gave: a framework-native backend then passes only those to its library
    and leaves the rest at the library's defaults.
    """

    lr: float
    dtype: str  # "float32" or "float64"
    device: str  # "cpu" or "cuda"
    mode: str
    optimizer: Optimizer
    hyper: dict = field(default_factory=dict)
    native: frozenset[str] | None = None

    def __post_init__(self):
        object.__setattr__(self, "hyper", self.optimizer.resolve(dict(self.hyper)))


class Session(ABC):
    """One prepared run: data already on the device, ready to step.

    ``trajectory(steps)`` starts again from w0 and records every step on the host.
    ``run_steps(n)`` advances ``n`` updates without recording or reading anything back:
    this is what the timer measures. ``sync()`` waits until queued device work is done;
    the timer calls it before every clock read. ``warmup()`` runs whatever compiles or
    allocates on first use and returns how long that took, so it stays off the clock.

    Each step takes its data by the problem's schedule (``gdbench.problem.step_batches``:
    the whole data, or for a problem trained on mini-batches one batch after another):
    a session keeps them in ``batches`` and takes the next with ``next_batch()``; a
    step session's trajectory starts the schedule again.
    """

    @abstractmethod
    def trajectory(self, steps: int) -> Trajectory: ...

    @abstractmethod
    def run_steps(self, n: int) -> None: ...

    # Whether the first call compiles (jit, torch.compile); its time is then compile_s.
    compiles: bool = False
    compile_s: float | None = None
    # What really ran the update: "gdbench specification" or the library call, and the
    # hyperparameters it ran with (gdbench's names). Empty: the Setup's, by the spec.
    optimizer_impl: str = "gdbench specification"
    optimizer_used: dict | None = None

    # Each step's data on the device (``gdbench.problem.step_batches``): one entry, the
    # whole data, unless the problem trains on mini-batches; ``next_batch`` cycles them.
    batches: Sequence[dict] = ()  # each session sets its own
    batch_index: int = 0

    def next_batch(self) -> dict:
        """The data of the next step by the problem's schedule."""
        data = self.batches[self.batch_index % len(self.batches)]
        self.batch_index += 1
        return data

    def sync(self) -> None:
        """Waits for queued device work; a synchronous library has none."""
        return None

    def compile_count(self) -> int:
        """How many compiled programs exist; a change while timing means a recompilation."""
        return 0

    def operations(self, steps: int, log) -> None:
        """Runs ``steps`` updates, adding each operation's calls, seconds and bytes to
        ``log`` (a ``gdbench.timing.breakdown.OpLog``); the library's own profile, where it
        has one."""
        raise NotImplementedError(f"{type(self).__name__} has no operation profile")

    def warmup(self, steps: int = 3) -> float | None:
        """Runs the first call (compiling where the mode compiles) and a few more steps,
        all off the clock; returns the first call's seconds where it compiled, else None."""
        t0 = time.perf_counter()
        self.run_steps(1)
        self.sync()
        if self.compiles and self.compile_s is None:
            self.compile_s = time.perf_counter() - t0
        self.run_steps(steps)
        self.sync()
        return self.compile_s if self.compiles else None


class StepSession(Session):
    """A session built on one host-visible step: subclasses define ``reset`` and ``step``.

    ``step(record)`` performs one update; with ``record`` it returns the loss and gradient
    before the update and the parameters after it, as NumPy values.
    """

    @abstractmethod
    def reset(self) -> None: ...

    @abstractmethod
    def step(self, record: bool): ...

    def trajectory(self, steps: int) -> Trajectory:
        self.reset()
        self.batch_index = 0  # the schedule starts again with the trajectory
        losses, grads, ws = [], [], []
        for k in range(steps):
            t0 = time.perf_counter()
            loss, g, w = self.step(record=True)
            if k == 0 and self.compiles and self.compile_s is None:
                self.compile_s = time.perf_counter() - t0  # the first call compiles
            losses.append(loss)
            grads.append(g)
            ws.append(w)
            if is_divergent(loss, losses[0], w):
                break  # stopped where it diverged; Trajectory marks the step
        return Trajectory.from_steps(losses, grads, ws)

    def run_steps(self, n: int) -> None:
        for _ in range(n):
            self.step(record=False)


class Mode(str):
    """One way a backend runs its update step: its name (the mode *is* that text, so a
    plug-in's plain ``modes = ("eager",)`` still works), one line of doc, the devices it
    runs on and whether its first step compiles. ``list`` prints them;
    ``Backend.mode_available`` checks the devices."""

    doc: str
    devices: tuple[str, ...]
    compiles: bool

    def __new__(
        cls,
        name: str,
        doc: str = "",
        devices: tuple[str, ...] = ("cpu", "cuda"),
        compiles: bool = False,
    ) -> Mode:
        mode = super().__new__(cls, name)
        mode.doc, mode.devices, mode.compiles = doc, tuple(devices), compiles
        return mode

    def __reduce__(self):
        return (Mode, (str(self), self.doc, self.devices, self.compiles))


def as_mode(mode: str) -> Mode:
    """A backend's mode as a ``Mode``: a plug-in's plain text gets no doc, every device."""
    return mode if isinstance(mode, Mode) else Mode(mode)


# What speed-ups are relative to by default (--baseline chooses another): this backend in
# this mode, on the same problem, size, dtype and optimizer (the notebook's NumPy cell).
BASELINE = ("numpy", "eager")


class Backend(ABC):
    """A numerical library's way of running gradient descent.

    ``modes`` lists its execution modes, ``default_mode`` the idiomatic one.
    ``optimizers`` names the update rules it implements (see ``Setup``).
    ``requires`` names the packages it imports; ``available()`` checks them without
    importing, so that listing backends stays fast and a missing one is skipped with its
    reason instead of raising ImportError. ``packages`` names the distributions whose
    versions every row records (its ``versions`` column); by default ``requires``.
    ``preload`` names modules beyond ``requires`` that a worker started ahead of its cells
    imports (torch's optimizers bring torch._dynamo, 1.2 s here), so that the import is
    not spent while other workers wait.
    """

    name: str = ""
    modes: tuple[str, ...] = ("eager",)
    default_mode: str = "eager"
    requires: tuple[str, ...] = ()
    packages: tuple[str, ...] | None = None  # None: ``requires``
    preload: tuple[str, ...] = ()
    order: int = 100  # listing order; built-ins use the notebook's order
    # Whether its sessions run the problem's hand-derived gradient (``Problem.grad``): a
    # disagreement is then pointed at ``gradcheck``.
    hand_gradient: bool = False
    # The optimizers it implements, by name; None: every one (through the Setup's
    # optimizer). A backend that writes w − lr·g itself implements only "sgd".
    optimizers: tuple[str, ...] | None = ("sgd",)

    def recorded_packages(self) -> tuple[str, ...]:
        """The distributions whose versions a row records for this backend."""
        return tuple(self.requires if self.packages is None else self.packages)

    def available(self) -> tuple[bool, str]:
        missing = [p for p in self.requires if importlib.util.find_spec(p) is None]
        if missing:
            return False, f"package not installed: {', '.join(missing)}"
        return True, ""

    def device_available(self, device: str) -> tuple[bool, str]:
        """Whether this backend can run on ``device`` here (imports the library)."""
        if device == "cpu":
            return True, ""
        return False, f"{self.name} runs on the CPU only"

    def optimizer_available(self, optimizer: Optimizer) -> tuple[bool, str]:
        """Whether this backend runs ``optimizer`` at all; a mapping that fails for some
        hyperparameters raises NotMapped from ``prepare`` instead (the cell is skipped)."""
        if self.optimizers is None or optimizer.name in self.optimizers:
            return True, ""
        return False, f"{self.name} implements only {', '.join(self.optimizers)}"

    def mode_available(self, mode: str, device: str) -> tuple[bool, str]:
        if mode not in self.modes:
            return False, f"{self.name} has no mode {mode!r}"
        declared = as_mode(self.modes[self.modes.index(mode)])
        if device not in declared.devices:
            return False, f"{mode} needs --device {' or '.join(declared.devices)}"
        return True, ""

    def free_memory(self, device: str) -> int | None:
        """Bytes free on ``device`` for this library's arrays, asked of the library; None
        where it cannot say (the check is then skipped)."""
        return None

    def process_environment(self) -> dict[str, str]:
        """Variables set for the worker processes that time this backend's cells, before
        they start (a library reads them at start-up); none by default."""
        return {}

    def profiling(self) -> None:
        """Called in a process before it prepares sessions to profile: a library whose
        compiler must be told to name its kernels in a profile is told here."""
        return None

    def device_name(self, device: str) -> str:
        from gdbench.compat.environment import cpu_model

        return cpu_model() if device == "cpu" else device

    @abstractmethod
    def prepare(self, problem: Problem, inst: Instance, setup: Setup) -> Session: ...


def host(x) -> np.ndarray:
    """A float64 NumPy copy of a NumPy, torch or JAX value."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.array(x, dtype=np.float64)
