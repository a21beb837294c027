"""Which of a candidate's parameters is which of the reference's.

A ``Link`` joins a reference parameter (its ``named_parameters`` name) to a candidate's
(a PyTorch name, or a pytree path with keys joined by ``/``), transposed or not. The
user's ``param_map`` comes first (``{"fc1.weight": "dense1/kernel.T"}``); what it leaves
is matched by name (a PyTorch candidate with the same names), then by shape where that is
unambiguous: one reference parameter and one candidate parameter of a shape (or, for a
pytree, of its transpose: flax and haiku store a dense layer's kernel as (in, out), torch
as (out, in)). A square matrix is never guessed transposed or not, and parameters that
share a shape are never matched by order (a pytree's dict keys flatten sorted, a module's
parameters in the order they were assigned): both need the map, and the error says which.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

TRANSPOSED = ".T"


class MappingError(ValueError):
    """The parameters cannot be matched: one line naming what is missing or mis-shaped."""


@dataclass(frozen=True)
class Link:
    name: str  # the reference's parameter
    key: str  # the candidate's
    transpose: bool = False


def shape_text(shape: tuple) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _listed(shapes: Mapping[str, tuple], names) -> str:
    return ", ".join(f"{n} {shape_text(shapes[n])}" for n in names) or "none"


def _fits(ref: tuple, cand: tuple, transpose: bool) -> bool:
    return cand == (tuple(reversed(ref)) if transpose else ref) and (not transpose or len(ref) == 2)


def resolve(
    ref: Mapping[str, tuple],
    cand: Mapping[str, tuple],
    given: Mapping[str, str] | None,
    who: str,
    transposes: bool,
) -> list[Link]:
    """The links from every reference parameter (``ref``: name → shape, in order) to one
    of ``cand``'s, each used once; ``who`` names the candidate in errors, ``transposes``
    (a pytree) lets a 2-D shape match its transpose."""
    links = _given(ref, cand, given, who)
    used = {link.key for link in links.values()}
    for name in ref:  # the same name, the same shape
        if name not in links and name in cand and name not in used and cand[name] == ref[name]:
            links[name] = Link(name, name)
            used.add(name)
    left = [n for n in ref if n not in links]
    free = [k for k in cand if k not in used]
    for name in left:
        options = [(k, t) for k in free for t in (False, True) if (t is False or transposes)]
        fit = [(k, t) for k, t in options if _fits(ref[name], cand[k], t)]
        rivals = [n for n in left if any(_fits(ref[n], cand[k], t) for k, t in fit)]
        square = len(ref[name]) == 2 and ref[name][0] == ref[name][1] and transposes
        if len(fit) == 1 and rivals == [name] and not square:
            key, transpose = fit[0]
            links[name] = Link(name, key, transpose)
            free.remove(key)
    left = [n for n in ref if n not in links]
    if left or free:
        example = ", ".join(f"{n!r}: '…'" for n in left[:2])
        raise MappingError(
            f"{who}: cannot match by name or shape the reference's {_listed(ref, left)} "
            f"with {who}'s {_listed(cand, free)} (shared shapes and square matrices need "
            f"the map); give param_map={{{example}}}"
        )
    return [links[n] for n in ref]


def _given(ref: Mapping[str, tuple], cand: Mapping[str, tuple], given, who: str) -> dict:
    """The links the user's ``param_map`` makes, each checked: names that exist, shapes
    that fit (transposed where the path ends in ``.T``)."""
    links: dict[str, Link] = {}
    for name, value in (given or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise MappingError(
                f"{who}: param_map maps names to names (str: str), got {name!r}: {value!r}"
            )
        key, transpose = (
            (value[: -len(TRANSPOSED)], True)
            if value.endswith(TRANSPOSED)
            else (
                value,
                False,
            )
        )
        if name not in ref:
            raise MappingError(
                f"{who}: param_map names {name!r}, which the reference lacks; "
                f"its parameters: {', '.join(ref)}"
            )
        if key not in cand:
            raise MappingError(
                f"{who}: param_map maps {name} to {key!r}, which {who} lacks; "
                f"its parameters: {_listed(cand, cand)}"
            )
        if not _fits(ref[name], cand[key], transpose):
            hint = ""
            if _fits(ref[name], cand[key], not transpose):
                hint = f"; {'drop' if transpose else 'add'} {TRANSPOSED} to say it is transposed"
            raise MappingError(
                f"{who}: {name} {shape_text(ref[name])} is mapped to {value} "
                f"{shape_text(cand[key])}{' transposed' if transpose else ''}{hint}"
            )
        links[name] = Link(name, key, transpose)
    return links
