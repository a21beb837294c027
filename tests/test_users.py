"""What users tripped over (issue 21), each reproduced: a penalty's gradient that gradcheck
at w0 = 0 cannot see, a hand-gradient disagreement that did not point at gradcheck, and a
CSV whose second target column was silently fed to the model."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from gdbench.cli.commands import main
from gdbench.results.schema import read_results

from .conftest import ROOT

RIDGE = textwrap.dedent(
    """
    import numpy as np
    import gdbench

    class Ridge(gdbench.Problem):
        name = "ridge-forgot-2"
        sized = True
        default_n_samples = 200
        default_features = 4
        default_lr = 0.05
        default_steps = 50
        takes_data = True
        options = (gdbench.Hyper("lam", 0.1, doc="the penalty lam·‖w‖²"),)

        def make(self, n_samples=None, features=None, seed=0):
            n, d = n_samples or 200, features or 4
            rng = np.random.default_rng(seed)
            X = rng.standard_normal((n, d))
            y = X @ rng.standard_normal(d)
            return gdbench.Instance(self.name, w0=np.zeros(d), data={"X": X, "y": y},
                                    n_samples=n, seed=seed)

        def loss(self, w, X, y):
            r = X @ w - y
            return (r * r).mean() + self.opt["lam"] * (w * w).sum()

        def grad(self, w, X, y):
            # the 2 of d/dw lam·‖w‖² = 2·lam·w forgotten: zero at w0 = 0, wrong anywhere else
            return (2 / len(y)) * X.T @ (X @ w - y) + self.opt["lam"] * w

    gdbench.register_problem(Ridge())
    """
)


@pytest.fixture
def ridge(tmp_path):
    path = tmp_path / "ridge.py"
    path.write_text(RIDGE)
    return str(path)


def test_gradcheck_at_w0_alone_misses_a_penalty_s_gradient(ridge, capsys):
    # The blind spot, still there when asked for: at w0 = 0 the penalty's gradient is 0.
    assert main(["gradcheck", "--plugin", ridge, "--problem", "ridge-forgot-2", "--at", "w0"]) == 0
    assert "OK" in capsys.readouterr().out


def test_gradcheck_by_default_also_checks_seeded_random_points(ridge, capsys):
    assert main(["gradcheck", "--plugin", ridge, "--problem", "ridge-forgot-2"]) == 1
    out = capsys.readouterr().out
    assert "ratio hand/true = 1: OK" in out  # at w0
    assert "… but at random point 1 of 3 (seed 0)" in out and "WRONG" in out


def test_gradcheck_along_the_reference_finds_it_too(ridge, capsys):
    argv = ["gradcheck", "--plugin", ridge, "--problem", "ridge-forgot-2", "--at", "trajectory"]
    assert main(argv) == 1
    assert "at w = " in capsys.readouterr().out


def test_builtin_gradients_agree_at_every_point(capsys):
    assert main(["gradcheck", "--at", "all"]) == 0
    out = capsys.readouterr().out
    assert "WRONG" not in out and out.count("the hand-derived gradient agrees") >= 5


def test_a_hand_gradient_disagreement_points_at_gradcheck(ridge, tmp_path):
    out = tmp_path / "r"
    argv = ["run", "--plugin", ridge, "--problem", "ridge-forgot-2", "--backend", "numpy,jax"]
    assert main([*argv, "--no-timing", "--out", str(out)]) == 1
    rows = read_results(out / "summary.csv").set_index("backend")
    assert rows.loc["numpy", "verdict"] == "disagrees"
    assert "gradcheck --problem ridge-forgot-2 --plugin … --at all" in rows.loc["numpy", "reason"]
    # the gradient, recorded beside w at each step, is what leaves the tolerance first
    assert "gradient first" in rows.loc["numpy", "reason"]
    assert rows.loc["jax", "verdict"] == "agrees"  # autodiff never sees the hand gradient


def _two_targets(tmp_path):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(50), rng.standard_normal(50)
    y1, y2 = 2 * a - b, a + 3 * b
    path = tmp_path / "two.csv"
    rows = ["a,b,y1,y2", *(f"{p},{q},{r},{s}" for p, q, r, s in zip(a, b, y1, y2, strict=True))]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def test_a_second_target_column_is_named_and_can_be_dropped(tmp_path, capsys):
    data = _two_targets(tmp_path)
    base = ["run", "--problem", "linreg", "--backend", "numpy", "--no-timing", "--data", data]
    assert main([*base, "--out", str(tmp_path / "all")]) == 0
    err = capsys.readouterr().err
    assert "column 'y1' is named like the target 'y2': --drop y1" in err
    first = read_results(tmp_path / "all" / "summary.csv").iloc[0]
    assert first.features == 3 and first.data_columns == "a,b,y1"  # what the model got
    assert main([*base, "--drop", "y1", "--out", str(tmp_path / "dropped")]) == 0
    dropped = read_results(tmp_path / "dropped" / "summary.csv").iloc[0]
    assert dropped.features == 2 and dropped.data_columns == "a,b"
    assert dropped.data != first.data  # another selection is other data in the key
    assert main([*base, "--columns", "b,a", "--out", str(tmp_path / "cols")]) == 0
    assert read_results(tmp_path / "cols" / "summary.csv").iloc[0].data_columns == "b,a"


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--columns", "zzz"], "--columns 'zzz' is not a column of"),
        (["--drop", "a,zzz"], "--drop 'zzz' is not a column of"),
        (["--columns", "a,y2"], "names the target 'y2'"),
        (["--drop", "a,b,y1"], "no feature column is left"),
        (["--columns", "a,,b"], "--columns takes column names"),
    ],
)
def test_bad_column_choices_are_one_line(tmp_path, capsys, extra, needle):
    data = _two_targets(tmp_path)
    argv = ["run", "--problem", "linreg", "--no-timing", "--data", data, *extra]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err
    assert not (tmp_path / "o" / "summary.csv").exists()


def test_columns_without_data_is_a_usage_error(tmp_path, capsys):
    assert main(["run", "--columns", "a", "--out", str(tmp_path / "o")]) == 2
    assert "--columns and --drop apply to --data" in capsys.readouterr().err


def test_run_plots_one_line_per_cell_and_report_takes_run_folders(tmp_path, capsys):
    out = tmp_path / "p"
    argv = ["run", "--problem", "linreg,quadratic", "--backend", "numpy,torch-autograd"]
    assert main([*argv, "--no-timing", "--plots", "--out", str(out)]) == 0
    assert (out / "loss_vs_step.png").stat().st_size > 0
    (out / "loss_vs_step.png").unlink()
    assert main(["report", str(out)]) == 0  # a run folder: its plot
    assert "plot: " in capsys.readouterr().out and (out / "loss_vs_step.png").exists()
    from gdbench.reports.loss_plot import loss_figure

    fig = loss_figure(read_results(out / "trajectories.csv"))
    tops = [ax for ax in fig.axes if ax.get_ylabel() == "loss"]
    assert len(tops) == 2  # one column per problem instance
    for ax in tops:
        assert len(ax.get_lines()) == 3  # two cells and their reference
    assert_legends_beside_the_data(fig)


def assert_legends_beside_the_data(fig) -> None:
    """Every legend of ``fig`` lies outside its axes' plot area, as drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    renderer = fig.canvas.get_renderer()
    legends = [(ax, ax.get_legend()) for ax in fig.axes if ax.get_legend()]
    assert legends
    for ax, legend in legends:
        box, area = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
        assert not box.overlaps(area), (box, area)
        assert fig.bbox.contains(box.x1 - 1, box.y0 + 1)  # and still inside the figure


