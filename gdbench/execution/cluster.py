"""A Dask cluster for ``--cluster tcp://host:8786`` or ``--cluster local:N``: parsing the
value, connecting, and checking the workers before any cell runs. The executor that runs
tasks there is ``gdbench.execution.dask_executor``.

The local executor stays the default and needs nothing started; Dask is imported only
when ``--cluster`` is given, and ``dask[distributed]`` is the optional extra ``cluster``.

The engine's defaults that would spoil a benchmark, and what gdbench does about each:

- **Thread variables.** A Nanny sets ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and
  ``OPENBLAS_NUM_THREADS`` to 1 before it starts its worker
  (``distributed.nanny.pre-spawn-environ``). Each cell runs in a subprocess whose
  environment gdbench sets from ``--threads`` (or the host's CPUs), as the local executor does.
- **Daemon workers.** A Nanny's worker is a daemon and cannot start ``multiprocessing``
  children; the cell's process is a plain ``subprocess`` (``gdbench.execution.cell_process``).
- **Memory monitor and retries.** A worker near its memory limit is killed and its task
  rescheduled on another worker, up to ``distributed.scheduler.allowed-failures`` times:
  a cell would be silently timed twice, on two machines. The ``local:N`` cluster gdbench
  starts has no memory limit and ``allowed_failures=0`` (a killed worker gives an error
  row); on a cluster it is given, each row records ``attempts`` (the scheduler's count of
  workers that died running it, plus one) and says so in its reason when it is above 1.
- **Sampling profiler.** It samples the worker's threads every 10 ms; the timed code runs
  in the cell's own process, and the ``local:N`` cluster has the profiler turned off.

Timing stays clean only if two timed cells never share a host's CPUs or a GPU at the same
time: one worker per host with one thread, or one worker per GPU with ``--resources
GPU=1`` (cuda cells are routed there). ``check_layout`` reads the workers from the
scheduler and refuses any other layout for a timed run (``--no-timing`` runs anywhere).
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from urllib.parse import urlparse

from gdbench.errors import UsageError
from gdbench.spec import RunSpec

MAX_LOCAL_WORKERS = 64
CONNECT_TIMEOUT_S = 10


@dataclass(frozen=True)
class ClusterChoice:
    """``--cluster``: a scheduler's address, or a LocalCluster of ``local_workers``."""

    address: str | None = None
    local_workers: int = 0

    def __str__(self) -> str:
        return self.address or f"local:{self.local_workers}"


def parse_cluster(value: str | None) -> ClusterChoice | None:
    """The ``--cluster`` value; a usage error when it is malformed or Dask is missing."""
    if value is None:
        return None
    text = str(value).strip()
    if text.startswith("local:"):
        n = text.removeprefix("local:")
        if not n.isdigit() or not 1 <= int(n) <= MAX_LOCAL_WORKERS:
            raise UsageError(
                f"--cluster local:N takes N from 1 to {MAX_LOCAL_WORKERS} workers, got {value!r}"
            )
        choice = ClusterChoice(local_workers=int(n))
    elif re.fullmatch(r"[a-z][a-z0-9+.-]*://[^\s/]+", text):
        choice = ClusterChoice(address=text)
    else:
        raise UsageError(
            f"--cluster takes a scheduler address (tcp://host:8786) or local:N, got {value!r}"
        )
    try:
        import distributed  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            f"--cluster needs dask.distributed ({exc}); pip install 'gdbench[cluster]'"
        ) from None
    return choice


@contextlib.contextmanager
def connect(choice: ClusterChoice):
    """A Client: to the scheduler at ``choice.address``, or to a LocalCluster started here
    (one thread per worker, no memory limit, no retries, no profiler) and stopped after."""
    import dask
    from distributed import Client, LocalCluster

    if choice.local_workers:
        settings = {
            "distributed.worker.profile.enabled": False,
            "distributed.scheduler.allowed-failures": 0,
        }
        with dask.config.set(settings):
            cluster = LocalCluster(
                n_workers=choice.local_workers,
                threads_per_worker=1,
                processes=True,
                memory_limit=0,
                dashboard_address=None,
                silence_logs=logging.ERROR,
                scheduler_kwargs={"allowed_failures": 0},
            )
            client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
        return
    try:
        client = Client(choice.address, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(f"--cluster {choice}: no scheduler answers ({exc})") from None
    try:
        yield client
    finally:
        client.close()


@dataclass(frozen=True)
class Worker:
    address: str
    host: str
    nthreads: int
    gpu: bool


def workers_of(client) -> list[Worker]:
    info = client.scheduler_info(n_workers=-1)
    return [
        Worker(
            address=addr,
            host=str(w.get("host") or urlparse(addr).hostname),
            nthreads=int(w.get("nthreads", 1)),
            gpu=float((w.get("resources") or {}).get("GPU", 0)) >= 1,
        )
        for addr, w in sorted(info.get("workers", {}).items())
    ]


def check_workers_import(client, where: str) -> None:
    """The scheduler and every worker must import gdbench (tasks carry its classes and name
    its functions); one line when one cannot, instead of an error in every row."""
    import importlib.util

    # A standard-library function: the check itself must not need gdbench on the worker.
    try:
        on_scheduler = client.run_on_scheduler(importlib.util.find_spec, "gdbench")
    except Exception:
        on_scheduler = None
    if on_scheduler is None:  # it unpickles every task, so it needs gdbench's classes too
        raise UsageError(
            f"--cluster {where}: the scheduler cannot import gdbench; install the same "
            "gdbench where the scheduler runs as on every worker"
        )
    specs = client.run(importlib.util.find_spec, "gdbench", on_error="return")
    missing = sorted(a for a, spec in specs.items() if spec is None or isinstance(spec, Exception))
    if missing:
        raise UsageError(
            f"--cluster {where}: worker {missing[0]} cannot import gdbench"
            + (f" (nor {len(missing) - 1} others)" if len(missing) > 1 else "")
            + "; install the same gdbench, with the extras its cells need, on every worker"
        )


def check_layout(workers: list[Worker], specs: list[RunSpec], timing: bool, where: str) -> None:
    """Refuses, in one line, a layout where timed cells could overlap on one host, or cells
    that no worker can run."""
    if not workers:
        raise UsageError(f"--cluster {where}: the scheduler has no workers")
    if any(s.device == "cuda" for s in specs) and not any(w.gpu for w in workers):
        raise UsageError(
            f"--cluster {where}: cuda cells need a worker started with --resources GPU=1 "
            "(one per GPU); add --device cpu to run the CPU cells only"
        )
    if any(s.device != "cuda" for s in specs) and all(w.gpu for w in workers):
        raise UsageError(f"--cluster {where}: CPU cells need a worker without a GPU resource")
    if not timing:
        return
    for w in workers:
        if w.nthreads != 1:
            raise UsageError(
                f"--cluster {where}: worker {w.address} runs {w.nthreads} threads, so timed "
                "cells would run at once on it; start workers with --nthreads 1, or --no-timing"
            )
    hosts: dict[str, list[Worker]] = {}
    for w in workers:
        hosts.setdefault(w.host, []).append(w)
    for host, ws in hosts.items():
        cpu = [w for w in ws if not w.gpu]
        if len(cpu) > 1 or (cpu and len(ws) > 1):
            raise UsageError(
                f"--cluster {where}: host {host} has {len(ws)} workers, so timed cells would "
                "share its CPUs; run one worker per host (or one per GPU, with --resources "
                "GPU=1, and no CPU worker beside them), or --no-timing"
            )
