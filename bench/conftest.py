"""pytest-benchmark suite options: --gd-sizes N1xD1,N2xD2 (default 1000x1,100000x1),
--gd-steps (update steps per round, default 10), --gd-optimizer NAME[,NAME]|all (default
sgd) and --gd-opt KEY=VALUE[,KEY=VALUE] (hyperparameters, as `gdbench run --opt`). Bad
values stop the session with one line and exit status 2, as gdbench's own commands do."""

from __future__ import annotations

import pytest

from gdbench import registry
from gdbench.options import UsageError, parse_names, parse_opt, positive_int


def pytest_addoption(parser):
    parser.addoption(
        "--gd-sizes",
        default="1000x1,100000x1",
        help="linreg sizes to benchmark, as NxD, comma separated",
    )
    parser.addoption("--gd-steps", default="10", help="update steps per benchmark round")
    parser.addoption(
        "--gd-optimizer", default="sgd", help="optimizer(s), comma separated, or 'all'"
    )
    parser.addoption("--gd-opt", default=None, help="optimizer hyperparameters KEY=VALUE,…")


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        n, d = item.lower().split("x")
        sizes.append((positive_int(n, "N"), positive_int(d, "D")))
    return sizes


def pytest_configure(config):
    try:
        config.gd_sizes = parse_sizes(config.getoption("--gd-sizes"))
        config.gd_steps = positive_int(config.getoption("--gd-steps"), "--gd-steps")
    except (ValueError, UsageError):
        pytest.exit(
            "gdbench bench: --gd-sizes takes NxD pairs of positive whole numbers "
            "(e.g. 1e5x1,1e6x4) and --gd-steps a positive whole number",
            returncode=2,
        )
    try:
        choice = config.getoption("--gd-optimizer")
        every = registry.optimizers()
        chosen = parse_names(None if choice == "all" else choice, every, "optimizer")
        config.gd_optimizers, _ = parse_opt(
            config.getoption("--gd-opt"), {o: every[o] for o in chosen}
        )
    except UsageError as exc:
        pytest.exit(f"gdbench bench: {exc}", returncode=2)


def pytest_generate_tests(metafunc):
    if "size" in metafunc.fixturenames:
        sizes = metafunc.config.gd_sizes
        metafunc.parametrize("size", sizes, ids=[f"N{n}xD{d}" for n, d in sizes])
    if "optimizer" in metafunc.fixturenames:
        chosen = list(metafunc.config.gd_optimizers)
        metafunc.parametrize("optimizer", chosen, ids=chosen)
