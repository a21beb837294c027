"""`python -m gdbench`: the command line. ``make_parser`` is separate from ``main`` so that
tests drive the CLI in-process; every usage error is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gdbench import registry
from gdbench.cli.console import Terminated, silence_stdout, terminal
from gdbench.errors import MAX_MESSAGE, UsageError, one_line
from gdbench.execution.data import load as load_data
from gdbench.execution.limits import check_data_memory
from gdbench.execution.options import (
    parse_names,
    parse_seed,
    parse_settings,
    path_kind,
    positive_int,
)
from gdbench.results import folder_lock

FINITE_DIFFERENCE_BUDGET = 2 * 10**10  # multiply-adds: tens of seconds on this CPU at most
FINITE_DIFFERENCE_S = 1800.0  # a plug-in's loss that never returns must not hang gradcheck
COMMANDS = ("run", "sweep", "list", "notebook", "gradcheck", "machine", "report", "compare")


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="FILE.py",
        help="load a file that registers problems or backends (repeatable)",
    )


def _instance_options(p: argparse.ArgumentParser, sweep: bool = False) -> None:
    p.add_argument(
        "--problem",
        default=None,
        help="problem name(s), comma separated (default: all; sweep: quadratic,linreg)",
    )
    if sweep:
        p.add_argument(
            "--n-samples",
            default="1e3,1e4,1e5,1e6,roof",
            metavar="N[,N]",
            help="sample counts of generated data; roof: per D, the smallest N whose X and y "
            "exceed 4x this machine's last-level cache (default 1e3,1e4,1e5,1e6,roof)",
        )
        p.add_argument(
            "--features", default="1,16", metavar="D[,D]", help="feature counts (default 1,16)"
        )
    else:
        p.add_argument(
            "--n-samples",
            default=None,
            metavar="N",
            help="generated data with N samples (linreg); roof: beyond 4x the last-level "
            "cache; default: notebook data",
        )
        p.add_argument("--features", default=None, metavar="D", help="features of generated data")
    p.add_argument("--seed", default="0", help="seed of generated data (default 0)")
    p.add_argument(
        "--problem-opt",
        default=None,
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="problem settings, e.g. l2=0.01, hidden=32, b=10 (see list)",
    )
    p.add_argument(
        "--data",
        default=None,
        metavar="PATH",
        help="your data: a CSV with a header (target: --target, default the last column) "
        "or an .npz with X and y",
    )
    p.add_argument("--target", default=None, metavar="COLUMN", help="the CSV's target column")
    p.add_argument(
        "--standardize",
        action="store_true",
        help="scale --data features to mean 0, variance 1 (and centre a regression target)",
    )


def _run_options(p: argparse.ArgumentParser, sweep: bool) -> None:
    _common(p)
    _instance_options(p, sweep)
    p.add_argument(
        "--backend",
        default=None,
        help="backend name(s), comma separated (default: every available one)",
    )
    p.add_argument(
        "--mode",
        default="all" if sweep else None,
        help="execution mode(s), comma separated, or 'all' (default: "
        + ("all)" if sweep else "each backend's idiomatic mode)"),
    )
    p.add_argument(
        "--optimizer",
        default=None,
        metavar="NAME[,NAME]|all",
        help="optimizer(s), comma separated, or 'all' (default: sgd, plain gradient descent)",
    )
    p.add_argument(
        "--opt",
        default=None,
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="optimizer hyperparameters, e.g. momentum=0.8,eps=1e-6 (default: gdbench's)",
    )
    p.add_argument(
        "--native-defaults",
        action="store_true",
        help="build torch.optim / optax with only the --opt values given, every other "
        "hyperparameter at the library's own default",
    )
    p.add_argument(
        "--device", default="auto", help="cpu, cuda or auto (cpu, and cuda when available; default)"
    )
    p.add_argument(
        "--dtype",
        default="float32",
        help="float32, float64 or both, comma separated (default float32)",
    )
    p.add_argument(
        "--steps",
        default="20" if sweep else None,
        help="update steps checked against the reference (default: "
        + ("20)" if sweep else "the problem's)"),
    )
    p.add_argument(
        "--lr",
        default=None,
        help="learning rate, or 'auto' for 1/L where the problem knows its smoothness L "
        "(default: the problem's)",
    )
    p.add_argument(
        "--threads", default=None, help="CPU threads for every backend (default: all available)"
    )
    p.add_argument(
        "--time-budget",
        default="0.5" if sweep else "0.2",
        metavar="SECONDS",
        help="time spent measuring each cell (default "
        + (
            "0.5)"
            if sweep
            else "0.2, so that the default run stays under 30 s; 1 or more for steadier medians)"
        ),
    )
    p.add_argument(
        "--rounds",
        default="1",
        metavar="K",
        help="time every cell K times, each round in fresh worker processes after every "
        "cell's previous round, so that run-to-run drift is in the samples that `compare` "
        "tests (default 1)",
    )
    p.add_argument("--no-timing", action="store_true", help="check agreement only")
    p.add_argument(
        "--cell-timeout",
        default=None,
        metavar="SECONDS",
        help="seconds one cell (or timing round) may take before it becomes an error row, "
        "its worker stopped (default 1800)",
    )
    p.add_argument(
        "--record-every",
        default=None,
        metavar="K",
        help="trajectories.csv keeps step 1, every K-th step and the last (agreement is "
        "still checked at every step; default 1, every step)",
    )
    p.add_argument(
        "--cluster",
        default=None,
        metavar="ADDRESS|local:N",
        help="run the cells on a Dask cluster: a running scheduler (tcp://host:8786) or "
        "local:N, N worker processes started here (needs gdbench[cluster])",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="imprecise cells (float32 rounding; float64 agrees) count as failures too",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="results folder (default: a "
        f"new folder under results/{'sweep' if sweep else 'run'}-<UTC time>)",
    )
    p.add_argument(
        "--resume",
        default=None,
        metavar="DIR",
        help="finish an interrupted run in DIR, with the options it began with",
    )


def make_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m gdbench",
        description="Gradient descent on several backends: trajectories checked "
        "against float64 references, update loops timed. Without a command: run.",
    )
    sub = parser.add_subparsers(dest="command", parser_class=Parser)

    run = sub.add_parser(
        "run", help="run problems × backends, check agreement, time, write CSVs (the default)"
    )
    _run_options(run, sweep=False)
    sweep = sub.add_parser(
        "sweep",
        help="time a grid of sizes × backends × modes against the "
        "memory roofline; CSV, plots, report",
    )
    _run_options(sweep, sweep=True)
    machine = sub.add_parser("machine", help="measure this machine's memory read bandwidth")
    _common(machine)
    report = sub.add_parser("report", help="(re)write plots and report.md of a sweep folder")
    _common(report)
    report.add_argument("folder", help="a sweep's results folder")

    cmp = sub.add_parser(
        "compare",
        help="compare two result folders cell by cell: slower, faster, numerics changed",
    )
    _common(cmp)
    cmp.add_argument("old", help="a run or sweep folder: the baseline")
    cmp.add_argument("new", help="a run or sweep folder: the one to judge")
    cmp.add_argument(
        "--threshold",
        default="5",
        metavar="PCT",
        help="a significant change must also exceed this many percent to count (default 5)",
    )
    cmp.add_argument(
        "--fail-above",
        default=None,
        metavar="PCT",
        help="exit 1 when a cell is significantly slower by more than PCT percent, or "
        "agreed before and now disagrees (for CI)",
    )
    cmp.add_argument(
        "--ignore",
        default=None,
        metavar="COLS",
        help="key columns left out of the match, e.g. dtype (float32 against float64) or device",
    )
    cmp.add_argument(
        "--out", default=None, metavar="DIR", help="write compare.md, compare.csv, compare.png"
    )

    lst = sub.add_parser("list", help="problems, backends and optimizers, with availability")
    _common(lst)

    nb = sub.add_parser("notebook", help="re-run the teaching notebook's four cells")
    _common(nb)

    gc = sub.add_parser(
        "gradcheck", help="check hand-derived gradients against finite differences and autodiff"
    )
    _common(gc)
    _instance_options(gc)
    return parser


def load_plugins(paths) -> None:
    for p in paths:
        try:
            registry.load_plugin(p)
        except registry.PluginError as exc:
            raise UsageError(str(exc)) from None


def instance_args(args) -> dict:
    """gradcheck's instance sizes, checked against memory and against the cost of its
    central differences (two loss evaluations of N·D terms for each of D parameters)."""
    sizes = {
        "n_samples": positive_int(args.n_samples, "--n-samples"),
        "features": positive_int(args.features, "--features"),
        "seed": parse_seed(args.seed),
    }
    n, d = sizes["n_samples"] or 1000, sizes["features"] or 1
    check_data_memory(n, d)
    if 2 * d * n * d > FINITE_DIFFERENCE_BUDGET:
        raise UsageError(
            f"gradcheck at N×D = {n}×{d} takes {2 * d} loss evaluations of {n * d} terms "
            f"each for its finite differences; lower --features or --n-samples "
            f"(N·D² up to {FINITE_DIFFERENCE_BUDGET // 2:.0e})"
        )
    return sizes


# --- commands --------------------------------------------------------------------------


def cmd_list(args) -> int:
    print("problems:")
    for name, p in registry.problems().items():
        print(f"  {name:<16} lr={p.default_lr:<5g} steps={p.default_steps:<4} {p.description}")
        if p.options:
            settings = ", ".join(f"{h.name}={h.show(h.default)}" for h in p.options)
            print(f"  {'':<16}   --problem-opt {settings}")
    print("backends:")
    for name, b in registry.backends().items():
        ok, why = b.available()
        state = "available" if ok else f"unavailable: {why}"
        print(f"  {name:<16} modes={','.join(b.modes):<24} {state}")
    print("optimizers (--optimizer, hyperparameters for --opt with gdbench's defaults):")
    for name, o in registry.optimizers().items():
        hp = ", ".join(f"{h.name}={h.show(h.default)}" for h in o.hypers)
        print(f"  {name:<16} {o.description}")
        if hp:
            print(f"  {'':<16}   {hp}")
    return 0


def cmd_notebook(args) -> int:
    from gdbench.reports import notebook

    return notebook.main()


def cmd_gradcheck(args) -> int:
    from gdbench.compat.containment import deadline
    from gdbench.execution.plan import data_choice
    from gdbench.execution.runner import exception_line
    from gdbench.numerics.gradcheck import check_gradient, format_check

    problems = registry.problems()
    names = parse_names(args.problem, problems, "problem")
    names, data_file = data_choice(args, names, problems)
    settings, _ = parse_settings(
        args.problem_opt, {n: problems[n].options for n in names}, "--problem-opt", "a setting"
    )
    sizes = instance_args(args) if data_file is None else {}
    ok = True
    for name in names:
        problem = problems[name].configured(settings[name])
        try:
            with deadline(FINITE_DIFFERENCE_S, f"the gradient check of {name!r}"):
                if data_file is not None:
                    loaded = load_data(data_file, problem.binary_target)
                    inst = problem.from_data(loaded.X, loaded.y, parse_seed(args.seed))
                else:
                    inst = problem.make(**sizes)
                c = check_gradient(problem, inst)
        except UsageError:
            raise
        except (Exception, SystemExit) as exc:  # the problem's own code (a plug-in's)
            print(f"gradient check of {name!r} could not run: {exception_line(exc)}")
            ok = False
            continue
        print("\n".join(format_check(c)))
        ok &= c.ok
    return 0 if ok else 1


def cmd_run(args) -> int:
    from gdbench.cli.run_command import execute_plan
    from gdbench.execution.plan import build_plan

    plan = build_plan(args)
    plan.saved["command"] = "run"
    if plan.cluster is None:
        return execute_plan(plan)
    from gdbench.execution.cluster import cluster_runner

    with cluster_runner(plan) as runner:
        return execute_plan(plan, run_cells=runner.run_cells)


def cmd_sweep(args) -> int:
    from gdbench.cli.sweep import cmd_sweep as sweep

    return sweep(args)


def cmd_machine(args) -> int:
    from gdbench.timing.bandwidth import main as machine

    return machine()


def cmd_report(args) -> int:
    folder = Path(args.folder)
    for name in ("sweep.csv", "trajectories.csv", "machine.json"):
        if path_kind(folder / name, "report") != "file":
            raise UsageError(f"{folder} is not a sweep folder (no {name})")
    try:
        from gdbench.reports.report import load_sweep, write_report
    except ImportError as exc:
        raise UsageError(
            f"the report needs matplotlib ({exc}); pip install 'gdbench[plot]'"
        ) from None
    load_sweep(folder)  # a folder whose files do not parse is a usage error, not a crash
    print(f"report: {write_report(folder)}")
    return 0


def cmd_compare(args) -> int:
    from gdbench.cli.compare_command import main as compare

    return compare(args)


def resume_args(args):
    """The options an interrupted run or sweep began with, from its command.json, parsed
    again by the command's own parser so that a damaged file is a usage error."""
    folder = Path(args.resume)
    saved = folder / "command.json"
    if path_kind(saved, "--resume") != "file":
        raise UsageError(f"--resume {folder}: no command.json there (not a gdbench run folder)")
    try:
        stored = json.loads(saved.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"--resume {folder}: command.json cannot be read ({exc})") from None
    if not isinstance(stored, dict) or stored.get("command", "run") not in ("run", "sweep"):
        raise UsageError(f"--resume {folder}: command.json is not a gdbench run's")
    argv = [stored.get("command", "run")]
    for key, value in stored.items():
        if key in ("command", "out", "resume") or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        for v in value if isinstance(value, list) else [value]:
            argv += [flag] if v is True else [flag, str(v)]
    try:
        resumed = make_parser().parse_args([*argv, "--out", str(folder)])
    except UsageError as exc:
        raise UsageError(f"--resume {folder}: command.json does not parse ({exc})") from None
    resumed.resume = str(folder)
    if getattr(args, "cluster", None):  # the cluster may have moved since: the new one counts
        resumed.cluster = args.cluster
    if getattr(args, "cell_timeout", None):  # a limit for the rest (after a hang, say)
        resumed.cell_timeout = args.cell_timeout
    return resumed


