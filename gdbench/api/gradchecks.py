"""``gradcheck``: each problem's hand-derived gradient against central differences and
autodiff, for the command line and the Python API alike."""

from __future__ import annotations

from dataclasses import dataclass, field

from gdbench import registry
from gdbench.errors import UsageError

FINITE_DIFFERENCE_BUDGET = 2 * 10**10  # multiply-adds: tens of seconds on this CPU at most


@dataclass
class GradChecks:
    """The checks of a ``gradcheck``: ``checks`` by problem (a ``GradCheck``), ``errors``
    by problem (why it could not run); ``ok`` when every check passed and none failed to
    run; ``repr`` the command line's lines."""

    checks: dict = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    # Problems with nothing to check (no hand-derived gradient), and why: not a failure.
    skipped: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    # Every point checked, by problem: [(Point, GradCheck)]; ``checks`` holds the first
    # failing one, else the first.
    points: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and all(c.ok for c in self.checks.values())

    def lines(self) -> list[str]:
        """The command line's lines: each problem's first point in full, then the first
        failing one in full (with how it was chosen), or one line saying the others agree."""
        from gdbench.numerics.gradcheck import format_check

        out = []
        for name in self.order:
            if name in self.errors:
                out.append(f"gradient check of {name!r} could not run: {self.errors[name]}")
                continue
            if name in self.skipped:
                out.append(f"gradient check of {name!r}: skipped, {self.skipped[name]}")
                continue
            checked = self.points.get(name) or []
            if not checked:
                out += format_check(self.checks[name])
                continue
            (_, c0), rest = checked[0], checked[1:]
            out += format_check(c0)
            if not c0.ok:
                continue
            failing = next(((p, c) for p, c in rest if not c.ok), None)
            if failing is not None:
                out.append(f"  … but at {failing[0].label} (of {len(checked)} points checked):")
                out += format_check(failing[1])
            elif rest:
                out.append(
                    f"  also at {', '.join(p.label for p, _ in rest)}: the hand-derived "
                    "gradient agrees"
                )
        return out

    def __repr__(self) -> str:
        return "\n".join(self.lines())


def instance_sizes(args, points: int = 1) -> dict:
    """gradcheck's instance sizes, checked against memory and against the cost of its
    central differences (two loss evaluations of N·D terms for each of D parameters, at
    each of ``points`` points)."""
    from gdbench.execution.limits import check_data_memory
    from gdbench.execution.options import parse_seed, positive_int

    sizes = {
        "n_samples": positive_int(args.n_samples, "--n-samples"),
        "features": positive_int(args.features, "--features"),
        "seed": parse_seed(args.seed),
    }
    n, d = sizes["n_samples"] or 1000, sizes["features"] or 1
    check_data_memory(n, d)
    if 2 * d * n * d * points > FINITE_DIFFERENCE_BUDGET:
        raise UsageError(
            f"gradcheck at N×D = {n}×{d} takes {2 * d} loss evaluations of {n * d} terms "
            f"each for its finite differences, at {points} point(s); lower --features or "
            f"--n-samples, or check fewer points (--at w0) "
            f"(N·D²·points up to {FINITE_DIFFERENCE_BUDGET // 2:.0e})"
        )
    return sizes


def check_all(args) -> GradChecks:
    """Every problem ``args`` names checked; a problem's own code that raises is its
    error, the others are checked all the same."""
    from gdbench.compat.containment import deadline
    from gdbench.execution.data import load as load_data
    from gdbench.execution.instances import MakeFailed
    from gdbench.execution.options import parse_seed, parse_settings, problem_names, setting_texts
    from gdbench.execution.rows import exception_line
    from gdbench.execution.sizes import data_choice
    from gdbench.numerics.gradcheck import POINT_COUNTS, check_at, parse_points

    problems = registry.problems()
    names = problem_names(args.problem, problems)
    names, data_file = data_choice(args, names, problems)
    (text,) = setting_texts(args.problem_opt, True, "gradcheck")
    settings, _ = parse_settings(
        text, {n: problems[n].options for n in names}, "--problem-opt", "a setting"
    )
    from gdbench.execution.plan import parse_cell_timeout

    limit = parse_cell_timeout(getattr(args, "cell_timeout", None))
    where = parse_points(getattr(args, "at", None))
    count = sum(POINT_COUNTS[w] for w in where)
    sizes = instance_sizes(args, count) if data_file is None else {}
    result = GradChecks(order=list(names))
    from gdbench.numerics.autodiff import import_autodiff

    import_autodiff()  # before any time limit: its import is not the user's time
    for name in names:
        problem = problems[name].configured(settings[name])
        if not problem.has_hand_gradient:
            result.skipped[name] = "it defines no hand-derived gradient (Problem.grad)"
            continue
        try:
            with deadline(limit, f"the gradient check of {name!r} (--cell-timeout)"):
                if data_file is not None:
                    loaded = load_data(data_file, problem.binary_target)
                    inst = problem.from_data(loaded.X, loaded.y, parse_seed(args.seed))
                else:
                    inst = problem.make(**sizes)
                checked = check_at(problem, inst, where, parse_seed(args.seed))
                result.points[name] = checked
                bad = [c for _, c in checked if not c.ok]
                result.checks[name] = bad[0] if bad else checked[0][1]
        except UsageError:
            raise
        except MakeFailed as exc:  # said already (a plug-in file that failed to import)
            result.errors[name] = str(exc)
        except (Exception, SystemExit) as exc:  # the problem's own code (a plug-in's)
            result.errors[name] = exception_line(exc)
    return result
