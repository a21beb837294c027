"""Regression trials on genuine runs: do ``history`` and ``compare`` catch a slowdown in the
third run of a history, and leave identical runs alone?

``make POOL``: default runs with ``--rounds 3``, one after another, interleaved: plain ones
(``plain-00`` …) and ones with the built-in NumPy replaced by a copy that waits 20 µs a step
(``bench/plugins/numpy_wait.py``; ``slowed-00`` …), so that slowed run i comes after plain
runs i and i + 1.

``judge POOL``: trial i (0 ≤ i < 10) is, for ``history --fail-on-regression 10``, the
runs plain i, plain i + 1 and plain i + 2 (A/A) or slowed i as the third (slowdown); for
``compare --fail-above 10``, plain i + 1 against plain i + 2 or against slowed i. Prints
each trial's exit status and flagged cells, then the counts.

``every POOL``: the same rules over every combination the pool allows, in one process:
``history`` on every time-ordered triple of plain runs (A/A) and on every two plain runs
followed by a slowed one made after them; ``compare`` on every ordered pair of plain runs
and on every plain run against each slowed one made after it. Counts only.

    python bench/history_trials.py make POOL [PLAIN]
    python bench/history_trials.py judge POOL
    python bench/history_trials.py every POOL
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

PLUGIN = Path(__file__).parent / "plugins" / "numpy_wait.py"
TRIALS = 10


def make(pool: Path, plain: int = TRIALS + 2) -> None:
    order = [("plain", 0)]
    for i in range(1, plain):
        order.append(("plain", i))
        if i - 1 < plain - 2:
            order.append(("slowed", i - 1))
    for kind, i in order:
        out = pool / f"{kind}-{i:02d}"
        if (out / "summary.csv").is_file():
            continue
        extra = ["--plugin", str(PLUGIN)] if kind == "slowed" else []
        cmd = [sys.executable, "-m", "gdbench", "--rounds", "3", *extra, "--out", str(out)]
        print(" ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def _gdbench(*args: str) -> tuple[int, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        done = subprocess.run(
            [sys.executable, "-m", "gdbench", *args, "--json", str(report)],
            capture_output=True,
            text=True,
        )
        if done.returncode not in (0, 1):
            raise SystemExit(f"gdbench {' '.join(args)}: {done.stderr.strip()}")
        return done.returncode, json.loads(report.read_text())


def judge(pool: Path) -> None:
    counts: dict[str, list[int]] = {}
    for i in range(TRIALS):
        p = [str(pool / f"plain-{k:02d}") for k in (i, i + 1, i + 2)]
        s = str(pool / f"slowed-{i:02d}")
        trials = {
            "history A/A": ["history", *p, "--fail-on-regression", "10"],
            "history slowed": ["history", p[0], p[1], s, "--fail-on-regression", "10"],
            "compare A/A": ["compare", p[1], p[2], "--fail-above", "10"],
            "compare slowed": ["compare", p[1], s, "--fail-above", "10"],
        }
        for name, args in trials.items():
            rc, report = _gdbench(*args)
            flagged = [f"{c['cell']} {c['ratio']:.2f}×" for c in report["fails"]]
            print(f"trial {i} {name}: exit {rc}; {'; '.join(flagged) or 'nothing flagged'}")
            counts.setdefault(name, []).append(rc)
    for name, rcs in counts.items():
        print(f"{name}: exit 1 in {sum(rcs)} of {len(rcs)} trials")


def every(pool: Path) -> None:
    import itertools

    import gdbench

    plain = sorted(pool.glob("plain-*"))
    slowed = sorted(pool.glob("slowed-*"))
    # slowed k ran after plain k + 1
    later = [(list(range(min(k + 2, len(plain)))), s) for k, s in enumerate(slowed)]

    def regressed(folders) -> set[str]:
        h = gdbench.history([str(f) for f in folders])
        return {f["cell"] for f in h.failures(10)}

    aa = [regressed(t) for t in itertools.combinations(plain, 3)]
    print(f"history, 3 plain runs: a regression failed in {sum(map(bool, aa))} of {len(aa)}")
    caught, cells, total = 0, 0, 0
    for before, s in later:
        for a, b in itertools.combinations(before, 2):
            numpy = {c for c in regressed([plain[a], plain[b], s]) if "numpy/" in c}
            caught, cells, total = caught + bool(numpy), cells + len(numpy), total + 1
    print(f"history, 2 plain runs then a slowed one: failed in {caught} of {total} ({cells} cells)")

    def slower(old: Path, new: Path) -> set[str]:
        cmp = gdbench.compare(str(old), str(new), fail_above=10)
        return {f["cell"] for f in cmp.failures if f["kind"] == "slower"}

    pairs = [slower(a, b) for a, b in itertools.permutations(plain, 2)]
    print(f"compare, 2 plain runs: a cell slower in {sum(map(bool, pairs))} of {len(pairs)}")
    caught, cells, total = 0, 0, 0
    for before, s in later:
        for a in before:
            numpy = {c for c in slower(plain[a], s) if "numpy/" in c}
            caught, cells, total = caught + bool(numpy), cells + len(numpy), total + 1
    print(f"compare, a plain run then a slowed one: failed in {caught} of {total} ({cells} cells)")


if __name__ == "__main__":
    what, pool = sys.argv[1], Path(sys.argv[2])
    if what == "make":
        make(pool, *(int(a) for a in sys.argv[3:4]))
    elif what == "every":
        every(pool)
    else:
        judge(pool)