def test_a_changed_update_rule_shows_in_w_before_the_gradient(tmp_path):
    # optax's rmsprop with its own defaults (alpha 0.9, eps inside the root) at step 1: the
    # gradient at w0 is the same, the step taken from it is not.
    out = tmp_path / "u"
    argv = ["run", "--problem", "quadratic", "--backend", "jax", "--optimizer", "rmsprop"]
    assert main([*argv, "--native-defaults", "--no-timing", "--out", str(out)]) == 1
    reason = read_results(out / "summary.csv").iloc[0].reason
    assert reason.startswith("leaves the tolerance at step 1, w first;")


def test_the_sweep_loss_plot_never_joins_two_sizes(tmp_path, monkeypatch):
    # linreg at N = 1e3 with D = 1 and D = 16: before, each backend's two runs were one line
    # with a segment from the last step of one back to step 1 of the other.
    from gdbench.reports import plots

    out = tmp_path / "s"
    argv = ["sweep", "--problem", "linreg", "--n-samples", "1e3", "--features", "1,16"]
    argv += ["--backend", "numpy", "--mode", "eager", "--no-timing", "--out", str(out)]
    assert main(argv) == 0
    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.append(fig) or path)
    plots.loss_vs_step(plots.sweep_frame(read_results(out / "trajectories.csv")), out / "x")
    top = drawn[0].axes[0]
    lines = top.get_lines()
    assert len(lines) == 4  # numpy at D = 1 and D = 16, and each one's reference
    for line in lines:
        assert (np.diff(line.get_xdata()) > 0).all()  # steps only rise: no joined runs
    assert {"D=1 numpy/eager cpu float32", "D=16 numpy/eager cpu float32"} <= {
        line.get_label() for line in lines
    }


