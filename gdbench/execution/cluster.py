"""Cells on a Dask cluster: ``--cluster tcp://host:8786`` or ``--cluster local:N``.

The local runner stays the default and needs nothing started; this module is imported only
when ``--cluster`` is given, and ``dask[distributed]`` is the optional extra ``cluster``.

The engine's defaults that would spoil a benchmark, and what gdbench does about each:

- **Thread variables.** A Nanny sets ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and
  ``OPENBLAS_NUM_THREADS`` to 1 before it starts its worker
  (``distributed.nanny.pre-spawn-environ``). Each cell runs in a subprocess whose
  environment gdbench sets from ``--threads`` (or the host's CPUs), as the local runner does.
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
import hashlib
import logging
import os
import pickle
import re
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
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


@contextlib.contextmanager
def cluster_runner(plan, measure: bool = False):
    """Connects to ``plan.cluster``, checks its workers against the plan's cells (a usage
    error before any cell runs) and yields the ClusterRunner; with ``measure``, each
    host's bandwidth is measured first (``runner.host_limits``)."""
    ready = False
    try:
        with connect(plan.cluster) as client:
            workers = workers_of(client)
            check_workers_import(client, str(plan.cluster))
            check_layout(workers, plan.specs, plan.options.timing, str(plan.cluster))
            runner = ClusterRunner(client, workers, tag=str(Path(plan.out).resolve()))
            if measure:
                runner.host_limits = runner.measure_hosts()
            ready = True
            yield runner
    except UsageError:
        if not ready and not plan.resume:  # refused before any cell: leave no empty folder
            with contextlib.suppress(OSError):
                Path(plan.out).rmdir()
        raise


def task_key(spec: RunSpec, round_: int, tag: str) -> str:
    """The task's key: from the cell's key, its round and the results folder, so a lost
    worker or a resumed sweep meets the same key, never a duplicate."""
    from gdbench.results.schema import normal_key

    text = repr((normal_key(spec.key()), round_, tag))
    return f"gdbench-{spec.backend}-{hashlib.sha1(text.encode()).hexdigest()[:20]}-r{round_}"


