"""Shared fixtures: small models of every kind (``helpers.build_small``), built once per test session; a browser
and the built book.

Tests marked ``contract`` (causality, normalisation, loss = sampler, cached =
naive) are backend-neutral: ``tests/test_backends.py`` runs them again on JAX.

Every model is built at a size that runs in milliseconds on a CPU (8x8 images,
12 filters, one or two blocks) but keeps all of its structure: masks with
colour groups, both streams, the up/down passes of PixelCNN++, attention.
Models with dropout are built with dropout 0.5 and always called with
``training=False``, so the tests also check that dropout is off there.

``browser`` is headless Chromium driven by Playwright (``browser_support.Browser``) and ``site`` the
built website (``make book``) served on 127.0.0.1; tests that use them skip
when either is missing, except in CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import pytest
from browser_support import SITE, Browser, Site, find_chromium, require, sync_playwright
from helpers import build_small


@pytest.fixture(scope="session")
def small_model():
    """``small_model(key, channels)`` -> a model shared by the session (do not change its weights)."""
    cache = {}

    def get(key, channels):
        if (key, channels) not in cache:
            cache[key, channels] = build_small(key, channels)
        return cache[key, channels]

    return get


@pytest.fixture(scope="module")
def site():
    """The built website, served on 127.0.0.1 (``site.url``; failed requests in ``site.failures``)."""
    require(SITE.is_dir() and (SITE / "index.html").exists(), f"no built site at {SITE}: run `make book` first")
    served = Site(SITE)
    yield served
    served.close()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium with one page, driven by Playwright (``browser_support.Browser``)."""
    require(find_chromium() is not None, "Chromium is not installed (apt-get install chromium)")
    require(sync_playwright is not None, "Playwright is not installed (pip install -r requirements.txt)")
    opened = Browser(find_chromium())
    yield opened
    opened.close()