def test_what_optax_was_called_with_includes_the_decay_and_native_is_not_on_numpy(tmp_path):
    out = tmp_path / "o"
    argv = ["run", "--problem", "linreg", "--backend", "numpy,jax", "--optimizer", "adam"]
    argv += ["--opt", "weight_decay=0.01", "--native-defaults", "--no-timing"]
    assert main([*argv, "--out", str(out)]) == 0
    rows = read_results(out / "summary.csv").set_index("backend")
    impl = rows.loc["jax", "optimizer_impl"]
    assert impl.startswith("optax.chain(optax.add_decayed_weights(0.01), optax.adam(")
    from gdbench.reports.table import optimizer_label

    assert optimizer_label(rows.loc["jax"].to_dict() | {"backend": "jax"}) == "adam (native)"
    assert optimizer_label(rows.loc["numpy"].to_dict() | {"backend": "numpy"}) == "adam"


NUMPY_WAY = textwrap.dedent(
    """
    import numpy as np
    import gdbench

    class SoftmaxNumpyWay(gdbench.Problem):
        name = "softmax-numpy-way"
        default_lr = 0.5
        default_steps = 5
        takes_data = True

        def make(self, n_samples=None, features=None, seed=0):
            rng = np.random.default_rng(seed)
            X = rng.standard_normal((40, 2))
            Y = np.eye(3)[rng.integers(0, 3, 40)]
            return gdbench.Instance(self.name, w0=np.zeros(6), data={"X": X, "Y": Y},
                                    n_samples=40)

        def from_data(self, X, y, seed=0):
            raise ValueError("softmax needs integer class labels in y")

        def loss(self, w, X, Y):
            Z = X @ w.reshape(2, 3)
            m = Z.max(axis=1, keepdims=True)  # a (values, indices) pair on a torch tensor
            return (m[:, 0] + np.log(np.exp(Z - m).sum(axis=1)) - (Y * Z).sum(axis=1)).mean()

        def grad(self, w, X, Y):
            Z = X @ w.reshape(2, 3)
            P = np.exp(Z - Z.max(axis=1, keepdims=True))
            P /= P.sum(axis=1, keepdims=True)
            return (X.T @ (P - Y) / len(X)).reshape(-1)

    gdbench.register_problem(SoftmaxNumpyWay())
    """
)


