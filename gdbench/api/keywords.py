"""The Python keywords of each command, read from the command line's own parser.

An option is declared once, with ``add_argument`` in ``gdbench.api.parser``; the Python
functions take every option of their command as a keyword of the same name (``n_samples``
for ``--n-samples``), in Python types, and turn them into what the parser would have
produced, so that the same checks run on both sides and a new option cannot be forgotten
on one. A flag ``--no-X`` is also the keyword ``X=False`` (``timing=False``).
"""

from __future__ import annotations

import argparse
import functools
import inspect
import math
from collections.abc import Mapping

from gdbench.errors import UsageError

# Command-line options that are no keyword: resuming a folder is the command line's.
NOT_KEYWORDS = ("resume",)


@functools.cache
def actions(command: str) -> dict[str, argparse.Action]:
    """The options of ``command`` by keyword, as its parser declares them."""
    from gdbench.api.parser import make_parser

    parser = make_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        a.dest: a
        for a in sub.choices[command]._actions
        if not isinstance(a, argparse._HelpAction) and a.dest not in NOT_KEYWORDS
    }


def text(value) -> str:
    """A Python value as the command line writes it: ``true``/``false``, floats exactly."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


def option_text(value) -> str:
    """A list as ``a,b``, a mapping as ``k=v,k=v``, anything else as ``text``."""
    if isinstance(value, Mapping):
        return ",".join(f"{k}={text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(text(v) for v in value)
    return text(value)


def namespace(command: str, given: Mapping[str, object]) -> argparse.Namespace:
    """The parser's namespace for ``command`` with the keywords ``given``; a
    ``UsageError`` naming an unknown keyword or a value a flag cannot take."""
    acts = actions(command)
    values = {dest: a.default for dest, a in acts.items()}
    for key, value in given.items():
        dest, flip = key, False
        if dest not in acts and f"no_{key}" in acts:
            dest, flip = f"no_{key}", True
        if dest not in acts:
            valid = ", ".join(sorted(keywords(command)))
            raise UsageError(f"{command}() takes no keyword {key!r}; valid: {valid}")
        action = acts[dest]
        if isinstance(action, argparse._StoreTrueAction):
            if not isinstance(value, bool):
                raise UsageError(f"{key} must be True or False, got {value!r}")
            values[dest] = (not value) if flip else value
        elif isinstance(action, argparse._AppendAction):
            # One value or several: a mapping is one (sweep's problem_opt={"layers": …}).
            one = isinstance(value, str | Mapping)
            items = [value] if one else list(value or [])  # type: ignore[call-overload]
            values[dest] = [option_text(v) for v in items]
        elif value is None:
            values[dest] = None
        else:
            values[dest] = option_text(value)
    return argparse.Namespace(command=command, **values)


def keywords(command: str) -> list[str]:
    """The keywords ``command`` takes, a ``--no-X`` flag as ``X``."""
    out = []
    for dest, a in actions(command).items():
        negative = isinstance(a, argparse._StoreTrueAction) and dest.startswith("no_")
        out.append(dest.removeprefix("no_") if negative else dest)
    return out


def signature(
    command: str, first: tuple[str, ...] = (), progress: bool = True
) -> inspect.Signature:
    """A signature listing every keyword of ``command`` with its default, for ``help()``
    and completion (the function itself takes ``**options``); ``progress``: the function
    takes ``progress=`` too."""
    params = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in first]
    for dest, a in actions(command).items():
        if dest in first:
            continue
        negative = isinstance(a, argparse._StoreTrueAction) and dest.startswith("no_")
        name = dest.removeprefix("no_") if negative else dest
        default = True if negative else a.default
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default))
    if progress:
        params.append(inspect.Parameter("progress", inspect.Parameter.KEYWORD_ONLY, default=True))
    return inspect.Signature(params)


def describe(command: str) -> str:
    """Each keyword with its command-line help, for a docstring."""
    lines = []
    for dest, a in actions(command).items():
        negative = isinstance(a, argparse._StoreTrueAction) and dest.startswith("no_")
        name = dest.removeprefix("no_") if negative else dest
        what = (a.help or "").replace("\n", " ")
        if negative:
            what = f"False: {what}"
        lines.append(f"    {name}: {what}")
    return "\n".join(lines)
