"""Every option of every command, declared once: the command line parses with this parser,
and the Python API takes the same options as keywords (``gdbench.api.keywords``). One
parser per command. Every usage error it finds is a
``UsageError`` (one line, exit status 2), never argparse's own exit."""

from __future__ import annotations

import argparse

from gdbench.api.problem_options import instance_options
from gdbench.errors import UsageError


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


def _run_options(p: argparse.ArgumentParser, sweep: bool) -> None:
    _common(p)
    instance_options(p, sweep)
    _cell_options(p, sweep)
    _timing_options(p, sweep)
    _output_options(p, sweep)


def _cell_options(p: argparse.ArgumentParser, sweep: bool) -> None:
    """Which cells: backends, modes, optimizers, devices, dtypes, steps, rate."""
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
        metavar="[NAME:]KEY=VALUE[,…]",
        help="optimizer hyperparameters, e.g. momentum=0.8,eps=1e-6 (default: gdbench's); "
        "NAME:KEY=VALUE for one optimizer alone, e.g. adamw:weight_decay=0.01",
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


def _timing_options(p: argparse.ArgumentParser, sweep: bool) -> None:
    """How cells are timed and bounded."""
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
        "--baseline",
        default=None,
        metavar="BACKEND[/MODE]",
        help="what the speed-up column divides by (default: numpy/eager where the run has "
        "it, else the first timed cell's backend/mode, named in the header)",
    )
    p.add_argument(
        "--cell-timeout",
        default=None,
        metavar="SECONDS",
        help="seconds one cell (or timing round) may take before it becomes an error row, "
        "its worker stopped (default 1800)",
    )


def _output_options(p: argparse.ArgumentParser, sweep: bool) -> None:
    """What is kept, where the cells run, what counts as failure, where results go."""
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
    if not sweep:
        p.add_argument(
            "--plots",
            action="store_true",
            help="also draw loss_vs_step.png: each cell's loss against its float64 reference",
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

    from gdbench.api.folder_parsers import add_compare_parser, add_history_parser

    add_compare_parser(sub, _common)
    add_history_parser(sub, _common)
    from gdbench.api.port_parser import add_port_parser

    add_port_parser(sub, _common)

    lst = sub.add_parser("list", help="problems, backends and optimizers, with availability")
    _common(lst)

    nb = sub.add_parser("notebook", help="re-run the teaching notebook's four cells")
    _common(nb)

    gc = sub.add_parser(
        "gradcheck", help="check hand-derived gradients against finite differences and autodiff"
    )
    _common(gc)
    instance_options(gc)
    gc.add_argument(
        "--at",
        default=None,
        metavar="w0|random|trajectory|all",
        help="where to check: w0 (the start), random (3 seeded points at the data's scale), "
        "trajectory (3 points of the float64 reference's path), all, or a comma list "
        "(default all: a penalty's gradient vanishes at w0 = 0, and a branch the run "
        "visits may lie at none of the others)",
    )
    gc.add_argument(
        "--cell-timeout",
        default=None,
        metavar="SECONDS",
        help="seconds one problem's check may take before it becomes its error (default 1800)",
    )
    return parser
