"""pytest-benchmark suite options: --gd-sizes N1xD1,N2xD2 (default 1000x1,100000x1) and
--gd-steps (update steps per round, default 10). Bad values stop the session with one line
and exit status 2, as gdbench's own commands do."""

from __future__ import annotations

import pytest

from gdbench.options import UsageError, positive_int


def pytest_addoption(parser):
    parser.addoption(
        "--gd-sizes",
        default="1000x1,100000x1",
        help="linreg sizes to benchmark, as NxD, comma separated",
    )
    parser.addoption("--gd-steps", default="10", help="update steps per benchmark round")


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


def pytest_generate_tests(metafunc):
    if "size" in metafunc.fixturenames:
        sizes = metafunc.config.gd_sizes
        metafunc.parametrize("size", sizes, ids=[f"N{n}xD{d}" for n, d in sizes])
