"""The README's picture of the history page: `gdbench history` of a folder, written with
--html, opened in Debian's chromium (headless, driven by playwright; no browser download),
and its top screenshotted (the events, the first charts).

    python bench/history_screenshot.py results/cpu-amd-epyc-2core/history docs/img/history.png
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

import gdbench

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def main(history: str, png: str, chromium: str = "/usr/bin/chromium") -> None:
    page = Path(tempfile.mkdtemp()) / "history.html"
    gdbench.history(history).html(page)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        tab = browser.new_page(viewport={"width": 1280, "height": 1240})
        tab.goto(page.as_uri())
        tab.screenshot(path=png)
        browser.close()
    print(png)


if __name__ == "__main__":
    main(*sys.argv[1:3])
