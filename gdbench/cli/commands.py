"""`python -m gdbench`: the command line. ``make_parser`` is separate from ``main`` so that
tests drive the CLI in-process; every usage error is one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gdbench import registry
from gdbench.api.parser import make_parser
from gdbench.api.running import load_plugins
from gdbench.backend import as_mode
from gdbench.cli.console import Terminated, silence_stdout, terminal
from gdbench.errors import MAX_MESSAGE, UsageError, one_line
from gdbench.execution.options import path_kind
from gdbench.results import folder_lock

COMMANDS = (
    "run",
    "sweep",
    "list",
    "notebook",
    "gradcheck",
    "machine",
    "report",
    "compare",
    "history",
    "port",
)


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
        for mode in map(as_mode, b.modes):
            where = (
                "" if set(mode.devices) >= {"cpu", "cuda"} else f" ({'/'.join(mode.devices)} only)"
            )
            default = " (default)" if mode == b.default_mode else ""
            print(f"  {'':<16}   {mode:<10} {mode.doc}{where}{default}".rstrip())
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
    from gdbench.api.gradchecks import check_all

    checks = check_all(args)
    for line in checks.lines():
        print(line)
    return 0 if checks.ok else 1


def cmd_run(args) -> int:
    from gdbench.api.running import execute

    outcome, _, folder = execute("run", args)
    code = outcome.print()
    if getattr(args, "plots", False):
        code = max(code, report_run(folder))
    return code


def cmd_sweep(args) -> int:
    from gdbench.api.running import execute

    outcome, report, _ = execute("sweep", args)
    code = outcome.print()
    if report is not None:
        print(f"report: {report}")
    return code


def cmd_machine(args) -> int:
    from gdbench.timing.bandwidth import main as machine

    return machine()


def cmd_report(args) -> int:
    folder = Path(args.folder)
    run = all(
        path_kind(folder / n, "report") == "file" for n in ("summary.csv", "trajectories.csv")
    )
    if run and path_kind(folder / "sweep.csv", "report") != "file":
        return report_run(folder)
    for name in ("sweep.csv", "trajectories.csv", "machine.json"):
        if path_kind(folder / name, "report") != "file":
            raise UsageError(
                f"{folder} is not a sweep folder (no {name}) nor a run folder (no summary.csv)"
            )
    try:
        from gdbench.reports.report import write_report
        from gdbench.reports.sweep_folder import load_sweep
    except ImportError as exc:
        raise UsageError(
            f"the report needs matplotlib ({exc}); pip install 'gdbench[plot]'"
        ) from None
    load_sweep(folder)  # a folder whose files do not parse is a usage error, not a crash
    print(f"report: {write_report(folder)}")
    return 0


def report_run(folder: Path) -> int:
    """A run folder's plot: every cell's loss against its reference (loss_vs_step.png)."""
    try:
        from gdbench.reports.loss_plot import write_run_plot
    except ImportError as exc:
        raise UsageError(
            f"the plot needs matplotlib ({exc}); pip install 'gdbench[plot]'"
        ) from None
    print(f"plot: {write_run_plot(folder)}")
    return 0


def cmd_history(args) -> int:
    from gdbench.cli.history_command import main as history

    return history(args)


def cmd_compare(args) -> int:
    from gdbench.cli.compare_command import main as compare

    return compare(args)


def cmd_port(args) -> int:
    from gdbench.cli import port_command

    return port_command.main(args)


COMMAND_FUNCS = {
    "run": cmd_run,
    "sweep": cmd_sweep,
    "list": cmd_list,
    "notebook": cmd_notebook,
    "gradcheck": cmd_gradcheck,
    "machine": cmd_machine,
    "report": cmd_report,
    "compare": cmd_compare,
    "history": cmd_history,
    "port": cmd_port,
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


def _kept(command: str) -> str:
    """What a stopped command leaves: run's and sweep's finished rows; nothing of others."""
    return "; finished rows are kept" if command in ("run", "sweep") else ""


def _main(argv: list[str]) -> int:
    from gdbench.results.files import ResultsWriteError

    command = ""  # what was stopped: only run and sweep write rows that are kept
    try:
        args = parse(argv)
        command = args.command
        if getattr(args, "resume", None):
            from gdbench.cli.resume import resume_args

            args = resume_args(args)
        if hasattr(args, "plugin"):  # a plug-in whose import fails: its named problems' rows
            named = args.problem if args.command in ("run", "sweep", "gradcheck") else None
            args.plugin = load_plugins(args.plugin, named)
        return COMMAND_FUNCS[args.command](args)
    except (UsageError, ResultsWriteError) as exc:
        if isinstance(exc, UsageError):  # refused: the folder is left as it was found
            folder_lock.release_all(discard=True)
        print(f"gdbench: error: {one_line(str(exc), MAX_MESSAGE)}", file=sys.stderr)
        return 2
    except Terminated:
        print(f"gdbench: terminated{_kept(command)}", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"gdbench: interrupted{_kept(command)}", file=sys.stderr)
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
