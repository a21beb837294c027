"""One cell: prepares a backend, records its trajectory, judges it, times it.

``execute`` and ``retime`` are plain functions of a RunSpec and the run's ``Options`` so
that they can run in a worker process (``gdbench.execution.worker``): with timing on, each
backend gets its own process, so one library's thread pools, JIT caches or GPU memory pools
cannot disturb another's timings. Whatever user code raises becomes an error row.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from dataclasses import dataclass, field, replace

import numpy as np

from gdbench import registry
from gdbench.backend import Setup
from gdbench.compat.containment import deadline
from gdbench.execution.data import DataFile
from gdbench.execution.instances import instance, problem_of, reference
from gdbench.execution.rows import (
    base_row,
    differing,
    exception_line,
    replacements,
    spec_columns,
    with_reason,
)
from gdbench.numerics.agreement import group_deviations
from gdbench.numerics.verdict import Verdict, judgement
from gdbench.optimizer import NotMapped
from gdbench.results.schema import Status, samples_frame, trajectory_frame
from gdbench.spec import RunSpec

# Generous: the default sweep's largest cell (N = 2.6e7, float32 and its float64 rerun,
# timing) takes under a minute here.
DEFAULT_CELL_TIMEOUT = 1800.0
# Set in worker processes: there a KeyboardInterrupt can only come from user code (the
# workers ignore SIGINT; the parent stops them), so it becomes an error row.
_IN_WORKER = False


@dataclass(frozen=True)
class Options:
    """How cells run: whether and how long to time, threads, plugins to load in workers."""

    timing: bool = True
    budget_s: float = 1.0
    threads: int | None = None
    plugins: tuple[str, ...] = ()
    # Per optimizer, the hyperparameters the user gave it (--opt): all that a
    # native-defaults cell passes to torch.optim / optax.
    opt_given: dict[str, frozenset[str]] = field(default_factory=dict)
    # The user's --data, for cells whose data is "file:…".
    data_file: DataFile | None = None
    strict: bool = False  # imprecise cells count against the exit status too
    # Measured read bandwidth, machine.json's (sweep): adds the roofline columns to each
    # row, from the bandwidth of the host the cell ran on.
    limits: dict | None = None
    # Timing rounds (--rounds): every timed cell is timed again, in fresh worker processes,
    # once all cells have finished the previous round.
    rounds: int = 1
    # Seconds one cell (or timing round) may take before it becomes an error row
    # (--cell-timeout): user code that loops forever must not hang the run.
    cell_timeout: float | None = DEFAULT_CELL_TIMEOUT
    # trajectories.csv keeps step 1, every K-th step and the last (--record-every); the
    # agreement is decided on every step all the same.
    record_every: int = 1
    # Problems, backends and optimizers defined in a notebook (``gdbench.run(problem=
    # MyProblem())``), pickled by value for the worker processes.
    shipped: bytes = b""


def in_worker() -> None:
    """Marks this process as a worker (``worker.start``)."""
    global _IN_WORKER
    _IN_WORKER = True


def setup_of(spec: RunSpec, opts: Options) -> Setup:
    """The backend's Setup for a cell: its optimizer and hyperparameters, and under
    native defaults the names the user gave."""
    import json

    native = opts.opt_given.get(spec.optimizer, frozenset()) if spec.native_defaults else None
    optimizer = registry.optimizers()[spec.optimizer]
    hyper = json.loads(spec.optimizer_args)
    return Setup(spec.lr, spec.dtype, spec.device, spec.mode, optimizer, hyper, native)


def execute(spec: RunSpec, opts: Options) -> tuple[dict, object, object]:
    """Runs one cell; returns its summary row, its trajectory rows and its timed blocks
    (the rows of samples.csv), each frame None where there is none. Whatever the cell's
    user code raises, ``SystemExit`` too, or a run past ``opts.cell_timeout``, becomes an
    error row."""
    row = base_row(spec, opts.threads, opts.data_file)
    pressed: list[bool] = []
    try:
        with _ctrl_c_noted(pressed), deadline(opts.cell_timeout, "the cell (--cell-timeout)"):
            result = _execute(spec, opts, row)
    except BaseException as exc:  # one failing cell is recorded; the rest of the run goes on
        _reraise_interrupt(exc, bool(pressed))
        reason = exception_line(exc) + namespace_hint(exc, spec.backend)
        row.update(status=Status.ERROR.value, reason=reason, agrees=False)
        result = row, None, None
    replaced = replacements(spec)
    if replaced:
        reason = str(row.get("reason") or "")
        row["reason"] = ""
        with_reason(row, replaced, reason)
    return result


def namespace_hint(exc: BaseException, backend: str) -> str:
    """For a loss written the NumPy way that fails on another library's arrays (torch's
    ``Z.max(axis=1)`` is a (values, indices) pair; ``np.exp`` of a JAX tracer raises): which
    library, and the helper that fits every one. "" where the error is of another kind."""
    if not isinstance(exc, TypeError | AttributeError):
        return ""
    known = registry.backends().get(backend)
    if known is None or known.hand_gradient:
        return ""
    library = ", ".join(known.recorded_packages()) or backend
    return (
        f" (the loss runs on {library} arrays here: for anything beyond operators and array "
        "methods use gdbench.namespace(w), e.g. xp.max(Z, axis=1), xp.exp)"
    )


@contextlib.contextmanager
def _ctrl_c_noted(pressed: list[bool]):
    """While a cell runs in this process (untimed), a real Ctrl-C (SIGINT) is noted in
    ``pressed`` before it raises KeyboardInterrupt, so that one raised by user code can
    be told from it. Nothing in a worker (which ignores SIGINT) or outside the main
    thread (where no signal arrives)."""
    if _IN_WORKER or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum, frame):
        pressed.append(True)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _reraise_interrupt(exc: BaseException, pressed: bool = False) -> None:
    """Raises ``exc`` again where it is the user's Ctrl-C (a SIGINT noted while the cell
    ran here) or a generator's close; a KeyboardInterrupt that user code raised itself is
    its cell's error, here as in a worker (which ignores SIGINT)."""
    if isinstance(exc, GeneratorExit):
        raise exc
    if isinstance(exc, KeyboardInterrupt) and pressed and not _IN_WORKER:
        raise exc


