"""Where one update step's time goes: each operation of the step with its time, the bytes it
moves and its GB/s, and one line that says why the mode sits where it does on the roofline.

A sweep measures it after timing, for every timed cell at the largest N of each problem, D,
dtype and device, in fresh worker processes (``breakdown.csv``; the report's "Where the
time goes"). Each backend's session measures its own operations (``Session.operations``):
NumPy by timing every ufunc call on the data (``__array_ufunc__``), torch with
torch.profiler (the aten ops of eager modes, the generated kernels of compiled ones), JAX
eager by running the step's jaxpr one primitive at a time, JAX jit and scan with XLA's own
count of the compiled program's bytes.

The explanation splits the roofline fraction into its two factors:
fraction = (the roofline's bytes / the bytes the step moves) × (their GB/s / the roof).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

BREAKDOWN_COLUMNS = [
    "op",
    "operands",
    "calls_per_step",
    "seconds_per_step",
    "bytes_per_step",
    "gbps",
    "share",
]
# Operations under this share of the step are summed into one "other operations" row.
MINOR_SHARE = 0.01
PROFILE_SECONDS = 1.0  # how long the profiled steps run, at least 3 steps
_UNSIZED = ("other operations", "untracked")  # the rows OpLog adds, not operations


@dataclass
class OpLog:
    """Operations of the profiled steps, summed by (name, operands)."""

    ops: dict[tuple[str, str], list] = field(default_factory=dict)

    def add(
        self, name: str, operands: str, seconds: float, nbytes: int | None, calls: int = 1
    ) -> None:
        entry = self.ops.setdefault((name, operands), [0, 0.0, 0])
        entry[0] += calls
        entry[1] += seconds
        entry[2] = None if nbytes is None or entry[2] is None else entry[2] + nbytes

    def rows(self, steps: int, step_s: float) -> list[dict]:
        """Per-step rows, largest first; minor ones summed; the step's untracked rest last."""
        rows, minor = [], [0.0, 0]
        for (name, operands), (calls, seconds, nbytes) in self.ops.items():
            s = seconds / steps
            if s < MINOR_SHARE * step_s:
                minor[0] += s
                minor[1] += calls
                continue
            b = None if nbytes is None else nbytes / steps
            rows.append(
                {
                    "op": name,
                    "operands": operands,
                    "calls_per_step": calls / steps,
                    "seconds_per_step": s,
                    "bytes_per_step": b,
                    "gbps": b / s / 1e9 if b and s > 0 else None,
                }
            )
        rows.sort(key=lambda r: -r["seconds_per_step"])
        if minor[1]:
            rows.append(
                {
                    "op": "other operations",
                    "operands": f"{minor[1] / steps:g} calls, each under 1% of the step",
                    "calls_per_step": minor[1] / steps,
                    "seconds_per_step": minor[0],
                }
            )
        # The profile slows what it watches: shares are of the larger of the profiled
        # operations' sum and the step timed apart, whose rest is untracked.
        profiled = sum(r["seconds_per_step"] for r in rows)
        rest = step_s - profiled
        if rest > MINOR_SHARE * step_s:
            rows.append(
                {
                    "op": "untracked",
                    "operands": "Python, dispatch and calls the profile does not see",
                    "seconds_per_step": rest,
                }
            )
        total = max(step_s, profiled)
        for r in rows:
            r["share"] = r["seconds_per_step"] / total if total > 0 else None
        return rows


def operands(arrays) -> str:
    """Shapes and dtypes, e.g. ``f32[26000000,1] f32[1]``."""
    out = []
    for a in arrays:
        shape = ",".join(str(int(n)) for n in getattr(a, "shape", ()))
        dt = np.dtype(str(getattr(a, "dtype", "float64")).replace("torch.", "")).str[1:]
        out.append(f"{dt}[{shape}]")
    return " ".join(out)


