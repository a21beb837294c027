"""Option parsing shared by the command line, the run planner and the bench suite.

Every check raises ``UsageError`` with one line that names the option and what it takes;
the command line prints it and exits with status 2 before any work is done.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from pathlib import Path

from gdbench.errors import UsageError
from gdbench.results.folder_lock import is_empty, made

DTYPES = ("float32", "float64")
DEVICES = ("cpu", "cuda", "auto")


def parse_names(value: str | None, valid: dict | tuple, what: str) -> list[str]:
    """A comma-separated choice among ``valid``; None or ``all``: every one."""
    if value is None or str(value).strip().lower() == "all":
        return list(valid)
    items = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in items if n not in valid]
    if unknown or not items:
        raise UsageError(
            f"unknown {what} {', '.join(map(repr, unknown)) or repr(value)}; "
            f"valid: {', '.join(valid)}"
        )
    return list(dict.fromkeys(items))


def problem_names(value: str | None, problems: dict) -> list[str]:
    """``--problem``'s choice; without one, every problem whose ``default_run`` is set."""
    if value is None:
        return [n for n, p in problems.items() if getattr(p, "default_run", True)]
    return parse_names(value, problems, "problem")


def positive_int(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    try:
        f = float(value)
    except ValueError:
        raise UsageError(f"{what} must be a positive whole number, got {value!r}") from None
    if not (math.isfinite(f) and f.is_integer() and f > 0):
        raise UsageError(f"{what} must be a positive whole number, got {value!r}")
    return int(f)


ROOF = "roof"  # --n-samples: the smallest N beyond 4× the last-level cache, per D


def size_list(value: str | None, what: str, roof: bool = False) -> list:
    """A comma-separated list of sizes (1e6 notation welcome); [None] when not given.
    With ``roof``, the word ``roof`` may stand for a size (resolved per D by the caller)."""
    if value is None:
        return [None]
    items = [v.strip() for v in str(value).split(",") if v.strip()]
    if not items:
        raise UsageError(f"{what} must be a positive whole number, got {value!r}")

    def one(v: str):
        if roof and v.lower() == ROOF:
            return ROOF
        try:
            return positive_int(v, what)
        except UsageError:
            if not roof:
                raise
            raise UsageError(
                f"{what} must be positive whole numbers or {ROOF}, got {v!r}"
            ) from None

    return list(dict.fromkeys(one(v) for v in items))


def parse_seed(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise UsageError(f"--seed must be a whole number >= 0, got {value!r}")
    return number


def positive_float(value: str | None, what: str) -> float | None:
    if value is None:
        return None
    try:
        f = float(value)
    except ValueError:
        f = math.nan
    if not (math.isfinite(f) and f > 0):
        raise UsageError(f"{what} must be a finite positive number, got {value!r}")
    return f


def path_kind(path: Path, what: str) -> str:
    """ "file", "dir", "missing" or "other" for a path the user gave; a usage error when
    the system cannot even look (a name too long, a permission denied)."""
    try:
        if path.is_file():
            return "file"
        if path.is_dir():
            return "dir"
        return "other" if path.exists() else "missing"
    except OSError as exc:
        raise UsageError(f"{what} {path}: {exc.strerror or exc}") from None


def check_out(path: Path) -> None:
    kind = path_kind(path, "--out")
    try:
        nonempty = kind != "missing" and (kind != "dir" or not is_empty(path))
    except OSError as exc:
        raise UsageError(f"--out {path}: {exc.strerror or exc}") from None
    if nonempty:
        raise UsageError(
            f"--out {path} already exists and is not empty; results are never "
            "overwritten (choose a new folder, or --resume it)"
        )


def make_out(path: Path) -> None:
    """Creates the results folder, proving it writable; the last check before any work."""
    created = path_kind(path, "--out") == "missing"
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        if created:
            with contextlib.suppress(OSError):
                path.rmdir()
        raise UsageError(f"--out {path} cannot be written ({exc.strerror or exc})") from None
    if created:
        made(path)


def setting_texts(value, single: bool, command: str) -> list[str | None]:
    """``--problem-opt`` as the list of its settings (the parser appends each one given):
    ``[None]`` where none is; more than one only where a sweep runs them all."""
    texts = [value] if isinstance(value, str) else list(value or [None])
    if single and len(texts) > 1:
        hint = "; use sweep to run several settings" if command == "run" else ""
        raise UsageError(f"{command} takes one --problem-opt (join its settings with commas){hint}")
    return texts


def parse_settings(
    text: str | None, owners: dict[str, tuple], flag: str, kind: str
) -> tuple[dict[str, dict], dict[str, frozenset[str]]]:
    """``[OWNER:]KEY=VALUE[,…]`` for the chosen owners (optimizers or problems), each a
    tuple of ``Hyper``: per owner the values given for its keys (parsed), and per owner the
    names given. A plain ``KEY=VALUE`` is for every owner that has the key; ``OWNER:KEY=VALUE``
    for that owner alone, over a plain value of the same key. A key that no owner has, an
    owner not chosen or a value out of its range is a usage error."""
    plain, scoped = _settings_items(text, flag)
    valid = sorted({h.name for hypers in owners.values() for h in hypers})
    for key in plain:
        if key not in valid:
            raise UsageError(
                f"{flag} {key!r} is not {kind} of {', '.join(owners)}; "
                f"valid: {', '.join(valid) or 'none'}"
            )
    for owner, key in scoped:
        if owner not in owners:
            raise UsageError(
                f"{flag} {owner}:{key}: {owner!r} is not among the chosen ({', '.join(owners)})"
            )
        mine = sorted(h.name for h in owners[owner])
        if key not in mine:
            raise UsageError(
                f"{flag} {owner}:{key}: {key!r} is not {kind} of {owner}; "
                f"valid: {', '.join(mine) or 'none'}"
            )
    parsed: dict[str, dict] = {}
    given: dict[str, frozenset[str]] = {}
    for name, hypers in owners.items():
        texts = {k: v for k, v in plain.items() if any(h.name == k for h in hypers)}
        texts.update({k: v for (o, k), v in scoped.items() if o == name})
        try:
            parsed[name] = {h.name: h.parse(texts[h.name]) for h in hypers if h.name in texts}
        except ValueError as exc:
            raise UsageError(f"{flag} for {name}: {exc}") from None
        given[name] = frozenset(texts)
    return parsed, given


def _settings_items(text: str | None, flag: str) -> tuple[dict[str, str], dict[tuple, str]]:
    """The ``KEY=VALUE`` items of ``text`` (plain) and the ``OWNER:KEY=VALUE`` ones (scoped,
    by (owner, key)); malformed text or a key given twice is a usage error."""
    items: dict[tuple[str, str], str] = {}  # ("", key) for a plain item
    form = f"{flag} takes [NAME:]KEY=VALUE[,[NAME:]KEY=VALUE]"
    for item in [] if text is None else str(text).split(","):
        lhs, sep, value = (part.strip() for part in item.partition("="))
        owner, colon, key = (part.strip() for part in lhs.rpartition(":"))
        if not (sep and key and value) or (colon and not owner):
            raise UsageError(f"{form}, got {text!r}")
        if items.get((owner, key), value) != value:
            raise UsageError(f"{flag} gives {lhs} twice ({items[owner, key]!r} and {value!r})")
        items[owner, key] = value
    plain = {k: v for (o, k), v in items.items() if not o}
    return plain, {(o, k): v for (o, k), v in items.items() if o}


def parse_opt(
    text: str | None, optimizers: dict
) -> tuple[dict[str, dict], dict[str, frozenset[str]]]:
    """``--opt [NAME:]KEY=VALUE[,…]`` for the chosen optimizers: every hyperparameter of
    each (given or default), and per optimizer the names the user gave for it. A key that
    no chosen optimizer has, a value out of its range, or an invalid combination is a usage
    error."""
    parsed, given = parse_settings(
        text, {n: o.hypers for n, o in optimizers.items()}, "--opt", "a hyperparameter"
    )
    resolved = {}
    for name, opt in optimizers.items():
        try:
            resolved[name] = opt.resolve(parsed[name])
        except ValueError as exc:
            raise UsageError(f"--opt for {name}: {exc}") from None
    return resolved, given
