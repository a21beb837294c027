"""One task in a fresh Python process: ``python -m gdbench.execution.cell_process IN OUT``.

What a cluster worker runs for each task. A Dask worker under a Nanny is a daemon process,
and a daemon cannot start ``multiprocessing`` children, which is how the local executor
isolates backends; a plain subprocess has no such limit. It also keeps the timed code out
of the worker process (its event loop, heartbeats and sampling profiler) and gives the cell
the thread variables gdbench chooses, not the Nanny's ``OMP_NUM_THREADS=1``.

IN holds a pickled payload: the task (``worker.Task``) and the run's options, the
references the driver computed and the plug-ins' sources (or ``measure``: this host's
bandwidth); OUT receives the pickled result.
"""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
from pathlib import Path


def run(payload: dict):
    """The task's result; the plug-ins' sources live in a temporary folder while it runs."""
    if payload.get("measure"):
        from gdbench.timing.bandwidth import device_limits

        return device_limits(tuple(payload.get("dtypes", ("float32",))))
    from gdbench.execution.worker import run_task, start

    with tempfile.TemporaryDirectory(prefix="gdbench-plugins-") as folder:
        paths = []
        for name, text in payload.get("plugins", []):
            path = Path(folder) / name
            path.write_text(text, encoding="utf-8")
            paths.append(path)
        opts = payload["options"]
        references = payload.get("references", {})
        start(paths, payload.get("threads"), references, os.getppid(), opts.shipped)
        return run_task(payload["task"], opts)


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
