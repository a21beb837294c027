"""Result CSVs: flat rows, written atomically as each cell finishes, never overwritten;
the folders they go to.

The columns are ``gdbench.results.schema``'s, documented in docs/results.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gdbench.results.files import (
    ResultsExist,
    _atomic_write,
    atomic_csv,
    clean_text,
    csv_text,
)
from gdbench.results.schema import (
    SPEC_COLUMNS,
    STATUSES,
    SUMMARY_COLUMNS,
    TRAJECTORY_ID,
    cell_key,
    normal_key,
    read_results,
)


def _param_order(columns) -> list:
    def key(c):
        head, _, tail = c.partition("_")
        return (head != "w", c != head, int(tail) if tail.isdigit() else -1)

    return sorted(columns, key=key)


class ResultWriter:
    """Keeps every finished row and rewrites the CSVs after each cell.

    A new folder is created; an existing one is only reopened with ``resume=True``, and
    then its rows are kept and extended, never replaced. With ``out=None`` nothing is
    written anywhere: the rows stay here, and ``texts`` gives the files as they would be.
    """

    def __init__(
        self,
        out: Path | None,
        summary: str = "summary.csv",
        resume: bool = False,
        columns: list[str] | None = None,
    ):
        self.out = None if out is None else Path(out)
        self.columns = columns or SUMMARY_COLUMNS
        folder = self.out if self.out is not None else Path()
        self.summary_path = folder / summary
        self.traj_path = folder / "trajectories.csv"
        self.samples_path = folder / "samples.csv"
        if self.out is not None and not resume and self.summary_path.exists():
            raise ResultsExist(f"{self.summary_path} exists; choose a new --out or --resume it")
        if self.out is not None:
            self.out.mkdir(parents=True, exist_ok=True)
        self.rows: list[dict] = []
        self.traj: list = []  # trajectory frames added since trajectories.csv was last written
        # trajectories.csv as rendered text, one part per run (TRAJECTORY_ID), so that each
        # cell renders only its own rows: rewriting the whole table through pandas after
        # every cell took 12 s of the default run's 40 (AMD EPYC, 2 cores).
        self._traj_parts: dict[tuple, Any] = {}  # run → its rows (a DataFrame)
        self._traj_text: dict[tuple, str] = {}  # run → its rows as CSV text
        self._traj_columns: list[str] = []
        # Timed blocks per cell: a cell timed again (resumed after a kill between its
        # samples and its summary row) replaces its old blocks instead of adding to them.
        self.samples: dict[tuple, Any] = {}  # DataFrames (pandas is imported lazily)
        self._cut = 0  # a resumed summary's last line, cut inside a quoted field
        if self.out is not None and resume and self.summary_path.exists():
            self._reopen()

    def _reopen(self) -> None:
        """The rows and trajectories of the folder being resumed; a usage error, before
        anything is written, when they are not what gdbench writes."""
        import pandas as pd

        from gdbench.errors import UsageError

        try:
            self.rows = _rows_of(self.summary_path)
            self._cut = (
                len(self.summary_path.read_text(encoding="utf-8").splitlines()) - 1 - len(self.rows)
            )
            if self.traj_path.exists():
                self.traj = [read_results(self.traj_path)]
            if self.samples_path.exists():
                old = read_results(self.samples_path)
                for _, cell in old.groupby(SPEC_COLUMNS, sort=False, dropna=False):
                    self.samples[cell_key(cell.iloc[0].to_dict())] = cell
        except (OSError, ValueError, TypeError, KeyError, pd.errors.ParserError) as exc:
            raise UsageError(
                f"--resume {self.out}: its results cannot be read back "
                f"({type(exc).__name__}: {exc})"
            ) from None

    def keep_valid(self, expected: set[tuple]) -> int:
        """Checks the rows a resumed folder holds against the cells of its plan: a damaged
        row (a key that does not parse, a status gdbench never writes, a row cut off
        mid-line) is dropped so that its cell runs again, and of several rows of one cell
        (a file edited or merged by hand) only the last is kept, so that no reader meets
        two; a whole row of another configuration (another --lr, say) is a usage error,
        so that rows of two runs never sit side by side. Returns how many rows were
        dropped."""
        from gdbench.errors import UsageError

        kept, dropped = [], max(self._cut, 0)  # and a last row cut inside a quoted field
        last = {}  # each cell's last valid row

        for row in self.rows:
            try:
                key = cell_key(row)
            except (TypeError, ValueError, KeyError, OverflowError):
                dropped += 1
                continue
            # timestamp is the last column every row gets: a row cut off mid-line lacks it
            if row.get("status") not in STATUSES or not isinstance(row.get("timestamp"), str):
                dropped += 1
                continue
            if _damaged_key(row):  # lr=nan, settings that are no JSON: no run writes those
                dropped += 1
                continue
            if key not in expected:
                raise UsageError(
                    f"--resume {self.out}: {self.summary_path.name} holds a row that is no cell "
                    f"of this run's command.json ({row.get('problem')} {row.get('backend')} "
                    f"lr={row.get('lr')} steps={row.get('steps')}): results of another run"
                )
            if key in last:
                dropped += 1
            last[key] = row
            kept.append(row)
        self.rows = [row for row in kept if last[cell_key(row)] is row]
        return dropped

    def done_keys(self) -> set[tuple]:
        from gdbench.spec import RunSpec

        return {normal_key(RunSpec.from_row(r).key()) for r in self.rows}

    def add(self, row: dict, traj_df=None, samples_df=None) -> None:
        self.rows.append({k: clean_text(v) if isinstance(v, str) else v for k, v in row.items()})
        if traj_df is not None:
            self.traj.append(traj_df)
        if samples_df is not None:
            self.samples[cell_key(row)] = samples_df
        self.flush(traj_changed=traj_df is not None, samples_changed=samples_df is not None)

    def row_of(self, key: tuple) -> dict | None:
        """The summary row of a cell, or None."""
        return next((r for r in self.rows if cell_key(r) == key), None)

    def rounds_done(self, key: tuple) -> int:
        """How many rounds of timed blocks the cell has (0: not timed)."""
        df = self.samples.get(key)
        if df is None or not len(df):
            return 0
        return int(df["round"].max()) if "round" in df else 1

    def add_round(self, key: tuple, samples_df) -> None:
        """One more round of a cell's timed blocks: its row's timing columns are then those
        of every block of every round (and its roofline columns follow its new median)."""
        import pandas as pd

        from gdbench.timing.timer import pooled

        self.samples[key] = pd.concat([self.samples[key], samples_df], ignore_index=True)
        df = self.samples[key]
        stats = pooled(df["seconds"].to_numpy(float) / df["steps_in_block"].to_numpy(float))
        for row in self.rows:
            if cell_key(row) == key:
                old = row.get("time_per_step_s")
                row.update(stats, rounds=self.rounds_done(key))
                for col in ("achieved_gbps", "gflops", "roofline_frac"):
                    v = row.get(col)
                    if isinstance(v, float) and isinstance(old, float) and old > 0:
                        row[col] = v * old / stats["time_per_step_s"]
        self.flush(traj_changed=False)

    def summary(self):
        import pandas as pd

        df = pd.DataFrame(self.rows)
        extra = [c for c in df.columns if c not in self.columns]
        return df.reindex(columns=self.columns + extra)

    def texts(self) -> dict[str, str]:
        """The files this writer holds, as their CSV text: what a folder would hold."""
        import pandas as pd

        header, parts = self._trajectory_csv() if (self.traj or self._traj_parts) else ("", [])
        out = {self.summary_path.name: csv_text(self.summary())}
        out["trajectories.csv"] = header + "".join(parts)
        if self.samples:
            out["samples.csv"] = csv_text(pd.concat(list(self.samples.values())))
        return out

    def flush(self, traj_changed: bool = True, samples_changed: bool = True) -> None:
        import pandas as pd

        if self.out is None:  # in memory: nothing on disk, the frames kept
            return
        # Trajectories and samples first, summary last: a cell is done once its summary row
        # is on disk, so a kill between the writes leaves a cell that --resume runs again,
        # never a summary row whose trajectory or samples are missing.
        if traj_changed and (self.traj or self._traj_parts):
            header, parts = self._trajectory_csv()
            _atomic_write(self.traj_path, lambda fh: fh.writelines([header, *parts]))
        if samples_changed and self.samples:
            frames = list(self.samples.values())
            atomic_csv(pd.concat(frames, ignore_index=True), self.samples_path)
        atomic_csv(self.summary(), self.summary_path)

    def _trajectory_csv(self) -> tuple[str, list[str]]:
        """The header and each run's rows of trajectories.csv, rendering only what changed.
        A resumed run meets the reference again, and the rows of a cell killed after its
        trajectory was written: one row per run and step, the newest, at the place of the
        newest."""
        import pandas as pd

        first = [*TRAJECTORY_ID, "step", "loss"]
        # self.traj holds the frames added since the last write; once split into parts they
        # are dropped, so that no row is held twice.
        for frame in self.traj:
            groups = frame.groupby(TRAJECTORY_ID, sort=False, dropna=False) if len(frame) else []
            for values, rows in groups:
                run = _run_id(values)
                old = self._traj_parts.pop(run, None)
                self._traj_text.pop(run, None)
                if old is not None:
                    rows = pd.concat([old, rows], ignore_index=True)
                    rows = rows.drop_duplicates(subset="step", keep="last")
                self._traj_parts[run] = rows
        self.traj.clear()
        seen = dict.fromkeys(c for rows in self._traj_parts.values() for c in rows.columns)
        columns = first + _param_order([c for c in seen if c not in first])
        if columns != self._traj_columns:  # a run with more parameters: every part again
            self._traj_columns, self._traj_text = columns, {}
        for run, rows in self._traj_parts.items():
            if run not in self._traj_text:
                self._traj_text[run] = csv_text(rows.reindex(columns=columns), header=False)
        header = pd.DataFrame(columns=columns).to_csv(index=False)
        return header, [self._traj_text[run] for run in self._traj_parts]


def _rows_of(path: Path) -> list[dict]:
    """summary.csv's rows; where its last line was cut inside a quoted field (a kill
    mid-write), the rows before it (that line's cell runs again). Every row is one line:
    text is written without line breaks (``clean_text``)."""
    import pandas as pd

    try:
        return read_results(path).to_dict("records")
    except pd.errors.ParserError:
        text = path.read_text(encoding="utf-8")
        head = text.rstrip("\n").rsplit("\n", 1)[0] + "\n"
        rows = read_results(path, text=head)
        if not {"problem", "backend", "status", "timestamp"} <= set(rows.columns):
            raise  # not a summary gdbench wrote, cut or not: refused as it is
        return rows.to_dict("records")


def _damaged_key(row: dict) -> bool:
    """A key no run of gdbench writes: a learning rate that is not a finite positive
    number, steps that are not a positive whole number, settings that are no JSON object."""
    import json
    import math

    try:
        lr, steps = float(str(row.get("lr"))), float(str(row.get("steps")))
        if not (math.isfinite(lr) and lr > 0 and steps >= 1 and steps.is_integer()):
            return True
        for col in ("optimizer_args", "problem_args"):
            text = row.get(col)
            if isinstance(text, str) and text and not isinstance(json.loads(text), dict):
                return True
    except (TypeError, ValueError):
        return True
    return False


def _run_id(values) -> tuple:
    """A run's TRAJECTORY_ID values as a dict key: NaN (a column missing from an older
    folder) compares equal to itself here, and 4.0 read back from CSV equals 4."""
    values = values if isinstance(values, tuple) else (values,)
    return tuple(None if isinstance(v, float) and v != v else v for v in values)
