"""Documentation that runs: every ```python block of each docs page (and of the README),
in order, in a fresh interpreter from the repository's root, and the teaching notebook in a
Jupyter kernel, top to bottom. A ```py block is
illustrative code that needs what CI lacks (a SLURM cluster) and is not run."""

from __future__ import annotations

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


def test_the_teaching_notebook_runs_in_a_jupyter_kernel(monkeypatch):
    """The notebook as a reader runs it: nbclient starts an IPython kernel (ipykernel, from
    the ``dev`` extra) in the repository's root and executes each code cell in order; a
    cell that raises stops it (``CellExecutionError``), and no output may be an error."""
    nbformat = pytest.importorskip("nbformat", reason="nbclient is in the dev extra")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is in the dev extra")
    pytest.importorskip("ipykernel", reason="ipykernel is in the dev extra")
    monkeypatch.setenv("MPLBACKEND", "Agg")  # the kernel inherits it: figures need no screen
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) >= 5 and all(c.execution_count for c in code)
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    # The story it tells: the faulty gradient is caught, the corrected one agrees.
    assert "N = 4 times too large" in printed
    assert "numpy corrected: agrees" in printed
