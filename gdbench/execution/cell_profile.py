"""A cell's step profiled, in a worker process (``worker.Kind.PROFILE``): the rows of
``breakdown.csv`` for it (``gdbench.execution.step_profile`` chooses the cells)."""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

from gdbench import registry
from gdbench.execution.cell import setup_of
from gdbench.execution.instances import instance, problem_of
from gdbench.execution.rows import exception_line
from gdbench.spec import RunSpec
from gdbench.timing.breakdown import explain, explain_compute, profile
from gdbench.timing.machine_file import host_limits


@contextlib.contextmanager
def quiet_stderr():
    """File descriptor 2 sent to /dev/null (C++ libraries write there directly)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def profile_cell(spec: RunSpec, opts) -> list[dict] | str:
    """The worker's task: the cell's step profiled; its rows, or an error line."""
    try:
        backend = registry.backends()[spec.backend]
        backend.profiling()
        problem = problem_of(spec.problem, spec.problem_args)
        inst = instance(spec.instance_args(), opts.data_file)
        session = backend.prepare(problem, inst, setup_of(spec, opts))
        with quiet_stderr():  # torch's profiler prints start/stop lines from C++
            rows, step_s, steps = profile(session)
    except NotImplementedError as exc:
        return str(exc)
    except Exception as exc:
        return exception_line(exc)
    ideal = problem.bytes_per_step(inst, np.dtype(spec.dtype).itemsize)
    import socket

    own = host_limits(opts.limits or {}, socket.gethostname())
    limit = own.get(spec.device, {})
    line = explain(rows, step_s, ideal, limit.get("gbps"))
    gemm_flops = getattr(problem, "gemm_flops", None)
    if gemm_flops is not None:  # a step of matrix products: what they take, and the rest
        peak = limit.get("gemm", {}).get(spec.dtype, {}).get("gflops")
        line = explain_compute(rows, gemm_flops(inst), peak) or line
    common = {
        **spec.asdict(),
        "step_s": step_s,
        "profiled_steps": steps,
        "roofline_bytes": ideal,
        "explanation": line,
    }
    return [{**common, **r} for r in rows]
