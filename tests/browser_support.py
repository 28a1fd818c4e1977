"""Headless Chromium driven by Playwright, and a local web server, for the browser tests.

``Site`` serves a folder on 127.0.0.1 and records failed requests; ``Browser`` opens pages in one headless
Chromium tab (Debian's ``chromium``), collects console errors and can click, press keys and take screenshots.
The fixtures ``site`` (the built book) and ``browser`` are in conftest.py. ``check_causality_explorer``
exercises chapter 3's explorer on any page, the built chapter or a standalone page.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright
except ImportError:  # the browser fixture skips (fails in CI) without it
    PlaywrightError = sync_playwright = None

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
IN_CI = os.environ.get("CI", "").lower() == "true"
PAGES = sorted(
    str(path.relative_to(SITE)) for path in SITE.rglob("*.html")
    if path.relative_to(SITE).parts[0] not in ("_static", "_sources", "_vendor", "_images", "reports")
) if SITE.is_dir() else []

# Stock Jupyter Book 1 pages log this error on every page, whatever the book contains: sphinx-thebe's
# configuration script (`const THEBE_JS_URL = ...`) is included twice. It is harmless (thebe, live code on
# the page, is not used here) and is the only error allowed. (The other stock error, "Got invalid theme
# mode", is fixed in _config.yml by html_context.default_mode.)
STOCK_ERRORS = ("Identifier 'THEBE_JS_URL' has already been declared",)

RENDER_STATUS = """(() => {
  const views = Array.from(document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]'));
  const rendered = views.filter((view) => {
    const area = view.previousElementSibling;
    return area !== null && area.classList.contains("widget-subarea")
      && area.querySelector(".jupyter-widgets") !== null;
  });
  const images = Array.from(document.images);
  return {
    views: views.length,
    rendered: rendered.length,
    state: document.querySelector('script[type="application/vnd.jupyter.widget-state+json"]') !== null,
    images_loading: images.filter((image) => !image.complete).length,
    broken_images: images.filter((image) => image.complete && image.naturalWidth === 0).map((image) => image.src),
    fonts: document.fonts.status,
    ready: document.readyState,
  };
})()"""


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def require(condition, reason):
    if not condition:
        if IN_CI:
            pytest.fail(reason + " (required in CI)")
        pytest.skip(reason)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site and records every request that failed (status >= 400)."""

    failures: list

    def log_request(self, code="-", size="-"):
        if isinstance(code, int) and code >= 400 or str(code).isdigit() and int(code) >= 400:
            self.failures.append((int(code), self.path))

    def log_message(self, *args):
        pass


class Site:
    def __init__(self, directory):
        handler = type("Handler", (QuietHandler,), {"failures": []})
        self.failures = handler.failures
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      functools.partial(handler, directory=str(directory)))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Browser:
    """Debian's headless Chromium with one page, driven by Playwright (``executable_path``: Playwright's own
    browser download is not used); it collects console errors, uncaught exceptions and failed loads."""

    FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-default-apps"]

    def __init__(self, executable):
        self.playwright = sync_playwright().start()
        try:
            self.browser = self.playwright.chromium.launch(executable_path=executable, headless=True, args=self.FLAGS)
        except Exception:
            self.playwright.stop()
            raise
        self.page = self.browser.new_page(viewport={"width": 1280, "height": 1000})
        self.found, self.requested = [], []
        self.page.on("console", lambda message: message.type in ("error", "assert") and self.found.append(
            f"{message.text} {message.location.get('url', '')}".strip()))
        self.page.on("pageerror", lambda error: self.found.append(str(error)))
        self.page.on("requestfailed", lambda request: request.failure != "net::ERR_ABORTED" and self.found.append(
            f"load failed: {request.failure} ({request.resource_type}) {request.url}"))
        self.page.on("request", lambda request: self.requested.append(request.url))

    def evaluate(self, expression):
        """The value of a JavaScript expression on the page (a promise is awaited)."""
        return self.page.evaluate(expression)

    def open(self, url, timeout=90):
        """Navigate, wait until the page, its images, fonts and widgets are done; return the render status."""
        self.found.clear()
        self.requested.clear()
        self.page.goto(url, wait_until="load", timeout=timeout * 1000)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                status = self.evaluate(RENDER_STATUS)
            except PlaywrightError as error:  # a page that redirects (index.html) navigates again
                if "context was destroyed" not in str(error):
                    raise
                self.page.wait_for_load_state("load", timeout=timeout * 1000)
                continue
            if (status["rendered"] == status["views"] and not status["images_loading"] and status["fonts"] == "loaded"
                    and status["ready"] == "complete"):
                break
            time.sleep(0.2)
        self.page.wait_for_timeout(500)  # late console messages
        return status

    def errors(self):
        """Console errors, uncaught exceptions and failed loads since the last ``open``."""
        return [error for error in self.found if not any(stock in error for stock in STOCK_ERRORS)]

    def outside_requests(self, origin):
        """URLs requested since the last ``open`` from anywhere but ``origin``: the site must work offline."""
        return [url for url in self.requested
                if url.startswith(("http:", "https:", "ws:", "wss:")) and not url.startswith(origin)]

    def click(self, x, y):
        """Press and release the left mouse button at viewport coordinates (x, y), as a user would."""
        self.page.mouse.click(x, y)

    def hover(self, x, y):
        """Move the mouse to viewport coordinates (x, y)."""
        self.page.mouse.move(x, y)

    def press(self, key):
        """Press and release a key (``"ArrowLeft"``) in the focused element, as a user would."""
        self.page.keyboard.press(key)

    def screenshot(self, path, full_page=True):
        self.page.screenshot(path=str(path), full_page=full_page)

    def close(self):
        try:
            self.browser.close()
        finally:
            self.playwright.stop()


