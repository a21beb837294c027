"""The package's layers, as the README's layout section draws them, read from the imports.

Every ``import`` and ``from … import`` of a gdbench module counts, at the top of a file, in
a function or under ``TYPE_CHECKING``. A module may import its own layer and the layers
below it, never one above; and no set of modules may import each other in a circle.
``KNOWN`` would list an edge that breaks either rule, with the reason and the change that
will remove it; it is empty. The test fails on any other edge, and on a known edge that is
gone (so the list only shrinks).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gdbench

PACKAGE = Path(gdbench.__file__).parent

# Lowest first. A module belongs to the first entry whose prefix it has.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # errors.py (UsageError) is the lowest contract: the machine probes raise it too.
    ("compat", ("gdbench.compat", "gdbench.errors")),
    (
        "contracts",
        (
            "gdbench.hyper",
            "gdbench.trajectory",
            "gdbench.spec",
            "gdbench.optimizer",
            "gdbench.problem",
            "gdbench.backend",
            "gdbench.registry",
        ),
    ),
    ("timing", ("gdbench.timing",)),
    ("plug-ins", ("gdbench.problems", "gdbench.optimizers", "gdbench.backends")),
    ("numerics", ("gdbench.numerics",)),
    ("results", ("gdbench.results",)),
    ("execution", ("gdbench.execution",)),
    ("reports", ("gdbench.reports",)),
    ("ports", ("gdbench.ports",)),
    ("api", ("gdbench.api",)),
    ("cli", ("gdbench.cli", "gdbench.__main__")),
]
# The public facade re-exports from every layer; nothing inside imports it.
FACADE = "gdbench"

# Edges that break the rules: (importer, imported) → why, and what will remove it. The five
# edges the flat layout left (a contract calling up into the float64 iteration, Setup
# looking its optimizer up, the reference testing for SGD, the registry's bounded import,
# compare's command inside its model) are cut.
KNOWN: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, known: set[str]) -> set[str]:
    """The gdbench modules a file imports, wherever the import statement stands."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("gdbench"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..y import z
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            if not base.startswith("gdbench"):
                continue
            for alias in node.names:  # from gdbench.timing import bandwidth: a module
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return found - {name}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(path, set(mods)) for name, path in mods.items()}


def layer_of(module: str) -> int | None:
    for i, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    return None


def upward(edges: dict[str, set[str]]) -> set[tuple[str, str]]:
    """Imports of a higher layer, and of the facade from inside."""
    bad = set()
    for src, dsts in edges.items():
        for dst in dsts:
            if src == FACADE:
                continue
            if dst == FACADE:
                bad.add((src, dst))
                continue
            a, b = layer_of(src), layer_of(dst)
            if a is not None and b is not None and b > a:
                bad.add((src, dst))
    return bad


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def without_known(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    return {src: {d for d in dsts if (src, d) not in KNOWN} for src, dsts in edges.items()}


def test_every_module_has_a_layer():
    loose = [m for m in modules() if m != FACADE and layer_of(m) is None]
    assert not loose, f"modules outside every layer (add them to LAYERS and the README): {loose}"


def test_no_module_imports_a_higher_layer():
    bad = upward(without_known(graph()))
    assert not bad, "imports of a higher layer: " + ", ".join(f"{a} → {b}" for a, b in sorted(bad))


def test_no_modules_import_each_other_in_a_circle():
    assert cycles(without_known(graph())) == []


def test_the_known_exceptions_still_exist():
    # A known edge that is gone must leave KNOWN too, so that it cannot come back unseen.
    edges = graph()
    gone = [edge for edge in KNOWN if edge[1] not in edges.get(edge[0], set())]
    assert not gone, f"remove from KNOWN: {gone}"


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        ("gdbench.spec", "gdbench.execution.cell"),  # a contract reaching up
        ("gdbench.numerics.agreement", "gdbench.reports.table"),
        ("gdbench.compat.arrays", "gdbench.problem"),
        ("gdbench.results.writer", "gdbench"),  # the facade from inside
    ],
)
def test_a_deliberate_upward_import_is_caught(src, dst):
    edges = without_known(graph())
    edges[src] = {*edges[src], dst}
    assert (src, dst) in upward(edges)


def test_a_deliberate_circle_is_caught():
    edges = without_known(graph())
    edges["gdbench.timing.timer"] = {*edges["gdbench.timing.timer"], "gdbench.timing.roofline"}
    edges["gdbench.timing.roofline"] = {*edges["gdbench.timing.roofline"], "gdbench.timing.timer"}
    assert ["gdbench.timing.roofline", "gdbench.timing.timer"] in cycles(edges)


def test_the_readme_layout_names_every_layer():
    # The README's layout section is the map of the layers: each folder of a layer, and
    # each contract module, appears there (a layer added without it fails here).
    readme = (PACKAGE.parent / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1]
    for _, prefixes in LAYERS:
        for prefix in prefixes:
            part = prefix.removeprefix("gdbench.")
            shown = f"{part}/" if (PACKAGE / part).is_dir() else f"{part}.py"
            assert shown in layout, f"README layout lacks {shown}"
