"""Roofline columns: how close each cell's update loop comes to the roof that limits it.

A cell's step does ``flops_per_step`` floating-point operations (the problem's analytic
count) and moves at least ``bytes_per_step`` bytes (its least traffic: linreg reads X and y
once, itemsize·(N·D + N)); its arithmetic intensity is their ratio, FLOP per byte. Two
roofs bound it, both measured by ``gdbench machine`` (machine.json):

* the **compute roof**, ``peak_gflops``: the best backend's sustained GEMM rate for the
  cell's dtype on its device (``gdbench.timing.gemm``);
* the **bandwidth roof**, bandwidth × intensity: the memory read bandwidth, or where the
  step's bytes fit in the last-level cache (GPU: L2; ``cache_resident``) the cache's own
  (``cache_gbps``, a read of an array a quarter of the cache).

The bytes include the optimizer's state where the problem counts it (the classifier: each
parameter-sized array gdbench's specification of the optimizer keeps, read and written
once, 2·P per array; ``Problem.state_bytes_per_step``).

``roof_gflops`` = min(compute roof, bandwidth roof), ``bound`` says which one it is
(``compute``, ``memory`` or ``cache``; empty where no roof applies: a cache-resident cell
without a cache measurement, or one without a device measurement), and ``roofline_frac``
= ``gflops`` / ``roof_gflops``. A problem without a FLOP count (a plug-in's) has only the
bandwidth roof: its fraction is ``achieved_gbps`` / the bandwidth.
"""

from __future__ import annotations

import math

import numpy as np

# The columns a sweep's rows add, and their kinds (``gdbench.results.schema``).
ROOFLINE_KINDS = {
    "bytes_per_step": "non-negative",
    "flops_per_step": "non-negative",
    "intensity": "non-negative",
    "achieved_gbps": "non-negative",
    "gflops": "non-negative",
    "bandwidth_gbps": "non-negative",
    "bandwidth_method": "text",
    "cache_resident": "flag",
    "cache_gbps": "non-negative",
    "peak_gflops": "non-negative",
    "peak_method": "text",
    "roof_gflops": "non-negative",
    "bound": "text",
    "roofline_frac": "non-negative",
}
# Not a column: a row's timing_warning takes it (``roof_columns``).
ROOFLINE_COLUMNS = list(ROOFLINE_KINDS)
BOUNDS = ("compute", "memory", "cache")


def roof(flops, nbytes: int, limit: dict | None, dtype: str) -> tuple[float | None, str, bool]:
    """``(roof in GFLOP/s or None, bound, cache_resident)`` of a step of ``flops`` and
    ``nbytes`` against one device's measurements (None: none were made)."""
    if limit is None:
        return None, "", False
    resident = bool(nbytes <= limit.get("cache_bytes", 0))
    gbps = limit.get("cache_gbps") if resident else limit.get("gbps")
    peak = (limit.get("gemm") or {}).get(dtype, {}).get("gflops")
    if flops is None:  # a bandwidth roof alone, in GB/s terms
        return None, ("" if gbps is None else ("cache" if resident else "memory")), resident
    bandwidth_roof = None if gbps is None or nbytes <= 0 else gbps * flops / nbytes
    candidates = [(bandwidth_roof, "cache" if resident else "memory"), (peak, "compute")]
    known = [(r, name) for r, name in candidates if r is not None]
    if not known or (resident and bandwidth_roof is None):
        # Cache-resident without a cache measurement: the memory roof does not apply and
        # the compute roof alone would flatter a step that the cache limits.
        return None, "", resident
    value, bound = min(known, key=lambda rb: rb[0])
    return float(value), bound, resident


def state_arrays(row: dict) -> int:
    """How many parameter-sized arrays the row's optimizer keeps (gdbench's specification
    of it, with the row's hyperparameters): Adam's m and v 2, momentum's buffer 1, SGD 0."""
    import json

    from gdbench import registry

    opt = registry.optimizers().get(str(row.get("optimizer", "sgd")))
    if opt is None:
        return 0
    try:
        hp = opt.resolve(json.loads(row.get("optimizer_args") or "{}"))
    except (TypeError, ValueError):
        hp = opt.resolve({})
    probe = np.zeros(3)
    state = opt.init(probe, hp)
    return sum(1 for v in state.values() if isinstance(v, np.ndarray) and v.shape == probe.shape)


