"""The built website in a real browser (headless Chromium, driven by Playwright).

Every page of ``_build/html`` (made by ``make book``; ``make test`` builds it first) is served on
127.0.0.1 and opened with no network beyond that server. A page fails when it does not load, logs a
console error, requests a file the site does not have, shows a broken image, or has a widget view that
the embedded widget manager does not render. Chapter 3's explorer must also respond to its controls
without a kernel.

Set ``BOOK_HTML`` (and ``BOOK_TOC``) to test another build, and ``BOOK_SCREENSHOTS`` to a folder to save a screenshot of
each page. Without Chromium the test is skipped, except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
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


class _PageText(HTMLParser):
    """The prose of a built page: text outside code, listings, scripts, styles and rendered math."""

    SKIP = {"pre", "code", "script", "style", "kbd", "samp"}

    def __init__(self):
        super().__init__()
        self.depth, self.stack, self.parts = 0, [], []
        self.views, self.state = [], ""
        self._script = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        skip = tag in self.SKIP or "math" in (attrs.get("class") or "").split()
        if tag == "script":
            self._script = attrs.get("type", "")
        if tag not in VOID:
            self.stack.append(skip)
            self.depth += skip

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None
        if tag not in VOID and self.stack:
            self.depth -= self.stack.pop()

    def handle_data(self, data):
        if self._script == "application/vnd.jupyter.widget-view+json":
            self.views.append(json.loads(data)["model_id"])
        elif self._script == "application/vnd.jupyter.widget-state+json":
            self.state += data
        elif not self.depth:
            self.parts.append(data)


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
RAW_MARKUP = {
    "a Markdown table left as text": re.compile(r"\|\s*-{3,}\s*\||^\s*\|[^|\n]+\|[^|\n]+\|\s*$", re.M),
    "math left as text (a raw $...$)": re.compile(r"(?<![\\$])\$[^$\s][^$\n]*?\$"),
    "a MyST role left as text": re.compile(r"\{[a-z][a-z0-9:-]*\}`"),
    "a MyST directive left as text": re.compile(r"^\s*(```|:::)\s*\{[a-z]", re.M),
}


def page_problems(html):
    """What the page shows that should have been rendered: raw tables, math, roles and directives in its prose, and
    widget views whose model the page does not embed."""
    parser = _PageText()
    parser.feed(html)
    text = "".join(parser.parts)
    problems = [f"{what}: {match.group(0)[:80]!r}" for what, pattern in RAW_MARKUP.items()
                for match in [pattern.search(text)] if match]
    state = json.loads(parser.state)["state"] if parser.state.strip() else {}
    problems += [f"a widget view with no embedded state (model {view})" for view in parser.views if view not in state]
    return problems


def test_page_problems_catch_raw_markup():
    """The checker itself: each kind of unrendered markup is found, and rendered pages pass."""
    rendered = ('<p>a <span class="math notranslate nohighlight">\\(x$ \\)</span> b</p><pre>| a | b |\n|---|---|</pre>'
                '<table><tr><td>1</td></tr></table>')
    assert page_problems(rendered) == []
    assert "Markdown table" in page_problems("<p>| model | bits |\n|---|---|</p>")[0]
    assert "math left as text" in page_problems("<p>costs $x_i$ bits</p>")[0]
    assert "role" in page_problems("<p>see {ref}`chapter`</p>")[0]
    assert "directive" in page_problems("<div>\n```{note}\nhi\n```</div>")[0]
    orphan = '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "abc"}</script>'
    assert "no embedded state" in page_problems(orphan)[0]
    state = ('<script type="application/vnd.jupyter.widget-state+json">{"state": {"abc": {}}}</script>')
    assert page_problems(state + orphan) == []


def test_no_page_shows_raw_markup_or_an_orphan_widget():
    """Markdown printed by a cell is rendered, math is typeset, no role or directive is left raw, and every widget
    view on a page has its state embedded, on every page of the built site."""
    require(SITE.is_dir(), f"no built site at {SITE}: run `make book` first")
    problems = {page: page_problems((SITE / page).read_text(encoding="utf-8")) for page in PAGES}
    assert not {page: found for page, found in problems.items() if found}