def _execute(spec: RunSpec, opts: Options, row: dict) -> tuple[dict, object, object]:
    backend = registry.backends()[spec.backend]
    problem = problem_of(spec.problem, spec.problem_args)
    inst = instance(spec.instance_args(), opts.data_file)
    ref64, ref_source, grow, baselines = reference(
        *spec.reference_args(), data_file=opts.data_file, dtypes=(spec.dtype,)
    )
    ref = ref64.in_range_of(spec.dtype)  # a run in this dtype overflows where ref does
    row.update(
        reference=ref_source,
        ref_diverged_step=ref.diverged_step or "",
        device_name=backend.device_name(spec.device),
    )
    setup = setup_of(spec, opts)
    try:
        session = backend.prepare(problem, inst, setup)
    except NotMapped as exc:  # the library has no counterpart: skipped, with the reason
        row.update(status=Status.SKIPPED.value, reason=str(exc))
        return row, None, None
    used = session.optimizer_used or setup.hyper
    row.update(optimizer_impl=session.optimizer_impl, optimizer_used=_json(used))
    traj = session.trajectory(spec.steps)

    layout = problem.layout(inst)  # named parameter groups, for the reason and the CSV

    def again_in_float64():
        setup64 = replace(setup, dtype="float64")
        return backend.prepare(problem, inst, setup64).trajectory(spec.steps)

    judged = judgement(
        traj,
        ref,
        spec.dtype,
        spec.steps,
        inst.n_samples * inst.features or 1,
        setup.optimizer,
        setup.hyper,
        spec.lr,
        grow,
        again_in_float64,
        ref64,
        differing(session.optimizer_used, setup.hyper, session.optimizer_impl),
        baselines.get(spec.dtype),
        layout,
    )
    row.update(_judged_columns(traj, judged, grow))
    _more_reasons(row, traj, ref, spec, judged, backend, problem)
    samples = _timed(spec, opts, session, row) if opts.timing and not traj.diverged_step else None
    if opts.limits is not None:
        from gdbench.timing.machine_file import host_limits
        from gdbench.timing.roofline import roofline_columns, with_roof

        with_roof(row, roofline_columns(row, problem, inst, host_limits(opts.limits, row["host"])))
    frame = trajectory_frame(spec_columns(spec), traj, opts.record_every)
    if layout:  # each parameter group's distance from the reference, per recorded step
        devs = group_deviations(traj, ref, layout, frame["step"].to_numpy())
        frame = frame.assign(**{f"dev_{name}": d for name, d in devs.items()})
    return row, frame, samples


