"""Runs cells: prepares a backend, records its trajectory, compares it, times it.

``execute`` is a plain function of a RunSpec so that it can run in a worker process: with
timing on, each backend gets its own process, so one library's thread pools, JIT caches
or GPU memory pools cannot disturb another's timings.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace

import numpy as np

from gdbench import registry
from gdbench.backend import Setup
from gdbench.compat.containment import deadline, die_with_parent, heartbeat, stop_processes
from gdbench.compat.environment import available_cpus, environment
from gdbench.execution.data import DataFile
from gdbench.execution.data import load as load_data
from gdbench.numerics.reference import reference_with_growth
from gdbench.numerics.verdict import judgement
from gdbench.optimizer import NotMapped
from gdbench.results.schema import Status, samples_frame, trajectory_frame
from gdbench.spec import RunSpec
from gdbench.timing.roofline import roofline_columns

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# Generous: the default sweep's largest cell (N = 2.6e7, float32 and its float64 rerun,
# timing) takes under a minute here.
DEFAULT_CELL_TIMEOUT = 1800.0
# What a worker process is given beyond the cell's own limit, which it enforces itself,
# before the parent stops it (a C call that never returns to Python).
KILL_GRACE_S = 30.0
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
    # The optimizer hyperparameters the user gave (--opt): all that a native-defaults cell
    # passes to torch.optim / optax.
    opt_given: frozenset[str] = frozenset()
    # The user's --data, for cells whose data is "file:…".
    data_file: DataFile | None = None
    strict: bool = False  # imprecise cells count against the exit status too
    # Measured read bandwidth per device (sweep): adds the roofline columns to each row.
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


@functools.lru_cache(maxsize=16)
def problem_of(name: str, problem_args: str = "{}"):
    """The registered problem, configured with its settings (--problem-opt)."""
    return registry.problems()[name].configured(json.loads(problem_args))


@functools.lru_cache(maxsize=8)
def instance(instance_args: tuple, data_file: DataFile | None = None):
    name, data, n_samples, features, seed, problem_args = instance_args
    p = problem_of(name, problem_args)
    if data == "default":
        return p.make()
    if data.startswith("file:"):
        if data_file is None or data_file.key != data:
            raise ValueError(f"the data of this cell ({data}) is not the run's --data")
        loaded = load_data(data_file, p.binary_target)
        return p.from_data(loaded.X, loaded.y, seed)
    return p.make(n_samples, features, seed)


# References the parent process already computed, handed to each worker as it starts, so
# that a worker imports no framework it does not run (numpy's worker no torch) and no
# reference is computed twice.
_SEEDED: dict[tuple, tuple] = {}


@functools.lru_cache(maxsize=8)
def reference(
    instance_args: tuple,
    lr: float,
    steps: int,
    optimizer: str,
    optimizer_args: str,
    data_file: DataFile | None = None,
):
    """``(trajectory, source, growth)``: the float64 reference, and how much it amplifies a
    rounding-sized change of its start where it is an iteration (1 for a closed form)."""
    key = (instance_args, lr, steps, optimizer, optimizer_args, data_file)
    if key in _SEEDED:
        return _SEEDED[key]
    p = problem_of(instance_args[0], instance_args[-1])
    inst = instance(instance_args, data_file)
    opt = registry.optimizers()[optimizer]
    hyper = opt.resolve(json.loads(optimizer_args))
    return reference_with_growth(p, inst, lr, steps, opt, hyper)


def setup_of(spec: RunSpec, opts: Options) -> Setup:
    """The backend's Setup for a cell: its optimizer and hyperparameters, and under
    native defaults the names the user gave."""
    native = opts.opt_given if spec.native_defaults else None
    optimizer = registry.optimizers()[spec.optimizer]
    hyper = json.loads(spec.optimizer_args)
    return Setup(spec.lr, spec.dtype, spec.device, spec.mode, optimizer, hyper, native)


def differing(used: dict | None, spec_hyper: dict, impl: str) -> str:
    """The hyperparameters an implementation ran with that differ from the specification,
    e.g. "optax.adamw weight_decay=0.0001, spec 0.01"; empty when none."""
    if not used:
        return ""
    diffs = [
        f"{k}={used[k]!r}, spec {spec_hyper[k]!r}"
        for k in spec_hyper
        if k in used and used[k] != spec_hyper[k]
    ]
    return f"{impl.split('(')[0]} " + "; ".join(diffs) if diffs else ""


def spec_columns(spec: RunSpec) -> dict:
    cols = spec.asdict()
    del cols["steps"]
    return cols


def reference_frame(spec: RunSpec, data_file: DataFile | None = None, every: int = 1):
    """The float64 reference's own rows for trajectories.csv (backend 'reference')."""
    traj, _, _ = reference(*spec.reference_args(), data_file)
    cols = spec_columns(spec)
    cols.update(
        backend="reference",
        mode="closed-form-or-float64",
        device="cpu",
        dtype="float64",
        native_defaults=False,
    )
    return trajectory_frame(cols, traj, every)


