"""`gdbench compare`: the statistics on this machine's own noise, and real runs end to end.

The noise comes from a committed run (results/cpu-intel-xeon-2core/compare-threads/
noise-60-rounds: the default suite, 60 rounds per cell, each round in fresh processes, on
this project's CI machine kind): two sets of its rounds are drawn without overlap, so a
trial holds the real run-to-run variation (per cell, the standard deviation of the log of a
round's median is 0.14 to 0.27), not only the spread of one round's blocks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gdbench.cli.commands import main
from gdbench.reports.compare import compare, load
from gdbench.reports.significance import (
    FASTER,
    SAME,
    SLOWER,
    adjust,
    compare_rounds,
    compare_samples,
)
from gdbench.results.schema import SPEC_COLUMNS, read_results

from .conftest import DATA, ROOT, require

pytestmark = require("scipy")

COMMITTED = ROOT / "results" / "cpu-intel-xeon-2core" / "compare-threads"
TRIALS = 40  # per cell: 20 cells × 40 = 800 trials for each rate


def committed_rounds(folder: str = "noise-60-rounds") -> list[list[np.ndarray]]:
    df = read_results(COMMITTED / folder / "samples.csv")
    df["per_step"] = df["seconds"] / df["steps_in_block"]
    return [
        [r["per_step"].to_numpy() for _, r in cell.groupby("round")]
        for _, cell in df.groupby(SPEC_COLUMNS, dropna=False)
    ]


def trial_rates(factor: float, per_side: int, seed: int = 0) -> tuple[float, float]:
    """(fraction called no significant change, fraction called slower) over seeded trials:
    each splits a cell's committed rounds into two disjoint sets of ``per_side`` rounds and
    multiplies the second by ``factor``."""
    rng = np.random.default_rng(seed)
    same = slower = total = 0
    for rounds in committed_rounds():
        assert len(rounds) >= 2 * per_side
        for t in range(TRIALS):
            pick = rng.permutation(len(rounds))
            old = [rounds[i] for i in pick[:per_side]]
            new = [rounds[i] * factor for i in pick[per_side : 2 * per_side]]
            verdict = compare_rounds(old, new, seed=t, resamples=500).verdict
            same += verdict == SAME
            slower += verdict == SLOWER
            total += 1
    return same / total, slower / total


def test_false_alarms_on_this_machines_run_to_run_noise():
    same, _ = trial_rates(1.0, per_side=5)  # measured: 96.6% (seed 0)
    assert same >= 0.95, f"only {same:.1%} of A/A trials called no significant change"


def test_a_doubling_is_detected_with_five_rounds():
    # With the A/A test above, a rule that always answered one way cannot pass both.
    _, slower = trial_rates(2.0, per_side=5)  # measured: 96.6%
    assert slower >= 0.95, f"2× slower detected in only {slower:.1%} of trials"


def test_a_slowdown_of_1_3_needs_thirty_rounds_on_this_machine():
    # Measured 94.0% and 95.3% (two seeded sets of 800 trials); 24% with 5 rounds, 61%
    # with 10, 90% with 20: the power table of docs/compare.md. This machine's run-to-run noise,
    # not the test, sets the number of rounds.
    _, slower = trial_rates(1.3, per_side=30)
    assert slower >= 0.93, f"1.3× slower detected in only {slower:.1%} of trials"


def test_a_comparison_of_many_unchanged_cells_rarely_calls_any_changed():
    """Family-wise: each trial compares all 20 cells at once (5 rounds a side) and fails if
    any cell is called changed. Unadjusted, about half the trials would (1 − 0.966²⁰)."""
    rng = np.random.default_rng(7)
    families = committed_rounds()
    trials, flagged = 60, 0
    for t in range(trials):
        changes = []
        for rounds in families:
            pick = rng.permutation(len(rounds))
            old, new = [rounds[i] for i in pick[:5]], [rounds[i] for i in pick[5:10]]
            changes.append(compare_rounds(old, new, seed=t, resamples=200))
        flagged += any(c.verdict != SAME for c in adjust(changes, 0.05))
    assert flagged / trials <= 0.05, f"{flagged} of {trials} A/A comparisons flagged a cell"


def test_two_committed_runs_of_the_same_code_change_nothing():
    old, new = load(COMMITTED / "threads-2"), load(COMMITTED / "threads-2-again")
    cmp = compare(old, new)
    assert len(cmp.cells) == 20 and {c.change.verdict for c in cmp.cells} == {SAME}
    assert min(c.change.p_value for c in cmp.cells) < 0.05  # unadjusted, one cell would


def test_block_level_statistics_from_closed_form_cases():
    rng = np.random.default_rng(3)
    old = rng.lognormal(0.0, 0.05, 30)
    assert compare_samples(old, old * 2.0).verdict == SLOWER
    assert compare_samples(old, old * 0.5).verdict == FASTER
    same = compare_samples(old, old.copy())
    assert same.verdict == SAME and same.ratio == 1.0 and same.p_value == pytest.approx(1.0)
    # significant but inside the threshold: no change counted
    tiny = compare_samples(old, old * 1.03, threshold=0.05)
    assert tiny.verdict == SAME
    assert compare_samples(old, old * 1.03, threshold=0.01).verdict == SLOWER


def test_rounds_are_the_unit_once_both_sides_have_four():
    rng = np.random.default_rng(0)
    four = [rng.lognormal(0, 0.1, 10) for _ in range(4)]
    three = four[:3]
    assert compare_rounds(four, four).unit == "rounds"
    assert compare_rounds(four, three).unit == "blocks"


# --- end to end: real runs, real plug-ins -------------------------------------------------

ARGS = ["run", "--problem", "linreg", "--backend", "numpy", "--n-samples", "20000"]


@pytest.fixture(scope="module")
def timed_runs(tmp_path_factory):
    """The same cells twice, the second with a numpy backend doing its work twice, and a
    third whose gradient is 10% off; real worker processes, 8 timing rounds each (a 2×
    change is found in 99.9% of trials with 10 rounds, 96.6% with 5, on this machine).

    The pair old/new is measured once more when the first pair does not show the doubling:
    on this shared 2-core machine a load spike over the seconds of one run once made the
    doubled work measure faster than the plain one (in a 16-minute suite, alone)."""
    import shutil

    from gdbench import registry

    root = tmp_path_factory.mktemp("cmp")
    timed = [*ARGS, "--rounds", "8", "--time-budget", "0.05"]
    builtin = dict(registry.backends())
    twice = str(DATA / "numpy_twice.py")
    try:
        for attempt in (1, 2):
            for name in ("old", "new"):
                shutil.rmtree(root / name, ignore_errors=True)
            assert main([*timed, "--out", str(root / "old")]) == 0
            assert main([*timed, "--plugin", twice, "--out", str(root / "new")]) == 0
            registry._BACKENDS.clear()
            registry._BACKENDS.update(builtin)
            cell = compare(load(root / "old"), load(root / "new"), 0.05).cells[0]
            if cell.change is not None and cell.change.verdict == SLOWER and cell.change.low > 1:
                break
            print(f"compare fixture: attempt {attempt} did not show the doubling; measured again")
        wrong = str(DATA / "numpy_wrong_gradient.py")
        assert main([*timed, "--plugin", wrong, "--out", str(root / "wrong")]) == 1
    finally:  # the plug-ins replaced "numpy" in this process: the built-in comes back
        registry._BACKENDS.clear()
        registry._BACKENDS.update(builtin)
    return root


def test_samples_csv_has_every_block_of_every_round(timed_runs):
    df = read_results(timed_runs / "old" / "samples.csv")
    summary = read_results(timed_runs / "old" / "summary.csv")
    assert sorted(df["round"].unique()) == list(range(1, 9))
    assert list(df.columns) == [*SPEC_COLUMNS, "round", "block", "steps_in_block", "seconds"]
    per = df["seconds"] / df["steps_in_block"]
    row = summary.iloc[0]
    assert row["repeats"] == len(df) and row["rounds"] == 8
    assert row["time_per_step_s"] == pytest.approx(float(np.median(per)))


def test_doing_the_work_twice_is_called_slower(timed_runs, capsys):
    out = timed_runs / "cmp-twice"
    code = main(["compare", str(timed_runs / "old"), str(timed_runs / "new"), "--out", str(out)])
    assert code == 0
    row = pd.read_csv(out / "compare.csv").iloc[0]
    assert row["timing"] == SLOWER and row["unit"] == "rounds"
    assert row["ratio_low"] > 1.0, row  # the gradient is most of a step: about 2×
    assert (out / "compare.png").stat().st_size > 0
    assert "slower" in (out / "compare.md").read_text()
    assert (
        main(["compare", str(timed_runs / "old"), str(timed_runs / "new"), "--fail-above", "10"])
        == 1
    )
    assert (
        main(["compare", str(timed_runs / "old"), str(timed_runs / "new"), "--fail-above", "500"])
        == 0
    )
    capsys.readouterr()


def test_numerics_that_broke_come_first_and_fail(timed_runs, capsys):
    code = main(
        ["compare", str(timed_runs / "old"), str(timed_runs / "wrong"), "--fail-above", "500"]
    )
    text = capsys.readouterr().out
    assert code == 1
    assert "NUMERICS BROKE" in text and "agrees → disagrees" in text
    assert text.index("NUMERICS BROKE") < text.index("cell ")


def test_same_folder_against_itself_changes_nothing(timed_runs):
    side = load(timed_runs / "old")
    cmp = compare(side, side)
    assert [c.change.verdict for c in cmp.cells] == [SAME]
    assert cmp.fails(0.0) == []


def test_cells_on_one_side_only_are_listed_with_the_reason(timed_runs, tmp_path, capsys):
    other = tmp_path / "other"
    argv = [*ARGS, "--no-timing", "--dtype", "float32,float64", "--out", str(other)]
    assert main(argv) == 0
    code = main(["compare", str(timed_runs / "old"), str(other)])
    text = capsys.readouterr().out
    assert code == 0
    assert "float64" in text and "only in" in text
    assert "not timed" in text  # the float32 cell matched, without timing on one side


def test_ignore_dtype_sets_float32_against_float64(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main([*ARGS, "--no-timing", "--out", str(a)]) == 0
    assert main([*ARGS, "--no-timing", "--dtype", "float64", "--out", str(b)]) == 0
    assert main(["compare", str(a), str(b)]) == 2
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--ignore", "dtype"]) == 0
    assert "1 cells compared" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare", "{tmp}", "{tmp}"], "no gdbench results"),
        (["compare", "{tmp}/missing", "{tmp}"], "is not a folder"),
        (["compare", "{old}", "{old}", "--threshold", "five"], "--threshold"),
        (["compare", "{old}", "{old}", "--fail-above", "-3"], "--fail-above"),
        (["compare", "{old}", "{old}", "--ignore", "problem"], "--ignore"),
        (["compare", "{old}", "{old}", "--out", "{old}"], "already exists"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(timed_runs, tmp_path, capsys, argv, message):
    argv = [a.format(tmp=tmp_path, old=timed_runs / "old") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_damaged_samples_csv_is_a_usage_error(timed_runs, tmp_path, capsys):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(timed_runs / "old", copy)
    (copy / "samples.csv").write_text("problem,seconds\nlinreg,abc\n")
    assert main(["compare", str(timed_runs / "old"), str(copy)]) == 2
    assert "samples.csv" in capsys.readouterr().err


def test_a_cell_timed_again_replaces_its_blocks(tmp_path):
    """Killed after its samples were written but before its summary row: on --resume the
    cell is timed again, and its new blocks replace the old ones."""
    from gdbench.results.schema import samples_frame
    from gdbench.results.writer import ResultWriter
    from gdbench.spec import RunSpec

    a = RunSpec("linreg", "numpy", "eager", "cpu", "float32", 0.01, 20)
    b = RunSpec("linreg", "jax", "jit", "cpu", "float32", 0.01, 20)
    w = ResultWriter(tmp_path)
    w.add({**a.asdict(), "status": "ok"}, None, samples_frame(a.asdict(), [1.0, 2.0], 10))
    w.add({**b.asdict(), "status": "ok"}, None, samples_frame(b.asdict(), [1.0] * 5, 10))
    summary = read_results(tmp_path / "summary.csv")
    summary.iloc[:1].to_csv(tmp_path / "summary.csv", index=False)  # b's row never landed
    again = ResultWriter(tmp_path, resume=True)
    again.add({**b.asdict(), "status": "ok"}, None, samples_frame(b.asdict(), [3.0] * 3, 10))
    df = read_results(tmp_path / "samples.csv")
    assert sorted(df.groupby("backend")["seconds"].apply(list).items()) == [
        ("jax", [3.0, 3.0, 3.0]),
        ("numpy", [1.0, 2.0]),
    ]


@pytest.mark.parametrize("bad", ["nan", "0", "-1", "inf", ""])
def test_a_cell_with_invalid_samples_is_not_comparable(tmp_path, capsys, bad):
    runs = []
    for name in ("old", "new"):
        out = tmp_path / name
        argv = ["--problem", "quadratic", "--backend", "numpy", "--time-budget", "0.05"]
        assert main([*argv, "--out", str(out)]) == 0
        runs.append(out)
    samples = pd.read_csv(runs[1] / "samples.csv")
    samples["seconds"] = samples["seconds"].astype(object)
    samples.loc[0, "seconds"] = bad
    samples.to_csv(runs[1] / "samples.csv", index=False)
    capsys.readouterr()
    assert main(["compare", str(runs[0]), str(runs[1])]) == 0
    out = capsys.readouterr().out
    assert "not comparable: new's samples.csv has" in out
    assert "faster" not in out and "slower" not in out
