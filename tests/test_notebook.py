"""`gdbench notebook` against the lines the notebook printed (kept in tests/data)."""

from __future__ import annotations

import re

import pytest

from gdbench.cli.commands import main
from gdbench.reports.notebook import cell_lines

from .conftest import DATA, require


def printed_lines() -> dict[int, list[str]]:
    cells, current = {}, None
    for line in (DATA / "notebook_printed_lines.txt").read_text().splitlines():
        if line.startswith("#") or not line:
            continue
        m = re.fullmatch(r"\[cell (\d)\]", line)
        if m:
            current = cells.setdefault(int(m.group(1)), [])
        else:
            current.append(line)
    return cells


@require("torch")
@pytest.mark.parametrize("cell", [1, 2, 3, 4])
def test_cell_reproduces_the_notebooks_printed_lines(cell):
    expected = printed_lines()[cell]
    got = cell_lines(cell)
    # The notebook's own output stops where it was cut off (cells 2 and 4).
    assert got[: len(expected)] == expected


@require("torch")
def test_cut_off_cells_are_printed_in_full():
    assert len(cell_lines(4)) == 101  # 100 epochs and the prediction
    assert cell_lines(2)[-1] == "Prediction after training: f(5) = 10.000"


@require("torch")
def test_notebook_command_labels_and_explains_the_faulty_gradient(capsys):
    assert main(["notebook"]) == 0
    out = capsys.readouterr().out
    assert "FAULTY GRADIENT" in out
    assert "ratio hand/true = 4" in out
    assert "N = 4 times too large" in out
    assert "Epoch 2: w=6.4000001, loss=64.0000000, grad=16.0000000" in out