def on_worker(payload: dict):
    """Runs in a Dask worker: the task in a fresh subprocess with gdbench's thread
    variables; returns ``(result, where)``, or ``(message, where)`` when it crashed."""
    from distributed import get_worker

    from gdbench.compat.environment import available_cpus
    from gdbench.execution.runner import worker_environment

    worker = get_worker()
    where = {"host": socket.gethostname(), "worker": worker.address}
    threads = payload.get("threads") or available_cpus()
    payload = {**payload, "threads": threads}
    limits = payload.pop("host_limits", None)
    if limits is not None and "options" in payload:
        own = limits.get(urlparse(worker.address).hostname or "", {})
        payload["options"] = replace(payload["options"], limits=own)
    spec = payload.get("spec")
    env = {**os.environ, **worker_environment(threads, getattr(spec, "backend", None))}
    with tempfile.TemporaryDirectory(prefix="gdbench-cell-") as tmp:
        src, dst = Path(tmp) / "in.pkl", Path(tmp) / "out.pkl"
        src.write_bytes(pickle.dumps(payload))
        proc = subprocess.run(
            [sys.executable, "-m", "gdbench.execution.cell_process", str(src), str(dst)],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 or not dst.exists():
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            return f"cell process exited with status {proc.returncode}: {tail}", where
        return pickle.loads(dst.read_bytes()), where


def _suspicious(dask_scheduler, keys):
    return {k: ts.suspicious for k in keys if (ts := dask_scheduler.tasks.get(k)) is not None}


class ClusterRunner:
    """Submits cells to the cluster; the driver alone writes results, as rows come back."""

    def __init__(self, client, workers: list[Worker], tag: str, host_limits: dict | None = None):
        self.client, self.workers, self.tag = client, workers, tag
        self.host_limits = host_limits

    def _submit(
        self, spec: RunSpec, opts, task: str, round_: int, seeded: dict, plugins, host=None
    ):
        ref_key = (*spec.reference_args(), opts.data_file)
        payload = {
            "task": task,
            "spec": spec,
            "options": replace(opts, plugins=()),
            "round": round_,
            "threads": opts.threads,
            "seeded": {ref_key: seeded[ref_key]},
            "plugins": plugins,
        }
        if self.host_limits is not None:
            payload["host_limits"] = self.host_limits
        gpu = spec.device == "cuda"
        workers = [w.address for w in self.workers if w.gpu == gpu] or None
        return self.client.submit(
            on_worker,
            payload,
            key=task_key(spec, round_, self.tag),
            pure=False,
            retries=0,
            resources={"GPU": 1} if gpu else None,
            # A later round goes back to the host of the first (a host name, so a restarted
            # worker there still counts); if that host is gone it may run elsewhere, and its
            # blocks are then not pooled (run_cells checks).
            workers=[host] if host else workers,
            allow_other_workers=bool(host),
        )

    def attempts(self, key: str) -> int:
        try:
            counts = self.client.run_on_scheduler(_suspicious, keys=[key])
        except Exception:  # an older scheduler, or one that forgot the task: unknown
            return 1
        return int(counts.get(key, 0)) + 1

    def measure_hosts(self) -> dict[str, dict]:
        """Each host's read bandwidth, measured once on one of its workers."""
        from distributed import wait

        firsts: dict[str, Worker] = {}
        for w in self.workers:
            firsts.setdefault(w.host, w)
        futures = {
            host: self.client.submit(
                on_worker,
                {"task": "limits", "threads": None},
                key=f"gdbench-limits-{host}-{self.tag}",
                workers=[w.address],
                allow_other_workers=False,
                pure=False,
                resources={"GPU": 1} if w.gpu else None,
            )
            for host, w in firsts.items()
        }
        wait(list(futures.values()))
        out = {}
        for host, f in futures.items():
            result, where = f.result()
            if isinstance(result, str):
                raise UsageError(f"--cluster: measuring host {host} failed: {result}")
            out[host] = {"hostname": where["host"], **result}
        return out

    def run_cells(
        self,
        specs: Iterable[RunSpec],
        opts,
        on_done: Callable,
        on_start: Callable = lambda spec: None,
        rounds_done: Callable[[RunSpec], int] = lambda spec: 0,
        on_round: Callable = lambda spec, samples, why: None,
        timed: Iterable[RunSpec] = (),
        row_of: Callable[[RunSpec], dict | None] = lambda spec: None,
    ) -> None:
        """``runner.run_cells``' contract, on the cluster. Every round of a cell runs on the
        host of its first round, so that one row never pools two machines' timings."""
        from distributed import as_completed

        from gdbench.execution.runner import error_row, seeded_references

        specs = list(specs)
        everything = list(dict.fromkeys([*timed, *specs]))
        seeded = seeded_references(everything, opts.data_file)
        plugins = [(Path(p).name, Path(p).read_text(encoding="utf-8")) for p in opts.plugins]

        futures = {self._submit(s, opts, "execute", 1, seeded, plugins): s for s in specs}
        for future in as_completed(futures):
            spec = futures[future]
            try:
                result, where = future.result()
            except Exception as exc:  # KilledWorker, a lost connection …
                row = error_row(spec, _died(exc), opts.threads)
                row.update(host="", worker="")  # not this driver's: unknown
                on_done(spec, row, None, None)
                continue
            if isinstance(result, str):
                row, traj, samples = error_row(spec, result, opts.threads), None, None
            else:
                row, traj, samples = result
            row.update(where, attempts=self.attempts(future.key))
            if row["attempts"] > 1:
                row["reason"] = "; ".join(
                    r
                    for r in (
                        str(row.get("reason") or ""),
                        f"run {row['attempts']} times: a worker died running it before "
                        f"(the scheduler's allowed-failures); this row is from {where['worker']}",
                    )
                    if r
                )
            future.release()
            on_done(spec, row, traj, samples)
        if not opts.timing or opts.rounds <= 1:
            return
        for round_ in range(2, opts.rounds + 1):
            todo = [s for s in everything if 0 < rounds_done(s) < round_]
            first = {s: _worker_host(row_of(s)) for s in todo}
            more = {
                self._submit(s, opts, "retime", round_, seeded, plugins, host=first[s][1]): s
                for s in todo
            }
            for future in as_completed(more):
                spec = more[future]
                try:
                    result, where = future.result()
                except Exception as exc:
                    on_round(spec, None, _died(exc))
                    continue
                host = first[spec][0]
                if isinstance(result, str):
                    on_round(spec, None, result)
                elif host and where["host"] != host:
                    on_round(spec, None, f"ran on {where['host']}, not {host}: not pooled")
                else:
                    on_round(spec, *result)
                future.release()


def _worker_host(row: dict | None) -> tuple[str, str]:
    """(host name, host address) of the worker that ran a cell's first round, from its row."""
    if not row or not isinstance(row.get("worker"), str) or "://" not in row["worker"]:
        return "", ""
    return str(row.get("host") or ""), urlparse(row["worker"]).hostname or ""


def _died(exc: Exception) -> str:
    name = type(exc).__name__
    if name == "KilledWorker":
        return (
            f"worker died while running this cell ({name}); not run again elsewhere, so no "
            "timing silently comes from another machine"
        )
    from gdbench.execution.runner import exception_line

    return exception_line(exc)
