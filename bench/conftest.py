"""pytest-benchmark suite options. Sizes: --gd-sizes N1xD1,N2xD2 (default 1000x1,100000x1)."""

from __future__ import annotations


def pytest_addoption(parser):
    parser.addoption(
        "--gd-sizes",
        default="1000x1,100000x1",
        help="linreg sizes to benchmark, as NxD, comma separated",
    )
    parser.addoption("--gd-steps", default="10", help="update steps per benchmark round")


def pytest_generate_tests(metafunc):
    if "size" in metafunc.fixturenames:
        sizes = []
        for item in metafunc.config.getoption("--gd-sizes").split(","):
            n, d = item.lower().split("x")
            sizes.append((int(float(n)), int(float(d))))
        metafunc.parametrize("size", sizes, ids=[f"N{n}xD{d}" for n, d in sizes])
