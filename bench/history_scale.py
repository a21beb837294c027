"""How long `gdbench history` takes on a long history: RUNS result folders of CELLS cells
each, made from one real run folder (its 20 cells under CELLS / 20 seeds, each run's times
scattered by 15% and shifted by a slowdown in the middle fifth), then `gdbench history
… --html` timed end to end in fresh processes (median and range of REPEATS).

    python bench/history_scale.py results/cpu-amd-epyc-2core/history/1-main-1 [RUNS CELLS REPEATS]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make(template: Path, root: Path, runs: int, cells: int) -> None:
    summary = pd.read_csv(template / "summary.csv", dtype=str, keep_default_na=False)
    samples = pd.read_csv(template / "samples.csv", dtype=str, keep_default_na=False)
    copies = -(-cells // len(summary))
    rng = np.random.default_rng(0)
    start = pd.Timestamp("2026-01-01", tz="UTC")
    for r in range(runs):
        scale = np.exp(rng.normal(0, 0.15, copies * len(summary)))
        if runs * 2 // 5 <= r < runs * 3 // 5:
            scale = scale * 1.5
        rows, blocks = [], []
        for c in range(copies):
            s = summary.assign(seed=str(c), timestamp=(start + pd.Timedelta(hours=r)).isoformat())
            b = samples.assign(seed=str(c))
            k = scale[c * len(summary) : (c + 1) * len(summary)]
            s["time_per_step_s"] = summary.time_per_step_s.astype(float) * k
            key = summary.problem + "/" + summary.backend
            per_row = dict(zip(key, k, strict=True))
            cell_of = samples.problem + "/" + samples.backend
            b["seconds"] = samples.seconds.astype(float) * cell_of.map(per_row)
            rows.append(s)
            blocks.append(b)
        out = root / f"run-{r:03d}"
        out.mkdir(parents=True)
        pd.concat(rows).head(cells).to_csv(out / "summary.csv", index=False)
        pd.concat(blocks).to_csv(out / "samples.csv", index=False)
        (out / "command.json").write_text((template / "command.json").read_text())


def main(template: str, runs: int = 200, cells: int = 100, repeats: int = 3) -> None:
    root = Path(tempfile.mkdtemp()) / "history"
    make(Path(template), root, runs, cells)
    seconds = []
    for i in range(repeats):
        t = time.perf_counter()
        argv = [sys.executable, "-m", "gdbench", "history", str(root)]
        argv += ["--html", str(root.parent / f"h{i}.html"), "--csv", str(root.parent / "e.csv")]
        done = subprocess.run(argv, capture_output=True, text=True)
        seconds.append(time.perf_counter() - t)
        assert done.returncode == 0, done.stderr[-2000:]
    page = (root.parent / "h0.html").stat().st_size
    summary = done.stdout.splitlines()[0]
    print(
        json.dumps(
            {
                "runs": runs,
                "cells": cells,
                "seconds_median": statistics.median(seconds),
                "seconds_min": min(seconds),
                "seconds_max": max(seconds),
                "page_bytes": page,
                "summary": summary,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], *map(int, sys.argv[2:5]))
