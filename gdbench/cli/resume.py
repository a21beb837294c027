"""``--resume FOLDER``: the options an interrupted run or sweep began with, read back
from its command.json, and the options given beside it checked against them."""

from __future__ import annotations

import json
from pathlib import Path

from gdbench.api.parser import make_parser
from gdbench.errors import UsageError
from gdbench.execution.options import path_kind


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
    _check_unchanged(args, stored, folder)
    if getattr(args, "cluster", None):  # the cluster may have moved since: the new one counts
        resumed.cluster = args.cluster
    if getattr(args, "cell_timeout", None):  # a limit for the rest (after a hang, say)
        resumed.cell_timeout = args.cell_timeout
    return resumed


# What --resume may be given anew: where the cells run, and a limit for the rest of them.
RESUME_MAY_CHANGE = ("cluster", "cell_timeout")


def _check_unchanged(args, stored: dict, folder: Path) -> None:
    """Options given beside --resume must agree with the folder's command.json (the rows
    already there ran with it), but for ``RESUME_MAY_CHANGE``; one line where one does not."""
    command = getattr(args, "command", None) or stored.get("command", "run")
    bare = make_parser().parse_args([command, "--resume", str(folder)])
    for key, value in vars(args).items():
        if key in ("command", "resume", *RESUME_MAY_CHANGE) or value == getattr(bare, key, None):
            continue
        before = stored.get(key)

        def text(v):
            return [str(x) for x in v] if isinstance(v, list) else (None if v is None else str(v))

        if text(value) != text(before):
            flag = "--" + key.replace("_", "-")
            raise UsageError(
                f"--resume {folder}: {_shown(flag, value)} contradicts its command.json "
                f"({_shown(flag, before)}), which the rows there ran with; only --cluster "
                "and --cell-timeout may change on --resume"
            )


def _shown(flag: str, value) -> str:
    """An option as the command line writes it: "--lr 0.5", "--no-timing", "no --lr"."""
    if value is None or value is False or value == []:
        return f"no {flag}"
    if value is True:
        return flag
    if isinstance(value, list):
        return " ".join(f"{flag} {v}" for v in value)
    return f"{flag} {value}"