def _more_reasons(row: dict, traj, ref, spec: RunSpec, judged, backend, problem) -> None:
    """What the row's reason adds beyond the verdict: a loss that rose, and where a wrong
    hand-derived gradient is shown."""
    if traj.steps > 1 and not traj.diverged_step and float(traj.loss[-1]) > float(traj.loss[0]):
        with_reason(row, _rising_loss(traj, ref, spec))
    if backend.hand_gradient and judged.verdict is Verdict.DISAGREES:
        plugin = "" if type(problem).__module__.startswith("gdbench.") else " --plugin …"
        with_reason(
            row,
            "this backend runs the hand-derived gradient: python -m gdbench gradcheck "
            f"--problem {spec.problem}{plugin} --at all shows where it is wrong",
        )


def _rising_loss(traj, ref, spec: RunSpec) -> str:
    """Why a cell's loss ended above where it started, from the evidence at hand: the
    float64 reference took the same rate from the same start. Only where it rose (or
    diverged) too is the rate the suspect; where it fell, the cell's own update is."""
    said = (
        f"the loss ended above where it started ({float(traj.loss[0]):.4g} → "
        f"{float(traj.loss[-1]):.4g})"
    )
    rose = ref.diverged_step is not None or float(ref.loss[-1]) > float(ref.loss[0])
    if rose:
        return (
            f"{said}, as the float64 reference's did: lr {spec.lr:g} may be too large for "
            f"{spec.optimizer}"
        )
    return (
        f"{said}, while the float64 reference with the same lr {spec.lr:g} ended at "
        f"{float(ref.loss[-1]):.4g}: this cell's update, not the rate, is what differs"
    )


def _json(value) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def _judged_columns(traj, judged, grow: float) -> dict:
    """The row's columns that the trajectory and its judgement give."""
    agr = judged.agreement
    cols: dict[str, object] = dict(
        status=(Status.DIVERGED if traj.diverged_step else Status.OK).value,
        reason=judged.detail,
        noise_from_step=agr.noise_from_step or "",
        steps_run=traj.steps,
        diverged_step=traj.diverged_step or "",
        max_rel_dev=agr.max_rel_dev,
        tol=agr.tol,
        first_bad_step=agr.first_bad_step or "",
        agrees=judged.agrees,
        tol_growth=grow,
        verdict=judged.verdict.value,
        baseline_dev=judged.budget.baseline_dev if judged.budget else "",
        error_ratio=judged.budget.ratio if judged.budget else "",
    )
    if traj.steps:
        w = traj.w[-1]
        cols.update(
            final_loss=float(traj.loss[-1]),
            final_w=float(w.reshape(-1)[0]) if w.size == 1 else "",
            final_w_norm=float(np.linalg.norm(w)),
        )
    return cols


def _timed(spec: RunSpec, opts: Options, session, row: dict):
    """Times the session (``gdbench.timing.timer.measure``): its blocks, and the row's
    timing columns."""
    from gdbench.timing.timer import measure

    t = measure(session, opts.budget_s)
    row.update(
        time_per_step_s=t.median,
        time_per_step_iqr_s=t.iqr,
        repeats=t.repeats,
        rounds=1,
        steps_per_block=t.steps_per_block,
        compile_s="" if t.compile_s is None else t.compile_s,
        timing_warning=t.warning,
    )
    return samples_frame(spec.asdict(), t.samples_s, t.steps_per_block)


def retime(spec: RunSpec, opts: Options, round_: int) -> tuple[object, str]:
    """One more timing round of a cell already run and checked: ``(samples, "")``, or
    ``(None, why)`` when it could not be timed this time."""
    from gdbench.timing.timer import measure

    pressed: list[bool] = []
    try:
        with (
            _ctrl_c_noted(pressed),
            deadline(opts.cell_timeout, "the timing round (--cell-timeout)"),
        ):
            backend = registry.backends()[spec.backend]
            problem = problem_of(spec.problem, spec.problem_args)
            inst = instance(spec.instance_args(), opts.data_file)
            session = backend.prepare(problem, inst, setup_of(spec, opts))
            t = measure(session, opts.budget_s)
    except BaseException as exc:
        _reraise_interrupt(exc, bool(pressed))
        return None, exception_line(exc)
    return samples_frame(spec.asdict(), t.samples_s, t.steps_per_block, round_), ""
