"""What ``gdbench.run`` and ``gdbench.sweep`` return, and ``gdbench.load`` reads back: the
three tables of a results folder as DataFrames, the command line's verdict rule, its table
(plain for ``repr``, coloured HTML for Jupyter), the loss curves, saving and comparing."""

from __future__ import annotations

import json
from pathlib import Path

from gdbench.errors import UsageError


class Result:
    """A run's results: ``summary`` (one row per cell), ``trajectories`` (one row per cell
    and recorded step, the float64 references included), ``samples`` (one row per timed
    block; empty without timing), as typed DataFrames; ``path``, the folder they are in
    (None for a run kept in memory: ``save`` writes one)."""

    summary_name = "summary.csv"

    def __init__(self, summary, trajectories, samples=None, command=None, path=None):
        import pandas as pd

        self.summary = summary
        self.trajectories = trajectories
        self.samples = samples if samples is not None else pd.DataFrame()
        self.command = dict(command or {})
        self.path = Path(path) if path is not None else None

    @classmethod
    def from_texts(cls, texts: dict[str, str], command: dict) -> Result:
        """A run kept in memory: its files' texts (``ResultWriter.texts``) read as its
        folder would be, so that it is the same Result a folder gives."""
        import pandas as pd

        from gdbench.results.schema import read_results

        def frame(name):
            text = texts.get(name, "")
            return read_results(name, text=text) if text.strip() else None

        trajectories = frame("trajectories.csv")
        if trajectories is None:
            trajectories = pd.DataFrame(columns=["problem", "backend", "step", "loss"])
        return cls(frame(cls.summary_name), trajectories, frame("samples.csv"), command)

    @property
    def ok(self) -> bool:
        """The command line's exit rule: no cell errored or disagrees (with the run's
        ``strict``, no imprecise cell either)."""
        return self.failed.empty

    @property
    def failed(self):
        """The rows that count against the exit status."""
        from gdbench.api.run_plan import failed

        strict = bool(self.command.get("strict"))
        bad = [failed(r, strict) for r in self.summary.to_dict("records")]
        return self.summary[bad] if len(self.summary) else self.summary

    def _rows(self) -> list[dict]:
        return self.summary.to_dict("records")

    def __repr__(self) -> str:
        from gdbench.reports.table import format_table

        where = f"\n(in {self.path})" if self.path else ""
        return format_table(self._rows(), self.command.get("baseline")) + where

    def _repr_html_(self) -> str:
        from gdbench.reports.table import html_table

        return html_table(self._rows(), self.command.get("baseline"))

    def plot(self):
        """The loss of every cell against its float64 reference, and their distance (a
        matplotlib Figure)."""
        from gdbench.reports.loss_plot import loss_figure

        return loss_figure(self.trajectories)

    def save(self, path) -> Path:
        """Writes the results as a folder the command line reads (``report``, ``compare``,
        ``--resume`` of a finished run); the folder must not exist or be empty."""
        from gdbench.execution.options import check_out, make_out
        from gdbench.results.files import atomic_csv, atomic_text

        out = Path(path)
        check_out(out)
        make_out(out)
        atomic_csv(self.summary, out / self.summary_name)
        atomic_csv(self.trajectories, out / "trajectories.csv")
        if len(self.samples):
            atomic_csv(self.samples, out / "samples.csv")
        atomic_text(out / "command.json", json.dumps(self.command, indent=2) + "\n")
        self._save_more(out)
        return out

    def _save_more(self, out: Path) -> None:
        return None

    def compare(self, other, **options):
        """``gdbench.compare(self, other, ...)``: this run as the baseline."""
        from gdbench.api.comparison import compare

        return compare(self, other, **options)


class SweepResult(Result):
    """A sweep's results (``summary`` is sweep.csv, with the roofline columns), and the
    measured bandwidths (``machine``, machine.json's content)."""

    summary_name = "sweep.csv"

    def __init__(self, summary, trajectories, samples=None, command=None, path=None, machine=None):
        super().__init__(summary, trajectories, samples, command, path)
        self.machine = dict(machine or {"hosts": {}})

    def _save_more(self, out: Path) -> None:
        from gdbench.results.files import atomic_text

        atomic_text(out / "machine.json", json.dumps(self.machine, indent=2) + "\n")

    def report(self, path=None) -> Path:
        """The sweep's plots and report.md, in its folder or (saved first) in ``path``."""
        from gdbench.reports.report import write_report

        if path is not None and (self.path is None or Path(path) != self.path):
            self.path = self.save(path)
        if self.path is None:
            raise UsageError("report(path): this sweep is not in a folder yet; give one")
        return write_report(self.path)


def load(path) -> Result:
    """Any folder ``run``, ``sweep`` or the Python API wrote (older versions' included),
    as a ``Result`` (``SweepResult`` for a sweep)."""
    import os

    from gdbench.execution.options import path_kind
    from gdbench.results.schema import read_results

    if not isinstance(path, str | os.PathLike):
        raise UsageError(f"load: a results folder is a path, got {type(path).__name__}")
    folder = Path(path)
    if path_kind(folder, "load") != "dir":
        raise UsageError(f"load: {folder} is not a folder")
    sweep = (folder / "sweep.csv").exists()
    name = "sweep.csv" if sweep else "summary.csv"
    if not (folder / name).exists():
        raise UsageError(f"load: {folder} holds no summary.csv or sweep.csv (not gdbench's)")
    try:
        summary = read_results(folder / name)
        traj_path = folder / "trajectories.csv"
        trajectories = read_results(traj_path) if traj_path.exists() else None
        samples_path = folder / "samples.csv"
        samples = read_results(samples_path) if samples_path.exists() else None
        command = _json(folder / "command.json")
    except (OSError, ValueError) as exc:
        raise UsageError(f"load: {folder}: its results cannot be read ({exc})") from None
    if trajectories is None:
        import pandas as pd

        trajectories = pd.DataFrame(columns=["problem", "backend", "step", "loss"])
    if sweep:
        machine = _json(folder / "machine.json")
        return SweepResult(summary, trajectories, samples, command, folder, machine)
    return Result(summary, trajectories, samples, command, folder)


def _json(path: Path) -> dict:
    if not path.exists():
        return {}
    value = json.loads(path.read_text(encoding="utf-8"))
    return value if isinstance(value, dict) else {}
