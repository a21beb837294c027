"""pytest-benchmark suite options: --gd-problem NAME[,NAME] (default every registered
problem; --gd-plugin FILE.py adds a user's), --gd-sizes N1xD1,N2xD2 (default 1000x1,100000x1,
for the problems that take sizes),
--gd-steps (update steps per round, default 10), --gd-optimizer NAME[,NAME]|all (default
sgd) and --gd-opt KEY=VALUE[,KEY=VALUE] (hyperparameters, as `gdbench run --opt`). Bad
values stop the session with one line and exit status 2, as gdbench's own commands do."""

from __future__ import annotations

import pytest

from gdbench import registry
from gdbench.errors import UsageError
from gdbench.execution.options import parse_names, parse_opt, positive_int, problem_names


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
    parser.addoption(
        "--gd-problem", default=None, help="problem(s), comma separated (default: every one)"
    )
    parser.addoption(
        "--gd-plugin",
        action="append",
        default=[],
        help="a plugin file whose problems, backends or optimizers join the suite",
    )


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
        for path in config.getoption("--gd-plugin"):
            registry.load_plugin(path)
        # Every problem of a bare run by default (the classifier only when named).
        config.gd_problems = problem_names(config.getoption("--gd-problem"), registry.problems())
    except (UsageError, registry.PluginError) as exc:
        pytest.exit(f"gdbench bench: {exc}", returncode=2)
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
        # Sized problems at every --gd-sizes; the others (quadratic, rosenbrock) once.
        cases = []
        for name in metafunc.config.gd_problems:
            if registry.problems()[name].sized:
                cases += [(name, n, d) for n, d in metafunc.config.gd_sizes]
            else:
                cases.append((name, 0, 0))
        ids = [f"{p}-N{n}xD{d}" if n else p for p, n, d in cases]
        metafunc.parametrize(("problem", "size"), [(p, (n, d)) for p, n, d in cases], ids=ids)
    if "optimizer" in metafunc.fixturenames:
        chosen = list(metafunc.config.gd_optimizers)
        metafunc.parametrize("optimizer", chosen, ids=chosen)
