"""The summary rows that are not a finished cell's: the columns every row starts with,
skipped and error rows, and how an exception or a plug-in's replacement reads in a reason."""

from __future__ import annotations

import socket

from gdbench import registry
from gdbench.compat.environment import environment
from gdbench.compat.machine import available_cpus
from gdbench.execution.data import DataFile
from gdbench.results.schema import Status
from gdbench.spec import RunSpec


def spec_columns(spec: RunSpec) -> dict:
    """The cell's fields as trajectories.csv stores them (every row has its own step)."""
    cols = spec.asdict()
    del cols["steps"]
    return cols


def feature_columns(data_file: DataFile) -> tuple[str, ...]:
    """The feature columns a cell on ``data_file`` used (for its row)."""
    from gdbench.execution.data import load

    return load(data_file, False).columns


def recorded_packages() -> tuple[str, ...]:
    """What the ``versions`` column names: every registered backend's packages, and NumPy
    (gdbench's own: data, references)."""
    names = {p for b in registry.backends().values() for p in b.recorded_packages()}
    return tuple(sorted(names | {"numpy"}))


def base_row(spec: RunSpec, threads: int | None, data_file: DataFile | None = None) -> dict:
    """The cell's fields, the environment it ran in and where: the start of every row."""
    row = spec.asdict()
    if data_file is not None and spec.data.startswith("file:"):
        row["data_path"] = data_file.path
        row["data_columns"] = ",".join(feature_columns(data_file))
    row.update(environment(recorded_packages()))
    row["plugins"] = plugin_origins(spec)
    row["threads"] = threads or available_cpus()
    # Where it ran: a cluster's rows overwrite these with the worker that ran the cell.
    row.update(host=socket.gethostname(), worker="local", attempts=1)
    return row


def skipped_row(spec: RunSpec, reason: str, threads: int | None = None) -> dict:
    row = base_row(spec, threads)
    row.update(status=Status.SKIPPED.value, reason=reason)
    return row


def error_row(spec: RunSpec, reason: str, threads: int | None) -> dict:
    row = base_row(spec, threads)
    row.update(status=Status.ERROR.value, reason=reason, agrees=False)
    return row


def exception_line(exc: BaseException) -> str:
    """An exception as the first line of "Type: message", for a row's reason."""
    if isinstance(exc, SystemExit):
        return f"SystemExit: user code called sys.exit({exc.code!r})"
    if isinstance(exc, KeyboardInterrupt):
        return "KeyboardInterrupt: raised by user code"
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[0] if text else type(exc).__name__


def plugin_origins(spec: RunSpec) -> str:
    """The cell's problem, backend and optimizer that a plug-in added or replaced, each
    with its file and hash: "backend numpy: numpy_wait.py sha256:…, replacing the
    built-in"; "" where all are built-in. ``compare`` and ``history`` list its changes."""
    items = (
        ("problem", registry.problems().get(spec.problem)),
        ("backend", registry.backends().get(spec.backend)),
        ("optimizer", registry.optimizers().get(spec.optimizer)),
    )
    return "; ".join(
        f"{kind} {item.name}: {where}"
        for kind, item in items
        if item is not None
        for where in [registry.origin(kind, item)]
        if where
    )


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
    import re

    calls = re.findall(r"([\w.]+)\(", impl)
    names = [c for c in calls if c not in ("optax.chain", "optax.add_decayed_weights")]
    head = names[0] if names else impl.split("(")[0]
    return f"{head} " + "; ".join(diffs) if diffs else ""


def with_reason(row: dict, *more: str) -> None:
    """Appends to the row's reason, "; "-separated, what is not empty."""
    row["reason"] = "; ".join(r for r in (str(row.get("reason") or ""), *more) if r)
