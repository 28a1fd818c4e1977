"""Chapter 2's mixture explorer responds to its controls on the static website, without a kernel.

Uses the served site and headless Chromium of the ``site`` and ``browser`` fixtures (conftest.py), skipped like the
book's browser test when either is missing.
"""

import time

import pytest
from browser_support import PAGES, require

pytestmark = pytest.mark.slow

PROBABILITY = "chapters/02_probability.html"

# the explorer: the tab widget whose first tab holds the "Component 1 is fixed" note
STATE = """(() => {
  const note = Array.from(document.querySelectorAll(".widget-html-content"))
    .find((element) => element.textContent.includes("Component 1 is fixed"));
  const explorer = note.closest(".widget-tab");
  const panel = Array.from(explorer.querySelectorAll(".widget-tab-contents > .widget-vbox"))
    .find((element) => element.offsetParent !== null);
  const readouts = Array.from(panel.querySelectorAll(".widget-html-content")).map((e) => e.textContent);
  return {
    images: Array.from(panel.querySelectorAll("img")).map((image) => image.src + " " + image.naturalWidth),
    readout: readouts[readouts.length - 1],
  };
})()"""


def focus_slider(browser, label):
    browser.evaluate(f"""(() => {{
      const note = Array.from(document.querySelectorAll(".widget-html-content"))
        .find((element) => element.textContent.includes("Component 1 is fixed"));
      const slider = Array.from(note.closest(".widget-tab").querySelectorAll(".widget-slider"))
        .find((element) => element.querySelector(".widget-label").textContent === "{label}");
      slider.querySelector(".noUi-handle").focus();
    }})()""")


def test_mixture_explorer_responds_without_a_kernel(site, browser):
    require(PROBABILITY in PAGES, f"{PROBABILITY} was not built")
    status = browser.open(site.url + PROBABILITY)
    # the precomputed explorer; the live one needs a kernel, and the website leaves its output out
    assert status["views"] >= 1 and status["rendered"] == status["views"]
    before = browser.evaluate(STATE)
    assert len(before["images"]) == 2 and not any(image.endswith(" 0") for image in before["images"]), before
    assert "bits" in before["readout"]

    focus_slider(browser, "mean 2")
    browser.press("ArrowLeft")
    time.sleep(1.0)
    after_mean = browser.evaluate(STATE)
    assert after_mean["images"] != before["images"], "the mean slider did not switch the picture"
    assert after_mean["readout"] != before["readout"], "the mean slider did not switch the bits readout"

    focus_slider(browser, "value x")
    browser.press("ArrowRight")
    time.sleep(1.0)
    after_value = browser.evaluate(STATE)
    assert after_value["images"][0] == after_mean["images"][0], "the value slider changed the mixture picture"
    assert after_value["images"][1] != after_mean["images"][1], "the value slider did not move its marker"
    assert after_value["readout"] != after_mean["readout"], "the value slider did not switch the bits readout"

    box = browser.evaluate("""(() => {
      const note = Array.from(document.querySelectorAll(".widget-html-content"))
        .find((element) => element.textContent.includes("Component 1 is fixed"));
      const tab = Array.from(note.closest(".widget-tab").querySelectorAll(".lm-TabBar-tab"))
        .find((element) => element.textContent.includes("RGB coupling"));
      tab.scrollIntoView({ block: "center" });
      const rect = tab.getBoundingClientRect();
      return { x: rect.left + rect.width / 2, y: rect.top + rect.height / 2 };
    })()""")
    browser.click(box["x"], box["y"])  # a real click on the "RGB coupling" tab
    time.sleep(1.0)
    coupling = browser.evaluate(STATE)
    assert len(coupling["images"]) == 1 and coupling["images"] != after_value["images"], "the tab did not switch"
    focus_slider(browser, "coupling c")
    browser.press("ArrowLeft")
    time.sleep(1.0)
    assert browser.evaluate(STATE)["images"] != coupling["images"], "the coupling slider did not switch the picture"
    assert not browser.errors()
