"""A fuzzer of the command line, drawn from gdbench's own option grammar.

The subcommands and their options are read from ``make_parser()``, so an option added
later is fuzzed without touching this file: it gets the generic hostile values, and valid
ones where its destination is known below (names come from the registries, so new
problems, backends and optimizers join by themselves). Every invocation runs in-process,
small and untimed, and must end with exit status 0, 1 or 2 within a bounded time, never
with a traceback; one that exits 2 must leave every file as it was.

The slow tier (CI) runs ``GDBENCH_FUZZ_EXAMPLES`` examples (default 300; seed
``GDBENCH_FUZZ_SEED``); a larger run by hand, which also draws the compiled modes and
``--mode all``:

    GDBENCH_FUZZ_EXAMPLES=2000 GDBENCH_FUZZ_SEED=1 python -m pytest tests/test_fuzz.py \
        -p no:cacheprovider
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from gdbench import registry
from gdbench.cli.commands import main, make_parser
from gdbench.execution.options import DEVICES, DTYPES

from .conftest import ROOT

# 300 in the slow tier (CI runs it): drawn command lines, each in its own scratch folder.
EXAMPLES = int(os.environ.get("GDBENCH_FUZZ_EXAMPLES", "300"))
SEED = int(os.environ.get("GDBENCH_FUZZ_SEED", "20261129"))
# A hang guard, not a speed target: cells are bounded by --cell-timeout, and a valid sweep
# drawing every backend took 120.6 s on a loaded 2-core AMD EPYC (the old limit, 120 s).
SECONDS_PER_INVOCATION = 300

HOSTILE = [
    "",
    " ",
    "-1",
    "0",
    "-0",
    "1e400",
    "-1e400",
    "1e-400",
    "nan",
    "inf",
    "-inf",
    "abc",
    "0x10",
    "1_000",
    "ünïcödé 漢字",
    "x" * 5000,
    ",",
    "a,,b",
    "1,,2",
    ",1",
    "--",
    "-",
    "\n",
    "1e9",
    "99999999999999999999",
    "all",
    "none",
]


def _hyper_values() -> list[str]:
    pairs = []
    for opt in registry.optimizers().values():
        for h in opt.hypers:
            pairs.append(f"{h.name}={h.show(h.default)}")
            pairs.append(f"{h.name}=2")  # out of range for some
    scoped = ["adamw:weight_decay=0.01", "adam:eps=1e-7,eps=1e-6", "sgd:eps=1", "nope:eps=1"]
    return [*pairs, *scoped, "beta1=0.8,eps=1e-6", "momentum=0.5,momentum=0.6", "nope=1", "eps"]


def valid_values(dest: str, paths: dict[str, str]) -> list[str]:
    """Values an option takes when used right, by its destination; [] for unknown ones."""
    problems, backends = list(registry.problems()), list(registry.backends())
    optimizers = list(registry.optimizers())
    modes = sorted({m for b in registry.backends().values() for m in b.modes})
    # compile modes cost seconds a cell: by hand only (GDBENCH_FUZZ_EXAMPLES > 300)
    heavy = EXAMPLES > 300
    table = {
        "problem": [*problems, ",".join(problems)],
        "backend": [*backends, "numpy,jax"],
        "mode": [m for m in modes if heavy or m not in ("compile", "fused")]
        + (["all"] if heavy else []),
        "device": list(DEVICES),
        "dtype": [*DTYPES, "float32,float64"],
        "optimizer": [*optimizers, "sgd,adam", "all"],
        "opt": _hyper_values(),
        "steps": ["1", "5", "3e1"],
        "lr": ["0.01", "0.3", "1.5", "1e38", "1e308"],
        "n_samples": ["1", "2", "300", "1e2,3e2", "1e12", "roof,1e12"],
        "features": ["1", "3", "1,2", "1e9"],
        "seed": ["0", "7"],
        "problem_opt": [
            "l2=0.01",
            "logreg:l2=0.1",
            "mlp:hidden=4",
            "quadratic:l2=1",
            "b=10",
            "classifier:layers=6-8-3,batch=4",
        ],
        "baseline": ["numpy", "numpy/naive", "jax/jit", "torch-autograd", "jax/nope", "nope"],
        "at": ["w0", "random", "trajectory", "all", "w0,random"],
        "columns": ["a", "a,b", "x1,x2"],
        "drop": ["b", "target"],
        "threads": ["1", "2", "99"],
        "time_budget": ["0.01"],
        "rounds": ["1", "2"],
        "cell_timeout": ["600", "1e9"],
        "record_every": ["1", "3", "1e9"],
        "threshold": ["5", "0", "50%"],
        "fail_above": ["10", "0"],
        "ignore": ["dtype", "device,dtype"],
        "old": [paths["run"], paths["sweep"], paths["bad_run"], paths["missing"], paths["file"]],
        "paths": [paths["run"], paths["sweep"], paths["dir"], paths["bad_rows"], paths["missing"]],
        "fail_on_regression": ["10", "0", "50%"],
        "csv": [paths["fresh"] + ".csv", paths["file"]],
        "md": [paths["fresh"] + ".md", "/proc/gdbench-x.md"],
        "json": [paths["fresh"] + ".json", "/proc/gdbench-x.json", paths["dir"]],
        "new": [paths["run"], paths["sweep"], paths["odd_run"], paths["nonempty"]],
        "out": [paths["fresh"], paths["nonempty"], paths["file"], "/proc/gdbench-x"],
        "resume": [
            paths["run"],
            paths["nonempty"],
            paths["file"],
            paths["missing"],
            paths["bad_run"],
            paths["odd_run"],
        ],
        "plugin": [
            str(ROOT / "examples" / "my_gradient.py"),
            str(ROOT / "examples" / "lion.py"),
            paths["dir"],
            paths["missing"],
            paths["not_python"],
            paths["raises"],
        ],
        "file": [paths["port_me"], paths["raises"], paths["not_python"], paths["file"]],
        "batch_size": ["4", "8", "0", "1e9"],
        "folder": [
            paths["sweep"],
            paths["run"],
            paths["missing"],
            paths["file"],
            paths["bad_sweep"],
        ],
    }
    return table.get(dest, [])


def grammar() -> dict[str, list[argparse.Action]]:
    """Every subcommand and its actions (options and positionals), from the parser."""
    parser = make_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        name: [a for a in p._actions if not isinstance(a, argparse._HelpAction)]
        for name, p in sub.choices.items()
    }


# Subcommands weighted by how much input they take (machine and notebook take none and
# cost seconds, so they come up rarely).
WEIGHTED = ["run"] * 12 + ["sweep"] * 4 + ["gradcheck"] * 6 + ["report"] * 4 + ["list"] * 2
WEIGHTED += ["notebook", "machine"] + ["compare"] * 4 + ["history"] * 3 + ["port"] * 2

# `port FILE.py`'s file: a linear model in torch and its JAX port, a few steps.
PORT_FILE = """
import numpy as np
import optax
import torch
import torch.nn.functional as F