def test_a_loss_written_the_numpy_way_gives_error_rows_naming_the_helper(tmp_path):
    plugin = tmp_path / "numpy_way.py"
    plugin.write_text(NUMPY_WAY)
    out = tmp_path / "o"
    argv = ["run", "--plugin", str(plugin), "--problem", "softmax-numpy-way,linreg"]
    argv += ["--backend", "numpy,torch-autograd", "--no-timing", "--out", str(out)]
    assert main([*argv]) == 1  # not a traceback: rows, and the other problem ran
    rows = read_results(out / "summary.csv")
    mine = rows[rows.problem == "softmax-numpy-way"]
    assert (mine.status == "error").all() and len(mine) == 2
    assert mine.reason.str.contains("gdbench.namespace").all()
    assert (rows[rows.problem == "linreg"].verdict == "agrees").all()


def test_a_plug_in_s_own_data_check_is_a_one_line_usage_error(tmp_path, capsys):
    plugin = tmp_path / "numpy_way.py"
    plugin.write_text(NUMPY_WAY)
    data = _two_targets(tmp_path)
    argv = ["run", "--plugin", str(plugin), "--problem", "softmax-numpy-way", "--data", data]
    assert main([*argv, "--no-timing", "--out", str(tmp_path / "o")]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the data's warnings
    assert last.startswith("gdbench: error: --data ")
    assert last.endswith("softmax-numpy-way: softmax needs integer class labels in y")


def test_the_significance_floor_for_rounds_and_cells():
    from gdbench.reports.significance import floor_p, rounds_needed

    # The figures: 4 rounds a side on 2 cells cannot go below 0.057; 5 over the
    # default suite's 20 cells not below 0.159.
    assert round(floor_p(4, 4, 2), 3) == 0.057
    assert round(floor_p(5, 5, 20), 3) == 0.159
    assert rounds_needed(2) == 5 and rounds_needed(20) == 6 and rounds_needed(1) == 4


def test_compare_says_what_its_rounds_cannot_support(tmp_path):
    import gdbench

    argv = {"problem": ["quadratic", "linreg"], "backend": "numpy", "time_budget": 0.02}
    one = [gdbench.run(**argv, progress=False) for _ in range(2)]
    cmp = gdbench.compare(*one)
    # one round a side: blocks of one process, within-run noise only: no verdict claimed
    assert set(cmp.table.timing.str.split(":").str[0]) == {"not testable with these rounds"}
    assert cmp.table.timing.str.contains("5 a side needed").all()
    four = [gdbench.run(**argv, rounds=4, progress=False) for _ in range(2)]
    cmp = gdbench.compare(*four)
    # 4 against 4 over 2 cells: adjusted p cannot go below 0.057, so not "no change" either
    assert cmp.table.timing.str.contains("adjusted p cannot go below 0.057").all()
    assert_legends_beside_the_data(cmp.plot())  # compare.png's legend


def test_fastest_per_size_marks_ties_within_noise_and_the_report_says_where_no_bound_applies():
    import pandas as pd

    from gdbench.reports.report import cache_lines
    from gdbench.reports.sweep_tables import fastest_per_size

    # The figures: 564 µs against 629 µs ± 2.21 ms is no winner; 1 ms ± 10 µs is.
    cells = pd.DataFrame(
        {
            "problem": ["linreg"] * 3,
            "n_samples": [1000, 1000, 1000],
            "features": [1, 1, 1],
            "dtype": ["float32"] * 3,
            "optimizer": ["sgd"] * 3,
            "machine": [""] * 3,
            "backend": ["numpy", "jax", "torch-nn"],
            "mode": ["eager", "jit", "eager"],
            "device": ["cpu"] * 3,
            "time_per_step_s": [564e-6, 629e-6, 1e-3],
            "time_per_step_iqr_s": [10e-6, 2.21e-3, 10e-6],
            "achieved_gbps": [1.0, 1.0, 1.0],
            "roofline_frac": [0.5, 0.4, 0.3],
            "cache_resident": [True, True, True],
        }
    )
    (row,) = fastest_per_size(cells)
    assert row[3] == "numpy/eager cpu (a tie: within the IQRs of jax/jit cpu)"
    note = " ".join(cache_lines(cells))
    assert "At N up to 1e3 the data fit in the last-level cache" in note
    assert "--n-samples roof" in note
    assert cache_lines(cells.assign(cache_resident=False)) == []


def test_a_loss_that_ends_above_its_start_is_said(tmp_path):
    # w ← w − 1.05·2w = −1.1·w: the loss grows 1.21× a step without leaving the range gdbench
    # calls diverged; every backend agrees with the reference, which grows the same way.
    out = tmp_path / "up"
    argv = ["run", "--problem", "quadratic", "--backend", "numpy", "--lr", "1.05"]
    assert main([*argv, "--no-timing", "--out", str(out)]) == 0
    row = read_results(out / "summary.csv").iloc[0]
    assert row.status == "ok" and row.verdict == "agrees"
    assert "the loss ended above where it started (100 → " in row.reason
    assert "lr 1.05 may be too large for sgd" in row.reason


def test_opt_scoped_to_one_optimizer_keeps_the_others_defaults(tmp_path, capsys):
    # "Adam with defaults and AdamW with weight_decay 0.05" in one run; eps for both, and
    # adam's own eps over it.
    out = tmp_path / "s"
    argv = ["run", "--problem", "quadratic", "--backend", "numpy,jax", "--no-timing"]
    argv += ["--optimizer", "adam,adamw", "--native-defaults"]
    opts = "adamw:weight_decay=0.05,eps=1e-6,adam:eps=1e-7"
    assert main([*argv, "--opt", opts, "--out", str(out)]) in (0, 1)
    rows = read_results(out / "summary.csv")
    args = {(r.optimizer, r.backend): json.loads(r.optimizer_args) for r in rows.itertuples()}
    assert args["adam", "numpy"] == {"beta1": 0.9, "beta2": 0.999, "eps": 1e-7, "weight_decay": 0}
    assert args["adamw", "jax"]["weight_decay"] == 0.05 and args["adamw", "jax"]["eps"] == 1e-6
    impl = rows.set_index(["optimizer", "backend"]).optimizer_impl
    # native defaults pass each optimizer the names given to it, and only those
    assert impl["adam", "jax"] == "optax.adam(learning_rate=0.1, eps=1e-07)"
    assert impl["adamw", "jax"] == "optax.adamw(learning_rate=0.1, eps=1e-06, weight_decay=0.05)"
    capsys.readouterr()
    for bad, needle in (
        ("sgd:eps=1", "--opt sgd:eps: 'sgd' is not among the chosen (adam, adamw)"),
        ("adam:momentum=0.5", "'momentum' is not a hyperparameter of adam; valid: beta1,"),
        (":eps=1", "--opt takes [NAME:]KEY=VALUE"),
    ):
        assert main([*argv, "--opt", bad, "--out", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "bad").exists()


def test_the_speed_column_names_its_baseline_and_can_be_chosen(tmp_path):
    import re

    import gdbench
    from gdbench.reports.table import speedups

    argv = {"problem": "quadratic", "backend": "torch-autograd,jax", "time_budget": 0.02}
    plain = gdbench.run(**argv, progress=False)  # no NumPy: the first timed cell's, named
    assert "vs torch-autograd/eager" in repr(plain).splitlines()[0]
    chosen = gdbench.run(**argv, baseline="jax", progress=False)
    rows = chosen.summary.to_dict("records")
    t = {r["backend"]: r["time_per_step_s"] for r in rows}
    assert "vs jax/jit" in repr(chosen).splitlines()[0]
    assert speedups(rows, chosen.command["baseline"]) == pytest.approx(
        {0: t["jax"] / t["torch-autograd"], 1: 1.0}
    )
    assert gdbench.load(chosen.save(tmp_path / "b")).command["baseline"] == "jax/jit"
    for bad, needle in (
        ("numpy", "--baseline numpy: 'numpy' is not among this run's backends"),
        ("jax/eager", "--baseline jax/eager: jax has no mode 'eager' in this run; valid: jit"),
    ):
        with pytest.raises(gdbench.UsageError, match=re.escape(needle)):
            gdbench.run(**argv, baseline=bad, progress=False)


def test_the_sweep_report_speaks_of_the_chosen_baseline():
    import pandas as pd

    from gdbench.reports.sweep_tables import crossovers

    # jax/jit at 2 µs and 4 µs where torch takes 4 µs and 2 µs: torch passes it once
    cells = pd.DataFrame(
        {
            "problem": ["linreg"] * 4,
            "n_samples": [1000, 1000, 2000, 2000],
            "features": [1] * 4,
            "dtype": ["float32"] * 4,
            "optimizer": ["sgd"] * 4,
            "machine": [""] * 4,
            "backend": ["jax", "torch-autograd"] * 2,
            "mode": ["jit", "eager"] * 2,
            "device": ["cpu"] * 4,
            "speedup": [1.0, 0.5, 1.0, 2.0],
        }
    )
    ((name, text),) = crossovers(cells, ("jax", "jit"))
    assert name.startswith("torch-autograd/eager cpu float32 D=1")
    # 0.5× to 2× crosses 1× halfway in log N: √(1000·2000) = 1414
    assert text == "faster from N ≈ 1.4e+03 (2.00× at N = 2e3)"


def test_a_rising_loss_blames_the_rate_only_where_the_reference_rises_too(tmp_path):
    # The notebook's gradient (4× the true one on its data) at lr 0.05: the hand-derived
    # update multiplies the error by 1 − 4·0.05·15 = −2 a step, the true one by 0.25 (the
    # loss's curvature is 2·mean(x²) = 15). The reference converges with this rate.
    out = tmp_path / "wrong"
    plugin = str(ROOT / "examples" / "my_gradient.py")
    argv = ["run", "--plugin", plugin, "--problem", "my-linreg", "--backend", "numpy"]
    argv += ["--lr", "0.05", "--steps", "5", "--no-timing", "--out", str(out)]
    assert main(argv) == 1
    row = read_results(out / "summary.csv").iloc[0]
    assert row.verdict == "disagrees"
    assert "the loss ended above where it started" in row.reason
    assert "may be too large" not in row.reason
    assert "the float64 reference with the same lr 0.05 ended at" in row.reason


def test_a_dataless_problem_without_a_hand_gradient_runs_on_the_autodiff_backends():
    """A user's parabola as first written: no data (``n_samples=None``) and no ``grad``.
    The memory guard once raised TypeError on the None, and ``grad`` was abstract."""
    import gdbench

    class Parabola(gdbench.Problem):
        name = "parabola"
        default_lr = 0.1
        default_steps = 15

        def make(self, n_samples=None, features=None, seed=0):
            return gdbench.Instance(self.name, w0=np.array([10.0, -4.0]), n_samples=None)

        def loss(self, w):
            return ((w - 1.0) ** 2).sum()

    r = gdbench.run(
        problem=Parabola(), backend=["numpy", "torch-autograd", "jax"], timing=False, progress=False
    )
    rows = r.summary.set_index("backend")
    assert rows.loc["numpy", "status"] == "skipped"
    assert "no hand-derived gradient" in rows.loc["numpy", "reason"]
    assert (rows.loc[["torch-autograd", "jax"], "verdict"] == "agrees").all()
    # w ← w − 0.1·2(w − 1): the distance to 1 shrinks by 0.8 a step, from (9, −5).
    final = np.array([9.0, -5.0]) * 0.8**15 + 1.0
    assert r.ok and rows.loc["jax", "final_w_norm"] == pytest.approx(
        np.linalg.norm(final), rel=1e-5
    )
    checks = gdbench.gradcheck(problem=Parabola())
    assert checks.ok and "skipped, it defines no hand-derived gradient" in repr(checks)


HUBER_BRANCH = """
import numpy as np
import gdbench

class HuberBranch(gdbench.Problem):
    # Huber regression (delta 1) whose hand gradient is wrong only where |r| <= 1: 2r for r.
    name = "huber-branch"
    default_lr = 0.1
    default_steps = 40

    def make(self, n_samples=None, features=None, seed=0):
        x = np.array([-2.0, -1.5, -1.0, 1.0, 1.5, 2.0])
        return gdbench.Instance(self.name, w0=np.zeros(1), data={"X": x[:, None], "y": 2 * x},
                                n_samples=6)

    def loss(self, w, X, y):
        r = X @ w - y
        a = abs(r)
        return gdbench.namespace(w).where(a <= 1.0, 0.5 * r * r, a - 0.5).mean()

    def grad(self, w, X, y):
        r = X @ w - y
        psi = np.where(np.abs(r) <= 1.0, 2 * r, np.sign(r))
        return X.T @ psi / len(y)

gdbench.register_problem(HuberBranch())
"""


def test_gradcheck_s_default_points_reach_a_branch_only_the_run_visits(tmp_path, capsys):
    """At w0 = 0 every residual is −2x, |r| ≥ 2, and at the three random points too: only
    near the fit (w → 2) do residuals enter the quadratic branch the mistake is in."""
    plugin = tmp_path / "huber_branch.py"
    plugin.write_text(HUBER_BRANCH)
    argv = ["gradcheck", "--plugin", str(plugin), "--problem", "huber-branch"]
    assert main([*argv, "--at", "w0,random"]) == 0
    capsys.readouterr()
    assert main(argv) == 1  # the default: w0, random and the reference's path
    out = capsys.readouterr().out
    assert "… but at the reference's step" in out and "WRONG" in out


def test_exact_gelu_s_erf_is_in_every_namespace():
    """``xp.erf`` on NumPy, torch and JAX arrays (the array API standard has none), equal to
    math.erf, differentiable where the library differentiates; a function the namespace
    lacks names itself and the library."""
    import math

    import gdbench

    x = np.array([-2.5, -0.3, 0.0, 0.7, 3.0])
    want = np.array([math.erf(v) for v in x])
    assert np.allclose(gdbench.namespace(x).erf(x), want, rtol=1e-15, atol=0)
    torch = pytest.importorskip("torch")
    t = torch.tensor(x, requires_grad=True)
    gdbench.namespace(t).erf(t).sum().backward()
    assert np.allclose(t.grad.numpy(), 2 / math.sqrt(math.pi) * np.exp(-(x**2)), rtol=1e-12)
    jnp = pytest.importorskip("jax.numpy")
    assert np.allclose(
        np.asarray(gdbench.namespace(jnp.asarray(x)).erf(jnp.asarray(x))), want, atol=1e-6
    )
    with pytest.raises(AttributeError, match="'gelu' for numpy arrays"):
        _ = gdbench.namespace(x).gelu


def test_torch_nn_compile_runs_a_loss_that_asks_for_its_namespace():
    """The authoring guide's softmax regression asks ``gdbench.namespace(w)`` for xp.max and
    xp.exp; under torch-nn's compile mode w is an nn.Parameter, whose module name dynamo
    could not take apart ("Unsupported method call"), while torch-autograd's compiled
    modes agreed."""
    pytest.importorskip("torch")
    import gdbench

    class Softmax(gdbench.Problem):
        name = "softmax-nn"
        default_lr = 0.5
        default_steps = 10

        def make(self, n_samples=None, features=None, seed=0):
            rng = np.random.default_rng(seed)
            X = rng.standard_normal((60, 3))
            Y = np.eye(4)[(X @ rng.standard_normal((3, 4))).argmax(axis=1)]
            return gdbench.Instance(self.name, w0=np.zeros(12), data={"X": X, "Y": Y}, n_samples=60)

        def loss(self, w, X, Y):
            xp = gdbench.namespace(w)
            Z = X @ w.reshape(X.shape[1], Y.shape[1])
            m = xp.max(Z, axis=1, keepdims=True)
            return (m[:, 0] + xp.log(xp.sum(xp.exp(Z - m), axis=1)) - (Y * Z).sum(axis=1)).mean()

    r = gdbench.run(
        problem=Softmax(), backend=["torch-nn"], mode="all", timing=False, progress=False
    )
    rows = r.summary.set_index("mode")
    assert list(rows.index) == ["eager", "compile"]
    assert (rows.verdict == "agrees").all(), rows.reason.tolist()