def roofline_columns(row: dict, problem, inst, limits: dict) -> dict:
    """A timed row's roofline columns: its problem's bytes and FLOPs a step against the
    roofs ``limits`` holds for the row's device (``roof_columns``)."""
    itemsize = np.dtype(row["dtype"]).itemsize
    nbytes = problem.bytes_per_step(inst, itemsize)
    state = getattr(problem, "state_bytes_per_step", None)
    if state is not None:
        nbytes += state(inst, itemsize, state_arrays(row))
    flops = problem.flops_per_step(inst)
    return roof_columns(row, nbytes, flops, limits.get(row["device"]))


# A step measured faster than its roof allows by more than this is no fraction of the roof:
# the roof was measured low (a shared machine, a busy moment), and the row says so.
ROOF_SLACK = 1.05


def roof_columns(row: dict, nbytes: int, flops, limit: dict | None) -> dict:
    """The roofline columns of a row of ``nbytes`` and ``flops`` a step (None: no count)
    against one device's measurements ``limit``, and ``roof_note``: why the fraction is
    left empty where the step beat its roof by more than ``ROOF_SLACK`` (else "")."""
    out: dict[str, object] = dict.fromkeys(ROOFLINE_COLUMNS, "")
    out.update(bytes_per_step=nbytes, flops_per_step="" if flops is None else flops)
    if flops is not None and nbytes > 0:
        out["intensity"] = flops / nbytes
    roof_gflops, bound, resident = roof(flops, nbytes, limit, row["dtype"])
    if limit is not None:
        gemm = (limit.get("gemm") or {}).get(row["dtype"], {})
        out.update(
            bandwidth_gbps=limit["gbps"],
            bandwidth_method=limit["method"],
            cache_resident=resident,
            cache_gbps=limit.get("cache_gbps", ""),
            peak_gflops=gemm.get("gflops", ""),
            peak_method=gemm.get("method", ""),
            roof_gflops="" if roof_gflops is None else roof_gflops,
            bound=bound,
        )
    out["roof_note"] = ""
    t = row.get("time_per_step_s")
    if isinstance(t, float) and t > 0 and not math.isnan(t):
        achieved_gbps = nbytes / t / 1e9
        out["achieved_gbps"] = achieved_gbps
        if flops is not None:
            out["gflops"] = flops / t / 1e9
            if roof_gflops:
                out["roofline_frac"] = flops / t / 1e9 / roof_gflops
        elif limit is not None and bound:
            gbps = limit["cache_gbps"] if bound == "cache" else limit["gbps"]
            out["roofline_frac"] = achieved_gbps / gbps
        frac = out["roofline_frac"]
        if isinstance(frac, float) and frac > ROOF_SLACK:
            out["roofline_frac"] = ""
            out["roof_note"] = f"{ROOF_NOTE}the step ran at {frac:.2f}× the measured {bound} roof"
    return out


ROOF_NOTE = "roof underestimated: "


def with_roof(row: dict, columns: dict) -> None:
    """``row`` updated with ``roof_columns``' columns; its ``timing_warning`` says the roof
    was underestimated where the note does, and no longer where an earlier one did."""
    columns = dict(columns)
    note = columns.pop("roof_note", "")
    row.update(columns)
    warning = row.get("timing_warning")
    parts = [p for p in str(warning or "").split("; ") if p and not p.startswith(ROOF_NOTE)]
    if warning is not None and not isinstance(warning, str):  # NaN: none read back
        parts = []
    row["timing_warning"] = "; ".join([*parts, note] if note else parts)


def bound_again(row: dict, limit: dict | None) -> None:
    """A finished row's roof columns again against ``limit`` (its device's roofs, measured
    again), from its own bytes and FLOPs a step and its time; rows without them (skipped,
    failed) are left as they are."""
    nbytes, flops = _number(row.get("bytes_per_step")), _number(row.get("flops_per_step"))
    if nbytes is None:
        return
    count: int | float | None = flops
    if flops is not None and flops.is_integer():  # a count, written as one
        count = int(flops)
    with_roof(row, roof_columns(row, int(nbytes), count, limit))


def _number(value) -> float | None:
    """A finite number a row holds (an int, a float, NumPy's), else None ("", NaN, NA)."""
    if isinstance(value, bool | str) or value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None