# --------------------------------------------------------------------------
# chapter 3's causality explorer
# --------------------------------------------------------------------------

EXPLORER = ".pixelcnn-causality-explorer"

# the explorer's state: the controls, texts, and per canvas its picture and the colour at the centre of every cell
EXPLORER_STATE = """((selector) => {
  const root = document.querySelector(selector);
  const data = JSON.parse(root.querySelector('script[data-role="data"]').textContent);
  const find = (role) => root.querySelector(`[data-role="${role}"]`);
  const model = find("model") ? find("model").value : "stacks";
  const part = data[model];
  const picture = (canvas) => {
    if (canvas === null || canvas.offsetParent === null) return null;
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    const centre = 1 + Math.floor(part.cell / 2);
    const colours = [];
    for (let row = 0; row < part.size; row += 1) {
      for (let col = 0; col < part.size; col += 1) {
        const i = 4 * ((row * part.cell + centre) * canvas.width + col * part.cell + centre);
        colours.push([pixels[i], pixels[i + 1], pixels[i + 2]]);
      }
    }
    return { width: canvas.width, height: canvas.height, shown: canvas.getBoundingClientRect().width,
             picture: canvas.toDataURL(), colours };
  };
  const pressed = root.querySelector('[data-role="mode"][aria-pressed="true"]');
  const patterns = root.querySelector("img.cx-patterns");
  return {
    id: root.id, model, size: part.size, caption: find("caption").textContent, readout: find("readout").textContent,
    title: find("panel-title").textContent, field: picture(find("field")), theory: picture(find("theory")),
    mode: pressed ? pressed.dataset.mode : null, legend_magnitude: !find("legend-magnitude").hidden,
    patterns: patterns ? { src: patterns.src.slice(0, 40) + patterns.src.length, width: patterns.naturalWidth } : null,
    block: find("block").value, kernel: Number(find("kernel").value), depth: data.stacks.depths[find("depth").value],
    kernel_disabled: find("kernel").disabled, colours: data.colours, palette: data.palette,
  };
})"""

CELL_CENTRE = """((selector, role, row, col) => {
  const root = document.querySelector(selector);
  const data = JSON.parse(root.querySelector('script[data-role="data"]').textContent);
  const model = root.querySelector('[data-role="model"]') ? root.querySelector('[data-role="model"]').value : "stacks";
  const cell = data[model].cell;
  const canvas = root.querySelector(`[data-role="${role}"]`);
  canvas.scrollIntoView({ block: "center" });
  const box = canvas.getBoundingClientRect();
  const scale = box.width / canvas.width;
  return { x: box.left + (col * cell + 1 + cell / 2) * scale, y: box.top + (row * cell + 1 + cell / 2) * scale };
})"""

BUTTON_CENTRE = """((selector, mode) => {
  const button = document.querySelector(selector).querySelector(`[data-role="mode"][data-mode="${mode}"]`);
  button.scrollIntoView({ block: "center" });
  const box = button.getBoundingClientRect();
  return { x: box.left + box.width / 2, y: box.top + box.height / 2 };
})"""

SET_CONTROL = """((selector, role, value, event) => {
  const control = document.querySelector(selector).querySelector(`[data-role="${role}"]`);
  control.value = value;
  control.dispatchEvent(new Event(event, { bubbles: true }));
})"""


def _js(function, *args):
    return f"{function}({', '.join(json.dumps(arg) for arg in args)})"


def explorer_state(browser, selector=EXPLORER):
    return browser.evaluate(_js(EXPLORER_STATE, selector))


def click_cell(browser, selector, row, col, role="field"):
    box = browser.evaluate(_js(CELL_CENTRE, selector, role, row, col))
    browser.click(box["x"], box["y"])
    time.sleep(0.2)


def set_control(browser, selector, role, value, event="change"):
    browser.evaluate(_js(SET_CONTROL, selector, role, str(value), event))
    time.sleep(0.2)