def base_row(spec: RunSpec, threads: int | None, data_file: DataFile | None = None) -> dict:
    row = spec.asdict()
    if data_file is not None and spec.data.startswith("file:"):
        row["data_path"] = data_file.path
    row.update(environment())
    row["threads"] = threads or available_cpus()
    # Where it ran: a cluster's rows overwrite these with the worker that ran the cell.
    row.update(host=socket.gethostname(), worker="local", attempts=1)
    return row


def skipped_row(spec: RunSpec, reason: str, threads: int | None = None) -> dict:
    row = base_row(spec, threads)
    row.update(status=Status.SKIPPED.value, reason=reason)
    return row


def execute(spec: RunSpec, opts: Options) -> tuple[dict, object, object]:
    """Runs one cell; returns its summary row, its trajectory rows and its timed blocks
    (the rows of samples.csv), each frame None where there is none. Whatever the cell's
    user code raises, ``SystemExit`` too, or a run past ``opts.cell_timeout``, becomes an
    error row."""
    row = base_row(spec, opts.threads, opts.data_file)
    backend = registry.backends()[spec.backend]
    try:
        with deadline(opts.cell_timeout, "the cell (--cell-timeout)"):
            result = _execute(spec, opts, row, backend)
    except BaseException as exc:  # one failing cell is recorded; the rest of the run goes on
        _reraise_interrupt(exc)
        row.update(status=Status.ERROR.value, reason=exception_line(exc), agrees=False)
        result = row, None, None
    replaced = replacements(spec)
    if replaced:
        row["reason"] = "; ".join(r for r in (replaced, row.get("reason")) if r)
    return result


def _reraise_interrupt(exc: BaseException) -> None:
    """Raises ``exc`` again where it is the user's Ctrl-C (in-process); in a worker, which
    ignores SIGINT, a KeyboardInterrupt is user code's, and its cell's error."""
    if isinstance(exc, KeyboardInterrupt | GeneratorExit) and not _IN_WORKER:
        raise exc


def replacements(spec: RunSpec) -> str:
    """What of this cell a plug-in put in a built-in's place, for its row's reason."""
    items = (
        ("problem", registry.problems().get(spec.problem)),
        ("backend", registry.backends().get(spec.backend)),
        ("optimizer", registry.optimizers().get(spec.optimizer)),
    )
    named = [
        f"{kind} {item.name!r}"
        for kind, item in items
        if item is not None and registry.replaced_builtin(item)
    ]
    return f"a plug-in replaces the built-in {', '.join(named)}" if named else ""


def _execute(spec: RunSpec, opts: Options, row: dict, backend) -> tuple[dict, object, object]:
    from gdbench.timing.timer import measure

    problem = problem_of(spec.problem, spec.problem_args)
    inst = instance(spec.instance_args(), opts.data_file)
    ref64, ref_source, grow = reference(*spec.reference_args(), opts.data_file)
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
    row.update(
        optimizer_impl=session.optimizer_impl,
        optimizer_used=json.dumps(used, sort_keys=True),
    )
    traj = session.trajectory(spec.steps)
    n_el = inst.n_samples * inst.features or 1
    named = differing(session.optimizer_used, setup.hyper, session.optimizer_impl)

    def again_in_float64():
        setup64 = replace(setup, dtype="float64")
        return backend.prepare(problem, inst, setup64).trajectory(spec.steps)

    judged = judgement(
        traj,
        ref,
        spec.dtype,
        spec.steps,
        n_el,
        setup.optimizer,
        setup.hyper,
        spec.lr,
        grow,
        again_in_float64,
        ref64,
        named,
    )
    agr = judged.agreement
    row.update(
        status=(Status.DIVERGED if traj.diverged_step else Status.OK).value,
        reason=judged.detail,
        noise_from_step=agr.noise_from_step or "",
        steps_run=traj.steps,
        diverged_step=traj.diverged_step or "",
        max_rel_dev=agr.max_rel_dev,
        tol=agr.tol,
        first_bad_step=agr.first_bad_step or "",
        agrees=agr.agrees,
        tol_growth=grow,
        verdict=judged.verdict.value,
    )
    if traj.steps:
        w = traj.w[-1]
        row.update(
            final_loss=float(traj.loss[-1]),
            final_w=float(w.reshape(-1)[0]) if w.size == 1 else "",
            final_w_norm=float(np.linalg.norm(w)),
        )
    samples = None
    if opts.timing and not traj.diverged_step:
        t = measure(session, opts.budget_s)
        samples = samples_frame(spec.asdict(), t.samples_s, t.steps_per_block)
        row.update(
            time_per_step_s=t.median,
            time_per_step_iqr_s=t.iqr,
            repeats=t.repeats,
            rounds=1,
            steps_per_block=t.steps_per_block,
            compile_s="" if t.compile_s is None else t.compile_s,
            timing_warning=t.warning,
        )
    if opts.limits is not None:
        row.update(roofline_columns(row, problem, inst, opts.limits))
    return row, trajectory_frame(spec_columns(spec), traj, opts.record_every), samples


