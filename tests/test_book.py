"""The built website in a real browser (headless Chromium, driven over the DevTools protocol).

Every page of ``_build/html`` (made by ``make book``; ``make test`` builds it first) is served on
127.0.0.1 and opened with no network beyond that server. A page fails when it does not load, logs a
console error, requests a file the site does not have, shows a broken image, or has a widget view that
the embedded widget manager does not render. Chapter 3's explorer must also respond to its controls
without a kernel.

Set ``BOOK_HTML`` (and ``BOOK_TOC``) to test another build, and ``BOOK_SCREENSHOTS`` to a folder to save a screenshot of
each page. Without Chromium the test is skipped, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser_support import PAGES, ROOT, SITE, check_causality_explorer, require

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("page", PAGES or ["index.html"])
def test_page_renders_cleanly(site, browser, page):
    site.failures.clear()
    status = browser.open(site.url + page)
    if os.environ.get("BOOK_SCREENSHOTS"):
        folder = Path(os.environ["BOOK_SCREENSHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        browser.screenshot(folder / (page.replace("/", "__") + ".png"))
    problems = browser.errors()
    problems += [f"HTTP {code} for {path}" for code, path in site.failures]
    problems += [f"request outside the site: {url}" for url in browser.outside_requests(site.url)]
    problems += [f"broken image {src}" for src in status["broken_images"]]
    if status["state"] and not status["views"]:
        problems.append("widget state is embedded but the page shows no widget")
    if status["rendered"] != status["views"]:
        problems.append(f"only {status['rendered']} of {status['views']} widgets rendered")
    assert not problems, f"{page}:\n" + "\n".join(problems)


def test_every_chapter_page_was_built():
    require(SITE.is_dir(), f"no built site at {SITE}: run `make book` first")
    toc = Path(os.environ.get("BOOK_TOC", ROOT / "_toc.yml")).read_text()
    chapters = [line.split("file:")[1].strip() for line in toc.splitlines() if "file: chapters/" in line]
    assert chapters, "_toc.yml lists no chapter"
    for chapter in chapters:
        assert f"{chapter}.html" in PAGES, f"{chapter} is in _toc.yml but was not built"


def test_no_page_stores_a_progress_bar():
    """Progress bars are for a running kernel; the website is built with them off (``make book`` sets
    ``PIXELCNN_PROGRESS=0``), so no page keeps a finished bar among its outputs."""
    require(SITE.is_dir(), f"no built site at {SITE}: run `make book` first")
    for page in PAGES:
        text = (SITE / page).read_text(encoding="utf-8")
        assert "FloatProgressModel" not in text and "IntProgressModel" not in text, f"{page} stores a progress bar"


CAUSALITY = "chapters/03_causality.html"


def test_causality_explorer_responds_without_a_kernel(site, browser):
    """Chapter 3's explorer on the built page: a click picks the target; block, depth, view and mode switch."""
    require(CAUSALITY in PAGES, f"{CAUSALITY} was not built")
    site.failures.clear()
    browser.open(site.url + CAUSALITY)
    count = browser.evaluate("document.querySelectorAll('.pixelcnn-causality-explorer').length")
    assert count >= 1, "chapter 3 shows no causality explorer"
    check_causality_explorer(browser)
    assert not browser.errors()
    assert not site.failures
