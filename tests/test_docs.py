"""Documentation that runs: every ```python block of each docs page (and of the README),
in order, in a fresh interpreter from the repository's root, and the teaching notebook's
code cells, in order, the way Jupyter would run them top to bottom. A ```py block is
illustrative code that needs what CI lacks (a SLURM cluster) and is not run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from .conftest import ROOT

FENCE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOTEBOOK = ROOT / "examples" / "teaching.ipynb"


def _run(code: str, tmp_path, name: str) -> subprocess.CompletedProcess:
    script = tmp_path / f"{name}.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.parametrize(
    "page", [p.relative_to(ROOT).as_posix() for p in PAGES if FENCE.search(p.read_text())]
)
def test_the_python_of_each_page_runs(page, tmp_path):
    blocks = FENCE.findall((ROOT / page).read_text(encoding="utf-8"))
    done = _run("\n\n".join(blocks), tmp_path, "page")
    assert done.returncode == 0, f"{page}:\n{done.stdout[-1500:]}\n{done.stderr[-3000:]}"


def test_the_teaching_notebook_runs_top_to_bottom(tmp_path):
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(cells) >= 5
    done = _run("\n\n".join(cells), tmp_path, "notebook")
    assert done.returncode == 0, f"{done.stdout[-1500:]}\n{done.stderr[-3000:]}"
    # The story it tells: the faulty gradient is caught, the corrected one agrees.
    assert "N = 4 times too large" in done.stdout
    assert "numpy corrected: agrees" in done.stdout