torch.manual_seed(0)
model = torch.nn.Linear(3, 2)
params = {"w": np.zeros((3, 2), np.float32), "b": np.zeros(2, np.float32)}


def apply(p, x):
    return x @ p["w"] + p["b"]


def loss(logits, y):
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


reference = (model, lambda p: torch.optim.SGD(p, lr=0.1), F.cross_entropy)
candidates = {"jax": (params, apply, optax.sgd(0.1), loss)}
data = (np.random.default_rng(0).standard_normal((16, 3)), np.arange(16) % 2)
param_map = {"weight": "w.T", "bias": "b"}
steps = 3
batch_size = 8
"""


@st.composite
def command_lines(draw, paths):
    command = draw(st.sampled_from(WEIGHTED))
    actions = grammar()[command]
    argv = [command]
    options = [a for a in actions if a.option_strings]
    positionals = [a for a in actions if not a.option_strings]
    chosen = draw(st.lists(st.sampled_from(options), max_size=6)) if options else []
    for action in chosen:  # repeats allowed: argparse keeps the last (appends --problem-opt)
        flag = draw(st.sampled_from(action.option_strings))
        if action.nargs == 0:
            argv.append(flag)
            continue
        pool = valid_values(action.dest, paths)
        use_valid = pool and draw(st.booleans())
        value = draw(st.sampled_from(pool if use_valid else HOSTILE))
        if action.dest == "opt" and not use_valid:
            value = draw(st.sampled_from([*HOSTILE, f"{value}={value}", f"eps={value}"]))
        argv += [flag, value]
    for action in positionals:
        if draw(st.integers(0, 9)):  # a missing positional now and then
            pool = valid_values(action.dest, paths) or HOSTILE
            argv.append(draw(st.sampled_from(pool + HOSTILE[:4])))
    if draw(st.integers(0, 19)) == 0:
        argv.append(draw(st.sampled_from(["--bogus", "-x", "extra"])))
    # Keep valid work small: untimed runs of a few steps, tiny sweeps, a tiny classifier
    # (its default network costs 1.4 GFLOP a step).
    at = argv.index("--problem") + 1 if "--problem" in argv else len(argv)
    if at < len(argv) and "--problem-opt" not in argv and "classifier" in argv[at].split(","):
        argv += ["--problem-opt", "classifier:layers=6-8-3,batch=4"]
    if command == "run":
        if "--no-timing" not in argv:
            argv.append("--no-timing")
        if "--steps" not in argv:
            argv += ["--steps", "5"]
    if command == "sweep":
        # The sized problem and NumPy alone unless drawn: a bare sweep (every problem and
        # backend, their bandwidth, profile and report) takes 40 s here.
        defaults = (("--n-samples", "300"), ("--time-budget", "0.01"), ("--steps", "3"))
        for flag, value in (*defaults, ("--problem", "linreg"), ("--backend", "numpy")):
            if flag not in argv:
                argv += [flag, value]
        if "--mode" not in argv:  # a sweep's default is --mode all
            argv += ["--mode", "all"]
    # The compiled modes (torch.compile: seconds a cell; --mode all, a sweep's default, or
    # "all" drawn as a hostile value) by hand only: in CI they made the fuzzer's time swing
    # from 5 to over 10 minutes with the draws.
    if EXAMPLES <= 300:
        argv = [
            "eager" if prev == "--mode" and a == "all" else a
            for prev, a in zip(["", *argv[:-1]], argv, strict=True)
        ]
    return argv


def shown(argv: list[str]) -> str:
    """The command line for a failure message, long values cut."""
    return repr([a if len(a) < 80 else a[:40] + f"…({len(a)} chars)" for a in argv])


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
    }


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """Folders the fuzzer points at: a finished run, a sweep, files of every kind."""
    base = tmp_path_factory.mktemp("fuzz-seeds")
    assert (
        main(
            [
                "run",
                "--problem",
                "quadratic",
                "--backend",
                "numpy",
                "--no-timing",
                "--out",
                str(base / "run"),
            ]
        )
        == 0
    )
    assert main(
        [
            "sweep",
            "--n-samples",
            "300",
            "--backend",
            "numpy",
            "--problem",
            "linreg",
            "--time-budget",
            "0.01",
            "--steps",
            "3",
            "--out",
            str(base / "sweep"),
        ]
    ) in (0, 1)
    (base / "file.txt").write_text("not a folder\n")
    (base / "not_python.py").write_text("this is ) not python\n")
    (base / "raises.py").write_text("raise RuntimeError('plugin says no')\n")
    (base / "port_me.py").write_text(PORT_FILE)
    return base


def lay_out(seeds: Path, work: Path) -> dict[str, str]:
    for name in ("run", "sweep"):
        shutil.copytree(seeds / name, work / name)
    for name in ("file.txt", "not_python.py", "raises.py", "port_me.py"):
        shutil.copy(seeds / name, work / name)
    # Damaged results: a command.json that is not JSON, one with hostile values, and a
    # sweep whose CSV is not a CSV.
    (work / "bad_run").mkdir()
    (work / "bad_run" / "command.json").write_text("{not json")
    (work / "odd_run").mkdir()
    (work / "odd_run" / "command.json").write_text(
        '{"command": "run", "steps": [1, 2], "lr": {"a": 1}, "problem": null, "x": true}'
    )
    shutil.copytree(seeds / "run", work / "bad_rows")
    (work / "bad_rows" / "summary.csv").write_text('problem,lr\nquadratic,"fast"\n"open\n')
    shutil.copytree(seeds / "sweep", work / "bad_sweep")
    (work / "bad_sweep" / "sweep.csv").write_bytes(b'\x00\xff,\n"unclosed\n')
    (work / "nonempty").mkdir()
    (work / "nonempty" / "keep.txt").write_text("keep\n")
    (work / "adir").mkdir()
    return {
        "fresh": str(work / "fresh-out"),
        "nonempty": str(work / "nonempty"),
        "file": str(work / "file.txt"),
        "missing": str(work / "missing" / "nothing"),
        "run": str(work / "run"),
        "sweep": str(work / "sweep"),
        "dir": str(work / "adir"),
        "not_python": str(work / "not_python.py"),
        "raises": str(work / "raises.py"),
        "port_me": str(work / "port_me.py"),
        "bad_run": str(work / "bad_run"),
        "odd_run": str(work / "odd_run"),
        "bad_sweep": str(work / "bad_sweep"),
        "bad_rows": str(work / "bad_rows"),
    }


def same_as_before(argv: list[str], seen: set) -> bool:
    """Whether ``argv`` means a command line already run: the same options in another
    order, or given twice (argparse keeps the last), parse to the same namespace."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            key = tuple(
                sorted((k, repr(v)) for k, v in vars(make_parser().parse_args(argv)).items())
            )
    except (SystemExit, Exception):  # a usage error: the text itself
        key = tuple(argv)
    if key in seen:
        return True
    seen.add(key)
    return False