def check_causality_explorer(browser, selector=EXPLORER, expect=None):
    """Exercise the explorer at ``selector`` as a reader would and check what it shows.

    ``expect(view) -> [[r, g, b], ...] or None``: the colours every cell must have for a view (dict of model,
    block, kernel, depth, mode, target); checked after every step where it gives some. Returns the states seen.
    """
    def check(state, target):
        colours = state["colours"]
        size = state["size"]
        assert state["caption"].startswith(f"target ({target[0]}, {target[1]}):"), state["caption"]
        assert state["field"]["colours"][target[0] * size + target[1]] == colours["target"], "the target is not red"
        if target != [size - 1, size - 1]:
            assert state["field"]["colours"][-1] == colours["later"], "the last pixel is not a later pixel"
        view = {key: state[key] for key in ("model", "block", "kernel", "depth", "mode")}
        wanted = expect({**view, "target": tuple(target)}) if expect else None
        if wanted is not None:
            assert state["field"]["colours"] == [list(c) for c in wanted], f"wrong colours for {view} at {target}"

    states = {"start": explorer_state(browser, selector)}
    start = states["start"]
    assert start["field"] and start["field"]["width"] > 100 and start["field"]["shown"] > 100, start["field"]
    assert start["patterns"] and start["patterns"]["width"] > 0, "no layer footprints shown"
    assert start["theory"] is None, "the theoretical panel shows outside trained mode"
    size = start["size"]
    assert size >= 16, f"the explorer's image is {size}x{size}, smaller than 16x16"

    click_cell(browser, selector, 3, 5)  # a real mouse click on pixel (3, 5)
    states["clicked"] = clicked = explorer_state(browser, selector)
    check(clicked, [3, 5])
    assert clicked["field"]["picture"] != start["field"]["picture"], "the click did not change the picture"
    assert clicked["patterns"] == start["patterns"], "the click changed the layer footprints"

    box = browser.evaluate(_js(CELL_CENTRE, selector, "field", 2, 5))
    browser.hover(box["x"], box["y"])
    time.sleep(0.2)
    assert explorer_state(browser, selector)["readout"].startswith("pixel (2, 5):"), "no read-out on hover"

    other = next(name for name in ("gated", "shifted", "masked") if name != clicked["block"])
    set_control(browser, selector, "block", other)
    states["block"] = block = explorer_state(browser, selector)
    check(block, [3, 5])
    assert block["field"]["picture"] != clicked["field"]["picture"], "the block did not change the picture"
    assert block["patterns"] != clicked["patterns"], "the block did not change the layer footprints"

    set_control(browser, selector, "depth", 0, "input")
    states["depth"] = latest = explorer_state(browser, selector)
    check(latest, [3, 5])
    assert latest["field"]["picture"] != block["field"]["picture"], "the depth did not change the picture"

    kernels = browser.evaluate(f"Array.from(document.querySelector({json.dumps(selector)})"
                               ".querySelectorAll('[data-role=\"kernel\"] option')).map((o) => Number(o.value))")
    if len(kernels) > 1:
        set_control(browser, selector, "kernel", kernels[1])
        states["kernel"] = kernel = explorer_state(browser, selector)
        check(kernel, [3, 5])
        assert kernel["field"]["picture"] != latest["field"]["picture"], "the kernel did not change the picture"
        latest = kernel

    box = browser.evaluate(_js(BUTTON_CENTRE, selector, "magnitude"))
    browser.click(box["x"], box["y"])
    time.sleep(0.2)
    states["magnitude"] = magnitude = explorer_state(browser, selector)
    check(magnitude, [3, 5])
    assert magnitude["mode"] == "magnitude" and magnitude["legend_magnitude"], "the mode button did not switch"
    assert magnitude["field"]["picture"] != latest["field"]["picture"], "the mode did not change the picture"
    shaded = [c for c in magnitude["field"]["colours"] if c in magnitude["palette"]]
    assert shaded, "no pixel is shaded by its gradient magnitude"

    has_model = f"document.querySelector({json.dumps(selector)}).querySelector('[data-role=\"model\"]') !== null"
    assert browser.evaluate(has_model), "the explorer has no trained mode"
    set_control(browser, selector, "model", "trained")
    states["trained"] = trained = explorer_state(browser, selector)
    assert trained["theory"] is not None and trained["field"] is not None, "trained mode does not show two panels"
    assert trained["size"] == 32 and "in theory all" in trained["caption"], trained["caption"]
    click_cell(browser, selector, 21, 11)
    states["trained_clicked"] = picked = explorer_state(browser, selector)
    check(picked, [21, 11])
    assert picked["theory"]["colours"][21 * 32 + 11] == picked["colours"]["target"]
    assert picked["theory"]["colours"][21 * 32 + 10] == picked["colours"]["seen"]
    earlier = picked["field"]["colours"][: 21 * 32 + 11]
    assert all(c in picked["palette"] for c in earlier), "the shipped PixelSNAIL misses an earlier pixel"
    click_cell(browser, selector, 4, 4, role="theory")  # between computed targets: snaps to a neighbour
    snapped = explorer_state(browser, selector)["caption"]
    assert any(snapped.startswith(f"target ({r}, {c}):") for r in (3, 5) for c in (3, 5)), snapped
    set_control(browser, selector, "model", "stacks")
    back = explorer_state(browser, selector)
    assert back["theory"] is None and back["caption"].startswith("target (3, 5):"), "stacks mode lost its target"
    set_control(browser, selector, "block", "attention")
    attention = explorer_state(browser, selector)
    check(attention, [3, 5])
    assert attention["kernel_disabled"], "the kernel stays enabled for PixelSNAIL's fixed kernels"
    return states