def cell_label(spec: RunSpec) -> str:
    """A cell in a progress line: problem, sizes, optimizer, backend/mode, device, dtype."""
    return (
        f"{spec.problem} N={spec.n_samples} D={spec.features} {spec.optimizer} "
        f"{spec.backend}/{spec.mode} {spec.device} {spec.dtype}, {spec.steps} steps"
    )


def exception_line(exc: BaseException) -> str:
    """An exception as the first line of "Type: message", for a row's reason."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: user code called sys.exit({exc.code!r})"
    if isinstance(exc, KeyboardInterrupt):
        return "KeyboardInterrupt: raised by user code"
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0] if text else type(exc).__name__


def seeded_references(specs: Iterable[RunSpec], data_file: DataFile | None) -> dict:
    """The float64 references of these cells, computed here once, by reference key, for
    the processes that run the cells (which then import no framework they do not run)."""
    seeded: dict[tuple, tuple] = {}
    for s in specs:
        key = (*s.reference_args(), data_file)
        if key not in seeded:
            seeded[key] = reference(*key)
    return seeded


def retime(spec: RunSpec, opts: Options, round_: int) -> tuple[object, str]:
    """One more timing round of a cell already run and checked: ``(samples, "")``, or
    ``(None, why)`` when it could not be timed this time."""
    from gdbench.timing.timer import measure

    try:
        with deadline(opts.cell_timeout, "the timing round (--cell-timeout)"):
            backend = registry.backends()[spec.backend]
            problem = problem_of(spec.problem, spec.problem_args)
            inst = instance(spec.instance_args(), opts.data_file)
            session = backend.prepare(problem, inst, setup_of(spec, opts))
            t = measure(session, opts.budget_s)
    except BaseException as exc:
        _reraise_interrupt(exc)
        return None, exception_line(exc)
    return samples_frame(spec.asdict(), t.samples_s, t.steps_per_block, round_), ""


def _init_worker(plugins: tuple[str, ...], threads: int | None, seeded: dict, parent: int) -> None:
    global _IN_WORKER
    die_with_parent(parent)  # a killed run leaves no worker behind
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _IN_WORKER = True
    _SEEDED.update(seeded)
    if threads:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
    for path in plugins:
        registry.load_plugin(path)


def thread_environment(threads: int | None) -> dict[str, str]:
    """Variables that size BLAS/OpenMP/XLA pools; set before a worker imports anything."""
    if not threads:
        return {}
    env = {v: str(threads) for v in THREAD_VARIABLES}
    if threads == 1:
        env["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "")
            + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        ).strip()
    return env


def error_row(spec: RunSpec, reason: str, threads: int | None) -> dict:
    row = base_row(spec, threads)
    row.update(status=Status.ERROR.value, reason=reason, agrees=False)
    return row


def _in_worker(cells: list[tuple], opts: Options, task, on_result, on_start) -> None:
    """One spawned process for these cells, running ``task(spec, opts, *args)`` for each
    ``(spec, *args)``; a crashed worker gives ``on_result(spec, message)`` (a string where
    the task's result would be) and a fresh process takes the remaining cells."""
    pending = list(cells)
    ctx = multiprocessing.get_context("spawn")
    # Computed here once (the parent writes them to trajectories.csv too).
    seeded = seeded_references((s for s, *_ in cells), opts.data_file)
    while pending:
        pool = ProcessPoolExecutor(
            1,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(opts.plugins, opts.threads, seeded, os.getpid()),
        )
        limit = opts.cell_timeout + KILL_GRACE_S if opts.cell_timeout else None
        try:
            while pending:
                spec, *args = pending[0]
                on_start(spec)
                try:
                    with heartbeat(cell_label(spec), sys.stderr):
                        result = pool.submit(task, spec, opts, *args).result(timeout=limit)
                except BrokenProcessPool as exc:
                    pending.pop(0)
                    on_result(spec, f"worker process died: {exc}")
                    break
                except FutureTimeout:
                    pending.pop(0)
                    stop_processes(pool)
                    on_result(
                        spec,
                        f"TimeLimit: the cell did not finish within {limit:g} s "
                        "(--cell-timeout); its worker process was stopped",
                    )
                    break
                pending.pop(0)
                on_result(spec, result)
        except BaseException:  # Ctrl-C or SIGTERM in the parent: no worker may run on
            stop_processes(pool)
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


def run_cells(
    specs: Iterable[RunSpec],
    opts: Options,
    on_done: Callable[[RunSpec, dict, object, object], None],
    on_start: Callable[[RunSpec], None] = lambda spec: None,
    rounds_done: Callable[[RunSpec], int] = lambda spec: 0,
    on_round: Callable[[RunSpec, object, str], None] = lambda spec, samples, why: None,
    timed: Iterable[RunSpec] = (),
    row_of: Callable[[RunSpec], dict | None] = lambda spec: None,
) -> None:
    """Runs the cells backend by backend, in one worker process per backend when timing.
    ``on_start`` hears of each cell as it begins; ``on_done`` gets its row, its trajectory
    and its timed blocks.

    With ``opts.rounds`` > 1, every timed cell (these and ``timed``, cells of a resumed
    folder) is then timed again, round by round, in fresh worker processes, until
    ``rounds_done`` says it has them all; ``on_round`` gets each round's blocks. (``row_of``,
    a cell's summary row, is for a cluster, whose rounds must stay on the cell's host.)"""
    specs = list(specs)

    def deliver_row(spec, result):
        if not isinstance(result, tuple):  # the worker died: an error row
            result = (error_row(spec, result, opts.threads), None, None)
        on_done(spec, *result)

    if opts.timing:
        in_backend_workers([(s,) for s in specs], opts, execute, deliver_row, on_start)
    else:
        for (s,) in _grouped([(s,) for s in specs]):
            on_start(s)
            with heartbeat(cell_label(s), sys.stderr):
                result = execute(s, opts)
            on_done(s, *result)
    if not opts.timing or opts.rounds <= 1:
        return
    everything = list(dict.fromkeys([*timed, *specs]))

    def deliver(spec, result):
        on_round(spec, *(result if isinstance(result, tuple) else (None, result)))

    for round_ in range(2, opts.rounds + 1):
        # timed, and missing this round
        cells = [(s, round_) for s in everything if 0 < rounds_done(s) < round_]
        in_backend_workers(cells, opts, retime, deliver, on_start)


def _by_backend(cells: list[tuple]) -> dict[str, list[tuple]]:
    """``(spec, *args)`` cells by backend, in order of first appearance."""
    groups: dict[str, list[tuple]] = {}
    for cell in cells:
        groups.setdefault(cell[0].backend, []).append(cell)
    return groups


def _grouped(cells: list[tuple]) -> list[tuple]:
    """The cells reordered backend by backend, as the worker processes run them."""
    return [cell for group in _by_backend(cells).values() for cell in group]


def in_backend_workers(cells: list[tuple], opts: Options, task, on_result, on_start) -> None:
    """``task(spec, opts, *args)`` for each ``(spec, *args)``: one spawned worker process per
    backend (``_in_worker``), each started with that backend's worker environment."""
    for backend, group in _by_backend(cells).items():
        with _worker_variables(opts.threads, backend):
            _in_worker(group, opts, task, on_result, on_start)


def worker_environment(threads: int | None, backend: str | None = None) -> dict[str, str]:
    """What a worker process for ``backend``'s cells starts with: the thread variables and
    the backend's own (``Backend.process_environment``)."""
    env = thread_environment(threads)
    known = registry.backends().get(backend) if backend else None
    if known is not None:
        env.update(known.process_environment())
    return env


@contextlib.contextmanager
def _worker_variables(threads: int | None, backend: str | None = None):
    """The worker variables set while worker processes start, restored afterwards."""
    env = worker_environment(threads, backend)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
