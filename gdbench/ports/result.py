"""What ``gdbench.port`` returns: one row per candidate and dtype, the first divergence of
each, the per-parameter deviations step by step, and the step times."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gdbench.numerics.agreement import group_deviations
from gdbench.ports.recording import Recording
from gdbench.ports.stages import Divergence

COLUMNS = (
    "candidate",
    "dtype",
    "verdict",
    "agrees",
    "max_rel_dev",
    "tol",
    "error_ratio",
    "first_step",
    "first_parameter",
    "first_stage",
    "detail",
    "time_per_step_s",
    "time_per_step_iqr_s",
    "time_ratio",
    "time_ratio_low",
    "time_ratio_high",
    "compile_s",
    "threads",
    "error",
)


@dataclass(repr=False)
class PortResult:
    """``rows``: dicts of ``COLUMNS`` (``table`` gives the DataFrame); ``divergences``:
    (candidate, dtype) → the first ``Divergence`` or None; ``recordings``: implementation
    (``reference`` too) → dtype → its ``Recording``; ``layout``: parameter → slice of the
    flat vector."""

    rows: list[dict]
    divergences: dict[tuple[str, str], Divergence | None]
    recordings: dict[str, dict[str, Recording]]
    layout: dict[str, slice]
    steps: int
    meta: dict = field(default_factory=dict)

    @property
    def table(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(COLUMNS))

    def verdict(self, candidate: str, dtype: str = "float32") -> str:
        row = next(r for r in self.rows if (r["candidate"], r["dtype"]) == (candidate, dtype))
        return str(row["verdict"])

    def divergence(self, candidate: str, dtype: str = "float32") -> Divergence | None:
        """Where ``candidate`` first departs in ``dtype`` (None where it does not)."""
        return self.divergences.get((candidate, dtype))

    def deviations(self, candidate: str, dtype: str = "float32"):
        """A DataFrame, step × parameter: each parameter's deviation from the float64
        reference (its largest |w − w_ref| over its largest |w_ref|, as the agreement rule
        measures), from ``candidate``'s own run in ``dtype``."""
        import pandas as pd

        ref = self.recordings["reference"]["float64"].traj
        run = self.recordings[candidate][dtype].traj
        n = min(run.steps, ref.steps)
        steps = np.arange(1, n + 1)
        devs = group_deviations(run, ref, self.layout, steps, n=n)
        return pd.DataFrame(devs, index=pd.Index(steps, name="step"))

    @property
    def ok(self) -> bool:
        """No candidate disagrees or failed, in either dtype."""
        return not any(r["error"] or r["verdict"] == "disagrees" for r in self.rows)

    def save(self, folder) -> list:
        """port.csv (the table), deviations.csv (candidate, dtype, step, parameter,
        deviation) and port.png (``plot``, where matplotlib is installed) in ``folder``,
        each written whole; the paths written."""
        from pathlib import Path

        import pandas as pd

        from gdbench.results.files import atomic_csv, atomic_figure

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        atomic_csv(self.table, out / "port.csv")
        frames = []
        for name, by_dtype in self.recordings.items():
            for dtype in by_dtype if name != "reference" else ():
                long = (
                    self.deviations(name, dtype)
                    .reset_index()
                    .melt(id_vars="step", var_name="parameter", value_name="deviation")
                )
                frames.append(long.assign(candidate=name, dtype=dtype))
        columns = ["candidate", "dtype", "step", "parameter", "deviation"]
        devs = pd.concat(frames)[columns] if frames else pd.DataFrame(columns=columns)
        atomic_csv(devs, out / "deviations.csv")
        written = [out / "port.csv", out / "deviations.csv"]
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            return written

        fig = self.plot()
        written.append(atomic_figure(fig, out / "port.png", dpi=110, bbox_inches="tight"))
        plt.close(fig)
        return written

    def plot(self, dtype: str = "float32"):
        """Per candidate, each parameter's deviation by step (log scale): a Figure."""
        import matplotlib.pyplot as plt

        names = [c for c in self.recordings if c != "reference" and dtype in self.recordings[c]]
        cols = min(2, max(1, len(names)))
        rows = -(-max(1, len(names)) // cols)
        fig, axes = plt.subplots(
            rows, cols, figsize=(5.2 * cols, 3.2 * rows), squeeze=False, sharey=True
        )
        for ax, name in zip(axes.flat, names, strict=False):
            frame = self.deviations(name, dtype).replace(0.0, np.nan)
            for column in frame:
                ax.plot(frame.index, frame[column], label=column)
            ax.set_yscale("log")
            ax.set_title(f"{name} ({dtype}): {self.verdict(name, dtype)}", fontsize=9)
            ax.set_xlabel("step")
        for ax in list(axes.flat)[len(names) :]:
            ax.set_visible(False)
        for row in axes:
            row[0].set_ylabel("deviation from float64")
        axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        return fig

    def __str__(self) -> str:
        from gdbench.ports.report import text

        return text(self)

    __repr__ = __str__
