"""The browser tests' driver sees what they rely on: console errors, uncaught exceptions, failed loads, requests
that leave the site, and a real click."""

import pytest
from browser_support import Site

pytestmark = pytest.mark.slow

PAGE = """<!doctype html><html><body>
<button id="b" style="position:absolute; left:10px; top:10px; width:100px; height:40px"
        onclick="this.textContent = 'clicked'">press</button>
<img src="missing.png">
<img src="http://127.0.0.2:9/outside.png">
<script>
  console.error("an error on purpose");
  setTimeout(() => { throw new Error("thrown on purpose"); }, 0);
</script>
</body></html>"""


def test_the_browser_reports_errors_failed_loads_and_outside_requests(browser, tmp_path):
    (tmp_path / "index.html").write_text(PAGE)
    site = Site(tmp_path)
    try:
        browser.open(site.url + "index.html", timeout=30)
        errors = browser.errors()
        assert any("an error on purpose" in error for error in errors), errors
        assert any("thrown on purpose" in error for error in errors), errors
        assert any("missing.png" in error for error in errors), errors  # the 404 is a console error
        assert browser.outside_requests(site.url) == ["http://127.0.0.2:9/outside.png"]
        assert (404, "/missing.png") in site.failures
        browser.click(60, 30)
        assert browser.evaluate("document.getElementById('b').textContent") == "clicked"
        browser.open(site.url + "index.html", timeout=30)  # a new page starts with no errors of the last one
        assert sum("an error on purpose" in error for error in browser.errors()) == 1
    finally:
        site.close()
