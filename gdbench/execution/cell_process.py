"""One cell in a fresh Python process: ``python -m gdbench.execution.cell_process IN OUT``.

What a cluster worker runs for each task. A Dask worker under a Nanny is a daemon process,
and a daemon cannot start ``multiprocessing`` children, which is how the local runner
isolates backends; a plain subprocess has no such limit. It also keeps the timed code out
of the worker process (its event loop, heartbeats and sampling profiler) and gives the cell
the thread variables gdbench chooses, not the Nanny's ``OMP_NUM_THREADS=1``.

IN holds a pickled payload: the task ("execute", "retime" or "limits"), its arguments, the
references the driver computed and the plug-ins' sources; OUT receives the pickled result.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
import tempfile
from pathlib import Path


def _load_plugins(sources: list[tuple[str, str]], folder: Path) -> None:
    from gdbench import registry

    for name, text in sources:
        path = folder / name
        path.write_text(text, encoding="utf-8")
        registry.load_plugin(path)


def run(payload: dict):
    """The task's result; the plug-ins' sources live in a temporary folder while it runs
    (one per task was left behind in the system's temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="gdbench-plugins-") as folder:
        return _run(payload, Path(folder))


def _run(payload: dict, folder: Path):
    from gdbench.execution import runner

    threads = payload.get("threads")
    if threads:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
    _load_plugins(payload.get("plugins", []), folder)
    runner._SEEDED.update(payload.get("seeded", {}))
    task = payload["task"]
    if task == "execute":
        return runner.execute(payload["spec"], payload["options"])
    if task == "retime":
        return runner.retime(payload["spec"], payload["options"], payload["round"])
    if task == "limits":
        from gdbench.timing.bandwidth import machine_limits

        return {dev: b.asdict() for dev, b in machine_limits().items()}
    raise ValueError(f"unknown task {task!r}")


def main(argv: list[str]) -> int:
    src, dst = argv
    with open(src, "rb") as fh:
        payload = pickle.load(fh)
    result = run(payload)
    tmp = f"{dst}.tmp"
    with open(tmp, "wb") as fh:
        pickle.dump(result, fh)
    os.replace(tmp, dst)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