COMMAND_FUNCS = {
    "run": cmd_run,
    "sweep": cmd_sweep,
    "list": cmd_list,
    "notebook": cmd_notebook,
    "gradcheck": cmd_gradcheck,
    "machine": cmd_machine,
    "report": cmd_report,
    "compare": cmd_compare,
}


def parse(argv: list[str]) -> argparse.Namespace:
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["run", *argv]
    return make_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    with terminal():
        try:
            return _main(argv)
        finally:
            folder_lock.release_all()


def _main(argv: list[str]) -> int:
    from gdbench.results.writer import ResultsWriteError

    try:
        args = parse(argv)
        if getattr(args, "resume", None):
            args = resume_args(args)
        load_plugins(getattr(args, "plugin", []))
        return COMMAND_FUNCS[args.command](args)
    except (UsageError, ResultsWriteError) as exc:
        if isinstance(exc, UsageError):  # refused: the folder is left as it was found
            folder_lock.release_all(discard=True)
        print(f"gdbench: error: {one_line(str(exc), MAX_MESSAGE)}", file=sys.stderr)
        return 2
    except Terminated:
        print("gdbench: terminated; finished rows are kept", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("gdbench: interrupted; finished rows are kept", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``| head -1``): what was written stays; nothing to say.
        silence_stdout()
        return 0
    except OSError as exc:  # stdout on a full device, say: one line, not a traceback
        silence_stdout()
        print(
            f"gdbench: error: {one_line(f'{exc.strerror or exc}', MAX_MESSAGE)} "
            f"({type(exc).__name__}); results already written are kept",
            file=sys.stderr,
        )
        return 2
