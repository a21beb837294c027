"""The options that choose the problems and their data (``--problem``, sizes, seed,
settings, ``--data``), shared by run, sweep and gradcheck (``gdbench.api.parser``)."""

from __future__ import annotations

import argparse


def instance_options(p: argparse.ArgumentParser, sweep: bool = False) -> None:
    p.add_argument(
        "--problem",
        default=None,
        help="problem name(s), comma separated, or 'all' (default: all but classifier; "
        "sweep: quadratic,linreg)",
    )
    if sweep:
        p.add_argument(
            "--n-samples",
            default=None,
            metavar="N[,N]",
            help="sample counts of generated data; roof: per D, the smallest N whose X and y "
            "exceed 4x this machine's last-level cache (default 1e3,1e4,1e5,1e6,roof)",
        )
        p.add_argument(
            "--features",
            default=None,
            metavar="D[,D]",
            help="feature counts (default 1,16; a problem whose settings fix D, as the "
            "classifier's layers, runs its own)",
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
    settings_help = (
        "problem settings, e.g. l2=0.01, hidden=32, b=10 (see list); NAME:KEY=VALUE "
        "for one problem alone"
    )
    p.add_argument(
        "--problem-opt",
        action="append",  # a sweep takes it repeated; run and gradcheck once (execution.options)
        default=None,
        metavar="[NAME:]KEY=VALUE[,…]",
        help=settings_help
        + (
            "; repeat it to sweep over settings, each one a setting of the problems "
            "(--problem-opt layers=784-256-10 --problem-opt layers=784-1024-10)"
            if sweep
            else ""
        ),
    )
    data_options(p)


def data_options(p: argparse.ArgumentParser) -> None:
    """The user's own data (``--data``) and how its columns are taken."""
    p.add_argument(
        "--data",
        default=None,
        metavar="PATH",
        help="your data: a CSV with a header (target: --target, default the last column) "
        "or an .npz with X and y; or a named dataset: sklearn:digits",
    )
    p.add_argument("--target", default=None, metavar="COLUMN", help="the CSV's target column")
    p.add_argument(
        "--columns",
        default=None,
        metavar="A,B,…",
        help="--data's feature columns (default: every column but the target)",
    )
    p.add_argument(
        "--drop", default=None, metavar="A,B,…", help="--data columns left out of the features"
    )
    p.add_argument(
        "--standardize",
        action="store_true",
        help="scale --data features to mean 0, variance 1 (and centre a regression target)",
    )
