"""Open an HTML file in a real headless Chromium (Debian's package, driven by Playwright) and report what a
person would see: console errors, images and whether they decoded, the text, how much of the page is drawn.

    page = open_page(Path("report.html"), Path("shot.png"))
    assert page.console_errors == [] and page.non_white_fraction > 0.03

The browser is ``$CHROMIUM_BIN``, else ``chromium`` on PATH. Without one (or without playwright) the test
is skipped with the reason, except under CI (``$CI`` set), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PageCheck:
    console_errors: list[str]
    images: list[tuple[str, int]]  # (alt, natural width: 0 = did not decode)
    text: str
    non_white_fraction: float

    def text_contains(self, words: str) -> bool:
        return words in self.text


def _browser() -> str:
    import pytest

    found = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI"):
            raise RuntimeError("no chromium on this machine: scripts/test.sh installs Debian's chromium package")
        pytest.skip("no chromium (apt-get install chromium); CI installs it")
    return found


def open_page(html: Path, screenshot: Path, *, width: int = 1200, height: int = 900) -> PageCheck:
    import pytest

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    executable = _browser()
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            page.goto(Path(html).absolute().as_uri(), wait_until="load")
            images = [(alt, int(w)) for alt, w in page.eval_on_selector_all(
                "img", "els => els.map(e => [e.alt, e.complete ? e.naturalWidth : 0])")]
            text = page.inner_text("body")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return PageCheck(errors, images, text, _non_white(screenshot))


def _non_white(png: Path) -> float:
    import matplotlib.image

    pixels = matplotlib.image.imread(str(png))[..., :3]
    return float((pixels.min(axis=-1) < 0.9).mean())
