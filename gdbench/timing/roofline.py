"""Roofline columns: how close each cell's update loop comes to the memory roof.

bytes_per_step is the problem's least traffic per step (linreg: X and y read once,
itemsize·(N·D + N)); achieved_gbps = bytes_per_step / time_per_step; roofline_frac =
achieved / the measured read bandwidth of the cell's device. Where the data fit in the
last-level cache (GPU: L2) the memory bound does not apply: ``cache_resident`` says so,
and a fraction above 1 is then possible.
"""

from __future__ import annotations

import math

import numpy as np

# The columns a sweep's rows add, and their kinds (``gdbench.results.schema``).
ROOFLINE_KINDS = {
    "bytes_per_step": "non-negative",
    "flops_per_step": "non-negative",
    "achieved_gbps": "non-negative",
    "achieved_gflops": "non-negative",
    "bandwidth_gbps": "non-negative",
    "bandwidth_method": "text",
    "roofline_frac": "non-negative",
    "cache_resident": "flag",
}
ROOFLINE_COLUMNS = list(ROOFLINE_KINDS)


def roofline_columns(row: dict, problem, inst, limits: dict) -> dict:
    itemsize = np.dtype(row["dtype"]).itemsize
    nbytes = problem.bytes_per_step(inst, itemsize)
    flops = problem.flops_per_step(inst)
    out: dict[str, object] = dict.fromkeys(ROOFLINE_COLUMNS, "")
    out.update(bytes_per_step=nbytes, flops_per_step="" if flops is None else flops)
    limit = limits.get(row["device"])
    if limit is not None:
        out.update(
            bandwidth_gbps=limit["gbps"],
            bandwidth_method=limit["method"],
            cache_resident=bool(nbytes <= limit.get("cache_bytes", 0)),
        )
    t = row.get("time_per_step_s")
    if isinstance(t, float) and t > 0 and not math.isnan(t):
        out["achieved_gbps"] = nbytes / t / 1e9
        if flops is not None:
            out["achieved_gflops"] = flops / t / 1e9
        if limit is not None:
            out["roofline_frac"] = out["achieved_gbps"] / limit["gbps"]
    return out
