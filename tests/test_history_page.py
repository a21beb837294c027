"""The history page (`gdbench history --html`), built from the committed history of genuine
runs: what it holds (read with the standard library's HTML parser), and how it renders in a
real headless browser (Debian's chromium driven by playwright; `.ci/run` installs both and
sets GDBENCH_BROWSER_TEST=required, so that CI cannot skip it)."""

from __future__ import annotations

import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

import gdbench
from gdbench.cli.commands import main

HISTORY = Path(__file__).resolve().parents[1] / "results" / "cpu-amd-epyc-2core" / "history"
CHROMIUM = os.environ.get("GDBENCH_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def hist():
    return gdbench.history(HISTORY)


@pytest.fixture(scope="module")
def page(hist, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("page") / "history.html"
    assert main(["history", str(HISTORY), "--html", str(path)]) == 0
    return path


class Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(path: Path) -> list[tuple[str, dict]]:
    parser = Tags()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser.tags


def test_page_holds_every_cell_and_event_and_loads_nothing(hist, page):
    found = tags(page)
    cells = [a for t, a in found if t == "section" and "cell" in a.get("class", "")]
    assert sorted(a["data-cell"] for a in cells) == sorted(hist.points.cell.unique())
    events = [(a["data-kind"], a["data-cell"]) for t, a in found if t == "tr" and "data-kind" in a]
    assert events == list(zip(hist.events.kind, hist.events.cell, strict=True))
    charts = [a for t, a in found if t == "svg"]
    timed = hist.points[hist.points.time_per_step_s > 0].cell.nunique()
    assert sum("chart-time" in a["class"] for a in charts) == timed
    # self-contained: no script, style, image or frame from elsewhere, no link leaving it
    for tag, attrs in found:
        assert "src" not in attrs, tag
        href = attrs.get("href")
        assert href is None or href.startswith("#"), href
    assert all(t not in ("link", "img", "iframe") for t, _ in found)
    # a regression marked in its cell's chart for each one listed
    markers = [a for t, a in found if t == "line" and "marker" in a.get("class", "")]
    assert len(markers) == len(hist.events)


def test_history_html_file_errors_are_one_line(tmp_path, capsys):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for target, words in (
        (folder, "is a folder"),
        (tmp_path / "missing" / "h.html", "does not exist"),
    ):
        assert main(["history", str(HISTORY), "--html", str(target)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err, err


def _browser():
    required = os.environ.get("GDBENCH_BROWSER_TEST") == "required"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            raise
        pytest.skip("playwright is not installed (pip install playwright)")
    if not shutil.which(CHROMIUM):
        if required:
            pytest.fail(f"{CHROMIUM} not found (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)")
    return sync_playwright


def _launch(p):
    """Debian's chromium, headless, with nothing of its own going out."""
    return p.chromium.launch(
        executable_path=shutil.which(CHROMIUM),
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    )


def test_page_in_a_real_browser(hist, page, tmp_path):
    sync_playwright = _browser()
    errors, requests = [], []
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 900})
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            tab.on("request", lambda r: requests.append(r.url))
            tab.goto(page.as_uri())
            tab.wait_for_load_state("load")
            assert errors == []
            assert requests == [page.as_uri()]  # nothing but the page itself

            n_cells = hist.points.cell.nunique()
            assert tab.locator("svg.chart-time").count() >= 1
            assert tab.locator("svg.chart circle.point").count() > 0
            # every chart has a size on screen (rendered, not only present)
            box = tab.locator("svg.chart-time").first.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 50
            assert tab.locator("#shown").inner_text() == f"{n_cells} of {n_cells} cells"

            # the listed events are the computed ones
            rows = tab.locator("#events tr.event")
            listed = [
                (rows.nth(i).get_attribute("data-kind"), rows.nth(i).get_attribute("data-cell"))
                for i in range(rows.count())
            ]
            assert listed == list(zip(hist.events.kind, hist.events.cell, strict=True))

            # filtering by backend leaves that backend's cells, and only them
            backend = sorted(hist.points.backend.unique())[0]
            tab.select_option("#f-backend", backend)
            visible = tab.locator("section.cell:not(.hidden)")
            expected = hist.points[hist.points.backend == backend].cell.nunique()
            assert visible.count() == expected
            assert {visible.nth(i).get_attribute("data-backend") for i in range(expected)} == {
                backend
            }
            tab.select_option("#f-backend", "")

            # hovering a point shows its run's environment
            point = tab.locator("svg.chart-time circle.point").first
            point.hover()
            tip = tab.locator("#tip")
            assert tip.is_visible()
            text = tip.inner_text()
            assert "per step" in text and "versions:" in text and "commit" in text
            tab.screenshot(path=str(tmp_path / "history.png"), full_page=False)
            assert errors == []
        finally:
            browser.close()


def _runs(*prefixes: str) -> list[str]:
    return [str(p) for pre in prefixes for p in sorted(HISTORY.glob(f"{pre}-*"))]


def test_the_committed_history_finds_the_slowdown_and_its_revert_and_nothing_else(hist):
    """Fourteen genuine default runs with --rounds 3 (results/…/history/README.md): five on
    main (A/A), three with NumPy computing each gradient four times, three reverted, three
    under numpy 2.3.5 instead of 2.4.6."""
    e = hist.events
    numpy_cells = set(hist.points[hist.points.backend == "numpy"].cell)
    assert set(e.kind) == {"regression", "recovery"}
    regressions, recoveries = e[e.kind == "regression"], e[e.kind == "recovery"]
    assert set(regressions.cell) == set(recoveries.cell) == numpy_cells  # and no other cell
    assert (regressions.run_after == 5).all() and regressions.recovered.all()  # where it began
    assert (recoveries.run_after == 8).all()  # the revert
    assert regressions.changed.str.startswith("git_commit").all()
    assert (regressions.low > 1.5).all()  # 1.9-3.7x measured; the intervals clear 1.5
    # The release change (run 11 on) moved nothing beyond noise or rounding.
    assert not (e.run_after >= 11).any()
    env = hist.points.set_index("run").versions
    assert "numpy 2.4.6" in env[10].iloc[0] and "numpy 2.3.5" in env[11].iloc[0]


def test_fail_on_regression_on_the_committed_history(capsys):
    aa = _runs("1-main")
    assert gdbench.history(*aa).events.empty  # A/A: nothing flagged
    assert main(["history", *aa, "--fail-on-regression", "10"]) == 0
    slowed = [*aa, *_runs("2-slowdown")]
    capsys.readouterr()
    assert main(["history", *slowed, "--fail-on-regression", "10"]) == 1
    fails = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL:")]
    assert sum("numpy/eager" in line and "since run 5" in line for line in fails) == 5
    # ...and once reverted, nothing the latest run holds fails.
    reverted = [*slowed, *_runs("3-reverted")]
    assert main(["history", *reverted, "--fail-on-regression", "10"]) == 0


HOSTILE = "<!--<script>"  # opens an HTML comment and a script inside a script's data
ENDING = "</script><script>alert(1)</script>&amp;"  # ends the data and starts a script


@pytest.fixture
def hostile_page(tmp_path) -> Path:
    """The committed history's first two runs with hostile text in every text column the
    page shows (environment, commit, host, versions, reasons)."""
    import pandas as pd

    for name in ("1-main-1", "1-main-2"):
        src, dst = HISTORY / name, tmp_path / "runs" / name
        dst.mkdir(parents=True)
        summary = pd.read_csv(src / "summary.csv", dtype=str, keep_default_na=False)
        for col in ("cpu_model", "device_name", "malloc", "python", "host", "reason"):
            summary[col] = HOSTILE
        summary["versions"] = f"numpy {ENDING}"
        summary["git_commit"] = f"{name}{HOSTILE}"
        summary.to_csv(dst / "summary.csv", index=False)
        shutil.copy(src / "samples.csv", dst / "samples.csv")
    path = tmp_path / "hostile.html"
    assert main(["history", str(tmp_path / "runs"), "--html", str(path)]) == 0
    return path


def test_hostile_text_cannot_end_or_hide_the_pages_script(hostile_page):
    text = hostile_page.read_text(encoding="utf-8")
    # the page's own scripts are the only ones, and their data hold no markup
    assert text.count("<script") == 2 and "<!--" not in text
    sync_playwright = _browser()
    errors, dialogs = [], []
    with sync_playwright() as p:
        browser = _launch(p)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 900})
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            tab.goto(hostile_page.as_uri())
            tab.wait_for_load_state("load")
            assert errors == [] and dialogs == [] and tab.title() == "gdbench history"
            # the page's script ran: it counted the cells and a hover shows the hostile
            # text as text
            assert tab.locator("#shown").inner_text() == "20 of 20 cells"
            tab.locator("svg.chart-time circle.point").first.hover()
            assert HOSTILE in tab.locator("#tip").inner_text()
        finally:
            browser.close()