def test_no_command_line_crashes_hangs_or_writes_on_a_usage_error(seeds):
    # Hypothesis draws the shortest command lines again and again (a bare `sweep`, 35 s,
    # came up four times in 300 examples): each distinct command line runs once. Lines
    # that name a path differ by their scratch folder and always run.
    seen: set[tuple[str, ...]] = set()

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def check(data):
        here = os.getcwd()
        with tempfile.TemporaryDirectory() as scratch:
            work = Path(scratch)
            paths = lay_out(seeds, work)
            # The drawn paths point into this example's own scratch folder.
            argv = data.draw(command_lines(paths))
            if same_as_before(argv, seen):
                return
            before = snapshot(work)
            err, out = io.StringIO(), io.StringIO()
            os.chdir(work)  # a run without --out writes under ./results
            t0 = time.perf_counter()
            try:
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                    code = main(argv)
            except BaseException as exc:  # the point: nothing may escape main
                raise AssertionError(f"{shown(argv)} raised {type(exc).__name__}: {exc}") from exc
            finally:
                os.chdir(here)
            elapsed = time.perf_counter() - t0
            said = err.getvalue()
            assert code in (0, 1, 2), (shown(argv), code)
            assert "Traceback" not in said, (shown(argv), said[-2000:])
            assert elapsed < SECONDS_PER_INVOCATION, (shown(argv), elapsed)
            if code == 2:
                assert len(said.strip().splitlines()) == 1, (shown(argv), said[:2000])
                assert snapshot(work) == before, (shown(argv), "a usage error wrote files")
        registry._PROBLEMS.pop("my-linreg", None)  # plugins stay out of the next example
        registry._OPTIMIZERS.pop("lion", None)

    check()