def profile(session, budget_s: float = PROFILE_SECONDS) -> tuple[list[dict], float, int]:
    """Runs ``session``'s own operation profile for about ``budget_s``: its rows per step,
    the step's seconds (timed apart from the profile, which slows the steps it watches) and
    the number of profiled steps. Raises NotImplementedError where the session has none."""
    session.warmup()
    session.sync()
    t0 = time.perf_counter()
    session.run_steps(1)
    session.sync()
    one = time.perf_counter() - t0
    steps = int(min(50, max(3, budget_s / max(one, 1e-9))))
    t0 = time.perf_counter()
    session.run_steps(steps)
    session.sync()
    step_s = (time.perf_counter() - t0) / steps
    log = OpLog()
    session.operations(steps, log)
    return log.rows(steps, step_s), step_s, steps


# The matrix products by name, in each profile: NumPy's ufunc, torch's aten ops (eager, and
# the extern kernels a compiled graph calls), JAX eager's primitive.
GEMM_OPS = ("matmul", "aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "dot_general")


def is_gemm(op: str) -> bool:
    return op in GEMM_OPS or (op.startswith("extern_kernels.") and op.endswith("mm"))


def explain_compute(rows: list[dict], gemm_flops: int, peak_gflops: float | None) -> str:
    """One line for a compute-bound step (``OpLog.rows``, with their shares): the matrix
    products' share and their rate (the problem's GEMM FLOP count over their time), and the
    rest's largest operation; "" where the profile shows no matrix product by name (one
    XLA program)."""
    gemms = [r for r in rows if is_gemm(r["op"])]
    if not gemms:
        return ""
    share = sum(r["share"] or 0 for r in gemms)
    t_gemm = sum(r["seconds_per_step"] for r in gemms)
    gflops = gemm_flops / t_gemm / 1e9 if t_gemm > 0 else float("nan")
    rest = [r for r in rows if not is_gemm(r["op"])]
    line = (
        f"the matrix products ({sum(r.get('calls_per_step') or 0 for r in gemms):g} calls a "
        f"step) take {share:.0%} of the step, at {gflops:.1f} GFLOP/s"
        + (f" ({gflops / peak_gflops:.0%} of the GEMM roof)" if peak_gflops else "")
    )
    if rest:
        top = max(rest, key=lambda r: r["seconds_per_step"])
        line += (
            f"; the rest {1 - share:.0%}, most of it {top['op']} {top['operands']}".rstrip()
            + f" ({top['share'] or 0:.0%})"
        )
    return line


def explain(rows: list[dict], step_s: float, ideal_bytes: int, roof_gbps: float | None) -> str:
    """One line: the roofline fraction as traffic × bandwidth, and the dominant operation."""
    known = [r for r in rows if r.get("bytes_per_step")]
    moved = sum(r["bytes_per_step"] for r in known)
    covered = sum(r["share"] or 0 for r in known)
    top = max(rows, key=lambda r: r["seconds_per_step"]) if rows else None
    parts = []
    # A problem without data (the quadratic) has no roofline bytes to compare with.
    if ideal_bytes and moved and covered >= 0.5:  # ops of known bytes hold most of the step
        rate = moved / step_s / 1e9
        least = "" if covered > 0.95 else "at least "
        parts.append(
            f"moves {least}{moved / ideal_bytes:.1f}× the roofline's bytes a step, at "
            f"{rate:.1f} GB/s" + (f" ({rate / roof_gbps:.0%} of the roof)" if roof_gbps else "")
        )
    elif ideal_bytes and top is not None and top["op"] not in _UNSIZED:
        rate = ideal_bytes / top["seconds_per_step"] / 1e9
        parts.append(
            f"its largest operation alone takes {top['share']:.0%} of the step; at the "
            f"roofline's bytes it runs at {rate:.1f} GB/s"
            + (f" ({rate / roof_gbps:.0%} of the roof)" if roof_gbps else "")
        )
    if top is not None:
        speed = f" at {top['gbps']:.1f} GB/s" if top.get("gbps") else ""
        parts.append(
            f"most time: {top['op']} {top['operands']}".strip() + f" ({top['share']:.0%}{speed})"
        )
    return "; ".join(parts)
